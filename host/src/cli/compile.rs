//! `kiln compile` (a JavaScript app into a standalone wasi-http component) and the hidden
//! `kiln engine` (the engine pre-initialised without an app).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::{block_on, file_name, source_location};
use crate::app::App;
use crate::compile::CompileError;
use crate::config::Config;
use crate::kind::AppKind;

pub(super) fn engine_base(output: &Path) -> anyhow::Result<ExitCode> {
    let scratch = tempfile::tempdir()?;
    let config = Config::one_shot(scratch.path().to_path_buf(), Duration::from_secs(30));
    let deployer = App::deployer(&config)?;
    let base = block_on(deployer.compiler().engine_base())??;
    std::fs::write(output, &base).with_context(|| format!("writing {}", output.display()))?;
    eprintln!("wrote {} ({} bytes)", output.display(), base.len());
    Ok(ExitCode::SUCCESS)
}

pub(super) fn compile(file: &Path, output: &Path, data_dir: PathBuf) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let source =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let config = Config::one_shot(data_dir, Duration::from_secs(30));
    let deployer = App::deployer(&config)?;
    let compiled = block_on(deployer.compiler().snapshot(
        &file_name(file, "app.js"),
        &source,
        AppKind::Service,
        crate::config::COMPILE_TIMEOUT,
    ))?;
    match compiled {
        Ok(component) => {
            std::fs::write(output, &component)
                .with_context(|| format!("writing {}", output.display()))?;
            eprintln!(
                "compiled {} -> {} ({} bytes) in {} ms",
                file.display(),
                output.display(),
                component.len(),
                started.elapsed().as_millis()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(CompileError::Source { message, .. }) => {
            eprintln!("error: {}", source_location(file, &message));
            Ok(ExitCode::FAILURE)
        }
        Err(other) => Err(other.into()),
    }
}
