//! The Web APIs written in JavaScript (`src/js/*.js`): DOM events and aborts, streams, text
//! encoding, `crypto.subtle`, Blob/File/FormData and the stream side of bodies. Each file is a function of one
//! `internals` object through which the files share private helpers with each other and with
//! Rust. The small ones run when the engine starts; the large ones on first use (`js/lazy.js`).

use std::cell::RefCell;

use rquickjs::{Ctx, Function, Object, Persistent, Result, String as JsString, TypedArray, Value};

use crate::bindings::wasi::clocks::{monotonic_clock, wall_clock};

thread_local! {
    static INTERNALS: RefCell<Option<Persistent<Object<'static>>>> = const { RefCell::new(None) };
    /// The instant `performance.now()` counts from, and the wall-clock time it was in ms.
    static ORIGIN: RefCell<Option<(u64, f64)>> = const { RefCell::new(None) };
}

/// The scripts every engine evaluates at start, in the order they depend on each other.
const EAGER: [(&str, &str); 4] = [
    ("events.js", include_str!("../js/events.js")),
    ("deno.js", include_str!("../js/deno.js")),
    ("encoding.js", include_str!("../js/encoding.js")),
    ("lazy.js", include_str!("../js/lazy.js")),
];

/// The scripts `js/lazy.js` evaluates on first use, by group.
fn lazy_script(group: &str) -> Option<(&'static str, &'static str)> {
    Some(match group {
        "streams" => ("streams.js", include_str!("../js/streams.js")),
        "blob" => ("blob.js", include_str!("../js/blob.js")),
        "body" => ("body.js", include_str!("../js/body.js")),
        "crypto" => ("crypto.js", include_str!("../js/crypto.js")),
        "clone" => ("clone.js", include_str!("../js/clone.js")),
        "kv" => ("kv.js", include_str!("../js/kv.js")),
        "services" => ("services.js", include_str!("../js/services.js")),
        "messaging" => ("messaging.js", include_str!("../js/messaging.js")),
        "compression" => ("compression.js", include_str!("../js/compression.js")),
        _ => return None,
    })
}

/// Defines `performance`, then runs the eager scripts with the shared `internals` object.
pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    register_performance(ctx)?;
    let internals = Object::new(ctx.clone())?;
    let native = Object::new(ctx.clone())?;
    native.set("utf8Decode", Function::new(ctx.clone(), utf8_decode)?)?;
    native.set("utf8Encode", Function::new(ctx.clone(), utf8_encode)?)?;
    native.set("crypto", super::crypto::natives(ctx)?)?;
    native.set("fs", super::deno::fs_natives(ctx)?)?;
    native.set("evaluate", Function::new(ctx.clone(), evaluate_group)?)?;
    native.set("kv", Function::new(ctx.clone(), super::kv::call)?)?;
    native.set("kvDirect", super::kv::direct::natives(ctx)?)?;
    native.set("compression", super::compression::natives(ctx)?)?;
    internals.set("native", native)?;
    INTERNALS.with(|slot| *slot.borrow_mut() = Some(Persistent::save(ctx, internals.clone())));
    for (name, source) in EAGER {
        run(ctx, &internals, name, source)?;
    }
    Ok(())
}

/// Evaluates one script: its source is a function of `internals`, called once.
fn run<'js>(ctx: &Ctx<'js>, internals: &Object<'js>, name: &str, source: &str) -> Result<()> {
    let mut options = rquickjs::context::EvalOptions::default();
    options.global = true;
    options.strict = true;
    options.filename = Some(format!("kiln:{name}"));
    let install: Function = ctx.eval_with_options(source, options)?;
    install.call::<_, ()>((internals.clone(),))
}

/// `internals.native.evaluate(group)`, for `js/lazy.js`.
fn evaluate_group<'js>(ctx: Ctx<'js>, group: String) -> Result<()> {
    let Some((name, source)) = lazy_script(&group) else {
        return Err(rquickjs::Exception::throw_type(
            &ctx,
            &format!("no script group {group}"),
        ));
    };
    run(&ctx, &internals(&ctx)?, name, source)
}

/// `internals[group]`, the group's script evaluated first if it was not yet.
pub fn group<'js>(ctx: &Ctx<'js>, group: &str) -> Result<Object<'js>> {
    let internals = internals(ctx)?;
    let load: Function = internals.get("load")?;
    load.call::<_, ()>((group,))?;
    internals.get(group)
}

fn internals<'js>(ctx: &Ctx<'js>) -> Result<Object<'js>> {
    let internals = INTERNALS.with(|slot| slot.borrow().clone());
    internals
        .ok_or_else(|| rquickjs::Error::new_from_js("undefined", "internals"))?
        .restore(ctx)
}

/// A helper one of the scripts shares with Rust: `internals[group][name]`.
#[derive(Debug, Clone, Copy)]
pub enum Helper {
    /// `streams.isDisturbed(stream)`.
    IsDisturbed,
    /// `body.isLive(stream)`.
    IsLive,
    /// `body.fromBytes(bytes)`: a stream of them.
    FromBytes,
    /// `body.fromIncoming(read)`: a stream pulled from the host.
    FromIncoming,
    /// `body.used()`: a used-up stream.
    Used,
    /// `body.tee(stream)`.
    Tee,
    /// `body.take(stream)`.
    Take,
    /// `body.extract(value)`: a Blob, FormData or stream as `{bytes, type}` or `{stream}`.
    Extract,
    /// `body.consume(stream, how)`.
    Consume,
    /// `body.sendBuffered(...)`, for `fetch`.
    SendBuffered,
}

impl Helper {
    const COUNT: usize = 10;

    /// Its script group and name.
    fn place(self) -> (&'static str, &'static str) {
        match self {
            Helper::IsDisturbed => ("streams", "isDisturbed"),
            Helper::IsLive => ("body", "isLive"),
            Helper::FromBytes => ("body", "fromBytes"),
            Helper::FromIncoming => ("body", "fromIncoming"),
            Helper::Used => ("body", "used"),
            Helper::Tee => ("body", "tee"),
            Helper::Take => ("body", "take"),
            Helper::Extract => ("body", "extract"),
            Helper::Consume => ("body", "consume"),
            Helper::SendBuffered => ("body", "sendBuffered"),
        }
    }
}

thread_local! {
    /// The helpers found so far: each is looked up (its group loaded) once per engine.
    static HELPERS: RefCell<[Option<Persistent<Function<'static>>>; Helper::COUNT]> =
        const { RefCell::new([const { None }; Helper::COUNT]) };
}

/// The function `helper` names, its script loaded on first use.
pub fn helper<'js>(ctx: &Ctx<'js>, helper: Helper) -> Result<Function<'js>> {
    let index = helper as usize;
    if let Some(known) = HELPERS.with(|helpers| helpers.borrow()[index].clone()) {
        return known.restore(ctx);
    }
    let (group, name) = helper.place();
    let internals = internals(ctx)?;
    let load: Function = internals.get("load")?;
    load.call::<_, ()>((group,))?;
    let function: Function = internals.get::<_, Object>(group)?.get(name)?;
    HELPERS.with(|helpers| {
        helpers.borrow_mut()[index] = Some(Persistent::save(ctx, function.clone()));
    });
    Ok(function)
}

/// Calls `cancel` with the abort reason when `signal` aborts; a `TypeError` if it is no
/// `AbortSignal`.
pub fn on_abort<'js>(ctx: &Ctx<'js>, signal: Object<'js>, cancel: Function<'js>) -> Result<()> {
    let events: Object = internals(ctx)?.get("events")?;
    let on_abort: Function = events.get("onAbort")?;
    on_abort.call((signal, cancel))
}

/// The handler of an app that registered `addEventListener("fetch", ...)`, if it did.
pub fn fetch_event_handler<'js>(ctx: &Ctx<'js>) -> Option<Function<'js>> {
    let events: Object = internals(ctx).ok()?.get("events").ok()?;
    let find: Function = events.get("fetchHandler").ok()?;
    find.call::<_, Option<Function>>(()).ok().flatten()
}

/// Starts `performance.now()`'s clock if this instance has not yet (called as each request
/// starts: the clock of a snapshot was the compiling process's).
pub fn start_clock() {
    ORIGIN.with(|origin| {
        let mut origin = origin.borrow_mut();
        if origin.is_none() {
            let wall = wall_clock::now();
            let wall_ms = wall.seconds as f64 * 1000.0 + f64::from(wall.nanoseconds) / 1e6;
            *origin = Some((monotonic_clock::now(), wall_ms));
        }
    });
}

/// Forgets the clock origin (before a snapshot is taken).
pub fn reset_clock() {
    ORIGIN.with(|origin| *origin.borrow_mut() = None);
}

fn register_performance(ctx: &Ctx<'_>) -> Result<()> {
    let performance = Object::new(ctx.clone())?;
    performance.set(
        "now",
        Function::new(ctx.clone(), || {
            start_clock();
            let start = ORIGIN.with(|o| o.borrow().map(|(start, _)| start).unwrap_or(0));
            monotonic_clock::now().saturating_sub(start) as f64 / 1e6
        })?
        .with_name("now")?,
    )?;
    performance.prop(
        "timeOrigin",
        rquickjs::object::Accessor::new_get(|| {
            start_clock();
            ORIGIN.with(|o| o.borrow().map(|(_, wall)| wall).unwrap_or(0.0))
        })
        .enumerable(),
    )?;
    let navigator = Object::new(ctx.clone())?;
    navigator.set("userAgent", "Kiln")?;
    navigator.set("language", "en-US")?;
    navigator.set("languages", vec!["en-US"])?;
    navigator.set("hardwareConcurrency", 1)?;
    ctx.globals().set("navigator", navigator)?;
    ctx.globals().set("performance", performance)
}

/// UTF-8 bytes to a string: invalid sequences become U+FFFD, or a TypeError when `fatal`.
fn utf8_decode<'js>(
    ctx: Ctx<'js>,
    bytes: TypedArray<'js, u8>,
    fatal: bool,
) -> Result<JsString<'js>> {
    let bytes = bytes.as_bytes().unwrap_or_default();
    let text = if fatal {
        std::str::from_utf8(bytes)
            .map(std::borrow::Cow::Borrowed)
            .map_err(|_| {
                rquickjs::Exception::throw_type(
                    &ctx,
                    "The encoded data was not valid for encoding utf-8",
                )
            })?
    } else {
        String::from_utf8_lossy(bytes)
    };
    JsString::from_str(ctx, &text)
}

/// A (well-formed) string to UTF-8 bytes.
fn utf8_encode<'js>(ctx: Ctx<'js>, text: Value<'js>) -> Result<TypedArray<'js, u8>> {
    let text: String = match text.as_string() {
        Some(s) => s.to_string()?,
        None => String::new(),
    };
    TypedArray::new(ctx, text.into_bytes())
}
