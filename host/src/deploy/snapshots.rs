//! Per-app snapshots, built in the background by one worker thread: repeated deploys of the same
//! app coalesce (only the newest is built), and a snapshot swaps in only if the version it was
//! built for is still the one served.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Instant;

use crate::compile::Compiler;
use crate::kind::AppKind;
use crate::runtime::{
    CachedCode, Code, Deployment, JsSource, Linked, Parts, Registry, RunSpec, Tier, artifact,
};

/// A snapshot to build for a version served as bytecode.
pub struct SnapshotJob {
    /// Service or function.
    pub kind: AppKind,
    /// The app.
    pub name: String,
    /// The version served as bytecode now; the snapshot replaces only that one.
    pub version: u64,
    /// Its source.
    pub js: Arc<JsSource>,
    /// How the snapshot's deployment is run.
    pub spec: RunSpec,
}

#[derive(Default)]
struct Queue {
    order: VecDeque<(AppKind, String)>,
    jobs: HashMap<(AppKind, String), SnapshotJob>,
    busy: bool,
}

/// The queue and its worker (started with the first job).
pub struct Snapshots {
    queue: Mutex<Queue>,
    wake: Condvar,
    compiler: Arc<Compiler>,
    registry: Arc<Registry>,
    collecting: Arc<tokio::sync::RwLock<()>>,
    worker: OnceLock<()>,
}

impl Snapshots {
    /// A queue whose worker builds with `compiler` and swaps into `registry`.
    /// `collecting` is held (read) from the build until the swap, so that garbage collection
    /// never removes an artifact about to be served.
    pub fn new(
        compiler: Arc<Compiler>,
        registry: Arc<Registry>,
        collecting: Arc<tokio::sync::RwLock<()>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            queue: Mutex::default(),
            wake: Condvar::new(),
            compiler,
            registry,
            collecting,
            worker: OnceLock::new(),
        })
    }

    /// Queues a job; a queued job for the same app is replaced.
    pub fn submit(self: &Arc<Self>, job: SnapshotJob) {
        self.worker.get_or_init(|| {
            let worker = self.clone();
            let spawned = std::thread::Builder::new()
                .name("kiln-snapshots".into())
                .spawn(move || worker.run());
            if let Err(error) = spawned {
                tracing::error!(error = %error, "could not start the snapshot worker; apps stay on bytecode");
            }
        });
        let key = (job.kind, job.name.clone());
        let mut queue = self.queue.lock().expect("snapshot queue");
        if queue.jobs.insert(key.clone(), job).is_none() {
            queue.order.push_back(key);
        }
        self.wake.notify_one();
    }

    /// Jobs waiting or being built.
    pub fn pending(&self) -> usize {
        let queue = self.queue.lock().expect("snapshot queue");
        queue.jobs.len() + usize::from(queue.busy)
    }

    fn next(&self) -> SnapshotJob {
        let mut queue = self.queue.lock().expect("snapshot queue");
        queue.busy = false;
        loop {
            while let Some(key) = queue.order.pop_front() {
                if let Some(job) = queue.jobs.remove(&key) {
                    queue.busy = true;
                    return job;
                }
            }
            queue = self.wake.wait(queue).expect("snapshot queue");
        }
    }

    fn run(&self) {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            tracing::error!("could not start the snapshot worker's runtime");
            return;
        };
        yield_to_requests();
        loop {
            let job = self.next();
            let started = thread_cpu();
            runtime.block_on(async {
                let _collecting = self.collecting.read().await;
                build(&self.compiler, &self.registry, job).await;
            });
            self.registry
                .metrics()
                .background_cpu(thread_cpu().saturating_sub(started));
        }
    }
}

/// Lowers this thread's scheduling priority (Linux: a nice value per thread): under load,
/// snapshot builds get the CPU that requests leave, not a core's share of their own.
fn yield_to_requests() {
    #[cfg(target_os = "linux")]
    // SAFETY: `gettid` and `setpriority` only read their arguments; PRIO_PROCESS with a thread
    // id sets that thread's nice value.
    #[expect(unsafe_code, reason = "setting this thread's nice value")]
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 15) != 0 {
            tracing::debug!("could not lower the snapshot worker's priority");
        }
    }
}

/// CPU time this thread has used.
fn thread_cpu() -> std::time::Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one timespec, which `now` is.
    #[expect(unsafe_code, reason = "reading this thread's CPU clock")]
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } == 0;
    if !ok {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

async fn build(compiler: &Compiler, registry: &Registry, job: SnapshotJob) {
    let started = Instant::now();
    let current = registry.get(job.kind, &job.name);
    if current.is_none_or(|d| d.version != job.version) {
        return;
    }
    let js = &job.js;
    let component = if artifact::verify(&js.snapshot_path) {
        artifact::load(compiler.engine(), &js.snapshot_path)
    } else {
        None
    };
    let component = match component {
        Some(component) => component,
        None => {
            let snapshot = match compiler
                .snapshot(&js.file, &js.source, job.kind, js.timeout)
                .await
            {
                Ok(snapshot) => snapshot,
                Err(error) => {
                    tracing::warn!(app = %job.name, error = %error, "snapshot failed; staying on bytecode");
                    return;
                }
            };
            match compiler.precompile_to(&snapshot, &js.snapshot_path) {
                Ok(component) => component,
                Err(error) => {
                    tracing::warn!(app = %job.name, error = format!("{error:#}"), "precompiling the snapshot failed");
                    return;
                }
            }
        }
    };
    let linked = match Linked::new(&component, compiler.linker()) {
        Ok(linked) => linked,
        Err(error) => {
            tracing::warn!(app = %job.name, error = format!("{error:#}"), "snapshot not deployable");
            return;
        }
    };
    drop(component);
    let code = Code::Cached(CachedCode::new(
        js.snapshot_path.clone(),
        compiler.engine(),
        compiler.linker(),
        Some(linked),
    ));
    let parts = Parts {
        name: job.name.clone(),
        code,
        tier: Tier::Snapshot,
        artifact: js.key.clone(),
        stdin: None,
        js: Some(js.clone()),
    };
    let deployment = Deployment::new(
        parts,
        compiler.engine(),
        &job.spec,
        registry.instances().clone(),
    );
    if registry.replace_if_current(job.kind, job.version, deployment) {
        registry.metrics().snapshot_swapped();
        tracing::info!(app = %job.name, elapsed_ms = started.elapsed().as_millis() as u64, "snapshot ready: swapped in");
    }
}
