//! `/admin-api/v2/{services|functions}/{name}/vars[/{KEY}]`: an app's variables and secrets
//! (`crate::apps::vars`). A secret is write-only: every answer shows it as `********`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use http::StatusCode;

use crate::app::App;
use crate::apps::vars::{SetVar, VarView, VarsView};
use crate::http::ApiError;
use crate::http::extract::{JsonBody, PathParam};
use crate::kind::AppKind;

/// Every variable of the app.
pub async fn list(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    PathParam(name): PathParam<String>,
) -> Result<Json<VarsView>, ApiError> {
    Ok(Json(app.platform()?.apps.vars(kind, &name).await?))
}

/// One variable.
pub async fn one(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    PathParam((name, key)): PathParam<(String, String)>,
) -> Result<Json<VarView>, ApiError> {
    Ok(Json(app.platform()?.apps.var(kind, &name, &key).await?))
}

/// Sets a variable; new requests see it on every node.
pub async fn set(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    PathParam((name, key)): PathParam<(String, String)>,
    JsonBody(body): JsonBody<SetVar>,
) -> Result<Json<VarView>, ApiError> {
    Ok(Json(
        app.platform()?
            .apps
            .set_var(kind, &name, &key, body)
            .await?,
    ))
}

/// Deletes a variable.
pub async fn delete(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    PathParam((name, key)): PathParam<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.platform()?.apps.delete_var(kind, &name, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}
