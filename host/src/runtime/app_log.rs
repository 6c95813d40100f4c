//! Each app's recent log lines on this node, for `GET /admin-api/v2/{kind}/{name}/logs`: its
//! request lines and its guest's console output, tagged with request ids. A follower receives
//! the new lines as they come; one that reads slower than the app writes misses lines (it is
//! told how many) and never slows the app down. Its requests are also counted here, over the
//! last minute ([`Activity`], for `GET /admin-api/v2/stats` and the dashboard).
//!
//! Memory is bounded three ways: an app keeps its last [`APP_LINES`] lines within [`APP_BYTES`],
//! all apps together keep at most [`NODE_BYTES`] (past it, a new line pushes out its own app's
//! oldest), and a followed app buffers at most [`LIVE_LINES`] lines for its slowest follower.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::kind::AppKind;

/// Lines kept per app.
pub const APP_LINES: usize = 1000;
/// Bytes of lines kept per app.
pub const APP_BYTES: usize = 128 << 10;
/// Bytes of lines kept for all apps of the node.
pub const NODE_BYTES: usize = 32 << 20;
/// Lines buffered for the followers of one app; a follower further behind misses lines.
pub const LIVE_LINES: usize = 256;
/// Followers the node serves at once.
pub const MAX_FOLLOWERS: usize = 64;
/// The longest message kept; a longer one is cut (Kiln's own log has it whole).
pub const MAX_MESSAGE: usize = 4 << 10;

/// One line of an app's log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogLine {
    /// When it was written (RFC 3339, UTC).
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String)]
    pub time: std::time::SystemTime,
    /// `request` (the line Kiln writes for each request), `stdout` or `stderr` (the guest's).
    pub source: &'static str,
    /// The request being served, if any.
    pub request_id: Option<String>,
    /// The text, without its newline.
    pub message: String,
}

impl LogLine {
    /// What the line costs to keep.
    fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.message.len()
            + self.request_id.as_ref().map_or(0, String::len)
    }
}

/// The log lines of every app on this node.
#[derive(Debug, Default)]
pub struct AppLogs {
    apps: Mutex<HashMap<(AppKind, String), Arc<AppLog>>>,
    kept: Arc<AtomicUsize>,
    followers: Arc<AtomicUsize>,
    missed: Arc<AtomicU64>,
}

impl AppLogs {
    /// The log of one app, created on first use; it lasts across the app's versions.
    pub fn app(&self, kind: AppKind, name: &str) -> Arc<AppLog> {
        let mut apps = self.apps.lock().expect("app logs");
        apps.entry((kind, name.to_string()))
            .or_insert_with(|| {
                Arc::new(AppLog {
                    ring: Mutex::default(),
                    kept: self.kept.clone(),
                    missed: self.missed.clone(),
                })
            })
            .clone()
    }

    /// Forgets an app's lines (it was removed) and ends its followers' streams.
    pub fn remove(&self, kind: AppKind, name: &str) {
        let removed = self
            .apps
            .lock()
            .expect("app logs")
            .remove(&(kind, name.to_string()));
        if let Some(log) = removed
            && let Ok(mut ring) = log.ring.lock()
        {
            ring.live = None;
            ring.removed = true;
        }
    }

    /// Every app that served a request since the node started, with its activity.
    pub fn activity(&self) -> Vec<(AppKind, String, ActivityView)> {
        let apps: Vec<_> = self
            .apps
            .lock()
            .expect("app logs")
            .iter()
            .map(|((kind, name), log)| (*kind, name.clone(), log.clone()))
            .collect();
        apps.into_iter()
            .filter_map(|(kind, name, log)| Some((kind, name, log.activity()?)))
            .collect()
    }

    /// A place among the node's followers, if one is free.
    pub fn follower(&self) -> Option<FollowerSlot> {
        let taken = self
            .followers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_FOLLOWERS).then_some(n + 1)
            });
        taken.ok().map(|_| FollowerSlot(self.followers.clone()))
    }

    /// Bytes of lines kept for all apps.
    pub fn kept_bytes(&self) -> usize {
        self.kept.load(Ordering::Relaxed)
    }

    /// Lines that followers missed because they read too slowly.
    pub fn missed_lines(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
}

/// One of the node's [`MAX_FOLLOWERS`] places, given back when dropped.
#[derive(Debug)]
pub struct FollowerSlot(Arc<AtomicUsize>);

impl Drop for FollowerSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The recent lines of one app, and its live followers.
#[derive(Debug)]
pub struct AppLog {
    ring: Mutex<Ring>,
    kept: Arc<AtomicUsize>,
    missed: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct Ring {
    lines: VecDeque<Arc<LogLine>>,
    bytes: usize,
    /// Where followers receive new lines, made by the first follower (its buffer is
    /// [`LIVE_LINES`] slots) and dropped once none is left, so that an unfollowed app keeps none.
    live: Option<broadcast::Sender<Arc<LogLine>>>,
    /// The app was removed: followers get its last lines, then the end.
    removed: bool,
    /// Its requests, once it has served one.
    activity: Option<Box<Activity>>,
}

impl AppLog {
    /// Adds a line from `source` written while serving `request_id`.
    pub fn push(&self, source: &'static str, request_id: Option<&str>, message: &str) {
        self.add(source, request_id, message, None);
    }

    /// Adds the line of a request answered with `status` after `duration`, and counts it.
    pub fn request(&self, request_id: &str, message: &str, status: u16, duration: Duration) {
        self.add(
            "request",
            Some(request_id),
            message,
            Some((status, duration)),
        );
    }

    /// Adds a line and, for a request's, counts the request: one lock for both.
    fn add(
        &self,
        source: &'static str,
        request_id: Option<&str>,
        message: &str,
        request: Option<(u16, Duration)>,
    ) {
        let line = Arc::new(LogLine {
            time: std::time::SystemTime::now(),
            source,
            request_id: request_id.map(str::to_string),
            message: cut(message, MAX_MESSAGE).to_string(),
        });
        let size = line.size();
        if let Ok(mut ring) = self.ring.lock() {
            if let Some((status, duration)) = request {
                ring.activity
                    .get_or_insert_default()
                    .record(unix_second(), status, duration);
            }
            while let Some(oldest) = ring.lines.front()
                && (ring.lines.len() >= APP_LINES
                    || ring.bytes + size > APP_BYTES
                    || self.kept.load(Ordering::Relaxed) + size > NODE_BYTES)
            {
                let freed = oldest.size();
                ring.lines.pop_front();
                ring.bytes -= freed;
                self.kept.fetch_sub(freed, Ordering::Relaxed);
            }
            ring.lines.push_back(line.clone());
            ring.bytes += size;
            self.kept.fetch_add(size, Ordering::Relaxed);
            // Sent under the lock, so that `follow` sees each line once.
            if let Some(live) = &ring.live
                && live.send(line).is_err()
            {
                // The last follower left: drop the buffer with the sender.
                ring.live = None;
            }
        }
    }

    /// The app's requests over the last minute, if it served any since the node started.
    pub fn activity(&self) -> Option<ActivityView> {
        let ring = self.ring.lock().ok()?;
        Some(ring.activity.as_ref()?.view(unix_second()))
    }

    /// The last `count` lines, oldest first.
    pub fn recent(&self, count: usize) -> Vec<Arc<LogLine>> {
        self.ring
            .lock()
            .map_or_else(|_| Vec::new(), |ring| ring.last(count))
    }

    /// The last `count` lines and, without a gap between them, the lines written from now on.
    pub fn follow(&self, count: usize) -> (Vec<Arc<LogLine>>, Follower) {
        // Subscribing under the ring's lock: a line is either in `recent` or received.
        let mut ring = self
            .ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A removed app's follower gets its last lines, then the end.
        let live = if ring.removed {
            broadcast::channel(1).1
        } else {
            ring.live
                .get_or_insert_with(|| broadcast::Sender::new(LIVE_LINES))
                .subscribe()
        };
        let follower = Follower {
            live,
            missed: self.missed.clone(),
        };
        (ring.last(count), follower)
    }
}

impl Ring {
    /// The last `count` lines, oldest first.
    fn last(&self, count: usize) -> Vec<Arc<LogLine>> {
        let skip = self.lines.len().saturating_sub(count);
        self.lines.iter().skip(skip).cloned().collect()
    }
}

impl Drop for AppLog {
    fn drop(&mut self) {
        if let Ok(ring) = self.ring.get_mut() {
            self.kept.fetch_sub(ring.bytes, Ordering::Relaxed);
        }
    }
}

/// What a follower receives next.
#[derive(Debug)]
pub enum Next {
    /// A new line.
    Line(Arc<LogLine>),
    /// This many lines were missed: the follower read too slowly.
    Missed(u64),
    /// The app was removed.
    Closed,
}

/// The live lines of one app, for one follower.
#[derive(Debug)]
pub struct Follower {
    live: broadcast::Receiver<Arc<LogLine>>,
    missed: Arc<AtomicU64>,
}

impl Follower {
    /// Waits for the next line.
    pub async fn next(&mut self) -> Next {
        match self.live.recv().await {
            Ok(line) => Next::Line(line),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                self.missed.fetch_add(missed, Ordering::Relaxed);
                Next::Missed(missed)
            }
            Err(broadcast::error::RecvError::Closed) => Next::Closed,
        }
    }
}

/// The upper bounds of the latency buckets, in milliseconds (the last one is open).
const BUCKETS_MS: [f64; 14] = [
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    f64::INFINITY,
];
/// Seconds the activity covers.
pub const WINDOW_SECONDS: usize = 60;

/// An app's requests, second by second over the last minute, and in total since start.
#[derive(Debug)]
pub struct Activity {
    requests: u64,
    errors: u64,
    seconds: [Second; WINDOW_SECONDS],
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            requests: 0,
            errors: 0,
            seconds: [Second::default(); WINDOW_SECONDS],
        }
    }
}

/// One second of requests.
#[derive(Debug, Default, Clone, Copy)]
struct Second {
    at: u64,
    requests: u32,
    errors: u32,
    latency: [u32; BUCKETS_MS.len()],
}

/// What the stats route shows of an app's activity.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivityView {
    /// Requests since the node started.
    pub requests: u64,
    /// Of them, answered with a 5xx status.
    pub errors: u64,
    /// Requests per second over the last minute.
    pub rps: f64,
    /// Errors (5xx) over the last minute.
    pub recent_errors: u64,
    /// The median latency over the last minute, as its bucket's upper bound in ms (none
    /// without requests; `null` past the last bound, 1 s).
    pub p50_ms: Option<f64>,
    /// The 99th percentile, likewise.
    pub p99_ms: Option<f64>,
    /// Requests in each of the last 60 seconds, oldest first (the current second last).
    pub per_second: Vec<u32>,
}

impl Activity {
    fn record(&mut self, now: u64, status: u16, duration: Duration) {
        let error = status >= 500;
        self.requests += 1;
        self.errors += u64::from(error);
        let second = &mut self.seconds[(now % WINDOW_SECONDS as u64) as usize];
        if second.at != now {
            *second = Second {
                at: now,
                ..Second::default()
            };
        }
        second.requests += 1;
        second.errors += u32::from(error);
        let ms = duration.as_secs_f64() * 1e3;
        let bucket = BUCKETS_MS
            .iter()
            .position(|&bound| ms <= bound)
            .unwrap_or(0);
        second.latency[bucket] += 1;
    }

    fn view(&self, now: u64) -> ActivityView {
        let mut per_second = Vec::with_capacity(WINDOW_SECONDS);
        let mut latency = [0u64; BUCKETS_MS.len()];
        let mut errors = 0u64;
        for ago in (0..WINDOW_SECONDS as u64).rev() {
            let Some(at) = now.checked_sub(ago) else {
                per_second.push(0);
                continue;
            };
            let second = &self.seconds[(at % WINDOW_SECONDS as u64) as usize];
            if second.at != at {
                per_second.push(0);
                continue;
            }
            per_second.push(second.requests);
            errors += u64::from(second.errors);
            for (sum, n) in latency.iter_mut().zip(second.latency) {
                *sum += u64::from(n);
            }
        }
        let total: u64 = latency.iter().sum();
        let quantile = |q: f64| {
            if total == 0 {
                return None;
            }
            let rank = (q * total as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (bound, n) in BUCKETS_MS.iter().zip(latency) {
                seen += n;
                if seen >= rank {
                    return bound.is_finite().then_some(*bound);
                }
            }
            None
        };
        ActivityView {
            requests: self.requests,
            errors: self.errors,
            rps: total as f64 / WINDOW_SECONDS as f64,
            recent_errors: errors,
            p50_ms: quantile(0.5),
            p99_ms: quantile(0.99),
            per_second,
        }
    }
}

fn unix_second() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A line's time, formatted when it is read rather than on the request path.
fn rfc3339<S: serde::Serializer>(
    time: &std::time::SystemTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let text = time::OffsetDateTime::from(*time)
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_keeps_its_last_lines_within_its_bounds() {
        let logs = AppLogs::default();
        let log = logs.app(AppKind::Service, "a");
        for i in 0..(APP_LINES + 10) {
            log.push("stdout", Some("r1"), &format!("line {i}"));
        }
        let recent = log.recent(usize::MAX);
        assert!(recent.len() <= APP_LINES);
        assert!(logs.kept_bytes() <= APP_BYTES, "{}", logs.kept_bytes());
        let first = APP_LINES + 10 - recent.len();
        assert_eq!(recent[0].message, format!("line {first}"));
        assert_eq!(log.recent(2)[1].message, format!("line {}", APP_LINES + 9));
        let big = "x".repeat(MAX_MESSAGE * 2);
        for _ in 0..100 {
            log.push("stderr", None, &big);
        }
        assert_eq!(log.recent(1)[0].message.len(), MAX_MESSAGE);
        assert!(logs.kept_bytes() <= APP_BYTES, "{}", logs.kept_bytes());
        drop(log);
        logs.remove(AppKind::Service, "a");
        assert_eq!(logs.kept_bytes(), 0);
    }

    #[tokio::test]
    async fn a_slow_follower_is_told_what_it_missed() {
        let logs = AppLogs::default();
        let log = logs.app(AppKind::Function, "f");
        log.push("stdout", None, "before");
        let (recent, mut follower) = log.follow(10);
        assert_eq!(recent.len(), 1);
        for i in 0..(LIVE_LINES + 5) {
            log.push("stdout", None, &format!("{i}"));
        }
        assert!(matches!(follower.next().await, Next::Missed(5)));
        match follower.next().await {
            Next::Line(line) => assert_eq!(line.message, "5"),
            other => panic!("{other:?}"),
        }
        assert_eq!(logs.missed_lines(), 5);
        logs.remove(AppKind::Function, "f");
        loop {
            match follower.next().await {
                Next::Closed => break,
                Next::Line(_) => {}
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn activity_counts_the_last_minute_by_second_with_latency_buckets() {
        let mut activity = Activity::default();
        let now = 1_000_000;
        // Older than the window: in the totals only.
        activity.record(now - 120, 500, Duration::from_millis(1));
        for _ in 0..98 {
            activity.record(now - 5, 200, Duration::from_micros(300));
        }
        activity.record(now, 503, Duration::from_millis(40));
        activity.record(now, 200, Duration::from_secs(3));
        let view = activity.view(now);
        assert_eq!(
            (view.requests, view.errors, view.recent_errors),
            (101, 2, 1)
        );
        assert_eq!(view.per_second.len(), WINDOW_SECONDS);
        assert_eq!(view.per_second[WINDOW_SECONDS - 1], 2);
        assert_eq!(view.per_second[WINDOW_SECONDS - 6], 98);
        assert!((view.rps - 100.0 / 60.0).abs() < 1e-9);
        assert_eq!(view.p50_ms, Some(0.5));
        assert_eq!(view.p99_ms, Some(50.0));
        assert_eq!(Activity::default().view(now).p50_ms, None);
    }

    #[test]
    fn only_a_followed_app_keeps_a_live_buffer() {
        let logs = AppLogs::default();
        let log = logs.app(AppKind::Service, "quiet");
        log.push("stdout", None, "a");
        assert!(log.ring.lock().expect("ring").live.is_none());
        let (_, follower) = log.follow(0);
        log.push("stdout", None, "b");
        assert!(log.ring.lock().expect("ring").live.is_some());
        drop(follower);
        log.push("stdout", None, "c");
        assert!(log.ring.lock().expect("ring").live.is_none());
    }

    #[test]
    fn followers_are_bounded() {
        let logs = AppLogs::default();
        let slots: Vec<_> = (0..MAX_FOLLOWERS).map_while(|_| logs.follower()).collect();
        assert_eq!(slots.len(), MAX_FOLLOWERS);
        assert!(logs.follower().is_none());
        drop(slots);
        assert!(logs.follower().is_some());
    }
}
