//! `Request` (WHATWG Fetch), built natively for each incoming request.

use std::cell::RefCell;
use std::rc::Rc;

use rquickjs::atom::PredefinedAtom;
use rquickjs::class::Trace;
use rquickjs::function::{Opt, This};
use rquickjs::{Class, Constructor, Ctx, Exception, JsLifetime, Object, Result, Value};

use crate::apis::body::{self, Body};
use crate::apis::headers::{self, Headers};
use crate::apis::url::Url;

/// Registers `Request`.
pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    Class::<Request>::define(&ctx.globals())?;
    body::install_mixin::<Request>(ctx)
}

/// The JS `Request` class.
#[derive(Trace, JsLifetime)]
#[rquickjs::class]
pub struct Request<'js> {
    #[qjs(skip_trace)]
    method: String,
    #[qjs(skip_trace)]
    url: String,
    /// Made on first use for an incoming request (see `incoming`).
    headers: Option<Class<'js, Headers>>,
    /// An incoming request's header fields, until `headers` is made from them.
    #[qjs(skip_trace)]
    incoming_headers: Option<Rc<IncomingHeaders>>,
    body: Body<'js>,
    /// The `AbortSignal` given as `signal` (or inherited from the request copied); made on first
    /// read of `request.signal` otherwise.
    signal: Option<Object<'js>>,
}

/// The header fields of an incoming request, read from the host when first asked for: most
/// handlers never read them, and each read is a few calls into the host.
#[derive(Default)]
pub struct IncomingHeaders(RefCell<Option<Vec<(String, String)>>>);

impl IncomingHeaders {
    /// The fields, read with `read` unless they were read before.
    pub fn get_or_read(
        &self,
        read: impl FnOnce() -> Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        self.0.borrow_mut().get_or_insert_with(read).clone()
    }
}

const FORBIDDEN_METHODS: [&str; 3] = ["CONNECT", "TRACE", "TRACK"];
const NORMALIZED_METHODS: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];

impl<'js> Request<'js> {
    /// Method, URL, header fields and body bytes, for sending (`fetch`).
    pub fn to_outgoing(
        &mut self,
        ctx: &Ctx<'js>,
    ) -> Result<(String, String, Vec<(String, String)>, Vec<u8>)> {
        let body = self.body.consume(ctx)?;
        Ok((
            self.method.clone(),
            self.url.clone(),
            self.headers_class(ctx)?.borrow().pairs().to_vec(),
            body,
        ))
    }

    /// The `Headers` object, made from the incoming request's fields on first use.
    fn headers_class(&mut self, ctx: &Ctx<'js>) -> Result<Class<'js, Headers>> {
        if let Some(headers) = &self.headers {
            return Ok(headers.clone());
        }
        let pairs = match self.incoming_headers.take() {
            Some(incoming) => incoming.get_or_read(crate::scope::request_header_pairs),
            None => Vec::new(),
        };
        let headers = Class::instance(ctx.clone(), Headers::from_pairs(pairs))?;
        self.headers = Some(headers.clone());
        Ok(headers)
    }

    /// The signal `fetch` listens to, if one was given.
    pub fn given_signal(&self) -> Option<Object<'js>> {
        self.signal.clone()
    }

    /// The body when it is a stream JS still has to produce (sent by reading it to its end).
    pub fn live_stream(&self, ctx: &Ctx<'js>) -> Result<Option<Object<'js>>> {
        self.body.live_stream(ctx)
    }

    /// A request as received from the network; its header fields and body are read lazily.
    pub fn incoming(
        method: String,
        url: String,
        headers: Rc<IncomingHeaders>,
        has_body: bool,
    ) -> Result<Self> {
        Ok(Self {
            method,
            url,
            headers: None,
            incoming_headers: Some(headers),
            body: if has_body {
                Body::Incoming(crate::apis::body::REQUEST_BODY)
            } else {
                Body::Empty
            },
            signal: None,
        })
    }
}

impl<'js> body::HasBody<'js> for Request<'js> {
    fn body_mut(&mut self) -> &mut Body<'js> {
        &mut self.body
    }
}

/// Whether `object` is an `AbortSignal`.
fn is_abort_signal<'js>(ctx: &Ctx<'js>, object: &Object<'js>) -> Result<bool> {
    let class: Object = ctx.globals().get("AbortSignal")?;
    let prototype: Object = class.get("prototype")?;
    let mut at = object.get_prototype();
    while let Some(p) = at {
        if p == prototype {
            return Ok(true);
        }
        at = p.get_prototype();
    }
    Ok(false)
}

#[rquickjs::methods]
impl<'js> Request<'js> {
    /// `new Request(input, init?)`.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'js>, input: Value<'js>, init: Opt<Value<'js>>) -> Result<Self> {
        let init = super::response::init_object(&ctx, init, "Request")?;
        let (mut method, url, mut headers, mut body, mut signal) = if let Some(other) = input
            .as_object()
            .and_then(super::brand::downcast::<Request>)
        {
            let mut other = other.borrow_mut();
            let body = other.body.duplicate(&ctx)?;
            (
                other.method.clone(),
                other.url.clone(),
                other.headers_class(&ctx)?.borrow().clone(),
                body,
                other.signal.clone(),
            )
        } else {
            let text = match input.as_object().and_then(super::brand::downcast::<Url>) {
                Some(url) => url.borrow().href(),
                None => input.get::<String>()?,
            };
            let parsed = url::Url::parse(&text).map_err(|e| {
                Exception::throw_type(&ctx, &format!("Invalid URL: \"{text}\": {e}"))
            })?;
            (
                "GET".to_string(),
                parsed.to_string(),
                Headers::default(),
                Body::Empty,
                None,
            )
        };
        if let Some(m) = body::member::<String>(init.as_ref(), "method")? {
            let upper = m.to_ascii_uppercase();
            if FORBIDDEN_METHODS.contains(&upper.as_str()) {
                return Err(Exception::throw_type(
                    &ctx,
                    &format!("Method '{m}' is forbidden"),
                ));
            }
            method = if NORMALIZED_METHODS.contains(&upper.as_str()) {
                upper
            } else {
                m
            };
        }
        if let Some(given) = body::member::<Value>(init.as_ref(), "signal")? {
            signal = match given.into_object() {
                Some(object) if is_abort_signal(&ctx, &object)? => Some(object),
                None => None,
                Some(_) => {
                    return Err(Exception::throw_type(
                        &ctx,
                        "Failed to construct 'Request': member signal is not of type AbortSignal",
                    ));
                }
            };
        }
        if let Some(h) = headers::from_member(&ctx, init.as_ref())? {
            headers = h;
        }
        if let Some(value) = body::member::<Value>(init.as_ref(), "body")? {
            if method == "GET" || method == "HEAD" {
                if !value.is_null() {
                    return Err(Exception::throw_type(
                        &ctx,
                        "Request with GET/HEAD method cannot have body",
                    ));
                }
            }
            let (new_body, content_type) = body::from_init(&ctx, value)?;
            if let (Some(ct), false) = (content_type, headers.contains("content-type")) {
                headers.push("content-type", &ct);
            }
            body = new_body;
        }
        Ok(Self {
            method,
            url,
            headers: Some(Class::instance(ctx, headers)?),
            incoming_headers: None,
            body,
            signal,
        })
    }

    /// The request method.
    #[qjs(get)]
    pub fn method(&self) -> String {
        self.method.clone()
    }

    /// The full request URL.
    #[qjs(get)]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The request headers.
    #[qjs(get)]
    pub fn headers(&mut self, ctx: Ctx<'js>) -> Result<Class<'js, Headers>> {
        self.headers_class(&ctx)
    }

    /// A copy of this request (the body is buffered).
    #[qjs(rename = "clone")]
    pub fn duplicate(&mut self, ctx: Ctx<'js>) -> Result<Self> {
        let body = self.body.duplicate(&ctx)?;
        let headers = self.headers_class(&ctx)?.borrow().clone();
        Ok(Self {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: Some(Class::instance(ctx, headers)?),
            incoming_headers: None,
            body,
            signal: self.signal.clone(),
        })
    }

    /// The request's `AbortSignal`: the one it was made with, or one that never aborts.
    #[qjs(get)]
    pub fn signal(this: This<Class<'js, Request<'js>>>, ctx: Ctx<'js>) -> Result<Object<'js>> {
        if let Some(signal) = this.0.borrow().signal.clone() {
            return Ok(signal);
        }
        let controller: Constructor = ctx.globals().get("AbortController")?;
        let controller: Object = controller.construct(())?;
        let signal: Object = controller.get("signal")?;
        this.0.borrow_mut().signal = Some(signal.clone());
        Ok(signal)
    }

    #[qjs(prop, rename = PredefinedAtom::SymbolToStringTag, configurable)]
    pub fn to_string_tag() -> &'static str {
        "Request"
    }
}
