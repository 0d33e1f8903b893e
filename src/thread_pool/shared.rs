//! The pool's shared state and its worker loop. The protocol is described in `README.md` beside
//! this file.

use super::queue::JobQueue;
use super::task::{current_pool, set_current_pool, Job, Task, TaskBody, TaskEnd};
use crate::backpressure::{Admit, Capacity, SubmitRoute, TrySubmitError, WhenFull};
use crate::cancel::{CancelTarget, CancelToken, CurrentToken};
use crate::error::{BrokenExecutor, SubmitError};
use crate::future::waiter::deadline_after;
use crate::future::Future;
use crate::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use crate::sync::{thread, Condvar, Mutex};
use crossbeam_utils::CachePadded;
use std::sync::{Arc, Weak};

/// Gate word: bit 63 shutdown, bit 62 broken, the rest counts `submit` calls in progress.
const SHUTDOWN: usize = 1 << (usize::BITS - 1);
const BROKEN: usize = 1 << (usize::BITS - 2);
const IN_FLIGHT: usize = BROKEN - 1;

/// Sleepers word: low half counts idle workers not yet claimed, high half counts wake tokens
/// (claims a submitter made that no worker has consumed yet).
const IDLE_ONE: u64 = 1;
const TOKEN_ONE: u64 = 1 << 32;
const IDLE_MASK: u64 = TOKEN_ONE - 1;

/// How many times an idle worker yields, re-checking the queue, before it sleeps. Under loom
/// none: each yield multiplies the interleavings to explore (a single one makes the two-worker
/// model about eight times slower), and the path where an idle worker finds a job without
/// sleeping is still there (the first poll after counting itself idle).
const IDLE_YIELDS: u32 = if cfg!(concurrent_futures_loom) { 0 } else { 3 };

pub(crate) const INITIALIZER_FAILED: &str =
    "A thread initializer failed, the thread pool is not usable anymore";

pub(crate) type Initializer = Arc<dyn Fn() + Send + Sync>;

pub(crate) struct ThreadPoolConfig {
    pub(crate) id: usize,
    pub(crate) max_workers: usize,
    pub(crate) name_prefix: String,
    pub(crate) stack_size: Option<usize>,
    pub(crate) initializer: Option<Initializer>,
    /// The queue bound and its policy; `None`: unbounded, and no submit or pop looks further.
    pub(crate) capacity: Option<Capacity>,
}

/// Why a sleeping worker left the wait.
enum Woke {
    /// It consumed a wake token: a submitter claimed it.
    Token,
    /// A job is queued that no token stands for.
    Work,
    /// The pool is shut down and drained.
    Exit,
}

pub(crate) struct ThreadPoolShared {
    pub(crate) config: ThreadPoolConfig,
    queue: JobQueue<Arc<dyn Job>>,
    // The submitter writes `gate` twice per task and workers write `sleepers` around idling;
    // on one cache line they would slow each other down (false sharing).
    gate: CachePadded<AtomicUsize>,
    sleepers: CachePadded<AtomicU64>,
    /// Workers started and not yet exited.
    alive: AtomicUsize,
    /// Idle workers blocked on `wake` (a subset of the idle count): only they need a notify.
    sleeping: AtomicUsize,
    /// Threads ever started, for names.
    started: AtomicUsize,
    /// Workers that got past the initializer (never decremented: workers exit only at the end).
    ready: AtomicUsize,
    sleep_lock: Mutex<()>,
    wake: Condvar,
    /// `start_workers` waits here (with `sleep_lock`) for `ready` to reach `max_workers`.
    ready_cond: Condvar,
    handles: Mutex<Vec<thread::JoinHandle<()>>>,
    broken: Mutex<Option<BrokenExecutor>>,
    /// `map` batches not yet dropped: a stop reaches their pending items even after every
    /// token left the queue.
    batches: Mutex<Vec<Weak<dyn Job>>>,
    /// With a capacity: tasks in the queue (each holds a slot from its admission until a pop
    /// takes it out). Untouched without one.
    queued: CachePadded<AtomicUsize>,
    /// Submitters waiting in `take_slot` for room; a pop that frees a slot notifies only if
    /// some wait.
    blocked: AtomicUsize,
    room_lock: Mutex<()>,
    /// Signalled when a slot frees up, and on shutdown or breakage.
    room: Condvar,
}

impl ThreadPoolShared {
    pub(crate) fn new(config: ThreadPoolConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            queue: JobQueue::new(),
            gate: CachePadded::new(AtomicUsize::new(0)),
            sleepers: CachePadded::new(AtomicU64::new(0)),
            alive: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            ready: AtomicUsize::new(0),
            sleep_lock: Mutex::new(()),
            wake: Condvar::new(),
            ready_cond: Condvar::new(),
            handles: Mutex::new(Vec::new()),
            broken: Mutex::new(None),
            batches: Mutex::new(Vec::new()),
            queued: CachePadded::new(AtomicUsize::new(0)),
            blocked: AtomicUsize::new(0),
            room_lock: Mutex::new(()),
            room: Condvar::new(),
        })
    }

    pub(crate) fn num_threads(&self) -> usize {
        self.alive.load(Ordering::Acquire)
    }

    /// Queues `func` and returns its future: `submit` and `spawn`.
    pub(crate) fn submit<F, T>(self: &Arc<Self>, func: F) -> Result<Future<T>, SubmitError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.config.capacity.is_some() {
            return self
                .submit_body(func, Admit::Policy, None)
                .map_err(SubmitError::from);
        }
        // The unbounded pool's path, the hot one: no admission, no token, nothing to hand
        // back.
        let task = Arc::new(Task::new(func, self.config.id));
        if let Err(refused) = self.enter() {
            Job::cancel(task);
            return Err(refused);
        }
        self.queue_admitted(task, SubmitRoute::Queue, None)
    }

    /// Queues a task running `body`, admitted as `admit` says when the queue has a capacity,
    /// and cancelled by `token` while it is pending. Every task but a scope's enters the pool
    /// here.
    ///
    /// A refused task (shut down, broken, full) is never built: its body comes back in the
    /// error. If no worker could be started for it ([`SubmitError::Spawn`]), it is cancelled
    /// and its body comes back too (or, if some thread ran it meanwhile, its future does).
    pub(crate) fn submit_body<B, T>(
        self: &Arc<Self>,
        body: B,
        admit: Admit,
        token: Option<&CancelToken>,
    ) -> Result<Future<T>, TrySubmitError<B>>
    where
        B: TaskBody<T>,
        T: Send + 'static,
    {
        if token.is_some_and(CancelToken::is_cancelled) {
            // A closed pool still refuses first, as `submit` always does.
            // ORDERING: Acquire pairs with the Release of `shutdown`/`break_pool`.
            if let Err(refused) = self.refusal(self.gate.load(Ordering::Acquire)) {
                return Err(TrySubmitError::new(refused, body));
            }
            // Not queued: a task whose token is cancelled never starts (.NET's `Task.Run`
            // with a cancelled token returns a cancelled task).
            let task = Arc::new(Task::new(body, self.config.id));
            let future = Future::from_cell(task.clone());
            Job::cancel(task);
            return Ok(future);
        }
        let admission = match self.admit(admit) {
            Ok(admission) => admission,
            Err(refused) => return Err(TrySubmitError::new(refused, body)),
        };
        let task = Arc::new(Task::new(body, self.config.id));
        match self.queue_admitted(Arc::clone(&task), admission, token) {
            Ok(future) => Ok(future),
            Err(e) => match task.reclaim() {
                Some(body) => Err(TrySubmitError::new(e, body)),
                None => Ok(Future::from_cell(task)),
            },
        }
    }

    /// Queues a task built by the caller (a scope adds its own end-of-task report).
    ///
    /// If the pool refuses it (shut down, broken, full), the task is never queued: it is
    /// cancelled and acknowledged here, so its closure is dropped and its end reported before
    /// this returns. On [`SubmitError::Spawn`] it is queued and cancelled, as for `submit`.
    pub(crate) fn submit_task<B, T, E>(
        self: &Arc<Self>,
        task: Arc<Task<B, T, E>>,
        token: Option<&CancelToken>,
    ) -> Result<Future<T>, SubmitError>
    where
        B: TaskBody<T>,
        T: Send + 'static,
        E: TaskEnd,
    {
        if token.is_some_and(CancelToken::is_cancelled) {
            let future = Future::from_cell(task.clone());
            Job::cancel(task);
            // ORDERING: Acquire pairs with the Release of `shutdown`/`break_pool`.
            return self
                .refusal(self.gate.load(Ordering::Acquire))
                .map(|()| future);
        }
        match self.admit(Admit::Policy) {
            Ok(admission) => self.queue_admitted(task, admission, token),
            Err(refused) => {
                Job::cancel(task);
                Err(refused)
            }
        }
    }

    /// Queues (or, with `RunHere`, runs) an admitted task and registers it with its token.
    ///
    /// Inlined into every caller, so that `submit`'s unbounded path, where `route` and
    /// `token` are constants, pays nothing for the branches it never takes.
    #[inline(always)]
    fn queue_admitted<B, T, E>(
        self: &Arc<Self>,
        task: Arc<Task<B, T, E>>,
        route: SubmitRoute,
        token: Option<&CancelToken>,
    ) -> Result<Future<T>, SubmitError>
    where
        B: TaskBody<T>,
        T: Send + 'static,
        E: TaskEnd,
    {
        let future = Future::from_cell(task.clone());
        if route == SubmitRoute::RunHere {
            // `CallerRuns`, or a worker of this pool that found its own queue full: the
            // submitter pays for the task with its own time. The task runs as a call, not
            // under the token of whatever task the submitter may be running: it sees only its
            // own (a cancellable task enters its own token when it starts).
            let _none = CurrentToken::enter(None);
            Job::run(task, &|| {});
            return Ok(future);
        }
        let pending = token.map(|_| Arc::downgrade(&task) as Weak<dyn CancelTarget>);
        self.queue.push(task);
        let started = self.wake_or_spawn();
        self.leave();
        if let (Some(token), Some(pending)) = (token, pending) {
            // After the push: a cancel in between finds the task queued and cancels it here.
            token.register(pending);
        }
        match started {
            Ok(()) => Ok(future),
            Err(e) => {
                future.cancel();
                Err(e)
            }
        }
    }

    /// Admits one task: a queue slot when the pool has a capacity (waiting for one, or not,
    /// as `admit` and the policy say), then the gate. `Queue` means both are held: the caller
    /// must push and then `leave`. `RunHere` holds neither.
    fn admit(&self, admit: Admit) -> Result<SubmitRoute, SubmitError> {
        if let Some(capacity) = &self.config.capacity {
            if admit == Admit::Always {
                // ORDERING: as in `try_take_slot`.
                self.queued.fetch_add(1, Ordering::AcqRel);
            } else if self.take_slot(capacity, admit)? == SubmitRoute::RunHere {
                // ORDERING: Acquire pairs with the Release of `shutdown`/`break_pool`.
                self.refusal(self.gate.load(Ordering::Acquire))?;
                return Ok(SubmitRoute::RunHere);
            }
            if let Err(refused) = self.enter() {
                self.slot_freed();
                return Err(refused);
            }
            return Ok(SubmitRoute::Queue);
        }
        self.enter()?;
        Ok(SubmitRoute::Queue)
    }

    /// Takes a free slot if the queue holds fewer than `limit` tasks.
    fn try_take_slot(&self, limit: usize) -> bool {
        // ORDERING: the count is the only thing shared here; the fence in `take_slot` orders
        // the waiter's check against a freeing pop.
        let mut cur = self.queued.load(Ordering::Acquire);
        while cur < limit {
            match self.queued.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
        false
    }

    /// A slot for a task, or what the full queue's policy says (`submit` on a bounded pool).
    fn take_slot(&self, capacity: &Capacity, admit: Admit) -> Result<SubmitRoute, SubmitError> {
        if self.try_take_slot(capacity.limit) {
            return Ok(SubmitRoute::Queue);
        }
        let full = SubmitError::Full {
            capacity: capacity.limit,
        };
        let deadline = match (admit, capacity.when_full) {
            (Admit::Try, _) | (_, WhenFull::Fail) => return Err(full),
            (_, WhenFull::CallerRuns) => return Ok(SubmitRoute::RunHere),
            (_, WhenFull::BlockFor(limit)) => deadline_after(Some(limit)),
            (_, WhenFull::Block) => None,
        };
        // A worker of this pool that waited for room in its own queue could wait for ever
        // (all workers could): it runs the task it is submitting itself instead, as a call.
        // Only that task, never other queued work, so nothing runs inside it that it did not
        // ask for (no implicit re-entrancy, as for `result()` on a worker).
        if current_pool() == self.config.id {
            return Ok(SubmitRoute::RunHere);
        }
        let mut guard = self.room_lock.lock();
        self.blocked.fetch_add(1, Ordering::Relaxed);
        // ORDERING: SeqCst fence against the one in `slot_freed` (store-load): either the pop
        // that frees a slot sees us counted in `blocked` and notifies under the lock we hold
        // until we wait, or we see its decrement in the check below.
        fence(Ordering::SeqCst);
        let outcome = loop {
            // ORDERING: Acquire pairs with the Release of `shutdown`/`break_pool`, which then
            // take this lock to notify: checked under it, their bit cannot slip past us.
            if let Err(refused) = self.refusal(self.gate.load(Ordering::Acquire)) {
                break Err(refused);
            }
            if self.try_take_slot(capacity.limit) {
                break Ok(SubmitRoute::Queue);
            }
            match deadline {
                None => self.room.wait(&mut guard),
                Some(d) => {
                    if self.room.wait_until(&mut guard, d) {
                        if self.try_take_slot(capacity.limit) {
                            break Ok(SubmitRoute::Queue);
                        }
                        break Err(full);
                    }
                }
            }
        };
        self.blocked.fetch_sub(1, Ordering::Relaxed);
        drop(guard);
        outcome
    }

    /// A task left the queue (a worker took it, or a stop cancelled or failed it): frees its
    /// slot and wakes the submitters waiting for one.
    fn slot_freed(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        // ORDERING: SeqCst fence against the one in `take_slot` (see there).
        fence(Ordering::SeqCst);
        if self.blocked.load(Ordering::Relaxed) > 0 {
            let _guard = self.room_lock.lock();
            self.room.notify_all();
        }
    }

    /// Takes the oldest job off the queue, freeing its capacity slot.
    fn pop(&self) -> Option<Arc<dyn Job>> {
        let job = self.queue.pop()?;
        if self.config.capacity.is_some() && job.holds_slot() {
            self.slot_freed();
        }
        Some(job)
    }

    /// Queues a `map` batch of `items` items as one token per worker that can help with it
    /// (`min(items, max_workers)`): one gate entry and one wake-up check per token, not per
    /// item.
    ///
    /// Refused (shut down or broken): the batch is cancelled and never queued. If not even the
    /// first worker could be started, the batch is cancelled and the spawn error returned, as
    /// `submit` does for its task.
    pub(crate) fn submit_batch(
        self: &Arc<Self>,
        batch: Arc<dyn Job>,
        items: usize,
    ) -> Result<(), SubmitError> {
        if let Err(refused) = self.enter() {
            batch.cancel();
            return Err(refused);
        }
        {
            let mut live = self.batches.lock();
            live.retain(|b| b.strong_count() > 0);
            live.push(Arc::downgrade(&batch));
        }
        let mut outcome = Ok(());
        for token in 0..items.min(self.config.max_workers) {
            self.queue.push(Arc::clone(&batch));
            if let Err(e) = self.wake_or_spawn() {
                // Later tokens only add helpers; the first one needs a worker.
                if token == 0 {
                    outcome = Err(e);
                }
                break;
            }
        }
        self.leave();
        if outcome.is_err() {
            batch.cancel();
        }
        outcome
    }

    /// The live `map` batches, for a stop that must reach their pending items.
    fn live_batches(&self) -> Vec<Arc<dyn Job>> {
        self.batches
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Starts a `submit` (or a `start_workers`): counted in the gate until `leave`, or refused
    /// (and not counted) if the pool is shut down or broken.
    fn enter(&self) -> Result<(), SubmitError> {
        // ORDERING: Acquire pairs with the Release of `shutdown`/`break_pool` setting their bit;
        // the increment itself is what `shutdown` waits to drain.
        let gate = self.gate.fetch_add(1, Ordering::Acquire);
        let open = self.refusal(gate);
        if open.is_err() {
            self.leave();
        }
        open
    }

    /// What a caller gets from a pool whose gate word is `gate`: `Ok` while it is open, else
    /// `Broken` (which wins, as in Python) or `Shutdown`.
    fn refusal(&self, gate: usize) -> Result<(), SubmitError> {
        if gate & BROKEN != 0 {
            Err(SubmitError::Broken(self.broken_error()))
        } else if gate & SHUTDOWN != 0 {
            Err(SubmitError::Shutdown)
        } else {
            Ok(())
        }
    }

    /// Ends a `submit`; the last one out after a shutdown or breakage tidies up.
    fn leave(&self) {
        // ORDERING: Release publishes this submit's push to whoever sees the count reach zero.
        let prev = self.gate.fetch_sub(1, Ordering::Release);
        if prev & BROKEN != 0 {
            self.fail_queued();
        }
        if prev & SHUTDOWN != 0 && prev & IN_FLIGHT == 1 {
            self.wake_all();
        }
    }

    /// After a push: hand the job to an idle worker, or start one if none is idle.
    fn wake_or_spawn(self: &Arc<Self>) -> Result<(), SubmitError> {
        // ORDERING: SeqCst fence against the worker's fences after "I am idle" and after "I am
        // going to sleep", each followed by a look at the queue: either it sees our job or we
        // see it idle or asleep (the store-load pattern).
        fence(Ordering::SeqCst);
        // Read once for the two checks below. While the pool runs the count only grows, so a
        // stale read just runs a check that was not needed; it only shrinks when a failed
        // initializer breaks the pool, whose queued jobs `leave` fails anyway.
        let at_cap = self.alive.load(Ordering::Relaxed) >= self.config.max_workers;
        // At the cap there is no spawn decision left, and only a sleeping worker needs a
        // claim: a running or yielding one looks at the queue again before it sleeps, last of
        // all after counting itself in `sleeping`. Claiming yielding workers too would cost
        // every submit a CAS on the `sleepers` line, which workers write at every idle spell
        // (about 4% of a submit + `result` round trip when cores are few).
        if at_cap && self.sleeping.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let mut cur = self.sleepers.load(Ordering::Relaxed);
        while cur & IDLE_MASK > 0 {
            // ORDERING: the claim is a pure counter hand-off; the job itself was published by
            // the queue.
            match self.sleepers.compare_exchange_weak(
                cur,
                cur - IDLE_ONE + TOKEN_ONE,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // The queue already empty means a worker took our job between the push
                    // and this claim, possibly the very worker we just claimed, counted idle
                    // again after running it. Left in place, that stale token would hide it
                    // from the next submit, which would start a needless thread (CPython's
                    // `test_thread_pool.py::ThreadPoolExecutorTest::test_idle_thread_reuse`).
                    // At the cap no spawn decision is left to mislead, and the token holder
                    // finds any later job by itself: skip the check (a cache miss on the
                    // queue's head while workers churn between idle and busy).
                    let returned = if !at_cap && self.queue.len() == 0 {
                        self.take_token(true)
                    } else {
                        None
                    };
                    if let Some(left) = returned {
                        // Like any token decrement (`consumed_token`): while tokens remain,
                        // a sleeper must be on its way.
                        self.consumed_token(left);
                        // ORDERING: SeqCst fence against a concurrent submitter's fence after
                        // its push (store-load again): either it sees the returned idle count
                        // and claims it, or we see its job and claim again for it, since it
                        // may have counted on the token we returned and woken no one.
                        fence(Ordering::SeqCst);
                        if self.queue.len() == 0 {
                            return Ok(());
                        }
                        cur = self.sleepers.load(Ordering::Relaxed);
                        continue;
                    }
                    // Only the claim that finds no token outstanding wakes a sleeper; later
                    // claims of the same burst are woken by the workers that consume the
                    // earlier tokens (`consumed_token`). A submitter that woke one sleeper
                    // per task would lose its CPU to the woken workers when cores are few, and
                    // queue the rest of its burst milliseconds late.
                    if cur < TOKEN_ONE {
                        self.notify_sleeper();
                    }
                    return Ok(());
                }
                Err(actual) => cur = actual,
            }
        }
        // No idle worker was counted, but one that was spinning may have taken the job already
        // (and un-counted itself): start a thread only if work is actually waiting.
        if self.alive.load(Ordering::Relaxed) >= self.config.max_workers || self.queue.len() == 0 {
            return Ok(());
        }
        self.spawn_worker()
    }

    /// Starts every worker up to `max_workers` and waits until each has run the initializer.
    pub(crate) fn start_workers(self: &Arc<Self>) -> Result<(), SubmitError> {
        // Holding the gate like a submit keeps `shutdown(wait)` from collecting the join
        // handles before the threads started here are recorded.
        self.enter()?;
        let mut started = Ok(true);
        while matches!(started, Ok(true)) {
            started = self.try_spawn_worker();
        }
        self.leave();
        started.map_err(SubmitError::Spawn)?;
        let mut guard = self.sleep_lock.lock();
        loop {
            if self.ready.load(Ordering::Relaxed) >= self.config.max_workers {
                return Ok(());
            }
            // ORDERING: Acquire pairs with the Release of the `gate` bits.
            let gate = self.gate.load(Ordering::Acquire);
            if gate & (SHUTDOWN | BROKEN) != 0 {
                drop(guard);
                return self.refusal(gate);
            }
            self.ready_cond.wait(&mut guard);
        }
    }

    /// Wakes one sleeping worker, if any sleeps.
    fn notify_sleeper(&self) {
        // ORDERING: SeqCst against the sleeper's `sleeping` increment and token check
        // (store-load again): either it sees the token and does not wait, or we see it asleep
        // and notify under the lock it waits with.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) > 0 {
            let _guard = self.sleep_lock.lock();
            self.wake.notify_one();
        }
    }

    /// A worker took one token and `left` remain: it passes the wake-up on, since the
    /// submitter woke only for the first token of its burst (see `wake_or_spawn`). Whoever
    /// leaves tokens behind on a decrement, or raises them from zero, notifies: so while any
    /// token is outstanding, a sleeper is being woken.
    fn consumed_token(&self, left: u64) {
        if left >= TOKEN_ONE {
            self.notify_sleeper();
        }
    }

    fn spawn_worker(self: &Arc<Self>) -> Result<(), SubmitError> {
        match self.try_spawn_worker() {
            Ok(_) => Ok(()),
            Err(e) if self.alive.load(Ordering::Acquire) == 0 => Err(SubmitError::Spawn(e)),
            Err(e) => {
                log::warn!(target: "concurrent_futures", "could not start a worker thread: {e}");
                Ok(())
            }
        }
    }

    /// Starts one worker thread; `Ok(false)` if the pool already has `max_workers`.
    fn try_spawn_worker(self: &Arc<Self>) -> Result<bool, String> {
        let mut alive = self.alive.load(Ordering::Relaxed);
        loop {
            if alive >= self.config.max_workers {
                return Ok(false);
            }
            // ORDERING: reserving a slot; the count is only read for decisions and reports.
            match self.alive.compare_exchange_weak(
                alive,
                alive + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => alive = actual,
            }
        }
        let index = self.started.fetch_add(1, Ordering::Relaxed);
        let mut builder =
            thread::Builder::new().name(format!("{}_{}", self.config.name_prefix, index));
        if let Some(size) = self.config.stack_size {
            builder = builder.stack_size(size);
        }
        let shared = Arc::clone(self);
        match builder.spawn(move || shared.worker()) {
            Ok(handle) => {
                self.handles.lock().push(handle);
                Ok(true)
            }
            Err(e) => {
                self.alive.fetch_sub(1, Ordering::AcqRel);
                Err(e.to_string())
            }
        }
    }

    fn worker(self: Arc<Self>) {
        set_current_pool(self.config.id);
        if let Some(init) = &self.config.initializer {
            if let Err(e) = crate::panic::catch(|| init()) {
                log::error!(target: "concurrent_futures", "Exception in initializer: {e}");
                self.break_pool(BrokenExecutor::new(INITIALIZER_FAILED));
                self.alive.fetch_sub(1, Ordering::AcqRel);
                return;
            }
        }
        if self.ready.fetch_add(1, Ordering::Relaxed) + 1 >= self.config.max_workers {
            let _guard = self.sleep_lock.lock();
            self.ready_cond.notify_all();
        }
        let mut idle = false;
        while let Some(job) = self.next_job(idle) {
            let counted = std::cell::Cell::new(false);
            // Count ourselves idle before the result is visible when nothing else is queued, so
            // that a `submit` right after `result()` reuses this thread instead of starting one.
            job.run(&|| {
                // Only spawn decisions read this early count, and none are left at the cap.
                if self.alive.load(Ordering::Relaxed) < self.config.max_workers
                    && self.queue.len() == 0
                {
                    self.become_idle();
                    counted.set(true);
                }
            });
            idle = counted.get();
        }
        // ORDERING: Release so `num_threads() == 0` after shutdown implies the worker's work is done.
        self.alive.fetch_sub(1, Ordering::Release);
    }

    fn become_idle(&self) {
        // ORDERING: SeqCst RMW plus fence pairs with `wake_or_spawn` (see there).
        self.sleepers.fetch_add(IDLE_ONE, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// The next job, or `None` when the pool is shut down and drained. `idle`: this worker is
    /// already counted idle.
    fn next_job(&self, idle: bool) -> Option<Arc<dyn Job>> {
        if let Some(job) = self.pop() {
            if idle {
                self.leave_idle();
            }
            return Some(job);
        }
        if !idle {
            self.become_idle();
        }
        let mut yields = 0;
        loop {
            if let Some(job) = self.pop() {
                self.leave_idle();
                return Some(job);
            }
            // Polling the queue pulls its tail cache line away from the submitter, so an idle
            // worker yields its core a few times rather than spinning, then sleeps: a spin
            // backoff costs about 30% more per task in `examples/submit_throughput.rs`.
            if yields < IDLE_YIELDS {
                yields += 1;
                thread::yield_now();
                continue;
            }
            let mut guard = self.sleep_lock.lock();
            // ORDERING: SeqCst pairs with the fence in `wake_or_spawn` (see there).
            self.sleeping.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let woke = loop {
                if let Some(left) = self.take_token(false) {
                    if left >= TOKEN_ONE && self.sleeping.load(Ordering::Relaxed) > 1 {
                        // Passing the wake-up on (`consumed_token`) under the lock we hold;
                        // the other sleepers wait with it, so the count is exact here.
                        self.wake.notify_one();
                    }
                    break Woke::Token;
                }
                // A job can be queued with no token for it: its submitter found no idle
                // worker counted (this one was still between popping nothing and counting
                // itself), and the worker that then found it idle took a token meant for a
                // sleeper. Sleeping over it would strand the job while this worker idles.
                if self.queue.len() > 0 {
                    break Woke::Work;
                }
                if self.drained() {
                    break Woke::Exit;
                }
                self.wake.wait(&mut guard);
            };
            self.sleeping.fetch_sub(1, Ordering::Relaxed);
            drop(guard);
            match woke {
                Woke::Exit => {
                    self.leave_idle();
                    return None;
                }
                // Claimed: there was a job for us (another worker may have taken it; then we
                // go round and become idle again).
                Woke::Token => {
                    if let Some(job) = self.pop() {
                        return Some(job);
                    }
                    self.become_idle();
                }
                // Still counted idle: take the job and give the slot back, or go round.
                Woke::Work => {
                    if let Some(job) = self.pop() {
                        self.leave_idle();
                        return Some(job);
                    }
                }
            }
        }
    }

    /// Consumes a wake token if there is one; returns the sleepers word it left. With
    /// `back_to_idle` the token turns back into an idle count instead: a claim undone because
    /// it found nothing to hand over (tokens and idle counts are fungible, their sum is the
    /// number of idle workers).
    fn take_token(&self, back_to_idle: bool) -> Option<u64> {
        let refund = if back_to_idle { IDLE_ONE } else { 0 };
        let mut cur = self.sleepers.load(Ordering::Relaxed);
        while cur >= TOKEN_ONE {
            let next = cur - TOKEN_ONE + refund;
            match self.sleepers.compare_exchange_weak(
                cur,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(next),
                Err(actual) => cur = actual,
            }
        }
        None
    }

    /// This idle worker found work (or is exiting) without being woken: give back one idle
    /// slot, preferring an outstanding token (a claim that counted us as the idle one).
    fn leave_idle(&self) {
        let mut cur = self.sleepers.load(Ordering::Relaxed);
        loop {
            let next = if cur >= TOKEN_ONE {
                cur - TOKEN_ONE
            } else {
                debug_assert!(cur & IDLE_MASK > 0, "an idle worker is counted");
                cur - IDLE_ONE
            };
            match self.sleepers.compare_exchange_weak(
                cur,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if cur >= TOKEN_ONE {
                        self.consumed_token(next);
                    }
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Shut down, no submit in progress, and nothing queued: a worker may exit.
    fn drained(&self) -> bool {
        // ORDERING: Acquire pairs with `leave`'s Release: a zero count means every push that
        // passed the gate is visible to the queue check that follows.
        let gate = self.gate.load(Ordering::Acquire);
        gate & SHUTDOWN != 0 && gate & IN_FLIGHT == 0 && self.queue.len() == 0
    }

    fn wake_all(&self) {
        {
            let _guard = self.sleep_lock.lock();
            self.wake.notify_all();
            self.ready_cond.notify_all();
        }
        // Submitters blocked on a full queue get the shutdown (or broken) error.
        let _guard = self.room_lock.lock();
        self.room.notify_all();
    }

    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        // ORDERING: Release pairs with the Acquire in `submit`.
        self.gate.fetch_or(SHUTDOWN, Ordering::Release);
        if cancel_futures {
            while let Some(job) = self.pop() {
                job.cancel();
            }
            for batch in self.live_batches() {
                batch.cancel();
            }
        }
        self.wake_all();
        if !wait {
            return;
        }
        // A submit that passed the gate before the bit may still push or start a worker; its
        // window is a few instructions, so yield until it is out.
        while self.gate.load(Ordering::Acquire) & IN_FLIGHT != 0 {
            thread::yield_now();
        }
        let me = thread::current().id();
        let handles = std::mem::take(&mut *self.handles.lock());
        for handle in handles {
            if handle.thread().id() == me {
                // shutdown(wait) from one of our own tasks: joining ourselves would hang. Keep
                // the handle so that a later shutdown (or the drop) still waits for this worker.
                self.handles.lock().push(handle);
                continue;
            }
            // A worker never unwinds (tasks and callbacks are caught), so join cannot fail
            // short of a crate bug; report it rather than panic in a destructor.
            if handle.join().is_err() {
                log::error!(target: "concurrent_futures", "a worker thread panicked");
            }
        }
    }

    fn break_pool(&self, error: BrokenExecutor) {
        self.broken.lock().get_or_insert(error);
        // ORDERING: Release pairs with the Acquire in `submit`.
        self.gate.fetch_or(BROKEN, Ordering::Release);
        self.fail_queued();
        let error = self.broken_error();
        for batch in self.live_batches() {
            batch.fail(&error);
        }
        self.wake_all();
    }

    fn broken_error(&self) -> BrokenExecutor {
        self.broken
            .lock()
            .clone()
            .unwrap_or_else(|| BrokenExecutor::new(INITIALIZER_FAILED))
    }

    fn fail_queued(&self) {
        let error = self.broken_error();
        while let Some(job) = self.pop() {
            job.fail(&error);
        }
    }
}
