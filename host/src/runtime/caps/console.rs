//! Console: a guest's standard output and error go to Kiln's log, line by line, tagged with the
//! app and the request being served (or to the process's standard error for `kiln run`).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::WasiCtxBuilder;
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

/// The request an instance is serving, as its console lines are tagged with it.
#[derive(Clone, Default)]
pub struct RequestTag(Arc<Mutex<Option<Arc<str>>>>);

impl RequestTag {
    /// Tags the lines written from now on with `id`.
    pub fn set(&self, id: Option<Arc<str>>) {
        if let Ok(mut current) = self.0.lock() {
            *current = id;
        }
    }

    fn get(&self) -> Option<Arc<str>> {
        self.0.lock().ok().and_then(|current| current.clone())
    }
}

/// Connects the instance's standard output and error; their lines carry `tag`.
pub fn prepare(console: Console, app: &Arc<str>, tag: &RequestTag, wasi: &mut WasiCtxBuilder) {
    match console {
        Console::Log => {
            wasi.stdout(GuestLog {
                app: app.clone(),
                tag: tag.clone(),
                stream: "stdout",
            });
            wasi.stderr(GuestLog {
                app: app.clone(),
                tag: tag.clone(),
                stream: "stderr",
            });
        }
        Console::Stderr => {
            wasi.stdout(tokio::io::stderr());
            wasi.stderr(tokio::io::stderr());
        }
    }
}

/// Guest standard output or error, forwarded to Kiln's log with the app's name.
#[derive(Clone)]
struct GuestLog {
    app: Arc<str>,
    tag: RequestTag,
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
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end_matches(['\n', '\r']);
        let request = self.log.tag.get();
        let request = request.as_deref().unwrap_or("-");
        if self.log.stream == "stderr" {
            tracing::warn!(target: "kiln::guest", app = %self.log.app, request_id = request, "{text}");
        } else {
            tracing::info!(target: "kiln::guest", app = %self.log.app, request_id = request, "{text}");
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
