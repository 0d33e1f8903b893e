//! FreeBSD: the path the kernel reports, and its parent-death signal.

use std::io;
use std::path::PathBuf;

/// `sysctl(KERN_PROC_PATHNAME)` (what `std::env::current_exe` asks): the absolute path the
/// kernel executed.
pub(super) fn executable_path() -> io::Result<PathBuf> {
    std::env::current_exe()
}

/// `procctl(PROC_PDEATHSIG_CTL)` (FreeBSD 11.2 and later) is Linux's `PR_SET_PDEATHSIG`: the
/// kernel sends SIGKILL when the parent process exits. On an older kernel the call fails and
/// the worker notices its parent's death at its next read of the socket instead.
pub(super) fn die_with_parent(parent: u32) {
    let mut signal: libc::c_int = libc::SIGKILL;
    // SAFETY: `P_PID` with id 0 names this process; PROC_PDEATHSIG_CTL reads one `c_int`
    // through the pointer, which points at a live local for the duration of the call.
    unsafe {
        libc::procctl(
            libc::P_PID,
            0,
            libc::PROC_PDEATHSIG_CTL,
            (&mut signal as *mut libc::c_int).cast(),
        );
    }
    // The parent may have died before the signal was requested.
    super::exit_if_orphaned(parent);
}
