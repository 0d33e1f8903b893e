//! The `flags2` command line, one request at a time: the book's `flags2_sequential.py`.
//!
//! ```text
//! cargo run --example flags2_sequential                  # the 20 most populous countries
//! cargo run --example flags2_sequential -- -s DELAY b    # 26 codes, 0.5 s each: 17 found, 9 not
//! cargo run --example flags2_sequential -- -h            # every option
//! ```
//!
//! Counts each outcome (downloaded, 404 not found, error), shows a progress bar (or a line per
//! code with `-v`) and saves into `downloads/`.

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
        &flags2_common::SEQUENTIAL,
        std::env::args_os(),
        dest_dir,
    ))
}
