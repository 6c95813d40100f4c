//! `URL` and `URLSearchParams` with WHATWG semantics, backed by the `url` crate (and
//! [`file_url`](super::file_url) for `file:` URLs).

use rquickjs::atom::PredefinedAtom;
use rquickjs::class::Trace;
use rquickjs::convert::Coerced;
use rquickjs::function::{Opt, This};
use rquickjs::{Class, Ctx, Exception, JsLifetime, Result, Value};
use url::quirks;

use crate::apis::Nullable;
use crate::apis::file_url::{self, FileUrl};

mod search_params;

pub use search_params::UrlSearchParams;
use search_params::pairs_of;

/// Registers `URL` and `URLSearchParams`.
pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    Class::<Url>::define(&ctx.globals())?;
    Class::<UrlSearchParams>::define(&ctx.globals())
}

/// A parsed URL: `file:` URLs by the standard's current file rules, the rest by the `url` crate.
#[derive(Clone)]
enum Record {
    Web(url::Url),
    File(FileUrl),
}

impl Record {
    /// Parses `input` against `base` as `new URL(input, base)` does.
    fn parse(input: &str, base: Option<&Record>) -> std::result::Result<Self, String> {
        let invalid = |e: String| format!("Invalid URL: \"{input}\": {e}");
        let cleaned = file_url::preprocess(input);
        let file_base = match base {
            Some(Record::File(base)) => Some(base),
            _ => None,
        };
        match file_url::split_scheme(&cleaned) {
            Some((scheme, rest)) if scheme == "file" => FileUrl::parse(rest, file_base),
            None if file_base.is_some() => FileUrl::parse(&cleaned, file_base),
            _ => {
                let base = match base {
                    Some(Record::Web(base)) => Some(base),
                    _ => None,
                };
                return url::Url::options()
                    .base_url(base)
                    .parse(input)
                    .map(Record::Web)
                    .map_err(|e| invalid(e.to_string()));
            }
        }
        .map(Record::File)
        .map_err(invalid)
    }

    /// Parses `input`, and `base` first when given, reporting which of the two is invalid.
    fn parse_with(input: &str, base: Option<&str>) -> std::result::Result<Self, String> {
        let base = match base {
            Some(b) => Some(
                Record::parse(b, None)
                    .map_err(|e| e.replacen("Invalid URL", "Invalid base URL", 1))?,
            ),
            None => None,
        };
        Record::parse(input, base.as_ref())
    }

    fn href(&self) -> String {
        match self {
            Record::Web(url) => url.as_str().to_string(),
            Record::File(url) => url.href(),
        }
    }

    fn query(&self) -> Option<String> {
        match self {
            Record::Web(url) => url.query().map(str::to_string),
            Record::File(url) => url.query().map(str::to_string),
        }
    }

    fn set_query(&mut self, query: Option<&str>) {
        match self {
            Record::Web(url) => url.set_query(query),
            Record::File(url) => url.set_query(query),
        }
    }

    /// A `file:` URL turned into a `url::Url` of another special scheme, or the reverse, as
    /// the `protocol` setter does.
    fn set_protocol(&mut self, value: &str) {
        let scheme = value.split(':').next().unwrap_or("").to_ascii_lowercase();
        match self {
            Record::File(url) => {
                let special = matches!(scheme.as_str(), "http" | "https" | "ws" | "wss" | "ftp");
                if special && !url.host().is_empty() {
                    let href = url.href();
                    let rest = href.strip_prefix("file:").unwrap_or(&href);
                    if let Ok(web) = url::Url::parse(&format!("{scheme}:{rest}")) {
                        *self = Record::Web(web);
                    }
                }
            }
            Record::Web(url) if scheme == "file" => {
                let special = url.is_special() && url.scheme() != "file";
                if special
                    && url.username().is_empty()
                    && url.password().is_none()
                    && url.port().is_none()
                {
                    let href = url.as_str();
                    if let Ok(file) = FileUrl::parse(&href[url.scheme().len() + 1..], None) {
                        *self = Record::File(file);
                    }
                }
            }
            Record::Web(url) => {
                let _ = quirks::set_protocol(url, value);
            }
        }
    }
}

/// The JS `URL` class.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "URL")]
pub struct Url<'js> {
    #[qjs(skip_trace)]
    inner: Record,
    params: Option<Class<'js, UrlSearchParams<'js>>>,
}

impl<'js> Url<'js> {
    /// The serialised URL.
    pub fn href(&self) -> String {
        self.inner.href()
    }

    fn sync_params(&self) {
        if let Some(params) = &self.params {
            params.borrow_mut().list = pairs_of(self.inner.query().as_deref().unwrap_or(""));
        }
    }
}

pub(super) fn string_arg(value: &Value<'_>) -> Result<String> {
    if let Some(url) = value.as_object().and_then(super::brand::downcast::<Url>) {
        return Ok(url.borrow().href());
    }
    Ok(value.get::<Coerced<String>>()?.0)
}

#[rquickjs::methods(rename_all = "camelCase")]
impl<'js> Url<'js> {
    /// `new URL(url, base?)`.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'js>, input: Value<'js>, base: Opt<Value<'js>>) -> Result<Self> {
        let input = string_arg(&input)?;
        let base = match base.0 {
            Some(b) if !b.is_undefined() => Some(string_arg(&b)?),
            _ => None,
        };
        let inner = Record::parse_with(&input, base.as_deref())
            .map_err(|e| Exception::throw_type(&ctx, &e))?;
        Ok(Self {
            inner,
            params: None,
        })
    }

    /// `URL.canParse(url, base?)`.
    #[qjs(static)]
    pub fn can_parse(input: Value<'js>, base: Opt<Value<'js>>) -> Result<bool> {
        let input = string_arg(&input)?;
        let base = match base.0 {
            Some(b) if !b.is_undefined() => Some(string_arg(&b)?),
            _ => None,
        };
        Ok(Record::parse_with(&input, base.as_deref()).is_ok())
    }

    /// `URL.parse(url, base?)`: the URL, or `null` when it does not parse.
    #[qjs(static, rename = "parse")]
    pub fn try_parse(
        ctx: Ctx<'js>,
        input: Value<'js>,
        base: Opt<Value<'js>>,
    ) -> Result<Nullable<Class<'js, Url<'js>>>> {
        let input = string_arg(&input)?;
        let base = match base.0 {
            Some(b) if !b.is_undefined() => Some(string_arg(&b)?),
            _ => None,
        };
        match Record::parse_with(&input, base.as_deref()) {
            Ok(inner) => Ok(Nullable(Some(Class::instance(
                ctx,
                Url {
                    inner,
                    params: None,
                },
            )?))),
            Err(_) => Ok(Nullable(None)),
        }
    }

    #[qjs(get, rename = "href")]
    pub fn get_href(&self) -> String {
        self.href()
    }
    #[qjs(set, rename = "href")]
    pub fn set_href(&mut self, ctx: Ctx<'js>, value: String) -> Result<()> {
        self.inner = Record::parse(&value, None).map_err(|e| Exception::throw_type(&ctx, &e))?;
        self.sync_params();
        Ok(())
    }
    #[qjs(get)]
    pub fn origin(&self) -> String {
        let Record::Web(url) = &self.inner else {
            return "null".to_string();
        };
        // A blob: URL has its inner URL's origin only when that is http(s) (URL Standard).
        if url.scheme() == "blob" {
            return match url::Url::parse(url.path()) {
                Ok(inner) if matches!(inner.scheme(), "http" | "https") => quirks::origin(&inner),
                _ => "null".to_string(),
            };
        }
        quirks::origin(url)
    }
    #[qjs(get, rename = "protocol")]
    pub fn get_protocol(&self) -> String {
        match &self.inner {
            Record::Web(url) => quirks::protocol(url).to_string(),
            Record::File(_) => "file:".to_string(),
        }
    }
    #[qjs(set, rename = "protocol")]
    pub fn set_protocol(&mut self, value: String) {
        self.inner.set_protocol(&value);
    }
    #[qjs(get, rename = "username")]
    pub fn get_username(&self) -> String {
        match &self.inner {
            Record::Web(url) => quirks::username(url).to_string(),
            Record::File(_) => String::new(),
        }
    }
    /// A `file:` URL has no username: setting one does nothing.
    #[qjs(set, rename = "username")]
    pub fn set_username(&mut self, value: String) {
        if let Record::Web(url) = &mut self.inner {
            let _ = quirks::set_username(url, &value);
        }
    }
    #[qjs(get, rename = "password")]
    pub fn get_password(&self) -> String {
        match &self.inner {
            Record::Web(url) => quirks::password(url).to_string(),
            Record::File(_) => String::new(),
        }
    }
    /// A `file:` URL has no password: setting one does nothing.
    #[qjs(set, rename = "password")]
    pub fn set_password(&mut self, value: String) {
        if let Record::Web(url) = &mut self.inner {
            let _ = quirks::set_password(url, &value);
        }
    }
    #[qjs(get, rename = "host")]
    pub fn get_host(&self) -> String {
        match &self.inner {
            Record::Web(url) => quirks::host(url).to_string(),
            Record::File(url) => url.host().to_string(),
        }
    }
    #[qjs(set, rename = "host")]
    pub fn set_host(&mut self, value: String) {
        match &mut self.inner {
            Record::Web(url) => {
                let _ = quirks::set_host(url, &value);
            }
            Record::File(url) => url.set_host(&value),
        }
    }
    #[qjs(get, rename = "hostname")]
    pub fn get_hostname(&self) -> String {
        match &self.inner {
            Record::Web(url) => quirks::hostname(url).to_string(),
            Record::File(url) => url.host().to_string(),
        }
    }
    #[qjs(set, rename = "hostname")]
    pub fn set_hostname(&mut self, value: String) {
        match &mut self.inner {
            Record::Web(url) => {
                let _ = quirks::set_hostname(url, &value);
            }
            Record::File(url) => url.set_host(&value),
        }
    }
    #[qjs(get, rename = "port")]
    pub fn get_port(&self) -> String {
        match &self.inner {
            Record::Web(url) => quirks::port(url).to_string(),
            Record::File(_) => String::new(),
        }
    }
    /// A `file:` URL has no port: setting one does nothing.
    #[qjs(set, rename = "port")]
    pub fn set_port(&mut self, value: String) {
        if let Record::Web(url) = &mut self.inner {
            let _ = quirks::set_port(url, &value);
        }
    }
    #[qjs(get, rename = "pathname")]
    pub fn get_pathname(&self) -> String {
        match &self.inner {
            Record::Web(url) => quirks::pathname(url).to_string(),
            Record::File(url) => url.pathname(),
        }
    }
    #[qjs(set, rename = "pathname")]
    pub fn set_pathname(&mut self, value: String) {
        match &mut self.inner {
            Record::Web(url) => {
                quirks::set_pathname(url, &value);
            }
            Record::File(url) => url.set_pathname(&value),
        }
    }
    #[qjs(get, rename = "search")]
    pub fn get_search(&self) -> String {
        match &self.inner {
            Record::Web(url) => quirks::search(url).to_string(),
            Record::File(url) => url.search(),
        }
    }
    #[qjs(set, rename = "search")]
    pub fn set_search(&mut self, value: String) {
        match &mut self.inner {
            Record::Web(url) => {
                quirks::set_search(url, &value);
            }
            Record::File(url) => url.set_search(&value),
        }
        self.sync_params();
    }
    #[qjs(get, rename = "hash")]
    pub fn get_hash(&self) -> String {
        match &self.inner {
            Record::Web(url) => quirks::hash(url).to_string(),
            Record::File(url) => url.hash(),
        }
    }
    #[qjs(set, rename = "hash")]
    pub fn set_hash(&mut self, value: String) {
        match &mut self.inner {
            Record::Web(url) => {
                quirks::set_hash(url, &value);
            }
            Record::File(url) => url.set_hash(&value),
        }
    }

    /// The live `URLSearchParams` of this URL.
    #[qjs(get)]
    pub fn search_params(
        this: This<Class<'js, Url<'js>>>,
        ctx: Ctx<'js>,
    ) -> Result<Class<'js, UrlSearchParams<'js>>> {
        if let Some(params) = &this.0.borrow().params {
            return Ok(params.clone());
        }
        let list = pairs_of(this.0.borrow().inner.query().as_deref().unwrap_or(""));
        let params = Class::instance(
            ctx,
            UrlSearchParams {
                list,
                owner: Some(this.0.clone()),
            },
        )?;
        this.0.borrow_mut().params = Some(params.clone());
        Ok(params)
    }

    /// The serialised URL.
    #[qjs(rename = "toString")]
    pub fn to_string_js(&self) -> String {
        self.href()
    }

    /// The serialised URL.
    #[qjs(rename = "toJSON")]
    pub fn to_json(&self) -> String {
        self.href()
    }

    #[qjs(prop, rename = PredefinedAtom::SymbolToStringTag, configurable)]
    pub fn to_string_tag() -> &'static str {
        "URL"
    }
}
