//! Request bodies bounded while they stream: past the limit the reader gets an error and the
//! request is answered 413 (the connection is then closed, so nothing more is read).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::ApiError;

/// `inner` bounded to `limit` bytes: past it the reader gets an error, and `exceeded` says so.
pub fn limited<B>(
    inner: B,
    limit: usize,
    exceeded: Arc<AtomicBool>,
) -> impl Body<Data = Bytes, Error = wasmtime_wasi_http::Error> + Send + 'static
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Limited::new(inner, limit).map_err(move |error| {
        let message = if error.is::<LengthLimitError>() {
            exceeded.store(true, Ordering::Relaxed);
            "the request body is larger than max_request_mb".to_string()
        } else {
            error.to_string()
        };
        wasmtime_wasi_http::Error::InternalError(Some(message))
    })
}

/// 413 at once when the declared length is over `limit`.
pub fn check_length(headers: &http::HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// The 413 for a request body over `limit`.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the request body is larger than max_request_mb ({} MiB)",
        limit >> 20
    ))
}
