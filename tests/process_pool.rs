//! ProcessPoolExecutor: results, failures that stay with their task, recycling, time limits,
//! shutdown and forced shutdown, and futures mixed with the thread pool's.
//!
//! Cites areas E, F, I, K, L and M of CPython's catalog, `tests/CPYTHON.md`. Cross-process
//! synchronization uses FIFOs (opening one blocks until the other side opens it), never sleeps.
//! Every test checks that the workers it started were reaped (no zombie, no orphan).
//!
//! Skipped, with reasons: L1 (Windows cap), L11 (`mp_context`), L17 (Python internals),
//! M6/M9/M12 (`SystemExit` is a Python exception; a Rust panic is M7), E4 (Python GC).
//!
//! The process pool exists on Unix with feature `process-pool` (default).
#![cfg(all(unix, feature = "process-pool"))]

mod common;

use common::process::{own_sockets, started_then_wait, Fifo};
use common::{watchdog, HANG, LONG};
use concurrent_futures::{
    as_completed, wait, Executor, FutureError, MapOptions, ProcessPoolError, ProcessPoolExecutor,
    ReturnWhen, SubmitError, ThreadPoolExecutor,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Task functions (plain `fn`s: they run in the worker processes)
// ---------------------------------------------------------------------------------------------

fn double(n: u64) -> u64 {
    n * 2
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

fn mul((a, b): (i64, i64)) -> i64 {
    a * b
}

fn panics_on_three(n: u32) -> u32 {
    if n == 3 {
        panic!("three is bad");
    }
    n
}

fn exit_with(code: i32) -> u32 {
    std::process::exit(code)
}

fn abort(_: ()) -> u32 {
    std::process::abort()
}

fn segfault(_: ()) -> u32 {
    // SAFETY: none: this raises the signal a wild write would, to show a crash in native code
    // fails only its own task.
    unsafe {
        libc::raise(libc::SIGSEGV);
    }
    unreachable!("SIGSEGV ends the process")
}

fn sleep_forever(_: ()) -> u32 {
    std::thread::sleep(Duration::from_secs(3600));
    0
}

fn big_then_abort(data: Vec<u8>) -> usize {
    if data.len() > 1000 {
        std::process::abort();
    }
    data.len()
}

/// Writes garbage onto its own worker socket, as a corrupted worker would.
fn corrupt_the_stream(_: ()) -> u32 {
    for fd in own_sockets() {
        let garbage = [5u8, 0, 0, 0, 200, 1, 2, 3, 4];
        // SAFETY: writes from a live buffer to an fd this process owns.
        unsafe { libc::write(fd, garbage.as_ptr().cast(), garbage.len()) };
    }
    7
}

/// Closes its own worker socket and lives on, as a task that closes descriptors it does not own.
fn close_the_stream_and_linger(_: ()) -> u32 {
    for fd in own_sockets() {
        // SAFETY: closes an fd of this process; nothing in this task uses it afterwards.
        unsafe { libc::close(fd) };
    }
    std::thread::sleep(Duration::from_secs(3600));
    0
}

fn read_env(name: String) -> Option<String> {
    std::env::var(name).ok()
}

fn set_env((name, value): (String, String)) {
    std::env::set_var(name, value);
}

fn unset_env(name: String) {
    std::env::remove_var(name);
}

fn failing_init(_: ()) {
    panic!("error in initializer");
}

/// Serializes fine in one direction only, to put a serde failure at each step.
#[derive(Debug, Clone)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "Unencodable refuses to serialize",
        ))
    }
}

impl<'de> Deserialize<'de> for Unencodable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let _ = u8::deserialize(d)?;
        Ok(Unencodable)
    }
}

/// Encodes, but never decodes.
#[derive(Debug, Clone)]
struct Undecodable;

impl Serialize for Undecodable {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(1)
    }
}

impl<'de> Deserialize<'de> for Undecodable {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "Undecodable refuses to deserialize",
        ))
    }
}

/// Ends the worker process from inside serde: `exit(5)` when decoded, `abort()` when encoded.
#[derive(Debug, Clone)]
struct Lethal;

impl Serialize for Lethal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if std::env::var_os("CF_IN_PARENT").is_none() {
            std::process::abort();
        }
        s.serialize_u8(0)
    }
}

impl<'de> Deserialize<'de> for Lethal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let _ = u8::deserialize(d)?;
        std::process::exit(5)
    }
}

fn take_lethal(_: Lethal) -> u32 {
    1
}

fn make_lethal(_: ()) -> Lethal {
    Lethal
}

fn make_unencodable(_: ()) -> Unencodable {
    Unencodable
}

fn make_undecodable(_: ()) -> Undecodable {
    Undecodable
}

fn take_undecodable(_: Undecodable) -> u32 {
    1
}

fn take_unencodable(_: Unencodable) -> u32 {
    1
}

fn items_some_unencodable(n: u32) -> Result<u32, Unencodable> {
    if n % 2 == 0 {
        Ok(n)
    } else {
        Err(Unencodable)
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// No process with these pids exists any more: reaped, not zombies, not orphans.
fn assert_reaped(pids: &[u32]) {
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} is still there (zombie or alive)"
        );
    }
}

/// Runs `body` with a pool, then drops the pool and checks every worker it ever had is gone.
fn with_pool(pool: ProcessPoolExecutor, body: impl FnOnce(&ProcessPoolExecutor, &mut Vec<u32>)) {
    let _dog = watchdog(HANG, "process pool test");
    let mut seen = Vec::new();
    body(&pool, &mut seen);
    seen.extend(pool.worker_pids());
    drop(pool);
    assert_reaped(&seen);
}

fn pool(n: usize) -> ProcessPoolExecutor {
    ProcessPoolExecutor::new(n).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Results and the Executor trait
// ---------------------------------------------------------------------------------------------

#[test]
fn submit_runs_the_function_in_another_process() {
    with_pool(pool(2), |p, seen| {
        let f = p.submit(pid, ()).unwrap();
        let worker = *f.result(Some(LONG)).unwrap();
        assert_ne!(worker, std::process::id());
        seen.push(worker);
        assert_eq!(p.submit(double, 21).unwrap().into_result(), Ok(42));
    });
}

/// The pool keeps no counted handle: the caller's only handle takes the value the moment it is
/// set, never `FutureError::Shared` (the manager still holds the task then).
#[test]
fn into_result_moves_the_value_out_as_soon_as_it_is_set() {
    with_pool(pool(2), |p, _| {
        for i in 0..common::stress_iterations(1) as u64 * 2000 {
            assert_eq!(p.submit(double, i).unwrap().into_result(), Ok(2 * i));
        }
    });
}

/// The book's one-line switch: the same generic function over either pool.
#[test]
fn the_same_generic_code_runs_on_threads_and_processes() {
    fn products(ex: &impl Executor) -> Vec<i64> {
        ex.map(mul, (0..6).map(|i| (i, i)))
            .map(Result::unwrap)
            .collect()
    }
    let threads = ThreadPoolExecutor::new(2).unwrap();
    with_pool(pool(2), |p, _| {
        assert_eq!(products(p), products(&threads));
        assert_eq!(products(p), [0, 1, 4, 9, 16, 25]);
    });
}

fn cell_of(n: u32) -> std::cell::Cell<u32> {
    std::cell::Cell::new(n)
}

/// A result that is `Send` but not `Sync` (a `Cell` is a serde `Payload`) comes back from a
/// worker process through `submit` and `map`.
#[test]
fn a_send_only_result_comes_back_from_a_worker_process() {
    with_pool(pool(2), |p, _| {
        assert_eq!(
            p.submit(cell_of, 7).unwrap().into_result().unwrap().get(),
            7
        );
        let cells: Vec<u32> = p.map(cell_of, 0..4).map(|c| c.unwrap().get()).collect();
        assert_eq!(cells, [0, 1, 2, 3]);
    });
}

/// F1/F7: map keeps input order; an error yields at its position and iteration goes on.
#[test]
fn map_yields_in_order_with_errors_in_place() {
    with_pool(pool(2), |p, _| {
        let out: Vec<_> = p.map(panics_on_three, 0..6).collect();
        assert_eq!(out[..3], [Ok(0), Ok(1), Ok(2)]);
        let err = out[3].as_ref().unwrap_err();
        assert_eq!(err.panic_message(), Some("three is bad"));
        assert_eq!(out[4..], [Ok(4), Ok(5)]);
    });
}

/// Chunks carry many items; each item is still caught on its own.
#[test]
fn chunked_map_matches_unchunked_and_isolates_item_panics() {
    with_pool(pool(2), |p, _| {
        for chunksize in [1, 2, 3, 7, 100] {
            let out: Vec<_> = p
                .map_with(
                    panics_on_three,
                    0..20,
                    MapOptions::new().chunksize(chunksize),
                )
                .unwrap()
                .collect();
            assert_eq!(out.len(), 20);
            for (i, r) in out.iter().enumerate() {
                if i == 3 {
                    assert_eq!(
                        r.as_ref().unwrap_err().panic_message(),
                        Some("three is bad")
                    );
                } else {
                    assert_eq!(*r, Ok(i as u32), "chunksize {chunksize}");
                }
            }
        }
    });
}

/// F15: buffersize bounds the tasks in flight and works with infinite input.
#[test]
fn buffersize_pulls_lazily_from_infinite_input() {
    with_pool(pool(2), |p, _| {
        for opts in [
            MapOptions::new().buffersize(2),
            MapOptions::new().buffersize(2).chunksize(3),
        ] {
            let first: Vec<u64> = p
                .map_with(double, 0.., opts)
                .unwrap()
                .take(10)
                .map(Result::unwrap)
                .collect();
            assert_eq!(first, (0..10).map(|n| n * 2).collect::<Vec<_>>());
        }
    });
}

/// F4-style: the map deadline counts from the call; the late item yields Timeout.
#[test]
fn map_timeout_yields_timeout_for_the_late_item() {
    with_pool(pool(1), |p, _| {
        let mut it = p
            .map_with(
                sleep_forever,
                [()],
                MapOptions::new().timeout(Duration::from_millis(50)),
            )
            .unwrap();
        assert_eq!(it.next(), Some(Err(FutureError::Timeout)));
        // The running task is not cancelled; kill it so the drop does not wait an hour.
        p.kill_workers();
    });
}

#[test]
fn invalid_options_are_errors() {
    assert!(matches!(
        ProcessPoolExecutor::new(0),
        Err(ProcessPoolError::InvalidArgument(_))
    ));
    let err = ProcessPoolExecutor::builder()
        .max_tasks_per_child(0)
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "max_tasks_per_child must be >= 1");
    with_pool(pool(1), |p, _| {
        assert!(p
            .map_with(double, [1], MapOptions::new().chunksize(0))
            .is_err());
        assert!(p
            .map_with(double, [1], MapOptions::new().buffersize(0))
            .is_err());
    });
}

/// L2: the default is the number of CPUs.
#[test]
fn default_max_workers_is_the_cpu_count() {
    let p = ProcessPoolExecutor::builder().build().unwrap();
    assert_eq!(p.max_workers(), num_cpus::get());
}

// ---------------------------------------------------------------------------------------------
// Workers: on demand, reused, recycled
// ---------------------------------------------------------------------------------------------

/// L8: sequential tasks reuse one idle worker.
#[test]
fn idle_worker_is_reused() {
    with_pool(pool(3), |p, _| {
        let pids: HashSet<u32> = (0..3)
            .map(|_| *p.submit(pid, ()).unwrap().result(Some(LONG)).unwrap())
            .collect();
        assert_eq!(pids.len(), 1);
    });
}

/// L7/I12: saturating the pool starts exactly max_workers processes, never more.
#[test]
fn saturation_starts_max_workers_processes_and_no_more() {
    with_pool(pool(2), |p, seen| {
        let fifos: Vec<_> = (0..2).map(|i| Fifo::pair(&format!("sat{i}"))).collect();
        let blocked: Vec<_> = fifos
            .iter()
            .map(|(_, s, r)| p.submit(started_then_wait, (s.clone(), r.clone())).unwrap())
            .collect();
        let extra: Vec<_> = (0..28).map(|i| p.submit(double, i).unwrap()).collect();
        for (fifo, _, _) in &fifos {
            fifo.wait_started();
        }
        assert_eq!(p.worker_pids().len(), 2);
        seen.extend(p.worker_pids());
        for (fifo, _, _) in &fifos {
            fifo.release();
        }
        for f in blocked.iter() {
            f.result(Some(LONG)).unwrap();
        }
        for (i, f) in extra.iter().enumerate() {
            assert_eq!(*f.result(Some(LONG)).unwrap(), 2 * i as u64);
        }
        assert_eq!(p.worker_pids().len(), 2);
    });
}

/// L10: with max_tasks_per_child=3, tasks 1-3 share a pid and task 4 gets a new one.
#[test]
fn max_tasks_per_child_replaces_the_worker_after_its_budget() {
    let p = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_tasks_per_child(3)
        .build()
        .unwrap();
    with_pool(p, |p, seen| {
        let pids: Vec<u32> = (0..4)
            .map(|_| *p.submit(pid, ()).unwrap().result(Some(LONG)).unwrap())
            .collect();
        assert_eq!(pids[0], pids[1]);
        assert_eq!(pids[1], pids[2]);
        assert_ne!(pids[2], pids[3]);
        assert!(p.worker_pids().len() <= 1);
        seen.extend(pids);
    });
}

/// L14 (cpython#115634): a backlog plus retiring workers never hangs.
#[test]
fn recycling_with_a_backlog_completes_every_task() {
    for (workers, budget, n) in [(1, 2, 6), (2, 2, 8), (2, 1, 10)] {
        let p = ProcessPoolExecutor::builder()
            .max_workers(workers)
            .max_tasks_per_child(budget)
            .build()
            .unwrap();
        with_pool(p, |p, seen| {
            let fs: Vec<_> = (0..n).map(|_| p.submit(pid, ()).unwrap()).collect();
            let pids: HashSet<u32> = fs.iter().map(|f| *f.result(Some(LONG)).unwrap()).collect();
            assert!(pids.len() >= n / budget, "{pids:?}");
            seen.extend(pids);
        });
    }
}

/// L13/L15: workers are replaced even while shutting down; shutdown(wait=false) with a
/// backlog still completes it.
#[test]
fn recycling_continues_through_shutdown() {
    let p = ProcessPoolExecutor::builder()
        .max_workers(3)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    with_pool(p, |p, _| {
        let fs: Vec<_> = (0..6).map(|i| p.submit(mul, (i, i)).unwrap()).collect();
        p.shutdown(false, false);
        let out: Vec<i64> = fs.iter().map(|f| *f.result(Some(LONG)).unwrap()).collect();
        assert_eq!(out, [0, 1, 4, 9, 16, 25]);
    });
}

/// K1: the initializer runs in every worker before its tasks.
#[test]
fn initializer_runs_before_tasks() {
    let p = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(set_env, ("CF_INIT".to_string(), "initialized".to_string()))
        .build()
        .unwrap();
    with_pool(p, |p, _| {
        let fs: Vec<_> = (0..4)
            .map(|_| p.submit(read_env, "CF_INIT".to_string()).unwrap())
            .collect();
        for f in fs {
            assert_eq!(f.into_result(), Ok(Some("initialized".to_string())));
        }
    });
}

/// K2: a failing initializer breaks the pool: the future fails, later submits are refused.
#[test]
fn failing_initializer_breaks_the_pool() {
    let p = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(failing_init, ())
        .build()
        .unwrap();
    with_pool(p, |p, _| {
        let err = p.submit(double, 1).unwrap().into_result().unwrap_err();
        let FutureError::BrokenExecutor(b) = err else {
            panic!("expected BrokenExecutor, got {err:?}")
        };
        assert!(b.message().contains("error in initializer"), "{b}");
        common::eventually("the pool refuses work", || {
            matches!(p.submit(double, 1), Err(SubmitError::Broken(_)))
        });
    });
}

// ---------------------------------------------------------------------------------------------
// Failures stay with their task
// ---------------------------------------------------------------------------------------------

/// M7/E5: a panic is that future's error with message and location; the worker lives on.
#[test]
fn panic_fails_only_its_future_and_the_worker_survives() {
    with_pool(pool(1), |p, _| {
        let before = *p.submit(pid, ()).unwrap().result(Some(LONG)).unwrap();
        let err = p
            .submit(panics_on_three, 3)
            .unwrap()
            .into_result()
            .unwrap_err();
        let FutureError::Panicked { message, location } = err else {
            panic!("expected a panic")
        };
        assert_eq!(message, "three is bad");
        assert!(location.unwrap().file.ends_with("process_pool.rs"));
        let after = *p.submit(pid, ()).unwrap().result(Some(LONG)).unwrap();
        assert_eq!(before, after, "the same worker ran the next task");
    });
}

fn assert_died(err: FutureError, code: Option<i32>, signal: Option<i32>) {
    let FutureError::WorkerDied(exit) = &err else {
        panic!("expected WorkerDied, got {err:?}")
    };
    assert_eq!((exit.code, exit.signal), (code, signal), "{err}");
}

/// L5/L6/M5 (here: only that task fails): exit, abort and a segfault each fail their own
/// task, naming the exit code or signal, and the pool goes on with a new worker.
#[test]
fn a_dying_worker_fails_only_its_task_and_is_replaced() {
    with_pool(pool(2), |p, seen| {
        let first = *p.submit(pid, ()).unwrap().result(Some(LONG)).unwrap();
        seen.push(first);
        let err = p.submit(exit_with, 99).unwrap().into_result().unwrap_err();
        assert!(err.to_string().contains("exited with status 99"), "{err}");
        assert_died(err, Some(99), None);
        let err = p.submit(abort, ()).unwrap().into_result().unwrap_err();
        assert!(err.to_string().contains("SIGABRT"), "{err}");
        assert_died(err, None, Some(libc::SIGABRT));
        assert_died(
            p.submit(segfault, ()).unwrap().into_result().unwrap_err(),
            None,
            Some(libc::SIGSEGV),
        );
        // Neighbours queued behind the crash still run, on replacements.
        let fs: Vec<_> = (0..20).map(|i| p.submit(double, i).unwrap()).collect();
        for (i, f) in fs.into_iter().enumerate() {
            assert_eq!(f.into_result(), Ok(2 * i as u64));
        }
        seen.extend(p.worker_pids());
    });
}

/// L3 (here: only that task fails): a worker killed from outside fails its running task with
/// the signal.
#[test]
fn sigkill_from_outside_fails_the_running_task() {
    with_pool(pool(1), |p, seen| {
        let (fifo, s, r) = Fifo::pair("kill");
        let f = p.submit(started_then_wait, (s, r)).unwrap();
        let queued = p.submit(double, 5).unwrap();
        fifo.wait_started();
        let victim = p.worker_pids()[0];
        seen.push(victim);
        // SAFETY: plain syscall on our own child's pid.
        unsafe { libc::kill(victim as i32, libc::SIGKILL) };
        assert_died(f.into_result().unwrap_err(), None, Some(libc::SIGKILL));
        // The task queued behind it had not started: it runs on the replacement.
        assert_eq!(queued.into_result(), Ok(10));
    });
}

/// The strict mode is CPython's L3/L4: the first death breaks the pool.
#[test]
fn strict_mode_breaks_the_pool_on_a_death() {
    let p = ProcessPoolExecutor::builder()
        .max_workers(1)
        .break_on_worker_death(true)
        .build()
        .unwrap();
    with_pool(p, |p, _| {
        let dead = p.submit(exit_with, 1).unwrap();
        let behind = p.submit(double, 1).unwrap();
        let err = dead.into_result().unwrap_err();
        let FutureError::BrokenExecutor(b) = &err else {
            panic!("expected BrokenExecutor, got {err:?}")
        };
        assert!(b.message().contains("terminated abruptly"), "{b}");
        assert!(b.message().contains("exited with status 1"), "{b}");
        assert!(matches!(
            behind.into_result(),
            Err(FutureError::BrokenExecutor(_))
        ));
        assert!(matches!(p.submit(double, 1), Err(SubmitError::Broken(_))));
        // L6: forced shutdown of a broken pool is harmless.
        p.terminate_workers();
        p.kill_workers();
    });
}

/// The per-task time limit kills the worker and fails only that task.
#[test]
fn task_timeout_kills_and_replaces_the_worker() {
    let p = ProcessPoolExecutor::builder()
        .max_workers(1)
        // Long enough that a replacement worker slowed by a loaded machine still answers `next`
        // in time (the limit applies to every task).
        .task_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    with_pool(p, |p, seen| {
        let slow = p.submit(sleep_forever, ()).unwrap();
        let next = p.submit(pid, ()).unwrap();
        let started = Instant::now();
        let err = slow.into_result().unwrap_err();
        assert!(
            matches!(err, FutureError::TaskTimedOut { limit, .. } if limit == Duration::from_secs(1)),
            "{err:?}"
        );
        assert!(started.elapsed() < LONG);
        seen.push(*next.result(Some(LONG)).unwrap());
    });
}

/// A worker that writes garbage on its socket: a typed protocol error, never a parent panic.
#[test]
fn malformed_frames_from_a_worker_are_a_typed_error() {
    with_pool(pool(1), |p, _| {
        let err = p
            .submit(corrupt_the_stream, ())
            .unwrap()
            .into_result()
            .unwrap_err();
        assert!(
            matches!(&err, FutureError::Protocol(m) if m.contains("unknown frame tag 200")),
            "{err:?}"
        );
        assert_eq!(p.submit(double, 4).unwrap().into_result(), Ok(8));
    });
}

/// A worker that closes its socket but stays alive cannot serve: the pool kills it (after a
/// short grace) instead of waiting for it forever, and fails only its task.
#[test]
fn a_worker_that_closes_its_socket_is_killed_not_waited_for() {
    with_pool(pool(1), |p, _| {
        let started = Instant::now();
        let err = p
            .submit(close_the_stream_and_linger, ())
            .unwrap()
            .into_result();
        assert_died(err.unwrap_err(), None, Some(libc::SIGKILL));
        assert!(started.elapsed() < LONG);
        assert_eq!(p.submit(double, 5).unwrap().into_result(), Ok(10));
    });
}

/// M1/M3/M10/M11: every serde failure fails its own future with a Serialization error, and
/// the pool stays usable.
#[test]
fn serialization_failures_fail_only_their_future() {
    with_pool(pool(1), |p, _| {
        // M1: the argument does not encode in the parent.
        let err = p
            .submit(take_unencodable, Unencodable)
            .unwrap()
            .into_result();
        assert!(
            matches!(&err, Err(FutureError::Serialization(m)) if m.contains("cannot encode the argument (process_pool::Unencodable)")),
            "{err:?}"
        );
        // M3: the argument does not decode in the worker.
        let err = p
            .submit(take_undecodable, Undecodable)
            .unwrap()
            .into_result();
        assert!(
            matches!(&err, Err(FutureError::Serialization(m)) if m.contains("decode the argument")),
            "{err:?}"
        );
        // M10: the result does not encode in the worker.
        let err = p.submit(make_unencodable, ()).unwrap().into_result();
        assert!(
            matches!(&err, Err(FutureError::Serialization(m)) if m.contains("encode the result")),
            "{err:?}"
        );
        // M11: the result does not decode in the parent.
        let err = p.submit(make_undecodable, ()).unwrap().into_result();
        assert!(
            matches!(&err, Err(FutureError::Serialization(m)) if m.contains("decode the task's result")),
            "{err:?}"
        );
        assert_eq!(p.submit(double, 3).unwrap().into_result(), Ok(6));
        // In a chunk, only the items whose results do not encode fail.
        let out: Vec<_> = p
            .map_with(items_some_unencodable, 0..6, MapOptions::new().chunksize(6))
            .unwrap()
            .collect();
        for (i, r) in out.iter().enumerate() {
            if i % 2 == 0 {
                assert_eq!(r.as_ref().unwrap().as_ref().ok(), Some(&(i as u32)));
            } else {
                assert!(matches!(r, Err(FutureError::Serialization(_))), "{r:?}");
            }
        }
    });
}

/// M2/M4/M8: the worker dies while decoding the argument or encoding the result: that task
/// fails with the exit status or signal, and the pool goes on.
#[test]
fn a_worker_dying_inside_serde_fails_only_that_task() {
    // The parent encodes `Lethal` arguments; only workers (which lack this variable) abort.
    std::env::set_var("CF_IN_PARENT", "1");
    let p = ProcessPoolExecutor::builder()
        .max_workers(1)
        .initializer(unset_env, "CF_IN_PARENT".to_string())
        .build()
        .unwrap();
    with_pool(p, |p, _| {
        assert_died(
            p.submit(take_lethal, Lethal)
                .unwrap()
                .into_result()
                .unwrap_err(),
            Some(5),
            None,
        );
        assert_died(
            p.submit(make_lethal, ())
                .unwrap()
                .into_result()
                .unwrap_err(),
            None,
            Some(libc::SIGABRT),
        );
        assert_eq!(p.submit(double, 2).unwrap().into_result(), Ok(4));
    });
}

/// F17 (cpython#94777): a crash while a large argument is in the pipe fails that task, no
/// deadlock; a chunk that crashes fails every item of the chunk.
#[test]
fn crash_with_large_data_in_flight_does_not_hang() {
    with_pool(pool(2), |p, _| {
        let big = vec![7u8; 1 << 20];
        let out: Vec<_> = p
            .map(big_then_abort, vec![big.clone(), vec![1], big])
            .collect();
        assert!(matches!(out[0], Err(FutureError::WorkerDied(_))));
        assert_eq!(out[1], Ok(1));
        assert!(matches!(out[2], Err(FutureError::WorkerDied(_))));
        let chunked: Vec<_> = p
            .map_with(
                big_then_abort,
                vec![vec![1], vec![2; 2000], vec![3]],
                MapOptions::new().chunksize(3),
            )
            .unwrap()
            .collect();
        assert!(chunked
            .iter()
            .all(|r| matches!(r, Err(FutureError::WorkerDied(_)))));
    });
}

// ---------------------------------------------------------------------------------------------
// Scale: 100k pending tasks, constant descriptors
// ---------------------------------------------------------------------------------------------

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// procspawn fails with "Too many open files" at 20k pending tasks; here the descriptors do
/// not grow with the backlog.
#[test]
fn hundred_thousand_pending_tasks_use_constant_descriptors() {
    let n = common::stress_iterations(1) * 100_000;
    with_pool(pool(2), |p, _| {
        p.submit(double, 0).unwrap().result(Some(LONG)).unwrap();
        let fds_before = open_fds();
        let fs: Vec<_> = (0..n as u64)
            .map(|i| p.submit(double, i).unwrap())
            .collect();
        let fds_loaded = open_fds();
        for (i, f) in fs.iter().enumerate() {
            assert_eq!(*f.result(Some(LONG)).unwrap(), 2 * i as u64);
        }
        // Other tests in this binary open descriptors too: allow their noise, not 100k.
        assert!(
            fds_loaded < fds_before + 64,
            "{fds_before} -> {fds_loaded} descriptors"
        );
    });
}

/// F18 (cpython#105829): a burst before any worker is warm completes.
#[test]
fn a_cold_burst_completes() {
    with_pool(pool(2), |p, _| {
        let out: Vec<u64> = p.map(double, 0..100).map(Result::unwrap).collect();
        assert_eq!(out.len(), 100);
        assert_eq!(out[99], 198);
    });
}

// ---------------------------------------------------------------------------------------------
// Cancel, shutdown, forced shutdown
// ---------------------------------------------------------------------------------------------

/// D/E: queued tasks beyond the dispatch window stay cancellable; dispatched ones do not.
#[test]
fn queued_tasks_can_be_cancelled_until_dispatched() {
    with_pool(pool(1), |p, _| {
        let (fifo, s, r) = Fifo::pair("cancel");
        let blocker = p.submit(started_then_wait, (s, r)).unwrap();
        fifo.wait_started();
        let queued: Vec<_> = (0..10).map(|i| p.submit(double, i).unwrap()).collect();
        // One more may already be on its way to the worker (two per worker, window 2).
        let cancelled = queued.iter().filter(|f| f.cancel()).count();
        assert!(cancelled >= 8, "{cancelled} of 10 cancelled");
        fifo.release();
        blocker.result(Some(LONG)).unwrap();
        for f in &queued {
            assert!(f.cancelled() || f.result(Some(LONG)).is_ok());
        }
    });
}

/// I16: cancel_futures cancels only what is queued; running tasks finish.
#[test]
fn shutdown_cancel_futures_cancels_only_queued_tasks() {
    with_pool(pool(1), |p, _| {
        let (fifo, s, r) = Fifo::pair("shutdown");
        let running = p.submit(started_then_wait, (s, r)).unwrap();
        fifo.wait_started();
        let queued: Vec<_> = (0..10).map(|i| p.submit(double, i).unwrap()).collect();
        p.shutdown(false, true);
        assert_eq!(p.submit(double, 1).unwrap_err(), SubmitError::Shutdown);
        fifo.release();
        assert!(running.result(Some(LONG)).is_ok());
        let cancelled = queued.iter().filter(|f| f.cancelled()).count();
        assert!(cancelled >= 8, "{cancelled}");
        for f in queued.iter().filter(|f| !f.cancelled()) {
            assert!(f.result(Some(LONG)).is_ok());
        }
    });
}

/// I14: a worker that crashes after shutdown(wait=true) began: shutdown returns, the task
/// reports the crash.
#[test]
fn crash_during_shutdown_wait_does_not_hang() {
    with_pool(pool(1), |p, _| {
        let (fifo, s, r) = Fifo::pair("crash-shutdown");
        let f = p.submit(started_then_wait, (s, r)).unwrap();
        fifo.wait_started();
        let victim = p.worker_pids()[0];
        let killer = std::thread::spawn(move || {
            // SAFETY: plain syscall on the pool's child pid.
            unsafe { libc::kill(victim as i32, libc::SIGKILL) };
        });
        p.shutdown(true, false);
        killer.join().unwrap();
        assert_died(f.into_result().unwrap_err(), None, Some(libc::SIGKILL));
    });
}

/// I15: a serialization failure after shutdown(wait=false) does not hang.
#[test]
fn serialization_failure_then_shutdown_no_wait_does_not_hang() {
    with_pool(pool(1), |p, _| {
        let f = p.submit(take_unencodable, Unencodable).unwrap();
        p.shutdown(false, false);
        assert!(matches!(
            f.into_result(),
            Err(FutureError::Serialization(_))
        ));
    });
}

/// L18/L20: kill_workers stops the running task (its side effect never happens) and shuts
/// the pool down.
#[test]
fn kill_workers_stops_running_tasks_and_the_pool() {
    for terminate in [false, true] {
        with_pool(pool(1), |p, seen| {
            let (fifo, s, r) = Fifo::pair("force");
            let f = p.submit(started_then_wait, (s, r)).unwrap();
            let queued = p.submit(double, 1).unwrap();
            fifo.wait_started();
            seen.extend(p.worker_pids());
            if terminate {
                p.terminate_workers();
            } else {
                p.kill_workers();
            }
            let signal = if terminate {
                libc::SIGTERM
            } else {
                libc::SIGKILL
            };
            assert_died(f.into_result().unwrap_err(), None, Some(signal));
            assert!(queued.cancelled() || queued.result(Some(LONG)).is_ok());
            assert_eq!(p.submit(double, 1).unwrap_err(), SubmitError::Shutdown);
        });
    }
}

/// L19: forced shutdown of a pool that never started a worker does nothing harmful.
#[test]
fn kill_workers_before_any_worker_is_harmless() {
    with_pool(pool(2), |p, _| {
        p.kill_workers();
        p.terminate_workers();
        assert_eq!(p.submit(double, 1).unwrap_err(), SubmitError::Shutdown);
    });
}

/// Shutdown racing submitters loses nothing: each submit is refused or its future finishes.
#[test]
fn shutdown_racing_submit_loses_no_future() {
    with_pool(pool(2), |p, _| {
        let barrier = std::sync::Barrier::new(4);
        let accepted = std::thread::scope(|s| {
            let submitters: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let mut accepted = Vec::new();
                        for i in 0..2000 {
                            match p.submit(double, i) {
                                Ok(f) => accepted.push((i, f)),
                                Err(e) => {
                                    assert_eq!(e, SubmitError::Shutdown);
                                    break;
                                }
                            }
                        }
                        accepted
                    })
                })
                .collect();
            barrier.wait();
            p.shutdown(true, false);
            submitters
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        for (i, f) in accepted {
            assert!(f.done(), "shutdown(wait) returned before a task finished");
            assert_eq!(f.into_result(), Ok(2 * i));
        }
    });
}

/// The refusal path of the handshake: a worker that sees another image resolves nothing and
/// the pool reports a typed broken-executor error.
// The builder hooks exist with `test-hooks`, which the dev-dependency on this crate enables.
#[cfg(feature = "test-hooks")]
#[test]
fn image_mismatch_is_refused_before_any_function_is_resolved() {
    let p = ProcessPoolExecutor::builder()
        .max_workers(1)
        .__bogus_image_for_tests()
        .build()
        .unwrap();
    with_pool(p, |p, _| {
        let err = p.submit(double, 1).unwrap().into_result().unwrap_err();
        let FutureError::BrokenExecutor(b) = &err else {
            panic!("expected BrokenExecutor, got {err:?}")
        };
        assert!(b.message().contains("different executable image"), "{b}");
    });
}

/// L16/F16: when no worker can be started, the queued futures fail promptly with the reason
/// instead of hanging.
// The builder hooks exist with `test-hooks`, which the dev-dependency on this crate enables.
#[cfg(feature = "test-hooks")]
#[test]
fn tasks_fail_promptly_when_no_worker_can_start() {
    let p = ProcessPoolExecutor::builder()
        .max_workers(2)
        .__worker_program_for_tests("/nonexistent/concurrent-futures-worker")
        .build()
        .unwrap();
    with_pool(p, |p, _| {
        let fs: Vec<_> = (0..5).map(|i| p.submit(double, i).unwrap()).collect();
        for f in fs {
            let err = f.into_result().unwrap_err();
            assert!(
                matches!(&err, FutureError::Rejected(SubmitError::Spawn(m)) if m.contains("No such file")),
                "{err:?}"
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Starting workers ahead of the tasks (no CPython counterpart: Python starts them on demand)
// ---------------------------------------------------------------------------------------------

#[test]
fn start_workers_starts_every_worker_and_tasks_reuse_them() {
    with_pool(pool(2), |p, _| {
        assert!(p.worker_pids().is_empty());
        p.start_workers().unwrap();
        let started: HashSet<u32> = p.worker_pids().into_iter().collect();
        assert_eq!(started.len(), 2);
        // Idempotent: nothing more to start.
        p.start_workers().unwrap();
        let ran: HashSet<u32> = (0..20)
            .map(|_| p.submit(pid, ()).unwrap())
            .collect::<Vec<_>>()
            .into_iter()
            .map(|f| f.into_result().unwrap())
            .collect();
        assert!(ran.is_subset(&started), "{ran:?} ran outside {started:?}");
        assert_eq!(p.worker_pids().len(), 2);
    });
}

#[test]
fn start_workers_waits_for_the_initializer() {
    let p = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(set_env, ("CF_INIT".to_string(), "ready".to_string()))
        .build()
        .unwrap();
    with_pool(p, |p, _| {
        p.start_workers().unwrap();
        assert_eq!(
            p.submit(read_env, "CF_INIT".to_string())
                .unwrap()
                .into_result(),
            Ok(Some("ready".to_string()))
        );
    });
}

#[test]
fn start_workers_reports_a_failing_initializer_as_broken() {
    let p = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(failing_init, ())
        .build()
        .unwrap();
    with_pool(p, |p, _| {
        let err = p.start_workers().unwrap_err();
        let SubmitError::Broken(b) = &err else {
            panic!("expected Broken, got {err:?}")
        };
        assert!(b.message().contains("error in initializer"), "{b}");
        assert!(matches!(p.submit(double, 1), Err(SubmitError::Broken(_))));
    });
}

// The builder hooks exist with `test-hooks`, which the dev-dependency on this crate enables.
#[cfg(feature = "test-hooks")]
#[test]
fn start_workers_reports_a_refused_handshake_as_broken() {
    let p = ProcessPoolExecutor::builder()
        .max_workers(1)
        .__bogus_image_for_tests()
        .build()
        .unwrap();
    with_pool(p, |p, _| {
        let err = p.start_workers().unwrap_err();
        assert!(
            matches!(&err, SubmitError::Broken(b) if b.message().contains("different executable image")),
            "{err:?}"
        );
    });
}

// The builder hooks exist with `test-hooks`, which the dev-dependency on this crate enables.
#[cfg(feature = "test-hooks")]
#[test]
fn start_workers_reports_a_process_that_cannot_start() {
    let p = ProcessPoolExecutor::builder()
        .max_workers(2)
        .__worker_program_for_tests("/nonexistent/concurrent-futures-worker")
        .build()
        .unwrap();
    with_pool(p, |p, _| {
        let err = p.start_workers().unwrap_err();
        assert!(
            matches!(&err, SubmitError::Spawn(m) if m.contains("No such file")),
            "{err:?}"
        );
    });
}

#[test]
fn start_workers_after_shutdown_is_refused() {
    with_pool(pool(1), |p, _| {
        p.shutdown(true, false);
        assert_eq!(p.start_workers(), Err(SubmitError::Shutdown));
        assert!(p.worker_pids().is_empty());
    });
}

// ---------------------------------------------------------------------------------------------
// Mixed with the thread pool
// ---------------------------------------------------------------------------------------------

/// G/H with futures of both pools: as_completed and wait take them mixed.
#[test]
fn as_completed_and_wait_take_thread_and_process_futures_mixed() {
    let threads = ThreadPoolExecutor::new(2).unwrap();
    with_pool(pool(2), |p, _| {
        let mut futures = Vec::new();
        for i in 0..10u64 {
            futures.push(p.submit(double, i).unwrap());
            futures.push(threads.submit(double, i + 100).unwrap());
        }
        let total: u64 = as_completed(futures.clone(), Some(LONG))
            .map(|f| *f.unwrap().result(None).unwrap())
            .sum();
        assert_eq!(
            total,
            2 * (0..10).sum::<u64>() + 2 * (100..110).sum::<u64>()
        );

        let crash = p.submit(abort, ()).unwrap();
        let fine = threads.submit(|_: ()| 1u32, ()).unwrap();
        let done = wait([crash.clone(), fine], Some(LONG), ReturnWhen::AllCompleted);
        assert_eq!(done.done.len(), 2);
        let first_error = wait([crash], Some(LONG), ReturnWhen::FirstException);
        assert_eq!(first_error.done.len(), 1);
    });
}

// ---------------------------------------------------------------------------------------------
// The parent's death
// ---------------------------------------------------------------------------------------------

/// Set in the environment of the parent process `a_busy_worker_dies_with_its_parent` starts.
const PARENT_ROLE: &str = "CF_TEST_PARENT_OF_A_BUSY_WORKER";

/// Announces on stdout (the worker's stdout is its parent's) that this worker is inside a task,
/// then never returns: the worker does not read its socket again.
fn busy_forever(_: ()) -> u32 {
    use std::io::Write;
    let mut out = std::io::stdout();
    writeln!(out, "busy {}", std::process::id()).unwrap();
    out.flush().unwrap();
    loop {
        std::thread::park();
    }
}

/// The parent of `a_busy_worker_dies_with_its_parent`, run in a process of its own: one worker,
/// busy for ever. Ignored, so that it runs only where that test asks for it by name.
#[test]
#[ignore = "helper: the process a_busy_worker_dies_with_its_parent starts and kills"]
fn parent_of_a_busy_worker() {
    assert!(
        std::env::var_os(PARENT_ROLE).is_some(),
        "run by a_busy_worker_dies_with_its_parent"
    );
    let pool = pool(1);
    let _busy = pool.submit(busy_forever, ()).unwrap();
    loop {
        std::thread::park();
    }
}

/// A worker that is running a task does not read its socket, so it cannot see its parent die;
/// the OS layer (`src/os/`) ends it anyway: here the parent is SIGKILLed while its worker is
/// inside a task that never returns, and the worker must be gone (not a zombie) within `LONG`.
#[test]
fn a_busy_worker_dies_with_its_parent() {
    use std::io::BufRead;
    let _dog = watchdog(HANG, "a_busy_worker_dies_with_its_parent");
    let mut parent = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "parent_of_a_busy_worker",
            "--ignored",
            "--nocapture",
        ])
        .env(PARENT_ROLE, "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(parent.stdout.take().unwrap()).lines();
    let worker: u32 = loop {
        let line = lines
            .next()
            .expect("the parent printed no worker pid")
            .unwrap();
        if let Some(pid) = line.strip_prefix("busy ") {
            break pid.parse().unwrap();
        }
    };
    assert!(alive(worker), "worker {worker} is not running its task");
    // SAFETY: sends a signal to the child this test started, by its pid.
    unsafe { libc::kill(parent.id() as i32, libc::SIGKILL) };
    parent.wait().unwrap();
    let deadline = Instant::now() + LONG;
    while alive(worker) {
        if Instant::now() >= deadline {
            // Leave nothing behind: the orphan would run for ever, holding the pipes of
            // whatever ran this test.
            // SAFETY: sends a signal to the worker this test's child started, by its pid.
            unsafe { libc::kill(worker as i32, libc::SIGKILL) };
            panic!("worker {worker} outlived its parent by {LONG:?}");
        }
        std::thread::yield_now();
    }
}

/// Whether `pid` is a live process: it exists and is not a zombie (a reparented worker is
/// reaped by whoever adopts it, which in a container may never happen).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}
