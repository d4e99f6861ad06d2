//! A router's IPv6 firewall service (`WANIPv6FirewallControl:1`, IGD 2.0) and the
//! pinhole actions we call on it, each bounded by a deadline, its answer capped like
//! every SOAP answer. The checks and the reading of the answers are in
//! [`crate::protocol::pinhole`].
//!
//! Ask over IPv6, from the pinhole's own address: a router in secure mode (miniupnpd's
//! default) opens a pinhole only for the address the request comes from, so a request
//! over IPv4 is refused with 606 whatever it asks for.

use crate::device;
use crate::error::Error;
use crate::gateway;
use crate::net::http;
use crate::protocol::pinhole::{self, FirewallStatus, Pinhole};
use crate::protocol::quoted;
use crate::protocol::soap::Outputs;
use crate::protocol::url::HttpUrl;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

/// One WANIPv6FirewallControl service: where to send actions and which of our addresses
/// the router sees them come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Firewall {
    control_url: HttpUrl,
    service_type: String,
    local_address: IpAddr,
}

impl Firewall {
    /// A service from its parts; the control URL as for [`gateway::Gateway::new`] (an
    /// address, never a name, which is refused with `HTTP_ERROR`).
    pub fn new(control_url: &str, service_type: &str, local_address: IpAddr) -> Result<Self, Error> {
        Ok(Firewall {
            control_url: gateway::literal_url("control URL", control_url)?,
            service_type: service_type.to_string(),
            local_address,
        })
    }

    /// The firewall service of the device described at `description_url` (fetched by
    /// `deadline`; its control URL resolved as the connection service's is, and kept on
    /// the device's host). [`Error::NoFirewall`] when the device has none (an IGDv1
    /// router, or IPv6 switched off in it).
    pub fn find(description_url: &str, deadline: Instant) -> Result<Firewall, Error> {
        let location = gateway::literal_url("description URL", description_url)?;
        let description = device::fetch_description(&location, deadline).map_err(|(_, note)| Error::Http(note))?;
        let service = description.firewall_service().ok_or_else(|| {
            Error::NoFirewall(format!(
                "{} lists no IPv6 firewall service ({}1)",
                location,
                pinhole::SERVICE_TYPE_PREFIX
            ))
        })?;
        let base = device::control_base(&location, &description).map_err(Error::Http)?;
        let url = device::device_url(&base, &service.control_url, &location)
            .map_err(|why| Error::Http(format!("control URL {} {why}", quoted(&service.control_url))))?;
        let device_ip = url.ip().expect("a literal control URL has an address");
        let local_address = http::local_address_towards(device_ip, url.scope())?;
        Ok(Firewall { control_url: url, service_type: service.service_type.clone(), local_address })
    }

    /// The absolute control URL.
    pub fn control_url(&self) -> &HttpUrl {
        &self.control_url
    }

    /// The service type, e.g. `urn:schemas-upnp-org:service:WANIPv6FirewallControl:1`.
    pub fn service_type(&self) -> &str {
        &self.service_type
    }

    /// Our address as the router sees it (the address a request comes from).
    pub fn local_address(&self) -> IpAddr {
        self.local_address
    }

    /// The address to open pinholes for by default: ours as the router sees it, when we
    /// reach the router over IPv6 from an address a player could reach (global or
    /// unique-local; not link-local). `None` over IPv4 or from a link-local address:
    /// then give one of this host's reachable addresses
    /// ([`pinhole::reachable_addresses`]) and expect a router in secure mode to refuse.
    pub fn pinhole_address(&self) -> Option<Ipv6Addr> {
        match self.local_address {
            IpAddr::V6(v6) if pinhole::is_reachable_address(v6) => Some(v6),
            _ => None,
        }
    }

    /// `GetFirewallStatus`.
    pub fn status(&self, deadline: Instant) -> Result<FirewallStatus, Error> {
        let action = "GetFirewallStatus";
        read(action, pinhole::parse_firewall_status(&self.call(action, &[], deadline)?))
    }

    /// `GetOutboundPinholeTimeout`: how long the router keeps an idle outbound flow of
    /// this shape open, in seconds (miniupnpd 2.3.1 answers 501 ActionFailed).
    pub fn outbound_pinhole_timeout(&self, pinhole: &Pinhole, deadline: Instant) -> Result<u32, Error> {
        let action = "GetOutboundPinholeTimeout";
        read(action, pinhole::parse_outbound_timeout(&self.call(action, &pinhole::pinhole_args(pinhole), deadline)?))
    }

    /// `AddPinhole` for `lease_seconds` (checked with [`pinhole::check_lease`]): the
    /// pinhole's id. The same pinhole added again gets the same id (miniupnpd renews it).
    pub fn add_pinhole(&self, pinhole: &Pinhole, lease_seconds: u32, deadline: Instant) -> Result<u16, Error> {
        let action = "AddPinhole";
        read(action, pinhole::parse_added_id(&self.call(action, &pinhole::add_args(pinhole, lease_seconds), deadline)?))
    }

    /// `UpdatePinhole`: a new lease for pinhole `id`, from now.
    pub fn update_pinhole(&self, id: u16, lease_seconds: u32, deadline: Instant) -> Result<(), Error> {
        self.call("UpdatePinhole", &pinhole::update_args(id, lease_seconds), deadline).map(drop)
    }

    /// `DeletePinhole`.
    pub fn delete_pinhole(&self, id: u16, deadline: Instant) -> Result<(), Error> {
        self.call("DeletePinhole", &pinhole::id_args(id), deadline).map(drop)
    }

    /// `GetPinholePackets`: how many packets went through pinhole `id`.
    pub fn pinhole_packets(&self, id: u16, deadline: Instant) -> Result<u32, Error> {
        let action = "GetPinholePackets";
        read(action, pinhole::parse_packets(&self.call(action, &pinhole::id_args(id), deadline)?))
    }

    /// `CheckPinholeWorking`: whether traffic goes through pinhole `id`; `None` when the
    /// router cannot tell because no packet went through yet (fault 709, NoPacketSent).
    pub fn check_pinhole_working(&self, id: u16, deadline: Instant) -> Result<Option<bool>, Error> {
        let action = "CheckPinholeWorking";
        match self.call(action, &pinhole::id_args(id), deadline) {
            Ok(out) => read(action, pinhole::parse_is_working(&out)).map(Some),
            Err(Error::Upnp { code: pinhole::NO_PACKET_SENT, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn call(&self, action: &'static str, args: &[(&str, String)], deadline: Instant) -> Result<Outputs, Error> {
        gateway::call(&self.control_url, &self.service_type, action, args, deadline)
    }
}

fn read<T>(action: &str, value: Result<T, String>) -> Result<T, Error> {
    value.map_err(|why| Error::InvalidResponse(format!("{action}: {why}")))
}
