//! Back-pressure: a producer far faster than its pool, with and without a queue capacity.
//!
//! ```text
//! cargo run --release --example backpressure          # 50 000 tasks of 2 KiB each
//! cargo run --release --example backpressure -- 200000
//! ```
//!
//! The producer reads "records" (2 KiB each) as fast as it can and submits one task per record
//! to a 2-thread pool whose tasks take about 40 µs each: the producer is more than ten times
//! faster than the pool. It keeps no futures (fire and forget, a count of finished tasks is
//! enough), so the only thing that can pile up is the pool's queue.
//!
//! - **unbounded** (Python's, and every peer's, default): `submit` never waits, the whole
//!   input ends up queued, and memory grows with the input.
//! - **capacity 64, `Block`**: `submit` waits while 64 tasks are queued, so the producer runs
//!   at the pool's pace and memory stays flat whatever the input size.
//! - **capacity 64, `CallerRuns`** (Java's `CallerRunsPolicy`): a producer that finds the queue
//!   full runs the task itself, which slows it to the pace of the pool plus one thread.
//!
//! For each it prints the peak number of queued records (counted: submitted and not started),
//! the process's peak resident memory (`VmHWM` from `/proc/self/status`, reset between runs
//! through `/proc/self/clear_refs`), how fast `submit` let the producer through, and how long
//! the whole run took.

use concurrent_futures::{ThreadPoolExecutor, WhenFull};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORD_BYTES: usize = 2048;
const WORKERS: usize = 2;
const CAPACITY: usize = 64;

/// About 40 µs of work on the record (checksumming it, over and over).
fn process(record: Vec<u8>) -> u64 {
    let start = Instant::now();
    let mut sum = 0u64;
    while start.elapsed() < Duration::from_micros(40) {
        sum = record
            .iter()
            .fold(sum, |s, &b| s.rotate_left(5) ^ u64::from(b));
    }
    sum
}

/// The process's peak resident set size, in KiB, since the last `reset_peak_memory`.
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Linux: writing 5 to `clear_refs` resets the peak RSS to the current RSS.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Run {
    peak_queued: usize,
    peak_kib: Option<u64>,
    producer: Duration,
    total: Duration,
}

fn run(records: usize, pool: ThreadPoolExecutor) -> Run {
    reset_peak_memory();
    let queued = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let mut peak_queued = 0;
    let t0 = Instant::now();
    for i in 0..records {
        let record = vec![(i % 251) as u8; RECORD_BYTES]; // "read" the next record
        queued.fetch_add(1, Ordering::Relaxed);
        let (q, s) = (queued.clone(), started.clone());
        // The future is dropped: the task still runs (dropping a handle never cancels).
        pool.spawn(move || {
            q.fetch_sub(1, Ordering::Relaxed);
            s.fetch_add(1, Ordering::Relaxed);
            process(record)
        })
        .expect("the pool is open");
        peak_queued = peak_queued.max(queued.load(Ordering::Relaxed));
    }
    let producer = t0.elapsed();
    pool.shutdown(true, false);
    assert_eq!(started.load(Ordering::Relaxed), records);
    Run {
        peak_queued,
        peak_kib: peak_memory_kib(),
        producer,
        total: t0.elapsed(),
    }
}

fn pool(capacity: Option<(usize, WhenFull)>) -> ThreadPoolExecutor {
    let mut builder = ThreadPoolExecutor::builder().max_workers(WORKERS);
    if let Some((n, policy)) = capacity {
        builder = builder.queue_capacity(n).when_full(policy);
    }
    builder.build().expect("valid options")
}

fn main() {
    let records: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("usage: backpressure [RECORDS]"))
        .unwrap_or(50_000);
    println!(
        "{records} records of {} KiB, {WORKERS} workers, ~40 µs per task",
        RECORD_BYTES / 1024
    );
    println!(
        "{:<24} {:>12} {:>14} {:>18} {:>10}",
        "queue", "peak queued", "peak memory", "submit pace", "total"
    );
    let modes: [(&str, Option<(usize, WhenFull)>); 3] = [
        ("unbounded", None),
        ("capacity 64, Block", Some((CAPACITY, WhenFull::Block))),
        (
            "capacity 64, CallerRuns",
            Some((CAPACITY, WhenFull::CallerRuns)),
        ),
    ];
    for (name, capacity) in modes {
        let r = run(records, pool(capacity));
        let pace = records as f64 / r.producer.as_secs_f64();
        let memory = r.peak_kib.map_or_else(
            || "n/a".to_owned(),
            |k| format!("{:.1} MiB", k as f64 / 1024.0),
        );
        println!(
            "{name:<24} {:>12} {memory:>14} {:>13.0} /s {:>8.2} s",
            r.peak_queued,
            pace,
            r.total.as_secs_f64()
        );
    }
}
