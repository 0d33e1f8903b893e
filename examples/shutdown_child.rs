//! Child program for `tests/shutdown.rs`: the process ends while the pool still has work
//! (CPython I3, I6, I7 in `tests/CPYTHON.md`). The test runs it and checks its output and exit
//! status.
//!
//! `cargo run --example shutdown_child -- <mode>`, with `<mode>` one of:
//!
//! - `drop` (I3): never calls `shutdown`; a running task and a queued one are still pending when
//!   `main` ends. Dropping the pool joins them: prints `apple` then `banana`.
//! - `nowait` (I6): `shutdown(wait = false)` while a task runs, then `main` ends: prints `apple`.
//! - `cancel_nowait` (I7): `shutdown(wait = false, cancel_futures = true)` while one task runs and
//!   one is queued: the running one prints `apple`, the queued one is cancelled.
//!
//! No sleeps: the running task waits on a gate that `main` opens only after its last call.

use concurrent_futures::{Future, ThreadPoolExecutor};
use std::process::ExitCode;
use std::sync::mpsc;

fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    if !matches!(mode.as_str(), "drop" | "nowait" | "cancel_nowait") {
        eprintln!("usage: shutdown_child drop|nowait|cancel_nowait");
        return ExitCode::from(2);
    }
    // Declared first, so dropped last: after the gate is open.
    let pool = ThreadPoolExecutor::new(1).expect("one worker is valid");
    let gate: Future<()> = Future::new();
    let (started_tx, started_rx) = mpsc::channel();

    let task_gate = gate.clone();
    pool.submit(
        move |word: &'static str| {
            started_tx.send(()).expect("main is waiting");
            task_gate.result(None).expect("main opens the gate");
            println!("{word}");
        },
        "apple",
    )
    .expect("the pool is open");
    // One worker, busy: this one stays queued.
    pool.submit(|word: &'static str| println!("{word}"), "banana")
        .expect("the pool is open");
    started_rx.recv().expect("the first task starts");

    match mode.as_str() {
        "nowait" => pool.shutdown(false, false),
        "cancel_nowait" => pool.shutdown(false, true),
        _ => {} // "drop": no shutdown at all
    }
    gate.set_result(()).expect("the gate opens once");
    ExitCode::SUCCESS
}
