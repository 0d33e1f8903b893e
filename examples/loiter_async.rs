//! The loiter tasks awaited from async code: blocking work on the thread pool, `.await`ed from
//! a tokio task, results reported as they complete, while the runtime's only thread stays free.
//!
//! ```text
//! cargo run --example loiter_async            # loiter(0..5) on 3 threads, about 5 s
//! cargo run --example loiter_async -- 3 1 2   # loiter(1) is reported first, at 1 s
//! ```
//!
//! Each `Future` the pool returns is awaited in its own tokio task (`future.await` registers
//! the task's waker with the future; no thread blocks on it). A heartbeat on the same
//! single-threaded runtime keeps ticking while the loiters sleep on pool threads: blocking work
//! went to the pool, not to the async runtime. `LOITER_UNIT_MS` (default 1000) sets how long
//! one unit of loitering lasts.

use concurrent_futures::ThreadPoolExecutor;
use std::fmt::Display;
use std::time::Duration;

fn display(msg: impl Display) {
    println!("[{}] {msg}", chrono::Local::now().format("%H:%M:%S%.3f"));
}

fn unit() -> Duration {
    let ms = std::env::var("LOITER_UNIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    Duration::from_millis(ms)
}

/// Blocking work: it sleeps its thread, which is why it belongs on the pool.
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
                eprintln!("usage: loiter_async [DELAY...]  (whole seconds)");
                std::process::exit(2)
            })
        })
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    display("Script starting.");
    let executor = ThreadPoolExecutor::new(3).expect("3 workers is a valid pool size");

    let heartbeat = tokio::spawn(async {
        let mut ticks = tokio::time::interval(unit());
        loop {
            ticks.tick().await;
            display("(async heartbeat: the runtime is not blocked)");
        }
    });

    let mut awaiting = tokio::task::JoinSet::new();
    for (i, n) in delays().into_iter().enumerate() {
        let future = executor.submit(loiter, n).expect("the pool is running");
        display(format!("Scheduled loiter({n}): {future}"));
        awaiting.spawn(async move { (i, future.await) });
    }

    display("Awaiting results as they complete:");
    while let Some(joined) = awaiting.join_next().await {
        let (i, result) = joined.expect("the awaiting task does not panic");
        match result {
            Ok(value) => display(format!("result {i}: {value}")),
            Err(err) => display(format!("result {i} failed: {err}")),
        }
    }
    heartbeat.abort();
}
