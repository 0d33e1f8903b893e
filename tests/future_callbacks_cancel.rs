//! `Future`: done callbacks and cancel semantics. Ports CPython's `test_future.py` (areas C and
//! D of `tests/CPYTHON.md`, the catalog every `CPython` ID here refers to). The state machine
//! and `result`/`exception` are in `future.rs`.

mod common;

use common::{
    act_concurrently, cancelled, cancelled_and_notified, capture_logs, failed, finished_with,
    logs_containing, os_error, running, six_states, watchdog, BlockedPool, Gate, HANG,
};
use concurrent_futures::{
    wait, Future, FutureError, FutureState, MapOptions, ReturnWhen, ThreadPoolExecutor,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

const ZERO: Option<Duration> = Some(Duration::ZERO);
const LONG: Option<Duration> = Some(common::LONG);

// ------------------------------------------------------------------------------------------
// C. Done callbacks
// ------------------------------------------------------------------------------------------

// CPython C1
#[test]
fn callback_added_before_completion_sees_the_result() {
    let f = Future::new();
    let seen = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&seen);
    let me = f.clone();
    f.add_done_callback(move |cb_f: &Future<i32>| {
        assert_eq!(*cb_f, me, "the callback gets the future itself");
        assert!(cb_f.done());
        *slot.lock().unwrap() = Some(cb_f.result(None).cloned());
    });
    assert!(seen.lock().unwrap().is_none());
    f.set_result(5).unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(Ok(5)));
}

// CPython C2
#[test]
fn callback_sees_the_exception() {
    let f: Future<i32> = Future::new();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |f| tx.send(f.exception(None)).unwrap());
    let err = FutureError::Panicked {
        message: "test".into(),
        location: None,
    };
    f.set_exception(err.clone()).unwrap();
    assert_eq!(rx.try_recv().unwrap(), Ok(Some(err)));
}

// CPython C3
#[test]
fn cancel_runs_callbacks_synchronously_and_they_see_cancelled() {
    let f: Future<i32> = Future::new();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |f| tx.send((f.cancelled(), f.result(ZERO).cloned())).unwrap());
    assert!(f.cancel());
    assert_eq!(rx.try_recv().unwrap(), (true, Err(FutureError::Cancelled)));
}

// CPython C4
#[test]
fn panicking_callback_is_logged_and_later_callbacks_still_run() {
    capture_logs();
    let f: Future<i32> = Future::new();
    let second_ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&second_ran);
    f.add_done_callback(|_| panic!("doh! C4-marker"));
    f.add_done_callback(move |_| flag.store(true, Ordering::SeqCst));
    f.set_result(5).unwrap(); // does not panic
    assert!(second_ran.load(Ordering::SeqCst));
    assert_eq!(f.result(None), Ok(&5));
    let lines = logs_containing("C4-marker");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("exception calling callback for <Future at 0x"),
        "{lines:?}"
    );
    assert!(lines[0].contains("doh!"), "{lines:?}");
    assert!(
        lines[0].starts_with("ERROR concurrent_futures"),
        "{lines:?}"
    );
}

// CPython C5
#[test]
fn callback_added_after_success_runs_immediately_on_the_caller() {
    let f = finished_with(5);
    let me = thread::current().id();
    let seen = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&seen);
    f.add_done_callback(move |f: &Future<i32>| {
        *slot.lock().unwrap() = Some((thread::current().id(), *f.result(None).unwrap()));
    });
    assert_eq!(*seen.lock().unwrap(), Some((me, 5)));
}

// CPython C6
#[test]
fn callback_added_after_failure_runs_immediately_and_sees_the_exception() {
    let f: Future<i32> = failed();
    let seen = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&seen);
    f.add_done_callback(move |f| *slot.lock().unwrap() = Some(f.exception(None)));
    assert_eq!(*seen.lock().unwrap(), Some(Ok(Some(os_error()))));
}

// CPython C7
#[test]
fn callback_added_after_cancel_runs_immediately_and_sees_cancelled() {
    for f in [cancelled::<i32>(), cancelled_and_notified()] {
        let seen = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&seen);
        f.add_done_callback(move |f| flag.store(f.cancelled(), Ordering::SeqCst));
        assert!(seen.load(Ordering::SeqCst));
    }
}

// CPython C8
#[test]
fn panicking_callback_on_a_finished_future_is_caught_and_logged() {
    capture_logs();
    let f = finished_with(5);
    f.add_done_callback(|_| panic!("doh! C8-marker")); // returns normally
    let later = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&later);
    f.add_done_callback(move |_| flag.store(true, Ordering::SeqCst));
    assert!(later.load(Ordering::SeqCst));
    let lines = logs_containing("C8-marker");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("exception calling callback for"),
        "{lines:?}"
    );
    assert!(lines[0].contains("doh!"), "{lines:?}");
}

// CPython C9
#[test]
fn callbacks_run_in_registration_order() {
    for complete in [
        (|f: &Future<i32>| f.set_result(1).unwrap()) as fn(&Future<i32>),
        |f| f.set_exception(os_error()).unwrap(),
        |f| assert!(f.cancel()),
    ] {
        let f: Future<i32> = Future::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        for i in 0..10 {
            let order = Arc::clone(&order);
            f.add_done_callback(move |_| order.lock().unwrap().push(i));
        }
        complete(&f);
        assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
    }
    // Also through a pool worker.
    let mut bp = BlockedPool::new();
    let f = bp.pool.spawn(|| 3).unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 0..10 {
        let order = Arc::clone(&order);
        f.add_done_callback(move |_| order.lock().unwrap().push(i));
    }
    bp.release();
    bp.pool.shutdown(true, false);
    assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
}

// CPython C10
#[test]
fn callbacks_run_exactly_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = || {
        let calls = Arc::clone(&calls);
        move |_: &Future<i32>| {
            calls.fetch_add(1, Ordering::SeqCst);
        }
    };
    // cancel twice; then the executor-style acknowledgement; then completion attempts.
    let f: Future<i32> = Future::new();
    f.add_done_callback(counter());
    assert!(f.cancel());
    assert!(f.cancel());
    assert_eq!(f.set_running_or_notify_cancel(), Ok(false));
    assert!(f.cancel());
    assert!(f.set_result(1).is_err());
    assert!(f.set_exception(os_error()).is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A set_result, then a refused second set.
    calls.store(0, Ordering::SeqCst);
    let g: Future<i32> = Future::new();
    g.add_done_callback(counter());
    g.set_result(1).unwrap();
    assert!(g.set_result(2).is_err());
    assert!(!g.cancel());
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Added after completion: called once, now, and not stored for later.
    g.add_done_callback(counter());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(g.set_exception(os_error()).is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

// CPython C11
#[test]
fn callbacks_run_on_the_thread_that_completes_the_future() {
    // A pool worker.
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::<thread::ThreadId>::start(&pool);
    let f = gate.future.clone();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |_| tx.send(thread::current().id()).unwrap());
    let worker = pool.spawn(|| thread::current().id()).unwrap();
    gate.open(thread::current().id());
    let worker_id = *worker.result(None).unwrap();
    assert_eq!(rx.recv().unwrap(), worker_id);
    assert_ne!(worker_id, thread::current().id());

    // The cancelling thread.
    let c: Future<i32> = Future::new();
    let (tx, rx) = mpsc::channel();
    c.add_done_callback(move |_| tx.send(thread::current().id()).unwrap());
    let c2 = c.clone();
    let canceller = thread::spawn(move || {
        assert!(c2.cancel());
        thread::current().id()
    })
    .join()
    .unwrap();
    assert_eq!(rx.recv().unwrap(), canceller);

    // The thread calling set_result.
    let s: Future<i32> = Future::new();
    let (tx, rx) = mpsc::channel();
    s.add_done_callback(move |_| tx.send(thread::current().id()).unwrap());
    let s2 = s.clone();
    let setter = thread::spawn(move || {
        s2.set_result(1).unwrap();
        thread::current().id()
    })
    .join()
    .unwrap();
    assert_eq!(rx.recv().unwrap(), setter);
}

// CPython C12
#[test]
fn shutdown_with_cancel_futures_runs_callbacks_of_cancelled_futures() {
    let _dog = watchdog(HANG, "shutdown_cancel_futures_callbacks");
    let mut bp = BlockedPool::new();
    let fired = Arc::new(AtomicUsize::new(0));
    let queued: Vec<Future<i32>> = (0..50)
        .map(|i| {
            let f = bp.pool.spawn(move || i).unwrap();
            let fired = Arc::clone(&fired);
            f.add_done_callback(move |f| {
                assert!(f.cancelled());
                fired.fetch_add(1, Ordering::SeqCst);
            });
            f
        })
        .collect();
    bp.pool.shutdown(false, true);
    assert_eq!(fired.load(Ordering::SeqCst), 50);
    assert!(queued.iter().all(Future::cancelled));
    // wait/as_completed see them as done (acknowledged): the pool notified them.
    let sets = wait(&queued, ZERO, ReturnWhen::AllCompleted);
    assert_eq!(sets.done.len(), 50);
    bp.release();
    bp.pool.shutdown(true, false);
}

// ------------------------------------------------------------------------------------------
// D. Cancel semantics, set_running_or_notify_cancel
// ------------------------------------------------------------------------------------------

// CPython D1
#[test]
fn cancel_only_succeeds_while_pending_or_already_cancelled() {
    let expected = [true, false, true, true, false, false];
    for ((name, f), want) in six_states().iter().zip(expected) {
        let before = f.state();
        assert_eq!(f.cancel(), want, "cancel() for {name}");
        match *name {
            "PENDING" => assert_eq!(f.state(), FutureState::Cancelled),
            _ => assert_eq!(f.state(), before, "{name} unchanged by cancel()"),
        }
    }
    // C&N stays C&N: a second notify is still refused.
    let cn: Future<i32> = cancelled_and_notified();
    assert!(cn.cancel());
    assert!(cn.set_running_or_notify_cancel().is_err());
    // The running standalone future still completes normally.
    let r: Future<i32> = running();
    assert!(!r.cancel());
    r.set_result(1).unwrap();
    assert_eq!(r.result(None), Ok(&1));
}

// CPython D2
#[test]
fn set_running_or_notify_cancel_follows_the_state_machine() {
    let f: Future<i32> = Future::new();
    assert_eq!(f.set_running_or_notify_cancel(), Ok(true));
    assert!(f.running());
    assert!(!f.cancel());
    let err = f.set_running_or_notify_cancel().unwrap_err();
    assert!(
        err.to_string().starts_with("RUNNING: <Future at 0x"),
        "{err}"
    );

    let c: Future<i32> = Future::new();
    assert!(c.cancel());
    assert_eq!(c.set_running_or_notify_cancel(), Ok(false));
    assert!(c.done() && c.cancelled());
    let err = c.set_running_or_notify_cancel().unwrap_err();
    assert!(
        err.to_string().starts_with("CANCELLED_AND_NOTIFIED: "),
        "{err}"
    );

    let done = finished_with(1);
    let err = done.set_running_or_notify_cancel().unwrap_err();
    assert!(err.to_string().starts_with("FINISHED: "), "{err}");
    assert_eq!(done.result(None), Ok(&1));

    // The acknowledgement wakes a `wait` that was blocked on the cancelled future.
    let c: Future<i32> = cancelled();
    let (go, h) = act_concurrently(&c, |c| {
        assert_eq!(c.set_running_or_notify_cancel(), Ok(false))
    });
    go.send(()).unwrap();
    let sets = wait([&c], LONG, ReturnWhen::AllCompleted);
    assert!(sets.done.contains(&c), "{sets:?}");
    h.join().unwrap();
}

// CPython D3 (done() is true; the collection waits need the acknowledgement: see wait.rs and
// as_completed.rs for the full tests)
#[test]
fn cancelled_but_unnotified_future_is_done_yet_not_collected() {
    let c: Future<i32> = cancelled();
    assert!(c.done());
    let sets = wait([&c], ZERO, ReturnWhen::AllCompleted);
    assert!(sets.not_done.contains(&c));
    assert_eq!(c.set_running_or_notify_cancel(), Ok(false));
    let sets = wait([&c], ZERO, ReturnWhen::AllCompleted);
    assert!(sets.done.contains(&c));
}

// CPython D4
#[test]
fn cancel_then_shutdown_does_not_hang() {
    let _dog = watchdog(HANG, "cancel_then_shutdown_does_not_hang");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    assert_eq!(pool.spawn(|| 0).unwrap().result(None), Ok(&0)); // warm the worker
    let f = pool.spawn(|| 1).unwrap();
    f.cancel();
    pool.shutdown(true, false);
    assert!(f.done());
    assert!(f.cancelled() || f.result(ZERO) == Ok(&1));
}

// CPython D5
#[test]
fn map_timeout_cancels_the_timed_out_and_the_queued_items() {
    let _dog = watchdog(HANG, "map_timeout_cancels");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (first_started_tx, first_started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let l = Arc::clone(&log);
    let first = pool
        .spawn(move || {
            l.lock().unwrap().push("first started".to_owned());
            first_started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            l.lock().unwrap().push("first stopped".to_owned());
        })
        .unwrap();
    first_started_rx.recv().unwrap();

    let l = Arc::clone(&log);
    let mut it = pool
        .map_with(
            move |ident: &'static str| {
                l.lock().unwrap().push(format!("{ident} started"));
            },
            ["second", "third"],
            MapOptions::new().timeout(Duration::ZERO),
        )
        .unwrap();
    assert!(matches!(it.next(), Some(Err(FutureError::Timeout))));
    assert!(it.next().is_none());
    drop(it);
    release_tx.send(()).unwrap();
    first.result(None).unwrap();
    pool.shutdown(true, false);
    assert_eq!(*log.lock().unwrap(), ["first started", "first stopped"]);
}

// CPython D1, D6, C10 (cancel racing a worker: exactly one wins, callbacks run once)
#[test]
fn cancel_racing_the_worker_has_exactly_one_winner() {
    let _dog = watchdog(HANG, "cancel race");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let n = 2000;
    let ran: Arc<Vec<AtomicBool>> = Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
    let calls: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
    let fs: Vec<Future<usize>> = (0..n)
        .map(|i| {
            let ran = Arc::clone(&ran);
            let f = pool
                .spawn(move || {
                    ran[i].store(true, Ordering::SeqCst);
                    i
                })
                .unwrap();
            let calls = Arc::clone(&calls);
            f.add_done_callback(move |_| {
                calls[i].fetch_add(1, Ordering::SeqCst);
            });
            f
        })
        .collect();
    let won: Vec<bool> = fs.iter().map(Future::cancel).collect();
    pool.shutdown(true, false);
    for (i, f) in fs.iter().enumerate() {
        assert_eq!(won[i], !ran[i].load(Ordering::SeqCst), "task {i}");
        if won[i] {
            assert_eq!(f.result(ZERO), Err(FutureError::Cancelled));
        } else {
            assert_eq!(f.result(ZERO), Ok(&i));
        }
        assert_eq!(calls[i].load(Ordering::SeqCst), 1, "callbacks of task {i}");
    }
    // wait sees every one as done: the cancelled ones were acknowledged by the workers.
    assert!(wait(&fs, ZERO, ReturnWhen::AllCompleted)
        .not_done
        .is_empty());
}

// Rust: handles and the iterators cross threads
#[test]
fn futures_and_iterators_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Future<i32>>();
    send_sync::<Future<Vec<String>>>();
    send::<concurrent_futures::AsCompleted<i32>>();
    send::<concurrent_futures::DoneAndNotDone<i32>>();
    send_sync::<FutureError>();
}

// CPython D6
#[test]
fn cancel_never_interrupts_a_running_task() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let b = Arc::clone(&barrier);
    let f = pool
        .spawn(move || {
            b.wait();
            go_rx.recv().unwrap();
            "ran to completion"
        })
        .unwrap();
    barrier.wait(); // the task is running
    assert!(f.running());
    assert!(!f.cancel());
    assert!(!f.cancelled() && f.running());
    go_tx.send(()).unwrap();
    assert_eq!(f.result(None), Ok(&"ran to completion"));
    assert!(!f.cancel());
}
