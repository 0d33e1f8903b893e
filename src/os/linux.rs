//! Linux (and Android): `/proc/self/exe`, and the kernel's parent-death signal.

use std::io;
use std::path::{Path, PathBuf};

/// `/proc/self/exe` names the running image even after the file on disk was renamed or
/// replaced; without `/proc` mounted, the path the kernel reports.
pub(super) fn executable_path() -> io::Result<PathBuf> {
    let proc_exe = Path::new("/proc/self/exe");
    if proc_exe.exists() {
        Ok(proc_exe.to_path_buf())
    } else {
        std::env::current_exe()
    }
}

/// The kernel sends SIGKILL when the thread that started this worker ends, which is the pool's
/// manager thread: it lives as long as the pool, and its process's exit ends it.
pub(super) fn die_with_parent(parent: u32) {
    // SAFETY: prctl is variadic and reads its second argument as an `unsigned long`, which is
    // what is passed; PR_SET_PDEATHSIG only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    }
    // The parent may have died before the flag was set.
    super::exit_if_orphaned(parent);
}
