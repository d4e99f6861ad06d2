//! `upnp pinhole` and `upnp status` against routers whose IPv6 firewall lets no pinhole
//! be made (igd-sim's profiles `v6-firewall-off` and `v6-inbound-disallowed`, answered as
//! miniupnpd's `CheckStatus` does; the test bed's miniupnpd cannot be set up to say
//! either): every pinhole action fails with the router's code, `UPNP_RESULT_ACTION_FAILED`
//! and one error line saying what to do; `status` names the firewall's state. On 127.0.0.1,
//! the description URL given, so nothing is searched.

use igd_sim::{DeviceSpec, SimConfig, Simulator, profiles};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Output};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// `UPNP_RESULT_ACTION_FAILED`.
const ACTION_FAILED: i64 = 5;

/// A running router of this profile.
fn router(profile: fn(IpAddr) -> DeviceSpec) -> Simulator {
    Simulator::start(SimConfig::unicast_local(vec![profile(LOCALHOST)])).unwrap()
}

/// `upnp --url <the router> ARGS`.
fn upnp(sim: &Simulator, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_upnp"))
        .args(["--url", &sim.location(0), "--timeout", "2000"])
        .args(args)
        .output()
        .unwrap()
}

/// Runs a pinhole command that must fail; its one error line.
fn refused(sim: &Simulator, args: &[&str]) -> String {
    let out = upnp(sim, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} printed {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one error line: {stderr}");
    stderr.trim_end().to_string()
}

/// Every pinhole action on a router of `profile`: the router's `code` and `name`, and the
/// hint for it, in one line each; the same in JSON; `status` says `firewall`.
fn check_profile(profile: fn(IpAddr) -> DeviceSpec, code: u32, name: &str, hint: &str, firewall: &str) {
    let sim = router(profile);
    let tail = format!("UPnP error {code} ({name}) [UPNP_RESULT_ACTION_FAILED] ({hint})");
    for (args, line) in [
        (
            &["pinhole", "add", "3928", "--internal-client", "fd77::2"][..],
            format!("upnp: opening a pinhole to UDP port 3928 failed: AddPinhole refused by the router: {tail}"),
        ),
        (
            &["pinhole", "update", "3", "60"],
            format!("upnp: renewing pinhole 3 failed: UpdatePinhole refused by the router: {tail}"),
        ),
        (
            &["pinhole", "check", "3"],
            format!("upnp: checking pinhole 3 failed: CheckPinholeWorking refused by the router: {tail}"),
        ),
        (
            &["pinhole", "delete", "3"],
            format!("upnp: deleting pinhole 3 failed: DeletePinhole refused by the router: {tail}"),
        ),
    ] {
        let said = refused(&sim, args);
        println!("{said}");
        assert_eq!(said, line, "{args:?}");
    }
    let out = upnp(&sim, &["--json", "pinhole", "add", "3928", "--internal-client", "fd77::2"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"], ACTION_FAILED, "{json}");
    assert_eq!(json["result_name"], "UPNP_RESULT_ACTION_FAILED", "{json}");
    assert_eq!(json["upnp_code"], code, "{json}");
    assert_eq!(json["hint"], hint, "{json}");
    // The router was asked: the refusals are its own, not a check of ours.
    let asked = sim.requests().iter().filter(|r| r.action.as_deref() == Some("AddPinhole")).count();
    assert_eq!(asked, 2, "AddPinhole requests");

    let out = upnp(&sim, &["status"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    println!("{text}");
    let line = text.lines().find(|l| l.starts_with("IPv6 firewall:")).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(line, format!("IPv6 firewall:    {firewall} ({})", sim.control_url(0).replace("IPConn", "IP6FCtl")));
    let out = upnp(&sim, &["--json", "status"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("{}", json["ipv6_firewall"]);
    assert_eq!(json["ipv6_firewall"]["enabled"], firewall.starts_with("firewall on"), "{json}");
    assert_eq!(json["ipv6_firewall"]["inbound_pinhole_allowed"], !firewall.starts_with("firewall on"), "{json}");
}

#[test]
fn a_router_with_its_ipv6_firewall_off_refuses_pinholes_with_702() {
    check_profile(
        profiles::ipv6_firewall_off,
        702,
        "FirewallDisabled",
        "the router's IPv6 firewall is off: inbound IPv6 already reaches this computer, no pinhole is needed",
        "firewall off (inbound IPv6 reaches this host without a pinhole)",
    );
}

#[test]
fn a_router_allowing_no_inbound_pinholes_refuses_them_with_703() {
    check_profile(
        profiles::ipv6_inbound_pinholes_disallowed,
        703,
        "InboundPinholeNotAllowed",
        "the router's IPv6 firewall does not allow pinholes: allow them in the router's settings",
        "firewall on, pinholes not allowed (inbound IPv6 is dropped)",
    );
}
