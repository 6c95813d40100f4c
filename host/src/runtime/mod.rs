//! The wasmtime side of Kiln: one engine for the process, the per-instance sandbox and its
//! capabilities, deployed versions with their instance pools, and the registry that maps names to
//! the versions served.
//!
//! Nothing here knows about Kiln's HTTP API: calls fail with a [`RunError`], which the HTTP edge
//! maps to a status code.

pub mod app_log;
pub mod artifact;
pub mod bindings;
pub mod caps;
mod code;
mod code_cache;
mod deployment;
mod engine;
pub mod function;
pub mod pool;
pub mod registry;
mod sandbox;
mod service;

pub use code::{CachedCode, Code, Linked, SharedCode};
pub use deployment::{Deployment, JsSource, Parts, Reservation, RunSpec, Tier};
pub use engine::{EPOCH_TICK, EPOCH_TICK_IDLE, engine, linker};
pub use registry::{Access, Registry, Slot};
pub use sandbox::{Grants, Sandbox};

/// The body of a response a guest sends (or Kiln writes for it).
pub type Body = wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Why a call into a guest did not produce an answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The deployment is of the other kind (a function called over HTTP, or the reverse).
    #[error("'{name}' {what}")]
    WrongKind {
        /// The app.
        name: String,
        /// What it is not.
        what: &'static str,
    },
    /// A function has no such method.
    #[error(
        "function '{name}' has no {}; its methods: {known}",
        if method == "default" { "default export".to_string() } else { format!("method '{method}'") }
    )]
    NoSuchMethod {
        /// The function.
        name: String,
        /// The method asked for.
        method: String,
        /// The methods it has, comma-separated.
        known: String,
    },
    /// The app is at its concurrency limit.
    #[error("'{name}' is at its concurrency limit; retry shortly")]
    Busy {
        /// The app.
        name: String,
    },
    /// The pooling allocator has no free slot.
    #[error("no instance is free for '{name}': the server is at its instance limit; retry shortly")]
    NoInstance {
        /// The app.
        name: String,
    },
    /// The guest grew its memory past its limit.
    #[error("'{name}' ran out of memory (limit {limit_mib} MiB)")]
    OutOfMemory {
        /// The app.
        name: String,
        /// The limit.
        limit_mib: usize,
    },
    /// The guest did not finish within its deadline.
    #[error("'{name}' did not answer within its {timeout_ms} ms deadline")]
    Timeout {
        /// The app.
        name: String,
        /// The deadline.
        timeout_ms: u128,
    },
    /// The guest trapped.
    #[error("'{name}' trapped: {message}")]
    Trap {
        /// The app.
        name: String,
        /// What wasmtime said.
        message: String,
    },
    /// The handler returned without setting a response.
    #[error("'{name}' returned without sending a response")]
    NoResponse {
        /// The app.
        name: String,
    },
    /// The guest answered with a wasi-http error code instead of a response.
    #[error("'{name}' answered with an error: {code}")]
    ErrorCode {
        /// The app.
        name: String,
        /// The code, as text.
        code: String,
    },
    /// A function threw.
    #[error("{message}")]
    Thrown {
        /// `Name: message`.
        message: String,
        /// The JS stack, if any.
        stack: Option<String>,
    },
    /// The request's body could not be read.
    #[error("reading the request body failed: {0}")]
    Body(String),
    /// The name is still being deployed past the request's wait.
    #[error("'{name}' is still being deployed (compiling); retry shortly")]
    StillDeploying {
        /// The app.
        name: String,
    },
    /// A failure inside Kiln.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl RunError {
    /// Whether the guest itself failed (trap, no response, error code), as opposed to a limit
    /// or Kiln: such failures on a reused instance are replayed on a fresh one.
    pub fn is_guest_failure(&self) -> bool {
        matches!(
            self,
            RunError::Trap { .. } | RunError::NoResponse { .. } | RunError::ErrorCode { .. }
        )
    }
}
