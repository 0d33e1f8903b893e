//! Ranks 1..N-1: the worker loop, entered from the entry hook before `main`.
//!
//! The same frames as the process pool's socket (`Hello`, `Task`, `Exit` in; `Ready`, `Refused`,
//! `InitFailed`, `Done`, `Failed` out), answered by the same code (`greet`, `run_task`); only the
//! transport differs: each MPI message carries a batch of whole frames.
//!
//! Two threads share the work. The process's main thread runs the frames (the initializer and
//! every task, on the stack and thread-locals they always had); a communication thread makes
//! every MPI call (it initializes MPI, so it is MPI's "main thread" under
//! `MPI_THREAD_FUNNELED`), hands each batch from rank 0 to the main thread, sends the results
//! back, and answers rank 0's liveness pings at once, however long a task runs (see
//! `liveness`).

use super::backoff::{precise_sleeps, Backoff};
use super::liveness::{host_name, LivenessMessage, CONTROL_TAG};
use super::TAG;
use crate::cancel::{CancelToken, CurrentToken};
use crate::remote::frame::{split_frames, Failure, FromWorker, ToWorker};
use crate::remote::serve::{greet, run_task};
use crossbeam_channel::{Receiver, Sender};
use mpi::traits::*;
use parking_lot::{Condvar, Mutex};
use std::collections::{HashSet, VecDeque};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a rank idle for less than `PATIENCE` (100 ms) sleeps between polls: what a task
/// sent to it waits at worst before the rank sees it. After that the rank polls every 500 µs
/// (mpi4py: every 1 ms, from the first poll on). A result from the main thread wakes it at once.
const IDLE_CAP: Duration = Duration::from_micros(250);

/// Results of a batch of tasks go back at least this often while the batch runs.
const FLUSH_AFTER: Duration = Duration::from_micros(200);

/// The communication thread's sleep between polls while the main thread runs a batch: then
/// nothing but a ping needs it before the batch's results wake it, and polling at the idle
/// pace would take a few per cent of a core from the task.
const BUSY_WAIT: Duration = Duration::from_millis(2);

/// The exit status of a rank that gives up (an invalid message, a broken thread).
const RANK_FAILED: i32 = 3;

/// What the main thread hands the communication thread.
enum Outgoing {
    /// Frames for rank 0, as one message.
    Frames(Vec<u8>),
    /// Rank 0 said `Exit`: say goodbye and finalize MPI.
    Exit,
    /// The main thread cannot go on: abort the job with this message.
    Fatal(String),
}

/// What the main thread has for the communication thread, which waits on it between polls
/// (a plain condition variable: a channel's receive would spin and yield before it sleeps,
/// on each of the idle loop's 2 000 waits a second).
struct CommMailbox {
    queue: Mutex<VecDeque<Outgoing>>,
    cond: Condvar,
    /// Batches the main thread has finished (the communication thread counts those it handed
    /// over: while they differ, the main thread is busy).
    finished: AtomicU64,
}

impl CommMailbox {
    fn post(&self, message: Outgoing) {
        self.queue.lock().push_back(message);
        self.cond.notify_one();
    }

    /// The main thread finished a batch: counts it, posts its last frames if it has any, and
    /// wakes the communication thread either way, which may be sleeping `BUSY_WAIT` while the
    /// next batch waits for it.
    fn finish_batch(&self, frames: Option<Vec<u8>>) {
        // Counted before the wake-up: the thread it wakes must not see the batch as running.
        // ORDERING: the lock below is taken after this increment and the communication thread
        // reads the count after taking the same lock, so Relaxed is enough.
        self.finished.fetch_add(1, Ordering::Relaxed);
        let mut queue = self.queue.lock();
        if let Some(frames) = frames {
            queue.push_back(Outgoing::Frames(frames));
        }
        self.cond.notify_one();
    }

    /// The oldest message, if there is one.
    fn take_now(&self) -> Option<Outgoing> {
        self.queue.lock().pop_front()
    }

    /// The oldest message, waiting up to `idle_wait` for one, or up to `BUSY_WAIT` while the
    /// main thread runs one of the `handed_over` batches.
    fn take(&self, handed_over: u64, idle_wait: Duration) -> Option<Outgoing> {
        let mut queue = self.queue.lock();
        if queue.is_empty() {
            // Decided under the lock, which `finish_batch` takes after counting: a batch that
            // ends now is either counted here or wakes this wait.
            // ORDERING: see `finish_batch`.
            let busy = self.finished.load(Ordering::Relaxed) < handed_over;
            // While busy, the spin phase stays (a short task's results come during it), only
            // the sleeps grow.
            let wait = if busy && !idle_wait.is_zero() {
                BUSY_WAIT
            } else {
                idle_wait
            };
            if !wait.is_zero() {
                self.cond.wait_for(&mut queue, wait);
            }
        }
        queue.pop_front()
    }
}

/// Cancel requests between the threads: the communication thread sees every `Cancel` from rank
/// 0 as it arrives, while the main thread may be running that very task.
#[derive(Default)]
struct RankCancels {
    /// The task under a token the main thread runs now, and its token.
    running: Option<(u64, CancelToken)>,
    /// Cancels for tasks this rank has not started yet (they come in a later batch than their
    /// task, or behind it in the same batch).
    requested: HashSet<u64>,
}

impl RankCancels {
    /// The communication thread: cancels in `batch` for the running task cancel its token now;
    /// the others are kept for their task's start.
    ///
    /// Cancelling a token runs code of the program's (callbacks of tasks submitted under it,
    /// child tokens), so it happens on a thread of its own, with no lock held: the
    /// communication thread answers rank 0's pings at once, whatever that code does.
    fn note(cancels: &Mutex<RankCancels>, batch: &[u8]) {
        for id in split_frames(batch)
            .flatten()
            .filter_map(ToWorker::cancel_id)
        {
            let running = {
                let mut c = cancels.lock();
                match &c.running {
                    Some((running, token)) if *running == id => Some(token.clone()),
                    _ => {
                        c.requested.insert(id);
                        None
                    }
                }
            };
            if let Some(token) = running {
                let cancel = token.clone();
                let spawned = std::thread::Builder::new()
                    .name("cf-mpi-cancel".into())
                    .spawn(move || cancel.cancel());
                if spawned.is_err() {
                    // No thread to spare: cancel here rather than not at all.
                    token.cancel();
                }
            }
        }
    }

    /// The main thread starts task `id` under a token: a new token, cancelled already if a
    /// cancel for it came first.
    fn start(cancels: &Mutex<RankCancels>, id: u64) -> CancelToken {
        let token = CancelToken::new();
        let mut c = cancels.lock();
        if c.requested.remove(&id) {
            token.cancel();
        }
        c.running = Some((id, token.clone()));
        token
    }

    /// The main thread finished task `id`: later cancels for it, or for any task before it
    /// (ids rise in dispatch order), are stale.
    fn end(cancels: &Mutex<RankCancels>, id: u64) {
        let mut c = cancels.lock();
        c.running = None;
        c.requested.retain(|&r| r > id);
    }
}

/// Serves rank 0 until it says `Exit`, then finalizes MPI and exits. Never returns.
pub(crate) fn serve_rank(rank: u32) -> ! {
    let host = host_name();
    let cancels = Arc::new(Mutex::new(RankCancels::default()));
    let (batches_tx, batches) = crossbeam_channel::unbounded::<Vec<u8>>();
    let outgoing = Arc::new(CommMailbox {
        queue: Mutex::new(VecDeque::new()),
        cond: Condvar::new(),
        finished: AtomicU64::new(0),
    });
    let comm_host = host.clone();
    let mailbox = Arc::clone(&outgoing);
    let comm_cancels = Arc::clone(&cancels);
    let comm = std::thread::Builder::new()
        .name("MpiPoolExecutor-rank-comm".into())
        .spawn(move || communicate(rank, &comm_host, &batches_tx, &mailbox, &comm_cancels));
    let comm = match comm {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!(
                "concurrent-futures MPI rank {rank} on {host}: cannot start its communication \
                 thread: {e}"
            );
            std::process::exit(RANK_FAILED);
        }
    };
    let outcome = serve(&batches, &outgoing, &cancels);
    let code = match outcome {
        Ok(()) => {
            outgoing.post(Outgoing::Exit);
            match comm.join() {
                Ok(true) => 0,
                _ => RANK_FAILED,
            }
        }
        Err(ServeStop::Fatal(message)) => {
            // The communication thread aborts the job; this thread waits to be ended with it.
            outgoing.post(Outgoing::Fatal(message));
            let _ = comm.join();
            RANK_FAILED
        }
        Err(ServeStop::CommEnded) => {
            let _ = comm.join();
            RANK_FAILED
        }
    };
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    std::process::exit(code)
}

/// Why the main thread stopped serving before `Exit`.
enum ServeStop {
    /// Rank 0 sent something that is not a valid batch of frames.
    Fatal(String),
    /// The communication thread is gone (it already reported why).
    CommEnded,
}

/// The main thread: runs the frames of each batch, hands the results to the communication
/// thread; `Ok` when rank 0 says `Exit`.
fn serve(
    batches: &Receiver<Vec<u8>>,
    outgoing: &CommMailbox,
    cancels: &Mutex<RankCancels>,
) -> Result<(), ServeStop> {
    let mut verified = None;
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut scratch = Vec::new();
    let send = |out: &mut Vec<u8>| {
        let frames = std::mem::replace(out, Vec::with_capacity(64 * 1024));
        outgoing.post(Outgoing::Frames(frames));
    };
    loop {
        let bytes = batches.recv().map_err(|_| ServeStop::CommEnded)?;
        let mut unsent_since: Option<Instant> = None;
        for body in split_frames(&bytes) {
            let body =
                body.map_err(|e| ServeStop::Fatal(format!("bad message from rank 0: {e}")))?;
            let frame = ToWorker::decode(body)
                .map_err(|e| ServeStop::Fatal(format!("bad frame from rank 0: {e}")))?;
            match frame {
                ToWorker::Hello {
                    protocol,
                    image,
                    initializer,
                    ..
                } => verified = greet(protocol, image, initializer, &mut out),
                // Seen by the communication thread as it arrived.
                ToWorker::Cancel { .. } => {}
                ToWorker::Task {
                    id,
                    call,
                    under_token,
                } => {
                    match &verified {
                        Some(v) if under_token => {
                            let token = RankCancels::start(cancels, id);
                            {
                                let _current = CurrentToken::enter(Some(token));
                                run_task(v, id, call, &mut scratch, &mut out);
                            }
                            RankCancels::end(cancels, id);
                        }
                        Some(v) => run_task(v, id, call, &mut scratch, &mut out),
                        None => FromWorker::Failed {
                            id,
                            failure: Failure::DecodeArgument(
                                "this rank has not passed the handshake".into(),
                            ),
                        }
                        .encode(&mut out),
                    }
                    // What the task printed goes out now, not whenever the buffer fills.
                    let _ = io::stdout().flush();
                    let since = *unsent_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= FLUSH_AFTER {
                        send(&mut out);
                        unsent_since = None;
                    }
                }
                ToWorker::Exit => {
                    if !out.is_empty() {
                        send(&mut out);
                    }
                    return Ok(());
                }
            }
        }
        let last =
            (!out.is_empty()).then(|| std::mem::replace(&mut out, Vec::with_capacity(64 * 1024)));
        outgoing.finish_batch(last);
    }
}

/// The communication thread: initializes MPI, announces the host, then relays batches and
/// results and answers pings until the main thread says `Exit` (then says `Bye`, finalizes MPI
/// and returns `true`). It aborts the job if the main thread cannot go on; it returns `false`
/// if MPI could not start.
fn communicate(
    rank: u32,
    host: &str,
    batches: &Sender<Vec<u8>>,
    outgoing: &CommMailbox,
    cancels: &Mutex<RankCancels>,
) -> bool {
    precise_sleeps();
    let Some((universe, _level)) = mpi::initialize_with_threading(mpi::Threading::Funneled) else {
        eprintln!("concurrent-futures MPI rank {rank} on {host}: MPI was already initialized");
        return false;
    };
    let world = universe.world();
    let root = world.process_at_rank(0);
    // The first message rank 0 gets from this rank, before any handshake reply.
    root.send_with_tag(&LivenessMessage::Host(host).encode()[..], CONTROL_TAG);
    let mut backoff = Backoff::new(IDLE_CAP);
    let mut handed_over = 0u64;
    // Sends what the main thread handed over; `true` once it said `Exit`.
    let relay = |message: Outgoing| -> bool {
        match message {
            Outgoing::Frames(frames) => {
                root.send_with_tag(&frames[..], TAG);
                false
            }
            Outgoing::Exit => true,
            Outgoing::Fatal(message) => abort(&world, rank, host, &message),
        }
    };
    loop {
        let mut progressed = false;
        while let Some(probed) = root.immediate_matched_probe() {
            progressed = true;
            let (bytes, status) = probed.matched_receive_vec::<u8>();
            if status.tag() == CONTROL_TAG {
                // Rank 0 sends only pings on this tag.
                root.send_with_tag(&LivenessMessage::Pong.encode()[..], CONTROL_TAG);
            } else {
                RankCancels::note(cancels, &bytes);
                if batches.send(bytes).is_err() {
                    abort(&world, rank, host, "its main thread ended");
                }
                handed_over += 1;
            }
        }
        let mut exit = false;
        while let Some(message) = outgoing.take_now() {
            progressed = true;
            exit = relay(message);
            if exit {
                break;
            }
        }
        if !exit && !progressed {
            // A result from the main thread ends the wait at once.
            if let Some(message) = outgoing.take(handed_over, backoff.next()) {
                progressed = true;
                exit = relay(message);
            }
        }
        if exit {
            root.send_with_tag(&LivenessMessage::Bye.encode()[..], CONTROL_TAG);
            drop(universe); // MPI_Finalize, on the thread that initialized MPI.
            return true;
        }
        if progressed {
            backoff.reset();
        }
    }
}

fn abort(world: &mpi::topology::SimpleCommunicator, rank: u32, host: &str, why: &str) -> ! {
    eprintln!("concurrent-futures MPI rank {rank} on {host}: {why}");
    let _ = io::stderr().flush();
    world.abort(RANK_FAILED)
}
