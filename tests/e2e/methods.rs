//! Functions with several methods (`POST /functions/v2/{name}/{method}`, introspection at
//! `GET /functions/v2/{name}`) and routes pinned to a stored version (`name@{version}`,
//! `name@latest`).

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{SECRET, call, client, create_app, platform, repo, token};

/// A function module with a default export, a plain method, an async one, a streaming one and
/// an export that is not a function.
const CALC: &str = r#"
export default function (input) { return { hello: input.name ?? "world" }; }
export function add({ a, b }) { return a + b; }
export async function mul({ a, b }) { await null; return a * b; }
export async function* count({ n }) { for (let i = 0; i < n; i++) yield { i }; return "end"; }
export const version = 3;
"#;

fn post(kiln: &crate::support::Kiln, path: &str, body: Value) -> (u16, Value) {
    call(client().post(kiln.url(path)).json(&body))
}

#[test]
fn a_function_module_names_its_methods_and_each_is_called_by_name() {
    let (_data, kiln, jwt) = platform();
    create_app(
        &kiln,
        &jwt,
        "functions",
        json!({"name": "calc", "code": CALC}),
    );

    let (status, described) = call(client().get(kiln.url("/functions/v2/calc")));
    assert_eq!(status, 200, "{described}");
    assert_eq!(
        described,
        json!({"name": "calc", "methods": [
            {"name": "default", "streams": false},
            {"name": "add", "streams": false},
            {"name": "count", "streams": true},
            {"name": "mul", "streams": false},
        ]})
    );
    assert_eq!(
        post(&kiln, "/functions/v2/calc/add", json!({"a": 2, "b": 3})),
        (200, json!(5))
    );
    assert_eq!(
        post(&kiln, "/functions/v2/calc/mul", json!({"a": 4, "b": 5})),
        (200, json!(20))
    );
    assert_eq!(
        post(&kiln, "/functions/v2/calc", json!({"name": "Ada"})),
        (200, json!({"hello": "Ada"}))
    );
    assert_eq!(
        post(&kiln, "/functions/v2/calc/default", json!({})),
        (200, json!({"hello": "world"}))
    );

    // A generator method streams its yields as events.
    let response = client()
        .post(kiln.url("/functions/v2/calc/count"))
        .json(&json!({"n": 3}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events: Vec<String> = response
        .text()
        .unwrap()
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(
        events,
        [
            r#"data: {"i":0}"#,
            r#"data: {"i":1}"#,
            r#"data: {"i":2}"#,
            r#"data: [DONE]"end""#
        ]
    );

    // What is not a method is a 404 that lists the methods.
    for missing in ["version", "nope", "constructor", "__proto__"] {
        let (status, body) = post(&kiln, &format!("/functions/v2/calc/{missing}"), json!({}));
        assert_eq!(status, 404, "{missing}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .ends_with("its methods: default, add, count, mul"),
            "{body}"
        );
    }
    let (status, _) = call(client().put(kiln.url("/functions/v2/calc/add")));
    assert_eq!(status, 405);

    // A module of named methods only: no default to call.
    create_app(
        &kiln,
        &jwt,
        "functions",
        json!({"name": "ops", "code": "export const ping = () => 'pong';"}),
    );
    assert_eq!(
        post(&kiln, "/functions/v2/ops/ping", json!({})),
        (200, json!("pong"))
    );
    let (status, body) = post(&kiln, "/functions/v2/ops", json!({}));
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body["message"],
        "function 'ops' has no default export; its methods: ping"
    );

    // A module that exports no function at all is refused at deploy.
    let (status, body) = call(
        kiln.admin(Method::POST, "/admin-api/v2/functions", &jwt)
            .json(&json!({"name": "none", "code": "export const x = 1;"})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("the module exports no function"),
        "{body}"
    );

    // A service reaches a method in the process: `http://calc.fn.kiln.internal/add`.
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({
            "name": "front",
            "code": r#"export default { async fetch(request, env) {
                const sum = await fetch("http://calc.fn.kiln.internal/add", { method: "POST", body: JSON.stringify({ a: 40, b: 2 }) });
                const listed = await fetch("http://calc.fn.kiln.internal/");
                return Response.json({ sum: await sum.json(), methods: (await listed.json()).methods.length });
            } };"#,
            "permissions": {"services": ["calc"]},
        }),
    );
    let (status, body) = call(client().get(kiln.url("/api/v2/front/")));
    assert_eq!((status, body), (200, json!({"sum": 42, "methods": 4})));

    // A component without `kiln:function/methods` has its default only.
    let wasm = std::fs::read(repo().join("components/hello-function.wasm")).unwrap();
    let (status, _) = call(
        kiln.admin(
            Method::PUT,
            "/admin-api/v2/functions/rust-fn/component",
            &jwt,
        )
        .body(wasm),
    );
    assert_eq!(status, 201);
    let (status, described) = call(client().get(kiln.url("/functions/v2/rust-fn")));
    assert_eq!(
        (status, described["methods"].clone()),
        (200, json!([{"name": "default", "streams": false}]))
    );
    let (status, _) = post(&kiln, "/functions/v2/rust-fn/add", json!({}));
    assert_eq!(status, 404);
}

#[test]
fn introspection_is_admitted_as_a_call_is() {
    let (_data, kiln, jwt) = platform();
    create_app(
        &kiln,
        &jwt,
        "functions",
        json!({"name": "private", "code": CALC, "jwt_check": true}),
    );
    let (status, _) = call(client().get(kiln.url("/functions/v2/private")));
    assert_eq!(status, 401);
    let (status, _) = post(&kiln, "/functions/v2/private/add", json!({"a": 1, "b": 1}));
    assert_eq!(status, 401);
    let invoke = token(
        _data.path(),
        &[("KILN_JWT_SECRET", SECRET)],
        &["--scope", "invoke"],
    );
    let (status, body) = call(
        client()
            .post(kiln.url("/functions/v2/private/add"))
            .bearer_auth(&invoke)
            .json(&json!({"a": 1, "b": 1})),
    );
    assert_eq!((status, body), (200, json!(2)));
    let (status, _) = call(client().get(kiln.url("/functions/v2/absent")));
    assert_eq!(status, 404);
}

#[test]
fn a_pinned_version_is_served_beside_the_active_one_to_a_token() {
    let (data, kiln, jwt) = platform();
    let invoke = token(
        data.path(),
        &[("KILN_JWT_SECRET", SECRET)],
        &["--scope", "invoke"],
    );
    let service = |n: u32| {
        format!(
            "export default {{ fetch(request) {{ const u = new URL(request.url); \
             return Response.json({{ v: {n}, path: u.pathname, prefix: request.headers.get('x-forwarded-prefix') }}); }} }};"
        )
    };
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "greet", "code": service(1)}),
    );
    let (status, _) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/services/greet", &jwt)
            .json(&json!({"code": service(2)})),
    );
    assert_eq!(status, 200);
    let get = |path: &str, bearer: Option<&str>| {
        let request = client().get(kiln.url(path));
        call(match bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        })
    };

    assert_eq!(get("/api/v2/greet/a", None).1["v"], 2);
    assert_eq!(
        get("/api/v2/greet@latest/a", None),
        (
            200,
            json!({"v": 2, "path": "/a", "prefix": "/api/v2/greet@latest"})
        )
    );
    // A stored version other than the active one takes a token, even for a public service.
    let (status, body) = get("/api/v2/greet@1/a", None);
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("Unauthorized"))
    );
    assert_eq!(
        get("/api/v2/greet@1/a?q=1", Some(&invoke)),
        (
            200,
            json!({"v": 1, "path": "/a", "prefix": "/api/v2/greet@1"})
        )
    );
    assert_eq!(get("/api/v2/greet@2/a", Some(&invoke)).1["v"], 2);
    let (status, body) = get("/api/v2/greet@9/", Some(&invoke));
    assert_eq!(status, 404, "{body}");
    let (status, body) = get("/api/v2/greet@one/", Some(&invoke));
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("ValidationError"))
    );
    let (status, _) = get("/api/v2/nobody@1/", Some(&invoke));
    assert_eq!(status, 404);

    // Functions too, methods included.
    create_app(
        &kiln,
        &jwt,
        "functions",
        json!({"name": "calc", "code": "export const add = ({ a, b }) => a + b;"}),
    );
    let (status, _) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/functions/calc", &jwt)
            .json(&json!({"code": "export const add = ({ a, b }) => `${a}${b}`;"})),
    );
    assert_eq!(status, 200);
    let pinned = |path: &str| {
        call(
            client()
                .post(kiln.url(path))
                .bearer_auth(&invoke)
                .json(&json!({"a": 1, "b": 2})),
        )
    };
    assert_eq!(pinned("/functions/v2/calc/add"), (200, json!("12")));
    assert_eq!(pinned("/functions/v2/calc@1/add"), (200, json!(3)));
    assert_eq!(pinned("/functions/v2/calc@latest/add"), (200, json!("12")));

    // A disabled app is disabled at every version; a rollback swaps which one is pinned.
    let (status, _) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/services/greet", &jwt)
            .json(&json!({"enabled": false})),
    );
    assert_eq!(status, 200);
    assert_eq!(get("/api/v2/greet@1/", Some(&invoke)).0, 503);
    let (status, _) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/services/greet", &jwt)
            .json(&json!({"enabled": true})),
    );
    assert_eq!(status, 200);
    let (status, _) = call(
        kiln.admin(Method::POST, "/admin-api/v2/services/greet/rollback", &jwt)
            .json(&json!({"version": 1})),
    );
    assert_eq!(status, 200);
    assert_eq!(get("/api/v2/greet/", None).1["v"], 1);
    assert_eq!(get("/api/v2/greet@2/", Some(&invoke)).1["v"], 2);
    let (status, _) = call(kiln.admin(Method::DELETE, "/admin-api/v2/services/greet", &jwt));
    assert_eq!(status, 200);
    assert_eq!(get("/api/v2/greet@2/", Some(&invoke)).0, 404);
}
