//! A quick measurement of the thread pool's per-task cost, without criterion:
//!
//! ```text
//! cargo run --release --example submit_throughput -- 2     # 2 worker threads
//! ```
//!
//! Three phases, 1M trivial tasks each: submitting while every worker is blocked (the cost of
//! `submit` alone), draining that backlog, and submit + `result` with the workers running
//! (the contended case the criterion bench `thread_pool/submit_result` measures).

use concurrent_futures::{Future, ThreadPoolExecutor};
use std::time::Instant;

const N: u64 = 1_000_000;

fn per_task(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e6 / N as f64
}

fn main() {
    let workers: usize = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 2,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: submit_throughput [WORKERS]");
            std::process::exit(2);
        }
    };
    let pool = ThreadPoolExecutor::new(workers).expect("workers > 0");
    for round in 1..=3 {
        let gate: Future<()> = Future::new();
        let blockers: Vec<_> = (0..workers)
            .map(|_| {
                let gate = gate.clone();
                pool.spawn(move || gate.result(None).map(|_| ()).ok())
                    .expect("pool running")
            })
            .collect();
        while blockers.iter().any(|b| !b.running()) {
            std::thread::yield_now();
        }
        let start = Instant::now();
        let futures: Vec<_> = (0..N)
            .map(|i| pool.spawn(move || i).expect("pool running"))
            .collect();
        let submitted = start.elapsed();
        gate.set_result(()).expect("opened once");
        for f in &futures {
            f.result(None).expect("tasks do not fail");
        }
        let drained = start.elapsed() - submitted;
        drop(futures);

        let start = Instant::now();
        let futures: Vec<_> = (0..N)
            .map(|i| pool.spawn(move || i).expect("pool running"))
            .collect();
        for f in &futures {
            f.result(None).expect("tasks do not fail");
        }
        let overlapped = start.elapsed();
        println!(
            "round {round}, {workers} workers: submit (workers blocked) {:.3} µs/task, drain {:.3} µs/task, submit + result (workers running) {:.3} µs/task",
            per_task(submitted),
            per_task(drained),
            per_task(overlapped)
        );
    }
}
