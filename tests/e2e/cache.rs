//! Compiled artifacts are cached by content: a restart serves without recompiling.

use std::time::Duration;

use serde_json::json;

use crate::support::{Kiln, admin_token, call, client, get_json, js_app};

#[test]
fn a_restart_serves_from_the_cache_without_recompiling() {
    let data = tempfile::tempdir().unwrap();
    let jwt = admin_token(data.path());
    {
        let kiln = Kiln::platform(data.path());
        let (s, _) = call(
            client()
                .post(kiln.url("/admin-api/v2/services"))
                .bearer_auth(&jwt)
                .json(&json!({
                    "name": "cached",
                    "code": "export default { fetch() { return Response.json({ cached: true }); } };"
                })),
        );
        assert_eq!(s, 201);
        assert_eq!(get_json(&kiln.url("/api/v2/cached")).1["cached"], true);
        // The three seeds and this service: all compiled, all snapshotted.
        kiln.wait_for_metric("kiln_compile_cache_misses_total", 4.0);
        kiln.wait_for_metric("kiln_snapshots_total", 4.0);
    }
    let kiln = Kiln::platform(data.path());
    assert_eq!(get_json(&kiln.url("/api/v2/cached")).1["cached"], true);
    kiln.wait_for_metric("kiln_compile_cache_hits_total", 4.0);
    assert_eq!(kiln.metric("kiln_compile_cache_misses_total"), 0.0);
    assert_eq!(kiln.metric("kiln_engine_builds_total"), 0.0);
    let (_, view) = call(
        client()
            .get(kiln.url("/admin-api/v2/services/cached"))
            .bearer_auth(&jwt),
    );
    assert_eq!(view["tier"], "snapshot", "{view}");
}

#[test]
fn the_snapshot_replaces_the_bytecode_tier_and_serves_the_same_app() {
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::platform(data.path());
    let jwt = admin_token(data.path());
    let (s, view) = call(
        client()
            .post(kiln.url("/admin-api/v2/services"))
            .bearer_auth(&jwt)
            .json(&json!({
                "name": "evaluated",
                "code": "const started = 'module evaluated'; export default { fetch() { return new Response(started); } };"
            })),
    );
    assert_eq!((s, view["tier"].clone()), (201, json!("bytecode")));
    let get = || {
        client()
            .get(kiln.url("/api/v2/evaluated"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    assert_eq!(get(), "module evaluated");
    kiln.wait_for_tier(&jwt, "services/evaluated", "snapshot");
    assert_eq!(get(), "module evaluated");
}

#[test]
fn a_new_data_dir_copies_the_shared_engine_from_the_users_cache_instead_of_building_it() {
    let user_cache = tempfile::tempdir().unwrap();
    let user_cache_dir = user_cache.path().to_str().unwrap().to_string();
    let xdg = [("XDG_CACHE_HOME", user_cache_dir.as_str())];
    let app = js_app("export default { fetch() { return Response.json({ up: true }); } };");
    let app_arg = app.path().to_str().unwrap();
    let first = tempfile::tempdir().unwrap();
    {
        let kiln = Kiln::start_cold(first.path(), &["--app", app_arg], &xdg).unwrap();
        assert_eq!(get_json(&kiln.url("/")).1["up"], true);
        // Log lines are written by a background thread: wait for them rather than race it.
        assert!(
            kiln.wait_for_log("built the shared JS engine", Duration::from_secs(10)),
            "{}",
            kiln.log()
        );
    }
    let shared = std::fs::read_dir(user_cache.path().join("kiln/cache"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".cwasm"))
        .count();
    assert_eq!(shared, 1, "the engine was not kept in the user's cache");
    let second = tempfile::tempdir().unwrap();
    let kiln = Kiln::start_cold(second.path(), &["--app", app_arg], &xdg).unwrap();
    assert_eq!(get_json(&kiln.url("/")).1["up"], true);
    assert!(
        kiln.wait_for_log("copied from the user's cache", Duration::from_secs(10)),
        "{}",
        kiln.log()
    );
    assert!(
        !kiln.log().contains("building the shared JS engine"),
        "{}",
        kiln.log()
    );
    // The copy belongs to the new data dir: it serves without the user's cache.
    drop(kiln);
    drop(user_cache);
    let kiln = Kiln::start_cold(second.path(), &["--app", app_arg], &xdg).unwrap();
    assert_eq!(get_json(&kiln.url("/")).1["up"], true);
    assert!(!kiln.log().contains("shared JS engine"), "{}", kiln.log());
}
