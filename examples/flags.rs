//! Download 20 flags one after the other: the book's `flags.py`, the baseline of the chapter.
//!
//! ```text
//! cargo run --example flags              # LOCAL (127.0.0.1:8001), or a server in this process
//! cargo run --example flags -- -s DELAY  # every response delayed 0.5 s: about 10 s in all
//! ```
//!
//! Prints the codes in alphabetical order as each flag is saved into `downloads/`, then
//! `20 flags downloaded in 0.05s`.

#[path = "support/flag_server.rs"]
mod flag_server;
#[path = "support/flags_client.rs"]
mod flags_client;

use std::process::ExitCode;

use flags_client::{get_flag, save_flag, show, FlagsError};

fn download_many(cc_list: &[&str]) -> Result<usize, FlagsError> {
    let mut sorted = cc_list.to_vec();
    sorted.sort();
    for cc in sorted {
        let image = get_flag(cc)?;
        show(cc);
        save_flag(&image, cc)?;
    }
    Ok(cc_list.len())
}

fn main() -> ExitCode {
    flags_client::main(download_many)
}
