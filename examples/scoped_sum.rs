//! Sums a borrowed slice in parallel with `ThreadPoolExecutor::scope`: each task reads its own
//! chunk of a vector that lives on `main`'s stack, with no `Arc` and no copy, and every task is
//! over before `scope` returns.
//!
//! ```text
//! cargo run --release --example scoped_sum              # 20 million numbers, one chunk per worker
//! cargo run --release --example scoped_sum -- 1000000 8 # 1 million numbers in 8 chunks
//! ```

use concurrent_futures::{as_completed, ThreadPoolExecutor};
use std::time::Instant;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .map(|a| {
            a.parse().unwrap_or_else(|_| {
                eprintln!("usage: scoped_sum [COUNT] [CHUNKS]");
                std::process::exit(2)
            })
        })
        .unwrap_or(default)
}

fn main() {
    let pool = ThreadPoolExecutor::default();
    let count = arg(1, 20_000_000);
    let chunks = arg(
        2,
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    )
    .max(1);
    let data: Vec<u64> = (1..=count as u64).collect();

    let start = Instant::now();
    let sequential: u64 = data.iter().sum();
    let sequential_time = start.elapsed();

    let start = Instant::now();
    let chunk_len = data.len().div_ceil(chunks).max(1);
    let parallel: u64 = pool.scope(|s| {
        // Each task borrows its chunk of `data`: no 'static bound, no Arc.
        let parts: Vec<_> = data
            .chunks(chunk_len)
            .enumerate()
            .map(|(i, chunk)| {
                s.spawn(move || (i, chunk.iter().sum::<u64>()))
                    .expect("the pool is running")
            })
            .collect();
        as_completed(parts, None)
            .map(|f| {
                let (i, sum) = f
                    .expect("no timeout")
                    .into_result()
                    .expect("a sum cannot panic");
                println!("chunk {i}: {sum}");
                sum
            })
            .sum()
    });
    let parallel_time = start.elapsed();

    assert_eq!(parallel, sequential);
    let expected = count as u64 * (count as u64 + 1) / 2;
    assert_eq!(parallel, expected);
    println!(
        "sum of 1..={count}: {parallel} ({} chunks on the pool: {parallel_time:?}; one thread: {sequential_time:?})",
        data.len().div_ceil(chunk_len)
    );
}
