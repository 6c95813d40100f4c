//! One log line per request, written when its response body is done (streams included): request
//! id, route kind, app name and version, method, path, status, bytes, duration, isolation. The
//! id is returned as `x-request-id` (a well-formed incoming one is kept) and tags the guest's
//! console lines.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Version};
use http_body::{Body as _, Frame, SizeHint};

use crate::config::Isolation;
use crate::kind::AppKind;
use crate::logging::LogFormat;
use crate::metrics::RouteKind;
use crate::runtime::Deployment;
use crate::runtime::app_log::AppLog;

mod line;

use line::Line;

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
    /// The app's log on the node, which gets the line too.
    log: Option<Arc<AppLog>>,
}

impl Served {
    /// `deployment`, serving as a `kind`.
    pub fn new(kind: AppKind, deployment: &Deployment) -> Self {
        Self {
            kind,
            name: deployment.name.clone(),
            version: deployment.version,
            isolation: deployment.effective_isolation(),
            log: deployment.spec.capabilities.console.log().cloned(),
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
}
