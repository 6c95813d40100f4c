//! Kiln's own HTTP API (everything but the service traffic): public routes, the JWT-protected
//! admin API, and the OpenAPI document describing both. One router, one error shape.

mod config;
pub mod extract;
mod functions;
mod openapi;
mod public;
mod services;

use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http::{HeaderValue, Method, StatusCode};

use crate::error::ApiError;
use crate::platform::Platform;

pub use openapi::ApiDoc;

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    /// The control plane.
    pub platform: Arc<Platform>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::metrics::error(self.kind());
        if let ApiError::Internal(error) = &self {
            tracing::error!(error = format!("{error:#}"), "internal error");
        }
        let mut response = (self.status(), axum::Json(self.to_json())).into_response();
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The router of Kiln's own API.
pub fn router(platform: Arc<Platform>) -> Router {
    let state = AppState { platform };
    let admin = Router::new()
        .route("/v2/services", get(services::list).post(services::create))
        .route(
            "/v2/services/{name}",
            get(services::get)
                .put(services::update)
                .delete(services::delete),
        )
        .route(
            "/v2/services/{name}/component",
            put(services::put_component),
        )
        .route("/v2/services/{name}/versions", get(services::versions))
        .route("/v2/services/{name}/rollback", post(services::rollback))
        .route(
            "/v2/functions",
            get(functions::list).post(functions::create),
        )
        .route(
            "/v2/functions/{name}",
            get(functions::get)
                .put(functions::update)
                .delete(functions::delete),
        )
        .route(
            "/v2/functions/{name}/component",
            put(functions::put_component),
        )
        .route("/v2/functions/{name}/versions", get(functions::versions))
        .route("/v2/functions/{name}/rollback", post(functions::rollback))
        .route("/v2/config", get(config::list))
        .route("/v2/config/{key}", get(config::get).put(config::set))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), require_admin));
    Router::new()
        .route("/health", get(public::health))
        .route("/healthz", get(public::health))
        .route("/status", get(public::status))
        .route("/metrics", get(public::metrics))
        .route("/openapi.json", get(public::openapi))
        .route("/docs", get(public::docs))
        .route("/docs/", get(public::docs))
        .route("/docs/assets/{file}", get(public::docs_asset))
        .route("/api/docs/{service}", get(public::service_docs))
        .route("/api/docs/openapi/{service}", get(public::service_openapi))
        .nest("/admin-api", admin)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), cors))
        .with_state(state)
}

async fn not_found(OriginalUri(uri): OriginalUri, method: Method) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(OriginalUri(uri): OriginalUri, method: Method) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

/// Every admin route, unknown ones included, needs a valid bearer token.
async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    crate::auth::verify(request.headers(), &state.platform.settings().jwt_secret)?;
    Ok(next.run(request).await)
}

/// Answers CORS preflights without authentication and adds the allowed origin to every answer.
async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origins = state.platform.settings().cors_origins.clone();
    let origin = request
        .headers()
        .get(http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_string);
    let allowed = match (&origin, origins.trim()) {
        (_, "*") => Some("*".to_string()),
        (Some(origin), list) if list.split(',').any(|o| o.trim() == origin) => Some(origin.clone()),
        _ => None,
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD);
    let request_headers = request
        .headers()
        .get(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let mut response = if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            http::header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
        );
        headers.insert(
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
            request_headers
                .unwrap_or_else(|| HeaderValue::from_static("authorization, content-type")),
        );
        headers.insert(
            http::header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        response
    } else {
        next.run(request).await
    };
    if let Some(value) = allowed.and_then(|a| HeaderValue::from_str(&a).ok()) {
        response
            .headers_mut()
            .insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        if origins.trim() != "*" {
            response
                .headers_mut()
                .insert(http::header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    response
}
