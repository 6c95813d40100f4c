//! Key-value bindings on `env`: the host names the app's granted stores in the variable
//! `KILN_KV_STORES` (`KV=default,SESSIONS=sessions`); the first request an instance serves binds
//! each to a `KVNamespace` (`js/kv.js`). Never during pre-initialisation, so a snapshot holds no
//! binding of its own and every instance binds what its app is granted now.

use std::cell::Cell;

use rquickjs::{Array, Ctx, Function, Object, Result};

use crate::bindings::wasi::cli::environment;

/// Where key-value requests go (never leaves the host).
const HOST: &str = "kv.kiln.internal";

/// The variable the host names the granted stores in.
const STORES: &str = "KILN_KV_STORES";

thread_local! {
    static BOUND: Cell<bool> = const { Cell::new(false) };
}

/// Adds the granted stores to `env`, once per instance.
pub fn bind<'js>(ctx: &Ctx<'js>, env: &Object<'js>) -> Result<()> {
    if BOUND.replace(true) {
        return Ok(());
    }
    let Some((_, stores)) = environment::get_environment()
        .into_iter()
        .find(|(name, _)| name == STORES)
    else {
        return Ok(());
    };
    let pairs = Array::new(ctx.clone())?;
    for (i, pair) in stores
        .split(',')
        .filter_map(|p| p.split_once('='))
        .enumerate()
    {
        let entry = Array::new(ctx.clone())?;
        entry.set(0, pair.0)?;
        entry.set(1, pair.1)?;
        pairs.set(i, entry)?;
    }
    let kv = super::scripts::group(ctx, "kv")?;
    let bind: Function = kv.get("bind")?;
    bind.call::<_, ()>((env.clone(), pairs))
}

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
