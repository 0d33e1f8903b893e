//! One worker process as the manager sees it: its socket and buffers, and the tasks sent to it,
//! with exactly which one it runs.
//!
//! A worker announces each task with `Started` before calling it, after every earlier result
//! (see `child.rs`), and runs one task at a time. So of the tasks sent to it, in order:
//! those with a result are done; at most one, the oldest, has started without a result (it
//! runs now); the rest never started. When the worker dies, the running one fails and the rest
//! go back to the queue, since they provably never ran: exact blame, and at most once.

use crate::remote::forward::ForwardCancel;
use crate::remote::frame::{FrameBuffer, READ_CHUNK};
use crate::remote::pending::PendingCall;
use mio::net::UnixStream;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tasks sent ahead to one worker whose tasks are short: the one it runs and the next, so it
/// does not idle for a round trip between them.
const PER_WORKER: usize = 2;

/// Tasks shorter than this (on average) are worth sending ahead. Longer ones are sent one at a
/// time, so a task never waits behind a long one while another worker is free (CPython's
/// shared call queue has that property too); the round trip is noise next to them.
const PIPELINE_BELOW: Duration = Duration::from_millis(1);

/// Why the manager killed a worker; decides what its running task fails with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KillReason {
    /// Its running task passed `task_timeout`.
    TaskTimeout,
    /// It did not answer the handshake within the startup deadline.
    StartupTimeout,
    /// It was told to exit and did not within the grace period (a stopped process, say).
    ExitGrace,
    /// It sent bytes that are not a frame of the protocol.
    Protocol,
    /// It held a task without starting it, while running none, past the startup deadline
    /// (a stopped or hung process).
    Unresponsive,
    /// Its socket ended but the process lived on.
    Lingering,
    /// `terminate_workers` or `kill_workers`.
    Requested,
    /// Its running task's token was cancelled and the task had not returned after the grace
    /// period.
    Cancelled,
    /// Killed for a running task's deadline (its time limit, a cancel's grace period), but
    /// that task had ended meanwhile and the worker's next task had started: the next task
    /// dies through no fault of its own, as in any worker death.
    Overtaken,
}

/// What a worker's frames may not do: a result or a start out of order.
#[derive(Debug)]
pub(super) struct OutOfOrder(pub(super) String);

/// A live worker process and its socket.
pub(super) struct WorkerProcess {
    pub(super) child: Child,
    pub(super) pid: u32,
    pub(super) stream: UnixStream,
    pub(super) spawned_at: Instant,
    /// Handshake answered; tasks may be sent.
    pub(super) ready: bool,
    /// Set once the manager killed it, with the reason.
    pub(super) killed: Option<KillReason>,
    /// The task a kill for a task's deadline (`TaskTimeout`, `Cancelled`) was aimed at: its
    /// running task at the moment of the kill.
    pub(super) killed_for: Option<u64>,
    /// When a worker told to exit is killed instead.
    pub(super) exit_deadline: Option<Instant>,
    pub(super) inbuf: FrameBuffer,
    out: Vec<u8>,
    out_pos: usize,
    pub(super) writable_interest: bool,
    /// The tasks sent to it. (A field of its own, so a result's bytes can stay borrowed from
    /// `inbuf` while its task is taken from here.)
    pub(super) tasks: SentTasks,
    /// Tasks this worker may still be sent (`max_tasks_per_child`).
    pub(super) budget: Option<u64>,
}

/// A task on a worker, and what forwards its token's cancellation there.
struct SentCall {
    id: u64,
    call: PendingCall,
    /// Registered on the call's token, if it has one; dropped (and so unregistered) when the
    /// task leaves the worker.
    forward: Option<Arc<ForwardCancel>>,
    /// Its token was cancelled while it was on the worker.
    cancel_requested: bool,
}

impl SentCall {
    fn done(self) -> PendingCall {
        if let Some(f) = &self.forward {
            f.retire();
        }
        self.call
    }
}

/// The tasks sent to one worker, in order, and which of them runs.
pub(super) struct SentTasks {
    /// Oldest first: the front runs once `running` is set, the rest wait.
    sent: VecDeque<SentCall>,
    running: bool,
    /// When the running task started (its `Started` arrived).
    running_since: Instant,
    /// Since when the front task waits to be started while none runs: a worker that leaves
    /// it waiting past the startup deadline is stopped or hung.
    startable_since: Option<Instant>,
    /// When the running task, asked to stop, is killed if it has not returned.
    cancel_deadline: Option<Instant>,
    /// Moving average of its task durations (from `Started` to the result); `None` until one
    /// ends.
    avg_task: Option<Duration>,
}

impl WorkerProcess {
    pub(super) fn new(
        child: Child,
        stream: UnixStream,
        hello: Vec<u8>,
        budget: Option<u64>,
    ) -> Self {
        let now = Instant::now();
        WorkerProcess {
            pid: child.id(),
            child,
            stream,
            spawned_at: now,
            ready: false,
            killed: None,
            killed_for: None,
            exit_deadline: None,
            inbuf: FrameBuffer::new(),
            out: hello,
            out_pos: 0,
            writable_interest: false,
            tasks: SentTasks {
                sent: VecDeque::new(),
                running: false,
                running_since: now,
                startable_since: None,
                cancel_deadline: None,
                avg_task: None,
            },
            budget,
        }
    }

    /// Appends a frame to the write buffer (sent by [`flush`](Self::flush)).
    pub(super) fn queue_frame(&mut self, frame: &[u8]) {
        self.out.extend_from_slice(frame);
    }

    /// Writes what the socket takes now; `Ok(true)` once the buffer is empty.
    pub(super) fn flush(&mut self) -> io::Result<bool> {
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

    /// Drops what was never written (the worker is gone).
    pub(super) fn discard_output(&mut self) {
        self.out.clear();
        self.out_pos = 0;
    }

    /// Reads what the socket holds now; `true` at its end (or on a read error, which means
    /// the same: the worker is gone).
    pub(super) fn read_available(&mut self) -> bool {
        loop {
            match self.stream.read(self.inbuf.spare(READ_CHUNK)) {
                Ok(0) => return true,
                Ok(n) => self.inbuf.filled(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }

    /// Told to exit or killed: it takes no more tasks.
    pub(super) fn closing(&self) -> bool {
        self.killed.is_some() || self.exit_deadline.is_some()
    }

    /// Kills it for `reason`, once (a later reason does not replace the first).
    pub(super) fn kill(&mut self, reason: KillReason) {
        if self.killed.is_none() {
            self.killed = Some(reason);
            self.killed_for = self.tasks.running_id();
            let _ = self.child.kill();
        }
    }

    /// Why it was killed, as its running task sees it: a kill aimed at an earlier task that
    /// had ended meanwhile is [`KillReason::Overtaken`] for the one running now.
    pub(super) fn kill_reason_for_running(&self) -> Option<KillReason> {
        match self.killed {
            Some(KillReason::TaskTimeout | KillReason::Cancelled)
                if self.tasks.running_id() != self.killed_for =>
            {
                Some(KillReason::Overtaken)
            }
            reason => reason,
        }
    }

    /// Whether it takes tasks at all (answered the handshake, not closing or killed).
    pub(super) fn accepts_tasks(&self) -> bool {
        self.ready && !self.closing() && self.budget != Some(0)
    }

    /// Tasks sent and not finished.
    pub(super) fn in_flight(&self) -> usize {
        self.tasks.sent.len()
    }

    /// Whether a task may be sent to it now: it has none, or (`send_ahead`) it runs short
    /// tasks and has room for one more behind the one it runs.
    pub(super) fn has_room(&self, send_ahead: bool) -> bool {
        if !self.accepts_tasks() {
            return false;
        }
        let cap = match self.tasks.avg_task {
            Some(avg) if send_ahead && avg < PIPELINE_BELOW => PER_WORKER,
            _ => 1,
        };
        self.tasks.sent.len() < cap
    }

    /// Records a task written to it, and what forwards its token's cancellation.
    pub(super) fn push(&mut self, id: u64, call: PendingCall, forward: Option<Arc<ForwardCancel>>) {
        if let Some(b) = self.budget.as_mut() {
            *b -= 1;
        }
        let t = &mut self.tasks;
        if t.sent.is_empty() {
            t.startable_since = Some(Instant::now());
        }
        t.sent.push_back(SentCall {
            id,
            call,
            forward,
            cancel_requested: false,
        });
    }

    /// Task `id`'s token was cancelled: `true` if the task is on this worker (the caller sends
    /// it `Cancel`). A running task gets `grace` to return before the worker is killed; one
    /// that has not started gets it from its start.
    pub(super) fn cancel_requested(&mut self, id: u64, grace: std::time::Duration) -> bool {
        let t = &mut self.tasks;
        let Some(pos) = t.sent.iter().position(|c| c.id == id) else {
            return false;
        };
        if t.sent[pos].cancel_requested {
            return false;
        }
        t.sent[pos].cancel_requested = true;
        if pos == 0 && t.running {
            t.cancel_deadline = Some(Instant::now() + grace);
        }
        true
    }

    /// When its running task, asked to stop, is killed if it has not returned.
    pub(super) fn cancel_deadline(&self) -> Option<Instant> {
        self.tasks.cancel_deadline
    }

    /// Since when its front task waits to be started while it runs none, if it does.
    pub(super) fn startable_since(&self) -> Option<Instant> {
        self.tasks.startable_since
    }

    /// When its running task started, if one runs.
    pub(super) fn running_since(&self) -> Option<Instant> {
        self.tasks.running.then_some(self.tasks.running_since)
    }

    /// Takes every task sent: the running one (if any) and, in order, those that never
    /// started.
    pub(super) fn take_sent(&mut self) -> (Option<PendingCall>, Vec<PendingCall>) {
        let t = &mut self.tasks;
        t.startable_since = None;
        t.cancel_deadline = None;
        let running = if t.running {
            t.running = false;
            t.sent.pop_front().map(SentCall::done)
        } else {
            None
        };
        let never_started = t.sent.drain(..).map(SentCall::done).collect();
        (running, never_started)
    }
}

impl SentTasks {
    /// The id of the task it runs, if one runs.
    fn running_id(&self) -> Option<u64> {
        self.sent.front().filter(|_| self.running).map(|c| c.id)
    }

    /// `Started { id }`: the oldest waiting task becomes the running one.
    pub(super) fn started(
        &mut self,
        id: u64,
        grace: std::time::Duration,
    ) -> Result<(), OutOfOrder> {
        match self.sent.front() {
            Some(front) if front.id == id && !self.running => {
                let now = Instant::now();
                self.running = true;
                self.running_since = now;
                self.startable_since = None;
                self.cancel_deadline = front.cancel_requested.then(|| now + grace);
                Ok(())
            }
            Some(front) if self.running => Err(OutOfOrder(format!(
                "task {id} started while task {} runs",
                front.id
            ))),
            Some(front) => Err(OutOfOrder(format!(
                "task {id} started, expected task {}",
                front.id
            ))),
            None => Err(OutOfOrder(format!("task {id} started, but none was sent"))),
        }
    }

    /// A result for `id`: takes the running task it belongs to.
    pub(super) fn finished(&mut self, id: u64) -> Result<PendingCall, OutOfOrder> {
        match self.sent.front() {
            Some(front) if front.id == id && self.running => {
                let took = self.running_since.elapsed();
                self.avg_task = Some(match self.avg_task {
                    None => took,
                    Some(avg) => (avg * 3 + took) / 4,
                });
                self.running = false;
                self.cancel_deadline = None;
                let call = self.sent.pop_front().expect("front exists").done();
                self.startable_since = (!self.sent.is_empty()).then(Instant::now);
                Ok(call)
            }
            Some(front) if front.id == id => Err(OutOfOrder(format!(
                "result for task {id}, which never started"
            ))),
            Some(front) => Err(OutOfOrder(format!(
                "result for task {id}, expected task {}",
                front.id
            ))),
            None => Err(OutOfOrder(format!(
                "result for task {id}, but none was sent"
            ))),
        }
    }
}

/// A worker whose socket ended and whose exit status is not in yet; its running task (if any)
/// fails once the status says how it ended.
pub(super) struct DyingWorker {
    pub(super) child: Child,
    pub(super) pid: u32,
    pub(super) running: Option<PendingCall>,
    /// Tasks it was sent and never started that fail with it anyway: `terminate_workers` and
    /// `kill_workers` end everything sent to a worker, as they end the running task.
    pub(super) sent_with_it: Vec<PendingCall>,
    pub(super) killed: Option<KillReason>,
    /// It had answered the handshake.
    pub(super) ready: bool,
    /// Its end was asked for (`Exit`, retirement, a broken pool, `kill_workers`), not a fault.
    pub(super) asked: bool,
    /// When its socket ended.
    pub(super) since: Instant,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FutureError;
    use crate::remote::pending::Completion;
    use std::time::Duration;

    struct NoCompletion;

    impl Completion for NoCompletion {
        fn start(&self) -> bool {
            true
        }
        fn cancel_pending(&self) {}
        fn complete(self: Box<Self>, _: Result<&[u8], FutureError>) {}
        fn cancel(self: Box<Self>) {}
        fn finish_cancelled(self: Box<Self>) {}
    }

    /// A worker running a process that ends at once, with tasks 1 and 2 sent and 1 started.
    fn worker_running_task_1() -> WorkerProcess {
        let child = std::process::Command::new("true").spawn().unwrap();
        let (stream, _peer) = UnixStream::pair().unwrap();
        let mut w = WorkerProcess::new(child, stream, Vec::new(), None);
        for id in [1, 2] {
            w.push(
                id,
                PendingCall::new(Vec::new(), Box::new(NoCompletion)),
                None,
            );
        }
        w.tasks.started(1, Duration::from_secs(1)).unwrap();
        w
    }

    // A kill for a task's deadline blames that task while it still runs.
    #[test]
    fn a_deadline_kill_blames_the_task_it_was_aimed_at() {
        for reason in [KillReason::TaskTimeout, KillReason::Cancelled] {
            let mut w = worker_running_task_1();
            w.kill(reason);
            assert_eq!(w.kill_reason_for_running(), Some(reason));
            let _ = w.child.wait();
        }
    }

    // The worker had finished task 1 and started task 2 when the kill aimed at task 1 landed
    // (their frames unread at the time): task 2 dies with the worker, not of task 1's deadline.
    #[test]
    fn a_deadline_kill_overtaken_by_the_next_task_is_not_that_tasks_fault() {
        for reason in [KillReason::TaskTimeout, KillReason::Cancelled] {
            let mut w = worker_running_task_1();
            w.kill(reason);
            w.tasks.finished(1).unwrap();
            w.tasks.started(2, Duration::from_secs(1)).unwrap();
            assert_eq!(w.kill_reason_for_running(), Some(KillReason::Overtaken));
            assert!(w.closing() && !w.accepts_tasks());
            let _ = w.child.wait();
        }
    }

    // A kill for another reason stays what it is, whatever runs.
    #[test]
    fn other_kills_keep_their_reason() {
        let mut w = worker_running_task_1();
        w.kill(KillReason::Protocol);
        w.kill(KillReason::TaskTimeout);
        w.tasks.finished(1).unwrap();
        w.tasks.started(2, Duration::from_secs(1)).unwrap();
        assert_eq!(w.kill_reason_for_running(), Some(KillReason::Protocol));
        let _ = w.child.wait();
    }
}
