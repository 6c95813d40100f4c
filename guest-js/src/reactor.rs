//! The event loop: promise jobs first, then the sources of outside work (timers, fetches, and any
//! later API that waits on a pollable), sleeping on their pollables when nothing else can run.

use rquickjs::{Ctx, Promise, Value, promise::PromiseState};

use crate::bindings::wasi::io::poll::{Pollable, poll};
use crate::errors::{self, JsError};

/// Work the loop waits for outside the job queue.
pub trait Source: Sync {
    /// Whether work is outstanding (so waiting for it can settle a promise).
    fn waiting(&self) -> bool;

    /// Adds a pollable per outstanding piece of work, ready when it can run.
    fn subscribe(&self, into: &mut Vec<Pollable>);

    /// Runs what has become ready.
    fn dispatch(&self, ctx: &Ctx<'_>);
}

/// Runs the loop over `sources` until `promise` settles, and returns its result.
pub fn settle<'js>(
    ctx: &Ctx<'js>,
    promise: Promise<'js>,
    sources: &[&dyn Source],
) -> Result<Value<'js>, JsError> {
    loop {
        match promise.state() {
            PromiseState::Resolved => {
                return promise
                    .result::<Value>()
                    .expect("settled")
                    .map_err(|e| errors::catch(ctx, e));
            }
            PromiseState::Rejected => {
                let error = promise.result::<Value>().expect("settled").err();
                return Err(match error {
                    Some(e) => errors::catch(ctx, e),
                    None => JsError::engine("promise rejected"),
                });
            }
            PromiseState::Pending => {
                if ctx.execute_pending_job() {
                    continue;
                }
                let waiting: Vec<&dyn Source> =
                    sources.iter().copied().filter(|s| s.waiting()).collect();
                if waiting.is_empty() {
                    return Err(JsError::engine(
                        "the promise never settled: nothing is left to run",
                    ));
                }
                // Sleep until one source has work ready, then let each run what is ready.
                let mut pollables = Vec::new();
                for source in &waiting {
                    source.subscribe(&mut pollables);
                }
                let refs: Vec<&Pollable> = pollables.iter().collect();
                poll(&refs);
                drop(pollables);
                for source in waiting {
                    source.dispatch(ctx);
                }
            }
        }
    }
}
