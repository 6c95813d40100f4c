//! The `env` a handler is given (Workers' second argument): the host names the app's granted
//! key-value stores in `KILN_KV_STORES` (`KV=default,SESSIONS=sessions`), each bound to a
//! `KVNamespace` (`js/kv.js`), the apps it may call in `KILN_SERVICES` (`USERS=users`), each
//! bound to a `Fetcher` (`js/services.js`), and its variables and secrets in `KILN_VARS`
//! (`GREETING,API_KEY`), each bound to its value as a string. Bound by the first request an instance serves, never
//! during pre-initialisation, so a snapshot holds no binding or secret of its own.

use std::cell::Cell;

use rquickjs::{Array, Ctx, Function, Object, Result};

use crate::bindings::wasi::cli::environment;

/// The variable the host names the granted stores in.
const STORES: &str = "KILN_KV_STORES";
/// The variable the host names the apps it may call in.
const SERVICES: &str = "KILN_SERVICES";
/// The variable the host names the app's variables in.
const VARS: &str = "KILN_VARS";

thread_local! {
    static BOUND: Cell<bool> = const { Cell::new(false) };
}

/// Adds the granted stores and the app's variables to `env` (keeping what the app set itself),
/// once per instance.
pub fn bind<'js>(ctx: &Ctx<'js>, env: &Object<'js>) -> Result<()> {
    if BOUND.replace(true) {
        return Ok(());
    }
    let environment = environment::get_environment();
    let value = |wanted: &str| {
        environment
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.as_str())
    };
    if let Some(names) = value(VARS) {
        for name in names.split(',').filter(|n| !n.is_empty()) {
            if let Some(v) = value(name)
                && !env.contains_key(name)?
            {
                env.set(name, v)?;
            }
        }
    }
    for (variable, group) in [(STORES, "kv"), (SERVICES, "services")] {
        if let Some(list) = value(variable) {
            let bind: Function = super::scripts::group(ctx, group)?.get("bind")?;
            bind.call::<_, ()>((env.clone(), pairs(ctx, list)?))?;
        }
    }
    Ok(())
}

/// `[[binding, name], …]` of a list `BINDING=name,…`.
fn pairs<'js>(ctx: &Ctx<'js>, list: &str) -> Result<Array<'js>> {
    let pairs = Array::new(ctx.clone())?;
    for (i, pair) in list
        .split(',')
        .filter_map(|p| p.split_once('='))
        .enumerate()
    {
        let entry = Array::new(ctx.clone())?;
        entry.set(0, pair.0)?;
        entry.set(1, pair.1)?;
        pairs.set(i, entry)?;
    }
    Ok(pairs)
}
