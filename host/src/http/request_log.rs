//! One log line per request, written when its response body is done (streams included): request
//! id, route kind, app name and version, method, path, status, bytes, duration, isolation. The
//! id is returned as `x-request-id` (a well-formed incoming one is kept) and tags the guest's
//! console lines.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Version};
use http_body::{Body as _, Frame, SizeHint};

use crate::config::Isolation;
use crate::kind::AppKind;
use crate::logging::LogFormat;
use crate::metrics::RouteKind;
use crate::runtime::Deployment;

/// The header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// The longest incoming request id that is kept.
const MAX_ID_LEN: usize = 128;

/// The peer of a connection, set on each request by the listener.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Which deployment answered, set on the response by the service and function routes.
#[derive(Debug, Clone)]
pub struct Served {
    kind: AppKind,
    name: Arc<str>,
    version: u64,
    isolation: Isolation,
}

impl Served {
    /// `deployment`, serving as a `kind`.
    pub fn new(kind: AppKind, deployment: &Deployment) -> Self {
        Self {
            kind,
            name: deployment.name.clone(),
            version: deployment.version,
            isolation: deployment.effective_isolation(),
        }
    }
}

/// The incoming id if it is well-formed (1 to 128 of `A-Z a-z 0-9 - _ . : /`), else a new one.
pub fn request_id(headers: &HeaderMap) -> Arc<str> {
    let incoming = headers
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_ID_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
        });
    match incoming {
        Some(id) => Arc::from(id),
        None => Arc::from(format!("{:032x}", rand::random::<u128>())),
    }
}

/// What is known of a request before it is served.
pub struct Started {
    id: Arc<str>,
    route: RouteKind,
    method: Method,
    target: String,
    version: Version,
    at: Instant,
    /// What only the Apache format writes, noted only for it.
    combined: Option<Combined>,
}

/// The fields of Apache's combined format that the other formats leave out.
struct Combined {
    client: Option<SocketAddr>,
    referer: Option<String>,
    user_agent: Option<String>,
    wall: time::OffsetDateTime,
}

impl Started {
    /// Notes `request`'s line and headers under `id`.
    pub fn new<B>(id: Arc<str>, route: RouteKind, request: &http::Request<B>) -> Self {
        let header = |name: http::HeaderName| {
            request
                .headers()
                .get(name)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        };
        let combined = (crate::logging::format() == LogFormat::Apache).then(|| Combined {
            client: request.extensions().get::<ClientAddr>().map(|c| c.0),
            referer: header(http::header::REFERER),
            user_agent: header(http::header::USER_AGENT),
            wall: time::OffsetDateTime::now_utc(),
        });
        Self {
            id,
            route,
            method: request.method().clone(),
            target: request
                .uri()
                .path_and_query()
                .map_or_else(|| request.uri().path().to_string(), |pq| pq.to_string()),
            version: request.version(),
            at: Instant::now(),
            combined,
        }
    }

    /// `response` with the request id header, its body logging the line when it is done.
    pub fn finish(self, mut response: axum::response::Response) -> axum::response::Response {
        if let Ok(value) = HeaderValue::from_str(&self.id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        let served = response.extensions().get::<Served>().cloned();
        let status = response.status().as_u16();
        let length = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse().ok())
            .or_else(|| response.body().size_hint().exact());
        response.map(|body| {
            Body::new(Logged {
                inner: body,
                line: Some(Line {
                    started: self,
                    served,
                    status,
                    bytes: 0,
                    length,
                }),
            })
        })
    }
}

/// A response body that logs its request's line when it ends or is dropped.
struct Logged {
    inner: Body,
    line: Option<Line>,
}

struct Line {
    started: Started,
    served: Option<Served>,
    status: u16,
    bytes: u64,
    /// The body's length when it was known up front (hyper stops reading there).
    length: Option<u64>,
}

impl http_body::Body for Logged {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(line)) = (frame.data_ref(), self.line.as_mut()) {
                    line.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => {
                if let Some(line) = self.line.take() {
                    line.emit(true);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(line) = self.line.take() {
                    line.emit(false);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            // A body of known length is dropped once it is all sent, without a last poll;
            // others dropped before their end were cut short (the client went away).
            let complete = self.inner.is_end_stream() || line.length == Some(line.bytes);
            line.emit(complete);
        }
    }
}

impl Line {
    fn emit(self, complete: bool) {
        // `RUST_LOG=info,kiln::request=off` turns request lines off, in every format.
        if !tracing::enabled!(target: "kiln::request", tracing::Level::INFO) {
            return;
        }
        let duration = self.started.at.elapsed();
        match crate::logging::format() {
            LogFormat::Apache => self.apache(duration),
            _ => self.event(duration, complete),
        }
    }

    fn event(&self, duration: Duration, complete: bool) {
        let s = &self.started;
        let version;
        let (kind, name, version, isolation) = match &self.served {
            Some(served) => {
                version = served.version.to_string();
                (
                    served.kind.as_str(),
                    &*served.name,
                    version.as_str(),
                    served.isolation.as_str(),
                )
            }
            None => (s.route.as_str(), "-", "-", "-"),
        };
        let fields = Fields {
            request_id: &s.id,
            kind,
            name,
            version,
            method: s.method.as_str(),
            path: &s.target,
            status: self.status,
            bytes: self.bytes,
            duration_us: duration.as_micros() as u64,
            isolation,
            complete,
        };
        match crate::logging::events() {
            Some(out) if fields.is_plain() => {
                let line = match crate::logging::format() {
                    LogFormat::Json => fields.json(std::time::SystemTime::now()),
                    _ => fields.text(std::time::SystemTime::now()),
                };
                let _ = std::io::Write::write_all(&mut out.clone(), line.as_bytes());
            }
            _ => fields.trace(),
        }
    }

    /// The combined log format, then the request id and the duration in seconds (as nginx's
    /// `$request_id $request_time`), on standard output.
    fn apache(&self, duration: Duration) {
        let s = &self.started;
        let Some(c) = &s.combined else {
            return;
        };
        let time = c
            .wall
            .format(APACHE_TIME)
            .unwrap_or_else(|_| "-".to_string());
        let quoted = |value: &Option<String>| match value {
            Some(value) => escape(value),
            None => "-".to_string(),
        };
        let bytes = if self.bytes == 0 {
            "-".to_string()
        } else {
            self.bytes.to_string()
        };
        let line = format!(
            "{} - - [{time}] \"{} {} {:?}\" {} {bytes} \"{}\" \"{}\" {} {:.6}\n",
            c.client
                .map_or_else(|| "-".to_string(), |addr| addr.ip().to_string()),
            s.method,
            escape(&s.target),
            s.version,
            self.status,
            quoted(&c.referer),
            quoted(&c.user_agent),
            s.id,
            duration.as_secs_f64(),
        );
        crate::logging::access(&line);
    }
}

const APACHE_TIME: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
);

/// `value` with quotes, backslashes and control bytes escaped, as Apache writes them.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32 & 0xff)),
            c => out.push(c),
        }
    }
    out
}

/// A request line's fields, as the `kiln::request` event carries them.
///
/// The event costs as much as a small guest's request when tracing formats it, so plain lines
/// (the usual case) are written here in exactly the subscriber's text or JSON layout, and the
/// rest go through tracing.
struct Fields<'a> {
    request_id: &'a str,
    kind: &'a str,
    name: &'a str,
    version: &'a str,
    method: &'a str,
    path: &'a str,
    status: u16,
    bytes: u64,
    duration_us: u64,
    isolation: &'a str,
    complete: bool,
}

impl Fields<'_> {
    /// Whether every text field is printable ASCII without quotes or backslashes, so that it
    /// reads the same with or without escaping.
    fn is_plain(&self) -> bool {
        [
            self.request_id,
            self.kind,
            self.name,
            self.version,
            self.method,
            self.path,
            self.isolation,
        ]
        .iter()
        .all(|field| {
            field
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        })
    }

    /// The event, through the global subscriber.
    fn trace(&self) {
        tracing::info!(
            target: "kiln::request",
            request_id = %self.request_id,
            kind = self.kind,
            name = self.name,
            version = %self.version,
            method = %self.method,
            path = %self.path,
            status = self.status,
            bytes = self.bytes,
            duration_us = self.duration_us,
            isolation = self.isolation,
            complete = self.complete,
            "request"
        );
    }

    /// The fields in the event's order, as the subscriber records them.
    fn values(&self) -> [(&'static str, Value<'_>); 11] {
        [
            ("request_id", Value::Shown(self.request_id)),
            ("kind", Value::Text(self.kind)),
            ("name", Value::Text(self.name)),
            ("version", Value::Shown(self.version)),
            ("method", Value::Shown(self.method)),
            ("path", Value::Shown(self.path)),
            ("status", Value::Number(self.status.into())),
            ("bytes", Value::Number(self.bytes)),
            ("duration_us", Value::Number(self.duration_us)),
            ("isolation", Value::Text(self.isolation)),
            ("complete", Value::Bool(self.complete)),
        ]
    }

    /// The subscriber's text line (without colours).
    fn text(&self, now: std::time::SystemTime) -> String {
        let mut line = Out(String::with_capacity(256 + self.path.len()));
        line.time(now);
        line.put("  INFO kiln::request: request");
        for (name, value) in self.values() {
            line.put(" ");
            line.put(name);
            line.put("=");
            match value {
                Value::Text(text) => line.quoted(text),
                Value::Shown(text) => line.put(text),
                Value::Number(n) => line.num(n),
                Value::Bool(b) => line.put(if b { "true" } else { "false" }),
            }
        }
        line.put("\n");
        line.0
    }

    /// The subscriber's JSON line.
    fn json(&self, now: std::time::SystemTime) -> String {
        let mut line = Out(String::with_capacity(320 + self.path.len()));
        line.put("{\"timestamp\":\"");
        line.time(now);
        line.put("\",\"level\":\"INFO\",\"fields\":{\"message\":\"request\"");
        for (name, value) in self.values() {
            line.put(",");
            line.quoted(name);
            line.put(":");
            match value {
                Value::Text(text) | Value::Shown(text) => line.quoted(text),
                Value::Number(n) => line.num(n),
                Value::Bool(b) => line.put(if b { "true" } else { "false" }),
            }
        }
        line.put("},\"target\":\"kiln::request\"}\n");
        line.0
    }
}

/// A field's value, as the subscriber records it.
enum Value<'a> {
    /// A string: quoted in text lines.
    Text(&'a str),
    /// A value recorded with `%` (its `Display`): as is in text lines, a string in JSON.
    Shown(&'a str),
    /// An integer.
    Number(u64),
    /// A boolean.
    Bool(bool),
}

/// A line being written: plain text needs no escaping (see [`Fields::is_plain`]).
struct Out(String);

impl Out {
    fn put(&mut self, text: &str) {
        self.0.push_str(text);
    }

    fn quoted(&mut self, text: &str) {
        self.0.push('"');
        self.0.push_str(text);
        self.0.push('"');
    }

    fn num(&mut self, n: u64) {
        self.0.push_str(itoa::Buffer::new().format(n));
    }

    /// `n` in at least `width` digits.
    fn padded(&mut self, n: u32, width: usize) {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(n);
        for _ in digits.len()..width {
            self.0.push('0');
        }
        self.0.push_str(digits);
    }

    /// A time as the subscriber writes it: RFC 3339 in UTC, to the microsecond.
    fn time(&mut self, now: std::time::SystemTime) {
        let at = time::OffsetDateTime::from(now);
        self.padded(at.year().max(0) as u32, 4);
        self.0.push('-');
        self.padded(u8::from(at.month()).into(), 2);
        self.0.push('-');
        self.padded(at.day().into(), 2);
        self.0.push('T');
        self.padded(at.hour().into(), 2);
        self.0.push(':');
        self.padded(at.minute().into(), 2);
        self.0.push(':');
        self.padded(at.second().into(), 2);
        self.0.push('.');
        self.padded(at.microsecond(), 6);
        self.0.push('Z');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_incoming_id_is_kept_and_others_are_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("abc-123_x.y:z"));
        assert_eq!(&*request_id(&headers), "abc-123_x.y:z");
        for bad in ["has space", "quote\"", ""] {
            headers.insert(REQUEST_ID, HeaderValue::from_str(bad).expect("header"));
            let id = request_id(&headers);
            assert_eq!(id.len(), 32, "{bad}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        headers.insert(
            REQUEST_ID,
            HeaderValue::from_str(&"a".repeat(129)).expect("header"),
        );
        assert_eq!(request_id(&headers).len(), 32);
    }

    /// A `MakeWriter` keeping what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The line tracing writes for `fields`, with the timestamp of `ours` (the two are taken a
    /// moment apart).
    fn traced(fields: &Fields<'_>, json: bool, ours: &str) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone());
        let dispatch = if json {
            tracing::Dispatch::new(builder.json().finish())
        } else {
            tracing::Dispatch::new(builder.finish())
        };
        tracing::dispatcher::with_default(&dispatch, || fields.trace());
        let line = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8");
        let stamp = |line: &str| {
            let at = line.find("20").expect("a timestamp");
            line[at..at + 27].to_string()
        };
        line.replacen(&stamp(&line), &stamp(ours), 1)
    }

    #[test]
    fn plain_lines_are_written_exactly_as_the_subscriber_writes_them() {
        let served = Fields {
            request_id: "trace-42.a:b/c",
            kind: "service",
            name: "hello-app",
            version: "12",
            method: "PATCH",
            path: "/api/v2/hello-app/x/y?q=1&r=%20a",
            status: 201,
            bytes: 13,
            duration_us: 457,
            isolation: "request",
            complete: true,
        };
        let unrouted = Fields {
            kind: "public",
            name: "-",
            version: "-",
            isolation: "-",
            complete: false,
            ..served
        };
        let now = std::time::SystemTime::now();
        for fields in [&served, &unrouted] {
            assert!(fields.is_plain());
            let text = fields.text(now);
            assert_eq!(text, traced(fields, false, &text));
            let json = fields.json(now);
            assert_eq!(json, traced(fields, true, &json));
            let parsed: serde_json::Value = serde_json::from_str(&json).expect("json");
            assert_eq!(parsed["fields"]["path"], fields.path);
        }
        let mut stamp = Out(String::new());
        stamp.time(std::time::UNIX_EPOCH + Duration::from_micros(1_700_000_000_012_345));
        assert_eq!(stamp.0, "2023-11-14T22:13:20.012345Z");
        for odd in ["/caf\u{e9}", "/a\"b", "/a\\b", "/a b", "/\u{1b}[31m"] {
            assert!(
                !Fields {
                    path: odd,
                    ..served
                }
                .is_plain(),
                "{odd}"
            );
        }
    }

    #[test]
    fn apache_fields_escape_quotes_and_control_bytes() {
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\x0a");
    }
}
