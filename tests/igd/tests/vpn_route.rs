//! A VPN client holds the default route (and with it multicast) while the router is on
//! the LAN interface (bed IGD_VPN_ROUTE=1): discovery finds the router on c0 without being
//! told, maps and deletes through it, over IPv4 and IPv6. upnpc, like the engine, sends
//! its search into the VPN and finds nothing (printed, not asserted: not our code).

use igd_tests::{Bed, Mode};
use std::sync::OnceLock;

fn bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    BED.get_or_init(|| Bed::up("vpn", Mode::VpnRoute))
}

#[test]
fn the_router_behind_the_lan_interface_is_found_and_maps() {
    let bed = bed();
    let run = bed.upnp(&["discover", "--first"]);
    let json = run.ok();
    assert_eq!(json["devices"][0]["igd_status"], 0, "{json}");
    assert_eq!(json["devices"][0]["igd_our_addr"], "10.77.0.2", "{json}");
    println!("discover --first through the VPN topology: {:?}", run.wall);
    bed.upnp(&["add", "41500", "--lease", "600"]).ok();
    assert_eq!(bed.lease(41500, "UDP").unwrap().internal_client, "10.77.0.2");
    bed.upnp(&["delete", "41500"]).ok();
    assert_eq!(bed.lease(41500, "UDP"), None);
    let upnpc = bed.in_client("upnpc").arg("-l").output().expect("upnpc");
    let said = String::from_utf8_lossy(&upnpc.stdout).into_owned() + &String::from_utf8_lossy(&upnpc.stderr);
    println!("upnpc -l on the same bed: {}", said.lines().find(|l| l.contains("IGD")).unwrap_or("(no IGD line)"));
}

#[test]
fn ipv6_too() {
    let json = bed().upnp(&["--ipv6", "discover", "--first"]).ok();
    assert_eq!(json["devices"][0]["igd_status"], 0, "{json}");
}
