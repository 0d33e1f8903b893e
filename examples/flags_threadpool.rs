//! Download 20 flags with `executor.map` on 20 threads: the book's `flags_threadpool.py`.
//!
//! ```text
//! cargo run --example flags_threadpool              # LOCAL, or a server in this process
//! cargo run --example flags_threadpool -- -s DELAY  # 0.5 s per flag, all at once: about 0.5 s
//! ```
//!
//! The codes are printed in completion order, different on every run. `download_one` is a plain
//! `fn(String) -> String` called through the [`Executor`] trait, so moving to a process pool is
//! the one line that builds the executor.

#[path = "support/flag_server.rs"]
mod flag_server;
#[path = "support/flags_client.rs"]
mod flags_client;

use std::process::ExitCode;

use concurrent_futures::{Executor, ThreadPoolExecutor};
use flags_client::{download_one, FlagsError};

const MAX_WORKERS: usize = 20;

fn download_many(cc_list: &[&str]) -> Result<usize, FlagsError> {
    let workers = MAX_WORKERS.min(cc_list.len());
    let mut sorted: Vec<String> = cc_list.iter().map(|cc| cc.to_string()).collect();
    sorted.sort();
    let executor = ThreadPoolExecutor::new(workers)?;
    // Results in input order; the first failed download ends the run, as `list(res)` raises.
    let res = Executor::map(&executor, download_one, sorted);
    let codes = res.collect::<Result<Vec<String>, _>>()?;
    Ok(codes.len())
}

fn main() -> ExitCode {
    flags_client::main(download_many)
}
