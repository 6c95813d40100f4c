//! Turning uploads into deployments: JavaScript through the two compile tiers (bytecode at once,
//! a snapshot built in the background), prebuilt components after validation, both through the
//! content-addressed cache.

mod snapshots;
mod validate;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmtime::component::Component;

pub use snapshots::Snapshots;
pub use validate::validate_component;

use crate::compile::{CompileError, Compiler};
use crate::kind::AppKind;
use crate::runtime::{Access, Deployment, Registry, RunSpec, Tier};
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
    snapshot: Option<SnapshotJob>,
    /// Whether it came from the cache.
    pub outcome: Outcome,
    /// The artifact's cache key.
    pub artifact: String,
}

/// Deploys apps into the registry.
pub struct Deployer {
    compiler: Arc<Compiler>,
    registry: Arc<Registry>,
    snapshots: Arc<Snapshots>,
    compiles: CompilePool,
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
    pub fn new(compiler: Arc<Compiler>, registry: Arc<Registry>) -> anyhow::Result<Self> {
        let snapshots = Snapshots::new(compiler.clone(), registry.clone());
        Ok(Self {
            compiler,
            registry,
            snapshots,
            compiles: CompilePool::new()?,
        })
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
        let started = Instant::now();
        let key = self.compiler.key(source, kind);
        let path = self.compiler.snapshot_path(&key);
        let cached = self.compiler.load_precompiled(&path);
        crate::metrics::cache(cached.is_some());
        if let Some(component) = cached {
            let deployment =
                self.deployment(name, &component, Tier::Snapshot, &key, None, &spec)?;
            tracing::info!(
                app = name,
                key = &key[..16],
                elapsed_us = started.elapsed().as_micros() as u64,
                "cache hit: serving the precompiled snapshot, nothing recompiled"
            );
            return Ok(Prepared {
                kind,
                deployment,
                snapshot: None,
                outcome: Outcome::CacheHit,
                artifact: key,
            });
        }
        let (bytecode, base) = self.bytecode(file, source, kind, timeout).await?;
        let deployment = self.deployment(
            name,
            &base,
            Tier::Bytecode,
            &key,
            Some(Bytes::from(bytecode)),
            &spec,
        )?;
        tracing::info!(
            app = name,
            elapsed_us = started.elapsed().as_micros() as u64,
            "compiled to bytecode: serving"
        );
        let snapshot = SnapshotJob {
            kind,
            name: name.to_string(),
            version: deployment.version,
            file: file.to_string(),
            source: source.to_string(),
            path,
            spec,
            timeout,
        };
        Ok(Prepared {
            kind,
            deployment,
            snapshot: Some(snapshot),
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
        let key = self.compiler.component_key(wasm);
        let path = self.compiler.snapshot_path(&key);
        let cached = self.compiler.load_precompiled(&path);
        crate::metrics::cache(cached.is_some());
        let started = Instant::now();
        let (component, outcome) = match cached {
            Some(component) => (component, Outcome::CacheHit),
            None => {
                tracing::info!(
                    app = name,
                    bytes = wasm.len(),
                    "compiling the component to native code (cached for later starts)"
                );
                let compiler = self.compiler.clone();
                let wasm = wasm.to_vec();
                let component = self
                    .compiles
                    .run(async move { compiler.precompile_to(&wasm, &path) })
                    .await?
                    .map_err(|e| {
                        DeployError::InvalidComponent(format!(
                            "the component does not compile: {e:#}"
                        ))
                    })?;
                (component, Outcome::Compiled)
            }
        };
        let deployment = self.deployment(name, &component, Tier::Component, &key, None, &spec)?;
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
            snapshot: None,
            outcome,
            artifact: key,
        })
    }

    /// Makes a prepared version the one served under its name (requests in flight finish on the
    /// previous one; `access`, when given, applies first), and queues its snapshot if it is
    /// JavaScript served as bytecode.
    pub fn activate(&self, prepared: Prepared, access: Option<Access>) {
        self.registry
            .deploy(prepared.kind, prepared.deployment, access);
        if let Some(job) = prepared.snapshot {
            self.snapshots.submit(job);
        }
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
            &base,
            Tier::Bytecode,
            "run",
            Some(Bytes::from(bytecode)),
            spec,
        )?))
    }

    /// Checks and compiles JavaScript to bytecode on the compile pool; returns it with the
    /// shared engine that runs it.
    async fn bytecode(
        &self,
        file: &str,
        source: &str,
        kind: AppKind,
        timeout: Duration,
    ) -> Result<(Vec<u8>, Component), DeployError> {
        let compiler = self.compiler.clone();
        let (file, source) = (file.to_string(), source.to_string());
        let compiled = self
            .compiles
            .run(async move {
                let bytecode = compiler.bytecode(&file, &source, kind, timeout).await?;
                let base = compiler.base().await?.clone();
                Ok::<_, CompileError>((bytecode, base))
            })
            .await?;
        Ok(compiled?)
    }

    fn deployment(
        &self,
        name: &str,
        component: &Component,
        tier: Tier,
        artifact: &str,
        stdin: Option<Bytes>,
        spec: &RunSpec,
    ) -> Result<Deployment, DeployError> {
        Deployment::new(
            name,
            component,
            self.compiler.linker(),
            tier,
            artifact,
            stdin,
            spec,
            self.registry.live_counter(),
        )
        .map_err(|e| {
            DeployError::InvalidComponent(format!("the component cannot be served: {e:#}"))
        })
    }
}
