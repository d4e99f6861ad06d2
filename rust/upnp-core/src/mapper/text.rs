//! The lines a game shows its players: what is open and where, why a port could not be
//! opened and what to do about it. Only wording lives here; the policy decides which.

use crate::error::Error;
use crate::protocol::igd::{ExternalAddressKind, Protocol, classify_external_address};
use crate::protocol::result::UpnpResult;
use std::net::{IpAddr, Ipv6Addr};

/// Shown while the gateway is searched for.
pub const LOOKING: &str = "Looking for the router...";
/// Shown when stopped with the mappings removed.
pub const STOPPED_REMOVED: &str = "Stopped; the port mappings were removed.";
/// Shown when stopped with the mappings left to their leases.
pub const STOPPED_KEPT: &str = "Stopped; the port mappings stay until their lease ends.";

/// No gateway answered, with or without NAT-PMP/PCP allowed.
pub fn no_router(allow_nat_pmp: bool) -> &'static str {
    if allow_nat_pmp {
        "No router answered UPnP, NAT-PMP or PCP; the router may have them switched off. Switch UPnP on in \
         the router's settings, or forward the port by hand."
    } else {
        "No UPnP router answered; it may have UPnP switched off. Switch it on in the router's settings, or \
         forward the port by hand."
    }
}

/// The router was found before but no longer answers.
pub const ROUTER_GONE: &str = "The router stopped answering; looking for it again.";

/// One line for an open port; when the router's own address is not public, or a STUN
/// server sees another address (`outside`), the port is open on the router only, and the
/// line says which NAT is in the way.
pub fn mapped(ports: &str, external_address: &str, methods: &str, outside: Option<IpAddr>) -> String {
    let address = external_address.trim();
    let but = |why: String| format!("{ports} open on the router ({methods}), but {}", lower_first(&why));
    match (classify_external_address(address), outside) {
        (ExternalAddressKind::Public, None) => format!("{ports} open on {address} ({methods})"),
        (ExternalAddressKind::Public, Some(seen)) if seen.to_string() == address => {
            format!("{ports} open on {address} ({methods}; a STUN server sees the same address)")
        }
        (ExternalAddressKind::Public, Some(seen)) => but(hidden_nat(address, seen)),
        (_, None) => but(private_address(address)),
        (_, Some(seen)) => but(format!("{} A STUN server sees this computer as {seen}.", private_address(address))),
    }
}

/// The router has a public-looking address but the internet sees another one: a NAT the
/// router's address hides (a provider's, or a router in front that reports nothing).
pub fn hidden_nat(router_address: &str, seen: IpAddr) -> String {
    format!(
        "A STUN server sees this computer as {seen}, not as the router's address {router_address}: another NAT is \
         between the router and the internet, so players outside cannot reach this port; ask your provider for a \
         public address, or forward the port on the router in front of yours."
    )
}

/// Some protocols open (`open`: the [`mapped`] line for them), `pending` still being opened.
pub fn opening_more(open: &str, pending: &str) -> String {
    let stop = if open.ends_with('.') { "" } else { "." };
    format!("{open}{stop} Opening {pending}...")
}

/// A mapping is being made again after it was lost.
pub fn remapping(protocol: Protocol, port: u16, reason: &str) -> String {
    format!("{} {port} was lost ({reason}); opening it again...", protocol.as_str())
}

/// Why players outside cannot reach a port on this router, and what to do: one sentence
/// for each kind of address that is not public ("" for a public one).
pub fn private_address(external_address: &str) -> String {
    let kind = classify_external_address(external_address);
    let address = external_address.trim();
    let why = match kind {
        ExternalAddressKind::Public => return String::new(),
        ExternalAddressKind::Private => {
            format!("The router's own address {address} is private: it is behind another router")
        }
        ExternalAddressKind::Shared => format!(
            "The router's own address {address} is shared (carrier-grade NAT): your provider shares one address \
             among customers"
        ),
        // miniupnpd answers "" (and NAT-PMP NETWORK_FAILURE) rather than disclose a
        // private address; others send 0.0.0.0.
        ExternalAddressKind::None => {
            "The router reports no public address: it is behind carrier-grade NAT or another router".to_string()
        }
    };
    format!("{why}, so players outside cannot reach this port; {}.", kind.advice())
}

/// Why mapping `protocol` failed, given the router's external address.
pub fn failure(error: &Error, protocol: Protocol, port: u16, fallback_count: u16, external_address: &str) -> String {
    if classify_external_address(external_address) != ExternalAddressKind::Public {
        return private_address(external_address);
    }
    match error.result() {
        UpnpResult::ConflictWithOtherMapping => format!(
            "{} {port} and the next {fallback_count} ports are taken by other devices; choose another port.",
            protocol.as_str()
        ),
        _ => format!("The router refused to open {} {port}: {error}.", protocol.as_str()),
    }
}

/// The IPv6 part when the router's IPv6 firewall is off: no pinhole is needed.
pub const IPV6_FIREWALL_OFF: &str = "IPv6 open (router firewall off)";
/// The IPv6 part when the router's firewall allows no pinholes.
pub const IPV6_NOT_ALLOWED: &str = "IPv6: the router allows no pinholes";
/// The IPv6 part when the router offers no pinholes (no service, no PCP answer).
pub const IPV6_NO_SERVICE: &str = "IPv6: the router offers no pinholes";
/// The IPv6 part while the pinholes are being opened.
pub const IPV6_OPENING: &str = "IPv6: opening pinholes...";

/// The status line: the IPv4 line, then the IPv6 part.
pub fn with_ipv6(ipv4: &str, ipv6: &str) -> String {
    if ipv4.ends_with('.') { format!("{ipv4} {ipv6}") } else { format!("{ipv4}; {ipv6}") }
}

/// The IPv6 part for open pinholes: each address (with the protocols open for it when
/// not all of `wanted` are), and the method ("UPnP" or "PCP").
pub fn pinholes_open(open: &[(Ipv6Addr, Vec<Protocol>)], wanted: &[Protocol], method: &str) -> String {
    let addresses: Vec<String> = open
        .iter()
        .map(|(address, protocols)| {
            if wanted.iter().all(|p| protocols.contains(p)) {
                address.to_string()
            } else {
                let names: Vec<&str> = protocols.iter().map(|p| p.as_str()).collect();
                format!("{address} ({} only)", names.join(", "))
            }
        })
        .collect();
    let plural = if open.len() > 1 || wanted.len() > 1 { "s" } else { "" };
    format!("IPv6 {} open ({method} pinhole{plural})", addresses.join(", "))
}

/// The IPv6 part when the router refused every pinhole.
pub fn pinholes_refused(why: &str) -> String {
    format!("IPv6: the router refused the pinholes ({why})")
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_name_the_address_and_the_method() {
        assert_eq!(mapped("UDP 3928", "11.22.33.44", "UPnP", None), "UDP 3928 open on 11.22.33.44 (UPnP)");
        assert_eq!(
            mapped("UDP 3928, TCP 3928", "11.22.33.44", "PCP", None),
            "UDP 3928, TCP 3928 open on 11.22.33.44 (PCP)"
        );
        assert_eq!(
            mapped("UDP 3928", "10.0.0.2", "UPnP", None),
            "UDP 3928 open on the router (UPnP), but the router's own address 10.0.0.2 is private: it is behind \
             another router, so players outside cannot reach this port; enable UPnP on the outer router or put \
             one of them in bridge mode."
        );
        assert_eq!(
            mapped("UDP 3928", "100.64.1.2", "UPnP", None),
            "UDP 3928 open on the router (UPnP), but the router's own address 100.64.1.2 is shared (carrier-grade \
             NAT): your provider shares one address among customers, so players outside cannot reach this port; \
             ask your provider for a public address or use a relay."
        );
        assert_eq!(
            mapped("UDP 3928", "", "NAT-PMP", None),
            "UDP 3928 open on the router (NAT-PMP), but the router reports no public address: it is behind \
             carrier-grade NAT or another router, so players outside cannot reach this port; check the router's \
             internet connection, or forward the port on the router in front of it."
        );
    }

    #[test]
    fn a_stun_answer_confirms_the_address_or_names_the_nat_in_between() {
        let seen = |a: &str| Some(a.parse::<IpAddr>().unwrap());
        assert_eq!(
            mapped("UDP 3928", "11.22.33.44", "UPnP", seen("11.22.33.44")),
            "UDP 3928 open on 11.22.33.44 (UPnP; a STUN server sees the same address)"
        );
        assert_eq!(
            mapped("UDP 3928", "11.22.33.44", "UPnP", seen("22.33.44.55")),
            "UDP 3928 open on the router (UPnP), but a STUN server sees this computer as 22.33.44.55, not as the \
             router's address 11.22.33.44: another NAT is between the router and the internet, so players outside \
             cannot reach this port; ask your provider for a public address, or forward the port on the router in \
             front of yours."
        );
        assert_eq!(
            mapped("UDP 3928", "10.0.0.2", "UPnP", seen("22.33.44.55")),
            format!(
                "UDP 3928 open on the router (UPnP), but the router's own address 10.0.0.2 is private: it is behind \
                 another router, so players outside cannot reach this port; enable UPnP on the outer router or put \
                 one of them in bridge mode. A STUN server sees this computer as 22.33.44.55."
            )
        );
    }

    #[test]
    fn a_partly_open_line_says_what_is_still_being_opened() {
        assert_eq!(
            opening_more(&mapped("UDP 3928", "11.22.33.44", "UPnP", None), "TCP 3928"),
            "UDP 3928 open on 11.22.33.44 (UPnP). Opening TCP 3928..."
        );
        assert!(
            opening_more(&mapped("UDP 3928", "10.0.0.2", "UPnP", None), "TCP 3928")
                .ends_with("put one of them in bridge mode. Opening TCP 3928...")
        );
    }

    #[test]
    fn each_kind_of_address_has_its_reason_and_advice() {
        assert_eq!(private_address("11.22.33.44"), "");
        assert_eq!(
            private_address("10.0.0.2"),
            "The router's own address 10.0.0.2 is private: it is behind another router, so players outside \
             cannot reach this port; enable UPnP on the outer router or put one of them in bridge mode."
        );
        assert_eq!(
            private_address("100.64.1.2"),
            "The router's own address 100.64.1.2 is shared (carrier-grade NAT): your provider shares one address \
             among customers, so players outside cannot reach this port; ask your provider for a public address \
             or use a relay."
        );
        let none = "The router reports no public address: it is behind carrier-grade NAT or another router, so \
                    players outside cannot reach this port; check the router's internet connection, or forward \
                    the port on the router in front of it.";
        for address in ["", "0.0.0.0", "::", " 0.0.0.0 "] {
            assert_eq!(private_address(address), none, "{address:?}");
        }
    }

    #[test]
    fn the_ipv6_part_follows_the_ipv4_line() {
        let a: Ipv6Addr = "fd77::2".parse().unwrap();
        let b: Ipv6Addr = "2a01:4f8::2".parse().unwrap();
        let both = [Protocol::Udp, Protocol::Tcp];
        let open = pinholes_open(&[(a, both.to_vec())], &both, "UPnP");
        assert_eq!(open, "IPv6 fd77::2 open (UPnP pinholes)");
        assert_eq!(
            with_ipv6("UDP 47000, TCP 47000 open on 11.22.33.44 (UPnP)", &open),
            "UDP 47000, TCP 47000 open on 11.22.33.44 (UPnP); IPv6 fd77::2 open (UPnP pinholes)"
        );
        assert_eq!(
            pinholes_open(&[(a, vec![Protocol::Udp])], &[Protocol::Udp], "PCP"),
            "IPv6 fd77::2 open (PCP pinhole)"
        );
        assert_eq!(
            pinholes_open(&[(b, both.to_vec()), (a, vec![Protocol::Tcp])], &both, "UPnP"),
            "IPv6 2a01:4f8::2, fd77::2 (TCP only) open (UPnP pinholes)"
        );
        // After a sentence, a sentence.
        assert_eq!(
            with_ipv6("The router refused to open UDP 80: no.", IPV6_NO_SERVICE),
            "The router refused to open UDP 80: no. IPv6: the router offers no pinholes"
        );
    }

    #[test]
    fn failure_lines_say_what_to_do() {
        let conflict =
            Error::Upnp { action: "AddPortMapping", code: 718, description: "ConflictInMappingEntry".into() };
        assert_eq!(
            failure(&conflict, Protocol::Udp, 3928, 10, "11.22.33.44"),
            "UDP 3928 and the next 10 ports are taken by other devices; choose another port."
        );
        let refused = Error::Upnp { action: "AddPortMapping", code: 501, description: "Action Failed".into() };
        assert!(
            failure(&refused, Protocol::Tcp, 80, 0, "11.22.33.44").starts_with("The router refused to open TCP 80: ")
        );
        // Behind another NAT the NAT is the reason, whatever the router answered.
        for address in ["10.0.0.2", "100.64.1.2", "", "0.0.0.0"] {
            assert_eq!(failure(&refused, Protocol::Tcp, 80, 0, address), private_address(address), "{address}");
            assert_eq!(failure(&conflict, Protocol::Udp, 80, 0, address), private_address(address), "{address}");
        }
    }
}
