//! The shared state behind every `Future<T>` handle: one atomic word, the outcome slot, and the
//! list of waiters and callbacks.
//!
//! # The state word
//!
//! ```text
//!   bits 0-2  PENDING → RUNNING → COMPLETING → FINISHED
//!             PENDING → SETTING → FINISHED               (a promise set directly)
//!             PENDING → CANCELLED → NOTIFIED             (the executor saw the cancel)
//!             PENDING → RUNNING → NOTIFIED               (the task returned `Cancelled`)
//!   bit 3     WAITERS    the list may hold entries: whoever ends the future must drain it
//!   bit 4     NOTIFYING  callbacks of a finished future are still running on the completer
//!   bit 5     LATE       a `Take` waiter registered while NOTIFYING: the completer drains again
//! ```
//!
//! Every transition is one compare-and-swap on the word, so exactly one thread wins each. The
//! thread that wins `→ COMPLETING` is the only one that ever writes the outcome slot; it then
//! publishes `FINISHED` with release ordering, and readers only touch the slot after an acquire
//! load that saw `FINISHED`. Waiters register under the list lock and set `WAITERS` with a CAS
//! that fails if the state moved, so a completer either sees the bit (and drains the list under
//! the same lock) or the registrant sees the terminal state (and does not wait): no lost wake-up.
//!
//! Why a hand-guarded cell and not `OnceLock`: `result()` lends `&T` from any handle, and
//! `into_result()` must move `T` out of the last handle while the queue (or a worker) may still
//! hold a reference to the same allocation; `OnceLock::take` needs `&mut`, which those internal
//! references rule out. So the slot is an `UnsafeCell` whose every access is argued from the
//! state word below (and checked by the loom models in `tests/loom.rs`).
//!
//! A `Take` waiter (an `.await` that will move the value out) is told only after the completer
//! cleared NOTIFYING, since `try_take` refuses until then: the drain sets such entries aside and
//! notifies them after the flag is gone. One that registers while NOTIFYING is still set pushes
//! its entry under the list lock and sets LATE with a CAS that fails once NOTIFYING is cleared;
//! the completer clears both flags in one RMW and, if LATE was set, drains the list again. So a
//! `Take` waiter is either told after the flag cleared or sees it cleared itself: it never has to
//! spin on `Notifying`.
//!
//! Python distinguishes `CANCELLED` (cancel() succeeded) from `CANCELLED_AND_NOTIFIED` (the
//! executor acknowledged it): `result()` waiters and callbacks are released by the first, while
//! `wait`/`as_completed` only count the second. The two waiter kinds below encode that.

use super::waiter::{Ended, Notify, Signal};
use super::Future;
use crate::error::FutureError;
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::{Mutex, UnsafeCell};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

#[cfg(not(concurrent_futures_loom))]
std::thread_local! {
    /// The core whose done-callbacks this thread is running (0: none).
    static NOTIFYING_CORE: Cell<usize> = const { Cell::new(0) };
}

#[cfg(concurrent_futures_loom)]
loom::thread_local! {
    static NOTIFYING_CORE: Cell<usize> = Cell::new(0);
}

pub(crate) const PENDING: u32 = 0;
pub(crate) const RUNNING: u32 = 1;
pub(crate) const COMPLETING: u32 = 2;
pub(crate) const FINISHED: u32 = 3;
pub(crate) const CANCELLED: u32 = 4;
pub(crate) const NOTIFIED: u32 = 5;
/// Like COMPLETING, for a future set straight from PENDING: it still reads as pending, as in
/// Python, where that transition is atomic.
pub(crate) const SETTING: u32 = 6;
const STATE: u32 = 0b111;
const WAITERS: u32 = 0b1000;
pub(crate) const NOTIFYING: u32 = 0b1_0000;
const LATE: u32 = 0b10_0000;

/// What a finished future holds. The failure is boxed so a pending future costs
/// `max(size_of::<T>(), 8)` for its slot, not the size of a panic report.
pub(crate) enum Outcome<T> {
    Value(T),
    Failed(Box<FutureError>),
}

/// A registration on a future.
pub(crate) enum Entry<T> {
    /// A `result()`-style waiter: released by any end, including a plain cancel.
    Wake(Arc<dyn Notify>, usize),
    /// A `wait`/`as_completed` waiter: released by FINISHED or NOTIFIED only.
    Collect(Arc<dyn Notify>, usize),
    /// An `.await` that moves the value out: released by any end, but on a finished future only
    /// once the completer's callbacks are done (NOTIFYING cleared), so `try_take` can succeed.
    Take(Arc<dyn Notify>, usize),
    /// A done-callback: runs once, on the ending thread.
    Callback(Callback<T>),
}

/// A boxed done-callback.
pub(crate) type Callback<T> = Box<dyn FnOnce(&Future<T>) + Send>;

/// Which waits count a state as ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Wake,
    Collect,
}

fn ended_for(state: u32, kind: Kind) -> bool {
    match kind {
        Kind::Wake => matches!(state, FINISHED | CANCELLED | NOTIFIED),
        Kind::Collect => matches!(state, FINISHED | NOTIFIED),
    }
}

/// Result of the executor's claim on a queued future.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// PENDING → RUNNING: the caller now owns the task and must complete it.
    Run,
    /// CANCELLED → NOTIFIED: the caller must not run the task (and owns its closure to drop).
    Cancelled,
    /// Any other state: someone else ran or is running it.
    Taken(u32),
}

pub(crate) struct Core<T> {
    state: AtomicU32,
    /// Live `Future<T>` handles; `into_result` moves the value out only when it holds the last.
    handles: AtomicU32,
    outcome: UnsafeCell<Option<Outcome<T>>>,
    /// Boxed on first use: most futures never get a waiter, and a pending future should cost
    /// one word here, not a `Vec`'s three.
    waiters: Mutex<Option<Box<List<T>>>>,
    /// The last de-duplication pass that saw this future (see `crate::identity`). A std atomic
    /// even under loom: it is only touched while one lock is held, so there is no race to model.
    seen_by: std::sync::atomic::AtomicU64,
}

// SAFETY: the outcome slot is the only field that is not Sync, and sharing the core needs only
// `T: Send`, because no two threads ever use one `T` through a shared reference unless `T: Sync`:
// - the value is moved in by the one thread that won the transition to COMPLETING (or SETTING),
//   moved out by `try_take` on the thread that holds the last handle, and dropped on whichever
//   thread drops the core: each of those moves a `T` between threads, which `T: Send` allows;
// - between FINISHED and `try_take` nothing writes the slot, and the only way to lend `&T` from
//   it is `outcome`, which requires `T: Sync` (so `Future::result` and `(&future).await` do too);
// - `failure` (behind `exception`, `Display`, `wait`'s FIRST_EXCEPTION) reads the slot from any
//   thread without that bound, but it reads only the enum's discriminant and the `FutureError`
//   (which is Sync), never the bytes of `T`, and it runs no code of `T`.
// The core is Send by the auto traits (its fields are Send when `T: Send`).
unsafe impl<T: Send> Sync for Core<T> {}

impl<T> Default for Core<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Core<T> {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU32::new(PENDING),
            handles: AtomicU32::new(0),
            outcome: UnsafeCell::new(None),
            waiters: Mutex::new(None),
            seen_by: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Records that de-duplication pass `pass` saw this future; whether it was the first time.
    /// Only called with the pass lock in `crate::identity` held.
    pub(crate) fn first_seen_by(&self, pass: u64) -> bool {
        // ORDERING: Relaxed: every access happens under the pass lock, whose acquire and release
        // order passes on different threads. The lock also makes load-then-store safe, and
        // cheaper than a swap (a locked instruction).
        use std::sync::atomic::Ordering::Relaxed;
        let first = self.seen_by.load(Relaxed) != pass;
        if first {
            self.seen_by.store(pass, Relaxed);
        }
        first
    }

    /// The current state (without flags).
    pub(crate) fn state(&self) -> u32 {
        // ORDERING: Acquire so that a caller seeing FINISHED may read the outcome.
        self.state.load(Ordering::Acquire) & STATE
    }

    /// Finished, or cancelled (acknowledged or not).
    pub(crate) fn is_done(&self) -> bool {
        ended_for(self.state(), Kind::Wake)
    }

    /// Finished, or cancelled and acknowledged: what `wait` and `as_completed` count as done.
    pub(crate) fn is_collected(&self) -> bool {
        ended_for(self.state(), Kind::Collect)
    }

    /// Finished with a failure (Python's `not cancelled() and exception() is not None`).
    pub(crate) fn failed(&self) -> bool {
        self.failure().is_some()
    }

    pub(crate) fn handle_added(&self) {
        // ORDERING: a new handle is made from an existing one, which keeps the count above zero.
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn handle_dropped(&self) {
        // ORDERING: Release pairs with the Acquire in `try_take`: everything a dropped handle did
        // (reads of the outcome) happens before the last handle takes the value.
        self.handles.fetch_sub(1, Ordering::Release);
    }

    /// CAS the state part of the word from `from` to `to`, keeping the flags.
    fn transition(&self, from: u32, to: u32) -> Result<u32, u32> {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & STATE != from {
                return Err(cur);
            }
            // ORDERING: AcqRel: the winner sees every earlier transition's writes, and later
            // observers of `to` see the winner's.
            match self.state.compare_exchange_weak(
                cur,
                (cur & !STATE) | to,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(cur),
                Err(actual) => cur = actual,
            }
        }
    }

    /// The executor's claim on a task it dequeued (Python's `set_running_or_notify_cancel`).
    /// `handle` makes a handle for callbacks that `cancel()` has not run yet (it may still be
    /// on its way to the list lock when the claim acknowledges the cancel).
    pub(crate) fn claim(&self, handle: impl FnOnce() -> Future<T>) -> Claim {
        match self.transition(PENDING, RUNNING) {
            Ok(_) => Claim::Run,
            Err(cur) if cur & STATE == CANCELLED => match self.transition(CANCELLED, NOTIFIED) {
                Ok(prev) => {
                    if prev & WAITERS != 0 {
                        // Nothing to take from a cancelled future: no entry is set aside.
                        let _ = self.drain(Ended::Cancelled, handle, false);
                    }
                    Claim::Cancelled
                }
                Err(cur) => Claim::Taken(cur & STATE),
            },
            Err(cur) => Claim::Taken(cur & STATE),
        }
    }

    /// RUNNING → NOTIFIED: the running task stopped because it was cancelled (it returned
    /// `Cancelled`). The future ends as one cancelled before it ran would after the executor's
    /// claim: every waiter kind and every callback is released at once, since no claim will
    /// follow. Returns false (and changes nothing) if the future is not running: someone
    /// called `set_result` on it meanwhile, and that outcome stays.
    pub(crate) fn finish_cancelled(&self, handle: impl FnOnce() -> Future<T>) -> bool {
        match self.transition(RUNNING, NOTIFIED) {
            Ok(prev) => {
                if prev & WAITERS != 0 {
                    // Nothing to take from a cancelled future: no entry is set aside.
                    let _ = self.drain(Ended::Cancelled, handle, false);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Ends the future with `outcome` if it is PENDING or RUNNING. `handle` makes a handle for
    /// the callbacks, only if there are any.
    pub(crate) fn complete(
        &self,
        outcome: Outcome<T>,
        handle: impl FnOnce() -> Future<T>,
    ) -> Result<(), (Outcome<T>, u32)> {
        let claimed = self
            .transition(RUNNING, COMPLETING)
            .or_else(|_| self.transition(PENDING, SETTING));
        if let Err(cur) = claimed {
            return Err((outcome, cur & STATE));
        }
        let ended = match &outcome {
            Outcome::Value(_) => Ended::Value,
            Outcome::Failed(_) => Ended::Failed,
        };
        // SAFETY: this thread won the transition to COMPLETING (or SETTING), and the state
        // machine lets exactly one thread do that per future; readers only read after seeing
        // FINISHED, which is published below with Release, after this write.
        self.outcome
            .with_mut(|slot| unsafe { *slot = Some(outcome) });
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let flags = if cur & WAITERS != 0 { NOTIFYING } else { 0 };
            // ORDERING: Release publishes the outcome; Acquire on the way in sees the entries
            // pushed by registrants before they set WAITERS.
            match self.state.compare_exchange_weak(
                cur,
                FINISHED | flags,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        if cur & WAITERS != 0 {
            let me = self as *const Self as usize;
            let outer = NOTIFYING_CORE.with(|c| c.replace(me));
            let mut takers = self.drain(ended, handle, true);
            NOTIFYING_CORE.with(|c| c.set(outer));
            // ORDERING: Release makes the callbacks' work (and their handle's drop) visible to
            // `try_take`, which waits for this flag to clear with Acquire; Acquire sees the LATE
            // registrants' CAS (their entries are read under the list lock below anyway).
            let prev = self.state.fetch_and(!(NOTIFYING | LATE), Ordering::AcqRel);
            if prev & LATE != 0 {
                if let Some(late) = self.waiters.lock().take() {
                    for entry in late.into_entries() {
                        takers.push(entry);
                    }
                }
            }
            for entry in takers.into_entries() {
                match entry {
                    Entry::Take(n, t) | Entry::Wake(n, t) | Entry::Collect(n, t) => {
                        n.notify(t, ended);
                    }
                    // A finished future runs a new callback at once instead of registering it.
                    Entry::Callback(_) => unreachable!("no callback registers after FINISHED"),
                }
            }
        }
        Ok(())
    }

    /// PENDING → CANCELLED; true also if already cancelled. Runs the callbacks and releases
    /// `result()` waiters; `wait`/`as_completed` waiters stay until the executor's claim.
    pub(crate) fn cancel(&self, handle: &Future<T>) -> bool {
        match self.transition(PENDING, CANCELLED) {
            Ok(prev) => {
                if prev & WAITERS != 0 {
                    let mut released = Vec::new();
                    {
                        let mut list = self.waiters.lock();
                        let mut keep = List::default();
                        for entry in list.take().into_iter().flat_map(|l| l.into_entries()) {
                            match entry {
                                Entry::Collect(..) => keep.push(entry),
                                other => released.push(other),
                            }
                        }
                        if keep.is_empty() {
                            // ORDERING: under the list lock, like every change of WAITERS.
                            self.state.fetch_and(!WAITERS, Ordering::Relaxed);
                        } else {
                            *list = Some(Box::new(keep));
                        }
                    }
                    let _ = run_entries(
                        released.into_iter(),
                        Ended::Cancelled,
                        || handle.clone(),
                        false,
                    );
                }
                true
            }
            Err(cur) => matches!(cur & STATE, CANCELLED | NOTIFIED),
        }
    }

    /// Takes every entry and runs it, in registration order; with `defer_takers`, `Take`
    /// entries are handed back instead, for the caller to notify once NOTIFYING is cleared.
    fn drain(&self, ended: Ended, make: impl FnOnce() -> Future<T>, defer_takers: bool) -> List<T> {
        let entries = self.waiters.lock().take();
        run_entries(
            entries.into_iter().flat_map(|l| l.into_entries()),
            ended,
            make,
            defer_takers,
        )
    }

    /// Registers `entry` unless the future already ended for its kind; then hands it back. A
    /// `Take` entry on a finished future whose callbacks are still running is registered late
    /// (see the module docs) and handed back only once they are done.
    pub(crate) fn register(&self, entry: Entry<T>) -> Result<(), Entry<T>> {
        let kind = match entry {
            Entry::Collect(..) => Kind::Collect,
            _ => Kind::Wake,
        };
        let taker = matches!(entry, Entry::Take(..));
        let mut list = self.waiters.lock();
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if ended_for(cur & STATE, kind) {
                if !(taker && cur & NOTIFYING != 0) {
                    return Err(entry);
                }
                if cur & LATE != 0 {
                    break;
                }
                // ORDERING: fails once the completer cleared NOTIFYING (its RMW clears LATE
                // too); then the entry is handed back and the value can be taken. Acquire on
                // failure so that re-check sees the callbacks' work.
                match self.state.compare_exchange_weak(
                    cur,
                    cur | LATE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(actual) => cur = actual,
                }
                continue;
            }
            if cur & WAITERS != 0 {
                break;
            }
            // ORDERING: the CAS fails if an ender moved the state first; then we re-check.
            match self.state.compare_exchange_weak(
                cur,
                cur | WAITERS,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        list.get_or_insert_with(Box::default).push(entry);
        Ok(())
    }

    /// Removes the entries of listener `notify` with `token` (a waiter that gave up).
    pub(crate) fn deregister(&self, notify: &Arc<dyn Notify>, token: usize) {
        let mut list = self.waiters.lock();
        let Some(entries) = list.as_mut() else {
            return;
        };
        entries.retain(|e| match e {
            Entry::Wake(n, t) | Entry::Collect(n, t) | Entry::Take(n, t) => {
                !(Arc::ptr_eq(n, notify) && *t == token)
            }
            Entry::Callback(_) => true,
        });
        if entries.is_empty() {
            *list = None;
            // ORDERING: under the list lock; an ender that already swapped the word still drains
            // (an empty list), one that has not will skip the lock.
            self.state.fetch_and(!WAITERS, Ordering::Relaxed);
        }
    }

    /// Blocks until the future ended for `kind` or `deadline` passed; returns the state seen.
    pub(crate) fn wait(&self, kind: Kind, deadline: Option<Instant>) -> u32 {
        let state = self.state();
        if ended_for(state, kind) || deadline.is_some_and(|d| d <= Instant::now()) {
            return state;
        }
        let signal = Arc::new(Signal::new());
        let notify: Arc<dyn Notify> = signal.clone();
        let entry = match kind {
            Kind::Wake => Entry::Wake(notify.clone(), 0),
            Kind::Collect => Entry::Collect(notify.clone(), 0),
        };
        if self.register(entry).is_err() {
            return self.state();
        }
        if !signal.wait(deadline) {
            self.deregister(&notify, 0);
        }
        self.state()
    }

    /// The outcome, if the future finished. It lends `&T` to any thread that holds a handle, so
    /// it requires `T: Sync` (see the `Sync` impl above).
    pub(crate) fn outcome(&self) -> Option<&Outcome<T>>
    where
        T: Sync,
    {
        if self.state() != FINISHED {
            return None;
        }
        // SAFETY: the Acquire load above saw FINISHED, so the single write (in `complete`)
        // happened before; after FINISHED the slot is only moved out by `try_take`, which requires
        // that no other handle exists, and `&self` here is borrowed through a handle. Several
        // threads may hold the `&T` at once, which `T: Sync` allows.
        self.outcome.with(|slot| unsafe { (*slot).as_ref() })
    }

    /// The failure, if the future finished with one. Needs no `T: Sync`: it never lends `&T`.
    pub(crate) fn failure(&self) -> Option<&FutureError> {
        if self.state() != FINISHED {
            return None;
        }
        // SAFETY: as in `outcome`, the write happened before and the slot cannot be moved out
        // while a handle borrows `&self`. Only the discriminant and the boxed `FutureError` are
        // read: never a byte of `T` (an enum's niche never lies inside an `UnsafeCell`, so even
        // a `T` with interior mutability cannot have it changed under us), and no code of `T`
        // runs, so concurrent calls on a `T` that is not Sync cannot race on the value.
        self.outcome.with(|slot| match unsafe { &*slot } {
            Some(Outcome::Failed(e)) => Some(&**e),
            _ => None,
        })
    }

    /// Moves the outcome out, if the calling handle is the only one and the future finished.
    ///
    /// # Safety
    ///
    /// The caller owns one counted handle to this core and reads nothing through it afterwards.
    pub(crate) unsafe fn try_take(&self) -> Result<Outcome<T>, TakeRefused> {
        let word = self.state.load(Ordering::Acquire);
        if word & STATE != FINISHED {
            return Err(TakeRefused::NotFinished);
        }
        if word & NOTIFYING != 0 {
            // From inside one of this future's own callbacks, waiting would wait for itself;
            // the completer's handle is alive there anyway, so the value is shared.
            if NOTIFYING_CORE.with(Cell::get) == self as *const Self as usize {
                return Err(TakeRefused::Shared);
            }
            return Err(TakeRefused::Notifying);
        }
        // ORDERING: Acquire pairs with the Release in `handle_dropped`.
        if self.handles.load(Ordering::Acquire) != 1 {
            return Err(TakeRefused::Shared);
        }
        // SAFETY: FINISHED was observed with Acquire, so the write is visible; callbacks are done
        // (NOTIFYING clear, observed with Acquire); and the caller's handle is the only one, so
        // no `&T` borrowed from another handle can be alive, and none can be made later.
        let taken = self.outcome.with_mut(|slot| unsafe { (*slot).take() });
        taken.ok_or(TakeRefused::NotFinished)
    }
}

/// Why `try_take` could not move the value out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TakeRefused {
    NotFinished,
    Notifying,
    Shared,
}

/// The registrations of one future, in order. The first lives inline, so the common case (one
/// waiter or one callback) costs a single allocation, the box.
struct List<T> {
    /// Empty only if `rest` is empty too.
    first: Option<Entry<T>>,
    rest: Vec<Entry<T>>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        Self {
            first: None,
            rest: Vec::new(),
        }
    }
}

impl<T> List<T> {
    fn push(&mut self, entry: Entry<T>) {
        if self.first.is_none() {
            self.first = Some(entry);
        } else {
            self.rest.push(entry);
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn retain(&mut self, mut keep: impl FnMut(&Entry<T>) -> bool) {
        self.rest.retain(&mut keep);
        if self.first.as_ref().is_some_and(|e| !keep(e)) {
            self.first = (!self.rest.is_empty()).then(|| self.rest.remove(0));
        }
    }

    fn into_entries(self) -> impl Iterator<Item = Entry<T>> {
        self.first.into_iter().chain(self.rest)
    }
}

/// Runs `entries` in order; with `defer_takers`, returns the `Take` entries instead of running
/// them.
fn run_entries<T>(
    entries: impl Iterator<Item = Entry<T>>,
    ended: Ended,
    make: impl FnOnce() -> Future<T>,
    defer_takers: bool,
) -> List<T> {
    let mut handle = None;
    let mut make = Some(make);
    let mut takers = List::default();
    for entry in entries {
        match entry {
            Entry::Take(..) if defer_takers => takers.push(entry),
            Entry::Wake(n, t) | Entry::Collect(n, t) | Entry::Take(n, t) => n.notify(t, ended),
            Entry::Callback(cb) => {
                let fut = handle.get_or_insert_with(|| (make.take().expect("made once"))());
                super::run_callback(cb, fut);
            }
        }
    }
    takers
}

#[cfg(all(test, not(concurrent_futures_loom)))]
mod tests {
    use super::super::waiter::Signal;
    use super::*;
    use std::sync::Mutex as StdMutex;

    /// Callbacks keep their registration order when a waiter registered before them (and held
    /// in the inline slot) gives up: the order CPython's `Future.add_done_callback` promises
    /// (its docstring; no upstream test asserts it), through the list's removal path.
    #[test]
    fn callbacks_keep_their_order_when_an_earlier_waiter_deregisters() {
        let f: Future<u8> = Future::new();
        let order = Arc::new(StdMutex::new(Vec::new()));
        let waiter: Arc<dyn Notify> = Arc::new(Signal::new());
        assert!(f.core().register(Entry::Wake(waiter.clone(), 7)).is_ok());
        for i in 0..3 {
            let order = order.clone();
            f.add_done_callback(move |_| order.lock().unwrap().push(i));
        }
        f.core().deregister(&waiter, 7);
        let order2 = order.clone();
        f.add_done_callback(move |_| order2.lock().unwrap().push(3));
        f.set_result(1).unwrap();
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3]);
    }

    /// Deregistering the last waiter empties the list and clears the flag, so completion takes
    /// the lock-free path, and a later registration starts a fresh list.
    #[test]
    fn deregistering_every_waiter_clears_the_list() {
        let f: Future<u8> = Future::new();
        let waiter: Arc<dyn Notify> = Arc::new(Signal::new());
        assert!(f.core().register(Entry::Collect(waiter.clone(), 1)).is_ok());
        f.core().deregister(&waiter, 1);
        assert!(f.core().waiters.lock().is_none());
        assert_eq!(f.core().state.load(Ordering::Relaxed) & WAITERS, 0);
        let hit = Arc::new(StdMutex::new(false));
        let h = hit.clone();
        f.add_done_callback(move |_| *h.lock().unwrap() = true);
        f.set_result(2).unwrap();
        assert!(*hit.lock().unwrap());
    }
}
