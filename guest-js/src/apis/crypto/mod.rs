//! The native half of `crypto.subtle` (Web Cryptography API): digests, HMAC, AES-GCM/CBC,
//! PBKDF2, HKDF, ECDSA (P-256, P-384) and RSA (PKCS#1 v1.5, PSS) from the RustCrypto crates.
//! `js/crypto.js` checks arguments and usages and keeps keys: secret keys as raw bytes, private
//! keys as PKCS#8 and public keys as SPKI (DER). A failure here is a message that JS turns into
//! the `DOMException` the standard names (`OperationError`, `DataError`, ...).

use hmac::{Mac, digest::KeyInit};
use rand_core::{CryptoRng, RngCore};
use rquickjs::{Ctx, Function, Object, Result, TypedArray};
use sha2::Digest;

mod ec;
mod rsa_keys;
mod secret;

use ec::{ec_export, ec_generate, ec_import, ec_sign, ec_verify};
use rsa_keys::{rsa_export, rsa_generate, rsa_import, rsa_sign, rsa_verify};
use secret::{aes_cbc, aes_gcm, hkdf_bits, pbkdf2_bits};

use crate::bindings::wasi::random::random::get_random_bytes;

/// Random bytes from `wasi:random`, for key generation and signature randomness.
pub(super) struct WasiRng;

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

pub(super) type Bytes<'js> = TypedArray<'js, u8>;
pub(super) type Outcome<T> = std::result::Result<T, String>;

pub(super) fn bytes<'a>(array: &'a Bytes<'_>) -> &'a [u8] {
    array.as_bytes().unwrap_or_default()
}

/// Throws `message` as an Error whose `name` JS maps to a DOMException.
pub(super) fn fail(ctx: &Ctx<'_>, name: &str, message: &str) -> rquickjs::Error {
    crate::errors::throw_named(ctx, name, message)
}

pub(super) fn out<'js>(ctx: &Ctx<'js>, result: Outcome<Vec<u8>>, name: &str) -> Result<Bytes<'js>> {
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

pub(super) fn hash_digest(hash: &str, data: &[u8]) -> Outcome<Vec<u8>> {
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

/// A generated or imported key pair (or public key) in DER: `{ pkcs8?, spki }`.
pub(super) fn key_pair<'js>(
    ctx: &Ctx<'js>,
    pkcs8: Option<Vec<u8>>,
    spki: Vec<u8>,
) -> Result<Object<'js>> {
    let pair = Object::new(ctx.clone())?;
    if let Some(pkcs8) = pkcs8 {
        pair.set("pkcs8", TypedArray::<u8>::new(ctx.clone(), pkcs8)?)?;
    }
    pair.set("spki", TypedArray::<u8>::new(ctx.clone(), spki)?)?;
    Ok(pair)
}
