//! Cancelling work that runs: `CancelToken`, tasks that end as cancelled, one token over many
//! tasks, `scope` and `map`, on the thread pool (and `Executor::submit_cancellable`).
//!
//! Tasks are held with channels and the token itself, never with sleeps. Races that decide
//! how a task ends are repeated (`CF_TEST_STRESS` multiplies the rounds).

mod common;
use common::{stress_iterations, watchdog, within, BlockedPool, HANG, LONG};

use concurrent_futures::{
    as_completed, wait, CancelToken, Cancelled, FutureError, FutureState, MapOptions, ReturnWhen,
    ThreadPoolExecutor,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A cancellable task that reports it started, then waits on its token (at most `LONG`) and
/// ends cancelled if the token was cancelled.
fn wait_for_cancel(started: mpsc::Sender<()>) -> impl FnOnce() -> Result<u32, Cancelled> {
    move || {
        started.send(()).unwrap();
        let token = CancelToken::current();
        if token.wait(Some(LONG)) {
            return Err(Cancelled);
        }
        Ok(0)
    }
}

#[test]
fn a_running_task_that_returns_cancelled_ends_cancelled() {
    let _dog = watchdog(HANG, "running task cancelled");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let token = CancelToken::new();
    let (tx, started) = mpsc::channel();
    let f = pool.spawn_cancellable(&token, wait_for_cancel(tx)).unwrap();
    started.recv_timeout(LONG).unwrap();
    assert!(f.running());
    assert!(
        !f.cancel(),
        "Future::cancel stays Python's: a running future refuses"
    );
    token.cancel();
    assert_eq!(f.result(Some(LONG)), Err(FutureError::Cancelled));
    assert!(f.cancelled() && f.done() && !f.running());
    assert_eq!(f.state(), FutureState::Cancelled);
    assert_eq!(f.exception(None), Err(FutureError::Cancelled));
    assert!(f.cancel(), "a cancelled future reports cancelled");
    assert!(f.to_string().contains("state=cancelled"), "{f}");
    assert_eq!(f.into_result(), Err(FutureError::Cancelled));
    // The worker lives on.
    assert_eq!(
        pool.submit(|n: u8| n, 5).unwrap().result(Some(LONG)),
        Ok(&5)
    );
}

#[test]
fn a_task_that_finishes_despite_a_cancelled_token_keeps_its_value() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let token = CancelToken::new();
    let (tx, started) = mpsc::channel();
    let (go_tx, go) = mpsc::channel::<()>();
    let f = pool
        .spawn_cancellable(&token, move || {
            tx.send(()).unwrap();
            go.recv().unwrap();
            Ok(CancelToken::current().is_cancelled())
        })
        .unwrap();
    started.recv_timeout(LONG).unwrap();
    token.cancel();
    go_tx.send(()).unwrap();
    // It saw the flag, and chose to finish: its value stands.
    assert_eq!(f.result(Some(LONG)), Ok(&true));
    assert!(!f.cancelled());
}

#[test]
fn cancelling_a_token_cancels_its_pending_tasks_at_once_and_drops_them() {
    let mut blocked = BlockedPool::new();
    let token = CancelToken::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let alive = Arc::new(());
    let futures: Vec<_> = (0..3)
        .map(|i| {
            let (runs, alive) = (runs.clone(), alive.clone());
            blocked
                .pool
                .submit_cancellable(
                    &token,
                    move |n: u32| {
                        let _keep = alive;
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok(n)
                    },
                    i,
                )
                .unwrap()
        })
        .collect();
    assert!(futures.iter().all(|f| f.state() == FutureState::Pending));
    token.cancel();
    // Before any worker saw them: cancelled, acknowledged (wait counts them) and dropped.
    assert!(futures.iter().all(|f| f.cancelled()));
    assert_eq!(
        wait(&futures, Some(Duration::ZERO), ReturnWhen::AllCompleted)
            .done
            .len(),
        3
    );
    assert_eq!(
        Arc::strong_count(&alive),
        1,
        "the closures were dropped by cancel()"
    );
    blocked.release();
    blocked.pool.shutdown(true, false);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[test]
fn a_task_submitted_with_a_cancelled_token_is_not_queued() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let token = CancelToken::new();
    token.cancel();
    let f = pool.spawn_cancellable(&token, || Ok(1)).unwrap();
    assert_eq!(f.result(Some(Duration::ZERO)), Err(FutureError::Cancelled));
    assert_eq!(pool.num_threads(), 0, "no worker was started for it");
    // A closed pool refuses first, token or not.
    pool.shutdown(true, false);
    assert_eq!(
        pool.spawn_cancellable(&token, || Ok(1)).unwrap_err(),
        concurrent_futures::SubmitError::Shutdown
    );
    let refused = pool.scope(|s| s.spawn_cancellable(&token, || Ok(2)).map(|_| ()));
    assert_eq!(refused, Err(concurrent_futures::SubmitError::Shutdown));
}

#[test]
fn callbacks_wait_as_completed_and_await_see_a_running_task_end_cancelled() {
    let _dog = watchdog(HANG, "waiters of a cancelled running task");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let token = CancelToken::new();
    let (tx, started) = mpsc::channel();
    let f = pool.spawn_cancellable(&token, wait_for_cancel(tx)).unwrap();
    started.recv_timeout(LONG).unwrap();
    let (cb_tx, cb) = mpsc::channel();
    f.add_done_callback(move |f| cb_tx.send((f.cancelled(), f.result(None).err())).unwrap());
    let waiter = {
        let f = f.clone();
        std::thread::spawn(move || {
            wait([&f], Some(LONG), ReturnWhen::FirstCompleted)
                .done
                .len()
        })
    };
    let collector = {
        let f = f.clone();
        std::thread::spawn(move || {
            as_completed([f], Some(LONG))
                .map(|r| r.is_ok())
                .collect::<Vec<_>>()
        })
    };
    let awaiter = {
        let f = f.clone();
        std::thread::spawn(move || futures::executor::block_on(async { (&f).await.err() }))
    };
    token.cancel();
    assert_eq!(
        cb.recv_timeout(LONG).unwrap(),
        (true, Some(FutureError::Cancelled))
    );
    assert_eq!(waiter.join().unwrap(), 1);
    assert_eq!(collector.join().unwrap(), [true]);
    assert_eq!(awaiter.join().unwrap(), Some(FutureError::Cancelled));
}

#[test]
fn a_panic_in_a_cancellable_task_is_a_panic_not_a_cancel() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let token = CancelToken::new();
    let f = pool
        .spawn_cancellable(&token, || -> Result<u8, Cancelled> { panic!("boom") })
        .unwrap();
    assert_eq!(
        f.result(Some(LONG)).unwrap_err().panic_message(),
        Some("boom")
    );
    assert!(!f.cancelled());
}

#[test]
fn the_current_token_is_the_tasks_own_and_gone_after_it() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let token = CancelToken::new();
    let seen = token.clone();
    let mine = pool
        .spawn_cancellable(&token, move || Ok(CancelToken::try_current() == Some(seen)))
        .unwrap();
    assert_eq!(mine.result(Some(LONG)), Ok(&true));
    // The same (only) worker, a task without a token: none.
    let plain = pool.spawn(|| CancelToken::try_current().is_none()).unwrap();
    assert_eq!(plain.result(Some(LONG)), Ok(&true));
    assert!(CancelToken::try_current().is_none());
}

#[test]
fn a_plain_task_run_inline_by_a_cancellable_one_sees_no_token() {
    let pool = Arc::new(ThreadPoolExecutor::new(1).unwrap());
    let token = CancelToken::new();
    let inner_pool = pool.clone();
    let f = pool
        .spawn_cancellable(&token, move || {
            // The only worker is this one: waiting runs the inner task here.
            let inner = inner_pool
                .spawn(|| CancelToken::try_current().is_none())
                .unwrap();
            let outer_still = CancelToken::try_current().is_some();
            Ok(*inner.result(None).unwrap() && outer_still && CancelToken::try_current().is_some())
        })
        .unwrap();
    assert_eq!(f.result(Some(LONG)), Ok(&true));
}

#[test]
fn cancelling_a_parent_token_stops_the_tasks_of_its_children() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let parent = CancelToken::new();
    let child = parent.child();
    let (tx, started) = mpsc::channel();
    let f = pool.spawn_cancellable(&child, wait_for_cancel(tx)).unwrap();
    started.recv_timeout(LONG).unwrap();
    let sibling = parent.child();
    sibling.cancel();
    assert!(!parent.is_cancelled() && !child.is_cancelled());
    parent.cancel();
    assert_eq!(f.result(Some(LONG)), Err(FutureError::Cancelled));
}

/// Repeated, for the same race as the `map` token test, with scoped tasks.
#[test]
fn one_token_stops_a_whole_scope() {
    let _dog = watchdog(HANG, "scope with a token");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    for _ in 0..stress_iterations(30) {
        let token = CancelToken::new();
        let runs = AtomicUsize::new(0);
        let (tx, started) = mpsc::channel();
        let outcomes: Vec<_> = pool.scope(|s| {
            // Two running (each worker busy), three pending behind them.
            let futures: Vec<_> = (0..5)
                .map(|_| {
                    let tx = tx.clone();
                    let runs = &runs;
                    s.spawn_cancellable(&token, move || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        wait_for_cancel(tx)()
                    })
                    .unwrap()
                })
                .collect();
            started.recv_timeout(LONG).unwrap();
            started.recv_timeout(LONG).unwrap();
            token.cancel();
            futures
        });
        // `scope` returned: every task ended, each as cancelled; the pending ones never ran.
        assert!(outcomes.iter().all(|f| f.cancelled()));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}

#[test]
fn scope_submit_cancellable_with_a_cancelled_token_never_runs() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let token = CancelToken::new();
    token.cancel();
    let ran = AtomicUsize::new(0);
    let f = pool.scope(|s| {
        s.submit_cancellable(
            &token,
            |n: usize| {
                ran.fetch_add(n, Ordering::SeqCst);
                Ok(n)
            },
            1,
        )
        .unwrap()
    });
    assert!(f.cancelled());
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

/// Cancel racing a task's own end: every round the future ends exactly one way, the task ran
/// at most once (exactly once if it has a value), its callback ran once, and `cancelled()`
/// agrees with `result()`.
#[test]
fn cancel_racing_completion_ends_each_task_exactly_one_way() {
    let _dog = watchdog(HANG, "cancel racing completion");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let rounds = stress_iterations(300);
    let (mut values, mut cancelled) = (0, 0);
    for _ in 0..rounds {
        let token = CancelToken::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let f = pool
            .spawn_cancellable(&token, move || {
                r.fetch_add(1, Ordering::SeqCst);
                CancelToken::current().check()?;
                Ok(7u8)
            })
            .unwrap();
        let callbacks = Arc::new(AtomicUsize::new(0));
        let c = callbacks.clone();
        f.add_done_callback(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        let canceller = std::thread::spawn(move || token.cancel());
        let outcome = f.result(Some(LONG)).copied();
        canceller.join().unwrap();
        assert_eq!(
            wait([&f], Some(LONG), ReturnWhen::AllCompleted).done.len(),
            1
        );
        match outcome {
            Ok(7) => {
                values += 1;
                assert!(!f.cancelled());
                assert_eq!(runs.load(Ordering::SeqCst), 1);
            }
            Err(FutureError::Cancelled) => {
                cancelled += 1;
                assert!(f.cancelled());
                assert!(runs.load(Ordering::SeqCst) <= 1);
            }
            other => panic!("unexpected end {other:?}"),
        }
        assert_eq!(callbacks.load(Ordering::SeqCst), 1);
    }
    eprintln!("{rounds} rounds: {values} finished with their value, {cancelled} cancelled");
}

// ---------------------------------------------------------------------------------------------
// map and map_unordered
// ---------------------------------------------------------------------------------------------

/// A map item that reports it started, then waits for its token (at most `LONG`); returns
/// whether it was told to stop (`None` when it ran without a token).
fn item_waits_for_stop(started: mpsc::Sender<()>) -> impl Fn(u32) -> Option<bool> + Send + Sync {
    let started = std::sync::Mutex::new(started);
    move |_| {
        started.lock().unwrap().send(()).unwrap();
        CancelToken::try_current().map(|t| t.wait(Some(LONG)))
    }
}

#[test]
fn dropping_a_map_with_cancel_running_stops_its_running_items() {
    let _dog = watchdog(HANG, "map drop cancels running");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let (tx, started) = mpsc::channel();
    let stopped = Arc::new(AtomicUsize::new(0));
    let s = stopped.clone();
    let wait = item_waits_for_stop(tx);
    let map = pool
        .map_with(
            move |n| {
                let told = wait(n);
                if told == Some(true) {
                    s.fetch_add(1, Ordering::SeqCst);
                }
                told
            },
            0..6,
            MapOptions::new().cancel_running(true),
        )
        .unwrap();
    started.recv_timeout(LONG).unwrap();
    started.recv_timeout(LONG).unwrap();
    let t0 = Instant::now();
    drop(map);
    within("shutdown after the map stopped", move || {
        pool.shutdown(true, false)
    });
    assert!(t0.elapsed() < LONG);
    // The two running items were told; the four pending never started.
    assert_eq!(stopped.load(Ordering::SeqCst), 2);
    assert!(started.try_recv().is_err());
}

#[test]
fn without_cancel_running_map_items_run_without_a_token() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let out: Vec<_> = pool
        .map(|_: u8| CancelToken::try_current().is_none(), 0..4)
        .map(Result::unwrap)
        .collect();
    assert!(out.into_iter().all(|none| none));
}

#[test]
fn a_map_timeout_with_cancel_running_stops_its_running_items() {
    let _dog = watchdog(HANG, "map timeout cancels running");
    for buffered in [false, true] {
        let pool = ThreadPoolExecutor::new(2).unwrap();
        let (tx, _started) = mpsc::channel();
        let mut options = MapOptions::new()
            .timeout(Duration::from_millis(20))
            .cancel_running(true);
        if buffered {
            options = options.buffersize(2);
        }
        let mut map = pool
            .map_with(item_waits_for_stop(tx), 0..4, options)
            .unwrap();
        // Items wait for their token, so the deadline always passes first.
        assert_eq!(map.next(), Some(Err(FutureError::Timeout)));
        assert_eq!(map.next(), None);
        within("items stop after the timeout", move || {
            pool.shutdown(true, false)
        });
    }
}

#[test]
fn dropping_map_unordered_with_cancel_running_stops_its_running_items() {
    let _dog = watchdog(HANG, "map_unordered drop cancels running");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let (tx, started) = mpsc::channel();
    let map = pool
        .map_unordered_with(
            item_waits_for_stop(tx),
            0..5,
            MapOptions::new().cancel_running(true).buffersize(3),
        )
        .unwrap();
    started.recv_timeout(LONG).unwrap();
    started.recv_timeout(LONG).unwrap();
    drop(map);
    within("shutdown after map_unordered stopped", move || {
        pool.shutdown(true, false)
    });
}

/// Repeated: `cancel` wakes the running item before it stops the batch, and the worker that
/// item frees must not start the next one in between.
#[test]
fn a_map_token_cancels_its_pending_items_and_reaches_running_ones() {
    let _dog = watchdog(HANG, "map token");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    for _ in 0..stress_iterations(30) {
        let token = CancelToken::new();
        let (tx, started) = mpsc::channel();
        let mut map = pool
            .map_with(
                item_waits_for_stop(tx),
                0..3,
                MapOptions::new().cancel_token(&token),
            )
            .unwrap();
        started.recv_timeout(LONG).unwrap();
        token.cancel();
        // Item 0 ran under the token and was told; items 1 and 2 were still pending.
        assert_eq!(map.next(), Some(Ok(Some(true))));
        assert_eq!(map.next(), Some(Err(FutureError::Cancelled)));
        assert_eq!(map.next(), Some(Err(FutureError::Cancelled)));
        assert_eq!(map.next(), None);
    }
}

#[test]
fn cancel_running_never_cancels_the_callers_own_token() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let token = CancelToken::new();
    let map = pool
        .map_with(
            |n: u8| n,
            0..2,
            MapOptions::new().cancel_token(&token).cancel_running(true),
        )
        .unwrap();
    drop(map);
    assert!(!token.is_cancelled());
}

// ---------------------------------------------------------------------------------------------
// Through the Executor trait
// ---------------------------------------------------------------------------------------------

/// The trait exists with feature `process-pool` (default), on every platform.
#[cfg(feature = "process-pool")]
mod executor_trait {
    use super::*;
    use concurrent_futures::Executor;

    fn stop_when_told(_: ()) -> Result<u8, Cancelled> {
        CancelToken::current().sleep(LONG)?;
        Ok(1)
    }

    #[test]
    fn executor_submit_cancellable_works_on_threads() {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        let token = CancelToken::new();
        let f = Executor::submit_cancellable(&pool, &token, stop_when_told, ()).unwrap();
        while !f.running() {
            std::thread::yield_now();
        }
        let t0 = Instant::now();
        token.cancel();
        assert_eq!(f.result(Some(LONG)), Err(FutureError::Cancelled));
        assert!(t0.elapsed() < LONG);
    }
}

// ---------------------------------------------------------------------------------------------
// Process pool: the request crosses to the worker process
// ---------------------------------------------------------------------------------------------

/// The process pool exists on Unix with feature `process-pool` (default).
#[cfg(all(unix, feature = "process-pool"))]
mod process_pool {
    use super::*;
    use crate::common::process::{started_then_wait, Fifo};
    use concurrent_futures::{Executor, ProcessPoolExecutor};

    fn give_up(_: ()) -> Result<u8, Cancelled> {
        Err(Cancelled)
    }

    fn finish(n: u8) -> Result<u8, Cancelled> {
        Ok(n)
    }

    #[test]
    fn process_pool_a_task_returning_cancelled_ends_cancelled() {
        let _dog = watchdog(HANG, "process pool cancellable");
        let pool = ProcessPoolExecutor::new(1).unwrap();
        let token = CancelToken::new();
        let f = pool.submit_cancellable(&token, give_up, ()).unwrap();
        assert_eq!(f.result(Some(LONG)), Err(FutureError::Cancelled));
        assert!(f.cancelled());
        let g = Executor::submit_cancellable(&pool, &token, finish, 3).unwrap();
        assert_eq!(g.result(Some(LONG)), Ok(&3));
    }

    #[test]
    fn process_pool_a_token_cancels_queued_tasks_at_once() {
        let _dog = watchdog(HANG, "process pool pending cancel");
        let pool = ProcessPoolExecutor::new(1).unwrap();
        let (fifo, s, r) = Fifo::pair("cancel");
        let held = pool.submit(started_then_wait, (s, r)).unwrap();
        fifo.wait_started();
        let token = CancelToken::new();
        let queued: Vec<_> = (0..3)
            .map(|n| pool.submit_cancellable(&token, finish, n).unwrap())
            .collect();
        let mapped = pool
            .map_with(finish, 0..3u8, MapOptions::new().cancel_token(&token))
            .unwrap();
        token.cancel();
        // Cancelled and acknowledged before the manager reached them.
        assert!(queued.iter().all(|f| f.cancelled()));
        assert_eq!(
            wait(&queued, Some(Duration::ZERO), ReturnWhen::AllCompleted)
                .done
                .len(),
            3
        );
        fifo.release();
        assert!(held.result(Some(LONG)).is_ok());
        assert!(mapped.into_iter().all(|r| r == Err(FutureError::Cancelled)));
        // A cancelled token queues nothing more.
        let late = pool.submit_cancellable(&token, finish, 9).unwrap();
        assert!(late.cancelled());
    }

    /// Sleeps on its token in short steps, forever unless cancelled; returns its pid otherwise.
    fn sleeps_on_its_token(_: ()) -> Result<u32, Cancelled> {
        let token = CancelToken::current();
        loop {
            token.sleep(Duration::from_millis(10))?;
        }
    }

    /// Ignores its token: only a kill stops it.
    fn ignores_its_token(_: ()) -> Result<u32, Cancelled> {
        loop {
            std::thread::park();
        }
    }

    fn pid(_: ()) -> u32 {
        std::process::id()
    }

    fn pid_cancellable(_: ()) -> Result<u32, Cancelled> {
        Ok(std::process::id())
    }

    /// A task that checks its token stops when the token is cancelled in the parent: the request
    /// reaches the worker process while the task runs, the future ends cancelled (not a death),
    /// well before the grace period, and the worker lives on.
    #[test]
    fn process_pool_a_running_task_hears_the_cancel_and_its_worker_lives_on() {
        let _dog = watchdog(HANG, "process pool running cancel");
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .cancel_grace(LONG)
            .build()
            .unwrap();
        let before = *pool.submit(pid, ()).unwrap().result(Some(LONG)).unwrap();
        for round in 0..common::stress_iterations(13) {
            let token = CancelToken::new();
            let f = pool
                .submit_cancellable(&token, sleeps_on_its_token, ())
                .unwrap();
            while !f.running() {
                std::thread::yield_now();
            }
            token.cancel();
            assert_eq!(
                f.result(Some(LONG)),
                Err(FutureError::Cancelled),
                "round {round}"
            );
            assert!(f.cancelled());
        }
        let after = *pool.submit(pid, ()).unwrap().result(Some(LONG)).unwrap();
        assert_eq!(before, after, "the same worker ran on: nothing was killed");
    }

    /// A task that ignores its token is killed after the grace period; its future ends cancelled,
    /// callbacks, `wait` and `as_completed` see it, and a new worker takes the next task.
    #[test]
    fn process_pool_a_task_that_ignores_its_token_is_killed_after_the_grace_period() {
        let _dog = watchdog(HANG, "process pool forced cancel");
        let grace = Duration::from_millis(200);
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .cancel_grace(grace)
            .build()
            .unwrap();
        let token = CancelToken::new();
        let f = pool
            .submit_cancellable(&token, ignores_its_token, ())
            .unwrap();
        let (tx, rx) = mpsc::channel();
        f.add_done_callback(move |f| tx.send(f.cancelled()).unwrap());
        while !f.running() {
            std::thread::yield_now();
        }
        let worker = pool.worker_pids()[0];
        let t0 = Instant::now();
        token.cancel();
        let done: Vec<_> = concurrent_futures::as_completed([&f], Some(LONG)).collect();
        assert_eq!(done.len(), 1);
        assert!(t0.elapsed() >= grace, "killed only after the grace period");
        assert_eq!(f.result(Some(LONG)), Err(FutureError::Cancelled));
        assert_eq!(
            rx.recv_timeout(LONG),
            Ok(true),
            "the callback saw it cancelled"
        );
        assert_eq!(
            wait([&f], Some(Duration::ZERO), ReturnWhen::AllCompleted)
                .done
                .len(),
            1
        );
        let next = *pool.submit(pid, ()).unwrap().result(Some(LONG)).unwrap();
        assert_ne!(next, worker, "the killed worker was replaced");
    }

    /// A cancel that reaches a task sent ahead to a busy worker, before the task starts: the task
    /// starts with its token already cancelled and stops at its first look.
    #[test]
    fn process_pool_a_task_cancelled_before_it_starts_on_its_worker_stops_at_once() {
        let _dog = watchdog(HANG, "process pool cancel sent ahead");
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .cancel_grace(LONG)
            .build()
            .unwrap();
        // Short tasks first, so the pool sends the next task ahead to its busy worker.
        for _ in 0..20 {
            pool.submit_cancellable(&CancelToken::new(), pid_cancellable, ())
                .unwrap()
                .result(Some(LONG))
                .unwrap();
        }
        for round in 0..common::stress_iterations(13) {
            let (fifo, s, r) = Fifo::pair("cancelahead");
            let held = pool.submit(started_then_wait, (s, r)).unwrap();
            let token = CancelToken::new();
            let ahead = pool
                .submit_cancellable(&token, sleeps_on_its_token, ())
                .unwrap();
            let behind = pool.submit(pid, ()).unwrap();
            fifo.wait_started();
            token.cancel();
            fifo.release();
            assert!(held.result(Some(LONG)).is_ok(), "round {round}");
            assert_eq!(
                ahead.result(Some(LONG)),
                Err(FutureError::Cancelled),
                "round {round}"
            );
            assert!(behind.result(Some(LONG)).is_ok(), "round {round}");
        }
    }

    /// Dropping a process-pool `map` with `cancel_running` stops its running items in their
    /// worker processes, not only the pending ones.
    #[test]
    fn process_pool_dropping_a_map_with_cancel_running_stops_its_running_items() {
        let _dog = watchdog(HANG, "process pool map cancel_running");
        let pool = ProcessPoolExecutor::builder()
            .max_workers(2)
            .cancel_grace(LONG)
            .build()
            .unwrap();
        pool.start_workers().unwrap();
        let t0 = Instant::now();
        let mut map = pool
            .map_with(sleep_item, 0..6u32, MapOptions::new().cancel_running(true))
            .unwrap();
        assert_eq!(map.next(), Some(Ok(0)));
        drop(map);
        // The pool drains promptly: no item kept a worker for its full hour.
        pool.shutdown(true, false);
        assert!(t0.elapsed() < LONG);
    }

    /// Item 0 returns at once; the others sleep on their (the map's) token for an hour.
    fn sleep_item(n: u32) -> u32 {
        if n > 0 {
            let _ = CancelToken::current().sleep(Duration::from_secs(3600));
        }
        n
    }
}
