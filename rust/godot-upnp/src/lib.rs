//! GDExtension entry point: the engine's `UPNP` / `UPNPDevice` API (as `RustUPNP` /
//! `RustUPNPDevice`, or under the engine's names with the `engine-names` feature) on the
//! pure-Rust client `upnp-core`.

mod classes;
mod registration;

// The entry point gdext requires is an `unsafe impl`; its macro drops attributes on the
// impl itself, so the allowance sits on this module.
#[allow(unsafe_code)]
mod entry {
    use godot::prelude::*;

    struct GodotUpnp;

    // SAFETY: gdext's documented entry point; nothing else here touches raw pointers.
    #[gdextension]
    unsafe impl ExtensionLibrary for GodotUpnp {
        fn on_stage_init(stage: InitStage) {
            // gdext has just registered this stage's classes; add what its macros cannot.
            if stage == InitStage::Scene {
                crate::classes::device::register();
                crate::classes::upnp::register();
            }
        }
    }
}
