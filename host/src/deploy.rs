//! Turning uploads into deployments: JavaScript through the two compile tiers, prebuilt
//! components after validation, both through the content-addressed cache.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use wasmtime::component::Component;

use crate::compile::{AppKind, CompileError, Compiler, cache};
use crate::config::{Isolation, Limits};
use crate::error::ApiError;
use crate::registry::{Access, Deployment, Registry, RunSpec, Tier};

/// Deploys apps into a registry.
pub struct Deployer {
    compiler: Arc<Compiler>,
    registry: Arc<Registry>,
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
    deployment: Deployment,
    snapshot: Option<SnapshotJob>,
    /// Whether it came from the cache.
    pub outcome: Outcome,
    /// The artifact's cache key.
    pub artifact: String,
}

/// Builds the per-app snapshot after a bytecode deploy.
struct SnapshotJob {
    kind: AppKind,
    file: String,
    source: String,
    path: PathBuf,
    spec: RunSpec,
}

impl From<CompileError> for ApiError {
    fn from(error: CompileError) -> Self {
        match error {
            CompileError::Source {
                message,
                line,
                column,
            } => ApiError::Source {
                message,
                line,
                column,
            },
            CompileError::Other(e) => ApiError::Internal(e),
        }
    }
}

impl Deployer {
    /// A deployer over `registry`.
    pub fn new(compiler: Arc<Compiler>, registry: Arc<Registry>) -> Self {
        Self { compiler, registry }
    }

    /// The registry deployments go to.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The compiler.
    pub fn compiler(&self) -> &Arc<Compiler> {
        &self.compiler
    }

    /// Deploys JavaScript at once (see [`Deployer::prepare_js`]).
    pub async fn deploy_js(
        &self,
        name: &str,
        file: &str,
        source: &str,
        isolation: Isolation,
        limits: Limits,
    ) -> Result<Outcome, ApiError> {
        let prepared = self
            .prepare_js(
                name,
                file,
                source,
                AppKind::Service,
                RunSpec::new(isolation, limits),
            )
            .await?;
        let outcome = prepared.outcome;
        self.activate(prepared, None)?;
        Ok(outcome)
    }

    /// Deploys a component at once (see [`Deployer::prepare_component`]).
    pub fn deploy_component(
        &self,
        name: &str,
        wasm: &[u8],
        isolation: Isolation,
        limits: Limits,
    ) -> Result<Outcome, ApiError> {
        let prepared = self.prepare_component(
            name,
            wasm,
            AppKind::Service,
            RunSpec::new(isolation, limits),
        )?;
        let outcome = prepared.outcome;
        self.activate(prepared, None)?;
        Ok(outcome)
    }

    /// Prepares JavaScript: the cached snapshot if there is one; otherwise the source is checked
    /// and compiled to bytecode (milliseconds), and the snapshot is built after activation.
    pub async fn prepare_js(
        &self,
        name: &str,
        file: &str,
        source: &str,
        kind: AppKind,
        spec: RunSpec,
    ) -> Result<Prepared, ApiError> {
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
                deployment,
                snapshot: None,
                outcome: Outcome::CacheHit,
                artifact: key,
            });
        }
        let bytecode = self.compiler.bytecode(file, source, kind).await?;
        let deployment = self.deployment(
            name,
            self.compiler.base().await?,
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
            file: file.to_string(),
            source: source.to_string(),
            path,
            spec,
        };
        Ok(Prepared {
            deployment,
            snapshot: Some(snapshot),
            outcome: Outcome::Compiled,
            artifact: key,
        })
    }

    /// Prepares a prebuilt wasi-http component after checking what it is.
    pub fn prepare_component(
        &self,
        name: &str,
        wasm: &[u8],
        kind: AppKind,
        spec: RunSpec,
    ) -> Result<Prepared, ApiError> {
        validate_component(wasm, kind)?;
        let key = component_key(wasm);
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
                let component = self.compiler.precompile_to(wasm, &path).map_err(|e| {
                    ApiError::Validation(format!("the component does not compile: {e:#}"))
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
            deployment,
            snapshot: None,
            outcome,
            artifact: key,
        })
    }

    /// Makes a prepared version the one served under its name (requests in flight finish on the
    /// previous one), and starts building its snapshot if it is JavaScript served as bytecode.
    /// `access` (when given) applies before the new version serves.
    pub fn activate(&self, prepared: Prepared, access: Option<Access>) -> Result<(), ApiError> {
        let version = prepared.deployment.version;
        let name = prepared.deployment.name.to_string();
        self.registry.deploy(prepared.deployment, access);
        let Some(job) = prepared.snapshot else {
            return Ok(());
        };
        let compiler = self.compiler.clone();
        let registry = self.registry.clone();
        std::thread::Builder::new()
            .name(format!("kiln-snapshot-{name}"))
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(build_snapshot(compiler, registry, name, version, job));
            })
            .map_err(|e| ApiError::Internal(e.into()))?;
        Ok(())
    }

    fn deployment(
        &self,
        name: &str,
        component: &Component,
        tier: Tier,
        artifact: &str,
        stdin: Option<Bytes>,
        spec: &RunSpec,
    ) -> Result<Deployment, ApiError> {
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
        .map_err(|e| ApiError::Validation(format!("the component cannot be served: {e:#}")))
    }
}

/// The cache key of an uploaded component.
pub fn component_key(wasm: &[u8]) -> String {
    cache::digest(&[
        b"kiln-component-v1",
        crate::compile::wasmtime_version().as_bytes(),
        wasm,
    ])
}

async fn build_snapshot(
    compiler: Arc<Compiler>,
    registry: Arc<Registry>,
    name: String,
    version: u64,
    job: SnapshotJob,
) {
    let started = Instant::now();
    let snapshot = match compiler.snapshot(&job.file, &job.source, job.kind).await {
        Ok(snapshot) => snapshot,
        Err(error) => {
            tracing::warn!(app = %name, error = %error, "snapshot failed; staying on bytecode");
            return;
        }
    };
    let component = match compiler.precompile_to(&snapshot, &job.path) {
        Ok(component) => component,
        Err(error) => {
            tracing::warn!(app = %name, error = format!("{error:#}"), "precompiling the snapshot failed");
            return;
        }
    };
    // Swap only if the bytecode version is still the one served.
    if registry
        .get(&name)
        .is_none_or(|current| current.version != version)
    {
        return;
    }
    let artifact = compiler.key(&job.source, job.kind);
    match Deployment::new(
        &name,
        &component,
        compiler.linker(),
        Tier::Snapshot,
        &artifact,
        None,
        &job.spec,
        registry.live_counter(),
    ) {
        Ok(deployment) => {
            registry.deploy(deployment, None);
            tracing::info!(app = %name, elapsed_ms = started.elapsed().as_millis() as u64, "snapshot ready: swapped in");
        }
        Err(error) => {
            tracing::warn!(app = %name, error = format!("{error:#}"), "snapshot not deployable")
        }
    }
}

/// Checks that `wasm` is a component exporting `wasi:http/incoming-handler@0.2.x` (services) or
/// `kiln:function/invoke@0.1.x` (functions); the error says what was found instead.
pub fn validate_component(wasm: &[u8], kind: AppKind) -> Result<(), ApiError> {
    let mut exports = Vec::new();
    let mut imports = Vec::new();
    let mut depth = 0usize;
    for (index, payload) in wasmparser::Parser::new(0).parse_all(wasm).enumerate() {
        let payload = payload.map_err(|e| {
            ApiError::Validation(format!("the upload is not valid WebAssembly: {e}"))
        })?;
        match payload {
            wasmparser::Payload::Version {
                encoding: wasmparser::Encoding::Module,
                ..
            } if index == 0 => {
                return Err(ApiError::Validation(
                    "the upload is a core WebAssembly module, not a component: build it for wasm32-wasip2 \
                     or turn it into a component that exports wasi:http/incoming-handler"
                        .into(),
                ));
            }
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| {
                        ApiError::Validation(format!("the component's imports are malformed: {e}"))
                    })?;
                    imports.push(import.name.name.to_string());
                }
            }
            wasmparser::Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| {
                        ApiError::Validation(format!("the component's exports are malformed: {e}"))
                    })?;
                    exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    let foreign: Vec<&String> = imports.iter().filter(|name| !provided(name)).collect();
    if !foreign.is_empty() {
        let names = foreign
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ApiError::Validation(format!(
            "the component imports {names}, which Kiln does not provide (Kiln provides the WASI 0.2 interfaces: wasi:cli, wasi:clocks, wasi:filesystem, wasi:http, wasi:io, wasi:random, wasi:sockets)"
        )));
    }
    let (prefix, wanted) = match kind {
        AppKind::Service => (
            "wasi:http/incoming-handler@0.2.",
            "wasi:http/incoming-handler@0.2.x",
        ),
        AppKind::Function => ("kiln:function/invoke@0.1.", "kiln:function/invoke@0.1.x"),
    };
    if !exports.iter().any(|e| e.starts_with(prefix)) {
        let found = if exports.is_empty() {
            "nothing".to_string()
        } else {
            exports.join(", ")
        };
        return Err(ApiError::Validation(format!(
            "the component does not export {wanted} (it exports {found})"
        )));
    }
    Ok(())
}

/// Whether Kiln's linker provides an imported interface (any WASI 0.2 package it links).
fn provided(import: &str) -> bool {
    [
        "wasi:cli/",
        "wasi:clocks/",
        "wasi:filesystem/",
        "wasi:http/",
        "wasi:io/",
        "wasi:random/",
        "wasi:sockets/",
    ]
    .iter()
    .any(|package| import.starts_with(package) && import.contains("@0.2."))
}
