//! The key-value stores of one node, on its SQLite file, without a round trip per statement:
//! reads run on connections of their own (WAL: readers never wait for the writer), and writes
//! share one write connection by combining: a write joins the queue, and whichever caller finds
//! the connection free commits everything waiting in one transaction (each write in a savepoint
//! of its own, so a write refused for its quota leaves the others) and answers each once that
//! transaction is committed. A lone write thus commits on its own thread with no hand-off, and
//! writes that arrive together share one commit.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::kv::{
    Current, Entry, Expect, KeyValue, KvError, Listed, Namespace, incremented, now_secs, plan_put,
};
use super::{Result, StoreError};
use crate::kind::AppKind;

/// Writes committed in one transaction at most.
const BATCH: usize = 256;
/// Read connections kept open.
const READERS: usize = 8;

const SELECT_CURRENT: &str = "SELECT value, metadata, expires_at, size FROM kv \
                              WHERE kind = ?1 AND app = ?2 AND store = ?3 AND key = ?4";
const LOCK_USAGE: &str = "INSERT INTO kv_usage (kind, app, bytes) VALUES (?1, ?2, 0) \
                          ON CONFLICT (kind, app) DO UPDATE SET bytes = kv_usage.bytes \
                          RETURNING bytes";
const ADD_USAGE: &str = "UPDATE kv_usage SET bytes = bytes + ?3 WHERE kind = ?1 AND app = ?2";
const UPSERT: &str = "INSERT INTO kv (kind, app, store, key, value, metadata, expires_at, size) \
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                      ON CONFLICT (kind, app, store, key) DO UPDATE SET value = excluded.value, \
                      metadata = excluded.metadata, expires_at = excluded.expires_at, \
                      size = excluded.size";

/// A write waiting for its commit.
enum Write {
    Put {
        ns: OwnedNs,
        key: String,
        entry: Entry,
        expect: Expect,
        quota: i64,
        done: oneshot::Sender<Result<bool, KvError>>,
    },
    Delete {
        ns: OwnedNs,
        key: String,
        done: oneshot::Sender<Result<bool, KvError>>,
    },
    Increment {
        ns: OwnedNs,
        key: String,
        delta: i64,
        unsigned: bool,
        quota: i64,
        done: oneshot::Sender<Result<i64, KvError>>,
    },
    Collect {
        done: oneshot::Sender<Result<u64, KvError>>,
    },
}

struct OwnedNs {
    kind: &'static str,
    app: String,
    store: String,
}

impl From<Namespace<'_>> for OwnedNs {
    fn from(ns: Namespace<'_>) -> Self {
        Self {
            kind: ns.kind.as_str(),
            app: ns.app.to_string(),
            store: ns.store.to_string(),
        }
    }
}

/// Key-value stores in `{data_dir}/kiln.db` (whose schema the store's migrations made).
pub struct SqliteKv {
    path: std::path::PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// The one write connection, held by the caller committing a batch.
    writer: Mutex<Connection>,
    /// Writes waiting for the next batch.
    pending: Mutex<Vec<Write>>,
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(connection)
}

fn failed(error: rusqlite::Error) -> StoreError {
    StoreError::Internal(format!("key-value store: {error}"))
}

impl SqliteKv {
    /// Opens the stores in `{data_dir}/kiln.db`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join("kiln.db");
        let writer = open(&path).map_err(failed)?;
        Ok(Self {
            path,
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(writer),
            pending: Mutex::new(Vec::new()),
        })
    }

    /// Runs `read` on a read connection (one is opened when none is free).
    fn read<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let taken = self.readers.lock().expect("readers").pop();
        let connection = match taken {
            Some(connection) => connection,
            None => open(&self.path).map_err(failed)?,
        };
        let result = read(&connection).map_err(failed);
        let mut readers = self.readers.lock().expect("readers");
        if readers.len() < READERS {
            readers.push(connection);
        }
        result
    }

    async fn write<T>(
        &self,
        write: Write,
        answer: oneshot::Receiver<Result<T, KvError>>,
    ) -> Result<T, KvError> {
        lock(&self.pending).push(write);
        self.combine();
        answer
            .await
            .map_err(|_| KvError::Store(StoreError::Internal("the write was lost".into())))?
    }

    /// Commits the waiting writes, a batch at a time, unless another caller holds the write
    /// connection: that one looks at the queue again after letting the connection go, so no
    /// write is left waiting.
    fn combine(&self) {
        loop {
            let connection = match self.writer.try_lock() {
                Ok(connection) => connection,
                Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return,
            };
            let batch = {
                let mut pending = lock(&self.pending);
                let take = pending.len().min(BATCH);
                let rest = pending.split_off(take);
                std::mem::replace(&mut *pending, rest)
            };
            if !batch.is_empty() {
                commit(&connection, batch);
            }
            drop(connection);
            if lock(&self.pending).is_empty() {
                return;
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn current(tx: &Connection, ns: &OwnedNs, key: &str) -> rusqlite::Result<Option<Current>> {
    tx.prepare_cached(SELECT_CURRENT)?
        .query_row(params![ns.kind, ns.app, ns.store, key], |row| {
            Ok(Current {
                value: row.get(0)?,
                metadata: row.get(1)?,
                expires_at: row.get(2)?,
                size: row.get(3)?,
            })
        })
        .optional()
}

fn lock_usage(tx: &Connection, kind: &str, app: &str) -> rusqlite::Result<i64> {
    tx.prepare_cached(LOCK_USAGE)?
        .query_row(params![kind, app], |row| row.get(0))
}

fn add_usage(tx: &Connection, kind: &str, app: &str, delta: i64) -> rusqlite::Result<()> {
    if delta != 0 {
        tx.prepare_cached(ADD_USAGE)?
            .execute(params![kind, app, delta])?;
    }
    Ok(())
}

fn upsert(
    tx: &Connection,
    ns: &OwnedNs,
    key: &str,
    entry: &Entry,
    size: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(UPSERT)?.execute(params![
        ns.kind,
        ns.app,
        ns.store,
        key,
        entry.value,
        entry.metadata,
        entry.expires_at,
        size
    ])?;
    Ok(())
}

impl From<rusqlite::Error> for KvError {
    fn from(error: rusqlite::Error) -> Self {
        KvError::Store(failed(error))
    }
}

fn put(
    tx: &Connection,
    ns: &OwnedNs,
    key: &str,
    entry: &Entry,
    expect: &Expect,
    quota: i64,
) -> Result<bool, KvError> {
    let used = lock_usage(tx, ns.kind, &ns.app)?;
    let current = current(tx, ns, key)?;
    let Some((size, delta)) = plan_put(key, entry, current.as_ref(), expect, used, quota)? else {
        return Ok(false);
    };
    upsert(tx, ns, key, entry, size)?;
    add_usage(tx, ns.kind, &ns.app, delta)?;
    Ok(true)
}

fn delete(tx: &Connection, ns: &OwnedNs, key: &str) -> Result<bool, KvError> {
    let Some(found) = current(tx, ns, key)? else {
        return Ok(false);
    };
    tx.prepare_cached("DELETE FROM kv WHERE kind = ?1 AND app = ?2 AND store = ?3 AND key = ?4")?
        .execute(params![ns.kind, ns.app, ns.store, key])?;
    lock_usage(tx, ns.kind, &ns.app)?;
    add_usage(tx, ns.kind, &ns.app, -found.size)?;
    Ok(super::kv::live(found.expires_at, now_secs()))
}

fn increment(
    tx: &Connection,
    ns: &OwnedNs,
    key: &str,
    delta: i64,
    unsigned: bool,
    quota: i64,
) -> Result<i64, KvError> {
    let used = lock_usage(tx, ns.kind, &ns.app)?;
    let current = current(tx, ns, key)?;
    let (next, entry) = incremented(key, current.as_ref(), delta, unsigned)?;
    let Some((size, grows)) = plan_put(key, &entry, current.as_ref(), &Expect::Any, used, quota)?
    else {
        unreachable!("an unconditional write always applies");
    };
    upsert(tx, ns, key, &entry, size)?;
    add_usage(tx, ns.kind, &ns.app, grows)?;
    Ok(next)
}

fn collect(tx: &Connection) -> Result<u64, KvError> {
    let now = now_secs();
    let freed: Vec<(String, String, i64)> = tx
        .prepare_cached(
            "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?1 \
             RETURNING kind, app, size",
        )?
        .query_map(params![now], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut by_app: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for (kind, app, size) in &freed {
        *by_app.entry((kind.clone(), app.clone())).or_default() += size;
    }
    for ((kind, app), size) in by_app {
        add_usage(tx, &kind, &app, -size)?;
    }
    Ok(freed.len() as u64)
}

/// Runs `sql`, a statement without parameters or rows, kept prepared.
fn run(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs one write in a savepoint: undone alone when it fails.
fn in_savepoint<T>(
    connection: &Connection,
    write: impl FnOnce(&Connection) -> Result<T, KvError>,
) -> Result<T, KvError> {
    run(connection, "SAVEPOINT one")?;
    match write(connection) {
        Ok(value) => {
            run(connection, "RELEASE one")?;
            Ok(value)
        }
        Err(error) => {
            run(connection, "ROLLBACK TO one")?;
            run(connection, "RELEASE one")?;
            Err(error)
        }
    }
}

/// A write's result and where it goes, kept until the batch is committed.
enum Reply {
    Bool(
        oneshot::Sender<Result<bool, KvError>>,
        Result<bool, KvError>,
    ),
    Number(oneshot::Sender<Result<i64, KvError>>, Result<i64, KvError>),
    Count(oneshot::Sender<Result<u64, KvError>>, Result<u64, KvError>),
}

impl Reply {
    fn send(self, commit: &Result<(), String>) {
        let fail = |error: &String| KvError::Store(StoreError::Internal(error.clone()));
        match self {
            Reply::Bool(to, result) => drop(to.send(commit.as_ref().map_err(fail).and(result))),
            Reply::Number(to, result) => drop(to.send(commit.as_ref().map_err(fail).and(result))),
            Reply::Count(to, result) => drop(to.send(commit.as_ref().map_err(fail).and(result))),
        }
    }
}

/// Commits `batch` in one transaction and answers each write.
fn commit(connection: &Connection, batch: Vec<Write>) {
    let mut replies = Vec::with_capacity(batch.len());
    let begun = run(connection, "BEGIN IMMEDIATE");
    for write in batch {
        replies.push(match write {
            Write::Put {
                ns,
                key,
                entry,
                expect,
                quota,
                done,
            } => Reply::Bool(
                done,
                started(&begun).and_then(|()| {
                    in_savepoint(connection, |c| put(c, &ns, &key, &entry, &expect, quota))
                }),
            ),
            Write::Delete { ns, key, done } => Reply::Bool(
                done,
                started(&begun).and_then(|()| in_savepoint(connection, |c| delete(c, &ns, &key))),
            ),
            Write::Increment {
                ns,
                key,
                delta,
                unsigned,
                quota,
                done,
            } => Reply::Number(
                done,
                started(&begun).and_then(|()| {
                    in_savepoint(connection, |c| {
                        increment(c, &ns, &key, delta, unsigned, quota)
                    })
                }),
            ),
            Write::Collect { done } => Reply::Count(
                done,
                started(&begun).and_then(|()| in_savepoint(connection, collect)),
            ),
        });
    }
    let commit = match &begun {
        Ok(()) => run(connection, "COMMIT").map_err(|e| {
            let _ = connection.execute_batch("ROLLBACK");
            format!("key-value store: {e}")
        }),
        Err(e) => Err(format!("key-value store: {e}")),
    };
    if let Err(error) = &commit {
        tracing::error!(error = %error, "a batch of key-value writes failed");
    }
    for reply in replies {
        reply.send(&commit);
    }
}

fn started(begun: &rusqlite::Result<()>) -> Result<(), KvError> {
    begun
        .as_ref()
        .map(|_| ())
        .map_err(|e| KvError::Store(StoreError::Internal(format!("key-value store: {e}"))))
}

#[async_trait::async_trait]
impl KeyValue for SqliteKv {
    async fn get(&self, ns: Namespace<'_>, key: &str) -> Result<Option<Entry>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT value, metadata, expires_at FROM kv \
                 WHERE kind = ?1 AND app = ?2 AND store = ?3 AND key = ?4 \
                 AND (expires_at IS NULL OR expires_at > ?5)",
            )?
            .query_row(
                params![ns.kind.as_str(), ns.app, ns.store, key, now_secs()],
                |row| {
                    Ok(Entry {
                        value: row.get(0)?,
                        metadata: row.get(1)?,
                        expires_at: row.get(2)?,
                    })
                },
            )
            .optional()
        })
    }

    async fn put(
        &self,
        ns: Namespace<'_>,
        key: &str,
        entry: Entry,
        expect: Expect,
        quota: i64,
    ) -> Result<bool, KvError> {
        let (done, answer) = oneshot::channel();
        let write = Write::Put {
            ns: ns.into(),
            key: key.to_string(),
            entry,
            expect,
            quota,
            done,
        };
        self.write(write, answer).await
    }

    async fn delete(&self, ns: Namespace<'_>, key: &str) -> Result<bool> {
        let (done, answer) = oneshot::channel();
        let write = Write::Delete {
            ns: ns.into(),
            key: key.to_string(),
            done,
        };
        self.write(write, answer).await.map_err(into_store)
    }

    async fn increment(
        &self,
        ns: Namespace<'_>,
        key: &str,
        delta: i64,
        unsigned: bool,
        quota: i64,
    ) -> Result<i64, KvError> {
        let (done, answer) = oneshot::channel();
        let write = Write::Increment {
            ns: ns.into(),
            key: key.to_string(),
            delta,
            unsigned,
            quota,
            done,
        };
        self.write(write, answer).await
    }

    async fn list(
        &self,
        ns: Namespace<'_>,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Listed>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT key, metadata, expires_at FROM kv \
                 WHERE kind = ?1 AND app = ?2 AND store = ?3 AND key > ?4 AND key >= ?5 \
                 AND substr(key, 1, ?6) = ?5 \
                 AND (expires_at IS NULL OR expires_at > ?7) ORDER BY key LIMIT ?8",
            )?
            .query_map(
                params![
                    ns.kind.as_str(),
                    ns.app,
                    ns.store,
                    after.unwrap_or(""),
                    prefix,
                    prefix.chars().count() as i64,
                    now_secs(),
                    i64::from(limit)
                ],
                |row| {
                    Ok(Listed {
                        key: row.get(0)?,
                        metadata: row.get(1)?,
                        expires_at: row.get(2)?,
                    })
                },
            )?
            .collect()
        })
    }

    async fn usage(&self, kind: AppKind, app: &str) -> Result<i64> {
        self.read(|c| {
            c.prepare_cached("SELECT bytes FROM kv_usage WHERE kind = ?1 AND app = ?2")?
                .query_row(params![kind.as_str(), app], |row| row.get(0))
                .optional()
                .map(|bytes| bytes.unwrap_or(0))
        })
    }

    async fn collect_expired(&self) -> Result<u64> {
        let (done, answer) = oneshot::channel();
        self.write(Write::Collect { done }, answer)
            .await
            .map_err(into_store)
    }
}

fn into_store(error: KvError) -> StoreError {
    match error {
        KvError::Store(error) => error,
        other => StoreError::Internal(other.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ns(app: &str) -> Namespace<'_> {
        Namespace {
            kind: AppKind::Service,
            app,
            store: "default",
        }
    }

    fn entry(value: &[u8]) -> Entry {
        Entry {
            value: value.to_vec(),
            metadata: None,
            expires_at: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_batched_together_stay_exact_and_a_refused_one_leaves_the_others() {
        let dir = tempfile::tempdir().unwrap();
        super::super::SqliteStore::open(dir.path()).await.unwrap();
        let kv = std::sync::Arc::new(SqliteKv::open(dir.path()).unwrap());
        let mut tasks = Vec::new();
        for i in 0..64 {
            let kv = kv.clone();
            tasks.push(tokio::spawn(async move {
                if i % 16 == 0 {
                    // Over the quota: refused, alone.
                    let refused = kv
                        .put(ns("a"), "big", entry(&[0; 4096]), Expect::Any, 1024)
                        .await;
                    assert!(matches!(refused, Err(KvError::Quota { .. })), "{refused:?}");
                } else {
                    kv.increment(ns("a"), "n", 1, false, 1024).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let n = kv.get(ns("a"), "n").await.unwrap().unwrap();
        assert_eq!(n.value, b"60");
        assert_eq!(kv.usage(AppKind::Service, "a").await.unwrap(), 3);
        assert!(kv.get(ns("a"), "big").await.unwrap().is_none());
        // Another app's namespace is untouched; compare-and-swap and delete keep usage exact.
        assert!(kv.get(ns("b"), "n").await.unwrap().is_none());
        assert!(
            kv.put(ns("b"), "k", entry(b"v1"), Expect::Absent, 1024)
                .await
                .unwrap()
        );
        assert!(
            !kv.put(ns("b"), "k", entry(b"v2"), Expect::Absent, 1024)
                .await
                .unwrap()
        );
        let digest: [u8; 32] =
            sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(b"v1")).into();
        assert!(
            kv.put(ns("b"), "k", entry(b"v22"), Expect::Sha256(digest), 1024)
                .await
                .unwrap()
        );
        assert_eq!(kv.usage(AppKind::Service, "b").await.unwrap(), 4);
        assert!(kv.delete(ns("b"), "k").await.unwrap());
        assert_eq!(kv.usage(AppKind::Service, "b").await.unwrap(), 0);
    }
}
