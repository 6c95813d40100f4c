//! One current-thread runtime per core, each accepting on its own `SO_REUSEPORT` listener of the
//! shared port and serving the one router: a connection's whole chain (parse, guest, write) stays
//! on one core.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use std::sync::Arc;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;

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

    /// Serves `router` until the process ends: one thread and runtime per listener.
    pub fn run(self, router: axum::Router) -> anyhow::Result<()> {
        let connections = Arc::new(Semaphore::new(self.max_connections.max(1)));
        let mut threads = Vec::new();
        for (index, listener) in self.listeners.into_iter().enumerate() {
            let router = router.clone();
            let connections = connections.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("kiln-http-{index}"))
                    .spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()?;
                        runtime.block_on(accept_loop(listener, router, connections))
                    })?,
            );
        }
        for thread in threads {
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("a serving thread panicked"))??;
        }
        Ok(())
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
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        // At the connection cap, new connections wait in the listen backlog.
        let permit = connections.clone().acquire_owned().await?;
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(error = %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}
