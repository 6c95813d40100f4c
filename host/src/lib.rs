//! Kiln: a serverless platform that serves JavaScript apps and WebAssembly components from
//! sandboxed wasmtime instances.
//!
//! The layers, top to bottom (each uses only those below it):
//! - [`cli`] parses the command line; [`app`] wires a server together; [`http`] is the one
//!   router and the only place that knows status codes.
//! - [`apps`] is the control plane (services and functions alike, stored through [`store`],
//!   configured by [`settings`]); [`cluster`] keeps the nodes sharing one PostgreSQL store in
//!   step; [`deploy`] turns uploads into deployments; [`watch`] deploys app folders
//!   ([`app_dir`]) as they change.
//! - [`compile`] turns JavaScript into bytecode and per-app snapshots; [`runtime`] holds the
//!   wasmtime engine, the sandbox and its capabilities, the instances and the registry.

pub mod app;
pub mod app_dir;
pub mod apps;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod compile;
pub mod config;
pub mod deploy;
pub mod fds;
pub mod fsutil;
pub mod http;
pub mod kind;
pub mod logging;
pub mod metrics;
pub mod runtime;
pub mod schedules;
pub mod secrets;
pub mod settings;
pub mod store;
pub mod watch;
