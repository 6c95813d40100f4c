//! Request extractors whose rejections use Kiln's JSON error shape.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::app::App;

/// Past the limit, a body is still read (and dropped) up to this much more, so that the client
/// finishes sending and reads the 413 instead of a reset connection.
const DRAIN_BYTES: usize = 64 << 20;

/// Collects a body of at most `limit` bytes; a larger one is 413 (after draining some more of it).
pub async fn collect_limited<B>(mut body: B, limit: usize) -> Result<Bytes, ApiError>
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
            "the body is larger than max_upload_mb ({} MiB)",
            limit >> 20
        )));
    }
    Ok(bytes.freeze())
}

/// An upload up to `max_upload_mb`.
async fn upload(state: &Arc<App>, request: Request) -> Result<Bytes, ApiError> {
    let limit = state.platform()?.settings.get().max_upload_bytes();
    collect_limited(request.into_body(), limit).await
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
