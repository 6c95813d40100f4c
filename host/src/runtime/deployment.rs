//! A deployed version: its component linked once (`InstancePre`), its limits and grants, and the
//! instances that serve it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use wasmtime::Store;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::bindings::FunctionPre;
use super::caps::{self, Capabilities};
use super::pool::{LiveGuard, Pool};
use super::{Grants, RunError, Sandbox};
use crate::config::{Isolation, Limits};

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
    pub(super) proxy: Option<ProxyPre<Sandbox>>,
    pub(super) function: Option<FunctionPre<Sandbox>>,
    engine: wasmtime::Engine,
    stdin: Option<Bytes>,
    capabilities: Arc<Capabilities>,
    concurrency: Arc<tokio::sync::Semaphore>,
    pub(super) pool: Pool,
    live: Arc<AtomicUsize>,
    /// What serving reused instances has shown ([`REUSE_UNKNOWN`], [`REUSE_PROVEN`],
    /// [`REUSE_BROKEN`]).
    pub(super) reuse: AtomicU8,
}

impl Deployment {
    /// Prepares a version: links the component once (`InstancePre`) and checks that it exports
    /// `wasi:http/incoming-handler` or `kiln:function/invoke`. `live` counts its instances.
    #[expect(
        clippy::too_many_arguments,
        reason = "a plain constructor of an immutable value"
    )]
    pub fn new(
        name: &str,
        component: &Component,
        linker: &Linker<Sandbox>,
        tier: Tier,
        artifact: &str,
        stdin: Option<Bytes>,
        spec: &RunSpec,
        live: Arc<AtomicUsize>,
    ) -> anyhow::Result<Self> {
        let pre = linker
            .instantiate_pre(component)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let proxy = ProxyPre::new(pre.clone()).ok();
        let function = FunctionPre::new(pre).ok();
        if proxy.is_none() && function.is_none() {
            anyhow::bail!(
                "the component exports neither wasi:http/incoming-handler nor kiln:function/invoke"
            );
        }
        Ok(Self {
            name: Arc::from(name),
            version: VERSIONS.fetch_add(1, Ordering::Relaxed),
            tier,
            isolation: spec.isolation,
            limits: spec.limits,
            artifact: artifact.to_string(),
            proxy,
            function,
            engine: component.engine().clone(),
            stdin,
            capabilities: spec.capabilities.clone(),
            concurrency: Arc::new(tokio::sync::Semaphore::new(spec.max_concurrency.max(1))),
            pool: Pool::default(),
            live,
            reuse: AtomicU8::new(REUSE_UNKNOWN),
        })
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

    /// A new store for one instance: grants, memory limit and deadline.
    pub(super) fn new_store(&self) -> (Store<Sandbox>, LiveGuard) {
        let grants = Grants {
            app: self.name.clone(),
            stdin: self.stdin.clone(),
            memory_bytes: self.limits.memory_bytes,
            capabilities: self.capabilities.clone(),
        };
        let mut store = Store::new(&self.engine, Sandbox::new(&grants));
        store.data_mut().start_request(self.limits.timeout);
        caps::limits::prepare(&mut store);
        crate::metrics::instantiation();
        (store, LiveGuard::new(self.live.clone()))
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
        let message = match error.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => trap.to_string(),
            None => error.to_string(),
        };
        RunError::Trap { name, message }
    }
}
