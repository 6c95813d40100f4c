//! Outgoing HTTP: only hosts on the `net` allow-list are reached; anything else is refused with
//! `HttpRequestDenied` before a connection is made (the guest sees an error it can catch).

use std::future::Future;
use std::sync::Arc;

use wasmtime_wasi_http::WasiHttpHooks;

/// The allow-list of one instance.
pub struct NetworkPolicy {
    allow: Arc<[String]>,
}

impl NetworkPolicy {
    /// A policy allowing the given grants.
    pub fn new(allow: Arc<[String]>) -> Self {
        Self { allow }
    }
}

/// Whether `host` (and `port`) match one `net` grant: `api.example.com` (any port),
/// `api.example.com:8443`, or `*.example.com` (subdomains only).
pub fn net_allows(grant: &str, host: &str, port: u16) -> bool {
    let grant = grant.trim().to_ascii_lowercase();
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let (pattern, wanted_port) = match grant.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() && !h.ends_with(':') => {
            (h.to_string(), p.parse::<u16>().ok())
        }
        _ => (grant.clone(), None),
    };
    let pattern = pattern.trim_start_matches('[').trim_end_matches(']');
    let host_matches = match pattern.strip_prefix("*.") {
        Some(domain) => host.ends_with(&format!(".{domain}")),
        None => host == pattern,
    };
    host_matches && wanted_port.is_none_or(|p| p == port)
}

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
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        if !self
            .allow
            .iter()
            .any(|grant| net_allows(grant, &host, port))
        {
            tracing::warn!(uri = %uri, "outgoing request denied: no network grant for this host");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::net_allows;

    #[test]
    fn net_grants_match_hosts_ports_and_subdomains() {
        assert!(net_allows("api.example.com", "api.example.com", 443));
        assert!(net_allows("API.example.com", "api.EXAMPLE.com", 80));
        assert!(!net_allows("api.example.com", "evil.com", 443));
        assert!(!net_allows(
            "api.example.com",
            "api.example.com.evil.com",
            443
        ));
        assert!(net_allows("127.0.0.1:8080", "127.0.0.1", 8080));
        assert!(!net_allows("127.0.0.1:8080", "127.0.0.1", 8081));
        assert!(net_allows("*.example.com", "a.b.example.com", 443));
        assert!(!net_allows("*.example.com", "example.com", 443));
        assert!(!net_allows("*.example.com", "badexample.com", 443));
    }
}
