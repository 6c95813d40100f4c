//! Prebuilt wasi-http components are served unchanged; anything else is refused with a reason.

use crate::support::{Kiln, client, repo};

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
    let log = Kiln::try_serve_app(app.path(), data.path(), &[])
        .err()
        .expect("must refuse");
    assert!(
        log.contains("core WebAssembly module, not a component"),
        "{log}"
    );
}

#[test]
fn bytes_that_are_not_wasm_are_refused() {
    let app = app_with_wasm(b"definitely not wasm");
    let data = tempfile::tempdir().unwrap();
    let log = Kiln::try_serve_app(app.path(), data.path(), &[])
        .err()
        .expect("must refuse");
    assert!(log.contains("not valid WebAssembly"), "{log}");
}

#[test]
fn a_component_without_the_http_handler_export_is_refused() {
    // An empty component: valid, but it exports nothing.
    let app = app_with_wasm(b"\0asm\x0d\0\x01\0");
    let data = tempfile::tempdir().unwrap();
    let log = Kiln::try_serve_app(app.path(), data.path(), &[])
        .err()
        .expect("must refuse");
    assert!(
        log.contains("does not export wasi:http/incoming-handler@0.2.x (it exports nothing)"),
        "{log}"
    );
}
