//! Operating Kiln: draining on SIGTERM, request logs and request ids.

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Kiln, SECRET, admin_token, call, client, js_app};

/// A platform server with a generator function `slow` that yields `count` times, `gap_ms` apart.
fn with_slow_function(data: &std::path::Path, drain: &str, count: u32, gap_ms: u32) -> Kiln {
    let kiln = Kiln::start(
        data,
        &["--promote-rps", "0", "--drain-timeout", drain],
        &[("KILN_JWT_SECRET", SECRET)],
    )
    .unwrap_or_else(|log| panic!("kiln did not start:\n{log}"));
    let jwt = admin_token(data);
    let code = format!(
        "export default async function* () {{\n  for (let i = 1; i <= {count}; i++) {{\n    await new Promise((r) => setTimeout(r, {gap_ms}));\n    yield i;\n  }}\n  return 'end';\n}}\n"
    );
    let (status, body) = call(
        client()
            .post(kiln.url("/admin-api/v2/functions"))
            .bearer_auth(&jwt)
            .json(&json!({"name": "slow", "code": code})),
    );
    assert_eq!(status, 201, "{body}");
    kiln
}

/// Starts reading `slow`'s event stream on a thread; each event is sent as it arrives, then
/// `None` when the stream ends (or breaks).
fn stream_slow(kiln: &Kiln) -> mpsc::Receiver<Option<String>> {
    let url = kiln.url("/functions/v2/slow");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let fresh = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let Ok(mut response) = fresh.post(url).body("{}").send() else {
            let _ = tx.send(None);
            return;
        };
        let mut pending = String::new();
        let mut buffer = [0u8; 1024];
        loop {
            match response.read(&mut buffer) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(n) => pending.push_str(&String::from_utf8_lossy(&buffer[..n])),
            }
            while let Some(end) = pending.find("\n\n") {
                let _ = tx.send(Some(pending[..end].to_string()));
                pending.drain(..end + 2);
            }
        }
    });
    rx
}

/// A client that opens a new connection for every request.
fn unpooled() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn sigterm_lets_a_stream_in_flight_finish_answers_503_meanwhile_and_exits_zero() {
    let data = tempfile::tempdir().unwrap();
    let mut kiln = with_slow_function(data.path(), "30s", 6, 400);
    let events = stream_slow(&kiln);
    let first = events.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(first.as_deref(), Some("data: 1"));
    let signalled = Instant::now();
    kiln.signal(libc::SIGTERM);
    assert!(
        kiln.wait_for_log("draining", Duration::from_secs(5)),
        "{}",
        kiln.log()
    );
    // A new connection meanwhile: 503, closed after.
    let response = unpooled().get(kiln.url("/health")).send().unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["connection"], "close");
    // The stream in flight goes on to its end.
    let mut rest = Vec::new();
    while let Some(event) = events.recv_timeout(Duration::from_secs(30)).unwrap() {
        rest.push(event);
    }
    assert_eq!(
        rest,
        [
            "data: 2",
            "data: 3",
            "data: 4",
            "data: 5",
            "data: 6",
            "data: [DONE]\"end\""
        ]
    );
    let status = kiln.wait_exit(Duration::from_secs(10)).expect("kiln exits");
    assert!(status.success(), "{status:?}\n{}", kiln.log());
    assert!(
        signalled.elapsed() < Duration::from_secs(15),
        "{:?}",
        signalled.elapsed()
    );
    assert!(kiln.log().contains("drained; exiting"), "{}", kiln.log());
}

#[test]
fn the_drain_timeout_bounds_how_long_a_stream_keeps_the_server_up() {
    let data = tempfile::tempdir().unwrap();
    let mut kiln = with_slow_function(data.path(), "1s", 100, 200);
    let events = stream_slow(&kiln);
    assert_eq!(
        events
            .recv_timeout(Duration::from_secs(30))
            .unwrap()
            .as_deref(),
        Some("data: 1")
    );
    let signalled = Instant::now();
    kiln.signal(libc::SIGTERM);
    let status = kiln.wait_exit(Duration::from_secs(10)).expect("kiln exits");
    assert!(status.success(), "{status:?}");
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert!(
        kiln.log().contains("drain timeout reached"),
        "{}",
        kiln.log()
    );
}

const LOGGING_APP: &str = "export default {\n  fetch(request) {\n    console.log('handling ' + new URL(request.url).pathname);\n    return new Response('logged');\n  },\n};\n";

/// The logging app served with `KILN_LOG_FORMAT=format` (the app and data dirs live as long as
/// the server is used).
fn logging_app(format: &str) -> (Kiln, tempfile::TempDir, tempfile::TempDir) {
    let app = js_app(LOGGING_APP);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::start(
        data.path(),
        &["--app", app.path().to_str().unwrap()],
        &[("KILN_LOG_FORMAT", format)],
    )
    .unwrap_or_else(|log| panic!("kiln did not start:\n{log}"));
    (kiln, app, data)
}

#[test]
fn json_logs_carry_one_line_per_request_with_its_id_and_the_guest_lines_carry_it_too() {
    let (kiln, _app, _data) = logging_app("json");
    let response = client()
        .get(kiln.url("/first?x=1"))
        .header("x-request-id", "trace-42.a:b")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "trace-42.a:b");
    // A malformed id is replaced by one of Kiln's.
    let response = client()
        .get(kiln.url("/second"))
        .header("x-request-id", "not ok!")
        .send()
        .unwrap();
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(generated.len(), 32, "{generated}");
    assert_eq!(response.text().unwrap(), "logged");
    assert!(
        kiln.wait_for_log(&generated, Duration::from_secs(5)),
        "{}",
        kiln.log()
    );
    let lines: Vec<serde_json::Value> = kiln
        .log()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let find = |target: &str, id: &str| {
        lines
            .iter()
            .find(|l| l["target"] == target && l["fields"]["request_id"] == id)
            .unwrap_or_else(|| panic!("no {target} line for {id}: {lines:#?}"))
            .clone()
    };
    let request = find("kiln::request", "trace-42.a:b");
    let fields = &request["fields"];
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["path"], "/first?x=1");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["bytes"], 6);
    assert_eq!(fields["kind"], "service");
    assert_eq!(fields["isolation"], "reuse");
    assert_eq!(fields["complete"], true);
    assert!(fields["duration_us"].as_u64().is_some(), "{request}");
    assert!(fields["version"].as_str().is_some(), "{request}");
    let guest = find("kiln::guest", "trace-42.a:b");
    assert_eq!(guest["fields"]["message"], "handling /first");
    let guest = find("kiln::guest", &generated);
    assert_eq!(guest["fields"]["message"], "handling /second");
}

#[test]
fn apache_logs_are_combined_format_lines_on_stdout() {
    let (kiln, _app, _data) = logging_app("apache");
    let response = client()
        .get(kiln.url("/page?q=\"quoted\""))
        .header("referer", "https://example.com/from")
        .header("user-agent", "tester/1.0")
        .header("x-request-id", "apache-1")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        client().get(kiln.url("/health")).send().unwrap().status(),
        200
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let written = |out: String| out.lines().count() >= 2 && out.ends_with('\n');
    while !written(kiln.stdout()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let combined = regex::Regex::new(
        r#"^(\S+) (\S+) (\S+) \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "([A-Z]+) (\S+) (HTTP/[0-9.]+)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" (\S+) ([0-9.]+)$"#,
    )
    .unwrap();
    let stdout = kiln.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for line in &lines {
        assert!(combined.is_match(line), "not a combined log line: {line}");
    }
    // Each line is written when its response ends, so the two may come in either order.
    let captured: Vec<_> = lines
        .iter()
        .map(|line| combined.captures(line).unwrap())
        .collect();
    let by_path = |path: &str| {
        captured
            .iter()
            .find(|c| c[6].starts_with(path))
            .unwrap_or_else(|| panic!("no line for {path}: {stdout}"))
    };
    let first = by_path("/page");
    assert_eq!(&first[1], "127.0.0.1");
    assert_eq!(&first[5], "GET");
    assert_eq!(&first[6], "/page?q=%22quoted%22");
    assert_eq!(&first[8], "200");
    assert_eq!(&first[9], "6");
    assert_eq!(&first[10], "https://example.com/from");
    assert_eq!(&first[11], "tester/1.0");
    assert_eq!(&first[12], "apache-1");
    let second = by_path("/health");
    assert_eq!(&second[8], "200");
    // The rest of the log stays on standard error, as text.
    assert!(kiln.log().contains("app ready"), "{}", kiln.log());
}

fn app_source(text: &str) -> String {
    format!("export default {{ fetch() {{ return new Response({text:?}); }} }};\n")
}

/// Polls `url` until it answers `status` with `body` (any body when `None`).
fn wait_for(url: &str, status: u16, body: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (got, text) = match unpooled().get(url).send() {
            Ok(response) => (
                response.status().as_u16(),
                response.text().unwrap_or_default(),
            ),
            Err(_) => (0, String::new()),
        };
        if got == status && body.is_none_or(|b| b == text) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} answered {got} {text:?}, not {status} {body:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_watched_folder_serves_each_subfolder_and_follows_adds_changes_breaks_and_removals() {
    let root = tempfile::tempdir().unwrap();
    let folder = |name: &str| {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    };
    std::fs::write(folder("alpha").join("index.js"), app_source("alpha 1")).unwrap();
    // Not apps: a folder without an entry file, a folder whose name is not a service name.
    folder("notes");
    std::fs::write(folder("Bad_Name").join("index.js"), app_source("x")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::start(
        data.path(),
        &["--watch", root.path().to_str().unwrap()],
        &[("KILN_JWT_SECRET", SECRET)],
    )
    .unwrap_or_else(|log| panic!("kiln did not start:\n{log}"));
    let alpha = kiln.url("/api/v2/alpha/");
    wait_for(&alpha, 200, Some("alpha 1"));
    assert!(
        kiln.wait_for_log("Bad_Name", Duration::from_secs(10)),
        "{}",
        kiln.log()
    );
    wait_for(&kiln.url("/api/v2/notes/"), 404, None);

    // Added: served; its kiln.json asks for a token.
    let beta = folder("beta");
    std::fs::write(
        beta.join("kiln.json"),
        r#"{"jwt_check": true, "isolation": "request"}"#,
    )
    .unwrap();
    std::fs::write(beta.join("index.js"), app_source("beta 1")).unwrap();
    wait_for(&kiln.url("/api/v2/beta/"), 401, None);
    let token = crate::support::token(
        data.path(),
        &[("KILN_JWT_SECRET", SECRET)],
        &["--scope", "invoke"],
    );
    let answer = client()
        .get(kiln.url("/api/v2/beta/"))
        .bearer_auth(token.trim())
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().unwrap(), "beta 1");

    // Changed: the new version serves.
    std::fs::write(folder("alpha").join("index.js"), app_source("alpha 2")).unwrap();
    wait_for(&alpha, 200, Some("alpha 2"));

    // Broken: logged with file:line:col, the previous version keeps serving.
    std::fs::write(
        folder("alpha").join("index.js"),
        "export default { fetch() { return new Response('oops' } };\n",
    )
    .unwrap();
    assert!(
        kiln.wait_for_log("alpha/index.js:1:", Duration::from_secs(20)),
        "{}",
        kiln.log()
    );
    // A kiln.json Kiln cannot read is refused the same way.
    std::fs::write(folder("alpha").join("index.js"), app_source("alpha 3")).unwrap();
    wait_for(&alpha, 200, Some("alpha 3"));
    std::fs::write(folder("alpha").join("kiln.json"), r#"{"colour": "red"}"#).unwrap();
    assert!(
        kiln.wait_for_log("unknown field `colour`", Duration::from_secs(20)),
        "{}",
        kiln.log()
    );
    wait_for(&alpha, 200, Some("alpha 3"));

    // Removed: undeployed.
    std::fs::remove_dir_all(root.path().join("beta")).unwrap();
    wait_for(&kiln.url("/api/v2/beta/"), 404, None);
    wait_for(&alpha, 200, Some("alpha 3"));
}

#[test]
fn a_watched_folder_never_takes_the_name_of_a_stored_service() {
    let root = tempfile::tempdir().unwrap();
    // `hello` is one of the services seeded on a first start.
    let dir = root.path().join("hello");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.js"), app_source("impostor")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::start(
        data.path(),
        &["--watch", root.path().to_str().unwrap()],
        &[("KILN_JWT_SECRET", SECRET)],
    )
    .unwrap_or_else(|log| panic!("kiln did not start:\n{log}"));
    assert!(
        kiln.wait_for_log("exists in the admin API", Duration::from_secs(30)),
        "{}",
        kiln.log()
    );
    let answer = client()
        .get(kiln.url("/api/v2/hello?name=Ada"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(answer.contains("Hello, Ada!"), "{answer}\n{}", kiln.log());
}

#[test]
fn a_hundred_redeploys_under_steady_traffic_lose_no_request() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::start(data.path(), &[], &[("KILN_JWT_SECRET", SECRET)])
        .unwrap_or_else(|log| panic!("kiln did not start:\n{log}"));
    let jwt = admin_token(data.path());
    let (status, body) = call(
        client()
            .post(kiln.url("/admin-api/v2/services"))
            .bearer_auth(&jwt)
            .json(&json!({"name": "busy", "code": app_source("version 0")})),
    );
    assert_eq!(status, 201, "{body}");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let url = kiln.url("/api/v2/busy/");
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let answer = client()
                        .get(&url)
                        .send()
                        .map(|r| (r.status().as_u16(), r.text().unwrap_or_default()));
                    answers.push(answer.map_err(|e| e.to_string()));
                }
                answers
            })
        })
        .collect();
    for version in 1..=100 {
        let (status, body) = call(
            client()
                .put(kiln.url("/admin-api/v2/services/busy"))
                .bearer_auth(&jwt)
                .json(&json!({"code": app_source(&format!("version {version}"))})),
        );
        assert_eq!(status, 200, "redeploy {version}: {body}");
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut last = 0;
    let mut total = 0;
    for handle in clients {
        let answers = handle.join().unwrap();
        total += answers.len();
        for answer in answers {
            let (status, text) = answer.expect("a request failed");
            assert_eq!(status, 200, "{text}");
            let version: u32 = text
                .strip_prefix("version ")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("not an answer of any version: {text:?}"));
            last = last.max(version);
        }
    }
    assert!(total >= 100, "only {total} requests were sent");
    assert_eq!(last, 100, "the last version never served");
}
