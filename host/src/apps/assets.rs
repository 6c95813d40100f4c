//! Hosted frontends' files: a service's static directory, stored as an archive beside it so
//! that every node unpacks the same files.
//!
//! An upload is one step with one undo: the archive is unpacked beside the live directory and
//! stored before the service (so a node never sees the new version with the old files); if the
//! service is not saved, the store gets its previous archive back and the unpacked files go.

use std::path::{Path, PathBuf};

use super::model::{CreateApp, Permissions, UpdateApp};
use super::{Apps, AppsError, frontend, sha256_hex};
use crate::kind::AppKind;

/// What an upload changed, to be undone if the service is not saved.
struct Undo {
    /// The static directory did not exist before.
    made: Option<PathBuf>,
    /// The archive the store held before (none: there was none).
    previous: Option<Vec<u8>>,
}

impl Apps {
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
        super::validate::name(name)?;
        let assets = frontend::static_dir(&self.data_dir, name);
        let parent = self.data_dir.join("static");
        let unpacking = archive.clone();
        let fresh = tokio::task::spawn_blocking(move || frontend::extract(&unpacking, &parent))
            .await
            .map_err(|e| AppsError::Internal(e.into()))??;
        // The grant names the directory, so it must exist before the service is validated.
        let undo = Undo {
            made: (!assets.exists()).then(|| assets.clone()),
            previous: self.store.assets(name).await?,
        };
        std::fs::create_dir_all(&assets).map_err(|e| AppsError::Internal(e.into()))?;
        let sha = sha256_hex(&archive);
        self.store.save_assets(name, &sha, &archive).await?;
        match self.save_frontend(name, code, &assets).await {
            Ok(created) => {
                frontend::swap_in(fresh, &assets).map_err(AppsError::Internal)?;
                frontend::mark_unpacked(&self.data_dir, name, &sha).map_err(AppsError::Internal)?;
                Ok((created, assets))
            }
            Err(error) => {
                self.undo(name, undo).await;
                Err(error)
            }
        }
    }

    /// Creates or updates the service of a frontend, granted its static directory.
    async fn save_frontend(
        &self,
        name: &str,
        code: String,
        assets: &Path,
    ) -> Result<bool, AppsError> {
        let grant = assets.to_string_lossy().into_owned();
        match self.find(AppKind::Service, name).await? {
            Some(record) => {
                let mut permissions = record.permissions;
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
                    schedule: None,
                };
                self.create(AppKind::Service, create).await.map(|_| true)
            }
        }
    }

    /// Puts back what a failed upload changed.
    async fn undo(&self, name: &str, undo: Undo) {
        if let Some(dir) = undo.made {
            let _ = std::fs::remove_dir(dir);
        }
        let restored = match undo.previous {
            Some(old) => self.store.save_assets(name, &sha256_hex(&old), &old).await,
            None => self.store.delete_assets(name).await,
        };
        if let Err(error) = restored {
            tracing::error!(app = %name, error = %error, "could not put the previous frontend archive back");
        }
    }

    /// Unpacks a service's frontend assets as stored by the node that received them, unless
    /// this node has them already.
    pub(super) async fn sync_assets(&self, name: &str) -> Result<(), AppsError> {
        let stored = self.store.assets_sha256(name).await?;
        if stored.is_none() || stored == frontend::unpacked_sha256(&self.data_dir, name) {
            return Ok(());
        }
        let Some(archive) = self.store.assets(name).await? else {
            return Ok(());
        };
        let sha = sha256_hex(&archive);
        if Some(&sha) != stored.as_ref() {
            return Err(AppsError::Corrupt(format!(
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
    pub(super) fn remove_assets(&self, name: &str) {
        let assets = frontend::static_dir(&self.data_dir, name);
        if assets.exists()
            && let Err(error) = std::fs::remove_dir_all(&assets)
        {
            tracing::warn!(app = %name, error = %error, "could not remove the static assets");
        }
        frontend::forget_unpacked(&self.data_dir, name);
    }
}
