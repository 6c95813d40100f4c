//! The admin API for functions: CRUD, prebuilt components, versions and rollback.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::extract::{JsonBody, PathParam, RawBody};
use crate::api::openapi::ErrorBody;
use crate::api::services::{Message, Rollback, VersionList};
use crate::error::ApiError;
use crate::platform::{CreateFunction, FunctionView, UpdateFunction};
use crate::store::Family;

const FUNCTIONS: Family = Family::Functions;

/// `{"functions": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct FunctionList {
    /// Summaries, without code.
    pub functions: Vec<FunctionView>,
}

/// Lists functions.
#[utoipa::path(operation_id = "listFunctions", get, path = "/admin-api/v2/functions", tag = "functions", security(("bearer" = [])),
    responses((status = 200, body = FunctionList), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<FunctionList>, ApiError> {
    let functions = state
        .platform
        .list(FUNCTIONS)
        .await?
        .into_iter()
        .map(|s| s.function_view())
        .collect();
    Ok(Json(FunctionList { functions }))
}

/// Creates a function from JavaScript (`export default function(input)`, or a generator).
#[utoipa::path(operation_id = "createFunction", post, path = "/admin-api/v2/functions", tag = "functions", security(("bearer" = [])), request_body = CreateFunction,
    responses((status = 201, body = FunctionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateFunction>,
) -> Result<impl IntoResponse, ApiError> {
    let stored = state.platform.create(FUNCTIONS, body.into()).await?;
    Ok((StatusCode::CREATED, Json(stored.function_view())))
}

/// One function, with its code.
#[utoipa::path(operation_id = "getFunction", get, path = "/admin-api/v2/functions/{name}", tag = "functions", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = FunctionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> Result<Json<FunctionView>, ApiError> {
    Ok(Json(
        state.platform.get(FUNCTIONS, &name).await?.function_view(),
    ))
}

/// Updates a function; new code is compiled and swapped in as a new version.
#[utoipa::path(operation_id = "updateFunction", put, path = "/admin-api/v2/functions/{name}", tag = "functions", security(("bearer" = [])), request_body = UpdateFunction,
    params(("name" = String, Path)),
    responses((status = 200, body = FunctionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
    JsonBody(body): JsonBody<UpdateFunction>,
) -> Result<Json<FunctionView>, ApiError> {
    Ok(Json(
        state
            .platform
            .update(FUNCTIONS, &name, body.into())
            .await?
            .function_view(),
    ))
}

/// Deletes a function.
#[utoipa::path(operation_id = "deleteFunction", delete, path = "/admin-api/v2/functions/{name}", tag = "functions", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> Result<Json<Message>, ApiError> {
    state.platform.delete(FUNCTIONS, &name).await?;
    Ok(Json(Message {
        message: format!("function '{name}' deleted"),
    }))
}

/// Creates or replaces a function with a prebuilt component exporting `kiln:function/invoke`.
#[utoipa::path(operation_id = "putFunctionComponent", put, path = "/admin-api/v2/functions/{name}/component", tag = "functions", security(("bearer" = [])),
    params(("name" = String, Path)), request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = FunctionView, description = "created"), (status = 200, body = FunctionView, description = "replaced"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
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
        .put_component(FUNCTIONS, &name, body.to_vec())
        .await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(stored.function_view()),
    ))
}

/// The immutable versions of a function.
#[utoipa::path(operation_id = "listFunctionVersions", get, path = "/admin-api/v2/functions/{name}/versions", tag = "functions", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = VersionList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> Result<Json<VersionList>, ApiError> {
    Ok(Json(VersionList {
        versions: state.platform.versions(FUNCTIONS, &name).await?,
    }))
}

/// Makes an earlier version active again, without recompiling.
#[utoipa::path(operation_id = "rollbackFunction", post, path = "/admin-api/v2/functions/{name}/rollback", tag = "functions", security(("bearer" = [])), request_body = Rollback,
    params(("name" = String, Path)), responses((status = 200, body = FunctionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
    JsonBody(body): JsonBody<Rollback>,
) -> Result<Json<FunctionView>, ApiError> {
    Ok(Json(
        state
            .platform
            .rollback(FUNCTIONS, &name, body.version)
            .await?
            .function_view(),
    ))
}
