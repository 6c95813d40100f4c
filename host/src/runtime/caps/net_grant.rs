//! One `net` grant, parsed once at deploy: `api.example.com` (any port), `api.example.com:8443`,
//! `*.example.com` (subdomains only), or an IP literal (`10.0.0.5`, `::1`: any port;
//! `10.0.0.5:8080`, `[::1]:80`). Only an IP literal grants an internal address
//! ([`super::outbound_http::is_internal`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// What a grant names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    /// One host name, lower case.
    Name(String),
    /// The subdomains of a domain (`*.example.com`), lower case.
    Subdomains(String),
    /// An IP address.
    Ip(IpAddr),
}

/// A parsed `net` grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetGrant {
    host: Host,
    /// The one port granted; any when absent.
    port: Option<u16>,
}

impl FromStr for NetGrant {
    /// Why the entry is refused.
    type Err = &'static str;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            return Err("an entry must name a host");
        }
        if let Ok(ip) = entry.parse::<IpAddr>() {
            return Ok(Self {
                host: Host::Ip(ip),
                port: None,
            });
        }
        if entry.contains('/') {
            return Err(
                "a net entry is a host (api.example.com, *.example.com, host:port or an IP), not a URL",
            );
        }
        let (host, port) = match entry.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') || host.ends_with(']') => (host, Some(port)),
            _ => (entry.as_str(), None),
        };
        let port = match port {
            Some(port) => match port.parse::<u16>() {
                Ok(p) if p != 0 => Some(p),
                _ => return Err("the port must be a number from 1 to 65535"),
            },
            None => None,
        };
        if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let ip = v6
                .parse::<std::net::Ipv6Addr>()
                .map_err(|_| "not an IPv6 address")?;
            return Ok(Self {
                host: Host::Ip(IpAddr::V6(ip)),
                port,
            });
        }
        if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
            return Ok(Self {
                host: Host::Ip(IpAddr::V4(ip)),
                port,
            });
        }
        let (name, subdomains) = match host.strip_prefix("*.") {
            Some(domain) => (domain, true),
            None => (host, false),
        };
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err("expected a host name, *.domain, host:port or an IP address");
        }
        let name = name.to_string();
        Ok(Self {
            host: if subdomains {
                Host::Subdomains(name)
            } else {
                Host::Name(name)
            },
            port,
        })
    }
}

impl fmt::Display for NetGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.port) {
            (Host::Name(name), None) => write!(f, "{name}"),
            (Host::Subdomains(domain), None) => write!(f, "*.{domain}"),
            (Host::Ip(ip), None) => write!(f, "{ip}"),
            (Host::Name(name), Some(port)) => write!(f, "{name}:{port}"),
            (Host::Subdomains(domain), Some(port)) => write!(f, "*.{domain}:{port}"),
            (Host::Ip(ip), Some(port)) => write!(f, "{}", SocketAddr::new(*ip, port)),
        }
    }
}

impl NetGrant {
    /// Whether a request to `host` (a name or an IP, lower case, without brackets) on `port` is
    /// granted.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host_matches = match &self.host {
            Host::Name(name) => host == name,
            Host::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
            Host::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
        };
        host_matches && self.port.is_none_or(|p| p == port)
    }

    /// Whether the grant names `address` literally (its IP, and its port if the grant has one):
    /// only then may an internal address be reached.
    pub fn names_address(&self, address: SocketAddr) -> bool {
        matches!(self.host, Host::Ip(ip) if ip == address.ip())
            && self.port.is_none_or(|p| p == address.port())
    }
}

#[cfg(test)]
mod tests {
    use super::NetGrant;

    fn grant(text: &str) -> NetGrant {
        text.parse().unwrap_or_else(|why| panic!("{text}: {why}"))
    }

    #[test]
    fn grants_parse_print_and_refuse_what_is_not_a_host() {
        for (text, shown) in [
            ("api.example.com", "api.example.com"),
            (" API.Example.com ", "api.example.com"),
            ("*.example.com", "*.example.com"),
            ("example.com:8443", "example.com:8443"),
            ("10.0.0.1", "10.0.0.1"),
            ("10.0.0.1:8080", "10.0.0.1:8080"),
            ("::1", "::1"),
            ("[::1]:80", "[::1]:80"),
            ("localhost", "localhost"),
        ] {
            assert_eq!(grant(text).to_string(), shown);
        }
        for bad in [
            "",
            " ",
            "*",
            "*.",
            "http://x.com",
            "a..b",
            "x.com:0",
            "x.com:99999",
            "-a.com",
            "a b",
            "[zz]:1",
        ] {
            assert!(bad.parse::<NetGrant>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn grants_match_hosts_ports_and_subdomains() {
        assert!(grant("api.example.com").allows("api.example.com", 443));
        assert!(grant("API.example.com").allows("api.example.com", 80));
        assert!(!grant("api.example.com").allows("evil.com", 443));
        assert!(!grant("api.example.com").allows("api.example.com.evil.com", 443));
        assert!(grant("127.0.0.1:8080").allows("127.0.0.1", 8080));
        assert!(!grant("127.0.0.1:8080").allows("127.0.0.1", 8081));
        assert!(grant("*.example.com").allows("a.b.example.com", 443));
        assert!(!grant("*.example.com").allows("example.com", 443));
        assert!(!grant("*.example.com").allows("badexample.com", 443));
        assert!(grant("[::1]:80").allows("::1", 80));
        assert!(!grant("localhost").allows("127.0.0.1", 80));
    }

    #[test]
    fn only_ip_literals_name_an_address() {
        let at = |text: &str| -> std::net::SocketAddr { text.parse().expect("an address") };
        assert!(grant("127.0.0.1").names_address(at("127.0.0.1:9")));
        assert!(grant("127.0.0.1:8080").names_address(at("127.0.0.1:8080")));
        assert!(!grant("127.0.0.1:8080").names_address(at("127.0.0.1:8081")));
        assert!(!grant("localhost").names_address(at("127.0.0.1:80")));
        assert!(!grant("*.example.com").names_address(at("127.0.0.1:80")));
        assert!(grant("[::1]:80").names_address(at("[::1]:80")));
        assert!(!grant("[::1]:80").names_address(at("[::1]:81")));
        assert!(grant("::1").names_address(at("[::1]:81")));
    }
}
