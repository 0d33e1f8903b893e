//! The process pool's fault promises, each shown deterministically (the randomized versions are
//! in `chaos.rs`): results are never held back behind the next task; a starting worker killed
//! from outside is replaced; only a startup that always fails breaks the pool; every start and
//! every task sent has a deadline; a peer's frame header costs no memory it did not send.
//!
//! Cross-process synchronization uses FIFOs, never sleeps.
//!
//! The process pool exists on Unix with feature `process-pool` (default).
#![cfg(all(unix, feature = "process-pool"))]

mod common;

use common::process::{own_sockets, Fifo};
use common::{watchdog, HANG, LONG};
use concurrent_futures::{CancelToken, Cancelled, FutureError, ProcessPoolExecutor, RetryPolicy};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

fn double(n: u64) -> u64 {
    n * 2
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

/// Blocks until the test writes to `release` (a FIFO), then returns `n`.
fn wait_for_release((release, n): (String, u64)) -> u64 {
    let mut s = String::new();
    std::fs::File::open(&release)
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    n
}

/// An initializer that tells the test it runs (`started` FIFO), then waits to be killed.
fn init_then_hang(started: String) {
    std::fs::write(&started, b"started").unwrap();
    loop {
        std::thread::park();
    }
}

fn init_exit(_: ()) {
    std::process::exit(7)
}

fn init_hang(_: ()) {
    loop {
        std::thread::park();
    }
}

/// Writes the header of a frame just under the 1 GiB cap on its own socket and never the body,
/// as a broken or hostile worker could, then closes the socket and lingers: the parent reads
/// the header, then the end of the stream.
fn announce_a_huge_frame(_: ()) -> u32 {
    let header = ((1u32 << 30) - 1).to_le_bytes();
    for fd in own_sockets() {
        // SAFETY: writes from a live buffer to an fd this process owns, then closes that fd;
        // nothing in this task uses it afterwards.
        unsafe {
            libc::write(fd, header.as_ptr().cast(), header.len());
            libc::close(fd);
        }
    }
    std::thread::sleep(Duration::from_secs(3600));
    0
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn assert_gone(pid: u32) {
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "worker {pid} is still there (zombie or alive)"
    );
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: plain integers; the pid is an unreaped worker of a live pool.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
}

/// A finished result leaves the worker before it starts the next task: with a short task and a
/// long one sent to the same worker back to back, the short one's result arrives while the long
/// one still runs (it waits for the test, which waits for that result).
#[test]
fn a_result_is_not_held_back_behind_the_next_task() {
    let _dog = watchdog(HANG, "hold-back");
    let pool = ProcessPoolExecutor::new(1).unwrap();
    // Short tasks first, so the pool sends tasks ahead to this worker.
    for i in 0..20 {
        assert_eq!(pool.submit(double, i).unwrap().into_result(), Ok(2 * i));
    }
    for round in 0..common::stress_iterations(13) as u64 {
        let (fifo, _, release) = Fifo::pair("holdback");
        let short = pool.submit(double, round).unwrap();
        let long = pool.submit(wait_for_release, (release, round)).unwrap();
        let more = pool.submit(double, round + 1).unwrap();
        assert_eq!(short.result(Some(LONG)), Ok(&(2 * round)), "round {round}");
        fifo.release();
        assert_eq!(long.into_result(), Ok(round));
        assert_eq!(more.into_result(), Ok(2 * round + 2));
    }
}

/// An outside SIGKILL of a worker during its handshake (an OOM killer, a supervisor) is a death
/// like any other: the worker is replaced and the pool goes on, even before any worker was ever
/// ready.
#[test]
fn a_starting_worker_killed_from_outside_is_replaced() {
    let _dog = watchdog(HANG, "startup kill");
    let (fifo, started, _) = Fifo::pair("startkill");
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .initializer(init_then_hang, started)
        .startup_timeout(LONG)
        .build()
        .unwrap();
    let f = pool.submit(pid, ()).unwrap();
    fifo.wait_started();
    let first = pool.worker_pids()[0];
    signal(first, libc::SIGKILL);
    // The replacement hangs in the initializer too: it is up, and the pool is not broken.
    fifo.wait_started();
    // The first is listed until it is reaped, which does not wait for anything.
    common::eventually("the first worker is reaped", || {
        !pool.worker_pids().contains(&first)
    });
    let second = pool.worker_pids();
    assert_eq!(second.len(), 1);
    assert!(!f.done(), "the task waits for a ready worker: {f:?}");
    pool.kill_workers();
    assert!(f.result(Some(LONG)).is_err());
    drop(pool);
    assert_gone(first);
    assert_gone(second[0]);
}

/// A startup that fails every time (here the initializer exits) breaks the pool after a few
/// tries, as CPython's pool breaks on its initializer, with a message that says why.
#[test]
fn a_startup_that_always_fails_breaks_the_pool() {
    let _dog = watchdog(HANG, "startup always fails");
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(init_exit, ())
        .build()
        .unwrap();
    let err = pool.submit(double, 1).unwrap().into_result().unwrap_err();
    let FutureError::BrokenExecutor(b) = &err else {
        panic!("expected BrokenExecutor, got {err:?}")
    };
    assert!(
        b.message()
            .contains("in a row ended before they were ready"),
        "{b}"
    );
    assert!(b.message().contains("exited with status 7"), "{b}");
    let pids = pool.worker_pids();
    drop(pool);
    pids.into_iter().for_each(assert_gone);
}

/// A worker that is not ready within the startup deadline is killed; an initializer that never
/// returns ends in a clear error, not a hang. Without `startup_timeout`, a `task_timeout`
/// bounds the start as well.
#[test]
fn an_initializer_that_never_returns_ends_in_an_error() {
    let _dog = watchdog(HANG, "hung initializer");
    let short = Duration::from_millis(300);
    for builder in [
        ProcessPoolExecutor::builder().startup_timeout(short),
        ProcessPoolExecutor::builder().task_timeout(short),
    ] {
        let pool = builder
            .max_workers(1)
            .initializer(init_hang, ())
            .build()
            .unwrap();
        let started = Instant::now();
        let err = pool.submit(double, 1).unwrap().into_result().unwrap_err();
        assert!(
            matches!(&err, FutureError::BrokenExecutor(b) if b.message().contains("not ready within 300ms")),
            "{err:?}"
        );
        assert!(started.elapsed() < LONG);
        let pids = pool.worker_pids();
        drop(pool);
        pids.into_iter().for_each(assert_gone);
    }
}

/// A ready worker that stops (SIGSTOP, a debugger) while it holds a task it has not started is
/// replaced after the startup deadline: the task runs on the new worker, once.
#[test]
fn a_stopped_worker_does_not_keep_a_task_it_never_started() {
    let _dog = watchdog(HANG, "stopped idle worker");
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .startup_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let first = *pool.submit(pid, ()).unwrap().result(Some(LONG)).unwrap();
    signal(first, libc::SIGSTOP);
    let second = *pool.submit(pid, ()).unwrap().result(Some(LONG)).unwrap();
    assert_ne!(first, second, "the stopped worker was replaced");
    drop(pool);
    assert_gone(first);
    assert_gone(second);
}

/// Dropping a pool whose idle worker is stopped still ends: a worker told to exit that does
/// not is killed after a grace period.
#[test]
fn dropping_a_pool_with_a_stopped_worker_ends() {
    let _dog = watchdog(HANG, "drop with a stopped worker");
    let pool = ProcessPoolExecutor::new(1).unwrap();
    let worker = *pool.submit(pid, ()).unwrap().result(Some(LONG)).unwrap();
    signal(worker, libc::SIGSTOP);
    let started = Instant::now();
    drop(pool);
    assert!(started.elapsed() < LONG);
    assert_gone(worker);
}

/// Memory follows the bytes: workers that announce frames of almost 1 GiB and send nothing
/// more cost the parent a read chunk each, not the announced size. (Each task fails with its
/// worker's death, after the parent read the header and the end of the stream behind it.)
#[test]
fn a_frame_header_near_the_cap_costs_no_memory() {
    let _dog = watchdog(HANG, "huge frame header");
    let pool = ProcessPoolExecutor::new(2).unwrap();
    pool.start_workers().unwrap();
    let before = peak_rss_kib();
    let futures: Vec<_> = (0..4)
        .map(|_| pool.submit(announce_a_huge_frame, ()).unwrap())
        .collect();
    for f in futures {
        let err = f.into_result().unwrap_err();
        assert!(matches!(err, FutureError::WorkerDied(_)), "{err:?}");
    }
    let grown_kib = peak_rss_kib().saturating_sub(before);
    assert!(
        grown_kib < 64 * 1024,
        "the parent's peak memory grew by {grown_kib} KiB for four frame headers"
    );
}

// ---------------------------------------------------------------------------------------------
// Retries (opt-in)
// ---------------------------------------------------------------------------------------------

/// Appends a line to `log` and returns how many lines it now has: the attempt number.
fn count_attempt(log: &Path) -> usize {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .unwrap();
    f.write_all(b"attempt\n").unwrap();
    attempts_in(log)
}

fn attempts_in(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |s| s.lines().count())
}

/// Aborts on every attempt.
fn poison(log: std::path::PathBuf) -> u32 {
    count_attempt(&log);
    std::process::abort()
}

/// Aborts on its first `crashes` attempts, then succeeds with the attempt number.
fn crashes_first((log, crashes): (std::path::PathBuf, usize)) -> usize {
    let attempt = count_attempt(&log);
    if attempt <= crashes {
        std::process::abort();
    }
    attempt
}

/// Hangs on its first attempt (until the time limit kills it), then succeeds.
fn hangs_first(log: std::path::PathBuf) -> usize {
    let attempt = count_attempt(&log);
    if attempt == 1 {
        loop {
            std::thread::park();
        }
    }
    attempt
}

/// Panics on every attempt: it runs to completion, so it is never retried.
fn panics(log: std::path::PathBuf) -> u32 {
    count_attempt(&log);
    panic!("a panic is a result, not a crash")
}

fn retrying_pool(policy: RetryPolicy) -> ProcessPoolExecutor {
    ProcessPoolExecutor::builder()
        .max_workers(2)
        .retry(policy)
        .build()
        .unwrap()
}

/// A task that kills its worker on every attempt is given up after the policy's attempts,
/// with an error that says what it cost; it ran exactly that often.
#[test]
fn a_poison_task_fails_after_its_attempts_and_says_what_it_cost() {
    let _dog = watchdog(HANG, "retry poison");
    let dir = common::TempDir::new("retry-poison");
    let log = dir.path().join("log");
    let pool = retrying_pool(RetryPolicy::attempts(3));
    let err = pool
        .submit(poison, log.clone())
        .unwrap()
        .into_result()
        .unwrap_err();
    let FutureError::RetriesExhausted { attempts, last } = &err else {
        panic!("expected RetriesExhausted, got {err:?}")
    };
    assert_eq!(*attempts, 3);
    assert!(
        matches!(**last, FutureError::WorkerDied(w) if w.signal == Some(libc::SIGABRT)),
        "{err}"
    );
    assert!(err.to_string().contains("all 3 attempts"), "{err}");
    assert_eq!(attempts_in(&log), 3);
    // The pool is fine: the next task runs.
    assert_eq!(pool.submit(double, 4).unwrap().into_result(), Ok(8));
}

/// A task that crashes now and then is retried to success; without a policy the same task
/// fails on its first crash and runs once.
#[test]
fn a_flaky_task_is_retried_to_success_only_with_a_policy() {
    let _dog = watchdog(HANG, "retry flaky");
    let dir = common::TempDir::new("retry-flaky");
    let log = dir.path().join("with");
    let pool = retrying_pool(RetryPolicy::attempts(3));
    let f = pool.submit(crashes_first, (log.clone(), 2)).unwrap();
    assert_eq!(f.into_result(), Ok(3));
    assert_eq!(attempts_in(&log), 3);

    let log = dir.path().join("without");
    let pool = ProcessPoolExecutor::new(2).unwrap();
    let err = pool
        .submit(crashes_first, (log.clone(), 2))
        .unwrap()
        .into_result()
        .unwrap_err();
    assert!(matches!(err, FutureError::WorkerDied(_)), "{err:?}");
    assert_eq!(attempts_in(&log), 1);
}

/// Task timeouts are retried when the policy says so, and only then.
#[test]
fn task_timeouts_are_retried_when_the_policy_says_so() {
    let _dog = watchdog(HANG, "retry timeout");
    let dir = common::TempDir::new("retry-timeout");
    let limit = Duration::from_millis(300);
    let log = dir.path().join("retried");
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .task_timeout(limit)
        .retry(RetryPolicy::attempts(2))
        .build()
        .unwrap();
    assert_eq!(
        pool.submit(hangs_first, log.clone()).unwrap().into_result(),
        Ok(2)
    );

    let log = dir.path().join("not retried");
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .task_timeout(limit)
        .retry(RetryPolicy::attempts(2).on_task_timeout(false))
        .build()
        .unwrap();
    let err = pool
        .submit(hangs_first, log.clone())
        .unwrap()
        .into_result()
        .unwrap_err();
    assert!(matches!(err, FutureError::TaskTimedOut { .. }), "{err:?}");
    assert_eq!(attempts_in(&log), 1);
}

/// A task that ran to completion is never retried, even if what it returned is a panic.
#[test]
fn a_task_that_ran_to_completion_is_never_retried() {
    let _dog = watchdog(HANG, "retry completion");
    let dir = common::TempDir::new("retry-panic");
    let log = dir.path().join("log");
    let pool = retrying_pool(RetryPolicy::attempts(3));
    let err = pool
        .submit(panics, log.clone())
        .unwrap()
        .into_result()
        .unwrap_err();
    assert!(err.panic_message().is_some(), "{err:?}");
    assert_eq!(attempts_in(&log), 1);
}

/// `kill_workers` ends tasks on purpose: they are not retried.
#[test]
fn killing_the_workers_on_purpose_retries_nothing() {
    let _dog = watchdog(HANG, "retry kill_workers");
    let (fifo, started, release) = Fifo::pair("retrykill");
    let pool = retrying_pool(RetryPolicy::attempts(3));
    let f = pool
        .submit(common::process::started_then_wait, (started, release))
        .unwrap();
    fifo.wait_started();
    pool.kill_workers();
    let err = f.into_result().unwrap_err();
    assert!(matches!(err, FutureError::WorkerDied(_)), "{err:?}");
}

#[test]
fn a_retry_policy_of_zero_attempts_is_rejected() {
    let err = ProcessPoolExecutor::builder()
        .retry(RetryPolicy::attempts(0))
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "a retry policy needs at least 1 attempt");
}

/// A `map` can bring its own retry policy, over the pool's (here the pool has none): each item
/// crashes on its first attempt and succeeds on its second. A chunk is one task, so its
/// attempts cover all of its items (a chunk of 3 such items needs 4), and a retried chunk runs
/// again the items before the crash, whose results died with the worker.
#[test]
fn a_map_retries_its_items_with_its_own_policy() {
    let _dog = watchdog(HANG, "map retry");
    let dir = common::TempDir::new("retry-map");
    let pool = ProcessPoolExecutor::new(2).unwrap();
    for chunksize in [1, 3] {
        let items: Vec<_> = (0..6)
            .map(|i| (dir.path().join(format!("c{chunksize}-{i}")), 1))
            .collect();
        let options = concurrent_futures::MapOptions::new()
            .chunksize(chunksize)
            .retry(RetryPolicy::attempts(chunksize as u32 + 1));
        let results: Vec<_> = pool
            .map_with(crashes_first, items, options)
            .unwrap()
            .collect();
        // Each item's value is the attempt it succeeded on: the second of its own, or later
        // when an item after it in its chunk crashed and the whole chunk ran again.
        assert!(
            results.iter().all(|r| matches!(r, Ok(n) if *n >= 2)),
            "chunksize {chunksize}: {results:?}"
        );
        if chunksize == 1 {
            assert_eq!(results, vec![Ok(2); 6]);
        }
    }
    // The pool's own default is untouched: without the map's policy a crash fails the item.
    let log = dir.path().join("plain");
    let err = pool
        .map(crashes_first, [(log, 1)])
        .next()
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, FutureError::WorkerDied(_)), "{err:?}");
}

/// Signals `started`, waits for `release`, then aborts; a later attempt returns at once.
fn crash_once_released(
    (log, started, release): (std::path::PathBuf, String, String),
) -> Result<usize, Cancelled> {
    let attempt = count_attempt(&log);
    if attempt == 1 {
        std::fs::write(&started, b"started").unwrap();
        let mut s = String::new();
        std::fs::File::open(&release)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        std::process::abort();
    }
    Ok(attempt)
}

/// A task asked to stop through its token is never retried: when its worker dies during the
/// grace period (here the task crashes after the request), it ends as cancelled, and ran once,
/// whatever the retry policy.
#[test]
fn a_task_whose_token_was_cancelled_is_never_retried() {
    let _dog = watchdog(HANG, "cancelled then crashed");
    let dir = common::TempDir::new("retry-cancelled");
    let log = dir.path().join("log");
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .retry(RetryPolicy::attempts(3))
        .cancel_grace(Duration::from_secs(3600))
        .build()
        .unwrap();
    let (fifo, started, release) = Fifo::pair("retry-cancelled");
    let token = CancelToken::new();
    let f = pool
        .submit_cancellable(&token, crash_once_released, (log.clone(), started, release))
        .unwrap();
    fifo.wait_started();
    token.cancel();
    fifo.release();
    assert_eq!(f.result(Some(LONG)), Err(FutureError::Cancelled));
    drop(pool);
    assert_eq!(attempts_in(&log), 1);
}

/// Appends `id` to `log`.
fn log_id((log, id): (std::path::PathBuf, u64)) -> u64 {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .unwrap();
    writeln!(f, "{id}").unwrap();
    id
}

/// Writes bytes that are not a frame onto its own worker socket, then returns.
fn write_garbage(_: ()) -> u64 {
    let garbage = [5u8, 0, 0, 0, 200, 1, 2, 3, 4];
    for fd in own_sockets() {
        // SAFETY: writes from a live buffer to an fd this process owns.
        unsafe { libc::write(fd, garbage.as_ptr().cast(), garbage.len()) };
    }
    0
}

/// Short tasks sent ahead to a worker that then corrupts its stream may have started before
/// the parent read the garbage (their `Started` is among the unreadable bytes): none of them
/// runs again, each either finishes or fails with the protocol error. Repeated, as the order
/// of the garbage and the next task's start is a race.
#[test]
fn tasks_sent_ahead_of_a_corrupted_stream_never_run_twice() {
    let _dog = watchdog(HANG, "garbage with tasks sent ahead");
    let dir = common::TempDir::new("garbage-ahead");
    let pool = ProcessPoolExecutor::new(1).unwrap();
    let mut lost = 0;
    for round in 0..common::stress_iterations(13) {
        let log = dir.path().join(format!("log-{round}"));
        // Short tasks first, so the worker is sent its next task ahead.
        let warm: Vec<_> = (0..20)
            .map(|i| pool.submit(log_id, (log.clone(), i)).unwrap())
            .collect();
        let corrupt = pool.submit(write_garbage, ()).unwrap();
        let after: Vec<_> = (100..120)
            .map(|i| pool.submit(log_id, (log.clone(), i)).unwrap())
            .collect();
        assert!(matches!(
            corrupt.result(Some(LONG)),
            Err(FutureError::Protocol(_))
        ));
        for f in warm.iter().chain(&after) {
            match f.result(Some(LONG)) {
                Ok(_) => {}
                Err(FutureError::Protocol(m)) if m.contains("whether the task started") => {
                    lost += 1
                }
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
        let text = std::fs::read_to_string(&log).unwrap();
        let mut seen = std::collections::HashSet::new();
        for id in text.lines() {
            assert!(
                seen.insert(id.to_owned()),
                "round {round}: task {id} ran twice"
            );
        }
    }
    eprintln!("tasks failed because the stream broke before their start was known: {lost}");
}
