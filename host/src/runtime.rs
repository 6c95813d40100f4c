//! The wasmtime side: one engine for the process, the per-instance sandbox (store data), limits,
//! and the deny-by-default network policy.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::compile::cache::DiskCacheStore;
use crate::config::Config;

/// How often the epoch advances; deadlines are checked at this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Builds the process-wide engine: pooling allocator, epoch interruption, module cache and
/// Cranelift's incremental cache under `{data_dir}/cache`.
pub fn engine(config: &Config) -> anyhow::Result<Engine> {
    let mut wasm = wasmtime::Config::new();
    wasm.epoch_interruption(true);
    wasm.wasm_component_model(true);

    let max = config.max_instances.max(4);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(max)
        .total_core_instances(max * 4)
        .total_memories(max * 2)
        .total_tables(max * 4)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .max_memory_size(config.limits.memory_bytes)
        // Sized to the engine snapshot's heap: reused slots need no page faults or madvise.
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10);
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));

    let cache_dir = config.cache_dir();
    std::fs::create_dir_all(&cache_dir)
        .with_context(|| format!("creating {}", cache_dir.display()))?;
    let mut cache = wasmtime::CacheConfig::new();
    cache.with_directory(cache_dir.join("wasmtime"));
    wasm.cache(Some(
        wasmtime::Cache::new(cache).map_err(|e| anyhow::anyhow!("{e}"))?,
    ));
    wasm.enable_incremental_compilation(Arc::new(DiskCacheStore::open(
        &cache_dir.join("cranelift"),
    )?))
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    let engine = Engine::new(&wasm).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    start_epoch_ticker(&engine);
    Ok(engine)
}

fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("kiln-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}

/// The linker with every interface a Kiln guest may import: WASI 0.2 and `wasi:http`.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<Sandbox>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok(linker)
}

/// Per-instance state: the store's data. Every grant is explicit; nothing is inherited.
pub struct Sandbox {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    network: NetworkPolicy,
    memory: MemoryLimiter,
    /// When the current request must be done.
    pub deadline: Instant,
}

/// What an instance is given when it is created.
pub struct Grants {
    /// The app's name, tagged on its log lines.
    pub app: Arc<str>,
    /// Bytes readable on standard input (the bytecode tier's app).
    pub stdin: Option<Bytes>,
    /// Linear memory limit in bytes.
    pub memory_bytes: usize,
    /// Environment variables and preopened directories.
    pub capabilities: Arc<Capabilities>,
}

/// The WASI capabilities a deployment was granted; nothing else of the host is visible.
#[derive(Debug)]
pub struct Capabilities {
    /// Variables (with the host's values at deploy time).
    pub env: Vec<(String, String)>,
    /// Directories preopened read-only at the same path.
    pub read: Vec<std::path::PathBuf>,
    /// Directories preopened read-write at the same path.
    pub write: Vec<std::path::PathBuf>,
    /// Hosts outgoing HTTP may reach (`host`, `host:port`, `*.domain`).
    pub net: Arc<[String]>,
    /// Where `console.*` goes.
    pub console: Console,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            env: Vec::new(),
            read: Vec::new(),
            write: Vec::new(),
            net: Arc::from(Vec::new()),
            console: Console::Log,
        }
    }
}

/// Where a guest's standard output and error go.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// Kiln's log, line by line, tagged with the app.
    #[default]
    Log,
    /// The process's standard error (`kiln run`, whose stdout carries results).
    Stderr,
}

impl Sandbox {
    /// A sandbox with only the given grants.
    pub fn new(grants: &Grants) -> Self {
        let mut wasi = WasiCtxBuilder::new();
        match grants.capabilities.console {
            Console::Log => {
                wasi.stdout(GuestLog {
                    app: grants.app.clone(),
                    stream: "stdout",
                });
                wasi.stderr(GuestLog {
                    app: grants.app.clone(),
                    stream: "stderr",
                });
            }
            Console::Stderr => {
                wasi.stdout(tokio::io::stderr());
                wasi.stderr(tokio::io::stderr());
            }
        }
        if let Some(stdin) = &grants.stdin {
            wasi.stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(stdin.clone()));
        }
        let caps = &grants.capabilities;
        for (name, value) in &caps.env {
            wasi.env(name, value);
        }
        for (dirs, perms) in [
            (&caps.read, wasmtime_wasi::FsPerms::ReadOnly),
            (&caps.write, wasmtime_wasi::FsPerms::ReadWrite),
        ] {
            for dir in dirs {
                let guest = dir.to_string_lossy();
                if let Err(error) = wasi.preopened_dir(dir, guest.as_ref(), perms) {
                    tracing::warn!(app = %grants.app, dir = %dir.display(), error = %error, "a granted directory could not be opened");
                }
            }
        }
        Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            network: NetworkPolicy {
                allow: grants.capabilities.net.clone(),
            },
            memory: MemoryLimiter {
                max: grants.memory_bytes,
                hit: false,
            },
            deadline: Instant::now() + Duration::from_secs(3600),
        }
    }

    /// The resource limiter for `Store::limiter`.
    pub fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.memory
    }

    /// Whether the guest asked for more memory than its limit.
    pub fn hit_memory_limit(&self) -> bool {
        self.memory.hit
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

/// Memory limit per instance; remembers a refused growth so the error can say why.
struct MemoryLimiter {
    max: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Outgoing HTTP policy: only hosts on the `net` allow-list are reached; anything else is refused
/// with `HttpRequestDenied` before a connection is made (the guest sees an error it can catch).
struct NetworkPolicy {
    allow: Arc<[String]>,
}

/// Whether `host` (and `port`) match one `net` grant: `api.example.com` (any port),
/// `api.example.com:8443`, or `*.example.com` (subdomains only).
pub fn net_allows(grant: &str, host: &str, port: u16) -> bool {
    let grant = grant.trim().to_ascii_lowercase();
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let (pattern, wanted_port) = match grant.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() && !h.ends_with(':') => {
            (h.to_string(), p.parse::<u16>().ok())
        }
        _ => (grant.clone(), None),
    };
    let pattern = pattern.trim_start_matches('[').trim_end_matches(']');
    let host_matches = match pattern.strip_prefix("*.") {
        Some(domain) => host.ends_with(&format!(".{domain}")),
        None => host == pattern,
    };
    host_matches && wanted_port.is_none_or(|p| p == port)
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<wasmtime_wasi_http::WasiBody>,
                Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for NetworkPolicy {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        if !self
            .allow
            .iter()
            .any(|grant| net_allows(grant, &host, port))
        {
            tracing::warn!(uri = %uri, "outgoing request denied: no network grant for this host");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// Guest standard output and error, forwarded line by line to Kiln's log with the app's name.
#[derive(Clone)]
struct GuestLog {
    app: Arc<str>,
    stream: &'static str,
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(GuestLogWriter {
            log: self.clone(),
            line: Vec::new(),
        })
    }
}

struct GuestLogWriter {
    log: GuestLog,
    line: Vec<u8>,
}

impl GuestLogWriter {
    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end_matches(['\n', '\r']);
        if self.log.stream == "stderr" {
            tracing::warn!(target: "kiln::guest", app = %self.log.app, "{text}");
        } else {
            tracing::info!(target: "kiln::guest", app = %self.log.app, "{text}");
        }
        self.line.clear();
    }
}

impl tokio::io::AsyncWrite for GuestLogWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        for &byte in buf {
            self.line.push(byte);
            if byte == b'\n' || self.line.len() >= 16 * 1024 {
                self.emit();
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.line.is_empty() {
            self.emit();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for GuestLogWriter {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
    }
}

/// Reads a file, naming it in the error.
pub fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::net_allows;

    #[test]
    fn net_grants_match_hosts_ports_and_subdomains() {
        assert!(net_allows("api.example.com", "api.example.com", 443));
        assert!(net_allows("API.example.com", "api.EXAMPLE.com", 80));
        assert!(!net_allows("api.example.com", "evil.com", 443));
        assert!(!net_allows(
            "api.example.com",
            "api.example.com.evil.com",
            443
        ));
        assert!(net_allows("127.0.0.1:8080", "127.0.0.1", 8080));
        assert!(!net_allows("127.0.0.1:8080", "127.0.0.1", 8081));
        assert!(net_allows("*.example.com", "a.b.example.com", 443));
        assert!(!net_allows("*.example.com", "example.com", 443));
        assert!(!net_allows("*.example.com", "badexample.com", 443));
    }
}
