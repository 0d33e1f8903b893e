//! The MPI pool against the process pool on this machine: trivial tasks and SHA-256 jobs,
//! tasks per second and the ratio, plus round-trip latency (feature `mpi`).
//!
//! ```text
//! cargo build --release --features mpi --example mpi_bench
//! mpirun --oversubscribe -n 3 target/release/examples/mpi_bench        # 2 ranks vs 2 processes
//! mpirun --oversubscribe -n 3 target/release/examples/mpi_bench 500000 # more trivial tasks
//! ```
//!
//! Both pools get two workers: ranks 1 and 2, or two worker processes started by rank 0 (while
//! the MPI ranks idle). Each figure is the best of three runs, the pools taking turns.

#[path = "support/sha_job.rs"]
mod sha_job;

use concurrent_futures::{Executor, MapOptions, MpiPoolExecutor, ProcessPoolExecutor};
use std::time::{Duration, Instant};

fn inc(n: u64) -> u64 {
    n + 1
}

/// Rate of one run of `f` doing `tasks` tasks.
fn rate(tasks: u64, f: impl FnOnce()) -> f64 {
    let t0 = Instant::now();
    f();
    tasks as f64 / t0.elapsed().as_secs_f64()
}

fn submit_all(ex: &impl Executor, n: u64) -> f64 {
    rate(n, || {
        let futures: Vec<_> = (0..n).map(|i| ex.submit(inc, i).unwrap()).collect();
        for f in &futures {
            f.result(None).unwrap();
        }
    })
}

fn map_chunks(ex: &impl Executor, n: u64, chunksize: usize) -> f64 {
    rate(n, || {
        let m = ex
            .map_with(inc, 0..n, MapOptions::new().chunksize(chunksize))
            .unwrap();
        assert_eq!(m.count() as u64, n);
    })
}

const SHA_JOBS: u64 = 24;

fn sha(ex: &impl Executor) -> f64 {
    rate(SHA_JOBS, || {
        let futures: Vec<_> = (0..SHA_JOBS)
            .map(|s| ex.submit(sha_job::sha_job, (s, 1 << 20)).unwrap())
            .collect();
        for f in &futures {
            f.result(None).unwrap();
        }
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn round_trips(ex: &impl Executor, count: u64, pause: Duration) -> Duration {
    median(
        (0..count)
            .map(|i| {
                std::thread::sleep(pause);
                let t0 = Instant::now();
                ex.submit(inc, i).unwrap().result(None).unwrap();
                t0.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let mpi = MpiPoolExecutor::new().expect("run me under mpirun -n 3");
    let workers = mpi.max_workers();
    let procs = ProcessPoolExecutor::new(workers).unwrap();
    println!("{workers} MPI worker ranks vs a process pool of {workers}; {n} trivial tasks");
    // Warm up: workers started, handshakes done, depth estimates settled.
    let _: Vec<_> = procs.map(inc, 0..10_000).collect();
    let _: Vec<_> = mpi.map(inc, 0..10_000).collect();
    // Best of three, the pools taking turns (the machine is shared and noisy).
    let mut best = [[0f64; 2]; 4];
    for _ in 0..3 {
        for (i, figures) in [
            [submit_all(&procs, n), submit_all(&mpi, n)],
            [map_chunks(&procs, n, 1), map_chunks(&mpi, n, 1)],
            [
                map_chunks(&procs, n * 10, 1000),
                map_chunks(&mpi, n * 10, 1000),
            ],
            [sha(&procs), sha(&mpi)],
        ]
        .into_iter()
        .enumerate()
        {
            for (b, f) in best[i].iter_mut().zip(figures) {
                *b = b.max(f);
            }
        }
    }
    let busy = [
        round_trips(&procs, 2000, Duration::ZERO),
        round_trips(&mpi, 2000, Duration::ZERO),
    ];
    let idle = [
        round_trips(&procs, 15, Duration::from_millis(200)),
        round_trips(&mpi, 15, Duration::from_millis(200)),
    ];
    println!(
        "{:<34} {:>14} {:>14} {:>9}",
        "workload", "process pool", "MPI pool", "MPI/proc"
    );
    let names = [
        "trivial: submit + result",
        "trivial: map, chunksize 1",
        "trivial: map, chunksize 1000",
        "SHA-256 of 1 MiB (24 jobs)",
    ];
    for (name, [p, m]) in names.iter().zip(best) {
        println!("{name:<34} {p:>12.0}/s {m:>12.0}/s {:>8.2}x", m / p);
    }
    println!(
        "{:<34} {:>14.1?} {:>14.1?}",
        "round trip, back to back (median)", busy[0], busy[1]
    );
    println!(
        "{:<34} {:>14.1?} {:>14.1?}",
        "round trip after 200 ms idle", idle[0], idle[1]
    );
}
