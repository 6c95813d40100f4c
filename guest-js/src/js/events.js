// DOMException, Event, EventTarget, AbortController and AbortSignal (DOM Standard), in JS: they
// are evaluated once into the pre-initialised engine, so an instance pays nothing to have them.
(function (internals) {
  "use strict";
  const codes = {
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
    NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11,
    SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14, InvalidAccessError: 15,
    TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20, URLMismatchError: 21,
    QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24, DataCloneError: 25,
  };

  class DOMException extends Error {
    #name;
    #message;
    constructor(message = "", options = "Error") {
      super(String(message), typeof options === "object" && options !== null && "cause" in options ? { cause: options.cause } : undefined);
      this.#message = String(message);
      this.#name = typeof options === "object" && options !== null ? (options.name === undefined ? "Error" : String(options.name)) : String(options);
    }
    get name() { return this.#name; }
    get message() { return this.#message; }
    get code() { return codes[this.#name] ?? 0; }
  }
  Object.defineProperty(DOMException.prototype, Symbol.toStringTag, { value: "DOMException", configurable: true });
  const constants = {
    INDEX_SIZE_ERR: 1, DOMSTRING_SIZE_ERR: 2, HIERARCHY_REQUEST_ERR: 3, WRONG_DOCUMENT_ERR: 4,
    INVALID_CHARACTER_ERR: 5, NO_DATA_ALLOWED_ERR: 6, NO_MODIFICATION_ALLOWED_ERR: 7, NOT_FOUND_ERR: 8,
    NOT_SUPPORTED_ERR: 9, INUSE_ATTRIBUTE_ERR: 10, INVALID_STATE_ERR: 11, SYNTAX_ERR: 12,
    INVALID_MODIFICATION_ERR: 13, NAMESPACE_ERR: 14, INVALID_ACCESS_ERR: 15, VALIDATION_ERR: 16,
    TYPE_MISMATCH_ERR: 17, SECURITY_ERR: 18, NETWORK_ERR: 19, ABORT_ERR: 20, URL_MISMATCH_ERR: 21,
    QUOTA_EXCEEDED_ERR: 22, TIMEOUT_ERR: 23, INVALID_NODE_TYPE_ERR: 24, DATA_CLONE_ERR: 25,
  };
  for (const [key, value] of Object.entries(constants)) {
    Object.defineProperty(DOMException, key, { value, enumerable: true });
    Object.defineProperty(DOMException.prototype, key, { value, enumerable: true });
  }

  const kStop = Symbol("stop");
  const kStopNow = Symbol("stopImmediate");
  const kCanceled = Symbol("canceled");
  const kDispatching = Symbol("dispatching");
  const kTarget = Symbol("target");
  const kCurrent = Symbol("current");
  const kTrusted = Symbol("trusted");

  class Event {
    #type;
    #bubbles;
    #cancelable;
    #composed;
    #timeStamp;
    constructor(type, init = undefined) {
      if (arguments.length === 0) throw new TypeError("Failed to construct 'Event': 1 argument required, but only 0 present.");
      this.#type = String(type);
      this.#bubbles = !!init?.bubbles;
      this.#cancelable = !!init?.cancelable;
      this.#composed = !!init?.composed;
      this.#timeStamp = performance.now();
      this[kCanceled] = false;
      this[kStop] = false;
      this[kStopNow] = false;
      this[kDispatching] = false;
      this[kTarget] = null;
      this[kCurrent] = null;
    }
    get type() { return this.#type; }
    get bubbles() { return this.#bubbles; }
    get cancelable() { return this.#cancelable; }
    get composed() { return this.#composed; }
    get timeStamp() { return this.#timeStamp; }
    get target() { return this[kTarget]; }
    get srcElement() { return this[kTarget]; }
    get currentTarget() { return this[kCurrent]; }
    get eventPhase() { return this[kDispatching] ? 2 : 0; }
    get defaultPrevented() { return this[kCanceled]; }
    get returnValue() { return !this[kCanceled]; }
    get isTrusted() { return this[kTrusted] === true; }
    get cancelBubble() { return this[kStop]; }
    set cancelBubble(value) { if (value) this[kStop] = true; }
    composedPath() { return this[kDispatching] && this[kCurrent] ? [this[kCurrent]] : []; }
    preventDefault() { if (this.#cancelable) this[kCanceled] = true; }
    stopPropagation() { this[kStop] = true; }
    stopImmediatePropagation() { this[kStop] = true; this[kStopNow] = true; }
  }
  for (const [key, value] of Object.entries({ NONE: 0, CAPTURING_PHASE: 1, AT_TARGET: 2, BUBBLING_PHASE: 3 })) {
    Object.defineProperty(Event, key, { value, enumerable: true });
    Object.defineProperty(Event.prototype, key, { value, enumerable: true });
  }
  Object.defineProperty(Event.prototype, Symbol.toStringTag, { value: "Event", configurable: true });

  class CustomEvent extends Event {
    #detail;
    constructor(type, init = undefined) {
      super(type, init);
      this.#detail = init?.detail ?? null;
    }
    get detail() { return this.#detail; }
  }
  Object.defineProperty(CustomEvent.prototype, Symbol.toStringTag, { value: "CustomEvent", configurable: true });

  const kListeners = Symbol("listeners");
  const flatten = (options) => (typeof options === "boolean" ? { capture: options } : { capture: !!options?.capture, once: !!options?.once, passive: !!options?.passive, signal: options?.signal });

  class EventTarget {
    constructor() {
      Object.defineProperty(this, kListeners, { value: new Map() });
    }
    addEventListener(type, callback, options = undefined) {
      if (callback === null || callback === undefined) return;
      const { capture, once, passive, signal } = flatten(options);
      if (signal?.aborted) return;
      type = String(type);
      let list = this[kListeners].get(type);
      if (!list) this[kListeners].set(type, (list = []));
      if (list.some((l) => l.callback === callback && l.capture === capture)) return;
      const listener = { callback, capture, once, passive, removed: false };
      list.push(listener);
      signal?.addEventListener("abort", () => this.removeEventListener(type, callback, { capture }));
    }
    removeEventListener(type, callback, options = undefined) {
      const { capture } = flatten(options);
      const list = this[kListeners].get(String(type));
      if (!list) return;
      const index = list.findIndex((l) => l.callback === callback && l.capture === capture);
      if (index >= 0) {
        list[index].removed = true;
        list.splice(index, 1);
      }
    }
    dispatchEvent(event) {
      if (!(event instanceof Event)) throw new TypeError("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
      if (event[kDispatching]) throw new DOMException("The event is already being dispatched.", "InvalidStateError");
      event[kDispatching] = true;
      event[kTarget] = this;
      event[kCurrent] = this;
      const list = this[kListeners].get(event.type);
      for (const listener of list ? [...list] : []) {
        if (listener.removed) continue;
        if (listener.once) this.removeEventListener(event.type, listener.callback, { capture: listener.capture });
        try {
          if (typeof listener.callback === "function") listener.callback.call(this, event);
          else listener.callback.handleEvent(event);
        } catch (error) {
          reportError(error);
        }
        if (event[kStopNow]) break;
      }
      const handler = this["on" + event.type];
      if (typeof handler === "function" && Object.getPrototypeOf(this) !== EventTarget.prototype) {
        try { handler.call(this, event); } catch (error) { reportError(error); }
      }
      event[kDispatching] = false;
      event[kCurrent] = null;
      return !event[kCanceled];
    }
  }
  Object.defineProperty(EventTarget.prototype, Symbol.toStringTag, { value: "EventTarget", configurable: true });

  function reportError(error) {
    console.error("Uncaught", error);
  }

  const kAborted = Symbol("aborted");
  const kReason = Symbol("reason");
  const kCreate = Symbol("create");

  class AbortSignal extends EventTarget {
    constructor(key = undefined) {
      if (key !== kCreate) throw new TypeError("Illegal constructor");
      super();
      this[kAborted] = false;
      this[kReason] = undefined;
      this.onabort = null;
    }
    get aborted() { return this[kAborted]; }
    get reason() { return this[kReason]; }
    throwIfAborted() { if (this[kAborted]) throw this[kReason]; }
    static abort(reason = undefined) {
      const signal = new AbortSignal(kCreate);
      signal[kAborted] = true;
      signal[kReason] = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
      return signal;
    }
    static timeout(ms) {
      const signal = new AbortSignal(kCreate);
      setTimeout(() => abortSignal(signal, new DOMException("The operation was aborted due to timeout", "TimeoutError")), Number(ms));
      return signal;
    }
    static any(signals) {
      const signal = new AbortSignal(kCreate);
      for (const s of signals) {
        if (s.aborted) {
          signal[kAborted] = true;
          signal[kReason] = s.reason;
          return signal;
        }
      }
      for (const s of signals) s.addEventListener("abort", () => abortSignal(signal, s.reason), { once: true });
      return signal;
    }
  }
  Object.defineProperty(AbortSignal.prototype, Symbol.toStringTag, { value: "AbortSignal", configurable: true });

  function abortSignal(signal, reason) {
    if (signal[kAborted]) return;
    signal[kAborted] = true;
    signal[kReason] = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
    signal.dispatchEvent(new Event("abort"));
  }

  class AbortController {
    #signal = new AbortSignal(kCreate);
    get signal() { return this.#signal; }
    abort(reason = undefined) { abortSignal(this.#signal, reason); }
  }
  Object.defineProperty(AbortController.prototype, Symbol.toStringTag, { value: "AbortController", configurable: true });

  // The global scope is an event target, for the service-worker form of an app:
  // `addEventListener("fetch", (event) => event.respondWith(response))`.
  const scope = new EventTarget();
  for (const name of ["addEventListener", "removeEventListener", "dispatchEvent"]) {
    Object.defineProperty(globalThis, name, { value: scope[name].bind(scope), writable: true, configurable: true });
  }
  Object.defineProperty(globalThis, "self", { value: globalThis, writable: true, configurable: true });

  const kResponse = Symbol("response");
  class FetchEvent extends Event {
    #request;
    #waits = [];
    constructor(type, init) {
      super(type, init);
      if (!init?.request) throw new TypeError("Failed to construct 'FetchEvent': required member request is undefined.");
      this.#request = init.request;
      this[kResponse] = undefined;
    }
    get request() { return this.#request; }
    respondWith(response) {
      if (this[kResponse] !== undefined) throw new DOMException("respondWith() was already called", "InvalidStateError");
      this[kResponse] = Promise.resolve(response);
      this.stopImmediatePropagation();
    }
    waitUntil(promise) { this.#waits.push(Promise.resolve(promise)); }
  }
  Object.defineProperty(FetchEvent.prototype, Symbol.toStringTag, { value: "FetchEvent", configurable: true });

  internals.events = {
    // Calls `cancel(reason)` when `signal` aborts (fetch's `signal` option).
    onAbort(signal, cancel) {
      if (!(signal instanceof AbortSignal)) throw new TypeError("fetch: 'signal' must be an AbortSignal");
      signal.addEventListener("abort", () => cancel(signal.reason), { once: true });
    },
    // The handler of an app written as `addEventListener("fetch", ...)`, if it registered one.
    fetchHandler() {
      if (!(scope[kListeners].get("fetch")?.length > 0)) return undefined;
      return function handleFetchEvent(request) {
        const event = new FetchEvent("fetch", { request, cancelable: true });
        scope.dispatchEvent(event);
        if (event[kResponse] === undefined) throw new TypeError("no \"fetch\" listener called event.respondWith()");
        return event[kResponse];
      };
    },
  };

  for (const [name, value] of Object.entries({ DOMException, Event, CustomEvent, EventTarget, AbortSignal, AbortController, FetchEvent, reportError })) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  }
})
