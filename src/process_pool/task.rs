//! What the manager holds per task: the encoded call, and the future(s) its reply completes.

use super::image::ItemOutcome;
use crate::error::{FutureError, SubmitError};
use crate::executor::Payload;
use crate::future::{Future, Promise};
use std::collections::VecDeque;

/// A task waiting for a worker: the `Task` frame (id patched at dispatch) and its futures.
pub(crate) struct Work {
    pub(crate) frame: Vec<u8>,
    pub(crate) job: Box<dyn Job>,
    /// Already marked running: sent to a worker that died before starting it, and requeued.
    pub(crate) started: bool,
}

impl Work {
    pub(crate) fn new(frame: Vec<u8>, job: Box<dyn Job>) -> Self {
        Work {
            frame,
            job,
            started: false,
        }
    }
}

/// The type-erased completion side of a task, so one manager serves every result type.
pub(crate) trait Job: Send {
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

impl<R: Payload> Job for Single<R> {
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

impl<R: Payload> Job for Chunk<R> {
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

/// Feeds `map` one item future at a time while submitting the input `chunksize` items per
/// task, so [`Map`](crate::Map) stays the one ordered iterator for every executor.
pub(crate) struct ChunkFeed<I: Iterator, R, S> {
    pub(crate) items: I,
    pub(crate) chunksize: usize,
    pub(crate) ready: VecDeque<Future<R>>,
    /// Submits one chunk (encoded by the caller's closure) and returns its item futures.
    pub(crate) submit: S,
}

impl<I, R, S> Iterator for ChunkFeed<I, R, S>
where
    I: Iterator,
    S: FnMut(Vec<I::Item>) -> Result<Vec<Future<R>>, SubmitError>,
{
    type Item = Result<Future<R>, SubmitError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty() {
            let chunk: Vec<I::Item> = self.items.by_ref().take(self.chunksize).collect();
            if chunk.is_empty() {
                return None;
            }
            match (self.submit)(chunk) {
                Ok(futures) => self.ready.extend(futures),
                Err(e) => return Some(Err(e)),
            }
        }
        self.ready.pop_front().map(Ok)
    }
}
