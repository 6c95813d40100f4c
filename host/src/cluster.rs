//! Several nodes on one shared database (PostgreSQL).
//!
//! Each node `LISTEN`s for the store's change notifications and, on each one and every
//! [`RECONCILE_EVERY`] besides, compares every app's revision with the one it applied: what
//! changed is redeployed from the tables (the content checked against its sha256), what is gone
//! stops being served. A node that loses its connection keeps serving what it has, reports
//! unhealthy, reconnects with backoff and reconciles, so a missed notification costs at most one
//! interval. Each node also renews its row in `nodes` (id, address, version, what it serves).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use crate::apps::Apps;
use crate::kind::AppKind;
use crate::settings::LiveSettings;
use crate::store::{Changes, NodeRow, Shared, StoreError};

/// How often a node compares what it serves with the tables, notified or not.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(2);
/// How often a node renews its row in `nodes`.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// A node unseen for this long is no longer listed as live.
const LIVE_WITHIN_SECONDS: f64 = 5.0;
/// A node that has not reached the database for this long is unhealthy.
const CONTACT_TIMEOUT: Duration = Duration::from_secs(3);

/// This node's place in the cluster.
pub struct Cluster {
    store: Arc<dyn Shared>,
    apps: Arc<Apps>,
    settings: Arc<LiveSettings>,
    /// This node's id (random, new at every start).
    pub id: String,
    /// The address this node serves on, as other nodes and load balancers reach it.
    address: OnceLock<String>,
    /// RFC 3339.
    started_at: String,
    /// The revision each app was last brought in line at.
    applied: Mutex<HashMap<(AppKind, String), i64>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When the database last answered.
    contact: Option<Instant>,
    /// Whether the first reconcile is done.
    caught_up: bool,
    /// Apps whose latest change could not be applied.
    behind: usize,
    /// The last database error, while it lasts.
    error: Option<String>,
}

/// A live node, as `/status` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeView {
    /// The node's id.
    pub id: String,
    /// Where it serves.
    pub address: String,
    /// Kiln's version on it.
    pub version: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339: its last heartbeat.
    pub last_seen: String,
    /// What it serves: `{"service/name": version}`.
    pub serving: BTreeMap<String, i64>,
}

/// The cluster, as `/status` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterView {
    /// This node's id.
    pub node: String,
    /// Nodes seen in the last few seconds, this one included.
    pub nodes: Vec<NodeView>,
}

impl Cluster {
    /// This node, on `store`.
    pub fn new(store: Arc<dyn Shared>, apps: Arc<Apps>, settings: Arc<LiveSettings>) -> Self {
        Self {
            store,
            apps,
            settings,
            id: format!("{:016x}", rand::random::<u64>()),
            address: OnceLock::new(),
            started_at: crate::store::now(),
            applied: Mutex::default(),
            state: Mutex::default(),
        }
    }

    /// Registers this node as serving at `address`, deploys every stored app, then follows the
    /// cluster's changes for as long as it runs.
    pub async fn run(self: Arc<Self>, address: String) {
        let _ = self.address.set(address);
        self.apps.restore_all().await;
        tokio::spawn(self.clone().heartbeat());
        self.follow().await;
    }

    /// Ok while this node reaches the database and serves every app's latest change; else why not.
    pub fn health(&self) -> Result<(), String> {
        let state = self.state.lock().expect("cluster state");
        if let Some(error) = &state.error {
            return Err(format!("the database is unreachable: {error}"));
        }
        match state.contact {
            Some(at) if at.elapsed() <= CONTACT_TIMEOUT => {}
            _ => return Err("the database has not answered lately".into()),
        }
        if !state.caught_up {
            return Err("catching up with the cluster's deploys".into());
        }
        if state.behind > 0 {
            return Err(format!(
                "{} app(s) could not be brought up to date",
                state.behind
            ));
        }
        Ok(())
    }

    /// This node and the live ones, with what each serves.
    pub async fn view(&self) -> Result<ClusterView, StoreError> {
        let nodes = self
            .store
            .nodes(LIVE_WITHIN_SECONDS)
            .await?
            .into_iter()
            .map(|row| NodeView {
                serving: serde_json::from_str(&row.serving).unwrap_or_default(),
                id: row.id,
                address: row.address,
                version: row.version,
                started_at: row.started_at,
                last_seen: row.last_seen,
            })
            .collect();
        Ok(ClusterView {
            node: self.id.clone(),
            nodes,
        })
    }

    fn contact(&self, outcome: Result<(), String>) {
        let mut state = self.state.lock().expect("cluster state");
        match outcome {
            Ok(()) => {
                state.contact = Some(Instant::now());
                state.error = None;
            }
            Err(error) => state.error = Some(error),
        }
    }

    /// Listens for changes, reconnecting with backoff; reconciles on each and every interval.
    async fn follow(&self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut listener = match self.listen().await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(error = %error, retry_ms = backoff.as_millis() as u64, "cannot listen for the cluster's changes");
                    self.contact(Err(error.to_string()));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            // Changes made while this node was not listening are found here.
            self.reconcile().await;
            loop {
                match tokio::time::timeout(RECONCILE_EVERY, listener.next()).await {
                    Ok(Ok(true)) | Err(_) => self.reconcile().await,
                    Ok(Ok(false)) => {
                        tracing::warn!("lost the database connection; reconnecting");
                        self.contact(Err("connection lost".into()));
                        break;
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(error = %error, "listening for the cluster's changes failed");
                        self.contact(Err(error.to_string()));
                        break;
                    }
                }
            }
        }
    }

    async fn listen(&self) -> Result<Box<dyn Changes>, StoreError> {
        self.store.changes().await
    }

    /// Brings every app whose revision moved in line with the tables.
    async fn reconcile(&self) {
        match self.try_reconcile().await {
            Ok(behind) => {
                self.contact(Ok(()));
                let mut state = self.state.lock().expect("cluster state");
                state.caught_up = true;
                state.behind = behind;
            }
            Err(error) => {
                tracing::warn!(error = %error, "reconciling with the cluster failed");
                self.contact(Err(error.to_string()));
            }
        }
    }

    async fn try_reconcile(&self) -> Result<usize, StoreError> {
        self.settings.reload().await?;
        let revisions = self.store.revisions().await?;
        let mut behind = 0;
        let mut stored = HashSet::new();
        for row in revisions {
            let Some(kind) = AppKind::parse(&row.kind) else {
                continue;
            };
            let key = (kind, row.name);
            let current = self.applied.lock().expect("applied").get(&key) == Some(&row.revision);
            if !current {
                match self.apps.sync(kind, &key.1).await {
                    Ok(()) => {
                        self.applied
                            .lock()
                            .expect("applied")
                            .insert(key.clone(), row.revision);
                    }
                    Err(error) => {
                        behind += 1;
                        tracing::warn!(kind = %kind, name = %key.1, error = %error, "applying a change from the cluster failed");
                    }
                }
            }
            stored.insert(key);
        }
        let gone: Vec<(AppKind, String)> = self
            .applied
            .lock()
            .expect("applied")
            .keys()
            .filter(|key| !stored.contains(*key))
            .cloned()
            .collect();
        for (kind, name) in gone {
            match self.apps.sync(kind, &name).await {
                Ok(()) => {
                    self.applied.lock().expect("applied").remove(&(kind, name));
                }
                Err(error) => {
                    behind += 1;
                    tracing::warn!(kind = %kind, name = %name, error = %error, "removing an app deleted in the cluster failed");
                }
            }
        }
        Ok(behind)
    }

    /// Renews this node's row every second: when it was seen, and what it serves.
    async fn heartbeat(self: Arc<Self>) {
        loop {
            let node = NodeRow {
                id: self.id.clone(),
                address: self.address.get().cloned().unwrap_or_default(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                started_at: self.started_at.clone(),
                last_seen: String::new(),
                serving: serde_json::to_string(&self.apps.serving()).unwrap_or_default(),
            };
            let outcome = self.store.heartbeat(&node).await;
            match outcome {
                Ok(_) => self.contact(Ok(())),
                Err(error) => self.contact(Err(error.to_string())),
            }
            tokio::time::sleep(HEARTBEAT_EVERY).await;
        }
    }
}
