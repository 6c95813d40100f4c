// The stream side of Request and Response bodies (Fetch Standard): `body` as a ReadableStream,
// bodies built from streams, Blobs and FormData, and the Body mixin's `blob()` and `formData()`.
// Bodies that are plain bytes stay in Rust (`src/body.rs`) until JS asks for a stream.
(function (internals) {
  "use strict";
  const { isReadable, isDisturbed, isLocked, markDisturbed } = internals.streams;
  const { concat, isBlob, isFormData, bytes: blobBytes, fromBytes: blobFromBytes, serialize, parseForm } = internals.blob;
  const kSource = Symbol("source bytes");

  // A stream of `bytes`, remembered so that sending it untouched needs no copy through JS.
  function fromBytes(bytes) {
    const stream = new ReadableStream({
      type: "bytes",
      start(controller) {
        if (bytes.length > 0) controller.enqueue(bytes);
        controller.close();
      },
    });
    Object.defineProperty(stream, kSource, { value: bytes });
    return stream;
  }

  // A stream over the incoming request body; `read()` returns the next chunk, or null at the end.
  function fromIncoming(read) {
    return new ReadableStream({
      type: "bytes",
      pull(controller) {
        const chunk = read();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
    });
  }

  // A stream already read, for `body` after `text()` and friends.
  function used() {
    const stream = fromBytes(new Uint8Array(0));
    markDisturbed(stream);
    stream.getReader();
    return stream;
  }

  // The bytes of an untouched stream made by `fromBytes`, taking it (undefined otherwise).
  function take(stream) {
    const source = stream[kSource];
    if (source === undefined || isDisturbed(stream) || isLocked(stream)) return undefined;
    markDisturbed(stream);
    stream.getReader();
    return source;
  }

  // Whether `stream` is no mere view of bytes already here (`fromBytes`).
  function isLive(stream) {
    return stream[kSource] === undefined;
  }

  async function readAll(stream) {
    if (isDisturbed(stream) || isLocked(stream)) throw new TypeError("Body has already been consumed");
    const source = take(stream);
    if (source !== undefined) return source;
    const reader = stream.getReader();
    const chunks = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!(value instanceof Uint8Array)) throw new TypeError("Received non-Uint8Array chunk");
      chunks.push(value);
      total += value.length;
    }
    return chunks.length === 0 ? new Uint8Array(0) : concat(chunks, total);
  }

  // `text()`, `json()`, `arrayBuffer()` or `bytes()` of a stream body.
  async function consume(stream, kind) {
    const bytes = await readAll(stream);
    switch (kind) {
      case "text": return new TextDecoder().decode(bytes);
      case "json": return JSON.parse(new TextDecoder().decode(bytes));
      case "arrayBuffer": return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
      default: return bytes;
    }
  }

  // Two streams for `clone()`.
  function tee(stream) {
    const source = stream[kSource];
    if (source !== undefined && !isDisturbed(stream) && !isLocked(stream)) return [stream, fromBytes(source)];
    if (isLocked(stream) || isDisturbed(stream)) throw new TypeError("Body has already been consumed");
    return stream.tee();
  }

  // What a BodyInit that Rust does not handle itself becomes: a stream, or bytes with a type.
  function extract(value) {
    if (isReadable(value)) {
      if (isDisturbed(value) || isLocked(value)) throw new TypeError("Response body object should not be disturbed or locked");
      return { stream: value };
    }
    if (isBlob(value)) return { bytes: blobBytes(value), type: value.type || undefined };
    if (isFormData(value)) return serialize(value);
    return undefined;
  }

  // The Body mixin's `blob()` and `formData()`, called with the Request or Response as `this`.
  async function blob() {
    const bytes = await this.bytes();
    return blobFromBytes(bytes, this.headers.get("content-type") ?? "");
  }
  async function formData() {
    const type = this.headers.get("content-type");
    return parseForm(await this.bytes(), type);
  }

  // `fetch` with a body JS still produces (a ReadableStream it made, or `request.body`): the
  // stream is read to its end, then the request is sent with those bytes.
  async function sendBuffered(fetch, stream, method, url, headers, signal) {
    const body = await readAll(stream);
    return fetch(url, { method, headers, body, signal });
  }

  internals.body = { fromBytes, fromIncoming, used, take, consume, tee, extract, blob, formData, isLive, sendBuffered };
})
