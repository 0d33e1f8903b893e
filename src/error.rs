//! Error types: what a future can end with, why a submission was refused, and bad arguments.

use std::fmt;

/// Where a task panicked: the `file:line:column` of the `panic!`.
///
/// ```
/// use concurrent_futures::PanicLocation;
/// let loc = PanicLocation { file: "src/main.rs".into(), line: 3, column: 5 };
/// assert_eq!(loc.to_string(), "src/main.rs:3:5");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PanicLocation {
    /// Source file of the panic.
    pub file: String,
    /// Line of the panic.
    pub line: u32,
    /// Column of the panic.
    pub column: u32,
}

impl fmt::Display for PanicLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The executor cannot run work any more (Python's `BrokenExecutor`, `BrokenThreadPool`,
/// `BrokenProcessPool`).
///
/// ```
/// use concurrent_futures::BrokenExecutor;
/// let e = BrokenExecutor::new("A thread initializer failed, the thread pool is not usable anymore");
/// assert!(e.to_string().contains("initializer failed"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{message}")]
pub struct BrokenExecutor {
    message: String,
}

impl BrokenExecutor {
    /// A broken-executor error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// Why the executor broke.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Why a future has no value: how `result`, `exception` and the iterators report failure.
///
/// A task's own `Result` is a value, not a `FutureError`: a task returning `Result<U, E>` makes a
/// `Future<Result<U, E>>`, so your errors reach you untouched.
///
/// ```
/// use concurrent_futures::{Future, FutureError};
/// let f: Future<i32> = Future::new();
/// f.cancel();
/// assert_eq!(f.result(None), Err(FutureError::Cancelled));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum FutureError {
    /// The future was cancelled before it ran (Python's `CancelledError`).
    #[error("the future was cancelled")]
    Cancelled,
    /// The wait ran out before the future finished (Python's `TimeoutError`). The future itself
    /// is untouched and may still finish.
    #[error("timed out waiting for the future")]
    Timeout,
    /// The task panicked. The worker that ran it lives on.
    #[error("task panicked: {message}{}", location.as_ref().map(|l| format!(" at {l}")).unwrap_or_default())]
    Panicked {
        /// The panic message (`&str` and `String` payloads; other payloads are described).
        message: String,
        /// Where it panicked, when the crate's panic hook could see it.
        location: Option<PanicLocation>,
    },
    /// The executor broke before or while running the task.
    #[error(transparent)]
    BrokenExecutor(#[from] BrokenExecutor),
    /// Waiting would never end: the caller is the task the future belongs to.
    #[error("deadlock: a task waited on its own future")]
    Deadlock,
    /// `map` could not submit this item; the iterator ends after reporting it.
    #[error("could not submit: {0}")]
    Rejected(SubmitError),
    /// [`Future::into_result`](crate::Future::into_result) was called while other handles to
    /// the future exist; they still hold the value.
    #[error("other handles to this future exist; the value stays with them")]
    Shared,
}

impl FutureError {
    /// The panic message, if this error is a panic.
    ///
    /// ```
    /// use concurrent_futures::FutureError;
    /// let e = FutureError::Panicked { message: "boom".into(), location: None };
    /// assert_eq!(e.panic_message(), Some("boom"));
    /// assert_eq!(FutureError::Timeout.panic_message(), None);
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            FutureError::Panicked { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The short name used in a future's `Display` (`state=finished raised <kind>`).
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            FutureError::Cancelled => "Cancelled",
            FutureError::Timeout => "Timeout",
            FutureError::Panicked { .. } => "panic",
            FutureError::BrokenExecutor(_) => "BrokenExecutor",
            FutureError::Deadlock => "Deadlock",
            FutureError::Rejected(_) => "Rejected",
            FutureError::Shared => "Shared",
        }
    }
}

/// Why `submit` (or `map`) refused work.
///
/// ```
/// use concurrent_futures::{SubmitError, ThreadPoolExecutor};
/// let ex = ThreadPoolExecutor::new(1).unwrap();
/// ex.shutdown(true, false);
/// assert_eq!(ex.submit(|x: i32| x, 1).unwrap_err(), SubmitError::Shutdown);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The executor was shut down (Python's `RuntimeError`).
    #[error("cannot schedule new futures after shutdown")]
    Shutdown,
    /// The executor is broken and runs nothing more.
    #[error(transparent)]
    Broken(#[from] BrokenExecutor),
    /// No worker could be started for the task (the OS refused a thread or a process).
    #[error("could not start a worker: {0}")]
    Spawn(String),
}

/// A future was completed twice, or completed after it was cancelled (Python's
/// `InvalidStateError`). The message names the state and the future.
///
/// ```
/// use concurrent_futures::Future;
/// let f = Future::new();
/// f.set_result(1).unwrap();
/// let err = f.set_result(2).unwrap_err();
/// assert!(err.to_string().starts_with("FINISHED: <Future at 0x"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{message}")]
pub struct InvalidStateError {
    message: String,
}

impl InvalidStateError {
    pub(crate) fn new(message: String) -> Self {
        Self { message }
    }
}

/// An argument outside its allowed range (Python's `ValueError`).
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
/// let err = ThreadPoolExecutor::new(0).unwrap_err();
/// assert_eq!(err.to_string(), "max_workers must be greater than 0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{0}")]
pub struct InvalidArgument(pub(crate) &'static str);

/// `as_completed` ran out of time: `N (of M) futures unfinished`, as Python words it.
///
/// ```
/// use concurrent_futures::{as_completed, Future};
/// use std::time::Duration;
/// let pending: Future<()> = Future::new();
/// let err = as_completed([pending], Some(Duration::ZERO)).next().unwrap().unwrap_err();
/// assert_eq!(err.to_string(), "1 (of 1) futures unfinished");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{unfinished} (of {total}) futures unfinished")]
pub struct TimeoutError {
    /// Futures not finished when time ran out.
    pub unfinished: usize,
    /// Distinct futures given to `as_completed`.
    pub total: usize,
}
