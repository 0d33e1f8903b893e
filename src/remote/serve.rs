//! The worker side of a remote call, whatever carries the frames: answering the handshake,
//! running a task, and turning a worker's [`Failure`] into the task's [`FutureError`].

use super::frame::{Call, Failure, FromWorker, PROTOCOL};
use super::image::{self, ImageId, Verified};
use crate::error::{FutureError, PanicLocation};

/// Answers the parent's `Hello` (shared with the MPI transport): checks the protocol and the
/// executable image, then runs the initializer. Encodes `Ready`, `Refused` or `InitFailed` into
/// `out`, and returns the proof of a matching image only with `Ready`.
pub(crate) fn greet(
    protocol: u32,
    parent_image: &[u8],
    initializer: Option<Call<'_>>,
    out: &mut Vec<u8>,
) -> Option<Verified> {
    if protocol != PROTOCOL {
        let reason = format!("protocol {protocol} from the parent, {PROTOCOL} here");
        FromWorker::Refused(&reason).encode(out);
        return None;
    }
    // Nothing the parent names is resolved before this check passes.
    let verified = match ImageId::check(parent_image) {
        Ok(v) => v,
        Err(reason) => {
            FromWorker::Refused(&reason).encode(out);
            return None;
        }
    };
    if let Some(init) = initializer {
        let mut sink = Vec::new();
        let ran = image::run(
            &verified,
            init.trampoline,
            init.function,
            init.input,
            &mut sink,
        );
        if let Err(failure) = ran {
            let message = match failure {
                Failure::Panicked { message, .. } => message,
                Failure::DecodeArgument(m) | Failure::EncodeResult(m) => m,
            };
            FromWorker::InitFailed(&message).encode(out);
            return None;
        }
    }
    FromWorker::Ready {
        pid: std::process::id(),
    }
    .encode(out);
    Some(verified)
}

/// Runs one `Task` and encodes its `Done` or `Failed` frame into `out` ; `scratch` is reused for the result bytes.
pub(crate) fn run_task(
    verified: &Verified,
    id: u64,
    call: Call<'_>,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    scratch.clear();
    match image::run(
        verified,
        call.trampoline,
        call.function,
        call.input,
        scratch,
    ) {
        Ok(()) => FromWorker::Done {
            id,
            output: scratch,
        }
        .encode(out),
        Err(failure) => FromWorker::Failed { id, failure }.encode(out),
    }
}

impl From<Failure> for FutureError {
    /// A worker's report of a call that produced no result, as the task's error.
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Panicked { message, location } => FutureError::Panicked {
                message,
                location: location.map(|(file, line, column)| PanicLocation { file, line, column }),
            },
            Failure::DecodeArgument(m) => {
                FutureError::Serialization(format!("the worker could not decode the argument: {m}"))
            }
            Failure::EncodeResult(m) => {
                FutureError::Serialization(format!("the worker could not encode the result: {m}"))
            }
        }
    }
}
