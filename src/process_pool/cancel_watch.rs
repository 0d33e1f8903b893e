//! The worker's ear while a task under a cancel token runs: a thread that reads the socket for
//! the parent's `Cancel` frames, which the worker's main thread, busy in the task, cannot.
//!
//! The main thread owns the connection's input buffer except while it runs a task under a
//! token: then it hands the buffer to the watcher ([`CancelWatch::begin`]), and takes it back
//! when the task returns ([`CancelWatch::end`]), only once the watcher has stopped reading. So
//! exactly one thread reads the socket at any time, and bytes stay in stream order. The watcher
//! appends what arrives to the buffer and looks at the complete frames without taking them: a
//! `Cancel` for the running task cancels its token; every frame stays for the main thread,
//! which ignores `Cancel`s of tasks that have ended.
//!
//! The watcher waits in `poll` on the socket and on a pipe the main thread writes to end a
//! watch, so it never spins and never reads past the end of a watch. It starts with the first
//! task under a token; a worker that runs none has no such thread.

use crate::cancel::CancelToken;
use crate::remote::frame::{FrameBuffer, ToWorker, READ_CHUNK};
use parking_lot::{Condvar, Mutex};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// The watcher thread and the pipe that ends its watches.
pub(super) struct CancelWatch {
    shared: Arc<WatchShared>,
    /// Written by [`end`](Self::end) to wake the watcher out of `poll`.
    wake_tx: OwnedFd,
}

struct WatchShared {
    state: Mutex<WatchState>,
    cond: Condvar,
}

#[derive(Default)]
struct WatchState {
    /// The task being watched and its token; `None` between watches.
    watching: Option<(u64, CancelToken)>,
    /// The connection's input buffer, held here during a watch.
    inbuf: FrameBuffer,
    /// The watcher is not reading (between watches, or after the stream ended).
    parked: bool,
    /// The stream ended (or failed) during a watch: the main thread finds out when it reads.
    ended: bool,
}

impl CancelWatch {
    /// Starts the watcher thread on a duplicate of `socket`.
    pub(super) fn start(socket: &std::os::unix::net::UnixStream) -> io::Result<CancelWatch> {
        let socket = OwnedFd::from(socket.try_clone()?);
        let (wake_rx, wake_tx) = pipe()?;
        let shared = Arc::new(WatchShared {
            state: Mutex::new(WatchState {
                parked: true,
                ..WatchState::default()
            }),
            cond: Condvar::new(),
        });
        let watcher = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("concurrent-futures-cancel-watch".into())
            .spawn(move || watch(&watcher, &socket, &wake_rx))?;
        Ok(CancelWatch { shared, wake_tx })
    }

    /// Hands the input buffer to the watcher while task `id` runs under `token`. A `Cancel` for
    /// it already buffered cancels the token at once.
    pub(super) fn begin(&self, id: u64, token: &CancelToken, inbuf: FrameBuffer) {
        if cancel_requested(&inbuf, id) {
            token.cancel();
        }
        let mut st = self.shared.state.lock();
        st.inbuf = inbuf;
        st.watching = Some((id, token.clone()));
        st.parked = false;
        self.shared.cond.notify_all();
    }

    /// Ends the watch and takes the input buffer back, with whatever the watcher read into it,
    /// once the watcher has stopped reading.
    pub(super) fn end(&self) -> FrameBuffer {
        self.shared.state.lock().watching = None;
        // A byte on the pipe wakes a watcher blocked in `poll`; one that is not there yet sees
        // `watching` cleared before it polls again.
        let byte = 1u8;
        // SAFETY: writes one byte from a live local to a pipe this process owns.
        unsafe { libc::write(self.wake_tx.as_raw_fd(), (&byte as *const u8).cast(), 1) };
        let mut st = self.shared.state.lock();
        while !st.parked {
            self.shared.cond.wait(&mut st);
        }
        std::mem::take(&mut st.inbuf)
    }
}

/// Whether `inbuf` holds a `Cancel` for task `id` (after the frame being served).
fn cancel_requested(inbuf: &FrameBuffer, id: u64) -> bool {
    inbuf
        .frames_ahead()
        .any(|body| ToWorker::cancel_id(body) == Some(id))
}

/// The watcher thread: waits for a watch, reads the socket while it lasts, parks between.
fn watch(shared: &WatchShared, socket: &OwnedFd, wake_rx: &OwnedFd) {
    loop {
        {
            let mut st = shared.state.lock();
            while st.watching.is_none() || st.ended {
                if !st.parked {
                    st.parked = true;
                    shared.cond.notify_all();
                }
                shared.cond.wait(&mut st);
            }
        }
        let mut fds = [
            libc::pollfd {
                fd: socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake_rx.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a live array of two initialized pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            continue; // EINTR
        }
        if fds[1].revents != 0 {
            drain(wake_rx.as_raw_fd());
        }
        let mut st = shared.state.lock();
        let Some((id, token)) = st.watching.clone() else {
            continue;
        };
        if fds[0].revents == 0 {
            continue;
        }
        match read_now(socket.as_raw_fd(), st.inbuf.spare(READ_CHUNK)) {
            Ok(None) => {}
            Ok(Some(0)) | Err(_) => st.ended = true,
            Ok(Some(n)) => {
                st.inbuf.filled(n);
                if cancel_requested(&st.inbuf, id) {
                    token.cancel();
                }
            }
        }
    }
}

/// One read that does not block (the socket stays blocking for the main thread: `O_NONBLOCK`
/// would be shared through the duplicate): `Some(0)` at the end of the stream, `None` if
/// nothing is there after all (the next `poll` waits for it).
fn read_now(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes; `fd` is an open socket.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n >= 0 {
        return Ok(Some(n as usize));
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
        _ => Err(e),
    }
}

/// Empties the wake-up pipe (its read end is non-blocking).
fn drain(fd: RawFd) {
    let mut buf = [0u8; 64];
    // SAFETY: reads into a live local buffer from a pipe this process owns.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

/// The wake-up pipe: a socket pair, which std creates close-on-exec atomically (a task that
/// starts a process on another thread never passes it on), with a read end that does not
/// block.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (rx, tx) = std::os::unix::net::UnixStream::pair()?;
    rx.set_nonblocking(true)?;
    Ok((rx.into(), tx.into()))
}
