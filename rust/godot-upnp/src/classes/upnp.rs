//! `RustUPNP` (`UPNP` with the `engine-names` feature).

use super::device::{SharedRecord, UpnpDevice};
use super::{add_mapping, delete_mapping, error_after_unlock, external_address, lock, report};
use crate::registration::{self, ObjectRef, Property, register_properties};
use godot::prelude::*;
use godot::register::info::PropertyHint;
use std::sync::Mutex;
use upnp_core::engine::{self, DeviceRecord, DiscoverSettings};
use upnp_core::protocol::result::UpnpResult;

/// Discovery and port mapping through the local network's gateway; see the editor help
/// for the class description (`CLASS_DOC`).
#[derive(GodotClass)]
#[cfg_attr(not(feature = "engine-names"), class(init, tool, base = RefCounted, rename = RustUPNP))]
#[cfg_attr(feature = "engine-names", class(init, tool, base = RefCounted, rename = UPNP))]
pub struct Upnp {
    base: Base<RefCounted>,
    // No `&mut self` methods (see `UpnpDevice`): state behind a lock, held only briefly.
    #[init(val = Mutex::new(State::default()))]
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    devices: Vec<Listed>,
    settings: DiscoverSettings,
}

/// A device in the list: the object scripts get back, and its fields.
#[derive(Clone)]
struct Listed {
    object: Gd<UpnpDevice>,
    record: SharedRecord,
}

impl Listed {
    fn new(object: Gd<UpnpDevice>) -> Self {
        let record = object.bind().shared_record();
        Listed { object, record }
    }
}

type DeviceRef = ObjectRef<UpnpDevice>;

const CLASS_DOC: &str = "Finds UPnP devices on the local network and forwards ports through the router \
(Internet Gateway Device), so that players outside the network can reach a game hosted on this computer.\n\n\
Typical use: call [method discover], then [method add_port_mapping] with your server's port; remove it with \
[method delete_port_mapping] when the server stops. These calls wait for the network (discover() for its whole \
timeout), so run them in a [Thread], or use [UPNPPortMapper], which does all of it in the background and keeps the \
mapping alive.\n\n\
This is the engine's UPNP API implemented in Rust (same methods, arguments, defaults, result codes and error texts), \
built on a client that never waits past the timeout it was given. Differences from the engine: discover() honours \
timeouts below 1000 ms and returns at the timeout however slow other devices are; each device's status is its own; \
a router with a private or carrier-grade NAT external address counts as a gateway; an empty description is sent as \
\"Godot UPnP\"; calls are safe from several threads at once.";

const STRING_PROPERTY: &[Property] = &[Property {
    name: "discover_multicast_if",
    getter: "get_discover_multicast_if",
    setter: "set_discover_multicast_if",
    hint: None,
    doc: "Network interface for discovery, by name (\"eth0\") or by one of its addresses. Empty: let the system choose.",
}];

const PORT_PROPERTY: &[Property] = &[Property {
    name: "discover_local_port",
    getter: "get_discover_local_port",
    setter: "set_discover_local_port",
    hint: Some((PropertyHint::RANGE, "0,65535")),
    doc: "Source port of the discovery requests: 0 lets the system pick, 1 means 1900 (the SSDP port), anything else is used as given.",
}];

const BOOL_PROPERTY: &[Property] = &[Property {
    name: "discover_ipv6",
    getter: "is_discover_ipv6",
    setter: "set_discover_ipv6",
    hint: None,
    doc: "Discover over IPv6 (multicast groups ff05::c and ff02::c) instead of IPv4.",
}];

/// Registers the properties and the enum.
pub fn register() {
    register_properties::<Upnp, GString>(STRING_PROPERTY);
    register_properties::<Upnp, i32>(PORT_PROPERTY);
    register_properties::<Upnp, bool>(BOOL_PROPERTY);
    registration::register_class_docs::<Upnp>(
        "RefCounted",
        CLASS_DOC,
        &[STRING_PROPERTY, PORT_PROPERTY, BOOL_PROPERTY],
    );
    registration::register_enum::<Upnp>(
        "UPNPResult",
        UpnpResult::ALL.iter().map(|r| (r.constant_name(), r.code(), r.description())),
    );
}

impl Upnp {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The first valid gateway, reporting the engine's error when the list is empty.
    fn gateway(&self) -> Option<Listed> {
        error_after_unlock(|| {
            let state = self.state();
            if state.devices.is_empty() {
                return Err(engine::NO_DEVICES_MESSAGE.into());
            }
            // Lock order is always list, then device; a device never reaches back to a list.
            Ok(state.devices.iter().find(|d| lock(&d.record).is_valid_gateway()).cloned())
        })
        .flatten()
    }

    /// Runs `f` on the locked device list and the checked `index`; the engine's error line
    /// when it is out of range. For [`error_after_unlock`], which prints once the lock is
    /// released; whatever `f` takes out of the list is returned, to be dropped after it too.
    fn at_index<T>(
        &self,
        index: i32,
        f: impl FnOnce(&mut Vec<Listed>, usize) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut state = self.state();
        let len = state.devices.len();
        let i = usize::try_from(index).ok().filter(|&i| i < len);
        f(&mut state.devices, i.ok_or_else(|| engine::index_message(index.into(), len))?)
    }

    /// Puts `devices` in place of the list and returns the old one, for the caller to drop
    /// once the lock is released.
    fn replace_devices(this: &Gd<Self>, devices: Vec<Listed>) -> Vec<Listed> {
        std::mem::replace(&mut this.bind().state().devices, devices)
    }

    /// The gateway's fields, or the NO_GATEWAY result.
    fn gateway_record(&self) -> Result<DeviceRecord, i32> {
        self.gateway().map(|d| lock(&d.record).clone()).ok_or(UpnpResult::NoGateway.code())
    }
}

#[godot_api]
impl Upnp {
    /// Number of devices in the list (found by [method discover] or added by script).
    #[func]
    fn get_device_count(&self) -> i32 {
        self.state().devices.len() as i32
    }

    /// The device at [param index], or [code]null[/code] with an error when out of range.
    #[func]
    fn get_device(&self, index: i32) -> DeviceRef {
        ObjectRef(error_after_unlock(|| self.at_index(index, |devices, i| Ok(devices[i].object.clone()))))
    }

    /// Appends [param device] to the list.
    #[func(gd_self)]
    fn add_device(this: Gd<Self>, device: DeviceRef) {
        let listed = device.0.map(Listed::new);
        error_after_unlock(|| {
            let listed = listed.ok_or_else(|| engine::NULL_DEVICE_MESSAGE.to_string())?;
            this.bind().state().devices.push(listed);
            Ok(())
        });
    }

    /// Replaces the device at [param index] with [param device].
    #[func(gd_self)]
    fn set_device(this: Gd<Self>, index: i32, device: DeviceRef) {
        // Bound before the lock; when unused (index out of range), dropped after it.
        let mut replacement = device.0.map(Listed::new);
        let replaced = error_after_unlock(|| {
            this.bind().at_index(index, |devices, i| {
                let listed = replacement.take().ok_or_else(|| engine::NULL_DEVICE_MESSAGE.to_string())?;
                Ok(std::mem::replace(&mut devices[i], listed))
            })
        });
        drop(replaced);
    }

    /// Removes the device at [param index].
    #[func(gd_self)]
    fn remove_device(this: Gd<Self>, index: i32) {
        let removed = error_after_unlock(|| this.bind().at_index(index, |devices, i| Ok(devices.remove(i))));
        drop(removed);
    }

    /// Empties the device list.
    #[func(gd_self)]
    fn clear_devices(this: Gd<Self>) {
        drop(Self::replace_devices(&this, Vec::new()));
    }

    /// The first device in the list that is a valid gateway, or [code]null[/code].
    #[func]
    fn get_gateway(&self) -> DeviceRef {
        ObjectRef(self.gateway().map(|d| d.object))
    }

    /// Searches the local network for UPnP devices for [param timeout] milliseconds and
    /// replaces the device list with what answered, examining each device as its answer
    /// arrives. [param ttl] is the multicast time-to-live; [param device_filter] keeps
    /// devices whose search target contains it. Returns a [enum UPNPResult] value:
    /// [constant UPNP_RESULT_SUCCESS] (even when the filter kept no device),
    /// [constant UPNP_RESULT_NO_DEVICES] when nothing answered.
    #[func(gd_self)]
    fn discover(
        this: Gd<Self>,
        #[opt(default = 2000)] timeout: i32,
        #[opt(default = 2)] ttl: i32,
        #[opt(default = "InternetGatewayDevice")] device_filter: GString,
    ) -> i32 {
        if let Err(failure) = engine::check_discover(timeout.into(), ttl.into()) {
            report(&failure);
            return failure.result.code();
        }
        // Like the engine: the old list is dropped even if this discovery fails.
        drop(Self::replace_devices(&this, Vec::new()));
        let settings = this.bind().state().settings.clone();
        // The network wait holds no lock: other threads keep using this object.
        match engine::guarded(|| engine::discover(&settings, timeout.into(), ttl.into(), &device_filter.to_string())) {
            Ok(records) => {
                let devices = records.into_iter().map(|r| Listed::new(UpnpDevice::from_record(r))).collect();
                // Empty unless another thread added devices meanwhile.
                drop(Self::replace_devices(&this, devices));
                UpnpResult::Success.code()
            }
            Err(failure) => {
                report(&failure);
                failure.result.code()
            }
        }
    }

    /// The gateway's external address. An empty string with an error line when the list
    /// is empty or the gateway does not answer; without one when no listed device is a
    /// valid gateway (as the engine; [method get_gateway] is then [code]null[/code]) or
    /// when the router does not know its address.
    #[func]
    fn query_external_address(&self) -> GString {
        self.gateway_record().map_or_else(|_| GString::new(), |record| external_address(&record))
    }

    /// [method RustUPNPDevice.add_port_mapping] on the gateway; [constant UPNP_RESULT_NO_GATEWAY]
    /// when there is none.
    #[func]
    fn add_port_mapping(
        &self,
        port: i32,
        #[opt(default = 0)] port_internal: i32,
        #[opt(default = "")] desc: GString,
        #[opt(default = "UDP")] proto: GString,
        #[opt(default = 0)] duration: i32,
    ) -> i32 {
        self.gateway_record()
            .map_or_else(|code| code, |record| add_mapping(&record, port, port_internal, &desc, &proto, duration))
    }

    /// [method RustUPNPDevice.delete_port_mapping] on the gateway; [constant UPNP_RESULT_NO_GATEWAY]
    /// when there is none.
    #[func]
    fn delete_port_mapping(&self, port: i32, #[opt(default = "UDP")] proto: GString) -> i32 {
        self.gateway_record().map_or_else(|code| code, |record| delete_mapping(&record, port, &proto))
    }

    #[func(gd_self)]
    fn set_discover_multicast_if(this: Gd<Self>, m_if: GString) {
        this.bind().state().settings.multicast_if = m_if.to_string();
    }

    #[func]
    fn get_discover_multicast_if(&self) -> GString {
        self.state().settings.multicast_if.as_str().into()
    }

    #[func(gd_self)]
    fn set_discover_local_port(this: Gd<Self>, port: i32) {
        this.bind().state().settings.local_port = port.into();
    }

    #[func]
    fn get_discover_local_port(&self) -> i32 {
        // Stored as given (the engine does not validate it either).
        self.state().settings.local_port as i32
    }

    #[func(gd_self)]
    fn set_discover_ipv6(this: Gd<Self>, ipv6: bool) {
        this.bind().state().settings.ipv6 = ipv6;
    }

    #[func]
    fn is_discover_ipv6(&self) -> bool {
        self.state().settings.ipv6
    }

    /// The addon's version, e.g. [code]"0.1.0"[/code] (the release it comes from; also
    /// the [code]; version[/code] line of [code]godot-upnp.gdextension[/code]). An
    /// addition: the engine's class has no equivalent.
    #[func]
    fn get_version() -> GString {
        GString::from(env!("CARGO_PKG_VERSION"))
    }
}
