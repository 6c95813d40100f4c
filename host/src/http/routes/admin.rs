//! The admin API for apps, one set of handlers for both kinds: each kind's router carries its
//! [`AppKind`] as an extension (`/admin-api/v2/services/…`, `/admin-api/v2/functions/…`).

use std::sync::Arc;

use axum::extract::{Extension, Query, State};
use axum::response::IntoResponse;
use axum::routing::{any, get, post, put};
use axum::{Json, Router};
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::apps::model::{AppView, CreateApp, Rollback, RunList, UpdateApp, VersionView};
use crate::http::ApiError;
use crate::http::extract::{JsonBody, PathParam, RawBody};
use crate::kind::AppKind;

/// The routes of one kind, to nest under `/v2/{services|functions}`.
pub fn router(kind: AppKind) -> Router<Arc<App>> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{name}", get(one).put(update).delete(delete))
        .route("/{name}/component", put(put_component))
        .route("/{name}/versions", get(versions))
        .route("/{name}/rollback", post(rollback))
        .route("/{name}/runs", get(runs))
        .route("/{name}/logs", get(super::logs::logs))
        .route("/{name}/kv/{store}", any(super::kv::serve))
        .route("/{name}/kv/{store}/{*key}", any(super::kv::serve))
        .route("/{name}/vars", get(super::vars::list))
        .route(
            "/{name}/vars/{key}",
            get(super::vars::one)
                .put(super::vars::set)
                .delete(super::vars::delete),
        )
        .layer(Extension(kind))
}

/// `{"message": ...}`.
#[derive(Serialize, ToSchema)]
pub struct Message {
    /// What happened.
    pub message: String,
}

/// `{"versions": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct VersionList {
    /// Oldest first.
    pub versions: Vec<VersionView>,
}

/// Lists apps of the kind, without code: `{"services": [...]}` or `{"functions": [...]}`.
pub async fn list(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let views = app.platform()?.apps.list(kind).await?;
    Ok(Json(serde_json::json!({ kind.plural(): views })))
}

/// Creates an app from JavaScript.
pub async fn create(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    JsonBody(body): JsonBody<CreateApp>,
) -> Result<impl IntoResponse, ApiError> {
    let view = app.platform()?.apps.create(kind, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One app, with its code.
pub async fn one(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    PathParam(name): PathParam<String>,
) -> Result<Json<AppView>, ApiError> {
    Ok(Json(app.platform()?.apps.get(kind, &name).await?))
}

/// Updates an app; new code is compiled and swapped in as a new version.
pub async fn update(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    PathParam(name): PathParam<String>,
    JsonBody(body): JsonBody<UpdateApp>,
) -> Result<Json<AppView>, ApiError> {
    Ok(Json(app.platform()?.apps.update(kind, &name, body).await?))
}

/// Deletes an app; it stops being served at once.
pub async fn delete(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    PathParam(name): PathParam<String>,
) -> Result<Json<Message>, ApiError> {
    app.platform()?.apps.delete(kind, &name).await?;
    Ok(Json(Message {
        message: format!("{kind} '{name}' deleted"),
    }))
}

/// `?keep_permissions=true` on a component upload.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ComponentQuery {
    /// Keep the replaced app's grants (default: the new component gets none).
    #[serde(default)]
    pub keep_permissions: bool,
}

/// Creates or replaces an app with a prebuilt component (the raw `.wasm` body): 201 or 200.
pub async fn put_component(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    PathParam(name): PathParam<String>,
    Query(query): Query<ComponentQuery>,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse, ApiError> {
    let (created, view) = app
        .platform()?
        .apps
        .put_component(kind, &name, body.to_vec(), query.keep_permissions)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

/// The immutable versions of an app.
pub async fn versions(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    PathParam(name): PathParam<String>,
) -> Result<Json<VersionList>, ApiError> {
    Ok(Json(VersionList {
        versions: app.platform()?.apps.versions(kind, &name).await?,
    }))
}

/// Makes an earlier version active again, without recompiling.
pub async fn rollback(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    PathParam(name): PathParam<String>,
    JsonBody(body): JsonBody<Rollback>,
) -> Result<Json<AppView>, ApiError> {
    Ok(Json(
        app.platform()?
            .apps
            .rollback(kind, &name, body.version)
            .await?,
    ))
}

/// The app's recorded scheduled runs, newest first.
pub async fn runs(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    PathParam(name): PathParam<String>,
) -> Result<Json<RunList>, ApiError> {
    Ok(Json(app.platform()?.apps.runs(kind, &name).await?))
}
