//! Each app's recent log lines on this node, for `GET /admin-api/v2/{kind}/{name}/logs`: its
//! request lines and its guest's console output, tagged with request ids. A follower receives
//! the new lines as they come; one that reads slower than the app writes misses lines (it is
//! told how many) and never slows the app down.
//!
//! Memory is bounded three ways: an app keeps its last [`APP_LINES`] lines within [`APP_BYTES`],
//! all apps together keep at most [`NODE_BYTES`] (past it, a new line pushes out its own app's
//! oldest), and a followed app buffers at most [`LIVE_LINES`] lines for its slowest follower.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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
                    ring: Mutex::new(Ring {
                        live: Some(broadcast::Sender::new(LIVE_LINES)),
                        ..Ring::default()
                    }),
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
        }
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
    /// Where followers receive new lines; none once the app is removed.
    live: Option<broadcast::Sender<Arc<LogLine>>>,
}

impl AppLog {
    /// Adds a line from `source` written while serving `request_id`.
    pub fn push(&self, source: &'static str, request_id: Option<&str>, message: &str) {
        let line = Arc::new(LogLine {
            time: std::time::SystemTime::now(),
            source,
            request_id: request_id.map(str::to_string),
            message: cut(message, MAX_MESSAGE).to_string(),
        });
        let size = line.size();
        if let Ok(mut ring) = self.ring.lock() {
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
            // Sent under the lock, so that `follow` sees each line once. With no follower,
            // nothing is buffered.
            if let Some(live) = &ring.live {
                let _ = live.send(line);
            }
        }
    }

    /// The last `count` lines, oldest first.
    pub fn recent(&self, count: usize) -> Vec<Arc<LogLine>> {
        let Ok(ring) = self.ring.lock() else {
            return Vec::new();
        };
        let skip = ring.lines.len().saturating_sub(count);
        ring.lines.iter().skip(skip).cloned().collect()
    }

    /// The last `count` lines and, without a gap between them, the lines written from now on.
    pub fn follow(&self, count: usize) -> (Vec<Arc<LogLine>>, Follower) {
        // Subscribing under the ring's lock: a line is either in `recent` or received.
        let ring = self
            .ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A removed app's follower gets its last lines, then the end.
        let live = match &ring.live {
            Some(live) => live.subscribe(),
            None => broadcast::channel(1).1,
        };
        let skip = ring.lines.len().saturating_sub(count);
        let follower = Follower {
            live,
            missed: self.missed.clone(),
        };
        (ring.lines.iter().skip(skip).cloned().collect(), follower)
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
    fn followers_are_bounded() {
        let logs = AppLogs::default();
        let slots: Vec<_> = (0..MAX_FOLLOWERS).map_while(|_| logs.follower()).collect();
        assert_eq!(slots.len(), MAX_FOLLOWERS);
        assert!(logs.follower().is_none());
        drop(slots);
        assert!(logs.follower().is_some());
    }
}
