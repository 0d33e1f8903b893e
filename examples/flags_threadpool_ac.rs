//! `submit` + `as_completed` on the first five of the 20 codes with 3 threads: the book's
//! `flags_threadpool_ac.py`, to look at the futures themselves.
//!
//! ```text
//! cargo run --example flags_threadpool_ac
//! ```
//!
//! ```text
//! Scheduled for BR: <Future at 0x55f2fe9b4060 state=running>
//! Scheduled for CN: <Future at 0x55f2fe9b3a50 state=pending>
//! Scheduled for ID: <Future at 0x55f2fe9b4ca0 state=pending>
//! Scheduled for IN: <Future at 0x55f2fe9b4f70 state=pending>
//! Scheduled for US: <Future at 0x55f2fe9b5000 state=pending>
//! BR ID <Future at 0x55f2fe9b4ca0 state=finished returned String> result: "ID"
//! <Future at 0x55f2fe9b4060 state=finished returned String> result: "BR"
//! CN <Future at 0x55f2fe9b3a50 state=finished returned String> result: "CN"
//! IN US <Future at 0x55f2fe9b4f70 state=finished returned String> result: "IN"
//! <Future at 0x55f2fe9b5000 state=finished returned String> result: "US"
//!
//! 5 flags downloaded in 0.02s
//! ```
//!
//! The bare codes are the workers' own prints, interleaved with the main thread's. With 3
//! workers, at most three futures can be `running`; the last two wait for a free worker and
//! print `pending`. Each state is read the instant `submit` returns, before a just-woken worker has
//! necessarily claimed its task, so the first three show `running` or still `pending` from run
//! to run. (In the book all three show `running`: starting a Python thread waits for it, and
//! the GIL lets it claim its task before the main thread prints.)

#[path = "support/flag_server.rs"]
mod flag_server;
#[path = "support/flags_client.rs"]
mod flags_client;

use std::process::ExitCode;

use concurrent_futures::{as_completed, ThreadPoolExecutor};
use flags_client::{download_one, FlagsError};

fn download_many(cc_list: &[&str]) -> Result<usize, FlagsError> {
    let mut cc_list = cc_list[..cc_list.len().min(5)].to_vec();
    cc_list.sort();
    let executor = ThreadPoolExecutor::new(3)?;
    let mut to_do = Vec::with_capacity(cc_list.len());
    for cc in cc_list {
        let future = executor.submit(download_one, cc.to_string())?;
        println!("Scheduled for {cc}: {future}");
        to_do.push(future);
    }
    let mut results = Vec::with_capacity(to_do.len());
    for future in as_completed(to_do, None) {
        let future = future?;
        let res = future.result(None)?;
        println!("{future} result: {res:?}");
        results.push(res.clone());
    }
    Ok(results.len())
}

fn main() -> ExitCode {
    flags_client::main(download_many)
}
