//! The OpenAPI document and the Swagger UI (its assets embedded, so the docs work offline), for
//! Kiln's API and for each service's own schema.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use http::HeaderValue;
use utoipa::OpenApi;

use super::openapi::ApiDoc;
use crate::app::App;
use crate::http::ApiError;
use crate::http::extract::PathParam;

/// Kiln's OpenAPI 3.1 document.
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
pub async fn docs() -> Html<String> {
    swagger_page("Kiln API", "/openapi.json")
}

const SWAGGER_JS: &[u8] = include_bytes!("../../../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../../../assets/swagger-ui/swagger-ui.css");
const FAVICON: &[u8] = include_bytes!("../../../assets/swagger-ui/favicon-32x32.png");

/// The Swagger UI's own files.
pub async fn asset(PathParam(file): PathParam<String>) -> Result<Response, ApiError> {
    let (body, content_type) = match file.as_str() {
        "swagger-ui-bundle.js" => (SWAGGER_JS, "text/javascript; charset=utf-8"),
        "swagger-ui.css" => (SWAGGER_CSS, "text/css; charset=utf-8"),
        "favicon-32x32.png" => (FAVICON, "image/png"),
        _ => return Err(ApiError::NotFound(format!("no docs asset '{file}'"))),
    };
    Ok((
        [
            (
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(content_type),
            ),
            (
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        body,
    )
        .into_response())
}

async fn stored_schema(app: &App, service: &str) -> Result<serde_json::Value, ApiError> {
    app.platform()?
        .apps
        .schema(service)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("service '{service}' has no schema")))
}

/// Swagger UI for a service's own schema.
pub async fn service_docs(
    State(app): State<Arc<App>>,
    PathParam(service): PathParam<String>,
) -> Result<Html<String>, ApiError> {
    stored_schema(&app, &service).await?;
    Ok(swagger_page(
        &format!("{service} — Kiln"),
        &format!("/api/docs/openapi/{service}"),
    ))
}

/// A service's schema with `servers` pointing at its mount.
pub async fn service_openapi(
    State(app): State<Arc<App>>,
    PathParam(service): PathParam<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut schema = stored_schema(&app, &service).await?;
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "servers".into(),
            serde_json::json!([{ "url": format!("/api/v2/{service}") }]),
        );
    }
    Ok(Json(schema))
}
