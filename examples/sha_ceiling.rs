//! What plain threads reach on the SHA-256 jobs, without any pool: the ceiling the `--sweep`
//! tables of `sha_futures` should be read against.
//!
//! ```text
//! cargo run --release --example sha_ceiling              # 200 rounds
//! cargo run --release --example sha_ceiling -- 50        # fewer rounds
//! ```
//!
//! Rounds alternate: one `std::thread` hashes 6 of the book's 12 arrays of 1 MiB alone, then
//! two threads hash one half each at once. If a round took as long with both as alone, 2
//! workers could reach 2x; the slower thread of the pair sets the factor 2 workers can reach
//! at best on this machine.

#[path = "support/cpu_demo.rs"]
mod cpu_demo;

use cpu_demo::Workload;
use std::time::{Duration, Instant};

/// One round: half `k` (0 or 1) of the jobs, on this thread.
fn round(inputs: &[cpu_demo::ShaJob], k: usize) -> Duration {
    let half = inputs.len() / 2;
    let start = Instant::now();
    for job in inputs[k * half..(k + 1) * half].iter().cloned() {
        cpu_demo::sha(job);
    }
    start.elapsed()
}

fn main() {
    let n: usize = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 200,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: sha_ceiling [ROUNDS]");
            std::process::exit(2);
        }
    };
    let inputs = cpu_demo::Sha::book().inputs();
    // A second thread that runs half 1 whenever asked, and reports how long it took.
    let (go, ask) = std::sync::mpsc::channel::<()>();
    let (tell, took) = std::sync::mpsc::channel::<Duration>();
    let theirs = inputs.clone();
    let other = std::thread::spawn(move || {
        for () in ask {
            tell.send(round(&theirs, 1))
                .expect("main waits for the answer");
        }
    });
    // Alternate: this thread alone, then both at once, so that a slow spell of the host hits
    // both kinds of round.
    let (mut alone, mut together) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        alone.push(round(&inputs, 0));
        go.send(()).expect("the other thread runs");
        let mine = round(&inputs, 0);
        let its = took.recv().expect("the other thread answers");
        together.push(mine.max(its));
    }
    drop(go);
    other.join().expect("a round does not panic");
    let (alone, together) = (cpu_demo::median(&alone), cpu_demo::median(&together));
    println!("6 arrays of 1 MiB per round, median of {n} rounds:");
    println!("  one thread alone:                         {alone:?}");
    println!("  two threads at once (the slower of them): {together:?}");
    println!(
        "  best factor 2 workers can reach here: {:.2}x",
        2.0 * alone.as_secs_f64() / together.as_secs_f64()
    );
}
