//! A router whose own WAN address is private (the carrier-grade NAT case): it is a
//! working gateway that we flag, not a disconnected one, and its refusals are clear.

use igd_tests::{Bed, Mode};
use std::sync::OnceLock;

fn bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    BED.get_or_init(|| Bed::up("priv", Mode::PrivateWan))
}

#[test]
fn the_router_is_a_gateway_flagged_as_behind_another_nat() {
    let bed = bed();
    let json = bed.upnp(&["discover", "--first"]).ok();
    let d = &json["devices"][0];
    assert_eq!(d["igd_status"], 0, "status OK, not DISCONNECTED: {json}");
    assert_eq!(d["external_address"], "", "miniupnpd reports no external address here");
    assert_eq!(d["behind_another_nat"], true);
    assert!(d["note"].as_str().unwrap().contains("external address"), "{json}");
    let status = bed.upnp(&["status"]).ok();
    assert_eq!(status["external_address_kind"], "none");
    assert_eq!(status["connection_status"], "Connected");
}

#[test]
fn mappings_fail_with_action_failed_and_leave_nothing_behind() {
    let bed = bed();
    let json = bed.upnp(&["add", "40900"]).fails_with(5); // ACTION_FAILED (501)
    assert_eq!(json["upnp_code"], 501);
    assert!(json["hint"].as_str().unwrap().contains("carrier-grade NAT"), "{json}");
    assert!(bed.leases().is_empty(), "router holds {:?}", bed.leases());
}
