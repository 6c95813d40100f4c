//! Serving HTTP requests (`wasi:http/incoming-handler`) from a deployment's instances.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::BodyExt;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use super::deployment::{REUSE_BROKEN, REUSE_PROVEN, REUSE_UNKNOWN};
use super::pool::Instance;
use super::{Body, Deployment, RunError};
use crate::config::Isolation;

/// Requests with a body up to this size can be replayed on a fresh instance while reuse is on
/// probation; larger ones (or bodies of unknown length) wait for a later probe.
const REPLAYABLE_BODY: u64 = 1 << 20;

impl Deployment {
    async fn instantiate(&self) -> Result<Instance, RunError> {
        let linked = self.linked().await?;
        let Some(pre) = &linked.proxy else {
            return Err(RunError::WrongKind {
                name: self.name.to_string(),
                what: "does not serve HTTP (it is a function)",
            });
        };
        // Every slot may be taken: idle instances (the coldest apps') make room, a few times.
        let mut evictions = 0;
        loop {
            let (mut store, live) = self.new_store()?;
            match pre.instantiate_async(&mut store).await {
                Ok(proxy) => return Ok(Instance::new(store, proxy, linked.clone(), live)),
                Err(error)
                    if evictions < 8
                        && error
                            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                            .is_some()
                        && self.instances.evict_coldest() =>
                {
                    evictions += 1;
                }
                Err(error) => return Err(self.failure(error, &store)),
            }
        }
    }

    async fn checkout(&self) -> Result<Instance, RunError> {
        if self.effective_isolation() == Isolation::Reuse
            && let Some(instance) = self.pool.take()
        {
            return Ok(instance);
        }
        self.instantiate().await
    }

    /// Whether `instance`, which just served a request, goes back to the pool. One that hit its
    /// memory limit is never reused, even if the guest recovered; one whose memory has grown a
    /// lot since its first request is retired (see [`Instance::outgrown`]).
    fn keeps(&self, instance: &Instance) -> bool {
        if self.effective_isolation() != Isolation::Reuse
            || instance.served + 1 >= self.limits.max_requests_per_instance
            || instance.store.data().hit_memory_limit()
            || !self.code.is_current(&instance.linked)
        {
            return false;
        }
        if instance.outgrown() {
            self.metrics().instance_outgrown();
            return false;
        }
        true
    }

    /// Returns `instance`, which [`Self::keeps`], to the pool.
    fn checkin(&self, mut instance: Instance) {
        instance.served_one();
        self.pool.put(instance, self.spec.max_concurrency);
    }

    /// Idle instances kept for reuse.
    pub fn idle_instances(&self) -> usize {
        self.pool.len()
    }

    /// Serves one HTTP request. The instance is reused afterwards only if the call completed
    /// without a trap or limit hit and set a response.
    ///
    /// The first request that a deployment serves from a reused instance is a probe: it is
    /// buffered (when small) so that, if the reused instance fails, it is replayed on a fresh
    /// instance; if that succeeds, the deployment is served with fresh instances from then on.
    /// Components that cannot serve twice (some JS engines' fetch events) thus work unchanged.
    pub async fn handle<B>(
        self: Arc<Self>,
        request: http::Request<B>,
    ) -> Result<http::Response<Body>, RunError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let permit = self.admit()?;
        self.touch();
        let instance = self.checkout().await?;
        let probe = instance.served > 0
            && self.reuse.load(Ordering::Relaxed) == REUSE_UNKNOWN
            && replayable(&request);
        if !probe {
            return self.clone().serve(instance, request, permit).await;
        }
        let (parts, body) = request.into_parts();
        // `replayable` checked that the body is small and of known length.
        let body = body
            .collect()
            .await
            .map_err(|e| {
                let e: wasmtime_wasi_http::Error = e.into();
                RunError::Body(format!("{e:?}"))
            })?
            .to_bytes();
        let first = self
            .clone()
            .serve(instance, rebuild(&parts, body.clone()), permit)
            .await;
        match first {
            Ok(response) => {
                self.reuse.store(REUSE_PROVEN, Ordering::Relaxed);
                Ok(response)
            }
            Err(reused) if reused.is_guest_failure() => {
                let permit = self.admit()?;
                let fresh = self.instantiate().await?;
                let second = self
                    .clone()
                    .serve(fresh, rebuild(&parts, body), permit)
                    .await;
                if second.is_ok()
                    && self.reuse.swap(REUSE_BROKEN, Ordering::Relaxed) != REUSE_BROKEN
                {
                    self.pool.clear();
                    self.metrics().reuse_refused();
                    tracing::warn!(
                        app = %self.name,
                        reused_error = %reused,
                        "a reused instance failed where a fresh one succeeded: serving this app with a fresh instance per request from now on"
                    );
                }
                second
            }
            Err(other) => Err(other),
        }
    }

    /// Runs one request on `instance`.
    async fn serve<B>(
        self: Arc<Self>,
        mut instance: Instance,
        request: http::Request<B>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<http::Response<Body>, RunError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        instance.store.data_mut().start_request(self.limits.timeout);
        instance.store.set_epoch_deadline(1);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let responded = Arc::new(AtomicBool::new(false));
        let set = responded.clone();
        let data = instance.store.data_mut();
        let request = data
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let out = data
            .http()
            .new_response_outparam_from_callback(move |response| {
                set.store(true, Ordering::Relaxed);
                let _ = sender.send(response);
            })
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let deployment = self.clone();
        let cut = Arc::new(AtomicBool::new(false));
        let cut_by_task = cut.clone();
        let metrics = self.metrics().clone();
        let task = tokio::spawn(async move {
            let _running = super::caps::limits::Running::start();
            let deadline = instance.store.data().deadline;
            let call = instance.proxy.wasi_http_incoming_handler().call_handle(
                &mut instance.store,
                request,
                out,
            );
            // The epoch deadline stops running code; this one also stops a guest waiting on a timer.
            let result = tokio::time::timeout_at(deadline.into(), call).await;
            drop(permit);
            let outcome = match result {
                // Returning without setting the response: the instance is dropped (with the
                // response's sender in its table), so the request fails at once.
                Ok(Ok(())) if !responded.load(Ordering::Relaxed) => {
                    return Err(RunError::NoResponse {
                        name: deployment.name.to_string(),
                    });
                }
                Ok(Ok(())) if deployment.keeps(&instance) => {
                    deployment.checkin(instance);
                    return Ok(());
                }
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(deployment.failure(error, &instance.store)),
                Err(_) => Err(deployment.timeout()),
            };
            // A body still being sent when the guest is stopped ends with the instance; it must
            // not look complete to the client.
            if outcome.is_err() {
                cut_by_task.store(true, Ordering::Release);
            }
            // Dropping an instance resets its memory slot (a copy of the whole image). A response
            // that is on its way on this same thread goes out first; an error waits for the drop.
            if outcome.is_ok() {
                tokio::task::yield_now().await;
            }
            drop(instance);
            outcome
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response.map(|body| {
                Cuttable {
                    inner: body,
                    cut,
                    metrics,
                }
                .boxed_unsync()
            })),
            Ok(Err(code)) => Err(RunError::ErrorCode {
                name: self.name.to_string(),
                code: format!("{code:?}"),
            }),
            Err(_) => match task.await {
                Ok(Err(error)) => Err(error),
                Ok(Ok(())) => Err(RunError::NoResponse {
                    name: self.name.to_string(),
                }),
                Err(join) => Err(RunError::Internal(anyhow::anyhow!(
                    "request task failed: {join}"
                ))),
            },
        }
    }
}

/// A guest's response body that fails, instead of ending, when the guest was stopped (its
/// deadline passed, or it trapped) before it finished the body: the client then sees the
/// response aborted (no last chunk), never a truncated body that looks whole.
struct Cuttable {
    inner: Body,
    cut: Arc<AtomicBool>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl http_body::Body for Cuttable {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(None) if self.cut.load(Ordering::Acquire) => {
                self.metrics.response_cut();
                Poll::Ready(Some(Err(wasmtime_wasi_http::Error::InternalError(Some(
                    "the response was cut short: the app was stopped before it finished the body"
                        .into(),
                )))))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream() && !self.cut.load(Ordering::Acquire)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Whether a request can be buffered for a replay: no body, or a small one of known length.
fn replayable<B: http_body::Body>(request: &http::Request<B>) -> bool {
    request
        .body()
        .size_hint()
        .upper()
        .is_some_and(|upper| upper <= REPLAYABLE_BODY)
}

/// A copy of a buffered request.
fn rebuild(
    parts: &http::request::Parts,
    body: Bytes,
) -> http::Request<http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>> {
    let mut request = http::Request::new(
        http_body_util::Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request
}
