//! The state of requests while they run, in one object: the request being served (a JS `Request`
//! reads its header fields on first use) and one part per API that keeps state between calls —
//! the incoming bodies, the fetches in flight, the timers. Each API owns its part's type; the
//! scope holds one of each, made on first use, so no API keeps a global of its own.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::rc::Rc;

use crate::bindings::wasi::http::types::IncomingRequest;

#[derive(Default)]
struct Scope {
    serving: RefCell<Option<IncomingRequest>>,
    parts: RefCell<Vec<(TypeId, Rc<dyn Any>)>>,
}

thread_local! {
    // The guest is one thread: this is the instance's one scope.
    static SCOPE: Scope = Scope::default();
}

/// Runs `f` on the scope's part of type `T` (made with `T::default()` on first use). The part is
/// borrowed for the call only: `f` may use other parts, not the same one again.
pub fn with<T: Default + 'static, R>(f: impl FnOnce(&mut T) -> R) -> R {
    let part = SCOPE.with(|scope| {
        let mut parts = scope.parts.borrow_mut();
        let id = TypeId::of::<T>();
        if let Some((_, part)) = parts.iter().find(|(at, _)| *at == id) {
            return Rc::clone(part);
        }
        let part: Rc<dyn Any> = Rc::new(RefCell::new(T::default()));
        parts.push((id, Rc::clone(&part)));
        part
    });
    let cell = part
        .downcast_ref::<RefCell<T>>()
        .expect("a part is kept under its own type");
    f(&mut cell.borrow_mut())
}

/// Makes `request` the one being served.
pub fn enter(request: IncomingRequest) {
    SCOPE.with(|scope| *scope.serving.borrow_mut() = Some(request));
}

/// Ends serving, returning the request (kept alive by the caller until its response is sent).
pub fn leave() -> Option<IncomingRequest> {
    SCOPE.with(|scope| scope.serving.borrow_mut().take())
}

/// The header fields of the request being served (none outside one).
pub fn request_header_pairs() -> Vec<(String, String)> {
    SCOPE.with(|scope| {
        scope
            .serving
            .borrow()
            .as_ref()
            .map(header_pairs)
            .unwrap_or_default()
    })
}

/// `request`'s header fields, values decoded as UTF-8 (lossily).
pub fn header_pairs(request: &IncomingRequest) -> Vec<(String, String)> {
    request
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect()
}
