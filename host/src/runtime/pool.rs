//! The idle instances of a deployment (`reuse` isolation), and the count of live ones.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::Proxy;

use super::Sandbox;

/// A live instance, with the number of requests it has served.
pub(super) struct Instance {
    pub(super) store: Store<Sandbox>,
    pub(super) proxy: Proxy,
    pub(super) served: u32,
    idle_since: Instant,
    _live: LiveGuard,
}

impl Instance {
    /// A fresh instance.
    pub(super) fn new(store: Store<Sandbox>, proxy: Proxy, live: LiveGuard) -> Self {
        Self {
            store,
            proxy,
            served: 0,
            idle_since: Instant::now(),
            _live: live,
        }
    }
}

/// Counts an instance as live until dropped.
pub(crate) struct LiveGuard(Arc<AtomicUsize>);

impl LiveGuard {
    /// Counts one more live instance in `live`.
    pub(super) fn new(live: Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::Relaxed);
        Self(live)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Idle instances, most recently used last.
#[derive(Default)]
pub(super) struct Pool {
    idle: Mutex<Vec<Instance>>,
}

impl Pool {
    /// An idle instance, dropping those idle for longer than `idle_timeout`.
    pub(super) fn take(&self, idle_timeout: Duration) -> Option<Instance> {
        let mut idle = self.idle.lock().expect("pool lock");
        let now = Instant::now();
        idle.retain(|i| now.duration_since(i.idle_since) < idle_timeout);
        idle.pop()
    }

    /// Keeps `instance` for a later request.
    pub(super) fn put(&self, mut instance: Instance) {
        instance.idle_since = Instant::now();
        self.idle.lock().expect("pool lock").push(instance);
    }

    /// Drops instances idle for longer than `idle_timeout`.
    pub(super) fn sweep(&self, idle_timeout: Duration) {
        let now = Instant::now();
        self.idle
            .lock()
            .expect("pool lock")
            .retain(|i| now.duration_since(i.idle_since) < idle_timeout);
    }

    /// Drops every idle instance.
    pub(super) fn clear(&self) {
        self.idle.lock().expect("pool lock").clear();
    }

    /// Idle instances now.
    pub(super) fn len(&self) -> usize {
        self.idle.lock().expect("pool lock").len()
    }
}
