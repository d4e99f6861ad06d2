//! The emulated WANIPConnection: a port mapping table with miniupnpd's rules and answers.

use crate::SimMapping;
use crate::spec::{FaultRule, Ipv6Firewall, SoapFault, SoapSpec};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// The lease miniupnpd grants for 0, negative, unparsable or too long requests.
pub const MAX_LEASE: u32 = 604_800;

/// Action outputs, in order.
pub(crate) type Outputs = Vec<(&'static str, String)>;
/// A UPnP error: code and description.
pub(crate) type UpnpError = (u32, &'static str);

const INVALID_ACTION: UpnpError = (401, "Invalid Action");
const INVALID_ARGS: UpnpError = (402, "Invalid Args");
const ACTION_FAILED: UpnpError = (501, "ActionFailed");
const NOT_AUTHORIZED: UpnpError = (606, "Action not authorized");
const INDEX_INVALID: UpnpError = (713, "SpecifiedArrayIndexInvalid");
const NO_SUCH_ENTRY: UpnpError = (714, "NoSuchEntryInArray");
const WILDCARD_EXTERNAL_PORT: UpnpError = (716, "Wildcard not permited in ExtPort");
const CONFLICT: UpnpError = (718, "ConflictInMappingEntry");
const NO_PORT_MAPS: UpnpError = (728, "NoPortMapsAvailable");
const FIREWALL_DISABLED: UpnpError = (702, "FirewallDisabled");
const INBOUND_PINHOLE_NOT_ALLOWED: UpnpError = (703, "InboundPinholeNotAllowed");
/// miniupnpd's spelling for the firewall service's 501.
const FIREWALL_ACTION_FAILED: UpnpError = (501, "Action Failed");

/// One device's service state.
pub(crate) struct IgdState {
    device: usize,
    pub(crate) spec: SoapSpec,
    /// Calls each fault rule has served (rules told apart by value).
    served: Vec<(FaultRule, u32)>,
    mappings: Vec<SimMapping>,
    started: Instant,
    /// For `AddAnyPortMapping` with a wildcard port: a small deterministic generator.
    rng: u64,
}

impl IgdState {
    pub(crate) fn new(device: usize, spec: SoapSpec) -> Self {
        IgdState {
            device,
            spec,
            served: Vec::new(),
            mappings: Vec::new(),
            started: Instant::now(),
            rng: 0x9e37_79b9_7f4a_7c15 ^ (device as u64 + 1),
        }
    }

    /// Replaces the fault rules, forgetting how often the old ones served.
    pub(crate) fn set_faults(&mut self, faults: Vec<FaultRule>) {
        self.spec.faults = faults;
        self.served.clear();
    }

    /// The fault the next call of `action` gets, if any (counting it against its rule).
    pub(crate) fn take_fault(&mut self, action: &str) -> Option<SoapFault> {
        let rules = self.spec.faults.clone();
        for rule in rules {
            if rule.action != "*" && rule.action != action {
                continue;
            }
            let used = match self.served.iter_mut().find(|(r, _)| *r == rule) {
                Some((_, used)) => used,
                None => {
                    self.served.push((rule.clone(), 0));
                    &mut self.served.last_mut().expect("just pushed").1
                }
            };
            if rule.times.is_some_and(|times| *used >= times) {
                continue;
            }
            *used += 1;
            return Some(rule.fault);
        }
        None
    }

    /// The table, expired leases removed.
    pub(crate) fn mappings(&mut self) -> Vec<SimMapping> {
        self.expire();
        self.mappings.clone()
    }

    /// Empties the table (the service keeps running).
    pub(crate) fn forget_mappings(&mut self) {
        self.mappings.clear();
    }

    /// Adds or replaces a mapping directly.
    pub(crate) fn insert(&mut self, mut mapping: SimMapping) {
        mapping.device = self.device;
        mapping.protocol = protocol(&mapping.protocol).to_string();
        match self.position(mapping.external_port, &mapping.protocol) {
            Some(i) => self.mappings[i] = mapping,
            None => self.mappings.push(mapping),
        }
    }

    fn expire(&mut self) {
        let now = Instant::now();
        self.mappings.retain(|m| m.expires_at > now);
    }

    fn position(&self, port: u16, protocol: &str) -> Option<usize> {
        self.mappings.iter().position(|m| m.external_port == port && m.protocol == protocol)
    }

    /// Runs one action for a requester at `peer`, posted to control URL `path`.
    pub(crate) fn call(
        &mut self,
        action: &str,
        args: &[(String, String)],
        peer: IpAddr,
        path: &str,
    ) -> Result<Outputs, UpnpError> {
        self.expire();
        let args = Args(args);
        let connection = self.spec.connections.iter().find(|c| c.path == path);
        let (status, external_ip) = match connection {
            Some(c) => (c.connection_status.clone(), c.external_ip.clone()),
            None => (self.spec.connection_status.clone(), self.spec.external_ip.clone()),
        };
        match action {
            "GetExternalIPAddress" => Ok(vec![("NewExternalIPAddress", external_ip)]),
            "GetStatusInfo" => Ok(vec![
                ("NewConnectionStatus", status),
                ("NewLastConnectionError", "ERROR_NONE".to_string()),
                ("NewUptime", self.started.elapsed().as_secs().to_string()),
            ]),
            "GetConnectionTypeInfo" => Ok(vec![
                ("NewConnectionType", "IP_Routed".to_string()),
                ("NewPossibleConnectionTypes", "IP_Routed".to_string()),
            ]),
            "GetNATRSIPStatus" => Ok(vec![("NewRSIPAvailable", "0".to_string()), ("NewNATEnabled", "1".to_string())]),
            "AddPortMapping" => self.add(&args, peer, false),
            "AddAnyPortMapping" => self.add(&args, peer, true),
            "DeletePortMapping" => self.delete(&args, peer),
            "GetSpecificPortMappingEntry" => self.specific(&args),
            "GetGenericPortMappingEntry" => self.generic(&args),
            _ => match self.spec.ipv6_firewall {
                Some(firewall) => firewall_action(firewall, action),
                None => Err(INVALID_ACTION),
            },
        }
    }

    /// `AddPortMapping` and `AddAnyPortMapping`, in miniupnpd's order of checks.
    fn add(&mut self, args: &Args, peer: IpAddr, any: bool) -> Result<Outputs, UpnpError> {
        let (Some(external), Some(proto), Some(internal), Some(client)) = (
            args.get("NewExternalPort"),
            args.get("NewProtocol"),
            args.get("NewInternalPort"),
            args.get("NewInternalClient"),
        ) else {
            return Err(INVALID_ARGS);
        };
        let lease_asked = args.get("NewLeaseDuration").unwrap_or("0").trim();
        if let Some(code) = self.spec.refuse_leases.filter(|_| lease_asked != "0") {
            return Err((code, error_name(code)));
        }
        let Ok(client_ip) = client.parse::<Ipv4Addr>() else {
            return Err(ACTION_FAILED);
        };
        if self.spec.secure_mode && !same_host(IpAddr::V4(client_ip), peer) {
            return Err(if any { NOT_AUTHORIZED } else { CONFLICT });
        }
        let external = atoi_port(external);
        let internal = atoi_port(internal);
        if external == 0 && !any {
            return Err(WILDCARD_EXTERNAL_PORT);
        }
        if internal == 0 || (!any && external < self.spec.min_external_port) {
            return Err(NOT_AUTHORIZED);
        }
        let protocol = protocol(proto);
        let lease = lease(args.get("NewLeaseDuration").unwrap_or("0"));
        let client = client_ip.to_string();
        let port = if any { self.pick_port(external, protocol, &client)? } else { external };
        match self.position(port, protocol) {
            Some(i) if self.mappings[i].internal_client != client => {
                return Err((self.spec.conflict_code, error_name(self.spec.conflict_code)));
            }
            Some(_) => {}
            None if self.mappings.len() >= self.spec.max_mappings => return Err(NO_PORT_MAPS),
            None => {}
        }
        self.insert(SimMapping {
            device: self.device,
            remote_host: args.get("NewRemoteHost").unwrap_or("").to_string(),
            external_port: port,
            protocol: protocol.to_string(),
            internal_port: internal,
            internal_client: client,
            enabled: args.get("NewEnabled").is_none_or(|e| e.trim() != "0"),
            description: args.get("NewPortMappingDescription").unwrap_or("").to_string(),
            lease_seconds: lease,
            expires_at: Instant::now() + Duration::from_secs(u64::from(lease)),
        });
        Ok(if any { vec![("NewReservedPort", port.to_string())] } else { Vec::new() })
    }

    /// `AddAnyPortMapping`'s choice: the port asked (at least the lowest allowed) when
    /// free or the requester's own, else the next such port up (wrapping); a wildcard
    /// starts at a pseudo-random port.
    fn pick_port(&mut self, asked: u16, protocol: &str, client: &str) -> Result<u16, UpnpError> {
        let low = self.spec.min_external_port.max(1);
        let span = u32::from(u16::MAX - low) + 1;
        let start = if asked == 0 {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            low + (self.rng % u64::from(span)) as u16
        } else {
            asked.max(low)
        };
        for step in 0..span {
            let port = (u32::from(start - low) + step) % span + u32::from(low);
            let port = port as u16;
            match self.position(port, protocol) {
                None => return Ok(port),
                Some(i) if self.mappings[i].internal_client == client => return Ok(port),
                Some(_) => {}
            }
        }
        Err(NO_PORT_MAPS)
    }

    fn delete(&mut self, args: &Args, peer: IpAddr) -> Result<Outputs, UpnpError> {
        let (Some(external), Some(proto)) = (args.get("NewExternalPort"), args.get("NewProtocol")) else {
            return Err(INVALID_ARGS);
        };
        let external = atoi_port(external);
        if let Some(i) = self.position(external, protocol(proto)) {
            let owner = self.mappings[i].internal_client.parse::<IpAddr>();
            if !owner.is_ok_and(|owner| same_host(owner, peer)) {
                return Err(NOT_AUTHORIZED);
            }
            self.mappings.remove(i);
        }
        // miniupnpd 2.3.1 answers success for a mapping that does not exist.
        Ok(Vec::new())
    }

    fn specific(&mut self, args: &Args) -> Result<Outputs, UpnpError> {
        let (Some(external), Some(proto)) = (args.get("NewExternalPort"), args.get("NewProtocol")) else {
            return Err(INVALID_ARGS);
        };
        let i = self.position(atoi_port(external), protocol(proto)).ok_or(NO_SUCH_ENTRY)?;
        let m = &self.mappings[i];
        Ok(vec![
            ("NewInternalPort", m.internal_port.to_string()),
            ("NewInternalClient", m.internal_client.clone()),
            ("NewEnabled", if m.enabled { "1" } else { "0" }.to_string()),
            ("NewPortMappingDescription", m.description.clone()),
            ("NewLeaseDuration", remaining(m).to_string()),
        ])
    }

    fn generic(&mut self, args: &Args) -> Result<Outputs, UpnpError> {
        let index = args.get("NewPortMappingIndex").ok_or(INVALID_ARGS)?;
        let index: usize = index.trim().parse().map_err(|_| INVALID_ARGS)?;
        let m = self.mappings.get(index).ok_or(INDEX_INVALID)?;
        Ok(vec![
            ("NewRemoteHost", m.remote_host.clone()),
            ("NewExternalPort", m.external_port.to_string()),
            ("NewProtocol", m.protocol.clone()),
            ("NewInternalPort", m.internal_port.to_string()),
            ("NewInternalClient", m.internal_client.clone()),
            ("NewEnabled", if m.enabled { "1" } else { "0" }.to_string()),
            ("NewPortMappingDescription", m.description.clone()),
            ("NewLeaseDuration", remaining(m).to_string()),
        ])
    }
}

/// A WANIPv6FirewallControl:1 action on a firewall that lets no pinhole be made, as
/// miniupnpd answers it (see [`Ipv6Firewall`]): its status, or its `CheckStatus` fault
/// before any argument is read.
fn firewall_action(firewall: Ipv6Firewall, action: &str) -> Result<Outputs, UpnpError> {
    let off = firewall == Ipv6Firewall::Off;
    let check_status = if off { FIREWALL_DISABLED } else { INBOUND_PINHOLE_NOT_ALLOWED };
    let flag = |on: bool| if on { "1" } else { "0" }.to_string();
    match action {
        "GetFirewallStatus" => Ok(vec![("FirewallEnabled", flag(!off)), ("InboundPinholeAllowed", flag(off))]),
        "GetOutboundPinholeTimeout" if off => Err(FIREWALL_DISABLED),
        "GetOutboundPinholeTimeout" => Err(FIREWALL_ACTION_FAILED),
        "AddPinhole" | "UpdatePinhole" | "DeletePinhole" | "CheckPinholeWorking" | "GetPinholePackets" => {
            Err(check_status)
        }
        _ => Err(INVALID_ACTION),
    }
}

/// The UPnP name of an error code, for codes a profile may choose.
fn error_name(code: u32) -> &'static str {
    match code {
        402 => INVALID_ARGS.1,
        501 => ACTION_FAILED.1,
        718 => CONFLICT.1,
        725 => "OnlyPermanentLeasesSupported",
        _ => "UPnPError",
    }
}

struct Args<'a>(&'a [(String, String)]);

impl Args<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// `UDP` (any case) is UDP; anything else TCP, as in miniupnpd.
fn protocol(text: &str) -> &'static str {
    if text.trim().eq_ignore_ascii_case("UDP") { "UDP" } else { "TCP" }
}

/// A port like C's `atoi` then a cast: garbage is 0, out of range wraps to 0 here.
fn atoi_port(text: &str) -> u16 {
    text.trim().parse::<u16>().unwrap_or(0)
}

/// miniupnpd's lease rule: 0, negative, unparsable or over a week is a week.
fn lease(text: &str) -> u32 {
    match text.trim().parse::<i64>() {
        Ok(seconds) if seconds > 0 && seconds <= i64::from(MAX_LEASE) => seconds as u32,
        _ => MAX_LEASE,
    }
}

fn remaining(m: &SimMapping) -> u64 {
    let left = m.expires_at.saturating_duration_since(Instant::now());
    // Round up, so a fresh mapping reports exactly the lease granted.
    left.as_secs() + u64::from(left.subsec_nanos() > 0)
}

/// Whether two addresses are the same host (IPv4-mapped IPv6 counts as IPv4).
fn same_host(a: IpAddr, b: IpAddr) -> bool {
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    canonical(a) == canonical(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::IgdVersion;

    fn args(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn add(port: &str, client: &str, lease: &str) -> Vec<(String, String)> {
        args(&[
            ("NewRemoteHost", ""),
            ("NewExternalPort", port),
            ("NewProtocol", "TCP"),
            ("NewInternalPort", "40000"),
            ("NewInternalClient", client),
            ("NewEnabled", "1"),
            ("NewPortMappingDescription", "d"),
            ("NewLeaseDuration", lease),
        ])
    }

    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2));

    impl IgdState {
        fn call_test(&mut self, action: &str, args: &[(String, String)], peer: IpAddr) -> Result<Outputs, UpnpError> {
            self.call(action, args, peer, crate::CONTROL_PATH)
        }
    }

    #[test]
    fn profiles_refuse_leases_and_name_conflicts_their_way() {
        let mut spec = SoapSpec::new(IgdVersion::V1);
        spec.refuse_leases = Some(725);
        spec.conflict_code = 501;
        let mut igd = IgdState::new(0, spec);
        assert_eq!(
            igd.call_test("AddPortMapping", &add("40000", "10.77.0.2", "60"), PEER),
            Err((725, "OnlyPermanentLeasesSupported"))
        );
        assert_eq!(igd.call_test("AddPortMapping", &add("40000", "10.77.0.2", "0"), PEER), Ok(vec![]));
        assert_eq!(igd.call_test("AddPortMapping", &add("40000", "10.77.0.3", "0"), PEER), Err((501, "ActionFailed")));
    }

    #[test]
    fn each_connection_path_answers_its_own_state() {
        let mut spec = SoapSpec::new(IgdVersion::V1);
        spec.connections = vec![crate::ConnectionState::new("/a", "Disconnected", "")];
        let mut igd = IgdState::new(0, spec);
        let status = |igd: &mut IgdState, path| igd.call("GetStatusInfo", &[], PEER, path).unwrap()[0].1.clone();
        assert_eq!(status(&mut igd, "/a"), "Disconnected");
        assert_eq!(status(&mut igd, "/b"), "Connected");
        assert_eq!(igd.call("GetExternalIPAddress", &[], PEER, "/a").unwrap()[0].1, "");
    }

    #[test]
    fn leases_follow_miniupnpd() {
        for (asked, granted) in [("0", MAX_LEASE), ("-1", MAX_LEASE), ("604801", MAX_LEASE), ("4294967296", MAX_LEASE)]
        {
            assert_eq!(lease(asked), granted, "{asked}");
        }
        assert_eq!(lease("3600"), 3600);
    }

    #[test]
    fn add_checks_follow_the_fixtures() {
        let mut igd = IgdState::new(0, SoapSpec::new(IgdVersion::V2));
        assert_eq!(igd.call_test("AddPortMapping", &add("0", "10.77.0.2", "0"), PEER), Err(WILDCARD_EXTERNAL_PORT));
        assert_eq!(igd.call_test("AddPortMapping", &add("80", "10.77.0.2", "0"), PEER), Err(NOT_AUTHORIZED));
        assert_eq!(igd.call_test("AddPortMapping", &add("40000", "", "0"), PEER), Err(ACTION_FAILED));
        assert_eq!(igd.call_test("AddPortMapping", &args(&[("NewProtocol", "TCP")]), PEER), Err(INVALID_ARGS));
        assert_eq!(igd.call_test("AddPortMapping", &add("40000", "10.77.0.2", "0"), PEER), Ok(vec![]));
        assert_eq!(igd.call_test("AddPortMapping", &add("40000", "10.77.0.3", "0"), PEER), Err(CONFLICT));
        assert_eq!(igd.mappings()[0].lease_seconds, MAX_LEASE);
        // AddAny moves past another client's port and reuses the requester's own.
        let got = igd.call_test("AddAnyPortMapping", &add("40000", "10.77.0.3", "60"), PEER).unwrap();
        assert_eq!(got, vec![("NewReservedPort", "40001".to_string())]);
        let got = igd.call_test("AddAnyPortMapping", &add("80", "10.77.0.2", "60"), PEER).unwrap();
        assert_eq!(got, vec![("NewReservedPort", "1024".to_string())]);
        // Deleting another client's mapping is refused; a missing one is fine.
        assert_eq!(igd.call_test("DeletePortMapping", &add("40001", "", ""), PEER), Err(NOT_AUTHORIZED));
        assert_eq!(igd.call_test("DeletePortMapping", &add("49999", "", ""), PEER), Ok(vec![]));
        assert_eq!(igd.call_test("DeletePortMapping", &add("40000", "", ""), PEER), Ok(vec![]));
        assert_eq!(igd.mappings().len(), 2);
    }

    #[test]
    fn secure_mode_refuses_foreign_clients() {
        let mut spec = SoapSpec::new(IgdVersion::V2);
        spec.secure_mode = true;
        let mut igd = IgdState::new(0, spec);
        assert_eq!(igd.call_test("AddPortMapping", &add("40000", "10.77.0.3", "0"), PEER), Err(CONFLICT));
        assert_eq!(igd.call_test("AddAnyPortMapping", &add("40000", "10.77.0.3", "0"), PEER), Err(NOT_AUTHORIZED));
    }

    /// miniupnpd's `CheckStatus`: every pinhole action refused before its arguments are
    /// read; `GetFirewallStatus` says why.
    #[test]
    fn a_firewall_without_pinholes_answers_like_miniupnpd() {
        let mut igd = IgdState::new(0, SoapSpec::new(IgdVersion::V2));
        assert_eq!(igd.call_test("GetFirewallStatus", &[], PEER), Err(INVALID_ACTION), "not emulated by default");
        for (firewall, status, refusal, outbound) in [
            (Ipv6Firewall::Off, ("0", "1"), FIREWALL_DISABLED, FIREWALL_DISABLED),
            (Ipv6Firewall::NoInboundPinholes, ("1", "0"), INBOUND_PINHOLE_NOT_ALLOWED, FIREWALL_ACTION_FAILED),
        ] {
            let mut spec = SoapSpec::new(IgdVersion::V2);
            spec.ipv6_firewall = Some(firewall);
            let mut igd = IgdState::new(0, spec);
            let expected =
                vec![("FirewallEnabled", status.0.to_string()), ("InboundPinholeAllowed", status.1.to_string())];
            assert_eq!(igd.call_test("GetFirewallStatus", &[], PEER), Ok(expected), "{firewall:?}");
            for action in ["AddPinhole", "UpdatePinhole", "DeletePinhole", "CheckPinholeWorking", "GetPinholePackets"] {
                assert_eq!(
                    igd.call_test(action, &args(&[("UniqueID", "x")]), PEER),
                    Err(refusal),
                    "{firewall:?} {action}"
                );
            }
            assert_eq!(igd.call_test("GetOutboundPinholeTimeout", &[], PEER), Err(outbound), "{firewall:?}");
            assert_eq!(igd.call_test("GetExternalIPAddress", &[], PEER).unwrap()[0].1, "11.22.33.44");
            assert_eq!(igd.call_test("Nonesuch", &[], PEER), Err(INVALID_ACTION));
        }
    }

    #[test]
    fn limited_faults_run_out() {
        let mut spec = SoapSpec::new(IgdVersion::V2);
        spec.faults = vec![FaultRule::times("GetStatusInfo", SoapFault::EmptyBody, 2)];
        let mut igd = IgdState::new(0, spec);
        assert_eq!(igd.take_fault("GetExternalIPAddress"), None);
        assert_eq!(igd.take_fault("GetStatusInfo"), Some(SoapFault::EmptyBody));
        assert_eq!(igd.take_fault("GetStatusInfo"), Some(SoapFault::EmptyBody));
        assert_eq!(igd.take_fault("GetStatusInfo"), None);
    }
}
