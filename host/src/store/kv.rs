//! Apps' key-value stores, in the same database as the rest (SQLite for one node, PostgreSQL
//! shared by a cluster, so every node reads what any node wrote: each operation is one
//! transaction on the one database, strongly consistent).
//!
//! Every write of an app locks its `kv_usage` row first: writes of one app are serialised (on
//! SQLite all writes are), the quota is checked against an exact sum, and two writers never wait
//! on each other's rows in opposite orders.

use sha2::Digest as _;
use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::Result;
use super::sql::{Dialect, SqlStore};
use crate::kind::AppKind;

/// One store of one app.
#[derive(Debug, Clone, Copy)]
pub struct Namespace<'a> {
    /// The app's kind.
    pub kind: AppKind,
    /// The app's name.
    pub app: &'a str,
    /// The store's name.
    pub store: &'a str,
}

/// A value with what was stored beside it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Entry {
    /// The bytes.
    pub value: Vec<u8>,
    /// JSON text given with `put`.
    pub metadata: Option<String>,
    /// Seconds since the epoch after which the key is gone.
    pub expires_at: Option<i64>,
}

/// A key as a listing shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Listed {
    /// The key.
    pub key: String,
    /// JSON text given with `put`.
    pub metadata: Option<String>,
    /// Seconds since the epoch after which the key is gone.
    pub expires_at: Option<i64>,
}

/// What a conditional write expects to find.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Anything: an unconditional write.
    Any,
    /// No live value.
    Absent,
    /// A live value whose sha256 is this (an `etag`).
    Sha256([u8; 32]),
}

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The write would take the app past its quota.
    #[error("the app's key-value quota of {quota} bytes is full ({used} bytes used)")]
    Quota {
        /// Bytes the app's stores hold.
        used: i64,
        /// The app's quota.
        quota: i64,
    },
    /// `increment` on a value that is not a decimal integer, or past the integer range.
    #[error("{0}")]
    NotANumber(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

impl From<sqlx::Error> for KvError {
    fn from(error: sqlx::Error) -> Self {
        KvError::Store(error.into())
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The key-value operations of a store.
#[async_trait::async_trait]
pub trait KeyValue: Send + Sync {
    /// The live value of `key`.
    async fn get(&self, ns: Namespace<'_>, key: &str) -> Result<Option<Entry>>;

    /// Stores `entry` under `key` if what is there matches `expect`; false when it did not.
    async fn put(
        &self,
        ns: Namespace<'_>,
        key: &str,
        entry: Entry,
        expect: Expect,
        quota: i64,
    ) -> Result<bool, KvError>;

    /// Removes `key`; whether it had a live value.
    async fn delete(&self, ns: Namespace<'_>, key: &str) -> Result<bool>;

    /// Adds `delta` to the decimal integer stored under `key` (0 when there is none), keeping
    /// its metadata and expiry; returns the new number.
    async fn increment(
        &self,
        ns: Namespace<'_>,
        key: &str,
        delta: i64,
        unsigned: bool,
        quota: i64,
    ) -> Result<i64, KvError>;

    /// Up to `limit` live keys starting with `prefix`, after `after`, in bytewise order.
    async fn list(
        &self,
        ns: Namespace<'_>,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Listed>>;

    /// Bytes an app's stores hold.
    async fn usage(&self, kind: AppKind, app: &str) -> Result<i64>;

    /// Deletes expired keys (a batch at a time); how many.
    async fn collect_expired(&self) -> Result<u64>;
}

/// What a write does, once the current row is known: `None` when `expect` does not hold, else
/// the new row's size and how much the app's usage grows; a quota error when it would not fit.
pub(super) fn plan_put(
    key: &str,
    entry: &Entry,
    current: Option<&Current>,
    expect: &Expect,
    used: i64,
    quota: i64,
) -> Result<Option<(i64, i64)>, KvError> {
    let now = now_secs();
    let found = current.filter(|c| live(c.expires_at, now));
    let matches = match expect {
        Expect::Any => true,
        Expect::Absent => found.is_none(),
        Expect::Sha256(digest) => {
            found.is_some_and(|c| <[u8; 32]>::from(sha2::Sha256::digest(&c.value)) == *digest)
        }
    };
    if !matches {
        return Ok(None);
    }
    let size = size_of(key, entry);
    let delta = size - current.map_or(0, |c| c.size);
    if delta > 0 && used + delta > quota {
        return Err(KvError::Quota { used, quota });
    }
    Ok(Some((size, delta)))
}

/// The row `increment` writes: the live number plus `delta`, with its metadata and expiry.
pub(super) fn incremented(
    key: &str,
    current: Option<&Current>,
    delta: i64,
    unsigned: bool,
) -> Result<(i64, Entry), KvError> {
    let found = current.filter(|c| live(c.expires_at, now_secs()));
    let number = match found {
        None => 0,
        Some(c) => std::str::from_utf8(&c.value)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                KvError::NotANumber(format!("the value of '{key}' is not a decimal integer"))
            })?,
    };
    let next = number.checked_add(delta).ok_or_else(|| {
        KvError::NotANumber(format!("incrementing '{key}' overflows a 64-bit integer"))
    })?;
    if unsigned && next < 0 {
        return Err(KvError::NotANumber(format!(
            "the value of '{key}' would be negative ({next})"
        )));
    }
    Ok((
        next,
        Entry {
            value: next.to_string().into_bytes(),
            metadata: found.and_then(|c| c.metadata.clone()),
            expires_at: found.and_then(|c| c.expires_at),
        },
    ))
}

/// What a row counts against the quota.
fn size_of(key: &str, entry: &Entry) -> i64 {
    (key.len() + entry.value.len() + entry.metadata.as_ref().map_or(0, String::len)) as i64
}

pub(super) fn live(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_none_or(|at| at > now)
}

/// Locks the app's usage row (creating it) and returns its bytes: the first statement of every
/// write.
pub(super) const LOCK_USAGE: &str = "INSERT INTO kv_usage (kind, app, bytes) VALUES ($1, $2, 0) \
                          ON CONFLICT (kind, app) DO UPDATE SET bytes = kv_usage.bytes \
                          RETURNING bytes";
pub(super) const ADD_USAGE: &str =
    "UPDATE kv_usage SET bytes = bytes + $3 WHERE kind = $1 AND app = $2";
pub(super) const UPSERT: &str = "INSERT INTO kv (kind, app, store, key, value, metadata, expires_at, size) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                      ON CONFLICT (kind, app, store, key) DO UPDATE SET value = excluded.value, \
                      metadata = excluded.metadata, expires_at = excluded.expires_at, \
                      size = excluded.size";
const PK: &str = "kind = $1 AND app = $2 AND store = $3 AND key = $4";

/// A row as a write sees it (expired or not).
#[derive(sqlx::FromRow)]
pub(super) struct Current {
    pub(super) value: Vec<u8>,
    pub(super) metadata: Option<String>,
    pub(super) expires_at: Option<i64>,
    pub(super) size: i64,
}

#[async_trait::async_trait]
impl<D: Dialect> KeyValue for SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'c> &'c Pool<D::Db>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'r> Entry: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> Listed: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> Current: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (i64,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (String, String, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (String, String): FromRow<'r, <D::Db as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Vec<u8>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
{
    async fn get(&self, ns: Namespace<'_>, key: &str) -> Result<Option<Entry>> {
        let sql = format!(
            "SELECT value, metadata, expires_at FROM kv WHERE {PK} \
             AND (expires_at IS NULL OR expires_at > $5)"
        );
        Ok(sqlx::query_as(&sql)
            .bind(ns.kind.as_str())
            .bind(ns.app)
            .bind(ns.store)
            .bind(key)
            .bind(now_secs())
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn put(
        &self,
        ns: Namespace<'_>,
        key: &str,
        entry: Entry,
        expect: Expect,
        quota: i64,
    ) -> Result<bool, KvError> {
        let mut tx = self.pool.begin().await?;
        let (used,): (i64,) = sqlx::query_as(LOCK_USAGE)
            .bind(ns.kind.as_str())
            .bind(ns.app)
            .fetch_one(&mut *tx)
            .await?;
        let sql = format!("SELECT value, metadata, expires_at, size FROM kv WHERE {PK}");
        let current: Option<Current> = sqlx::query_as(&sql)
            .bind(ns.kind.as_str())
            .bind(ns.app)
            .bind(ns.store)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((size, delta)) = plan_put(key, &entry, current.as_ref(), &expect, used, quota)?
        else {
            return Ok(false);
        };
        sqlx::query(UPSERT)
            .bind(ns.kind.as_str())
            .bind(ns.app)
            .bind(ns.store)
            .bind(key)
            .bind(entry.value)
            .bind(entry.metadata)
            .bind(entry.expires_at)
            .bind(size)
            .execute(&mut *tx)
            .await?;
        if delta != 0 {
            sqlx::query(ADD_USAGE)
                .bind(ns.kind.as_str())
                .bind(ns.app)
                .bind(delta)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn delete(&self, ns: Namespace<'_>, key: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query_as::<_, (i64,)>(LOCK_USAGE)
            .bind(ns.kind.as_str())
            .bind(ns.app)
            .fetch_one(&mut *tx)
            .await?;
        let sql = format!("DELETE FROM kv WHERE {PK} RETURNING value, metadata, expires_at, size");
        let deleted: Option<Current> = sqlx::query_as(&sql)
            .bind(ns.kind.as_str())
            .bind(ns.app)
            .bind(ns.store)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(deleted) = deleted else {
            return Ok(false);
        };
        sqlx::query(ADD_USAGE)
            .bind(ns.kind.as_str())
            .bind(ns.app)
            .bind(-deleted.size)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(live(deleted.expires_at, now_secs()))
    }

    async fn increment(
        &self,
        ns: Namespace<'_>,
        key: &str,
        delta: i64,
        unsigned: bool,
        quota: i64,
    ) -> Result<i64, KvError> {
        let mut tx = self.pool.begin().await?;
        let (used,): (i64,) = sqlx::query_as(LOCK_USAGE)
            .bind(ns.kind.as_str())
            .bind(ns.app)
            .fetch_one(&mut *tx)
            .await?;
        let sql = format!("SELECT value, metadata, expires_at, size FROM kv WHERE {PK}");
        let current: Option<Current> = sqlx::query_as(&sql)
            .bind(ns.kind.as_str())
            .bind(ns.app)
            .bind(ns.store)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        let (next, entry) = incremented(key, current.as_ref(), delta, unsigned)?;
        let size = size_of(key, &entry);
        let grows = size - current.as_ref().map_or(0, |c| c.size);
        if grows > 0 && used + grows > quota {
            return Err(KvError::Quota { used, quota });
        }
        sqlx::query(UPSERT)
            .bind(ns.kind.as_str())
            .bind(ns.app)
            .bind(ns.store)
            .bind(key)
            .bind(entry.value)
            .bind(entry.metadata)
            .bind(entry.expires_at)
            .bind(size)
            .execute(&mut *tx)
            .await?;
        if grows != 0 {
            sqlx::query(ADD_USAGE)
                .bind(ns.kind.as_str())
                .bind(ns.app)
                .bind(grows)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(next)
    }

    async fn list(
        &self,
        ns: Namespace<'_>,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Listed>> {
        let sql = "SELECT key, metadata, expires_at FROM kv \
                   WHERE kind = $1 AND app = $2 AND store = $3 AND key > $4 AND key >= $5 \
                   AND substr(key, 1, CAST($6 AS INTEGER)) = $5 \
                   AND (expires_at IS NULL OR expires_at > $7) ORDER BY key LIMIT $8";
        Ok(sqlx::query_as(sql)
            .bind(ns.kind.as_str())
            .bind(ns.app)
            .bind(ns.store)
            .bind(after.unwrap_or(""))
            .bind(prefix)
            .bind(prefix.chars().count() as i64)
            .bind(now_secs())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn usage(&self, kind: AppKind, app: &str) -> Result<i64> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT bytes FROM kv_usage WHERE kind = $1 AND app = $2")
                .bind(kind.as_str())
                .bind(app)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map_or(0, |(bytes,)| bytes))
    }

    async fn collect_expired(&self) -> Result<u64> {
        let now = now_secs();
        let apps: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT kind, app FROM kv WHERE expires_at IS NOT NULL AND expires_at <= $1 \
             LIMIT 100",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut collected = 0;
        for (kind, app) in apps {
            let mut tx = self.pool.begin().await?;
            sqlx::query_as::<_, (i64,)>(LOCK_USAGE)
                .bind(&kind)
                .bind(&app)
                .fetch_one(&mut *tx)
                .await?;
            let sizes: Vec<(String, String, i64)> = sqlx::query_as(
                "DELETE FROM kv WHERE kind = $1 AND app = $2 AND expires_at IS NOT NULL \
                 AND expires_at <= $3 RETURNING store, key, size",
            )
            .bind(&kind)
            .bind(&app)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            let freed: i64 = sizes.iter().map(|(_, _, size)| size).sum();
            sqlx::query(ADD_USAGE)
                .bind(&kind)
                .bind(&app)
                .bind(-freed)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            collected += sizes.len() as u64;
        }
        Ok(collected)
    }
}
