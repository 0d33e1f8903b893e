//! What the manager holds per task: the encoded call, and the future(s) its reply completes.

use super::frame;
use super::image::{self, ItemOutcome, Portable};
use crate::error::{BrokenExecutor, FutureError, SubmitError};
use crate::executor::Payload;
use crate::future::{Future, Promise};
use crate::map::{Map, ValidMapOptions};
use parking_lot::MappedMutexGuard;
use std::collections::VecDeque;
use std::sync::Arc;

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

/// The part of a pool's locked state that every submission goes through: the queue, and
/// whether the pool still takes work. The process pool and the MPI pool both keep one.
#[derive(Default)]
pub(crate) struct Intake {
    pub(crate) queue: VecDeque<Work>,
    pub(crate) shutdown: bool,
    pub(crate) broken: Option<BrokenExecutor>,
}

impl Intake {
    /// `Ok` while the pool takes work, else the refusal (a broken pool reports that first, as
    /// Python's does).
    pub(crate) fn refusal(&self) -> Result<(), SubmitError> {
        match &self.broken {
            Some(b) => Err(SubmitError::Broken(b.clone())),
            None if self.shutdown => Err(SubmitError::Shutdown),
            None => Ok(()),
        }
    }

    /// Marks the pool broken and hands back the queued work, to fail outside the lock.
    pub(crate) fn break_with(&mut self, broken: &BrokenExecutor) -> VecDeque<Work> {
        self.broken = Some(broken.clone());
        std::mem::take(&mut self.queue)
    }
}

/// Fails each of `works` with the broken-executor error.
pub(crate) fn fail_all(works: impl IntoIterator<Item = Work>, broken: &BrokenExecutor) {
    let err = FutureError::BrokenExecutor(broken.clone());
    for work in works {
        work.job.complete(Err(err.clone()));
    }
}

/// Where a pool's submissions go: the process pool's manager queue, or the MPI pool's. The
/// encoding, the futures and `map` are the same for both, written once below.
pub(crate) trait Queue: Send + Sync + 'static {
    /// The pool's intake, locked.
    fn intake(&self) -> MappedMutexGuard<'_, Intake>;
    /// Tells the thread that consumes the queue that work arrived.
    fn wake_consumer(&self);

    /// Fails fast (shut down, broken) before the caller spends time encoding.
    fn check_open(&self) -> Result<(), SubmitError> {
        self.intake().refusal()
    }

    /// Queues an encoded task; the same errors as `check_open` if it closed meanwhile.
    fn enqueue(&self, work: Work) -> Result<(), SubmitError> {
        {
            let mut intake = self.intake();
            intake.refusal()?;
            intake.queue.push_back(work);
        }
        self.wake_consumer();
        Ok(())
    }
}

/// Encodes `arg` and wraps it in a `Task` frame.
fn encode_task<A: Payload>(portable: Portable, arg: &A) -> Result<Vec<u8>, FutureError> {
    let bytes = postcard::to_allocvec(arg).map_err(|e| {
        let ty = std::any::type_name::<A>();
        FutureError::Serialization(format!("cannot encode the argument ({ty}): {e}"))
    })?;
    frame::task_frame(portable.trampoline, portable.function, &bytes).map_err(|len| {
        FutureError::Serialization(format!(
            "the encoded argument ({len} bytes) exceeds the {}-byte frame limit",
            frame::MAX_FRAME
        ))
    })
}

/// `submit(f, arg)` on any queue. An argument that cannot be encoded gives a future that has
/// already failed, not an error: it fails that future alone.
pub(crate) fn submit_one<Q: Queue + ?Sized, A: Payload, R: Payload>(
    queue: &Q,
    f: fn(A) -> R,
    arg: A,
) -> Result<Future<R>, SubmitError> {
    queue.check_open()?;
    let portable =
        image::portable(image::call_one::<A, R>, f as usize).map_err(SubmitError::NotPortable)?;
    let (promise, future) = Promise::new();
    match encode_task(portable, &arg) {
        Ok(frame) => queue.enqueue(Work::new(frame, Box::new(Single { promise })))?,
        Err(e) => promise.set(Err(e)),
    }
    Ok(future)
}

/// One `map` chunk as one task, with a future per item.
fn submit_chunk<Q: Queue + ?Sized, A: Payload, R: Payload>(
    queue: &Q,
    portable: Portable,
    chunk: Vec<A>,
) -> Result<Vec<Future<R>>, SubmitError> {
    queue.check_open()?;
    let (promises, futures): (Vec<Promise<R>>, Vec<Future<R>>) =
        (0..chunk.len()).map(|_| Promise::new()).unzip();
    match encode_task(portable, &chunk) {
        Ok(frame) => queue.enqueue(Work::new(frame, Box::new(Chunk { items: promises })))?,
        Err(e) => {
            for p in promises {
                p.set(Err(e.clone()));
            }
        }
    }
    Ok(futures)
}

/// `map_with` on any queue: one task per item, or `chunksize` items per task through
/// [`ChunkFeed`]; either way the shared [`Map`] iterator gives the order, deadline and
/// cancel-on-drop. `buffersize` counts tasks, so it is scaled by the chunksize.
pub(crate) fn map_with<'a, Q, I, R>(
    queue: Arc<Q>,
    f: fn(I::Item) -> R,
    items: I,
    options: ValidMapOptions,
) -> Map<'a, R>
where
    Q: Queue,
    I: IntoIterator,
    I::IntoIter: Send + 'a,
    I::Item: Payload,
    R: Payload,
{
    let chunksize = options.get().get_chunksize();
    if chunksize == 1 {
        let submit = move |item| submit_one(&*queue, f, item);
        return Map::new(items.into_iter(), submit, options);
    }
    let portable = image::portable(image::call_chunk::<I::Item, R>, f as usize);
    let feed = ChunkFeed {
        items: items.into_iter(),
        chunksize,
        ready: VecDeque::new(),
        submit: move |chunk: Vec<I::Item>| {
            let portable = portable.clone().map_err(SubmitError::NotPortable)?;
            submit_chunk::<Q, I::Item, R>(&queue, portable, chunk)
        },
    };
    Map::new(feed, |f| f, options.per_item_buffer())
}

/// Feeds `map` one item future at a time while submitting the input `chunksize` items per
/// task, so [`Map`](crate::Map) stays the one ordered iterator for every executor.
struct ChunkFeed<I: Iterator, R, S> {
    items: I,
    chunksize: usize,
    ready: VecDeque<Future<R>>,
    /// Submits one chunk (encoded by the caller's closure) and returns its item futures.
    submit: S,
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
