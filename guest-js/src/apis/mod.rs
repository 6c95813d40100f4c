//! The Web APIs given to JavaScript, one module per API, each with its own `register`.

pub mod console;
pub mod deno;
pub mod headers;
pub mod request;
pub mod response;
pub mod url;

use rquickjs::{Ctx, Result};

/// Defines every global on the context.
pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    console::register(ctx)?;
    headers::register(ctx)?;
    request::register(ctx)?;
    response::register(ctx)?;
    url::register(ctx)?;
    deno::register(ctx)?;
    Ok(())
}
