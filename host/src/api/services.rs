//! The admin API for services: CRUD, prebuilt components, versions and rollback.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::extract::{JsonBody, PathParam, RawBody};
use crate::api::openapi::ErrorBody;
use crate::error::ApiError;
use crate::platform::{CreateService, ServiceView, UpdateService, VersionView};
use crate::store::Family;

const SERVICES: Family = Family::Services;

/// `{"services": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct ServiceList {
    /// Summaries, without code.
    pub services: Vec<ServiceView>,
}

/// `{"versions": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct VersionList {
    /// Oldest first.
    pub versions: Vec<VersionView>,
}

/// `POST …/rollback` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// The version to make active.
    pub version: i64,
}

/// `{"message": ...}`.
#[derive(Serialize, ToSchema)]
pub struct Message {
    /// What happened.
    pub message: String,
}

/// Lists services.
#[utoipa::path(operation_id = "listServices", get, path = "/admin-api/v2/services", tag = "services", security(("bearer" = [])),
    responses((status = 200, body = ServiceList), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<ServiceList>, ApiError> {
    let services = state
        .platform
        .list(SERVICES)
        .await?
        .into_iter()
        .map(|s| s.service_view())
        .collect();
    Ok(Json(ServiceList { services }))
}

/// Creates a service from JavaScript.
#[utoipa::path(operation_id = "createService", post, path = "/admin-api/v2/services", tag = "services", security(("bearer" = [])), request_body = CreateService,
    responses((status = 201, body = ServiceView), (status = 400, body = ErrorBody, description = "invalid input or a source error with line and column"),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateService>,
) -> Result<impl IntoResponse, ApiError> {
    let stored = state.platform.create(SERVICES, body.into()).await?;
    Ok((StatusCode::CREATED, Json(stored.service_view())))
}

/// One service, with its code.
#[utoipa::path(operation_id = "getService", get, path = "/admin-api/v2/services/{name}", tag = "services", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = ServiceView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> Result<Json<ServiceView>, ApiError> {
    Ok(Json(
        state.platform.get(SERVICES, &name).await?.service_view(),
    ))
}

/// Updates a service; new code is compiled and swapped in as a new version.
#[utoipa::path(operation_id = "updateService", put, path = "/admin-api/v2/services/{name}", tag = "services", security(("bearer" = [])), request_body = UpdateService,
    params(("name" = String, Path)),
    responses((status = 200, body = ServiceView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
    JsonBody(body): JsonBody<UpdateService>,
) -> Result<Json<ServiceView>, ApiError> {
    Ok(Json(
        state
            .platform
            .update(SERVICES, &name, body)
            .await?
            .service_view(),
    ))
}

/// Deletes a service; it stops being served at once.
#[utoipa::path(operation_id = "deleteService", delete, path = "/admin-api/v2/services/{name}", tag = "services", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> Result<Json<Message>, ApiError> {
    state.platform.delete(SERVICES, &name).await?;
    Ok(Json(Message {
        message: format!("service '{name}' deleted"),
    }))
}

/// Creates or replaces a service with a prebuilt wasi-http component (the raw `.wasm` body).
#[utoipa::path(operation_id = "putServiceComponent", put, path = "/admin-api/v2/services/{name}/component", tag = "services", security(("bearer" = [])),
    params(("name" = String, Path)), request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = ServiceView, description = "created"), (status = 200, body = ServiceView, description = "replaced"),
        (status = 400, body = ErrorBody, description = "not a component, wrong exports or unknown imports"), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn put_component(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse, ApiError> {
    if body.is_empty() {
        return Err(ApiError::Validation(
            "the body is empty: send the component's bytes (application/wasm)".into(),
        ));
    }
    let (created, stored) = state
        .platform
        .put_component(SERVICES, &name, body.to_vec())
        .await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(stored.service_view()),
    ))
}

/// The immutable versions of a service.
#[utoipa::path(operation_id = "listServiceVersions", get, path = "/admin-api/v2/services/{name}/versions", tag = "services", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = VersionList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> Result<Json<VersionList>, ApiError> {
    Ok(Json(VersionList {
        versions: state.platform.versions(SERVICES, &name).await?,
    }))
}

/// Makes an earlier version active again, without recompiling.
#[utoipa::path(operation_id = "rollbackService", post, path = "/admin-api/v2/services/{name}/rollback", tag = "services", security(("bearer" = [])), request_body = Rollback,
    params(("name" = String, Path)), responses((status = 200, body = ServiceView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
    JsonBody(body): JsonBody<Rollback>,
) -> Result<Json<ServiceView>, ApiError> {
    Ok(Json(
        state
            .platform
            .rollback(SERVICES, &name, body.version)
            .await?
            .service_view(),
    ))
}
