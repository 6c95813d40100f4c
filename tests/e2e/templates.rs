//! `kiln new`: each template writes a folder that serves or runs as its next step says.

use std::path::Path;
use std::process::Command;

use crate::support::{Kiln, client, kiln_bin, succeed};

fn new(parent: &Path, name: &str, template: &str) -> String {
    let output = succeed(
        Command::new(kiln_bin())
            .args(["new", name, "--template", template])
            .current_dir(parent),
    );
    String::from_utf8(output.stdout).unwrap()
}

fn get(kiln: &Kiln, path: &str) -> String {
    client().get(kiln.url(path)).send().unwrap().text().unwrap()
}

#[test]
fn the_hello_template_serves_its_name() {
    let work = tempfile::tempdir().unwrap();
    let printed = new(work.path(), "greeter", "hello");
    assert!(
        printed.contains("next: kiln serve --app greeter"),
        "{printed}"
    );
    for file in ["index.js", "kiln.json", "README.md"] {
        assert!(work.path().join("greeter").join(file).is_file(), "{file}");
    }
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(&work.path().join("greeter"), data.path(), &[]);
    assert_eq!(
        get(&kiln, "/"),
        r#"{"message":"Hello from greeter!","servedBy":"kiln"}"#
    );

    // A folder that exists is left alone; a bad name is refused.
    let again = Command::new(kiln_bin())
        .args(["new", "greeter"])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("exists and is not empty"),
        "{again:?}"
    );
    let bad = Command::new(kiln_bin())
        .args(["new", "Not A Name"])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(!work.path().join("Not A Name").exists());
}

#[test]
fn the_function_templates_run() {
    let work = tempfile::tempdir().unwrap();
    new(work.path(), "hello-fn", "function");
    new(work.path(), "countdown", "stream");
    let run = |name: &str, input: &str| {
        let output = succeed(
            Command::new(kiln_bin())
                .arg("run")
                .arg(work.path().join(name).join("index.js"))
                .args(["--input", input])
                .current_dir(work.path()),
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(
        run("hello-fn", r#"{"name":"Ada"}"#).trim(),
        r#"{"message":"Hello, Ada!"}"#
    );
    assert_eq!(
        run("countdown", r#"{"from":2}"#)
            .lines()
            .collect::<Vec<_>>(),
        [r#"{"i":2}"#, r#"{"i":1}"#, r#""Liftoff!""#]
    );
}

#[test]
fn the_hono_template_builds_with_npm_and_serves() {
    let work = tempfile::tempdir().unwrap();
    new(work.path(), "web", "hono");
    let app = work.path().join("web");
    // The packages the conformance tests pin stand in for `npm install` (no network needed).
    std::os::unix::fs::symlink(
        crate::frameworks::frameworks_dir().join("node_modules"),
        app.join("node_modules"),
    )
    .unwrap();
    succeed(
        Command::new("npm")
            .args(["run", "build", "--silent"])
            .current_dir(&app),
    );
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(&app, data.path(), &[]);
    assert_eq!(
        get(&kiln, "/"),
        r#"{"message":"Hello from web!","framework":"hono"}"#
    );
    assert_eq!(get(&kiln, "/hello/Ada"), "Hello, Ada!");
}

#[test]
fn the_rust_template_builds_a_component_and_serves() {
    let work = tempfile::tempdir().unwrap();
    let printed = new(work.path(), "9lives", "rust");
    assert!(
        printed.contains("cargo build --release --target wasm32-wasip2"),
        "{printed}"
    );
    let app = work.path().join("9lives");
    // A package name cannot start with a digit: the template's is prefixed.
    let manifest = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(r#"name = "app-9lives""#), "{manifest}");
    // The build its README gives (`.ci/run` installs the wasm32-wasip2 target).
    let build = Command::new("cargo")
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
        .current_dir(&app)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "the rust template does not build (is `rustup target add wasm32-wasip2` done?):\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    std::fs::copy(
        app.join("target/wasm32-wasip2/release/app.wasm"),
        app.join("app.wasm"),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(&app, data.path(), &[]);
    assert_eq!(
        get(&kiln, "/some/path?x=1"),
        "Hello from 9lives! /some/path?x=1\n"
    );
}
