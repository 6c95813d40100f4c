//! The idle instances of a deployment (`reuse` isolation), the count of live ones, and the idle
//! budget they share: bytes of memory (and optionally a count) across every deployment, kept for
//! the apps that use them most.
//!
//! Each pool has a heat: its requests per tick, decayed by a quarter at every tick, so that an app
//! called steadily stays hot while one called once cools within seconds. When the idle instances
//! are over budget, the coldest pools give theirs up first (the longest idle of a pool first);
//! while the budget is full, an instance is kept only if its app is hotter than the coldest app
//! still keeping one (up to an eighth over budget, given back at the next tick). A tail of apps
//! called now and then thus never pushes out the instances of the apps called all the time.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::Proxy;

use super::{Linked, Sandbox};
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
    /// Its memory size when it went idle (what it counts against the idle budget).
    bytes: usize,
    /// The code it was made from (kept only while that is what new instances are made from).
    pub(super) linked: Arc<Linked>,
    _live: LiveGuard,
}

impl Instance {
    /// A fresh instance.
    pub(super) fn new(
        store: Store<Sandbox>,
        proxy: Proxy,
        linked: Arc<Linked>,
        live: LiveGuard,
    ) -> Self {
        Self {
            store,
            proxy,
            served: 0,
            grown_by_first: None,
            idle_since: Instant::now(),
            bytes: 0,
            linked,
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

/// How many idle instances may be kept, across every deployment of a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleBudget {
    /// Bytes of linear memory idle instances may hold.
    pub bytes: usize,
    /// Idle instances at most (`usize::MAX`: only the bytes bound).
    pub instances: usize,
}

impl IdleBudget {
    /// No bound (a runtime's budget until it is set).
    pub const UNBOUNDED: IdleBudget = IdleBudget {
        bytes: usize::MAX,
        instances: usize::MAX,
    };
}

/// Heat is kept in sixteenths of a request per tick.
const HEAT_UNIT: u64 = 16;

/// What one runtime (a registry and the deployments made for it) shares: how many instances
/// are alive and idle, the idle budget, the pools that hold idle instances, and the metrics they
/// feed. Owned, not process-wide, so that two runtimes in one process keep their own.
#[derive(Debug)]
pub struct Instances {
    live: AtomicUsize,
    idle: AtomicUsize,
    idle_bytes: AtomicUsize,
    budget_bytes: AtomicUsize,
    budget_instances: AtomicUsize,
    /// While the budget is full: the heat an app must exceed for an instance to be kept.
    admit_heat: AtomicU64,
    pools: Mutex<Vec<Weak<Shelf>>>,
    metrics: Arc<Metrics>,
}

impl Default for Instances {
    fn default() -> Self {
        Self {
            live: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            idle_bytes: AtomicUsize::new(0),
            budget_bytes: AtomicUsize::new(usize::MAX),
            budget_instances: AtomicUsize::new(usize::MAX),
            admit_heat: AtomicU64::new(0),
            pools: Mutex::default(),
            metrics: Arc::default(),
        }
    }
}

impl Instances {
    /// The counters this runtime feeds.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Sets the idle budget, across deployments.
    pub fn set_budget(&self, budget: IdleBudget) {
        self.budget_bytes.store(budget.bytes, Ordering::Relaxed);
        self.budget_instances
            .store(budget.instances, Ordering::Relaxed);
    }

    /// The idle budget.
    pub fn budget(&self) -> IdleBudget {
        IdleBudget {
            bytes: self.budget_bytes.load(Ordering::Relaxed),
            instances: self.budget_instances.load(Ordering::Relaxed),
        }
    }

    /// Idle instances across every deployment now.
    pub fn idle(&self) -> usize {
        self.idle.load(Ordering::Relaxed)
    }

    /// Bytes of linear memory the idle instances hold now.
    pub fn idle_bytes(&self) -> usize {
        self.idle_bytes.load(Ordering::Relaxed)
    }

    /// Instances alive now (serving or idle).
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Whether `more` idle instances of `bytes` in all would stay within `budget` (allowing
    /// `slack` eighths over it).
    fn room(&self, budget: IdleBudget, bytes: usize, slack: usize) -> bool {
        let over = |bound: usize, now: usize, more: usize| {
            let allowed = bound.saturating_add(bound / 8 * slack);
            now.saturating_add(more) > allowed
        };
        !over(budget.bytes, self.idle_bytes(), bytes) && !over(budget.instances, self.idle(), 1)
    }

    fn over_budget(&self) -> bool {
        let budget = self.budget();
        self.idle_bytes() > budget.bytes || self.idle() > budget.instances
    }

    fn shelves(&self) -> Vec<Arc<Shelf>> {
        let mut pools = self.pools.lock().expect("pools lock");
        pools.retain(|pool| pool.strong_count() > 0);
        pools.iter().filter_map(Weak::upgrade).collect()
    }

    /// Drops the longest-idle instance of the coldest pool holding one; whether there was one.
    /// Called when an instance is needed and every slot is taken.
    pub(super) fn evict_coldest(&self) -> bool {
        let coldest = self
            .shelves()
            .into_iter()
            .filter_map(|shelf| shelf.oldest().map(|since| (shelf.heat(), since, shelf)))
            .min_by_key(|(heat, since, _)| (*heat, *since));
        match coldest {
            Some((_, _, shelf)) => {
                let evicted = shelf.evict_oldest();
                if evicted {
                    self.metrics.idle_evicted(1);
                }
                evicted
            }
            None => false,
        }
    }

    /// One tick of the budget: cools every pool by a quarter and adds the requests it got since
    /// the last tick; drops instances idle past `idle_timeout`; while over budget, drops the
    /// coldest pools' instances; then sets the heat a new idle instance needs while the budget is
    /// full (that of the coldest pool still keeping one).
    pub fn rebalance(&self, idle_timeout: Duration) {
        let shelves = self.shelves();
        for shelf in &shelves {
            shelf.cool();
            shelf.sweep(idle_timeout);
        }
        let mut holding: Vec<(u64, Instant, &Arc<Shelf>)> = shelves
            .iter()
            .filter_map(|shelf| shelf.oldest().map(|since| (shelf.heat(), since, shelf)))
            .collect();
        holding.sort_by_key(|(heat, since, _)| (*heat, *since));
        let mut coldest = holding.iter().peekable();
        let mut evicted = 0;
        while self.over_budget()
            && let Some((_, _, shelf)) = coldest.peek()
        {
            if shelf.evict_oldest() {
                evicted += 1;
            } else {
                coldest.next();
            }
        }
        self.metrics.idle_evicted(evicted);
        let budget = self.budget();
        let full = !self.room(budget, budget.bytes / 8, 0);
        let admit = match (full, coldest.find(|(_, _, shelf)| shelf.len() > 0)) {
            (true, Some((heat, _, _))) => *heat,
            _ => 0,
        };
        self.admit_heat.store(admit, Ordering::Relaxed);
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

/// A deployment's idle instances, most recently used last, and its heat.
#[derive(Debug)]
pub(super) struct Shelf {
    idle: Mutex<Vec<Instance>>,
    /// Requests since the last tick.
    hits: AtomicU64,
    /// Decayed requests per tick, in [`HEAT_UNIT`]s.
    heat: AtomicU64,
    instances: Arc<Instances>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("served", &self.served)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl Shelf {
    fn heat(&self) -> u64 {
        self.heat.load(Ordering::Relaxed)
    }

    fn cool(&self) {
        let hits = self.hits.swap(0, Ordering::Relaxed);
        let heat = self.heat();
        self.heat.store(
            heat - heat / 4 + hits.saturating_mul(HEAT_UNIT),
            Ordering::Relaxed,
        );
    }

    fn len(&self) -> usize {
        self.idle.lock().expect("pool lock").len()
    }

    fn oldest(&self) -> Option<Instant> {
        self.idle
            .lock()
            .expect("pool lock")
            .first()
            .map(|i| i.idle_since)
    }

    /// Takes instances out of the counts (they are dropped by the caller, outside the lock).
    fn uncount(&self, dropped: &[Instance]) {
        let bytes: usize = dropped.iter().map(|i| i.bytes).sum();
        self.instances
            .idle
            .fetch_sub(dropped.len(), Ordering::Relaxed);
        self.instances
            .idle_bytes
            .fetch_sub(bytes, Ordering::Relaxed);
    }

    fn evict_oldest(&self) -> bool {
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.is_empty() {
            return false;
        }
        let evicted = idle.remove(0);
        drop(idle);
        self.uncount(std::slice::from_ref(&evicted));
        true
    }

    fn sweep(&self, idle_timeout: Duration) {
        let now = Instant::now();
        let mut idle = self.idle.lock().expect("pool lock");
        let (stale, fresh): (Vec<Instance>, Vec<Instance>) = std::mem::take(&mut *idle)
            .into_iter()
            .partition(|i| now.duration_since(i.idle_since) >= idle_timeout);
        *idle = fresh;
        drop(idle);
        self.uncount(&stale);
    }
}

/// A deployment's idle instances, counted against its runtime's budget.
pub(super) struct Pool {
    shelf: Arc<Shelf>,
}

impl Pool {
    /// An empty pool counted in `instances`.
    pub(super) fn new(instances: Arc<Instances>) -> Self {
        let shelf = Arc::new(Shelf {
            idle: Mutex::default(),
            hits: AtomicU64::new(0),
            heat: AtomicU64::new(0),
            instances: instances.clone(),
        });
        instances
            .pools
            .lock()
            .expect("pools lock")
            .push(Arc::downgrade(&shelf));
        Self { shelf }
    }

    /// Takes over the heat of `previous` (the version this one replaces, so that a hot app stays
    /// hot across a redeploy or a promotion).
    pub(super) fn inherit(&self, previous: &Pool) {
        self.shelf.heat.store(
            previous.shelf.heat() + previous.shelf.hits.load(Ordering::Relaxed) * HEAT_UNIT,
            Ordering::Relaxed,
        );
    }

    /// Counts a request.
    pub(super) fn touch(&self) {
        self.shelf.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// The most recently used idle instance; a warm hit is counted.
    pub(super) fn take(&self) -> Option<Instance> {
        let taken = self.shelf.idle.lock().expect("pool lock").pop();
        if let Some(instance) = &taken {
            self.shelf.uncount(std::slice::from_ref(instance));
            self.shelf.instances.metrics.warm_hit();
        }
        taken
    }

    /// Keeps `instance` for a later request unless this pool already holds `max`, or the budget
    /// has no room for it and this app is no hotter than the coldest one keeping an instance
    /// (then it is dropped, and counted as evicted).
    pub(super) fn put(&self, mut instance: Instance, max: usize) {
        let instances = &self.shelf.instances;
        instance.bytes = instance.store.data().memory().size();
        let budget = instances.budget();
        let hot = self.shelf.heat() + self.shelf.hits.load(Ordering::Relaxed) * HEAT_UNIT
            > instances.admit_heat.load(Ordering::Relaxed);
        let room = instances.room(budget, instance.bytes, 0)
            || (hot && instances.room(budget, instance.bytes, 1));
        if !room {
            instances.metrics.idle_evicted(1);
            return;
        }
        let mut idle = self.shelf.idle.lock().expect("pool lock");
        if idle.len() >= max {
            return;
        }
        instance.idle_since = Instant::now();
        instances.idle.fetch_add(1, Ordering::Relaxed);
        instances
            .idle_bytes
            .fetch_add(instance.bytes, Ordering::Relaxed);
        idle.push(instance);
    }

    /// Drops every idle instance; returns how many.
    pub(super) fn clear(&self) -> usize {
        let dropped = std::mem::take(&mut *self.shelf.idle.lock().expect("pool lock"));
        self.shelf.uncount(&dropped);
        dropped.len()
    }

    /// Idle instances now.
    pub(super) fn len(&self) -> usize {
        self.shelf.len()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.clear();
    }
}
