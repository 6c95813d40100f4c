//! End-to-end tests: each starts the real `kiln` binary on an ephemeral port and drives it over
//! HTTP with real JavaScript and real components.
#![allow(missing_docs, clippy::unwrap_used)]

mod support;

mod apps;
mod attacks;
mod bindings;
mod cache;
mod cli;
mod cluster;
mod compile;
mod components;
mod dashboard;
mod density;
mod frameworks;
mod frontend;
mod functions;
mod kv;
mod limits;
mod logs;
mod methods;
mod operations;
mod platform;
mod readme;
mod schedules;
mod security;
mod templates;
mod typescript;
mod vars;
mod warmup;
mod web_apis;
mod web_platform;
