//! Variables and secrets: an app's own `KEY = value` pairs (set through the admin API, or named
//! in a folder's `kiln.json`), given to each new instance as environment variables
//! (`wasi:cli/environment`, so `Deno.env.get`), through `wasi:config/store`, and named in
//! `KILN_VARS` so that the JavaScript engine binds each to `env.KEY`. Their values never appear
//! in a log line or a `Debug` view.

use std::sync::Arc;

use wasmtime_wasi_config::WasiConfigVariables;

use super::{InstanceBuilder, Part};

/// The variable that names an instance's variables.
pub const NAMES_VARIABLE: &str = "KILN_VARS";

/// An app's variables, opened.
#[derive(Default)]
pub struct Vars {
    entries: Vec<(String, String)>,
    config: Arc<WasiConfigVariables>,
}

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Vars {
    /// The variables `entries` (names valid, values opened).
    pub fn new(entries: Vec<(String, String)>) -> Self {
        let config = Arc::new(entries.iter().cloned().collect());
        Self { entries, config }
    }
}

impl Part for Vars {
    /// What `wasi:config/store` answers from.
    type Instance = Arc<WasiConfigVariables>;

    fn prepare(&self, instance: &mut InstanceBuilder<'_>) -> anyhow::Result<Self::Instance> {
        if !self.entries.is_empty() {
            let mut names = String::new();
            for (name, value) in &self.entries {
                instance.wasi.env(name, value);
                if !names.is_empty() {
                    names.push(',');
                }
                names.push_str(name);
            }
            instance.wasi.env(NAMES_VARIABLE, names);
        }
        Ok(self.config.clone())
    }
}
