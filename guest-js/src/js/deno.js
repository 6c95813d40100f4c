// Deno's file API over WASI (`Deno.readFile`, `readTextFile`, `writeFile`, `writeTextFile` and
// their `Sync` forms) and `Deno.errors`. Files are reachable only inside the app's `read` and
// `write` grants (preopened directories); a denied path throws `Deno.errors.NotCapable` or
// `Deno.errors.PermissionDenied`, a missing one `Deno.errors.NotFound`.
(function (internals) {
  "use strict";
  const fs = internals.native.fs;
  const errors = {};
  for (const name of ["NotFound", "PermissionDenied", "NotCapable", "AlreadyExists", "IsADirectory", "NotADirectory", "InvalidData", "Interrupted", "BadResource"]) {
    errors[name] = { [name]: class extends Error {
      constructor(message, options) {
        super(message, options);
        this.name = name;
      }
    } }[name];
  }
  const deno = globalThis.Deno;
  Object.defineProperty(deno, "errors", { value: errors, enumerable: true });

  // Native calls throw an Error whose `name` is one of the classes above.
  function call(fn, ...args) {
    try {
      return fn(...args);
    } catch (error) {
      const cls = errors[error?.name];
      if (cls) throw new cls(error.message);
      throw error;
    }
  }
  const pathOf = (path) => (path instanceof URL ? decodeURIComponent(path.pathname) : String(path));
  const bytesOf = (data) => {
    if (data instanceof Uint8Array) return data;
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    throw new TypeError("data must be a Uint8Array");
  };
  const promise = (fn) => function (...args) {
    try {
      return Promise.resolve(fn(...args));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  const sync = {
    readFileSync: (path) => call(fs.read, pathOf(path)),
    readTextFileSync: (path) => new TextDecoder().decode(call(fs.read, pathOf(path))),
    writeFileSync: (path, data, options = undefined) => call(fs.write, pathOf(path), bytesOf(data), !!options?.append, options?.create !== false, !!options?.createNew),
    writeTextFileSync: (path, text, options = undefined) => call(fs.write, pathOf(path), new TextEncoder().encode(String(text)), !!options?.append, options?.create !== false, !!options?.createNew),
  };
  for (const [name, fn] of Object.entries(sync)) {
    Object.defineProperty(deno, name, { value: fn, enumerable: true, writable: true, configurable: true });
    const asyncName = name.slice(0, -4);
    Object.defineProperty(deno, asyncName, { value: Object.defineProperty(promise(fn), "name", { value: asyncName }), enumerable: true, writable: true, configurable: true });
  }
})
