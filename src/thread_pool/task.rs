//! A submitted task: the future's core, the closure and the owning pool, in one allocation that
//! the queue (as a [`Job`]) and every handle (as a [`FutureCell`]) share.

use crate::cancel::{CancelTarget, CancelToken, Cancelled, CurrentToken};
use crate::error::{BrokenExecutor, FutureError};
use crate::future::{Claim, Core, Future, FutureCell, Outcome, CANCELLED, PENDING};
use crate::sync::UnsafeCell;
use std::cell::Cell;
use std::sync::Arc;

#[cfg(not(concurrent_futures_loom))]
std::thread_local! {
    /// The id of the pool whose worker this thread is (0: none).
    static CURRENT_POOL: Cell<usize> = const { Cell::new(0) };
    /// The address of the task running on this thread (0: none).
    static CURRENT_TASK: Cell<usize> = const { Cell::new(0) };
}

// loom runs its threads on one OS thread, so it needs its own thread-locals (and its macro takes
// no `const` initializer).
#[cfg(concurrent_futures_loom)]
loom::thread_local! {
    static CURRENT_POOL: Cell<usize> = Cell::new(0);
    static CURRENT_TASK: Cell<usize> = Cell::new(0);
}

pub(crate) fn set_current_pool(id: usize) {
    CURRENT_POOL.with(|c| c.set(id));
}

pub(crate) fn current_pool() -> usize {
    CURRENT_POOL.with(Cell::get)
}

/// What the queue holds: something a worker runs, or gives up on at shutdown or breakage.
pub(crate) trait Job: Send + Sync {
    /// Claims and runs the task, or acknowledges its cancellation. `before_publish` is called
    /// after the closure returned and before its outcome becomes visible, only if it ran.
    fn run(self: Arc<Self>, before_publish: &dyn Fn());
    /// Cancels the task if it has not started (shutdown with `cancel_futures`).
    fn cancel(self: Arc<Self>);
    /// Fails the task with `error` if it has not started (a broken pool).
    fn fail(self: Arc<Self>, error: &BrokenExecutor);
    /// Whether some thread has claimed the task (to run it or to acknowledge its cancel).
    fn is_claimed(&self) -> bool;
    /// Whether the job holds a slot of the pool's queue capacity while queued: a task does,
    /// a `map` batch's tokens do not (the batch is bounded by its own `buffersize`).
    fn holds_slot(&self) -> bool {
        false
    }
}

/// What a task runs: a plain closure, whose value always finishes the future, or a
/// [`WithToken`] body that may stop early with [`Cancelled`].
pub(crate) trait TaskBody<T>: Send + 'static {
    fn call(self) -> Result<T, Cancelled>;
}

impl<T, F: FnOnce() -> T + Send + 'static> TaskBody<T> for F {
    #[inline]
    fn call(self) -> Result<T, Cancelled> {
        Ok(self())
    }
}

/// `f(arg)`, kept as its parts so a refused `try_submit` can hand both back.
pub(crate) struct FnWithArg<F, A> {
    pub(crate) func: F,
    pub(crate) arg: A,
}

impl<T, A: Send + 'static, F: FnOnce(A) -> T + Send + 'static> TaskBody<T> for FnWithArg<F, A> {
    #[inline]
    fn call(self) -> Result<T, Cancelled> {
        Ok((self.func)(self.arg))
    }
}

/// A task submitted with a token: it runs with the token as the thread's current one, and may
/// end as cancelled by returning `Err(Cancelled)`.
pub(crate) struct WithToken<F> {
    pub(crate) func: F,
    pub(crate) token: CancelToken,
}

impl<T, F: FnOnce() -> Result<T, Cancelled> + Send + 'static> TaskBody<T> for WithToken<F> {
    fn call(self) -> Result<T, Cancelled> {
        // Claimed between the token's flag going up and its cancel reaching this task (the
        // flag is raised first, so running tasks hear it at once): it never starts.
        if self.token.is_cancelled() {
            return Err(Cancelled);
        }
        let _current = CurrentToken::enter(Some(self.token));
        (self.func)()
    }
}

/// What a task reports once the thread that claimed it is completely done with it: it ran the
/// closure and published the outcome (callbacks and waiters included), or it dropped the closure
/// of a cancelled or failed task. Exactly one thread wins each claim, so this runs at most once
/// per task, and exactly once for a task that is run, cancelled or failed.
pub(crate) trait TaskEnd: Send + Sync + 'static {
    /// The outcome is the pool's alone: `set_result`, `set_exception` and
    /// `set_running_or_notify_cancel` on the task's future are refused, so that no one but a
    /// claimant can end it (a scope counts on every task being claimed).
    const POOL_OWNED: bool;

    /// Called by the claimant as its last action on the task's closure and outcome.
    fn ended(&self);
}

/// Ordinary tasks report nothing.
impl TaskEnd for () {
    const POOL_OWNED: bool = false;

    fn ended(&self) {}
}

pub(crate) struct Task<F, T, E = ()> {
    core: Core<T>,
    /// Taken exactly once, by the thread that wins PENDING → RUNNING or CANCELLED → NOTIFIED.
    func: UnsafeCell<Option<F>>,
    pool: usize,
    end: E,
}

// SAFETY: `func` is the only field that is not Sync; it is touched only by the single thread that
// won the claim (see `take_func`), so sharing the task only requires `F: Send`. `Core<T>` is Sync
// for `T: Send` (see its impl), and `E: TaskEnd` is Sync by its bound.
unsafe impl<F: Send, T: Send, E: TaskEnd> Sync for Task<F, T, E> {}

impl<F, T> Task<F, T>
where
    F: TaskBody<T>,
    T: Send + 'static,
{
    pub(crate) fn new(func: F, pool: usize) -> Self {
        Task::with_end(func, pool, ())
    }
}

impl<F, T, E> Task<F, T, E>
where
    F: TaskBody<T>,
    T: Send + 'static,
    E: TaskEnd,
{
    pub(crate) fn with_end(func: F, pool: usize, end: E) -> Self {
        Self {
            core: Core::new(),
            func: UnsafeCell::new(Some(func)),
            pool,
            end,
        }
    }

    /// Moves the closure out.
    ///
    /// # Safety
    ///
    /// The caller won `Claim::Run` or `Claim::Cancelled` for this task: each happens at most
    /// once per task, and nothing else touches `func` until the task is dropped.
    unsafe fn take_func(&self) -> Option<F> {
        // SAFETY: exclusive by the caller's contract.
        self.func.with_mut(|f| unsafe { (*f).take() })
    }

    /// Takes the closure back from a task that was queued but must not run (no worker could
    /// be started for it): cancels and acknowledges it. `None` if some thread claimed it first.
    pub(crate) fn reclaim(self: &Arc<Self>) -> Option<F> {
        if !self.handle().cancel() {
            return None;
        }
        match self.core.claim(|| self.handle()) {
            Claim::Cancelled => {
                // SAFETY: we won CANCELLED → NOTIFIED.
                let func = unsafe { self.take_func() };
                self.end.ended();
                func
            }
            _ => None,
        }
    }

    fn handle(self: &Arc<Self>) -> Future<T> {
        Future::from_cell(Arc::clone(self) as Arc<dyn FutureCell<T>>)
    }

    fn addr(&self) -> usize {
        self as *const Self as *const () as usize
    }

    /// Runs the claimed closure and completes the future.
    fn execute(self: &Arc<Self>, before_publish: &dyn Fn()) {
        // SAFETY: called only right after winning `Claim::Run`.
        let Some(func) = (unsafe { self.take_func() }) else {
            unreachable!("a task's closure is taken once");
        };
        let previous = CURRENT_TASK.with(|c| c.replace(self.addr()));
        let outcome = match crate::panic::catch(|| func.call()) {
            Ok(Ok(v)) => Ok(Outcome::Value(v)),
            Ok(Err(Cancelled)) => Err(Cancelled),
            Err(e) => Ok(Outcome::Failed(Box::new(e))),
        };
        CURRENT_TASK.with(|c| c.set(previous));
        before_publish();
        // Both fail only if someone called `set_result`/`set_exception` on this executor's
        // future while it ran: as with two promises, the first outcome stays.
        match outcome {
            Ok(outcome) => {
                let _ = self.core.complete(outcome, || self.handle());
            }
            Err(Cancelled) => {
                let _ = self.core.finish_cancelled(|| self.handle());
            }
        }
        self.end.ended();
    }
}

impl<F, T, E> FutureCell<T> for Task<F, T, E>
where
    F: TaskBody<T>,
    T: Send + 'static,
    E: TaskEnd,
{
    fn core(&self) -> &Core<T> {
        &self.core
    }

    fn run_inline(self: Arc<Self>) -> bool {
        if self.pool != current_pool() {
            return false;
        }
        // The waiting task's token is not this one's (a task with its own sets it again).
        let _none = CurrentToken::enter(None);
        Job::run(Arc::clone(&self), &|| {});
        self.core.is_done()
    }

    fn is_current_task(&self) -> bool {
        CURRENT_TASK.with(Cell::get) == self.addr()
    }

    fn pool_owned(&self) -> bool {
        E::POOL_OWNED
    }
}

impl<F, T, E> Job for Task<F, T, E>
where
    F: TaskBody<T>,
    T: Send + 'static,
    E: TaskEnd,
{
    fn run(self: Arc<Self>, before_publish: &dyn Fn()) {
        match self.core.claim(|| self.handle()) {
            Claim::Run => self.execute(before_publish),
            Claim::Cancelled => {
                // SAFETY: we won CANCELLED → NOTIFIED; dropping the closure now releases what
                // it captured, as Python drops a cancelled work item.
                drop(unsafe { self.take_func() });
                self.end.ended();
            }
            Claim::Taken(_) => {}
        }
    }

    fn is_claimed(&self) -> bool {
        !matches!(self.core.state(), PENDING | CANCELLED)
    }

    fn holds_slot(&self) -> bool {
        true
    }

    fn cancel(self: Arc<Self>) {
        let handle = self.handle();
        if handle.cancel() {
            // Acknowledge at once so `wait`/`as_completed` see it: no worker will pop it again.
            self.run(&|| {});
        }
    }

    fn fail(self: Arc<Self>, error: &BrokenExecutor) {
        match self.core.claim(|| self.handle()) {
            Claim::Run => {
                // SAFETY: we won PENDING → RUNNING.
                drop(unsafe { self.take_func() });
                let failed = Outcome::Failed(Box::new(FutureError::BrokenExecutor(error.clone())));
                // As in `execute`: a user's own `set_result` may have come first.
                let _ = self.core.complete(failed, || self.handle());
                self.end.ended();
            }
            Claim::Cancelled => {
                // SAFETY: we won CANCELLED → NOTIFIED.
                drop(unsafe { self.take_func() });
                self.end.ended();
            }
            Claim::Taken(_) => {}
        }
    }
}

/// A token cancels a pending task as `shutdown(cancel_futures)` does: cancelled and
/// acknowledged at once, its closure dropped on the cancelling thread.
impl<F, T, E> CancelTarget for Task<F, T, E>
where
    F: TaskBody<T>,
    T: Send + 'static,
    E: TaskEnd,
{
    fn on_cancel(self: Arc<Self>) {
        Job::cancel(self);
    }

    fn is_live(&self) -> bool {
        self.core.state() == PENDING
    }
}
