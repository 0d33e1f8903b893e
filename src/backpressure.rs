//! Back-pressure: a bounded queue and what `submit` does when it is full ([`WhenFull`]), and
//! the error of the non-blocking `try_submit` ([`TrySubmitError`]).
//!
//! Every executor's queue is unbounded unless its builder sets a `queue_capacity`: then at
//! most that many submitted tasks wait for a worker, and a `submit` that finds the queue full
//! does what the pool's [`WhenFull`] policy says (Java's `ThreadPoolExecutor` with a bounded
//! queue and a `RejectedExecutionHandler`). The thread pool counts the tasks no worker has taken
//! yet; the process and MPI pools count the tasks their manager has not yet sent to a worker
//! (they already send at most a few per worker ahead).
//!
//! What the capacity bounds: `submit`, `spawn`, the `_cancellable` variants and scope tasks.
//! `map` and `map_unordered` are bounded by their own `buffersize` instead: their items wait in
//! the input iterator, not in the queue, and are never refused or run in the caller (a `map`
//! without `buffersize` submits everything at once, as Python's does). Their queued items still
//! count toward the capacity that `submit` sees.

use crate::error::SubmitError;
use std::fmt;
use std::time::Duration;

/// What `submit` does when the executor's queue holds `queue_capacity` tasks.
///
/// Set with `queue_capacity(n).when_full(policy)` on any executor's builder; without a
/// capacity the queue is unbounded and this is never consulted. The default is
/// [`Block`](WhenFull::Block). Whatever the policy, [`try_submit`](crate::Executor::try_submit)
/// never blocks and never runs the task in the caller: it fails with [`SubmitError::Full`].
///
/// ```
/// use concurrent_futures::{SubmitError, ThreadPoolExecutor, WhenFull};
/// use std::sync::mpsc;
/// let pool = ThreadPoolExecutor::builder()
///     .max_workers(1)
///     .queue_capacity(1)
///     .when_full(WhenFull::Fail)
///     .build()
///     .unwrap();
/// let (release, gate) = mpsc::channel::<()>();
/// let (started_tx, started) = mpsc::channel();
/// let busy = pool.spawn(move || { started_tx.send(()).unwrap(); gate.recv().unwrap() }).unwrap();
/// started.recv().unwrap(); // the one worker is busy
/// let queued = pool.spawn(|| 1).unwrap(); // fills the queue
/// assert!(matches!(pool.spawn(|| 2), Err(SubmitError::Full { capacity: 1 })));
/// release.send(()).unwrap();
/// assert_eq!(queued.result(None), Ok(&1));
/// # busy.result(None).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum WhenFull {
    /// Wait until a worker takes a task off the queue (or the pool shuts down or breaks,
    /// which fails the submit with that error). A task of the same thread pool that would
    /// wait for its own pool's queue runs the task it submits itself instead (as
    /// `CallerRuns`), so a pool whose tasks submit to it cannot deadlock with every worker
    /// waiting.
    #[default]
    Block,
    /// As `Block`, at most this long; then the submit fails with [`SubmitError::Full`].
    BlockFor(Duration),
    /// Fail at once with [`SubmitError::Full`]; the task is dropped (use `try_submit` to get
    /// it back).
    Fail,
    /// Run the task in the submitting thread, now, and return its finished future (Java's
    /// `CallerRunsPolicy`): a producer that outpaces the pool slows down to the pool's pace
    /// while doing useful work. On the process and MPI pools the task then runs in *this*
    /// process: no crash isolation and no `task_timeout` for it (a panic is still caught).
    CallerRuns,
}

/// A bounded queue: its limit and what a full queue does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Capacity {
    pub(crate) limit: usize,
    pub(crate) when_full: WhenFull,
}

impl Capacity {
    /// The builders' `queue_capacity` and `when_full`, checked: a zero capacity is Python's
    /// `ValueError`.
    pub(crate) fn new(
        limit: Option<usize>,
        when_full: WhenFull,
    ) -> Result<Option<Capacity>, crate::error::InvalidArgument> {
        match limit {
            None => Ok(None),
            Some(0) => Err(crate::error::InvalidArgument(
                "queue_capacity must be greater than 0",
            )),
            Some(limit) => Ok(Some(Capacity { limit, when_full })),
        }
    }
}

/// How a submission treats a full queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// `submit`: as the pool's [`WhenFull`] says.
    Policy,
    /// `try_submit`: fail at once.
    Try,
    /// `map` items: always queued, counted (bounded by the map's own `buffersize`).
    Always,
}

/// Where an admitted submission goes: the queue, or (full, `CallerRuns`) the caller's thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubmitRoute {
    /// Queue the task.
    Queue,
    /// The queue is full and the policy is `CallerRuns`: run it on this thread.
    RunHere,
}

/// Why [`try_submit`](crate::Executor::try_submit) did not queue a task, with the task handed
/// back, so nothing is lost: crossbeam's `TrySendError` for executors.
///
/// `T` is what the call took: the argument for [`Executor::try_submit`](crate::Executor::try_submit),
/// the closure and its argument for the thread pool's inherent `try_submit`.
///
/// ```
/// use concurrent_futures::{SubmitError, ThreadPoolExecutor};
/// let pool = ThreadPoolExecutor::new(1).unwrap();
/// pool.shutdown(true, false);
/// let refused = pool.try_submit(|s: String| s.len(), "kept".to_string()).unwrap_err();
/// assert_eq!(refused.error(), &SubmitError::Shutdown);
/// let (_f, arg) = refused.into_inner();
/// assert_eq!(arg, "kept");
/// ```
pub struct TrySubmitError<T> {
    error: SubmitError,
    task: T,
}

impl<T> TrySubmitError<T> {
    pub(crate) fn new(error: SubmitError, task: T) -> Self {
        TrySubmitError { error, task }
    }

    /// Why: [`SubmitError::Full`], or the refusal `submit` would have given.
    ///
    /// ```
    /// # use concurrent_futures::{SubmitError, ThreadPoolExecutor};
    /// # let pool = ThreadPoolExecutor::new(1).unwrap();
    /// # pool.shutdown(true, false);
    /// let refused = pool.try_spawn(|| 1).unwrap_err();
    /// assert_eq!(refused.error(), &SubmitError::Shutdown);
    /// ```
    pub fn error(&self) -> &SubmitError {
        &self.error
    }

    /// The task that was not queued.
    ///
    /// ```
    /// # use concurrent_futures::ThreadPoolExecutor;
    /// # let pool = ThreadPoolExecutor::new(1).unwrap();
    /// # pool.shutdown(true, false);
    /// let job = pool.try_spawn(|| 7).unwrap_err().into_inner();
    /// assert_eq!(job(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.task
    }

    /// The error and the task.
    ///
    /// ```
    /// # use concurrent_futures::{SubmitError, ThreadPoolExecutor};
    /// # let pool = ThreadPoolExecutor::new(1).unwrap();
    /// # pool.shutdown(true, false);
    /// let (error, job) = pool.try_spawn(|| 7).unwrap_err().into_parts();
    /// assert_eq!((error, job()), (SubmitError::Shutdown, 7));
    /// ```
    pub fn into_parts(self) -> (SubmitError, T) {
        (self.error, self.task)
    }

    /// The same error with the task turned into something else.
    pub(crate) fn map_task<U>(self, f: impl FnOnce(T) -> U) -> TrySubmitError<U> {
        TrySubmitError {
            error: self.error,
            task: f(self.task),
        }
    }
}

impl<T> fmt::Debug for TrySubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrySubmitError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for TrySubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<T> std::error::Error for TrySubmitError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<T> From<TrySubmitError<T>> for SubmitError {
    fn from(e: TrySubmitError<T>) -> Self {
        e.error
    }
}
