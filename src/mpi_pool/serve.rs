//! Ranks 1..N-1: the worker loop, entered from the entry hook before `main`.
//!
//! The same frames as the process pool's socket (`Hello`, `Task`, `Exit` in; `Ready`, `Refused`,
//! `InitFailed`, `Done`, `Failed` out), answered by the same code (`greet`, `run_task`); only the
//! transport differs: each MPI message carries a batch of whole frames.

use super::backoff::{precise_sleeps, Backoff};
use super::TAG;
use crate::remote::frame::{split_frames, Failure, FromWorker, ToWorker};
use crate::remote::serve::{greet, run_task};
use mpi::traits::*;
use std::io::{self, Write};
use std::time::{Duration, Instant};

/// The longest a rank idle for less than `PATIENCE` (100 ms) sleeps between polls: what a task
/// sent to it waits at worst before the rank sees it. After that the rank polls every 500 µs
/// (mpi4py: every 1 ms, from the first poll on).
const IDLE_CAP: Duration = Duration::from_micros(250);

/// Results of a batch of tasks go back at least this often while the batch runs.
const FLUSH_AFTER: Duration = Duration::from_micros(200);

/// Serves rank 0 until it says `Exit`, then finalizes MPI and exits. Never returns.
pub(crate) fn serve_rank(rank: u32) -> ! {
    precise_sleeps();
    let Some((universe, _level)) = mpi::initialize_with_threading(mpi::Threading::Funneled) else {
        eprintln!("concurrent-futures MPI rank {rank}: MPI was already initialized");
        std::process::exit(3);
    };
    let world = universe.world();
    match serve(&world) {
        Ok(()) => {
            let _ = io::stdout().flush();
            let _ = io::stderr().flush();
            drop(universe); // MPI_Finalize
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("concurrent-futures MPI rank {rank}: {e}");
            let _ = io::stderr().flush();
            world.abort(3)
        }
    }
}

fn serve(world: &mpi::topology::SimpleCommunicator) -> Result<(), String> {
    let root = world.process_at_rank(0);
    let mut verified = None;
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut scratch = Vec::new();
    let mut backoff = Backoff::new(IDLE_CAP);
    loop {
        let Some(probed) = root.immediate_matched_probe_with_tag(TAG) else {
            let wait = backoff.next();
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            continue;
        };
        backoff.reset();
        let (bytes, _) = probed.matched_receive_vec::<u8>();
        let mut unsent_since: Option<Instant> = None;
        for body in split_frames(&bytes) {
            let body = body.map_err(|e| format!("bad message from rank 0: {e}"))?;
            match ToWorker::decode(body).map_err(|e| format!("bad frame from rank 0: {e}"))? {
                ToWorker::Hello {
                    protocol,
                    image,
                    initializer,
                    ..
                } => verified = greet(protocol, image, initializer, &mut out),
                ToWorker::Task { id, call } => {
                    match &verified {
                        Some(v) => run_task(v, id, call, &mut scratch, &mut out),
                        None => FromWorker::Failed {
                            id,
                            failure: Failure::DecodeArgument(
                                "this rank has not passed the handshake".into(),
                            ),
                        }
                        .encode(&mut out),
                    }
                    // What the task printed goes out now, not whenever the buffer fills.
                    let _ = io::stdout().flush();
                    let since = *unsent_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= FLUSH_AFTER {
                        root.send_with_tag(&out[..], TAG);
                        out.clear();
                        unsent_since = None;
                    }
                }
                ToWorker::Exit => {
                    if !out.is_empty() {
                        root.send_with_tag(&out[..], TAG);
                    }
                    return Ok(());
                }
            }
        }
        if !out.is_empty() {
            root.send_with_tag(&out[..], TAG);
            out.clear();
        }
    }
}
