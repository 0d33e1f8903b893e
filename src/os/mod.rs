//! What the process pool needs from the operating system, one file per OS: the file to execute
//! for a worker, a worker that ends when the pool's process does, and the identity the linker
//! wrote into the executable.
//!
//! | | executable | parent death | identity |
//! |---|---|---|---|
//! | Linux | `/proc/self/exe` | `prctl(PR_SET_PDEATHSIG)` | ELF `NT_GNU_BUILD_ID` |
//! | macOS | `_NSGetExecutablePath` | `kqueue` `EVFILT_PROC`/`NOTE_EXIT` on a watcher thread | Mach-O `LC_UUID` |
//! | FreeBSD | `sysctl(KERN_PROC_PATHNAME)` | `procctl(PROC_PDEATHSIG_CTL)` | ELF `NT_GNU_BUILD_ID` |
//! | other Unix | `std::env::current_exe` | `getppid` polled on a watcher thread | ELF or Mach-O |
//!
//! Where the linker wrote no identity, `ImageId` hashes the whole file instead. The two format
//! readers are plain bounds-checked parsers, compiled on every Unix and picked by the file's
//! magic, so the Linux test suite exercises the Mach-O one too.

mod elf;
mod macho;

// One file per OS, each compiled as `this_os` where it applies: every condition is written once.
#[cfg(target_os = "freebsd")]
#[path = "freebsd.rs"]
mod this_os;
#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "linux.rs"]
mod this_os;
#[cfg(target_vendor = "apple")]
#[path = "macos.rs"]
mod this_os;
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_vendor = "apple"
)))]
#[path = "other_unix.rs"]
mod this_os;

use std::io::{self, Read, Seek};
use std::path::PathBuf;

/// The file to execute for a worker: the running executable. On Linux `/proc/self/exe`, which
/// names the running image even after the file on disk was replaced; elsewhere the path the
/// kernel or loader reports, so a replaced file is caught by the worker's image check instead
/// (it refuses to run tasks for a parent whose image differs from its own).
///
/// # Errors
///
/// The OS cannot say where the executable is (deleted, or no such facility).
pub(crate) fn executable_path() -> io::Result<PathBuf> {
    this_os::executable_path()
}

/// Makes this worker process end when `parent`, the process that started it, does, even while
/// a task keeps it from reading its socket; exits at once if `parent` is already gone. Called
/// once, by the entry hook of a worker, while the process has one thread.
pub(crate) fn die_with_parent(parent: u32) {
    this_os::die_with_parent(parent)
}

/// The identity the linker wrote into an executable: `(kind, bytes)` with kind `build-id` (an
/// ELF file's GNU build id) or `lc-uuid` (a Mach-O file's `LC_UUID`; one per architecture in a
/// universal file). `None` when the file has neither, or is not in a format read here.
///
/// # Errors
///
/// Reading the file failed.
pub(crate) fn linker_identity<F: Read + Seek>(
    file: &mut F,
) -> io::Result<Option<(&'static str, Vec<u8>)>> {
    if let Some(id) = elf::gnu_build_id(file)? {
        return Ok(Some(("build-id", id)));
    }
    Ok(macho::lc_uuid(file)?.map(|id| ("lc-uuid", id)))
}

/// Exits this worker at once if its parent is no longer `parent` (it died before the death
/// watch was set up, and the worker was reparented).
fn exit_if_orphaned(parent: u32) {
    if std::os::unix::process::parent_id() != parent {
        std::process::exit(0);
    }
}

/// Ends this process the way the kernel's parent-death signal does elsewhere: SIGKILL, so no
/// destructor, `atexit` handler or crash report runs.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn kill_this_process() -> ! {
    // SAFETY: sending a signal to this process's own pid has no memory-safety preconditions.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    // SIGKILL cannot be caught or ignored, so this is not reached.
    std::process::abort()
}
