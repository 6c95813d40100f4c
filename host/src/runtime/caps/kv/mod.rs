//! Key-value stores: the `kv` grant names the stores an app may open; each app's stores are its
//! own namespace in Kiln's database. Components reach them through `wasi:keyvalue`
//! ([`wasi`]); the JavaScript engine through requests to `http://kv.kiln.internal/` that never
//! leave the process ([`protocol`], the same shape the admin API serves to operators).

pub mod protocol;
pub mod wasi;

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::{InstanceBuilder, Part};
use crate::kind::AppKind;
use crate::store::kv::{Entry, Expect, KeyValue, KvError, Listed, Namespace};

/// The host name the engine's key-value requests go to.
pub const INTERNAL_HOST: &str = "kv.kiln.internal";
/// The variable that names an instance's granted stores and their bindings.
pub const STORES_VARIABLE: &str = "KILN_KV_STORES";
/// The longest key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 512;
/// The largest value.
pub const MAX_VALUE_BYTES: usize = 25 << 20;
/// The largest metadata (JSON text).
pub const MAX_METADATA_BYTES: usize = 1024;
/// The most keys one listing returns.
pub const MAX_LIST: u32 = 1000;
/// How often expired keys are deleted.
const COLLECT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// Store operations one app runs at once (the rest wait), so that a busy app cannot take every
/// database connection from the others. Writes wait for their commit holding one, so this is
/// also how many of an app's writes one commit can take.
const PER_APP: usize = 32;
/// Of those, writes of values over [`LARGE_VALUE`] at once: what an app's writes in flight hold
/// stays under ~`PER_APP` MiB plus this many of the largest values.
const LARGE_AT_ONCE: usize = 2;
/// A value from which a write counts as large.
const LARGE_VALUE: usize = 1 << 20;

/// Whether `name` is a valid store name: 1–64 of `a-z 0-9 _ -`, starting with a letter or digit.
pub fn valid_store_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// The name a store is bound to in JavaScript's `env`: `KV` for `default`, else the name in
/// upper case with `-` as `_` (`sessions` → `SESSIONS`).
pub fn binding_name(store: &str) -> String {
    if store == "default" {
        "KV".into()
    } else {
        store.to_ascii_uppercase().replace('-', "_")
    }
}

/// The node's key-value backend and the quota every app gets.
pub struct KvService {
    backend: Arc<dyn KeyValue>,
    quota: Box<dyn Fn() -> i64 + Send + Sync>,
}

impl std::fmt::Debug for KvService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KvService")
    }
}

impl KvService {
    /// Stores in `backend`; `quota` gives the bytes an app may keep (read at every write, so a
    /// changed setting applies at once).
    pub fn new(
        backend: Arc<dyn KeyValue>,
        quota: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            backend,
            quota: Box::new(quota),
        })
    }

    /// The stores of one app.
    pub fn app(self: &Arc<Self>, kind: AppKind, name: &str) -> Arc<KvApp> {
        Arc::new(KvApp {
            service: self.clone(),
            kind,
            name: name.into(),
            permits: Semaphore::new(PER_APP),
            large: Semaphore::new(LARGE_AT_ONCE),
        })
    }

    /// Deletes expired keys every [`COLLECT_EVERY`] on `runtime`, for as long as it runs
    /// (expired keys are never read meanwhile).
    pub fn start_collecting(self: &Arc<Self>, runtime: &tokio::runtime::Handle) {
        let kv = self.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(COLLECT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match kv.backend.collect_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(keys = n, "expired keys collected"),
                    Err(error) => tracing::warn!(error = %error, "collecting expired keys failed"),
                }
            }
        });
    }
}

/// A runtime of its own for the stores of a folder served alone (`kiln serve --app`), whose
/// deploys run on short-lived runtimes: the database pool and the collection live here.
pub fn own_runtime() -> std::io::Result<&'static tokio::runtime::Handle> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime.handle());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kiln-kv")
        .enable_all()
        .build()?;
    Ok(RUNTIME.get_or_init(|| runtime).handle())
}

/// Why a key-value operation failed, as the guest or operator is told.
#[derive(Debug, thiserror::Error)]
pub enum KvFault {
    /// The app was not granted this store.
    #[error("the app was not granted the key-value store '{0}' (grant it with \"kv\": [\"{0}\"])")]
    NotGranted(String),
    /// A malformed request: store name, key, metadata, expiry.
    #[error("{0}")]
    Invalid(String),
    /// A key, value or metadata over its limit.
    #[error("{0}")]
    TooLarge(String),
    /// The app's quota is full.
    #[error(transparent)]
    Quota(KvError),
    /// `increment` of something that is not a number.
    #[error("{0}")]
    NotANumber(String),
    /// The database failed.
    #[error("the key-value store failed: {0}")]
    Unavailable(String),
}

impl From<KvError> for KvFault {
    fn from(error: KvError) -> Self {
        match error {
            KvError::Quota { .. } => KvFault::Quota(error),
            KvError::NotANumber(message) => KvFault::NotANumber(message),
            KvError::Store(error) => KvFault::from(error),
        }
    }
}

impl From<crate::store::StoreError> for KvFault {
    fn from(error: crate::store::StoreError) -> Self {
        tracing::error!(error = %error, "key-value operation failed");
        KvFault::Unavailable(error.to_string())
    }
}

/// Checks a key against the limits.
pub fn check_key(key: &str) -> Result<(), KvFault> {
    if key.is_empty() {
        return Err(KvFault::Invalid("a key must not be empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KvFault::TooLarge(format!(
            "a key may be at most {MAX_KEY_BYTES} bytes, this one has {}",
            key.len()
        )));
    }
    Ok(())
}

/// Checks a value and its metadata against the limits.
pub fn check_entry(entry: &Entry) -> Result<(), KvFault> {
    if entry.value.len() > MAX_VALUE_BYTES {
        return Err(KvFault::TooLarge(format!(
            "a value may be at most {} MiB, this one has {} bytes",
            MAX_VALUE_BYTES >> 20,
            entry.value.len()
        )));
    }
    if let Some(metadata) = &entry.metadata {
        if metadata.len() > MAX_METADATA_BYTES {
            return Err(KvFault::TooLarge(format!(
                "metadata may be at most {MAX_METADATA_BYTES} bytes of JSON, this has {}",
                metadata.len()
            )));
        }
        if serde_json::from_str::<serde::de::IgnoredAny>(metadata).is_err() {
            return Err(KvFault::Invalid("metadata must be JSON".into()));
        }
    }
    Ok(())
}

/// One app's stores: every operation checks the limits and runs within the app's share of the
/// database.
#[derive(Debug)]
pub struct KvApp {
    service: Arc<KvService>,
    kind: AppKind,
    name: Arc<str>,
    permits: Semaphore,
    large: Semaphore,
}

impl KvApp {
    fn ns<'a>(&'a self, store: &'a str) -> Result<Namespace<'a>, KvFault> {
        if !valid_store_name(store) {
            return Err(KvFault::Invalid(format!(
                "'{store}' is not a store name (1-64 of a-z, 0-9, '_' and '-')"
            )));
        }
        Ok(Namespace {
            kind: self.kind,
            app: &self.name,
            store,
        })
    }

    async fn permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.permits
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    /// The live value of `key`.
    pub async fn get(&self, store: &str, key: &str) -> Result<Option<Entry>, KvFault> {
        let ns = self.ns(store)?;
        check_key(key)?;
        let _permit = self.permit().await;
        Ok(self.service.backend.get(ns, key).await?)
    }

    /// Stores `entry` if what is there matches `expect`; false when it did not.
    pub async fn put(
        &self,
        store: &str,
        key: &str,
        entry: Entry,
        expect: Expect,
    ) -> Result<bool, KvFault> {
        let ns = self.ns(store)?;
        check_key(key)?;
        check_entry(&entry)?;
        let _large = if entry.value.len() > LARGE_VALUE {
            Some(self.large.acquire().await.expect("never closed"))
        } else {
            None
        };
        let _permit = self.permit().await;
        let quota = (self.service.quota)();
        Ok(self
            .service
            .backend
            .put(ns, key, entry, expect, quota)
            .await?)
    }

    /// Removes `key`; whether it had a value.
    pub async fn delete(&self, store: &str, key: &str) -> Result<bool, KvFault> {
        let ns = self.ns(store)?;
        check_key(key)?;
        let _permit = self.permit().await;
        Ok(self.service.backend.delete(ns, key).await?)
    }

    /// Adds `delta` to the number under `key`; when `unsigned`, refuses (writing nothing) a
    /// result below zero.
    pub async fn increment(
        &self,
        store: &str,
        key: &str,
        delta: i64,
        unsigned: bool,
    ) -> Result<i64, KvFault> {
        let ns = self.ns(store)?;
        check_key(key)?;
        let _permit = self.permit().await;
        let quota = (self.service.quota)();
        Ok(self
            .service
            .backend
            .increment(ns, key, delta, unsigned, quota)
            .await?)
    }

    /// Up to `limit` (at most [`MAX_LIST`]) keys starting with `prefix`, after `after`.
    pub async fn list(
        &self,
        store: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Listed>, KvFault> {
        let ns = self.ns(store)?;
        let _permit = self.permit().await;
        Ok(self
            .service
            .backend
            .list(ns, prefix, after, limit.clamp(1, MAX_LIST))
            .await?)
    }
}

/// The key-value part: the granted store names and, on a node with a store, the app's stores.
#[derive(Debug, Default, Clone)]
pub struct Kv {
    stores: Arc<[String]>,
    app: Option<Arc<KvApp>>,
}

impl Kv {
    /// Grants `stores` (valid names) of `app`; without `app` (no store on this node) every
    /// open fails with a message saying why.
    pub fn new(stores: Vec<String>, app: Option<Arc<KvApp>>) -> Self {
        Self {
            stores: stores.into(),
            app,
        }
    }

    /// The granted store names.
    pub fn stores(&self) -> &[String] {
        &self.stores
    }

    /// The app's stores, if `store` was granted.
    pub fn open(&self, store: &str) -> Result<&Arc<KvApp>, KvFault> {
        if !self.stores.iter().any(|s| s == store) {
            return Err(KvFault::NotGranted(store.to_string()));
        }
        self.app.as_ref().ok_or_else(|| {
            KvFault::Unavailable("key-value stores need Kiln's platform store (kiln serve)".into())
        })
    }
}

impl Part for Kv {
    type Instance = Kv;

    /// Names the granted stores with their JavaScript bindings in `KILN_KV_STORES`
    /// (`KV=default,SESSIONS=sessions`), which the engine reads and hides from the app.
    fn prepare(&self, instance: &mut InstanceBuilder<'_>) -> anyhow::Result<Kv> {
        if !self.stores.is_empty() {
            let pairs: Vec<String> = self
                .stores
                .iter()
                .map(|store| format!("{}={store}", binding_name(store)))
                .collect();
            instance.wasi.env(STORES_VARIABLE, pairs.join(","));
        }
        Ok(self.clone())
    }
}
