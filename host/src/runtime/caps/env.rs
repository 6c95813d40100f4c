//! Environment variables: only the granted ones, with the host's values when the app was
//! deployed.

use super::{InstanceBuilder, Part};

/// The granted variables and their values.
#[derive(Debug, Default)]
pub struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    /// The granted `names` that the host sets, with the host's values now.
    pub fn from_host(names: &[String]) -> Self {
        Self {
            vars: names
                .iter()
                .filter_map(|name| std::env::var(name).ok().map(|v| (name.clone(), v)))
                .collect(),
        }
    }
}

impl Part for Env {
    type Instance = ();

    fn prepare(&self, instance: &mut InstanceBuilder<'_>) -> anyhow::Result<()> {
        for (name, value) in &self.vars {
            instance.wasi.env(name, value);
        }
        Ok(())
    }
}
