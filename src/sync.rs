//! The one door to synchronization primitives.
//!
//! Every lock, condition variable, atomic, cell, thread and queue the crate uses comes from here, so
//! that `RUSTFLAGS="--cfg concurrent_futures_loom"` swaps all of them for loom's model-checked versions at once. Under
//! loom the job queue becomes a mutex-protected `VecDeque` (loom cannot see inside
//! crossbeam) and timed waits become plain waits (loom has no clock); everything else is the same
//! code path. The cfg has the crate's own name, as crossbeam's `crossbeam_loom` does, because a
//! plain `--cfg loom` also switches tokio (a dev-dependency) into its own loom mode.
//!
//! `Arc` is deliberately std's everywhere: futures and jobs are `Arc<dyn Trait>` views of one
//! allocation, an unsizing loom's `Arc` cannot do on stable, and reference counting is not what
//! the models check.

#[cfg(not(concurrent_futures_loom))]
mod imp {
    pub(crate) use std::sync::atomic;
    pub(crate) use std::thread;

    /// A mutex without poisoning: a panic while it is held is a crate bug, and the worker-side
    /// code that holds it never runs user code.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(parking_lot::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }

    #[derive(Debug, Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(parking_lot::Condvar::new())
        }
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            self.0.wait(guard);
        }
        /// Waits until notified or until `deadline`; returns true if the deadline passed.
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            deadline: std::time::Instant,
        ) -> bool {
            self.0.wait_until(guard, deadline).timed_out()
        }
        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// A cell whose accesses are argued safe by the state machine around it; under loom every
    /// access is tracked so an unsynchronized one fails the model.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// Slots in the job queue's ring: a backlog up to this size never allocates.
    const RING_SLOTS: usize = 1024;

    /// The multi-producer multi-consumer job queue, FIFO and unbounded: a fixed ring, then an
    /// overflow list once the ring is full.
    ///
    /// An unbounded list alone (crossbeam's list channel) allocates a block per 31 jobs on the
    /// submitting thread and frees it on the worker that empties it. With glibc's allocator,
    /// that free takes the submitter's arena lock while the submitter holds it for its next
    /// task's `malloc`: 1.35M futex calls in one `submit_result` bench run at 1M tasks, against
    /// 0.1M with the ring (352-425 vs 418-454 ns per task over four alternating runs).
    ///
    /// Order: a job goes to the ring only while the overflow is empty, and workers take from
    /// the ring first. So every job in the ring was queued before (or concurrently with) every
    /// job in the overflow, and a run of `submit`s from one thread starts in its order.
    #[derive(Debug)]
    pub(crate) struct Queue<T> {
        ring_tx: crossbeam_channel::Sender<T>,
        ring_rx: crossbeam_channel::Receiver<T>,
        overflow_tx: crossbeam_channel::Sender<T>,
        overflow_rx: crossbeam_channel::Receiver<T>,
    }

    impl<T> Queue<T> {
        pub(crate) fn new() -> Self {
            let (ring_tx, ring_rx) = crossbeam_channel::bounded(RING_SLOTS);
            let (overflow_tx, overflow_rx) = crossbeam_channel::unbounded();
            Self {
                ring_tx,
                ring_rx,
                overflow_tx,
                overflow_rx,
            }
        }
        pub(crate) fn push(&self, value: T) {
            // The queue owns both ends of each channel, so neither can be disconnected.
            let value = if self.overflow_rx.is_empty() {
                match self.ring_tx.try_send(value) {
                    Ok(()) => return,
                    Err(crossbeam_channel::TrySendError::Full(value)) => value,
                    Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                        unreachable!("job ring disconnected while owned")
                    }
                }
            } else {
                value
            };
            if self.overflow_tx.send(value).is_err() {
                unreachable!("job queue disconnected while owned");
            }
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.ring_rx
                .try_recv()
                .or_else(|_| self.overflow_rx.try_recv())
                .ok()
        }
        pub(crate) fn len(&self) -> usize {
            self.ring_rx.len() + self.overflow_rx.len()
        }
    }
}

#[cfg(concurrent_futures_loom)]
mod imp {
    pub(crate) use loom::sync::atomic;
    pub(crate) use loom::thread;

    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> std::ops::Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard present")
        }
    }
    impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard present")
        }
    }

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(|e| e.into_inner())))
        }
    }

    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(loom::sync::Condvar::new())
        }
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("guard present");
            guard.0 = Some(self.0.wait(inner).unwrap_or_else(|e| e.into_inner()));
        }
        /// loom has no clock: a timed wait is an untimed one, so a model that relies on a
        /// timeout to make progress deadlocks and fails, which is what we want to know.
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _deadline: std::time::Instant,
        ) -> bool {
            self.wait(guard);
            false
        }
        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(loom::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::cell::UnsafeCell::new(value))
        }
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            self.0.with(f)
        }
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            self.0.with_mut(f)
        }
    }

    #[derive(Debug)]
    pub(crate) struct Queue<T>(loom::sync::Mutex<std::collections::VecDeque<T>>);

    impl<T> Queue<T> {
        pub(crate) fn new() -> Self {
            Self(loom::sync::Mutex::new(std::collections::VecDeque::new()))
        }
        pub(crate) fn push(&self, value: T) {
            self.0.lock().unwrap().push_back(value);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().unwrap().pop_front()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().unwrap().len()
        }
    }
}

pub(crate) use imp::*;

#[cfg(all(test, not(concurrent_futures_loom)))]
mod tests {
    use super::Queue;
    use std::sync::Barrier;

    #[test]
    fn queue_keeps_fifo_order_across_the_ring_and_its_overflow() {
        let queue = Queue::new();
        // Fill past the ring, drain part of it, push more while the overflow is non-empty (they
        // must queue behind it, not in the freed ring slots), then drain everything.
        let mut next = 0..;
        let mut expected = 0;
        for _ in 0..3000 {
            queue.push(next.next().unwrap());
        }
        assert_eq!(queue.len(), 3000);
        for _ in 0..500 {
            assert_eq!(queue.pop(), Some(expected));
            expected += 1;
        }
        for _ in 0..2000 {
            queue.push(next.next().unwrap());
        }
        while let Some(v) = queue.pop() {
            assert_eq!(v, expected);
            expected += 1;
        }
        assert_eq!(expected, 5000);
        assert_eq!(queue.len(), 0);
        // Empty again: the ring is used again, and order still holds.
        for v in 0..10 {
            queue.push(v);
        }
        assert_eq!(
            (0..10).map(|_| queue.pop()).collect::<Vec<_>>(),
            (0..10).map(Some).collect::<Vec<_>>()
        );
    }

    #[test]
    fn queue_hands_each_item_to_exactly_one_consumer_in_order() {
        let items = crate::test_support::stress_iterations(200_000);
        let queue = Queue::new();
        let start = Barrier::new(3);
        let got: Vec<Vec<usize>> = std::thread::scope(|s| {
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        let mut seen = Vec::new();
                        while seen.last() != Some(&usize::MAX) {
                            match queue.pop() {
                                Some(usize::MAX) => {
                                    // One end marker per consumer.
                                    seen.push(usize::MAX);
                                }
                                Some(v) => seen.push(v),
                                None => std::thread::yield_now(),
                            }
                        }
                        seen.pop();
                        seen
                    })
                })
                .collect();
            start.wait();
            for v in 0..items {
                queue.push(v);
            }
            queue.push(usize::MAX);
            queue.push(usize::MAX);
            consumers.into_iter().map(|c| c.join().unwrap()).collect()
        });
        // A single producer's pushes come out in order: each consumer sees a rising sequence.
        for seen in &got {
            assert!(seen.windows(2).all(|w| w[0] < w[1]), "out of order");
        }
        let mut all: Vec<usize> = got.concat();
        all.sort_unstable();
        assert_eq!(all, (0..items).collect::<Vec<_>>());
    }
}
