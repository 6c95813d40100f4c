//! A minimal wasi-http component written in Rust: answers `Hello from Rust!` with the request's
//! method and path, so tests can tell that the request reached it. `/forget` returns without
//! setting a response (keeping the response handle alive), as a buggy component might.

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Hello;

impl Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_else(|| "/".into());
        if path.starts_with("/forget") {
            std::mem::forget(out);
            return;
        }
        let body = format!("Hello from Rust! {:?} {path}\n", request.method());
        let headers = Fields::from_list(&[
            ("content-type".to_string(), b"text/plain".to_vec()),
            ("x-component".to_string(), b"hello-rust".to_vec()),
        ])
        .expect("valid headers");
        let response = OutgoingResponse::new(headers);
        let outgoing = response.body().expect("body");
        ResponseOutparam::set(out, Ok(response));
        {
            let stream = outgoing.write().expect("stream");
            stream
                .blocking_write_and_flush(body.as_bytes())
                .expect("write");
        }
        OutgoingBody::finish(outgoing, None).expect("finish");
    }
}

wasi::http::proxy::export!(Hello);
