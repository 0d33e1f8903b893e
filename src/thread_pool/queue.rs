//! The thread pool's job queue: multi-producer, multi-consumer, FIFO and unbounded.
//!
//! Under loom it is a mutex-protected `VecDeque`: loom cannot see inside crossbeam, and the
//! models check the pool's sleep protocol around the queue, not the queue itself (its order
//! and hand-off are tested below, under real threads).

#[cfg(concurrent_futures_loom)]
pub(crate) use self::model::*;
#[cfg(not(concurrent_futures_loom))]
pub(crate) use self::ring::*;

#[cfg(not(concurrent_futures_loom))]
mod ring {
    use crate::sync::atomic::{AtomicUsize, Ordering};
    use crate::sync::Mutex;

    /// Slots in the job queue's ring: a backlog up to this size never allocates.
    pub(crate) const RING_SLOTS: usize = 1024;

    /// Jobs a worker moves from the overflow into the ring at a time: enough to amortize the
    /// lock, few enough that the job it then takes for itself is not kept waiting long.
    const REFILL_BATCH: usize = 256;

    /// The multi-producer multi-consumer job queue, FIFO and unbounded: a fixed ring, then an
    /// overflow list once the ring is full.
    ///
    /// The ring comes first because an unbounded list alone (crossbeam's list channel)
    /// allocates a block per 31 jobs on the submitting thread and frees it on the worker that
    /// empties it; with glibc's allocator that free contends for the submitter's arena lock
    /// while the submitter holds it for its next task's `malloc`. A backlog that fits the ring
    /// allocates nothing.
    ///
    /// Order: workers take jobs from the ring only. A job goes into the ring directly only
    /// while the overflow is empty (`overflow_len` is 0); otherwise it joins the overflow, and
    /// a worker that finds the ring empty moves the overflow's oldest jobs into the ring, in
    /// order, under `refill` (which also keeps the one job that did not fit). So the ring
    /// always holds jobs queued before (or concurrently with) every job in the overflow, and
    /// jobs queued by one thread are taken in its order. A worker never takes from the
    /// overflow directly: looking at the ring and taking from the overflow would be two
    /// steps, and a worker stalled between them could take a job newer than those the ring
    /// holds by then.
    #[derive(Debug)]
    pub(crate) struct JobQueue<T> {
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

    impl<T> JobQueue<T> {
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
        pub(crate) fn push_to_ring(&self, value: T) {
            assert!(self.ring_tx.try_send(value).is_ok(), "the test left room");
        }
        #[cfg(test)]
        pub(crate) fn refill(&self) -> bool {
            self.refill_ring()
        }
    }
}

#[cfg(concurrent_futures_loom)]
mod model {
    #[derive(Debug)]
    pub(crate) struct JobQueue<T>(loom::sync::Mutex<std::collections::VecDeque<T>>);

    impl<T> JobQueue<T> {
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

#[cfg(all(test, not(concurrent_futures_loom)))]
mod tests {
    use super::{JobQueue, RING_SLOTS};
    use std::sync::Barrier;

    #[test]
    fn queue_keeps_fifo_order_across_the_ring_and_its_overflow() {
        let queue = JobQueue::new();
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
        // gets job 0, not the overflow's oldest (job RING_SLOTS).
        let queue = JobQueue::new();
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
        let queue = JobQueue::new();
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
        let queue = JobQueue::new();
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
