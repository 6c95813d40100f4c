// Key-value stores in the Workers shape: `env.KV.get/getWithMetadata/put/delete/list`, plus
// `increment` and `compareAndSwap`. Every call is a request to `http://kv.kiln.internal/`, which
// the host answers from the app's granted stores without leaving the process (made by
// `internals.native.kv`, not `fetch`: an app's own `fetch` never sees it). Limits are
// RangeErrors (key over 512 bytes, value over 25 MiB, quota full); a store the app was not
// granted, a bad argument or `increment` of a non-number is a TypeError.
(function (internals) {
  "use strict";
  const native = internals.native.kv;
  // get, put without options, delete and increment go straight through `wasi:keyvalue`; when
  // that refuses (nothing written), the request above is made to learn why.
  const direct = internals.native.kvDirect;
  const encode = encodeURIComponent;
  const TYPES = ["text", "json", "arrayBuffer", "stream"];
  const utf8 = new TextEncoder();
  const decoder = new TextDecoder();

  // One request to the host's store, answered at once: `{ status, headers, bytes }`.
  function request(method, path, headers = {}, body) {
    const entries = Object.entries(headers);
    const [status, pairs, bytes] = body === undefined ? native(method, path, entries) : native(method, path, entries, body);
    return { status, headers: new Map(pairs), bytes, ok: status >= 200 && status < 300 };
  }

  function fail(response) {
    let message = `the key-value store answered ${response.status}`;
    try {
      message = JSON.parse(decoder.decode(response.bytes)).message ?? message;
    } catch {}
    if (response.status === 413 || response.status === 507) throw new RangeError(message);
    if (response.status >= 400 && response.status < 500) throw new TypeError(message);
    throw new Error(message);
  }

  function typeOf(options) {
    const type = typeof options === "string" ? options : (options?.type ?? "text");
    if (!TYPES.includes(type)) {
      throw new TypeError(`unknown type '${type}': use "text", "json", "arrayBuffer" or "stream"`);
    }
    return type;
  }

  function read(response, type) {
    const bytes = response.bytes;
    switch (type) {
      case "json":
        return JSON.parse(decoder.decode(bytes));
      case "arrayBuffer":
        return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      case "stream":
        return new Response(bytes).body;
      default:
        return decoder.decode(bytes);
    }
  }

  function keyOf(key) {
    key = String(key);
    if (key === "") throw new TypeError("a key must not be empty");
    return key;
  }

  // The bytes of a value to store.
  async function body(value) {
    if (typeof value === "string") return utf8.encode(value);
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
    if (value instanceof ReadableStream) return new Uint8Array(await new Response(value).arrayBuffer());
    throw new TypeError("a value must be a string, an ArrayBuffer, an ArrayBufferView or a ReadableStream");
  }

  function bytesOf(value) {
    if (typeof value === "string") return new TextEncoder().encode(value);
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    throw new TypeError("compareAndSwap compares strings, ArrayBuffers or ArrayBufferViews");
  }

  async function etagOf(value) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytesOf(value)));
    return `"${Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")}"`;
  }

  function writeHeaders(options) {
    const headers = {};
    if (options == null) return headers;
    if (typeof options !== "object") throw new TypeError("put options must be an object");
    if (options.expiration !== undefined) headers["kiln-kv-expiration"] = String(Math.floor(Number(options.expiration)));
    if (options.expirationTtl !== undefined) headers["kiln-kv-expiration-ttl"] = String(Math.floor(Number(options.expirationTtl)));
    if (options.metadata !== undefined && options.metadata !== null) {
      headers["kiln-kv-metadata"] = encode(JSON.stringify(options.metadata));
    }
    return headers;
  }

  function metadataOf(response) {
    const text = response.headers.get("kiln-kv-metadata");
    return text === undefined ? null : JSON.parse(decodeURIComponent(text));
  }

  class KVNamespace {
    #store;

    constructor(store) {
      this.#store = store;
    }

    #path(key) {
      return `/${this.#store}/${encode(keyOf(key))}`;
    }

    #one(key) {
      const response = request("GET", this.#path(key));
      if (response.status === 404) return null;
      if (!response.ok) fail(response);
      return response;
    }

    /** The value of `key` (or a Map of values for an array of keys), null when there is none. */
    async get(key, options) {
      const type = typeOf(options);
      if (Array.isArray(key)) {
        const values = new Map();
        for (const one of key) values.set(one, await this.get(one, type));
        return values;
      }
      const bytes = direct.get(this.#store, keyOf(key));
      if (bytes === null) return null;
      if (bytes !== undefined) return read({ bytes }, type);
      const response = this.#one(key);
      return response === null ? null : read(response, type);
    }

    /** `{ value, metadata, cacheStatus }`; value and metadata are null when there is none. */
    async getWithMetadata(key, options) {
      const type = typeOf(options);
      if (Array.isArray(key)) {
        const values = new Map();
        for (const one of key) values.set(one, await this.getWithMetadata(one, type));
        return values;
      }
      const response = this.#one(key);
      if (response === null) return { value: null, metadata: null, cacheStatus: null };
      const metadata = metadataOf(response);
      return { value: await read(response, type), metadata, cacheStatus: null };
    }

    /** Stores `value` under `key`, with `{ expiration, expirationTtl, metadata }`. */
    async put(key, value, options) {
      const headers = writeHeaders(options);
      const bytes = await body(value);
      if (options == null && direct.set(this.#store, keyOf(key), bytes)) return;
      const response = request("PUT", this.#path(key), headers, bytes);
      if (!response.ok) fail(response);
    }

    /** Removes `key`. */
    async delete(key) {
      if (direct.delete(this.#store, keyOf(key))) return;
      const response = request("DELETE", this.#path(key));
      if (!response.ok) fail(response);
    }

    /** `{ keys: [{ name, expiration?, metadata? }], list_complete, cursor? }`, in key order. */
    async list(options = {}) {
      const query = new URLSearchParams();
      if (options.prefix != null) query.set("prefix", String(options.prefix));
      if (options.limit != null) query.set("limit", String(options.limit));
      if (options.cursor != null) query.set("cursor", String(options.cursor));
      const response = request("GET", `/${this.#store}?${query}`);
      if (!response.ok) fail(response);
      const page = read(response, "json");
      page.cacheStatus = null;
      return page;
    }

    /** Adds `delta` (default 1) to the integer stored under `key` (0 when none), atomically. */
    async increment(key, delta = 1) {
      if (!Number.isSafeInteger(delta)) throw new TypeError("increment takes a safe integer");
      if (delta >= 0) {
        const next = direct.increment(this.#store, keyOf(key), delta);
        if (next !== undefined) return next;
      }
      const response = request("POST", `${this.#path(key)}?increment=${delta}`);
      if (!response.ok) fail(response);
      return Number(read(response, "text"));
    }

    /**
     * Stores `value` only if `key` now holds exactly `expected` (null: only if it holds nothing);
     * whether it did.
     */
    async compareAndSwap(key, expected, value, options) {
      const headers = writeHeaders(options);
      if (expected === null || expected === undefined) headers["if-none-match"] = "*";
      else headers["if-match"] = await etagOf(expected);
      const response = request("PUT", this.#path(key), headers, await body(value));
      if (response.status === 412) return false;
      if (!response.ok) fail(response);
      return true;
    }
  }

  Object.defineProperty(KVNamespace.prototype, Symbol.toStringTag, { value: "KVNamespace" });

  internals.kv = {
    /** Adds `[binding, store]` pairs to `env`, keeping what the app set itself. */
    bind(env, pairs) {
      for (const [binding, store] of pairs) {
        if (!Object.prototype.hasOwnProperty.call(env, binding)) {
          Object.defineProperty(env, binding, { value: new KVNamespace(store), enumerable: true, configurable: true, writable: true });
        }
      }
    },
  };
})
