//! The WANIPConnection / WANPPPConnection actions we use: their arguments, the engine's
//! argument checks (same order, codes and texts), and their outputs as types.

use super::result::{IgdStatus, UpnpResult};
use super::soap::{Outputs, output};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Transport protocol of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

impl Protocol {
    /// Parses exactly "UDP" or "TCP" (case-sensitive, like the engine).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "UDP" => Some(Protocol::Udp),
            "TCP" => Some(Protocol::Tcp),
            _ => None,
        }
    }

    /// "UDP" or "TCP".
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "UDP",
            Protocol::Tcp => "TCP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The router-visible description sent when the caller gives none. The engine sends
/// "libminiupnpc", the name of a library this addon does not use.
pub const DEFAULT_DESCRIPTION: &str = "Godot UPnP";

/// An argument rejected before anything is sent: the engine's code and its exact text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidArgument {
    /// The `UPNPResult` the engine returns.
    pub result: UpnpResult,
    /// The engine's error text.
    pub message: &'static str,
}

const NOT_VALID_GATEWAY: InvalidArgument =
    InvalidArgument { result: UpnpResult::InvalidGateway, message: "The Internet Gateway Device must be valid." };
const BAD_PORT: InvalidArgument = InvalidArgument {
    result: UpnpResult::InvalidPort,
    message: "The port number must be set between 1 and 65535 (inclusive).",
};
const BAD_INTERNAL_PORT: InvalidArgument = InvalidArgument {
    result: UpnpResult::InvalidPort,
    message: "The port number must be set between 0 and 65535 (inclusive).",
};
/// The engine's line for a protocol other than TCP or UDP (pinholes use it too).
pub(crate) const BAD_PROTOCOL: InvalidArgument =
    InvalidArgument { result: UpnpResult::InvalidProtocol, message: "The protocol must be either TCP or UDP." };
const BAD_DURATION: InvalidArgument = InvalidArgument {
    result: UpnpResult::InvalidDuration,
    message: "The port mapping's lease duration can't be negative.",
};
const BAD_TIMEOUT: InvalidArgument =
    InvalidArgument { result: UpnpResult::InvalidParam, message: "The response's wait time can't be negative." };
const BAD_TTL: InvalidArgument = InvalidArgument {
    result: UpnpResult::InvalidParam,
    message: "The time-to-live must be set between 0 and 255 (inclusive).",
};

/// The text the engine prints when it has no valid gateway to query.
pub const NOT_VALID_GATEWAY_MESSAGE: &str = NOT_VALID_GATEWAY.message;

/// Arguments of an add, checked and typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingArgs {
    /// External port, 1..=65535.
    pub external_port: u16,
    /// Internal port; 0 was replaced by the external port.
    pub internal_port: u16,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// Router-visible description (never empty).
    pub description: String,
    /// Lease in seconds; 0 asks for a permanent (IGDv1) or the longest (IGDv2) lease.
    pub lease_seconds: u32,
}

/// The engine's checks for `add_port_mapping`, in its order (reference §4.1).
pub fn check_add(
    valid_gateway: bool,
    port: i64,
    port_internal: i64,
    desc: &str,
    proto: &str,
    duration: i64,
) -> Result<MappingArgs, InvalidArgument> {
    if !valid_gateway {
        return Err(NOT_VALID_GATEWAY);
    }
    let external_port = check_port(port)?;
    if !(0..=65535).contains(&port_internal) {
        return Err(BAD_INTERNAL_PORT);
    }
    let protocol = Protocol::parse(proto).ok_or(BAD_PROTOCOL)?;
    if duration < 0 {
        return Err(BAD_DURATION);
    }
    Ok(MappingArgs {
        external_port,
        internal_port: if port_internal < 1 { external_port } else { port_internal as u16 },
        protocol,
        description: if desc.is_empty() { DEFAULT_DESCRIPTION.to_string() } else { desc.to_string() },
        // The engine enforces no upper bound; a UPnP lease is a 32-bit value.
        lease_seconds: u32::try_from(duration).unwrap_or(u32::MAX),
    })
}

/// The engine's checks for `delete_port_mapping` (port, then protocol; no gateway check).
pub fn check_delete(port: i64, proto: &str) -> Result<(u16, Protocol), InvalidArgument> {
    let port = check_port(port)?;
    let protocol = Protocol::parse(proto).ok_or(BAD_PROTOCOL)?;
    Ok((port, protocol))
}

/// The engine's checks for `discover` (timeout, then ttl).
pub fn check_discover(timeout_ms: i64, ttl: i64) -> Result<(u64, u8), InvalidArgument> {
    if timeout_ms < 0 {
        return Err(BAD_TIMEOUT);
    }
    let ttl = u8::try_from(ttl).map_err(|_| BAD_TTL)?;
    Ok((timeout_ms as u64, ttl))
}

fn check_port(port: i64) -> Result<u16, InvalidArgument> {
    match u16::try_from(port) {
        Ok(p) if p >= 1 => Ok(p),
        _ => Err(BAD_PORT),
    }
}

/// Arguments of `AddPortMapping` and `AddAnyPortMapping` (same list, reference §4.1).
pub fn add_args(args: &MappingArgs, internal_client: &str) -> Vec<(&'static str, String)> {
    vec![
        ("NewRemoteHost", String::new()),
        ("NewExternalPort", args.external_port.to_string()),
        ("NewProtocol", args.protocol.as_str().to_string()),
        ("NewInternalPort", args.internal_port.to_string()),
        ("NewInternalClient", internal_client.to_string()),
        ("NewEnabled", "1".to_string()),
        ("NewPortMappingDescription", args.description.clone()),
        ("NewLeaseDuration", args.lease_seconds.to_string()),
    ]
}

/// Arguments of `DeletePortMapping` and `GetSpecificPortMappingEntry`.
pub fn port_args(external_port: u16, protocol: Protocol) -> Vec<(&'static str, String)> {
    vec![
        ("NewRemoteHost", String::new()),
        ("NewExternalPort", external_port.to_string()),
        ("NewProtocol", protocol.as_str().to_string()),
    ]
}

/// Arguments of `GetGenericPortMappingEntry`.
pub fn index_args(index: u32) -> Vec<(&'static str, String)> {
    vec![("NewPortMappingIndex", index.to_string())]
}

/// A port mapping as the router lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMappingEntry {
    /// Remote host filter ("" = any).
    pub remote_host: String,
    /// External port.
    pub external_port: u16,
    /// "UDP" or "TCP" (as the router says it).
    pub protocol: String,
    /// Internal port.
    pub internal_port: u16,
    /// The LAN address the port goes to.
    pub internal_client: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Its description.
    pub description: String,
    /// Seconds left (0 = permanent).
    pub lease_seconds: u32,
}

/// Reads a `GetGenericPortMappingEntry` answer (or `GetSpecificPortMappingEntry`, whose
/// answer lacks the three key fields: pass them in `key`).
pub fn parse_mapping_entry(outputs: &Outputs, key: Option<(u16, Protocol)>) -> Result<PortMappingEntry, String> {
    let number = |name: &str| -> Result<u32, String> {
        let value = output(outputs, name).ok_or_else(|| format!("no {name}"))?;
        value.trim().parse::<u32>().map_err(|_| format!("{name} is not a number: {}", super::quoted(value)))
    };
    let port = |name: &str| -> Result<u16, String> {
        u16::try_from(number(name)?).map_err(|_| format!("{name} out of range"))
    };
    let text = |name: &str| output(outputs, name).unwrap_or("").to_string();
    let (external_port, protocol) = match key {
        Some((p, proto)) => (p, proto.as_str().to_string()),
        None => (port("NewExternalPort")?, text("NewProtocol")),
    };
    Ok(PortMappingEntry {
        remote_host: text("NewRemoteHost"),
        external_port,
        protocol,
        internal_port: port("NewInternalPort")?,
        internal_client: text("NewInternalClient"),
        enabled: matches!(output(outputs, "NewEnabled").map(str::trim), Some("1" | "true" | "yes")),
        description: text("NewPortMappingDescription"),
        lease_seconds: number("NewLeaseDuration").unwrap_or(0),
    })
}

/// `GetStatusInfo`'s connection status says the WAN link is up.
pub fn is_connected(connection_status: &str) -> bool {
    matches!(connection_status.trim(), "Connected" | "Up")
}

/// What checking one connection service found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionVerdict {
    /// It answers and its WAN link is up: ports can be mapped through it.
    Usable,
    /// It answers, but says its WAN link is down.
    Disconnected,
    /// It does not answer usefully (bad control URL, errors on every call).
    NoControl,
}

/// Judges a connection service from its `GetStatusInfo` status (`None` when the call
/// failed) and whether `GetExternalIPAddress` answered. A router without
/// `GetStatusInfo` that does report an address is taken as up.
pub fn judge_connection(connection_status: Option<&str>, external_address_answered: bool) -> ConnectionVerdict {
    match connection_status {
        Some(s) if is_connected(s) => ConnectionVerdict::Usable,
        Some(_) => ConnectionVerdict::Disconnected,
        None if external_address_answered => ConnectionVerdict::Usable,
        None => ConnectionVerdict::NoControl,
    }
}

/// A device's status from the verdicts on its connection services (best first). A
/// private or carrier-grade NAT external address does not change it: such a router
/// still maps ports (the engine calls it DISCONNECTED; Godot issue #87953).
pub fn device_status(verdicts: &[ConnectionVerdict]) -> IgdStatus {
    if verdicts.is_empty() {
        IgdStatus::NoIgd
    } else if verdicts.contains(&ConnectionVerdict::Usable) {
        IgdStatus::Ok
    } else if verdicts.contains(&ConnectionVerdict::Disconnected) {
        IgdStatus::Disconnected
    } else {
        IgdStatus::InvalidControl
    }
}

/// How the router's external address looks from the LAN, which tells whether mapped ports
/// reach the internet and, if not, which NAT is in the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalAddressKind {
    /// A public address: mappings are reachable from the internet.
    Public,
    /// Private (RFC 1918) or otherwise reserved: the router is behind another router
    /// (double NAT), so mappings only reach the outer router's network.
    Private,
    /// Shared address space (100.64.0.0/10, RFC 6598): the provider puts one public
    /// address in front of many customers (carrier-grade NAT).
    Shared,
    /// The router reports no address (empty, `0.0.0.0`, `::`, or not an address at all):
    /// never usable, whatever the mapping answers say.
    None,
}

impl ExternalAddressKind {
    /// The lower-case name the CLI prints and its JSON carries.
    pub fn name(self) -> &'static str {
        match self {
            ExternalAddressKind::Public => "public",
            ExternalAddressKind::Private => "private",
            ExternalAddressKind::Shared => "shared",
            ExternalAddressKind::None => "none",
        }
    }

    /// What to do so that players outside reach mapped ports ("" for a public address);
    /// the player texts and the device note share it so they advise alike.
    pub fn advice(self) -> &'static str {
        match self {
            ExternalAddressKind::Public => "",
            ExternalAddressKind::Private => "enable UPnP on the outer router or put one of them in bridge mode",
            ExternalAddressKind::Shared => "ask your provider for a public address or use a relay",
            ExternalAddressKind::None => {
                "check the router's internet connection, or forward the port on the router in front of it"
            }
        }
    }
}

/// `GetExternalIPAddress`'s value as we report it: trimmed, and "" (the router does not
/// know) for the unspecified address, which some routers send instead of nothing
/// (tailscale/corp#23538): `0.0.0.0` is no address anyone can reach.
pub fn external_address_value(value: &str) -> String {
    let value = value.trim();
    match value.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() => String::new(),
        _ => value.to_string(),
    }
}

/// Classifies an external address the way miniupnpc's `addr_is_reserved` does, except
/// that 100.64.0.0/10 is told apart as shared (carrier-grade NAT) and the unspecified
/// address (`0.0.0.0`, `::`) is no address at all.
pub fn classify_external_address(address: &str) -> ExternalAddressKind {
    match address.trim().parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() => ExternalAddressKind::None,
        Ok(IpAddr::V4(v4)) if in_v4_net(v4, SHARED_V4) => ExternalAddressKind::Shared,
        Ok(IpAddr::V4(v4)) if is_reserved_v4(v4) => ExternalAddressKind::Private,
        Ok(IpAddr::V4(_)) => ExternalAddressKind::Public,
        Ok(IpAddr::V6(v6)) if v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00 => ExternalAddressKind::Private,
        Ok(IpAddr::V6(_)) => ExternalAddressKind::Public,
        Err(_) => ExternalAddressKind::None,
    }
}

/// RFC 6598's shared address space, as (network, prefix length).
const SHARED_V4: (u32, u8) = (0x6440_0000, 10);

fn in_v4_net(ip: Ipv4Addr, (net, bits): (u32, u8)) -> bool {
    u32::from(ip) >> (32 - bits) == net >> (32 - bits)
}

/// miniupnpc's reserved IPv4 list (reference §2.4).
fn is_reserved_v4(ip: Ipv4Addr) -> bool {
    const RESERVED: [(u32, u8); 18] = [
        (0x0000_0000, 8),
        (0x0a00_0000, 8),
        SHARED_V4,
        (0x7f00_0000, 8),
        (0xa9fe_0000, 16),
        (0xac10_0000, 12),
        (0xc000_0000, 24),
        (0xc000_0200, 24),
        (0xc01f_c400, 24),
        (0xc034_c100, 24),
        (0xc058_6300, 24),
        (0xc0a8_0000, 16),
        (0xc0af_3000, 24),
        (0xc612_0000, 15),
        (0xc633_6400, 24),
        (0xcb00_7100, 24),
        (0xe000_0000, 4),
        (0xf000_0000, 4),
    ];
    RESERVED.iter().any(|&net| in_v4_net(ip, net))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_checks_run_in_the_engine_order() {
        let r = |v, p, pi, proto, d| check_add(v, p, pi, "", proto, d).map_err(|e| e.result);
        // The gateway check comes before everything else.
        assert_eq!(r(false, 0, -1, "x", -1), Err(UpnpResult::InvalidGateway));
        assert_eq!(r(true, 0, -1, "x", -1), Err(UpnpResult::InvalidPort));
        assert_eq!(r(true, 65536, 0, "UDP", 0), Err(UpnpResult::InvalidPort));
        assert_eq!(r(true, 1, -1, "x", -1), Err(UpnpResult::InvalidPort));
        assert_eq!(r(true, 1, 65536, "UDP", 0), Err(UpnpResult::InvalidPort));
        assert_eq!(r(true, 1, 0, "udp", -1), Err(UpnpResult::InvalidProtocol));
        assert_eq!(r(true, 1, 0, "UDP", -1), Err(UpnpResult::InvalidDuration));
        let ok = check_add(true, 7777, 0, "", "TCP", 0).unwrap();
        assert_eq!(
            (ok.internal_port, ok.protocol, ok.description.as_str()),
            (7777, Protocol::Tcp, DEFAULT_DESCRIPTION)
        );
        assert_eq!(check_add(true, 1, 2, "d", "UDP", 1 << 40).unwrap().lease_seconds, u32::MAX);
        assert_eq!(
            check_add(true, 1, -1, "", "UDP", 0).unwrap_err().message,
            "The port number must be set between 0 and 65535 (inclusive)."
        );
    }

    #[test]
    fn delete_and_discover_checks() {
        assert_eq!(check_delete(0, "x").unwrap_err().result, UpnpResult::InvalidPort);
        assert_eq!(check_delete(80, "Udp").unwrap_err().result, UpnpResult::InvalidProtocol);
        assert_eq!(check_delete(80, "UDP"), Ok((80, Protocol::Udp)));
        assert_eq!(check_discover(-1, 999).unwrap_err().message, "The response's wait time can't be negative.");
        assert_eq!(check_discover(0, 256).unwrap_err().result, UpnpResult::InvalidParam);
        assert_eq!(check_discover(0, -1).unwrap_err().result, UpnpResult::InvalidParam);
        assert_eq!(check_discover(2000, 2), Ok((2000, 2)));
    }

    #[test]
    fn external_addresses_are_classified() {
        use ExternalAddressKind::{None as NoAddress, Private, Public, Shared};
        for (addr, kind) in [
            ("11.22.33.44", Public),
            ("10.78.0.2", Private),
            ("10.0.0.2", Private),
            ("100.63.255.255", Public),
            ("100.64.0.0", Shared),
            ("100.64.1.2", Shared),
            ("100.127.255.255", Shared),
            ("100.128.0.1", Public),
            ("192.168.1.1", Private),
            ("172.31.255.255", Private),
            ("172.32.0.1", Public),
            ("169.254.1.1", Private),
            ("198.19.0.1", Private),
            ("203.0.113.5", Private),
            ("", NoAddress),
            ("   ", NoAddress),
            ("(null)", NoAddress),
            ("0.0.0.0", NoAddress),
            (" 0.0.0.0 ", NoAddress),
            ("::", NoAddress),
            ("0.1.2.3", Private),
            ("2001:db8::1", Public),
            ("fd00::1", Private),
            ("::1", Private),
        ] {
            assert_eq!(classify_external_address(addr), kind, "{addr}");
        }
    }

    #[test]
    fn only_a_public_address_needs_no_advice() {
        use ExternalAddressKind::*;
        assert_eq!(Public.advice(), "");
        for kind in [Private, Shared, None] {
            assert!(!kind.advice().is_empty(), "{kind:?}");
        }
        assert_eq!(
            [Public, Private, Shared, None].map(ExternalAddressKind::name),
            ["public", "private", "shared", "none"]
        );
    }

    #[test]
    fn the_unspecified_address_is_no_address() {
        assert_eq!(external_address_value("0.0.0.0"), "");
        assert_eq!(external_address_value(" :: "), "");
        assert_eq!(external_address_value(" 11.22.33.44 "), "11.22.33.44");
        assert_eq!(external_address_value("(null)"), "(null)");
    }

    #[test]
    fn mapping_entries_parse() {
        let outputs: Outputs = [
            ("NewRemoteHost", ""),
            ("NewExternalPort", "40001"),
            ("NewProtocol", "UDP"),
            ("NewInternalPort", "40001"),
            ("NewInternalClient", "10.77.0.2"),
            ("NewEnabled", "1"),
            ("NewPortMappingDescription", "fixture-udp"),
            ("NewLeaseDuration", "3600"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let e = parse_mapping_entry(&outputs, None).unwrap();
        assert_eq!((e.external_port, e.internal_client.as_str(), e.lease_seconds), (40001, "10.77.0.2", 3600));
        assert!(e.enabled);
        let mut bad = outputs.clone();
        bad[1].1 = "99999".into();
        assert!(parse_mapping_entry(&bad, None).is_err());
        assert_eq!(parse_mapping_entry(&bad, Some((5, Protocol::Tcp))).unwrap().external_port, 5);
    }

    #[test]
    fn devices_are_judged_on_their_own() {
        use ConnectionVerdict::*;
        assert_eq!(judge_connection(Some("Connected"), true), Usable);
        assert_eq!(judge_connection(Some("Up"), false), Usable);
        assert_eq!(judge_connection(Some("Disconnected"), true), Disconnected);
        assert_eq!(judge_connection(None, true), Usable);
        assert_eq!(judge_connection(None, false), NoControl);
        assert_eq!(device_status(&[]), IgdStatus::NoIgd);
        assert_eq!(device_status(&[NoControl, Usable]), IgdStatus::Ok);
        assert_eq!(device_status(&[Disconnected, NoControl]), IgdStatus::Disconnected);
        assert_eq!(device_status(&[NoControl]), IgdStatus::InvalidControl);
    }
}
