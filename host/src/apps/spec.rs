//! How a stored app runs: its grants, limits and isolation over the node's defaults.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::model::{LimitsSpec, Permissions};
use super::{Apps, AppsError, Record, frontend, validate};
use crate::config::{Isolation, Limits};
use crate::deploy::Deployer;
use crate::kind::AppKind;
use crate::runtime::RunSpec;
use crate::runtime::caps::{self, Capabilities};

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

impl Apps {
    /// The isolation an app gets: functions always a fresh instance, services their own or the
    /// node's.
    pub(super) fn isolation(&self, kind: AppKind, record: &Record) -> Isolation {
        match kind {
            AppKind::Function => Isolation::Request,
            AppKind::Service => record.isolation.unwrap_or(self.node.isolation),
        }
    }

    /// How an app is run: its grants, limits and isolation, defaults from the settings and the
    /// node. Stored grants are checked again (the database may be shared with other nodes).
    pub(super) fn spec(&self, kind: AppKind, record: &Record) -> Result<RunSpec, AppsError> {
        let settings = self.settings.get();
        let defaults = SpecDefaults {
            memory_mb: settings.default_memory_mb,
            timeout_ms: match kind {
                AppKind::Service => self.node.timeout.as_millis() as u64,
                AppKind::Function => settings.function_execution_timeout_ms,
            },
            max_memory_mb: self.max_memory_mb,
            max_requests_per_instance: self.node.max_requests_per_instance,
        };
        let mut permissions = record.permissions.clone();
        let own = frontend::static_dir(&self.data_dir, &record.name);
        if kind == AppKind::Service {
            // A grant on a frontend's assets names the directory on the node that received the
            // upload; each node serves them from its own copy.
            for grant in permissions.read.iter_mut() {
                if frontend::is_assets_dir(Path::new(grant.as_str()), &record.name) {
                    *grant = own.to_string_lossy().into_owned();
                }
            }
        }
        validate::stored_directories(&permissions, &self.guard(&own))?;
        run_spec(
            &record.name,
            &self.deployer,
            kind,
            &permissions,
            &record.limits,
            self.isolation(kind, record),
            &defaults,
            caps::vars::Vars::new(self.opened_vars(kind, record)?),
        )
    }
}

/// Functions always run in a fresh instance.
pub(super) fn check_isolation(
    kind: AppKind,
    isolation: Option<Isolation>,
) -> Result<(), AppsError> {
    if kind == AppKind::Function && isolation == Some(Isolation::Reuse) {
        return Err(AppsError::Invalid(
            "functions always run in a fresh instance: isolation must be 'request'".into(),
        ));
    }
    Ok(())
}

/// How the app `name` with these (validated) grants, limits, isolation and variables is run:
/// each grant becomes its capability part here, once, with what the node gives it from
/// `deployer` (the key-value backend, the calls between apps).
#[allow(clippy::too_many_arguments)] // one per part of the spec; a struct for them is the next step
pub fn run_spec(
    name: &str,
    deployer: &Deployer,
    kind: AppKind,
    permissions: &Permissions,
    limits: &LimitsSpec,
    isolation: Isolation,
    defaults: &SpecDefaults,
    vars: caps::vars::Vars,
) -> Result<RunSpec, AppsError> {
    let net = permissions
        .net
        .iter()
        .map(|entry| validate::net_grant(entry))
        .collect::<Result<Vec<_>, _>>()?;
    let capabilities = Capabilities {
        env: caps::env::Env::from_host(&permissions.env),
        files: caps::files::Files {
            read: permissions.read.iter().map(Into::into).collect(),
            write: permissions.write.iter().map(Into::into).collect(),
            assets: permissions
                .read
                .iter()
                .map(PathBuf::from)
                .find(|dir| frontend::is_assets_dir(dir, name)),
        },
        net: caps::outbound_http::Net::new(net),
        kv: caps::kv::Kv::new(
            permissions.kv.clone(),
            deployer.kv().map(|kv| kv.app(kind, name)),
        ),
        services: caps::services::Services::new(&permissions.services, deployer.dispatch()),
        vars,
        console: caps::console::ConsolePart::logged(deployer.logs().app(kind, name)),
    };
    Ok(RunSpec {
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
    })
}
