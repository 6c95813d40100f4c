//! The request being served, which the APIs read from while it runs (a JS `Request` reads its
//! header fields on first use): set when a request arrives, taken when it is answered.

use std::cell::RefCell;

use crate::bindings::wasi::http::types::IncomingRequest;

thread_local! {
    static SERVING: RefCell<Option<IncomingRequest>> = const { RefCell::new(None) };
}

/// Makes `request` the one being served.
pub fn enter(request: IncomingRequest) {
    SERVING.with(|serving| *serving.borrow_mut() = Some(request));
}

/// Ends serving, returning the request (kept alive by the caller until its response is sent).
pub fn leave() -> Option<IncomingRequest> {
    SERVING.with(|serving| serving.borrow_mut().take())
}

/// The header fields of the request being served (none outside one).
pub fn request_header_pairs() -> Vec<(String, String)> {
    SERVING.with(|serving| {
        serving
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
