//! The child side of the process pool: a worker process serving its parent over the socket it
//! inherited as stdin, from the entry hook (`src/entry.rs`) before `main`, until it is told to
//! exit, its budget is spent, or the parent is gone.

use super::cancel_watch::CancelWatch;
use crate::cancel::{CancelToken, CurrentToken};
use crate::remote::frame::{Call, FrameBuffer, FromWorker, ToWorker, READ_CHUNK};
use crate::remote::role::WORKER_ENV;
use crate::remote::serve::{greet, run_task};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;

/// Serves the parent that started this process, then exits: the entry hook's answer to
/// [`Role::PoolWorker`](crate::remote::role::Role::PoolWorker). `value` is the
/// [`WORKER_ENV`](crate::remote::role::WORKER_ENV) the parent set, which this removes, so that a
/// task that starts this same program gets an ordinary process, not another worker.
/// Constructors run before any thread exists, so editing the environment races with nobody.
pub(crate) fn serve_parent(value: &std::ffi::OsStr) -> ! {
    std::env::remove_var(WORKER_ENV);
    die_with_parent(value);
    let code = match serve() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("concurrent-futures worker {}: {e}", std::process::id());
            3
        }
    };
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    std::process::exit(code);
}

/// A worker busy in a long task does not read its socket, so it would not notice its parent
/// dying: the OS layer ends it then, and exits now if the parent is already gone.
fn die_with_parent(value: &std::ffi::OsStr) {
    let parent = value
        .to_str()
        .and_then(|v| v.split_once(':'))
        .and_then(|(_, pid)| pid.parse().ok())
        .unwrap_or_else(std::os::unix::process::parent_id);
    crate::os::die_with_parent(parent);
}

/// Takes the socket off stdin (so tasks that read stdin, or children they spawn, never see
/// the pool's frames) and puts `/dev/null` there.
fn take_socket() -> io::Result<UnixStream> {
    let fd = io::stdin().as_fd().try_clone_to_owned()?; // close-on-exec duplicate
    let null = std::fs::File::open("/dev/null")?;
    // SAFETY: fd 0 belongs to this process's stdin; `dup2` atomically makes it refer to
    // /dev/null, which std's `Stdin` (which never closes fd 0) then reads. Both descriptors are
    // valid for the duration of the call.
    if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(UnixStream::from(fd))
}

struct Conn {
    stream: UnixStream,
    inbuf: FrameBuffer,
    out: Vec<u8>,
}

impl Conn {
    /// Blocks until a whole frame is buffered and returns where it lies in `inbuf`; `None` at
    /// a clean end of stream (the parent is gone). Sends pending output before blocking.
    fn next(&mut self) -> io::Result<Option<Range<usize>>> {
        loop {
            if let Some(range) = self.inbuf.next_frame().map_err(invalid)? {
                return Ok(Some(range));
            }
            send(&self.stream, &mut self.out)?;
            let n = match (&self.stream).read(self.inbuf.spare(READ_CHUNK)) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return match self.inbuf.pending() {
                    0 => Ok(None),
                    partial => Err(invalid(format!(
                        "stream ended inside a frame ({partial} bytes)"
                    ))),
                };
            }
            self.inbuf.filled(n);
        }
    }
}

/// Writes `out` whole and empties it. (A free function, so it can run while a task's argument
/// still borrows the input buffer.)
fn send(stream: &UnixStream, out: &mut Vec<u8>) -> io::Result<()> {
    if !out.is_empty() {
        let mut stream = stream;
        stream.write_all(out)?;
        out.clear();
    }
    Ok(())
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The worker's life: the handshake, then tasks one at a time until `Exit`, the budget, or the
/// parent's end.
///
/// Before it calls a task, the worker writes `Started` for it together with every result not
/// yet sent, and waits until the socket took them. So the parent always knows exactly which
/// task a worker runs: if the worker dies, the task it announced last without a result is the
/// one it was running (and only that one fails), and a task it never announced never ran (and
/// goes to another worker). It also means a finished result never waits behind the next task.
fn serve() -> io::Result<()> {
    let mut conn = Conn {
        stream: take_socket()?,
        inbuf: FrameBuffer::new(),
        out: Vec::with_capacity(READ_CHUNK),
    };
    let Some(hello) = conn.next()? else {
        return Ok(());
    };
    let (verified, max_tasks) = match ToWorker::decode(conn.inbuf.body(hello)).map_err(invalid)? {
        ToWorker::Hello {
            protocol,
            image: parent_image,
            max_tasks,
            initializer,
        } => match greet(protocol, parent_image, initializer, &mut conn.out) {
            Some(verified) => (verified, max_tasks),
            None => return send(&conn.stream, &mut conn.out),
        },
        other => return Err(invalid(format!("expected the handshake, got {other:?}"))),
    };
    let mut done = 0u64;
    let mut output = Vec::new();
    let mut watch: Option<CancelWatch> = None;
    loop {
        let Some(range) = conn.next()? else {
            return send(&conn.stream, &mut conn.out);
        };
        let (id, call, under_token) =
            match ToWorker::decode(conn.inbuf.body(range)).map_err(invalid)? {
                ToWorker::Exit => return send(&conn.stream, &mut conn.out),
                // For a task that has ended: the watcher saw it in time, or it came too late.
                ToWorker::Cancel { .. } => continue,
                ToWorker::Task {
                    id,
                    call,
                    under_token,
                } => (id, call, under_token),
                other => return Err(invalid(format!("unexpected frame {other:?}"))),
            };
        FromWorker::Started { id }.encode(&mut conn.out);
        send(&conn.stream, &mut conn.out)?;
        if under_token {
            // The watcher reads the socket while the task runs, so the call cannot borrow the
            // input buffer: it gets its own copy of the argument.
            let input = call.input.to_vec();
            let call = Call {
                input: &input,
                ..call
            };
            let watch = match &watch {
                Some(w) => w,
                None => watch.insert(CancelWatch::start(&conn.stream)?),
            };
            let token = CancelToken::new();
            watch.begin(id, &token, std::mem::take(&mut conn.inbuf));
            {
                let _current = CurrentToken::enter(Some(token));
                run_task(&verified, id, call, &mut output, &mut conn.out);
            }
            conn.inbuf = watch.end();
        } else {
            run_task(&verified, id, call, &mut output, &mut conn.out);
        }
        // What the task printed goes out now, not whenever the buffer fills.
        let _ = io::stdout().flush();
        done += 1;
        if max_tasks != 0 && done >= max_tasks {
            // Retire: the parent counts the same budget and starts a replacement.
            return send(&conn.stream, &mut conn.out);
        }
    }
}
