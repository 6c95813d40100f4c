//! Key-value bindings on `env`: the host names the app's granted stores in the variable
//! `KILN_KV_STORES` (`KV=default,SESSIONS=sessions`); the first request an instance serves binds
//! each to a `KVNamespace` (`js/kv.js`). Never during pre-initialisation, so a snapshot holds no
//! binding of its own and every instance binds what its app is granted now.

use std::cell::Cell;

use rquickjs::{Array, Ctx, Function, Object, Result};

use crate::bindings::wasi::cli::environment;

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
