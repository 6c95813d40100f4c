//! Runtime settings: the `config` table's known keys, their defaults and validation, and the live
//! values the server reads (swapped atomically when a key is set).

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::store::{Store, StoreError};

/// The config keys Kiln knows, with their defaults (`jwt_secret` has none: it is generated).
pub const KEYS: [(&str, &str); 9] = [
    ("main_port", "8000"),
    ("cors_origins", "*"),
    ("jwt_secret", ""),
    ("function_execution_timeout", "30000"),
    ("default_memory_mb", "128"),
    ("max_upload_mb", "50"),
    ("max_request_mb", "10"),
    ("compile_timeout_ms", "10000"),
    ("kv_quota_mb", "100"),
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
    /// What one app's key-value stores may hold together, in MiB.
    pub kv_quota_mb: u64,
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
            .field("kv_quota_mb", &self.kv_quota_mb)
            .finish()
    }
}

/// Checks a value for a key; the error names the key and says what is expected. What it
/// accepts is exactly what [`Settings`] then uses: both go through [`Settings::apply`].
pub fn validate(key: &str, value: &str) -> Result<(), SettingsError> {
    Settings::defaults().apply(key, value).map(|_| ())
}

impl Settings {
    /// Every key at its default (`jwt_secret` empty).
    fn defaults() -> Self {
        Self {
            main_port: 8000,
            cors_origins: "*".into(),
            jwt_secret: String::new(),
            function_execution_timeout_ms: 30_000,
            default_memory_mb: 128,
            max_upload_mb: 50,
            max_request_mb: 10,
            compile_timeout_ms: 10_000,
            kv_quota_mb: 100,
        }
    }

    /// Parses `value` for `key` and sets it; returns the value's canonical text (numbers without
    /// surrounding spaces), which is what gets stored.
    pub fn apply(&mut self, key: &str, value: &str) -> Result<String, SettingsError> {
        let number = |min: u64, max: u64| -> Result<u64, SettingsError> {
            match value.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(SettingsError::Invalid(format!(
                    "'{key}' must be an integer from {min} to {max}, got '{value}'"
                ))),
            }
        };
        let canonical = match key {
            "main_port" => {
                let n = number(1, 65535)?;
                self.main_port = n as u16;
                n.to_string()
            }
            "function_execution_timeout" => {
                self.function_execution_timeout_ms = number(1, 3_600_000)?;
                self.function_execution_timeout_ms.to_string()
            }
            "default_memory_mb" => {
                self.default_memory_mb = number(1, 4096)?;
                self.default_memory_mb.to_string()
            }
            "max_upload_mb" => {
                self.max_upload_mb = number(1, 1024)?;
                self.max_upload_mb.to_string()
            }
            "max_request_mb" => {
                self.max_request_mb = number(1, 1024)?;
                self.max_request_mb.to_string()
            }
            "compile_timeout_ms" => {
                self.compile_timeout_ms = number(1, 300_000)?;
                self.compile_timeout_ms.to_string()
            }
            "kv_quota_mb" => {
                self.kv_quota_mb = number(1, 1 << 20)?;
                self.kv_quota_mb.to_string()
            }
            "cors_origins" => {
                let origins = value.trim();
                if origins.is_empty() || origins.chars().any(char::is_control) {
                    return Err(SettingsError::Invalid(
                        "'cors_origins' must be '*' or a comma-separated list of origins".into(),
                    ));
                }
                self.cors_origins = origins.to_string();
                self.cors_origins.clone()
            }
            "jwt_secret" if value.len() < 16 => {
                return Err(SettingsError::Invalid(
                    "'jwt_secret' must be at least 16 characters".into(),
                ));
            }
            "jwt_secret" => {
                self.jwt_secret = value.to_string();
                self.jwt_secret.clone()
            }
            other => return Err(SettingsError::UnknownKey(other.to_string())),
        };
        Ok(canonical)
    }

    /// Settings from stored values: missing keys take their defaults; a stored value Kiln would
    /// refuse (written by hand or by an older version) is reported and its default used.
    pub fn from_map(values: &BTreeMap<String, String>) -> Self {
        Self::from_map_over(values, &Self::defaults())
    }

    /// Like [`Settings::from_map`], missing keys taking their values from `base`.
    fn from_map_over(values: &BTreeMap<String, String>, base: &Settings) -> Self {
        let mut settings = base.clone();
        for (key, value) in values {
            if !is_known(key) {
                continue;
            }
            if let Err(error) = settings.apply(key, value) {
                if key == "jwt_secret" {
                    // A short secret someone stored by hand is still the secret tokens use.
                    settings.jwt_secret = value.clone();
                } else {
                    tracing::warn!(key = %key, error = %error, "ignoring a stored config value; its default applies");
                }
            }
        }
        settings
    }

    /// The largest accepted upload in bytes.
    pub fn max_upload_bytes(&self) -> usize {
        (self.max_upload_mb as usize) << 20
    }

    /// The largest request body a service or function receives, in bytes.
    pub fn max_request_bytes(&self) -> usize {
        (self.max_request_mb as usize) << 20
    }

    /// The default of [`Settings::kv_quota_bytes`] (a folder served alone has no settings).
    pub fn default_kv_quota_bytes() -> i64 {
        Self::defaults().kv_quota_bytes()
    }

    /// What one app's key-value stores may hold together, in bytes.
    pub fn kv_quota_bytes(&self) -> i64 {
        (self.kv_quota_mb as i64) << 20
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
    /// What keys not stored take: the documented defaults, `default_memory_mb` from the node.
    base: Settings,
}

impl LiveSettings {
    /// Loads the settings. On first start (no stored secret) the secret is `env_secret`, or a new
    /// random one, and is stored; `env_secret`, when set, is the secret at every start. Returns
    /// whether this was the first start.
    ///
    /// `default_memory_mb` defaults to `node_memory_mb` (`kiln serve --memory-mb`) while no value
    /// is stored.
    pub async fn open(
        store: Arc<dyn Store>,
        env_secret: Option<String>,
        node_memory_mb: u64,
    ) -> Result<(Self, bool), StoreError> {
        let base = Settings {
            default_memory_mb: node_memory_mb,
            ..Settings::defaults()
        };
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
        let mut settings = Settings::from_map_over(&values, &base);
        if let Some(secret) = &env_secret {
            settings.jwt_secret = secret.clone();
        }
        let live = Self {
            store,
            current: ArcSwap::from_pointee(settings),
            secret_from_env: env_secret,
            base,
        };
        Ok((live, first_start))
    }

    /// The settings now.
    pub fn get(&self) -> Arc<Settings> {
        self.current.load_full()
    }

    /// Validates and stores a value in its canonical form, which is returned; it applies at
    /// once where it can.
    pub async fn set(&self, key: &str, value: &str) -> Result<String, SettingsError> {
        let canonical = Settings::defaults().apply(key, value)?;
        self.store.set_config(key, &canonical).await?;
        self.reload().await?;
        Ok(canonical)
    }

    /// Reads the stored values again (another node sharing the database may have changed them).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let mut values = self.store.config().await?;
        if let Some(secret) = &self.secret_from_env {
            values.insert("jwt_secret".into(), secret.clone());
        }
        let settings = Settings::from_map_over(&values, &self.base);
        if *self.current.load_full() != settings {
            self.current.store(Arc::new(settings));
        }
        Ok(())
    }

    /// Every value, defaults filled in, `jwt_secret` masked.
    pub async fn all(&self) -> Result<BTreeMap<String, String>, SettingsError> {
        let mut values = self.store.config().await?;
        for (key, default) in KEYS {
            let default = match key {
                "default_memory_mb" => self.base.default_memory_mb.to_string(),
                _ => default.to_string(),
            };
            values.entry(key.to_string()).or_insert(default);
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
    fn what_validation_accepts_is_what_applies() {
        assert!(validate("max_request_mb", " 1 ").is_ok());
        let mut stored = BTreeMap::new();
        stored.insert("max_request_mb".to_string(), " 1 ".to_string());
        assert_eq!(Settings::from_map(&stored).max_request_bytes(), 1 << 20);
        let mut settings = Settings::defaults();
        assert_eq!(
            settings.apply("max_request_mb", " 3 ").ok().as_deref(),
            Some("3")
        );
        assert_eq!(settings.max_request_mb, 3);
        stored.insert("max_request_mb".to_string(), "lots".to_string());
        assert_eq!(Settings::from_map(&stored).max_request_mb, 10);
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
