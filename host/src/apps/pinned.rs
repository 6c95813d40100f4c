//! Stored versions served beside the active one, for `name@version` routes: a client or a
//! canary that pins a version reaches it with the app's current grants and limits.

use std::sync::Arc;

use super::{Apps, AppsError};
use crate::kind::AppKind;
use crate::runtime::Deployment;

impl Apps {
    /// A stored version with its content; [`AppsError::NoSuchVersion`] if there is none.
    pub(super) async fn stored_version(
        &self,
        kind: AppKind,
        name: &str,
        version: i64,
    ) -> Result<crate::store::VersionRow, AppsError> {
        self.store
            .version(kind, name, version, true)
            .await?
            .ok_or_else(|| AppsError::NoSuchVersion {
                kind,
                name: name.to_string(),
                version,
            })
    }

    /// The deployment of the stored `version` of `name`, made on first use and kept among the
    /// few the registry holds; `None` when `version` is the one served (its slot serves it).
    pub async fn pinned(
        &self,
        kind: AppKind,
        name: &str,
        version: i64,
    ) -> Result<Option<Arc<Deployment>>, AppsError> {
        let registry = self.deployer.registry().clone();
        if let Some(deployment) = registry.pinned(kind, name, version) {
            return Ok(Some(deployment));
        }
        let generation = registry.generation();
        let record = self.record(kind, name).await?;
        if record.active_version == Some(version) {
            return Ok(None);
        }
        let row = self.stored_version(kind, name, version).await?;
        let prepared = self.prepare(kind, &record, &row).await?;
        Ok(Some(registry.pin(
            kind,
            name,
            version,
            prepared.into_deployment(),
            generation,
        )))
    }
}
