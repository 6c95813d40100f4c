//! RSA (PKCS#1 v1.5 and PSS signatures): generation, signatures, import and export.

use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rquickjs::{Ctx, Object, Result, TypedArray, Value};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use sha2::Digest;

use super::{Bytes, Outcome, WasiRng, bytes, fail, key_pair, out};

pub(super) fn rsa_generate<'js>(
    ctx: Ctx<'js>,
    bits: u32,
    exponent: Bytes<'js>,
) -> Result<Object<'js>> {
    let exponent = rsa::BigUint::from_bytes_be(bytes(&exponent));
    let key = rsa::RsaPrivateKey::new_with_exp(&mut WasiRng, bits as usize, &exponent)
        .map_err(|e| fail(&ctx, "OperationError", &e.to_string()))?;
    rsa_pair(&ctx, Some(&key), &key.to_public_key())
}

pub(super) fn rsa_pair<'js>(
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
pub(super) fn rsa_sign<'js>(
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
pub(super) fn rsa_verify<'js>(
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
pub(super) fn rsa_import<'js>(
    ctx: Ctx<'js>,
    format: String,
    data: Value<'js>,
) -> Result<Object<'js>> {
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
pub(super) fn rsa_export<'js>(
    ctx: Ctx<'js>,
    der: Bytes<'js>,
    private: bool,
) -> Result<Object<'js>> {
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
