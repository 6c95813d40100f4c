//! Request extractors whose rejections use Kiln's JSON error shape.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::api::AppState;
use crate::error::ApiError;

/// Reads the whole body, refusing more than `max_upload_mb` with 413.
pub async fn read_body(state: &AppState, request: Request) -> Result<Bytes, ApiError> {
    let limit = state.platform.settings().max_upload_bytes();
    if let Some(length) = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && length > limit
    {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| too_large(limit))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the body is larger than max_upload_mb ({} MiB)",
        limit >> 20
    ))
}

/// A JSON body (`application/json`, or no content type), parsed strictly.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
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
        let bytes = read_body(state, request).await?;
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

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        read_body(state, request).await.map(RawBody)
    }
}
