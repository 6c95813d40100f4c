//! Real frameworks from npm (Hono, itty-router; pinned in `tests/frameworks/package-lock.json`),
//! bundled with esbuild, served by Kiln and by Node 20 running the same bundle: every response
//! must match (status, headers, body), and a streamed one must arrive in pieces.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::Response;

use crate::support::{Kiln, chunks_with_times, client, repo, succeed};

/// Installs the pinned packages once (`npm ci`); fails, never skips, without Node and npm.
pub fn frameworks_dir() -> PathBuf {
    static INSTALL: Once = Once::new();
    let dir = repo().join("tests/frameworks");
    INSTALL.call_once(|| {
        let installed = dir.join("node_modules/.package-lock.json");
        let fresh = std::fs::metadata(&installed)
            .and_then(|m| m.modified())
            .ok()
            .zip(
                std::fs::metadata(dir.join("package-lock.json"))
                    .and_then(|m| m.modified())
                    .ok(),
            )
            .is_some_and(|(installed, lock)| installed >= lock);
        if !fresh {
            succeed(
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(&dir),
            );
        }
    });
    dir
}

/// Bundles `apps/{name}.js` into `{out}/index.js` as one ES module.
pub fn bundle(name: &str, out: &Path) -> PathBuf {
    let dir = frameworks_dir();
    let target = out.join("index.js");
    succeed(
        Command::new(dir.join("node_modules/.bin/esbuild"))
            .arg(dir.join(format!("apps/{name}.js")))
            .args([
                "--bundle",
                "--format=esm",
                "--platform=neutral",
                "--log-level=warning",
                // What bundlers for the edge define (React reads it).
                "--define:process.env.NODE_ENV=\"production\"",
            ])
            .arg(format!("--outfile={}", target.display())),
    );
    target
}

/// `apps/{name}.js` bundled and served by Kiln (`serve --app`) and by Node; the folders live as
/// long as the first value.
fn served(name: &str) -> ([tempfile::TempDir; 2], Kiln, Node) {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let bundle = bundle(name, &app);
    let node = Node::serve(&bundle);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(&app, data.path(), &[]);
    ([work, data], kiln, node)
}

/// Node 20 serving a bundle through `serve-node.mjs`.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    fn serve(bundle: &Path) -> Node {
        let mut child = Command::new("node")
            .arg(frameworks_dir().join("serve-node.mjs"))
            .arg(bundle)
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs (apt-get install nodejs)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .expect("node listens");
        Node {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request, sent the same way to both servers.
struct Case {
    method: Method,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
}

fn get(path: &'static str) -> Case {
    Case {
        method: Method::GET,
        path,
        headers: Vec::new(),
        body: None,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Case {
        self.headers.push((name, value.into()));
        self
    }
    fn body(mut self, method: Method, body: impl Into<Vec<u8>>) -> Case {
        self.method = method;
        self.body = Some(body.into());
        self
    }
}

/// Status, headers (framing and per-server ones left out; sorted) and body of a response.
fn observe(response: Response) -> (u16, Vec<(String, String)>, String) {
    const IGNORED: [&str; 6] = [
        "date",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "x-request-id",
    ];
    let status = response.status().as_u16();
    // Repeated fields are one list (`vary: a` + `vary: b` is `vary: a, b`), as on the wire.
    let mut headers: Vec<(String, String)> = Vec::new();
    for name in response.headers().keys() {
        if IGNORED.contains(&name.as_str()) {
            continue;
        }
        let values: Vec<_> = response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("").to_string())
            .collect();
        headers.push((name.to_string(), values.join(", ")));
    }
    headers.sort();
    (status, headers, response.text().unwrap())
}

fn send(base: &str, case: &Case) -> (u16, Vec<(String, String)>, String) {
    let mut request = client().request(case.method.clone(), format!("{base}{}", case.path));
    for (name, value) in &case.headers {
        request = request.header(*name, value);
    }
    if let Some(body) = &case.body {
        request = request.body(body.clone());
    }
    observe(request.send().unwrap())
}

/// Sends every case to both servers and lists the differences.
fn compare(kiln: &Kiln, node: &Node, cases: &[Case]) -> Vec<String> {
    let mut differences = Vec::new();
    for case in cases {
        let expected = send(&node.base, case);
        let actual = send(&kiln.url(""), case);
        if expected != actual {
            differences.push(format!(
                "{} {}:\n  node: {expected:?}\n  kiln: {actual:?}",
                case.method, case.path
            ));
        }
    }
    differences
}

const BOUNDARY: &str = "----kiln-test-boundary";

fn multipart() -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello form\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"tag\"\r\n\r\none\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"tag\"\r\n\r\ntwo\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"notes.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nfile contents\nline 2\r\n--{BOUNDARY}--\r\n"
    )
    .into_bytes()
}

#[test]
fn a_hono_app_answers_as_it_does_under_node() {
    let (_dirs, kiln, node) = served("hono");

    let origin = "https://app.example";
    let (_, _, signed) = send(&kiln.url(""), &get("/jwt/sign"));
    let token = serde_json::from_str::<serde_json::Value>(&signed).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, headers, _) = send(&kiln.url(""), &get("/etag/resource"));
    let etag = headers
        .iter()
        .find(|(name, _)| name == "etag")
        .map(|(_, value)| value.clone())
        .expect("etag() set an ETag");

    let cases = vec![
        get("/"),
        get("/api/users/7?q=x&tag=a&tag=b").header("Origin", origin),
        Case {
            method: Method::OPTIONS,
            path: "/api/users",
            headers: vec![
                ("Origin", origin.into()),
                ("Access-Control-Request-Method", "POST".into()),
                ("Access-Control-Request-Headers", "X-Custom".into()),
            ],
            body: None,
        },
        get("/api/users")
            .header("Origin", origin)
            .header("Content-Type", "application/json")
            .body(Method::POST, r#"{"name":"Ada","langs":["en","fr"]}"#),
        get("/etag/resource"),
        get("/etag/resource").header("If-None-Match", etag),
        get("/secure/page"),
        get("/jwt/sign"),
        get("/jwt/verify").header("Authorization", format!("Bearer {token}")),
        get("/jwt/verify").header("Authorization", format!("Bearer {token}x")),
        get("/form")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(
                Method::POST,
                "title=Hello+form&tag=one&tag=two&emoji=%F0%9F%94%A5",
            ),
        get("/form")
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(Method::POST, multipart()),
        get("/sse"),
        get("/text-stream"),
        get("/error"),
        get("/http-error"),
        get("/missing/page"),
    ];
    let differences = compare(&kiln, &node, &cases);
    assert!(differences.is_empty(), "{}", differences.join("\n"));

    // Server-sent events leave as they are written, not when the handler's stream ends.
    let mut socket = TcpStream::connect(kiln.addr()).unwrap();
    socket
        .write_all(b"GET /sse HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let seen = chunks_with_times(socket);
    let first = seen
        .iter()
        .find(|(_, text)| text.contains("event: tick"))
        .map(|(at, _)| *at)
        .expect("an event arrived");
    let end = seen.last().unwrap().0;
    assert!(
        end.saturating_sub(first) >= Duration::from_millis(250),
        "the events arrived together: first at {first:?}, end at {end:?}"
    );
}

#[test]
fn an_itty_router_app_answers_as_it_does_under_node() {
    let (_dirs, kiln, node) = served("itty");
    let cases = vec![
        get("/"),
        get("/items/42?sort=desc"),
        get("/items")
            .header("Content-Type", "application/json")
            .body(Method::POST, r#"{"name":"widget"}"#),
        get("/teapot"),
        get("/throws"),
        get("/nothing/here"),
    ];
    let differences = compare(&kiln, &node, &cases);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn a_react_19_page_streams_as_it_does_under_node() {
    let (_dirs, kiln, node) = served("react");
    let cases = vec![
        get("/"),
        get("/?name=%3Cb%3EKiln%3C%2Fb%3E"),
        get("/channel?name=ada"),
    ];
    let differences = compare(&kiln, &node, &cases);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let page = client()
        .get(kiln.url("/?name=ada"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("<p class=\"slow\">loaded ada</p>"), "{page}");
}

#[test]
fn hono_compress_encodes_answers_with_compression_stream() {
    use std::io::Read as _;
    let (_dirs, kiln, _node) = served("hono-compress");
    let fetch = |path: &str, encoding: &str| {
        let response = client()
            .get(kiln.url(path))
            .header("accept-encoding", encoding)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let header = response
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_string());
        (header, response.bytes().unwrap().to_vec())
    };
    let (encoding, body) = fetch("/big", "gzip");
    assert_eq!(encoding.as_deref(), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "Kiln serves compressed answers. ".repeat(400));
    assert!(body.len() < text.len() / 20, "{} bytes", body.len());
    let (encoding, body) = fetch("/json", "deflate");
    assert_eq!(encoding.as_deref(), Some("deflate"));
    let mut json = String::new();
    flate2::read::ZlibDecoder::new(&body[..])
        .read_to_string(&mut json)
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["items"][299]["name"], "item 299");
    // Without an accepted encoding, the answer is as it was.
    let (encoding, body) = fetch("/small", "identity");
    assert_eq!(encoding, None);
    assert_eq!(body, b"tiny");
}
