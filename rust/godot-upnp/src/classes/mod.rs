//! The classes scripts use. Each `#[func]` converts types and delegates to
//! `upnp_core::engine`; the helpers here turn its outcomes into return codes and one
//! line on the engine's error channel.

pub mod device;
pub mod port_mapper;
pub mod upnp;

use godot::prelude::*;
use std::sync::{Mutex, MutexGuard};
use upnp_core::engine::{self, DeviceRecord, Failure, Outcome};
use upnp_core::protocol::result::UpnpResult;

/// Locks state, also after a panic in another call (the data is plain values, always
/// consistent between statements).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Prints a failure's line: an error, or a warning for normal outcomes.
pub(crate) fn report(failure: &Failure) {
    if failure.warning {
        godot_warn!("{}", failure.message);
    } else {
        godot_error!("{}", failure.message);
    }
}

/// The `UPNPResult` of an outcome, reporting a failure.
fn result_code(outcome: Outcome<()>) -> i32 {
    match outcome {
        Ok(()) => UpnpResult::Success.code(),
        Err(failure) => {
            report(&failure);
            failure.result.code()
        }
    }
}

/// `query_external_address` of RustUPNPDevice, and of RustUPNP on its gateway.
pub(crate) fn external_address(record: &DeviceRecord) -> GString {
    match engine::guarded(|| record.query_external_address()) {
        Ok(address) => address.as_str().into(),
        Err(failure) => {
            report(&failure);
            GString::new()
        }
    }
}

/// `add_port_mapping` of RustUPNPDevice, and of RustUPNP on its gateway.
pub(crate) fn add_mapping(
    record: &DeviceRecord,
    port: i32,
    port_internal: i32,
    desc: &GString,
    proto: &GString,
    duration: i32,
) -> i32 {
    result_code(engine::guarded(|| {
        record.add_port_mapping(
            port.into(),
            port_internal.into(),
            &desc.to_string(),
            &proto.to_string(),
            duration.into(),
        )
    }))
}

/// `delete_port_mapping` of RustUPNPDevice, and of RustUPNP on its gateway.
pub(crate) fn delete_mapping(record: &DeviceRecord, port: i32, proto: &GString) -> i32 {
    result_code(engine::guarded(|| record.delete_port_mapping(port.into(), &proto.to_string())))
}
