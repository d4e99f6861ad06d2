//! `RustUPNPDevice` (`UPNPDevice` with the `engine-names` feature).

use super::lock;
use crate::registration::{self, Property, raw_method, register_properties};
use godot::meta::error::ConvertError;
use godot::meta::shape::GodotShape;
use godot::meta::{FromGodot, GodotConvert, ToGodot};
use godot::prelude::*;
use godot::register::info::PropertyHint;
use std::sync::{Arc, Mutex};
use upnp_core::engine::DeviceRecord;
use upnp_core::protocol::result::IgdStatus;

/// One UPnP device found by discovery (or built by a script); see the editor help for
/// the class description (`CLASS_DOC`).
#[derive(GodotClass)]
#[cfg_attr(not(feature = "engine-names"), class(init, base = RefCounted, rename = RustUPNPDevice))]
#[cfg_attr(feature = "engine-names", class(init, base = RefCounted, rename = UPNPDevice))]
pub struct UpnpDevice {
    base: Base<RefCounted>,
    // Every method takes `&self` or `Gd<Self>`, never `&mut self`: gdext's `&mut self`
    // borrow panics when another thread holds a shared one, and scripts call devices
    // from several threads. The fields live behind this lock instead, shared with the
    // device lists holding this device (`SharedRecord`).
    #[init(val = SharedRecord::default())]
    record: SharedRecord,
}

const CLASS_DOC: &str = "One UPnP device on the local network, usually the router (Internet Gateway Device, IGD). \
[RustUPNP] creates these during discovery; each holds what discovery learnt (description URL, the SSDP service type \
it answered with, and, for a gateway, its control URL, service type and our address as the router sees it) and can \
add or remove port mappings and report the external address. Every property can also be set by a script, so a \
device can be built by hand for a router whose control URL is already known.\n\n\
This is the engine's UPNPDevice API, implemented in Rust. Differences: each device's igd_status is judged on its \
own (the engine gives every device the status of one); a router whose external address is private or carrier-grade \
NAT is IGD_STATUS_OK (the engine says IGD_STATUS_DISCONNECTED); calls are safe from several threads at once.";

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
        Gd::from_init_fn(|base| UpnpDevice { base, record: Arc::new(Mutex::new(record)) })
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
