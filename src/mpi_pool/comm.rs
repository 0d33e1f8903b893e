//! Rank 0: the one thread that makes every MPI call, and the per-executor state submitters share
//! with it.
//!
//! The communication thread initializes MPI (`MPI_THREAD_FUNNELED`: only it ever calls MPI, from
//! `MPI_Init_thread` to `MPI_Finalize`), lives until the process exits, and serves one
//! executor (a *session*) at a time. Submitters push onto the executor's queue and wake it
//! through a condition variable (at most one notification per sleep). It sends each rank a
//! batch of `Task` frames as one non-blocking message (`MPI_Isend`, so a large task can never
//! deadlock against a large result coming the other way), keeps about 1 ms of estimated work
//! queued per rank (long tasks: one, plus one waiting while there is a backlog), and polls for results with `MPI_Improbe`. With nothing in flight it
//! sleeps on the condition variable (no CPU); with tasks in flight it backs off from a short
//! spin to sleeps doubling from 1 µs to 250 µs (500 µs once no result came for 100 ms), waking
//! at once for new work. (Open MPI's
//! blocking receive would spin a core for the whole wait instead.)

use super::backoff::{precise_sleeps, Backoff};
use super::TAG;
use crate::error::{BrokenExecutor, FutureError, MpiPoolError};
use crate::remote::frame::{self, split_frames, FromWorker, ToWorker};
use crate::remote::outbox::{Intake, Outbox};
use crate::remote::pending::{fail_all, PendingCall};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use parking_lot::{Condvar, MappedMutexGuard, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

/// The longest the communication thread sleeps between polls while tasks are in flight.
const BUSY_CAP: Duration = Duration::from_micros(250);
/// Estimated work sent ahead to one rank; tasks longer than this go one at a time, so a task
/// never waits behind a long one while another rank is free.
const AHEAD: Duration = Duration::from_millis(1);
/// The most tasks sent ahead to one rank.
const MAX_DEPTH: usize = 64;

/// Rank 0's MPI runtime: started by the first `MpiPoolExecutor`, or at exit.
pub(crate) struct Runtime {
    /// Worker ranks (world size - 1).
    pub(crate) workers: usize,
    wake_pending: AtomicBool,
    inbox: Mutex<Inbox>,
    cond: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
    /// The last executor opened, for the one-at-a-time rule.
    current: Mutex<Option<Arc<MpiSession>>>,
}

#[derive(Default)]
struct Inbox {
    opening: VecDeque<Opening>,
    exit: bool,
}

/// An executor waiting for its handshake with every rank.
struct Opening {
    shared: Arc<MpiSession>,
    hello: Vec<u8>,
    reply: crossbeam_channel::Sender<Result<(), MpiPoolError>>,
}

static RUNTIME: OnceLock<Result<&'static Runtime, MpiPoolError>> = OnceLock::new();

/// The runtime, started (MPI initialized on its own thread) on first use.
pub(crate) fn runtime() -> Result<&'static Runtime, MpiPoolError> {
    RUNTIME.get_or_init(start).clone()
}

fn start() -> Result<&'static Runtime, MpiPoolError> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let handle = std::thread::Builder::new()
        .name("MpiPoolExecutor-comm".into())
        .spawn(move || comm_main(tx))
        .map_err(|e| MpiPoolError::Setup(e.to_string()))?;
    match rx.recv() {
        Ok(Ok(rt)) => {
            *rt.thread.lock() = Some(handle);
            Ok(rt)
        }
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => Err(MpiPoolError::Setup(
            "the MPI communication thread ended during start-up".into(),
        )),
    }
}

fn comm_main(started: crossbeam_channel::Sender<Result<&'static Runtime, MpiPoolError>>) {
    precise_sleeps();
    let Some((universe, level)) = mpi::initialize_with_threading(mpi::Threading::Funneled) else {
        let e = MpiPoolError::Setup("MPI was already initialized in this process".into());
        let _ = started.send(Err(e));
        return;
    };
    if level < mpi::Threading::Funneled {
        let e = MpiPoolError::Setup(format!(
            "the MPI library offers thread level {level:?}; MPI_THREAD_FUNNELED is needed"
        ));
        let _ = started.send(Err(e));
        return;
    }
    let world = universe.world();
    let size = world.size() as usize;
    if size < 2 {
        let _ = started.send(Err(MpiPoolError::NoWorkers));
        return;
    }
    let rt: &'static Runtime = Box::leak(Box::new(Runtime {
        workers: size - 1,
        wake_pending: AtomicBool::new(false),
        inbox: Mutex::new(Inbox::default()),
        cond: Condvar::new(),
        thread: Mutex::new(None),
        thread_id: std::thread::current().id(),
        current: Mutex::new(None),
    }));
    let _ = started.send(Ok(rt));
    let mut comm = Comm {
        rt,
        world,
        ranks: (0..size - 1).map(|_| Rank::default()).collect(),
        session: None,
        handshake: None,
        in_flight: 0,
        sends: Vec::new(),
        next_id: 1,
        exiting: false,
    };
    comm.run();
    drop(comm);
    drop(universe); // MPI_Finalize, on the thread that initialized MPI.
}

/// Called by rank 0's `atexit` hook: drains the open executor, releases every worker rank
/// (`Exit`) and finalizes MPI. Starts MPI first if no executor ever did, because the worker
/// ranks wait for rank 0's word.
pub(crate) fn release_workers_at_exit() {
    let Ok(rt) = runtime() else {
        return;
    };
    if std::thread::current().id() == rt.thread_id {
        // `exit` called from a done-callback: the communication thread cannot wait for itself.
        return;
    }
    rt.inbox.lock().exit = true;
    rt.wake();
    let handle = rt.thread.lock().take();
    if let Some(handle) = handle {
        let _ = handle.join();
    }
}

impl Runtime {
    /// Opens an executor: waits until the previous one has finished and every rank answered
    /// this one's `Hello`.
    pub(crate) fn open(&'static self, hello: Vec<u8>) -> Result<Arc<MpiSession>, MpiPoolError> {
        let shared = Arc::new(MpiSession::new(self));
        {
            let mut current = self.current.lock();
            if let Some(open) = current.as_ref() {
                if !open.is_closed() {
                    return Err(MpiPoolError::Busy);
                }
            }
            *current = Some(Arc::clone(&shared));
        }
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.inbox.lock().opening.push_back(Opening {
            shared: Arc::clone(&shared),
            hello,
            reply,
        });
        self.wake();
        match answer.recv() {
            Ok(Ok(())) => Ok(shared),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(MpiPoolError::Setup(
                "the MPI communication thread has ended".into(),
            )),
        }
    }

    fn wake(&self) {
        // ORDERING: the work (or flag) was published under a lock before this swap; the
        // communication thread clears the flag before it looks, and checks it under the inbox
        // lock before sleeping, so a wake-up is never lost. AcqRel keeps the swap in order.
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            let _guard = self.inbox.lock();
            self.cond.notify_one();
        }
    }
}

/// One executor's session with the worker ranks: its state, shared by its handle, its `map`
/// iterators and the communication thread.
pub(crate) struct MpiSession {
    rt: &'static Runtime,
    state: Mutex<Intake>,
    finished: Mutex<bool>,
    finished_cond: Condvar,
}

impl MpiSession {
    fn new(rt: &'static Runtime) -> Self {
        MpiSession {
            rt,
            state: Mutex::new(Intake::default()),
            finished: Mutex::new(false),
            finished_cond: Condvar::new(),
        }
    }

    pub(crate) fn workers(&self) -> usize {
        self.rt.workers
    }

    fn is_closed(&self) -> bool {
        let st = self.state.lock();
        st.shutdown || st.broken.is_some()
    }

    pub(crate) fn is_finished(&self) -> bool {
        *self.finished.lock()
    }

    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let cancelled: Vec<PendingCall> = {
            let mut st = self.state.lock();
            st.close();
            if cancel_futures {
                st.queue.drain(..).collect()
            } else {
                Vec::new()
            }
        };
        for work in cancelled {
            work.completion.cancel();
        }
        self.rt.wake();
        if wait && std::thread::current().id() != self.rt.thread_id {
            let mut finished = self.finished.lock();
            while !*finished {
                self.finished_cond.wait(&mut finished);
            }
        }
    }

    fn finish(&self) {
        *self.finished.lock() = true;
        self.finished_cond.notify_all();
    }

    fn fail_queue(&self, broken: &BrokenExecutor) {
        let queued = self.state.lock().break_with(broken);
        fail_all(queued, broken);
    }
}

impl Outbox for MpiSession {
    fn intake(&self) -> MappedMutexGuard<'_, Intake> {
        MutexGuard::map(self.state.lock(), |st| st)
    }

    fn wake_consumer(&self) {
        self.rt.wake();
    }
}

/// One worker rank as the communication thread sees it.
#[derive(Default)]
struct Rank {
    /// Frames waiting to go out as the next message.
    out: Vec<u8>,
    in_flight: VecDeque<(u64, PendingCall)>,
    /// When the oldest in-flight task became the one the rank runs (as far as rank 0 knows).
    front_since: Option<Instant>,
    /// Moving average of its task durations; `None` until a result came back.
    avg_task: Option<Duration>,
}

impl Rank {
    /// Tasks this rank may hold (running + queued). Long tasks go one at a time unless more
    /// tasks wait than there are ranks (a `backlog`): then one more waits at each rank, which
    /// hides the MPI hand-off between two tasks (measured ~1 ms here) without making a task
    /// wait behind a long one while another rank has nothing to do.
    fn depth(&self, backlog: bool) -> usize {
        match self.avg_task {
            None => 2,
            Some(avg) if avg >= AHEAD => 1 + usize::from(backlog),
            Some(avg) => {
                let fit = AHEAD.as_nanos() / avg.as_nanos().max(1);
                (fit as usize).clamp(2, MAX_DEPTH)
            }
        }
    }

    fn free(&self, backlog: bool) -> usize {
        self.depth(backlog).saturating_sub(self.in_flight.len())
    }
}

/// The replies still expected for an executor's `Hello`.
struct Handshake {
    opening: Opening,
    waiting: usize,
    refused: Option<MpiPoolError>,
    init_failed: Option<String>,
}

/// An `MPI_Isend` in progress and the buffer it reads from.
struct PendingSend {
    request: mpi::ffi::MPI_Request,
    /// Never read here: MPI reads it until the request completes.
    _buffer: Vec<u8>,
}

struct Comm {
    rt: &'static Runtime,
    world: SimpleCommunicator,
    /// Index `i` is rank `i + 1`.
    ranks: Vec<Rank>,
    session: Option<Arc<MpiSession>>,
    handshake: Option<Handshake>,
    in_flight: usize,
    sends: Vec<PendingSend>,
    next_id: u64,
    exiting: bool,
}

impl Comm {
    fn run(&mut self) {
        let mut backoff = Backoff::new(BUSY_CAP);
        loop {
            // ORDERING: cleared before the queues are read (see `Runtime::wake`).
            self.rt.wake_pending.store(false, Ordering::Release);
            let exit = self.take_commands();
            let mut progressed = self.dispatch();
            progressed |= self.send_batches();
            self.test_sends();
            progressed |= self.receive();
            self.end_session_if_done();
            if exit && self.session.is_none() && self.handshake.is_none() {
                self.release_ranks();
                return;
            }
            if progressed {
                backoff.reset();
                continue;
            }
            let idle = self.in_flight == 0 && self.handshake.is_none() && self.sends.is_empty();
            let mut inbox = self.rt.inbox.lock();
            // ORDERING: pairs with the swap in `Runtime::wake`, under the same lock.
            if self.rt.wake_pending.load(Ordering::Acquire) {
                continue;
            }
            if idle {
                self.rt.cond.wait(&mut inbox);
            } else {
                let wait = backoff.next();
                if !wait.is_zero() {
                    self.rt.cond.wait_for(&mut inbox, wait);
                }
            }
        }
    }

    /// Starts the next executor's handshake when none is being served; returns the exit flag.
    /// At exit, the open executor's queued tasks are cancelled and the running ones finish.
    fn take_commands(&mut self) -> bool {
        let (opening, exit) = {
            let mut inbox = self.rt.inbox.lock();
            let idle = self.session.is_none() && self.handshake.is_none();
            let opening = if idle {
                inbox.opening.pop_front()
            } else {
                None
            };
            if inbox.exit {
                for o in inbox.opening.drain(..) {
                    let _ = o
                        .reply
                        .send(Err(MpiPoolError::Setup("the process is exiting".into())));
                }
            }
            (opening, inbox.exit)
        };
        if exit && !self.exiting {
            self.exiting = true;
            if let Some(s) = &self.session {
                s.shutdown(false, true);
            }
        }
        if let Some(opening) = opening {
            for rank in &mut self.ranks {
                rank.out.extend_from_slice(&opening.hello);
            }
            self.handshake = Some(Handshake {
                opening,
                waiting: self.ranks.len(),
                refused: None,
                init_failed: None,
            });
        }
        exit
    }

    /// Moves queued tasks to ranks with room; `true` if any moved.
    fn dispatch(&mut self) -> bool {
        let Some(session) = self.session.clone() else {
            return false;
        };
        let mut moved = false;
        loop {
            let backlog = session.state.lock().queue.len() > self.ranks.len();
            let room: usize = self.ranks.iter().map(|r| r.free(backlog)).sum();
            if room == 0 {
                return moved;
            }
            let batch: Vec<PendingCall> = {
                let mut st = session.state.lock();
                let n = room.min(st.queue.len());
                st.take(n)
            };
            if batch.is_empty() {
                return moved;
            }
            for mut work in batch {
                if !work.completion.start() {
                    continue; // cancelled meanwhile
                }
                let rank = self
                    .ranks
                    .iter_mut()
                    .filter(|r| r.free(backlog) > 0)
                    .min_by_key(|r| r.in_flight.len())
                    .expect("no more tasks taken than there are free slots");
                let id = self.next_id;
                self.next_id += 1;
                frame::set_task_id(&mut work.frame, id);
                rank.out.extend_from_slice(&work.frame);
                if rank.in_flight.is_empty() {
                    rank.front_since = Some(Instant::now());
                }
                rank.in_flight.push_back((id, work));
                self.in_flight += 1;
                moved = true;
            }
        }
    }

    /// Sends every rank's pending frames as one message each.
    fn send_batches(&mut self) -> bool {
        let mut sent = false;
        for i in 0..self.ranks.len() {
            if self.ranks[i].out.is_empty() {
                continue;
            }
            let buffer = std::mem::take(&mut self.ranks[i].out);
            self.isend(i as i32 + 1, buffer);
            sent = true;
        }
        sent
    }

    fn isend(&mut self, rank: i32, buffer: Vec<u8>) {
        let mut request = std::mem::MaybeUninit::<mpi::ffi::MPI_Request>::uninit();
        let count = i32::try_from(buffer.len()).expect("frames are at most 1 GiB");
        // SAFETY: the buffer is a live allocation of `count` bytes described as MPI_UINT8_T;
        // it moves into `self.sends` with its request (moving a `Vec` does not move its heap
        // data) and is neither written nor freed until `MPI_Test` reports the send complete.
        // The communicator is this thread's world, and only this thread calls MPI
        // (MPI_THREAD_FUNNELED).
        unsafe {
            mpi::ffi::MPI_Isend(
                buffer.as_ptr().cast(),
                count,
                u8::equivalent_datatype().as_raw(),
                rank,
                TAG,
                self.world.as_raw(),
                request.as_mut_ptr(),
            );
        }
        // SAFETY: MPI_Isend initialized the request (errors abort: MPI_ERRORS_ARE_FATAL).
        let request = unsafe { request.assume_init() };
        self.sends.push(PendingSend {
            request,
            _buffer: buffer,
        });
    }

    /// Frees the buffers of completed sends.
    fn test_sends(&mut self) {
        self.sends.retain_mut(|send| {
            let mut done = 0;
            let mut status = std::mem::MaybeUninit::<mpi::ffi::MPI_Status>::uninit();
            // SAFETY: `send.request` is an active request from `MPI_Isend` (completed requests
            // are removed right here, so it is never tested after completion); `done` and
            // `status` are valid out-pointers.
            unsafe {
                mpi::ffi::MPI_Test(&mut send.request, &mut done, status.as_mut_ptr());
            }
            done == 0
        });
    }

    /// Takes every message that has arrived; `true` if there was one.
    fn receive(&mut self) -> bool {
        let mut any = false;
        while let Some(probed) = self
            .world
            .any_process()
            .immediate_matched_probe_with_tag(TAG)
        {
            any = true;
            let (bytes, status) = probed.matched_receive_vec::<u8>();
            let source = status.source_rank();
            if let Err(e) = self.handle(source, &bytes) {
                self.break_session(format!(
                    "MPI rank {source} sent an invalid message ({e}); the MPI pool is not usable \
                     anymore"
                ));
            }
        }
        any
    }

    fn handle(&mut self, source: i32, bytes: &[u8]) -> Result<(), String> {
        let index = usize::try_from(source - 1)
            .ok()
            .filter(|&i| i < self.ranks.len())
            .ok_or_else(|| format!("message from unexpected rank {source}"))?;
        let mut results = 0u32;
        for body in split_frames(bytes) {
            let body = body.map_err(|e| e.to_string())?;
            match FromWorker::decode(body).map_err(|e| e.to_string())? {
                FromWorker::Ready { .. } => self.answered(source, None, None)?,
                FromWorker::Refused(reason) => {
                    let refused = MpiPoolError::ImageMismatch {
                        rank: source as u32,
                        reason: reason.to_owned(),
                    };
                    self.answered(source, Some(refused), None)?;
                }
                FromWorker::InitFailed(message) => {
                    self.answered(source, None, Some(message.to_owned()))?;
                }
                FromWorker::Done { id, output } => {
                    let work = self.pop(index, id)?;
                    results += 1;
                    work.completion.complete(Ok(output));
                }
                FromWorker::Failed { id, failure } => {
                    let work = self.pop(index, id)?;
                    results += 1;
                    work.completion.complete(Err(FutureError::from(failure)));
                }
            }
        }
        if results > 0 {
            let rank = &mut self.ranks[index];
            let now = Instant::now();
            if let Some(since) = rank.front_since {
                let took = (now - since) / results;
                rank.avg_task = Some(match rank.avg_task {
                    None => took,
                    Some(avg) => (avg * 3 + took) / 4,
                });
            }
            rank.front_since = (!rank.in_flight.is_empty()).then_some(now);
        }
        Ok(())
    }

    /// The task a result belongs to: always the oldest one sent to that rank.
    fn pop(&mut self, index: usize, id: u64) -> Result<PendingCall, String> {
        let rank = &mut self.ranks[index];
        match rank.in_flight.front() {
            Some((front, _)) if *front == id => {
                self.in_flight -= 1;
                Ok(rank.in_flight.pop_front().expect("front exists").1)
            }
            Some((front, _)) => Err(format!("result for task {id}, expected task {front}")),
            None => Err(format!("result for task {id}, but none was sent")),
        }
    }

    fn answered(
        &mut self,
        source: i32,
        refused: Option<MpiPoolError>,
        init_failed: Option<String>,
    ) -> Result<(), String> {
        let Some(h) = self.handshake.as_mut() else {
            return Err(format!(
                "handshake reply from rank {source} outside a handshake"
            ));
        };
        h.waiting -= 1;
        if h.refused.is_none() {
            h.refused = refused;
        }
        if h.init_failed.is_none() {
            h.init_failed = init_failed;
        }
        if h.waiting > 0 {
            return Ok(());
        }
        let h = self.handshake.take().expect("checked above");
        let shared = h.opening.shared;
        if let Some(refused) = h.refused {
            shared.state.lock().shutdown = true;
            shared.finish();
            let _ = h.opening.reply.send(Err(refused));
        } else if let Some(message) = h.init_failed {
            shared.fail_queue(&BrokenExecutor::new(format!(
                "A process initializer failed, the MPI pool is not usable anymore: {message}"
            )));
            shared.finish();
            let _ = h.opening.reply.send(Ok(()));
        } else {
            if self.exiting {
                shared.shutdown(false, true);
            }
            self.session = Some(shared);
            let _ = h.opening.reply.send(Ok(()));
        }
        Ok(())
    }

    fn end_session_if_done(&mut self) {
        let Some(session) = &self.session else {
            return;
        };
        if self.in_flight > 0 {
            return;
        }
        let done = {
            let st = session.state.lock();
            st.queue.is_empty() && (st.shutdown || st.broken.is_some())
        };
        if done {
            session.finish();
            self.session = None;
        }
    }

    /// A rank spoke garbage: nothing it says can be trusted, so the executor breaks.
    fn break_session(&mut self, message: String) {
        let broken = BrokenExecutor::new(message);
        if let Some(session) = &self.session {
            session.fail_queue(&broken);
        }
        for rank in &mut self.ranks {
            fail_all(rank.in_flight.drain(..).map(|(_, work)| work), &broken);
        }
        self.in_flight = 0;
    }

    /// Tells every rank to exit, and waits until the messages are out.
    fn release_ranks(&mut self) {
        let mut exit = Vec::new();
        ToWorker::Exit.encode(&mut exit);
        for rank in 1..=self.ranks.len() {
            self.isend(rank as i32, exit.clone());
        }
        let mut backoff = Backoff::new(BUSY_CAP);
        while !self.sends.is_empty() {
            self.test_sends();
            let wait = backoff.next();
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
    }
}
