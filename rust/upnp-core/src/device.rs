//! Examining one device: fetch its description, pick its connection service, check the
//! WAN link. Each device is judged on its own (the engine copies one verdict to all).
//! Every URL taken from the description stays on the device's host
//! ([`device_url_allowed`]); no host name is ever resolved.

use crate::error::Error;
use crate::gateway::Gateway;
use crate::net::http;
use crate::protocol::description::{Description, parse_description};
use crate::protocol::igd::{self, ConnectionVerdict, ExternalAddressKind};
use crate::protocol::quoted;
use crate::protocol::result::IgdStatus;
use crate::protocol::url::{HostRefused, HttpUrl, device_url_allowed};
use std::time::Instant;

/// A device found by discovery (or named by URL): the engine's `UPNPDevice` fields and
/// what we learnt on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The description URL (`LOCATION`), as the device sent it.
    pub description_url: String,
    /// The SSDP `ST` it answered with ("" when not discovered).
    pub service_type: String,
    /// The SSDP `USN` ("" when not discovered).
    pub usn: String,
    /// What we concluded about it.
    pub status: IgdStatus,
    /// Its connection service, when it has one we could talk to (set for `Disconnected`
    /// too, so a caller may still try it).
    pub gateway: Option<Gateway>,
    /// The external address it reported ("" when it does not know).
    pub external_address: Option<String>,
    /// Root device `friendlyName`.
    pub friendly_name: String,
    /// Why the status is not OK, or a caveat about an OK one (private external address).
    pub note: String,
}

impl Device {
    /// A device that answered discovery but has not been examined.
    pub(crate) fn unexamined(description_url: &str, service_type: &str, usn: &str, note: &str) -> Self {
        Device {
            description_url: description_url.to_string(),
            service_type: service_type.to_string(),
            usn: usn.to_string(),
            status: IgdStatus::HttpError,
            gateway: None,
            external_address: None,
            friendly_name: String::new(),
            note: note.to_string(),
        }
    }

    /// Whether ports can be mapped through it.
    pub fn is_valid_gateway(&self) -> bool {
        self.status == IgdStatus::Ok && self.gateway.is_some()
    }

    /// How its external address looks (`None` when it gave none).
    pub fn external_address_kind(&self) -> ExternalAddressKind {
        external_address_kind(self.external_address.as_deref())
    }

    /// A usable gateway whose external address is private, shared (carrier-grade NAT) or none:
    /// mappings work on this router, but another NAT is in front of it.
    pub fn is_behind_another_nat(&self) -> bool {
        self.is_valid_gateway() && self.external_address_kind() != ExternalAddressKind::Public
    }
}

/// Fetches and judges the device whose description is at `location`, by `deadline`.
/// A `location` with a host name is `HttpError` at once, fetched from nowhere.
pub fn examine(location: &HttpUrl, description_url: &str, deadline: Instant) -> Device {
    let mut device = Device::unexamined(description_url, "", "", "");
    let Some(device_ip) = location.ip() else {
        // Never resolved (no deadline of ours); discovery and `device_from_url` refuse
        // names before this.
        device.note = format!("description URL {} {}", quoted(description_url), HostRefused::NotAnAddress);
        return device;
    };
    let description = match fetch_description(location, deadline) {
        Ok(d) => d,
        Err((status, note)) => {
            device.status = status;
            device.note = note;
            return device;
        }
    };
    device.friendly_name = description.friendly_name.clone();
    let services = description.connection_services();
    if services.is_empty() {
        device.status = IgdStatus::NoIgd;
        device.note = format!("not an Internet gateway ({})", short_type(&description.device_type));
        return device;
    }
    let local_address = match http::local_address_towards(device_ip, location.scope()) {
        Ok(a) => a.to_string(),
        Err(e) => {
            device.status = IgdStatus::InvalidControl;
            device.note = e.to_string();
            return device;
        }
    };
    let base = match control_base(location, &description) {
        Ok(base) => base,
        Err(note) => {
            device.status = IgdStatus::InvalidControl;
            device.note = note;
            return device;
        }
    };

    let mut verdicts = Vec::new();
    // The usable service whose address ranks best so far (see `address_rank`).
    let mut best: Option<(u8, Gateway, Option<String>)> = None;
    let mut fallback: Option<(Gateway, Option<String>)> = None;
    for service in services {
        let gateway = match device_url(&base, &service.control_url, location)
            .map_err(|why| Error::Http(format!("control URL {} {why}", quoted(&service.control_url))))
            .and_then(|url| Gateway::new(&url.to_string(), &service.service_type, &local_address))
        {
            Ok(g) => g,
            Err(e) => {
                verdicts.push(ConnectionVerdict::NoControl);
                device.note = e.to_string();
                continue;
            }
        };
        // Both questions at once: one round trip fewer before a game can map.
        let (status, external) = std::thread::scope(|scope| {
            let status = scope.spawn(|| gateway.status_info(deadline));
            let external = gateway.external_ip_address(deadline);
            (status.join().unwrap_or(Err(Error::Cancelled)), external)
        });
        let verdict =
            igd::judge_connection(status.as_ref().ok().map(|s| s.connection_status.as_str()), external.is_ok());
        verdicts.push(verdict);
        match verdict {
            ConnectionVerdict::Usable => {
                let external = external.ok();
                let rank = address_rank(external.as_deref());
                if best.as_ref().is_none_or(|(best_rank, ..)| rank < *best_rank) {
                    best = Some((rank, gateway, external));
                }
                // A public address is as good as it gets: ask no further service.
                if rank == 0 {
                    break;
                }
            }
            ConnectionVerdict::Disconnected if fallback.is_none() => {
                let state = status.map(|s| s.connection_status).unwrap_or_default();
                device.note = format!("the router says its WAN connection is {state:?}");
                fallback = Some((gateway, external.ok()));
            }
            _ => {
                if let Err(e) = status.and(external) {
                    device.note = format!("connection service not answering: {e}");
                }
            }
        }
    }
    device.status = igd::device_status(&verdicts);
    if let Some((_, gateway, external)) = best {
        device.gateway = Some(gateway);
        device.external_address = external;
        device.note = behind_nat_note(device.external_address.as_deref());
    } else if let Some((gateway, external)) = fallback {
        device.gateway = Some(gateway);
        device.external_address = external;
    }
    device
}

/// How good a connected service's external address is, best first: public (0), private
/// or shared (1: mappings at least reach the next network up), none (2). Of several
/// connected services (a router with two WAN links, MikroTik CHR in
/// tailscale/tailscale#8364), the best one is used, as Tailscale's `selectBestService` does.
fn address_rank(external_address: Option<&str>) -> u8 {
    match external_address_kind(external_address) {
        ExternalAddressKind::Public => 0,
        ExternalAddressKind::Private | ExternalAddressKind::Shared => 1,
        ExternalAddressKind::None => 2,
    }
}

fn external_address_kind(external_address: Option<&str>) -> ExternalAddressKind {
    external_address.map_or(ExternalAddressKind::None, igd::classify_external_address)
}

/// A caveat for a working gateway whose external address is not public ("" if public):
/// which NAT is in front of it and what to do, in one sentence.
pub fn behind_nat_note(external_address: Option<&str>) -> String {
    let kind = external_address_kind(external_address);
    let address = external_address.unwrap_or_default().trim();
    let why = match kind {
        ExternalAddressKind::Public => return String::new(),
        ExternalAddressKind::Private => {
            format!("the router's external address {address} is private: the router is behind another router")
        }
        ExternalAddressKind::Shared => format!(
            "the router's external address {address} is shared (carrier-grade NAT, RFC 6598): the provider \
             shares one address among customers"
        ),
        ExternalAddressKind::None => "the router reports no external address".to_string(),
    };
    format!("{why}, so players outside cannot reach mapped ports; {}", kind.advice())
}

/// Fetches and parses the description at `location` by `deadline`; on failure the
/// status that gives the device (`HttpError`, `HttpEmpty`, `UnknownDevice`) and why.
pub(crate) fn fetch_description(location: &HttpUrl, deadline: Instant) -> Result<Description, (IgdStatus, String)> {
    let answer = http::get(location, deadline, http::DESCRIPTION_LIMIT)
        .map_err(|e| (IgdStatus::HttpError, format!("description not fetched: {e}")))?;
    if answer.status != 200 {
        let redirect = if (300..400).contains(&answer.status) { " (redirects are not followed)" } else { "" };
        return Err((IgdStatus::HttpError, format!("description not fetched: HTTP {}{redirect}", answer.status)));
    }
    if answer.body.iter().all(u8::is_ascii_whitespace) {
        return Err((IgdStatus::HttpEmpty, "empty description".into()));
    }
    parse_description(&answer.body).map_err(|e| (IgdStatus::UnknownDevice, format!("unreadable description: {e}")))
}

/// What relative control URLs resolve against: `URLBase` when present, else the
/// location. A `URLBase` we may not use leaves no control URL we could trust (the
/// engine would build them all from it too): then why, as a note.
pub(crate) fn control_base(location: &HttpUrl, description: &Description) -> Result<HttpUrl, String> {
    match &description.url_base {
        Some(url_base) => {
            device_url(location, url_base, location).map_err(|why| format!("URLBase {} {why}", quoted(url_base)))
        }
        None => Ok(location.clone()),
    }
}

/// `reference` (a `URLBase` or a control URL) resolved against `base`, if the result
/// passes [`device_url_allowed`] for the device at `location`.
pub(crate) fn device_url(base: &HttpUrl, reference: &str, location: &HttpUrl) -> Result<HttpUrl, String> {
    let url = base.resolve(reference).map_err(|e| e.to_string())?;
    device_url_allowed(&url, location).map_err(|e| e.to_string())?;
    Ok(url)
}

fn short_type(device_type: &str) -> &str {
    if device_type.is_empty() {
        "no device type"
    } else {
        device_type.strip_prefix("urn:schemas-upnp-org:device:").unwrap_or(device_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_names_the_nat_and_what_to_do() {
        assert_eq!(behind_nat_note(Some("11.22.33.44")), "");
        assert_eq!(
            behind_nat_note(Some("10.0.0.2")),
            "the router's external address 10.0.0.2 is private: the router is behind another router, so players \
             outside cannot reach mapped ports; enable UPnP on the outer router or put one of them in bridge mode"
        );
        assert_eq!(
            behind_nat_note(Some("100.64.1.2")),
            "the router's external address 100.64.1.2 is shared (carrier-grade NAT, RFC 6598): the provider \
             shares one address among customers, so players outside cannot reach mapped ports; ask your \
             provider for a public address or use a relay"
        );
        let none = "the router reports no external address, so players outside cannot reach mapped ports; check \
                    the router's internet connection, or forward the port on the router in front of it";
        for address in [None, Some(""), Some("0.0.0.0"), Some("::")] {
            assert_eq!(behind_nat_note(address), none, "{address:?}");
        }
    }

    #[test]
    fn a_public_address_ranks_first_and_none_last() {
        let ranks =
            [Some("11.22.33.44"), Some("10.0.0.2"), Some("100.64.1.2"), Some("0.0.0.0"), None].map(address_rank);
        assert_eq!(ranks, [0, 1, 1, 2, 2]);
    }
}
