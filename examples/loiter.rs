//! The book's `demo_executor_map.py`: `executor.map` yields results in input order.
//!
//! ```text
//! cargo run --example loiter            # loiter(0..5) on 3 threads, about 5 s
//! cargo run --example loiter -- 3 1 2   # your own delays: result 0 waits for loiter(3)
//! ```
//!
//! Compare with `loiter_as_completed`, which runs the same tasks with `submit` + `as_completed`.
//! `LOITER_UNIT_MS` (default 1000) sets how long one unit of loitering lasts.

use concurrent_futures::ThreadPoolExecutor;
use std::fmt::Display;
use std::time::Duration;

fn display(msg: impl Display) {
    println!("[{}] {msg}", chrono::Local::now().format("%H:%M:%S"));
}

fn unit() -> Duration {
    let ms = std::env::var("LOITER_UNIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    Duration::from_millis(ms)
}

fn loiter(n: u32) -> u32 {
    let tabs = "\t".repeat(n as usize);
    display(format!("{tabs}loiter({n}): doing nothing for {n}s..."));
    std::thread::sleep(unit() * n);
    display(format!("{tabs}loiter({n}): done."));
    n * 10
}

fn delays() -> Vec<u32> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return (0..5).collect();
    }
    args.iter()
        .map(|a| {
            a.parse().unwrap_or_else(|_| {
                eprintln!("usage: loiter [DELAY...]  (whole seconds, e.g. `loiter 3 1 2`)");
                std::process::exit(2)
            })
        })
        .collect()
}

fn main() {
    let delays = delays();
    display("Script starting.");
    let executor = ThreadPoolExecutor::new(3).expect("3 workers is a valid pool size");
    let results = executor.map(loiter, delays);
    display(format!("results: {results:?}"));
    display("Waiting for individual results:");
    for (i, result) in results.enumerate() {
        match result {
            Ok(value) => display(format!("result {i}: {value}")),
            Err(err) => display(format!("result {i} failed: {err}")),
        }
    }
}
