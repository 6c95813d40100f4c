//! The SQLite store: `{data_dir}/kiln.db`, WAL, foreign keys, a busy timeout, migrations from
//! `sql/`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{AppRow, NewVersion, Result, Save, Store, StoreError, VersionRow, now};
use crate::kind::AppKind;

/// Apps, versions and config in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating) `{data_dir}/kiln.db` and runs the migrations.
    pub async fn open(data_dir: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("kiln.db"))
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
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn config(&self) -> Result<BTreeMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM config")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().collect())
    }

    async fn set_config(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO config (key, value) VALUES (?, ?) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn init_config(&self, key: &str, value: &str) -> Result<String> {
        sqlx::query("INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM config WHERE key = ?")
            .bind(key)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn apps(&self, kind: AppKind) -> Result<Vec<AppRow>> {
        Ok(sqlx::query_as(
            "SELECT name, description, enabled, jwt_check, permissions, schema, limits, isolation, \
             active_version, created_at, updated_at FROM apps WHERE kind = ? ORDER BY name",
        )
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    async fn app(&self, kind: AppKind, name: &str) -> Result<Option<AppRow>> {
        Ok(sqlx::query_as(
            "SELECT name, description, enabled, jwt_check, permissions, schema, limits, isolation, \
             active_version, created_at, updated_at FROM apps WHERE kind = ? AND name = ?",
        )
        .bind(kind.as_str())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn version(
        &self,
        kind: AppKind,
        name: &str,
        version: i64,
        with_content: bool,
    ) -> Result<Option<VersionRow>> {
        let sql = if with_content {
            "SELECT version, format, code, component, sha256, artifact, created_at \
             FROM app_versions WHERE kind = ? AND name = ? AND version = ?"
        } else {
            "SELECT version, format, NULL AS code, NULL AS component, sha256, artifact, created_at \
             FROM app_versions WHERE kind = ? AND name = ? AND version = ?"
        };
        Ok(sqlx::query_as(sql)
            .bind(kind.as_str())
            .bind(name)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn versions(&self, kind: AppKind, name: &str) -> Result<Vec<VersionRow>> {
        Ok(sqlx::query_as(
            "SELECT version, format, NULL AS code, NULL AS component, sha256, artifact, created_at \
             FROM app_versions WHERE kind = ? AND name = ? ORDER BY version",
        )
        .bind(kind.as_str())
        .bind(name)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn save_app(
        &self,
        kind: AppKind,
        app: &AppRow,
        save: Save,
        version: Option<NewVersion>,
    ) -> Result<Option<i64>> {
        let mut tx = self.pool.begin().await?;
        match save {
            Save::Create => {
                sqlx::query(
                    "INSERT INTO apps (kind, name, description, enabled, jwt_check, permissions, \
                     schema, limits, isolation, active_version, created_at, updated_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                )
                .bind(kind.as_str())
                .bind(&app.name)
                .bind(&app.description)
                .bind(app.enabled)
                .bind(app.jwt_check)
                .bind(&app.permissions)
                .bind(&app.schema)
                .bind(&app.limits)
                .bind(&app.isolation)
                .bind(&app.created_at)
                .bind(&app.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(|error| match &error {
                    sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Exists {
                        kind,
                        name: app.name.clone(),
                    },
                    _ => StoreError::Database(error),
                })?;
            }
            Save::Update => {
                let updated = sqlx::query(
                    "UPDATE apps SET description = ?, enabled = ?, jwt_check = ?, permissions = ?, \
                     schema = ?, limits = ?, isolation = ?, updated_at = ? \
                     WHERE kind = ? AND name = ?",
                )
                .bind(&app.description)
                .bind(app.enabled)
                .bind(app.jwt_check)
                .bind(&app.permissions)
                .bind(&app.schema)
                .bind(&app.limits)
                .bind(&app.isolation)
                .bind(&app.updated_at)
                .bind(kind.as_str())
                .bind(&app.name)
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() == 0 {
                    return Err(StoreError::NotFound {
                        kind,
                        name: app.name.clone(),
                    });
                }
            }
        }
        let mut number = None;
        if let Some(version) = version {
            let next: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM app_versions WHERE kind = ? AND name = ?",
            )
            .bind(kind.as_str())
            .bind(&app.name)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO app_versions (kind, name, version, format, code, component, sha256, \
                 artifact, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(kind.as_str())
            .bind(&app.name)
            .bind(next)
            .bind(version.format)
            .bind(&version.code)
            .bind(&version.component)
            .bind(&version.sha256)
            .bind(&version.artifact)
            .bind(now())
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE apps SET active_version = ? WHERE kind = ? AND name = ?")
                .bind(next)
                .bind(kind.as_str())
                .bind(&app.name)
                .execute(&mut *tx)
                .await?;
            number = Some(next);
        }
        tx.commit().await?;
        Ok(number)
    }

    async fn set_active_version(&self, kind: AppKind, name: &str, version: i64) -> Result<()> {
        sqlx::query(
            "UPDATE apps SET active_version = ?, updated_at = ? WHERE kind = ? AND name = ?",
        )
        .bind(version)
        .bind(now())
        .bind(kind.as_str())
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_app(&self, kind: AppKind, name: &str) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM apps WHERE kind = ? AND name = ?")
            .bind(kind.as_str())
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn artifacts(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT artifact FROM app_versions")
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
