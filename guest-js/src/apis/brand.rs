//! Checking whether a JS object is an instance of one of the engine's Rust classes.
//!
//! `Class::from_object` asks QuickJS for the object's opaque pointer with `JS_GetOpaque2`, which
//! creates a `TypeError` (with its stack trace) for every object of another class before the
//! answer is thrown away. Init dictionaries are plain objects, so `new Response(body, { headers:
//! {...} })` paid for one per call. Every plain Rust class shares one QuickJS class id;
//! [`downcast`] refuses an object with another class id before asking for its pointer.

use std::cell::Cell;

use rquickjs::class::{ClassKind, JsClass};
use rquickjs::{Class, Object};

thread_local! {
    /// The QuickJS class id shared by the plain Rust classes (0 until [`register`] ran).
    static RUST_CLASS_ID: Cell<u32> = const { Cell::new(0) };
}

fn class_id(object: &Object<'_>) -> u32 {
    // SAFETY: `JS_GetClassID` only reads the class id of the value, which `object` keeps alive.
    #[expect(unsafe_code, reason = "reading an object's QuickJS class id")]
    unsafe {
        rquickjs::qjs::JS_GetClassID(object.as_raw())
    }
}

/// Learns the plain Rust classes' class id from `probe`, an instance of one of them.
pub fn register<'js, C: JsClass<'js>>(probe: &Class<'js, C>) {
    RUST_CLASS_ID.set(class_id(probe.as_inner()));
}

/// `object` as an instance of the Rust class `C`, or `None` when it is not one.
pub fn downcast<'js, C: JsClass<'js>>(object: &Object<'js>) -> Option<Class<'js, C>> {
    let known = RUST_CLASS_ID.get();
    if C::KIND == ClassKind::Plain && known != 0 && class_id(object) != known {
        return None;
    }
    Class::<C>::from_object(object)
}
