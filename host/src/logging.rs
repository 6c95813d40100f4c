//! Log output: human-readable text (default), JSON lines, or Apache's combined format for request
//! lines; filtered by `RUST_LOG`. Lines are written by a background thread, so that serving a
//! request never waits on a terminal or a pipe; [`flush`] writes what is queued before an exit.

use std::io::{IsTerminal as _, Write as _};
use std::sync::{Mutex, OnceLock};

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// The log line format (`KILN_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines on standard error, request lines included.
    Text,
    /// One JSON object per line on standard error, request lines included.
    Json,
    /// Request lines in Apache's combined format on standard output; the rest as text on
    /// standard error.
    Apache,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();
static ACCESS: OnceLock<NonBlocking> = OnceLock::new();
static EVENTS: OnceLock<NonBlocking> = OnceLock::new();
static COLOURED: OnceLock<bool> = OnceLock::new();
static WORKERS: Mutex<Vec<WorkerGuard>> = Mutex::new(Vec::new());

/// The format chosen at start ([`LogFormat::Text`] before [`init`]).
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or(LogFormat::Text)
}

/// Installs the global subscriber, writing to standard error.
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    // PostgreSQL's notices (e.g. "relation already exists, skipping" at each start) are noise.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive("sqlx::postgres::notice=warn".parse().expect("directive"));
    let ansi = std::io::stderr().is_terminal();
    let stderr = background(std::io::stderr());
    let _ = COLOURED.set(ansi);
    let _ = EVENTS.set(stderr.clone());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(stderr);
    let _ = match format {
        LogFormat::Text | LogFormat::Apache => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if format == LogFormat::Apache {
        let _ = ACCESS.set(background(std::io::stdout()));
    }
}

/// A writer whose lines a background thread writes to `out`; none is ever dropped (a full queue
/// makes the caller wait). The thread writes what is queued in one go, then flushes.
fn background<W: std::io::Write + Send + 'static>(out: W) -> NonBlocking {
    let out = std::io::BufWriter::with_capacity(64 << 10, out);
    let (writer, guard) = NonBlockingBuilder::default().lossy(false).finish(out);
    if let Ok(mut workers) = WORKERS.lock() {
        workers.push(guard);
    }
    writer
}

/// Whether standard error is a terminal, where the text format colours its levels.
pub fn coloured() -> bool {
    COLOURED.get().copied().unwrap_or(false)
}

/// Writes one line (with its newline) formatted outside the subscriber to standard error, in
/// order with the subscriber's own lines.
pub fn event(line: &str) {
    match EVENTS.get() {
        Some(writer) => {
            let _ = writer.clone().write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }
}

/// Writes one access-log line (with its newline) to standard output.
pub fn access(line: &str) {
    match ACCESS.get() {
        Some(writer) => {
            let _ = writer.clone().write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
    }
}

/// Writes every queued line and stops the writers: call it just before the process ends.
pub fn flush() {
    let workers = WORKERS
        .lock()
        .map(|mut workers| std::mem::take(&mut *workers))
        .unwrap_or_default();
    drop(workers);
}

/// Flushes the log, then ends the process with `code`.
pub fn exit(code: i32) -> ! {
    flush();
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}
