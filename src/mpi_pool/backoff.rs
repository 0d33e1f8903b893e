//! The idle back-off every MPI loop uses: Open MPI's blocking calls spin a core, so loops poll
//! and sleep between polls.

use std::time::Duration;

/// The wait between polls of an idle MPI loop: a short spin, then sleeps that double from 1 µs
/// up to `cap`, and up to [`LONG_CAP`] once nothing happened for [`PATIENCE`]; every wake-up
/// polls [`BURST`] times before sleeping again (Open MPI often needs more than one progress
/// call to surface a message that arrived during a sleep: with one poll per wake-up, a task
/// sent to a rank idle for a while took two or three sleeps to be seen). Open MPI's blocking
/// calls spin a core, so loops poll; this keeps a busy stream at µs latency and an idle rank
/// near zero CPU.
#[derive(Debug)]
pub(crate) struct Backoff {
    polls: u32,
    sleep: Duration,
    cap: Duration,
    idle_since: Option<std::time::Instant>,
}

/// How long a loop stays at its short cap before it sleeps [`LONG_CAP`] between polls.
pub(crate) const PATIENCE: Duration = Duration::from_millis(100);
/// The sleep between polls of a loop idle for longer than [`PATIENCE`] (mpi4py sleeps 1 ms
/// between polls, from the first one on).
pub(crate) const LONG_CAP: Duration = Duration::from_micros(500);
/// Polls after each sleep before the next sleep.
const BURST: u32 = 3;

/// Polls answered by a spin hint before the first sleep.
const SPIN_POLLS: u32 = 50;

impl Backoff {
    pub(crate) fn new(cap: Duration) -> Self {
        Backoff {
            polls: 0,
            sleep: Duration::ZERO,
            cap,
            idle_since: None,
        }
    }

    /// Something happened: the next waits start short again.
    pub(crate) fn reset(&mut self) {
        self.polls = 0;
        self.sleep = Duration::ZERO;
        self.idle_since = None;
    }

    /// How long to wait before the next poll (zero while spinning).
    pub(crate) fn next(&mut self) -> Duration {
        if self.polls < SPIN_POLLS {
            self.polls += 1;
            std::hint::spin_loop();
            return Duration::ZERO;
        }
        let since = *self.idle_since.get_or_insert_with(std::time::Instant::now);
        let cap = if since.elapsed() >= PATIENCE {
            LONG_CAP
        } else {
            self.cap
        };
        self.sleep = (self.sleep * 2).clamp(Duration::from_micros(1), cap);
        self.polls = SPIN_POLLS - BURST;
        self.sleep
    }
}

/// Asks Linux for µs-precise sleeps on this thread (the default 50 µs timer slack would make
/// the first back-off steps all 50 µs).
pub(crate) fn precise_sleeps() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain integer arguments; PR_SET_TIMERSLACK only changes this thread's slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_spins_then_doubles_up_to_its_cap() {
        let mut b = Backoff::new(Duration::from_micros(8));
        for _ in 0..SPIN_POLLS {
            assert_eq!(b.next(), Duration::ZERO);
        }
        let mut steps = Vec::new();
        for _ in 0..5 {
            steps.push(b.next().as_micros());
            // A burst of polls follows each sleep.
            for _ in 0..BURST {
                assert_eq!(b.next(), Duration::ZERO);
            }
        }
        assert_eq!(steps, [1, 2, 4, 8, 8]);
        b.reset();
        assert_eq!(b.next(), Duration::ZERO);
    }
}
