//! JavaScript exceptions turned into Rust values, in one place.

use rquickjs::{Ctx, Error, Exception, Value};

/// A source problem as the world's exports return it: `(message, line, column)`.
pub type SourceError = (String, u32, u32);

/// A JavaScript error, ready to be reported to the host.
#[derive(Debug, Clone)]
pub struct JsError {
    /// `name: message`, as `String(error)` prints it.
    pub message: String,
    /// The JS stack, when the thrown value carried one.
    pub stack: Option<String>,
}

impl JsError {
    /// An error raised by the engine itself rather than by JS code.
    pub fn engine(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            stack: None,
        }
    }

    /// The (line, column) of the first `name:line:col` frame of the stack, if any.
    pub fn position(&self, file: &str) -> Option<(u32, u32)> {
        let stack = self.stack.as_deref()?;
        let needle = format!("{file}:");
        let start = stack.find(&needle)? + needle.len();
        let mut parts = stack[start..].split(|c: char| !c.is_ascii_digit());
        let line = parts.next()?.parse().ok()?;
        let column = parts.next()?.parse().ok()?;
        Some((line, column))
    }

    /// This error as a source error of the module `file`.
    pub fn into_source_error(self, file: &str) -> SourceError {
        let (line, column) = self.position(file).unwrap_or((0, 0));
        let message = if line > 0 {
            format!("{file}:{line}:{column}: {}", self.message)
        } else {
            format!("{file}: {}", self.message)
        };
        (message, line, column)
    }
}

/// Converts the pending exception (or a Rust-side error) into a [`JsError`].
pub fn catch(ctx: &Ctx<'_>, error: Error) -> JsError {
    if !error.is_exception() {
        return JsError::engine(error.to_string());
    }
    from_value(ctx, ctx.catch())
}

/// Describes a thrown value: an `Error` keeps its name, message and stack.
pub fn from_value<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> JsError {
    if let Some(exception) = value
        .as_object()
        .and_then(|o| Exception::from_object(o.clone()))
    {
        let name: Option<String> = exception.get("name").ok();
        let message = exception.message().unwrap_or_default();
        let message = match name {
            Some(name) if !name.is_empty() => format!("{name}: {message}"),
            _ => message,
        };
        let stack = exception.stack().filter(|s| !s.is_empty());
        return JsError { message, stack };
    }
    let message = javy::val_to_string(ctx, value).unwrap_or_else(|_| "uncaught exception".into());
    JsError {
        message: format!("Uncaught {message}"),
        stack: None,
    }
}

/// Throws an Error whose `name` is `name`; the JS wrappers (`js/crypto.js`, `js/deno.js`) turn
/// it into the `DOMException` or `Deno.errors` class of that name.
pub fn throw_named(ctx: &Ctx<'_>, name: &str, message: &str) -> Error {
    match Exception::from_message(ctx.clone(), message) {
        Ok(exception) => {
            let _ = exception.set("name", name);
            ctx.throw(exception.into_value())
        }
        Err(error) => error,
    }
}

/// Throws `new DOMException(message, name)`.
pub fn throw_dom(ctx: &Ctx<'_>, name: &str, message: &str) -> Error {
    let exception = ctx
        .globals()
        .get::<_, rquickjs::function::Constructor>("DOMException")
        .and_then(|class| class.construct::<_, Value>((message, name)));
    match exception {
        Ok(exception) => ctx.throw(exception),
        Err(_) => throw_named(ctx, name, message),
    }
}
