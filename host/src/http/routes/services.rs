//! `ANY /api/v2/{name}[/{*rest}]`: the request goes to the service's component, which sees the
//! path below the mount and `x-forwarded-prefix`; and the app of `kiln serve --app` at `/`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Request, State};
use axum::response::Response;
use http::HeaderValue;

use crate::app::App;
use crate::http::request_log::Served;
use crate::http::{ApiError, body_limit};
use crate::kind::AppKind;
use crate::runtime::Deployment;
use crate::runtime::caps::services::{CALLER_HEADER, EVENT_HEADER, Inbound};

/// Serves `request` with `deployment`, its body bounded to `limit` bytes while it
/// streams: a declared length over it is 413 before the guest runs, and a body that goes past
/// it is 413 whatever the guest answered.
async fn serve(
    deployment: Arc<Deployment>,
    request: Request,
    limit: usize,
) -> Result<Response, ApiError> {
    body_limit::check_length(request.headers(), limit)?;
    let exceeded = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| body_limit::limited(body, limit, exceeded.clone()));
    let served = Served::new(AppKind::Service, &deployment);
    let result = deployment.handle(request).await;
    if exceeded.load(Ordering::Relaxed) {
        return Err(body_limit::too_large(limit));
    }
    let mut response = result?.map(axum::body::Body::new);
    response.extensions_mut().insert(served);
    Ok(response)
}

/// Whether a request may reach the app `target` of `kind`, decided the same way for every route
/// that leads to it (its handler, a service's `/dist` assets): the token first (for `jwt_check`
/// apps: 401 without a valid one, 403 for another scope; a call from another app may instead
/// carry the claims its caller's token was verified with), then unknown → 404, disabled → 503.
/// `target` is a name, `name@latest` (the same) or `name@{version}`: a stored version, which
/// always takes an `invoke` (or `admin`) token, since an old version may hold what a newer one
/// fixed. Returns the deployment to serve and the verified claims, if it needed them.
pub async fn admit(
    app: &App,
    kind: AppKind,
    target: &str,
    headers: &http::HeaderMap,
) -> Result<(Arc<Deployment>, Option<Arc<crate::auth::Claims>>), ApiError> {
    let (name, pin) = match target.split_once('@') {
        None | Some((_, "latest")) => (target.split('@').next().unwrap_or(target), None),
        Some((name, version)) => (name, Some(parse_version(version)?)),
    };
    let slot = app
        .registry
        .find(kind, name, super::deploy_deadline())
        .await?;
    let claims = match &slot {
        Some(slot) if slot.jwt_check() || pin.is_some() => match Inbound::current().claims {
            Some(inherited) if pin.is_none() => Some(inherited),
            Some(inherited) => {
                inherited.allow(crate::auth::Scope::Invoke)?;
                Some(inherited)
            }
            None => Some(Arc::new(crate::auth::authorize(
                headers,
                &app.platform()?.settings.get().jwt_secret,
                crate::auth::Scope::Invoke,
            )?)),
        },
        _ => None,
    };
    let what = kind.as_str();
    let slot = slot.ok_or_else(|| ApiError::NotFound(format!("{what} '{name}' not found")))?;
    if !slot.enabled() {
        return Err(ApiError::Resource(format!("{what} '{name}' is disabled")));
    }
    let deployment = match pin {
        Some(version) => app.platform()?.apps.pinned(kind, name, version).await?,
        None => None,
    };
    Ok((deployment.unwrap_or_else(|| slot.deployment()), claims))
}

/// The version of `name@{version}`: a stored version's number.
fn parse_version(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
        ApiError::Validation(format!(
            "'{text}' is not a version: use a version number (see .../versions) or 'latest'"
        ))
    })
}

/// The request goes to the service's handler, once [`admit`]ted. Kiln's own headers are set by
/// Kiln only: `x-kiln-caller` names the app that called (none for a client), `x-kiln-claims`
/// holds the verified claims that came with the request, if any.
pub async fn call(State(app): State<Arc<App>>, mut request: Request) -> Result<Response, ApiError> {
    let path = request.uri().path();
    let below = path.strip_prefix("/api/v2/").unwrap_or_default();
    let (name, rest) = below.split_once('/').unwrap_or((below, ""));
    let (name, rest) = (name.to_string(), rest.to_string());
    let inbound = Inbound::current();
    let (deployment, verified) = admit(&app, AppKind::Service, &name, request.headers()).await?;
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
    headers.remove(CALLER_HEADER);
    headers.remove(CLAIMS_HEADER);
    headers.remove(EVENT_HEADER);
    if let Some(event) = inbound.event {
        headers.insert(EVENT_HEADER, HeaderValue::from_static(event));
    }
    if let Some(caller) = &inbound.caller {
        headers.insert(
            CALLER_HEADER,
            HeaderValue::from_str(caller).map_err(anyhow::Error::from)?,
        );
    }
    // A `jwt_check` service gets the verified claims, never Kiln's token itself (it may be an
    // admin token); other services get the request's headers as they came.
    if verified.is_some() {
        headers.remove(http::header::AUTHORIZATION);
    }
    let claims = verified.or(inbound.claims.clone());
    if let Some(claims) = &claims {
        let json = serde_json::to_string(&**claims).map_err(anyhow::Error::from)?;
        headers.insert(
            CLAIMS_HEADER,
            HeaderValue::from_str(&json).map_err(anyhow::Error::from)?,
        );
    }
    if !headers.contains_key(http::header::HOST) {
        headers.insert(http::header::HOST, HeaderValue::from_static("localhost"));
    }
    let limit = app.max_request_bytes();
    Inbound { claims, ..inbound }
        .scope(serve(deployment, request, limit))
        .await
}

/// The verified claims of a request's token, as JSON, for a service.
const CLAIMS_HEADER: &str = "x-kiln-claims";

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
    serve(slot.deployment(), request, app.max_request_bytes()).await
}
