//! Capabilities: what an instance is granted. Each one is a small module with a "prepare for this
//! instance" step; nothing of the host is visible unless one of them opens it.

pub mod connections;
pub mod console;
pub mod env;
pub mod files;
pub mod limits;
pub mod outbound_http;

use std::path::PathBuf;
use std::sync::Arc;

pub use console::Console;

/// The WASI capabilities a deployment was granted.
#[derive(Debug)]
pub struct Capabilities {
    /// Variables (with the host's values at deploy time).
    pub env: Vec<(String, String)>,
    /// Directories preopened read-only at the same path.
    pub read: Vec<PathBuf>,
    /// Directories preopened read-write at the same path.
    pub write: Vec<PathBuf>,
    /// Hosts outgoing HTTP may reach (`host`, `host:port`, `*.domain`).
    pub net: Arc<[String]>,
    /// Where `console.*` goes.
    pub console: Console,
    /// The outgoing connections all instances of the app hold open.
    pub connections: connections::AppConnections,
    /// The console output all instances of the app wrote in the last second.
    pub log_budget: Arc<console::AppLogBudget>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            env: Vec::new(),
            read: Vec::new(),
            write: Vec::new(),
            net: Arc::from(Vec::new()),
            console: Console::Log,
            connections: connections::AppConnections::default(),
            log_budget: Arc::default(),
        }
    }
}
