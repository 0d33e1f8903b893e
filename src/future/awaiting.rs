//! `.await` on a [`Future`]: a waker registered in the future's own waiter list.
//!
//! There is no second state machine. An awaiting task registers one [`WakerSlot`] entry in the
//! same list `result()`, `wait` and callbacks use, and the completer wakes it from there like any
//! other waiter:
//!
//! - First poll: if the future already ended, the outcome is returned without allocating.
//!   Otherwise a slot holding a clone of the task's waker is registered (`Entry::Take` for an
//!   owned handle, `Entry::Wake` for a borrowed one); registration fails if the future ended in
//!   between, and the poll then re-checks (the list lock orders registration against the drain,
//!   so no wake-up is lost).
//! - Later polls store the current waker in the slot first (replacing it unless it
//!   `will_wake` the same task), then re-check the state. The completer publishes the end before
//!   it takes the waker out of the slot under the slot's lock, so either it sees the new waker or
//!   the re-check sees the end.
//! - Dropping the awaiting future removes its entry (unless the completer already took it), so a
//!   cancelled `select!` branch leaves nothing behind; a wake that races the drop reaches a waker
//!   whose task is gone, which every executor treats as a no-op.
//! - An owned `Take` waiter is only woken after the completer's callbacks have run (see
//!   `core.rs`), so the value can always be moved out when it is woken: no spinning.

use super::core::{Entry, Outcome, TakeRefused};
use super::waiter::{Ended, Notify};
use super::Future;
use crate::error::FutureError;
use crate::sync::Mutex;
use std::fmt;
use std::future::IntoFuture;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The waker of one awaiting task, registered in a future's waiter list.
struct WakerSlot {
    /// The waker to wake, and whether the completer has been here (then the entry is gone).
    inner: Mutex<(Option<Waker>, bool)>,
}

impl WakerSlot {
    fn new(waker: &Waker) -> Self {
        Self {
            inner: Mutex::new((Some(waker.clone()), false)),
        }
    }

    /// Stores `waker` unless the stored one already wakes the same task.
    fn set(&self, waker: &Waker) {
        let mut inner = self.inner.lock();
        match &inner.0 {
            Some(old) if old.will_wake(waker) => {}
            _ => inner.0 = Some(waker.clone()),
        }
    }

    fn notified(&self) -> bool {
        self.inner.lock().1
    }
}

impl Notify for WakerSlot {
    fn notify(&self, _token: usize, _ended: Ended) {
        let waker = {
            let mut inner = self.inner.lock();
            inner.1 = true;
            inner.0.take()
        };
        // Outside the lock: a waker may run arbitrary executor code.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// One awaiting task's registration on one future.
#[derive(Default)]
struct Registration {
    slot: Option<Arc<WakerSlot>>,
}

impl Registration {
    fn is_registered(&self) -> bool {
        self.slot.is_some()
    }

    /// Stores the current waker in the registered slot, if any.
    fn refresh(&self, cx: &Context<'_>) {
        if let Some(slot) = &self.slot {
            slot.set(cx.waker());
        }
    }

    /// Registers the task's waker. `Pending`: registered, a wake will come. `Ready(Ok)`: the
    /// future ended meanwhile (or was run inline here), re-check. `Ready(Err)`: waiting here
    /// would never end.
    fn register<T>(
        &mut self,
        future: &Future<T>,
        take: bool,
        cx: &Context<'_>,
    ) -> Poll<Result<(), FutureError>> {
        if !future.done() {
            // The same rules as a `result(None)` on this thread: a task cannot await itself, and
            // a worker awaiting (say, in `block_on`) a queued future of its own pool runs it.
            if future.cell.is_current_task() {
                return Poll::Ready(Err(FutureError::Deadlock));
            }
            if future.help() {
                return Poll::Ready(Ok(()));
            }
        }
        let slot = Arc::new(WakerSlot::new(cx.waker()));
        let notify: Arc<dyn Notify> = slot.clone();
        let entry = if take {
            Entry::Take(notify, 0)
        } else {
            Entry::Wake(notify, 0)
        };
        match future.core().register(entry) {
            Ok(()) => {
                self.slot = Some(slot);
                Poll::Pending
            }
            Err(_) => Poll::Ready(Ok(())),
        }
    }

    /// Removes the entry if the completer has not taken it yet.
    fn deregister<T>(&mut self, future: &Future<T>) {
        if let Some(slot) = self.slot.take() {
            if !slot.notified() {
                let notify: Arc<dyn Notify> = slot;
                future.core().deregister(&notify, 0);
            }
        }
    }
}

/// What `future.await` runs: waits for the future without blocking a thread, then moves its
/// value out. Made by [`IntoFuture`] for [`Future<T>`]; you rarely name it.
///
/// The output is what [`into_result`](Future::into_result) returns:
///
/// - `Ok(value)`, moved out, if the task finished and this is the last handle;
/// - `Err(`[`FutureError::Shared`]`)` if other handles still exist (they keep the value;
///   await a reference instead, `(&future).await`, to borrow it);
/// - `Err(`[`FutureError::Cancelled`]`)`, `Err(`[`FutureError::Panicked`]`)`, and so on, as
///   [`result`](Future::result) reports them. `.await`, `result()` and callbacks on the same
///   future always see the same outcome.
///
/// Polling registers the task's waker in the future's waiter list, only if the future has not
/// ended yet (a small slot for the waker, plus the list itself if the future has none); the
/// thread that completes the future wakes the task after the future's done-callbacks ran. Dropping it before completion deregisters the waker. It is
/// not cancellation: the task runs on (use [`Future::cancel`] for that).
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
/// let pool = ThreadPoolExecutor::new(2).unwrap();
/// let f = pool.spawn(|| 6 * 7).unwrap();
/// let answer = futures::executor::block_on(async { f.await });
/// assert_eq!(answer, Ok(42));
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Await<T> {
    /// `None` once the outcome was returned.
    future: Option<Future<T>>,
    registration: Registration,
}

impl<T> IntoFuture for Future<T> {
    type Output = Result<T, FutureError>;
    type IntoFuture = Await<T>;

    /// `future.await`: see [`Await`].
    fn into_future(self) -> Await<T> {
        Await {
            future: Some(self),
            registration: Registration::default(),
        }
    }
}

impl<T> std::future::Future for Await<T> {
    type Output = Result<T, FutureError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(future) = this.future.as_ref() else {
            panic!("`Await` polled after it returned");
        };
        this.registration.refresh(cx);
        loop {
            if future.done() {
                // SAFETY: `this.future` is a counted handle; on success it is dropped below
                // without being read through again.
                match unsafe { future.core().try_take() } {
                    Ok(outcome) => {
                        // The completer took our entry (or we never registered).
                        this.registration.slot = None;
                        this.future = None;
                        return Poll::Ready(match outcome {
                            Outcome::Value(v) => Ok(v),
                            Outcome::Failed(e) => Err(*e),
                        });
                    }
                    Err(TakeRefused::Shared) => return Poll::Ready(Err(FutureError::Shared)),
                    Err(TakeRefused::NotFinished) => {
                        return Poll::Ready(Err(FutureError::Cancelled))
                    }
                    // Callbacks still running on the completer: a registered `Take` entry is
                    // woken after them; an unregistered one registers late below.
                    Err(TakeRefused::Notifying) if this.registration.is_registered() => {
                        return Poll::Pending
                    }
                    Err(TakeRefused::Notifying) => {}
                }
            } else if this.registration.is_registered() {
                return Poll::Pending;
            }
            match this.registration.register(future, true, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
        }
    }
}

impl<T> Drop for Await<T> {
    fn drop(&mut self) {
        if let Some(future) = &self.future {
            self.registration.deregister(future);
        }
    }
}

impl<T> fmt::Debug for Await<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Await")
            .field("future", &self.future)
            .field("registered", &self.registration.is_registered())
            .finish()
    }
}

/// What `(&future).await` runs: waits without blocking a thread and borrows the value, like
/// [`Future::result`] with no timeout. Made by [`IntoFuture`] for `&Future<T>`.
///
/// Use it when other handles to the future exist (the value stays shared), or to await the
/// same future from several tasks; the output borrows from the handle. Like `result`, it lends
/// the value to whichever thread awaits, so it needs `T: Sync`; for a value that is only `Send`,
/// await the owned future.
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
/// let pool = ThreadPoolExecutor::new(2).unwrap();
/// let f = pool.spawn(|| String::from("shared")).unwrap();
/// let copy = f.clone();
/// futures::executor::block_on(async {
///     assert_eq!((&f).await.map(String::as_str), Ok("shared"));
///     assert_eq!((&copy).await.map(String::len), Ok(6));
/// });
/// ```
///
/// A value that is only `Send` cannot be borrowed this way:
///
/// ```compile_fail,E0277
/// use concurrent_futures::ThreadPoolExecutor;
/// use std::cell::Cell;
/// let pool = ThreadPoolExecutor::new(1).unwrap();
/// let f = pool.spawn(|| Cell::new(1u32)).unwrap();
/// futures::executor::block_on(async { (&f).await.map(Cell::get) });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct AwaitRef<'a, T> {
    future: &'a Future<T>,
    registration: Registration,
}

impl<'a, T: Sync> IntoFuture for &'a Future<T> {
    type Output = Result<&'a T, FutureError>;
    type IntoFuture = AwaitRef<'a, T>;

    /// `(&future).await`: see [`AwaitRef`].
    fn into_future(self) -> AwaitRef<'a, T> {
        AwaitRef {
            future: self,
            registration: Registration::default(),
        }
    }
}

impl<'a, T: Sync> std::future::Future for AwaitRef<'a, T> {
    type Output = Result<&'a T, FutureError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let future = this.future;
        this.registration.refresh(cx);
        loop {
            if future.done() {
                // Ended: `result` returns at once.
                return Poll::Ready(future.result(None));
            }
            if this.registration.is_registered() {
                return Poll::Pending;
            }
            match this.registration.register(future, false, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
        }
    }
}

impl<T> Drop for AwaitRef<'_, T> {
    fn drop(&mut self) {
        self.registration.deregister(self.future);
    }
}

impl<T> fmt::Debug for AwaitRef<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwaitRef")
            .field("future", self.future)
            .field("registered", &self.registration.is_registered())
            .finish()
    }
}
