//! The Web APIs given to JavaScript behave as on the web platform (values checked against what
//! Node 20 and Deno print for the same code).

use serde_json::json;

use crate::support::{Kiln, get_json, js_app};

const PROBE: &str = r#"
export default {
  async fetch() {
    const out = {};
    const u = new URL("https://user:pw@example.com:8080/a/b/../c?x=1&y=2#frag");
    out.url = [u.href, u.origin, u.protocol, u.host, u.hostname, u.port, u.pathname, u.search, u.hash, u.username];
    u.searchParams.append("z", "a b");
    out.afterAppend = u.href;
    u.search = "?q=ünï";
    out.afterSearch = [u.href, u.searchParams.get("q")];
    out.relative = new URL("../d?k", "http://h/a/b/c").href;
    try { new URL("not a url"); out.invalid = "no error"; } catch (e) { out.invalid = e instanceof TypeError; }
    out.canParse = [URL.canParse("http://x"), URL.canParse("nope")];
    out.toJSON = JSON.stringify({ u: new URL("http://h/p") });
    const p = new URLSearchParams("a=1&b=2&a=3");
    out.params = [p.get("a"), p.getAll("a"), p.has("b"), p.get("zz"), p.size, p.toString()];
    p.sort(); p.delete("b");
    out.sorted = p.toString();
    out.paramsFromObject = new URLSearchParams({ x: "1", y: "two words" }).toString();
    out.paramsIter = [...new URLSearchParams("?k=v&k2=v2")];
    const h = new Headers({ "Content-Type": "text/plain", "X-A": "1" });
    h.append("x-a", "2");
    h.set("X-B", "3");
    out.headers = [h.get("x-a"), h.get("content-type"), h.has("X-B"), [...h], h.get("nope")];
    h.delete("x-a");
    out.headersAfterDelete = [...h.keys()];
    try { h.set("bad name", "x"); out.badHeader = "no error"; } catch (e) { out.badHeader = e instanceof TypeError; }
    const bytes = new TextEncoder().encode("héllo");
    out.encoded = Array.from(bytes);
    out.decoded = new TextDecoder().decode(bytes);
    const r = new Response("body text", { status: 404, headers: { x: "y" } });
    out.response = [r.status, r.ok, r.headers.get("x"), r.headers.get("content-type"), r.bodyUsed];
    const rj = Response.json({ a: 1 });
    out.responseJson = [rj.headers.get("content-type"), rj.status];
    const bad = [fetch("not a url"), fetch("http://h/", { method: "bad method" }), fetch("http://h/", { headers: { "bad name": "x" } })];
    out.fetchRejects = await Promise.all(bad.map((p) => p instanceof Promise ? p.then(() => "resolved", (e) => e instanceof TypeError) : "threw"));
    const re = Response.error();
    out.responseError = [re.status, re.type, re.ok, re.body, [...re.headers].length, re.statusText, new Response("x").type];
    const req = new Request("https://example.com/p?q=1", { method: "post", headers: { "x-r": "1" }, body: "data" });
    out.request = [req.method, req.url, req.headers.get("x-r")];
    const [t, rt, j] = await Promise.all([r.text(), req.text(), rj.json()]);
    out.texts = [t, rt, j, r.bodyUsed];
    try { await r.text(); out.reread = "no error"; } catch (e) { out.reread = e instanceof TypeError; }
    try { new Response("x", { status: 99 }); out.badStatus = "no error"; } catch (e) { out.badStatus = e instanceof RangeError; }
    out.base64 = [btoa("hello"), atob("aGVsbG8="), atob(" aGVs bG8 "), btoa(atob("/+8="))];
    try { btoa("✓"); out.btoaError = "no error"; } catch (e) { out.btoaError = e.name; }
    try { atob("a"); out.atobError = "no error"; } catch (e) { out.atobError = e.name; }
    const uuid = crypto.randomUUID();
    out.uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid) && uuid !== crypto.randomUUID();
    const random = crypto.getRandomValues(new Uint32Array(8));
    out.random = random.length === 8 && random.some((v) => v !== 0) && random instanceof Uint32Array;
    const randomError = (view) => { try { crypto.getRandomValues(view); return "no error"; } catch (e) { return [e.name, e instanceof DOMException, e.code]; } };
    out.randomErrors = [randomError(new Float32Array(2)), randomError(new DataView(new ArrayBuffer(4))), randomError(new Uint8Array(65537)), randomError(new Uint32Array(16384))];
    try { crypto.getRandomValues({}); out.notAView = "no error"; } catch (e) { out.notAView = e instanceof TypeError; }
    out.tags = [String(new Headers()), String(new URLSearchParams("a=1")), String(new URL("http://h"))];
    return Response.json(out);
  },
};
"#;

#[test]
fn url_search_params_headers_text_encoding_request_and_response_follow_the_standards() {
    let app = js_app(PROBE);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let (status, out) = get_json(&kiln.url("/"));
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["url"],
        json!([
            "https://user:pw@example.com:8080/a/c?x=1&y=2#frag",
            "https://example.com:8080",
            "https:",
            "example.com:8080",
            "example.com",
            "8080",
            "/a/c",
            "?x=1&y=2",
            "#frag",
            "user"
        ])
    );
    assert_eq!(
        out["afterAppend"],
        "https://user:pw@example.com:8080/a/c?x=1&y=2&z=a+b#frag"
    );
    assert_eq!(
        out["afterSearch"],
        json!([
            "https://user:pw@example.com:8080/a/c?q=%C3%BCn%C3%AF#frag",
            "ünï"
        ])
    );
    assert_eq!(out["relative"], "http://h/a/d?k");
    assert_eq!(out["invalid"], true);
    assert_eq!(out["canParse"], json!([true, false]));
    assert_eq!(out["toJSON"], r#"{"u":"http://h/p"}"#);
    assert_eq!(
        out["params"],
        json!(["1", ["1", "3"], true, null, 3, "a=1&b=2&a=3"])
    );
    assert_eq!(out["sorted"], "a=1&a=3");
    assert_eq!(out["paramsFromObject"], "x=1&y=two+words");
    assert_eq!(out["paramsIter"], json!([["k", "v"], ["k2", "v2"]]));
    assert_eq!(
        out["headers"],
        json!([
            "1, 2",
            "text/plain",
            true,
            [
                ["content-type", "text/plain"],
                ["x-a", "1, 2"],
                ["x-b", "3"]
            ],
            null
        ])
    );
    assert_eq!(out["headersAfterDelete"], json!(["content-type", "x-b"]));
    assert_eq!(out["badHeader"], true);
    assert_eq!(out["encoded"], json!([104, 195, 169, 108, 108, 111]));
    assert_eq!(out["decoded"], "héllo");
    assert_eq!(
        out["response"],
        json!([404, false, "y", "text/plain;charset=UTF-8", false])
    );
    assert_eq!(out["responseJson"], json!(["application/json", 200]));
    assert_eq!(
        out["request"],
        json!(["POST", "https://example.com/p?q=1", "1"])
    );
    assert_eq!(out["texts"], json!(["body text", "data", {"a": 1}, true]));
    assert_eq!(out["reread"], true);
    assert_eq!(out["badStatus"], true);
    assert_eq!(out["base64"], json!(["aGVsbG8=", "hello", "hello", "/+8="]));
    assert_eq!(out["btoaError"], "InvalidCharacterError");
    assert_eq!(out["atobError"], "InvalidCharacterError");
    assert_eq!(out["uuid"], true, "randomUUID gives distinct v4 UUIDs");
    assert_eq!(out["random"], true);
    assert_eq!(
        out["randomErrors"],
        json!([
            ["TypeMismatchError", true, 17],
            ["TypeMismatchError", true, 17],
            ["QuotaExceededError", true, 22],
            "no error"
        ])
    );
    assert_eq!(out["notAView"], true);
    assert_eq!(out["fetchRejects"], json!([true, true, true]));
    // What Node 20 answers too.
    assert_eq!(
        out["responseError"],
        json!([0, "error", false, null, 0, "", "default"])
    );
    assert_eq!(out["tags"], json!(["[object Headers]", "a=1", "http://h/"]));
}

/// Where Node 20 departs from the Compression Standard, Kiln follows it (the rest is compared
/// with Node by `tests/web/compression.js`).
const COMPRESSION: &str = r#"
const through = async (chunks, transform) => {
  const source = new ReadableStream({ start(c) { for (const x of chunks) c.enqueue(x); c.close(); } });
  return new Uint8Array(await new Response(source.pipeThrough(transform)).arrayBuffer());
};
const failure = (promise) => promise.then(() => "no error", (e) => `${e.name}: ${e.message}`);
export default {
  async fetch() {
    const zlib = await through([new TextEncoder().encode("kiln ".repeat(100))], new CompressionStream("deflate"));
    return Response.json({
      trailing: await failure(through([zlib, new Uint8Array([1])], new DecompressionStream("deflate"))),
      truncated: await failure(through([zlib.subarray(0, 5)], new DecompressionStream("deflate"))),
      corrupt: await failure(through([new Uint8Array(16).fill(0xff)], new DecompressionStream("gzip"))),
      notBytes: await failure(through(["text"], new CompressionStream("gzip"))),
      format: await failure((async () => new CompressionStream("br"))()),
    });
  },
};
"#;

#[test]
fn compression_streams_error_as_the_standard_says() {
    let app = js_app(COMPRESSION);
    let data = tempfile::tempdir().unwrap();
    let kiln = Kiln::serve_app(app.path(), data.path(), &[]);
    let (status, out) = get_json(&kiln.url("/"));
    assert_eq!(status, 200, "{out}");
    for (case, message) in [
        ("trailing", "data after the end"),
        ("truncated", "ends too early"),
        ("corrupt", "not gzip"),
        ("notBytes", "not a BufferSource"),
        ("format", "Unsupported compression format"),
    ] {
        let got = out[case].as_str().unwrap();
        assert!(
            got.starts_with("TypeError: ") && got.contains(message),
            "{case}: {got}"
        );
    }
}
