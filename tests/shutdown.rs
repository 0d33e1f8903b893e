//! `shutdown(wait, cancel_futures)`, dropping the pool, and process exit (area I of
//! `tests/CPYTHON.md`, the catalog every `CPython` ID here refers to), and no worker thread
//! outliving its pool (N1).
//!
//! Tasks are held with standalone `Future<()>` gates and channels, never with sleeps. Worker
//! exits are observed three ways: `num_threads()`, a thread-local guard the initializer plants in
//! every worker (it reports when the thread's locals are destroyed, i.e. when it exits), and, on
//! Linux, the thread names in `/proc/self/task`. Other tests of this binary run in parallel, so
//! the `/proc` check counts only threads with the test's own name prefix.
//!
//! The process-exit items (I3, I6, I7) run `examples/shutdown_child.rs` as a child process.

mod common;
use common::{eventually, gate, open, stress_iterations, within, LONG};

use concurrent_futures::{Future, FutureError, SubmitError, ThreadPoolBuilder, ThreadPoolExecutor};
use std::cell::RefCell;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

/// Sends on its channel when dropped: planted in a worker's thread-locals, it reports the
/// worker's exit.
struct ExitGuard(mpsc::Sender<()>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

thread_local! {
    static EXIT_GUARD: RefCell<Option<ExitGuard>> = const { RefCell::new(None) };
}

/// Counts the workers a pool started and the ones that exited.
struct Probe {
    started: Arc<AtomicUsize>,
    exited: mpsc::Receiver<()>,
}

impl Probe {
    fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    /// Every worker the pool started has exited (waiting at most `LONG`).
    fn assert_all_exited(&self) {
        let started = self.started();
        for i in 0..started {
            self.exited
                .recv_timeout(LONG)
                .unwrap_or_else(|_| panic!("only {i} of {started} workers exited"));
        }
        assert!(self.exited.try_recv().is_err(), "more exits than starts");
    }
}

/// `builder` with an initializer that counts workers and plants an [`ExitGuard`] in each.
fn probed(builder: ThreadPoolBuilder) -> (ThreadPoolExecutor, Probe) {
    let started = Arc::new(AtomicUsize::new(0));
    let (tx, exited) = mpsc::channel();
    let s = Arc::clone(&started);
    let ex = builder
        .initializer(move || {
            s.fetch_add(1, Ordering::SeqCst);
            let guard = ExitGuard(tx.clone());
            EXIT_GUARD.with(|g| *g.borrow_mut() = Some(guard));
        })
        .build()
        .unwrap();
    (ex, Probe { started, exited })
}

/// OS threads of this process whose name starts with `{prefix}_` (Linux; `None` elsewhere).
/// Names are cut to 15 bytes by the kernel, so keep prefixes short.
fn os_threads_named(prefix: &str) -> Option<usize> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let wanted = format!("{prefix}_");
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(Result::ok)
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|name| name.trim_end().starts_with(&wanted))
            })
            .count(),
    )
}

/// No OS thread named `{prefix}_*` remains (a thread may linger in `/proc` for an instant after
/// `join` returned, so this polls).
fn assert_no_os_threads_named(prefix: &str) {
    if os_threads_named(prefix).is_some() {
        eventually(&format!("no thread named {prefix}_* is left"), || {
            os_threads_named(prefix) == Some(0)
        });
    }
}

/// Submits `n` tasks that wait for the returned gate; returns once all of them run.
fn occupy(ex: &ThreadPoolExecutor, n: usize) -> (Future<()>, Vec<Future<()>>) {
    let hold = gate();
    let (tx, rx) = mpsc::channel();
    let futures = (0..n)
        .map(|_| {
            let (h, tx) = (hold.clone(), tx.clone());
            ex.spawn(move || {
                tx.send(()).unwrap();
                h.result(None).unwrap();
            })
            .unwrap()
        })
        .collect();
    for i in 0..n {
        rx.recv_timeout(LONG)
            .unwrap_or_else(|_| panic!("only {i} of {n} tasks started"));
    }
    (hold, futures)
}

// ---------------------------------------------------------------------------------------------
// I1, I2: no new work after shutdown

#[test]
fn submit_after_shutdown_is_refused_with_shutdown_error() {
    // CPython I1
    let ex = ThreadPoolExecutor::new(2).unwrap();
    assert_eq!(ex.spawn(|| 1).unwrap().result(None), Ok(&1));
    ex.shutdown(true, false);
    let err = ex.submit(|x: i32| x, 1).unwrap_err();
    assert_eq!(err, SubmitError::Shutdown);
    assert_eq!(
        err.to_string(),
        "cannot schedule new futures after shutdown"
    );
    assert_eq!(ex.spawn(|| 1).unwrap_err(), SubmitError::Shutdown);

    // Without waiting, too: refused as soon as shutdown was called.
    let ex = ThreadPoolExecutor::new(2).unwrap();
    ex.shutdown(false, false);
    assert_eq!(ex.spawn(|| 1).unwrap_err(), SubmitError::Shutdown);
}

#[test]
fn a_running_task_cannot_submit_to_its_pool_once_shutdown_began() {
    // CPython I2 (analogue: submit after a global shutdown started)
    let ex = Arc::new(ThreadPoolExecutor::new(1).unwrap());
    let hold = gate();
    let (tx, rx) = mpsc::channel();
    let (h, pool) = (hold.clone(), Arc::clone(&ex));
    let f = ex
        .spawn(move || {
            tx.send(()).unwrap();
            h.result(None).unwrap();
            pool.spawn(|| 1).map(|_| ())
        })
        .unwrap();
    rx.recv_timeout(LONG).expect("the task starts");
    ex.shutdown(false, false);
    open(&hold);
    assert_eq!(f.result(None), Ok(&Err(SubmitError::Shutdown)));
}

// ---------------------------------------------------------------------------------------------
// I3, I6, I7: process exit, in a child process

/// `target/<profile>/examples/shutdown_child`, built (or refreshed) once per run of this binary.
///
/// A plain `cargo test` builds every example, but `cargo test --test shutdown` builds none, so
/// this runs `cargo build --example shutdown_child` for the test's profile and target
/// directory. If that fails, an existing binary is used; with neither, the tests skip.
///
/// With `CF_PREBUILT_EXAMPLES` set, the binary must already exist and cargo is not run: under
/// Wine (`.ci/run`'s Windows lane) the test would start the host's cargo with Windows paths, so
/// the lane builds the example first, and a missing binary fails instead of skipping.
fn child_binary() -> Option<PathBuf> {
    static CHILD: OnceLock<Option<PathBuf>> = OnceLock::new();
    CHILD
        .get_or_init(|| {
            let exe = std::env::current_exe().ok()?;
            let profile_dir = exe.parent()?.parent()?; // target/<profile>/deps/<test>
            let path = profile_dir
                .join("examples")
                .join(format!("shutdown_child{}", std::env::consts::EXE_SUFFIX));
            if std::env::var_os("CF_PREBUILT_EXAMPLES").is_some() {
                assert!(
                    path.exists(),
                    "CF_PREBUILT_EXAMPLES is set but {} does not exist",
                    path.display()
                );
                return Some(path);
            }
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .args(["build", "--quiet", "--example", "shutdown_child"])
                .arg("--manifest-path")
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
                .arg("--target-dir")
                .arg(profile_dir.parent()?);
            match profile_dir.file_name()?.to_str()? {
                "debug" => {}
                "release" => {
                    cargo.arg("--release");
                }
                other => {
                    cargo.args(["--profile", other]);
                }
            }
            match cargo.output() {
                Ok(out) if out.status.success() => {}
                Ok(out) => eprintln!(
                    "building examples/shutdown_child failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ),
                Err(e) => eprintln!("could not run cargo to build examples/shutdown_child: {e}"),
            }
            path.exists().then_some(path)
        })
        .clone()
}

/// Runs the child in `mode`; `None` (after saying why) if the child binary is unavailable.
fn run_child(mode: &str) -> Option<Output> {
    let Some(path) = child_binary() else {
        eprintln!(
            "SKIPPED: target/<profile>/examples/shutdown_child is missing and could not be built; \
             run `cargo build --example shutdown_child` (a plain `cargo test` builds it)"
        );
        return None;
    };
    let child = Command::new(&path)
        .arg(mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(LONG) {
        Ok(out) => Some(out.expect("the child's output")),
        Err(_) => {
            if cfg!(unix) {
                // Only the child this test started, by its id.
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
            panic!("shutdown_child {mode} hung: the process did not exit within {LONG:?}");
        }
    }
}

fn assert_child(mode: &str, expected_stdout: &str) {
    let Some(out) = run_child(mode) else { return };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{mode}: exit {:?}, stderr {stderr:?}",
        out.status
    );
    assert_eq!(stdout, expected_stdout, "{mode}: stdout");
    assert_eq!(stderr, "", "{mode}: stderr");
}

#[test]
fn queued_work_completes_when_main_returns_without_shutdown() {
    // CPython I3: the pool is dropped at the end of `main`, which joins the running and the
    // queued task.
    assert_child("drop", "apple\nbanana\n");
}

#[test]
fn running_work_completes_at_exit_after_shutdown_without_wait() {
    // CPython I6
    assert_child("nowait", "apple\nbanana\n");
}

#[test]
fn shutdown_without_wait_and_with_cancel_exits_cleanly() {
    // CPython I7: CPython accepts "apple" or nothing; here the task is known to be running, so
    // it must print, and the queued one must not.
    assert_child("cancel_nowait", "apple\n");
}

// ---------------------------------------------------------------------------------------------
// I4, I5, I16: what shutdown waits for and what it cancels

#[test]
fn shutdown_with_wait_finishes_every_queued_task() {
    // CPython I4
    within("shutdown(wait) with 50 queued tasks", || {
        let ex = ThreadPoolExecutor::new(5).unwrap();
        let (hold, running) = occupy(&ex, 5);
        let queued: Vec<_> = (0..45).map(|i| ex.spawn(move || i).unwrap()).collect();
        open(&hold);
        ex.shutdown(true, false);
        for f in &running {
            assert_eq!(f.result(Some(Duration::ZERO)), Ok(&()));
        }
        for (i, f) in queued.iter().enumerate() {
            assert_eq!(f.result(Some(Duration::ZERO)), Ok(&i));
        }
        assert_eq!(ex.num_threads(), 0);
    });
}

#[test]
fn shutdown_with_cancel_futures_cancels_only_queued_tasks() {
    // CPython I5, I16 (shutdown(wait) waits for the running tasks after cancelling the rest)
    within("shutdown(wait, cancel_futures)", || {
        let ex = ThreadPoolExecutor::new(5).unwrap();
        let hold = gate();
        let (started_tx, started_rx) = mpsc::channel();
        let futures: Vec<Future<usize>> = (0..50)
            .map(|i| {
                let (h, tx) = (hold.clone(), started_tx.clone());
                ex.spawn(move || {
                    tx.send(()).unwrap();
                    h.result(None).unwrap();
                    i
                })
                .unwrap()
            })
            .collect();
        for _ in 0..5 {
            started_rx.recv_timeout(LONG).expect("5 tasks start");
        }
        // While the gate is closed, only a cancellation can finish a future.
        let (done_tx, done_rx) = mpsc::channel();
        for f in &futures {
            let tx = done_tx.clone();
            f.add_done_callback(move |_| {
                let _ = tx.send(());
            });
        }
        thread::scope(|s| {
            let shutter = s.spawn(|| ex.shutdown(true, true));
            for i in 0..45 {
                done_rx
                    .recv_timeout(LONG)
                    .unwrap_or_else(|_| panic!("only {i} of 45 queued futures were cancelled"));
            }
            assert!(
                !shutter.is_finished(),
                "shutdown(wait) returned while 5 tasks still ran"
            );
            open(&hold);
            shutter.join().unwrap();
        });
        let cancelled = futures.iter().filter(|f| f.cancelled()).count();
        assert!(cancelled > 20, "only {cancelled} cancelled");
        assert_eq!(cancelled, 45);
        let mut completed = 0;
        for (i, f) in futures.iter().enumerate() {
            if f.cancelled() {
                assert_eq!(f.result(Some(Duration::ZERO)), Err(FutureError::Cancelled));
            } else {
                assert!(f.done());
                assert_eq!(f.exception(Some(Duration::ZERO)), Ok(None));
                assert_eq!(f.result(Some(Duration::ZERO)), Ok(&i));
                completed += 1;
            }
        }
        assert!(completed >= 1);
        assert_eq!(ex.num_threads(), 0);
    });
}

#[test]
fn shutdown_is_idempotent_and_cancel_spares_running_and_finished_tasks() {
    // CPython I16
    let ex = ThreadPoolExecutor::new(1).unwrap();
    let finished = ex.spawn(|| 0).unwrap();
    assert_eq!(finished.result(None), Ok(&0));
    let (hold, running) = occupy(&ex, 1);
    let queued: Vec<_> = (1..4).map(|i| ex.spawn(move || i).unwrap()).collect();

    ex.shutdown(false, true);
    assert!(queued.iter().all(Future::cancelled));
    assert!(running[0].running(), "a running task is not cancelled");
    assert_eq!(finished.result(Some(Duration::ZERO)), Ok(&0));

    ex.shutdown(false, true);
    open(&hold);
    ex.shutdown(true, false);
    assert_eq!(running[0].result(Some(Duration::ZERO)), Ok(&()));
    assert_eq!(ex.num_threads(), 0);
    ex.shutdown(true, true);
    ex.shutdown(false, false);
    assert_eq!(ex.num_threads(), 0);
    assert_eq!(ex.spawn(|| 1).unwrap_err(), SubmitError::Shutdown);
}

#[test]
fn shutdown_with_wait_from_inside_a_task_does_not_deadlock() {
    // CPython I16 (Rust-specific: joining the calling worker would hang)
    within("shutdown(wait) from a task", || {
        let ex = Arc::new(ThreadPoolExecutor::new(2).unwrap());
        let pool = Arc::clone(&ex);
        let f = ex
            .spawn(move || {
                pool.shutdown(true, false);
                pool.spawn(|| ()).map(|_| ())
            })
            .unwrap();
        assert_eq!(f.result(None), Ok(&Err(SubmitError::Shutdown)));
    });
}

#[test]
fn shutdown_with_wait_after_an_in_task_shutdown_still_waits_for_that_worker() {
    // CPython I16, N1: `shutdown(wait=true)` returns only after every non-cancelled task has
    // finished and every worker has exited, even if a task already called shutdown (which
    // cannot join its own thread).
    let ex = Arc::new(ThreadPoolExecutor::new(2).unwrap());
    let pool = Arc::clone(&ex);
    let hold = gate();
    let h = hold.clone();
    let (inner_done_tx, inner_done_rx) = mpsc::channel();
    let f = ex
        .spawn(move || {
            pool.shutdown(true, false);
            inner_done_tx.send(()).unwrap();
            h.result(None).unwrap();
        })
        .unwrap();
    inner_done_rx
        .recv_timeout(LONG)
        .expect("the task shut its pool down");
    let (report_tx, report_rx) = mpsc::channel();
    let outer = Arc::clone(&ex);
    let task = f.clone();
    let shutter = thread::spawn(move || {
        outer.shutdown(true, false);
        report_tx.send((task.done(), outer.num_threads())).unwrap();
    });
    // The task is still blocked on the gate, so a correct shutdown(wait) cannot return yet.
    // Give a wrong early return a moment to show up, then let the task finish.
    let early = report_rx.recv_timeout(Duration::from_millis(100)).ok();
    open(&hold);
    let (task_done, threads) = match early {
        Some(report) => report,
        None => report_rx
            .recv_timeout(LONG)
            .expect("shutdown(wait) returns"),
    };
    shutter.join().unwrap();
    assert!(
        early.is_none() && task_done && threads == 0,
        "the outer shutdown(wait=true) did not wait for the task that had called shutdown: \
         returned before the gate opened: {}, task done when it returned: {task_done}, \
         num_threads() when it returned: {threads}",
        early.is_some()
    );
    assert_eq!(f.result(Some(Duration::ZERO)), Ok(&()));
}

#[test]
fn a_panic_in_the_pools_scope_still_waits_for_its_tasks_and_propagates() {
    // CPython I16 (the context manager's exit waits and does not swallow the exception)
    let slot: Arc<Mutex<Option<Future<u32>>>> = Arc::default();
    let s = Arc::clone(&slot);
    let caught = std::panic::catch_unwind(move || {
        let ex = ThreadPoolExecutor::new(2).unwrap();
        let (hold, _) = occupy(&ex, 2);
        let f = ex.spawn(|| 5).unwrap(); // queued behind two busy workers
        *s.lock().unwrap() = Some(f);
        open(&hold);
        panic!("boom in scope");
    });
    let payload = caught.expect_err("the panic propagates out of the scope");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in scope"));
    let f = slot.lock().unwrap().take().unwrap();
    assert_eq!(f.result(Some(Duration::ZERO)), Ok(&5), "the drop waited");
}

#[test]
fn shutdown_with_wait_completes_every_submit_it_accepted_concurrently() {
    // CPython I1, I16 (race: submits from 4 threads while the pool shuts down)
    for round in 0..stress_iterations(10) {
        let cancel = round % 2 == 1;
        let ex = ThreadPoolExecutor::new(4).unwrap();
        let (first_tx, first_rx) = mpsc::channel();
        let accepted: Vec<Future<usize>> = thread::scope(|s| {
            let submitters: Vec<_> = (0..4)
                .map(|t| {
                    let (ex, first_tx) = (&ex, first_tx.clone());
                    s.spawn(move || {
                        let mut accepted = Vec::new();
                        loop {
                            match ex.spawn(move || t) {
                                Ok(f) => {
                                    if accepted.is_empty() {
                                        first_tx.send(()).unwrap();
                                    }
                                    accepted.push(f);
                                    assert!(accepted.len() < 1_000_000, "shutdown never came");
                                }
                                Err(SubmitError::Shutdown) => break accepted,
                                Err(e) => panic!("unexpected submit error {e:?}"),
                            }
                        }
                    })
                })
                .collect();
            for _ in 0..4 {
                first_rx.recv_timeout(LONG).expect("every submitter got in");
            }
            ex.shutdown(true, cancel);
            assert_eq!(ex.num_threads(), 0);
            submitters
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        // Workers are gone: whatever is not done now never will be.
        for f in &accepted {
            assert!(f.done(), "round {round}: an accepted task was left pending");
            if !(cancel && f.cancelled()) {
                assert!(f.result(Some(Duration::ZERO)).is_ok());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// I8-I11, N1: worker threads exit

#[test]
fn three_blocking_tasks_start_three_threads_and_shutdown_joins_them() {
    // CPython I8, N1
    let (ex, probe) = probed(
        ThreadPoolExecutor::builder()
            .max_workers(5)
            .thread_name_prefix("cfI8"),
    );
    let (hold, _) = occupy(&ex, 3);
    assert_eq!(ex.num_threads(), 3);
    assert_eq!(probe.started(), 3);
    if let Some(n) = os_threads_named("cfI8") {
        assert_eq!(n, 3, "OS threads named cfI8_*");
    }
    open(&hold);
    ex.shutdown(true, false);
    assert_eq!(ex.num_threads(), 0);
    probe.assert_all_exited();
    assert_no_os_threads_named("cfI8");
}

#[test]
fn leaving_the_pools_scope_waits_for_map_and_ends_its_workers() {
    // CPython I9
    let (ex, probe) = probed(
        ThreadPoolExecutor::builder()
            .max_workers(5)
            .thread_name_prefix("cfI9"),
    );
    {
        let ex = ex;
        let got: Vec<i32> = ex
            .map(|x: i32| x.abs(), -5..5)
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]);
    }
    assert!(probe.started() >= 1);
    probe.assert_all_exited();
    assert_no_os_threads_named("cfI9");
}

#[test]
fn dropping_the_pool_keeps_an_unconsumed_map_valid_and_ends_its_workers() {
    // CPython I10
    let (ex, probe) = probed(
        ThreadPoolExecutor::builder()
            .max_workers(5)
            .thread_name_prefix("cfI10"),
    );
    let it = ex.map(|x: i32| x.abs(), -5..5);
    drop(ex);
    probe.assert_all_exited();
    assert_no_os_threads_named("cfI10");
    let got: Vec<i32> = it.map(Result::unwrap).collect();
    assert_eq!(got, [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]);
}

#[test]
fn dropping_the_last_pool_handle_inside_its_own_task_does_not_deadlock() {
    // CPython I10, I16 (Rust-specific: the drop runs on a worker, which must not join itself)
    let (ex, probe) = probed(
        ThreadPoolExecutor::builder()
            .max_workers(2)
            .thread_name_prefix("cfI10b"),
    );
    let ex = Arc::new(ex);
    let hold = gate();
    let (h, pool) = (hold.clone(), Arc::clone(&ex));
    let f = ex
        .spawn(move || {
            h.result(None).unwrap();
            drop(pool); // the last handle by now
            "dropped"
        })
        .unwrap();
    drop(ex);
    open(&hold);
    assert_eq!(f.result(Some(LONG)), Ok(&"dropped"));
    probe.assert_all_exited();
    assert_no_os_threads_named("cfI10b");
}

#[test]
fn shutdown_without_wait_returns_at_once_and_work_still_completes() {
    // CPython I11
    within("shutdown(wait=false)", || {
        let (ex, probe) = probed(
            ThreadPoolExecutor::builder()
                .max_workers(3)
                .thread_name_prefix("cfI11"),
        );
        let hold = gate();
        let h = hold.clone();
        let it = ex.map(
            move |x: i32| {
                h.result(None).unwrap();
                x.abs()
            },
            -5..5,
        );
        // Every task is blocked on the gate: this returns only because it does not wait.
        ex.shutdown(false, false);
        assert_eq!(ex.spawn(|| ()).unwrap_err(), SubmitError::Shutdown);
        open(&hold);
        let got: Vec<i32> = it.map(Result::unwrap).collect();
        assert_eq!(got, [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]);
        eventually("the workers exit on their own", || ex.num_threads() == 0);
        probe.assert_all_exited();
        assert_no_os_threads_named("cfI11");
    });
}

#[test]
fn no_worker_thread_outlives_shutdown_with_wait() {
    // CPython N1
    for _ in 0..stress_iterations(10) {
        let (ex, probe) = probed(
            ThreadPoolExecutor::builder()
                .max_workers(4)
                .thread_name_prefix("cfN1"),
        );
        let (hold, _) = occupy(&ex, 4);
        let rest: Vec<_> = (0..40).map(|i| ex.spawn(move || i).unwrap()).collect();
        open(&hold);
        ex.shutdown(true, false);
        assert_eq!(ex.num_threads(), 0);
        assert!(rest.iter().all(Future::done));
        assert_eq!(probe.started(), 4);
        probe.assert_all_exited();
        assert_no_os_threads_named("cfN1");
    }
}
