//! Files: granted directories are preopened at the same path; nothing else is visible.

use std::path::PathBuf;

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Preopens the `read` directories read-only and the `write` ones read-write.
pub fn prepare(app: &str, read: &[PathBuf], write: &[PathBuf], wasi: &mut WasiCtxBuilder) {
    for (dirs, perms) in [(read, FsPerms::ReadOnly), (write, FsPerms::ReadWrite)] {
        for dir in dirs {
            let guest = dir.to_string_lossy();
            if let Err(error) = wasi.preopened_dir(dir, guest.as_ref(), perms) {
                tracing::warn!(app, dir = %dir.display(), error = %error, "a granted directory could not be opened");
            }
        }
    }
}
