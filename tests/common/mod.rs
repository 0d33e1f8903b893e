//! Shared helpers for the integration tests: futures in each of CPython's fixture states, gated
//! pool tasks (no sleeps), a watchdog, a `log` capture and the stress-loop knob.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code)]

/// For the process pool's tests (it uses libc, a dependency of feature `process-pool`).
#[cfg(all(unix, feature = "process-pool"))]
pub mod process;

use concurrent_futures::{Future, FutureError, ThreadPoolExecutor};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, Once};
use std::thread;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Standalone futures in CPython's fixture states (util.py: PENDING_FUTURE, RUNNING_FUTURE, ...).
// ---------------------------------------------------------------------------------------------

/// `PENDING_FUTURE`.
pub fn pending<T: Send + 'static>() -> Future<T> {
    Future::new()
}

/// `RUNNING_FUTURE`: `set_running_or_notify_cancel()` on a fresh future.
pub fn running<T: Send + 'static>() -> Future<T> {
    let f = Future::new();
    assert_eq!(f.set_running_or_notify_cancel(), Ok(true));
    f
}

/// `CANCELLED_FUTURE`: cancelled, not yet acknowledged ("notified") by an executor.
pub fn cancelled<T: Send + 'static>() -> Future<T> {
    let f = Future::new();
    assert!(f.cancel());
    f
}

/// `CANCELLED_AND_NOTIFIED_FUTURE`.
pub fn cancelled_and_notified<T: Send + 'static>() -> Future<T> {
    let f = Future::new();
    assert!(f.cancel());
    assert_eq!(f.set_running_or_notify_cancel(), Ok(false));
    f
}

/// `SUCCESSFUL_FUTURE` (CPython uses 42).
pub fn finished_with<T: Send + 'static>(value: T) -> Future<T> {
    let f = Future::new();
    f.set_result(value).unwrap();
    f
}

/// The error `EXCEPTION_FUTURE` holds (CPython: `OSError()`).
pub fn os_error() -> FutureError {
    FutureError::Panicked {
        message: "OSError".into(),
        location: None,
    }
}

/// `EXCEPTION_FUTURE`: finished with [`os_error`].
pub fn failed<T: Send + 'static>() -> Future<T> {
    let f = Future::new();
    f.set_exception(os_error()).unwrap();
    f
}

/// CPython's six fixture states, as standalone futures.
pub fn six_states() -> Vec<(&'static str, Future<i32>)> {
    vec![
        ("PENDING", pending()),
        ("RUNNING", running()),
        ("CANCELLED", cancelled()),
        ("CANCELLED_AND_NOTIFIED", cancelled_and_notified()),
        ("EXCEPTION", failed()),
        ("SUCCESSFUL", finished_with(42)),
    ]
}

/// Runs `action` on another thread as soon as the caller is about to block; the caller's wait
/// and the action race, and the test must hold for either order.
pub fn act_concurrently<T: Send + Sync + 'static>(
    f: &Future<T>,
    action: impl FnOnce(&Future<T>) + Send + 'static,
) -> (mpsc::Sender<()>, thread::JoinHandle<()>) {
    let (go_tx, go_rx) = mpsc::channel();
    let f = f.clone();
    let h = thread::spawn(move || {
        go_rx.recv().unwrap();
        action(&f);
    });
    (go_tx, h)
}

// ---------------------------------------------------------------------------------------------
// Gated pool tasks: "running" = blocked on a channel inside a worker; "pending" = queued behind.
// ---------------------------------------------------------------------------------------------

/// A pool task blocked until [`Gate::open`] sends its return value. Dropping the gate without
/// opening it makes the task panic (its future fails), so a forgotten gate never hangs a pool.
pub struct Gate<T> {
    /// The task's future.
    pub future: Future<T>,
    tx: mpsc::Sender<T>,
}

impl<T: Send + 'static> Gate<T> {
    /// Submits a gated task and returns at once (the task may still be queued).
    pub fn submit(pool: &ThreadPoolExecutor) -> Self {
        let (tx, rx) = mpsc::channel::<T>();
        let future = pool
            .spawn(move || rx.recv().expect("gate dropped without being opened"))
            .unwrap();
        Gate { future, tx }
    }

    /// Submits a gated task and returns once a worker is running it (`future.running()`).
    pub fn start(pool: &ThreadPoolExecutor) -> Self {
        let (tx, rx) = mpsc::channel::<T>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let future = pool
            .spawn(move || {
                started_tx.send(()).unwrap();
                rx.recv().expect("gate dropped without being opened")
            })
            .unwrap();
        started_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("gated task never started");
        assert!(future.running(), "a started task reports running()");
        Gate { future, tx }
    }

    /// Lets the task return `value` (a no-op if the task is gone).
    pub fn open(self, value: T) {
        let _ = self.tx.send(value);
    }
}

/// A 1-worker pool whose only worker is busy with a gated task, so everything submitted after
/// it stays PENDING until [`BlockedPool::release`] (or drop) lets the worker go.
pub struct BlockedPool {
    /// Field order matters: the gate is dropped (releasing the worker) before the pool joins.
    gate: Option<Gate<()>>,
    /// The blocker's future (RUNNING until released).
    pub blocker: Future<()>,
    /// The pool, `max_workers == 1`.
    pub pool: ThreadPoolExecutor,
}

impl BlockedPool {
    pub fn new() -> Self {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        let gate = Gate::start(&pool);
        let blocker = gate.future.clone();
        BlockedPool {
            gate: Some(gate),
            blocker,
            pool,
        }
    }

    /// Lets the worker finish the blocker and move on to the queue.
    pub fn release(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.open(());
        }
    }
}

impl Default for BlockedPool {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for BlockedPool {
    fn drop(&mut self) {
        self.release();
    }
}

// ---------------------------------------------------------------------------------------------
// Watchdog
// ---------------------------------------------------------------------------------------------

/// Aborts the whole test process (with a message) if not dropped within `limit`: a hang becomes
/// a quick, named failure instead of a stuck CI job.
pub struct Watchdog {
    tx: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

pub fn watchdog(limit: Duration, what: &'static str) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    let thread = thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            eprintln!("WATCHDOG: `{what}` still running after {limit:?}: hang, aborting");
            std::process::abort();
        }
    });
    Watchdog {
        tx: Some(tx),
        thread: Some(thread),
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Log capture (the crate logs panicking done-callbacks through `log`)
// ---------------------------------------------------------------------------------------------

static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static LOGGER_INIT: Once = Once::new();

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        LOGS.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
    fn flush(&self) {}
}

/// Installs a process-wide logger that records every line (idempotent). Lines look like
/// `ERROR concurrent_futures: exception calling callback for <Future ...>: ...`.
pub fn capture_logs() {
    LOGGER_INIT.call_once(|| {
        log::set_logger(&Capture).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Captured lines containing `marker` (tests run in parallel: filter by a unique marker).
pub fn logs_containing(marker: &str) -> Vec<String> {
    LOGS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|l| l.contains(marker))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Stress knob
// ---------------------------------------------------------------------------------------------

/// Loop count for stress tests: `default` times `CF_TEST_STRESS` (a multiplier, 1 if unset),
/// the same meaning as in the crate's unit tests.
pub fn stress_iterations(default: usize) -> usize {
    default
        * std::env::var("CF_TEST_STRESS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
}

/// How long a wait that should succeed at once may take before a test calls it a hang.
pub const LONG: Duration = Duration::from_secs(30);

/// How long a test may run before its watchdog calls it a hang: well above `LONG`, so that a
/// slow but live test on a loaded machine fails by its own assertions, or not at all.
pub const HANG: Duration = Duration::from_secs(90);

/// A closed gate: tasks call `gate.result(None)` and block until the test opens it.
pub fn gate() -> Future<()> {
    Future::new()
}

/// Opens a gate made by [`gate`].
pub fn open(gate: &Future<()>) {
    gate.set_result(()).expect("a gate is opened once");
}

/// Polls `cond` (yielding, no sleeps) until it holds or `LONG` passes.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + LONG;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        std::thread::yield_now();
    }
}

/// Runs `f` on its own thread and fails the test if it does not finish within `LONG`
/// (CPython's per-test time limit, N2 in `tests/CPYTHON.md`).
pub fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(LONG) {
        Ok(v) => v,
        Err(_) => panic!("{what}: did not finish within {LONG:?} (hang)"),
    }
}

/// xorshift64*: reproducible randomness without a dependency (tests print their seed on failure).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..n` for test plans.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ---------------------------------------------------------------------------------------------
// Scratch directories
// ---------------------------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        // Process id, clock and a counter: unique across parallel tests and test binaries.
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "concurrent-futures-test-{name}-{}-{nanos}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
