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
//! rank 0 parses the command line (and may start a local server), every worker rank gets the
//! server's URL and the download directory's absolute path through Python's
//! `initializer=`/`initargs=` pattern.
//!
//! **On several hosts** the ranks need two things, which the initializer checks on each rank
//! before any download (a rank that lacks one breaks the pool with a message naming the rank,
//! its host and what is missing):
//!
//! - a flag server every host reaches. A `127.0.0.1` URL, the LOCAL/DELAY/ERROR labels and the
//!   server this program starts when none runs all live on rank 0's host only. Start one on an
//!   address the hosts share and pass its URL:
//!
//!   ```text
//!   cargo run --example flags_server -- --bind 0.0.0.0          # on host h1
//!   mpirun --hostfile hosts -n 3 -wdir /shared/run target/release/examples/flags_mpi \
//!       -s http://h1:8001/flags
//!   ```
//!
//! - one download directory for all of them: `downloads/` under the working directory, which
//!   must be on a file system every host mounts (`-wdir` sets it for every rank). Rank 0
//!   leaves a token file there, and a rank that does not see it refuses.

#[path = "support/flag_server.rs"]
mod flag_server;
#[path = "support/flags_client.rs"]
mod flags_client;

use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use concurrent_futures::{Executor, MpiPoolExecutor, SubmitError};
use flags_client::{download_one, FlagsError};

/// How long a rank tries to connect to the flag server before it calls it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What every worker rank needs to download and save, and how it checks that it has it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Setup {
    base_url: String,
    /// Absolute, so that every rank saves into the same place whatever its working directory.
    dest_dir: PathBuf,
    /// A file rank 0 wrote into `dest_dir`, and its content.
    token_file: String,
    token: String,
    /// Rank 0's host, for the messages.
    origin: String,
}

/// The initializer: checks the server and the directory from this rank, then installs the
/// client. A panic here breaks the pool with this rank's message.
fn use_setup_here(setup: Setup) {
    let here = host_name();
    let dir = setup.dest_dir.display();
    match std::fs::read_to_string(setup.dest_dir.join(&setup.token_file)) {
        Ok(token) if token == setup.token => {}
        _ => panic!(
            "{dir} on {here} is not the download directory rank 0 uses on {origin} (its token \
             file {file} is missing): across hosts flags_mpi needs one download directory that \
             every host shares; run it in a directory on a shared file system (mpirun -wdir DIR)",
            origin = setup.origin,
            file = setup.token_file,
        ),
    }
    if let Err(why) = reach(&setup.base_url) {
        panic!(
            "cannot reach the flag server {url} from {here} ({why}): across hosts every rank \
             must reach it, and 127.0.0.1, the LOCAL/DELAY/ERROR labels and a server flags_mpi \
             starts itself exist only on rank 0's host ({origin}); start one where all hosts \
             reach it (flags_server --bind 0.0.0.0) and pass its address \
             (flags_mpi -s http://HOST:8001/flags)",
            url = setup.base_url,
            origin = setup.origin,
        );
    }
    flags_client::use_site((setup.base_url, setup.dest_dir));
}

/// Connects to the URL's host and port (no request: a DELAY server would delay it).
fn reach(base_url: &str) -> Result<(), String> {
    let uri: ureq::http::Uri = base_url.parse().map_err(|e| format!("{e}"))?;
    let host = uri.host().ok_or("the URL has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "an unknown host".into();
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

fn download_many(cc_list: &[&str]) -> Result<usize, FlagsError> {
    let mut sorted: Vec<String> = cc_list.iter().map(|cc| cc.to_string()).collect();
    sorted.sort();
    let setup_error = |what: String| FlagsError::Submit(SubmitError::Spawn(what));
    let (base_url, dest_dir) = flags_client::site();
    let dest_dir = std::path::absolute(&dest_dir)
        .map_err(|e| setup_error(format!("{}: {e}", dest_dir.display())))?;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let token_file = format!(".flags_mpi-{}", std::process::id());
    let token = format!("{} {} {nanos}", host_name(), std::process::id());
    let token_path = dest_dir.join(&token_file);
    std::fs::write(&token_path, &token)
        .map_err(|e| setup_error(format!("cannot write {}: {e}", token_path.display())))?;
    let setup = Setup {
        base_url,
        dest_dir,
        token_file,
        token,
        origin: host_name(),
    };
    let outcome = (|| {
        let executor = MpiPoolExecutor::builder()
            .initializer(use_setup_here, setup)
            .build()
            .map_err(|e| setup_error(e.to_string()))?;
        // Results in input order; the first failed download ends the run, as `list(res)` raises.
        let res = Executor::map(&executor, download_one, sorted);
        let codes = res.collect::<Result<Vec<String>, _>>()?;
        Ok(codes.len())
    })();
    let _ = std::fs::remove_file(&token_path);
    outcome
}

fn main() -> ExitCode {
    flags_client::main(download_many)
}
