//! The `kiln` command: serve apps, compile JavaScript to components.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kiln::cli::Cli::parse();
    kiln::logging::init(cli.log_format());
    match kiln::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
