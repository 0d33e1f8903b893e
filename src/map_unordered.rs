//! `MapUnordered`: `map`'s results in completion order (a `map` and an `as_completed` in one
//! call), shared by every executor.

use crate::as_completed::Completions;
use crate::cancel::CancelToken;
use crate::error::{FutureError, SubmitError};
use crate::future::waiter::{deadline_after, Notify};
use crate::future::{Entry, Future};
use crate::map::{Feed, ValidMapOptions};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// The results of `map_unordered`, in the order the tasks finish, as `Result<R, FutureError>`.
///
/// Beyond Python: `Executor.map` yields in input order, and getting results as they come needs
/// `submit` + `as_completed` by hand (mpi4py's `map(unordered=True)` is the closest relative).
/// Everything else is `map`'s contract ([`Map`](crate::Map)):
///
/// - Each `next()` blocks until *some* submitted item is done (up to the deadline), then yields
///   `Ok(value)` or that item's error, and iteration goes on after an error.
/// - With `buffersize`, at most that many items are submitted ahead (plus the one `next()`
///   tops up before waiting, as `map` does), input is pulled lazily, and infinite inputs work.
///   Without it, every item is submitted at once.
/// - With a timeout, one deadline counts from the call. When it passes with nothing finished,
///   the iterator yields one [`FutureError::Timeout`], cancels every item not yet started, and
///   ends.
/// - If the executor refuses an item (shut down), the items already submitted are still
///   yielded, then one [`FutureError::Rejected`], then the iterator ends.
/// - Dropping the iterator cancels every item that has not started (and, with
///   [`MapOptions::cancel_running`](crate::MapOptions::cancel_running), asks the running ones
///   to stop).
/// - Called on a worker of a thread pool with no timeout, items of that pool that no worker has
///   started run on the waiting thread, so a saturated pool cannot deadlock.
/// - In async code each `next()` stalls the runtime's thread while it waits: submit the items
///   and await their futures through `futures::stream::FuturesUnordered`, or iterate inside
///   `tokio::task::spawn_blocking`.
///
/// It yields values only, like `map`; [`next_indexed`](MapUnordered::next_indexed) also tells
/// which input each result belongs to.
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
/// let pool = ThreadPoolExecutor::new(3).unwrap();
/// let mut lengths: Vec<usize> = pool
///     .map_unordered(|s: &str| s.len(), ["three", "one", "seventeen"])
///     .map(Result::unwrap)
///     .collect();
/// lengths.sort(); // completion order varies from run to run
/// assert_eq!(lengths, [3, 5, 9]);
/// ```
pub struct MapUnordered<'a, R> {
    /// Submitted futures by token, with their input index; `None` once yielded.
    slots: Vec<Option<(usize, Future<R>)>>,
    /// Tokens of yielded slots, reused so that `slots` stays as long as the buffer.
    free: Vec<usize>,
    in_flight: usize,
    queue: Arc<Completions>,
    feed: Option<Feed<'a, R>>,
    /// Input index of the next item to submit.
    next_index: usize,
    deadline: Option<Instant>,
    /// The refusal, and the input index it happened at.
    rejected: Option<(usize, SubmitError)>,
    finished: bool,
    /// Cancelled with the pending items on drop or timeout (`MapOptions::cancel_running`).
    stop: Option<CancelToken>,
}

impl<'a, R: Send + 'static> MapUnordered<'a, R> {
    /// Submits the first items now (all of them without `buffersize`) and keeps the rest of the
    /// input to submit one item per `next()`.
    pub(crate) fn new<I, S>(items: I, mut submit: S, options: ValidMapOptions) -> Self
    where
        I: Iterator + Send + 'a,
        S: FnMut(I::Item) -> Result<Future<R>, SubmitError> + Send + 'a,
    {
        let options = options.get();
        let mut map = MapUnordered {
            slots: Vec::new(),
            free: Vec::new(),
            in_flight: 0,
            queue: Arc::new(Completions::default()),
            feed: None,
            next_index: 0,
            deadline: deadline_after(options.get_timeout()),
            rejected: None,
            finished: false,
            stop: None,
        };
        let mut items = items;
        let ahead = options.get_buffersize().unwrap_or(usize::MAX);
        for item in items.by_ref().take(ahead) {
            match submit(item) {
                Ok(f) => map.track(f),
                Err(e) => {
                    map.rejected = Some((map.next_index, e));
                    return map;
                }
            }
        }
        if options.get_buffersize().is_some() {
            map.feed = Some(Box::new(move || items.next().map(&mut submit)));
        }
        map
    }

    /// Cancels `stop` too when the iterator is dropped or times out.
    pub(crate) fn stopping(mut self, stop: Option<CancelToken>) -> Self {
        self.stop = stop;
        self
    }

    /// Registers a freshly submitted future under a token.
    fn track(&mut self, f: Future<R>) {
        let token = self.free.pop().unwrap_or(self.slots.len());
        let index = self.next_index;
        self.next_index += 1;
        let notify: Arc<dyn Notify> = self.queue.clone();
        if f.core().register(Entry::Collect(notify, token)).is_err() {
            // Already done: it is ready now.
            self.queue.done.lock().push_back(token);
        }
        if token == self.slots.len() {
            self.slots.push(Some((index, f)));
        } else {
            self.slots[token] = Some((index, f));
        }
        self.in_flight += 1;
    }

    /// Runs one of our own pool's unstarted items inline, when blocking forever on a worker.
    fn help(&self) {
        for (_, f) in self.slots.iter().flatten() {
            if f.help() {
                return;
            }
        }
    }

    /// The next result in completion order, with the input index of its item (0-based, in
    /// input order).
    ///
    /// The same iteration as [`next`](Iterator::next), which calls this and drops the index:
    /// it blocks until some item is done, at most until the deadline of the call's `timeout`
    /// (stalling an async runtime's thread meanwhile; see [`MapUnordered`]). A timeout is
    /// reported at the index of the oldest unfinished item, a refusal at the index of the
    /// refused item.
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::new(2).unwrap();
    /// let inputs = [10u64, 20, 30];
    /// let mut results = pool.map_unordered(|n: u64| n + 1, inputs);
    /// let mut seen = Vec::new();
    /// while let Some((i, result)) = results.next_indexed() {
    ///     assert_eq!(result, Ok(inputs[i] + 1));
    ///     seen.push(i);
    /// }
    /// seen.sort();
    /// assert_eq!(seen, [0, 1, 2]);
    /// ```
    pub fn next_indexed(&mut self) -> Option<(usize, Result<R, FutureError>)> {
        if self.finished {
            return None;
        }
        // As `map` does: top the buffer up first, then wait.
        if let Some(feed) = self.feed.as_mut() {
            match feed() {
                Some(Ok(f)) => self.track(f),
                Some(Err(e)) => {
                    self.rejected = Some((self.next_index, e));
                    self.feed = None;
                }
                None => self.feed = None,
            }
        }
        if self.in_flight == 0 {
            self.finished = true;
            return self
                .rejected
                .take()
                .map(|(i, e)| (i, Err(FutureError::Rejected(e))));
        }
        let Some(token) = self.queue.next_token(self.deadline, || self.help()) else {
            let oldest = self.slots.iter().flatten().map(|(i, _)| *i).min();
            self.cancel_all();
            self.rejected = None;
            self.finished = true;
            return Some((oldest.unwrap_or(self.next_index), Err(FutureError::Timeout)));
        };
        let Some((index, f)) = self.slots[token].take() else {
            unreachable!("a token completes once");
        };
        self.free.push(token);
        self.in_flight -= 1;
        Some((index, f.into_result()))
    }
}

impl<R: Send + 'static> Iterator for MapUnordered<'_, R> {
    type Item = Result<R, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_indexed().map(|(_, result)| result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.finished {
            return (0, Some(0));
        }
        let known = self.in_flight + usize::from(self.rejected.is_some());
        (known, self.feed.is_none().then_some(known))
    }
}

impl<R> MapUnordered<'_, R> {
    /// Cancels what has not started and stops listening.
    fn cancel_all(&mut self) {
        let notify: Arc<dyn Notify> = self.queue.clone();
        for (token, slot) in self.slots.iter_mut().enumerate() {
            if let Some((_, f)) = slot.take() {
                f.cancel();
                f.core().deregister(&notify, token);
            }
        }
        self.in_flight = 0;
        self.feed = None;
        if let Some(stop) = &self.stop {
            stop.cancel();
        }
    }
}

impl<R> Drop for MapUnordered<'_, R> {
    fn drop(&mut self) {
        self.cancel_all();
    }
}

impl<R> fmt::Debug for MapUnordered<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapUnordered")
            .field("in_flight", &self.in_flight)
            .field("lazy_input", &self.feed.is_some())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}
