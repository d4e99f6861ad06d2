//! The CLI against miniupnpd serving an IGDv1 description.

use igd_tests::{Bed, Mode};
use std::sync::OnceLock;

fn bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    BED.get_or_init(|| Bed::up("v1", Mode::V1))
}

#[test]
fn discovery_picks_the_v1_connection_service() {
    let bed = bed();
    let json = bed.upnp(&["discover", "--first"]).ok();
    let d = &json["devices"][0];
    assert_eq!(d["igd_status"], 0, "{json}");
    assert_eq!(d["igd_service_type"], "urn:schemas-upnp-org:service:WANIPConnection:1");
    assert_eq!(d["igd_control_url"], "http://10.77.0.1:5000/ctl/IPConn");
    let v6 = bed.upnp(&["--ipv6", "discover", "--first"]).ok();
    assert_eq!(v6["devices"][0]["igd_service_type"], "urn:schemas-upnp-org:service:WANIPConnection:1");
}

#[test]
fn add_and_delete_with_v1_service_type() {
    let bed = bed();
    bed.upnp(&["add", "40600", "--proto", "tcp", "--lease", "1200", "--desc", "v1"]).ok();
    let lease = bed.lease(40600, "TCP").expect("router holds the mapping");
    assert_eq!((lease.internal_client.as_str(), lease.description.as_str()), ("10.77.0.2", "v1"));
    bed.upnp(&["delete", "40600", "--proto", "tcp"]).ok();
    assert_eq!(bed.lease(40600, "TCP"), None);
}

#[test]
fn conflicts_are_reported_the_same_way() {
    let bed = bed();
    bed.other_host_maps(40700, "UDP");
    bed.upnp(&["add", "40700"]).fails_with(13);
    bed.upnp(&["delete", "40700"]).fails_with(1);
    assert_eq!(bed.lease(40700, "UDP").unwrap().internal_client, "10.77.0.3");
}

#[test]
fn add_any_still_works_because_the_soap_layer_has_it() {
    let bed = bed();
    bed.other_host_maps(40800, "UDP");
    let json = bed.upnp(&["add", "40800", "--any", "--lease", "600"]).ok();
    let port = json["external_port"].as_u64().unwrap() as u16;
    assert_ne!(port, 40800);
    assert_eq!(bed.lease(port, "UDP").unwrap().internal_client, "10.77.0.2");
    bed.upnp(&["delete", &port.to_string()]).ok();
}
