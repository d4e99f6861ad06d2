//! The NAT-PMP / PCP client (upnp-core's `pmp` module) against a real miniupnpd, run
//! inside the bed's client namespace through the `pmp-probe` helper, each result checked
//! against the router's own state (lease file, nftables rules). Also the test bed's
//! switches for these protocols and its restart script.
//!
//! What miniupnpd 2.3.1 answers: PCP version 2 and NAT-PMP (version 0) alike, on
//! 10.77.0.1:5351, so `map_port` (PCP first) ends with PCP and NAT-PMP is reached only
//! when asked for; a PCP version it does not know gets UNSUPP_VERSION with version 2.
//! `enable_natpmp=no` closes IPv4 port 5351 for both protocols (ICMP port unreachable).
//! Namespaces are `gp-*`, so this suite never shares a bed with another.

use igd_tests::{Bed, Lease};
use serde_json::Value;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const TIMEOUT_MS: u64 = 2000;

/// The shared bed: UPnP and NAT-PMP/PCP on, and a default route in the client
/// namespace (so that the default-gateway lookup has something to find).
fn bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    BED.get_or_init(|| Bed::up_prefixed("gp", "pmp", &[("IGD_CLIENT_DEFAULT_ROUTE", "1")]))
}

/// `pmp-probe map` with the bed's gateway; returns the mapping and the call's time.
fn map(bed: &Bed, protocol: &str, internal: u16, suggested: u16, lifetime: u32, method: &str) -> (Value, f64) {
    let (internal, suggested, lifetime) = (internal.to_string(), suggested.to_string(), lifetime.to_string());
    let json = bed
        .pmp_probe(&[
            "map",
            bed.var("IGD_GATEWAY"),
            protocol,
            &internal,
            &suggested,
            &lifetime,
            &TIMEOUT_MS.to_string(),
            method,
        ])
        .ok();
    (json["mapping"].clone(), json["elapsed_ms"].as_f64().unwrap())
}

fn renew(bed: &Bed, mapping: &Value, lifetime: u32) -> Value {
    let json =
        bed.pmp_probe(&["renew", bed.var("IGD_GATEWAY"), &mapping.to_string(), &lifetime.to_string(), "2000"]).ok();
    json["mapping"].clone()
}

fn unmap(bed: &Bed, mapping: &Value) -> igd_tests::Run {
    bed.pmp_probe(&["unmap", bed.var("IGD_GATEWAY"), &mapping.to_string(), "2000"])
}

fn port(mapping: &Value, field: &str) -> u16 {
    mapping[field].as_u64().unwrap_or_else(|| panic!("no {field} in {mapping}")) as u16
}

/// The description miniupnpd gives a PCP mapping: "PCP MAP " and the nonce printed as
/// three 32-bit words in host order (little-endian here), which is how it finds the
/// mapping again on renewal and deletion.
fn pcp_description(nonce_hex: &str) -> String {
    let bytes: Vec<&str> = (0..12).map(|i| &nonce_hex[2 * i..2 * i + 2]).collect();
    let words: String = bytes.chunks(4).flat_map(|w| w.iter().rev().copied()).collect();
    format!("PCP MAP {words}")
}

fn lease_of(bed: &Bed, mapping: &Value) -> Option<Lease> {
    bed.lease(port(mapping, "external_port"), mapping["protocol"].as_str().unwrap())
}

#[test]
fn default_gateway_is_the_router_when_there_is_a_default_route() {
    let bed = bed();
    let json = bed.pmp_probe(&["gateway"]).ok();
    assert_eq!(json["gateway"], bed.var("IGD_GATEWAY"), "{json}");
    eprintln!("timing: default_gateway() {:.1} ms", json["elapsed_ms"].as_f64().unwrap());
    // The other beds have no default route in the client namespace: no gateway.
    let json = off_bed().pmp_probe(&["gateway"]).ok();
    assert_eq!(json["gateway"], Value::Null, "{json}");
}

#[test]
fn map_port_uses_pcp_for_udp_and_tcp_and_the_router_holds_the_mappings() {
    let bed = bed();
    for (protocol, internal, proto_number) in [("UDP", 41000u16, "0x11"), ("TCP", 41010, "0x6")] {
        let (m, ms) = map(bed, protocol, internal, internal, 3600, "auto");
        eprintln!("timing: map_port {protocol} via {} {ms:.1} ms", m["method"]);
        assert_eq!(m["method"], "PCP", "miniupnpd answers PCP, so no fallback: {m}");
        assert_eq!(m["protocol"], protocol);
        assert_eq!(port(&m, "external_port"), internal);
        assert_eq!(m["lifetime_secs"], 3600);
        assert_eq!(m["external_address"], bed.var("IGD_EXT_IP"));
        let lease = lease_of(bed, &m).expect("the router holds the mapping");
        assert_eq!((lease.internal_client.as_str(), lease.internal_port), (bed.var("IGD_CLIENT_IP"), internal));
        assert_eq!(lease.description, pcp_description(m["nonce"].as_str().unwrap()));
        assert!((3590..=3600).contains(&lease.seconds_left()), "lease {}", lease.seconds_left());
        let rule = format!("{proto_number} th dport {internal} dnat ip to 10.77.0.2:{internal}");
        assert!(bed.dnat_rules().contains(&rule), "no `{rule}` in\n{}", bed.dnat_rules());
    }
}

#[test]
fn nat_pmp_maps_udp_and_tcp_and_reads_the_external_address() {
    let bed = bed();
    for (protocol, internal) in [("UDP", 41100u16), ("TCP", 41110)] {
        let (m, ms) = map(bed, protocol, internal, internal, 3600, "natpmp");
        eprintln!("timing: map_port_with(NatPmp) {protocol} {ms:.1} ms (mapping + address request)");
        assert_eq!(m["method"], "NAT-PMP");
        assert_eq!(port(&m, "external_port"), internal);
        assert_eq!(m["external_address"], bed.var("IGD_EXT_IP"), "from the opcode-0 request: {m}");
        let lease = lease_of(bed, &m).expect("the router holds the mapping");
        assert_eq!(lease.internal_client, bed.var("IGD_CLIENT_IP"));
        assert_eq!(lease.description, format!("NAT-PMP {internal} {}", protocol.to_lowercase()));
        assert!(bed.dnat_rules().contains(&format!("dport {internal} dnat ip to 10.77.0.2:{internal}")));
    }
    // PCP forced also works, and says so.
    let (m, _) = map(bed, "UDP", 41120, 41120, 600, "pcp");
    assert_eq!(m["method"], "PCP");
}

#[test]
fn external_address_is_the_configured_one() {
    let bed = bed();
    let json = bed.pmp_probe(&["external", bed.var("IGD_GATEWAY"), "2000"]).ok();
    assert_eq!(json["external_address"], bed.var("IGD_EXT_IP"));
    eprintln!("timing: external_address {:.1} ms", json["elapsed_ms"].as_f64().unwrap());
}

#[test]
fn renewal_extends_the_same_mapping() {
    let bed = bed();
    // 60 s is below the router's min_lifetime (120): miniupnpd raises a PCP lifetime to
    // it but grants NAT-PMP's as asked. The answer says what was granted.
    for (method, internal, granted) in [("pcp", 41200u16, 120u64), ("natpmp", 41210, 60)] {
        let (first, _) = map(bed, "UDP", internal, internal, 60, method);
        assert_eq!(first["lifetime_secs"], granted, "{method}: {first}");
        let before = lease_of(bed, &first).expect("mapped");
        assert!((granted - 10..=granted).contains(&before.seconds_left()), "{method}: lease {}", before.seconds_left());

        let renewed = renew(bed, &first, 3000);
        assert_eq!(renewed["method"], first["method"]);
        assert_eq!(renewed["nonce"], first["nonce"], "a renewal keeps the nonce");
        assert_eq!(renewed["external_port"], first["external_port"]);
        assert_eq!(renewed["lifetime_secs"], 3000);
        let after = lease_of(bed, &renewed).expect("still mapped");
        assert!((2990..=3000).contains(&after.seconds_left()), "{method}: lease {}", after.seconds_left());
        assert_eq!(after.description, before.description, "{method}: the same mapping, not a new one");
        let held = bed.leases().into_iter().filter(|l| l.internal_port == internal).count();
        assert_eq!(held, 1, "{method}: {:?}", bed.leases());
    }
}

#[test]
fn unmap_removes_the_mapping_from_the_router() {
    let bed = bed();
    for (method, protocol, internal) in [("pcp", "UDP", 41250u16), ("pcp", "TCP", 41251), ("natpmp", "UDP", 41260)] {
        let (m, _) = map(bed, protocol, internal, internal, 600, method);
        assert!(lease_of(bed, &m).is_some());
        let run = unmap(bed, &m);
        run.ok();
        eprintln!("timing: unmap_port {method} {:.1} ms", run.json()["elapsed_ms"].as_f64().unwrap());
        assert_eq!(lease_of(bed, &m), None, "{method}: the router still holds {:?}", lease_of(bed, &m));
        assert!(!bed.dnat_rules().contains(&format!("dport {internal} ")), "{}", bed.dnat_rules());
    }
    // Deleting again: miniupnpd answers a PCP deletion of a mapping it does not hold
    // with NO_RESOURCES (NO_PORT_MAPS_AVAILABLE here), and a NAT-PMP one with success.
    let (m, _) = map(bed, "UDP", 41270, 41270, 600, "pcp");
    unmap(bed, &m).ok();
    let again = unmap(bed, &m).fails_with(11);
    assert!(again["error"].as_str().unwrap().contains("NO_RESOURCES"), "{again}");
    let (m, _) = map(bed, "UDP", 41280, 41280, 600, "natpmp");
    unmap(bed, &m).ok();
    unmap(bed, &m).ok();
}

#[test]
fn a_port_held_by_another_host_gets_another_external_port() {
    let bed = bed();
    bed.other_host_maps(41300, "UDP");
    let (m, _) = map(bed, "UDP", 41300, 41300, 600, "auto");
    let external = port(&m, "external_port");
    assert_ne!(external, 41300, "{m}");
    let ours = bed.lease(external, "UDP").expect("our mapping");
    assert_eq!((ours.internal_client.as_str(), ours.internal_port), (bed.var("IGD_CLIENT_IP"), 41300));
    assert_eq!(bed.lease(41300, "UDP").unwrap().internal_client, bed.var("IGD_OTHER_CLIENT_IP"));
}

fn off_bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    BED.get_or_init(|| Bed::up_prefixed("gp", "off", &[("IGD_ENABLE_NATPMP", "no")]))
}

#[test]
fn with_nat_pmp_switched_off_calls_fail_within_the_deadline_with_no_gateway() {
    let bed = off_bed();
    let gateway = bed.var("IGD_GATEWAY");
    // The closed port answers ICMP port unreachable: the call fails at once.
    let run = bed.pmp_probe(&["map", gateway, "udp", "41400", "41400", "600", "2000"]);
    let json = run.fails_with(26); // NO_GATEWAY
    assert!(json["error"].as_str().unwrap().contains("refused"), "{json}");
    assert!(json["hint"].as_str().unwrap().contains("NAT-PMP or PCP"), "{json}");
    let refused_ms = json["elapsed_ms"].as_f64().unwrap();
    eprintln!("timing: map_port, port 5351 closed: failed after {refused_ms:.1} ms");
    assert!(refused_ms < 500.0, "{refused_ms} ms");
    bed.pmp_probe(&["external", gateway, "2000"]).fails_with(26);
    assert!(bed.leases().is_empty(), "{:?}", bed.leases());
    // UPnP is still on.
    let found = bed.upnp(&["discover", "--first"]).ok();
    assert_eq!(found["devices"][0]["igd_status"], 0, "{found}");

    // A router that drops the requests instead: the call waits out its deadline, no longer.
    drop_port_5351(bed);
    let run = bed.pmp_probe(&["map", gateway, "udp", "41400", "41400", "600", "1500"]);
    let json = run.fails_with(26);
    assert!(json["error"].as_str().unwrap().contains("did not answer"), "{json}");
    let silent_ms = json["elapsed_ms"].as_f64().unwrap();
    eprintln!("timing: map_port, requests dropped, deadline 1500 ms: failed after {silent_ms:.1} ms");
    assert!((1490.0..1700.0).contains(&silent_ms), "{silent_ms} ms");
    assert!(run.wall < Duration::from_millis(2500), "process took {:?}", run.wall);
}

/// Drops everything sent to UDP 5351 in the router namespace (a table of our own, so
/// the bed's skeleton stays as it is).
fn drop_port_5351(bed: &Bed) {
    for command in [
        "add table inet gpdrop",
        "add chain inet gpdrop input { type filter hook input priority -10 ; }",
        "add rule inet gpdrop input udp dport 5351 drop",
    ] {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &bed.router, "nft", command])
            .output()
            .expect("nft");
        assert!(out.status.success(), "nft {command}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_router_without_upnp_still_maps_by_pcp() {
    let bed = Bed::up_prefixed("gp", "noupnp", &[("IGD_ENABLE_UPNP", "no")]);
    let (m, _) = map(&bed, "UDP", 41450, 41450, 600, "auto");
    assert_eq!(m["method"], "PCP");
    assert!(lease_of(&bed, &m).is_some());
    // Nothing answers SSDP or HTTP.
    bed.upnp(&["--timeout", "1000", "discover"]).fails_with(27); // NO_DEVICES
    let out = bed
        .in_client("curl")
        .args(["-s", "-m", "1", "-o", "/dev/null", "-w", "%{http_code}", "http://10.77.0.1:5000/rootDesc.xml"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "000", "HTTP answered");
}

#[test]
fn restart_script_forgets_mappings_and_changes_the_external_address() {
    let bed = Bed::up_prefixed("gp", "rst", &[]);
    let (pcp, _) = map(&bed, "UDP", 41500, 41500, 3600, "pcp");
    let (natpmp, _) = map(&bed, "TCP", 41501, 41501, 3600, "natpmp");
    let mapped_at = Instant::now();

    // A plain restart keeps the mappings: the daemon reloads its lease file.
    let vars = bed.restart(&[]);
    assert_eq!(vars["IGD_EXT_IP"], "11.22.33.44");
    assert!(lease_of(&bed, &pcp).is_some() && lease_of(&bed, &natpmp).is_some(), "{:?}", bed.leases());

    // A "reboot": no lease file, no rules.
    bed.restart(&[("IGD_CLEAR_LEASES", "1")]);
    assert!(bed.leases().is_empty(), "{:?}", bed.leases());
    assert!(!bed.dnat_rules().contains("dport 4150"), "{}", bed.dnat_rules());
    // Renewing re-creates the mapping, and the epoch shows the router restarted: it is
    // behind where it would be had the router run on (RFC 6886 §3.6).
    let renewed = renew(&bed, &pcp, 3600);
    assert_eq!(renewed["external_port"], pcp["external_port"]);
    assert!(lease_of(&bed, &renewed).is_some());
    let elapsed = mapped_at.elapsed().as_secs();
    let (old_epoch, new_epoch) = (pcp["epoch_secs"].as_u64().unwrap(), renewed["epoch_secs"].as_u64().unwrap());
    assert!(new_epoch + 1 < old_epoch + elapsed, "epoch {old_epoch} -> {new_epoch} after {elapsed} s");

    // A new external address.
    let vars = bed.restart(&[("IGD_EXT_IP", "22.33.44.55")]);
    assert_eq!(vars["IGD_EXT_IP"], "22.33.44.55");
    let json = bed.pmp_probe(&["external", bed.var("IGD_GATEWAY"), "2000"]).ok();
    assert_eq!(json["external_address"], "22.33.44.55");
    let (m, _) = map(&bed, "UDP", 41510, 41510, 600, "auto");
    assert_eq!(m["external_address"], "22.33.44.55");
    let found = bed.upnp(&["discover", "--first"]).ok();
    assert_eq!(found["devices"][0]["external_address"], "22.33.44.55", "{found}");
}

/// The router's nftables rules that let a UDP datagram from the WAN side through to
/// `address`:`port` (miniupnpd matches the destination as raw bytes: `@nh,192,128` is
/// the IPv6 destination address).
fn pinhole_rules(bed: &Bed, address: &str, port: u16) -> usize {
    let octets: std::net::Ipv6Addr = address.parse().unwrap();
    let hex: String = octets.octets().iter().map(|b| format!("{b:02x}")).collect();
    let out = bed.in_router("nft").args(["list", "chain", "inet", "igd", "miniupnpd"]).output().expect("nft");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("dport {port} ")) && l.contains(&format!("0x{hex}")))
        .count()
}

/// One datagram from the WAN host (fd78::1) to `[address]:port`, echoed by a listener in
/// the client namespace: whether the echo came back within 1 s.
fn datagram_arrives(bed: &Bed, address: &str, port: u16) -> bool {
    let listener = format!(
        "import socket,sys\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\ns.bind(('::',{port}))\n\
         s.settimeout(3)\nprint('ready',flush=True)\n\
         try:\n d,a=s.recvfrom(100);s.sendto(d,a)\nexcept socket.timeout:\n pass\n"
    );
    let mut echo = bed
        .in_client("python3")
        .args(["-c", &listener])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("listener");
    let mut ready = [0u8; 6];
    std::io::Read::read_exact(echo.stdout.as_mut().unwrap(), &mut ready).expect("the listener is ready");
    let sender = format!(
        "import socket\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\ns.settimeout(1)\n\
         s.sendto(b'pcp6',('{address}',{port}))\n\
         try:\n print(s.recvfrom(100)[0]==b'pcp6')\nexcept socket.timeout:\n print(False)\n"
    );
    let out = bed.in_wan("python3").args(["-c", &sender]).output().expect("sender");
    let _ = echo.kill();
    let _ = echo.wait();
    String::from_utf8_lossy(&out.stdout).trim() == "True"
}

/// PCP over IPv6 (RFC 6887 §11.3): a MAP from our IPv6 address to the router's IPv6
/// address opens a pinhole in its firewall. miniupnpd answers with our own address and
/// port as the "external" ones, writes a rule for them, and a datagram from the WAN host
/// arrives while it stands; the deletion (lifetime 0) removes it. A renewal keeps the one
/// rule; a renewed pinhole, though, cannot be deleted by PCP on miniupnpd 2.3.1 (nftables):
/// its update rewrites the rule without the label the deletion looks for, so the deletion
/// is refused (NOT_AUTHORIZED, "Unauthorized to remove PCP mapping") and the pinhole ends
/// with its lifetime. Before: the client spoke PCP to IPv4 gateways only.
#[test]
fn pcp_over_ipv6_opens_a_pinhole_and_closes_it() {
    let bed = bed();
    let (gateway, ours) = ("fd77::1", bed.var("IGD_CLIENT_IP6").to_string());
    const PORT: u16 = 45610;
    assert!(!datagram_arrives(bed, &ours, PORT), "the router's firewall drops it without a pinhole");
    let json = bed.pmp_probe(&["map", gateway, "udp", "45610", "45610", "600", "4000", "pcp"]).ok();
    let mapping = json["mapping"].clone();
    eprintln!("timing: PCP pinhole opened in {:.1} ms: {mapping}", json["elapsed_ms"].as_f64().unwrap());
    assert_eq!(mapping["external_address"], ours.as_str(), "{mapping}");
    assert_eq!((port(&mapping, "internal_port"), port(&mapping, "external_port")), (PORT, PORT));
    assert!(json["elapsed_ms"].as_f64().unwrap() < 500.0);
    assert_eq!(pinhole_rules(bed, &ours, PORT), 1, "the router's rule for {ours}:{PORT}");
    assert!(datagram_arrives(bed, &ours, PORT), "a datagram from the WAN host arrives through the pinhole");
    bed.pmp_probe(&["unmap", gateway, &mapping.to_string(), "4000"]).ok();
    assert_eq!(pinhole_rules(bed, &ours, PORT), 0, "removed");
    assert!(!datagram_arrives(bed, &ours, PORT), "dropped again after the deletion");

    const RENEWED: u16 = 45612;
    let json = bed.pmp_probe(&["map", gateway, "udp", "45612", "45612", "600", "4000", "pcp"]).ok();
    let renewed = bed.pmp_probe(&["renew", gateway, &json["mapping"].to_string(), "900", "4000"]).ok();
    assert_eq!(renewed["mapping"]["lifetime_secs"], 900, "{renewed}");
    assert_eq!(pinhole_rules(bed, &ours, RENEWED), 1, "renewed, not doubled");
    let refused = bed.pmp_probe(&["unmap", gateway, &renewed["mapping"].to_string(), "4000"]).fails_with(1);
    assert!(refused["error"].as_str().unwrap().contains("NOT_AUTHORIZED"), "{refused}");
    assert!(bed.router_log().contains(&format!("Unauthorized to remove PCP mapping internal port {RENEWED}")));
    assert_eq!(pinhole_rules(bed, &ours, RENEWED), 1, "left to its lifetime");

    // NAT-PMP is IPv4-only: asked of an IPv6 gateway it fails at once, nothing sent.
    let natpmp = bed.pmp_probe(&["map", gateway, "udp", "45611", "45611", "600", "4000", "natpmp"]).json();
    assert!(natpmp["error"].as_str().unwrap_or("").contains("NAT-PMP"), "{natpmp}");
    assert!(natpmp["elapsed_ms"].as_f64().unwrap() < 50.0, "{natpmp}");
}
