//! Named deployments, each an immutable version swapped atomically, and the instances that
//! serve them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::BodyExt;
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
    /// What serving reused instances has shown: [`REUSE_UNKNOWN`], [`REUSE_PROVEN`] or
    /// [`REUSE_BROKEN`].
    reuse: AtomicU8,
}

/// No reused instance of this deployment has served a request yet.
const REUSE_UNKNOWN: u8 = 0;
/// A reused instance has served a request correctly.
const REUSE_PROVEN: u8 = 1;
/// A reused instance failed where a fresh one then succeeded: every request gets a fresh one.
const REUSE_BROKEN: u8 = 2;

/// Requests with a body up to this size can be replayed on a fresh instance while reuse is on
/// probation; larger ones (or bodies of unknown length) wait for a later probe.
const REPLAYABLE_BODY: u64 = 1 << 20;

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
            reuse: AtomicU8::new(REUSE_UNKNOWN),
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

    /// The isolation requests actually get: `request` for a `reuse` deployment whose reused
    /// instances were seen to fail where fresh ones succeed.
    pub fn effective_isolation(&self) -> Isolation {
        if self.reuse.load(Ordering::Relaxed) == REUSE_BROKEN {
            Isolation::Request
        } else {
            self.isolation
        }
    }

    async fn checkout(&self) -> Result<Instance, ApiError> {
        if self.effective_isolation() == Isolation::Reuse {
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
        if self.effective_isolation() == Isolation::Reuse
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
    /// without a trap or limit hit and set a response.
    ///
    /// The first request that a deployment serves from a reused instance is a probe: it is
    /// buffered (when small) so that, if the reused instance fails, it is replayed on a fresh
    /// instance; if that succeeds, the deployment is served with fresh instances from then on.
    /// Components that cannot serve twice (some JS engines' fetch events) thus work unchanged.
    pub async fn handle<B>(
        self: Arc<Self>,
        request: http::Request<B>,
    ) -> Result<http::Response<Body>, ApiError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let permit = self.admit()?;
        let instance = self.checkout().await?;
        let probe = instance.served > 0
            && self.reuse.load(Ordering::Relaxed) == REUSE_UNKNOWN
            && replayable(&request);
        if !probe {
            return self.clone().serve(instance, request, permit).await;
        }
        let (parts, body) = request.into_parts();
        // `replayable` checked that the body is small and of known length.
        let body = body
            .collect()
            .await
            .map_err(|e| {
                let e: wasmtime_wasi_http::Error = e.into();
                ApiError::Validation(format!("reading the request body failed: {e:?}"))
            })?
            .to_bytes();
        let first = self
            .clone()
            .serve(instance, rebuild(&parts, body.clone()), permit)
            .await;
        match first {
            Ok(response) => {
                self.reuse.store(REUSE_PROVEN, Ordering::Relaxed);
                Ok(response)
            }
            Err(ApiError::Execution(reused_error)) => {
                let permit = self.admit()?;
                let fresh = self.instantiate().await?;
                let second = self
                    .clone()
                    .serve(fresh, rebuild(&parts, body), permit)
                    .await;
                if second.is_ok()
                    && self.reuse.swap(REUSE_BROKEN, Ordering::Relaxed) != REUSE_BROKEN
                {
                    self.idle.lock().expect("pool lock").clear();
                    crate::metrics::reuse_refused();
                    tracing::warn!(
                        app = %self.name,
                        reused_error = %reused_error,
                        "a reused instance failed where a fresh one succeeded: serving this app with a fresh instance per request from now on"
                    );
                }
                second
            }
            Err(other) => Err(other),
        }
    }

    /// Runs one request on `instance`.
    async fn serve<B>(
        self: Arc<Self>,
        mut instance: Instance,
        request: http::Request<B>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<http::Response<Body>, ApiError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        instance.store.data_mut().deadline = Instant::now() + self.limits.timeout;
        instance.store.set_epoch_deadline(1);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let responded = Arc::new(AtomicBool::new(false));
        let set = responded.clone();
        let data = instance.store.data_mut();
        let request = data
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let out = data
            .http()
            .new_response_outparam_from_callback(move |response| {
                set.store(true, Ordering::Relaxed);
                let _ = sender.send(response);
            })
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
                // Returning without setting the response: the instance is dropped (with the
                // response's sender in its table), so the request fails at once.
                Ok(Ok(())) if !responded.load(Ordering::Relaxed) => Err(ApiError::Execution(
                    format!("'{}' returned without sending a response", deployment.name),
                )),
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

/// Whether a request can be buffered for a replay: no body, or a small one of known length.
fn replayable<B: http_body::Body>(request: &http::Request<B>) -> bool {
    request
        .body()
        .size_hint()
        .upper()
        .is_some_and(|upper| upper <= REPLAYABLE_BODY)
}

/// A copy of a buffered request.
fn rebuild(
    parts: &http::request::Parts,
    body: Bytes,
) -> http::Request<
    http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>,
> {
    let mut request = http::Request::new(
        http_body_util::Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request
}

fn root_cause(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => error.to_string(),
    }
}

/// The deployments by name; each slot swaps atomically, so requests in flight keep the version
/// they started with.
pub struct Registry {
    slots: RwLock<HashMap<String, Arc<Slot>>>,
    live: Arc<AtomicUsize>,
    /// Names being deployed (at start, or a big component compiling): requests wait for them.
    pending: Mutex<std::collections::HashSet<String>>,
    /// Bumped whenever a slot or a pending name changes, to wake waiting requests.
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::with_counter(Arc::default())
    }
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

    fn set_access(&self, access: Access) {
        // Tighten first: a request never sees the new `enabled` with the old `jwt_check` off.
        self.jwt_check.store(access.jwt_check, Ordering::SeqCst);
        self.enabled.store(access.enabled, Ordering::SeqCst);
    }
}

/// Who may call a deployed name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Served at all (else 503).
    pub enabled: bool,
    /// Callers need a valid token (else 401).
    pub jwt_check: bool,
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
            pending: Mutex::default(),
            changed: tokio::sync::watch::Sender::new(0),
        }
    }

    fn notify(&self) {
        self.changed.send_modify(|generation| *generation += 1);
    }

    /// Marks `name` as being deployed: until it is deployed or [`Registry::settle`]d, requests
    /// for it wait (see [`Registry::wait_slot`]).
    pub fn mark_pending(&self, name: &str) {
        self.pending
            .lock()
            .expect("pending lock")
            .insert(name.to_string());
        self.notify();
    }

    /// Ends the wait for `name` (deployed or failed).
    pub fn settle(&self, name: &str) {
        self.pending.lock().expect("pending lock").remove(name);
        self.notify();
    }

    /// Whether `name` is still being deployed.
    pub fn is_pending(&self, name: &str) -> bool {
        self.pending.lock().expect("pending lock").contains(name)
    }

    /// The slot of `name`, waiting until `deadline` while it is being deployed. `Err(())` means
    /// it was still pending at the deadline; `Ok(None)` that there is no such name.
    pub async fn wait_slot(
        &self,
        name: &str,
        deadline: Instant,
    ) -> Result<Option<Arc<Slot>>, ()> {
        let mut changes = self.changed.subscribe();
        loop {
            if let Some(slot) = self.slot(name) {
                return Ok(Some(slot));
            }
            if !self.is_pending(name) {
                return Ok(None);
            }
            match tokio::time::timeout_at(deadline.into(), changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Err(()),
            }
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
    pub fn set_access(&self, name: &str, access: Access) {
        if let Some(slot) = self.slot(name) {
            slot.set_access(access);
        }
    }

    /// Makes `deployment` the version served under its name; returns the previous one.
    ///
    /// `access`, when given, applies before the new version serves (a new name with no access
    /// given is open: enabled, no token needed).
    pub fn deploy(&self, deployment: Deployment, access: Option<Access>) -> Option<Arc<Deployment>> {
        let name = deployment.name.to_string();
        let deployment = Arc::new(deployment);
        let mut slots = self.slots.write().expect("registry lock");
        match slots.get(&name) {
            Some(slot) => {
                if let Some(access) = access {
                    slot.set_access(access);
                }
                Some(slot.current.swap(deployment))
            }
            None => {
                let access = access.unwrap_or(Access {
                    enabled: true,
                    jwt_check: false,
                });
                let slot = Slot {
                    current: ArcSwap::new(deployment),
                    enabled: AtomicBool::new(access.enabled),
                    jwt_check: AtomicBool::new(access.jwt_check),
                };
                slots.insert(name.clone(), Arc::new(slot));
                drop(slots);
                self.settle(&name);
                None
            }
        }
    }

    /// Stops serving `name`.
    pub fn remove(&self, name: &str) -> Option<Arc<Deployment>> {
        let removed = self
            .slots
            .write()
            .expect("registry lock")
            .remove(name)
            .map(|slot| slot.deployment());
        self.settle(name);
        removed
    }

    /// Drops idle instances past their idle timeout.
    pub fn sweep(&self) {
        for slot in self.slots.read().expect("registry lock").values() {
            slot.current.load().sweep();
        }
    }
}
