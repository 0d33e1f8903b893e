//! Remote calls, independent of what carries them: the layer the process pool (a Unix socket
//! per worker) and the MPI pool (MPI messages between ranks) share.
//!
//! - `role`: which role this process plays (user program, pool worker, MPI rank).
//! - `image`: naming a function in another process of the same executable image.
//! - `frame`: the wire format of calls and replies.
//! - `pending`, `outbox`: the parent side: encoding a submission, queueing it, completing its
//!   future(s) from the reply.
//! - `forward`: a dispatched task's token cancelled: tell the transport's thread.
//! - `serve`: the worker side: the handshake and running a call.
//!
//! A transport (`process_pool/`, `mpi_pool/`) moves frames and decides what a lost worker
//! means; nothing here knows which transport is in use.

pub(crate) mod forward;
pub(crate) mod frame;
pub(crate) mod image;
pub(crate) mod outbox;
pub(crate) mod pending;
pub(crate) mod role;
pub(crate) mod serve;
