//! Stress: many tasks with random panics, cancels and timeouts, and shutdown under load. Every
//! future must end exactly one way, with exactly one callback call, and nothing may be lost.
//!
//! Sizes scale with `CF_TEST_STRESS` (a multiplier, default 1): `CF_TEST_STRESS=10 cargo test
//! --release --test stress` runs a million tasks. The `CPython` IDs cite `tests/CPYTHON.md`.

mod common;
use common::{stress_iterations, Rng};

use concurrent_futures::{as_completed, Future, FutureError, SubmitError, ThreadPoolExecutor};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Plan {
    Value,
    Panic,
    Yield,
}

// CPython C10 (callbacks run once), D1 (cancel only while pending), B1/B9 (a timed-out result()
// leaves the future alone), E5/J10 (panics are values, workers survive), G3 (as_completed yields
// each once), at scale.
#[test]
fn every_future_resolves_exactly_once_under_panics_cancels_and_timeouts() {
    let n = stress_iterations(100_000);
    let seed = 0x9e37_79b9_7f4a_7c15 ^ n as u64;
    let mut rng = Rng(seed);
    let pool = ThreadPoolExecutor::new(4).unwrap();
    let calls: Arc<Vec<AtomicU8>> = Arc::new((0..n).map(|_| AtomicU8::new(0)).collect());
    let mut futures = Vec::with_capacity(n);
    let mut plans = Vec::with_capacity(n);
    let mut cancelled = vec![false; n];
    for i in 0..n {
        let plan = match rng.below(10) {
            0 => Plan::Panic,
            1 => Plan::Yield,
            _ => Plan::Value,
        };
        let f = pool
            .spawn(move || match plan {
                Plan::Panic => panic!("planned panic {i}"),
                Plan::Yield => {
                    thread::yield_now();
                    i
                }
                Plan::Value => i,
            })
            .unwrap();
        let calls = Arc::clone(&calls);
        f.add_done_callback(move |_| {
            calls[i].fetch_add(1, Ordering::SeqCst);
        });
        match rng.below(20) {
            0 => cancelled[i] = f.cancel(),
            1 => {
                // A zero-timeout poll either times out or sees the outcome; the final check
                // below proves a timed-out poll left the future to end normally.
                match f.result(Some(Duration::ZERO)) {
                    Err(FutureError::Timeout) => {}
                    Ok(v) => assert_eq!(*v, i),
                    Err(e) => assert!(matches!(e, FutureError::Panicked { .. })),
                }
            }
            _ => {}
        }
        plans.push(plan);
        futures.push(f);
    }
    let yielded = as_completed(&futures, None).count();
    pool.shutdown(true, false);
    assert_eq!(
        yielded, n,
        "seed {seed:#x}: as_completed yields every future once"
    );
    for (i, f) in futures.iter().enumerate() {
        assert!(f.done(), "seed {seed:#x}: future {i} ended");
        assert_eq!(
            calls[i].load(Ordering::SeqCst),
            1,
            "seed {seed:#x}: callbacks of {i}"
        );
        match (cancelled[i], plans[i], f.result(Some(Duration::ZERO))) {
            (true, _, Err(FutureError::Cancelled)) => {}
            (false, Plan::Panic, Err(FutureError::Panicked { message, .. })) => {
                assert_eq!(message, format!("planned panic {i}"))
            }
            (false, Plan::Value | Plan::Yield, Ok(v)) => assert_eq!(*v, i),
            other => panic!("seed {seed:#x}: future {i} ended as {other:?}"),
        }
    }
}

// CPython I5/I16 and #87893: shutdown while several threads keep submitting. Each accepted
// future ends (finished or cancelled, callbacks once), each refused submit says Shutdown, and
// no worker is left.
#[test]
fn shutdown_under_load_loses_no_future() {
    for round in 0..stress_iterations(4) {
        let cancel_futures = round % 2 == 1;
        let pool = Arc::new(ThreadPoolExecutor::new(3).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(4));
        let ended = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = (0..3)
            .map(|t| {
                let (pool, stop, start, ended) =
                    (pool.clone(), stop.clone(), start.clone(), ended.clone());
                thread::spawn(move || {
                    let mut accepted: Vec<Future<usize>> = Vec::new();
                    start.wait();
                    for i in 0.. {
                        match pool.spawn(move || t * 1_000_000 + i) {
                            Ok(f) => {
                                let ended = ended.clone();
                                f.add_done_callback(move |_| {
                                    ended.fetch_add(1, Ordering::SeqCst);
                                });
                                accepted.push(f);
                            }
                            Err(e) => {
                                assert_eq!(e, SubmitError::Shutdown);
                                break;
                            }
                        }
                        if stop.load(Ordering::Relaxed) && i > 1_000_000 {
                            unreachable!("submits keep being accepted after shutdown");
                        }
                    }
                    accepted
                })
            })
            .collect();
        start.wait();
        // Let the submitters build a backlog, then shut down in the middle of it.
        while pool.num_threads() < 3 {
            thread::yield_now();
        }
        for _ in 0..1000 {
            thread::yield_now();
        }
        pool.shutdown(true, cancel_futures);
        stop.store(true, Ordering::Relaxed);
        let accepted: Vec<Future<usize>> = submitters
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect();
        assert_eq!(pool.num_threads(), 0, "round {round}: workers joined");
        for f in &accepted {
            assert!(f.done(), "round {round}: {f} ended");
            match f.result(Some(Duration::ZERO)) {
                Ok(_) => {}
                Err(FutureError::Cancelled) => assert!(cancel_futures, "round {round}"),
                Err(e) => panic!("round {round}: unexpected {e}"),
            }
        }
        assert_eq!(
            ended.load(Ordering::SeqCst),
            accepted.len(),
            "round {round}: callbacks once"
        );
    }
}
