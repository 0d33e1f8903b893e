//! Cross-process synchronization for process-pool tests: FIFOs (opening one blocks until the
//! other side opens it), never sleeps.

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
