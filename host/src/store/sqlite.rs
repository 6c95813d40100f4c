//! The SQLite store: `{data_dir}/kiln.db`, WAL, foreign keys, a busy timeout, migrations from
//! `sql/`. One node, so nothing is announced and no revision is kept.

use std::path::Path;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection};

use super::Result;
use super::sql::{Dialect, SqlStore};
use crate::kind::AppKind;

/// SQLite's part of the store.
pub struct SqliteDialect;

/// Apps, versions and config in one SQLite file.
pub type SqliteStore = SqlStore<SqliteDialect>;

impl Dialect for SqliteDialect {
    type Db = Sqlite;

    const BUMP: &'static str = "";

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn announce<'c>(_: &'c mut SqliteConnection, _: &'static str) -> BoxFuture<'c, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn forget<'c>(
        _: &'c mut SqliteConnection,
        _: AppKind,
        _: &'c str,
    ) -> BoxFuture<'c, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

impl SqlStore<SqliteDialect> {
    /// [`SqlStore::open`] for a future that owns its path (one to spawn).
    pub async fn open_at(data_dir: std::path::PathBuf) -> Result<Self> {
        Self::open(&data_dir).await
    }

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
