//! ECDSA on P-256 and P-384: generation, signatures, import and export (PKCS#8, SPKI, raw, JWK).

use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rquickjs::{Ctx, Object, Result, TypedArray, Value};

use super::{Bytes, WasiRng, bytes, fail, hash_digest, key_pair};

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

pub(super) fn ec_generate<'js>(ctx: Ctx<'js>, curve: String) -> Result<Object<'js>> {
    with_curve!(ctx, curve, c => {
        let secret = c::SecretKey::random(&mut WasiRng);
        let pkcs8 = secret.to_pkcs8_der().map_err(|e| fail(&ctx, "OperationError", &e.to_string()))?;
        let spki = secret.public_key().to_public_key_der().map_err(|e| fail(&ctx, "OperationError", &e.to_string()))?;
        key_pair(&ctx, Some(pkcs8.as_bytes().to_vec()), spki.as_bytes().to_vec())
    })
}

/// An ECDSA signature (`r || s`) of `data` hashed with `hash`.
pub(super) fn ec_sign<'js>(
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

pub(super) fn ec_verify<'js>(
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
pub(super) fn ec_import<'js>(
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
pub(super) fn ec_export<'js>(
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
