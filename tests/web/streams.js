// Streams: readers, tee, transforms, pipes with abort, byte streams and BYOB reads, queuing strategies.
async function probe() {
  const out = {};
  const log = [];
  const rs = new ReadableStream({ start(c) { c.enqueue("a"); c.enqueue("b"); }, pull(c) { log.push("pull"); if (log.length > 3) c.close(); else c.enqueue("x" + log.length); } });
  const chunks = [];
  for await (const ch of rs) chunks.push(ch);
  out.iter = [chunks, log];
  const [t1, t2] = new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2); c.close(); } }).tee();
  const r1 = []; for await (const x of t1) r1.push(x);
  const r2 = []; for await (const x of t2) r2.push(x);
  out.tee = [r1, r2];
  const ts = new TransformStream({ transform(chunk, c) { c.enqueue(chunk.toUpperCase()); }, flush(c) { c.enqueue("END"); } });
  const piped = new ReadableStream({ start(c) { c.enqueue("hi"); c.enqueue("yo"); c.close(); } }).pipeThrough(ts);
  const r3 = []; for await (const x of piped) r3.push(x);
  out.transform = r3;
  const written = [];
  const ws = new WritableStream({ write(ch) { written.push(ch); }, close() { written.push("closed"); } });
  await new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2); c.close(); } }).pipeTo(ws);
  out.written = written;
  const errs = new ReadableStream({ start(c) { c.error(new TypeError("boom")); } });
  try { await errs.getReader().read(); } catch (e) { out.err = [e.name, e.message]; }
  const bs = new ReadableStream({ type: "bytes", start(c) { c.enqueue(new Uint8Array([1, 2, 3, 4, 5])); c.close(); } });
  const br = bs.getReader({ mode: "byob" });
  const v1 = await br.read(new Uint8Array(2));
  const v2 = await br.read(new Uint8Array(10));
  const v3 = await br.read(new Uint8Array(10));
  out.byob = [Array.from(v1.value), v1.done, Array.from(v2.value), v2.done, v3.done, v3.value && v3.value.length];
  const lockedRs = new ReadableStream(); lockedRs.getReader();
  try { lockedRs.getReader(); out.locked = "no error"; } catch (e) { out.locked = e instanceof TypeError; }
  out.tags = [String(new ReadableStream()), String(new WritableStream()), String(new TransformStream())];
  const w2 = new WritableStream({}, { highWaterMark: 2 });
  const wr = w2.getWriter();
  out.desired = [wr.desiredSize]; wr.write("a"); out.desired.push(wr.desiredSize); wr.write("b"); out.desired.push(wr.desiredSize);
  await wr.close(); out.desired.push(wr.desiredSize);
  const ac = new AbortController();
  const slow = new ReadableStream({ pull(c) { return new Promise((r) => setTimeout(() => { try { c.enqueue("t"); } catch {} r(); }, 2)); } });
  const sink = [];
  const p = slow.pipeTo(new WritableStream({ write(c) { sink.push(c); if (sink.length === 3) ac.abort(new Error("stop")); } }), { signal: ac.signal });
  try { await p; out.aborted = "no error"; } catch (e) { out.aborted = [e.message, sink.length >= 3]; }
  const cancelled = [];
  const cs = new ReadableStream({ cancel(r) { cancelled.push(r); } });
  await cs.cancel("why"); out.cancel = cancelled;
  const from = ReadableStream.from((async function* () { yield 1; yield 2; })());
  const fr = []; for await (const x of from) fr.push(x); out.from = fr;
  const cq = new CountQueuingStrategy({ highWaterMark: 3 }); const bq = new ByteLengthQueuingStrategy({ highWaterMark: 16 });
  out.strategies = [cq.highWaterMark, cq.size("x"), bq.highWaterMark, bq.size(new Uint8Array(7))];
  const brk = new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2); c.enqueue(3); }, cancel() { out.breakCancelled = true; } });
  for await (const x of brk) { if (x === 2) break; }
  const err2 = new WritableStream({ write() { throw new RangeError("no"); } });
  const w3 = err2.getWriter();
  try { await w3.write(1); } catch (e) { out.writeErr = e.name; }
  try { await w3.closed; } catch (e) { out.closedErr = e.name; }
  const order = [];
  const tracked = new ReadableStream({
    start() { order.push("start"); },
    pull(c) { order.push("pull " + c.desiredSize); if (order.length > 4) c.close(); else c.enqueue(order.length); },
  }, { highWaterMark: 2 });
  await new Promise((r) => setTimeout(r, 1));
  const reader = tracked.getReader();
  while (!(await reader.read()).done);
  out.pullOrder = order;
  const { readable, writable } = new TransformStream();
  const writer = writable.getWriter();
  writer.write("one"); writer.write("two"); writer.close();
  const tr = []; for await (const x of readable) tr.push(x);
  out.identity = tr;
  return out;
}
