//! `URL` and `URLSearchParams` with WHATWG semantics, backed by the `url` crate (and
//! [`file_url`](super::file_url) for `file:` URLs).

use rquickjs::atom::PredefinedAtom;
use rquickjs::class::Trace;
use rquickjs::function::{Opt, This};
use rquickjs::{Array, Class, Ctx, Exception, Function, JsLifetime, Result, Value};
use url::quirks;

use crate::apis::Nullable;
use crate::apis::file_url::{self, FileUrl};

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

fn string_arg(value: &Value<'_>) -> Result<String> {
    if let Some(url) = value.as_object().and_then(super::brand::downcast::<Url>) {
        return Ok(url.borrow().href());
    }
    let ctx = value.ctx();
    ctx.globals()
        .get::<_, Function>("String")?
        .call((value.clone(),))
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

fn pairs_of(query: &str) -> Vec<(String, String)> {
    let query = query.strip_prefix('?').unwrap_or(query);
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The JS `URLSearchParams` class; when it belongs to a `URL`, changes write through to it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "URLSearchParams")]
pub struct UrlSearchParams<'js> {
    #[qjs(skip_trace)]
    list: Vec<(String, String)>,
    owner: Option<Class<'js, Url<'js>>>,
}

impl<'js> UrlSearchParams<'js> {
    /// `application/x-www-form-urlencoded` serialisation.
    pub fn serialize(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.list.iter())
            .finish()
    }

    fn update(&self) {
        if let Some(owner) = &self.owner {
            let query = self.serialize();
            owner
                .borrow_mut()
                .inner
                .set_query(if query.is_empty() { None } else { Some(&query) });
        }
    }

    fn iterator(&self, ctx: &Ctx<'js>, kind: u8) -> Result<Value<'js>> {
        let array = Array::new(ctx.clone())?;
        for (i, (name, value)) in self.list.iter().enumerate() {
            let item: Value = match kind {
                0 => rquickjs::String::from_str(ctx.clone(), name)?.into_value(),
                1 => rquickjs::String::from_str(ctx.clone(), value)?.into_value(),
                _ => {
                    let pair = Array::new(ctx.clone())?;
                    pair.set(0, name.as_str())?;
                    pair.set(1, value.as_str())?;
                    pair.into_value()
                }
            };
            array.set(i, item)?;
        }
        let values: Function = array.as_object().get("values")?;
        values.call((This(array),))
    }
}

#[rquickjs::methods]
impl<'js> UrlSearchParams<'js> {
    /// `new URLSearchParams(init?)`: a query string, pairs, a record or another `URLSearchParams`.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'js>, init: Opt<Value<'js>>) -> Result<Self> {
        let mut list = Vec::new();
        if let Some(init) = init.0.filter(|v| !v.is_undefined() && !v.is_null()) {
            if let Some(object) = init.as_object() {
                if let Some(other) = super::brand::downcast::<UrlSearchParams>(object) {
                    list = other.borrow().list.clone();
                } else if let Some(array) = object.as_array() {
                    for entry in array.iter::<Value>() {
                        let entry = entry?;
                        let pair = entry.as_array().filter(|a| a.len() == 2).ok_or_else(|| {
                            Exception::throw_type(
                                &ctx,
                                "URLSearchParams init pairs must be [name, value] arrays",
                            )
                        })?;
                        list.push((string_arg(&pair.get(0)?)?, string_arg(&pair.get(1)?)?));
                    }
                } else {
                    for key in object.keys::<String>() {
                        let key = key?;
                        let value: Value = object.get(key.as_str())?;
                        list.push((key, string_arg(&value)?));
                    }
                }
            } else {
                list = pairs_of(&string_arg(&init)?);
            }
        }
        Ok(Self { list, owner: None })
    }

    /// Adds a pair.
    pub fn append(&mut self, name: String, value: String) {
        self.list.push((name, value));
        self.update();
    }

    /// Removes pairs named `name` (and with `value`, when given).
    pub fn delete(&mut self, name: String, value: Opt<String>) {
        self.list
            .retain(|(n, v)| !(*n == name && value.0.as_ref().is_none_or(|x| x == v)));
        self.update();
    }

    /// The first value of `name`, or `null`.
    pub fn get(&self, name: String) -> Nullable<String> {
        Nullable(
            self.list
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone()),
        )
    }

    /// Every value of `name`.
    #[qjs(rename = "getAll")]
    pub fn get_all(&self, name: String) -> Vec<String> {
        self.list
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether a pair named `name` (and with `value`, when given) exists.
    pub fn has(&self, name: String, value: Opt<String>) -> bool {
        self.list
            .iter()
            .any(|(n, v)| *n == name && value.0.as_ref().is_none_or(|x| x == v))
    }

    /// Sets the only value of `name`.
    pub fn set(&mut self, name: String, value: String) {
        if let Some(i) = self.list.iter().position(|(n, _)| *n == name) {
            self.list[i].1 = value;
            let mut index = 0;
            self.list.retain(|(n, _)| {
                let keep = index <= i || *n != name;
                index += 1;
                keep
            });
        } else {
            self.list.push((name, value));
        }
        self.update();
    }

    /// Sorts pairs by name (stable, by UTF-16 code units).
    pub fn sort(&mut self) {
        self.list
            .sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
        self.update();
    }

    /// The number of pairs.
    #[qjs(get)]
    pub fn size(&self) -> usize {
        self.list.len()
    }

    /// Calls `callback(value, name, params)` for each pair.
    #[qjs(rename = "forEach")]
    pub fn for_each(
        this: This<Class<'js, UrlSearchParams<'js>>>,
        callback: Function<'js>,
        this_arg: Opt<Value<'js>>,
    ) -> Result<()> {
        let list = this.0.borrow().list.clone();
        let receiver = this_arg
            .0
            .unwrap_or_else(|| Value::new_undefined(callback.ctx().clone()));
        for (name, value) in list {
            callback.call::<_, ()>((This(receiver.clone()), value, name, this.0.clone()))?;
        }
        Ok(())
    }

    /// An iterator of `[name, value]` pairs.
    pub fn entries(&self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        self.iterator(&ctx, 2)
    }

    /// An iterator of names.
    pub fn keys(&self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        self.iterator(&ctx, 0)
    }

    /// An iterator of values.
    pub fn values(&self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        self.iterator(&ctx, 1)
    }

    /// `for (const [name, value] of params)`.
    #[qjs(rename = PredefinedAtom::SymbolIterator)]
    pub fn iterate(&self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        self.iterator(&ctx, 2)
    }

    /// The query string, without `?`.
    #[qjs(rename = "toString")]
    pub fn to_string_js(&self) -> String {
        self.serialize()
    }

    #[qjs(prop, rename = PredefinedAtom::SymbolToStringTag, configurable)]
    pub fn to_string_tag() -> &'static str {
        "URLSearchParams"
    }
}
