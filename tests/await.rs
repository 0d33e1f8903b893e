//! `.await` on a `Future`: with tokio, with `futures::executor::block_on`, and polled by hand
//! with counting wakers to pin the waker protocol (re-registration, deregistration on drop, the
//! wake that comes only after callbacks so the value can move).

mod common;

use common::{stress_iterations, watchdog, BlockedPool, Gate, HANG};
use concurrent_futures::{Future, FutureError, ThreadPoolExecutor};
use futures::executor::block_on;
use std::future::{Future as StdFuture, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Counting {
    fn wakes(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting() -> (Arc<Counting>, Waker) {
    let c = Arc::new(Counting::default());
    (c.clone(), Waker::from(c))
}

fn poll<F: StdFuture + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

#[test]
fn awaiting_a_pool_future_in_tokio_moves_its_value_out() {
    let _dog = watchdog(HANG, "await_tokio");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let out = runtime().block_on(async {
        let f = pool.spawn(|| vec![1u8, 2, 3]).unwrap();
        f.await
    });
    assert_eq!(out, Ok(vec![1, 2, 3]));
}

#[test]
fn awaiting_in_block_on_waits_for_a_gated_task() {
    let _dog = watchdog(HANG, "await_block_on");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::<u32>::start(&pool);
    let f = gate.future.clone();
    let opener = std::thread::spawn(move || gate.open(7));
    assert_eq!(block_on(async { (&f).await.copied() }), Ok(7));
    opener.join().unwrap();
}

#[test]
fn awaiting_a_finished_future_is_ready_on_the_first_poll_without_a_wake() {
    let f = Future::new();
    f.set_result(5).unwrap();
    let (count, waker) = counting();
    let mut a = f.into_future();
    assert_eq!(poll(&mut a, &waker), Poll::Ready(Ok(5)));
    assert_eq!(count.wakes(), 0);
}

#[test]
fn awaiting_a_cancelled_future_returns_cancelled() {
    let _dog = watchdog(HANG, "await_cancelled");
    let blocked = BlockedPool::new();
    let f = blocked.pool.spawn(|| 1u8).unwrap();
    let (count, waker) = counting();
    let mut a = (&f).into_future();
    assert_eq!(poll(&mut a, &waker), Poll::Pending);
    assert!(f.cancel());
    assert_eq!(count.wakes(), 1, "cancel wakes the awaiting task");
    assert_eq!(
        poll(&mut a, &waker),
        Poll::Ready(Err(FutureError::Cancelled))
    );
    drop(a);
    // The owned form says the same, and so does result().
    assert_eq!(
        block_on(f.clone().into_future()),
        Err(FutureError::Cancelled)
    );
    assert_eq!(f.result(None), Err(FutureError::Cancelled));
}

#[test]
fn cancelling_from_another_tokio_task_wakes_the_awaiting_one() {
    let _dog = watchdog(HANG, "await_cancel_tokio");
    let blocked = BlockedPool::new();
    let f = blocked.pool.spawn(|| 1u8).unwrap();
    let g = f.clone();
    let out = runtime().block_on(async move {
        let awaiting = tokio::spawn(async move { (&g).await.copied() });
        tokio::task::yield_now().await;
        assert!(f.cancel());
        awaiting.await.unwrap()
    });
    assert_eq!(out, Err(FutureError::Cancelled));
}

#[test]
fn await_result_and_callbacks_see_the_same_panic() {
    let _dog = watchdog(HANG, "await_panic");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let f = pool.spawn(|| -> u8 { panic!("boom in task") }).unwrap();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |f| tx.send(f.result(None).unwrap_err()).unwrap());
    let awaited = block_on(async { (&f).await.copied() }).unwrap_err();
    let from_result = f.result(None).unwrap_err();
    let from_callback = rx.recv().unwrap();
    assert_eq!(awaited.panic_message(), Some("boom in task"));
    assert_eq!(awaited, from_result);
    assert_eq!(awaited, from_callback);
    // The last handle moves the same failure out.
    assert_eq!(block_on(f.into_future()), Err(from_result));
}

#[test]
fn awaiting_an_owned_handle_while_others_exist_is_shared_and_a_reference_borrows() {
    let f = Future::new();
    f.set_result(String::from("v")).unwrap();
    let other = f.clone();
    assert_eq!(block_on(f.into_future()), Err(FutureError::Shared));
    assert_eq!(
        block_on((&other).into_future()).map(String::as_str),
        Ok("v")
    );
    assert_eq!(block_on(other.into_future()), Ok(String::from("v")));
}

#[test]
fn a_repoll_with_another_waker_replaces_the_registered_one() {
    let f: Future<u8> = Future::new();
    let mut a = (&f).into_future();
    let (first, waker1) = counting();
    let (second, waker2) = counting();
    assert_eq!(poll(&mut a, &waker1), Poll::Pending);
    assert_eq!(poll(&mut a, &waker2), Poll::Pending);
    // Re-polling with the same waker again clones nothing new and changes nothing.
    assert_eq!(poll(&mut a, &waker2), Poll::Pending);
    f.set_result(3).unwrap();
    assert_eq!((first.wakes(), second.wakes()), (0, 1));
    assert_eq!(poll(&mut a, &waker2), Poll::Ready(Ok(&3)));
}

#[test]
fn dropping_the_awaiting_future_deregisters_its_waker() {
    let f: Future<u8> = Future::new();
    let (count, waker) = counting();
    let mut a = f.clone().into_future();
    assert_eq!(poll(&mut a, &waker), Poll::Pending);
    // Our waker, plus the clone held by the registered slot.
    assert_eq!(Arc::strong_count(&count), 3);
    drop(a);
    assert_eq!(
        Arc::strong_count(&count),
        2,
        "the slot and its waker are freed"
    );
    f.set_result(1).unwrap();
    assert_eq!(count.wakes(), 0, "a dropped await is not woken");
    assert_eq!(f.result(None), Ok(&1));
}

#[test]
fn an_aborted_tokio_task_leaves_the_future_and_pool_usable() {
    let _dog = watchdog(HANG, "await_abort");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::<u32>::start(&pool);
    let f = gate.future.clone();
    let rt = runtime();
    let g = f.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = rt.spawn(async move {
        let mut a = (&g).into_future();
        // Registered, then parked: the first poll is Pending because the gate is closed.
        let first = futures::poll!(&mut a);
        tx.send(first.is_pending()).unwrap();
        a.await.copied()
    });
    assert!(rt.block_on(rx).unwrap());
    task.abort();
    assert!(rt.block_on(task).unwrap_err().is_cancelled());
    gate.open(11);
    assert_eq!(f.result(None), Ok(&11));
    assert_eq!(rt.block_on(async { (&f).await.copied() }), Ok(11));
    assert_eq!(pool.spawn(|| 2u8).unwrap().result(None), Ok(&2));
}

/// A done-callback that blocks until released, reporting when it is running.
fn blocking_callback(f: &Future<String>) -> (mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (running_tx, running_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    f.add_done_callback(move |f| {
        assert_eq!(f.result(None).map(String::as_str), Ok("moved"));
        running_tx.send(()).unwrap();
        release_rx.lock().unwrap().recv().unwrap();
    });
    (running_rx, release_tx)
}

#[test]
fn an_owned_await_is_woken_only_after_callbacks_so_the_value_moves_at_once() {
    let _dog = watchdog(HANG, "await_after_callbacks");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::<String>::start(&pool);
    let f = gate.future.clone();
    let (running, release) = blocking_callback(&f);
    let (count, waker) = counting();
    let mut a = f.into_future();
    assert_eq!(poll(&mut a, &waker), Poll::Pending);
    gate.open("moved".to_owned());
    running.recv().unwrap();
    // The callback is running on the worker: the value is visible but cannot move yet, so the
    // task has not been woken, and a spurious poll stays pending without spinning.
    assert_eq!(count.wakes(), 0);
    assert_eq!(poll(&mut a, &waker), Poll::Pending);
    release.send(()).unwrap();
    common::eventually("the await is woken", || count.wakes() == 1);
    assert_eq!(poll(&mut a, &waker), Poll::Ready(Ok("moved".to_owned())));
}

#[test]
fn an_await_starting_while_callbacks_run_registers_late_and_is_woken_after_them() {
    let _dog = watchdog(HANG, "await_late");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::<String>::start(&pool);
    let f = gate.future.clone();
    let (running, release) = blocking_callback(&f);
    gate.open("moved".to_owned());
    running.recv().unwrap();
    let (count, waker) = counting();
    let mut a = f.into_future();
    assert_eq!(
        poll(&mut a, &waker),
        Poll::Pending,
        "callbacks still running"
    );
    release.send(()).unwrap();
    common::eventually("the late await is woken", || count.wakes() == 1);
    assert_eq!(poll(&mut a, &waker), Poll::Ready(Ok("moved".to_owned())));
}

#[test]
fn a_task_awaiting_its_own_future_gets_deadlock() {
    let _dog = watchdog(HANG, "await_own_future");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let (tx, rx) = mpsc::channel::<Future<Option<FutureError>>>();
    let f = pool
        .spawn(move || {
            let me = rx.recv().unwrap();
            block_on((&me).into_future()).err()
        })
        .unwrap();
    tx.send(f.clone()).unwrap();
    assert_eq!(f.result(None), Ok(&Some(FutureError::Deadlock)));
}

#[test]
fn a_worker_blocking_on_an_await_of_its_own_queued_future_runs_it_inline() {
    let _dog = watchdog(HANG, "await_inline");
    let pool = Arc::new(ThreadPoolExecutor::new(1).unwrap());
    let p = pool.clone();
    let outer = pool
        .spawn(move || {
            let inner = p.spawn(|| 40u32).unwrap();
            block_on(inner.into_future()).map(|v| v + 2)
        })
        .unwrap();
    assert_eq!(outer.result(None), Ok(&Ok(42)));
}

#[test]
fn many_futures_awaited_together_all_complete() {
    let _dog = watchdog(HANG, "await_many");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let futures: Vec<_> = (0..2_000u64)
        .map(|n| pool.spawn(move || n * 2).unwrap())
        .collect();
    let total: u64 = runtime().block_on(async {
        let handles: Vec<_> = futures
            .into_iter()
            .map(|f| tokio::spawn(f.into_future()))
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap().unwrap();
        }
        total
    });
    assert_eq!(total, (0..2_000u64).map(|n| n * 2).sum());
}

#[test]
fn tokio_timeout_on_a_borrowed_await_leaves_the_future_untouched() {
    let _dog = watchdog(HANG, "await_timeout");
    let blocked = BlockedPool::new();
    let f = blocked.pool.spawn(|| 5u8).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let timed_out = rt.block_on(async { tokio::time::timeout(Duration::from_millis(1), &f).await });
    assert!(timed_out.is_err());
    assert!(!f.done());
    drop(blocked);
    assert_eq!(rt.block_on(f.into_future()), Ok(5));
}

#[test]
fn awaits_racing_completion_on_real_threads_are_never_lost() {
    let _dog = watchdog(HANG, "await_race_stress");
    for _ in 0..stress_iterations(300) {
        // Borrowed await against a promise set by another thread.
        let f: Future<u32> = Future::new();
        let setter = {
            let f = f.clone();
            std::thread::spawn(move || f.set_result(9).unwrap())
        };
        assert_eq!(block_on((&f).into_future()), Ok(&9));
        setter.join().unwrap();

        // Owned await against a pool task with a callback: woken after it, the value moves.
        let pool = ThreadPoolExecutor::new(1).unwrap();
        let g = pool.spawn(|| String::from("v")).unwrap();
        g.add_done_callback(|g| assert_eq!(g.result(None).map(String::as_str), Ok("v")));
        assert_eq!(block_on(g.into_future()), Ok(String::from("v")));
    }
}
