//! CORS for Kiln's own routes (public, admin, functions): preflights are answered without
//! authentication, and answers carry the allowed origin. The allowed origins are the live config
//! value `cors_origins`, which can change while the server runs. A preflight is answered `204 No
//! Content` (a layer answering `200` would change what clients see). Services answer their own
//! `OPTIONS`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode};

use crate::app::App;

/// The middleware.
pub async fn cors(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let origins = app.platform.as_ref().map_or_else(
        || "*".to_string(),
        |p| p.settings.get().cors_origins.clone(),
    );
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
    let headers = response.headers_mut();
    if let Some(value) = allowed.and_then(|a| HeaderValue::from_str(&a).ok()) {
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    // The answer depends on the origin whenever the list is not `*`, allowed or not (a cache
    // must not give one origin's answer to another); a handler's own `Vary` is kept.
    if origins.trim() != "*" {
        headers.append(http::header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}
