// MessageChannel, MessagePort and MessageEvent (HTML Standard, within one instance): a message
// posted on one port is structured-cloned at once and delivered to the other port as a task of
// its own (after the current script and its microtasks, like a zero-delay timer), in order,
// once that port is started (`start()`, or setting `onmessage`). Libraries use a channel to
// schedule work in a later task (React's scheduler), or to clone a value.
(function (internals) {
  "use strict";

  class MessageEvent extends Event {
    #data;
    #origin;
    #lastEventId;
    #source;
    #ports;
    constructor(type, init = undefined) {
      if (arguments.length === 0) throw new TypeError("Failed to construct 'MessageEvent': 1 argument required, but only 0 present.");
      super(type, init);
      this.#data = init?.data ?? null;
      this.#origin = init?.origin === undefined ? "" : String(init.origin);
      this.#lastEventId = init?.lastEventId === undefined ? "" : String(init.lastEventId);
      this.#source = init?.source ?? null;
      this.#ports = Object.freeze([...(init?.ports ?? [])]);
    }
    get data() { return this.#data; }
    get origin() { return this.#origin; }
    get lastEventId() { return this.#lastEventId; }
    get source() { return this.#source; }
    get ports() { return this.#ports; }
  }
  Object.defineProperty(MessageEvent.prototype, Symbol.toStringTag, { value: "MessageEvent", configurable: true });

  let constructing = false;

  class MessagePort extends EventTarget {
    #other = null;
    #queue = [];
    #started = false;
    #closed = false;
    #scheduled = false;
    #onmessage = null;
    #onmessageerror = null;
    constructor() {
      if (!constructing) throw new TypeError("Illegal constructor");
      super();
    }
    static entangle(a, b) {
      a.#other = b;
      b.#other = a;
    }
    postMessage(message, options = undefined) {
      if (arguments.length === 0) throw new TypeError("Failed to execute 'postMessage' on 'MessagePort': 1 argument required, but only 0 present.");
      const transfer = Array.isArray(options) ? options : (options?.transfer ?? []);
      const data = structuredClone(message, { transfer });
      const target = this.#other;
      if (this.#closed || target === null) return;
      target.#enqueue(data);
    }
    #enqueue(data) {
      if (this.#closed) return;
      this.#queue.push(data);
      this.#schedule();
    }
    #schedule() {
      if (!this.#started || this.#scheduled || this.#queue.length === 0) return;
      this.#scheduled = true;
      setTimeout(() => this.#deliver(), 0);
    }
    // One message per task, as a browser delivers them.
    #deliver() {
      this.#scheduled = false;
      if (this.#closed || !this.#started) return;
      const data = this.#queue.shift();
      if (this.#queue.length > 0) this.#schedule();
      this.dispatchEvent(new MessageEvent("message", { data }));
    }
    start() {
      if (this.#started) return;
      this.#started = true;
      this.#schedule();
    }
    close() {
      this.#closed = true;
      this.#queue.length = 0;
      const other = this.#other;
      this.#other = null;
      if (other !== null) other.#other = null;
    }
    // `dispatchEvent` calls `on<type>` after the listeners; setting `onmessage` starts the port.
    get onmessage() { return this.#onmessage; }
    set onmessage(handler) {
      this.#onmessage = typeof handler === "function" ? handler : null;
      if (this.#onmessage !== null) this.start();
    }
    get onmessageerror() { return this.#onmessageerror; }
    set onmessageerror(handler) {
      this.#onmessageerror = typeof handler === "function" ? handler : null;
    }
  }
  const entangle = MessagePort.entangle;
  delete MessagePort.entangle;
  Object.defineProperty(MessagePort.prototype, Symbol.toStringTag, { value: "MessagePort", configurable: true });

  class MessageChannel {
    #port1;
    #port2;
    constructor() {
      constructing = true;
      try {
        this.#port1 = new MessagePort();
        this.#port2 = new MessagePort();
      } finally {
        constructing = false;
      }
      entangle(this.#port1, this.#port2);
    }
    get port1() { return this.#port1; }
    get port2() { return this.#port2; }
  }
  Object.defineProperty(MessageChannel.prototype, Symbol.toStringTag, { value: "MessageChannel", configurable: true });

  for (const [name, value] of Object.entries({ MessageChannel, MessagePort, MessageEvent })) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  }
})
