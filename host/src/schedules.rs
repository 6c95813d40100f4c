//! Schedules: an app's cron expressions (`"schedule": ["*/5 * * * *"]`, UTC; five fields, or six
//! with seconds first). Every node looks once a second for the ticks that came due since it last
//! looked; the node that records a tick's run first (the run's primary key makes the claim
//! unique in the shared database) runs it, so a tick runs once per cluster. Ticks missed while
//! no node ran, or while a node lagged, are not replayed: only the latest due tick of each
//! expression runs.
//!
//! A tick that comes while the previous run of the same expression still runs on this node, or
//! while [`MAX_RUNNING`] runs are under way on it, is recorded as `skipped` and not run: a slow
//! or hostile app cannot pile up runs.
//!
//! A run is a request Kiln makes itself, served as a client's would be (logged under its own
//! request id, bounded by the app's deadline): a function is called with `{"cron",
//! "scheduledTime"}` (milliseconds since the epoch); a service gets `POST /` with that body and
//! `x-kiln-event: scheduled`, which a JavaScript service answers with its `scheduled(event, env,
//! ctx)` export. A `jwt_check` app is called with claims for the subject `kiln:schedule`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use croner::Cron;
use http_body_util::BodyExt;

use crate::app::App;
use crate::apps::AppsError;
use crate::kind::AppKind;
use crate::runtime::caps::services::Inbound;
use crate::store::{RunRow, Store};

/// Expressions one app may have.
pub const MAX_SCHEDULES: usize = 16;
/// The subject of the claims a `jwt_check` app's scheduled run carries.
pub const SUBJECT: &str = "kiln:schedule";
/// Runs under way on one node at most.
pub const MAX_RUNNING: usize = 64;
/// How much of a failed run's answer is kept as its error.
const ERROR_BYTES: usize = 1024;

/// The expression parsed, or why it is not one.
pub fn parse(expression: &str) -> Result<Cron, String> {
    expression
        .parse::<Cron>()
        .map_err(|e| format!("'{expression}' is not a cron expression: {e}"))
}

/// The schedule as stored: each expression checked, at most [`MAX_SCHEDULES`], no duplicate.
pub fn validate(schedule: &[String]) -> Result<Vec<String>, AppsError> {
    if schedule.len() > MAX_SCHEDULES {
        return Err(AppsError::Invalid(format!(
            "schedule: at most {MAX_SCHEDULES} expressions"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(schedule.len());
    for expression in schedule {
        let expression = expression.trim().to_string();
        parse(&expression).map_err(|e| AppsError::Invalid(format!("schedule: {e}")))?;
        if out.contains(&expression) {
            return Err(AppsError::Invalid(format!(
                "schedule: '{expression}' is listed twice"
            )));
        }
        out.push(expression);
    }
    Ok(out)
}

/// Starts this node's scheduler: ticks and claims on `control` (where the database connections
/// live), runs on a thread of their own, so that neither waits for the other.
pub fn start(app: &Arc<App>, control: &tokio::runtime::Handle) -> anyhow::Result<()> {
    let platform = app.platform()?;
    let node = platform
        .cluster
        .as_ref()
        .map_or_else(|| LOCAL.to_string(), |cluster| cluster.id.clone());
    let runs = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kiln-schedule")
        .enable_all()
        .build()?;
    let scheduler = Scheduler {
        app: app.clone(),
        store: platform.apps.store().clone(),
        node,
        runs: runs.handle().clone(),
        running: Mutex::new(HashSet::new()),
    };
    // The runtime lives as long as the process.
    std::mem::forget(runs);
    control.spawn(scheduler.tick());
    Ok(())
}

struct Scheduler {
    app: Arc<App>,
    store: Arc<dyn Store>,
    node: String,
    runs: tokio::runtime::Handle,
    /// The expressions of which a run is under way on this node: (kind, app, cron).
    running: Mutex<HashSet<(AppKind, String, String)>>,
}

/// Takes an expression's place among the runs under way; gives it back when dropped.
struct Running<'a> {
    scheduler: &'a Scheduler,
    key: (AppKind, String, String),
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.scheduler.running.lock() {
            running.remove(&self.key);
        }
    }
}

/// The node name of a server that is not part of a cluster.
const LOCAL: &str = "local";

/// How often runs left `running` by a stopped node are looked for.
const ABANDON_EVERY: Duration = Duration::from_secs(60);

/// How long after its tick a run is certainly over: the longest deadline an app may have
/// (`limits.timeout_ms` ≤ 900 s) and a minute.
const RUN_OUTLIVED: Duration = Duration::from_secs(900 + 60);

impl Scheduler {
    /// Records the runs still `running` from before `before_ms` as failed.
    async fn abandon(&self, before_ms: i64) {
        match self
            .store
            .abandon_runs(before_ms, "the node running it stopped before it ended")
            .await
        {
            Ok(0) => {}
            Ok(count) => tracing::warn!(
                count,
                "scheduled runs left unfinished by a stopped node are recorded as failed"
            ),
            Err(error) => {
                tracing::warn!(%error, "unfinished scheduled runs could not be looked for")
            }
        }
    }

    async fn tick(self) {
        let scheduler = Arc::new(self);
        let mut parsed: HashMap<String, Option<Cron>> = HashMap::new();
        let mut last = Utc::now();
        let mut failing = false;
        // A node alone on its store ran every run recorded `running`: none is under way now.
        if scheduler.node == LOCAL {
            scheduler.abandon(last.timestamp_millis() + 1).await;
        }
        let mut swept = std::time::Instant::now();
        loop {
            if swept.elapsed() >= ABANDON_EVERY {
                swept = std::time::Instant::now();
                let before = Utc::now().timestamp_millis() - RUN_OUTLIVED.as_millis() as i64;
                scheduler.abandon(before).await;
            }
            let now = Utc::now();
            let to_next_second = 1_000 - u64::from(now.timestamp_subsec_millis()).min(999);
            tokio::time::sleep(Duration::from_millis(to_next_second + 5)).await;
            let now = Utc::now();
            let rows = match scheduler.store.schedules().await {
                Ok(rows) => {
                    failing = false;
                    rows
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "schedules cannot be read; they wait for the database");
                    }
                    failing = true;
                    continue;
                }
            };
            let stored = rows
                .into_iter()
                .filter_map(|(kind, name, enabled, schedule)| {
                    let kind = AppKind::parse(&kind).filter(|_| enabled)?;
                    Some((
                        kind,
                        name,
                        serde_json::from_str(&schedule).unwrap_or_default(),
                    ))
                });
            let folders = scheduler
                .app
                .deployer
                .folder_schedules()
                .into_iter()
                .map(|(name, schedule)| (AppKind::Service, name, schedule));
            for (kind, name, expressions) in stored.chain(folders) {
                let expressions: Vec<String> = expressions;
                for expression in expressions {
                    let cron = parsed
                        .entry(expression.clone())
                        .or_insert_with(|| parse(&expression).ok());
                    let Some(due) = cron
                        .as_ref()
                        .and_then(|cron| cron.find_previous_occurrence(&now, true).ok())
                    else {
                        continue;
                    };
                    if due > last {
                        tokio::spawn(scheduler.clone().claim(kind, name.clone(), expression, due));
                    }
                }
            }
            if parsed.len() > 10_000 {
                parsed.clear();
            }
            last = now;
        }
    }

    /// Claims the tick `due` of `cron` for the app and, if this node got it, runs it and records
    /// how it ended.
    async fn claim(self: Arc<Self>, kind: AppKind, name: String, cron: String, due: DateTime<Utc>) {
        let request_id: Arc<str> = Arc::from(format!("{:032x}", rand::random::<u128>()));
        let mut run = RunRow {
            cron,
            scheduled_ms: due.timestamp_millis(),
            node: self.node.clone(),
            request_id: request_id.to_string(),
            started_at: crate::store::now(),
            status: "running".into(),
            http_status: None,
            duration_ms: None,
            error: None,
        };
        let running = self.start_run(kind, &name, &run.cron);
        if let Err(why) = &running {
            run.status = "skipped".into();
            run.error = Some((*why).into());
        }
        match self.store.claim_run(kind, &name, &run).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(%error, app = %name, cron = %run.cron, "a scheduled run could not be claimed");
                return;
            }
        }
        let Ok(_running) = running else {
            tracing::warn!(app = %name, cron = %run.cron, error = run.error.as_deref().unwrap_or(""), "a scheduled tick was skipped");
            return;
        };
        let started = Instant::now();
        let job = fire(
            self.app.clone(),
            kind,
            name.clone(),
            run.cron.clone(),
            run.scheduled_ms,
            request_id,
        );
        let (status, error) = match self.runs.spawn(job).await {
            Ok(outcome) => outcome,
            Err(error) => (None, Some(format!("the run stopped: {error}"))),
        };
        run.duration_ms = Some(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX));
        run.http_status = status.map(i64::from);
        run.status = if error.is_none() { "ok" } else { "error" }.into();
        run.error = error;
        tracing::info!(
            target: "kiln::schedule",
            app = %name,
            kind = kind.as_str(),
            cron = %run.cron,
            request_id = %run.request_id,
            status = %run.status,
            duration_ms = run.duration_ms,
            error = run.error.as_deref().unwrap_or(""),
            "scheduled run"
        );
        if let Err(error) = self.store.finish_run(kind, &name, &run).await {
            tracing::warn!(%error, app = %name, "a scheduled run's end could not be recorded");
        }
    }
}

impl Scheduler {
    /// A place among the runs under way for the expression, or why there is none.
    fn start_run(
        &self,
        kind: AppKind,
        name: &str,
        cron: &str,
    ) -> Result<Running<'_>, &'static str> {
        let key = (kind, name.to_string(), cron.to_string());
        let mut running = self.running.lock().map_err(|_| "the scheduler failed")?;
        if running.contains(&key) {
            return Err("the previous run of this expression was still running");
        }
        if running.len() >= MAX_RUNNING {
            return Err("too many scheduled runs were under way on this node");
        }
        running.insert(key.clone());
        Ok(Running {
            scheduler: self,
            key,
        })
    }
}

/// Makes the request of one run and reads its answer: the HTTP status, and what went wrong
/// unless it was a success.
async fn fire(
    app: Arc<App>,
    kind: AppKind,
    name: String,
    cron: String,
    scheduled_ms: i64,
    request_id: Arc<str>,
) -> (Option<u16>, Option<String>) {
    let body = serde_json::json!({"cron": cron, "scheduledTime": scheduled_ms}).to_string();
    let path = match kind {
        AppKind::Service => format!("/api/v2/{name}/"),
        AppKind::Function => format!("/functions/v2/{name}"),
    };
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(crate::http::request_log::REQUEST_ID, &*request_id)
        .body(axum::body::Body::from(body));
    let request = match request {
        Ok(request) => request,
        Err(error) => return (None, Some(format!("the run's request: {error}"))),
    };
    let now = Utc::now().timestamp().max(0).unsigned_abs();
    let claims = crate::auth::Claims {
        sub: SUBJECT.into(),
        exp: now + 3600,
        iat: Some(now),
        scope: Some(crate::auth::Scope::Invoke.as_str().into()),
        iss: crate::auth::ISSUER.into(),
        aud: crate::auth::ISSUER.into(),
    };
    let inbound = Inbound {
        claims: Some(Arc::new(claims)),
        trace: Some(request_id),
        event: Some("scheduled"),
        ..Inbound::default()
    };
    let response = crate::http::calls::serve_within(&app, kind, name, request, inbound).await;
    let status = response.status();
    let mut body = response.into_body();
    let mut kept = Vec::new();
    let mut broken = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref()
                    && kept.len() < ERROR_BYTES
                {
                    kept.extend_from_slice(&data[..data.len().min(ERROR_BYTES - kept.len())]);
                }
            }
            Err(error) => {
                broken = Some(format!("the answer broke off: {error}"));
                break;
            }
        }
    }
    let error = if !status.is_success() {
        Some(failure(status, &kept))
    } else {
        broken
    };
    (Some(status.as_u16()), error)
}

/// A failed run's error: the message of Kiln's JSON error, or the start of the answer.
fn failure(status: http::StatusCode, body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    if message.is_empty() {
        format!("answered {status}")
    } else {
        format!("answered {status}: {message}")
    }
}

/// `ms` since the epoch as a time, for tests and views.
pub fn at(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn expressions_are_checked_and_listed_once() {
        assert!(validate(&["*/5 * * * *".into(), "*/2 * * * * *".into()]).is_ok());
        for bad in ["", "every minute", "61 * * * *", "* * * *"] {
            assert!(validate(&[bad.to_string()]).is_err(), "{bad}");
        }
        assert!(validate(&["* * * * *".into(), " * * * * * ".into()]).is_err());
        assert!(validate(&vec!["* * * * *".to_string(); MAX_SCHEDULES + 1]).is_err());
    }

    #[test]
    fn the_latest_due_tick_is_found() {
        let cron = parse("*/5 * * * *").unwrap();
        let now = at(1_700_000_123_456).unwrap();
        let due = cron.find_previous_occurrence(&now, true).unwrap();
        assert_eq!(due.timestamp_millis() % 300_000, 0);
        assert!(due <= now && now.timestamp_millis() - due.timestamp_millis() < 300_000);
    }
}
