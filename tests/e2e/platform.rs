//! Platform mode: the NanoEdgeRT README flows, every error row of DESIGN §3, persistence,
//! prebuilt components through the admin API, versions and rollback.

use std::time::Duration;

use serde_json::json;

use crate::support::{Kiln, SECRET, admin_token, call, client, repo, token};

/// The service body from NanoEdgeRT's README, verbatim.
const README_SERVICE: &str = r#"{
    "name": "my-awesome-service",
    "code": "export default async function handler(req) {\n  const url = new URL(req.url);\n  return new Response(JSON.stringify({\n    message: \"Hello from my awesome service!\",\n    method: req.method,\n    path: url.pathname,\n    timestamp: new Date().toISOString()\n  }), {\n    status: 200,\n    headers: { \"Content-Type\": \"application/json\" }\n  });\n}",
    "enabled": true,
    "jwt_check": false,
    "permissions": {
      "read": [],
      "write": [],
      "env": [],
      "run": []
    },
    "schema": "{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"My Awesome Service\",\"version\":\"1.0.0\"}}"
  }"#;

fn admin(
    method: reqwest::Method,
    kiln: &Kiln,
    path: &str,
    token: &str,
) -> reqwest::blocking::RequestBuilder {
    client().request(method, kiln.url(path)).bearer_auth(token)
}

#[test]
fn nanoedgert_readme_service_management_flow() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    use reqwest::Method;

    // Seeded services answer at once.
    let (status, hello) = call(client().get(kiln.url("/api/v2/hello?name=World")));
    assert_eq!(status, 200);
    assert_eq!(hello["message"], "Hello, World!");
    let (status, sum) = call(client().get(kiln.url("/api/v2/calculator?a=2&b=3&op=add")));
    assert_eq!((status, sum["result"].clone()), (200, json!(5)));
    let (status, bad) = call(client().get(kiln.url("/api/v2/calculator?a=x&b=3")));
    assert_eq!(status, 400);
    assert_eq!(bad["error"], "ValidationError");

    // Create with the README's body.
    let (status, created) = call(
        admin(Method::POST, &kiln, "/admin-api/v2/services", &jwt)
            .header("content-type", "application/json")
            .body(README_SERVICE),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "my-awesome-service");
    assert_eq!(created["schema"]["info"]["title"], "My Awesome Service");
    assert!(
        created["code"]
            .as_str()
            .unwrap()
            .contains("Hello from my awesome service!")
    );
    assert_eq!(created["version"], 1);

    // Call it, at its mount and below.
    let (status, body) = call(client().get(kiln.url("/api/v2/my-awesome-service")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Hello from my awesome service!");
    assert_eq!(body["path"], "/");
    assert!(
        body["timestamp"].as_str().unwrap().starts_with("20"),
        "{body}"
    );
    let (_, body) = call(client().post(kiln.url("/api/v2/my-awesome-service/deeper/path?q=1")));
    assert_eq!(
        (body["method"].clone(), body["path"].clone()),
        (json!("POST"), json!("/deeper/path"))
    );

    // Update enabled and jwt_check, as in the README.
    let (status, updated) = call(
        admin(
            Method::PUT,
            &kiln,
            "/admin-api/v2/services/my-awesome-service",
            &jwt,
        )
        .json(&json!({"enabled": false, "jwt_check": true})),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (updated["enabled"].clone(), updated["jwt_check"].clone()),
        (json!(false), json!(true))
    );
    let (status, body) = call(client().get(kiln.url("/api/v2/my-awesome-service")));
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("Unauthorized"))
    );
    let (status, body) = call(
        client()
            .get(kiln.url("/api/v2/my-awesome-service"))
            .bearer_auth(&jwt),
    );
    assert_eq!(
        (status, body["error"].clone()),
        (503, json!("ResourceError"))
    );
    let (status, _) = call(
        admin(
            Method::PUT,
            &kiln,
            "/admin-api/v2/services/my-awesome-service",
            &jwt,
        )
        .json(&json!({"enabled": true})),
    );
    assert_eq!(status, 200);
    let (status, _) = call(client().get(kiln.url("/api/v2/my-awesome-service")));
    assert_eq!(status, 401);
    let (status, body) = call(
        client()
            .get(kiln.url("/api/v2/my-awesome-service"))
            .bearer_auth(&jwt),
    );
    assert_eq!(
        (status, body["message"].clone()),
        (200, json!("Hello from my awesome service!"))
    );

    // Config: main_port, as in the README; jwt_secret is never shown.
    let (status, entry) = call(
        admin(Method::PUT, &kiln, "/admin-api/v2/config/main_port", &jwt)
            .json(&json!({"value": "8080"})),
    );
    assert_eq!(
        (status, entry),
        (200, json!({"key": "main_port", "value": "8080"}))
    );
    let (_, config) = call(admin(Method::GET, &kiln, "/admin-api/v2/config", &jwt));
    assert_eq!(config["config"]["main_port"], "8080");
    assert_eq!(config["config"]["jwt_secret"], "********");
    let (_, entry) = call(admin(
        Method::GET,
        &kiln,
        "/admin-api/v2/config/main_port",
        &jwt,
    ));
    assert_eq!(entry, json!({"key": "main_port", "value": "8080"}));

    // List (summaries, no code) and get (with code).
    let (status, list) = call(admin(Method::GET, &kiln, "/admin-api/v2/services", &jwt));
    assert_eq!(status, 200);
    let names: Vec<&str> = list["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["calculator", "hello", "my-awesome-service"]);
    assert!(
        list["services"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.get("code").is_none())
    );
    let (status, one) = call(admin(
        Method::GET,
        &kiln,
        "/admin-api/v2/services/my-awesome-service",
        &jwt,
    ));
    assert_eq!(status, 200);
    assert!(
        one["code"]
            .as_str()
            .unwrap()
            .starts_with("export default async function handler")
    );

    // Delete: it stops being served at once.
    let (status, deleted) = call(admin(
        Method::DELETE,
        &kiln,
        "/admin-api/v2/services/my-awesome-service",
        &jwt,
    ));
    assert_eq!(status, 200);
    assert!(
        deleted["message"]
            .as_str()
            .unwrap()
            .contains("my-awesome-service")
    );
    let (status, body) = call(
        client()
            .get(kiln.url("/api/v2/my-awesome-service"))
            .bearer_auth(&jwt),
    );
    assert_eq!((status, body["error"].clone()), (404, json!("NotFound")));
}

fn error(status: u16, body: &serde_json::Value, want_status: u16, kind: &str, message_part: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], kind, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(message_part),
        "message {message:?} should contain {message_part:?}"
    );
}

#[test]
fn every_error_row_has_its_status_and_json_body() {
    use reqwest::Method;
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let services = "/admin-api/v2/services";

    // 401: missing, malformed, wrong secret, expired, alg none — always with WWW-Authenticate.
    let response = client().get(kiln.url(services)).send().unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let (s, b) = call(client().get(kiln.url(services)));
    error(s, &b, 401, "Unauthorized", "bearer token");
    let (s, b) = call(client().get(kiln.url(services)).bearer_auth("not.a.jwt"));
    error(s, &b, 401, "Unauthorized", "malformed");
    let foreign = token(
        data.path(),
        &[("KILN_JWT_SECRET", "some-other-secret-entirely")],
        &[],
    );
    let (s, b) = call(client().get(kiln.url(services)).bearer_auth(foreign));
    error(s, &b, 401, "Unauthorized", "signature");
    let expired = token(data.path(), &[("KILN_JWT_SECRET", SECRET)], &["--ttl", "1"]);
    std::thread::sleep(Duration::from_millis(2100));
    let (s, b) = call(client().get(kiln.url(services)).bearer_auth(expired));
    error(s, &b, 401, "Unauthorized", "expired");
    let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6OTk5OTk5OTk5OX0.";
    let (s, b) = call(client().get(kiln.url(services)).bearer_auth(none));
    error(s, &b, 401, "Unauthorized", "");
    // Unknown admin paths: 401 without a token, 404 with one.
    let (s, b) = call(client().get(kiln.url("/admin-api/v2/nothing-here")));
    error(s, &b, 401, "Unauthorized", "");
    let (s, b) = call(admin(
        Method::GET,
        &kiln,
        "/admin-api/v2/nothing-here",
        &jwt,
    ));
    error(s, &b, 404, "NotFound", "/admin-api/v2/nothing-here");

    // 400s at upload.
    let create =
        |body: serde_json::Value| call(admin(Method::POST, &kiln, services, &jwt).json(&body));
    let ok_code = "export default { fetch() { return new Response('ok'); } };";
    let (s, b) = create(json!({"name": "Bad_Name", "code": ok_code}));
    error(s, &b, 400, "ValidationError", "invalid name");
    let (s, b) = create(json!({"name": "broken", "code": "export default {\n  fetch( {\n}\n"}));
    error(s, &b, 400, "ValidationError", "broken.js:");
    assert!(b["line"].as_u64().unwrap() >= 2, "{b}");
    assert!(b["column"].as_u64().is_some(), "{b}");
    let (s, b) = create(json!({"name": "nohandler", "code": "export const x = 1;"}));
    error(s, &b, 400, "ValidationError", "no request handler");
    let (s, b) =
        create(json!({"name": "runner", "code": ok_code, "permissions": {"run": ["curl"]}}));
    error(
        s,
        &b,
        400,
        "ValidationError",
        "permissions.run must be empty",
    );
    let (s, b) = create(
        json!({"name": "reader", "code": ok_code, "permissions": {"read": ["/definitely/not/here"]}}),
    );
    error(s, &b, 400, "ValidationError", "/definitely/not/here");
    let (s, b) = create(json!({"name": "extra", "code": ok_code, "colour": "blue"}));
    error(s, &b, 400, "ValidationError", "colour");
    let (s, b) = call(
        admin(Method::POST, &kiln, services, &jwt)
            .header("content-type", "application/json")
            .body("{not json"),
    );
    error(s, &b, 400, "ValidationError", "invalid JSON");
    let (s, b) = call(
        admin(Method::POST, &kiln, services, &jwt)
            .header("content-type", "text/plain")
            .body("hi"),
    );
    error(s, &b, 415, "UnsupportedMediaType", "application/json");
    let (s, b) = call(
        admin(
            Method::PUT,
            &kiln,
            "/admin-api/v2/services/wasm/component",
            &jwt,
        )
        .body(b"\0asm\x01\0\0\0".to_vec()),
    );
    error(
        s,
        &b,
        400,
        "ValidationError",
        "core WebAssembly module, not a component",
    );
    let (s, b) = call(
        admin(
            Method::PUT,
            &kiln,
            "/admin-api/v2/services/wasm/component",
            &jwt,
        )
        .body(b"\0asm\x0d\0\x01\0".to_vec()),
    );
    error(
        s,
        &b,
        400,
        "ValidationError",
        "does not export wasi:http/incoming-handler",
    );
    let (s, b) = call(
        admin(
            Method::PUT,
            &kiln,
            "/admin-api/v2/services/wasm/component",
            &jwt,
        )
        .body("garbage"),
    );
    error(s, &b, 400, "ValidationError", "not valid WebAssembly");
    let foreign =
        wat::parse_str(r#"(component (import "acme:db/query@1.0.0" (instance)))"#).unwrap();
    let (s, b) = call(
        admin(
            Method::PUT,
            &kiln,
            "/admin-api/v2/services/wasm/component",
            &jwt,
        )
        .body(foreign),
    );
    error(
        s,
        &b,
        400,
        "ValidationError",
        "'acme:db/query@1.0.0', which Kiln does not provide",
    );

    // 409 and 404.
    let (s, _) = create(json!({"name": "taken", "code": ok_code}));
    assert_eq!(s, 201);
    let (s, b) = create(json!({"name": "taken", "code": ok_code}));
    error(s, &b, 409, "Conflict", "taken");
    let (s, b) = call(admin(
        Method::GET,
        &kiln,
        "/admin-api/v2/services/ghost",
        &jwt,
    ));
    error(s, &b, 404, "NotFound", "ghost");
    let (s, b) = call(client().get(kiln.url("/api/v2/ghost/x")));
    error(s, &b, 404, "NotFound", "ghost");
    let (s, b) = call(client().get(kiln.url("/no/such/route")));
    error(s, &b, 404, "NotFound", "/no/such/route");
    let (s, b) = call(admin(
        Method::GET,
        &kiln,
        "/admin-api/v2/services/%FF",
        &jwt,
    ));
    error(s, &b, 400, "ValidationError", "invalid path");
    let (s, b) = call(client().delete(kiln.url("/status")));
    error(s, &b, 405, "MethodNotAllowed", "DELETE");

    // Config validation.
    let (s, b) = call(
        admin(
            Method::PUT,
            &kiln,
            "/admin-api/v2/config/available_port_start",
            &jwt,
        )
        .json(&json!({"value": "9000"})),
    );
    error(s, &b, 400, "ValidationError", "unknown config key");
    let (s, b) = call(
        admin(Method::PUT, &kiln, "/admin-api/v2/config/main_port", &jwt)
            .json(&json!({"value": "eighty"})),
    );
    error(s, &b, 400, "ValidationError", "main_port");

    // 413 above max_upload_mb.
    let (s, _) = call(
        admin(
            Method::PUT,
            &kiln,
            "/admin-api/v2/config/max_upload_mb",
            &jwt,
        )
        .json(&json!({"value": "1"})),
    );
    assert_eq!(s, 200);
    // A little over the limit: read to its end and refused, so the client reads the answer.
    let big = format!("// {}\n{ok_code}", "x".repeat((1 << 20) + 1024));
    let (s, b) = create(json!({"name": "big", "code": big}));
    error(s, &b, 413, "PayloadTooLarge", "max_upload_mb");

    // Execution errors: 500 thrown, 504 past the deadline, 503 disabled, 401 jwt_check.
    let (s, _) = create(
        json!({"name": "thrower", "code": "export default { fetch() { throw new Error('kaput'); } };"}),
    );
    assert_eq!(s, 201);
    let (s, b) = call(client().get(kiln.url("/api/v2/thrower")));
    error(s, &b, 500, "ExecutionError", "kaput");
    assert_eq!(b["retryable"], false);
    let (s, _) = create(
        json!({"name": "sleeper", "code": "export default { fetch() { for (;;) {} } };", "limits": {"timeout_ms": 300}}),
    );
    assert_eq!(s, 201);
    let (s, b) = call(client().get(kiln.url("/api/v2/sleeper")));
    error(s, &b, 504, "TimeoutError", "300 ms");
    let (s, _) = create(json!({"name": "off", "code": ok_code, "enabled": false}));
    assert_eq!(s, 201);
    let (s, b) = call(client().get(kiln.url("/api/v2/off")));
    error(s, &b, 503, "ResourceError", "disabled");
    let (s, _) =
        create(json!({"name": "locked", "code": ok_code, "jwt_check": true, "enabled": false}));
    assert_eq!(s, 201);
    let (s, b) = call(client().get(kiln.url("/api/v2/locked")));
    error(s, &b, 401, "Unauthorized", "");
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused_and_the_first_keeps_serving() {
    let data = tempfile::tempdir().unwrap();
    let first = Kiln::platform(data.path());
    let log = Kiln::start(data.path(), &[], &[("KILN_JWT_SECRET", SECRET)])
        .err()
        .expect("a second server on the same data dir started");
    assert!(log.contains("another kiln serve (pid"), "{log}");
    assert!(log.contains("give each server its own --data-dir"), "{log}");
    let (s, _) = call(client().get(first.url("/health")));
    assert_eq!(s, 200);
    let (s, body) = call(client().get(first.url("/api/v2/hello?name=still")));
    assert_eq!((s, body["message"].clone()), (200, json!("Hello, still!")));
}

#[test]
fn services_survive_a_restart_without_recompiling() {
    use reqwest::Method;
    let data = tempfile::tempdir().unwrap();
    let jwt;
    {
        let kiln = Kiln::platform(data.path());
        jwt = admin_token(data.path());
        let (s, _) = call(admin(Method::POST, &kiln, "/admin-api/v2/services", &jwt).json(&json!({
            "name": "keeper",
            "code": "export default { fetch(r) { return Response.json({ kept: true, prefix: r.headers.get('x-forwarded-prefix') }); } };"
        })));
        assert_eq!(s, 201);
        let wasm = std::fs::read(repo().join("components/hello-rust.wasm")).unwrap();
        let (s, _) = call(
            admin(
                Method::PUT,
                &kiln,
                "/admin-api/v2/services/rusty/component",
                &jwt,
            )
            .header("content-type", "application/wasm")
            .body(wasm),
        );
        assert_eq!(s, 201);
        // Let the snapshots land in the cache: seeded hello, calculator and hello function, and keeper.
        kiln.wait_for_metric("kiln_snapshots_total", 4.0);
    }
    let kiln = Kiln::platform(data.path());
    let (s, body) = call(client().get(kiln.url("/api/v2/keeper")));
    assert_eq!(
        (s, body),
        (200, json!({"kept": true, "prefix": "/api/v2/keeper"}))
    );
    let text = client()
        .get(kiln.url("/api/v2/rusty/x"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(text, "Hello from Rust! Method::Get /x\n");
    let (s, body) = call(client().get(kiln.url("/api/v2/hello?name=again")));
    assert_eq!((s, body["message"].clone()), (200, json!("Hello, again!")));
    kiln.wait_for_metric("kiln_compile_cache_hits_total", 5.0);
    assert_eq!(
        kiln.metric("kiln_compile_cache_misses_total"),
        0.0,
        "recompiled after restart"
    );
    let (_, list) = call(admin(Method::GET, &kiln, "/admin-api/v2/services", &jwt));
    assert_eq!(list["services"].as_array().unwrap().len(), 4);
}

#[test]
fn a_prebuilt_component_is_uploaded_called_and_replaced() {
    use reqwest::Method;
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let wasm = std::fs::read(repo().join("components/hello-rust.wasm")).unwrap();
    let (s, view) = call(
        admin(
            Method::PUT,
            &kiln,
            "/admin-api/v2/services/rust-hello/component",
            &jwt,
        )
        .header("content-type", "application/wasm")
        .body(wasm.clone()),
    );
    assert_eq!(s, 201, "{view}");
    assert_eq!(view["kind"], "component");
    assert_eq!(view["version"], 1);
    let response = client()
        .get(kiln.url("/api/v2/rust-hello/greet?who=me"))
        .send()
        .unwrap();
    assert_eq!(response.headers()["x-component"], "hello-rust");
    assert_eq!(
        response.text().unwrap(),
        "Hello from Rust! Method::Get /greet?who=me\n"
    );
    let (s, view) = call(
        admin(
            Method::PUT,
            &kiln,
            "/admin-api/v2/services/rust-hello/component",
            &jwt,
        )
        .body(wasm),
    );
    assert_eq!((s, view["version"].clone()), (200, json!(2)));
}

#[test]
fn versions_and_rollback_follow_without_recompiling() {
    use reqwest::Method;
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let v1 = "export default { fetch() { return new Response('version one'); } };";
    let v2 = "export default { fetch() { return new Response('version two'); } };";
    let (s, _) = call(
        admin(Method::POST, &kiln, "/admin-api/v2/services", &jwt)
            .json(&json!({"name": "flip", "code": v1})),
    );
    assert_eq!(s, 201);
    let get = || {
        client()
            .get(kiln.url("/api/v2/flip"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    assert_eq!(get(), "version one");
    kiln.wait_for_tier(&jwt, "services/flip", "snapshot");
    let (s, view) = call(
        admin(Method::PUT, &kiln, "/admin-api/v2/services/flip", &jwt).json(&json!({"code": v2})),
    );
    assert_eq!((s, view["version"].clone()), (200, json!(2)));
    assert_eq!(get(), "version two");
    let (_, versions) = call(admin(
        Method::GET,
        &kiln,
        "/admin-api/v2/services/flip/versions",
        &jwt,
    ));
    let list = versions["versions"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0]["version"].clone(), list[0]["active"].clone()),
        (json!(1), json!(false))
    );
    assert_eq!(
        (list[1]["version"].clone(), list[1]["active"].clone()),
        (json!(2), json!(true))
    );
    assert_eq!(list[0]["sha256"].as_str().unwrap().len(), 64);

    let compiles_before = kiln.metric("kiln_compile_cache_misses_total");
    let (s, view) = call(
        admin(
            Method::POST,
            &kiln,
            "/admin-api/v2/services/flip/rollback",
            &jwt,
        )
        .json(&json!({"version": 1})),
    );
    assert_eq!((s, view["version"].clone()), (200, json!(1)));
    assert_eq!(get(), "version one");
    assert_eq!(
        kiln.metric("kiln_compile_cache_misses_total"),
        compiles_before,
        "rollback recompiled"
    );
    let (s, b) = call(
        admin(
            Method::POST,
            &kiln,
            "/admin-api/v2/services/flip/rollback",
            &jwt,
        )
        .json(&json!({"version": 7})),
    );
    error(s, &b, 404, "NotFound", "version 7");
}

#[test]
fn cors_preflights_are_answered_without_auth() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let response = client()
        .request(reqwest::Method::OPTIONS, kiln.url("/admin-api/v2/services"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(
        response.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert_eq!(
        response.headers()["access-control-allow-headers"],
        "authorization, content-type"
    );
}

#[test]
fn status_counts_services_and_requests() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    for _ in 0..3 {
        let _ = client().get(kiln.url("/api/v2/hello")).send().unwrap();
    }
    let (s, status) = call(client().get(kiln.url("/status")));
    assert_eq!(s, 200);
    assert_eq!(status["status"], "ok");
    assert_eq!(status["services"], json!({"total": 2, "enabled": 2}));
    assert_eq!(
        status["functions"],
        json!({"total": 1, "enabled": 1}),
        "the seeded function"
    );
    assert!(status["requests_total"].as_u64().unwrap() >= 3, "{status}");
    assert!(
        status["instances_active"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert!(status["uptime_seconds"].is_u64());
}

#[test]
fn openapi_describes_every_route_and_service_docs_come_from_the_stored_schema() {
    use reqwest::Method;
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let (s, doc) = call(client().get(kiln.url("/openapi.json")));
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/health", "get"),
        ("/status", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/docs", "get"),
        ("/api/docs/{service}", "get"),
        ("/api/docs/openapi/{service}", "get"),
        ("/api/v2/{name}/{rest}", "post"),
        ("/api/v2/{name}/{rest}", "get"),
        ("/functions/v2/{name}", "post"),
        ("/functions/v2/{name}", "get"),
        ("/functions/v2/{name}/{method}", "post"),
        ("/admin-api/v2/functions", "post"),
        ("/admin-api/v2/functions/{name}", "put"),
        ("/admin-api/v2/functions/{name}/component", "put"),
        ("/admin-api/v2/functions/{name}/rollback", "post"),
        ("/admin-api/v2/services", "get"),
        ("/admin-api/v2/services", "post"),
        ("/admin-api/v2/services/{name}", "put"),
        ("/admin-api/v2/services/{name}", "delete"),
        ("/admin-api/v2/services/{name}/component", "put"),
        ("/admin-api/v2/services/{name}/versions", "get"),
        ("/admin-api/v2/services/{name}/rollback", "post"),
        ("/admin-api/v2/config", "get"),
        ("/admin-api/v2/config/{key}", "put"),
        ("/admin-api/v2/services/{name}/kv/{store}", "get"),
        ("/admin-api/v2/services/{name}/kv/{store}/{key}", "put"),
        ("/admin-api/v2/functions/{name}/kv/{store}/{key}", "post"),
        ("/admin-api/v2/services/{name}/vars", "get"),
        ("/admin-api/v2/services/{name}/vars/{key}", "put"),
        ("/admin-api/v2/functions/{name}/vars/{key}", "delete"),
        ("/admin-api/v2/services/{name}/runs", "get"),
        ("/admin-api/v2/functions/{name}/runs", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from /openapi.json"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    validate_with_openapi_spec_validator(&doc);

    let (s, _) = call(
        admin(Method::POST, &kiln, "/admin-api/v2/services", &jwt)
            .header("content-type", "application/json")
            .body(README_SERVICE),
    );
    assert_eq!(s, 201);
    let (s, schema) = call(client().get(kiln.url("/api/docs/openapi/my-awesome-service")));
    assert_eq!(s, 200);
    assert_eq!(schema["info"]["title"], "My Awesome Service");
    assert_eq!(
        schema["servers"],
        json!([{"url": "/api/v2/my-awesome-service"}])
    );
    let page = client()
        .get(kiln.url("/api/docs/my-awesome-service"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("/api/docs/openapi/my-awesome-service"));
    // The seeded services carry their own documents, valid OpenAPI.
    for seeded in ["hello", "calculator"] {
        let (s, schema) = call(client().get(kiln.url(&format!("/api/docs/openapi/{seeded}"))));
        assert_eq!(s, 200, "{seeded}: {schema}");
        assert_eq!(schema["info"]["title"], seeded);
        assert_eq!(
            schema["servers"],
            json!([{ "url": format!("/api/v2/{seeded}") }])
        );
        assert!(schema["paths"]["/"]["get"]["responses"]["200"].is_object());
        validate_with_openapi_spec_validator(&schema);
        let page = client()
            .get(kiln.url(&format!("/api/docs/{seeded}")))
            .send()
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
    }
    assert_eq!(
        doc["paths"]["/health"]["get"]["responses"]["200"]["description"],
        "the server is up"
    );
    let (s, _) = call(
        admin(Method::POST, &kiln, "/admin-api/v2/services", &jwt)
            .json(&json!({"name": "plain", "code": "export default { fetch() { return new Response('x'); } };"})),
    );
    assert_eq!(s, 201);
    let (s, b) = call(client().get(kiln.url("/api/docs/openapi/plain")));
    error(s, &b, 404, "NotFound", "no schema");
    let css = client()
        .get(kiln.url("/docs/assets/swagger-ui.css"))
        .send()
        .unwrap();
    assert_eq!(css.status().as_u16(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[test]
fn swagger_ui_in_a_headless_browser_lists_kilns_operations() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(chromium) = chromium else {
        panic!(
            "the Swagger UI browser test needs Chromium: apt-get install chromium (.ci/run installs it)"
        );
    };
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let profile = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(kiln.url("/docs"))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&output.stdout);
    for operation in [
        "/admin-api/v2/services",
        "/admin-api/v2/config/{key}",
        "/api/v2/{name}/{rest}",
        "/health",
    ] {
        assert!(
            dom.contains(operation),
            "Swagger UI did not render {operation}:\n{}",
            &dom[..dom.len().min(3000)]
        );
    }
    assert!(dom.contains("opblock"), "no operation blocks rendered");
}

#[test]
fn first_start_generates_a_secret_that_kiln_token_signs_with() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::start(data.path(), &[], &[]).unwrap_or_else(|log| panic!("{log}"));
    let jwt = token(data.path(), &[], &["--sub", "ops", "--ttl", "10m"]);
    let (s, list) = call(
        client()
            .get(kiln.url("/admin-api/v2/services"))
            .bearer_auth(&jwt),
    );
    assert_eq!(s, 200, "{list}");
    // A token signed with any fixed, guessable secret is refused.
    for guess in ["default-secret-change-me", "secret", SECRET] {
        let forged = token(data.path(), &[("KILN_JWT_SECRET", guess)], &[]);
        let (s, _) = call(
            client()
                .get(kiln.url("/admin-api/v2/services"))
                .bearer_auth(forged),
        );
        assert_eq!(s, 401, "a token signed with '{guess}' was accepted");
    }
}

/// Validates the document with the reference validator (PyPI `openapi-spec-validator`, which
/// `.ci/run` installs); fails, saying how to install it, when it is missing.
fn validate_with_openapi_spec_validator(doc: &serde_json::Value) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), doc.to_string()).unwrap();
    let script = "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\nprint('valid')";
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(file.path())
        .output();
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) if String::from_utf8_lossy(&output.stderr).contains("No module named") => {
            panic!(
                "validating /openapi.json needs the reference validator: python3 -m pip install openapi-spec-validator (.ci/run installs it)"
            )
        }
        Ok(output) => panic!(
            "/openapi.json is not valid OpenAPI:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => panic!("python3 is needed to validate /openapi.json: {error}"),
    }
}

#[test]
fn outgoing_http_reaches_only_hosts_the_net_permission_grants() {
    use reqwest::Method;
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let wasm = std::fs::read(repo().join("components/fetch-rust.wasm")).unwrap();
    let (s, _) = call(
        admin(
            Method::PUT,
            &kiln,
            "/admin-api/v2/services/fetcher/component",
            &jwt,
        )
        .body(wasm),
    );
    assert_eq!(s, 201);
    let port = kiln.base.rsplit(':').next().unwrap().to_string();
    let fetch = || {
        client()
            .get(kiln.url(&format!(
                "/api/v2/fetcher?url=http://127.0.0.1:{port}/health"
            )))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    assert_eq!(
        fetch(),
        "denied: ErrorCode::HttpRequestDenied",
        "no grant: denied"
    );
    let (s, _) = call(
        admin(Method::PUT, &kiln, "/admin-api/v2/services/fetcher", &jwt)
            .json(&json!({"permissions": {"net": ["127.0.0.1:1"]}})),
    );
    assert_eq!(s, 200);
    assert_eq!(
        fetch(),
        "denied: ErrorCode::HttpRequestDenied",
        "another port: denied"
    );
    let (s, view) = call(
        admin(Method::PUT, &kiln, "/admin-api/v2/services/fetcher", &jwt)
            .json(&json!({"permissions": {"net": [format!("127.0.0.1:{port}")]}})),
    );
    assert_eq!(
        (s, view["permissions"]["net"][0].clone()),
        (200, json!(format!("127.0.0.1:{port}")))
    );
    assert_eq!(fetch(), r#"200 {"status":"ok"}"#, "granted: reached");
}

#[test]
fn metrics_count_requests_errors_instances_and_the_compile_cache() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    // The seeds are deployed in the background once the server listens.
    kiln.wait_for_metric("kiln_compile_cache_misses_total", 3.0);
    for _ in 0..3 {
        assert_eq!(
            client()
                .get(kiln.url("/api/v2/hello"))
                .send()
                .unwrap()
                .status()
                .as_u16(),
            200
        );
    }
    assert_eq!(
        client()
            .get(kiln.url("/api/v2/nobody"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let response = client().get(kiln.url("/metrics")).send().unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().unwrap();
    let value = |line: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(line))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no '{line}' in:\n{text}"))
    };
    assert_eq!(
        value("kiln_requests_total{route=\"service\",status=\"2xx\"}"),
        3.0
    );
    assert_eq!(
        value("kiln_requests_total{route=\"service\",status=\"4xx\"}"),
        1.0
    );
    assert_eq!(value("kiln_errors_total{kind=\"NotFound\"}"), 1.0);
    assert_eq!(
        value("kiln_request_duration_seconds_count{route=\"service\"}"),
        4.0
    );
    assert_eq!(
        value("kiln_request_duration_seconds_bucket{route=\"service\",le=\"+Inf\"}"),
        4.0
    );
    assert!(value("kiln_instantiations_total") >= 1.0);
    assert!(value("kiln_instances_active") >= 1.0);
    assert!(
        value("kiln_compile_cache_misses_total") >= 3.0,
        "the three seeds were compiled"
    );
    assert!(text.contains("# TYPE kiln_request_duration_seconds histogram"));
}

#[test]
fn javascript_fetch_is_held_to_the_net_grant() {
    use reqwest::Method;
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let port = kiln.base.rsplit(':').next().unwrap().to_string();
    let proxy = r#"
export default {
  async fetch(req) {
    const target = new URL(req.url).searchParams.get("to");
    try {
      const r = await fetch(target, { method: "POST", headers: { "content-type": "text/plain" }, body: "payload from fetch" });
      return Response.json({ status: r.status, ok: r.ok, body: await r.json() });
    } catch (e) {
      return Response.json({ error: String(e), isTypeError: e instanceof TypeError }, { status: 502 });
    }
  },
};"#;
    let echo = "export default { async fetch(req) { return Response.json({ method: req.method, text: await req.text() }); } };";
    for (name, code) in [("proxy", proxy), ("echo", echo)] {
        let (s, b) = call(
            admin(Method::POST, &kiln, "/admin-api/v2/services", &jwt)
                .json(&json!({"name": name, "code": code})),
        );
        assert_eq!(s, 201, "{b}");
    }
    let target = format!("/api/v2/proxy?to=http://127.0.0.1:{port}/api/v2/echo");
    let (s, b) = call(client().get(kiln.url(&target)));
    assert_eq!((s, b["isTypeError"].clone()), (502, json!(true)), "{b}");
    assert!(
        b["error"].as_str().unwrap().contains("no network grant"),
        "{b}"
    );
    let (s, _) = call(
        admin(Method::PUT, &kiln, "/admin-api/v2/services/proxy", &jwt)
            .json(&json!({"permissions": {"net": [format!("127.0.0.1:{port}")]}})),
    );
    assert_eq!(s, 200);
    let (s, b) = call(client().get(kiln.url(&target)));
    assert_eq!(
        (s, b),
        (
            200,
            json!({"status": 200, "ok": true, "body": {"method": "POST", "text": "payload from fetch"}})
        )
    );
}

/// Creates the services `upstream` and `caller`, the caller with a `net` grant to this server.
fn deploy_calling_each_other(kiln: &Kiln, jwt: &str, upstream: (&str, &str), caller: (&str, &str)) {
    let port = kiln.base.rsplit(':').next().unwrap().to_string();
    for (name, code) in [upstream, caller] {
        let (s, b) = call(
            admin(reqwest::Method::POST, kiln, "/admin-api/v2/services", jwt)
                .json(&json!({"name": name, "code": code})),
        );
        assert_eq!(s, 201, "{b}");
    }
    let (s, b) = call(
        admin(
            reqwest::Method::PUT,
            kiln,
            &format!("/admin-api/v2/services/{}", caller.0),
            jwt,
        )
        .json(&json!({"permissions": {"net": [format!("127.0.0.1:{port}")]}})),
    );
    assert_eq!(s, 200, "{b}");
}

#[test]
fn an_abort_signal_cancels_a_fetch_in_flight() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let port = kiln.base.rsplit(':').next().unwrap().to_string();
    let slow = "export default { async fetch() { await new Promise(r => setTimeout(r, 3000)); return new Response('late'); } };";
    let caller = r#"
export default {
  async fetch(req) {
    const params = new URL(req.url).searchParams;
    const target = params.get("to");
    const started = Date.now();
    let signal;
    if (params.get("how") === "timeout") signal = AbortSignal.timeout(200);
    if (params.get("how") === "controller") { const c = new AbortController(); setTimeout(() => c.abort(), 200); signal = c.signal; }
    if (params.get("how") === "before") signal = AbortSignal.abort(new Error("changed my mind"));
    if (params.get("how") === "bogus") signal = { aborted: false };
    try {
      // A Request made with a signal carries it into fetch.
      const r = params.get("how") === "request"
        ? await fetch(new Request(target, { signal: AbortSignal.timeout(200) }))
        : await fetch(target, { signal });
      return Response.json({ text: await r.text(), ms: Date.now() - started });
    } catch (e) {
      return Response.json({ name: e.name, message: e.message, ms: Date.now() - started });
    }
  },
};"#;
    deploy_calling_each_other(&kiln, &jwt, ("slow", slow), ("caller", caller));
    let to = format!("http://127.0.0.1:{port}/api/v2/slow");
    let ask = |how: &str| {
        let started = std::time::Instant::now();
        let (s, b) = call(client().get(kiln.url(&format!("/api/v2/caller?how={how}&to={to}"))));
        assert_eq!(s, 200, "{b}");
        (b, started.elapsed())
    };
    let (b, took) = ask("timeout");
    assert_eq!(b["name"], "TimeoutError", "{b}");
    assert!(
        took < std::time::Duration::from_millis(2000),
        "{took:?} {b}"
    );
    let (b, took) = ask("controller");
    assert_eq!(b["name"], "AbortError", "{b}");
    assert!(
        took < std::time::Duration::from_millis(2000),
        "{took:?} {b}"
    );
    let (b, _) = ask("before");
    assert_eq!(
        (b["name"].clone(), b["message"].clone()),
        (json!("Error"), json!("changed my mind")),
        "{b}"
    );
    let (b, _) = ask("bogus");
    assert_eq!(b["name"], "TypeError", "{b}");
    let (b, took) = ask("request");
    assert_eq!(b["name"], "TimeoutError", "{b}");
    assert!(
        took < std::time::Duration::from_millis(2000),
        "{took:?} {b}"
    );
    // Without a signal the same fetch waits for the answer.
    let (b, took) = ask("none");
    assert_eq!(b["text"], "late", "{b}");
    assert!(took >= std::time::Duration::from_millis(2900), "{took:?}");
}

#[test]
fn fetch_sends_bodies_that_are_streams_the_incoming_body_included() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let port = kiln.base.rsplit(':').next().unwrap().to_string();
    let echo = r#"
export default {
  async fetch(req) {
    const body = new Uint8Array(await req.arrayBuffer());
    let sum = 0;
    for (const b of body) sum = (sum * 31 + b) % 1000000007;
    return Response.json({ method: req.method, type: req.headers.get("content-type"), length: body.length, sum });
  },
};"#;
    let proxy = r#"
export default {
  async fetch(req) {
    const params = new URL(req.url).searchParams;
    const to = params.get("to");
    let r;
    if (params.get("how") === "forward") {
      r = await fetch(to, { method: "POST", headers: req.headers, body: req.body, duplex: "half" });
    } else if (params.get("how") === "request") {
      r = await fetch(new Request(to, { method: "PUT", headers: req.headers, body: req.body, duplex: "half" }));
    } else {
      let n = 0;
      const body = new ReadableStream({
        async pull(controller) {
          await new Promise(r => setTimeout(r, 20));
          n += 1;
          controller.enqueue(new TextEncoder().encode(`part ${n};`));
          if (n === 3) controller.close();
        },
      });
      r = await fetch(to, { method: "POST", headers: { "content-type": "text/x-parts" }, body, duplex: "half" });
    }
    return new Response(r.body, { status: r.status, headers: r.headers });
  },
};"#;
    deploy_calling_each_other(&kiln, &jwt, ("echo", echo), ("proxy", proxy));
    let to = format!("http://127.0.0.1:{port}/api/v2/echo");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sum = payload
        .iter()
        .fold(0u64, |s, &b| (s * 31 + u64::from(b)) % 1_000_000_007);
    for (how, method) in [("forward", "POST"), ("request", "PUT")] {
        let (s, b) = call(
            client()
                .post(kiln.url(&format!("/api/v2/proxy?how={how}&to={to}")))
                .header("content-type", "application/octet-stream")
                .body(payload.clone()),
        );
        assert_eq!(s, 200, "{how}: {b}");
        assert_eq!(
            b,
            json!({"method": method, "type": "application/octet-stream", "length": 300_000, "sum": sum}),
            "{how}"
        );
    }
    let (s, b) = call(client().get(kiln.url(&format!("/api/v2/proxy?how=made&to={to}"))));
    assert_eq!(s, 200, "{b}");
    let parts = b"part 1;part 2;part 3;";
    let sum = parts
        .iter()
        .fold(0u64, |s, &b| (s * 31 + u64::from(b)) % 1_000_000_007);
    assert_eq!(
        b,
        json!({"method": "POST", "type": "text/x-parts", "length": parts.len(), "sum": sum})
    );
}

#[test]
fn a_fetched_stream_is_passed_through_chunk_by_chunk() {
    use std::io::Write as _;
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let port = kiln.base.rsplit(':').next().unwrap().to_string();
    let ticks = r#"
export default {
  fetch() {
    let n = 0;
    const body = new ReadableStream({
      async pull(controller) {
        await new Promise(r => setTimeout(r, 250));
        n += 1;
        controller.enqueue(new TextEncoder().encode(`data: tick ${n}\n\n`));
        if (n === 4) controller.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  },
};"#;
    let proxy = r#"
export default {
  async fetch(req) {
    const url = new URL(req.url);
    const upstream = await fetch(url.searchParams.get("to"));
    if (url.searchParams.get("how") === "count") {
      const seen = [];
      const started = Date.now();
      for await (const chunk of upstream.body) seen.push([new TextDecoder().decode(chunk), Date.now() - started]);
      return Response.json(seen);
    }
    return upstream;
  },
};"#;
    deploy_calling_each_other(&kiln, &jwt, ("ticks", ticks), ("proxy", proxy));
    let to = format!("http://127.0.0.1:{port}/api/v2/ticks");

    // `return await fetch(...)`: the client sees each upstream chunk as it comes.
    let mut socket = std::net::TcpStream::connect(kiln.addr()).unwrap();
    write!(
        socket,
        "GET /api/v2/proxy?to={to} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let seen = crate::support::chunks_with_times(socket);
    let all: String = seen.iter().map(|(_, t)| t.as_str()).collect();
    assert!(all.contains("content-type: text/event-stream"), "{all}");
    crate::support::assert_ticks_arrived_apart(&seen, 4, Duration::from_millis(500));

    // Read in JS, the body's chunks come as the upstream sends them.
    let (s, b) = call(client().get(kiln.url(&format!("/api/v2/proxy?how=count&to={to}"))));
    assert_eq!(s, 200, "{b}");
    let chunks = b.as_array().unwrap();
    let text: String = chunks.iter().map(|c| c[0].as_str().unwrap()).collect();
    assert_eq!(
        text,
        "data: tick 1\n\ndata: tick 2\n\ndata: tick 3\n\ndata: tick 4\n\n"
    );
    assert!(chunks.len() >= 3, "{b}");
    let (first, last) = (
        chunks[0][1].as_u64().unwrap(),
        chunks.last().unwrap()[1].as_u64().unwrap(),
    );
    assert!(last - first >= 500, "{b}");
}
