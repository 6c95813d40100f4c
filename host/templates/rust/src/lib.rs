//! {{name}}: a wasi-http component. Kiln calls `handle` for each request.

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct App;

impl Guest for App {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_else(|| "/".into());
        let body = format!("Hello from {{name}}! {path}\n");
        let headers = Fields::from_list(&[(
            "content-type".to_string(),
            b"text/plain; charset=utf-8".to_vec(),
        )])
        .expect("valid headers");
        let response = OutgoingResponse::new(headers);
        let outgoing = response.body().expect("a body");
        ResponseOutparam::set(out, Ok(response));
        {
            let stream = outgoing.write().expect("a stream");
            stream
                .blocking_write_and_flush(body.as_bytes())
                .expect("written");
        }
        OutgoingBody::finish(outgoing, None).expect("finished");
    }
}

wasi::http::proxy::export!(App);
