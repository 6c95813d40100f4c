//! Hostile input, hostile guests, hostile tokens: each attack found in review, with the answer
//! Kiln must give.

use std::io::{Read, Write};
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

fn error(status: u16, body: &serde_json::Value, want: u16, kind: &str, part: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"], kind, "{body}");
    assert!(
        body["message"].as_str().unwrap_or_default().contains(part),
        "'{part}' not in {body}"
    );
}

/// A JSON array of about `mib` MiB.
fn big_json(mib: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(mib << 20);
    body.push(b'[');
    while body.len() < mib << 20 {
        body.extend_from_slice(b"1234567,");
    }
    body.extend_from_slice(b"0]");
    body
}

#[test]
fn oversized_bodies_are_refused_at_once_without_taking_memory() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let (s, _) = create(
        &kiln,
        &jwt,
        "services",
        json!({"name": "echo", "code": "export default { async fetch(r) { return new Response(String((await r.arrayBuffer()).byteLength)); } };"}),
    );
    assert_eq!(s, 201);
    // Warm up (and let the background snapshots finish: they compile), then measure the peak
    // while four clients each push 40 MB at the public function.
    assert_eq!(
        call(client().post(kiln.url("/functions/v2/hello")).body("{}")).0,
        200
    );
    kiln.wait_for_metric("kiln_snapshots_total", 4.0);
    let before = kiln.peak_rss_mib();
    let body = big_json(40);
    let attackers: Vec<_> = (0..4)
        .map(|_| {
            let (url, body) = (kiln.url("/functions/v2/hello"), body.clone());
            std::thread::spawn(move || {
                client()
                    .post(url)
                    .body(body)
                    .send()
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let health = client().get(kiln.url("/health")).send().unwrap();
    assert_eq!(health.status().as_u16(), 200, "/health keeps answering");
    for attacker in attackers {
        // The 413 arrives at once; a client still sending may see the connection close instead.
        if let Ok(status) = attacker.join().unwrap() {
            assert_eq!(status, 413);
        }
    }
    // A declared length over the limit is refused before the body is read: the client sends
    // only its headers and gets the answer.
    let mut raw = std::net::TcpStream::connect(kiln.addr()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /functions/v2/hello HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        11 << 20
    );
    raw.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = raw.read_to_string(&mut answer);
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    let b: serde_json::Value = serde_json::from_str(body).expect(body);
    error(413, &b, 413, "PayloadTooLarge", "max_request_mb");
    // A streamed body (no length) is cut off as it passes the limit: functions and services.
    for path in ["/functions/v2/hello", "/api/v2/echo/"] {
        let chunks = (0..12).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1 << 20]));
        let streamed = reqwest::blocking::Body::new(ChunkReader::new(chunks));
        let response = client().post(kiln.url(path)).body(streamed).send();
        if let Ok(response) = response {
            assert_eq!(response.status().as_u16(), 413, "{path}");
        }
    }
    // Under the limit, a service reads its whole body.
    let small = vec![b'x'; 1 << 20];
    let answer = client()
        .post(kiln.url("/api/v2/echo/"))
        .body(small)
        .send()
        .unwrap();
    assert_eq!(answer.text().unwrap(), (1 << 20).to_string());
    let grown = kiln.peak_rss_mib() - before;
    assert!(
        grown <= 100.0,
        "peak RSS grew by {grown:.0} MiB under the attack"
    );
    // Deeply nested JSON is refused without being built.
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (s, b) = call(client().post(kiln.url("/functions/v2/hello")).body(nested));
    error(s, &b, 400, "ValidationError", "deeper than 128 levels");
}

/// A reader over chunks, so that a body is sent without a length.
struct ChunkReader<I> {
    chunks: I,
    current: std::io::Cursor<Vec<u8>>,
}

impl<I> ChunkReader<I> {
    fn new(chunks: I) -> Self {
        Self {
            chunks,
            current: std::io::Cursor::new(Vec::new()),
        }
    }
}

impl<I: Iterator<Item = std::io::Result<Vec<u8>>>> Read for ChunkReader<I> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            match self.chunks.next() {
                Some(chunk) => self.current = std::io::Cursor::new(chunk?),
                None => return Ok(0),
            }
        }
    }
}

#[test]
fn grants_never_reach_kiln_itself_or_the_system() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let code = "export default { fetch() { return new Response('x'); } };";
    let outside = tempfile::tempdir().unwrap();
    let link = outside.path().join("into-kiln");
    std::os::unix::fs::symlink(data.path().join("cache"), &link).unwrap();
    let data_dir = data.path().display().to_string();
    let parent = data.path().parent().unwrap().display().to_string();
    for (permissions, rule) in [
        (json!({"read": [data_dir.clone()]}), "data dir"),
        (json!({"write": [format!("{data_dir}/cache")]}), "data dir"),
        (json!({"read": [parent]}), "data dir"),
        (json!({"read": [link.display().to_string()]}), "data dir"),
        (json!({"read": ["/"]}), "whole file system"),
        (json!({"read": ["/proc"]}), "/proc"),
        (json!({"write": ["/sys"]}), "/sys"),
        (json!({"read": ["/dev"]}), "/dev"),
        (json!({"env": ["KILN_JWT_SECRET"]}), "KILN_"),
        (json!({"net": [""]}), "must name a host"),
        (json!({"net": ["http://evil.example"]}), "not a URL"),
        (json!({"run": ["sh"]}), "cannot start processes"),
    ] {
        let (s, b) = create(
            &kiln,
            &jwt,
            "services",
            json!({"name": "grabby", "code": code, "permissions": permissions}),
        );
        error(s, &b, 400, "ValidationError", rule);
    }
    // A granted directory is stored canonical.
    let (s, view) = create(
        &kiln,
        &jwt,
        "services",
        json!({"name": "reader", "code": code, "permissions": {"read": [format!("{}/.", outside.path().display())]}}),
    );
    assert_eq!(s, 201, "{view}");
    let canonical = outside.path().canonicalize().unwrap();
    assert_eq!(
        view["permissions"]["read"],
        json!([canonical.display().to_string()])
    );
}

#[test]
fn limits_are_bounded() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let code = "export default { fetch() { return new Response('x'); } };";
    for (limits, field) in [
        (json!({"memory_mb": 0}), "memory_mb"),
        (json!({"memory_mb": 17_592_186_044_416u64}), "memory_mb"),
        (json!({"memory_mb": 100_000}), "memory_mb"),
        (json!({"timeout_ms": 0}), "timeout_ms"),
        (json!({"timeout_ms": 900_001}), "timeout_ms"),
        (json!({"max_concurrency": 0}), "max_concurrency"),
        (json!({"max_concurrency": 5000}), "max_concurrency"),
    ] {
        let (s, b) = create(
            &kiln,
            &jwt,
            "services",
            json!({"name": "limited", "code": code, "limits": limits}),
        );
        error(s, &b, 400, "ValidationError", field);
    }
    let (s, _) = create(
        &kiln,
        &jwt,
        "services",
        json!({"name": "limited", "code": code, "limits": {"memory_mb": 512, "timeout_ms": 900000, "max_concurrency": 1024}}),
    );
    assert_eq!(s, 201);
}

#[test]
fn slow_top_level_code_is_cut_off_and_the_admin_api_keeps_answering() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let (s, _) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/config/compile_timeout_ms", &jwt)
            .json(&json!({"value": "1500"})),
    );
    assert_eq!(s, 200);
    // Awaiting a ten-minute timer at the top level.
    let started = Instant::now();
    let (s, b) = create(
        &kiln,
        &jwt,
        "services",
        json!({"name": "sleepy", "code": "await new Promise((r) => setTimeout(r, 600000));\nexport default { fetch() { return new Response('x'); } };"}),
    );
    error(
        s,
        &b,
        400,
        "ValidationError",
        "did not finish within 1500 ms",
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // A CPU-bound top level: meanwhile, the admin API answers.
    let (s, _) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/config/compile_timeout_ms", &jwt)
            .json(&json!({"value": "4000"})),
    );
    assert_eq!(s, 200);
    let spinner = {
        let (url, jwt) = (kiln.url("/admin-api/v2/services"), jwt.clone());
        std::thread::spawn(move || {
            call(client().post(url).bearer_auth(jwt).json(&json!({
                "name": "spinner",
                "code": "const end = Date.now() + 60000; while (Date.now() < end) {}\nexport default { fetch() { return new Response('x'); } };"
            })))
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let asked = Instant::now();
    let (s, _) = call(kiln.admin(Method::GET, "/admin-api/v2/services", &jwt));
    assert_eq!(s, 200);
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "the admin API waited {:?} for a compile",
        asked.elapsed()
    );
    let (s, b) = spinner.join().unwrap();
    error(
        s,
        &b,
        400,
        "ValidationError",
        "did not finish within 4000 ms",
    );
    assert!(started.elapsed() < Duration::from_secs(40));
}

#[test]
fn token_scopes_and_what_services_see_of_them() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let env = [("KILN_JWT_SECRET", SECRET)];
    let invoke = token(data.path(), &env, &["--scope", "invoke"]);
    let (s, b) = call(kiln.admin(Method::GET, "/admin-api/v2/services", &invoke));
    error(s, &b, 403, "Forbidden", "scope");
    let mirror = "export default { fetch(r) { return Response.json({ auth: r.headers.get('authorization'), claims: r.headers.get('x-kiln-claims') }); } };";
    for (name, jwt_check) in [("guarded", true), ("open", false)] {
        let (s, _) = create(
            &kiln,
            &jwt,
            "services",
            json!({"name": name, "code": mirror, "jwt_check": jwt_check}),
        );
        assert_eq!(s, 201);
    }
    let (s, b) = call(client().get(kiln.url("/api/v2/guarded")));
    error(s, &b, 401, "Unauthorized", "bearer");
    for accepted in [&invoke, &jwt] {
        let (s, seen) = call(
            client()
                .get(kiln.url("/api/v2/guarded"))
                .bearer_auth(accepted),
        );
        assert_eq!(s, 200);
        assert_eq!(
            seen["auth"],
            serde_json::Value::Null,
            "Kiln's token is not forwarded"
        );
        let claims: serde_json::Value =
            serde_json::from_str(seen["claims"].as_str().unwrap()).unwrap();
        assert_eq!(claims["iss"], "kiln");
        assert!(claims["scope"] == "invoke" || claims["scope"] == "admin");
    }
    // An app doing its own auth gets its header unchanged (and no claims).
    let (s, seen) = call(
        client()
            .get(kiln.url("/api/v2/open"))
            .header("authorization", "Basic dXNlcjpwYXNz"),
    );
    assert_eq!(s, 200);
    assert_eq!(seen, json!({"auth": "Basic dXNlcjpwYXNz", "claims": null}));
    // Functions with jwt_check accept either scope.
    let (s, _) = create(
        &kiln,
        &jwt,
        "functions",
        json!({"name": "guarded-fn", "code": "export default () => 'ok';", "jwt_check": true}),
    );
    assert_eq!(s, 201);
    assert_eq!(
        call(client().post(kiln.url("/functions/v2/guarded-fn"))).0,
        401
    );
    let (s, b) = call(
        client()
            .post(kiln.url("/functions/v2/guarded-fn"))
            .bearer_auth(&invoke),
    );
    assert_eq!((s, b), (200, json!("ok")));
}

#[test]
fn outgoing_requests_to_internal_addresses_need_the_ip_granted_literally() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let port = kiln.addr().rsplit(':').next().unwrap().to_string();
    let code = "export default { async fetch(r) { const target = new URL(r.url).searchParams.get('to'); try { const res = await fetch(target); return new Response(`reached ${res.status}`); } catch (e) { return new Response(`refused ${e.name}`); } } };";
    // `localhost` is granted by name, but resolves to loopback: refused.
    let (s, _) = create(
        &kiln,
        &jwt,
        "services",
        json!({"name": "by-name", "code": code, "permissions": {"net": [format!("localhost:{port}"), "*.localhost"]}}),
    );
    assert_eq!(s, 201);
    let target = format!("http://localhost:{port}/health");
    let text = client()
        .get(kiln.url("/api/v2/by-name"))
        .query(&[("to", &target)])
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(text, "refused TypeError");
    // The loopback IP granted literally is reached.
    let (s, _) = create(
        &kiln,
        &jwt,
        "services",
        json!({"name": "by-ip", "code": code, "permissions": {"net": [format!("127.0.0.1:{port}")]}}),
    );
    assert_eq!(s, 201);
    let target = format!("http://127.0.0.1:{port}/health");
    let text = client()
        .get(kiln.url("/api/v2/by-ip"))
        .query(&[("to", &target)])
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(text, "reached 200");
}

#[test]
fn a_slowloris_client_is_disconnected_while_others_are_served() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let mut slow = std::net::TcpStream::connect(kiln.addr()).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    // Trickle a header byte now and then; the server must not wait for ever.
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(25) {
        assert_eq!(call(client().get(kiln.url("/health"))).0, 200);
        if slow.write_all(b"X").is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        slow.set_read_timeout(Some(Duration::from_millis(900)))
            .unwrap();
        match slow.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {
                closed = true; // an error answer, then close
                break;
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(
        closed,
        "a client that never finishes its headers kept its connection"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_replaced_component_keeps_its_grants_only_when_asked() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let wasm = std::fs::read(crate::support::repo().join("components/hello-rust.wasm")).unwrap();
    let put = |query: &str| {
        call(
            kiln.admin(
                Method::PUT,
                &format!("/admin-api/v2/services/granted/component{query}"),
                &jwt,
            )
            .header("content-type", "application/wasm")
            .body(wasm.clone()),
        )
    };
    assert_eq!(put("").0, 201);
    let (s, _) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/services/granted", &jwt)
            .json(&json!({"permissions": {"net": ["api.example.com"]}})),
    );
    assert_eq!(s, 200);
    let (s, view) = put("?keep_permissions=true");
    assert_eq!(
        (s, view["permissions"]["net"].clone()),
        (200, json!(["api.example.com"]))
    );
    let (s, view) = put("");
    assert_eq!((s, view["permissions"]["net"].clone()), (200, json!([])));
}

#[test]
fn a_tampered_cached_artifact_is_never_loaded() {
    let data = tempfile::tempdir().unwrap();
    let jwt = admin_token(data.path());
    {
        let kiln = Kiln::platform(data.path());
        let wasm =
            std::fs::read(crate::support::repo().join("components/hello-rust.wasm")).unwrap();
        let (s, _) = call(
            kiln.admin(
                Method::PUT,
                "/admin-api/v2/services/tampered/component",
                &jwt,
            )
            .body(wasm),
        );
        assert_eq!(s, 201);
    }
    // Overwrite every cached app artifact (not the engine) with other bytes.
    let mut tampered = 0;
    for entry in std::fs::read_dir(data.path().join("cache"))
        .unwrap()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".cwasm") && !name.starts_with("engine-") {
            let mut bytes = std::fs::read(entry.path()).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            std::fs::write(entry.path(), bytes).unwrap();
            tampered += 1;
        }
    }
    assert!(tampered >= 1);
    let kiln = Kiln::platform(data.path());
    let text = client()
        .get(kiln.url("/api/v2/tampered/x"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(text, "Hello from Rust! Method::Get /x\n");
    assert!(
        kiln.metric("kiln_compile_cache_misses_total") >= 1.0,
        "the tampered artifact was loaded"
    );
}

#[test]
fn racing_deploys_updates_and_deletes_end_consistent() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::start(
        data.path(),
        &[],
        &[("KILN_JWT_SECRET", SECRET), ("RACE_MARK", "granted")],
    )
    .unwrap_or_else(|log| panic!("{log}"));
    let jwt = admin_token(data.path());
    let racers: Vec<_> = (0..4)
        .map(|racer| {
            let (base, jwt) = (kiln.base.clone(), jwt.clone());
            std::thread::spawn(move || {
                for round in 0..50 {
                    let n = racer * 100 + round;
                    let code = format!(
                        "export default {{ fetch() {{ return new Response('v{n}:' + (Deno.env.get('RACE_MARK') ?? 'none')); }} }};"
                    );
                    let env = if n % 2 == 0 { json!(["RACE_MARK"]) } else { json!([]) };
                    let url = format!("{base}/admin-api/v2/services/contested");
                    let _ = match round % 5 {
                        0 => client().delete(&url).bearer_auth(&jwt).send(),
                        1 | 2 => client()
                            .post(format!("{base}/admin-api/v2/services"))
                            .bearer_auth(&jwt)
                            .json(&json!({"name": "contested", "code": code, "permissions": {"env": env}}))
                            .send(),
                        _ => client()
                            .put(&url)
                            .bearer_auth(&jwt)
                            .json(&json!({"code": code, "permissions": {"env": env}}))
                            .send(),
                    };
                }
            })
        })
        .collect();
    for racer in racers {
        racer.join().unwrap();
    }
    let (s, view) = call(kiln.admin(Method::GET, "/admin-api/v2/services/contested", &jwt));
    if s == 404 {
        assert_eq!(call(client().get(kiln.url("/api/v2/contested"))).0, 404);
        return;
    }
    assert_eq!(s, 200);
    let code = view["code"].as_str().unwrap();
    let version = code.split('\'').nth(1).unwrap().trim_end_matches(':');
    let granted = view["permissions"]["env"] == json!(["RACE_MARK"]);
    let expected = format!("{version}:{}", if granted { "granted" } else { "none" });
    // Whatever won, what is served is what is stored (code and grants), now and once the
    // background snapshot has landed.
    for _ in 0..3 {
        let served = client()
            .get(kiln.url("/api/v2/contested"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(served, expected, "{view}");
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Whether the machine has swap: without it, anonymous memory is never paged out.
fn swap_enabled() -> bool {
    std::fs::read_to_string("/proc/swaps").is_ok_and(|swaps| swaps.lines().count() > 1)
}

/// Asks the kernel to page out every private mapping of process `pid` (`MADV_PAGEOUT`), as memory
/// pressure would; returns how many bytes it was asked to reclaim.
fn page_out(pid: u32) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    // SAFETY: plain syscalls on another process; the iovecs only describe its address ranges.
    #[expect(
        unsafe_code,
        reason = "pidfd_open and process_madvise have no safe wrapper"
    )]
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0);
        assert!(
            pidfd >= 0,
            "pidfd_open: {}",
            std::io::Error::last_os_error()
        );
        let mut asked = 0;
        for line in maps.lines() {
            let mut fields = line.split_whitespace();
            let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
                continue;
            };
            if !perms.ends_with('p') {
                continue;
            }
            let (lo, hi) = range.split_once('-').expect("range");
            let lo = usize::from_str_radix(lo, 16).expect("hex");
            let hi = usize::from_str_radix(hi, 16).expect("hex");
            let iov = libc::iovec {
                iov_base: lo as *mut libc::c_void,
                iov_len: hi - lo,
            };
            let done = libc::syscall(
                libc::SYS_process_madvise,
                pidfd,
                &iov as *const libc::iovec,
                1usize,
                libc::MADV_PAGEOUT,
                0u32,
            );
            if done > 0 {
                asked += done as usize;
            }
        }
        libc::close(pidfd as libc::c_int);
        asked
    }
}

#[test]
#[cfg_attr(
    not(kiln_test_swap),
    ignore = "needs swap: not run unless KILN_TEST_NEEDS_SWAP=1 was set at build time (.ci/run sets it once it has enabled swap)"
)]
fn an_idle_instance_paged_out_to_swap_never_reaches_the_next_tenant() {
    assert!(
        swap_enabled(),
        "built to run the swap case (KILN_TEST_NEEDS_SWAP) but the machine has no swap"
    );
    let data = tempfile::tempdir().unwrap();
    // Both tenants stay on the shared engine (no snapshot): their instances share slots.
    let kiln = Kiln::start(
        data.path(),
        &["--isolation", "reuse", "--promote-rps", "1000000"],
        &[("KILN_JWT_SECRET", SECRET)],
    )
    .unwrap();
    let jwt = admin_token(data.path());
    for round in 0..6 {
        let (a, b) = (format!("tenant-a{round}"), format!("tenant-b{round}"));
        let code = format!(
            "let calls = 0; const secret = 'secret of {a}'; \
             export default {{ fetch() {{ calls++; return new Response(secret + ' ' + calls) }} }}"
        );
        let (status, body) = create(&kiln, &jwt, "services", json!({"name": a, "code": code}));
        assert_eq!(status, 201, "{body}");
        for calls in 1..=2 {
            let answer = client()
                .get(kiln.url(&format!("/api/v2/{a}/")))
                .send()
                .unwrap();
            assert_eq!(answer.text().unwrap(), format!("secret of {a} {calls}"));
        }
        // The idle instance (its heap, its tables) goes to swap, then is dropped with the app.
        assert!(page_out(kiln.pid()) > 0);
        let (status, body) =
            call(kiln.admin(Method::DELETE, &format!("/admin-api/v2/services/{a}"), &jwt));
        assert_eq!(status, 200, "{body}");
        let code = format!("export default {{ fetch() {{ return new Response('I am {b}') }} }}");
        let (status, body) = create(&kiln, &jwt, "services", json!({"name": b, "code": code}));
        assert_eq!(status, 201, "{body}");
        for _ in 0..3 {
            let answer = client()
                .get(kiln.url(&format!("/api/v2/{b}/")))
                .send()
                .unwrap_or_else(|e| panic!("round {round}: {e}\n{}", kiln.log()));
            assert_eq!(
                answer.text().unwrap(),
                format!("I am {b}"),
                "round {round}: a fresh instance saw what the previous tenant left"
            );
        }
    }
}

/// Runs one SQL statement on the store of the platform server of `data` (SQLite, or the test
/// run's PostgreSQL database), as someone with access to the database would.
fn tamper(data: &std::path::Path, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        match crate::support::test_database(data) {
            Some(url) => {
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            None => {
                let url = format!("sqlite://{}", data.join("kiln.db").display());
                let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
        }
    });
}

/// What the store holds is decoded once per deploy: a damaged grant is an error naming the app
/// and the column, and that app is not served (never served with no grants); the others are,
/// and the damaged one can still be deleted.
#[test]
fn a_damaged_stored_grant_is_an_error_and_never_becomes_no_grants() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    for name in ["shop", "other"] {
        let code = format!("export default {{ fetch() {{ return new Response('{name}'); }} }};");
        let (s, body) = create(&kiln, &jwt, "services", json!({"name": name, "code": code}));
        assert_eq!(s, 201, "{body}");
    }
    drop(kiln);
    tamper(
        data.path(),
        "UPDATE apps SET permissions = '{\"net\": [\"api.exa' WHERE name = 'shop'",
    );
    let kiln = Kiln::platform(data.path());
    let other = client().get(kiln.url("/api/v2/other")).send().unwrap();
    assert_eq!(other.text().unwrap(), "other");
    let shop = client().get(kiln.url("/api/v2/shop")).send().unwrap();
    assert_ne!(shop.status(), 200, "a damaged app was served");
    let (s, body) = call(kiln.admin(Method::GET, "/admin-api/v2/services/shop", &jwt));
    assert_eq!(s, 500, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("permissions") && message.contains("service 'shop'"),
        "{body}"
    );
    let (s, body) = call(kiln.admin(Method::DELETE, "/admin-api/v2/services/shop", &jwt));
    assert!((200..300).contains(&s), "{body}");
    let (s, list) = call(kiln.admin(Method::GET, "/admin-api/v2/services", &jwt));
    assert_eq!(s, 200, "{list}");
    assert!(list.to_string().contains("\"other\""), "{list}");
    assert!(!list.to_string().contains("\"shop\""), "{list}");
}

/// A granted directory removed after the deploy is never silently left out: new instances fail
/// (500) until the directory is back.
#[test]
fn a_granted_directory_removed_after_the_deploy_fails_new_instances_until_it_is_back() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let granted = tempfile::tempdir().unwrap();
    let dir = granted.path().canonicalize().unwrap().join("files");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.txt"), "here").unwrap();
    let code = format!(
        "export default {{ async fetch() {{ return new Response(await Deno.readTextFile({:?})); }} }};",
        dir.join("a.txt").display().to_string()
    );
    let (s, body) = create(
        &kiln,
        &jwt,
        "services",
        json!({"name": "reader", "code": code, "isolation": "request",
               "permissions": {"read": [dir.display().to_string()]}}),
    );
    assert_eq!(s, 201, "{body}");
    let read = || {
        let response = client().get(kiln.url("/api/v2/reader")).send().unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    assert_eq!(read(), (200, "here".to_string()));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(read().0, 500);
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.txt"), "back").unwrap();
    assert_eq!(read(), (200, "back".to_string()));
}
