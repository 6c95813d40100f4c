//! Request bodies bounded while they stream: past the limit the reader gets an error and the
//! request is answered 413 (the connection is then closed, so nothing more is read).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::ApiError;

/// A body that fails once more than `limit` bytes have come, and says so in `exceeded`.
pub struct Limited<B> {
    inner: B,
    remaining: usize,
    exceeded: Arc<AtomicBool>,
}

impl<B> Limited<B> {
    /// Bounds `inner` to `limit` bytes; `exceeded` is set when it goes past.
    pub fn new(inner: B, limit: usize, exceeded: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            remaining: limit,
            exceeded,
        }
    }
}

impl<B> Body for Limited<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(error))) => {
                return Poll::Ready(Some(Err(wasmtime_wasi_http::Error::InternalError(Some(
                    error.to_string(),
                )))));
            }
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        if let Some(data) = frame.data_ref() {
            if data.len() > self.remaining {
                self.exceeded.store(true, Ordering::Relaxed);
                self.remaining = 0;
                return Poll::Ready(Some(Err(wasmtime_wasi_http::Error::InternalError(Some(
                    "the request body is larger than max_request_mb".into(),
                )))));
            }
            self.remaining -= data.len();
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
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
