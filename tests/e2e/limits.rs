//! Deadlines, memory limits and the two isolation modes.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::support::{Kiln, admin_token, call, client, get_json, js_app};

const LOOPER: &str = r#"
export default {
  fetch(request) {
    if (new URL(request.url).pathname === "/spin") { for (;;) {} }
    return new Response("healthy");
  },
};
"#;

#[test]
fn an_infinite_loop_gets_504_within_its_deadline_while_other_requests_keep_answering() {
    let app = js_app(LOOPER);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &["--timeout-ms", "1500"]);
    assert_eq!(
        client().get(kiln.url("/")).send().unwrap().text().unwrap(),
        "healthy"
    );

    let spin_url = kiln.url("/spin");
    let started = Instant::now();
    let spinner = std::thread::spawn(move || {
        let response = client().get(spin_url).send().unwrap();
        let status = response.status().as_u16();
        let json: serde_json::Value = response.json().unwrap();
        (status, json, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(200));
    // While the loop spins, healthy requests (new connections, so both serving threads) answer.
    let mut answered = Vec::new();
    for _ in 0..6 {
        let http = reqwest::blocking::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let text = http.get(kiln.url("/")).send().unwrap().text().unwrap();
        assert_eq!(text, "healthy");
        answered.push(Instant::now());
    }
    let (status, json, spun_until) = spinner.join().unwrap();
    assert_eq!(status, 504, "{json}");
    assert_eq!(json["error"], "TimeoutError");
    assert_eq!(json["retryable"], true);
    let elapsed = spun_until - started;
    assert!(
        elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_secs(5),
        "deadline not honoured: {elapsed:?}"
    );
    assert!(
        answered.iter().all(|t| *t < spun_until),
        "healthy requests waited for the loop"
    );
    // The server is still fine afterwards.
    assert_eq!(
        client().get(kiln.url("/")).send().unwrap().text().unwrap(),
        "healthy"
    );
}

#[test]
fn a_guest_over_its_memory_limit_gets_503_and_the_server_keeps_serving() {
    let app = js_app(
        r#"
export default {
  fetch(request) {
    if (new URL(request.url).pathname === "/hog") {
      const chunks = [];
      for (let i = 0; i < 64; i++) chunks.push(new Uint8Array(4 * 1024 * 1024));
      return new Response(String(chunks.length));
    }
    return new Response("fine");
  },
};
"#,
    );
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &["--memory-mb", "48"]);
    let (status, json) = get_json(&kiln.url("/hog"));
    assert_eq!(status, 503, "{json}");
    assert_eq!(json["error"], "ResourceError");
    assert!(
        json["message"].as_str().unwrap().contains("memory"),
        "{json}"
    );
    assert_eq!(
        client().get(kiln.url("/")).send().unwrap().text().unwrap(),
        "fine"
    );
}

/// Garbage that reference counting cannot free (objects that point at each other) does not run a
/// reused instance out of memory: 200 requests each leave 256 KiB in a cycle, 50 MiB in all under
/// a 24 MiB limit, and every one succeeds. The instance is replaced once its memory has grown a
/// quarter of its limit (6 MiB) past its first request, so each one serves a couple of dozen.
#[test]
fn a_reused_instance_whose_memory_keeps_growing_is_replaced_before_it_runs_out() {
    let app = js_app(
        r#"
let served = 0;
let id;
export default {
  fetch() {
    // Named by its first request (a snapshot's top-level code runs once for every instance).
    id ??= crypto.randomUUID();
    const a = { bytes: new Uint8Array(256 * 1024) };
    const b = { a };
    a.b = b;
    served += 1;
    return Response.json({ id, served, sum: a.b.a.bytes.length });
  },
};
"#,
    );
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(
        app.path(),
        data.path(),
        &["--isolation", "reuse", "--memory-mb", "24"],
    );
    kiln.wait_for_snapshot();
    // How many requests each instance served, in the order they appeared (an instance may
    // still be on its way back to the idle pool when the next request comes, so two can take
    // turns; each counts its own requests without a gap).
    let mut ids: Vec<String> = Vec::new();
    let mut runs: Vec<i64> = Vec::new();
    for i in 1..=200 {
        let (status, json) = get_json(&kiln.url("/"));
        assert_eq!(status, 200, "request {i}: {json}");
        let served = json["served"].as_i64().unwrap();
        let id = json["id"].as_str().unwrap().to_string();
        match ids.iter().position(|known| *known == id) {
            Some(at) => {
                assert_eq!(served, runs[at] + 1, "request {i}: {json} after {runs:?}");
                runs[at] = served;
            }
            None => {
                assert_eq!(served, 1, "request {i}: {json} after {runs:?}");
                ids.push(id);
                runs.push(1);
            }
        }
    }
    assert!(runs.len() >= 3, "50 MiB cannot fit one instance: {runs:?}");
    // The two newest may still be serving; every other was replaced at about 24 requests.
    let finished = &runs[..runs.len().saturating_sub(2)];
    assert!(
        finished.iter().all(|&n| (15..=40).contains(&n)),
        "each instance should serve about 24 requests (6 MiB / 256 KiB): {runs:?}"
    );
    assert!(runs.iter().all(|&n| n <= 40), "{runs:?}");
}

/// On a platform node, replacing an instance that outgrew its memory is counted in
/// `/metrics`, and the service keeps answering.
#[test]
fn replacing_an_outgrown_instance_is_counted_in_the_metrics() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let code = "export default { fetch() { const a = { bytes: new Uint8Array(512 * 1024) }; \
                a.self = a; return new Response('ok'); } };";
    let (status, body) = call(
        kiln.admin(Method::POST, "/admin-api/v2/services", &jwt).json(
            &json!({"name": "leaky", "code": code, "limits": {"memory_mb": 16}, "isolation": "reuse"}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    for i in 1..=40 {
        let response = client().get(kiln.url("/api/v2/leaky")).send().unwrap();
        assert_eq!(response.status(), 200, "request {i}");
        assert_eq!(response.text().unwrap(), "ok");
    }
    // 20 MiB of cycles under a 16 MiB limit: at least one instance was replaced (4 MiB each).
    assert!(
        kiln.metric("kiln_instances_outgrown_total") >= 2.0,
        "{}",
        kiln.log()
    );
}

/// Memory an app takes on its first request (a cache it fills once) does not count towards
/// replacing the instance: one that grows by 12 MiB then, and not after, keeps serving.
#[test]
fn memory_taken_by_the_first_request_does_not_retire_a_reused_instance() {
    let app = js_app(
        r#"
let cache = null;
let served = 0;
export default {
  fetch() {
    cache ??= new Uint8Array(12 << 20).fill(1);
    served += 1;
    return Response.json({ served, cached: cache.length });
  },
};
"#,
    );
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(
        app.path(),
        data.path(),
        &["--isolation", "reuse", "--memory-mb", "64"],
    );
    kiln.wait_for_snapshot();
    // A quick next request may find its instance not yet back in the pool and start another
    // (as in the test below); what must not happen is an instance retired for the memory its
    // first request took, which would make every request start afresh.
    let mut served = Vec::new();
    for i in 1..=30 {
        let (status, json) = get_json(&kiln.url("/"));
        assert_eq!(status, 200, "request {i}: {json}");
        assert_eq!(json["cached"], 12 << 20, "request {i}: {json}");
        served.push(json["served"].as_i64().unwrap());
    }
    let fresh = served.iter().filter(|&&n| n == 1).count();
    assert!(
        fresh <= 3,
        "{fresh} of 30 requests started a new instance: {served:?}"
    );
}

const COUNTER: &str = r#"
let count = 0;
export default { fetch() { count += 1; return Response.json({ count }); } };
"#;

#[test]
fn module_state_grows_across_requests_in_reuse_mode() {
    let app = js_app(COUNTER);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &["--isolation", "reuse"]);
    kiln.wait_for_snapshot();
    let counts: Vec<i64> = (0..5)
        .map(|_| get_json(&kiln.url("/")).1["count"].as_i64().unwrap())
        .collect();
    // A quick next request may start a second instance before the first is back in the pool.
    assert!(counts.iter().max() >= Some(&3), "{counts:?}");
}

#[test]
fn module_state_is_fresh_for_every_request_in_request_mode() {
    let app = js_app(COUNTER);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &["--isolation", "request"]);
    let counts: Vec<i64> = (0..5)
        .map(|_| get_json(&kiln.url("/")).1["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, vec![1, 1, 1, 1, 1]);
}

#[test]
fn reuse_mode_retires_an_instance_after_its_request_budget() {
    let app = js_app(COUNTER);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(
        app.path(),
        data.path(),
        &["--max-requests-per-instance", "3"],
    );
    kiln.wait_for_snapshot();
    // An instance goes back to the pool just after its response is sent, so a quick next
    // request may start a second one: what is fixed is the most any instance serves.
    let counts: Vec<i64> = (0..12)
        .map(|_| get_json(&kiln.url("/")).1["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts.iter().max(), Some(&3), "{counts:?}");
    assert!(
        counts.iter().filter(|&&c| c == 1).count() >= 4,
        "{counts:?}"
    );
}

#[test]
fn deep_recursion_answers_and_runaway_recursion_is_a_500_that_harms_no_one() {
    let app = js_app(
        r#"
function depth(n) { return n === 0 ? 0 : 1 + depth(n - 1); }
function forever(n) { return forever(n + 1) + 1; }
function locals(n) {
  const a = n + 1, b = a + 1, c = b + 1, d = c + 1, e = d + 1, f = e + 1, g = f + 1, h = g + 1;
  try { return n === 0 ? a + b + c + d + e + f + g + h : 1 + locals(n - 1); } catch (error) { throw error; }
}
export default {
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/forever") return new Response(String(forever(0)));
    if (url.pathname === "/locals") return Response.json(locals(Number(url.searchParams.get("n"))));
    const n = Number(url.searchParams.get("n"));
    if (url.pathname === "/json") return Response.json(JSON.parse("[".repeat(n) + "]".repeat(n)).length);
    return Response.json(depth(n));
  },
};
"#,
    );
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    // 1,200 nested calls (a recursive descent over a deep tree) and 4,000 nested JSON arrays fit.
    assert_eq!(
        get_json(&kiln.url("/?n=1200")),
        (200, serde_json::json!(1200))
    );
    assert_eq!(
        get_json(&kiln.url("/json?n=4000")),
        (200, serde_json::json!(1))
    );
    // Runaway recursion ends on the host's stack; a function with more locals and a `try` runs
    // out of the engine's own stack first. Either way the app hears why, and only that call fails.
    for path in ["/forever", "/locals?n=100000"] {
        let (status, json) = get_json(&kiln.url(path));
        assert_eq!(status, 500, "{path}: {json}");
        assert_eq!(json["error"], "ExecutionError", "{path}: {json}");
        let message = json["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("call stack exhausted (recursion too deep"),
            "{path}: {json}"
        );
        assert_eq!(get_json(&kiln.url("/?n=10")), (200, serde_json::json!(10)));
    }
    assert_eq!(
        get_json(&kiln.url("/locals?n=1000")),
        (200, serde_json::json!(1000 + 36))
    );
}

/// The bodies of `n` GETs of `path`, one after another.
fn answers(kiln: &Kiln, path: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| client().get(kiln.url(path)).send().unwrap().text().unwrap())
        .collect()
}

/// In platform mode `kiln serve`'s flags are the node's defaults for stored apps that set
/// nothing themselves: `--timeout-ms`, `--max-requests-per-instance`, `--isolation`, and
/// `--memory-mb` (as the default of config `default_memory_mb`); an app's own limits win.
#[test]
fn serve_flags_are_the_defaults_of_stored_apps() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::start(
        data.path(),
        &[
            "--promote-rps",
            "0",
            "--timeout-ms",
            "1500",
            "--max-requests-per-instance",
            "2",
            "--memory-mb",
            "48",
        ],
        &[("KILN_JWT_SECRET", crate::support::SECRET)],
    )
    .unwrap();
    let jwt = admin_token(data.path());
    let create = |name: &str, code: &str, limits: serde_json::Value| {
        let (s, body) = call(
            kiln.admin(Method::POST, "/admin-api/v2/services", &jwt)
                .json(&json!({"name": name, "code": code, "limits": limits})),
        );
        assert_eq!(s, 201, "{body}");
    };
    let (s, body) = call(kiln.admin(Method::GET, "/admin-api/v2/config/default_memory_mb", &jwt));
    assert_eq!((s, body["value"].clone()), (200, json!("48")), "{body}");

    create(
        "sleepy",
        "export default { async fetch() { await new Promise(r => setTimeout(r, 5000)); return new Response('late'); } };",
        json!({}),
    );
    let started = Instant::now();
    let status = client()
        .get(kiln.url("/api/v2/sleepy"))
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 504);
    assert!(
        started.elapsed() < Duration::from_millis(4000),
        "{:?}",
        started.elapsed()
    );

    create(
        "counter",
        "let n = 0; export default { fetch() { return new Response(String(++n)); } };",
        json!({}),
    );
    // An instance goes back to the pool after its response is sent, so a request that comes
    // quickly enough may get a second instance: count the most any instance served.
    let counts = answers(&kiln, "/api/v2/counter", 10);
    let most = counts.iter().map(|c| c.parse::<u32>().unwrap()).max();
    assert_eq!(most, Some(2), "{counts:?}");

    let hog = "export default { fetch() { const chunks = []; for (let i = 0; i < 16; i++) chunks.push(new Uint8Array(4 << 20)); return new Response(String(chunks.length)); } };";
    create("hog", hog, json!({}));
    assert_eq!(
        client()
            .get(kiln.url("/api/v2/hog"))
            .send()
            .unwrap()
            .status(),
        503
    );
    create("big-hog", hog, json!({"memory_mb": 128}));
    let text = client()
        .get(kiln.url("/api/v2/big-hog"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(text, "16");
    drop(kiln);

    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::start(
        data.path(),
        &["--isolation", "request"],
        &[("KILN_JWT_SECRET", crate::support::SECRET)],
    )
    .unwrap();
    let jwt = admin_token(data.path());
    let (s, view) = call(
        kiln.admin(Method::POST, "/admin-api/v2/services", &jwt).json(&json!({
            "name": "counter",
            "code": "let n = 0; export default { fetch() { return new Response(String(++n)); } };",
        })),
    );
    assert_eq!(
        (s, view["isolation"].clone()),
        (201, json!("request")),
        "{view}"
    );
    let counts = answers(&kiln, "/api/v2/counter", 3);
    assert_eq!(counts, ["1", "1", "1"]);
}
