//! Double NAT and carrier-grade NAT with two real routers (igd-up.sh `IGD_OUTER`): the
//! client's router runs miniupnpd as on every bed, and a second router between its WAN
//! side and the WAN host runs another miniupnpd on its own LAN side and NATs again. A
//! real STUN server (coturn, `IGD_STUN=1`) on the WAN host tells the address the outside
//! sees. Per bed: what `upnp status` says about the router's external address and what
//! the router answers to a mapping; that a STUN binding request from the client
//! (tests/testbed/stun.py, independent of our code) comes back with the outermost
//! address; that the outer router's daemon answers on its LAN side. The single-router
//! bed with forwarding (the router SNATs to its external address) is the reference.
//! Namespaces are `dn-*`, so these beds never collide with another suite's.

use igd_tests::{Bed, repo_root};
use serde_json::Value;
use std::sync::OnceLock;

/// The outer router's external address (igd-up.sh's default IGD_OUTER_EXT_IP).
const OUTER_EXT_IP: &str = "22.33.44.55";
/// The router's external address where it has one (igd-up.sh's default IGD_EXT_IP).
const EXT_IP: &str = "11.22.33.44";

fn bed_for(cell: &'static OnceLock<Bed>, name: &str, env: &[(&str, &str)]) -> &'static Bed {
    cell.get_or_init(|| {
        let started = std::time::Instant::now();
        let bed = Bed::up_prefixed("dn", name, env);
        println!("bed {name} up in {:?}", started.elapsed());
        bed
    })
}

fn private_bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    bed_for(&BED, "priv", &[("IGD_OUTER", "private"), ("IGD_STUN", "1")])
}

fn shared_bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    bed_for(&BED, "shared", &[("IGD_OUTER", "shared"), ("IGD_STUN", "1")])
}

fn hidden_bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    bed_for(&BED, "hidden", &[("IGD_OUTER", "hidden"), ("IGD_STUN", "1")])
}

fn single_bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    bed_for(&BED, "single", &[("IGD_FORWARD", "1"), ("IGD_STUN", "1")])
}

/// A STUN binding request from the client namespace to the bed's STUN server: the
/// address and port the server saw (tests/testbed/stun.py's JSON).
fn stun_from_client(bed: &Bed) -> Value {
    let (host, port) = bed.var("IGD_STUN_SERVER").rsplit_once(':').expect("IGD_STUN_SERVER is host:port");
    let out = bed
        .in_client("python3")
        .arg(repo_root().join("tests/testbed/stun.py"))
        .args([host, port, "--tries", "3", "--timeout", "1"])
        .output()
        .expect("run stun.py");
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stun.py printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    println!("{}: STUN {json}", bed.name);
    assert_eq!(json["answered"], true, "{json}");
    json
}

/// The STUN server sees `expected` as the client's address, on the port the client's
/// socket has (both NATs keep free ports).
fn assert_stun_sees(bed: &Bed, expected: &str) {
    let json = stun_from_client(bed);
    assert_eq!(json["address"], expected, "{json}");
    let local_port = json["local"].as_str().unwrap().rsplit_once(':').unwrap().1;
    assert_eq!(json["port"].to_string(), local_port, "{json}");
}

/// `upnp status` on the client: the JSON, printed for the record.
fn status(bed: &Bed) -> Value {
    let json = bed.upnp(&["status"]).ok();
    println!("{}: status {json}", bed.name);
    assert_eq!(json["connection_status"], "Connected", "{json}");
    json
}

/// A router with a private or shared WAN address and no ext_ip: miniupnpd 2.3.1 says in
/// its log that it cannot forward, answers GetExternalIPAddress with an empty address
/// (our status: kind "none" and its note), and refuses a mapping with 501.
fn assert_no_address_and_no_mappings(bed: &Bed, wan_address: &str) {
    assert_eq!(bed.var("IGD_ROUTER_WAN_IP"), wan_address);
    let log = bed.router_log();
    let refusal =
        format!("Reserved / private IP address {wan_address} on ext interface wan0: Port forwarding is impossible");
    assert!(log.contains(&refusal), "{log}");

    let json = status(bed);
    assert_eq!(json["external_address"], "", "{json}");
    assert_eq!(json["external_address_kind"], "none", "{json}");
    assert!(json["note"].as_str().unwrap().contains("reports no external address"), "{json}");

    let add = bed.upnp(&["add", "41000"]).fails_with(5); // ACTION_FAILED
    println!("{}: add {add}", bed.name);
    assert_eq!(add["upnp_code"], 501, "{add}");
    assert!(bed.leases().is_empty(), "router holds {:?}", bed.leases());
    let log = bed.router_log();
    assert!(log.contains(&format!("private/reserved address {wan_address} is not suitable")), "{log}");
}

/// The outer router's miniupnpd, asked from the router's namespace (its LAN side): its
/// description names it, and GetExternalIPAddress answers its external address.
fn assert_outer_router_answers(bed: &Bed) {
    let rootdesc = bed.var("IGD_OUTER_ROOTDESC");
    let out = bed.in_router("curl").args(["-s", "-m", "5", rootdesc]).output().expect("curl");
    let desc = String::from_utf8_lossy(&out.stdout);
    assert!(desc.contains("<friendlyName>IGD test bed outer router</friendlyName>"), "{rootdesc}: {desc}");
    assert!(desc.contains("urn:schemas-upnp-org:device:InternetGatewayDevice:2"), "{desc}");

    let service = "urn:schemas-upnp-org:service:WANIPConnection:1";
    let body = format!(
        "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
         <u:GetExternalIPAddress xmlns:u=\"{service}\"></u:GetExternalIPAddress></s:Body></s:Envelope>"
    );
    let control = rootdesc.replace("/rootDesc.xml", "/ctl/IPConn");
    let out = bed
        .in_router("curl")
        .args(["-s", "-m", "5", "-H", &format!("SOAPAction: \"{service}#GetExternalIPAddress\"")])
        .args(["-H", "Content-Type: text/xml", "--data", &body, &control])
        .output()
        .expect("curl");
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.contains(&format!("<NewExternalIPAddress>{OUTER_EXT_IP}</NewExternalIPAddress>")), "{answer}");
    assert_eq!(bed.var("IGD_OUTER_EXT_IP"), OUTER_EXT_IP);
}

#[test]
fn private_wan_router_reports_no_address_and_refuses_mappings() {
    assert_no_address_and_no_mappings(private_bed(), "192.168.1.2");
}

#[test]
fn private_wan_stun_sees_the_outer_routers_address() {
    assert_stun_sees(private_bed(), OUTER_EXT_IP);
}

#[test]
fn private_wan_outer_router_answers_on_its_lan_side() {
    assert_outer_router_answers(private_bed());
}

#[test]
fn shared_wan_router_reports_no_address_and_refuses_mappings() {
    assert_no_address_and_no_mappings(shared_bed(), "100.64.1.2");
}

#[test]
fn shared_wan_stun_sees_the_outer_routers_address() {
    assert_stun_sees(shared_bed(), OUTER_EXT_IP);
}

#[test]
fn shared_wan_outer_router_answers_on_its_lan_side() {
    assert_outer_router_answers(shared_bed());
}

#[test]
fn hidden_nat_router_looks_public_and_maps() {
    let bed = hidden_bed();
    let json = status(bed);
    assert_eq!(json["external_address"], EXT_IP, "{json}");
    assert_eq!(json["external_address_kind"], "public", "{json}");
    assert_eq!(json["note"], "", "{json}");
    let add = bed.upnp(&["add", "41100"]).ok();
    println!("{}: add {add}", bed.name);
    assert_eq!(bed.lease(41100, "UDP").expect("the router took the mapping").internal_client, "10.77.0.2");
    bed.upnp(&["delete", "41100"]).ok();
}

#[test]
fn hidden_nat_stun_sees_the_outer_address_not_the_routers() {
    let bed = hidden_bed();
    assert_eq!(bed.var("IGD_EXT_IP"), EXT_IP);
    assert_stun_sees(bed, OUTER_EXT_IP);
}

#[test]
fn hidden_nat_outer_router_answers_on_its_lan_side() {
    assert_outer_router_answers(hidden_bed());
}

#[test]
fn single_router_stun_sees_its_external_address() {
    let bed = single_bed();
    assert_eq!(bed.var("IGD_OUTER"), "none");
    let json = status(bed);
    assert_eq!(json["external_address"], EXT_IP, "{json}");
    assert_eq!(json["external_address_kind"], "public", "{json}");
    assert_stun_sees(bed, EXT_IP);
}

/// `upnp diagnose --stun` on the client: the report, printed for the record.
fn diagnose_with_stun(bed: &Bed) -> Value {
    let server = bed.var("IGD_STUN_SERVER");
    let json = bed.upnp(&["--timeout", "1500", "diagnose", "--stun", server]).ok();
    println!("{}: diagnose stun {} advice {}", bed.name, json["stun"], json["advice_code"]);
    assert_eq!(json["stun"]["server"], server, "{json}");
    assert_eq!(json["stun"]["answered"], true, "{json}");
    json
}

/// Our STUN client (upnp diagnose --stun) against the real server: behind the hidden NAT it
/// sees the outer address and advises on the NAT the router's public-looking address
/// hides; behind a private WAN it sees the outer address and the advice stays "no
/// external address"; on the single router it confirms the external address.
#[test]
fn diagnose_names_the_nat_stun_reveals() {
    let hidden = diagnose_with_stun(hidden_bed());
    assert_eq!(hidden["external_address"], EXT_IP, "{hidden}");
    assert_eq!(hidden["stun"]["address"], OUTER_EXT_IP, "{hidden}");
    assert_eq!(hidden["stun"]["same_as_external"], false, "{hidden}");
    assert_eq!(hidden["advice_code"], "hidden_nat", "{hidden}");

    let private = diagnose_with_stun(private_bed());
    assert_eq!(private["stun"]["address"], OUTER_EXT_IP, "{private}");
    assert_eq!(private["advice_code"], "no_external_address", "{private}");

    let single = diagnose_with_stun(single_bed());
    assert_eq!(single["stun"]["address"], EXT_IP, "{single}");
    assert_eq!(single["stun"]["same_as_external"], true, "{single}");
    assert_eq!(single["advice_code"], "ok", "{single}");
}
