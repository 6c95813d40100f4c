//! `/dashboard`: a web console over the admin API (apps with their traffic, an app's versions,
//! configuration and live log), its three files embedded so that it works offline. It holds no
//! secret itself: the page asks for an admin token and sends it with each call.

use axum::response::{IntoResponse, Response};
use http::header;

use crate::http::ApiError;
use crate::http::extract::PathParam;

const INDEX: &str = include_str!("../../../assets/dashboard/index.html");
const SCRIPT: &str = include_str!("../../../assets/dashboard/app.js");
const STYLE: &str = include_str!("../../../assets/dashboard/app.css");

/// Only the page's own files run and load; nothing may frame it.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn file(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The page.
pub async fn page() -> Response {
    file(INDEX, "text/html; charset=utf-8")
}

/// Its script and style sheet.
pub async fn asset(PathParam(name): PathParam<String>) -> Result<Response, ApiError> {
    match name.as_str() {
        "app.js" => Ok(file(SCRIPT, "text/javascript; charset=utf-8")),
        "app.css" => Ok(file(STYLE, "text/css; charset=utf-8")),
        _ => Err(ApiError::NotFound(format!("no dashboard file '{name}'"))),
    }
}
