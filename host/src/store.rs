//! Persistence: SQLite through sqlx, behind a small API so that another backend is an addition.
//!
//! Every write that changes what is served is one transaction: a crash in the middle leaves the
//! previous version active.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::error::ApiError;

/// Which kind of app a row belongs to: services and functions are stored alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// HTTP services (`/api/v2/{name}`).
    Services,
    /// Functions (`/functions/v2/{name}`).
    Functions,
}

impl Family {
    fn table(self) -> &'static str {
        match self {
            Family::Services => "services",
            Family::Functions => "functions",
        }
    }

    fn versions(self) -> &'static str {
        match self {
            Family::Services => "service_versions",
            Family::Functions => "function_versions",
        }
    }

    /// `service` or `function`, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Family::Services => "service",
            Family::Functions => "function",
        }
    }
}

/// A service or function as stored.
#[derive(Debug, Clone)]
pub struct ServiceRow {
    /// Unique name.
    pub name: String,
    /// Free text (functions).
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
    /// The version served.
    pub active_version: Option<i64>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// One immutable version of a service's code or component.
#[derive(Debug, Clone)]
pub struct VersionRow {
    /// 1, 2, ...
    pub version: i64,
    /// `js` or `component`.
    pub kind: String,
    /// The JavaScript source.
    pub code: Option<String>,
    /// The uploaded component.
    pub component: Option<Vec<u8>>,
    /// sha256 of the source or component.
    pub sha256: String,
    /// Cache key of the compiled artifact.
    pub artifact: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A version to write.
pub struct NewVersion {
    /// `js` or `component`.
    pub kind: &'static str,
    /// The JavaScript source.
    pub code: Option<String>,
    /// The component.
    pub component: Option<Vec<u8>>,
    /// sha256 of the content.
    pub sha256: String,
    /// Cache key of the compiled artifact.
    pub artifact: String,
}

/// The database.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

fn db_err(error: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        return ApiError::Conflict("it already exists".into());
    }
    ApiError::Internal(anyhow::Error::new(error).context("database"))
}

/// Now, as RFC 3339 (UTC).
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn service_from(row: &sqlx::sqlite::SqliteRow) -> ServiceRow {
    ServiceRow {
        name: row.get("name"),
        description: row.get("description"),
        enabled: row.get::<i64, _>("enabled") != 0,
        jwt_check: row.get::<i64, _>("jwt_check") != 0,
        permissions: row.get("permissions"),
        schema: row.get("schema"),
        limits: row.get("limits"),
        isolation: row.get("isolation"),
        active_version: row.get("active_version"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn version_from(row: &sqlx::sqlite::SqliteRow) -> VersionRow {
    VersionRow {
        version: row.get("version"),
        kind: row.get("kind"),
        code: row.get("code"),
        component: row.get("component"),
        sha256: row.get("sha256"),
        artifact: row.get("artifact"),
        created_at: row.get("created_at"),
    }
}

const SERVICE_COLUMNS: &str = "name, description, enabled, jwt_check, permissions, schema, limits, isolation, active_version, created_at, updated_at";

impl Store {
    /// Opens (creating) `{data_dir}/kiln.db` with WAL, foreign keys and a busy timeout, and runs
    /// the migrations in `sql/`.
    pub async fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join("kiln.db");
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../sql").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Every stored config value.
    pub async fn config(&self) -> Result<BTreeMap<String, String>, ApiError> {
        let rows = sqlx::query("SELECT key, value FROM config")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| (r.get("key"), r.get("value")))
            .collect())
    }

    /// Sets one config value.
    pub async fn set_config(&self, key: &str, value: &str) -> Result<(), ApiError> {
        sqlx::query("INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// All services or functions, by name.
    pub async fn services(&self, family: Family) -> Result<Vec<ServiceRow>, ApiError> {
        let rows = sqlx::query(&format!(
            "SELECT {SERVICE_COLUMNS} FROM {} ORDER BY name",
            family.table()
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(service_from).collect())
    }

    /// One service or function.
    pub async fn service(
        &self,
        family: Family,
        name: &str,
    ) -> Result<Option<ServiceRow>, ApiError> {
        let row = sqlx::query(&format!(
            "SELECT {SERVICE_COLUMNS} FROM {} WHERE name = ?",
            family.table()
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.as_ref().map(service_from))
    }

    /// One version.
    pub async fn version(
        &self,
        family: Family,
        name: &str,
        version: i64,
    ) -> Result<Option<VersionRow>, ApiError> {
        let row = sqlx::query(&format!(
            "SELECT * FROM {} WHERE name = ? AND version = ?",
            family.versions()
        ))
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.as_ref().map(version_from))
    }

    /// The versions, oldest first, without their content.
    pub async fn versions(&self, family: Family, name: &str) -> Result<Vec<VersionRow>, ApiError> {
        let rows = sqlx::query(&format!(
            "SELECT version, kind, NULL AS code, NULL AS component, sha256, artifact, created_at \
             FROM {} WHERE name = ? ORDER BY version",
            family.versions()
        ))
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(version_from).collect())
    }

    /// Writes a service (insert when `create`, else update) and, if given, a new version made
    /// active, in one transaction. Returns the new version number.
    pub async fn save_service(
        &self,
        family: Family,
        service: &ServiceRow,
        create: bool,
        version: Option<NewVersion>,
    ) -> Result<Option<i64>, ApiError> {
        let (table, versions) = (family.table(), family.versions());
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        if create {
            sqlx::query(&format!("INSERT INTO {table} ({SERVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)"))
                .bind(&service.name)
                .bind(&service.description)
                .bind(service.enabled as i64)
                .bind(service.jwt_check as i64)
                .bind(&service.permissions)
                .bind(&service.schema)
                .bind(&service.limits)
                .bind(&service.isolation)
                .bind(&service.created_at)
                .bind(&service.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| match db_err(e) {
                    ApiError::Conflict(_) => ApiError::Conflict(format!("{} '{}' already exists", family.noun(), service.name)),
                    other => other,
                })?;
        } else {
            let updated = sqlx::query(&format!(
                "UPDATE {table} SET description = ?, enabled = ?, jwt_check = ?, permissions = ?, schema = ?, limits = ?, \
                 isolation = ?, updated_at = ? WHERE name = ?"
            ))
            .bind(&service.description)
            .bind(service.enabled as i64)
            .bind(service.jwt_check as i64)
            .bind(&service.permissions)
            .bind(&service.schema)
            .bind(&service.limits)
            .bind(&service.isolation)
            .bind(&service.updated_at)
            .bind(&service.name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if updated.rows_affected() == 0 {
                return Err(ApiError::NotFound(format!(
                    "{} '{}' not found",
                    family.noun(),
                    service.name
                )));
            }
        }
        let mut number = None;
        if let Some(version) = version {
            let next: i64 = sqlx::query_scalar(&format!(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM {versions} WHERE name = ?"
            ))
            .bind(&service.name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query(&format!(
                "INSERT INTO {versions} (name, version, kind, code, component, sha256, artifact, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(&service.name)
            .bind(next)
            .bind(version.kind)
            .bind(&version.code)
            .bind(&version.component)
            .bind(&version.sha256)
            .bind(&version.artifact)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query(&format!(
                "UPDATE {table} SET active_version = ? WHERE name = ?"
            ))
            .bind(next)
            .bind(&service.name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            number = Some(next);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(number)
    }

    /// Makes an existing version active.
    pub async fn set_active_version(
        &self,
        family: Family,
        name: &str,
        version: i64,
    ) -> Result<(), ApiError> {
        sqlx::query(&format!(
            "UPDATE {} SET active_version = ?, updated_at = ? WHERE name = ?",
            family.table()
        ))
        .bind(version)
        .bind(now())
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Deletes a service or function and its versions; false if there was none.
    pub async fn delete_service(&self, family: Family, name: &str) -> Result<bool, ApiError> {
        let deleted = sqlx::query(&format!("DELETE FROM {} WHERE name = ?", family.table()))
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected() > 0)
    }
}
