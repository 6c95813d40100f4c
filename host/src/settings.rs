//! Runtime settings: the `config` table's known keys, their defaults and validation, and the live
//! values the server reads (swapped atomically when a key is set).

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::store::{Store, StoreError};

/// The config keys Kiln knows, with their defaults (`jwt_secret` has none: it is generated).
pub const KEYS: [(&str, &str); 8] = [
    ("main_port", "8000"),
    ("cors_origins", "*"),
    ("jwt_secret", ""),
    ("function_execution_timeout", "30000"),
    ("default_memory_mb", "128"),
    ("max_upload_mb", "50"),
    ("max_request_mb", "10"),
    ("compile_timeout_ms", "10000"),
];

/// What `jwt_secret` looks like when read back.
pub const MASKED: &str = "********";

/// Why a setting was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// Not one of [`KEYS`].
    #[error("unknown config key '{0}'; known keys: {known}", known = known_keys())]
    UnknownKey(String),
    /// Out of range or malformed.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn known_keys() -> String {
    KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}

/// Whether `key` is one Kiln knows.
pub fn is_known(key: &str) -> bool {
    KEYS.iter().any(|(k, _)| *k == key)
}

/// Parsed settings, as the server uses them.
#[derive(Clone, PartialEq, Eq)]
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
    /// Largest request body a service or function receives, in MiB.
    pub max_request_mb: u64,
    /// Deadline of a module's top-level code at upload (timers and awaits included), in ms.
    pub compile_timeout_ms: u64,
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
            .field("max_request_mb", &self.max_request_mb)
            .field("compile_timeout_ms", &self.compile_timeout_ms)
            .finish()
    }
}

/// Checks a value for a key; the error names the key and says what is expected.
pub fn validate(key: &str, value: &str) -> Result<(), SettingsError> {
    let number = |min: u64, max: u64| -> Result<(), SettingsError> {
        match value.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(()),
            _ => Err(SettingsError::Invalid(format!(
                "'{key}' must be an integer from {min} to {max}, got '{value}'"
            ))),
        }
    };
    match key {
        "main_port" => number(1, 65535),
        "function_execution_timeout" => number(1, 3_600_000),
        "default_memory_mb" => number(1, 4096),
        "max_upload_mb" => number(1, 1024),
        "max_request_mb" => number(1, 1024),
        "compile_timeout_ms" => number(1, 300_000),
        "cors_origins" if value.trim().is_empty() || value.chars().any(char::is_control) => {
            Err(SettingsError::Invalid(
                "'cors_origins' must be '*' or a comma-separated list of origins".into(),
            ))
        }
        "cors_origins" => Ok(()),
        "jwt_secret" if value.len() < 16 => Err(SettingsError::Invalid(
            "'jwt_secret' must be at least 16 characters".into(),
        )),
        "jwt_secret" => Ok(()),
        other => Err(SettingsError::UnknownKey(other.to_string())),
    }
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
            max_request_mb: get("max_request_mb").parse().unwrap_or(10),
            compile_timeout_ms: get("compile_timeout_ms").parse().unwrap_or(10_000),
        }
    }

    /// The largest accepted upload in bytes.
    pub fn max_upload_bytes(&self) -> usize {
        (self.max_upload_mb as usize) << 20
    }

    /// The largest request body a service or function receives, in bytes.
    pub fn max_request_bytes(&self) -> usize {
        (self.max_request_mb as usize) << 20
    }

    /// The deadline of a module's top-level code at upload.
    pub fn compile_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.compile_timeout_ms)
    }
}

/// A new random secret (256 bits, hex).
pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// The settings in force, kept in step with the store.
pub struct LiveSettings {
    store: Arc<dyn Store>,
    current: ArcSwap<Settings>,
    secret_from_env: Option<String>,
}

impl LiveSettings {
    /// Loads the settings. On first start (no stored secret) the secret is `env_secret`, or a new
    /// random one, and is stored; `env_secret`, when set, is the secret at every start. Returns
    /// whether this was the first start.
    pub async fn open(
        store: Arc<dyn Store>,
        env_secret: Option<String>,
    ) -> Result<(Self, bool), StoreError> {
        let mut values = store.config().await?;
        let first_start = !values.contains_key("jwt_secret");
        if first_start {
            let secret = env_secret.clone().unwrap_or_else(random_secret);
            let stored = store.init_config("jwt_secret", &secret).await?;
            values.insert("jwt_secret".into(), stored);
            if env_secret.is_none() {
                tracing::info!(
                    "first start: generated a random JWT secret (mint admin tokens with `kiln token`)"
                );
            }
        }
        let mut settings = Settings::from_map(&values);
        if let Some(secret) = &env_secret {
            settings.jwt_secret = secret.clone();
        }
        let live = Self {
            store,
            current: ArcSwap::from_pointee(settings),
            secret_from_env: env_secret,
        };
        Ok((live, first_start))
    }

    /// The settings now.
    pub fn get(&self) -> Arc<Settings> {
        self.current.load_full()
    }

    /// Validates and stores a value; it applies at once where it can.
    pub async fn set(&self, key: &str, value: &str) -> Result<(), SettingsError> {
        validate(key, value)?;
        self.store.set_config(key, value).await?;
        Ok(self.reload().await?)
    }

    /// Reads the stored values again (another node sharing the database may have changed them).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let mut values = self.store.config().await?;
        if let Some(secret) = &self.secret_from_env {
            values.insert("jwt_secret".into(), secret.clone());
        }
        let settings = Settings::from_map(&values);
        if *self.current.load_full() != settings {
            self.current.store(Arc::new(settings));
        }
        Ok(())
    }

    /// Every value, defaults filled in, `jwt_secret` masked.
    pub async fn all(&self) -> Result<BTreeMap<String, String>, SettingsError> {
        let mut values = self.store.config().await?;
        for (key, default) in KEYS {
            values
                .entry(key.to_string())
                .or_insert_with(|| default.to_string());
        }
        values.insert("jwt_secret".into(), MASKED.into());
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_their_key() {
        assert!(validate("main_port", "8080").is_ok());
        assert!(validate("main_port", "0").is_err());
        assert!(validate("main_port", "http").is_err());
        assert!(validate("max_upload_mb", "2048").is_err());
        assert!(validate("jwt_secret", "short").is_err());
        assert!(validate("jwt_secret", "long-enough-secret-123").is_ok());
        assert!(validate("cors_origins", " ").is_err());
        assert!(matches!(
            validate("nope", "1"),
            Err(SettingsError::UnknownKey(k)) if k == "nope"
        ));
    }

    #[test]
    fn missing_keys_take_their_defaults() {
        let settings = Settings::from_map(&BTreeMap::new());
        assert_eq!(settings.main_port, 8000);
        assert_eq!(settings.cors_origins, "*");
        assert_eq!(settings.max_upload_bytes(), 50 << 20);
        assert!(
            !format!("{settings:?}").contains(&settings.jwt_secret)
                || settings.jwt_secret.is_empty()
        );
    }
}
