//! Configuration: one struct, from flags and environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How instances are used across requests.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// An instance serves up to `max_requests_per_instance` requests one after another.
    Reuse,
    /// A fresh instance for every request.
    Request,
}

impl Isolation {
    /// `reuse` or `request`.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Reuse => "reuse",
            Isolation::Request => "request",
        }
    }
}

/// Limits applied to every instance of a deployment.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Linear memory, in bytes, per instance.
    pub memory_bytes: usize,
    /// Wall-clock deadline for one request.
    pub timeout: Duration,
    /// Requests an instance serves before it is retired (`reuse` mode).
    pub max_requests_per_instance: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 128 << 20,
            timeout: Duration::from_secs(30),
            max_requests_per_instance: 10_000,
        }
    }
}

/// How apps move between tiers and out of memory, so that a node's cost follows the apps in use
/// rather than the apps deployed.
#[derive(Debug, Clone, Copy)]
pub struct Tiering {
    /// Instances created per second, averaged over [`Tiering::WINDOW`], that promote a JavaScript app from
    /// the shared engine (bytecode) to its own snapshot; 0 builds every snapshot at deploy.
    pub promote_rps: u32,
    /// Idle instances of an app, and its own code, are dropped after this long unused (mapped
    /// again from the on-disk cache on the next request).
    pub idle_timeout: Duration,
    /// A snapshot unused this long goes back to bytecode; its artifact is then collected.
    pub demote_after: Duration,
    /// Bytes of linear memory that idle instances may hold across every app; past it the
    /// coldest apps' instances are dropped first (see `runtime::pool`).
    pub idle_memory_bytes: usize,
    /// Idle instances kept across every app at most (`usize::MAX`: only the bytes bound).
    pub max_idle_instances: usize,
}

impl Tiering {
    /// The window over which request rates are measured.
    pub const WINDOW: Duration = Duration::from_secs(5);

    /// The idle memory budget sized from the machine: a thirty-second of its memory (or of the
    /// cgroup's limit, if lower), between 64 MiB and 1 GiB.
    pub fn machine_idle_memory() -> usize {
        let total = machine_memory().unwrap_or(4 << 30);
        (total / 32).clamp(64 << 20, 1 << 30)
    }
}

/// The memory this process may use: the machine's, or its cgroup's limit when lower.
fn machine_memory() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: usize = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let machine = kib * 1024;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok());
    Some(cgroup.map_or(machine, |limit| limit.min(machine)))
}

impl Default for Tiering {
    fn default() -> Self {
        Self {
            promote_rps: 10,
            idle_timeout: Duration::from_secs(30),
            demote_after: Duration::from_secs(300),
            idle_memory_bytes: Tiering::machine_idle_memory(),
            max_idle_instances: usize::MAX,
        }
    }
}

/// Everything a server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where the database and caches live.
    pub data_dir: PathBuf,
    /// A PostgreSQL database shared with other nodes, instead of `{data_dir}/kiln.db`.
    pub database_url: Option<String>,
    /// The address other nodes and load balancers reach this one at (default: the listen address).
    pub node_address: Option<String>,
    /// Number of serving threads (each with its own listener on the shared port).
    pub threads: usize,
    /// Default isolation for services.
    pub isolation: Isolation,
    /// Default limits.
    pub limits: Limits,
    /// Upper bound on instances alive at once (sizes the pooling allocator).
    pub max_instances: u32,
    /// The largest memory limit an app may ask for, in bytes (the pooling allocator's slot size).
    pub max_memory_bytes: usize,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Promotion, demotion and unloading.
    pub tiering: Tiering,
    /// The key apps' secrets are sealed with (none: secrets cannot be set or served).
    pub secrets: Option<crate::secrets::SecretKey>,
}

/// The largest request body a service or function receives with `--app` (platform mode: config
/// `max_request_mb`).
pub const APP_MAX_REQUEST_BYTES: usize = 10 << 20;

/// The deadline of a module's top-level code with `--app`, `kiln run` and `kiln compile`
/// (platform mode: config `compile_timeout_ms`).
pub const COMPILE_TIMEOUT: Duration = Duration::from_secs(10);

impl Config {
    /// The configuration of a one-shot command (`kiln compile`, `kiln run`): one thread, fresh
    /// instances, the given data dir and deadline.
    pub fn one_shot(data_dir: PathBuf, timeout: Duration) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            database_url: None,
            node_address: None,
            threads: 1,
            isolation: Isolation::Request,
            limits: Limits {
                timeout,
                ..Limits::default()
            },
            max_instances: 8,
            max_memory_bytes: 512 << 20,
            max_connections: 64,
            tiering: Tiering::default(),
            secrets: None,
        }
    }

    /// The directory of compiled artifacts.
    pub fn cache_dir(&self) -> PathBuf {
        self.data_dir.join("cache")
    }
}

/// Parses a duration: seconds (`30`) or with units (`500ms`, `90s`, `2m`, `12h`, `7d`,
/// `1h 30m`). Used by every flag that takes one.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    match text.parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => {
            humantime::parse_duration(text).map_err(|e| format!("invalid duration '{text}': {e}"))
        }
    }
}

/// The user's cache directory for Kiln: `$XDG_CACHE_HOME/kiln`, else `~/.cache/kiln`.
pub fn user_cache_dir() -> Option<PathBuf> {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    from_env("XDG_CACHE_HOME")
        .or_else(|| from_env("HOME").map(|home| home.join(".cache")))
        .map(|dir| dir.join("kiln"))
}
