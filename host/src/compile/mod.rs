//! Compiling JavaScript into something servable, in two tiers:
//!
//! 1. **bytecode** — the source is checked and compiled to QuickJS bytecode by the shared,
//!    pre-initialised engine; any instance of that engine serves it at once (it reads the
//!    bytecode on standard input at its first request).
//! 2. **snapshot** — the engine is pre-initialised with the app's module evaluated (Wizer), giving a
//!    standalone wasi-http component; precompiled and cached by content, it replaces the
//!    bytecode tier as soon as it is ready.

pub mod cache;
pub mod typescript;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Component, Linker, Val};
use wasmtime::{Engine, Store};

use crate::kind::AppKind;
use crate::metrics::Metrics;
use crate::runtime::{self, Grants, Sandbox};

/// The prebuilt JavaScript engine guest (`just guest` rebuilds it).
pub static JS_ENGINE: &[u8] = include_bytes!("../../../components/js-engine.wasm");

/// [`JS_ENGINE`] pre-initialised without an app (the shared engine of the bytecode tier), as
/// `kiln engine` writes it: a first start only compiles it instead of initialising it first.
static JS_ENGINE_BASE: &[u8] = include_bytes!("../../../components/js-engine-base.wasm");

/// The sha256 of the [`JS_ENGINE`] that [`JS_ENGINE_BASE`] was made from; when they disagree
/// (the engine was rebuilt, the base not yet), the base is built at run time instead.
const JS_ENGINE_BASE_OF: &str =
    include_str!("../../../components/js-engine-base.wasm.engine-sha256");

/// Time allowed for building the shared engine itself (no app code runs then).
const ENGINE_DEADLINE: Duration = Duration::from_secs(300);

/// A problem found while compiling.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The source does not parse, or its top-level code throws, or it has no handler.
    #[error("{message}")]
    Source {
        /// `file:line:col: message`.
        message: String,
        /// 1-based line (0 when unknown).
        line: u32,
        /// 1-based column (0 when unknown).
        column: u32,
    },
    /// Anything else (I/O, wasmtime).
    #[error(transparent)]
    Engine(#[from] anyhow::Error),
}

/// The guest's source error: `(message, line, column)`.
type SourceError = (String, u32, u32);

fn source_error_of((message, line, column): SourceError) -> CompileError {
    CompileError::Source {
        message,
        line,
        column,
    }
}

fn wasm_err(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}

/// Compiles JavaScript apps and keeps the shared engine used by the bytecode tier.
pub struct Compiler {
    engine: Engine,
    linker: Arc<Linker<Sandbox>>,
    cache_dir: PathBuf,
    /// The engine's configuration and wasmtime's version, part of every cache key.
    fingerprint: String,
    engine_id: String,
    /// The shared pre-initialised engine, built (or loaded from the cache) on first use.
    base: tokio::sync::OnceCell<Component>,
    metrics: Arc<Metrics>,
}

impl Compiler {
    /// A compiler caching under `cache_dir`. The shared engine is not built until JavaScript needs
    /// it (see [`Compiler::base`]).
    pub fn new(
        engine: Engine,
        linker: Linker<Sandbox>,
        cache_dir: &Path,
        metrics: Arc<Metrics>,
    ) -> Self {
        let fingerprint = cache::engine_fingerprint(&engine);
        let engine_id = cache::digest(&[JS_ENGINE, fingerprint.as_bytes()]);
        Self {
            engine,
            linker: Arc::new(linker),
            cache_dir: cache_dir.to_path_buf(),
            fingerprint,
            engine_id,
            base: tokio::sync::OnceCell::new(),
            metrics,
        }
    }

    /// Where compiled artifacts are cached.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker every deployment is instantiated with.
    pub fn linker(&self) -> &Arc<Linker<Sandbox>> {
        &self.linker
    }

    /// The shared engine that serves bytecode: loaded from the cache, or built the first time
    /// JavaScript is compiled (a second or two, once per cache directory).
    pub async fn base(&self) -> Result<&Component, CompileError> {
        self.base
            .get_or_try_init(|| async {
                let path = self.base_path();
                if let Some(component) = self.load_precompiled(&path) {
                    return Ok(component);
                }
                // The same engine, compiled by another data dir of this user's (it depends only
                // on the engine and wasmtime's configuration): copied, so each data dir stands alone.
                let shared = self.shared_engine_path(&path);
                if let Some(shared) = &shared
                    && runtime::artifact::verify(shared)
                    && let Ok(cwasm) = std::fs::read(shared)
                    && runtime::artifact::write(&path, &cwasm).is_ok()
                    && let Some(component) = self.load_precompiled(&path)
                {
                    tracing::info!(from = %shared.display(), "shared JS engine copied from the user's cache");
                    return Ok(component);
                }
                tracing::info!("building the shared JS engine (once per cache directory)");
                let started = std::time::Instant::now();
                let component = if base_is_current() {
                    self.precompile_to(JS_ENGINE_BASE, &path)?
                } else {
                    let base = self.engine_base().await?;
                    self.precompile_to(&base, &path)?
                };
                self.metrics.engine_built();
                tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "built the shared JS engine"
                );
                if let Some(shared) = &shared
                    && let Ok(cwasm) = std::fs::read(&path)
                {
                    // Best effort: another data dir then skips the build.
                    let _ = runtime::artifact::write(shared, &cwasm);
                }
                Ok(component)
            })
            .await
    }

    /// Where [`Self::base`] keeps the shared engine in this cache directory.
    pub fn base_path(&self) -> PathBuf {
        self.cache_dir
            .join(format!("engine-{}.cwasm", &self.engine_id[..16]))
    }

    /// Where the user's cache keeps the shared engine (`None` when that is this cache already).
    fn shared_engine_path(&self, path: &Path) -> Option<PathBuf> {
        let dir = crate::config::user_cache_dir()?.join("cache");
        let shared = dir.join(path.file_name()?);
        (dir.canonicalize().ok() != self.cache_dir.canonicalize().ok()).then_some(shared)
    }

    /// The engine pre-initialised without an app, built now (what `kiln engine` writes).
    pub async fn engine_base(&self) -> Result<Vec<u8>, CompileError> {
        self.snapshot("", "", AppKind::Service, ENGINE_DEADLINE)
            .await
    }

    /// The cache key of an uploaded component: its sha256 with the engine's identity.
    pub fn component_key(&self, wasm: &[u8]) -> String {
        cache::digest(&[b"kiln-component-v2", self.fingerprint.as_bytes(), wasm])
    }

    /// The cache key of a JS or TypeScript source (`file` says which): its sha256 with its kind,
    /// its language and the engine's identity.
    pub fn key(&self, file: &str, source: &str, kind: AppKind) -> String {
        let lang: &[u8] = if typescript::is_typescript(file) {
            b"ts"
        } else {
            b"js"
        };
        cache::digest(&[
            b"kiln-js-snapshot-v3",
            self.engine_id.as_bytes(),
            kind.as_str().as_bytes(),
            lang,
            source.as_bytes(),
        ])
    }

    /// Where the precompiled snapshot of `key` is cached.
    pub fn snapshot_path(&self, key: &str) -> PathBuf {
        self.cache_dir.join(format!("{key}.cwasm"))
    }

    /// Checks the source and compiles it to QuickJS bytecode (tier 1), in a throwaway instance of
    /// the shared engine.
    /// The module's top-level code (awaits and timers included) has `timeout` to finish.
    pub async fn bytecode(
        &self,
        name: &str,
        source: &str,
        kind: AppKind,
        timeout: Duration,
    ) -> Result<Vec<u8>, CompileError> {
        let source = javascript(name, source)?;
        let source = source.as_ref();
        let base = self.base().await?;
        let mut store = self.store(name)?;
        let instance = self
            .linker
            .instantiate_async(&mut store, base)
            .await
            .map_err(wasm_err)?;
        let compile = instance
            .get_typed_func::<(&str, &str, &str), (Result<Vec<u8>, SourceError>,)>(
                &mut store, "compile",
            )
            .map_err(wasm_err)?;
        // The deadline covers the module's own code, not the engine's instantiation.
        set_deadline(&mut store, timeout);
        let call = compile.call_async(&mut store, (name, source, kind.as_str()));
        let (result,) = match tokio::time::timeout(timeout, call).await {
            Ok(called) => called.map_err(|e| trap_error(e, &store, timeout))?,
            Err(_) => return Err(too_slow(timeout)),
        };
        result.map_err(source_error_of)
    }

    /// Pre-initialises the engine with the app's module evaluated (tier 2): a standalone wasi-http
    /// component. An empty source gives the shared engine.
    /// The module's top-level code (awaits and timers included) has `timeout` to finish.
    pub async fn snapshot(
        &self,
        name: &str,
        source: &str,
        kind: AppKind,
        timeout: Duration,
    ) -> Result<Vec<u8>, CompileError> {
        let source = javascript(name, source)?;
        let source = source.as_ref();
        let mut store = self.store(name)?;
        let call = format!(
            "init({}, {}, \"{}\")",
            wasmtime::component::wasm_wave::to_string(&Val::String(name.into()))
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            wasmtime::component::wasm_wave::to_string(&Val::String(source.into()))
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            kind.as_str(),
        );
        let mut wizer = wasmtime_wizer::Wizer::new();
        wizer.init_func(call);
        let linker = &self.linker;
        let started = std::sync::OnceLock::new();
        let run = wizer.run_component(&mut store, JS_ENGINE, async |store, component| {
            // Compiling the engine (before this) can take a while on a busy machine; the
            // deadline covers the module's own code only.
            set_deadline(store, timeout);
            let _ = started.set(std::time::Instant::now());
            linker.instantiate_async(store, component).await
        });
        // Awaits and timers do not run code, so epochs cannot stop them: a clock does, once the
        // module's code has started.
        let run = async {
            tokio::pin!(run);
            loop {
                let waited = started.get().map_or(Duration::ZERO, |t| t.elapsed());
                let left = timeout
                    .saturating_sub(waited)
                    .max(Duration::from_millis(10));
                match tokio::time::timeout(left, &mut run).await {
                    Ok(done) => return Ok(done),
                    Err(_) if started.get().is_some_and(|t| t.elapsed() >= timeout) => {
                        return Err(too_slow(timeout));
                    }
                    Err(_) => {}
                }
            }
        };
        let (snapshot, results) = run.await?.map_err(|e| trap_error(e, &store, timeout))?;
        if let Some(Val::Result(Err(Some(error)))) = results.first() {
            return Err(source_error(error));
        }
        Ok(snapshot)
    }

    /// Precompiles a component for this engine and caches it at `path`, with its sha256 beside
    /// it, checked before the native code is ever loaded.
    pub fn precompile_to(&self, wasm: &[u8], path: &Path) -> anyhow::Result<Component> {
        let cwasm = self.engine.precompile_component(wasm).map_err(wasm_err)?;
        runtime::artifact::write(path, &cwasm)?;
        self.load_precompiled(path)
            .with_context(|| format!("loading {}", path.display()))
    }

    /// Loads a precompiled artifact from Kiln's own cache, if present, matching the hash recorded
    /// when it was written, and valid for this engine.
    pub fn load_precompiled(&self, path: &Path) -> Option<Component> {
        runtime::artifact::load(&self.engine, path)
    }

    fn store(&self, name: &str) -> anyhow::Result<Store<Sandbox>> {
        let grants = Grants {
            app: Arc::from(if name.is_empty() { "engine" } else { name }),
            stdin: None,
            memory_bytes: 512 << 20,
            metrics: self.metrics.clone(),
            capabilities: Arc::default(),
        };
        let mut store = Store::new(&self.engine, Sandbox::new(&grants)?);
        store.limiter(|s| s.limiter());
        store.set_epoch_deadline(u64::MAX / 2);
        Ok(store)
    }
}

/// Whether the committed pre-initialised engine was made from this build's engine.
fn base_is_current() -> bool {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(JS_ENGINE)) == JS_ENGINE_BASE_OF.trim()
}

/// From now, the module's code has `timeout` to finish (checked at every epoch tick).
fn set_deadline(store: &mut Store<Sandbox>, timeout: Duration) {
    store.data_mut().start_request(timeout);
    store.epoch_deadline_callback(|ctx| {
        if std::time::Instant::now() >= ctx.data().deadline {
            Ok(wasmtime::UpdateDeadline::Interrupt)
        } else {
            Ok(wasmtime::UpdateDeadline::Continue(1))
        }
    });
    store.set_epoch_deadline(1);
}

/// The error for top-level code past its deadline.
/// The JavaScript of module `file`: TypeScript (by its extension) has its types stripped.
fn javascript<'a>(file: &str, source: &'a str) -> Result<std::borrow::Cow<'a, str>, CompileError> {
    if typescript::is_typescript(file) {
        typescript::strip(file, source).map(Into::into)
    } else {
        Ok(source.into())
    }
}

fn too_slow(timeout: Duration) -> CompileError {
    CompileError::Source {
        message: format!(
            "the module's top-level code did not finish within {} ms (config compile_timeout_ms)",
            timeout.as_millis()
        ),
        line: 0,
        column: 0,
    }
}

fn trap_error(error: wasmtime::Error, store: &Store<Sandbox>, timeout: Duration) -> CompileError {
    if matches!(
        error.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::Interrupt)
    ) {
        return too_slow(timeout);
    }
    if store.data().hit_memory_limit() {
        return CompileError::Source {
            message: "the module ran out of memory while loading".into(),
            line: 0,
            column: 0,
        };
    }
    CompileError::Engine(anyhow::anyhow!(
        "the engine trapped while compiling: {error:#}"
    ))
}

fn source_error(value: &Val) -> CompileError {
    let mut message = String::from("compile error");
    let (mut line, mut column) = (0, 0);
    if let Val::Tuple(fields) = value
        && let [Val::String(m), Val::U32(l), Val::U32(c)] = fields.as_slice()
    {
        (message, line, column) = (m.clone(), *l, *c);
    }
    CompileError::Source {
        message,
        line,
        column,
    }
}
