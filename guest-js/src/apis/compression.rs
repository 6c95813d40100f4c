//! The native half of `CompressionStream` and `DecompressionStream` (Compression Standard):
//! `gzip`, `deflate` (zlib) and `deflate-raw`, from `flate2` (pure Rust). `js/compression.js`
//! wraps each in a `TransformStream`; here each stream is a numbered coder, fed chunk by chunk.
//! A decoder checks what the standard asks: a corrupt, truncated or overlong input (data after
//! the end of the compressed stream, a wrong gzip checksum) is an error, thrown as a `TypeError`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;

use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::{Compression, Decompress, FlushDecompress, Status};
use rquickjs::{Ctx, Exception, Function, Object, Result, TypedArray};

/// One stream's coder.
enum Coder {
    Gzip(GzEncoder<Vec<u8>>),
    Zlib(ZlibEncoder<Vec<u8>>),
    Raw(DeflateEncoder<Vec<u8>>),
    Inflate(Inflater),
}

thread_local! {
    static CODERS: RefCell<(u32, HashMap<u32, Coder>)> = RefCell::new((0, HashMap::new()));
}

/// Where a gzip decoder is in its input.
enum Gzip {
    /// Not a gzip stream: zlib or raw deflate.
    None,
    /// Reading the header (bytes so far).
    Header(Vec<u8>),
    /// Inflating the body; the checksum of what came out so far.
    Body(crc32fast::Hasher),
    /// Reading the 8-byte trailer.
    Trailer(crc32fast::Hasher, Vec<u8>),
}

/// A decoder of one of the three formats.
struct Inflater {
    inflate: Decompress,
    gzip: Gzip,
    ended: bool,
}

/// The header's length, once `bytes` hold all of it (RFC 1952 section 2.3).
fn gzip_header(bytes: &[u8]) -> std::result::Result<Option<usize>, String> {
    if bytes.len() < 10 {
        return Ok(None);
    }
    if bytes[0] != 0x1f || bytes[1] != 0x8b || bytes[2] != 8 {
        return Err("the data is not gzip".into());
    }
    let flags = bytes[3];
    let mut at = 10;
    if flags & 0x04 != 0 {
        let Some(len) = bytes.get(at..at + 2) else {
            return Ok(None);
        };
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            match bytes
                .get(at..)
                .and_then(|rest| rest.iter().position(|&b| b == 0))
            {
                Some(end) => at += end + 1,
                None => return Ok(None),
            }
        }
    }
    if flags & 0x02 != 0 {
        at += 2;
    }
    Ok((bytes.len() >= at).then_some(at))
}

impl Inflater {
    fn new(format: &str) -> Self {
        let (zlib, gzip) = match format {
            "gzip" => (false, Gzip::Header(Vec::new())),
            "deflate" => (true, Gzip::None),
            _ => (false, Gzip::None),
        };
        Self {
            inflate: Decompress::new(zlib),
            gzip,
            ended: false,
        }
    }

    fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), String> {
        loop {
            match &mut self.gzip {
                Gzip::Header(seen) => {
                    let before = seen.len();
                    seen.extend_from_slice(input);
                    match gzip_header(seen)? {
                        Some(len) => {
                            input = &input[len - before..];
                            self.gzip = Gzip::Body(crc32fast::Hasher::new());
                        }
                        None => return Ok(()),
                    }
                }
                Gzip::Trailer(crc, seen) => {
                    let want = 8 - seen.len();
                    let take = want.min(input.len());
                    seen.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if seen.len() < 8 {
                        return Ok(());
                    }
                    let sum = u32::from_le_bytes([seen[0], seen[1], seen[2], seen[3]]);
                    let size = u32::from_le_bytes([seen[4], seen[5], seen[6], seen[7]]);
                    if sum != crc.clone().finalize() || size != self.inflate.total_out() as u32 {
                        return Err("the gzip checksum does not match the data".into());
                    }
                    self.ended = true;
                    self.gzip = Gzip::None;
                }
                _ if self.ended => {
                    if !input.is_empty() {
                        return Err("there is data after the end of the compressed stream".into());
                    }
                    return Ok(());
                }
                _ => {
                    let start = out.len();
                    let status = self.inflate_into(&mut input, out)?;
                    if let Gzip::Body(crc) = &mut self.gzip {
                        crc.update(&out[start..]);
                    }
                    if status != Status::StreamEnd {
                        return Ok(());
                    }
                    match std::mem::replace(&mut self.gzip, Gzip::None) {
                        Gzip::Body(crc) => self.gzip = Gzip::Trailer(crc, Vec::new()),
                        _ => self.ended = true,
                    }
                }
            }
        }
    }

    /// Inflates as much of `input` as it can into `out`, consuming what it read.
    fn inflate_into(
        &mut self,
        input: &mut &[u8],
        out: &mut Vec<u8>,
    ) -> std::result::Result<Status, String> {
        loop {
            if out.capacity() - out.len() < 16 << 10 {
                out.reserve(64 << 10);
            }
            let read = self.inflate.total_in();
            let written = self.inflate.total_out();
            let status = self
                .inflate
                .decompress_vec(input, out, FlushDecompress::None)
                .map_err(|e| format!("the compressed data is corrupt: {e}"))?;
            *input = &input[(self.inflate.total_in() - read) as usize..];
            let progressed = self.inflate.total_in() != read || self.inflate.total_out() != written;
            if status == Status::StreamEnd || input.is_empty() && out.len() < out.capacity() {
                return Ok(status);
            }
            if !progressed && out.len() < out.capacity() {
                return Ok(status);
            }
        }
    }
}

fn throw(ctx: &Ctx<'_>, message: String) -> rquickjs::Error {
    Exception::throw_type(ctx, &message)
}

/// `open(format, decompress)`: a new coder's number.
fn open(ctx: Ctx<'_>, format: String, decompress: bool) -> Result<u32> {
    let coder = match (format.as_str(), decompress) {
        ("gzip" | "deflate" | "deflate-raw", true) => Coder::Inflate(Inflater::new(&format)),
        ("gzip", false) => Coder::Gzip(GzEncoder::new(Vec::new(), Compression::default())),
        ("deflate", false) => Coder::Zlib(ZlibEncoder::new(Vec::new(), Compression::default())),
        ("deflate-raw", false) => {
            Coder::Raw(DeflateEncoder::new(Vec::new(), Compression::default()))
        }
        _ => {
            return Err(throw(
                &ctx,
                format!(
                    "Unsupported compression format: '{format}' (use \"gzip\", \"deflate\" or \"deflate-raw\")"
                ),
            ));
        }
    };
    Ok(CODERS.with(|coders| {
        let (next, coders) = &mut *coders.borrow_mut();
        *next = next.wrapping_add(1);
        coders.insert(*next, coder);
        *next
    }))
}

/// Takes coder `id` out (`push` puts it back when it succeeded; `finish` and an error end it).
fn take(ctx: &Ctx<'_>, id: u32) -> Result<Coder> {
    CODERS
        .with(|coders| coders.borrow_mut().1.remove(&id))
        .ok_or_else(|| throw(ctx, "the stream is closed".into()))
}

/// Writes `input` to an encoder and takes what it produced so far.
fn encode<W: Write>(
    encoder: &mut W,
    output: impl FnOnce(&mut W) -> &mut Vec<u8>,
    input: &[u8],
) -> std::result::Result<Vec<u8>, String> {
    encoder.write_all(input).map_err(|e| e.to_string())?;
    Ok(std::mem::take(output(encoder)))
}

/// `push(id, chunk)`: what coding `chunk` gave.
fn push<'js>(ctx: Ctx<'js>, id: u32, chunk: TypedArray<'js, u8>) -> Result<TypedArray<'js, u8>> {
    let input = chunk.as_bytes().unwrap_or_default();
    let mut coder = take(&ctx, id)?;
    let out = match &mut coder {
        Coder::Gzip(e) => encode(e, GzEncoder::get_mut, input),
        Coder::Zlib(e) => encode(e, ZlibEncoder::get_mut, input),
        Coder::Raw(e) => encode(e, DeflateEncoder::get_mut, input),
        Coder::Inflate(d) => {
            let mut out = Vec::new();
            d.push(input, &mut out).map(|()| out)
        }
    }
    .map_err(|message| throw(&ctx, message))?;
    CODERS.with(|coders| coders.borrow_mut().1.insert(id, coder));
    TypedArray::new(ctx, out)
}

/// `finish(id)`: the last bytes; the coder is gone afterwards.
fn finish<'js>(ctx: Ctx<'js>, id: u32) -> Result<TypedArray<'js, u8>> {
    let io = |e: std::io::Error| e.to_string();
    let out = match take(&ctx, id)? {
        Coder::Gzip(e) => e.finish().map_err(io),
        Coder::Zlib(e) => e.finish().map_err(io),
        Coder::Raw(e) => e.finish().map_err(io),
        Coder::Inflate(d) if d.ended => Ok(Vec::new()),
        Coder::Inflate(_) => Err("the compressed data ends too early".into()),
    }
    .map_err(|message| throw(&ctx, message))?;
    TypedArray::new(ctx, out)
}

/// `close(id)`: drops the coder (a cancelled or failed stream).
fn close(id: u32) {
    CODERS.with(|coders| coders.borrow_mut().1.remove(&id));
}

/// The object `internals.native.compression`.
pub fn natives<'js>(ctx: &Ctx<'js>) -> Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set("open", Function::new(ctx.clone(), open)?)?;
    natives.set("push", Function::new(ctx.clone(), push)?)?;
    natives.set("finish", Function::new(ctx.clone(), finish)?)?;
    natives.set("close", Function::new(ctx.clone(), close)?)?;
    Ok(natives)
}
