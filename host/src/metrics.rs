//! Prometheus metrics: counters and a latency histogram kept in atomics (no locks on the request
//! path) by each runtime's [`Metrics`], rendered as Prometheus text at `GET /metrics`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What a request was routed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// `/api/v2/{name}`.
    Service = 0,
    /// `/functions/v2/{name}`.
    Function = 1,
    /// `/admin-api/*`.
    Admin = 2,
    /// Health, status, docs, metrics.
    Public = 3,
    /// The app of `kiln serve --app`.
    App = 4,
}

const KINDS: [&str; 5] = ["service", "function", "admin", "public", "app"];

impl RouteKind {
    /// `service`, `function`, `admin`, `public` or `app`.
    pub fn as_str(self) -> &'static str {
        KINDS[self as usize]
    }
}
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0,
];
/// What an error answer says it is: `{"error": kind}`. The HTTP layer maps each of its errors
/// to one; the metrics count them by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400.
    Validation = 0,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 408.
    RequestTimeout,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 409.
    Conflict,
    /// 413.
    PayloadTooLarge,
    /// 415.
    UnsupportedMediaType,
    /// 500: the app failed or threw.
    Execution,
    /// 503: a limit, or the app is disabled or busy.
    Resource,
    /// 504.
    Timeout,
    /// 500: Kiln itself failed.
    Internal,
}

impl ErrorKind {
    /// Every kind, in the order of its discriminant.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::Validation,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::RequestTimeout,
        ErrorKind::NotFound,
        ErrorKind::MethodNotAllowed,
        ErrorKind::Conflict,
        ErrorKind::PayloadTooLarge,
        ErrorKind::UnsupportedMediaType,
        ErrorKind::Execution,
        ErrorKind::Resource,
        ErrorKind::Timeout,
        ErrorKind::Internal,
    ];

    /// The name in `{"error": ...}`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Validation => "ValidationError",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::RequestTimeout => "RequestTimeout",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::MethodNotAllowed => "MethodNotAllowed",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::PayloadTooLarge => "PayloadTooLarge",
            ErrorKind::UnsupportedMediaType => "UnsupportedMediaType",
            ErrorKind::Execution => "ExecutionError",
            ErrorKind::Resource => "ResourceError",
            ErrorKind::Timeout => "TimeoutError",
            ErrorKind::Internal => "InternalError",
        }
    }
}

/// What a node holds now, for `/status` and `/metrics`.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Occupancy {
    /// Services and functions deployed.
    pub apps_deployed: usize,
    /// Of them, those with their own code or an instance in memory.
    pub apps_loaded: usize,
    /// Deployed apps served as bytecode on the shared engine.
    pub apps_bytecode: usize,
    /// Deployed apps served from their own snapshot.
    pub apps_snapshot: usize,
    /// Deployed apps that are uploaded components.
    pub apps_component: usize,
    /// Instances serving a request now.
    pub instances_busy: usize,
    /// Instances kept idle for reuse.
    pub instances_idle: usize,
    /// Bytes of linear memory the idle instances hold.
    pub idle_bytes: usize,
    /// The idle budget in bytes.
    pub idle_budget_bytes: usize,
    /// Bytes of compiled artifacts in the cache directory.
    pub artifact_bytes: u64,
    /// Bytes that memory slots no instance uses keep resident (released when the code they were
    /// used by is dropped or renewed).
    pub unused_slot_bytes: usize,
    /// Instances created since start (cold starts and fresh instances per request).
    pub instantiations: u64,
    /// Requests served by an idle instance kept from an earlier request.
    pub warm_hits: u64,
    /// `warm_hits / (warm_hits + instantiations)`: the share of requests that found a warm instance.
    pub warm_hit_ratio: f64,
    /// Idle instances dropped, or not kept, to stay within the idle budget.
    pub idle_evictions: u64,
    /// CPU seconds spent building snapshots in the background.
    pub background_cpu_seconds: f64,
    /// Bytes of apps' recent log lines kept for the logs route.
    pub app_log_bytes: usize,
    /// Log lines that followers of an app's log missed by reading too slowly.
    pub log_lines_missed: u64,
}

/// The counters of one node's runtime, owned by it (not process-wide), so that two runtimes
/// in one process count their own. Atomics: no locks on the request path.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [[AtomicU64; 5]; 5],
    latency_buckets: [[AtomicU64; 13]; 5],
    latency_sum_micros: [AtomicU64; 5],
    errors: [AtomicU64; 13],
    instantiations: AtomicU64,
    warm_hits: AtomicU64,
    background_cpu_micros: AtomicU64,
    idle_evictions: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    reuse_refused: AtomicU64,
    outgrown: AtomicU64,
    snapshots: AtomicU64,
    engine_builds: AtomicU64,
    engine_renewals: AtomicU64,
    demotions: AtomicU64,
    unloads: AtomicU64,
    code_loads: AtomicU64,
    collected: AtomicU64,
    collected_bytes: AtomicU64,
    outbound_refused: AtomicU64,
    outbound_reused: AtomicU64,
    guest_log_dropped: AtomicU64,
    responses_cut: AtomicU64,
    /// Calls between apps, by caller and callee (`name` or `fn:name`).
    app_calls: std::sync::Mutex<std::collections::BTreeMap<(Arc<str>, String), u64>>,
}

/// The most caller–callee pairs counted apart; calls of further pairs are counted as `other`.
const MAX_CALL_PAIRS: usize = 10_000;

impl Metrics {
    /// Records one answered request.
    pub fn request(&self, kind: RouteKind, status: u16, elapsed: Duration) {
        let k = kind as usize;
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[k][class].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        self.latency_buckets[k][bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros[k].fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Records an error answered with `{"error": kind}`.
    pub fn error(&self, kind: ErrorKind) {
        self.errors[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Fills the instance counters of `occupancy` (what `/status` shows of them).
    pub fn fill(&self, occupancy: &mut Occupancy) {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        occupancy.instantiations = get(&self.instantiations);
        occupancy.warm_hits = get(&self.warm_hits);
        let served = occupancy.instantiations + occupancy.warm_hits;
        occupancy.warm_hit_ratio = if served == 0 {
            0.0
        } else {
            occupancy.warm_hits as f64 / served as f64
        };
        occupancy.idle_evictions = get(&self.idle_evictions);
        occupancy.background_cpu_seconds = get(&self.background_cpu_micros) as f64 / 1e6;
    }

    /// Records a new instance.
    pub fn instantiation(&self) {
        self.instantiations.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a request served by an idle instance kept from an earlier one.
    pub fn warm_hit(&self) {
        self.warm_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Records CPU time spent on background work (snapshot builds).
    pub fn background_cpu(&self, spent: Duration) {
        self.background_cpu_micros
            .fetch_add(spent.as_micros() as u64, Ordering::Relaxed);
    }

    /// Records idle instances dropped (or not kept) to stay within the idle budget.
    pub fn idle_evicted(&self, instances: u64) {
        if instances > 0 {
            self.idle_evictions.fetch_add(instances, Ordering::Relaxed);
        }
    }

    /// Records a deployment switched to a fresh instance per request because its reused instances
    /// fail where fresh ones succeed.
    pub fn reuse_refused(&self) {
        self.reuse_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a reused instance replaced because its memory grew too much after its first request.
    pub fn instance_outgrown(&self) {
        self.outgrown.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a build of the shared JS engine (once per cache directory).
    pub fn engine_built(&self) {
        self.engine_builds.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a fresh copy of the shared engine mapped so that the old one's slots are released.
    pub fn engine_renewed(&self) {
        self.engine_renewals.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a per-app snapshot swapped in for its bytecode version.
    pub fn snapshot_swapped(&self) {
        self.snapshots.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a snapshot sent back to the shared engine because it went cold.
    pub fn demoted(&self) {
        self.demotions.fetch_add(1, Ordering::Relaxed);
    }

    /// Records an idle app whose code left memory.
    pub fn unloaded(&self) {
        self.unloads.fetch_add(1, Ordering::Relaxed);
    }

    /// Records an app's code mapped again from the cache after it was unloaded (or first mapped).
    pub fn code_loaded(&self) {
        self.code_loads.fetch_add(1, Ordering::Relaxed);
    }

    /// Records an unused artifact removed from the cache.
    pub fn collected(&self, bytes: u64) {
        self.collected.fetch_add(1, Ordering::Relaxed);
        self.collected_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Records an outgoing request refused because its instance, app or the process held as many
    /// connections as allowed for longer than the connect timeout.
    pub fn outbound_refused(&self) {
        self.outbound_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Records an outgoing request sent over an idle connection of its app's to the same origin.
    pub fn outbound_reused(&self) {
        self.outbound_reused.fetch_add(1, Ordering::Relaxed);
    }

    /// Records guest console output dropped over its log budget.
    pub fn guest_log_dropped(&self, bytes: u64) {
        self.guest_log_dropped.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Records a response whose body was cut (deadline, trap) and aborted rather than ended.
    pub fn response_cut(&self) {
        self.responses_cut.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one call of `caller` to the app `callee` of `kind`.
    pub fn app_call(&self, caller: &Arc<str>, kind: crate::kind::AppKind, callee: &str) {
        let callee = match kind {
            crate::kind::AppKind::Service => callee.to_string(),
            crate::kind::AppKind::Function => format!("fn:{callee}"),
        };
        let mut calls = self.app_calls.lock().expect("metrics lock");
        let key = if calls.len() < MAX_CALL_PAIRS
            || calls.contains_key(&(caller.clone(), callee.clone()))
        {
            (caller.clone(), callee)
        } else {
            (Arc::from("other"), "other".to_string())
        };
        *calls.entry(key).or_default() += 1;
    }

    /// Records a compiled-artifact cache lookup.
    pub fn cache(&self, hit: bool) {
        if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of everything, with the node's occupancy given by the caller.
    pub fn render(&self, occupancy: &Occupancy) -> String {
        let instances_active = occupancy.instances_busy + occupancy.instances_idle;
        let mut out = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# HELP kiln_requests_total Requests answered, by route kind and status class.\n# TYPE kiln_requests_total counter\n");
        for (k, kind) in KINDS.iter().enumerate() {
            for (c, class) in CLASSES.iter().enumerate() {
                let n = get(&self.requests[k][c]);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "kiln_requests_total{{route=\"{kind}\",status=\"{class}\"}} {n}"
                    );
                }
            }
        }
        out.push_str("# HELP kiln_request_duration_seconds Time to the response head, by route kind.\n# TYPE kiln_request_duration_seconds histogram\n");
        for (k, kind) in KINDS.iter().enumerate() {
            let counts: Vec<u64> = self.latency_buckets[k].iter().map(get).collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += counts[i];
                let _ = writeln!(
                    out,
                    "kiln_request_duration_seconds_bucket{{route=\"{kind}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "kiln_request_duration_seconds_bucket{{route=\"{kind}\",le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(
                out,
                "kiln_request_duration_seconds_sum{{route=\"{kind}\"}} {}",
                get(&self.latency_sum_micros[k]) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "kiln_request_duration_seconds_count{{route=\"{kind}\"}} {total}"
            );
        }
        out.push_str(
            "# HELP kiln_errors_total Error answers, by kind.\n# TYPE kiln_errors_total counter\n",
        );
        for kind in ErrorKind::ALL {
            let _ = writeln!(
                out,
                "kiln_errors_total{{kind=\"{}\"}} {}",
                kind.as_str(),
                get(&self.errors[kind as usize])
            );
        }
        let _ = write!(
            out,
            "# HELP kiln_instantiations_total Instances created.\n# TYPE kiln_instantiations_total counter\nkiln_instantiations_total {}\n\
             # HELP kiln_warm_hits_total Requests served by an idle instance kept from an earlier request.\n# TYPE kiln_warm_hits_total counter\nkiln_warm_hits_total {}\n\
             # HELP kiln_background_cpu_seconds_total CPU time spent building snapshots in the background.\n# TYPE kiln_background_cpu_seconds_total counter\nkiln_background_cpu_seconds_total {}\n\
             # HELP kiln_idle_evictions_total Idle instances dropped, or not kept, to stay within the idle budget.\n# TYPE kiln_idle_evictions_total counter\nkiln_idle_evictions_total {}\n\
             # HELP kiln_instances_active Instances alive (serving or idle).\n# TYPE kiln_instances_active gauge\nkiln_instances_active {instances_active}\n\
             # HELP kiln_compile_cache_hits_total Deploys served from a cached compiled artifact.\n# TYPE kiln_compile_cache_hits_total counter\nkiln_compile_cache_hits_total {}\n\
             # HELP kiln_compile_cache_misses_total Deploys that had to compile.\n# TYPE kiln_compile_cache_misses_total counter\nkiln_compile_cache_misses_total {}\n\
             # HELP kiln_engine_builds_total Builds of the shared JS engine (cached afterwards).\n# TYPE kiln_engine_builds_total counter\nkiln_engine_builds_total {}\n\
             # HELP kiln_engine_renewals_total Fresh copies of the shared engine mapped so that memory slots no instance used were released.\n# TYPE kiln_engine_renewals_total counter\nkiln_engine_renewals_total {}\n\
             # HELP kiln_snapshots_total Per-app snapshots built and swapped in.\n# TYPE kiln_snapshots_total counter\nkiln_snapshots_total {}\n\
             # HELP kiln_reuse_refused_total Deployments served with fresh instances because reused ones failed where fresh ones succeeded.\n# TYPE kiln_reuse_refused_total counter\nkiln_reuse_refused_total {}\n\
             # HELP kiln_instances_outgrown_total Reused instances replaced because their memory grew 8 MiB (or a quarter of their limit) after their first request.\n# TYPE kiln_instances_outgrown_total counter\nkiln_instances_outgrown_total {}\n\
             # HELP kiln_demotions_total Snapshots sent back to the shared engine after going cold.\n# TYPE kiln_demotions_total counter\nkiln_demotions_total {}\n\
             # HELP kiln_unloads_total Idle apps whose code left memory.\n# TYPE kiln_unloads_total counter\nkiln_unloads_total {}\n\
             # HELP kiln_code_loads_total Apps' own code mapped from the cache (first use, or again after unloading).\n# TYPE kiln_code_loads_total counter\nkiln_code_loads_total {}\n\
             # HELP kiln_artifacts_collected_total Unused artifacts removed from the cache.\n# TYPE kiln_artifacts_collected_total counter\nkiln_artifacts_collected_total {}\n\
             # HELP kiln_artifacts_collected_bytes_total Bytes of unused artifacts removed from the cache.\n# TYPE kiln_artifacts_collected_bytes_total counter\nkiln_artifacts_collected_bytes_total {}\n\
             # HELP kiln_outbound_refused_total Outgoing requests refused at a connection bound (instance, app or process).\n# TYPE kiln_outbound_refused_total counter\nkiln_outbound_refused_total {}\n\
             # HELP kiln_outbound_reused_total Outgoing requests sent over an idle connection to the same origin.\n# TYPE kiln_outbound_reused_total counter\nkiln_outbound_reused_total {}\n\
             # HELP kiln_guest_log_dropped_bytes_total Guest console bytes dropped over a log budget.\n# TYPE kiln_guest_log_dropped_bytes_total counter\nkiln_guest_log_dropped_bytes_total {}\n\
             # HELP kiln_responses_cut_total Responses aborted mid-body (deadline or trap) instead of ended.\n# TYPE kiln_responses_cut_total counter\nkiln_responses_cut_total {}\n",
            get(&self.instantiations),
            get(&self.warm_hits),
            get(&self.background_cpu_micros) as f64 / 1e6,
            get(&self.idle_evictions),
            get(&self.cache_hits),
            get(&self.cache_misses),
            get(&self.engine_builds),
            get(&self.engine_renewals),
            get(&self.snapshots),
            get(&self.reuse_refused),
            get(&self.outgrown),
            get(&self.demotions),
            get(&self.unloads),
            get(&self.code_loads),
            get(&self.collected),
            get(&self.collected_bytes),
            get(&self.outbound_refused),
            get(&self.outbound_reused),
            get(&self.guest_log_dropped),
            get(&self.responses_cut),
        );
        out.push_str("# HELP kiln_app_calls_total Calls between apps in the process, by caller and callee (fn:name for a function).\n# TYPE kiln_app_calls_total counter\n");
        for ((caller, callee), n) in self.app_calls.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "kiln_app_calls_total{{caller=\"{caller}\",callee=\"{callee}\"}} {n}"
            );
        }
        let o = occupancy;
        let _ = write!(
            out,
            "# HELP kiln_apps_deployed Services and functions deployed.\n# TYPE kiln_apps_deployed gauge\nkiln_apps_deployed {}\n\
             # HELP kiln_apps_loaded Deployed apps with their own code or an instance in memory.\n# TYPE kiln_apps_loaded gauge\nkiln_apps_loaded {}\n\
             # HELP kiln_apps_by_tier Deployed apps by what serves them.\n# TYPE kiln_apps_by_tier gauge\nkiln_apps_by_tier{{tier=\"bytecode\"}} {}\nkiln_apps_by_tier{{tier=\"snapshot\"}} {}\nkiln_apps_by_tier{{tier=\"component\"}} {}\n\
             # HELP kiln_instances Instances alive, by state.\n# TYPE kiln_instances gauge\nkiln_instances{{state=\"busy\"}} {}\nkiln_instances{{state=\"idle\"}} {}\n\
             # HELP kiln_idle_instance_bytes Bytes of linear memory held by idle instances.\n# TYPE kiln_idle_instance_bytes gauge\nkiln_idle_instance_bytes {}\n\
             # HELP kiln_idle_budget_bytes The idle instances' memory budget.\n# TYPE kiln_idle_budget_bytes gauge\nkiln_idle_budget_bytes {}\n\
             # HELP kiln_artifact_bytes Bytes of compiled artifacts in the cache directory.\n# TYPE kiln_artifact_bytes gauge\nkiln_artifact_bytes {}\n\
             # HELP kiln_unused_slot_bytes Bytes that memory slots no instance uses keep resident.\n# TYPE kiln_unused_slot_bytes gauge\nkiln_unused_slot_bytes {}\n\
             # HELP kiln_app_log_bytes Bytes of apps' recent log lines kept for the logs route.\n# TYPE kiln_app_log_bytes gauge\nkiln_app_log_bytes {}\n\
             # HELP kiln_log_lines_missed_total Log lines that followers missed by reading too slowly.\n# TYPE kiln_log_lines_missed_total counter\nkiln_log_lines_missed_total {}\n",
            o.apps_deployed,
            o.apps_loaded,
            o.apps_bytecode,
            o.apps_snapshot,
            o.apps_component,
            o.instances_busy,
            o.instances_idle,
            o.idle_bytes,
            o.idle_budget_bytes,
            o.artifact_bytes,
            o.unused_slot_bytes,
            o.app_log_bytes,
            o.log_lines_missed,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_runtimes_count_their_own_and_render_prometheus_text() {
        let (one, other) = (Metrics::default(), Metrics::default());
        one.request(RouteKind::Service, 200, Duration::from_micros(300));
        one.request(RouteKind::Service, 503, Duration::from_secs(1));
        one.error(ErrorKind::Resource);
        one.collected(4096);
        other.instantiation();

        let text = one.render(&Occupancy::default());
        assert!(text.contains("kiln_requests_total{route=\"service\",status=\"2xx\"} 1\n"));
        assert!(text.contains("kiln_requests_total{route=\"service\",status=\"5xx\"} 1\n"));
        assert!(
            text.contains(
                "kiln_request_duration_seconds_bucket{route=\"service\",le=\"0.0005\"} 1\n"
            )
        );
        assert!(
            text.contains(
                "kiln_request_duration_seconds_bucket{route=\"service\",le=\"+Inf\"} 2\n"
            )
        );
        assert!(text.contains("kiln_errors_total{kind=\"ResourceError\"} 1\n"));
        assert!(text.contains("kiln_artifacts_collected_bytes_total 4096\n"));
        assert!(text.contains("kiln_instantiations_total 0\n"));
        assert!(
            other
                .render(&Occupancy::default())
                .contains("kiln_instantiations_total 1\n")
        );
    }
}
