//! `RetryPolicy`: opt-in retries of tasks whose worker process died or ran out of time.

use std::fmt;

/// When a process-pool task that killed its worker (or ran past `task_timeout`) runs again, and
/// how often (Dask's `retries` and `allowed-failures`, for one local pool).
///
/// Without a policy nothing is retried: a task that may have started runs at most once, and a
/// worker's death fails it with [`FutureError::WorkerDied`](crate::FutureError::WorkerDied).
/// With one, such a task goes back to the front of the queue until it has used
/// [`attempts`](Self::attempts) attempts; if every attempt ended that way it fails with
/// [`FutureError::RetriesExhausted`](crate::FutureError::RetriesExhausted), which says how many
/// attempts it made and how many worker processes it cost (a poison input cannot kill workers
/// forever). What is never retried:
///
/// - a task that ran to completion, whatever it returned (a value, a panic, an error);
/// - a task whose worker the program ended on purpose (`terminate_workers`, `kill_workers`), or
///   when the pool breaks ([`break_on_worker_death`](crate::ProcessPoolBuilder::break_on_worker_death));
/// - a task that never started: it was never an attempt, and goes back to the queue anyway;
/// - a task whose [`CancelToken`](crate::CancelToken) was cancelled: it was asked to stop, and
///   whatever then ends its worker (the grace period's kill, a crash), it ends as cancelled.
///
/// Set it for a pool with [`ProcessPoolBuilder::retry`](crate::ProcessPoolBuilder::retry), or
/// for one `map` with [`MapOptions::retry`](crate::MapOptions::retry) (over the pool's).
/// Retrying re-runs the task from the start, so its side effects before the crash happen again:
/// retry what is idempotent.
///
/// ```
/// use concurrent_futures::RetryPolicy;
/// let policy = RetryPolicy::attempts(3).on_task_timeout(false);
/// assert_eq!(policy.max_attempts(), 3);
/// assert!(policy.retries_worker_deaths());
/// assert!(!policy.retries_task_timeouts());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryPolicy {
    attempts: u32,
    on_death: bool,
    on_timeout: bool,
}

impl RetryPolicy {
    /// At most `n` attempts in all (the first run and `n - 1` retries), after worker deaths and
    /// task timeouts alike. `0` is rejected by the pool's `build`.
    ///
    /// ```
    /// assert_eq!(concurrent_futures::RetryPolicy::attempts(2).max_attempts(), 2);
    /// ```
    pub const fn attempts(n: u32) -> Self {
        RetryPolicy {
            attempts: n,
            on_death: true,
            on_timeout: true,
        }
    }

    /// Whether a task whose worker died (a signal, an abort, `process::exit`) runs again.
    /// Default: yes.
    ///
    /// ```
    /// let p = concurrent_futures::RetryPolicy::attempts(3).on_worker_death(false);
    /// assert!(!p.retries_worker_deaths());
    /// ```
    pub const fn on_worker_death(mut self, retry: bool) -> Self {
        self.on_death = retry;
        self
    }

    /// Whether a task killed for running past `task_timeout` runs again. Default: yes.
    ///
    /// ```
    /// let p = concurrent_futures::RetryPolicy::attempts(3).on_task_timeout(false);
    /// assert!(!p.retries_task_timeouts());
    /// ```
    pub const fn on_task_timeout(mut self, retry: bool) -> Self {
        self.on_timeout = retry;
        self
    }

    /// The most attempts a task gets.
    ///
    /// ```
    /// assert_eq!(concurrent_futures::RetryPolicy::attempts(4).max_attempts(), 4);
    /// ```
    pub const fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether worker deaths are retried.
    ///
    /// ```
    /// assert!(concurrent_futures::RetryPolicy::attempts(2).retries_worker_deaths());
    /// ```
    pub const fn retries_worker_deaths(&self) -> bool {
        self.on_death
    }

    /// Whether task timeouts are retried.
    ///
    /// ```
    /// assert!(concurrent_futures::RetryPolicy::attempts(2).retries_task_timeouts());
    /// ```
    pub const fn retries_task_timeouts(&self) -> bool {
        self.on_timeout
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("attempts", &self.attempts)
            .field("on_worker_death", &self.on_death)
            .field("on_task_timeout", &self.on_timeout)
            .finish()
    }
}
