//! `ThreadPoolExecutor` itself: `submit` (area E of `tests/CPYTHON.md`, the catalog every
//! `CPython` ID here refers to), thread-pool specifics (J), the initializer (K), and the
//! `Executor` trait on the thread pool.
//!
//! Tasks are held with standalone `Future<()>` gates and channels, never with sleeps.

mod common;
use common::{eventually, gate, open, stress_iterations, LONG};

#[cfg(feature = "process-pool")]
use concurrent_futures::Executor;
use concurrent_futures::{Future, FutureError, FutureState, SubmitError, ThreadPoolExecutor};
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::thread::{self, ThreadId};
use std::time::Instant;

const INITIALIZER_FAILED: &str =
    "A thread initializer failed, the thread pool is not usable anymore";

/// `(thread id, thread name)` of a worker, as a task saw it.
type Worker = (ThreadId, String);

/// Submits `n` tasks that report their [`Worker`] when they start and then wait for the
/// returned gate. Returns once all `n` have started, so `n` workers are busy.
fn occupy(ex: &ThreadPoolExecutor, n: usize) -> (Future<()>, Vec<Future<()>>, Vec<Worker>) {
    let hold = gate();
    let (tx, rx) = mpsc::channel();
    let futures = (0..n)
        .map(|_| {
            let (h, tx) = (hold.clone(), tx.clone());
            ex.spawn(move || {
                let me = thread::current();
                tx.send((me.id(), me.name().unwrap_or("").to_owned()))
                    .unwrap();
                h.result(None).unwrap();
            })
            .unwrap()
        })
        .collect();
    let started = (0..n)
        .map(|i| {
            rx.recv_timeout(LONG)
                .unwrap_or_else(|_| panic!("only {i} of {n} tasks started"))
        })
        .collect();
    (hold, futures, started)
}

/// `name` is `{prefix}_{i}` with `i` in `0..max`.
fn assert_worker_name(name: &str, prefix: &str, max: usize) {
    let index = name
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .unwrap_or_else(|| panic!("{name:?} does not start with {prefix:?}_"));
    let i: usize = index
        .parse()
        .unwrap_or_else(|_| panic!("{name:?}: {index:?} is not a number"));
    assert!(
        i < max && i.to_string() == index,
        "{name:?}: index out of 0..{max}"
    );
}

// ---------------------------------------------------------------------------------------------
// E: submit

#[test]
fn submit_returns_a_future_with_the_result() {
    // CPython E1
    let ex = ThreadPoolExecutor::new(5).unwrap();
    let f = ex.submit(|(b, e): (u64, u32)| b.pow(e), (2, 8)).unwrap();
    assert_eq!(f.result(None), Ok(&256));
    let f = ex.spawn(|| 2u64.pow(8)).unwrap();
    assert_eq!(f.result(None), Ok(&256));
    assert_eq!(f.into_result(), Ok(256));
}

#[test]
fn pool_drops_a_task_closure_and_argument_once_it_ran() {
    // CPython E3
    fn released(weak: &Weak<String>) -> bool {
        let deadline = Instant::now() + LONG;
        while weak.upgrade().is_some() {
            if Instant::now() > deadline {
                return false;
            }
            thread::yield_now();
        }
        true
    }
    let ex = ThreadPoolExecutor::new(2).unwrap();

    // Captured by the closure; the future is kept.
    let captured = Arc::new(String::from("captured"));
    let weak = Arc::downgrade(&captured);
    let f = ex.spawn(move || captured.len()).unwrap();
    assert_eq!(f.result(None), Ok(&8));
    assert!(released(&weak), "the pool still holds the closure");

    // Passed as the argument.
    let arg = Arc::new(String::from("argument"));
    let weak = Arc::downgrade(&arg);
    let f = ex.submit(|s: Arc<String>| s.len(), arg).unwrap();
    assert_eq!(f.result(None), Ok(&8));
    assert!(released(&weak), "the pool still holds the argument");
    drop(f);

    // The future thrown away at once: the task reports on a channel instead.
    let captured = Arc::new(String::from("dropped"));
    let weak = Arc::downgrade(&captured);
    let (tx, rx) = mpsc::channel();
    drop(ex.spawn(move || tx.send(captured.len()).unwrap()).unwrap());
    assert_eq!(rx.recv_timeout(LONG), Ok(7));
    assert!(released(&weak), "the pool still holds the closure");
}

#[test]
fn submit_returns_a_pending_future_and_a_task_panic_becomes_its_error() {
    // CPython E5, J10
    let ex = ThreadPoolExecutor::new(1).unwrap();
    let (hold, _, started) = occupy(&ex, 1);
    // The only worker is busy: the next task is queued, and submit does not wait for it.
    let failing = ex
        .spawn(|| -> u32 { panic!("error in task") })
        .expect("submit never reports the task's error");
    assert_eq!(failing.state(), FutureState::Pending);
    assert!(!failing.done());
    open(&hold);
    match failing.result(None) {
        Err(FutureError::Panicked { message, location }) => {
            assert_eq!(message, "error in task");
            let location = location.expect("the panic location is recorded");
            assert!(location.file.ends_with("thread_pool.rs"), "{location}");
        }
        other => panic!("expected the task's panic, got {other:?}"),
    }
    assert_eq!(failing.state(), FutureState::Finished);
    // The worker that ran the panicking task lives on and runs the next one.
    let after = ex.spawn(|| (7, thread::current().id())).unwrap();
    assert_eq!(after.result(None).unwrap(), &(7, started[0].0));
    assert_eq!(ex.num_threads(), 1);
}

#[test]
fn a_panicking_task_leaves_its_single_worker_usable() {
    // CPython J10
    let ex = ThreadPoolExecutor::new(1).unwrap();
    for i in 0..stress_iterations(10) {
        let f = ex.spawn(move || -> usize { panic!("panic {i}") }).unwrap();
        assert!(matches!(f.result(None), Err(FutureError::Panicked { .. })));
        assert_eq!(ex.spawn(move || i + 7).unwrap().result(None), Ok(&(i + 7)));
    }
    assert_eq!(ex.num_threads(), 1);
}

// ---------------------------------------------------------------------------------------------
// J: thread-pool specifics

#[test]
fn default_max_workers_is_min_32_and_cpus_plus_4() {
    // CPython J1
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let ex = ThreadPoolExecutor::default();
    assert_eq!(ex.max_workers(), 32.min(cpus + 4));
    let ex = ThreadPoolExecutor::builder().build().unwrap();
    assert_eq!(ex.max_workers(), 32.min(cpus + 4));
}

#[test]
fn zero_max_workers_is_an_invalid_argument() {
    // CPython J2
    let err = ThreadPoolExecutor::new(0).unwrap_err();
    assert_eq!(err.to_string(), "max_workers must be greater than 0");
    let err = ThreadPoolExecutor::builder()
        .max_workers(0)
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "max_workers must be greater than 0");
    assert_eq!(ThreadPoolExecutor::new(1).unwrap().max_workers(), 1);
}

#[test]
fn saturated_pool_never_runs_more_than_max_workers_threads() {
    // CPython J3
    let ex = ThreadPoolExecutor::new(4).unwrap();
    let hold = gate();
    let (tx, rx) = mpsc::channel();
    let futures: Vec<_> = (0..60)
        .map(|_| {
            let (h, tx) = (hold.clone(), tx.clone());
            ex.spawn(move || {
                tx.send(thread::current().id()).unwrap();
                h.result(None).unwrap();
                thread::current().id()
            })
            .unwrap()
        })
        .collect();
    let running: HashSet<ThreadId> = (0..4)
        .map(|_| rx.recv_timeout(LONG).expect("4 tasks start"))
        .collect();
    assert_eq!(running.len(), 4);
    assert_eq!(ex.num_threads(), 4);
    assert!(rx.try_recv().is_err(), "a fifth task started");
    open(&hold);
    let ids: HashSet<ThreadId> = futures.iter().map(|f| *f.result(None).unwrap()).collect();
    assert_eq!(ids, running, "all 60 tasks ran on the same 4 threads");
    assert_eq!(ex.num_threads(), 4);
    ex.shutdown(true, false);
    assert_eq!(ex.num_threads(), 0);
}

#[test]
fn sequential_submits_reuse_one_idle_thread() {
    // CPython J4
    for _ in 0..stress_iterations(10) {
        let ex = ThreadPoolExecutor::default();
        let ids: HashSet<ThreadId> = (0..3)
            .map(|_| {
                *ex.spawn(|| thread::current().id())
                    .unwrap()
                    .result(None)
                    .unwrap()
            })
            .collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(ex.num_threads(), 1);
    }
}

#[test]
fn worker_threads_are_named_with_the_given_prefix() {
    // CPython J5
    let ex = ThreadPoolExecutor::builder()
        .max_workers(5)
        .thread_name_prefix("SpecialPool")
        .build()
        .unwrap();
    let (hold, _, started) = occupy(&ex, 5);
    let names: HashSet<&str> = started.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    for name in &names {
        assert_worker_name(name, "SpecialPool", 5);
    }
    open(&hold);
}

#[test]
fn worker_threads_have_default_names_numbered_per_pool() {
    // CPython J6
    let a = ThreadPoolExecutor::new(5).unwrap();
    let b = ThreadPoolExecutor::new(5).unwrap();
    let (hold_a, _, started_a) = occupy(&a, 5);
    let (hold_b, _, started_b) = occupy(&b, 1);
    let pool_prefix = |name: &str| -> String {
        let (prefix, _) = name.rsplit_once('_').expect("name_index");
        let n = prefix
            .strip_prefix("ThreadPoolExecutor-")
            .unwrap_or_else(|| panic!("{name:?} is not ThreadPoolExecutor-N_i"));
        assert!(
            !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()),
            "{name:?}"
        );
        prefix.to_owned()
    };
    let prefix_a = pool_prefix(&started_a[0].1);
    let names: HashSet<&str> = started_a.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names.len(), 5);
    for name in &names {
        assert_eq!(pool_prefix(name), prefix_a);
        assert_worker_name(name, &prefix_a, 5);
    }
    let prefix_b = pool_prefix(&started_b[0].1);
    assert_ne!(prefix_a, prefix_b, "each pool has its own number");
    open(&hold_a);
    open(&hold_b);
}

#[test]
fn no_thread_exists_before_the_first_submit() {
    // CPython J9
    assert_eq!(ThreadPoolExecutor::new(4).unwrap().num_threads(), 0);
    assert_eq!(ThreadPoolExecutor::default().num_threads(), 0);
    let ex = ThreadPoolExecutor::builder()
        .max_workers(3)
        .initializer(|| {})
        .build()
        .unwrap();
    assert_eq!(ex.num_threads(), 0);
    // One submit starts one thread, not max_workers.
    ex.spawn(|| ()).unwrap().result(None).unwrap();
    assert_eq!(ex.num_threads(), 1);
}

#[test]
fn three_blocked_tasks_start_exactly_three_threads() {
    // CPython J9, I8 (threads start on demand, one per submit that finds no idle worker)
    let ex = ThreadPoolExecutor::new(5).unwrap();
    let (hold, futures, started) = occupy(&ex, 3);
    let ids: HashSet<ThreadId> = started.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ex.num_threads(), 3);
    open(&hold);
    for f in &futures {
        f.result(None).unwrap();
    }
    ex.shutdown(true, false);
    assert_eq!(ex.num_threads(), 0);
}

// ---------------------------------------------------------------------------------------------
// K: initializer

thread_local! {
    static INITIALIZED: RefCell<Option<&'static str>> = const { RefCell::new(None) };
}

#[test]
fn initializer_runs_in_every_worker_before_its_tasks() {
    // CPython K1
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let ex = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(move || {
            c.fetch_add(1, Ordering::SeqCst);
            INITIALIZED.with(|s| *s.borrow_mut() = Some("initialized"));
        })
        .build()
        .unwrap();
    // Both tasks wait for each other, so both workers run one.
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let futures: Vec<_> = (0..2)
        .map(|_| {
            let b = Arc::clone(&barrier);
            ex.spawn(move || {
                b.wait();
                (INITIALIZED.with(|s| *s.borrow()), thread::current().id())
            })
            .unwrap()
        })
        .collect();
    let results: Vec<_> = futures.iter().map(|f| *f.result(None).unwrap()).collect();
    assert!(results.iter().all(|(s, _)| *s == Some("initialized")));
    assert_ne!(results[0].1, results[1].1, "two workers ran the tasks");
    // More tasks on the same workers do not run the initializer again.
    for _ in 0..10 {
        let f = ex.spawn(|| INITIALIZED.with(|s| *s.borrow())).unwrap();
        assert_eq!(f.result(None), Ok(&Some("initialized")));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(ex.num_threads(), 2);
}

#[test]
#[cfg(feature = "process-pool")]
fn start_workers_starts_every_thread_and_runs_each_initializer_once() {
    // No CPython counterpart (Python starts threads on demand); the Executor trait's method.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let ex = ThreadPoolExecutor::builder()
        .max_workers(3)
        .initializer(move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    Executor::start_workers(&ex).unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "returned before the initializers ran"
    );
    assert_eq!(ex.num_threads(), 3);
    ex.start_workers().unwrap();
    let futures: Vec<_> = (0..30).map(|i| ex.spawn(move || i).unwrap()).collect();
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.result(None), Ok(&i));
    }
    assert_eq!(ex.num_threads(), 3);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn start_workers_reports_a_failing_initializer_as_broken() {
    let ex = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| panic!("error in initializer"))
        .build()
        .unwrap();
    match ex.start_workers() {
        Err(SubmitError::Broken(e)) => assert_eq!(e.message(), INITIALIZER_FAILED),
        other => panic!("expected Broken, got {other:?}"),
    }
    assert!(matches!(ex.spawn(|| 0), Err(SubmitError::Broken(_))));
}

#[test]
fn start_workers_after_shutdown_is_refused() {
    let ex = ThreadPoolExecutor::new(2).unwrap();
    ex.shutdown(true, false);
    assert_eq!(ex.start_workers(), Err(SubmitError::Shutdown));
    assert_eq!(ex.num_threads(), 0);
}

/// Collects log records so a test can check what the crate logged.
struct Capture;

static LOGGED: Mutex<Vec<(log::Level, String, String)>> = Mutex::new(Vec::new());

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        LOGGED.lock().unwrap().push((
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        ));
    }
    fn flush(&self) {}
}

#[test]
fn failing_initializer_breaks_the_pool_and_logs_the_panic() {
    // CPython K2 (CRITICAL in Python; `error` is the highest level of the `log` crate)
    static CAPTURE: Capture = Capture;
    log::set_logger(&CAPTURE).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Trace);

    let ex = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| panic!("error in initializer"))
        .build()
        .unwrap();
    // The submit either fails at once or its future fails with BrokenExecutor.
    match ex.spawn(|| 1) {
        Ok(f) => match f.result(None) {
            Err(FutureError::BrokenExecutor(e)) => assert_eq!(e.message(), INITIALIZER_FAILED),
            other => panic!("expected BrokenExecutor, got {other:?}"),
        },
        Err(SubmitError::Broken(e)) => assert_eq!(e.message(), INITIALIZER_FAILED),
        Err(e) => panic!("expected Broken, got {e:?}"),
    }
    // From then on every submit is refused as broken (once the worker's failure is recorded,
    // which the future above already waited for).
    for _ in 0..3 {
        match ex.spawn(|| 1) {
            Err(SubmitError::Broken(e)) => {
                assert_eq!(e.message(), INITIALIZER_FAILED);
                assert_eq!(SubmitError::Broken(e).to_string(), INITIALIZER_FAILED);
            }
            other => panic!("expected SubmitError::Broken, got {other:?}"),
        }
    }
    let logged = LOGGED.lock().unwrap().clone();
    assert!(
        logged
            .iter()
            .any(|(level, target, msg)| *level == log::Level::Error
                && target == "concurrent_futures"
                && msg.contains("Exception in initializer")
                && msg.contains("error in initializer")),
        "no error record about the initializer in {logged:?}"
    );
}

#[test]
fn futures_queued_behind_a_failing_initializer_fail_as_broken() {
    // CPython K3
    let init_gate = gate();
    let g = init_gate.clone();
    let ex = ThreadPoolExecutor::builder()
        .max_workers(1)
        .initializer(move || {
            g.result(None).unwrap();
            panic!("error in initializer");
        })
        .build()
        .unwrap();
    // The only worker is stuck in its initializer: all ten stay queued.
    let futures: Vec<_> = (0..10).map(|i| ex.spawn(move || i).unwrap()).collect();
    assert!(futures.iter().all(|f| f.state() == FutureState::Pending));
    open(&init_gate);
    for f in &futures {
        match f.result(Some(LONG)) {
            Err(FutureError::BrokenExecutor(e)) => assert_eq!(e.message(), INITIALIZER_FAILED),
            other => panic!("expected BrokenExecutor, got {other:?}"),
        }
    }
    assert!(matches!(ex.spawn(|| 0), Err(SubmitError::Broken(_))));
    let mut it = ex.map(|x: i32| x, 0..3);
    assert!(matches!(
        it.next(),
        Some(Err(FutureError::Rejected(SubmitError::Broken(_))))
    ));
    assert_eq!(it.next(), None);
}

#[test]
fn a_broken_pool_keeps_no_worker_thread_and_shuts_down() {
    // CPython K4 (analogue: nothing is left running after the pool broke), N1
    let ex = ThreadPoolExecutor::builder()
        .max_workers(3)
        .initializer(|| panic!("error in initializer"))
        .build()
        .unwrap();
    let f = ex.spawn(|| 1);
    if let Ok(f) = f {
        assert!(matches!(
            f.result(None),
            Err(FutureError::BrokenExecutor(_))
        ));
    }
    eventually("the failed workers exit", || ex.num_threads() == 0);
    ex.shutdown(true, false);
    assert_eq!(ex.num_threads(), 0);
}

// ---------------------------------------------------------------------------------------------
// The Executor trait on the thread pool

/// The trait exists with feature `process-pool` (default), on every platform.
#[cfg(feature = "process-pool")]
mod executor_trait {
    use super::*;
    use concurrent_futures::MapOptions;

    fn square(n: u64) -> u64 {
        n * n
    }

    fn halve_even(n: u64) -> Result<u64, String> {
        if n % 2 == 0 {
            Ok(n / 2)
        } else {
            Err(format!("{n} is odd"))
        }
    }

    fn explode(n: u64) -> u64 {
        if n == 2 {
            panic!("two");
        }
        n
    }

    /// Written once against the trait, as the book's `download_many(ex: &impl Executor)`.
    fn generic_workload(ex: &impl Executor) {
        let f = ex.submit(square, 12).unwrap();
        assert_eq!(f.result(None), Ok(&144));
        let f = ex.submit(halve_even, 3).unwrap();
        assert_eq!(f.result(None), Ok(&Err("3 is odd".to_owned())));

        let squares: Vec<u64> = ex.map(square, 0..5).map(Result::unwrap).collect();
        assert_eq!(squares, [0, 1, 4, 9, 16]);
        let got: Vec<_> = ex.map(explode, 0..4).collect();
        assert_eq!(got[..2], [Ok(0), Ok(1)]);
        assert_eq!(got[2].as_ref().unwrap_err().panic_message(), Some("two"));
        assert_eq!(got[3], Ok(3));

        let lazy: Vec<u64> = ex
            .map_with(
                square,
                1..,
                MapOptions::new().buffersize(2).timeout(LONG).chunksize(4),
            )
            .unwrap()
            .take(3)
            .map(Result::unwrap)
            .collect();
        assert_eq!(lazy, [1, 4, 9]);
        assert!(ex
            .map_with(square, 0..1, MapOptions::new().buffersize(0))
            .is_err());
        assert!(ex
            .map_with(square, 0..1, MapOptions::new().chunksize(0))
            .is_err());

        ex.shutdown(true, false);
        ex.shutdown(true, false);
        assert_eq!(ex.submit(square, 1).map(|_| ()), Err(SubmitError::Shutdown));
    }

    #[test]
    fn generic_code_over_the_executor_trait_runs_on_the_thread_pool() {
        // CPython E1, E5, F1, F3, F15, I1 through the `Executor` trait
        let ex = ThreadPoolExecutor::new(3).unwrap();
        generic_workload(&ex);
        assert_eq!(ex.num_threads(), 0);
    }
}

#[test]
fn one_worker_runs_tasks_in_submission_order_across_a_backlog() {
    // CPython's work queue is a FIFO `SimpleQueue`, so a 1-worker pool is a serial queue.
    // Ours is a ring that spills into an overflow past 1024 jobs (see `Queue` in
    // `src/sync.rs`): a backlog well past the ring, then more submits while the worker drains
    // it, so jobs go to the overflow, then back to the ring once it empties.
    let ex = ThreadPoolExecutor::new(1).unwrap();
    let started = gate();
    let first = {
        let started = started.clone();
        ex.submit(move |()| started.result(None).map(|_| ()).is_ok(), ())
            .unwrap()
    };
    let order = Arc::new(Mutex::new(Vec::new()));
    let n = stress_iterations(5_000);
    let record = |i: usize| {
        let order = Arc::clone(&order);
        move |()| order.lock().unwrap().push(i)
    };
    let mut futures: Vec<Future<()>> = (0..n).map(|i| ex.submit(record(i), ()).unwrap()).collect();
    open(&started);
    futures.extend((n..2 * n).map(|i| ex.submit(record(i), ()).unwrap()));
    assert_eq!(first.result(None), Ok(&true));
    for f in &futures {
        f.result(None).unwrap();
    }
    let order = order.lock().unwrap();
    assert_eq!(*order, (0..2 * n).collect::<Vec<_>>());
}
