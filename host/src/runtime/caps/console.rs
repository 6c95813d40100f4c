//! Console: a guest's standard output and error go to Kiln's log, line by line, tagged with the
//! app and the request being served, and to the app's own log on the node
//! ([`crate::runtime::app_log`]); or to the process's standard error for `kiln run`.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use super::{InstanceBuilder, Part};
use crate::runtime::app_log::AppLog;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Where a guest's standard output and error go.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// Kiln's log, line by line, tagged with the app.
    #[default]
    Log,
    /// The process's standard error (`kiln run`, whose stdout carries results).
    Stderr,
}

tokio::task_local! {
    /// The id of the request the current task serves (set by the HTTP layer).
    pub static REQUEST_ID: Arc<str>;
}

/// The id of the request the current task serves, if any.
pub fn current_request() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

/// Console bytes one request may write to Kiln's log; past it, lines are dropped and counted.
pub const PER_REQUEST_BYTES: u64 = 256 << 10;
/// Console bytes all instances of one app may write per second.
pub const PER_APP_BYTES_PER_SECOND: u64 = 1 << 20;

/// The console output of all instances of one app, over the last second (one per deployment,
/// shared by its instances).
#[derive(Debug, Default)]
pub struct AppLogBudget(Mutex<Option<(std::time::Instant, u64)>>);

impl AppLogBudget {
    /// Takes `bytes` from this second's budget; false when they do not fit.
    fn take(&self, bytes: u64) -> bool {
        let Ok(mut window) = self.0.lock() else {
            return false;
        };
        let now = std::time::Instant::now();
        let (started, used) = window.get_or_insert((now, 0));
        if now.duration_since(*started) >= std::time::Duration::from_secs(1) {
            *started = now;
            *used = 0;
        }
        if *used + bytes > PER_APP_BYTES_PER_SECOND {
            return false;
        }
        *used += bytes;
        true
    }
}

/// What one instance's console has written for the request it serves.
struct Current {
    app: Arc<str>,
    metrics: Arc<crate::metrics::Metrics>,
    id: Option<Arc<str>>,
    written: u64,
    dropped: u64,
}

impl Current {
    /// Logs how much of this request's output was dropped, if any, and starts counting afresh.
    fn report_dropped(&mut self) {
        if self.dropped > 0 {
            let request = self.id.as_deref().unwrap_or("-");
            tracing::warn!(
                target: "kiln::guest",
                app = %self.app,
                request_id = request,
                dropped_bytes = self.dropped,
                "dropped {} bytes of console output over the log budget ({} KiB per request, {} KiB/s per app)",
                self.dropped,
                PER_REQUEST_BYTES >> 10,
                PER_APP_BYTES_PER_SECOND >> 10,
            );
        }
        self.written = 0;
        self.dropped = 0;
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        self.report_dropped();
    }
}

/// The request an instance is serving, as its console lines are tagged with it, and what its
/// console has written for it.
#[derive(Clone)]
pub struct RequestTag(Arc<Mutex<Current>>);

impl RequestTag {
    /// A tag for an instance of `app`, with no request yet.
    pub fn new(app: &Arc<str>, metrics: &Arc<crate::metrics::Metrics>) -> Self {
        Self(Arc::new(Mutex::new(Current {
            app: app.clone(),
            metrics: metrics.clone(),
            id: None,
            written: 0,
            dropped: 0,
        })))
    }

    /// Tags the lines written from now on with `id`; what the previous request had dropped is
    /// reported first.
    pub fn set(&self, id: Option<Arc<str>>) {
        if let Ok(mut current) = self.0.lock() {
            current.report_dropped();
            current.id = id;
        }
    }

    /// The current request's id, if `bytes` more fit its budget and the app's; otherwise the
    /// bytes are counted as dropped.
    fn admit(&self, bytes: u64, app: &AppLogBudget) -> Result<Option<Arc<str>>, ()> {
        let Ok(mut current) = self.0.lock() else {
            return Err(());
        };
        if current.written + bytes > PER_REQUEST_BYTES || !app.take(bytes) {
            current.dropped += bytes;
            current.metrics.guest_log_dropped(bytes);
            return Err(());
        }
        current.written += bytes;
        Ok(current.id.clone())
    }
}

/// The console part: where an app's output goes, and the log budget all its instances share.
#[derive(Debug, Default)]
pub struct ConsolePart {
    console: Console,
    budget: Arc<AppLogBudget>,
    log: Option<Arc<AppLog>>,
}

impl ConsolePart {
    /// Output going to `console`, with a fresh per-app budget.
    pub fn new(console: Console) -> Self {
        Self {
            console,
            budget: Arc::default(),
            log: None,
        }
    }

    /// Output going to Kiln's log and to the app's `log`.
    pub fn logged(log: Arc<AppLog>) -> Self {
        Self {
            log: Some(log),
            ..Self::new(Console::Log)
        }
    }

    /// The app's log on the node, if its output goes there.
    pub fn log(&self) -> Option<&Arc<AppLog>> {
        self.log.as_ref()
    }
}

impl Part for ConsolePart {
    type Instance = ();

    /// Connects the instance's standard output and error; their lines carry the request's tag,
    /// within the per-request and per-app log budgets.
    fn prepare(&self, instance: &mut InstanceBuilder<'_>) -> anyhow::Result<()> {
        match self.console {
            Console::Log => {
                for stream in ["stdout", "stderr"] {
                    let log = GuestLog {
                        app: instance.app.clone(),
                        tag: instance.request.clone(),
                        budget: self.budget.clone(),
                        log: self.log.clone(),
                        stream,
                    };
                    if stream == "stdout" {
                        instance.wasi.stdout(log);
                    } else {
                        instance.wasi.stderr(log);
                    }
                }
            }
            Console::Stderr => {
                instance.wasi.stdout(tokio::io::stderr());
                instance.wasi.stderr(tokio::io::stderr());
            }
        }
        Ok(())
    }
}

/// Guest standard output or error, forwarded to Kiln's log with the app's name.
#[derive(Clone)]
struct GuestLog {
    app: Arc<str>,
    tag: RequestTag,
    budget: Arc<AppLogBudget>,
    log: Option<Arc<AppLog>>,
    stream: &'static str,
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(GuestLogWriter {
            log: self.clone(),
            line: Vec::new(),
        })
    }
}

struct GuestLogWriter {
    log: GuestLog,
    line: Vec<u8>,
}

impl GuestLogWriter {
    fn emit(&mut self) {
        let admitted = self.log.tag.admit(self.line.len() as u64, &self.log.budget);
        if let Ok(request) = admitted {
            let text = String::from_utf8_lossy(&self.line);
            let text = text.trim_end_matches(['\n', '\r']);
            if let Some(log) = &self.log.log {
                log.push(self.log.stream, request.as_deref(), text);
            }
            let request = request.as_deref().unwrap_or("-");
            if self.log.stream == "stderr" {
                tracing::warn!(target: "kiln::guest", app = %self.log.app, request_id = request, "{text}");
            } else {
                tracing::info!(target: "kiln::guest", app = %self.log.app, request_id = request, "{text}");
            }
        }
        self.line.clear();
    }
}

impl tokio::io::AsyncWrite for GuestLogWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        for &byte in buf {
            self.line.push(byte);
            if byte == b'\n' || self.line.len() >= 16 * 1024 {
                self.emit();
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.line.is_empty() {
            self.emit();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for GuestLogWriter {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
    }
}
