//! The command line: `kiln serve`, `kiln compile`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::compile::{AppKind, CompileError, Compiler};
use crate::config::{Config, Isolation, Limits};
use crate::deploy::Deployer;
use crate::logging::LogFormat;
use crate::platform::Platform;
use crate::registry::Registry;
use crate::registry::{Deployment, RunSpec, Tier};
use crate::runtime;
use crate::server::{PlatformRoutes, Routes, Server};
use crate::store::Store;

/// Kiln: serverless JavaScript and WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(
        long,
        env = "KILN_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// The chosen log format.
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve apps over HTTP.
    Serve(ServeArgs),
    /// Print an admin token (JWT, HS256) signed with the configured secret.
    Token {
        /// Subject of the token.
        #[arg(long, default_value = "admin")]
        sub: String,
        /// Lifetime: seconds, or with a unit (`30m`, `12h`, `7d`).
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Data directory whose secret signs the token (unless `KILN_JWT_SECRET` is set).
        #[arg(long, env = "KILN_DATA_DIR", default_value = "./kiln-data")]
        data_dir: PathBuf,
    },
    /// Run a function once, locally: each yield as a JSON line on stdout as it comes, then the
    /// return value as JSON; `console.*` goes to stderr; a throw exits non-zero.
    Run {
        /// The function's source (an ES module whose default export is a function or generator).
        file: PathBuf,
        /// The input, as JSON.
        #[arg(long, default_value = "{}")]
        input: String,
        /// Deadline, in milliseconds.
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: u64,
        /// Data directory whose cache speeds up repeated runs [default: the user's cache
        /// directory, `$XDG_CACHE_HOME/kiln` or `~/.cache/kiln`].
        #[arg(long, env = "KILN_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Compile a JavaScript app into a standalone wasi-http component.
    Compile {
        /// The app's source (an ES module).
        file: PathBuf,
        /// Where to write the component.
        #[arg(short, long)]
        output: PathBuf,
        /// Data directory whose cache speeds up repeated compiles [default: the user's cache
        /// directory, `$XDG_CACHE_HOME/kiln` or `~/.cache/kiln`].
        #[arg(long, env = "KILN_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port) [default: 127.0.0.1 and config `main_port`, 8000].
    #[arg(long, env = "KILN_LISTEN")]
    listen: Option<SocketAddr>,
    /// Data directory (database, caches).
    #[arg(long, env = "KILN_DATA_DIR", default_value = "./kiln-data")]
    data_dir: PathBuf,
    /// Serve one app at `/`: `DIR/index.js` or `DIR/app.wasm` (any wasi-http component).
    #[arg(long)]
    app: Option<PathBuf>,
    /// Instance isolation for the app.
    #[arg(long, value_enum, default_value = "reuse")]
    isolation: Isolation,
    /// Deadline of one request, in milliseconds.
    #[arg(long, env = "KILN_TIMEOUT_MS", default_value_t = 30_000)]
    timeout_ms: u64,
    /// Memory limit of one instance, in MiB.
    #[arg(long, env = "KILN_MEMORY_MB", default_value_t = 128)]
    memory_mb: usize,
    /// Requests an instance serves before it is retired (reuse mode).
    #[arg(long, default_value_t = 10_000)]
    max_requests_per_instance: u32,
    /// Serving threads (default: one per core).
    #[arg(long, env = "KILN_THREADS")]
    threads: Option<usize>,
}

/// Runs the command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Token { sub, ttl, data_dir } => token(&sub, &ttl, &absolute(&data_dir)?),
        Command::Compile {
            file,
            output,
            data_dir,
        } => compile(&file, &output, &cache_home(data_dir)?),
        Command::Run {
            file,
            input,
            timeout_ms,
            data_dir,
        } => run_function(&file, &input, timeout_ms, &cache_home(data_dir)?),
    }
}

/// `dir` made absolute against the working directory (it need not exist).
fn absolute(dir: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))
}

/// `dir` made absolute and created: every path Kiln derives from it is then absolute, whatever
/// the working directory.
fn prepare_data_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = absolute(dir)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.canonicalize().unwrap_or(dir))
}

/// Where `kiln compile` and `kiln run` keep their caches: the given data dir, else the user's
/// cache directory (`$XDG_CACHE_HOME/kiln`, `~/.cache/kiln`), else the system's temp dir.
fn cache_home(data_dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = data_dir.unwrap_or_else(|| {
        let from_env = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        from_env("XDG_CACHE_HOME")
            .or_else(|| from_env("HOME").map(|home| home.join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("kiln")
    });
    prepare_data_dir(&dir)
}

fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future))
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let config = Config {
        listen: args
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8000))),
        data_dir: prepare_data_dir(&args.data_dir)?,
        threads,
        isolation: args.isolation,
        limits: Limits {
            memory_bytes: args.memory_mb << 20,
            timeout: Duration::from_millis(args.timeout_ms),
            max_requests_per_instance: args.max_requests_per_instance,
            ..Limits::default()
        },
        max_instances: 1000,
    };
    let engine = runtime::engine(&config)?;
    let linker = runtime::linker(&engine)?;
    let Some(dir) = &args.app else {
        return serve_platform(config, engine, linker, args.listen.is_some());
    };
    let app = AppDir::open(dir)?;
    let compiler = Arc::new(Compiler::new(engine, linker, &config.cache_dir()));
    let registry = Arc::new(Registry::new());
    let deployer = Arc::new(Deployer::new(compiler, registry.clone()));

    let server = Server::bind(config.listen, config.threads)?;
    let addr = server.local_addr();
    tracing::info!(%addr, threads = config.threads, data_dir = %config.data_dir.display(), "listening");
    println!("kiln listening on http://{addr}");

    // Compile after listening: `/health` answers at once, requests to the app wait for it.
    let name = app.name.clone();
    registry.mark_pending(&name);
    std::thread::Builder::new()
        .name("kiln-deploy".into())
        .spawn(move || {
            let started = Instant::now();
            tracing::info!(app = %app.name, entry = %app.entry.display(), "deploying");
            match block_on(app.deploy(&deployer, &config)) {
                Ok(Ok(Ok(()))) => {
                    tracing::info!(app = %app.name, elapsed_ms = started.elapsed().as_millis() as u64, "app ready");
                    app.watch(deployer, config);
                }
                Ok(Ok(Err(error))) => {
                    tracing::error!(app = %app.name, "{}: {error}", app.entry.display());
                    eprintln!("error: {}: {error}", app.entry.display());
                    std::process::exit(1);
                }
                Ok(Err(error)) | Err(error) => {
                    eprintln!("error: {error:#}");
                    std::process::exit(1);
                }
            }
        })?;
    server.run(Arc::new(Routes {
        registry,
        root_app: Some(name),
        platform: None,
    }))?;
    Ok(ExitCode::SUCCESS)
}

/// Platform mode: the store, the admin API and every stored service.
fn serve_platform(
    mut config: Config,
    engine: wasmtime::Engine,
    linker: wasmtime::component::Linker<runtime::Sandbox>,
    listen_given: bool,
) -> anyhow::Result<ExitCode> {
    let control = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kiln-control")
        .enable_all()
        .build()?;
    let env_secret = std::env::var("KILN_JWT_SECRET")
        .ok()
        .filter(|s| !s.is_empty());
    let platform = control.block_on(async {
        let store = Store::open(&config.data_dir).await?;
        let compiler = Arc::new(Compiler::new(engine, linker, &config.cache_dir()));
        Platform::open(store, compiler, env_secret).await
    })?;
    if !listen_given {
        config.listen = SocketAddr::from(([127, 0, 0, 1], platform.settings().main_port));
    }
    let server = Server::bind(config.listen, config.threads)?;
    let addr = server.local_addr();
    tracing::info!(%addr, threads = config.threads, data_dir = %config.data_dir.display(), "listening");
    println!("kiln listening on http://{addr}");
    // Stored apps compile after the server listens; requests for one wait until it is ready.
    let restoring = platform.clone();
    std::thread::Builder::new()
        .name("kiln-restore".into())
        .spawn(move || block_on(restoring.restore_all()))?;
    let routes = Routes {
        registry: platform.registry.clone(),
        root_app: None,
        platform: Some(PlatformRoutes {
            router: crate::api::router(platform.clone()),
            platform,
            control: control.handle().clone(),
        }),
    };
    server.run(Arc::new(routes))?;
    drop(control);
    Ok(ExitCode::SUCCESS)
}

fn token(sub: &str, ttl: &str, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let ttl = crate::auth::parse_ttl(ttl)?;
    let secret = match std::env::var("KILN_JWT_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
    {
        Some(secret) => secret,
        None => {
            if !data_dir.join("kiln.db").exists() {
                anyhow::bail!(
                    "{} has no kiln.db: start `kiln serve` once, or set KILN_JWT_SECRET",
                    data_dir.display()
                );
            }
            block_on(async {
                let store = Store::open(data_dir).await?;
                let config = store.config().await.map_err(|e| anyhow::anyhow!("{e}"))?;
                config
                    .get("jwt_secret")
                    .cloned()
                    .context("no jwt_secret stored")
            })??
        }
    };
    println!("{}", crate::auth::mint(&secret, sub, ttl)?);
    Ok(ExitCode::SUCCESS)
}

/// An app folder served by `--app`.
struct AppDir {
    name: String,
    entry: PathBuf,
}

impl AppDir {
    fn open(dir: &Path) -> anyhow::Result<Self> {
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_lowercase()))
            .unwrap_or_else(|| "app".into());
        for candidate in ["index.js", "app.wasm"] {
            let entry = dir.join(candidate);
            if entry.is_file() {
                return Ok(Self { name, entry });
            }
        }
        anyhow::bail!("{} has neither index.js nor app.wasm", dir.display())
    }

    async fn deploy(
        &self,
        deployer: &Deployer,
        config: &Config,
    ) -> anyhow::Result<Result<(), crate::error::ApiError>> {
        let bytes = runtime::read(&self.entry)?;
        let file = self
            .entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let result = if file.ends_with(".wasm") {
            deployer.deploy_component(&self.name, &bytes, config.isolation, config.limits)
        } else {
            let source = String::from_utf8(bytes)
                .with_context(|| format!("{} is not UTF-8", self.entry.display()))?;
            deployer
                .deploy_js(&self.name, &file, &source, config.isolation, config.limits)
                .await
        };
        Ok(result.map(|_| ()))
    }

    /// Redeploys when the entry file changes; a broken version is reported and the previous
    /// one keeps serving.
    fn watch(self, deployer: Arc<Deployer>, config: Config) {
        let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut last: Option<SystemTime> = modified(&self.entry);
        let _ = std::thread::Builder::new().name("kiln-watch".into()).spawn(move || loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = modified(&self.entry);
            if now.is_none() || now == last {
                continue;
            }
            last = now;
            match block_on(self.deploy(&deployer, &config)) {
                Ok(Ok(Ok(()))) => tracing::info!(app = %self.name, "redeployed after a change"),
                Ok(Ok(Err(error))) => tracing::error!(app = %self.name, error = %error, "the new version was rejected; the previous one keeps serving"),
                Ok(Err(error)) | Err(error) => tracing::error!(app = %self.name, error = format!("{error:#}"), "redeploy failed"),
            }
        });
    }
}

fn compile(file: &Path, output: &Path, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let source =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app.js".into());
    let config = Config {
        listen: "127.0.0.1:0".parse()?,
        data_dir: data_dir.to_path_buf(),
        threads: 1,
        isolation: Isolation::Request,
        limits: Limits::default(),
        max_instances: 8,
    };
    let engine = runtime::engine(&config)?;
    let linker = runtime::linker(&engine)?;
    let result = block_on(async {
        let compiler = Compiler::new(engine, linker, &config.cache_dir());
        compiler
            .snapshot(&name, &source, AppKind::Service)
            .await
            .map_err(anyhow::Error::from)
    })?;
    match result {
        Ok(component) => {
            std::fs::write(output, &component)
                .with_context(|| format!("writing {}", output.display()))?;
            eprintln!(
                "compiled {} -> {} ({} bytes) in {} ms",
                file.display(),
                output.display(),
                component.len(),
                started.elapsed().as_millis()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => match error.downcast::<CompileError>() {
            Ok(CompileError::Source { message, .. }) => {
                eprintln!("error: {}", source_location(file, &message));
                Ok(ExitCode::FAILURE)
            }
            Ok(other) => Err(other.into()),
            Err(error) => Err(error),
        },
    }
}

fn run_function(
    file: &Path,
    input: &str,
    timeout_ms: u64,
    data_dir: &Path,
) -> anyhow::Result<ExitCode> {
    use crate::invoke::{Pulled, Started};
    let source =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let input: serde_json::Value = serde_json::from_str(input).context("--input is not JSON")?;
    let file_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "function.js".into());
    let config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.to_path_buf(),
        threads: 1,
        isolation: Isolation::Request,
        limits: Limits {
            timeout: Duration::from_millis(timeout_ms),
            ..Limits::default()
        },
        max_instances: 8,
    };
    let engine = runtime::engine(&config)?;
    let linker = runtime::linker(&engine)?;
    block_on(async {
        let compiler = Compiler::new(engine, linker, &config.cache_dir());
        let bytecode = match compiler
            .bytecode(&file_name, &source, AppKind::Function)
            .await
        {
            Ok(bytecode) => bytecode,
            Err(CompileError::Source { message, .. }) => {
                eprintln!("error: {}", source_location(file, &message));
                return Ok(ExitCode::FAILURE);
            }
            Err(CompileError::Other(error)) => return Err(error),
        };
        let spec = RunSpec {
            isolation: Isolation::Request,
            limits: config.limits,
            max_concurrency: 1,
            capabilities: Arc::new(runtime::Capabilities {
                console: runtime::Console::Stderr,
                ..Default::default()
            }),
        };
        let name = file
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".into());
        let base = match compiler.base().await {
            Ok(base) => base,
            Err(error) => return Err(anyhow::anyhow!("{error}")),
        };
        let deployment = Deployment::new(
            &name,
            base,
            compiler.linker(),
            Tier::Bytecode,
            "run",
            Some(bytes::Bytes::from(bytecode)),
            &spec,
            Arc::default(),
        )?;
        let report = |error: crate::error::ApiError| {
            eprintln!("error: {error}");
            if let Some(stack) = error.stack() {
                eprintln!("{}", stack.trim_end());
            }
            ExitCode::FAILURE
        };
        match crate::invoke::start(Arc::new(deployment), input.to_string()).await {
            Ok(Started::Value(json)) => println!("{}", json.as_deref().unwrap_or("null")),
            Ok(Started::Stream(mut steps)) => loop {
                match steps.next().await {
                    Ok(Pulled::Yielded(json)) => println!("{json}"),
                    Ok(Pulled::Done(json)) => {
                        println!("{}", json.as_deref().unwrap_or("null"));
                        break;
                    }
                    Err(error) => return Ok(report(error)),
                }
            },
            Err(error) => return Ok(report(error)),
        }
        Ok(ExitCode::SUCCESS)
    })?
}

/// `dir/file.js:3:7: message` from the guest's `file.js:3:7: message`.
fn source_location(file: &Path, message: &str) -> String {
    match file.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => format!("{}/{message}", dir.display()),
        None => message.to_string(),
    }
}
