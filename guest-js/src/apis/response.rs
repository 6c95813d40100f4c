//! `Response` (WHATWG Fetch): what handlers return.

use rquickjs::atom::PredefinedAtom;
use rquickjs::class::Trace;
use rquickjs::function::Opt;
use rquickjs::{Class, Ctx, Exception, JsLifetime, Object, Result, Value};

use crate::apis::body::{self, Body, Payload};
use crate::apis::headers::{self, Headers};

/// Registers `Response`.
pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    Class::<Response>::define(&ctx.globals())?;
    body::install_mixin::<Response>(ctx)
}

/// The JS `Response` class.
#[derive(Trace, JsLifetime)]
#[rquickjs::class]
pub struct Response<'js> {
    #[qjs(skip_trace)]
    status: u16,
    #[qjs(skip_trace)]
    status_text: String,
    headers: Class<'js, Headers>,
    body: Body<'js>,
}

/// What the host needs of a response: status, headers and body.
pub struct Parts {
    /// HTTP status.
    pub status: u16,
    /// Header fields, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Payload,
}

impl<'js> Response<'js> {
    fn build(
        ctx: &Ctx<'js>,
        body: Value<'js>,
        init: Option<Object<'js>>,
        content_type: Option<&'static str>,
    ) -> Result<Self> {
        let status = body::member::<f64>(init.as_ref(), "status")?.unwrap_or(200.0);
        if !(200.0..=599.0).contains(&status) || status.fract() != 0.0 {
            return Err(Exception::throw_range(
                ctx,
                &format!("The status provided ({status}) is outside the range [200, 599]"),
            ));
        }
        let status = status as u16;
        let status_text = body::member::<String>(init.as_ref(), "statusText")?.unwrap_or_default();
        let mut headers = headers::from_member(ctx, init.as_ref())?.unwrap_or_default();
        let (body, implied_type) = body::from_init(ctx, body)?;
        let content_type = content_type.map(str::to_string).or(implied_type);
        if !matches!(body, Body::Empty) && matches!(status, 101 | 103 | 204 | 205 | 304) {
            return Err(Exception::throw_type(
                ctx,
                &format!("Response with null body status {status} cannot have body"),
            ));
        }
        if let (Some(ct), false) = (content_type, headers.contains("content-type")) {
            headers.push("content-type", &ct);
        }
        Ok(Self {
            status,
            status_text,
            headers: Class::instance(ctx.clone(), headers)?,
            body,
        })
    }

    /// A response received over the network (`fetch`).
    pub fn received(
        ctx: &Ctx<'js>,
        status: u16,
        headers: Headers,
        body: Body<'js>,
    ) -> Result<Self> {
        Ok(Self {
            status,
            status_text: String::new(),
            headers: Class::instance(ctx.clone(), headers)?,
            body,
        })
    }

    /// Takes status, headers and body out of the response for sending.
    pub fn into_parts(&mut self, ctx: &Ctx<'js>) -> Result<Parts> {
        if self.status == 0 {
            return Err(Exception::throw_type(
                ctx,
                "the handler answered with a network error (Response.error()), which cannot be sent",
            ));
        }
        let body = self.body.into_payload(ctx)?;
        Ok(Parts {
            status: self.status,
            headers: self.headers.borrow().pairs().to_vec(),
            body,
        })
    }
}

/// A WebIDL dictionary argument: absent, `undefined` and `null` are none; anything else but an
/// object is a `TypeError` naming `what`.
pub(crate) fn init_object<'js>(
    ctx: &Ctx<'js>,
    init: Opt<Value<'js>>,
    what: &str,
) -> Result<Option<Object<'js>>> {
    match init.0 {
        None => Ok(None),
        Some(v) if v.is_undefined() || v.is_null() => Ok(None),
        Some(v) => match v.into_object() {
            Some(o) => Ok(Some(o)),
            None => Err(Exception::throw_type(
                ctx,
                &format!("{what} init must be an object"),
            )),
        },
    }
}

impl<'js> body::HasBody<'js> for Response<'js> {
    fn body_mut(&mut self) -> &mut Body<'js> {
        &mut self.body
    }
}

#[rquickjs::methods]
impl<'js> Response<'js> {
    /// `new Response(body?, init?)`.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'js>, body: Opt<Value<'js>>, init: Opt<Value<'js>>) -> Result<Self> {
        let body = body.0.unwrap_or_else(|| Value::new_null(ctx.clone()));
        let init = init_object(&ctx, init, "Response")?;
        Self::build(&ctx, body, init, None)
    }

    /// `Response.json(data, init?)`: the data serialised as JSON.
    #[qjs(static, rename = "json")]
    pub fn from_json(ctx: Ctx<'js>, data: Value<'js>, init: Opt<Value<'js>>) -> Result<Self> {
        let Some(text) = ctx.json_stringify(data)? else {
            return Err(Exception::throw_type(
                &ctx,
                "Response.json: the data is not JSON-serialisable",
            ));
        };
        let init = init_object(&ctx, init, "Response")?;
        Self::build(&ctx, text.into_value(), init, Some("application/json"))
    }

    /// `Response.redirect(url, status = 302)`.
    #[qjs(static)]
    pub fn redirect(ctx: Ctx<'js>, url: String, status: Opt<u16>) -> Result<Self> {
        let status = status.0.unwrap_or(302);
        if ![301, 302, 303, 307, 308].contains(&status) {
            return Err(Exception::throw_range(
                &ctx,
                &format!("Invalid redirect status code: {status}"),
            ));
        }
        let location = url::Url::parse(&url)
            .map_err(|e| Exception::throw_type(&ctx, &format!("Invalid URL: \"{url}\": {e}")))?;
        let mut headers = Headers::default();
        headers.push("location", location.as_str());
        Ok(Self {
            status,
            status_text: String::new(),
            headers: Class::instance(ctx, headers)?,
            body: Body::Empty,
        })
    }

    /// `Response.error()`: a network error (status 0, type `"error"`, no body).
    #[qjs(static)]
    pub fn error(ctx: Ctx<'js>) -> Result<Self> {
        Ok(Self {
            status: 0,
            status_text: String::new(),
            headers: Class::instance(ctx, Headers::default())?,
            body: Body::Empty,
        })
    }

    /// The status code.
    #[qjs(get)]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The status text.
    #[qjs(get, rename = "statusText")]
    pub fn status_text(&self) -> String {
        self.status_text.clone()
    }

    /// Whether the status is 2xx.
    #[qjs(get)]
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The response headers.
    #[qjs(get)]
    pub fn headers(&self) -> Class<'js, Headers> {
        self.headers.clone()
    }

    /// Always `false`: responses made by scripts are not redirected.
    #[qjs(get)]
    pub fn redirected(&self) -> bool {
        false
    }

    /// `"error"` for [`Response::error`], else `"default"` (responses made by scripts).
    #[qjs(get, rename = "type")]
    pub fn kind(&self) -> &'static str {
        if self.status == 0 { "error" } else { "default" }
    }

    /// A copy of this response.
    #[qjs(rename = "clone")]
    pub fn duplicate(&mut self, ctx: Ctx<'js>) -> Result<Self> {
        let body = self.body.duplicate(&ctx)?;
        let headers = self.headers.borrow().clone();
        Ok(Self {
            status: self.status,
            status_text: self.status_text.clone(),
            headers: Class::instance(ctx, headers)?,
            body,
        })
    }

    #[qjs(prop, rename = PredefinedAtom::SymbolToStringTag, configurable)]
    pub fn to_string_tag() -> &'static str {
        "Response"
    }
}
