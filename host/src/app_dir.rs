//! An app folder served by `kiln serve --app DIR`: `index.js` or `app.wasm`, redeployed when it
//! changes (a broken new version is reported and the previous one keeps serving).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;

use crate::config::Config;
use crate::deploy::{DeployError, Deployer};
use crate::kind::AppKind;
use crate::runtime::RunSpec;

/// The folder and its entry file.
pub struct AppDir {
    /// The app's name: the folder's name.
    pub name: String,
    /// `index.js` or `app.wasm`.
    pub entry: PathBuf,
}

impl AppDir {
    /// Finds the entry file of `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_lowercase()))
            .unwrap_or_else(|| "app".into());
        for candidate in ["index.js", "app.wasm"] {
            let entry = dir.join(candidate);
            if entry.is_file() {
                return Ok(Self { name, entry });
            }
        }
        anyhow::bail!("{} has neither index.js nor app.wasm", dir.display())
    }

    /// Compiles and serves the entry file. The outer error is an I/O problem; the inner one is
    /// what is wrong with the app.
    pub async fn deploy(
        &self,
        deployer: &Deployer,
        config: &Config,
    ) -> anyhow::Result<Result<(), DeployError>> {
        let bytes = std::fs::read(&self.entry)
            .with_context(|| format!("reading {}", self.entry.display()))?;
        let file = self
            .entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let spec = RunSpec::new(config.isolation, config.limits);
        let prepared = if file.ends_with(".wasm") {
            deployer
                .prepare_component(AppKind::Service, &self.name, &bytes, spec)
                .await
        } else {
            let source = String::from_utf8(bytes)
                .with_context(|| format!("{} is not UTF-8", self.entry.display()))?;
            deployer
                .prepare_js(
                    AppKind::Service,
                    &self.name,
                    &file,
                    &source,
                    spec,
                    crate::config::COMPILE_TIMEOUT,
                )
                .await
        };
        Ok(prepared.map(|prepared| deployer.activate(prepared, None)))
    }

    /// Redeploys when the entry file changes, on a thread of its own.
    pub fn watch(self, deployer: std::sync::Arc<Deployer>, config: Config) {
        let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut last: Option<SystemTime> = modified(&self.entry);
        let spawned = std::thread::Builder::new()
            .name("kiln-watch".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                loop {
                    std::thread::sleep(Duration::from_millis(300));
                    let now = modified(&self.entry);
                    if now.is_none() || now == last {
                        continue;
                    }
                    last = now;
                    match runtime.block_on(self.deploy(&deployer, &config)) {
                        Ok(Ok(())) => tracing::info!(app = %self.name, "redeployed after a change"),
                        Ok(Err(error)) => tracing::error!(app = %self.name, error = %error, "the new version was rejected; the previous one keeps serving"),
                        Err(error) => tracing::error!(app = %self.name, error = format!("{error:#}"), "redeploy failed"),
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::error!(error = %error, "could not watch the app folder");
        }
    }
}
