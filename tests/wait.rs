//! `wait`: ports CPython's `test_wait.py` (area H of `tests/CPYTHON.md`, the catalog every
//! `CPython` ID here refers to), plus D3 (a cancelled future needs the executor's
//! acknowledgement) and the no-deadlock rule for workers.

mod common;

use common::{
    cancelled, cancelled_and_notified, failed, finished_with, pending, stress_iterations, watchdog,
    BlockedPool, Gate, HANG,
};
use concurrent_futures::{
    as_completed, wait, DoneAndNotDone, Future, FutureSet, ReturnWhen, ThreadPoolExecutor,
};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use ReturnWhen::{AllCompleted, FirstCompleted, FirstException};

const ZERO: Option<Duration> = Some(Duration::ZERO);
const LONG: Option<Duration> = Some(common::LONG);

fn set<T>(fs: &[&Future<T>]) -> HashSet<Future<T>> {
    fs.iter().map(|f| (*f).clone()).collect()
}

fn assert_sets<T>(got: &DoneAndNotDone<T>, done: &[&Future<T>], not_done: &[&Future<T>]) {
    assert_eq!(got.done, set(done), "done; got {got:?}");
    assert_eq!(got.not_done, set(not_done), "not_done; got {got:?}");
}

fn mul((a, b): (i32, i32)) -> i32 {
    a * b
}

fn div((a, b): (i32, i32)) -> i32 {
    a / b // panics on b == 0, like Python's divmod(21, 0)
}

// CPython H1
#[test]
fn duplicate_futures_are_counted_once() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let f = pool.submit(mul, (2, 3)).unwrap();
    let got = wait([&f, &f], None, AllCompleted);
    assert_sets(&got, &[&f], &[]);
    assert_eq!((got.done.len(), got.not_done.len()), (1, 0));
}

// CPython H2, D3
#[test]
fn first_completed_returns_the_finished_one_and_leaves_an_unnotified_cancel_not_done() {
    let _dog = watchdog(HANG, "wait H2");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let c: Future<i32> = cancelled();
    let f1 = pool.submit(mul, (21, 2)).unwrap();
    let f2 = Gate::<i32>::start(&pool);
    let got = wait([&c, &f1, &f2.future], None, FirstCompleted);
    assert_sets(&got, &[&f1], &[&c, &f2.future]);
    assert!(c.done(), "done() is true, yet wait counts it as not done");
    f2.open(0);
}

// CPython H3, H12
#[test]
fn first_completed_returns_at_once_with_every_already_done_future() {
    let _dog = watchdog(HANG, "wait H3");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let cn = cancelled_and_notified();
    let ok = finished_with(42);
    let f1 = Gate::<i32>::start(&pool);
    // No timeout: returning at all proves it did not wait for the gated task.
    let got = wait([&cn, &ok, &f1.future], None, FirstCompleted);
    assert_sets(&got, &[&cn, &ok], &[&f1.future]);
    assert_eq!(got.done.len(), 2);
    f1.open(0);
}

// CPython H4
#[test]
fn first_exception_returns_once_a_future_fails() {
    let _dog = watchdog(HANG, "wait H4");
    let pool = ThreadPoolExecutor::new(3).unwrap();
    let f1 = pool.submit(mul, (21, 2)).unwrap();
    // f2 fails only after f1 has finished: a helper waits for f1, then lets f2 go.
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let f2 = pool
        .spawn(move || -> i32 {
            go_rx.recv().unwrap();
            panic!("f2 fails after f1")
        })
        .unwrap();
    let f1_clone = f1.clone();
    let helper = thread::spawn(move || {
        f1_clone.result(None).unwrap();
        go_tx.send(()).unwrap();
    });
    let f3 = Gate::<i32>::start(&pool);
    let got = wait([&f1, &f2, &f3.future], None, FirstException);
    assert_sets(&got, &[&f1, &f2], &[&f3.future]);
    assert!(f2.exception(ZERO).unwrap().is_some());
    helper.join().unwrap();
    f3.open(0);
}

// CPython H5, D3
#[test]
fn first_exception_with_some_already_complete() {
    let _dog = watchdog(HANG, "wait H5");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let ok = finished_with(42);
    let c = cancelled();
    let cn = cancelled_and_notified();
    let f1 = pool.submit(div, (21, 0)).unwrap();
    let f2 = Gate::<i32>::start(&pool);
    let got = wait([&ok, &c, &cn, &f1, &f2.future], None, FirstException);
    assert_sets(&got, &[&ok, &cn, &f1], &[&c, &f2.future]);
    assert_eq!(
        f1.exception(ZERO).unwrap().unwrap().panic_message(),
        Some("attempt to divide by zero")
    );
    f2.open(0);
}

// CPython H6, H12
#[test]
fn first_exception_returns_at_once_if_one_already_failed() {
    let _dog = watchdog(HANG, "wait H6");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let exc = failed();
    let f1 = Gate::<i32>::start(&pool);
    let got = wait([&exc, &f1.future], None, FirstException);
    assert_sets(&got, &[&exc], &[&f1.future]);
    f1.open(0);
}

// CPython H7
#[test]
fn all_completed_waits_for_every_future_despite_failures() {
    let _dog = watchdog(HANG, "wait H7");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let ok = finished_with(42);
    let cn = cancelled_and_notified();
    let exc = failed();
    let f1 = pool.submit(div, (2, 0)).unwrap();
    let f2 = pool.submit(mul, (2, 21)).unwrap();
    let all = [&ok, &cn, &exc, &f1, &f2];
    let got = wait(all, None, AllCompleted);
    assert_sets(&got, &all, &[]);
    assert_eq!(f2.result(ZERO), Ok(&42));
}

// CPython H8
#[test]
fn timeout_returns_the_partial_sets_and_no_error() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let cn = cancelled_and_notified();
    let exc = failed();
    let ok = finished_with(42);
    let f = Gate::<i32>::start(&pool);
    let started = Instant::now();
    let got: DoneAndNotDone<i32> = wait(
        [&cn, &exc, &ok, &f.future],
        Some(Duration::from_millis(50)),
        AllCompleted,
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_sets(&got, &[&cn, &exc, &ok], &[&f.future]);
    // The timed-out future is untouched (CPython B9).
    let ff = f.future.clone();
    assert!(ff.running());
    f.open(1);
    assert_eq!(ff.result(None), Ok(&1));
}

// CPython H8, H4 and the sets' input order: a future that finishes during the wait joins `done`
// in its input position, among the ones finished before the call; the rest stay in `not_done`.
#[test]
fn futures_finishing_during_the_wait_join_done_in_input_order() {
    for return_when in [FirstException, AllCompleted] {
        let (ok, late, ok2, never) = (
            finished_with(1),
            Future::new(),
            finished_with(2),
            Future::new(),
        );
        let setter = {
            let late = late.clone();
            thread::spawn(move || late.set_exception(common::os_error()).unwrap())
        };
        // AllCompleted would wait for `never` forever, so it is left out there.
        let (input, not_done) = match return_when {
            AllCompleted => (vec![&ok, &late, &ok2, &late], vec![]),
            _ => (vec![&ok, &late, &never, &ok2, &late], vec![&never]),
        };
        let got = wait(input, None, return_when);
        setter.join().unwrap();
        let done: Vec<&Future<i32>> = got.done.iter().collect();
        assert_eq!(done, [&ok, &late, &ok2], "{return_when:?}");
        assert_sets(&got, &[&ok, &late, &ok2], &not_done);
    }
}

// CPython H9 (bpo-14406): no lost wake-up when many futures finish at once. The Barrier
// variant releases 100 running tasks together; the CPython form gates 100 tasks on one event
// (a standalone future) with most of them still queued. `CF_TEST_STRESS` scales the loops.
#[test]
fn many_futures_finishing_together_never_lose_a_wakeup() {
    let _dog = watchdog(HANG, "wait H9");
    const N: usize = 100;
    let iterations = stress_iterations(5);

    let pool = ThreadPoolExecutor::new(N).unwrap();
    for _ in 0..iterations {
        let barrier = Arc::new(Barrier::new(N + 1));
        let fs: Vec<Future<usize>> = (0..N)
            .map(|i| {
                let b = Arc::clone(&barrier);
                pool.spawn(move || {
                    b.wait();
                    i
                })
                .unwrap()
            })
            .collect();
        barrier.wait();
        let got = wait(&fs, Some(Duration::from_secs(30)), AllCompleted);
        assert!(got.not_done.is_empty(), "{} not done", got.not_done.len());
        assert_eq!(got.done.len(), N);
    }

    let pool = ThreadPoolExecutor::new(5).unwrap();
    for _ in 0..iterations {
        let event: Future<()> = Future::new();
        let fs: Vec<Future<()>> = (0..N)
            .map(|_| {
                let e = event.clone();
                pool.spawn(move || {
                    e.result(None).unwrap();
                })
                .unwrap()
            })
            .collect();
        event.set_result(()).unwrap();
        let got = wait(&fs, None, AllCompleted);
        assert!(got.not_done.is_empty());
        assert_eq!(got.done.len(), N);
    }
}

// CPython H10
#[test]
fn default_return_when_is_all_completed_and_result_is_two_sets() {
    assert_eq!(ReturnWhen::default(), AllCompleted);
    let a = finished_with(1);
    let b = pending();
    let DoneAndNotDone { done, not_done } = wait([&a, &b], ZERO, ReturnWhen::default());
    let (done, not_done): (FutureSet<i32>, FutureSet<i32>) = (done, not_done);
    assert_eq!(done, set(&[&a]));
    assert_eq!(not_done, set(&[&b]));
    // Empty input: two empty sets, at once, whatever the condition.
    for rw in [FirstCompleted, FirstException, AllCompleted] {
        let none: [Future<i32>; 0] = [];
        let got = wait(&none, None, rw);
        assert!(got.done.is_empty() && got.not_done.is_empty());
    }
}

// CPython H11
#[test]
fn first_exception_without_failures_waits_for_all() {
    let _dog = watchdog(HANG, "wait H11");
    // Cancelled (and acknowledged) futures are not exceptions: it does not return early...
    let cn = cancelled_and_notified();
    let ok = finished_with(1);
    let p: Future<i32> = pending();
    let started = Instant::now();
    let got = wait(
        [&cn, &ok, &p],
        Some(Duration::from_millis(100)),
        FirstException,
    );
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "FirstException returned early without a failure"
    );
    assert_sets(&got, &[&cn, &ok], &[&p]);

    // ...and returns once every future is done.
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let g = Gate::<i32>::start(&pool);
    let gf = g.future.clone();
    let quick = pool.submit(mul, (3, 3)).unwrap();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let opener = thread::spawn(move || {
        go_rx.recv().unwrap();
        g.open(5);
    });
    go_tx.send(()).unwrap();
    let got = wait([&cn, &ok, &quick, &gf], None, FirstException);
    assert_sets(&got, &[&cn, &ok, &quick, &gf], &[]);
    opener.join().unwrap();
}

// CPython D3: an unacknowledged cancel stays in not_done until the executor (or
// `set_running_or_notify_cancel`) acknowledges it; the acknowledgement wakes the waiter.
#[test]
fn cancelled_future_counts_as_done_only_once_notified() {
    let _dog = watchdog(HANG, "wait D3");
    for rw in [FirstCompleted, FirstException, AllCompleted] {
        let c: Future<i32> = cancelled();
        let got = wait([&c], ZERO, rw);
        assert_sets(&got, &[], &[&c]);
        let c2 = c.clone();
        let notifier = thread::spawn(move || c2.set_running_or_notify_cancel());
        let got = wait([&c], LONG, rw);
        assert_sets(&got, &[&c], &[]);
        assert_eq!(notifier.join().unwrap(), Ok(false));
    }

    // Pool futures: acknowledged when the worker reaches them.
    let mut bp = BlockedPool::new();
    let queued = bp.pool.spawn(|| 1).unwrap();
    assert!(queued.cancel());
    assert_sets(&wait([&queued], ZERO, AllCompleted), &[], &[&queued]);
    bp.release();
    assert_sets(&wait([&queued], LONG, AllCompleted), &[&queued], &[]);
}

// Rust: futures of several executors and standalone futures mix (CPython G9 for wait)
#[test]
fn futures_from_different_executors_and_standalone_ones_mix() {
    let _dog = watchdog(HANG, "wait mix");
    let a = ThreadPoolExecutor::new(1).unwrap();
    let b = ThreadPoolExecutor::new(1).unwrap();
    let fa = a.submit(mul, (2, 2)).unwrap();
    let fb = b.submit(mul, (3, 3)).unwrap();
    let s: Future<i32> = Future::new();
    let s2 = s.clone();
    let setter = thread::spawn(move || s2.set_result(4).unwrap());
    let got = wait([&fa, &fb, &s], None, AllCompleted);
    assert_sets(&got, &[&fa, &fb, &s], &[]);
    setter.join().unwrap();
}

// Rust: a worker waiting with no timeout on queued futures of its own pool runs them inline
#[test]
fn worker_waiting_on_queued_futures_of_its_own_pool_does_not_deadlock() {
    let _dog = watchdog(HANG, "wait inline");
    for rw in [FirstCompleted, FirstException, AllCompleted] {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel::<Vec<Future<i32>>>();
        let outer = pool
            .spawn(move || {
                let inner = rx.recv().unwrap();
                let got = wait(&inner, None, rw);
                got.done.len()
            })
            .unwrap();
        let inner: Vec<Future<i32>> = (0..3)
            .map(|i| {
                let runs = Arc::clone(&runs);
                pool.spawn(move || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    i
                })
                .unwrap()
            })
            .collect();
        tx.send(inner.clone()).unwrap();
        let done = *outer.result(None).unwrap();
        match rw {
            FirstCompleted => assert!(done >= 1),
            _ => assert_eq!(done, 3),
        }
        pool.shutdown(true, false);
        assert_eq!(runs.load(Ordering::SeqCst), 3, "each task ran exactly once");
        assert!(inner.iter().all(|f| f.done()));
    }
}

// Rust / CPython D3: the same when one queued future was cancelled by the caller: the waiting
// worker is the only one that could acknowledge it. Bounded, so a hang fails cleanly.
#[test]
fn worker_waiting_on_a_cancelled_queued_future_of_its_own_pool_does_not_deadlock() {
    let _dog = watchdog(HANG, "wait inline cancelled");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let (tx, rx) = mpsc::channel::<Vec<Future<i32>>>();
    let outer = pool
        .spawn(move || {
            let inner = rx.recv().unwrap();
            wait(&inner, None, AllCompleted).done.len()
        })
        .unwrap();
    let inner: Vec<Future<i32>> = (0..2).map(|i| pool.spawn(move || i).unwrap()).collect();
    assert!(inner[1].cancel());
    tx.send(inner.clone()).unwrap();
    let got = outer.result(LONG).cloned();
    if got.is_err() {
        // Unblock the stuck worker so the pool can shut down, then fail.
        let _ = inner[1].set_running_or_notify_cancel();
        outer.result(None).unwrap();
    }
    assert_eq!(
        got,
        Ok(2),
        "a worker's wait(None) hung on a cancelled task queued on its own pool"
    );
}

// Beyond Python: the sets keep input order (first occurrence), compare as sets, and answer
// `contains` the same on both sides of the size where an index replaces the scan.
#[test]
fn sets_keep_input_order_compare_as_sets_and_contain_what_they_hold() {
    for n in [3, 16, 17, 100] {
        let futures: Vec<Future<i32>> = (0..n).map(finished_with).collect();
        let outsider = finished_with(-1);
        let mut input: Vec<&Future<i32>> = futures.iter().rev().collect();
        input.extend(futures.iter().step_by(2)); // duplicates, later in the input
        let done = wait(input, None, AllCompleted).done;
        let order: Vec<i32> = done.iter().map(|f| *f.result(None).unwrap()).collect();
        assert_eq!(order, (0..n).rev().collect::<Vec<_>>(), "n = {n}");
        assert!(futures.iter().all(|f| done.contains(f)), "n = {n}");
        assert!(!done.contains(&outsider), "n = {n}");
        let forward = wait(&futures, None, AllCompleted).done;
        assert_eq!(done, forward, "set equality ignores order");
        assert_ne!(done, wait(&futures[1..], None, AllCompleted).done);
        let std_set: HashSet<Future<i32>> = done.clone().into();
        assert_eq!(done, std_set);
        assert_eq!(done.into_vec().len(), n as usize);
    }
}

// CPython H1 (duplicates once) and G3 (as_completed yields each future once), under contention:
// threads de-duplicating at the same time, over shared futures, must each count every future
// once (one of them stamps futures, the others fall back to an address set).
#[test]
fn concurrent_calls_sharing_futures_each_count_duplicates_once() {
    let futures: Vec<Future<i32>> = (0..200).map(finished_with).collect();
    let threads = 4;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let futures = futures.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                for i in 0..stress_iterations(200) {
                    // Each future twice, in an order that differs per thread and round.
                    let mut input: Vec<&Future<i32>> = futures.iter().collect();
                    input.rotate_left((t * 31 + i) % futures.len());
                    input.extend(futures.iter().rev());
                    if i % 2 == 0 {
                        assert_eq!(wait(input, None, AllCompleted).done.len(), futures.len());
                    } else {
                        assert_eq!(as_completed(input, None).count(), futures.len());
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
