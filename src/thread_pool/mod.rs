//! `ThreadPoolExecutor`: Python's thread pool, with lazily started, reused worker threads.
//!
//! How workers sleep, wake and shut down is described in `README.md` beside this file.

mod batch;
mod queue;
mod scope;
mod shared;
mod task;

pub use self::scope::Scope;

use self::batch::Batch;
use self::shared::{Initializer, ThreadPoolConfig, ThreadPoolShared};
use self::task::{FnWithArg, Job, WithToken};
use crate::backpressure::{Admit, Capacity, TrySubmitError, WhenFull};
use crate::cancel::{CancelTarget, CancelToken, Cancelled};
use crate::error::{InvalidArgument, SubmitError};
#[cfg(feature = "process-pool")]
use crate::executor::{Executor, Payload};
use crate::future::waiter::deadline_after;
use crate::future::Future;
use crate::map::{Map, MapOptions, MapTokens, OrderedSource, ValidMapOptions};
use crate::map_unordered::MapUnordered;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Numbers executors for default thread names (`ThreadPoolExecutor-N_i`) and for recognizing a
/// pool's own workers.
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// Python's default: `min(32, cpus + 4)`, enough threads for I/O-bound work without
/// overwhelming a big machine.
fn default_max_workers() -> usize {
    32.min(num_cpus::get() + 4)
}

/// A pool of worker threads that runs submitted tasks (Python's `ThreadPoolExecutor`).
///
/// Threads start lazily, one per `submit` that finds no idle worker, up to `max_workers`, and
/// idle ones are reused. A task's panic becomes its future's error; the worker lives on.
/// Dropping the pool is `shutdown(wait = true)`: it waits for every queued task, like Python's
/// `with` block. The futures and `map` iterators it gave out stay valid after that. In async
/// code that wait stalls the runtime's thread: drop the pool inside
/// `tokio::task::spawn_blocking` (or keep it for the program's lifetime).
///
/// ```
/// use concurrent_futures::{as_completed, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(4).unwrap();
/// let futures: Vec<_> = (0..8u64).map(|n| pool.submit(|n| n * n, n).unwrap()).collect();
/// let total: u64 = as_completed(futures, None).map(|f| *f.unwrap().result(None).unwrap()).sum();
/// assert_eq!(total, 140);
/// ```
pub struct ThreadPoolExecutor {
    shared: Arc<ThreadPoolShared>,
}

/// Configures a [`ThreadPoolExecutor`] (Python's constructor arguments, plus `stack_size`).
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
/// let pool = ThreadPoolExecutor::builder()
///     .max_workers(2)
///     .thread_name_prefix("downloader")
///     .build()
///     .unwrap();
/// let name = pool.submit(|_: ()| std::thread::current().name().map(String::from), ()).unwrap();
/// assert_eq!(name.result(None).unwrap().as_deref(), Some("downloader_0"));
/// ```
#[must_use]
pub struct ThreadPoolBuilder {
    max_workers: Option<usize>,
    thread_name_prefix: Option<String>,
    stack_size: Option<usize>,
    initializer: Option<Initializer>,
    queue_capacity: Option<usize>,
    when_full: WhenFull,
}

impl ThreadPoolBuilder {
    /// The maximum number of worker threads; default `min(32, cpus + 4)`. `0` is rejected by
    /// [`build`](Self::build).
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Worker names are `{prefix}_{i}`; default prefix `ThreadPoolExecutor-{n}`, `n` counting
    /// the pools of this process.
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder()
    ///     .thread_name_prefix("SpecialPool")
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name_prefix = Some(prefix.into());
        self
    }

    /// Stack size of each worker thread, in bytes (default: the platform's).
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder()
    ///     .stack_size(4 << 20)
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs in every worker thread before its first task (Python's `initializer`), for
    /// thread-local setup. If it panics, the pool is broken: the panic is logged, every queued
    /// future fails with [`FutureError::BrokenExecutor`](crate::FutureError::BrokenExecutor),
    /// and later submits return [`SubmitError::Broken`].
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// use std::cell::Cell;
    /// thread_local!(static READY: Cell<bool> = const { Cell::new(false) });
    /// let pool = ThreadPoolExecutor::builder()
    ///     .initializer(|| READY.with(|r| r.set(true)))
    ///     .build()
    ///     .unwrap();
    /// let f = pool.submit(|_: ()| READY.with(|r| r.get()), ()).unwrap();
    /// assert_eq!(f.result(None), Ok(&true));
    /// ```
    pub fn initializer(mut self, init: impl Fn() + Send + Sync + 'static) -> Self {
        self.initializer = Some(Arc::new(init));
        self
    }

    /// At most `n` submitted tasks wait for a worker (beyond Python, whose queue is
    /// unbounded); a submit that finds `n` waiting does what [`when_full`](Self::when_full)
    /// says (by default it blocks until a worker takes one). Tasks being run do not count.
    /// `map` and `map_unordered` items are never refused: they are bounded by their own
    /// `buffersize` (see [`WhenFull`]). `0` is rejected by [`build`](Self::build).
    ///
    /// Without a capacity, submit costs what it did before capacities existed: one branch.
    ///
    /// ```
    /// use concurrent_futures::{ThreadPoolExecutor, WhenFull};
    /// let pool = ThreadPoolExecutor::builder()
    ///     .max_workers(2)
    ///     .queue_capacity(100)
    ///     .when_full(WhenFull::CallerRuns)
    ///     .build()
    ///     .unwrap();
    /// // A producer far faster than two workers: never more than 100 tasks wait, and once
    /// // the queue is full the producer runs tasks itself, which paces it.
    /// let futures: Vec<_> = (0..10_000u64).map(|n| pool.submit(|n| n % 7, n).unwrap()).collect();
    /// assert_eq!(futures.iter().map(|f| *f.result(None).unwrap()).sum::<u64>(), 29_994);
    /// ```
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = Some(n);
        self
    }

    /// What a submit does when the queue holds [`queue_capacity`](Self::queue_capacity) tasks:
    /// block (the default), block for a while, fail, or run the task in the caller. Ignored
    /// without a capacity.
    ///
    /// ```
    /// use concurrent_futures::{ThreadPoolExecutor, WhenFull};
    /// use std::time::Duration;
    /// let pool = ThreadPoolExecutor::builder()
    ///     .queue_capacity(8)
    ///     .when_full(WhenFull::BlockFor(Duration::from_millis(100)))
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn when_full(mut self, policy: WhenFull) -> Self {
        self.when_full = policy;
        self
    }

    /// Creates the pool. No thread starts until the first submit.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] if `max_workers` or `queue_capacity` is 0.
    ///
    /// ```
    /// let err = concurrent_futures::ThreadPoolExecutor::builder().max_workers(0).build();
    /// assert!(err.is_err());
    /// ```
    pub fn build(self) -> Result<ThreadPoolExecutor, InvalidArgument> {
        let max_workers = self.max_workers.unwrap_or_else(default_max_workers);
        if max_workers == 0 {
            return Err(InvalidArgument("max_workers must be greater than 0"));
        }
        let capacity = Capacity::new(self.queue_capacity, self.when_full)?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let name_prefix = self
            .thread_name_prefix
            .unwrap_or_else(|| format!("ThreadPoolExecutor-{id}"));
        Ok(ThreadPoolExecutor {
            shared: ThreadPoolShared::new(ThreadPoolConfig {
                id,
                max_workers,
                name_prefix,
                stack_size: self.stack_size,
                initializer: self.initializer,
                capacity,
            }),
        })
    }
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.thread_name_prefix)
            .field("stack_size", &self.stack_size)
            .field("initializer", &self.initializer.is_some())
            .field("queue_capacity", &self.queue_capacity)
            .field("when_full", &self.when_full)
            .finish()
    }
}

impl ThreadPoolExecutor {
    /// A pool of at most `max_workers` threads.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] (`max_workers must be greater than 0`) if `max_workers` is 0.
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::new(3).unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// assert!(ThreadPoolExecutor::new(0).is_err());
    /// ```
    pub fn new(max_workers: usize) -> Result<Self, InvalidArgument> {
        Self::builder().max_workers(max_workers).build()
    }

    /// A builder for the other options.
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder().build().unwrap();
    /// assert!(pool.max_workers() >= 5);
    /// ```
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder {
            max_workers: None,
            thread_name_prefix: None,
            stack_size: None,
            initializer: None,
            queue_capacity: None,
            when_full: WhenFull::Block,
        }
    }

    /// The most threads this pool will run.
    ///
    /// ```
    /// assert_eq!(concurrent_futures::ThreadPoolExecutor::new(7).unwrap().max_workers(), 7);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.config.max_workers
    }

    /// Worker threads alive now (0 before the first submit and after `shutdown(wait = true)`).
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::new(4).unwrap();
    /// assert_eq!(pool.num_threads(), 0);
    /// pool.submit(|x: u8| x, 1).unwrap().result(None).unwrap();
    /// assert_eq!(pool.num_threads(), 1);
    /// ```
    pub fn num_threads(&self) -> usize {
        self.shared.num_threads()
    }

    /// Starts every worker thread the pool may have and waits until each has run the
    /// initializer (see [`Executor::start_workers`]). Without it, threads start as tasks
    /// arrive and find no idle one.
    ///
    /// Blocks until every thread is ready, with no timeout. In async code that stalls the
    /// runtime's thread: call it before the runtime starts, or inside
    /// `tokio::task::spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Shutdown`] after (or during) `shutdown`, [`SubmitError::Broken`] if an
    /// initializer failed, [`SubmitError::Spawn`] if the OS refused a thread.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let inits = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&inits);
    /// let pool = concurrent_futures::ThreadPoolExecutor::builder()
    ///     .max_workers(3)
    ///     .initializer(move || { counter.fetch_add(1, Ordering::SeqCst); })
    ///     .build()
    ///     .unwrap();
    /// pool.start_workers().unwrap();
    /// assert_eq!(inits.load(Ordering::SeqCst), 3);
    /// ```
    pub fn start_workers(&self) -> Result<(), SubmitError> {
        self.shared.start_workers()
    }

    /// Schedules `f(arg)` and returns its future (Python's `submit(fn, arg)`).
    ///
    /// `f` may be any closure, including one that captures its environment. Does not block,
    /// beyond starting a worker thread when none is idle, unless the pool has a
    /// [`queue_capacity`](ThreadPoolBuilder::queue_capacity) and its queue is full: then it
    /// does what the pool's [`WhenFull`] says (wait for room, for ever or up to its limit,
    /// fail, or run `f` here).
    ///
    /// # Errors
    ///
    /// [`SubmitError::Shutdown`] after `shutdown` (also when it wakes a submit waiting for
    /// room); [`SubmitError::Broken`] after an initializer failed; [`SubmitError::Spawn`] if
    /// the pool has no thread and the OS refused one; [`SubmitError::Full`] if the queue is
    /// full and the policy is `Fail`, or `BlockFor` ran out.
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::new(2).unwrap();
    /// let base = 10;
    /// let f = pool.submit(move |n: i32| base + n, 5).unwrap();
    /// assert_eq!(f.result(None), Ok(&15));
    /// ```
    pub fn submit<F, A, R>(&self, f: F, arg: A) -> Result<Future<R>, SubmitError>
    where
        F: FnOnce(A) -> R + Send + 'static,
        A: Send + 'static,
        R: Send + 'static,
    {
        self.shared.submit(move || f(arg))
    }

    /// Schedules a closure that takes no argument: the Rust-style spelling of `submit`.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::new(2).unwrap();
    /// let data = vec![1, 2, 3];
    /// let f = pool.spawn(move || data.iter().sum::<i32>()).unwrap();
    /// assert_eq!(f.result(None), Ok(&6));
    /// ```
    pub fn spawn<F, R>(&self, f: F) -> Result<Future<R>, SubmitError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.shared.submit(f)
    }

    /// Schedules `f(arg)` under `token`: a task that can be told to stop while it runs (beyond
    /// Python, whose `cancel()` only stops pending work).
    ///
    /// The task runs with `token` as [`CancelToken::current`], checks it when it can
    /// (`token.check()?`, `token.sleep(d)?`), and returns `Err(Cancelled)` to stop: its future
    /// then ends as cancelled ([`Future::cancelled`] is true, `result()` is
    /// [`FutureError::Cancelled`](crate::FutureError::Cancelled), callbacks, `wait` and
    /// `as_completed` see it), never as a panic. `Ok(value)` finishes it with the value, even if
    /// the token was cancelled meanwhile. Cancelling the token while the task is still queued
    /// cancels it at once, so it never starts; if the token already is cancelled the task is
    /// not queued at all and the future comes back cancelled. One token may cover any number of
    /// tasks. Threads cannot be interrupted, so a task that never checks runs to its end.
    ///
    /// Blocks as [`submit`](Self::submit) does.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    ///
    /// ```
    /// use concurrent_futures::{CancelToken, Cancelled, FutureError, ThreadPoolExecutor};
    /// use std::time::Duration;
    /// let pool = ThreadPoolExecutor::new(2).unwrap();
    /// let token = CancelToken::new();
    /// let poll = |url: &'static str| -> Result<usize, Cancelled> {
    ///     let token = CancelToken::current();
    ///     loop {
    ///         token.sleep(Duration::from_millis(5))?; // wait for the next poll, or stop
    ///         let _ = url;
    ///     }
    /// };
    /// let f = pool.submit_cancellable(&token, poll, "https://example.com/status").unwrap();
    /// token.cancel();
    /// assert_eq!(f.result(None), Err(FutureError::Cancelled));
    /// ```
    pub fn submit_cancellable<F, A, R>(
        &self,
        token: &CancelToken,
        f: F,
        arg: A,
    ) -> Result<Future<R>, SubmitError>
    where
        F: FnOnce(A) -> Result<R, Cancelled> + Send + 'static,
        A: Send + 'static,
        R: Send + 'static,
    {
        self.spawn_cancellable(token, move || f(arg))
    }

    /// [`submit_cancellable`](Self::submit_cancellable) for a closure that takes no argument.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    ///
    /// ```
    /// use concurrent_futures::{CancelToken, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new(1).unwrap();
    /// let token = CancelToken::new();
    /// let f = pool
    ///     .spawn_cancellable(&token, || {
    ///         let mut steps = 0u64;
    ///         while steps < 1_000 {
    ///             CancelToken::current().check()?;
    ///             steps += 1;
    ///         }
    ///         Ok(steps)
    ///     })
    ///     .unwrap();
    /// assert_eq!(f.result(None), Ok(&1_000));
    /// ```
    pub fn spawn_cancellable<F, R>(
        &self,
        token: &CancelToken,
        f: F,
    ) -> Result<Future<R>, SubmitError>
    where
        F: FnOnce() -> Result<R, Cancelled> + Send + 'static,
        R: Send + 'static,
    {
        let body = WithToken {
            func: f,
            token: token.clone(),
        };
        self.shared
            .submit_body(body, Admit::Policy, Some(token))
            .map_err(SubmitError::from)
    }

    /// [`submit`](Self::submit) that never blocks and never runs the task here: if the queue
    /// is full (or the pool refuses work) it hands `f` and `arg` back in the error.
    ///
    /// # Errors
    ///
    /// [`TrySubmitError`] holding `(f, arg)`, with [`SubmitError::Full`] when the pool's
    /// [`queue_capacity`](ThreadPoolBuilder::queue_capacity) is reached, or the errors of
    /// `submit`.
    ///
    /// ```
    /// use concurrent_futures::{SubmitError, ThreadPoolExecutor};
    /// use std::sync::mpsc;
    /// let pool = ThreadPoolExecutor::builder().max_workers(1).queue_capacity(1).build().unwrap();
    /// let (release, gate) = mpsc::channel::<()>();
    /// let (started_tx, started) = mpsc::channel();
    /// let busy = pool.spawn(move || { started_tx.send(()).unwrap(); gate.recv().unwrap() }).unwrap();
    /// started.recv().unwrap();
    /// let queued = pool.try_submit(|n: u8| n, 1).unwrap();
    /// let refused = pool.try_submit(|n: u8| n, 2).unwrap_err();
    /// assert_eq!(refused.error(), &SubmitError::Full { capacity: 1 });
    /// let (_f, arg) = refused.into_inner();
    /// assert_eq!(arg, 2); // nothing lost: retry later, or elsewhere
    /// release.send(()).unwrap();
    /// # busy.result(None).unwrap(); queued.result(None).unwrap();
    /// ```
    pub fn try_submit<F, A, R>(&self, f: F, arg: A) -> Result<Future<R>, TrySubmitError<(F, A)>>
    where
        F: FnOnce(A) -> R + Send + 'static,
        A: Send + 'static,
        R: Send + 'static,
    {
        self.shared
            .submit_body(FnWithArg { func: f, arg }, Admit::Try, None)
            .map_err(|e| e.map_task(|call| (call.func, call.arg)))
    }

    /// [`try_submit`](Self::try_submit) for a closure that takes no argument.
    ///
    /// # Errors
    ///
    /// [`TrySubmitError`] holding `f`, as for `try_submit`.
    ///
    /// ```
    /// let pool = concurrent_futures::ThreadPoolExecutor::new(1).unwrap();
    /// let f = pool.try_spawn(|| 6 * 7).unwrap();
    /// assert_eq!(f.result(None), Ok(&42));
    /// ```
    pub fn try_spawn<F, R>(&self, f: F) -> Result<Future<R>, TrySubmitError<F>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.shared.submit_body(f, Admit::Try, None)
    }

    /// `f` over every item, results in input order (Python's `executor.map(fn, items)`).
    ///
    /// Every item is submitted now, as Python does; results are pulled lazily (see [`Map`]).
    /// For several iterables, zip them (shortest wins, like Python's `map`).
    ///
    /// The items go to the queue as one batch, not one task each: workers take them one at a
    /// time in input order, so they start in the order Python's would and every worker can
    /// help, at a fraction of a per-item `submit`'s cost. Cancelling (dropping the iterator,
    /// a timeout, `shutdown(cancel_futures)`) and a broken pool end the items not started,
    /// item by item, as for futures.
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::new(3).unwrap();
    /// let out: Vec<u64> = pool
    ///     .map(|(a, b): (u64, u32)| a.pow(b), (0..5).zip(0..5))
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(out, [1, 1, 4, 27, 256]);
    /// ```
    pub fn map<'a, F, I, R>(&self, f: F, items: I) -> Map<'a, R>
    where
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Send + 'static,
        R: Send + 'static,
    {
        self.map_checked(f, items, ValidMapOptions::DEFAULT)
    }

    /// `map` with a timeout, or a `buffersize` for lazy input and bounded memory.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] for `buffersize(0)` or `chunksize(0)` (chunksize is otherwise
    /// ignored by threads, as in Python).
    ///
    /// ```
    /// use concurrent_futures::{MapOptions, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new(2).unwrap();
    /// // An endless input works with a buffer: only 4 items are ever ahead.
    /// let squares = pool.map_with(|n: u64| n * n, 1.., MapOptions::new().buffersize(4)).unwrap();
    /// let first: Vec<u64> = squares.take(4).map(Result::unwrap).collect();
    /// assert_eq!(first, [1, 4, 9, 16]);
    /// ```
    pub fn map_with<'a, F, I, R>(
        &self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Result<Map<'a, R>, InvalidArgument>
    where
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Send + 'static,
        R: Send + 'static,
    {
        Ok(self.map_checked(f, items, options.validate()?))
    }

    /// `map_with` once the options are known to be valid.
    fn map_checked<'a, F, I, R>(&self, f: F, items: I, options: ValidMapOptions) -> Map<'a, R>
    where
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Send + 'static,
        R: Send + 'static,
    {
        let MapTokens { items: token, stop } = options.tokens();
        if options.get().get_buffersize().is_some() {
            return Map::new(items.into_iter(), self.per_item(f, token), options).stopping(stop);
        }
        // Every item is submitted now, as in Python, but as one batch: see `batch.rs`.
        let deadline = deadline_after(options.get().get_timeout());
        let batch = Arc::new(Batch::new(
            Arc::new(f),
            items.into_iter(),
            self.shared.config.id,
            token.clone(),
        ));
        let len = OrderedSource::len(&*batch);
        if len > 0 {
            if let Err(refused) = self.shared.submit_batch(batch.clone() as Arc<dyn Job>, len) {
                return Map::refused(refused);
            }
            if let Some(token) = &token {
                token.register(Arc::downgrade(&batch) as std::sync::Weak<dyn CancelTarget>);
            }
        }
        Map::ordered(batch, deadline).stopping(stop)
    }

    /// Runs `f` with a [`Scope`] whose tasks may borrow from the caller's stack, and returns
    /// once every one of them has ended (beyond Python, like `std::thread::scope` on this
    /// pool's threads).
    ///
    /// `f` gets `&Scope`; [`Scope::spawn`] and [`Scope::submit`] take closures that borrow
    /// anything outliving this call and return ordinary [`Future`]s. After `f` returns, `scope`
    /// waits (no timeout) until every task submitted through the scope, including those
    /// submitted by its tasks, has run or been cancelled before it ran, so the borrows end
    /// before `scope` does. That wait is part of this call, not of a destructor: forgetting a
    /// handle cannot skip it (the `mem::forget` trap of `threadpool`'s old `ScopedPool`).
    ///
    /// - **Panics**: a task's panic is its future's [`FutureError::Panicked`](crate::FutureError::Panicked)
    ///   (read it or not, as with any task); it does not propagate. If `f` itself panics,
    ///   `scope` still waits for every task, then resumes the panic.
    /// - **Results** are owned (`T: 'static`), because the futures may outlive the scope; to
    ///   return something computed from borrowed data, return it by value.
    /// - **Inside a worker**: a scope opened by a task of this same pool runs its own queued
    ///   tasks on the waiting thread if no worker has started them, so a saturated pool cannot
    ///   deadlock on it.
    /// - **Shutdown** during a scope refuses new tasks ([`SubmitError::Shutdown`]); queued ones
    ///   still run (or are cancelled with `cancel_futures`) and are waited for.
    /// - **In async code** the wait stalls the runtime's thread, and awaiting inside `f` cannot
    ///   help (the borrows must end before `scope` returns): open the scope inside
    ///   `tokio::task::spawn_blocking`, or submit `'static` tasks and await their futures.
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::new(4).unwrap();
    /// let data: Vec<u64> = (1..=1000).collect();
    /// let total: u64 = pool.scope(|s| {
    ///     let parts: Vec<_> = data
    ///         .chunks(250)
    ///         .map(|chunk| s.spawn(move || chunk.iter().sum::<u64>()).unwrap())
    ///         .collect();
    ///     parts.into_iter().map(|f| f.into_result().unwrap()).sum()
    /// });
    /// assert_eq!(total, 500_500);
    /// ```
    ///
    /// A task cannot borrow something that ends before the scope does:
    ///
    /// ```compile_fail,E0373
    /// # let pool = concurrent_futures::ThreadPoolExecutor::new(1).unwrap();
    /// pool.scope(|s| {
    ///     let local = vec![1, 2, 3];
    ///     s.spawn(|| local.len()).unwrap(); // `local` dies at the end of this closure
    /// });
    /// ```
    ///
    /// The scope handle cannot escape the call:
    ///
    /// ```compile_fail,E0521
    /// # let pool = concurrent_futures::ThreadPoolExecutor::new(1).unwrap();
    /// let mut escaped = None;
    /// pool.scope(|s| escaped = Some(s));
    /// ```
    ///
    /// A result cannot borrow from the scope's data, since its future may outlive the scope:
    ///
    /// ```compile_fail,E0597
    /// # let pool = concurrent_futures::ThreadPoolExecutor::new(1).unwrap();
    /// let data = vec![1, 2, 3];
    /// let first = pool.scope(|s| s.spawn(|| &data[0]).unwrap());
    /// ```
    ///
    /// Two tasks cannot both borrow the same data mutably:
    ///
    /// ```compile_fail,E0499
    /// # let pool = concurrent_futures::ThreadPoolExecutor::new(1).unwrap();
    /// let mut count = 0;
    /// pool.scope(|s| {
    ///     s.spawn(|| count += 1).unwrap();
    ///     s.spawn(|| count += 1).unwrap();
    /// });
    /// ```
    ///
    /// Futures are ordinary handles, so they may leave the scope, done, with owned results:
    ///
    /// ```
    /// # let pool = concurrent_futures::ThreadPoolExecutor::new(1).unwrap();
    /// let name = String::from("env");
    /// let f = pool.scope(|s| s.spawn(|| name.to_uppercase()).unwrap());
    /// assert!(f.done());
    /// assert_eq!(f.result(None).unwrap(), "ENV");
    /// ```
    pub fn scope<'env, F, R>(&'env self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        scope::scope(&self.shared, f)
    }

    /// `f` over every item, results in completion order (beyond Python: `map` +
    /// `as_completed` in one call). See [`MapUnordered`].
    ///
    /// Every item is submitted now, as `map` does; use
    /// [`map_unordered_with`](Self::map_unordered_with) for a buffer or a timeout.
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::new(4).unwrap();
    /// let offset = 100;
    /// let mut out: Vec<u32> = pool
    ///     .map_unordered(move |n: u32| n + offset, 0..4)
    ///     .map(Result::unwrap)
    ///     .collect();
    /// out.sort();
    /// assert_eq!(out, [100, 101, 102, 103]);
    /// ```
    pub fn map_unordered<'a, F, I, R>(&self, f: F, items: I) -> MapUnordered<'a, R>
    where
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Send + 'static,
        R: Send + 'static,
    {
        MapUnordered::new(
            items.into_iter(),
            self.per_item(f, None),
            ValidMapOptions::DEFAULT,
        )
    }

    /// `map_unordered` with a timeout, or a `buffersize` for lazy input and bounded memory
    /// (the same [`MapOptions`] as [`map_with`](Self::map_with)).
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] for `buffersize(0)` or `chunksize(0)`.
    ///
    /// ```
    /// use concurrent_futures::{MapOptions, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new(2).unwrap();
    /// // An endless input with at most 4 items ahead: take the first 5 to finish.
    /// let firsts: Vec<u64> = pool
    ///     .map_unordered_with(|n: u64| n * 2, 0.., MapOptions::new().buffersize(4))
    ///     .unwrap()
    ///     .take(5)
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(firsts.len(), 5);
    /// assert!(firsts.iter().all(|n| n % 2 == 0 && *n < 2 * 9));
    /// ```
    pub fn map_unordered_with<'a, F, I, R>(
        &self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Result<MapUnordered<'a, R>, InvalidArgument>
    where
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Send + 'static,
        R: Send + 'static,
    {
        let options = options.validate()?;
        let MapTokens { items: token, stop } = options.tokens();
        Ok(MapUnordered::new(items.into_iter(), self.per_item(f, token), options).stopping(stop))
    }

    /// What `map` and `map_unordered` submit per item: one task calling the shared `f`, under
    /// the map's token if it has one. Never refused for a full queue: the map's `buffersize`
    /// bounds it.
    fn per_item<F, T, R>(
        &self,
        f: F,
        token: Option<CancelToken>,
    ) -> impl FnMut(T) -> Result<Future<R>, SubmitError> + Send
    where
        F: Fn(T) -> R + Send + Sync + 'static,
        T: Send + 'static,
        R: Send + 'static,
    {
        let f = Arc::new(f);
        let shared = Arc::clone(&self.shared);
        move |item| {
            let f = Arc::clone(&f);
            match &token {
                None => shared
                    .submit_body(move || f(item), Admit::Always, None)
                    .map_err(SubmitError::from),
                Some(token) => shared
                    .submit_body(
                        WithToken {
                            func: move || Ok(f(item)),
                            token: token.clone(),
                        },
                        Admit::Always,
                        Some(token),
                    )
                    .map_err(SubmitError::from),
            }
        }
    }

    /// Stops accepting work (Python's `shutdown(wait, cancel_futures)`).
    ///
    /// Later submits return [`SubmitError::Shutdown`]. With `cancel_futures`, every queued task
    /// that has not started is cancelled (its callbacks run, and `wait`/`as_completed` see it
    /// done). With `wait`, blocks with no timeout until every task not cancelled has finished
    /// and every worker thread has exited; without it, returns at once and the workers finish
    /// the queue on their own. Idempotent; it never fails. Called from one of this pool's own
    /// tasks, `wait` does not wait for the calling thread.
    ///
    /// In async code `wait = true` stalls the runtime's thread until the queue drains: call
    /// `shutdown(false, ..)` and await the futures you need, or call it inside
    /// `tokio::task::spawn_blocking`.
    ///
    /// ```
    /// use concurrent_futures::{SubmitError, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new(1).unwrap();
    /// let f = pool.submit(|x: i32| x + 1, 1).unwrap();
    /// pool.shutdown(true, false);
    /// assert_eq!(f.result(None), Ok(&2));
    /// assert_eq!(pool.num_threads(), 0);
    /// assert_eq!(pool.submit(|x: i32| x, 1).unwrap_err(), SubmitError::Shutdown);
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shared.shutdown(wait, cancel_futures);
    }
}

impl Default for ThreadPoolExecutor {
    /// A pool with the default `max_workers`.
    fn default() -> Self {
        match Self::builder().build() {
            Ok(pool) => pool,
            Err(_) => unreachable!("the default max_workers is at least 5"),
        }
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        self.shared.shutdown(true, false);
    }
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("name_prefix", &self.shared.config.name_prefix)
            .field("max_workers", &self.max_workers())
            .field("num_threads", &self.num_threads())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "process-pool")]
impl Executor for ThreadPoolExecutor {
    fn submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, SubmitError> {
        ThreadPoolExecutor::submit(self, f, arg)
    }

    fn submit_cancellable<A: Payload, R: Payload>(
        &self,
        token: &CancelToken,
        f: fn(A) -> Result<R, Cancelled>,
        arg: A,
    ) -> Result<Future<R>, SubmitError> {
        ThreadPoolExecutor::submit_cancellable(self, token, f, arg)
    }

    fn try_submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, TrySubmitError<A>> {
        ThreadPoolExecutor::try_submit(self, f, arg).map_err(|e| e.map_task(|(_, arg)| arg))
    }

    fn map<'a, I, R>(&self, f: fn(I::Item) -> R, items: I) -> Map<'a, R>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Payload,
        R: Payload,
    {
        ThreadPoolExecutor::map(self, f, items)
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
        ThreadPoolExecutor::map_with(self, f, items, options)
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
        ThreadPoolExecutor::map_unordered_with(self, f, items, options)
    }

    fn start_workers(&self) -> Result<(), SubmitError> {
        ThreadPoolExecutor::start_workers(self)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        ThreadPoolExecutor::shutdown(self, wait, cancel_futures);
    }
}
