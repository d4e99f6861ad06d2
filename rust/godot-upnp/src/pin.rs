//! Keeps this library loaded until the process ends. When a game quits while a
//! `UPNPPortMapper` worker is inside a network step, the worker is given up to
//! `mapper::STOP_WAIT` and then left to finish by its own deadline; the engine unloads
//! extensions at quit, so without this the worker's code would be unmapped under it.
//! (The cost: the editor cannot hot-reload this extension, which it does not declare.)

/// Takes a reference to this library that is never released.
#[cfg(unix)]
pub fn pin_library() {
    let anchor = pin_library as *const libc::c_void;
    // SAFETY: dladdr only reads the loader's tables for an address inside this library;
    // dlopen of the path it returns adds a reference to the already loaded library.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(anchor, &mut info) != 0 && !info.dli_fname.is_null() {
            libc::dlopen(info.dli_fname, libc::RTLD_NOW | libc::RTLD_NODELETE);
        }
    }
}

/// Takes a reference to this library that is never released.
#[cfg(windows)]
pub fn pin_library() {
    use windows_sys::Win32::System::LibraryLoader::{
        GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, GET_MODULE_HANDLE_EX_FLAG_PIN, GetModuleHandleExW,
    };
    let mut module = std::ptr::null_mut();
    // SAFETY: with FROM_ADDRESS the "name" is an address inside this library; PIN keeps
    // the module loaded until the process ends. Nothing else is touched.
    unsafe {
        GetModuleHandleExW(
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
            pin_library as *const u16,
            &mut module,
        );
    }
}

/// Other platforms (the Web has no threads here anyway): nothing to do.
#[cfg(not(any(unix, windows)))]
pub fn pin_library() {}
