//! The pools on real work: the `sha_futures` workload (SHA-256 of 12 arrays of 1 MiB, each job
//! making its own data) through this crate's thread and process pools and through rayon's
//! `par_iter`, with
//! the same worker count, in one run; plus the plain loop they are both measured against.
//!
//! Run with `cargo bench --bench cpu`. Every pool is created once, outside the clock, so the
//! figures are the cost of handing out 12 jobs of about 2 ms each and collecting their results.
//! After criterion ends, a summary prints each row's time, its speedup over the plain loop and
//! its time relative to rayon, read back from criterion's own estimates.
//!
//! The process pool runs the same runner on worker processes: see [`process_pool`].

#[path = "../examples/support/cpu_demo.rs"]
mod cpu_demo;

#[path = "support/estimates.rs"]
mod estimates;

use concurrent_futures::{Executor, ThreadPoolExecutor};
use cpu_demo::{run, run_sequential, sha, verify, Kind, Sha, ShaJob, Workload};
use criterion::{black_box, Criterion, SamplingMode, Throughput};
use estimates::fresh_median_ns;
use rayon::prelude::*;
use std::time::Duration;

/// Worker threads for every pool: the benchmark machine has 2 cores.
const WORKERS: usize = 2;
/// The criterion group; the summary reads `target/criterion/<GROUP>/<bench>/new/estimates.json`.
const GROUP: &str = "sha256_12x1MiB";
/// The rows, in summary order.
const ROWS: [&str; 5] = [
    "sequential",
    "concurrent_futures_thread",
    "concurrent_futures_thread_map",
    "rayon_par_iter",
    "concurrent_futures_process",
];

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn configure(group: &mut Group<'_>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sampling_mode(SamplingMode::Flat);
}

/// Every job through `Executor::map`, results in order.
fn map_all<E: Executor>(pool: &E, inputs: &[ShaJob]) -> Vec<String> {
    pool.map(sha, inputs.to_vec())
        .map(|r| r.expect("sha does not fail"))
        .collect()
}

fn bench(c: &mut Criterion) {
    let workload = Sha::book();
    let inputs = workload.inputs();
    let bytes: usize = inputs.iter().map(|job| job.size).sum();
    let (_, reference) = run_sequential(&workload);

    let mut group = c.benchmark_group(GROUP);
    configure(&mut group);
    group.throughput(Throughput::Bytes(bytes as u64));

    group.bench_function("sequential", |b| {
        b.iter(|| inputs.iter().copied().map(sha).collect::<Vec<_>>())
    });

    // The demo's own runner: `submit` each job, then `as_completed`.
    let pool = ThreadPoolExecutor::new(WORKERS).unwrap();
    let results = run(&pool, &workload, |_| {}).unwrap();
    verify::<Sha>(Kind::Thread, WORKERS, &reference, &results).unwrap();
    group.bench_function("concurrent_futures_thread", |b| {
        b.iter(|| run(&pool, black_box(&workload), |_| {}).unwrap())
    });
    assert_eq!(map_all(&pool, &inputs), reference);
    group.bench_function("concurrent_futures_thread_map", |b| {
        b.iter(|| map_all(&pool, black_box(&inputs)))
    });
    drop(pool);

    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .unwrap();
    let par_iter = || {
        rayon.install(|| {
            black_box(&inputs)
                .par_iter()
                .copied()
                .map(sha)
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(par_iter(), reference);
    group.bench_function("rayon_par_iter", |b| b.iter(par_iter));

    #[cfg(unix)]
    process_pool(&mut group, &workload, &reference);
    group.finish();
}

/// The same demo runner on worker processes: the jobs' inputs and digests cross the process
/// boundary, the work itself is the same. The process pool exists on Unix.
#[cfg(unix)]
fn process_pool(group: &mut Group<'_>, workload: &Sha, reference: &[String]) {
    let pool = concurrent_futures::ProcessPoolExecutor::new(WORKERS).unwrap();
    let results = run(&pool, workload, |_| {}).unwrap();
    verify::<Sha>(Kind::Process, WORKERS, reference, &results).unwrap();
    group.bench_function("concurrent_futures_process", |b| {
        b.iter(|| run(&pool, black_box(workload), |_| {}).unwrap())
    });
}

// ---------------------------------------------------------------------------------------------
// Summary, from criterion's estimates

fn summary(ran_at: std::time::SystemTime) {
    // Only rows this run measured: an old estimate of a row filtered out now would mislead.
    let fresh = |bench: &str| fresh_median_ns(&format!("{GROUP}/{bench}"), ran_at);
    let sequential = fresh("sequential");
    let rayon = fresh("rayon_par_iter");
    println!("\n== summary: {GROUP}, {WORKERS} workers per pool, medians from criterion ==");
    println!(
        "{:<32} {:>10} {:>22} {:>15}",
        "bench", "ms/run", "speedup over the loop", "time vs rayon"
    );
    for row in ROWS {
        let Some(ns) = fresh(row) else {
            println!("{row:<32} {:>10}", "not run");
            continue;
        };
        let speedup = sequential.map_or("-".into(), |s| format!("{:.2}x", s / ns));
        let vs_rayon = rayon.map_or("-".into(), |r| format!("{:.2}", ns / r));
        println!("{row:<32} {:>10.2} {speedup:>22} {vs_rayon:>15}", ns / 1e6);
    }
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let ran_at = std::time::SystemTime::now();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    if bench_mode {
        summary(ran_at);
    }
}
