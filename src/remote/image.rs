//! Naming a function in another process: offsets from an anchor in the same executable image,
//! and the proof that both processes run that image.
//!
//! A worker is a fresh `exec` of the parent's own executable, so every function sits at the same
//! offset from [`anchor`] in both processes (ASLR moves the whole image, not its parts). The
//! parent sends `f - anchor` together with the offset of a monomorphized trampoline that knows
//! `f`'s argument and result types; the worker adds its own `anchor` back. That is only sound if
//! the worker runs the very same image, so before it resolves anything the worker compares the
//! parent's [`ImageId`] with its own and refuses to run on a mismatch; and the parent only sends
//! functions that `dladdr` places in the same loaded object as the anchor (not in a `dlopen`ed
//! library, whose base differs per process).

use super::frame::Failure;
use crate::error::FutureError;
use crate::executor::Payload;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::hash::Hasher;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::OnceLock;

/// What a worker runs: decode the argument from `input`, call the function at address `func`,
/// encode the result into `out`.
pub(crate) type Trampoline = fn(usize, &[u8], &mut Vec<u8>) -> Result<(), Failure>;

/// The fixed point offsets are taken from. Never inlined, so it has one address.
#[inline(never)]
fn anchor() {}

fn anchor_addr() -> usize {
    anchor as fn() as usize
}

/// `addr - anchor` as a signed offset.
fn offset_of(addr: usize) -> i64 {
    addr.wrapping_sub(anchor_addr()) as i64
}

/// The address `offset` names in this process.
fn address_of(offset: i64) -> usize {
    anchor_addr().wrapping_add(offset as usize)
}

/// One call, as the parent names it: offsets of the trampoline and of the user function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Portable {
    pub(crate) trampoline: i64,
    pub(crate) function: i64,
}

/// Names `f` (called through `trampoline`) for a worker, after checking that both live in the
/// anchor's loaded object.
pub(crate) fn portable(trampoline: Trampoline, f: usize) -> Result<Portable, String> {
    let tramp = trampoline as usize;
    for addr in [tramp, f] {
        if !in_anchor_object(addr) {
            return Err(format!(
                "the function at {addr:#x} is not in the executable image the workers run \
                 (a dynamically loaded library?); only functions linked into the executable \
                 can be sent to a process pool"
            ));
        }
    }
    Ok(Portable {
        trampoline: offset_of(tramp),
        function: offset_of(f),
    })
}

/// Runs a call the parent named. Only called after [`ImageId::check`] passed for the parent's
/// image, which is what makes the offsets meaningful here.
pub(crate) fn run(
    verified: &Verified,
    trampoline: i64,
    function: i64,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Failure> {
    let _ = verified;
    let tramp_addr = address_of(trampoline);
    // SAFETY: `Verified` exists only after this process proved it runs the parent's image
    // (same build id or same contents, same length), and the parent computed `trampoline` as
    // `t - anchor` for a `t: Trampoline` it checked with `dladdr` to lie in the anchor's object.
    // The same image loads that object at one base, so `anchor + offset` is the same function
    // `t` here, and a fn pointer has the size of `usize`.
    let tramp: Trampoline = unsafe { std::mem::transmute::<usize, Trampoline>(tramp_addr) };
    tramp(address_of(function), input, out)
}

/// Proof, by construction only, that the parent's image was checked.
#[derive(Debug)]
pub(crate) struct Verified(());

/// The trampoline for one call `f(arg)`.
pub(crate) fn call_one<A: Payload, R: Payload>(
    func: usize,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Failure> {
    let arg: A = decode(input)?;
    // SAFETY: `func` is `f as usize` for an `f: fn(A) -> R` in the parent, moved by the image
    // offset (see `run`); this trampoline was instantiated for exactly that `A` and `R` by
    // `ProcessPoolExecutor::submit`, which sends both offsets together.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    let value = crate::panic::catch(|| f(arg)).map_err(failure_of)?;
    encode_into(&value, out).map_err(|e| Failure::EncodeResult(typed::<R>(e)))
}

fn typed<T>(e: impl std::fmt::Display) -> String {
    format!("{} ({})", e, std::any::type_name::<T>())
}

fn decode<A: Payload>(input: &[u8]) -> Result<A, Failure> {
    postcard::from_bytes(input).map_err(|e| Failure::DecodeArgument(typed::<A>(e)))
}

/// One item's outcome inside a chunk: a panic or an unencodable result fails that item only.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ItemOutcome<R> {
    Value(R),
    Panicked {
        message: String,
        location: Option<(String, u32, u32)>,
    },
    EncodeFailed(String),
}

impl<R> ItemOutcome<R> {
    pub(crate) fn into_result(self) -> Result<R, FutureError> {
        match self {
            ItemOutcome::Value(v) => Ok(v),
            ItemOutcome::Panicked { message, location } => Err(FutureError::Panicked {
                message,
                location: location.map(|(file, line, column)| crate::PanicLocation {
                    file,
                    line,
                    column,
                }),
            }),
            ItemOutcome::EncodeFailed(message) => Err(FutureError::Serialization(format!(
                "the worker could not encode the result: {message}"
            ))),
        }
    }
}

/// The trampoline for one `map` chunk: `f` over each item, each caught on its own.
pub(crate) fn call_chunk<A: Payload, R: Payload>(
    func: usize,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Failure> {
    let args: Vec<A> = decode(input)?;
    // SAFETY: as in `call_one`: `func` names an `fn(A) -> R` of the verified image and this
    // trampoline was instantiated for that `A` and `R` by `ProcessPoolExecutor::map_with`.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    let mut outcomes: Vec<ItemOutcome<R>> = args
        .into_iter()
        .map(|arg| match crate::panic::catch(|| f(arg)) {
            Ok(v) => ItemOutcome::Value(v),
            Err(e) => match failure_of(e) {
                Failure::Panicked { message, location } => {
                    ItemOutcome::Panicked { message, location }
                }
                other => ItemOutcome::EncodeFailed(format!("{other:?}")),
            },
        })
        .collect();
    let start = out.len();
    if encode_into(&outcomes, out).is_ok() {
        return Ok(());
    }
    // Some result does not encode: find which, so only those items fail.
    out.truncate(start);
    for outcome in &mut outcomes {
        if let ItemOutcome::Value(v) = outcome {
            if let Err(e) = postcard::to_allocvec(v) {
                *outcome = ItemOutcome::EncodeFailed(typed::<R>(e));
            }
        }
    }
    encode_into(&outcomes, out).map_err(Failure::EncodeResult)
}

/// The initializer's trampoline: `init(arg)`.
pub(crate) fn call_init<A: Payload>(
    func: usize,
    input: &[u8],
    _out: &mut Vec<u8>,
) -> Result<(), Failure> {
    let arg: A = decode(input)?;
    // SAFETY: as in `call_one`, for the `fn(A)` the builder's `initializer` was given.
    let f = unsafe { std::mem::transmute::<usize, fn(A)>(func) };
    crate::panic::catch(|| f(arg)).map_err(failure_of)
}

fn failure_of(e: FutureError) -> Failure {
    match e {
        FutureError::Panicked { message, location } => Failure::Panicked {
            message,
            location: location.map(|l| (l.file, l.line, l.column)),
        },
        other => Failure::Panicked {
            message: other.to_string(),
            location: None,
        },
    }
}

fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
    let buf = std::mem::take(out);
    match postcard::to_extend(value, buf) {
        Ok(buf) => {
            *out = buf;
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Which loaded object an address belongs to.
// ---------------------------------------------------------------------------------------------

/// Base address of the loaded object containing `addr`, or `None` if `dladdr` does not know it.
fn object_base(addr: usize) -> Option<usize> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: `dladdr` only reads the address (it never dereferences it) and writes a
    // `Dl_info` into the buffer we own; on failure it returns 0 and we do not read the buffer.
    let found = unsafe { libc::dladdr(addr as *const libc::c_void, info.as_mut_ptr()) };
    if found == 0 {
        return None;
    }
    // SAFETY: `dladdr` returned non-zero, so it initialized `info`.
    let info = unsafe { info.assume_init() };
    Some(info.dli_fbase as usize)
}

fn in_anchor_object(addr: usize) -> bool {
    std::thread_local! {
        static SEEN: std::cell::RefCell<HashMap<usize, bool>> = std::cell::RefCell::new(HashMap::new());
    }
    static ANCHOR_BASE: OnceLock<Option<usize>> = OnceLock::new();
    let anchor = *ANCHOR_BASE.get_or_init(|| object_base(anchor_addr()));
    if let Some(&known) = SEEN.with(|s| s.borrow().get(&addr).copied()).as_ref() {
        return known;
    }
    let ok = anchor.is_some() && object_base(addr) == anchor;
    SEEN.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() > 4096 {
            s.clear();
        }
        s.insert(addr, ok);
    });
    ok
}

// ---------------------------------------------------------------------------------------------
// Which executable image a process runs.
// ---------------------------------------------------------------------------------------------

/// The identity of the running executable: the id the linker derived from its contents (an
/// ELF GNU build id, a Mach-O `LC_UUID`) when it wrote one, else a hash of the whole file; plus
/// the file length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageId(Vec<u8>);

impl ImageId {
    /// This process's identity, computed once.
    pub(crate) fn current() -> Result<&'static ImageId, String> {
        static ID: OnceLock<Result<ImageId, String>> = OnceLock::new();
        ID.get_or_init(|| {
            crate::os::executable_path()
                .and_then(|path| Self::of_file(&path))
                .map_err(|e| format!("cannot read the running executable: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Compares the parent's identity with this process's own; only a match yields the
    /// [`Verified`] token that [`run`] needs.
    pub(crate) fn check(parent: &[u8]) -> Result<Verified, String> {
        let own = Self::current()?;
        if own.0 == parent {
            Ok(Verified(()))
        } else {
            Err(format!(
                "the worker runs a different executable image than the pool's process \
                 (worker {}, parent {}); refusing to resolve any function",
                hex(&own.0),
                hex(parent)
            ))
        }
    }

    fn of_file(path: &std::path::Path) -> io::Result<ImageId> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut id = b"len:".to_vec();
        id.extend_from_slice(&len.to_le_bytes());
        match crate::os::linker_identity(&mut file) {
            Ok(Some((kind, linker_id))) => {
                id.extend_from_slice(kind.as_bytes());
                id.extend_from_slice(b":");
                id.extend_from_slice(&linker_id);
            }
            _ => {
                file.seek(SeekFrom::Start(0))?;
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                let mut buf = vec![0; 1 << 20];
                loop {
                    let n = file.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    hasher.write(&buf[..n]);
                }
                id.extend_from_slice(b"sip:");
                id.extend_from_slice(&hasher.finish().to_le_bytes());
            }
        }
        Ok(ImageId(id))
    }

    /// An identity that no real image has (tests of the refusal path).
    #[doc(hidden)]
    pub(crate) fn bogus() -> ImageId {
        ImageId(b"not-an-image".to_vec())
    }
}

fn hex(bytes: &[u8]) -> String {
    let tail = &bytes[bytes.len().saturating_sub(8)..];
    tail.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_image_has_a_stable_identity() {
        let a = ImageId::current().unwrap();
        let b = ImageId::of_file(&crate::os::executable_path().unwrap()).unwrap();
        assert_eq!(*a, b);
        assert!(ImageId::check(a.as_bytes()).is_ok());
        let err = ImageId::check(ImageId::bogus().as_bytes()).unwrap_err();
        assert!(err.contains("different executable image"), "{err}");
    }

    #[test]
    fn offsets_round_trip_within_the_image() {
        fn double(n: u32) -> u32 {
            n * 2
        }
        let p = portable(call_one::<u32, u32>, double as fn(u32) -> u32 as usize).unwrap();
        assert_eq!(address_of(p.function), double as fn(u32) -> u32 as usize);
        let verified = ImageId::check(ImageId::current().unwrap().as_bytes()).unwrap();
        let mut out = Vec::new();
        let input = postcard::to_allocvec(&21u32).unwrap();
        run(&verified, p.trampoline, p.function, &input, &mut out).unwrap();
        assert_eq!(postcard::from_bytes::<u32>(&out).unwrap(), 42);
    }

    #[test]
    fn addresses_outside_the_image_are_refused() {
        // A libc function lives in libc.so, not in the test executable.
        let strlen = libc::strlen as *const () as usize;
        let err = portable(call_one::<u32, u32>, strlen).unwrap_err();
        assert!(err.contains("not in the executable image"), "{err}");
    }
}
