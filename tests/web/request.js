// Request: its signal (given, inherited by a copy, or one that never aborts) and init checks.
async function probe() {
  const out = {};
  const url = "http://example.com/a";
  const plain = new Request(url);
  out.plain = [plain.signal instanceof AbortSignal, plain.signal.aborted];
  const controller = new AbortController();
  const given = new Request(url, { signal: controller.signal });
  const copy = new Request(given);
  const cloned = given.clone();
  controller.abort(new Error("stop"));
  out.given = [given.signal.aborted, given.signal.reason.message, copy.signal.aborted, cloned.signal.aborted];
  out.overridden = new Request(given, { signal: null }).signal.aborted;
  out.timeout = new Request(url, { signal: AbortSignal.abort() }).signal.reason.name;
  try { new Request(url, { signal: { aborted: false } }); out.bogus = "no error"; } catch (e) { out.bogus = e.name; }
  out.body = await new Request(url, { method: "POST", body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("streamed")); c.close(); } }), duplex: "half" }).text();
  return out;
}
