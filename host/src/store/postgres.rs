//! The PostgreSQL store, shared by the nodes of a cluster: migrations from `sql/postgres/`.
//!
//! Every change that affects serving bumps the app's `revision` and notifies [`CHANNEL`] in the
//! same transaction, so that a node hears of it exactly when it is committed (and a node that
//! missed the notification finds the revision changed when it next reconciles). Frontend
//! archives are kept in the database, for the nodes that did not receive the upload.

use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::postgres::{PgListener, PgPoolOptions, PgQueryResult};
use sqlx::{PgConnection, PgPool, Postgres};

use super::Result;
use super::shared::{Changes, NodeRow, Revision, Shared};
use super::sql::{Dialect, SqlStore};
use crate::kind::AppKind;

/// The channel every change is announced on; the payload is `app` or `config`.
const CHANNEL: &str = "kiln_changes";

/// PostgreSQL's part of the store.
pub struct PostgresDialect;

/// Apps, versions, config, frontend archives and nodes in one PostgreSQL database.
pub type PostgresStore = SqlStore<PostgresDialect>;

impl SqlStore<PostgresDialect> {
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
}

/// A listening connection's notifications.
struct Listening(PgListener);

#[async_trait::async_trait]
impl Changes for Listening {
    async fn next(&mut self) -> Result<bool> {
        Ok(self.0.try_recv().await?.is_some())
    }
}

#[async_trait::async_trait]
impl Shared for PostgresStore {
    async fn changes(&self) -> Result<Box<dyn Changes>> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(Box::new(Listening(listener)))
    }

    async fn revisions(&self) -> Result<Vec<Revision>> {
        Ok(
            sqlx::query_as("SELECT kind, name, revision FROM apps ORDER BY kind, name")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn heartbeat(&self, node: &NodeRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO nodes (id, address, version, started_at, last_seen, serving) \
             VALUES ($1, $2, $3, $4::timestamptz, now(), $5) \
             ON CONFLICT (id) DO UPDATE SET last_seen = now(), serving = excluded.serving",
        )
        .bind(&node.id)
        .bind(&node.address)
        .bind(&node.version)
        .bind(&node.started_at)
        .bind(&node.serving)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn nodes(&self, seconds: f64) -> Result<Vec<NodeRow>> {
        Ok(sqlx::query_as(
            "SELECT id, address, version, \
             to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS started_at, \
             to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS last_seen, \
             serving FROM nodes \
             WHERE last_seen > now() - make_interval(secs => $1) ORDER BY started_at, id",
        )
        .bind(seconds)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Dialect for PostgresDialect {
    type Db = Postgres;

    const BUMP: &'static str = ", revision = nextval('app_revisions')";

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn announce<'c>(tx: &'c mut PgConnection, what: &'static str) -> BoxFuture<'c, Result<()>> {
        Box::pin(async move {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(what)
                .execute(tx)
                .await?;
            Ok(())
        })
    }

    fn forget<'c>(
        tx: &'c mut PgConnection,
        kind: AppKind,
        name: &'c str,
    ) -> BoxFuture<'c, Result<()>> {
        Box::pin(async move {
            if kind == AppKind::Service {
                sqlx::query("DELETE FROM assets WHERE name = $1")
                    .bind(name)
                    .execute(tx)
                    .await?;
            }
            Ok(())
        })
    }

    fn save_assets<'a>(
        pool: &'a PgPool,
        service: &'a str,
        sha256: &'a str,
        archive: &'a [u8],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO assets (name, sha256, archive) VALUES ($1, $2, $3) ON CONFLICT (name) \
                 DO UPDATE SET sha256 = excluded.sha256, archive = excluded.archive",
            )
            .bind(service)
            .bind(sha256)
            .bind(archive)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    fn delete_assets<'a>(pool: &'a PgPool, service: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM assets WHERE name = $1")
                .bind(service)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    fn assets_sha256<'a>(
        pool: &'a PgPool,
        service: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT sha256 FROM assets WHERE name = $1")
                    .bind(service)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    fn assets<'a>(pool: &'a PgPool, service: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT archive FROM assets WHERE name = $1")
                    .bind(service)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }
}
