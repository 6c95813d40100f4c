// structuredClone (HTML Standard's structured serialisation, in one pass): primitives, wrappers,
// Date, RegExp, ArrayBuffer and views, Map, Set, arrays, plain objects, errors, Blob and File,
// with shared and circular references kept; anything else is a DataCloneError.
(function (internals) {
  "use strict";
  const errorTypes = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
  const typed = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array];
  const uncloneable = (value) => new DOMException(`${typeof value === "function" ? "function" : Object.prototype.toString.call(value)} could not be cloned.`, "DataCloneError");

  function structuredClone(value, options = undefined) {
    if (arguments.length === 0) throw new TypeError("structuredClone: 1 argument required, but only 0 present.");
    const transfer = options?.transfer ?? [];
    const memory = new Map();
    const clone = (input) => {
      if (typeof input === "symbol") throw uncloneable(input);
      if (typeof input === "function") throw uncloneable(input);
      if (input === null || typeof input !== "object") return input;
      if (memory.has(input)) return memory.get(input);
      const remember = (output) => {
        memory.set(input, output);
        return output;
      };
      const tag = Object.prototype.toString.call(input);
      if (Array.isArray(input)) {
        const output = remember(new Array(input.length));
        for (const key of Object.keys(input)) output[key] = clone(input[key]);
        return output;
      }
      if (input instanceof Date) return remember(new Date(input.getTime()));
      if (input instanceof RegExp) return remember(new RegExp(input.source, input.flags));
      if (input instanceof ArrayBuffer) return remember(input.slice(0));
      if (ArrayBuffer.isView(input)) {
        const buffer = clone(input.buffer);
        if (input instanceof DataView) return remember(new DataView(buffer, input.byteOffset, input.byteLength));
        const Type = typed.find((t) => input instanceof t);
        return remember(new Type(buffer, input.byteOffset, input.length));
      }
      if (input instanceof Map) {
        const output = remember(new Map());
        for (const [k, v] of input) output.set(clone(k), clone(v));
        return output;
      }
      if (input instanceof Set) {
        const output = remember(new Set());
        for (const v of input) output.add(clone(v));
        return output;
      }
      if (tag === "[object Boolean]") return remember(Object(Boolean.prototype.valueOf.call(input)));
      if (tag === "[object Number]") return remember(Object(Number.prototype.valueOf.call(input)));
      if (tag === "[object String]") return remember(Object(String.prototype.valueOf.call(input)));
      if (tag === "[object BigInt]") return remember(Object(BigInt.prototype.valueOf.call(input)));
      if (input instanceof Error) {
        const Type = errorTypes[input.name] ?? Error;
        const output = remember(Object.create(Type.prototype));
        if (input.message !== undefined) Object.defineProperty(output, "message", { value: String(input.message), writable: true, configurable: true });
        if (input.stack !== undefined) Object.defineProperty(output, "stack", { value: String(input.stack), writable: true, configurable: true });
        if ("cause" in input) Object.defineProperty(output, "cause", { value: clone(input.cause), writable: true, configurable: true });
        return output;
      }
      if (typeof Blob === "function" && input instanceof Blob) {
        const bytes = internals.blob.bytes(input);
        return remember(input instanceof File ? new File([bytes], input.name, { type: input.type, lastModified: input.lastModified }) : new Blob([bytes], { type: input.type }));
      }
      if (tag !== "[object Object]" || input instanceof Promise || input instanceof WeakMap || input instanceof WeakSet || typeof input.then === "function" && Object.getPrototypeOf(input) !== Object.prototype) {
        throw uncloneable(input);
      }
      const output = remember({});
      for (const key of Object.keys(input)) output[key] = clone(input[key]);
      return output;
    };
    const result = clone(value);
    for (const buffer of transfer) {
      if (!(buffer instanceof ArrayBuffer)) throw new DOMException("Value not transferable", "DataCloneError");
      if (typeof buffer.transfer === "function") buffer.transfer();
    }
    return result;
  }

  Object.defineProperty(globalThis, "structuredClone", { value: structuredClone, writable: true, configurable: true });
})
