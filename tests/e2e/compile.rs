//! `kiln compile` and source errors.

use std::process::Command;

use crate::support::{Kiln, get_json, js_app, kiln_bin, succeed};

#[test]
fn kiln_compile_writes_a_standalone_wasi_http_component_that_kiln_serves_as_prebuilt() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("greeter.js");
    std::fs::write(
        &source,
        r#"
const greeting = ["Hello", "from", "a", "compiled", "component"].join(" ");
export default { fetch(request) { return Response.json({ greeting, path: new URL(request.url).pathname }); } };
"#,
    )
    .unwrap();
    let out_dir = work.path().join("prebuilt");
    std::fs::create_dir(&out_dir).unwrap();
    succeed(
        Command::new(kiln_bin())
            .args(["compile"])
            .arg(&source)
            .arg("-o")
            .arg(out_dir.join("app.wasm"))
            .arg("--data-dir")
            .arg(work.path().join("data")),
    );

    // Only standard WASI interfaces are imported, so other wasi-http hosts can run it.
    let wasm = std::fs::read(out_dir.join("app.wasm")).unwrap();
    let mut depth = 0;
    for payload in wasmparser::Parser::new(0).parse_all(&wasm) {
        match payload.unwrap() {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth -= 1,
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let name = import.unwrap().name.name.to_string();
                    assert!(name.starts_with("wasi:"), "non-standard import {name}");
                }
            }
            _ => {}
        }
    }

    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(&out_dir, data.path(), &[]);
    let (status, json) = get_json(&kiln.url("/hi"));
    assert_eq!(status, 200);
    assert_eq!(json["greeting"], "Hello from a compiled component");
    assert_eq!(json["path"], "/hi");
}

const BROKEN: &str =
    "export default {\n  fetch(request) {\n    return new Response(\"x\";\n  }\n};\n";

#[test]
fn kiln_compile_reports_a_syntax_error_with_file_line_and_column() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("broken.js");
    std::fs::write(&source, BROKEN).unwrap();
    let output = Command::new(kiln_bin())
        .arg("compile")
        .arg(&source)
        .arg("-o")
        .arg(work.path().join("out.wasm"))
        .arg("--data-dir")
        .arg(work.path().join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken.js:3:"),
        "expected file:line:col in: {stderr}"
    );
    assert!(stderr.contains("SyntaxError"), "{stderr}");
    assert!(!work.path().join("out.wasm").exists());
}

#[test]
fn serving_an_app_with_a_syntax_error_fails_with_its_line() {
    let app = js_app(BROKEN);
    let data = tempfile::tempdir().unwrap();
    let log = Kiln::refused_app(app.path(), data.path(), &[]);
    assert!(log.contains("index.js:3:"), "{log}");
}

#[test]
fn a_module_without_a_handler_is_rejected_with_a_clear_message() {
    let app = js_app("export const notAHandler = 1;\n");
    let data = tempfile::tempdir().unwrap();
    let log = Kiln::refused_app(app.path(), data.path(), &[]);
    assert!(log.contains("no request handler"), "{log}");
}

#[test]
fn top_level_code_that_throws_is_reported_with_its_position() {
    let app = js_app(
        "const x = 1;\nnull.boom;\nexport default { fetch() { return new Response('x'); } };\n",
    );
    let data = tempfile::tempdir().unwrap();
    let log = Kiln::refused_app(app.path(), data.path(), &[]);
    assert!(log.contains("index.js:2:"), "{log}");
    assert!(log.contains("TypeError"), "{log}");
}
