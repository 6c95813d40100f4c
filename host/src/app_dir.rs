//! An app folder: `index.js`, `index.ts` or `app.wasm` (any wasi-http component), and an optional
//! `kiln.json` giving its permissions, limits, isolation and `jwt_check`. Served alone by
//! `kiln serve --app DIR`, or as one of the services of `kiln serve --watch DIR`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

use crate::apps::model::{LimitsSpec, Permissions};
use crate::apps::{SpecDefaults, run_spec, validate};
use crate::config::{Config, Isolation};
use crate::deploy::Deployer;
use crate::kind::AppKind;
use crate::runtime::Access;

/// The files that make a folder an app, in order of precedence.
pub const ENTRIES: [&str; 3] = ["index.js", "index.ts", "app.wasm"];

/// The optional settings file of an app folder.
pub const MANIFEST: &str = "kiln.json";

/// What `kiln.json` may say (every field optional; unknown fields are refused).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Grants, as in the admin API; relative directories are taken from the app's folder.
    #[serde(default)]
    pub permissions: Permissions,
    /// Memory, deadline and concurrency, as in the admin API.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// `reuse` or `request` (default: `--isolation`).
    #[serde(default)]
    pub isolation: Option<Isolation>,
    /// Callers need a token of Kiln's (platform mode only).
    #[serde(default)]
    pub jwt_check: bool,
    /// Plain variables, `{"KEY": "value"}` (a secret is set through the admin API, never kept
    /// in a file).
    #[serde(default)]
    pub vars: std::collections::BTreeMap<String, String>,
    /// Cron expressions (`crate::schedules`); with `--watch` only, where runs are recorded.
    #[serde(default)]
    pub schedule: Vec<String>,
}

/// An app's folder and the name it is served under.
#[derive(Debug, Clone)]
pub struct AppDir {
    /// The service's name.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
}

impl AppDir {
    /// The app in `dir`, named after the folder; it must hold an entry file.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_lowercase()))
            .unwrap_or_else(|| "app".into());
        let app = Self::named(dir, name);
        if app.entry().is_none() {
            anyhow::bail!(
                "{} has neither index.js, index.ts nor app.wasm",
                dir.display()
            );
        }
        Ok(app)
    }

    /// The app in `dir`, served as `name`.
    pub fn named(dir: &Path, name: String) -> Self {
        Self {
            name,
            dir: dir.to_path_buf(),
        }
    }

    /// The entry file, if the folder has one.
    pub fn entry(&self) -> Option<PathBuf> {
        ENTRIES
            .iter()
            .map(|file| self.dir.join(file))
            .find(|path| path.is_file())
    }

    /// The entry file's and `kiln.json`'s bytes: what a deployment is made of.
    pub fn contents(&self) -> Option<(PathBuf, Vec<u8>, Option<Vec<u8>>)> {
        let entry = self.entry()?;
        let bytes = std::fs::read(&entry).ok()?;
        let manifest = std::fs::read(self.dir.join(MANIFEST)).ok();
        Some((entry, bytes, manifest))
    }

    /// Compiles and serves the folder's current contents. The error says what is wrong, with
    /// the file (and line:col for a JavaScript error); the version served before stays.
    pub async fn deploy(
        &self,
        deployer: &Deployer,
        config: &Config,
        platform: bool,
    ) -> anyhow::Result<()> {
        let (entry, bytes, manifest) = self.contents().with_context(|| {
            format!(
                "{} has neither index.js, index.ts nor app.wasm",
                self.dir.display()
            )
        })?;
        let manifest: Manifest = match &manifest {
            Some(text) => serde_json::from_slice(text)
                .with_context(|| format!("{}", self.dir.join(MANIFEST).display()))?,
            None => Manifest::default(),
        };
        if !manifest.permissions.kv.is_empty() && deployer.kv().is_none() {
            // A folder served alone keeps its stores in the data dir's database.
            let runtime = crate::runtime::caps::kv::own_runtime()?;
            let file = config.data_dir.join("kiln.db");
            // The store's migrations make the schema.
            runtime
                .spawn(crate::store::SqliteStore::open_at(config.data_dir.clone()))
                .await?
                .with_context(|| format!("opening {}", file.display()))?;
            let store = crate::store::kv_sqlite::SqliteKv::open(&config.data_dir)
                .with_context(|| format!("opening {}", file.display()))?;
            let quota = crate::settings::Settings::default_kv_quota_bytes();
            let kv =
                crate::runtime::caps::kv::KvService::new(std::sync::Arc::new(store), move || quota);
            kv.start_collecting(runtime);
            deployer.set_kv(kv);
        }
        let spec = self
            .spec(&manifest, config, platform, deployer)
            .with_context(|| format!("{}", self.dir.join(MANIFEST).display()))?;
        let file = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prepared = if file.ends_with(".wasm") {
            deployer
                .prepare_component(AppKind::Service, &self.name, &bytes, spec)
                .await
        } else {
            let source = String::from_utf8(bytes)
                .with_context(|| format!("{} is not UTF-8", entry.display()))?;
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
        let prepared = prepared.map_err(|error| match error {
            // The guest's message starts with `index.js:line:col`: give the folder too.
            crate::deploy::DeployError::Source { message, .. } => {
                anyhow::anyhow!("{}/{message}", self.dir.display())
            }
            other => anyhow::anyhow!("{}: {other}", entry.display()),
        })?;
        let access = Access {
            enabled: true,
            jwt_check: manifest.jwt_check,
        };
        let schedule = crate::schedules::validate(&manifest.schedule)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.dir.join(MANIFEST).display()))?;
        deployer.activate(prepared, Some(access));
        deployer.set_folder_schedule(&self.name, schedule);
        Ok(())
    }

    /// How the app is run: `kiln.json` over the server's flags.
    fn spec(
        &self,
        manifest: &Manifest,
        config: &Config,
        platform: bool,
        deployer: &crate::deploy::Deployer,
    ) -> anyhow::Result<crate::runtime::RunSpec> {
        if !manifest.schedule.is_empty() && !platform {
            anyhow::bail!(
                "schedule needs the platform, which records the runs: serve the folder with --watch"
            );
        }
        if manifest.jwt_check && !platform {
            anyhow::bail!(
                "jwt_check needs Kiln's tokens, which only the platform has: serve the folder with --watch"
            );
        }
        let mut permissions = manifest.permissions.clone();
        for dir in permissions
            .read
            .iter_mut()
            .chain(permissions.write.iter_mut())
        {
            if Path::new(dir.as_str()).is_relative() {
                *dir = self.dir.join(&*dir).to_string_lossy().into_owned();
            }
        }
        let guard = validate::Guard {
            data_dir: &config.data_dir,
            own_static: None,
        };
        let permissions = validate::permissions(&permissions, &guard)?;
        let max_memory_mb = (config.max_memory_bytes >> 20) as u64;
        validate::limits(&manifest.limits, max_memory_mb)?;
        let defaults = SpecDefaults {
            memory_mb: (config.limits.memory_bytes >> 20) as u64,
            timeout_ms: config.limits.timeout.as_millis() as u64,
            max_memory_mb,
            max_requests_per_instance: config.limits.max_requests_per_instance,
        };
        let isolation = manifest.isolation.unwrap_or(config.isolation);
        for (key, value) in &manifest.vars {
            if !crate::apps::vars::valid_key(key) {
                anyhow::bail!(
                    "kiln.json: '{key}' is not a variable name (a letter or '_', then letters, digits and '_'; KILN_* is reserved)"
                );
            }
            if value.len() > crate::apps::vars::MAX_VALUE_BYTES || value.contains('\0') {
                anyhow::bail!("kiln.json: the value of '{key}' is over 32 KiB or holds a NUL");
            }
        }
        let vars = manifest.vars.clone().into_iter().collect();
        Ok(run_spec(
            &self.name,
            deployer,
            AppKind::Service,
            &permissions,
            &manifest.limits,
            isolation,
            &defaults,
            crate::runtime::caps::vars::Vars::new(vars),
        )?)
    }
}
