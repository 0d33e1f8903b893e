//! macOS (and the other Apple systems): the loader's executable path, and a watcher thread
//! that `kqueue` wakes when the parent exits (there is no parent-death signal).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

/// `_NSGetExecutablePath` (what `std::env::current_exe` asks): the path the program was
/// started from, made absolute by the loader at launch.
pub(super) fn executable_path() -> io::Result<PathBuf> {
    std::env::current_exe()
}

/// Registers for `parent`'s exit on a `kqueue` and blocks a watcher thread on it; the thread
/// kills this process with SIGKILL when the event arrives, as Linux's `PR_SET_PDEATHSIG` does.
/// If the watch cannot be set up (no descriptor or thread to spare), the worker notices its
/// parent's death at its next read of the socket instead.
pub(super) fn die_with_parent(parent: u32) {
    match watch(parent) {
        Ok(queue) => {
            let spawned = std::thread::Builder::new()
                .name("concurrent-futures parent watch".into())
                .stack_size(64 * 1024)
                .spawn(move || wait_for_exit(&queue));
            if let Err(e) = spawned {
                eprintln!("concurrent-futures worker: no parent-death watch: {e}");
            }
        }
        // The parent is already gone.
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => std::process::exit(0),
        Err(e) => eprintln!("concurrent-futures worker: no parent-death watch: {e}"),
    }
    // The parent may have died before the watch was registered, and its pid been reused.
    super::exit_if_orphaned(parent);
}

/// A kqueue with a one-shot `NOTE_EXIT` filter on `parent`.
fn watch(parent: u32) -> io::Result<OwnedFd> {
    // SAFETY: `kqueue` takes no arguments and returns a new descriptor or -1.
    let fd = unsafe { libc::kqueue() };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a descriptor this call just created and nothing else owns.
    let queue = unsafe { OwnedFd::from_raw_fd(fd) };
    // Children a task spawns must not inherit it (a kqueue is not inherited across `fork`, but
    // close-on-exec says so for `posix_spawn` too).
    // SAFETY: F_SETFD on a descriptor this function owns, with an integer argument.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    let change = libc::kevent {
        ident: parent as libc::uintptr_t,
        filter: libc::EVFILT_PROC,
        flags: libc::EV_ADD | libc::EV_ONESHOT,
        fflags: libc::NOTE_EXIT,
        data: 0,
        udata: std::ptr::null_mut(),
    };
    // SAFETY: one change read from a live local, no event list (so errors come back through
    // errno, ESRCH if `parent` no longer exists), no timeout.
    let r = unsafe {
        libc::kevent(
            queue.as_raw_fd(),
            &change,
            1,
            std::ptr::null_mut(),
            0,
            std::ptr::null(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(queue)
}

/// Blocks until the parent's exit event, then kills this process.
fn wait_for_exit(queue: &OwnedFd) {
    loop {
        // SAFETY: `kevent` is plain old data; all-zero is a valid value for every field.
        let mut event: libc::kevent = unsafe { std::mem::zeroed() };
        // SAFETY: no changes, room for one event in a live local, no timeout (block).
        let n = unsafe {
            libc::kevent(
                queue.as_raw_fd(),
                std::ptr::null(),
                0,
                &mut event,
                1,
                std::ptr::null(),
            )
        };
        if n > 0 {
            super::kill_this_process();
        }
        if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}
