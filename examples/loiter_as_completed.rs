//! The loiter tasks again, with `submit` + `as_completed`: results in completion order.
//!
//! ```text
//! cargo run --example loiter_as_completed            # loiter(0..5) on 3 threads, about 5 s
//! cargo run --example loiter_as_completed -- 3 1 2   # loiter(1) is reported first, at 1 s
//! ```
//!
//! `cargo run --example loiter -- 3 1 2` runs the same tasks with `map`: there, nothing is
//! reported until loiter(3), the first in input order, is done. `LOITER_UNIT_MS` (default 1000)
//! sets how long one unit of loitering lasts.

use concurrent_futures::{as_completed, Future, ThreadPoolExecutor};
use std::collections::HashMap;
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
                eprintln!("usage: loiter_as_completed [DELAY...]  (whole seconds)");
                std::process::exit(2)
            })
        })
        .collect()
}

fn main() {
    display("Script starting.");
    let executor = ThreadPoolExecutor::new(3).expect("3 workers is a valid pool size");
    // The book's to_do_map idiom: which input does each future belong to?
    let mut to_do: HashMap<Future<u32>, usize> = HashMap::new();
    for (i, n) in delays().into_iter().enumerate() {
        let future = executor.submit(loiter, n).expect("the pool is running");
        display(format!("Scheduled loiter({n}): {future}"));
        to_do.insert(future, i);
    }
    display("Waiting for results as they complete:");
    for future in as_completed(to_do.keys(), None) {
        let future = future.expect("no timeout was set");
        let i = to_do[&future];
        match future.result(None) {
            Ok(value) => display(format!("result {i}: {value}  ({future})")),
            Err(err) => display(format!("result {i} failed: {err}")),
        }
    }
}
