//! `ThreadPoolExecutor::scope`: tasks that borrow from the stack, all ended before `scope`
//! returns, whatever happens to them (run, panic, cancel, shutdown, refusal) or to the scope's
//! closure (return, panic), including scopes opened by the pool's own tasks.

mod common;

use common::{gate, open, watchdog, Gate, HANG};
use concurrent_futures::{as_completed, FutureError, SubmitError, ThreadPoolExecutor};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts its drops: shows a task's closure (and what it captured) is gone.
struct DropCount<'a>(&'a AtomicUsize);

impl Drop for DropCount<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn tasks_borrow_the_stack_and_have_all_run_when_scope_returns() {
    let _dog = watchdog(HANG, "scope_join");
    let pool = ThreadPoolExecutor::new(3).unwrap();
    let ran = AtomicUsize::new(0);
    let release = gate();
    let opener = {
        let release = release.clone();
        std::thread::spawn(move || open(&release))
    };
    pool.scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                release.result(None).unwrap();
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
    });
    // No handle was kept and the closure returned at once: `scope` itself waited.
    assert_eq!(ran.load(Ordering::SeqCst), 8);
    opener.join().unwrap();
}

#[test]
fn separate_tasks_may_each_borrow_a_different_part_mutably() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let mut data = vec![1u32; 1000];
    pool.scope(|s| {
        for (i, chunk) in data.chunks_mut(100).enumerate() {
            s.spawn(move || chunk.iter_mut().for_each(|x| *x += i as u32))
                .unwrap();
        }
    });
    assert_eq!(data.iter().sum::<u32>(), 1000 + (0..10).sum::<u32>() * 100);
}

#[test]
fn tasks_may_submit_more_tasks_into_the_same_scope_and_those_are_joined_too() {
    let _dog = watchdog(HANG, "scope_nested_spawn");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let leaves = AtomicUsize::new(0);
    pool.scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..4 {
                    s.spawn(|| leaves.fetch_add(1, Ordering::SeqCst)).unwrap();
                }
            })
            .unwrap();
        }
    });
    assert_eq!(leaves.load(Ordering::SeqCst), 16);
}

#[test]
fn a_task_panic_is_its_futures_error_and_the_scope_returns_normally() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let ok = AtomicUsize::new(0);
    let failed = pool.scope(|s| {
        let bad = s.spawn(|| -> u8 { panic!("scoped boom") }).unwrap();
        s.spawn(|| ok.fetch_add(1, Ordering::SeqCst)).unwrap();
        bad
    });
    assert_eq!(
        failed.result(None).unwrap_err().panic_message(),
        Some("scoped boom")
    );
    assert_eq!(ok.load(Ordering::SeqCst), 1);
}

#[test]
fn a_panicking_scope_closure_still_joins_every_task_then_resumes_the_panic() {
    let _dog = watchdog(HANG, "scope_closure_panic");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let ran = AtomicUsize::new(0);
    let release = gate();
    let opener = {
        let release = release.clone();
        std::thread::spawn(move || open(&release))
    };
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    release.result(None).unwrap();
                    ran.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            }
            panic!("scope body failed");
        })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"scope body failed"));
    assert_eq!(ran.load(Ordering::SeqCst), 4);
    opener.join().unwrap();
}

#[test]
fn a_forgotten_future_does_not_skip_the_join() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let ran = AtomicUsize::new(0);
    pool.scope(|s| {
        let f = s.spawn(|| ran.fetch_add(1, Ordering::SeqCst)).unwrap();
        std::mem::forget(f);
    });
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn futures_may_leave_the_scope_done_with_owned_results() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let words = ["a", "bb", "ccc"];
    let futures = pool.scope(|s| {
        words
            .iter()
            .map(|w| s.spawn(move || w.repeat(2)).unwrap())
            .collect::<Vec<_>>()
    });
    assert!(futures.iter().all(|f| f.done()));
    let out: Vec<String> = futures
        .into_iter()
        .map(|f| f.into_result().unwrap())
        .collect();
    assert_eq!(out, ["aa", "bbbb", "cccccc"]);
}

#[test]
fn as_completed_works_on_scoped_futures() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let data: Vec<u64> = (0..100).collect();
    let total: u64 = pool.scope(|s| {
        let parts: Vec<_> = data
            .chunks(10)
            .map(|c| s.spawn(move || c.iter().sum::<u64>()).unwrap())
            .collect();
        as_completed(parts, None)
            .map(|f| f.unwrap().into_result().unwrap())
            .sum()
    });
    assert_eq!(total, 4950);
}

#[test]
fn a_scope_opened_by_a_task_of_a_saturated_pool_runs_its_tasks_inline() {
    let _dog = watchdog(HANG, "scope_in_worker");
    let pool = Arc::new(ThreadPoolExecutor::new(1).unwrap());
    let p = pool.clone();
    let outer = pool
        .spawn(move || {
            let data: Vec<u32> = (1..=100).collect();
            p.scope(|s| {
                let parts: Vec<_> = data
                    .chunks(25)
                    .map(|c| s.spawn(move || c.iter().sum::<u32>()).unwrap())
                    .collect();
                parts
                    .into_iter()
                    .map(|f| f.into_result().unwrap())
                    .sum::<u32>()
            })
        })
        .unwrap();
    assert_eq!(outer.result(None), Ok(&5050));
}

#[test]
fn nested_scopes_on_a_one_worker_pool_do_not_deadlock() {
    let _dog = watchdog(HANG, "scope_nested_scopes");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let hits = AtomicUsize::new(0);
    pool.scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                // Opened on the pool's only worker: its tasks run right here.
                pool.scope(|inner| {
                    for _ in 0..3 {
                        inner.spawn(|| hits.fetch_add(1, Ordering::SeqCst)).unwrap();
                    }
                });
            })
            .unwrap();
        }
    });
    assert_eq!(hits.load(Ordering::SeqCst), 9);
}

#[test]
fn a_cancelled_task_has_dropped_its_closure_when_scope_returns() {
    let _dog = watchdog(HANG, "scope_cancel");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let blocker = Gate::<()>::start(&pool);
    let drops = AtomicUsize::new(0);
    let cancelled = pool.scope(|s| {
        let guard = DropCount(&drops);
        let f = s
            .spawn(move || {
                let _guard = guard;
                unreachable!("cancelled before it ran")
            })
            .unwrap();
        assert!(f.cancel());
        // Let the worker go: it pops the cancelled task and drops its closure.
        blocker.open(());
        f
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(cancelled.result(None), Err(FutureError::Cancelled));
}

#[test]
fn the_promise_side_of_a_scoped_future_is_refused() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let blocker = Gate::<()>::start(&pool);
    pool.scope(|s| {
        let f = s.spawn(|| 1u8).unwrap();
        assert!(f.set_result(9).is_err());
        assert!(f.set_exception(FutureError::Cancelled).is_err());
        assert!(f.set_running_or_notify_cancel().is_err());
        blocker.open(());
        assert_eq!(f.result(None), Ok(&1));
    });
}

#[test]
fn shutdown_with_cancel_futures_inside_a_scope_ends_its_queued_tasks() {
    let _dog = watchdog(HANG, "scope_shutdown");
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let blocker = Gate::<()>::start(&pool);
    let drops = AtomicUsize::new(0);
    let futures = pool.scope(|s| {
        let futures: Vec<_> = (0..3)
            .map(|_| {
                let guard = DropCount(&drops);
                s.spawn(move || drop(guard)).unwrap()
            })
            .collect();
        pool.shutdown(false, true);
        let refused = DropCount(&drops);
        assert_eq!(
            s.spawn(move || drop(refused)).unwrap_err(),
            SubmitError::Shutdown
        );
        blocker.open(());
        futures
    });
    assert_eq!(drops.load(Ordering::SeqCst), 4, "every closure is gone");
    assert!(futures.iter().all(|f| f.cancelled()));
}

#[test]
fn many_small_scopes_in_a_row_each_see_all_their_work() {
    let _dog = watchdog(HANG, "scope_many");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    for round in 0..200u64 {
        let mut slots = [0u64; 16];
        pool.scope(|s| {
            for (i, slot) in slots.iter_mut().enumerate() {
                s.spawn(move || *slot = round * i as u64).unwrap();
            }
        });
        assert_eq!(slots.iter().sum::<u64>(), round * 120, "round {round}");
    }
}
