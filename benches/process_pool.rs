//! `ProcessPoolExecutor` against procspawn's `Pool` and CPython's `ProcessPoolExecutor`, on
//! trivial tasks (so the figures are the pools' own overhead), with 2 worker processes each.
//!
//! Run with `cargo bench --bench process_pool`; `benches/README.md` has the figures of the last
//! recorded run. Groups:
//! - `submit_result`: submit N tasks, then take each result (procspawn in batches of 200, since
//!   its pool fails with "Too many open files" at 20k pending tasks);
//! - `map_chunked`: `map` over 1M items with a large chunksize;
//! - after criterion: the time from a worker's crash being reported to the next task's result
//!   on its replacement, and CPython's figures (`benches/cpython_process_pool.py`) if `python3`
//!   is on PATH.
//!
//! The process pool exists on Unix; elsewhere this bench says so and measures nothing.

#[cfg(unix)]
mod bench {
    use concurrent_futures::{FutureError, MapOptions, ProcessPoolExecutor};
    use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
    use std::time::{Duration, Instant};

    const WORKERS: usize = 2;
    const N_SUBMIT: usize = 10_000;
    const N_MAP: u64 = 1_000_000;
    const PROCSPAWN_BATCH: usize = 200;

    fn noop(n: u64) -> u64 {
        n
    }

    fn crash(_: ()) -> u64 {
        std::process::abort()
    }

    fn submit_result(c: &mut Criterion) {
        let mut group = c.benchmark_group("process_pool/submit_result");
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.throughput(Throughput::Elements(N_SUBMIT as u64));

        let pool = ProcessPoolExecutor::new(WORKERS).unwrap();
        pool.map(noop, 0..100).for_each(drop); // workers started outside the clock
        group.bench_function(BenchmarkId::new("concurrent_futures", N_SUBMIT), |b| {
            b.iter(|| {
                let futures: Vec<_> = (0..N_SUBMIT as u64)
                    .map(|i| pool.submit(noop, i).unwrap())
                    .collect();
                let mut sum = 0;
                for f in futures {
                    sum += f.into_result().unwrap();
                }
                assert_eq!(sum, (N_SUBMIT as u64) * (N_SUBMIT as u64 - 1) / 2);
            })
        });
        drop(pool);

        let pool = procspawn::Pool::new(WORKERS).unwrap();
        let warm: Vec<_> = (0..10u64).map(|i| pool.spawn(i, noop)).collect();
        warm.into_iter().for_each(|h| drop(h.join()));
        group.bench_function(BenchmarkId::new("procspawn", N_SUBMIT), |b| {
            b.iter(|| {
                let mut sum = 0;
                for start in (0..N_SUBMIT as u64).step_by(PROCSPAWN_BATCH) {
                    let handles: Vec<_> = (start..start + PROCSPAWN_BATCH as u64)
                        .map(|i| pool.spawn(i, noop))
                        .collect();
                    for h in handles {
                        sum += h.join().unwrap();
                    }
                }
                assert_eq!(sum, (N_SUBMIT as u64) * (N_SUBMIT as u64 - 1) / 2);
            })
        });
        pool.shutdown();
        group.finish();
    }

    fn map_chunked(c: &mut Criterion) {
        let mut group = c.benchmark_group("process_pool/map_chunked");
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.throughput(Throughput::Elements(N_MAP));
        let pool = ProcessPoolExecutor::new(WORKERS).unwrap();
        pool.map(noop, 0..100).for_each(drop);
        for chunksize in [1_000, 50_000] {
            group.bench_function(BenchmarkId::new("chunksize", chunksize), |b| {
                b.iter(|| {
                    let sum: u64 = pool
                        .map_with(noop, 0..N_MAP, MapOptions::new().chunksize(chunksize))
                        .unwrap()
                        .map(Result::unwrap)
                        .sum();
                    assert_eq!(sum, N_MAP * (N_MAP - 1) / 2);
                })
            });
        }
        group.finish();
    }

    /// From the crash being reported to the first result of the replacement worker (spawn,
    /// handshake, one task).
    fn respawn_latency() {
        let pool = ProcessPoolExecutor::new(1).unwrap();
        pool.submit(noop, 0).unwrap().into_result().unwrap();
        let mut times = Vec::new();
        for _ in 0..20 {
            let err = pool.submit(crash, ()).unwrap().into_result().unwrap_err();
            assert!(matches!(err, FutureError::WorkerDied(_)));
            let t0 = Instant::now();
            pool.submit(noop, 1).unwrap().into_result().unwrap();
            times.push(t0.elapsed());
        }
        times.sort();
        println!(
            "respawn after a crash (report -> next result on the new worker), 20 runs: \
             median {:?}, max {:?}",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }

    fn cpython() {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/cpython_process_pool.py"
        );
        match std::process::Command::new("python3").arg(script).output() {
            Ok(out) if out.status.success() => print!("{}", String::from_utf8_lossy(&out.stdout)),
            Ok(out) => println!(
                "cpython: failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => println!("cpython: not run ({e})"),
        }
    }

    pub(crate) fn main() {
        // In procspawn's workers this runs their task and exits; ours need no line (see the
        // crate docs).
        procspawn::init();
        let mut c = Criterion::default()
            .configure_from_args()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(5));
        submit_result(&mut c);
        map_chunked(&mut c);
        c.final_summary();
        if std::env::args().any(|a| a == "--bench") {
            respawn_latency();
            cpython();
        }
    }
}

fn main() {
    #[cfg(unix)]
    bench::main();
    #[cfg(not(unix))]
    eprintln!("the process pool exists on Unix only: nothing to measure");
}
