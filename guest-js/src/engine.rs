//! The engine: one QuickJS runtime per instance, the app module it serves, and its event loop.

use std::cell::RefCell;
use std::io::Read;

use rquickjs::{Ctx, Function, Module, Object, Persistent, Promise, Value, WriteOptions};

use crate::apis;
use crate::errors::SourceError;
use crate::errors::{self, JsError};

/// What a module is deployed as; decides what its default export must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Handles HTTP requests.
    Service,
    /// Called with JSON input.
    Function,
}

impl Kind {
    /// `"function"` or anything else (a service).
    pub fn parse(text: &str) -> Kind {
        if text == "function" {
            Kind::Function
        } else {
            Kind::Service
        }
    }
}

/// The evaluated app module, kept alive across `Context::with` calls.
pub struct App {
    /// The module's default export (`undefined` when there is none).
    default: Persistent<Value<'static>>,
    /// The module's namespace: its named exports (a function's methods).
    namespace: Persistent<Object<'static>>,
    /// The `env` argument of `fetch(request, env)`.
    env: Persistent<Object<'static>>,
}

/// The app, restored into a context.
pub struct AppRef<'js> {
    /// The module's default export.
    pub default: Value<'js>,
    /// The module's namespace.
    pub namespace: Object<'js>,
    /// The `env` argument of `fetch(request, env)`.
    pub env: Object<'js>,
}

/// The request handler of a service module and its receiver: the default-exported function,
/// the `fetch` method of a default-exported object, the handler given to `Deno.serve`, or the
/// `fetch` event listeners the module added (`addEventListener("fetch", ...)`).
pub fn service_handler<'js>(
    ctx: &Ctx<'js>,
    default: &Value<'js>,
) -> Option<(Function<'js>, Value<'js>)> {
    if let Some(function) = default.as_function() {
        return Some((function.clone(), Value::new_undefined(ctx.clone())));
    }
    if let Some(fetch) = default
        .as_object()
        .and_then(|o| o.get::<_, Value>("fetch").ok())
        .and_then(|f| f.as_function().cloned())
    {
        return Some((fetch, default.clone()));
    }
    apis::deno::serve_handler(ctx)
        .or_else(|| apis::scripts::fetch_event_handler(ctx))
        .map(|handler| (handler, Value::new_undefined(ctx.clone())))
}

struct Engine {
    runtime: javy::Runtime,
    app: Option<App>,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

fn new_runtime() -> javy::Runtime {
    let mut config = javy::Config::default();
    // `WeakRef` and `FinalizationRegistry`, which the web platform has and javy leaves out.
    config.weak_ref(true);
    let runtime = javy::Runtime::new(config).expect("the QuickJS runtime starts");
    runtime
        .context()
        .with(|ctx| apis::register(&ctx))
        .expect("the Web APIs register");
    runtime
}

fn with_engine<R>(f: impl FnOnce(&mut Engine) -> R) -> R {
    ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let engine = slot.get_or_insert_with(|| Engine {
            runtime: new_runtime(),
            app: None,
        });
        f(engine)
    })
}

/// Runs `f` in the engine's context (small host-side work, such as serialising an error).
pub fn with_context<R>(
    f: impl for<'js> FnOnce(&Ctx<'js>) -> rquickjs::Result<R>,
) -> rquickjs::Result<R> {
    with_engine(|engine| engine.runtime.context().with(|ctx| f(&ctx)))
}

/// Runs `f` in the engine's context, then the jobs it queued (reading a response stream).
pub fn with_js<R>(f: impl for<'js> FnOnce(&Ctx<'js>) -> Result<R, JsError>) -> Result<R, JsError> {
    with_engine(|engine| {
        let result = engine.runtime.context().with(|ctx| f(&ctx));
        let _ = engine.runtime.resolve_pending_jobs();
        result
    })
}

/// Starts the engine and, when `source` is not empty, evaluates the app module and checks it.
///
/// `source` is moved into the parser, not copied: linear memory never shrinks, so the most the
/// engine held while starting is reset for every fresh instance, and a second copy of a large
/// bundle would cost every request.
pub fn init(name: &str, source: String, kind: Kind) -> Result<(), SourceError> {
    with_engine(|engine| {
        // The key-value classes, evaluated here so that the snapshot holds them: evaluating
        // them in each fresh instance that binds a store cost ~0.7 ms. (Bindings are made per
        // instance, never here.)
        engine
            .runtime
            .context()
            .with(|ctx| apis::scripts::group(&ctx, "kv").map(drop))
            .map_err(|e| (format!("the engine's key-value scripts: {e}"), 0, 0))?;
        if !source.is_empty() {
            let app = engine.runtime.context().with(|ctx| {
                let module = Module::declare(ctx.clone(), name, source)
                    .map_err(|e| errors::catch(&ctx, e))?;
                evaluate(&ctx, module, Some(kind), true)
            });
            engine.app = Some(app.map_err(|e| e.into_source_error(name))?);
            apis::scripts::reset_clock();
        }
        Ok(())
    })
}

/// Checks `source`, compiles it to bytecode and evaluates it once to check that it serves requests.
///
/// Evaluation runs the module's top-level code, so call this on an instance that is discarded afterwards.
pub fn compile(name: &str, source: String, kind: Kind) -> Result<Vec<u8>, SourceError> {
    with_engine(|engine| {
        engine.runtime.context().with(|ctx| {
            let module = Module::declare(ctx.clone(), name, source)
                .map_err(|e| errors::catch(&ctx, e).into_source_error(name))?;
            let bytecode = module
                .write(WriteOptions::default())
                .map_err(|e| errors::catch(&ctx, e).into_source_error(name))?;
            evaluate(&ctx, module, Some(kind), true).map_err(|e| e.into_source_error(name))?;
            Ok(bytecode)
        })
    })
}

/// Evaluates a declared module (running top-level code and awaits) and checks it is a `kind`;
/// with `warm`, then serves the service's declared warm-up requests (see [`warm_up`]).
fn evaluate<'js>(
    ctx: &Ctx<'js>,
    module: Module<'js>,
    kind: Option<Kind>,
    warm: bool,
) -> Result<App, JsError> {
    let (module, done) = module.eval().map_err(|e| errors::catch(ctx, e))?;
    settle(ctx, done)?;
    let namespace = module.namespace().map_err(|e| errors::catch(ctx, e))?;
    let default: Value = namespace
        .get("default")
        .map_err(|e| errors::catch(ctx, e))?;
    match kind {
        Some(Kind::Service) if service_handler(ctx, &default).is_none() => {
            return Err(JsError::engine(
                "the module has no request handler: use `export default { fetch(request, env) }`, \
                 `export default function handler(request)`, `Deno.serve(handler)` or \
                 `addEventListener(\"fetch\", (event) => event.respondWith(...))`",
            ));
        }
        Some(Kind::Function)
            if !default.is_function() && crate::function::methods(&namespace).is_empty() =>
        {
            return Err(JsError::engine(
                "the module exports no function: `export default function(input) { ... }` \
                 (or `function*` / `async function*` to stream), or named methods such as \
                 `export function add(input) { ... }`",
            ));
        }
        _ => {}
    }
    let env = Object::new(ctx.clone()).map_err(|e| errors::catch(ctx, e))?;
    if warm && kind == Some(Kind::Service) {
        let warmup: Value = namespace.get("warmup").map_err(|e| errors::catch(ctx, e))?;
        warm_up(ctx, &default, &env, warmup)?;
    }
    Ok(App {
        default: Persistent::save(ctx, default),
        namespace: Persistent::save(ctx, namespace),
        env: Persistent::save(ctx, env),
    })
}

/// Serves the requests a service declares with `export const warmup = ["/path", ...]` before the
/// snapshot is taken, so that work an app does lazily on its first requests (a router compiling
/// its matchers, caches filling) is done once at deploy instead of by every fresh instance.
/// Each path is fetched with GET from `http://localhost`; a handler that throws or answers 5xx
/// fails the deploy, naming the path.
fn warm_up<'js>(
    ctx: &Ctx<'js>,
    default: &Value<'js>,
    env: &Object<'js>,
    warmup: Value<'js>,
) -> Result<(), JsError> {
    if warmup.is_undefined() {
        return Ok(());
    }
    let usage = "`export const warmup` must be an array of paths, e.g. [\"/\", \"/users/1\"]";
    let Some(paths) = warmup.as_array() else {
        return Err(JsError::engine(usage));
    };
    let Some((handler, this)) = service_handler(ctx, default) else {
        return Ok(());
    };
    let catch = |e| errors::catch(ctx, e);
    let request_class: rquickjs::function::Constructor =
        ctx.globals().get("Request").map_err(catch)?;
    for path in paths.iter::<Value>() {
        let path = path.map_err(catch)?;
        let Some(path) = path
            .as_string()
            .and_then(|s| s.to_string().ok())
            .filter(|p| p.starts_with('/'))
        else {
            return Err(JsError::engine(usage));
        };
        let failed = |why: String| JsError::engine(format!("warm-up request GET {path}: {why}"));
        let request: Value = request_class
            .construct((format!("http://localhost{path}"),))
            .map_err(catch)?;
        let served = handler
            .call::<_, Value>((rquickjs::function::This(this.clone()), request, env.clone()))
            .map_err(catch)
            .and_then(|returned| resolve(ctx, returned))
            .map_err(|e| failed(e.message))?;
        let response = served
            .as_object()
            .and_then(apis::brand::downcast::<crate::apis::response::Response>)
            .ok_or_else(|| failed("the handler did not return a Response".into()))?;
        let status = response
            .borrow_mut()
            .into_parts(ctx)
            .map_err(catch)
            .map_err(|e| failed(e.message))?
            .status;
        if status >= 500 {
            return Err(failed(format!("answered {status}")));
        }
    }
    Ok(())
}

/// Loads the app from QuickJS bytecode on standard input (the bytecode tier).
fn load_from_stdin(engine: &mut Engine) -> Result<(), JsError> {
    let mut bytecode = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytecode)
        .map_err(|e| JsError::engine(format!("reading the app's bytecode: {e}")))?;
    if bytecode.is_empty() {
        return Err(JsError::engine("no app is loaded in this engine"));
    }
    let app = engine.runtime.context().with(|ctx| {
        // SAFETY: the bytecode comes from the host, which produced it with `compile` on this
        // same engine build; guest code never supplies bytecode.
        #[expect(
            unsafe_code,
            reason = "loading bytecode the host compiled with this engine"
        )]
        let module =
            unsafe { Module::load(ctx.clone(), &bytecode) }.map_err(|e| errors::catch(&ctx, e))?;
        evaluate(&ctx, module, None, false)
    })?;
    engine.app = Some(app);
    Ok(())
}

/// Runs `f` with the app, loading it first if this engine has none yet.
pub fn with_app<R>(
    f: impl for<'js> FnOnce(&Ctx<'js>, AppRef<'js>) -> Result<R, JsError>,
) -> Result<R, JsError> {
    with_engine(|engine| {
        if engine.app.is_none() {
            load_from_stdin(engine)?;
        }
        let app = engine.app.as_ref().expect("loaded above");
        let result = engine.runtime.context().with(|ctx| {
            let restore = |e| errors::catch(&ctx, e);
            let app = AppRef {
                default: app.default.clone().restore(&ctx).map_err(restore)?,
                namespace: app.namespace.clone().restore(&ctx).map_err(restore)?,
                env: app.env.clone().restore(&ctx).map_err(restore)?,
            };
            f(&ctx, app)
        });
        // Work queued after the answer (e.g. logging in a `.then`) still runs.
        let _ = engine.runtime.resolve_pending_jobs();
        result
    })
}

/// Drives the job queue until `value` (a promise or a plain value) settles, and returns its result.
pub fn resolve<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<Value<'js>, JsError> {
    match value.as_promise() {
        Some(promise) => settle(ctx, promise.clone()),
        None => Ok(value),
    }
}

/// Runs the event loop over every API's sources of outside work until `promise` settles.
fn settle<'js>(ctx: &Ctx<'js>, promise: Promise<'js>) -> Result<Value<'js>, JsError> {
    crate::reactor::settle(ctx, promise, apis::SOURCES)
}
