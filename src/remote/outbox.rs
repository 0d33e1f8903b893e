//! How submissions reach a remote pool: the [`Outbox`] each pool implements (its locked
//! queue and the thread that drains it), and `submit`/`map` written once on top of it.

use super::frame;
use super::image::{self, Portable};
use super::pending::{Chunk, PendingCall, Single};
use crate::error::{BrokenExecutor, FutureError, SubmitError};
use crate::executor::Payload;
use crate::future::{Future, Promise};
use crate::map::{Map, ValidMapOptions};
use parking_lot::MappedMutexGuard;
use std::collections::VecDeque;
use std::sync::Arc;

/// The part of a pool's locked state that every submission goes through: the queue, and
/// whether the pool still takes work. The process pool and the MPI pool both keep one.
#[derive(Default)]
pub(crate) struct Intake {
    pub(crate) queue: VecDeque<PendingCall>,
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
    pub(crate) fn break_with(&mut self, broken: &BrokenExecutor) -> VecDeque<PendingCall> {
        self.broken = Some(broken.clone());
        std::mem::take(&mut self.queue)
    }
}

/// Where a pool's submissions go: the process pool's manager queue, or the MPI pool's. The
/// encoding, the futures and `map` are the same for both, written once below.
pub(crate) trait Outbox: Send + Sync + 'static {
    /// The pool's intake, locked.
    fn intake(&self) -> MappedMutexGuard<'_, Intake>;
    /// Tells the thread that consumes the queue that work arrived.
    fn wake_consumer(&self);

    /// Fails fast (shut down, broken) before the caller spends time encoding.
    fn check_open(&self) -> Result<(), SubmitError> {
        self.intake().refusal()
    }

    /// Queues an encoded task; the same errors as `check_open` if it closed meanwhile.
    fn enqueue(&self, call: PendingCall) -> Result<(), SubmitError> {
        {
            let mut intake = self.intake();
            intake.refusal()?;
            intake.queue.push_back(call);
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

/// `submit(f, arg)` on any outbox. An argument that cannot be encoded gives a future that has
/// already failed, not an error: it fails that future alone.
pub(crate) fn submit_one<Q: Outbox + ?Sized, A: Payload, R: Payload>(
    outbox: &Q,
    f: fn(A) -> R,
    arg: A,
) -> Result<Future<R>, SubmitError> {
    outbox.check_open()?;
    let portable =
        image::portable(image::call_one::<A, R>, f as usize).map_err(SubmitError::NotPortable)?;
    let (promise, future) = Promise::new();
    match encode_task(portable, &arg) {
        Ok(frame) => outbox.enqueue(PendingCall::new(frame, Box::new(Single { promise })))?,
        Err(e) => promise.set(Err(e)),
    }
    Ok(future)
}

/// One `map` chunk as one task, with a future per item.
fn submit_chunk<Q: Outbox + ?Sized, A: Payload, R: Payload>(
    outbox: &Q,
    portable: Portable,
    chunk: Vec<A>,
) -> Result<Vec<Future<R>>, SubmitError> {
    outbox.check_open()?;
    let (promises, futures): (Vec<Promise<R>>, Vec<Future<R>>) =
        (0..chunk.len()).map(|_| Promise::new()).unzip();
    match encode_task(portable, &chunk) {
        Ok(frame) => {
            outbox.enqueue(PendingCall::new(frame, Box::new(Chunk { items: promises })))?
        }
        Err(e) => {
            for p in promises {
                p.set(Err(e.clone()));
            }
        }
    }
    Ok(futures)
}

/// `map_with` on any outbox: one task per item, or `chunksize` items per task through
/// [`ChunkFeed`]; either way the shared [`Map`] iterator gives the order, deadline and
/// cancel-on-drop. `buffersize` counts tasks, so it is scaled by the chunksize.
pub(crate) fn map_with<'a, Q, I, R>(
    outbox: Arc<Q>,
    f: fn(I::Item) -> R,
    items: I,
    options: ValidMapOptions,
) -> Map<'a, R>
where
    Q: Outbox,
    I: IntoIterator,
    I::IntoIter: Send + 'a,
    I::Item: Payload,
    R: Payload,
{
    let chunksize = options.get().get_chunksize();
    if chunksize == 1 {
        let submit = move |item| submit_one(&*outbox, f, item);
        return Map::new(items.into_iter(), submit, options);
    }
    let portable = image::portable(image::call_chunk::<I::Item, R>, f as usize);
    let feed = ChunkFeed {
        items: items.into_iter(),
        chunksize,
        ready: VecDeque::new(),
        submit: move |chunk: Vec<I::Item>| {
            let portable = portable.clone().map_err(SubmitError::NotPortable)?;
            submit_chunk::<Q, I::Item, R>(&outbox, portable, chunk)
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
