//! The store's one implementation, over any sqlx database whose [`Dialect`] says how it differs:
//! the SQL is the same (`$n` parameters, which SQLite reads too), while announcing changes to
//! other nodes, revisions and kept frontend archives belong to the dialect.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::{
    AppRow, NewVersion, RUNS_KEPT, Result, RunRow, Save, Store, StoreError, VersionRow, now,
};
use crate::kind::AppKind;

/// What one database does differently.
pub trait Dialect: Send + Sync + 'static {
    /// The sqlx database.
    type Db: Database;

    /// Added to the `SET` list of every update that changes what is served (a revision bump for
    /// the other nodes), or empty.
    const BUMP: &'static str;

    /// Rows an `INSERT`, `UPDATE` or `DELETE` changed.
    fn rows_affected(result: &<Self::Db as Database>::QueryResult) -> u64;

    /// Tells the other nodes, inside the transaction, that `what` (`app` or `config`) changed.
    fn announce<'c>(
        connection: &'c mut <Self::Db as Database>::Connection,
        what: &'static str,
    ) -> BoxFuture<'c, Result<()>>;

    /// Deletes, inside the transaction, what a deleted app kept besides its rows.
    fn forget<'c>(
        connection: &'c mut <Self::Db as Database>::Connection,
        kind: AppKind,
        name: &'c str,
    ) -> BoxFuture<'c, Result<()>>;

    /// Keeps a frontend archive for the other nodes (see [`Store::save_assets`]); a database
    /// of one node keeps none.
    fn save_assets<'a>(
        _pool: &'a Pool<Self::Db>,
        _service: &'a str,
        _sha256: &'a str,
        _archive: &'a [u8],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Forgets a kept frontend archive.
    fn delete_assets<'a>(
        _pool: &'a Pool<Self::Db>,
        _service: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// The sha256 of a kept frontend archive.
    fn assets_sha256<'a>(
        _pool: &'a Pool<Self::Db>,
        _service: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async { Ok(None) })
    }

    /// A kept frontend archive.
    fn assets<'a>(
        _pool: &'a Pool<Self::Db>,
        _service: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(async { Ok(None) })
    }
}

/// A store on a pool of `D`'s database.
pub struct SqlStore<D: Dialect> {
    pub(super) pool: Pool<D::Db>,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

const APP_COLUMNS: &str = "SELECT name, description, enabled, jwt_check, permissions, schema, \
                           limits, isolation, vars, schedule, active_version, created_at, updated_at FROM apps";

#[async_trait::async_trait]
impl<D: Dialect> Store for SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'c> &'c Pool<D::Db>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'r> AppRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> VersionRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (String, String): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (String,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (i64,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (String, String, bool, String): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> RunRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Vec<u8>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
{
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
        D::announce(&mut *tx, "config").await?;
        tx.commit().await?;
        Ok(())
    }

    async fn init_config(&self, key: &str, value: &str) -> Result<String> {
        sqlx::query("INSERT INTO config (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        let (stored,): (String,) = sqlx::query_as("SELECT value FROM config WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(stored)
    }

    async fn apps(&self, kind: AppKind) -> Result<Vec<AppRow>> {
        let sql = format!("{APP_COLUMNS} WHERE kind = $1 ORDER BY name");
        Ok(sqlx::query_as(&sql)
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await?)
    }

    async fn app(&self, kind: AppKind, name: &str) -> Result<Option<AppRow>> {
        let sql = format!("{APP_COLUMNS} WHERE kind = $1 AND name = $2");
        Ok(sqlx::query_as(&sql)
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
            "SELECT version, format, CAST(NULL AS TEXT) AS code, CAST(NULL AS BYTEA) AS component, \
             sha256, artifact, created_at FROM app_versions \
             WHERE kind = $1 AND name = $2 AND version = $3"
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
            "SELECT version, format, CAST(NULL AS TEXT) AS code, CAST(NULL AS BYTEA) AS component, \
             sha256, artifact, created_at FROM app_versions WHERE kind = $1 AND name = $2 \
             ORDER BY version",
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
                     schema, limits, isolation, vars, schedule, active_version, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, $13)",
                )
                .bind(kind.as_str())
                .bind(app.name.clone())
                .bind(app.description.clone())
                .bind(app.enabled)
                .bind(app.jwt_check)
                .bind(app.permissions.clone())
                .bind(app.schema.clone())
                .bind(app.limits.clone())
                .bind(app.isolation.clone())
                .bind(app.vars.clone())
                .bind(app.schedule.clone())
                .bind(app.created_at.clone())
                .bind(app.updated_at.clone())
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
                let sql = format!(
                    "UPDATE apps SET description = $1, enabled = $2, jwt_check = $3, \
                     permissions = $4, schema = $5, limits = $6, isolation = $7, vars = $8, \
                     schedule = $9, updated_at = $10{} WHERE kind = $11 AND name = $12",
                    D::BUMP
                );
                let updated = sqlx::query(&sql)
                    .bind(app.description.clone())
                    .bind(app.enabled)
                    .bind(app.jwt_check)
                    .bind(app.permissions.clone())
                    .bind(app.schema.clone())
                    .bind(app.limits.clone())
                    .bind(app.isolation.clone())
                    .bind(app.vars.clone())
                    .bind(app.schedule.clone())
                    .bind(app.updated_at.clone())
                    .bind(kind.as_str())
                    .bind(app.name.clone())
                    .execute(&mut *tx)
                    .await?;
                if D::rows_affected(&updated) == 0 {
                    return Err(StoreError::NotFound {
                        kind,
                        name: app.name.clone(),
                    });
                }
            }
        }
        let mut number = None;
        if let Some(version) = version {
            let (next,): (i64,) = sqlx::query_as(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM app_versions \
                 WHERE kind = $1 AND name = $2",
            )
            .bind(kind.as_str())
            .bind(app.name.clone())
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO app_versions (kind, name, version, format, code, component, sha256, \
                 artifact, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(kind.as_str())
            .bind(app.name.clone())
            .bind(next)
            .bind(version.format)
            .bind(version.code)
            .bind(version.component)
            .bind(version.sha256)
            .bind(version.artifact)
            .bind(now())
            .execute(&mut *tx)
            .await?;
            let sql = format!(
                "UPDATE apps SET active_version = $1{} WHERE kind = $2 AND name = $3",
                D::BUMP
            );
            sqlx::query(&sql)
                .bind(next)
                .bind(kind.as_str())
                .bind(app.name.clone())
                .execute(&mut *tx)
                .await?;
            number = Some(next);
        }
        D::announce(&mut *tx, "app").await?;
        tx.commit().await?;
        Ok(number)
    }

    async fn set_active_version(&self, kind: AppKind, name: &str, version: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE apps SET active_version = $1, updated_at = $2{} WHERE kind = $3 AND name = $4",
            D::BUMP
        );
        sqlx::query(&sql)
            .bind(version)
            .bind(now())
            .bind(kind.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        D::announce(&mut *tx, "app").await?;
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
        // An app's key-value stores go with it, at once.
        for table in ["kv", "kv_usage", "runs"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE kind = $1 AND app = $2"))
                .bind(kind.as_str())
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        D::forget(&mut *tx, kind, name).await?;
        D::announce(&mut *tx, "app").await?;
        tx.commit().await?;
        Ok(D::rows_affected(&deleted) > 0)
    }

    async fn schedules(&self) -> Result<Vec<(String, String, bool, String)>> {
        Ok(
            sqlx::query_as("SELECT kind, name, enabled, schedule FROM apps WHERE schedule <> '[]'")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn claim_run(&self, kind: AppKind, app: &str, run: &RunRow) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO runs (kind, app, cron, scheduled_ms, node, request_id, started_at, status, \
             error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(kind.as_str())
        .bind(app)
        .bind(run.cron.clone())
        .bind(run.scheduled_ms)
        .bind(run.node.clone())
        .bind(run.request_id.clone())
        .bind(run.started_at.clone())
        .bind(run.status.clone())
        .bind(run.error.clone())
        .execute(&self.pool)
        .await?;
        if D::rows_affected(&inserted) == 0 {
            return Ok(false);
        }
        sqlx::query(
            "DELETE FROM runs WHERE kind = $1 AND app = $2 AND scheduled_ms < (SELECT scheduled_ms \
             FROM runs WHERE kind = $1 AND app = $2 ORDER BY scheduled_ms DESC LIMIT 1 OFFSET $3)",
        )
        .bind(kind.as_str())
        .bind(app)
        .bind(RUNS_KEPT - 1)
        .execute(&self.pool)
        .await?;
        Ok(true)
    }

    async fn finish_run(&self, kind: AppKind, app: &str, run: &RunRow) -> Result<()> {
        sqlx::query(
            "UPDATE runs SET status = $1, http_status = $2, duration_ms = $3, error = $4 \
             WHERE kind = $5 AND app = $6 AND cron = $7 AND scheduled_ms = $8",
        )
        .bind(run.status.clone())
        .bind(run.http_status)
        .bind(run.duration_ms)
        .bind(run.error.clone())
        .bind(kind.as_str())
        .bind(app)
        .bind(run.cron.clone())
        .bind(run.scheduled_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn runs(&self, kind: AppKind, app: &str) -> Result<Vec<RunRow>> {
        Ok(sqlx::query_as(
            "SELECT cron, scheduled_ms, node, request_id, started_at, status, http_status, \
             duration_ms, error FROM runs WHERE kind = $1 AND app = $2 \
             ORDER BY scheduled_ms DESC, cron LIMIT $3",
        )
        .bind(kind.as_str())
        .bind(app)
        .bind(RUNS_KEPT)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn abandon_runs(&self, before_ms: i64, error: &str) -> Result<u64> {
        let updated = sqlx::query(
            "UPDATE runs SET status = 'error', error = $1 WHERE status = 'running' \
             AND scheduled_ms < $2",
        )
        .bind(error)
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(D::rows_affected(&updated))
    }

    async fn artifacts(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT artifact FROM app_versions")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|(artifact,)| artifact).collect())
    }

    async fn save_assets(&self, service: &str, sha256: &str, archive: &[u8]) -> Result<()> {
        D::save_assets(&self.pool, service, sha256, archive).await
    }

    async fn delete_assets(&self, service: &str) -> Result<()> {
        D::delete_assets(&self.pool, service).await
    }

    async fn assets_sha256(&self, service: &str) -> Result<Option<String>> {
        D::assets_sha256(&self.pool, service).await
    }

    async fn assets(&self, service: &str) -> Result<Option<Vec<u8>>> {
        D::assets(&self.pool, service).await
    }
}
