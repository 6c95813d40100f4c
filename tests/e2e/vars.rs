//! Variables and secrets: set through the admin API, seen as `env.KEY` and `Deno.env` in
//! JavaScript (services and functions), through `wasi:config/store` and the environment in a
//! component, named in a folder's `kiln.json`; secrets never shown, logged or stored in clear.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Kiln, SECRET, admin_token, call, client, repo, test_database};

/// Answers what the app sees of its variables.
const APP: &str = r#"
export default {
  fetch(request, env) {
    return Response.json({
      greeting: env.GREETING ?? null,
      key: env.API_KEY ?? null,
      deno: Deno.env.get("API_KEY") ?? null,
      names: Object.keys(env).sort(),
    });
  },
};
"#;

const SECRET_VALUE: &str = "s3cret-value-4242";
const ROTATED_VALUE: &str = "r0tated-value-4343";

fn platform(data: &std::path::Path) -> (Kiln, String) {
    let kiln = Kiln::platform(data);
    let jwt = admin_token(data);
    (kiln, jwt)
}

fn put_var(kiln: &Kiln, jwt: &str, path: &str, body: Value) -> (u16, Value) {
    call(kiln.admin(Method::PUT, path, jwt).json(&body))
}

/// Creates the app `name` of `kind` (`services` | `functions`) from `code`.
fn create(kiln: &Kiln, jwt: &str, kind: &str, name: &str, code: &str) {
    let (status, body) = call(
        kiln.admin(Method::POST, &format!("/admin-api/v2/{kind}"), jwt)
            .json(&json!({"name": name, "code": code})),
    );
    assert_eq!(status, 201, "{body}");
}

/// Sets each `(key, value, secret)` on `/admin-api/v2/{app}/vars/{key}` (`app`: `services/shop`).
fn set_all(kiln: &Kiln, jwt: &str, app: &str, vars: &[(&str, &str, bool)]) {
    for (key, value, secret) in vars {
        let (status, body) = put_var(
            kiln,
            jwt,
            &format!("/admin-api/v2/{app}/vars/{key}"),
            json!({"value": value, "secret": secret}),
        );
        assert_eq!(status, 200, "{key}: {body}");
    }
}

fn seen(kiln: &Kiln) -> Value {
    let (status, body) = call(client().get(kiln.url("/api/v2/shop")));
    assert_eq!(status, 200, "{body}");
    body
}

/// Every file of the data dir (the database and its journal included), as bytes.
fn data_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            all.extend(std::fs::read(entry.path()).unwrap_or_default());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn variables_and_secrets_reach_the_app_and_secrets_nothing_else() {
    let data = tempfile::tempdir().unwrap();
    let (kiln, jwt) = platform(data.path());
    create(&kiln, &jwt, "services", "shop", APP);
    assert_eq!(seen(&kiln)["greeting"], Value::Null);

    let vars = "/admin-api/v2/services/shop/vars";
    let (status, body) = put_var(
        &kiln,
        &jwt,
        &format!("{vars}/GREETING"),
        json!({"value": "hello"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"key": "GREETING", "value": "hello", "secret": false})
    );
    let (status, body) = put_var(
        &kiln,
        &jwt,
        &format!("{vars}/API_KEY"),
        json!({"value": SECRET_VALUE, "secret": true}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"key": "API_KEY", "value": "********", "secret": true})
    );
    // The very next request sees both: as env.KEY and through Deno.env.
    let body = seen(&kiln);
    assert_eq!(body["greeting"], "hello");
    assert_eq!(body["key"], SECRET_VALUE);
    assert_eq!(body["deno"], SECRET_VALUE);
    assert_eq!(body["names"], json!(["API_KEY", "GREETING"]));

    // Views mask the secret.
    let (status, body) = call(kiln.admin(Method::GET, vars, &jwt));
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"vars": [
            {"key": "API_KEY", "value": "********", "secret": true},
            {"key": "GREETING", "value": "hello", "secret": false},
        ]})
    );
    let (status, body) = call(kiln.admin(Method::GET, &format!("{vars}/API_KEY"), &jwt));
    assert_eq!((status, body["value"].clone()), (200, json!("********")));
    for path in [
        "/admin-api/v2/services/shop",
        "/admin-api/v2/services",
        "/admin-api/v2/services/shop/versions",
        "/status",
    ] {
        let text = kiln
            .admin(Method::GET, path, &jwt)
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(!text.contains(SECRET_VALUE), "{path} shows the secret");
    }

    // Rotation: the next request sees the new value.
    let (status, _) = put_var(
        &kiln,
        &jwt,
        &format!("{vars}/API_KEY"),
        json!({"value": ROTATED_VALUE, "secret": true}),
    );
    assert_eq!(status, 200);
    assert_eq!(seen(&kiln)["key"], ROTATED_VALUE);

    // Deleting one: gone from the app and the views.
    let response = kiln
        .admin(Method::DELETE, &format!("{vars}/GREETING"), &jwt)
        .send()
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(seen(&kiln)["greeting"], Value::Null);
    let (status, body) = call(kiln.admin(Method::GET, &format!("{vars}/GREETING"), &jwt));
    assert_eq!(status, 404, "{body}");

    // Bad input: clear errors that never echo a value.
    for (key, body, want) in [
        ("KILN_TOKEN", json!({"value": "x"}), 400),
        ("2FA", json!({"value": "x"}), 400),
        ("OK", json!({"value": "x".repeat(33 << 10)}), 413),
        ("OK", json!({"value": "a\u{0}b"}), 400),
        ("OK", json!({"value": SECRET_VALUE, "secret": "yes"}), 400),
        ("OK", json!({"secret": true}), 400),
    ] {
        let (status, answer) = put_var(&kiln, &jwt, &format!("{vars}/{key}"), body);
        assert_eq!(status, want, "{key}: {answer}");
        assert!(!answer.to_string().contains(SECRET_VALUE), "{answer}");
    }
    let (status, _) = put_var(
        &kiln,
        &jwt,
        "/admin-api/v2/services/nobody/vars/A",
        json!({"value": "x"}),
    );
    assert_eq!(status, 404);
    // Only operators: no token, no access.
    let response = client()
        .put(kiln.url(&format!("{vars}/A")))
        .json(&json!({"value": "x"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 401);

    // Neither the log nor any file in the data dir (the database included) holds a secret.
    let log = kiln.log();
    assert!(
        !log.contains(SECRET_VALUE) && !log.contains(ROTATED_VALUE),
        "{log}"
    );
    drop(kiln);
    if test_database(data.path()).is_none() {
        let bytes = data_bytes(data.path());
        assert!(contains(&bytes, "hello"), "the plain value is stored");
        assert!(!contains(&bytes, SECRET_VALUE) && !contains(&bytes, ROTATED_VALUE));
    }
}

#[test]
fn secrets_survive_a_restart_and_a_node_with_another_key_refuses_to_serve_them() {
    let data = tempfile::tempdir().unwrap();
    {
        let (kiln, jwt) = platform(data.path());
        create(&kiln, &jwt, "services", "shop", APP);
        set_all(
            &kiln,
            &jwt,
            "services/shop",
            &[("API_KEY", SECRET_VALUE, true)],
        );
    }
    {
        let kiln = Kiln::platform(data.path());
        assert_eq!(seen(&kiln)["key"], SECRET_VALUE);
    }
    // The database alone is not enough: with another key the secret does not open, and the app
    // is not served rather than served without it.
    let other = "ab".repeat(32);
    let kiln = Kiln::start(
        data.path(),
        &["--promote-rps", "0"],
        &[("KILN_JWT_SECRET", SECRET), ("KILN_SECRETS_KEY", &other)],
    )
    .unwrap();
    let response = client().get(kiln.url("/api/v2/shop")).send().unwrap();
    assert_ne!(response.status(), 200);
    assert!(!response.text().unwrap().contains(SECRET_VALUE));
    assert!(
        kiln.wait_for_log("cannot be opened", std::time::Duration::from_secs(10)),
        "{}",
        kiln.log()
    );
    // A malformed key is refused at start.
    let refused = Kiln::start(
        tempfile::tempdir().unwrap().path(),
        &[],
        &[("KILN_SECRETS_KEY", "not-hex")],
    )
    .err()
    .expect("a malformed key is refused");
    assert!(refused.contains("64 hexadecimal digits"), "{refused}");
}

#[test]
fn functions_get_variables_on_env() {
    let data = tempfile::tempdir().unwrap();
    let (kiln, jwt) = platform(data.path());
    create(
        &kiln,
        &jwt,
        "functions",
        "greet",
        "export default function (input, env) { return { text: `${env.GREETING}, ${input.name}`, token: env.TOKEN }; }",
    );
    set_all(
        &kiln,
        &jwt,
        "functions/greet",
        &[("GREETING", "Hello", false), ("TOKEN", "t0k3n", true)],
    );
    let (status, body) = call(
        client()
            .post(kiln.url("/functions/v2/greet"))
            .json(&json!({"name": "Ada"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"text": "Hello, Ada", "token": "t0k3n"}));
}

#[test]
fn a_component_reads_its_variables_through_wasi_config_and_the_environment() {
    let data = tempfile::tempdir().unwrap();
    let (kiln, jwt) = platform(data.path());
    let wasm = std::fs::read(repo().join("components/kv-rust.wasm")).unwrap();
    let (status, body) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/services/cfg/component", &jwt)
            .body(wasm),
    );
    assert_eq!(status, 201, "{body}");
    let get = |path: &str| {
        let response = client()
            .get(kiln.url(&format!("/api/v2/cfg{path}")))
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    assert_eq!(get("/_config/REGION"), (404, "not set".to_string()));
    set_all(
        &kiln,
        &jwt,
        "services/cfg",
        &[("REGION", "eu-west", false), ("DB_PASSWORD", "pw-9", true)],
    );
    assert_eq!(get("/_config/REGION"), (200, "eu-west".to_string()));
    assert_eq!(get("/_config/DB_PASSWORD"), (200, "pw-9".to_string()));
    assert_eq!(get("/_env/DB_PASSWORD"), (200, "pw-9".to_string()));
    assert_eq!(get("/_config"), (200, "DB_PASSWORD\nREGION".to_string()));
    // Kiln's own variables are not the app's.
    assert_eq!(get("/_config/KILN_VARS").0, 404);
    // Variables outlive a new upload of the component.
    let wasm = std::fs::read(repo().join("components/kv-rust.wasm")).unwrap();
    let (status, body) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/services/cfg/component", &jwt)
            .body(wasm),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(get("/_config/REGION"), (200, "eu-west".to_string()));
}

#[test]
fn a_folder_names_its_variables_in_kiln_json() {
    let app = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("index.js"), APP).unwrap();
    std::fs::write(
        app.path().join("kiln.json"),
        r#"{"vars": {"GREETING": "from the folder"}}"#,
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let (status, body) = call(client().get(kiln.url("/")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["greeting"], "from the folder");
    assert_eq!(body["key"], Value::Null);
    drop(kiln);
    std::fs::write(
        app.path().join("kiln.json"),
        r#"{"vars": {"KILN_X": "no"}}"#,
    )
    .unwrap();
    let refused = Kiln::refused_app(app.path(), data.path(), &[]);
    assert!(
        refused.contains("'KILN_X' is not a variable name"),
        "{refused}"
    );
}
