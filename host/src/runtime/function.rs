//! Calling functions (`kiln:function/invoke`, or a named method through `kiln:function/methods`):
//! JSON in, then a JSON value or a generator whose steps are pulled one at a time. Always a fresh
//! instance.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::bindings::exports::kiln::function::invoke::{self, Error as Thrown, Outcome, Step};
use super::code::FunctionCode;
use super::pool::LiveGuard;
use super::{Deployment, Reservation, RunError, Sandbox};

fn thrown(error: Thrown) -> RunError {
    RunError::Thrown {
        message: error.message,
        stack: error.stack,
    }
}

/// A live function instance.
struct Call {
    store: Store<Sandbox>,
    invoke: invoke::Guest,
    deadline: Instant,
    _live: LiveGuard,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// What a call started: a value at once, or a stream to pull.
pub enum Started {
    /// The JSON of the returned value (`None` for `undefined`).
    Value(Option<String>),
    /// A generator.
    Stream(Steps),
}

/// A running generator and the instance it lives in; dropping it ends the instance.
pub struct Steps {
    call: Call,
    generator: ResourceAny,
    deployment: Arc<Deployment>,
    finished: bool,
}

/// One step as the host reports it.
pub enum Pulled {
    /// A yielded value's JSON.
    Yielded(String),
    /// The end, with the return value's JSON.
    Done(Option<String>),
}

impl Steps {
    /// When the call must be done.
    pub fn deadline(&self) -> Instant {
        self.call.deadline
    }

    /// Pulls the next step; after `Done` or an error the stream is over.
    pub async fn next(&mut self) -> Result<Pulled, RunError> {
        if self.finished {
            return Ok(Pulled::Done(None));
        }
        let _running = super::caps::limits::Running::start();
        let invoke = self.call.invoke.generator();
        let step = tokio::time::timeout_at(
            self.call.deadline.into(),
            invoke.call_next(&mut self.call.store, self.generator),
        )
        .await;
        let result = match step {
            Err(_) => Err(self.deployment.timeout()),
            Ok(Err(trap)) => Err(self.deployment.failure(trap, &self.call.store)),
            Ok(Ok(Err(error))) => Err(thrown(error)),
            Ok(Ok(Ok(Step::Yielded(json)))) => Ok(Pulled::Yielded(json)),
            Ok(Ok(Ok(Step::Done(json)))) => Ok(Pulled::Done(json)),
        };
        self.finished = !matches!(result, Ok(Pulled::Yielded(_)));
        result
    }
}

/// One of a function's methods, as its introspection lists it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Method {
    /// Its name: `default` for the default export, else the export's name.
    pub name: String,
    /// Declared as a generator: it answers with an event stream.
    pub streams: bool,
}

/// How many methods a function may name, and how long each name may be.
const MAX_METHODS: usize = 1024;
const MAX_METHOD_NAME: usize = 256;

/// The methods of a function deployment. A component without `kiln:function/methods` has only
/// `default`; one with it is asked once per deployment (an instance of its own) and remembered.
pub async fn methods(deployment: &Arc<Deployment>) -> Result<Arc<[Method]>, RunError> {
    deployment
        .methods
        .get_or_try_init(|| async {
            let linked = deployment.linked().await?;
            let code = function_code(deployment, &linked)?;
            let Some(indices) = &code.methods else {
                return Ok(Arc::from([Method {
                    name: "default".into(),
                    streams: false,
                }]));
            };
            let (mut store, _live) = deployment.new_store()?;
            let deadline = store.data().deadline;
            let asked = tokio::time::timeout_at(deadline.into(), async {
                let instance = code.pre.instantiate_async(&mut store).await?;
                let methods = indices.load(&mut store, &instance)?;
                methods.call_names(&mut store).await
            })
            .await;
            let names = match asked {
                Err(_) => return Err(deployment.timeout()),
                Ok(Err(trap)) => return Err(deployment.failure(trap, &store)),
                Ok(Ok(names)) => names,
            };
            if names.len() > MAX_METHODS || names.iter().any(|m| m.name.len() > MAX_METHOD_NAME) {
                return Err(RunError::Thrown {
                    message: format!(
                        "the function names more than {MAX_METHODS} methods, or a method name \
                         longer than {MAX_METHOD_NAME} bytes"
                    ),
                    stack: None,
                });
            }
            Ok(names
                .into_iter()
                .map(|m| Method {
                    name: m.name,
                    streams: m.streams,
                })
                .collect())
        })
        .await
        .cloned()
}

fn function_code<'a>(
    deployment: &Deployment,
    linked: &'a super::code::Linked,
) -> Result<&'a FunctionCode, RunError> {
    linked.function.as_ref().ok_or_else(|| RunError::WrongKind {
        name: deployment.name.to_string(),
        what: "is not a function",
    })
}

/// Starts a call of `method` (`default`: the default export) of a function deployment with its
/// JSON input, in a fresh instance, in the place `reservation` holds. The method must be one
/// [`methods`] lists.
pub async fn start(
    deployment: Arc<Deployment>,
    reservation: Reservation,
    method: &str,
    input: String,
) -> Result<Started, RunError> {
    deployment.touch();
    let known = methods(&deployment).await?;
    if !known.iter().any(|m| m.name == method) {
        return Err(RunError::NoSuchMethod {
            name: deployment.name.to_string(),
            method: method.to_string(),
            known: known
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let linked = deployment.linked().await?;
    let code = function_code(&deployment, &linked)?;
    let permit = reservation.0;
    let _running = super::caps::limits::Running::start();
    let (mut store, live) = deployment.new_store()?;
    let deadline = store.data().deadline;
    let instantiated = tokio::time::timeout_at(deadline.into(), async {
        let instance = code.pre.instantiate_async(&mut store).await?;
        let invoke = code.invoke.load(&mut store, &instance)?;
        let methods = match (&code.methods, method) {
            (Some(indices), name) if name != "default" => {
                Some(indices.load(&mut store, &instance)?)
            }
            _ => None,
        };
        wasmtime::Result::Ok((invoke, methods))
    })
    .await;
    let (invoke, methods) = match instantiated {
        Err(_) => return Err(deployment.timeout()),
        Ok(Err(trap)) => return Err(deployment.failure(trap, &store)),
        Ok(Ok(bindings)) => bindings,
    };
    let mut call = Call {
        store,
        invoke,
        deadline,
        _live: live,
        _permit: permit,
    };
    let outcome = tokio::time::timeout_at(deadline.into(), async {
        match &methods {
            Some(methods) => methods.call_call(&mut call.store, method, &input).await,
            None => call.invoke.call_call(&mut call.store, &input).await,
        }
    })
    .await;
    match outcome {
        Err(_) => Err(deployment.timeout()),
        Ok(Err(trap)) => Err(deployment.failure(trap, &call.store)),
        Ok(Ok(Err(error))) => Err(thrown(error)),
        Ok(Ok(Ok(Outcome::Value(json)))) => Ok(Started::Value(json)),
        Ok(Ok(Ok(Outcome::Stream(generator)))) => Ok(Started::Stream(Steps {
            call,
            generator,
            deployment,
            finished: false,
        })),
    }
}
