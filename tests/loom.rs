//! Model checks of the future state machine, of `submit` racing `shutdown`, and of waiter
//! wake-ups, explored exhaustively by loom (up to `LOOM_MAX_PREEMPTIONS` preemptions).
//!
//! Run with `RUSTFLAGS="--cfg concurrent_futures_loom" cargo test --release --test loom`. Each model states its
//! invariant; a lost wake-up shows up as a loom deadlock, a data race on the outcome slot as a
//! loom causality error. The `CPython` IDs cite `tests/CPYTHON.md`.
#![cfg(concurrent_futures_loom)]

use concurrent_futures::{
    as_completed, wait, CancelToken, Cancelled, Future, FutureError, ReturnWhen, SubmitError,
    ThreadPoolExecutor, WhenFull,
};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use std::future::{Future as StdFuture, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

/// A model explored up to `preemptions` preemptions whatever `LOOM_MAX_PREEMPTIONS` says: the
/// `wait`/`as_completed` models have three racing threads and many atomic steps, and at 3 they
/// take minutes. At 2 they still catch a lost wake-up injected into waiter registration.
fn bounded(preemptions: usize) -> loom::model::Builder {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(preemptions);
    model
}

/// `set_result` racing `cancel`: exactly one wins, the callback runs exactly once, and every
/// reader sees the winner's outcome.
#[test]
fn set_result_racing_cancel_resolves_exactly_once() {
    loom::model(|| {
        let f: Future<u32> = Future::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        f.add_done_callback(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        let setter = {
            let f = f.clone();
            thread::spawn(move || f.set_result(7).is_ok())
        };
        let canceller = {
            let f = f.clone();
            thread::spawn(move || f.cancel())
        };
        let set = setter.join().unwrap();
        let cancelled = canceller.join().unwrap();
        assert!(set ^ cancelled, "exactly one of set_result and cancel wins");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        match f.result(None) {
            Ok(v) => assert!(set && *v == 7),
            Err(e) => assert!(cancelled && e == FutureError::Cancelled),
        }
    });
}

/// A `result(None)` that registers while another thread completes the future is always woken.
#[test]
fn result_waiter_racing_completion_is_never_lost() {
    loom::model(|| {
        let f: Future<u32> = Future::new();
        let setter = {
            let f = f.clone();
            thread::spawn(move || f.set_result(5).unwrap())
        };
        assert_eq!(f.result(None), Ok(&5));
        setter.join().unwrap();
    });
}

/// A callback added while the future completes runs exactly once, after the value is visible.
#[test]
fn callback_racing_completion_runs_exactly_once() {
    loom::model(|| {
        let f: Future<u32> = Future::new();
        let seen = Arc::new(AtomicUsize::new(0));
        let setter = {
            let f = f.clone();
            thread::spawn(move || f.set_result(3).unwrap())
        };
        let s = seen.clone();
        f.add_done_callback(move |f| {
            assert_eq!(f.result(None), Ok(&3));
            s.fetch_add(1, Ordering::SeqCst);
        });
        setter.join().unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    });
}

/// `into_result` on the last handle, racing the completer's callbacks, never reads a moved value.
#[test]
fn into_result_waits_for_callbacks_of_the_completer() {
    loom::model(|| {
        let f: Future<String> = Future::new();
        f.add_done_callback(|f| assert_eq!(f.result(None).map(String::as_str), Ok("x")));
        let setter = {
            let f = f.clone();
            thread::spawn(move || f.set_result("x".to_owned()).unwrap())
        };
        // The setter's handle is dropped when its thread ends; ours may then be the last.
        let mine = f;
        setter.join().unwrap();
        assert_eq!(mine.into_result().as_deref(), Ok("x"));
    });
}

/// Two pending futures, and two threads about to complete them (with 1 and 2).
fn completed_concurrently() -> (Future<u8>, Future<u8>, [thread::JoinHandle<()>; 2]) {
    let (a, b) = (Future::new(), Future::new());
    let setter = |f: &Future<u8>, v| {
        let f = f.clone();
        thread::spawn(move || f.set_result(v).unwrap())
    };
    let setters = [setter(&a, 1), setter(&b, 2)];
    (a, b, setters)
}

/// `wait(FirstCompleted)` with two futures completed concurrently returns, and
/// `wait(AllCompleted)` then sees both: no lost wake-up when completions coincide.
#[test]
fn wait_wakes_when_two_futures_complete_together() {
    bounded(2).check(|| {
        let (a, b, setters) = completed_concurrently();
        let first = wait([&a, &b], None, ReturnWhen::FirstCompleted);
        assert!(!first.done.is_empty());
        let all = wait([&a, &b], None, ReturnWhen::AllCompleted);
        assert_eq!(all.done.len(), 2);
        for setter in setters {
            setter.join().unwrap();
        }
    });
}

/// `as_completed` over two futures completed concurrently yields each exactly once.
#[test]
fn as_completed_yields_each_concurrent_completion_once() {
    bounded(2).check(|| {
        let (a, b, setters) = completed_concurrently();
        let mut got: Vec<u8> = as_completed([a, b], None)
            .map(|f| *f.unwrap().result(None).unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        for setter in setters {
            setter.join().unwrap();
        }
    });
}

/// `submit` racing `shutdown(wait)` while the pool's only worker is idle: the submit either
/// fails with `Shutdown` or its task runs; it is never stranded in the queue by a worker that
/// decided to exit (tokio #8056's shape).
#[test]
fn submit_racing_shutdown_never_strands_a_task() {
    loom::model(|| {
        let pool = Arc::new(ThreadPoolExecutor::new(1).unwrap());
        // Warm up: one worker exists and goes idle.
        assert_eq!(pool.submit(|x: u8| x, 1).unwrap().result(None), Ok(&1));
        let submitter = {
            let pool = pool.clone();
            thread::spawn(move || pool.submit(|x: u8| x, 9).ok())
        };
        pool.shutdown(true, false);
        let submitted = submitter.join().unwrap();
        // A submit that passed the gate before shutdown is waited for by a second shutdown
        // (the drop), which joins the worker it may have started.
        drop(Arc::try_unwrap(pool).ok().expect("only handle"));
        if let Some(f) = submitted {
            assert_eq!(f.result(None), Ok(&9));
        }
    });
}

/// A user `cancel` racing the worker's claim: the future ends exactly one way, and `wait`
/// counts it as done once the pool has shut down.
#[test]
fn cancel_racing_worker_claim_ends_one_way() {
    loom::model(|| {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        let f = pool.submit(|x: u8| x, 4).unwrap();
        let canceller = {
            let f = f.clone();
            thread::spawn(move || f.cancel())
        };
        let cancelled = canceller.join().unwrap();
        pool.shutdown(true, false);
        match f.result(None) {
            Ok(v) => assert!(!cancelled && *v == 4),
            Err(e) => assert!(cancelled && e == FutureError::Cancelled),
        }
        assert_eq!(wait([&f], None, ReturnWhen::AllCompleted).done.len(), 1);
    });
}

/// A `submit` racing the pool's only worker as it goes idle and to sleep is always picked up:
/// the submitter sees the worker idle and wakes it, or the worker sees the job.
#[test]
fn submit_racing_a_worker_going_to_sleep_is_never_lost() {
    loom::model(|| {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        assert_eq!(pool.submit(|x: u8| x, 1).unwrap().result(None), Ok(&1));
        // The worker is now somewhere between publishing that result and sleeping.
        assert_eq!(pool.submit(|x: u8| x, 2).unwrap().result(None), Ok(&2));
    });
}

/// Sequential submits reuse the one idle worker, never starting a second (CPython J4), even
/// when the worker takes a task before its submitter has claimed an idle worker for it, so that
/// the claim lands on the worker's next idle period instead.
#[test]
fn sequential_submits_never_start_a_second_worker() {
    bounded(2).check(|| {
        let pool = ThreadPoolExecutor::new(2).unwrap();
        for i in 0..3u8 {
            assert_eq!(pool.submit(|x: u8| x, i).unwrap().result(None), Ok(&i));
        }
        assert_eq!(pool.num_threads(), 1);
    });
}

/// Two tasks submitted back to back to a pool of two started, idle workers: each task waits
/// for the other, so both workers must run at once. The submitter wakes a sleeper only for the
/// first claim of a burst and the woken worker passes the wake-up on; if that hand-off were
/// lost, the second task would never start and loom would report the deadlock.
#[test]
fn a_burst_of_submits_wakes_every_worker_it_claimed() {
    bounded(1).check(|| {
        let pool = ThreadPoolExecutor::new(2).unwrap();
        pool.start_workers().unwrap();
        let (first, second) = (Future::<()>::new(), Future::<()>::new());
        let (f1, s1) = (first.clone(), second.clone());
        let a = pool
            .spawn(move || {
                f1.set_result(()).unwrap();
                s1.result(None).is_ok()
            })
            .unwrap();
        let b = pool
            .spawn(move || {
                second.set_result(()).unwrap();
                first.result(None).is_ok()
            })
            .unwrap();
        assert_eq!(a.result(None), Ok(&true));
        assert_eq!(b.result(None), Ok(&true));
    });
}

/// The reader of a `map` racing the worker that runs the batch: the reader either finds each
/// result published or registers as waiting before the worker looks, so it is always woken
/// (a lost wake-up is a loom deadlock), and it reads each item's own result.
#[test]
fn map_reader_racing_the_batch_worker_is_never_left_asleep() {
    loom::model(|| {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        let out: Vec<_> = pool.map(|x: u8| x * 2, [1, 2]).collect();
        assert_eq!(out, [Ok(2), Ok(4)]);
    });
}

/// Dropping a `map` racing its worker's claims: every item runs at most once, the ones the
/// reader saw ran, and shutdown(wait) returns (the worker stops claiming after the stop).
#[test]
fn dropping_a_map_racing_its_worker_runs_each_item_at_most_once() {
    loom::model(|| {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let mut map = pool.map(
            move |x: u8| {
                counted.fetch_add(1, Ordering::Relaxed);
                x
            },
            [1, 2],
        );
        assert_eq!(map.next(), Some(Ok(1)));
        drop(map);
        pool.shutdown(true, false);
        let ran = runs.load(Ordering::Relaxed);
        assert!((1..=2).contains(&ran), "{ran} runs");
    });
}

/// `shutdown(cancel_futures)` racing a `map` reader while the worker holds the batch's only
/// token: each item ends one way, run (its value) or cancelled, and the reader is woken for
/// a cancelled item it waits on.
#[test]
fn shutdown_cancelling_a_map_wakes_its_reader_and_each_item_ends_one_way() {
    bounded(2).check(|| {
        let pool = Arc::new(ThreadPoolExecutor::new(1).unwrap());
        let map = pool.map(|x: u8| x, [1, 2]);
        let stopper = {
            let pool = pool.clone();
            thread::spawn(move || pool.shutdown(false, true))
        };
        for (item, want) in map.zip([1, 2]) {
            assert!(
                item == Ok(want) || item == Err(FutureError::Cancelled),
                "{item:?}"
            );
        }
        stopper.join().unwrap();
    });
}

/// A waker a model thread can sleep on: a lost wake-up leaves it asleep, which loom reports as
/// a deadlock.
#[derive(Default)]
struct WakeSignal {
    woken: Mutex<bool>,
    cond: Condvar,
}

impl Wake for WakeSignal {
    fn wake(self: std::sync::Arc<Self>) {
        *self.woken.lock().unwrap() = true;
        self.cond.notify_all();
    }
}

impl WakeSignal {
    fn waker() -> (std::sync::Arc<Self>, Waker) {
        let signal = std::sync::Arc::new(Self::default());
        (signal.clone(), Waker::from(signal))
    }

    /// Sleeps until woken, then re-arms.
    fn sleep(&self) {
        let mut woken = self.woken.lock().unwrap();
        while !*woken {
            woken = self.cond.wait(woken).unwrap();
        }
        *woken = false;
    }
}

fn poll<F: StdFuture + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

/// Polls `f` to completion, sleeping on `signal` between polls: the executor's loop.
fn block_on<F: StdFuture + Unpin>(mut f: F, signal: &WakeSignal, waker: &Waker) -> F::Output {
    loop {
        match poll(&mut f, waker) {
            Poll::Ready(out) => return out,
            Poll::Pending => signal.sleep(),
        }
    }
}

/// `.await` registering its waker while another thread completes the future (with a callback,
/// so the completer's drain runs): the awaiting task is always woken and sees the value.
#[test]
fn await_racing_set_result_is_never_lost() {
    loom::model(|| {
        let f: Future<u32> = Future::new();
        f.add_done_callback(|_| {});
        let setter = {
            let f = f.clone();
            thread::spawn(move || f.set_result(5).unwrap())
        };
        let (signal, waker) = WakeSignal::waker();
        assert_eq!(block_on((&f).into_future(), &signal, &waker), Ok(&5));
        setter.join().unwrap();
    });
}

/// A re-poll with a new waker racing completion: the new waker is the one woken (or the
/// re-poll sees the end itself); waiting on the new waker alone never hangs.
#[test]
fn await_repolled_with_a_new_waker_racing_completion_wakes_the_new_one() {
    loom::model(|| {
        let f: Future<u32> = Future::new();
        let (_first, waker1) = WakeSignal::waker();
        let mut awaiting = (&f).into_future();
        assert!(poll(&mut awaiting, &waker1).is_pending());
        let setter = {
            let f = f.clone();
            thread::spawn(move || f.set_result(6).unwrap())
        };
        let (second, waker2) = WakeSignal::waker();
        assert_eq!(block_on(awaiting, &second, &waker2), Ok(&6));
        setter.join().unwrap();
    });
}

/// Dropping a registered await while another thread completes the future: no crash, and the
/// slot (with its waker clone) is freed either by the drop's deregistration or by the drain.
#[test]
fn await_dropped_racing_completion_leaks_no_waker() {
    loom::model(|| {
        let f: Future<u32> = Future::new();
        let (signal, waker) = WakeSignal::waker();
        let mut awaiting = (&f).into_future();
        assert!(poll(&mut awaiting, &waker).is_pending());
        let setter = {
            let f = f.clone();
            thread::spawn(move || f.set_result(7).unwrap())
        };
        drop(awaiting);
        setter.join().unwrap();
        // Ours and the `Waker`'s: no clone left in a slot.
        assert_eq!(std::sync::Arc::strong_count(&signal), 2);
        assert_eq!(f.result(None), Ok(&7));
    });
}

/// An owned `.await` (which moves the value out) racing a completer that runs a callback: it
/// is woken only once the callbacks are done, or registers late while they run, and is then
/// always woken; it never reads a moved value. The value moves out unless the setter's handle
/// was still alive at that moment.
#[test]
fn owned_await_racing_completion_with_callbacks_is_woken_after_them() {
    bounded(2).check(|| {
        let f: Future<String> = Future::new();
        f.add_done_callback(|f| assert_eq!(f.result(None).map(String::as_str), Ok("x")));
        let setter = {
            let f = f.clone();
            thread::spawn(move || f.set_result("x".to_owned()).unwrap())
        };
        let (signal, waker) = WakeSignal::waker();
        match block_on(f.into_future(), &signal, &waker) {
            Ok(v) => assert_eq!(v, "x"),
            Err(e) => assert_eq!(e, FutureError::Shared),
        }
        setter.join().unwrap();
    });
}

/// A scope's join racing its task's end on a worker: `scope` never returns before the task's
/// closure ran (and its outcome is published), and never misses the end (no hang).
#[test]
fn scope_join_racing_its_task_never_returns_early() {
    bounded(2).check(|| {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        let ran = AtomicUsize::new(0);
        let f = pool.scope(|s| s.spawn(|| ran.fetch_add(1, Ordering::Relaxed)).unwrap());
        assert_eq!(ran.load(Ordering::Relaxed), 1);
        assert!(f.done());
    });
}

/// A thread blocked in `CancelToken::wait` racing `cancel` on another thread is always woken
/// (the flag is raised under the lock the waiter checks it with), and sees it cancelled.
#[test]
fn token_wait_racing_cancel_is_never_lost() {
    loom::model(|| {
        let token = CancelToken::new();
        let canceller = {
            let token = token.clone();
            thread::spawn(move || token.cancel())
        };
        assert!(token.wait(None));
        assert_eq!(token.check(), Err(Cancelled));
        canceller.join().unwrap();
    });
}

/// A cancellable task finishing while its token is cancelled ends exactly one way: it ran and
/// returned its value, it saw the token and ended cancelled, or it was cancelled while still
/// queued and never ran. Its done-callback runs exactly once, `result` waiters and `wait` see
/// the same end, and `cancelled()` agrees with it.
#[test]
fn cancel_racing_completion_ends_one_way_and_waiters_see_it() {
    bounded(2).check(|| {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        let token = CancelToken::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let f = pool
            .spawn_cancellable(&token, move || {
                counted.fetch_add(1, Ordering::Relaxed);
                CancelToken::current().check()?;
                Ok(7u8)
            })
            .unwrap();
        let callbacks = Arc::new(AtomicUsize::new(0));
        let c = callbacks.clone();
        f.add_done_callback(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        let canceller = {
            let token = token.clone();
            thread::spawn(move || token.cancel())
        };
        let seen = f.result(None).copied();
        canceller.join().unwrap();
        assert_eq!(wait([&f], None, ReturnWhen::AllCompleted).done.len(), 1);
        pool.shutdown(true, false);
        let ran = runs.load(Ordering::Relaxed);
        match seen {
            Ok(v) => assert!(v == 7 && ran == 1 && !f.cancelled()),
            Err(e) => assert!(e == FutureError::Cancelled && ran <= 1 && f.cancelled()),
        }
        assert_eq!(callbacks.load(Ordering::SeqCst), 1);
    });
}

/// A pool of one busy worker and a queue of capacity 1 that is full: returns the pool, the
/// queued task's future, and the gate that releases the busy task.
fn full_pool() -> (Arc<ThreadPoolExecutor>, Future<u8>, Future<()>) {
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .queue_capacity(1)
            .when_full(WhenFull::Block)
            .build()
            .unwrap(),
    );
    let (started, gate) = (Future::<()>::new(), Future::<()>::new());
    let (s, g) = (started.clone(), gate.clone());
    pool.spawn(move || {
        s.set_result(()).unwrap();
        g.result(None).unwrap();
    })
    .unwrap();
    started.result(None).unwrap();
    let queued = pool.spawn(|| 2u8).unwrap();
    (pool, queued, gate)
}

/// A submit blocked on a full queue racing `shutdown`: it is woken with the shutdown error
/// (or refused by the gate if it comes after), never left waiting; the queued task still runs.
#[test]
fn a_blocked_submit_racing_shutdown_gets_the_shutdown_error() {
    bounded(2).check(|| {
        let (pool, queued, gate) = full_pool();
        let submitter = {
            let pool = pool.clone();
            thread::spawn(move || pool.spawn(|| 3u8).map(|_| ()))
        };
        pool.shutdown(false, false);
        assert_eq!(submitter.join().unwrap(), Err(SubmitError::Shutdown));
        gate.set_result(()).unwrap();
        assert_eq!(queued.result(None), Ok(&2));
        drop(Arc::try_unwrap(pool).ok().expect("only handle"));
    });
}

/// A submit blocked on a full queue racing the worker that frees its slot: it is always woken
/// and admitted, and its task runs. At 1 preemption: the worker then runs three tasks and
/// goes to sleep around the submitter's claim, and at 2 the model ran past 15 minutes; the
/// wake-up under test (the fences of `take_slot` and `slot_freed`) needs one preemption to
/// fail: reading `blocked` before freeing the slot in `slot_freed` deadlocks it at 1.
#[test]
fn a_blocked_submit_is_woken_when_a_worker_frees_a_slot() {
    bounded(1).check(|| {
        let (pool, queued, gate) = full_pool();
        let submitter = {
            let pool = pool.clone();
            thread::spawn(move || pool.spawn(|| 3u8))
        };
        gate.set_result(()).unwrap();
        let third = submitter
            .join()
            .unwrap()
            .expect("admitted once a slot frees");
        assert_eq!(queued.result(None), Ok(&2));
        assert_eq!(third.result(None), Ok(&3));
    });
}

// Not modelled: wake-token accounting across two or more workers. Three threads of pool
// machinery took loom more than 10 minutes at 2 preemptions; `tests/stress.rs`, the J4 idle-reuse
// test under `CF_TEST_STRESS` and the H9 wake-up test exercise it instead.
