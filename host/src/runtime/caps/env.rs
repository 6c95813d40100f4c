//! Environment variables: only the granted ones, with the host's values.

use wasmtime_wasi::WasiCtxBuilder;

/// Adds the granted variables to the instance's environment.
pub fn prepare(env: &[(String, String)], wasi: &mut WasiCtxBuilder) {
    for (name, value) in env {
        wasi.env(name, value);
    }
}
