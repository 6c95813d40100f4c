//! Request extractors whose rejections use Kiln's JSON error shape.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::app::App;

/// Past the limit, a body is still read (and dropped) up to this much more, so that a client that
/// sends a little too much reads the 413; beyond it the connection is closed.
const DRAIN_BYTES: usize = 64 << 10;

/// How long a client may take to send a body Kiln reads whole.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Collects a body of at most `limit` bytes (`setting` names the limit in the 413), within
/// [`BODY_TIMEOUT`] (else 408).
pub async fn collect_limited<B>(body: B, limit: usize, setting: &str) -> Result<Bytes, ApiError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    tokio::time::timeout(BODY_TIMEOUT, collect(body, limit, setting))
        .await
        .map_err(|_| {
            ApiError::RequestTimeout(format!(
                "the request body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            ))
        })?
}

async fn collect<B>(mut body: B, limit: usize, setting: &str) -> Result<Bytes, ApiError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    use http_body_util::BodyExt;
    let mut bytes = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::Validation(format!("reading the body failed: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen > limit + DRAIN_BYTES {
            break;
        }
        if seen <= limit {
            bytes.extend_from_slice(&data);
        }
    }
    if seen > limit {
        return Err(ApiError::PayloadTooLarge(format!(
            "the body is larger than {setting} ({} MiB)",
            limit >> 20
        )));
    }
    Ok(bytes.freeze())
}

/// An upload up to `max_upload_mb`. A declared length far past it is refused before reading; one
/// a little past it is read (and dropped) so that the client, still sending, reads the 413.
async fn upload(state: &Arc<App>, request: Request) -> Result<Bytes, ApiError> {
    let limit = state.platform()?.settings.get().max_upload_bytes();
    if let Some(length) = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && length > limit + DRAIN_BYTES
    {
        return Err(ApiError::PayloadTooLarge(format!(
            "the body is larger than max_upload_mb ({} MiB)",
            limit >> 20
        )));
    }
    collect_limited(request.into_body(), limit, "max_upload_mb").await
}

/// A JSON body (`application/json`, or no content type), parsed strictly.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<App>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<App>) -> Result<Self, ApiError> {
        if let Some(content_type) = request.headers().get(http::header::CONTENT_TYPE) {
            let content_type = content_type
                .to_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if !content_type.contains("json") {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "expected an application/json body, got '{content_type}'"
                )));
            }
        }
        let bytes = upload(state, request).await?;
        if bytes.is_empty() {
            return Err(ApiError::Validation(
                "the body is empty; a JSON object is expected".into(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::Validation(format!("invalid JSON body: {e}")))
    }
}

/// A raw body up to `max_upload_mb`.
pub struct RawBody(pub Bytes);

impl FromRequest<Arc<App>> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<App>) -> Result<Self, ApiError> {
        upload(state, request).await.map(RawBody)
    }
}

/// Path parameters, with rejections in Kiln's JSON error shape.
pub struct PathParam<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParam<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParam(value))
            .map_err(|rejection| {
                ApiError::Validation(format!("invalid path: {}", rejection.body_text()))
            })
    }
}
