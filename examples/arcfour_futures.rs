//! The book's `arcfour_futures.py` (*Fluent Python*, 1st edition, Appendix A): RC4 with 20
//! key-mixing rounds encrypts and then decrypts 12 arrays of 384 KB down to 149 KB, one job each,
//! and checks the round trip; each size is printed as its job completes.
//!
//! ```text
//! cargo run --release --example arcfour_futures                       # one run, a worker per CPU
//! cargo run --release --example arcfour_futures -- --workers 1        # one worker
//! cargo run --release --example arcfour_futures -- --sweep            # the book's Table 17-1
//! cargo run --release --example arcfour_futures -- --executor process # the process pool (issue 3)
//! ```
//!
//! The book's Table 17-1 (Python 3.4, `ProcessPoolExecutor`, quad-core Core i7): 11.48 s with
//! one worker, 8.65 s with two (1.33x), 5.58 s with four (2.06x). The RC4 port (`arcfour`), the
//! job (`arcfour_test`) and the runner are in `support/cpu_demo.rs`, shared with `sha_futures`
//! and `primes`.

#[path = "support/cpu_demo.rs"]
mod cpu_demo;

fn main() {
    cpu_demo::main(
        "arcfour_futures",
        "RC4 of 12 arrays of 149 KB to 384 KB on a pool (the book's arcfour_futures.py)",
        cpu_demo::Arcfour::book(),
    );
}
