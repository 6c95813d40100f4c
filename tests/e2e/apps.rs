//! The JavaScript module forms, and what a request and response carry through them.

use crate::support::{Kiln, client, get_json, is_json, js_app};

const ECHO: &str = r#"
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const body = await request.text();
    return new Response(JSON.stringify({
      method: request.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      header: request.headers.get("x-kiln-test"),
      missing: request.headers.get("x-not-sent"),
      body,
      env: typeof env,
    }), {
      status: 201,
      statusText: "Created Here",
      headers: { "content-type": "application/json", "x-reply": "from-js" },
    });
  },
};
"#;

#[test]
fn workers_style_module_sees_the_request_and_shapes_the_response() {
    let app = js_app(ECHO);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let response = client()
        .put(kiln.url("/items/42?color=red&size=xl"))
        .header("x-kiln-test", "hello")
        .body("payload ✓")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.headers()["x-reply"], "from-js");
    assert_eq!(response.headers()["content-type"], "application/json");
    let json: serde_json::Value = response.json().unwrap();
    assert_eq!(json["method"], "PUT");
    assert_eq!(json["path"], "/items/42");
    assert_eq!(
        json["query"],
        serde_json::json!({"color": "red", "size": "xl"})
    );
    assert_eq!(json["header"], "hello");
    assert_eq!(json["missing"], serde_json::Value::Null);
    assert_eq!(json["body"], "payload ✓");
    assert_eq!(json["env"], "object");
}

/// A `Request` kept in module state still reads its own header fields in a later request; a
/// response with a field the host refuses (hop-by-hop) is sent without that field only.
#[test]
fn a_kept_request_keeps_its_headers_and_refused_response_fields_are_dropped_alone() {
    let app = js_app(
        r#"
let kept;
export default {
  fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/keep") {
      kept = request;
      return new Response("kept");
    }
    if (path === "/kept") {
      return Response.json({ kept: kept.headers.get("x-which"), now: request.headers.get("x-which") });
    }
    return new Response("fields", { status: 203, headers: { "x-one": "1", connection: "close", "x-two": "2" } });
  },
};
"#,
    );
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &["--isolation", "reuse"]);
    let kept = client()
        .get(kiln.url("/keep"))
        .header("x-which", "first")
        .send()
        .unwrap();
    assert_eq!(kept.text().unwrap(), "kept");
    let later = client()
        .get(kiln.url("/kept"))
        .header("x-which", "second")
        .send()
        .unwrap();
    let json: serde_json::Value = later.json().unwrap();
    assert_eq!(json, serde_json::json!({"kept": "first", "now": "second"}));
    let fields = client().get(kiln.url("/fields")).send().unwrap();
    assert_eq!(fields.status().as_u16(), 203);
    assert_eq!(fields.headers()["x-one"], "1");
    assert_eq!(fields.headers()["x-two"], "2");
    assert!(
        fields
            .headers()
            .get("connection")
            .is_none_or(|v| v != "close")
    );
    assert_eq!(fields.text().unwrap(), "fields");
}

#[test]
fn default_async_function_handler_with_json_body() {
    let app = js_app(
        r#"
export default async function handler(req) {
  const input = await req.json();
  await Promise.resolve();
  return Response.json({ sum: input.a + input.b, ct: req.headers.get("content-type") });
}
"#,
    );
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let response = client()
        .post(kiln.url("/"))
        .json(&serde_json::json!({"a": 2, "b": 40}))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(is_json(&response));
    let json: serde_json::Value = response.json().unwrap();
    assert_eq!(json["sum"], 42);
    assert_eq!(json["ct"], "application/json");
}

#[test]
fn deno_serve_at_module_level_as_nanoedgert_services_do() {
    let app = js_app(
        r#"
Deno.serve(async (req) => {
  const url = new URL(req.url);
  const name = url.searchParams.get("name") || "World";
  return new Response(JSON.stringify({ message: `Hello, ${name}!` }), {
    headers: { "Content-Type": "application/json" },
  });
});
"#,
    );
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let (status, json) = get_json(&kiln.url("/?name=Kiln"));
    assert_eq!(status, 200);
    assert_eq!(json["message"], "Hello, Kiln!");
}

#[test]
fn redirects_binary_bodies_and_null_bodies() {
    let app = js_app(
        r#"
export default {
  fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/go") return Response.redirect("https://example.com/next", 307);
    if (path === "/bytes") return new Response(new Uint8Array([0, 1, 2, 255]), { headers: { "content-type": "application/octet-stream" } });
    if (path === "/empty") return new Response(null, { status: 204 });
    return new Response("not found", { status: 404 });
  },
};
"#,
    );
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let go = http.get(kiln.url("/go")).send().unwrap();
    assert_eq!(go.status().as_u16(), 307);
    assert_eq!(go.headers()["location"], "https://example.com/next");
    let bytes = http.get(kiln.url("/bytes")).send().unwrap();
    assert_eq!(bytes.bytes().unwrap().as_ref(), &[0u8, 1, 2, 255]);
    let empty = http.get(kiln.url("/empty")).send().unwrap();
    assert_eq!(empty.status().as_u16(), 204);
    let missing = http.get(kiln.url("/nope")).send().unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(missing.text().unwrap(), "not found");
}

#[test]
fn a_throwing_handler_gives_500_json_with_the_js_message() {
    let app = js_app(
        r#"
export default {
  fetch(request) {
    if (new URL(request.url).pathname === "/reject") return Promise.reject(new TypeError("rejected on purpose"));
    throw new Error("handler exploded");
  },
};
"#,
    );
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let (status, json) = get_json(&kiln.url("/"));
    assert_eq!(status, 500);
    assert_eq!(json["error"], "ExecutionError");
    assert_eq!(json["message"], "Error: handler exploded");
    assert_eq!(json["retryable"], false);
    let (status, json) = get_json(&kiln.url("/reject"));
    assert_eq!(status, 500);
    assert_eq!(json["message"], "TypeError: rejected on purpose");
    // The error and its JS stack reach the server log, tagged with the app.
    assert!(
        kiln.wait_for_log("handler exploded", std::time::Duration::from_secs(5)),
        "{}",
        kiln.log()
    );
    assert!(
        kiln.log().contains("index.js:"),
        "stack with file position expected:\n{}",
        kiln.log()
    );
}

#[test]
fn a_handler_that_returns_no_response_is_an_execution_error() {
    let app = js_app("export default { fetch() { return 42; } };");
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let (status, json) = get_json(&kiln.url("/"));
    assert_eq!(status, 500);
    assert_eq!(json["error"], "ExecutionError");
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("must return a Response"),
        "{json}"
    );
}

#[test]
fn console_output_goes_to_the_host_log_tagged_with_the_app() {
    let app = js_app(
        r#"
export default {
  fetch() {
    console.log("visible log line", { n: 1 });
    console.error("visible error line");
    return new Response("ok");
  },
};
"#,
    );
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    assert_eq!(
        client().get(kiln.url("/")).send().unwrap().text().unwrap(),
        "ok"
    );
    assert!(
        kiln.wait_for_log(
            "visible log line {\"n\":1}",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        kiln.log()
    );
    assert!(kiln.wait_for_log("visible error line", std::time::Duration::from_secs(5)));
    let line = kiln
        .log()
        .lines()
        .find(|l| l.contains("visible log line"))
        .unwrap()
        .to_string();
    let app_name = app
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase();
    assert!(
        line.contains(&app_name),
        "log line should name the app: {line}"
    );
}

#[test]
fn health_endpoints_answer_beside_the_app() {
    let app = js_app("export default { fetch() { return new Response('app'); } };");
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    for path in ["/health", "/healthz"] {
        let (status, json) = get_json(&kiln.url(path));
        assert_eq!(status, 200);
        assert_eq!(json, serde_json::json!({"status": "ok"}));
    }
    assert_eq!(
        client()
            .get(kiln.url("/other"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "app"
    );
}

#[test]
fn the_app_redeploys_when_its_file_changes_and_a_broken_edit_keeps_the_old_version() {
    let app = js_app("export default { fetch() { return new Response('first'); } };");
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let get = || client().get(kiln.url("/")).send().unwrap().text().unwrap();
    assert_eq!(get(), "first");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(
        app.path().join("index.js"),
        "export default { fetch() { return new Response('second'); } };",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while get() != "second" {
        assert!(
            std::time::Instant::now() < deadline,
            "never redeployed:\n{}",
            kiln.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(
        app.path().join("index.js"),
        "export default { fetch() { return new Response('oops' }; };",
    )
    .unwrap();
    assert!(
        kiln.wait_for_log(
            "the version served before (if any) keeps serving",
            std::time::Duration::from_secs(20)
        ),
        "{}",
        kiln.log()
    );
    // The error names the file, line and column.
    assert!(kiln.log().contains("index.js:1:"), "{}", kiln.log());
    assert_eq!(get(), "second");
}
