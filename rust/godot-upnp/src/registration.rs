//! What gdext 0.5.5's macros cannot express yet, done with the registration API its
//! macros expand to (`doc(hidden)`, hence `godot = "=0.5.5"`). Each piece exists so that
//! ClassDB shows exactly what the engine's own classes show:
//! - class enums (`RustUPNP.UPNPResult`, `RustUPNPDevice.IGDStatus`) with editor help;
//! - properties registered by hand: `#[var]` forces `&mut self` setters (which race under
//!   threads, see `classes`) and cannot give `igd_status` an ENUM hint with no class name;
//! - argument and return metadata: enum-typed `igd_status`, and device objects with the
//!   engine's RESOURCE_TYPE hint;
//! - methods whose argument is named `type`, a Rust keyword (`#[func]` would register
//!   `r#type`), registered with the same glue `#[func]` generates.

use godot::builtin::{GString, StringName, VariantType};
use godot::meta::error::ConvertError;
use godot::meta::shape::GodotShape;
use godot::meta::{FromGodot, GodotConvert, ToGodot};
use godot::obj::{Gd, GodotClass};
use godot::private::{__GODOT_DOCS_REGISTRY, DocsItem, DocsShard, InherentImplDocs, StructDocs};
use godot::register::info::{ParamMetadata, PropertyHint, PropertyHintInfo, PropertyUsageFlags};
use godot::register::private::constant::{ConstantKind, ExportConstant, IntegerConstant};
use std::borrow::Cow;

/// Registers a class enum and its per-value editor help.
pub fn register_enum<C: GodotClass>(enum_name: &str, values: impl Iterator<Item = (&'static str, i32, &'static str)>) {
    let values: Vec<_> = values.collect();
    ExportConstant::new(
        C::class_id(),
        ConstantKind::Enum {
            name: StringName::from(enum_name),
            enumerators: values.iter().map(|(name, value, _)| IntegerConstant::new(name, i64::from(*value))).collect(),
        },
    )
    .register();
    let xml: String = values
        .iter()
        .map(|(name, value, doc)| {
            format!(r#"<constant name="{name}" value="{value}" enum="{enum_name}">{}</constant>"#, xml_escape(doc))
        })
        .collect();
    push_docs::<C>(DocsItem::InherentImpl(InherentImplDocs {
        methods_xml: "",
        signals_xml: "",
        constants_xml: leak(xml),
    }));
}

/// One hand-registered property: name, getter, setter, hint, help text.
pub struct Property {
    pub name: &'static str,
    pub getter: &'static str,
    pub setter: &'static str,
    pub hint: Option<(PropertyHint, &'static str)>,
    pub doc: &'static str,
}

/// Registers properties of `C` (type `T` each, so call once per type) with the engine's
/// usage (STORAGE | EDITOR), after their accessor methods exist.
pub fn register_properties<C: GodotClass, T: godot::prelude::Var>(properties: &[Property]) {
    for p in properties {
        godot::register::private::register_var::<C, T>(
            p.name,
            p.getter,
            p.setter,
            p.hint.map(|(hint, hint_string)| PropertyHintInfo { hint, hint_string: GString::from(hint_string) }),
            Some(PropertyUsageFlags::STORAGE | PropertyUsageFlags::EDITOR),
        );
    }
}

/// Editor help for a class and its hand-registered properties. It replaces the docs the
/// derive macro gathered from the struct, so it carries the class description too.
pub fn register_class_docs<C: GodotClass>(base: &'static str, description: &str, properties: &[&[Property]]) {
    let members: String = properties
        .iter()
        .flat_map(|group| group.iter())
        .map(|p| format!(r#"<member name="{}" type="" default="">{}</member>"#, p.name, xml_escape(p.doc)))
        .collect();
    push_docs::<C>(DocsItem::Struct(StructDocs {
        base,
        description: leak(xml_escape(description)),
        experimental: "",
        deprecated: "",
        properties: leak(members),
    }));
}

fn push_docs<C: GodotClass>(item: DocsItem) {
    __GODOT_DOCS_REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).push(DocsShard::new::<C>(item));
}

/// Registration data lives as long as the library; leaking it once per class is intended.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Metadata of an argument or return typed as a class enum, as the engine binds it:
/// int, class name `Class.Enum`, usage CLASS_IS_ENUM.
pub fn class_enum_shape<C: GodotClass>(enum_name: &str) -> GodotShape {
    GodotShape::Custom {
        variant_type: VariantType::INT,
        var_hint: PropertyHintInfo::none(),
        export_hint: PropertyHintInfo::none(),
        class_name: Some(Cow::Owned(format!("{}.{enum_name}", C::class_id()))),
        usage_flags: PropertyUsageFlags::CLASS_IS_ENUM,
        metadata: ParamMetadata::NONE,
    }
}

/// Metadata of a `Ref<T>` argument or return as the engine binds it: OBJECT with hint
/// RESOURCE_TYPE naming the class.
pub fn object_shape<C: GodotClass>() -> GodotShape {
    let name = C::class_id().to_string();
    let hint = PropertyHintInfo { hint: PropertyHint::RESOURCE_TYPE, hint_string: GString::from(&name) };
    GodotShape::Custom {
        variant_type: VariantType::OBJECT,
        var_hint: hint.clone(),
        export_hint: hint,
        class_name: Some(Cow::Owned(name)),
        usage_flags: PropertyUsageFlags::NONE,
        metadata: ParamMetadata::NONE,
    }
}

/// A nullable object argument or return with the engine's metadata. Null arrives as
/// `None` (a plain `Gd<T>` argument would abort the calling script instead).
pub struct ObjectRef<C: GodotClass>(pub Option<Gd<C>>);

// By hand: the derives would require `C: Clone + Debug`.
impl<C: GodotClass> Clone for ObjectRef<C> {
    fn clone(&self) -> Self {
        ObjectRef(self.0.clone())
    }
}

impl<C: GodotClass> std::fmt::Debug for ObjectRef<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.as_ref().map(|gd| gd.instance_id()).fmt(f)
    }
}

impl<C: GodotClass> GodotConvert for ObjectRef<C> {
    type Via = Option<Gd<C>>;
    fn godot_shape() -> GodotShape {
        object_shape::<C>()
    }
}

impl<C: GodotClass> ToGodot for ObjectRef<C> {
    // By value (what `i64` uses; the marker type is not re-exported). `ByOption` here
    // without `to_godot_owned` recurses forever on typed calls.
    type Pass = <i64 as ToGodot>::Pass;
    fn to_godot(&self) -> Option<Gd<C>> {
        self.0.clone()
    }
}

impl<C: GodotClass> FromGodot for ObjectRef<C> {
    fn try_from_godot(via: Self::Via) -> Result<Self, ConvertError> {
        Ok(ObjectRef(via))
    }
}

/// Registers a method with explicit argument names, through the glue `#[func]` expands to.
/// `&self` methods are const (flags 5); `gd_self` ones are not (flags 1) and take no
/// borrow of the instance.
macro_rules! raw_method {
    (&self $class:ty, $method:literal, [$($arg:literal),*], $params:ty => $ret:ty, $body:expr) => {
        $crate::registration::raw_method!(@impl $class, $method,
            godot::register::info::MethodFlags::NORMAL | godot::register::info::MethodFlags::CONST,
            [$($arg),*], $params => $ret, |storage, params| {
                let f: fn(&$class, $params) -> $ret = $body;
                f(&*godot::private::Storage::get(storage), params)
            })
    };
    (gd_self $class:ty, $method:literal, [$($arg:literal),*], $params:ty => $ret:ty, $body:expr) => {
        $crate::registration::raw_method!(@impl $class, $method, godot::register::info::MethodFlags::NORMAL,
            [$($arg),*], $params => $ret, |storage, params| {
                let f: fn(godot::obj::Gd<$class>, $params) -> $ret = $body;
                f(godot::private::Storage::get_gd(storage), params)
            })
    };
    (@impl $class:ty, $method:literal, $flags:expr, [$($arg:literal),*], $params:ty => $ret:ty, $glue:expr) => {{
        use godot::private::{CallContext, Signature, as_storage, handle_fallible_ptrcall, handle_fallible_varcall};
        use godot::register::private::method::ClassMethodInfo;
        use godot::sys;
        type P = $params;
        type R = $ret;
        const CTX: CallContext<'static> = CallContext::func(stringify!($class), $method);
        #[allow(unsafe_code)]
        fn forward(instance_ptr: sys::GDExtensionClassInstancePtr, params: P) -> R {
            // SAFETY: Godot passes the instance pointer of an object of this class.
            let storage = unsafe { as_storage::<$class>(instance_ptr) };
            let glue: fn(_, P) -> R = $glue;
            glue(storage, params)
        }
        #[allow(unsafe_code)]
        unsafe extern "C" fn varcall_fn(
            _method_data: *mut std::ffi::c_void,
            instance_ptr: sys::GDExtensionClassInstancePtr,
            args_ptr: *const sys::GDExtensionConstVariantPtr,
            arg_count: sys::GDExtensionInt,
            ret: sys::GDExtensionVariantPtr,
            err: *mut sys::GDExtensionCallError,
        ) {
            // SAFETY: the pointers come from Godot's method call, as for a #[func].
            unsafe {
                handle_fallible_varcall(&CTX, &mut *err, || {
                    Signature::<P, R>::in_varcall(instance_ptr, &CTX, args_ptr, arg_count, &[], ret, err, |i, p| forward(i, p))
                })
            }
        }
        #[allow(unsafe_code)]
        unsafe extern "C" fn ptrcall_fn(
            _method_data: *mut std::ffi::c_void,
            instance_ptr: sys::GDExtensionClassInstancePtr,
            args_ptr: *const sys::GDExtensionConstTypePtr,
            ret: sys::GDExtensionTypePtr,
        ) {
            // SAFETY: as above.
            unsafe {
                handle_fallible_ptrcall(&CTX, || {
                    Signature::<P, R>::in_ptrcall(instance_ptr, &CTX, args_ptr, ret, forward, sys::PtrcallType::Standard)
                })
            }
        }
        // SAFETY: the function pointers match the signature `P -> R`.
        #[allow(unsafe_code)]
        let info = unsafe {
            ClassMethodInfo::from_signature::<$class, P, R>(
                godot::builtin::StringName::from($method), Some(varcall_fn), Some(ptrcall_fn), $flags, &[$($arg),*], vec![],
            )
        };
        info.register_extension_class_method();
    }};
}
pub(crate) use raw_method;
