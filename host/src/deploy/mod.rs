//! Turning uploads into deployments: JavaScript through the two compile tiers (bytecode at once,
//! a snapshot built in the background), prebuilt components after validation, both through the
//! content-addressed cache.

mod snapshots;
#[cfg(test)]
mod tests;
mod tiering;
mod validate;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use crate::metrics::Occupancy;
pub use snapshots::Snapshots;
pub use validate::validate_component;

use crate::compile::{CompileError, Compiler};
use crate::config::Tiering;
use crate::kind::AppKind;
use crate::runtime::app_log::AppLogs;
use crate::runtime::caps::kv::KvService;
use crate::runtime::caps::services::Dispatch;
use crate::runtime::pool::IdleBudget;
use crate::runtime::{
    Access, CachedCode, Code, Deployment, JsSource, Linked, Parts, Registry, RunSpec, SharedCode,
    Tier, artifact,
};
use snapshots::SnapshotJob;

/// Why an upload cannot be deployed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// The JavaScript does not compile or its top level throws.
    #[error("{message}")]
    Source {
        /// `file:line:col: message`.
        message: String,
        /// 1-based line, 0 when unknown.
        line: u32,
        /// 1-based column, 0 when unknown.
        column: u32,
    },
    /// The upload is not a component Kiln can serve.
    #[error("{0}")]
    InvalidComponent(String),
    /// A failure inside Kiln.
    #[error(transparent)]
    Engine(#[from] anyhow::Error),
}

impl From<CompileError> for DeployError {
    fn from(error: CompileError) -> Self {
        match error {
            CompileError::Source {
                message,
                line,
                column,
            } => DeployError::Source {
                message,
                line,
                column,
            },
            CompileError::Engine(error) => DeployError::Engine(error),
        }
    }
}

/// How a deploy was served at first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// From the cache: the precompiled artifact, nothing was compiled.
    CacheHit,
    /// Compiled now (JS: to bytecode, with the snapshot built in the background).
    Compiled,
}

/// A version ready to serve, not yet visible: [`Deployer::activate`] makes it so.
pub struct Prepared {
    kind: AppKind,
    deployment: Deployment,
    /// Holds off artifact garbage collection until the version is served.
    _collecting: tokio::sync::OwnedRwLockReadGuard<()>,
    /// Whether it came from the cache.
    pub outcome: Outcome,
    /// The artifact's cache key.
    pub artifact: String,
}

impl Prepared {
    /// The deployment itself, served outside the registry's slots (a pinned version).
    pub fn into_deployment(self) -> Deployment {
        self.deployment
    }
}

/// Deploys apps into the registry.
pub struct Deployer {
    compiler: Arc<Compiler>,
    registry: Arc<Registry>,
    snapshots: Arc<Snapshots>,
    compiles: CompilePool,
    tiering: Tiering,
    /// The shared JS engine, linked once for every app served as bytecode.
    base: tokio::sync::OnceCell<Arc<SharedCode>>,
    /// Taken (read) while an artifact is between its cache lookup and being served, and (write)
    /// while unused artifacts are removed.
    collecting: Arc<tokio::sync::RwLock<()>>,
    /// Set when an app is removed: the next tiering tick collects garbage.
    collect_soon: std::sync::atomic::AtomicBool,
    /// The tiering tick at which the shared engine was last renewed.
    renewed_at: std::sync::atomic::AtomicU64,
    /// The node's key-value backend, once the store that keeps it is open.
    kv: std::sync::OnceLock<Arc<KvService>>,
    /// Where apps' calls to other apps go, once the server that serves them is assembled.
    dispatch: std::sync::OnceLock<Arc<dyn Dispatch>>,
    /// The schedules of the services served from folders (`kiln.json`), by name; a stored
    /// app's schedule is in the store.
    folder_schedules: std::sync::Mutex<std::collections::BTreeMap<String, Vec<String>>>,
    /// Each app's recent log lines and live followers.
    logs: Arc<AppLogs>,
}

/// Compiles (QuickJS, Cranelift) run on a few threads of their own, never on the threads that
/// serve requests or the admin API: the API keeps answering while a big component compiles.
struct CompilePool {
    runtime: Option<tokio::runtime::Runtime>,
}

/// Compiles at once; more wait their turn.
const COMPILE_THREADS: usize = 2;

impl CompilePool {
    fn new() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(COMPILE_THREADS)
            .thread_name("kiln-compile")
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Runs `work` on the pool and waits for it.
    async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, DeployError> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| DeployError::Engine(anyhow::anyhow!("the compile pool is shut down")))?;
        runtime
            .spawn(work)
            .await
            .map_err(|e| DeployError::Engine(anyhow::anyhow!("a compile task failed: {e}")))
    }
}

impl Drop for CompilePool {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Deployer {
    /// A deployer over `registry`; its snapshot worker starts with the first snapshot.
    pub fn new(
        compiler: Arc<Compiler>,
        registry: Arc<Registry>,
        tiering: Tiering,
    ) -> anyhow::Result<Arc<Self>> {
        let collecting = Arc::new(tokio::sync::RwLock::new(()));
        let snapshots = Snapshots::new(compiler.clone(), registry.clone(), collecting.clone());
        registry.instances().set_budget(IdleBudget {
            bytes: tiering.idle_memory_bytes,
            instances: tiering.max_idle_instances,
        });
        Ok(Arc::new(Self {
            compiler,
            registry,
            snapshots,
            compiles: CompilePool::new()?,
            tiering,
            base: tokio::sync::OnceCell::new(),
            collecting,
            collect_soon: std::sync::atomic::AtomicBool::new(false),
            renewed_at: std::sync::atomic::AtomicU64::new(0),
            kv: std::sync::OnceLock::new(),
            dispatch: std::sync::OnceLock::new(),
            folder_schedules: std::sync::Mutex::default(),
            logs: Arc::default(),
        }))
    }

    /// Gives apps deployed from now on their key-value stores in `kv` (set once).
    pub fn set_kv(&self, kv: Arc<KvService>) {
        let _ = self.kv.set(kv);
    }

    /// Each app's recent log lines on this node.
    pub fn logs(&self) -> &Arc<AppLogs> {
        &self.logs
    }

    /// The node's key-value backend, if the node has a store.
    pub fn kv(&self) -> Option<&Arc<KvService>> {
        self.kv.get()
    }

    /// Sends the calls between apps deployed from now on to `dispatch` (set once).
    pub fn set_dispatch(&self, dispatch: Arc<dyn Dispatch>) {
        let _ = self.dispatch.set(dispatch);
    }

    /// Sets (or, empty, removes) the schedule of the service served from a folder.
    pub fn set_folder_schedule(&self, name: &str, schedule: Vec<String>) {
        if let Ok(mut schedules) = self.folder_schedules.lock() {
            if schedule.is_empty() {
                schedules.remove(name);
            } else {
                schedules.insert(name.to_string(), schedule);
            }
        }
    }

    /// The schedules of the services served from folders.
    pub fn folder_schedules(&self) -> Vec<(String, Vec<String>)> {
        self.folder_schedules
            .lock()
            .map(|s| s.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// Where calls between apps go, if the server serves several apps.
    pub fn dispatch(&self) -> Option<Arc<dyn Dispatch>> {
        self.dispatch.get().cloned()
    }

    /// How apps move between tiers and out of memory.
    pub fn tiering(&self) -> &Tiering {
        &self.tiering
    }

    /// The registry deployments go to.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The compiler.
    pub fn compiler(&self) -> &Arc<Compiler> {
        &self.compiler
    }

    /// Snapshots waiting or being built.
    pub fn snapshots_pending(&self) -> usize {
        self.snapshots.pending()
    }

    /// Prepares JavaScript: the cached snapshot if there is one; otherwise the source is checked
    /// and compiled to bytecode (milliseconds), and the snapshot is built after activation.
    /// `file` names the source in error messages (`file:line:col`); the module's top-level code
    /// has `timeout` to finish (awaits and timers included).
    pub async fn prepare_js(
        &self,
        kind: AppKind,
        name: &str,
        file: &str,
        source: &str,
        spec: RunSpec,
        timeout: Duration,
    ) -> Result<Prepared, DeployError> {
        let collecting = self.collecting.clone().read_owned().await;
        let started = Instant::now();
        let key = self.compiler.key(file, source, kind);
        let path = self.compiler.snapshot_path(&key);
        let js = Arc::new(JsSource {
            kind,
            file: file.to_string(),
            source: source.to_string(),
            key: key.clone(),
            snapshot_path: path.clone(),
            timeout,
        });
        let cached = artifact::verify(&path);
        self.registry.metrics().cache(cached);
        if cached {
            let code = Code::Cached(CachedCode::new(
                path,
                self.compiler.engine(),
                self.compiler.linker(),
                None,
            ));
            let deployment =
                self.deployment(name, code, Tier::Snapshot, &key, None, Some(js), &spec);
            tracing::info!(
                app = name,
                key = &key[..16],
                elapsed_us = started.elapsed().as_micros() as u64,
                "cache hit: serving the precompiled snapshot, nothing recompiled"
            );
            return Ok(Prepared {
                kind,
                deployment,
                _collecting: collecting,
                outcome: Outcome::CacheHit,
                artifact: key,
            });
        }
        let (bytecode, base) = self.bytecode(file, source, kind, timeout).await?;
        let deployment = self.deployment(
            name,
            Code::Shared(base),
            Tier::Bytecode,
            &key,
            Some(Bytes::from(bytecode)),
            Some(js),
            &spec,
        );
        tracing::info!(
            app = name,
            elapsed_us = started.elapsed().as_micros() as u64,
            "compiled to bytecode: serving"
        );
        Ok(Prepared {
            kind,
            deployment,
            _collecting: collecting,
            outcome: Outcome::Compiled,
            artifact: key,
        })
    }

    /// Prepares a prebuilt component after checking what it is; compiling it to native code
    /// (once, then cached) can take seconds for a big one.
    pub async fn prepare_component(
        &self,
        kind: AppKind,
        name: &str,
        wasm: &[u8],
        spec: RunSpec,
    ) -> Result<Prepared, DeployError> {
        validate_component(wasm, kind)?;
        let collecting = self.collecting.clone().read_owned().await;
        let key = self.compiler.component_key(wasm);
        let path = self.compiler.snapshot_path(&key);
        let cached = artifact::verify(&path);
        self.registry.metrics().cache(cached);
        let started = Instant::now();
        let (linked, outcome) = if cached {
            (None, Outcome::CacheHit)
        } else {
            tracing::info!(
                app = name,
                bytes = wasm.len(),
                "compiling the component to native code (cached for later starts)"
            );
            let compiler = self.compiler.clone();
            let wasm = wasm.to_vec();
            let target = path.clone();
            let component = self
                .compiles
                .run(async move { compiler.precompile_to(&wasm, &target) })
                .await?
                .map_err(|e| {
                    DeployError::InvalidComponent(format!("the component does not compile: {e:#}"))
                })?;
            let linked = Linked::new(&component, self.compiler.linker()).map_err(|e| {
                DeployError::InvalidComponent(format!("the component cannot be served: {e:#}"))
            })?;
            (Some(linked), Outcome::Compiled)
        };
        let code = Code::Cached(CachedCode::new(
            path,
            self.compiler.engine(),
            self.compiler.linker(),
            linked,
        ));
        let deployment = self.deployment(name, code, Tier::Component, &key, None, None, &spec);
        if outcome == Outcome::CacheHit {
            // Linking checks the component against Kiln's imports: a damaged or foreign
            // artifact fails here, not on its first request.
            deployment.linked().await.map_err(|e| {
                DeployError::InvalidComponent(format!("the component cannot be served: {e}"))
            })?;
        }
        tracing::info!(
            app = name,
            key = &key[..16],
            cached = (outcome == Outcome::CacheHit),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "component ready"
        );
        Ok(Prepared {
            kind,
            deployment,
            _collecting: collecting,
            outcome,
            artifact: key,
        })
    }

    /// Makes a prepared version the one served under its name (requests in flight finish on the
    /// previous one; `access`, when given, applies first). JavaScript served as bytecode gets its
    /// snapshot at once when promotion is immediate (`promote_rps` 0), else when it is hot.
    pub fn activate(&self, prepared: Prepared, access: Option<Access>) {
        let Prepared {
            kind,
            deployment,
            _collecting,
            ..
        } = prepared;
        let name = deployment.name.clone();
        let immediate = self.tiering.promote_rps == 0 && deployment.tier == Tier::Bytecode;
        self.registry.deploy(kind, deployment, access);
        drop(_collecting);
        if immediate && let Some(current) = self.registry.get(kind, &name) {
            self.promote(kind, &current);
        }
    }

    /// Queues the snapshot of a JavaScript version served as bytecode (once per version).
    pub fn promote(&self, kind: AppKind, deployment: &Deployment) -> bool {
        let Some(js) = &deployment.js else {
            return false;
        };
        if deployment.tier != Tier::Bytecode
            || deployment.promotion_asked.swap(true, Ordering::Relaxed)
        {
            return false;
        }
        self.snapshots.submit(SnapshotJob {
            kind,
            name: deployment.name.to_string(),
            version: deployment.version,
            js: js.clone(),
            spec: deployment.spec.clone(),
        });
        true
    }

    /// A function deployment of `source` on the shared engine, not registered: for running a
    /// function once (`kiln run`).
    pub async fn function_once(
        &self,
        file: &str,
        source: &str,
        spec: &RunSpec,
        timeout: Duration,
    ) -> Result<Arc<Deployment>, DeployError> {
        let (bytecode, base) = self
            .bytecode(file, source, AppKind::Function, timeout)
            .await?;
        let name = file.trim_end_matches(".js");
        Ok(Arc::new(self.deployment(
            name,
            Code::Shared(base),
            Tier::Bytecode,
            "run",
            Some(Bytes::from(bytecode)),
            None,
            spec,
        )))
    }

    /// Checks and compiles JavaScript to bytecode on the compile pool; returns it with the
    /// shared engine that runs it.
    async fn bytecode(
        &self,
        file: &str,
        source: &str,
        kind: AppKind,
        timeout: Duration,
    ) -> Result<(Vec<u8>, Arc<SharedCode>), DeployError> {
        let compiler = self.compiler.clone();
        let (file, source) = (file.to_string(), source.to_string());
        let bytecode = self
            .compiles
            .run(async move { compiler.bytecode(&file, &source, kind, timeout).await })
            .await??;
        Ok((bytecode, self.base().await?))
    }

    /// The shared JS engine, built or loaded on first use and linked once.
    async fn base(&self) -> Result<Arc<SharedCode>, DeployError> {
        let compiler = self.compiler.clone();
        self.base
            .get_or_try_init(|| async {
                let shared = self
                    .compiles
                    .run(async move {
                        compiler.base().await?;
                        // Its own copy, not the compiler's: renewed when it holds memory idle.
                        SharedCode::load(
                            &compiler.base_path(),
                            compiler.engine(),
                            compiler.linker(),
                        )
                        .map_err(CompileError::Engine)
                    })
                    .await??;
                Ok::<_, DeployError>(Arc::new(shared))
            })
            .await
            .cloned()
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of a deployment, named"
    )]
    fn deployment(
        &self,
        name: &str,
        code: Code,
        tier: Tier,
        artifact: &str,
        stdin: Option<Bytes>,
        js: Option<Arc<JsSource>>,
        spec: &RunSpec,
    ) -> Deployment {
        let parts = Parts {
            name: name.to_string(),
            code,
            tier,
            artifact: artifact.to_string(),
            stdin,
            js,
        };
        Deployment::new(
            parts,
            self.compiler.engine(),
            spec,
            self.registry.instances().clone(),
        )
    }
}
