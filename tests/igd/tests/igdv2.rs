//! The CLI against a real miniupnpd (IGDv2, public external address), each result
//! checked against the router's own state (lease file, nftables rules, log).

use igd_tests::{Bed, Mode};
use std::sync::OnceLock;

fn bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    BED.get_or_init(|| Bed::up("v2", Mode::V2))
}

const TIMEOUT_MS: u64 = 2000;

#[test]
fn ipv4_discovery_finds_the_router_with_its_fields() {
    let bed = bed();
    let json = bed.upnp(&["discover"]).ok();
    let devices = json["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{json}");
    let d = &devices[0];
    assert_eq!(d["description_url"], bed.var("IGD_ROOTDESC"));
    assert_eq!(d["service_type"], "urn:schemas-upnp-org:device:InternetGatewayDevice:1");
    assert_eq!(d["igd_status"], 0);
    assert_eq!(d["igd_control_url"], "http://10.77.0.1:5000/ctl/IPConn");
    assert_eq!(d["igd_service_type"], "urn:schemas-upnp-org:service:WANIPConnection:2");
    assert_eq!(d["igd_our_addr"], bed.var("IGD_CLIENT_IP"));
    assert_eq!(d["external_address"], bed.var("IGD_EXT_IP"));
    assert_eq!(d["behind_another_nat"], false);
    // The full discovery waits out its timeout, and never hangs past it.
    let elapsed = json["elapsed_ms"].as_f64().unwrap();
    assert!(elapsed >= TIMEOUT_MS as f64 - 1.0 && elapsed < TIMEOUT_MS as f64 + 500.0, "elapsed {elapsed} ms");
    // Our search really reached the router.
    assert!(bed.router_log().contains("SSDP M-SEARCH from 10.77.0.2:"), "router never saw an M-SEARCH");
}

#[test]
fn ipv6_discovery_uses_the_routers_ula_location() {
    let bed = bed();
    let json = bed.upnp(&["--ipv6", "discover"]).ok();
    let d = &json["devices"][0];
    assert_eq!(d["description_url"], bed.var("IGD_ROOTDESC6"));
    assert_eq!(d["igd_status"], 0, "{json}");
    assert_eq!(d["igd_control_url"], "http://[fd77::1]:5000/ctl/IPConn");
    assert_eq!(d["igd_our_addr"], bed.var("IGD_CLIENT_IP6"));
}

#[test]
fn first_gateway_mode_returns_before_the_timeout() {
    let bed = bed();
    let json = bed.upnp(&["--timeout", "5000", "discover", "--first"]).ok();
    assert_eq!(json["devices"][0]["igd_status"], 0, "{json}");
    let elapsed = json["elapsed_ms"].as_f64().unwrap();
    // Not a speed target (the benchmark has those): only that it does not wait the 5 s out.
    assert!(elapsed < 2500.0, "first-gateway discovery took {elapsed} ms");
}

#[test]
fn interface_by_name_and_by_address() {
    let bed = bed();
    for interface in ["c0", "10.77.0.2"] {
        let json = bed.upnp(&["--interface", interface, "discover", "--first"]).ok();
        assert_eq!(json["devices"][0]["igd_status"], 0, "--interface {interface}: {json}");
    }
    let json = bed.upnp(&["--ipv6", "--interface", "c0", "discover", "--first"]).ok();
    assert_eq!(json["devices"][0]["igd_our_addr"], bed.var("IGD_CLIENT_IP6"));
    let json = bed.upnp(&["--interface", "nosuchif0", "discover"]).fails_with(24);
    assert!(json["error"].as_str().unwrap().contains("nosuchif0"), "{json}");
}

#[test]
fn local_port_one_means_1900_and_other_values_are_used_as_given() {
    let bed = bed();
    for (arg, port) in [("1", 1900), ("41234", 41234)] {
        bed.upnp(&["--local-port", arg, "discover", "--first"]).ok();
        let needle = format!("SSDP M-SEARCH from 10.77.0.2:{port} ");
        assert!(bed.router_log().contains(&needle), "router saw no M-SEARCH from port {port}");
    }
}

#[test]
fn add_list_delete_are_real_on_the_router() {
    let bed = bed();
    let added = bed.upnp(&["add", "40100", "--proto", "udp", "--desc", "it-add", "--lease", "3600"]).ok();
    assert_eq!(added["external_port"], 40100);
    let lease = bed.lease(40100, "UDP").expect("router holds the mapping");
    assert_eq!((lease.internal_client.as_str(), lease.internal_port), ("10.77.0.2", 40100));
    assert_eq!(lease.description, "it-add");
    assert!((3500..=3600).contains(&lease.seconds_left()), "lease {}", lease.seconds_left());
    assert!(bed.dnat_rules().contains("dport 40100 dnat ip to 10.77.0.2:40100"), "{}", bed.dnat_rules());

    let listed = bed.upnp(&["list"]).ok();
    let entry = listed["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["external_port"] == 40100 && m["protocol"] == "UDP")
        .cloned()
        .expect("list shows the mapping");
    assert_eq!(entry["internal_client"], "10.77.0.2");
    assert_eq!(entry["description"], "it-add");

    bed.upnp(&["delete", "40100", "--proto", "udp"]).ok();
    assert_eq!(bed.lease(40100, "UDP"), None, "router still holds the mapping");
    assert!(!bed.dnat_rules().contains("dport 40100 "));
}

#[test]
fn a_tcp_mapping_forwards_connections_from_the_wan() {
    let bed = bed();
    bed.upnp(&["add", "40150", "--proto", "tcp", "--internal", "40151", "--lease", "600"]).ok();
    // A server on the LAN host's internal port, a client on the WAN side connecting to
    // the router's WAN address: the router's DNAT rule must carry the connection.
    let mut server = bed
        .in_client("python3")
        .args(["-c", "import socket;s=socket.create_server(('10.77.0.2',40151));s.settimeout(10);c,_=s.accept();c.sendall(b'through the router')"])
        .spawn()
        .unwrap();
    // The server may take a while to listen on a loaded machine: the client retries for
    // up to 5 s (50 tries), so only a missing forward fails.
    let client = "import socket,sys,time\nfor _ in range(50):\n  try:\n    c=socket.create_connection(('10.78.0.2',40150),timeout=5);break\n  except ConnectionRefusedError:\n    time.sleep(0.1)\nsys.stdout.write(c.recv(64).decode())";
    let out = bed.in_wan("python3").args(["-c", client]).output().unwrap();
    let _ = server.wait();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through the router", "{}", String::from_utf8_lossy(&out.stderr));
    bed.upnp(&["delete", "40150", "--proto", "tcp"]).ok();
}

#[test]
fn a_port_held_by_another_host_is_a_conflict_and_not_ours_to_delete() {
    let bed = bed();
    bed.other_host_maps(40200, "UDP");
    bed.upnp(&["add", "40200"]).fails_with(13); // CONFLICT_WITH_OTHER_MAPPING (718)
    bed.upnp(&["delete", "40200"]).fails_with(1); // NOT_AUTHORIZED (606)
    let lease = bed.lease(40200, "UDP").expect("the other host keeps its mapping");
    assert_eq!(lease.internal_client, "10.77.0.3");
}

#[test]
fn add_any_picks_another_port_when_taken() {
    let bed = bed();
    bed.other_host_maps(40300, "TCP");
    let json = bed.upnp(&["add", "40300", "--proto", "tcp", "--any", "--lease", "600"]).ok();
    let port = json["external_port"].as_u64().unwrap() as u16;
    assert_ne!(port, 40300);
    let ours = bed.lease(port, "TCP").expect("router holds the reserved port");
    assert_eq!(ours.internal_client, "10.77.0.2");
    assert_eq!(ours.internal_port, 40300);
    assert_eq!(bed.lease(40300, "TCP").unwrap().internal_client, "10.77.0.3");
    bed.upnp(&["delete", &port.to_string(), "--proto", "tcp"]).ok();
}

#[test]
fn lease_zero_is_the_longest_the_router_grants() {
    let bed = bed();
    bed.upnp(&["add", "40400", "--lease", "0"]).ok();
    let lease = bed.lease(40400, "UDP").expect("mapping");
    // IGDv2: a lease of 0 becomes 604800 s (7 days).
    assert!((604_700..=604_800).contains(&lease.seconds_left()), "{}", lease.seconds_left());
    bed.upnp(&["delete", "40400"]).ok();
}

#[test]
fn external_address_and_status() {
    let bed = bed();
    let json = bed.upnp(&["external-ip"]).ok();
    assert_eq!(json["external_address"], bed.var("IGD_EXT_IP"));
    assert_eq!(json["external_address_kind"], "public");
    let status = bed.upnp(&["status"]).ok();
    assert_eq!(status["connection_status"], "Connected");
    assert_eq!(status["note"], "");
    let by_url = bed.upnp(&["--url", bed.var("IGD_ROOTDESC"), "external-ip"]).ok();
    assert_eq!(by_url["external_address"], bed.var("IGD_EXT_IP"));
}

#[test]
fn deleting_a_mapping_that_does_not_exist_succeeds_like_the_router_says() {
    // miniupnpd answers 200 (no 714) for a missing mapping; we report what it said.
    bed().upnp(&["delete", "40999"]).ok();
}

#[test]
fn errors_name_the_failure_and_what_to_try() {
    let bed = bed();
    bed.other_host_maps(40500, "UDP");
    let run = bed.in_client(igd_tests::bin_dir().join("upnp")).args(["add", "40500"]).output().unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("718") && stderr.contains("another device"), "{stderr}");
}
