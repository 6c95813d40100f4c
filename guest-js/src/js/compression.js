// CompressionStream and DecompressionStream (Compression Standard): `gzip`, `deflate` and
// `deflate-raw`, each a TransformStream of bytes over a coder of `internals.native.compression`.
// A chunk that is not a BufferSource, or a corrupt, truncated or overlong input, errors the
// stream with a TypeError.
(function (internals) {
  "use strict";
  const native = internals.native.compression;
  // Coders of streams dropped without being closed or cancelled go with their stream.
  const orphans = new FinalizationRegistry((id) => native.close(id));

  function bytesOf(chunk) {
    if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
    if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    throw new TypeError("The chunk is not a BufferSource (an ArrayBuffer or an ArrayBufferView)");
  }

  function coder(format, decompress) {
    // What the stream's algorithms hold: once they are unreachable, so is it, and its coder goes.
    const state = { id: native.open(String(format), decompress), open: true };
    const close = () => {
      if (state.open) native.close(state.id);
      state.open = false;
    };
    const stream = new TransformStream({
      transform(chunk, controller) {
        try {
          const out = native.push(state.id, bytesOf(chunk));
          if (out.byteLength > 0) controller.enqueue(out);
        } catch (error) {
          close();
          throw error;
        }
      },
      flush(controller) {
        state.open = false;
        const out = native.finish(state.id);
        if (out.byteLength > 0) controller.enqueue(out);
      },
      cancel() {
        close();
      },
    });
    orphans.register(state, state.id);
    return stream;
  }

  // The two classes differ only in their name and the coder's direction.
  function streamClass(name, decompress) {
    const cls = class {
      #stream;
      constructor(format) {
        if (arguments.length === 0) throw new TypeError(`Failed to construct '${name}': 1 argument required, but only 0 present.`);
        this.#stream = coder(format, decompress);
      }
      get readable() { return this.#stream.readable; }
      get writable() { return this.#stream.writable; }
    };
    Object.defineProperty(cls, "name", { value: name });
    Object.defineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true });
    return cls;
  }
  const CompressionStream = streamClass("CompressionStream", false);
  const DecompressionStream = streamClass("DecompressionStream", true);

  for (const [name, value] of Object.entries({ CompressionStream, DecompressionStream })) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  }
})
