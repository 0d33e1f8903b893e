//! Python's [`concurrent.futures`](https://docs.python.org/3/library/concurrent.futures.html)
//! for Rust: [`Future`] handles, a [`ThreadPoolExecutor`] and a [`ProcessPoolExecutor`] behind
//! one [`Executor`] trait, ordered [`map`](Executor::map), [`as_completed`] and [`wait`].
//!
//! ```
//! use concurrent_futures::{as_completed, ThreadPoolExecutor};
//!
//! fn download_one(cc: &'static str) -> String {
//!     cc.to_lowercase() // stands in for an HTTP request
//! }
//!
//! let executor = ThreadPoolExecutor::new(3).unwrap();
//! // map: results in input order.
//! let flags: Vec<String> = executor.map(download_one, ["BR", "CN", "IN"]).map(Result::unwrap).collect();
//! assert_eq!(flags, ["br", "cn", "in"]);
//!
//! // submit + as_completed: results in completion order.
//! let futures: Vec<_> = ["BR", "CN", "IN"].map(|cc| executor.submit(download_one, cc).unwrap()).into();
//! for future in as_completed(futures, None) {
//!     let future = future.unwrap();
//!     println!("{future} result: {:?}", future.result(None).unwrap());
//! }
//! ```
//!
//! # `map` or `submit` + `as_completed`?
//!
//! Both run the same tasks on the same workers; they differ in when you see the results.
//!
//! - [`Executor::map`] submits every item at once and gives back an iterator that yields the
//!   results **in input order**. `next()` blocks until the next item *in order* is done, so a
//!   slow first item holds back results that are already finished behind it. Simple, and right
//!   when order matters or every result is needed anyway. `cargo run --example loiter` shows it:
//!   `loiter(1)` is done after 1 s, yet its result is printed only after `loiter(0)`'s.
//! - [`ThreadPoolExecutor::submit`] returns one [`Future`] per task, and [`as_completed`] yields
//!   those futures **in completion order**, the fastest first. More code, but you can react to
//!   each result as soon as it exists (update a progress bar, handle an error, keep a
//!   `HashMap<Future<T>, Input>` to know which input it was), and the futures can come from
//!   several executors. `cargo run --example loiter_as_completed` shows the same tasks this way.
//!
//! Errors follow the value: a task that panics makes its future fail with
//! [`FutureError::Panicked`] (message and location kept), `map` yields that error at the task's
//! position and goes on, and the worker thread survives.
//!
//! # From Python to Rust
//!
//! | Python `concurrent.futures` | this crate |
//! |---|---|
//! | `ThreadPoolExecutor(max_workers=3)` | [`ThreadPoolExecutor::new(3)`](ThreadPoolExecutor::new), or [`ThreadPoolExecutor::builder()`] |
//! | `thread_name_prefix=`, `initializer=` | [`ThreadPoolBuilder::thread_name_prefix`], [`ThreadPoolBuilder::initializer`] |
//! | `with ThreadPoolExecutor() as ex:` | a scope: dropping the pool is `shutdown(wait=True)` |
//! | `executor.submit(fn, arg)` | [`executor.submit(fn, arg)`](ThreadPoolExecutor::submit) → `Result<Future<R>, SubmitError>` |
//! | `executor.map(fn, items)` | [`executor.map(fn, items)`](ThreadPoolExecutor::map) → iterator of `Result<R, FutureError>` |
//! | `executor.map(fn, a, b)` | `executor.map(fn, a.zip(b))` with `fn` taking a tuple |
//! | `map(..., timeout=, buffersize=, chunksize=)` | [`map_with`](ThreadPoolExecutor::map_with) and [`MapOptions`] |
//! | `executor.shutdown(wait, cancel_futures=)` | [`executor.shutdown(wait, cancel_futures)`](ThreadPoolExecutor::shutdown) |
//! | `future.result(timeout)` | [`future.result(timeout)`](Future::result) → `Result<&T, FutureError>`; [`into_result`](Future::into_result) moves the value out |
//! | `future.exception(timeout)` | [`future.exception(timeout)`](Future::exception) → `Result<Option<FutureError>, FutureError>` |
//! | `done()`, `running()`, `cancelled()`, `cancel()` | [`done`](Future::done), [`running`](Future::running), [`cancelled`](Future::cancelled), [`cancel`](Future::cancel) |
//! | `future.add_done_callback(fn)` | [`future.add_done_callback(fn)`](Future::add_done_callback) |
//! | `Future()`, `set_result`, `set_exception` | [`Future::new`], [`Future::set_result`], [`Future::set_exception`] |
//! | `as_completed(fs, timeout)` | [`as_completed(fs, timeout)`](as_completed) → iterator of `Result<Future<T>, TimeoutError>` |
//! | `wait(fs, timeout, return_when=FIRST_COMPLETED)` | [`wait(fs, timeout, ReturnWhen::FirstCompleted)`](wait) → [`DoneAndNotDone`]: two [`FutureSet`]s, in input order |
//! | `CancelledError`, `TimeoutError` | [`FutureError::Cancelled`], [`FutureError::Timeout`] (and [`TimeoutError`] from `as_completed`) |
//! | an exception raised by the task | [`FutureError::Panicked`]; a task's own `Result` is its value |
//! | `BrokenExecutor`, `BrokenThreadPool` | [`FutureError::BrokenExecutor`], [`SubmitError::Broken`] |
//! | `RuntimeError` on submit after shutdown | [`SubmitError::Shutdown`] |
//! | `InvalidStateError` | [`InvalidStateError`] |
//! | `ValueError` for bad arguments | [`InvalidArgument`] |
//! | `Executor` (the base class) | the [`Executor`] trait |
//! | `ProcessPoolExecutor(max_workers, initializer=, initargs=, max_tasks_per_child=)` | [`ProcessPoolExecutor::new`], [`ProcessPoolExecutor::builder`] with [`initializer(f, arg)`](ProcessPoolBuilder::initializer), [`max_tasks_per_child`](ProcessPoolBuilder::max_tasks_per_child) |
//! | `BrokenProcessPool` | opt-in: [`break_on_worker_death`](ProcessPoolBuilder::break_on_worker_death); by default only the dead worker's task fails, with [`FutureError::WorkerDied`] |
//! | `terminate_workers()`, `kill_workers()` (3.14) | [`terminate_workers`](ProcessPoolExecutor::terminate_workers), [`kill_workers`](ProcessPoolExecutor::kill_workers) |
//! | (none: Python starts workers on demand) | [`Executor::start_workers`]: start every worker now and wait until each is ready |
//! | `PicklingError` | [`FutureError::Serialization`] |
//! | (none: `cancel()` only stops pending work) | [`CancelToken`], [`submit_cancellable`](Executor::submit_cancellable), a task returning [`Cancelled`] |
//! | (none: the queue is unbounded) | `queue_capacity(n)` + [`WhenFull`] on the builders, [`try_submit`](Executor::try_submit) |
//!
//! # Threads or processes, behind one trait
//!
//! The [`Executor`] trait is the book's one-line switch: a function written as
//! `fn download_many(ex: &impl Executor, ..)` takes either pool, and their futures mix in
//! [`as_completed`] and [`wait`].
//!
//! ```
//! # #[cfg(all(unix, feature = "process-pool"))] {
//! use concurrent_futures::{Executor, ProcessPoolExecutor, ThreadPoolExecutor};
//!
//! fn square(n: u64) -> u64 {
//!     n * n
//! }
//!
//! fn sum_of_squares(ex: &impl Executor) -> u64 {
//!     ex.map(square, 0..10).map(Result::unwrap).sum()
//! }
//!
//! let threads = ThreadPoolExecutor::new(2).unwrap();
//! let processes = ProcessPoolExecutor::new(2).unwrap(); // the one line that changes
//! assert_eq!(sum_of_squares(&threads), sum_of_squares(&processes));
//! # }
//! ```
//!
//! Through the trait the function is a plain `fn` (no captures: a capturing closure does not
//! compile) and values are [`Payload`]s (serde, sent as postcard), because the process pool
//! runs them in another process. On a concrete [`ThreadPoolExecutor`] the inherent methods take
//! any closure and any `Send` value.
//!
//! **When to pick which.** In Rust there is no GIL: threads run CPU-bound work in parallel, so
//! the thread pool is the default for everything. Pick the process pool to isolate work that
//! may crash, abort, leak or hang (a dead worker fails only its own task and is replaced, no
//! task runs twice, and a per-task time limit kills runaway work), or to contain native code
//! you do not trust. The
//! price is serialization and a round trip per task (about 8 µs, against 0.5 µs on threads),
//! so send coarse tasks or use `map` with a `chunksize`.
//!
//! **The entry hook.** Worker processes are fresh copies of the running executable, never
//! `fork`s. They need no line in `main`: a constructor that runs before `main` in every
//! executable linking this crate turns a process the pool started into a worker, so neither your
//! `main`, nor a test harness, nor a bench harness runs there; examples, `tests/` and `benches/`
//! work unchanged. Each worker checks that it runs the parent's exact executable image before it
//! resolves any function. Details: `src/process_pool/README.md`.
//!
//! **Across machines.** `MpiPoolExecutor` (cargo feature `mpi`, needs an MPI library such as
//! Debian's `libopenmpi-dev`) runs tasks on the other ranks of an MPI job, on one machine or
//! many, through the same trait and the same [`Future`]. Launch the program as
//! `mpirun -n N ./app`: rank 0 runs `main`, the same entry hook makes ranks 1..N-1 serve tasks
//! before `main` (no line needed), every rank proves it runs rank 0's executable, and rank 0
//! releases them when it exits. A panic is that future's error; a rank that dies makes `mpirun`
//! end the whole job (no fault tolerance), so nothing hangs. A rank that stops answering (its
//! host vanished from the network, its process froze) is found by rank 0 within a liveness
//! timeout (10 s by default; ranks answer pings while their tasks run): its tasks fail with an
//! error naming the rank and its host, and rank 0 aborts the job when `main` ends. Every error
//! that names a rank names its host. `docs/mpi.md` has the launch commands, what each failure
//! looks like, the liveness settings and the figures.
//!
//! # Cargo features and platforms
//!
//! | | Linux, macOS, FreeBSD (Unix) | Windows and other non-Unix targets |
//! |---|---|---|
//! | [`Future`], [`ThreadPoolExecutor`], `map`, `map_unordered`, [`as_completed`], [`wait`], `.await`, `scope` | always | always |
//! | [`Executor`], [`Payload`] | feature `process-pool` (default) | feature `process-pool` (default) |
//! | [`ProcessPoolExecutor`] and the entry hook | feature `process-pool` (default) | absent: no Windows transport yet |
//! | `MpiPoolExecutor` | feature `mpi` (implies `process-pool`) | absent |
//!
//! - **`process-pool`** (default) brings the [`Executor`] trait with its serde bound
//!   [`Payload`], and on Unix the process pool with the entry hook that runs before `main`.
//!   With `default-features = false` the crate is the futures and the thread pool only: no
//!   code runs before `main`, and `ctor`, `libc`, `mio`, `postcard` and `serde` are not
//!   dependencies. On Windows the feature builds the trait (implemented by the thread pool)
//!   without the process pool, so code written against [`Executor`] compiles everywhere.
//! - **`mpi`** adds `MpiPoolExecutor` on Unix. docs.rs cannot build it (it needs a system MPI
//!   library), so its API reference is not there: `cargo doc --features mpi --open` builds it
//!   locally, and the section above describes it.
//!
//! # Beyond Python: `.await`, scoped tasks, `map_unordered`
//!
//! - **`.await` a [`Future`]** from any async runtime: `future.await` moves the value out
//!   (`Result<T, FutureError>`), `(&future).await` borrows it. The awaiting task's waker sits in
//!   the future's own waiter list, so blocking work goes to the pool and async code awaits it
//!   without a blocked thread (Python needs `asyncio.wrap_future`). See [`Await`].
//! - **Scoped tasks** with [`ThreadPoolExecutor::scope`]: tasks borrow from the caller's stack,
//!   and `scope` returns only once all of them have ended, as `std::thread::scope` does, but on
//!   the pool's threads and with ordinary [`Future`]s. See [`Scope`].
//! - **[`map_unordered`](Executor::map_unordered)**: `map` with results in completion order
//!   (a `map` and an [`as_completed`] in one call), with the same `buffersize`, timeout and
//!   cancel-on-drop, on every executor. See [`MapUnordered`].
//!
//! ```
//! use concurrent_futures::ThreadPoolExecutor;
//! let pool = ThreadPoolExecutor::new(2).unwrap();
//!
//! // Await from async code (here the minimal `futures::executor`; tokio works the same).
//! let f = pool.spawn(|| 21 * 2).unwrap();
//! assert_eq!(futures::executor::block_on(async { f.await }), Ok(42));
//!
//! // Borrow from the stack.
//! let data = [1u32, 2, 3, 4];
//! let total: u32 = pool.scope(|s| {
//!     let halves: Vec<_> = data.chunks(2).map(|c| s.spawn(move || c.iter().sum::<u32>()).unwrap()).collect();
//!     halves.into_iter().map(|h| h.into_result().unwrap()).sum()
//! });
//! assert_eq!(total, 10);
//!
//! // Results as they finish.
//! let mut squares: Vec<u32> = pool.map_unordered(|n: u32| n * n, 1..=4).map(Result::unwrap).collect();
//! squares.sort();
//! assert_eq!(squares, [1, 4, 9, 16]);
//! ```
//!
//! # Stopping running work, and bounded queues (beyond Python)
//!
//! Python's `cancel()` stops only pending tasks, and every pool's queue is unbounded. Here:
//!
//! - **[`CancelToken`]** (.NET's `CancellationToken`): submit with
//!   [`submit_cancellable`](Executor::submit_cancellable) (any executor),
//!   [`spawn_cancellable`](ThreadPoolExecutor::spawn_cancellable),
//!   [`Scope::spawn_cancellable`] or a `map` with [`MapOptions::cancel_token`]. The task reads
//!   its token with [`CancelToken::current`], checks or sleeps on it, and returns
//!   `Err(`[`Cancelled`]`)` to stop; its future then ends as cancelled, which `wait`,
//!   `as_completed`, callbacks and `.await` see like any cancel. Cancelling a token cancels its
//!   pending tasks at once. [`MapOptions::cancel_running`] makes dropping a `map` iterator (or
//!   its timeout) stop the running items too.
//! - **Back-pressure**: `queue_capacity(n)` and [`WhenFull`] on every builder (block, block for
//!   a while, fail with [`SubmitError::Full`], or run the task in the caller), and `try_submit`,
//!   which never blocks and hands the task back in a [`TrySubmitError`].
//!
//! ```
//! use concurrent_futures::{CancelToken, Cancelled, FutureError, ThreadPoolExecutor, WhenFull};
//! use std::time::Duration;
//!
//! let pool = ThreadPoolExecutor::builder()
//!     .max_workers(2)
//!     .queue_capacity(100)
//!     .when_full(WhenFull::Block)
//!     .build()
//!     .unwrap();
//! let token = CancelToken::new();
//! let watch = pool
//!     .spawn_cancellable(&token, || -> Result<u32, Cancelled> {
//!         let token = CancelToken::current();
//!         let mut polls = 0;
//!         loop {
//!             token.sleep(Duration::from_millis(10))?; // a cancel wakes this at once
//!             polls += 1;
//!         }
//!     })
//!     .unwrap();
//! token.cancel();
//! assert_eq!(watch.result(None), Err(FutureError::Cancelled));
//! ```
//!
//! # Waiting inside a worker
//!
//! Python deadlocks when a task waits for another task of the same, saturated pool. Here, a
//! worker thread that waits with no timeout (via [`Future::result`], [`wait`] or
//! [`as_completed`]) on a future of its own pool that no worker has started runs that task
//! itself, right there; a task that waits on its own future gets [`FutureError::Deadlock`].
//! Waits with a timeout behave as in Python. Cycles across workers (A waits for B while B waits
//! for A, both running) are not detected.
//!
//! # Panics and logging
//!
//! Task panics are values: the crate installs a chained panic hook (once) that records the
//! location of panics it is catching and keeps them off stderr; other panics reach the previous
//! hook. Panicking done-callbacks are caught and logged with the [`log`](https://docs.rs/log)
//! crate (target `concurrent_futures`), as Python logs them. With `panic = "abort"` a task panic
//! aborts the process, as anywhere else.

#![deny(missing_docs, missing_debug_implementations)]
#![warn(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Without the process pool the crate docs still mention it (and the trait); those names render
// as plain text instead of links.
#![cfg_attr(
    not(all(unix, feature = "process-pool")),
    allow(rustdoc::broken_intra_doc_links)
)]

mod as_completed;
mod backpressure;
mod cancel;
#[cfg(all(unix, feature = "process-pool"))]
mod entry;
mod error;
#[cfg(feature = "process-pool")]
mod executor;
mod future;
mod future_set;
mod identity;
mod map;
mod map_unordered;
#[cfg(all(unix, feature = "mpi"))]
mod mpi_pool;
#[cfg(all(unix, feature = "process-pool"))]
mod os;
mod panic;
#[cfg(all(unix, feature = "process-pool"))]
mod process_pool;
#[cfg(all(unix, feature = "process-pool"))]
mod remote;
mod retry;
mod sync;
#[cfg(test)]
mod test_support;
mod thread_pool;
mod wait;

pub use crate::as_completed::{as_completed, AsCompleted};
pub use crate::backpressure::{TrySubmitError, WhenFull};
pub use crate::cancel::{CancelToken, Cancellation, Cancelled};
#[cfg(all(unix, feature = "mpi"))]
pub use crate::error::MpiPoolError;
#[cfg(all(unix, feature = "process-pool"))]
pub use crate::error::ProcessPoolError;
pub use crate::error::{
    BrokenExecutor, FutureError, InvalidArgument, InvalidStateError, PanicLocation, SubmitError,
    TimeoutError, WorkerExit,
};
#[cfg(feature = "process-pool")]
pub use crate::executor::{Executor, Payload};
pub use crate::future::{Await, AwaitRef, Future, FutureState};
pub use crate::future_set::FutureSet;
pub use crate::map::{Map, MapOptions};
pub use crate::map_unordered::MapUnordered;
#[cfg(all(unix, feature = "mpi"))]
pub use crate::mpi_pool::{MpiPoolBuilder, MpiPoolExecutor};
#[cfg(all(unix, feature = "process-pool"))]
pub use crate::process_pool::{ProcessPoolBuilder, ProcessPoolExecutor};
pub use crate::retry::RetryPolicy;
pub use crate::thread_pool::{Scope, ThreadPoolBuilder, ThreadPoolExecutor};
pub use crate::wait::{wait, DoneAndNotDone, ReturnWhen};

/// The README's Rust snippets, compiled and run as doctests. The README shows the default
/// build on Unix, process pool included.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, unix, feature = "process-pool"))]
pub struct ReadmeDoctests;
