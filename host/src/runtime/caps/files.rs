//! Files: granted directories are preopened at the same path; nothing else is visible. A hosted
//! frontend's own assets (`{data_dir}/static/{app}`) are also preopened, read-only, at
//! `/static/{app}`: the guest's working directory is `/`, so `./static/{app}/index.html` (as
//! NanoEdgeRT's frontend servers read it) names its own assets.

use std::path::PathBuf;

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Preopens the `read` directories read-only and the `write` ones read-write. Grants were
/// checked when the app was deployed; one that can no longer be opened (removed since) is left
/// out with a warning, never widened to something else.
pub fn prepare(app: &str, read: &[PathBuf], write: &[PathBuf], wasi: &mut WasiCtxBuilder) {
    for (dirs, perms) in [(read, FsPerms::ReadOnly), (write, FsPerms::ReadWrite)] {
        for dir in dirs {
            let guest = dir.to_string_lossy();
            let mut at = vec![guest.into_owned()];
            if matches!(perms, FsPerms::ReadOnly) && crate::apps::frontend::is_assets_dir(dir, app)
            {
                at.push(format!("/static/{app}"));
            }
            for guest in at {
                if let Err(error) = wasi.preopened_dir(dir, &guest, perms) {
                    tracing::warn!(app, dir = %dir.display(), error = %error, "a granted directory could not be opened");
                }
            }
        }
    }
}
