//! The process-wide engine and linker.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::Linker;
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::Sandbox;
use super::code_cache::DiskCacheStore;
use crate::config::Config;

/// How often the epoch advances; deadlines are checked at this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Builds the engine: pooling allocator, epoch interruption, wasmtime's module cache and
/// Cranelift's incremental cache under the config's cache directory.
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
        .max_memory_size(config.max_memory_bytes.max(config.limits.memory_bytes))
        // Sized to the engine snapshot's heap: reused slots need no page faults or madvise.
        // Slots keep their dirtied pages, so the idle-instance budget bounds this memory.
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10)
        // Reset only the pages an instance dirtied (Linux 6.7+): a fresh instance per request
        // then costs its own footprint, not `keep_resident`.
        .pagemap_scan(wasmtime::Enabled::Auto);
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
