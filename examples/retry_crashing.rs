//! Retries on the process pool: a "native library" that sometimes segfaults, retried to success,
//! and a poison input that crashes every time and fails after its attempts, saying what it cost.
//!
//! ```text
//! cargo run --example retry_crashing
//! ```
//!
//! Each task runs in a worker process, so a segfault kills only that worker: the pool starts a
//! new one, and with a `RetryPolicy` the task runs again there. Without a policy the same crash
//! fails the task at once (`WorkerDied`), and no task ever runs twice.
//!
//! The process pool exists on Unix; elsewhere this example says so and exits with status 2.

#[cfg(unix)]
use concurrent_futures::{as_completed, FutureError, ProcessPoolExecutor, RetryPolicy};
#[cfg(unix)]
use std::time::Instant;

/// Stands in for a call into a native library with a crash bug: it segfaults on some inputs in
/// some processes (here: one in three, decided by the input and the worker's pid, so a retry on
/// a new worker usually gets through), and always on input 13.
#[cfg(unix)]
fn flaky_native_parse(input: u64) -> u64 {
    let unlucky = (u64::from(std::process::id()) ^ input.wrapping_mul(0x9E37_79B9)) % 3 == 0;
    if input == 13 || unlucky {
        // SAFETY: none needed for the call itself; raising SIGSEGV is what the buggy native
        // code would do with a wild write, and it ends this worker process.
        unsafe {
            libc::raise(libc::SIGSEGV);
        }
    }
    input * input
}

#[cfg(not(unix))]
fn main() {
    eprintln!("retry_crashing needs ProcessPoolExecutor, which exists on Unix only");
    std::process::exit(2);
}

#[cfg(unix)]
fn main() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(4)
        .retry(RetryPolicy::attempts(4))
        .build()
        .expect("a process pool");
    let started = Instant::now();
    let futures: Vec<_> = (10..=16)
        .map(|n| (pool.submit(flaky_native_parse, n).expect("submit"), n))
        .collect();
    // Which input each future belongs to; removed when it completes, so that the future it
    // yields is the only handle left and `into_result` can move the value out.
    let mut inputs: std::collections::HashMap<_, _> = futures.iter().cloned().collect();
    for future in as_completed(futures.into_iter().map(|(f, _)| f), None) {
        let future = future.expect("no timeout");
        let (_, input) = inputs.remove_entry(&future).expect("a future we submitted");
        match future.into_result() {
            Ok(square) => println!("parse({input:2}) = {square:3}"),
            Err(FutureError::RetriesExhausted { attempts, last }) => println!(
                "parse({input:2}) gave up after {attempts} attempts, each of which cost a \
                 worker; last: {last}"
            ),
            Err(other) => println!("parse({input:2}) failed: {other}"),
        }
    }
    println!("done in {:.0?}", started.elapsed());
}
