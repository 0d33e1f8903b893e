//! Forwarding a cancel to where a task runs: the [`CancelTarget`] a transport registers on a
//! dispatched task's token, so that cancelling the token tells the transport's thread, which
//! sends the worker a `Cancel` frame for the task.

use crate::cancel::CancelTarget;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

/// Where a transport collects the cancel requests of its dispatched tasks (called by the
/// token, on the cancelling thread), for its own thread to send on as `Cancel` frames.
pub(crate) trait CancelRequests: Send + Sync {
    /// The token of task `id`, on a worker, was cancelled.
    fn request_cancel(&self, id: u64);
}

/// Tells a transport that the token of task `id`, dispatched to a worker, was cancelled.
pub(crate) struct ForwardCancel {
    id: u64,
    live: AtomicBool,
    /// Weak: a token that outlives the pool does not keep the pool's state alive.
    requests: Weak<dyn CancelRequests>,
}

impl ForwardCancel {
    pub(crate) fn new(id: u64, requests: Weak<dyn CancelRequests>) -> Arc<ForwardCancel> {
        Arc::new(ForwardCancel {
            id,
            live: AtomicBool::new(true),
            requests,
        })
    }

    pub(crate) fn target(self: &Arc<Self>) -> Weak<dyn CancelTarget> {
        Arc::downgrade(self) as Weak<dyn CancelTarget>
    }

    /// The task left the worker: the token may drop the registration at its next pruning.
    pub(crate) fn retire(&self) {
        // ORDERING: only a hint for the token's pruning; nothing is published with it.
        self.live.store(false, Ordering::Relaxed);
    }
}

impl CancelTarget for ForwardCancel {
    fn on_cancel(self: Arc<Self>) {
        if let Some(requests) = self.requests.upgrade() {
            requests.request_cancel(self.id);
        }
    }

    fn is_live(&self) -> bool {
        // ORDERING: a stale `true` only keeps the registration until the next pruning.
        self.live.load(Ordering::Relaxed)
    }
}
