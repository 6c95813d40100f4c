//! The command line: `kiln serve`, `kiln token`, `kiln run`, `kiln compile`, `kiln new`, and
//! `kiln login`/`deploy`/`apps`/`versions`/`rollback`/`delete` for a running server; one command per
//! module. Each builds its [`Config`](crate::config::Config) once and hands over to the library.

mod compile;
mod deploy;
mod logs;
mod new;
mod remote;
mod run;
mod serve;
mod token;
mod vars;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::logging::LogFormat;
use serve::ServeArgs;

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
    Serve(Box<ServeArgs>),
    /// Print a token (JWT, HS256) signed with the configured secret.
    Token {
        /// Subject of the token.
        #[arg(long, default_value = "admin")]
        sub: String,
        /// Lifetime: seconds, or with a unit (`30m`, `12h`, `7d`).
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// `admin` (the admin API and everything else) or `invoke` (only `jwt_check` services
        /// and functions).
        #[arg(long, value_enum, default_value = "admin")]
        scope: crate::auth::Scope,
        /// Data directory whose secret signs the token (unless `KILN_JWT_SECRET` is set).
        #[arg(long, env = "KILN_DATA_DIR", default_value = "./kiln-data")]
        data_dir: PathBuf,
        /// The PostgreSQL database whose secret signs the token, for a cluster (see `serve`).
        #[arg(long, env = "KILN_DATABASE_URL")]
        database: Option<String>,
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
    /// Write the JS engine pre-initialised without an app (`just guest` commits it beside the
    /// engine, so that a first start only has to compile it).
    #[command(hide = true)]
    Engine {
        /// Where to write it.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Save a running Kiln's URL and an admin token for `kiln deploy` and `kiln apps`.
    Login {
        /// The server's URL, e.g. `http://127.0.0.1:8000`.
        #[arg(long)]
        server: String,
        /// An admin token (`kiln token` on the server) [default: read from standard input].
        #[arg(long)]
        token: Option<String>,
    },
    /// Deploy a folder (`index.js`, `index.ts` or `app.wasm`, and its `kiln.json`) or one file
    /// to the server of `kiln login` (or `KILN_SERVER` and `KILN_TOKEN`).
    Deploy {
        /// The folder or file [default: the current folder].
        #[arg(default_value = ".")]
        path: PathBuf,
        /// The app's name [default: the folder's, or the file's without its extension].
        #[arg(long)]
        name: Option<String>,
        /// Deploy it as a function instead of a service.
        #[arg(long)]
        function: bool,
    },
    /// List the services and functions of the server of `kiln login`.
    Apps,
    /// List an app's stored versions.
    Versions {
        /// The app.
        name: String,
        /// It is a function.
        #[arg(long)]
        function: bool,
    },
    /// Serve an earlier version of an app again.
    Rollback {
        /// The app.
        name: String,
        /// The version (see `kiln versions`).
        version: i64,
        /// It is a function.
        #[arg(long)]
        function: bool,
    },
    /// Delete an app with its versions, key-value stores and runs.
    Delete {
        /// The app.
        name: String,
        /// It is a function.
        #[arg(long)]
        function: bool,
    },
    /// Show an app's recent log lines (its requests and its console output) on the server.
    Logs {
        /// The app.
        name: String,
        /// It is a function.
        #[arg(long)]
        function: bool,
        /// How many of the last lines to show (at most 1000).
        #[arg(short = 'n', long, default_value_t = 100)]
        lines: usize,
        /// Keep printing new lines as they come.
        #[arg(short, long)]
        follow: bool,
        /// Print each line as the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// An app's variables on the server: list, set, delete.
    #[command(subcommand)]
    Vars(vars::VarsCommand),
    /// An app's secrets on the server (`kiln secret put NAME KEY` reads the value from stdin).
    #[command(subcommand)]
    Secret(vars::SecretCommand),
    /// Write a new app folder from a template.
    New {
        /// The app's name (also the folder's, unless `--dir` says otherwise).
        name: String,
        /// What kind of app.
        #[arg(long, value_enum, default_value = "hello")]
        template: new::Template,
        /// The folder to write [default: `./NAME`].
        #[arg(long)]
        dir: Option<PathBuf>,
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

/// Runs the command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::serve(&args),
        Command::Token {
            sub,
            ttl,
            scope,
            data_dir,
            database,
        } => {
            let store = match database.filter(|url| !url.is_empty()) {
                Some(url) => token::TokenStore::Database(url),
                None => token::TokenStore::DataDir(absolute(&data_dir)?),
            };
            token::token(&sub, &ttl, scope, &store)
        }
        Command::Login { server, token } => deploy::login(&server, token),
        Command::Deploy {
            path,
            name,
            function,
        } => deploy::deploy(&path, name, function),
        Command::Apps => deploy::apps(),
        Command::Versions { name, function } => deploy::versions(&name, function),
        Command::Rollback {
            name,
            version,
            function,
        } => deploy::rollback(&name, version, function),
        Command::Delete { name, function } => deploy::delete(&name, function),
        Command::Vars(command) => vars::vars(command),
        Command::Secret(command) => vars::secret(command),
        Command::Logs {
            name,
            function,
            lines,
            follow,
            json,
        } => logs::logs(&name, function, lines, follow, json),
        Command::New {
            name,
            template,
            dir,
        } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            new::new(&name, template, &dir)
        }
        Command::Engine { output } => compile::engine_base(&output),
        Command::Compile {
            file,
            output,
            data_dir,
        } => compile::compile(&file, &output, cache_home(data_dir)?),
        Command::Run {
            file,
            input,
            timeout_ms,
            data_dir,
        } => run::run_function(&file, &input, timeout_ms, cache_home(data_dir)?),
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
        crate::config::user_cache_dir().unwrap_or_else(|| std::env::temp_dir().join("kiln"))
    });
    prepare_data_dir(&dir)
}

fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future))
}

fn env_secret() -> Option<String> {
    std::env::var("KILN_JWT_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
}

fn file_name(file: &Path, default: &str) -> String {
    file.file_name()
        .map_or_else(|| default.into(), |n| n.to_string_lossy().into_owned())
}

/// `dir/file.js:3:7: message` from the guest's `file.js:3:7: message`.
fn source_location(file: &Path, message: &str) -> String {
    match file.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => format!("{}/{message}", dir.display()),
        None => message.to_string(),
    }
}
