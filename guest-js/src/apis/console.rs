//! `console.*`: `log`, `info` and `debug` go to standard output, `warn` and `error` to standard
//! error; the host tags both with the app's name in its log.

use std::io::Write;

use rquickjs::function::Rest;
use rquickjs::{Ctx, Exception, Function, Object, Result, Value};

/// Registers `console`.
pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    let console = Object::new(ctx.clone())?;
    for name in ["log", "info", "debug", "trace"] {
        console.set(
            name,
            Function::new(ctx.clone(), |ctx, args| write(ctx, args, false))?,
        )?;
    }
    for name in ["warn", "error"] {
        console.set(
            name,
            Function::new(ctx.clone(), |ctx, args| write(ctx, args, true))?,
        )?;
    }
    ctx.globals().set("console", console)
}

/// Formats one argument as Node and Deno do for the common cases.
pub fn format<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> String {
    if let Some(s) = value.as_string() {
        return s.to_string().unwrap_or_default();
    }
    if let Some(exception) = value
        .as_object()
        .and_then(|o| Exception::from_object(o.clone()))
    {
        let text = crate::errors::from_value(ctx, exception.into_value());
        return match text.stack {
            Some(stack) => format!("{}\n{}", text.message, stack.trim_end()),
            None => text.message,
        };
    }
    if value.is_object() && !value.is_function() {
        if let Ok(Some(json)) = ctx.json_stringify(value.clone()) {
            if let Ok(json) = json.to_string() {
                return json;
            }
        }
    }
    javy::val_to_string(ctx, value).unwrap_or_default()
}

fn write<'js>(ctx: Ctx<'js>, args: Rest<Value<'js>>, to_stderr: bool) {
    let line = args
        .0
        .into_iter()
        .map(|v| format(&ctx, v))
        .collect::<Vec<_>>()
        .join(" ");
    let _ = if to_stderr {
        writeln!(std::io::stderr(), "{line}")
    } else {
        writeln!(std::io::stdout(), "{line}")
    };
}
