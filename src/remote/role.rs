//! Which role this process plays, read from its environment by the entry hook
//! (`src/entry.rs`) before `main`: the user's program, a process-pool worker, or an MPI rank.
//!
//! Only facts live here (the variables, the rank, whether the hook ran), so that both pools can
//! read them without pointing at the hook, and the decision is a pure function of the
//! environment that unit tests can call.

use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "mpi")]
use std::sync::OnceLock;

/// Set by the process pool in a worker's environment: `{protocol}:{parent pid}`.
pub(crate) const WORKER_ENV: &str = "CONCURRENT_FUTURES_WORKER";

/// Set by the entry hook in every MPI rank's environment, so that processes a rank starts (a
/// task's `Command`, a process pool's workers) are ordinary processes, not more ranks.
#[cfg(feature = "mpi")]
pub(crate) const RANK_MARKER: &str = "CONCURRENT_FUTURES_MPI_RANK";

/// Where launchers put the rank: Open MPI, PMIx (Open MPI 5, Slurm), MPICH's Hydra, MVAPICH2.
#[cfg(feature = "mpi")]
const RANK_VARS: [&str; 4] = [
    "OMPI_COMM_WORLD_RANK",
    "PMIX_RANK",
    "PMI_RANK",
    "MV2_COMM_WORLD_RANK",
];

/// Whether the entry hook ran in this process (a pool refuses to start without it, rather
/// than spawn copies of a program that would run its own `main`).
static HOOK_RAN: AtomicBool = AtomicBool::new(false);

/// This process's rank if `mpirun` started it (set once, by the entry hook).
#[cfg(feature = "mpi")]
static RANK: OnceLock<u32> = OnceLock::new();

/// What the entry hook makes of this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// The user's program (or a test or bench harness): `main` runs.
    Main,
    /// Started by a process pool: serves it and exits. Carries [`WORKER_ENV`]'s value.
    PoolWorker(OsString),
    /// A rank of an `mpirun` job: rank 0 runs `main`, the others serve rank 0 and exit.
    #[cfg(feature = "mpi")]
    MpiRank(u32),
}

impl Role {
    /// The role the environment `var` describes. A pool worker wins over a rank (a rank's task
    /// may start a process pool); a process started by a rank is no rank itself.
    pub(crate) fn from_env(var: impl Fn(&str) -> Option<OsString>) -> Role {
        if let Some(value) = var(WORKER_ENV) {
            return Role::PoolWorker(value);
        }
        #[cfg(feature = "mpi")]
        if var(RANK_MARKER).is_none() {
            let rank = RANK_VARS
                .iter()
                .find_map(|v| var(v)?.to_str()?.trim().parse::<u32>().ok());
            if let Some(rank) = rank {
                return Role::MpiRank(rank);
            }
        }
        Role::Main
    }

    /// This process's role.
    pub(crate) fn of_this_process() -> Role {
        Role::from_env(|name| std::env::var_os(name))
    }
}

/// Records that the entry hook ran (called by the hook, first thing).
pub(crate) fn mark_hook_ran() {
    HOOK_RAN.store(true, Ordering::Relaxed);
}

/// Whether the entry hook ran in this process.
pub(crate) fn hook_ran() -> bool {
    // ORDERING: the store happens in a constructor before `main`, which happens-before every
    // thread of the program; Relaxed is enough.
    HOOK_RAN.load(Ordering::Relaxed)
}

/// Records this process's rank and marks the environment so that processes it starts are no
/// ranks (called by the entry hook, while the process has one thread).
#[cfg(feature = "mpi")]
pub(crate) fn set_rank(rank: u32) {
    std::env::set_var(RANK_MARKER, rank.to_string());
    let _ = RANK.set(rank);
}

/// The rank `mpirun` gave this process, if it gave one.
#[cfg(feature = "mpi")]
pub(crate) fn rank() -> Option<u32> {
    RANK.get().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn role_of(vars: &[(&str, &str)]) -> Role {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Role::from_env(|name| vars.get(name).cloned())
    }

    #[test]
    fn a_plain_environment_is_the_users_program() {
        assert_eq!(role_of(&[]), Role::Main);
    }

    #[test]
    fn the_worker_variable_makes_a_pool_worker() {
        assert_eq!(
            role_of(&[(WORKER_ENV, "1:42")]),
            Role::PoolWorker("1:42".into())
        );
    }

    #[cfg(feature = "mpi")]
    #[test]
    fn a_launcher_rank_makes_an_mpi_rank_unless_a_rank_started_the_process() {
        assert_eq!(role_of(&[("OMPI_COMM_WORLD_RANK", "2")]), Role::MpiRank(2));
        assert_eq!(role_of(&[("PMI_RANK", " 0 ")]), Role::MpiRank(0));
        assert_eq!(
            role_of(&[("OMPI_COMM_WORLD_RANK", "2"), (RANK_MARKER, "1")]),
            Role::Main
        );
        assert_eq!(role_of(&[("PMI_RANK", "not a rank")]), Role::Main);
        // A pool worker started by a rank's task inherits the launcher's variables.
        assert_eq!(
            role_of(&[("OMPI_COMM_WORLD_RANK", "2"), (WORKER_ENV, "1:7")]),
            Role::PoolWorker("1:7".into())
        );
    }
}
