//! One current-thread runtime per core, each accepting on its own `SO_REUSEPORT` listener of the
//! shared port and serving the one router: a connection's whole chain (parse, guest, write) stays
//! on one core.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;

/// A bound server, ready to run.
pub struct Server {
    listeners: Vec<std::net::TcpListener>,
    addr: SocketAddr,
}

impl Server {
    /// Binds `threads` listeners to `addr` (port 0 picks one port for all of them).
    pub fn bind(addr: SocketAddr, threads: usize) -> anyhow::Result<Self> {
        let first = reuseport_listener(addr).with_context(|| format!("binding {addr}"))?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..threads.max(1) {
            listeners.push(reuseport_listener(addr).with_context(|| format!("binding {addr}"))?);
        }
        Ok(Self { listeners, addr })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `router` until the process ends: one thread and runtime per listener.
    pub fn run(self, router: axum::Router) -> anyhow::Result<()> {
        let mut threads = Vec::new();
        for (index, listener) in self.listeners.into_iter().enumerate() {
            let router = router.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("kiln-http-{index}"))
                    .spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()?;
                        runtime.block_on(accept_loop(listener, router))
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

async fn accept_loop(listener: std::net::TcpListener, router: axum::Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
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
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
