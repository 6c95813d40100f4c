//! What the admin API shows of apps: stored records with their active version and what this
//! node serves of them.

use super::model::{AppView, RunList, RunView, VersionView};
use super::{Apps, AppsError, Record};
use crate::kind::AppKind;

impl Apps {
    /// The view of a record; with its source when `with_code`.
    async fn view(
        &self,
        kind: AppKind,
        record: Record,
        with_code: bool,
    ) -> Result<AppView, AppsError> {
        let active = match record.active_version {
            Some(v) => self.store.version(kind, &record.name, v, with_code).await?,
            None => None,
        };
        let deployed = self.deployer.registry().get(kind, &record.name);
        let isolation = self.isolation(kind, &record);
        let effective = deployed
            .as_ref()
            .map_or(isolation, |d| d.effective_isolation());
        Ok(AppView {
            isolation: isolation.as_str().into(),
            effective_isolation: effective.as_str().into(),
            tier: deployed.map(|d| d.tier.as_str().to_string()),
            kind: active.as_ref().map_or("js".into(), |v| v.format.clone()),
            sha256: active.as_ref().map(|v| v.sha256.clone()),
            code: active.and_then(|v| v.code),
            name: record.name,
            description: record.description,
            enabled: record.enabled,
            jwt_check: record.jwt_check,
            version: record.active_version,
            permissions: record.permissions,
            schema: record.schema,
            limits: record.limits,
            schedule: record.schedule,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }

    /// Every app of a kind, without code.
    pub async fn list(&self, kind: AppKind) -> Result<Vec<AppView>, AppsError> {
        let mut all = Vec::new();
        for row in self.store.apps(kind).await? {
            all.push(self.view(kind, Record::decode(kind, row)?, false).await?);
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
        let record = self.record(kind, name).await?;
        self.view(kind, record, true).await
    }

    /// A service's stored OpenAPI document.
    pub async fn schema(&self, name: &str) -> Result<Option<serde_json::Value>, AppsError> {
        Ok(self.record(AppKind::Service, name).await?.schema)
    }

    /// The versions of an app, oldest first.
    pub async fn versions(&self, kind: AppKind, name: &str) -> Result<Vec<VersionView>, AppsError> {
        let record = self.record(kind, name).await?;
        Ok(self
            .store
            .versions(kind, name)
            .await?
            .into_iter()
            .map(|v| VersionView {
                active: Some(v.version) == record.active_version,
                version: v.version,
                kind: v.format,
                sha256: v.sha256,
                created_at: v.created_at,
            })
            .collect())
    }

    /// The recorded scheduled runs of an app (stored, or a service with a schedule served from
    /// a folder), newest first.
    pub async fn runs(&self, kind: AppKind, name: &str) -> Result<RunList, AppsError> {
        let from_folder = kind == AppKind::Service
            && self
                .deployer
                .folder_schedules()
                .iter()
                .any(|(folder, _)| folder == name);
        if !from_folder {
            self.record(kind, name).await?;
        }
        let runs = self.store.runs(kind, name).await?;
        Ok(RunList {
            runs: runs
                .into_iter()
                .map(|run| RunView {
                    scheduled_time: crate::schedules::at(run.scheduled_ms)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                        .unwrap_or_default(),
                    cron: run.cron,
                    node: run.node,
                    request_id: run.request_id,
                    started_at: run.started_at,
                    status: run.status,
                    http_status: run.http_status,
                    duration_ms: run.duration_ms,
                    error: run.error,
                })
                .collect(),
        })
    }
}
