//! Awaiting pool futures from a tokio task, against tokio's own `spawn_blocking`.
//!
//! Run with `cargo bench --bench await` (`CF_BENCH_N` sets the task count, default 100 000).
//! Each iteration submits N trivial blocking tasks from inside one tokio task and `.await`s
//! every handle in submission order; the clock covers submitting, awaiting and dropping the
//! handles. Every contender gets the same threads: a tokio runtime with one worker thread
//! (where the awaiting task runs) and 2 threads for the blocking work:
//!
//! - `concurrent_futures`: `ThreadPoolExecutor::new(2)`, `pool.submit(task, i)`, `future.await`
//!   (the waker is registered in the future's waiter list; the worker wakes it).
//! - `spawn_blocking_2`: `tokio::task::spawn_blocking` on a runtime with
//!   `max_blocking_threads(2)`, `handle.await`.
//! - `spawn_blocking_default`: the same with tokio's default blocking pool (up to 512 threads),
//!   what most programs get.

use concurrent_futures::ThreadPoolExecutor;
use criterion::{black_box, Criterion, SamplingMode, Throughput};
use std::time::Duration;

const WORKERS: usize = 2;
const DEFAULT_N: usize = 100_000;

fn bench_n() -> usize {
    std::env::var("CF_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_N)
}

fn task(i: usize) -> usize {
    black_box(i)
}

fn runtime(blocking_threads: Option<usize>) -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(1);
    if let Some(n) = blocking_threads {
        builder.max_blocking_threads(n);
    }
    builder.build().expect("a tokio runtime")
}

fn main() {
    let n = bench_n();
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = criterion.benchmark_group(format!("await_{n}"));
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(n as u64));

    let pool = ThreadPoolExecutor::new(WORKERS).expect("a pool");
    let rt = runtime(None);
    group.bench_function("concurrent_futures", |b| {
        b.iter(|| {
            rt.block_on(async {
                let futures: Vec<_> = (0..n).map(|i| pool.submit(task, i).unwrap()).collect();
                let mut sum = 0;
                for f in futures {
                    sum += f.await.unwrap();
                }
                black_box(sum)
            })
        })
    });
    drop(rt);

    for (name, blocking) in [
        ("spawn_blocking_2", Some(WORKERS)),
        ("spawn_blocking_default", None),
    ] {
        let rt = runtime(blocking);
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let handles: Vec<_> = (0..n)
                        .map(|i| tokio::task::spawn_blocking(move || task(i)))
                        .collect();
                    let mut sum = 0;
                    for h in handles {
                        sum += h.await.unwrap();
                    }
                    black_box(sum)
                })
            })
        });
    }
    group.finish();
    criterion.final_summary();
}
