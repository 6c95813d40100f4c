// WHATWG Streams: ReadableStream (default and byte sources, default and BYOB readers, tee, pipes,
// async iteration), WritableStream, TransformStream and the queuing strategies. Evaluated once
// into the pre-initialised engine; the algorithms follow the standard's, with their names.
(function (internals) {
  "use strict";
  const kInternal = Symbol("kiln.stream");
  const kCreate = Symbol("create");

  // A promise with its resolving functions and whether it has settled.
  const deferred = () => {
    const d = { settled: false };
    d.promise = new Promise((res, rej) => {
      d.resolve = (value) => { d.settled = true; res(value); };
      d.reject = (reason) => { d.settled = true; rej(reason); };
    });
    return d;
  };
  const rejectedDeferred = (reason) => {
    const d = deferred();
    d.reject(reason);
    markHandled(d.promise);
    return d;
  };
  const resolved = (value) => Promise.resolve(value);
  const rejected = (reason) => Promise.reject(reason);
  const markHandled = (promise) => { promise.then(undefined, () => {}); return promise; };
  const invoke = (target, name, args, fallback) => {
    const method = target?.[name];
    if (method === undefined || method === null) return fallback;
    if (typeof method !== "function") throw new TypeError(`${name} must be a function`);
    return (...rest) => {
      try {
        return resolved(method.apply(target, [...args, ...rest]));
      } catch (error) {
        return rejected(error);
      }
    };
  };
  const tag = (cls, name) => Object.defineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true });
  const internal = (value, kind) => {
    const slot = value?.[kInternal];
    if (!slot || slot.kind !== kind) throw new TypeError(`Illegal invocation: not a ${kind}`);
    return slot;
  };

  function extractHighWaterMark(strategy, fallback) {
    if (strategy?.highWaterMark === undefined) return fallback;
    const hwm = Number(strategy.highWaterMark);
    if (Number.isNaN(hwm) || hwm < 0) throw new RangeError("highWaterMark must be a non-negative number");
    return hwm;
  }
  function extractSize(strategy) {
    const size = strategy?.size;
    if (size === undefined) return () => 1;
    if (typeof size !== "function") throw new TypeError("size must be a function");
    return (chunk) => size(chunk);
  }

  // A queue of chunks with sizes (the standard's "queue-with-sizes").
  class SizedQueue {
    constructor() { this.items = []; this.head = 0; this.total = 0; }
    get length() { return this.items.length - this.head; }
    push(value, size) {
      if (typeof size !== "number" || Number.isNaN(size) || size < 0 || size === Infinity) throw new RangeError("The chunk size must be a finite, non-negative number");
      this.items.push({ value, size });
      this.total += size;
    }
    shift() {
      const item = this.items[this.head];
      this.items[this.head++] = undefined;
      if (this.head > 64 && this.head * 2 > this.items.length) { this.items = this.items.slice(this.head); this.head = 0; }
      this.total = Math.max(0, this.total - item.size);
      return item.value;
    }
    peek() { return this.items[this.head].value; }
    clear() { this.items = []; this.head = 0; this.total = 0; }
  }

  // ---------------------------------------------------------------- ReadableStream

  function newReadableState(stream) {
    return { kind: "ReadableStream", stream, state: "readable", reader: undefined, storedError: undefined, disturbed: false, controller: undefined };
  }

  function readableStreamClose(rs) {
    rs.state = "closed";
    const reader = rs.reader;
    if (!reader) return;
    reader.closed.resolve(undefined);
    if (reader.mode === "default") {
      const requests = reader.readRequests;
      reader.readRequests = [];
      for (const request of requests) request.close();
    }
  }

  function readableStreamError(rs, error) {
    rs.state = "errored";
    rs.storedError = error;
    const reader = rs.reader;
    if (!reader) return;
    reader.closed.reject(error);
    markHandled(reader.closed.promise);
    const requests = reader.readRequests;
    reader.readRequests = [];
    for (const request of requests) request.error(error);
  }

  function readableStreamCancel(rs, reason) {
    rs.disturbed = true;
    if (rs.state === "closed") return resolved(undefined);
    if (rs.state === "errored") return rejected(rs.storedError);
    readableStreamClose(rs);
    const reader = rs.reader;
    if (reader && reader.mode === "byob") {
      const requests = reader.readRequests;
      reader.readRequests = [];
      for (const request of requests) request.close(undefined);
    }
    return rs.controller.cancelSteps(reason).then(() => undefined);
  }

  function readableStreamAddReadRequest(rs, request) {
    rs.reader.readRequests.push(request);
  }

  function readableStreamFulfillReadRequest(rs, chunk, done) {
    const request = rs.reader.readRequests.shift();
    if (done) request.close();
    else request.chunk(chunk);
  }

  function numReadRequests(rs) {
    return rs.reader ? rs.reader.readRequests.length : 0;
  }

  function hasReader(rs, mode) {
    return rs.reader !== undefined && rs.reader.mode === mode;
  }

  // The default controller.
  class ReadableStreamDefaultController {
    constructor(key) {
      if (key !== kCreate) throw new TypeError("Illegal constructor");
    }
    get desiredSize() { return desiredSize(internal(this, "ReadableStreamDefaultController")); }
    close() {
      const c = internal(this, "ReadableStreamDefaultController");
      if (!canCloseOrEnqueue(c)) throw new TypeError("The stream is not in a state that permits close");
      defaultControllerClose(c);
    }
    enqueue(chunk = undefined) {
      const c = internal(this, "ReadableStreamDefaultController");
      if (!canCloseOrEnqueue(c)) throw new TypeError("The stream is not in a state that permits enqueue");
      defaultControllerEnqueue(c, chunk);
    }
    error(e = undefined) { controllerError(internal(this, "ReadableStreamDefaultController"), e); }
  }
  tag(ReadableStreamDefaultController, "ReadableStreamDefaultController");

  function desiredSize(c) {
    const state = c.stream.state;
    if (state === "errored") return null;
    if (state === "closed") return 0;
    return c.highWaterMark - c.queue.total;
  }
  function canCloseOrEnqueue(c) {
    return !c.closeRequested && c.stream.state === "readable";
  }
  function defaultControllerClose(c) {
    c.closeRequested = true;
    if (c.queue.length === 0) {
      clearAlgorithms(c);
      readableStreamClose(c.stream);
    }
  }
  function defaultControllerEnqueue(c, chunk) {
    const rs = c.stream;
    if (rs.reader && numReadRequests(rs) > 0) {
      readableStreamFulfillReadRequest(rs, chunk, false);
    } else {
      let size;
      try {
        size = c.size(chunk);
        c.queue.push(chunk, size);
      } catch (error) {
        controllerError(c, error);
        throw error;
      }
    }
    callPullIfNeeded(c);
  }
  function controllerError(c, e) {
    if (c.stream.state !== "readable") return;
    c.queue.clear();
    if (c.pendingPullIntos) c.pendingPullIntos = [];
    clearAlgorithms(c);
    readableStreamError(c.stream, e);
  }
  function clearAlgorithms(c) {
    c.pull = () => resolved(undefined);
    c.cancel = () => resolved(undefined);
    c.size = () => 1;
  }
  function shouldCallPull(c) {
    const rs = c.stream;
    if (!c.started || c.stream.state !== "readable" || c.closeRequested) return false;
    if (rs.reader && numReadRequests(rs) > 0) return true;
    return desiredSize(c) > 0;
  }
  function callPullIfNeeded(c) {
    if (!(c.byte ? byteShouldCallPull(c) : shouldCallPull(c))) return;
    if (c.pulling) { c.pullAgain = true; return; }
    c.pulling = true;
    c.pull(c.object).then(
      () => {
        c.pulling = false;
        if (c.pullAgain) { c.pullAgain = false; callPullIfNeeded(c); }
      },
      (e) => controllerError(c, e),
    );
  }
  function setUpController(rs, c, start) {
    rs.controller = c;
    const started = (() => {
      try { return resolved(start(c.object)); } catch (e) { return rejected(e); }
    })();
    started.then(
      () => { c.started = true; callPullIfNeeded(c); },
      (e) => controllerError(c, e),
    );
  }

  function defaultController(rs, { start, pull, cancel }, highWaterMark, size) {
    const object = new ReadableStreamDefaultController(kCreate);
    const c = {
      kind: "ReadableStreamDefaultController", object, stream: rs, byte: false, queue: new SizedQueue(),
      started: false, closeRequested: false, pulling: false, pullAgain: false, highWaterMark, size, pull, cancel,
    };
    Object.defineProperty(object, kInternal, { value: c });
    c.cancelSteps = (reason) => {
      c.queue.clear();
      const result = c.cancel(reason);
      clearAlgorithms(c);
      return result;
    };
    c.pullSteps = (request) => {
      if (c.queue.length > 0) {
        const chunk = c.queue.shift();
        if (c.closeRequested && c.queue.length === 0) {
          clearAlgorithms(c);
          readableStreamClose(rs);
        } else {
          callPullIfNeeded(c);
        }
        request.chunk(chunk);
      } else {
        readableStreamAddReadRequest(rs, request);
        callPullIfNeeded(c);
      }
    };
    c.releaseSteps = () => {};
    setUpController(rs, c, start);
    return c;
  }

  // The byte controller: chunks are ArrayBufferViews, a BYOB reader reads into its own buffer.
  class ReadableByteStreamController {
    constructor(key) {
      if (key !== kCreate) throw new TypeError("Illegal constructor");
    }
    get byobRequest() {
      const c = internal(this, "ReadableByteStreamController");
      if (c.byobRequest === null && c.pendingPullIntos.length > 0) {
        const first = c.pendingPullIntos[0];
        const view = new Uint8Array(first.buffer, first.byteOffset + first.filled, first.byteLength - first.filled);
        const request = new ReadableStreamBYOBRequest(kCreate);
        Object.defineProperty(request, kInternal, { value: { kind: "ReadableStreamBYOBRequest", controller: c, view } });
        c.byobRequest = request;
      }
      return c.byobRequest;
    }
    get desiredSize() { return desiredSize(internal(this, "ReadableByteStreamController")); }
    close() {
      const c = internal(this, "ReadableByteStreamController");
      if (c.closeRequested) throw new TypeError("The stream is already closing");
      if (c.stream.state !== "readable") throw new TypeError("The stream is not readable");
      byteControllerClose(c);
    }
    enqueue(chunk) {
      const c = internal(this, "ReadableByteStreamController");
      if (!ArrayBuffer.isView(chunk)) throw new TypeError("chunk must be an ArrayBufferView");
      if (chunk.byteLength === 0) throw new TypeError("chunk must not be empty");
      if (c.closeRequested) throw new TypeError("The stream is closing");
      if (c.stream.state !== "readable") throw new TypeError("The stream is not readable");
      byteControllerEnqueue(c, chunk);
    }
    error(e = undefined) { controllerError(internal(this, "ReadableByteStreamController"), e); }
  }
  tag(ReadableByteStreamController, "ReadableByteStreamController");

  class ReadableStreamBYOBRequest {
    constructor(key) {
      if (key !== kCreate) throw new TypeError("Illegal constructor");
    }
    get view() { return internal(this, "ReadableStreamBYOBRequest").view; }
    respond(bytesWritten) {
      const r = internal(this, "ReadableStreamBYOBRequest");
      if (!r.controller) throw new TypeError("This request was already answered");
      const c = r.controller;
      r.controller = undefined;
      c.byobRequest = null;
      const first = c.pendingPullIntos[0];
      bytesWritten = Number(bytesWritten);
      if (c.stream.state === "closed") {
        if (bytesWritten !== 0) throw new TypeError("bytesWritten must be 0 when the stream is closed");
      } else if (bytesWritten <= 0 || first.filled + bytesWritten > first.byteLength) {
        throw new RangeError("bytesWritten out of range");
      }
      first.filled += bytesWritten;
      byteRespond(c);
    }
    respondWithNewView(view) {
      const r = internal(this, "ReadableStreamBYOBRequest");
      if (!ArrayBuffer.isView(view)) throw new TypeError("view must be an ArrayBufferView");
      const c = r.controller;
      const first = c.pendingPullIntos[0];
      first.buffer = view.buffer;
      this.respond(view.byteLength);
    }
  }
  tag(ReadableStreamBYOBRequest, "ReadableStreamBYOBRequest");

  function byteControllerClose(c) {
    if (c.queue.total > 0) { c.closeRequested = true; return; }
    if (c.pendingPullIntos.length > 0 && c.pendingPullIntos[0].filled % c.pendingPullIntos[0].elementSize !== 0) {
      const e = new TypeError("Insufficient bytes to fill elements in the given buffer");
      controllerError(c, e);
      throw e;
    }
    clearAlgorithms(c);
    readableStreamClose(c.stream);
    if (c.pendingPullIntos.length > 0) byteRespond(c);
  }
  function byteControllerEnqueue(c, chunk) {
    const rs = c.stream;
    const bytes = new Uint8Array(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength));
    if (c.byobRequest) {
      internal(c.byobRequest, "ReadableStreamBYOBRequest").controller = undefined;
      c.byobRequest = null;
    }
    if (c.pendingPullIntos.length > 0 && c.pendingPullIntos[0].auto) c.pendingPullIntos.shift();
    if (hasReader(rs, "default") && numReadRequests(rs) > 0) {
      readableStreamFulfillReadRequest(rs, bytes, false);
    } else {
      c.queue.push(bytes, bytes.byteLength);
      if (hasReader(rs, "byob")) fillPullIntos(c);
    }
    callPullIfNeeded(c);
  }
  // Copies queued bytes into pending BYOB reads and answers those that are full enough.
  function fillPullIntos(c) {
    while (c.pendingPullIntos.length > 0 && c.queue.total > 0) {
      const first = c.pendingPullIntos[0];
      const target = new Uint8Array(first.buffer, first.byteOffset + first.filled, first.byteLength - first.filled);
      let written = 0;
      while (written < target.byteLength && c.queue.length > 0) {
        const head = c.queue.peek();
        const n = Math.min(head.byteLength, target.byteLength - written);
        target.set(head.subarray(0, n), written);
        written += n;
        if (n === head.byteLength) c.queue.shift();
        else {
          c.queue.items[c.queue.head].value = head.subarray(n);
          c.queue.items[c.queue.head].size -= n;
          c.queue.total -= n;
        }
      }
      first.filled += written;
      if (first.filled < first.minimumFill) break;
      commitPullInto(c, c.pendingPullIntos.shift(), false);
    }
    if (c.closeRequested && c.queue.total === 0 && c.stream.state === "readable") {
      clearAlgorithms(c);
      readableStreamClose(c.stream);
      while (c.pendingPullIntos.length > 0) commitPullInto(c, c.pendingPullIntos.shift(), true);
    }
  }
  function commitPullInto(c, pullInto, done) {
    const usable = pullInto.filled - (pullInto.filled % pullInto.elementSize);
    const view = new pullInto.ctor(pullInto.buffer, pullInto.byteOffset, usable / pullInto.elementSize);
    const reader = c.stream.reader;
    const request = reader.readRequests.shift();
    if (done) request.close(view);
    else request.chunk(view);
  }
  function byteRespond(c) {
    const rs = c.stream;
    if (rs.state === "closed") {
      while (c.pendingPullIntos.length > 0) commitPullInto(c, c.pendingPullIntos.shift(), true);
      return;
    }
    const first = c.pendingPullIntos[0];
    if (first.filled >= first.minimumFill) commitPullInto(c, c.pendingPullIntos.shift(), false);
    callPullIfNeeded(c);
  }
  function byteShouldCallPull(c) {
    const rs = c.stream;
    if (!c.started || rs.state !== "readable" || c.closeRequested) return false;
    if (hasReader(rs, "default") && numReadRequests(rs) > 0) return true;
    if (hasReader(rs, "byob") && numReadRequests(rs) > 0) return true;
    return desiredSize(c) > 0;
  }

  function byteController(rs, { start, pull, cancel }, highWaterMark, autoAllocateChunkSize) {
    const object = new ReadableByteStreamController(kCreate);
    const c = {
      kind: "ReadableByteStreamController", object, stream: rs, byte: true, queue: new SizedQueue(),
      started: false, closeRequested: false, pulling: false, pullAgain: false, highWaterMark,
      size: () => 1, pull, cancel, pendingPullIntos: [], byobRequest: null, autoAllocateChunkSize,
    };
    Object.defineProperty(object, kInternal, { value: c });
    c.cancelSteps = (reason) => {
      c.pendingPullIntos = [];
      c.queue.clear();
      const result = c.cancel(reason);
      clearAlgorithms(c);
      return result;
    };
    c.pullSteps = (request) => {
      if (c.queue.total > 0) {
        const chunk = c.queue.shift();
        if (c.closeRequested && c.queue.total === 0) {
          clearAlgorithms(c);
          readableStreamClose(rs);
        } else {
          callPullIfNeeded(c);
        }
        request.chunk(chunk);
        return;
      }
      if (c.autoAllocateChunkSize !== undefined) {
        const buffer = new ArrayBuffer(c.autoAllocateChunkSize);
        c.pendingPullIntos.push({ buffer, byteOffset: 0, byteLength: buffer.byteLength, filled: 0, minimumFill: 1, elementSize: 1, ctor: Uint8Array, auto: true });
      }
      readableStreamAddReadRequest(rs, request);
      callPullIfNeeded(c);
    };
    c.releaseSteps = () => {
      if (c.pendingPullIntos.length > 0) c.pendingPullIntos = [c.pendingPullIntos[0]].filter((p) => !p.auto);
    };
    c.pullInto = (view, min, request) => {
      const ctor = view.constructor;
      const elementSize = ctor.BYTES_PER_ELEMENT ?? 1;
      const pullInto = { buffer: view.buffer, byteOffset: view.byteOffset, byteLength: view.byteLength, filled: 0, minimumFill: min * elementSize, elementSize, ctor: ctor === DataView ? DataView : ctor };
      if (ctor === DataView) pullInto.ctor = function (b, o, l) { return new DataView(b, o, l); };
      if (rs.state === "closed") {
        request.close(new pullInto.ctor(pullInto.buffer, pullInto.byteOffset, 0));
        return;
      }
      rs.reader.readRequests.push(request);
      c.pendingPullIntos.push(pullInto);
      if (c.queue.total > 0) fillPullIntos(c);
      callPullIfNeeded(c);
    };
    setUpController(rs, c, start);
    return c;
  }

  // Readers.
  function newReader(rs, mode, object) {
    if (rs.reader) throw new TypeError("ReadableStream is locked to a reader");
    const reader = { kind: mode === "byob" ? "ReadableStreamBYOBReader" : "ReadableStreamDefaultReader", mode, stream: rs, readRequests: [], closed: deferred(), object };
    rs.reader = reader;
    if (rs.state === "closed") reader.closed.resolve(undefined);
    else if (rs.state === "errored") {
      reader.closed.reject(rs.storedError);
      markHandled(reader.closed.promise);
    }
    Object.defineProperty(object, kInternal, { value: reader });
    return reader;
  }
  function readerRead(reader, request) {
    const rs = reader.stream;
    rs.disturbed = true;
    if (rs.state === "closed") request.close();
    else if (rs.state === "errored") request.error(rs.storedError);
    else rs.controller.pullSteps(request);
  }
  function readerRelease(reader) {
    const rs = reader.stream;
    const error = new TypeError("The reader was released");
    if (rs.state === "readable") reader.closed.reject(error);
    else reader.closed = rejectedDeferred(error);
    markHandled(reader.closed.promise);
    rs.controller.releaseSteps();
    rs.reader = undefined;
    reader.stream = undefined;
    const requests = reader.readRequests;
    reader.readRequests = [];
    for (const request of requests) request.error(error);
  }
  function readOnce(reader) {
    const { promise, resolve, reject } = deferred();
    readerRead(reader, {
      chunk: (value) => resolve({ value, done: false }),
      close: () => resolve({ value: undefined, done: true }),
      error: reject,
    });
    return promise;
  }

  class ReadableStreamDefaultReader {
    constructor(stream) {
      newReader(internal(stream, "ReadableStream"), "default", this);
    }
    get closed() { return internal(this, "ReadableStreamDefaultReader").closed.promise; }
    read() {
      const reader = internal(this, "ReadableStreamDefaultReader");
      if (!reader.stream) return rejected(new TypeError("The reader was released"));
      return readOnce(reader);
    }
    releaseLock() {
      const reader = internal(this, "ReadableStreamDefaultReader");
      if (reader.stream) readerRelease(reader);
    }
    cancel(reason = undefined) {
      const reader = internal(this, "ReadableStreamDefaultReader");
      if (!reader.stream) return rejected(new TypeError("The reader was released"));
      return readableStreamCancel(reader.stream, reason);
    }
  }
  tag(ReadableStreamDefaultReader, "ReadableStreamDefaultReader");

  class ReadableStreamBYOBReader {
    constructor(stream) {
      const rs = internal(stream, "ReadableStream");
      if (!rs.controller.byte) throw new TypeError("Cannot construct a ReadableStreamBYOBReader for a stream not constructed with a byte source");
      newReader(rs, "byob", this);
    }
    get closed() { return internal(this, "ReadableStreamBYOBReader").closed.promise; }
    read(view, options = undefined) {
      const reader = internal(this, "ReadableStreamBYOBReader");
      if (!ArrayBuffer.isView(view)) return rejected(new TypeError("view must be an ArrayBufferView"));
      if (view.byteLength === 0) return rejected(new TypeError("view must have a non-zero byteLength"));
      if (!reader.stream) return rejected(new TypeError("The reader was released"));
      const min = options?.min ?? 1;
      const length = view instanceof DataView ? view.byteLength : view.length;
      if (min <= 0 || min > length) return rejected(new RangeError("options.min is out of range"));
      const rs = reader.stream;
      rs.disturbed = true;
      const { promise, resolve, reject } = deferred();
      const request = {
        chunk: (value) => resolve({ value, done: false }),
        close: (value) => resolve({ value, done: true }),
        error: reject,
      };
      if (rs.state === "errored") request.error(rs.storedError);
      else rs.controller.pullInto(view, min, request);
      return promise;
    }
    releaseLock() {
      const reader = internal(this, "ReadableStreamBYOBReader");
      if (reader.stream) readerRelease(reader);
    }
    cancel(reason = undefined) {
      const reader = internal(this, "ReadableStreamBYOBReader");
      if (!reader.stream) return rejected(new TypeError("The reader was released"));
      return readableStreamCancel(reader.stream, reason);
    }
  }
  tag(ReadableStreamBYOBReader, "ReadableStreamBYOBReader");

  const AsyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);

  class ReadableStream {
    constructor(source = undefined, strategy = undefined) {
      if (source === null) throw new TypeError("The underlying source must not be null");
      const rs = newReadableState(this);
      Object.defineProperty(this, kInternal, { value: rs });
      const algorithms = {
        start: (c) => (typeof source?.start === "function" ? source.start(c) : undefined),
        pull: invoke(source, "pull", [], () => resolved(undefined)),
        cancel: invoke(source, "cancel", [], () => resolved(undefined)),
      };
      if (source?.type !== undefined && String(source.type) !== "bytes") throw new TypeError(`Invalid type: ${source.type}`);
      if (source?.type === "bytes") {
        if (strategy?.size !== undefined) throw new RangeError("The strategy for a byte stream cannot have a size function");
        let chunkSize = source.autoAllocateChunkSize;
        if (chunkSize !== undefined && !(Number(chunkSize) > 0)) throw new TypeError("autoAllocateChunkSize must be positive");
        byteController(rs, algorithms, extractHighWaterMark(strategy, 0), chunkSize === undefined ? undefined : Number(chunkSize));
      } else {
        defaultController(rs, algorithms, extractHighWaterMark(strategy, 1), extractSize(strategy));
      }
    }
    get locked() { return internal(this, "ReadableStream").reader !== undefined; }
    cancel(reason = undefined) {
      const rs = internal(this, "ReadableStream");
      if (rs.reader) return rejected(new TypeError("Cannot cancel a locked stream"));
      return readableStreamCancel(rs, reason);
    }
    getReader(options = undefined) {
      internal(this, "ReadableStream");
      const mode = options?.mode;
      if (mode === undefined) return new ReadableStreamDefaultReader(this);
      if (String(mode) === "byob") return new ReadableStreamBYOBReader(this);
      throw new TypeError(`Invalid reader mode: ${mode}`);
    }
    pipeThrough(transform, options = undefined) {
      const rs = internal(this, "ReadableStream");
      const writable = transform?.writable;
      const readable = transform?.readable;
      internal(writable, "WritableStream");
      internal(readable, "ReadableStream");
      if (rs.reader) throw new TypeError("Cannot pipe a locked stream");
      if (internal(writable, "WritableStream").writer) throw new TypeError("Cannot pipe to a locked stream");
      markHandled(pipe(rs, internal(writable, "WritableStream"), options));
      return readable;
    }
    pipeTo(destination, options = undefined) {
      let rs, ws;
      try {
        rs = internal(this, "ReadableStream");
        ws = internal(destination, "WritableStream");
      } catch (e) {
        return rejected(e);
      }
      if (rs.reader) return rejected(new TypeError("Cannot pipe a locked stream"));
      if (ws.writer) return rejected(new TypeError("Cannot pipe to a locked stream"));
      return pipe(rs, ws, options);
    }
    tee() {
      return tee(internal(this, "ReadableStream")).map((s) => s.stream);
    }
    values(options = undefined) {
      const rs = internal(this, "ReadableStream");
      const real = newReader(rs, "default", Object.create(ReadableStreamDefaultReader.prototype));
      const preventCancel = !!options?.preventCancel;
      let ongoing = resolved(undefined);
      let finished = false;
      const next = () => {
        if (finished) return resolved({ value: undefined, done: true });
        return readOnce(real).then(
          (result) => {
            if (result.done) { finished = true; if (real.stream) readerRelease(real); }
            return result;
          },
          (error) => { finished = true; if (real.stream) readerRelease(real); throw error; },
        );
      };
      const iterator = Object.create(AsyncIteratorPrototype);
      Object.defineProperties(iterator, {
        next: { value() { ongoing = ongoing.then(next, next); return ongoing; }, writable: true, configurable: true },
        return: {
          value(value) {
            const finish = () => {
              if (finished) return { value, done: true };
              finished = true;
              if (!real.stream) return { value, done: true };
              if (!preventCancel) {
                const cancelled = readableStreamCancel(real.stream, value);
                readerRelease(real);
                return cancelled.then(() => ({ value, done: true }));
              }
              readerRelease(real);
              return { value, done: true };
            };
            ongoing = ongoing.then(finish, finish);
            return ongoing;
          },
          writable: true,
          configurable: true,
        },
      });
      Object.defineProperty(iterator, Symbol.toStringTag, { value: "ReadableStream AsyncIterator", configurable: true });
      return iterator;
    }
    [Symbol.asyncIterator](options = undefined) { return this.values(options); }
    static from(asyncIterable) {
      if (asyncIterable instanceof ReadableStream) return asyncIterable;
      const method = asyncIterable?.[Symbol.asyncIterator] ?? asyncIterable?.[Symbol.iterator];
      if (typeof method !== "function") throw new TypeError("ReadableStream.from: the argument is not iterable");
      const iterator = method.call(asyncIterable);
      const isAsync = typeof asyncIterable[Symbol.asyncIterator] === "function";
      return new ReadableStream({
        async pull(controller) {
          let result = iterator.next();
          if (isAsync) result = await result;
          if (Object(result) !== result) throw new TypeError("The iterator result is not an object");
          if (result.done) controller.close();
          else controller.enqueue(await result.value);
        },
        async cancel(reason) {
          if (typeof iterator.return === "function") {
            const result = await iterator.return(reason);
            if (Object(result) !== result) throw new TypeError("The iterator result is not an object");
          }
        },
      }, { highWaterMark: 0 });
    }
  }
  tag(ReadableStream, "ReadableStream");

  // Builds a stream from algorithms (used by tee, TransformStream and the platform's bodies).
  function createReadable(start, pull, cancel, highWaterMark = 1, size = () => 1) {
    const stream = Object.create(ReadableStream.prototype);
    const rs = newReadableState(stream);
    Object.defineProperty(stream, kInternal, { value: rs });
    defaultController(rs, { start, pull, cancel }, highWaterMark, size);
    return rs;
  }

  function tee(rs) {
    const readerObject = Object.create(ReadableStreamDefaultReader.prototype);
    const reader = newReader(rs, "default", readerObject);
    let reading = false, readAgain = false, canceled1 = false, canceled2 = false, reason1, reason2;
    let branch1, branch2;
    const cancelled = deferred();
    const pull = () => {
      if (reading) { readAgain = true; return resolved(undefined); }
      reading = true;
      readerRead(reader, {
        chunk: (chunk) => {
          queueMicrotask(() => {
            readAgain = false;
            let chunk2 = chunk;
            if (!canceled1 && canCloseOrEnqueue(branch1.controller)) defaultControllerEnqueue(branch1.controller, chunk);
            if (!canceled2 && canCloseOrEnqueue(branch2.controller)) defaultControllerEnqueue(branch2.controller, chunk2);
            reading = false;
            if (readAgain) pull();
          });
        },
        close: () => {
          reading = false;
          if (!canceled1 && canCloseOrEnqueue(branch1.controller)) defaultControllerClose(branch1.controller);
          if (!canceled2 && canCloseOrEnqueue(branch2.controller)) defaultControllerClose(branch2.controller);
          if (!canceled1 || !canceled2) cancelled.resolve(undefined);
        },
        error: () => { reading = false; },
      });
      return resolved(undefined);
    };
    const cancelBranch = (which) => (reason) => {
      if (which === 1) { canceled1 = true; reason1 = reason; } else { canceled2 = true; reason2 = reason; }
      if (canceled1 && canceled2) {
        readableStreamCancel(rs, [reason1, reason2]).then(cancelled.resolve, cancelled.reject);
      }
      return cancelled.promise;
    };
    branch1 = createReadable(() => {}, pull, cancelBranch(1));
    branch2 = createReadable(() => {}, pull, cancelBranch(2));
    reader.closed.promise.catch((e) => {
      controllerError(branch1.controller, e);
      controllerError(branch2.controller, e);
      if (!canceled1 || !canceled2) cancelled.resolve(undefined);
    });
    return [branch1, branch2];
  }

  // ReadableStreamPipeTo, with the standard's shutdown rules.
  function pipe(rs, ws, options) {
    const preventClose = !!options?.preventClose;
    const preventAbort = !!options?.preventAbort;
    const preventCancel = !!options?.preventCancel;
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) return rejected(new TypeError("options.signal must be an AbortSignal"));
    const reader = newReader(rs, "default", Object.create(ReadableStreamDefaultReader.prototype));
    const writer = newWriter(ws, Object.create(WritableStreamDefaultWriter.prototype));
    rs.disturbed = true;
    let shuttingDown = false;
    let currentWrite = resolved(undefined);
    const done = deferred();
    let abortListener;

    const finalize = (isError, error) => {
      writerRelease(writer);
      if (reader.stream) readerRelease(reader);
      if (signal && abortListener) signal.removeEventListener("abort", abortListener);
      if (isError) done.reject(error);
      else done.resolve(undefined);
    };
    const waitWrites = () => {
      const old = currentWrite;
      return old.then(() => (old !== currentWrite ? waitWrites() : undefined), () => {});
    };
    const shutdownWithAction = (action, originalIsError, originalError) => {
      if (shuttingDown) return;
      shuttingDown = true;
      const run = () => action().then(() => finalize(originalIsError, originalError), (e) => finalize(true, e));
      if (ws.state === "writable" && !closeQueuedOrInFlight(ws)) waitWrites().then(run);
      else run();
    };
    const shutdown = (isError, error) => {
      if (shuttingDown) return;
      shuttingDown = true;
      if (ws.state === "writable" && !closeQueuedOrInFlight(ws)) waitWrites().then(() => finalize(isError, error));
      else finalize(isError, error);
    };

    if (signal) {
      abortListener = () => {
        const error = signal.reason;
        const actions = [];
        if (!preventAbort) actions.push(() => (ws.state === "writable" ? writableStreamAbort(ws, error) : resolved(undefined)));
        if (!preventCancel) actions.push(() => (rs.state === "readable" ? readableStreamCancel(rs, error) : resolved(undefined)));
        shutdownWithAction(() => Promise.all(actions.map((a) => a())), true, error);
      };
      if (signal.aborted) { abortListener(); return done.promise; }
      signal.addEventListener("abort", abortListener);
    }

    // Errors and closes, in the standard's order.
    const onSourceError = (e) => {
      if (!preventAbort) shutdownWithAction(() => writableStreamAbort(ws, e), true, e);
      else shutdown(true, e);
    };
    const onDestError = (e) => {
      if (!preventCancel) shutdownWithAction(() => readableStreamCancel(rs, e), true, e);
      else shutdown(true, e);
    };
    const onSourceClosed = () => {
      if (!preventClose) shutdownWithAction(() => writerCloseWithErrorPropagation(writer));
      else shutdown();
    };

    if (rs.state === "errored") onSourceError(rs.storedError);
    else if (ws.state === "errored" || ws.state === "erroring") onDestError(ws.storedError);
    else if (rs.state === "closed") onSourceClosed();
    else if (closeQueuedOrInFlight(ws) || ws.state === "closed") {
      const e = new TypeError("the destination writable stream closed before all data could be piped to it");
      if (!preventCancel) shutdownWithAction(() => readableStreamCancel(rs, e), true, e);
      else shutdown(true, e);
    }
    if (shuttingDown) return done.promise;

    reader.closed.promise.then(() => { if (!shuttingDown) onSourceClosed(); }, (e) => { if (!shuttingDown) onSourceError(e); });
    writer.closed.promise.then(undefined, (e) => { if (!shuttingDown) onDestError(e); });

    const step = () => {
      if (shuttingDown) return;
      writer.ready.promise.then(() => {
        if (shuttingDown) return;
        readerRead(reader, {
          chunk: (chunk) => {
            currentWrite = markHandled(writerWrite(writer, chunk));
            step();
          },
          close: () => {},
          error: () => {},
        });
      }, () => {});
    };
    step();
    return done.promise;
  }

  // ---------------------------------------------------------------- WritableStream

  class WritableStream {
    constructor(sink = undefined, strategy = undefined) {
      if (sink === null) throw new TypeError("The underlying sink must not be null");
      if (sink?.type !== undefined) throw new RangeError("Invalid type is specified");
      const ws = newWritableState(this);
      Object.defineProperty(this, kInternal, { value: ws });
      setUpWritableController(ws, {
        start: (c) => (typeof sink?.start === "function" ? sink.start(c) : undefined),
        write: invoke(sink, "write", [], () => resolved(undefined)),
        close: invoke(sink, "close", [], () => resolved(undefined)),
        abort: invoke(sink, "abort", [], () => resolved(undefined)),
      }, extractHighWaterMark(strategy, 1), extractSize(strategy));
    }
    get locked() { return internal(this, "WritableStream").writer !== undefined; }
    abort(reason = undefined) {
      const ws = internal(this, "WritableStream");
      if (ws.writer) return rejected(new TypeError("Cannot abort a locked stream"));
      return writableStreamAbort(ws, reason);
    }
    close() {
      const ws = internal(this, "WritableStream");
      if (ws.writer) return rejected(new TypeError("Cannot close a locked stream"));
      if (closeQueuedOrInFlight(ws)) return rejected(new TypeError("The stream is already closing"));
      return writableStreamClose(ws);
    }
    getWriter() { return new WritableStreamDefaultWriter(this); }
  }
  tag(WritableStream, "WritableStream");

  function newWritableState(stream) {
    return {
      kind: "WritableStream", stream, state: "writable", storedError: undefined, writer: undefined, controller: undefined,
      inFlightWriteRequest: undefined, closeRequest: undefined, inFlightCloseRequest: undefined,
      pendingAbortRequest: undefined, writeRequests: [], backpressure: false,
    };
  }

  class WritableStreamDefaultController {
    constructor(key) {
      if (key !== kCreate) throw new TypeError("Illegal constructor");
    }
    get signal() { return internal(this, "WritableStreamDefaultController").abortController.signal; }
    error(e = undefined) {
      const c = internal(this, "WritableStreamDefaultController");
      if (c.stream.state !== "writable") return;
      writableControllerError(c, e);
    }
  }
  tag(WritableStreamDefaultController, "WritableStreamDefaultController");

  const kCloseSentinel = Symbol("close");

  function setUpWritableController(ws, { start, write, close, abort }, highWaterMark, size) {
    const object = new WritableStreamDefaultController(kCreate);
    const c = {
      kind: "WritableStreamDefaultController", object, stream: ws, queue: new SizedQueue(), started: false,
      highWaterMark, size, write, close, abort, abortController: new AbortController(),
    };
    Object.defineProperty(object, kInternal, { value: c });
    ws.controller = c;
    updateBackpressure(ws, getBackpressure(c));
    const started = (() => {
      try { return resolved(start(object)); } catch (e) { return rejected(e); }
    })();
    started.then(
      () => { c.started = true; advanceQueueIfNeeded(c); },
      (e) => { c.started = true; dealWithRejection(ws, e); },
    );
    return c;
  }

  function getBackpressure(c) { return c.highWaterMark - c.queue.total <= 0; }
  function writableDesiredSize(c) { return c.highWaterMark - c.queue.total; }
  function clearWritableAlgorithms(c) {
    c.write = () => resolved(undefined);
    c.close = () => resolved(undefined);
    c.abort = () => resolved(undefined);
    c.size = () => 1;
  }
  function closeQueuedOrInFlight(ws) {
    return ws.closeRequest !== undefined || ws.inFlightCloseRequest !== undefined;
  }
  function hasInFlight(ws) {
    return ws.inFlightWriteRequest !== undefined || ws.inFlightCloseRequest !== undefined;
  }
  function updateBackpressure(ws, backpressure) {
    const writer = ws.writer;
    if (writer && backpressure !== ws.backpressure) {
      if (backpressure) writer.ready = deferred();
      else writer.ready.resolve(undefined);
    }
    ws.backpressure = backpressure;
  }

  function writableStreamAbort(ws, reason) {
    if (ws.state === "closed" || ws.state === "errored") return resolved(undefined);
    ws.controller.abortController.abort(reason);
    const state = ws.state;
    if (state === "closed" || state === "errored") return resolved(undefined);
    if (ws.pendingAbortRequest) return ws.pendingAbortRequest.deferred.promise;
    let wasAlreadyErroring = false;
    if (state === "erroring") { wasAlreadyErroring = true; reason = undefined; }
    const d = deferred();
    ws.pendingAbortRequest = { deferred: d, reason, wasAlreadyErroring };
    if (!wasAlreadyErroring) startErroring(ws, reason);
    return d.promise;
  }
  function writableStreamClose(ws) {
    if (ws.state === "closed" || ws.state === "errored") return rejected(new TypeError("The stream is closed or errored"));
    const d = deferred();
    ws.closeRequest = d;
    if (ws.writer && ws.backpressure && ws.state === "writable") ws.writer.ready.resolve(undefined);
    const c = ws.controller;
    c.queue.push(kCloseSentinel, 0);
    advanceQueueIfNeeded(c);
    return d.promise;
  }
  function dealWithRejection(ws, error) {
    if (ws.state === "writable") { startErroring(ws, error); return; }
    finishErroring(ws);
  }
  function startErroring(ws, reason) {
    const c = ws.controller;
    ws.state = "erroring";
    ws.storedError = reason;
    if (ws.writer) writerEnsureReadyRejected(ws.writer, reason);
    if (!hasInFlight(ws) && c.started) finishErroring(ws);
  }
  function finishErroring(ws) {
    ws.state = "errored";
    ws.controller.queue.clear();
    const error = ws.storedError;
    for (const request of ws.writeRequests) request.reject(error);
    ws.writeRequests = [];
    if (!ws.pendingAbortRequest) { rejectCloseAndClosed(ws); return; }
    const abortRequest = ws.pendingAbortRequest;
    ws.pendingAbortRequest = undefined;
    if (abortRequest.wasAlreadyErroring) {
      abortRequest.deferred.reject(error);
      rejectCloseAndClosed(ws);
      return;
    }
    const c = ws.controller;
    const result = c.abort(abortRequest.reason);
    clearWritableAlgorithms(c);
    result.then(
      () => { abortRequest.deferred.resolve(undefined); rejectCloseAndClosed(ws); },
      (e) => { abortRequest.deferred.reject(e); rejectCloseAndClosed(ws); },
    );
  }
  function rejectCloseAndClosed(ws) {
    if (ws.closeRequest) {
      ws.closeRequest.reject(ws.storedError);
      ws.closeRequest = undefined;
    }
    if (ws.writer) {
      ws.writer.closed.reject(ws.storedError);
      markHandled(ws.writer.closed.promise);
    }
  }
  function writableControllerError(c, error) {
    clearWritableAlgorithms(c);
    startErroring(c.stream, error);
  }
  function errorIfNeeded(c, error) {
    if (c.stream.state === "writable") writableControllerError(c, error);
  }
  function advanceQueueIfNeeded(c) {
    const ws = c.stream;
    if (!c.started || ws.inFlightWriteRequest !== undefined) return;
    if (ws.state === "erroring") { finishErroring(ws); return; }
    if (c.queue.length === 0) return;
    const value = c.queue.peek();
    if (value === kCloseSentinel) {
      ws.inFlightCloseRequest = ws.closeRequest;
      ws.closeRequest = undefined;
      c.queue.shift();
      const result = c.close();
      clearWritableAlgorithms(c);
      result.then(
        () => {
          ws.inFlightCloseRequest.resolve(undefined);
          ws.inFlightCloseRequest = undefined;
          if (ws.state === "erroring") {
            ws.storedError = undefined;
            if (ws.pendingAbortRequest) { ws.pendingAbortRequest.deferred.resolve(undefined); ws.pendingAbortRequest = undefined; }
          }
          ws.state = "closed";
          if (ws.writer) ws.writer.closed.resolve(undefined);
        },
        (e) => {
          ws.inFlightCloseRequest.reject(e);
          ws.inFlightCloseRequest = undefined;
          if (ws.pendingAbortRequest) { ws.pendingAbortRequest.deferred.reject(e); ws.pendingAbortRequest = undefined; }
          dealWithRejection(ws, e);
        },
      );
      return;
    }
    ws.inFlightWriteRequest = ws.writeRequests.shift();
    c.write(value, c.object).then(
      () => {
        ws.inFlightWriteRequest.resolve(undefined);
        ws.inFlightWriteRequest = undefined;
        const state = ws.state;
        c.queue.shift();
        if (!closeQueuedOrInFlight(ws) && state === "writable") updateBackpressure(ws, getBackpressure(c));
        advanceQueueIfNeeded(c);
      },
      (e) => {
        if (ws.state === "writable") clearWritableAlgorithms(c);
        ws.inFlightWriteRequest.reject(e);
        ws.inFlightWriteRequest = undefined;
        dealWithRejection(ws, e);
      },
    );
  }

  // The writer.
  function newWriter(ws, object) {
    if (ws.writer) throw new TypeError("WritableStream is locked to a writer");
    const writer = { kind: "WritableStreamDefaultWriter", stream: ws, ready: deferred(), closed: deferred(), object };
    ws.writer = writer;
    const state = ws.state;
    if (state === "writable") {
      if (!closeQueuedOrInFlight(ws) && ws.backpressure) { /* ready stays pending */ } else writer.ready.resolve(undefined);
    } else if (state === "erroring") {
      writer.ready.reject(ws.storedError);
      markHandled(writer.ready.promise);
    } else if (state === "closed") {
      writer.ready.resolve(undefined);
      writer.closed.resolve(undefined);
    } else {
      writer.ready.reject(ws.storedError);
      markHandled(writer.ready.promise);
      writer.closed.reject(ws.storedError);
      markHandled(writer.closed.promise);
    }
    Object.defineProperty(object, kInternal, { value: writer });
    return writer;
  }
  function writerEnsureReadyRejected(writer, error) {
    if (writer.ready.settled) writer.ready = rejectedDeferred(error);
    else {
      writer.ready.reject(error);
      markHandled(writer.ready.promise);
    }
  }
  function writerWrite(writer, chunk) {
    const ws = writer.stream;
    const c = ws.controller;
    let size;
    try {
      size = c.size(chunk);
    } catch (e) {
      errorIfNeeded(c, e);
      size = 1;
    }
    if (ws !== writer.stream) return rejected(new TypeError("The writer was released"));
    if (ws.state === "errored") return rejected(ws.storedError);
    if (closeQueuedOrInFlight(ws) || ws.state === "closed") return rejected(new TypeError("The stream is closing or closed"));
    if (ws.state === "erroring") return rejected(ws.storedError);
    const d = deferred();
    ws.writeRequests.push(d);
    try {
      c.queue.push(chunk, size);
    } catch (e) {
      errorIfNeeded(c, e);
      return d.promise;
    }
    if (!closeQueuedOrInFlight(ws) && ws.state === "writable") updateBackpressure(ws, getBackpressure(c));
    advanceQueueIfNeeded(c);
    return d.promise;
  }
  function writerCloseWithErrorPropagation(writer) {
    const ws = writer.stream;
    if (closeQueuedOrInFlight(ws) || ws.state === "closed") return resolved(undefined);
    if (ws.state === "errored") return rejected(ws.storedError);
    return writableStreamClose(ws);
  }
  function writerRelease(writer) {
    const ws = writer.stream;
    if (!ws) return;
    const error = new TypeError("The writer was released");
    writerEnsureReadyRejected(writer, error);
    if (!writer.closed.settled) writer.closed.reject(error);
    else writer.closed = rejectedDeferred(error);
    markHandled(writer.closed.promise);
    ws.writer = undefined;
    writer.stream = undefined;
  }

  class WritableStreamDefaultWriter {
    constructor(stream) {
      newWriter(internal(stream, "WritableStream"), this);
    }
    get closed() { return internal(this, "WritableStreamDefaultWriter").closed.promise; }
    get ready() { return internal(this, "WritableStreamDefaultWriter").ready.promise; }
    get desiredSize() {
      const writer = internal(this, "WritableStreamDefaultWriter");
      if (!writer.stream) throw new TypeError("The writer was released");
      const ws = writer.stream;
      if (ws.state === "errored" || ws.state === "erroring") return null;
      if (ws.state === "closed") return 0;
      return writableDesiredSize(ws.controller);
    }
    abort(reason = undefined) {
      const writer = internal(this, "WritableStreamDefaultWriter");
      if (!writer.stream) return rejected(new TypeError("The writer was released"));
      return writableStreamAbort(writer.stream, reason);
    }
    close() {
      const writer = internal(this, "WritableStreamDefaultWriter");
      if (!writer.stream) return rejected(new TypeError("The writer was released"));
      if (closeQueuedOrInFlight(writer.stream)) return rejected(new TypeError("The stream is already closing"));
      return writableStreamClose(writer.stream);
    }
    releaseLock() {
      const writer = internal(this, "WritableStreamDefaultWriter");
      if (writer.stream) writerRelease(writer);
    }
    write(chunk = undefined) {
      const writer = internal(this, "WritableStreamDefaultWriter");
      if (!writer.stream) return rejected(new TypeError("The writer was released"));
      return writerWrite(writer, chunk);
    }
  }
  tag(WritableStreamDefaultWriter, "WritableStreamDefaultWriter");

  function createWritable(start, write, close, abort, highWaterMark = 1, size = () => 1) {
    const stream = Object.create(WritableStream.prototype);
    const ws = newWritableState(stream);
    Object.defineProperty(stream, kInternal, { value: ws });
    setUpWritableController(ws, { start, write, close, abort }, highWaterMark, size);
    return ws;
  }

  // ---------------------------------------------------------------- TransformStream

  class TransformStreamDefaultController {
    constructor(key) {
      if (key !== kCreate) throw new TypeError("Illegal constructor");
    }
    get desiredSize() {
      const t = internal(this, "TransformStreamDefaultController").transform;
      return desiredSize(t.readable.controller);
    }
    enqueue(chunk = undefined) { transformEnqueue(internal(this, "TransformStreamDefaultController").transform, chunk); }
    error(reason = undefined) { transformError(internal(this, "TransformStreamDefaultController").transform, reason); }
    terminate() {
      const t = internal(this, "TransformStreamDefaultController").transform;
      const rc = t.readable.controller;
      if (canCloseOrEnqueue(rc)) defaultControllerClose(rc);
      transformErrorWritableAndUnblockWrite(t, new TypeError("The transform stream was terminated"));
    }
  }
  tag(TransformStreamDefaultController, "TransformStreamDefaultController");

  function transformEnqueue(t, chunk) {
    const rc = t.readable.controller;
    if (!canCloseOrEnqueue(rc)) throw new TypeError("The readable side is not in a state that permits enqueue");
    try {
      defaultControllerEnqueue(rc, chunk);
    } catch (e) {
      transformErrorWritableAndUnblockWrite(t, e);
      throw t.readable.storedError;
    }
    const backpressure = !shouldCallPull(rc);
    if (backpressure !== t.backpressure) setTransformBackpressure(t, true);
  }
  function transformError(t, e) {
    controllerError(t.readable.controller, e);
    transformErrorWritableAndUnblockWrite(t, e);
  }
  function transformErrorWritableAndUnblockWrite(t, e) {
    clearTransformAlgorithms(t);
    errorIfNeeded(t.writable.controller, e);
    if (t.backpressure) setTransformBackpressure(t, false);
  }
  function setTransformBackpressure(t, backpressure) {
    if (t.backpressureChange) t.backpressureChange.resolve(undefined);
    t.backpressureChange = deferred();
    t.backpressure = backpressure;
  }
  function clearTransformAlgorithms(t) {
    t.transformAlgorithm = () => resolved(undefined);
    t.flushAlgorithm = () => resolved(undefined);
    t.cancelAlgorithm = () => resolved(undefined);
  }
  function performTransform(t, chunk) {
    return t.transformAlgorithm(chunk).then(undefined, (e) => {
      transformError(t, e);
      throw e;
    });
  }

  class TransformStream {
    constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
      if (transformer?.readableType !== undefined) throw new RangeError("Invalid readableType specified");
      if (transformer?.writableType !== undefined) throw new RangeError("Invalid writableType specified");
      const readableHWM = extractHighWaterMark(readableStrategy, 0);
      const readableSize = extractSize(readableStrategy);
      const writableHWM = extractHighWaterMark(writableStrategy, 1);
      const writableSize = extractSize(writableStrategy);
      const startPromise = deferred();
      const t = { kind: "TransformStream", backpressure: undefined, backpressureChange: undefined, finish: undefined };
      Object.defineProperty(this, kInternal, { value: t });
      const controller = new TransformStreamDefaultController(kCreate);
      Object.defineProperty(controller, kInternal, { value: { kind: "TransformStreamDefaultController", transform: t } });
      t.controller = controller;

      t.writable = createWritable(
        () => startPromise.promise,
        (chunk) => {
          if (t.backpressure) {
            return t.backpressureChange.promise.then(() => {
              const ws = t.writable;
              if (ws.state === "erroring") throw ws.storedError;
              return performTransform(t, chunk);
            });
          }
          return performTransform(t, chunk);
        },
        () => {
          if (t.finish) return t.finish.promise;
          const rs = t.readable;
          t.finish = deferred();
          const flushed = t.flushAlgorithm();
          clearTransformAlgorithms(t);
          flushed.then(
            () => {
              if (rs.state === "errored") t.finish.reject(rs.storedError);
              else {
                if (canCloseOrEnqueue(rs.controller)) defaultControllerClose(rs.controller);
                t.finish.resolve(undefined);
              }
            },
            (e) => { controllerError(rs.controller, e); t.finish.reject(e); },
          );
          return t.finish.promise;
        },
        (reason) => {
          if (t.finish) return t.finish.promise;
          const rs = t.readable;
          t.finish = deferred();
          const cancelled = t.cancelAlgorithm(reason);
          clearTransformAlgorithms(t);
          cancelled.then(
            () => {
              if (rs.state === "errored") t.finish.reject(rs.storedError);
              else { controllerError(rs.controller, reason); t.finish.resolve(undefined); }
            },
            (e) => { controllerError(rs.controller, e); t.finish.reject(e); },
          );
          return t.finish.promise;
        },
        writableHWM,
        writableSize,
      );
      t.readable = createReadable(
        () => startPromise.promise,
        () => {
          setTransformBackpressure(t, false);
          return t.backpressureChange.promise;
        },
        (reason) => {
          if (t.finish) return t.finish.promise;
          const ws = t.writable;
          t.finish = deferred();
          const cancelled = t.cancelAlgorithm(reason);
          clearTransformAlgorithms(t);
          cancelled.then(
            () => {
              if (ws.state === "errored") t.finish.reject(ws.storedError);
              else {
                errorIfNeeded(ws.controller, reason);
                if (t.backpressure) setTransformBackpressure(t, false);
                t.finish.resolve(undefined);
              }
            },
            (e) => {
              errorIfNeeded(ws.controller, e);
              if (t.backpressure) setTransformBackpressure(t, false);
              t.finish.reject(e);
            },
          );
          return t.finish.promise;
        },
        readableHWM,
        readableSize,
      );
      setTransformBackpressure(t, true);

      t.transformAlgorithm = typeof transformer?.transform === "function"
        ? (chunk) => { try { return resolved(transformer.transform(chunk, controller)); } catch (e) { return rejected(e); } }
        : (chunk) => { try { transformEnqueue(t, chunk); return resolved(undefined); } catch (e) { return rejected(e); } };
      t.flushAlgorithm = invoke(transformer, "flush", [controller], () => resolved(undefined));
      t.cancelAlgorithm = invoke(transformer, "cancel", [], () => resolved(undefined));
      try {
        startPromise.resolve(typeof transformer?.start === "function" ? transformer.start(controller) : undefined);
      } catch (e) {
        startPromise.reject(e);
      }
    }
    get readable() { return internal(this, "TransformStream").readable.stream; }
    get writable() { return internal(this, "TransformStream").writable.stream; }
  }
  tag(TransformStream, "TransformStream");

  // ---------------------------------------------------------------- Queuing strategies

  class ByteLengthQueuingStrategy {
    #highWaterMark;
    constructor(init) {
      if (init?.highWaterMark === undefined) throw new TypeError("highWaterMark is required");
      this.#highWaterMark = Number(init.highWaterMark);
    }
    get highWaterMark() { return this.#highWaterMark; }
    get size() { return byteLengthSize; }
  }
  const byteLengthSize = function size(chunk) { return chunk.byteLength; };
  tag(ByteLengthQueuingStrategy, "ByteLengthQueuingStrategy");

  class CountQueuingStrategy {
    #highWaterMark;
    constructor(init) {
      if (init?.highWaterMark === undefined) throw new TypeError("highWaterMark is required");
      this.#highWaterMark = Number(init.highWaterMark);
    }
    get highWaterMark() { return this.#highWaterMark; }
    get size() { return countSize; }
  }
  const countSize = function size() { return 1; };
  tag(CountQueuingStrategy, "CountQueuingStrategy");

  const globals = {
    ReadableStream, ReadableStreamDefaultReader, ReadableStreamBYOBReader, ReadableStreamDefaultController,
    ReadableByteStreamController, ReadableStreamBYOBRequest, WritableStream, WritableStreamDefaultWriter,
    WritableStreamDefaultController, TransformStream, TransformStreamDefaultController,
    ByteLengthQueuingStrategy, CountQueuingStrategy,
  };
  for (const [name, value] of Object.entries(globals)) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  }

  // For the platform's own bodies (see body.js): state without going through a reader.
  internals.streams = {
    isReadable: (value) => value?.[kInternal]?.kind === "ReadableStream",
    isDisturbed: (stream) => stream[kInternal].disturbed,
    isLocked: (stream) => stream[kInternal].reader !== undefined,
    markDisturbed: (stream) => { stream[kInternal].disturbed = true; },
  };
})
