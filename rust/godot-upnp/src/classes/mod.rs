//! The classes scripts use. Each `#[func]` converts types and delegates to
//! `upnp_core::engine`; the helpers here turn its outcomes into return codes and one
//! line on the engine's error channel.
//!
//! Printing runs the engine's loggers on the printing thread, and a script `Logger`
//! (`OS.add_logger`) may call back into the object that prints; destroying a device runs
//! its script too. So nothing prints, and no device object is dropped, while a state lock
//! (not reentrant: a callback would deadlock) or one of our `bind()`s is held: code under
//! a lock returns its line to [`error_after_unlock`] and its displaced devices to the
//! caller. A `&self` method (those keep the engine's const flag) still runs inside gdext's
//! shared borrow of the object; a callback shares it, as no method here borrows mutably.

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

/// Runs `locked`, which takes whatever locks and binds it needs and releases them before
/// returning, then prints the error line it failed with: the one way code under a lock
/// reports (see the module documentation).
pub(crate) fn error_after_unlock<T>(locked: impl FnOnce() -> Result<T, String>) -> Option<T> {
    locked().map_err(|line| godot_error!("{line}")).ok()
}

/// Prints a failure's line: an error, or a warning for normal outcomes. Callers hold no
/// lock (actions run on a copy of the device's fields).
pub(crate) fn report(failure: &Failure) {
    if failure.warning {
        godot_warn!("{}", failure.message);
    } else {
        godot_error!("{}", failure.message);
    }
}

/// The `UPNPResult` of an outcome, reporting a failure.
pub(crate) fn result_code(outcome: Outcome<()>) -> i32 {
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
