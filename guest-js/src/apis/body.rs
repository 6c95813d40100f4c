//! Request and response bodies: what JS passes in, what the incoming request and `fetch`
//! responses carry (read chunk by chunk, only as JS asks for them).

use rquickjs::class::{JsClass, Trace, Tracer};
use rquickjs::convert::Coerced;
use rquickjs::function::This;
use rquickjs::object::Accessor;
use rquickjs::{
    Array, ArrayBuffer, Class, Ctx, Exception, Function, JsLifetime, Object, Persistent, Promise,
    Result, TypedArray, Value,
};

use crate::apis::scripts::{self, Helper};
use crate::apis::url::UrlSearchParams;
use crate::bindings::wasi::http::types::{IncomingBody, IncomingResponse};
use crate::bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};
use crate::scope;

/// Which incoming body a [`Body::Incoming`] reads.
pub type IncomingId = u32;

/// The body of the request being handled.
pub const REQUEST_BODY: IncomingId = 0;

/// The incoming bodies of this request, its part of the [scope](crate::scope): its own and those
/// of the `fetch` responses it got.
#[derive(Default)]
struct Incomings {
    slots: Vec<(IncomingId, Incoming)>,
    last_id: IncomingId,
}

/// An incoming body and, once reading started, its byte stream (fields drop in order: a stream
/// before its body, a body before its response).
struct Incoming {
    stream: Option<InputStream>,
    body: Option<IncomingBody>,
    _response: Option<IncomingResponse>,
}

/// Makes `body` the incoming request body that `Body::Incoming(REQUEST_BODY)` reads, and drops
/// the unread bodies of the previous request's `fetch` responses.
pub fn set_incoming(body: Option<IncomingBody>) {
    let previous = scope::with(|incomings: &mut Incomings| {
        let previous = std::mem::take(&mut incomings.slots);
        incomings.slots.push((
            REQUEST_BODY,
            Incoming {
                stream: None,
                body,
                _response: None,
            },
        ));
        previous
    });
    drop(previous);
}

/// Keeps the body of a `fetch` response for reading as JS asks; its id for `Body::Incoming`.
pub fn add_fetched(response: IncomingResponse, body: IncomingBody) -> IncomingId {
    scope::with(|incomings: &mut Incomings| {
        let id = incomings.last_id.wrapping_add(1).max(REQUEST_BODY + 1);
        incomings.last_id = id;
        incomings.slots.push((
            id,
            Incoming {
                stream: None,
                body: Some(body),
                _response: Some(response),
            },
        ));
        id
    })
}

/// The body of a `Request` or `Response`.
#[derive(Debug, Clone, Default, JsLifetime)]
pub enum Body<'js> {
    /// No body (`null`).
    #[default]
    Empty,
    /// Bytes held in memory.
    Bytes(Vec<u8>),
    /// The incoming request's body or a `fetch` response's, not read yet.
    Incoming(IncomingId),
    /// A `ReadableStream`: given by JS, or made when JS asked for `body`.
    Stream(Object<'js>),
    /// Already consumed by `text()`, `json()`, ...
    Used,
}

impl<'js> Trace<'js> for Body<'js> {
    fn trace<'a>(&self, tracer: Tracer<'a, 'js>) {
        if let Body::Stream(stream) = self {
            stream.trace(tracer);
        }
    }
}

impl<'js> Body<'js> {
    /// Whether the body was consumed.
    pub fn used(&self, ctx: &Ctx<'js>) -> Result<bool> {
        match self {
            Body::Used => Ok(true),
            Body::Stream(stream) => {
                let disturbed = scripts::helper(ctx, Helper::IsDisturbed)?;
                disturbed.call((stream.clone(),))
            }
            _ => Ok(false),
        }
    }

    /// Reads the whole body now and marks it used. A stream can be read this way only while it
    /// is the untouched stream of bytes `body` made; see [`Body::into_payload`] for the rest.
    pub fn consume(&mut self, ctx: &Ctx<'js>) -> Result<Vec<u8>> {
        match std::mem::replace(self, Body::Used) {
            Body::Empty => Ok(Vec::new()),
            Body::Bytes(bytes) => Ok(bytes),
            Body::Incoming(id) => read_incoming(id).map_err(|e| Exception::throw_type(ctx, &e)),
            Body::Stream(stream) => match take(ctx, &stream)? {
                Some(bytes) => Ok(bytes),
                None => Err(Exception::throw_type(
                    ctx,
                    "a streamed body cannot be read here; read it with `await body.arrayBuffer()` first",
                )),
            },
            Body::Used => Err(Exception::throw_type(ctx, "Body has already been consumed")),
        }
    }

    /// The body for sending: its bytes, or the stream to read chunk by chunk.
    pub fn into_payload(&mut self, ctx: &Ctx<'js>) -> Result<Payload> {
        // A fetched body JS never touched is passed on as it arrives, by the host.
        if let Body::Incoming(id) = *self
            && id != REQUEST_BODY
            && let Some(fetched) = take_fetched(id)
        {
            *self = Body::Used;
            return Ok(Payload::Fetched(fetched));
        }
        let Body::Stream(stream) = self else {
            return self.consume(ctx).map(Payload::Bytes);
        };
        let stream = stream.clone();
        *self = Body::Used;
        if let Some(bytes) = take(ctx, &stream)? {
            return Ok(Payload::Bytes(bytes));
        }
        let disturbed = scripts::helper(ctx, Helper::IsDisturbed)?;
        if disturbed.call::<_, bool>((stream.clone(),))? {
            return Err(Exception::throw_type(ctx, "Body has already been consumed"));
        }
        Ok(Payload::Stream(Persistent::save(ctx, stream)))
    }

    /// The body when it is a stream JS still has to produce: one JS made, or `request.body`
    /// (not the bytes of a body JS has not touched).
    pub fn live_stream(&self, ctx: &Ctx<'js>) -> Result<Option<Object<'js>>> {
        let Body::Stream(stream) = self else {
            return Ok(None);
        };
        let live: bool = scripts::helper(ctx, Helper::IsLive)?.call((stream.clone(),))?;
        Ok(live.then(|| stream.clone()))
    }

    /// `body`: a `ReadableStream` of the body (made on first use), or `null`.
    pub fn stream(&mut self, ctx: &Ctx<'js>) -> Result<Value<'js>> {
        let stream: Object = match self {
            Body::Empty => return Ok(Value::new_null(ctx.clone())),
            Body::Stream(stream) => return Ok(stream.clone().into_value()),
            Body::Bytes(bytes) => {
                let bytes = TypedArray::<u8>::new(ctx.clone(), std::mem::take(bytes))?;
                scripts::helper(ctx, Helper::FromBytes)?.call((bytes,))?
            }
            Body::Incoming(id) => {
                let id = *id;
                let read =
                    Function::new(ctx.clone(), move |ctx: Ctx<'js>| -> Result<Value<'js>> {
                        match read_incoming_chunk(id)
                            .map_err(|e| Exception::throw_type(&ctx, &e))?
                        {
                            Some(chunk) => Ok(TypedArray::<u8>::new(ctx, chunk)?.into_value()),
                            None => Ok(Value::new_null(ctx)),
                        }
                    })?;
                scripts::helper(ctx, Helper::FromIncoming)?.call((read,))?
            }
            Body::Used => return scripts::helper(ctx, Helper::Used)?.call(()),
        };
        *self = Body::Stream(stream.clone());
        Ok(stream.into_value())
    }

    /// A copy for `clone()`: an incoming body is read into memory first, a stream is teed.
    pub fn duplicate(&mut self, ctx: &Ctx<'js>) -> Result<Body<'js>> {
        match self {
            Body::Used => Err(Exception::throw_type(ctx, "Body has already been consumed")),
            Body::Incoming(_) => {
                let bytes = self.consume(ctx)?;
                *self = Body::Bytes(bytes.clone());
                Ok(Body::Bytes(bytes))
            }
            Body::Stream(stream) => {
                let tee = scripts::helper(ctx, Helper::Tee)?;
                let pair: Array = tee.call((stream.clone(),))?;
                *self = Body::Stream(pair.get(0)?);
                Ok(Body::Stream(pair.get(1)?))
            }
            other => Ok(other.clone()),
        }
    }
}

/// A response body ready to send.
pub enum Payload {
    /// All of it, in memory.
    Bytes(Vec<u8>),
    /// A `ReadableStream` to send chunk by chunk as JS enqueues them.
    Stream(Persistent<Object<'static>>),
    /// A `fetch` response's body, spliced on by the host as it arrives.
    Fetched(Fetched),
}

/// The body of a `fetch` response, taken from this request's bodies to be passed on whole.
pub struct Fetched(Incoming);

impl Fetched {
    /// Copies the body to `out` as it arrives (host to host, through no JS); false when reading
    /// it failed or `out` was closed before its end.
    pub fn splice_into(mut self, out: &OutputStream) -> bool {
        let incoming = &mut self.0;
        let stream = match incoming.stream.take() {
            Some(stream) => stream,
            None => match incoming.body.as_ref().map(IncomingBody::stream) {
                Some(Ok(stream)) => stream,
                _ => return false,
            },
        };
        let ended = loop {
            match out.blocking_splice(&stream, 64 * 1024) {
                Ok(_) => {}
                Err(StreamError::Closed) => break true,
                Err(StreamError::LastOperationFailed(_)) => break false,
            }
        };
        drop(stream);
        if let Some(body) = incoming.body.take() {
            drop(IncomingBody::finish(body));
        }
        ended
    }
}

/// Takes fetched body `id` out of this request's bodies, if it is still there unread.
fn take_fetched(id: IncomingId) -> Option<Fetched> {
    scope::with(|incomings: &mut Incomings| {
        let at = incomings.slots.iter().position(|(at, _)| *at == id)?;
        Some(Fetched(incomings.slots.swap_remove(at).1))
    })
}

/// The bytes of an untouched stream that `body` made from bytes (taking it), if it is one.
fn take<'js>(ctx: &Ctx<'js>, stream: &Object<'js>) -> Result<Option<Vec<u8>>> {
    let taken: Value = scripts::helper(ctx, Helper::Take)?.call((stream.clone(),))?;
    Ok(bytes_of(&taken))
}

/// Reads the next chunk of incoming body `id`; `None` at its end.
fn read_incoming_chunk(id: IncomingId) -> std::result::Result<Option<Vec<u8>>, String> {
    let what = if id == REQUEST_BODY {
        "the request body"
    } else {
        "the response body"
    };
    scope::with(|incomings: &mut Incomings| {
        let Some(slot) = incomings
            .slots
            .iter_mut()
            .find(|(at, _)| *at == id)
            .map(|(_, s)| s)
        else {
            return if id == REQUEST_BODY {
                Ok(None)
            } else {
                Err(format!(
                    "{what} is no longer available: a fetch response's body is read during the request that fetched it"
                ))
            };
        };
        if slot.stream.is_none() {
            let Some(body) = slot.body.as_ref() else {
                return Ok(None);
            };
            let stream = body
                .stream()
                .map_err(|()| format!("{what} was already taken"))?;
            slot.stream = Some(stream);
        }
        let stream = slot.stream.as_ref().expect("set above");
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => Ok(Some(chunk)),
            Err(StreamError::Closed) => {
                slot.stream = None;
                if let Some(body) = slot.body.take() {
                    drop(IncomingBody::finish(body));
                }
                Ok(None)
            }
            Err(StreamError::LastOperationFailed(e)) => {
                Err(format!("reading {what}: {}", e.to_debug_string()))
            }
        }
    })
}

/// Reads the whole of incoming body `id`.
pub fn read_incoming(id: IncomingId) -> std::result::Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = read_incoming_chunk(id)? {
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Converts a `BodyInit` (string, ArrayBuffer, typed array, DataView, URLSearchParams, Blob,
/// FormData, ReadableStream, null) to a body, with the `content-type` it implies.
pub fn from_init<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<(Body<'js>, Option<String>)> {
    if value.is_undefined() || value.is_null() {
        return Ok((Body::Empty, None));
    }
    if let Some(s) = value.as_string() {
        return Ok((
            Body::Bytes(s.to_string()?.into_bytes()),
            Some("text/plain;charset=UTF-8".into()),
        ));
    }
    if let Some(bytes) = bytes_of(&value) {
        return Ok((Body::Bytes(bytes), None));
    }
    if let Some(params) = value
        .as_object()
        .and_then(crate::apis::brand::downcast::<UrlSearchParams>)
    {
        let text = params.borrow().serialize();
        return Ok((
            Body::Bytes(text.into_bytes()),
            Some("application/x-www-form-urlencoded;charset=UTF-8".into()),
        ));
    }
    if value.is_object() {
        let extracted: Value = scripts::helper(ctx, Helper::Extract)?.call((value.clone(),))?;
        if let Some(extracted) = extracted.as_object() {
            if let Some(stream) = extracted.get::<_, Option<Object>>("stream")? {
                return Ok((Body::Stream(stream), None));
            }
            let bytes = bytes_of(&extracted.get("bytes")?).unwrap_or_default();
            return Ok((Body::Bytes(bytes), extracted.get("type")?));
        }
    }
    let text = value.get::<Coerced<String>>()?.0;
    Ok((
        Body::Bytes(text.into_bytes()),
        Some("text/plain;charset=UTF-8".into()),
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

/// Installs the Body mixin of the Fetch standard (`body`, `bodyUsed`, `text()`, `json()`,
/// `arrayBuffer()`, `bytes()`) once, on both `Request.prototype` and `Response.prototype`
/// (`blob()` and `formData()` come from `js/body.js`).
pub fn install_mixin<'js, T: HasBody<'js>>(ctx: &Ctx<'js>) -> Result<()> {
    if let Some(prototype) = Class::<T>::prototype(ctx)? {
        prototype.prop(
            "bodyUsed",
            Accessor::new_get(|ctx: Ctx<'js>, This(this): This<Value<'js>>| {
                let body = with_body::<T, _>(&ctx, this, |_, body| Ok(body.clone()))?;
                body.used(&ctx)
            })
            .configurable(),
        )?;
        prototype.prop(
            "body",
            Accessor::new_get(|ctx: Ctx<'js>, This(this): This<Value<'js>>| {
                with_body::<T, _>(&ctx, this, |ctx, body| body.stream(ctx))
            })
            .configurable(),
        )?;
        for read in [Read::Text, Read::Json, Read::ArrayBuffer, Read::Bytes] {
            let function = Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, This(this): This<Value<'js>>| read_body::<T>(&ctx, this, read),
            )?
            .with_name(read.name())?;
            prototype.set(read.name(), function)?;
        }
    }
    Ok(())
}

/// The ways the Body mixin reads a whole body.
#[derive(Debug, Clone, Copy)]
enum Read {
    Text,
    Json,
    ArrayBuffer,
    Bytes,
}

impl Read {
    fn name(self) -> &'static str {
        match self {
            Read::Text => "text",
            Read::Json => "json",
            Read::ArrayBuffer => "arrayBuffer",
            Read::Bytes => "bytes",
        }
    }
}

/// `text()`, `json()`, `arrayBuffer()` or `bytes()` of `this`: bytes and the incoming body are
/// read here; a stream is read by `js/body.js` (outside the borrow, since reading it runs JS).
fn read_body<'js, T: HasBody<'js>>(
    ctx: &Ctx<'js>,
    this: Value<'js>,
    read: Read,
) -> Result<Promise<'js>> {
    let stream = with_body::<T, _>(ctx, this.clone(), |_, body| {
        Ok(match body {
            Body::Stream(stream) => Some(stream.clone()),
            _ => None,
        })
    })?;
    if let Some(stream) = stream {
        return scripts::helper(ctx, Helper::Consume)?.call((stream, read.name()));
    }
    let bytes = match with_body::<T, _>(ctx, this, |ctx, body| body.consume(ctx)) {
        Ok(bytes) => bytes,
        Err(_) => return rejected(ctx),
    };
    let value = match read {
        Read::Text => {
            rquickjs::String::from_str(ctx.clone(), &String::from_utf8_lossy(&bytes))?.into_value()
        }
        Read::Json => match ctx.json_parse(String::from_utf8_lossy(&bytes).into_owned()) {
            Ok(value) => value,
            Err(_) => return rejected(ctx),
        },
        Read::ArrayBuffer => ArrayBuffer::new(ctx.clone(), bytes)?.into_value(),
        Read::Bytes => TypedArray::<u8>::new(ctx.clone(), bytes)?.into_value(),
    };
    resolved(ctx, value)
}

/// Runs `f` on the body of a `Request` or `Response`; anything else is an illegal invocation.
fn with_body<'js, T: HasBody<'js>, R>(
    ctx: &Ctx<'js>,
    this: Value<'js>,
    f: impl FnOnce(&Ctx<'js>, &mut Body<'js>) -> Result<R>,
) -> Result<R> {
    match this.as_object().and_then(crate::apis::brand::downcast::<T>) {
        Some(owner) => f(ctx, owner.borrow_mut().body_mut()),
        None => Err(Exception::throw_type(
            ctx,
            &format!("Illegal invocation: not a {}", T::NAME),
        )),
    }
}

/// A class whose instances carry a body, and get the Body mixin: `Request` and `Response`.
pub trait HasBody<'js>: JsClass<'js> + 'js {
    /// The instance's body.
    fn body_mut(&mut self) -> &mut Body<'js>;
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
