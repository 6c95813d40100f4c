//! Keeping a node's cost proportional to the apps in use: once a second, idle instances and the
//! code of idle apps leave memory; every [`Tiering::WINDOW`], JavaScript apps that create
//! instances often are promoted to their own snapshot and long-cold snapshots go back to the shared engine; unused artifacts
//! are removed from the cache.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::Deployer;
use crate::config::Tiering;
use crate::kind::AppKind;
use crate::metrics::Occupancy;
use crate::runtime::{Code, Deployment, Parts, Tier, artifact};

/// How often the tiering loop looks.
const TICK: Duration = Duration::from_secs(1);
/// Unused artifacts are looked for every this many ticks (and at the next tick after a removal).
const COLLECT_EVERY: u64 = 10;
/// Bytes that memory slots no instance uses may keep resident before the shared engine is renewed.
const UNUSED_SLOTS_KEPT: usize = 64 << 20;

impl Deployer {
    /// Starts the loop that unloads, promotes, demotes and collects, on a thread of its own.
    pub fn start_tiering(self: &Arc<Self>) -> anyhow::Result<()> {
        let deployer = Arc::downgrade(self);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("kiln-tiering".into())
            .spawn(move || {
                let mut ticks = 0u64;
                loop {
                    std::thread::sleep(TICK);
                    let Some(deployer) = deployer.upgrade() else {
                        return;
                    };
                    ticks += 1;
                    runtime.block_on(deployer.tick(ticks));
                }
            })?;
        Ok(())
    }

    /// One look at every deployment.
    pub(super) async fn tick(&self, ticks: u64) {
        let tiering = self.tiering;
        self.registry.sweep(tiering.idle_timeout);
        let window =
            tiering.promote_rps > 0 && ticks.is_multiple_of(Tiering::WINDOW.as_secs().max(1));
        for (kind, deployment) in self.registry.deployments() {
            let idle = deployment.idle_for();
            if idle >= tiering.idle_timeout && deployment.unload() {
                self.registry.metrics().unloaded();
            }
            if !window {
                continue;
            }
            // A snapshot makes a fresh instance cheaper; a warm one serves the same on either
            // tier (and the shared engine's code is shared). Apps that keep instantiating pay.
            let made = deployment.instantiations_since_last_look();
            let hot = made >= u64::from(tiering.promote_rps) * Tiering::WINDOW.as_secs();
            if hot && self.promote(kind, &deployment) {
                tracing::info!(app = %deployment.name, instances = made, "instantiated often: building its snapshot");
            }
            if deployment.tier == Tier::Snapshot && idle >= tiering.demote_after {
                self.demote(kind, &deployment).await;
            }
        }
        if ticks.is_multiple_of(COLLECT_EVERY) || self.collect_soon.swap(false, Ordering::Relaxed) {
            self.collect_garbage().await;
        }
        self.release_unused_slots(ticks).await;
    }

    /// Renews the shared engine when memory slots no instance uses hold more than
    /// [`UNUSED_SLOTS_KEPT`] (or an eighth of the idle budget) resident, at most once per idle
    /// timeout: the old copy's slots are released once its last instance has gone. Under steady
    /// load slots are reused and stay below the bound; after a burst of instances that have
    /// since gone (many apps called once, then idle) they do not.
    async fn release_unused_slots(&self, ticks: u64) {
        let Some(pool) = self.compiler.engine().pooling_allocator_metrics() else {
            return;
        };
        let unused = pool.unused_memory_bytes_resident() + pool.unused_table_bytes_resident();
        let bound = UNUSED_SLOTS_KEPT.max(self.registry.instances().budget().bytes / 8);
        let since = ticks - self.renewed_at.load(Ordering::Relaxed);
        let Some(shared) = self.base.get().cloned() else {
            return;
        };
        if unused <= bound || since < self.tiering.idle_timeout.as_secs().max(1) {
            return;
        }
        self.renewed_at.store(ticks, Ordering::Relaxed);
        match tokio::task::spawn_blocking(move || shared.renew()).await {
            Ok(Ok(())) => {
                self.registry.metrics().engine_renewed();
                tracing::debug!(
                    unused_bytes = unused,
                    "renewed the shared engine to release unused slots"
                );
            }
            Ok(Err(error)) => tracing::warn!(error = %error, "renewing the shared engine failed"),
            Err(error) => tracing::warn!(error = %error, "renewing the shared engine failed"),
        }
    }

    /// Serves a cold snapshot's app as bytecode again (its artifact is collected afterwards).
    async fn demote(&self, kind: AppKind, deployment: &Deployment) {
        let Some(js) = &deployment.js else {
            return;
        };
        let bytecode = match self.bytecode(&js.file, &js.source, kind, js.timeout).await {
            Ok((bytecode, base)) => (bytecode, base),
            Err(error) => {
                tracing::warn!(app = %deployment.name, error = %error, "demoting failed; the snapshot stays");
                return;
            }
        };
        let parts = Parts {
            name: deployment.name.to_string(),
            code: Code::Shared(bytecode.1),
            tier: Tier::Bytecode,
            artifact: js.key.clone(),
            stdin: Some(Bytes::from(bytecode.0)),
            js: Some(js.clone()),
        };
        let demoted = Deployment::new(
            parts,
            self.compiler.engine(),
            &deployment.spec,
            self.registry.instances().clone(),
        );
        if self
            .registry
            .replace_if_current(kind, deployment.version, demoted)
        {
            self.registry.metrics().demoted();
            self.collect_soon.store(true, Ordering::Relaxed);
            tracing::info!(app = %deployment.name, "cold: back on the shared engine");
        }
    }

    /// Asks for unused artifacts to be removed at the next tick (after an app is removed).
    pub fn collect_soon(&self) {
        self.collect_soon.store(true, Ordering::Relaxed);
    }

    /// Removes the cached artifacts no deployment uses (a removed app's, a superseded version's,
    /// a demoted snapshot's); the shared engine's stays. Skipped while a deploy is between its
    /// cache lookup and serving (tried again at the next tick). Returns the bytes freed.
    pub async fn collect_garbage(&self) -> Option<u64> {
        let Ok(_exclusive) = self.collecting.try_write() else {
            self.collect_soon.store(true, Ordering::Relaxed);
            return None;
        };
        let used: HashSet<PathBuf> = self
            .registry
            .deployments()
            .iter()
            .filter_map(|(_, d)| d.artifact_path().map(PathBuf::from))
            .chain(self.registry.pinned_artifacts())
            .collect();
        let dir = self.compiler.cache_dir().to_path_buf();
        let metrics = self.registry.metrics().clone();
        let freed = tokio::task::spawn_blocking(move || {
            let mut freed = 0;
            for path in artifact::list(&dir) {
                if !used.contains(&path) {
                    let bytes = artifact::remove(&path);
                    tracing::debug!(path = %path.display(), bytes, "removed an unused artifact");
                    metrics.collected(bytes);
                    freed += bytes;
                }
            }
            freed
        })
        .await
        .ok()?;
        Some(freed)
    }

    /// Deployed vs loaded apps, instances by state, artifact bytes on disk.
    pub fn occupancy(&self) -> Occupancy {
        let mut occupancy = Occupancy::default();
        for (_, deployment) in self.registry.deployments() {
            occupancy.apps_deployed += 1;
            occupancy.apps_loaded += usize::from(deployment.is_loaded());
            match deployment.tier {
                Tier::Bytecode => occupancy.apps_bytecode += 1,
                Tier::Snapshot => occupancy.apps_snapshot += 1,
                Tier::Component => occupancy.apps_component += 1,
            }
        }
        let live = self.registry.live_instances();
        occupancy.instances_idle = self.registry.instances().idle().min(live);
        occupancy.instances_busy = live - occupancy.instances_idle;
        occupancy.idle_bytes = self.registry.instances().idle_bytes();
        occupancy.idle_budget_bytes = self.registry.instances().budget().bytes;
        occupancy.artifact_bytes = artifact::total_bytes(self.compiler.cache_dir());
        if let Some(pool) = self.compiler.engine().pooling_allocator_metrics() {
            occupancy.unused_slot_bytes =
                pool.unused_memory_bytes_resident() + pool.unused_table_bytes_resident();
        }
        self.registry.metrics().fill(&mut occupancy);
        occupancy.app_log_bytes = self.logs.kept_bytes();
        occupancy.log_lines_missed = self.logs.missed_lines();
        occupancy
    }
}
