//! GDExtension entry point: the engine's `UPNP` / `UPNPDevice` API (as `RustUPNP` /
//! `RustUPNPDevice`, or under the engine's names with the `engine-names` feature) on the
//! pure-Rust client `upnp-core`.

mod classes;
#[allow(unsafe_code)]
mod pin;
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
            // gdext has just registered our classes (RefCounted ones live at Core); add what
            // its macros cannot in the same stage. With `engine-names` this must happen before
            // the engine's upnp module (Scene) binds its own methods to the same class names,
            // or the module's accessors end up on our class and crash when called.
            match stage {
                InitStage::Core => {
                    crate::pin::pin_library();
                    crate::classes::device::register();
                    crate::classes::upnp::register();
                }
                // A Node class is registered at the Scene stage.
                InitStage::Scene => crate::classes::port_mapper::register(),
                _ => {}
            }
        }
    }
}
