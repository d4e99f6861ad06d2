//! `RustUPNPDevice` (`UPNPDevice` with the `engine-names` feature).

use super::lock;
use crate::registration::{self, Property, raw_method, register_properties};
use godot::meta::error::ConvertError;
use godot::meta::shape::GodotShape;
use godot::meta::{FromGodot, GodotConvert, ToGodot};
use godot::prelude::*;
use godot::register::info::PropertyHint;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use upnp_core::Firewall;
use upnp_core::engine::{self, DeviceRecord, Failure, Outcome};
use upnp_core::gateway::ACTION_TIMEOUT;
use upnp_core::protocol::pinhole;
use upnp_core::protocol::result::{IgdStatus, UpnpResult};

/// One UPnP device found by discovery (or built by a script); see the editor help for
/// the class description (`CLASS_DOC`).
#[derive(GodotClass)]
#[cfg_attr(not(feature = "engine-names"), class(init, tool, base = RefCounted, rename = RustUPNPDevice))]
#[cfg_attr(feature = "engine-names", class(init, tool, base = RefCounted, rename = UPNPDevice))]
pub struct UpnpDevice {
    base: Base<RefCounted>,
    // Every method takes `&self` or `Gd<Self>`, never `&mut self`: gdext's `&mut self`
    // borrow panics when another thread holds a shared one, and scripts call devices
    // from several threads. The fields live behind this lock instead, shared with the
    // device lists holding this device (`SharedRecord`).
    #[init(val = SharedRecord::default())]
    record: SharedRecord,
    // The IPv6 firewall service found at a description URL (one fetch of the description
    // per device, not per pinhole call); found again when a script changes the URL.
    #[init(val = Mutex::default())]
    firewall: Mutex<Option<(String, Firewall)>>,
}

const CLASS_DOC: &str = "One UPnP device on the local network, usually the router (Internet Gateway Device, IGD). \
[RustUPNP] creates these during discovery; each holds what discovery learnt (description URL, the SSDP service type \
it answered with, and, for a gateway, its control URL, service type and our address as the router sees it) and can \
add or remove port mappings and report the external address. Every property can also be set by a script, so a \
device can be built by hand for a router whose control URL is already known.\n\n\
This is the engine's UPNPDevice API, implemented in Rust. Differences: each device's igd_status is judged on its \
own (the engine gives every device the status of one); a router whose external address is private or carrier-grade \
NAT is IGD_STATUS_OK (the engine says IGD_STATUS_DISCONNECTED); calls are safe from several threads at once.\n\n\
Additions (the engine has no equivalent): IPv6 pinholes through the router's WANIPv6FirewallControl service (IGD \
2.0): add_pinhole, update_pinhole, delete_pinhole and get_firewall_status. On IPv6 there is no NAT to map, but the \
router's firewall still drops unsolicited traffic; a pinhole lets it through to one address and port. Discover with \
discover_ipv6 = true: a router in secure mode (miniupnpd's default) opens pinholes only for the address a request \
comes from, and refuses any asked over IPv4.";

const STRING_PROPERTIES: &[Property] = &[
    Property {
        name: "description_url",
        getter: "get_description_url",
        setter: "set_description_url",
        hint: None,
        doc: "URL of the device's description document (the SSDP LOCATION it sent).",
    },
    Property {
        name: "service_type",
        getter: "get_service_type",
        setter: "set_service_type",
        hint: None,
        doc: "The SSDP search target (ST) the device answered with, e.g. urn:schemas-upnp-org:device:InternetGatewayDevice:1.",
    },
    Property {
        name: "igd_control_url",
        getter: "get_igd_control_url",
        setter: "set_igd_control_url",
        hint: None,
        doc: "Where port-mapping requests go: the control URL of the gateway's WANIPConnection or WANPPPConnection service.",
    },
    Property {
        name: "igd_service_type",
        getter: "get_igd_service_type",
        setter: "set_igd_service_type",
        hint: None,
        doc: "Service type of that connection service, e.g. urn:schemas-upnp-org:service:WANIPConnection:2.",
    },
    Property {
        name: "igd_our_addr",
        getter: "get_igd_our_addr",
        setter: "set_igd_our_addr",
        hint: None,
        doc: "This computer's address as the gateway sees it; mappings forward to this address.",
    },
];

const STATUS_PROPERTY: &[Property] = &[Property {
    name: "igd_status",
    getter: "get_igd_status",
    setter: "set_igd_status",
    hint: Some((PropertyHint::ENUM, "")),
    doc: "What discovery concluded about this device; IGD_STATUS_OK means ports can be mapped through it.",
}];

/// Registers what `#[godot_api]` cannot: the accessors whose argument is named `type` (and,
/// to keep the engine's method order, the ones after them), the properties, the enum.
pub fn register() {
    raw_method!(gd_self UpnpDevice, "set_service_type", ["type"], (GString,) => (), |this, (v,)| UpnpDevice::edit(&this, |r| r.service_type = v.to_string()));
    raw_method!(&self UpnpDevice, "get_service_type", [], () => GString, |this, ()| this.read(|r| r.service_type.as_str().into()));
    raw_method!(gd_self UpnpDevice, "set_igd_control_url", ["url"], (GString,) => (), |this, (v,)| UpnpDevice::edit(&this, |r| r.igd_control_url = v.to_string()));
    raw_method!(&self UpnpDevice, "get_igd_control_url", [], () => GString, |this, ()| this.read(|r| r.igd_control_url.as_str().into()));
    raw_method!(gd_self UpnpDevice, "set_igd_service_type", ["type"], (GString,) => (), |this, (v,)| UpnpDevice::edit(&this, |r| r.igd_service_type = v.to_string()));
    raw_method!(&self UpnpDevice, "get_igd_service_type", [], () => GString, |this, ()| this.read(|r| r.igd_service_type.as_str().into()));
    raw_method!(gd_self UpnpDevice, "set_igd_our_addr", ["addr"], (GString,) => (), |this, (v,)| UpnpDevice::edit(&this, |r| r.igd_our_addr = v.to_string()));
    raw_method!(&self UpnpDevice, "get_igd_our_addr", [], () => GString, |this, ()| this.read(|r| r.igd_our_addr.as_str().into()));
    raw_method!(gd_self UpnpDevice, "set_igd_status", ["status"], (IgdStatusArg,) => (), |this, (v,)| UpnpDevice::edit(&this, |r| r.igd_status = v.0));
    raw_method!(&self UpnpDevice, "get_igd_status", [], () => IgdStatusArg, |this, ()| this.read(|r| IgdStatusArg(r.igd_status)));

    register_properties::<UpnpDevice, GString>(STRING_PROPERTIES);
    register_properties::<UpnpDevice, i64>(STATUS_PROPERTY);
    registration::register_class_docs::<UpnpDevice>("RefCounted", CLASS_DOC, &[STRING_PROPERTIES, STATUS_PROPERTY]);
    registration::register_enum::<UpnpDevice>(
        "IGDStatus",
        IgdStatus::ALL.iter().map(|s| (s.constant_name(), s.code(), s.description())),
    );
}

/// A device's fields. A `RustUPNP` list keeps this handle next to each device object, so
/// finding the gateway among thousands of devices never calls into the engine.
pub type SharedRecord = Arc<Mutex<DeviceRecord>>;

impl UpnpDevice {
    /// A device holding `record`.
    pub fn from_record(record: DeviceRecord) -> Gd<Self> {
        Gd::from_init_fn(|base| UpnpDevice { base, record: Arc::new(Mutex::new(record)), firewall: Mutex::default() })
    }

    /// The handle to this device's fields.
    pub fn shared_record(&self) -> SharedRecord {
        Arc::clone(&self.record)
    }

    /// A copy of the fields (actions run on it, without holding the lock).
    fn snapshot(&self) -> DeviceRecord {
        lock(&self.record).clone()
    }

    fn read<T>(&self, f: impl FnOnce(&DeviceRecord) -> T) -> T {
        f(&lock(&self.record))
    }

    fn edit(this: &Gd<Self>, f: impl FnOnce(&mut DeviceRecord)) {
        f(&mut lock(&this.bind().record));
    }

    /// The firewall service of the device at [member description_url]: the one found
    /// before for this URL, else looked for now (one description fetch, by its deadline).
    /// `engine_text` begins the error line, as the engine's sentence does.
    fn firewall(&self, engine_text: &str) -> Outcome<Firewall> {
        let url = self.read(|r| r.description_url.clone());
        if let Some((_, found)) = lock(&self.firewall).as_ref().filter(|(at, _)| *at == url) {
            return Ok(found.clone());
        }
        // Not under the lock: a second caller meanwhile looks for it too, harmlessly.
        let found = Firewall::find(&url, action_deadline()).map_err(|e| Failure::with_cause(engine_text, &e))?;
        *lock(&self.firewall) = Some((url, found.clone()));
        Ok(found)
    }

    /// `add_pinhole`: every argument checked before anything is sent; the default
    /// internal client is known only once the service is found, so a stand-in takes its
    /// place in the first check (as `upnp pinhole add` does).
    fn open_pinhole(
        &self,
        remote_host: &str,
        remote_port: i64,
        internal_client: &str,
        internal_port: i64,
        proto: &str,
        lease: i64,
    ) -> Outcome<u16> {
        const TEXT: &str = "Couldn't add pinhole.";
        let given_client = if internal_client.trim().is_empty() { "::1" } else { internal_client };
        pinhole::check_pinhole(remote_host, remote_port, given_client, internal_port, proto)?;
        let lease_seconds = pinhole::check_lease(lease)?;
        let firewall = self.firewall(TEXT)?;
        let client = if given_client == internal_client {
            internal_client.to_string()
        } else {
            firewall.pinhole_address().map(|a| a.to_string()).ok_or_else(|| Failure {
                result: UpnpResult::InvalidArgs,
                message: format!(
                    "{TEXT} The router sees this computer as {}, not a reachable IPv6 address: give internal_client, \
                     or discover with discover_ipv6 = true.",
                    firewall.local_address()
                ),
                warning: false,
            })?
        };
        let hole = pinhole::check_pinhole(remote_host, remote_port, &client, internal_port, proto)?;
        firewall.add_pinhole(&hole, lease_seconds, action_deadline()).map_err(|e| Failure::with_cause(TEXT, &e))
    }

    fn renew_pinhole(&self, id: i64, lease: i64) -> Outcome<()> {
        const TEXT: &str = "Couldn't update pinhole.";
        let (id, lease_seconds) = (pinhole::check_id(id)?, pinhole::check_lease(lease)?);
        let firewall = self.firewall(TEXT)?;
        firewall.update_pinhole(id, lease_seconds, action_deadline()).map_err(|e| Failure::with_cause(TEXT, &e))
    }

    fn close_pinhole(&self, id: i64) -> Outcome<()> {
        const TEXT: &str = "Couldn't delete pinhole.";
        let id = pinhole::check_id(id)?;
        let firewall = self.firewall(TEXT)?;
        firewall.delete_pinhole(id, action_deadline()).map_err(|e| Failure::with_cause(TEXT, &e))
    }

    fn firewall_status(&self) -> Outcome<pinhole::FirewallStatus> {
        const TEXT: &str = "Couldn't get firewall status.";
        let firewall = self.firewall(TEXT)?;
        firewall.status(action_deadline()).map_err(|e| Failure::with_cause(TEXT, &e))
    }
}

/// Each request's deadline, as for the port-mapping calls.
fn action_deadline() -> Instant {
    Instant::now() + ACTION_TIMEOUT
}

#[godot_api]
impl UpnpDevice {
    /// Returns `true` when [member igd_status] is [constant IGD_STATUS_OK]: ports can be
    /// mapped through this device.
    #[func]
    fn is_valid_gateway(&self) -> bool {
        self.read(DeviceRecord::is_valid_gateway)
    }

    /// Asks the gateway for its external (WAN) address. Returns an empty string on
    /// failure, with an error line saying why, or when the router does not know it.
    #[func]
    fn query_external_address(&self) -> GString {
        super::external_address(&self.snapshot())
    }

    /// Asks the gateway to forward external [param port] ([param proto] "UDP" or "TCP")
    /// to [param port_internal] on this computer (0 = the same port). [param desc] is
    /// what the router shows; [param duration] is the lease in seconds (0 = permanent, or
    /// the longest the router grants). Returns a [enum RustUPNP.UPNPResult] value.
    #[func]
    fn add_port_mapping(
        &self,
        port: i32,
        #[opt(default = 0)] port_internal: i32,
        #[opt(default = "")] desc: GString,
        #[opt(default = "UDP")] proto: GString,
        #[opt(default = 0)] duration: i32,
    ) -> i32 {
        super::add_mapping(&self.snapshot(), port, port_internal, &desc, &proto, duration)
    }

    /// Removes the mapping of external [param port] and [param proto] ("UDP" or "TCP").
    /// Returns a [enum RustUPNP.UPNPResult] value.
    #[func]
    fn delete_port_mapping(&self, port: i32, #[opt(default = "UDP")] proto: GString) -> i32 {
        super::delete_mapping(&self.snapshot(), port, &proto)
    }

    /// Opens an IPv6 pinhole in the router's firewall (an addition: the engine has no
    /// equivalent): traffic from [param remote_host] (an IPv6 address; empty = any host)
    /// and [param remote_port] (0 = any port) to [param internal_client] (an IPv6 address
    /// of this computer; empty = this computer's address as the router sees it, which
    /// needs a device found with [member RustUPNP.discover_ipv6]) and [param
    /// internal_port] (1-65535), [param proto] "UDP" or "TCP", for [param lease] seconds
    /// (1-86400; renew it with [method update_pinhole]). Returns the pinhole's id (0 or
    /// more) or, on failure, a [enum RustUPNP.UPNPResult] value negated (so always below
    /// 0), with one error line: [constant RustUPNP.UPNP_RESULT_INVALID_ARGS] for an
    /// address, [constant RustUPNP.UPNP_RESULT_INVALID_PORT] for a port, [constant
    /// RustUPNP.UPNP_RESULT_INVALID_PROTOCOL], [constant
    /// RustUPNP.UPNP_RESULT_INVALID_DURATION] for the lease (all checked before anything is
    /// sent), [constant RustUPNP.UPNP_RESULT_INVALID_GATEWAY] when the device has no IPv6
    /// firewall service, else the router's refusal, e.g. [constant
    /// RustUPNP.UPNP_RESULT_NOT_AUTHORIZED] (606: asked over IPv4, or for another
    /// computer's address).
    #[func]
    fn add_pinhole(
        &self,
        remote_host: GString,
        remote_port: i64,
        internal_client: GString,
        internal_port: i64,
        #[opt(default = "UDP")] proto: GString,
        #[opt(default = 3600)] lease: i64,
    ) -> i64 {
        let outcome = engine::guarded(|| {
            self.open_pinhole(
                &remote_host.to_string(),
                remote_port,
                &internal_client.to_string(),
                internal_port,
                &proto.to_string(),
                lease,
            )
        });
        match outcome {
            Ok(id) => i64::from(id),
            Err(failure) => {
                super::report(&failure);
                -i64::from(failure.result.code())
            }
        }
    }

    /// Gives pinhole [param id] (what [method add_pinhole] returned) a new lease of
    /// [param lease] seconds (1-86400) from now. Returns a [enum RustUPNP.UPNPResult]
    /// value: [constant RustUPNP.UPNP_RESULT_INVALID_ARGS] for an id outside 0-65535,
    /// [constant RustUPNP.UPNP_RESULT_INVALID_DURATION] for the lease, [constant
    /// RustUPNP.UPNP_RESULT_NO_SUCH_ENTRY_IN_ARRAY] (704) or [constant
    /// RustUPNP.UPNP_RESULT_INVALID_ARGS] (402, miniupnpd) for an id the router does not
    /// hold.
    #[func]
    fn update_pinhole(&self, id: i64, lease: i64) -> i32 {
        super::result_code(engine::guarded(|| self.renew_pinhole(id, lease)))
    }

    /// Closes pinhole [param id] (what [method add_pinhole] returned). Returns a [enum
    /// RustUPNP.UPNPResult] value, with the codes of [method update_pinhole].
    #[func]
    fn delete_pinhole(&self, id: i64) -> i32 {
        super::result_code(engine::guarded(|| self.close_pinhole(id)))
    }

    /// Asks the router about its IPv6 firewall: a Dictionary with "result" (a [enum
    /// RustUPNP.UPNPResult] value), "enabled" (the router filters inbound IPv6; when
    /// false, players reach this computer without a pinhole) and
    /// "inbound_pinhole_allowed" (pinholes may be opened). Both are false on failure,
    /// with one error line; [constant RustUPNP.UPNP_RESULT_INVALID_GATEWAY] when the
    /// device has no IPv6 firewall service.
    #[func]
    fn get_firewall_status(&self) -> VarDictionary {
        let outcome = engine::guarded(|| self.firewall_status());
        let (result, status) = match outcome {
            Ok(status) => (UpnpResult::Success.code(), status),
            Err(failure) => {
                super::report(&failure);
                (failure.result.code(), pinhole::FirewallStatus { enabled: false, inbound_pinhole_allowed: false })
            }
        };
        vdict! {
            "result" => result,
            "enabled" => status.enabled,
            "inbound_pinhole_allowed" => status.inbound_pinhole_allowed,
        }
    }

    #[func(gd_self)]
    fn set_description_url(this: Gd<Self>, url: GString) {
        Self::edit(&this, |r| r.description_url = url.to_string());
    }

    #[func]
    fn get_description_url(&self) -> GString {
        self.read(|r| r.description_url.as_str().into())
    }
}

/// `igd_status` as an argument and return value: an int typed as `RustUPNPDevice.IGDStatus`.
/// Any integer a script stores is kept, as the engine does.
#[derive(Clone, Copy, Debug)]
pub struct IgdStatusArg(pub i64);

impl GodotConvert for IgdStatusArg {
    type Via = i64;
    fn godot_shape() -> GodotShape {
        registration::class_enum_shape::<UpnpDevice>("IGDStatus")
    }
}

impl ToGodot for IgdStatusArg {
    type Pass = <i64 as ToGodot>::Pass;
    fn to_godot(&self) -> i64 {
        self.0
    }
}

impl FromGodot for IgdStatusArg {
    fn try_from_godot(via: i64) -> Result<Self, ConvertError> {
        Ok(IgdStatusArg(via))
    }
}
