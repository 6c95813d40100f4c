//! Request and response bodies: what JS passes in, what the incoming request carries.

use std::cell::RefCell;

use rquickjs::function::This;
use rquickjs::object::Accessor;
use rquickjs::{
    ArrayBuffer, Class, Ctx, Exception, Function, Object, Promise, Result, TypedArray, Value,
};

use crate::apis::request::Request;
use crate::apis::response::Response;
use crate::apis::url::UrlSearchParams;
use crate::bindings::wasi::http::types::IncomingBody;
use crate::bindings::wasi::io::streams::StreamError;

thread_local! {
    /// The body of the request being handled, read only if JS asks for it.
    static INCOMING: RefCell<Option<IncomingBody>> = const { RefCell::new(None) };
}

/// Makes `body` the incoming request body that a `Body::Incoming` reads.
pub fn set_incoming(body: Option<IncomingBody>) {
    INCOMING.with(|slot| *slot.borrow_mut() = body);
}

/// The body of a `Request` or `Response`.
#[derive(Debug, Clone, Default)]
pub enum Body {
    /// No body (`null`).
    #[default]
    Empty,
    /// Bytes held in memory.
    Bytes(Vec<u8>),
    /// The incoming request's body, not read yet.
    Incoming,
    /// Already consumed by `text()`, `json()`, ...
    Used,
}

impl Body {
    /// Whether the body was consumed.
    pub fn used(&self) -> bool {
        matches!(self, Body::Used)
    }

    /// Reads the whole body and marks it used.
    pub fn consume(&mut self, ctx: &Ctx<'_>) -> Result<Vec<u8>> {
        match std::mem::replace(self, Body::Used) {
            Body::Empty => Ok(Vec::new()),
            Body::Bytes(bytes) => Ok(bytes),
            Body::Incoming => read_incoming().map_err(|e| Exception::throw_type(ctx, &e)),
            Body::Used => Err(Exception::throw_type(ctx, "Body has already been consumed")),
        }
    }

    /// A copy for `clone()`: an incoming body is read into memory first.
    pub fn duplicate(&mut self, ctx: &Ctx<'_>) -> Result<Body> {
        match self {
            Body::Used => Err(Exception::throw_type(ctx, "Body has already been consumed")),
            Body::Incoming => {
                let bytes = self.consume(ctx)?;
                *self = Body::Bytes(bytes.clone());
                Ok(Body::Bytes(bytes))
            }
            other => Ok(other.clone()),
        }
    }
}

/// Reads the whole incoming request body.
pub fn read_incoming() -> std::result::Result<Vec<u8>, String> {
    let Some(body) = INCOMING.with(|slot| slot.borrow_mut().take()) else {
        return Ok(Vec::new());
    };
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| "the request body was already taken".to_string())?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(format!("reading the request body: {}", e.to_debug_string()));
                }
            }
        }
    }
    drop(IncomingBody::finish(body));
    Ok(bytes)
}

/// Converts a `BodyInit` (string, ArrayBuffer, typed array, DataView, URLSearchParams, null) to bytes,
/// with the `content-type` it implies.
pub fn from_init<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<(Body, Option<&'static str>)> {
    if value.is_undefined() || value.is_null() {
        return Ok((Body::Empty, None));
    }
    if let Some(s) = value.as_string() {
        return Ok((
            Body::Bytes(s.to_string()?.into_bytes()),
            Some("text/plain;charset=UTF-8"),
        ));
    }
    if let Some(bytes) = bytes_of(&value) {
        return Ok((Body::Bytes(bytes), None));
    }
    if let Some(params) = value
        .as_object()
        .and_then(Class::<UrlSearchParams>::from_object)
    {
        let text = params.borrow().serialize();
        return Ok((
            Body::Bytes(text.into_bytes()),
            Some("application/x-www-form-urlencoded;charset=UTF-8"),
        ));
    }
    let text: String = ctx.globals().get::<_, Function>("String")?.call((value,))?;
    Ok((
        Body::Bytes(text.into_bytes()),
        Some("text/plain;charset=UTF-8"),
    ))
}

/// The bytes of an ArrayBuffer or of any ArrayBuffer view (typed arrays, DataView).
pub fn bytes_of(value: &Value<'_>) -> Option<Vec<u8>> {
    if let Some(buffer) = ArrayBuffer::from_value(value.clone()) {
        return buffer.as_bytes().map(<[u8]>::to_vec);
    }
    if let Ok(array) = TypedArray::<u8>::from_value(value.clone()) {
        return array.as_bytes().map(<[u8]>::to_vec);
    }
    let object = value.as_object()?;
    let buffer = ArrayBuffer::from_value(object.get::<_, Value>("buffer").ok()?)?;
    let offset: usize = object.get("byteOffset").ok()?;
    let length: usize = object.get("byteLength").ok()?;
    buffer
        .as_bytes()
        .and_then(|b| b.get(offset..offset + length))
        .map(<[u8]>::to_vec)
}

/// A promise already resolved with `value`.
pub fn resolved<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<Promise<'js>> {
    let (promise, resolve, _) = ctx.promise()?;
    resolve.call::<_, ()>((value,))?;
    Ok(promise)
}

/// A promise rejected with the pending exception.
pub fn rejected<'js>(ctx: &Ctx<'js>) -> Result<Promise<'js>> {
    let reason = ctx.catch();
    let (promise, _, reject) = ctx.promise()?;
    reject.call::<_, ()>((reason,))?;
    Ok(promise)
}

/// Installs the Body mixin of the Fetch standard (`bodyUsed`, `text()`, `json()`,
/// `arrayBuffer()`, `bytes()`) once, on both `Request.prototype` and `Response.prototype`.
pub fn install_mixin<'js>(ctx: &Ctx<'js>) -> Result<()> {
    let prototypes = [
        Class::<Request>::prototype(ctx)?,
        Class::<Response>::prototype(ctx)?,
    ];
    for prototype in prototypes.into_iter().flatten() {
        prototype.prop(
            "bodyUsed",
            Accessor::new_get(|ctx: Ctx<'js>, This(this): This<Value<'js>>| {
                with_body(&ctx, this, |_, body| Ok(body.used()))
            })
            .configurable(),
        )?;
        method(ctx, &prototype, "text", text)?;
        method(ctx, &prototype, "json", json)?;
        method(ctx, &prototype, "arrayBuffer", array_buffer)?;
        method(ctx, &prototype, "bytes", uint8_array)?;
    }
    Ok(())
}

/// Defines `name` on `prototype` as a method reading the body of `this`.
fn method<'js>(
    ctx: &Ctx<'js>,
    prototype: &Object<'js>,
    name: &str,
    read: for<'a> fn(&Ctx<'a>, &mut Body) -> Result<Promise<'a>>,
) -> Result<()> {
    let function = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, This(this): This<Value<'js>>| with_body(&ctx, this, read),
    )?
    .with_name(name)?;
    prototype.set(name, function)
}

/// Runs `f` on the body of a `Request` or `Response`; anything else is an illegal invocation.
fn with_body<'js, R>(
    ctx: &Ctx<'js>,
    this: Value<'js>,
    f: impl FnOnce(&Ctx<'js>, &mut Body) -> Result<R>,
) -> Result<R> {
    let object = this.as_object();
    if let Some(request) = object.and_then(Class::<Request>::from_object) {
        return f(ctx, request.borrow_mut().body_mut());
    }
    if let Some(response) = object.and_then(Class::<Response>::from_object) {
        return f(ctx, response.borrow_mut().body_mut());
    }
    Err(Exception::throw_type(
        ctx,
        "Illegal invocation: not a Request or Response",
    ))
}

/// The body read as text (`text()`).
pub fn text<'js>(ctx: &Ctx<'js>, body: &mut Body) -> Result<Promise<'js>> {
    match body.consume(ctx) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            resolved(
                ctx,
                rquickjs::String::from_str(ctx.clone(), &text)?.into_value(),
            )
        }
        Err(_) => rejected(ctx),
    }
}

/// The body parsed as JSON (`json()`).
pub fn json<'js>(ctx: &Ctx<'js>, body: &mut Body) -> Result<Promise<'js>> {
    let parsed = body
        .consume(ctx)
        .and_then(|bytes| ctx.json_parse(String::from_utf8_lossy(&bytes).into_owned()));
    match parsed {
        Ok(value) => resolved(ctx, value),
        Err(_) => rejected(ctx),
    }
}

/// The body as an ArrayBuffer (`arrayBuffer()`).
pub fn array_buffer<'js>(ctx: &Ctx<'js>, body: &mut Body) -> Result<Promise<'js>> {
    match body.consume(ctx) {
        Ok(bytes) => resolved(ctx, ArrayBuffer::new(ctx.clone(), bytes)?.into_value()),
        Err(_) => rejected(ctx),
    }
}

/// The body as a Uint8Array (`bytes()`).
pub fn uint8_array<'js>(ctx: &Ctx<'js>, body: &mut Body) -> Result<Promise<'js>> {
    match body.consume(ctx) {
        Ok(bytes) => resolved(ctx, TypedArray::<u8>::new(ctx.clone(), bytes)?.into_value()),
        Err(_) => rejected(ctx),
    }
}

/// Reads an optional property of an init dictionary.
pub fn member<'js, T: rquickjs::FromJs<'js>>(
    init: Option<&Object<'js>>,
    key: &str,
) -> Result<Option<T>> {
    match init {
        Some(object) => {
            let value: Value = object.get(key)?;
            if value.is_undefined() {
                Ok(None)
            } else {
                Ok(Some(T::from_js(object.ctx(), value)?))
            }
        }
        None => Ok(None),
    }
}
