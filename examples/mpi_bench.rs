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
//! the MPI ranks idle). Each figure is the best of three runs.

#[path = "support/sha_job.rs"]
mod sha_job;

use concurrent_futures::{Executor, MapOptions, MpiPoolExecutor, ProcessPoolExecutor};
use std::time::{Duration, Instant};

fn inc(n: u64) -> u64 {
    n + 1
}

fn best_rate(runs: usize, tasks: u64, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t0 = Instant::now();
            f();
            tasks as f64 / t0.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

struct Figures {
    submit: f64,
    map1: f64,
    map1000: f64,
    sha: f64,
    rtt_busy: Duration,
    rtt_idle: Duration,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn measure(ex: &impl Executor, n: u64) -> Figures {
    // Warm up: workers started, handshakes done, depth estimates settled.
    let _: Vec<_> = ex.map(inc, 0..10_000).collect();
    let submit = best_rate(3, n, || {
        let futures: Vec<_> = (0..n).map(|i| ex.submit(inc, i).unwrap()).collect();
        for f in &futures {
            f.result(None).unwrap();
        }
    });
    let map1 = best_rate(3, n, || {
        assert_eq!(ex.map(inc, 0..n).count() as u64, n);
    });
    let map1000 = best_rate(3, n * 10, || {
        let m = ex
            .map_with(inc, 0..n * 10, MapOptions::new().chunksize(1000))
            .unwrap();
        assert_eq!(m.count() as u64, n * 10);
    });
    let jobs = 24;
    let sha = best_rate(3, jobs, || {
        let futures: Vec<_> = (0..jobs)
            .map(|s| ex.submit(sha_job::sha_job, (s, 1 << 20)).unwrap())
            .collect();
        for f in &futures {
            f.result(None).unwrap();
        }
    });
    let rtt_busy = median(
        (0..2000)
            .map(|i| {
                let t0 = Instant::now();
                ex.submit(inc, i).unwrap().result(None).unwrap();
                t0.elapsed()
            })
            .collect(),
    );
    let rtt_idle = median(
        (0..15)
            .map(|i| {
                std::thread::sleep(Duration::from_millis(200));
                let t0 = Instant::now();
                ex.submit(inc, i).unwrap().result(None).unwrap();
                t0.elapsed()
            })
            .collect(),
    );
    Figures {
        submit,
        map1,
        map1000,
        sha,
        rtt_busy,
        rtt_idle,
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let mpi = MpiPoolExecutor::new().expect("run me under mpirun -n 3");
    let workers = mpi.max_workers();
    println!("{workers} MPI worker ranks vs a process pool of {workers}; {n} trivial tasks");
    let m = measure(&mpi, n);
    drop(mpi);
    let processes = ProcessPoolExecutor::new(workers).unwrap();
    let p = measure(&processes, n);
    drop(processes);
    println!(
        "{:<34} {:>14} {:>14} {:>9}",
        "workload", "process pool", "MPI pool", "MPI/proc"
    );
    let row = |name: &str, p: f64, m: f64, unit: &str| {
        println!(
            "{name:<34} {:>10.0} {unit} {:>10.0} {unit} {:>8.2}x",
            p,
            m,
            m / p
        );
    };
    row("trivial: submit + result", p.submit, m.submit, "/s");
    row("trivial: map, chunksize 1", p.map1, m.map1, "/s");
    row("trivial: map, chunksize 1000", p.map1000, m.map1000, "/s");
    println!(
        "{:<34} {:>12.2}/s {:>12.2}/s {:>8.2}x",
        "SHA-256 of 1 MiB (24 jobs)",
        p.sha,
        m.sha,
        m.sha / p.sha
    );
    println!(
        "{:<34} {:>14.1?} {:>14.1?}",
        "round trip, back to back (median)", p.rtt_busy, m.rtt_busy
    );
    println!(
        "{:<34} {:>14.1?} {:>14.1?}",
        "round trip after 200 ms idle", p.rtt_idle, m.rtt_idle
    );
}
