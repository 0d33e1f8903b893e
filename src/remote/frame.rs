//! The wire format between the pool and its workers: length-prefixed frames with a one-byte tag.
//!
//! The envelope is written by hand (fixed little-endian fields, the payload as the frame's
//! tail) so that a payload of any size is copied once instead of going through serde byte by
//! byte; the payloads themselves are postcard. Every decoder path checks its bounds and returns
//! a [`FrameError`]: a worker that sends garbage fails its own tasks, never the parent.

use std::fmt;
use std::ops::Range;

/// The largest frame either side accepts (1 GiB): a corrupt length prefix must not make the
/// reader allocate without bound.
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// The most a [`FrameBuffer`] grows ahead of the bytes that arrived: a length prefix promises
/// bytes, and memory follows the bytes, not the promise.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// Protocol version, checked in the handshake before anything else is read.
pub(crate) const PROTOCOL: u32 = 2;

const HELLO: u8 = 1;
const TASK: u8 = 2;
const EXIT: u8 = 3;
const TASK_UNDER_TOKEN: u8 = 4;
const CANCEL: u8 = 5;
const READY: u8 = 10;
const REFUSED: u8 = 11;
const INIT_FAILED: u8 = 12;
const DONE: u8 = 13;
const PANICKED: u8 = 14;
const CALL_FAILED: u8 = 15;
const STARTED: u8 = 16;

/// Offset of the tag inside a frame, and of the task id inside an encoded `Task` frame, both
/// patched in at dispatch time.
const TAG_AT: usize = 4;
const TASK_ID_AT: usize = 5;

/// A function call as it crosses the boundary: which monomorphized trampoline to run, which
/// user function it calls (both as offsets from the image anchor), and the postcard argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call<'a> {
    pub(crate) trampoline: i64,
    pub(crate) function: i64,
    pub(crate) input: &'a [u8],
}

/// Why a call produced no result, as the worker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The task panicked.
    Panicked {
        message: String,
        location: Option<(String, u32, u32)>,
    },
    /// The argument could not be decoded in the worker.
    DecodeArgument(String),
    /// The result could not be encoded in the worker.
    EncodeResult(String),
}

/// A frame from the parent to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToWorker<'a> {
    /// First frame: who the parent is, what the worker must run first, how long it may live.
    Hello {
        protocol: u32,
        image: &'a [u8],
        max_tasks: u64,
        initializer: Option<Call<'a>>,
    },
    /// Run `call` as task `id`. `under_token`: the task runs under a cancel token, which the
    /// parent may cancel with [`Cancel`](ToWorker::Cancel) while it runs.
    Task {
        id: u64,
        call: Call<'a>,
        under_token: bool,
    },
    /// Cancel the token of task `id` (a task under a token that runs or is about to); ignored
    /// for a task that already ended.
    Cancel { id: u64 },
    /// Finish and exit with status 0.
    Exit,
}

/// A frame from a worker to the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FromWorker<'a> {
    /// Handshake passed and the initializer ran.
    Ready {
        pid: u32,
    },
    /// The worker will not run anything: the images differ, or the protocol does.
    Refused(&'a str),
    /// The initializer panicked; the worker exits.
    InitFailed(&'a str),
    /// The worker is about to call task `id`: written (with every earlier result) before the
    /// call, so a worker that dies is known to have been running exactly that task, and a task
    /// without it provably never ran.
    Started {
        id: u64,
    },
    Done {
        id: u64,
        output: &'a [u8],
    },
    Failed {
        id: u64,
        failure: Failure,
    },
}

/// A frame that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("empty frame")]
    Empty,
    #[error("unknown frame tag {0}")]
    UnknownTag(u8),
    #[error("frame truncated: {0} field missing")]
    Truncated(&'static str),
    #[error("frame has {0} trailing bytes")]
    Trailing(usize),
    #[error("invalid UTF-8 in {0}")]
    Utf8(&'static str),
    #[error("invalid {0} flag")]
    Flag(&'static str),
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Starts a frame in `out`: a length placeholder and the tag. Returns the frame's start.
fn begin(out: &mut Vec<u8>, tag: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(tag);
    start
}

/// Writes the length prefix of the frame that starts at `start`.
fn finish(out: &mut [u8], start: usize) {
    let len = u32::try_from(out.len() - start - 4).expect("frame length checked by the caller");
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

fn put_call(out: &mut Vec<u8>, call: &Call<'_>) {
    out.extend_from_slice(&call.trampoline.to_le_bytes());
    out.extend_from_slice(&call.function.to_le_bytes());
    out.extend_from_slice(call.input);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl ToWorker<'_> {
    /// Appends this frame to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ToWorker::Hello {
                protocol,
                image,
                max_tasks,
                initializer,
            } => {
                let start = begin(out, HELLO);
                out.extend_from_slice(&protocol.to_le_bytes());
                out.extend_from_slice(&(image.len() as u32).to_le_bytes());
                out.extend_from_slice(image);
                out.extend_from_slice(&max_tasks.to_le_bytes());
                match initializer {
                    None => out.push(0),
                    Some(call) => {
                        out.push(1);
                        put_call(out, call);
                    }
                }
                finish(out, start);
            }
            ToWorker::Task {
                id,
                call,
                under_token,
            } => {
                let start = begin(out, if *under_token { TASK_UNDER_TOKEN } else { TASK });
                out.extend_from_slice(&id.to_le_bytes());
                put_call(out, call);
                finish(out, start);
            }
            ToWorker::Cancel { id } => {
                let start = begin(out, CANCEL);
                out.extend_from_slice(&id.to_le_bytes());
                finish(out, start);
            }
            ToWorker::Exit => {
                let start = begin(out, EXIT);
                finish(out, start);
            }
        }
    }
}

/// Encodes a `Task` frame whose id is filled in later by [`set_task_id`], so the caller's
/// thread does the copying and the manager only patches eight bytes.
///
/// Fails if the frame would exceed [`MAX_FRAME`].
pub(crate) fn task_frame(trampoline: i64, function: i64, input: &[u8]) -> Result<Vec<u8>, usize> {
    let len = 1 + 8 + 16 + input.len();
    if len > MAX_FRAME {
        return Err(len);
    }
    let mut out = Vec::with_capacity(4 + len);
    ToWorker::Task {
        id: 0,
        call: Call {
            trampoline,
            function,
            input,
        },
        under_token: false,
    }
    .encode(&mut out);
    Ok(out)
}

/// Marks a frame made by [`task_frame`] as a task under a cancel token.
pub(crate) fn set_under_token(frame: &mut [u8]) {
    frame[TAG_AT] = TASK_UNDER_TOKEN;
}

/// Writes `id` into a frame made by [`task_frame`].
pub(crate) fn set_task_id(frame: &mut [u8], id: u64) {
    frame[TASK_ID_AT..TASK_ID_AT + 8].copy_from_slice(&id.to_le_bytes());
}

impl FromWorker<'_> {
    /// Appends this frame to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let start;
        match self {
            FromWorker::Ready { pid } => {
                start = begin(out, READY);
                out.extend_from_slice(&pid.to_le_bytes());
            }
            FromWorker::Refused(reason) => {
                start = begin(out, REFUSED);
                out.extend_from_slice(reason.as_bytes());
            }
            FromWorker::InitFailed(message) => {
                start = begin(out, INIT_FAILED);
                out.extend_from_slice(message.as_bytes());
            }
            FromWorker::Started { id } => {
                start = begin(out, STARTED);
                out.extend_from_slice(&id.to_le_bytes());
            }
            FromWorker::Done { id, output } => {
                start = begin(out, DONE);
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(output);
            }
            FromWorker::Failed { id, failure } => match failure {
                Failure::Panicked { message, location } => {
                    start = begin(out, PANICKED);
                    out.extend_from_slice(&id.to_le_bytes());
                    match location {
                        None => out.push(0),
                        Some((file, line, column)) => {
                            out.push(1);
                            put_str(out, file);
                            out.extend_from_slice(&line.to_le_bytes());
                            out.extend_from_slice(&column.to_le_bytes());
                        }
                    }
                    out.extend_from_slice(message.as_bytes());
                }
                Failure::DecodeArgument(message) | Failure::EncodeResult(message) => {
                    start = begin(out, CALL_FAILED);
                    out.extend_from_slice(&id.to_le_bytes());
                    out.push(u8::from(matches!(failure, Failure::EncodeResult(_))));
                    out.extend_from_slice(message.as_bytes());
                }
            },
        }
        finish(out, start);
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// A bounds-checked cursor over one frame body.
struct Body<'a> {
    rest: &'a [u8],
}

impl<'a> Body<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FrameError> {
        if self.rest.len() < n {
            return Err(FrameError::Truncated(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, FrameError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, FrameError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, FrameError> {
        let b = self.take(8, what)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, FrameError> {
        self.u64(what).map(|v| v as i64)
    }

    fn flag(&mut self, what: &'static str) -> Result<bool, FrameError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(FrameError::Flag(what)),
        }
    }

    fn str(&mut self, what: &'static str) -> Result<&'a str, FrameError> {
        let len = self.u32(what)? as usize;
        std::str::from_utf8(self.take(len, what)?).map_err(|_| FrameError::Utf8(what))
    }

    /// The rest of the frame, as text.
    fn tail_str(&mut self, what: &'static str) -> Result<&'a str, FrameError> {
        let tail = std::mem::take(&mut self.rest);
        std::str::from_utf8(tail).map_err(|_| FrameError::Utf8(what))
    }

    fn call(&mut self) -> Result<Call<'a>, FrameError> {
        Ok(Call {
            trampoline: self.i64("trampoline")?,
            function: self.i64("function")?,
            input: std::mem::take(&mut self.rest),
        })
    }

    fn end(self) -> Result<(), FrameError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(FrameError::Trailing(n)),
        }
    }
}

fn split_tag(body: &[u8]) -> Result<(u8, Body<'_>), FrameError> {
    match body.split_first() {
        None => Err(FrameError::Empty),
        Some((&tag, rest)) => Ok((tag, Body { rest })),
    }
}

impl<'a> ToWorker<'a> {
    /// The task id of a `Cancel` frame body; `None` for any other frame, which it does not
    /// decode (the threads that listen for cancels look at every frame that goes by).
    pub(crate) fn cancel_id(body: &[u8]) -> Option<u64> {
        if body.first() != Some(&CANCEL) {
            return None;
        }
        match ToWorker::decode(body) {
            Ok(ToWorker::Cancel { id }) => Some(id),
            _ => None,
        }
    }

    /// Decodes one frame body (without its length prefix).
    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, FrameError> {
        let (tag, mut b) = split_tag(body)?;
        let frame = match tag {
            HELLO => {
                let protocol = b.u32("protocol")?;
                let image_len = b.u32("image length")? as usize;
                let image = b.take(image_len, "image")?;
                let max_tasks = b.u64("max_tasks")?;
                let initializer = if b.flag("initializer")? {
                    Some(b.call()?)
                } else {
                    None
                };
                ToWorker::Hello {
                    protocol,
                    image,
                    max_tasks,
                    initializer,
                }
            }
            TASK | TASK_UNDER_TOKEN => ToWorker::Task {
                id: b.u64("id")?,
                call: b.call()?,
                under_token: tag == TASK_UNDER_TOKEN,
            },
            CANCEL => ToWorker::Cancel { id: b.u64("id")? },
            EXIT => ToWorker::Exit,
            other => return Err(FrameError::UnknownTag(other)),
        };
        b.end()?;
        Ok(frame)
    }
}

impl<'a> FromWorker<'a> {
    /// Decodes one frame body (without its length prefix).
    pub(crate) fn decode(body: &'a [u8]) -> Result<Self, FrameError> {
        let (tag, mut b) = split_tag(body)?;
        let frame = match tag {
            READY => FromWorker::Ready { pid: b.u32("pid")? },
            REFUSED => FromWorker::Refused(b.tail_str("refusal")?),
            INIT_FAILED => FromWorker::InitFailed(b.tail_str("initializer message")?),
            STARTED => FromWorker::Started { id: b.u64("id")? },
            DONE => FromWorker::Done {
                id: b.u64("id")?,
                output: std::mem::take(&mut b.rest),
            },
            PANICKED => {
                let id = b.u64("id")?;
                let location = if b.flag("location")? {
                    let file = b.str("file")?.to_owned();
                    Some((file, b.u32("line")?, b.u32("column")?))
                } else {
                    None
                };
                let message = b.tail_str("panic message")?.to_owned();
                FromWorker::Failed {
                    id,
                    failure: Failure::Panicked { message, location },
                }
            }
            CALL_FAILED => {
                let id = b.u64("id")?;
                let encode = b.flag("direction")?;
                let message = b.tail_str("error message")?.to_owned();
                FromWorker::Failed {
                    id,
                    failure: if encode {
                        Failure::EncodeResult(message)
                    } else {
                        Failure::DecodeArgument(message)
                    },
                }
            }
            other => return Err(FrameError::UnknownTag(other)),
        };
        b.end()?;
        Ok(frame)
    }
}

/// Splits a byte stream into frame bodies. Bytes are appended as they arrive; complete frames
/// are handed out in order; a length over [`MAX_FRAME`] is an error before any allocation.
///
/// Memory follows the bytes: the buffer grows by at most what it already holds (so copying
/// stays amortized) or [`READ_CHUNK`], whichever is larger, never by what a length prefix
/// announces. A header alone costs one chunk, and a peer that announces 1 GiB and sends
/// nothing more costs no more than that.
///
/// The buffer stays initialized up to its capacity (`buf.len()`), so reading into it costs no
/// zeroing per read; `start..end` is the unread data.
#[derive(Default)]
pub(crate) struct FrameBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl FrameBuffer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Space to read into: at least `min` bytes (at most [`READ_CHUNK`] are asked for by the
    /// readers); report what was written with [`filled`](Self::filled).
    pub(crate) fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < min {
            // Move the partial frame to the front before growing.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() - self.end < min {
                let want = self.end + min.max(self.end);
                self.buf.resize(want, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// The bytes the buffer holds, used or not (tests of its growth).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Marks `n` bytes of the space from [`spare`](Self::spare) as data.
    pub(crate) fn filled(&mut self, n: usize) {
        self.end += n;
        debug_assert!(self.end <= self.buf.len());
    }

    /// Appends bytes (tests and fuzzing).
    #[cfg(test)]
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.spare(bytes.len())[..bytes.len()].copy_from_slice(bytes);
        self.filled(bytes.len());
    }

    /// Where the next complete frame body lies in [`body`](Self::body), if one is buffered.
    /// (A range rather than a slice, so the caller can keep using the buffer's owner.)
    pub(crate) fn next_frame(&mut self) -> Result<Option<Range<usize>>, FrameError> {
        let avail = &self.buf[self.start..self.end];
        if avail.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_le_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        if avail.len() < 4 + len {
            return Ok(None);
        }
        let body = self.start + 4;
        self.start = body + len;
        Ok(Some(body..body + len))
    }

    /// The bodies of the complete frames buffered after the next one to be taken, without
    /// taking them (a reader looking ahead for a control frame). Stops at a length over the
    /// limit, which [`next_frame`](Self::next_frame) reports when it gets there.
    pub(crate) fn frames_ahead(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = &self.buf[self.start..self.end];
        std::iter::from_fn(move || {
            let header: [u8; 4] = rest.get(..4)?.try_into().ok()?;
            let len = u32::from_le_bytes(header) as usize;
            if len > MAX_FRAME || rest.len() < 4 + len {
                return None;
            }
            let (body, tail) = rest[4..].split_at(len);
            rest = tail;
            Some(body)
        })
    }

    /// A frame body returned by [`next_frame`](Self::next_frame); valid until the next
    /// [`spare`](Self::spare).
    pub(crate) fn body(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// How many bytes of an incomplete frame are buffered (an end of stream with some is a
    /// truncation).
    pub(crate) fn pending(&self) -> usize {
        self.end - self.start
    }
}

/// The frame bodies of a message that holds whole frames back to back (the MPI transport
/// sends each batch of frames as one message). A length over [`MAX_FRAME`] or a frame cut
/// short is an error.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) fn split_frames(mut message: &[u8]) -> impl Iterator<Item = Result<&[u8], FrameError>> {
    std::iter::from_fn(move || {
        if message.is_empty() {
            return None;
        }
        if message.len() < 4 {
            message = &[];
            return Some(Err(FrameError::Truncated("length")));
        }
        let len = u32::from_le_bytes([message[0], message[1], message[2], message[3]]) as usize;
        if len > MAX_FRAME {
            message = &[];
            return Some(Err(FrameError::TooLarge(len)));
        }
        if message.len() < 4 + len {
            message = &[];
            return Some(Err(FrameError::Truncated("frame body")));
        }
        let (body, rest) = message[4..].split_at(len);
        message = rest;
        Some(Ok(body))
    })
}

impl fmt::Debug for FrameBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameBuffer")
            .field("buffered", &self.pending())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_to_worker() -> Vec<Vec<u8>> {
        let input = [7u8, 8, 9];
        let call = Call {
            trampoline: -42,
            function: 1 << 40,
            input: &input,
        };
        let mut all = Vec::new();
        for frame in [
            ToWorker::Hello {
                protocol: PROTOCOL,
                image: b"image-id",
                max_tasks: 3,
                initializer: Some(call.clone()),
            },
            ToWorker::Hello {
                protocol: PROTOCOL,
                image: b"",
                max_tasks: 0,
                initializer: None,
            },
            ToWorker::Task {
                id: 99,
                call: call.clone(),
                under_token: false,
            },
            ToWorker::Task {
                id: 100,
                call,
                under_token: true,
            },
            ToWorker::Cancel { id: 100 },
            ToWorker::Exit,
        ] {
            let mut out = Vec::new();
            frame.encode(&mut out);
            let body = &out[4..];
            assert_eq!(ToWorker::decode(body).unwrap(), frame);
            all.push(out);
        }
        all
    }

    fn frames_from_worker() -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        for frame in [
            FromWorker::Ready { pid: 1234 },
            FromWorker::Refused("image differs"),
            FromWorker::InitFailed("boom"),
            FromWorker::Started { id: 4 },
            FromWorker::Done {
                id: 5,
                output: &[1, 2, 3],
            },
            FromWorker::Failed {
                id: 6,
                failure: Failure::Panicked {
                    message: "division by zero".into(),
                    location: Some(("src/main.rs".into(), 3, 9)),
                },
            },
            FromWorker::Failed {
                id: 7,
                failure: Failure::Panicked {
                    message: String::new(),
                    location: None,
                },
            },
            FromWorker::Failed {
                id: 8,
                failure: Failure::EncodeResult("nope".into()),
            },
            FromWorker::Failed {
                id: 9,
                failure: Failure::DecodeArgument("eh".into()),
            },
        ] {
            let mut out = Vec::new();
            frame.encode(&mut out);
            assert_eq!(FromWorker::decode(&out[4..]).unwrap(), frame);
            all.push(out);
        }
        all
    }

    #[test]
    fn every_frame_round_trips() {
        frames_to_worker();
        frames_from_worker();
        let mut task = task_frame(1, 2, b"arg").unwrap();
        set_task_id(&mut task, 77);
        let call = Call {
            trampoline: 1,
            function: 2,
            input: b"arg",
        };
        assert_eq!(
            ToWorker::decode(&task[4..]).unwrap(),
            ToWorker::Task {
                id: 77,
                call: call.clone(),
                under_token: false,
            }
        );
        set_under_token(&mut task);
        assert_eq!(
            ToWorker::decode(&task[4..]).unwrap(),
            ToWorker::Task {
                id: 77,
                call,
                under_token: true,
            }
        );
    }

    #[test]
    fn frame_buffer_reassembles_frames_split_anywhere() {
        let stream: Vec<u8> = frames_from_worker().concat();
        for step in [1, 2, 3, 7, 64] {
            let mut fb = FrameBuffer::new();
            let mut seen = 0;
            for chunk in stream.chunks(step) {
                fb.extend(chunk);
                while let Some(r) = fb.next_frame().unwrap() {
                    FromWorker::decode(fb.body(r)).unwrap();
                    seen += 1;
                }
            }
            assert_eq!(seen, 9);
            assert_eq!(fb.pending(), 0);
        }
    }

    #[test]
    fn frames_ahead_shows_buffered_frames_without_taking_them() {
        let all = frames_to_worker();
        let mut fb = FrameBuffer::new();
        for frame in &all {
            fb.extend(frame);
        }
        fb.extend(&all[0][..3]); // a partial frame at the end is not shown
        let ahead: Vec<&[u8]> = fb.frames_ahead().collect();
        assert_eq!(ahead.len(), all.len());
        for (body, frame) in ahead.iter().zip(&all) {
            assert_eq!(*body, &frame[4..]);
        }
        let first = fb.next_frame().unwrap().unwrap();
        assert_eq!(fb.body(first), &all[0][4..]);
        assert_eq!(fb.frames_ahead().count(), all.len() - 1);
    }

    #[test]
    fn split_frames_walks_a_message_of_frames() {
        let all = frames_from_worker();
        let message = all.concat();
        let bodies: Vec<&[u8]> = split_frames(&message).map(Result::unwrap).collect();
        assert_eq!(bodies.len(), all.len());
        for (body, frame) in bodies.iter().zip(&all) {
            assert_eq!(*body, &frame[4..]);
        }
        let cut = &message[..message.len() - 1];
        assert!(split_frames(cut).any(|r| r.is_err()));
        assert_eq!(split_frames(&[]).count(), 0);
    }

    #[test]
    fn oversized_length_is_rejected_before_allocating() {
        let mut fb = FrameBuffer::new();
        fb.extend(&u32::MAX.to_le_bytes());
        assert_eq!(
            fb.next_frame(),
            Err(FrameError::TooLarge(u32::MAX as usize))
        );
    }

    #[test]
    fn a_length_prefix_alone_allocates_at_most_a_chunk() {
        // A peer announces the largest frame and sends nothing more (or trickles it).
        let mut fb = FrameBuffer::new();
        fb.extend(&(MAX_FRAME as u32).to_le_bytes());
        assert_eq!(fb.next_frame(), Ok(None));
        let spare = fb.spare(READ_CHUNK).len();
        assert!(spare >= READ_CHUNK);
        assert!(fb.capacity() <= 4 + READ_CHUNK, "{} bytes", fb.capacity());
        // As bytes come, the buffer grows with them: never more than twice what arrived plus
        // a chunk.
        let mut arrived = 4;
        for _ in 0..200 {
            let n = fb.spare(READ_CHUNK).len().min(READ_CHUNK);
            fb.filled(n);
            arrived += n;
            assert!(
                fb.capacity() <= 2 * arrived + READ_CHUNK,
                "{} bytes held for {arrived} arrived",
                fb.capacity()
            );
        }
        assert_eq!(fb.pending(), arrived);
    }

    #[test]
    fn malformed_bodies_are_typed_errors() {
        assert_eq!(FromWorker::decode(&[]), Err(FrameError::Empty));
        assert_eq!(FromWorker::decode(&[200]), Err(FrameError::UnknownTag(200)));
        assert_eq!(
            FromWorker::decode(&[READY, 1]),
            Err(FrameError::Truncated("pid"))
        );
        assert_eq!(
            FromWorker::decode(&[READY, 1, 0, 0, 0, 9]),
            Err(FrameError::Trailing(1))
        );
        assert_eq!(
            FromWorker::decode(&[REFUSED, 0xff]),
            Err(FrameError::Utf8("refusal"))
        );
        let mut bad_flag = vec![PANICKED];
        bad_flag.extend_from_slice(&1u64.to_le_bytes());
        bad_flag.push(2);
        assert_eq!(
            FromWorker::decode(&bad_flag),
            Err(FrameError::Flag("location"))
        );
        assert_eq!(
            ToWorker::decode(&[TASK, 1, 2]),
            Err(FrameError::Truncated("id"))
        );
    }

    /// Deterministic xorshift, so a failing case can be replayed from its seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Truncations, bit flips, random bytes and spliced frames: the decoders and the frame
    /// buffer return frames or errors, never panic, never read past the input.
    #[test]
    fn decoders_survive_fuzzed_input() {
        let mut corpus = frames_to_worker();
        corpus.extend(frames_from_worker());
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..crate::test_support::stress_iterations(20_000) {
            let mut bytes = corpus[rng.below(corpus.len())].clone();
            match rng.below(5) {
                0 => bytes.truncate(rng.below(bytes.len() + 1)),
                1 => {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(8);
                }
                2 => {
                    let n = rng.below(64);
                    bytes = (0..n).map(|_| rng.next() as u8).collect();
                }
                3 => {
                    let other = &corpus[rng.below(corpus.len())];
                    let cut = rng.below(other.len());
                    bytes.extend_from_slice(&other[cut..]);
                }
                _ => {
                    let i = rng.below(bytes.len());
                    bytes[i] = rng.next() as u8;
                }
            }
            let _ = ToWorker::decode(bytes.get(4..).unwrap_or(&[]));
            let _ = FromWorker::decode(bytes.get(4..).unwrap_or(&[]));
            let mut fb = FrameBuffer::new();
            fb.extend(&bytes);
            while let Ok(Some(r)) = fb.next_frame() {
                let _ = FromWorker::decode(fb.body(r.clone()));
                let _ = ToWorker::decode(fb.body(r));
            }
        }
    }
}
