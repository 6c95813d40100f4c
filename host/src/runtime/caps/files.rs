//! Files: granted directories are preopened at the same path; nothing else is visible. A hosted
//! frontend's own assets (`{data_dir}/static/{app}`) are also preopened, read-only, at
//! `/static/{app}`: the guest's working directory is `/`, so `./static/{app}/index.html` (as
//! NanoEdgeRT's frontend servers read it) names its own assets.

use std::path::PathBuf;

use wasmtime_wasi::FsPerms;

use super::{InstanceBuilder, Part};

/// The granted directories (checked and canonicalised when the app was deployed).
#[derive(Debug, Default)]
pub struct Files {
    /// Preopened read-only.
    pub read: Vec<PathBuf>,
    /// Preopened read-write.
    pub write: Vec<PathBuf>,
    /// A hosted frontend's own assets (one of `read`), also preopened at `/static/{app}`.
    pub assets: Option<PathBuf>,
}

impl Part for Files {
    type Instance = ();

    /// Preopens the directories. One that can no longer be opened (removed since the deploy)
    /// fails the instance with its path: the app is never run with less than it was granted.
    fn prepare(&self, instance: &mut InstanceBuilder<'_>) -> anyhow::Result<()> {
        let app: &str = instance.app;
        for (dirs, perms) in [
            (&self.read, FsPerms::ReadOnly),
            (&self.write, FsPerms::ReadWrite),
        ] {
            for dir in dirs {
                let mut at = vec![dir.to_string_lossy().into_owned()];
                if matches!(perms, FsPerms::ReadOnly) && self.assets.as_ref() == Some(dir) {
                    at.push(format!("/static/{app}"));
                }
                for guest in at {
                    if let Err(error) = instance.wasi.preopened_dir(dir, &guest, perms) {
                        anyhow::bail!(
                            "the granted directory {} cannot be opened: {error}",
                            dir.display()
                        );
                    }
                }
            }
        }
        Ok(())
    }
}
