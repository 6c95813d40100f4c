//! The control plane: apps (services and functions alike) stored in the database and deployed
//! into the registry, with their immutable versions. One deploy, update, rollback or delete per
//! app at a time.

pub mod frontend;
pub mod model;
mod seed;
pub mod validate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{Isolation, Limits};
use crate::deploy::{DeployError, Deployer, Prepared};
use crate::kind::AppKind;
use crate::runtime::caps::{Capabilities, Console};
use crate::runtime::{Access, RunSpec};
use crate::settings::LiveSettings;
use crate::store::{AppRow, NewVersion, Save, Store, StoreError, VersionRow};
use model::{AppView, CreateApp, Lang, LimitsSpec, Permissions, UpdateApp, VersionView};

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppsError {
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// Input over a size limit.
    #[error("{0}")]
    TooLarge(String),
    /// Kiln failed (I/O on its own data).
    #[error(transparent)]
    Internal(anyhow::Error),
    /// No such app.
    #[error("{kind} '{name}' not found")]
    NotFound {
        /// Service or function.
        kind: AppKind,
        /// The name.
        name: String,
    },
    /// No such version.
    #[error("{kind} '{name}' has no version {version}")]
    NoSuchVersion {
        /// Service or function.
        kind: AppKind,
        /// The name.
        name: String,
        /// The version asked for.
        version: i64,
    },
    /// Compiling or validating the upload failed.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// The store failed (or the name exists).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One lock per app, so that changes to the same app run one at a time.
type AppLocks = Mutex<HashMap<(AppKind, String), Arc<tokio::sync::Mutex<()>>>>;

/// Apps: stored, deployed, changed through the admin API.
pub struct Apps {
    store: Arc<dyn Store>,
    settings: Arc<LiveSettings>,
    deployer: Arc<Deployer>,
    locks: AppLocks,
    /// Kiln's data dir, canonical: no grant may reach it.
    data_dir: PathBuf,
    /// The largest `limits.memory_mb`.
    max_memory_mb: u64,
    /// The node's defaults (`kiln serve`'s flags): below each app's own limits.
    node: NodeDefaults,
    /// What each served app was deployed from (artifact and run spec), so that a change made on
    /// another node redeploys only when it must.
    deployed: Mutex<HashMap<(AppKind, String), Deployed>>,
}

impl Apps {
    /// The control plane over a store, for a server configured by `config`: grants may not
    /// reach its data dir, apps may ask for up to its `max_memory_bytes`, and its flags are the
    /// node's defaults ([`NodeDefaults`]).
    pub fn new(
        store: Arc<dyn Store>,
        settings: Arc<LiveSettings>,
        deployer: Arc<Deployer>,
        config: &crate::config::Config,
    ) -> Self {
        let data_dir = &config.data_dir;
        Self {
            store,
            settings,
            deployer,
            locks: Mutex::default(),
            data_dir: data_dir
                .canonicalize()
                .unwrap_or_else(|_| data_dir.to_path_buf()),
            max_memory_mb: (config.max_memory_bytes >> 20) as u64,
            node: NodeDefaults::of(config),
            deployed: Mutex::default(),
        }
    }

    /// Serves `prepared` (stored `version`) as `row` says, remembering what it was deployed from.
    fn activate(&self, kind: AppKind, row: &AppRow, version: i64, prepared: Prepared) {
        let deployed = Deployed {
            from: deployed_from(&prepared.artifact, row),
            version,
        };
        self.deployed
            .lock()
            .expect("deployed apps")
            .insert((kind, row.name.clone()), deployed);
        self.deployer.activate(prepared, Some(access(row)));
    }

    /// The version this node serves of each app, by `kind/name`.
    pub fn serving(&self) -> std::collections::BTreeMap<String, i64> {
        self.deployed
            .lock()
            .expect("deployed apps")
            .iter()
            .map(|((kind, name), d)| (format!("{kind}/{name}"), d.version))
            .collect()
    }

    /// Stops serving an app.
    fn withdraw(&self, kind: AppKind, name: &str) {
        self.deployed
            .lock()
            .expect("deployed apps")
            .remove(&(kind, name.to_string()));
        self.deployer.registry().remove(kind, name);
        self.deployer.collect_soon();
    }

    /// Brings what this node serves for one app in line with the store (at start, and after
    /// another node changed it): deploys the active version (unless it is what is served already, when only
    /// who may call it changes), or stops serving an app that is gone or has no version.
    pub async fn sync(&self, kind: AppKind, name: &str) -> Result<(), AppsError> {
        let _guard = self.lock(kind, name).await;
        let row = self.store.app(kind, name).await?;
        let active = match row.as_ref().and_then(|r| r.active_version) {
            Some(v) => self.store.version(kind, name, v).await?,
            None => None,
        };
        let (Some(row), Some(active)) = (row, active) else {
            if self.deployer.registry().get(kind, name).is_some() {
                self.withdraw(kind, name);
            }
            if kind == AppKind::Service && self.store.app(kind, name).await?.is_none() {
                self.remove_assets(name);
            }
            return Ok(());
        };
        if kind == AppKind::Service {
            self.sync_assets(name).await?;
        }
        let same = self
            .deployed
            .lock()
            .expect("deployed apps")
            .get(&(kind, name.to_string()))
            .is_some_and(|d| {
                d.from == deployed_from(&active.artifact, &row) && d.version == active.version
            });
        if same && self.deployer.registry().get(kind, name).is_some() {
            self.deployer
                .registry()
                .set_access(kind, name, access(&row));
        } else {
            let prepared = self.prepare(kind, &row, &active).await?;
            self.activate(kind, &row, active.version, prepared);
        }
        Ok(())
    }

    fn compile_timeout(&self) -> Duration {
        self.settings.get().compile_timeout()
    }

    /// What grants may reach: not Kiln's data dir, but for the app's own static assets (`own`).
    fn guard<'a>(&'a self, own: &'a Path) -> validate::Guard<'a> {
        validate::Guard {
            data_dir: &self.data_dir,
            own_static: Some(own),
        }
    }

    /// Serialises changes to one app.
    async fn lock(&self, kind: AppKind, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .locks
            .lock()
            .expect("app locks")
            .entry((kind, name.to_string()))
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// Stores the seeded apps (first start only); they deploy with [`Apps::restore_all`].
    pub async fn seed(&self) -> Result<(), AppsError> {
        for seed in &seed::SEEDS {
            let mut row = AppRow::new(seed.name, seed.description);
            row.schema = seed.schema.map(str::to_string);
            let version = NewVersion {
                format: "js",
                sha256: sha256_hex(seed.code.as_bytes()),
                artifact: self
                    .deployer
                    .compiler()
                    .key("seed.js", seed.code, seed.kind),
                code: Some(seed.code.to_string()),
                component: None,
            };
            match self
                .store
                .save_app(seed.kind, &row, Save::Create, Some(version))
                .await
            {
                // Another node sharing the database stored it first.
                Ok(_) | Err(StoreError::Exists { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Marks every stored app as pending: until it is deployed, requests for it wait.
    pub async fn mark_pending(&self) -> Result<(), AppsError> {
        for kind in AppKind::ALL {
            for row in self.store.apps(kind).await? {
                if row.active_version.is_some() {
                    self.deployer.registry().mark_pending(kind, &row.name);
                }
            }
        }
        Ok(())
    }

    /// Deploys every stored app (after the server listens, so that compiling never delays it).
    pub async fn restore_all(&self) {
        let started = Instant::now();
        for kind in AppKind::ALL {
            let rows = match self.store.apps(kind).await {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::error!(error = %error, "listing {}s failed", kind);
                    continue;
                }
            };
            for row in rows {
                // Under the app's lock, from the row as it is then: an app created or changed
                // through the admin API meanwhile is not set back to what was listed.
                if let Err(error) = self.sync(kind, &row.name).await {
                    tracing::error!(name = %row.name, error = %error, "restoring a {kind} failed");
                }
                self.deployer.registry().settle(kind, &row.name);
            }
        }
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "every stored service and function is deployed"
        );
    }

    /// How an app is run: its grants, limits and isolation, defaults from the settings.
    fn spec(&self, kind: AppKind, row: &AppRow) -> Result<RunSpec, AppsError> {
        let settings = self.settings.get();
        let isolation = match (kind, row.isolation.as_deref()) {
            (AppKind::Function, _) | (_, Some("request")) => Isolation::Request,
            (_, Some("reuse")) => Isolation::Reuse,
            _ => self.node.isolation,
        };
        let defaults = SpecDefaults {
            memory_mb: settings.default_memory_mb,
            timeout_ms: match kind {
                AppKind::Service => self.node.timeout.as_millis() as u64,
                AppKind::Function => settings.function_execution_timeout_ms,
            },
            max_memory_mb: self.max_memory_mb,
            max_requests_per_instance: self.node.max_requests_per_instance,
        };
        let mut permissions: Permissions = parse_json(&row.permissions);
        if kind == AppKind::Service {
            // A grant on a frontend's assets names the directory on the node that received the
            // upload; each node serves them from its own copy.
            let own = frontend::static_dir(&self.data_dir, &row.name);
            for grant in permissions.read.iter_mut() {
                if frontend::is_assets_dir(Path::new(grant.as_str()), &row.name) {
                    *grant = own.to_string_lossy().into_owned();
                }
            }
        }
        let own = frontend::static_dir(&self.data_dir, &row.name);
        validate::stored_directories(&permissions, &self.guard(&own))?;
        Ok(run_spec(
            &permissions,
            &parse_json(&row.limits),
            isolation,
            &defaults,
        ))
    }

    /// Unpacks a service's frontend assets as stored by the node that received them, unless
    /// this node has them already; removes them when the store has none.
    async fn sync_assets(&self, name: &str) -> Result<(), AppsError> {
        let stored = self.store.assets_sha256(name).await?;
        if stored.is_none() || stored == frontend::unpacked_sha256(&self.data_dir, name) {
            return Ok(());
        }
        let Some(archive) = self.store.assets(name).await? else {
            return Ok(());
        };
        let sha = sha256_hex(&archive);
        if Some(&sha) != stored.as_ref() {
            return Err(AppsError::Invalid(format!(
                "the stored assets of '{name}' do not match their sha256: they are not served"
            )));
        }
        let parent = self.data_dir.join("static");
        let fresh = tokio::task::spawn_blocking(move || frontend::extract(&archive, &parent))
            .await
            .map_err(|e| AppsError::Internal(e.into()))??;
        let assets = frontend::static_dir(&self.data_dir, name);
        frontend::swap_in(fresh, &assets).map_err(AppsError::Internal)?;
        frontend::mark_unpacked(&self.data_dir, name, &sha).map_err(AppsError::Internal)?;
        Ok(())
    }

    /// Removes a service's unpacked frontend assets, if any.
    fn remove_assets(&self, name: &str) {
        let assets = frontend::static_dir(&self.data_dir, name);
        if assets.exists()
            && let Err(error) = std::fs::remove_dir_all(&assets)
        {
            tracing::warn!(app = %name, error = %error, "could not remove the static assets");
        }
        frontend::forget_unpacked(&self.data_dir, name);
    }

    async fn prepare(
        &self,
        kind: AppKind,
        row: &AppRow,
        version: &VersionRow,
    ) -> Result<Prepared, AppsError> {
        let content = match (&version.code, &version.component) {
            (Some(code), _) => Some(code.as_bytes()),
            (None, Some(wasm)) => Some(wasm.as_slice()),
            (None, None) => None,
        };
        // A stored version is served only as it was stored (the database may be shared).
        if let Some(content) = content
            && sha256_hex(content) != version.sha256
        {
            return Err(AppsError::Invalid(format!(
                "version {} of '{}' does not match its sha256: it is not served",
                version.version, row.name
            )));
        }
        let spec = self.spec(kind, row)?;
        let lang = Lang::of_format(&version.format);
        Ok(match (lang, &version.code, &version.component) {
            (Some(lang), Some(code), _) => {
                let file = lang.file(&row.name);
                self.deployer
                    .prepare_js(kind, &row.name, &file, code, spec, self.compile_timeout())
                    .await?
            }
            (None, _, Some(wasm)) if version.format == "component" => {
                self.deployer
                    .prepare_component(kind, &row.name, wasm, spec)
                    .await?
            }
            _ => {
                return Err(AppsError::Invalid(format!(
                    "version {} of '{}' has no content",
                    version.version, row.name
                )));
            }
        })
    }

    async fn view(
        &self,
        kind: AppKind,
        row: AppRow,
        with_code: bool,
    ) -> Result<AppView, AppsError> {
        let active = match row.active_version {
            Some(v) if with_code => self.store.version(kind, &row.name, v).await?,
            Some(v) => self
                .store
                .versions(kind, &row.name)
                .await?
                .into_iter()
                .find(|r| r.version == v),
            None => None,
        };
        let deployed = self.deployer.registry().get(kind, &row.name);
        let serving = deployed.as_ref().map(|d| d.effective_isolation());
        let tier = deployed.map(|d| d.tier.as_str().to_string());
        let isolation = match kind {
            AppKind::Function => "request".to_string(),
            AppKind::Service => row
                .isolation
                .unwrap_or_else(|| isolation_name(self.node.isolation)),
        };
        Ok(AppView {
            effective_isolation: serving.map_or_else(|| isolation.clone(), isolation_name),
            isolation,
            kind: active.as_ref().map_or("js".into(), |v| v.format.clone()),
            sha256: active.as_ref().map(|v| v.sha256.clone()),
            code: active.and_then(|v| v.code),
            name: row.name,
            description: row.description,
            enabled: row.enabled,
            jwt_check: row.jwt_check,
            version: row.active_version,
            permissions: parse_json(&row.permissions),
            schema: row
                .schema
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            limits: parse_json(&row.limits),
            tier,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    async fn row(&self, kind: AppKind, name: &str) -> Result<AppRow, AppsError> {
        self.store
            .app(kind, name)
            .await?
            .ok_or_else(|| AppsError::NotFound {
                kind,
                name: name.to_string(),
            })
    }

    /// Every app of a kind, without code.
    pub async fn list(&self, kind: AppKind) -> Result<Vec<AppView>, AppsError> {
        let mut all = Vec::new();
        for row in self.store.apps(kind).await? {
            all.push(self.view(kind, row, false).await?);
        }
        Ok(all)
    }

    /// Totals of a kind: all stored, and the enabled ones.
    pub async fn counts(&self, kind: AppKind) -> Result<(usize, usize), AppsError> {
        let rows = self.store.apps(kind).await?;
        Ok((rows.len(), rows.iter().filter(|r| r.enabled).count()))
    }

    /// One app, with its code.
    pub async fn get(&self, kind: AppKind, name: &str) -> Result<AppView, AppsError> {
        let row = self.row(kind, name).await?;
        self.view(kind, row, true).await
    }

    /// A service's stored OpenAPI document.
    pub async fn schema(&self, name: &str) -> Result<Option<serde_json::Value>, AppsError> {
        let row = self.row(AppKind::Service, name).await?;
        Ok(row
            .schema
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()))
    }

    /// Creates an app from JavaScript: compiled, stored with its first version, then served.
    pub async fn create(&self, kind: AppKind, body: CreateApp) -> Result<AppView, AppsError> {
        validate::name(&body.name)?;
        let _guard = self.lock(kind, &body.name).await;
        let own = frontend::static_dir(&self.data_dir, &body.name);
        let permissions =
            validate::permissions(&body.permissions.unwrap_or_default(), &self.guard(&own))?;
        let limits = body.limits.unwrap_or_default();
        validate::limits(&limits, self.max_memory_mb)?;
        check_isolation(kind, body.isolation)?;
        let schema = validate::schema(body.schema)?;
        if self.store.app(kind, &body.name).await?.is_some() {
            return Err(StoreError::Exists {
                kind,
                name: body.name,
            }
            .into());
        }
        let now = crate::store::now();
        let row = AppRow {
            name: body.name,
            description: body.description.unwrap_or_default(),
            enabled: body.enabled.unwrap_or(true),
            jwt_check: body.jwt_check.unwrap_or(false),
            permissions: to_json(&permissions),
            schema: schema.map(|s| s.to_string()),
            limits: to_json(&limits),
            isolation: body.isolation.map(isolation_name),
            active_version: None,
            created_at: now.clone(),
            updated_at: now,
        };
        let lang = body.lang.unwrap_or_default();
        let prepared = self
            .deployer
            .prepare_js(
                kind,
                &row.name,
                &lang.file(&row.name),
                &body.code,
                self.spec(kind, &row)?,
                self.compile_timeout(),
            )
            .await?;
        let version = js_version(&body.code, lang, &prepared);
        let number = self
            .store
            .save_app(kind, &row, Save::Create, Some(version))
            .await?;
        self.activate(kind, &row, number.unwrap_or(1), prepared);
        self.get(kind, &row.name).await
    }

    /// Applies a partial update; new code becomes a new version, swapped in atomically.
    pub async fn update(
        &self,
        kind: AppKind,
        name: &str,
        body: UpdateApp,
    ) -> Result<AppView, AppsError> {
        if let Some(other) = &body.name
            && other != name
        {
            return Err(AppsError::Invalid(format!(
                "the body's name '{other}' differs from '{name}'; renaming is not supported"
            )));
        }
        let _guard = self.lock(kind, name).await;
        let mut row = self.row(kind, name).await?;
        let before = (
            row.permissions.clone(),
            row.limits.clone(),
            row.isolation.clone(),
        );
        if let Some(description) = body.description {
            row.description = description;
        }
        if let Some(enabled) = body.enabled {
            row.enabled = enabled;
        }
        if let Some(jwt_check) = body.jwt_check {
            row.jwt_check = jwt_check;
        }
        if let Some(permissions) = &body.permissions {
            let own = frontend::static_dir(&self.data_dir, name);
            row.permissions = to_json(&validate::permissions(permissions, &self.guard(&own))?);
        }
        if let Some(schema) = body.schema {
            row.schema = validate::schema(schema)?.map(|s| s.to_string());
        }
        if let Some(limits) = &body.limits {
            validate::limits(limits, self.max_memory_mb)?;
            row.limits = to_json(limits);
        }
        if let Some(isolation) = body.isolation {
            check_isolation(kind, Some(isolation))?;
            row.isolation = Some(isolation_name(isolation));
        }
        row.updated_at = crate::store::now();
        let spec_changed = before
            != (
                row.permissions.clone(),
                row.limits.clone(),
                row.isolation.clone(),
            );
        let active = match row.active_version {
            Some(v) => self.store.version(kind, name, v).await?,
            None => None,
        };
        if body.lang.is_some() && body.code.is_none() {
            return Err(AppsError::Invalid(
                "'lang' says what 'code' is written in: send it with 'code'".into(),
            ));
        }
        let lang = body
            .lang
            .or_else(|| active.as_ref().and_then(|a| Lang::of_format(&a.format)))
            .unwrap_or_default();
        let new_code = body.code.filter(|code| {
            active.as_ref().is_none_or(|a| {
                a.code.as_deref() != Some(code.as_str()) || a.format != lang.format()
            })
        });
        let (prepared, version) = match (new_code, &active) {
            (Some(code), _) => {
                let prepared = self
                    .deployer
                    .prepare_js(
                        kind,
                        name,
                        &lang.file(name),
                        &code,
                        self.spec(kind, &row)?,
                        self.compile_timeout(),
                    )
                    .await?;
                let version = js_version(&code, lang, &prepared);
                (Some(prepared), Some(version))
            }
            (None, Some(active)) if spec_changed => {
                (Some(self.prepare(kind, &row, active).await?), None)
            }
            (None, _) => (None, None),
        };
        let number = self
            .store
            .save_app(kind, &row, Save::Update, version)
            .await?
            .or(row.active_version);
        match prepared {
            Some(prepared) => self.activate(kind, &row, number.unwrap_or(0), prepared),
            None => self
                .deployer
                .registry()
                .set_access(kind, name, access(&row)),
        }
        self.get(kind, name).await
    }

    /// Creates or replaces an app with a prebuilt component. Returns whether it was created. A
    /// replaced app keeps its grants only when `keep_permissions` says so: new code gets none.
    pub async fn put_component(
        &self,
        kind: AppKind,
        name: &str,
        wasm: Vec<u8>,
        keep_permissions: bool,
    ) -> Result<(bool, AppView), AppsError> {
        validate::name(name)?;
        if wasm.is_empty() {
            return Err(AppsError::Invalid(
                "the body is empty: send the component's bytes (application/wasm)".into(),
            ));
        }
        let _guard = self.lock(kind, name).await;
        let existing = self.store.app(kind, name).await?;
        let save = if existing.is_some() {
            Save::Update
        } else {
            Save::Create
        };
        let mut row = existing.unwrap_or_else(|| AppRow::new(name, ""));
        row.updated_at = crate::store::now();
        if !keep_permissions {
            row.permissions = "{}".into();
        }
        let prepared = self
            .deployer
            .prepare_component(kind, name, &wasm, self.spec(kind, &row)?)
            .await?;
        let version = NewVersion {
            format: "component",
            sha256: sha256_hex(&wasm),
            artifact: prepared.artifact.clone(),
            code: None,
            component: Some(wasm),
        };
        let number = self.store.save_app(kind, &row, save, Some(version)).await?;
        self.activate(kind, &row, number.unwrap_or(0), prepared);
        Ok((save == Save::Create, self.get(kind, name).await?))
    }

    /// Deletes an app: it stops being served at once.
    pub async fn delete(&self, kind: AppKind, name: &str) -> Result<(), AppsError> {
        let _guard = self.lock(kind, name).await;
        if !self.store.delete_app(kind, name).await? {
            return Err(AppsError::NotFound {
                kind,
                name: name.to_string(),
            });
        }
        self.withdraw(kind, name);
        if kind == AppKind::Service {
            self.remove_assets(name);
        }
        Ok(())
    }

    /// Hosts a frontend: `code` serves the service `name` (created, or updated as a new version)
    /// with a read grant on its static directory, which then holds `archive`'s files, swapped in
    /// for the previous ones only once the code is compiled and stored. Returns whether the
    /// service was created, and the static directory.
    pub async fn host_frontend(
        &self,
        name: &str,
        code: String,
        archive: bytes::Bytes,
    ) -> Result<(bool, PathBuf), AppsError> {
        validate::name(name)?;
        let assets = frontend::static_dir(&self.data_dir, name);
        let parent = self.data_dir.join("static");
        let kept = archive.clone();
        let fresh = tokio::task::spawn_blocking(move || frontend::extract(&archive, &parent))
            .await
            .map_err(|e| AppsError::Internal(e.into()))??;
        // The grant names the directory, so it must exist before the service is validated.
        let made = !assets.exists();
        std::fs::create_dir_all(&assets).map_err(|e| AppsError::Internal(e.into()))?;
        let grant = assets.to_string_lossy().into_owned();
        let existing = self.store.app(AppKind::Service, name).await?;
        // The archive is stored before the service, so that a node never sees the new version
        // with the old files (nodes sharing the database unpack it when the service changes);
        // it is put back if the service is not saved.
        let previous = self.store.assets(name).await?;
        let sha = sha256_hex(&kept);
        self.store.save_assets(name, &sha, &kept).await?;
        let saved = match existing {
            Some(row) => {
                let mut permissions: Permissions = parse_json(&row.permissions);
                if !permissions.read.contains(&grant) {
                    permissions.read.push(grant);
                }
                let update = UpdateApp {
                    code: Some(code),
                    permissions: Some(permissions),
                    ..UpdateApp::default()
                };
                self.update(AppKind::Service, name, update)
                    .await
                    .map(|_| false)
            }
            None => {
                let create = CreateApp {
                    name: name.to_string(),
                    code,
                    lang: None,
                    description: Some("frontend".into()),
                    enabled: None,
                    jwt_check: None,
                    permissions: Some(Permissions {
                        read: vec![grant],
                        ..Permissions::default()
                    }),
                    schema: None,
                    limits: None,
                    isolation: None,
                };
                self.create(AppKind::Service, create).await.map(|_| true)
            }
        };
        match saved {
            Ok(created) => {
                frontend::swap_in(fresh, &assets).map_err(AppsError::Internal)?;
                frontend::mark_unpacked(&self.data_dir, name, &sha).map_err(AppsError::Internal)?;
                Ok((created, assets))
            }
            Err(error) => {
                if made {
                    let _ = std::fs::remove_dir(&assets);
                }
                let restored = match previous {
                    Some(old) => self.store.save_assets(name, &sha256_hex(&old), &old).await,
                    None => self.store.delete_assets(name).await,
                };
                if let Err(restoring) = restored {
                    tracing::error!(app = %name, error = %restoring, "could not put the previous frontend archive back");
                }
                Err(error)
            }
        }
    }

    /// The versions of an app, oldest first.
    pub async fn versions(&self, kind: AppKind, name: &str) -> Result<Vec<VersionView>, AppsError> {
        let row = self.row(kind, name).await?;
        Ok(self
            .store
            .versions(kind, name)
            .await?
            .into_iter()
            .map(|v| VersionView {
                active: Some(v.version) == row.active_version,
                version: v.version,
                kind: v.format,
                sha256: v.sha256,
                created_at: v.created_at,
            })
            .collect())
    }

    /// Makes an earlier version active again, from its cached artifact.
    pub async fn rollback(
        &self,
        kind: AppKind,
        name: &str,
        version: i64,
    ) -> Result<AppView, AppsError> {
        let _guard = self.lock(kind, name).await;
        let row = self.row(kind, name).await?;
        let target = self
            .store
            .version(kind, name, version)
            .await?
            .ok_or_else(|| AppsError::NoSuchVersion {
                kind,
                name: name.to_string(),
                version,
            })?;
        let prepared = self.prepare(kind, &row, &target).await?;
        self.store.set_active_version(kind, name, version).await?;
        self.activate(kind, &row, version, prepared);
        self.get(kind, name).await
    }
}

/// Functions always run in a fresh instance.
fn check_isolation(kind: AppKind, isolation: Option<Isolation>) -> Result<(), AppsError> {
    if kind == AppKind::Function && isolation == Some(Isolation::Reuse) {
        return Err(AppsError::Invalid(
            "functions always run in a fresh instance: isolation must be 'request'".into(),
        ));
    }
    Ok(())
}

fn js_version(code: &str, lang: Lang, prepared: &Prepared) -> NewVersion {
    NewVersion {
        format: lang.format(),
        sha256: sha256_hex(code.as_bytes()),
        artifact: prepared.artifact.clone(),
        code: Some(code.to_string()),
        component: None,
    }
}

/// What this node serves of an app.
struct Deployed {
    /// What the deployment was made from ([`deployed_from`]).
    from: String,
    /// The stored version.
    version: i64,
}

/// What a deployment is made from: its artifact and everything that shapes how it runs.
fn deployed_from(artifact: &str, row: &AppRow) -> String {
    format!(
        "{artifact}\n{}\n{}\n{:?}",
        row.permissions, row.limits, row.isolation
    )
}

/// Who may call a stored app.
fn access(row: &AppRow) -> Access {
    Access {
        enabled: row.enabled,
        jwt_check: row.jwt_check,
    }
}

fn isolation_name(isolation: Isolation) -> String {
    isolation.as_str().into()
}

/// What an app's limits fall back to.
pub struct SpecDefaults {
    /// Memory per instance, in MiB.
    pub memory_mb: u64,
    /// Deadline per request, in milliseconds.
    pub timeout_ms: u64,
    /// The most memory an app may ask for, in MiB.
    pub max_memory_mb: u64,
    /// Requests a reused instance serves before it is retired.
    pub max_requests_per_instance: u32,
}

/// What `kiln serve`'s flags set for every stored app that does not say otherwise: services'
/// isolation (`--isolation`) and deadline (`--timeout-ms`), and the requests a reused instance
/// serves (`--max-requests-per-instance`). The default memory is the config key
/// `default_memory_mb`, whose own default is `--memory-mb`.
#[derive(Debug, Clone, Copy)]
pub struct NodeDefaults {
    /// Services' isolation when the app names none.
    pub isolation: Isolation,
    /// Services' deadline when the app sets none.
    pub timeout: Duration,
    /// Requests a reused instance serves before it is retired.
    pub max_requests_per_instance: u32,
}

impl NodeDefaults {
    /// The defaults a server's configuration gives.
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            isolation: config.isolation,
            timeout: config.limits.timeout,
            max_requests_per_instance: config.limits.max_requests_per_instance,
        }
    }
}

/// How an app with these (validated) grants, limits and isolation is run.
pub fn run_spec(
    permissions: &Permissions,
    limits: &LimitsSpec,
    isolation: Isolation,
    defaults: &SpecDefaults,
) -> RunSpec {
    let capabilities = Capabilities {
        env: permissions
            .env
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v)))
            .collect(),
        read: permissions.read.iter().map(Into::into).collect(),
        write: permissions.write.iter().map(Into::into).collect(),
        net: Arc::from(permissions.net.clone()),
        console: Console::Log,
        ..Capabilities::default()
    };
    RunSpec {
        isolation,
        limits: Limits {
            memory_bytes: (limits
                .memory_mb
                .unwrap_or(defaults.memory_mb)
                .min(defaults.max_memory_mb) as usize)
                << 20,
            timeout: Duration::from_millis(limits.timeout_ms.unwrap_or(defaults.timeout_ms)),
            max_requests_per_instance: defaults.max_requests_per_instance,
        },
        max_concurrency: limits.max_concurrency.unwrap_or(64) as usize,
        capabilities: Arc::new(capabilities),
    }
}

fn parse_json<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
