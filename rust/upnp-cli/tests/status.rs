//! `upnp status` against a simulated router on 127.0.0.1 (its description URL given, so
//! nothing is searched): the text and the JSON say which NAT, if any, is in front of the
//! router and what to do.

use igd_sim::{DeviceSpec, SimConfig, Simulator, SoapSpec};
use std::process::Command;

/// `upnp --url <the simulated router> status` (plus `extra`) with the router's
/// external address set to `external_ip`; its stdout.
fn status(external_ip: &str, extra: &[&str]) -> String {
    let soap = SoapSpec { external_ip: external_ip.into(), ..SoapSpec::default() };
    let sim = Simulator::start(SimConfig::unicast_local(vec![DeviceSpec::igd_v2().with_soap(soap)])).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_upnp"))
        .args(["--url", &sim.location(0), "--timeout", "2000", "status"])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn line<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label:?} in {text}"))
}

#[test]
fn status_tells_double_nat_carrier_grade_nat_and_no_address_apart() {
    for (ip, address, note) in [
        (
            "10.0.0.2",
            "External address: 10.0.0.2 (private: another router in front)",
            "Note:             the router's external address 10.0.0.2 is private: the router is behind another \
             router, so players outside cannot reach mapped ports; enable UPnP on the outer router or put one of \
             them in bridge mode",
        ),
        (
            "100.64.1.2",
            "External address: 100.64.1.2 (shared: carrier-grade NAT)",
            "Note:             the router's external address 100.64.1.2 is shared (carrier-grade NAT, RFC 6598): \
             the provider shares one address among customers, so players outside cannot reach mapped ports; ask \
             your provider for a public address or use a relay",
        ),
        (
            "0.0.0.0",
            "External address: (none)",
            "Note:             the router reports no external address, so players outside cannot reach mapped \
             ports; check the router's internet connection, or forward the port on the router in front of it",
        ),
    ] {
        let text = status(ip, &[]);
        println!("{text}");
        assert_eq!(line(&text, "External address:"), address, "{ip}");
        assert_eq!(line(&text, "Note:"), note, "{ip}");
    }
}

#[test]
fn status_json_carries_the_kind() {
    for (ip, address, kind) in [
        ("11.22.33.44", "11.22.33.44", "public"),
        ("10.0.0.2", "10.0.0.2", "private"),
        ("100.64.1.2", "100.64.1.2", "shared"),
        ("0.0.0.0", "", "none"),
    ] {
        let text = status(ip, &["--json"]);
        let json: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(json["external_address"], address, "{text}");
        assert_eq!(json["external_address_kind"], kind, "{text}");
        assert_eq!(json["note"].as_str().unwrap().is_empty(), kind == "public", "{text}");
    }
}

#[test]
fn a_public_address_has_no_note() {
    let text = status("11.22.33.44", &[]);
    assert_eq!(line(&text, "External address:"), "External address: 11.22.33.44 (public)");
    assert!(!text.contains("Note:"), "{text}");
}
