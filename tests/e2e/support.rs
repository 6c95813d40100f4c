//! Starts the real `kiln` binary on port 0 and talks HTTP to it.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// The `kiln` binary under test.
pub fn kiln_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kiln")
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// With `KILN_TEST_DATABASE=postgres://user@host:port` (`just test-postgres`), platform servers
/// store into PostgreSQL instead of SQLite: a database of their own per data dir (so a restart on
/// the same data dir finds its apps again), made on first use.
pub fn test_database(data: &Path) -> Option<String> {
    let base = std::env::var("KILN_TEST_DATABASE")
        .ok()
        .filter(|s| !s.is_empty())?;
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut hasher);
    let name = format!("kiln_{:016x}", hasher.finish());
    let output = Command::new("psql")
        .arg(format!("{base}/postgres"))
        .args(["-qtAc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql (apt-get install postgresql-client)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() || stderr.contains("already exists"),
        "creating {name}: {stderr}"
    );
    Some(format!("{base}/{name}"))
}

/// A directory holding `index.js` with the given source.
pub fn js_app(source: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.js"), source).expect("write index.js");
    dir
}

/// A data dir whose cache holds the shared JS engine (and wasmtime's and Cranelift's caches),
/// built once per test run by `kiln run`. Every server the tests start gets hard links to it, so
/// no test pays for building the engine; a test of a first start uses a fresh directory.
fn engine_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("engine-template");
        std::fs::create_dir_all(&dir).expect("template dir");
        let warm = dir.join("warm.js");
        std::fs::write(&warm, "export default function () { return 1; }\n").expect("warm.js");
        let output = Command::new(kiln_bin())
            .arg("run")
            .arg(&warm)
            .arg("--data-dir")
            .arg(&dir)
            .output()
            .expect("kiln run");
        assert!(
            output.status.success(),
            "building the engine template failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    })
}

/// Links the engine template's cache into `data` (files already there are kept).
pub fn prewarm(data: &Path) {
    fn link_tree(from: &Path, to: &Path) {
        let Ok(entries) = std::fs::read_dir(from) else {
            return;
        };
        std::fs::create_dir_all(to).expect("cache dir");
        for entry in entries.flatten() {
            let target = to.join(entry.file_name());
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                link_tree(&entry.path(), &target);
            } else if !target.exists() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                // The engine, wasmtime's module cache and Cranelift's cache; never app snapshots.
                let shared = !from.ends_with("cache") || name.starts_with("engine-");
                if shared && std::fs::hard_link(entry.path(), &target).is_err() {
                    let _ = std::fs::copy(entry.path(), &target);
                }
            }
        }
    }
    link_tree(&engine_template().join("cache"), &data.join("cache"));
}

/// The admin secret of [`Kiln::platform`] servers.
pub const SECRET: &str = "kiln-end-to-end-test-secret";

/// The secrets key of test servers on PostgreSQL, as the nodes of a cluster share one (on SQLite
/// each server makes its own in its data dir).
pub const SECRETS_KEY: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

/// A running `kiln serve`, killed on drop.
pub struct Kiln {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
}

impl Kiln {
    /// `kiln serve --app DIR --listen 127.0.0.1:0 --data-dir DATA ARGS...`
    pub fn serve_app(app: &Path, data: &Path, args: &[&str]) -> Kiln {
        Self::try_serve_app(app, data, args)
            .unwrap_or_else(|log| panic!("kiln did not start:\n{log}"))
    }

    /// Like [`Kiln::serve_app`], returning the log if the server exits instead of listening.
    pub fn try_serve_app(app: &Path, data: &Path, args: &[&str]) -> Result<Kiln, String> {
        let mut all = vec!["--app", app.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        Self::start(data, &all, &[])
    }

    /// Serves an app that Kiln must refuse: the server listens at once, then exits non-zero when
    /// the app fails to deploy. Returns everything it printed.
    pub fn refused_app(app: &Path, data: &Path, args: &[&str]) -> String {
        prewarm(data);
        let mut child = Command::new(kiln_bin())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--threads", "1", "--app"])
            .arg(app)
            .arg("--data-dir")
            .arg(data)
            .args(args)
            .env_remove("KILN_LISTEN")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kiln");
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("kiln kept running with an app it should have refused");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let output = child.wait_with_output().expect("output");
        assert!(!status.success(), "kiln exited successfully");
        let mut log = String::from_utf8_lossy(&output.stdout).into_owned();
        log.push_str(&strip_ansi(&String::from_utf8_lossy(&output.stderr)));
        log
    }

    /// `kiln serve` in platform mode on a data dir, with `KILN_JWT_SECRET` set to [`SECRET`];
    /// JavaScript gets its snapshot at deploy (`--promote-rps 0`), as the tests of snapshots
    /// expect. The tests of tiering start their own.
    pub fn platform(data: &Path) -> Kiln {
        Self::start(
            data,
            &["--promote-rps", "0"],
            &[("KILN_JWT_SECRET", SECRET)],
        )
        .unwrap_or_else(|log| panic!("kiln did not start:\n{log}"))
    }

    /// `kiln serve --listen 127.0.0.1:0 --data-dir DATA ARGS...` with extra environment.
    pub fn start(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Kiln, String> {
        prewarm(data);
        Self::start_cold(data, args, env)
    }

    /// Like [`Kiln::start`], without linking the engine template's cache into `data` first.
    pub fn start_cold(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Kiln, String> {
        let platform = !args.iter().any(|a| *a == "--app" || *a == "--database");
        let database = platform.then(|| test_database(data)).flatten();
        let mut child = Command::new(kiln_bin())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--threads", "2"])
            .arg("--data-dir")
            .arg(data)
            .args(database.iter().flat_map(|url| ["--database", url.as_str()]))
            .args(args)
            .envs(
                database
                    .as_ref()
                    .filter(|_| !env.iter().any(|(k, _)| *k == "KILN_SECRETS_KEY"))
                    .map(|_| ("KILN_SECRETS_KEY", SECRETS_KEY)),
            )
            .envs(env.iter().copied())
            .env_remove("KILN_LISTEN")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kiln");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().expect("log");
                log.push_str(&strip_ansi(&line));
                log.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let out = Arc::new(Mutex::new(String::new()));
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("kiln listening on ") {
                    let _ = tx.send(addr.to_string());
                } else {
                    let mut out = sink.lock().expect("stdout");
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => Ok(Kiln {
                child,
                base,
                log,
                stdout: out,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                let log = log.lock().expect("log").clone();
                Err(log)
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory so far, in MiB (`VmHWM`).
    pub fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// The server's address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// A request to an admin route with a bearer token.
    pub fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        jwt: &str,
    ) -> reqwest::blocking::RequestBuilder {
        client().request(method, self.url(path)).bearer_auth(jwt)
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// Everything the server printed on standard output so far, but its "listening" line.
    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("stdout").clone()
    }

    /// Sends the server a signal (`libc::SIGTERM`, `libc::SIGINT`).
    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: `kill` only sends a signal to our own child process.
        #[expect(unsafe_code, reason = "kill has no safe wrapper")]
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill({pid}, {signal})");
    }

    /// Waits for the server to exit, up to `timeout`; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The value of a Prometheus metric (without labels), 0 if absent.
    pub fn metric(&self, name: &str) -> f64 {
        let text = client()
            .get(self.url("/metrics"))
            .send()
            .expect("metrics")
            .text()
            .expect("metrics body");
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until a metric reaches `at_least`.
    pub fn wait_for_metric(&self, name: &str, at_least: f64) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.metric(name) < at_least {
            assert!(
                Instant::now() < deadline,
                "{name} never reached {at_least}: {}",
                self.metric(name)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `/metrics` shows `name` (labels included) at `value` exactly.
    pub fn wait_for_metric_eq(&self, name: &str, value: f64) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.metric(name) != value {
            assert!(
                Instant::now() < deadline,
                "{name} never came to {value}: {}",
                self.metric(name)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the admin view of `path` (e.g. `services/flip`) shows `tier`.
    pub fn wait_for_tier(&self, jwt: &str, path: &str, tier: &str) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (_, view) = call(
                client()
                    .get(self.url(&format!("/admin-api/v2/{path}")))
                    .bearer_auth(jwt),
            );
            if view["tier"] == tier {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{path} never reached {tier}: {view}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the per-app snapshot serves (built now, or loaded from the cache). With
    /// `--app`, Kiln has no endpoint of its own to ask, so this reads the log.
    pub fn wait_for_snapshot(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let log = self.log();
            if log.contains("snapshot ready") || log.contains("cache hit") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the snapshot never became ready:\n{}", self.log());
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Kiln {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs a command that must succeed and returns its output (its stderr is shown otherwise).
pub fn succeed(command: &mut Command) -> std::process::Output {
    let output = command.output().expect("run the command");
    assert!(
        output.status.success(),
        "{:?} failed: {}",
        command,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Whether a response says it is JSON.
pub fn is_json(response: &reqwest::blocking::Response) -> bool {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// A blocking HTTP client with a generous timeout.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// GET `url` and parse the JSON body, returning the status too.
pub fn get_json(url: &str) -> (u16, serde_json::Value) {
    let response = client().get(url).send().expect("request");
    let status = response.status().as_u16();
    let text = response.text().expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, json)
}

/// A token from `kiln token` for the data dir (or `KILN_JWT_SECRET`).
pub fn token(data: &Path, env: &[(&str, &str)], extra: &[&str]) -> String {
    let database = if extra.contains(&"--database") {
        None
    } else {
        test_database(data)
    };
    let output = Command::new(kiln_bin())
        .arg("token")
        .arg("--data-dir")
        .arg(data)
        .args(database.iter().flat_map(|url| ["--database", url.as_str()]))
        .args(extra)
        .envs(env.iter().copied())
        .output()
        .expect("kiln token");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// An admin token for [`Kiln::platform`] servers.
pub fn admin_token(data: &Path) -> String {
    token(data, &[("KILN_JWT_SECRET", SECRET)], &[])
}

/// Sends a request and returns status and JSON body (`null` for an empty body).
pub fn call(request: reqwest::blocking::RequestBuilder) -> (u16, serde_json::Value) {
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    let text = response.text().expect("body");
    if text.is_empty() {
        return (status, serde_json::Value::Null);
    }
    (
        status,
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("not JSON ({e}) with status {status}: {text}")),
    )
}

/// Reads an HTTP/1.1 response from `stream`, noting when each body chunk arrives.
pub fn chunks_with_times(mut stream: std::net::TcpStream) -> Vec<(std::time::Duration, String)> {
    let start = std::time::Instant::now();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&buffer[..n]).to_string();
        let done = text.contains("\r\n0\r\n\r\n") || text.starts_with("0\r\n\r\n");
        seen.push((start.elapsed(), text));
        if done {
            break;
        }
    }
    seen
}

/// Asserts that `seen` (from [`chunks_with_times`]) holds the SSE events `data: tick 1` to
/// `data: tick {ticks}` and that they arrived spread over at least `apart`, not all at the end.
pub fn assert_ticks_arrived_apart(
    seen: &[(std::time::Duration, String)],
    ticks: usize,
    apart: std::time::Duration,
) {
    let all: String = seen.iter().map(|(_, t)| t.as_str()).collect();
    for n in 1..=ticks {
        assert!(all.contains(&format!("data: tick {n}\n\n")), "{all}");
    }
    let first = seen
        .iter()
        .find(|(_, t)| t.contains("tick 1"))
        .map(|(at, _)| *at)
        .expect("tick 1");
    let last = seen.last().expect("chunks").0;
    assert!(
        last.saturating_sub(first) >= apart,
        "the chunks arrived together: first at {first:?}, end at {last:?}"
    );
}

/// A platform-mode server on a fresh data dir, and an admin token for it.
pub fn platform() -> (tempfile::TempDir, Kiln, String) {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    (data, kiln, jwt)
}

/// Creates an app of `kind` (`services` or `functions`) through the admin API; it must answer 201.
pub fn create_app(kiln: &Kiln, jwt: &str, kind: &str, body: serde_json::Value) {
    let (status, answer) = call(
        kiln.admin(reqwest::Method::POST, &format!("/admin-api/v2/{kind}"), jwt)
            .json(&body),
    );
    assert_eq!(status, 201, "{answer}");
}
