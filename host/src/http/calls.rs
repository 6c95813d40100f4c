//! Calls between apps (service bindings): what a guest sends to `http://{name}.kiln.internal/…`
//! is served by the service route (`/api/v2/{name}/…`), and what it sends to
//! `http://{name}.fn.kiln.internal/{method}` by the function route (`/functions/v2/{name}/{method}`,
//! `/` for the default export), in the
//! process: the request and response bodies are handed over as they stream, nothing is parsed
//! as HTTP, and no socket is opened. The callee is served as a client's request would be (its
//! `enabled`, `jwt_check` and limits apply, it is logged and counted), under the [`Inbound`] of
//! the call: its caller, depth, deadline and claims.

use std::sync::{Arc, Weak};

use axum::extract::{Request, State};
use axum::response::IntoResponse;
use http::HeaderValue;
use http_body_util::BodyExt;
use wasmtime_wasi_http::Error;

use super::ApiError;
use super::extract::PathParam;
use super::request_log::REQUEST_ID;
use super::routes::{functions, services};
use crate::app::App;
use crate::kind::AppKind;
use crate::runtime::caps::services::{CallFuture, DOMAIN, Dispatch, Inbound};

/// Serves calls between the apps of `app`.
struct Calls {
    app: Weak<App>,
}

/// Sends the calls between apps deployed from now on to `app`'s own routes.
pub fn install(app: &Arc<App>) {
    app.deployer.set_dispatch(Arc::new(Calls {
        app: Arc::downgrade(app),
    }));
}

impl Dispatch for Calls {
    fn call(
        &self,
        kind: AppKind,
        name: &str,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        inbound: Inbound,
    ) -> CallFuture {
        let app = self.app.upgrade();
        let name = name.to_string();
        Box::new(async move {
            let app = app.ok_or_else(|| Error::InternalError(Some("Kiln is stopping".into())))?;
            let request = route(kind, &name, request, &inbound)?;
            if let Some(caller) = &inbound.caller {
                app.registry.metrics().app_call(caller, kind, &name);
            }
            let response = serve_within(&app, kind, name, request, inbound).await;
            let response = response.map(|body| {
                body.map_err(|e| Error::InternalError(Some(e.to_string())))
                    .boxed_unsync()
            });
            let done: Box<dyn Future<Output = Result<(), Error>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// The request as the route of the app `name` of `kind` takes it: its path below the route,
/// its host the app's internal name unless the guest set one, its request id the caller's.
fn route(
    kind: AppKind,
    name: &str,
    request: http::Request<wasmtime_wasi_http::WasiBody>,
    inbound: &Inbound,
) -> Result<Request, Error> {
    let (mut parts, body) = request.into_parts();
    let below = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let path = match kind {
        AppKind::Service => format!("/api/v2/{name}{below}"),
        // `/add` is the method `add`; `/` the default.
        AppKind::Function => match parts.uri.path().trim_end_matches('/') {
            "" => format!("/functions/v2/{name}"),
            method => format!("/functions/v2/{name}{method}"),
        },
    };
    let host = match kind {
        AppKind::Service => format!("{name}{DOMAIN}"),
        AppKind::Function => format!("{name}.fn{DOMAIN}"),
    };
    parts.uri = path.parse().map_err(|_| Error::HttpRequestUriInvalid)?;
    let headers = &mut parts.headers;
    if !headers.contains_key(http::header::HOST)
        && let Ok(host) = HeaderValue::from_str(&host)
    {
        headers.insert(http::header::HOST, host);
    }
    if let Some(trace) = &inbound.trace
        && !headers.contains_key(REQUEST_ID)
        && let Ok(id) = HeaderValue::from_str(trace)
    {
        headers.insert(REQUEST_ID, id);
    }
    Ok(Request::from_parts(parts, axum::body::Body::new(body)))
}

/// Serves `request` with the app `name` of `kind` as its route would (logged and counted) under
/// `inbound`: for calls between apps and for the runs Kiln starts itself (schedules).
pub(crate) async fn serve_within(
    app: &Arc<App>,
    kind: AppKind,
    name: String,
    request: Request,
    inbound: Inbound,
) -> axum::response::Response {
    inbound
        .scope(super::router::observed(app, request, |request| {
            serve(app.clone(), kind, name, request)
        }))
        .await
}

async fn serve(
    app: Arc<App>,
    kind: AppKind,
    name: String,
    request: Request,
) -> axum::response::Response {
    match kind {
        AppKind::Service => services::call(State(app), request).await.into_response(),
        AppKind::Function => {
            let below = request.uri().path().strip_prefix("/functions/v2/");
            let method = below
                .and_then(|b| b.split_once('/'))
                .map(|(_, method)| method.to_string());
            match (request.method().clone(), method) {
                (http::Method::POST, None) => functions::call(State(app), PathParam(name), request)
                    .await
                    .into_response(),
                (http::Method::POST, Some(method)) => {
                    functions::call_method(State(app), PathParam((name, method)), request)
                        .await
                        .into_response()
                }
                (http::Method::GET, None) => {
                    functions::describe(State(app), PathParam(name), request)
                        .await
                        .into_response()
                }
                (other, _) => ApiError::MethodNotAllowed(format!(
                    "{other} is not allowed on {}",
                    request.uri().path()
                ))
                .into_response(),
            }
        }
    }
}
