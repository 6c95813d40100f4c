//! `POST /functions/v2/{name}` (the default export) and `POST /functions/v2/{name}/{method}` (a
//! named one): JSON in; a value answers `application/json`, a generator answers Server-Sent
//! Events, each yield sent as soon as it is produced. `GET /functions/v2/{name}` lists the
//! methods.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use http::HeaderValue;

use crate::app::App;
use crate::http::extract::{PathParam, collect_limited};
use crate::http::request_log::Served;
use crate::http::{ApiError, body_limit};
use crate::kind::AppKind;
use crate::metrics::Metrics;
use crate::runtime::RunError;
use crate::runtime::caps::services::Inbound;
use crate::runtime::function::{Method, Pulled, Started, Steps};

/// Calls a function's default export with the JSON body (empty = `{}`).
pub async fn call(
    State(app): State<Arc<App>>,
    PathParam(name): PathParam<String>,
    request: Request,
) -> Result<Response, ApiError> {
    invoke(app, &name, "default", request).await
}

/// Calls one of a function's named methods with the JSON body (empty = `{}`).
pub async fn call_method(
    State(app): State<Arc<App>>,
    PathParam((name, method)): PathParam<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    invoke(app, &name, &method, request).await
}

/// What a function offers: `{"name", "methods": [{"name", "streams"}]}`, admitted as a call is.
pub async fn describe(
    State(app): State<Arc<App>>,
    PathParam(name): PathParam<String>,
    request: Request,
) -> Result<Json<Described>, ApiError> {
    let (deployment, _) =
        super::services::admit(&app, AppKind::Function, &name, request.headers()).await?;
    let methods = crate::runtime::function::methods(&deployment).await?;
    Ok(Json(Described {
        name,
        methods: methods.to_vec(),
    }))
}

/// A function's introspection.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Described {
    /// The function's name.
    pub name: String,
    /// What `POST /functions/v2/{name}/{method}` can call (`default`: `POST /functions/v2/{name}`).
    pub methods: Vec<Method>,
}

async fn invoke(
    app: Arc<App>,
    name: &str,
    method: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let inbound = Inbound::current();
    let (deployment, verified) =
        super::services::admit(&app, AppKind::Function, name, request.headers()).await?;
    let limit = app.max_request_bytes();
    body_limit::check_length(request.headers(), limit)?;
    // The concurrency limit applies before any of the body is read.
    let reservation = deployment.reserve()?;
    let body = collect_limited(request.into_body(), limit, "max_request_mb").await?;
    let input = if body.iter().all(u8::is_ascii_whitespace) {
        "{}".to_string()
    } else {
        // Checked without building it in memory, nesting bounded; the guest parses it.
        if nesting(&body) > MAX_NESTING {
            return Err(ApiError::Validation(format!(
                "the body is not JSON Kiln accepts: it nests deeper than {MAX_NESTING} levels"
            )));
        }
        serde_json::from_slice::<serde::de::IgnoredAny>(&body)
            .map_err(|e| ApiError::Validation(format!("the body is not JSON: {e}")))?;
        String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::Validation("the body is not UTF-8".into()))?
    };
    let served = Served::new(AppKind::Function, &deployment);
    let inbound = Inbound {
        claims: verified.or(inbound.claims.clone()),
        ..inbound
    };
    let started = inbound.scope(crate::runtime::function::start(
        deployment,
        reservation,
        method,
        input,
    ));
    let mut response = match started.await? {
        Started::Value(json) => (
            [(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json.unwrap_or_else(|| "null".into()),
        )
            .into_response(),
        Started::Stream(mut steps) => {
            // A throw or a timeout before the first yield is a plain error answer.
            let first = steps.next().await?;
            events(first, steps, app.registry.metrics().clone()).into_response()
        }
    };
    response.extensions_mut().insert(served);
    Ok(response)
}

/// How deeply a function's JSON input may nest.
const MAX_NESTING: usize = 128;

/// The deepest nesting of arrays and objects in JSON text (strings skipped).
fn nesting(json: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &byte in json {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// How long after a call's deadline its stream is cut if the client has not taken the error
/// event that the deadline produced (a client that does not read).
const CUT_GRACE: Duration = Duration::from_millis(250);

/// The event stream: the first step, then each later one as the client reads (one step ahead
/// at most). The steps are pulled by a task of their own, bounded by the call's deadline by a
/// timer: a client that stops reading cannot keep the instance, nor its place among the
/// function's concurrent calls, past it. A stream cut that way is aborted, not ended; a client
/// that goes away drops the steps, which ends the instance at once.
fn events(first: Pulled, mut steps: Steps, metrics: Arc<Metrics>) -> impl IntoResponse {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Event>(1);
    let cut = Arc::new(AtomicBool::new(false));
    let cut_by_pump = cut.clone();
    let deadline = steps.deadline() + CUT_GRACE;
    tokio::spawn(async move {
        let pump = async {
            let mut last = matches!(first, Pulled::Done(_));
            if sender.send(step_event(first)).await.is_err() {
                return;
            }
            while !last {
                let event = match steps.next().await {
                    Ok(step) => {
                        last = matches!(step, Pulled::Done(_));
                        step_event(step)
                    }
                    Err(error) => {
                        last = true;
                        error_event(error, &metrics)
                    }
                };
                if sender.send(event).await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout_at(deadline.into(), pump)
            .await
            .is_err()
        {
            cut_by_pump.store(true, Ordering::Release);
            metrics.response_cut();
        }
        // The instance and its permit go with the steps, here.
        drop(steps);
    });
    let stream = futures_util::stream::poll_fn(move |cx| match receiver.poll_recv(cx) {
        Poll::Ready(Some(event)) => Poll::Ready(Some(Ok(event))),
        Poll::Ready(None) if cut.load(Ordering::Acquire) => Poll::Ready(Some(Err(
            std::io::Error::other("the stream was cut at the function's deadline"),
        ))),
        Poll::Ready(None) => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    });
    (
        [("x-accel-buffering", HeaderValue::from_static("no"))],
        Sse::new(stream),
    )
}

fn step_event(step: Pulled) -> Event {
    match step {
        Pulled::Yielded(json) => Event::default().data(json),
        Pulled::Done(json) => Event::default().data(format!("[DONE]{}", json.unwrap_or_default())),
    }
}

fn error_event(error: RunError, metrics: &Metrics) -> Event {
    let error = ApiError::from(error);
    metrics.error(error.kind());
    let mut body =
        serde_json::json!({ "error": error.kind().as_str(), "message": error.to_string() });
    if let ApiError::Thrown {
        stack: Some(stack), ..
    } = &error
    {
        body["stack"] = stack.clone().into();
    }
    Event::default().event("error").data(body.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn nesting_counts_brackets_outside_strings() {
        assert_eq!(super::nesting(br#"{"a": [1, {"b": "]]]}"}]}"#), 3);
        assert_eq!(super::nesting(br#"["\"[[["]"#), 1);
        assert_eq!(super::nesting(b"42"), 0);
    }
}
