//! `MpiPoolExecutor` (feature `mpi`): the process pool's tasks, frames and function naming,
//! carried by MPI messages between the ranks of one `mpirun` job instead of a local socket.
//!
//! - `rank`: the entry hook's MPI half (what a rank does before `main`).
//! - `worker_rank`: ranks 1..N-1, the worker loop (before `main`): tasks on the main thread,
//!   MPI on a communication thread that answers rank 0's pings while a task runs.
//! - `comm`: rank 0, the communication thread and each executor's session state.
//! - `liveness`: the ping protocol and the verdict that a rank is lost; host names.
//! - `backoff`: the idle back-off of every MPI loop.
//!
//! The calls, frames and function naming are the shared `remote` layer's; this folder holds
//! only the MPI transport.

mod backoff;
mod comm;
mod liveness;
mod rank;
mod worker_rank;

pub(crate) use self::rank::enter_rank;

use self::comm::MpiSession;
use crate::backpressure::{Admit, Capacity, TrySubmitError, WhenFull};
use crate::cancel::{CancelToken, Cancelled};
#[cfg(doc)]
use crate::error::FutureError; // for the docs' links
use crate::error::{InvalidArgument, MpiPoolError, SubmitError};
use crate::executor::{Executor, Payload};
use crate::future::Future;
use crate::map::{Map, MapOptions, ValidMapOptions};
use crate::map_unordered::MapUnordered;
use crate::remote::frame::{Call, ToWorker, PROTOCOL};
use crate::remote::image::{self, ImageId};
use crate::remote::outbox::{self, Outbox};
use crate::remote::role;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The MPI tag of every message between rank 0 and the worker ranks.
const TAG: mpi::Tag = 0x4346;

/// A pool whose workers are the other ranks of an MPI job (mpi4py's `MPIPoolExecutor`, in the
/// `python -m mpi4py.futures` launch mode). Unix, feature `mpi`.
///
/// Launch the program with `mpirun -n N ./app` (N >= 2). Rank 0 runs `main`, where this
/// executor sends tasks to ranks 1..N-1; those ranks never run `main`: the crate's entry hook,
/// which also starts process-pool workers, sees the rank `mpirun` put in their environment and
/// makes them serve tasks until rank 0 exits. No line in `main` is needed.
///
/// - **Same API**: it implements [`Executor`] and returns the same [`Future`], so its futures
///   mix with thread- and process-pool futures in [`as_completed`](crate::as_completed) and
///   [`wait`](crate::wait). Functions are plain `fn`s, values are [`Payload`]s (serde), as for
///   [`ProcessPoolExecutor`](crate::ProcessPoolExecutor), and they cross the same way:
///   offsets in the executable plus a monomorphized trampoline, after every rank proved in a
///   handshake that it runs the same executable image as rank 0 (a mismatch is
///   [`MpiPoolError::ImageMismatch`] from [`build`](MpiPoolBuilder::build)).
/// - **Failures**: a panic is that future's [`FutureError::Panicked`], and the rank serves on.
///   A rank that *dies* (a signal, `abort`, `process::exit` in a task) is not survivable under
///   MPI: `mpirun` notices, kills every rank including rank 0, and exits non-zero with a
///   message naming the rank and the signal or exit status. Rank 0 never hangs on a dead
///   rank, but its futures are not failed one by one either: the whole job ends.
/// - **Lost ranks**: a rank whose host vanishes from the network (no reset, so MPI itself
///   notices nothing) or whose process freezes is found by rank 0 within the liveness timeout
///   ([`MpiPoolBuilder::liveness_timeout`], 10 s by default). Each rank answers rank 0's pings
///   from a thread that never runs tasks, so a task of any length is never taken for a lost
///   rank. Rank 0 then prints which rank and host it lost, fails that rank's tasks and the
///   queued ones with [`FutureError::BrokenExecutor`] naming both (tasks running on the other
///   ranks finish), refuses new work and new executors ([`MpiPoolError::RankLost`]), and
///   when `main` ends it aborts the job at once (`MPI_Abort`, error code 69), since
///   `MPI_Finalize` would wait for the lost rank forever. `mpirun` then ends every process it
///   can reach; Open MPI 4.1's `mpirun` itself returns only once TCP gives up on the lost
///   host's daemon (about 16 minutes with Linux's default `net.ipv4.tcp_retries2 = 15`).
///   Every error that names a rank also names its host.
/// - **One at a time**: the worker ranks serve one executor at a time; building a second while
///   the first is open is [`MpiPoolError::Busy`] (a shut-down one may still be finishing: the
///   new one waits for it). Done-callbacks run on rank 0's communication thread.
/// - **At exit** rank 0 lets running tasks finish, tells the ranks to exit, waits until each
///   said goodbye (a rank lost meanwhile is found within the liveness timeout) and finalizes
///   MPI, so the job ends cleanly when `main` returns or calls `process::exit`.
/// - **Dropping** the executor is `shutdown(wait = true)`: it waits for every task not
///   cancelled. In async code that wait stalls the runtime's thread: drop it inside
///   `tokio::task::spawn_blocking`.
/// - **The feature claims the job**: with `mpi` on, every rank but 0 of any `mpirun` launch of
///   the program serves this pool, and the crate owns MPI's initialization; a program that
///   also uses MPI directly should not enable the feature.
///
/// ```no_run
/// // mpirun --oversubscribe -n 3 target/release/examples/app
/// use concurrent_futures::{Executor, MpiPoolExecutor};
///
/// fn is_prime(n: u64) -> bool {
///     n > 1 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
/// }
///
/// let pool = MpiPoolExecutor::new().unwrap();
/// let primes: Vec<bool> = pool.map(is_prime, [2, 9, 97]).map(Result::unwrap).collect();
/// assert_eq!(primes, [true, false, true]);
/// ```
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "mpi"))))]
pub struct MpiPoolExecutor {
    shared: Arc<MpiSession>,
}

/// Configures an [`MpiPoolExecutor`] (Python's `initializer`/`initargs`). Unix, feature `mpi`.
///
/// ```no_run
/// use concurrent_futures::MpiPoolExecutor;
/// fn setup(level: u8) { std::env::set_var("LEVEL", level.to_string()) }
/// let pool = MpiPoolExecutor::builder().initializer(setup, 3).build().unwrap();
/// # drop(pool);
/// ```
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "mpi"))))]
#[must_use]
#[derive(Default)]
pub struct MpiPoolBuilder {
    initializer: Option<Result<(image::Portable, Vec<u8>), String>>,
    liveness_timeout: Option<Duration>,
    bogus_image: bool,
    queue_capacity: Option<usize>,
    when_full: WhenFull,
}

impl fmt::Debug for MpiPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpiPoolBuilder")
            .field("initializer", &self.initializer.is_some())
            .field("liveness_timeout", &self.liveness_timeout)
            .field("queue_capacity", &self.queue_capacity)
            .field("when_full", &self.when_full)
            .finish()
    }
}

impl MpiPoolBuilder {
    /// Runs `init(arg)` on every worker rank before this executor's first task (Python's
    /// `initializer` and `initargs`). If it panics on any rank, the executor is broken: every
    /// submission fails with [`SubmitError::Broken`].
    ///
    /// ```no_run
    /// use concurrent_futures::MpiPoolExecutor;
    /// fn setup(level: u8) { std::env::set_var("LEVEL", level.to_string()) }
    /// fn level(_: ()) -> String { std::env::var("LEVEL").unwrap() }
    /// let pool = MpiPoolExecutor::builder().initializer(setup, 3).build().unwrap();
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

    /// How long rank 0 hears nothing from a worker rank before it declares the rank lost
    /// (at least 100 ms, and a longer one than a year counts as a year; default: the
    /// `CONCURRENT_FUTURES_MPI_LIVENESS_TIMEOUT` environment variable in seconds, else 10 s).
    /// It is in force from this executor's handshake until its last task ended.
    ///
    /// Rank 0 pings a rank that has been silent for a quarter of the timeout, and again every
    /// quarter; every result and every answer counts as a sign of life. A rank answers from a
    /// thread that never runs tasks, so long tasks are fine; only a vanished host or a frozen
    /// rank process misses the timeout. What happens then is
    /// [`MpiPoolError::RankLost`]: the rank's tasks fail, and the job is aborted at exit.
    /// A short timeout finds a lost rank sooner, but on an overloaded machine (or a rank 0
    /// whose done-callbacks run long) it risks declaring a live rank lost.
    ///
    /// ```no_run
    /// use concurrent_futures::MpiPoolExecutor;
    /// use std::time::Duration;
    /// let pool = MpiPoolExecutor::builder()
    ///     .liveness_timeout(Duration::from_secs(5))
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn liveness_timeout(mut self, timeout: Duration) -> Self {
        self.liveness_timeout = Some(timeout);
        self
    }

    /// At most `n` submitted tasks wait on rank 0 for the communication thread to send them
    /// to a rank (beyond mpi4py, whose queue is unbounded); a submit that finds `n` waiting
    /// does what [`when_full`](Self::when_full) says (by default it blocks until one is sent).
    /// `map` items are bounded by their own `buffersize` instead (see [`WhenFull`]). `0` is
    /// rejected by [`build`](Self::build).
    ///
    /// ```no_run
    /// let pool = concurrent_futures::MpiPoolExecutor::builder().queue_capacity(64).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = Some(n);
        self
    }

    /// What a submit does when the queue holds [`queue_capacity`](Self::queue_capacity) tasks
    /// (default [`WhenFull::Block`]). With [`WhenFull::CallerRuns`] the task runs on rank 0.
    ///
    /// ```no_run
    /// use concurrent_futures::{MpiPoolExecutor, WhenFull};
    /// let pool = MpiPoolExecutor::builder().queue_capacity(64).when_full(WhenFull::Fail).build().unwrap();
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

    /// Starts MPI on first use (on rank 0's communication thread) and shakes hands with every
    /// worker rank; blocks until they all answered (and, if a previous executor was shut
    /// down, until its last task finished), or until a rank that does not answer is declared
    /// lost (the liveness timeout; no other timeout). In async code that stalls the runtime's
    /// thread: build the executor before the runtime starts, or inside
    /// `tokio::task::spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`MpiPoolError::NotLaunched`] outside `mpirun`, [`MpiPoolError::NoWorkers`] with one
    /// rank, [`MpiPoolError::NotRankZero`] in a task, [`MpiPoolError::Busy`] while another
    /// executor is open, [`MpiPoolError::ImageMismatch`] if a rank runs another executable,
    /// [`MpiPoolError::RankLost`] if a rank was lost (now or earlier in the job),
    /// [`MpiPoolError::InvalidArgument`] for `queue_capacity(0)` or a liveness timeout under
    /// 100 ms (given here or in the environment), [`MpiPoolError::Setup`] if MPI or the
    /// initializer cannot be set up.
    ///
    /// ```
    /// use concurrent_futures::{MpiPoolError, MpiPoolExecutor};
    /// if MpiPoolExecutor::rank().is_none() {
    ///     let err = MpiPoolExecutor::builder().build().unwrap_err();
    ///     assert_eq!(err, MpiPoolError::NotLaunched);
    /// }
    /// ```
    pub fn build(self) -> Result<MpiPoolExecutor, MpiPoolError> {
        if !role::hook_ran() {
            return Err(MpiPoolError::MissingEntryHook);
        }
        let capacity = Capacity::new(self.queue_capacity, self.when_full)?;
        match role::rank() {
            None => return Err(MpiPoolError::NotLaunched),
            Some(0) => {}
            Some(rank) => {
                let host = liveness::host_name();
                return Err(MpiPoolError::NotRankZero { rank, host });
            }
        }
        let liveness = match self.liveness_timeout {
            Some(t) if t < liveness::MIN_LIVENESS_TIMEOUT => {
                return Err(InvalidArgument("liveness_timeout must be at least 100 ms").into())
            }
            Some(t) => t.min(liveness::MAX_LIVENESS_TIMEOUT),
            None => liveness::timeout_from_env()?.unwrap_or(liveness::DEFAULT_LIVENESS_TIMEOUT),
        };
        let initializer = self.initializer.transpose().map_err(MpiPoolError::Setup)?;
        let image = if self.bogus_image {
            ImageId::bogus().as_bytes().to_vec()
        } else {
            ImageId::current()
                .map_err(MpiPoolError::Setup)?
                .as_bytes()
                .to_vec()
        };
        let mut hello = Vec::new();
        ToWorker::Hello {
            protocol: PROTOCOL,
            image: &image,
            max_tasks: 0,
            initializer: initializer.as_ref().map(|(p, arg)| Call {
                trampoline: p.trampoline,
                function: p.function,
                input: arg,
            }),
        }
        .encode(&mut hello);
        let shared = comm::runtime()?.open(hello, liveness)?;
        shared.intake().set_capacity(capacity);
        Ok(MpiPoolExecutor { shared })
    }
}

impl MpiPoolExecutor {
    /// An executor on every worker rank of the job. Blocks, like
    /// [`build`](MpiPoolBuilder::build), until every rank answered the handshake.
    ///
    /// # Errors
    ///
    /// As [`MpiPoolBuilder::build`].
    ///
    /// ```no_run
    /// let pool = concurrent_futures::MpiPoolExecutor::new().unwrap();
    /// println!("{} worker ranks", pool.max_workers());
    /// ```
    pub fn new() -> Result<Self, MpiPoolError> {
        Self::builder().build()
    }

    /// A builder with Python's defaults.
    ///
    /// ```no_run
    /// let pool = concurrent_futures::MpiPoolExecutor::builder().build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn builder() -> MpiPoolBuilder {
        MpiPoolBuilder::default()
    }

    /// The MPI rank of the calling process if `mpirun` started it: `Some(0)` in `main`,
    /// `Some(1..)` inside a task; `None` in an ordinary process (and in processes a rank
    /// starts).
    ///
    /// ```
    /// use concurrent_futures::MpiPoolExecutor;
    /// match MpiPoolExecutor::rank() {
    ///     None => println!("not under mpirun"),
    ///     Some(rank) => println!("rank {rank}"),
    /// }
    /// ```
    pub fn rank() -> Option<u32> {
        role::rank()
    }

    /// The number of worker ranks (the job's size minus rank 0).
    ///
    /// ```no_run
    /// // mpirun -n 3 ./app
    /// assert_eq!(concurrent_futures::MpiPoolExecutor::new().unwrap().max_workers(), 2);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.workers()
    }

    /// Schedules `f(arg)` on a worker rank and returns its future (Python's `submit`).
    ///
    /// Does not block: the argument is encoded here and queued for the communication thread
    /// (with a [`queue_capacity`](MpiPoolBuilder::queue_capacity) and a full queue, it does
    /// what the pool's [`WhenFull`] says). If it cannot be encoded, the future is returned
    /// already failed with [`FutureError::Serialization`].
    ///
    /// # Errors
    ///
    /// [`SubmitError::Shutdown`] after `shutdown`, [`SubmitError::Broken`] if the pool broke,
    /// [`SubmitError::NotPortable`] if `f` is not linked into the executable,
    /// [`SubmitError::Full`] if the queue is full and the policy says to fail.
    ///
    /// ```no_run
    /// use concurrent_futures::MpiPoolExecutor;
    /// fn shout(s: String) -> String { s.to_uppercase() }
    /// let pool = MpiPoolExecutor::new().unwrap();
    /// assert_eq!(pool.submit(shout, "br".to_string()).unwrap().result(None).unwrap(), "BR");
    /// ```
    pub fn submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, SubmitError> {
        outbox::submit_one(&*self.shared, f, arg, Admit::Policy, None, None)
            .map_err(SubmitError::from)
    }

    /// Schedules `f(arg)` on a worker rank under `token` (see
    /// [`Executor::submit_cancellable`]). Cooperative only: cancelling the token cancels the
    /// task while it is queued on rank 0; once it runs, the request reaches its rank (whose
    /// communication thread listens while the task runs), and the task stops if it checks its
    /// token and returns `Err(Cancelled)`. A rank is never killed: under MPI that ends the whole job.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    ///
    /// ```no_run
    /// use concurrent_futures::{CancelToken, Cancelled, MpiPoolExecutor};
    /// fn step(n: u32) -> Result<u32, Cancelled> {
    ///     CancelToken::current().check()?;
    ///     Ok(n + 1)
    /// }
    /// let pool = MpiPoolExecutor::new().unwrap();
    /// let token = CancelToken::new();
    /// assert_eq!(pool.submit_cancellable(&token, step, 1).unwrap().result(None), Ok(&2));
    /// ```
    pub fn submit_cancellable<A: Payload, R: Payload>(
        &self,
        token: &CancelToken,
        f: fn(A) -> Result<R, Cancelled>,
        arg: A,
    ) -> Result<Future<R>, SubmitError> {
        outbox::submit_cancellable(&*self.shared, token, f, arg)
    }

    /// [`submit`](Self::submit) that never blocks and never runs the task on rank 0 (see
    /// [`Executor::try_submit`]).
    ///
    /// # Errors
    ///
    /// [`TrySubmitError`] holding `arg`: [`SubmitError::Full`] when the queue holds its
    /// `queue_capacity` tasks, or an error of `submit`.
    ///
    /// ```no_run
    /// use concurrent_futures::MpiPoolExecutor;
    /// fn double(n: i32) -> i32 { n * 2 }
    /// let pool = MpiPoolExecutor::new().unwrap();
    /// assert_eq!(pool.try_submit(double, 21).unwrap().result(None), Ok(&42));
    /// ```
    pub fn try_submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, TrySubmitError<A>> {
        outbox::submit_one(&*self.shared, f, arg, Admit::Try, None, None)
    }

    /// `f` over every item on the worker ranks, results in input order (Python's `map`).
    ///
    /// ```no_run
    /// use concurrent_futures::MpiPoolExecutor;
    /// fn cube(n: i64) -> i64 { n * n * n }
    /// let pool = MpiPoolExecutor::new().unwrap();
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
    /// `buffersize`; as [`ProcessPoolExecutor::map_with`](crate::ProcessPoolExecutor::map_with)
    /// (each item of a chunk is caught on its own).
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] for `buffersize(0)` or `chunksize(0)`.
    ///
    /// ```no_run
    /// use concurrent_futures::{MapOptions, MpiPoolExecutor};
    /// fn inc(n: u32) -> u32 { n + 1 }
    /// let pool = MpiPoolExecutor::new().unwrap();
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
    /// With `cancel_futures`, every task not yet sent to a rank is cancelled. With `wait`,
    /// blocks, with no timeout, until every task not cancelled has finished. Calling it again
    /// is harmless; it never fails. The worker ranks stay up for the next executor; they exit
    /// when rank 0 does. In async code `wait = true` stalls the runtime's thread: call
    /// `shutdown(false, ..)` and await the futures you need, or call it inside
    /// `tokio::task::spawn_blocking`.
    ///
    /// ```no_run
    /// use concurrent_futures::{MpiPoolExecutor, SubmitError};
    /// fn id(n: u8) -> u8 { n }
    /// let pool = MpiPoolExecutor::new().unwrap();
    /// let f = pool.submit(id, 7).unwrap();
    /// pool.shutdown(true, false);
    /// assert_eq!(f.result(None), Ok(&7));
    /// assert_eq!(pool.submit(id, 8).unwrap_err(), SubmitError::Shutdown);
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shared.shutdown(wait, cancel_futures);
    }
}

impl Executor for MpiPoolExecutor {
    fn submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, SubmitError> {
        MpiPoolExecutor::submit(self, f, arg)
    }

    fn submit_cancellable<A: Payload, R: Payload>(
        &self,
        token: &CancelToken,
        f: fn(A) -> Result<R, Cancelled>,
        arg: A,
    ) -> Result<Future<R>, SubmitError> {
        MpiPoolExecutor::submit_cancellable(self, token, f, arg)
    }

    fn try_submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, TrySubmitError<A>> {
        MpiPoolExecutor::try_submit(self, f, arg)
    }

    fn map<'a, I, R>(&self, f: fn(I::Item) -> R, items: I) -> Map<'a, R>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Payload,
        R: Payload,
    {
        MpiPoolExecutor::map(self, f, items)
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
        MpiPoolExecutor::map_with(self, f, items, options)
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

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        MpiPoolExecutor::shutdown(self, wait, cancel_futures);
    }
}

impl Drop for MpiPoolExecutor {
    fn drop(&mut self) {
        self.shared.shutdown(true, false);
    }
}

impl fmt::Debug for MpiPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpiPoolExecutor")
            .field("workers", &self.shared.workers())
            .field("finished", &self.shared.is_finished())
            .finish()
    }
}
