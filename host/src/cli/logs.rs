//! `kiln logs NAME [--follow] [--json]`: an app's recent log lines on the server of `kiln login`
//! (its request lines and console output), and with `--follow` its new lines as they come.

use std::io::{BufRead as _, Write as _};
use std::process::ExitCode;

use super::remote::Remote;

/// Prints the last `lines` lines of the app, then (with `follow`) each new one until the server
/// ends the stream (the app was removed) or the user stops the command.
pub(super) fn logs(
    name: &str,
    function: bool,
    lines: usize,
    follow: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let remote = Remote::current()?;
    let kind = if function { "functions" } else { "services" };
    let path = format!("/admin-api/v2/{kind}/{name}/logs?lines={lines}&follow={follow}");
    let response = remote.open(&path)?;
    let mut out = std::io::stdout().lock();
    if !follow {
        let body: serde_json::Value = response.json()?;
        for line in body["lines"].as_array().into_iter().flatten() {
            if print(&mut out, line, json).is_err() {
                break;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut event = None::<String>;
    for text in std::io::BufReader::new(response).lines() {
        let text = text?;
        if let Some(name) = text.strip_prefix("event: ") {
            event = Some(name.to_string());
        } else if let Some(data) = text.strip_prefix("data: ") {
            let value: serde_json::Value = serde_json::from_str(data)?;
            let written = match event.take().as_deref() {
                Some("missed") => writeln!(
                    out,
                    "… {} lines missed (this terminal read too slowly)",
                    value["missed"]
                ),
                _ => print(&mut out, &value, json),
            };
            // A reader that stops early (`| head`) ends the command quietly.
            if written.and_then(|()| out.flush()).is_err() {
                break;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line: as the server sent it (`json`), or `TIME SOURCE [REQUEST] MESSAGE`.
fn print(
    out: &mut impl std::io::Write,
    line: &serde_json::Value,
    json: bool,
) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{line}");
    }
    let field = |name: &str| line[name].as_str().unwrap_or("-").to_string();
    writeln!(
        out,
        "{} {:<7} [{}] {}",
        field("time"),
        field("source"),
        field("request_id"),
        field("message"),
    )
}
