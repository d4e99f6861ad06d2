//! Device descriptions (`rootDesc.xml`): the device tree, its services, and which of them
//! can map ports.

use super::xml::{self, Visit, XmlError};

/// What we keep of a device description.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Description {
    /// `URLBase`, when the document has one (UDA 1.0; gone in 1.1).
    pub url_base: Option<String>,
    /// The root device's `deviceType`.
    pub device_type: String,
    /// The root device's `friendlyName`.
    pub friendly_name: String,
    /// The root device's `manufacturer`.
    pub manufacturer: String,
    /// The root device's `modelName`.
    pub model_name: String,
    /// Every service of every device, in document order.
    pub services: Vec<Service>,
}

/// One `<service>` of a description.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Service {
    /// `serviceType`, e.g. `urn:schemas-upnp-org:service:WANIPConnection:2`.
    pub service_type: String,
    /// `controlURL`, as written (often relative).
    pub control_url: String,
    /// `deviceType` of the device that holds the service.
    pub device_type: String,
}

/// Why a body is not a device description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DescriptionError {
    /// Not XML we accept.
    Xml(XmlError),
    /// Well-formed XML, but its root element is not `<root>` with a `<device>`.
    NotADescription(String),
}

impl std::fmt::Display for DescriptionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DescriptionError::Xml(e) => e.fmt(f),
            DescriptionError::NotADescription(why) => write!(f, "not a UPnP device description ({why})"),
        }
    }
}

const WAN_IP_CONNECTION: &str = "urn:schemas-upnp-org:service:WANIPConnection:";
const WAN_PPP_CONNECTION: &str = "urn:schemas-upnp-org:service:WANPPPConnection:";
/// The same services under their DSL Forum (TR-064) names, which some routers use
/// instead: Huawei HG531 V1 has only `urn:dslforum-org:service:WANPPPConnection:1`
/// (tailscale/tailscale#10911). The actions and arguments are the same.
const LEGACY_WAN_IP_CONNECTION: &str = "urn:dslforum-org:service:WANIPConnection:";
const LEGACY_WAN_PPP_CONNECTION: &str = "urn:dslforum-org:service:WANPPPConnection:";

/// Parses a description. Invalid UTF-8 is replaced rather than refused: some routers
/// send Latin-1 friendly names, and every field we need is ASCII.
pub fn parse_description(body: &[u8]) -> Result<Description, DescriptionError> {
    let doc = String::from_utf8_lossy(body);
    let mut desc = Description::default();
    // deviceType of each open <device>, innermost last.
    let mut devices: Vec<String> = Vec::new();
    let mut service: Option<Service> = None;
    let mut root_name = None;
    let mut saw_device = false;

    xml::walk(&doc, |stack, visit| {
        let name = stack[stack.len() - 1].as_str();
        let parent = stack.len().checked_sub(2).map(|i| stack[i].as_str());
        if root_name.is_none() {
            root_name = Some(name.to_string());
        }
        match visit {
            Visit::Open => match (name, parent) {
                ("device", Some("root" | "deviceList")) => {
                    devices.push(String::new());
                    saw_device = true;
                }
                ("service", Some("serviceList")) => service = Some(Service::default()),
                _ => {}
            },
            Visit::Close(text) => match (name, parent) {
                ("URLBase", Some("root")) if !text.is_empty() => desc.url_base = Some(text.to_string()),
                ("device", Some("root" | "deviceList")) => {
                    devices.pop();
                }
                ("deviceType", Some("device")) => {
                    if let Some(d) = devices.last_mut() {
                        *d = text.to_string();
                    }
                    if devices.len() == 1 {
                        desc.device_type = text.to_string();
                    }
                }
                ("friendlyName", Some("device")) if devices.len() == 1 => desc.friendly_name = text.to_string(),
                ("manufacturer", Some("device")) if devices.len() == 1 => desc.manufacturer = text.to_string(),
                ("modelName", Some("device")) if devices.len() == 1 => desc.model_name = text.to_string(),
                ("serviceType", Some("service")) => {
                    if let Some(s) = service.as_mut() {
                        s.service_type = text.to_string();
                    }
                }
                ("controlURL", Some("service")) => {
                    if let Some(s) = service.as_mut() {
                        s.control_url = text.to_string();
                    }
                }
                ("service", Some("serviceList")) => {
                    if let Some(mut s) = service.take() {
                        s.device_type = devices.last().cloned().unwrap_or_default();
                        desc.services.push(s);
                    }
                }
                _ => {}
            },
        }
    })
    .map_err(DescriptionError::Xml)?;

    match root_name.as_deref() {
        Some("root") if saw_device => Ok(desc),
        Some("root") => Err(DescriptionError::NotADescription("no <device>".into())),
        Some(other) => Err(DescriptionError::NotADescription(format!("root element is <{other}>"))),
        None => Err(DescriptionError::Xml(XmlError::Empty)),
    }
}

impl Description {
    /// The services that can map ports, best first: `WANIPConnection` (newest version
    /// first), then `WANPPPConnection`, then the same under their legacy
    /// `urn:dslforum-org` names; document order otherwise.
    pub fn connection_services(&self) -> Vec<&Service> {
        let rank = |s: &Service| -> Option<(u8, std::cmp::Reverse<u32>)> {
            [WAN_IP_CONNECTION, WAN_PPP_CONNECTION, LEGACY_WAN_IP_CONNECTION, LEGACY_WAN_PPP_CONNECTION]
                .iter()
                .zip(0..)
                .find_map(|(prefix, kind)| {
                    let version = s.service_type.strip_prefix(prefix)?.parse::<u32>().ok()?;
                    Some((kind, std::cmp::Reverse(version)))
                })
        };
        let mut found: Vec<(_, &Service)> = self.services.iter().filter_map(|s| rank(s).map(|r| (r, s))).collect();
        found.sort_by_key(|(r, _)| *r);
        found.into_iter().map(|(_, s)| s).collect()
    }

    /// The IPv6 firewall service (`WANIPv6FirewallControl`, newest version first), which
    /// IGD 2.0 puts in the WANConnectionDevice next to WANIPConnection:2.
    pub fn firewall_service(&self) -> Option<&Service> {
        self.services
            .iter()
            .filter_map(|s| {
                let version = s.service_type.strip_prefix(super::pinhole::SERVICE_TYPE_PREFIX)?.parse::<u32>().ok()?;
                Some((version, s))
            })
            .max_by_key(|(version, _)| *version)
            .map(|(_, s)| s)
    }
}

/// Whether a connection service offers `AddAnyPortMapping` (IGD v2's WANIPConnection:2).
pub fn supports_add_any(service_type: &str) -> bool {
    service_type.strip_prefix(WAN_IP_CONNECTION).and_then(|v| v.parse::<u32>().ok()).is_some_and(|v| v >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_devices_and_services() {
        let doc = br#"<?xml version="1.0"?>
<r:root xmlns:r="urn:schemas-upnp-org:device-1-0"><URLBase> http://10.0.0.1:80/ </URLBase>
 <r:device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
  <friendlyName>Box &amp; Co &#228;</friendlyName>
  <deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
   <deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
    <serviceList>
     <service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType><controlURL>/ppp</controlURL></service>
     <service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>ip</controlURL></service>
    </serviceList></device></deviceList>
  </device></deviceList></r:device></r:root>"#;
        let d = parse_description(doc).unwrap();
        assert_eq!(d.url_base.as_deref(), Some("http://10.0.0.1:80/"));
        assert_eq!(d.friendly_name, "Box & Co \u{e4}");
        assert_eq!(d.device_type, "urn:schemas-upnp-org:device:InternetGatewayDevice:1");
        let conns = d.connection_services();
        assert_eq!(conns.len(), 2);
        assert_eq!(conns[0].control_url, "ip");
        assert_eq!(conns[0].device_type, "urn:schemas-upnp-org:device:WANConnectionDevice:1");
        assert_eq!(conns[1].control_url, "/ppp");
    }

    #[test]
    fn refuses_non_descriptions() {
        assert!(matches!(parse_description(b"<html><body/></html>"), Err(DescriptionError::NotADescription(_))));
        assert!(matches!(parse_description(b"<root></root>"), Err(DescriptionError::NotADescription(_))));
        assert!(matches!(parse_description(b""), Err(DescriptionError::Xml(XmlError::Empty))));
        assert!(matches!(parse_description(b"<root><device>"), Err(DescriptionError::Xml(_))));
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><root><device><friendlyName>&b;</friendlyName></device></root>"#;
        assert!(matches!(parse_description(bomb), Err(DescriptionError::Xml(XmlError::UnknownEntity(_)))));
        let deep = format!("<root>{}{}</root>", "<a>".repeat(200), "</a>".repeat(200));
        assert!(matches!(parse_description(deep.as_bytes()), Err(DescriptionError::Xml(XmlError::TooDeep))));
    }

    #[test]
    fn newer_ip_connection_versions_rank_first() {
        let service =
            |t: &str, url: &str| Service { service_type: t.into(), control_url: url.into(), ..Default::default() };
        let d = Description {
            services: vec![
                service("urn:schemas-upnp-org:service:WANPPPConnection:1", "/ppp"),
                service("urn:schemas-upnp-org:service:WANIPConnection:1", "/ip1"),
                service("urn:schemas-upnp-org:service:Layer3Forwarding:1", "/l3f"),
                service("urn:schemas-upnp-org:service:WANIPConnection:2", "/ip2"),
                service("urn:schemas-upnp-org:service:WANIPConnection:x", "/junk"),
                service("urn:dslforum-org:service:WANPPPConnection:1", "/legacy-ppp"),
                service("urn:dslforum-org:service:WANIPConnection:1", "/legacy-ip"),
                service("urn:dslforum-org:service:Layer3Forwarding:1", "/legacy-l3f"),
            ],
            ..Default::default()
        };
        let order: Vec<&str> = d.connection_services().iter().map(|s| s.control_url.as_str()).collect();
        assert_eq!(order, ["/ip2", "/ip1", "/ppp", "/legacy-ip", "/legacy-ppp"]);
    }

    #[test]
    fn the_firewall_service_is_found_newest_first() {
        // The bed's miniupnpd 2.3.1, captured: the service sits next to WANIPConnection:2.
        let bed = parse_description(include_bytes!("../../../../tests/igd-sim/data/igdv2-rootDesc.xml")).unwrap();
        let firewall = bed.firewall_service().unwrap();
        assert_eq!(firewall.service_type, "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1");
        assert_eq!(firewall.control_url, "/ctl/IP6FCtl");
        assert_eq!(firewall.device_type, "urn:schemas-upnp-org:device:WANConnectionDevice:2");
        let v1 = parse_description(include_bytes!("../../../../tests/igd-sim/data/igdv1-rootDesc.xml")).unwrap();
        assert_eq!(v1.firewall_service(), None);
        let service =
            |t: &str, url: &str| Service { service_type: t.into(), control_url: url.into(), ..Default::default() };
        let d = Description {
            services: vec![
                service("urn:schemas-upnp-org:service:WANIPv6FirewallControl:x", "/junk"),
                service("urn:schemas-upnp-org:service:WANIPv6FirewallControl:1", "/v1"),
                service("urn:schemas-upnp-org:service:WANIPv6FirewallControl:2", "/v2"),
            ],
            ..Default::default()
        };
        assert_eq!(d.firewall_service().map(|s| s.control_url.as_str()), Some("/v2"));
    }

    #[test]
    fn add_any_needs_v2() {
        assert!(supports_add_any("urn:schemas-upnp-org:service:WANIPConnection:2"));
        assert!(!supports_add_any("urn:schemas-upnp-org:service:WANIPConnection:1"));
        assert!(!supports_add_any("urn:schemas-upnp-org:service:WANPPPConnection:1"));
        assert!(!supports_add_any("urn:dslforum-org:service:WANIPConnection:2"));
    }
}
