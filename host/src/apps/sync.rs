//! What this node serves, in line with the store: at start (seeding, restoring every app) and
//! after a change, made here or by another node sharing the database.

use std::time::Instant;

use super::model::Lang;
use super::record::Shape;
use super::{Apps, AppsError, Record, seed, sha256_hex};
use crate::deploy::Prepared;
use crate::kind::AppKind;
use crate::store::{NewVersion, Save, StoreError, VersionRow};

/// What this node serves of an app.
pub(super) struct Deployed {
    /// The compiled artifact's cache key.
    artifact: String,
    /// What besides the code shaped the deployment.
    shape: Shape,
    /// The stored version.
    version: i64,
}

impl Apps {
    /// Serves `prepared` (stored `version`) as `record` says, remembering what it was deployed
    /// from.
    pub(super) fn activate(
        &self,
        kind: AppKind,
        record: &Record,
        version: i64,
        prepared: Prepared,
    ) {
        let deployed = Deployed {
            artifact: prepared.artifact.clone(),
            shape: record.shape(),
            version,
        };
        self.deployed
            .lock()
            .expect("deployed apps")
            .insert((kind, record.name.clone()), deployed);
        self.deployer.activate(prepared, Some(record.access()));
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
    pub(super) fn withdraw(&self, kind: AppKind, name: &str) {
        self.deployed
            .lock()
            .expect("deployed apps")
            .remove(&(kind, name.to_string()));
        self.deployer.registry().remove(kind, name);
        self.deployer.logs().remove(kind, name);
        self.deployer.collect_soon();
    }

    /// Brings what this node serves for one app in line with the store (at start, and after
    /// another node changed it): deploys the active version (unless it is what is served
    /// already, when only who may call it changes), or stops serving an app that is gone or has
    /// no version.
    pub async fn sync(&self, kind: AppKind, name: &str) -> Result<(), AppsError> {
        let _guard = self.lock(kind, name).await;
        let record = self.find(kind, name).await?;
        let active = match record.as_ref().and_then(|r| r.active_version) {
            Some(v) => self.store.version(kind, name, v, true).await?,
            None => None,
        };
        let (Some(record), Some(active)) = (record, active) else {
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
                d.artifact == active.artifact
                    && d.shape == record.shape()
                    && d.version == active.version
            });
        if same && self.deployer.registry().get(kind, name).is_some() {
            self.deployer
                .registry()
                .set_access(kind, name, record.access());
        } else {
            let prepared = self.prepare(kind, &record, &active).await?;
            self.activate(kind, &record, active.version, prepared);
        }
        Ok(())
    }

    /// Stores the seeded apps (first start only); they deploy with [`Apps::restore_all`].
    pub async fn seed(&self) -> Result<(), AppsError> {
        for seed in &seed::SEEDS {
            let mut record = Record::new(seed.name, seed.description);
            record.schema = match seed.schema {
                Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                    AppsError::Internal(anyhow::anyhow!("seed '{}': {e}", seed.name))
                })?),
                None => None,
            };
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
                .save_app(seed.kind, &record.encode(), Save::Create, Some(version))
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

    /// Compiles (or finds cached) a stored version, as `record` says it runs.
    pub(super) async fn prepare(
        &self,
        kind: AppKind,
        record: &Record,
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
            return Err(AppsError::Corrupt(format!(
                "version {} of '{}' does not match its sha256: it is not served",
                version.version, record.name
            )));
        }
        let spec = self.spec(kind, record)?;
        let name = &record.name;
        Ok(
            match (
                Lang::of_format(&version.format),
                &version.code,
                &version.component,
            ) {
                (Some(lang), Some(code), _) => {
                    self.deployer
                        .prepare_js(
                            kind,
                            name,
                            &lang.file(name),
                            code,
                            spec,
                            self.compile_timeout(),
                        )
                        .await?
                }
                (None, _, Some(wasm)) if version.format == "component" => {
                    self.deployer
                        .prepare_component(kind, name, wasm, spec)
                        .await?
                }
                _ => {
                    return Err(AppsError::Corrupt(format!(
                        "version {} of '{name}' has no content",
                        version.version
                    )));
                }
            },
        )
    }
}
