//! `ThreadPoolExecutor` against its peers, on the same workload and the same worker count.
//!
//! Run with `cargo bench --bench thread_pool`; see `benches/README.md` for what each group
//! measures and the figures of the last recorded run. `CF_BENCH_N=1000000` raises the task count
//! of `submit_result` and `map` (default 100 000; the reference figure in the issue is for 1M).
//!
//! Before criterion starts, a separate measurement prints the bytes allocated per *pending*
//! task (a counting global allocator is active only during that phase). After criterion ends, a
//! summary prints the per-task times and the ratios, read back from criterion's own estimates,
//! then, if `submit_result` ran and `python3` is on PATH, CPython's `ThreadPoolExecutor` on the
//! same workload (`benches/cpython_thread_pool.py`, one run of N tasks). Before and after, the
//! cross-core round trip (`support/machine.rs`) says how fast the machine was at the time.

#[path = "support/estimates.rs"]
mod estimates;
#[path = "support/machine.rs"]
mod machine;

use concurrent_futures::{
    as_completed, wait, DoneAndNotDone, Future, ReturnWhen, ThreadPoolExecutor,
};
use criterion::{black_box, BenchmarkId, Criterion, SamplingMode, Throughput};
use estimates::median_ns;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Worker threads for every pool (this crate and each peer): the benchmark machine has 2 cores.
const WORKERS: usize = 2;
/// Default task count for `submit_result` and `map` (override with `CF_BENCH_N`).
const DEFAULT_N: usize = 100_000;
/// `std::thread::spawn` gets N / this many tasks (a thread per task is ~100× dearer).
const THREAD_SPAWN_DIVISOR: usize = 100;
/// Default future counts for the `as_completed` and `wait` groups (override with
/// `CF_BENCH_SCALING=50000,100000,200000,400000`); the summary prints each size's time over the
/// previous size's, which is about 2 for a doubling if the cost is linear.
const SCALING_SIZES: [usize; 2] = [100_000, 200_000];
/// Pending tasks for the memory measurement.
const MEMORY_TASKS: usize = 100_000;

// ---------------------------------------------------------------------------------------------
// Counting allocator (memory measurement only)

/// `System`, counting live bytes while `COUNTING` is set, so the timed groups pay one relaxed
/// load per allocation and no shared read-modify-write.
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

fn count(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE_BYTES.fetch_add(delta, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees hold; the counting touches only two atomics.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::SeqCst)
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// The task every group runs: return the index.
fn task(i: usize) -> usize {
    i
}

fn scaling_sizes() -> Vec<usize> {
    let sizes: Vec<usize> = std::env::var("CF_BENCH_SCALING")
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .filter(|&n| n > 0)
        .collect();
    if sizes.is_empty() {
        SCALING_SIZES.to_vec()
    } else {
        sizes
    }
}

fn bench_n() -> usize {
    std::env::var("CF_BENCH_N")
        .ok()
        .and_then(|s| s.replace('_', "").parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_N)
}

/// rayon's `spawn` returns nothing, so each task gets a one-shot result slot: std
/// `Mutex<(Option<T>, waiting)>` + `Condvar`, where the producer signals only if the consumer
/// is already asleep (no futex wake per task when the result is there first).
struct Slot<T> {
    state: Mutex<(Option<T>, bool)>,
    ready: Condvar,
}

impl<T> Slot<T> {
    fn new() -> Arc<Self> {
        Arc::new(Slot {
            state: Mutex::new((None, false)),
            ready: Condvar::new(),
        })
    }

    fn put(&self, value: T) {
        let mut state = self.state.lock().unwrap();
        state.0 = Some(value);
        if state.1 {
            self.ready.notify_one();
        }
    }

    fn take(&self) -> T {
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(v) = state.0.take() {
                return v;
            }
            state.1 = true;
            state = self.ready.wait(state).unwrap();
        }
    }
}

fn rayon_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn rusty_pool(threads: usize) -> rusty_pool::ThreadPool {
    rusty_pool::ThreadPool::new(threads, threads, Duration::from_secs(60))
}

fn tokio_runtime(blocking_threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .max_blocking_threads(blocking_threads)
        .build()
        .unwrap()
}

/// Benchmarks that ran in this process: (criterion directory, elements per iteration).
static RAN: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::new());

fn ran(dir: &str, elements: usize) {
    let mut ran = RAN.lock().unwrap();
    if !ran.iter().any(|(d, _)| d == dir) {
        ran.push((dir.to_string(), elements));
    }
}

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sampling_mode(SamplingMode::Flat);
}

// ---------------------------------------------------------------------------------------------
// 4. Memory per pending task (printed before criterion runs)

/// Bytes per pending task: a 1-thread pool is blocked by a task waiting on a channel, then
/// `MEMORY_TASKS` tasks each capturing a `u64` are queued. Reported: (live-bytes delta − the
/// handle `Vec`'s `capacity × size_of::<handle>()`) / tasks − 8 (the captured `u64`).
struct MemoryRow {
    name: &'static str,
    handle: &'static str,
    handle_size: usize,
    per_task: f64,
}

/// Runs one measurement: `block` occupies the single worker until the returned sender fires,
/// `submit` queues one task and returns its handle, `drain` waits for all handles.
fn measure_memory<H>(
    name: &'static str,
    handle: &'static str,
    block: impl FnOnce(mpsc::Receiver<()>, mpsc::Sender<()>),
    mut submit: impl FnMut(u64) -> H,
    drain: impl FnOnce(Vec<H>),
) -> MemoryRow {
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    block(gate_rx, started_tx);
    started_rx.recv().unwrap();
    // A first task, so that lazily allocated queue structures exist before the baseline.
    let warm = submit(u64::MAX);
    COUNTING.store(true, Ordering::SeqCst);
    let before = live_bytes();
    let mut handles = Vec::with_capacity(MEMORY_TASKS);
    for i in 0..MEMORY_TASKS as u64 {
        handles.push(submit(i));
    }
    let delta = live_bytes() - before;
    COUNTING.store(false, Ordering::SeqCst);
    let vec_bytes = handles.capacity() * std::mem::size_of::<H>();
    let per_task = (delta as f64 - vec_bytes as f64) / MEMORY_TASKS as f64 - 8.0;
    gate_tx.send(()).unwrap();
    handles.insert(0, warm);
    drain(handles);
    MemoryRow {
        name,
        handle,
        handle_size: std::mem::size_of::<H>(),
        per_task,
    }
}

fn memory() {
    let mut rows = Vec::new();

    let pool = ThreadPoolExecutor::new(1).unwrap();
    rows.push(measure_memory(
        "concurrent_futures spawn",
        "Future<u64>",
        |gate, started| {
            pool.spawn(move || {
                started.send(()).unwrap();
                gate.recv().unwrap();
            })
            .unwrap();
        },
        |x| pool.spawn(move || x).unwrap(),
        |handles: Vec<Future<u64>>| {
            for f in &handles {
                f.result(None).unwrap();
            }
        },
    ));
    drop(pool);

    let pool = rusty_pool(1);
    rows.push(measure_memory(
        "rusty_pool evaluate",
        "JoinHandle<u64>",
        |gate, started| {
            pool.execute(move || {
                started.send(()).unwrap();
                gate.recv().unwrap();
            })
        },
        |x| pool.evaluate(move || x),
        |handles| {
            for h in handles {
                h.await_complete();
            }
        },
    ));
    pool.shutdown_join();

    let pool = threadpool::ThreadPool::new(1);
    rows.push(measure_memory(
        "threadpool execute",
        "none",
        |gate, started| {
            pool.execute(move || {
                started.send(()).unwrap();
                gate.recv().unwrap();
            })
        },
        |x| {
            pool.execute(move || {
                black_box(x);
            })
        },
        |_: Vec<()>| pool.join(),
    ));

    let pool = rayon_pool(1);
    rows.push(measure_memory(
        "rayon spawn + Slot",
        "Arc<Slot<u64>>",
        |gate, started| {
            pool.spawn(move || {
                started.send(()).unwrap();
                gate.recv().unwrap();
            })
        },
        |x| {
            let slot = Slot::new();
            let out = Arc::clone(&slot);
            pool.spawn(move || out.put(x));
            slot
        },
        |handles| {
            for s in handles {
                s.take();
            }
        },
    ));
    drop(pool);

    let rt = tokio_runtime(1);
    rows.push(measure_memory(
        "tokio spawn_blocking",
        "JoinHandle<u64>",
        |gate, started| {
            rt.spawn_blocking(move || {
                started.send(()).unwrap();
                gate.recv().unwrap();
            });
        },
        |x| rt.spawn_blocking(move || x),
        |handles| {
            rt.block_on(async {
                for h in handles {
                    h.await.unwrap();
                }
            })
        },
    ));
    drop(rt);

    println!(
        "\n== memory: bytes allocated per pending task ({MEMORY_TASKS} queued behind a blocked \
         1-thread pool; handle Vec and the captured u64 subtracted) =="
    );
    println!(
        "{:<26} {:>12} {:>20}  handle",
        "", "bytes/task", "size_of handle"
    );
    for r in &rows {
        println!(
            "{:<26} {:>12.1} {:>20}  {}",
            r.name, r.per_task, r.handle_size, r.handle
        );
    }
    println!();
}

// ---------------------------------------------------------------------------------------------
// 1. submit_result: N trivial tasks, submit all, then get each result

fn submit_result(c: &mut Criterion) {
    let n = bench_n();
    let mut group = c.benchmark_group("submit_result");
    configure(&mut group);
    group.throughput(Throughput::Elements(n as u64));

    let pool = ThreadPoolExecutor::new(WORKERS).unwrap();
    group.bench_function(BenchmarkId::new("concurrent_futures", n), |b| {
        ran(&format!("submit_result/concurrent_futures/{n}"), n);
        b.iter(|| {
            let futures: Vec<Future<usize>> =
                (0..n).map(|i| pool.submit(task, i).unwrap()).collect();
            futures
                .iter()
                .map(|f| *f.result(None).unwrap())
                .sum::<usize>()
        })
    });
    drop(pool);

    let pool = rayon_pool(WORKERS);
    group.bench_function(BenchmarkId::new("rayon_spawn_slot", n), |b| {
        ran(&format!("submit_result/rayon_spawn_slot/{n}"), n);
        b.iter(|| {
            let slots: Vec<Arc<Slot<usize>>> = (0..n)
                .map(|i| {
                    let slot = Slot::new();
                    let out = Arc::clone(&slot);
                    pool.spawn(move || out.put(task(i)));
                    slot
                })
                .collect();
            slots.iter().map(|s| s.take()).sum::<usize>()
        })
    });
    drop(pool);

    let pool = threadpool::ThreadPool::new(WORKERS);
    group.bench_function(BenchmarkId::new("threadpool_execute_channel", n), |b| {
        ran(&format!("submit_result/threadpool_execute_channel/{n}"), n);
        b.iter(|| {
            // No per-task handle: one shared channel, results arrive in completion order.
            let (tx, rx) = mpsc::channel();
            for i in 0..n {
                let tx = tx.clone();
                pool.execute(move || tx.send(task(i)).unwrap());
            }
            drop(tx);
            rx.iter().take(n).sum::<usize>()
        })
    });
    drop(pool);

    let pool = rusty_pool(WORKERS);
    group.bench_function(BenchmarkId::new("rusty_pool_evaluate", n), |b| {
        ran(&format!("submit_result/rusty_pool_evaluate/{n}"), n);
        b.iter(|| {
            let handles: Vec<_> = (0..n).map(|i| pool.evaluate(move || task(i))).collect();
            handles
                .into_iter()
                .map(|h| h.await_complete())
                .sum::<usize>()
        })
    });
    pool.shutdown_join();

    let rt = tokio_runtime(WORKERS);
    group.bench_function(BenchmarkId::new("tokio_spawn_blocking", n), |b| {
        ran(&format!("submit_result/tokio_spawn_blocking/{n}"), n);
        b.iter(|| {
            rt.block_on(async {
                let handles: Vec<_> = (0..n)
                    .map(|i| tokio::task::spawn_blocking(move || task(i)))
                    .collect();
                let mut sum = 0usize;
                for h in handles {
                    sum += h.await.unwrap();
                }
                sum
            })
        })
    });
    drop(rt);

    let m = (n / THREAD_SPAWN_DIVISOR).max(1);
    group.throughput(Throughput::Elements(m as u64));
    group.bench_function(BenchmarkId::new("std_thread_spawn", m), |b| {
        ran(&format!("submit_result/std_thread_spawn/{m}"), m);
        b.iter(|| {
            let handles: Vec<_> = (0..m)
                .map(|i| std::thread::spawn(move || task(i)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .sum::<usize>()
        })
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// 2. map: ordered results over N items

fn map(c: &mut Criterion) {
    let n = bench_n();
    let mut group = c.benchmark_group("map");
    configure(&mut group);
    group.throughput(Throughput::Elements(n as u64));

    let pool = ThreadPoolExecutor::new(WORKERS).unwrap();
    group.bench_function(BenchmarkId::new("concurrent_futures_map", n), |b| {
        ran(&format!("map/concurrent_futures_map/{n}"), n);
        b.iter(|| {
            pool.map(task, 0..n)
                .map(Result::unwrap)
                .collect::<Vec<usize>>()
        })
    });
    drop(pool);

    let pool = rayon_pool(WORKERS);
    group.bench_function(BenchmarkId::new("rayon_par_iter", n), |b| {
        ran(&format!("map/rayon_par_iter/{n}"), n);
        b.iter(|| {
            use rayon::prelude::*;
            pool.install(|| (0..n).into_par_iter().map(task).collect::<Vec<usize>>())
        })
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// 3. as_completed and wait over already-submitted futures, 100k vs 200k

/// Occupies every worker of `pool` until the returned barrier is waited on by the caller.
fn block_workers(pool: &ThreadPoolExecutor) -> Arc<Barrier> {
    let barrier = Arc::new(Barrier::new(WORKERS + 1));
    for _ in 0..WORKERS {
        let b = Arc::clone(&barrier);
        pool.spawn(move || {
            b.wait();
        })
        .unwrap();
    }
    barrier
}

fn submit_all(pool: &ThreadPoolExecutor, n: usize) -> Vec<Future<usize>> {
    (0..n).map(|i| pool.submit(task, i).unwrap()).collect()
}

/// Times `call` once per iteration; what it returns is dropped after the clock stops.
fn time_each<T>(iters: u64, mut call: impl FnMut() -> T) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let out = call();
        total += start.elapsed();
        drop(black_box(out));
    }
    total
}

#[derive(Clone, Copy)]
enum Waiter {
    AsCompleted,
    Wait,
}

impl Waiter {
    fn name(self) -> &'static str {
        match self {
            Waiter::AsCompleted => "as_completed",
            Waiter::Wait => "wait",
        }
    }

    /// `as_completed(..).count()` or `wait(.., AllCompleted)`: the number of futures done, and
    /// `wait`'s sets, returned so that they are dropped outside the clock.
    fn until_all(self, futures: &[Future<usize>]) -> (usize, Option<DoneAndNotDone<usize>>) {
        match self {
            Waiter::AsCompleted => (as_completed(futures, None).count(), None),
            Waiter::Wait => {
                let sets = wait(futures, None, ReturnWhen::AllCompleted);
                (sets.done.len(), Some(sets))
            }
        }
    }
}

fn scaling(c: &mut Criterion, waiter: Waiter) {
    let mut group = c.benchmark_group(waiter.name());
    configure(&mut group);
    let pool = ThreadPoolExecutor::new(WORKERS).unwrap();

    for n in scaling_sizes() {
        group.throughput(Throughput::Elements(n as u64));

        // done: every future finished before the call; the call only sorts them out.
        let futures = submit_all(&pool, n);
        for f in &futures {
            f.result(None).unwrap();
        }
        group.bench_with_input(BenchmarkId::new("done", n), &n, |b, &n| {
            ran(&format!("{}/done/{n}", waiter.name()), n);
            b.iter_custom(|iters| time_each(iters, || waiter.until_all(&futures)))
        });
        // floor: what any call over borrowed handles does at least (take a handle, read its
        // state, drop it), on the same futures: the hardware's share of the scaling.
        if let Waiter::AsCompleted = waiter {
            group.bench_with_input(BenchmarkId::new("floor", n), &n, |b, &n| {
                ran(&format!("{}/floor/{n}", waiter.name()), n);
                b.iter_custom(|iters| {
                    time_each(iters, || {
                        let handles: Vec<Future<usize>> = futures.to_vec();
                        handles.into_iter().filter(|f| f.done()).count()
                    })
                })
            });
        }
        drop(futures);

        // pending_register: the workers are blocked, so all n futures stay pending; one extra
        // future is already done, so the call registers a waiter on all n, returns on the done
        // one, and deregisters (as_completed: first next() then drop; wait: FirstCompleted).
        let first = pool.submit(task, 0).unwrap();
        first.result(None).unwrap();
        let gate = block_workers(&pool);
        let mut futures = vec![first];
        futures.extend(submit_all(&pool, n));
        group.bench_with_input(BenchmarkId::new("pending_register", n), &n, |b, &n| {
            ran(&format!("{}/pending_register/{n}", waiter.name()), n);
            b.iter_custom(|iters| {
                time_each(iters, || match waiter {
                    // The iterator is dropped inside the clock: deregistering is part of the cost.
                    Waiter::AsCompleted => {
                        (as_completed(&futures, None).next().is_some() as usize, None)
                    }
                    Waiter::Wait => {
                        let sets = wait(&futures, None, ReturnWhen::FirstCompleted);
                        (sets.done.len(), Some(sets))
                    }
                })
            })
        });
        gate.wait();
        for f in &futures {
            f.result(None).unwrap();
        }
        drop(futures);

        // end_to_end: n futures queued behind blocked workers; the clock covers releasing the
        // workers and the call until every future is done (so it includes running n tasks).
        group.bench_with_input(BenchmarkId::new("end_to_end", n), &n, |b, &n| {
            ran(&format!("{}/end_to_end/{n}", waiter.name()), n);
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let gate = block_workers(&pool);
                    let futures = submit_all(&pool, n);
                    let start = Instant::now();
                    gate.wait();
                    let (done, sets) = waiter.until_all(&futures);
                    total += start.elapsed();
                    assert_eq!(black_box(done), n);
                    drop(sets);
                }
                total
            })
        });
    }
    group.finish();
}

fn as_completed_group(c: &mut Criterion) {
    scaling(c, Waiter::AsCompleted);
}

fn wait_group(c: &mut Criterion) {
    scaling(c, Waiter::Wait);
}

// ---------------------------------------------------------------------------------------------
// Summary, from criterion's estimates

/// Criterion's median for `dir`, per task, if that benchmark ran in this process.
fn per_task_ns(ran: &[(String, usize)], dir: &str) -> Option<f64> {
    let (_, elements) = ran.iter().find(|(d, _)| d == dir)?;
    Some(median_ns(dir)? / *elements as f64)
}

fn summary(ran: &[(String, usize)]) {
    let per_task = |dir: &str| per_task_ns(ran, dir);
    println!("\n== summary ({WORKERS} workers everywhere; medians from criterion) ==");

    let rows: Vec<_> = ran
        .iter()
        .filter(|(d, _)| d.starts_with("submit_result/") || d.starts_with("map/"))
        .collect();
    if !rows.is_empty() {
        println!(
            "{:<48} {:>9} {:>10} {:>11} {:>20}",
            "bench", "tasks", "ns/task", "Mtasks/s", "time vs this crate"
        );
    }
    for (dir, elements) in rows {
        let Some(ns) = per_task(dir) else { continue };
        let base = if dir.starts_with("map/") {
            per_task(&format!("map/concurrent_futures_map/{elements}"))
        } else {
            per_task(&format!("submit_result/concurrent_futures/{}", bench_n()))
        };
        let ratio = base.map_or(String::from("-"), |b| {
            if dir.contains("/concurrent_futures") {
                String::from("baseline")
            } else if ns >= b {
                format!("{:.2}x slower", ns / b)
            } else {
                format!("{:.2}x faster", b / ns)
            }
        });
        println!(
            "{dir:<48} {elements:>9} {ns:>10.2} {:>11.2} {ratio:>20}",
            1e3 / ns
        );
    }

    let sizes = scaling_sizes();
    for waiter in ["as_completed", "wait"] {
        for variant in ["done", "floor", "pending_register", "end_to_end"] {
            let mut line = format!("{:<30}", format!("{waiter}/{variant}"));
            let mut previous: Option<(usize, f64)> = None;
            for &n in &sizes {
                let dir = format!("{waiter}/{variant}/{n}");
                if !ran.iter().any(|(d, _)| *d == dir) {
                    continue;
                }
                let Some(ns) = median_ns(&dir) else { continue };
                line += &format!("  {n}: {:.2} ms", ns / 1e6);
                if let Some((m, prev)) = previous {
                    line += &format!(
                        " (x{:.2} for x{:.1} futures)",
                        ns / prev,
                        n as f64 / m as f64
                    );
                }
                previous = Some((n, ns));
            }
            if previous.is_some() {
                println!("{line}");
            }
        }
    }
}

/// CPython's `ThreadPoolExecutor` on the `submit_result` workload, if `python3` is on PATH and
/// that group ran: the reference figure (17.7 µs per task) came from such a run.
fn cpython(ran: &[(String, usize)]) {
    let n = bench_n();
    let ours = format!("submit_result/concurrent_futures/{n}");
    if !ran.iter().any(|(d, _)| *d == ours) {
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/cpython_thread_pool.py"
    );
    let out = match std::process::Command::new("python3")
        .arg(script)
        .arg(n.to_string())
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            println!("cpython: failed: {}", err.trim());
            return;
        }
        Err(e) => {
            println!("cpython: not run ({e})");
            return;
        }
    };
    let line = out.trim();
    // "cpython submit_result: <us> us/task (<n> tasks)"
    let us = line
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse::<f64>().ok());
    match (us, per_task_ns(ran, &ours)) {
        (Some(us), Some(ns)) => println!("{line}: {:.0}x slower than this crate", us * 1e3 / ns),
        _ => println!("{line}"),
    }
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    if bench_mode {
        machine::report("before");
    }
    memory();
    let mut c = Criterion::default().configure_from_args();
    submit_result(&mut c);
    map(&mut c);
    as_completed_group(&mut c);
    wait_group(&mut c);
    c.final_summary();
    if bench_mode {
        // Criterion's smoke-test mode (`-- --test`) times nothing: the saved estimates would be
        // an earlier run's.
        if !std::env::args().any(|a| a == "--test") {
            let ran = RAN.lock().unwrap().clone();
            summary(&ran);
            cpython(&ran);
        }
        machine::report("after");
    }
}
