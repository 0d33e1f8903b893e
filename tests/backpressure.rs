//! Back-pressure: `queue_capacity` with each `WhenFull` policy, `try_submit`, and shutdown
//! waking blocked submitters, on the thread pool and the process pool.
//!
//! Workers are held busy with channels (threads) or FIFOs (processes), never with sleeps.
//! "The submit is blocked" is only ever asserted in the direction a race cannot fake: it has
//! not returned while the queue is provably full.

mod common;
use common::{stress_iterations, watchdog, within, Gate, HANG, LONG};

#[cfg(feature = "process-pool")]
use concurrent_futures::Executor;
use concurrent_futures::{CancelToken, Cancelled, SubmitError, ThreadPoolExecutor, WhenFull};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// A pool of one worker, busy with a gated task, whose queue (capacity 1) holds one task.
fn full_pool(policy: WhenFull) -> (ThreadPoolExecutor, Gate<()>, concurrent_futures::Future<u8>) {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .queue_capacity(1)
        .when_full(policy)
        .build()
        .unwrap();
    let busy = Gate::start(&pool);
    let queued = pool.spawn(|| 1u8).unwrap();
    (pool, busy, queued)
}

#[test]
fn a_zero_capacity_is_invalid() {
    let err = ThreadPoolExecutor::builder()
        .queue_capacity(0)
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "queue_capacity must be greater than 0");
    #[cfg(all(unix, feature = "process-pool"))]
    assert!(concurrent_futures::ProcessPoolExecutor::builder()
        .queue_capacity(0)
        .build()
        .is_err());
}

#[test]
fn try_submit_on_a_full_queue_hands_the_task_back() {
    let (pool, busy, queued) = full_pool(WhenFull::Block);
    let refused = pool
        .try_submit(|s: String| s.len(), "kept".to_owned())
        .unwrap_err();
    assert_eq!(refused.error(), &SubmitError::Full { capacity: 1 });
    let (f, arg) = refused.into_inner();
    assert_eq!(f(arg), 4);
    let job = pool.try_spawn(|| 9u8).unwrap_err().into_inner();
    assert_eq!(job(), 9);
    // Through the trait (feature `process-pool`): the argument comes back.
    #[cfg(feature = "process-pool")]
    {
        fn double(n: u32) -> u32 {
            n * 2
        }
        assert_eq!(
            Executor::try_submit(&pool, double, 21)
                .unwrap_err()
                .into_inner(),
            21
        );
    }
    busy.open(());
    assert_eq!(queued.result(Some(LONG)), Ok(&1));
    // Room again.
    assert_eq!(pool.try_spawn(|| 2u8).unwrap().result(Some(LONG)), Ok(&2));
}

#[test]
fn fail_refuses_a_full_queue_with_full() {
    let (pool, busy, queued) = full_pool(WhenFull::Fail);
    assert_eq!(
        pool.spawn(|| 2u8).unwrap_err(),
        SubmitError::Full { capacity: 1 }
    );
    busy.open(());
    assert_eq!(queued.result(Some(LONG)), Ok(&1));
}

#[test]
fn block_waits_until_a_worker_takes_a_task() {
    let _dog = watchdog(HANG, "blocked submit");
    let (pool, busy, queued) = full_pool(WhenFull::Block);
    let pool = Arc::new(pool);
    let (tx, submitted) = mpsc::channel();
    let submitter = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            let f = pool.spawn(|| 3u8);
            tx.send(()).unwrap();
            f
        })
    };
    // The queue is full and the worker busy until the gate opens: the submit cannot be done.
    assert!(submitted.try_recv().is_err());
    busy.open(());
    let third = submitter.join().unwrap().unwrap();
    assert_eq!(queued.result(Some(LONG)), Ok(&1));
    assert_eq!(third.result(Some(LONG)), Ok(&3));
}

#[test]
fn block_for_gives_up_with_full_after_its_limit() {
    let (pool, busy, queued) = full_pool(WhenFull::BlockFor(Duration::from_millis(20)));
    let t0 = Instant::now();
    assert_eq!(
        pool.spawn(|| 2u8).unwrap_err(),
        SubmitError::Full { capacity: 1 }
    );
    assert!(t0.elapsed() >= Duration::from_millis(20));
    busy.open(());
    assert_eq!(queued.result(Some(LONG)), Ok(&1));
}

#[test]
fn caller_runs_runs_the_task_on_the_submitting_thread() {
    let (pool, busy, queued) = full_pool(WhenFull::CallerRuns);
    let me = std::thread::current().id();
    let f = pool
        .spawn(move || std::thread::current().id() == me)
        .unwrap();
    assert!(f.done(), "ran before submit returned");
    assert_eq!(f.result(None), Ok(&true));
    // A panic there is the future's error, as on a worker.
    let p = pool.spawn(|| -> u8 { panic!("caller-run boom") }).unwrap();
    assert_eq!(
        p.result(None).unwrap_err().panic_message(),
        Some("caller-run boom")
    );
    busy.open(());
    assert_eq!(queued.result(Some(LONG)), Ok(&1));
}

/// Shutdown racing submitters blocked on a full queue: every round, each blocked submit
/// returns the shutdown error (none stays blocked, none is lost), and the queued task runs.
#[test]
fn shutdown_wakes_every_blocked_submitter_with_the_shutdown_error() {
    let _dog = watchdog(HANG, "shutdown wakes blocked submitters");
    for _ in 0..stress_iterations(20) {
        let (pool, busy, queued) = full_pool(WhenFull::Block);
        let pool = Arc::new(pool);
        let submitters: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                std::thread::spawn(move || pool.spawn(|| 3u8).map(|_| ()))
            })
            .collect();
        pool.shutdown(false, false);
        for s in submitters {
            assert_eq!(
                within("a blocked submit returns", move || s.join().unwrap()),
                Err(SubmitError::Shutdown)
            );
        }
        busy.open(());
        assert_eq!(queued.result(Some(LONG)), Ok(&1));
    }
}

/// A producer far faster than the pool: the queue never holds more than its capacity. Counted:
/// tasks submitted minus tasks started is at most capacity + workers (a worker that took a task
/// off the queue may not have started it yet), and every task ran exactly once.
#[test]
fn the_queue_never_holds_more_than_its_capacity() {
    let _dog = watchdog(HANG, "capacity bound");
    const CAPACITY: usize = 8;
    const WORKERS: usize = 2;
    for policy in [WhenFull::Block, WhenFull::CallerRuns] {
        for _ in 0..stress_iterations(13) {
            let pool = ThreadPoolExecutor::builder()
                .max_workers(WORKERS)
                .queue_capacity(CAPACITY)
                .when_full(policy)
                .build()
                .unwrap();
            let started = Arc::new(AtomicUsize::new(0));
            let mut worst = 0;
            let n = 2_000;
            for i in 0..n {
                let s = started.clone();
                pool.spawn(move || {
                    s.fetch_add(1, Ordering::SeqCst);
                    std::hint::black_box((0..50).sum::<u64>())
                })
                .unwrap();
                let waiting = (i + 1) - started.load(Ordering::SeqCst);
                worst = worst.max(waiting);
            }
            assert!(
                worst <= CAPACITY + WORKERS,
                "{policy:?}: {worst} submitted and not started (capacity {CAPACITY})"
            );
            pool.shutdown(true, false);
            assert_eq!(started.load(Ordering::SeqCst), n);
        }
    }
}

#[test]
fn a_task_submitting_to_its_own_full_pool_runs_what_it_submits_instead_of_deadlocking() {
    let _dog = watchdog(HANG, "worker submitting to its own full pool");
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .queue_capacity(1)
            .build()
            .unwrap(),
    );
    let inner = pool.clone();
    let (total, inline) = within("a task fans out into its own pool", move || {
        let f = pool
            .spawn(move || {
                let me = std::thread::current().id();
                let parts: Vec<_> = (1..=5u64)
                    .map(|n| {
                        inner
                            .spawn(move || (n, std::thread::current().id() == me))
                            .unwrap()
                    })
                    .collect();
                // The first part fills the queue; the others ran here, during their submit.
                let inline = parts[1..]
                    .iter()
                    .all(|p| p.done() && p.result(None).unwrap().1);
                let total = parts.iter().map(|p| p.result(None).unwrap().0).sum::<u64>();
                (total, inline)
            })
            .unwrap();
        *f.result(None).unwrap()
    });
    assert_eq!(total, 15);
    assert!(inline);
}

/// A task run in its submitter's thread (the queue full: `CallerRuns`, or a worker submitting
/// to its own pool) sees its own token, never the token of the task that submitted it.
#[test]
fn a_task_run_in_the_submitter_does_not_inherit_the_submitters_token() {
    let _dog = watchdog(HANG, "inline task and the submitter's token");
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .queue_capacity(1)
            .build()
            .unwrap(),
    );
    let inner = pool.clone();
    let outer_token = CancelToken::new();
    let cancel_it = outer_token.clone();
    let f = pool
        .spawn_cancellable(&outer_token, move || -> Result<(bool, bool), Cancelled> {
            cancel_it.cancel(); // the outer task sees it, and goes on on purpose
            let me = std::thread::current().id();
            let filler = inner.spawn(|| false).unwrap(); // fills the queue
            let plain = inner
                .spawn(move || {
                    let inline = std::thread::current().id() == me;
                    inline && !CancelToken::current().is_cancelled()
                })
                .unwrap();
            let own = CancelToken::new();
            let tokened = inner
                .spawn_cancellable(&own, move || -> Result<bool, Cancelled> {
                    Ok(!CancelToken::current().is_cancelled())
                })
                .unwrap();
            let _ = filler.result(None);
            Ok((*plain.result(None).unwrap(), *tokened.result(None).unwrap()))
        })
        .unwrap();
    assert_eq!(f.result(Some(LONG)), Ok(&(true, true)));
}

#[test]
fn map_items_are_never_refused_by_a_full_queue() {
    let (pool, busy, queued) = full_pool(WhenFull::Fail);
    let map = pool.map(|n: u32| n * 2, 0..50);
    let buffered = pool
        .map_with(
            |n: u32| n + 1,
            0..50,
            concurrent_futures::MapOptions::new().buffersize(4),
        )
        .unwrap();
    busy.open(());
    assert_eq!(map.map(Result::unwrap).sum::<u32>(), 2450);
    assert_eq!(buffered.map(Result::unwrap).sum::<u32>(), 1275);
    assert_eq!(queued.result(Some(LONG)), Ok(&1));
}

#[test]
fn without_a_capacity_nothing_is_ever_full() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let busy = Gate::<()>::start(&pool);
    let futures: Vec<_> = (0..5_000u32)
        .map(|n| pool.try_submit(|n| n, n).unwrap())
        .collect();
    busy.open(());
    assert_eq!(futures.last().unwrap().result(Some(LONG)), Ok(&4_999));
}

// ---------------------------------------------------------------------------------------------
// Process pool
// ---------------------------------------------------------------------------------------------

/// The process pool exists on Unix with feature `process-pool` (default).
#[cfg(all(unix, feature = "process-pool"))]
mod process_pool {
    use super::*;
    use crate::common::process::{started_then_wait, Fifo};
    use concurrent_futures::{FutureError, ProcessPoolExecutor};

    fn double(n: u64) -> u64 {
        n * 2
    }

    fn pid(_: ()) -> u32 {
        std::process::id()
    }

    /// A one-worker process pool whose worker runs a held task and whose parent-side queue
    /// (capacity 1) holds one more: a task sent to the worker is not queued, and the manager
    /// sends a worker one task at a time until it has timed a short one.
    fn full_process_pool(
        policy: WhenFull,
    ) -> (ProcessPoolExecutor, Fifo, concurrent_futures::Future<u64>) {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .queue_capacity(1)
            .when_full(policy)
            .build()
            .unwrap();
        let (fifo, s, r) = Fifo::pair("full");
        let held = pool.submit(started_then_wait, (s, r)).unwrap();
        fifo.wait_started();
        assert!(held.running());
        let queued = pool.submit(double, 21).unwrap();
        (pool, fifo, queued)
    }

    #[test]
    fn process_pool_try_submit_and_fail_refuse_a_full_queue_and_keep_the_argument() {
        let _dog = watchdog(HANG, "process pool full");
        let (pool, fifo, queued) = full_process_pool(WhenFull::Fail);
        let refused = pool.try_submit(double, 5).unwrap_err();
        assert_eq!(refused.error(), &SubmitError::Full { capacity: 1 });
        assert_eq!(refused.into_inner(), 5);
        assert_eq!(
            pool.submit(double, 6).unwrap_err(),
            SubmitError::Full { capacity: 1 }
        );
        fifo.release();
        assert_eq!(queued.result(Some(LONG)), Ok(&42));
        assert_eq!(
            pool.try_submit(double, 4).unwrap().result(Some(LONG)),
            Ok(&8)
        );
    }

    #[test]
    fn process_pool_block_waits_until_the_manager_takes_a_task() {
        let _dog = watchdog(HANG, "process pool blocked submit");
        let (pool, fifo, queued) = full_process_pool(WhenFull::Block);
        let pool = Arc::new(pool);
        let (tx, submitted) = mpsc::channel();
        let submitter = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let f = pool.submit(double, 50);
                tx.send(()).unwrap();
                f
            })
        };
        assert!(submitted.try_recv().is_err());
        fifo.release();
        let third = within("the blocked submit is let through", move || {
            submitter.join().unwrap()
        })
        .unwrap();
        assert_eq!(queued.result(Some(LONG)), Ok(&42));
        assert_eq!(third.result(Some(LONG)), Ok(&100));
    }

    #[test]
    fn process_pool_shutdown_wakes_blocked_submitters_with_the_shutdown_error() {
        let _dog = watchdog(HANG, "process pool shutdown wakes submitters");
        for _ in 0..stress_iterations(13) {
            let (pool, fifo, queued) = full_process_pool(WhenFull::Block);
            let pool = Arc::new(pool);
            let submitters: Vec<_> = (0..2)
                .map(|_| {
                    let pool = pool.clone();
                    std::thread::spawn(move || pool.submit(double, 1).map(|_| ()))
                })
                .collect();
            pool.shutdown(false, false);
            for s in submitters {
                assert_eq!(
                    within("a blocked submit returns", move || s.join().unwrap()),
                    Err(SubmitError::Shutdown)
                );
            }
            fifo.release();
            assert_eq!(queued.result(Some(LONG)), Ok(&42));
        }
    }

    #[test]
    fn process_pool_block_for_gives_up_with_full() {
        let _dog = watchdog(HANG, "process pool block_for");
        let (pool, fifo, queued) = full_process_pool(WhenFull::BlockFor(Duration::from_millis(20)));
        let t0 = Instant::now();
        assert_eq!(
            pool.submit(double, 1).unwrap_err(),
            SubmitError::Full { capacity: 1 }
        );
        assert!(t0.elapsed() >= Duration::from_millis(20));
        fifo.release();
        assert_eq!(queued.result(Some(LONG)), Ok(&42));
    }

    #[test]
    fn process_pool_caller_runs_runs_the_task_in_this_process() {
        let _dog = watchdog(HANG, "process pool caller runs");
        let (pool, fifo, queued) = full_process_pool(WhenFull::CallerRuns);
        let f = pool.submit(pid, ()).unwrap();
        assert!(f.done());
        assert_eq!(f.result(None), Ok(&std::process::id()));
        fifo.release();
        assert_eq!(queued.result(Some(LONG)), Ok(&42));
    }

    #[test]
    fn process_pool_map_items_are_never_refused_by_a_full_queue() {
        let _dog = watchdog(HANG, "process pool map with a full queue");
        let (pool, fifo, queued) = full_process_pool(WhenFull::Fail);
        let map = pool.map(double, 0..20u64);
        fifo.release();
        assert_eq!(map.map(Result::unwrap).sum::<u64>(), 380);
        assert_eq!(queued.result(Some(LONG)), Ok(&42));
        assert!(!matches!(
            queued.result(None),
            Err(FutureError::Rejected(_))
        ));
    }
}
