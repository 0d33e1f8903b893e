//! The book's `sha_futures.py` (*Fluent Python*, 1st edition, Appendix A): SHA-256 of 12 arrays
//! of 1 MiB, one job each, results printed as they complete.
//!
//! ```text
//! cargo run --release --example sha_futures                       # one run, a worker per CPU
//! cargo run --release --example sha_futures -- --workers 1        # one worker
//! cargo run --release --example sha_futures -- --sweep            # the book's Table 17-1
//! cargo run --release --example sha_futures -- --executor process # the same on worker processes
//! cargo build --release --features mpi --example sha_futures       # the MPI pool:
//! mpirun --oversubscribe -n 3 target/release/examples/sha_futures --executor mpi
//! ```
//!
//! The book's Table 17-1 (Python 3.4, `ProcessPoolExecutor`, quad-core Core i7): 22.66 s with
//! one worker, 14.90 s with two (1.52x), 10.89 s with four (2.08x); most of that time goes into
//! making the random bytes in pure Python. Here the jobs and the runner are in
//! `support/cpu_demo.rs`, shared with `arcfour_futures` and `primes`; `examples/README.md`
//! explains the sweep and `benches/README.md` has the figures on this crate's machine.

#[path = "support/cpu_demo.rs"]
mod cpu_demo;

fn main() {
    cpu_demo::main(
        "sha_futures",
        "SHA-256 of 12 arrays of 1 MiB on a pool (the book's sha_futures.py)",
        cpu_demo::Sha::book(),
    );
}
