//! Kiln's JavaScript engine guest.
//!
//! A QuickJS runtime (through `javy`) compiled to a WebAssembly component that exports
//! `wasi:http/incoming-handler`. The host either pre-initialises it with an app (`init`, then a
//! snapshot) or hands it QuickJS bytecode on standard input; see `wit/engine.wit`.

mod apis;
mod body;
mod engine;
mod errors;
mod function;
mod http;

/// Bindings generated from the top-level `wit/` folder.
#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "kiln:engine/engine",
        generate_all,
    });
}

use bindings::exports::wasi::http::incoming_handler;
use bindings::wasi::http::types::{IncomingRequest, ResponseOutparam};
use errors::SourceError;

/// The component's exports.
pub struct Component;

impl bindings::Guest for Component {
    fn init(name: String, source: String, kind: String) -> Result<(), SourceError> {
        engine::init(&name, &source, engine::Kind::parse(&kind))
    }

    fn compile(name: String, source: String, kind: String) -> Result<Vec<u8>, SourceError> {
        engine::compile(&name, &source, engine::Kind::parse(&kind))
    }
}

impl incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        http::handle(request, response_out);
    }
}

bindings::export!(Component with_types_in bindings);
