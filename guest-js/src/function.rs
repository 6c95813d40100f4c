//! `kiln:function/invoke` and `kiln:function/methods`: the module's default export, or one of its
//! named exports, called with JSON input; generators become streams the host pulls one step at a
//! time.

use std::cell::Cell;

use rquickjs::atom::PredefinedAtom;
use rquickjs::function::This;
use rquickjs::{Ctx, Function, Object, Persistent, Value};

use crate::Component;
use crate::bindings::exports::kiln::function::invoke::{self, Generator, Outcome, Step};
use crate::bindings::exports::kiln::function::methods::{self, Method};
use crate::engine;
use crate::errors::{self, JsError};

impl From<JsError> for invoke::Error {
    fn from(error: JsError) -> Self {
        invoke::Error {
            message: error.message,
            stack: error.stack,
        }
    }
}

/// A JavaScript generator (sync or async) being pulled by the host.
pub struct JsGenerator {
    generator: Persistent<Object<'static>>,
    finished: Cell<bool>,
}

fn to_json<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<Option<String>, JsError> {
    match ctx
        .json_stringify(value)
        .map_err(|e| errors::catch(ctx, e))?
    {
        Some(text) => text
            .to_string()
            .map(Some)
            .map_err(|e| errors::catch(ctx, e)),
        None => Ok(None),
    }
}

fn is_generator(value: &Value<'_>) -> bool {
    let Some(object) = value.as_object() else {
        return false;
    };
    let tag: Option<String> = object.get(PredefinedAtom::SymbolToStringTag).ok();
    matches!(tag.as_deref(), Some("Generator" | "AsyncGenerator"))
        && object
            .get::<_, Value>("next")
            .is_ok_and(|n| n.is_function())
}

/// The module's methods: each named export that is a function (sorted by name, as a module
/// namespace is), without `default`.
pub fn methods<'js>(namespace: &Object<'js>) -> Vec<(String, Function<'js>)> {
    namespace
        .props::<String, Value>()
        .filter_map(Result::ok)
        .filter(|(name, _)| name != "default")
        .filter_map(|(name, value)| value.into_function().map(|f| (name, f)))
        .collect()
}

/// Whether `function` was declared `function*` or `async function*`.
fn declared_generator(function: &Function<'_>) -> bool {
    let tag: Option<String> = function.get(PredefinedAtom::SymbolToStringTag).ok();
    matches!(
        tag.as_deref(),
        Some("GeneratorFunction" | "AsyncGeneratorFunction")
    )
}

/// Calls `function` with the parsed `input` and the app's `env`: a generator becomes a stream,
/// anything else is awaited and answered as JSON.
fn run<'js>(
    ctx: &Ctx<'js>,
    env: Object<'js>,
    function: Function<'js>,
    input: String,
) -> Result<Outcome, JsError> {
    let input = ctx.json_parse(input).map_err(|e| errors::catch(ctx, e))?;
    crate::apis::env::bind(ctx, &env).map_err(|e| errors::catch(ctx, e))?;
    let result: Value = function
        .call((input, env))
        .map_err(|e| errors::catch(ctx, e))?;
    if is_generator(&result) {
        let generator = result.into_object().expect("checked by is_generator");
        return Ok(Outcome::Stream(Generator::new(JsGenerator {
            generator: Persistent::save(ctx, generator),
            finished: Cell::new(false),
        })));
    }
    let value = engine::resolve(ctx, result)?;
    Ok(Outcome::Value(to_json(ctx, value)?))
}

impl invoke::Guest for Component {
    type Generator = JsGenerator;

    fn call(input: String) -> Result<Outcome, invoke::Error> {
        engine::with_app(|ctx, app| {
            let function = app.default.as_function().cloned().ok_or_else(|| {
                JsError::engine("the module has no default export; call one of its methods")
            })?;
            run(ctx, app.env, function, input)
        })
        .map_err(Into::into)
    }
}

impl methods::Guest for Component {
    fn names() -> Vec<Method> {
        engine::with_app(|_, app| {
            let default = app.default.as_function().map(|f| Method {
                name: "default".into(),
                streams: declared_generator(f),
            });
            let named = methods(&app.namespace).into_iter().map(|(name, f)| Method {
                streams: declared_generator(&f),
                name,
            });
            Ok(default.into_iter().chain(named).collect())
        })
        .unwrap_or_default()
    }

    fn call(name: String, input: String) -> Result<Outcome, invoke::Error> {
        if name == "default" {
            return <Component as invoke::Guest>::call(input);
        }
        engine::with_app(|ctx, app| {
            let function = methods(&app.namespace)
                .into_iter()
                .find_map(|(n, f)| (n == name).then_some(f))
                .ok_or_else(|| JsError::engine(format!("the module has no method '{name}'")))?;
            run(ctx, app.env, function, input)
        })
        .map_err(Into::into)
    }
}

impl invoke::GuestGenerator for JsGenerator {
    fn next(&self) -> Result<Step, invoke::Error> {
        if self.finished.get() {
            return Ok(Step::Done(None));
        }
        let step = engine::with_app(|ctx, _| {
            let generator = self
                .generator
                .clone()
                .restore(ctx)
                .map_err(|e| errors::catch(ctx, e))?;
            let next: Function = generator.get("next").map_err(|e| errors::catch(ctx, e))?;
            let result: Value = next
                .call((This(generator),))
                .map_err(|e| errors::catch(ctx, e))?;
            // An async generator answers with a promise of the step.
            let result = engine::resolve(ctx, result)?;
            let result = result.as_object().ok_or_else(|| {
                JsError::engine("the generator's next() did not return an object")
            })?;
            let done: bool = result.get("done").unwrap_or(false);
            let value: Value = result.get("value").map_err(|e| errors::catch(ctx, e))?;
            let json = to_json(ctx, value)?;
            Ok(if done {
                Step::Done(json)
            } else {
                Step::Yielded(json.unwrap_or_else(|| "null".into()))
            })
        });
        if !matches!(step, Ok(Step::Yielded(_))) {
            self.finished.set(true);
        }
        step.map_err(Into::into)
    }
}
