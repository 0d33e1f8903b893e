//! `as_completed`: ports CPython's `test_as_completed.py` (area G of `tests/CPYTHON.md`, the
//! catalog every `CPython` ID here refers to), plus D3/G10 (cancelled futures need the
//! executor's acknowledgement) and the no-deadlock rule for workers.

mod common;

use common::{
    cancelled, cancelled_and_notified, failed, finished_with, pending, running, watchdog,
    BlockedPool, Gate, HANG,
};
use concurrent_futures::{as_completed, Future, FutureError, ThreadPoolExecutor, TimeoutError};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

const ZERO: Option<Duration> = Some(Duration::ZERO);

/// Drains the iterator: the futures yielded before the first error, and that error.
fn drain<T>(
    it: impl Iterator<Item = Result<Future<T>, TimeoutError>>,
) -> (Vec<Future<T>>, Option<TimeoutError>) {
    let mut got = Vec::new();
    for r in it {
        match r {
            Ok(f) => got.push(f),
            Err(e) => return (got, Some(e)),
        }
    }
    (got, None)
}

// CPython G1
#[test]
fn yields_every_future_with_no_timeout() {
    let _dog = watchdog(HANG, "as_completed G1");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let cn = cancelled_and_notified();
    let exc = failed();
    let ok = finished_with(42);
    let f1 = pool.submit(|(a, b): (i32, i32)| a * b, (21, 2)).unwrap();
    let f2 = pool.submit(|(a, b): (i32, i32)| a * b, (7, 6)).unwrap();
    let all = [cn, exc, ok, f1, f2];
    let (got, err) = drain(as_completed(&all, None));
    assert!(err.is_none());
    let got: HashSet<_> = got.into_iter().collect();
    assert_eq!(got, all.iter().cloned().collect::<HashSet<_>>());
    assert_eq!(got.len(), 5);
}

// CPython G2, B9
#[test]
fn timeout_yields_the_finished_futures_then_one_timeout_error() {
    for timeout in [Duration::ZERO, Duration::from_millis(100)] {
        let cn = cancelled_and_notified::<i32>();
        let exc = failed();
        let ok = finished_with(42);
        let slow: Future<i32> = pending();
        let mut it = as_completed([&cn, &exc, &ok, &slow], Some(timeout));
        let (got, err) = drain(it.by_ref());
        let got: HashSet<_> = got.into_iter().collect();
        assert_eq!(got, [cn, exc, ok].into_iter().collect::<HashSet<_>>());
        assert_eq!(
            err,
            Some(TimeoutError {
                unfinished: 1,
                total: 4
            })
        );
        // The iterator has ended; the slow future was never yielded and is untouched.
        assert!(it.next().is_none());
        assert!(!slow.done() && !slow.cancelled());
        slow.set_result(1).unwrap();
        assert!(it.next().is_none());
    }
}

// CPython G3, G8
#[test]
fn duplicate_futures_are_yielded_once() {
    let f = finished_with(1);
    assert_eq!(
        as_completed([f.clone(), f.clone(), f.clone()], None).count(),
        1
    );
    // Any iterable of futures (or references to them) works.
    assert_eq!(as_completed(std::iter::repeat_n(&f, 3), None).count(), 1);

    // A pending duplicate: yielded once when it completes.
    let p: Future<i32> = Future::new();
    let mut it = as_completed([&p, &p, &p], None);
    p.set_result(2).unwrap();
    assert_eq!(it.next().unwrap().unwrap(), p);
    assert!(it.next().is_none());
}

// CPython G4
#[test]
fn timeout_error_message_counts_unfinished_of_total() {
    let cn = cancelled_and_notified::<i32>();
    let p = pending();
    let r = running();
    let ok = finished_with(42);
    let (got, err) = drain(as_completed([&cn, &p, &r, &ok], ZERO));
    assert_eq!(got.len(), 2);
    let err = err.expect("a timeout");
    assert_eq!(
        err,
        TimeoutError {
            unfinished: 2,
            total: 4
        }
    );
    assert_eq!(err.to_string(), "2 (of 4) futures unfinished");
}

// CPython G5 (Rust form of "keeps no reference to yielded futures": passing the futures by
// value, each yielded handle is the only one, so `into_result` can move the value out while
// the iterator is still alive)
#[test]
fn yielded_futures_are_not_retained_and_late_completions_are_picked_up() {
    // Part 1: 8 pending + C&N + finished, timeout 0: the 2 done ones, then a timeout.
    let eight: Vec<Future<String>> = (0..8).map(|_| Future::new()).collect();
    let mut list = eight.clone();
    list.push(cancelled_and_notified());
    list.push(finished_with("done".to_owned()));
    let mut it = as_completed(list, ZERO);
    let first = it.next().unwrap().unwrap();
    let second = it.next().unwrap().unwrap();
    assert!(first.cancelled());
    assert_eq!(second.into_result(), Ok("done".to_owned()));
    assert_eq!(
        it.next().unwrap().unwrap_err(),
        TimeoutError {
            unfinished: 8,
            total: 10
        }
    );
    drop(it);

    // Part 2: no timeout; the loop body completes the next future, until all 8 are drained.
    let mut setters: VecDeque<Future<String>> = eight.iter().cloned().collect();
    let mut it = as_completed(eight, None);
    setters
        .pop_front()
        .unwrap()
        .set_result("test".into())
        .unwrap();
    let mut n = 0;
    for f in it.by_ref() {
        let f = f.unwrap();
        // The iterator holds no other handle (and our setter was dropped): the value moves.
        assert_eq!(f.into_result(), Ok("test".to_owned()));
        n += 1;
        if let Some(next) = setters.pop_front() {
            next.set_result("test".into()).unwrap();
        }
    }
    assert_eq!(n, 8);
}

// CPython G6
#[test]
fn finished_futures_come_first_in_input_order_then_completion_order() {
    let p1: Future<u8> = Future::new();
    let d1 = finished_with(1);
    let p2: Future<u8> = Future::new();
    let d2 = finished_with(2);
    let mut it = as_completed([&p1, &d1, &p2, &d2], None);
    assert_eq!(it.next().unwrap().unwrap(), d1);
    assert_eq!(it.next().unwrap().unwrap(), d2);
    // Complete p2 before p1: they come out in that order.
    p2.set_result(3).unwrap();
    p1.set_result(4).unwrap();
    assert_eq!(it.next().unwrap().unwrap(), p2);
    assert_eq!(it.next().unwrap().unwrap(), p1);
    assert!(it.next().is_none());

    // The same with pool futures released in reverse order.
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let a = finished_with(0);
    let b = Gate::<u8>::start(&pool);
    let c = Gate::<u8>::start(&pool);
    let (bf, cf) = (b.future.clone(), c.future.clone());
    let mut it = as_completed([&a, &bf, &cf], None);
    assert_eq!(it.next().unwrap().unwrap(), a);
    c.open(2);
    assert_eq!(it.next().unwrap().unwrap(), cf);
    b.open(1);
    assert_eq!(it.next().unwrap().unwrap(), bf);
    assert!(it.next().is_none());
}

// CPython G7 (documented choice: the clock starts at the first `next()`, as with Python's
// generator. The sleep is the subject of the test, not synchronization: time passing between
// the call and the first `next()` must not count.)
#[test]
fn timeout_clock_starts_at_the_first_next() {
    let timeout = Duration::from_millis(100);
    let p: Future<i32> = Future::new();
    let mut it = as_completed([&p], Some(timeout));
    thread::sleep(Duration::from_millis(150));
    let started = Instant::now();
    assert!(it.next().unwrap().is_err());
    assert!(
        started.elapsed() >= timeout,
        "the timeout counted from the call, not from the first next(): {:?}",
        started.elapsed()
    );

    // And the split into finished and pending is made at the first next(): a future finished
    // after the call but before next() is yielded as already finished, in its input position.
    let (d1, q, d2) = (finished_with(1), Future::new(), finished_with(2));
    let mut it = as_completed([&d1, &q, &d2, &q], ZERO);
    q.set_result(3).unwrap();
    let (got, timed_out) = drain(&mut it);
    assert_eq!(got, [d1, q, d2]);
    assert!(timed_out.is_none());
}

// CPython G8
#[test]
fn timeout_error_only_while_futures_are_pending_and_duplicates_do_not_inflate_the_total() {
    // All done: no error even with a zero timeout.
    let all_done = [finished_with(1), failed(), cancelled_and_notified()];
    let (got, err) = drain(as_completed(&all_done, ZERO));
    assert_eq!((got.len(), err), (3, None));

    let p: Future<i32> = pending();
    let d = finished_with(1);
    let (got, err) = drain(as_completed([&p, &p, &d, &p, &d], ZERO));
    assert_eq!(got, [d]);
    assert_eq!(
        err,
        Some(TimeoutError {
            unfinished: 1,
            total: 2
        })
    );

    // Empty input: nothing, no error.
    let none: [Future<i32>; 0] = [];
    assert!(as_completed(&none, ZERO).next().is_none());
}

// CPython G9
#[test]
fn futures_from_different_executors_and_standalone_ones_mix() {
    let _dog = watchdog(HANG, "as_completed G9");
    let pool_a = ThreadPoolExecutor::new(2).unwrap();
    let pool_b = ThreadPoolExecutor::new(1).unwrap();
    let ga = Gate::<u32>::start(&pool_a);
    let gb = Gate::<u32>::start(&pool_b);
    let quick_a = pool_a.spawn(|| 10).unwrap();
    let standalone: Future<u32> = Future::new();
    let all = [
        ga.future.clone(),
        gb.future.clone(),
        quick_a.clone(),
        standalone.clone(),
    ];
    let mut it = as_completed(&all, None);
    let mut got = HashSet::new();
    got.insert(it.next().unwrap().unwrap()); // one is finished or finishes
    ga.open(1);
    gb.open(2);
    standalone.set_result(3).unwrap();
    for f in it {
        assert!(got.insert(f.unwrap()), "yielded twice");
    }
    assert_eq!(got, all.iter().cloned().collect::<HashSet<_>>());
    let mut values: Vec<u32> = got.iter().map(|f| *f.result(None).unwrap()).collect();
    values.sort_unstable();
    assert_eq!(values, [1, 2, 3, 10]);
}

// CPython G10, D3
#[test]
fn cancelled_future_is_yielded_only_once_notified() {
    // Standalone: `set_running_or_notify_cancel` is the acknowledgement.
    let c: Future<i32> = cancelled();
    let (got, err) = drain(as_completed([&c], ZERO));
    assert!(got.is_empty());
    assert_eq!(
        err,
        Some(TimeoutError {
            unfinished: 1,
            total: 1
        })
    );
    let mut it = as_completed([&c], None);
    let c2 = c.clone();
    let notifier = thread::spawn(move || c2.set_running_or_notify_cancel());
    assert_eq!(it.next().unwrap().unwrap(), c);
    assert_eq!(notifier.join().unwrap(), Ok(false));

    // Pool: the worker acknowledges when it reaches the cancelled task.
    let mut bp = BlockedPool::new();
    let queued = bp.pool.spawn(|| 1).unwrap();
    assert!(queued.cancel());
    let (got, err) = drain(as_completed([&queued], ZERO));
    assert!(got.is_empty() && err.is_some());
    let mut it = as_completed([&queued], Some(Duration::from_secs(10)));
    bp.release();
    let f = it.next().unwrap().unwrap();
    assert_eq!(f, queued);
    assert_eq!(f.result(None), Err(FutureError::Cancelled));
}

// Rust: a worker iterating with no timeout over queued futures of its own pool runs them inline
#[test]
fn worker_iterating_over_queued_futures_of_its_own_pool_does_not_deadlock() {
    let _dog = watchdog(HANG, "as_completed inline");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<Vec<Future<u32>>>();
    let outer = pool
        .spawn(move || {
            let inner = rx.recv().unwrap();
            as_completed(&inner, None)
                .map(|f| *f.unwrap().result(None).unwrap())
                .sum::<u32>()
        })
        .unwrap();
    let inner: Vec<Future<u32>> = (1..=4)
        .map(|i| {
            let runs = Arc::clone(&runs);
            pool.spawn(move || {
                runs.fetch_add(1, Ordering::SeqCst);
                i
            })
            .unwrap()
        })
        .collect();
    tx.send(inner).unwrap();
    assert_eq!(outer.result(None), Ok(&10));
    pool.shutdown(true, false);
    assert_eq!(runs.load(Ordering::SeqCst), 4);
}

// Rust / CPython D3: the same, when one of the queued futures was cancelled by the caller. No
// worker will ever reach it while the only worker waits, so the waiting worker must acknowledge
// it itself, as it runs the pending ones. Checked with a bounded wait so a hang fails cleanly.
#[test]
fn worker_iterating_over_a_cancelled_queued_future_of_its_own_pool_does_not_deadlock() {
    let _dog = watchdog(HANG, "as_completed inline cancelled");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let (tx, rx) = mpsc::channel::<Vec<Future<u32>>>();
    let outer = pool
        .spawn(move || {
            let inner = rx.recv().unwrap();
            as_completed(&inner, None).count()
        })
        .unwrap();
    let inner: Vec<Future<u32>> = (1..=2).map(|i| pool.spawn(move || i).unwrap()).collect();
    assert!(inner[1].cancel());
    tx.send(inner.clone()).unwrap();
    let got = outer.result(Some(common::LONG)).cloned();
    if got.is_err() {
        // Unblock the stuck worker so the pool can shut down, then fail.
        let _ = inner[1].set_running_or_notify_cancel();
        outer.result(None).unwrap();
    }
    assert_eq!(
        got,
        Ok(2),
        "a worker's as_completed(None) hung on a cancelled task queued on its own pool"
    );
}

// Rust: dropping the iterator early leaves the futures untouched and completable
#[test]
fn dropping_the_iterator_early_leaves_the_futures_untouched() {
    let a = finished_with(1);
    let b: Future<i32> = Future::new();
    let mut it = as_completed([&a, &b], None);
    assert_eq!(it.next().unwrap().unwrap(), a);
    drop(it);
    assert!(!b.done());
    b.set_result(2).unwrap();
    assert_eq!(b.result(None), Ok(&2));
    // A fresh iterator sees it as finished.
    assert_eq!(as_completed([&b], ZERO).count(), 1);
}
