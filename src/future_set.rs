//! `FutureSet`: the distinct futures [`wait`](crate::wait) returns, in input order.
//!
//! Python's `wait` returns two hash sets. Building one costs a hash insert per future at a
//! random address, and past about 150k futures that is a cache miss each: twice the futures
//! cost the two sets three times the time, more than the rest of `wait` together. `wait` already
//! knows its futures are distinct, so a set here is a vector of them, and membership uses an
//! index built on the first [`contains`](FutureSet::contains) that needs one.

use crate::future::Future;
use crate::identity::AddrSet;
use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

/// Up to this many futures, `contains` compares addresses one by one rather than build an index.
const SCAN_LEN: usize = 16;

/// A set of distinct futures, in the order they were given to [`wait`](crate::wait).
///
/// It has what Python code does with `wait`'s sets: [`len`](Self::len), iteration (by
/// reference or by value), and [`contains`](Self::contains) (amortized O(1): the first call on
/// a large set builds an index). Equality is set equality, order aside. Convert it with
/// `HashSet::from` when you need the std type.
///
/// ```
/// use concurrent_futures::{wait, Future, FutureSet, ReturnWhen};
/// use std::collections::HashSet;
/// let a: Future<u8> = Future::new();
/// let b: Future<u8> = Future::new();
/// a.set_result(1).unwrap();
/// b.set_result(2).unwrap();
/// let done: FutureSet<u8> = wait([&b, &a, &b], None, ReturnWhen::AllCompleted).done;
/// assert_eq!(done.len(), 2); // duplicates once
/// assert!(done.contains(&a));
/// let values: Vec<u8> = done.iter().map(|f| *f.result(None).unwrap()).collect();
/// assert_eq!(values, [2, 1]); // input order
/// let std_set: HashSet<Future<u8>> = done.into();
/// assert_eq!(std_set.len(), 2);
/// ```
pub struct FutureSet<T> {
    /// Distinct by construction.
    futures: Vec<Future<T>>,
    /// Addresses of `futures`, built by the first `contains` past `SCAN_LEN`.
    index: OnceLock<AddrSet>,
}

impl<T> FutureSet<T> {
    /// Futures the caller guarantees are distinct.
    pub(crate) fn from_distinct(futures: Vec<Future<T>>) -> Self {
        Self {
            futures,
            index: OnceLock::new(),
        }
    }

    /// The number of futures.
    ///
    /// ```
    /// use concurrent_futures::FutureSet;
    /// assert_eq!(FutureSet::<u8>::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.futures.len()
    }

    /// Whether the set is empty.
    ///
    /// ```
    /// use concurrent_futures::FutureSet;
    /// assert!(FutureSet::<u8>::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.futures.is_empty()
    }

    /// Whether `future` (any handle to it) is in the set.
    ///
    /// ```
    /// use concurrent_futures::{wait, Future, ReturnWhen};
    /// let f: Future<u8> = Future::new();
    /// let sets = wait([&f], Some(std::time::Duration::ZERO), ReturnWhen::AllCompleted);
    /// assert!(sets.not_done.contains(&f.clone()));
    /// assert!(!sets.done.contains(&f));
    /// ```
    pub fn contains(&self, future: &Future<T>) -> bool {
        let addr = future.addr();
        if self.futures.len() <= SCAN_LEN {
            return self.futures.iter().any(|f| f.addr() == addr);
        }
        self.index
            .get_or_init(|| {
                let mut index = crate::identity::addr_set(self.futures.len());
                index.extend(self.futures.iter().map(Future::addr));
                index
            })
            .contains(&addr)
    }

    /// The futures by reference, in input order.
    ///
    /// ```
    /// use concurrent_futures::{wait, Future, ReturnWhen};
    /// let f: Future<u8> = Future::new();
    /// f.set_result(7).unwrap();
    /// let done = wait([&f], None, ReturnWhen::AllCompleted).done;
    /// assert_eq!(done.iter().map(|f| *f.result(None).unwrap()).sum::<u8>(), 7);
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, Future<T>> {
        self.futures.iter()
    }

    /// The futures as a slice, in input order.
    ///
    /// ```
    /// use concurrent_futures::{wait, Future, ReturnWhen};
    /// let f: Future<u8> = Future::new();
    /// f.set_result(7).unwrap();
    /// let done = wait([&f], None, ReturnWhen::AllCompleted).done;
    /// assert_eq!(done.as_slice(), [f]);
    /// ```
    pub fn as_slice(&self) -> &[Future<T>] {
        &self.futures
    }

    /// The futures as a vector, in input order.
    ///
    /// ```
    /// use concurrent_futures::{wait, Future, ReturnWhen};
    /// let f: Future<u8> = Future::new();
    /// let pending = wait([&f], Some(std::time::Duration::ZERO), ReturnWhen::AllCompleted).not_done;
    /// let again: Vec<Future<u8>> = pending.into_vec(); // e.g. to wait on them again
    /// assert_eq!(again, [f]);
    /// ```
    pub fn into_vec(self) -> Vec<Future<T>> {
        self.futures
    }
}

impl<T> Default for FutureSet<T> {
    fn default() -> Self {
        Self::from_distinct(Vec::new())
    }
}

impl<T> Clone for FutureSet<T> {
    fn clone(&self) -> Self {
        Self::from_distinct(self.futures.clone())
    }
}

/// Set equality: the same futures, in any order.
impl<T> PartialEq for FutureSet<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|f| other.contains(f))
    }
}

impl<T> Eq for FutureSet<T> {}

/// Set equality with a std set of the same futures.
impl<T> PartialEq<HashSet<Future<T>>> for FutureSet<T> {
    fn eq(&self, other: &HashSet<Future<T>>) -> bool {
        self.len() == other.len() && self.iter().all(|f| other.contains(f))
    }
}

impl<T> From<FutureSet<T>> for HashSet<Future<T>> {
    fn from(set: FutureSet<T>) -> Self {
        set.futures.into_iter().collect()
    }
}

impl<T> IntoIterator for FutureSet<T> {
    type Item = Future<T>;
    type IntoIter = std::vec::IntoIter<Future<T>>;

    fn into_iter(self) -> Self::IntoIter {
        self.futures.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a FutureSet<T> {
    type Item = &'a Future<T>;
    type IntoIter = std::slice::Iter<'a, Future<T>>;

    fn into_iter(self) -> Self::IntoIter {
        self.futures.iter()
    }
}

impl<T> fmt::Debug for FutureSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(&self.futures).finish()
    }
}
