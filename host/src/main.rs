//! The `kiln` command: serve apps, compile JavaScript to components.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the C library's allocator: the request path allocates and frees many small
/// objects across threads (hyper, the component model's resource tables), where glibc's malloc
/// cost ~10 % of a reused instance's request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
