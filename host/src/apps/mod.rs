//! The control plane: apps (services and functions alike) stored in the database and deployed
//! into the registry, with their immutable versions. One deploy, update, rollback or delete per
//! app at a time.
//!
//! In rooms by job: [`record`] (a stored row, typed), [`spec`] (how a record runs), [`crud`]
//! (create, update, replace, roll back, delete), [`sync`] (what this node serves, brought in line
//! with the store), [`assets`] (hosted frontends' files), [`vars`] (variables and secrets),
//! [`views`] (what the admin API shows).

mod assets;
mod crud;
pub mod frontend;
pub mod model;
mod pinned;
mod record;
mod seed;
mod spec;
mod sync;
pub mod validate;
pub mod vars;
mod views;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::deploy::{DeployError, Deployer};
use crate::kind::AppKind;
use crate::settings::LiveSettings;
use crate::store::{Store, StoreError};
pub use record::Record;
pub use spec::{NodeDefaults, SpecDefaults, run_spec};

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppsError {
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// Input over a size limit.
    #[error("{0}")]
    TooLarge(String),
    /// Kiln failed (I/O on its own data).
    #[error(transparent)]
    Internal(anyhow::Error),
    /// What the store holds for an app cannot be used as it is (a column that does not decode,
    /// content that does not match its sha256): it is never served nor replaced by defaults.
    #[error("{0}")]
    Corrupt(String),
    /// No such app.
    #[error("{kind} '{name}' not found")]
    NotFound {
        /// Service or function.
        kind: AppKind,
        /// The name.
        name: String,
    },
    /// No such variable (or other part of an app).
    #[error("{0}")]
    Missing(String),
    /// The node cannot do this as it is configured.
    #[error("{0}")]
    Unavailable(String),
    /// No such version.
    #[error("{kind} '{name}' has no version {version}")]
    NoSuchVersion {
        /// Service or function.
        kind: AppKind,
        /// The name.
        name: String,
        /// The version asked for.
        version: i64,
    },
    /// Compiling or validating the upload failed.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// The store failed (or the name exists).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One lock per app, so that changes to the same app run one at a time.
type AppLocks = Mutex<HashMap<(AppKind, String), Arc<tokio::sync::Mutex<()>>>>;

/// Apps: stored, deployed, changed through the admin API.
pub struct Apps {
    store: Arc<dyn Store>,
    settings: Arc<LiveSettings>,
    deployer: Arc<Deployer>,
    locks: AppLocks,
    /// Kiln's data dir, canonical: no grant may reach it.
    data_dir: PathBuf,
    /// The largest `limits.memory_mb`.
    max_memory_mb: u64,
    /// The node's defaults (`kiln serve`'s flags): below each app's own limits.
    node: NodeDefaults,
    /// What each served app was deployed from, so that a change made on another node
    /// redeploys only when it must.
    deployed: Mutex<HashMap<(AppKind, String), sync::Deployed>>,
    /// The key secrets are sealed with, if this node has one.
    secrets: Option<crate::secrets::SecretKey>,
}

impl Apps {
    /// The store the apps are kept in.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The control plane over a store, for a server configured by `config`: grants may not
    /// reach its data dir, apps may ask for up to its `max_memory_bytes`, and its flags are the
    /// node's defaults ([`NodeDefaults`]).
    pub fn new(
        store: Arc<dyn Store>,
        settings: Arc<LiveSettings>,
        deployer: Arc<Deployer>,
        config: &crate::config::Config,
    ) -> Self {
        let data_dir = &config.data_dir;
        Self {
            store,
            settings,
            deployer,
            locks: Mutex::default(),
            data_dir: data_dir
                .canonicalize()
                .unwrap_or_else(|_| data_dir.to_path_buf()),
            max_memory_mb: (config.max_memory_bytes >> 20) as u64,
            node: NodeDefaults::of(config),
            deployed: Mutex::default(),
            secrets: config.secrets.clone(),
        }
    }

    fn compile_timeout(&self) -> Duration {
        self.settings.get().compile_timeout()
    }

    /// What grants may reach: not Kiln's data dir, but for the app's own static assets (`own`).
    fn guard<'a>(&'a self, own: &'a Path) -> validate::Guard<'a> {
        validate::Guard {
            data_dir: &self.data_dir,
            own_static: Some(own),
        }
    }

    /// Serialises changes to one app.
    async fn lock(&self, kind: AppKind, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .locks
            .lock()
            .expect("app locks")
            .entry((kind, name.to_string()))
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// The stored app, typed, if there is one.
    async fn find(&self, kind: AppKind, name: &str) -> Result<Option<Record>, AppsError> {
        match self.store.app(kind, name).await? {
            Some(row) => Ok(Some(Record::decode(kind, row)?)),
            None => Ok(None),
        }
    }

    /// The stored app, typed; [`AppsError::NotFound`] if there is none.
    async fn record(&self, kind: AppKind, name: &str) -> Result<Record, AppsError> {
        self.find(kind, name)
            .await?
            .ok_or_else(|| AppsError::NotFound {
                kind,
                name: name.to_string(),
            })
    }
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
