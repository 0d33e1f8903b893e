//! `map` and `map_with` on the thread pool: CPython's `Executor.map` behaviours (area F of
//! `tests/CPYTHON.md`, the catalog every `CPython` ID here refers to).
//!
//! Tasks are held with standalone `Future<()>` gates and channels, never with sleeps. Only the
//! timeout tests (F4, F5) measure wall-clock time, as they are about deadlines.

mod common;
use common::{gate, open, stress_iterations, within, LONG};

use concurrent_futures::{
    Future, FutureError, InvalidArgument, MapOptions, SubmitError, ThreadPoolExecutor,
};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Records which inputs a task ran for.
#[derive(Clone, Default)]
struct Ran(Arc<Mutex<BTreeSet<i64>>>);

impl Ran {
    fn add(&self, i: i64) {
        self.0.lock().unwrap().insert(i);
    }
    fn get(&self) -> BTreeSet<i64> {
        self.0.lock().unwrap().clone()
    }

    /// A task that records each input it runs and, on input `held`, reports that it started and
    /// then waits for `hold` to be set.
    fn recorder_holding(
        &self,
        held: i64,
        started: mpsc::Sender<()>,
        hold: &Future<()>,
    ) -> impl Fn(i64) -> i64 + Send + Sync + 'static {
        let (ran, hold) = (self.clone(), hold.clone());
        move |i| {
            if i == held {
                started.send(()).unwrap();
                hold.result(None).unwrap();
            }
            ran.add(i);
            i
        }
    }
}

/// An input iterator that counts how many items were pulled from it.
struct Counted<I> {
    inner: I,
    pulled: Arc<AtomicUsize>,
}

fn counted<I: Iterator>(inner: I) -> (Counted<I>, Arc<AtomicUsize>) {
    let pulled = Arc::new(AtomicUsize::new(0));
    let it = Counted {
        inner,
        pulled: Arc::clone(&pulled),
    };
    (it, pulled)
}

impl<I: Iterator> Iterator for Counted<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        let item = self.inner.next();
        if item.is_some() {
            self.pulled.fetch_add(1, Ordering::SeqCst);
        }
        item
    }
}

fn divmod((a, b): (i32, i32)) -> (i32, i32) {
    (a / b, a % b)
}

fn assert_divide_by_zero(item: Option<Result<(i32, i32), FutureError>>) {
    match item {
        Some(Err(FutureError::Panicked { message, .. })) => {
            assert!(message.contains("divide by zero"), "message: {message}")
        }
        other => panic!("expected the division by zero at this position, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// F1, F12, F13, F14: results, order, chunksize, zip, empty input

#[test]
fn map_yields_results_in_input_order_like_builtin_map() {
    // CPython F1
    let ex = ThreadPoolExecutor::new(5).unwrap();
    let expected: Vec<u64> = (0..10u64).map(|i| i.pow(i as u32)).collect();
    let got: Result<Vec<u64>, _> = ex
        .map(|(a, b): (u64, u32)| a.pow(b), (0..10u64).zip(0..10u32))
        .collect();
    assert_eq!(got.unwrap(), expected);
    let got: Result<Vec<u64>, _> = ex
        .map_with(
            |(a, b): (u64, u32)| a.pow(b),
            (0..10u64).zip(0..10u32),
            MapOptions::new().chunksize(3),
        )
        .unwrap()
        .collect();
    assert_eq!(got.unwrap(), expected);
}

#[test]
fn map_yields_in_input_order_even_when_later_items_finish_first() {
    // CPython F1 (order is input order, not completion order)
    const N: usize = 5;
    let ex = ThreadPoolExecutor::new(N).unwrap();
    let gates: Arc<Vec<Future<()>>> = Arc::new((0..N).map(|_| gate()).collect());
    let finished = Arc::new(Mutex::new(Vec::new()));
    let (g, fin) = (Arc::clone(&gates), Arc::clone(&finished));
    // Item i waits for its gate, then opens item i-1's: they finish in reverse order.
    let it = ex.map(
        move |i: usize| {
            g[i].result(None).unwrap();
            fin.lock().unwrap().push(i);
            if i > 0 {
                open(&g[i - 1]);
            }
            i * 10
        },
        0..N,
    );
    open(&gates[N - 1]);
    let got: Vec<usize> = it.map(Result::unwrap).collect();
    assert_eq!(got, [0, 10, 20, 30, 40]);
    assert_eq!(*finished.lock().unwrap(), [4, 3, 2, 1, 0]);
}

#[test]
fn thread_pool_map_ignores_chunksize_and_rejects_zero() {
    // CPython F12 (and F11's chunksize check, here for the thread pool)
    let ex = ThreadPoolExecutor::new(3).unwrap();
    let plain: Vec<i32> = ex.map(|x: i32| x * 3, 0..40).map(Result::unwrap).collect();
    for chunksize in [1, 3, 6, 40, 50] {
        let chunked: Vec<i32> = ex
            .map_with(
                |x: i32| x * 3,
                0..40,
                MapOptions::new().chunksize(chunksize),
            )
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(chunked, plain, "chunksize {chunksize}");
    }
    let err: InvalidArgument = ex
        .map_with(|x: i32| x, 0..4, MapOptions::new().chunksize(0))
        .unwrap_err();
    assert_eq!(err.to_string(), "chunksize must be >= 1.");
}

#[test]
fn map_over_zipped_inputs_stops_at_the_shortest() {
    // CPython F13
    let ex = ThreadPoolExecutor::new(2).unwrap();
    let got: Vec<i32> = ex
        .map(|(a, b): (i32, i32)| a + b, (0..10).zip(0..3))
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, [0, 2, 4]);
}

#[test]
fn map_over_empty_input_is_exhausted_at_once() {
    // CPython F14
    let ex = ThreadPoolExecutor::new(2).unwrap();
    let mut it = ex.map(|x: i32| x, std::iter::empty());
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
    let mut it = ex
        .map_with(|x: i32| x, Vec::new(), MapOptions::new().buffersize(2))
        .unwrap();
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
    // Nothing was submitted, so no thread was started.
    assert_eq!(ex.num_threads(), 0);
}

// ---------------------------------------------------------------------------------------------
// F3, F6: errors at their position, iteration goes on

#[test]
fn map_yields_errors_at_their_position_and_continues() {
    // CPython F3 (chosen over F2: iteration continues after an error)
    let ex = ThreadPoolExecutor::new(5).unwrap();
    let mut it = ex.map(divmod, std::iter::repeat(5).zip([2, 3, 0, 5]));
    assert_eq!(it.next(), Some(Ok((2, 1))));
    assert_eq!(it.next(), Some(Ok((1, 2))));
    assert_divide_by_zero(it.next());
    assert_eq!(it.next(), Some(Ok((1, 0))));
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
}

#[test]
fn map_with_chunksize_yields_errors_at_their_position_and_continues() {
    // CPython F3 (chunksize=3 form)
    let ex = ThreadPoolExecutor::new(5).unwrap();
    let mut it = ex
        .map_with(
            divmod,
            std::iter::repeat(5).zip([2, 0, 3, 5]),
            MapOptions::new().chunksize(3),
        )
        .unwrap();
    assert_eq!(it.next(), Some(Ok((2, 1))));
    assert_divide_by_zero(it.next());
    assert_eq!(it.next(), Some(Ok((1, 2))));
    assert_eq!(it.next(), Some(Ok((1, 0))));
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
}

#[derive(Debug, Clone, PartialEq)]
struct CallableTimedOut;

#[test]
fn a_timeout_returned_or_raised_by_the_callable_is_that_items_value_not_maps_deadline() {
    // CPython F6
    let ex = ThreadPoolExecutor::new(4).unwrap();
    let returns = |i: u32| if i == 1 { Err(CallableTimedOut) } else { Ok(i) };
    let expected = vec![Ok(Ok(0)), Ok(Err(CallableTimedOut)), Ok(Ok(2)), Ok(Ok(3))];
    let got: Vec<_> = ex.map(returns, 0..4).collect();
    assert_eq!(got, expected);
    let got: Vec<_> = ex
        .map_with(returns, 0..4, MapOptions::new().timeout(LONG))
        .unwrap()
        .collect();
    assert_eq!(got, expected);

    // A panic that talks about timing out is a panic, not `FutureError::Timeout`.
    let panics = |i: u32| {
        if i == 1 {
            panic!("operation timed out");
        }
        i
    };
    for options in [MapOptions::new(), MapOptions::new().timeout(LONG)] {
        let got: Vec<_> = ex.map_with(panics, 0..4, options).unwrap().collect();
        assert_eq!(got.len(), 4);
        assert_eq!(
            got[1].as_ref().unwrap_err().panic_message(),
            Some("operation timed out")
        );
        assert_eq!(got[0], Ok(0));
        assert_eq!(got[2..], [Ok(2), Ok(3)]);
    }
}

// ---------------------------------------------------------------------------------------------
// F4, F5: the timeout is one deadline, counted from the map call

#[test]
fn map_timeout_yields_timeout_then_cancels_the_rest_and_ends() {
    // CPython F4
    let ex = ThreadPoolExecutor::new(1).unwrap();
    // The thread is started outside the budget, which only has to cover items 0 and 1.
    ex.start_workers().unwrap();
    let hold = gate();
    let ran = Ran::default();
    let (h, r) = (hold.clone(), ran.clone());
    let timeout = Duration::from_secs(1);
    let start = Instant::now();
    let mut it = ex
        .map_with(
            move |i: i64| {
                if i == 2 {
                    h.result(None).unwrap();
                }
                r.add(i);
                i
            },
            0..5,
            MapOptions::new().timeout(timeout),
        )
        .unwrap();
    assert_eq!(it.next(), Some(Ok(0)));
    assert_eq!(it.next(), Some(Ok(1)));
    assert_eq!(it.next(), Some(Err(FutureError::Timeout)));
    let waited = start.elapsed();
    assert!(waited >= timeout, "timed out early: {waited:?}");
    assert!(waited < LONG, "timed out far too late: {waited:?}");
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
    open(&hold);
    ex.shutdown(true, false);
    // Item 2 was running and finished; items 3 and 4 were cancelled and never ran.
    assert_eq!(ran.get(), BTreeSet::from([0, 1, 2]));
}

#[test]
fn map_timeout_is_one_deadline_counted_from_the_map_call() {
    // CPython F5
    let timeout = Duration::from_secs(1);
    let ex = ThreadPoolExecutor::new(1).unwrap();
    ex.start_workers().unwrap();
    let hold = gate();
    let h = hold.clone();
    let (item0_done, item0_rx) = mpsc::channel();
    let start = Instant::now();
    let mut it = ex
        .map_with(
            move |i: u32| {
                if i == 1 {
                    h.result(None).unwrap();
                }
                if i == 0 {
                    item0_done.send(()).unwrap();
                }
                i
            },
            0..3,
            MapOptions::new().timeout(timeout),
        )
        .unwrap();
    item0_rx.recv_timeout(LONG).expect("item 0 runs");
    // Spend most of the budget before iterating: the clock already runs. (Not synchronization:
    // the time spent is what this test is about.)
    std::thread::sleep((start + timeout * 3 / 4).saturating_duration_since(Instant::now()));
    assert_eq!(it.next(), Some(Ok(0)));
    let before = Instant::now();
    assert_eq!(it.next(), Some(Err(FutureError::Timeout)));
    // A per-item (or from-first-next) timeout would have waited the whole second here.
    assert!(
        before.elapsed() < timeout,
        "waited {:?}: the deadline was not counted from the map call",
        before.elapsed()
    );
    assert!(start.elapsed() >= timeout);
    assert_eq!(it.next(), None);
    open(&hold);
}

#[test]
fn map_timeout_that_passed_before_the_first_next_times_out_the_first_pending_item() {
    // CPython F5 ("sleeping past the timeout before the first next() times out item 0")
    let timeout = Duration::from_millis(100);
    let ex = ThreadPoolExecutor::new(1).unwrap();
    let hold = gate();
    let h = hold.clone();
    let mut it = ex
        .map_with(
            move |i: u32| {
                h.result(None).unwrap();
                i
            },
            0..3,
            MapOptions::new().timeout(timeout),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let before = Instant::now();
    assert_eq!(it.next(), Some(Err(FutureError::Timeout)));
    assert!(
        before.elapsed() < timeout,
        "waited {:?} after the deadline had passed",
        before.elapsed()
    );
    assert_eq!(it.next(), None);
    open(&hold);
}

// ---------------------------------------------------------------------------------------------
// F7, F8, F9, F10: dropping, eager submission, shutdown races, no retained results

#[test]
fn dropping_the_map_iterator_cancels_items_not_yet_started() {
    // CPython F7
    for options in [MapOptions::new(), MapOptions::new().chunksize(3)] {
        let ex = ThreadPoolExecutor::new(1).unwrap();
        let hold = gate();
        let ran = Ran::default();
        let (started_tx, started_rx) = mpsc::channel();
        let mut it = ex
            .map_with(ran.recorder_holding(1, started_tx, &hold), 0..10, options)
            .unwrap();
        assert_eq!(it.next(), Some(Ok(0)));
        started_rx.recv_timeout(LONG).expect("item 1 starts");
        drop(it); // Python's `close()`
        open(&hold);
        ex.shutdown(true, false);
        // Item 1 was running and finished; 2..10 never ran.
        assert_eq!(ran.get(), BTreeSet::from([0, 1]));
    }
}

#[test]
fn map_submits_every_item_without_iteration() {
    // CPython F8
    let ex = ThreadPoolExecutor::new(5).unwrap();
    let ran = Ran::default();
    let r = ran.clone();
    let it = ex.map(move |i: i64| r.add(i), 0..10);
    ex.shutdown(true, false);
    assert_eq!(ran.get(), (0..10).collect::<BTreeSet<_>>());
    drop(it);
}

#[test]
fn shutdown_right_after_an_unconsumed_map_does_not_hang() {
    // CPython F9
    for _ in 0..stress_iterations(10) {
        within("map then shutdown", || {
            let ex = ThreadPoolExecutor::new(5).unwrap();
            let it = ex.map(|x: u32| x.to_string(), vec![2; 6]);
            ex.shutdown(true, false);
            // Every item was submitted before the shutdown, so all still arrive.
            let got: Vec<String> = it.map(Result::unwrap).collect();
            assert_eq!(got, vec!["2"; 6]);
        });
    }
}

#[test]
fn map_keeps_no_reference_to_results_it_already_yielded() {
    // CPython F10
    let ex = ThreadPoolExecutor::new(2).unwrap();
    let mut it = ex.map(Arc::new, 0..3);
    let first = it.next().unwrap().unwrap();
    let weak = Arc::downgrade(&first);
    drop(first);
    assert!(
        weak.upgrade().is_none(),
        "the iterator kept the yielded value"
    );
    assert_eq!(it.map(|r| *r.unwrap()).collect::<Vec<_>>(), [1, 2]);
}

// ---------------------------------------------------------------------------------------------
// F15: buffersize

#[test]
fn map_buffersize_zero_is_rejected() {
    // CPython F15 (b); (a) is a Python type error with no Rust meaning
    let ex = ThreadPoolExecutor::new(2).unwrap();
    let err = ex
        .map_with(|x: i32| x, 0..4, MapOptions::new().buffersize(0))
        .unwrap_err();
    assert_eq!(err.to_string(), "buffersize must be None or > 0");
    assert_eq!(ex.num_threads(), 0, "nothing was submitted");
}

#[test]
fn map_buffersize_gives_the_same_results_in_order() {
    // CPython F15 (c), (d)
    let ex = ThreadPoolExecutor::new(5).unwrap();
    for buffersize in [1, 2, 4, 8] {
        let got: Vec<String> = ex
            .map_with(
                |i: i32| i.to_string(),
                0..4,
                MapOptions::new().buffersize(buffersize),
            )
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, ["0", "1", "2", "3"], "buffersize {buffersize}");
        let got: Vec<i32> = ex
            .map_with(
                |(a, b): (i32, i32)| a + b,
                (0..4).zip(0..4),
                MapOptions::new().buffersize(buffersize),
            )
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, [0, 2, 4, 6], "buffersize {buffersize}");
    }
}

#[test]
fn map_buffersize_works_on_infinite_input() {
    // CPython F15 (e), (f)
    let ex = ThreadPoolExecutor::new(5).unwrap();
    let got: Vec<String> = ex
        .map_with(|i: u64| i.to_string(), 0.., MapOptions::new().buffersize(2))
        .unwrap()
        .take(3)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, ["0", "1", "2"]);
    let got: Vec<u64> = ex
        .map_with(
            |(a, b): (u64, u64)| a + b,
            (0..).zip(0..),
            MapOptions::new().buffersize(2),
        )
        .unwrap()
        .take(3)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, [0, 2, 4]);
}

#[test]
fn map_buffersize_pulls_only_buffersize_items_before_iteration() {
    // CPython F15 (g)
    let ex = ThreadPoolExecutor::new(5).unwrap();
    let (ints, pulled) = counted(0u64..);
    let it = ex
        .map_with(|i: u64| i, ints, MapOptions::new().buffersize(2))
        .unwrap();
    ex.shutdown(true, false);
    assert_eq!(pulled.load(Ordering::SeqCst), 2);
    drop(it);
}

#[test]
fn map_buffersize_stays_at_most_buffersize_ahead_of_the_consumer() {
    // CPython F15 ("pulls at most buffersize ahead")
    let ex = ThreadPoolExecutor::new(4).unwrap();
    for buffersize in [1, 3] {
        let (ints, pulled) = counted(0u64..100);
        let mut it = ex
            .map_with(
                |i: u64| i * 2,
                ints,
                MapOptions::new().buffersize(buffersize),
            )
            .unwrap();
        assert_eq!(pulled.load(Ordering::SeqCst), buffersize);
        for yielded in 1..=20 {
            assert_eq!(it.next(), Some(Ok(2 * (yielded as u64 - 1))));
            let p = pulled.load(Ordering::SeqCst);
            assert!(
                p <= yielded + buffersize,
                "buffersize {buffersize}: pulled {p} after {yielded} results"
            );
        }
    }
}

#[test]
fn dropping_a_buffered_map_over_infinite_input_stops_pulling_input() {
    // CPython F7 with F15
    let ex = ThreadPoolExecutor::new(1).unwrap();
    let (ints, pulled) = counted(0u64..);
    let mut it = ex
        .map_with(|i: u64| i, ints, MapOptions::new().buffersize(3))
        .unwrap();
    assert_eq!(it.next(), Some(Ok(0)));
    let pulled_at_drop = pulled.load(Ordering::SeqCst);
    assert!(pulled_at_drop <= 4, "pulled {pulled_at_drop}");
    drop(it);
    ex.shutdown(true, false);
    assert_eq!(pulled.load(Ordering::SeqCst), pulled_at_drop);
}

// ---------------------------------------------------------------------------------------------
// map on a pool that refuses work (I1 for map)

#[test]
fn map_after_shutdown_yields_one_rejected_error_then_ends() {
    // CPython I1 (map's form)
    let ex = ThreadPoolExecutor::new(2).unwrap();
    ex.shutdown(true, false);
    let mut it = ex.map(|x: i32| x, 0..5);
    assert_eq!(
        it.next(),
        Some(Err(FutureError::Rejected(SubmitError::Shutdown)))
    );
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
}

#[test]
fn buffered_map_yields_submitted_items_then_rejected_when_the_pool_shuts_down_midway() {
    // CPython I1 with F15
    let ex = ThreadPoolExecutor::new(2).unwrap();
    let mut it = ex
        .map_with(|x: i32| x, 0..10, MapOptions::new().buffersize(2))
        .unwrap();
    assert_eq!(it.next(), Some(Ok(0)));
    ex.shutdown(true, false);
    // Items 1 and 2 were submitted before the shutdown; item 3 is refused.
    assert_eq!(it.next(), Some(Ok(1)));
    assert_eq!(it.next(), Some(Ok(2)));
    assert_eq!(
        it.next(),
        Some(Err(FutureError::Rejected(SubmitError::Shutdown)))
    );
    assert_eq!(it.next(), None);
}

// ---------------------------------------------------------------------------------------------
// The thread pool submits a whole `map` as one batch (see `src/thread_pool/batch.rs`): these
// pin the per-item behaviours that batching must keep.

#[test]
fn map_items_start_in_input_order_on_one_worker() {
    // CPython's work queue is FIFO: with one worker, items run in submission order.
    let ex = ThreadPoolExecutor::new(1).unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let n = stress_iterations(200) as u32;
    let out: Vec<u32> = ex
        .map(
            move |i: u32| {
                o.lock().unwrap().push(i);
                i
            },
            0..n,
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..n).collect::<Vec<_>>());
    assert_eq!(*order.lock().unwrap(), out);
}

#[test]
fn map_runs_as_many_items_at_once_as_the_pool_has_workers() {
    // The loiter demo's shape: 3 workers, 3 items that each wait for the other two.
    let ex = ThreadPoolExecutor::new(3).unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(3));
    let b = barrier.clone();
    within("3 items meet at a barrier", move || {
        let out: Vec<u32> = ex
            .map(
                move |i: u32| {
                    b.wait();
                    i
                },
                0..3,
            )
            .map(Result::unwrap)
            .collect();
        assert_eq!(out, [0, 1, 2]);
    });
}

#[test]
fn map_called_from_a_task_of_the_same_pool_runs_pending_items_on_that_task() {
    // A one-worker pool whose only worker reads a map: no other worker could run the items, so
    // the reader runs them itself instead of deadlocking (as `result()` does for a future).
    let ex = Arc::new(ThreadPoolExecutor::new(1).unwrap());
    let inner = ex.clone();
    let f = ex
        .submit(
            move |n: u32| {
                inner
                    .map(|i: u32| i * 2, 0..n)
                    .map(Result::unwrap)
                    .sum::<u32>()
            },
            5,
        )
        .unwrap();
    assert_eq!(f.result(Some(LONG)), Ok(&20));
}

#[test]
fn shutdown_cancel_futures_cancels_map_items_no_worker_reached() {
    // CPython I5 (cancel_futures): every item not started is cancelled, even when the batch's
    // only token has left the queue because the one worker is busy with item 0.
    let ex = ThreadPoolExecutor::new(1).unwrap();
    let hold = gate();
    let ran = Ran::default();
    let (started_tx, started_rx) = mpsc::channel();
    let mut it = ex.map(ran.recorder_holding(0, started_tx, &hold), 0..10);
    started_rx.recv_timeout(LONG).expect("item 0 starts");
    ex.shutdown(false, true);
    open(&hold);
    assert_eq!(it.next(), Some(Ok(0)));
    for _ in 1..10 {
        assert_eq!(it.next(), Some(Err(FutureError::Cancelled)));
    }
    assert_eq!(it.next(), None);
    ex.shutdown(true, false);
    assert_eq!(ran.get(), BTreeSet::from([0]));
}

#[test]
fn a_failed_initializer_fails_the_map_items_no_worker_reached() {
    // CPython K3 (BrokenThreadPool): the second initializer to run fails while the first worker
    // runs item 0; the items not started fail with the broken-executor error.
    let inits = Arc::new(AtomicUsize::new(0));
    // The failing initializer waits for item 0 to start: otherwise it could break the pool while
    // the other worker is still on its way to the queue, and item 0 would fail too.
    let item0_started = gate();
    let started = item0_started.clone();
    let ex = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(2)
            .initializer(move || {
                if inits.fetch_add(1, Ordering::SeqCst) == 1 {
                    started.result(Some(LONG)).unwrap();
                    panic!("second worker refuses");
                }
            })
            .build()
            .unwrap(),
    );
    let hold = gate();
    let h = hold.clone();
    let mut it = ex.map(
        move |i: u32| {
            if i == 0 {
                open(&item0_started);
                h.result(None).unwrap();
            }
            i
        },
        0..6,
    );
    // The pool reports itself broken once the failing worker has stopped the batch.
    let probe = ex.clone();
    within("the pool breaks", move || {
        while !matches!(probe.submit(|x: u32| x, 0), Err(SubmitError::Broken(_))) {
            std::thread::yield_now();
        }
    });
    open(&hold);
    assert_eq!(it.next(), Some(Ok(0)));
    for _ in 1..6 {
        let item = it.next().unwrap();
        assert!(
            matches!(item, Err(FutureError::BrokenExecutor(_))),
            "{item:?}"
        );
    }
    assert_eq!(it.next(), None);
}

#[test]
fn a_map_dropped_at_random_points_runs_each_item_at_most_once() {
    // Stress: readers stop early while two workers claim items; every yielded value is its own
    // item's, nothing runs twice, and nothing read was skipped.
    for round in 0..stress_iterations(50) {
        let ex = ThreadPoolExecutor::new(2).unwrap();
        let counts: Arc<Vec<AtomicUsize>> =
            Arc::new((0..1000).map(|_| AtomicUsize::new(0)).collect());
        let c = counts.clone();
        let it = ex.map(
            move |i: usize| {
                c[i].fetch_add(1, Ordering::Relaxed);
                if i % 97 == 13 {
                    panic!("item {i}");
                }
                i
            },
            0..1000,
        );
        let keep = (round * 37) % 1000;
        for (i, item) in it.take(keep).enumerate() {
            match item {
                Ok(v) => assert_eq!(v, i),
                Err(e) => assert_eq!(e.panic_message(), Some(format!("item {i}").as_str())),
            }
        }
        // `take` dropped the iterator; the shutdown waits for the items already claimed.
        ex.shutdown(true, false);
        for (i, c) in counts.iter().enumerate() {
            let runs = c.load(Ordering::Relaxed);
            assert!(runs <= 1, "item {i} ran {runs} times");
            if i < keep {
                assert_eq!(runs, 1, "item {i} was read but did not run");
            }
        }
    }
}
