// MessageChannel, MessagePort, MessageEvent (not their toStringTag: Node 20 gives none).
async function probe() {
  const out = {};
  const { port1, port2 } = new MessageChannel();
  const got = [];
  const done = new Promise((resolve) => {
    port2.onmessage = (e) => {
      got.push([JSON.stringify(e.data), e instanceof MessageEvent, e.type, e.target === port2]);
      if (got.length === 3) resolve();
    };
  });
  const value = { a: [1, 2], d: new Date(0), m: new Map([["k", 1]]) };
  port1.postMessage(value);
  value.a.push(3);
  port1.postMessage("two");
  port1.postMessage(null);
  out.sync = got.length;
  await done;
  out.got = got;
  const order = [];
  const answered = new Promise((resolve) => {
    port1.onmessage = (e) => { order.push(`message ${e.data}`); resolve(); };
  });
  port2.postMessage("m");
  Promise.resolve().then(() => order.push("microtask"));
  order.push("sync");
  await answered;
  await new Promise((r) => setTimeout(r, 5));
  out.order = order;
  const c = new MessageChannel();
  const seen = [];
  c.port2.onmessage = (e) => seen.push(e.data);
  try { c.port1.postMessage(() => 1); out.uncloneable = "no error"; } catch (e) { out.uncloneable = e.name; }
  c.port1.postMessage("before close");
  await new Promise((r) => setTimeout(r, 10));
  c.port1.close();
  c.port1.postMessage("after close");
  await new Promise((r) => setTimeout(r, 10));
  out.seen = seen;
  out.handlers = [typeof c.port2.onmessage, port1.onmessageerror];
  try { new MessagePort(); out.illegal = "no error"; } catch (e) { out.illegal = e.constructor.name; }
  const ev = new MessageEvent("message", { data: { x: 1 } });
  out.event = [ev.data, ev.origin, ev.lastEventId, ev.source, ev.ports.length, ev instanceof Event];
  port1.close();
  port2.close();
  c.port2.close();
  return out;
}
