//! Cancelling a task that is already running, and how long the cancel takes.
//!
//! ```text
//! cargo run --release --example cancel_running
//! ```
//!
//! Python's `future.cancel()` (and this crate's `Future::cancel`) only stops a task that has
//! not started. A task submitted with a `CancelToken` can be stopped while it runs: it checks
//! its token (`CancelToken::current()`) and returns `Err(Cancelled)`, and its future ends as
//! cancelled, exactly like one cancelled before it ran.
//!
//! Threads cannot be interrupted, so on threads cancelling is cooperative: the latency is the
//! time until the task next looks at its token. Two shapes of long task show the two ways of
//! looking:
//!
//! - `crunch`: CPU work in small steps, calling `token.check()?` between steps;
//! - `poll_slowly`: waiting between polls with `token.sleep(d)?`, which a cancel wakes at once.
//!
//! Each is started, left running for a while, then cancelled; the time from `cancel()` to the
//! future being cancelled (seen by a thread blocked in `result()`) is printed, over many runs.

#[cfg(all(unix, feature = "process-pool"))]
use concurrent_futures::ProcessPoolExecutor;
use concurrent_futures::{CancelToken, Cancelled, FutureError, ThreadPoolExecutor};
use std::time::{Duration, Instant};

/// Long CPU work in ~50 µs steps, checking the token between steps. Runs for an hour unless
/// cancelled.
fn crunch(seed: u64) -> Result<u64, Cancelled> {
    let token = CancelToken::current();
    let mut x = seed;
    let deadline = Instant::now() + Duration::from_secs(3600);
    while Instant::now() < deadline {
        token.check()?;
        let step = Instant::now();
        while step.elapsed() < Duration::from_micros(50) {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
        }
    }
    Ok(x)
}

/// Polls something every 10 s for an hour, sleeping on the token in between.
fn poll_slowly(_: ()) -> Result<u32, Cancelled> {
    let token = CancelToken::current();
    for _ in 0..360 {
        token.sleep(Duration::from_secs(10))?;
    }
    Ok(360)
}

/// Starts one task under a fresh token, lets it run for `run_for`, cancels it, and returns how
/// long the cancel took (from `cancel()` to `result()` returning `Cancelled`).
fn cancel_after<F>(pool: &ThreadPoolExecutor, run_for: Duration, task: F) -> Duration
where
    F: FnOnce() -> Result<u64, Cancelled> + Send + 'static,
{
    let token = CancelToken::new();
    let f = pool
        .spawn_cancellable(&token, task)
        .expect("the pool is open");
    while !f.running() {
        std::thread::yield_now();
    }
    std::thread::sleep(run_for);
    let t0 = Instant::now();
    token.cancel();
    assert_eq!(f.result(None), Err(FutureError::Cancelled));
    let took = t0.elapsed();
    assert!(f.cancelled());
    took
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "  {name:<12} {} runs: median {:>8.1} µs, p90 {:>8.1} µs, max {:>8.1} µs",
        samples.len(),
        at(0.5).as_secs_f64() * 1e6,
        at(0.9).as_secs_f64() * 1e6,
        at(1.0).as_secs_f64() * 1e6,
    );
}

fn main() {
    let pool = ThreadPoolExecutor::new(2).expect("2 workers is a valid pool size");

    // One of each, narrated.
    let token = CancelToken::new();
    let f = pool
        .submit_cancellable(&token, crunch, 42)
        .expect("the pool is open");
    while !f.running() {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(200));
    println!("crunch has run for 200 ms: {f}");
    let t0 = Instant::now();
    token.cancel();
    let outcome = f.result(None).map(|_| ());
    println!(
        "cancelled it: {outcome:?} after {:?}, cancelled() = {}, {f}",
        t0.elapsed(),
        f.cancelled()
    );

    println!("threads (cooperative), cancel latency from cancel() to a cancelled future:");
    let runs = 200;
    let crunched = (0..runs)
        .map(|i| cancel_after(&pool, Duration::from_millis(2), move || crunch(i)))
        .collect();
    summary("crunch", crunched);
    let slept = (0..runs)
        .map(|_| {
            cancel_after(&pool, Duration::from_millis(2), || {
                poll_slowly(()).map(u64::from)
            })
        })
        .collect();
    summary("poll_slowly", slept);

    // The process pool exists on Unix with feature `process-pool` (default).
    #[cfg(all(unix, feature = "process-pool"))]
    on_processes();
}

/// The same on worker processes: the cancel crosses to the worker, where the task's
/// `CancelToken::current()` turns cancelled. A task that ignores its token is killed with its
/// worker after the grace period, and still ends as cancelled.
#[cfg(all(unix, feature = "process-pool"))]
fn on_processes() {
    let processes = ProcessPoolExecutor::builder()
        .max_workers(2)
        .cancel_grace(Duration::from_millis(300))
        .build()
        .expect("a process pool");
    processes.start_workers().expect("workers start");
    println!("processes (the request crosses to the worker), cancel latency:");
    let runs = 50;
    let crunched = (0..runs)
        .map(|i| cancel_remote(&processes, crunch, i))
        .collect();
    summary("crunch", crunched);
    let slept = (0..runs)
        .map(|_| cancel_remote(&processes, poll_slowly, ()))
        .collect();
    summary("poll_slowly", slept);
    let forced = (0..5)
        .map(|_| cancel_remote(&processes, ignores_its_token, ()))
        .collect();
    summary("ignores it", forced);
    println!("  (killed after the 300 ms grace period; its worker was replaced)");
}

/// Never looks at its token: on a process pool, only the kill after the grace period stops
/// it.
#[cfg(all(unix, feature = "process-pool"))]
fn ignores_its_token(_: ()) -> Result<u32, Cancelled> {
    loop {
        std::thread::park();
    }
}

/// `cancel_after` on the process pool: a plain `fn` under a fresh token, cancelled 2 ms after
/// it started.
#[cfg(all(unix, feature = "process-pool"))]
fn cancel_remote<A, R>(
    pool: &ProcessPoolExecutor,
    task: fn(A) -> Result<R, Cancelled>,
    arg: A,
) -> Duration
where
    A: concurrent_futures::Payload,
    R: concurrent_futures::Payload,
{
    let token = CancelToken::new();
    let f = pool
        .submit_cancellable(&token, task, arg)
        .expect("the pool is open");
    while !f.running() {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(2));
    let t0 = Instant::now();
    token.cancel();
    assert_eq!(f.exception(None), Err(FutureError::Cancelled));
    let took = t0.elapsed();
    assert!(f.cancelled());
    took
}
