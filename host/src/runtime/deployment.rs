//! A deployed version: its code (linked once, `InstancePre`; mapped while it is used), its limits
//! and grants, its heat, and the instances that serve it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmtime::Store;

use super::caps::{self, Capabilities};
use super::code::{Code, Linked};
use super::pool::{Instances, LiveGuard, Pool};
use super::{Grants, RunError, Sandbox};
use crate::config::{Isolation, Limits};
use crate::kind::AppKind;

/// What a deployment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// The shared engine loading QuickJS bytecode.
    Bytecode,
    /// A pre-initialised per-app snapshot.
    Snapshot,
    /// A component uploaded as is.
    Component,
}

impl Tier {
    /// `bytecode`, `snapshot` or `component`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Bytecode => "bytecode",
            Tier::Snapshot => "snapshot",
            Tier::Component => "component",
        }
    }
}

/// How a deployment is to be run: the parts that do not come from its code.
#[derive(Clone)]
pub struct RunSpec {
    /// Isolation mode.
    pub isolation: Isolation,
    /// Limits per instance.
    pub limits: Limits,
    /// Requests served at once before new ones get 503.
    pub max_concurrency: usize,
    /// Granted capabilities.
    pub capabilities: Arc<Capabilities>,
}

impl RunSpec {
    /// No capabilities, the given isolation and limits, 64 concurrent requests.
    pub fn new(isolation: Isolation, limits: Limits) -> Self {
        Self {
            isolation,
            limits,
            max_concurrency: 64,
            capabilities: Arc::default(),
        }
    }
}

/// A place among the requests a deployment serves at once (see [`Deployment::reserve`]).
pub struct Reservation(pub(super) tokio::sync::OwnedSemaphorePermit);

/// No reused instance of this deployment has served a request yet.
pub(super) const REUSE_UNKNOWN: u8 = 0;
/// A reused instance has served a request correctly.
pub(super) const REUSE_PROVEN: u8 = 1;
/// A reused instance failed where a fresh one then succeeded: every request gets a fresh one.
pub(super) const REUSE_BROKEN: u8 = 2;

static VERSIONS: AtomicU64 = AtomicU64::new(1);

/// Milliseconds since the process started: the clock of [`Deployment::idle_for`].
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// A JavaScript app's source, kept so that it can move between tiers.
pub struct JsSource {
    /// Service or function.
    pub kind: AppKind,
    /// The file name shown in errors.
    pub file: String,
    /// The source.
    pub source: String,
    /// The content address of its snapshot.
    pub key: String,
    /// Where that snapshot is cached.
    pub snapshot_path: PathBuf,
    /// The deadline of the module's top-level code.
    pub timeout: Duration,
}

/// What a JS app sees when its recursion exhausts a stack (measured with a function of eight
/// locals; a smaller one nests a little deeper).
const JS_STACK_EXHAUSTED: &str =
    "call stack exhausted (recursion too deep: about 1,400 nested JS calls fit)";

/// One immutable deployed version of an app.
pub struct Deployment {
    /// The app's name.
    pub name: Arc<str>,
    /// Monotonic number within this process.
    pub version: u64,
    /// What runs.
    pub tier: Tier,
    /// Isolation asked for.
    pub isolation: Isolation,
    /// Limits per instance.
    pub limits: Limits,
    /// The compiled artifact's cache key.
    pub artifact: String,
    /// How it is run (isolation, limits, grants).
    pub spec: RunSpec,
    /// The source, for JavaScript (to promote or demote it).
    pub js: Option<Arc<JsSource>>,
    pub(super) code: Code,
    engine: wasmtime::Engine,
    stdin: Option<Bytes>,
    concurrency: Arc<tokio::sync::Semaphore>,
    pub(super) pool: Pool,
    pub(super) instances: Arc<Instances>,
    /// What serving reused instances has shown ([`REUSE_UNKNOWN`], [`REUSE_PROVEN`],
    /// [`REUSE_BROKEN`]).
    pub(super) reuse: AtomicU8,
    instantiations: AtomicU64,
    instantiations_seen: AtomicU64,
    last_used_ms: AtomicU64,
    /// A snapshot was asked for (or failed): not asked for again.
    pub promotion_asked: AtomicBool,
    /// A function's methods, once asked for.
    pub(super) methods: tokio::sync::OnceCell<Arc<[super::function::Method]>>,
}

/// What a deployment is made of.
pub struct Parts {
    /// The app's name.
    pub name: String,
    /// Its code.
    pub code: Code,
    /// What runs.
    pub tier: Tier,
    /// The artifact's cache key.
    pub artifact: String,
    /// Bytes on standard input (the bytecode tier's app).
    pub stdin: Option<Bytes>,
    /// The source, for JavaScript.
    pub js: Option<Arc<JsSource>>,
}

impl Deployment {
    /// A version made of `parts`, run as `spec` says, on `engine`; its instances are counted
    /// in `instances`.
    pub fn new(
        parts: Parts,
        engine: &wasmtime::Engine,
        spec: &RunSpec,
        instances: Arc<Instances>,
    ) -> Self {
        Self {
            name: Arc::from(parts.name),
            version: VERSIONS.fetch_add(1, Ordering::Relaxed),
            tier: parts.tier,
            isolation: spec.isolation,
            limits: spec.limits,
            artifact: parts.artifact,
            spec: spec.clone(),
            js: parts.js,
            code: parts.code,
            engine: engine.clone(),
            stdin: parts.stdin,
            concurrency: Arc::new(tokio::sync::Semaphore::new(spec.max_concurrency.max(1))),
            pool: Pool::new(instances.clone()),
            instances,
            reuse: AtomicU8::new(REUSE_UNKNOWN),
            instantiations: AtomicU64::new(0),
            instantiations_seen: AtomicU64::new(0),
            last_used_ms: AtomicU64::new(now_ms()),
            promotion_asked: AtomicBool::new(false),
            methods: tokio::sync::OnceCell::new(),
        }
    }

    /// The counters of the runtime this version belongs to.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        self.instances.metrics()
    }

    /// The linked code, mapping the artifact first if it was unloaded.
    pub async fn linked(&self) -> Result<Arc<Linked>, RunError> {
        self.code
            .get(self.metrics())
            .await
            .map_err(RunError::Internal)
    }

    /// Counts a request (for tiering and unloading).
    pub(super) fn touch(&self) {
        self.pool.touch();
        self.last_used_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// How long since the last request (or since it was deployed).
    pub fn idle_for(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.last_used_ms.load(Ordering::Relaxed)))
    }

    /// Instances created since the previous call of this method (what a snapshot would make
    /// cheaper: a warm instance serves the same on either tier).
    pub fn instantiations_since_last_look(&self) -> u64 {
        let made = self.instantiations.load(Ordering::Relaxed);
        made.saturating_sub(self.instantiations_seen.swap(made, Ordering::Relaxed))
    }

    /// Its own artifact in the cache, if it has one (snapshots and components).
    pub fn artifact_path(&self) -> Option<&std::path::Path> {
        self.code.artifact_path()
    }

    /// Whether its own code or any instance is in memory.
    pub fn is_loaded(&self) -> bool {
        self.pool.len() > 0 || self.code.is_loaded()
    }

    /// Drops its idle instances and unmaps its own code (mapped again on the next request).
    /// Returns whether anything was dropped.
    pub fn unload(&self) -> bool {
        let instances = self.pool.clear() > 0;
        let code = self.code.unload();
        instances || code
    }

    /// The isolation requests actually get: `request` for a `reuse` deployment whose reused
    /// instances were seen to fail where fresh ones succeed.
    pub fn effective_isolation(&self) -> Isolation {
        if self.reuse.load(Ordering::Relaxed) == REUSE_BROKEN {
            Isolation::Request
        } else {
            self.isolation
        }
    }

    /// A new store for one instance: grants, memory limit and deadline; an error when a grant
    /// cannot be given as it was made (a granted directory removed since the deploy).
    pub(super) fn new_store(&self) -> Result<(Store<Sandbox>, LiveGuard), RunError> {
        let grants = Grants {
            app: self.name.clone(),
            stdin: self.stdin.clone(),
            memory_bytes: self.limits.memory_bytes,
            metrics: self.instances.metrics().clone(),
            capabilities: self.spec.capabilities.clone(),
        };
        let sandbox = Sandbox::new(&grants)
            .map_err(|e| RunError::Internal(e.context(format!("'{}'", self.name))))?;
        let mut store = Store::new(&self.engine, sandbox);
        store.data_mut().start_request(self.limits.timeout);
        caps::limits::prepare(&mut store);
        self.instances.metrics().instantiation();
        self.instantiations.fetch_add(1, Ordering::Relaxed);
        Ok((store, LiveGuard::new(self.instances.clone())))
    }

    /// A concurrency permit, or [`RunError::Busy`] at the limit.
    pub(super) fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, RunError> {
        self.concurrency
            .clone()
            .try_acquire_owned()
            .map_err(|_| RunError::Busy {
                name: self.name.to_string(),
            })
    }

    /// A place among the requests this deployment serves at once, taken before its input is
    /// read: [`RunError::Busy`] at the limit.
    pub fn reserve(&self) -> Result<Reservation, RunError> {
        self.admit().map(Reservation)
    }

    /// The error for a call past its deadline.
    pub(super) fn timeout(&self) -> RunError {
        RunError::Timeout {
            name: self.name.to_string(),
            timeout_ms: self.limits.timeout.as_millis(),
        }
    }

    /// Maps a trap to what the caller sees: past the deadline, out of instances, out of memory,
    /// or a trap.
    pub(super) fn failure(&self, error: wasmtime::Error, store: &Store<Sandbox>) -> RunError {
        let name = self.name.to_string();
        if matches!(
            error.downcast_ref::<wasmtime::Trap>(),
            Some(wasmtime::Trap::Interrupt)
        ) {
            return self.timeout();
        }
        if error
            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
        {
            return RunError::NoInstance { name };
        }
        if store.data().hit_memory_limit() {
            return RunError::OutOfMemory {
                name,
                limit_mib: self.limits.memory_bytes >> 20,
            };
        }
        tracing::warn!(app = %self.name, error = format!("{error:#}"), "guest trapped");
        let message = match (error.downcast_ref::<wasmtime::Trap>(), self.js.is_some()) {
            // The JS engine recurses on both the host's stack for guest code and its own stack in
            // linear memory (first in memory, so overflowing it goes below address 0): deep JS
            // recursion ends in whichever runs out first.
            (Some(wasmtime::Trap::StackOverflow | wasmtime::Trap::MemoryOutOfBounds), true) => {
                JS_STACK_EXHAUSTED.into()
            }
            (Some(wasmtime::Trap::StackOverflow), false) => {
                "call stack exhausted (recursion too deep)".into()
            }
            (Some(trap), _) => trap.to_string(),
            (None, _) => error.to_string(),
        };
        RunError::Trap { name, message }
    }
}
