//! Limits: memory per instance (a refused growth is remembered so the error can say why) and the
//! deadline, checked at every epoch tick.

use std::time::Instant;

use wasmtime::{ResourceLimiter, Store, UpdateDeadline};

use super::super::Sandbox;

/// Memory limit per instance.
pub struct MemoryLimiter {
    max: usize,
    hit: bool,
}

impl MemoryLimiter {
    /// A limiter allowing `max` bytes of linear memory.
    pub fn new(max: usize) -> Self {
        Self { max, hit: false }
    }

    /// Whether the guest asked for more than its limit.
    pub fn hit(&self) -> bool {
        self.hit
    }
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

/// Applies the memory limit and the deadline to a new store: running code yields to the other
/// requests on its thread at every epoch tick, and is interrupted once the deadline has passed.
pub fn prepare(store: &mut Store<Sandbox>) {
    store.limiter(|sandbox| sandbox.limiter());
    store.epoch_deadline_callback(|ctx| {
        if Instant::now() >= ctx.data().deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store.set_epoch_deadline(1);
}
