//! The `flags2` command line on a thread pool, `submit` + `as_completed`: the book's
//! `flags2_threadpool.py`.
//!
//! ```text
//! cargo run --example flags2_threadpool                        # 20 flags, 20 connections
//! cargo run --example flags2_threadpool -- -s DELAY a b c      # 78 codes: 43 found, 35 not
//! cargo run --example flags2_threadpool -- -s ERROR -e         # 676 codes, some errors
//! cargo run --example flags2_threadpool -- -e -m 1000 -s DELAY # 676 requests at once
//! ```
//!
//! Up to `-m` requests at a time (default 30, at most 1000); the progress bar advances as each
//! future completes. The loop is `download_many_threadpool` in `support/flags2_common.rs`.

#[path = "support/flag_server.rs"]
mod flag_server;
#[path = "support/flags2_common.rs"]
mod flags2_common;
#[path = "support/flags_client.rs"]
mod flags_client;

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dest_dir = Path::new(flags_client::DEST_DIR);
    ExitCode::from(flags2_common::run(
        &flags2_common::THREADPOOL,
        std::env::args_os(),
        dest_dir,
    ))
}
