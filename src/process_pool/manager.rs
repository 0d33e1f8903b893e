//! The parent side: one manager thread that owns every worker process and its socket.
//!
//! Submitters only push onto a locked queue and wake the manager (at most one wake-up write per
//! sleep, so the wake-up channel can never fill: cpython#105829). The manager waits in one
//! `poll` on the wake-up and every worker socket (non-blocking, with per-worker write buffers,
//! so no lock is ever held across a write that could block: cpython#125451, #94777), dispatches
//! at most two tasks per worker and `max_workers + 1` in all (CPython's `EXTRA_QUEUED_CALLS`,
//! so `cancel()` stays meaningful), and turns each worker's end of stream into a reaped exit
//! status. Results come back in dispatch order per worker (a worker runs one task at a time),
//! so only the oldest task of a dead worker was running: it fails, the others go back to the
//! front of the queue.

use crate::error::{BrokenExecutor, FutureError, SubmitError, WorkerExit};
use crate::remote::frame::{self, FrameBuffer, FromWorker, ToWorker, PROTOCOL};
use crate::remote::image::{ImageId, Portable};
use crate::remote::outbox::{Intake, Outbox};
use crate::remote::pending::{fail_all, PendingCall};
use crate::remote::role::WORKER_ENV;
use mio::net::UnixStream;
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::{Condvar, MappedMutexGuard, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

const WAKER: Token = Token(usize::MAX);
/// Tasks sent ahead to one worker whose tasks are short: the one it runs and the next, so it
/// never idles for a round trip. Everything else stays cancellable in the queue.
const PER_WORKER: usize = 2;
/// Tasks shorter than this (on average) are worth pipelining. Longer ones are sent one at a
/// time, so a task never waits behind a long one while another worker is free (CPython's
/// shared call queue has that property too); the round trip is noise next to them.
const PIPELINE_BELOW: Duration = Duration::from_millis(1);
const READ_CHUNK: usize = 64 * 1024;

/// What the pool was built with.
#[derive(Debug)]
pub(super) struct ProcessPoolConfig {
    pub(super) max_workers: usize,
    pub(super) max_tasks_per_child: Option<u64>,
    pub(super) task_timeout: Option<Duration>,
    pub(super) break_on_worker_death: bool,
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
                // Requeued tasks already run (they were sent to a worker that died before
                // starting them); like running tasks, they are not cancelled.
                let (keep, cancel): (VecDeque<PendingCall>, VecDeque<PendingCall>) =
                    st.intake.queue.drain(..).partition(|w| w.started);
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

/// One worker process as the manager sees it.
struct WorkerProcess {
    child: Child,
    pid: u32,
    stream: UnixStream,
    /// Handshake answered; tasks may be sent.
    ready: bool,
    /// `Exit` sent, a retirement due, or a kill sent: no more tasks.
    closing: bool,
    inbuf: FrameBuffer,
    out: Vec<u8>,
    out_pos: usize,
    writable_interest: bool,
    in_flight: VecDeque<(u64, PendingCall)>,
    /// When the oldest in-flight task became the one the worker runs.
    front_since: Instant,
    /// Tasks this worker may still be sent (`max_tasks_per_child`).
    budget: Option<u64>,
    /// Killed because its task ran past the time limit.
    timed_out: bool,
    /// Moving average of its task durations, as the manager sees them; `None` until one ends.
    avg_task: Option<Duration>,
}

impl WorkerProcess {
    /// Writes what the socket takes now; `Ok(true)` once the buffer is empty.
    fn flush(&mut self) -> io::Result<bool> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(true)
    }

    fn free_slots(&self) -> usize {
        if !self.ready || self.closing {
            return 0;
        }
        let cap = match self.avg_task {
            Some(avg) if avg < PIPELINE_BELOW => PER_WORKER,
            _ => 1,
        };
        let room = cap.saturating_sub(self.in_flight.len());
        match self.budget {
            Some(b) => room.min(b as usize),
            None => room,
        }
    }
}

pub(super) struct Manager {
    shared: std::sync::Arc<ProcessPoolShared>,
    poll: Poll,
    workers: Vec<Option<WorkerProcess>>,
    in_flight: usize,
    next_id: u64,
    broken: bool,
}

impl Manager {
    pub(super) fn new(shared: std::sync::Arc<ProcessPoolShared>, poll: Poll) -> Self {
        Manager {
            shared,
            poll,
            workers: Vec::new(),
            in_flight: 0,
            next_id: 1,
            broken: false,
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
            self.flush_all();
            if shutdown || self.broken {
                self.close_idle_workers();
                if self.workers.iter().all(Option::is_none) {
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
                    self.on_writable(token.0);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.on_readable(token.0);
                }
            }
            self.check_timeouts();
        }
        *self.shared.finished.lock() = true;
        self.shared.finished_cond.notify_all();
    }

    /// Moves queued work to workers with free slots, starting workers as needed. Returns the
    /// shutdown flag and any signal to send.
    fn dispatch(&mut self) -> (bool, Option<i32>) {
        let window = self.shared.config.max_workers + 1;
        loop {
            let slots: usize = self
                .workers
                .iter()
                .flatten()
                .map(WorkerProcess::free_slots)
                .sum();
            let room = slots.min(window.saturating_sub(self.in_flight));
            let (batch, queued, shutdown, signal, start) = {
                let mut st = self.shared.state.lock();
                let n = room.min(st.intake.queue.len());
                let batch: Vec<PendingCall> = st.intake.take(n);
                let start = st.start_requests > 0 && !st.intake.shutdown;
                (
                    batch,
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
            let mut skipped = 0;
            for work in batch {
                if !self.assign(work) {
                    skipped += 1;
                }
            }
            if queued > 0 && !self.broken {
                self.spawn_for(queued);
            }
            // Cancelled tasks freed their slots: look again.
            if skipped == 0 || queued == 0 {
                return (shutdown, None);
            }
        }
    }

    /// Sends one task to the least loaded worker with room; `false` if it was cancelled.
    fn assign(&mut self, mut work: PendingCall) -> bool {
        if !work.started && !work.completion.start() {
            return false;
        }
        work.started = true;
        let worker = self
            .workers
            .iter_mut()
            .flatten()
            .filter(|w| w.free_slots() > 0)
            .min_by_key(|w| w.in_flight.len())
            .expect("dispatch only takes as many tasks as there are free slots");
        let id = self.next_id;
        self.next_id += 1;
        frame::set_task_id(&mut work.frame, id);
        worker.out.extend_from_slice(&work.frame);
        if worker.in_flight.is_empty() {
            worker.front_since = Instant::now();
        }
        worker.in_flight.push_back((id, work));
        if let Some(b) = worker.budget.as_mut() {
            *b -= 1;
        }
        self.in_flight += 1;
        true
    }

    /// Serves `start_workers`: starts workers up to `max_workers` and, once every one has
    /// answered the handshake (or one could not be started), answers the waiting callers.
    fn start_all(&mut self) {
        let mut error = None;
        while self.workers.iter().flatten().count() < self.shared.config.max_workers {
            if let Err(e) = self.spawn() {
                error = Some(SubmitError::Spawn(e.to_string()));
                break;
            }
        }
        let all_ready = self.workers.iter().flatten().all(|w| w.ready || w.closing);
        if error.is_some() || all_ready {
            let mut st = self.shared.state.lock();
            st.start_requests = 0;
            st.start_answers += 1;
            st.start_error = error;
            self.shared.started_cond.notify_all();
        }
    }

    /// Starts workers while the queue holds more tasks than starting workers will take.
    fn spawn_for(&mut self, queued: usize) {
        loop {
            let live = self.workers.iter().flatten().count();
            let starting = self.workers.iter().flatten().filter(|w| !w.ready).count();
            if live >= self.shared.config.max_workers || starting * PER_WORKER >= queued {
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
            let _ = child.wait();
            return Err(e);
        }
        let pid = child.id();
        let mut out = Vec::new();
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
        .encode(&mut out);
        self.shared.pids.lock().push(pid);
        self.workers[slot] = Some(WorkerProcess {
            child,
            pid,
            stream,
            ready: false,
            closing: false,
            inbuf: FrameBuffer::new(),
            out,
            out_pos: 0,
            writable_interest: false,
            in_flight: VecDeque::new(),
            front_since: Instant::now(),
            budget: config.max_tasks_per_child,
            timed_out: false,
            avg_task: None,
        });
        Ok(())
    }

    fn flush_all(&mut self) {
        for slot in 0..self.workers.len() {
            self.flush_worker(slot);
        }
    }

    fn flush_worker(&mut self, slot: usize) {
        let Some(w) = self.workers[slot].as_mut() else {
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
            Err(_) => {
                w.out.clear();
                w.out_pos = 0;
            }
        }
    }

    fn on_writable(&mut self, slot: usize) {
        if slot < self.workers.len() {
            self.flush_worker(slot);
        }
    }

    fn on_readable(&mut self, slot: usize) {
        let Some(w) = self.workers.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let mut ended = false;
        loop {
            let want = w.inbuf.wanted().max(READ_CHUNK);
            match w.stream.read(w.inbuf.spare(want)) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) => w.inbuf.filled(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    ended = true;
                    break;
                }
            }
        }
        if let Err(e) = self.handle_frames(slot) {
            // Garbage from a worker: it cannot be trusted with more tasks.
            let w = self.workers[slot].as_mut().expect("worker present");
            if let Some((_, work)) = w.in_flight.pop_front() {
                self.in_flight -= 1;
                work.completion.complete(Err(FutureError::Protocol(e)));
            }
            w.closing = true;
            let _ = w.child.kill();
        }
        if ended {
            self.on_exit(slot);
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
                FromWorker::Ready { .. } => w.ready = true,
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
                FromWorker::Done { id, output } => {
                    let work =
                        pop_front(&mut w.in_flight, &mut w.front_since, &mut w.avg_task, id)?;
                    self.in_flight -= 1;
                    work.completion.complete(Ok(output));
                }
                FromWorker::Failed { id, failure } => {
                    let work =
                        pop_front(&mut w.in_flight, &mut w.front_since, &mut w.avg_task, id)?;
                    self.in_flight -= 1;
                    work.completion.complete(Err(FutureError::from(failure)));
                }
            }
        }
    }

    /// A worker's socket ended: reap it, fail what it was running, requeue the rest.
    fn on_exit(&mut self, slot: usize) {
        let Some(mut w) = self.workers[slot].take() else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut w.stream);
        let status = reap(&mut w.child);
        self.shared.pids.lock().retain(|&p| p != w.pid);
        let exit = WorkerExit {
            pid: w.pid,
            code: status.as_ref().ok().and_then(|s| s.code()),
            signal: status.as_ref().ok().and_then(|s| s.signal()),
        };
        let retired = w.budget == Some(0) && w.in_flight.is_empty();
        let expected = w.closing || retired || self.broken;
        if !w.ready && !expected {
            self.break_pool(format!(
                "{exit} during startup, the process pool is not usable anymore"
            ));
            return;
        }
        if w.in_flight.is_empty() && expected {
            return;
        }
        if self.shared.config.break_on_worker_death && !self.broken {
            self.in_flight -= w.in_flight.len();
            let msg = format!(
                "A process in the process pool was terminated abruptly while the future was \
                 running or pending ({exit})"
            );
            let broken = BrokenExecutor::new(msg.clone());
            fail_all(w.in_flight.drain(..).map(|(_, work)| work), &broken);
            self.break_pool(msg);
            return;
        }
        if let Some((_, work)) = w.in_flight.pop_front() {
            self.in_flight -= 1;
            let error = match self.shared.config.task_timeout {
                Some(limit) if w.timed_out => FutureError::TaskTimedOut { limit, pid: w.pid },
                _ => FutureError::WorkerDied(exit),
            };
            work.completion.complete(Err(error));
        }
        // The rest never started (a worker runs its tasks in order): back to the front of the
        // queue, in order, for another worker.
        self.in_flight -= w.in_flight.len();
        if !w.in_flight.is_empty() {
            let mut st = self.shared.state.lock();
            for (_, work) in w.in_flight.drain(..).rev() {
                st.intake.queue.push_front(work);
            }
        }
    }

    fn close_idle_workers(&mut self) {
        let shutdown_done = self.in_flight == 0 && self.shared.state.lock().intake.queue.is_empty();
        if !shutdown_done && !self.broken {
            return;
        }
        for slot in 0..self.workers.len() {
            if let Some(w) = self.workers[slot].as_mut() {
                if !w.closing {
                    w.closing = true;
                    ToWorker::Exit.encode(&mut w.out);
                    self.flush_worker(slot);
                }
            }
        }
    }

    fn signal_all(&mut self, signal: i32) {
        for w in self.workers.iter_mut().flatten() {
            w.closing = true;
            // SAFETY: `kill` takes plain integers; the pid is our own unreaped child (reaping
            // happens only in `on_exit`, after which the worker is gone from this list), so it
            // cannot name a recycled process.
            unsafe {
                libc::kill(w.pid as libc::pid_t, signal);
            }
        }
    }

    fn next_deadline(&self) -> Option<Duration> {
        let limit = self.shared.config.task_timeout?;
        let now = Instant::now();
        self.workers
            .iter()
            .flatten()
            .filter(|w| w.ready && !w.in_flight.is_empty() && !w.timed_out)
            .map(|w| (w.front_since + limit).saturating_duration_since(now))
            .min()
    }

    fn check_timeouts(&mut self) {
        let Some(limit) = self.shared.config.task_timeout else {
            return;
        };
        let now = Instant::now();
        for w in self.workers.iter_mut().flatten() {
            if w.ready && !w.timed_out && !w.in_flight.is_empty() && now >= w.front_since + limit {
                w.timed_out = true;
                w.closing = true;
                let _ = w.child.kill();
            }
        }
    }

    /// Fails every queued task (no worker could be started for them).
    fn fail_queue(&mut self, error: SubmitError) {
        let queued: Vec<PendingCall> = self.shared.state.lock().intake.queue.drain(..).collect();
        for work in queued {
            work.completion
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
            fail_all(w.in_flight.drain(..).map(|(_, work)| work), &broken);
            w.closing = true;
            let _ = w.child.kill();
        }
        self.in_flight = 0;
    }
}

/// Waits for a worker whose socket ended. The socket closes as the process exits, so its
/// status is normally there within microseconds; a process that closed the socket but lives on
/// (it cannot serve any more) is killed after 200 ms rather than stall the manager.
fn reap(child: &mut Child) -> io::Result<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_millis(200);
    let mut pause = Duration::from_micros(20);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return child.wait();
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// Takes the task a result belongs to: always the oldest one sent to that worker.
fn pop_front(
    in_flight: &mut VecDeque<(u64, PendingCall)>,
    front_since: &mut Instant,
    avg_task: &mut Option<Duration>,
    id: u64,
) -> Result<PendingCall, String> {
    match in_flight.front() {
        Some((front, _)) if *front == id => {
            let now = Instant::now();
            let took = now - *front_since;
            *avg_task = Some(match *avg_task {
                None => took,
                Some(avg) => (avg * 3 + took) / 4,
            });
            *front_since = now;
            Ok(in_flight.pop_front().expect("front exists").1)
        }
        Some((front, _)) => Err(format!("result for task {id}, expected task {front}")),
        None => Err(format!("result for task {id}, but none was sent")),
    }
}

/// The identity every worker must match.
pub(super) fn image_id() -> Result<Vec<u8>, String> {
    ImageId::current().map(|id| id.as_bytes().to_vec())
}
