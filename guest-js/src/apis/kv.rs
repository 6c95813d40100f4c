//! `internals.native.kv`: the key-value stores' requests (`js/kv.js`), answered by the host at
//! once. The stores are bound to `env` by [`super::env`].

use rquickjs::{Array, Ctx, Result};

/// Where key-value requests go (never leaves the host).
const HOST: &str = "kv.kiln.internal";

/// `internals.native.kv(method, path, headers, body)`: one request to `kv.kiln.internal`, which
/// the host answers at once from the app's stores, waited for here rather than through `fetch`
/// and its event loop. Returns `[status, [[name, value], ...], bytes]`.
pub fn call<'js>(
    ctx: Ctx<'js>,
    method: String,
    path: String,
    headers: Array<'js>,
    body: rquickjs::function::Opt<rquickjs::TypedArray<'js, u8>>,
) -> Result<Array<'js>> {
    let mut pairs = Vec::new();
    for pair in headers.iter::<Array>() {
        let pair = pair?;
        pairs.push((pair.get::<String>(0)?, pair.get::<String>(1)?));
    }
    let bytes: &[u8] = match &body.0 {
        Some(array) => array.as_bytes().unwrap_or_default(),
        None => &[],
    };
    let url = format!("http://{HOST}{path}");
    let fail = |message: String| rquickjs::Exception::throw_type(&ctx, &message);
    let future = super::fetch::start(&method, &url, &pairs, bytes).map_err(fail)?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(fail(format!("the key-value store failed: {code:?}"))),
        _ => return Err(fail("the key-value store did not answer".into())),
    };
    let answer = Array::new(ctx.clone())?;
    answer.set(0, response.status())?;
    let names = Array::new(ctx.clone())?;
    for (i, (name, value)) in response.headers().entries().into_iter().enumerate() {
        let pair = Array::new(ctx.clone())?;
        pair.set(0, name)?;
        pair.set(1, String::from_utf8_lossy(&value).into_owned())?;
        names.set(i, pair)?;
    }
    answer.set(1, names)?;
    let mut received = Vec::new();
    if let Ok(incoming) = response.consume() {
        if let Ok(stream) = incoming.stream() {
            while let Ok(chunk) = stream.blocking_read(1 << 20) {
                received.extend_from_slice(&chunk);
            }
        }
    }
    answer.set(2, rquickjs::TypedArray::<u8>::new(ctx.clone(), received)?)?;
    Ok(answer)
}
