//! The worker side: the automatic entry hook, the handshake, and the task loop.
//!
//! Every executable that links this crate runs [`entry_hook`] before `main` (a constructor in
//! `.init_array`, through the `ctor` crate). In an ordinary process it only records that it ran.
//! In a process the pool started (the environment variable [`WORKER_ENV`] is set) it never
//! returns: it serves tasks over the socket the parent passed as stdin, then exits. So the
//! user's `main`, a test harness or a bench harness never runs in a worker, and no line in
//! `main` is needed.

use super::frame::{Call, Failure, FrameBuffer, FromWorker, ToWorker, PROTOCOL};
use super::image::{self, ImageId, Verified};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the pool in a worker's environment: `{protocol}:{parent pid}`.
pub(crate) const WORKER_ENV: &str = "CONCURRENT_FUTURES_WORKER";

/// Whether the entry hook ran in this process (the pool refuses to start without it, rather
/// than spawn copies of a program that would run its own `main`).
static HOOK_RAN: AtomicBool = AtomicBool::new(false);

pub(crate) fn hook_ran() -> bool {
    // ORDERING: the store happens in a constructor before `main`, which happens-before every
    // thread of the program; Relaxed is enough.
    HOOK_RAN.load(Ordering::Relaxed)
}

#[ctor::ctor(unsafe)]
fn entry_hook() {
    HOOK_RAN.store(true, Ordering::Relaxed);
    let Some(value) = std::env::var_os(WORKER_ENV) else {
        // Not a process-pool worker: under `mpirun`, ranks other than 0 serve here instead.
        #[cfg(feature = "mpi")]
        crate::mpi_pool::entry_hook();
        return;
    };
    // Tasks that start this same program as a child process must get an ordinary process,
    // not another worker. Constructors run before any thread exists, so editing the
    // environment here races with nobody.
    std::env::remove_var(WORKER_ENV);
    die_with_parent(&value);
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
/// dying: ask the kernel to kill it then (Linux), and exit now if the parent is already gone.
fn die_with_parent(value: &std::ffi::OsStr) {
    #[cfg(target_os = "linux")]
    {
        let parent: Option<i32> = value
            .to_str()
            .and_then(|v| v.split_once(':'))
            .and_then(|(_, pid)| pid.parse().ok());
        // SAFETY: plain integer arguments; PR_SET_PDEATHSIG only sets a flag on this process.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
        // SAFETY: getppid has no preconditions.
        if parent.is_some_and(|p| p != unsafe { libc::getppid() }) {
            std::process::exit(0);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = value;
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
    /// a clean end of stream (the parent is gone). Flushes pending output before blocking, so
    /// results are batched but never held back.
    fn next(&mut self) -> io::Result<Option<Range<usize>>> {
        loop {
            if let Some(range) = self.inbuf.next_frame().map_err(invalid)? {
                return Ok(Some(range));
            }
            self.flush()?;
            let want = self.inbuf.wanted().max(64 * 1024);
            let n = match self.stream.read(self.inbuf.spare(want)) {
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

    fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Answers the parent's `Hello` (shared with the MPI transport): checks the protocol and the
/// executable image, then runs the initializer. Encodes `Ready`, `Refused` or `InitFailed` into
/// `out`, and returns the proof of a matching image only with `Ready`.
pub(crate) fn greet(
    protocol: u32,
    parent_image: &[u8],
    initializer: Option<Call<'_>>,
    out: &mut Vec<u8>,
) -> Option<Verified> {
    if protocol != PROTOCOL {
        let reason = format!("protocol {protocol} from the parent, {PROTOCOL} here");
        FromWorker::Refused(&reason).encode(out);
        return None;
    }
    // Nothing the parent names is resolved before this check passes.
    let verified = match ImageId::check(parent_image) {
        Ok(v) => v,
        Err(reason) => {
            FromWorker::Refused(&reason).encode(out);
            return None;
        }
    };
    if let Some(init) = initializer {
        let mut sink = Vec::new();
        let ran = image::run(
            &verified,
            init.trampoline,
            init.function,
            init.input,
            &mut sink,
        );
        if let Err(failure) = ran {
            let message = match failure {
                Failure::Panicked { message, .. } => message,
                Failure::DecodeArgument(m) | Failure::EncodeResult(m) => m,
            };
            FromWorker::InitFailed(&message).encode(out);
            return None;
        }
    }
    FromWorker::Ready {
        pid: std::process::id(),
    }
    .encode(out);
    Some(verified)
}

/// Runs one `Task` and encodes its `Done` or `Failed` frame into `out` (shared with the MPI
/// transport); `scratch` is reused for the result bytes.
pub(crate) fn run_task(
    verified: &Verified,
    id: u64,
    call: Call<'_>,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    scratch.clear();
    match image::run(
        verified,
        call.trampoline,
        call.function,
        call.input,
        scratch,
    ) {
        Ok(()) => FromWorker::Done {
            id,
            output: scratch,
        }
        .encode(out),
        Err(failure) => FromWorker::Failed { id, failure }.encode(out),
    }
}

fn serve() -> io::Result<()> {
    let mut conn = Conn {
        stream: take_socket()?,
        inbuf: FrameBuffer::new(),
        out: Vec::with_capacity(64 * 1024),
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
            None => return conn.flush(),
        },
        other => return Err(invalid(format!("expected the handshake, got {other:?}"))),
    };
    let mut done = 0u64;
    let mut output = Vec::new();
    loop {
        let Some(range) = conn.next()? else {
            return conn.flush();
        };
        let (id, call) = match ToWorker::decode(conn.inbuf.body(range)).map_err(invalid)? {
            ToWorker::Exit => return conn.flush(),
            ToWorker::Task { id, call } => (id, call),
            other => return Err(invalid(format!("unexpected frame {other:?}"))),
        };
        run_task(&verified, id, call, &mut output, &mut conn.out);
        // What the task printed goes out now, not whenever the buffer fills.
        let _ = io::stdout().flush();
        done += 1;
        if max_tasks != 0 && done >= max_tasks {
            // Retire: the parent counts the same budget and starts a replacement.
            return conn.flush();
        }
    }
}
