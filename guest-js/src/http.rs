//! `wasi:http/incoming-handler`: an incoming request becomes a JS `Request`, the handler's
//! `Response` becomes the outgoing response.

use std::rc::Rc;

use rquickjs::function::This;
use rquickjs::{Class, Ctx, Value};

use crate::apis::body::{self, Payload};
use crate::apis::request::{IncomingHeaders, Request};
use crate::apis::response::{Parts, Response};
use crate::bindings::wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam, Scheme,
};
use crate::bindings::wasi::io::streams::OutputStream;
use crate::engine;
use crate::errors::{self, JsError};
use crate::scope;

/// Serves one request with the app's handler.
pub fn handle(request: IncomingRequest, out: ResponseOutparam) {
    crate::apis::scripts::start_clock();
    let method = method_name(request.method());
    let url = request_url(&request);
    let scheduled = request
        .headers()
        .get("x-kiln-event")
        .first()
        .is_some_and(|event| event == b"scheduled");
    let has_body = !matches!(method.as_str(), "GET" | "HEAD");
    body::set_incoming(if has_body {
        request.consume().ok()
    } else {
        None
    });
    scope::enter(request);
    let headers = Rc::new(IncomingHeaders::default());
    let served = if scheduled {
        serve_scheduled()
    } else {
        serve(method, url, Rc::clone(&headers), has_body)
    };
    match served {
        Ok(parts) => send(out, parts),
        Err(error) => send_error(out, error),
    }
    let request = scope::leave();
    // A `Request` that JS kept past this point can no longer reach the host for its fields.
    if Rc::strong_count(&headers) > 1
        && let Some(request) = &request
    {
        headers.get_or_read(|| scope::header_pairs(request));
    }
    // The request and its body (which a streamed response may read) live until the response is sent.
    body::set_incoming(None);
    drop(request);
}

/// Answers with the error the handler threw: 500, or 503 when the instance ran out of memory.
fn send_error(out: ResponseOutparam, error: JsError) {
    let mut message = error.message.clone();
    if let Some(stack) = &error.stack {
        message = format!("{message}\n{}", stack.trim_end());
    }
    eprintln!("Uncaught (in handler) {message}");
    // QuickJS reports a refused allocation as "out of memory": the instance hit its limit.
    let (status, kind, retryable) = if error.message.contains("out of memory") {
        (503, "ResourceError", true)
    } else {
        (500, "ExecutionError", false)
    };
    let body = error_json(kind, &error.message, retryable);
    send(
        out,
        Parts {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Payload::Bytes(body.into_bytes()),
        },
    );
}

fn serve(
    method: String,
    url: String,
    headers: Rc<IncomingHeaders>,
    has_body: bool,
) -> Result<Parts, JsError> {
    engine::with_app(|ctx, app| {
        let (function, this) = engine::service_handler(ctx, &app.default)
            .ok_or_else(|| JsError::engine("the module has no request handler"))?;
        crate::apis::env::bind(ctx, &app.env).map_err(|e| errors::catch(ctx, e))?;
        let js_request =
            Request::incoming(method, url, headers, has_body).map_err(|e| errors::catch(ctx, e))?;
        let js_request =
            Class::instance(ctx.clone(), js_request).map_err(|e| errors::catch(ctx, e))?;
        let returned: Value = function
            .call((This(this), js_request, app.env))
            .map_err(|e| errors::catch(ctx, e))?;
        let value = engine::resolve(ctx, returned)?;
        response_parts(ctx, value)
    })
}

/// A scheduled event (Kiln sets `x-kiln-event: scheduled` and sends `{"cron", "scheduledTime"}`):
/// the default export's `scheduled(event, env, ctx)` runs to its end, then 204.
fn serve_scheduled() -> Result<Parts, JsError> {
    let input = body::read_incoming(body::REQUEST_BODY).map_err(JsError::engine)?;
    engine::with_app(|ctx, app| {
        let catch = |e| errors::catch(ctx, e);
        crate::apis::env::bind(ctx, &app.env).map_err(catch)?;
        let input = ctx
            .json_parse(input)
            .map_err(catch)?
            .into_object()
            .ok_or_else(|| JsError::engine("TypeError: a scheduled event is an object"))?;
        let run: rquickjs::Function = crate::apis::scripts::group(ctx, "services")
            .and_then(|group| group.get("scheduled"))
            .map_err(catch)?;
        let cron: Value = input.get("cron").map_err(catch)?;
        let time: Value = input.get("scheduledTime").map_err(catch)?;
        let returned: Value = run
            .call((app.default.clone(), cron, time, app.env))
            .map_err(catch)?;
        engine::resolve(ctx, returned)?;
        Ok(Parts {
            status: 204,
            headers: Vec::new(),
            body: Payload::Bytes(Vec::new()),
        })
    })
}

fn response_parts<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<Parts, JsError> {
    let Some(response) = value
        .as_object()
        .and_then(crate::apis::brand::downcast::<Response>)
    else {
        let got = crate::apis::console::format(ctx, value);
        return Err(JsError::engine(format!(
            "TypeError: the handler must return a Response, got {got}"
        )));
    };
    let parts = response
        .borrow_mut()
        .into_parts(ctx)
        .map_err(|e| errors::catch(ctx, e));
    parts
}

fn method_name(method: Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other,
    }
}

fn request_url(request: &IncomingRequest) -> String {
    let scheme = match request.scheme() {
        Some(Scheme::Https) => "https".to_string(),
        Some(Scheme::Other(s)) => s,
        _ => "http".to_string(),
    };
    let authority = request
        .authority()
        .filter(|a| !a.is_empty())
        .or_else(|| {
            request
                .headers()
                .get("host")
                .first()
                .map(|h| String::from_utf8_lossy(h).into_owned())
        })
        .unwrap_or_else(|| "localhost".to_string());
    let path = request.path_with_query().unwrap_or_else(|| "/".to_string());
    format!("{scheme}://{authority}{path}")
}

fn send(out: ResponseOutparam, parts: Parts) {
    let mut list: Vec<(String, Vec<u8>)> = parts
        .headers
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect();
    let has_length = list.iter().any(|(name, _)| name == "content-length");
    if let (Payload::Bytes(bytes), false) = (&parts.body, has_length) {
        list.push((
            "content-length".into(),
            bytes.len().to_string().into_bytes(),
        ));
    }
    let response = OutgoingResponse::new(fields(&list));
    // A new response's status is 200.
    if parts.status != 200 {
        let _ = response.set_status_code(parts.status);
    }
    let Ok(body) = response.body() else { return };
    ResponseOutparam::set(out, Ok(response));
    let Ok(stream) = body.write() else { return };
    match parts.body {
        Payload::Bytes(bytes) => {
            let _ = write_all(&stream, &bytes);
        }
        Payload::Fetched(fetched) => {
            if !fetched.splice_into(&stream) {
                // Unfinished, as below: the fetched body broke off or the client went away.
                drop(stream);
                drop(body);
                return;
            }
        }
        Payload::Stream(readable) => {
            if let Err(error) = send_stream(&stream, readable) {
                // Dropping the body unfinished tells the client the response is incomplete.
                eprintln!("Uncaught (in response stream) {}", error.message);
                drop(stream);
                drop(body);
                return;
            }
        }
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

/// The response's header fields in one call to the host; if the host refuses one (a hop-by-hop
/// field, say), field by field, dropping those it refuses rather than failing the response.
fn fields(list: &[(String, Vec<u8>)]) -> Fields {
    Fields::from_list(list).unwrap_or_else(|_| {
        let fields = Fields::new();
        for (name, value) in list {
            let _ = fields.append(name, value);
        }
        fields
    })
}

/// Writes `bytes` to the response body; false when the client has gone.
fn write_all(stream: &OutputStream, bytes: &[u8]) -> bool {
    bytes
        .chunks(4096)
        .all(|chunk| stream.blocking_write_and_flush(chunk).is_ok())
}

/// Sends a `ReadableStream` body chunk by chunk, as JS enqueues them (the event loop runs
/// timers and fetches while it waits). A client that goes away cancels the stream.
fn send_stream(
    out: &OutputStream,
    readable: rquickjs::Persistent<rquickjs::Object<'static>>,
) -> Result<(), JsError> {
    let reader = engine::with_js(|ctx| {
        let catch = |e| errors::catch(ctx, e);
        let readable = readable.restore(ctx).map_err(catch)?;
        let get_reader: rquickjs::Function = readable.get("getReader").map_err(catch)?;
        let reader: rquickjs::Object = get_reader.call((This(readable),)).map_err(catch)?;
        Ok(rquickjs::Persistent::save(ctx, reader))
    })?;
    loop {
        let chunk = engine::with_js(|ctx| {
            let catch = |e| errors::catch(ctx, e);
            let reader = reader.clone().restore(ctx).map_err(catch)?;
            let read: rquickjs::Function = reader.get("read").map_err(catch)?;
            let pending: Value = read.call((This(reader),)).map_err(catch)?;
            let result = engine::resolve(ctx, pending)?;
            let result = result.into_object().ok_or_else(|| {
                JsError::engine("TypeError: the response stream's reader returned a non-object")
            })?;
            if result.get::<_, bool>("done").map_err(catch)? {
                return Ok(None);
            }
            let value: Value = result.get("value").map_err(catch)?;
            match rquickjs::TypedArray::<u8>::from_value(value.clone()) {
                Ok(bytes) => Ok(Some(bytes.as_bytes().unwrap_or_default().to_vec())),
                Err(_) => Err(JsError::engine(format!(
                    "TypeError: a response body stream must enqueue Uint8Array chunks, got {}",
                    crate::apis::console::format(ctx, value)
                ))),
            }
        })?;
        let Some(chunk) = chunk else { return Ok(()) };
        if !write_all(out, &chunk) {
            let _ = engine::with_js(|ctx| {
                let catch = |e| errors::catch(ctx, e);
                let reader = reader.clone().restore(ctx).map_err(catch)?;
                let cancel: rquickjs::Function = reader.get("cancel").map_err(catch)?;
                let reason =
                    rquickjs::Exception::from_message(ctx.clone(), "the client disconnected")
                        .map_err(catch)?;
                let _: Value = cancel.call((This(reader), reason)).map_err(catch)?;
                Ok(())
            });
            return Ok(());
        }
    }
}

/// `{"error": kind, "message": ..., "retryable": ...}`, serialised by the engine's
/// `JSON.stringify`.
fn error_json(kind: &str, message: &str, retryable: bool) -> String {
    engine::with_context(|ctx| {
        let body = rquickjs::Object::new(ctx.clone())?;
        body.set("error", kind)?;
        body.set("message", message)?;
        body.set("retryable", retryable)?;
        Ok(ctx
            .json_stringify(body)?
            .map(|text| text.to_string())
            .transpose()?
            .unwrap_or_default())
    })
    .unwrap_or_else(|_| format!("{{\"error\":\"{kind}\",\"retryable\":{retryable}}}"))
}
