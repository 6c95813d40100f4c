//! All routes, in one router.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::extract::{OriginalUri, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use http::Method;

use super::ApiError;
use super::routes::{admin, config, docs, functions, public, services};
use crate::app::App;
use crate::kind::AppKind;
use crate::metrics::RouteKind;

/// The router of a Kiln server: in platform mode Kiln's API, services and functions; with
/// `--app`, the app at `/` beside `/health` and `/healthz`.
pub fn router(app: Arc<App>) -> Router {
    let router = if app.platform.is_some() {
        platform_routes(&app)
    } else {
        Router::new()
            .route("/health", get(public::health))
            .route("/healthz", get(public::health))
            .fallback(services::root)
    };
    router
        .layer(from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

fn platform_routes(app: &Arc<App>) -> Router<Arc<App>> {
    let admin = Router::new()
        .nest("/v2/services", admin::router(AppKind::Service))
        .nest("/v2/functions", admin::router(AppKind::Function))
        .route("/v2/config", get(config::list))
        .route("/v2/config/{key}", get(config::get).put(config::set))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(app.clone(), require_admin))
        .layer(from_fn_with_state(app.clone(), on_control));
    let own = Router::new()
        .route("/health", get(public::health))
        .route("/healthz", get(public::health))
        .route(
            "/status",
            get(public::status).layer(from_fn_with_state(app.clone(), on_control)),
        )
        .route("/metrics", get(public::metrics))
        .route("/openapi.json", get(docs::openapi))
        .route("/docs", get(docs::docs))
        .route("/docs/", get(docs::docs))
        .route("/docs/assets/{file}", get(docs::asset))
        .route("/api/docs/{service}", get(docs::service_docs))
        .route("/api/docs/openapi/{service}", get(docs::service_openapi))
        .route("/functions/v2/{name}", post(functions::call))
        .nest("/admin-api", admin)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(app.clone(), super::cors::cors));
    // Services answer everything themselves, `OPTIONS` included: no CORS layer here.
    let services = Router::new()
        .route("/api/v2/{name}", any(services::call))
        .route("/api/v2/{name}/", any(services::call))
        .route("/api/v2/{name}/{*rest}", any(services::call));
    own.merge(services)
}

async fn not_found(OriginalUri(uri): OriginalUri, method: Method) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(OriginalUri(uri): OriginalUri, method: Method) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

/// Every admin route, unknown ones included, needs a valid bearer token.
async fn require_admin(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    crate::auth::verify(
        request.headers(),
        &app.platform()?.settings.get().jwt_secret,
    )?;
    Ok(next.run(request).await)
}

/// Runs the rest of the request on the control runtime (database, compiles), so that the
/// serving threads only ever run guests.
async fn on_control(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(control) = &app.control else {
        return next.run(request).await;
    };
    match control.spawn(next.run(request)).await {
        Ok(response) => response,
        Err(join) => ApiError::Internal(anyhow::anyhow!("API task failed: {join}")).into_response(),
    }
}

/// Counts every request and records its latency by route kind.
async fn observe(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let kind = route_kind(&app, request.uri().path());
    app.requests_total.fetch_add(1, Ordering::Relaxed);
    let response = next.run(request).await;
    crate::metrics::request(kind, response.status().as_u16(), started.elapsed());
    response
}

fn route_kind(app: &App, path: &str) -> RouteKind {
    if app.platform.is_none() {
        return match path {
            "/health" | "/healthz" => RouteKind::Public,
            _ => RouteKind::App,
        };
    }
    if path.starts_with("/api/v2/") {
        RouteKind::Service
    } else if path.starts_with("/functions/v2/") {
        RouteKind::Function
    } else if path.starts_with("/admin-api/") {
        RouteKind::Admin
    } else {
        RouteKind::Public
    }
}
