//! Many tenants on one node: idle apps leave memory and come back on their next call, JavaScript
//! that keeps creating instances is promoted to its own snapshot (a reused one is not: a warm
//! instance serves the same on either tier) and demoted when it cools, with no failed request,
//! and artifacts nothing uses are removed from disk.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::support::*;

fn tiered(data: &Path, args: &[&str]) -> Kiln {
    Kiln::start(data, args, &[("KILN_JWT_SECRET", SECRET)])
        .unwrap_or_else(|log| panic!("kiln did not start:\n{log}"))
}

fn service_code(i: usize) -> String {
    format!("export default {{ fetch() {{ return new Response('tenant {i}'); }} }};")
}

fn text(kiln: &Kiln, path: &str) -> (u16, String) {
    let response = client().get(kiln.url(path)).send().expect("request");
    (
        response.status().as_u16(),
        response.text().unwrap_or_default(),
    )
}

/// Per-app artifacts in the cache (named by their content address).
fn artifacts(data: &Path) -> Vec<String> {
    std::fs::read_dir(data.join("cache"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.strip_suffix(".cwasm").is_some_and(|s| s.len() == 64))
        .collect()
}

#[test]
fn two_hundred_services_leave_memory_when_idle_and_answer_again() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Arc::new(tiered(data.path(), &["--idle-timeout-ms", "1500"]));
    let jwt = admin_token(data.path());
    let next = Arc::new(AtomicUsize::new(0));
    let creators: Vec<_> = (0..4)
        .map(|_| {
            let (kiln, jwt, next) = (kiln.clone(), jwt.clone(), next.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= 200 {
                        return;
                    }
                    let (s, view) = call(
                        kiln.admin(Method::POST, "/admin-api/v2/services", &jwt)
                            .json(&json!({"name": format!("tenant-{i}"), "code": service_code(i)})),
                    );
                    assert_eq!(
                        (s, view["tier"].clone()),
                        (201, json!("bytecode")),
                        "{view}"
                    );
                    assert_eq!(
                        text(&kiln, &format!("/api/v2/tenant-{i}")),
                        (200, format!("tenant {i}"))
                    );
                }
            })
        })
        .collect();
    for creator in creators {
        creator.join().unwrap();
    }
    // A component among them: its own compiled code is mapped while it is used.
    let wasm = std::fs::read(repo().join("components/hello-rust.wasm")).unwrap();
    let (s, _) = call(
        kiln.admin(Method::PUT, "/admin-api/v2/services/rusty/component", &jwt)
            .header("content-type", "application/wasm")
            .body(wasm),
    );
    assert_eq!(s, 201);
    assert_eq!(text(&kiln, "/api/v2/rusty").0, 200);
    // Three seeds, 200 tenants, one component.
    assert_eq!(kiln.metric("kiln_apps_deployed"), 204.0);
    assert!(kiln.metric("kiln_apps_loaded") >= 1.0);
    assert!(kiln.metric("kiln_instances{state=\"idle\"}") >= 1.0);

    // Idle: every instance dropped, no app's own code left in memory.
    kiln.wait_for_metric_eq("kiln_apps_loaded", 0.0);
    kiln.wait_for_metric_eq("kiln_instances{state=\"idle\"}", 0.0);
    assert!(kiln.metric("kiln_unloads_total") >= 1.0);
    let (_, status) = get_json(&kiln.url("/status"));
    assert_eq!(status["occupancy"]["apps_deployed"], 204, "{status}");
    assert_eq!(status["occupancy"]["apps_loaded"], 0, "{status}");
    // How often a warm instance was found, and what freed slots keep resident.
    let occupancy = &status["occupancy"];
    assert!(
        occupancy["instantiations"].as_u64().unwrap() >= 200,
        "{status}"
    );
    let ratio = occupancy["warm_hit_ratio"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&ratio), "{status}");
    assert!(
        occupancy["unused_slot_bytes"].as_u64().is_some(),
        "{status}"
    );
    assert!(occupancy["idle_evictions"].as_u64().is_some(), "{status}");
    assert!(
        occupancy["background_cpu_seconds"].as_f64().is_some(),
        "{status}"
    );

    // Evicted apps answer their next call correctly, the component's code mapped again.
    let loads = kiln.metric("kiln_code_loads_total");
    for i in [0, 57, 199] {
        assert_eq!(
            text(&kiln, &format!("/api/v2/tenant-{i}")),
            (200, format!("tenant {i}"))
        );
    }
    let response = client().get(kiln.url("/api/v2/rusty")).send().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-component"], "hello-rust");
    assert_eq!(kiln.metric("kiln_code_loads_total"), loads + 1.0);
    assert_eq!(kiln.metric("kiln_apps_by_tier{tier=\"bytecode\"}"), 203.0);
}

#[test]
fn a_service_instantiating_often_is_promoted_and_demoted_without_a_failed_request() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Arc::new(tiered(
        data.path(),
        &[
            "--promote-rps",
            "4",
            "--demote-after-ms",
            "2000",
            "--idle-timeout-ms",
            "1000",
        ],
    ));
    let jwt = admin_token(data.path());
    let code = "const evaluated = 'module evaluated once'; export default { fetch() { return new Response(evaluated); } };";
    let (s, view) = call(
        kiln.admin(Method::POST, "/admin-api/v2/services", &jwt)
            .json(&json!({"name": "warm", "code": code, "isolation": "request"})),
    );
    assert_eq!((s, view["tier"].clone()), (201, json!("bytecode")));
    // The same code reusing its instance, called as often.
    let (s, _) = call(
        kiln.admin(Method::POST, "/admin-api/v2/services", &jwt)
            .json(&json!({"name": "reused", "code": code})),
    );
    assert_eq!(s, 201);
    assert!(artifacts(data.path()).is_empty());

    // Hot: 50 requests (fresh instances) a second, checked one by one, while it is promoted.
    let stop = Arc::new(AtomicBool::new(false));
    let caller = {
        let (kiln, stop) = (kiln.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut served = 0;
            while !stop.load(Ordering::Relaxed) {
                for path in ["/api/v2/warm", "/api/v2/reused"] {
                    assert_eq!(
                        text(&kiln, path),
                        (200, "module evaluated once".to_string())
                    );
                }
                served += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            served
        })
    };
    kiln.wait_for_tier(&jwt, "services/warm", "snapshot");
    let (_, reused) = call(
        client()
            .get(kiln.url("/admin-api/v2/services/reused"))
            .bearer_auth(&jwt),
    );
    assert_eq!(
        reused["tier"], "bytecode",
        "a reused instance was promoted: {reused}"
    );
    // Keep calling across the swap.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let served = caller
        .join()
        .expect("no request failed while the service was promoted");
    assert!(served > 10, "{served}");
    assert_eq!(kiln.metric("kiln_snapshots_total"), 1.0);
    assert_eq!(artifacts(data.path()).len(), 1);

    // Cold: back on the shared engine, its snapshot removed from disk, still answering.
    kiln.wait_for_tier(&jwt, "services/warm", "bytecode");
    assert_eq!(kiln.metric("kiln_demotions_total"), 1.0);
    kiln.wait_for_metric("kiln_artifacts_collected_total", 1.0);
    assert!(artifacts(data.path()).is_empty());
    assert_eq!(
        text(&kiln, "/api/v2/warm"),
        (200, "module evaluated once".to_string())
    );
}

#[test]
fn deleting_a_service_removes_the_artifacts_nothing_else_uses() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let create = |name: &str, code: &str| {
        let (s, _) = call(
            kiln.admin(Method::POST, "/admin-api/v2/services", &jwt)
                .json(&json!({"name": name, "code": code})),
        );
        assert_eq!(s, 201);
    };
    let shared = "export default { fetch() { return new Response('same code'); } };";
    create("twin-a", shared);
    create("twin-b", shared);
    create("single", &service_code(1));
    // The three seeds, the twins' one snapshot, and single's.
    kiln.wait_for_metric("kiln_snapshots_total", 6.0);
    let before = artifacts(data.path()).len();
    assert_eq!(before, 5, "{:?}", artifacts(data.path()));
    let bytes = kiln.metric("kiln_artifact_bytes");

    let delete = |name: &str| {
        let s = kiln
            .admin(
                Method::DELETE,
                &format!("/admin-api/v2/services/{name}"),
                &jwt,
            )
            .send()
            .unwrap()
            .status();
        assert!(s.is_success(), "{s}");
    };
    let wait_for_count = |count: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while artifacts(data.path()).len() != count {
            assert!(Instant::now() < deadline, "{:?}", artifacts(data.path()));
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    delete("single");
    wait_for_count(before - 1);
    // The file goes first, then the counter counts it.
    kiln.wait_for_metric("kiln_artifacts_collected_total", 1.0);
    assert!(kiln.metric("kiln_artifact_bytes") < bytes);

    // The twins share one artifact: it stays while one of them is deployed.
    delete("twin-a");
    let collected = kiln.metric("kiln_artifacts_collected_total");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(artifacts(data.path()).len(), before - 1);
    assert_eq!(kiln.metric("kiln_artifacts_collected_total"), collected);
    assert_eq!(
        text(&kiln, "/api/v2/twin-b"),
        (200, "same code".to_string())
    );
    delete("twin-b");
    wait_for_count(before - 2);
}
