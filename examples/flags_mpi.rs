//! Download 20 flags with `executor.map` on MPI ranks: `flags_processpool` with the executor
//! line switched to an [`MpiPoolExecutor`] (feature `mpi`).
//!
//! ```text
//! cargo build --release --features mpi --example flags_mpi
//! mpirun --oversubscribe -n 3 target/release/examples/flags_mpi              # LOCAL, or a server in rank 0
//! mpirun --oversubscribe -n 3 target/release/examples/flags_mpi -s DELAY     # 0.5 s per flag, 2 at a time
//! ```
//!
//! (As root, Open MPI also wants `OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1`.)
//!
//! Rank 0 runs `main`; ranks 1 and 2 run the downloads. As in `flags_processpool`, the workers
//! never run `main`, so the initializer tells them which server to use and where to save:
//! rank 0 parses the command line (and may start a local server), every worker rank gets
//! `(base_url, dest_dir)` through Python's `initializer=`/`initargs=` pattern. On several
//! machines the server must be reachable from all of them (a `localhost` URL is not).

#[path = "support/flag_server.rs"]
mod flag_server;
#[path = "support/flags_client.rs"]
mod flags_client;

use std::process::ExitCode;

use concurrent_futures::{Executor, MpiPoolExecutor, SubmitError};
use flags_client::{download_one, FlagsError};

fn download_many(cc_list: &[&str]) -> Result<usize, FlagsError> {
    let mut sorted: Vec<String> = cc_list.iter().map(|cc| cc.to_string()).collect();
    sorted.sort();
    let executor = MpiPoolExecutor::builder()
        .initializer(flags_client::use_site, flags_client::site())
        .build()
        .map_err(|e| SubmitError::Spawn(e.to_string()))?;
    // Results in input order; the first failed download ends the run, as `list(res)` raises.
    let res = Executor::map(&executor, download_one, sorted);
    let codes = res.collect::<Result<Vec<String>, _>>()?;
    Ok(codes.len())
}

fn main() -> ExitCode {
    flags_client::main(download_many)
}
