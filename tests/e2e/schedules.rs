//! Schedules: an app's cron expressions run it (a function with `{"cron", "scheduledTime"}`, a
//! JavaScript service's `scheduled(event, env, ctx)`), each tick once, every run recorded.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Kiln, call, client, create_app, platform};

/// Every second.
const EVERY_SECOND: &str = "*/1 * * * * *";

/// The app's recorded runs, newest first.
fn runs(kiln: &Kiln, jwt: &str, kind: &str, name: &str) -> Vec<Value> {
    let (status, body) = call(kiln.admin(
        Method::GET,
        &format!("/admin-api/v2/{kind}/{name}/runs"),
        jwt,
    ));
    assert_eq!(status, 200, "{body}");
    body["runs"].as_array().unwrap().clone()
}

/// Waits until the app has `count` finished runs; returns them, newest first.
fn until_runs(kiln: &Kiln, jwt: &str, kind: &str, name: &str, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let all = runs(kiln, jwt, kind, name);
        let finished: Vec<Value> = all
            .iter()
            .filter(|run| run["status"] != "running")
            .cloned()
            .collect();
        if finished.len() >= count {
            return finished;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "after 20 s {name} has runs {all:?}, not {count} finished"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn get(kiln: &Kiln, path: &str) -> String {
    client().get(kiln.url(path)).send().unwrap().text().unwrap()
}

#[test]
fn a_services_scheduled_handler_runs_on_every_tick_with_its_env_and_wait_until() {
    let (_data, kiln, jwt) = platform();
    let code = r#"export default {
        async fetch(request, env) {
            return Response.json({ ticks: Number(await env.KV.get("ticks") ?? 0), last: await env.KV.get("last", "json"),
                event: request.headers.get("x-kiln-event") });
        },
        async scheduled(event, env, ctx) {
            await env.KV.increment("ticks");
            ctx.waitUntil(new Promise((r) => setTimeout(r, 20)).then(() => env.KV.put("last", JSON.stringify(
                { type: event.type, cron: event.cron, scheduledTime: event.scheduledTime, claims: null }))));
            console.log("tick", event.cron);
        },
    };"#;
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "cron", "code": code, "schedule": [EVERY_SECOND], "permissions": {"kv": ["default"]}}),
    );
    let finished = until_runs(&kiln, &jwt, "services", "cron", 3);
    let newest = &finished[0];
    assert_eq!(newest["status"], "ok", "{newest}");
    assert_eq!(newest["http_status"], 204);
    assert_eq!(newest["cron"], EVERY_SECOND);
    assert!(!newest["node"].as_str().unwrap().is_empty(), "{newest}");
    // Ticks are whole seconds, one run each, newest first.
    let times: Vec<&str> = finished
        .iter()
        .map(|r| r["scheduled_time"].as_str().unwrap())
        .collect();
    assert!(times.iter().all(|t| t.ends_with(".000Z")), "{times:?}");
    let mut unique = times.clone();
    unique.dedup();
    assert_eq!(unique, times);
    let state: Value = serde_json::from_str(&get(&kiln, "/api/v2/cron")).unwrap();
    assert!(state["ticks"].as_u64().unwrap() >= 3, "{state}");
    assert_eq!(state["last"]["type"], "scheduled");
    assert_eq!(state["last"]["cron"], EVERY_SECOND);
    assert!(state["last"]["scheduledTime"].as_i64().unwrap() % 1000 == 0);
    // A client cannot pass for Kiln: its x-kiln-event is dropped and fetch serves it.
    let forged = client()
        .post(kiln.url("/api/v2/cron"))
        .header("x-kiln-event", "scheduled")
        .body("{\"cron\":\"forged\",\"scheduledTime\":1}")
        .send()
        .unwrap();
    assert_eq!(forged.status(), 200);
    let forged: Value = forged.json().unwrap();
    assert_eq!(forged["event"], Value::Null);
    // Each run is logged under its request id, the guest's lines with it.
    let id = newest["request_id"].as_str().unwrap();
    assert!(
        kiln.wait_for_log(&format!("request_id={id}"), Duration::from_secs(5)),
        "{}",
        kiln.log()
    );
    assert!(kiln.log().contains("tick */1 * * * * *"), "{}", kiln.log());
}

#[test]
fn a_scheduled_function_gets_the_tick_as_input() {
    let (_data, kiln, jwt) = platform();
    create_app(
        &kiln,
        &jwt,
        "functions",
        json!({"name": "every", "schedule": [EVERY_SECOND], "permissions": {"kv": ["default"]},
            "code": "export default async function (input, env) { \
                if (input.cron) await env.KV.put('last', JSON.stringify(input)); \
                return { last: await env.KV.get('last', 'json') }; }"}),
    );
    let finished = until_runs(&kiln, &jwt, "functions", "every", 1);
    assert_eq!(finished[0]["status"], "ok", "{:?}", finished[0]);
    assert_eq!(finished[0]["http_status"], 200);
    let (status, answer) = call(
        client()
            .post(kiln.url("/functions/v2/every"))
            .json(&json!({})),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["last"]["cron"], EVERY_SECOND);
    let time = answer["last"]["scheduledTime"].as_i64().unwrap();
    assert_eq!(time % 1000, 0);
    // The tick it got is one the runs list.
    let listed = runs(&kiln, &jwt, "functions", "every");
    assert!(
        listed
            .iter()
            .any(|r| { chrono_ms(r["scheduled_time"].as_str().unwrap()) == time })
    );
}

/// Milliseconds since the epoch of an RFC 3339 time.
fn chrono_ms(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time)
        .unwrap()
        .timestamp_millis()
}

#[test]
fn failed_runs_say_why_and_bad_schedules_are_refused_keeping_the_old_one() {
    let (_data, kiln, jwt) = platform();
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "nohandler", "schedule": [EVERY_SECOND],
            "code": "export default { fetch() { return new Response('x'); } };"}),
    );
    create_app(
        &kiln,
        &jwt,
        "functions",
        json!({"name": "throws", "schedule": [EVERY_SECOND],
            "code": "export default function () { throw new Error('the job broke'); }"}),
    );
    let failed = until_runs(&kiln, &jwt, "services", "nohandler", 1);
    assert_eq!(failed[0]["status"], "error");
    assert_eq!(failed[0]["http_status"], 500);
    let error = failed[0]["error"].as_str().unwrap();
    assert!(
        error.contains("no scheduled(event, env, ctx) handler"),
        "{error}"
    );
    let failed = until_runs(&kiln, &jwt, "functions", "throws", 1);
    assert_eq!(failed[0]["status"], "error");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("the job broke"),
        "{:?}",
        failed[0]
    );
    for bad in [
        json!(["every minute"]),
        json!(["61 * * * *"]),
        json!(["* * * * *", "* * * * *"]),
        json!("* * * * *"),
        json!(vec!["* * * * *"; 17]),
    ] {
        let (status, body) = call(
            kiln.admin(Method::PUT, "/admin-api/v2/services/nohandler", &jwt)
                .json(&json!({ "schedule": bad })),
        );
        assert_eq!(status, 400, "{bad}: {body}");
        // A schedule that is no list is refused by the JSON parser, which names no field.
        if bad.is_array() {
            assert!(
                body["message"].as_str().unwrap().contains("schedule"),
                "{body}"
            );
        }
    }
    let (status, body) = call(
        kiln.admin(
            Method::POST,
            "/admin-api/v2/services",
            &jwt,
        )
        .json(&json!({"name": "refused", "schedule": ["@sometimes"], "code": "export default { fetch() { return new Response('x'); } };"})),
    );
    assert_eq!(status, 400, "{body}");
    let (_, view) = call(kiln.admin(Method::GET, "/admin-api/v2/services/nohandler", &jwt));
    assert_eq!(view["schedule"], json!([EVERY_SECOND]));
    let (status, _) = call(kiln.admin(Method::GET, "/admin-api/v2/services/refused", &jwt));
    assert_eq!(status, 404);
    // No schedule: no runs, and `schedule` is left out of the view.
    let (status, view) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/services/nohandler", &jwt)
            .json(&json!({ "schedule": [] })),
    );
    assert_eq!(status, 200, "{view}");
    assert!(view.get("schedule").is_none(), "{view}");
    std::thread::sleep(Duration::from_millis(1500));
    let before = runs(&kiln, &jwt, "services", "nohandler").len();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(runs(&kiln, &jwt, "services", "nohandler").len(), before);
    // Runs are the admin's to read, and go with the app.
    let anonymous = client()
        .get(kiln.url("/admin-api/v2/functions/throws/runs"))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let (status, _) = call(kiln.admin(Method::DELETE, "/admin-api/v2/functions/throws", &jwt));
    assert_eq!(status, 200);
    let (status, _) = call(kiln.admin(Method::GET, "/admin-api/v2/functions/throws/runs", &jwt));
    assert_eq!(status, 404);
}

#[test]
fn disabled_apps_wait_and_jwt_check_apps_run_without_a_clients_token() {
    let (_data, kiln, jwt) = platform();
    let code = r#"export default {
        async fetch(request, env) { return new Response(await env.KV.get("claims") ?? "none"); },
        async scheduled(event, env) { await env.KV.put("claims", "unused"); },
    };"#;
    // A jwt_check service is run without a client's token (the scheduler's claims stand in).
    let guarded = r#"export default {
        async fetch(request, env) { return new Response(await env.KV.get("ran") ?? "none"); },
        async scheduled(event, env) { await env.KV.put("ran", event.cron); },
    };"#;
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "guarded", "code": guarded, "jwt_check": true, "schedule": [EVERY_SECOND],
            "permissions": {"kv": ["default"]}}),
    );
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "off", "code": code, "schedule": [EVERY_SECOND], "permissions": {"kv": ["default"]}}),
    );
    let (status, _) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/services/off", &jwt)
            .json(&json!({"enabled": false})),
    );
    assert_eq!(status, 200);
    let ran = until_runs(&kiln, &jwt, "services", "guarded", 1);
    assert_eq!(ran[0]["status"], "ok", "{:?}", ran[0]);
    let ran = client()
        .get(kiln.url("/api/v2/guarded"))
        .bearer_auth(&jwt)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(ran, EVERY_SECOND);
    let anonymous = client().get(kiln.url("/api/v2/guarded")).send().unwrap();
    assert_eq!(anonymous.status(), 401);
    // Ticks while it was disabled are not replayed: re-enabled, it runs from the next tick.
    let off = runs(&kiln, &jwt, "services", "off");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(runs(&kiln, &jwt, "services", "off").len(), off.len());
    let (status, _) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/services/off", &jwt)
            .json(&json!({"enabled": true})),
    );
    assert_eq!(status, 200);
    let ran = until_runs(&kiln, &jwt, "services", "off", off.len() + 1);
    assert_eq!(ran[0]["status"], "ok", "{:?}", ran[0]);
    assert_eq!(get(&kiln, "/api/v2/off"), "unused");
}

#[test]
fn a_tick_that_comes_while_the_previous_run_runs_is_skipped() {
    let (_data, kiln, jwt) = platform();
    create_app(
        &kiln,
        &jwt,
        "functions",
        json!({"name": "slow", "schedule": [EVERY_SECOND],
            "code": "export default async function () { await new Promise((r) => setTimeout(r, 2500)); return 'done'; }"}),
    );
    let started = Instant::now();
    loop {
        let all = runs(&kiln, &jwt, "functions", "slow");
        let skipped = all.iter().filter(|r| r["status"] == "skipped").count();
        let ok = all.iter().filter(|r| r["status"] == "ok").count();
        if skipped >= 2 && ok >= 1 {
            let running = all.iter().filter(|r| r["status"] == "running").count();
            assert!(running <= 1, "{all:?}");
            let skip = all.iter().find(|r| r["status"] == "skipped").unwrap();
            assert!(
                skip["error"].as_str().unwrap().contains("still running"),
                "{skip}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "after 20 s the runs are {all:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_run_cut_short_by_a_stopped_server_is_recorded_as_failed_when_it_starts_again() {
    let (data, mut kiln, jwt) = platform();
    create_app(
        &kiln,
        &jwt,
        "functions",
        json!({"name": "long", "schedule": ["*/2 * * * * *"],
            "code": "export default async function () { await new Promise((r) => setTimeout(r, 60000)); }"}),
    );
    let started = Instant::now();
    while !runs(&kiln, &jwt, "functions", "long")
        .iter()
        .any(|r| r["status"] == "running")
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no run started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    kiln.signal(9);
    kiln.wait_exit(Duration::from_secs(10));
    // Stop the schedule at once after the restart, so that no new run starts.
    let kiln = Kiln::platform(data.path());
    let (status, _) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/functions/long", &jwt)
            .json(&json!({"schedule": []})),
    );
    assert_eq!(status, 200);
    let oldest = || {
        runs(&kiln, &jwt, "functions", "long")
            .last()
            .unwrap()
            .clone()
    };
    let started = Instant::now();
    while oldest()["status"] == "running" && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let interrupted = oldest();
    let all = runs(&kiln, &jwt, "functions", "long");
    if crate::support::test_database(data.path()).is_some() {
        // Nodes of a cluster come and go under new ids: such a run is given up on once no
        // deadline could still hold it (16 minutes), which this test does not wait for.
        assert_eq!(interrupted["status"], "running", "{all:?}");
    } else {
        assert_eq!(interrupted["status"], "error", "{all:?}");
        assert_eq!(
            interrupted["error"],
            "the node running it stopped before it ended"
        );
    }
}

#[test]
fn a_watched_folders_kiln_json_schedules_it_and_a_lone_folder_is_told_it_cannot() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("nightly");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("kiln.json"),
        json!({"schedule": [EVERY_SECOND], "permissions": {"kv": ["default"]}}).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("index.js"),
        "export default { async fetch(r, env) { return new Response(String(await env.KV.get('n') ?? 0)); }, \
         async scheduled(event, env) { await env.KV.increment('n'); } };",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::start(
        data.path(),
        &["--watch", root.path().to_str().unwrap()],
        &[("KILN_JWT_SECRET", crate::support::SECRET)],
    )
    .unwrap_or_else(|log| panic!("kiln did not start:\n{log}"));
    let jwt = crate::support::admin_token(data.path());
    let started = Instant::now();
    while client()
        .get(kiln.url("/api/v2/nightly"))
        .send()
        .unwrap()
        .status()
        != 200
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            kiln.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ran = until_runs(&kiln, &jwt, "services", "nightly", 2);
    assert_eq!(ran[0]["status"], "ok", "{:?}", ran[0]);
    assert!(get(&kiln, "/api/v2/nightly").parse::<u64>().unwrap() >= 2);
    // A bad expression is refused and the version served keeps its schedule.
    std::fs::write(
        dir.join("kiln.json"),
        r#"{"schedule": ["61 * * * *"], "permissions": {"kv": ["default"]}}"#,
    )
    .unwrap();
    assert!(
        kiln.wait_for_log("is not a cron expression", Duration::from_secs(10)),
        "{}",
        kiln.log()
    );
    let before = runs(&kiln, &jwt, "services", "nightly").len();
    until_runs(&kiln, &jwt, "services", "nightly", before + 1);
    // The folder gone, its schedule goes with it.
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        kiln.wait_for_log("undeployed", Duration::from_secs(10)),
        "{}",
        kiln.log()
    );
    std::thread::sleep(Duration::from_millis(1200));
    let (status, _) = call(kiln.admin(Method::GET, "/admin-api/v2/services/nightly/runs", &jwt));
    assert_eq!(status, 404);

    // `--app` has no platform to record runs: it says so instead of serving without them.
    let lone = tempfile::tempdir().unwrap();
    std::fs::write(
        lone.path().join("kiln.json"),
        json!({"schedule": [EVERY_SECOND]}).to_string(),
    )
    .unwrap();
    std::fs::write(
        lone.path().join("index.js"),
        "export default { fetch() { return new Response('x'); } };",
    )
    .unwrap();
    let message = Kiln::refused_app(lone.path(), tempfile::tempdir().unwrap().path(), &[]);
    assert!(message.contains("schedule needs the platform"), "{message}");
}
