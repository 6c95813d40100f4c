//! Several nodes on one PostgreSQL: a throwaway database cluster (`initdb` + `pg_ctl` in a temp
//! dir, on a free port) and real `kiln serve --database` nodes against it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Kiln, call, client, kiln_bin, token};

/// A PostgreSQL server of its own, stopped when dropped.
struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

/// Where Debian's (or any) PostgreSQL server binaries are.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|bin| bin.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    if let Some(bin) = versions.pop() {
        return bin;
    }
    let found = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    found
        .and_then(|initdb| initdb.parent().map(PathBuf::from))
        .unwrap_or_else(|| {
            panic!(
                "these tests need a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"
            )
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Postgres {
    fn start() -> Postgres {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Postgres { dir, bin, port };
        if is_root() {
            // PostgreSQL refuses to run as root: its files belong to the `postgres` user.
            crate::support::succeed(
                Command::new("chown")
                    .args(["-R", "postgres"])
                    .arg(pg.dir.path()),
            );
        }
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "kiln",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        pg.ctl("start");
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    /// Runs a PostgreSQL program, as the `postgres` user when the tests run as root.
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        crate::support::succeed(command.args(args).current_dir(self.dir.path()));
    }

    fn ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").to_string_lossy().into_owned();
        let data = self.data();
        let mut args = vec!["-D", &data, "-l", &log, "-o", &options, "-w", action];
        if action != "start" {
            args.extend(["-m", "fast"]);
        }
        self.run("pg_ctl", &args);
    }

    fn url(&self) -> String {
        format!("postgres://kiln@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        let path = self.bin.join("pg_ctl");
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

/// A node on `pg`, with its own data dir (compile cache).
fn node(pg: &Postgres, data: &tempfile::TempDir) -> Kiln {
    Kiln::start(
        data.path(),
        &["--database", &pg.url(), "--promote-rps", "0"],
        &[],
    )
    .unwrap_or_else(|log| panic!("the node did not start:\n{log}"))
}

fn nodes(pg: &Postgres, count: usize) -> (Vec<tempfile::TempDir>, Vec<Kiln>) {
    let dirs: Vec<_> = (0..count).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes = dirs.iter().map(|d| node(pg, d)).collect();
    (dirs, nodes)
}

/// An admin token minted from the secret in the shared database.
fn cluster_token(pg: &Postgres, scope: &str) -> String {
    let scratch = tempfile::tempdir().unwrap();
    token(
        scratch.path(),
        &[],
        &["--database", &pg.url(), "--scope", scope],
    )
}

fn service(body: &str) -> String {
    format!("export default {{ fetch() {{ return new Response({body:?}); }} }};")
}

/// Status and body of `GET /api/v2/{name}` on a node.
fn get(node: &Kiln, name: &str) -> (u16, String) {
    let response = client()
        .get(node.url(&format!("/api/v2/{name}")))
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

/// Waits until every node answers `name` with `want` (status, body); returns how long it took.
fn until_all(nodes: &[&Kiln], name: &str, want: (u16, &str), within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let answers: Vec<_> = nodes.iter().map(|n| get(n, name)).collect();
        if answers
            .iter()
            .all(|(s, b)| *s == want.0 && (want.1.is_empty() || b == want.1))
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "after {within:?} the nodes answer {answers:?}, not {want:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Creates a service through `node`.
fn create(node: &Kiln, jwt: &str, name: &str, code: &str) {
    let (s, b) = call(
        admin(node, Method::POST, "/admin-api/v2/services", jwt)
            .json(&json!({"name": name, "code": code})),
    );
    assert_eq!(s, 201, "{b}");
}

fn admin(node: &Kiln, method: Method, path: &str, jwt: &str) -> reqwest::blocking::RequestBuilder {
    node.admin(method, path, jwt)
}

#[test]
fn a_change_on_any_node_is_served_by_every_node_within_a_second() {
    let pg = Postgres::start();
    let (_dirs, nodes) = nodes(&pg, 3);
    let all: Vec<&Kiln> = nodes.iter().collect();
    let jwt = cluster_token(&pg, "admin");
    let second = Duration::from_secs(1);

    // Create on node 1.
    create(&nodes[0], &jwt, "shared", &service("v1"));
    until_all(&all, "shared", (200, "v1"), second);
    // Update on node 2.
    let (s, b) = call(
        admin(
            &nodes[1],
            Method::PUT,
            "/admin-api/v2/services/shared",
            &jwt,
        )
        .json(&json!({"code": service("v2")})),
    );
    assert_eq!(s, 200, "{b}");
    until_all(&all, "shared", (200, "v2"), second);
    // Roll back on node 3.
    let (s, b) = call(
        admin(
            &nodes[2],
            Method::POST,
            "/admin-api/v2/services/shared/rollback",
            &jwt,
        )
        .json(&json!({"version": 1})),
    );
    assert_eq!(s, 200, "{b}");
    until_all(&all, "shared", (200, "v1"), second);
    // Disable, then enable with a token required, on node 1.
    let (s, b) = call(
        admin(
            &nodes[0],
            Method::PUT,
            "/admin-api/v2/services/shared",
            &jwt,
        )
        .json(&json!({"enabled": false})),
    );
    assert_eq!(s, 200, "{b}");
    until_all(&all, "shared", (503, ""), second);
    let (s, b) = call(
        admin(
            &nodes[0],
            Method::PUT,
            "/admin-api/v2/services/shared",
            &jwt,
        )
        .json(&json!({"enabled": true, "jwt_check": true})),
    );
    assert_eq!(s, 200, "{b}");
    until_all(&all, "shared", (401, ""), second);
    // A token minted from the shared secret opens it on every node.
    let invoke = cluster_token(&pg, "invoke");
    for node in &nodes {
        let response = client()
            .get(node.url("/api/v2/shared"))
            .bearer_auth(&invoke)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().unwrap(), "v1");
    }
    // A config change made on node 3 applies on node 1: the largest request body.
    let (s, b) = call(
        admin(
            &nodes[2],
            Method::PUT,
            "/admin-api/v2/config/max_request_mb",
            &jwt,
        )
        .json(&json!({"value": "1"})),
    );
    assert_eq!(s, 200, "{b}");
    create(
        &nodes[0],
        &jwt,
        "echo",
        "export default { async fetch(r) { return new Response(String((await r.arrayBuffer()).byteLength)); } };",
    );
    until_all(&all, "echo", (200, "0"), second);
    let started = Instant::now();
    loop {
        // Refused with 413, or the connection closed while the body was still being sent.
        let outcome = client()
            .post(nodes[0].url("/api/v2/echo"))
            .body(vec![b'x'; 2 << 20])
            .send()
            .map(|r| r.status().as_u16());
        if !matches!(outcome, Ok(200)) {
            assert!(matches!(outcome, Ok(413) | Err(_)), "{outcome:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "node 1 still accepts 2 MiB"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Delete on node 2.
    let (s, b) = call(admin(
        &nodes[1],
        Method::DELETE,
        "/admin-api/v2/services/shared",
        &jwt,
    ));
    assert_eq!(s, 200, "{b}");
    until_all(&all, "shared", (404, ""), second);
    // Every node is ready and lists the others, each serving the same versions.
    std::thread::sleep(Duration::from_millis(1500));
    for node in &nodes {
        let (s, b) = call(client().get(node.url("/healthz")));
        assert_eq!((s, &b["status"]), (200, &json!("ok")), "{b}");
    }
    let (s, status) = call(client().get(nodes[2].url("/status")));
    assert_eq!(s, 200);
    let listed = status["cluster"]["nodes"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{status:#}");
    for node in listed {
        assert_eq!(node["serving"]["service/echo"], json!(1), "{node}");
        assert!(node["serving"].get("service/shared").is_none(), "{node}");
    }
}

#[test]
fn concurrent_updates_from_every_node_end_with_every_node_serving_the_stored_version() {
    let pg = Postgres::start();
    let (_dirs, nodes) = nodes(&pg, 3);
    let all: Vec<&Kiln> = nodes.iter().collect();
    let jwt = cluster_token(&pg, "admin");
    create(&nodes[0], &jwt, "contested", &service("start"));
    std::thread::scope(|scope| {
        for i in 0..50 {
            let node = &nodes[i % 3];
            let jwt = &jwt;
            scope.spawn(move || {
                let (s, b) = call(
                    admin(node, Method::PUT, "/admin-api/v2/services/contested", jwt)
                        .json(&json!({"code": service(&format!("update {i}"))})),
                );
                assert_eq!(s, 200, "update {i}: {b}");
            });
        }
    });
    let (s, stored) = call(admin(
        &nodes[1],
        Method::GET,
        "/admin-api/v2/services/contested",
        &jwt,
    ));
    assert_eq!(s, 200);
    let (s, versions) = call(admin(
        &nodes[2],
        Method::GET,
        "/admin-api/v2/services/contested/versions",
        &jwt,
    ));
    assert_eq!(s, 200);
    let count = versions
        .as_array()
        .or_else(|| versions["versions"].as_array())
        .map_or(0, Vec::len);
    assert_eq!(count, 51, "every update is a version: {versions}");
    let code = stored["code"].as_str().unwrap();
    let body = code
        .split("new Response(\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    assert!(body.starts_with("update "), "{code}");
    until_all(&all, "contested", (200, &body), Duration::from_secs(3));
}

#[test]
fn a_node_killed_mid_deploy_leaves_the_previous_version_serving_everywhere() {
    let pg = Postgres::start();
    let (_dirs, mut nodes) = nodes(&pg, 3);
    let jwt = cluster_token(&pg, "admin");
    create(&nodes[0], &jwt, "steady", &service("before"));
    let all: Vec<&Kiln> = nodes.iter().collect();
    until_all(&all, "steady", (200, "before"), Duration::from_secs(1));
    // Top-level code that takes 2 s to run: node 1 is killed while it compiles.
    let slow = "const end = Date.now() + 2000; while (Date.now() < end) {}\nexport default { fetch() { return new Response('after'); } };";
    let base = nodes[0].base.clone();
    let jwt_for_deploy = jwt.clone();
    let deploy = std::thread::spawn(move || {
        client()
            .put(format!("{base}/admin-api/v2/services/steady"))
            .bearer_auth(jwt_for_deploy)
            .json(&json!({"code": slow}))
            .send()
    });
    std::thread::sleep(Duration::from_millis(500));
    let killed = nodes.remove(0);
    killed.signal(9);
    assert!(deploy.join().unwrap().is_err(), "the deploy answered");
    drop(killed);
    std::thread::sleep(Duration::from_millis(2500));
    let rest: Vec<&Kiln> = nodes.iter().collect();
    until_all(&rest, "steady", (200, "before"), Duration::from_secs(1));
    let (s, b) = call(admin(
        &nodes[0],
        Method::GET,
        "/admin-api/v2/services/steady/versions",
        &jwt,
    ));
    assert_eq!(s, 200);
    assert!(
        !b.to_string().contains("\"version\":2"),
        "a half-done deploy was stored: {b}"
    );
}

#[test]
fn nodes_keep_serving_without_the_database_report_unready_and_catch_up_after() {
    let pg = Postgres::start();
    let (_dirs, nodes) = nodes(&pg, 2);
    let all: Vec<&Kiln> = nodes.iter().collect();
    let jwt = cluster_token(&pg, "admin");
    create(&nodes[0], &jwt, "durable", &service("one"));
    until_all(&all, "durable", (200, "one"), Duration::from_secs(1));
    // Load on both nodes for the whole outage: no request may fail.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (served, failed) = std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            let (mut served, mut failed) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for node in &nodes {
                    match get(node, "durable") {
                        (200, body) if body == "one" || body == "two" => served += 1,
                        other => failed.push(other),
                    }
                }
            }
            (served, failed)
        });
        outage(&pg, &nodes, &all, &jwt);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        load.join().unwrap()
    });
    assert!(
        failed.is_empty(),
        "{} requests failed: {failed:?}",
        failed.len()
    );
    assert!(served > 100, "only {served} requests served");
}

/// Stops PostgreSQL, checks the nodes report unready, starts it again and makes a change.
fn outage(pg: &Postgres, nodes: &[Kiln], all: &[&Kiln], jwt: &str) {
    pg.ctl("stop");
    // Requests never touch the database: serving goes on.
    for _ in 0..20 {
        until_all(all, "durable", (200, "one"), Duration::from_secs(1));
    }
    let started = Instant::now();
    for node in nodes {
        loop {
            let (s, b) = call(client().get(node.url("/healthz")));
            if s == 503 {
                assert!(b["reason"].as_str().unwrap().contains("database"), "{b}");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(8),
                "still ready without a database: {b}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    pg.ctl("start");
    // Node 1 takes a change as soon as it reaches the database again; node 2 catches up.
    let started = Instant::now();
    loop {
        let (s, b) = call(
            admin(
                &nodes[0],
                Method::PUT,
                "/admin-api/v2/services/durable",
                jwt,
            )
            .json(&json!({"code": service("two")})),
        );
        if s == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no update after a restart: {s} {b}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    until_all(all, "durable", (200, "two"), Duration::from_secs(10));
    for node in nodes {
        let started = Instant::now();
        loop {
            let (s, b) = call(client().get(node.url("/healthz")));
            if s == 200 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "never ready again: {b}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn kiln_token_reads_the_secret_from_the_database() {
    let pg = Postgres::start();
    let scratch = tempfile::tempdir().unwrap();
    // Before any node has started there is no secret to sign with.
    let output = Command::new(kiln_bin())
        .args(["token", "--database", &pg.url()])
        .current_dir(scratch.path())
        .env_remove("KILN_JWT_SECRET")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no jwt_secret stored"), "{stderr}");
    // Three nodes starting at once on the empty database agree on one secret (and one set of
    // seeded apps).
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Kiln> = std::thread::scope(|scope| {
        let starting: Vec<_> = dirs
            .iter()
            .map(|dir| scope.spawn(|| node(&pg, dir)))
            .collect();
        starting.into_iter().map(|s| s.join().unwrap()).collect()
    });
    let jwt = cluster_token(&pg, "admin");
    for node in &nodes {
        let (s, b): (u16, Value) = call(admin(node, Method::GET, "/admin-api/v2/services", &jwt));
        assert_eq!(s, 200, "{b}");
        assert!(b.to_string().contains("\"hello\""), "{b}");
    }
}

/// Reads a file of its assets through its read grant, at the path the caller names.
const FRONTEND_SERVER: &str = r#"
export default async function handler(req) {
  const path = new URL(req.url).searchParams.get("path");
  try {
    return new Response(await Deno.readTextFile(path));
  } catch (e) {
    return new Response(e.name, { status: 500 });
  }
}"#;

fn host_frontend(node: &Kiln, jwt: &str, site: Vec<u8>) -> (u16, Value) {
    use reqwest::blocking::multipart::{Form, Part};
    let form = Form::new()
        .part("server", Part::text(FRONTEND_SERVER).file_name("server.js"))
        .part("static", Part::bytes(site).file_name("static.zip"))
        .text("serviceName", "site");
    call(
        client()
            .post(node.url("/admin-api/v2/host-frontend"))
            .bearer_auth(jwt)
            .multipart(form),
    )
}

/// Waits until every node serves `want` at `path`.
fn until_served(nodes: &[Kiln], path: &str, want: &str) {
    let started = Instant::now();
    for node in nodes {
        loop {
            let response = client().get(node.url(path)).send().unwrap();
            let status = response.status().as_u16();
            let body = response.text().unwrap();
            if status == 200 && body == want {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{} answers {status} {body:?} at {path}, not {want:?}",
                node.base
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn a_frontend_hosted_through_one_node_is_served_by_every_node() {
    let pg = Postgres::start();
    let (dirs, nodes) = nodes(&pg, 3);
    let jwt = cluster_token(&pg, "admin");
    let site = crate::frontend::zip(&[("index.html", b"<h1>one</h1>"), ("css/style.css", b"h1{}")]);
    let (s, b) = host_frontend(&nodes[0], &jwt, site);
    assert_eq!(s, 201, "{b}");
    until_served(&nodes, "/api/v2/site/dist/css/style.css", "h1{}");
    // The server reads the assets through its grant on every node, from that node's own copy.
    for (node, dir) in nodes.iter().zip(&dirs) {
        let own = dir
            .path()
            .canonicalize()
            .unwrap()
            .join("static/site/index.html");
        let path = format!("/api/v2/site?path={}", own.display());
        until_served(std::slice::from_ref(node), &path, "<h1>one</h1>");
    }
    // Replaced through node 2.
    let site = crate::frontend::zip(&[("index.html", b"<h1>two</h1>"), ("css/style.css", b"p{}")]);
    let (s, b) = host_frontend(&nodes[1], &jwt, site);
    assert_eq!(s, 200, "{b}");
    until_served(&nodes, "/api/v2/site/dist/css/style.css", "p{}");
    // A replacement whose server does not compile changes nothing anywhere, even after another
    // change makes every node bring the service in line again.
    use reqwest::blocking::multipart::{Form, Part};
    let broken = Form::new()
        .part(
            "server",
            Part::text("export default {").file_name("server.js"),
        )
        .part(
            "static",
            Part::bytes(crate::frontend::zip(&[("css/style.css", b"broken{}")]))
                .file_name("static.zip"),
        )
        .text("serviceName", "site");
    let (s, b) = call(
        client()
            .post(nodes[0].url("/admin-api/v2/host-frontend"))
            .bearer_auth(&jwt)
            .multipart(broken),
    );
    assert_eq!(s, 400, "{b}");
    let (s, b) = call(
        admin(&nodes[2], Method::PUT, "/admin-api/v2/services/site", &jwt)
            .json(&json!({"description": "touched"})),
    );
    assert_eq!(s, 200, "{b}");
    std::thread::sleep(Duration::from_millis(500));
    until_served(&nodes, "/api/v2/site/dist/css/style.css", "p{}");
    // Deleted through node 3: gone everywhere, files included.
    let (s, b) = call(admin(
        &nodes[2],
        Method::DELETE,
        "/admin-api/v2/services/site",
        &jwt,
    ));
    assert_eq!(s, 200, "{b}");
    let all: Vec<&Kiln> = nodes.iter().collect();
    until_all(&all, "site", (404, ""), Duration::from_secs(1));
    let started = Instant::now();
    while dirs.iter().any(|d| d.path().join("static/site").exists()) {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "assets left behind"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_key_written_through_one_node_is_read_on_every_node() {
    let pg = Postgres::start();
    let (_dirs, nodes) = nodes(&pg, 2);
    let jwt = cluster_token(&pg, "admin");
    let code = "export default { async fetch(request, env) { \
        const url = new URL(request.url); \
        if (request.method === 'PUT') { await env.KV.put('k', await request.text()); return new Response('ok'); } \
        if (url.pathname === '/inc') return new Response(String(await env.KV.increment('n'))); \
        return new Response(await env.KV.get('k') ?? 'none'); } };";
    let (s, b) = call(
        admin(&nodes[0], Method::POST, "/admin-api/v2/services", &jwt)
            .json(&json!({"name": "shared", "code": code, "permissions": {"kv": ["default"]}})),
    );
    assert_eq!(s, 201, "{b}");
    let all: Vec<&Kiln> = nodes.iter().collect();
    until_all(&all, "shared", (200, "none"), Duration::from_secs(10));
    let put = client()
        .put(nodes[0].url("/api/v2/shared"))
        .body("from node 1")
        .send()
        .unwrap();
    assert_eq!(put.text().unwrap(), "ok");
    // Strongly consistent: the very next read on the other node sees it.
    assert_eq!(get(&nodes[1], "shared"), (200, "from node 1".to_string()));
    // Increments from both nodes at once lose nothing.
    let handles: Vec<_> = nodes
        .iter()
        .map(|node| {
            let url = node.url("/api/v2/shared/inc");
            std::thread::spawn(move || {
                for _ in 0..20 {
                    let response = client().get(&url).send().unwrap();
                    assert_eq!(response.status(), 200);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let last = client()
        .get(nodes[1].url("/api/v2/shared/inc"))
        .send()
        .unwrap();
    assert_eq!(last.text().unwrap(), "41");
}

#[test]
fn a_rotated_secret_is_seen_by_the_next_request_on_every_node() {
    let pg = Postgres::start();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let keyed = |data: &tempfile::TempDir| {
        Kiln::start(
            data.path(),
            &["--database", &pg.url(), "--promote-rps", "0"],
            &[("KILN_SECRETS_KEY", crate::support::SECRETS_KEY)],
        )
        .unwrap_or_else(|log| panic!("the node did not start:\n{log}"))
    };
    let nodes: Vec<Kiln> = dirs.iter().map(keyed).collect();
    let all: Vec<&Kiln> = nodes.iter().collect();
    let jwt = cluster_token(&pg, "admin");
    create(
        &nodes[0],
        &jwt,
        "keyed",
        "export default { fetch(request, env) { return new Response(env.API_KEY ?? 'unset'); } };",
    );
    until_all(&all, "keyed", (200, "unset"), Duration::from_secs(10));
    let set = |node: &Kiln, value: &str| {
        let (s, b) = call(
            admin(
                node,
                Method::PUT,
                "/admin-api/v2/services/keyed/vars/API_KEY",
                &jwt,
            )
            .json(&json!({"value": value, "secret": true})),
        );
        assert_eq!(s, 200, "{b}");
    };
    // Set through node 1, rotated through node 2: within a second both serve the new value,
    // and no request in between fails.
    let mut before = "unset";
    for (through, value) in [(0, "first-secret"), (1, "rotated-secret")] {
        set(&nodes[through], value);
        let started = Instant::now();
        loop {
            let answers: Vec<_> = all.iter().map(|n| get(n, "keyed")).collect();
            for (status, body) in &answers {
                assert!(
                    *status == 200 && (body == before || body == value),
                    "while '{before}' became '{value}' a node answered {status} {body:?}"
                );
            }
            if answers.iter().all(|(_, body)| body == value) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "after a second the nodes answer {answers:?}"
            );
        }
        eprintln!(
            "'{value}' served by every node after {:?}",
            started.elapsed()
        );
        before = value;
    }
    // A node without the cluster's key cannot set a secret, and says why.
    let lone = tempfile::tempdir().unwrap();
    let keyless = node(&pg, &lone);
    let (s, b) = call(
        admin(
            &keyless,
            Method::PUT,
            "/admin-api/v2/services/keyed/vars/OTHER",
            &jwt,
        )
        .json(&json!({"value": "x", "secret": true})),
    );
    assert_eq!(s, 409, "{b}");
    assert!(b.to_string().contains("KILN_SECRETS_KEY"), "{b}");
}

#[test]
fn each_tick_of_a_schedule_runs_once_across_the_nodes() {
    let pg = Postgres::start();
    let (_dirs, nodes) = nodes(&pg, 3);
    let jwt = cluster_token(&pg, "admin");
    let code = "export default async function (input, env) { \
        if (input.cron) return { n: await env.KV.increment(String(input.scheduledTime)) }; \
        const seen = (await env.KV.list()).keys.map((k) => k.name); \
        const counts = {}; for (const k of seen) counts[k] = Number(await env.KV.get(k)); \
        return counts; }";
    let (s, b) = call(
        admin(&nodes[0], Method::POST, "/admin-api/v2/functions", &jwt).json(&json!({
            "name": "tick", "code": code, "schedule": ["*/1 * * * * *"],
            "permissions": {"kv": ["default"]}})),
    );
    assert_eq!(s, 201, "{b}");
    std::thread::sleep(Duration::from_secs(6));
    let (s, b) = call(
        admin(&nodes[2], Method::PUT, "/admin-api/v2/functions/tick", &jwt)
            .json(&json!({"schedule": []})),
    );
    assert_eq!(s, 200, "{b}");
    std::thread::sleep(Duration::from_millis(1500));
    let (s, counts) = call(
        client()
            .post(nodes[1].url("/functions/v2/tick"))
            .json(&json!({})),
    );
    assert_eq!(s, 200, "{counts}");
    let counts = counts.as_object().unwrap().clone();
    // Every node saw every tick; each was run by one of them, once.
    assert!(counts.len() >= 4, "{counts:?}");
    assert!(
        counts.values().all(|n| n == 1),
        "a tick ran twice: {counts:?}"
    );
    let (s, runs) = call(admin(
        &nodes[1],
        Method::GET,
        "/admin-api/v2/functions/tick/runs",
        &jwt,
    ));
    assert_eq!(s, 200, "{runs}");
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), counts.len(), "{runs:?} {counts:?}");
    assert!(runs.iter().all(|r| r["status"] == "ok"), "{runs:?}");
    let by: std::collections::BTreeSet<&str> =
        runs.iter().map(|r| r["node"].as_str().unwrap()).collect();
    assert!(!by.contains("local"), "{by:?}");
}
