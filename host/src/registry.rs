//! Named deployments, each an immutable version swapped atomically, and the instances that
//! serve them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use arc_swap::ArcSwap;
use bytes::Bytes;
use wasmtime::component::Component;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};

use crate::config::{Isolation, Limits};
use crate::error::ApiError;
use crate::runtime::{Capabilities, Grants, Sandbox};
use crate::server::Body;

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

/// One immutable deployed version of an app.
pub struct Deployment {
    /// The app's name.
    pub name: Arc<str>,
    /// Monotonic version number within this process.
    pub version: u64,
    /// What runs.
    pub tier: Tier,
    /// Isolation mode.
    pub isolation: Isolation,
    /// Limits per instance.
    pub limits: Limits,
    /// The compiled artifact's cache key.
    pub artifact: String,
    proxy: Option<ProxyPre<Sandbox>>,
    function: Option<crate::invoke::FunctionPre<Sandbox>>,
    engine: wasmtime::Engine,
    stdin: Option<Bytes>,
    capabilities: Arc<Capabilities>,
    concurrency: Arc<tokio::sync::Semaphore>,
    idle: Mutex<Vec<Instance>>,
    live: Arc<AtomicUsize>,
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

/// A live instance, with the number of requests it has served.
struct Instance {
    store: Store<Sandbox>,
    proxy: Proxy,
    served: u32,
    idle_since: Instant,
    _live: LiveGuard,
}

/// Counts an instance as live until dropped.
pub(crate) struct LiveGuard(Arc<AtomicUsize>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

static VERSIONS: AtomicU64 = AtomicU64::new(1);

impl Deployment {
    /// Prepares a version: links the component once (`InstancePre`) and checks that it is a
    /// wasi-http proxy.
    #[expect(
        clippy::too_many_arguments,
        reason = "a plain constructor of an immutable value"
    )]
    pub fn new(
        name: &str,
        component: &Component,
        linker: &wasmtime::component::Linker<Sandbox>,
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
        let function = crate::invoke::FunctionPre::new(pre).ok();
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
            idle: Mutex::new(Vec::new()),
            live,
        })
    }

    /// A new store for one instance: grants, memory limit, and the deadline (yielding to other
    /// requests on this thread every epoch tick until the deadline, then interrupting).
    pub(crate) fn new_store(&self) -> (Store<Sandbox>, LiveGuard) {
        let grants = Grants {
            app: self.name.clone(),
            stdin: self.stdin.clone(),
            memory_bytes: self.limits.memory_bytes,
            capabilities: self.capabilities.clone(),
        };
        let mut store = Store::new(&self.engine, Sandbox::new(&grants));
        store.limiter(|s| s.limiter());
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Long-running guests yield to the other requests on this thread every tick.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.data_mut().deadline = Instant::now() + self.limits.timeout;
        store.set_epoch_deadline(1);
        self.live.fetch_add(1, Ordering::Relaxed);
        crate::metrics::instantiation();
        (store, LiveGuard(self.live.clone()))
    }

    /// The function bindings, if the component exports `kiln:function/invoke`.
    pub(crate) fn function_pre(&self) -> Option<&crate::invoke::FunctionPre<Sandbox>> {
        self.function.as_ref()
    }

    /// A semaphore permit, or 503 at the concurrency limit.
    pub(crate) fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        self.concurrency.clone().try_acquire_owned().map_err(|_| {
            ApiError::Resource(format!(
                "'{}' is at its concurrency limit; retry shortly",
                self.name
            ))
        })
    }

    async fn instantiate(&self) -> Result<Instance, ApiError> {
        let Some(pre) = &self.proxy else {
            return Err(ApiError::NotFound(format!(
                "'{}' does not serve HTTP (it is a function)",
                self.name
            )));
        };
        let (mut store, live) = self.new_store();
        let proxy = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| self.failure(e, &store))?;
        Ok(Instance {
            store,
            proxy,
            served: 0,
            idle_since: Instant::now(),
            _live: live,
        })
    }

    async fn checkout(&self) -> Result<Instance, ApiError> {
        if self.isolation == Isolation::Reuse {
            let reusable = {
                let mut idle = self.idle.lock().expect("pool lock");
                let now = Instant::now();
                idle.retain(|i| now.duration_since(i.idle_since) < self.limits.idle_timeout);
                idle.pop()
            };
            if let Some(instance) = reusable {
                return Ok(instance);
            }
        }
        self.instantiate().await
    }

    fn checkin(&self, mut instance: Instance) {
        instance.served += 1;
        // An instance that hit its memory limit is never reused, even if the guest recovered.
        if self.isolation == Isolation::Reuse
            && instance.served < self.limits.max_requests_per_instance
            && !instance.store.data().hit_memory_limit()
        {
            instance.idle_since = Instant::now();
            self.idle.lock().expect("pool lock").push(instance);
        }
    }

    /// Drops instances idle for longer than the idle timeout.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.idle
            .lock()
            .expect("pool lock")
            .retain(|i| now.duration_since(i.idle_since) < self.limits.idle_timeout);
    }

    /// The error for a request past its deadline.
    pub(crate) fn timeout(&self) -> ApiError {
        ApiError::Timeout(format!(
            "'{}' did not answer within its {} ms deadline",
            self.name,
            self.limits.timeout.as_millis()
        ))
    }

    /// Maps a trap to the error the caller sees: 504 past the deadline, 503 out of memory, else 500.
    pub(crate) fn failure(&self, error: wasmtime::Error, store: &Store<Sandbox>) -> ApiError {
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
            return ApiError::Resource(format!(
                "no instance is free for '{}': the server is at its instance limit; retry shortly",
                self.name
            ));
        }
        if store.data().hit_memory_limit() {
            return ApiError::Resource(format!(
                "'{}' ran out of memory (limit {} MiB)",
                self.name,
                self.limits.memory_bytes >> 20
            ));
        }
        tracing::warn!(app = %self.name, error = format!("{error:#}"), "guest trapped");
        ApiError::Execution(format!("'{}' trapped: {}", self.name, root_cause(&error)))
    }

    /// Serves one HTTP request. The instance is reused afterwards only if the call completed
    /// without a trap or limit hit.
    pub async fn handle<B>(
        self: Arc<Self>,
        request: http::Request<B>,
    ) -> Result<http::Response<Body>, ApiError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let permit = self.admit()?;
        let mut instance = self.checkout().await?;
        instance.store.data_mut().deadline = Instant::now() + self.limits.timeout;
        instance.store.set_epoch_deadline(1);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let data = instance.store.data_mut();
        let request = data
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let out = data
            .http()
            .new_response_outparam(sender)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let deployment = self.clone();
        let task = tokio::spawn(async move {
            let deadline = instance.store.data().deadline;
            let call = instance.proxy.wasi_http_incoming_handler().call_handle(
                &mut instance.store,
                request,
                out,
            );
            // The epoch deadline stops running code; this one also stops a guest waiting on a timer.
            let result = tokio::time::timeout_at(deadline.into(), call).await;
            drop(permit);
            match result {
                Ok(Ok(())) => {
                    deployment.checkin(instance);
                    Ok(())
                }
                Ok(Err(error)) => Err(deployment.failure(error, &instance.store)),
                Err(_) => Err(deployment.timeout()),
            }
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(ApiError::Execution(format!(
                "'{}' answered with an error: {code:?}",
                self.name
            ))),
            Err(_) => match task.await {
                Ok(Err(error)) => Err(error),
                Ok(Ok(())) => Err(ApiError::Execution(format!(
                    "'{}' returned without sending a response",
                    self.name
                ))),
                Err(join) => Err(ApiError::Internal(anyhow::anyhow!(
                    "request task failed: {join}"
                ))),
            },
        }
    }
}

fn root_cause(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => error.to_string(),
    }
}

/// The deployments by name; each slot swaps atomically, so requests in flight keep the version
/// they started with.
#[derive(Default)]
pub struct Registry {
    slots: RwLock<HashMap<String, Arc<Slot>>>,
    live: Arc<AtomicUsize>,
}

/// A name's current version and who may call it.
pub struct Slot {
    current: ArcSwap<Deployment>,
    enabled: AtomicBool,
    jwt_check: AtomicBool,
}

impl Slot {
    /// The version served now.
    pub fn deployment(&self) -> Arc<Deployment> {
        self.current.load_full()
    }

    /// Whether requests are served (else 503).
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Whether callers need a valid token.
    pub fn jwt_check(&self) -> bool {
        self.jwt_check.load(Ordering::Relaxed)
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry counting its instances in `live` (shared with another registry).
    pub fn with_counter(live: Arc<AtomicUsize>) -> Self {
        Self {
            slots: RwLock::default(),
            live,
        }
    }

    /// The counter of live instances, shared by every deployment made for this registry.
    pub fn live_counter(&self) -> Arc<AtomicUsize> {
        self.live.clone()
    }

    /// Instances alive now (serving or idle).
    pub fn live_instances(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The version currently served under `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Deployment>> {
        self.slots
            .read()
            .expect("registry lock")
            .get(name)
            .map(|slot| slot.deployment())
    }

    /// The slot of `name`.
    pub fn slot(&self, name: &str) -> Option<Arc<Slot>> {
        self.slots.read().expect("registry lock").get(name).cloned()
    }

    /// Sets who may call `name`.
    pub fn set_access(&self, name: &str, enabled: bool, jwt_check: bool) {
        if let Some(slot) = self.slot(name) {
            slot.enabled.store(enabled, Ordering::Relaxed);
            slot.jwt_check.store(jwt_check, Ordering::Relaxed);
        }
    }

    /// Makes `deployment` the version served under its name; returns the previous one.
    pub fn deploy(&self, deployment: Deployment) -> Option<Arc<Deployment>> {
        let name = deployment.name.to_string();
        let deployment = Arc::new(deployment);
        let mut slots = self.slots.write().expect("registry lock");
        match slots.get(&name) {
            Some(slot) => Some(slot.current.swap(deployment)),
            None => {
                let slot = Slot {
                    current: ArcSwap::new(deployment),
                    enabled: AtomicBool::new(true),
                    jwt_check: AtomicBool::new(false),
                };
                slots.insert(name, Arc::new(slot));
                None
            }
        }
    }

    /// Stops serving `name`.
    pub fn remove(&self, name: &str) -> Option<Arc<Deployment>> {
        self.slots
            .write()
            .expect("registry lock")
            .remove(name)
            .map(|slot| slot.deployment())
    }

    /// Drops idle instances past their idle timeout.
    pub fn sweep(&self) {
        for slot in self.slots.read().expect("registry lock").values() {
            slot.current.load().sweep();
        }
    }
}
