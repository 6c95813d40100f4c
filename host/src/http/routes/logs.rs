//! `/admin-api/v2/{services|functions}/{name}/logs`: the app's recent log lines on this node
//! (`crate::runtime::app_log`) and, with `?follow=true`, its new lines as Server-Sent Events.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::App;
use crate::http::ApiError;
use crate::http::extract::PathParam;
use crate::kind::AppKind;
use crate::runtime::app_log::{APP_LINES, Follower, FollowerSlot, LogLine, MAX_FOLLOWERS, Next};

/// Lines answered when `lines` is not given.
const DEFAULT_LINES: usize = 100;
/// A comment sent to a quiet follower this often, so that proxies keep the stream open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The query of the logs route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// The last lines to answer (at most 1000; default 100).
    pub lines: Option<usize>,
    /// Keep the response open and send each new line as an event.
    #[serde(default)]
    pub follow: bool,
}

/// `{"lines": [...]}`, oldest first.
#[derive(Serialize, ToSchema)]
pub struct LogList {
    /// The app's last lines on this node.
    #[schema(value_type = Vec<LogLine>)]
    pub lines: Vec<Arc<LogLine>>,
}

/// The app's recent lines; with `follow`, a stream of `data: <line as JSON>` events, the recent
/// lines first, and `event: missed` with `{"missed": N}` when the reader fell behind.
pub async fn logs(
    State(app): State<Arc<App>>,
    Extension(kind): Extension<AppKind>,
    PathParam(name): PathParam<String>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    // A 404 for an app that does not exist, as every route of an app answers.
    app.platform()?.apps.get(kind, &name).await?;
    let count = query.lines.unwrap_or(DEFAULT_LINES).min(APP_LINES);
    let logs = app.deployer.logs();
    let log = logs.app(kind, &name);
    if !query.follow {
        return Ok(Json(LogList {
            lines: log.recent(count),
        })
        .into_response());
    }
    let slot = logs.follower().ok_or_else(|| {
        ApiError::Resource(format!(
            "this node already serves {MAX_FOLLOWERS} log followers; try again later"
        ))
    })?;
    let (recent, follower) = log.follow(count);
    let stream = futures_util::stream::unfold(
        Stream {
            recent: recent.into_iter(),
            follower,
            _slot: slot,
        },
        |mut stream| async move {
            let event = stream.next().await?;
            Some((Ok::<_, std::convert::Infallible>(event), stream))
        },
    );
    Ok((
        [
            (http::header::CONTENT_TYPE, "text/event-stream"),
            (http::header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// One follower's events: its recent lines, then the live ones.
struct Stream {
    recent: std::vec::IntoIter<Arc<LogLine>>,
    follower: Follower,
    _slot: FollowerSlot,
}

impl Stream {
    /// The next event; none once the app is removed.
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(line) = self.recent.next() {
            return Some(event(None, &*line));
        }
        match tokio::time::timeout(KEEP_ALIVE, self.follower.next()).await {
            Err(_) => Some(Bytes::from_static(b": keep-alive\n\n")),
            Ok(Next::Line(line)) => Some(event(None, &*line)),
            Ok(Next::Missed(missed)) => Some(event(
                Some("missed"),
                &serde_json::json!({ "missed": missed }),
            )),
            Ok(Next::Closed) => None,
        }
    }
}

fn event(name: Option<&str>, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_default();
    Bytes::from(match name {
        Some(name) => format!("event: {name}\ndata: {json}\n\n"),
        None => format!("data: {json}\n\n"),
    })
}
