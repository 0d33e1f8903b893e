//! Helpers for the process pool's tests: cross-process synchronization through FIFOs (opening
//! one blocks until the other side opens it, so no test sleeps), and the worker-side view of
//! a worker's own socket.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

/// Writes to `started` (blocks until the test opens it), then blocks until the test writes
/// to `release`; returns this worker's pid.
pub fn started_then_wait((started, release): (String, String)) -> u32 {
    std::fs::write(&started, b"started").unwrap();
    let mut s = String::new();
    File::open(&release)
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    std::process::id()
}

/// A named pipe in a fresh directory: opening it blocks until the other side opens it.
pub struct Fifo {
    dir: PathBuf,
}

impl Fifo {
    pub fn pair(tag: &str) -> (Fifo, String, String) {
        let dir = std::env::temp_dir().join(format!(
            "cf-pp-{tag}-{}-{:?}",
            std::process::id(),
            Instant::now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let make = |name: &str| {
            let path = dir.join(name);
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            path.to_str().unwrap().to_owned()
        };
        let started = make("started");
        let release = make("release");
        (Fifo { dir }, started, release)
    }

    /// Blocks until the task wrote to `started`: it is running.
    pub fn wait_started(&self) {
        let mut s = String::new();
        File::open(self.dir.join("started"))
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "started");
    }

    pub fn release(&self) {
        std::fs::write(self.dir.join("release"), b"go").unwrap();
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The socket descriptors of this (worker) process: its connection to the pool.
pub fn own_sockets() -> Vec<i32> {
    (3..256)
        .filter(|&fd| {
            let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
            // SAFETY: fstat writes into the buffer we own and fails harmlessly on a closed fd.
            let ok = unsafe { libc::fstat(fd, st.as_mut_ptr()) } == 0;
            // SAFETY: fstat succeeded, so it initialized the buffer.
            ok && unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFSOCK
        })
        .collect()
}
