//! Cooperative cancellation of running work: [`CancelToken`], and [`Cancelled`], the error a
//! task returns to end as cancelled.
//!
//! # The model
//!
//! .NET's `CancellationToken` and tokio-util's `CancellationToken`, in one type: a token is a
//! shared flag that anyone holding a clone may raise with [`cancel`](CancelToken::cancel) and
//! that running code checks ([`check`](CancelToken::check)), sleeps on
//! ([`sleep`](CancelToken::sleep)), blocks on ([`wait`](CancelToken::wait)) or awaits
//! ([`cancelled`](CancelToken::cancelled)). Cancelling is one-way and idempotent. A
//! [`child`](CancelToken::child) token is cancelled with its parent, never the reverse, so a
//! `map` or a request can own a token it may cancel without touching its caller's.
//!
//! # How a task sees it, on every executor
//!
//! A task submitted with a token (`submit_cancellable`, `Scope::spawn_cancellable`, or a
//! `map` with [`MapOptions::cancel_token`](crate::MapOptions::cancel_token)) reads it with
//! [`CancelToken::current`]: each executor's worker sets it on its thread while it runs the
//! task, so a plain `fn(A) -> Result<R, Cancelled>` that cannot capture anything (the process
//! and MPI pools run it in another process) reaches it the same way as a thread-pool closure,
//! and so does any code that task calls.
//!
//! # How a task says "I stopped because of cancellation"
//!
//! It returns `Err(Cancelled)` (usually through `token.check()?` or `token.sleep(d)?`), from a
//! function submitted through a `*_cancellable` method, whose type is
//! `FnOnce(A) -> Result<R, Cancelled>` while its future is a plain `Future<R>`. The executor then
//! ends the future as cancelled: [`Future::cancelled`](crate::Future::cancelled) is true,
//! `result()` gives [`FutureError::Cancelled`](crate::FutureError::Cancelled), done-callbacks
//! run, and [`wait`](crate::wait) and [`as_completed`](crate::as_completed) count it as done,
//! exactly as for a future cancelled before it ran. A task that returns a value finishes with
//! it, even if its token was cancelled meanwhile: the work is done, and dropping it would make
//! the outcome depend on a race the task never saw. The decision is the task's alone, so a
//! task ends exactly one way.
//!
//! Why a typed return and not an unwind (a panic with a `Cancelled` payload that the worker
//! catches): with `panic = "abort"` an unwind aborts the whole process, so cancelling one task
//! would kill the program; a return value works the same under both panic strategies and shows
//! in the task's type that it can stop early. The error is the same `Cancelled` a pending
//! future gets, not a separate variant, because for the code that consumes results both mean
//! "this task produced nothing and nobody wants it to" (.NET's `Canceled` status covers both too).
//!
//! # What "running" cancellation means on each executor
//!
//! Cancelling a token cancels at once every pending task submitted with it (they never start),
//! and raises the flag that running ones check: on threads that is all Rust can do (a thread
//! cannot be interrupted). On the MPI pool it is cooperative as well: killing a rank ends the
//! whole MPI job.

use crate::future::waiter::deadline_after;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Condvar, Mutex};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future as StdFuture;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// The error a task returns to say it stopped because it was cancelled; the executor then ends
/// its future as cancelled ([`FutureError::Cancelled`](crate::FutureError::Cancelled)).
///
/// [`CancelToken::check`] and [`CancelToken::sleep`] return it, so `?` propagates it. A task
/// submitted through a `*_cancellable` method has the type `FnOnce(A) -> Result<R, Cancelled>`
/// while its future is a plain `Future<R>`:
///
/// - `Err(Cancelled)` ends the future as cancelled: [`Future::cancelled`](crate::Future::cancelled)
///   is true, `result()` gives [`FutureError::Cancelled`](crate::FutureError::Cancelled),
///   done-callbacks run, and [`wait`](crate::wait), [`as_completed`](crate::as_completed) and
///   `.await` count it as done, exactly as for a future cancelled before it ran. Not a panic,
///   not a worker death.
/// - `Ok(value)` finishes it with the value, even if its token was cancelled meanwhile: the work
///   is done, and dropping it would make the outcome depend on a race the task never saw.
///
/// The task's word is final (the executor does not consult the token), so a task ends exactly
/// one way; a task may return `Cancelled` for a reason of its own too.
///
/// Why a return value and not an unwind (a panic with a `Cancelled` payload that the worker
/// would catch): under `panic = "abort"` any unwind aborts the process, so cancelling one task
/// would end the program; a return value works the same under both panic strategies, shows in
/// the task's type that it may stop early, and crosses to worker processes as data (it is a
/// [`Payload`](crate::Payload)). The future's error is the same `Cancelled` a pending future
/// gets, not a new variant: for code that consumes results both mean "this task produced
/// nothing, as someone asked" (.NET's `Canceled` status covers both too).
///
/// ```
/// use concurrent_futures::{CancelToken, Cancelled, FutureError};
/// let token = CancelToken::new();
/// token.cancel();
/// assert_eq!(token.check(), Err(Cancelled));
/// assert_eq!(FutureError::from(Cancelled), FutureError::Cancelled);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, thiserror::Error)]
// A `Payload` (a task through the `Executor` trait may return `Result<T, Cancelled>`), where
// the trait exists.
#[cfg_attr(feature = "process-pool", derive(serde::Serialize, serde::Deserialize))]
#[error("the task was cancelled")]
pub struct Cancelled;

impl From<Cancelled> for crate::error::FutureError {
    fn from(_: Cancelled) -> Self {
        crate::error::FutureError::Cancelled
    }
}

/// A request to stop, shared by every task given a clone (.NET's `CancellationToken`).
///
/// Cheap to clone (one reference count); every clone is the same token, compares equal to it and
/// hashes the same. One token can cover any number of tasks, on any executors: a whole `map`, a
/// `scope`, a crawl.
///
/// - [`cancel`](Self::cancel) raises the flag, for good: pending tasks submitted with the token
///   are cancelled at once, running ones see [`is_cancelled`](Self::is_cancelled) turn true,
///   [`sleep`](Self::sleep), [`wait`](Self::wait) and [`cancelled`](Self::cancelled) wake up,
///   and [`child`](Self::child) tokens are cancelled too.
/// - A task reads its own token with [`CancelToken::current`] (each executor's worker sets it
///   while the task runs, in whatever thread or process that is) and stops by returning
///   `Err(`[`Cancelled`]`)` (see there for why a return value).
///
/// What a cancel does to a task that already runs depends on where it runs: on the thread
/// pool it is cooperative (a thread cannot be interrupted: a task that never checks runs to its
/// end); on the process pool the request reaches the worker process at once, and a task that
/// has not returned after a grace period
/// ([`cancel_grace`](crate::ProcessPoolBuilder::cancel_grace)) is killed with its worker and
/// still ends as cancelled; on the MPI pool the request reaches the rank, but it stays
/// cooperative, since killing a rank ends the whole MPI job.
///
/// ```
/// use concurrent_futures::{CancelToken, Cancelled, FutureError, ThreadPoolExecutor};
/// use std::time::Duration;
///
/// fn crawl(pages: u32) -> Result<u32, Cancelled> {
///     let token = CancelToken::current();
///     for page in 0..pages {
///         token.sleep(Duration::from_millis(10))?; // "download" a page, or stop early
///         let _ = page;
///     }
///     Ok(pages)
/// }
///
/// let pool = ThreadPoolExecutor::new(2).unwrap();
/// let token = CancelToken::new();
/// let running = pool.submit_cancellable(&token, crawl, 1_000_000).unwrap();
/// while !running.running() { std::thread::yield_now() }
/// token.cancel();
/// assert_eq!(running.result(None), Err(FutureError::Cancelled));
/// assert!(running.cancelled());
/// ```
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<TokenInner>,
}

struct TokenInner {
    cancelled: AtomicBool,
    /// Everything to notify on cancellation. The flag is raised under this lock, so a waiter
    /// that checks it under the lock and then waits (or registers) cannot miss the cancel.
    registry: Mutex<Registry>,
    /// `wait` and `sleep` block here, with `registry`'s lock.
    cond: Condvar,
    /// This token's entry in its parent's registry, removed when the token is dropped.
    parent: Option<(Arc<TokenInner>, u64)>,
}

#[derive(Default)]
struct Registry {
    next_key: u64,
    /// Entries their owners remove by key: the wakers of `.await`s, and child tokens.
    keyed: HashMap<u64, Keyed>,
    /// Pending work to cancel (tasks, `map` batches, remote calls). Nobody removes these: once
    /// their length doubles since the last pass, the entries whose work has started or is gone
    /// are dropped, so a long-lived token over millions of tasks holds only the pending ones
    /// (amortized constant work per registration).
    work: Vec<Weak<dyn CancelTarget>>,
    prune_at: usize,
}

enum Keyed {
    Waker(Waker),
    Child(Weak<TokenInner>),
}

/// What a token tells when it is cancelled: a pending thread-pool task, a `map` batch, a
/// remote call waiting in its pool's queue, or (for a transport) a task running in another
/// process that must be sent the request. The token holds it weakly, so registering never
/// keeps work alive.
pub(crate) trait CancelTarget: Send + Sync {
    /// The token was cancelled: cancel the work if it has not started, or forward the request
    /// to wherever it runs. Runs on the cancelling thread, outside the token's lock.
    fn on_cancel(self: Arc<Self>);
    /// Whether `on_cancel` still matters (false once a pending task started, or a remote one
    /// ended), so a long-lived token can drop the entry.
    fn is_live(&self) -> bool;
}

/// Registrations are pruned when the list reaches twice its size after the last pruning, and
/// never below this many.
const PRUNE_MIN: usize = 64;

impl CancelToken {
    /// A new token, not cancelled.
    ///
    /// ```
    /// let token = concurrent_futures::CancelToken::new();
    /// assert!(!token.is_cancelled());
    /// ```
    pub fn new() -> Self {
        Self::with_parent(None)
    }

    fn with_parent(parent: Option<(Arc<TokenInner>, u64)>) -> Self {
        CancelToken {
            inner: Arc::new(TokenInner {
                cancelled: AtomicBool::new(false),
                registry: Mutex::new(Registry {
                    prune_at: PRUNE_MIN,
                    ..Registry::default()
                }),
                cond: Condvar::new(),
                parent,
            }),
        }
    }

    /// A new token that is cancelled when this one is (at once if it already is), and that
    /// can be cancelled on its own without cancelling this one (tokio-util's `child_token`).
    ///
    /// Use it to give a part of the work its own off switch: `map`'s
    /// [`cancel_running`](crate::MapOptions::cancel_running) cancels a child of the caller's
    /// token, never the caller's token itself. Dropping the child removes it from the parent.
    ///
    /// ```
    /// use concurrent_futures::CancelToken;
    /// let parent = CancelToken::new();
    /// let child = parent.child();
    /// child.cancel();
    /// assert!(!parent.is_cancelled());
    /// let other = parent.child();
    /// parent.cancel();
    /// assert!(other.is_cancelled());
    /// assert!(parent.child().is_cancelled());
    /// ```
    pub fn child(&self) -> CancelToken {
        let mut registry = self.inner.registry.lock();
        if self.inner.cancelled.load(Ordering::Relaxed) {
            drop(registry);
            let child = CancelToken::new();
            child.cancel();
            return child;
        }
        let key = registry.next_key;
        registry.next_key += 1;
        let child = CancelToken::with_parent(Some((Arc::clone(&self.inner), key)));
        registry
            .keyed
            .insert(key, Keyed::Child(Arc::downgrade(&child.inner)));
        child
    }

    /// Requests cancellation: raises the flag for good and wakes everything waiting on it.
    ///
    /// On this thread, before it returns: pending tasks submitted with this token are cancelled
    /// (their done-callbacks run here, as for [`Future::cancel`](crate::Future::cancel)),
    /// threads in [`sleep`](Self::sleep) or [`wait`](Self::wait) are woken, `.await`s of
    /// [`cancelled`](Self::cancelled) are woken, and child tokens are cancelled the same way.
    /// Running tasks see [`is_cancelled`](Self::is_cancelled) true from now on. Calling it again
    /// does nothing. Never blocks beyond those callbacks.
    ///
    /// ```
    /// let token = concurrent_futures::CancelToken::new();
    /// let clone = token.clone();
    /// clone.cancel();
    /// clone.cancel();
    /// assert!(token.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        // Children are cancelled from this loop, not by recursion, so a deep chain of child
        // tokens cannot overflow the stack.
        let mut tokens = vec![Arc::clone(&self.inner)];
        while let Some(token) = tokens.pop() {
            let Some((keyed, work)) = token.raise() else {
                continue;
            };
            for entry in keyed.into_values() {
                match entry {
                    Keyed::Waker(waker) => waker.wake(),
                    Keyed::Child(child) => tokens.extend(child.upgrade()),
                }
            }
            for pending in work {
                if let Some(pending) = pending.upgrade() {
                    pending.on_cancel();
                }
            }
        }
    }

    /// Whether [`cancel`](Self::cancel) was called on this token or an ancestor. Never blocks.
    ///
    /// ```
    /// let token = concurrent_futures::CancelToken::new();
    /// assert!(!token.is_cancelled());
    /// token.cancel();
    /// assert!(token.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        // ORDERING: Acquire pairs with the Release in `raise`: whatever the canceller did
        // before cancelling is visible to a task that sees the flag.
        self.inner.cancelled.load(Ordering::Acquire)
    }

    /// `Err(Cancelled)` once the token is cancelled, for `?` in a task (.NET's
    /// `ThrowIfCancellationRequested`). Never blocks.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the token is cancelled.
    ///
    /// ```
    /// use concurrent_futures::{CancelToken, Cancelled};
    /// fn step(token: &CancelToken) -> Result<u32, Cancelled> {
    ///     token.check()?;
    ///     Ok(1)
    /// }
    /// let token = CancelToken::new();
    /// assert_eq!(step(&token), Ok(1));
    /// token.cancel();
    /// assert_eq!(step(&token), Err(Cancelled));
    /// ```
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// Sleeps for `duration`, or less if the token is cancelled meanwhile: the sleep a
    /// cancellable task uses between retries or polls.
    ///
    /// Blocks the calling thread (a condition variable, woken by `cancel`) until `duration`
    /// has passed or the token is cancelled. A duration too large for the clock sleeps until
    /// cancelled. Inside an async runtime this blocks a runtime thread: await
    /// [`cancelled`](Self::cancelled) raced against the runtime's timer instead.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if the token is or becomes cancelled before the time is up.
    ///
    /// ```
    /// use concurrent_futures::{CancelToken, Cancelled};
    /// use std::time::{Duration, Instant};
    /// let token = CancelToken::new();
    /// assert_eq!(token.sleep(Duration::from_millis(1)), Ok(()));
    /// let clone = token.clone();
    /// let canceller = std::thread::spawn(move || clone.cancel());
    /// let start = Instant::now();
    /// assert_eq!(token.sleep(Duration::from_secs(60)), Err(Cancelled));
    /// assert!(start.elapsed() < Duration::from_secs(60));
    /// canceller.join().unwrap();
    /// ```
    pub fn sleep(&self, duration: Duration) -> Result<(), Cancelled> {
        if self.wait(Some(duration)) {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// Blocks until the token is cancelled or `timeout` passes (`None`: no limit); returns
    /// whether it is cancelled.
    ///
    /// A condition-variable wait, woken by [`cancel`](Self::cancel); `None` on a token that is
    /// never cancelled waits forever, and a timeout too large for the clock too. Inside an
    /// async runtime, await [`cancelled`](Self::cancelled) instead.
    ///
    /// ```
    /// use concurrent_futures::CancelToken;
    /// use std::time::Duration;
    /// let token = CancelToken::new();
    /// assert!(!token.wait(Some(Duration::ZERO)));
    /// token.cancel();
    /// assert!(token.wait(None));
    /// ```
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        if self.is_cancelled() {
            return true;
        }
        let deadline = deadline_after(timeout);
        let mut registry = self.inner.registry.lock();
        loop {
            if self.inner.cancelled.load(Ordering::Relaxed) {
                return true;
            }
            match deadline {
                None => self.inner.cond.wait(&mut registry),
                Some(d) => {
                    if self.inner.cond.wait_until(&mut registry, d) {
                        return self.inner.cancelled.load(Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// A future that completes when the token is cancelled (tokio-util's `cancelled()`), for
    /// async code: `token.cancelled().await`, or raced with other work in `select!`.
    ///
    /// It holds a clone of the token, so it is `'static`; dropping it unregisters its waker.
    /// Works with any runtime (it only uses the waker it is polled with).
    ///
    /// ```
    /// use concurrent_futures::CancelToken;
    /// let token = CancelToken::new();
    /// let clone = token.clone();
    /// std::thread::spawn(move || clone.cancel());
    /// futures::executor::block_on(token.cancelled());
    /// assert!(token.is_cancelled());
    /// ```
    pub fn cancelled(&self) -> Cancellation {
        Cancellation {
            token: self.clone(),
            key: None,
        }
    }

    /// The token of the task running on this thread, or a new token that is never cancelled
    /// (by anyone else) when the thread runs no task submitted with one.
    ///
    /// Every executor's worker sets it while it runs a task submitted with a token (on the
    /// thread pool, in the worker thread; in a process-pool or MPI worker, in that process), so
    /// a plain `fn` task, and anything it calls, can reach its token without a parameter. A
    /// task without a token, run inline by a worker waiting on it, sees none.
    ///
    /// ```
    /// use concurrent_futures::{CancelToken, Cancelled, ThreadPoolExecutor};
    /// fn report(_: ()) -> Result<bool, Cancelled> {
    ///     Ok(CancelToken::current().is_cancelled())
    /// }
    /// let pool = ThreadPoolExecutor::new(1).unwrap();
    /// let token = CancelToken::new();
    /// let f = pool.submit_cancellable(&token, report, ()).unwrap();
    /// assert_eq!(f.result(None), Ok(&false));
    /// assert!(CancelToken::try_current().is_none()); // this thread runs no task
    /// ```
    pub fn current() -> CancelToken {
        Self::try_current().unwrap_or_default()
    }

    /// The token of the task running on this thread, if it was submitted with one.
    ///
    /// ```
    /// assert!(concurrent_futures::CancelToken::try_current().is_none());
    /// ```
    pub fn try_current() -> Option<CancelToken> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// Registers `work` to be told when this token is cancelled; tells it now (on this thread)
    /// if the token already is cancelled.
    pub(crate) fn register(&self, work: Weak<dyn CancelTarget>) {
        let mut registry = self.inner.registry.lock();
        if self.inner.cancelled.load(Ordering::Relaxed) {
            drop(registry);
            if let Some(work) = work.upgrade() {
                work.on_cancel();
            }
            return;
        }
        if registry.work.len() >= registry.prune_at {
            registry
                .work
                .retain(|w| w.upgrade().is_some_and(|w| w.is_live()));
            registry.prune_at = (2 * registry.work.len()).max(PRUNE_MIN);
        }
        registry.work.push(work);
    }

    /// Registered work entries, for the tests of the pruning.
    #[cfg(test)]
    fn registered(&self) -> usize {
        self.inner.registry.lock().work.len()
    }
}

impl TokenInner {
    /// Raises the flag; the first caller gets the registrations to notify.
    #[allow(clippy::type_complexity)]
    fn raise(&self) -> Option<(HashMap<u64, Keyed>, Vec<Weak<dyn CancelTarget>>)> {
        let mut registry = self.registry.lock();
        if self.cancelled.load(Ordering::Relaxed) {
            return None;
        }
        // ORDERING: Release pairs with the Acquire of `is_cancelled`; under the lock, so the
        // lock's waiters and registrants see it too.
        self.cancelled.store(true, Ordering::Release);
        self.cond.notify_all();
        Some((
            std::mem::take(&mut registry.keyed),
            std::mem::take(&mut registry.work),
        ))
    }
}

impl Drop for TokenInner {
    fn drop(&mut self) {
        if let Some((parent, key)) = self.parent.take() {
            let removed = parent.registry.lock().keyed.remove(&key);
            drop(removed);
        }
    }
}

impl Default for CancelToken {
    /// [`CancelToken::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for CancelToken {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for CancelToken {}

impl Hash for CancelToken {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.inner) as usize).hash(state);
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// The future of [`CancelToken::cancelled`]: completes when the token is cancelled.
///
/// ```
/// use concurrent_futures::CancelToken;
/// let token = CancelToken::new();
/// token.cancel();
/// futures::executor::block_on(token.cancelled()); // already cancelled: ready at once
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Cancellation {
    token: CancelToken,
    /// Its waker's entry in the token's registry, once polled while not cancelled.
    key: Option<u64>,
}

impl StdFuture for Cancellation {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.token.is_cancelled() {
            return Poll::Ready(());
        }
        let inner = Arc::clone(&self.token.inner);
        let mut registry = inner.registry.lock();
        if inner.cancelled.load(Ordering::Relaxed) {
            return Poll::Ready(());
        }
        let old = match self.key {
            Some(key) => registry.keyed.insert(key, Keyed::Waker(cx.waker().clone())),
            None => {
                let key = registry.next_key;
                registry.next_key += 1;
                registry.keyed.insert(key, Keyed::Waker(cx.waker().clone()));
                self.key = Some(key);
                None
            }
        };
        drop(registry);
        // A waker's drop may run arbitrary code: not under the lock.
        drop(old);
        Poll::Pending
    }
}

impl Drop for Cancellation {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let removed = self.token.inner.registry.lock().keyed.remove(&key);
            drop(removed);
        }
    }
}

impl fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellation")
            .field("cancelled", &self.token.is_cancelled())
            .finish_non_exhaustive()
    }
}

#[cfg(not(concurrent_futures_loom))]
std::thread_local! {
    /// The token of the task running on this thread.
    static CURRENT: RefCell<Option<CancelToken>> = const { RefCell::new(None) };
}

#[cfg(concurrent_futures_loom)]
loom::thread_local! {
    static CURRENT: RefCell<Option<CancelToken>> = RefCell::new(None);
}

/// Makes `token` the current one on this thread until dropped, then restores the previous one
/// (tasks run inline inside other tasks nest). Each executor's worker holds one while it runs a
/// task; a process or MPI worker holds one with the token its parent's `Cancel` frames raise.
pub(crate) struct CurrentToken {
    previous: Option<CancelToken>,
}

impl CurrentToken {
    pub(crate) fn enter(token: Option<CancelToken>) -> Self {
        CurrentToken {
            previous: CURRENT.with(|c| c.replace(token)),
        }
    }
}

impl Drop for CurrentToken {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

#[cfg(all(test, not(concurrent_futures_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Probe {
        pending: AtomicBool,
        cancels: AtomicUsize,
    }

    impl CancelTarget for Probe {
        fn on_cancel(self: Arc<Self>) {
            self.cancels.fetch_add(1, Ordering::SeqCst);
        }
        fn is_live(&self) -> bool {
            self.pending.load(Ordering::SeqCst)
        }
    }

    fn probe(pending: bool) -> Arc<Probe> {
        Arc::new(Probe {
            pending: AtomicBool::new(pending),
            cancels: AtomicUsize::new(0),
        })
    }

    #[test]
    fn a_long_lived_token_keeps_only_pending_work() {
        let token = CancelToken::new();
        let mut keep = Vec::new();
        for i in 0..10_000 {
            let p = probe(i % 100 == 0);
            let weak: Weak<dyn CancelTarget> = Arc::downgrade(&p) as _;
            token.register(weak);
            keep.push(p);
        }
        // 100 pending; the list never grows past twice what the last pruning kept (or 64).
        assert!(
            token.registered() <= 2 * 100 + PRUNE_MIN,
            "{}",
            token.registered()
        );
        token.cancel();
        let cancelled: usize = keep.iter().map(|p| p.cancels.load(Ordering::SeqCst)).sum();
        // Every pending probe got its cancel; started ones may or may not (they ignore it).
        assert!(keep
            .iter()
            .filter(|p| p.is_live())
            .all(|p| p.cancels.load(Ordering::SeqCst) == 1));
        assert!(cancelled >= 100);
    }

    #[test]
    fn work_registered_on_a_cancelled_token_is_cancelled_at_once() {
        let token = CancelToken::new();
        token.cancel();
        let p = probe(true);
        token.register(Arc::downgrade(&p) as Weak<dyn CancelTarget>);
        assert_eq!(p.cancels.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn dropped_children_leave_their_parent() {
        let parent = CancelToken::new();
        for _ in 0..1000 {
            let child = parent.child();
            let _grandchild = child.child();
        }
        assert!(parent.inner.registry.lock().keyed.is_empty());
    }

    #[test]
    fn a_deep_chain_of_children_cancels_without_recursion() {
        let root = CancelToken::new();
        let mut chain = vec![root.clone()];
        for _ in 0..100_000 {
            let next = chain.last().unwrap().child();
            chain.push(next);
        }
        root.cancel();
        assert!(chain.last().unwrap().is_cancelled());
        // Leaf first: each drop releases one level (a child holds its parent).
        while chain.pop().is_some() {}
    }

    #[test]
    fn the_current_token_nests_and_is_restored() {
        let outer = CancelToken::new();
        let inner = CancelToken::new();
        assert!(CancelToken::try_current().is_none());
        {
            let _o = CurrentToken::enter(Some(outer.clone()));
            assert_eq!(CancelToken::current(), outer);
            {
                let _i = CurrentToken::enter(Some(inner.clone()));
                assert_eq!(CancelToken::current(), inner);
                let _none = CurrentToken::enter(None);
                assert!(CancelToken::try_current().is_none());
            }
            assert_eq!(CancelToken::current(), outer);
        }
        assert!(CancelToken::try_current().is_none());
    }
}
