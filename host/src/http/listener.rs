//! One current-thread runtime per core, each accepting on its own `SO_REUSEPORT` listener of the
//! shared port and serving the one router: a connection's whole chain (parse, guest, write) stays
//! on one core. SIGTERM or SIGINT drains: in-flight requests and streams finish, new ones get 503.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, watch};
use tower::Service as _;

use super::request_log::ClientAddr;

/// How long a client may take to send a request's head, and how long an idle keep-alive
/// connection stays open.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound server, ready to run.
pub struct Server {
    listeners: Vec<std::net::TcpListener>,
    addr: SocketAddr,
    max_connections: usize,
}

impl Server {
    /// Binds `threads` listeners to `addr` (port 0 picks one port for all of them), serving at
    /// most `max_connections` connections at once.
    pub fn bind(addr: SocketAddr, threads: usize, max_connections: usize) -> anyhow::Result<Self> {
        let first = reuseport_listener(addr).with_context(|| format!("binding {addr}"))?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..threads.max(1) {
            listeners.push(reuseport_listener(addr).with_context(|| format!("binding {addr}"))?);
        }
        Ok(Self {
            listeners,
            addr,
            max_connections,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `router` until SIGTERM or SIGINT, then drains: connections accepted from then on
    /// are answered 503 with `Connection: close`, while requests and streams already in flight
    /// finish, for up to `drain_timeout`. A second signal stops at once.
    pub fn run(self, router: axum::Router, drain_timeout: Duration) -> anyhow::Result<()> {
        let connections = Arc::new(Semaphore::new(self.max_connections.max(1)));
        let (stop, stopping) = watch::channel(false);
        let in_flight = Arc::new(AtomicUsize::new(0));
        for (index, listener) in self.listeners.into_iter().enumerate() {
            let router = router.clone();
            let connections = connections.clone();
            let drain = Drain {
                stopping: stopping.clone(),
                in_flight: in_flight.clone(),
            };
            std::thread::Builder::new()
                .name(format!("kiln-http-{index}"))
                .spawn(move || {
                    let served = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(anyhow::Error::from)
                        .and_then(|runtime| {
                            runtime.block_on(accept_loop(listener, router, connections, drain))
                        });
                    if let Err(error) = served {
                        tracing::error!(error = format!("{error:#}"), "a serving thread stopped");
                        crate::logging::exit(1);
                    }
                })?;
        }
        let signals = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        signals.block_on(async {
            let signal = termination().await?;
            tracing::info!(
                signal,
                in_flight = in_flight.load(Ordering::Relaxed),
                drain_timeout_ms = drain_timeout.as_millis() as u64,
                "draining: new requests get 503, requests in flight finish"
            );
            let _ = stop.send(true);
            let deadline = tokio::time::Instant::now() + drain_timeout;
            let drained = async {
                while in_flight.load(Ordering::Relaxed) > 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            };
            tokio::select! {
                () = drained => tracing::info!("drained; exiting"),
                () = tokio::time::sleep_until(deadline) => tracing::warn!(
                    in_flight = in_flight.load(Ordering::Relaxed),
                    "drain timeout reached; exiting with requests still in flight"
                ),
                again = termination() => {
                    tracing::warn!(signal = again.unwrap_or("?"), "second signal: exiting now");
                }
            }
            anyhow::Ok(())
        })
    }
}

/// Waits for SIGTERM or SIGINT and names it.
async fn termination() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// What a serving thread needs to drain: whether the server is stopping, and a count of the
/// connections accepted before it was.
#[derive(Clone)]
struct Drain {
    stopping: watch::Receiver<bool>,
    in_flight: Arc<AtomicUsize>,
}

/// Counts a connection in flight for as long as it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn reuseport_listener(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

async fn accept_loop(
    listener: std::net::TcpListener,
    router: axum::Router,
    connections: Arc<Semaphore>,
    drain: Drain,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut failures = Failures::default();
    loop {
        // At the connection cap, new connections wait in the listen backlog.
        let permit = connections.clone().acquire_owned().await?;
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                failures.note(&error);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT);
        if *drain.stopping.borrow() {
            tokio::spawn(async move {
                let _ = http
                    .keep_alive(false)
                    .serve_connection(io, service_fn(draining))
                    .await;
                drop(permit);
            });
            continue;
        }
        let router = router.clone();
        let service = service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert(ClientAddr(peer));
            router.clone().call(request)
        });
        let mut stopping = drain.stopping.clone();
        let in_flight = InFlight::new(&drain.in_flight);
        tokio::spawn(async move {
            let connection = http.keep_alive(true).serve_connection(io, service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stopped(&mut stopping) => {
                    // Idle keep-alive connections close now; a request in flight finishes
                    // (its stream included) and its connection closes after it.
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(in_flight);
            drop(permit);
        });
    }
}

/// Failed `accept`s, logged at most once a second with the count of those not logged.
#[derive(Default)]
struct Failures {
    logged: Option<std::time::Instant>,
    unlogged: u64,
}

impl Failures {
    fn note(&mut self, error: &std::io::Error) {
        let due = self
            .logged
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
        if due {
            tracing::warn!(error = %error, also_failed = self.unlogged, "accept failed");
            self.logged = Some(std::time::Instant::now());
            self.unlogged = 0;
        } else {
            self.unlogged += 1;
        }
    }
}

/// Resolves once the server is stopping.
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    if stopping.wait_for(|stop| *stop).await.is_err() {
        // The sender is gone only when the process ends: never stop on that.
        std::future::pending::<()>().await;
    }
}

/// The answer to a connection accepted while the server drains.
async fn draining(
    _request: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
    let mut response = http::Response::new(Full::new(Bytes::from_static(
        b"{\"error\":\"ServiceUnavailable\",\"message\":\"the server is shutting down\"}",
    )));
    *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    Ok(response)
}
