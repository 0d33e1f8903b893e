//! The parent side: one manager thread that owns every worker process and its socket.
//!
//! Submitters only push onto a locked queue and wake the manager (at most one wake-up write per
//! sleep, so the wake-up channel can never fill: cpython#105829). The manager waits in one
//! `poll` on the wake-up and every worker socket (non-blocking, with per-worker write buffers,
//! so no lock is ever held across a write that could block: cpython#125451, #94777), and
//! dispatches at most one task per worker beyond the one it runs (CPython allows one in all,
//! `EXTRA_QUEUED_CALLS`: here every worker of short tasks has its next task at hand, and
//! everything else stays cancellable in the queue).
//!
//! It never sleeps or blocks on anything but that `poll`: a worker whose socket ended is
//! reaped without waiting (its exit status is collected on a later turn, and a process that
//! lingers is killed), and every deadline (task time limit, startup deadline, exit grace,
//! lingering) is the poll's timeout. Which task a dead worker was running is exact: see
//! `worker_process.rs`.

use super::worker_process::{DyingWorker, KillReason, WorkerProcess};
use crate::cancel::CancelToken;
use crate::error::{BrokenExecutor, FutureError, SubmitError, WorkerExit};
use crate::remote::forward::{CancelRequests, ForwardCancel};
use crate::remote::frame::{self, FromWorker, ToWorker, PROTOCOL};
use crate::remote::image::{ImageId, Portable};
use crate::remote::outbox::{Intake, Outbox};
use crate::remote::pending::{fail_all, PendingCall};
use crate::remote::role::WORKER_ENV;
use crate::retry::RetryPolicy;
use mio::net::UnixStream;
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::{Condvar, MappedMutexGuard, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

const WAKER: Token = Token(usize::MAX);

/// How long a process whose socket ended may live on before it is killed: it cannot serve any
/// more, and its exit status is what fails its running task.
const LINGER: Duration = Duration::from_millis(200);

/// How long a worker told to exit (it has no task) may take before it is killed: a stopped
/// process never reads `Exit`, and dropping the pool must still end.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Workers that die or miss their startup deadline before any worker of the pool was ever
/// ready, in a row, before the pool counts startup as broken (the initializer or the program
/// cannot start, not an outside kill). One startup timeout with no worker ever ready is enough.
const STARTUP_FAILURES_TO_BREAK: u32 = 3;

/// What the pool was built with.
#[derive(Debug)]
pub(super) struct ProcessPoolConfig {
    pub(super) max_workers: usize,
    pub(super) max_tasks_per_child: Option<u64>,
    pub(super) task_timeout: Option<Duration>,
    /// How long a new worker may take to answer the handshake (and run the initializer).
    pub(super) startup_timeout: Duration,
    /// How long a running task whose token was cancelled may take to return before its worker
    /// is killed.
    pub(super) cancel_grace: Duration,
    pub(super) break_on_worker_death: bool,
    /// What runs again after its worker died or timed out; `None`: nothing.
    pub(super) retry: Option<RetryPolicy>,
    pub(super) initializer: Option<(Portable, Vec<u8>)>,
    /// The identity sent in the handshake (a bogus one in the refusal test).
    pub(super) image: Vec<u8>,
    /// What to execute for a worker: the running image (another one only in tests).
    pub(super) program: std::path::PathBuf,
    pub(super) name: String,
}

/// The state submitters and the manager share.
pub(super) struct ProcessPoolShared {
    pub(super) config: ProcessPoolConfig,
    state: Mutex<State>,
    waker: Waker,
    /// Whether a wake-up is already on its way to the manager.
    wake_pending: AtomicBool,
    finished: Mutex<bool>,
    finished_cond: Condvar,
    /// Signalled (with the state lock) when a `start_workers` request is answered.
    started_cond: Condvar,
    manager: Mutex<Option<ThreadId>>,
    pids: Mutex<Vec<u32>>,
}

#[derive(Default)]
struct State {
    intake: Intake,
    /// A signal `terminate_workers`/`kill_workers` asked the manager to send.
    signal: Option<i32>,
    /// `start_workers` calls waiting for every worker to be started and ready.
    start_requests: usize,
    /// Bumped by the manager each time it answers the start requests.
    start_answers: u64,
    /// The answer: `None` when every worker answered the handshake.
    start_error: Option<SubmitError>,
    /// Tasks on workers whose tokens were cancelled, for the manager to forward.
    cancel_requests: Vec<u64>,
}

impl CancelRequests for ProcessPoolShared {
    /// The manager sends the worker `Cancel` (see `forward_cancels`).
    fn request_cancel(&self, id: u64) {
        self.state.lock().cancel_requests.push(id);
        self.wake();
    }
}

impl ProcessPoolShared {
    pub(super) fn new(config: ProcessPoolConfig, waker: Waker) -> Self {
        ProcessPoolShared {
            config,
            state: Mutex::new(State::default()),
            waker,
            wake_pending: AtomicBool::new(false),
            finished: Mutex::new(false),
            finished_cond: Condvar::new(),
            started_cond: Condvar::new(),
            manager: Mutex::new(None),
            pids: Mutex::new(Vec::new()),
        }
    }

    fn wake(&self) {
        // ORDERING: the queue push (or flag change) happened under the state lock before this
        // swap, and the manager clears the flag before it takes that lock; so either the
        // manager's next look at the queue sees our work, or it cleared the flag first and we
        // read `false` here and write the wake-up. AcqRel keeps the swap in that order.
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            let _ = self.waker.wake();
        }
    }

    pub(super) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let cancelled: Vec<PendingCall> = {
            let mut st = self.state.lock();
            st.intake.close();
            // Waiting `start_workers` calls get no answer after this: they return `Shutdown`.
            self.started_cond.notify_all();
            if cancel_futures {
                // Requeued tasks are marked running (they were sent to a worker that died
                // before starting them); like running tasks, they are not cancelled.
                let (keep, cancel): (VecDeque<PendingCall>, VecDeque<PendingCall>) =
                    st.intake.queue.drain(..).partition(|w| w.marked_running);
                st.intake.queue = keep;
                cancel.into_iter().collect()
            } else {
                Vec::new()
            }
        };
        for work in cancelled {
            work.completion.cancel();
        }
        self.wake();
        let on_manager = *self.manager.lock() == Some(std::thread::current().id());
        if wait && !on_manager {
            let mut finished = self.finished.lock();
            while !*finished {
                self.finished_cond.wait(&mut finished);
            }
        }
    }

    /// Asks the manager to start every worker the pool may have and waits until each one has
    /// answered the handshake (and run the initializer), or the pool broke or shut down.
    pub(super) fn start_workers(&self) -> Result<(), SubmitError> {
        let mut st = self.state.lock();
        st.intake.refusal()?;
        st.start_requests += 1;
        let asked = st.start_answers;
        self.wake();
        loop {
            if st.start_answers != asked {
                return st.start_error.clone().map_or(Ok(()), Err);
            }
            // The manager answers no request after a shutdown.
            st.intake.refusal()?;
            self.started_cond.wait(&mut st);
        }
    }

    pub(super) fn signal_workers(&self, signal: i32) {
        self.state.lock().signal = Some(signal);
        self.wake();
    }

    pub(super) fn pids(&self) -> Vec<u32> {
        self.pids.lock().clone()
    }

    pub(super) fn is_finished(&self) -> bool {
        *self.finished.lock()
    }
}

impl Outbox for ProcessPoolShared {
    fn intake(&self) -> MappedMutexGuard<'_, Intake> {
        MutexGuard::map(self.state.lock(), |st| &mut st.intake)
    }

    fn wake_consumer(&self) {
        self.wake();
    }
}

pub(super) struct Manager {
    shared: Arc<ProcessPoolShared>,
    poll: Poll,
    /// Live workers by token (the slot index); a slot is free again once its worker's socket
    /// ended.
    workers: Vec<Option<WorkerProcess>>,
    /// Workers whose socket ended, waiting for their exit status.
    dying: Vec<DyingWorker>,
    /// Tasks sent to workers and not finished.
    in_flight: usize,
    next_id: u64,
    broken: bool,
    /// Some worker of this pool answered the handshake: starting works, so later startup
    /// deaths are outside faults (an OOM killer, a supervisor) to recover from.
    ever_ready: bool,
    /// Startup failures since the last worker became ready.
    startup_failures: u32,
}

impl Manager {
    pub(super) fn new(shared: Arc<ProcessPoolShared>, poll: Poll) -> Self {
        Manager {
            shared,
            poll,
            workers: Vec::new(),
            dying: Vec::new(),
            in_flight: 0,
            next_id: 1,
            broken: false,
            ever_ready: false,
            startup_failures: 0,
        }
    }

    pub(super) fn run(mut self) {
        *self.shared.manager.lock() = Some(std::thread::current().id());
        let mut events = Events::with_capacity(64);
        loop {
            // ORDERING: cleared before the queue is read (see `ProcessPoolShared::wake`).
            self.shared.wake_pending.store(false, Ordering::Release);
            let (shutdown, signal) = self.dispatch();
            if let Some(sig) = signal {
                self.signal_all(sig);
            }
            self.forward_cancels();
            self.flush_all();
            if shutdown || self.broken {
                self.close_idle_workers();
                if self.workers.iter().all(Option::is_none) && self.dying.is_empty() {
                    break;
                }
            }
            let timeout = self.next_deadline();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.break_pool(format!("the process pool's poller failed: {e}"));
                }
                continue;
            }
            for event in events.iter() {
                let token = event.token();
                if token == WAKER {
                    continue;
                }
                if event.is_writable() {
                    self.flush_worker(token.0);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.on_readable(token.0);
                }
            }
            self.check_deadlines();
            self.reap_dying();
        }
        *self.shared.finished.lock() = true;
        self.shared.finished_cond.notify_all();
    }

    /// Moves queued work to workers with room, starting workers as needed. Returns the
    /// shutdown flag and any signal to send.
    ///
    /// A worker with no task gets one; a second one is sent ahead to a worker of short tasks
    /// only while more tasks wait than there are workers. So at the end of a batch the last
    /// tasks go to whichever worker is free first, instead of waiting behind a busy worker's
    /// current task while another worker idles.
    fn dispatch(&mut self) -> (bool, Option<i32>) {
        loop {
            let (queued, shutdown, signal, start) = {
                let mut st = self.shared.state.lock();
                let start = st.start_requests > 0 && !st.intake.shutdown;
                (
                    st.intake.queue.len(),
                    st.intake.shutdown,
                    st.signal.take(),
                    start,
                )
            };
            if start && !self.broken {
                self.start_all();
            }
            if signal.is_some() {
                return (shutdown, signal);
            }
            let ready = self
                .workers
                .iter()
                .flatten()
                .filter(|w| w.accepts_tasks())
                .count();
            let mut skipped = 0;
            let mut waiting = queued;
            // It stops when no worker has room: each holds at most `PER_WORKER` (`has_room`).
            while waiting > 0 {
                let Some(slot) = self.pick_worker(waiting > ready) else {
                    break;
                };
                let (call, left) = {
                    let mut st = self.shared.state.lock();
                    // `take` frees the slot for a submitter blocked on a full queue.
                    (st.intake.take(1).pop(), st.intake.queue.len())
                };
                let Some(call) = call else {
                    break;
                };
                waiting = left;
                if !self.assign(slot, call) {
                    skipped += 1;
                }
            }
            let left = self.shared.state.lock().intake.queue.len();
            if left > 0 && !self.broken {
                self.spawn_for(left);
            }
            // Cancelled tasks freed their slots: look again.
            if skipped == 0 || left == 0 {
                return (shutdown, None);
            }
        }
    }

    /// The worker with room and the fewest tasks, if any.
    fn pick_worker(&self, send_ahead: bool) -> Option<usize> {
        self.workers
            .iter()
            .enumerate()
            .filter_map(|(slot, w)| Some((slot, w.as_ref()?)))
            .filter(|(_, w)| w.has_room(send_ahead))
            .min_by_key(|(_, w)| w.in_flight())
            .map(|(slot, _)| slot)
    }

    /// Sends one task to the worker in `slot`; `false` if it was cancelled meanwhile.
    fn assign(&mut self, slot: usize, mut call: PendingCall) -> bool {
        if call.marked_running {
            // Queued again (a retry, or sent to a worker that died before starting it): its
            // futures already run, so its token is the one way to cancel it, checked here.
            if call.token.as_ref().is_some_and(CancelToken::is_cancelled) {
                call.completion.finish_cancelled();
                return false;
            }
        } else if !call.start() {
            return false;
        }
        call.marked_running = true;
        let id = self.next_id;
        self.next_id += 1;
        frame::set_task_id(&mut call.frame, id);
        // A task under a token: the worker lets it read the token, and a cancel while it is
        // on the worker is forwarded there.
        let token = call.token.clone();
        let forward = token.as_ref().map(|_| {
            frame::set_under_token(&mut call.frame);
            let requests: Weak<dyn CancelRequests> = Arc::downgrade(&self.shared) as _;
            ForwardCancel::new(id, requests)
        });
        let target = forward.as_ref().map(ForwardCancel::target);
        let worker = self.workers[slot]
            .as_mut()
            .expect("dispatch picks a live worker");
        worker.queue_frame(&call.frame);
        worker.push(id, call, forward);
        if let (Some(token), Some(target)) = (token, target) {
            // Registered once the task is on the worker, so the request finds it there (a
            // token already cancelled calls back at once).
            token.register(target);
        }
        self.in_flight += 1;
        true
    }

    /// Forwards the cancel requests of tasks on workers: `Cancel` to the worker, and a grace
    /// period for the running one (see `check_deadlines`).
    fn forward_cancels(&mut self) {
        let ids = std::mem::take(&mut self.shared.state.lock().cancel_requests);
        let grace = self.shared.config.cancel_grace;
        for id in ids {
            for slot in 0..self.workers.len() {
                let Some(w) = self.workers[slot].as_mut() else {
                    continue;
                };
                if w.cancel_requested(id, grace) {
                    let mut cancel = Vec::new();
                    ToWorker::Cancel { id }.encode(&mut cancel);
                    w.queue_frame(&cancel);
                    break;
                }
            }
        }
    }

    /// Serves `start_workers`: starts workers up to `max_workers` and, once every one has
    /// answered the handshake (or one could not be started), answers the waiting callers.
    fn start_all(&mut self) {
        let mut error = None;
        while self.live_workers() < self.shared.config.max_workers {
            if let Err(e) = self.spawn() {
                error = Some(SubmitError::Spawn(e.to_string()));
                break;
            }
        }
        let all_ready = self
            .workers
            .iter()
            .flatten()
            .all(|w| w.ready || w.closing());
        if error.is_some() || all_ready {
            let mut st = self.shared.state.lock();
            st.start_requests = 0;
            st.start_answers += 1;
            st.start_error = error;
            self.shared.started_cond.notify_all();
        }
    }

    fn live_workers(&self) -> usize {
        self.workers.iter().flatten().count()
    }

    /// Starts workers while the queue holds more tasks than starting workers will take.
    fn spawn_for(&mut self, queued: usize) {
        loop {
            let live = self.live_workers();
            let starting = self.workers.iter().flatten().filter(|w| !w.ready).count();
            if live >= self.shared.config.max_workers || starting >= queued {
                return;
            }
            if let Err(e) = self.spawn() {
                if live == 0 {
                    self.fail_queue(SubmitError::Spawn(e.to_string()));
                }
                return;
            }
        }
    }

    fn spawn(&mut self) -> io::Result<()> {
        let config = &self.shared.config;
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let mut cmd = Command::new(&config.program);
        cmd.env(WORKER_ENV, format!("{PROTOCOL}:{}", std::process::id()))
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .arg0(format!("{} worker", config.name));
        let child = cmd.spawn()?;
        // The child's end must close here, or its death would never read as end of stream.
        drop(cmd);
        ours.set_nonblocking(true)?;
        let mut stream = UnixStream::from_std(ours);
        let slot = match self.workers.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.workers.push(None);
                self.workers.len() - 1
            }
        };
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(slot), Interest::READABLE)
        {
            let mut child = child;
            let _ = child.kill();
            // Just killed, never ran a task: its exit is immediate.
            let _ = child.wait();
            return Err(e);
        }
        let mut hello = Vec::new();
        let init = config.initializer.as_ref();
        ToWorker::Hello {
            protocol: PROTOCOL,
            image: &config.image,
            max_tasks: config.max_tasks_per_child.unwrap_or(0),
            initializer: init.map(|(p, arg)| frame::Call {
                trampoline: p.trampoline,
                function: p.function,
                input: arg,
            }),
        }
        .encode(&mut hello);
        // Published only now: `worker_pids` lists processes that can be signalled safely
        // (ours, not yet reaped), starting ones included.
        self.shared.pids.lock().push(child.id());
        self.workers[slot] = Some(WorkerProcess::new(
            child,
            stream,
            hello,
            config.max_tasks_per_child,
        ));
        Ok(())
    }

    fn flush_all(&mut self) {
        for slot in 0..self.workers.len() {
            self.flush_worker(slot);
        }
    }

    fn flush_worker(&mut self, slot: usize) {
        let Some(w) = self.workers.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        match w.flush() {
            Ok(drained) => {
                if drained == w.writable_interest {
                    let interest = if drained {
                        Interest::READABLE
                    } else {
                        Interest::READABLE | Interest::WRITABLE
                    };
                    if self
                        .poll
                        .registry()
                        .reregister(&mut w.stream, Token(slot), interest)
                        .is_ok()
                    {
                        w.writable_interest = !drained;
                    }
                }
            }
            // A write error means the worker is gone; its end of stream reports that.
            Err(_) => w.discard_output(),
        }
    }

    fn on_readable(&mut self, slot: usize) {
        let Some(w) = self.workers.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let ended = w.read_available();
        if let Err(e) = self.handle_frames(slot) {
            self.on_garbage(slot, e);
        }
        if ended {
            self.on_socket_end(slot);
        }
    }

    fn handle_frames(&mut self, slot: usize) -> Result<(), String> {
        loop {
            let w = self.workers[slot].as_mut().expect("worker present");
            let Some(range) = w.inbuf.next_frame().map_err(|e| e.to_string())? else {
                return Ok(());
            };
            let body = w.inbuf.body(range);
            match FromWorker::decode(body).map_err(|e| e.to_string())? {
                FromWorker::Ready { .. } => {
                    w.ready = true;
                    self.ever_ready = true;
                    self.startup_failures = 0;
                }
                FromWorker::Refused(reason) => {
                    let msg = format!("a worker process refused to start: {reason}");
                    self.break_pool(msg);
                    return Ok(());
                }
                FromWorker::InitFailed(message) => {
                    let msg = format!(
                        "A process initializer failed, the process pool is not usable anymore: \
                         {message}"
                    );
                    self.break_pool(msg);
                    return Ok(());
                }
                FromWorker::Started { id } => w
                    .tasks
                    .started(id, self.shared.config.cancel_grace)
                    .map_err(|e| e.0)?,
                FromWorker::Done { id, output } => {
                    let call = w.tasks.finished(id).map_err(|e| e.0)?;
                    self.in_flight -= 1;
                    call.completion.complete(Ok(output));
                }
                FromWorker::Failed { id, failure } => {
                    let call = w.tasks.finished(id).map_err(|e| e.0)?;
                    self.in_flight -= 1;
                    call.completion.complete(Err(FutureError::from(failure)));
                }
            }
        }
    }

    /// Garbage from a worker: it cannot be trusted with more tasks, and nothing it wrote after
    /// the garbage can be read. Its running task fails with the protocol error. The tasks it
    /// was sent and had not started when the garbage came may have started since (their
    /// `Started` would be among the unreadable bytes), so none of them runs again unless its
    /// retry policy says so: each has lost an attempt with this worker.
    fn on_garbage(&mut self, slot: usize, error: String) {
        let w = self.workers[slot].as_mut().expect("worker present");
        let (running, unknown) = w.take_sent();
        w.kill(KillReason::Protocol);
        self.in_flight -= usize::from(running.is_some()) + unknown.len();
        if let Some(call) = running {
            call.completion
                .complete(Err(FutureError::Protocol(error.clone())));
        }
        for call in unknown {
            let lost = FutureError::Protocol(format!(
                "the worker process was sent this task, then wrote bytes that are not a frame \
                 ({error}), so whether the task started is unknown"
            ));
            self.attempt_lost(call, lost, RetryCause::WorkerDeath);
        }
    }

    /// Puts tasks that provably never ran back at the front of the queue, in order.
    fn requeue(&mut self, calls: Vec<PendingCall>) {
        if calls.is_empty() {
            return;
        }
        let mut st = self.shared.state.lock();
        for call in calls.into_iter().rev() {
            st.intake.queue.push_front(call);
        }
    }

    /// A worker's socket ended: its tasks that never started go back to the queue now; its
    /// running task fails once its exit status is in (reaped now if it is, or later, never
    /// waiting here).
    fn on_socket_end(&mut self, slot: usize) {
        let Some(mut w) = self.workers[slot].take() else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut w.stream);
        let killed = w.kill_reason_for_running();
        let (running, never_started) = w.take_sent();
        self.in_flight -= usize::from(running.is_some()) + never_started.len();
        let sent_with_it = if killed == Some(KillReason::Requested) {
            never_started
        } else {
            self.requeue(never_started);
            Vec::new()
        };
        let retired = w.budget == Some(0) && running.is_none();
        let exit_sent = w.exit_deadline.is_some();
        let asked = matches!(killed, Some(KillReason::Requested | KillReason::ExitGrace));
        let dying = DyingWorker {
            child: w.child,
            pid: w.pid,
            running,
            sent_with_it,
            killed,
            ready: w.ready,
            asked: exit_sent || retired || asked || self.broken,
            since: Instant::now(),
        };
        self.dying.push(dying);
        self.reap_dying();
    }

    /// Collects the exit status of every dying worker that has one, and kills those that
    /// linger past [`LINGER`].
    fn reap_dying(&mut self) {
        let mut i = 0;
        while i < self.dying.len() {
            let d = &mut self.dying[i];
            match d.child.try_wait() {
                Ok(None) => {
                    if d.killed.is_none() && d.since.elapsed() >= LINGER {
                        d.killed = Some(KillReason::Lingering);
                        let _ = d.child.kill();
                    }
                    i += 1;
                }
                status => {
                    let d = self.dying.swap_remove(i);
                    self.on_exit(d, status.ok().flatten());
                }
            }
        }
    }

    /// A worker is gone for good (reaped): fail what it ran and decide what its death means.
    fn on_exit(&mut self, d: DyingWorker, status: Option<std::process::ExitStatus>) {
        self.shared.pids.lock().retain(|&p| p != d.pid);
        let exit = WorkerExit {
            pid: d.pid,
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
        };
        if !d.ready && !d.asked {
            self.on_startup_failure(d.killed, exit);
        }
        // A death the pool caused (a time limit, a deadline, garbage) is not abrupt.
        let abrupt = !d.asked && d.killed.is_none();
        if self.shared.config.break_on_worker_death && abrupt && !self.broken {
            let msg = format!(
                "A process in the process pool was terminated abruptly while the future was \
                 running or pending ({exit})"
            );
            fail_all(
                d.running.into_iter().chain(d.sent_with_it),
                &BrokenExecutor::new(msg.clone()),
            );
            self.break_pool(msg);
            return;
        }
        let timed_out = d.killed == Some(KillReason::TaskTimeout);
        let error = match (self.shared.config.task_timeout, timed_out) {
            (Some(limit), true) => FutureError::TaskTimedOut { limit, pid: d.pid },
            _ => FutureError::WorkerDied(exit),
        };
        if let Some(call) = d.running {
            // Deaths of the task's own making (a crash, a closed socket, its time limit), or a
            // kill aimed at a task that had just ended, may be retried; an end the program
            // asked for (terminate, kill, a cancel) or a broken pool not.
            let cause = match d.killed {
                _ if self.broken => RetryCause::Never,
                None | Some(KillReason::Lingering | KillReason::Overtaken) => {
                    RetryCause::WorkerDeath
                }
                Some(KillReason::TaskTimeout) => RetryCause::TaskTimeout,
                Some(KillReason::Cancelled) => RetryCause::Cancelled,
                _ => RetryCause::Never,
            };
            self.attempt_lost(call, error.clone(), cause);
        }
        for call in d.sent_with_it {
            call.completion.complete(Err(error.clone()));
        }
    }

    /// A task's attempt ended with its worker: it runs again if the retry policy allows one
    /// more attempt, else it fails, naming what the attempts cost when there were several.
    ///
    /// A task whose token is cancelled is asked to stop: whatever ended its worker (the
    /// grace period's kill, or a crash meanwhile), it ends as cancelled, as a task that
    /// returned `Cancelled` would, and never runs again.
    fn attempt_lost(&mut self, mut call: PendingCall, error: FutureError, cause: RetryCause) {
        if cause == RetryCause::Cancelled
            || call.token.as_ref().is_some_and(CancelToken::is_cancelled)
        {
            call.completion.finish_cancelled();
            return;
        }
        call.attempts_lost += 1;
        let policy = call.retry.or(self.shared.config.retry);
        let retry = policy.is_some_and(|p| match cause {
            RetryCause::WorkerDeath => p.retries_worker_deaths(),
            RetryCause::TaskTimeout => p.retries_task_timeouts(),
            RetryCause::Cancelled | RetryCause::Never => false,
        });
        let allowed = policy.map_or(1, |p| p.max_attempts());
        if retry && call.attempts_lost < allowed {
            // A retry is a deliberate new attempt: to the front, for the next free worker.
            self.requeue(vec![call]);
            return;
        }
        let error = if call.attempts_lost > 1 {
            FutureError::RetriesExhausted {
                attempts: call.attempts_lost,
                last: Box::new(error),
            }
        } else {
            error
        };
        call.completion.complete(Err(error));
    }

    /// A worker died or missed its deadline before answering the handshake. An outside kill of
    /// a starting worker is replaced like any death; only a startup that fails every time
    /// breaks the pool (CPython breaks on a failing initializer the same way).
    fn on_startup_failure(&mut self, killed: Option<KillReason>, exit: WorkerExit) {
        if self.ever_ready || self.broken {
            return;
        }
        self.startup_failures += 1;
        let limit = self.shared.config.startup_timeout;
        if killed == Some(KillReason::StartupTimeout) {
            self.break_pool(format!(
                "a worker process was not ready within {limit:?} of its start (does the \
                 initializer return?); it was killed, and the process pool is not usable anymore"
            ));
        } else if self.startup_failures >= STARTUP_FAILURES_TO_BREAK {
            self.break_pool(format!(
                "{} worker processes in a row ended before they were ready, the last with \
                 {exit}; the process pool is not usable anymore",
                self.startup_failures
            ));
        }
    }

    fn close_idle_workers(&mut self) {
        let shutdown_done = self.in_flight == 0 && self.shared.state.lock().intake.queue.is_empty();
        if !shutdown_done && !self.broken {
            return;
        }
        for slot in 0..self.workers.len() {
            if let Some(w) = self.workers[slot].as_mut() {
                if !w.closing() {
                    w.exit_deadline = Some(Instant::now() + EXIT_GRACE);
                    let mut exit = Vec::new();
                    ToWorker::Exit.encode(&mut exit);
                    w.queue_frame(&exit);
                    self.flush_worker(slot);
                }
            }
        }
    }

    fn signal_all(&mut self, signal: i32) {
        for w in self.workers.iter_mut().flatten() {
            w.killed.get_or_insert(KillReason::Requested);
            // SAFETY: `kill` takes plain integers; the pid is our own unreaped child (reaping
            // happens only in `reap_dying`, after which the worker is gone from every list), so
            // it cannot name a recycled process.
            unsafe {
                libc::kill(w.pid as libc::pid_t, signal);
            }
        }
    }

    /// The poll timeout: until the nearest deadline of a worker, or the next look at the dying.
    fn next_deadline(&self) -> Option<Duration> {
        let now = Instant::now();
        let task_timeout = self.shared.config.task_timeout;
        let startup = self.shared.config.startup_timeout;
        let workers = self.workers.iter().flatten().filter(|w| w.killed.is_none());
        let deadlines = workers.filter_map(|w| {
            if !w.ready {
                return Some(w.spawned_at + startup);
            }
            let task_end = w.running_since().zip(task_timeout).map(|(s, l)| s + l);
            let start_by = w.startable_since().map(|s| s + startup);
            [task_end, start_by, w.cancel_deadline(), w.exit_deadline]
                .into_iter()
                .flatten()
                .min()
        });
        // A dying worker's status is normally there within microseconds of its socket's end:
        // look again soon, then less often, up to the moment it counts as lingering.
        let dying = self.dying.iter().map(|d| {
            let age = now.saturating_duration_since(d.since);
            now + age.clamp(Duration::from_micros(50), Duration::from_millis(5))
        });
        deadlines
            .chain(dying)
            .min()
            .map(|d| d.saturating_duration_since(now))
    }

    /// Kills workers past a deadline: a task past `task_timeout`, a start past the startup
    /// deadline, a task left unstarted (none running) past the startup deadline, an exit past
    /// its grace. Their socket's end then reports the death: a task that never started goes
    /// to another worker.
    fn check_deadlines(&mut self) {
        let now = Instant::now();
        let task_timeout = self.shared.config.task_timeout;
        let startup = self.shared.config.startup_timeout;
        for w in self.workers.iter_mut().flatten() {
            if w.killed.is_some() {
                continue;
            }
            let reason = if !w.ready && now >= w.spawned_at + startup {
                Some(KillReason::StartupTimeout)
            } else if matches!(
                (w.running_since(), task_timeout),
                (Some(since), Some(limit)) if now >= since + limit
            ) {
                Some(KillReason::TaskTimeout)
            } else if w.cancel_deadline().is_some_and(|d| now >= d) {
                Some(KillReason::Cancelled)
            } else if w.startable_since().is_some_and(|s| now >= s + startup) {
                Some(KillReason::Unresponsive)
            } else if w.exit_deadline.is_some_and(|d| now >= d) {
                Some(KillReason::ExitGrace)
            } else {
                None
            };
            if let Some(reason) = reason {
                w.kill(reason);
            }
        }
    }

    /// Fails every queued task (no worker could be started for them).
    fn fail_queue(&mut self, error: SubmitError) {
        let queued: Vec<PendingCall> = self.shared.state.lock().intake.queue.drain(..).collect();
        for call in queued {
            call.completion
                .complete(Err(FutureError::Rejected(error.clone())));
        }
    }

    /// CPython's broken pool: refuse new work, fail everything queued or running, stop every
    /// worker.
    fn break_pool(&mut self, message: String) {
        if self.broken {
            return;
        }
        self.broken = true;
        let broken = BrokenExecutor::new(message);
        let queued = {
            let mut st = self.shared.state.lock();
            self.shared.started_cond.notify_all();
            st.intake.break_with(&broken)
        };
        fail_all(queued, &broken);
        for w in self.workers.iter_mut().flatten() {
            let (running, never_started) = w.take_sent();
            fail_all(running.into_iter().chain(never_started), &broken);
            w.kill(KillReason::Requested);
        }
        for d in &mut self.dying {
            fail_all(
                d.running.take().into_iter().chain(d.sent_with_it.drain(..)),
                &broken,
            );
        }
        self.in_flight = 0;
    }
}

impl Drop for Manager {
    /// A panic on the manager thread (a bug) must not leave futures pending forever or
    /// processes behind: the pool breaks, every worker is killed and reaped, and waiters are
    /// released.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        self.break_pool("the process pool's manager thread panicked".into());
        let children = self
            .workers
            .iter_mut()
            .flatten()
            .map(|w| &mut w.child)
            .chain(self.dying.iter_mut().map(|d| &mut d.child));
        for child in children {
            let _ = child.kill();
            // Killed just now: the exit is immediate.
            let _ = child.wait();
        }
        self.shared.pids.lock().clear();
        *self.shared.finished.lock() = true;
        self.shared.finished_cond.notify_all();
    }
}

/// What ended a task's attempt with its worker, for its retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RetryCause {
    /// The worker died (a crash, a closed socket, an outside kill) or was killed for a task
    /// that had just ended: retried if the policy retries worker deaths.
    WorkerDeath,
    /// The task ran past `task_timeout`: retried if the policy retries timeouts.
    TaskTimeout,
    /// The task was asked to stop through its token: never retried, it ends as cancelled.
    Cancelled,
    /// The program ended the worker on purpose, or the pool broke: never retried.
    Never,
}

/// The identity every worker must match.
pub(super) fn image_id() -> Result<Vec<u8>, String> {
    ImageId::current().map(|id| id.as_bytes().to_vec())
}
