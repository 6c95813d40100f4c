//! `export const warmup`: requests a service declares are served before its snapshot is taken,
//! so fresh instances start with that work done.

use crate::support::{Kiln, client, js_app};

const PRIMED: &str = r#"
const seen = [];
let served = 0;
export default {
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/prime") seen.push(url.pathname + url.search);
    served += 1;
    return Response.json({ seen, served });
  },
};
export const warmup = ["/prime?step=1", "/prime?step=2"];
"#;

#[test]
fn warmup_requests_run_once_before_the_snapshot_and_every_fresh_instance_starts_from_there() {
    let app = js_app(PRIMED);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &["--isolation", "request"]);
    kiln.wait_for_snapshot();
    for _ in 0..3 {
        let json: serde_json::Value = client().get(kiln.url("/")).send().unwrap().json().unwrap();
        // The two warm-up requests are in the snapshot; this request is the only one after them.
        assert_eq!(
            json["seen"],
            serde_json::json!(["/prime?step=1", "/prime?step=2"]),
            "{json}"
        );
        assert_eq!(json["served"], 3, "{json}");
    }
}

#[test]
fn a_failing_warmup_request_refuses_the_deploy_and_names_the_path() {
    let data = tempfile::tempdir().unwrap();
    let app = js_app(
        r#"
export default { fetch(request) {
  if (request.url.endsWith("/boom")) throw new Error("not ready for /boom");
  return new Response("ok");
} };
export const warmup = ["/", "/boom"];
"#,
    );
    let log = Kiln::refused_app(app.path(), data.path(), &[]);
    assert!(log.contains("warm-up request GET /boom"), "{log}");
    assert!(log.contains("not ready for /boom"), "{log}");

    let app = js_app(
        r#"
export default { fetch() { return new Response("no", { status: 503 }); } };
export const warmup = ["/"];
"#,
    );
    let log = Kiln::refused_app(app.path(), data.path(), &[]);
    assert!(log.contains("warm-up request GET /: answered 503"), "{log}");

    let app = js_app(
        r#"
export default { fetch() { return new Response("ok"); } };
export const warmup = "/";
"#,
    );
    let log = Kiln::refused_app(app.path(), data.path(), &[]);
    assert!(log.contains("must be an array of paths"), "{log}");
}
