//! The crate's one error type: what went wrong, the engine's `UPNPResult` for it, and a
//! sentence for a person.

use crate::protocol::igd::InvalidArgument;
use crate::protocol::pinhole;
use crate::protocol::pmp::{PmpMethod, ResultCode};
use crate::protocol::result::{UpnpResult, upnp_error_name};
use crate::protocol::soap::SoapError;
use std::fmt;

/// A failed UPnP operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// An argument was rejected before anything was sent.
    InvalidArgument(InvalidArgument),
    /// The router answered with a UPnP error.
    Upnp {
        /// The action that failed.
        action: &'static str,
        /// UPnP error code (e.g. 718).
        code: u32,
        /// The router's text for it.
        description: String,
    },
    /// No usable HTTP exchange: refused, reset, error status, empty body, unusable URL.
    Http(String),
    /// No complete HTTP answer before the deadline (the engine's `HTTP_ERROR` too).
    Timeout(String),
    /// An answer arrived but is not what the protocol says it should be.
    InvalidResponse(String),
    /// A socket could not be opened, configured or used.
    Socket(String),
    /// No device answered discovery.
    NoDevices,
    /// Devices answered, but none is a usable gateway.
    NoGateway,
    /// Work was abandoned because its owner asked to stop.
    Cancelled,
    /// The router has no IPv6 firewall service (`WANIPv6FirewallControl`): no pinholes
    /// through UPnP (an IGDv1 router, or one with IPv6 switched off).
    NoFirewall(String),
    /// A NAT-PMP or PCP gateway refused the request with a result code.
    Pmp {
        /// The request, e.g. "PCP MAP".
        action: &'static str,
        /// The gateway's result code, in its protocol's numbering.
        code: ResultCode,
    },
    /// Nothing answered NAT-PMP or PCP: the gateway refused the port (nothing listens on
    /// UDP 5351) or sent no answer before the deadline.
    PmpUnavailable(String),
}

impl Error {
    /// The engine's result code for this error.
    pub fn result(&self) -> UpnpResult {
        match self {
            Error::InvalidArgument(a) => a.result,
            Error::Upnp { action, code, .. } if pinhole::is_firewall_action(action) => pinhole::result_of_fault(*code),
            Error::Upnp { code, .. } => UpnpResult::from_upnp_error(*code),
            Error::Http(_) | Error::Timeout(_) => UpnpResult::HttpError,
            Error::InvalidResponse(_) => UpnpResult::InvalidResponse,
            Error::Socket(_) => UpnpResult::SocketError,
            Error::NoDevices => UpnpResult::NoDevices,
            Error::NoGateway => UpnpResult::NoGateway,
            Error::NoFirewall(_) => UpnpResult::InvalidGateway,
            Error::Cancelled => UpnpResult::UnknownError,
            Error::Pmp { code, .. } => code.upnp_result(),
            // As with discovery that finds no gateway: there is nothing to map ports with.
            Error::PmpUnavailable(_) => UpnpResult::NoGateway,
        }
    }

    /// The UPnP error code, when the router sent one.
    pub fn upnp_code(&self) -> Option<u32> {
        match self {
            Error::Upnp { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// What a person could try next, when there is something useful to say.
    pub fn hint(&self) -> Option<&'static str> {
        // NAT-PMP/PCP cases first where the result's generic UPnP hint would mislead.
        match self {
            Error::NoFirewall(_) => {
                return Some(
                    "the router offers no IPv6 pinholes through UPnP (IGD 2.0's WANIPv6FirewallControl): it may filter no inbound IPv6 at all, or need a pinhole set by hand",
                );
            }
            Error::PmpUnavailable(_) => {
                return Some(
                    "the router did not answer NAT-PMP or PCP: it may not support them or have them switched off (UPnP may still work), or give a longer timeout",
                );
            }
            Error::Pmp { code, .. } if code.upnp_result() == UpnpResult::InvalidGateway => {
                return Some("the router's NAT-PMP/PCP does not support this request; try UPnP instead");
            }
            Error::Pmp { code: ResultCode { method: PmpMethod::Pcp, code: 12 }, .. } => {
                return Some(
                    "another NAT sits between this computer and the router answering PCP, so no mapping through it can reach this computer",
                );
            }
            Error::Pmp { code, .. } if code.upnp_result() == UpnpResult::NotAuthorized => {
                return Some("the router does not allow this mapping (often: external ports below 1024)");
            }
            Error::Upnp { action, code, .. } if pinhole::is_firewall_action(action) => {
                if let Some(hint) = pinhole_hint(*code) {
                    return Some(hint);
                }
            }
            _ => {}
        }
        Some(match self.result() {
            UpnpResult::ConflictWithOtherMapping => {
                "another device on this network already uses this port: choose another port, or let the router pick one"
            }
            UpnpResult::NotAuthorized => {
                "the router does not allow this mapping (ports below 1024, mappings for another computer, or UPnP set to read-only)"
            }
            UpnpResult::ActionFailed => {
                "the router could not make the mapping; if its external address is private, shared or missing (another router or carrier-grade NAT in front) no mapping can work"
            }
            UpnpResult::OnlyPermanentLeaseSupported => "this router only accepts permanent mappings: use lease 0",
            UpnpResult::SamePortValuesRequired => "this router needs the internal port to equal the external port",
            UpnpResult::NoPortMapsAvailable => "the router's mapping table is full: remove mappings you no longer need",
            UpnpResult::ConflictWithOtherMechanism => {
                "the port is used by the router itself or by a manual forwarding rule"
            }
            UpnpResult::NoDevices => {
                "no UPnP device answered: check that UPnP is enabled on the router and that this computer is on its network (or pick the interface)"
            }
            UpnpResult::NoGateway => {
                "devices answered, but none is an Internet gateway with UPnP port mapping switched on"
            }
            // What the message says (refused, reset, an error status) needs no hint.
            UpnpResult::HttpError if matches!(self, Error::Timeout(_)) => {
                "the router did not answer in time; try again, or give a longer timeout"
            }
            UpnpResult::SocketError => "check the network interface and that the local port is free",
            _ => return None,
        })
    }

    /// Wraps a SOAP-level failure of `action`.
    pub(crate) fn from_soap(action: &'static str, e: SoapError) -> Self {
        match e {
            SoapError::Fault { code, description } => Error::Upnp { action, code, description },
            SoapError::Empty => Error::Http(format!("{action}: the router sent an empty answer")),
            SoapError::Status(s) => Error::Http(format!("{action}: the router answered HTTP {s}")),
            SoapError::Unexpected(why) => Error::InvalidResponse(format!("{action}: {why}")),
        }
    }
}

/// What to try after a fault of the IPv6 firewall service, where the generic hint of its
/// result would mislead.
fn pinhole_hint(code: u32) -> Option<&'static str> {
    Some(match code {
        606 => {
            "the router opens pinholes only for the address a request comes from, and not below port 1024: ask over IPv6 from the pinhole's own address"
        }
        701 => "the router has no room for another pinhole: delete pinholes you no longer need",
        702 => "the router's IPv6 firewall is off: inbound IPv6 already reaches this computer, no pinhole is needed",
        703 => "the router's IPv6 firewall does not allow pinholes: allow them in the router's settings",
        704 => "the router has no pinhole with this id (it may have expired): add it again",
        709 => "no packet has gone through the pinhole yet, so the router cannot tell whether it works",
        402 => {
            "the router rejected the arguments (miniupnpd also says so for an unknown pinhole id, and for a lease outside 1 to 86400 s)"
        }
        _ => return None,
    })
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(a) => f.write_str(a.message),
            Error::Upnp { action, code, description } => {
                let standard = upnp_error_name(*code).unwrap_or("unknown code");
                let said = if description.is_empty() || description == standard {
                    String::new()
                } else {
                    format!(", router said {}", crate::protocol::quoted(description))
                };
                write!(f, "{action} refused by the router: UPnP error {code} ({standard}{said})")
            }
            Error::Http(m)
            | Error::Timeout(m)
            | Error::InvalidResponse(m)
            | Error::Socket(m)
            | Error::NoFirewall(m) => f.write_str(m),
            Error::NoDevices => f.write_str("no UPnP device answered"),
            Error::NoGateway => f.write_str("no UPnP device is a usable Internet gateway"),
            Error::Cancelled => f.write_str("cancelled"),
            Error::Pmp { action, code } => write!(f, "{action} refused by the router: {code}"),
            Error::PmpUnavailable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<InvalidArgument> for Error {
    fn from(a: InvalidArgument) -> Self {
        Error::InvalidArgument(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firewall_faults_have_their_own_results_and_hints() {
        let fault =
            |action, code: u32, description: &str| Error::Upnp { action, code, description: description.into() };
        let disabled = fault("AddPinhole", 702, "FirewallDisabled");
        assert_eq!(disabled.result(), UpnpResult::ActionFailed);
        assert!(disabled.hint().unwrap().contains("no pinhole is needed"));
        assert_eq!(disabled.to_string(), "AddPinhole refused by the router: UPnP error 702 (FirewallDisabled)");
        let secure = fault("AddPinhole", 606, "Action not authorized");
        assert_eq!(secure.result(), UpnpResult::NotAuthorized);
        assert!(secure.hint().unwrap().contains("over IPv6"));
        assert_eq!(fault("UpdatePinhole", 704, "").result(), UpnpResult::NoSuchEntryInArray);
        // The same numbers from a port-mapping action keep the engine's mapping and hints.
        assert_eq!(fault("AddPortMapping", 704, "").result(), UpnpResult::UnknownError);
        assert!(fault("AddPortMapping", 606, "").hint().unwrap().contains("ports below 1024"));
        let none = Error::NoFirewall("no service".into());
        assert_eq!((none.result(), none.to_string().as_str()), (UpnpResult::InvalidGateway, "no service"));
        assert!(none.hint().unwrap().contains("WANIPv6FirewallControl"));
    }

    #[test]
    fn only_a_timeout_is_told_to_wait_longer() {
        let late = Error::Timeout("no complete answer in time".into());
        let refused = Error::Http("connection refused".into());
        assert_eq!((late.result(), refused.result()), (UpnpResult::HttpError, UpnpResult::HttpError));
        assert!(late.hint().unwrap().contains("longer timeout"));
        assert_eq!(refused.hint(), None);
    }
}
