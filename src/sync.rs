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
    use atomic::{AtomicUsize, Ordering};
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
    pub(super) const RING_SLOTS: usize = 1024;

    /// Jobs a worker moves from the overflow into the ring at a time: enough to amortize the
    /// lock, few enough that the job it then takes for itself is not kept waiting long.
    const REFILL_BATCH: usize = 256;

    /// The multi-producer multi-consumer job queue, FIFO and unbounded: a fixed ring, then an
    /// overflow list once the ring is full.
    ///
    /// An unbounded list alone (crossbeam's list channel) allocates a block per 31 jobs on the
    /// submitting thread and frees it on the worker that empties it. With glibc's allocator,
    /// that free takes the submitter's arena lock while the submitter holds it for its next
    /// task's `malloc`: 1.35M futex calls in one `submit_result` bench run at 1M tasks, against
    /// 0.1M with the ring (352-425 vs 418-454 ns per task over four alternating runs).
    ///
    /// Order: workers take jobs from the ring only. A job goes into the ring directly only
    /// while the overflow is empty (`overflow_len` is 0); otherwise it joins the overflow, and
    /// a worker that finds the ring empty moves the overflow's oldest jobs into the ring, in
    /// order, under `refill` (which also keeps the one job that did not fit). So the ring
    /// always holds jobs queued before (or concurrently with) every job in the overflow, and
    /// jobs queued by one thread are taken in its order.
    ///
    /// (Workers used to take from the overflow themselves when the ring looked empty. That
    /// look and the take are two steps: a worker stalled between them could come back after
    /// the overflow was emptied, the ring refilled and a new spill begun, and take a job newer
    /// than those in the ring; the consumer-order stress test caught it on a loaded CI.)
    #[derive(Debug)]
    pub(crate) struct Queue<T> {
        ring_tx: crossbeam_channel::Sender<T>,
        ring_rx: crossbeam_channel::Receiver<T>,
        overflow_tx: crossbeam_channel::Sender<T>,
        overflow_rx: crossbeam_channel::Receiver<T>,
        /// Jobs in the overflow, including one held by `refill`: raised before a job is sent
        /// there, lowered only once moved jobs are in the ring.
        overflow_len: AtomicUsize,
        /// The refill lock, holding the overflow's oldest job when the ring had no room for it.
        refill: Mutex<Option<T>>,
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
                overflow_len: AtomicUsize::new(0),
                refill: Mutex::new(None),
            }
        }
        pub(crate) fn push(&self, value: T) {
            // ORDERING: Acquire pairs with the Release in `refill_ring`: reading 0 means every
            // job moved out of the overflow is already in the ring, ahead of this one.
            let value = if self.overflow_len.load(Ordering::Acquire) == 0 {
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
            // Counted before it is sent: a later push from this thread must see the overflow
            // non-empty and queue behind this job, not jump ahead into the ring.
            self.overflow_len.fetch_add(1, Ordering::Relaxed);
            // The queue owns both ends of each channel, so neither can be disconnected.
            if self.overflow_tx.send(value).is_err() {
                unreachable!("job queue disconnected while owned");
            }
        }
        pub(crate) fn pop(&self) -> Option<T> {
            loop {
                if let Ok(value) = self.ring_rx.try_recv() {
                    return Some(value);
                }
                if self.overflow_len.load(Ordering::Relaxed) == 0 || !self.refill_ring() {
                    return None;
                }
            }
        }
        /// Moves the overflow's oldest jobs into the ring, up to `REFILL_BATCH` or until it is
        /// full; whether any moved. None moves if the counted jobs are still being sent.
        fn refill_ring(&self) -> bool {
            let mut held = self.refill.lock();
            let mut moved = 0;
            while moved < REFILL_BATCH {
                let Some(job) = held.take().or_else(|| self.overflow_rx.try_recv().ok()) else {
                    break;
                };
                match self.ring_tx.try_send(job) {
                    Ok(()) => moved += 1,
                    Err(crossbeam_channel::TrySendError::Full(job)) => {
                        // Jobs pushed concurrently by a thread that saw no overflow filled the
                        // ring: keep this one at the overflow's head for the next refill.
                        *held = Some(job);
                        break;
                    }
                    Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                        unreachable!("job ring disconnected while owned")
                    }
                }
            }
            // ORDERING: Release after the moves: whoever reads the count drop to 0 finds the
            // moved jobs in the ring before its own.
            self.overflow_len.fetch_sub(moved, Ordering::Release);
            moved > 0
        }
        pub(crate) fn len(&self) -> usize {
            self.ring_rx.len() + self.overflow_len.load(Ordering::Relaxed)
        }
        /// For tests: a push by a thread that saw the overflow empty just before it filled.
        #[cfg(test)]
        pub(super) fn push_to_ring(&self, value: T) {
            assert!(self.ring_tx.try_send(value).is_ok(), "the test left room");
        }
        #[cfg(test)]
        pub(super) fn refill(&self) -> bool {
            self.refill_ring()
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
    use super::imp::RING_SLOTS;
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
    fn queue_worker_that_stalled_after_a_ring_miss_still_gets_the_oldest_job() {
        // A worker finds the ring empty and stalls; meanwhile the submitter fills the ring and
        // spills into the overflow. Going on, the worker refills and takes from the ring, so it
        // gets job 0, not the overflow's oldest (it used to take job RING_SLOTS: found by the
        // consumer-order stress test below on a loaded CI).
        let queue = Queue::new();
        assert_eq!(queue.pop(), None::<usize>);
        for v in 0..RING_SLOTS + 5 {
            queue.push(v);
        }
        assert!(!queue.refill(), "the ring is full: nothing moves");
        assert_eq!(queue.pop(), Some(0));
        for v in 1..RING_SLOTS + 5 {
            assert_eq!(queue.pop(), Some(v));
        }
        assert_eq!((queue.pop(), queue.len()), (None, 0));
    }

    #[test]
    fn queue_refill_keeps_the_job_that_did_not_fit_at_the_overflow_head() {
        let queue = Queue::new();
        for v in 0..RING_SLOTS + 10 {
            queue.push(v);
        }
        for v in 0..5 {
            assert_eq!(queue.pop(), Some(v));
        }
        // Another submitter saw the overflow empty before it filled and pushes into the ring
        // after: its jobs are concurrent with the overflow's, and fill the ring again.
        for v in 0..5 {
            queue.push_to_ring(10_000 + v);
        }
        assert!(!queue.refill(), "no room: the overflow's head is held back");
        assert_eq!(queue.len(), RING_SLOTS + 10);
        let rest: Vec<usize> = std::iter::from_fn(|| queue.pop()).collect();
        let overflow: Vec<usize> = rest.iter().copied().filter(|&v| v < 10_000).collect();
        assert_eq!(overflow, (5..RING_SLOTS + 10).collect::<Vec<_>>());
        assert_eq!(rest.len(), RING_SLOTS + 10);
        assert_eq!(queue.len(), 0);
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
