//! A key-value app over `wasi:keyvalue` (store `default`, or `?store=NAME`):
//!
//! - `GET /{key}`: the value, or 404
//! - `PUT /{key}` (body): sets it; `DELETE /{key}`: removes it
//! - `POST /{key}`: increments it by one (`atomics`), answers the new number
//! - `GET /`: every key, one per line (`list-keys`, all pages)
//! - `POST /_batch`: `set-many` a=1, b=2, then `get-many` [a, b, missing]
//! - `GET /_config/{key}`: the app's variable through `wasi:config/store` (404 when unset);
//!   `GET /_config`: every variable's name, one per line; `GET /_env/{key}`: the same variable
//!   through the environment (`wasi:cli/environment`)
//!
//! An error of the host's (a store not granted, a limit) answers 500 with its debug text.

mod bindings {
    wit_bindgen::generate!({ path: "../../wit/deps/keyvalue", world: "wasi:keyvalue/imports" });
}

mod config {
    wit_bindgen::generate!({ path: "../../wit/deps/config", world: "wasi:config/imports" });
}

use bindings::wasi::keyvalue::{atomics, batch, store};
use config::wasi::config::store as variables;
use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Kv;

fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let Ok(body) = request.consume() else {
        return Vec::new();
    };
    let Ok(stream) = body.stream() else {
        return Vec::new();
    };
    let mut bytes = Vec::new();
    while let Ok(chunk) = stream.blocking_read(64 * 1024) {
        bytes.extend_from_slice(&chunk);
    }
    drop(stream);
    bytes
}

fn answer(request: &IncomingRequest) -> Result<(u16, Vec<u8>), store::Error> {
    let target = request.path_with_query().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let name = query
        .split('&')
        .find_map(|p| p.strip_prefix("store="))
        .unwrap_or("default");
    let key = path.trim_start_matches('/').to_string();
    if let Some(answer) = variable(&key) {
        return Ok(answer);
    }
    let bucket = store::open(name)?;
    Ok(match (request.method(), key.as_str()) {
        (Method::Get, "") => {
            let mut keys = Vec::new();
            let mut cursor = None;
            loop {
                let page = bucket.list_keys(cursor)?;
                keys.extend(page.keys);
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            (200, keys.join("\n").into_bytes())
        }
        (Method::Post, "_batch") => {
            batch::set_many(
                &bucket,
                &[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())],
            )?;
            let got = batch::get_many(&bucket, &["a".into(), "b".into(), "missing".into()])?;
            let text: Vec<String> = got
                .into_iter()
                .map(|pair| match pair {
                    Some((k, v)) => format!("{k}={}", String::from_utf8_lossy(&v)),
                    None => "none".into(),
                })
                .collect();
            (200, text.join(",").into_bytes())
        }
        (Method::Get, key) => match bucket.get(key)? {
            Some(value) => (200, value),
            None => (404, b"not found".to_vec()),
        },
        (Method::Put, key) => {
            bucket.set(key, &read_body(request))?;
            (204, Vec::new())
        }
        (Method::Delete, key) => {
            bucket.delete(key)?;
            (204, Vec::new())
        }
        (Method::Post, key) => (
            200,
            atomics::increment(&bucket, key, 1)?
                .to_string()
                .into_bytes(),
        ),
        _ => (405, b"method not allowed".to_vec()),
    })
}

/// The answer of a `/_config` or `/_env` path, if it is one.
fn variable(path: &str) -> Option<(u16, Vec<u8>)> {
    let found = |value: Option<String>| match value {
        Some(value) => (200, value.into_bytes()),
        None => (404, b"not set".to_vec()),
    };
    if path == "_config" {
        return Some(match variables::get_all() {
            Ok(all) => {
                let mut names: Vec<String> = all.into_iter().map(|(name, _)| name).collect();
                names.sort();
                (200, names.join("\n").into_bytes())
            }
            Err(error) => (500, format!("{error:?}").into_bytes()),
        });
    }
    if let Some(key) = path.strip_prefix("_config/") {
        return Some(match variables::get(key) {
            Ok(value) => found(value),
            Err(error) => (500, format!("{error:?}").into_bytes()),
        });
    }
    path.strip_prefix("_env/")
        .map(|key| found(std::env::var(key).ok()))
}

impl Guest for Kv {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let (status, body) =
            answer(&request).unwrap_or_else(|e| (500, format!("{e:?}").into_bytes()));
        let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
            .expect("headers");
        let response = OutgoingResponse::new(headers);
        response.set_status_code(status).expect("status");
        let outgoing = response.body().expect("body");
        ResponseOutparam::set(out, Ok(response));
        {
            let stream = outgoing.write().expect("stream");
            for chunk in body.chunks(4096) {
                stream.blocking_write_and_flush(chunk).expect("write");
            }
        }
        OutgoingBody::finish(outgoing, None).expect("finish");
    }
}

wasi::http::proxy::export!(Kv);
