//! Compiled artifacts are cached by content: a restart serves without recompiling.

use crate::support::{Kiln, get_json, js_app};

#[test]
fn a_restart_serves_from_the_cache_without_recompiling() {
    let app = js_app("export default { fetch() { return Response.json({ cached: true }); } };");
    let data = tempfile::tempdir().unwrap();
    {
        let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
        assert_eq!(get_json(&kiln.url("/")).1["cached"], true);
        kiln.wait_for_snapshot();
        assert!(
            kiln.log().contains("compiled to bytecode"),
            "{}",
            kiln.log()
        );
    }
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let hit = "cache hit: serving the precompiled snapshot, nothing recompiled";
    assert!(
        kiln.wait_for_log(hit, std::time::Duration::from_secs(10)),
        "{}",
        kiln.log()
    );
    let log = kiln.log();
    assert!(
        !log.contains("compiled to bytecode"),
        "recompiled after a restart:\n{log}"
    );
    assert!(
        !log.contains("built the shared JS engine"),
        "engine rebuilt after a restart:\n{log}"
    );
    assert_eq!(get_json(&kiln.url("/")).1["cached"], true);
}

#[test]
fn the_snapshot_replaces_the_bytecode_tier_and_serves_the_same_app() {
    let app = js_app(
        "const started = 'module evaluated'; export default { fetch() { return new Response(started); } };",
    );
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let first = crate::support::client()
        .get(kiln.url("/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    kiln.wait_for_snapshot();
    let after = crate::support::client()
        .get(kiln.url("/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(first, "module evaluated");
    assert_eq!(after, "module evaluated");
}
