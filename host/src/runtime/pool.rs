//! The idle instances of a deployment (`reuse` isolation), and the count of live ones.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::Proxy;

use super::Sandbox;
use crate::metrics::Metrics;

/// Memory a reused instance may grow by after its first request before it is retired (or a
/// quarter of its limit, if less).
const GROWTH_BEFORE_RETIRING: usize = 8 << 20;

/// A live instance, with the number of requests it has served.
pub(super) struct Instance {
    pub(super) store: Store<Sandbox>,
    pub(super) proxy: Proxy,
    pub(super) served: u32,
    /// How much its memory had grown when its first request ended.
    grown_by_first: Option<usize>,
    idle_since: Instant,
    _live: LiveGuard,
}

impl Instance {
    /// A fresh instance.
    pub(super) fn new(store: Store<Sandbox>, proxy: Proxy, live: LiveGuard) -> Self {
        Self {
            store,
            proxy,
            served: 0,
            grown_by_first: None,
            idle_since: Instant::now(),
            _live: live,
        }
    }

    /// Counts a request it served to the end.
    pub(super) fn served_one(&mut self) {
        self.served += 1;
        self.grown_by_first
            .get_or_insert(self.store.data().memory().grown());
    }

    /// Whether its memory has grown so much since its first request that it should be retired
    /// rather than serve again. Memory never shrinks, and garbage that reference counting cannot
    /// free (objects that point at each other, which most JS frameworks leave behind) goes with
    /// the instance at no cost, where collecting it in place would visit every object and stall
    /// the next requests. The first request is not counted: work an app does lazily then (filling
    /// a cache) is not garbage.
    pub(super) fn outgrown(&self) -> bool {
        let memory = self.store.data().memory();
        let since_first = memory.grown() - self.grown_by_first.unwrap_or(memory.grown());
        since_first >= GROWTH_BEFORE_RETIRING.min(memory.max() / 4)
    }
}

/// What one runtime (a registry and the deployments made for it) shares: how many instances
/// are alive and idle, the idle budget, and the metrics they feed. Owned, not process-wide, so
/// that two runtimes in one process keep their own.
#[derive(Debug)]
pub struct Instances {
    live: AtomicUsize,
    idle: AtomicUsize,
    max_idle: AtomicUsize,
    metrics: Arc<Metrics>,
}

impl Default for Instances {
    fn default() -> Self {
        Self {
            live: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            max_idle: AtomicUsize::new(usize::MAX),
            metrics: Arc::default(),
        }
    }
}

impl Instances {
    /// The counters this runtime feeds.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Sets how many idle instances are kept at most, across deployments.
    pub fn set_max_idle(&self, max: usize) {
        self.max_idle.store(max, Ordering::Relaxed);
    }

    /// The most idle instances kept across deployments.
    pub fn max_idle(&self) -> usize {
        self.max_idle.load(Ordering::Relaxed)
    }

    /// Idle instances across every deployment now.
    pub fn idle(&self) -> usize {
        self.idle.load(Ordering::Relaxed)
    }

    /// Instances alive now (serving or idle).
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }
}

/// Counts an instance as live until dropped.
pub(crate) struct LiveGuard(Arc<Instances>);

impl LiveGuard {
    /// Counts one more live instance in `instances`.
    pub(super) fn new(instances: Arc<Instances>) -> Self {
        instances.live.fetch_add(1, Ordering::Relaxed);
        Self(instances)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Idle instances, most recently used last.
pub(super) struct Pool {
    idle: Mutex<Vec<Instance>>,
    instances: Arc<Instances>,
}

impl Pool {
    /// An empty pool counted in `instances`.
    pub(super) fn new(instances: Arc<Instances>) -> Self {
        Self {
            idle: Mutex::default(),
            instances,
        }
    }

    /// The most recently used idle instance.
    pub(super) fn take(&self) -> Option<Instance> {
        let taken = self.idle.lock().expect("pool lock").pop();
        if taken.is_some() {
            self.instances.idle.fetch_sub(1, Ordering::Relaxed);
        }
        taken
    }

    /// Keeps `instance` for a later request, unless this pool already holds `max` or the process
    /// is at its idle budget (then it is dropped).
    pub(super) fn put(&self, mut instance: Instance, max: usize) {
        if self.instances.idle() >= self.instances.max_idle() {
            return;
        }
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() >= max {
            return;
        }
        instance.idle_since = Instant::now();
        idle.push(instance);
        self.instances.idle.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops instances idle for longer than `idle_timeout`.
    pub(super) fn sweep(&self, idle_timeout: Duration) {
        let now = Instant::now();
        let mut idle = self.idle.lock().expect("pool lock");
        let before = idle.len();
        idle.retain(|i| now.duration_since(i.idle_since) < idle_timeout);
        self.instances
            .idle
            .fetch_sub(before - idle.len(), Ordering::Relaxed);
    }

    /// When the longest-idle instance became idle.
    pub(super) fn oldest(&self) -> Option<Instant> {
        self.idle
            .lock()
            .expect("pool lock")
            .first()
            .map(|i| i.idle_since)
    }

    /// Drops the longest-idle instance.
    pub(super) fn evict_oldest(&self) -> bool {
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.is_empty() {
            return false;
        }
        idle.remove(0);
        self.instances.idle.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// Drops every idle instance; returns how many.
    pub(super) fn clear(&self) -> usize {
        let dropped = std::mem::take(&mut *self.idle.lock().expect("pool lock"));
        self.instances
            .idle
            .fetch_sub(dropped.len(), Ordering::Relaxed);
        dropped.len()
    }

    /// Idle instances now.
    pub(super) fn len(&self) -> usize {
        self.idle.lock().expect("pool lock").len()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.clear();
    }
}
