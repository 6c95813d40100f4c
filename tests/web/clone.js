// structuredClone: what survives a clone, what is shared, what cannot be cloned.
async function probe() {
  const out = {};
  const shared = { s: 1 };
  const source = { n: 1, s: "x", b: true, nil: null, arr: [1, , 3], nested: { a: shared, b: shared }, date: new Date(0), re: /a+/gi, map: new Map([[1, { k: "v" }]]), set: new Set(["a", "b"]), big: 10n, u8: new Uint8Array([1, 2, 3]), err: new RangeError("bad", { cause: "why" }) };
  source.self = source;
  const c = structuredClone(source);
  out.values = [c.n, c.s, c.b, c.nil, c.arr.length, 1 in c.arr, c.date.getTime(), c.re.source, c.re.flags, [...c.map], [...c.set], String(c.big), Array.from(c.u8)];
  out.identity = [c !== source, c.self === c, c.nested.a === c.nested.b, c.nested.a !== shared, c.date instanceof Date, c.map instanceof Map, c.u8 instanceof Uint8Array];
  out.error = [c.err instanceof RangeError, c.err.name, c.err.message, c.err.cause];
  const views = new Uint8Array([9, 8, 7, 6]);
  const pair = structuredClone({ a: views, b: new DataView(views.buffer, 1, 2) });
  out.views = [pair.a.buffer === pair.b.buffer, pair.b.byteOffset, pair.b.getUint8(0)];
  out.wrappers = [typeof structuredClone(Object(5)), structuredClone(Object("s")) instanceof String];
  const errors = {};
  for (const [name, value] of Object.entries({ fn: () => 1, sym: Symbol("s"), weak: new WeakMap(), promise: Promise.resolve(), nestedFn: { f() {} } })) {
    try { structuredClone(value); errors[name] = "no error"; } catch (e) { errors[name] = [e.name, e instanceof DOMException]; }
  }
  out.errors = errors;
  out.blob = await structuredClone(new Blob(["blob text"], { type: "text/plain" })).text();
  out.primitives = [structuredClone(undefined), structuredClone("str"), structuredClone(1.5)];
  return out;
}
