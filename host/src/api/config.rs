//! `GET /admin-api/v2/config`, `GET/PUT /admin-api/v2/config/{key}`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::extract::{JsonBody, PathParam};
use crate::error::ApiError;
use crate::settings;

/// All config values.
#[derive(Serialize, ToSchema)]
pub struct ConfigList {
    /// Key → value (`jwt_secret` masked).
    pub config: std::collections::BTreeMap<String, String>,
}

/// One config value.
#[derive(Serialize, ToSchema)]
pub struct ConfigEntry {
    /// The key.
    pub key: String,
    /// Its value (`jwt_secret` masked).
    pub value: String,
}

/// `PUT /admin-api/v2/config/{key}` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigValue {
    /// The new value, as a string.
    pub value: serde_json::Value,
}

/// Lists the configuration.
#[utoipa::path(operation_id = "listConfig", get, path = "/admin-api/v2/config", tag = "config", security(("bearer" = [])),
    responses((status = 200, body = ConfigList), (status = 401, body = crate::api::openapi::ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<ConfigList>, ApiError> {
    Ok(Json(ConfigList {
        config: state.platform.config().await?,
    }))
}

/// Reads one config key.
#[utoipa::path(operation_id = "getConfigValue", get, path = "/admin-api/v2/config/{key}", tag = "config", security(("bearer" = [])),
    params(("key" = String, Path, description = "config key")),
    responses((status = 200, body = ConfigEntry), (status = 400, body = crate::api::openapi::ErrorBody), (status = 401, body = crate::api::openapi::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    PathParam(key): PathParam<String>,
) -> Result<Json<ConfigEntry>, ApiError> {
    if !settings::KEYS.iter().any(|(k, _)| *k == key) {
        return Err(settings::unknown_key(&key));
    }
    let mut config = state.platform.config().await?;
    let value = config.remove(&key).unwrap_or_default();
    Ok(Json(ConfigEntry { key, value }))
}

/// Sets one config key; values are validated and unknown keys refused.
#[utoipa::path(operation_id = "setConfigValue", put, path = "/admin-api/v2/config/{key}", tag = "config", security(("bearer" = [])),
    params(("key" = String, Path, description = "config key")), request_body = ConfigValue,
    responses((status = 200, body = ConfigEntry), (status = 400, body = crate::api::openapi::ErrorBody), (status = 401, body = crate::api::openapi::ErrorBody)))]
pub async fn set(
    State(state): State<AppState>,
    PathParam(key): PathParam<String>,
    JsonBody(body): JsonBody<ConfigValue>,
) -> Result<Json<ConfigEntry>, ApiError> {
    let value = match body.value {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        other => {
            return Err(ApiError::Validation(format!(
                "'value' must be a string, got {other}"
            )));
        }
    };
    state.platform.set_config(&key, &value).await?;
    let shown = if key == "jwt_secret" {
        settings::MASKED.to_string()
    } else {
        value
    };
    Ok(Json(ConfigEntry { key, value: shown }))
}
