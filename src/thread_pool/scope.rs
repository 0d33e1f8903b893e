//! Scoped tasks: closures that borrow from the caller's stack, every one of them over before
//! `ThreadPoolExecutor::scope` returns.
//!
//! # Why it is sound
//!
//! A scoped closure may borrow anything that outlives `'scope`, but the pool's queue only holds
//! `'static` jobs, so [`Scope::spawn`] boxes the closure and erases the box's lifetime. That is
//! sound as long as nothing touches the closure (or what it borrows) after `'scope` ends, which
//! this module guarantees without relying on any destructor:
//!
//! 1. Every erased closure is counted in `ScopeState::pending` before it is queued.
//! 2. The count goes down exactly once per task, through `TaskEnd::ended`, which the task's
//!    claimant calls as its last action on it: after running the closure (consuming it; a panic
//!    unwinds through it and is caught) and publishing the outcome, or after dropping the closure
//!    of a task cancelled or failed before it ran. A task the pool refuses is cancelled and
//!    acknowledged inside `submit_task` before the refusal returns. So when the count is zero,
//!    no closure of the scope exists any more.
//! 3. Every queued job is eventually claimed: `scope` borrows the pool, so the pool cannot be
//!    dropped meanwhile; `shutdown` lets workers drain the queue or cancels and acknowledges
//!    what is queued; a broken pool fails what is queued; a failed thread spawn is cancelled
//!    and acknowledged by [`Scope::spawn`] itself. Nobody but a claimant can end a scoped
//!    task's future: the promise-side methods are refused (`TaskEnd::POOL_OWNED`), so a task
//!    never ends without its closure being consumed or dropped.
//! 4. [`scope`](super::ThreadPoolExecutor::scope) itself, not a guard's `Drop`, waits for the
//!    count to reach zero after the user's closure returned *or panicked* (the panic is caught,
//!    the tasks joined, then the panic resumed). The `Scope` value lives in `scope`'s frame and
//!    the user only ever gets `&'scope Scope`, so there is nothing to `mem::forget`.
//! 5. `'scope` and `'env` are invariant (as in `std::thread::scope`), so a `&'scope Scope`
//!    cannot be stored anywhere that outlives the call, and a task can only borrow what lives
//!    at least as long as the whole `scope` call.
//!
//! The futures [`Scope::spawn`] returns are ordinary [`Future<T>`] handles with `T: 'static`, so
//! they may outlive the scope: by then the task's closure slot is empty (point 2), and the
//! result borrows nothing.
//!
//! # Waiting inside a worker
//!
//! A scope opened on a worker of its own pool keeps a list of its queued jobs and, while
//! joining, runs the ones no worker has claimed yet, like `Future::result(None)` does for one
//! future: a saturated pool cannot deadlock on a scope opened by one of its tasks. Jobs
//! already claimed are dropped from the front of that list on each submit, so it stays about
//! as long as the queue of the scope's unstarted tasks.

use super::shared::ThreadPoolShared;
use super::task::{current_pool, Job, Task, TaskBody, TaskEnd, WithToken};
use crate::cancel::{CancelToken, Cancelled, CurrentToken};
use crate::error::SubmitError;
use crate::future::Future;
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{Condvar, Mutex};
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

/// A scope for tasks that borrow from the stack: see [`ThreadPoolExecutor::scope`](super::ThreadPoolExecutor::scope).
///
/// Tasks submitted through it may borrow anything that outlives the `scope` call (`'env`),
/// and every one of them has ended (run, or cancelled before it ran) when `scope` returns.
/// The results are ordinary [`Future`] handles, so `result`, `.await`,
/// [`as_completed`](crate::as_completed) and [`wait`](crate::wait) work on them as usual.
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
/// let pool = ThreadPoolExecutor::new(2).unwrap();
/// let words = vec!["scoped", "tasks", "borrow"];
/// let lengths: Vec<usize> = pool.scope(|s| {
///     let futures: Vec<_> = words.iter().map(|w| s.spawn(move || w.len()).unwrap()).collect();
///     futures.into_iter().map(|f| f.into_result().unwrap()).collect()
/// });
/// assert_eq!(lengths, [6, 5, 6]);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    shared: &'env Arc<ThreadPoolShared>,
    state: Arc<ScopeState>,
    /// Invariant in `'scope` and `'env`, as `std::thread::Scope` is.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// What the tasks of one scope share with it. Owned through `Arc`s, so the last tasks may still
/// touch it after `scope` returned (only to notify).
struct ScopeState {
    /// Tasks submitted and not yet ended.
    pending: AtomicUsize,
    /// Whether the scope was opened on a worker of its own pool (then it runs its own queued
    /// jobs while joining, and keeps them in `jobs`).
    helping: bool,
    jobs: Mutex<VecDeque<Arc<dyn Job>>>,
    /// Signalled when `pending` reaches zero, and when a job is added to `jobs`.
    cond: Condvar,
}

impl ScopeState {
    fn task_ended(&self) {
        // ORDERING: AcqRel: the Release half publishes everything the task did (its closure's
        // accesses to borrowed data, its drop, the published outcome) to the join's Acquire
        // load; the RMW chain keeps each task's own submits (increments) ahead of its end.
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Under the lock the join checks `pending` with, so the notify cannot slip between
            // its check and its wait.
            let _guard = self.jobs.lock();
            self.cond.notify_all();
        }
    }

    /// Blocks until every task of the scope has ended, running this scope's unclaimed jobs on
    /// this thread meanwhile if it is a worker of the pool.
    fn join(&self) {
        let mut jobs = self.jobs.lock();
        loop {
            // ORDERING: Acquire pairs with the Release half of `task_ended`.
            if self.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            if let Some(job) = jobs.pop_front() {
                drop(jobs);
                // Claims and runs it here, or does nothing if a worker got there first; not
                // under the waiting task's token (a task with its own sets it again).
                let _none = CurrentToken::enter(None);
                job.run(&|| {});
                jobs = self.jobs.lock();
                continue;
            }
            self.cond.wait(&mut jobs);
        }
    }
}

/// Reports a scoped task's end to its scope.
struct ScopeEnd(Arc<ScopeState>);

impl TaskEnd for ScopeEnd {
    const POOL_OWNED: bool = true;

    fn ended(&self) {
        self.0.task_ended();
    }
}

/// `ThreadPoolExecutor::scope`'s body: run `f`, then join every task, then return or resume
/// `f`'s panic.
pub(crate) fn scope<'env, F, R>(shared: &'env Arc<ThreadPoolShared>, f: F) -> R
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    let scope = Scope {
        shared,
        state: Arc::new(ScopeState {
            pending: AtomicUsize::new(0),
            helping: current_pool() == shared.config.id,
            jobs: Mutex::new(VecDeque::new()),
            cond: Condvar::new(),
        }),
        scope: PhantomData,
        env: PhantomData,
    };
    // The join below must happen whether `f` returns or unwinds: this, not a destructor, is
    // what keeps the borrowed data alive for the tasks.
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
    scope.state.join();
    match result {
        Ok(value) => value,
        Err(payload) => panic::resume_unwind(payload),
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Schedules a closure that may borrow from the enclosing stack, and returns its future.
    ///
    /// The closure may capture references to anything that outlives the
    /// [`scope`](super::ThreadPoolExecutor::scope) call, including `&mut` borrows (one task
    /// each, as the borrow checker requires), and `&Scope` itself to submit more tasks. Its
    /// result must be owned (`'static`), because the returned [`Future`] is an ordinary handle
    /// that may outlive the scope; return copies or indices rather than references.
    ///
    /// A panic in the task is its future's [`FutureError::Panicked`](crate::FutureError::Panicked),
    /// as for any task: it does not propagate out of `scope`.
    ///
    /// # Errors
    ///
    /// As [`ThreadPoolExecutor::spawn`](super::ThreadPoolExecutor::spawn): the closure is then
    /// dropped before this returns.
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::new(2).unwrap();
    /// let mut left = [3, 1, 2];
    /// let mut right = [9, 7, 8];
    /// pool.scope(|s| {
    ///     s.spawn(|| left.sort()).unwrap();
    ///     s.spawn(|| right.sort()).unwrap();
    /// });
    /// assert_eq!((left, right), ([1, 2, 3], [7, 8, 9]));
    /// ```
    pub fn spawn<F, T>(&self, f: F) -> Result<Future<T>, SubmitError>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'static,
    {
        let f: Box<dyn FnOnce() -> T + Send + 'scope> = Box::new(f);
        // SAFETY: only the lifetime bound of the trait object changes (same layout, same
        // vtable). The closure is used only by the task's claimant, which runs or drops it
        // before reporting `ended`, and the scope does not return before every task of it has
        // reported (see the module docs: counted in `spawn_body` before the task exists,
        // joined in `scope` whether the user's closure returns or panics, and every queued job
        // is claimed). So the box and everything it borrows are gone before `'scope` ends.
        let f: Box<dyn FnOnce() -> T + Send + 'static> = unsafe { std::mem::transmute(f) };
        self.spawn_body(f, None)
    }

    /// Schedules a closure that may borrow from the enclosing stack and that may stop early
    /// because `token` was cancelled: [`spawn`](Self::spawn) with a token, as
    /// [`ThreadPoolExecutor::spawn_cancellable`](super::ThreadPoolExecutor::spawn_cancellable).
    ///
    /// The closure runs with `token` as [`CancelToken::current`]; returning `Err(Cancelled)`
    /// ends its future as cancelled. If `token` is cancelled while the task is pending, it never
    /// starts (and the scope does not wait for it), so one token stops a whole scope: pending
    /// tasks at once, running ones when they next check.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    ///
    /// ```
    /// use concurrent_futures::{CancelToken, Cancelled, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new(2).unwrap();
    /// let haystack: Vec<u32> = (0..100_000).collect();
    /// let found = CancelToken::new();
    /// let hits = pool.scope(|s| {
    ///     let found = &found;
    ///     let searches: Vec<_> = haystack
    ///         .chunks(10_000)
    ///         .map(|chunk| {
    ///             s.spawn_cancellable(found, move || {
    ///                 for &x in chunk {
    ///                     found.check()?; // another chunk found it: stop
    ///                     if x == 1234 {
    ///                         found.cancel();
    ///                         return Ok(true);
    ///                     }
    ///                 }
    ///                 Ok::<_, Cancelled>(false)
    ///             })
    ///             .unwrap()
    ///         })
    ///         .collect();
    ///     searches.iter().filter(|f| f.result(None) == Ok(&true)).count()
    /// });
    /// assert_eq!(hits, 1);
    /// ```
    pub fn spawn_cancellable<F, T>(
        &self,
        token: &CancelToken,
        f: F,
    ) -> Result<Future<T>, SubmitError>
    where
        F: FnOnce() -> Result<T, Cancelled> + Send + 'scope,
        T: Send + 'static,
    {
        let f: Box<dyn FnOnce() -> Result<T, Cancelled> + Send + 'scope> = Box::new(f);
        // SAFETY: as in `spawn`: only the trait object's lifetime bound changes, and the
        // scope joins every task before `'scope` ends.
        let f: Box<dyn FnOnce() -> Result<T, Cancelled> + Send + 'static> =
            unsafe { std::mem::transmute(f) };
        let body = WithToken {
            func: f,
            token: token.clone(),
        };
        self.spawn_body(body, Some(token))
    }

    /// Counts, builds and queues one scoped task (its closure already erased).
    fn spawn_body<B, T>(
        &self,
        body: B,
        token: Option<&CancelToken>,
    ) -> Result<Future<T>, SubmitError>
    where
        B: TaskBody<T>,
        T: Send + 'static,
    {
        // ORDERING: Relaxed suffices: this increment is sequenced before the push (the queue
        // hands the job over with its own synchronization) and, on a task that submits more
        // work, before that task's own decrement in the counter's modification order; the
        // join only needs to see zero after every decrement.
        self.state.pending.fetch_add(1, Ordering::Relaxed);
        let task = Arc::new(Task::with_end(
            body,
            self.shared.config.id,
            ScopeEnd(Arc::clone(&self.state)),
        ));
        let job: Arc<dyn Job> = task.clone();
        let submitted = self.shared.submit_task(task, token);
        match &submitted {
            Ok(_) if self.state.helping => {
                let mut jobs = self.state.jobs.lock();
                while jobs.front().is_some_and(|j| j.is_claimed()) {
                    jobs.pop_front();
                }
                jobs.push_back(job);
                self.state.cond.notify_all();
            }
            // Queued and cancelled (no thread could start): acknowledge the cancel here, so the
            // closure is dropped and the task ends now, whether or not a worker ever pops it.
            Err(SubmitError::Spawn(_)) => job.run(&|| {}),
            // Refused outright: `submit_task` already ended it.
            _ => {}
        }
        submitted
    }

    /// Schedules `f(arg)` with a closure that may borrow from the enclosing stack: the
    /// [`submit`](super::ThreadPoolExecutor::submit) spelling of [`spawn`](Self::spawn).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::new(2).unwrap();
    /// let table = vec![10, 20, 30];
    /// let total: i32 = pool.scope(|s| {
    ///     let f = s.submit(|i: usize| table[i] + 1, 2).unwrap();
    ///     *f.result(None).unwrap()
    /// });
    /// assert_eq!(total, 31);
    /// ```
    pub fn submit<F, A, T>(&self, f: F, arg: A) -> Result<Future<T>, SubmitError>
    where
        F: FnOnce(A) -> T + Send + 'scope,
        A: Send + 'scope,
        T: Send + 'static,
    {
        self.spawn(move || f(arg))
    }

    /// Schedules `f(arg)` with a closure that may borrow from the enclosing stack and stop
    /// early: the [`submit`](Self::submit) spelling of
    /// [`spawn_cancellable`](Self::spawn_cancellable).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    ///
    /// ```
    /// use concurrent_futures::{CancelToken, FutureError, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new(1).unwrap();
    /// let token = CancelToken::new();
    /// token.cancel();
    /// let limit = 3;
    /// let f = pool.scope(|s| {
    ///     s.submit_cancellable(&token, |n: u32| Ok(n.min(limit)), 10).unwrap()
    /// });
    /// assert_eq!(f.result(None), Err(FutureError::Cancelled)); // never started
    /// ```
    pub fn submit_cancellable<F, A, T>(
        &self,
        token: &CancelToken,
        f: F,
        arg: A,
    ) -> Result<Future<T>, SubmitError>
    where
        F: FnOnce(A) -> Result<T, Cancelled> + Send + 'scope,
        A: Send + 'scope,
        T: Send + 'static,
    {
        self.spawn_cancellable(token, move || f(arg))
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("pending", &self.state.pending.load(Ordering::Relaxed))
            .field("helping", &self.state.helping)
            .finish_non_exhaustive()
    }
}
