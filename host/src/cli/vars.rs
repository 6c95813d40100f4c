//! `kiln vars` and `kiln secret`: an app's variables and secrets on the server of `kiln login`
//! (`/admin-api/v2/{kind}/{name}/vars`). A secret's value is read from standard input (without
//! echo on a terminal), so that it stays out of the shell's history and the process list.

use std::io::{BufRead as _, IsTerminal as _};
use std::process::ExitCode;

use reqwest::Method;
use serde_json::json;

use super::remote::Remote;

/// What `kiln vars` does.
#[derive(Debug, clap::Subcommand)]
pub enum VarsCommand {
    /// List an app's variables (a secret shows as `********`).
    List {
        /// The app.
        name: String,
        /// It is a function.
        #[arg(long)]
        function: bool,
    },
    /// Set a plain variable; the app's served version picks it up on every node.
    Set {
        /// The app.
        name: String,
        /// The variable's name.
        key: String,
        /// Its value.
        value: String,
        /// It is a function.
        #[arg(long)]
        function: bool,
    },
    /// Delete a variable or a secret.
    Delete {
        /// The app.
        name: String,
        /// The variable's name.
        key: String,
        /// It is a function.
        #[arg(long)]
        function: bool,
    },
}

/// What `kiln secret` does.
#[derive(Debug, clap::Subcommand)]
pub enum SecretCommand {
    /// Store a secret (encrypted at rest, never shown again), its value read from standard input.
    Put {
        /// The app.
        name: String,
        /// The secret's name.
        key: String,
        /// It is a function.
        #[arg(long)]
        function: bool,
    },
}

fn vars_path(name: &str, function: bool) -> String {
    let kind = if function { "functions" } else { "services" };
    format!("/admin-api/v2/{kind}/{name}/vars")
}

/// Runs a `kiln vars` command.
pub(super) fn vars(command: VarsCommand) -> anyhow::Result<ExitCode> {
    let remote = Remote::current()?;
    match command {
        VarsCommand::List { name, function } => {
            let answer = remote.send(Method::GET, &vars_path(&name, function), None)?;
            if !answer.ok() {
                anyhow::bail!("{}", answer.sentence());
            }
            let mut table = format!("{:<32} {:<7} {}\n", "KEY", "SECRET", "VALUE");
            for var in answer.body["vars"].as_array().into_iter().flatten() {
                table.push_str(&format!(
                    "{:<32} {:<7} {}\n",
                    var["key"].as_str().unwrap_or_default(),
                    if var["secret"] == true { "yes" } else { "no" },
                    var["value"].as_str().unwrap_or_default(),
                ));
            }
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), table.as_bytes());
        }
        VarsCommand::Set {
            name,
            key,
            value,
            function,
        } => set(&remote, &name, &key, &value, false, function)?,
        VarsCommand::Delete {
            name,
            key,
            function,
        } => {
            let path = format!("{}/{key}", vars_path(&name, function));
            let answer = remote.send(Method::DELETE, &path, None)?;
            if !answer.ok() {
                anyhow::bail!("{}", answer.sentence());
            }
            println!("deleted {key} of '{name}'");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a `kiln secret` command.
pub(super) fn secret(command: SecretCommand) -> anyhow::Result<ExitCode> {
    let SecretCommand::Put {
        name,
        key,
        function,
    } = command;
    let remote = Remote::current()?;
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("value of {key} (not shown): "))?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    if value.is_empty() {
        anyhow::bail!("no value given for {key}: nothing was stored");
    }
    set(&remote, &name, &key, &value, true, function)?;
    Ok(ExitCode::SUCCESS)
}

fn set(
    remote: &Remote,
    name: &str,
    key: &str,
    value: &str,
    secret: bool,
    function: bool,
) -> anyhow::Result<()> {
    let path = format!("{}/{key}", vars_path(name, function));
    let answer = remote.json(
        Method::PUT,
        &path,
        &json!({ "value": value, "secret": secret }),
    )?;
    if !answer.ok() {
        anyhow::bail!("{}", answer.sentence());
    }
    let what = if secret { "secret" } else { "variable" };
    println!("set the {what} {key} of '{name}'; new requests see it");
    Ok(())
}
