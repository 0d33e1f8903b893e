//! `Map`: the ordered result iterator of `Executor::map`, shared by every executor.

use crate::cancel::CancelToken;
use crate::error::{FutureError, InvalidArgument, SubmitError};
use crate::future::waiter::deadline_after;
use crate::future::Future;
use crate::retry::RetryPolicy;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The rest of a lazy `map` input: submits the next item, `None` once the input is exhausted.
pub(crate) type Feed<'a, R> =
    Box<dyn FnMut() -> Option<Result<Future<R>, SubmitError>> + Send + 'a>;

/// What [`Map`] needs from an executor that submits a whole `map` call as one batch (the thread
/// pool), with the input type and the function erased. `Map` owns this interface; the executor
/// implements it.
pub(crate) trait OrderedSource<R>: Send + Sync {
    fn len(&self) -> usize;
    /// Item `i`'s result, waiting for it until `deadline` (`None`: no limit). Each item is
    /// taken once, in order, by the one reader.
    fn take(&self, i: usize, deadline: Option<Instant>) -> Result<R, FutureError>;
    /// Stops the items that have not started: they yield [`FutureError::Cancelled`].
    fn cancel(&self);
}

/// Options for [`Executor::map_with`](crate::Executor::map_with) (Python's `timeout`, `chunksize` and `buffersize`, and
/// beyond Python a [`cancel_token`](Self::cancel_token) and
/// [`cancel_running`](Self::cancel_running)).
///
/// ```
/// use concurrent_futures::MapOptions;
/// use std::time::Duration;
/// let opts = MapOptions::new().timeout(Duration::from_secs(5)).buffersize(8);
/// assert_eq!(opts.get_buffersize(), Some(8));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapOptions {
    timeout: Option<Duration>,
    buffersize: Option<usize>,
    chunksize: usize,
    cancel_token: Option<CancelToken>,
    cancel_running: bool,
    retry: Option<RetryPolicy>,
}

impl Default for MapOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl MapOptions {
    /// No timeout, every item submitted at once, one item per task.
    ///
    /// ```
    /// let opts = concurrent_futures::MapOptions::new();
    /// assert_eq!(opts.get_timeout(), None);
    /// ```
    pub const fn new() -> Self {
        Self {
            timeout: None,
            buffersize: None,
            chunksize: 1,
            cancel_token: None,
            cancel_running: false,
            retry: None,
        }
    }

    /// One deadline for the whole iteration, counted from the `map` call: an item not ready
    /// by then yields [`FutureError::Timeout`](crate::FutureError::Timeout), and every item not
    /// yet started is cancelled.
    ///
    /// ```
    /// let opts = concurrent_futures::MapOptions::new().timeout(std::time::Duration::from_secs(1));
    /// assert!(opts.get_timeout().is_some());
    /// ```
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Submit at most `n` items ahead of the consumer (Python 3.14's `buffersize`): input is
    /// pulled lazily, so infinite iterators work and memory stays bounded. `0` is rejected by
    /// `map_with`.
    ///
    /// ```
    /// let opts = concurrent_futures::MapOptions::new().buffersize(2);
    /// assert_eq!(opts.get_buffersize(), Some(2));
    /// ```
    pub const fn buffersize(mut self, n: usize) -> Self {
        self.buffersize = Some(n);
        self
    }

    /// Items per task for executors that batch (the process pool); the thread pool ignores it,
    /// as Python's does. `0` is rejected by `map_with`.
    ///
    /// ```
    /// let opts = concurrent_futures::MapOptions::new().chunksize(100);
    /// assert_eq!(opts.get_chunksize(), 100);
    /// ```
    pub const fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = n;
        self
    }

    /// Runs every item under `token` (beyond Python): each item's code reads it with
    /// [`CancelToken::current`], and cancelling it cancels every item not started yet (they
    /// yield [`FutureError::Cancelled`]) and tells the running ones to stop, on every executor.
    /// One token can cover several maps, submits and scopes.
    ///
    /// A `map` item's function returns a plain value, so an item that stops early returns
    /// whatever it stands for (an `Option`, a partial result); to end items as cancelled, submit
    /// them with `submit_cancellable` and collect with [`as_completed`](crate::as_completed).
    ///
    /// ```
    /// use concurrent_futures::{CancelToken, FutureError, MapOptions, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new(2).unwrap();
    /// let token = CancelToken::new();
    /// token.cancel(); // cancelled before the map: nothing runs
    /// let out: Vec<_> = pool
    ///     .map_with(|n: u32| n, 0..3, MapOptions::new().cancel_token(&token))
    ///     .unwrap()
    ///     .collect();
    /// assert_eq!(out, [Err(FutureError::Cancelled), Err(FutureError::Cancelled), Err(FutureError::Cancelled)]);
    /// ```
    pub fn cancel_token(mut self, token: &CancelToken) -> Self {
        self.cancel_token = Some(token.clone());
        self
    }

    /// When the iterator is dropped, or its timeout passes, cancel the running items too, not
    /// only the pending ones (beyond Python: its `map` lets running items finish). The items
    /// run under a token of the map's own (a [`child`](CancelToken::child) of
    /// [`cancel_token`](Self::cancel_token)'s if one is set, which itself is never
    /// cancelled by this), and the drop or timeout cancels it: running items see it through
    /// [`CancelToken::current`] and can stop. Off by default.
    ///
    /// ```
    /// use concurrent_futures::{CancelToken, MapOptions, ThreadPoolExecutor};
    /// use std::time::Duration;
    /// let pool = ThreadPoolExecutor::new(2).unwrap();
    /// fn slow(n: u64) -> Option<u64> {
    ///     // An hour, unless the map goes away.
    ///     CancelToken::current().sleep(Duration::from_secs(3600)).ok().map(|()| n)
    /// }
    /// let mut results = pool.map_with(slow, 0..4, MapOptions::new().cancel_running(true)).unwrap();
    /// drop(results); // the two running items wake from their sleep now
    /// pool.shutdown(true, false); // returns at once
    /// ```
    pub fn cancel_running(mut self, yes: bool) -> Self {
        self.cancel_running = yes;
        self
    }

    /// The token set with [`cancel_token`](Self::cancel_token), if any.
    ///
    /// ```
    /// let token = concurrent_futures::CancelToken::new();
    /// let opts = concurrent_futures::MapOptions::new().cancel_token(&token);
    /// assert_eq!(opts.get_cancel_token(), Some(&token));
    /// ```
    pub fn get_cancel_token(&self) -> Option<&CancelToken> {
        self.cancel_token.as_ref()
    }

    /// Whether [`cancel_running`](Self::cancel_running) is on.
    ///
    /// ```
    /// assert!(!concurrent_futures::MapOptions::new().get_cancel_running());
    /// ```
    pub const fn get_cancel_running(&self) -> bool {
        self.cancel_running
    }

    /// Runs the map's items whose worker process died (or that ran past `task_timeout`) again,
    /// up to the policy's attempts, over the pool's own policy (see
    /// [`ProcessPoolBuilder::retry`](crate::ProcessPoolBuilder::retry)). The process pool is
    /// the one executor whose workers die under a task; the others ignore it. With a
    /// `chunksize`, a chunk is one task: its attempts cover all its items. A policy of `0`
    /// attempts is rejected by `map_with`.
    ///
    /// ```
    /// use concurrent_futures::{MapOptions, RetryPolicy};
    /// let opts = MapOptions::new().retry(RetryPolicy::attempts(3));
    /// assert_eq!(opts.get_retry(), Some(RetryPolicy::attempts(3)));
    /// ```
    pub const fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// The retry policy set with [`retry`](Self::retry), if any.
    ///
    /// ```
    /// assert_eq!(concurrent_futures::MapOptions::new().get_retry(), None);
    /// ```
    pub const fn get_retry(&self) -> Option<RetryPolicy> {
        self.retry
    }

    /// The timeout set, if any.
    ///
    /// ```
    /// assert_eq!(concurrent_futures::MapOptions::new().get_timeout(), None);
    /// ```
    pub const fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The buffersize set, if any.
    ///
    /// ```
    /// assert_eq!(concurrent_futures::MapOptions::new().get_buffersize(), None);
    /// ```
    pub const fn get_buffersize(&self) -> Option<usize> {
        self.buffersize
    }

    /// The chunksize (default 1).
    ///
    /// ```
    /// assert_eq!(concurrent_futures::MapOptions::new().get_chunksize(), 1);
    /// ```
    pub const fn get_chunksize(&self) -> usize {
        self.chunksize
    }

    /// Python's `ValueError`s for out-of-range options; the checked options are what the
    /// executors' `map` paths take, so none of them can meet an unchecked value.
    pub(crate) fn validate(self) -> Result<ValidMapOptions, InvalidArgument> {
        if self.buffersize == Some(0) {
            return Err(InvalidArgument("buffersize must be None or > 0"));
        }
        if self.chunksize == 0 {
            return Err(InvalidArgument("chunksize must be >= 1."));
        }
        if self.retry.is_some_and(|p| p.max_attempts() == 0) {
            return Err(InvalidArgument("a retry policy needs at least 1 attempt"));
        }
        Ok(ValidMapOptions(self))
    }
}

/// [`MapOptions`] that passed [`MapOptions::validate`]: `buffersize` is `None` or positive and
/// `chunksize` positive. The defaults are valid, so `map` without options cannot fail.
#[derive(Debug, Clone)]
pub(crate) struct ValidMapOptions(MapOptions);

/// The tokens of one `map` call, from its options.
#[derive(Debug, Clone, Default)]
pub(crate) struct MapTokens {
    /// What every item runs under (and is registered with, so a cancel reaches it pending).
    pub(crate) items: Option<CancelToken>,
    /// What the iterator cancels when dropped or timed out (`cancel_running`): `items` then.
    pub(crate) stop: Option<CancelToken>,
}

impl ValidMapOptions {
    /// `MapOptions::new()`, valid by construction.
    pub(crate) const DEFAULT: ValidMapOptions = ValidMapOptions(MapOptions::new());

    pub(crate) fn get(&self) -> &MapOptions {
        &self.0
    }

    /// The items' token and the stop token: with `cancel_running`, a token of the map's own
    /// (a child of the caller's, so dropping the map never cancels the caller's token).
    pub(crate) fn tokens(&self) -> MapTokens {
        let items = match (&self.0.cancel_token, self.0.cancel_running) {
            (Some(token), false) => Some(token.clone()),
            (Some(token), true) => Some(token.child()),
            (None, true) => Some(CancelToken::new()),
            (None, false) => None,
        };
        let stop = if self.0.cancel_running {
            items.clone()
        } else {
            None
        };
        MapTokens { items, stop }
    }

    /// For a `map` that sends `chunksize` items per task but yields item by item: the buffer
    /// counts tasks, so it holds `buffersize × chunksize` items.
    #[cfg(all(unix, feature = "process-pool"))]
    pub(crate) fn per_item_buffer(self) -> ValidMapOptions {
        let mut options = self.0;
        if let Some(b) = options.buffersize {
            options.buffersize = Some(b.saturating_mul(options.chunksize));
        }
        ValidMapOptions(options)
    }
}

/// The results of `map`, in input order, as `Result<R, FutureError>`.
///
/// - Each `next()` blocks until the next item in input order is done (up to the map's
///   deadline), then yields `Ok(value)` or that item's error (a panic, say), and iteration goes
///   on after an error, as Python 3.15's `map` does.
/// - With a timeout, the deadline counts from the `map` call. When it passes, the pending item
///   yields [`FutureError::Timeout`], every item not yet started is cancelled, and the iterator
///   ends.
/// - If the executor refuses an item (it was shut down), the iterator yields the items already
///   submitted, then one [`FutureError::Rejected`], then ends.
/// - Dropping the iterator cancels every item that has not started (running ones finish, unless
///   [`MapOptions::cancel_running`] asks them to stop too).
/// - In async code each `next()` stalls the runtime's thread while it waits: submit the items
///   and await their futures (`futures::future::join_all` keeps input order), or iterate
///   inside `tokio::task::spawn_blocking`.
///
/// ```
/// use concurrent_futures::{FutureError, ThreadPoolExecutor};
/// let ex = ThreadPoolExecutor::new(2).unwrap();
/// let out: Vec<Result<i32, FutureError>> = ex
///     .map(|d: i32| if d == 0 { panic!("division by zero") } else { 6 / d }, [1, 0, 3])
///     .collect();
/// assert_eq!(out[0], Ok(6));
/// assert_eq!(out[1].as_ref().unwrap_err().panic_message(), Some("division by zero"));
/// assert_eq!(out[2], Ok(2));
/// ```
pub struct Map<'a, R> {
    in_flight: VecDeque<Future<R>>,
    feed: Option<Feed<'a, R>>,
    /// A thread pool's batch in place of `in_flight`, and the next item to read from it.
    ordered: Option<(Arc<dyn OrderedSource<R>>, usize)>,
    deadline: Option<Instant>,
    rejected: Option<SubmitError>,
    finished: bool,
    /// Cancelled with the pending items when the iterator is dropped or times out
    /// (`MapOptions::cancel_running`).
    stop: Option<CancelToken>,
}

impl<'a, R: Send + 'static> Map<'a, R> {
    /// Submits the first items now (all of them without `buffersize`) and keeps the rest of the
    /// input to submit one item per `next()`.
    pub(crate) fn new<I, S>(items: I, mut submit: S, options: ValidMapOptions) -> Self
    where
        I: Iterator + Send + 'a,
        S: FnMut(I::Item) -> Result<Future<R>, SubmitError> + Send + 'a,
    {
        let options = options.get();
        let mut map = Map::empty(deadline_after(options.get_timeout()));
        let mut items = items;
        let ahead = options.get_buffersize().unwrap_or(usize::MAX);
        for item in items.by_ref().take(ahead) {
            match submit(item) {
                Ok(f) => map.in_flight.push_back(f),
                Err(e) => {
                    map.rejected = Some(e);
                    return map;
                }
            }
        }
        if options.get_buffersize().is_some() {
            map.feed = Some(Box::new(move || items.next().map(&mut submit)));
        }
        map
    }

    fn empty(deadline: Option<Instant>) -> Self {
        Map {
            in_flight: VecDeque::new(),
            feed: None,
            ordered: None,
            deadline,
            rejected: None,
            finished: false,
            stop: None,
        }
    }

    /// Cancels `stop` too when the iterator is dropped or times out.
    pub(crate) fn stopping(mut self, stop: Option<CancelToken>) -> Self {
        self.stop = stop;
        self
    }

    /// The results of a batch that was submitted whole.
    pub(crate) fn ordered(batch: Arc<dyn OrderedSource<R>>, deadline: Option<Instant>) -> Self {
        let mut map = Map::empty(deadline);
        map.ordered = Some((batch, 0));
        map
    }

    /// The map of an executor that refused the first item.
    pub(crate) fn refused(e: SubmitError) -> Self {
        let mut map = Map::empty(None);
        map.rejected = Some(e);
        map
    }

    /// `next` for a batch.
    fn next_ordered(&mut self) -> Option<Result<R, FutureError>> {
        let (batch, next) = self.ordered.as_mut()?;
        if *next == batch.len() {
            self.finished = true;
            return None;
        }
        let out = batch.take(*next, self.deadline);
        *next += 1;
        if matches!(out, Err(FutureError::Timeout)) {
            self.cancel_all();
        }
        Some(out)
    }

    fn cancel_all(&mut self) {
        self.cancel_pending();
        self.feed = None;
        self.finished = true;
    }
}

impl<R> Map<'_, R> {
    /// Items submitted and not yet yielded.
    fn pending(&self) -> usize {
        match &self.ordered {
            Some((batch, next)) => batch.len() - next,
            None => self.in_flight.len(),
        }
    }

    /// Cancels every submitted item that has not started, and with `cancel_running` tells the
    /// running ones to stop.
    fn cancel_pending(&mut self) {
        for f in self.in_flight.drain(..) {
            f.cancel();
        }
        if let Some((batch, _)) = &self.ordered {
            batch.cancel();
        }
        if let Some(stop) = &self.stop {
            stop.cancel();
        }
    }
}

impl<R: Send + 'static> Iterator for Map<'_, R> {
    type Item = Result<R, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        if self.ordered.is_some() {
            return self.next_ordered();
        }
        // Python 3.14's order: top the buffer up first, then wait for the oldest.
        if let Some(feed) = self.feed.as_mut() {
            match feed() {
                Some(Ok(f)) => self.in_flight.push_back(f),
                Some(Err(e)) => {
                    self.rejected = Some(e);
                    self.feed = None;
                }
                None => self.feed = None,
            }
        }
        let Some(f) = self.in_flight.pop_front() else {
            self.finished = true;
            return self.rejected.take().map(|e| Err(FutureError::Rejected(e)));
        };
        let timeout = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        // Waits without copying a failure out: `into_result` hands over the outcome.
        match f.wait_finished(timeout) {
            Err(FutureError::Timeout) => {
                f.cancel();
                self.cancel_all();
                Some(Err(FutureError::Timeout))
            }
            _ => Some(f.into_result()),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.finished {
            return (0, Some(0));
        }
        let known = self.pending() + usize::from(self.rejected.is_some());
        (known, self.feed.is_none().then_some(known))
    }
}

impl<R> Drop for Map<'_, R> {
    fn drop(&mut self) {
        self.cancel_pending();
    }
}

impl<R> fmt::Debug for Map<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("in_flight", &self.pending())
            .field("lazy_input", &self.feed.is_some())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}
