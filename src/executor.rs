//! The `Executor` trait every pool implements, so that switching pools is a one-line change.

use crate::backpressure::TrySubmitError;
use crate::cancel::{CancelToken, Cancelled};
use crate::error::{InvalidArgument, SubmitError};
use crate::future::Future;
use crate::map::{Map, MapOptions, ValidMapOptions};
use crate::map_unordered::MapUnordered;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A value any executor can carry: across threads, and across process or machine boundaries
/// (serialized with serde). Implemented for every type that meets the bounds. `Sync` is not
/// one of them: a value moves between threads, so `Send` is enough (reading it through
/// [`Future::result`], which lends it to any thread, is what asks for `Sync`). Feature
/// `process-pool` (default), on every platform.
///
/// ```
/// fn takes_payload<P: concurrent_futures::Payload>(_: P) {}
/// takes_payload(String::from("BR"));
/// takes_payload((1u32, vec![2.5f64]));
/// takes_payload(std::cell::Cell::new(7u32)); // Send, not Sync
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "process-pool")))]
pub trait Payload: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Payload for T {}

/// What every executor offers: Python's `Executor` (`submit`, `map`, `shutdown`).
///
/// Code written against this trait runs unchanged on a [`ThreadPoolExecutor`](crate::ThreadPoolExecutor)
/// or on a process pool, so the book's switch from threads to processes is one line. The price
/// of that portability is in the bounds: the function is a plain `fn` (a function item or a
/// closure that captures nothing), and its argument and result are [`Payload`]s (serde), since
/// they may cross a process boundary. Each pool also has inherent methods with looser bounds
/// (the thread pool takes capturing closures and non-serde values); on a concrete pool those are
/// the ones `pool.submit(..)` calls.
///
/// Feature `process-pool` (default), on every platform: on Windows, where there is no process
/// pool yet, the thread pool implements it, so code written against the trait compiles there.
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor};
///
/// fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// fn sum_of_squares(ex: &impl Executor, n: u64) -> u64 {
///     ex.map(square, 0..n).map(Result::unwrap).sum()
/// }
///
/// let ex = ThreadPoolExecutor::new(4).unwrap();
/// assert_eq!(sum_of_squares(&ex, 10), 285);
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "process-pool")))]
pub trait Executor {
    /// Schedules `f(arg)` and returns its future (Python's `submit(fn, arg)`).
    ///
    /// Does not block (beyond starting a worker when none is idle).
    ///
    /// # Errors
    ///
    /// [`SubmitError::Shutdown`] after `shutdown`, [`SubmitError::Broken`] if the pool broke,
    /// [`SubmitError::Spawn`] if no worker exists and none could be started.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// fn double(n: i32) -> i32 { n * 2 }
    /// let ex = ThreadPoolExecutor::new(1).unwrap();
    /// let f = Executor::submit(&ex, double, 21).unwrap();
    /// assert_eq!(f.result(None), Ok(&42));
    /// ```
    fn submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, SubmitError>;

    /// Schedules `f(arg)` under `token`, a task that can be told to stop while it runs: the
    /// same call on every executor.
    ///
    /// The task reads its token with [`CancelToken::current`] (in whatever thread or process
    /// runs it), checks it (`token.check()?`, `token.sleep(d)?`) and returns `Err(Cancelled)` to
    /// stop, which ends its future as cancelled ([`FutureError::Cancelled`](crate::FutureError::Cancelled)
    /// from `result`, `cancelled()` true, seen by callbacks, [`wait`](crate::wait) and
    /// [`as_completed`](crate::as_completed)). Cancelling the token cancels the task at once
    /// while it is queued; a running task learns it cooperatively:
    ///
    /// - thread pool: the flag the task checks is the caller's token itself;
    /// - process pool: the request reaches the worker process; a task that has not returned
    ///   after [`cancel_grace`](crate::ProcessPoolBuilder::cancel_grace) is killed with its
    ///   worker (replaced) and ends as cancelled all the same;
    /// - MPI pool: the request reaches the rank, cooperatively only: killing a rank would end
    ///   the whole MPI job.
    ///
    /// Blocks as [`submit`](Executor::submit) does (a full bounded queue may make it wait).
    ///
    /// # Errors
    ///
    /// As [`submit`](Executor::submit).
    ///
    /// ```
    /// use concurrent_futures::{CancelToken, Cancelled, Executor, FutureError, ThreadPoolExecutor};
    /// use std::time::Duration;
    /// fn wait_for_ever(_: ()) -> Result<(), Cancelled> {
    ///     CancelToken::current().sleep(Duration::MAX) // ends only when cancelled
    /// }
    /// let ex = ThreadPoolExecutor::new(1).unwrap();
    /// let token = CancelToken::new();
    /// let f = Executor::submit_cancellable(&ex, &token, wait_for_ever, ()).unwrap();
    /// token.cancel();
    /// assert_eq!(f.result(None), Err(FutureError::Cancelled));
    /// ```
    fn submit_cancellable<A: Payload, R: Payload>(
        &self,
        token: &CancelToken,
        f: fn(A) -> Result<R, Cancelled>,
        arg: A,
    ) -> Result<Future<R>, SubmitError>;

    /// [`submit`](Executor::submit) that never blocks and never runs the task in the caller:
    /// when the executor's bounded queue is full (or it refuses work), the argument comes back
    /// in the error (tokio#4955's `try_spawn_blocking`, for every executor).
    ///
    /// # Errors
    ///
    /// [`TrySubmitError`] holding `arg`: [`SubmitError::Full`] when the queue holds its
    /// `queue_capacity` tasks, or any error of `submit`.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// fn double(n: i32) -> i32 { n * 2 }
    /// let ex = ThreadPoolExecutor::new(1).unwrap();
    /// let f = Executor::try_submit(&ex, double, 21).unwrap();
    /// assert_eq!(f.result(None), Ok(&42));
    /// ex.shutdown(true, false);
    /// assert_eq!(Executor::try_submit(&ex, double, 5).unwrap_err().into_inner(), 5);
    /// ```
    fn try_submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, TrySubmitError<A>>;

    /// `f` over every item, results in input order (Python's `map` with options).
    ///
    /// Without `buffersize`, every item is submitted now, as Python does; results are pulled
    /// lazily. The iterator yields `Ok(value)` or the item's error at its position and goes on
    /// (Python 3.15's `map`). Dropping it cancels every item not yet started. See [`Map`].
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] for `buffersize(0)` or `chunksize(0)`.
    ///
    /// ```
    /// use concurrent_futures::{Executor, MapOptions, ThreadPoolExecutor};
    /// fn inc(n: u32) -> u32 { n + 1 }
    /// let ex = ThreadPoolExecutor::new(2).unwrap();
    /// let out: Vec<u32> = ex
    ///     .map_with(inc, 0.., MapOptions::new().buffersize(4))
    ///     .unwrap()
    ///     .take(3)
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(out, [1, 2, 3]);
    /// ```
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
        R: Payload;

    /// `f` over every item, results in input order (Python's `executor.map(fn, items)`).
    ///
    /// [`map_with`](Executor::map_with) with default options.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// fn loiter(n: u64) -> u64 { n * 10 }
    /// let ex = ThreadPoolExecutor::new(3).unwrap();
    /// let results: Vec<u64> = Executor::map(&ex, loiter, 0..5).map(Result::unwrap).collect();
    /// assert_eq!(results, [0, 10, 20, 30, 40]);
    /// ```
    fn map<'a, I, R>(&self, f: fn(I::Item) -> R, items: I) -> Map<'a, R>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Payload,
        R: Payload;

    /// `f` over every item, results in completion order (beyond Python: `map` and
    /// `as_completed` in one call), with `map`'s options.
    ///
    /// Provided for every executor on top of [`submit`](Executor::submit). The iterator yields
    /// each item's `Ok(value)` or error as soon as it is done, fastest first; `buffersize`,
    /// `timeout` and dropping behave as for [`map_with`](Executor::map_with). It borrows the
    /// executor, to submit lazily. See [`MapUnordered`]. The executors of this crate override
    /// it to run the items under [`MapOptions::cancel_token`]; this provided version submits
    /// through `submit`, so its items run without the token.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] for `buffersize(0)` or `chunksize(0)`.
    ///
    /// ```
    /// use concurrent_futures::{Executor, MapOptions, ThreadPoolExecutor};
    /// fn square(n: u64) -> u64 { n * n }
    /// let ex = ThreadPoolExecutor::new(2).unwrap();
    /// let total: u64 = Executor::map_unordered_with(&ex, square, 1..=10, MapOptions::new().buffersize(3))
    ///     .unwrap()
    ///     .map(Result::unwrap)
    ///     .sum();
    /// assert_eq!(total, 385);
    /// ```
    fn map_unordered_with<'a, I, R>(
        &'a self,
        f: fn(I::Item) -> R,
        items: I,
        options: MapOptions,
    ) -> Result<MapUnordered<'a, R>, InvalidArgument>
    where
        Self: Sync,
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Payload,
        R: Payload,
    {
        let submit = move |item| self.submit(f, item);
        Ok(MapUnordered::new(
            items.into_iter(),
            submit,
            options.validate()?,
        ))
    }

    /// `f` over every item, results in completion order:
    /// [`map_unordered_with`](Executor::map_unordered_with) with default options.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// fn loiter(n: u64) -> u64 { n * 10 }
    /// let ex = ThreadPoolExecutor::new(3).unwrap();
    /// let mut results: Vec<u64> = Executor::map_unordered(&ex, loiter, 0..5).map(Result::unwrap).collect();
    /// results.sort();
    /// assert_eq!(results, [0, 10, 20, 30, 40]);
    /// ```
    fn map_unordered<'a, I, R>(&'a self, f: fn(I::Item) -> R, items: I) -> MapUnordered<'a, R>
    where
        Self: Sync,
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Payload,
        R: Payload,
    {
        let submit = move |item| self.submit(f, item);
        MapUnordered::new(items.into_iter(), submit, ValidMapOptions::DEFAULT)
    }

    /// Starts every worker the executor may run (its `max_workers`) and waits until each is
    /// ready to take a task, so that the first tasks do not pay for starting them. Python
    /// starts workers on demand and has no such call; Java's `prestartAllCoreThreads` is the
    /// same idea. Useful before timing work, or before the first request of a server.
    ///
    /// Blocks until every worker is ready: a thread has run the initializer, a process has
    /// answered the handshake (and run its initializer). There is no timeout. Calling it again
    /// starts only workers that have exited since (a process pool's `max_tasks_per_child`).
    /// The default does nothing: for executors whose workers already exist (the MPI pool's
    /// ranks are started by `mpirun`). In async code the wait stalls the runtime's thread:
    /// call it before the runtime starts, or inside `tokio::task::spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Shutdown`] after `shutdown`, [`SubmitError::Broken`] if the pool is
    /// or becomes broken meanwhile (a failing initializer), [`SubmitError::Spawn`] if a worker
    /// could not be started.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// let ex = ThreadPoolExecutor::new(3).unwrap();
    /// assert_eq!(ex.num_threads(), 0);
    /// Executor::start_workers(&ex).unwrap();
    /// assert_eq!(ex.num_threads(), 3);
    /// ```
    fn start_workers(&self) -> Result<(), SubmitError> {
        Ok(())
    }

    /// Stops accepting work (Python's `shutdown(wait, cancel_futures)`).
    ///
    /// With `cancel_futures`, every queued task not yet started is cancelled. With `wait`,
    /// blocks until every task not cancelled has finished and the workers have exited, with no
    /// timeout. Calling it again is harmless; it never fails. Dropping a pool calls
    /// `shutdown(true, false)`, so it blocks the same way.
    ///
    /// In async code `wait = true` (and dropping the pool) stalls the runtime's thread: call
    /// `shutdown(false, ..)` and await the futures you still need, or shut down and drop the
    /// pool inside `tokio::task::spawn_blocking`.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// let ex = ThreadPoolExecutor::new(2).unwrap();
    /// let f = ex.submit(|n: u8| n, 7).unwrap();
    /// Executor::shutdown(&ex, true, false);
    /// assert!(f.done());
    /// ```
    fn shutdown(&self, wait: bool, cancel_futures: bool);
}
