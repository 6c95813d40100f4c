//! Calling functions (`kiln:function/invoke`): JSON in, JSON out, or a stream of yields sent as
//! Server-Sent Events, each written as soon as the guest produces it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use tokio::sync::mpsc;
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use crate::error::ApiError;
use crate::registry::{Deployment, LiveGuard};
use crate::runtime::Sandbox;
use crate::server::Body;

/// Host bindings of the `kiln:function/function` world, generated from `wit/`.
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "kiln:function/function",
        exports: { default: async },
    });
}

use bindings::exports::kiln::function::invoke::{Error as Thrown, Outcome, Step};
pub use bindings::{Function, FunctionPre};

/// One message of the event stream.
fn event(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

fn error_event(kind: &str, message: &str, stack: Option<&str>) -> Bytes {
    let mut body = serde_json::json!({ "error": kind, "message": message });
    if let Some(stack) = stack {
        body["stack"] = stack.into();
    }
    Bytes::from(format!("event: error\ndata: {body}\n\n"))
}

fn thrown(error: Thrown) -> ApiError {
    ApiError::Thrown {
        message: error.message,
        stack: error.stack,
    }
}

/// The body of an event stream: frames arrive from the task that pulls the generator.
struct EventStream(mpsc::Receiver<Bytes>);

impl http_body::Body for EventStream {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
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
    /// Pulls the next step; after `Done` or an error the stream is over.
    pub async fn next(&mut self) -> Result<Pulled, ApiError> {
        if self.finished {
            return Ok(Pulled::Done(None));
        }
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

/// Starts a call of a function deployment with its JSON input (always a fresh instance).
pub async fn start(deployment: Arc<Deployment>, input: String) -> Result<Started, ApiError> {
    let Some(pre) = deployment.function_pre() else {
        return Err(ApiError::NotFound(format!(
            "'{}' is not a function",
            deployment.name
        )));
    };
    let permit = deployment.admit()?;
    let (mut store, live) = deployment.new_store();
    let deadline = Instant::now() + deployment.limits.timeout;
    store.data_mut().deadline = deadline;
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

/// Calls a function deployment over HTTP. A value answers `200 application/json`; a stream
/// answers `200 text/event-stream` once its first step is known (so a throw or timeout before
/// the first yield is a plain 500 or 504), each later step written as soon as it is produced.
pub async fn call(
    deployment: Arc<Deployment>,
    input: String,
) -> Result<http::Response<Body>, ApiError> {
    let mut steps = match start(deployment, input).await? {
        Started::Value(json) => {
            let body = Bytes::from(json.unwrap_or_else(|| "null".into()));
            let mut response = http::Response::new(
                Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            );
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return Ok(response);
        }
        Started::Stream(steps) => steps,
    };
    let first = steps.next().await?;
    let (sender, receiver) = mpsc::channel::<Bytes>(8);
    let first_done = matches!(first, Pulled::Done(_));
    let _ = sender.try_send(step_event(first));
    if !first_done {
        tokio::spawn(async move {
            loop {
                let step = tokio::select! {
                    step = steps.next() => step,
                    // The client went away: stop now; dropping `steps` ends the instance.
                    () = sender.closed() => return,
                };
                let (frame, last) = match step {
                    Ok(step) => {
                        let last = matches!(step, Pulled::Done(_));
                        (step_event(step), last)
                    }
                    Err(error) => (
                        error_event(error.kind(), &error.to_string(), error.stack()),
                        true,
                    ),
                };
                if sender.send(frame).await.is_err() || last {
                    return;
                }
            }
        });
    }
    let mut response = http::Response::new(EventStream(receiver).boxed_unsync());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

fn step_event(step: Pulled) -> Bytes {
    match step {
        Pulled::Yielded(json) => event(&json),
        Pulled::Done(json) => event(&format!("[DONE]{}", json.unwrap_or_default())),
    }
}
