// `crypto.subtle` and `CryptoKey` (Web Cryptography API): algorithm and usage checks, JWK, and key
// bookkeeping here; the cryptography in Rust (`src/apis/crypto.rs`, `internals.native.crypto`).
(function (internals) {
  "use strict";
  const native = internals.native.crypto;
  const kKey = Symbol("key");
  const kCreate = Symbol("create");
  const tag = (cls, name) => Object.defineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true });
  const domError = (name, message) => new DOMException(message, name);

  // Native failures carry the DOMException name they stand for.
  const nativeNames = new Set(["OperationError", "DataError", "NotSupportedError", "InvalidAccessError"]);
  function run(fn, ...args) {
    try {
      return fn(...args);
    } catch (error) {
      if (error instanceof Error && nativeNames.has(error.name)) throw domError(error.name, error.message);
      throw error;
    }
  }

  const names = ["RSASSA-PKCS1-v1_5", "RSA-PSS", "ECDSA", "AES-CBC", "AES-GCM", "HMAC", "SHA-1", "SHA-256", "SHA-384", "SHA-512", "HKDF", "PBKDF2"];
  const unsupported = ["RSA-OAEP", "ECDH", "AES-CTR", "AES-KW", "Ed25519", "X25519"];
  const byLowerName = new Map([...names, ...unsupported].map((n) => [n.toLowerCase(), n]));
  const hashes = ["SHA-1", "SHA-256", "SHA-384", "SHA-512"];

  function normalize(algorithm) {
    const object = typeof algorithm === "string" ? { name: algorithm } : algorithm;
    if (object === null || typeof object !== "object" || object.name === undefined) {
      throw new TypeError("Algorithm: name: Missing or not a string");
    }
    const name = byLowerName.get(String(object.name).toLowerCase());
    if (name === undefined || unsupported.includes(name)) throw domError("NotSupportedError", "Unrecognized algorithm name");
    return { ...object, name };
  }
  function hashOf(hash) {
    if (hash === undefined) throw new TypeError("Algorithm: hash: Missing");
    const name = normalize(hash).name;
    if (!hashes.includes(name)) throw domError("NotSupportedError", "Unrecognized hash name");
    return name;
  }
  function bufferSource(value, what = "data") {
    if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
    if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
    throw new TypeError(`Failed to execute: ${what} is not of type 'ArrayBuffer' or 'ArrayBufferView'`);
  }
  const toBuffer = (bytes) => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);

  function base64url(bytes) {
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function fromBase64url(text, field) {
    if (typeof text !== "string") throw domError("DataError", `The JWK member "${field}" is missing or not a string`);
    try {
      const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
      return Uint8Array.from(binary, (c) => c.charCodeAt(0));
    } catch {
      throw domError("DataError", `The JWK member "${field}" is not base64url`);
    }
  }
  // Big-endian integers in JWKs and RSA algorithms drop leading zero bytes.
  const trimmed = (bytes) => {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    return bytes.subarray(i);
  };
  const curveSize = { "P-256": 32, "P-384": 48 };
  const padded = (bytes, size) => {
    if (bytes.length >= size) return bytes;
    const out = new Uint8Array(size);
    out.set(bytes, size - bytes.length);
    return out;
  };

  class CryptoKey {
    constructor(key = undefined) {
      if (key !== kCreate) throw new TypeError("Illegal constructor");
    }
    get type() { return this[kKey].type; }
    get extractable() { return this[kKey].extractable; }
    get algorithm() { return this[kKey].algorithm; }
    get usages() { return this[kKey].usages; }
  }
  tag(CryptoKey, "CryptoKey");

  function makeKey(type, extractable, algorithm, usages, material) {
    const key = new CryptoKey(kCreate);
    Object.defineProperty(key, kKey, { value: { type, extractable: !!extractable, algorithm: Object.freeze(algorithm), usages: Object.freeze([...usages]), ...material } });
    return key;
  }
  function internal(key, name, usage) {
    const slot = key?.[kKey];
    if (!slot) throw new TypeError("parameter is not of type 'CryptoKey'");
    if (name !== undefined && slot.algorithm.name !== name) throw domError("InvalidAccessError", "The requested operation is not valid for the provided key");
    if (usage !== undefined && !slot.usages.includes(usage)) throw domError("InvalidAccessError", "The requested operation is not valid for the provided key");
    return slot;
  }

  const allowed = {
    HMAC: { secret: ["sign", "verify"] },
    "AES-GCM": { secret: ["encrypt", "decrypt", "wrapKey", "unwrapKey"] },
    "AES-CBC": { secret: ["encrypt", "decrypt", "wrapKey", "unwrapKey"] },
    PBKDF2: { secret: ["deriveBits", "deriveKey"] },
    HKDF: { secret: ["deriveBits", "deriveKey"] },
    ECDSA: { private: ["sign"], public: ["verify"] },
    "RSASSA-PKCS1-v1_5": { private: ["sign"], public: ["verify"] },
    "RSA-PSS": { private: ["sign"], public: ["verify"] },
  };
  function checkUsages(name, type, usages) {
    usages = [...usages];
    const permitted = allowed[name][type] ?? [];
    for (const usage of usages) {
      if (!permitted.includes(usage)) throw domError("SyntaxError", `Unsupported key usage for a ${name} key`);
    }
    if (usages.length === 0 && type !== "public") throw domError("SyntaxError", "Usages cannot be empty when creating a key.");
    return [...new Set(usages)];
  }

  const blockBits = { "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024 };
  const hmacJwkAlg = { "SHA-1": "HS1", "SHA-256": "HS256", "SHA-384": "HS384", "SHA-512": "HS512" };
  const rsaJwkAlg = {
    "RSASSA-PKCS1-v1_5": { "SHA-1": "RS1", "SHA-256": "RS256", "SHA-384": "RS384", "SHA-512": "RS512" },
    "RSA-PSS": { "SHA-1": "PS1", "SHA-256": "PS256", "SHA-384": "PS384", "SHA-512": "PS512" },
  };
  const aesJwkAlg = (name, bits) => `A${bits}${name === "AES-GCM" ? "GCM" : "CBC"}`;

  function aesLength(length) {
    if (![128, 192, 256].includes(length)) throw domError("OperationError", "AES key length must be 128, 192 or 256 bits");
    return length;
  }

  function secretKey(algorithm, bytes, extractable, usages) {
    const name = algorithm.name;
    usages = checkUsages(name, "secret", usages);
    if (name === "HMAC") {
      const hash = hashOf(algorithm.hash);
      let length = bytes.length * 8;
      if (algorithm.length !== undefined) {
        if (algorithm.length > length || algorithm.length <= length - 8) throw domError("DataError", "Invalid key length");
        length = algorithm.length;
      }
      if (length === 0) throw domError("DataError", "Zero-length key is not supported");
      return makeKey("secret", extractable, { name, length, hash: { name: hash } }, usages, { secret: bytes });
    }
    if (name === "AES-GCM" || name === "AES-CBC") {
      if (![16, 24, 32].includes(bytes.length)) throw domError("DataError", "Invalid key length");
      return makeKey("secret", extractable, { name, length: bytes.length * 8 }, usages, { secret: bytes });
    }
    if (extractable) throw domError("SyntaxError", `${name} keys are not extractable`);
    return makeKey("secret", false, { name }, usages, { secret: bytes });
  }

  function rsaAlgorithm(name, hash, pair) {
    return { name, modulusLength: pair.modulusLength, publicExponent: pair.publicExponent, hash: { name: hash } };
  }

  function importKey(format, keyData, algorithm, extractable, usages) {
    algorithm = normalize(algorithm);
    const name = algorithm.name;
    if (!allowed[name]) throw domError("NotSupportedError", `${name} keys cannot be imported`);
    if (format === "jwk") {
      if (keyData === null || typeof keyData !== "object" || ArrayBuffer.isView(keyData) || keyData instanceof ArrayBuffer) throw new TypeError("keyData must be a JsonWebKey");
      if (keyData.ext === false && extractable) throw domError("DataError", "The JWK's ext is false but extractable was requested");
      if (Array.isArray(keyData.key_ops) && [...usages].some((u) => !keyData.key_ops.includes(u))) throw domError("DataError", "The JWK's key_ops do not allow these usages");
    } else if (["raw", "pkcs8", "spki"].includes(format)) {
      keyData = bufferSource(keyData, "keyData");
    } else {
      throw new TypeError(`Invalid format: ${format}`);
    }
    if (allowed[name].secret) {
      let bytes;
      if (format === "raw") bytes = keyData;
      else if (format === "jwk") {
        if (keyData.kty !== "oct") throw domError("DataError", "The JWK's kty must be \"oct\"");
        bytes = fromBase64url(keyData.k, "k");
      } else throw domError("NotSupportedError", `Unable to import ${name} key with format ${format}`);
      return secretKey(algorithm, bytes, extractable, usages);
    }
    if (name === "ECDSA") {
      const curve = String(algorithm.namedCurve);
      if (!curveSize[curve]) throw domError("NotSupportedError", "Unrecognized namedCurve");
      let data = keyData;
      if (format === "jwk") {
        if (keyData.kty !== "EC") throw domError("DataError", "The JWK's kty must be \"EC\"");
        if (keyData.crv !== curve) throw domError("DataError", "The JWK's crv does not match namedCurve");
        data = { x: fromBase64url(keyData.x, "x"), y: fromBase64url(keyData.y, "y") };
        if (keyData.d !== undefined) data.d = fromBase64url(keyData.d, "d");
      }
      const pair = run(native.ecImport, curve, format, data);
      const type = pair.pkcs8 ? "private" : "public";
      usages = checkUsages(name, type, usages);
      return makeKey(type, extractable, { name, namedCurve: curve }, usages, pair);
    }
    // RSA
    const hash = hashOf(algorithm.hash);
    let data = keyData;
    if (format === "raw") throw domError("NotSupportedError", `Unable to import ${name} key with format raw`);
    if (format === "jwk") {
      if (keyData.kty !== "RSA") throw domError("DataError", "The JWK's kty must be \"RSA\"");
      data = {};
      for (const field of ["n", "e", "d", "p", "q"]) if (keyData[field] !== undefined) data[field] = fromBase64url(keyData[field], field);
    }
    const pair = run(native.rsaImport, format, data);
    const type = pair.pkcs8 ? "private" : "public";
    usages = checkUsages(name, type, usages);
    return makeKey(type, extractable, rsaAlgorithm(name, hash, pair), usages, pair);
  }

  function exportKey(format, key) {
    const slot = internal(key);
    if (!slot.extractable) throw domError("InvalidAccessError", "key is not extractable");
    const name = slot.algorithm.name;
    const jwkBase = () => ({ key_ops: [...slot.usages], ext: slot.extractable });
    if (slot.type === "secret") {
      if (format === "raw") return toBuffer(slot.secret);
      if (format === "jwk") {
        const jwk = { ...jwkBase(), kty: "oct", k: base64url(slot.secret) };
        if (name === "HMAC") jwk.alg = hmacJwkAlg[slot.algorithm.hash.name];
        else jwk.alg = aesJwkAlg(name, slot.algorithm.length);
        return jwk;
      }
      throw domError("NotSupportedError", `Unable to export ${name} secret key using ${format} format`);
    }
    const isPrivate = slot.type === "private";
    if (format === "pkcs8") {
      if (!isPrivate) throw domError("InvalidAccessError", "Unable to export a public key using pkcs8 format");
      return toBuffer(slot.pkcs8);
    }
    if (format === "spki") {
      if (isPrivate) throw domError("InvalidAccessError", "Unable to export a private key using spki format");
      return toBuffer(slot.spki);
    }
    const der = isPrivate ? slot.pkcs8 : slot.spki;
    if (name === "ECDSA") {
      const curve = slot.algorithm.namedCurve;
      if (format === "raw") {
        if (isPrivate) throw domError("InvalidAccessError", "Unable to export a private key using raw format");
        return toBuffer(run(native.ecExport, curve, "raw", der, false));
      }
      if (format === "jwk") {
        const parts = run(native.ecExport, curve, "jwk", der, isPrivate);
        const jwk = { ...jwkBase(), kty: "EC", crv: curve, x: base64url(parts.x), y: base64url(parts.y) };
        if (parts.d) jwk.d = base64url(padded(parts.d, curveSize[curve]));
        return jwk;
      }
    } else if (format === "jwk") {
      const parts = run(native.rsaExport, der, isPrivate);
      const jwk = { ...jwkBase(), kty: "RSA", alg: rsaJwkAlg[name][slot.algorithm.hash.name] };
      for (const field of ["n", "e", "d", "p", "q", "dp", "dq", "qi"]) if (parts[field]) jwk[field] = base64url(trimmed(parts[field]));
      return jwk;
    }
    throw domError("NotSupportedError", `Unable to export ${name} key using ${format} format`);
  }

  function generateKey(algorithm, extractable, usages) {
    algorithm = normalize(algorithm);
    const name = algorithm.name;
    if (name === "HMAC") {
      const hash = hashOf(algorithm.hash);
      const length = algorithm.length ?? blockBits[hash];
      if (!(length > 0)) throw domError("OperationError", "Invalid HMAC key length");
      const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(length / 8)));
      return secretKey({ name, hash, length }, bytes, extractable, usages);
    }
    if (name === "AES-GCM" || name === "AES-CBC") {
      const bytes = crypto.getRandomValues(new Uint8Array(aesLength(Number(algorithm.length)) / 8));
      return secretKey({ name }, bytes, extractable, usages);
    }
    if (name === "ECDSA" || name === "RSASSA-PKCS1-v1_5" || name === "RSA-PSS") {
      const all = [...usages];
      const publicUsages = all.filter((u) => allowed[name].public.includes(u));
      const privateUsages = all.filter((u) => allowed[name].private.includes(u));
      if (all.some((u) => !publicUsages.includes(u) && !privateUsages.includes(u))) throw domError("SyntaxError", `Unsupported key usage for a ${name} key`);
      if (privateUsages.length === 0) throw domError("SyntaxError", "Usages cannot be empty when creating a key.");
      let pair, keyAlgorithm;
      if (name === "ECDSA") {
        const curve = String(algorithm.namedCurve);
        if (!curveSize[curve]) throw domError("NotSupportedError", "Unrecognized namedCurve");
        pair = run(native.ecGenerate, curve);
        keyAlgorithm = { name, namedCurve: curve };
      } else {
        const hash = hashOf(algorithm.hash);
        const bits = Number(algorithm.modulusLength);
        if (!(bits >= 256) || bits % 8 !== 0) throw domError("OperationError", "Invalid modulusLength");
        pair = run(native.rsaGenerate, bits, bufferSource(algorithm.publicExponent, "publicExponent"));
        keyAlgorithm = rsaAlgorithm(name, hash, pair);
      }
      return {
        publicKey: makeKey("public", true, keyAlgorithm, [...new Set(publicUsages)], { spki: pair.spki }),
        privateKey: makeKey("private", extractable, keyAlgorithm, [...new Set(privateUsages)], { pkcs8: pair.pkcs8, spki: pair.spki }),
      };
    }
    throw domError("NotSupportedError", `${name} keys cannot be generated`);
  }

  function sign(algorithm, key, data) {
    algorithm = normalize(algorithm);
    const slot = internal(key, algorithm.name, "sign");
    data = bufferSource(data);
    switch (algorithm.name) {
      case "HMAC": return toBuffer(run(native.hmac, slot.algorithm.hash.name, slot.secret, data));
      case "ECDSA": return toBuffer(run(native.ecSign, slot.algorithm.namedCurve, hashOf(algorithm.hash), slot.pkcs8, data));
      case "RSASSA-PKCS1-v1_5": return toBuffer(run(native.rsaSign, false, slot.algorithm.hash.name, slot.pkcs8, data, 0));
      case "RSA-PSS": return toBuffer(run(native.rsaSign, true, slot.algorithm.hash.name, slot.pkcs8, data, saltLength(algorithm)));
    }
    throw domError("NotSupportedError", `${algorithm.name} cannot sign`);
  }
  function saltLength(algorithm) {
    const salt = Number(algorithm.saltLength);
    if (!Number.isInteger(salt) || salt < 0) throw new TypeError("Algorithm: saltLength: Missing or not an integer");
    return salt;
  }

  function verify(algorithm, key, signature, data) {
    algorithm = normalize(algorithm);
    const slot = internal(key, algorithm.name, "verify");
    signature = bufferSource(signature, "signature");
    data = bufferSource(data);
    switch (algorithm.name) {
      case "HMAC": {
        const expected = run(native.hmac, slot.algorithm.hash.name, slot.secret, data);
        if (expected.length !== signature.length) return false;
        let difference = 0;
        for (let i = 0; i < expected.length; i++) difference |= expected[i] ^ signature[i];
        return difference === 0;
      }
      case "ECDSA": return run(native.ecVerify, slot.algorithm.namedCurve, hashOf(algorithm.hash), slot.spki, data, signature);
      case "RSASSA-PKCS1-v1_5": return run(native.rsaVerify, false, slot.algorithm.hash.name, slot.spki, data, signature, 0);
      case "RSA-PSS": return run(native.rsaVerify, true, slot.algorithm.hash.name, slot.spki, data, signature, saltLength(algorithm));
    }
    throw domError("NotSupportedError", `${algorithm.name} cannot verify`);
  }

  function cipher(encrypt, algorithm, key, data) {
    algorithm = normalize(algorithm);
    const slot = internal(key, algorithm.name, encrypt ? "encrypt" : "decrypt");
    data = bufferSource(data);
    if (algorithm.name === "AES-GCM") {
      const iv = bufferSource(algorithm.iv, "iv");
      if (iv.length === 0) throw domError("OperationError", "Algorithm: iv: Must not be empty");
      const aad = algorithm.additionalData === undefined ? new Uint8Array(0) : bufferSource(algorithm.additionalData, "additionalData");
      const tagLength = algorithm.tagLength === undefined ? 128 : Number(algorithm.tagLength);
      if (![32, 64, 96, 104, 112, 120, 128].includes(tagLength)) throw domError("OperationError", `${tagLength} is not a valid AES-GCM tag length`);
      if (!encrypt && data.length < tagLength / 8) throw domError("OperationError", "The provided data is too small.");
      return toBuffer(run(native.aesGcm, encrypt, slot.secret, iv, data, aad, tagLength));
    }
    if (algorithm.name === "AES-CBC") {
      return toBuffer(run(native.aesCbc, encrypt, slot.secret, bufferSource(algorithm.iv, "iv"), data));
    }
    throw domError("NotSupportedError", `${algorithm.name} cannot ${encrypt ? "encrypt" : "decrypt"}`);
  }

  function deriveBits(algorithm, baseKey, length, usage = "deriveBits") {
    algorithm = normalize(algorithm);
    const slot = internal(baseKey, algorithm.name, usage);
    if (length === null || length === undefined || length % 8 !== 0) throw domError("OperationError", "length must be a multiple of 8");
    const hash = hashOf(algorithm.hash);
    const salt = bufferSource(algorithm.salt, "salt");
    if (algorithm.name === "PBKDF2") {
      const iterations = Number(algorithm.iterations);
      if (!(iterations > 0)) throw domError("OperationError", "iterations must be greater than 0");
      return toBuffer(run(native.pbkdf2, hash, slot.secret, salt, iterations, length));
    }
    if (algorithm.name === "HKDF") {
      return toBuffer(run(native.hkdf, hash, slot.secret, salt, bufferSource(algorithm.info, "info"), length));
    }
    throw domError("NotSupportedError", `${algorithm.name} cannot derive bits`);
  }

  function deriveKey(algorithm, baseKey, derivedKeyAlgorithm, extractable, usages) {
    const target = normalize(derivedKeyAlgorithm);
    let length;
    if (target.name === "AES-GCM" || target.name === "AES-CBC") length = aesLength(Number(target.length));
    else if (target.name === "HMAC") length = target.length ?? blockBits[hashOf(target.hash)];
    else throw domError("NotSupportedError", `Cannot derive a ${target.name} key`);
    const bits = new Uint8Array(deriveBits(algorithm, baseKey, length, "deriveKey"));
    return importKey("raw", bits, target, extractable, usages);
  }

  // Every method answers with a promise; a synchronous throw becomes a rejection.
  const async = (fn) => function (...args) {
    try {
      return Promise.resolve(fn(...args));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  class SubtleCrypto {
    constructor(key = undefined) {
      if (key !== kCreate) throw new TypeError("Illegal constructor");
    }
  }
  const methods = {
    digest: (algorithm, data) => {
      const name = normalize(algorithm).name;
      if (!hashes.includes(name)) throw domError("NotSupportedError", "Unrecognized algorithm name");
      return toBuffer(run(native.digest, name, bufferSource(data)));
    },
    importKey, exportKey, generateKey, sign, verify, deriveBits, deriveKey,
    encrypt: (algorithm, key, data) => cipher(true, algorithm, key, data),
    decrypt: (algorithm, key, data) => cipher(false, algorithm, key, data),
    wrapKey: () => { throw domError("NotSupportedError", "wrapKey is not supported"); },
    unwrapKey: () => { throw domError("NotSupportedError", "unwrapKey is not supported"); },
  };
  for (const [name, fn] of Object.entries(methods)) {
    Object.defineProperty(SubtleCrypto.prototype, name, { value: Object.defineProperty(async(fn), "name", { value: name }), writable: true, configurable: true });
  }
  tag(SubtleCrypto, "SubtleCrypto");

  const subtle = new SubtleCrypto(kCreate);
  Object.defineProperty(globalThis.crypto, "subtle", { value: subtle, enumerable: true, configurable: true });
  for (const [name, value] of Object.entries({ CryptoKey, SubtleCrypto })) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  }
})
