//! IPv6 pinholes (WANIPv6FirewallControl:1) through the CLI against the bed's real
//! miniupnpd, asked over IPv6 from fd77::2: each action checked in the router's own
//! firewall (the rules miniupnpd puts in `inet igd miniupnpd`), and on the wire: the WAN
//! host (fd78::1) sends a datagram and opens a TCP connection to [fd77::2]:port, which
//! the router drops without a pinhole (its forward policy) and lets through with one.
//! Namespaces `p6-ph-*`.

use igd_tests::{Bed, PinholeRule, repo_root};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::Ipv6Addr;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::OnceLock;

fn bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    BED.get_or_init(|| Bed::up_prefixed("p6", "ph", &[]))
}

fn client6() -> Ipv6Addr {
    bed().var("IGD_CLIENT_IP6").parse().expect("the client's IPv6 address")
}

fn prober() -> String {
    repo_root().join("tests/testbed/probe.py").to_string_lossy().into_owned()
}

/// The pinhole rules that open `port` for `protocol` to the client.
fn rules_for(port: u16, protocol: &str) -> Vec<PinholeRule> {
    bed().pinhole_rules().into_iter().filter(|r| r.opens(client6(), port, protocol)).collect()
}

/// probe.py's echo listener in the client namespace on `port` (UDP and TCP), until its
/// stdin closes (dropped) or 60 s pass.
struct Listener {
    child: Child,
    _stdin: ChildStdin,
}

impl Listener {
    fn start(port: u16) -> Listener {
        let mut child = bed()
            .in_client("python3")
            .args([prober(), "--listen".into(), port.to_string(), "--for".into(), "60".into()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the listener");
        let stdin = child.stdin.take().expect("listener stdin");
        let mut first = String::new();
        BufReader::new(child.stdout.as_mut().expect("listener stdout")).read_line(&mut first).expect("read");
        assert_eq!(first, "ready\n", "the listener did not start");
        Listener { child, _stdin: stdin }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Ours alone, by its handle; wait so that the port is free again.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What arrived of a datagram and a TCP connection from the WAN host to [fd77::2]:port
/// (each waits at most 1 s): (UDP, TCP).
fn probe(port: u16) -> (bool, bool) {
    let out = bed()
        .in_wan("python3")
        .args([prober(), client6().to_string(), port.to_string(), format!("tok{port}"), "--timeout".into(), "1".into()])
        .output()
        .expect("run the prober");
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("prober: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    (json["UDP"]["arrived"] == true, json["TCP"]["arrived"] == true)
}

fn ms(json: &Value) -> f64 {
    json["action_ms"].as_f64().expect("action_ms")
}

#[test]
fn status_shows_the_firewall_and_our_ipv6_address() {
    let bed = bed();
    for (args, control_url) in [
        (vec!["status"], "http://10.77.0.1:5000/ctl/IP6FCtl"),
        (vec!["--ipv6", "status"], "http://[fd77::1]:5000/ctl/IP6FCtl"),
    ] {
        let json = bed.upnp(&args).ok();
        let firewall = &json["ipv6_firewall"];
        assert_eq!(firewall["control_url"], control_url, "{json}");
        assert_eq!(firewall["service_type"], "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1");
        assert_eq!((&firewall["enabled"], &firewall["inbound_pinhole_allowed"]), (&true.into(), &true.into()));
        assert_eq!(json["ipv6_addresses"], serde_json::json!([{"address": "fd77::2", "kind": "unique-local"}]));
    }
    let text = bed.in_client(igd_tests::bin_dir().join("upnp")).arg("status").output().expect("upnp status");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("IPv6 firewall:    firewall on, pinholes allowed (http://10.77.0.1:5000/ctl/IP6FCtl)"),
        "{text}"
    );
    assert!(text.contains("IPv6 addresses:   fd77::2 (unique-local)"), "{text}");
}

#[test]
fn add_update_check_delete_in_the_routers_rules_and_on_the_wire() {
    let bed = bed();
    let port = 7101;
    let _listener = Listener::start(port);
    assert_eq!(probe(port), (false, false), "the router drops inbound IPv6 without a pinhole");

    let udp = bed.upnp6(&["pinhole", "add", "7101", "--lease", "600"]).ok();
    let tcp = bed.upnp6(&["pinhole", "add", "7101", "--proto", "tcp", "--lease", "600"]).ok();
    assert_eq!(udp["internal_client"], "fd77::2", "{udp}");
    let (udp_id, tcp_id) = (udp["id"].as_u64().unwrap() as u16, tcp["id"].as_u64().unwrap() as u16);
    assert_ne!(udp_id, tcp_id);
    let udp_rules = rules_for(port, "UDP");
    assert_eq!(udp_rules.len(), 1, "{:?}", bed.pinhole_rules());
    assert_eq!(udp_rules[0].id, udp_id);
    assert!((590..=600).contains(&udp_rules[0].seconds_left()), "{:?}", udp_rules[0]);
    assert_eq!(rules_for(port, "TCP").iter().map(|r| r.id).collect::<Vec<_>>(), [tcp_id]);
    assert_eq!(probe(port), (true, true), "both arrive through the pinholes");

    // miniupnpd 2.3.1's nftables rules have no counters: it never saw a packet.
    let check = bed.upnp6(&["pinhole", "check", &udp_id.to_string()]).ok();
    assert_eq!((&check["working"], &check["packets"]), (&Value::Null, &0.into()), "{check}");

    let update = bed.upnp6(&["pinhole", "update", &udp_id.to_string(), "3000"]).ok();
    let renewed = &rules_for(port, "UDP")[0];
    assert!((2990..=3000).contains(&renewed.seconds_left()), "UpdatePinhole moved the expiry: {renewed:?}");

    let list = bed.upnp6(&["pinhole", "list", &udp_id.to_string(), "65000"]).ok();
    assert_eq!(list["pinholes"][0], serde_json::json!({"id": udp_id, "packets": 0, "error": null, "upnp_code": null}));
    assert_eq!(list["pinholes"][1]["upnp_code"], 402, "miniupnpd answers an unknown id with 402: {list}");

    let delete_udp = bed.upnp6(&["pinhole", "delete", &udp_id.to_string()]).ok();
    let delete_tcp = bed.upnp6(&["pinhole", "delete", &tcp_id.to_string()]).ok();
    assert!(rules_for(port, "UDP").is_empty() && rules_for(port, "TCP").is_empty(), "{:?}", bed.pinhole_rules());
    assert_eq!(probe(port), (false, false), "dropped again after the delete");
    eprintln!(
        "action times on the bed (ms): AddPinhole {:.1} / {:.1}, CheckPinholeWorking {:.1}, UpdatePinhole {:.1}, \
         DeletePinhole {:.1} / {:.1}",
        ms(&udp),
        ms(&tcp),
        ms(&check),
        ms(&update),
        ms(&delete_udp),
        ms(&delete_tcp)
    );
    for json in [&udp, &tcp, &check, &update, &delete_udp, &delete_tcp] {
        assert!(ms(json) < 1000.0, "an action took {} ms", ms(json));
    }
}

#[test]
fn without_a_url_the_router_is_found_over_ipv6() {
    let bed = bed();
    let added = bed.upnp(&["pinhole", "add", "7102"]).ok();
    assert_eq!((&added["internal_client"], &added["lease_seconds"]), (&"fd77::2".into(), &3600.into()), "{added}");
    let id = added["id"].as_u64().unwrap() as u16;
    assert_eq!(rules_for(7102, "UDP").iter().map(|r| r.id).collect::<Vec<_>>(), [id]);
    bed.upnp(&["pinhole", "delete", &id.to_string()]).ok();
    assert!(rules_for(7102, "UDP").is_empty());
}

#[test]
fn asked_over_ipv4_the_router_refuses_in_secure_mode() {
    let bed = bed();
    let json = bed
        .upnp(&["--url", bed.var("IGD_ROOTDESC"), "pinhole", "add", "7103", "--internal-client", "fd77::2"])
        .fails_with(1);
    assert_eq!(json["upnp_code"], 606, "{json}");
    assert!(json["hint"].as_str().unwrap().contains("ask over IPv6"), "{json}");
    assert!(rules_for(7103, "UDP").is_empty());
}

#[test]
fn bad_input_gives_its_code_and_one_error_line() {
    let bed = bed();
    let rules_before = bed.pinhole_rules();
    let cases: [(&[&str], i64, &str); 12] = [
        (&["add", "7104", "--internal-client", "10.77.0.2"], 20, "internal client must be one IPv6 address"),
        (&["add", "7104", "--internal-client", "fd77::zz"], 20, "internal client must be one IPv6 address"),
        (&["add", "7104", "--remote-host", "router"], 20, "remote host must be an IPv6 address"),
        (&["add", "0"], 17, "internal port must be set between 1 and 65535"),
        (&["add", "65536"], 17, "internal port must be set between 1 and 65535"),
        (&["add", "7104", "--remote-port", "-1"], 17, "remote port must be set between 0"),
        (&["add", "7104", "--lease", "0"], 19, "lease must be set between 1 and 86400"),
        (&["add", "7104", "--lease", "86401"], 19, "lease must be set between 1 and 86400"),
        (&["update", "7", "-5"], 19, "lease must be set between 1 and 86400"),
        (&["update", "abc", "60"], 20, "pinhole id must be a number"),
        (&["delete", "65536"], 20, "pinhole id must be a number"),
        (&["check", "1.5"], 20, "pinhole id must be a number"),
    ];
    for (args, result, text) in cases {
        let mut all = vec!["--url", bed.var("IGD_ROOTDESC6"), "pinhole"];
        all.extend_from_slice(args);
        let json = bed.upnp(&all).fails_with(result);
        assert!(json["error"].as_str().unwrap().contains(text), "{args:?}: {json}");
        // Text mode: one line on stderr, nothing on stdout.
        let out = bed.in_client(igd_tests::bin_dir().join("upnp")).args(&all).output().expect("upnp");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!((out.stdout.len(), stderr.lines().count()), (0, 1), "{args:?}: {stderr}");
        assert!(stderr.contains(text), "{args:?}: {stderr}");
    }
    assert_eq!(bed.pinhole_rules(), rules_before, "nothing reached the router's firewall");
    // The router's own refusal of an unknown id: its code and text in one line.
    let json = bed.upnp6(&["pinhole", "delete", "65000"]).fails_with(20);
    assert_eq!(json["upnp_code"], 402, "{json}");
    assert_eq!(
        json["error"],
        "deleting pinhole 65000 failed: DeletePinhole refused by the router: UPnP error 402 (InvalidArgs, router said \
         \"Invalid Args\")"
    );
}
