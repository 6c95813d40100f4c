//! `GET /?url=http://host:port/path` makes one outgoing GET and answers `<status> <body>`, or
//! `denied: <error>` when the host refuses the request (Kiln does unless the service's `net`
//! permission grants that host).

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse, ResponseOutparam,
    Scheme,
};
use wasi::io::streams::StreamError;

struct Fetch;

fn target(request: &IncomingRequest) -> Option<(Scheme, String, String)> {
    let query = request.path_with_query()?;
    let url = query.split_once("url=")?.1;
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        (Scheme::Http, url.strip_prefix("http://")?)
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some((scheme, authority.to_string(), path.to_string()))
}

fn fetch(scheme: Scheme, authority: &str, path: &str) -> Result<String, String> {
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "bad authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "bad path")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("denied: {e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken")?
        .map_err(|e| format!("denied: {e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|()| "body taken")?;
    let stream = body.stream().map_err(|()| "stream taken")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(16 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
    Ok(format!("{status} {}", String::from_utf8_lossy(&bytes)))
}

impl Guest for Fetch {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let text = match target(&request) {
            Some((scheme, authority, path)) => {
                fetch(scheme, &authority, &path).unwrap_or_else(|e| e)
            }
            None => "usage: /?url=http://host:port/path".to_string(),
        };
        let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
            .expect("headers");
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("body");
        ResponseOutparam::set(out, Ok(response));
        {
            let stream = body.write().expect("stream");
            stream
                .blocking_write_and_flush(text.as_bytes())
                .expect("write");
        }
        OutgoingBody::finish(body, None).expect("finish");
    }
}

wasi::http::proxy::export!(Fetch);
