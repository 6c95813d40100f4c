//! `setTimeout`, `setInterval`, their `clear*`, and `queueMicrotask`. Timers are kept here; the
//! engine's event loop sleeps on a monotonic-clock pollable until the next one is due.

use std::collections::BTreeMap;

use rquickjs::function::{Opt, Rest};
use rquickjs::{Ctx, Function, Object, Persistent, Result, Value};

use crate::bindings::wasi::clocks::monotonic_clock;
use crate::scope;

struct Timer {
    due: u64,
    interval: Option<u64>,
    callback: Persistent<Function<'static>>,
    args: Vec<Persistent<Value<'static>>>,
}

/// The timers set, this API's part of the [scope](crate::scope).
#[derive(Default)]
struct Timers {
    next_id: u32,
    entries: BTreeMap<u32, Timer>,
}

/// Registers the timer globals.
pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    let globals = ctx.globals();
    globals.set(
        "setTimeout",
        Function::new(ctx.clone(), set_timeout)?.with_name("setTimeout")?,
    )?;
    globals.set(
        "setInterval",
        Function::new(ctx.clone(), set_interval)?.with_name("setInterval")?,
    )?;
    globals.set(
        "clearTimeout",
        Function::new(ctx.clone(), clear)?.with_name("clearTimeout")?,
    )?;
    globals.set(
        "clearInterval",
        Function::new(ctx.clone(), clear)?.with_name("clearInterval")?,
    )?;
    globals.set(
        "queueMicrotask",
        Function::new(ctx.clone(), queue_microtask)?.with_name("queueMicrotask")?,
    )?;
    Ok(())
}

fn millis_to_nanos(ms: Option<f64>) -> u64 {
    let ms = ms.filter(|m| m.is_finite() && *m > 0.0).unwrap_or(0.0);
    (ms * 1_000_000.0) as u64
}

fn add<'js>(
    ctx: Ctx<'js>,
    callback: Function<'js>,
    delay: Opt<f64>,
    args: Rest<Value<'js>>,
    repeat: bool,
) -> u32 {
    let delay = millis_to_nanos(delay.0);
    let timer = Timer {
        due: monotonic_clock::now().saturating_add(delay),
        interval: repeat.then_some(delay.max(1_000_000)),
        callback: Persistent::save(&ctx, callback),
        args: args
            .0
            .into_iter()
            .map(|v| Persistent::save(&ctx, v))
            .collect(),
    };
    scope::with(|timers: &mut Timers| {
        timers.next_id = timers.next_id.wrapping_add(1).max(1);
        let id = timers.next_id;
        timers.entries.insert(id, timer);
        id
    })
}

fn set_timeout<'js>(
    ctx: Ctx<'js>,
    callback: Function<'js>,
    delay: Opt<f64>,
    args: Rest<Value<'js>>,
) -> u32 {
    add(ctx, callback, delay, args, false)
}

fn set_interval<'js>(
    ctx: Ctx<'js>,
    callback: Function<'js>,
    delay: Opt<f64>,
    args: Rest<Value<'js>>,
) -> u32 {
    add(ctx, callback, delay, args, true)
}

fn clear(id: Opt<Value<'_>>) {
    if let Some(id) = id.0.and_then(|v| v.as_number()) {
        scope::with(|timers: &mut Timers| timers.entries.remove(&(id as u32)));
    }
}

fn queue_microtask<'js>(ctx: Ctx<'js>, callback: Function<'js>) -> Result<()> {
    let promise: Object = ctx.globals().get("Promise")?;
    let resolve: Function = promise.get("resolve")?;
    let resolved: Object = resolve.call((rquickjs::function::This(promise),))?;
    let then: Function = resolved.get("then")?;
    then.call::<_, Value>((rquickjs::function::This(resolved), callback))?;
    Ok(())
}

/// The timer due first (earliest, then oldest): its id and due time in monotonic nanoseconds.
fn next_due() -> Option<(u32, u64)> {
    scope::with(|timers: &mut Timers| {
        timers
            .entries
            .iter()
            .min_by_key(|(id, t)| (t.due, **id))
            .map(|(id, t)| (*id, t.due))
    })
}

/// Runs timer `id`'s callback (re-arming intervals). An exception is reported like an uncaught
/// error and does not stop the loop.
fn fire(ctx: &Ctx<'_>, id: u32) {
    let taken = scope::with(|timers: &mut Timers| {
        let timer = timers.entries.remove(&id)?;
        let call = (timer.callback.clone(), timer.args.clone());
        if let Some(interval) = timer.interval {
            let due = monotonic_clock::now().saturating_add(interval);
            timers.entries.insert(id, Timer { due, ..timer });
        }
        Some(call)
    });
    let Some((callback, args)) = taken else {
        return;
    };
    let Ok(callback) = callback.restore(ctx) else {
        return;
    };
    let mut values = rquickjs::function::Args::new(ctx.clone(), args.len());
    for arg in args {
        if let Ok(value) = arg.restore(ctx) {
            let _ = values.push_arg(value);
        }
    }
    if let Err(error) = callback.call_arg::<Value>(values) {
        let error = crate::errors::catch(ctx, error);
        eprintln!("Uncaught (in timer) {}", error.message);
    }
}

/// The timers, as a source of the event loop: ready when the first is due.
pub struct Due;

impl crate::reactor::Source for Due {
    fn waiting(&self) -> bool {
        next_due().is_some()
    }

    fn subscribe(&self, into: &mut Vec<crate::bindings::wasi::io::poll::Pollable>) {
        if let Some((_, due)) = next_due() {
            into.push(monotonic_clock::subscribe_instant(due));
        }
    }

    fn dispatch(&self, ctx: &Ctx<'_>) {
        if let Some((id, due)) = next_due() {
            if due <= monotonic_clock::now() {
                fire(ctx, id);
            }
        }
    }
}
