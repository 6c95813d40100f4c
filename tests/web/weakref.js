// WeakRef and FinalizationRegistry: construction, deref, tokens and the errors for values that
// cannot be held weakly.
async function probe() {
  const attempt = (f) => {
    try {
      return f();
    } catch (e) {
      return e.constructor.name;
    }
  };
  const target = { name: "kept" };
  const ref = new WeakRef(target);
  const registry = new FinalizationRegistry(() => {});
  const token = {};
  registry.register(target, "held", token);
  return {
    types: [typeof WeakRef, typeof FinalizationRegistry],
    deref: ref.deref() === target,
    name: ref.deref().name,
    tags: [Object.prototype.toString.call(ref), Object.prototype.toString.call(registry)],
    unregister: registry.unregister(token),
    unregisterAgain: registry.unregister(token),
    unregisterUnknown: registry.unregister({}),
    registerPrimitive: attempt(() => registry.register(1, "x")),
    heldIsTarget: attempt(() => registry.register(target, target)),
    weakRefOfPrimitive: attempt(() => new WeakRef("text")),
    callWithoutNew: attempt(() => WeakRef(target)),
    registryNeedsFunction: attempt(() => new FinalizationRegistry(1)),
  };
}
