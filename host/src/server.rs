//! The HTTP front: one current-thread runtime per core, each accepting on its own
//! `SO_REUSEPORT` listener of the shared port, and the routes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::error::ApiError;
use crate::metrics::RouteKind;
use crate::platform::Platform;
use crate::registry::Registry;

/// The response body type of every route (the guest's outgoing body, or bytes Kiln wrote).
pub type Body = wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// What the server routes to.
pub struct Routes {
    /// Deployments by name.
    pub registry: Arc<Registry>,
    /// The deployment served at `/` (`kiln serve --app`).
    pub root_app: Option<String>,
    /// Platform mode: services under `/api/v2/`, Kiln's API for the rest.
    pub platform: Option<PlatformRoutes>,
}

/// The platform's side of routing.
pub struct PlatformRoutes {
    /// The control plane.
    pub platform: Arc<Platform>,
    /// Kiln's own API.
    pub router: axum::Router,
    /// The runtime the control plane (database, compiles) runs on.
    pub control: tokio::runtime::Handle,
}

fn axum_to_body(response: http::Response<axum::body::Body>) -> http::Response<Body> {
    response.map(|body| {
        body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())))
            .boxed_unsync()
    })
}

/// Calls `POST /functions/v2/{name}` with the JSON body (empty = `{}`).
async fn function(
    routes: &PlatformRoutes,
    request: hyper::Request<Incoming>,
) -> Result<http::Response<Body>, ApiError> {
    let name = request
        .uri()
        .path()
        .trim_start_matches("/functions/v2/")
        .trim_end_matches('/')
        .to_string();
    if name.contains('/') {
        return Err(ApiError::NotFound(format!(
            "no route for {}",
            request.uri().path()
        )));
    }
    if request.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed(format!(
            "{} is not allowed on /functions/v2/{name}: use POST",
            request.method()
        )));
    }
    let platform = &routes.platform;
    let slot = find(&platform.function_registry, &name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("function '{name}' not found")))?;
    if !slot.enabled() {
        return Err(ApiError::Resource(format!("function '{name}' is disabled")));
    }
    let body = crate::api::extract::collect_limited(
        request.into_body(),
        platform.settings().max_upload_bytes(),
    )
    .await?;
    let input = if body.iter().all(u8::is_ascii_whitespace) {
        "{}".to_string()
    } else {
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::Validation(format!("the body is not JSON: {e}")))?;
        value.to_string()
    };
    crate::invoke::call(slot.deployment(), input).await
}

/// Serves `/api/v2/{name}/{rest}`: token first (for `jwt_check` services), then unknown → 404,
/// disabled → 503; the guest sees `/{rest}` and `x-forwarded-prefix`.
async fn service(
    routes: &PlatformRoutes,
    mut request: hyper::Request<Incoming>,
) -> Result<http::Response<Body>, ApiError> {
    let path = request.uri().path().to_string();
    let below = path.strip_prefix("/api/v2/").unwrap_or_default();
    let (name, rest) = below.split_once('/').unwrap_or((below, ""));
    let slot = find(&routes.platform.registry, name).await?;
    if slot.as_ref().is_some_and(|s| s.jwt_check()) {
        crate::auth::verify(request.headers(), &routes.platform.settings().jwt_secret)?;
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
    request.headers_mut().insert("x-forwarded-prefix", prefix);
    if !request.headers().contains_key(http::header::HOST) {
        request
            .headers_mut()
            .insert(http::header::HOST, HeaderValue::from_static("localhost"));
    }
    slot.deployment().handle(request).await
}

/// How long a request waits for an app that is still being deployed (compiling at start).
const DEPLOY_WAIT: Duration = Duration::from_secs(30);

/// The slot of `name`; while it is still being deployed, waits for it (503 past [`DEPLOY_WAIT`]).
async fn find(
    registry: &Registry,
    name: &str,
) -> Result<Option<Arc<crate::registry::Slot>>, ApiError> {
    if let Some(slot) = registry.slot(name) {
        return Ok(Some(slot));
    }
    registry
        .wait_slot(name, std::time::Instant::now() + DEPLOY_WAIT)
        .await
        .map_err(|()| {
            ApiError::Resource(format!(
                "'{name}' is still being deployed (compiling); retry shortly"
            ))
        })
}

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> http::Response<Body> {
    let mut response = http::Response::new(
        Full::new(Bytes::from(value.to_string()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl Routes {
    async fn route(self: Arc<Self>, request: hyper::Request<Incoming>) -> http::Response<Body> {
        let started = std::time::Instant::now();
        let kind = self.kind_of(request.uri().path());
        let response = self.dispatch(request).await;
        crate::metrics::request(kind, response.status().as_u16(), started.elapsed());
        response
    }

    fn kind_of(&self, path: &str) -> RouteKind {
        if path.starts_with("/api/v2/") && self.platform.is_some() {
            RouteKind::Service
        } else if path.starts_with("/functions/v2/") && self.platform.is_some() {
            RouteKind::Function
        } else if path.starts_with("/admin-api/") {
            RouteKind::Admin
        } else if self.root_app.is_some() && !matches!(path, "/health" | "/healthz") {
            RouteKind::App
        } else {
            RouteKind::Public
        }
    }

    async fn dispatch(self: Arc<Self>, request: hyper::Request<Incoming>) -> http::Response<Body> {
        let path = request.uri().path();
        if matches!(path, "/health" | "/healthz")
            && matches!(*request.method(), Method::GET | Method::HEAD)
        {
            return json(StatusCode::OK, &serde_json::json!({ "status": "ok" }));
        }
        let to_service = path.starts_with("/api/v2/");
        let to_function = path.starts_with("/functions/v2/");
        if let Some(platform) = &self.platform {
            platform.platform.count_request();
            if to_service {
                return service(platform, request)
                    .await
                    .unwrap_or_else(ApiError::into_response);
            }
            if to_function {
                return function(platform, request)
                    .await
                    .unwrap_or_else(ApiError::into_response);
            }
            let router = platform.router.clone();
            let answer = platform.control.spawn(async move {
                use tower::ServiceExt;
                router.oneshot(request.map(axum::body::Body::new)).await
            });
            return match answer.await {
                Ok(Ok(response)) => axum_to_body(response),
                Ok(Err(never)) => match never {},
                Err(join) => {
                    ApiError::Internal(anyhow::anyhow!("API task failed: {join}")).into_response()
                }
            };
        }
        let result = match &self.root_app {
            Some(name) => match find(&self.registry, name).await {
                Ok(Some(slot)) => slot.deployment().handle(request).await,
                Ok(None) => Err(ApiError::NotFound(format!("app '{name}' is not deployed"))),
                Err(error) => Err(error),
            },
            None => Err(ApiError::NotFound(format!(
                "no route for {}",
                request.uri().path()
            ))),
        };
        result.unwrap_or_else(ApiError::into_response)
    }
}

/// A bound server, ready to run.
pub struct Server {
    listeners: Vec<std::net::TcpListener>,
    addr: SocketAddr,
}

impl Server {
    /// Binds `threads` listeners to `addr` (port 0 picks one port for all of them).
    pub fn bind(addr: SocketAddr, threads: usize) -> anyhow::Result<Self> {
        let first = reuseport_listener(addr).with_context(|| format!("binding {addr}"))?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..threads.max(1) {
            listeners.push(reuseport_listener(addr).with_context(|| format!("binding {addr}"))?);
        }
        Ok(Self { listeners, addr })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves forever: one thread and current-thread runtime per listener.
    pub fn run(self, routes: Arc<Routes>) -> anyhow::Result<()> {
        let registry = routes.registry.clone();
        std::thread::Builder::new()
            .name("kiln-sweeper".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    registry.sweep();
                }
            })?;
        let mut threads = Vec::new();
        for (index, listener) in self.listeners.into_iter().enumerate() {
            let routes = routes.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("kiln-http-{index}"))
                    .spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()?;
                        runtime.block_on(accept_loop(listener, routes))
                    })?,
            );
        }
        for thread in threads {
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("a serving thread panicked"))??;
        }
        Ok(())
    }
}

fn reuseport_listener(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

async fn accept_loop(listener: std::net::TcpListener, routes: Arc<Routes>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(error = %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let routes = routes.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let routes = routes.clone();
                async move { Ok::<_, std::convert::Infallible>(routes.route(request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
