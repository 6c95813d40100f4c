//! `kiln login`, `deploy`, `apps`, `versions`, `rollback`, `delete` against a real server: a folder from `kiln new`
//! deployed and redeployed, a syntax error's output and exit code, a function, a component,
//! `kiln.json` settings and variables, and where the login is kept.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use crate::support::{Kiln, admin_token, call, client, kiln_bin, platform, repo, succeed};

/// `kiln ARGS` with its login kept under `config`, in `cwd`.
fn kiln(config: &Path, cwd: &Path, args: &[&str]) -> Output {
    Command::new(kiln_bin())
        .args(args)
        .current_dir(cwd)
        .env("XDG_CONFIG_HOME", config)
        .env_remove("KILN_SERVER")
        .env_remove("KILN_TOKEN")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn get(kiln: &Kiln, path: &str) -> String {
    client().get(kiln.url(path)).send().unwrap().text().unwrap()
}

#[test]
fn login_then_deploy_a_folder_a_function_and_a_component() {
    let (data, server, jwt) = platform();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("config");
    let url = format!("http://{}", server.addr());

    // Not logged in: a sentence saying what to do.
    let out = kiln(&config, work.path(), &["apps"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("kiln login --server URL"),
        "{out:?}"
    );
    // A bad token is refused and nothing is saved.
    let out = kiln(
        &config,
        work.path(),
        &["login", "--server", &url, "--token", "nope"],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("refused the token"), "{out:?}");
    assert!(!config.join("kiln/login.json").exists());
    let out = kiln(
        &config,
        work.path(),
        &["login", "--server", &url, "--token", &jwt],
    );
    assert!(out.status.success(), "{out:?}");
    let saved = config.join("kiln/login.json");
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A folder from a template, with settings and a variable in its kiln.json.
    succeed(
        Command::new(kiln_bin())
            .args(["new", "greeter"])
            .current_dir(work.path()),
    );
    let app = work.path().join("greeter");
    std::fs::write(
        app.join("kiln.json"),
        r#"{"limits": {"timeout_ms": 5000}, "vars": {"GREETING": "Hej"}}"#,
    )
    .unwrap();
    std::fs::write(
        app.join("index.js"),
        "export default { fetch(request, env) { return new Response(`${env.GREETING} v1`); } };",
    )
    .unwrap();
    let out = kiln(&config, &app, &["deploy"]);
    assert!(out.status.success(), "{out:?}");
    let printed = text(&out.stdout);
    assert!(printed.contains("as the service 'greeter'"), "{printed}");
    assert!(
        printed.contains(&format!(
            "created: version 1 (bytecode) → {url}/api/v2/greeter/"
        )),
        "{printed}"
    );
    assert_eq!(get(&server, "/api/v2/greeter/"), "Hej v1");
    let (_, view) =
        call(server.admin(reqwest::Method::GET, "/admin-api/v2/services/greeter", &jwt));
    assert_eq!(view["limits"]["timeout_ms"], 5000, "{view}");

    // A change is a new version; the same code again is none.
    std::fs::write(
        app.join("index.js"),
        "export default { fetch(request, env) { return new Response(`${env.GREETING} v2`); } };",
    )
    .unwrap();
    let out = kiln(&config, work.path(), &["deploy", "greeter"]);
    assert!(text(&out.stdout).contains("updated: version 2"), "{out:?}");
    assert_eq!(get(&server, "/api/v2/greeter/"), "Hej v2");
    let out = kiln(&config, work.path(), &["deploy", "greeter"]);
    assert!(
        text(&out.stdout).contains("unchanged code, still version 2"),
        "{out:?}"
    );

    // A syntax error: file:line:col, the line and a caret; exit 1; the old version serves on.
    std::fs::write(
        app.join("index.js"),
        "export default {\n  fetch() {\n    return new Response(\"x\"\n  }\n};\n",
    )
    .unwrap();
    let out = kiln(&config, work.path(), &["deploy", "greeter"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let error = text(&out.stderr);
    assert!(error.contains(":4:3: SyntaxError"), "{error}");
    assert!(error.contains("\n    }\n    ^"), "{error}");
    assert_eq!(get(&server, "/api/v2/greeter/"), "Hej v2");

    // One file as a function, named after it; a component as a service.
    let calc = work.path().join("calc.js");
    std::fs::write(&calc, "export const add = ({ a, b }) => a + b;").unwrap();
    let out = kiln(&config, work.path(), &["deploy", "calc.js", "--function"]);
    assert!(
        text(&out.stdout).contains(&format!("→ {url}/functions/v2/calc")),
        "{out:?}"
    );
    let (status, sum) = call(
        client()
            .post(server.url("/functions/v2/calc/add"))
            .json(&json!({"a": 2, "b": 3})),
    );
    assert_eq!((status, sum), (200, json!(5)));
    let wasm = repo().join("components/hello-rust.wasm");
    let out = kiln(
        &config,
        work.path(),
        &["deploy", wasm.to_str().unwrap(), "--name", "rusty"],
    );
    assert!(text(&out.stdout).contains("(component)"), "{out:?}");
    assert_eq!(
        client()
            .get(server.url("/api/v2/rusty/"))
            .send()
            .unwrap()
            .status(),
        200
    );

    // Versions, rollback and delete.
    let out = kiln(&config, work.path(), &["versions", "greeter"]);
    let listed = text(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        listed
            .lines()
            .any(|l| l.trim_start().starts_with("2 ") && l.ends_with("(active)")),
        "{listed}"
    );
    assert!(
        listed.lines().any(|l| l.trim_start().starts_with("1 ")),
        "{listed}"
    );
    let out = kiln(&config, work.path(), &["rollback", "greeter", "1"]);
    assert!(
        text(&out.stdout).contains("'greeter' now serves version 1"),
        "{out:?}"
    );
    assert_eq!(get(&server, "/api/v2/greeter/"), "Hej v1");
    let out = kiln(&config, work.path(), &["rollback", "greeter", "9"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("404"), "{out:?}");
    let out = kiln(&config, work.path(), &["delete", "calc", "--function"]);
    assert!(text(&out.stdout).contains("deleted 'calc'"), "{out:?}");
    assert_eq!(
        client()
            .post(server.url("/functions/v2/calc/add"))
            .send()
            .unwrap()
            .status(),
        404
    );

    // `kiln apps`, here through KILN_SERVER and KILN_TOKEN instead of the saved login.
    std::fs::remove_file(&saved).unwrap();
    let out = Command::new(kiln_bin())
        .arg("apps")
        .env("XDG_CONFIG_HOME", &config)
        .env("KILN_SERVER", &url)
        .env("KILN_TOKEN", admin_token(data.path()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let listed = text(&out.stdout);
    for line in ["service  greeter", "service  rusty"] {
        assert!(listed.contains(line), "{line} not in\n{listed}");
    }
    // A folder with nothing to deploy says so.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = Command::new(kiln_bin())
        .args(["deploy", empty.to_str().unwrap()])
        .env("KILN_SERVER", &url)
        .env("KILN_TOKEN", &jwt)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("nothing to deploy"), "{out:?}");
}

#[test]
fn kiln_vars_and_kiln_secret_put_reach_the_app() {
    let (_data, server, jwt) = platform();
    crate::support::create_app(
        &server,
        &jwt,
        "services",
        json!({"name": "keyed", "code": "export default { fetch(request, env) { return new Response(`${env.MODE}:${env.TOKEN}`); } };"}),
    );
    let work = tempfile::tempdir().unwrap();
    let cli = |args: &[&str], stdin: &str| {
        let mut child = Command::new(kiln_bin())
            .args(args)
            .env("XDG_CONFIG_HOME", work.path())
            .env("KILN_SERVER", server.url(""))
            .env("KILN_TOKEN", &jwt)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = cli(&["vars", "set", "keyed", "MODE", "live"], "");
    assert!(out.status.success(), "{out:?}");
    // The secret's value comes from standard input, never from the command line.
    let out = cli(&["secret", "put", "keyed", "TOKEN"], "s3cr3t-value\n");
    assert!(out.status.success(), "{out:?}");
    assert!(
        text(&out.stdout).contains("set the secret TOKEN"),
        "{out:?}"
    );
    assert_eq!(get(&server, "/api/v2/keyed/"), "live:s3cr3t-value");
    let out = cli(&["vars", "list", "keyed"], "");
    let listed = text(&out.stdout);
    assert!(listed.contains("MODE"), "{listed}");
    assert!(listed.contains("********"), "{listed}");
    assert!(!listed.contains("s3cr3t"), "{listed}");
    // No value: nothing stored, a sentence, exit 1.
    let out = cli(&["secret", "put", "keyed", "EMPTY"], "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no value given for EMPTY"),
        "{out:?}"
    );
    // A bad key is the server's sentence.
    let out = cli(&["vars", "set", "keyed", "KILN_X", "1"], "");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("(400"), "{out:?}");
    let out = cli(&["vars", "delete", "keyed", "MODE"], "");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(get(&server, "/api/v2/keyed/"), "undefined:s3cr3t-value");
}
