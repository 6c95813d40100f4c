//! `ANY /api/v2/{name}[/{*rest}]`: the request goes to the service's component, which sees the
//! path below the mount and `x-forwarded-prefix`; and the app of `kiln serve --app` at `/`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use http::HeaderValue;
use http_body_util::BodyExt;

use crate::app::App;
use crate::http::ApiError;
use crate::kind::AppKind;

/// The body a guest reads: the client's, with errors in wasi-http's terms.
fn guest_request(
    request: Request,
) -> http::Request<impl http_body::Body<Data = bytes::Bytes, Error = wasmtime_wasi_http::Error>> {
    request
        .map(|body| body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string()))))
}

/// Token first (for `jwt_check` services), then unknown → 404, disabled → 503.
pub async fn call(State(app): State<Arc<App>>, mut request: Request) -> Result<Response, ApiError> {
    let path = request.uri().path();
    let below = path.strip_prefix("/api/v2/").unwrap_or_default();
    let (name, rest) = below.split_once('/').unwrap_or((below, ""));
    let (name, rest) = (name.to_string(), rest.to_string());
    let slot = app
        .registry
        .find(AppKind::Service, &name, super::deploy_deadline())
        .await?;
    if slot.as_ref().is_some_and(|s| s.jwt_check()) {
        crate::auth::verify(
            request.headers(),
            &app.platform()?.settings.get().jwt_secret,
        )?;
    }
    let slot = slot.ok_or_else(|| ApiError::NotFound(format!("service '{name}' not found")))?;
    if !slot.enabled() {
        return Err(ApiError::Resource(format!("service '{name}' is disabled")));
    }
    let mut target = format!("/{rest}");
    if let Some(query) = request.uri().query() {
        target.push('?');
        target.push_str(query);
    }
    *request.uri_mut() = target
        .parse()
        .map_err(|_| ApiError::Validation(format!("invalid path '{target}'")))?;
    let prefix = HeaderValue::from_str(&format!("/api/v2/{name}"))
        .map_err(|_| ApiError::Validation("invalid service name".into()))?;
    let headers = request.headers_mut();
    headers.insert("x-forwarded-prefix", prefix);
    if !headers.contains_key(http::header::HOST) {
        headers.insert(http::header::HOST, HeaderValue::from_static("localhost"));
    }
    let response = slot.deployment().handle(guest_request(request)).await?;
    Ok(response.map(axum::body::Body::new))
}

/// The app of `kiln serve --app`, at `/` (every path but `/health` and `/healthz`).
pub async fn root(State(app): State<Arc<App>>, mut request: Request) -> Result<Response, ApiError> {
    let Some(name) = &app.root_app else {
        return Err(ApiError::NotFound(format!(
            "no route for {}",
            request.uri().path()
        )));
    };
    let slot = app
        .registry
        .find(AppKind::Service, name, super::deploy_deadline())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("app '{name}' is not deployed")))?;
    if !request.headers().contains_key(http::header::HOST) {
        request
            .headers_mut()
            .insert(http::header::HOST, HeaderValue::from_static("localhost"));
    }
    let response = slot.deployment().handle(guest_request(request)).await?;
    Ok(response.map(axum::body::Body::new))
}
