//! The process-wide engine and linker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use wasmtime::component::Linker;
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::Sandbox;
use super::code_cache::DiskCacheStore;
use crate::config::Config;

/// How often the epoch advances while some guest runs for longer than a tick: the slice after
/// which a busy guest yields to the other requests on its thread.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// How often the epoch advances while no guest runs long; deadlines are checked at least this
/// often. Waking a thread a thousand times a second costs every request on a small machine,
/// so the fine tick is only used while it buys fairness.
pub const EPOCH_TICK_IDLE: Duration = Duration::from_millis(5);

/// How long the fine tick stays on after a guest was last seen running for more than a tick.
const FINE_TICKS_FOR: Duration = Duration::from_millis(200);

/// When a guest was last seen running past its first slice (milliseconds since [`clock`]'s
/// start).
static LONG_RUN_SEEN_MS: AtomicU64 = AtomicU64::new(0);

fn clock() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    // Offset by the window so that the fine tick is off at start.
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + FINE_TICKS_FOR.as_millis() as u64
}

/// Records a guest running past its first slice: the epoch ticks finely for a while.
pub fn long_run_seen() {
    LONG_RUN_SEEN_MS.store(clock(), Ordering::Relaxed);
}

/// Builds the engine: pooling allocator, epoch interruption, wasmtime's module cache and
/// Cranelift's incremental cache under the config's cache directory.
pub fn engine(config: &Config) -> anyhow::Result<Engine> {
    let mut wasm = wasmtime::Config::new();
    wasm.epoch_interruption(true);
    wasm.wasm_component_model(true);
    // Host stack for guest code. QuickJS recurses natively per JS call (~600 bytes here, ~300 of
    // shadow stack in linear memory): 1 MiB matches the engine's 512 KiB shadow stack, about 1,600
    // nested JS calls (512 KiB allowed ~800).
    wasm.max_wasm_stack(1 << 20);
    wasm.async_stack_size(2 << 20);

    let max = config.max_instances.max(4);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(max)
        .total_core_instances(max * 4)
        .total_memories(max * 2)
        .total_tables(max * 4)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .max_memory_size(config.max_memory_bytes.max(config.limits.memory_bytes))
        // A slot is reset by copying its image back over the first `keep_resident` bytes and
        // decommitting the rest. 2 MiB covers the JS engine's 512 KiB stack, its image (~650 KiB)
        // and an app's heap up to a Hono-sized bundle, so a request neither faults nor needs a
        // madvise (a page fault with its TLB flush costs ~20 page copies on these VMs); more only
        // copies more. Slots keep these pages, so the idle-instance budget bounds this memory.
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10)
        // Freed slots are taken again before untouched ones once this many wait, so that slots
        // in use plus these bound what stays resident under churn (the shared engine is renewed
        // to release more after a burst: `deploy/tiering.rs`).
        .max_unused_warm_slots(32)
        // Never reset from the kernel's page map: it skips dirty pages that are swapped out (or
        // being migrated), so the next instance in the slot, possibly another tenant's, would
        // read the previous one's memory and tables (`security.rs` pages an idle instance out).
        .pagemap_scan(wasmtime::Enabled::No);
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
                let fine = clock().saturating_sub(LONG_RUN_SEEN_MS.load(Ordering::Relaxed))
                    < FINE_TICKS_FOR.as_millis() as u64;
                std::thread::sleep(if fine { EPOCH_TICK } else { EPOCH_TICK_IDLE });
            }
        })
        .expect("spawning the epoch thread");
}

/// The linker with every interface a Kiln guest may import: WASI 0.2, `wasi:http`,
/// `wasi:keyvalue` and `wasi:config`.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<Sandbox>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    super::caps::kv::wasi::add_to_linker(&mut linker, Sandbox::kv_view)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    wasmtime_wasi_config::add_to_linker(&mut linker, Sandbox::config_view)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok(linker)
}
