//! The book's `sha_futures.py` on MPI ranks: SHA-256 of 12 arrays of 1 MiB, one task each,
//! results printed as they complete (feature `mpi`).
//!
//! ```text
//! cargo build --release --features mpi --example mpi_sha
//! mpirun --oversubscribe -n 3 target/release/examples/mpi_sha            # 2 worker ranks
//! mpirun --oversubscribe -n 3 target/release/examples/mpi_sha process     # the process pool, 2 workers
//! ```
//!
//! The same function through either pool: the executor line is the only difference. The book's
//! demo itself runs on MPI as `sha_futures --executor mpi`; this one is dependency-free (its
//! SHA-256 is `support/sha_job.rs`, shared with `mpi_bench`) and compares the two pools.

#[path = "support/sha_job.rs"]
mod sha_job;

use concurrent_futures::{as_completed, Executor, MpiPoolExecutor, ProcessPoolExecutor};
use std::time::Instant;

const JOBS: u64 = 12;
const SIZE: usize = 1 << 20;

fn run(executor: &impl Executor, name: &str) {
    let t0 = Instant::now();
    let futures: Vec<_> = (0..JOBS)
        .map(|seed| executor.submit(sha_job::sha_job, (seed, SIZE)).unwrap())
        .collect();
    for future in as_completed(futures, None) {
        println!("{}", future.unwrap().result(None).unwrap());
    }
    println!(
        "{JOBS} SHA-256 jobs of 1 MiB on {name} in {:.2?}",
        t0.elapsed()
    );
}

fn main() {
    if std::env::args().any(|a| a == "process") {
        run(&ProcessPoolExecutor::new(2).unwrap(), "a process pool of 2");
    } else {
        let pool = MpiPoolExecutor::new().expect("run me under mpirun -n 3");
        let name = format!("{} MPI worker ranks", pool.max_workers());
        run(&pool, &name);
    }
}
