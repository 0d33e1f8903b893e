//! `Future`: state machine, predicates, Display, result/exception with timeouts. Ports CPython's
//! `test_future.py` (areas A and B of `tests/CPYTHON.md`, the catalog every `CPython` ID here
//! refers to) plus Rust-only behaviours (identity, `into_result`, panic location, `Deadlock`,
//! inline runs on a worker). Done callbacks and cancel are in `future_callbacks_cancel.rs`.

mod common;

use common::{
    act_concurrently, cancelled, cancelled_and_notified, failed, finished_with, os_error, pending,
    six_states, watchdog, BlockedPool, Gate, Rng, HANG,
};
use concurrent_futures::{
    as_completed, wait, BrokenExecutor, Future, FutureError, FutureState, ReturnWhen,
    ThreadPoolExecutor,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

const ZERO: Option<Duration> = Some(Duration::ZERO);
const LONG: Option<Duration> = Some(common::LONG);

/// Checks `<Future at 0x[0-9a-f]+ state=...>` and returns the part after `state=`.
fn repr_state(f: &Future<i32>) -> String {
    let s = f.to_string();
    let rest = s
        .strip_prefix("<Future at 0x")
        .unwrap_or_else(|| panic!("bad repr {s:?}"));
    let hex_len = rest.chars().take_while(|c| c.is_ascii_hexdigit()).count();
    assert!(hex_len > 0, "no address in {s:?}");
    assert!(
        rest[..hex_len].chars().all(|c| !c.is_ascii_uppercase()),
        "address not lowercase hex in {s:?}"
    );
    let rest = rest[hex_len..]
        .strip_prefix(" state=")
        .unwrap_or_else(|| panic!("no state in {s:?}"));
    rest.strip_suffix('>')
        .unwrap_or_else(|| panic!("no closing '>' in {s:?}"))
        .to_owned()
}

// ------------------------------------------------------------------------------------------
// A. State machine, predicates, repr
// ------------------------------------------------------------------------------------------

// CPython A1
#[test]
fn cancelled_is_true_only_for_cancelled_states() {
    let expected = [false, false, true, true, false, false];
    for ((name, f), want) in six_states().iter().zip(expected) {
        assert_eq!(f.cancelled(), want, "cancelled() for {name}");
    }
}

// CPython A2, D3 (done() is true for a cancelled-but-not-notified future)
#[test]
fn done_is_true_for_cancelled_and_finished_states() {
    let expected = [false, false, true, true, true, true];
    for ((name, f), want) in six_states().iter().zip(expected) {
        assert_eq!(f.done(), want, "done() for {name}");
    }
}

// CPython A3
#[test]
fn running_is_true_only_while_running() {
    let expected = [false, true, false, false, false, false];
    for ((name, f), want) in six_states().iter().zip(expected) {
        assert_eq!(f.running(), want, "running() for {name}");
    }
}

// CPython A3, A10 (PENDING -> FINISHED is direct: a future that was never set running is never
// observed running, not even while another thread is in the middle of `set_result`)
#[test]
fn future_completed_from_pending_is_never_seen_running() {
    for _ in 0..200 {
        let f: Future<u64> = Future::new();
        let barrier = Arc::new(Barrier::new(2));
        let reader = {
            let f = f.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                let mut seen = Vec::new();
                while !f.done() {
                    let (running, state) = (f.running(), f.state());
                    if running || state == FutureState::Running {
                        seen.push((running, state));
                    }
                }
                seen
            })
        };
        barrier.wait();
        f.set_result(1).unwrap();
        let seen = reader.join().unwrap();
        assert!(
            seen.is_empty(),
            "a pending future being completed reported (running(), state()) = {:?}",
            seen.first()
        );
    }
}

// CPython A1, A2, A3 (Rust `state()` getter)
#[test]
fn state_reports_the_four_public_states() {
    use FutureState::*;
    let expected = [Pending, Running, Cancelled, Cancelled, Finished, Finished];
    for ((name, f), want) in six_states().iter().zip(expected) {
        assert_eq!(f.state(), want, "state() for {name}");
    }
}

// CPython A1, A2, A3, D3 (the same table with futures made by a real pool)
#[test]
fn executor_futures_have_the_same_predicates_in_every_state() {
    let mut bp = BlockedPool::new();
    let running = bp.blocker.clone();
    let queued = bp.pool.spawn(|| 1).unwrap();
    let to_cancel = bp.pool.spawn(|| 2).unwrap();
    let to_notify = bp.pool.spawn(|| 3).unwrap();
    assert!(to_cancel.cancel());
    assert!(to_notify.cancel());

    assert!(running.running() && !running.done() && !running.cancelled());
    assert!(!queued.running() && !queued.done() && !queued.cancelled());
    assert_eq!(queued.state(), FutureState::Pending);
    assert!(to_cancel.cancelled() && to_cancel.done() && !to_cancel.running());

    // The worker reaches the cancelled tasks and acknowledges them (C&N): wait now counts them.
    bp.release();
    let sets = wait(
        [&queued, &to_cancel, &to_notify],
        LONG,
        ReturnWhen::AllCompleted,
    );
    assert!(sets.not_done.is_empty(), "{sets:?}");
    assert!(to_notify.cancelled() && to_notify.done() && !to_notify.running());
    assert_eq!(queued.result(None), Ok(&1));
    assert!(queued.done() && !queued.cancelled() && !queued.running());

    let boom = bp.pool.spawn(|| -> i32 { panic!("boom") }).unwrap();
    assert!(boom.exception(None).unwrap().is_some());
    assert!(boom.done() && !boom.cancelled() && !boom.running());
}

// CPython A4
#[test]
fn display_matches_python_repr_for_each_state() {
    let expected = [
        "pending",
        "running",
        "cancelled",
        "cancelled",
        "finished raised panic",
        "finished returned i32",
    ];
    for ((name, f), want) in six_states().iter().zip(expected) {
        assert_eq!(repr_state(f), want, "repr for {name}: {f}");
        assert_eq!(
            format!("{f:?}"),
            f.to_string(),
            "Debug is Display for {name}"
        );
    }
    // Clones print the same address; distinct futures print different ones.
    let a: Future<i32> = Future::new();
    let b: Future<i32> = Future::new();
    assert_eq!(a.to_string(), a.clone().to_string());
    assert_ne!(a.to_string(), b.to_string());
    // Type names are shortened like Python's `int`.
    let v: Future<Vec<String>> = finished_with(vec![]);
    assert!(
        v.to_string()
            .ends_with("state=finished returned Vec<String>>"),
        "{v}"
    );
    let broken: Future<i32> = Future::new();
    broken
        .set_exception(BrokenExecutor::new("gone").into())
        .unwrap();
    assert!(broken
        .to_string()
        .ends_with("state=finished raised BrokenExecutor>"));
}

// CPython A5
#[test]
fn second_set_result_is_invalid_state_and_keeps_the_first_value() {
    let f = Future::new();
    f.set_result(1).unwrap();
    let err = f.set_result(2).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("FINISHED: <Future at 0x"), "{msg}");
    assert!(msg.ends_with("state=finished returned i32>"), "{msg}");
    assert!(f.done());
    assert_eq!(f.result(None), Ok(&1));
    // A set_exception after a result is refused too.
    assert!(f.set_exception(os_error()).is_err());
    assert_eq!(f.result(None), Ok(&1));
}

// CPython A6
#[test]
fn second_set_exception_is_invalid_state_and_keeps_the_first_error() {
    let f: Future<i32> = Future::new();
    let first = FutureError::Panicked {
        message: "ValueError".into(),
        location: None,
    };
    f.set_exception(first.clone()).unwrap();
    let err = f.set_exception(os_error()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("FINISHED: <Future at 0x"), "{msg}");
    assert!(msg.ends_with("state=finished raised panic>"), "{msg}");
    assert_eq!(f.exception(None), Ok(Some(first.clone())));
    // set_result after an exception is refused as well.
    assert!(f.set_result(7).is_err());
    assert_eq!(f.result(None), Err(first));
}

// CPython A7
#[test]
fn set_result_or_exception_after_cancel_is_invalid_state() {
    let c: Future<i32> = cancelled();
    let msg = c.set_result(1).unwrap_err().to_string();
    assert!(msg.starts_with("CANCELLED: <Future at 0x"), "{msg}");
    assert!(msg.ends_with("state=cancelled>"), "{msg}");
    assert!(c.set_exception(os_error()).is_err());
    assert_eq!(c.result(ZERO), Err(FutureError::Cancelled));

    let cn: Future<i32> = cancelled_and_notified();
    let msg = cn.set_result(1).unwrap_err().to_string();
    assert!(
        msg.starts_with("CANCELLED_AND_NOTIFIED: <Future at 0x"),
        "{msg}"
    );
    assert!(cn.set_exception(os_error()).is_err());
    assert_eq!(cn.result(ZERO), Err(FutureError::Cancelled));
}

// CPython A8 (Rust analogue: the timeout kind differs from the cancelled kind and from a task's
// own failure)
#[test]
fn timeout_cancelled_and_task_failure_are_distinct_errors() {
    let kinds = [
        FutureError::Timeout,
        FutureError::Cancelled,
        os_error(),
        FutureError::BrokenExecutor(BrokenExecutor::new("x")),
        FutureError::Deadlock,
    ];
    let messages: HashSet<String> = kinds.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), kinds.len(), "{messages:?}");
    for (i, a) in kinds.iter().enumerate() {
        for (j, b) in kinds.iter().enumerate() {
            assert_eq!(i == j, a == b);
        }
    }
    assert_eq!(pending::<i32>().result(ZERO), Err(FutureError::Timeout));
    assert_eq!(cancelled::<i32>().result(ZERO), Err(FutureError::Cancelled));
}

// CPython A9
#[test]
fn snapshot_reads_are_consistent_across_threads() {
    type Snapshot = (bool, bool, Option<i32>, Option<FutureError>);
    fn snapshot(f: &Future<i32>) -> Snapshot {
        (
            f.done(),
            f.cancelled(),
            f.result(ZERO).ok().copied(),
            f.exception(ZERO).ok().flatten(),
        )
    }
    let p: Future<i32> = pending();
    assert_eq!(snapshot(&p), (false, false, None, None));
    assert_eq!(snapshot(&finished_with(42)), (true, false, Some(42), None));
    assert_eq!(snapshot(&failed()), (true, false, None, Some(os_error())));
    assert_eq!(snapshot(&cancelled()), (true, true, None, None));

    // While another thread completes it: reads are monotone, and a reader that has seen the
    // value then sees done() (the crate has no atomic snapshot, so read the value first).
    for _ in 0..50 {
        let f: Future<i32> = Future::new();
        let barrier = Arc::new(Barrier::new(3));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let f = f.clone();
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    let mut seen_value = false;
                    for _ in 0..1000 {
                        let value = f.result(ZERO).ok().copied();
                        let done = f.done();
                        assert!(!f.cancelled());
                        match value {
                            Some(v) => {
                                assert_eq!(v, 42);
                                assert!(done, "value visible but done() false");
                                seen_value = true;
                            }
                            None => assert!(!seen_value, "the value disappeared"),
                        }
                    }
                })
            })
            .collect();
        barrier.wait();
        f.set_result(42).unwrap();
        for r in readers {
            r.join().unwrap();
        }
    }

    let f = finished_with(42);
    let barrier = Arc::new(Barrier::new(4));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let f = f.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                for _ in 0..1000 {
                    assert_eq!(snapshot(&f), (true, false, Some(42), None));
                    assert_eq!(f.state(), FutureState::Finished);
                }
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
}

// CPython A10, D1, D2 (property test: random operation sequences against a model)
#[test]
fn state_machine_allows_only_cpython_transitions() {
    #[derive(Clone, Copy, PartialEq, Debug)]
    enum M {
        Pending,
        Running,
        Cancelled,
        Notified,
        Ok,
        Err,
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2000 {
        let f: Future<u32> = Future::new();
        let mut m = M::Pending;
        let callbacks = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&callbacks);
        f.add_done_callback(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        for step in 0..6 {
            match rng.next() % 4 {
                0 => {
                    let want = matches!(m, M::Pending | M::Cancelled | M::Notified);
                    assert_eq!(f.cancel(), want, "cancel() in {m:?}");
                    if m == M::Pending {
                        m = M::Cancelled;
                    }
                }
                1 => {
                    let got = f.set_running_or_notify_cancel();
                    match m {
                        M::Pending => {
                            assert_eq!(got, Ok(true));
                            m = M::Running;
                        }
                        M::Cancelled => {
                            assert_eq!(got, Ok(false));
                            m = M::Notified;
                        }
                        _ => assert!(got.is_err(), "set_running_or_notify_cancel in {m:?}"),
                    }
                }
                2 => {
                    let got = f.set_result(step);
                    if matches!(m, M::Pending | M::Running) {
                        assert_eq!(got, Ok(()));
                        m = M::Ok;
                    } else {
                        assert!(got.is_err(), "set_result in {m:?}");
                    }
                }
                _ => {
                    let got = f.set_exception(os_error());
                    if matches!(m, M::Pending | M::Running) {
                        assert_eq!(got, Ok(()));
                        m = M::Err;
                    } else {
                        assert!(got.is_err(), "set_exception in {m:?}");
                    }
                }
            }
            assert_eq!(f.running(), m == M::Running, "{m:?}");
            assert_eq!(f.cancelled(), matches!(m, M::Cancelled | M::Notified));
            assert_eq!(f.done(), !matches!(m, M::Pending | M::Running));
            let ended = usize::from(f.done());
            assert_eq!(
                callbacks.load(Ordering::SeqCst),
                ended,
                "callbacks in {m:?}"
            );
        }
    }
}

// ------------------------------------------------------------------------------------------
// B. result() / exception() with timeout
// ------------------------------------------------------------------------------------------

// CPython B1
#[test]
fn result_with_zero_timeout_reports_each_state() {
    let [p, r, c, cn, e, s]: [Future<i32>; 6] = six_states()
        .into_iter()
        .map(|(_, f)| f)
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    assert_eq!(p.result(ZERO), Err(FutureError::Timeout));
    assert_eq!(r.result(ZERO), Err(FutureError::Timeout));
    assert_eq!(c.result(ZERO), Err(FutureError::Cancelled));
    assert_eq!(cn.result(ZERO), Err(FutureError::Cancelled));
    assert_eq!(e.result(ZERO), Err(os_error()));
    assert_eq!(s.result(ZERO), Ok(&42));
}

// CPython B2
#[test]
fn blocking_result_returns_value_set_by_another_thread() {
    for _ in 0..100 {
        let f: Future<i32> = Future::new();
        let (go, h) = act_concurrently(&f, |f| f.set_result(42).unwrap());
        go.send(()).unwrap();
        assert_eq!(f.result(LONG), Ok(&42));
        h.join().unwrap();
    }
    // And with no timeout at all (CPython B9: `result(None)` waits as long as it takes).
    let f: Future<i32> = Future::new();
    let (go, h) = act_concurrently(&f, |f| f.set_result(7).unwrap());
    go.send(()).unwrap();
    assert_eq!(f.result(None), Ok(&7));
    h.join().unwrap();
}

// CPython B2, B9 (every blocked waiter wakes on one completion)
#[test]
fn many_blocked_waiters_all_wake_on_one_set_result() {
    let f: Future<u64> = Future::new();
    let barrier = Arc::new(Barrier::new(9));
    let waiters: Vec<_> = (0..8)
        .map(|i| {
            let f = f.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                if i % 2 == 0 {
                    *f.result(None).unwrap()
                } else {
                    *f.result(Some(Duration::from_secs(30))).unwrap()
                }
            })
        })
        .collect();
    barrier.wait();
    f.set_result(99).unwrap();
    for w in waiters {
        assert_eq!(w.join().unwrap(), 99);
    }
}

// CPython B3
#[test]
fn blocking_result_wakes_with_cancelled_when_another_thread_cancels() {
    for _ in 0..100 {
        let f: Future<i32> = Future::new();
        let (go, h) = act_concurrently(&f, |f| assert!(f.cancel()));
        go.send(()).unwrap();
        assert_eq!(
            f.result(Some(Duration::from_secs(30))),
            Err(FutureError::Cancelled)
        );
        h.join().unwrap();
    }
}

// CPython B4
#[test]
fn exception_with_zero_timeout_reports_each_state() {
    let [p, r, c, cn, e, s]: [Future<i32>; 6] = six_states()
        .into_iter()
        .map(|(_, f)| f)
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    assert_eq!(p.exception(ZERO), Err(FutureError::Timeout));
    assert_eq!(r.exception(ZERO), Err(FutureError::Timeout));
    assert_eq!(c.exception(ZERO), Err(FutureError::Cancelled));
    assert_eq!(cn.exception(ZERO), Err(FutureError::Cancelled));
    assert_eq!(e.exception(ZERO), Ok(Some(os_error())));
    assert_eq!(s.exception(ZERO), Ok(None));
}

// CPython B5
#[test]
fn blocking_exception_returns_error_set_by_another_thread() {
    for _ in 0..100 {
        let f: Future<i32> = Future::new();
        let (go, h) = act_concurrently(&f, |f| f.set_exception(os_error()).unwrap());
        go.send(()).unwrap();
        assert_eq!(
            f.exception(Some(Duration::from_secs(30))),
            Ok(Some(os_error()))
        );
        h.join().unwrap();
    }
}

// CPython B6 (an "empty" failure is still a failure, never a default value)
#[test]
fn panic_with_empty_or_non_string_payload_still_fails_the_future() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let empty = pool.spawn(|| -> i32 { panic!("") }).unwrap();
    match empty.result(None) {
        Err(FutureError::Panicked { message, .. }) => assert_eq!(message, ""),
        other => panic!("expected an empty panic, got {other:?}"),
    }
    assert!(empty.exception(None).unwrap().is_some());

    struct Zst;
    let zst = pool
        .spawn(|| -> i32 { std::panic::panic_any(Zst) })
        .unwrap();
    assert!(matches!(
        zst.result(None),
        Err(FutureError::Panicked { .. })
    ));

    // A task's own zero-sized error is a *value*: the future succeeds with `Err(Zst)`.
    #[derive(Debug, PartialEq)]
    struct MyErr;
    let own = pool.spawn(|| -> Result<i32, MyErr> { Err(MyErr) }).unwrap();
    assert_eq!(own.result(None), Ok(&Err(MyErr)));
    assert_eq!(own.exception(None), Ok(None));
}

const PANIC_LINE: u32 = line!() + 2;
fn explode(n: i32) -> i32 {
    panic!("kaboom {n}")
}

// CPython B7, B8 (a task's panic reaches the caller with its message and location; every read
// of a failed future gives an equal error)
#[test]
fn task_panic_message_and_location_reach_the_caller() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let f = pool.submit(explode, 42).unwrap();
    let err = f.result(None).unwrap_err();
    match &err {
        FutureError::Panicked { message, location } => {
            assert_eq!(message, "kaboom 42");
            let loc = location
                .as_ref()
                .expect("the crate's hook records the location");
            assert!(loc.file.ends_with("future.rs"), "{loc}");
            assert_eq!(loc.line, PANIC_LINE, "{loc}");
            assert_eq!(loc.column, 5, "{loc}");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert_eq!(err.panic_message(), Some("kaboom 42"));
    assert!(err.to_string().contains("kaboom 42"), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("future.rs:{PANIC_LINE}:5")),
        "{err}"
    );
    // Repeated reads (also through exception()) agree.
    assert_eq!(f.result(None).unwrap_err(), err);
    assert_eq!(f.exception(None), Ok(Some(err.clone())));
    // The worker survived (CPython E5).
    assert_eq!(pool.spawn(|| 1).unwrap().result(None), Ok(&1));
}

// CPython B9
#[test]
fn timed_out_result_does_not_cancel_the_future() {
    let f: Future<i32> = Future::new();
    assert_eq!(
        f.result(Some(Duration::from_millis(20))),
        Err(FutureError::Timeout)
    );
    assert_eq!(
        f.exception(Some(Duration::from_millis(1))),
        Err(FutureError::Timeout)
    );
    assert!(!f.done() && !f.cancelled());
    f.set_result(5).unwrap();
    assert_eq!(f.result(None), Ok(&5));

    // The same with a pool future that is running.
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::<i32>::start(&pool);
    let g = gate.future.clone();
    assert_eq!(g.result(ZERO), Err(FutureError::Timeout));
    assert!(g.running());
    gate.open(9);
    assert_eq!(g.result(None), Ok(&9));
}

// CPython B9 (a timeout too large for the clock means "wait forever", never a panic)
#[test]
fn huge_timeout_does_not_panic() {
    let huge = Some(Duration::from_secs(u64::MAX));
    let _dog = watchdog(HANG, "huge_timeout_does_not_panic");

    let done = finished_with(1);
    assert_eq!(done.result(huge), Ok(&1));
    assert_eq!(done.exception(huge), Ok(None));

    let f: Future<i32> = Future::new();
    let (go, h) = act_concurrently(&f, |f| f.set_result(2).unwrap());
    go.send(()).unwrap();
    assert_eq!(f.result(huge), Ok(&2));
    h.join().unwrap();

    let g: Future<i32> = Future::new();
    let (go, h) = act_concurrently(&g, |g| g.set_result(3).unwrap());
    go.send(()).unwrap();
    let sets = wait([&g, &done], huge, ReturnWhen::AllCompleted);
    assert_eq!(sets.done.len(), 2);
    h.join().unwrap();

    let k: Future<i32> = Future::new();
    let (go, h) = act_concurrently(&k, |k| k.set_result(4).unwrap());
    let mut it = as_completed([&k], huge);
    go.send(()).unwrap();
    assert_eq!(it.next().unwrap().unwrap(), k);
    assert!(it.next().is_none());
    h.join().unwrap();
}

// ------------------------------------------------------------------------------------------
// Rust-only behaviours
// ------------------------------------------------------------------------------------------

// CPython G3, H1 (futures compare by identity, so they can be map keys: the book's to_do_map)
#[test]
fn futures_compare_and_hash_by_identity() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let mut to_do: HashMap<Future<String>, &str> = HashMap::new();
    for cc in ["BR", "CN", "IN"] {
        let f = pool.submit(|cc: &str| cc.to_lowercase(), cc).unwrap();
        to_do.insert(f, cc);
    }
    assert_eq!(to_do.len(), 3);
    for f in as_completed(to_do.keys(), None) {
        let f = f.unwrap();
        let cc = to_do[&f];
        assert_eq!(f.result(None).unwrap(), &cc.to_lowercase());
    }
    let a: Future<i32> = Future::new();
    let b: Future<i32> = Future::new();
    assert_eq!(a, a.clone());
    assert_ne!(a, b);
    let set: HashSet<Future<i32>> = [a.clone(), a.clone(), b.clone()].into_iter().collect();
    assert_eq!(set.len(), 2);
    // Identity is stable across state changes.
    let key = a.clone();
    a.set_result(1).unwrap();
    assert!(set.contains(&key));
}

// Rust: into_result moves the value out of the last handle
#[test]
fn into_result_moves_the_value_out_of_the_last_handle() {
    // A non-Clone value.
    struct NotClone(Vec<u8>);
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let f = pool.spawn(|| NotClone(vec![1, 2, 3])).unwrap();
    let v = f.into_result().ok().unwrap();
    assert_eq!(v.0, [1, 2, 3]);

    // With another handle alive: Shared, and the other handle keeps the value.
    let g = finished_with(String::from("kept"));
    let other = g.clone();
    assert_eq!(g.into_result(), Err(FutureError::Shared));
    assert_eq!(other.result(None).unwrap(), "kept");
    assert_eq!(other.into_result(), Ok(String::from("kept")));

    // Failures and cancellation come through as errors.
    assert_eq!(failed::<i32>().into_result(), Err(os_error()));
    assert_eq!(
        cancelled::<i32>().into_result(),
        Err(FutureError::Cancelled)
    );

    // It waits for the future, like result(None), then moves the value out.
    let (tx, rx) = mpsc::channel::<String>();
    let late = pool.spawn(move || rx.recv().unwrap()).unwrap();
    let sender = thread::spawn(move || tx.send("late".to_owned()).unwrap());
    assert_eq!(late.into_result(), Ok("late".to_owned()));
    sender.join().unwrap();
}

// Rust: a task waiting on its own future would wait forever
#[test]
fn task_waiting_on_its_own_future_gets_deadlock() {
    let _dog = watchdog(HANG, "own_future_deadlock");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let (tx, rx) = mpsc::channel::<Future<Option<FutureError>>>();
    let f = pool
        .spawn(move || {
            let me = rx.recv().unwrap();
            me.result(None).err()
        })
        .unwrap();
    tx.send(f.clone()).unwrap();
    assert_eq!(f.result(None), Ok(&Some(FutureError::Deadlock)));

    // exception(None) reports it as an error too, and a wait with a timeout simply times out.
    let (tx, rx) = mpsc::channel::<Future<(FutureError, FutureError)>>();
    let g = pool
        .spawn(move || {
            let me = rx.recv().unwrap();
            (
                me.exception(None).unwrap_err(),
                me.result(Some(Duration::from_millis(10))).unwrap_err(),
            )
        })
        .unwrap();
    tx.send(g.clone()).unwrap();
    assert_eq!(
        g.result(None),
        Ok(&(FutureError::Deadlock, FutureError::Timeout))
    );
}

// Rust: a worker waiting with no timeout on a queued future of its own pool runs it inline
#[test]
fn worker_waiting_on_a_queued_future_of_its_own_pool_does_not_deadlock() {
    let _dog = watchdog(HANG, "worker_inline_result");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let (tx, rx) = mpsc::channel::<Vec<Future<i32>>>();
    let outer = pool
        .spawn(move || {
            let inner = rx.recv().unwrap();
            let via_result: i32 = *inner[0].result(None).unwrap();
            let via_exception = inner[1].exception(None).unwrap();
            let via_into = inner[2].clone().into_result(); // shared: value stays
            (via_result, via_exception.is_none(), via_into)
        })
        .unwrap();
    // Queued behind `outer` on the only worker.
    let runs = Arc::new(AtomicUsize::new(0));
    let inner: Vec<Future<i32>> = (1..=3)
        .map(|i| {
            let runs = Arc::clone(&runs);
            pool.spawn(move || {
                runs.fetch_add(1, Ordering::SeqCst);
                i * 10
            })
            .unwrap()
        })
        .collect();
    assert!(inner.iter().all(|f| f.state() == FutureState::Pending));
    tx.send(inner.clone()).unwrap();
    assert_eq!(
        outer.result(None),
        Ok(&(10, true, Err(FutureError::Shared)))
    );
    let got: Vec<i32> = inner.iter().map(|f| *f.result(None).unwrap()).collect();
    assert_eq!(got, [10, 20, 30]);
    // Each ran exactly once: the worker reaching them later in the queue finds them taken.
    pool.shutdown(true, false);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

// Rust: `into_result` called from inside a done callback (the value is still shared with the
// callback's own handle) must answer `Shared`, not wait for the callbacks to finish — they
// cannot, since this is one of them. Bounded, so a hang fails cleanly.
#[test]
fn into_result_inside_a_done_callback_reports_shared_instead_of_hanging() {
    let f: Future<String> = Future::new();
    let moved = f.clone();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |_| {
        let _ = tx.send(moved.into_result());
    });
    let setter = f.clone();
    drop(f);
    // Complete on a helper thread: if `into_result` spins, only that thread is stuck.
    thread::spawn(move || setter.set_result("v".to_owned()).unwrap());
    let got = rx.recv_timeout(LONG.unwrap());
    assert_eq!(
        got,
        Ok(Err(FutureError::Shared)),
        "into_result inside a done callback must not wait for the callbacks to end"
    );
}
