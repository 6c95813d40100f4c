//! Names → the versions served. Each slot swaps atomically, so requests in flight keep the
//! version they started with; names being deployed are "pending" and requests wait for them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use arc_swap::ArcSwap;

use super::pool::Instances;
use super::{Deployment, RunError};
use crate::kind::AppKind;

/// A deployed name: its kind and name.
type Key = (AppKind, String);

/// The deployments by kind and name.
pub struct Registry {
    slots: RwLock<HashMap<Key, Arc<Slot>>>,
    instances: Arc<Instances>,
    /// Names being deployed (at start, or a big component compiling): requests wait for them.
    pending: Mutex<HashSet<Key>>,
    /// Bumped whenever a slot or a pending name changes, to wake waiting requests.
    changed: tokio::sync::watch::Sender<u64>,
    /// Stored versions served beside the active ones (`name@version`), least recently used
    /// first; dropped when their name is deployed again or removed.
    pinned: Mutex<Vec<Pinned>>,
}

/// A pinned version: which, and its deployment.
struct Pinned {
    kind: AppKind,
    name: String,
    version: i64,
    deployment: Arc<Deployment>,
}

/// How many pinned versions a node keeps ready.
const MAX_PINNED: usize = 16;

/// A name's current version and who may call it.
pub struct Slot {
    current: ArcSwap<Deployment>,
    enabled: AtomicBool,
    jwt_check: AtomicBool,
}

/// Who may call a deployed name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Served at all (else 503).
    pub enabled: bool,
    /// Callers need a valid token (else 401).
    pub jwt_check: bool,
}

impl Access {
    /// Enabled, no token needed.
    pub const OPEN: Access = Access {
        enabled: true,
        jwt_check: false,
    };
}

impl Slot {
    /// The version served now.
    pub fn deployment(&self) -> Arc<Deployment> {
        self.current.load_full()
    }

    /// Whether requests are served (else 503).
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// Whether callers need a valid token.
    pub fn jwt_check(&self) -> bool {
        self.jwt_check.load(Ordering::SeqCst)
    }

    fn set_access(&self, access: Access) {
        // Tighten first: a request never sees the new `enabled` with the old `jwt_check` off.
        self.jwt_check.store(access.jwt_check, Ordering::SeqCst);
        self.enabled.store(access.enabled, Ordering::SeqCst);
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self {
            slots: RwLock::default(),
            instances: Arc::default(),
            pending: Mutex::default(),
            changed: tokio::sync::watch::Sender::new(0),
            pinned: Mutex::default(),
        }
    }

    /// The instance counts and idle budget, shared by every deployment made for this registry.
    pub fn instances(&self) -> &Arc<Instances> {
        &self.instances
    }

    /// The counters of this runtime (shown at `/metrics`).
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        self.instances.metrics()
    }

    /// Instances alive now (serving or idle).
    pub fn live_instances(&self) -> usize {
        self.instances.live()
    }

    /// Deployed names of each kind.
    pub fn deployed(&self, kind: AppKind) -> usize {
        self.slots
            .read()
            .expect("registry lock")
            .keys()
            .filter(|(k, _)| *k == kind)
            .count()
    }

    fn notify(&self) {
        self.changed.send_modify(|generation| *generation += 1);
    }

    /// Marks a name as being deployed: until it is deployed or [`Registry::settle`]d, requests
    /// for it wait (see [`Registry::find`]).
    pub fn mark_pending(&self, kind: AppKind, name: &str) {
        self.pending
            .lock()
            .expect("pending lock")
            .insert((kind, name.to_string()));
        self.notify();
    }

    /// Ends the wait for a name (deployed or failed).
    pub fn settle(&self, kind: AppKind, name: &str) {
        self.pending
            .lock()
            .expect("pending lock")
            .remove(&(kind, name.to_string()));
        self.notify();
    }

    fn is_pending(&self, kind: AppKind, name: &str) -> bool {
        self.pending
            .lock()
            .expect("pending lock")
            .contains(&(kind, name.to_string()))
    }

    /// The slot of a name now.
    pub fn slot(&self, kind: AppKind, name: &str) -> Option<Arc<Slot>> {
        self.slots
            .read()
            .expect("registry lock")
            .get(&(kind, name.to_string()))
            .cloned()
    }

    /// The version served now under a name.
    pub fn get(&self, kind: AppKind, name: &str) -> Option<Arc<Deployment>> {
        self.slot(kind, name).map(|slot| slot.deployment())
    }

    /// The slot of a name, waiting until `deadline` while it is being deployed:
    /// [`RunError::StillDeploying`] past it, `None` when there is no such name.
    pub async fn find(
        &self,
        kind: AppKind,
        name: &str,
        deadline: Instant,
    ) -> Result<Option<Arc<Slot>>, RunError> {
        let mut changes = self.changed.subscribe();
        loop {
            if let Some(slot) = self.slot(kind, name) {
                return Ok(Some(slot));
            }
            if !self.is_pending(kind, name) {
                return Ok(None);
            }
            match tokio::time::timeout_at(deadline.into(), changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    return Err(RunError::StillDeploying {
                        name: name.to_string(),
                    });
                }
            }
        }
    }

    /// A number that changes whenever a name is deployed or removed (see [`Registry::pin`]).
    pub fn generation(&self) -> u64 {
        *self.changed.borrow()
    }

    /// The pinned `version` of a name, if it is kept.
    pub fn pinned(&self, kind: AppKind, name: &str, version: i64) -> Option<Arc<Deployment>> {
        let mut pinned = self.pinned.lock().expect("pinned lock");
        let at = pinned
            .iter()
            .position(|p| p.kind == kind && p.name == name && p.version == version)?;
        let hit = pinned.remove(at);
        let deployment = hit.deployment.clone();
        pinned.push(hit);
        Some(deployment)
    }

    /// Keeps `deployment` as the pinned `version` of its name (the least recently used one
    /// leaves past [`MAX_PINNED`]), unless the registry changed since `generation`: a version
    /// prepared while its app was redeployed may have been prepared with grants since taken.
    pub fn pin(
        &self,
        kind: AppKind,
        name: &str,
        version: i64,
        deployment: Deployment,
        generation: u64,
    ) -> Arc<Deployment> {
        let deployment = Arc::new(deployment);
        let mut pinned = self.pinned.lock().expect("pinned lock");
        if self.generation() == generation {
            pinned.retain(|p| !(p.kind == kind && p.name == name && p.version == version));
            if pinned.len() >= MAX_PINNED {
                pinned.remove(0);
            }
            pinned.push(Pinned {
                kind,
                name: name.to_string(),
                version,
                deployment: deployment.clone(),
            });
        }
        deployment
    }

    /// The cached artifacts the pinned versions use.
    pub fn pinned_artifacts(&self) -> Vec<std::path::PathBuf> {
        self.pinned
            .lock()
            .expect("pinned lock")
            .iter()
            .filter_map(|p| p.deployment.artifact_path().map(std::path::PathBuf::from))
            .collect()
    }

    fn unpin(&self, kind: AppKind, name: &str) {
        self.pinned
            .lock()
            .expect("pinned lock")
            .retain(|p| !(p.kind == kind && p.name == name));
    }

    /// Sets who may call a name.
    pub fn set_access(&self, kind: AppKind, name: &str, access: Access) {
        if let Some(slot) = self.slot(kind, name) {
            slot.set_access(access);
        }
    }

    /// Makes `deployment` the version served under its name; returns the previous one. `access`,
    /// when given, applies before the new version serves (a new name without it is open).
    pub fn deploy(
        &self,
        kind: AppKind,
        deployment: Deployment,
        access: Option<Access>,
    ) -> Option<Arc<Deployment>> {
        let key = (kind, deployment.name.to_string());
        let deployment = Arc::new(deployment);
        let mut slots = self.slots.write().expect("registry lock");
        let previous = match slots.get(&key) {
            Some(slot) => {
                if let Some(access) = access {
                    slot.set_access(access);
                }
                deployment.pool.inherit(&slot.current.load().pool);
                Some(slot.current.swap(deployment))
            }
            None => {
                let access = access.unwrap_or(Access::OPEN);
                let slot = Slot {
                    current: ArcSwap::new(deployment),
                    enabled: AtomicBool::new(access.enabled),
                    jwt_check: AtomicBool::new(access.jwt_check),
                };
                slots.insert(key.clone(), Arc::new(slot));
                None
            }
        };
        drop(slots);
        // Settling bumps the generation first: a pin prepared before this deploy is then
        // either refused or removed here.
        self.settle(key.0, &key.1);
        self.unpin(key.0, &key.1);
        previous
    }

    /// Makes `deployment` the version served if the one served now is `expected` (by its
    /// process-wide version number). Returns whether it was swapped in.
    pub fn replace_if_current(&self, kind: AppKind, expected: u64, deployment: Deployment) -> bool {
        let slots = self.slots.read().expect("registry lock");
        let Some(slot) = slots.get(&(kind, deployment.name.to_string())) else {
            return false;
        };
        let current = slot.current.load();
        if current.version != expected {
            return false;
        }
        deployment.pool.inherit(&current.pool);
        let previous = slot
            .current
            .compare_and_swap(&*current, Arc::new(deployment));
        previous.version == expected
    }

    /// Stops serving a name.
    pub fn remove(&self, kind: AppKind, name: &str) -> Option<Arc<Deployment>> {
        let removed = self
            .slots
            .write()
            .expect("registry lock")
            .remove(&(kind, name.to_string()))
            .map(|slot| slot.deployment());
        self.settle(kind, name);
        self.unpin(kind, name);
        removed
    }

    /// Every deployment served now, with its kind.
    pub fn deployments(&self) -> Vec<(AppKind, Arc<Deployment>)> {
        self.slots
            .read()
            .expect("registry lock")
            .iter()
            .map(|((kind, _), slot)| (*kind, slot.deployment()))
            .collect()
    }

    /// Deployments with their own code or an instance in memory now.
    pub fn loaded(&self) -> usize {
        self.slots
            .read()
            .expect("registry lock")
            .values()
            .filter(|slot| slot.current.load().is_loaded())
            .count()
    }

    /// One tick of the idle budget (see [`Instances::rebalance`]): instances past their idle
    /// timeout leave, and while over budget the coldest apps' instances leave first.
    pub fn sweep(&self, idle_timeout: std::time::Duration) {
        self.instances.rebalance(idle_timeout);
    }
}
