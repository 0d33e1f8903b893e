//! Download 20 flags with `executor.map` on worker processes: the book's
//! `flags_processpool.py`, which differs from `flags_threadpool` in one line.
//!
//! ```text
//! cargo run --example flags_processpool              # LOCAL, or a server in this process
//! cargo run --example flags_processpool -- -s DELAY  # 0.5 s per flag, as many at once as CPUs
//! ```
//!
//! The line that changed builds a [`ProcessPoolExecutor`] instead of a `ThreadPoolExecutor`.
//! It also passes an initializer, Python's `initializer=`/`initargs=`: worker processes do not
//! run `main`, so they learn which server to use from it. As in the book, the pool has as many
//! workers as CPUs, so on DELAY this takes about `20 / cpus × 0.5 s`: processes are the wrong
//! tool for I/O-bound work, which is the book's point.
//!
//! The process pool exists on Unix; elsewhere this example says so and exits with status 2.

#[path = "support/flag_server.rs"]
mod flag_server;
#[path = "support/flags_client.rs"]
mod flags_client;

use std::process::ExitCode;

#[cfg(unix)]
use concurrent_futures::{Executor, ProcessPoolExecutor};
#[cfg(unix)]
use flags_client::{download_one, FlagsError};

#[cfg(unix)]
fn download_many(cc_list: &[&str]) -> Result<usize, FlagsError> {
    let mut sorted: Vec<String> = cc_list.iter().map(|cc| cc.to_string()).collect();
    sorted.sort();
    let executor = ProcessPoolExecutor::builder()
        .initializer(flags_client::use_site, flags_client::site())
        .build()?;
    // Results in input order; the first failed download ends the run, as `list(res)` raises.
    let res = Executor::map(&executor, download_one, sorted);
    let codes = res.collect::<Result<Vec<String>, _>>()?;
    Ok(codes.len())
}

#[cfg(unix)]
fn main() -> ExitCode {
    flags_client::main(download_many)
}

#[cfg(not(unix))]
fn main() -> ExitCode {
    eprintln!("flags_processpool needs ProcessPoolExecutor, which exists on Unix only");
    ExitCode::from(2)
}
