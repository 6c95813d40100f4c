// Loads the larger Web APIs on first use: their globals are accessors that evaluate the
// script that defines them (which replaces the accessors). A snapshot then holds only what an
// app used, so an app that never touches streams or Web Crypto does not copy them into every
// fresh instance. `internals.load(group)` is also how Rust reaches a group's helpers.
(function (internals) {
  "use strict";
  const groups = {
    streams: {
      deps: [],
      globals: [
        "ReadableStream", "ReadableStreamDefaultReader", "ReadableStreamBYOBReader", "ReadableStreamDefaultController",
        "ReadableByteStreamController", "ReadableStreamBYOBRequest", "WritableStream", "WritableStreamDefaultWriter",
        "WritableStreamDefaultController", "TransformStream", "TransformStreamDefaultController",
        "ByteLengthQueuingStrategy", "CountQueuingStrategy",
      ],
    },
    blob: { deps: [], globals: ["Blob", "File", "FormData"] },
    body: { deps: ["streams", "blob"], globals: [] },
    crypto: { deps: [], globals: ["CryptoKey", "SubtleCrypto"] },
    clone: { deps: [], globals: ["structuredClone"] },
    kv: { deps: [], globals: [] },
    services: { deps: [], globals: [] },
    messaging: { deps: [], globals: ["MessageChannel", "MessagePort", "MessageEvent"] },
    compression: { deps: ["streams"], globals: ["CompressionStream", "DecompressionStream"] },
  };
  const loaded = new Set();
  const load = (group) => {
    if (loaded.has(group)) return;
    loaded.add(group);
    for (const dep of groups[group].deps) load(dep);
    internals.native.evaluate(group);
  };
  internals.load = load;
  const define = (target, name, group) => {
    Object.defineProperty(target, name, {
      get() {
        load(group);
        return target[name];
      },
      set(value) {
        Object.defineProperty(target, name, { value, writable: true, configurable: true });
      },
      configurable: true,
      enumerable: target !== globalThis,
    });
  };
  for (const [group, { globals }] of Object.entries(groups)) {
    for (const name of globals) define(globalThis, name, group);
  }
  define(globalThis.crypto, "subtle", "crypto");
  for (const cls of [Request, Response]) {
    for (const name of ["blob", "formData"]) {
      const method = {
        [name]() {
          load("body");
          return internals.body[name].call(this);
        },
      }[name];
      Object.defineProperty(cls.prototype, name, { value: method, writable: true, configurable: true });
    }
  }
})
