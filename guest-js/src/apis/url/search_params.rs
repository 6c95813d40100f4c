//! `URLSearchParams`: a list of name-value pairs, serialised as `application/x-www-form-urlencoded`;
//! one that belongs to a `URL` writes its changes through to the URL's query.

use rquickjs::atom::PredefinedAtom;
use rquickjs::class::Trace;
use rquickjs::function::{Opt, This};
use rquickjs::{Array, Class, Ctx, Exception, Function, JsLifetime, Result, Value};

use super::string_arg;
use crate::apis::Nullable;

use super::Url;
pub(super) fn pairs_of(query: &str) -> Vec<(String, String)> {
    let query = query.strip_prefix('?').unwrap_or(query);
    ::url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The JS `URLSearchParams` class; when it belongs to a `URL`, changes write through to it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "URLSearchParams")]
pub struct UrlSearchParams<'js> {
    #[qjs(skip_trace)]
    pub(super) list: Vec<(String, String)>,
    pub(super) owner: Option<Class<'js, Url<'js>>>,
}

impl<'js> UrlSearchParams<'js> {
    /// `application/x-www-form-urlencoded` serialisation.
    pub fn serialize(&self) -> String {
        ::url::form_urlencoded::Serializer::new(String::new())
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
                if let Some(other) = crate::apis::brand::downcast::<UrlSearchParams>(object) {
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
