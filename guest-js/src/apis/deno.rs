//! The part of the `Deno` namespace that edge apps use: `Deno.serve(handler)`, `Deno.env.get`
//! and (with `js/deno.js`) the file API over WASI.

use rquickjs::{Ctx, Exception, Function, Object, Result, Value};

const HANDLER_KEY: &str = "__kilnServeHandler";

/// Whether the app sees a variable: `KILN_*` ones are Kiln's own (the host never passes the
/// host's; it names the app's stores and variables in them, see `apis::env`).
fn visible(name: &str) -> bool {
    !name.to_ascii_uppercase().starts_with("KILN_")
}

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
        Function::new(ctx.clone(), |name: String| {
            visible(&name).then(|| std::env::var(name).ok()).flatten()
        })?,
    )?;
    env.set(
        "has",
        Function::new(ctx.clone(), |name: String| {
            visible(&name) && std::env::var_os(name).is_some()
        })?,
    )?;
    env.set("toObject", Function::new(ctx.clone(), to_object)?)?;
    deno.set("env", env)?;
    ctx.globals().set("Deno", deno)
}

fn to_object<'js>(ctx: Ctx<'js>) -> Result<Object<'js>> {
    let object = Object::new(ctx)?;
    for (k, v) in std::env::vars().filter(|(k, _)| visible(k)) {
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

/// `internals.native.fs`: whole-file reads and writes through WASI, for `js/deno.js`.
pub fn fs_natives<'js>(ctx: &Ctx<'js>) -> Result<Object<'js>> {
    let fs = Object::new(ctx.clone())?;
    fs.set("read", Function::new(ctx.clone(), read_file)?)?;
    fs.set("write", Function::new(ctx.clone(), write_file)?)?;
    Ok(fs)
}

/// `path` made absolute and lexically normal: the app's working directory is `/`, so
/// `./static/app/index.html` and `static/app/index.html` both name `/static/app/index.html`
/// (WASI itself has no working directory, and matches `./` paths against no preopen).
fn absolute(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Whether `path` lies inside a directory the app was granted (lexically, from `/`, as WASI
/// resolves it: a path outside every grant is reported as missing by the C library).
fn granted(path: &str) -> bool {
    let absolute = absolute(path);
    crate::bindings::wasi::filesystem::preopens::get_directories()
        .into_iter()
        .any(|(_, dir)| {
            let dir = dir.trim_end_matches('/');
            absolute == dir || absolute.starts_with(&format!("{dir}/")) || dir.is_empty()
        })
}

fn read_file<'js>(ctx: Ctx<'js>, path: String) -> Result<rquickjs::TypedArray<'js, u8>> {
    match std::fs::read(absolute(&path)) {
        Ok(bytes) => rquickjs::TypedArray::new(ctx, bytes),
        Err(error) => Err(io_error(&ctx, &error, "readfile", &path)),
    }
}

fn write_file<'js>(
    ctx: Ctx<'js>,
    path: String,
    data: rquickjs::TypedArray<'js, u8>,
    append: bool,
    create: bool,
    create_new: bool,
) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).append(append).truncate(!append);
    if create_new {
        options.create_new(true);
    } else {
        options.create(create);
    }
    let written = options.open(absolute(&path)).and_then(|mut file| {
        std::io::Write::write_all(&mut file, data.as_bytes().unwrap_or_default())
    });
    written.map_err(|error| io_error(&ctx, &error, "writefile", &path))
}

/// An Error named after the `Deno.errors` class for `error`, with Deno's message shape.
fn io_error(ctx: &Ctx<'_>, error: &std::io::Error, operation: &str, path: &str) -> rquickjs::Error {
    use std::io::ErrorKind;
    // WASI's ENOTCAPABLE: the path is outside every granted directory, or the grant is read-only.
    const ENOTCAPABLE: i32 = 76;
    let name = match error.kind() {
        _ if error.raw_os_error() == Some(ENOTCAPABLE) => "NotCapable",
        ErrorKind::NotFound if !granted(path) => {
            let message = format!(
                "Requires {} access to \"{path}\": grant it in the app's permissions",
                if operation == "readfile" {
                    "read"
                } else {
                    "write"
                }
            );
            return crate::errors::throw_named(ctx, "NotCapable", &message);
        }
        ErrorKind::NotFound => "NotFound",
        ErrorKind::PermissionDenied => "PermissionDenied",
        ErrorKind::AlreadyExists => "AlreadyExists",
        ErrorKind::IsADirectory => "IsADirectory",
        ErrorKind::NotADirectory => "NotADirectory",
        ErrorKind::InvalidData => "InvalidData",
        _ => "Error",
    };
    crate::errors::throw_named(ctx, name, &format!("{error}: {operation} '{path}'"))
}
