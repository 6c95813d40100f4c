//! `kiln run`: a function once, locally; yields as JSON lines on stdout, then the result.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::{block_on, file_name, source_location};
use crate::app::App;
use crate::config::{Config, Isolation};
use crate::deploy::DeployError;
use crate::runtime::RunSpec;
use crate::runtime::caps::{Capabilities, Console};
use crate::runtime::function::{Pulled, Started};

pub(super) fn run_function(
    file: &Path,
    input: &str,
    timeout_ms: u64,
    data_dir: PathBuf,
) -> anyhow::Result<ExitCode> {
    let source =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let input: serde_json::Value = serde_json::from_str(input).context("--input is not JSON")?;
    let config = Config::one_shot(data_dir, Duration::from_millis(timeout_ms));
    let deployer = App::deployer(&config)?;
    let spec = RunSpec {
        max_concurrency: 1,
        capabilities: Arc::new(Capabilities::none(Console::Stderr)),
        ..RunSpec::new(Isolation::Request, config.limits)
    };
    let report = |error: crate::runtime::RunError| {
        eprintln!("error: {error}");
        if let crate::runtime::RunError::Thrown {
            stack: Some(stack), ..
        } = &error
        {
            eprintln!("{}", stack.trim_end());
        }
        ExitCode::FAILURE
    };
    block_on(async {
        let deployment = match deployer
            .function_once(
                &file_name(file, "function.js"),
                &source,
                &spec,
                crate::config::COMPILE_TIMEOUT,
            )
            .await
        {
            Ok(deployment) => deployment,
            Err(DeployError::Source { message, .. }) => {
                eprintln!("error: {}", source_location(file, &message));
                return Ok(ExitCode::FAILURE);
            }
            Err(other) => return Err(anyhow::Error::from(other)),
        };
        let reservation = match deployment.reserve() {
            Ok(reservation) => reservation,
            Err(error) => return Ok(report(error)),
        };
        match crate::runtime::function::start(deployment, reservation, "default", input.to_string())
            .await
        {
            Ok(Started::Value(json)) => println!("{}", json.as_deref().unwrap_or("null")),
            Ok(Started::Stream(mut steps)) => loop {
                match steps.next().await {
                    Ok(Pulled::Yielded(json)) => println!("{json}"),
                    Ok(Pulled::Done(json)) => {
                        println!("{}", json.as_deref().unwrap_or("null"));
                        break;
                    }
                    Err(error) => return Ok(report(error)),
                }
            },
            Err(error) => return Ok(report(error)),
        }
        Ok(ExitCode::SUCCESS)
    })?
}
