//! Per-instance state (the store's data): one flat struct, a field per capability. Every grant is
//! explicit; nothing is inherited from the host.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::caps::limits::MemoryLimiter;
use super::caps::outbound_http::NetworkPolicy;
use super::caps::{self, Capabilities};

/// The store data of one instance.
pub struct Sandbox {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    network: NetworkPolicy,
    kv: caps::kv::Kv,
    config: Arc<wasmtime_wasi_config::WasiConfigVariables>,
    memory: MemoryLimiter,
    request: caps::console::RequestTag,
    /// When the current request must be done.
    pub deadline: Instant,
    /// Epoch ticks the current request has run through (see `caps::limits`).
    pub slices: u32,
}

/// What an instance is given when it is created.
pub struct Grants {
    /// The app's name, tagged on its log lines.
    pub app: Arc<str>,
    /// Bytes readable on standard input (the bytecode tier's app).
    pub stdin: Option<Bytes>,
    /// Linear memory limit in bytes.
    pub memory_bytes: usize,
    /// The counters of the runtime the instance belongs to.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Environment variables, directories, network, console.
    pub capabilities: Arc<Capabilities>,
}

impl Sandbox {
    /// A sandbox with only the given grants; an error when a part cannot give what it grants.
    pub fn new(grants: &Grants) -> anyhow::Result<Self> {
        let mut wasi = WasiCtxBuilder::new();
        let request = caps::console::RequestTag::new(&grants.app, &grants.metrics);
        let parts = grants.capabilities.prepare(&mut caps::InstanceBuilder {
            app: &grants.app,
            wasi: &mut wasi,
            request: &request,
            metrics: &grants.metrics,
        })?;
        if let Some(stdin) = &grants.stdin {
            wasi.stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(stdin.clone()));
        }
        Ok(Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            network: parts.network,
            kv: parts.kv,
            config: parts.config,
            memory: MemoryLimiter::new(grants.memory_bytes),
            request,
            deadline: Instant::now() + Duration::from_secs(3600),
            slices: 0,
        })
    }

    /// Starts a request: it must be done within `timeout` (and its caller's deadline, for a call
    /// from another app), it starts with a fresh CPU share, and its console lines carry the id of
    /// the request the current task serves.
    pub fn start_request(&mut self, timeout: Duration) {
        let inbound = caps::services::Inbound::current();
        let own = Instant::now() + timeout;
        self.deadline = inbound.deadline.map_or(own, |caller| caller.min(own));
        let request = caps::console::current_request();
        self.network.begin(caps::services::Inbound {
            deadline: Some(self.deadline),
            trace: request.clone(),
            ..inbound
        });
        self.slices = 0;
        self.request.set(request);
    }

    /// What the `wasi:keyvalue` host functions see.
    pub fn kv_view(&mut self) -> caps::kv::wasi::KvView<'_> {
        caps::kv::wasi::KvView {
            kv: &self.kv,
            table: &mut self.table,
        }
    }

    /// What the `wasi:config/store` host functions see.
    pub fn config_view(&mut self) -> wasmtime_wasi_config::WasiConfig<'_> {
        wasmtime_wasi_config::WasiConfig::from(&*self.config)
    }

    /// The resource limiter for `Store::limiter`.
    pub fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.memory
    }

    /// Whether the guest asked for more memory than its limit.
    pub fn hit_memory_limit(&self) -> bool {
        self.memory.hit()
    }

    /// The memory limiter: the limit, and how much the instance's memory has grown.
    pub fn memory(&self) -> &MemoryLimiter {
        &self.memory
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Sandbox {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.network,
        }
    }
}
