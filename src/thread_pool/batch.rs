//! `map`'s batch: every item of one `map` call in one allocation, queued as a few tokens
//! instead of one task per item.
//!
//! A worker that pops a token claims items one at a time, in input order, until none is left,
//! so items still start in submission order and each goes to whichever worker is free first,
//! as Python's per-item work items do. What a batch saves is the per-item future: its
//! allocation, its queue push and pop, and the wake-up checks of `submit` (the reader, not a
//! handle, is the only consumer of a `map` item).
//!
//! An item is claimed, cancelled or failed under its slot's lock, so it ends exactly one way:
//! it runs, or it yields the batch's stop error (`Cancelled` after the `Map` is dropped or a
//! `shutdown(cancel_futures)`, `BrokenExecutor` after an initializer failed). A stop does not
//! touch the slots: workers stop claiming, and the reader turns each still-pending slot into
//! the stop error when it gets there.

use super::task::{current_pool, Job};
use crate::cancel::{CancelTarget, CancelToken, CurrentToken};
use crate::error::{BrokenExecutor, FutureError};
use crate::map::OrderedSource;
use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::sync::{Condvar, Mutex};
use std::sync::Arc;
use std::time::Instant;

enum ItemSlot<A, R> {
    Pending(A),
    Running,
    Done(Result<R, FutureError>),
    /// Read by the reader, or ended by a stop.
    Gone,
}

pub(crate) struct Batch<A, R, F> {
    func: Arc<F>,
    slots: Box<[Mutex<ItemSlot<A, R>>]>,
    /// The next item a worker claims; may run past the end (each claimer stops there).
    next: AtomicUsize,
    /// The pool whose workers run this batch: a reader on one of them runs items inline.
    pool: usize,
    stopped: AtomicBool,
    stop_error: Mutex<Option<FutureError>>,
    /// The index + 1 of the item the reader sleeps on (0: it does not sleep).
    waiting: AtomicUsize,
    wait_lock: Mutex<()>,
    wake: Condvar,
    /// The token every item runs under (`MapOptions::cancel_token`, `cancel_running`).
    token: Option<CancelToken>,
}

impl<A, R, F> Batch<A, R, F>
where
    A: Send + 'static,
    R: Send + 'static,
    F: Fn(A) -> R + Send + Sync + 'static,
{
    pub(crate) fn new(
        func: Arc<F>,
        items: impl Iterator<Item = A>,
        pool: usize,
        token: Option<CancelToken>,
    ) -> Self {
        Batch {
            func,
            slots: items.map(|a| Mutex::new(ItemSlot::Pending(a))).collect(),
            next: AtomicUsize::new(0),
            pool,
            stopped: AtomicBool::new(false),
            stop_error: Mutex::new(None),
            waiting: AtomicUsize::new(0),
            wait_lock: Mutex::new(()),
            wake: Condvar::new(),
            token,
        }
    }

    /// Ends every item not started with `error` (the first stop wins) and wakes the reader.
    fn stop(&self, error: FutureError) {
        self.stop_error.lock().get_or_insert(error);
        // ORDERING: Release publishes the error before the flag; Acquire loads read it after.
        self.stopped.store(true, Ordering::Release);
        let _guard = self.wait_lock.lock();
        self.wake.notify_all();
    }

    fn stop_error(&self) -> FutureError {
        self.stop_error
            .lock()
            .clone()
            .unwrap_or(FutureError::Cancelled)
    }

    /// Item `i`'s input, if it is still pending and the batch is not stopped; marks it running.
    ///
    /// A cancelled token stops the batch here, at every claim (a worker's or a reader's): its
    /// `cancel` raises the flag (waking the running items) before it stops the batch, and an
    /// item that saw the flag must not find another one still claimable. Called with no lock
    /// held, as `stop` takes the wait lock.
    fn claim(&self, i: usize) -> Option<A> {
        if self.token.as_ref().is_some_and(CancelToken::is_cancelled) {
            self.stop(FutureError::Cancelled);
            return None;
        }
        let mut slot = self.slots[i].lock();
        if !matches!(*slot, ItemSlot::Pending(_)) || self.stopped.load(Ordering::Acquire) {
            return None;
        }
        match std::mem::replace(&mut *slot, ItemSlot::Running) {
            ItemSlot::Pending(a) => Some(a),
            _ => unreachable!("checked pending under the lock"),
        }
    }

    /// The next item in input order that this thread wins, or `None` at the end or a stop.
    fn claim_next(&self) -> Option<(usize, A)> {
        while !self.stopped.load(Ordering::Acquire) {
            // ORDERING: the counter only spreads indices; each slot's lock decides its claim.
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.slots.len() {
                return None;
            }
            if let Some(a) = self.claim(i) {
                return Some((i, a));
            }
        }
        None
    }

    fn call(&self, a: A) -> Result<R, FutureError> {
        match &self.token {
            Some(token) => {
                let _current = CurrentToken::enter(Some(token.clone()));
                crate::panic::catch(|| (self.func)(a))
            }
            None => crate::panic::catch(|| (self.func)(a)),
        }
    }

    fn publish(&self, i: usize, out: Result<R, FutureError>) {
        *self.slots[i].lock() = ItemSlot::Done(out);
        // ORDERING: see `take`; the slot's lock orders this load after the reader's store.
        if self.waiting.load(Ordering::Relaxed) == i + 1 {
            let _guard = self.wait_lock.lock();
            self.wake.notify_one();
        }
    }

    /// Item `i` for the reader if it has ended: its result, or the stop error for a pending
    /// item of a stopped batch (which then never runs).
    fn try_take(&self, i: usize) -> Option<Result<R, FutureError>> {
        let mut slot = self.slots[i].lock();
        match &*slot {
            ItemSlot::Running => None,
            ItemSlot::Pending(_) if !self.stopped.load(Ordering::Acquire) => None,
            ItemSlot::Pending(_) => {
                *slot = ItemSlot::Gone;
                drop(slot);
                Some(Err(self.stop_error()))
            }
            ItemSlot::Done(_) => match std::mem::replace(&mut *slot, ItemSlot::Gone) {
                ItemSlot::Done(out) => Some(out),
                _ => unreachable!("matched done under the lock"),
            },
            ItemSlot::Gone => unreachable!("the reader takes each item once"),
        }
    }
}

impl<A, R, F> OrderedSource<R> for Batch<A, R, F>
where
    A: Send + 'static,
    R: Send + 'static,
    F: Fn(A) -> R + Send + Sync + 'static,
{
    fn len(&self) -> usize {
        self.slots.len()
    }

    fn take(&self, i: usize, deadline: Option<Instant>) -> Result<R, FutureError> {
        loop {
            if let Some(out) = self.try_take(i) {
                return out;
            }
            // A reader on this pool's own worker runs the item itself rather than wait for a
            // worker that may never come (every one of them could be a reader).
            if self.pool == current_pool() {
                if let Some(a) = self.claim(i) {
                    // Not under the reading task's token (`call` sets the map's own, if any).
                    let _none = CurrentToken::enter(None);
                    self.publish(i, self.call(a));
                    continue;
                }
            }
            let mut guard = self.wait_lock.lock();
            // ORDERING: no fence needed against `publish`: the store comes before `try_take`
            // locks the slot, and `publish` loads after unlocking it. Whichever of us locks the
            // slot second sees the other's write: we see the result, or it sees us waiting.
            // Storing after the check instead loses the wake-up (the loom models catch that).
            self.waiting.store(i + 1, Ordering::Relaxed);
            if let Some(out) = self.try_take(i) {
                self.waiting.store(0, Ordering::Relaxed);
                return out;
            }
            let timed_out = match deadline {
                None => {
                    self.wake.wait(&mut guard);
                    false
                }
                Some(d) => self.wake.wait_until(&mut guard, d),
            };
            self.waiting.store(0, Ordering::Relaxed);
            if timed_out {
                drop(guard);
                return self.try_take(i).unwrap_or(Err(FutureError::Timeout));
            }
        }
    }

    fn cancel(&self) {
        self.stop(FutureError::Cancelled);
    }
}

impl<A, R, F> Job for Batch<A, R, F>
where
    A: Send + 'static,
    R: Send + 'static,
    F: Fn(A) -> R + Send + Sync + 'static,
{
    /// Runs items until none is left. The next item is claimed before the current result is
    /// published, so `before_publish` (the worker counting itself idle) runs before the last
    /// result this worker makes visible, as for a single task.
    fn run(self: Arc<Self>, before_publish: &dyn Fn()) {
        let mut current = self.claim_next();
        while let Some((i, a)) = current {
            let out = self.call(a);
            current = self.claim_next();
            if current.is_none() {
                before_publish();
            }
            self.publish(i, out);
        }
    }

    fn cancel(self: Arc<Self>) {
        self.stop(FutureError::Cancelled);
    }

    fn fail(self: Arc<Self>, error: &BrokenExecutor) {
        self.stop(FutureError::BrokenExecutor(error.clone()));
    }

    fn is_claimed(&self) -> bool {
        // ORDERING: a hint for a scope's bookkeeping; batches never enter a scope.
        self.next.load(Ordering::Relaxed) >= self.slots.len()
    }
}

/// A token stops a batch as dropping its `Map` does: the items not started yield `Cancelled`.
impl<A, R, F> CancelTarget for Batch<A, R, F>
where
    A: Send + 'static,
    R: Send + 'static,
    F: Fn(A) -> R + Send + Sync + 'static,
{
    fn on_cancel(self: Arc<Self>) {
        self.stop(FutureError::Cancelled);
    }

    fn is_live(&self) -> bool {
        // ORDERING: a hint for pruning a token's registrations; a stale true keeps the entry.
        !self.stopped.load(Ordering::Relaxed)
            && self.next.load(Ordering::Relaxed) < self.slots.len()
    }
}
