// DOMException, Event, EventTarget, AbortController, AbortSignal, performance, navigator.
async function probe() {
  const out = {};
  const e = new DOMException("gone", "AbortError");
  out.domException = [e.name, e.message, e.code, e instanceof Error, String(e), DOMException.ABORT_ERR, new DOMException("x").name, new DOMException("m", "NotFoundError").code, Object.prototype.toString.call(e)];
  const target = new EventTarget();
  const seen = [];
  const listener = (ev) => seen.push([ev.type, ev.target === target, ev.currentTarget === target, ev.eventPhase]);
  target.addEventListener("ping", listener);
  target.addEventListener("ping", listener);
  target.addEventListener("ping", () => seen.push("once"), { once: true });
  target.addEventListener("ping", { handleEvent(ev) { seen.push("object " + ev.type); } });
  out.dispatch = [target.dispatchEvent(new Event("ping")), target.dispatchEvent(new Event("ping"))];
  target.removeEventListener("ping", listener);
  target.dispatchEvent(new Event("ping"));
  out.seen = seen;
  const cancelable = new Event("c", { cancelable: true });
  target.addEventListener("c", (ev) => ev.preventDefault());
  out.cancel = [target.dispatchEvent(cancelable), cancelable.defaultPrevented, new Event("x").bubbles, cancelable.cancelable];
  const stops = [];
  target.addEventListener("s", (ev) => { stops.push(1); ev.stopImmediatePropagation(); });
  target.addEventListener("s", () => stops.push(2));
  target.dispatchEvent(new Event("s"));
  out.stops = stops;
  const custom = new CustomEvent("k", { detail: { a: 1 } });
  out.custom = [custom.detail, custom.type, custom instanceof Event];
  const controller = new AbortController();
  const reasons = [];
  controller.signal.addEventListener("abort", () => reasons.push(controller.signal.reason.name));
  controller.signal.onabort = () => reasons.push("onabort");
  out.beforeAbort = controller.signal.aborted;
  controller.abort();
  controller.abort();
  out.abort = [controller.signal.aborted, reasons, controller.signal.reason instanceof DOMException];
  try { controller.signal.throwIfAborted(); out.throwIfAborted = "no error"; } catch (err) { out.throwIfAborted = err.name; }
  const custom2 = new AbortController();
  custom2.abort("because");
  out.customReason = custom2.signal.reason;
  out.static = [AbortSignal.abort().aborted, AbortSignal.abort("r").reason];
  const timeout = AbortSignal.timeout(5);
  await new Promise((r) => setTimeout(r, 30));
  out.timeout = [timeout.aborted, timeout.reason.name];
  const a = new AbortController(), b = new AbortController();
  const any = AbortSignal.any([a.signal, b.signal]);
  b.abort("second");
  out.any = [any.aborted, any.reason];
  try { new AbortSignal(); out.illegal = "no error"; } catch (err) { out.illegal = err.name; }
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 20));
  const elapsed = performance.now() - t0;
  out.performance = [typeof t0, elapsed >= 15 && elapsed < 1000, performance.timeOrigin > 1.6e12];
  out.tags = [String(new Event("x")), String(new EventTarget()), String(controller), String(controller.signal)];
  return out;
}
