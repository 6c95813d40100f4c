//! Service bindings: the `services` grant, `env.NAME.fetch` and `http://{name}.kiln.internal`
//! in JavaScript, `{name}.fn.kiln.internal` for functions, a component calling a JavaScript
//! service, and what a call carries over (caller, claims, deadline, request id) or refuses
//! (no grant, a disabled callee, a chain of calls too deep).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Kiln, call, client, create_app, platform, repo, token};

/// The callee: `/users/{id}` answers the user with what the call carried over; `POST` echoes
/// the body; `/slow` answers after five seconds; `/ticks` streams three ticks 300 ms apart.
const USERS: &str = r#"
const users = { "1": { id: 1, name: "Ada" }, "2": { id: 2, name: "Linus" } };
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const seen = {
      caller: request.headers.get("x-kiln-caller"),
      claims: JSON.parse(request.headers.get("x-kiln-claims") ?? "null"),
      trace: request.headers.get("x-request-id"),
      path: url.pathname + url.search,
    };
    if (request.method === "POST") return Response.json({ ...seen, echoed: await request.text() });
    if (url.pathname === "/slow") { await new Promise((r) => setTimeout(r, 5000)); return new Response("late"); }
    if (url.pathname === "/ticks") {
      let n = 0;
      const body = new ReadableStream({
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 300));
          n += 1;
          controller.enqueue(new TextEncoder().encode(`data: tick ${n}\n\n`));
          if (n === 3) controller.close();
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    }
    const user = users[url.pathname.split("/").pop()];
    return user ? Response.json({ ...user, ...seen }) : Response.json({ error: "no such user", ...seen }, { status: 404 });
  },
};
"#;

/// The caller: each path calls `users` (or another app) one way and answers what came back.
const ORDERS: &str = r#"
const answer = async (r) => Response.json({ status: r.status, body: await r.json() });
const routes = {
  "/binding": (env) => env.USERS.fetch("/users/2?full=1").then(answer),
  "/url": () => fetch("http://users.kiln.internal/users/1").then(answer),
  "/request": (env) => env.USERS.fetch(new Request("https://anywhere/echo", { method: "POST", body: "hi" })).then(answer),
  "/missing": (env) => env.USERS.fetch("/users/9").then(answer),
  "/function": () => fetch("http://double.fn.kiln.internal/", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ x: 21 }) }).then(answer),
  "/slow": () => fetch("http://users.kiln.internal/slow"),
  "/ticks": (env) => env.USERS.fetch("/ticks"),
  "/ungranted": () => fetch("http://billing.kiln.internal/"),
};
export default {
  async fetch(request, env) {
    const route = routes[new URL(request.url).pathname];
    if (!route) return new Response("no such route", { status: 404 });
    try {
      return await route(env);
    } catch (error) {
      return Response.json({ thrown: error.name, message: error.message }, { status: 502 });
    }
  },
};
"#;

fn update(kiln: &Kiln, jwt: &str, name: &str, body: Value) {
    let (status, answer) = call(
        kiln.admin(Method::PUT, &format!("/admin-api/v2/services/{name}"), jwt)
            .json(&body),
    );
    assert_eq!(status, 200, "{answer}");
}

/// `users`, and `orders` granted to call it (and `double`, a function).
fn shop(kiln: &Kiln, jwt: &str, orders_limits: Value) {
    create_app(
        kiln,
        jwt,
        "services",
        json!({"name": "users", "code": USERS}),
    );
    create_app(
        kiln,
        jwt,
        "services",
        json!({"name": "orders", "code": ORDERS, "permissions": {"services": ["users", "double"]}, "limits": orders_limits}),
    );
}

fn get(kiln: &Kiln, path: &str) -> (u16, Value) {
    call(client().get(kiln.url(path)))
}

#[test]
fn an_app_calls_a_granted_app_by_binding_and_by_url_and_the_callee_knows_its_caller() {
    let (_data, kiln, jwt) = platform();
    shop(&kiln, &jwt, json!({}));
    let (status, body) = get(&kiln, "/api/v2/orders/binding");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], 200, "{body}");
    assert_eq!(body["body"]["name"], "Linus", "{body}");
    assert_eq!(body["body"]["caller"], "orders", "{body}");
    assert_eq!(body["body"]["path"], "/users/2?full=1", "{body}");
    let (_, body) = get(&kiln, "/api/v2/orders/url");
    assert_eq!(
        (body["body"]["name"].clone(), body["body"]["caller"].clone()),
        (json!("Ada"), json!("orders")),
        "{body}"
    );
    let (_, body) = get(&kiln, "/api/v2/orders/request");
    assert_eq!(
        body["body"]["echoed"], "hi",
        "a Request's body is sent: {body}"
    );
    assert_eq!(body["body"]["path"], "/echo", "{body}");
    let (_, body) = get(&kiln, "/api/v2/orders/missing");
    assert_eq!(
        body["status"], 404,
        "the callee's status is the caller's to read: {body}"
    );

    // The request id of the client's request is the call's.
    let (_, body) = call(
        client()
            .get(kiln.url("/api/v2/orders/binding"))
            .header("x-request-id", "trace-4711"),
    );
    assert_eq!(body["body"]["trace"], "trace-4711", "{body}");
    assert!(
        kiln.wait_for_log("trace-4711", Duration::from_secs(5)),
        "the callee's request is logged under the caller's id"
    );

    // A client cannot pass itself off as an app.
    let (_, body) = call(
        client()
            .get(kiln.url("/api/v2/users/users/1"))
            .header("x-kiln-caller", "orders")
            .header("x-kiln-claims", r#"{"sub":"admin"}"#),
    );
    assert_eq!(body["caller"], Value::Null, "{body}");
    assert_eq!(body["claims"], Value::Null, "{body}");

    let calls = kiln.metric(r#"kiln_app_calls_total{caller="orders",callee="users"}"#);
    assert!(calls >= 5.0, "calls counted: {calls}");
}

#[test]
fn a_call_without_a_grant_is_refused_and_the_grant_is_validated() {
    let (_data, kiln, jwt) = platform();
    shop(&kiln, &jwt, json!({}));
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "billing", "code": USERS}),
    );
    let (status, body) = get(&kiln, "/api/v2/orders/ungranted");
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["thrown"], "TypeError", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no network grant"),
        "{body}"
    );
    // `users` has no grant at all: it reaches no app, not even the one that called it.
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "sneaky", "code": "export default { fetch: () => fetch('http://orders.kiln.internal/binding') }"}),
    );
    assert_eq!(get(&kiln, "/api/v2/sneaky").0, 500);
    for bad in [
        json!(["kv"]),
        json!(["Not A Name"]),
        json!([""]),
        json!("users"),
    ] {
        let (status, answer) = call(
            kiln.admin(Method::PUT, "/admin-api/v2/services/orders", &jwt)
                .json(&json!({"permissions": {"services": bad}})),
        );
        assert_eq!(status, 400, "{bad}: {answer}");
    }
    let (status, _) = get(&kiln, "/api/v2/orders/binding");
    assert_eq!(status, 200, "a refused update leaves the grant as it was");
}

#[test]
fn a_callee_is_served_as_a_client_would_be_disabled_or_behind_a_token() {
    let (data, kiln, jwt) = platform();
    shop(&kiln, &jwt, json!({}));
    update(&kiln, &jwt, "users", json!({"enabled": false}));
    let (_, body) = get(&kiln, "/api/v2/orders/binding");
    assert_eq!(body["status"], 503, "{body}");

    // A `jwt_check` callee refuses a call that came without a token...
    update(
        &kiln,
        &jwt,
        "users",
        json!({"enabled": true, "jwt_check": true}),
    );
    let (_, body) = get(&kiln, "/api/v2/orders/binding");
    assert_eq!(body["status"], 401, "{body}");
    // ...and takes one made while serving a client whose token was verified, with its claims.
    update(&kiln, &jwt, "orders", json!({"jwt_check": true}));
    let invoke = token(data.path(), &[], &["--scope", "invoke", "--sub", "ada"]);
    let (status, body) = call(
        client()
            .get(kiln.url("/api/v2/orders/binding"))
            .bearer_auth(&invoke),
    );
    assert_eq!(
        (status, body["status"].clone()),
        (200, json!(200)),
        "{body}"
    );
    assert_eq!(body["body"]["claims"]["sub"], "ada", "{body}");
    assert_eq!(get(&kiln, "/api/v2/orders/binding").0, 401);
}

#[test]
fn a_call_ends_by_its_callers_deadline() {
    let (_data, kiln, jwt) = platform();
    shop(&kiln, &jwt, json!({"timeout_ms": 1000}));
    let started = Instant::now();
    let response = client()
        .get(kiln.url("/api/v2/orders/slow"))
        .send()
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(response.status().as_u16(), 504);
    assert!(
        elapsed < Duration::from_secs(4),
        "the callee was cut at the caller's deadline, not its own five seconds: {elapsed:?}"
    );
    // Everyone else is still served.
    assert_eq!(get(&kiln, "/api/v2/orders/binding").0, 200);
}

#[test]
fn a_chain_of_calls_between_apps_stops_at_its_depth() {
    let (_data, kiln, jwt) = platform();
    let code = r#"
export default {
  async fetch(request) {
    const n = Number(new URL(request.url).searchParams.get("n") ?? 0);
    try {
      const r = await fetch(`http://echo.kiln.internal/?n=${n + 1}`);
      return new Response(await r.text(), { status: r.status });
    } catch (error) {
      return new Response(`stopped at ${n}: ${error.message}`, { status: 508 });
    }
  },
};
"#;
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "echo", "code": code, "permissions": {"services": ["echo"]}}),
    );
    let response = client().get(kiln.url("/api/v2/echo")).send().unwrap();
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    assert_eq!(status, 508, "{text}");
    assert!(text.starts_with("stopped at 16: "), "{text}");
    assert!(text.contains("deeper than 16"), "{text}");
}

#[test]
fn a_streamed_answer_flows_through_a_binding_as_it_is_made() {
    let (_data, kiln, _jwt) = platform();
    shop(&kiln, &_jwt, json!({}));
    let mut stream = std::net::TcpStream::connect(kiln.addr()).unwrap();
    stream
        .write_all(b"GET /api/v2/orders/ticks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let seen = crate::support::chunks_with_times(stream);
    crate::support::assert_ticks_arrived_apart(&seen, 3, Duration::from_millis(200));
}

#[test]
fn an_app_calls_a_function_and_a_component_calls_a_javascript_service() {
    let (_data, kiln, jwt) = platform();
    shop(&kiln, &jwt, json!({}));
    create_app(
        &kiln,
        &jwt,
        "functions",
        json!({"name": "double", "code": "export default ({ x }) => ({ y: x * 2 })"}),
    );
    let (_, body) = get(&kiln, "/api/v2/orders/function");
    assert_eq!(body, json!({"status": 200, "body": {"y": 42}}));

    let wasm = std::fs::read(repo().join("components/fetch-rust.wasm")).unwrap();
    let (status, _) = call(
        kiln.admin(
            Method::PUT,
            "/admin-api/v2/services/fetcher/component",
            &jwt,
        )
        .body(wasm),
    );
    assert_eq!(status, 201);
    let fetch = || {
        let mut text = String::new();
        client()
            .get(kiln.url("/api/v2/fetcher?url=http://users.kiln.internal/users/1"))
            .send()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    assert_eq!(fetch(), "denied: ErrorCode::HttpRequestDenied");
    update(
        &kiln,
        &jwt,
        "fetcher",
        json!({"permissions": {"services": ["users"]}}),
    );
    let text = fetch();
    assert!(text.starts_with("200 "), "{text}");
    assert!(text.contains(r#""caller":"fetcher""#), "{text}");
}
