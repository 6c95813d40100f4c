//! Secret-key operations: AES-GCM, AES-CBC, PBKDF2 and HKDF.

use hmac::digest::KeyInit;
use rquickjs::{Ctx, Result};

use super::{Bytes, Outcome, bytes, fail, out};

/// AES-GCM encryption (`encrypt`) or decryption with a 128-bit tag and any IV length JS allows.
#[allow(clippy::too_many_arguments, reason = "mirrors AesGcmParams")]
pub(super) fn aes_gcm<'js>(
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
pub(super) fn aes_cbc<'js>(
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

pub(super) fn pbkdf2_bits<'js>(
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

pub(super) fn hkdf_bits<'js>(
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
