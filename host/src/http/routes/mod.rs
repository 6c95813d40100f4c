//! Thin handlers, one module per part of the API.

pub mod admin;
pub mod config;
pub mod dashboard;
pub mod docs;
pub mod frontend;
pub mod functions;
pub mod kv;
pub mod logs;
pub mod openapi;
pub mod public;
pub mod services;
pub mod stats;
pub mod vars;

use std::time::{Duration, Instant};

/// How long a request waits for an app that is still being deployed (compiling at start).
const DEPLOY_WAIT: Duration = Duration::from_secs(30);

/// The deadline for waiting on a pending app.
fn deploy_deadline() -> Instant {
    Instant::now() + DEPLOY_WAIT
}
