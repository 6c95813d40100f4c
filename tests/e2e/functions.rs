//! Functions: JSON in and out, generators streamed as Server-Sent Events, their errors, and
//! `kiln run`.

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Kiln, admin_token, call, client, is_json, kiln_bin, repo, succeed};

fn create(kiln: &Kiln, jwt: &str, body: &str) -> (u16, serde_json::Value) {
    call(
        client()
            .post(kiln.url("/admin-api/v2/functions"))
            .bearer_auth(jwt)
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
}

fn invoke(kiln: &Kiln, name: &str, body: &str) -> reqwest::blocking::Response {
    client()
        .post(kiln.url(&format!("/functions/v2/{name}")))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap()
}

/// Reads an event stream, noting when each event arrived.
fn events(mut response: reqwest::blocking::Response) -> Vec<(Instant, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = response.read(&mut buffer).unwrap();
        if n == 0 {
            return out;
        }
        pending.push_str(&String::from_utf8_lossy(&buffer[..n]));
        while let Some(end) = pending.find("\n\n") {
            out.push((Instant::now(), pending[..end].to_string()));
            pending.drain(..end + 2);
        }
    }
}

#[test]
fn nanoedgert_readme_function_examples() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let (status, created) = create(
        &kiln,
        &jwt,
        r#"{
    "name": "hello-function",
    "code": "export default function(input) { return { message: `Hello, ${input.name || \"World\"}!` }; }",
    "enabled": true,
    "permissions": {
      "read": [],
      "write": [],
      "env": [],
      "run": []
    },
    "description": "Simple greeting function"
  }"#,
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["description"], "Simple greeting function");
    let response = invoke(&kiln, "hello-function", r#"{"name": "Alice"}"#);
    assert_eq!(response.status().as_u16(), 200);
    assert!(is_json(&response));
    assert_eq!(
        response.json::<serde_json::Value>().unwrap(),
        json!({"message": "Hello, Alice!"})
    );

    let (status, updated) = call(client().put(kiln.url("/admin-api/v2/functions/hello-function")).bearer_auth(&jwt).header("content-type", "application/json").body(
        r#"{
    "code": "export default function(input) { return { message: `Updated: Hello, ${input.name}!` }; }",
    "enabled": true,
    "description": "Updated greeting function"
  }"#,
    ));
    assert_eq!(
        (
            status,
            updated["version"].clone(),
            updated["description"].clone()
        ),
        (200, json!(2), json!("Updated greeting function"))
    );
    assert_eq!(
        invoke(&kiln, "hello-function", r#"{"name": "Alice"}"#)
            .json::<serde_json::Value>()
            .unwrap(),
        json!({"message": "Updated: Hello, Alice!"})
    );

    let (status, _) = create(
        &kiln,
        &jwt,
        &json!({
            "name": "streaming-function",
            "code": "export default function* streamingFunction() {\n  yield \"Starting process...\";\n  yield \"Processing data...\";\n  yield \"Almost done...\";\n  return \"Completed!\";\n}\n"
        })
        .to_string(),
    );
    assert_eq!(status, 201);
    let response = invoke(&kiln, "streaming-function", "{}");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(
        response.text().unwrap(),
        "data: \"Starting process...\"\n\ndata: \"Processing data...\"\n\ndata: \"Almost done...\"\n\ndata: [DONE]\"Completed!\"\n\n"
    );

    // The seeded function, and the list.
    assert_eq!(
        invoke(&kiln, "hello", r#"{"name": "Seed"}"#)
            .json::<serde_json::Value>()
            .unwrap(),
        json!({"message": "Hello, Seed!"})
    );
    let (_, list) = call(
        client()
            .get(kiln.url("/admin-api/v2/functions"))
            .bearer_auth(&jwt),
    );
    let names: Vec<&str> = list["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["hello", "hello-function", "streaming-function"]);
}

#[test]
fn yields_are_streamed_as_they_are_produced() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let code = "export default async function* (input) {\n  for (let i = 1; i <= 3; i++) {\n    await new Promise((r) => setTimeout(r, 300));\n    yield { i, at: Date.now() };\n  }\n  return { done: input.tag };\n}\n";
    let (status, _) = create(
        &kiln,
        &jwt,
        &json!({"name": "slow", "code": code}).to_string(),
    );
    assert_eq!(status, 201);
    let started = Instant::now();
    let response = invoke(&kiln, "slow", r#"{"tag": "t"}"#);
    let events = events(response);
    let texts: Vec<&str> = events.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(texts[0].starts_with("data: {\"i\":1,"), "{texts:?}");
    assert_eq!(texts[3], "data: [DONE]{\"done\":\"t\"}");
    let first = events[0].0 - started;
    let last = events[2].0 - started;
    // The yields are produced ~300 ms apart: streamed, the first arrives ~600 ms before the
    // third; buffered, they would all arrive together at the end.
    assert!(
        last - first >= Duration::from_millis(450),
        "events arrived together: {first:?} then {last:?}"
    );
    assert!(
        first < Duration::from_secs(5),
        "first event after {first:?}"
    );
}

#[test]
fn function_values_inputs_and_errors() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let functions = [
        ("echo", "export default function (input) { return input; }"),
        ("nothing", "export default function () {}"),
        (
            "later",
            "export default async function (input) { await new Promise((r) => setTimeout(r, 20)); return { got: input.x }; }",
        ),
        (
            "thrower",
            "export default function () {\n  throw new RangeError('out of range');\n}\n",
        ),
        (
            "midway",
            "export default function* () { yield 1; throw new Error('broke midway'); }",
        ),
        (
            "early",
            "export default function* () { throw new Error('broke early'); }",
        ),
        ("forever", "export default function () { for (;;) {} }"),
        (
            "slowstream",
            "export default async function* () { yield 'first'; await new Promise((r) => setTimeout(r, 5000)); yield 'never'; }",
        ),
    ];
    for (name, code) in functions {
        let limits = if name == "forever" || name == "slowstream" {
            json!({"timeout_ms": 500})
        } else {
            json!({})
        };
        let (status, body) = create(
            &kiln,
            &jwt,
            &json!({"name": name, "code": code, "limits": limits}).to_string(),
        );
        assert_eq!(status, 201, "{name}: {body}");
    }
    let json_of = |name: &str, body: &str| {
        let response = invoke(&kiln, name, body);
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().unwrap())
    };
    assert_eq!(
        json_of("echo", r#"{"a": [1, 2]}"#),
        (200, json!({"a": [1, 2]}))
    );
    assert_eq!(
        json_of("echo", ""),
        (200, json!({})),
        "an empty body is {{}}"
    );
    assert_eq!(
        json_of("nothing", "{}"),
        (200, json!(null)),
        "undefined is null"
    );
    assert_eq!(json_of("later", r#"{"x": 7}"#), (200, json!({"got": 7})));

    let (status, body) = json_of("echo", "{not json");
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("ValidationError"))
    );
    let (status, body) = json_of("thrower", "{}");
    assert_eq!(
        (status, body["error"].clone(), body["message"].clone()),
        (
            500,
            json!("ExecutionError"),
            json!("RangeError: out of range")
        )
    );
    assert!(
        body["stack"].as_str().unwrap().contains("thrower.js:2"),
        "{body}"
    );
    let (status, body) = json_of("early", "{}");
    assert_eq!(
        (status, body["message"].clone()),
        (500, json!("Error: broke early"))
    );
    let (status, body) = json_of("forever", "{}");
    assert_eq!(
        (status, body["error"].clone()),
        (504, json!("TimeoutError"))
    );
    let (status, body) = json_of("ghost", "{}");
    assert_eq!((status, body["error"].clone()), (404, json!("NotFound")));

    let midway = invoke(&kiln, "midway", "{}").text().unwrap();
    assert!(
        midway.starts_with("data: 1\n\nevent: error\ndata: {"),
        "{midway}"
    );
    assert!(
        midway.contains("\"error\":\"ExecutionError\"") && midway.contains("broke midway"),
        "{midway}"
    );
    let slow = invoke(&kiln, "slowstream", "{}").text().unwrap();
    assert!(
        slow.starts_with("data: \"first\"\n\nevent: error\ndata: {"),
        "{slow}"
    );
    assert!(slow.contains("\"error\":\"TimeoutError\""), "{slow}");

    let (status, _) = call(
        client()
            .put(kiln.url("/admin-api/v2/functions/echo"))
            .bearer_auth(&jwt)
            .json(&json!({"enabled": false})),
    );
    assert_eq!(status, 200);
    let (status, body) = json_of("echo", "{}");
    assert_eq!(
        (status, body["error"].clone()),
        (503, json!("ResourceError"))
    );
    let (status, body) = call(client().delete(kiln.url("/functions/v2/later")));
    assert_eq!(
        (status, body["error"].clone()),
        (405, json!("MethodNotAllowed"))
    );
    let (status, body) = create(
        &kiln,
        &jwt,
        &json!({"name": "notfn", "code": "export default 42;"}).to_string(),
    );
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("ValidationError"))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("the module exports no function"),
        "{body}"
    );
}

#[test]
fn a_client_that_disconnects_mid_stream_ends_the_instance() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let code = "export default async function* () { for (let i = 0; ; i++) { await new Promise((r) => setTimeout(r, 50)); yield i; } }";
    let (status, _) = create(
        &kiln,
        &jwt,
        &json!({"name": "endless", "code": code}).to_string(),
    );
    assert_eq!(status, 201);
    let live = || {
        call(client().get(kiln.url("/status"))).1["instances_active"]
            .as_u64()
            .unwrap()
    };
    let baseline = live();
    {
        let mut response = invoke(&kiln, "endless", "{}");
        let mut buffer = [0u8; 64];
        let n = response.read(&mut buffer).unwrap();
        assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("data: 0"));
        assert!(live() > baseline, "the streaming instance should be alive");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while live() > baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(live(), baseline, "the instance outlived its client");
}

#[test]
fn a_rust_function_component_returns_values_and_streams() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let wasm = std::fs::read(repo().join("components/hello-function.wasm")).unwrap();
    let (status, view) = call(
        client()
            .put(kiln.url("/admin-api/v2/functions/rust-fn/component"))
            .bearer_auth(&jwt)
            .body(wasm),
    );
    assert_eq!((status, view["kind"].clone()), (201, json!("component")));
    assert_eq!(
        invoke(&kiln, "rust-fn", r#"{"name": "Ada"}"#)
            .json::<serde_json::Value>()
            .unwrap(),
        json!({"message": "Hello, Ada!"})
    );
    assert_eq!(
        invoke(&kiln, "rust-fn", r#"{"name": "Ada", "count": 2}"#)
            .text()
            .unwrap(),
        "data: {\"message\":\"Hello, Ada!\",\"n\":1}\n\ndata: {\"message\":\"Hello, Ada!\",\"n\":2}\n\ndata: [DONE]{\"total\":2}\n\n"
    );
    let response = invoke(&kiln, "rust-fn", r#"{"fail": "on purpose"}"#);
    assert_eq!(response.status().as_u16(), 500);
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(body["message"], "Error: on purpose");
    // A service component is not a function.
    let service = std::fs::read(repo().join("components/hello-rust.wasm")).unwrap();
    let (status, body) = call(
        client()
            .put(kiln.url("/admin-api/v2/functions/not-fn/component"))
            .bearer_auth(&jwt)
            .body(service),
    );
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("does not export kiln:function/invoke@0.1.x"),
        "{body}"
    );
}

#[test]
fn kiln_run_prints_each_yield_as_it_comes_then_the_return_value() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("gen.js");
    std::fs::write(
        &file,
        "export default async function* (input) {\n  console.log('to stderr', input.name);\n  yield { hi: input.name };\n  await new Promise((r) => setTimeout(r, 10));\n  yield 2;\n  return 'Completed!';\n}\n",
    )
    .unwrap();
    let output = succeed(
        Command::new(kiln_bin())
            .arg("run")
            .arg(&file)
            .args(["--input", r#"{"name": "Bo"}"#])
            .arg("--data-dir")
            .arg(work.path().join("data")),
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "{\"hi\":\"Bo\"}\n2\n\"Completed!\"\n"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("to stderr Bo"));

    let thrower = work.path().join("throw.js");
    std::fs::write(
        &thrower,
        "export default function () {\n  throw new TypeError('nope');\n}\n",
    )
    .unwrap();
    let output = Command::new(kiln_bin())
        .arg("run")
        .arg(&thrower)
        .arg("--data-dir")
        .arg(work.path().join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TypeError: nope") && stderr.contains("throw.js:2"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
