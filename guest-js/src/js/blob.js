// Blob, File and FormData (File API, XMLHttpRequest Standard), with the multipart/form-data and
// urlencoded forms that `formData()` parses and `new Request(url, { body: formData })` sends.
(function (internals) {
  "use strict";
  const tag = (cls, name) => Object.defineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true });
  const encoder = new TextEncoder();
  const kBytes = Symbol("bytes");
  const kType = Symbol("type");

  function concat(chunks, total) {
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  function normalizeType(type) {
    const text = String(type);
    return /^[\x20-\x7e]*$/.test(text) ? text.toLowerCase() : "";
  }

  class Blob {
    constructor(parts = [], options = undefined) {
      if (parts === null || typeof parts !== "object" || typeof parts[Symbol.iterator] !== "function") {
        if (parts !== undefined) throw new TypeError("Failed to construct 'Blob': The provided value cannot be converted to a sequence.");
      }
      const endings = options?.endings === undefined ? "transparent" : String(options.endings);
      if (endings !== "transparent" && endings !== "native") throw new TypeError(`Failed to construct 'Blob': The provided value '${endings}' is not a valid enum value of type EndingType.`);
      const chunks = [];
      let total = 0;
      for (const part of parts ?? []) {
        let bytes;
        if (part instanceof Blob) bytes = part[kBytes];
        else if (part instanceof ArrayBuffer) bytes = new Uint8Array(part.slice(0));
        else if (ArrayBuffer.isView(part)) bytes = new Uint8Array(part.buffer.slice(part.byteOffset, part.byteOffset + part.byteLength));
        else {
          let text = String(part);
          if (endings === "native") text = text.replace(/\r\n|\r/g, "\n");
          bytes = encoder.encode(text);
        }
        chunks.push(bytes);
        total += bytes.length;
      }
      Object.defineProperty(this, kBytes, { value: chunks.length === 0 ? new Uint8Array(0) : concat(chunks, total), configurable: true });
      Object.defineProperty(this, kType, { value: options?.type === undefined ? "" : normalizeType(options.type) });
    }
    get size() { return this[kBytes].length; }
    get type() { return this[kType]; }
    slice(start = undefined, end = undefined, contentType = undefined) {
      const size = this.size;
      const clamp = (value, fallback) => {
        if (value === undefined) return fallback;
        const n = Math.trunc(Number(value)) || 0;
        return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
      };
      const from = clamp(start, 0);
      const to = clamp(end, size);
      const blob = new Blob([], { type: contentType === undefined ? "" : contentType });
      Object.defineProperty(blob, kBytes, { value: this[kBytes].slice(from, Math.max(from, to)), configurable: true });
      return blob;
    }
    text() { return Promise.resolve(new TextDecoder().decode(this[kBytes])); }
    arrayBuffer() { return Promise.resolve(this[kBytes].slice().buffer); }
    bytes() { return Promise.resolve(this[kBytes].slice()); }
    stream() {
      const bytes = this[kBytes];
      return new ReadableStream({ type: "bytes", start(c) { if (bytes.length) c.enqueue(bytes.slice()); c.close(); } });
    }
  }
  tag(Blob, "Blob");

  class File extends Blob {
    #name;
    #lastModified;
    constructor(parts, name, options = undefined) {
      if (arguments.length < 2) throw new TypeError(`Failed to construct 'File': 2 arguments required, but only ${arguments.length} present.`);
      super(parts, options);
      this.#name = String(name);
      this.#lastModified = options?.lastModified === undefined ? Date.now() : Math.trunc(Number(options.lastModified)) || 0;
    }
    get name() { return this.#name; }
    get lastModified() { return this.#lastModified; }
    get webkitRelativePath() { return ""; }
  }
  tag(File, "File");

  const kEntries = Symbol("entries");

  // The value an entry holds: a string, or a File (a Blob becomes a File named "blob").
  function entryValue(value, filename, method) {
    if (value instanceof Blob) {
      if (!(value instanceof File) || filename !== undefined) {
        const file = new File([], filename === undefined ? (value instanceof File ? value.name : "blob") : String(filename), { type: value.type, lastModified: value instanceof File ? value.lastModified : undefined });
        Object.defineProperty(file, kBytes, { value: value[kBytes], configurable: true });
        return file;
      }
      return value;
    }
    if (filename !== undefined) throw new TypeError(`Failed to execute '${method}' on 'FormData': parameter 2 is not of type 'Blob'.`);
    return toUSV(String(value));
  }
  const toUSV = (s) => (typeof s.toWellFormed === "function" ? s.toWellFormed() : s);

  class FormData {
    constructor(form = undefined) {
      if (form !== undefined) throw new TypeError("Failed to construct 'FormData': parameter 1 is not of type 'HTMLFormElement'.");
      Object.defineProperty(this, kEntries, { value: [] });
    }
    append(name, value, filename = undefined) {
      if (arguments.length < 2) throw new TypeError(`Failed to execute 'append' on 'FormData': 2 arguments required, but only ${arguments.length} present.`);
      this[kEntries].push([toUSV(String(name)), entryValue(value, arguments.length > 2 ? filename : undefined, "append")]);
    }
    delete(name) {
      name = String(name);
      const entries = this[kEntries];
      for (let i = entries.length - 1; i >= 0; i--) if (entries[i][0] === name) entries.splice(i, 1);
    }
    get(name) {
      name = String(name);
      const entry = this[kEntries].find((e) => e[0] === name);
      return entry ? entry[1] : null;
    }
    getAll(name) {
      name = String(name);
      return this[kEntries].filter((e) => e[0] === name).map((e) => e[1]);
    }
    has(name) {
      name = String(name);
      return this[kEntries].some((e) => e[0] === name);
    }
    set(name, value, filename = undefined) {
      if (arguments.length < 2) throw new TypeError(`Failed to execute 'set' on 'FormData': 2 arguments required, but only ${arguments.length} present.`);
      name = toUSV(String(name));
      const entry = [name, entryValue(value, arguments.length > 2 ? filename : undefined, "set")];
      const entries = this[kEntries];
      const first = entries.findIndex((e) => e[0] === name);
      if (first < 0) {
        entries.push(entry);
        return;
      }
      entries[first] = entry;
      for (let i = entries.length - 1; i > first; i--) if (entries[i][0] === name) entries.splice(i, 1);
    }
    forEach(callback, thisArg = undefined) {
      for (const [name, value] of this) callback.call(thisArg, value, name, this);
    }
    entries() { return iterate(this[kEntries], (e) => [e[0], e[1]]); }
    keys() { return iterate(this[kEntries], (e) => e[0]); }
    values() { return iterate(this[kEntries], (e) => e[1]); }
    [Symbol.iterator]() { return this.entries(); }
  }
  tag(FormData, "FormData");

  // A "FormData Iterator" over the live entry list.
  const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
  const FormDataIteratorPrototype = Object.create(IteratorPrototype, {
    next: {
      value: function next() {
        const state = this[kEntries];
        if (!state || state.index >= state.list.length) return { value: undefined, done: true };
        return { value: state.map(state.list[state.index++]), done: false };
      },
      writable: true,
      configurable: true,
    },
    [Symbol.toStringTag]: { value: "FormData Iterator", configurable: true },
  });
  function iterate(list, map) {
    const iterator = Object.create(FormDataIteratorPrototype);
    Object.defineProperty(iterator, kEntries, { value: { list, map, index: 0 } });
    return iterator;
  }

  // multipart/form-data, as browsers send it.
  const escapeName = (name) => name.replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");
  function serialize(form) {
    const random = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => (b % 10).toString()).join("");
    const boundary = `----formdata-kiln-${random}`;
    const chunks = [];
    let total = 0;
    const push = (bytes) => { chunks.push(bytes); total += bytes.length; };
    for (const [name, value] of form) {
      let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(name)}"`;
      if (typeof value === "string") {
        push(encoder.encode(`${head}\r\n\r\n${value.replace(/\r(?!\n)|(?<!\r)\n/g, "\r\n")}\r\n`));
      } else {
        head += `; filename="${escapeName(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
        push(encoder.encode(head));
        push(value[kBytes]);
        push(encoder.encode("\r\n"));
      }
    }
    push(encoder.encode(`--${boundary}--\r\n`));
    return { bytes: concat(chunks, total), type: `multipart/form-data; boundary=${boundary}` };
  }

  function indexOf(haystack, needle, from) {
    const first = needle[0];
    const last = haystack.length - needle.length;
    outer: for (let i = haystack.indexOf(first, from); i !== -1 && i <= last; i = haystack.indexOf(first, i + 1)) {
      for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  }

  function parameter(header, key) {
    const match = new RegExp(`;\\s*${key}\\*?=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, "i").exec(header);
    if (!match) return undefined;
    return match[1] !== undefined ? match[1].replace(/\\(.)/g, "$1") : match[2];
  }

  function parseMultipart(bytes, contentType) {
    const boundary = parameter(contentType, "boundary");
    const fail = () => new TypeError("Failed to parse body as FormData.");
    if (!boundary) throw fail();
    const decoder = new TextDecoder();
    const delimiter = encoder.encode(`--${boundary}`);
    const form = new FormData();
    let position = indexOf(bytes, delimiter, 0);
    if (position < 0) throw fail();
    for (;;) {
      position += delimiter.length;
      if (bytes[position] === 0x2d && bytes[position + 1] === 0x2d) return form;
      if (bytes[position] === 0x0d && bytes[position + 1] === 0x0a) position += 2;
      else throw fail();
      const headerEnd = indexOf(bytes, encoder.encode("\r\n\r\n"), position);
      if (headerEnd < 0) throw fail();
      const headers = decoder.decode(bytes.subarray(position, headerEnd)).split("\r\n");
      let disposition, type;
      for (const line of headers) {
        const colon = line.indexOf(":");
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === "content-disposition") disposition = value;
        else if (name === "content-type") type = value;
      }
      const next = indexOf(bytes, encoder.encode(`\r\n--${boundary}`), headerEnd + 4);
      if (next < 0 || !disposition || !/^form-data/i.test(disposition)) throw fail();
      const name = parameter(disposition, "name");
      if (name === undefined) throw fail();
      const filename = parameter(disposition, "filename");
      const body = bytes.slice(headerEnd + 4, next);
      if (filename !== undefined) form.append(name, new File([body], filename, { type: type ?? "" }));
      else form.append(name, decoder.decode(body));
      position = next + 2;
    }
  }

  function parseForm(bytes, contentType) {
    const essence = String(contentType ?? "").split(";")[0].trim().toLowerCase();
    if (essence === "multipart/form-data") return parseMultipart(bytes, contentType);
    if (essence === "application/x-www-form-urlencoded") {
      const form = new FormData();
      for (const [name, value] of new URLSearchParams(new TextDecoder().decode(bytes))) form.append(name, value);
      return form;
    }
    throw new TypeError(`Content-Type was not one of "multipart/form-data" or "application/x-www-form-urlencoded".`);
  }

  internals.blob = {
    concat,
    bytes: (blob) => blob[kBytes],
    isBlob: (value) => value instanceof Blob,
    isFormData: (value) => value instanceof FormData,
    fromBytes: (bytes, type) => {
      const blob = new Blob([], { type: type ?? "" });
      Object.defineProperty(blob, kBytes, { value: bytes, configurable: true });
      return blob;
    },
    serialize,
    parseForm,
  };

  for (const [name, value] of Object.entries({ Blob, File, FormData })) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  }
})
