//! A running Kiln server, for the commands that drive one (`kiln login`, `kiln deploy`,
//! `kiln apps`): its URL and an admin token, from `KILN_SERVER`/`KILN_TOKEN` or the file
//! `kiln login` writes (`$XDG_CONFIG_HOME/kiln/login.json` or `~/.config/kiln/login.json`,
//! mode 0600). Answers that are errors become sentences.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// A server and the token to call it with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Remote {
    /// Its base URL, e.g. `http://127.0.0.1:8000`.
    pub server: String,
    /// An admin token for it.
    pub token: String,
}

/// What the server answered.
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The JSON body (`null` when empty).
    pub body: serde_json::Value,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The server's error as a sentence: `message (status 400 ValidationError)`.
    pub fn sentence(&self) -> String {
        let message = self.body["message"]
            .as_str()
            .map_or_else(|| self.body.to_string(), str::to_string);
        let kind = self.body["error"].as_str().unwrap_or("error");
        format!("{message} ({} {kind})", self.status)
    }
}

/// Where `kiln login` keeps the server and token.
fn login_file() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".config"),
    };
    Ok(base.join("kiln").join("login.json"))
}

impl Remote {
    /// The server to use: `KILN_SERVER` and `KILN_TOKEN` when set, else what `kiln login` saved.
    pub fn current() -> anyhow::Result<Remote> {
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let saved = || -> anyhow::Result<Option<Remote>> {
            let path = login_file()?;
            match std::fs::read(&path) {
                Ok(bytes) => {
                    Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                        format!("{} is not a Kiln login", path.display())
                    })?))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
            }
        };
        let (server, token) = match (env("KILN_SERVER"), env("KILN_TOKEN")) {
            (Some(server), Some(token)) => (server, token),
            (server, token) => {
                let saved = saved()?;
                let server = server.or_else(|| saved.as_ref().map(|s| s.server.clone()));
                let token = token.or_else(|| saved.map(|s| s.token));
                match (server, token) {
                    (Some(server), Some(token)) => (server, token),
                    _ => anyhow::bail!(
                        "no Kiln server: run `kiln login --server URL` (or set KILN_SERVER and KILN_TOKEN)"
                    ),
                }
            }
        };
        Ok(Remote {
            server: server.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Writes this login where [`Remote::current`] finds it, readable by the user only.
    pub fn save(&self) -> anyhow::Result<PathBuf> {
        let path = login_file()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        // A file made before with a wider mode is narrowed too.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        file.write_all(&serde_json::to_vec_pretty(self)?)?;
        Ok(path)
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    /// Sends a request with the token; `body` is (content type, bytes).
    pub fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> anyhow::Result<Answer> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()?;
        let mut request = client
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = request
            .send()
            .with_context(|| format!("Kiln at {} cannot be reached", self.server))?;
        let status = response.status().as_u16();
        let text = response.text()?;
        let body = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        Ok(Answer { status, body })
    }

    /// Sends a GET whose answer may stay open as long as the server keeps it (a followed log):
    /// the response as it comes, or the server's error as a sentence.
    pub fn open(&self, path: &str) -> anyhow::Result<reqwest::blocking::Response> {
        let client = reqwest::blocking::Client::builder().timeout(None).build()?;
        let response = client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .with_context(|| format!("Kiln at {} cannot be reached", self.server))?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let text = response.text().unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
            anyhow::bail!("{}", Answer { status, body }.sentence());
        }
        Ok(response)
    }

    /// Sends JSON.
    pub fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<Answer> {
        self.send(
            method,
            path,
            Some(("application/json", serde_json::to_vec(body)?)),
        )
    }
}
