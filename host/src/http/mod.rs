//! The HTTP edge: one axum router for everything (Kiln's API, services, functions), served by one
//! current-thread runtime per core. Only this layer knows status codes.

pub mod body_limit;
pub mod calls;
pub mod cors;
mod error;
pub mod extract;
pub mod listener;
pub mod request_log;
mod router;
pub mod routes;

pub use error::ApiError;
pub use listener::Server;
pub use router::router;
