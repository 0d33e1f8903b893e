//! `as_completed`: futures in the order they finish (Python's `concurrent.futures.as_completed`).

use crate::error::TimeoutError;
use crate::future::waiter::{deadline_after, Ended, Notify};
use crate::future::{Entry, Future};
use crate::identity::Distinct;
use crate::sync::{Condvar, Mutex};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Yields the given futures as they finish (or are cancelled), each once.
///
/// - Futures already finished come first, in input order; the rest in completion order.
/// - Duplicates are yielded once; futures of different executors, and standalone ones, mix.
/// - Like Python's generator, nothing waits until the first `next()`, and `timeout` counts
///   from there (the call only takes the handles). When it passes with futures unfinished,
///   the iterator yields one [`TimeoutError`] (`N (of M) futures unfinished`) and ends; the
///   futures are untouched.
/// - Each `next()` blocks until some future finishes; `timeout: None` waits forever.
/// - A cancelled future is yielded once the executor has acknowledged the cancel (Python's
///   `CANCELLED_AND_NOTIFIED`); a standalone future cancelled by hand needs
///   [`Future::set_running_or_notify_cancel`].
/// - Called on a worker of a thread pool with no timeout, futures of that pool that no worker
///   has started are run right here rather than waited for, so a saturated pool cannot
///   deadlock.
/// - In async code each `next()` stalls the runtime's thread until a future finishes: await
///   the futures instead (for completion order, push the owned futures into
///   `futures::stream::FuturesUnordered`, or your runtime's `JoinSet`-like set), or iterate
///   inside `tokio::task::spawn_blocking`.
///
/// Pass the futures by value to get the only handles back (then
/// [`into_result`](Future::into_result) moves values out), or by reference to keep yours.
///
/// ```
/// use concurrent_futures::{as_completed, ThreadPoolExecutor};
/// let pool = ThreadPoolExecutor::new(3).unwrap();
/// let futures: Vec<_> = [3u64, 1, 2]
///     .into_iter()
///     .map(|n| pool.submit(|n| n * 10, n).unwrap())
///     .collect();
/// let mut results: Vec<u64> = as_completed(&futures, None)
///     .map(|f| *f.unwrap().result(None).unwrap())
///     .collect();
/// results.sort();
/// assert_eq!(results, [10, 20, 30]);
/// ```
pub fn as_completed<T, I>(futures: I, timeout: Option<Duration>) -> AsCompleted<T>
where
    I: IntoIterator,
    I::Item: Into<Future<T>>,
{
    let input = Distinct::collect(futures, false);
    AsCompleted {
        total: input.futures.len(),
        input: Some(input),
        timeout,
        deadline: None,
        ready: VecDeque::new(),
        waiting: Vec::new(),
        queue: Arc::new(Completions::default()),
        remaining: 0,
        finished: false,
    }
}

/// Tokens of futures that finished, in finishing order (also behind `map_unordered`).
#[derive(Default)]
pub(crate) struct Completions {
    pub(crate) done: Mutex<VecDeque<usize>>,
    pub(crate) cond: Condvar,
}

impl Completions {
    /// The next finished token, waiting until `deadline` (`None`: no limit); `None` if the
    /// deadline passed with nothing finished. Before its first wait with no deadline it calls
    /// `help` once: the caller runs its own pool's unstarted work there, so that a worker
    /// thread waiting on its saturated pool cannot deadlock.
    pub(crate) fn next_token(
        &self,
        deadline: Option<Instant>,
        help: impl FnOnce(),
    ) -> Option<usize> {
        let mut help = Some(help);
        let mut done = self.done.lock();
        loop {
            if let Some(token) = done.pop_front() {
                return Some(token);
            }
            if deadline.is_none() {
                if let Some(help) = help.take() {
                    drop(done);
                    help();
                    done = self.done.lock();
                    continue;
                }
            }
            let timed_out = match deadline {
                None => {
                    self.cond.wait(&mut done);
                    false
                }
                Some(d) => Instant::now() >= d || self.cond.wait_until(&mut done, d),
            };
            if timed_out && done.is_empty() {
                return None;
            }
        }
    }
}

impl Notify for Completions {
    fn notify(&self, token: usize, _ended: Ended) {
        self.done.lock().push_back(token);
        self.cond.notify_one();
    }
}

/// The iterator returned by [`as_completed`].
///
/// Each `next()` blocks until one more future finishes or is cancelled (and acknowledged), at
/// most until the deadline set by the `timeout` of the call (counted from the first `next()`),
/// and yields it; when the deadline passes it yields one [`TimeoutError`] and ends. In async
/// code that wait stalls the runtime's thread: see [`as_completed`] for the alternatives.
///
/// ```
/// use concurrent_futures::{as_completed, Future};
/// let a: Future<&str> = Future::new();
/// let b: Future<&str> = Future::new();
/// b.set_result("b first").unwrap();
/// let mut it = as_completed([&a, &b], None);
/// assert_eq!(it.next().unwrap().unwrap(), b);
/// a.set_result("then a").unwrap();
/// assert_eq!(it.next().unwrap().unwrap(), a);
/// assert!(it.next().is_none());
/// ```
pub struct AsCompleted<T> {
    /// Taken at the first `next()`.
    input: Option<Distinct<T>>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    ready: VecDeque<Future<T>>,
    /// Registered futures by token; `None` once yielded.
    waiting: Vec<Option<Future<T>>>,
    queue: Arc<Completions>,
    remaining: usize,
    total: usize,
    finished: bool,
}

impl<T> AsCompleted<T> {
    /// The first `next()`: register on the futures that were pending at the call; those that
    /// finished since join the finished ones, in input order.
    fn start(&mut self, input: Distinct<T>) {
        self.deadline = deadline_after(self.timeout);
        let Distinct {
            futures, unsettled, ..
        } = input;
        if unsettled.is_empty() {
            self.ready = futures.into();
            return;
        }
        let notify: Arc<dyn Notify> = self.queue.clone();
        // Positions of the registered futures; a token is an index in `waiting`.
        let mut registered = Vec::with_capacity(unsettled.len());
        for i in unsettled {
            let token = registered.len();
            let entry = Entry::Collect(Arc::clone(&notify), token);
            if futures[i].core().register(entry).is_ok() {
                registered.push(i);
            }
        }
        self.remaining = registered.len();
        self.waiting.reserve_exact(registered.len());
        self.ready.reserve(futures.len() - registered.len());
        let mut registered = registered.into_iter().peekable();
        for (i, f) in futures.into_iter().enumerate() {
            if registered.next_if_eq(&i).is_some() {
                self.waiting.push(Some(f));
            } else {
                self.ready.push_back(f);
            }
        }
    }

    fn deregister_all(&mut self) {
        let notify: Arc<dyn Notify> = self.queue.clone();
        for (token, f) in self.waiting.iter_mut().enumerate() {
            if let Some(f) = f.take() {
                f.core().deregister(&notify, token);
            }
        }
        self.remaining = 0;
    }

    /// Runs our own pool's pending futures inline when blocking forever on a worker thread.
    fn help(&self) {
        for f in self.waiting.iter().flatten() {
            if f.help() {
                return;
            }
        }
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Result<Future<T>, TimeoutError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(input) = self.input.take() {
            self.start(input);
        }
        if let Some(f) = self.ready.pop_front() {
            return Some(Ok(f));
        }
        if self.finished || self.remaining == 0 {
            return None;
        }
        match self.queue.next_token(self.deadline, || self.help()) {
            Some(token) => {
                self.remaining -= 1;
                self.waiting[token].take().map(Ok)
            }
            None => {
                let err = TimeoutError {
                    unfinished: self.remaining,
                    total: self.total,
                };
                self.deregister_all();
                self.finished = true;
                Some(Err(err))
            }
        }
    }
}

impl<T> Drop for AsCompleted<T> {
    fn drop(&mut self) {
        self.deregister_all();
    }
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("total", &self.total)
            .field("remaining", &self.remaining)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
