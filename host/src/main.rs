//! The `kiln` command: serve apps, compile JavaScript to components.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kiln::cli::Cli::parse();
    kiln::logging::init(cli.log_format());
    let code = match kiln::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            kiln::logging::flush();
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    };
    kiln::logging::flush();
    code
}
