//! `wait`: block until some, any failing, or all of a set of futures are done (Python's
//! `concurrent.futures.wait`).

use crate::future::waiter::{deadline_after, Ended, Notify};
use crate::future::{Entry, Future};
use crate::future_set::FutureSet;
use crate::identity::Distinct;
use crate::sync::{Condvar, Mutex};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// When [`wait`] returns (Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`).
///
/// ```
/// assert_eq!(concurrent_futures::ReturnWhen::default(), concurrent_futures::ReturnWhen::AllCompleted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReturnWhen {
    /// As soon as any future finishes or is cancelled.
    FirstCompleted,
    /// As soon as any future fails (panics, or its executor breaks); cancelled futures are not
    /// failures. With no failure, this is `AllCompleted`.
    FirstException,
    /// When every future has finished or been cancelled.
    #[default]
    AllCompleted,
}

/// The two sets [`wait`] returns (Python's `DoneAndNotDoneFutures`), each in input order.
///
/// ```
/// use concurrent_futures::{wait, Future, ReturnWhen};
/// let done: Future<u8> = Future::new();
/// done.set_result(1).unwrap();
/// let pending: Future<u8> = Future::new();
/// let sets = wait([&done, &pending], None, ReturnWhen::FirstCompleted);
/// assert_eq!((sets.done.len(), sets.not_done.len()), (1, 1));
/// assert!(sets.not_done.contains(&pending));
/// ```
pub struct DoneAndNotDone<T> {
    /// Futures finished or cancelled (and acknowledged) when `wait` returned.
    pub done: FutureSet<T>,
    /// The others.
    pub not_done: FutureSet<T>,
}

impl<T> fmt::Debug for DoneAndNotDone<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoneAndNotDone")
            .field("done", &self.done)
            .field("not_done", &self.not_done)
            .finish()
    }
}

/// Counts completions and wakes the waiter when its condition holds.
struct Waiter {
    state: Mutex<(usize, bool)>,
    cond: Condvar,
}

impl Notify for Waiter {
    fn notify(&self, _token: usize, ended: Ended) {
        let mut state = self.state.lock();
        state.0 += 1;
        state.1 |= ended == Ended::Failed;
        self.cond.notify_one();
    }
}

/// Waits for the futures as `return_when` says, at most `timeout`; returns the done and
/// not-done sets (duplicates counted once).
///
/// Never fails: on timeout it returns what is done so far. Returns at once if the condition
/// already holds (with `FirstCompleted`, `done` then holds every future already done).
/// `timeout: None` waits forever. Futures from different executors, and standalone ones, mix.
/// As in Python, a future cancelled but not yet acknowledged by its executor counts as not done;
/// executor futures are acknowledged when a worker (or `shutdown(cancel_futures)`) reaches them.
/// Called on a worker of a thread pool with no timeout, pending futures of that pool are run
/// right here rather than waited for, so a saturated pool cannot deadlock.
///
/// In async code this call stalls the runtime's thread until it returns: await the futures
/// instead (`futures::future::join_all` for `AllCompleted`, `select_all` for
/// `FirstCompleted`), or call it inside `tokio::task::spawn_blocking`.
///
/// ```
/// use concurrent_futures::{wait, Future, ReturnWhen, ThreadPoolExecutor};
/// use std::time::Duration;
/// let pool = ThreadPoolExecutor::new(2).unwrap();
/// let quick = pool.submit(|x: u32| x, 1).unwrap();
/// quick.result(None).unwrap(); // finished: the 50 ms below only bound the wait for `never`
/// let never: Future<u32> = Future::new();
/// let sets = wait([&quick, &never], Some(Duration::from_millis(50)), ReturnWhen::AllCompleted);
/// assert!(sets.done.contains(&quick));
/// assert!(sets.not_done.contains(&never));
/// ```
pub fn wait<T, I>(
    futures: I,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> DoneAndNotDone<T>
where
    I: IntoIterator,
    I::Item: Into<Future<T>>,
{
    let deadline = deadline_after(timeout);
    let Distinct {
        futures: all,
        unsettled,
        failed: mut failed_already,
    } = Distinct::collect(futures, return_when == ReturnWhen::FirstException);
    let waiter = Arc::new(Waiter {
        state: Mutex::new((0, false)),
        cond: Condvar::new(),
    });
    let notify: Arc<dyn Notify> = waiter.clone();
    // Tokens are positions in `all`, ascending.
    let mut registered = Vec::with_capacity(unsettled.len());
    let mut already = all.len() - unsettled.len();
    for token in unsettled {
        let f = &all[token];
        if f.core()
            .register(Entry::Collect(Arc::clone(&notify), token))
            .is_ok()
        {
            registered.push(token);
        } else {
            already += 1;
            failed_already |= f.core().failed();
        }
    }
    let satisfied = |done: usize, failed: bool| match return_when {
        ReturnWhen::FirstCompleted => done > 0,
        ReturnWhen::FirstException => failed || done == all.len(),
        ReturnWhen::AllCompleted => done == all.len(),
    };
    if !registered.is_empty() && !satisfied(already, failed_already) {
        if deadline.is_none() {
            for &token in &registered {
                let state = waiter.state.lock();
                if satisfied(already + state.0, failed_already || state.1) {
                    break;
                }
                drop(state);
                all[token].help();
            }
        }
        let mut state = waiter.state.lock();
        while !satisfied(already + state.0, failed_already || state.1) {
            match deadline {
                None => waiter.cond.wait(&mut state),
                Some(d) => {
                    if waiter.cond.wait_until(&mut state, d) {
                        break;
                    }
                }
            }
        }
    }
    for &token in &registered {
        all[token].core().deregister(&notify, token);
    }
    // Only a registered future can still be pending.
    let (mut done, mut not_done) = (Vec::new(), Vec::new());
    if registered.is_empty() {
        done = all;
    } else {
        let mut registered = registered.into_iter().peekable();
        for (i, f) in all.into_iter().enumerate() {
            if registered.next_if_eq(&i).is_some() && !f.core().is_collected() {
                not_done.push(f);
            } else {
                done.push(f);
            }
        }
    }
    DoneAndNotDone {
        done: FutureSet::from_distinct(done),
        not_done: FutureSet::from_distinct(not_done),
    }
}
