//! `kiln serve`: one app (`--app`) or the platform (the store, the admin API, stored apps and
//! watched folders), until SIGTERM or SIGINT and a drain.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::{absolute, block_on, env_secret, prepare_data_dir};
use crate::app::App;
use crate::app_dir::AppDir;
use crate::config::{Config, Isolation, Limits, Tiering};
use crate::http::Server;
use crate::kind::AppKind;
use crate::secrets::SecretKey;
use crate::watch::Watched;

#[derive(Debug, clap::Args)]
pub(super) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port) [default: 127.0.0.1 and config `main_port`, 8000].
    #[arg(long, env = "KILN_LISTEN")]
    listen: Option<SocketAddr>,
    /// Data directory (database, caches); made absolute at start.
    #[arg(long, env = "KILN_DATA_DIR", default_value = "./kiln-data")]
    data_dir: PathBuf,
    /// Store apps and config in this PostgreSQL database, shared with every node given the same
    /// URL (`postgres://user:password@host:5432/kiln`, TLS options as `?sslmode=...`), instead
    /// of `{data-dir}/kiln.db`.
    #[arg(long, env = "KILN_DATABASE_URL", conflicts_with = "app")]
    database: Option<String>,
    /// The address other nodes and load balancers reach this node at, as `/status` lists it
    /// [default: the listen address].
    #[arg(long, env = "KILN_NODE_ADDRESS")]
    node_address: Option<String>,
    /// Serve one app at `/`: `DIR/index.js` or `DIR/app.wasm` (any wasi-http component), with
    /// an optional `DIR/kiln.json`; redeployed when the folder changes.
    #[arg(long, conflicts_with = "watch")]
    app: Option<PathBuf>,
    /// Serve every subfolder of DIR holding an app as the service `/api/v2/{folder}/`, beside
    /// the platform's own; redeployed when it changes, undeployed when it goes.
    #[arg(long, env = "KILN_WATCH")]
    watch: Option<PathBuf>,
    /// Instance isolation for the app (platform mode: of services that name none).
    #[arg(long, value_enum, default_value = "reuse")]
    isolation: Isolation,
    /// Deadline of one request, in milliseconds (platform mode: of services that set none).
    #[arg(long, env = "KILN_TIMEOUT_MS", default_value_t = 30_000)]
    timeout_ms: u64,
    /// Memory limit of one instance, in MiB (platform mode: the default of config
    /// `default_memory_mb` while it is not set).
    #[arg(long, env = "KILN_MEMORY_MB", default_value_t = 128)]
    memory_mb: usize,
    /// The largest memory limit an app may ask for, in MiB (platform mode: `limits.memory_mb`).
    #[arg(long, env = "KILN_MAX_MEMORY_MB", default_value_t = 512)]
    max_memory_mb: usize,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, env = "KILN_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Requests an instance serves before it is retired (reuse mode; every app, stored ones
    /// included).
    #[arg(long, env = "KILN_MAX_REQUESTS_PER_INSTANCE", default_value_t = 10_000)]
    max_requests_per_instance: u32,
    /// Serving threads (default: one per core).
    #[arg(long, env = "KILN_THREADS")]
    threads: Option<usize>,
    /// Instances created per second (over 5 s) that give a JavaScript app its own snapshot; 0 builds
    /// every snapshot at deploy [default: 10; 0 with --app].
    #[arg(long, env = "KILN_PROMOTE_RPS")]
    promote_rps: Option<u32>,
    /// An app unused this long leaves memory (idle instances and its own code), in milliseconds.
    #[arg(long, env = "KILN_IDLE_TIMEOUT_MS", default_value_t = 30_000)]
    idle_timeout_ms: u64,
    /// A snapshot unused this long goes back to the shared engine, in milliseconds.
    #[arg(long, env = "KILN_DEMOTE_AFTER_MS", default_value_t = 300_000)]
    demote_after_ms: u64,
    /// Memory that idle instances may hold across every app, in MiB; past it the coldest apps'
    /// instances are dropped first [default: a thirty-second of the machine's memory, 64 to 1,024].
    #[arg(long, env = "KILN_IDLE_MEMORY_MB")]
    idle_memory_mb: Option<usize>,
    /// Idle instances kept across every app at most [default: only the memory bound].
    #[arg(long, env = "KILN_MAX_IDLE_INSTANCES")]
    max_idle_instances: Option<usize>,
    /// Instances alive at once across every app, busy or idle (sizes the pooling allocator's
    /// slots; past it new requests wait or fail).
    #[arg(long, env = "KILN_MAX_INSTANCES", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(4..=100_000))]
    max_instances: u32,
    /// On SIGTERM or SIGINT, how long requests and streams in flight may take to finish (new
    /// ones get 503 meanwhile): seconds, or with a unit (`500ms`, `2m`).
    #[arg(long, env = "KILN_DRAIN_TIMEOUT", default_value = "30s", value_parser = crate::config::parse_duration)]
    drain_timeout: Duration,
    /// The key apps' secrets are sealed with: a file of 64 hexadecimal digits (`openssl rand -hex
    /// 32`), the same on every node of a cluster; or its digits in `KILN_SECRETS_KEY` [default,
    /// one node: `{data-dir}/secrets.key`, made on first start; with --database: none, so
    /// secrets cannot be set].
    #[arg(long, env = "KILN_SECRETS_KEY_FILE", conflicts_with = "app")]
    secrets_key_file: Option<PathBuf>,
}

/// The clients served at once: `wanted`, or fewer when the descriptor limit `nofile` cannot hold
/// them beside the outgoing connections and the reserve (a refused `accept` would refuse every
/// tenant's clients).
fn connection_budget(wanted: usize, nofile: u64) -> usize {
    use crate::runtime::caps::connections::{FD_RESERVE, process_limit};
    let room = nofile.saturating_sub(FD_RESERVE + process_limit(nofile) as u64);
    let budget = wanted.min(room.max(16) as usize);
    if budget < wanted {
        tracing::warn!(
            wanted,
            budget,
            nofile,
            "--max-connections is more than the file descriptor limit holds; serving fewer at once"
        );
    }
    budget
}

impl ServeArgs {
    /// The secrets key: the file given, `KILN_SECRETS_KEY`, or on one node the data dir's own.
    fn secrets(&self, data_dir: &Path) -> anyhow::Result<Option<SecretKey>> {
        if let Some(file) = &self.secrets_key_file {
            return SecretKey::read(&absolute(file)?).map(Some);
        }
        if let Some(text) = std::env::var("KILN_SECRETS_KEY")
            .ok()
            .filter(|t| !t.is_empty())
        {
            return SecretKey::parse(&text)
                .context("KILN_SECRETS_KEY")
                .map(Some);
        }
        if self.app.is_some() || self.database.as_deref().is_some_and(|url| !url.is_empty()) {
            return Ok(None);
        }
        SecretKey::read_or_create(&data_dir.join(crate::secrets::KEY_FILE)).map(Some)
    }

    fn config(&self) -> anyhow::Result<Config> {
        let data_dir = prepare_data_dir(&self.data_dir)?;
        Ok(Config {
            secrets: self.secrets(&data_dir)?,
            listen: self
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8000))),
            data_dir,
            database_url: self.database.clone().filter(|url| !url.is_empty()),
            node_address: self.node_address.clone(),
            threads: self
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            isolation: self.isolation,
            limits: Limits {
                memory_bytes: self.memory_mb << 20,
                timeout: Duration::from_millis(self.timeout_ms),
                max_requests_per_instance: self.max_requests_per_instance,
            },
            max_instances: self.max_instances,
            max_memory_bytes: self.max_memory_mb.max(self.memory_mb) << 20,
            max_connections: connection_budget(self.max_connections.max(1), crate::fds::raise()),
            tiering: Tiering {
                promote_rps: self
                    .promote_rps
                    .unwrap_or(if self.app.is_some() { 0 } else { 10 }),
                idle_timeout: Duration::from_millis(self.idle_timeout_ms.max(1)),
                demote_after: Duration::from_millis(self.demote_after_ms.max(1)),
                idle_memory_bytes: self
                    .idle_memory_mb
                    .map_or_else(Tiering::machine_idle_memory, |mb| mb << 20),
                max_idle_instances: self.max_idle_instances.unwrap_or(usize::MAX),
            },
        })
    }
}

pub(super) fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    let _lock = lock_data_dir(&config.data_dir)?;
    match &args.app {
        Some(dir) => serve_app(config, dir, args.drain_timeout),
        None => serve_platform(
            config,
            args.listen.is_some(),
            args.watch.as_deref(),
            args.drain_timeout,
        ),
    }
}

/// Ends the process after a drain: background work (compiles, snapshots) is abandoned, which
/// is safe because every cache file is written under a temporary name and renamed when complete.
fn exit_drained() -> ! {
    crate::logging::exit(0)
}

/// Takes the data dir for this process: two servers on one data dir would collect each other's
/// artifacts and race on the database. The lock is released when the process ends, however it ends.
fn lock_data_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    use std::io::Write as _;
    let path = dir.join("kiln.lock");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            anyhow::bail!(
                "another kiln serve (pid {}) is using the data dir {}; give each server its own --data-dir",
                holder.trim(),
                dir.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    file.set_len(0)?;
    write!(file, "{}", std::process::id())?;
    Ok(file)
}

/// `--app DIR`: listens at once, then compiles the app; requests to it wait meanwhile. An app
/// that cannot be deployed ends the process with its error.
fn serve_app(config: Config, dir: &Path, drain_timeout: Duration) -> anyhow::Result<ExitCode> {
    let folder = AppDir::open(dir)?;
    let app = App::single(config.clone(), folder.name.clone())?;
    let server = Server::bind(config.listen, config.threads, config.max_connections)?;
    listening(&server, &config);
    app.registry.mark_pending(AppKind::Service, &folder.name);
    let deployer = app.deployer.clone();
    std::thread::Builder::new()
        .name("kiln-deploy".into())
        .spawn(move || {
            let started = Instant::now();
            tracing::info!(app = %folder.name, folder = %folder.dir.display(), "deploying");
            match block_on(folder.deploy(&deployer, &config, false)) {
                Ok(Ok(())) => {
                    tracing::info!(app = %folder.name, elapsed_ms = started.elapsed().as_millis() as u64, "app ready");
                    if let Err(error) = crate::watch::spawn(Watched::One(folder), deployer, config, None) {
                        tracing::error!(error = format!("{error:#}"), "the app folder is not watched");
                    }
                }
                Ok(Err(error)) | Err(error) => {
                    crate::logging::flush();
                    eprintln!("error: {error:#}");
                    crate::logging::exit(1);
                }
            }
        })?;
    app.start_tiering()?;
    server.run(crate::http::router(app), drain_timeout)?;
    exit_drained()
}

/// Platform mode: the store, the admin API and every stored app, compiled after listening.
fn serve_platform(
    mut config: Config,
    listen_given: bool,
    watch: Option<&Path>,
    drain_timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let control = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kiln-control")
        .enable_all()
        .build()?;
    let app = control.block_on(App::open_platform(
        config.clone(),
        env_secret(),
        Some(control.handle().clone()),
    ))?;
    if !listen_given && let Ok(platform) = app.platform() {
        config.listen = SocketAddr::from(([127, 0, 0, 1], platform.settings.get().main_port));
    }
    let server = Server::bind(config.listen, config.threads, config.max_connections)?;
    listening(&server, &config);
    // Stored apps compile after the server listens; requests for one wait until it is ready.
    if let Ok(platform) = app.platform() {
        if let Some(cluster) = &platform.cluster {
            // The node's database connections live on the control runtime.
            let address = config
                .node_address
                .clone()
                .unwrap_or_else(|| server.local_addr().to_string());
            control.spawn(cluster.clone().run(address));
        } else {
            let apps = platform.apps.clone();
            std::thread::Builder::new()
                .name("kiln-restore".into())
                .spawn(move || block_on(apps.restore_all()))?;
        }
        crate::schedules::start(&app, control.handle())?;
        if let Some(dir) = watch {
            let dir = absolute(dir)?;
            crate::watch::spawn(
                Watched::Every(dir),
                app.deployer.clone(),
                config.clone(),
                Some((platform.apps.clone(), control.handle().clone())),
            )?;
        }
    }
    app.start_tiering()?;
    server.run(crate::http::router(app), drain_timeout)?;
    exit_drained()
}

fn listening(server: &Server, config: &Config) {
    let addr = server.local_addr();
    tracing::info!(%addr, threads = config.threads, data_dir = %config.data_dir.display(), "listening");
    println!("kiln listening on http://{addr}");
}
