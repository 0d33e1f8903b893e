//! Who gets told when a future ends, and the one blocking primitive every wait is built on.

use crate::sync::{Condvar, Mutex};
use std::time::Instant;

/// How a future ended, as a waiter sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Finished with a value.
    Value,
    /// Finished with a failure (panic, broken executor).
    Failed,
    /// Cancelled (for collection waiters: cancelled and notified).
    Cancelled,
}

/// A type-erased listener registered on a future, so that `wait` and `as_completed` can watch
/// futures of any result type and of any executor at once.
pub(crate) trait Notify: Send + Sync {
    /// Called on the completing thread, outside every lock of the future.
    fn notify(&self, token: usize, ended: Ended);
}

/// A one-shot flag a thread can sleep on: set once, wakes every sleeper.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    set: Mutex<bool>,
    cond: Condvar,
}

impl Signal {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Sleeps until the signal is set or `deadline` passes; returns whether it was set.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut set = self.set.lock();
        while !*set {
            match deadline {
                None => self.cond.wait(&mut set),
                Some(d) => {
                    if self.cond.wait_until(&mut set, d) {
                        return *set;
                    }
                }
            }
        }
        true
    }

    pub(crate) fn set(&self) {
        let mut set = self.set.lock();
        *set = true;
        self.cond.notify_all();
    }
}

impl Notify for Signal {
    fn notify(&self, _token: usize, _ended: Ended) {
        self.set();
    }
}

/// `Instant::now() + timeout`, or `None` (wait forever) when that overflows.
pub(crate) fn deadline_after(timeout: Option<std::time::Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}
