//! `Headers`: an ordered, case-insensitive list of header fields (WHATWG Fetch).

use crate::apis::Nullable;
use rquickjs::atom::PredefinedAtom;
use rquickjs::class::Trace;
use rquickjs::function::{Opt, This};
use rquickjs::{Array, Class, Ctx, Exception, Function, JsLifetime, Object, Result, Value};

/// Registers `Headers`.
pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    Class::<Headers>::define(&ctx.globals())
}

/// The JS `Headers` class; names are stored lower-cased.
#[derive(Trace, JsLifetime, Default, Clone, Debug)]
#[rquickjs::class]
pub struct Headers {
    #[qjs(skip_trace)]
    list: Vec<(String, String)>,
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn normalize_value(value: &str) -> &str {
    value.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

impl Headers {
    /// Headers from `(name, value)` pairs received over HTTP.
    pub fn from_pairs(list: Vec<(String, String)>) -> Self {
        Self { list }
    }

    /// The fields in insertion order, names lower-cased.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.list
    }

    /// Whether `name` is present (name must be lower case).
    pub fn contains(&self, name: &str) -> bool {
        self.list.iter().any(|(n, _)| n == name)
    }

    /// Appends without validation (name must be lower case).
    pub fn push(&mut self, name: &str, value: &str) {
        self.list.push((name.to_string(), value.to_string()));
    }

    /// Replaces all values of `name` (lower case) with `value`.
    pub fn replace(&mut self, name: &str, value: &str) {
        if let Some(i) = self.list.iter().position(|(n, _)| n == name) {
            self.list[i].1 = value.to_string();
            let mut index = 0;
            self.list.retain(|(n, _)| {
                let keep = index <= i || n != name;
                index += 1;
                keep
            });
        } else {
            self.push(name, value);
        }
    }

    fn checked(ctx: &Ctx<'_>, name: &str, value: &str) -> Result<(String, String)> {
        if !is_token(name) {
            return Err(Exception::throw_type(
                ctx,
                &format!("Invalid header name: \"{name}\""),
            ));
        }
        let value = normalize_value(value);
        if value.bytes().any(|b| b == 0 || b == b'\r' || b == b'\n') {
            return Err(Exception::throw_type(
                ctx,
                &format!("Invalid header value for \"{name}\""),
            ));
        }
        Ok((name.to_ascii_lowercase(), value.to_string()))
    }

    /// Fills headers from a `HeadersInit`: a `Headers`, an array of pairs or a record.
    pub fn from_init<'js>(ctx: &Ctx<'js>, init: Value<'js>) -> Result<Self> {
        let mut headers = Headers::default();
        if init.is_undefined() || init.is_null() {
            return Ok(headers);
        }
        let Some(object) = init.as_object() else {
            return Err(Exception::throw_type(ctx, "Headers init must be an object"));
        };
        if let Some(other) = super::brand::downcast::<Headers>(object) {
            return Ok(other.borrow().clone());
        }
        if let Some(array) = object.as_array() {
            for entry in array.iter::<Value>() {
                let entry = entry?;
                let pair = entry.as_array().filter(|a| a.len() == 2).ok_or_else(|| {
                    Exception::throw_type(ctx, "Headers init pairs must be [name, value] arrays")
                })?;
                let (name, value) =
                    Self::checked(ctx, &pair.get::<String>(0)?, &pair.get::<String>(1)?)?;
                headers.list.push((name, value));
            }
            return Ok(headers);
        }
        for key in object.keys::<String>() {
            let key = key?;
            let value: String = object.get(key.as_str())?;
            let (name, value) = Self::checked(ctx, &key, &value)?;
            headers.list.push((name, value));
        }
        Ok(headers)
    }

    /// The sorted, combined view used for iteration (`set-cookie` values stay separate).
    fn sorted(&self) -> Vec<(String, String)> {
        let mut names: Vec<&str> = self.list.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            if name == "set-cookie" {
                out.extend(
                    self.values_of(name)
                        .map(|v| (name.to_string(), v.to_string())),
                );
            } else if let Some(joined) = self.joined(name) {
                out.push((name.to_string(), joined));
            }
        }
        out
    }

    fn values_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.list
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn joined(&self, name: &str) -> Option<String> {
        let mut values = self.values_of(name).peekable();
        values.peek()?;
        Some(values.collect::<Vec<_>>().join(", "))
    }

    fn iterator<'js>(&self, ctx: &Ctx<'js>, kind: u8) -> Result<Value<'js>> {
        let array = Array::new(ctx.clone())?;
        for (i, (name, value)) in self.sorted().into_iter().enumerate() {
            let item: Value = match kind {
                0 => rquickjs::String::from_str(ctx.clone(), &name)?.into_value(),
                1 => rquickjs::String::from_str(ctx.clone(), &value)?.into_value(),
                _ => {
                    let pair = Array::new(ctx.clone())?;
                    pair.set(0, name)?;
                    pair.set(1, value)?;
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
impl Headers {
    /// `new Headers(init?)`.
    #[qjs(constructor)]
    pub fn new<'js>(ctx: Ctx<'js>, init: Opt<Value<'js>>) -> Result<Self> {
        match init.0 {
            Some(init) => Headers::from_init(&ctx, init),
            None => Ok(Headers::default()),
        }
    }

    /// Adds a value, keeping existing ones.
    pub fn append(&mut self, ctx: Ctx<'_>, name: String, value: String) -> Result<()> {
        let (name, value) = Self::checked(&ctx, &name, &value)?;
        self.list.push((name, value));
        Ok(())
    }

    /// Sets the only value of `name`.
    pub fn set(&mut self, ctx: Ctx<'_>, name: String, value: String) -> Result<()> {
        let (name, value) = Self::checked(&ctx, &name, &value)?;
        self.replace(&name, &value);
        Ok(())
    }

    /// Removes every value of `name`.
    pub fn delete(&mut self, name: String) {
        let name = name.to_ascii_lowercase();
        self.list.retain(|(n, _)| *n != name);
    }

    /// The values of `name` joined with `", "`, or `null`.
    pub fn get(&self, name: String) -> Nullable<String> {
        Nullable(self.joined(&name.to_ascii_lowercase()))
    }

    /// Whether `name` has a value.
    pub fn has(&self, name: String) -> bool {
        self.contains(&name.to_ascii_lowercase())
    }

    /// Each `set-cookie` value.
    #[qjs(rename = "getSetCookie")]
    pub fn get_set_cookie(&self) -> Vec<String> {
        self.values_of("set-cookie").map(str::to_string).collect()
    }

    /// Calls `callback(value, name, headers)` for each combined field, in name order.
    #[qjs(rename = "forEach")]
    pub fn for_each<'js>(
        this: This<Class<'js, Headers>>,
        callback: Function<'js>,
        this_arg: Opt<Value<'js>>,
    ) -> Result<()> {
        let entries = this.0.borrow().sorted();
        let receiver = this_arg
            .0
            .unwrap_or_else(|| Value::new_undefined(callback.ctx().clone()));
        for (name, value) in entries {
            callback.call::<_, ()>((This(receiver.clone()), value, name, this.0.clone()))?;
        }
        Ok(())
    }

    /// An iterator of `[name, value]` pairs.
    pub fn entries<'js>(&self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        self.iterator(&ctx, 2)
    }

    /// An iterator of names.
    pub fn keys<'js>(&self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        self.iterator(&ctx, 0)
    }

    /// An iterator of values.
    pub fn values<'js>(&self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        self.iterator(&ctx, 1)
    }

    /// `for (const [name, value] of headers)`.
    #[qjs(rename = PredefinedAtom::SymbolIterator)]
    pub fn iterate<'js>(&self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        self.iterator(&ctx, 2)
    }

    #[qjs(prop, rename = PredefinedAtom::SymbolToStringTag, configurable)]
    pub fn to_string_tag() -> &'static str {
        "Headers"
    }
}

/// Accepts `init.headers` of a Request/Response: a `Headers` object or anything `HeadersInit`.
pub fn from_member<'js>(ctx: &Ctx<'js>, init: Option<&Object<'js>>) -> Result<Option<Headers>> {
    match init {
        Some(object) => {
            let value: Value = object.get("headers")?;
            if value.is_undefined() {
                Ok(None)
            } else {
                Headers::from_init(ctx, value).map(Some)
            }
        }
        None => Ok(None),
    }
}
