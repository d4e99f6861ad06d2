//! `upnp diagnose` against the real router, one bed per situation: IGDv2 (the router
//! found, public address, no default route so NAT-PMP/PCP is not asked), the VPN route
//! (found on c0 while vpn0 holds the default route; NAT-PMP/PCP asked at both gateways,
//! answered on c0 only), UPnP off with a default route (NAT-PMP/PCP only), and a router
//! that knows no external address. Each report's fields are checked against the bed, and
//! its advice line per bed. Namespaces are `h8-*`, so this suite never shares a bed with
//! another.
use igd_tests::{Bed, Run};
use serde_json::Value;
use std::time::Duration;

const TIMEOUT_MS: u64 = 1500;

fn diagnose(bed: &Bed) -> (Value, Run) {
    let run = bed.upnp(&["--timeout", &TIMEOUT_MS.to_string(), "diagnose"]);
    let json = run.ok();
    println!("{}: {json}", bed.name);
    // Bounded by the timeout: discovery waits it out, the probes run meanwhile.
    let elapsed = json["elapsed_ms"].as_f64().unwrap();
    assert!(elapsed < (TIMEOUT_MS + 500) as f64, "{elapsed} ms");
    assert!(run.wall < Duration::from_millis(TIMEOUT_MS + 1500), "{:?}", run.wall);
    (json, run)
}

fn interface<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("{name} not searched: {json}"))
}

fn pmp_at<'a>(json: &'a Value, gateway: &str) -> &'a Value {
    json["pmp"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["gateway"] == gateway)
        .unwrap_or_else(|| panic!("{gateway} not asked: {json}"))
}

fn assert_router_chosen(bed: &Bed, json: &Value) {
    let gateway = &json["gateway"];
    assert_eq!(gateway["description_url"], bed.var("IGD_ROOTDESC"), "{json}");
    assert_eq!(gateway["igd_our_addr"], "10.77.0.2");
    assert!(gateway["why"].as_str().unwrap().starts_with("chosen"), "{json}");
    assert_eq!(json["devices"][0]["chosen"], true);
}

#[test]
fn igdv2_router_is_chosen_with_its_public_address() {
    let bed = Bed::up_prefixed("h8", "dv2", &[]);
    let (json, _) = diagnose(&bed);
    assert_router_chosen(&bed, &json);
    assert_eq!(interface(&json, "c0")["ipv4"][0], "10.77.0.2");
    assert_eq!(interface(&json, "c0")["gateway"], Value::Null, "the bed has no default route");
    assert_eq!(json["external_address"], "11.22.33.44");
    assert_eq!(json["external_address_kind"], "public");
    assert_eq!(json["external_address_source"], "upnp");
    assert_eq!(json["pmp"], serde_json::json!([]), "no gateway to ask");
    assert!(json["stun"].is_null(), "not asked: {}", json["stun"]);
    assert_eq!(json["discovery_error"], Value::Null);
    assert_eq!(json["advice_code"], "ok");

    let text = bed.in_client(igd_tests::bin_dir().join("upnp")).args(["--timeout", "1000", "diagnose"]).output();
    let text = String::from_utf8_lossy(&text.expect("run upnp").stdout).into_owned();
    println!("{text}");
    assert!(text.contains("External address: 11.22.33.44 (public, from upnp)"), "{text}");
    assert!(text.contains("Advice:           ports can be mapped"), "{text}");
}

#[test]
fn vpn_route_router_is_found_on_c0_and_answers_nat_pmp_there() {
    let bed = Bed::up_prefixed("h8", "dvpn", &[("IGD_VPN_ROUTE", "1")]);
    let (json, _) = diagnose(&bed);
    assert_router_chosen(&bed, &json);
    assert_eq!(interface(&json, "vpn0")["gateway"], "10.99.0.1");
    assert_eq!(interface(&json, "c0")["gateway"], "10.77.0.1");
    let router = pmp_at(&json, "10.77.0.1");
    assert_eq!(router["answered"], true, "{json}");
    assert_eq!(router["method"], "NAT-PMP");
    assert_eq!(router["external_address"], "11.22.33.44");
    let vpn = pmp_at(&json, "10.99.0.1");
    assert_eq!(vpn["answered"], false, "nothing serves NAT-PMP behind the VPN: {json}");
    assert!(vpn["error"].as_str().unwrap().contains("did not answer"), "{json}");
    assert_eq!(json["external_address_kind"], "public");
    assert_eq!(json["advice_code"], "ok");
}

#[test]
fn upnp_off_leaves_pcp_and_the_advice_says_so() {
    let bed = Bed::up_prefixed("h8", "dpmp", &[("IGD_ENABLE_UPNP", "no"), ("IGD_CLIENT_DEFAULT_ROUTE", "1")]);
    let (json, _) = diagnose(&bed);
    assert_eq!(json["devices"], serde_json::json!([]), "{json}");
    assert_eq!(json["gateway"], Value::Null);
    assert_eq!(interface(&json, "c0")["gateway"], "10.77.0.1");
    let router = pmp_at(&json, "10.77.0.1");
    assert_eq!(router["answered"], true, "{json}");
    assert_eq!(router["interface"], "c0");
    assert_eq!(json["external_address"], "11.22.33.44");
    assert_eq!(json["external_address_source"], "natpmp");
    assert_eq!(json["external_address_kind"], "public");
    assert_eq!(json["advice_code"], "pmp_only");
    assert!(json["advice"].as_str().unwrap().contains("switch UPnP on"), "{json}");
}

#[test]
fn router_without_an_external_address_is_chosen_and_flagged() {
    let bed = Bed::up_prefixed("h8", "dpriv", &[("IGD_EXT_IP", "none")]);
    let (json, _) = diagnose(&bed);
    assert_router_chosen(&bed, &json);
    assert_eq!(json["external_address"], "");
    assert_eq!(json["external_address_kind"], "none");
    assert_eq!(json["advice_code"], "no_external_address");
}
