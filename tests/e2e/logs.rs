//! Live logs: `GET /admin-api/v2/{kind}/{name}/logs` answers an app's request lines and console
//! output with their request ids, `?follow=true` streams new ones, `kiln logs --follow` prints a
//! line a request made meanwhile wrote; only admin tokens read them; a removed app's stream ends.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use crate::support::{SECRET, call, client, create_app, kiln_bin, platform, token};

const APP: &str = r#"export default {
  fetch(request) {
    const path = new URL(request.url).pathname;
    console.log("seen", path);
    console.error("warned", path);
    return new Response("ok\n");
  },
};"#;

/// Reads lines of `reader` on a thread of their own, so that a test can wait with a timeout.
fn lines(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

/// Waits for a line containing `needle`; every line seen is kept for the failure message.
fn wait_for(lines: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) -> String {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no line with {needle:?}; seen: {seen:#?}");
}

#[test]
fn an_apps_lines_carry_request_ids_and_follow_streams_new_ones() {
    let (data, kiln, jwt) = platform();
    create_app(
        &kiln,
        &jwt,
        "services",
        json!({"name": "talker", "code": APP}),
    );
    let response = client()
        .get(kiln.url("/api/v2/talker/first"))
        .send()
        .unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(response.text().unwrap(), "ok\n");

    // The recent lines: console output (both streams) and the request line, all with the id.
    let (status, body) = call(kiln.admin(
        reqwest::Method::GET,
        "/admin-api/v2/services/talker/logs",
        &jwt,
    ));
    assert_eq!(status, 200, "{body}");
    let recent = body["lines"].as_array().unwrap();
    let of = |source: &str| {
        recent
            .iter()
            .find(|line| line["source"] == source)
            .unwrap_or_else(|| panic!("no {source} line in {body}"))
    };
    assert_eq!(of("stdout")["message"], "seen /first");
    assert_eq!(of("stderr")["message"], "warned /first");
    assert!(
        of("request")["message"]
            .as_str()
            .unwrap()
            .starts_with("GET /api/v2/talker/first 200 3 B"),
        "{body}"
    );
    for line in recent {
        assert_eq!(line["request_id"], id.as_str(), "{body}");
        assert!(line["time"].as_str().unwrap().ends_with('Z'), "{body}");
    }
    let (_, body) = call(kiln.admin(
        reqwest::Method::GET,
        "/admin-api/v2/services/talker/logs?lines=1",
        &jwt,
    ));
    assert_eq!(body["lines"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["lines"][0]["source"], "request", "{body}");

    // Only an admin token reads them; an unknown app is a 404.
    let (status, _) = call(client().get(kiln.url("/admin-api/v2/services/talker/logs")));
    assert_eq!(status, 401);
    let invoke = token(
        data.path(),
        &[("KILN_JWT_SECRET", SECRET)],
        &["--scope", "invoke"],
    );
    let (status, _) = call(kiln.admin(
        reqwest::Method::GET,
        "/admin-api/v2/services/talker/logs",
        &invoke,
    ));
    assert_eq!(status, 403);
    let (status, body) = call(kiln.admin(
        reqwest::Method::GET,
        "/admin-api/v2/services/nobody/logs",
        &jwt,
    ));
    assert_eq!(status, 404, "{body}");

    // Following: the last line first, then what a request made meanwhile writes.
    let stream = reqwest::blocking::Client::new()
        .get(kiln.url("/admin-api/v2/services/talker/logs?follow=true&lines=1"))
        .bearer_auth(&jwt)
        .send()
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let events = lines(stream);
    let mut seen = Vec::new();
    wait_for(&events, "GET /api/v2/talker/first", &mut seen);
    let second = client()
        .get(kiln.url("/api/v2/talker/second"))
        .send()
        .unwrap();
    assert_eq!(second.status(), 200);
    let event = wait_for(&events, "seen /second", &mut seen);
    let line: serde_json::Value =
        serde_json::from_str(event.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(line["source"], "stdout");
    assert_eq!(
        line["request_id"],
        second.headers()["x-request-id"].to_str().unwrap()
    );

    // Removing the app ends its followers' stream.
    let (status, body) = call(kiln.admin(
        reqwest::Method::DELETE,
        "/admin-api/v2/services/talker",
        &jwt,
    ));
    assert_eq!(status, 200, "{body}");
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match events.recv_timeout(Duration::from_secs(1)) {
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            _ if std::time::Instant::now() > until => {
                panic!("the stream of a removed app did not end")
            }
            _ => {}
        }
    }
}

#[test]
fn kiln_logs_follow_prints_a_line_a_function_writes_meanwhile() {
    let (_data, kiln, jwt) = platform();
    create_app(
        &kiln,
        &jwt,
        "functions",
        json!({"name": "shout", "code": r#"export default function (input) {
  console.log("shouting", input.word);
  return input.word.toUpperCase();
}"#}),
    );
    let (status, body) = call(
        client()
            .post(kiln.url("/functions/v2/shout"))
            .json(&json!({"word": "early"})),
    );
    assert_eq!(status, 200, "{body}");

    let config = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut command = Command::new(kiln_bin());
        command
            .args(args)
            .env("XDG_CONFIG_HOME", config.path())
            .env("KILN_SERVER", kiln.url(""))
            .env("KILN_TOKEN", &jwt);
        command
    };
    let out = cli(&["logs", "shout", "--function"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("stdout  ["), "{printed}");
    assert!(printed.contains("shouting early"), "{printed}");
    let out = cli(&["logs", "shout", "--function", "--json", "-n", "1"])
        .output()
        .unwrap();
    let last: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(last["source"], "request", "{last}");

    let mut follower = cli(&["logs", "shout", "--function", "--follow", "-n", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let printed = lines(follower.stdout.take().unwrap());
    // With `-n 0` only lines written after it connected are printed: call until one is.
    let mut line = None;
    for attempt in 0..40 {
        let (status, body) = call(
            client()
                .post(kiln.url("/functions/v2/shout"))
                .json(&json!({"word": format!("meanwhile{attempt}")})),
        );
        assert_eq!(status, 200, "{body}");
        // The first line seen may be the request line of a call the follower caught halfway.
        while let Ok(text) = printed.recv_timeout(Duration::from_millis(500)) {
            if text.contains("shouting meanwhile") {
                line = Some(text);
                break;
            }
        }
        if line.is_some() {
            break;
        }
    }
    let line = line.expect("kiln logs --follow printed nothing");
    assert!(line.contains(" stdout "), "{line}");
    let mut seen = Vec::new();
    wait_for(&printed, "POST /functions/v2/shout 200", &mut seen);
    follower.kill().unwrap();
    follower.wait().unwrap();

    // An unknown app is a sentence and a failure.
    let out = cli(&["logs", "nobody"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("service 'nobody' not found (404"),
        "{out:?}"
    );
}
