//! A client without a multicast route: discovery searches on every LAN interface by itself
//! (the engine and upnpc find nothing here), and choosing the interface by name or
//! address works too (like `upnpc -m`).

use igd_tests::{Bed, Mode};
use std::sync::OnceLock;

fn bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    BED.get_or_init(|| Bed::up("noroute", Mode::NoMulticastRoute))
}

/// Before: SOCKET_ERROR, "network unreachable ... choose the interface".
#[test]
fn without_an_interface_discovery_searches_every_interface() {
    let json = bed().upnp(&["discover", "--first"]).ok();
    assert_eq!(json["devices"][0]["igd_status"], 0, "{json}");
    assert_eq!(json["devices"][0]["igd_our_addr"], "10.77.0.2", "{json}");
}

#[test]
fn choosing_the_interface_finds_the_router_and_maps() {
    let bed = bed();
    for interface in ["c0", "10.77.0.2"] {
        let json = bed.upnp(&["--interface", interface, "discover", "--first"]).ok();
        assert_eq!(json["devices"][0]["igd_status"], 0, "--interface {interface}: {json}");
    }
    bed.upnp(&["--interface", "c0", "add", "41000", "--lease", "600"]).ok();
    assert_eq!(bed.lease(41000, "UDP").unwrap().internal_client, "10.77.0.2");
    bed.upnp(&["--interface", "c0", "delete", "41000"]).ok();
    assert_eq!(bed.lease(41000, "UDP"), None);
}

#[test]
fn ipv6_by_interface_name() {
    let json = bed().upnp(&["--ipv6", "--interface", "c0", "discover", "--first"]).ok();
    assert_eq!(json["devices"][0]["igd_status"], 0, "{json}");
}
