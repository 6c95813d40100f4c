//! `fetch` over `wasi:http/outgoing-handler`. The host decides what is reachable (the service's
//! `net` grant); a refused request rejects with a `TypeError`. Pending fetches are completed by
//! the engine's event loop, which waits on their pollables together with the timers'. An
//! `AbortSignal` passed as `signal` drops the request (the host cancels it) and rejects with the
//! signal's reason.

use rquickjs::function::Opt;
use rquickjs::{Class, Ctx, Exception, Function, Persistent, Promise, Result, Value};

use crate::apis::body::Body;
use crate::apis::headers::Headers;
use crate::apis::request::Request;
use crate::apis::response::Response;
use crate::apis::scripts::{self, Helper};
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingResponse, Method, OutgoingBody,
    OutgoingRequest, Scheme,
};
use crate::bindings::wasi::io::poll::Pollable;
use crate::scope;

struct Pending {
    id: u64,
    future: FutureIncomingResponse,
    url: String,
    resolve: Persistent<Function<'static>>,
    reject: Persistent<Function<'static>>,
}

/// The fetches in flight, this API's part of the [scope](crate::scope).
#[derive(Default)]
struct InFlightFetches {
    pending: Vec<Pending>,
    last_id: u64,
}

/// Registers `fetch`.
pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    ctx.globals().set(
        "fetch",
        Function::new(ctx.clone(), fetch)?.with_name("fetch")?,
    )
}

fn method_of(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    }
}

/// `fetch(input, init)`: whatever goes wrong before the request is sent (a bad URL, method or
/// header) rejects the promise, as the standard says, rather than throwing.
fn fetch<'js>(ctx: Ctx<'js>, input: Value<'js>, init: Opt<Value<'js>>) -> Result<Promise<'js>> {
    match send(ctx.clone(), input, init) {
        Err(rquickjs::Error::Exception) => {
            let reason = ctx.catch();
            let (promise, _, reject) = ctx.promise()?;
            reject.call::<_, ()>((reason,))?;
            Ok(promise)
        }
        sent => sent,
    }
}

fn send<'js>(ctx: Ctx<'js>, input: Value<'js>, init: Opt<Value<'js>>) -> Result<Promise<'js>> {
    let mut request = Request::new(ctx.clone(), input, init)?;
    let signal = request.given_signal();
    if let Some(stream) = request.live_stream(&ctx)? {
        // A body JS still produces is read to its end first, then sent.
        let send = scripts::helper(&ctx, Helper::SendBuffered)?;
        let native = Function::new(ctx.clone(), fetch)?;
        return send.call((
            native,
            stream,
            request.method(),
            request.url(),
            request.headers(ctx.clone())?,
            signal,
        ));
    }
    let (promise, resolve, reject) = ctx.promise()?;
    if let Some(signal) = &signal
        && signal.get::<_, bool>("aborted")?
    {
        reject.call::<_, ()>((signal.get::<_, Value>("reason")?,))?;
        return Ok(promise);
    }
    let (method, url, headers, body) = request.to_outgoing(&ctx)?;
    let id = scope::with(|fetches: &mut InFlightFetches| {
        fetches.last_id += 1;
        fetches.last_id
    });
    // Listening first checks that `signal` is an AbortSignal before anything is sent; an abort
    // after the fetch settled finds nothing to cancel.
    if let Some(signal) = signal {
        let cancel = Function::new(ctx.clone(), move |ctx: Ctx<'js>, reason: Value<'js>| {
            abort(&ctx, id, reason)
        })?;
        crate::apis::scripts::on_abort(&ctx, signal, cancel)?;
    }
    match start(&method, &url, &headers, &body) {
        Ok(future) => scope::with(|fetches: &mut InFlightFetches| {
            fetches.pending.push(Pending {
                id,
                future,
                url,
                resolve: Persistent::save(&ctx, resolve),
                reject: Persistent::save(&ctx, reject),
            })
        }),
        Err(message) => {
            let error = Exception::throw_type(&ctx, &format!("fetch {url} failed: {message}"));
            let _ = error;
            reject.call::<_, ()>((ctx.catch(),))?;
        }
    }
    Ok(promise)
}

/// Drops fetch `id` if it is still in flight (the host cancels the request) and rejects it with
/// `reason`.
fn abort<'js>(ctx: &Ctx<'js>, id: u64, reason: Value<'js>) -> Result<()> {
    let aborted = scope::with(|fetches: &mut InFlightFetches| {
        let pending = &mut fetches.pending;
        let at = pending.iter().position(|f| f.id == id)?;
        Some(pending.remove(at))
    });
    match aborted {
        Some(fetch) => fetch.reject.restore(ctx)?.call((reason,)),
        None => Ok(()),
    }
}

pub(crate) fn start(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::result::Result<FutureIncomingResponse, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
    let scheme = match parsed.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(format!("unsupported scheme '{other}'")),
    };
    let fields = Fields::new();
    for (name, value) in headers {
        // Hop-by-hop headers the host forbids are left out.
        let _ = fields.append(name, value.as_bytes());
    }
    let request = OutgoingRequest::new(fields);
    request
        .set_method(&method_of(method))
        .map_err(|()| format!("invalid method '{method}'"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "invalid scheme".to_string())?;
    let authority = match parsed.port() {
        Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
        None => parsed.host_str().unwrap_or_default().to_string(),
    };
    request
        .set_authority(Some(&authority))
        .map_err(|()| format!("invalid host '{authority}'"))?;
    let path = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_string(),
    };
    request
        .set_path_with_query(Some(&path))
        .map_err(|()| format!("invalid path '{path}'"))?;
    let outgoing = request
        .body()
        .map_err(|()| "the request body is unavailable".to_string())?;
    let future = outgoing_handler::handle(request, None).map_err(describe)?;
    // If sending fails (e.g. the host refused the request), the stream closes early: the
    // response future then carries the reason, which is what the caller is told.
    if let Ok(stream) = outgoing.write() {
        for chunk in body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing, None);
    Ok(future)
}

fn describe(code: ErrorCode) -> String {
    match code {
        ErrorCode::HttpRequestDenied => {
            "the request was refused: this app has no network grant for that host".into()
        }
        ErrorCode::InternalError(Some(message)) => message,
        other => format!("{other:?}"),
    }
}

/// Whether any fetch is in flight.
fn pending() -> bool {
    scope::with(|fetches: &mut InFlightFetches| !fetches.pending.is_empty())
}

/// A pollable per fetch in flight, ready when its response (or error) has arrived.
fn pollables() -> Vec<Pollable> {
    scope::with(|fetches: &mut InFlightFetches| {
        fetches
            .pending
            .iter()
            .map(|f| f.future.subscribe())
            .collect()
    })
}

/// Settles every fetch whose response has arrived: a `Response` whose body is read as JS asks, or a
/// `TypeError`.
fn complete_ready(ctx: &Ctx<'_>) {
    let ready: Vec<Pending> = scope::with(|fetches: &mut InFlightFetches| {
        let pending = &mut fetches.pending;
        let (done, waiting): (Vec<Pending>, Vec<Pending>) = pending
            .drain(..)
            .partition(|f| f.future.subscribe().ready());
        *pending = waiting;
        done
    });
    for fetch in ready {
        let outcome = match fetch.future.get() {
            Some(Ok(Ok(response))) => receive(ctx, response),
            Some(Ok(Err(code))) => Err(describe(code)),
            Some(Err(())) | None => Err("the response was already taken".into()),
        };
        let settled = match outcome {
            Ok(value) => fetch
                .resolve
                .restore(ctx)
                .and_then(|resolve| resolve.call::<_, ()>((value,))),
            Err(message) => {
                let _ =
                    Exception::throw_type(ctx, &format!("fetch {} failed: {message}", fetch.url));
                let reason = ctx.catch();
                fetch
                    .reject
                    .restore(ctx)
                    .and_then(|reject| reject.call::<_, ()>((reason,)))
            }
        };
        if settled.is_err() {
            let _ = ctx.catch();
        }
    }
}

fn receive<'js>(
    ctx: &Ctx<'js>,
    response: IncomingResponse,
) -> std::result::Result<Value<'js>, String> {
    let status = response.status();
    let headers = Headers::from_pairs(
        response
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect(),
    );
    // A null-body status has no body; any other body is read as JS asks for it (so a fetched
    // stream reaches the client chunk by chunk when the handler returns it).
    let body = if matches!(status, 101 | 103 | 204 | 205 | 304) {
        Body::Empty
    } else {
        let body = response
            .consume()
            .map_err(|()| "the response body was already taken".to_string())?;
        Body::Incoming(crate::apis::body::add_fetched(response, body))
    };
    let response = Response::received(ctx, status, headers, body).map_err(|e| e.to_string())?;
    Class::instance(ctx.clone(), response)
        .map(|c| c.into_value())
        .map_err(|e| e.to_string())
}

/// The fetches in flight, as a source of the event loop: ready when a response has arrived.
pub struct InFlight;

impl crate::reactor::Source for InFlight {
    fn waiting(&self) -> bool {
        pending()
    }

    fn subscribe(&self, into: &mut Vec<Pollable>) {
        into.extend(pollables());
    }

    fn dispatch(&self, ctx: &Ctx<'_>) {
        complete_ready(ctx);
    }
}
