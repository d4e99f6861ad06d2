//! A gateway's connection service and the actions we call on it.

use crate::error::Error;
use crate::net::http;
use crate::protocol::igd::{self, MappingArgs, PortMappingEntry, Protocol};
use crate::protocol::quoted;
use crate::protocol::soap::{self, Outputs, output};
use crate::protocol::url::{HostRefused, HttpUrl};
use std::time::{Duration, Instant};

/// How long one action may take by default, connection included.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(5);

/// Most entries `list_mappings` reads; routers hold far fewer.
pub const MAX_LISTED_MAPPINGS: u32 = 1024;

/// One WANIPConnection / WANPPPConnection service: where to send actions, which
/// service type they are for, and which local address the router sees us as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gateway {
    control_url: HttpUrl,
    service_type: String,
    local_address: String,
}

/// `GetStatusInfo`'s answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusInfo {
    /// `NewConnectionStatus`, e.g. "Connected".
    pub connection_status: String,
    /// `NewLastConnectionError`, e.g. "ERROR_NONE".
    pub last_error: String,
    /// `NewUptime` in seconds, when given.
    pub uptime_seconds: Option<u64>,
}

impl Gateway {
    /// A gateway from its parts; fails with [`Error::Http`] (`HTTP_ERROR`) when the
    /// control URL is not a usable `http://` URL, or when its host is a name: names are
    /// refused, never resolved, as a lookup would not keep to any deadline of ours (the
    /// engine resolves them). A link-local IPv6 host may carry its interface as a zone
    /// (`http://[fe80::1%252]:5000/ctl`, as discovery writes the URL it found).
    pub fn new(control_url: &str, service_type: &str, local_address: &str) -> Result<Self, Error> {
        Ok(Gateway {
            control_url: literal_url("control URL", control_url)?,
            service_type: service_type.to_string(),
            local_address: local_address.to_string(),
        })
    }

    /// The absolute control URL.
    pub fn control_url(&self) -> &HttpUrl {
        &self.control_url
    }

    /// The service type, e.g. `urn:schemas-upnp-org:service:WANIPConnection:2`.
    pub fn service_type(&self) -> &str {
        &self.service_type
    }

    /// Our address as the router sees it (the mappings' internal client).
    pub fn local_address(&self) -> &str {
        &self.local_address
    }

    /// The same service seen from another of our addresses (after a LAN address change).
    pub fn with_local_address(&self, local_address: &str) -> Gateway {
        Gateway { local_address: local_address.to_string(), ..self.clone() }
    }

    /// Whether the service has IGD v2's `AddAnyPortMapping`.
    pub fn supports_add_any(&self) -> bool {
        crate::protocol::description::supports_add_any(&self.service_type)
    }

    /// `GetExternalIPAddress`: the router's WAN address ("" when it does not know, or
    /// says `0.0.0.0`).
    pub fn external_ip_address(&self, deadline: Instant) -> Result<String, Error> {
        let out = self.call("GetExternalIPAddress", &[], deadline)?;
        output(&out, "NewExternalIPAddress")
            .map(igd::external_address_value)
            .ok_or_else(|| Error::InvalidResponse("GetExternalIPAddress: no NewExternalIPAddress".into()))
    }

    /// `GetStatusInfo`: the WAN connection's state.
    pub fn status_info(&self, deadline: Instant) -> Result<StatusInfo, Error> {
        let out = self.call("GetStatusInfo", &[], deadline)?;
        let status = output(&out, "NewConnectionStatus")
            .ok_or_else(|| Error::InvalidResponse("GetStatusInfo: no NewConnectionStatus".into()))?;
        Ok(StatusInfo {
            connection_status: status.to_string(),
            last_error: output(&out, "NewLastConnectionError").unwrap_or("").to_string(),
            uptime_seconds: output(&out, "NewUptime").and_then(|u| u.trim().parse().ok()),
        })
    }

    /// `AddPortMapping` for our own address.
    pub fn add_port_mapping(&self, args: &MappingArgs, deadline: Instant) -> Result<(), Error> {
        self.call("AddPortMapping", &igd::add_args(args, &self.local_address), deadline).map(drop)
    }

    /// `AddAnyPortMapping` (IGD v2): the router maps `args.external_port` if free, else
    /// a port of its choice, which is returned.
    pub fn add_any_port_mapping(&self, args: &MappingArgs, deadline: Instant) -> Result<u16, Error> {
        let out = self.call("AddAnyPortMapping", &igd::add_args(args, &self.local_address), deadline)?;
        let port = output(&out, "NewReservedPort")
            .ok_or_else(|| Error::InvalidResponse("AddAnyPortMapping: no NewReservedPort".into()))?;
        port.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| Error::InvalidResponse(format!("AddAnyPortMapping: bad NewReservedPort {port:?}")))
    }

    /// `DeletePortMapping`.
    pub fn delete_port_mapping(&self, port: u16, protocol: Protocol, deadline: Instant) -> Result<(), Error> {
        self.call("DeletePortMapping", &igd::port_args(port, protocol), deadline).map(drop)
    }

    /// `GetSpecificPortMappingEntry`: the mapping of one external port.
    pub fn specific_mapping(
        &self,
        port: u16,
        protocol: Protocol,
        deadline: Instant,
    ) -> Result<PortMappingEntry, Error> {
        let out = self.call("GetSpecificPortMappingEntry", &igd::port_args(port, protocol), deadline)?;
        igd::parse_mapping_entry(&out, Some((port, protocol)))
            .map_err(|why| Error::InvalidResponse(format!("GetSpecificPortMappingEntry: {why}")))
    }

    /// `GetGenericPortMappingEntry`: the mapping at a list position.
    pub fn mapping_at(&self, index: u32, deadline: Instant) -> Result<PortMappingEntry, Error> {
        let out = self.call("GetGenericPortMappingEntry", &igd::index_args(index), deadline)?;
        igd::parse_mapping_entry(&out, None)
            .map_err(|why| Error::InvalidResponse(format!("GetGenericPortMappingEntry: {why}")))
    }

    /// Every mapping, read one position at a time until the router says the list ends
    /// (713 or 714; some routers send 402 or 501).
    pub fn list_mappings(&self, deadline: Instant) -> Result<Vec<PortMappingEntry>, Error> {
        let mut entries = Vec::new();
        for index in 0..MAX_LISTED_MAPPINGS {
            match self.mapping_at(index, deadline) {
                Ok(entry) => entries.push(entry),
                Err(Error::Upnp { code: 713 | 714 | 402 | 501, .. }) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(entries)
    }

    fn call(&self, action: &'static str, args: &[(&str, String)], deadline: Instant) -> Result<Outputs, Error> {
        call(&self.control_url, &self.service_type, action, args, deadline)
    }
}

/// `url` parsed as an `http://` URL whose host is an address (a link-local one may carry
/// its zone); else [`Error::Http`] naming it as `what` ("control URL"). Names are
/// refused, never resolved: a lookup would not keep to any deadline of ours.
pub(crate) fn literal_url(what: &str, url: &str) -> Result<HttpUrl, Error> {
    let refused = |why: &dyn std::fmt::Display| Error::Http(format!("the {what} {} {why}", quoted(url)));
    let parsed = HttpUrl::parse_with_zone(url).map_err(|e| refused(&e))?;
    if parsed.ip().is_none() {
        return Err(refused(&HostRefused::NotAnAddress));
    }
    Ok(parsed)
}

/// One SOAP action of a service by `deadline` (the answer capped at
/// [`http::SOAP_LIMIT`]): its outputs, or the router's fault as [`Error::Upnp`]. Queries
/// (`Get...`, `Check...`) may be sent twice under packet loss; changes are sent once.
pub(crate) fn call(
    control_url: &HttpUrl,
    service_type: &str,
    action: &'static str,
    args: &[(&str, String)],
    deadline: Instant,
) -> Result<Outputs, Error> {
    let body = soap::build_request(service_type, action, args);
    let read_only = action.starts_with("Get") || action.starts_with("Check");
    let answer =
        http::post_soap(control_url, service_type, action, body, deadline, read_only).map_err(|e| prefix(action, e))?;
    soap::parse_response(action, answer.status, &answer.body).map_err(|e| Error::from_soap(action, e))
}

fn prefix(action: &str, e: Error) -> Error {
    match e {
        Error::Http(m) => Error::Http(format!("{action}: {m}")),
        Error::Timeout(m) => Error::Timeout(format!("{action}: {m}")),
        Error::InvalidResponse(m) => Error::InvalidResponse(format!("{action}: {m}")),
        other => other,
    }
}
