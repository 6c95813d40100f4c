//! Persistence behind one trait: apps (services and functions alike), their immutable versions,
//! and the config table. [`SqliteStore`] is the single-node implementation; [`PostgresStore`]
//! is shared by the nodes of a cluster.
//!
//! Every write that changes what is served is one transaction: a crash in the middle leaves the
//! previous version active.

pub mod kv;
pub mod kv_sqlite;
mod postgres;
mod shared;
mod sql;
mod sqlite;

use std::collections::BTreeMap;

pub use postgres::{PostgresDialect, PostgresStore};
pub use shared::{Changes, NodeRow, Revision, Shared};
pub use sql::{Dialect, SqlStore};
pub use sqlite::{SqliteDialect, SqliteStore};

use crate::kind::AppKind;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Creating a name that exists.
    #[error("{kind} '{name}' already exists")]
    Exists {
        /// Service or function.
        kind: AppKind,
        /// The name.
        name: String,
    },
    /// Changing a name that does not exist.
    #[error("{kind} '{name}' not found")]
    NotFound {
        /// Service or function.
        kind: AppKind,
        /// The name.
        name: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The key-value stores' own connection failed.
    #[error("{0}")]
    Internal(String),
    /// The schema could not be brought up to date.
    #[error("database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A result of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A service or function as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppRow {
    /// Unique name within its kind.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Served or not.
    pub enabled: bool,
    /// Whether callers need a token.
    pub jwt_check: bool,
    /// Permissions, as JSON.
    pub permissions: String,
    /// OpenAPI document, as JSON.
    pub schema: Option<String>,
    /// Limits, as JSON.
    pub limits: String,
    /// `reuse` | `request`, or the default.
    pub isolation: Option<String>,
    /// Variables and secrets (secrets sealed), as JSON.
    pub vars: String,
    /// Cron expressions, as a JSON array.
    pub schedule: String,
    /// The version served.
    pub active_version: Option<i64>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl AppRow {
    /// A new app: enabled, no token needed, nothing granted, no version yet.
    pub fn new(name: &str, description: &str) -> Self {
        let now = now();
        Self {
            name: name.to_string(),
            description: description.to_string(),
            enabled: true,
            jwt_check: false,
            permissions: "{}".into(),
            schema: None,
            limits: "{}".into(),
            isolation: None,
            vars: "{}".into(),
            schedule: "[]".into(),
            active_version: None,
            created_at: now.clone(),
            updated_at: now,
        }
    }
}

/// One immutable version of an app's code or component.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    /// 1, 2, ...
    pub version: i64,
    /// `js` or `component`.
    pub format: String,
    /// The JavaScript source (only when asked for with the content).
    pub code: Option<String>,
    /// The uploaded component (only when asked for with the content).
    pub component: Option<Vec<u8>>,
    /// sha256 of the source or component.
    pub sha256: String,
    /// Cache key of the compiled artifact.
    pub artifact: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A version to write.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// `js` or `component`.
    pub format: &'static str,
    /// The JavaScript source.
    pub code: Option<String>,
    /// The component.
    pub component: Option<Vec<u8>>,
    /// sha256 of the content.
    pub sha256: String,
    /// Cache key of the compiled artifact.
    pub artifact: String,
}

/// One scheduled run of an app: inserted by the node that claims its tick, updated when it ends.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct RunRow {
    /// The cron expression that fired.
    pub cron: String,
    /// The tick, in milliseconds since the Unix epoch.
    pub scheduled_ms: i64,
    /// The node that ran it.
    pub node: String,
    /// The request id it was logged under.
    pub request_id: String,
    /// RFC 3339.
    pub started_at: String,
    /// `running`, `ok`, `error` or `skipped` (not run: see [`crate::schedules`]).
    pub status: String,
    /// The HTTP status the app answered, once it did.
    pub http_status: Option<i64>,
    /// How long it took, once it ended.
    pub duration_ms: Option<i64>,
    /// What went wrong, for `error`.
    pub error: Option<String>,
}

/// How many runs of an app are kept.
pub const RUNS_KEPT: i64 = 100;

/// Whether [`Store::save_app`] creates the row or updates an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Save {
    /// Insert; an existing name is [`StoreError::Exists`].
    Create,
    /// Update; a missing name is [`StoreError::NotFound`].
    Update,
}

/// The store's operations.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Every stored config value.
    async fn config(&self) -> Result<BTreeMap<String, String>>;

    /// Sets one config value.
    async fn set_config(&self, key: &str, value: &str) -> Result<()>;

    /// Stores `value` under `key` unless a value is there already (another node sharing the
    /// database may have stored one first); returns the value stored.
    async fn init_config(&self, key: &str, value: &str) -> Result<String>;

    /// All apps of a kind, by name.
    async fn apps(&self, kind: AppKind) -> Result<Vec<AppRow>>;

    /// One app.
    async fn app(&self, kind: AppKind, name: &str) -> Result<Option<AppRow>>;

    /// One version, with its content (source or component) when `with_content`.
    async fn version(
        &self,
        kind: AppKind,
        name: &str,
        version: i64,
        with_content: bool,
    ) -> Result<Option<VersionRow>>;

    /// The versions of an app, oldest first, without their content.
    async fn versions(&self, kind: AppKind, name: &str) -> Result<Vec<VersionRow>>;

    /// Writes an app and, if given, a new version made active, in one transaction. Returns the
    /// new version's number.
    async fn save_app(
        &self,
        kind: AppKind,
        app: &AppRow,
        save: Save,
        version: Option<NewVersion>,
    ) -> Result<Option<i64>>;

    /// Makes an existing version active.
    async fn set_active_version(&self, kind: AppKind, name: &str, version: i64) -> Result<()>;

    /// Deletes an app and its versions; false if there was none.
    async fn delete_app(&self, kind: AppKind, name: &str) -> Result<bool>;

    /// Every app with a schedule: its kind, name, whether it is enabled and its expressions (a
    /// JSON array).
    async fn schedules(&self) -> Result<Vec<(String, String, bool, String)>>;

    /// Claims a tick of an app's schedule by recording its run (status `running`); false if a
    /// run of that tick is recorded already (another node claimed it). Keeps the last
    /// [`RUNS_KEPT`] runs.
    async fn claim_run(&self, kind: AppKind, app: &str, run: &RunRow) -> Result<bool>;

    /// Records how a claimed run ended.
    async fn finish_run(&self, kind: AppKind, app: &str, run: &RunRow) -> Result<()>;

    /// The recorded runs of an app, newest first.
    async fn runs(&self, kind: AppKind, app: &str) -> Result<Vec<RunRow>>;

    /// Records as failed with `error` the runs still `running` whose tick came before
    /// `before_ms` (their node stopped before they ended). Returns how many.
    async fn abandon_runs(&self, before_ms: i64, error: &str) -> Result<u64>;

    /// Every artifact key a stored version refers to (what the cache must keep).
    async fn artifacts(&self) -> Result<Vec<String>>;

    /// Keeps a hosted frontend's archive for the other nodes sharing the database (they unpack
    /// it when they next bring the service in line). A store of one node keeps nothing: the
    /// unpacked files are on its disk.
    async fn save_assets(&self, _service: &str, _sha256: &str, _archive: &[u8]) -> Result<()> {
        Ok(())
    }

    /// Forgets a service's stored frontend archive.
    async fn delete_assets(&self, _service: &str) -> Result<()> {
        Ok(())
    }

    /// The sha256 of a service's stored frontend archive, if any.
    async fn assets_sha256(&self, _service: &str) -> Result<Option<String>> {
        Ok(None)
    }

    /// A service's stored frontend archive, if any.
    async fn assets(&self, _service: &str) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// Now, as RFC 3339 (UTC).
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
