//! `Future<T>`: the handle to one task's eventual result, Python's `concurrent.futures.Future`.

mod awaiting;
mod core;
pub(crate) mod waiter;

pub use self::awaiting::{Await, AwaitRef};
pub(crate) use self::core::{Claim, Core, Entry, Kind, Outcome, CANCELLED, PENDING};
use self::core::{TakeRefused, COMPLETING, FINISHED, NOTIFIED, RUNNING, SETTING};
use self::waiter::deadline_after;
use crate::cancel::CancelTarget;
use crate::error::{FutureError, InvalidStateError};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

/// What sits behind a handle: a bare core (a promise made with [`Future::new`]) or an executor's
/// task, which can also run itself inline when a worker of its own pool waits on it.
pub(crate) trait FutureCell<T>: Send + Sync {
    fn core(&self) -> &Core<T>;

    /// Runs the task on this thread if it is still pending and this thread is a worker of the
    /// executor that owns it. Returns whether the future has ended.
    fn run_inline(self: Arc<Self>) -> bool {
        false
    }

    /// Whether this future's task is the one running on the calling thread.
    fn is_current_task(&self) -> bool {
        false
    }

    /// Whether only the executor may end this future (a scoped task): the promise-side methods
    /// (`set_result`, `set_exception`, `set_running_or_notify_cancel`) are then refused.
    fn pool_owned(&self) -> bool {
        false
    }
}

impl<T: Send> FutureCell<T> for Core<T> {
    fn core(&self) -> &Core<T> {
        self
    }
}

/// The state of a future, as [`Future::state`] reports it.
///
/// ```
/// use concurrent_futures::{Future, FutureState};
/// let f: Future<u8> = Future::new();
/// assert_eq!(f.state(), FutureState::Pending);
/// f.set_result(1).unwrap();
/// assert_eq!(f.state(), FutureState::Finished);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FutureState {
    /// Not started yet; can still be cancelled.
    Pending,
    /// A worker is running it; it can no longer be cancelled.
    Running,
    /// Cancelled before it ran, or ended as cancelled by its task (which returned
    /// [`Cancelled`](crate::Cancelled)).
    Cancelled,
    /// Finished with a value or a failure.
    Finished,
}

/// A handle to the eventual result of a task.
///
/// Handles are cheap to clone; every clone refers to the same future, compares equal to it and
/// hashes the same (identity, as in Python), so `HashMap<Future<T>, _>` works as the book's
/// `to_do_map[future] = cc`. Dropping handles never cancels the task.
///
/// The executors make futures; [`Future::new`] makes a standalone one that you complete yourself
/// with [`set_result`](Future::set_result) (the "promise" side Python's tests use), for example
/// to bridge another source of results into [`wait`](crate::wait) and
/// [`as_completed`](crate::as_completed).
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
/// let ex = ThreadPoolExecutor::new(2).unwrap();
/// let f = ex.submit(|n: u64| n * 2, 21).unwrap();
/// assert_eq!(f.result(None), Ok(&42));
/// assert!(f.done());
/// println!("{f}"); // <Future at 0x55d0c3a0e2c0 state=finished returned u64>
/// ```
///
/// # Results need only `Send`
///
/// A task's value crosses threads once: the worker moves it in, the last handle moves it out. So
/// a `Future<T>` exists for any `T: Send` (like `std::thread::JoinHandle`), and it is always
/// `Send`, `Sync` and `Clone`. What lends `&T` to whichever thread holds a handle needs
/// `T: Sync` as well: [`result`](Future::result) and `(&future).await`. What moves the value out
/// or never touches it needs only `Send`: [`into_result`](Future::into_result), `future.await`,
/// [`exception`](Future::exception), the `map` iterators, callbacks, [`wait`](crate::wait) and
/// [`as_completed`](crate::as_completed). A task may return a `Box<dyn Error + Send>`, an
/// `mpsc::Receiver` or a `Cell`:
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
/// use std::cell::Cell;
/// let pool = ThreadPoolExecutor::new(2).unwrap();
/// let f = pool.spawn(|| Cell::new(41u32)).unwrap();
/// let cell = f.into_result().unwrap(); // moved out: no `Sync` needed
/// cell.set(cell.get() + 1);
/// assert_eq!(cell.get(), 42);
/// ```
///
/// # Awaiting from async code (beyond Python)
///
/// A `Future<T>` is [`IntoFuture`](std::future::IntoFuture), so async code in any runtime
/// (tokio, smol, `futures::executor`) can `.await` it instead of blocking a thread: the
/// awaiting task registers its waker in the same waiter list `result()` uses, and the thread
/// that completes the future wakes it. Python needs `asyncio.wrap_future` and a loop thread for
/// this; here it is one line.
///
/// - `future.await` gives `Result<T, FutureError>`, moving the value out like
///   [`into_result`](Future::into_result) ([`FutureError::Shared`] if other handles exist);
/// - `(&future).await` gives `Result<&T, FutureError>`, like [`result(None)`](Future::result).
///
/// Both see the same outcome as `result()` and the callbacks. Dropping the awaiting task
/// deregisters its waker and does not cancel the work (call [`cancel`](Future::cancel)); for a
/// timeout, wrap it in your runtime's (`tokio::time::timeout(d, &future)`). See [`Await`] and
/// [`AwaitRef`].
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
/// let pool = ThreadPoolExecutor::new(2).unwrap();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let total = rt.block_on(async {
///     let a = pool.spawn(|| (1..=10u64).sum::<u64>()).unwrap(); // blocking work, off the runtime
///     let b = pool.spawn(|| (11..=20u64).sum::<u64>()).unwrap();
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(total, 210);
/// ```
pub struct Future<T> {
    cell: Arc<dyn FutureCell<T>>,
}

impl<T: Send + 'static> Future<T> {
    /// A new pending future that belongs to no executor.
    ///
    /// ```
    /// use concurrent_futures::Future;
    /// let f = Future::new();
    /// assert!(!f.done());
    /// f.set_result("ok").unwrap();
    /// assert_eq!(f.result(None), Ok(&"ok"));
    /// ```
    pub fn new() -> Self {
        Self::from_cell(Arc::new(Core::new()))
    }
}

impl<T: Send + 'static> Default for Future<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Future<T> {
    pub(crate) fn from_cell(cell: Arc<dyn FutureCell<T>>) -> Self {
        cell.core().handle_added();
        Self { cell }
    }

    pub(crate) fn core(&self) -> &Core<T> {
        self.cell.core()
    }

    /// Identity: the address of the shared state.
    pub(crate) fn addr(&self) -> usize {
        Arc::as_ptr(&self.cell) as *const () as usize
    }

    /// The current state, without waiting.
    ///
    /// ```
    /// use concurrent_futures::{Future, FutureState};
    /// let f: Future<()> = Future::new();
    /// f.cancel();
    /// assert_eq!(f.state(), FutureState::Cancelled);
    /// ```
    pub fn state(&self) -> FutureState {
        match self.core().state() {
            PENDING | SETTING => FutureState::Pending,
            RUNNING | COMPLETING => FutureState::Running,
            CANCELLED | NOTIFIED => FutureState::Cancelled,
            _ => FutureState::Finished,
        }
    }

    /// True if the future was cancelled or finished (Python's `done()`).
    ///
    /// ```
    /// use concurrent_futures::Future;
    /// let f = Future::new();
    /// assert!(!f.done());
    /// f.set_result(5).unwrap();
    /// assert!(f.done());
    /// ```
    pub fn done(&self) -> bool {
        matches!(self.core().state(), FINISHED | CANCELLED | NOTIFIED)
    }

    /// True while a worker runs the task (Python's `running()`).
    ///
    /// ```
    /// use concurrent_futures::Future;
    /// let f: Future<()> = Future::new();
    /// assert!(!f.running());
    /// f.set_running_or_notify_cancel().unwrap();
    /// assert!(f.running());
    /// ```
    pub fn running(&self) -> bool {
        matches!(self.core().state(), RUNNING | COMPLETING)
    }

    /// True if the future was cancelled (Python's `cancelled()`): before it ran, or by its task
    /// returning [`Cancelled`](crate::Cancelled) after its token was cancelled.
    ///
    /// ```
    /// use concurrent_futures::Future;
    /// let f: Future<()> = Future::new();
    /// assert!(f.cancel());
    /// assert!(f.cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        matches!(self.core().state(), CANCELLED | NOTIFIED)
    }

    /// Cancels the future if it has not started; returns whether it is cancelled.
    ///
    /// A pending future becomes cancelled at once: its done-callbacks run on this thread and
    /// `result()` waiters wake with [`FutureError::Cancelled`]. A running or finished future
    /// cannot be cancelled (Rust cannot interrupt a thread) and this returns false; to stop a
    /// running task, submit it with a [`CancelToken`](crate::CancelToken). Cancelling twice
    /// returns true both times and runs the callbacks once, and a task that ended as cancelled
    /// (it returned [`Cancelled`](crate::Cancelled)) reports true too.
    ///
    /// ```
    /// use concurrent_futures::Future;
    /// let f: Future<()> = Future::new();
    /// assert!(f.cancel());
    /// assert!(f.cancel());
    /// let g = Future::new();
    /// g.set_result(1).unwrap();
    /// assert!(!g.cancel());
    /// ```
    pub fn cancel(&self) -> bool {
        self.core().cancel(self)
    }

    /// If this future is queued on the pool whose worker is calling, runs it here, or
    /// acknowledges its cancellation, so a worker waiting on its own pool's queue cannot
    /// deadlock. Returns whether it ended.
    pub(crate) fn help(&self) -> bool {
        matches!(self.core().state(), PENDING | CANCELLED) && Arc::clone(&self.cell).run_inline()
    }

    /// Blocks until the future ends for `result()` purposes; returns the state seen.
    fn wait_ended(&self, timeout: Option<Duration>) -> Result<u32, FutureError> {
        let core = self.core();
        let state = core.state();
        if matches!(state, FINISHED | CANCELLED | NOTIFIED) {
            return Ok(state);
        }
        if timeout.is_none() {
            if self.cell.is_current_task() {
                return Err(FutureError::Deadlock);
            }
            if self.help() {
                return Ok(core.state());
            }
        }
        Ok(core.wait(Kind::Wake, deadline_after(timeout)))
    }

    /// Waits for the task and returns a reference to its value (Python's `result(timeout)`).
    ///
    /// Blocks until the future finishes or is cancelled, at most `timeout` (`None` waits
    /// forever; a timeout too large for the clock also waits forever). Callable any number of
    /// times, from any clone and any thread; every call sees the same outcome. The task's
    /// completion happens-before this returns.
    ///
    /// Waiting without a timeout from inside a worker of the same thread pool runs the awaited
    /// task right here if no worker has started it yet, so a saturated pool cannot deadlock on
    /// its own queue; a task that waits on its own future gets [`FutureError::Deadlock`].
    ///
    /// In async code this call stalls the runtime's thread, and every task scheduled on it,
    /// until the future ends: write `(&future).await` instead (see [`AwaitRef`]), or
    /// `future.await` to move the value out; `result(Some(Duration::ZERO))` never waits.
    ///
    /// # Errors
    ///
    /// - [`FutureError::Timeout`] if `timeout` passed first; the future is untouched.
    /// - [`FutureError::Cancelled`] if the future was cancelled.
    /// - [`FutureError::Panicked`] (message and location) if the task panicked.
    /// - [`FutureError::BrokenExecutor`] if the executor broke before running it.
    /// - [`FutureError::Deadlock`] if the calling task is the one that would complete it.
    /// - A process or MPI pool's own failures: [`FutureError::WorkerDied`],
    ///   [`FutureError::TaskTimedOut`], [`FutureError::Serialization`],
    ///   [`FutureError::Protocol`]; or whatever [`set_exception`](Future::set_exception) set.
    ///
    /// ```
    /// use concurrent_futures::{Future, FutureError};
    /// use std::time::Duration;
    /// let f = Future::new();
    /// assert_eq!(f.result(Some(Duration::ZERO)), Err(FutureError::Timeout));
    /// f.set_result(42).unwrap();
    /// assert_eq!(f.result(Some(Duration::ZERO)), Ok(&42));
    /// ```
    ///
    /// Every clone of a future may sit on another thread and call `result` at the same time,
    /// so the value it lends must be `Sync`. For a value that is only `Send`, move it out with
    /// [`into_result`](Future::into_result) or `future.await` instead:
    ///
    /// ```compile_fail,E0277
    /// use concurrent_futures::ThreadPoolExecutor;
    /// use std::cell::Cell;
    /// let pool = ThreadPoolExecutor::new(2).unwrap();
    /// let f = pool.spawn(|| Cell::new(1u32)).unwrap();
    /// let g = f.clone();
    /// let other = std::thread::spawn(move || g.result(None).map(|c| c.set(2)).is_ok());
    /// f.result(None).unwrap().set(3); // two threads would write one `Cell` unsynchronized
    /// other.join().unwrap();
    /// ```
    pub fn result(&self, timeout: Option<Duration>) -> Result<&T, FutureError>
    where
        T: Sync,
    {
        self.wait_finished(timeout)?;
        match self.core().outcome() {
            Some(Outcome::Value(v)) => Ok(v),
            Some(Outcome::Failed(e)) => Err((**e).clone()),
            None => unreachable!("a finished future holds its outcome"),
        }
    }

    /// Waits like [`result`](Future::result) until the future ends, without lending the value:
    /// `Ok` once it finished (with a value or a failure).
    pub(crate) fn wait_finished(&self, timeout: Option<Duration>) -> Result<(), FutureError> {
        match self.wait_ended(timeout)? {
            FINISHED => Ok(()),
            CANCELLED | NOTIFIED => Err(FutureError::Cancelled),
            _ => Err(FutureError::Timeout),
        }
    }

    /// Waits for the task and returns its failure, if any (Python's `exception(timeout)`).
    ///
    /// Blocks like [`result`](Future::result) until the future finishes or is cancelled, at
    /// most `timeout` (`None` waits forever), and runs a queued task of the calling worker's
    /// own pool inline in the same way. Returns `Ok(None)` if the task produced a value and
    /// `Ok(Some(err))` if it panicked or its executor broke. It never lends the value, so it
    /// needs no `T: Sync`.
    ///
    /// In async code this call stalls the runtime's thread until the future ends: await the
    /// future instead, whose `Err` is the same failure (`(&future).await`, or `future.await`
    /// for a value that is only `Send`).
    ///
    /// # Errors
    ///
    /// [`FutureError::Timeout`] if `timeout` passed first, [`FutureError::Cancelled`] if the
    /// future was cancelled, and [`FutureError::Deadlock`] if the calling task is the one that
    /// would complete it, as for `result`.
    ///
    /// ```
    /// use concurrent_futures::{Future, FutureError};
    /// let f: Future<()> = Future::new();
    /// f.set_exception(FutureError::Panicked { message: "boom".into(), location: None }).unwrap();
    /// assert_eq!(f.exception(None).unwrap().unwrap().panic_message(), Some("boom"));
    /// ```
    pub fn exception(&self, timeout: Option<Duration>) -> Result<Option<FutureError>, FutureError> {
        self.wait_finished(timeout)?;
        Ok(self.core().failure().cloned())
    }

    /// Waits for the task and moves its value out, without `T: Clone`.
    ///
    /// Blocks until the future ends, with no timeout (call [`exception`](Future::exception)
    /// with a timeout first if you need one), and then until the done-callbacks that the
    /// completing thread is running return, since they may still read the value. The value
    /// moves out only if this is the last handle to the future; otherwise the other handles
    /// keep it and this returns [`FutureError::Shared`]. Needs only `T: Send`.
    ///
    /// In async code this call stalls the runtime's thread until the future ends:
    /// `future.await` is the same without blocking (see [`Await`]).
    ///
    /// # Errors
    ///
    /// [`FutureError::Shared`] as above (a failure is reported first, to every handle);
    /// otherwise the errors of [`result`](Future::result) with no timeout: the task's failure,
    /// [`FutureError::Cancelled`] or [`FutureError::Deadlock`].
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// let ex = ThreadPoolExecutor::new(1).unwrap();
    /// let f = ex.submit(|n: usize| vec![0u8; n], 3).unwrap();
    /// let v: Vec<u8> = f.into_result().unwrap();
    /// assert_eq!(v.len(), 3);
    /// ```
    pub fn into_result(self) -> Result<T, FutureError> {
        if let Some(failure) = self.exception(None)? {
            return Err(failure);
        }
        let mut backoff = 0u32;
        loop {
            // SAFETY: `self` is a counted handle, consumed here; nothing is read through it after.
            match unsafe { self.core().try_take() } {
                Ok(Outcome::Value(v)) => return Ok(v),
                Ok(Outcome::Failed(e)) => return Err(*e),
                Err(TakeRefused::Shared) => return Err(FutureError::Shared),
                Err(TakeRefused::NotFinished) => {
                    unreachable!("a finished future holds its outcome")
                }
                // The completing thread is still running done-callbacks that may read the
                // value; they are short by contract, so wait them out politely.
                Err(TakeRefused::Notifying) => {
                    backoff += 1;
                    if backoff < 64 {
                        std::thread::yield_now();
                    } else {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                }
            }
        }
    }

    /// Adds a callback run once when the future ends (Python's `add_done_callback`).
    ///
    /// The callback gets the future. It runs on the thread that ends the future (the worker, or
    /// the thread that cancels), after the outcome is visible, in the order callbacks were
    /// added; if the future already ended, it runs right now on this thread. A panicking
    /// callback is caught and logged (target `concurrent_futures`), and later callbacks still
    /// run. Keep callbacks short: they delay the thread that runs them.
    ///
    /// ```
    /// use concurrent_futures::Future;
    /// use std::sync::mpsc;
    /// let (tx, rx) = mpsc::channel();
    /// let f = Future::new();
    /// f.add_done_callback(move |f| tx.send(*f.result(None).unwrap()).unwrap());
    /// f.set_result(5).unwrap();
    /// assert_eq!(rx.recv().unwrap(), 5);
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&Future<T>) + Send + 'static) {
        if let Err(Entry::Callback(cb)) = self.core().register(Entry::Callback(Box::new(callback)))
        {
            run_callback(cb, self);
        }
    }

    /// Marks the future running, or acknowledges its cancellation (Python's
    /// `set_running_or_notify_cancel`, for code that runs futures itself).
    ///
    /// Returns `Ok(true)` if it was pending (now running: run the work, then call
    /// [`set_result`](Future::set_result)), and `Ok(false)` if it was cancelled (do not run the
    /// work; `wait` and `as_completed` now count it as done).
    ///
    /// # Errors
    ///
    /// [`InvalidStateError`] if the future is running, finished or already acknowledged, or
    /// belongs to a [scoped task](crate::Scope) (its pool claims it).
    ///
    /// ```
    /// use concurrent_futures::Future;
    /// let f: Future<()> = Future::new();
    /// f.cancel();
    /// assert_eq!(f.set_running_or_notify_cancel(), Ok(false));
    /// assert!(f.set_running_or_notify_cancel().is_err());
    /// ```
    pub fn set_running_or_notify_cancel(&self) -> Result<bool, InvalidStateError> {
        if self.cell.pool_owned() {
            return Err(self.invalid_state());
        }
        match self.core().claim(|| self.clone()) {
            Claim::Run => Ok(true),
            Claim::Cancelled => Ok(false),
            Claim::Taken(_) => Err(self.invalid_state()),
        }
    }

    /// Completes the future with a value, waking waiters and running callbacks.
    ///
    /// # Errors
    ///
    /// [`InvalidStateError`] if the future already finished or was cancelled; the first outcome
    /// stays. Also for the future of a [scoped task](crate::Scope), whose outcome only its pool
    /// may set.
    ///
    /// ```
    /// use concurrent_futures::Future;
    /// let f = Future::new();
    /// f.set_result(1).unwrap();
    /// assert!(f.set_result(2).is_err());
    /// assert_eq!(f.result(None), Ok(&1));
    /// ```
    pub fn set_result(&self, value: T) -> Result<(), InvalidStateError> {
        self.set_outcome(Outcome::Value(value))
    }

    /// Completes the future with a failure (Python's `set_exception`).
    ///
    /// # Errors
    ///
    /// [`InvalidStateError`] if the future already finished or was cancelled, or belongs to a
    /// [scoped task](crate::Scope).
    ///
    /// ```
    /// use concurrent_futures::{BrokenExecutor, Future, FutureError};
    /// let f: Future<()> = Future::new();
    /// f.set_exception(BrokenExecutor::new("gone").into()).unwrap();
    /// assert!(matches!(f.result(None), Err(FutureError::BrokenExecutor(_))));
    /// ```
    pub fn set_exception(&self, error: FutureError) -> Result<(), InvalidStateError> {
        self.set_outcome(Outcome::Failed(Box::new(error)))
    }

    pub(crate) fn set_outcome(&self, outcome: Outcome<T>) -> Result<(), InvalidStateError> {
        if self.cell.pool_owned() {
            return Err(self.invalid_state());
        }
        self.core()
            .complete(outcome, || self.clone())
            .map_err(|_| self.invalid_state())
    }

    fn invalid_state(&self) -> InvalidStateError {
        let state = match self.core().state() {
            PENDING | SETTING => "PENDING",
            RUNNING | COMPLETING => "RUNNING",
            CANCELLED => "CANCELLED",
            NOTIFIED => "CANCELLED_AND_NOTIFIED",
            _ => "FINISHED",
        };
        InvalidStateError::new(format!("{state}: {self}"))
    }
}

/// The completing side of a future whose task lives outside this process (the process pool's
/// manager holds one per task). Not a counted handle: the caller's last [`Future`] can take the
/// value with `into_result` or `.await` as soon as it is set, as with the thread pool, whose
/// tasks hold the core itself.
#[cfg(all(unix, feature = "process-pool"))]
pub(crate) struct Promise<T> {
    cell: Arc<dyn FutureCell<T>>,
}

#[cfg(all(unix, feature = "process-pool"))]
impl<T: Send + 'static> Promise<T> {
    /// A pending future and its promise, and the future as a token's cancel target: a cancel
    /// while it is pending cancels and acknowledges it, so the transport drops it unsent.
    pub(crate) fn with_target() -> (Self, Future<T>, std::sync::Weak<dyn CancelTarget>) {
        let core = Arc::new(Core::new());
        let target = Arc::downgrade(&core) as std::sync::Weak<dyn CancelTarget>;
        let cell: Arc<dyn FutureCell<T>> = core;
        let future = Future::from_cell(Arc::clone(&cell));
        (Promise { cell }, future, target)
    }

    /// Ends the running future as cancelled: the task returned `Cancelled` (a remote one, or
    /// one a `CallerRuns` policy ran here). Marks it running first if it is still pending.
    pub(crate) fn finish_cancelled(self) {
        let _ = self.start();
        let _ = self.cell.core().finish_cancelled(|| self.handle());
    }

    fn handle(&self) -> Future<T> {
        Future::from_cell(Arc::clone(&self.cell))
    }

    /// `set_running_or_notify_cancel`: true if the task may run, false if it was cancelled.
    pub(crate) fn start(&self) -> bool {
        matches!(self.cell.core().claim(|| self.handle()), Claim::Run)
    }

    /// Ends the future, unless it already ended (a cancellation stands).
    pub(crate) fn set(self, outcome: Result<T, FutureError>) {
        let outcome = match outcome {
            Ok(v) => Outcome::Value(v),
            Err(e) => Outcome::Failed(Box::new(e)),
        };
        let _ = self.cell.core().complete(outcome, || self.handle());
    }

    /// Cancels the future if it has not started, and acknowledges the cancellation.
    pub(crate) fn cancel(self) {
        self.cancel_pending();
    }

    /// `cancel` without consuming the promise (a dispatch that finds its token cancelled).
    pub(crate) fn cancel_pending(&self) {
        self.handle().cancel();
        let _ = self.start();
    }
}

/// A token cancels a bare future (a remote call's, through its promise) while it is pending,
/// and acknowledges the cancel at once, as `shutdown(cancel_futures)` does: `wait` and
/// `as_completed` see it done without waiting for the transport to reach it in its queue, and
/// the transport's claim then fails, so it drops the call unsent.
impl<T: Send + 'static> CancelTarget for Core<T> {
    fn on_cancel(self: Arc<Self>) {
        let future = Future::from_cell(self as Arc<dyn FutureCell<T>>);
        if future.cancel() {
            let _ = future.core().claim(|| future.clone());
        }
    }

    fn is_live(&self) -> bool {
        self.state() == PENDING
    }
}

/// Runs one done-callback, catching and logging a panic.
pub(crate) fn run_callback<T>(cb: self::core::Callback<T>, fut: &Future<T>) {
    if let Err(err) = crate::panic::catch(|| cb(fut)) {
        log::error!(target: "concurrent_futures", "exception calling callback for {fut}: {err}");
    }
}

/// Lets [`wait`](crate::wait) and [`as_completed`](crate::as_completed) take futures by value
/// (no clone) or by reference (a clone).
///
/// ```
/// use concurrent_futures::Future;
/// let f: Future<u8> = Future::new();
/// let g: Future<u8> = Future::from(&f);
/// assert_eq!(f, g);
/// ```
impl<T> From<&Future<T>> for Future<T> {
    fn from(future: &Future<T>) -> Self {
        future.clone()
    }
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Self::from_cell(Arc::clone(&self.cell))
    }
}

impl<T> Drop for Future<T> {
    fn drop(&mut self) {
        self.core().handle_dropped();
    }
}

impl<T> PartialEq for Future<T> {
    fn eq(&self, other: &Self) -> bool {
        self.addr() == other.addr()
    }
}

impl<T> Eq for Future<T> {}

impl<T> Hash for Future<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.addr().hash(state);
    }
}

/// Python's repr: `<Future at 0x7f.. state=finished returned i32>`.
impl<T> fmt::Display for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Future at {:#x} state=", self.addr())?;
        match self.core().state() {
            PENDING | SETTING => write!(f, "pending>"),
            RUNNING | COMPLETING => write!(f, "running>"),
            CANCELLED | NOTIFIED => write!(f, "cancelled>"),
            _ => match self.core().failure() {
                Some(e) => write!(f, "finished raised {}>", e.kind_name()),
                None => write!(
                    f,
                    "finished returned {}>",
                    short_type_name(std::any::type_name::<T>())
                ),
            },
        }
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `alloc::vec::Vec<alloc::string::String>` → `Vec<String>`.
pub(crate) fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut rest = full;
    while let Some(i) = rest.find("::") {
        out.push_str(&rest[..i]);
        let keep = out
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |p| p + 1);
        out.truncate(keep);
        rest = &rest[i + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn type_names_lose_their_paths() {
        assert_eq!(short_type_name("i32"), "i32");
        assert_eq!(
            short_type_name("alloc::vec::Vec<alloc::string::String>"),
            "Vec<String>"
        );
        assert_eq!(
            short_type_name("core::result::Result<u8, std::io::error::Error>"),
            "Result<u8, Error>"
        );
    }
}
