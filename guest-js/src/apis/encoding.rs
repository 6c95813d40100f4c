//! `atob`, `btoa` (forgiving base64, as the HTML standard defines them) and the random half of
//! `crypto`: `crypto.getRandomValues` and `crypto.randomUUID`, from `wasi:random`.

use rquickjs::convert::Coerced;
use rquickjs::{Ctx, Exception, Function, Object, Result, TypedArray, Value};

use crate::bindings::wasi::random::random::get_random_bytes;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Registers `atob`, `btoa` and `crypto`.
pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    let globals = ctx.globals();
    globals.set("btoa", Function::new(ctx.clone(), btoa)?.with_name("btoa")?)?;
    globals.set("atob", Function::new(ctx.clone(), atob)?.with_name("atob")?)?;
    let crypto = Object::new(ctx.clone())?;
    crypto.set(
        "getRandomValues",
        Function::new(ctx.clone(), get_random_values)?.with_name("getRandomValues")?,
    )?;
    crypto.set(
        "randomUUID",
        Function::new(ctx.clone(), random_uuid)?.with_name("randomUUID")?,
    )?;
    globals.set("crypto", crypto)
}

fn invalid_character(ctx: &Ctx<'_>, message: &str) -> rquickjs::Error {
    crate::errors::throw_dom(ctx, "InvalidCharacterError", message)
}

/// Encodes bytes as base64 with padding.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes forgiving base64 (ASCII whitespace ignored, padding optional); `None` if invalid.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let mut data: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r'))
        .collect();
    if data.len() % 4 == 0 {
        if data.ends_with(b"==") {
            data.truncate(data.len() - 2);
        } else if data.ends_with(b"=") {
            data.truncate(data.len() - 1);
        }
    }
    if data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in data {
        let value = ALPHABET.iter().position(|&c| c == byte)? as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn btoa<'js>(ctx: Ctx<'js>, data: Value<'js>) -> Result<String> {
    let text = data.get::<Coerced<String>>()?.0;
    let mut bytes = Vec::with_capacity(text.len());
    for c in text.chars() {
        let code = u32::from(c);
        if code > 0xFF {
            return Err(invalid_character(
                &ctx,
                "btoa: the string contains characters outside of the Latin1 range",
            ));
        }
        bytes.push(code as u8);
    }
    Ok(encode(&bytes))
}

fn atob<'js>(ctx: Ctx<'js>, data: Value<'js>) -> Result<String> {
    let text = data.get::<Coerced<String>>()?.0;
    let bytes = decode(&text)
        .ok_or_else(|| invalid_character(&ctx, "atob: the string is not correctly encoded"))?;
    Ok(bytes.into_iter().map(char::from).collect())
}

/// `crypto.getRandomValues(view)`: what is not an ArrayBufferView is a `TypeError`, a view that is
/// not an integer typed array a `TypeMismatchError` and one over 65536 bytes a
/// `QuotaExceededError` (Web Cryptography API, both `DOMException`s).
fn get_random_values<'js>(ctx: Ctx<'js>, array: Value<'js>) -> Result<Value<'js>> {
    let not_a_view = || {
        Exception::throw_type(
            &ctx,
            "Failed to execute 'getRandomValues' on 'Crypto': parameter 1 is not of type 'ArrayBufferView'.",
        )
    };
    let object = array.as_object().ok_or_else(not_a_view)?;
    let view_of: Function = ctx
        .globals()
        .get::<_, Object>("ArrayBuffer")?
        .get("isView")?;
    if !view_of.call::<_, bool>((array.clone(),))? {
        return Err(not_a_view());
    }
    let kind: String = object.get::<_, Object>("constructor")?.get("name")?;
    if !matches!(
        kind.as_str(),
        "Int8Array"
            | "Uint8Array"
            | "Uint8ClampedArray"
            | "Int16Array"
            | "Uint16Array"
            | "Int32Array"
            | "Uint32Array"
            | "BigInt64Array"
            | "BigUint64Array"
    ) {
        return Err(crate::errors::throw_dom(
            &ctx,
            "TypeMismatchError",
            &format!("getRandomValues: {kind} is not an integer typed array"),
        ));
    }
    let length: usize = object.get("byteLength")?;
    if length > 65_536 {
        return Err(crate::errors::throw_dom(
            &ctx,
            "QuotaExceededError",
            &format!("getRandomValues: {length} bytes were requested, at most 65536 can be"),
        ));
    }
    let random = get_random_bytes(length as u64);
    // Write through a byte view of the same memory.
    let buffer: Value = object.get("buffer")?;
    let offset: usize = object.get("byteOffset")?;
    let uint8: rquickjs::function::Constructor = ctx.globals().get("Uint8Array")?;
    let view: TypedArray<u8> = uint8.construct((buffer, offset, length))?;
    for (i, byte) in random.into_iter().enumerate() {
        view.as_object().set(i as u32, byte)?;
    }
    Ok(array)
}

fn random_uuid() -> String {
    let mut bytes = get_random_bytes(16);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
