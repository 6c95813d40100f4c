//! Outgoing HTTP: only hosts on the `net` allow-list are reached; anything else is refused with
//! `HttpRequestDenied` before a connection is made (the guest sees an error it can catch). After
//! resolution, internal addresses (loopback, private, link-local, CGNAT, ...) are refused unless
//! a grant names that IP literally, and the connection goes to the address that was checked.
//! Connect, first-byte and between-bytes deadlines and a response-size cap bound every request;
//! connections are bounded and pooled per app (see [`super::connections`]).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime_wasi_http::WasiHttpHooks;

use super::connections::{self, AppConnections, Held, Idle, Origin, PER_INSTANCE};
use super::net_grant::NetGrant;
use super::{InstanceBuilder, Part};
use crate::metrics::Metrics;

/// The outgoing-HTTP part: the app's parsed `net` grants and the connections all its instances
/// hold open.
#[derive(Debug, Default)]
pub struct Net {
    allow: Arc<[NetGrant]>,
    connections: AppConnections,
}

impl Net {
    /// A part allowing `allow`, with a connection pool of its own.
    pub fn new(allow: Vec<NetGrant>) -> Self {
        Self {
            allow: allow.into(),
            connections: AppConnections::default(),
        }
    }
}

impl Part for Net {
    type Instance = NetworkPolicy;

    fn prepare(&self, instance: &mut InstanceBuilder<'_>) -> anyhow::Result<NetworkPolicy> {
        Ok(NetworkPolicy {
            metrics: instance.metrics.clone(),
            allow: self.allow.clone(),
            instance: Arc::new(Semaphore::new(PER_INSTANCE)),
            app: self.connections.clone(),
            kv: None,
            services: None,
        })
    }
}

/// The allow-list of one instance, and the connections it may hold open.
pub struct NetworkPolicy {
    metrics: Arc<Metrics>,
    allow: Arc<[NetGrant]>,
    instance: Arc<Semaphore>,
    app: AppConnections,
    kv: Option<super::kv::Kv>,
    services: Option<super::services::Calls>,
}

impl NetworkPolicy {
    /// Answers requests to `http://kv.kiln.internal/` from the app's granted stores.
    pub fn with_kv(mut self, kv: super::kv::Kv) -> Self {
        self.kv = Some(kv);
        self
    }

    /// Sends requests to `http://{name}.kiln.internal/` to the granted apps.
    pub fn with_services(mut self, services: Option<super::services::Calls>) -> Self {
        self.services = services;
        self
    }

    /// The instance starts serving the request of `inbound` (its calls to other apps go out
    /// as part of it).
    pub fn begin(&mut self, inbound: super::services::Inbound) {
        if let Some(services) = &mut self.services {
            services.begin(inbound);
        }
    }
}

/// How long connecting (DNS included) may take unless the guest asks for less.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the first byte of the answer may take unless the guest asks for less.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the answer may pause between two chunks unless the guest asks for less.
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body a guest receives.
pub const RESPONSE_CAP: u64 = 32 << 20;

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
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host == super::kv::INTERNAL_HOST
            && let Some(kv) = &self.kv
        {
            return Box::new(super::kv::protocol::serve_guest(kv.clone(), request));
        }
        if let Some(services) = &self.services
            && let Some((kind, name)) = services.target(&host)
        {
            return services.call(kind, name, request);
        }
        let tls = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        if !self.allow.iter().any(|grant| grant.allows(&host, port)) {
            tracing::warn!(uri = %uri, "outgoing request denied: no network grant for this host");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let allow = self.allow.clone();
        let (instance, app) = (self.instance.clone(), self.app.clone());
        let metrics = self.metrics.clone();
        Box::new(async move {
            let target = Target { host, port, tls };
            send(
                request,
                options.unwrap_or_default(),
                target,
                &allow,
                instance,
                app,
                &metrics,
            )
            .await
        })
    }
}

/// Where a request goes.
struct Target {
    host: String,
    port: u16,
    tls: bool,
}

/// Whether `ip` is an address a guest may reach only when granted by that IP literally:
/// loopback, private, link-local (cloud metadata included), CGNAT, multicast, broadcast,
/// unspecified, and IPv6's equivalents (IPv4-mapped addresses are judged as IPv4).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
            }
        },
    }
}

/// The address to connect to: the target's, resolved, with internal addresses kept only when a
/// grant names them. The connection is made to exactly this address, so a name that resolves
/// (or re-resolves) elsewhere later changes nothing.
async fn address(target: &Target, allow: &[NetGrant]) -> wasmtime_wasi_http::Result<SocketAddr> {
    use wasmtime_wasi_http::Error;
    let addresses: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::lookup_host((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| Error::DnsTimeout)?
        .map_err(|e| Error::DnsError {
            rcode: Some(e.to_string()),
            info_code: None,
        })?
        .collect(),
    };
    let reachable = addresses
        .iter()
        .find(|a| !is_internal(a.ip()) || allow.iter().any(|g| g.names_address(**a)));
    match reachable {
        Some(address) => Ok(*address),
        None => {
            tracing::warn!(host = %target.host, ?addresses, "outgoing request denied: the host resolves only to internal addresses");
            Err(Error::DestinationIpProhibited)
        }
    }
}

/// Sends a request to the checked address, over an idle connection of the app's to the same
/// origin when there is one, else over a new one (counted against the instance's, the app's
/// and the process's bounds); with connect, first-byte and between-bytes deadlines and a cap on
/// the response body. A connection whose response was read to its end goes back to the pool.
async fn send(
    mut request: http::Request<wasmtime_wasi_http::WasiBody>,
    options: wasmtime_wasi_http::RequestOptions,
    target: Target,
    allow: &[NetGrant],
    instance: Arc<Semaphore>,
    app: AppConnections,
    metrics: &Metrics,
) -> wasmtime_wasi_http::Result<(
    http::Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
)> {
    use http_body_util::BodyExt;
    use wasmtime_wasi_http::Error;
    let connect_timeout = options
        .connect_timeout
        .unwrap_or(CONNECT_TIMEOUT)
        .min(CONNECT_TIMEOUT);
    let first_byte = options
        .first_byte_timeout
        .unwrap_or(FIRST_BYTE_TIMEOUT)
        .min(FIRST_BYTE_TIMEOUT);
    let between_bytes = options
        .between_bytes_timeout
        .unwrap_or(BETWEEN_BYTES_TIMEOUT)
        .min(BETWEEN_BYTES_TIMEOUT)
        .max(Duration::from_millis(1));
    let address = address(&target, allow).await?;
    let origin = Origin {
        address,
        tls: target.tls,
        host: target.host.clone(),
    };
    let refused = |_: &Error| metrics.outbound_refused();
    let in_flight = connections::place(instance, connect_timeout)
        .await
        .inspect_err(refused)?;
    let mut sender = match app.take_idle(&origin) {
        Some(sender) => {
            metrics.outbound_reused();
            sender
        }
        None => {
            let held = app.open(connect_timeout).await.inspect_err(refused)?;
            connect(&target, address, connect_timeout, held).await?
        }
    };
    // The request line carries only the path: the scheme and authority went into the connection.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = path.parse().map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = tokio::time::timeout(first_byte, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)?
        .map_err(Error::from)?;
    let response = response.map(|incoming| {
        CappedBody {
            incoming,
            received: 0,
            pause: Box::pin(tokio::time::sleep(between_bytes)),
            between_bytes,
            reuse: Some(Idle {
                sender,
                origin,
                pool: app,
            }),
            _in_flight: in_flight,
        }
        .boxed_unsync()
    });
    Ok((response, Box::new(async { Ok(()) })))
}

/// A new connection to `address`: TCP, TLS for `https`, then HTTP/1.1. Its driver runs in a
/// task of its own that holds the connection's places (`held`) until the connection closes.
async fn connect(
    target: &Target,
    address: SocketAddr,
    connect_timeout: Duration,
    held: Held,
) -> wasmtime_wasi_http::Result<hyper::client::conn::http1::SendRequest<wasmtime_wasi_http::WasiBody>>
{
    use wasmtime_wasi_http::Error;
    let stream = tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(address))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(Error::Connect)?;
    let stream: Box<dyn Stream> = if target.tls {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = match target.host.parse::<IpAddr>() {
            Ok(ip) => rustls::pki_types::ServerName::from(ip),
            Err(_) => rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|_| Error::HttpRequestUriInvalid)?,
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        Box::new(
            tokio::time::timeout(connect_timeout, connector.connect(name, stream))
                .await
                .map_err(|_| Error::ConnectionTimeout)?
                .map_err(Error::Tls)?,
        )
    } else {
        Box::new(stream)
    };
    let (sender, connection) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)?
    .map_err(Error::from)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(error = %error, "an outgoing connection ended with an error");
        }
        drop(held);
    });
    Ok(sender)
}

/// What a connection runs over: TCP, or TLS over TCP.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for T {}

/// A response body that fails past [`RESPONSE_CAP`] bytes or when it pauses too long.
struct CappedBody {
    incoming: hyper::body::Incoming,
    received: u64,
    pause: Pin<Box<tokio::time::Sleep>>,
    between_bytes: Duration,
    /// The connection, given back to the app's pool once the body has been read to its end.
    reuse: Option<Idle>,
    /// The request's place among its instance's requests in flight.
    _in_flight: tokio::sync::OwnedSemaphorePermit,
}

impl http_body::Body for CappedBody {
    type Data = bytes::Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use wasmtime_wasi_http::Error;
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                if let Some(idle) = self.reuse.take() {
                    idle.give_back();
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(Error::from(error)))),
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.received += data.len() as u64;
                    if self.received > RESPONSE_CAP {
                        return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(
                            RESPONSE_CAP,
                        )))));
                    }
                }
                if self.incoming.is_end_stream()
                    && let Some(idle) = self.reuse.take()
                {
                    idle.give_back();
                }
                let next = tokio::time::Instant::now() + self.between_bytes;
                self.pause.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match self.pause.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::is_internal;

    #[test]
    fn internal_addresses_are_recognised_and_granted_only_literally() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(
                is_internal(internal.parse().unwrap_or_else(|_| unreachable!())),
                "{internal}"
            );
        }
        for public in ["93.184.216.34", "1.1.1.1", "100.128.0.1", "2606:4700::1111"] {
            assert!(
                !is_internal(public.parse().unwrap_or_else(|_| unreachable!())),
                "{public}"
            );
        }
    }
}
