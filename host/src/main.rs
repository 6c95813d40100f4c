//! The `kiln` command: serve apps, compile JavaScript to components.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_error_backtraces();
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

/// Errors that are part of normal operation (wasmtime builds one each time an instance's store is
/// dropped) must not capture a backtrace, which costs more than serving a request: with
/// `RUST_BACKTRACE` set and `RUST_LIB_BACKTRACE` unset, only panics keep theirs.
fn quiet_error_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        #[expect(unsafe_code, reason = "set_var before any other thread starts")]
        // SAFETY: this is the first thing `main` does; no other thread exists yet to read the
        // environment.
        unsafe {
            std::env::set_var("RUST_LIB_BACKTRACE", "0");
        }
    }
}
