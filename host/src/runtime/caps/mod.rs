//! Capabilities as parts. Each part is one module: its grant is parsed and checked once, when
//! the app is deployed, into the part's app-wide value (never again per call), and each new
//! instance gets from it what the grant allows ([`Part::prepare`]) — WASI context entries, and
//! state of its own that the instance's store keeps ([`Part::Instance`]). Nothing of the host is
//! visible unless a part opens it.

pub mod connections;
pub mod console;
pub mod env;
pub mod files;
pub mod kv;
pub mod limits;
pub mod net_grant;
pub mod outbound_http;
pub mod services;
pub mod vars;

use std::sync::Arc;

use wasmtime_wasi::WasiCtxBuilder;

pub use console::Console;

/// One capability, made for an app at deploy and prepared for each of its instances.
pub trait Part {
    /// What an instance keeps of this capability (`()` when the WASI context holds it all).
    type Instance;

    /// Gives a new instance what the grant allows. An error means the instance cannot be made
    /// as granted; it is never made with less or more.
    fn prepare(&self, instance: &mut InstanceBuilder<'_>) -> anyhow::Result<Self::Instance>;
}

/// An instance being made: what parts add to.
pub struct InstanceBuilder<'a> {
    /// The app's name (log lines, errors).
    pub app: &'a Arc<str>,
    /// The WASI context being built.
    pub wasi: &'a mut WasiCtxBuilder,
    /// The id of the request the instance serves, shared with its console.
    pub request: &'a console::RequestTag,
    /// The counters of the runtime the instance belongs to.
    pub metrics: &'a Arc<crate::metrics::Metrics>,
}

/// The capabilities a deployment was granted, one part each.
#[derive(Debug, Default)]
pub struct Capabilities {
    /// Environment variables.
    pub env: env::Env,
    /// Preopened directories.
    pub files: files::Files,
    /// Outgoing HTTP.
    pub net: outbound_http::Net,
    /// Key-value stores.
    pub kv: kv::Kv,
    /// The app's variables and secrets.
    pub vars: vars::Vars,
    /// The apps it may call in the process.
    pub services: services::Services,
    /// Where `console.*` goes.
    pub console: console::ConsolePart,
}

/// What an instance keeps of its capabilities.
pub struct InstanceCaps {
    /// The outgoing-HTTP policy (the wasi-http hooks).
    pub network: outbound_http::NetworkPolicy,
    /// The granted key-value stores.
    pub kv: kv::Kv,
    /// What `wasi:config/store` answers from.
    pub config: Arc<wasmtime_wasi_config::WasiConfigVariables>,
}

impl Capabilities {
    /// Capabilities that grant nothing, with the console going to `console`.
    pub fn none(console: Console) -> Self {
        Self {
            console: console::ConsolePart::new(console),
            ..Self::default()
        }
    }

    /// Prepares every part for a new instance.
    pub fn prepare(&self, instance: &mut InstanceBuilder<'_>) -> anyhow::Result<InstanceCaps> {
        self.console.prepare(instance)?;
        self.env.prepare(instance)?;
        let config = self.vars.prepare(instance)?;
        self.files.prepare(instance)?;
        let kv = self.kv.prepare(instance)?;
        Ok(InstanceCaps {
            network: self
                .net
                .prepare(instance)?
                .with_kv(kv.clone())
                .with_services(self.services.prepare(instance)?),
            kv,
            config,
        })
    }
}
