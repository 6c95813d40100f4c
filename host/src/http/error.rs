//! The errors Kiln answers with: one enum, one status mapping, one JSON shape
//! (`{"error": kind, "message": ...}`), and the conversions from every layer's typed errors.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};

use crate::apps::AppsError;
use crate::auth::AuthError;
use crate::deploy::DeployError;
use crate::metrics::ErrorKind;
use crate::runtime::RunError;
use crate::settings::SettingsError;
use crate::store::StoreError;

/// An error that becomes an HTTP response.
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
    /// Valid credentials that do not allow this (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such route or app (404).
    #[error("{0}")]
    NotFound(String),
    /// The route exists, not with this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The name is taken (409).
    #[error("{0}")]
    Conflict(String),
    /// The client did not send its request in time (408).
    #[error("{0}")]
    RequestTimeout(String),
    /// The body is too large (413).
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
    /// What the store holds for an app cannot be used as it is (500); the message names the app
    /// and what is damaged, for the operator who must repair or delete it.
    #[error("{0}")]
    Stored(String),
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
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Execution(_)
            | ApiError::Thrown { .. }
            | ApiError::Stored(_)
            | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Resource(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The `error` field.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Validation(_) | ApiError::Source { .. } => ErrorKind::Validation,
            ApiError::Unauthorized(_) => ErrorKind::Unauthorized,
            ApiError::Forbidden(_) => ErrorKind::Forbidden,
            ApiError::NotFound(_) => ErrorKind::NotFound,
            ApiError::MethodNotAllowed(_) => ErrorKind::MethodNotAllowed,
            ApiError::Conflict(_) => ErrorKind::Conflict,
            ApiError::RequestTimeout(_) => ErrorKind::RequestTimeout,
            ApiError::PayloadTooLarge(_) => ErrorKind::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorKind::UnsupportedMediaType,
            ApiError::Execution(_) | ApiError::Thrown { .. } => ErrorKind::Execution,
            ApiError::Resource(_) => ErrorKind::Resource,
            ApiError::Timeout(_) => ErrorKind::Timeout,
            ApiError::Stored(_) | ApiError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body =
            serde_json::json!({ "error": self.kind().as_str(), "message": self.to_string() });
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(error) = &self {
            tracing::error!(error = format!("{error:#}"), "internal error");
        }
        let mut response = (self.status(), axum::Json(self.to_json())).into_response();
        // Counted by the router's metrics layer, which owns the counters.
        response.extensions_mut().insert(self.kind());
        match self {
            ApiError::Unauthorized(_) => {
                response.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer"),
                );
            }
            // The rest of an oversized or too slow body is not read: the connection ends here.
            ApiError::PayloadTooLarge(_) | ApiError::RequestTimeout(_) => {
                response
                    .headers_mut()
                    .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

impl From<RunError> for ApiError {
    fn from(error: RunError) -> Self {
        let message = error.to_string();
        match error {
            RunError::WrongKind { .. } | RunError::NoSuchMethod { .. } => {
                ApiError::NotFound(message)
            }
            RunError::Busy { .. }
            | RunError::NoInstance { .. }
            | RunError::OutOfMemory { .. }
            | RunError::StillDeploying { .. } => ApiError::Resource(message),
            RunError::Timeout { .. } => ApiError::Timeout(message),
            RunError::Trap { .. } | RunError::NoResponse { .. } | RunError::ErrorCode { .. } => {
                ApiError::Execution(message)
            }
            RunError::Thrown { message, stack } => ApiError::Thrown { message, stack },
            RunError::Body(_) => ApiError::Validation(message),
            RunError::Internal(error) => ApiError::Internal(error),
        }
    }
}

impl From<DeployError> for ApiError {
    fn from(error: DeployError) -> Self {
        match error {
            DeployError::Source {
                message,
                line,
                column,
            } => ApiError::Source {
                message,
                line,
                column,
            },
            DeployError::InvalidComponent(message) => ApiError::Validation(message),
            DeployError::Engine(error) => ApiError::Internal(error),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Exists { .. } => ApiError::Conflict(error.to_string()),
            StoreError::NotFound { .. } => ApiError::NotFound(error.to_string()),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<AppsError> for ApiError {
    fn from(error: AppsError) -> Self {
        match error {
            AppsError::Invalid(message) => ApiError::Validation(message),
            AppsError::TooLarge(message) => ApiError::PayloadTooLarge(message),
            AppsError::Internal(error) => ApiError::Internal(error),
            AppsError::Corrupt(message) => ApiError::Stored(message),
            AppsError::Missing(message) => ApiError::NotFound(message),
            AppsError::Unavailable(message) => ApiError::Conflict(message),
            AppsError::NotFound { .. } | AppsError::NoSuchVersion { .. } => {
                ApiError::NotFound(error.to_string())
            }
            AppsError::Deploy(error) => error.into(),
            AppsError::Store(error) => error.into(),
        }
    }
}

impl From<SettingsError> for ApiError {
    fn from(error: SettingsError) -> Self {
        match error {
            SettingsError::UnknownKey(_) | SettingsError::Invalid(_) => {
                ApiError::Validation(error.to_string())
            }
            SettingsError::Store(error) => error.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Forbidden { .. } => ApiError::Forbidden(error.to_string()),
            _ => ApiError::Unauthorized(error.to_string()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        ApiError::Internal(error)
    }
}

impl From<crate::app::NotPlatform> for ApiError {
    fn from(error: crate::app::NotPlatform) -> Self {
        ApiError::NotFound(error.to_string())
    }
}
