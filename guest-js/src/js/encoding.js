// TextEncoder, TextDecoder (UTF-8, with streaming decode, `fatal` and BOM handling) and their
// stream forms, TextEncoderStream and TextDecoderStream (Encoding Standard). The byte work is
// native: `internals.native.utf8Decode(bytes, fatal)` and `utf8Encode(string)`.
(function (internals) {
  "use strict";
  const { utf8Decode, utf8Encode } = internals.native;
  const labels = new Set(["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"]);
  const tag = (cls, name) => Object.defineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true });

  function bytesOf(input) {
    if (input instanceof ArrayBuffer) return new Uint8Array(input);
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    if (typeof SharedArrayBuffer !== "undefined" && input instanceof SharedArrayBuffer) return new Uint8Array(input);
    throw new TypeError("The \"input\" argument must be an instance of ArrayBuffer or ArrayBufferView");
  }

  // Where a trailing, incomplete UTF-8 sequence starts (the length when there is none).
  function completePrefix(bytes) {
    const length = bytes.length;
    for (let i = length - 1; i >= 0 && i >= length - 3; i--) {
      const b = bytes[i];
      if ((b & 0xc0) === 0x80) continue;
      if (b < 0xc2 || b > 0xf4) return length;
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return length - i < need ? i : length;
    }
    return length;
  }

  class TextDecoder {
    #fatal;
    #ignoreBOM;
    #pending = null;
    #started = false;
    constructor(label = "utf-8", options = undefined) {
      const name = String(label).trim().toLowerCase();
      if (!labels.has(name)) throw new RangeError(`The "${label}" encoding is not supported`);
      this.#fatal = !!options?.fatal;
      this.#ignoreBOM = !!options?.ignoreBOM;
    }
    get encoding() { return "utf-8"; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    decode(input = undefined, options = undefined) {
      let bytes = input === undefined ? new Uint8Array(0) : bytesOf(input);
      if (this.#pending) {
        const joined = new Uint8Array(this.#pending.length + bytes.length);
        joined.set(this.#pending);
        joined.set(bytes, this.#pending.length);
        bytes = joined;
        this.#pending = null;
      }
      const stream = !!options?.stream;
      let end = bytes.length;
      if (stream) {
        end = completePrefix(bytes);
        if (end < bytes.length) this.#pending = bytes.slice(end);
      }
      let text = end === 0 ? "" : utf8Decode(end === bytes.length ? bytes : bytes.subarray(0, end), this.#fatal);
      if (!this.#started && text.length > 0) {
        if (!this.#ignoreBOM && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        this.#started = true;
      }
      if (!stream) {
        this.#started = false;
        this.#pending = null;
      }
      return text;
    }
  }
  tag(TextDecoder, "TextDecoder");

  const wellFormed = (s) => (typeof s.toWellFormed === "function" ? s.toWellFormed() : s);

  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(input = "") {
      return utf8Encode(wellFormed(String(input)));
    }
    encodeInto(source, destination) {
      if (!(destination instanceof Uint8Array)) throw new TypeError("The \"dest\" argument must be an instance of Uint8Array");
      source = String(source);
      let read = 0;
      let written = 0;
      const capacity = destination.length;
      while (read < source.length) {
        let cp = source.codePointAt(read);
        const units = cp > 0xffff ? 2 : 1;
        if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
        const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (written + size > capacity) break;
        if (size === 1) destination[written] = cp;
        else if (size === 2) {
          destination[written] = 0xc0 | (cp >> 6);
          destination[written + 1] = 0x80 | (cp & 63);
        } else if (size === 3) {
          destination[written] = 0xe0 | (cp >> 12);
          destination[written + 1] = 0x80 | ((cp >> 6) & 63);
          destination[written + 2] = 0x80 | (cp & 63);
        } else {
          destination[written] = 0xf0 | (cp >> 18);
          destination[written + 1] = 0x80 | ((cp >> 12) & 63);
          destination[written + 2] = 0x80 | ((cp >> 6) & 63);
          destination[written + 3] = 0x80 | (cp & 63);
        }
        written += size;
        read += units;
      }
      return { read, written };
    }
  }
  tag(TextEncoder, "TextEncoder");

  class TextEncoderStream {
    #transform;
    constructor() {
      let pendingHigh = null;
      this.#transform = new TransformStream({
        transform(chunk, controller) {
          let text = String(chunk);
          if (pendingHigh !== null) { text = pendingHigh + text; pendingHigh = null; }
          const last = text.charCodeAt(text.length - 1);
          if (last >= 0xd800 && last <= 0xdbff) { pendingHigh = text.slice(-1); text = text.slice(0, -1); }
          if (text.length > 0) controller.enqueue(utf8Encode(wellFormed(text)));
        },
        flush(controller) {
          if (pendingHigh !== null) controller.enqueue(new Uint8Array([0xef, 0xbf, 0xbd]));
        },
      });
    }
    get encoding() { return "utf-8"; }
    get readable() { return this.#transform.readable; }
    get writable() { return this.#transform.writable; }
  }
  tag(TextEncoderStream, "TextEncoderStream");

  class TextDecoderStream {
    #decoder;
    #transform;
    constructor(label = "utf-8", options = undefined) {
      const decoder = (this.#decoder = new TextDecoder(label, options));
      this.#transform = new TransformStream({
        transform(chunk, controller) {
          const text = decoder.decode(chunk, { stream: true });
          if (text) controller.enqueue(text);
        },
        flush(controller) {
          const text = decoder.decode();
          if (text) controller.enqueue(text);
        },
      });
    }
    get encoding() { return this.#decoder.encoding; }
    get fatal() { return this.#decoder.fatal; }
    get ignoreBOM() { return this.#decoder.ignoreBOM; }
    get readable() { return this.#transform.readable; }
    get writable() { return this.#transform.writable; }
  }
  tag(TextDecoderStream, "TextDecoderStream");

  for (const [name, value] of Object.entries({ TextDecoder, TextEncoder, TextEncoderStream, TextDecoderStream })) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  }
})
