//! Results that are `Send` but not `Sync`: every way of running a task accepts them, and every
//! way of moving the value out hands them over. Only what lends `&T` to several threads
//! (`result()`, `(&future).await`) asks for `Sync`; the `compile_fail` doctest on
//! `Future::result` proves that side.

mod common;
use common::LONG;

#[cfg(feature = "process-pool")]
use concurrent_futures::Executor;
use concurrent_futures::{
    as_completed, wait, Await, Future, FutureError, MapOptions, ReturnWhen, ThreadPoolExecutor,
};
use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::future::IntoFuture;
use std::sync::mpsc;

/// An error type that is `Send` but not `Sync` (it holds a `Cell`).
#[derive(Debug)]
struct Unshareable(Cell<u32>);

impl fmt::Display for Unshareable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed at step {}", self.0.get())
    }
}

impl Error for Unshareable {}

fn cell_of(n: u32) -> Cell<u32> {
    Cell::new(n)
}

fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
fn assert_send<T: Send>() {}

#[test]
fn a_future_of_a_send_only_value_is_send_sync_and_clone() {
    assert_send_sync_clone::<Future<Cell<u32>>>();
    assert_send_sync_clone::<Future<mpsc::Receiver<u8>>>();
    assert_send_sync_clone::<Future<Box<dyn Error + Send>>>();
    assert_send::<Await<Cell<u32>>>();
}

#[test]
fn submit_returns_a_boxed_error_that_is_only_send() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let f = pool
        .submit(
            |step: u32| -> Result<u32, Box<dyn Error + Send>> {
                Err(Box::new(Unshareable(Cell::new(step))))
            },
            7,
        )
        .unwrap();
    let err = f.into_result().unwrap().unwrap_err();
    assert_eq!(err.to_string(), "failed at step 7");
}

#[test]
fn spawn_returns_a_receiver_that_the_caller_reads() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let f = pool
        .spawn(|| {
            let (tx, rx) = mpsc::channel();
            for i in 0..3u8 {
                tx.send(i).unwrap();
            }
            rx
        })
        .unwrap();
    let rx: mpsc::Receiver<u8> = f.into_result().unwrap();
    assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);
}

#[test]
fn spawn_returns_a_cell_the_caller_mutates() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let cell = pool
        .spawn(|| Cell::new(41u32))
        .unwrap()
        .into_result()
        .unwrap();
    cell.set(cell.get() + 1);
    assert_eq!(cell.get(), 42);
}

/// `map` (one batch), `map_with` + `buffersize` (one task per item) and `map_unordered` all
/// yield owned values, so a `Send`-only result is enough.
#[test]
fn map_and_map_unordered_yield_send_only_values() {
    let pool = ThreadPoolExecutor::new(3).unwrap();
    let batch: Vec<u32> = pool.map(cell_of, 0..10).map(|c| c.unwrap().get()).collect();
    assert_eq!(batch, (0..10).collect::<Vec<_>>());

    let buffered: Vec<u32> = pool
        .map_with(cell_of, 0..10, MapOptions::new().buffersize(2))
        .unwrap()
        .map(|c| c.unwrap().get())
        .collect();
    assert_eq!(buffered, (0..10).collect::<Vec<_>>());

    let mut unordered: Vec<u32> = pool
        .map_unordered(cell_of, 0..10)
        .map(|c| c.unwrap().get())
        .collect();
    unordered.sort_unstable();
    assert_eq!(unordered, (0..10).collect::<Vec<_>>());

    let receivers: Vec<mpsc::Receiver<u32>> = pool
        .map_unordered(
            |n: u32| {
                let (tx, rx) = mpsc::channel();
                tx.send(n).unwrap();
                rx
            },
            0..4,
        )
        .map(Result::unwrap)
        .collect();
    let mut got: Vec<u32> = receivers.iter().map(|rx| rx.recv().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2, 3]);
}

/// A `Cell` is a serde `Payload` without being `Sync`: the `Executor` trait takes it.
#[test]
#[cfg(feature = "process-pool")]
fn the_executor_trait_carries_send_only_payloads() {
    fn total(ex: &(impl Executor + Sync)) -> u32 {
        let one = ex.submit(cell_of, 5).unwrap().into_result().unwrap().get();
        let mapped: u32 = ex.map(cell_of, 1..=3).map(|c| c.unwrap().get()).sum();
        let unordered: u32 = ex
            .map_unordered(cell_of, 1..=3)
            .map(|c| c.unwrap().get())
            .sum();
        one + mapped + unordered
    }
    let pool = ThreadPoolExecutor::new(2).unwrap();
    assert_eq!(total(&pool), 5 + 6 + 6);
}

#[test]
fn scoped_tasks_return_send_only_values() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let data = [3u32, 4, 5];
    let cells: Vec<Cell<u32>> = pool.scope(|s| {
        let futures: Vec<_> = data
            .iter()
            .map(|n| s.spawn(move || Cell::new(n * 2)).unwrap())
            .collect();
        futures
            .into_iter()
            .map(|f| f.into_result().unwrap())
            .collect()
    });
    assert_eq!(cells.iter().map(Cell::get).collect::<Vec<_>>(), [6, 8, 10]);
    let f = pool.scope(|s| s.submit(|n: u32| Cell::new(n), 9).unwrap());
    assert_eq!(f.into_result().unwrap().get(), 9);
}

#[test]
fn awaiting_an_owned_future_moves_a_send_only_value_out() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let f = pool
        .spawn(|| {
            let (tx, rx) = mpsc::channel();
            tx.send(String::from("through a receiver")).unwrap();
            rx
        })
        .unwrap();
    // `tokio::spawn` needs a `Send` future: `Await<Receiver<_>>` is one.
    let rx = rt.block_on(async { tokio::spawn(f.into_future()).await.unwrap() });
    assert_eq!(rx.unwrap().recv().unwrap(), "through a receiver");
}

/// `exception()`, `Display`, `done()` and the callbacks look at a `Send`-only future's outcome
/// without lending its value.
#[test]
fn exception_display_and_callbacks_need_no_sync() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let ok = pool.spawn(|| Cell::new(1u32)).unwrap();
    let (tx, rx) = mpsc::channel();
    ok.add_done_callback(move |f| tx.send((f.done(), f.exception(None).is_ok())).unwrap());
    assert_eq!(rx.recv_timeout(LONG).unwrap(), (true, true));
    assert_eq!(ok.exception(None), Ok(None));
    assert!(
        ok.to_string()
            .ends_with("state=finished returned Cell<u32>>"),
        "{ok}"
    );

    let failed = pool
        .spawn(|| -> Cell<u32> { panic!("no cell today") })
        .unwrap();
    let err = failed.exception(None).unwrap().unwrap();
    assert_eq!(err.panic_message(), Some("no cell today"));
    assert!(failed.to_string().contains("finished raised"), "{failed}");
    assert_eq!(failed.into_result().unwrap_err(), err);
}

/// Another handle keeps a `Send`-only value shared: moving it out is refused, not unsound.
#[test]
fn into_result_refuses_a_send_only_value_other_handles_share() {
    let f = Future::new();
    f.set_result(Cell::new(3u32)).unwrap();
    let other = f.clone();
    assert_eq!(f.into_result().unwrap_err(), FutureError::Shared);
    assert_eq!(other.into_result().unwrap().get(), 3);
}

#[test]
fn wait_and_as_completed_take_send_only_futures() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let futures: Vec<Future<Cell<u32>>> =
        (0..4).map(|n| pool.submit(cell_of, n).unwrap()).collect();
    let done = wait(&futures, Some(LONG), ReturnWhen::AllCompleted);
    assert_eq!(done.done.len(), 4);
    drop(done); // its handles would keep the values shared
    let mut values: Vec<u32> = as_completed(futures, Some(LONG))
        .map(|f| f.unwrap().into_result().unwrap().get())
        .collect();
    values.sort_unstable();
    assert_eq!(values, [0, 1, 2, 3]);
}
