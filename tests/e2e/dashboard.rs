//! The dashboard in headless Chromium (driven by playwright-core): sign in, see an app with its
//! traffic, roll it back, see a log line a request made meanwhile; screenshots are kept under
//! `target/dashboard-screenshots/`. Plus what the page is served with.

use std::process::Command;

use serde_json::json;

use crate::support::{call, client, platform, repo};

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!(
                "the dashboard test needs Chromium: apt-get install chromium (.ci/run installs it)"
            )
        })
}

const VERSION: &str = r#"export default {
  fetch(request) {
    console.log("visited", new URL(request.url).pathname);
    return new Response("VERSION");
  },
};"#;

#[test]
fn a_user_signs_in_sees_an_app_rolls_it_back_and_watches_its_log() {
    let (_data, kiln, jwt) = platform();
    crate::support::create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "dash", "code": VERSION.replace("VERSION", "one")}),
    );
    let (status, body) = call(
        kiln.admin(reqwest::Method::PUT, "/admin-api/v2/services/dash", &jwt)
            .json(&json!({"code": VERSION.replace("VERSION", "two")})),
    );
    assert_eq!(status, 200, "{body}");
    let get = || {
        client()
            .get(kiln.url("/api/v2/dash/"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    assert_eq!(get(), "two");

    let shots = repo().join("target/dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let dir = crate::frameworks::frameworks_dir();
    let output = Command::new("node")
        .arg(dir.join("dashboard.mjs"))
        .arg(kiln.url(""))
        .arg(&jwt)
        .arg(&shots)
        .arg(chromium())
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the dashboard script failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        seen["refused"].as_str().unwrap().contains("token"),
        "{seen}"
    );
    // kind, name, version, tier, enabled, req/s, p50, p99, 5xx
    let row = &seen["row"];
    assert_eq!(row[0], "service", "{seen}");
    assert_eq!(row[1], "dash", "{seen}");
    assert_eq!(row[2], "2", "{seen}");
    assert_eq!(row[4], "yes", "{seen}");
    assert!(row[6].as_str().unwrap().starts_with('≤'), "{seen}");
    assert_eq!(row[8], "0", "{seen}");
    assert!(
        seen["chart"].as_str().unwrap().split(' ').count() == 60,
        "{seen}"
    );
    assert_eq!(seen["config"]["permissions"]["net"], json!([]), "{seen}");
    assert_eq!(seen["message"], "dash now serves version 1", "{seen}");
    assert_eq!(seen["serving"], "serving", "{seen}");
    assert_eq!(seen["answer"], "one", "{seen}");
    assert!(
        seen["log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|line| line.as_str().unwrap().contains("stdout  [")),
        "{seen}"
    );
    assert_eq!(seen["signedOut"], serde_json::Value::Null, "{seen}");
    assert_eq!(seen["errors"], json!([]), "{seen}");
    assert_eq!(get(), "one");
    for shot in ["dashboard-home.png", "dashboard-app.png"] {
        assert!(
            std::fs::metadata(shots.join(shot)).unwrap().len() > 1000,
            "{shot}"
        );
    }
}

#[test]
fn the_dashboard_is_served_with_a_strict_policy_and_no_secret() {
    let (_data, kiln, _jwt) = platform();
    for (path, kind) in [
        ("/dashboard", "text/html"),
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
    ] {
        let response = client().get(kiln.url(path)).send().unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let (status, _) = call(client().get(kiln.url("/dashboard/secret.txt")));
    assert_eq!(status, 404);
    // The data behind it needs an admin token.
    let (status, _) = call(client().get(kiln.url("/admin-api/v2/stats")));
    assert_eq!(status, 401);
}
