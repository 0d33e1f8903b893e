//! Error types: what a future can end with, why a submission was refused, and bad arguments.

use std::fmt;
use std::time::Duration;

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
    /// The future was cancelled (Python's `CancelledError`): before it ran, or, for a task
    /// submitted with a [`CancelToken`](crate::CancelToken), by the task itself returning
    /// [`Cancelled`](crate::Cancelled) after its token was cancelled.
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
    /// The worker process running the task died (abort, a signal, `process::exit`). Only the
    /// task it was running fails; the pool starts a replacement.
    #[error("{0} while running the task")]
    WorkerDied(WorkerExit),
    /// The task ran past the process pool's per-task time limit, so its worker was killed
    /// (and replaced).
    #[error("the task ran longer than its {limit:?} limit; worker process {pid} was killed")]
    TaskTimedOut {
        /// The pool's limit.
        limit: Duration,
        /// The worker that was killed.
        pid: u32,
    },
    /// The argument or the result could not cross the process boundary (serde failed).
    #[error("serialization failed: {0}")]
    Serialization(String),
    /// A worker process sent bytes that are not a valid frame; it was killed and replaced.
    #[error("protocol error from worker process: {0}")]
    Protocol(String),
    /// A task a [`RetryPolicy`](crate::RetryPolicy) ran more than once is given up: every
    /// attempt ended with its worker's death or a task timeout, the last one with no retry
    /// left (the policy's limit, or an end the policy does not retry). `last` is how the last
    /// attempt ended.
    #[error(
        "the task failed on all {attempts} attempts, each of which cost a worker process; \
         the last: {last}"
    )]
    RetriesExhausted {
        /// Attempts made, each lost with the worker process that ran it.
        attempts: u32,
        /// How the last attempt ended: [`WorkerDied`](FutureError::WorkerDied) or
        /// [`TaskTimedOut`](FutureError::TaskTimedOut).
        last: Box<FutureError>,
    },
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
            FutureError::WorkerDied(_) => "WorkerDied",
            FutureError::TaskTimedOut { .. } => "TaskTimedOut",
            FutureError::Serialization(_) => "Serialization",
            FutureError::Protocol(_) => "Protocol",
            FutureError::RetriesExhausted { .. } => "RetriesExhausted",
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
    /// The function cannot be named in a worker process: it is not linked into the executable
    /// (it lives in a dynamically loaded library).
    #[error("{0}")]
    NotPortable(String),
    /// The executor's queue holds its `queue_capacity` tasks: from `try_submit`, from a
    /// [`WhenFull::Fail`](crate::WhenFull::Fail) pool, or when a
    /// [`WhenFull::BlockFor`](crate::WhenFull::BlockFor) wait ran out.
    #[error("the executor's queue is full ({capacity} tasks waiting)")]
    Full {
        /// The pool's `queue_capacity`.
        capacity: usize,
    },
}

/// How a worker process ended: its pid and exit code, or the signal that killed it.
///
/// ```
/// use concurrent_futures::WorkerExit;
/// let killed = WorkerExit { pid: 42, code: None, signal: Some(9) };
/// assert_eq!(killed.to_string(), "worker process 42 was killed by signal 9 (SIGKILL)");
/// let exited = WorkerExit { pid: 42, code: Some(3), signal: None };
/// assert_eq!(exited.to_string(), "worker process 42 exited with status 3");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkerExit {
    /// The worker's process id.
    pub pid: u32,
    /// Its exit status, if it exited.
    pub code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
}

impl WorkerExit {
    /// The conventional name of the signal (`SIGKILL`), if it is a common one.
    ///
    /// ```
    /// let e = concurrent_futures::WorkerExit { pid: 1, code: None, signal: Some(6) };
    /// assert_eq!(e.signal_name(), Some("SIGABRT"));
    /// ```
    pub fn signal_name(&self) -> Option<&'static str> {
        Some(match self.signal? {
            1 => "SIGHUP",
            2 => "SIGINT",
            3 => "SIGQUIT",
            4 => "SIGILL",
            5 => "SIGTRAP",
            6 => "SIGABRT",
            7 => "SIGBUS",
            8 => "SIGFPE",
            9 => "SIGKILL",
            11 => "SIGSEGV",
            13 => "SIGPIPE",
            14 => "SIGALRM",
            15 => "SIGTERM",
            24 => "SIGXCPU",
            25 => "SIGXFSZ",
            31 => "SIGSYS",
            _ => return None,
        })
    }
}

impl fmt::Display for WorkerExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker process {} ", self.pid)?;
        match (self.code, self.signal) {
            (_, Some(sig)) => match self.signal_name() {
                Some(name) => write!(f, "was killed by signal {sig} ({name})"),
                None => write!(f, "was killed by signal {sig}"),
            },
            (Some(code), None) => write!(f, "exited with status {code}"),
            (None, None) => write!(f, "ended"),
        }
    }
}

/// Why a [`ProcessPoolExecutor`](crate::ProcessPoolExecutor) could not be created (Unix, feature
/// `process-pool`).
///
/// ```
/// use concurrent_futures::{ProcessPoolError, ProcessPoolExecutor};
/// let err = ProcessPoolExecutor::new(0).unwrap_err();
/// assert!(matches!(err, ProcessPoolError::InvalidArgument(_)));
/// ```
#[cfg(all(unix, feature = "process-pool"))]
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "process-pool"))))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessPoolError {
    /// An option out of range (`max_workers(0)`, `max_tasks_per_child(0)`).
    #[error(transparent)]
    InvalidArgument(#[from] InvalidArgument),
    /// The worker entry hook did not run in this process, so a worker would run the program's
    /// own `main` instead of serving tasks.
    #[error(
        "the concurrent-futures worker entry hook did not run in this executable \
         (it runs before main through a linker constructor; was the crate linked in a way that \
         drops constructors?), so the pool refuses to start copies of this program"
    )]
    MissingEntryHook,
    /// The pool's manager could not be set up (the OS refused a thread, a poller, or reading
    /// the running executable).
    #[error("could not set up the process pool: {0}")]
    Setup(String),
}

/// Why an [`MpiPoolExecutor`](crate::MpiPoolExecutor) could not be created (feature `mpi`).
///
/// ```
/// use concurrent_futures::{MpiPoolError, MpiPoolExecutor};
/// // Not started by `mpirun`: there are no ranks to run tasks on.
/// # if MpiPoolExecutor::rank().is_none() {
/// let err = MpiPoolExecutor::new().unwrap_err();
/// assert_eq!(err, MpiPoolError::NotLaunched);
/// # }
/// ```
#[cfg(all(unix, feature = "mpi"))]
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "mpi"))))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum MpiPoolError {
    /// The process was not started by `mpirun`/`mpiexec` (no rank in its environment), so
    /// there are no worker ranks.
    #[error(
        "not launched by mpirun: start the program as `mpirun -n N ./app` (N >= 2); \
         rank 0 runs main, ranks 1..N-1 run the tasks"
    )]
    NotLaunched,
    /// The job has a single rank: nothing can run the tasks.
    #[error("the MPI job has only rank 0; start it with `mpirun -n N` and N >= 2")]
    NoWorkers,
    /// Only rank 0 owns the pool (this is a task running on a worker rank).
    #[error("only rank 0 can create an MpiPoolExecutor; this is rank {rank} on {host}")]
    NotRankZero {
        /// This process's rank.
        rank: u32,
        /// Its host.
        host: String,
    },
    /// Another `MpiPoolExecutor` of this process is open (not shut down): the worker ranks
    /// serve one executor at a time.
    #[error("another MpiPoolExecutor is still open; shut it down (or drop it) first")]
    Busy,
    /// A worker rank runs a different executable image (or protocol) than rank 0 and refused
    /// to resolve any function.
    #[error("MPI rank {rank} on {host} refused the handshake: {reason}")]
    ImageMismatch {
        /// The refusing rank.
        rank: u32,
        /// Its host.
        host: String,
        /// Its explanation (both image identities).
        reason: String,
    },
    /// Rank 0 heard nothing from a worker rank for the liveness timeout, not even an answer to
    /// its pings (which a rank answers while it runs a task): its host vanished from the
    /// network, or its process froze. The job cannot end cleanly (`MPI_Finalize` would wait
    /// for that rank forever), so rank 0 aborts it (`MPI_Abort`, error code 69) as soon as
    /// `main` ends. The lost rank's tasks and the queued ones fail with a [`BrokenExecutor`]
    /// carrying this message, and every executor built afterwards is refused with this error.
    #[error(
        "MPI rank {rank} on {host} stopped answering: nothing heard from it for {silent_for:.1?} \
         (liveness timeout {timeout:?}); the MPI pool is not usable anymore, and rank 0 aborts \
         the job when it exits"
    )]
    RankLost {
        /// The lost rank.
        rank: u32,
        /// Its host.
        host: String,
        /// How long it had been silent when rank 0 gave up on it.
        silent_for: Duration,
        /// The liveness timeout in force.
        timeout: Duration,
    },
    /// An option out of range: `queue_capacity(0)`, or a liveness timeout under 100 ms, from
    /// [`MpiPoolBuilder::liveness_timeout`](crate::MpiPoolBuilder::liveness_timeout) or the
    /// `CONCURRENT_FUTURES_MPI_LIVENESS_TIMEOUT` environment variable.
    #[error(transparent)]
    InvalidArgument(#[from] InvalidArgument),
    /// The worker entry hook did not run in this executable (see
    /// [`ProcessPoolError::MissingEntryHook`]).
    #[error("the concurrent-futures entry hook did not run in this executable")]
    MissingEntryHook,
    /// MPI could not be initialized, or this process's identity or initializer could not be
    /// prepared.
    #[error("could not set up the MPI pool: {0}")]
    Setup(String),
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
