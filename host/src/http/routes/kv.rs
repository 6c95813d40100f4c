//! `/admin-api/v2/{services|functions}/{name}/kv/{store}[/{key}]`: operators read and write an
//! app's key-value stores (every store of the app, granted or not) in the shape the engine uses
//! (`runtime::caps::kv::protocol`).

use std::sync::Arc;

use axum::extract::{Extension, OriginalUri, State};
use axum::response::Response;
use http::{HeaderMap, Method};

use crate::app::App;
use crate::http::ApiError;
use crate::http::extract::{PathParam, RawBody};
use crate::kind::AppKind;
use crate::runtime::caps::kv::protocol::{self, Caller};

/// Any key-value operation on the app `name`'s stores.
pub async fn serve(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    PathParam(params): PathParam<Vec<(String, String)>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let name = params
        .iter()
        .find(|(key, _)| key == "name")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    // 404 for an app that does not exist.
    app.platform()?.apps.get(kind, &name).await?;
    let kv = app
        .deployer
        .kv()
        .ok_or_else(|| ApiError::Resource("this node has no key-value store".into()))?;
    let prefix = format!("/admin-api/v2/{}/{name}/kv", kind.plural());
    let path = uri.path().strip_prefix(&prefix).unwrap_or_default();
    let stores = kv.app(kind, &name);
    let response = protocol::serve(
        Caller::Operator(&stores),
        &method,
        path,
        uri.query(),
        &headers,
        body,
    )
    .await;
    Ok(response.map(axum::body::Body::from))
}
