//! Watched app folders, through the kernel's file events (the `notify` crate; no polling):
//! `kiln serve --app DIR` redeploys its one app when the folder changes, and `kiln serve --watch
//! DIR` serves every subfolder holding an app as a service named after it, redeploys it when it
//! changes and undeploys it when it goes. A broken change is logged with its error and the
//! version served before keeps serving.

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use notify::{EventKind, RecursiveMode, Watcher as _};

use crate::app_dir::AppDir;
use crate::apps::Apps;
use crate::config::Config;
use crate::deploy::Deployer;
use crate::kind::AppKind;

/// How long file events are gathered before acting on them: an editor's save or a copy is
/// several events, and one deploy follows.
const SETTLE: Duration = Duration::from_millis(150);

/// What is watched.
pub enum Watched {
    /// One app (`--app`): deployed already; redeployed on change, kept when its file goes.
    One(AppDir),
    /// A folder of apps (`--watch`), one service per subfolder.
    Every(PathBuf),
}

/// Deploys what is watched now (for [`Watched::Every`]) and on every change after, on a thread
/// of its own. `stored` (platform mode) holds the services of the admin API, whose names a
/// folder may not take, and the runtime their store's connections live on.
pub fn spawn(
    watched: Watched,
    deployer: Arc<Deployer>,
    config: Config,
    stored: Option<(Arc<Apps>, tokio::runtime::Handle)>,
) -> anyhow::Result<()> {
    let (stored, control) = stored.unzip();
    let root = match &watched {
        Watched::One(app) => app.dir.clone(),
        Watched::Every(dir) => dir.clone(),
    };
    if !root.is_dir() {
        anyhow::bail!("{} is not a directory", root.display());
    }
    let (events, received) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = events.send(event);
    })
    .context("starting the file watcher")?;
    let mode = match watched {
        Watched::One(_) => RecursiveMode::NonRecursive,
        Watched::Every(_) => RecursiveMode::Recursive,
    };
    watcher
        .watch(&root, mode)
        .with_context(|| format!("watching {}", root.display()))?;
    let mut folders = Folders {
        watched,
        root,
        deployer,
        config,
        stored,
        seen: HashMap::new(),
    };
    std::thread::Builder::new()
        .name("kiln-watch".into())
        .spawn(move || {
            let _watcher = watcher;
            // The store's connections belong to the control runtime: its futures run there.
            let runtime = match control {
                Some(handle) => Driver::Control(handle),
                None => match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => Driver::Own(runtime),
                    Err(_) => return,
                },
            };
            if let Watched::One(app) = &folders.watched {
                // Deployed already: what is served now is what is on disk.
                let fingerprint = fingerprint(app);
                folders.seen.insert(app.name.clone(), fingerprint);
            } else {
                let names = folders.subfolders();
                runtime.block_on(folders.sync(names));
            }
            while let Ok(first) = received.recv() {
                let mut changed = BTreeSet::new();
                folders.note(first, &mut changed);
                while let Ok(next) = received.recv_timeout(SETTLE) {
                    folders.note(next, &mut changed);
                }
                runtime.block_on(folders.sync(changed));
            }
        })?;
    Ok(())
}

/// Where the watcher's futures run.
enum Driver {
    /// The platform's control runtime (a multi-threaded one, which drives its own I/O).
    Control(tokio::runtime::Handle),
    /// A runtime of the watcher's own.
    Own(tokio::runtime::Runtime),
}

impl Driver {
    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        match self {
            Driver::Control(handle) => handle.block_on(future),
            Driver::Own(runtime) => runtime.block_on(future),
        }
    }
}

/// The folders watched and what was last deployed from each.
struct Folders {
    watched: Watched,
    root: PathBuf,
    deployer: Arc<Deployer>,
    config: Config,
    stored: Option<Arc<Apps>>,
    /// By name: the contents last acted on (`None`: the folder held no app).
    seen: HashMap<String, Option<String>>,
}

impl Folders {
    /// The names of the subfolders of a watched folder of apps.
    fn subfolders(&self) -> BTreeSet<String> {
        std::fs::read_dir(&self.root)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|entry| entry.path().is_dir())
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Adds the app an event touched to `changed`.
    fn note(&self, event: notify::Result<notify::Event>, changed: &mut BTreeSet<String>) {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(error = %error, "file watcher");
                return;
            }
        };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        for path in &event.paths {
            match &self.watched {
                Watched::One(app) => {
                    changed.insert(app.name.clone());
                }
                Watched::Every(_) => {
                    if let Some(Component::Normal(first)) = path
                        .strip_prefix(&self.root)
                        .ok()
                        .and_then(|below| below.components().next())
                    {
                        changed.insert(first.to_string_lossy().into_owned());
                    }
                }
            }
        }
    }

    /// Brings each named app in line with its folder.
    async fn sync(&mut self, names: BTreeSet<String>) {
        for name in names {
            let app = match &self.watched {
                Watched::One(app) => app.clone(),
                Watched::Every(root) => AppDir::named(&root.join(&name), name.clone()),
            };
            let now = fingerprint(&app);
            let before = self.seen.get(&name).cloned().flatten();
            if now == before {
                continue;
            }
            self.seen.insert(name.clone(), now.clone());
            match (now, before) {
                (None, Some(_)) => self.gone(&app),
                (None, None) => {}
                (Some(_), before) => self.deploy(&app, before.is_some()).await,
            }
        }
    }

    async fn deploy(&self, app: &AppDir, again: bool) {
        // A subfolder's name is a service name (the one app of `--app` is served at `/`).
        if let Watched::Every(_) = self.watched
            && let Err(error) = crate::apps::validate::name(&app.name)
        {
            tracing::error!(folder = %app.dir.display(), "{error}: the folder is not served");
            return;
        }
        if let Some(apps) = &self.stored
            && apps.get(AppKind::Service, &app.name).await.is_ok()
        {
            tracing::error!(
                folder = %app.dir.display(),
                "a service named '{}' exists in the admin API: the folder is not served; rename one of them",
                app.name
            );
            return;
        }
        let platform = self.stored.is_some();
        match app.deploy(&self.deployer, &self.config, platform).await {
            Ok(()) if again => tracing::info!(app = %app.name, "redeployed after a change"),
            Ok(()) => tracing::info!(app = %app.name, folder = %app.dir.display(), "deployed"),
            Err(error) => tracing::error!(
                app = %app.name,
                error = format!("{error:#}"),
                "not deployed; the version served before (if any) keeps serving"
            ),
        }
    }

    /// The app's folder no longer holds an app: a watched folder's service is undeployed; the
    /// one app of `--app` keeps serving.
    fn gone(&self, app: &AppDir) {
        match self.watched {
            Watched::One(_) => tracing::warn!(
                app = %app.name,
                "the app's file is gone; the version served keeps serving"
            ),
            Watched::Every(_) => {
                self.deployer.set_folder_schedule(&app.name, Vec::new());
                if self
                    .deployer
                    .registry()
                    .remove(AppKind::Service, &app.name)
                    .is_some()
                {
                    tracing::info!(app = %app.name, "undeployed: its folder no longer holds an app");
                }
            }
        }
    }
}

/// A digest of what the folder would deploy now, `None` if it holds no app.
fn fingerprint(app: &AppDir) -> Option<String> {
    let (entry, bytes, manifest) = app.contents()?;
    let mut all = entry.to_string_lossy().into_owned().into_bytes();
    all.push(0);
    all.extend_from_slice(&bytes);
    all.push(0);
    all.extend_from_slice(manifest.as_deref().unwrap_or_default());
    Some(crate::apps::sha256_hex(&all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_follows_the_entry_and_the_manifest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = AppDir::named(dir.path(), "a".into());
        assert_eq!(fingerprint(&app), None);
        std::fs::write(dir.path().join("index.js"), "one").expect("write");
        let one = fingerprint(&app);
        assert!(one.is_some());
        std::fs::write(dir.path().join("kiln.json"), "{}").expect("write");
        let two = fingerprint(&app);
        assert_ne!(one, two);
        std::fs::write(dir.path().join("index.js"), "two").expect("write");
        assert_ne!(two, fingerprint(&app));
    }
}
