//! A deployment's code: a component linked once against Kiln's imports (its `InstancePre`),
//! either shared by every JavaScript app on the engine or an app's own artifact, mapped from the
//! cache while it is used.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::Sandbox;
use super::bindings::exports::kiln::function::{invoke, methods};

/// A component linked against Kiln's imports (its `InstancePre`), by what it exports.
pub struct Linked {
    pub(super) proxy: Option<ProxyPre<Sandbox>>,
    pub(super) function: Option<FunctionCode>,
}

/// A function component: `kiln:function/invoke`, and `kiln:function/methods` when it names
/// methods besides its default.
pub struct FunctionCode {
    pub(super) pre: wasmtime::component::InstancePre<Sandbox>,
    pub(super) invoke: invoke::GuestIndices,
    pub(super) methods: Option<methods::GuestIndices>,
}

impl Linked {
    /// Links `component` once; it must export `wasi:http/incoming-handler` or
    /// `kiln:function/invoke`.
    pub fn new(component: &Component, linker: &Linker<Sandbox>) -> anyhow::Result<Self> {
        let pre = linker
            .instantiate_pre(component)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let proxy = ProxyPre::new(pre.clone()).ok();
        let function = invoke::GuestIndices::new(&pre)
            .ok()
            .map(|invoke| FunctionCode {
                methods: methods::GuestIndices::new(&pre).ok(),
                invoke,
                pre,
            });
        if proxy.is_none() && function.is_none() {
            anyhow::bail!(
                "the component exports neither wasi:http/incoming-handler nor kiln:function/invoke"
            );
        }
        Ok(Self { proxy, function })
    }
}

/// A precompiled artifact in the cache, mapped on first use and dropped again when idle.
pub struct CachedCode {
    path: PathBuf,
    engine: wasmtime::Engine,
    linker: Arc<Linker<Sandbox>>,
    loaded: ArcSwapOption<Linked>,
    loading: tokio::sync::Mutex<()>,
}

impl CachedCode {
    /// The artifact at `path` (checked and mapped on first use), or `linked` already in memory.
    pub fn new(
        path: PathBuf,
        engine: &wasmtime::Engine,
        linker: &Arc<Linker<Sandbox>>,
        linked: Option<Linked>,
    ) -> Self {
        Self {
            path,
            engine: engine.clone(),
            linker: linker.clone(),
            loaded: ArcSwapOption::new(linked.map(Arc::new)),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// The linked code, mapped first (and counted in `metrics`) if it is not in memory.
    async fn get(&self, metrics: &crate::metrics::Metrics) -> anyhow::Result<Arc<Linked>> {
        if let Some(linked) = self.loaded.load_full() {
            return Ok(linked);
        }
        let _loading = self.loading.lock().await;
        if let Some(linked) = self.loaded.load_full() {
            return Ok(linked);
        }
        let (path, engine, linker) = (self.path.clone(), self.engine.clone(), self.linker.clone());
        let linked = tokio::task::spawn_blocking(move || {
            let component = super::artifact::load(&engine, &path).ok_or_else(|| {
                anyhow::anyhow!("the cached artifact {} is gone or damaged", path.display())
            })?;
            Linked::new(&component, &linker)
        })
        .await??;
        let linked = Arc::new(linked);
        self.loaded.store(Some(linked.clone()));
        metrics.code_loaded();
        Ok(linked)
    }
}

/// The shared JS engine, linked once and used by every app served as bytecode.
///
/// wasmtime keeps the first pages of every memory slot an instance used resident, for the next
/// instance of the same code, and releases a slot's pages only when that code is dropped. After a
/// burst of instances that have since gone (a thousand apps called once, then idle), those pages
/// stay with no one to use them: [`SharedCode::renew`] maps a fresh copy for new instances, and
/// the old copy, with its slots' pages, goes once its last instance has.
pub struct SharedCode {
    current: ArcSwap<Linked>,
    path: PathBuf,
    engine: wasmtime::Engine,
    linker: Arc<Linker<Sandbox>>,
}

impl SharedCode {
    /// The precompiled engine at `path`, mapped and linked now.
    pub fn load(
        path: &Path,
        engine: &wasmtime::Engine,
        linker: &Arc<Linker<Sandbox>>,
    ) -> anyhow::Result<Self> {
        let linked = Self::link(path, engine, linker)?;
        Ok(Self {
            current: ArcSwap::from_pointee(linked),
            path: path.to_path_buf(),
            engine: engine.clone(),
            linker: linker.clone(),
        })
    }

    fn link(
        path: &Path,
        engine: &wasmtime::Engine,
        linker: &Linker<Sandbox>,
    ) -> anyhow::Result<Linked> {
        let component = super::artifact::load(engine, path).ok_or_else(|| {
            anyhow::anyhow!("the shared engine {} is gone or damaged", path.display())
        })?;
        Linked::new(&component, linker)
    }

    /// Maps a fresh copy for instances made from now on (blocking: a few milliseconds).
    pub fn renew(&self) -> anyhow::Result<()> {
        let linked = Self::link(&self.path, &self.engine, &self.linker)?;
        self.current.store(Arc::new(linked));
        Ok(())
    }
}

/// Where a deployment's code lives.
pub enum Code {
    /// Linked once and shared by many deployments (the JS engine serving bytecode).
    Shared(Arc<SharedCode>),
    /// The deployment's own artifact: mapped while it is used.
    Cached(CachedCode),
}

impl Code {
    /// The linked code, mapped first (and counted in `metrics`) if it was unloaded.
    pub(super) async fn get(
        &self,
        metrics: &crate::metrics::Metrics,
    ) -> anyhow::Result<Arc<Linked>> {
        match self {
            Code::Shared(shared) => Ok(shared.current.load_full()),
            Code::Cached(cached) => cached.get(metrics).await,
        }
    }

    /// Whether `linked` is what new instances are made from (an instance made from a copy since
    /// renewed or unloaded is not kept, so that the copy can go).
    pub(super) fn is_current(&self, linked: &Arc<Linked>) -> bool {
        match self {
            Code::Shared(shared) => Arc::ptr_eq(&shared.current.load(), linked),
            Code::Cached(cached) => cached
                .loaded
                .load()
                .as_ref()
                .is_some_and(|current| Arc::ptr_eq(current, linked)),
        }
    }

    /// Its own artifact in the cache, if it has one (snapshots and components).
    pub(super) fn artifact_path(&self) -> Option<&Path> {
        match self {
            Code::Cached(cached) => Some(&cached.path),
            Code::Shared(_) => None,
        }
    }

    /// Whether its own code is mapped (the shared engine's is not its own).
    pub(super) fn is_loaded(&self) -> bool {
        matches!(self, Code::Cached(cached) if cached.loaded.load().is_some())
    }

    /// Unmaps its own code (mapped again on the next request); whether there was any.
    pub(super) fn unload(&self) -> bool {
        match self {
            Code::Cached(cached) => cached.loaded.swap(None).is_some(),
            Code::Shared(_) => false,
        }
    }
}
