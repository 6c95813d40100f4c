//! What the nodes of a cluster share besides the apps: change notifications, revisions and the
//! node registry. [`PostgresStore`](super::PostgresStore) implements it; the cluster sees only
//! this trait.

use super::Result;

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

/// A node's row in the registry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NodeRow {
    /// The node's id.
    pub id: String,
    /// Where it serves.
    pub address: String,
    /// Kiln's version on it.
    pub version: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339: its last heartbeat (when read back).
    pub last_seen: String,
    /// What it serves, as JSON: `{"service/name": version}`.
    pub serving: String,
}

/// The change notifications of one listening connection.
#[async_trait::async_trait]
pub trait Changes: Send {
    /// Waits for the next committed change: `false` when the connection was lost.
    async fn next(&mut self) -> Result<bool>;
}

/// The cluster's shared state.
#[async_trait::async_trait]
pub trait Shared: Send + Sync {
    /// Starts listening for committed changes.
    async fn changes(&self) -> Result<Box<dyn Changes>>;

    /// Every app's revision.
    async fn revisions(&self) -> Result<Vec<Revision>>;

    /// Renews `node`'s row (its `last_seen` is the database's clock, not the field).
    async fn heartbeat(&self, node: &NodeRow) -> Result<()>;

    /// The nodes seen in the last `seconds`, oldest first.
    async fn nodes(&self, seconds: f64) -> Result<Vec<NodeRow>>;
}
