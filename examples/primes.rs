//! The second edition's prime checker (*Fluent Python*, 2nd edition, `proc_pool.py`): the
//! book's `is_prime` (trial division by odd numbers) over its 20 numbers from 2 to
//! 9 999 999 999 999 999, with `executor.map` over the numbers sorted biggest first, so results
//! print in that order.
//!
//! ```text
//! cargo run --release --example primes                       # one run, a worker per CPU
//! cargo run --release --example primes -- --workers 1        # one worker
//! cargo run --release --example primes -- --sweep            # 1..N workers, both executors
//! cargo run --release --example primes -- --executor process # the process pool (issue 3)
//! ```
//!
//! The book's figures (Python, 6 cores / 12 threads): 40.31 s sequentially, 9.65 s with 12
//! processes; the median over 1..20 processes is 40.81 s with one and 22.79 s with two (1.79x).
//! The job (`check`) and the runner are in `support/cpu_demo.rs`, shared with `arcfour_futures`
//! and `sha_futures`.

#[path = "support/cpu_demo.rs"]
mod cpu_demo;

fn main() {
    cpu_demo::main(
        "primes",
        "is_prime of the second edition's 20 numbers on a pool (the book's proc_pool.py)",
        cpu_demo::Primes::book(),
    );
}
