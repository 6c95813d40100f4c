//! Changes through the admin API: create, update, replace with a component, roll back, delete.
//! Each runs under the app's lock; what is served changes only once the store has the change.

use super::model::{AppView, CreateApp, Lang, UpdateApp};
use super::spec::check_isolation;
use super::{Apps, AppsError, Record, frontend, sha256_hex, validate};
use crate::deploy::Prepared;
use crate::kind::AppKind;
use crate::store::{NewVersion, Save, StoreError, VersionRow};

impl Apps {
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
        let schedule = crate::schedules::validate(&body.schedule.unwrap_or_default())?;
        if self.store.app(kind, &body.name).await?.is_some() {
            return Err(StoreError::Exists {
                kind,
                name: body.name,
            }
            .into());
        }
        let mut record = Record::new(&body.name, &body.description.unwrap_or_default());
        record.enabled = body.enabled.unwrap_or(true);
        record.jwt_check = body.jwt_check.unwrap_or(false);
        record.permissions = permissions;
        record.schema = schema;
        record.limits = limits;
        record.isolation = body.isolation;
        record.schedule = schedule;
        let lang = body.lang.unwrap_or_default();
        let (prepared, version) = self.compile(kind, &record, &body.code, lang).await?;
        let number = self
            .store
            .save_app(kind, &record.encode(), Save::Create, Some(version))
            .await?;
        self.activate(kind, &record, number.unwrap_or(1), prepared);
        self.get(kind, &record.name).await
    }

    /// Applies a partial update; new code becomes a new version, swapped in atomically. A change
    /// of grants, limits or isolation alone redeploys the active version.
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
        if body.lang.is_some() && body.code.is_none() {
            return Err(AppsError::Invalid(
                "'lang' says what 'code' is written in: send it with 'code'".into(),
            ));
        }
        let _guard = self.lock(kind, name).await;
        let mut record = self.record(kind, name).await?;
        let before = record.shape();
        let (code, lang) = (body.code.clone(), body.lang);
        self.apply(kind, &mut record, body)?;
        let active = match record.active_version {
            Some(v) => self.store.version(kind, name, v, true).await?,
            None => None,
        };
        let lang = lang
            .or_else(|| active.as_ref().and_then(|a| Lang::of_format(&a.format)))
            .unwrap_or_default();
        let new_code = code.filter(|code| !is_active(active.as_ref(), code, lang));
        let (prepared, version) = match (new_code, &active) {
            (Some(code), _) => {
                let (prepared, version) = self.compile(kind, &record, &code, lang).await?;
                (Some(prepared), Some(version))
            }
            (None, Some(active)) if record.shape() != before => {
                (Some(self.prepare(kind, &record, active).await?), None)
            }
            (None, _) => (None, None),
        };
        let number = self
            .store
            .save_app(kind, &record.encode(), Save::Update, version)
            .await?
            .or(record.active_version);
        match prepared {
            Some(prepared) => self.activate(kind, &record, number.unwrap_or(0), prepared),
            None => self
                .deployer
                .registry()
                .set_access(kind, name, record.access()),
        }
        self.get(kind, name).await
    }

    /// Applies an update's fields (but its code) to `record`, each validated.
    fn apply(&self, kind: AppKind, record: &mut Record, body: UpdateApp) -> Result<(), AppsError> {
        if let Some(description) = body.description {
            record.description = description;
        }
        if let Some(enabled) = body.enabled {
            record.enabled = enabled;
        }
        if let Some(jwt_check) = body.jwt_check {
            record.jwt_check = jwt_check;
        }
        if let Some(permissions) = &body.permissions {
            let own = frontend::static_dir(&self.data_dir, &record.name);
            record.permissions = validate::permissions(permissions, &self.guard(&own))?;
        }
        if let Some(schema) = body.schema {
            record.schema = validate::schema(schema)?;
        }
        if let Some(limits) = body.limits {
            validate::limits(&limits, self.max_memory_mb)?;
            record.limits = limits;
        }
        if let Some(isolation) = body.isolation {
            check_isolation(kind, Some(isolation))?;
            record.isolation = Some(isolation);
        }
        if let Some(schedule) = &body.schedule {
            record.schedule = crate::schedules::validate(schedule)?;
        }
        record.updated_at = crate::store::now();
        Ok(())
    }

    /// Compiles source for `record`, and the version to store for it.
    async fn compile(
        &self,
        kind: AppKind,
        record: &Record,
        code: &str,
        lang: Lang,
    ) -> Result<(Prepared, NewVersion), AppsError> {
        let name = &record.name;
        let prepared = self
            .deployer
            .prepare_js(
                kind,
                name,
                &lang.file(name),
                code,
                self.spec(kind, record)?,
                self.compile_timeout(),
            )
            .await?;
        let version = NewVersion {
            format: lang.format(),
            sha256: sha256_hex(code.as_bytes()),
            artifact: prepared.artifact.clone(),
            code: Some(code.to_string()),
            component: None,
        };
        Ok((prepared, version))
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
        let existing = self.find(kind, name).await?;
        let save = if existing.is_some() {
            Save::Update
        } else {
            Save::Create
        };
        let mut record = existing.unwrap_or_else(|| Record::new(name, ""));
        record.updated_at = crate::store::now();
        if !keep_permissions {
            record.permissions = Default::default();
        }
        let prepared = self
            .deployer
            .prepare_component(kind, name, &wasm, self.spec(kind, &record)?)
            .await?;
        let version = NewVersion {
            format: "component",
            sha256: sha256_hex(&wasm),
            artifact: prepared.artifact.clone(),
            code: None,
            component: Some(wasm),
        };
        let number = self
            .store
            .save_app(kind, &record.encode(), save, Some(version))
            .await?;
        self.activate(kind, &record, number.unwrap_or(0), prepared);
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

    /// Makes an earlier version active again, from its cached artifact.
    pub async fn rollback(
        &self,
        kind: AppKind,
        name: &str,
        version: i64,
    ) -> Result<AppView, AppsError> {
        let _guard = self.lock(kind, name).await;
        let record = self.record(kind, name).await?;
        let target = self.stored_version(kind, name, version).await?;
        let prepared = self.prepare(kind, &record, &target).await?;
        self.store.set_active_version(kind, name, version).await?;
        self.activate(kind, &record, version, prepared);
        self.get(kind, name).await
    }
}

/// Whether `code` in `lang` is what the active version already holds.
fn is_active(active: Option<&VersionRow>, code: &str, lang: Lang) -> bool {
    active.is_some_and(|a| a.code.as_deref() == Some(code) && a.format == lang.format())
}
