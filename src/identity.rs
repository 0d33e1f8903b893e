//! De-duplicating futures by identity, for `wait` and `as_completed`.
//!
//! The usual way is a set of addresses, but a hash insert lands at a random address: once the set
//! outgrows the cache (about 150k futures on a 2 MiB L2), every insert is a cache miss, and twice
//! the futures cost about three times the time. So a pass instead stamps each future with its
//! own pass number: a future already holding that number is a duplicate. The stamp sits in the
//! future's own allocation, which the pass touches anyway (to clone the handle and read its
//! state), so it costs no extra memory traffic.
//!
//! Two passes at once must not overwrite each other's stamps, so a pass stamps only while it holds
//! one global lock. A pass that finds the lock taken (another thread is de-duplicating right now)
//! falls back to the address set, which needs no shared state. Pass numbers are a 64-bit counter
//! that never wraps, so a stale stamp from an earlier pass never matches.

use crate::future::Future;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};

/// The last pass number handed out; held for the whole of a stamping pass.
static PASS: Mutex<u64> = Mutex::new(0);

/// One de-duplication pass. Callers check each future once, in the same loop that reads its
/// state, so that each future's memory is touched while it is in cache.
enum Unique {
    /// Stamping with this pass number, holding the pass lock until the pass is dropped.
    Stamp {
        _lock: MutexGuard<'static, u64>,
        pass: u64,
    },
    /// Another pass holds the lock: an address set.
    Set(AddrSet),
}

impl Unique {
    /// A pass over about `capacity` futures. Never blocks: it only tries the pass lock, so a
    /// pass cannot deadlock against another, whatever the caller holds.
    fn new(capacity: usize) -> Self {
        // A poisoned lock cannot happen (nothing in a pass panics) but would only mean the set.
        match PASS.try_lock() {
            Ok(mut last) => {
                *last += 1;
                let pass = *last;
                Unique::Stamp { _lock: last, pass }
            }
            Err(_) => Unique::Set(addr_set(capacity)),
        }
    }

    /// Whether this is the first time this pass sees `future`.
    fn first<T>(&mut self, future: &Future<T>) -> bool {
        match self {
            Unique::Stamp { pass, .. } => future.core().first_seen_by(*pass),
            Unique::Set(seen) => seen.insert(future.addr()),
        }
    }
}

/// The distinct futures of a call's input, in input order, taken in one pass: each handle is
/// made, checked for a duplicate and its state read while its memory is in cache. A second pass
/// over every future would find it out of cache again: about a third of the time of
/// `as_completed` and `wait` over finished futures, growing faster than their number.
pub(crate) struct Distinct<T> {
    pub(crate) futures: Vec<Future<T>>,
    /// Positions in `futures` of those not finished when seen, ascending. A finished future stays
    /// finished, so the others need no second look.
    pub(crate) unsettled: Vec<usize>,
    /// Whether a future finished when seen had failed (only if asked for: it reads the outcome).
    pub(crate) failed: bool,
}

impl<T> Distinct<T> {
    pub(crate) fn collect<I>(input: I, note_failures: bool) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Future<T>>,
    {
        let input = input.into_iter();
        let mut unique = Unique::new(input.size_hint().0);
        let mut distinct = Distinct {
            futures: Vec::with_capacity(input.size_hint().0),
            unsettled: Vec::new(),
            failed: false,
        };
        for future in input {
            let future = future.into();
            if !unique.first(&future) {
                continue;
            }
            if !future.core().is_collected() {
                distinct.unsettled.push(distinct.futures.len());
            } else if note_failures && !distinct.failed {
                distinct.failed = future.core().failed();
            }
            distinct.futures.push(future);
        }
        distinct
    }
}

#[derive(Default)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, addr: usize) {
        // Fibonacci hashing; the low bits of an address are alignment zeros, the product's high
        // bits are well mixed, and hashbrown uses the top 7 bits as tags.
        self.0 = (addr as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A set of future addresses (SipHash's DoS resistance buys nothing for unique pointers).
pub(crate) type AddrSet = HashSet<usize, BuildHasherDefault<AddrHasher>>;

pub(crate) fn addr_set(capacity: usize) -> AddrSet {
    AddrSet::with_capacity_and_hasher(capacity, Default::default())
}

#[cfg(all(test, not(concurrent_futures_loom)))]
mod tests {
    use super::*;

    // One test, not two: a pass running in a parallel test would hold the lock.
    #[test]
    fn a_pass_sees_each_future_once_and_one_that_finds_the_lock_taken_uses_an_address_set() {
        let (a, b): (Future<u8>, Future<u8>) = (Future::new(), Future::new());
        // Earlier passes' stamps do not count as seen.
        for _ in 0..2 {
            let mut pass = Unique::new(2);
            assert!(pass.first(&a) && pass.first(&b));
            assert!(!pass.first(&a.clone()) && !pass.first(&b));
        }
        let mut stamping = Unique::new(1);
        assert!(matches!(stamping, Unique::Stamp { .. }));
        let mut other = Unique::new(1);
        assert!(matches!(other, Unique::Set(_)));
        // Interleaved on the same future, each pass still sees it first exactly once.
        assert!(stamping.first(&a) && other.first(&a));
        assert!(!stamping.first(&a) && !other.first(&a));
    }
}
