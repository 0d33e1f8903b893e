//! How fast this machine moves a cache line between two cores right now.
//!
//! Handing a task to another thread moves a few cache lines between cores, so on a shared VM the
//! per-task figures follow the host's cross-core latency. On this project's 2-core VM the round
//! trip below ranged from 124 to 532 ns in one afternoon, and the pools' times moved with it.
//! The bench prints it before and after its groups, so that figures taken on different days
//! can be compared.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Round trips per sample, and samples (the median is reported).
const TRIPS: u64 = 100_000;
const SAMPLES: usize = 5;

/// Median time, in ns, for one thread to write a word and see a second thread's answer.
pub fn round_trip_ns() -> f64 {
    let mut samples: Vec<f64> = (0..SAMPLES).map(|_| one_sample()).collect();
    samples.sort_by(f64::total_cmp);
    samples[SAMPLES / 2]
}

fn one_sample() -> f64 {
    let word = Arc::new(AtomicU64::new(0));
    let echo = Arc::clone(&word);
    // Odd values are pings, even values answers: each side waits for the other's last write.
    let answerer = std::thread::spawn(move || {
        for i in 0..TRIPS {
            while echo.load(Ordering::Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            echo.store(2 * i + 2, Ordering::Release);
        }
    });
    let start = Instant::now();
    for i in 0..TRIPS {
        word.store(2 * i + 1, Ordering::Release);
        while word.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
    }
    let elapsed = start.elapsed();
    answerer
        .join()
        .expect("the answering thread does not panic");
    elapsed.as_nanos() as f64 / TRIPS as f64
}

/// Prints the round trip, labelled `when` ("before", "after").
pub fn report(when: &str) {
    println!(
        "== machine ({when}): cache-line round trip between two threads {:.0} ns (median of {SAMPLES}) ==",
        round_trip_ns()
    );
}
