//! `Map`: the ordered result iterator of `Executor::map`, shared by every executor.

use crate::error::{FutureError, SubmitError};
use crate::executor::MapOptions;
use crate::future::waiter::deadline_after;
use crate::future::Future;
use crate::thread_pool::Ordered;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

type Feed<'a, R> = Box<dyn FnMut() -> Option<Result<Future<R>, SubmitError>> + Send + 'a>;

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
/// - Dropping the iterator cancels every item that has not started (running ones finish).
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
    ordered: Option<(Arc<dyn Ordered<R>>, usize)>,
    deadline: Option<Instant>,
    rejected: Option<SubmitError>,
    finished: bool,
}

impl<'a, R: Send + Sync + 'static> Map<'a, R> {
    /// Submits the first items now (all of them without `buffersize`) and keeps the rest of the
    /// input to submit one item per `next()`.
    pub(crate) fn new<I, S>(items: I, mut submit: S, options: &MapOptions) -> Self
    where
        I: Iterator + Send + 'a,
        S: FnMut(I::Item) -> Result<Future<R>, SubmitError> + Send + 'a,
    {
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
        }
    }

    /// The results of a batch that was submitted whole.
    pub(crate) fn ordered(batch: Arc<dyn Ordered<R>>, deadline: Option<Instant>) -> Self {
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

    /// Cancels every submitted item that has not started.
    fn cancel_pending(&mut self) {
        for f in self.in_flight.drain(..) {
            f.cancel();
        }
        if let Some((batch, _)) = &self.ordered {
            batch.cancel();
        }
    }
}

impl<R: Send + Sync + 'static> Iterator for Map<'_, R> {
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
        match f.result(timeout) {
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
