//! Turning a task's panic into a value: message and location, never an unwinding worker.
//!
//! `catch_unwind` gives the payload but not the location, so the crate chains a panic hook (once,
//! the first time a task runs) that records the location while a task is being caught on this
//! thread, and stays silent then: a task's panic is reported through its future, as Python stores
//! an exception, rather than printed by a worker. Panics elsewhere go to the previous hook
//! untouched. If the application later replaces the hook, tasks still fail with their message,
//! only without a location.

use crate::error::{FutureError, PanicLocation};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

std::thread_local! {
    /// How many `catch` frames are active on this thread (inline runs nest).
    static CATCHING: Cell<usize> = const { Cell::new(0) };
    /// The location of the last panic caught on this thread.
    static LOCATION: RefCell<Option<PanicLocation>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) > 0 {
                let location = info.location().map(|l| PanicLocation {
                    file: l.file().to_owned(),
                    line: l.line(),
                    column: l.column(),
                });
                LOCATION.with(|slot| *slot.borrow_mut() = location);
                // loom runs every model thread on one OS thread, so this thread-local cannot
                // tell a caught task from loom's own report (a deadlock, say) raised on
                // another model thread: print everything there.
                if cfg!(concurrent_futures_loom) {
                    previous(info);
                }
            } else {
                previous(info);
            }
        }));
    });
}

/// Describes a panic payload the way std's default hook does.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// Runs `f`, turning a panic into `FutureError::Panicked` with its message and location.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, FutureError> {
    install_hook();
    CATCHING.with(|c| c.set(c.get() + 1));
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get() - 1));
    outcome.map_err(|payload| {
        let message = payload_message(&*payload);
        let location = LOCATION.with(|slot| slot.borrow_mut().take());
        // A payload whose destructor panics must not unwind out of here either.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
        FutureError::Panicked { message, location }
    })
}
