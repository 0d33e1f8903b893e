//! What a remote pool holds per task until its reply: the encoded call, and the type-erased
//! completion that turns the reply's bytes into the task's future(s).

use super::image::ItemOutcome;
use crate::cancel::{CancelToken, Cancelled};
use crate::error::{BrokenExecutor, FutureError};
use crate::executor::Payload;
use crate::future::Promise;
use crate::retry::RetryPolicy;

/// A task waiting for a worker: the `Task` frame (id patched at dispatch) and its futures.
pub(crate) struct PendingCall {
    pub(crate) frame: Vec<u8>,
    pub(crate) completion: Box<dyn Completion>,
    /// Its future(s) already marked running: it was sent to a worker that died before starting
    /// it, and is queued again. (Like a running task, it is no longer cancellable.)
    pub(crate) marked_running: bool,
    /// Attempts that started and ended with their worker (a death or a task timeout).
    pub(crate) attempts_lost: u32,
    /// The token the task runs under (`submit_cancellable`, a `map` with a token), if any.
    /// While the call is queued, cancelling the token cancels its future(s) (registered at
    /// submit), and dispatch drops it unsent. Once dispatched under task id `id`, a transport
    /// forwards the request: it registers a `CancelTarget` on this token that sends the worker
    /// a cancel for `id` (the worker raises the token its task reads through
    /// `CancelToken::current`), and, on the process pool, kills the worker if the task has not
    /// ended after a grace period. The MPI pool forwards it only: killing a rank ends the job.
    pub(crate) token: Option<CancelToken>,
    /// Its own retry policy (a `map`'s), over the pool's.
    pub(crate) retry: Option<RetryPolicy>,
}

impl PendingCall {
    pub(crate) fn new(frame: Vec<u8>, completion: Box<dyn Completion>) -> Self {
        PendingCall {
            frame,
            completion,
            marked_running: false,
            attempts_lost: 0,
            token: None,
            retry: None,
        }
    }

    /// The same call, with its own retry policy (`None`: the pool's).
    pub(crate) fn with_retry(mut self, retry: Option<RetryPolicy>) -> Self {
        self.retry = retry;
        self
    }

    /// The same call, run under `token`.
    pub(crate) fn with_token(mut self, token: Option<CancelToken>) -> Self {
        self.token = token;
        self
    }

    /// Marks its future(s) running as it is sent to a worker; `false` if it is dropped
    /// unsent: everything was cancelled, or its token is. `cancel` raises the token's flag
    /// before it reaches the pending futures, so a dispatch in between checks it here, and the
    /// futures are cancelled (and acknowledged) now.
    pub(crate) fn start(&self) -> bool {
        if self.token.as_ref().is_some_and(CancelToken::is_cancelled) {
            self.completion.cancel_pending();
            return false;
        }
        self.completion.start()
    }
}

/// The type-erased completion side of a task, so one manager serves every result type.
pub(crate) trait Completion: Send {
    /// Marks the future(s) running as the task is sent to a worker (after which `cancel` fails,
    /// as in Python); `false` if everything was cancelled, so the task is dropped unsent.
    fn start(&self) -> bool;

    /// Cancels the pending future(s) and acknowledges it, as `start` on cancelled futures
    /// would: the call's token is cancelled, so it is dropped unsent.
    fn cancel_pending(&self);

    /// Completes the future(s) with the worker's output bytes or an error. Futures that were
    /// cancelled meanwhile keep their cancellation.
    fn complete(self: Box<Self>, outcome: Result<&[u8], FutureError>);

    /// Cancels the future(s) for `shutdown(cancel_futures = true)`.
    fn cancel(self: Box<Self>);

    /// Ends the running future(s) as cancelled: the task was asked to stop through its token
    /// and its worker was killed after the grace period.
    fn finish_cancelled(self: Box<Self>);
}

/// One `submit` (or one `map` item): one future.
pub(crate) struct Single<R> {
    pub(crate) promise: Promise<R>,
}

impl<R: Payload> Completion for Single<R> {
    fn start(&self) -> bool {
        self.promise.start()
    }

    fn cancel_pending(&self) {
        self.promise.cancel_pending();
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

    fn finish_cancelled(self: Box<Self>) {
        self.promise.finish_cancelled();
    }
}

/// One `submit_cancellable`: one future, ended as cancelled if the task returned `Cancelled`.
pub(crate) struct CancellableSingle<R> {
    pub(crate) promise: Promise<R>,
}

impl<R: Payload> Completion for CancellableSingle<R> {
    fn start(&self) -> bool {
        self.promise.start()
    }

    fn cancel_pending(&self) {
        self.promise.cancel_pending();
    }

    fn complete(self: Box<Self>, outcome: Result<&[u8], FutureError>) {
        let result = outcome.and_then(|bytes| {
            postcard::from_bytes::<Result<R, Cancelled>>(bytes).map_err(|e| {
                let ty = std::any::type_name::<R>();
                FutureError::Serialization(format!("cannot decode the task's result ({ty}): {e}"))
            })
        });
        match result {
            Ok(Err(Cancelled)) => self.promise.finish_cancelled(),
            Ok(Ok(value)) => self.promise.set(Ok(value)),
            Err(e) => self.promise.set(Err(e)),
        }
    }

    fn cancel(self: Box<Self>) {
        self.promise.cancel();
    }

    fn finish_cancelled(self: Box<Self>) {
        self.promise.finish_cancelled();
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

    fn cancel_pending(&self) {
        for p in &self.items {
            p.cancel_pending();
        }
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

    fn finish_cancelled(self: Box<Self>) {
        for p in self.items {
            p.finish_cancelled();
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
