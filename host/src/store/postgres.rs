//! The PostgreSQL store, shared by the nodes of a cluster: migrations from `sql/postgres/`.
//!
//! Every change that affects serving bumps the app's `revision` and notifies [`CHANNEL`] in the
//! same transaction, so that a node hears of it exactly when it is committed (and a node that
//! missed the notification finds the revision changed when it next reconciles).

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::{AppRow, NewVersion, Result, Save, Store, StoreError, VersionRow, now};
use crate::kind::AppKind;

/// The channel every change is announced on; the payload is `app` or `config`.
pub const CHANNEL: &str = "kiln_changes";

/// Apps, versions, config and nodes in one PostgreSQL database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

/// What a node needs to know to serve an app as the cluster does: its revision.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Revision {
    /// `service` or `function`.
    pub kind: String,
    /// The app's name.
    pub name: String,
    /// Bumped by every change that affects serving.
    pub revision: i64,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db?sslmode=...`) and runs the
    /// migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::migrate!("../sql/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The connection pool (the cluster's listener and heartbeat use it too).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Every app's revision.
    pub async fn revisions(&self) -> Result<Vec<Revision>> {
        Ok(
            sqlx::query_as("SELECT kind, name, revision FROM apps ORDER BY kind, name")
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

async fn notify(tx: &mut sqlx::PgConnection, what: &str) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(what)
        .execute(tx)
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn config(&self) -> Result<BTreeMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM config")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().collect())
    }

    async fn set_config(&self, key: &str, value: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO config (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        notify(&mut tx, "config").await?;
        tx.commit().await?;
        Ok(())
    }

    async fn init_config(&self, key: &str, value: &str) -> Result<String> {
        sqlx::query("INSERT INTO config (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM config WHERE key = $1")
                .bind(key)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn apps(&self, kind: AppKind) -> Result<Vec<AppRow>> {
        Ok(sqlx::query_as(
            "SELECT name, description, enabled, jwt_check, permissions, schema, limits, isolation, \
             active_version, created_at, updated_at FROM apps WHERE kind = $1 ORDER BY name",
        )
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    async fn app(&self, kind: AppKind, name: &str) -> Result<Option<AppRow>> {
        Ok(sqlx::query_as(
            "SELECT name, description, enabled, jwt_check, permissions, schema, limits, isolation, \
             active_version, created_at, updated_at FROM apps WHERE kind = $1 AND name = $2",
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
             FROM app_versions WHERE kind = $1 AND name = $2 AND version = $3"
        } else {
            "SELECT version, format, NULL::text AS code, NULL::bytea AS component, sha256, artifact, created_at \
             FROM app_versions WHERE kind = $1 AND name = $2 AND version = $3"
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
            "SELECT version, format, NULL::text AS code, NULL::bytea AS component, sha256, \
             artifact, created_at FROM app_versions WHERE kind = $1 AND name = $2 ORDER BY version",
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
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, $11)",
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
                // The row lock also serialises version numbers between nodes.
                let updated = sqlx::query(
                    "UPDATE apps SET description = $1, enabled = $2, jwt_check = $3, \
                     permissions = $4, schema = $5, limits = $6, isolation = $7, updated_at = $8, \
                     revision = nextval('app_revisions') WHERE kind = $9 AND name = $10",
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
                "SELECT COALESCE(MAX(version), 0) + 1 FROM app_versions \
                 WHERE kind = $1 AND name = $2",
            )
            .bind(kind.as_str())
            .bind(&app.name)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO app_versions (kind, name, version, format, code, component, sha256, \
                 artifact, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
            sqlx::query(
                "UPDATE apps SET active_version = $1, revision = nextval('app_revisions') \
                 WHERE kind = $2 AND name = $3",
            )
            .bind(next)
            .bind(kind.as_str())
            .bind(&app.name)
            .execute(&mut *tx)
            .await?;
            number = Some(next);
        }
        notify(&mut tx, "app").await?;
        tx.commit().await?;
        Ok(number)
    }

    async fn set_active_version(&self, kind: AppKind, name: &str, version: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE apps SET active_version = $1, updated_at = $2, \
             revision = nextval('app_revisions') WHERE kind = $3 AND name = $4",
        )
        .bind(version)
        .bind(now())
        .bind(kind.as_str())
        .bind(name)
        .execute(&mut *tx)
        .await?;
        notify(&mut tx, "app").await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_app(&self, kind: AppKind, name: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM apps WHERE kind = $1 AND name = $2")
            .bind(kind.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if kind == AppKind::Service {
            sqlx::query("DELETE FROM assets WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        notify(&mut tx, "app").await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn save_assets(&self, service: &str, sha256: &str, archive: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO assets (name, sha256, archive) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, archive = excluded.archive",
        )
        .bind(service)
        .bind(sha256)
        .bind(archive)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_assets(&self, service: &str) -> Result<()> {
        sqlx::query("DELETE FROM assets WHERE name = $1")
            .bind(service)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn assets_sha256(&self, service: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT sha256 FROM assets WHERE name = $1")
                .bind(service)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn assets(&self, service: &str) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT archive FROM assets WHERE name = $1")
                .bind(service)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn artifacts(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT artifact FROM app_versions")
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
