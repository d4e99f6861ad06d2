//! Keeping our bugs out of the engine: a panic in a script's call or in a worker thread is
//! caught and becomes one error line naming it, instead of unwinding into Godot.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

// Both are `const` already: clippy's missing_const_for_thread_local still fires on the
// targets whose thread locals are the OS's (Android, Windows gnu), a false positive.
thread_local! {
    /// Whether this thread is inside [`catch`] (the hook then stays quiet).
    #[allow(clippy::missing_const_for_thread_local)]
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic caught on this thread happened.
    #[allow(clippy::missing_const_for_thread_local)]
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`; a panic becomes `Err` holding the line to print:
/// `internal error in godot-upnp (please report it): <message> (at <file>:<line>)`.
/// While `f` runs, the process's panic hook (gdext's prints its own error line) stays
/// quiet on this thread, so the caught panic is reported once, by the caller.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let outer = CATCHING.replace(true);
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.set(outer);
    outcome.map_err(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        let at = LOCATION.take().map(|l| format!(" (at {l})")).unwrap_or_default();
        // One line, whatever the panic's message held.
        format!("internal error in godot-upnp (please report it): {what}{at}").replace(['\r', '\n'], " ")
    })
}

/// Wraps the current panic hook once: panics inside [`catch`] only record their location;
/// every other panic goes to the previous hook as before.
fn install_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if CATCHING.get() {
                LOCATION.set(info.location().map(|l| format!("{}:{}", l.file(), l.line())));
            } else {
                previous(info);
            }
        }));
    });
}

/// Fault injection for the headless-Godot suites (debug builds only): the environment
/// variable `GODOT_UPNP_TEST_PANICS=N` makes the next N calls to this panic, so a suite can
/// show that a panic reaches a script as `UNKNOWN_ERROR` and that the object stays
/// usable. Release builds never panic here.
pub fn injected_for_tests() {
    #[cfg(debug_assertions)]
    {
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicU32, Ordering};
        static LEFT: OnceLock<AtomicU32> = OnceLock::new();
        let left = LEFT.get_or_init(|| {
            AtomicU32::new(std::env::var("GODOT_UPNP_TEST_PANICS").ok().and_then(|v| v.parse().ok()).unwrap_or(0))
        });
        if left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
            panic!("a panic injected by GODOT_UPNP_TEST_PANICS");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_one_line_with_its_message_and_place() {
        let line = catch(|| panic!("index out of bounds")).unwrap_err();
        assert!(
            line.starts_with("internal error in godot-upnp (please report it): index out of bounds (at "),
            "{line}"
        );
        assert!(line.contains("panic_guard.rs:"), "{line}");
        let formatted = catch(|| panic!("port {}\nsecond line", 7)).unwrap_err();
        assert!(formatted.contains("port 7 second line"), "{formatted}");
        assert_eq!(catch(|| 5), Ok(5));
        // Nested: the inner catch leaves the outer one in charge.
        let nested = catch(|| {
            let inner = catch(|| panic!("inner"));
            assert!(inner.is_err());
            panic!("outer")
        });
        assert!(nested.unwrap_err().contains(": outer (at "));
    }
}
