//! File descriptors: the process's limit is raised to what the system allows at start, and
//! read by the bounds that keep descriptors in reserve (outgoing connections, accepted clients).

use std::sync::atomic::{AtomicU64, Ordering};

/// The soft `RLIMIT_NOFILE` as last raised or read (0 until then).
static LIMIT: AtomicU64 = AtomicU64::new(0);

/// The most descriptors Kiln asks for, however high the hard limit is.
const WANTED: u64 = 1 << 16;

fn get() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of the call.
    #[expect(unsafe_code, reason = "getrlimit has no safe wrapper in std")]
    let done = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (done == 0).then_some(limit)
}

/// Raises the soft descriptor limit towards the hard one (at most 65,536) and returns it.
pub fn raise() -> u64 {
    let Some(mut now) = get() else {
        return limit();
    };
    let wanted = now.rlim_max.min(WANTED);
    if now.rlim_cur < wanted {
        now.rlim_cur = wanted;
        // SAFETY: `now` is a valid rlimit for the duration of the call.
        #[expect(unsafe_code, reason = "setrlimit has no safe wrapper in std")]
        let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &now) };
    }
    LIMIT.store(0, Ordering::Relaxed);
    limit()
}

/// The process's soft descriptor limit (1,024 when it cannot be read).
pub fn limit() -> u64 {
    let known = LIMIT.load(Ordering::Relaxed);
    if known > 0 {
        return known;
    }
    let now = get().map_or(1024, |l| l.rlim_cur);
    LIMIT.store(now, Ordering::Relaxed);
    now
}
