//! `ProcessPoolExecutor`: Python's process pool, with worker processes that are fresh copies of
//! the running executable.
//!
//! This folder is the socket transport: `manager.rs` is the parent's side, `child.rs` the
//! worker's. The calls, frames and function naming are the shared `remote` layer's. The design
//! (entry hook, how functions are named across the boundary, the wire format, the manager,
//! what each failure does) is described in `README.md` beside this file.

mod cancel_watch;
mod child;
mod manager;
mod worker_process;

pub(crate) use self::child::serve_parent;

use self::manager::{Manager, ProcessPoolConfig, ProcessPoolShared};
use crate::backpressure::{Admit, Capacity, TrySubmitError, WhenFull};
use crate::cancel::{CancelToken, Cancelled};
#[cfg(doc)]
use crate::error::FutureError; // for the docs' links
use crate::error::{InvalidArgument, ProcessPoolError, SubmitError};
use crate::executor::{Executor, Payload};
use crate::future::Future;
use crate::map::{Map, MapOptions, ValidMapOptions};
use crate::map_unordered::MapUnordered;
use crate::remote::image;
use crate::remote::outbox::{self, Outbox};
use crate::remote::role;
use crate::retry::RetryPolicy;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// How long a new worker may take to answer the handshake and run the initializer, unless the
/// builder says otherwise: a start takes about a millisecond, so this leaves room for slow
/// initializers while a hung one still ends in an error.
const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a running task whose token was cancelled may take to return before its worker is
/// killed, unless the builder says otherwise: long enough for a task that checks its token now
/// and then, short enough that one that ignores it does not hold a worker for long.
const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(1);

/// A pool of worker processes that runs submitted functions (Python's `ProcessPoolExecutor`).
///
/// Switching from threads is one line: both pools implement [`Executor`], return the same
/// [`Future`], and mix in [`as_completed`](crate::as_completed) and [`wait`](crate::wait).
///
/// - **Workers** are fresh processes of the running executable (`/proc/self/exe` on Linux),
///   started lazily up to `max_workers` and reused, never `fork`ed from this multi-threaded
///   process.
///   They need no line in `main`: a constructor that runs before `main` in every executable
///   linking this crate turns a process the pool started into a worker, so `main`, a test
///   harness or a bench harness never runs there. Their stdout and stderr are this process's.
/// - **What crosses**: a plain `fn` (a function item, or a closure that captures nothing) and
///   its argument; argument and result travel as postcard (serde). A capturing closure does
///   not compile. Before resolving any function, each worker proves it runs the same
///   executable image (ELF build id, Mach-O `LC_UUID`, or a hash of the file).
/// - **Failures** stay with their task: a panic is that future's
///   [`FutureError::Panicked`], and the worker lives on; a worker that dies (abort, a signal,
///   `process::exit`, an outside `SIGKILL`) fails exactly the task it was running with
///   [`FutureError::WorkerDied`], naming the exit status or signal, and is replaced. A task
///   that may have started is never run twice; tasks it was sent but never started go to
///   another worker. A finished result never waits behind the worker's next task. With
///   [`break_on_worker_death`](ProcessPoolBuilder::break_on_worker_death) the pool breaks
///   instead, as CPython's does. An argument or result that serde cannot encode or decode
///   fails that future with [`FutureError::Serialization`].
/// - **Deadlines**: a starting worker must be ready within
///   [`startup_timeout`](ProcessPoolBuilder::startup_timeout) and a running task may have a
///   [`task_timeout`](ProcessPoolBuilder::task_timeout); a stopped or hung worker is killed
///   and replaced, never waited for. A starting worker killed from outside is replaced; only
///   a startup that always fails (refused image, failing or hanging initializer) breaks the
///   pool. The guarantees and how they are kept: `src/process_pool/README.md`.
/// - **Dispatch** sends a worker of short tasks its next task while it runs one, and only
///   while more tasks wait than there are workers; everything else stays in the queue, where
///   `cancel()` works on it. 100k queued tasks cost memory, not file descriptors.
/// - Done-callbacks of its futures run on the pool's manager thread: they must not block on
///   another future of the same pool.
///
/// Dropping the pool is `shutdown(wait = true)`; it leaves no process behind. In async code
/// that wait stalls the runtime's thread: drop the pool inside `tokio::task::spawn_blocking`.
///
/// Available on Unix (Linux, macOS, FreeBSD) with the default feature `process-pool`. Windows
/// has no process pool yet: there the [`Executor`] trait and the thread pool are the API.
///
/// ```
/// use concurrent_futures::{Executor, ProcessPoolExecutor};
///
/// fn is_prime(n: u64) -> bool {
///     n > 1 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
/// }
///
/// let pool = ProcessPoolExecutor::new(2).unwrap();
/// let primes: Vec<bool> = pool.map(is_prime, [2, 9, 97]).map(Result::unwrap).collect();
/// assert_eq!(primes, [true, false, true]);
/// ```
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "process-pool"))))]
pub struct ProcessPoolExecutor {
    shared: Arc<ProcessPoolShared>,
}

/// Configures a [`ProcessPoolExecutor`] (Python's constructor arguments, plus a per-task time
/// limit and the strict crash mode). Unix, feature `process-pool`.
///
/// ```
/// use concurrent_futures::ProcessPoolExecutor;
/// use std::time::Duration;
/// let pool = ProcessPoolExecutor::builder()
///     .max_workers(2)
///     .max_tasks_per_child(100)
///     .task_timeout(Duration::from_secs(60))
///     .build()
///     .unwrap();
/// assert_eq!(pool.max_workers(), 2);
/// ```
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "process-pool"))))]
#[must_use]
#[derive(Default)]
pub struct ProcessPoolBuilder {
    max_workers: Option<usize>,
    max_tasks_per_child: Option<usize>,
    task_timeout: Option<Duration>,
    startup_timeout: Option<Duration>,
    cancel_grace: Option<Duration>,
    break_on_worker_death: bool,
    retry: Option<RetryPolicy>,
    initializer: Option<Result<(image::Portable, Vec<u8>), String>>,
    bogus_image: bool,
    program: Option<std::path::PathBuf>,
    queue_capacity: Option<usize>,
    when_full: WhenFull,
}

impl fmt::Debug for ProcessPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("task_timeout", &self.task_timeout)
            .field("startup_timeout", &self.startup_timeout)
            .field("cancel_grace", &self.cancel_grace)
            .field("break_on_worker_death", &self.break_on_worker_death)
            .field("retry", &self.retry)
            .field("initializer", &self.initializer.is_some())
            .field("queue_capacity", &self.queue_capacity)
            .field("when_full", &self.when_full)
            .finish()
    }
}

impl ProcessPoolBuilder {
    /// The maximum number of worker processes; default: the number of CPUs, as Python.
    /// `0` is rejected by [`build`](Self::build).
    ///
    /// ```
    /// let pool = concurrent_futures::ProcessPoolExecutor::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Replace each worker after it ran `n` tasks (Python 3.11's `max_tasks_per_child`), to
    /// bound leaks in the task code. The pool never sends a worker more than its budget, so a
    /// retiring worker takes no task with it. `0` is rejected by [`build`](Self::build).
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    /// fn pid(_: ()) -> u32 { std::process::id() }
    /// let pool = ProcessPoolExecutor::builder().max_workers(1).max_tasks_per_child(1).build().unwrap();
    /// let a = *pool.submit(pid, ()).unwrap().result(None).unwrap();
    /// let b = *pool.submit(pid, ()).unwrap().result(None).unwrap();
    /// assert_ne!(a, b);
    /// ```
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// Kill a worker whose task runs longer than `limit`: the task fails with
    /// [`FutureError::TaskTimedOut`] and a new worker takes over. (Python can only stop
    /// waiting; here the work stops too.) The clock starts when the task becomes the one its
    /// worker runs.
    ///
    /// ```
    /// use concurrent_futures::{FutureError, ProcessPoolExecutor};
    /// use std::time::Duration;
    /// fn spin(_: ()) { loop { std::hint::spin_loop() } }
    /// let pool = ProcessPoolExecutor::builder()
    ///     .max_workers(1)
    ///     .task_timeout(Duration::from_millis(100))
    ///     .build()
    ///     .unwrap();
    /// let err = pool.submit(spin, ()).unwrap().result(None).unwrap_err();
    /// assert!(matches!(err, FutureError::TaskTimedOut { .. }));
    /// ```
    pub fn task_timeout(mut self, limit: Duration) -> Self {
        self.task_timeout = Some(limit);
        self
    }

    /// How long a new worker process may take to be ready: started, handshake answered,
    /// initializer run. A worker that is not ready by then is killed and replaced, so a
    /// starting worker that hangs or was stopped never holds tasks back. Default: 30 s, and
    /// never longer than [`task_timeout`](Self::task_timeout) when that is set. `0` is rejected
    /// by [`build`](Self::build).
    ///
    /// A worker killed this way is a startup fault like one that died while starting: replaced,
    /// unless no worker of the pool was ever ready, in which case the startup itself fails
    /// (an initializer that never returns, say) and the pool breaks with an error that says
    /// so: pending futures fail with [`FutureError::BrokenExecutor`].
    ///
    /// ```
    /// use concurrent_futures::{FutureError, ProcessPoolExecutor};
    /// use std::time::Duration;
    /// fn hang(_: ()) { loop { std::thread::park() } }
    /// fn id(n: u8) -> u8 { n }
    /// let pool = ProcessPoolExecutor::builder()
    ///     .max_workers(1)
    ///     .initializer(hang, ())
    ///     .startup_timeout(Duration::from_millis(200))
    ///     .build()
    ///     .unwrap();
    /// let err = pool.submit(id, 1).unwrap().result(None).unwrap_err();
    /// assert!(matches!(err, FutureError::BrokenExecutor(_)), "{err}");
    /// assert!(err.to_string().contains("not ready within"));
    /// ```
    pub fn startup_timeout(mut self, limit: Duration) -> Self {
        self.startup_timeout = Some(limit);
        self
    }

    /// How long a running task whose [`CancelToken`](crate::CancelToken) was cancelled may take
    /// to return before its worker process is killed (and replaced); default 1 s. The request
    /// reaches the worker at once: a task that checks its token (`check()`, `sleep()`) returns
    /// `Err(Cancelled)` well within the grace period; one that ignores it, or is stuck in native
    /// code, is killed when the period ends. Either way its future ends as cancelled, not as a
    /// worker death, and it is never retried.
    ///
    /// ```
    /// use concurrent_futures::{CancelToken, Cancelled, FutureError, ProcessPoolExecutor};
    /// use std::time::Duration;
    /// fn ignores_its_token(_: ()) -> Result<u8, Cancelled> {
    ///     loop { std::thread::park() }
    /// }
    /// let pool = ProcessPoolExecutor::builder()
    ///     .max_workers(1)
    ///     .cancel_grace(Duration::from_millis(100))
    ///     .build()
    ///     .unwrap();
    /// let token = CancelToken::new();
    /// let f = pool.submit_cancellable(&token, ignores_its_token, ()).unwrap();
    /// while !f.running() { std::thread::yield_now() }
    /// token.cancel();
    /// assert_eq!(f.exception(None), Err(FutureError::Cancelled)); // as Python raises
    /// assert!(f.cancelled());
    /// ```
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = Some(grace);
        self
    }

    /// CPython's behaviour: the first worker that dies breaks the pool. Every queued and
    /// running future fails with [`FutureError::BrokenExecutor`] and later submissions with
    /// [`SubmitError::Broken`]. Off by default: a death then fails only the task that worker
    /// was running.
    ///
    /// ```
    /// let pool = concurrent_futures::ProcessPoolExecutor::builder()
    ///     .break_on_worker_death(true)
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn break_on_worker_death(mut self, yes: bool) -> Self {
        self.break_on_worker_death = yes;
        self
    }

    /// Runs a task again when its worker dies or it runs past `task_timeout`, up to the
    /// policy's attempts; then it fails with [`FutureError::RetriesExhausted`], which says how
    /// many attempts and worker processes it cost. Off by default: a task that may have started
    /// runs at most once. See [`RetryPolicy`] for what is never retried. A policy of `0`
    /// attempts is rejected by [`build`](Self::build).
    ///
    /// ```
    /// use concurrent_futures::{FutureError, ProcessPoolExecutor, RetryPolicy};
    /// fn poison(_: ()) -> u8 { std::process::abort() }
    /// let pool = ProcessPoolExecutor::builder()
    ///     .max_workers(1)
    ///     .retry(RetryPolicy::attempts(3))
    ///     .build()
    ///     .unwrap();
    /// let err = pool.submit(poison, ()).unwrap().into_result().unwrap_err();
    /// assert!(matches!(err, FutureError::RetriesExhausted { attempts: 3, .. }));
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Runs `init(arg)` at the start of each worker process (Python's `initializer` and
    /// `initargs`). If it panics, the pool breaks, as in Python: pending and later futures
    /// fail with [`FutureError::BrokenExecutor`].
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    /// fn setup(level: u8) { std::env::set_var("LEVEL", level.to_string()) }
    /// fn level(_: ()) -> String { std::env::var("LEVEL").unwrap() }
    /// let pool = ProcessPoolExecutor::builder().initializer(setup, 3).build().unwrap();
    /// assert_eq!(pool.submit(level, ()).unwrap().result(None).unwrap(), "3");
    /// ```
    pub fn initializer<A: Payload>(mut self, init: fn(A), arg: A) -> Self {
        let portable = image::portable(image::call_init::<A>, init as usize);
        let encoded = portable.and_then(|p| {
            postcard::to_allocvec(&arg)
                .map(|bytes| (p, bytes))
                .map_err(|e| format!("cannot encode the initializer's argument: {e}"))
        });
        self.initializer = Some(encoded);
        self
    }

    /// At most `n` submitted tasks wait in the parent for the manager to send them to a worker
    /// (beyond Python, whose queue is unbounded); a submit that finds `n` waiting does what
    /// [`when_full`](Self::when_full) says (by default it blocks until the manager takes one).
    /// Tasks sent to workers (at most two per worker) do not count. `map` items are bounded by
    /// their own `buffersize` instead (see [`WhenFull`]). `0` is rejected by
    /// [`build`](Self::build).
    ///
    /// ```
    /// use concurrent_futures::{ProcessPoolExecutor, WhenFull};
    /// fn square(n: u64) -> u64 { n * n }
    /// let pool = ProcessPoolExecutor::builder()
    ///     .max_workers(2)
    ///     .queue_capacity(16)
    ///     .when_full(WhenFull::Block)
    ///     .build()
    ///     .unwrap();
    /// // The producer waits whenever 16 tasks are queued: memory stays bounded.
    /// let futures: Vec<_> = (0..200u64).map(|n| pool.submit(square, n).unwrap()).collect();
    /// assert_eq!(*futures[199].result(None).unwrap(), 199 * 199);
    /// ```
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = Some(n);
        self
    }

    /// What a submit does when the queue holds [`queue_capacity`](Self::queue_capacity) tasks
    /// (default [`WhenFull::Block`]). With [`WhenFull::CallerRuns`] the task runs in this
    /// process, without the pool's crash isolation or `task_timeout`.
    ///
    /// ```
    /// use concurrent_futures::{ProcessPoolExecutor, WhenFull};
    /// let pool = ProcessPoolExecutor::builder().queue_capacity(4).when_full(WhenFull::Fail).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn when_full(mut self, policy: WhenFull) -> Self {
        self.when_full = policy;
        self
    }

    /// Makes the handshake send an identity no executable has (tests of the refusal path).
    ///
    /// Exists only with the `test-hooks` feature, for the crate's own tests: not part of the API.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __bogus_image_for_tests(mut self) -> Self {
        self.bogus_image = true;
        self
    }

    /// Starts workers from `program` instead of the running executable (tests of the path
    /// where no worker can be started).
    ///
    /// Exists only with the `test-hooks` feature, for the crate's own tests: not part of the API.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __worker_program_for_tests(mut self, program: impl Into<std::path::PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Creates the pool. No process starts until the first task needs one.
    ///
    /// # Errors
    ///
    /// [`ProcessPoolError::InvalidArgument`] for `max_workers(0)`, `max_tasks_per_child(0)`,
    /// `queue_capacity(0)`, a zero `task_timeout` or `startup_timeout`, or a retry policy of 0
    /// attempts;
    /// [`ProcessPoolError::MissingEntryHook`] if the worker entry hook is not linked in;
    /// [`ProcessPoolError::Setup`] if the manager thread, its poller or the executable's
    /// identity cannot be had, or the initializer cannot be sent.
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    /// let err = ProcessPoolExecutor::builder().max_workers(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "max_workers must be greater than 0");
    /// ```
    pub fn build(self) -> Result<ProcessPoolExecutor, ProcessPoolError> {
        let max_workers = self.max_workers.unwrap_or_else(num_cpus::get);
        if max_workers == 0 {
            return Err(InvalidArgument("max_workers must be greater than 0").into());
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(InvalidArgument("max_tasks_per_child must be >= 1").into());
        }
        if self.startup_timeout == Some(Duration::ZERO) {
            return Err(InvalidArgument("startup_timeout must be greater than 0").into());
        }
        if self.task_timeout == Some(Duration::ZERO) {
            return Err(InvalidArgument("task_timeout must be greater than 0").into());
        }
        if self.retry.is_some_and(|p| p.max_attempts() == 0) {
            return Err(InvalidArgument("a retry policy needs at least 1 attempt").into());
        }
        let startup_timeout = self
            .startup_timeout
            .unwrap_or(DEFAULT_STARTUP_TIMEOUT)
            .min(self.task_timeout.unwrap_or(Duration::MAX));
        let capacity = Capacity::new(self.queue_capacity, self.when_full)?;
        if !role::hook_ran() {
            return Err(ProcessPoolError::MissingEntryHook);
        }
        let initializer = self
            .initializer
            .transpose()
            .map_err(ProcessPoolError::Setup)?;
        let image = if self.bogus_image {
            image::ImageId::bogus().as_bytes().to_vec()
        } else {
            manager::image_id().map_err(ProcessPoolError::Setup)?
        };
        let poll = mio::Poll::new().map_err(|e| ProcessPoolError::Setup(e.to_string()))?;
        let waker = mio::Waker::new(poll.registry(), mio::Token(usize::MAX))
            .map_err(|e| ProcessPoolError::Setup(e.to_string()))?;
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let name = format!("ProcessPoolExecutor-{n}");
        let shared = Arc::new(ProcessPoolShared::new(
            ProcessPoolConfig {
                max_workers,
                max_tasks_per_child: self.max_tasks_per_child.map(|n| n as u64),
                task_timeout: self.task_timeout,
                startup_timeout,
                cancel_grace: self.cancel_grace.unwrap_or(DEFAULT_CANCEL_GRACE),
                break_on_worker_death: self.break_on_worker_death,
                retry: self.retry,
                initializer,
                image,
                program: match self.program {
                    Some(program) => program,
                    None => crate::os::executable_path()
                        .map_err(|e| ProcessPoolError::Setup(e.to_string()))?,
                },
                name: name.clone(),
            },
            waker,
        ));
        shared.intake().set_capacity(capacity);
        let manager = Manager::new(Arc::clone(&shared), poll);
        std::thread::Builder::new()
            .name(format!("{name}-manager"))
            .spawn(move || manager.run())
            .map_err(|e| ProcessPoolError::Setup(e.to_string()))?;
        Ok(ProcessPoolExecutor { shared })
    }
}

impl ProcessPoolExecutor {
    /// A pool of at most `max_workers` processes (Python's `ProcessPoolExecutor(max_workers)`).
    ///
    /// # Errors
    ///
    /// As [`ProcessPoolBuilder::build`]; `0` workers is an error.
    ///
    /// ```
    /// let pool = concurrent_futures::ProcessPoolExecutor::new(2).unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn new(max_workers: usize) -> Result<Self, ProcessPoolError> {
        Self::builder().max_workers(max_workers).build()
    }

    /// A builder with Python's defaults.
    ///
    /// ```
    /// let pool = concurrent_futures::ProcessPoolExecutor::builder().build().unwrap();
    /// assert_eq!(pool.max_workers(), num_cpus::get());
    /// ```
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }

    /// The most worker processes this pool runs at once.
    ///
    /// ```
    /// assert_eq!(concurrent_futures::ProcessPoolExecutor::new(3).unwrap().max_workers(), 3);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.config.max_workers
    }

    /// The process ids of the live workers (empty until the first task starts one).
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    /// fn pid(_: ()) -> u32 { std::process::id() }
    /// let pool = ProcessPoolExecutor::new(1).unwrap();
    /// assert!(pool.worker_pids().is_empty());
    /// let p = *pool.submit(pid, ()).unwrap().result(None).unwrap();
    /// assert_eq!(pool.worker_pids(), [p]);
    /// ```
    pub fn worker_pids(&self) -> Vec<u32> {
        self.shared.pids()
    }

    /// Starts every worker process the pool may run and waits until each has answered the
    /// handshake and run the initializer (see [`Executor::start_workers`]). Without it,
    /// workers start as tasks arrive, and the first task on each pays for starting a process
    /// (about a millisecond).
    ///
    /// Blocks until every worker is ready, with no timeout. In async code that stalls the
    /// runtime's thread: call it before the runtime starts, or inside
    /// `tokio::task::spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Shutdown`] after `shutdown`, [`SubmitError::Broken`] if a worker refused
    /// the handshake, died while starting, or its initializer failed, [`SubmitError::Spawn`]
    /// if a process could not be started.
    ///
    /// ```
    /// let pool = concurrent_futures::ProcessPoolExecutor::new(2).unwrap();
    /// pool.start_workers().unwrap();
    /// assert_eq!(pool.worker_pids().len(), 2);
    /// ```
    pub fn start_workers(&self) -> Result<(), SubmitError> {
        self.shared.start_workers()
    }

    /// Schedules `f(arg)` in a worker process and returns its future (Python's `submit`).
    ///
    /// Does not block: the argument is encoded here and queued; a worker process is started
    /// by the pool's manager when none is free. (With a
    /// [`queue_capacity`](ProcessPoolBuilder::queue_capacity) and a full queue it does what the
    /// pool's [`WhenFull`] says.) If the argument cannot be encoded, the future is returned
    /// already failed with [`FutureError::Serialization`].
    ///
    /// # Errors
    ///
    /// [`SubmitError::Shutdown`] after `shutdown`, [`SubmitError::Broken`] if the pool broke,
    /// [`SubmitError::NotPortable`] if `f` is not linked into the executable,
    /// [`SubmitError::Full`] if the queue is full and the policy says to fail.
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    /// fn shout(s: String) -> String { s.to_uppercase() }
    /// let pool = ProcessPoolExecutor::new(1).unwrap();
    /// let f = pool.submit(shout, "br".to_string()).unwrap();
    /// assert_eq!(f.result(None).unwrap(), "BR");
    /// ```
    ///
    /// A closure that captures is refused at compile time: it cannot be named in another
    /// process (rustc: "closures can only be coerced to `fn` types if they do not capture
    /// any variables").
    ///
    /// ```compile_fail
    /// let pool = concurrent_futures::ProcessPoolExecutor::new(1).unwrap();
    /// let offset = 10;
    /// pool.submit(move |n: i32| n + offset, 1);
    /// ```
    pub fn submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, SubmitError> {
        outbox::submit_one(&*self.shared, f, arg, Admit::Policy, None, None)
            .map_err(SubmitError::from)
    }

    /// Schedules `f(arg)` in a worker process under `token` (see
    /// [`Executor::submit_cancellable`]): cancelling the token cancels the task while it is
    /// queued; once it runs, the request reaches the worker process, where the task's
    /// [`CancelToken::current`](crate::CancelToken::current) turns cancelled, and its
    /// `Err(Cancelled)` ends the future as cancelled. A task that has not returned
    /// [`cancel_grace`](ProcessPoolBuilder::cancel_grace) after the request is killed with its
    /// worker, and its future ends as cancelled too.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    ///
    /// ```
    /// use concurrent_futures::{CancelToken, Cancelled, FutureError, ProcessPoolExecutor};
    /// fn step(n: u32) -> Result<u32, Cancelled> {
    ///     CancelToken::current().check()?;
    ///     Ok(n + 1)
    /// }
    /// let pool = ProcessPoolExecutor::new(1).unwrap();
    /// let token = CancelToken::new();
    /// assert_eq!(pool.submit_cancellable(&token, step, 1).unwrap().result(None), Ok(&2));
    /// token.cancel();
    /// let f = pool.submit_cancellable(&token, step, 2).unwrap();
    /// assert_eq!(f.result(None), Err(FutureError::Cancelled));
    /// ```
    pub fn submit_cancellable<A: Payload, R: Payload>(
        &self,
        token: &CancelToken,
        f: fn(A) -> Result<R, Cancelled>,
        arg: A,
    ) -> Result<Future<R>, SubmitError> {
        outbox::submit_cancellable(&*self.shared, token, f, arg)
    }

    /// [`submit`](Self::submit) that never blocks and never runs the task here (see
    /// [`Executor::try_submit`]).
    ///
    /// # Errors
    ///
    /// [`TrySubmitError`] holding `arg`: [`SubmitError::Full`] when the queue holds its
    /// `queue_capacity` tasks, or an error of `submit`.
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    /// fn double(n: i32) -> i32 { n * 2 }
    /// let pool = ProcessPoolExecutor::new(1).unwrap();
    /// assert_eq!(pool.try_submit(double, 21).unwrap().result(None), Ok(&42));
    /// ```
    pub fn try_submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, TrySubmitError<A>> {
        outbox::submit_one(&*self.shared, f, arg, Admit::Try, None, None)
    }

    /// `f` over every item in worker processes, results in input order (Python's `map`).
    ///
    /// [`map_with`](Self::map_with) with default options (one item per task); use
    /// `MapOptions::chunksize` for many small items.
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    /// fn cube(n: i64) -> i64 { n * n * n }
    /// let pool = ProcessPoolExecutor::new(2).unwrap();
    /// let cubes: Vec<i64> = pool.map(cube, 1..=3).map(Result::unwrap).collect();
    /// assert_eq!(cubes, [1, 8, 27]);
    /// ```
    pub fn map<'a, I, R>(&self, f: fn(I::Item) -> R, items: I) -> Map<'a, R>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Payload,
        R: Payload,
    {
        outbox::map_with(Arc::clone(&self.shared), f, items, ValidMapOptions::DEFAULT)
    }

    /// `f` over every item, results in input order, with Python's `timeout`, `chunksize` and
    /// `buffersize`.
    ///
    /// With `chunksize(n)`, each task carries `n` items and returns their `n` results, which
    /// is what makes many small items fast. Each item is still caught on its own: a panic or
    /// an unencodable result fails that item only. A worker that dies in the middle of a chunk
    /// takes the whole chunk with it: every item of that chunk yields
    /// [`FutureError::WorkerDied`] (the pool cannot know which item killed it). `buffersize`
    /// counts tasks, so at most `buffersize × chunksize` items are in flight. See [`Map`] for
    /// the iteration rules (errors at their position, deadline from the call, drop cancels).
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] for `buffersize(0)` or `chunksize(0)`.
    ///
    /// ```
    /// use concurrent_futures::{MapOptions, ProcessPoolExecutor};
    /// fn inc(n: u32) -> u32 { n + 1 }
    /// let pool = ProcessPoolExecutor::new(2).unwrap();
    /// let total: u32 = pool
    ///     .map_with(inc, 0..1000, MapOptions::new().chunksize(100))
    ///     .unwrap()
    ///     .map(Result::unwrap)
    ///     .sum();
    /// assert_eq!(total, 500_500);
    /// ```
    pub fn map_with<'a, I, R>(
        &self,
        f: fn(I::Item) -> R,
        items: I,
        options: MapOptions,
    ) -> Result<Map<'a, R>, InvalidArgument>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Payload,
        R: Payload,
    {
        Ok(outbox::map_with(
            Arc::clone(&self.shared),
            f,
            items,
            options.validate()?,
        ))
    }

    /// Stops accepting work (Python's `shutdown(wait, cancel_futures)`).
    ///
    /// With `cancel_futures`, every queued task not yet sent to a worker is cancelled. With
    /// `wait`, blocks, with no timeout, until every task not cancelled has finished and every
    /// worker process has exited and been reaped. Calling it again is harmless; it never
    /// fails. (Called from one of this pool's done-callbacks, which run on its manager thread,
    /// it does not wait.) In async code `wait = true` stalls the runtime's thread: call
    /// `shutdown(false, ..)` and await the futures you need, or call it inside
    /// `tokio::task::spawn_blocking`.
    ///
    /// ```
    /// use concurrent_futures::{ProcessPoolExecutor, SubmitError};
    /// fn id(n: u8) -> u8 { n }
    /// let pool = ProcessPoolExecutor::new(1).unwrap();
    /// let f = pool.submit(id, 7).unwrap();
    /// pool.shutdown(true, false);
    /// assert_eq!(f.result(None), Ok(&7));
    /// assert!(pool.worker_pids().is_empty());
    /// assert_eq!(pool.submit(id, 8).unwrap_err(), SubmitError::Shutdown);
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shared.shutdown(wait, cancel_futures);
    }

    /// Python 3.14's `terminate_workers`: shuts down, cancelling queued tasks, and sends
    /// `SIGTERM` to every worker. Tasks they were running fail with
    /// [`FutureError::WorkerDied`]. Does not wait; dropping the pool waits for the reaping.
    ///
    /// ```
    /// use concurrent_futures::{FutureError, ProcessPoolExecutor};
    /// fn nap(_: ()) { std::thread::sleep(std::time::Duration::from_secs(60)) }
    /// let pool = ProcessPoolExecutor::new(1).unwrap();
    /// let f = pool.submit(nap, ()).unwrap();
    /// while !f.running() { std::thread::yield_now() }
    /// pool.terminate_workers();
    /// assert!(matches!(f.result(None), Err(FutureError::WorkerDied(_))));
    /// ```
    pub fn terminate_workers(&self) {
        self.shared.shutdown(false, true);
        self.shared.signal_workers(libc::SIGTERM);
    }

    /// Python 3.14's `kill_workers`: as [`terminate_workers`](Self::terminate_workers) with
    /// `SIGKILL`, which a worker cannot catch or ignore.
    ///
    /// ```
    /// let pool = concurrent_futures::ProcessPoolExecutor::new(1).unwrap();
    /// pool.kill_workers();
    /// assert!(pool.submit(|n: u8| n, 1).is_err());
    /// ```
    pub fn kill_workers(&self) {
        self.shared.shutdown(false, true);
        self.shared.signal_workers(libc::SIGKILL);
    }
}

impl Executor for ProcessPoolExecutor {
    fn submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, SubmitError> {
        ProcessPoolExecutor::submit(self, f, arg)
    }

    fn submit_cancellable<A: Payload, R: Payload>(
        &self,
        token: &CancelToken,
        f: fn(A) -> Result<R, Cancelled>,
        arg: A,
    ) -> Result<Future<R>, SubmitError> {
        ProcessPoolExecutor::submit_cancellable(self, token, f, arg)
    }

    fn try_submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, TrySubmitError<A>> {
        ProcessPoolExecutor::try_submit(self, f, arg)
    }

    fn map<'a, I, R>(&self, f: fn(I::Item) -> R, items: I) -> Map<'a, R>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Payload,
        R: Payload,
    {
        ProcessPoolExecutor::map(self, f, items)
    }

    fn map_with<'a, I, R>(
        &self,
        f: fn(I::Item) -> R,
        items: I,
        options: MapOptions,
    ) -> Result<Map<'a, R>, InvalidArgument>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Payload,
        R: Payload,
    {
        ProcessPoolExecutor::map_with(self, f, items, options)
    }

    fn map_unordered_with<'a, I, R>(
        &'a self,
        f: fn(I::Item) -> R,
        items: I,
        options: MapOptions,
    ) -> Result<MapUnordered<'a, R>, InvalidArgument>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Payload,
        R: Payload,
    {
        Ok(outbox::map_unordered_with(
            &*self.shared,
            f,
            items,
            options.validate()?,
        ))
    }

    fn start_workers(&self) -> Result<(), SubmitError> {
        ProcessPoolExecutor::start_workers(self)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        ProcessPoolExecutor::shutdown(self, wait, cancel_futures);
    }
}

impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        // Map iterators share the queue but not this handle: the pool's end is the user's.
        self.shared.shutdown(true, false);
    }
}

impl fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolExecutor")
            .field("name", &self.shared.config.name)
            .field("max_workers", &self.shared.config.max_workers)
            .field("workers", &self.shared.pids().len())
            .field("finished", &self.shared.is_finished())
            .finish()
    }
}
