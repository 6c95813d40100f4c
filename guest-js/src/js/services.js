// Service bindings in the Workers shape: `env.USERS.fetch(input, init)` is a `fetch` to
// `http://users.kiln.internal` with the path and query of `input` (a Request, an absolute URL
// whose host is ignored, or a path), which the host serves in the process from the app `users`.
(function (internals) {
  "use strict";

  class Fetcher {
    #origin;

    constructor(origin) {
      this.#origin = origin;
    }

    /** Calls the bound app; resolves to its Response, as `fetch` does. */
    fetch(input, init) {
      try {
        const isRequest = input instanceof Request;
        const text = isRequest ? input.url : String(input);
        const url = new URL(text.startsWith("/") ? this.#origin + text : text);
        const target = this.#origin + url.pathname + url.search;
        if (!isRequest && init === undefined) return fetch(target);
        const source = new Request(isRequest ? input : target, init);
        const { method, headers, body, redirect, signal } = source;
        return fetch(target, { method, headers, body, redirect, signal });
      } catch (error) {
        return Promise.reject(error);
      }
    }

    connect() {
      throw new TypeError("connect() is not supported on a Kiln service binding");
    }
  }

  Object.defineProperty(Fetcher.prototype, Symbol.toStringTag, { value: "Fetcher" });

  internals.services = {
    /**
     * Runs the Workers form of a scheduled event, `target.scheduled(event, env, ctx)`, and
     * what it passed to `ctx.waitUntil`.
     */
    async scheduled(target, cron, scheduledTime, env) {
      if (typeof target?.scheduled !== "function") {
        throw new TypeError("the module's default export has no scheduled(event, env, ctx) handler");
      }
      const pending = [];
      const event = { type: "scheduled", cron, scheduledTime, noRetry() {} };
      const ctx = { waitUntil(promise) { pending.push(promise); }, passThroughOnException() {} };
      await target.scheduled(event, env, ctx);
      await Promise.all(pending);
    },
    /** Adds `[binding, app]` pairs to `env`, keeping what the app set itself. */
    bind(env, pairs) {
      for (const [binding, app] of pairs) {
        if (!Object.prototype.hasOwnProperty.call(env, binding)) {
          const fetcher = new Fetcher(`http://${app}.kiln.internal`);
          Object.defineProperty(env, binding, { value: fetcher, enumerable: true, configurable: true, writable: true });
        }
      }
    },
  };
})
