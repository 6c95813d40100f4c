//! The part of the `Deno` namespace that edge apps use: `Deno.serve(handler)` and `Deno.env.get`.

use rquickjs::{Ctx, Exception, Function, Object, Result, Value};

const HANDLER_KEY: &str = "__kilnServeHandler";

/// Registers `Deno`.
pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    let deno = Object::new(ctx.clone())?;
    deno.set(
        "serve",
        Function::new(ctx.clone(), serve)?.with_name("serve")?,
    )?;
    let env = Object::new(ctx.clone())?;
    env.set(
        "get",
        Function::new(ctx.clone(), |name: String| std::env::var(name).ok())?,
    )?;
    env.set(
        "has",
        Function::new(ctx.clone(), |name: String| std::env::var_os(name).is_some())?,
    )?;
    env.set("toObject", Function::new(ctx.clone(), to_object)?)?;
    deno.set("env", env)?;
    ctx.globals().set("Deno", deno)
}

fn to_object<'js>(ctx: Ctx<'js>) -> Result<Object<'js>> {
    let object = Object::new(ctx)?;
    for (k, v) in std::env::vars() {
        object.set(k, v)?;
    }
    Ok(object)
}

/// `Deno.serve(handler)`, `Deno.serve(options, handler)` or `Deno.serve({ handler })`: records the handler.
fn serve<'js>(
    ctx: Ctx<'js>,
    first: Value<'js>,
    second: rquickjs::function::Opt<Value<'js>>,
) -> Result<()> {
    let handler = if let Some(f) = first.as_function() {
        f.clone()
    } else if let Some(f) = second.0.as_ref().and_then(Value::as_function) {
        f.clone()
    } else if let Some(f) = first
        .as_object()
        .and_then(|o| o.get::<_, Value>("handler").ok())
        .and_then(|v| v.as_function().cloned())
    {
        f
    } else {
        return Err(Exception::throw_type(
            &ctx,
            "Deno.serve: a handler function is required",
        ));
    };
    // Kept on a hidden global so the engine can find it after the module is evaluated.
    ctx.globals()
        .prop(HANDLER_KEY, rquickjs::object::Property::from(handler))?;
    Ok(())
}

/// The handler given to `Deno.serve`, if the module called it.
pub fn serve_handler<'js>(ctx: &Ctx<'js>) -> Option<Function<'js>> {
    ctx.globals()
        .get::<_, Value>(HANDLER_KEY)
        .ok()
        .and_then(|v| v.as_function().cloned())
}
