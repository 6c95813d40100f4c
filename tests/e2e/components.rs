//! Prebuilt wasi-http components are served unchanged; anything else is refused with a reason.

use crate::support::{Kiln, admin_token, call, client, repo};

fn app_with_wasm(bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.wasm"), bytes).unwrap();
    dir
}

#[test]
fn the_rust_hello_component_is_served() {
    let wasm = std::fs::read(repo().join("components/hello-rust.wasm")).unwrap();
    let app = app_with_wasm(&wasm);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    for isolation_run in 0..2 {
        let response = client().post(kiln.url("/some/path?x=1")).send().unwrap();
        assert_eq!(response.status().as_u16(), 200, "run {isolation_run}");
        assert_eq!(response.headers()["x-component"], "hello-rust");
        assert_eq!(
            response.text().unwrap(),
            "Hello from Rust! Method::Post /some/path?x=1\n"
        );
    }
}

#[test]
fn the_rust_component_in_request_mode() {
    let wasm = std::fs::read(repo().join("components/hello-rust.wasm")).unwrap();
    let app = app_with_wasm(&wasm);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &["--isolation", "request"]);
    let response = client().get(kiln.url("/")).send().unwrap();
    assert_eq!(response.text().unwrap(), "Hello from Rust! Method::Get /\n");
}

#[test]
fn a_core_module_is_refused_saying_it_is_not_a_component() {
    let app = app_with_wasm(b"\0asm\x01\0\0\0");
    let data = tempfile::tempdir().unwrap();
    let log = Kiln::refused_app(app.path(), data.path(), &[]);
    assert!(
        log.contains("core WebAssembly module, not a component"),
        "{log}"
    );
}

#[test]
fn bytes_that_are_not_wasm_are_refused() {
    let app = app_with_wasm(b"definitely not wasm");
    let data = tempfile::tempdir().unwrap();
    let log = Kiln::refused_app(app.path(), data.path(), &[]);
    assert!(log.contains("not valid WebAssembly"), "{log}");
}

#[test]
fn a_component_without_the_http_handler_export_is_refused() {
    // An empty component: valid, but it exports nothing.
    let app = app_with_wasm(b"\0asm\x0d\0\x01\0");
    let data = tempfile::tempdir().unwrap();
    let log = Kiln::refused_app(app.path(), data.path(), &[]);
    assert!(
        log.contains("does not export wasi:http/incoming-handler@0.2.x (it exports nothing)"),
        "{log}"
    );
}

/// The componentize-js (StarlingMonkey) fetch-event component, built by `just test-components`.
fn fetch_event_component() -> Vec<u8> {
    let path = repo().join("components/fetch-event-js/dist/fetch-event.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): run `just test-components` (needs Node.js and npm)",
            path.display()
        )
    })
}

#[test]
fn a_component_that_returns_without_a_response_fails_at_once_and_the_next_request_is_served() {
    let wasm = std::fs::read(repo().join("components/hello-rust.wasm")).unwrap();
    let app = app_with_wasm(&wasm);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let quick = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    for round in 0..3 {
        let (status, body) = call(quick.get(kiln.url("/forget")));
        assert_eq!(status, 500, "round {round}: {body}");
        assert_eq!(body["error"], "ExecutionError");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("returned without sending a response"),
            "{body}"
        );
        let ok = quick.get(kiln.url("/after")).send().unwrap();
        assert_eq!(ok.status().as_u16(), 200, "round {round}");
        assert_eq!(ok.text().unwrap(), "Hello from Rust! Method::Get /after\n");
    }
}

#[test]
fn a_component_whose_instances_cannot_be_reused_works_in_the_default_isolation() {
    use reqwest::Method;
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    // Compiling a 13 MB component to native code takes a while on a small machine.
    let patient = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(240))
        .build()
        .unwrap();
    let (status, view) = call(
        patient
            .request(
                Method::PUT,
                kiln.url("/admin-api/v2/services/starling/component"),
            )
            .bearer_auth(&jwt)
            .header("content-type", "application/wasm")
            .body(fetch_event_component()),
    );
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["isolation"], "reuse");
    let quick = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    for i in 0..6 {
        let (status, body) = call(quick.get(kiln.url(&format!("/api/v2/starling/item/{i}"))));
        assert_eq!(status, 200, "request {i}: {body}");
        assert_eq!(body["engine"], "starlingmonkey");
        assert_eq!(body["path"], format!("/item/{i}"));
        // Every request ran on a fresh instance: module state never carries over.
        assert_eq!(body["served"], 1, "request {i}");
    }
    let (status, view) = call(
        client()
            .get(kiln.url("/admin-api/v2/services/starling"))
            .bearer_auth(&jwt),
    );
    assert_eq!(status, 200);
    assert_eq!(view["isolation"], "reuse");
    assert_eq!(view["effective_isolation"], "request", "{view}");
    let metrics = client()
        .get(kiln.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("kiln_reuse_refused_total 1"), "{metrics}");
}

#[test]
fn a_big_component_compiles_after_the_server_listens_and_requests_wait_for_it() {
    let app = app_with_wasm(&fetch_event_component());
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    // The server answers health checks while the 13 MB component compiles.
    let health = client().get(kiln.url("/health")).send().unwrap();
    assert_eq!(health.status().as_u16(), 200);
    // A request to the app waits for the compile (up to its 30 s deadline, then 503 saying it is
    // still being deployed), then is served.
    let patient = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    loop {
        let (status, body) = call(patient.get(kiln.url("/first")));
        if status == 200 {
            assert_eq!(body["path"], "/first");
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("still being deployed"),
            "{body}"
        );
        assert!(std::time::Instant::now() < deadline, "never deployed");
    }
    drop(kiln);
    // A restart loads the compiled component from the cache.
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let (status, _) = call(client().get(kiln.url("/again")));
    assert_eq!(status, 200);
}
