//! `kiln login`, `kiln deploy`, `kiln apps`, `kiln versions`, `kiln rollback` and `kiln delete`:
//! a running Kiln driven through its admin API.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::remote::{Answer, Remote};
use crate::app_dir::{ENTRIES, MANIFEST, Manifest};

/// `kiln login`: checks the token against the server, then saves both.
pub(super) fn login(server: &str, token: Option<String>) -> anyhow::Result<ExitCode> {
    let token = match token {
        Some(token) => token,
        None => {
            eprint!("token (from `kiln token` on the server): ");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim().to_string()
        }
    };
    let remote = Remote {
        server: server.trim_end_matches('/').to_string(),
        token,
    };
    let answer = remote.send(Method::GET, "/admin-api/v2/services", None)?;
    if !answer.ok() {
        anyhow::bail!("{} refused the token: {}", remote.server, answer.sentence());
    }
    let path = remote.save()?;
    println!(
        "logged in to {} (saved in {})",
        remote.server,
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// What `kiln deploy` uploads.
struct Upload {
    name: String,
    entry: PathBuf,
    manifest: Map<String, Value>,
}

impl Upload {
    /// The app at `path`: a folder (its entry file and `kiln.json`) or one file.
    fn at(path: &Path, name: Option<String>) -> anyhow::Result<Upload> {
        let path = std::path::absolute(path)?;
        let (dir, entry) = if path.is_dir() {
            let entry = ENTRIES
                .iter()
                .map(|e| path.join(e))
                .find(|p| p.is_file())
                .with_context(|| {
                    format!(
                        "{} holds none of {}: nothing to deploy",
                        path.display(),
                        ENTRIES.join(", ")
                    )
                })?;
            (path.clone(), entry)
        } else if path.is_file() {
            (
                path.parent().map(Path::to_path_buf).unwrap_or_default(),
                path.clone(),
            )
        } else {
            anyhow::bail!("{} does not exist", path.display());
        };
        let manifest_path = dir.join(MANIFEST);
        let manifest = if path.is_dir() && manifest_path.is_file() {
            let text = std::fs::read_to_string(&manifest_path)?;
            let checked: Result<Manifest, _> = serde_json::from_str(&text);
            checked.with_context(|| format!("{} is not valid", manifest_path.display()))?;
            match serde_json::from_str(&text)? {
                Value::Object(fields) => fields,
                _ => Map::new(),
            }
        } else {
            Map::new()
        };
        let stem = entry
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let name = match name {
            Some(name) => name,
            None if path.is_file() && !matches!(stem, "index" | "app") => stem.to_string(),
            None => dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string(),
        };
        crate::apps::validate::name(&name)
            .map_err(|e| anyhow::anyhow!("{e} (choose one with --name)"))?;
        Ok(Upload {
            name,
            entry,
            manifest,
        })
    }

    /// The admin API fields `kiln.json` sets (not its variables, which go one by one).
    fn settings(&self) -> Map<String, Value> {
        let mut settings = self.manifest.clone();
        settings.remove("vars");
        settings
    }
}

/// `kiln deploy`: creates or updates the app, prints its version and URL; a compile error is
/// printed as `file:line:col` with the line and a caret, and exits 1.
pub(super) fn deploy(
    path: &Path,
    name: Option<String>,
    function: bool,
) -> anyhow::Result<ExitCode> {
    let remote = Remote::current()?;
    let upload = Upload::at(path, name)?;
    let (kind, what) = if function {
        ("functions", "function")
    } else {
        ("services", "service")
    };
    let name = &upload.name;
    let file = upload
        .entry
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or_default()
        .to_string();
    let bytes = std::fs::read(&upload.entry)
        .with_context(|| format!("reading {}", upload.entry.display()))?;
    println!(
        "deploying {file} ({}) as the {what} '{name}' to {}",
        size(bytes.len()),
        remote.server
    );
    let app_path = format!("/admin-api/v2/{kind}/{name}");
    let current = remote.send(Method::GET, &app_path, None)?;
    let exists = match current.status {
        200 => true,
        404 => false,
        _ => anyhow::bail!("the server answered: {}", current.sentence()),
    };
    let settings = upload.settings();
    let spinner = spinner(format!("uploading and compiling {file}"));
    let answer = if file.ends_with(".wasm") {
        let answer = remote.send(
            Method::PUT,
            &format!("{app_path}/component?keep_permissions=true"),
            Some(("application/wasm", bytes)),
        )?;
        if answer.ok() && !settings.is_empty() {
            remote.json(Method::PUT, &app_path, &Value::Object(settings))?
        } else {
            answer
        }
    } else {
        let code = String::from_utf8(bytes).with_context(|| format!("{file} is not UTF-8"))?;
        let mut body = settings;
        body.insert("code".into(), json!(code));
        if file.ends_with(".ts") {
            body.insert("lang".into(), json!("ts"));
        }
        if exists {
            remote.json(Method::PUT, &app_path, &Value::Object(body))?
        } else {
            body.insert("name".into(), json!(name));
            remote.json(
                Method::POST,
                &format!("/admin-api/v2/{kind}"),
                &Value::Object(body),
            )?
        }
    };
    spinner.finish_and_clear();
    if !answer.ok() {
        eprintln!("{}", explain(&answer, &upload.entry));
        return Ok(ExitCode::FAILURE);
    }
    if let Some(Value::Object(vars)) = upload.manifest.get("vars") {
        for (key, value) in vars {
            let set = remote.json(
                Method::PUT,
                &format!("{app_path}/vars/{key}"),
                &json!({ "value": value.as_str().unwrap_or_default() }),
            )?;
            if !set.ok() {
                anyhow::bail!("setting the variable {key}: {}", set.sentence());
            }
        }
    }
    let view = &answer.body;
    let url = match kind {
        "functions" => remote.url(&format!("/functions/v2/{name}")),
        _ => remote.url(&format!("/api/v2/{name}/")),
    };
    let what = match (exists, view["version"] == current.body["version"]) {
        (false, _) => "created:",
        (true, false) => "updated:",
        (true, true) => "unchanged code, still",
    };
    println!(
        "{what} version {} ({}) → {url}",
        view["version"],
        view["tier"].as_str().unwrap_or("served"),
    );
    Ok(ExitCode::SUCCESS)
}

/// A failed upload as the user reads it: a source error's message (it starts with
/// `file:line:col`), then the line and a caret under the column; anything else as a sentence.
fn explain(answer: &Answer, entry: &Path) -> String {
    let message = answer.body["message"].as_str().unwrap_or_default();
    let (Some(line), Some(column)) = (answer.body["line"].as_u64(), answer.body["column"].as_u64())
    else {
        return format!("error: {}", answer.sentence());
    };
    let mut out = format!("error: {message}");
    let source = std::fs::read_to_string(entry).unwrap_or_default();
    if let Some(text) = source.lines().nth(line.saturating_sub(1) as usize) {
        let pad: String = text
            .chars()
            .take(column.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!("\n  {text}\n  {pad}^"));
    }
    out
}

fn size(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1 << 20 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    }
}

/// A spinner on standard error while the server works, shown only on a terminal.
fn spinner(message: String) -> indicatif::ProgressBar {
    let spinner = indicatif::ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    spinner
}

/// `kiln apps`: the server's services and functions, one per line.
pub(super) fn apps() -> anyhow::Result<ExitCode> {
    let remote = Remote::current()?;
    let mut table = format!(
        "{:<8} {:<32} {:>7}  {:<9} {}\n",
        "KIND", "NAME", "VERSION", "TIER", "ENABLED"
    );
    for (kind, what) in [("services", "service"), ("functions", "function")] {
        let answer = remote.send(Method::GET, &format!("/admin-api/v2/{kind}"), None)?;
        if !answer.ok() {
            anyhow::bail!("listing {kind}: {}", answer.sentence());
        }
        for app in answer.body[kind].as_array().into_iter().flatten() {
            table.push_str(&format!(
                "{:<8} {:<32} {:>7}  {:<9} {}\n",
                what,
                app["name"].as_str().unwrap_or_default(),
                app["version"].to_string(),
                app["tier"].as_str().unwrap_or("-"),
                app["enabled"],
            ));
        }
    }
    // A reader that stops early (`| head`) is not an error.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), table.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// The admin path of `name`, a service or (`function`) a function.
fn app_path(name: &str, function: bool) -> String {
    let kind = if function { "functions" } else { "services" };
    format!("/admin-api/v2/{kind}/{name}")
}

/// `kiln versions`: an app's stored versions, the active one marked.
pub(super) fn versions(name: &str, function: bool) -> anyhow::Result<ExitCode> {
    let remote = Remote::current()?;
    let answer = remote.send(
        Method::GET,
        &format!("{}/versions", app_path(name, function)),
        None,
    )?;
    if !answer.ok() {
        anyhow::bail!("{}", answer.sentence());
    }
    let mut table = format!(
        "{:>7}  {:<10} {:<20} {}\n",
        "VERSION", "KIND", "CREATED", "SHA256"
    );
    for version in answer.body["versions"].as_array().into_iter().flatten() {
        let active = if version["active"] == true {
            "  (active)"
        } else {
            ""
        };
        table.push_str(&format!(
            "{:>7}  {:<10} {:<20} {}{active}\n",
            version["version"].to_string(),
            version["kind"].as_str().unwrap_or("-"),
            version["created_at"]
                .as_str()
                .map_or("-", |t| &t[..t.len().min(19)]),
            version["sha256"]
                .as_str()
                .map_or("-", |s| &s[..s.len().min(12)]),
        ));
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), table.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// `kiln rollback`: makes a stored version the active one again.
pub(super) fn rollback(name: &str, version: i64, function: bool) -> anyhow::Result<ExitCode> {
    let remote = Remote::current()?;
    let answer = remote.json(
        Method::POST,
        &format!("{}/rollback", app_path(name, function)),
        &json!({ "version": version }),
    )?;
    if !answer.ok() {
        anyhow::bail!("{}", answer.sentence());
    }
    println!("'{name}' now serves version {}", answer.body["version"]);
    Ok(ExitCode::SUCCESS)
}

/// `kiln delete`: removes an app, its versions, stores and runs.
pub(super) fn delete(name: &str, function: bool) -> anyhow::Result<ExitCode> {
    let remote = Remote::current()?;
    let answer = remote.send(Method::DELETE, &app_path(name, function), None)?;
    if !answer.ok() {
        anyhow::bail!("{}", answer.sentence());
    }
    println!("deleted '{name}'");
    Ok(ExitCode::SUCCESS)
}
