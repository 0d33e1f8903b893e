//! The MPI half of the entry hook: what a rank does before `main`.

use crate::remote::role;

/// Run by the entry hook (`src/entry.rs`) in a process `mpirun` started, while it has one
/// thread. Rank 0 records its rank and arranges for the worker ranks to be released at exit,
/// then runs `main`; the other ranks never return: they serve tasks, then exit.
pub(crate) fn enter_rank(rank: u32) {
    // Constructors run before any thread exists, so editing the environment races with nobody.
    role::set_rank(rank);
    if rank == 0 {
        // SAFETY: `at_exit` is an `extern "C" fn()` that never unwinds (it catches panics);
        // registering it has no other precondition.
        unsafe {
            libc::atexit(at_exit);
        }
        return;
    }
    super::worker_rank::serve_rank(rank)
}

/// Rank 0's exit: lets every in-flight task finish, tells the worker ranks to exit, and
/// finalizes MPI, so `mpirun` sees a clean job; after a lost rank it aborts the job instead.
extern "C" fn at_exit() {
    let _ = std::panic::catch_unwind(super::comm::release_workers_at_exit);
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_plain_test_process_is_no_rank() {
        // `cargo test` does not run under mpirun.
        if std::env::var_os("OMPI_COMM_WORLD_RANK").is_none() {
            assert_eq!(crate::remote::role::rank(), None);
        }
    }
}
