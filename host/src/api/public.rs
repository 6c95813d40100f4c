//! Public routes: health, status, the OpenAPI document and the Swagger UI (served by Kiln itself).

use axum::Json;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::api::AppState;
use crate::api::extract::PathParam;
use crate::api::openapi::{ApiDoc, ErrorBody};
use crate::error::ApiError;
use crate::store::Family;

/// `{"status":"ok"}`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Totals of services or functions.
#[derive(Serialize, ToSchema)]
pub struct Counts {
    /// All stored.
    pub total: i64,
    /// Enabled ones.
    pub enabled: i64,
}

/// `GET /status`.
#[derive(Serialize, ToSchema)]
pub struct Status {
    /// Always `ok`.
    pub status: &'static str,
    /// Kiln's version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Services.
    pub services: Counts,
    /// Functions.
    pub functions: Counts,
    /// Requests routed since start.
    pub requests_total: u64,
    /// Instances alive (serving or idle).
    pub instances_active: usize,
}

/// Liveness.
#[utoipa::path(operation_id = "health", get, path = "/health", tag = "public", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Status and counters.
#[utoipa::path(operation_id = "status", get, path = "/status", tag = "public", responses((status = 200, body = Status)))]
pub async fn status(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    let platform = &state.platform;
    let services = platform.store.services(Family::Services).await?;
    let functions = platform.store.services(Family::Functions).await?;
    Ok(Json(Status {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: platform.started.elapsed().as_secs(),
        services: Counts {
            total: services.len() as i64,
            enabled: services.iter().filter(|s| s.enabled).count() as i64,
        },
        functions: Counts {
            total: functions.len() as i64,
            enabled: functions.iter().filter(|s| s.enabled).count() as i64,
        },
        requests_total: platform
            .requests_total
            .load(std::sync::atomic::Ordering::Relaxed),
        instances_active: platform.registry.live_instances(),
    }))
}

/// Prometheus metrics: requests by route kind and status class, a latency histogram,
/// instantiations, compile cache hits and misses, errors by kind.
#[utoipa::path(operation_id = "metrics", get, path = "/metrics", tag = "public",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = crate::metrics::render(state.platform.registry.live_instances());
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// This document.
#[utoipa::path(operation_id = "openapi", get, path = "/openapi.json", tag = "public", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    Json(doc)
}

fn swagger_page(title: &str, spec_url: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="icon" href="/docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script>window.ui = SwaggerUIBundle({{ url: "{spec_url}", dom_id: "{dom_id}", deepLinking: true }});</script>
</body>
</html>"#,
        dom_id = "#swagger-ui"
    ))
}

/// Swagger UI for Kiln's API.
#[utoipa::path(operation_id = "docs", get, path = "/docs", tag = "public", responses((status = 200, description = "Swagger UI (HTML)")))]
pub async fn docs() -> Html<String> {
    swagger_page("Kiln API", "/openapi.json")
}

const SWAGGER_JS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");
const FAVICON: &[u8] = include_bytes!("../../assets/swagger-ui/favicon-32x32.png");

/// The Swagger UI's own files, embedded in the binary so the docs work offline.
pub async fn docs_asset(PathParam(file): PathParam<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "swagger-ui-bundle.js" => (SWAGGER_JS, "text/javascript; charset=utf-8"),
        "swagger-ui.css" => (SWAGGER_CSS, "text/css; charset=utf-8"),
        "favicon-32x32.png" => (FAVICON, "image/png"),
        _ => {
            return IntoResponse::into_response(ApiError::NotFound(format!(
                "no docs asset '{file}'"
            )));
        }
    };
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

async fn stored_schema(state: &AppState, service: &str) -> Result<serde_json::Value, ApiError> {
    let row = state
        .platform
        .store
        .service(Family::Services, service)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("service '{service}' not found")))?;
    row.schema
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| ApiError::NotFound(format!("service '{service}' has no schema")))
}

/// Swagger UI for a service's own schema.
#[utoipa::path(operation_id = "serviceDocs", get, path = "/api/docs/{service}", tag = "public", params(("service" = String, Path)),
    responses((status = 200, description = "Swagger UI (HTML)"), (status = 404, body = ErrorBody)))]
pub async fn service_docs(
    State(state): State<AppState>,
    PathParam(service): PathParam<String>,
) -> Result<Html<String>, ApiError> {
    stored_schema(&state, &service).await?;
    Ok(swagger_page(
        &format!("{service} — Kiln"),
        &format!("/api/docs/openapi/{service}"),
    ))
}

/// A service's schema with `servers` pointing at its mount.
#[utoipa::path(operation_id = "serviceOpenapi", get, path = "/api/docs/openapi/{service}", tag = "public", params(("service" = String, Path)),
    responses((status = 200, description = "the service's OpenAPI document"), (status = 404, body = ErrorBody)))]
pub async fn service_openapi(
    State(state): State<AppState>,
    PathParam(service): PathParam<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut schema = stored_schema(&state, &service).await?;
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "servers".into(),
            serde_json::json!([{ "url": format!("/api/v2/{service}") }]),
        );
    }
    Ok(Json(schema))
}
