//! The errors Kiln reports over HTTP, mapped to status codes in one place.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::server::Body;

/// An error that becomes an HTTP response `{"error": kind, "message": ...}`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Bad input (400).
    #[error("{0}")]
    Validation(String),
    /// A problem in the uploaded source, with its position (400).
    #[error("{message}")]
    Source {
        /// `file:line:col: message`.
        message: String,
        /// 1-based line, 0 when unknown.
        line: u32,
        /// 1-based column, 0 when unknown.
        column: u32,
    },
    /// Missing or invalid credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// No such route or deployment (404).
    #[error("{0}")]
    NotFound(String),
    /// The route exists, not with this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The name is taken (409).
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than `max_upload_mb` (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body is not in a format the route accepts (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The guest threw or trapped (500).
    #[error("{0}")]
    Execution(String),
    /// A function threw (500), with the JS stack.
    #[error("{message}")]
    Thrown {
        /// `Name: message`.
        message: String,
        /// The stack, if any.
        stack: Option<String>,
    },
    /// Disabled, out of memory or out of instances (503).
    #[error("{0}")]
    Resource(String),
    /// Past the deadline (504).
    #[error("{0}")]
    Timeout(String),
    /// A failure inside Kiln; the details are logged, not sent (500).
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::Source { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Execution(_) | ApiError::Thrown { .. } | ApiError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::Resource(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The `error` field.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::Validation(_) | ApiError::Source { .. } => "ValidationError",
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::NotFound(_) => "NotFound",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::Conflict(_) => "Conflict",
            ApiError::PayloadTooLarge(_) => "PayloadTooLarge",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Execution(_) | ApiError::Thrown { .. } => "ExecutionError",
            ApiError::Resource(_) => "ResourceError",
            ApiError::Timeout(_) => "TimeoutError",
            ApiError::Internal(_) => "InternalError",
        }
    }

    /// The JS stack of a thrown error.
    pub fn stack(&self) -> Option<&str> {
        match self {
            ApiError::Thrown { stack, .. } => stack.as_deref(),
            _ => None,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "error": self.kind(), "message": self.to_string() });
        match self {
            ApiError::Source { line, column, .. } => {
                body["line"] = (*line).into();
                body["column"] = (*column).into();
            }
            ApiError::Thrown { stack, .. } => {
                body["retryable"] = false.into();
                if let Some(stack) = stack {
                    body["stack"] = stack.clone().into();
                }
            }
            ApiError::Execution(_) | ApiError::Resource(_) | ApiError::Timeout(_) => {
                body["retryable"] =
                    matches!(self, ApiError::Resource(_) | ApiError::Timeout(_)).into();
            }
            _ => {}
        }
        body
    }

    /// The HTTP response.
    pub fn into_response(self) -> http::Response<Body> {
        crate::metrics::error(self.kind());
        if let ApiError::Internal(error) = &self {
            tracing::error!(error = format!("{error:#}"), "internal error");
        }
        let mut response = http::Response::new(
            Full::new(Bytes::from(self.to_json().to_string()))
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        ApiError::Internal(error)
    }
}
