//! How submissions reach a remote pool: the [`Outbox`] each pool implements (its locked
//! queue and the thread that drains it), and `submit`/`map` written once on top of it,
//! including the queue's capacity (back-pressure) and the tasks' cancel tokens.

use super::frame;
use super::image::{self, Portable};
use super::pending::{CancellableSingle, Chunk, PendingCall, Single};
use crate::backpressure::{Admit, Capacity, TrySubmitError, WhenFull};
use crate::cancel::{CancelTarget, CancelToken, Cancelled, CurrentToken};
use crate::error::{BrokenExecutor, FutureError, SubmitError};
use crate::executor::Payload;
use crate::future::waiter::deadline_after;
use crate::future::{Future, Promise};
use crate::map::{Map, MapTokens, ValidMapOptions};
use crate::map_unordered::MapUnordered;
use crate::retry::RetryPolicy;
use parking_lot::{Condvar, MappedMutexGuard, Mutex};
use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::Instant;

/// The part of a pool's locked state that every submission goes through: the queue, whether
/// the pool still takes work, and its capacity. The process pool and the MPI pool both keep
/// one; their consumer takes work with [`take`](Intake::take) and closes it with
/// [`close`](Intake::close), which is what wakes submitters waiting for room.
#[derive(Default)]
pub(crate) struct Intake {
    pub(crate) queue: VecDeque<PendingCall>,
    pub(crate) shutdown: bool,
    pub(crate) broken: Option<BrokenExecutor>,
    /// The bound on `queue` and its policy; `None`: unbounded.
    capacity: Option<Capacity>,
    /// Slots held by submitters that are still encoding their task.
    reserved: usize,
    /// Submitters waiting in `admit` for room.
    blocked: usize,
    room: Arc<Room>,
}

/// Where submitters wait for room: its own lock, taken while the intake's is held (intake
/// first, always), so a waiter is asleep before anyone holding the intake can notify.
#[derive(Default)]
struct Room {
    lock: Mutex<()>,
    cond: Condvar,
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
        self.wake_blocked();
        std::mem::take(&mut self.queue)
    }

    /// Bounds the queue (the builders' `queue_capacity` and `when_full`), before any submit.
    pub(crate) fn set_capacity(&mut self, capacity: Option<Capacity>) {
        self.capacity = capacity;
    }

    /// The consumer takes the `n` oldest calls to dispatch: their slots free up, and
    /// submitters waiting for room are woken.
    pub(crate) fn take(&mut self, n: usize) -> Vec<PendingCall> {
        let taken: Vec<PendingCall> = self.queue.drain(..n).collect();
        if !taken.is_empty() {
            self.wake_blocked();
        }
        taken
    }

    /// Stops taking work (`shutdown`): later submits, and those waiting for room, get
    /// [`SubmitError::Shutdown`].
    pub(crate) fn close(&mut self) {
        self.shutdown = true;
        self.wake_blocked();
    }

    /// Gives back a slot `admit` reserved for a call that is not queued after all.
    fn unreserve(&mut self) {
        self.reserved -= 1;
        self.wake_blocked();
    }

    fn wake_blocked(&self) {
        if self.blocked > 0 {
            let _guard = self.room.lock.lock();
            self.room.cond.notify_all();
        }
    }
}

/// What `admit` gave a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntakeAdmission {
    /// A slot is reserved: queue the call (or give the slot back).
    Reserved,
    /// No capacity to count against (unbounded, or a `map` item).
    Free,
    /// Full, and the policy is `CallerRuns`.
    RunHere,
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

    /// Queues an encoded task in the slot `admit` gave it; the same errors as `check_open` if
    /// the pool closed meanwhile.
    fn enqueue(&self, call: PendingCall, slot: IntakeAdmission) -> Result<(), SubmitError> {
        {
            let mut intake = self.intake();
            if slot == IntakeAdmission::Reserved {
                // The reservation becomes the queued call (or, refused, frees up).
                intake.reserved -= 1;
            }
            if let Err(refused) = intake.refusal() {
                intake.wake_blocked();
                return Err(refused);
            }
            intake.queue.push_back(call);
        }
        self.wake_consumer();
        Ok(())
    }
}

/// A place in the queue for one submission, as `admit` and the pool's policy say: waits for
/// room (woken by the consumer's [`Intake::take`], or by [`Intake::close`] with the shutdown
/// error) with `Block`/`BlockFor`.
fn admit<Q: Outbox + ?Sized>(outbox: &Q, admit: Admit) -> Result<IntakeAdmission, SubmitError> {
    let mut deadline: Option<Option<Instant>> = None;
    let mut counted = false;
    loop {
        let mut intake = outbox.intake();
        if counted {
            intake.blocked -= 1;
        }
        intake.refusal()?;
        let Some(capacity) = intake.capacity else {
            return Ok(IntakeAdmission::Free);
        };
        if admit == Admit::Always {
            return Ok(IntakeAdmission::Free);
        }
        if intake.queue.len() + intake.reserved < capacity.limit {
            intake.reserved += 1;
            return Ok(IntakeAdmission::Reserved);
        }
        let full = SubmitError::Full {
            capacity: capacity.limit,
        };
        let until = match (admit, capacity.when_full) {
            (Admit::Try, _) | (_, WhenFull::Fail) => return Err(full),
            (_, WhenFull::CallerRuns) => return Ok(IntakeAdmission::RunHere),
            (_, WhenFull::Block) => None,
            (_, WhenFull::BlockFor(limit)) => {
                *deadline.get_or_insert_with(|| deadline_after(Some(limit)))
            }
        };
        if until.is_some_and(|d| Instant::now() >= d) {
            return Err(full);
        }
        let room = Arc::clone(&intake.room);
        let mut guard = room.lock.lock();
        intake.blocked += 1;
        counted = true;
        drop(intake);
        match until {
            None => room.cond.wait(&mut guard),
            Some(d) => {
                let _ = room.cond.wait_until(&mut guard, d);
            }
        }
    }
}

/// Gives back the slot of a submission that will not be queued.
fn release<Q: Outbox + ?Sized>(outbox: &Q, slot: IntakeAdmission) {
    if slot == IntakeAdmission::Reserved {
        outbox.intake().unreserve();
    }
}

/// `CallerRuns`: `f(arg)` on this thread, under `token`, caught like a worker's task.
fn run_here<A, R>(f: fn(A) -> R, arg: A, token: Option<&CancelToken>) -> Result<R, FutureError> {
    let _current = CurrentToken::enter(token.cloned());
    crate::panic::catch(|| f(arg))
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

/// `submit(f, arg)` on any outbox (`try_submit` with `Admit::Try`; a `map` item, under the
/// map's token and retry policy, with `Admit::Always`). An argument that cannot be encoded
/// gives a future that has already failed, not an error: it fails that future alone. A refusal
/// hands `arg` back.
pub(crate) fn submit_one<Q: Outbox + ?Sized, A: Payload, R: Payload>(
    outbox: &Q,
    f: fn(A) -> R,
    arg: A,
    how: Admit,
    token: Option<&CancelToken>,
    retry: Option<RetryPolicy>,
) -> Result<Future<R>, TrySubmitError<A>> {
    if let Err(refused) = outbox.check_open() {
        return Err(TrySubmitError::new(refused, arg));
    }
    let portable = match image::portable(image::call_one::<A, R>, f as usize) {
        Ok(portable) => portable,
        Err(e) => return Err(TrySubmitError::new(SubmitError::NotPortable(e), arg)),
    };
    let (promise, future, target) = Promise::with_target();
    if token.is_some_and(CancelToken::is_cancelled) {
        drop(promise);
        future.cancel();
        let _ = future.set_running_or_notify_cancel();
        return Ok(future);
    }
    let slot = match admit(outbox, how) {
        Ok(slot) => slot,
        Err(refused) => return Err(TrySubmitError::new(refused, arg)),
    };
    if slot == IntakeAdmission::RunHere {
        let _ = promise.start();
        promise.set(run_here(f, arg, token));
        return Ok(future);
    }
    match encode_task(portable, &arg) {
        Ok(frame) => {
            let call = PendingCall::new(frame, Box::new(Single { promise }))
                .with_token(token.cloned())
                .with_retry(retry);
            if let Err(refused) = outbox.enqueue(call, slot) {
                return Err(TrySubmitError::new(refused, arg));
            }
            register(token, target);
        }
        Err(e) => {
            release(outbox, slot);
            promise.set(Err(e));
        }
    }
    Ok(future)
}

/// `submit_cancellable(token, f, arg)` on any outbox: `submit` whose task may end as
/// cancelled. The worker runs `f` with the token as its current one (once the transport
/// forwards the cancel to it; see `PendingCall::token`), and its `Err(Cancelled)` comes back
/// as a cancelled future.
pub(crate) fn submit_cancellable<Q: Outbox + ?Sized, A: Payload, R: Payload>(
    outbox: &Q,
    token: &CancelToken,
    f: fn(A) -> Result<R, Cancelled>,
    arg: A,
) -> Result<Future<R>, SubmitError> {
    outbox.check_open()?;
    let portable = image::portable(image::call_one::<A, Result<R, Cancelled>>, f as usize)
        .map_err(SubmitError::NotPortable)?;
    let (promise, future, target) = Promise::with_target();
    if token.is_cancelled() {
        drop(promise);
        future.cancel();
        let _ = future.set_running_or_notify_cancel();
        return Ok(future);
    }
    let slot = admit(outbox, Admit::Policy)?;
    if slot == IntakeAdmission::RunHere {
        match run_here(f, arg, Some(token)) {
            Ok(Err(Cancelled)) => promise.finish_cancelled(),
            Ok(Ok(value)) => {
                let _ = promise.start();
                promise.set(Ok(value));
            }
            Err(e) => {
                let _ = promise.start();
                promise.set(Err(e));
            }
        }
        return Ok(future);
    }
    match encode_task(portable, &arg) {
        Ok(frame) => {
            let single = CancellableSingle { promise };
            let call = PendingCall::new(frame, Box::new(single)).with_token(Some(token.clone()));
            outbox.enqueue(call, slot)?;
            register(Some(token), target);
        }
        Err(e) => {
            release(outbox, slot);
            promise.set(Err(e));
        }
    }
    Ok(future)
}

/// After the call is queued: a cancel in between finds it pending and cancels it here.
fn register(token: Option<&CancelToken>, target: Weak<dyn CancelTarget>) {
    if let Some(token) = token {
        token.register(target);
    }
}

/// One `map` chunk as one task, with a future per item, each registered with the map's token.
fn submit_chunk<Q: Outbox + ?Sized, A: Payload, R: Payload>(
    outbox: &Q,
    portable: Portable,
    chunk: Vec<A>,
    token: Option<&CancelToken>,
    retry: Option<RetryPolicy>,
) -> Result<Vec<Future<R>>, SubmitError> {
    outbox.check_open()?;
    let mut promises = Vec::with_capacity(chunk.len());
    let mut futures = Vec::with_capacity(chunk.len());
    let mut targets = Vec::with_capacity(chunk.len());
    for _ in 0..chunk.len() {
        let (promise, future, target) = Promise::with_target();
        promises.push(promise);
        futures.push(future);
        targets.push(target);
    }
    match encode_task(portable, &chunk) {
        Ok(frame) => {
            let chunk = Chunk { items: promises };
            let call = PendingCall::new(frame, Box::new(chunk))
                .with_token(token.cloned())
                .with_retry(retry);
            outbox.enqueue(call, IntakeAdmission::Free)?;
            for target in targets {
                register(token, target);
            }
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
/// cancel-on-drop. `buffersize` counts tasks, so it is scaled by the chunksize. Items run
/// under the map's token, if it has one.
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
    let MapTokens { items: token, stop } = options.tokens();
    let retry = options.get().get_retry();
    let chunksize = options.get().get_chunksize();
    if chunksize == 1 {
        let submit = move |item| {
            submit_one(&*outbox, f, item, Admit::Always, token.as_ref(), retry)
                .map_err(SubmitError::from)
        };
        return Map::new(items.into_iter(), submit, options).stopping(stop);
    }
    let portable = image::portable(image::call_chunk::<I::Item, R>, f as usize);
    let feed = ChunkFeed {
        items: items.into_iter(),
        chunksize,
        ready: VecDeque::new(),
        submit: move |chunk: Vec<I::Item>| {
            let portable = portable.clone().map_err(SubmitError::NotPortable)?;
            submit_chunk::<Q, I::Item, R>(&outbox, portable, chunk, token.as_ref(), retry)
        },
    };
    Map::new(feed, |f| f, options.per_item_buffer()).stopping(stop)
}

/// `map_unordered_with` on any outbox: one task per item (`chunksize` is for ordered `map`),
/// under the map's token, if it has one.
pub(crate) fn map_unordered_with<'a, Q, I, R>(
    outbox: &'a Q,
    f: fn(I::Item) -> R,
    items: I,
    options: ValidMapOptions,
) -> MapUnordered<'a, R>
where
    Q: Outbox,
    I: IntoIterator,
    I::IntoIter: Send + 'a,
    I::Item: Payload,
    R: Payload,
{
    let MapTokens { items: token, stop } = options.tokens();
    let retry = options.get().get_retry();
    let submit = move |item| {
        submit_one(outbox, f, item, Admit::Always, token.as_ref(), retry).map_err(SubmitError::from)
    };
    MapUnordered::new(items.into_iter(), submit, options).stopping(stop)
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
