//! Limits: memory per instance (a refused growth is remembered so the error can say why) and the
//! deadline, checked at every epoch tick.

use std::time::{Duration, Instant};

use wasmtime::{ResourceLimiter, Store, UpdateDeadline};

use super::super::Sandbox;

/// Memory limit per instance, its memories' size, and how much they have grown since created.
pub struct MemoryLimiter {
    max: usize,
    hit: bool,
    grown: usize,
    size: usize,
}

impl MemoryLimiter {
    /// A limiter allowing `max` bytes of linear memory.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            hit: false,
            grown: 0,
            size: 0,
        }
    }

    /// Whether the guest asked for more than its limit.
    pub fn hit(&self) -> bool {
        self.hit
    }

    /// The limit, in bytes.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Bytes the instance's memories grew by after they were created.
    pub fn grown(&self) -> usize {
        self.grown
    }

    /// Bytes of linear memory the instance has now, across its memories: what it may keep
    /// resident while idle (pages it never touched are shared with its image or never mapped).
    pub fn size(&self) -> usize {
        self.size
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = true;
            return Ok(false);
        }
        self.size += desired.saturating_sub(current);
        // A memory being created is asked for from 0; that is its start, not growth.
        if current > 0 {
            self.grown += desired - current;
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

thread_local! {
    /// Requests running guest code on this thread now.
    static RUNNING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Counts a request as running guest code on this thread while it lives.
pub struct Running(());

impl Running {
    /// Counts one more request on this thread.
    pub fn start() -> Self {
        RUNNING.with(|running| running.set(running.get() + 1));
        Self(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.with(|running| running.set(running.get().saturating_sub(1)));
    }
}

/// Epoch ticks a request runs with the full share of its thread; past them it is a long runner.
const FAST_SLICES: u32 = 10;

/// How long a long runner pauses after each tick it runs while other requests share its thread:
/// it gets at most a fifth of the thread, and they never wait behind it for more than a tick.
const LONG_RUNNER_PAUSE: Duration = Duration::from_millis(4);

/// Applies the memory limit and the deadline to a new store: running code yields to the other
/// requests on its thread at every epoch tick; once it has run for [`FAST_SLICES`] ticks it
/// pauses between ticks whenever other requests are running on its thread; it is interrupted once
/// the deadline has passed.
pub fn prepare(store: &mut Store<Sandbox>) {
    store.limiter(|sandbox| sandbox.limiter());
    store.epoch_deadline_callback(|mut ctx| {
        let sandbox = ctx.data_mut();
        if Instant::now() >= sandbox.deadline {
            return Ok(UpdateDeadline::Interrupt);
        }
        sandbox.slices = sandbox.slices.saturating_add(1);
        if sandbox.slices >= 2 {
            crate::runtime::engine::long_run_seen();
        }
        // Tokio's yield lets the runtime poll for I/O before this task runs again, so the other
        // requests on this thread are read and served between two slices of a busy guest.
        let pause: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
            if sandbox.slices <= FAST_SLICES || RUNNING.with(std::cell::Cell::get) <= 1 {
                Box::pin(tokio::task::yield_now())
            } else {
                Box::pin(tokio::time::sleep(LONG_RUNNER_PAUSE))
            };
        Ok(UpdateDeadline::YieldCustom(1, pause))
    });
    store.set_epoch_deadline(1);
}
