//! What a remote pool holds per task until its reply: the encoded call, and the type-erased
//! completion that turns the reply's bytes into the task's future(s).

use super::image::ItemOutcome;
use crate::error::{BrokenExecutor, FutureError};
use crate::executor::Payload;
use crate::future::Promise;

/// A task waiting for a worker: the `Task` frame (id patched at dispatch) and its futures.
pub(crate) struct PendingCall {
    pub(crate) frame: Vec<u8>,
    pub(crate) completion: Box<dyn Completion>,
    /// Its future(s) already marked running: it was sent to a worker that died before starting
    /// it, and is queued again. (Like a running task, it is no longer cancellable.)
    pub(crate) marked_running: bool,
    /// Attempts that started and ended with their worker (a death or a task timeout).
    pub(crate) attempts_lost: u32,
}

impl PendingCall {
    pub(crate) fn new(frame: Vec<u8>, completion: Box<dyn Completion>) -> Self {
        PendingCall {
            frame,
            completion,
            marked_running: false,
            attempts_lost: 0,
        }
    }
}

/// The type-erased completion side of a task, so one manager serves every result type.
pub(crate) trait Completion: Send {
    /// Marks the future(s) running as the task is sent to a worker (after which `cancel` fails,
    /// as in Python); `false` if everything was cancelled, so the task is dropped unsent.
    fn start(&self) -> bool;

    /// Completes the future(s) with the worker's output bytes or an error. Futures that were
    /// cancelled meanwhile keep their cancellation.
    fn complete(self: Box<Self>, outcome: Result<&[u8], FutureError>);

    /// Cancels the future(s) for `shutdown(cancel_futures = true)`.
    fn cancel(self: Box<Self>);
}

/// One `submit`: one future.
pub(crate) struct Single<R> {
    pub(crate) promise: Promise<R>,
}

impl<R: Payload> Completion for Single<R> {
    fn start(&self) -> bool {
        self.promise.start()
    }

    fn complete(self: Box<Self>, outcome: Result<&[u8], FutureError>) {
        let result = outcome.and_then(|bytes| {
            postcard::from_bytes::<R>(bytes).map_err(|e| {
                let ty = std::any::type_name::<R>();
                FutureError::Serialization(format!("cannot decode the task's result ({ty}): {e}"))
            })
        });
        self.promise.set(result);
    }

    fn cancel(self: Box<Self>) {
        self.promise.cancel();
    }
}

/// One `map` chunk: a future per item, each completed from its own outcome.
pub(crate) struct Chunk<R> {
    pub(crate) items: Vec<Promise<R>>,
}

impl<R: Payload> Completion for Chunk<R> {
    fn start(&self) -> bool {
        // Every item must be acknowledged, so no short-circuit.
        self.items.iter().fold(false, |any, p| p.start() | any)
    }

    fn complete(self: Box<Self>, outcome: Result<&[u8], FutureError>) {
        let decoded =
            outcome.and_then(
                |bytes| match postcard::from_bytes::<Vec<ItemOutcome<R>>>(bytes) {
                    Ok(v) if v.len() == self.items.len() => Ok(v),
                    Ok(v) => Err(FutureError::Protocol(format!(
                        "chunk of {} items came back with {} results",
                        self.items.len(),
                        v.len()
                    ))),
                    Err(e) => Err(FutureError::Serialization(format!(
                        "cannot decode the chunk's results: {e}"
                    ))),
                },
            );
        match decoded {
            Ok(outcomes) => {
                for (p, outcome) in self.items.into_iter().zip(outcomes) {
                    p.set(outcome.into_result());
                }
            }
            Err(e) => {
                for p in self.items {
                    p.set(Err(e.clone()));
                }
            }
        }
    }

    fn cancel(self: Box<Self>) {
        for p in self.items {
            p.cancel();
        }
    }
}

/// Fails each of `calls` with the broken-executor error.
pub(crate) fn fail_all(calls: impl IntoIterator<Item = PendingCall>, broken: &BrokenExecutor) {
    let err = FutureError::BrokenExecutor(broken.clone());
    for call in calls {
        call.completion.complete(Err(err.clone()));
    }
}
