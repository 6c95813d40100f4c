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

/// The common operations (`get`, `put` without options, `delete`, `increment` by a non-negative
/// amount) straight through `wasi:keyvalue`: one host call each, where the request to
/// `kv.kiln.internal` costs a dozen. Each returns `undefined` when the store refused or failed:
/// nothing was written, and `js/kv.js` asks the full path again, which says why (as a
/// `TypeError` or `RangeError`).
pub mod direct {
    use std::cell::RefCell;

    use rquickjs::{Ctx, Function, Object, Result, TypedArray, Value};

    use crate::bindings::wasi::keyvalue::{atomics, store};

    thread_local! {
        /// The stores this instance opened, by name (opened on first use, never in a snapshot).
        static BUCKETS: RefCell<Vec<(String, store::Bucket)>> = const { RefCell::new(Vec::new()) };
    }

    /// Runs `op` on the open store `name`; `None` when it cannot be opened.
    fn with_bucket<T>(name: &str, op: impl FnOnce(&store::Bucket) -> Option<T>) -> Option<T> {
        BUCKETS.with(|buckets| {
            let mut buckets = buckets.borrow_mut();
            let at = match buckets.iter().position(|(n, _)| n == name) {
                Some(at) => at,
                None => {
                    let bucket = store::open(name).ok()?;
                    buckets.push((name.to_string(), bucket));
                    buckets.len() - 1
                }
            };
            op(&buckets[at].1)
        })
    }

    /// `get(store, key)`: the bytes, `null` when there is none, `undefined` on a refusal.
    fn get<'js>(ctx: Ctx<'js>, name: String, key: String) -> Result<Value<'js>> {
        match with_bucket(&name, |b| b.get(&key).ok()) {
            Some(Some(bytes)) => Ok(TypedArray::<u8>::new(ctx, bytes)?.into_value()),
            Some(None) => Ok(Value::new_null(ctx)),
            None => Ok(Value::new_undefined(ctx)),
        }
    }

    /// `set(store, key, bytes)`: whether it was stored.
    fn set(name: String, key: String, value: TypedArray<'_, u8>) -> bool {
        let bytes = value.as_bytes().unwrap_or_default();
        with_bucket(&name, |b| b.set(&key, bytes).ok()).is_some()
    }

    /// `delete(store, key)`: whether it was done.
    fn delete(name: String, key: String) -> bool {
        with_bucket(&name, |b| b.delete(&key).ok()).is_some()
    }

    /// `increment(store, key, delta)` for `0 <= delta <= 2^53`: the new number, `undefined` on a
    /// refusal (a value that is not a number or would be negative is refused before writing).
    fn increment<'js>(ctx: Ctx<'js>, name: String, key: String, delta: f64) -> Result<Value<'js>> {
        let done = with_bucket(&name, |b| atomics::increment(b, &key, delta as u64).ok());
        Ok(match done {
            Some(n) => Value::new_number(ctx, n as f64),
            None => Value::new_undefined(ctx),
        })
    }

    /// The object `internals.native.kvDirect`.
    pub fn natives<'js>(ctx: &Ctx<'js>) -> Result<Object<'js>> {
        let natives = Object::new(ctx.clone())?;
        natives.set("get", Function::new(ctx.clone(), get)?)?;
        natives.set("set", Function::new(ctx.clone(), set)?)?;
        natives.set("delete", Function::new(ctx.clone(), delete)?)?;
        natives.set("increment", Function::new(ctx.clone(), increment)?)?;
        Ok(natives)
    }
}
