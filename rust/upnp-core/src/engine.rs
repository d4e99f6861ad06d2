//! The engine's `UPNP` / `UPNPDevice` behaviour over plain values, so that a binding only
//! converts types: argument checks in the engine's order, its result codes, and one
//! error line per failure (the engine's own text, followed by what actually happened).

use crate::device::Device;
use crate::discover::{self, DiscoverOptions};
use crate::error::Error;
use crate::gateway::{ACTION_TIMEOUT, Gateway};
use crate::net::ssdp::SocketConfig;
use crate::panic_guard;
use crate::protocol::igd;
use crate::protocol::result::{IgdStatus, UpnpResult};
use std::time::{Duration, Instant};

/// A failed call: the code to return and the one line to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What the method returns.
    pub result: UpnpResult,
    /// The line for the engine's error channel.
    pub message: String,
    /// Whether the line is only a warning (a normal outcome such as "nobody answered").
    pub warning: bool,
}

/// Result of an engine-style call.
pub type Outcome<T> = Result<T, Failure>;

impl Failure {
    fn error(result: UpnpResult, message: impl Into<String>) -> Self {
        Failure { result, message: message.into(), warning: false }
    }

    /// The engine's sentence, then what went wrong and what to try.
    pub fn with_cause(engine_text: &str, e: &Error) -> Self {
        let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
        Failure::error(e.result(), format!("{engine_text} {e}{hint}"))
    }
}

impl From<igd::InvalidArgument> for Failure {
    fn from(a: igd::InvalidArgument) -> Self {
        Failure::error(a.result, a.message)
    }
}

/// The script-visible fields of a `UPNPDevice`. Scripts may set any of them, so the
/// status is a plain integer and actions work on whatever the fields say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    /// `description_url`.
    pub description_url: String,
    /// `service_type` (the SSDP ST).
    pub service_type: String,
    /// `igd_control_url`.
    pub igd_control_url: String,
    /// `igd_service_type`.
    pub igd_service_type: String,
    /// `igd_our_addr`.
    pub igd_our_addr: String,
    /// `igd_status` (an `IGDStatus` value, or anything a script stored).
    pub igd_status: i64,
}

impl Default for DeviceRecord {
    fn default() -> Self {
        DeviceRecord {
            description_url: String::new(),
            service_type: String::new(),
            igd_control_url: String::new(),
            igd_service_type: String::new(),
            igd_our_addr: String::new(),
            igd_status: i64::from(IgdStatus::UnknownError.code()),
        }
    }
}

impl From<&Device> for DeviceRecord {
    fn from(d: &Device) -> Self {
        let gateway = d.gateway.as_ref();
        DeviceRecord {
            description_url: d.description_url.clone(),
            service_type: d.service_type.clone(),
            igd_control_url: gateway.map(|g| g.control_url().to_string()).unwrap_or_default(),
            igd_service_type: gateway.map(|g| g.service_type().to_string()).unwrap_or_default(),
            igd_our_addr: gateway.map(|g| g.local_address().to_string()).unwrap_or_default(),
            igd_status: i64::from(d.status.code()),
        }
    }
}

/// The engine's text when `get_gateway()` has no device at all.
pub const NO_DEVICES_MESSAGE: &str = "Couldn't find any UPNPDevices.";
/// The engine's text for a null device argument.
pub const NULL_DEVICE_MESSAGE: &str = "Condition \"device.is_null()\" is true.";

/// The engine's text for an index outside the device list.
pub fn index_message(index: i64, len: usize) -> String {
    format!("Index index = {index} is out of bounds (devices.size() = {len}).")
}

impl DeviceRecord {
    /// `is_valid_gateway()`: exactly `igd_status == IGD_STATUS_OK`.
    pub fn is_valid_gateway(&self) -> bool {
        self.igd_status == i64::from(IgdStatus::Ok.code())
    }

    /// `add_port_mapping(port, port_internal, desc, proto, duration)`.
    pub fn add_port_mapping(
        &self,
        port: i64,
        port_internal: i64,
        desc: &str,
        proto: &str,
        duration: i64,
    ) -> Outcome<()> {
        let args = igd::check_add(self.is_valid_gateway(), port, port_internal, desc, proto, duration)?;
        self.gateway()
            .and_then(|g| g.add_port_mapping(&args, Instant::now() + ACTION_TIMEOUT))
            .map_err(|e| Failure::with_cause("Couldn't add port mapping.", &e))
    }

    /// `delete_port_mapping(port, proto)`: like the engine, no gateway validity check.
    pub fn delete_port_mapping(&self, port: i64, proto: &str) -> Outcome<()> {
        let (port, protocol) = igd::check_delete(port, proto)?;
        self.gateway()
            .and_then(|g| g.delete_port_mapping(port, protocol, Instant::now() + ACTION_TIMEOUT))
            .map_err(|e| Failure::with_cause("Couldn't delete port mapping.", &e))
    }

    /// `query_external_address()`: "" with an error line when it fails; "" without one
    /// when the router says it does not know.
    pub fn query_external_address(&self) -> Outcome<String> {
        if !self.is_valid_gateway() {
            return Err(Failure::error(UpnpResult::InvalidGateway, igd::NOT_VALID_GATEWAY_MESSAGE));
        }
        self.gateway()
            .and_then(|g| g.external_ip_address(Instant::now() + ACTION_TIMEOUT))
            .map_err(|e| Failure::with_cause("Couldn't get external IP address.", &e))
    }

    fn gateway(&self) -> Result<Gateway, Error> {
        Gateway::new(&self.igd_control_url, &self.igd_service_type, &self.igd_our_addr)
    }
}

/// The `UPNP` discovery properties.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoverSettings {
    /// `discover_multicast_if` ("" = the system's choice).
    pub multicast_if: String,
    /// `discover_local_port` (0 = any, 1 = 1900, 2..65535 as is, anything else = any).
    pub local_port: i64,
    /// `discover_ipv6`.
    pub ipv6: bool,
}

impl DiscoverSettings {
    /// Discovery options for a timeout, TTL and filter already checked.
    pub fn options(&self, timeout: Duration, ttl: u8, filter: &str) -> DiscoverOptions {
        DiscoverOptions {
            timeout,
            filter: filter.to_string(),
            socket: SocketConfig {
                ipv6: self.ipv6,
                ttl,
                local_port: u16::try_from(self.local_port).unwrap_or(0),
                multicast_if: Some(self.multicast_if.clone()).filter(|m| !m.is_empty()),
                unicast_target: None,
            },
        }
    }
}

/// `discover(timeout, ttl, device_filter)`: the engine's checks, then discovery.
/// `Ok` holds the devices in the engine's order (possibly none, when the filter kept
/// nothing). A caller clears its device list only after the checks passed, like the
/// engine: use [`check_discover`] first if the list must be cleared before the wait.
pub fn discover(settings: &DiscoverSettings, timeout: i64, ttl: i64, filter: &str) -> Outcome<Vec<DeviceRecord>> {
    let (timeout_ms, ttl) = check_discover(timeout, ttl)?;
    let options = settings.options(Duration::from_millis(timeout_ms), ttl, filter);
    let discovery = discover::discover(&options).map_err(|e| Failure::with_cause("UPnP discovery failed:", &e))?;
    if let Err(e) = discovery.check_answered() {
        let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
        return Err(Failure {
            result: e.result(),
            message: format!("UPnP discovery: no device answered within {timeout_ms} ms{hint}."),
            warning: true,
        });
    }
    Ok(discovery.devices.iter().map(DeviceRecord::from).collect())
}

/// The engine's argument checks of `discover`.
pub fn check_discover(timeout: i64, ttl: i64) -> Outcome<(u64, u8)> {
    Ok(igd::check_discover(timeout, ttl)?)
}

/// Runs one call for a script, turning a panic (a bug of ours) into `UNKNOWN_ERROR` with
/// one line naming it, so that no panic unwinds into the engine and the object stays
/// usable (its locks recover from poisoning; see the binding's `lock`).
pub fn guarded<T>(call: impl FnOnce() -> Outcome<T>) -> Outcome<T> {
    panic_guard::catch(|| {
        panic_guard::injected_for_tests();
        call()
    })
    .unwrap_or_else(|line| Err(Failure { result: UpnpResult::UnknownError, message: line, warning: false }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_checks_come_before_any_network_use() {
        let mut d = DeviceRecord::default();
        assert_eq!(d.igd_status, 9);
        let e = d.add_port_mapping(0, 0, "", "UDP", 0).unwrap_err();
        assert_eq!(
            (e.result, e.message.as_str()),
            (UpnpResult::InvalidGateway, "The Internet Gateway Device must be valid.")
        );
        assert_eq!(d.query_external_address().unwrap_err().result, UpnpResult::InvalidGateway);
        d.igd_status = 0;
        assert_eq!(d.add_port_mapping(0, 0, "", "UDP", 0).unwrap_err().result, UpnpResult::InvalidPort);
        assert_eq!(d.delete_port_mapping(80, "tcp").unwrap_err().result, UpnpResult::InvalidProtocol);
        // Valid arguments but no control URL: the request cannot be sent (HTTP_ERROR).
        let e = d.add_port_mapping(80, 0, "", "UDP", 0).unwrap_err();
        assert_eq!(e.result, UpnpResult::HttpError);
        assert_eq!(e.message, "Couldn't add port mapping. the control URL \"\" is empty or too long");
        assert_eq!(d.delete_port_mapping(80, "UDP").unwrap_err().result, UpnpResult::HttpError);
        assert_eq!(d.query_external_address().unwrap_err().result, UpnpResult::HttpError);
    }

    #[test]
    fn discover_checks_and_local_port_rule() {
        let s = DiscoverSettings::default();
        assert_eq!(discover(&s, -1, 2, "").unwrap_err().result, UpnpResult::InvalidParam);
        assert_eq!(
            discover(&s, 10, 256, "").unwrap_err().message,
            "The time-to-live must be set between 0 and 255 (inclusive)."
        );
        let port = |p| {
            DiscoverSettings { local_port: p, ..Default::default() }.options(Duration::ZERO, 2, "").socket.local_port
        };
        assert_eq!((port(0), port(1), port(4000), port(-5), port(70000)), (0, 1, 4000, 0, 0));
        assert_eq!(index_message(5, 0), "Index index = 5 is out of bounds (devices.size() = 0).");
    }

    #[test]
    fn a_panic_becomes_unknown_error_with_its_message() {
        let outcome: Outcome<()> = guarded(|| panic!("index out of bounds"));
        let failure = outcome.unwrap_err();
        assert_eq!(failure.result, UpnpResult::UnknownError);
        assert!(failure.message.contains(": index out of bounds (at "), "{}", failure.message);
        assert_eq!(guarded(|| Ok(5)).ok(), Some(5));
    }
}
