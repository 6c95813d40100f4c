//! Key-value stores: the `kv` grant, `env.KV` in JavaScript (services, functions, Hono's
//! `c.env`), `wasi:keyvalue` in a component, limits, isolation between apps, the operators'
//! routes, and data that outlives the process.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Kiln, admin_token, call, client, create_app, platform, repo};

/// A JavaScript service that runs one key-value operation per path, answering JSON (a thrown
/// error as `{"thrown": name, "message"}`).
const APP: &str = r#"
const ops = {
  put: (env, q) => env.KV.put(q.get("key"), q.get("value"), {
    metadata: q.has("meta") ? JSON.parse(q.get("meta")) : undefined,
    expirationTtl: q.has("ttl") ? Number(q.get("ttl")) : undefined,
  }).then(() => "ok"),
  get: (env, q) => env.KV.get(q.get("key"), q.get("type") || "text"),
  meta: (env, q) => env.KV.getWithMetadata(q.get("key"), q.get("type") || "json"),
  bytes: async (env, q) => Array.from(new Uint8Array(await env.KV.get(q.get("key"), "arrayBuffer"))),
  stream: async (env, q) => new Response(await env.KV.get(q.get("key"), { type: "stream" })).text(),
  del: (env, q) => env.KV.delete(q.get("key")).then(() => "ok"),
  list: (env, q) => env.KV.list({ prefix: q.get("prefix") ?? undefined, limit: q.has("limit") ? Number(q.get("limit")) : undefined, cursor: q.get("cursor") ?? undefined }),
  inc: (env, q) => env.KV.increment(q.get("key"), Number(q.get("by") ?? 1)),
  cas: (env, q) => env.KV.compareAndSwap(q.get("key"), q.has("expected") ? q.get("expected") : null, q.get("value")),
  other: (env, q) => env.SESSIONS.get(q.get("key")),
  raw: async (env, q) => { const r = await fetch("http://kv.kiln.internal/" + q.get("store") + "/k"); return { status: r.status }; },
  env: (env) => ({ keys: Object.keys(env), deno: Deno.env.toObject(), has: Deno.env.has("KILN_KV_STORES") }),
  long: (env) => env.KV.put("k".repeat(513), "x").then(() => "ok"),
  huge: (env) => env.KV.put("huge", "x".repeat(26 << 20)).then(() => "ok"),
  fill: (env, q) => env.KV.put(q.get("key"), "x".repeat(Number(q.get("kib")) << 10)).then(() => "ok"),
  nan: (env) => env.KV.put("word", "hello").then(() => env.KV.increment("word")),
};
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const op = ops[url.pathname.slice(1)];
    if (!op) return new Response("no such op", { status: 404 });
    try {
      return Response.json({ value: await op(env, url.searchParams) ?? null });
    } catch (error) {
      return Response.json({ thrown: error.name, message: error.message });
    }
  },
};
"#;

/// `GET /api/v2/{service}/{op}?{query}` → the answer's JSON.
fn op(kiln: &Kiln, service: &str, op_and_query: &str) -> Value {
    let (status, body) = call(client().get(kiln.url(&format!("/api/v2/{service}/{op_and_query}"))));
    assert_eq!(status, 200, "{op_and_query}: {body}");
    body
}

fn value(kiln: &Kiln, service: &str, op_and_query: &str) -> Value {
    let body = op(kiln, service, op_and_query);
    assert!(body.get("thrown").is_none(), "{op_and_query} threw: {body}");
    body["value"].clone()
}

fn thrown(kiln: &Kiln, service: &str, op_and_query: &str) -> (String, String) {
    let body = op(kiln, service, op_and_query);
    (
        body["thrown"]
            .as_str()
            .unwrap_or_else(|| panic!("{op_and_query} did not throw: {body}"))
            .to_string(),
        body["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn javascript_apps_keep_values_with_metadata_expiry_listing_and_atomics() {
    let (_data, kiln, jwt) = platform();
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "notes", "code": APP, "permissions": {"kv": ["default", "sessions"]}}),
    );

    assert_eq!(value(&kiln, "notes", "get?key=missing"), Value::Null);
    assert_eq!(
        value(
            &kiln,
            "notes",
            "put?key=greeting&value=h%C3%A9llo&meta=%7B%22by%22%3A%22ada%22%7D"
        ),
        "ok"
    );
    assert_eq!(value(&kiln, "notes", "get?key=greeting"), "héllo");
    assert_eq!(
        value(&kiln, "notes", "bytes?key=greeting"),
        json!([104, 195, 169, 108, 108, 111])
    );
    assert_eq!(value(&kiln, "notes", "stream?key=greeting"), "héllo");
    assert_eq!(
        value(&kiln, "notes", "put?key=doc&value=%7B%22a%22%3A1%7D"),
        "ok"
    );
    assert_eq!(
        value(&kiln, "notes", "get?key=doc&type=json"),
        json!({"a": 1})
    );
    let meta = value(&kiln, "notes", "meta?key=doc");
    assert_eq!(meta["value"], json!({"a": 1}));
    assert_eq!(meta["metadata"], Value::Null);
    let with = value(&kiln, "notes", "meta?key=greeting&type=text");
    assert_eq!(with["value"], "héllo");
    assert_eq!(with["metadata"], json!({"by": "ada"}));

    // Listing: bytewise key order, prefixes, pages with a cursor.
    for key in ["user:2", "user:1", "user:10", "other"] {
        assert_eq!(
            value(&kiln, "notes", &format!("put?key={key}&value=v")),
            "ok"
        );
    }
    let page = value(&kiln, "notes", "list?prefix=user:");
    let names: Vec<&str> = page["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["user:1", "user:10", "user:2"]);
    assert_eq!(page["list_complete"], true);
    let first = value(&kiln, "notes", "list?prefix=user:&limit=2");
    assert_eq!(first["list_complete"], false);
    assert_eq!(first["keys"].as_array().unwrap().len(), 2);
    let cursor = first["cursor"].as_str().unwrap();
    let rest = value(
        &kiln,
        "notes",
        &format!("list?prefix=user:&limit=2&cursor={cursor}"),
    );
    assert_eq!(rest["keys"][0]["name"], "user:2");
    assert_eq!(rest["list_complete"], true);
    let all = value(&kiln, "notes", "list");
    let greeting = all["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "greeting")
        .unwrap()
        .clone();
    assert_eq!(greeting["metadata"], json!({"by": "ada"}));

    // Atomics: increment from nothing, by any delta; compare-and-swap on absence and on value.
    assert_eq!(value(&kiln, "notes", "inc?key=hits"), 1);
    assert_eq!(value(&kiln, "notes", "inc?key=hits&by=41"), 42);
    assert_eq!(value(&kiln, "notes", "get?key=hits"), "42");
    let (name, message) = thrown(&kiln, "notes", "nan");
    assert_eq!(name, "TypeError", "{message}");
    // Below zero and back, once per call (the direct path counts in u64 and hands such numbers
    // to the full one, which must not count them twice).
    assert_eq!(value(&kiln, "notes", "inc?key=debt&by=-5"), -5);
    assert_eq!(value(&kiln, "notes", "inc?key=debt&by=2"), -3);
    assert_eq!(value(&kiln, "notes", "inc?key=debt&by=3"), 0);
    assert_eq!(value(&kiln, "notes", "inc?key=debt"), 1);
    assert_eq!(value(&kiln, "notes", "get?key=debt"), "1");
    assert_eq!(value(&kiln, "notes", "cas?key=lock&value=a"), true);
    assert_eq!(value(&kiln, "notes", "cas?key=lock&value=b"), false);
    assert_eq!(
        value(&kiln, "notes", "cas?key=lock&expected=wrong&value=b"),
        false
    );
    assert_eq!(
        value(&kiln, "notes", "cas?key=lock&expected=a&value=b"),
        true
    );
    assert_eq!(value(&kiln, "notes", "get?key=lock"), "b");

    // Delete; a key with a time to live is gone once it passes.
    assert_eq!(value(&kiln, "notes", "del?key=greeting"), "ok");
    assert_eq!(value(&kiln, "notes", "get?key=greeting"), Value::Null);
    assert_eq!(value(&kiln, "notes", "put?key=brief&value=v&ttl=1"), "ok");
    assert_eq!(value(&kiln, "notes", "get?key=brief"), "v");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(value(&kiln, "notes", "get?key=brief"), Value::Null);
    let listed = value(&kiln, "notes", "list?prefix=brief");
    assert_eq!(listed["keys"], json!([]));

    // The second grant is its own store under its own binding; the bindings are all `env` has,
    // and the variable that names them is the engine's, not the app's.
    assert_eq!(value(&kiln, "notes", "other?key=hits"), Value::Null);
    let env = value(&kiln, "notes", "env");
    assert_eq!(env["keys"], json!(["KV", "SESSIONS"]));
    assert_eq!(env["deno"], json!({}));
    assert_eq!(env["has"], false);
}

#[test]
fn stores_are_granted_per_app_and_limits_are_errors_the_guest_can_catch() {
    let (_data, kiln, jwt) = platform();
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "one", "code": APP, "permissions": {"kv": ["default"]}}),
    );
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "two", "code": APP, "permissions": {"kv": ["default"]}}),
    );
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "none", "code": APP}),
    );

    // Same store name, another app: another namespace.
    assert_eq!(value(&kiln, "one", "put?key=secret&value=mine"), "ok");
    assert_eq!(value(&kiln, "two", "get?key=secret"), Value::Null);
    assert_eq!(value(&kiln, "two", "list")["keys"], json!([]));

    // Without the grant there is no binding, and the host refuses the store.
    let (name, _) = thrown(&kiln, "none", "get?key=secret");
    assert_eq!(name, "TypeError");
    assert_eq!(
        value(&kiln, "none", "raw?store=default"),
        json!({"status": 403})
    );
    assert_eq!(
        value(&kiln, "one", "raw?store=sessions"),
        json!({"status": 403})
    );
    let (name, message) = thrown(&kiln, "one", "other?key=x");
    assert_eq!(name, "TypeError", "{message}");

    // Limits: key length, value size, the app's quota.
    let (name, message) = thrown(&kiln, "one", "long");
    assert_eq!(name, "RangeError");
    assert!(message.contains("512 bytes"), "{message}");
    let (name, message) = thrown(&kiln, "one", "huge");
    assert_eq!(name, "RangeError");
    assert!(message.contains("25 MiB"), "{message}");
    let (status, body) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/config/kv_quota_mb", &jwt)
            .json(&json!({"value": "1"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(value(&kiln, "one", "fill?key=a&kib=600"), "ok");
    let (name, message) = thrown(&kiln, "one", "fill?key=b&kib=600");
    assert_eq!(name, "RangeError");
    assert!(message.contains("quota"), "{message}");
    // Replacing a value counts only the difference; another app has its own quota.
    assert_eq!(value(&kiln, "one", "fill?key=a&kib=700"), "ok");
    assert_eq!(value(&kiln, "two", "fill?key=b&kib=900"), "ok");
    // Deleting frees the space.
    assert_eq!(value(&kiln, "one", "del?key=a"), "ok");
    assert_eq!(value(&kiln, "one", "fill?key=b&kib=900"), "ok");

    // The grant is checked at deploy.
    let (status, body) = call(
        kiln.admin(Method::POST, "/admin-api/v2/services", &jwt)
            .json(&json!({"name": "bad", "code": APP, "permissions": {"kv": ["Not A Name"]}})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("permissions.kv"),
        "{body}"
    );
}

#[test]
fn operators_read_and_write_an_apps_stores_and_a_deleted_app_takes_them_along() {
    let (_data, kiln, jwt) = platform();
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "shop", "code": APP, "permissions": {"kv": ["default"]}}),
    );
    let kv = "/admin-api/v2/services/shop/kv/default";

    // Seeded by an operator (a key with a slash, metadata), read by the app.
    let response = kiln
        .admin(Method::PUT, &format!("{kv}/price%2Fapple"), &jwt)
        .header("kiln-kv-metadata", "%7B%22currency%22%3A%22EUR%22%7D")
        .body("3")
        .send()
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(value(&kiln, "shop", "get?key=price%2Fapple"), "3");
    assert_eq!(
        value(&kiln, "shop", "meta?key=price%2Fapple")["metadata"],
        json!({"currency": "EUR"})
    );

    // Written by the app, read by the operator, with its etag.
    assert_eq!(value(&kiln, "shop", "put?key=cart&value=pear"), "ok");
    let response = kiln
        .admin(Method::GET, &format!("{kv}/cart"), &jwt)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("etag"));
    assert_eq!(response.text().unwrap(), "pear");
    let (status, listing) = call(kiln.admin(Method::GET, kv, &jwt));
    assert_eq!(status, 200);
    assert_eq!(listing["keys"].as_array().unwrap().len(), 2, "{listing}");
    let response = kiln
        .admin(Method::DELETE, &format!("{kv}/cart"), &jwt)
        .send()
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = call(kiln.admin(Method::GET, &format!("{kv}/cart"), &jwt));
    assert_eq!(status, 404);

    // Anonymous clients get nothing; unknown apps are 404.
    let (status, _) = call(client().get(kiln.url(kv)));
    assert_eq!(status, 401);
    let (status, _) =
        call(kiln.admin(Method::GET, "/admin-api/v2/services/ghost/kv/default", &jwt));
    assert_eq!(status, 404);

    // Deleting the app deletes its stores: a new app of the same name starts empty.
    let (status, _) = call(kiln.admin(Method::DELETE, "/admin-api/v2/services/shop", &jwt));
    assert_eq!(status, 200);
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "shop", "code": APP, "permissions": {"kv": ["default"]}}),
    );
    assert_eq!(value(&kiln, "shop", "get?key=price%2Fapple"), Value::Null);
}

#[test]
fn values_survive_a_killed_server() {
    let data = tempfile::tempdir().unwrap();
    {
        let kiln = Kiln::platform(data.path());
        let jwt = admin_token(data.path());
        create_app(
            &kiln,
            &jwt,
            "services",
            json!({"name": "durable", "code": APP, "permissions": {"kv": ["default"]}}),
        );
        assert_eq!(value(&kiln, "durable", "put?key=k&value=kept"), "ok");
        assert_eq!(value(&kiln, "durable", "inc?key=n"), 1);
        // Dropping the server kills it (SIGKILL).
    }
    let kiln = Kiln::platform(data.path());
    assert_eq!(value(&kiln, "durable", "get?key=k"), "kept");
    assert_eq!(value(&kiln, "durable", "inc?key=n"), 2);
}

#[test]
fn functions_get_env_as_their_second_argument() {
    let (_data, kiln, jwt) = platform();
    create_app(
        &kiln,
        &jwt,
        "functions",
        json!({
            "name": "visits",
            "code": "export default async function (input, env) { return { visits: await env.KV.increment(input.page) }; }",
            "permissions": {"kv": ["default"]},
        }),
    );
    for expected in [1, 2] {
        let (status, body) = call(
            client()
                .post(kiln.url("/functions/v2/visits"))
                .json(&json!({"page": "home"})),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"visits": expected}));
    }
}

#[test]
fn a_component_uses_wasi_keyvalue_on_its_granted_stores() {
    let (_data, kiln, jwt) = platform();
    let wasm = std::fs::read(repo().join("components/kv-rust.wasm")).unwrap();
    let (status, body) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/services/kvc/component", &jwt)
            .body(wasm),
    );
    assert_eq!(status, 201, "{body}");
    let get = |path: &str| {
        let response = client()
            .get(kiln.url(&format!("/api/v2/kvc{path}")))
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    let send = |method: Method, path: &str, body: &str| {
        let response = client()
            .request(method, kiln.url(&format!("/api/v2/kvc{path}")))
            .body(body.to_string())
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    // Not granted yet: `open` is access-denied.
    assert_eq!(get("/x"), (500, "Error::AccessDenied".to_string()));
    let (status, body) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/services/kvc", &jwt)
            .json(&json!({"permissions": {"kv": ["default"]}})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(get("/x"), (404, "not found".to_string()));
    assert_eq!(send(Method::PUT, "/x", "hello").0, 204);
    assert_eq!(get("/x"), (200, "hello".to_string()));
    assert_eq!(send(Method::POST, "/n", ""), (200, "1".to_string()));
    assert_eq!(send(Method::POST, "/n", ""), (200, "2".to_string()));
    assert_eq!(
        send(Method::POST, "/_batch", ""),
        (200, "a=1,b=2,none".to_string())
    );
    assert_eq!(get("/"), (200, "a\nb\nn\nx".to_string()));
    assert_eq!(send(Method::DELETE, "/x", "").0, 204);
    assert_eq!(get("/x").0, 404);
    assert_eq!(
        get("/x?store=other"),
        (500, "Error::AccessDenied".to_string())
    );
    // What the component wrote, an operator reads (increments are decimal text).
    let response = kiln
        .admin(Method::GET, "/admin-api/v2/services/kvc/kv/default/n", &jwt)
        .send()
        .unwrap();
    assert_eq!(response.text().unwrap(), "2");
    // `increment` counts in u64: a number that would go below zero is refused, unchanged.
    let put = kiln
        .admin(
            Method::PUT,
            "/admin-api/v2/services/kvc/kv/default/debt",
            &jwt,
        )
        .body("-5")
        .send()
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let (status, body) = send(Method::POST, "/debt", "");
    assert_eq!(status, 500);
    assert!(body.contains("would be negative"), "{body}");
    let response = kiln
        .admin(
            Method::GET,
            "/admin-api/v2/services/kvc/kv/default/debt",
            &jwt,
        )
        .send()
        .unwrap();
    assert_eq!(response.text().unwrap(), "-5");
}

#[test]
fn a_hono_app_reads_its_store_from_c_env() {
    let (_data, kiln, jwt) = platform();
    let work = tempfile::tempdir().unwrap();
    let bundle = crate::frameworks::bundle("hono-kv", work.path());
    let code = std::fs::read_to_string(bundle).unwrap();
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "hono", "code": code, "permissions": {"kv": ["default"]}}),
    );
    let put = client()
        .put(kiln.url("/api/v2/hono/notes/7"))
        .body("buy milk")
        .send()
        .unwrap();
    assert_eq!(put.status(), 201);
    let note = client()
        .get(kiln.url("/api/v2/hono/notes/7"))
        .send()
        .unwrap();
    assert_eq!(note.text().unwrap(), "buy milk");
    let missing = client()
        .get(kiln.url("/api/v2/hono/notes/8"))
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404);
    for visits in [1, 2] {
        let (status, body) = call(client().get(kiln.url("/api/v2/hono/visits")));
        assert_eq!(status, 200);
        assert_eq!(body, json!({"visits": visits}));
    }
}

#[test]
fn a_folder_served_alone_keeps_its_stores_in_the_data_dir() {
    let app = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("index.js"), APP).unwrap();
    std::fs::write(
        app.path().join("kiln.json"),
        r#"{"permissions": {"kv": ["default"]}}"#,
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    {
        let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
        let (status, body) = call(client().get(kiln.url("/put?key=k&value=v")));
        assert_eq!((status, body), (200, json!({"value": "ok"})));
    }
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let (status, body) = call(client().get(kiln.url("/get?key=k")));
    assert_eq!((status, body), (200, json!({"value": "v"})));
}
