// Web Crypto: known-answer vectors (FIPS 180, RFC 4231, RFC 5869, RFC 6070, AES-GCM test case 3),
// deterministic RSA PKCS#1 v1.5 signatures, JWK/SPKI/PKCS#8 round trips and the errors' names.
const RSA_JWK = {"kty": "RSA", "n": "5gLMDbX-TxwFALiyAhCVU1tb7qnSH56SwnQhJrJieQ3I1-KY7pRRSPwcEoYGg77Ql8XLH5GMpUTLT1iYK3QBtfSp5s5DNqKpu1REVeY-WNsz9CYmFIK7zNAAE_MCp4fpDAiJBb2Q2XI2lpbFMY2QwdH_FXHXfBgThgx50mCuh_c", "e": "AQAB", "d": "zlwIEu0LQpKS8njCTBPwxR6cNl3qBTBR32AtNfipXI4_eWD1cGdlHiQCU6QnSB_0KZbtjF8bXlOATKnhrGqh9JgjKPLJbhKEhJ-oOPE6tjMmuvyo-gtCNvu8LofgqJwLhhAzJlxHGQSw64KjiYVZC50LRIyqcmPuXdYkzU2m48E", "p": "9Q6_NooQP759TDa4Kqe3gFyzUSL_Z1JacNbxBihi86OdC5bIPNXPmP1EgTyP0hm3vBFaJrSHlFhCKKEufxrTpw", "q": "8EgNNVUYBM-2SP37qnziRZ2tQ5VlbTYu2hDgGficxLz2-omhmeyxe5_PcXdEi-aQf6DnlxuKS6H4WQqd08hzMQ", "dp": "XmtPK1Foz1ay6kGPFghHALM2-AUXCRVG-YEnnqrC7YLVyJhREHeFJDo5Qd42v8ne7Bx3csBOGM8ktojb5GdOsw", "dq": "RfrGFgVNdIFGNqX5-OJcSCgvASLuoksIhCwsCIRWrBnY2IjjDuBXpIibsxEoXpJs_S7QpDq6IWLv4IbuBnM30Q", "qi": "jhmhmCb4A7NkNs4k0s5-PzKZVrlH_62k_fLqe9JEfcK3JLS2cjcc0hwA2Qa9oHGWmU97WJoB820MvV6xH4cfJw"};
const EC_JWK = {"kty": "EC", "x": "m8YMQ5U4y0VjjoxgLl9Aysqwfu5R8YHAtGcAb2Xua2U", "y": "1paIxL9XAE9LZCE85QUGa8wFxAEWacI76zuDKvjqja4", "crv": "P-256", "d": "235SeR5XP8KvgoI6W6Rj7Voy0_wQlLpNV-7dr8xbaiA"};
async function probe() {
  const out = {};
  const enc = new TextEncoder();
  const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  const bytes = (h) => new Uint8Array(h.match(/../g).map((b) => parseInt(b, 16)));
  const s = crypto.subtle;
  out.digest = {};
  for (const alg of ["SHA-1", "SHA-256", "SHA-384", "SHA-512"]) out.digest[alg] = [hex(await s.digest(alg, enc.encode("abc"))), hex(await s.digest({ name: alg.toLowerCase() }, new Uint8Array(0)))];
  // RFC 4231 test case 2.
  const hmacKey = await s.importKey("raw", enc.encode("Jefe"), { name: "HMAC", hash: "SHA-256" }, true, ["sign", "verify"]);
  const mac = await s.sign("HMAC", hmacKey, enc.encode("what do ya want for nothing?"));
  out.hmac = [hex(mac), await s.verify("HMAC", hmacKey, mac, enc.encode("what do ya want for nothing?")), await s.verify("HMAC", hmacKey, mac, enc.encode("tampered")), hmacKey.algorithm, hmacKey.usages, hmacKey.type, hmacKey.extractable];
  out.hmacJwk = await s.exportKey("jwk", hmacKey);
  const hmac512 = await s.importKey("raw", bytes("0b".repeat(20)), { name: "HMAC", hash: { name: "SHA-512" } }, false, ["sign"]);
  out.hmac512 = hex(await s.sign({ name: "HMAC" }, hmac512, enc.encode("Hi There")));
  // RFC 5869 test case 1.
  const ikm = await s.importKey("raw", bytes("0b".repeat(22)), "HKDF", false, ["deriveBits"]);
  out.hkdf = hex(await s.deriveBits({ name: "HKDF", hash: "SHA-256", salt: bytes("000102030405060708090a0b0c"), info: bytes("f0f1f2f3f4f5f6f7f8f9") }, ikm, 336));
  // RFC 6070.
  const password = await s.importKey("raw", enc.encode("password"), { name: "PBKDF2" }, false, ["deriveBits", "deriveKey"]);
  out.pbkdf2 = [hex(await s.deriveBits({ name: "PBKDF2", hash: "SHA-1", salt: enc.encode("salt"), iterations: 1 }, password, 160)), hex(await s.deriveBits({ name: "PBKDF2", hash: "SHA-1", salt: enc.encode("salt"), iterations: 4096 }, password, 160))];
  const derived = await s.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt: enc.encode("salt"), iterations: 10 }, password, { name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]);
  out.deriveKey = [derived.algorithm, hex(await s.exportKey("raw", derived))];
  // AES-GCM, the GCM specification's test case 3.
  const aes = await s.importKey("raw", bytes("feffe9928665731c6d6a8f9467308308"), "AES-GCM", true, ["encrypt", "decrypt"]);
  const plain = bytes("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
  const sealed = await s.encrypt({ name: "AES-GCM", iv: bytes("cafebabefacedbaddecaf888") }, aes, plain);
  out.aesGcm = [hex(sealed), hex(await s.decrypt({ name: "AES-GCM", iv: bytes("cafebabefacedbaddecaf888") }, aes, sealed)) === hex(plain)];
  const tampered = new Uint8Array(sealed); tampered[0] ^= 1;
  try { await s.decrypt({ name: "AES-GCM", iv: bytes("cafebabefacedbaddecaf888") }, aes, tampered); out.tampered = "no error"; } catch (e) { out.tampered = [e.name, e instanceof DOMException]; }
  const aad = await s.encrypt({ name: "AES-GCM", iv: new Uint8Array(12), additionalData: enc.encode("header") }, aes, enc.encode("secret"));
  out.aesGcmAad = hex(aad);
  const cbcKey = await s.importKey("raw", bytes("2b7e151628aed2a6abf7158809cf4f3c"), { name: "AES-CBC" }, false, ["encrypt", "decrypt"]);
  const cbc = await s.encrypt({ name: "AES-CBC", iv: bytes("000102030405060708090a0b0c0d0e0f") }, cbcKey, enc.encode("sixteen byte msg and more"));
  out.aesCbc = [hex(cbc), new TextDecoder().decode(await s.decrypt({ name: "AES-CBC", iv: bytes("000102030405060708090a0b0c0d0e0f") }, cbcKey, cbc))];
  out.aesJwk = await s.exportKey("jwk", aes);
  // RSA PKCS#1 v1.5 signatures are deterministic: they must match Node's byte for byte.
  const rsaPrivate = await s.importKey("jwk", RSA_JWK, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["sign"]);
  const { d, p, q, dp, dq, qi, ...publicJwk } = RSA_JWK;
  const rsaPublic = await s.importKey("jwk", publicJwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["verify"]);
  const rsaSig = await s.sign("RSASSA-PKCS1-v1_5", rsaPrivate, enc.encode("message"));
  out.rsa = [hex(rsaSig), await s.verify("RSASSA-PKCS1-v1_5", rsaPublic, rsaSig, enc.encode("message")), await s.verify("RSASSA-PKCS1-v1_5", rsaPublic, rsaSig, enc.encode("other")), rsaPublic.algorithm.modulusLength, Array.from(rsaPublic.algorithm.publicExponent), rsaPublic.algorithm.hash];
  out.rsaExport = [await s.exportKey("jwk", rsaPrivate), hex(await s.exportKey("spki", rsaPublic)), (await s.exportKey("pkcs8", rsaPrivate)).byteLength > 600];
  const pssPrivate = await s.importKey("pkcs8", await s.exportKey("pkcs8", rsaPrivate), { name: "RSA-PSS", hash: "SHA-256" }, false, ["sign"]);
  const pssPublic = await s.importKey("spki", await s.exportKey("spki", rsaPublic), { name: "RSA-PSS", hash: "SHA-256" }, false, ["verify"]);
  const pss = await s.sign({ name: "RSA-PSS", saltLength: 32 }, pssPrivate, enc.encode("message"));
  out.pss = [pss.byteLength, await s.verify({ name: "RSA-PSS", saltLength: 32 }, pssPublic, pss, enc.encode("message")), await s.verify({ name: "RSA-PSS", saltLength: 32 }, pssPublic, pss, enc.encode("nope"))];
  // ECDSA signatures are randomised: check verification, lengths and exports.
  const ecPrivate = await s.importKey("jwk", EC_JWK, { name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
  const { d: ecD, ...ecPublicJwk } = EC_JWK;
  const ecPublic = await s.importKey("jwk", ecPublicJwk, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
  const ecSig = await s.sign({ name: "ECDSA", hash: "SHA-256" }, ecPrivate, enc.encode("message"));
  out.ecdsa = [ecSig.byteLength, await s.verify({ name: "ECDSA", hash: "SHA-256" }, ecPublic, ecSig, enc.encode("message")), await s.verify({ name: "ECDSA", hash: "SHA-256" }, ecPublic, ecSig, enc.encode("other")), ecPublic.algorithm];
  out.ecExport = [await s.exportKey("jwk", ecPrivate), hex(await s.exportKey("raw", ecPublic)), hex(await s.exportKey("spki", ecPublic))];
  const raw = await s.importKey("raw", await s.exportKey("raw", ecPublic), { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
  out.ecRaw = await s.verify({ name: "ECDSA", hash: "SHA-256" }, raw, ecSig, enc.encode("message"));
  const pair = await s.generateKey({ name: "ECDSA", namedCurve: "P-384" }, false, ["sign", "verify"]);
  const pairSig = await s.sign({ name: "ECDSA", hash: "SHA-384" }, pair.privateKey, enc.encode("x"));
  out.generated = [pair.publicKey.type, pair.privateKey.type, pair.publicKey.extractable, pair.privateKey.extractable, pair.publicKey.usages, pair.privateKey.usages, pairSig.byteLength, await s.verify({ name: "ECDSA", hash: "SHA-384" }, pair.publicKey, pairSig, enc.encode("x"))];
  const hmacGen = await s.generateKey({ name: "HMAC", hash: "SHA-512" }, true, ["sign"]);
  out.hmacGen = [hmacGen.algorithm, (await s.exportKey("raw", hmacGen)).byteLength];
  const aesGen = await s.generateKey({ name: "AES-CBC", length: 192 }, true, ["encrypt"]);
  out.aesGen = [aesGen.algorithm, (await s.exportKey("raw", aesGen)).byteLength];
  const errors = {};
  // Node 20 names one of these "InvalidAccessException"; the standard says InvalidAccessError.
  const attempt = async (name, fn) => { try { await fn(); errors[name] = "no error"; } catch (e) { errors[name] = e.name === "InvalidAccessException" ? "InvalidAccessError" : e.name; } };
  await attempt("unknownAlgorithm", () => s.digest("MD5", new Uint8Array(1)));
  await attempt("wrongUsage", async () => s.sign("HMAC", await s.importKey("raw", new Uint8Array(8), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]), new Uint8Array(1)));
  await attempt("badUsage", () => s.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["sign"]));
  await attempt("notExtractable", () => s.exportKey("raw", cbcKey));
  await attempt("badAesLength", () => s.importKey("raw", new Uint8Array(10), "AES-GCM", false, ["encrypt"]));
  await attempt("wrongKeyType", () => s.sign({ name: "ECDSA", hash: "SHA-256" }, hmacKey, new Uint8Array(1)));
  await attempt("notBuffer", () => s.digest("SHA-256", "text"));
  await attempt("illegalKey", () => new CryptoKey());
  out.errors = errors;
  out.tags = [String(hmacKey), String(crypto.subtle)];
  return out;
}
