//! The classes scripts use. Each `#[func]` converts types and delegates to
//! `upnp_core::engine`; the helpers here turn its outcomes into return codes and one
//! line on the engine's error channel.

pub mod device;
pub mod port_mapper;
pub mod upnp;

use godot::prelude::*;
use std::sync::{Mutex, MutexGuard};
use upnp_core::engine::{Failure, Outcome};
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
pub(crate) fn result_code(outcome: Outcome<()>) -> i32 {
    match outcome {
        Ok(()) => UpnpResult::Success.code(),
        Err(failure) => {
            report(&failure);
            failure.result.code()
        }
    }
}
