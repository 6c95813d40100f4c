//! TypeScript apps: uploaded with `"lang": "ts"`, served from `index.ts`, compiled by `kiln
//! compile app.ts`; types are stripped on upload and syntax errors point into the TypeScript.

use std::process::Command;

use reqwest::Method;
use serde_json::json;

use crate::support::{Kiln, admin_token, call, client, kiln_bin};

/// TypeScript-only syntax a real app uses: interfaces, generics, an enum, a parameter property,
/// `as`/`satisfies`, a type-only import, optional and non-null operators.
const GREETER: &str = r#"import type { Something } from "./types";

interface Greeting { message: string; times: number }
enum Mood { Calm = "calm", Loud = "loud" }
enum Level { Low, High }

class Greeter<T extends string> {
  constructor(private readonly name: T, public mood: Mood = Mood.Calm) {}
  greet(times: number): Greeting {
    const word = this.mood === Mood.Loud ? this.name.toUpperCase() : this.name;
    return { message: `Hello, ${word}!`, times } satisfies Greeting;
  }
}

function first<T>(items: readonly T[]): T | undefined { return items[0]; }

export default {
  fetch(request: Request): Response {
    const url = new URL(request.url);
    const mood = (url.searchParams.get("mood") as Mood | null) ?? Mood.Calm;
    const greeter = new Greeter(url.searchParams.get("name")!, mood);
    const unused: Something | undefined = undefined;
    return Response.json({ ...greeter.greet(Number(first(url.searchParams.getAll("times")) ?? 1)), mood: Mood[mood === Mood.Loud ? "Loud" : "Calm"], level: Level[Level.High] });
  },
};
"#;

#[test]
fn a_typescript_service_is_uploaded_served_shown_as_written_and_updated() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let admin =
        |method: Method, path: &str| client().request(method, kiln.url(path)).bearer_auth(&jwt);

    let text = |path: &str| client().get(kiln.url(path)).send().unwrap().text().unwrap();

    let (status, created) = call(
        admin(Method::POST, "/admin-api/v2/services")
            .json(&json!({"name": "greeter", "code": GREETER, "lang": "ts"})),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["kind"], "ts");
    let (status, body) =
        call(client().get(kiln.url("/api/v2/greeter?name=kiln&times=3&mood=loud")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"message": "Hello, KILN!", "times": 3, "mood": "loud", "level": "High"})
    );

    // The stored source is the TypeScript as uploaded.
    let (_, shown) = call(admin(Method::GET, "/admin-api/v2/services/greeter"));
    assert_eq!(shown["code"], GREETER);
    assert_eq!(shown["kind"], "ts");

    // New code without `lang` keeps the language of the active version.
    let updated = "export default { fetch(): Response { const n: number = 2; return new Response(`v${n}`); } };";
    let (status, view) =
        call(admin(Method::PUT, "/admin-api/v2/services/greeter").json(&json!({"code": updated})));
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["kind"], "ts");
    assert_eq!(text("/api/v2/greeter"), "v2");

    // A TypeScript syntax error is a 400 naming its line and column; the previous version serves.
    let broken = "const a: number = 1;\nconst b: = 2;\nexport default { fetch() { return new Response('x'); } };\n";
    let (status, error) =
        call(admin(Method::PUT, "/admin-api/v2/services/greeter").json(&json!({"code": broken})));
    assert_eq!(status, 400, "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("greeter.ts:2:10"), "{message}");
    assert!(message.contains("SyntaxError"), "{message}");
    assert_eq!(text("/api/v2/greeter"), "v2");

    // The same text as JavaScript is refused by the JS parser, with its position.
    let (status, error) = call(admin(Method::POST, "/admin-api/v2/services").json(
        &json!({"name": "plain", "code": "export default { fetch(r: Request) { return new Response('x'); } };", "lang": "js"}),
    ));
    assert_eq!(status, 400, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("plain.js:1:"),
        "{error}"
    );

    // Only `js` and `ts` are languages; `lang` needs `code`.
    let (status, error) = call(admin(Method::POST, "/admin-api/v2/services").json(
        &json!({"name": "other", "code": "export default () => new Response('x')", "lang": "coffee"}),
    ));
    assert_eq!(status, 400, "{error}");
    let (status, error) =
        call(admin(Method::PUT, "/admin-api/v2/services/greeter").json(&json!({"lang": "js"})));
    assert_eq!(status, 400, "{error}");

    // Versions keep their language: rolling back to version 1 serves the first TypeScript again.
    let (status, rolled) = call(
        admin(Method::POST, "/admin-api/v2/services/greeter/rollback").json(&json!({"version": 1})),
    );
    assert_eq!(status, 200, "{rolled}");
    let (status, body) = call(client().get(kiln.url("/api/v2/greeter?name=ts")));
    assert_eq!(
        (status, body["message"].clone()),
        (200, json!("Hello, ts!"))
    );
}

#[test]
fn an_app_folder_with_index_ts_is_served_and_kiln_compile_takes_typescript() {
    let app = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("index.ts"), GREETER).unwrap();
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    kiln.wait_for_snapshot();
    let (status, body) = call(client().get(kiln.url("/?name=folder")));
    assert_eq!(
        (status, body["message"].clone()),
        (200, json!("Hello, folder!"))
    );
    drop(kiln);

    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("broken.ts");
    std::fs::write(&source, "let x: = 1;\n").unwrap();
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
    assert!(stderr.contains("broken.ts:1:8"), "{stderr}");
}
