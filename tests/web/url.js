// URL: file: URLs (parsing, relative resolution, every setter), as the URL Standard has them today.
async function probe() {
  const out = {};
  const t = (name, f) => { try { out[name] = f(); } catch (e) { out[name] = "throw " + e.name; } };
  const u = (s, b) => new URL(s, b);
  const all = (x) => [x.href, x.protocol, x.host, x.hostname, x.port, x.pathname, x.search, x.hash, x.origin, x.username];
  t("basic", () => all(u("file:///C:/a/b?q=1#f")));
  t("host", () => { const x = u("file://h/a"); x.host = "other"; return all(x); });
  t("host-localhost", () => { const x = u("file://h/a"); x.hostname = "LOCALHOST"; return all(x); });
  t("host-bad", () => { const x = u("file://h/a"); x.host = "a b"; return all(x); });
  t("host-empty", () => { const x = u("file://h/a"); x.host = ""; return all(x); });
  t("path", () => { const x = u("file://h/a"); x.pathname = "/x y/../z?#"; return all(x); });
  t("path2", () => { const x = u("file:///a"); x.pathname = "C|/d"; return all(x); });
  t("search", () => { const x = u("file:///a"); x.search = "?a b#c"; return [all(x), [...x.searchParams]]; });
  t("search-empty", () => { const x = u("file:///a?z"); x.search = ""; return all(x); });
  t("search-q", () => { const x = u("file:///a?z"); x.search = "?"; return all(x); });
  t("hash", () => { const x = u("file:///a"); x.hash = "#x `y"; return all(x); });
  t("hash-empty", () => { const x = u("file:///a#z"); x.hash = ""; return all(x); });
  t("params", () => { const x = u("file:///a?z=1"); x.searchParams.append("k", "v w"); return all(x); });
  t("proto-http", () => { const x = u("file://h/a?q#f"); x.protocol = "http"; return all(x); });
  t("proto-http-nohost", () => { const x = u("file:///a"); x.protocol = "https:"; return all(x); });
  t("http-to-file", () => { const x = u("http://h/a//b"); x.protocol = "file"; return all(x); });
  t("http-to-file-port", () => { const x = u("http://h:81/a"); x.protocol = "file"; return all(x); });
  t("user", () => { const x = u("file://h/a"); x.username = "u"; x.password = "p"; x.port = "8"; return all(x); });
  t("rel", () => all(u("../../x", "file://h/C:/a/b")));
  t("rel2", () => all(u("?q", "file://h/a/b#f")));
  t("http-base-file", () => all(u("http://x/y", "file:///a")));
  t("href", () => { const x = u("http://a/"); x.href = "file://h////x"; return all(x); });
  t("canParse", () => [URL.canParse("file:"), URL.canParse("file://a b/"), URL.parse("x", "file:///d/e")?.href]);
  t("json", () => JSON.stringify({ u: u("file:////x") }));
  t("str", () => String(u("FILE:\\\\\\\\server\\share")));
  t("ipv4", () => all(u("file://0x7f.1/x")));
  t("idn", () => all(u("file://EXAMPLE.com/x")));
  t("pct-host", () => all(u("file://%41/x")));
  t("unicode", () => all(u("file:///ü/%zz/é?é#é")));
  return out;
}
