//! Runtime settings: the `config` table's known keys, their defaults and validation.

use std::collections::BTreeMap;

use crate::error::ApiError;

/// The config keys Kiln knows, with their defaults (`jwt_secret` has none: it is generated).
pub const KEYS: [(&str, &str); 6] = [
    ("main_port", "8000"),
    ("cors_origins", "*"),
    ("jwt_secret", ""),
    ("function_execution_timeout", "30000"),
    ("default_memory_mb", "128"),
    ("max_upload_mb", "50"),
];

/// What `jwt_secret` looks like when read back.
pub const MASKED: &str = "********";

/// Parsed settings, as the server uses them.
#[derive(Clone)]
pub struct Settings {
    /// Port used when no listen address is given.
    pub main_port: u16,
    /// `Access-Control-Allow-Origin` value(s), comma-separated.
    pub cors_origins: String,
    /// HS256 secret for admin and service tokens.
    pub jwt_secret: String,
    /// Default function deadline, in milliseconds.
    pub function_execution_timeout_ms: u64,
    /// Default instance memory, in MiB.
    pub default_memory_mb: u64,
    /// Largest accepted upload, in MiB.
    pub max_upload_mb: u64,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("main_port", &self.main_port)
            .field("cors_origins", &self.cors_origins)
            .field("jwt_secret", &MASKED)
            .field(
                "function_execution_timeout_ms",
                &self.function_execution_timeout_ms,
            )
            .field("default_memory_mb", &self.default_memory_mb)
            .field("max_upload_mb", &self.max_upload_mb)
            .finish()
    }
}

/// Checks a value for a key; the error names the key and says what is expected.
pub fn validate(key: &str, value: &str) -> Result<(), ApiError> {
    let number = |min: u64, max: u64| -> Result<(), ApiError> {
        match value.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(()),
            _ => Err(ApiError::Validation(format!(
                "'{key}' must be an integer from {min} to {max}, got '{value}'"
            ))),
        }
    };
    match key {
        "main_port" => number(1, 65535),
        "function_execution_timeout" => number(1, 3_600_000),
        "default_memory_mb" => number(1, 4096),
        "max_upload_mb" => number(1, 1024),
        "cors_origins" => {
            if value.trim().is_empty() || value.chars().any(|c| c.is_control()) {
                Err(ApiError::Validation(
                    "'cors_origins' must be '*' or a comma-separated list of origins".into(),
                ))
            } else {
                Ok(())
            }
        }
        "jwt_secret" => {
            if value.len() < 16 {
                Err(ApiError::Validation(
                    "'jwt_secret' must be at least 16 characters".into(),
                ))
            } else {
                Ok(())
            }
        }
        other => Err(unknown_key(other)),
    }
}

/// The error for a key Kiln does not know.
pub fn unknown_key(key: &str) -> ApiError {
    ApiError::Validation(format!(
        "unknown config key '{key}'; known keys: {}",
        KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
    ))
}

impl Settings {
    /// Settings from stored values (missing keys take their defaults).
    pub fn from_map(values: &BTreeMap<String, String>) -> Self {
        let get = |key: &str| -> String {
            values.get(key).cloned().unwrap_or_else(|| {
                KEYS.iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default()
            })
        };
        Self {
            main_port: get("main_port").parse().unwrap_or(8000),
            cors_origins: get("cors_origins"),
            jwt_secret: get("jwt_secret"),
            function_execution_timeout_ms: get("function_execution_timeout")
                .parse()
                .unwrap_or(30_000),
            default_memory_mb: get("default_memory_mb").parse().unwrap_or(128),
            max_upload_mb: get("max_upload_mb").parse().unwrap_or(50),
        }
    }

    /// The largest accepted upload in bytes.
    pub fn max_upload_bytes(&self) -> usize {
        (self.max_upload_mb as usize) << 20
    }
}

/// A new random secret (256 bits, hex).
pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}
