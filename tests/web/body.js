// Request and Response bodies as streams: body, re-wrapping, cloning, reading in every form.
async function probe() {
  const out = {};
  const r = new Response("hello");
  const body = r.body;
  out.body = [body instanceof ReadableStream, r.body === body, r.bodyUsed, new Response(null).body, new Response().body];
  const rewrapped = new Response(r.body, r);
  out.rewrapped = [await rewrapped.text(), rewrapped.status, rewrapped.headers.get("content-type")];
  const chunks = [];
  const reader = new Response("abc").body.getReader();
  for (let c = await reader.read(); !c.done; c = await reader.read()) chunks.push(Array.from(c.value));
  out.chunks = chunks;
  const streamed = new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("str")); c.enqueue(new TextEncoder().encode("eam")); c.close(); } }));
  out.fromStream = [streamed.headers.get("content-type"), streamed.bodyUsed, await streamed.text(), streamed.bodyUsed];
  try { await streamed.text(); out.reread = "no error"; } catch (e) { out.reread = e.name; }
  const original = new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([1, 2])); c.close(); } }));
  const copy = original.clone();
  out.clone = [Array.from(await original.bytes()), Array.from(new Uint8Array(await copy.arrayBuffer()))];
  const json = new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('{"a":')); c.enqueue(new TextEncoder().encode("[1,2]}")); c.close(); } }));
  out.json = await json.json();
  const req = new Request("http://x/p", { method: "PUT", body: "payload" });
  const rb = req.body;
  out.request = [rb instanceof ReadableStream, await new Response(rb).text(), req.bodyUsed, new Request("http://x/").body];
  const locked = new Response("x");
  locked.body.getReader();
  try { await locked.text(); out.lockedRead = "no error"; } catch (e) { out.lockedRead = e.name; }
  const strings = new Response(new ReadableStream({ start(c) { c.enqueue("not bytes"); c.close(); } }));
  try { await strings.text(); out.stringChunk = "no error"; } catch (e) { out.stringChunk = e.name; }
  try { new Response("x", { status: 204 }); out.nullBody = "no error"; } catch (e) { out.nullBody = e.name; }
  const consumed = new Response("gone");
  await consumed.text();
  out.afterRead = [consumed.bodyUsed, consumed.body === null];
  return out;
}
