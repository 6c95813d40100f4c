//! The Web APIs given to JavaScript, one module per API, each with its own `register`.

pub mod body;
pub mod brand;
pub mod compression;
pub mod console;
pub mod crypto;
pub mod deno;
pub mod encoding;
pub mod env;
pub mod fetch;
pub mod file_url;
pub mod headers;
pub mod kv;
pub mod request;
pub mod response;
pub mod scripts;
pub mod timers;
pub mod url;

use rquickjs::{Ctx, Result};

/// What the event loop waits on besides promise jobs.
pub const SOURCES: &[&dyn crate::reactor::Source] = &[&timers::Due, &fetch::InFlight];

/// Defines every global on the context.
pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    console::register(ctx)?;
    headers::register(ctx)?;
    brand::register(&rquickjs::Class::instance(
        ctx.clone(),
        headers::Headers::default(),
    )?);
    request::register(ctx)?;
    response::register(ctx)?;
    timers::register(ctx)?;
    url::register(ctx)?;
    deno::register(ctx)?;
    encoding::register(ctx)?;
    fetch::register(ctx)?;
    scripts::register(ctx)?;
    Ok(())
}

/// An optional value that is `null` (not `undefined`) in JS when absent, as Web APIs return.
pub struct Nullable<T>(pub Option<T>);

impl<'js, T: rquickjs::IntoJs<'js>> rquickjs::IntoJs<'js> for Nullable<T> {
    fn into_js(self, ctx: &Ctx<'js>) -> Result<rquickjs::Value<'js>> {
        match self.0 {
            Some(value) => value.into_js(ctx),
            None => Ok(rquickjs::Value::new_null(ctx.clone())),
        }
    }
}
