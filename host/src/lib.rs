//! Kiln: a serverless platform that serves JavaScript apps and WebAssembly components from
//! sandboxed wasmtime instances.
//!
//! - [`compile`] turns JavaScript into something servable (QuickJS bytecode at once, a
//!   pre-initialised component soon after), with a content-addressed cache.
//! - [`runtime`] holds the wasmtime engine, the per-instance sandbox and the limits.
//! - [`registry`] maps names to deployed versions, swapped atomically.
//! - [`server`] is the HTTP front: routing, health, and calls into [`runtime`].

pub mod api;
pub mod auth;
pub mod cli;
pub mod compile;
pub mod config;
pub mod deploy;
pub mod error;
pub mod invoke;
pub mod logging;
pub mod metrics;
pub mod platform;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod settings;
pub mod store;
