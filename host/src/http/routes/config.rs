//! `GET /admin-api/v2/config`, `GET/PUT /admin-api/v2/config/{key}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::App;
use crate::http::ApiError;
use crate::http::extract::{JsonBody, PathParam};
use crate::settings;

/// All config values.
#[derive(Serialize, ToSchema)]
pub struct ConfigList {
    /// Key → value (`jwt_secret` masked).
    pub config: BTreeMap<String, String>,
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
    /// The new value: a string (numbers and booleans are taken as their text).
    pub value: serde_json::Value,
}

/// Lists the configuration.
pub async fn list(State(app): State<Arc<App>>) -> Result<Json<ConfigList>, ApiError> {
    Ok(Json(ConfigList {
        config: app.platform()?.settings.all().await?,
    }))
}

/// Reads one config key; an unknown key is 404.
pub async fn get(
    State(app): State<Arc<App>>,
    PathParam(key): PathParam<String>,
) -> Result<Json<ConfigEntry>, ApiError> {
    if !settings::is_known(&key) {
        return Err(ApiError::NotFound(
            settings::SettingsError::UnknownKey(key).to_string(),
        ));
    }
    let mut config = app.platform()?.settings.all().await?;
    let value = config.remove(&key).unwrap_or_default();
    Ok(Json(ConfigEntry { key, value }))
}

/// Sets one config key; values are validated and unknown keys refused (400).
pub async fn set(
    State(app): State<Arc<App>>,
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
    let value = app.platform()?.settings.set(&key, &value).await?;
    let shown = if key == "jwt_secret" {
        settings::MASKED.to_string()
    } else {
        value
    };
    Ok(Json(ConfigEntry { key, value: shown }))
}
