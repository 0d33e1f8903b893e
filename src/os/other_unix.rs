//! Other Unix systems: `std::env::current_exe`, and a watcher thread that polls `getppid`
//! (there is no portable way to be told of the parent's exit).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// How often the watcher looks at the parent: a worker outlives a dead parent by at most this
/// long, for one cheap system call per interval.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

pub(super) fn executable_path() -> io::Result<PathBuf> {
    std::env::current_exe()
}

/// A watcher thread kills this process with SIGKILL once it has been reparented, as Linux's
/// `PR_SET_PDEATHSIG` does. Without a thread to spare, the worker notices its parent's death
/// at its next read of the socket instead.
pub(super) fn die_with_parent(parent: u32) {
    super::exit_if_orphaned(parent);
    let spawned = std::thread::Builder::new()
        .name("concurrent-futures parent watch".into())
        .stack_size(64 * 1024)
        .spawn(move || loop {
            std::thread::sleep(POLL_INTERVAL);
            if std::os::unix::process::parent_id() != parent {
                super::kill_this_process();
            }
        });
    if let Err(e) = spawned {
        eprintln!("concurrent-futures worker: no parent-death watch: {e}");
    }
}
