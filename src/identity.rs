//! De-duplicating futures by identity: a set of addresses with a multiply-shift hash, since the
//! keys are already unique pointers and SipHash's DoS resistance buys nothing here.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

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

/// A set of future addresses.
pub(crate) type AddrSet = HashSet<usize, BuildHasherDefault<AddrHasher>>;

pub(crate) fn addr_set(capacity: usize) -> AddrSet {
    AddrSet::with_capacity_and_hasher(capacity, Default::default())
}
