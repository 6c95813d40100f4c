//! The second attack round: each row of what it found, as the attacker tried it, with the answer
//! Kiln must give now.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::support::{Kiln, SECRET, admin_token, call, client, token};

fn create(kiln: &Kiln, jwt: &str, kind: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    call(
        kiln.admin(Method::POST, &format!("/admin-api/v2/{kind}"), jwt)
            .json(&body),
    )
}

fn update(kiln: &Kiln, jwt: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    call(kiln.admin(Method::PUT, path, jwt).json(&body))
}

/// A platform server on a fresh data dir, and an admin token for it.
fn platform() -> (tempfile::TempDir, Kiln, String) {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    (data, kiln, jwt)
}

/// Creates a service or function (`kind`), which must succeed.
fn deployed(kiln: &Kiln, jwt: &str, kind: &str, body: serde_json::Value) {
    let (s, answer) = create(kiln, jwt, kind, body);
    assert_eq!(s, 201, "{answer}");
}

/// Hosts a frontend: a server answering `server`, and the assets of `archive`.
fn host_frontend(kiln: &Kiln, jwt: &str, name: &str, archive: Vec<u8>) {
    use reqwest::blocking::multipart::{Form, Part};
    let form = Form::new()
        .part(
            "server",
            Part::text("export default () => new Response('server');").file_name("server.js"),
        )
        .part("static", Part::bytes(archive).file_name("static.zip"))
        .text("serviceName", name.to_string());
    let (s, body) = call(
        kiln.admin(Method::POST, "/admin-api/v2/host-frontend", jwt)
            .multipart(form),
    );
    assert_eq!(s, 201, "{body}");
}

/// The server's resident memory now, in MiB (`VmRSS`).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// File descriptors the server holds open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Sends a raw request and never reads the answer.
fn send_and_never_read(addr: &str, head: &str, body: &[u8]) -> TcpStream {
    let socket = TcpStream::connect(addr).unwrap();
    // A tiny receive window: the server's writes stall at once.
    let socket = socket2::Socket::from(socket);
    let _ = socket.set_recv_buffer_size(4096);
    let mut socket: TcpStream = socket.into();
    socket.write_all(head.as_bytes()).unwrap();
    socket.write_all(body).unwrap();
    socket
}

/// Row 1: a write grant on the user's Kiln cache (or any parent of it) would let a guest replace
/// the compiled engine a later start maps as native code.
#[test]
fn grants_never_reach_the_users_kiln_cache_or_the_binary() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().canonicalize().unwrap();
    let cache = home_path.join(".cache/kiln/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let home_var = home_path.display().to_string();
    let kiln = Kiln::start(
        data.path(),
        &["--promote-rps", "0"],
        &[("KILN_JWT_SECRET", SECRET), ("HOME", &home_var)],
    )
    .unwrap();
    let jwt = admin_token(data.path());
    let code = "export default { fetch() { return new Response('x'); } };";
    let bin_dir = std::path::Path::new(crate::support::kiln_bin())
        .canonicalize()
        .unwrap()
        .parent()
        .unwrap()
        .display()
        .to_string();
    for (field, dir, why) in [
        ("write", cache.display().to_string(), "Kiln's cache"),
        (
            "write",
            home_path.join(".cache/kiln").display().to_string(),
            "Kiln's cache",
        ),
        (
            "write",
            home_path.join(".cache").display().to_string(),
            "Kiln's cache",
        ),
        ("write", home_var.clone(), "Kiln's cache"),
        ("read", home_var.clone(), "Kiln's cache"),
        ("write", bin_dir.clone(), "Kiln's binary"),
    ] {
        let (s, body) = create(
            &kiln,
            &jwt,
            "services",
            json!({"name": "grabby", "code": code, "permissions": {field: [dir]}}),
        );
        assert_eq!(s, 400, "{field} {body}");
        assert!(
            body["message"].as_str().unwrap().contains(why),
            "{field}: {body}"
        );
    }
    // Reading the binary's directory reveals nothing: allowed.
    deployed(
        &kiln,
        &jwt,
        "services",
        json!({"name": "reads-bin", "code": code, "permissions": {"read": [bin_dir]}}),
    );
}

/// Row 1, the second half: a compiled engine planted in the user's cache with a matching plain
/// hash beside it (what the attack wrote) is never copied nor mapped.
#[test]
fn a_planted_engine_in_the_users_cache_is_not_mapped() {
    let home = tempfile::tempdir().unwrap();
    let home_var = home.path().display().to_string();
    let env = [("KILN_JWT_SECRET", SECRET), ("HOME", home_var.as_str())];
    let app =
        crate::support::js_app("export default { fetch() { return new Response('genuine'); } };");
    {
        // A first server builds the shared engine and leaves its copy in the user's cache.
        let first = tempfile::tempdir().unwrap();
        let kiln =
            Kiln::start_cold(first.path(), &["--app", app.path().to_str().unwrap()], &env).unwrap();
        let text = client().get(kiln.url("/")).send().unwrap().text().unwrap();
        assert_eq!(text, "genuine");
    }
    let shared = home.path().join(".cache/kiln/cache");
    let engine = std::fs::read_dir(&shared)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with("engine-") && name.ends_with(".cwasm")
        })
        .expect("the shared engine in the user's cache");
    // Planted: other bytes, with their sha256 as the record beside them.
    let mut bytes = std::fs::read(&engine).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&engine, &bytes).unwrap();
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(&bytes));
    for suffix in [".sha256", ".mac"] {
        let mut record = engine.clone().into_os_string();
        record.push(suffix);
        std::fs::write(record, &digest).unwrap();
    }
    let second = tempfile::tempdir().unwrap();
    let kiln = Kiln::start_cold(
        second.path(),
        &["--app", app.path().to_str().unwrap()],
        &env,
    )
    .unwrap();
    let text = client().get(kiln.url("/")).send().unwrap().text().unwrap();
    assert_eq!(text, "genuine");
    let log = kiln.log();
    assert!(
        !log.contains("shared JS engine copied from the user's cache"),
        "{log}"
    );
    assert!(log.contains("building the shared JS engine"), "{log}");
}

/// Rows 2 and 3: a service's `/dist` assets are behind the same door as the service.
#[test]
fn dist_assets_need_the_services_token_and_are_closed_with_it() {
    let (data, kiln, jwt) = platform();
    let archive = crate::frontend::zip(&[("secret.txt", b"the assets")]);
    host_frontend(&kiln, &jwt, "guarded", archive);
    let get = |bearer: Option<&str>| {
        let mut request = client().get(kiln.url("/api/v2/guarded/dist/secret.txt"));
        if let Some(t) = bearer {
            request = request.bearer_auth(t);
        }
        let response = request.send().unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    assert_eq!(get(None), (200, "the assets".to_string()));
    let (s, body) = update(
        &kiln,
        &jwt,
        "/admin-api/v2/services/guarded",
        json!({"jwt_check": true}),
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(get(None).0, 401);
    assert_eq!(get(Some("not-a-token")).0, 401);
    let invoke = token(
        data.path(),
        &[("KILN_JWT_SECRET", SECRET)],
        &["--scope", "invoke"],
    );
    assert_eq!(get(Some(&invoke)), (200, "the assets".to_string()));
    let (s, body) = update(
        &kiln,
        &jwt,
        "/admin-api/v2/services/guarded",
        json!({"jwt_check": false, "enabled": false}),
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(get(None).0, 503);
    assert_eq!(get(Some(&invoke)).0, 503);
}

/// Row 4: streaming function calls whose clients never read are ended at their deadline, and
/// their places among the function's concurrent calls freed.
#[test]
fn a_stream_nobody_reads_is_ended_at_its_deadline() {
    let (_data, kiln, jwt) = platform();
    deployed(
        &kiln,
        &jwt,
        "functions",
        json!({
            "name": "firehose",
            "code": "export default async function* (input) { if (input.once) { yield 'one'; return; } const chunk = 'x'.repeat(60000); while (true) yield chunk; }",
            "limits": {"timeout_ms": 2000, "max_concurrency": 2},
        }),
    );
    let head = "POST /functions/v2/firehose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n";
    let stalled: Vec<_> = (0..2)
        .map(|_| send_and_never_read(kiln.addr(), head, b"{}"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let once = || {
        client()
            .post(kiln.url("/functions/v2/firehose"))
            .json(&json!({"once": true}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        once(),
        503,
        "both places should be taken while the streams run\n{}",
        kiln.log()
    );
    // Past the deadline (2 s) and its grace, the places are free again.
    std::thread::sleep(Duration::from_millis(2500));
    let started = Instant::now();
    let mut status = once();
    while status != 200 && started.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
        status = once();
    }
    assert_eq!(status, 200, "the stalled streams still hold the function");
    drop(stalled);
}

/// Row 5: one app firing thousands of fetches at a host that never accepts holds a bounded
/// number of connections; every other client is still accepted.
#[test]
fn fetch_floods_are_bounded_per_app_and_accept_keeps_working() {
    let (_data, kiln, jwt) = platform();
    // A listener that never accepts, with the smallest backlog: further connects hang.
    let sink = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sink.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    sink.listen(1).unwrap();
    let port = sink.local_addr().unwrap().as_socket().unwrap().port();
    let code = format!(
        "export default {{ async fetch() {{ const all = await Promise.allSettled(Array.from({{ length: 1500 }}, () => fetch('http://127.0.0.1:{port}/'))); return new Response(String(all.filter(r => r.status === 'rejected').length)); }} }};"
    );
    deployed(
        &kiln,
        &jwt,
        "services",
        json!({"name": "flood", "code": code, "permissions": {"net": [format!("127.0.0.1:{port}")]}, "limits": {"timeout_ms": 20000}}),
    );
    let before = open_fds(kiln.pid());
    let floods: Vec<_> = (0..4)
        .map(|_| {
            let url = kiln.url("/api/v2/flood");
            std::thread::spawn(move || client().get(url).send().map(|r| r.status().as_u16()))
        })
        .collect();
    let mut most = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        most = most.max(open_fds(kiln.pid()));
        assert_eq!(call(client().get(kiln.url("/health"))).0, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        most <= before + 256 + 64,
        "the app opened {} descriptors (before: {before})",
        most - before
    );
    assert!(
        most > before + 32,
        "the flood never connected: {most} vs {before}"
    );
    for flood in floods {
        let _ = flood.join();
    }
    assert!(kiln.metric("kiln_outbound_refused_total") >= 1.0);
    assert!(
        !kiln.log().contains("Too many open files"),
        "{}",
        kiln.log()
    );
}

/// Row 6: clients that never read a large asset cost a chunk each, not the file.
#[test]
fn large_assets_are_streamed_to_clients_that_do_not_read() {
    let (_data, kiln, jwt) = platform();
    // Incompressible, so the archive is accepted (no zip-bomb ratio) and the file is 24 MiB.
    let mut big = vec![0u8; 24 << 20];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for chunk in big.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    host_frontend(
        &kiln,
        &jwt,
        "downloads",
        crate::frontend::zip(&[("big.bin", &big)]),
    );
    // A range is the file's bytes.
    let part = client()
        .get(kiln.url("/api/v2/downloads/dist/big.bin"))
        .header("range", "bytes=1000000-1000099")
        .send()
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().unwrap().as_ref(), &big[1_000_000..1_000_100]);
    let whole = client()
        .get(kiln.url("/api/v2/downloads/dist/big.bin"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert!(whole.as_ref() == big.as_slice(), "the whole file differs");
    let before = rss_mib(kiln.pid());
    let head = "GET /api/v2/downloads/dist/big.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    let readers: Vec<_> = (0..48)
        .map(|_| send_and_never_read(kiln.addr(), head, b""))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let grown = rss_mib(kiln.pid()) - before;
    assert!(grown < 300.0, "48 stalled downloads took {grown:.0} MiB");
    assert_eq!(call(client().get(kiln.url("/health"))).0, 200);
    drop(readers);
}

/// Row 7: one request logging in a loop until its deadline writes a bounded amount of log,
/// and the drop is reported.
#[test]
fn a_guest_logging_in_a_loop_is_held_to_its_log_budget() {
    let (_data, kiln, jwt) = platform();
    deployed(
        &kiln,
        &jwt,
        "services",
        json!({
            "name": "chatty",
            "code": "export default { fetch() { const line = 'chatter '.repeat(16); while (true) console.log(line); } };",
            "limits": {"timeout_ms": 2000},
        }),
    );
    let before = kiln.log().len();
    let status = client()
        .get(kiln.url("/api/v2/chatty"))
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 504);
    assert!(kiln.wait_for_log(
        "bytes of console output over the log budget",
        Duration::from_secs(10)
    ));
    let written = kiln.log().len() - before;
    // 256 KiB of output per request, plus the log's own tags on each line.
    assert!(
        written < 2 << 20,
        "one request wrote {written} bytes of log"
    );
    assert!(kiln.metric("kiln_guest_log_dropped_bytes_total") > 1e5);
}

/// Row 8: an IP grant names its port; another port of that IP is refused even when a name
/// grant (any port) resolves to it.
#[test]
fn an_ip_grant_matches_its_port_too() {
    let (_data, kiln, jwt) = platform();
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let granted_port = open.local_addr().unwrap().port();
    let kiln_port = kiln.addr().rsplit(':').next().unwrap().to_string();
    let code = "export default { async fetch(r) { const target = new URL(r.url).searchParams.get('to'); try { const res = await fetch(target); return new Response(`reached ${res.status}`); } catch (e) { return new Response(`refused ${e.name}`); } } };";
    deployed(
        &kiln,
        &jwt,
        "services",
        json!({"name": "porty", "code": code, "permissions": {"net": [format!("127.0.0.1:{granted_port}"), "localhost"]}}),
    );
    for target in [
        format!("http://localhost:{kiln_port}/health"),
        format!("http://127.0.0.1:{kiln_port}/health"),
    ] {
        let text = client()
            .get(kiln.url("/api/v2/porty"))
            .query(&[("to", &target)])
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(text, "refused TypeError", "{target}");
    }
}

/// Row 9: a response stream cut by its deadline is aborted (no last chunk) and logged as
/// incomplete.
#[test]
fn a_stream_cut_by_its_deadline_is_aborted_not_ended() {
    let (_data, kiln, jwt) = platform();
    let code = "export default { fetch() { const enc = new TextEncoder(); return new Response(new ReadableStream({ async pull(c) { await new Promise(r => setTimeout(r, 50)); c.enqueue(enc.encode('tick\\n')); } })); } };";
    deployed(
        &kiln,
        &jwt,
        "services",
        json!({"name": "endless", "code": code, "limits": {"timeout_ms": 2000}}),
    );
    let mut socket = TcpStream::connect(kiln.addr()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket
        .write_all(b"GET /api/v2/endless HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match socket.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("tick"), "{text}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "the cut stream ended like a complete one"
    );
    assert!(
        kiln.wait_for_log("complete=false", Duration::from_secs(5)),
        "{}",
        kiln.log()
    );
    assert!(kiln.metric("kiln_responses_cut_total") >= 1.0);
}

/// Row 10: what a config value is validated as is what applies.
#[test]
fn a_config_value_with_spaces_is_what_applies() {
    let (_data, kiln, jwt) = platform();
    let (s, body) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/config/max_request_mb", &jwt)
            .json(&json!({"value": " 1 "})),
    );
    assert_eq!((s, body["value"].clone()), (200, json!("1")), "{body}");
    deployed(
        &kiln,
        &jwt,
        "services",
        json!({"name": "sink", "code": "export default { async fetch(r) { return new Response(String((await r.arrayBuffer()).byteLength)); } };"}),
    );
    // Declared at 3 MiB: refused before any of the body is read (sent by hand, so that the
    // refusal is read rather than a write into the closed connection).
    let mut socket = TcpStream::connect(kiln.addr()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket
        .write_all(
            format!(
                "POST /api/v2/sink HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                3 << 20
            )
            .as_bytes(),
        )
        .unwrap();
    let mut head = [0u8; 12];
    socket.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    let small = client()
        .post(kiln.url("/api/v2/sink"))
        .body(vec![b'x'; 1000])
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(small, "1000");
}

/// Row 11: a token not valid yet, or issued in the future, is refused.
#[test]
fn tokens_from_the_future_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let forge = |extra: serde_json::Value| {
        let mut claims =
            json!({"sub": "x", "exp": now + 7200, "iss": "kiln", "aud": "kiln", "scope": "admin"});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let list = |jwt: &str| call(kiln.admin(Method::GET, "/admin-api/v2/services", jwt));
    assert_eq!(list(&forge(json!({}))).0, 200);
    let (s, body) = list(&forge(json!({"nbf": now + 3600})));
    assert_eq!(s, 401, "{body}");
    assert!(body["message"].as_str().unwrap().contains("nbf"), "{body}");
    assert_eq!(list(&forge(json!({"iat": now + 3600}))).0, 401);
    assert_eq!(
        list(&forge(json!({"nbf": now - 10, "iat": now - 10}))).0,
        200
    );
}

/// Row 5, the other half: fetching the same origin again reuses an idle connection of the
/// app's instead of opening one per request.
#[test]
fn fetches_to_the_same_origin_reuse_a_connection() {
    let (_data, kiln, jwt) = platform();
    // A keep-alive HTTP/1.1 server that counts the connections it accepts.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while let Ok(1) = stream.read(&mut byte) {
                    head.push(byte[0]);
                    if head.ends_with(b"\r\n\r\n") {
                        head.clear();
                        if stream
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            });
        }
    });
    let code = format!(
        "export default {{ async fetch() {{ let body = ''; for (let i = 0; i < 20; i++) body += await (await fetch('http://127.0.0.1:{port}/n' + i)).text(); return new Response(body); }} }};"
    );
    deployed(
        &kiln,
        &jwt,
        "services",
        json!({"name": "repeat", "code": code, "permissions": {"net": [format!("127.0.0.1:{port}")]}}),
    );
    for _ in 0..2 {
        let text = client()
            .get(kiln.url("/api/v2/repeat"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(text, "ok".repeat(20));
    }
    let opened = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(opened <= 2, "40 fetches opened {opened} connections");
    assert!(kiln.metric("kiln_outbound_reused_total") >= 38.0);
}
