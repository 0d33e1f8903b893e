//! The entry hook: code every executable that links this crate runs before `main`, to decide
//! what the process is for.
//!
//! It is a constructor in `.init_array` (through the `ctor` crate). In an ordinary process it
//! only records that it ran. A process a pool started serves that pool and exits, so the
//! user's `main`, a test harness or a bench harness never runs there and no line in `main` is
//! needed. This is the one module that knows both pools; the facts it reads live in
//! `remote::role`.

use crate::remote::role::{self, Role};

#[ctor::ctor(unsafe)]
fn entry_hook() {
    role::mark_hook_ran();
    match Role::of_this_process() {
        Role::Main => {}
        Role::PoolWorker(value) => crate::process_pool::serve_parent(&value),
        #[cfg(feature = "mpi")]
        Role::MpiRank(rank) => crate::mpi_pool::enter_rank(rank),
    }
}
