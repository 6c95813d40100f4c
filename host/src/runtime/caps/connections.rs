//! Outgoing connections: how many may be open (per instance, per app, per process, so that one
//! app cannot take the file descriptors every tenant's `accept` needs), and each app's pool of
//! idle HTTP/1.1 connections, so that fetching the same origin again reuses one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::WasiBody;

/// Outgoing requests one instance may have in flight at once (sent, their response not read to
/// its end or dropped).
pub const PER_INSTANCE: usize = 64;
/// Outgoing connections all instances of one app may hold open at once, idle ones included.
pub const PER_APP: usize = 256;
/// Descriptors never given to outgoing connections, whatever the limit.
pub const FD_RESERVE: u64 = 256;
/// How long an idle connection is kept for reuse.
const IDLE_FOR: Duration = Duration::from_secs(30);
/// Idle connections kept per origin.
const IDLE_PER_ORIGIN: usize = 16;

/// The process-wide bound on outgoing connections for a descriptor limit of `nofile`: half of
/// what is left once [`FD_RESERVE`] is set aside, at most 4,096.
pub fn process_limit(nofile: u64) -> usize {
    (nofile.saturating_sub(FD_RESERVE) / 2).clamp(16, 4096) as usize
}

/// The process's bound, sized at first use from `RLIMIT_NOFILE`. Process-wide on purpose:
/// descriptors are the process's, whichever runtime in it opens them.
fn process() -> &'static Arc<Semaphore> {
    static PROCESS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PROCESS.get_or_init(|| Arc::new(Semaphore::new(process_limit(crate::fds::limit()))))
}

/// Where a connection goes: the checked address, and the name TLS verifies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The resolved, checked address.
    pub address: SocketAddr,
    /// `https`.
    pub tls: bool,
    /// The host the request named.
    pub host: String,
}

/// Idle connections by origin, with when they became idle.
type Pool = Mutex<HashMap<Origin, Vec<(Instant, SendRequest<WasiBody>)>>>;

/// The outgoing connections of one app (one per deployment, shared by its instances): their
/// bound and the idle ones.
#[derive(Clone)]
pub struct AppConnections {
    open: Arc<Semaphore>,
    idle: Arc<Pool>,
}

impl Default for AppConnections {
    fn default() -> Self {
        Self {
            open: Arc::new(Semaphore::new(PER_APP)),
            idle: Arc::default(),
        }
    }
}

impl std::fmt::Debug for AppConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConnections")
            .field("open", &(PER_APP - self.open.available_permits()))
            .finish()
    }
}

/// The places one open connection holds (idle or not); given back when it closes.
pub struct Held {
    _app: OwnedSemaphorePermit,
    _process: OwnedSemaphorePermit,
}

/// Waits up to `wait` for a place in `bound`; `ConnectionLimitReached` after that.
pub async fn place(
    bound: Arc<Semaphore>,
    wait: Duration,
) -> wasmtime_wasi_http::Result<OwnedSemaphorePermit> {
    match tokio::time::timeout(wait, bound.acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(wasmtime_wasi_http::Error::ConnectionLimitReached),
    }
}

impl AppConnections {
    /// Places for a new connection in the app's and the process's bounds, waiting up to `wait`
    /// for each to free up; `ConnectionLimitReached` after that.
    pub async fn open(&self, wait: Duration) -> wasmtime_wasi_http::Result<Held> {
        Ok(Held {
            _app: place(self.open.clone(), wait).await?,
            _process: place(process().clone(), wait).await?,
        })
    }

    /// An idle connection to `origin` that is still open, if the app has one.
    pub fn take_idle(&self, origin: &Origin) -> Option<SendRequest<WasiBody>> {
        let mut pool = self.idle.lock().ok()?;
        let idle = pool.get_mut(origin)?;
        while let Some((since, sender)) = idle.pop() {
            if since.elapsed() < IDLE_FOR && sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    fn put_idle(&self, origin: Origin, sender: SendRequest<WasiBody>) {
        let Ok(mut pool) = self.idle.lock() else {
            return;
        };
        pool.retain(|_, idle| {
            idle.retain(|(since, sender)| since.elapsed() < IDLE_FOR && !sender.is_closed());
            !idle.is_empty()
        });
        let idle = pool.entry(origin).or_default();
        if idle.len() < IDLE_PER_ORIGIN {
            idle.push((Instant::now(), sender));
        }
    }
}

/// A connection whose response is being read, and the pool it goes back to.
pub struct Idle {
    /// The connection.
    pub sender: SendRequest<WasiBody>,
    /// Where it goes.
    pub origin: Origin,
    /// The app's connections.
    pub pool: AppConnections,
}

impl Idle {
    /// Gives the connection back to the pool once it can take another request (the response
    /// was read to its end); one the server closes, or that is not ready within a second, is
    /// dropped, which closes it.
    pub fn give_back(self) {
        let Idle {
            mut sender,
            origin,
            pool,
        } = self;
        tokio::spawn(async move {
            let ready = tokio::time::timeout(Duration::from_secs(1), sender.ready()).await;
            if matches!(ready, Ok(Ok(()))) {
                pool.put_idle(origin, sender);
            }
        });
    }
}
