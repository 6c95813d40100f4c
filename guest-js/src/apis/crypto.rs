//! The native half of `crypto.subtle` (Web Cryptography API): digests, HMAC, AES-GCM/CBC,
//! PBKDF2, HKDF, ECDSA (P-256, P-384) and RSA (PKCS#1 v1.5, PSS) from the RustCrypto crates.
//! `js/crypto.js` checks arguments and usages and keeps keys: secret keys as raw bytes, private
//! keys as PKCS#8 and public keys as SPKI (DER). A failure here is a message that JS turns into
//! the `DOMException` the standard names (`OperationError`, `DataError`, ...).

use hmac::{Mac, digest::KeyInit};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rand_core::{CryptoRng, RngCore};
use rquickjs::{Ctx, Function, Object, Result, TypedArray, Value};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use sha2::Digest;

use crate::bindings::wasi::random::random::get_random_bytes;

/// Random bytes from `wasi:random`, for key generation and signature randomness.
struct WasiRng;

impl RngCore for WasiRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let bytes = get_random_bytes(dest.len() as u64);
        dest.copy_from_slice(&bytes);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for WasiRng {}

type Bytes<'js> = TypedArray<'js, u8>;
type Outcome<T> = std::result::Result<T, String>;

fn bytes<'a>(array: &'a Bytes<'_>) -> &'a [u8] {
    array.as_bytes().unwrap_or_default()
}

/// Throws `message` as an Error whose `name` JS maps to a DOMException.
fn fail(ctx: &Ctx<'_>, name: &str, message: &str) -> rquickjs::Error {
    crate::errors::throw_named(ctx, name, message)
}

fn out<'js>(ctx: &Ctx<'js>, result: Outcome<Vec<u8>>, name: &str) -> Result<Bytes<'js>> {
    match result {
        Ok(bytes) => TypedArray::new(ctx.clone(), bytes),
        Err(message) => Err(fail(ctx, name, &message)),
    }
}

/// Defines `internals.native.crypto`.
pub fn natives<'js>(ctx: &Ctx<'js>) -> Result<Object<'js>> {
    let crypto = Object::new(ctx.clone())?;
    crypto.set("digest", Function::new(ctx.clone(), digest)?)?;
    crypto.set("hmac", Function::new(ctx.clone(), hmac_sign)?)?;
    crypto.set("aesGcm", Function::new(ctx.clone(), aes_gcm)?)?;
    crypto.set("aesCbc", Function::new(ctx.clone(), aes_cbc)?)?;
    crypto.set("pbkdf2", Function::new(ctx.clone(), pbkdf2_bits)?)?;
    crypto.set("hkdf", Function::new(ctx.clone(), hkdf_bits)?)?;
    crypto.set("ecGenerate", Function::new(ctx.clone(), ec_generate)?)?;
    crypto.set("ecSign", Function::new(ctx.clone(), ec_sign)?)?;
    crypto.set("ecVerify", Function::new(ctx.clone(), ec_verify)?)?;
    crypto.set("ecImport", Function::new(ctx.clone(), ec_import)?)?;
    crypto.set("ecExport", Function::new(ctx.clone(), ec_export)?)?;
    crypto.set("rsaGenerate", Function::new(ctx.clone(), rsa_generate)?)?;
    crypto.set("rsaSign", Function::new(ctx.clone(), rsa_sign)?)?;
    crypto.set("rsaVerify", Function::new(ctx.clone(), rsa_verify)?)?;
    crypto.set("rsaImport", Function::new(ctx.clone(), rsa_import)?)?;
    crypto.set("rsaExport", Function::new(ctx.clone(), rsa_export)?)?;
    Ok(crypto)
}

fn hash_digest(hash: &str, data: &[u8]) -> Outcome<Vec<u8>> {
    Ok(match hash {
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        other => return Err(format!("Unrecognized hash name: {other}")),
    })
}

fn digest<'js>(ctx: Ctx<'js>, hash: String, data: Bytes<'js>) -> Result<Bytes<'js>> {
    out(&ctx, hash_digest(&hash, bytes(&data)), "NotSupportedError")
}

fn hmac_of<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Outcome<Vec<u8>> {
    let mut mac = <M as KeyInit>::new_from_slice(key).map_err(|e| e.to_string())?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// HMAC of `data` (JS compares signatures for `verify` in constant time).
fn hmac_sign<'js>(
    ctx: Ctx<'js>,
    hash: String,
    key: Bytes<'js>,
    data: Bytes<'js>,
) -> Result<Bytes<'js>> {
    let (key, data) = (bytes(&key), bytes(&data));
    let result = match hash.as_str() {
        "SHA-1" => hmac_of::<hmac::Hmac<sha1::Sha1>>(key, data),
        "SHA-256" => hmac_of::<hmac::Hmac<sha2::Sha256>>(key, data),
        "SHA-384" => hmac_of::<hmac::Hmac<sha2::Sha384>>(key, data),
        "SHA-512" => hmac_of::<hmac::Hmac<sha2::Sha512>>(key, data),
        other => Err(format!("Unrecognized hash name: {other}")),
    };
    out(&ctx, result, "NotSupportedError")
}

/// AES-GCM encryption (`encrypt`) or decryption with a 128-bit tag and any IV length JS allows.
#[allow(clippy::too_many_arguments, reason = "mirrors AesGcmParams")]
fn aes_gcm<'js>(
    ctx: Ctx<'js>,
    encrypt: bool,
    key: Bytes<'js>,
    iv: Bytes<'js>,
    data: Bytes<'js>,
    aad: Bytes<'js>,
    tag_bits: u32,
) -> Result<Bytes<'js>> {
    use aes_gcm::aead::{Aead, Payload};
    use aes_gcm::aes::{Aes128, Aes192, Aes256};
    use aes_gcm::{AesGcm, Nonce};
    if tag_bits != 128 {
        return Err(fail(
            &ctx,
            "NotSupportedError",
            "Only a tagLength of 128 is supported",
        ));
    }
    let (key, iv, data, aad) = (bytes(&key), bytes(&iv), bytes(&data), bytes(&aad));
    fn run<C: Aead + KeyInit>(
        encrypt: bool,
        key: &[u8],
        iv: &[u8],
        data: &[u8],
        aad: &[u8],
    ) -> Outcome<Vec<u8>> {
        let cipher = C::new_from_slice(key).map_err(|e| e.to_string())?;
        let nonce = Nonce::<C::NonceSize>::from_slice(iv);
        let payload = Payload { msg: data, aad };
        if encrypt {
            cipher
                .encrypt(nonce, payload)
                .map_err(|_| "Encryption failed".to_string())
        } else {
            cipher
                .decrypt(nonce, payload)
                .map_err(|_| "The operation failed for an operation-specific reason".to_string())
        }
    }
    type U12 = aes_gcm::aead::consts::U12;
    type U16 = aes_gcm::aead::consts::U16;
    let result = match (key.len(), iv.len()) {
        (16, 12) => run::<AesGcm<Aes128, U12>>(encrypt, key, iv, data, aad),
        (24, 12) => run::<AesGcm<Aes192, U12>>(encrypt, key, iv, data, aad),
        (32, 12) => run::<AesGcm<Aes256, U12>>(encrypt, key, iv, data, aad),
        (16, 16) => run::<AesGcm<Aes128, U16>>(encrypt, key, iv, data, aad),
        (24, 16) => run::<AesGcm<Aes192, U16>>(encrypt, key, iv, data, aad),
        (32, 16) => run::<AesGcm<Aes256, U16>>(encrypt, key, iv, data, aad),
        (_, n) if n != 12 && n != 16 => {
            return Err(fail(
                &ctx,
                "OperationError",
                "Only 96-bit and 128-bit AES-GCM IVs are supported",
            ));
        }
        _ => Err("Invalid AES key length".to_string()),
    };
    out(&ctx, result, "OperationError")
}

/// AES-CBC with PKCS#7 padding.
fn aes_cbc<'js>(
    ctx: Ctx<'js>,
    encrypt: bool,
    key: Bytes<'js>,
    iv: Bytes<'js>,
    data: Bytes<'js>,
) -> Result<Bytes<'js>> {
    use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
    let (key, iv, data) = (bytes(&key), bytes(&iv), bytes(&data));
    if iv.len() != 16 {
        return Err(fail(
            &ctx,
            "OperationError",
            "algorithm.iv must contain exactly 16 bytes",
        ));
    }
    macro_rules! run {
        ($aes:ty) => {
            if encrypt {
                cbc::Encryptor::<$aes>::new_from_slices(key, iv)
                    .map(|c| c.encrypt_padded_vec_mut::<Pkcs7>(data))
                    .map_err(|e| e.to_string())
            } else {
                cbc::Decryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(|e| e.to_string())
                    .and_then(|c| {
                        c.decrypt_padded_vec_mut::<Pkcs7>(data).map_err(|_| {
                            "The operation failed for an operation-specific reason".to_string()
                        })
                    })
            }
        };
    }
    let result = match key.len() {
        16 => run!(aes::Aes128),
        24 => run!(aes::Aes192),
        32 => run!(aes::Aes256),
        _ => Err("Invalid AES key length".to_string()),
    };
    out(&ctx, result, "OperationError")
}

fn pbkdf2_bits<'js>(
    ctx: Ctx<'js>,
    hash: String,
    password: Bytes<'js>,
    salt: Bytes<'js>,
    iterations: u32,
    bits: u32,
) -> Result<Bytes<'js>> {
    let (password, salt) = (bytes(&password), bytes(&salt));
    let mut derived = vec![0u8; (bits / 8) as usize];
    let result = match hash.as_str() {
        "SHA-1" => {
            pbkdf2::pbkdf2::<hmac::Hmac<sha1::Sha1>>(password, salt, iterations, &mut derived)
        }
        "SHA-256" => {
            pbkdf2::pbkdf2::<hmac::Hmac<sha2::Sha256>>(password, salt, iterations, &mut derived)
        }
        "SHA-384" => {
            pbkdf2::pbkdf2::<hmac::Hmac<sha2::Sha384>>(password, salt, iterations, &mut derived)
        }
        "SHA-512" => {
            pbkdf2::pbkdf2::<hmac::Hmac<sha2::Sha512>>(password, salt, iterations, &mut derived)
        }
        other => {
            return Err(fail(
                &ctx,
                "NotSupportedError",
                &format!("Unrecognized hash name: {other}"),
            ));
        }
    };
    out(
        &ctx,
        result.map(|()| derived).map_err(|e| e.to_string()),
        "OperationError",
    )
}

fn hkdf_bits<'js>(
    ctx: Ctx<'js>,
    hash: String,
    ikm: Bytes<'js>,
    salt: Bytes<'js>,
    info: Bytes<'js>,
    bits: u32,
) -> Result<Bytes<'js>> {
    let (ikm, salt, info) = (bytes(&ikm), bytes(&salt), bytes(&info));
    let mut derived = vec![0u8; (bits / 8) as usize];
    let result = match hash.as_str() {
        "SHA-1" => hkdf::Hkdf::<sha1::Sha1>::new(Some(salt), ikm).expand(info, &mut derived),
        "SHA-256" => hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), ikm).expand(info, &mut derived),
        "SHA-384" => hkdf::Hkdf::<sha2::Sha384>::new(Some(salt), ikm).expand(info, &mut derived),
        "SHA-512" => hkdf::Hkdf::<sha2::Sha512>::new(Some(salt), ikm).expand(info, &mut derived),
        other => {
            return Err(fail(
                &ctx,
                "NotSupportedError",
                &format!("Unrecognized hash name: {other}"),
            ));
        }
    };
    let result = result
        .map(|()| derived)
        .map_err(|_| "The length is too large for HKDF".to_string());
    out(&ctx, result, "OperationError")
}

/// A generated or imported key pair (or public key) in DER: `{ pkcs8?, spki }`.
fn key_pair<'js>(ctx: &Ctx<'js>, pkcs8: Option<Vec<u8>>, spki: Vec<u8>) -> Result<Object<'js>> {
    let pair = Object::new(ctx.clone())?;
    if let Some(pkcs8) = pkcs8 {
        pair.set("pkcs8", TypedArray::<u8>::new(ctx.clone(), pkcs8)?)?;
    }
    pair.set("spki", TypedArray::<u8>::new(ctx.clone(), spki)?)?;
    Ok(pair)
}

macro_rules! with_curve {
    ($ctx:expr, $curve:expr, $c:ident => $body:expr) => {
        match $curve.as_str() {
            "P-256" => {
                use p256 as $c;
                $body
            }
            "P-384" => {
                use p384 as $c;
                $body
            }
            other => Err(fail(
                &$ctx,
                "NotSupportedError",
                &format!("Unrecognized namedCurve: {other}"),
            )),
        }
    };
}

fn ec_generate<'js>(ctx: Ctx<'js>, curve: String) -> Result<Object<'js>> {
    with_curve!(ctx, curve, c => {
        let secret = c::SecretKey::random(&mut WasiRng);
        let pkcs8 = secret.to_pkcs8_der().map_err(|e| fail(&ctx, "OperationError", &e.to_string()))?;
        let spki = secret.public_key().to_public_key_der().map_err(|e| fail(&ctx, "OperationError", &e.to_string()))?;
        key_pair(&ctx, Some(pkcs8.as_bytes().to_vec()), spki.as_bytes().to_vec())
    })
}

/// An ECDSA signature (`r || s`) of `data` hashed with `hash`.
fn ec_sign<'js>(
    ctx: Ctx<'js>,
    curve: String,
    hash: String,
    pkcs8: Bytes<'js>,
    data: Bytes<'js>,
) -> Result<Bytes<'js>> {
    use p256::ecdsa::signature::hazmat::RandomizedPrehashSigner;
    let digest =
        hash_digest(&hash, bytes(&data)).map_err(|e| fail(&ctx, "NotSupportedError", &e))?;
    with_curve!(ctx, curve, c => {
        let key = c::ecdsa::SigningKey::from_pkcs8_der(bytes(&pkcs8)).map_err(|e| fail(&ctx, "DataError", &e.to_string()))?;
        let signature: c::ecdsa::Signature = key
            .sign_prehash_with_rng(&mut WasiRng, &digest)
            .map_err(|e| fail(&ctx, "OperationError", &e.to_string()))?;
        TypedArray::new(ctx.clone(), signature.to_bytes().to_vec())
    })
}

fn ec_verify<'js>(
    ctx: Ctx<'js>,
    curve: String,
    hash: String,
    spki: Bytes<'js>,
    data: Bytes<'js>,
    signature: Bytes<'js>,
) -> Result<bool> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let digest =
        hash_digest(&hash, bytes(&data)).map_err(|e| fail(&ctx, "NotSupportedError", &e))?;
    with_curve!(ctx, curve, c => {
        let key = c::ecdsa::VerifyingKey::from_public_key_der(bytes(&spki)).map_err(|e| fail(&ctx, "DataError", &e.to_string()))?;
        Ok(match c::ecdsa::Signature::from_slice(bytes(&signature)) {
            Ok(signature) => key.verify_prehash(&digest, &signature).is_ok(),
            Err(_) => false,
        })
    })
}

/// Imports an EC key: `format` is "pkcs8", "spki", "raw" (an uncompressed or compressed
/// point) or "jwk" (with `x`, `y` and, for a private key, `d` as bytes).
fn ec_import<'js>(
    ctx: Ctx<'js>,
    curve: String,
    format: String,
    data: Value<'js>,
) -> Result<Object<'js>> {
    let data_error = |e: String| fail(&ctx, "DataError", &e);
    with_curve!(ctx, curve, c => {
        let (secret, public): (Option<c::SecretKey>, c::PublicKey) = match format.as_str() {
            "pkcs8" => {
                let bytes = TypedArray::<u8>::from_value(data)?;
                let secret = c::SecretKey::from_pkcs8_der(bytes.as_bytes().unwrap_or_default()).map_err(|e| data_error(e.to_string()))?;
                let public = secret.public_key();
                (Some(secret), public)
            }
            "spki" => {
                let bytes = TypedArray::<u8>::from_value(data)?;
                (None, c::PublicKey::from_public_key_der(bytes.as_bytes().unwrap_or_default()).map_err(|e| data_error(e.to_string()))?)
            }
            "raw" => {
                let bytes = TypedArray::<u8>::from_value(data)?;
                (None, c::PublicKey::from_sec1_bytes(bytes.as_bytes().unwrap_or_default()).map_err(|e| data_error(e.to_string()))?)
            }
            "jwk" => {
                let jwk = Object::from_value(data)?;
                let coordinate = |name: &str| -> Result<Vec<u8>> {
                    let value: Option<TypedArray<u8>> = jwk.get(name)?;
                    Ok(value.and_then(|v| v.as_bytes().map(<[u8]>::to_vec)).unwrap_or_default())
                };
                let (x, y, d) = (coordinate("x")?, coordinate("y")?, coordinate("d")?);
                let mut point = vec![4u8];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let public = c::PublicKey::from_sec1_bytes(&point).map_err(|_| data_error("Invalid JWK EC key".into()))?;
                let secret = if d.is_empty() {
                    None
                } else {
                    let secret = c::SecretKey::from_slice(&d).map_err(|_| data_error("Invalid JWK EC private key".into()))?;
                    if secret.public_key() != public {
                        return Err(data_error("The JWK's d does not match its x and y".into()));
                    }
                    Some(secret)
                };
                (secret, public)
            }
            other => return Err(fail(&ctx, "NotSupportedError", &format!("Unsupported key format: {other}"))),
        };
        let pkcs8 = match secret {
            Some(secret) => Some(secret.to_pkcs8_der().map_err(|e| data_error(e.to_string()))?.as_bytes().to_vec()),
            None => None,
        };
        let spki = public.to_public_key_der().map_err(|e| data_error(e.to_string()))?;
        key_pair(&ctx, pkcs8, spki.as_bytes().to_vec())
    })
}

/// Exports an EC key as "raw" (uncompressed point, public keys) or "jwk" parts (`x`, `y`, `d`).
fn ec_export<'js>(
    ctx: Ctx<'js>,
    curve: String,
    format: String,
    der: Bytes<'js>,
    private: bool,
) -> Result<Value<'js>> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let data_error = |e: String| fail(&ctx, "OperationError", &e);
    with_curve!(ctx, curve, c => {
        let (secret, public) = if private {
            let secret = c::SecretKey::from_pkcs8_der(bytes(&der)).map_err(|e| data_error(e.to_string()))?;
            let public = secret.public_key();
            (Some(secret), public)
        } else {
            (None, c::PublicKey::from_public_key_der(bytes(&der)).map_err(|e| data_error(e.to_string()))?)
        };
        let point = public.to_encoded_point(false);
        if format == "raw" {
            return Ok(TypedArray::<u8>::new(ctx.clone(), point.as_bytes().to_vec())?.into_value());
        }
        let jwk = Object::new(ctx.clone())?;
        jwk.set("x", TypedArray::<u8>::new(ctx.clone(), point.x().map(|x| x.to_vec()).unwrap_or_default())?)?;
        jwk.set("y", TypedArray::<u8>::new(ctx.clone(), point.y().map(|y| y.to_vec()).unwrap_or_default())?)?;
        if let Some(secret) = secret {
            jwk.set("d", TypedArray::<u8>::new(ctx.clone(), secret.to_bytes().to_vec())?)?;
        }
        Ok(jwk.into_value())
    })
}

fn rsa_generate<'js>(ctx: Ctx<'js>, bits: u32, exponent: Bytes<'js>) -> Result<Object<'js>> {
    let exponent = rsa::BigUint::from_bytes_be(bytes(&exponent));
    let key = rsa::RsaPrivateKey::new_with_exp(&mut WasiRng, bits as usize, &exponent)
        .map_err(|e| fail(&ctx, "OperationError", &e.to_string()))?;
    rsa_pair(&ctx, Some(&key), &key.to_public_key())
}

fn rsa_pair<'js>(
    ctx: &Ctx<'js>,
    private: Option<&rsa::RsaPrivateKey>,
    public: &rsa::RsaPublicKey,
) -> Result<Object<'js>> {
    let pkcs8 = match private {
        Some(key) => Some(
            key.to_pkcs8_der()
                .map_err(|e| fail(ctx, "DataError", &e.to_string()))?
                .as_bytes()
                .to_vec(),
        ),
        None => None,
    };
    let spki = public
        .to_public_key_der()
        .map_err(|e| fail(ctx, "DataError", &e.to_string()))?;
    let pair = key_pair(ctx, pkcs8, spki.as_bytes().to_vec())?;
    pair.set("modulusLength", public.n().bits() as u32)?;
    pair.set(
        "publicExponent",
        TypedArray::<u8>::new(ctx.clone(), public.e().to_bytes_be())?,
    )?;
    Ok(pair)
}

/// How an RSA signature is made: PKCS#1 v1.5 or PSS, with the hash.
enum RsaScheme {
    Pkcs1(rsa::Pkcs1v15Sign),
    Pss(rsa::Pss),
}

/// A digest function and the RSA signature scheme that goes with it.
type RsaSigner = (fn(&[u8]) -> Vec<u8>, RsaScheme);

/// The digest function and signature scheme for `hash`.
fn rsa_padding(hash: &str, pss: bool, salt: usize) -> Outcome<RsaSigner> {
    macro_rules! pick {
        ($h:ty) => {{
            let scheme = if pss {
                RsaScheme::Pss(rsa::Pss::new_with_salt::<$h>(salt))
            } else {
                RsaScheme::Pkcs1(rsa::Pkcs1v15Sign::new::<$h>())
            };
            (
                (|d: &[u8]| <$h>::digest(d).to_vec()) as fn(&[u8]) -> Vec<u8>,
                scheme,
            )
        }};
    }
    Ok(match hash {
        "SHA-1" => pick!(sha1::Sha1),
        "SHA-256" => pick!(sha2::Sha256),
        "SHA-384" => pick!(sha2::Sha384),
        "SHA-512" => pick!(sha2::Sha512),
        other => return Err(format!("Unrecognized hash name: {other}")),
    })
}

#[allow(clippy::too_many_arguments, reason = "mirrors RsaPssParams")]
fn rsa_sign<'js>(
    ctx: Ctx<'js>,
    pss: bool,
    hash: String,
    pkcs8: Bytes<'js>,
    data: Bytes<'js>,
    salt: u32,
) -> Result<Bytes<'js>> {
    let key = rsa::RsaPrivateKey::from_pkcs8_der(bytes(&pkcs8))
        .map_err(|e| fail(&ctx, "DataError", &e.to_string()))?;
    let (digest, scheme) =
        rsa_padding(&hash, pss, salt as usize).map_err(|e| fail(&ctx, "NotSupportedError", &e))?;
    let hashed = digest(bytes(&data));
    let signed = match scheme {
        RsaScheme::Pkcs1(scheme) => key.sign_with_rng(&mut WasiRng, scheme, &hashed),
        RsaScheme::Pss(scheme) => key.sign_with_rng(&mut WasiRng, scheme, &hashed),
    };
    out(&ctx, signed.map_err(|e| e.to_string()), "OperationError")
}

#[allow(clippy::too_many_arguments, reason = "mirrors RsaPssParams")]
fn rsa_verify<'js>(
    ctx: Ctx<'js>,
    pss: bool,
    hash: String,
    spki: Bytes<'js>,
    data: Bytes<'js>,
    signature: Bytes<'js>,
    salt: u32,
) -> Result<bool> {
    let key = rsa::RsaPublicKey::from_public_key_der(bytes(&spki))
        .map_err(|e| fail(&ctx, "DataError", &e.to_string()))?;
    let (digest, scheme) =
        rsa_padding(&hash, pss, salt as usize).map_err(|e| fail(&ctx, "NotSupportedError", &e))?;
    let hashed = digest(bytes(&data));
    Ok(match scheme {
        RsaScheme::Pkcs1(scheme) => key.verify(scheme, &hashed, bytes(&signature)).is_ok(),
        RsaScheme::Pss(scheme) => key.verify(scheme, &hashed, bytes(&signature)).is_ok(),
    })
}

/// Imports an RSA key from "pkcs8", "spki" or "jwk" parts (`n`, `e`, and `d`, `p`, `q` for a
/// private key, as big-endian bytes).
fn rsa_import<'js>(ctx: Ctx<'js>, format: String, data: Value<'js>) -> Result<Object<'js>> {
    let data_error = |e: String| fail(&ctx, "DataError", &e);
    match format.as_str() {
        "pkcs8" => {
            let der = TypedArray::<u8>::from_value(data)?;
            let key = rsa::RsaPrivateKey::from_pkcs8_der(der.as_bytes().unwrap_or_default())
                .map_err(|e| data_error(e.to_string()))?;
            rsa_pair(&ctx, Some(&key), &key.to_public_key())
        }
        "spki" => {
            let der = TypedArray::<u8>::from_value(data)?;
            let key = rsa::RsaPublicKey::from_public_key_der(der.as_bytes().unwrap_or_default())
                .map_err(|e| data_error(e.to_string()))?;
            rsa_pair(&ctx, None, &key)
        }
        "jwk" => {
            let jwk = Object::from_value(data)?;
            let number = |name: &str| -> Result<Option<rsa::BigUint>> {
                let value: Option<TypedArray<u8>> = jwk.get(name)?;
                Ok(value.and_then(|v| v.as_bytes().map(rsa::BigUint::from_bytes_be)))
            };
            let (Some(n), Some(e)) = (number("n")?, number("e")?) else {
                return Err(data_error("The JWK is missing n or e".into()));
            };
            match number("d")? {
                None => {
                    let key =
                        rsa::RsaPublicKey::new(n, e).map_err(|e| data_error(e.to_string()))?;
                    rsa_pair(&ctx, None, &key)
                }
                Some(d) => {
                    let primes: Vec<_> =
                        [number("p")?, number("q")?].into_iter().flatten().collect();
                    let key = rsa::RsaPrivateKey::from_components(n, e, d, primes)
                        .map_err(|e| data_error(e.to_string()))?;
                    key.validate().map_err(|e| data_error(e.to_string()))?;
                    rsa_pair(&ctx, Some(&key), &key.to_public_key())
                }
            }
        }
        other => Err(fail(
            &ctx,
            "NotSupportedError",
            &format!("Unsupported key format: {other}"),
        )),
    }
}

/// An RSA key's JWK parts (`n`, `e`, and for a private key `d`, `p`, `q`, `dp`, `dq`, `qi`).
fn rsa_export<'js>(ctx: Ctx<'js>, der: Bytes<'js>, private: bool) -> Result<Object<'js>> {
    let error = |e: String| fail(&ctx, "OperationError", &e);
    let jwk = Object::new(ctx.clone())?;
    let set = |name: &str, value: &rsa::BigUint| -> Result<()> {
        jwk.set(
            name,
            TypedArray::<u8>::new(ctx.clone(), value.to_bytes_be())?,
        )
    };
    if private {
        let mut key =
            rsa::RsaPrivateKey::from_pkcs8_der(bytes(&der)).map_err(|e| error(e.to_string()))?;
        key.precompute().map_err(|e| error(e.to_string()))?;
        set("n", key.n())?;
        set("e", key.e())?;
        set("d", key.d())?;
        let primes = key.primes();
        if primes.len() == 2 {
            set("p", &primes[0])?;
            set("q", &primes[1])?;
            if let (Some(dp), Some(dq)) = (key.dp(), key.dq()) {
                set("dp", dp)?;
                set("dq", dq)?;
            }
            if let Some(qi) = key.qinv().and_then(|q| q.to_biguint()) {
                set("qi", &qi)?;
            }
        }
    } else {
        let key = rsa::RsaPublicKey::from_public_key_der(bytes(&der))
            .map_err(|e| error(e.to_string()))?;
        set("n", key.n())?;
        set("e", key.e())?;
    }
    Ok(jwk)
}
