//! Calling functions (`kiln:function/invoke`): JSON in, then a JSON value or a generator whose
//! steps are pulled one at a time. Always a fresh instance.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::bindings::Function;
use super::bindings::exports::kiln::function::invoke::{Error as Thrown, Outcome, Step};
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
    bindings: Function,
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
        let invoke = self.call.bindings.kiln_function_invoke().generator();
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

/// Starts a call of a function deployment with its JSON input, in a fresh instance, in the
/// place `reservation` holds.
pub async fn start(
    deployment: Arc<Deployment>,
    reservation: Reservation,
    input: String,
) -> Result<Started, RunError> {
    deployment.touch();
    let linked = deployment.linked().await?;
    let Some(pre) = &linked.function else {
        return Err(RunError::WrongKind {
            name: deployment.name.to_string(),
            what: "is not a function",
        });
    };
    let permit = reservation.0;
    let _running = super::caps::limits::Running::start();
    let (mut store, live) = deployment.new_store()?;
    let deadline = store.data().deadline;
    let instantiated =
        tokio::time::timeout_at(deadline.into(), pre.instantiate_async(&mut store)).await;
    let bindings = match instantiated {
        Err(_) => return Err(deployment.timeout()),
        Ok(Err(trap)) => return Err(deployment.failure(trap, &store)),
        Ok(Ok(bindings)) => bindings,
    };
    let mut call = Call {
        store,
        bindings,
        deadline,
        _live: live,
        _permit: permit,
    };
    let outcome = tokio::time::timeout_at(
        deadline.into(),
        call.bindings
            .kiln_function_invoke()
            .call_call(&mut call.store, &input),
    )
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
