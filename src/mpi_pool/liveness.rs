//! Liveness: how rank 0 tells a lost rank (a vanished host, a frozen process) from a busy one,
//! and the host names that every rank-naming error carries.
//!
//! MPI reports neither: a host that vanishes without a reset leaves its TCP connections silent,
//! and a rank 0 waiting for that host's results waits forever. So the ranks talk on a second
//! tag, [`CONTROL_TAG`]: each worker rank announces its host name once, right after
//! `MPI_Init`, and answers every `Ping` with a `Pong` from its communication thread, which
//! never runs a task, so a task of any length leaves the rank answering. Rank 0 keeps a
//! [`RankPulse`] per rank: any message from a rank (a result, a pong) proves it alive; a rank
//! silent for a quarter of the liveness timeout is pinged, again every quarter; a rank silent
//! for the whole timeout and unanswered for three quarters of it is lost.

use crate::error::InvalidArgument;
use std::time::{Duration, Instant};

/// The MPI tag of the liveness messages ([`LivenessMessage`]); the task frames use `super::TAG`.
pub(crate) const CONTROL_TAG: mpi::Tag = 0x4347;

/// How long rank 0 hears nothing from a rank before it declares the rank lost, unless the
/// builder or [`LIVENESS_ENV`] says otherwise.
pub(crate) const DEFAULT_LIVENESS_TIMEOUT: Duration = Duration::from_secs(10);

/// The shortest liveness timeout accepted: rank 0 pings every quarter of it, and a rank must
/// answer within the rest even on a loaded machine.
pub(crate) const MIN_LIVENESS_TIMEOUT: Duration = Duration::from_millis(100);

/// The longest liveness timeout: longer ones count as this (a year), which keeps every
/// deadline computed from it representable.
pub(crate) const MAX_LIVENESS_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// The environment variable that sets the liveness timeout in seconds (`5`, `2.5`) for
/// executors whose builder does not, and for rank 0's runtime between executors.
pub(crate) const LIVENESS_ENV: &str = "CONCURRENT_FUTURES_MPI_LIVENESS_TIMEOUT";

/// The error text of a bad [`LIVENESS_ENV`].
const BAD_ENV: &str = "CONCURRENT_FUTURES_MPI_LIVENESS_TIMEOUT must be a number of seconds, \
                       at least 0.1";

/// A liveness message: rank 0 sends `Ping`; a worker rank sends `Host` once after `MPI_Init`,
/// `Pong` for every `Ping`, and `Bye` as it leaves for `MPI_Finalize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LivenessMessage<'a> {
    Ping,
    Pong,
    Host(&'a str),
    Bye,
}

impl<'a> LivenessMessage<'a> {
    pub(crate) fn encode(self) -> Vec<u8> {
        match self {
            LivenessMessage::Ping => vec![0],
            LivenessMessage::Pong => vec![1],
            LivenessMessage::Host(name) => {
                let mut bytes = Vec::with_capacity(1 + name.len());
                bytes.push(2);
                bytes.extend_from_slice(name.as_bytes());
                bytes
            }
            LivenessMessage::Bye => vec![3],
        }
    }

    pub(crate) fn decode(bytes: &'a [u8]) -> Result<Self, String> {
        match bytes {
            [0] => Ok(LivenessMessage::Ping),
            [1] => Ok(LivenessMessage::Pong),
            [2, name @ ..] => std::str::from_utf8(name)
                .map(LivenessMessage::Host)
                .map_err(|_| "a host name that is not UTF-8".to_string()),
            [3] => Ok(LivenessMessage::Bye),
            _ => Err(format!(
                "an unknown liveness message of {} bytes",
                bytes.len()
            )),
        }
    }
}

/// The liveness timeout the environment sets, if it sets one.
pub(crate) fn timeout_from_env() -> Result<Option<Duration>, InvalidArgument> {
    std::env::var_os(LIVENESS_ENV)
        .map(|value| parse_seconds(&value))
        .transpose()
}

/// A [`LIVENESS_ENV`] value: seconds, at least [`MIN_LIVENESS_TIMEOUT`].
fn parse_seconds(value: &std::ffi::OsStr) -> Result<Duration, InvalidArgument> {
    value
        .to_str()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .filter(|d| *d >= MIN_LIVENESS_TIMEOUT)
        .map(|d| d.min(MAX_LIVENESS_TIMEOUT))
        .ok_or(InvalidArgument(BAD_ENV))
}

/// The liveness timeout between executors: the environment's if it is valid, else the default
/// (a bad value is reported by the `build` that reads it).
pub(crate) fn runtime_timeout() -> Duration {
    timeout_from_env()
        .ok()
        .flatten()
        .unwrap_or(DEFAULT_LIVENESS_TIMEOUT)
}

/// This machine's host name (`gethostname`, which is also what Open MPI's
/// `MPI_Get_processor_name` returns); callable from any thread, MPI or not.
pub(crate) fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which outlives the call; gethostname
    // writes at most `len` bytes into it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "an unknown host".into();
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// What rank 0 should do about one rank now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LivenessVerdict {
    /// Nothing to do before `next`.
    Alive { next: Instant },
    /// Send it a `Ping` now; look again at `next`.
    Ping { next: Instant },
    /// Lost: nothing heard from it for `silent`.
    Lost { silent: Duration },
}

/// Rank 0's record of one rank's signs of life.
#[derive(Debug, Clone)]
pub(crate) struct RankPulse {
    last_heard: Instant,
    /// When the first ping since `last_heard` went out.
    pinged_since: Option<Instant>,
    last_ping: Option<Instant>,
}

impl RankPulse {
    pub(crate) fn new(now: Instant) -> Self {
        RankPulse {
            last_heard: now,
            pinged_since: None,
            last_ping: None,
        }
    }

    /// A message came from the rank.
    pub(crate) fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.pinged_since = None;
        self.last_ping = None;
    }

    /// The verdict at `now` for a liveness timeout of `timeout`.
    ///
    /// A rank is lost only if it was silent for the whole timeout *and* left pings unanswered
    /// for three quarters of it: when rank 0 itself did not look for a while (a long
    /// done-callback runs on its communication thread), the rank's silence is not its fault,
    /// so it first gets pinged and that much time to answer.
    pub(crate) fn check(&mut self, now: Instant, timeout: Duration) -> LivenessVerdict {
        let quarter = timeout / 4;
        let silent = now.saturating_duration_since(self.last_heard);
        if silent < quarter {
            return LivenessVerdict::Alive {
                next: self.last_heard + quarter,
            };
        }
        let since = *self.pinged_since.get_or_insert(now);
        let answer_by = since + (timeout - quarter);
        if silent >= timeout && now >= answer_by {
            return LivenessVerdict::Lost { silent };
        }
        let deadline = answer_by.max(self.last_heard + timeout);
        match self.last_ping {
            Some(ping) if now < ping + quarter => LivenessVerdict::Alive {
                next: (ping + quarter).min(deadline),
            },
            _ => {
                self.last_ping = Some(now);
                LivenessVerdict::Ping {
                    next: (now + quarter).min(deadline),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(8);

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn control_messages_round_trip_and_garbage_is_an_error() {
        for c in [
            LivenessMessage::Ping,
            LivenessMessage::Pong,
            LivenessMessage::Bye,
            LivenessMessage::Host("h3"),
            LivenessMessage::Host(""),
        ] {
            assert_eq!(LivenessMessage::decode(&c.encode()), Ok(c));
        }
        assert!(LivenessMessage::decode(&[]).is_err());
        assert!(LivenessMessage::decode(&[9]).is_err());
        assert!(LivenessMessage::decode(&[0, 0]).is_err());
        assert!(LivenessMessage::decode(&[2, 0xff]).is_err());
    }

    #[test]
    fn a_silent_rank_is_pinged_every_quarter_and_lost_at_the_timeout() {
        let t0 = Instant::now();
        let mut p = RankPulse::new(t0);
        assert_eq!(
            p.check(t0 + secs(1.0), T),
            LivenessVerdict::Alive {
                next: t0 + secs(2.0)
            }
        );
        assert_eq!(
            p.check(t0 + secs(2.0), T),
            LivenessVerdict::Ping {
                next: t0 + secs(4.0)
            }
        );
        assert_eq!(
            p.check(t0 + secs(3.0), T),
            LivenessVerdict::Alive {
                next: t0 + secs(4.0)
            }
        );
        assert_eq!(
            p.check(t0 + secs(4.0), T),
            LivenessVerdict::Ping {
                next: t0 + secs(6.0)
            }
        );
        assert_eq!(
            p.check(t0 + secs(6.0), T),
            LivenessVerdict::Ping {
                next: t0 + secs(8.0)
            }
        );
        assert_eq!(
            p.check(t0 + secs(7.9), T),
            LivenessVerdict::Alive {
                next: t0 + secs(8.0)
            }
        );
        assert_eq!(
            p.check(t0 + secs(8.0), T),
            LivenessVerdict::Lost { silent: secs(8.0) }
        );
    }

    #[test]
    fn an_answer_resets_the_clock() {
        let t0 = Instant::now();
        let mut p = RankPulse::new(t0);
        let mut heard = t0;
        for _ in 0..20 {
            // Pinged a quarter after its last message, the rank answers half a second later.
            let ping = heard + secs(2.0);
            assert_eq!(
                p.check(ping - secs(0.1), T),
                LivenessVerdict::Alive { next: ping }
            );
            assert!(matches!(p.check(ping, T), LivenessVerdict::Ping { .. }));
            heard = ping + secs(0.5);
            p.heard(heard);
        }
        assert_eq!(heard, t0 + secs(50.0));
        assert_eq!(
            p.check(heard + secs(1.0), T),
            LivenessVerdict::Alive {
                next: heard + secs(2.0)
            }
        );
    }

    #[test]
    fn rank_zero_looking_late_gives_the_rank_time_to_answer() {
        let t0 = Instant::now();
        let mut p = RankPulse::new(t0);
        // Rank 0 was busy for 20 s: the rank was never asked, so it is not lost yet.
        let back = t0 + secs(20.0);
        assert_eq!(
            p.check(back, T),
            LivenessVerdict::Ping {
                next: back + secs(2.0)
            }
        );
        assert!(matches!(
            p.check(back + secs(5.9), T),
            LivenessVerdict::Alive { .. } | LivenessVerdict::Ping { .. }
        ));
        assert_eq!(
            p.check(back + secs(6.0), T),
            LivenessVerdict::Lost { silent: secs(26.0) }
        );
        // Had it answered, it would have been fine.
        let mut q = RankPulse::new(t0);
        assert!(matches!(q.check(back, T), LivenessVerdict::Ping { .. }));
        q.heard(back + secs(0.001));
        assert!(matches!(
            q.check(back + secs(6.0), T),
            LivenessVerdict::Ping { .. }
        ));
    }

    #[test]
    fn the_environment_gives_seconds_and_bad_values_are_errors() {
        use std::ffi::OsStr;
        assert_eq!(parse_seconds(OsStr::new(" 2.5 ")), Ok(secs(2.5)));
        assert_eq!(parse_seconds(OsStr::new("10")), Ok(secs(10.0)));
        assert_eq!(parse_seconds(OsStr::new("0.1")), Ok(MIN_LIVENESS_TIMEOUT));
        assert_eq!(parse_seconds(OsStr::new("1e12")), Ok(MAX_LIVENESS_TIMEOUT));
        for bad in ["", "abc", "0.05", "-1", "inf", "NaN", "1e300"] {
            assert_eq!(
                parse_seconds(OsStr::new(bad)),
                Err(InvalidArgument(BAD_ENV)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_host_name_is_this_machines() {
        let name = host_name();
        assert!(!name.is_empty() && !name.contains('\0'), "{name:?}");
    }
}
