//! IPv6 pinholes: the WANIPv6FirewallControl:1 actions (UPnP IGD 2.0). On IPv6 there is
//! no NAT to map, but the router's firewall still drops unsolicited traffic; a pinhole
//! lets it through to one of our addresses and ports. Here: the argument checks (done
//! before anything is sent, each with its `UPNPResult` and one sentence), the request
//! arguments, the reading of the answers and what the service's 7xx fault codes mean.

use super::igd::{BAD_PROTOCOL, InvalidArgument, Protocol};
use super::result::UpnpResult;
use super::soap::{Outputs, output};
use std::net::Ipv6Addr;

/// The service type prefix (any version) in a device description.
pub const SERVICE_TYPE_PREFIX: &str = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:";

/// The actions of the service, as the router names them.
pub const ACTIONS: [&str; 7] = [
    "GetFirewallStatus",
    "GetOutboundPinholeTimeout",
    "AddPinhole",
    "UpdatePinhole",
    "DeletePinhole",
    "GetPinholePackets",
    "CheckPinholeWorking",
];

/// Shortest lease a pinhole may ask for, in seconds (the service's `LeaseTime` range).
pub const MIN_LEASE_SECONDS: u32 = 1;
/// Longest lease a pinhole may ask for, in seconds (one day; there is no permanent one).
pub const MAX_LEASE_SECONDS: u32 = 86_400;

const BAD_REMOTE_HOST: InvalidArgument = InvalidArgument {
    result: UpnpResult::InvalidArgs,
    message: "The remote host must be an IPv6 address, or empty (or \"*\") for any host.",
};
const BAD_INTERNAL_CLIENT: InvalidArgument = InvalidArgument {
    result: UpnpResult::InvalidArgs,
    message: "The internal client must be one IPv6 address of this host (not ::, not multicast).",
};
const BAD_REMOTE_PORT: InvalidArgument = InvalidArgument {
    result: UpnpResult::InvalidPort,
    message: "The remote port must be set between 0 (any port) and 65535 (inclusive).",
};
const BAD_INTERNAL_PORT: InvalidArgument = InvalidArgument {
    result: UpnpResult::InvalidPort,
    message: "The internal port must be set between 1 and 65535 (inclusive).",
};
const BAD_LEASE: InvalidArgument = InvalidArgument {
    result: UpnpResult::InvalidDuration,
    message: "The pinhole's lease must be set between 1 and 86400 seconds (inclusive).",
};
const BAD_ID: InvalidArgument = InvalidArgument {
    result: UpnpResult::InvalidArgs,
    message: "The pinhole id must be a number between 0 and 65535 (the id AddPinhole returned).",
};

/// What a pinhole lets through: from a remote host and port (`None` and 0: any) to one
/// of our addresses and ports, for one protocol.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pinhole {
    /// The only host allowed in (`None`: any).
    pub remote_host: Option<Ipv6Addr>,
    /// The only source port allowed in (0: any).
    pub remote_port: u16,
    /// Our address the traffic goes to.
    pub internal_client: Ipv6Addr,
    /// Our port the traffic goes to, 1..=65535.
    pub internal_port: u16,
    /// UDP or TCP.
    pub protocol: Protocol,
}

/// Checks a pinhole's fields, in argument order: remote host ("" or "*": any), remote
/// port (0: any), internal client, internal port, protocol ("UDP" or "TCP", as for port
/// mappings). Addresses give `INVALID_ARGS`, ports `INVALID_PORT`, the protocol
/// `INVALID_PROTOCOL`.
pub fn check_pinhole(
    remote_host: &str,
    remote_port: i64,
    internal_client: &str,
    internal_port: i64,
    proto: &str,
) -> Result<Pinhole, InvalidArgument> {
    let remote_host = match remote_host.trim() {
        "" | "*" => None,
        host => Some(host.parse::<Ipv6Addr>().map_err(|_| BAD_REMOTE_HOST)?),
    };
    let remote_port = u16::try_from(remote_port).map_err(|_| BAD_REMOTE_PORT)?;
    let internal_client = internal_client
        .trim()
        .parse::<Ipv6Addr>()
        .ok()
        .filter(|a| !a.is_unspecified() && !a.is_multicast())
        .ok_or(BAD_INTERNAL_CLIENT)?;
    let internal_port = u16::try_from(internal_port).ok().filter(|p| *p >= 1).ok_or(BAD_INTERNAL_PORT)?;
    let protocol = Protocol::parse(proto).ok_or(BAD_PROTOCOL)?;
    Ok(Pinhole { remote_host, remote_port, internal_client, internal_port, protocol })
}

/// Checks a lease: 1..=86400 seconds, else `INVALID_DURATION` (a pinhole has no
/// permanent lease; it is renewed with `UpdatePinhole`).
pub fn check_lease(lease_seconds: i64) -> Result<u32, InvalidArgument> {
    u32::try_from(lease_seconds).ok().filter(|l| (MIN_LEASE_SECONDS..=MAX_LEASE_SECONDS).contains(l)).ok_or(BAD_LEASE)
}

/// Checks a pinhole id (the service's 16-bit `UniqueID`), else `INVALID_ARGS`.
pub fn check_id(id: i64) -> Result<u16, InvalidArgument> {
    u16::try_from(id).map_err(|_| BAD_ID)
}

/// A pinhole id as typed (decimal digits), else `INVALID_ARGS`.
pub fn parse_id(text: &str) -> Result<u16, InvalidArgument> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BAD_ID);
    }
    text.parse::<u16>().map_err(|_| BAD_ID)
}

/// The IANA protocol number the service names a protocol by.
pub fn protocol_number(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Udp => 17,
        Protocol::Tcp => 6,
    }
}

/// Arguments of `GetOutboundPinholeTimeout` (the pinhole without its lease).
pub fn pinhole_args(pinhole: &Pinhole) -> Vec<(&'static str, String)> {
    vec![
        ("RemoteHost", pinhole.remote_host.map(|h| h.to_string()).unwrap_or_default()),
        ("RemotePort", pinhole.remote_port.to_string()),
        ("InternalClient", pinhole.internal_client.to_string()),
        ("InternalPort", pinhole.internal_port.to_string()),
        ("Protocol", protocol_number(pinhole.protocol).to_string()),
    ]
}

/// Arguments of `AddPinhole`.
pub fn add_args(pinhole: &Pinhole, lease_seconds: u32) -> Vec<(&'static str, String)> {
    let mut args = pinhole_args(pinhole);
    args.push(("LeaseTime", lease_seconds.to_string()));
    args
}

/// Arguments of `UpdatePinhole`.
pub fn update_args(id: u16, lease_seconds: u32) -> Vec<(&'static str, String)> {
    vec![("UniqueID", id.to_string()), ("NewLeaseTime", lease_seconds.to_string())]
}

/// Arguments of `DeletePinhole`, `GetPinholePackets` and `CheckPinholeWorking`.
pub fn id_args(id: u16) -> Vec<(&'static str, String)> {
    vec![("UniqueID", id.to_string())]
}

/// `GetFirewallStatus`'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirewallStatus {
    /// `FirewallEnabled`: the router filters inbound IPv6 (off: everything already
    /// reaches us and no pinhole is needed).
    pub enabled: bool,
    /// `InboundPinholeAllowed`: pinholes may be opened.
    pub inbound_pinhole_allowed: bool,
}

impl FirewallStatus {
    /// One phrase for people: what this status means for a player outside.
    pub fn text(self) -> &'static str {
        match (self.enabled, self.inbound_pinhole_allowed) {
            (false, _) => "firewall off (inbound IPv6 reaches this host without a pinhole)",
            (true, true) => "firewall on, pinholes allowed",
            (true, false) => "firewall on, pinholes not allowed (inbound IPv6 is dropped)",
        }
    }
}

/// Reads `GetFirewallStatus`'s outputs.
pub fn parse_firewall_status(outputs: &Outputs) -> Result<FirewallStatus, String> {
    Ok(FirewallStatus {
        enabled: boolean(outputs, "FirewallEnabled")?,
        inbound_pinhole_allowed: boolean(outputs, "InboundPinholeAllowed")?,
    })
}

/// Reads `AddPinhole`'s `UniqueID`.
pub fn parse_added_id(outputs: &Outputs) -> Result<u16, String> {
    number(outputs, "UniqueID").and_then(|n| u16::try_from(n).map_err(|_| format!("UniqueID out of range: {n}")))
}

/// Reads `GetOutboundPinholeTimeout`'s `OutboundPinholeTimeout` (seconds).
pub fn parse_outbound_timeout(outputs: &Outputs) -> Result<u32, String> {
    number(outputs, "OutboundPinholeTimeout")
}

/// Reads `GetPinholePackets`'s `PinholePackets`.
pub fn parse_packets(outputs: &Outputs) -> Result<u32, String> {
    number(outputs, "PinholePackets")
}

/// Reads `CheckPinholeWorking`'s `IsWorking`.
pub fn parse_is_working(outputs: &Outputs) -> Result<bool, String> {
    boolean(outputs, "IsWorking")
}

fn value<'a>(outputs: &'a Outputs, name: &str) -> Result<&'a str, String> {
    output(outputs, name).map(str::trim).ok_or_else(|| format!("no {name}"))
}

fn number(outputs: &Outputs, name: &str) -> Result<u32, String> {
    let text = value(outputs, name)?;
    text.parse::<u32>().map_err(|_| format!("{name} is not a number: {}", super::quoted(text)))
}

/// A UPnP boolean: "1"/"0", "true"/"false", "yes"/"no" (UDA 2.0 §2.5, any case).
fn boolean(outputs: &Outputs, name: &str) -> Result<bool, String> {
    let text = value(outputs, name)?;
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(format!("{name} is not a boolean: {}", super::quoted(text))),
    }
}

/// The service's fault code for "no packet went through yet" (`CheckPinholeWorking`
/// cannot tell): not a failure, an unknown answer.
pub const NO_PACKET_SENT: u32 = 709;

/// The `UPNPResult` of a fault from one of this service's actions. Its own codes
/// (701-709) have no engine value of their own and are given the nearest; the rest are
/// the engine's mapping ([`UpnpResult::from_upnp_error`]).
pub fn result_of_fault(code: u32) -> UpnpResult {
    match code {
        701 => UpnpResult::NoPortMapsAvailable,
        702 | 703 | 709 => UpnpResult::ActionFailed,
        704 => UpnpResult::NoSuchEntryInArray,
        705 | 707 => UpnpResult::InvalidProtocol,
        706 => UpnpResult::IntPortWildcardNotPermitted,
        708 => UpnpResult::SrcIpWildcardNotPermitted,
        _ => UpnpResult::from_upnp_error(code),
    }
}

/// Whether `action` is one of this service's.
pub fn is_firewall_action(action: &str) -> bool {
    ACTIONS.contains(&action)
}

/// Whether an IPv6 address of ours is one a player elsewhere could reach: global
/// unicast, or unique-local (`fc00::/7`, reachable within the site, as on the test bed).
/// Link-local, site-local (deprecated), loopback, unspecified, multicast, IPv4-mapped
/// and documentation addresses are not.
pub fn is_reachable_address(address: Ipv6Addr) -> bool {
    let first = address.segments()[0];
    let documentation = first == 0x2001 && address.segments()[1] == 0x0db8;
    !(address.is_unspecified()
        || address.is_loopback()
        || address.is_multicast()
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || address.to_ipv4_mapped().is_some()
        || documentation)
}

/// The reachable ones of `addresses` (see [`is_reachable_address`]), global first,
/// without duplicates, each list's order kept.
pub fn reachable_addresses(addresses: impl IntoIterator<Item = Ipv6Addr>) -> Vec<Ipv6Addr> {
    let mut found: Vec<Ipv6Addr> = Vec::new();
    for a in addresses {
        if is_reachable_address(a) && !found.contains(&a) {
            found.push(a);
        }
    }
    // Stable: unique-local after global.
    found.sort_by_key(|a| is_unique_local(*a));
    found
}

/// `fc00::/7`.
pub fn is_unique_local(address: Ipv6Addr) -> bool {
    (address.segments()[0] & 0xfe00) == 0xfc00
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(pairs: &[(&str, &str)]) -> Outputs {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn pinhole_checks_in_argument_order() {
        let r = |rh, rp, ic, ip, proto| check_pinhole(rh, rp, ic, ip, proto).map_err(|e| e.result);
        assert_eq!(r("10.0.0.1", -1, "x", 0, "x"), Err(UpnpResult::InvalidArgs));
        assert_eq!(r("", -1, "x", 0, "x"), Err(UpnpResult::InvalidPort));
        assert_eq!(r("", 65536, "fd77::2", 1, "UDP"), Err(UpnpResult::InvalidPort));
        assert_eq!(r("*", 0, "x", 0, "x"), Err(UpnpResult::InvalidArgs));
        for bad_client in ["10.77.0.2", "::", "ff02::1", "fd77::2%1", "fd77::2/64", ""] {
            assert_eq!(r("", 0, bad_client, 7777, "UDP"), Err(UpnpResult::InvalidArgs), "{bad_client:?}");
        }
        assert_eq!(r("", 0, "fd77::2", 0, "x"), Err(UpnpResult::InvalidPort));
        assert_eq!(r("", 0, "fd77::2", 65536, "UDP"), Err(UpnpResult::InvalidPort));
        assert_eq!(r("", 0, "fd77::2", 7777, "udp"), Err(UpnpResult::InvalidProtocol));
        let any = check_pinhole(" * ", 0, " fd77::2 ", 7777, "UDP").unwrap();
        assert_eq!(
            any,
            Pinhole {
                remote_host: None,
                remote_port: 0,
                internal_client: "fd77::2".parse().unwrap(),
                internal_port: 7777,
                protocol: Protocol::Udp,
            }
        );
        let one = check_pinhole("fd78::1", 5000, "2001:db8::2", 65535, "TCP").unwrap();
        assert_eq!((one.remote_host, one.remote_port), (Some("fd78::1".parse().unwrap()), 5000));
        assert_eq!(check_pinhole("", 0, "x", 1, "UDP").unwrap_err().message, BAD_INTERNAL_CLIENT.message);
    }

    #[test]
    fn leases_run_from_one_second_to_one_day() {
        for bad in [-1, 0, 86_401, i64::from(u32::MAX) + 1] {
            assert_eq!(check_lease(bad).map_err(|e| e.result), Err(UpnpResult::InvalidDuration), "{bad}");
        }
        assert_eq!(check_lease(1), Ok(1));
        assert_eq!(check_lease(86_400), Ok(86_400));
        assert_eq!(check_lease(0).unwrap_err().message, BAD_LEASE.message);
    }

    #[test]
    fn ids_are_16_bit_numbers() {
        assert_eq!(check_id(0), Ok(0));
        assert_eq!(check_id(65_535), Ok(65_535));
        for bad in [-1, 65_536] {
            assert_eq!(check_id(bad).map_err(|e| e.result), Err(UpnpResult::InvalidArgs));
        }
        assert_eq!(parse_id(" 42 "), Ok(42));
        for bad in ["", "abc", "-1", "+1", "1.0", "65536", "0x10", "１"] {
            assert_eq!(parse_id(bad).map_err(|e| e.result), Err(UpnpResult::InvalidArgs), "{bad:?}");
        }
    }

    #[test]
    fn request_arguments_in_the_services_order() {
        let pinhole = check_pinhole("fd78::1", 0, "fd77::2", 7777, "TCP").unwrap();
        assert_eq!(
            add_args(&pinhole, 3600),
            vec![
                ("RemoteHost", "fd78::1".to_string()),
                ("RemotePort", "0".into()),
                ("InternalClient", "fd77::2".into()),
                ("InternalPort", "7777".into()),
                ("Protocol", "6".into()),
                ("LeaseTime", "3600".into()),
            ]
        );
        let any = check_pinhole("", 0, "fd77::2", 7777, "UDP").unwrap();
        assert_eq!(pinhole_args(&any)[0], ("RemoteHost", String::new()));
        assert_eq!(pinhole_args(&any)[4], ("Protocol", "17".to_string()));
        assert_eq!(pinhole_args(&any).len(), 5);
        assert_eq!(update_args(3, 60), vec![("UniqueID", "3".to_string()), ("NewLeaseTime", "60".into())]);
        assert_eq!(id_args(65_535), vec![("UniqueID", "65535".to_string())]);
    }

    #[test]
    fn answers_are_read_strictly() {
        let status = parse_firewall_status(&outputs(&[("FirewallEnabled", "1"), ("InboundPinholeAllowed", " 0 ")]));
        assert_eq!(status, Ok(FirewallStatus { enabled: true, inbound_pinhole_allowed: false }));
        let words = parse_firewall_status(&outputs(&[("FirewallEnabled", "False"), ("InboundPinholeAllowed", "YES")]));
        assert_eq!(words, Ok(FirewallStatus { enabled: false, inbound_pinhole_allowed: true }));
        assert_eq!(
            parse_firewall_status(&outputs(&[("FirewallEnabled", "1")])),
            Err("no InboundPinholeAllowed".into())
        );
        assert!(
            parse_firewall_status(&outputs(&[("FirewallEnabled", "2"), ("InboundPinholeAllowed", "1")]))
                .unwrap_err()
                .contains("not a boolean")
        );
        assert_eq!(parse_added_id(&outputs(&[("UniqueID", "7")])), Ok(7));
        assert!(parse_added_id(&outputs(&[("UniqueID", "70000")])).unwrap_err().contains("out of range"));
        assert!(parse_added_id(&outputs(&[("UniqueID", "-1")])).unwrap_err().contains("not a number"));
        assert_eq!(parse_added_id(&outputs(&[])), Err("no UniqueID".into()));
        assert_eq!(parse_outbound_timeout(&outputs(&[("OutboundPinholeTimeout", "300")])), Ok(300));
        assert_eq!(parse_packets(&outputs(&[("PinholePackets", "12")])), Ok(12));
        assert_eq!(parse_is_working(&outputs(&[("IsWorking", "1")])), Ok(true));
        assert!(parse_is_working(&outputs(&[("IsWorking", "maybe")])).is_err());
    }

    #[test]
    fn the_services_faults_get_the_nearest_result() {
        let table = [
            (701, UpnpResult::NoPortMapsAvailable),
            (702, UpnpResult::ActionFailed),
            (703, UpnpResult::ActionFailed),
            (704, UpnpResult::NoSuchEntryInArray),
            (705, UpnpResult::InvalidProtocol),
            (706, UpnpResult::IntPortWildcardNotPermitted),
            (707, UpnpResult::InvalidProtocol),
            (708, UpnpResult::SrcIpWildcardNotPermitted),
            (709, UpnpResult::ActionFailed),
            (402, UpnpResult::InvalidArgs),
            (606, UpnpResult::NotAuthorized),
            (501, UpnpResult::ActionFailed),
            (700, UpnpResult::UnknownError),
        ];
        for (code, result) in table {
            assert_eq!(result_of_fault(code), result, "{code}");
        }
        assert!(ACTIONS.iter().all(|a| is_firewall_action(a)));
        assert!(!is_firewall_action("AddPortMapping"));
    }

    #[test]
    fn reachable_addresses_are_global_then_unique_local() {
        let parse = |s: &[&str]| s.iter().map(|a| a.parse::<Ipv6Addr>().unwrap()).collect::<Vec<_>>();
        let all = parse(&[
            "fe80::1",
            "fd77::2",
            "::1",
            "::",
            "ff02::c",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "2a01:4f8::2",
            "fd77::2",
            "febf::1",
            "fec0::1",
        ]);
        assert_eq!(reachable_addresses(all), parse(&["2a01:4f8::2", "fd77::2"]));
        assert!(is_unique_local("fc00::1".parse().unwrap()));
        assert!(!is_unique_local("fe00::1".parse().unwrap()));
    }

    #[test]
    fn the_status_says_what_it_means() {
        let s = |enabled, inbound_pinhole_allowed| FirewallStatus { enabled, inbound_pinhole_allowed }.text();
        assert!(s(false, false).contains("without a pinhole"));
        assert_eq!(s(true, true), "firewall on, pinholes allowed");
        assert!(s(true, false).contains("dropped"));
    }
}
