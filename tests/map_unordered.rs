//! `map_unordered`: `map`'s contract (errors in place, `buffersize` back-pressure, one deadline,
//! cancel on drop, refusal after shutdown) with results in completion order, on the inherent
//! closure API and through the `Executor` trait.

mod common;

use common::{gate, open, watchdog, BlockedPool, HANG};
#[cfg(feature = "process-pool")]
use concurrent_futures::Executor;
use concurrent_futures::{FutureError, MapOptions, SubmitError, ThreadPoolExecutor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_fast_item_is_yielded_before_a_slow_earlier_one() {
    let _dog = watchdog(HANG, "unordered_order");
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let slow = gate();
    let s = slow.clone();
    let mut results = pool.map_unordered(
        move |n: u32| {
            if n == 0 {
                s.result(None).unwrap();
            }
            n
        },
        [0, 1],
    );
    // Item 0 cannot finish before the gate opens, so item 1 comes first.
    assert_eq!(results.next_indexed(), Some((1, Ok(1))));
    open(&slow);
    assert_eq!(results.next_indexed(), Some((0, Ok(0))));
    assert_eq!(results.next_indexed(), None);
}

#[test]
fn every_result_comes_once_and_errors_do_not_stop_the_iteration() {
    let pool = ThreadPoolExecutor::new(3).unwrap();
    let mut out: Vec<(usize, Result<u32, FutureError>)> = Vec::new();
    let mut results = pool.map_unordered(
        |n: u32| if n % 5 == 3 { panic!("bad {n}") } else { n * 2 },
        0..20,
    );
    while let Some(item) = results.next_indexed() {
        out.push(item);
    }
    out.sort_by_key(|(i, _)| *i);
    assert_eq!(out.len(), 20);
    for (i, result) in out {
        if i % 5 == 3 {
            let message = format!("bad {i}");
            assert_eq!(result.unwrap_err().panic_message(), Some(message.as_str()));
        } else {
            assert_eq!(result, Ok(i as u32 * 2));
        }
    }
}

#[test]
fn buffersize_pulls_input_lazily_and_bounds_what_is_in_flight() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = pulled.clone();
    let input = (0u64..).inspect(move |_| {
        p.fetch_add(1, Ordering::SeqCst);
    });
    let mut results = pool
        .map_unordered_with(|n: u64| n, input, MapOptions::new().buffersize(3))
        .unwrap();
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        3,
        "only the buffer is submitted up front"
    );
    let first: Vec<u64> = results.by_ref().take(4).map(Result::unwrap).collect();
    // Each next() tops the buffer up by one before it waits, as `map` does.
    assert_eq!(pulled.load(Ordering::SeqCst), 7);
    assert!(first.iter().all(|n| *n < 7));
}

#[test]
fn a_deadline_yields_timeout_once_cancels_unstarted_items_and_ends() {
    let _dog = watchdog(HANG, "unordered_timeout");
    let blocked = BlockedPool::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let mut results = blocked
        .pool
        .map_unordered_with(
            move |_: u8| r.fetch_add(1, Ordering::SeqCst),
            [1, 2, 3],
            MapOptions::new().timeout(Duration::from_millis(20)),
        )
        .unwrap();
    assert_eq!(results.next_indexed(), Some((0, Err(FutureError::Timeout))));
    assert_eq!(results.next(), None);
    drop(results);
    drop(blocked); // releases the worker and joins it: the cancelled items never run
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn dropping_the_iterator_cancels_unstarted_items() {
    let _dog = watchdog(HANG, "unordered_drop");
    let mut blocked = BlockedPool::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let results = blocked
        .pool
        .map_unordered(move |_: u8| r.fetch_add(1, Ordering::SeqCst), [1, 2, 3]);
    drop(results);
    blocked.release();
    blocked.pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn a_refused_item_is_reported_once_after_the_submitted_ones() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    pool.shutdown(true, false);
    let mut results = pool.map_unordered(|n: u8| n, [1, 2]);
    assert_eq!(
        results.next_indexed(),
        Some((0, Err(FutureError::Rejected(SubmitError::Shutdown))))
    );
    assert_eq!(results.next(), None);

    // Lazily fed: what was submitted before the shutdown still comes out, then the refusal.
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let mut results = pool
        .map_unordered_with(|n: u8| n, [1, 2, 3, 4], MapOptions::new().buffersize(2))
        .unwrap();
    pool.shutdown(true, false);
    let mut out: Vec<_> = results.by_ref().collect();
    let last = out.pop().unwrap();
    assert_eq!(last, Err(FutureError::Rejected(SubmitError::Shutdown)));
    out.sort_by_key(|r| *r.as_ref().unwrap());
    assert_eq!(out, [Ok(1), Ok(2)]);
}

#[test]
fn invalid_options_are_rejected() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let zero = MapOptions::new().buffersize(0);
    assert!(pool
        .map_unordered_with(|n: u8| n, [1], zero.clone())
        .is_err());
    #[cfg(feature = "process-pool")]
    assert!(Executor::map_unordered_with(&pool, double, [1], zero).is_err());
}

#[cfg(feature = "process-pool")]
fn double(n: u8) -> u8 {
    n * 2
}

/// Written against the trait only, as a process pool would be used.
#[cfg(feature = "process-pool")]
fn sum_unordered<E: Executor + Sync>(ex: &E, n: u64) -> u64 {
    fn cube(n: u64) -> u64 {
        n * n * n
    }
    ex.map_unordered(cube, 0..n).map(Result::unwrap).sum()
}

#[test]
#[cfg(feature = "process-pool")]
fn the_trait_version_works_for_any_executor() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    assert_eq!(sum_unordered(&pool, 10), 2025);
    let buffered: Vec<u8> =
        Executor::map_unordered_with(&pool, double, 0..50u8, MapOptions::new().buffersize(4))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let mut sorted = buffered;
    sorted.sort_unstable();
    assert_eq!(sorted, (0..50u8).map(double).collect::<Vec<_>>());
}

#[test]
fn called_on_a_worker_of_a_saturated_pool_it_runs_queued_items_inline() {
    let _dog = watchdog(HANG, "unordered_in_worker");
    let pool = Arc::new(ThreadPoolExecutor::new(1).unwrap());
    let p = pool.clone();
    let outer = pool
        .spawn(move || {
            p.map_unordered(|n: u32| n + 1, 0..10)
                .map(Result::unwrap)
                .sum::<u32>()
        })
        .unwrap();
    assert_eq!(outer.result(None), Ok(&55));
}

#[test]
fn size_hint_counts_what_is_known() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let mut results = pool.map_unordered(|n: u8| n, [1, 2, 3]);
    assert_eq!(results.size_hint(), (3, Some(3)));
    results.next();
    assert_eq!(results.size_hint(), (2, Some(2)));
    let lazy = pool
        .map_unordered_with(|n: u8| n, 0..10, MapOptions::new().buffersize(2))
        .unwrap();
    assert_eq!(lazy.size_hint(), (2, None));
}
