//! Key-value operations as HTTP: what the JavaScript engine sends to `http://kv.kiln.internal/`
//! (answered in the process, no socket) and what operators use under
//! `/admin-api/v2/{services|functions}/{name}/kv/`.
//!
//! | request | answer |
//! |---|---|
//! | `GET /{store}/{key}` | 200 with the value; `etag`, `kiln-kv-metadata`, `kiln-kv-expiration`; 404 |
//! | `PUT /{store}/{key}` (body: the value) | 204; 412 when `if-match` / `if-none-match: *` fails |
//! | `DELETE /{store}/{key}` | 204 |
//! | `POST /{store}/{key}?increment=N` | 200 with the new number |
//! | `GET /{store}?prefix=&cursor=&limit=` | 200 `{"keys":[{"name","expiration","metadata"}],"list_complete","cursor"}` |
//!
//! Keys are percent-encoded in the path; metadata is JSON, percent-encoded in its header;
//! expirations are seconds since the epoch (`kiln-kv-expiration`) or from now
//! (`kiln-kv-expiration-ttl`); an `etag` is the quoted hex sha256 of the value.

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::Digest as _;

use super::{Kv, KvApp, KvFault, MAX_LIST};
use crate::store::kv::{Entry, Expect, now_secs};

/// Metadata of a value (percent-encoded JSON).
pub const METADATA: &str = "kiln-kv-metadata";
/// When a value expires, in seconds since the epoch.
pub const EXPIRATION: &str = "kiln-kv-expiration";
/// When a value expires, in seconds from now (requests only).
pub const EXPIRATION_TTL: &str = "kiln-kv-expiration-ttl";

/// Whose stores a request reaches.
#[derive(Clone, Copy)]
pub enum Caller<'a> {
    /// An app: only the stores it was granted.
    App(&'a Kv),
    /// An operator: every store of the app.
    Operator(&'a KvApp),
}

impl<'a> Caller<'a> {
    fn open(self, store: &str) -> Result<&'a KvApp, KvFault> {
        match self {
            Caller::App(kv) => kv.open(store).map(|app| &**app),
            Caller::Operator(app) => Ok(app),
        }
    }
}

impl KvFault {
    /// The status and error name a fault is answered with.
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            KvFault::NotGranted(_) => (StatusCode::FORBIDDEN, "KvNotGranted"),
            KvFault::Invalid(_) => (StatusCode::BAD_REQUEST, "KvInvalid"),
            KvFault::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "KvTooLarge"),
            KvFault::Quota(_) => (StatusCode::INSUFFICIENT_STORAGE, "KvQuotaExceeded"),
            KvFault::NotANumber(_) => (StatusCode::CONFLICT, "KvNotANumber"),
            KvFault::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "KvUnavailable"),
        }
    }
}

/// Answers one request; `path` is what follows the prefix (`/{store}/{key}`).
pub async fn serve(
    caller: Caller<'_>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Bytes> {
    match answer(caller, method, path, query, headers, body).await {
        Ok(response) => response,
        Err(fault) => {
            let (status, name) = fault.status();
            let body = serde_json::json!({ "error": name, "message": fault.to_string() });
            json(status, &body)
        }
    }
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(body.to_string()))
        .expect("a valid response")
}

fn empty(status: StatusCode) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .body(Bytes::new())
        .expect("a valid response")
}

fn decode(text: &str, what: &str) -> Result<String, KvFault> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| KvFault::Invalid(format!("the {what} is not percent-encoded UTF-8")))
}

/// The value of query parameter `name`.
fn param(query: Option<&str>, name: &str) -> Result<Option<String>, KvFault> {
    for pair in query.unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == name {
            return decode(&value.replace('+', " "), name).map(Some);
        }
    }
    Ok(None)
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, KvFault> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| KvFault::Invalid(format!("the {name} header is not text")))
        })
        .transpose()
}

/// The `etag` of a value.
pub fn etag(value: &[u8]) -> String {
    format!("\"{}\"", hex::encode(sha2::Sha256::digest(value)))
}

fn expect(headers: &HeaderMap) -> Result<Expect, KvFault> {
    if let Some(tag) = header(headers, "if-match")? {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(tag.trim().trim_matches('"'), &mut digest)
            .map_err(|_| KvFault::Invalid("if-match must be an etag the store gave".into()))?;
        return Ok(Expect::Sha256(digest));
    }
    match header(headers, "if-none-match")? {
        Some("*") => Ok(Expect::Absent),
        Some(_) => Err(KvFault::Invalid("if-none-match may only be '*'".into())),
        None => Ok(Expect::Any),
    }
}

fn expiry(headers: &HeaderMap) -> Result<Option<i64>, KvFault> {
    let number = |name: &str| -> Result<Option<i64>, KvFault> {
        header(headers, name)?
            .map(|text| {
                text.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        KvFault::Invalid(format!("{name} must be a positive number of seconds"))
                    })
            })
            .transpose()
    };
    let now = now_secs();
    let at = match (number(EXPIRATION)?, number(EXPIRATION_TTL)?) {
        (Some(at), _) => Some(at),
        (None, Some(ttl)) => Some(now.saturating_add(ttl)),
        (None, None) => None,
    };
    if at.is_some_and(|at| at <= now) {
        return Err(KvFault::Invalid(
            "the expiration must be in the future (seconds since the epoch)".into(),
        ));
    }
    Ok(at)
}

async fn answer(
    caller: Caller<'_>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response<Bytes>, KvFault> {
    let path = path.trim_start_matches('/');
    let (store, key) = match path.split_once('/') {
        Some((store, key)) if !key.is_empty() => (store, Some(decode(key, "key")?)),
        Some((store, _)) => (store, None),
        None => (path, None),
    };
    let stores = caller.open(store)?;
    let Some(key) = key else {
        if method != Method::GET {
            return Err(KvFault::Invalid(format!(
                "{method} needs a key: /{store}/{{key}}"
            )));
        }
        return list(stores, store, query).await;
    };
    match *method {
        Method::GET | Method::HEAD => {
            let Some(entry) = stores.get(store, &key).await? else {
                return Ok(json(
                    StatusCode::NOT_FOUND,
                    &serde_json::json!({"error": "KvNotFound", "message": format!("no key '{key}'")}),
                ));
            };
            let mut response = Response::builder()
                .status(StatusCode::OK)
                .header(http::header::CONTENT_TYPE, "application/octet-stream")
                .header(http::header::ETAG, etag(&entry.value));
            if let Some(metadata) = &entry.metadata {
                response = response.header(
                    METADATA,
                    utf8_percent_encode(metadata, NON_ALPHANUMERIC).to_string(),
                );
            }
            if let Some(at) = entry.expires_at {
                response = response.header(EXPIRATION, at);
            }
            let body = if method == Method::HEAD {
                Bytes::new()
            } else {
                Bytes::from(entry.value)
            };
            Ok(response.body(body).expect("a valid response"))
        }
        Method::PUT => {
            let metadata = header(headers, METADATA)?
                .map(|text| decode(text, "metadata"))
                .transpose()?;
            let entry = Entry {
                value: body.to_vec(),
                metadata,
                expires_at: expiry(headers)?,
            };
            let written = stores.put(store, &key, entry, expect(headers)?).await?;
            Ok(empty(if written {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::PRECONDITION_FAILED
            }))
        }
        Method::DELETE => {
            stores.delete(store, &key).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Method::POST => {
            let delta = param(query, "increment")?
                .ok_or_else(|| KvFault::Invalid("POST needs ?increment=N".into()))?;
            let delta = delta.trim().parse::<i64>().map_err(|_| {
                KvFault::Invalid(format!("increment must be an integer, got '{delta}'"))
            })?;
            let number = stores.increment(store, &key, delta, false).await?;
            Ok(Response::builder()
                .status(StatusCode::OK)
                .header(http::header::CONTENT_TYPE, "text/plain")
                .body(Bytes::from(number.to_string()))
                .expect("a valid response"))
        }
        _ => Err(KvFault::Invalid(format!(
            "{method} is not a key-value operation (GET, PUT, DELETE, POST ?increment=)"
        ))),
    }
}

async fn list(
    stores: &KvApp,
    store: &str,
    query: Option<&str>,
) -> Result<Response<Bytes>, KvFault> {
    let prefix = param(query, "prefix")?.unwrap_or_default();
    let cursor = param(query, "cursor")?.filter(|c| !c.is_empty());
    let limit = match param(query, "limit")? {
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIST).contains(n))
            .ok_or_else(|| KvFault::Invalid(format!("limit must be from 1 to {MAX_LIST}")))?,
        None => MAX_LIST,
    };
    let mut keys = stores
        .list(store, &prefix, cursor.as_deref(), limit + 1)
        .await?;
    let complete = keys.len() <= limit as usize;
    keys.truncate(limit as usize);
    let next = (!complete)
        .then(|| keys.last().map(|k| k.key.clone()))
        .flatten();
    let keys: Vec<serde_json::Value> = keys
        .into_iter()
        .map(|k| {
            let mut key = serde_json::json!({ "name": k.key });
            if let Some(at) = k.expires_at {
                key["expiration"] = at.into();
            }
            if let Some(metadata) = k.metadata.and_then(|m| serde_json::from_str(&m).ok()) {
                key["metadata"] = metadata;
            }
            key
        })
        .collect();
    let mut body = serde_json::json!({ "keys": keys, "list_complete": complete });
    if let Some(next) = next {
        body["cursor"] = next.into();
    }
    Ok(json(StatusCode::OK, &body))
}

/// What the engine's request to `http://kv.kiln.internal/` is answered with: read (up to the
/// largest value), served from the app's granted stores, never sent anywhere.
pub async fn serve_guest(
    kv: Kv,
    request: http::Request<wasmtime_wasi_http::WasiBody>,
) -> wasmtime_wasi_http::Result<(
    Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
)> {
    use http_body_util::BodyExt;
    let (parts, body) = request.into_parts();
    let answer = match http_body_util::Limited::new(body, super::MAX_VALUE_BYTES + 1)
        .collect()
        .await
    {
        Ok(body) => {
            serve(
                Caller::App(&kv),
                &parts.method,
                parts.uri.path(),
                parts.uri.query(),
                &parts.headers,
                body.to_bytes(),
            )
            .await
        }
        Err(_) => {
            let fault = KvFault::TooLarge(format!(
                "a value may be at most {} MiB",
                super::MAX_VALUE_BYTES >> 20
            ));
            let (status, name) = fault.status();
            json(
                status,
                &serde_json::json!({ "error": name, "message": fault.to_string() }),
            )
        }
    };
    let response = answer.map(|body| {
        http_body_util::Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync()
    });
    Ok((response, Box::new(async { Ok(()) })))
}
