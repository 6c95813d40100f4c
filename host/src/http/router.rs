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

use super::routes::{admin, config, dashboard, docs, frontend, functions, public, services, stats};
use super::{ApiError, request_log};
use crate::app::App;
use crate::kind::AppKind;
use crate::metrics::{ErrorKind, RouteKind};
use crate::runtime::caps::console::REQUEST_ID;

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
        .route("/v2/host-frontend", post(frontend::host))
        .route("/v2/stats", get(stats::stats))
        .route("/v2/config", get(config::list))
        .route("/v2/config/{key}", get(config::get).put(config::set))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(app.clone(), require_admin))
        .layer(from_fn_with_state(app.clone(), on_control));
    let own = Router::new()
        .route("/health", get(public::health))
        .route("/healthz", get(public::ready))
        .route(
            "/status",
            get(public::status).layer(from_fn_with_state(app.clone(), on_control)),
        )
        .route("/metrics", get(public::metrics))
        .route("/openapi.json", get(docs::openapi))
        .route("/docs", get(docs::docs))
        .route("/docs/", get(docs::docs))
        .route("/docs/assets/{file}", get(docs::asset))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/", get(dashboard::page))
        .route("/dashboard/{file}", get(dashboard::asset))
        .route(
            "/api/docs/{service}",
            get(docs::service_docs).layer(from_fn_with_state(app.clone(), on_control)),
        )
        .route(
            "/api/docs/openapi/{service}",
            get(docs::service_openapi).layer(from_fn_with_state(app.clone(), on_control)),
        )
        .route(
            "/functions/v2/{name}",
            post(functions::call).get(functions::describe),
        )
        .route(
            "/functions/v2/{name}/{method}",
            post(functions::call_method),
        )
        .nest("/admin-api", admin)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(app.clone(), super::cors::cors));
    // Services answer everything themselves, `OPTIONS` included: no CORS layer here.
    let services = Router::new()
        .route("/api/v2/{name}/dist", any(frontend::dist))
        .route("/api/v2/{name}/dist/", any(frontend::dist))
        .route("/api/v2/{name}/dist/{*file}", any(frontend::dist))
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
    crate::auth::authorize(
        request.headers(),
        &app.platform()?.settings.get().jwt_secret,
        crate::auth::Scope::Admin,
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

/// Counts every request, records its latency by route kind, gives it an id and logs its line.
async fn observe(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    observed(&app, request, |request| next.run(request)).await
}

/// What [`observe`] does around `serve`: for the routes' own requests and for calls between
/// apps, which reach the routes without the router.
pub(super) async fn observed<F: Future<Output = Response>>(
    app: &App,
    request: Request,
    serve: impl FnOnce(Request) -> F,
) -> Response {
    let started = Instant::now();
    let kind = route_kind(app, request.uri().path());
    app.requests_total.fetch_add(1, Ordering::Relaxed);
    let id = request_log::request_id(request.headers());
    let line = request_log::Started::new(id.clone(), kind, &request);
    let response = REQUEST_ID.scope(id, serve(request)).await;
    let metrics = app.registry.metrics();
    metrics.request(kind, response.status().as_u16(), started.elapsed());
    if let Some(error) = response.extensions().get::<ErrorKind>() {
        metrics.error(*error);
    }
    line.finish(response)
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::config::Config;

    const SECRET: &str = "router-test-secret-0123456789";

    async fn platform() -> (Router, tempfile::TempDir) {
        let data = tempfile::tempdir().expect("tempdir");
        let config = Config::one_shot(data.path().to_path_buf(), Duration::from_secs(5));
        let app = App::open_platform(config, Some(SECRET.into()), None)
            .await
            .expect("platform");
        (router(app), data)
    }

    fn token() -> String {
        crate::auth::mint(
            SECRET,
            "test",
            Duration::from_secs(60),
            crate::auth::Scope::Admin,
        )
        .expect("mint")
    }

    async fn send(
        router: &Router,
        request: Request<Body>,
    ) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let response = router.clone().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (parts.status, parts.headers, json)
    }

    fn get(uri: &str) -> http::request::Builder {
        Request::builder().uri(uri)
    }

    #[tokio::test]
    async fn health_answers_and_unknown_paths_are_json_404s() {
        let (router, _data) = platform().await;
        let (status, _, body) = send(
            &router,
            get("/health").body(Body::empty()).expect("request"),
        )
        .await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, serde_json::json!({"status": "ok"}))
        );
        let (status, _, body) = send(
            &router,
            get("/nowhere").body(Body::empty()).expect("request"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "NotFound");
    }

    #[tokio::test]
    async fn every_admin_path_needs_a_token_first() {
        let (router, _data) = platform().await;
        for path in ["/admin-api/v2/services", "/admin-api/v2/nothing-here"] {
            let (status, headers, body) =
                send(&router, get(path).body(Body::empty()).expect("request")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(body["error"], "Unauthorized");
            assert_eq!(headers[http::header::WWW_AUTHENTICATE], "Bearer");
        }
        let (status, _, body) = send(
            &router,
            get("/admin-api/v2/nothing-here")
                .header("authorization", format!("Bearer {}", token()))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(
            (status, body["error"].clone()),
            (StatusCode::NOT_FOUND, "NotFound".into())
        );
    }

    #[tokio::test]
    async fn an_invoke_token_is_forbidden_on_the_admin_api() {
        let (router, _data) = platform().await;
        let invoke = crate::auth::mint(
            SECRET,
            "caller",
            Duration::from_secs(60),
            crate::auth::Scope::Invoke,
        )
        .expect("mint");
        let (status, _, body) = send(
            &router,
            get("/admin-api/v2/services")
                .header("authorization", format!("Bearer {invoke}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(
            (status, body["error"].clone()),
            (StatusCode::FORBIDDEN, "Forbidden".into())
        );
    }

    #[tokio::test]
    async fn cors_preflights_reach_functions_and_admin_without_a_token() {
        let (router, _data) = platform().await;
        for path in ["/functions/v2/hello", "/admin-api/v2/services"] {
            let (status, headers, _) = send(
                &router,
                Request::builder()
                    .method("OPTIONS")
                    .uri(path)
                    .header("origin", "https://app.example")
                    .header("access-control-request-method", "POST")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{path}");
            assert_eq!(
                headers[http::header::ACCESS_CONTROL_ALLOW_ORIGIN],
                "*",
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn functions_take_post_and_get_only() {
        let (router, _data) = platform().await;
        let (status, _, body) = send(
            &router,
            Request::put("/functions/v2/hello")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["error"], "MethodNotAllowed");
    }

    #[tokio::test]
    async fn config_keys_unknown_to_get_are_404_and_to_put_are_400() {
        let (router, _data) = platform().await;
        let bearer = format!("Bearer {}", token());
        let (status, _, _) = send(
            &router,
            get("/admin-api/v2/config/no_such_key")
                .header("authorization", &bearer)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, body) = send(
            &router,
            Request::builder()
                .method("PUT")
                .uri("/admin-api/v2/config/no_such_key")
                .header("authorization", &bearer)
                .header("content-type", "application/json")
                .body(Body::from(r#"{"value":"1"}"#))
                .expect("request"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("unknown config key")
        );
        let (status, _, body) = send(
            &router,
            get("/admin-api/v2/config/jwt_secret")
                .header("authorization", &bearer)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(
            (status, body["value"].clone()),
            (StatusCode::OK, "********".into())
        );
    }

    #[tokio::test]
    async fn bad_app_bodies_are_refused_before_anything_compiles() {
        let (router, _data) = platform().await;
        let bearer = format!("Bearer {}", token());
        for (body, expected) in [
            (r#"{"name":"Bad Name","code":"x"}"#, "invalid name"),
            (r#"{"name":"ok","code":"x","colour":"red"}"#, "colour"),
            (
                r#"{"name":"ok","code":"x","permissions":{"run":["ls"]}}"#,
                "run",
            ),
        ] {
            let (status, _, answer) = send(
                &router,
                Request::builder()
                    .method("POST")
                    .uri("/admin-api/v2/services")
                    .header("authorization", &bearer)
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .expect("request"),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert!(
                answer["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(expected),
                "{body}: {answer}"
            );
        }
    }
}
