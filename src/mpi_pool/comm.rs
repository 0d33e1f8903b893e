//! Rank 0: the one thread that makes every MPI call, and the per-executor state submitters share
//! with it.
//!
//! The communication thread initializes MPI (`MPI_THREAD_FUNNELED`: only it ever calls MPI, from
//! `MPI_Init_thread` to `MPI_Finalize`), lives until the process exits, and serves one
//! executor (a *session*) at a time. Submitters push onto the executor's queue and wake it
//! through a condition variable (at most one notification per sleep). It sends each rank a
//! batch of `Task` frames as one non-blocking message (`MPI_Isend`, so a large task can never
//! deadlock against a large result coming the other way), keeps about 1 ms of estimated work
//! queued per rank (long tasks: one, plus one waiting while there is a backlog), and polls for
//! results with `MPI_Improbe`. With nothing in flight it sleeps on the condition variable (no
//! CPU) until work comes or a rank is due a ping; with tasks in flight it backs off from a
//! short spin to sleeps doubling from 1 µs to 250 µs (500 µs once no result came for 100 ms),
//! waking at once for new work. (Open MPI's blocking receive would spin a core for the whole
//! wait instead.)
//!
//! Liveness (see `liveness`): every message from a rank proves it alive; the thread pings a
//! silent rank and declares it lost after the liveness timeout. A lost rank's tasks and the
//! executor's queue fail with a [`BrokenExecutor`] that names the rank and its host, tasks
//! running on the other ranks finish, later executors are refused with
//! [`MpiPoolError::RankLost`], and at exit rank 0 aborts the job (`MPI_Abort`) without waiting
//! for anything, since `MPI_Finalize` would wait for the lost rank forever. A clean exit waits
//! for every rank's `Bye` under the same watch. Between executors the thread still pings,
//! sleeping until the next ping is due.

use super::backoff::{precise_sleeps, Backoff};
use super::liveness::{self, host_name, LivenessMessage, LivenessVerdict, RankPulse, CONTROL_TAG};
use super::TAG;
use crate::error::{BrokenExecutor, FutureError, MpiPoolError};
use crate::remote::forward::{CancelRequests, ForwardCancel};
use crate::remote::frame::{self, split_frames, FromWorker, ToWorker};
use crate::remote::outbox::{Intake, Outbox};
use crate::remote::pending::{fail_all, PendingCall};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use parking_lot::{Condvar, MappedMutexGuard, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

/// The longest the communication thread sleeps between polls while tasks are in flight.
const BUSY_CAP: Duration = Duration::from_micros(250);
/// Estimated work sent ahead to one rank; tasks longer than this go one at a time, so a task
/// never waits behind a long one while another rank is free.
const AHEAD: Duration = Duration::from_millis(1);
/// The most tasks sent ahead to one rank.
const MAX_DEPTH: usize = 64;

/// The `MPI_Abort` error code when rank 0 ends a job that lost a rank (`EX_UNAVAILABLE`);
/// `mpirun` exits with it.
pub(crate) const LOST_RANK_EXIT: i32 = 69;

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
    let now = Instant::now();
    let default_liveness = liveness::runtime_timeout();
    let mut comm = Comm {
        rt,
        world,
        ranks: (0..size - 1).map(|_| Rank::new(now)).collect(),
        session: None,
        handshake: None,
        in_flight: 0,
        sends: Vec::new(),
        next_id: 1,
        exiting: false,
        default_liveness,
        next_check: now,
        lost: None,
    };
    comm.run();
    if let Some(lost) = comm.lost.take() {
        // MPI_Finalize would wait for the lost rank forever.
        eprintln!(
            "concurrent-futures: rank 0 on {} aborts the MPI job (error code {LOST_RANK_EXIT}): \
             {lost}",
            host_name()
        );
        let _ = std::io::Write::flush(&mut std::io::stderr());
        comm.world.abort(LOST_RANK_EXIT);
    }
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
    pub(crate) fn open(
        &'static self,
        hello: Vec<u8>,
        liveness: Duration,
    ) -> Result<Arc<MpiSession>, MpiPoolError> {
        let shared = Arc::new(MpiSession::new(self, liveness));
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
    /// Its liveness timeout, in force from its handshake to the end of its last task.
    liveness: Duration,
    state: Mutex<Intake>,
    /// Tasks on ranks whose tokens were cancelled, for the communication thread to forward.
    cancel_requests: Mutex<Vec<u64>>,
    finished: Mutex<bool>,
    finished_cond: Condvar,
}

impl MpiSession {
    fn new(rt: &'static Runtime, liveness: Duration) -> Self {
        MpiSession {
            rt,
            liveness,
            state: Mutex::new(Intake::default()),
            cancel_requests: Mutex::new(Vec::new()),
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

    /// Ends an executor that never opened: it takes nothing and has nothing to wait for.
    fn close(&self) {
        self.state.lock().shutdown = true;
        self.finish();
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

impl CancelRequests for MpiSession {
    /// The communication thread sends the rank `Cancel` (see `forward_cancels`).
    fn request_cancel(&self, id: u64) {
        self.cancel_requests.lock().push(id);
        self.rt.wake();
    }
}

/// A task on a rank, and what forwards its token's cancellation there, if it has a token.
struct RankTask {
    id: u64,
    work: PendingCall,
    forward: Option<Arc<ForwardCancel>>,
}

/// One worker rank as the communication thread sees it.
struct Rank {
    /// Frames waiting to go out as the next message.
    out: Vec<u8>,
    in_flight: VecDeque<RankTask>,
    /// When the oldest in-flight task became the one the rank runs (as far as rank 0 knows).
    front_since: Option<Instant>,
    /// Moving average of its task durations; `None` until a result came back.
    avg_task: Option<Duration>,
    /// Its host, from its first message.
    host: Option<String>,
    pulse: RankPulse,
    /// Declared lost: it gets no more work, and what it still says is ignored.
    lost: bool,
    /// It said `Bye` (at exit).
    left: bool,
}

impl Rank {
    fn new(now: Instant) -> Self {
        Rank {
            out: Vec::new(),
            in_flight: VecDeque::new(),
            front_since: None,
            avg_task: None,
            host: None,
            pulse: RankPulse::new(now),
            lost: false,
            left: false,
        }
    }

    fn host(&self) -> &str {
        self.host.as_deref().unwrap_or("an unknown host")
    }

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
        if self.lost {
            return 0;
        }
        self.depth(backlog).saturating_sub(self.in_flight.len())
    }
}

/// The replies still expected for an executor's `Hello`.
struct Handshake {
    opening: Opening,
    /// Index `i`: rank `i + 1` answered.
    answered: Vec<bool>,
    refused: Option<MpiPoolError>,
    init_failed: Option<String>,
}

/// An `MPI_Isend` in progress and the buffer it reads from.
struct PendingSend {
    /// The destination's index in `Comm::ranks`.
    to: usize,
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
    /// The liveness timeout between executors.
    default_liveness: Duration,
    /// When the liveness of the ranks is next due a look.
    next_check: Instant,
    /// The first rank lost, as the error later executors get.
    lost: Option<MpiPoolError>,
}

impl Comm {
    fn run(&mut self) {
        let mut backoff = Backoff::new(BUSY_CAP);
        loop {
            // ORDERING: cleared before the queues are read (see `Runtime::wake`).
            self.rt.wake_pending.store(false, Ordering::Release);
            let exit = self.take_commands();
            let mut progressed = self.dispatch();
            self.forward_cancels();
            progressed |= self.send_batches();
            self.test_sends();
            progressed |= self.receive();
            self.check_liveness();
            self.end_session_if_done();
            if exit && self.lost.is_some() {
                // No clean end is left, and after `main` nobody waits for the other ranks'
                // running tasks: abort now (see `comm_main`).
                return;
            }
            if exit && self.session.is_none() && self.handshake.is_none() {
                self.release_ranks();
                return;
            }
            if progressed {
                backoff.reset();
                continue;
            }
            // Sends to a lost rank may never complete; they keep nothing awake.
            let sending = self.sends.iter().any(|send| !self.ranks[send.to].lost);
            let idle = self.in_flight == 0 && self.handshake.is_none() && !sending;
            let mut inbox = self.rt.inbox.lock();
            // ORDERING: pairs with the swap in `Runtime::wake`, under the same lock.
            if self.rt.wake_pending.load(Ordering::Acquire) {
                continue;
            }
            if idle {
                // Asleep until work comes or a rank is due a ping.
                self.rt.cond.wait_until(&mut inbox, self.next_check);
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
            if let Some(lost) = &self.lost {
                opening.shared.close();
                let _ = opening.reply.send(Err(lost.clone()));
                // The next opening, if any, is refused on the next round.
                self.rt.wake();
                return exit;
            }
            for rank in &mut self.ranks {
                rank.out.extend_from_slice(&opening.hello);
            }
            self.handshake = Some(Handshake {
                opening,
                answered: vec![false; self.ranks.len()],
                refused: None,
                init_failed: None,
            });
            // Its liveness timeout is in force from now.
            self.next_check = Instant::now();
        }
        exit
    }

    /// The liveness timeout in force: the open (or opening) executor's, else the runtime's.
    fn liveness(&self) -> Duration {
        self.session
            .as_ref()
            .or(self.handshake.as_ref().map(|h| &h.opening.shared))
            .map_or(self.default_liveness, |s| s.liveness)
    }

    /// Pings the ranks that are due a ping and declares lost those that missed the timeout.
    fn check_liveness(&mut self) {
        let now = Instant::now();
        if now < self.next_check {
            return;
        }
        let timeout = self.liveness();
        let mut next = now + timeout;
        for index in 0..self.ranks.len() {
            let rank = &mut self.ranks[index];
            if rank.lost || rank.left {
                continue;
            }
            match rank.pulse.check(now, timeout) {
                LivenessVerdict::Alive { next: due } => next = next.min(due),
                LivenessVerdict::Ping { next: due } => {
                    next = next.min(due);
                    self.isend(index, CONTROL_TAG, LivenessMessage::Ping.encode());
                }
                LivenessVerdict::Lost { silent } => self.lose(index, silent, timeout),
            }
        }
        self.next_check = next;
    }

    /// A rank missed the liveness timeout: its tasks and the executor's queue fail, an opening
    /// executor is refused, and the job is to be aborted at exit.
    fn lose(&mut self, index: usize, silent: Duration, timeout: Duration) {
        let rank = &mut self.ranks[index];
        rank.lost = true;
        rank.out.clear();
        rank.front_since = None;
        let error = MpiPoolError::RankLost {
            rank: index as u32 + 1,
            host: rank.host().to_owned(),
            silent_for: silent,
            timeout,
        };
        eprintln!("concurrent-futures: {error}");
        let failed: Vec<PendingCall> = rank.in_flight.drain(..).map(|t| t.work).collect();
        self.in_flight -= failed.len();
        let broken = BrokenExecutor::new(error.to_string());
        fail_all(failed, &broken);
        if let Some(session) = &self.session {
            session.fail_queue(&broken);
        }
        if let Some(h) = self.handshake.take() {
            // The other ranks' replies to this abandoned handshake still come: once a rank
            // is lost no handshake starts again, so `answered` ignores every later reply.
            h.opening.shared.close();
            let _ = h.opening.reply.send(Err(error.clone()));
        }
        self.lost.get_or_insert(error);
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
                if !work.start() {
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
                // A task under a token: the rank lets it read the token, and a cancel while it
                // is on the rank is forwarded there (cooperatively: the rank is never killed).
                let token = work.token.clone();
                let forward = token.as_ref().map(|_| {
                    frame::set_under_token(&mut work.frame);
                    let requests: Weak<dyn CancelRequests> = Arc::downgrade(&session) as _;
                    ForwardCancel::new(id, requests)
                });
                let target = forward.as_ref().map(ForwardCancel::target);
                rank.out.extend_from_slice(&work.frame);
                if rank.in_flight.is_empty() {
                    rank.front_since = Some(Instant::now());
                }
                rank.in_flight.push_back(RankTask { id, work, forward });
                self.in_flight += 1;
                moved = true;
                if let (Some(token), Some(target)) = (token, target) {
                    // Registered once the task is on the rank, so the request finds it there
                    // (a token already cancelled calls back at once).
                    token.register(target);
                }
            }
        }
    }

    /// Sends `Cancel` to the rank of each task whose token was cancelled while it was there.
    fn forward_cancels(&mut self) {
        let Some(session) = &self.session else {
            return;
        };
        let ids = std::mem::take(&mut *session.cancel_requests.lock());
        for id in ids {
            let on = self
                .ranks
                .iter_mut()
                .find(|r| r.in_flight.iter().any(|t| t.id == id));
            if let Some(rank) = on {
                ToWorker::Cancel { id }.encode(&mut rank.out);
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
            self.isend(i, TAG, buffer);
            sent = true;
        }
        sent
    }

    /// Starts sending `buffer` to the rank at `index` (rank `index + 1`).
    fn isend(&mut self, index: usize, tag: mpi::Tag, buffer: Vec<u8>) {
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
                index as i32 + 1,
                tag,
                self.world.as_raw(),
                request.as_mut_ptr(),
            );
        }
        // SAFETY: MPI_Isend initialized the request (errors abort: MPI_ERRORS_ARE_FATAL).
        let request = unsafe { request.assume_init() };
        self.sends.push(PendingSend {
            to: index,
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
        // Any tag: a rank's host announcement is matched before its handshake reply (MPI keeps
        // the order of two messages from one sender that match the same receive).
        while let Some(probed) = self.world.any_process().immediate_matched_probe() {
            any = true;
            let (bytes, status) = probed.matched_receive_vec::<u8>();
            let source = status.source_rank();
            let Some(index) = usize::try_from(source - 1)
                .ok()
                .filter(|&i| i < self.ranks.len())
            else {
                self.break_session(format!(
                    "a message came from MPI rank {source}, which is not a worker rank; the MPI \
                     pool is not usable anymore"
                ));
                continue;
            };
            if self.ranks[index].lost {
                // Its tasks have failed already; what it says now is ignored.
                continue;
            }
            self.ranks[index].pulse.heard(Instant::now());
            let outcome = if status.tag() == CONTROL_TAG {
                self.control(index, &bytes)
            } else {
                self.handle(index, &bytes)
            };
            if let Err(e) = outcome {
                let host = self.ranks[index].host();
                let message = format!(
                    "MPI rank {source} on {host} sent an invalid message ({e}); the MPI pool is \
                     not usable anymore"
                );
                self.break_session(message);
            }
        }
        any
    }

    /// A liveness message from the rank at `index`.
    fn control(&mut self, index: usize, bytes: &[u8]) -> Result<(), String> {
        match LivenessMessage::decode(bytes)? {
            LivenessMessage::Host(name) => self.ranks[index].host = Some(name.to_owned()),
            LivenessMessage::Pong => {}
            LivenessMessage::Bye => self.ranks[index].left = true,
            LivenessMessage::Ping => return Err("a ping, which only rank 0 sends".into()),
        }
        Ok(())
    }

    fn handle(&mut self, index: usize, bytes: &[u8]) -> Result<(), String> {
        let source = index as i32 + 1;
        let mut results = 0u32;
        for body in split_frames(bytes) {
            let body = body.map_err(|e| e.to_string())?;
            match FromWorker::decode(body).map_err(|e| e.to_string())? {
                FromWorker::Ready { .. } => self.answered(source, None, None)?,
                FromWorker::Refused(reason) => {
                    let refused = MpiPoolError::ImageMismatch {
                        rank: source as u32,
                        host: self.ranks[index].host().to_owned(),
                        reason: reason.to_owned(),
                    };
                    self.answered(source, Some(refused), None)?;
                }
                FromWorker::InitFailed(message) => {
                    let host = self.ranks[index].host();
                    let message = format!("on MPI rank {source} on {host}: {message}");
                    self.answered(source, None, Some(message))?;
                }
                // Ranks send no start notices: a rank that dies ends the whole job, so rank 0
                // never has to know which task it ran.
                FromWorker::Started { .. } => {}
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
            Some(front) if front.id == id => {
                self.in_flight -= 1;
                let task = rank.in_flight.pop_front().expect("front exists");
                if let Some(forward) = &task.forward {
                    forward.retire();
                }
                Ok(task.work)
            }
            Some(front) => Err(format!("result for task {id}, expected task {}", front.id)),
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
            if self.lost.is_some() {
                // A reply to the handshake abandoned when a rank was lost (no other starts).
                return Ok(());
            }
            return Err("a handshake reply outside a handshake".into());
        };
        let index = source as usize - 1;
        if std::mem::replace(&mut h.answered[index], true) {
            return Err("a second handshake reply".into());
        }
        if h.refused.is_none() {
            h.refused = refused;
        }
        if h.init_failed.is_none() {
            h.init_failed = init_failed;
        }
        if h.answered.iter().any(|answered| !answered) {
            return Ok(());
        }
        let h = self.handshake.take().expect("checked above");
        let shared = h.opening.shared;
        if let Some(refused) = h.refused {
            shared.close();
            let _ = h.opening.reply.send(Err(refused));
        } else if let Some(message) = h.init_failed {
            shared.fail_queue(&BrokenExecutor::new(format!(
                "A process initializer failed {message}; the MPI pool is not usable anymore"
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
            // The runtime's liveness timeout is in force again.
            self.next_check = Instant::now();
        }
    }

    /// A rank spoke garbage: nothing it says can be trusted, so the executor breaks.
    fn break_session(&mut self, message: String) {
        let broken = BrokenExecutor::new(message);
        if let Some(session) = &self.session {
            session.fail_queue(&broken);
        }
        for rank in &mut self.ranks {
            fail_all(rank.in_flight.drain(..).map(|t| t.work), &broken);
        }
        self.in_flight = 0;
    }

    /// Tells every rank to exit and waits until each said `Bye`, on its way to `MPI_Finalize`
    /// (which waits for every rank, so a rank lost now must be found first: then `lost` is set
    /// and the caller aborts instead).
    fn release_ranks(&mut self) {
        let mut exit = Vec::new();
        ToWorker::Exit.encode(&mut exit);
        for index in 0..self.ranks.len() {
            self.isend(index, TAG, exit.clone());
        }
        let mut backoff = Backoff::new(BUSY_CAP);
        loop {
            self.test_sends();
            if self.receive() {
                backoff.reset();
            }
            self.check_liveness();
            if self.lost.is_some() {
                return;
            }
            if self.sends.is_empty() && self.ranks.iter().all(|r| r.left) {
                return;
            }
            let wait = backoff.next();
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
    }
}
