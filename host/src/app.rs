//! The one place that wires Kiln together: the runtime, the compiler, the registry, the
//! deployer, and in platform mode the store, the settings and the control plane.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use anyhow::Context as _;

use crate::apps::Apps;
use crate::cluster::Cluster;
use crate::compile::Compiler;
use crate::config::Config;
use crate::deploy::Deployer;
use crate::runtime::caps::kv::KvService;
use crate::runtime::{self, Registry};
use crate::settings::LiveSettings;
use crate::store::kv::KeyValue;
use crate::store::{PostgresStore, Shared, SqliteStore, Store};

/// A running Kiln: what every request handler sees.
pub struct App {
    /// The configuration it was started with.
    pub config: Config,
    /// Deployed apps by kind and name.
    pub registry: Arc<Registry>,
    /// Compiles and deploys into the registry.
    pub deployer: Arc<Deployer>,
    /// The store, settings and admin API (absent with `--app`).
    pub platform: Option<Platform>,
    /// The app served at `/` by `kiln serve --app`.
    pub root_app: Option<String>,
    /// When the server started.
    pub started: Instant,
    /// Requests routed since start.
    pub requests_total: AtomicU64,
    /// The runtime the control plane (database, compiles) runs on, if not the caller's.
    pub control: Option<tokio::runtime::Handle>,
}

/// Platform mode: apps stored in a database and managed through the admin API.
pub struct Platform {
    /// The live settings.
    pub settings: Arc<LiveSettings>,
    /// The control plane.
    pub apps: Arc<Apps>,
    /// This node's place in a cluster (with a PostgreSQL store).
    pub cluster: Option<Arc<Cluster>>,
}

/// Asked for the platform of a server started with `--app`.
#[derive(Debug, thiserror::Error)]
#[error("this route exists only in platform mode (kiln serve without --app)")]
pub struct NotPlatform;

impl App {
    /// The runtime pieces shared by every mode: engine, linker, compiler, registry, deployer.
    pub fn deployer(config: &Config) -> anyhow::Result<Arc<Deployer>> {
        let engine = runtime::engine(config)?;
        let linker = runtime::linker(&engine)?;
        let registry = Arc::new(Registry::new());
        let compiler = Arc::new(Compiler::new(
            engine,
            linker,
            &config.cache_dir(),
            registry.metrics().clone(),
        ));
        let mut tiering = config.tiering;
        // Idle instances leave a quarter of the instance slots to requests that need a fresh one.
        let slots = config.max_instances as usize;
        tiering.max_idle_instances = tiering.max_idle_instances.min(slots - slots / 4);
        Deployer::new(compiler, registry, tiering)
    }

    /// A server for one app folder (`kiln serve --app`), named `root_app`.
    pub fn single(config: Config, root_app: String) -> anyhow::Result<Arc<Self>> {
        let deployer = Self::deployer(&config)?;
        Ok(Arc::new(Self::assemble(
            config,
            deployer,
            None,
            Some(root_app),
            None,
        )))
    }

    /// A platform server: opens the store, loads the settings (the secret from `env_secret` or
    /// the store, generated on first start), stores the seeds on first start, and marks every
    /// stored app pending. [`Apps::restore_all`] deploys them.
    pub async fn open_platform(
        config: Config,
        env_secret: Option<String>,
        control: Option<tokio::runtime::Handle>,
    ) -> anyhow::Result<Arc<Self>> {
        let deployer = Self::deployer(&config)?;
        type Opened = (Arc<dyn Store>, Option<Arc<dyn Shared>>, Arc<dyn KeyValue>);
        let (store, shared, kv): Opened = match &config.database_url {
            Some(url) => {
                let store = Arc::new(
                    PostgresStore::open(url)
                        .await
                        .context("opening the PostgreSQL store (--database)")?,
                );
                (store.clone(), Some(store.clone()), store)
            }
            None => {
                let store = Arc::new(SqliteStore::open(&config.data_dir).await?);
                let kv = Arc::new(crate::store::kv_sqlite::SqliteKv::open(&config.data_dir)?);
                (store, None, kv)
            }
        };
        let (settings, first_start) = LiveSettings::open(
            store.clone(),
            env_secret,
            (config.limits.memory_bytes >> 20) as u64,
        )
        .await?;
        let settings = Arc::new(settings);
        let kv = {
            let settings = settings.clone();
            KvService::new(kv, move || settings.get().kv_quota_bytes())
        };
        deployer.set_kv(kv.clone());
        kv.start_collecting(&tokio::runtime::Handle::current());
        let apps = Arc::new(Apps::new(
            store,
            settings.clone(),
            deployer.clone(),
            &config,
        ));
        if first_start {
            apps.seed().await?;
        }
        apps.mark_pending().await?;
        let cluster =
            shared.map(|store| Arc::new(Cluster::new(store, apps.clone(), settings.clone())));
        let platform = Platform {
            settings,
            apps,
            cluster,
        };
        let app = Arc::new(Self::assemble(
            config,
            deployer,
            Some(platform),
            None,
            control,
        ));
        crate::http::calls::install(&app);
        Ok(app)
    }

    fn assemble(
        config: Config,
        deployer: Arc<Deployer>,
        platform: Option<Platform>,
        root_app: Option<String>,
        control: Option<tokio::runtime::Handle>,
    ) -> Self {
        Self {
            config,
            registry: deployer.registry().clone(),
            deployer,
            platform,
            root_app,
            started: Instant::now(),
            requests_total: AtomicU64::new(0),
            control,
        }
    }

    /// The platform, or [`NotPlatform`] with `--app`.
    pub fn platform(&self) -> Result<&Platform, NotPlatform> {
        self.platform.as_ref().ok_or(NotPlatform)
    }

    /// The largest request body a service or function receives.
    pub fn max_request_bytes(&self) -> usize {
        self.platform
            .as_ref()
            .map_or(crate::config::APP_MAX_REQUEST_BYTES, |p| {
                p.settings.get().max_request_bytes()
            })
    }

    /// Starts unloading, promoting, demoting and collecting in the background.
    pub fn start_tiering(self: &Arc<Self>) -> anyhow::Result<()> {
        self.deployer.start_tiering()
    }
}
