//! Differential tests of the Web APIs against Node 20: each probe in `tests/web/` (an
//! `async function probe()` returning JSON) runs as a Kiln service and under Node, and the two
//! answers must be equal. Streamed responses are checked from the client's side.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    Kiln, admin_token, assert_ticks_arrived_apart, call, chunks_with_times, client, js_app, repo,
};

/// What Node 20 answers for a probe.
fn node_answer(source: &str, dir: &Path) -> Value {
    let script = dir.join("probe.mjs");
    std::fs::write(
        &script,
        format!("{source}\nconsole.log(JSON.stringify(await probe()));\n"),
    )
    .unwrap();
    let output = Command::new("node").arg(&script).output().unwrap_or_else(|e| {
        panic!("these tests compare with Node.js 20, which did not run ({e}): apt-get install nodejs")
    });
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("node printed JSON")
}

/// Serves `source` plus a handler answering `probe()` as JSON.
fn kiln_service(source: &str) -> String {
    format!(
        "{source}\nexport default {{ async fetch() {{ return Response.json(await probe()); }} }};\n"
    )
}

#[test]
fn streams_encoding_events_blobs_forms_and_bodies_answer_as_node_does() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let scratch = tempfile::tempdir().unwrap();
    let mut probes: Vec<_> = std::fs::read_dir(repo().join("tests/web"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .collect();
    probes.sort();
    assert!(probes.len() >= 5, "probes missing: {probes:?}");
    let mut differences = Vec::new();
    for path in &probes {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let source = std::fs::read_to_string(path).unwrap();
        let expected = node_answer(&source, scratch.path());
        let service = format!("probe-{name}");
        let (status, view) = call(
            kiln.admin(Method::POST, "/admin-api/v2/services", &jwt)
                .json(&json!({"name": service, "code": kiln_service(&source)})),
        );
        assert_eq!(status, 201, "{name}: {view}");
        let response = client()
            .get(kiln.url(&format!("/api/v2/{service}")))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        assert_eq!(status, 200, "{name}: {text}\n{}", kiln.log());
        let actual: Value = serde_json::from_str(&text).unwrap();
        for (key, want) in expected.as_object().unwrap() {
            let got = &actual[key];
            if got != want {
                differences.push(format!("{name}.{key}:\n  node: {want}\n  kiln: {got}"));
            }
        }
        for key in actual.as_object().unwrap().keys() {
            if expected.get(key).is_none() {
                differences.push(format!("{name}.{key}: only Kiln answered"));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

const STREAMING: &str = r#"
export default {
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/echo") return new Response(request.body, { headers: { "content-type": "application/octet-stream" } });
    const encoder = new TextEncoder();
    let n = 0;
    const stream = new ReadableStream({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        n += 1;
        controller.enqueue(encoder.encode(`data: tick ${n}\n\n`));
        if (n === Number(url.searchParams.get("ticks") ?? 4)) controller.close();
      },
      cancel(reason) { console.log(`stream cancelled: ${reason}`); },
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream" } });
  },
};
"#;

#[test]
fn a_streamed_response_reaches_the_client_chunk_by_chunk_and_a_disconnect_cancels_it() {
    let app = js_app(STREAMING);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);

    let mut socket = TcpStream::connect(kiln.addr()).unwrap();
    socket
        .write_all(b"GET /?ticks=4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let seen = chunks_with_times(socket);
    let all: String = seen.iter().map(|(_, t)| t.as_str()).collect();
    assert!(all.contains("transfer-encoding: chunked"), "{all}");
    // Four ticks 250 ms apart: the first arrives well before the stream ends.
    assert_ticks_arrived_apart(&seen, 4, Duration::from_millis(500));

    // A client that goes away cancels the stream.
    let mut socket = TcpStream::connect(kiln.addr()).unwrap();
    socket
        .write_all(b"GET /?ticks=40 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buffer = [0u8; 1024];
    let mut got = String::new();
    while !got.contains("tick 1") {
        let n = socket.read(&mut buffer).unwrap();
        got.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    drop(socket);
    assert!(
        kiln.wait_for_log(
            "stream cancelled: Error: the client disconnected",
            Duration::from_secs(10)
        ),
        "the stream was not cancelled:\n{}",
        kiln.log()
    );

    // A request body streams back out unchanged.
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let echoed = client()
        .post(kiln.url("/echo"))
        .body(payload.clone())
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert!(echoed.as_ref() == payload.as_slice(), "the echo differs");
}

const DENO_FILES: &str = r#"
export default {
  async fetch() {
    const out = {};
    const READ = "__READ__", WRITE = "__WRITE__", OUTSIDE = "__OUTSIDE__";
    out.text = await Deno.readTextFile(`${READ}/hello.txt`);
    out.bytes = Array.from(await Deno.readFile(new URL(`file://${READ}/hello.txt`))).length;
    out.sync = Deno.readTextFileSync(`${READ}/hello.txt`);
    await Deno.writeTextFile(`${WRITE}/out.txt`, "first ");
    await Deno.writeTextFile(`${WRITE}/out.txt`, "second", { append: true });
    Deno.writeFileSync(`${WRITE}/bytes.bin`, new Uint8Array([1, 2, 3]));
    out.written = [await Deno.readTextFile(`${WRITE}/out.txt`), Array.from(Deno.readFileSync(`${WRITE}/bytes.bin`))];
    const attempt = async (name, fn) => {
      try { await fn(); out[name] = "no error"; }
      catch (e) { out[name] = [e.name, e instanceof Deno.errors[e.name], e instanceof Error]; }
    };
    await attempt("missing", () => Deno.readTextFile(`${READ}/missing.txt`));
    await attempt("outside", () => Deno.readTextFile(`${OUTSIDE}/secret.txt`));
    await attempt("readOnly", () => Deno.writeTextFile(`${READ}/new.txt`, "x"));
    await attempt("createNew", () => Deno.writeTextFile(`${WRITE}/out.txt`, "x", { createNew: true }));
    return Response.json(out);
  },
};
"#;

#[test]
fn deno_file_apis_reach_granted_directories_only_and_denials_are_catchable() {
    let dirs = tempfile::tempdir().unwrap();
    let (read, write, outside) = (
        dirs.path().join("read"),
        dirs.path().join("write"),
        dirs.path().join("outside"),
    );
    for dir in [&read, &write, &outside] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(read.join("hello.txt"), "hello from a grant").unwrap();
    std::fs::write(outside.join("secret.txt"), "not granted").unwrap();
    let source = DENO_FILES
        .replace("__READ__", &read.to_string_lossy())
        .replace("__WRITE__", &write.to_string_lossy())
        .replace("__OUTSIDE__", &outside.to_string_lossy());
    let app = js_app(&source);
    std::fs::write(
        app.path().join("kiln.json"),
        json!({"permissions": {"read": [read], "write": [write]}}).to_string(),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let (status, out) = crate::support::get_json(&kiln.url("/"));
    assert_eq!(status, 200, "{out}\n{}", kiln.log());
    assert_eq!(out["text"], "hello from a grant");
    assert_eq!(out["bytes"], 18);
    assert_eq!(out["sync"], "hello from a grant");
    assert_eq!(out["written"], json!(["first second", [1, 2, 3]]));
    assert_eq!(out["missing"], json!(["NotFound", true, true]));
    assert_eq!(out["outside"], json!(["NotCapable", true, true]));
    assert_eq!(out["readOnly"][1], json!(true), "{out}");
    assert!(
        ["NotCapable", "PermissionDenied"].contains(&out["readOnly"][0].as_str().unwrap()),
        "{out}"
    );
    assert_eq!(out["createNew"], json!(["AlreadyExists", true, true]));
    assert_eq!(
        std::fs::read_to_string(write.join("out.txt")).unwrap(),
        "first second"
    );
    assert!(!read.join("new.txt").exists());
}

#[test]
fn the_service_worker_form_serves_requests() {
    let app = js_app(
        r#"
addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  event.respondWith(Promise.resolve(Response.json({ path: url.pathname, isEvent: event instanceof FetchEvent, self: self === globalThis })));
});
"#,
    );
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let (status, out) = crate::support::get_json(&kiln.url("/sw/path"));
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out,
        json!({"path": "/sw/path", "isEvent": true, "self": true})
    );
}

/// web-platform-tests' URL cases (`tests/web/wpt/urltestdata.json`) through the guest's `URL`.
const WPT_URL: &str = r#"
export default {
  async fetch(request) {
    const misses = [];
    let total = 0;
    for (const c of await request.json()) {
      if (typeof c === "string") continue;
      total++;
      let url;
      try {
        url = c.base === null || c.base === undefined ? new URL(c.input) : new URL(c.input, c.base);
      } catch (e) {
        if (!c.failure) misses.push({ input: c.input, base: c.base, threw: e.message });
        continue;
      }
      if (c.failure) { misses.push({ input: c.input, base: c.base, parsed: url.href }); continue; }
      for (const key of ["href", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash", "origin"]) {
        if (c[key] !== undefined && url[key] !== c[key]) { misses.push({ input: c.input, base: c.base, key, want: c[key], got: url[key] }); break; }
      }
    }
    return Response.json({ total, misses });
  },
};
"#;

#[test]
fn web_platform_url_test_cases_pass() {
    let app = js_app(WPT_URL);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let cases = std::fs::read(repo().join("tests/web/wpt/urltestdata.json")).unwrap();
    let out: Value = client()
        .post(kiln.url("/"))
        .body(cases)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let total = out["total"].as_u64().unwrap();
    let misses = out["misses"].as_array().unwrap();
    assert!(total > 800, "{out}");
    assert!(
        misses.is_empty(),
        "{} of {total} WPT URL cases fail: {misses:#?}",
        misses.len()
    );
}
