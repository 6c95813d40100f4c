//! `POST /functions/v2/{name}`: JSON in; a value answers `application/json`, a generator answers
//! Server-Sent Events, each yield sent as soon as it is produced.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use http::HeaderValue;

use crate::app::App;
use crate::http::extract::{PathParam, collect_limited};
use crate::http::request_log::Served;
use crate::http::{ApiError, body_limit};
use crate::kind::AppKind;
use crate::runtime::RunError;
use crate::runtime::function::{Pulled, Started, Steps};

/// Calls a function with the JSON body (empty = `{}`).
pub async fn call(
    State(app): State<Arc<App>>,
    PathParam(name): PathParam<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let platform = app.platform()?;
    let slot = app
        .registry
        .find(AppKind::Function, &name, super::deploy_deadline())
        .await?;
    if slot.as_ref().is_some_and(|s| s.jwt_check()) {
        crate::auth::authorize(
            request.headers(),
            &platform.settings.get().jwt_secret,
            crate::auth::Scope::Invoke,
        )?;
    }
    let slot = slot.ok_or_else(|| ApiError::NotFound(format!("function '{name}' not found")))?;
    if !slot.enabled() {
        return Err(ApiError::Resource(format!("function '{name}' is disabled")));
    }
    let limit = app.max_request_bytes();
    body_limit::check_length(request.headers(), limit)?;
    // The concurrency limit applies before any of the body is read.
    let deployment = slot.deployment();
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
    let mut response = match crate::runtime::function::start(deployment, reservation, input).await?
    {
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
            events(first, steps).into_response()
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

/// The event stream: the first step, then each later one as the client reads. Dropping the
/// stream (the client went away) drops the steps, which ends the instance at once.
fn events(first: Pulled, steps: Steps) -> impl IntoResponse {
    let done = matches!(first, Pulled::Done(_));
    let state = (Some(step_event(first)), steps, done);
    let stream = futures_util::stream::unfold(state, |(pending, mut steps, done)| async move {
        if let Some(event) = pending {
            return Some((Ok::<_, Infallible>(event), (None, steps, done)));
        }
        if done {
            return None;
        }
        let (event, last) = match steps.next().await {
            Ok(step) => {
                let last = matches!(step, Pulled::Done(_));
                (step_event(step), last)
            }
            Err(error) => (error_event(error), true),
        };
        Some((Ok(event), (None, steps, last)))
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

fn error_event(error: RunError) -> Event {
    let error = ApiError::from(error);
    crate::metrics::error(error.kind());
    let mut body = serde_json::json!({ "error": error.kind(), "message": error.to_string() });
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
