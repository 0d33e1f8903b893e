//! The process pool's fault promises, tried adversarially: a worker's death fails exactly the
//! task it was running, nothing runs twice, nothing hangs, nothing is left behind.
//!
//! Each scenario sends bursts of short and long tasks to 2 workers (so frames pipeline and
//! tasks are sent ahead), while faults land at random moments: tasks that abort, SIGKILL and
//! SIGSTOP from another thread (starting workers included), workers that close their socket
//! and linger. Every task appends its id to an execution log when it starts, so the test
//! counts executions per id instead of sampling them. A timing defect may fire only in some
//! rounds: each scenario runs enough rounds that one firing 30% of the time fails it with more
//! than 99% probability (0.7^13 < 0.01), times `CF_TEST_STRESS`. The rng seed of each round is
//! in its failure message.
//!
//! The process pool exists on Unix with feature `process-pool` (default).
#![cfg(all(unix, feature = "process-pool"))]

mod common;

use common::process::own_sockets;
use common::{stress_iterations, watchdog, Rng, TempDir, HANG, LONG};
use concurrent_futures::{CancelToken, Cancelled, FutureError, ProcessPoolExecutor, RetryPolicy};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rounds per scenario: a defect that fires in 30% of rounds survives 13 with p < 0.01.
const ROUNDS: usize = 13;

/// The scenarios run one at a time: each counts this process's descriptors and children, which
/// another scenario's pool would change.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Tasks (they run in the worker processes)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Kind {
    Short,
    /// Runs for this many milliseconds.
    Long(u64),
    /// Aborts the worker.
    Poison,
    /// Closes the worker's socket and lives on.
    CloseSocket,
}

/// Appends `id` to the execution log at `log` (one `write` on an `O_APPEND` file: atomic).
fn log_start(log: &Path, id: u64) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .expect("open the execution log");
    f.write_all(format!("{id}\n").as_bytes())
        .expect("append to the execution log");
}

fn task((log, id, kind): (PathBuf, u64, Kind)) -> u64 {
    log_start(&log, id);
    match kind {
        Kind::Short => {}
        Kind::Long(ms) => std::thread::sleep(Duration::from_millis(ms)),
        Kind::Poison => std::process::abort(),
        Kind::CloseSocket => {
            for fd in own_sockets() {
                // SAFETY: closes an fd of this process; nothing in this task uses it afterwards.
                unsafe { libc::close(fd) };
            }
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    id
}

// ---------------------------------------------------------------------------------------------
// Accounting
// ---------------------------------------------------------------------------------------------

/// How many times each id started, from the execution log.
fn executions(log: &Path) -> HashMap<u64, usize> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut counts = HashMap::new();
    for line in text.lines() {
        *counts.entry(line.parse::<u64>().unwrap()).or_insert(0) += 1;
    }
    counts
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn assert_reaped(pids: &HashSet<u32>, context: &str) {
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "{context}: worker {pid} is still there (zombie or alive)"
        );
    }
}

/// A burst plan: mostly short tasks, some long, `poison_every`-th aborting (0: none),
/// `close_every`-th closing its socket (0: none).
fn plan(rng: &mut Rng, n: u64, poison_every: u64, close_every: u64) -> Vec<Kind> {
    (1..=n)
        .map(|i| {
            if poison_every != 0 && i % poison_every == 0 {
                Kind::Poison
            } else if close_every != 0 && i % close_every == 0 {
                Kind::CloseSocket
            } else if rng.below(8) == 0 {
                Kind::Long(1 + rng.below(15))
            } else {
                Kind::Short
            }
        })
        .collect()
}

/// What one round saw.
#[derive(Debug, Default)]
struct Outcome {
    ok: usize,
    /// Futures that failed, by id, with their error.
    failed: HashMap<u64, FutureError>,
    /// Ids that started more than once.
    twice: Vec<u64>,
    /// Ids whose future succeeded but that never started (cannot happen) or started twice.
    bad_ok: Vec<u64>,
}

/// Submits `kinds` in bursts of `burst`, waits for every future (each within `LONG`), and
/// accounts for them against the execution log.
fn run_round(pool: &ProcessPoolExecutor, log: &Path, kinds: &[Kind], burst: usize) -> Outcome {
    let mut outcome = Outcome::default();
    let ids: Vec<(u64, Kind)> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| (i as u64 + 1, *k))
        .collect();
    for chunk in ids.chunks(burst) {
        let futures: Vec<_> = chunk
            .iter()
            .map(|&(id, kind)| {
                (
                    id,
                    pool.submit(task, (log.to_path_buf(), id, kind)).unwrap(),
                )
            })
            .collect();
        for (id, f) in futures {
            match f.result(Some(LONG)) {
                Ok(&got) => {
                    assert_eq!(got, id);
                    outcome.ok += 1;
                }
                Err(FutureError::Timeout) => panic!("task {id} did not finish within {LONG:?}"),
                Err(e) => {
                    outcome.failed.insert(id, e);
                }
            }
        }
    }
    let runs = executions(log);
    for (&id, &n) in &runs {
        if n > 1 {
            outcome.twice.push(id);
        }
    }
    for &(id, _) in &ids {
        if !outcome.failed.contains_key(&id) && runs.get(&id) != Some(&1) {
            outcome.bad_ok.push(id);
        }
    }
    outcome
}

/// A fresh pool per round, the same way in every scenario.
fn new_pool(task_timeout: Option<Duration>, startup: Option<Duration>) -> ProcessPoolExecutor {
    new_pool_retrying(task_timeout, startup, None)
}

fn new_pool_retrying(
    task_timeout: Option<Duration>,
    startup: Option<Duration>,
    retry: Option<RetryPolicy>,
) -> ProcessPoolExecutor {
    let mut b = ProcessPoolExecutor::builder().max_workers(2);
    if let Some(r) = retry {
        b = b.retry(r);
    }
    if let Some(t) = task_timeout {
        b = b.task_timeout(t);
    }
    if let Some(s) = startup {
        b = b.startup_timeout(s);
    }
    b.build().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// Every poison task fails alone: an aborting task whose worker still holds an earlier task's
/// result, or a task sent ahead behind it, costs nothing but itself. Nothing runs twice.
#[test]
fn poison_tasks_fail_alone_and_nothing_runs_twice() {
    let _serial = serial();
    let _dog = watchdog(HANG * 4, "poison chaos");
    let fds = open_fds();
    let rounds = stress_iterations(ROUNDS);
    let mut seen_pids = HashSet::new();
    let (mut wrong_failures, mut twice) = (0, 0);
    for round in 0..rounds {
        let seed = 0x5EED_0000 + round as u64;
        let mut rng = Rng(seed);
        let dir = TempDir::new("chaos-poison");
        let log = dir.path().join("log");
        let pool = new_pool(None, None);
        let kinds = plan(&mut rng, 80, 9, 0);
        let outcome = run_round(&pool, &log, &kinds, 1 + rng.below(40) as usize);
        seen_pids.extend(pool.worker_pids());
        drop(pool);
        for (&id, err) in &outcome.failed {
            let poison = kinds[id as usize - 1] == Kind::Poison;
            if !poison || !matches!(err, FutureError::WorkerDied(_)) {
                wrong_failures += 1;
                eprintln!(
                    "seed {seed:#x}: task {id} ({:?}) failed: {err}",
                    kinds[id as usize - 1]
                );
            }
        }
        let poisons = kinds.iter().filter(|k| **k == Kind::Poison).count();
        assert_eq!(outcome.failed.len(), poisons, "seed {seed:#x}: {outcome:?}");
        twice += outcome.twice.len();
        assert!(outcome.bad_ok.is_empty(), "seed {seed:#x}: {outcome:?}");
    }
    eprintln!(
        "poison chaos: {rounds} rounds, {wrong_failures} futures failed for another task's \
         death, {twice} ids ran twice"
    );
    assert_eq!((wrong_failures, twice), (0, 0));
    assert_reaped(&seen_pids, "poison chaos");
    assert_eq!(open_fds(), fds, "descriptors leaked");
}

/// `map` over items of which every third aborts, on a pool whose workers have run short tasks
/// (so tasks are sent ahead): each aborting item fails once with its worker's death, every
/// other item succeeds, and no item runs twice.
#[test]
fn map_over_crashing_items_fails_each_once() {
    let _serial = serial();
    let _dog = watchdog(HANG * 2, "map crash chaos");
    let rounds = stress_iterations(ROUNDS);
    let (mut twice, mut wrong) = (0, 0);
    for round in 0..rounds {
        let dir = TempDir::new("chaos-map");
        let log = dir.path().join("log");
        let pool = new_pool(None, None);
        let warm: Vec<_> = (100..140u64)
            .map(|id| (log.clone(), id, Kind::Short))
            .collect();
        for result in pool.map(task, warm) {
            assert!(result.is_ok());
        }
        let kind = |id: u64| {
            if id % 3 == 0 {
                Kind::Poison
            } else {
                Kind::Short
            }
        };
        let items: Vec<_> = (1..=30u64).map(|id| (log.clone(), id, kind(id))).collect();
        for (id, result) in (1..=30u64).zip(pool.map(task, items)) {
            match (kind(id), result) {
                (Kind::Poison, Err(FutureError::WorkerDied(_))) | (Kind::Short, Ok(_)) => {}
                (_, other) => {
                    wrong += 1;
                    eprintln!("round {round}: item {id}: {other:?}");
                }
            }
        }
        drop(pool);
        let runs = executions(&log);
        twice += runs.values().filter(|&&n| n > 1).count();
        assert_eq!(runs.len(), 70, "round {round}: {runs:?}");
    }
    eprintln!(
        "map crash chaos: {rounds} rounds, {wrong} items ended the wrong way, {twice} ids ran \
         twice"
    );
    assert_eq!((wrong, twice), (0, 0));
}

/// Kills or stops workers from another thread at random moments, starting ones included.
struct Saboteur {
    stop: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<HashSet<u32>>>,
}

impl Saboteur {
    /// Sends `signal` to a random worker every 0..`max_pause_us` µs, and at once to a worker
    /// seen for the first time with probability 1/`fresh_odds` (a worker in its handshake).
    fn start(
        pool: &Arc<ProcessPoolExecutor>,
        seed: u64,
        signal: i32,
        max_pause_us: u64,
        fresh_odds: u64,
    ) -> Saboteur {
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let pool = Arc::clone(pool);
        let (stop2, hits2) = (Arc::clone(&stop), Arc::clone(&hits));
        let thread = std::thread::spawn(move || {
            let mut rng = Rng(seed ^ 0xDEAD_BEEF);
            let mut seen = HashSet::new();
            let mut next_hit = Instant::now() + Duration::from_micros(rng.below(max_pause_us));
            while !stop2.load(Ordering::Relaxed) {
                let pids = pool.worker_pids();
                let fresh: Vec<u32> = pids.iter().copied().filter(|p| !seen.contains(p)).collect();
                seen.extend(pids.iter().copied());
                let target = if !fresh.is_empty() && rng.below(fresh_odds) == 0 {
                    Some(fresh[0])
                } else if Instant::now() >= next_hit && !pids.is_empty() {
                    next_hit = Instant::now() + Duration::from_micros(rng.below(max_pause_us));
                    Some(pids[rng.below(pids.len() as u64) as usize])
                } else {
                    None
                };
                if let Some(pid) = target {
                    // SAFETY: plain integers; the pid is a worker the pool lists as its own
                    // unreaped child, so it names no recycled process.
                    if unsafe { libc::kill(pid as libc::pid_t, signal) } == 0 {
                        hits2.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::yield_now();
            }
            seen
        });
        Saboteur {
            stop,
            hits,
            thread: Some(thread),
        }
    }

    /// Stops sabotaging; returns how many signals landed and every pid seen.
    fn finish(mut self) -> (usize, HashSet<u32>) {
        self.stop.store(true, Ordering::Relaxed);
        let seen = self.thread.take().unwrap().join().unwrap();
        (self.hits.load(Ordering::Relaxed), seen)
    }
}

/// SIGKILL at random moments (mid-task, idle, mid-write, during the handshake): every future
/// resolves, only with a worker's death, never more failures than kills, nothing twice, the
/// pool never breaks.
#[test]
fn sigkill_at_random_moments_fails_at_most_the_running_task() {
    let _serial = serial();
    let _dog = watchdog(HANG * 4, "sigkill chaos");
    let fds = open_fds();
    let rounds = stress_iterations(ROUNDS);
    let mut all_pids = HashSet::new();
    let (mut failures, mut kills, mut twice) = (0, 0, 0);
    for round in 0..rounds {
        let seed = 0xC1A0_0000 + round as u64;
        let mut rng = Rng(seed);
        let dir = TempDir::new("chaos-kill");
        let log = dir.path().join("log");
        let pool = Arc::new(new_pool(None, None));
        pool.start_workers().unwrap();
        let saboteur = Saboteur::start(&pool, seed, libc::SIGKILL, 20_000, 4);
        let kinds = plan(&mut rng, 150, 0, 0);
        let outcome = run_round(&pool, &log, &kinds, 1 + rng.below(50) as usize);
        let (hits, seen) = saboteur.finish();
        all_pids.extend(seen);
        all_pids.extend(pool.worker_pids());
        drop(pool);
        for (id, err) in &outcome.failed {
            assert!(
                matches!(err, FutureError::WorkerDied(w) if w.signal == Some(libc::SIGKILL)),
                "seed {seed:#x}: task {id}: {err}"
            );
        }
        assert!(
            outcome.failed.len() <= hits,
            "seed {seed:#x}: {} failures for {hits} kills",
            outcome.failed.len()
        );
        assert!(outcome.bad_ok.is_empty(), "seed {seed:#x}: {outcome:?}");
        failures += outcome.failed.len();
        kills += hits;
        twice += outcome.twice.len();
    }
    eprintln!(
        "sigkill chaos: {rounds} rounds, {kills} kills, {failures} futures failed, {twice} ids \
         ran twice"
    );
    assert_eq!(twice, 0);
    assert_reaped(&all_pids, "sigkill chaos");
    assert_eq!(open_fds(), fds, "descriptors leaked");
}

/// SIGSTOP at random moments, with a task time limit and a startup deadline: a stopped worker
/// that runs a task times out, one that holds a task it has not started or that is starting is
/// replaced, and dropping the pool with stopped workers still ends.
#[test]
fn sigstop_at_random_moments_is_timed_out_never_hung() {
    let _serial = serial();
    let _dog = watchdog(HANG * 4, "sigstop chaos");
    let fds = open_fds();
    let rounds = stress_iterations(ROUNDS);
    let mut all_pids = HashSet::new();
    let (mut failures, mut stops, mut twice) = (0, 0, 0);
    let limit = Duration::from_millis(800);
    for round in 0..rounds {
        let seed = 0x5707_0000 + round as u64;
        let mut rng = Rng(seed);
        let dir = TempDir::new("chaos-stop");
        let log = dir.path().join("log");
        let pool = Arc::new(new_pool(Some(limit), Some(limit / 2)));
        pool.start_workers().unwrap();
        let saboteur = Saboteur::start(&pool, seed, libc::SIGSTOP, 150_000, 6);
        let kinds = plan(&mut rng, 60, 0, 0);
        let outcome = run_round(&pool, &log, &kinds, 1 + rng.below(30) as usize);
        let (hits, seen) = saboteur.finish();
        all_pids.extend(seen);
        all_pids.extend(pool.worker_pids());
        let dropped = Instant::now();
        drop(pool);
        assert!(
            dropped.elapsed() < LONG,
            "seed {seed:#x}: drop took too long"
        );
        for (id, err) in &outcome.failed {
            assert!(
                matches!(
                    err,
                    FutureError::TaskTimedOut { .. } | FutureError::WorkerDied(_)
                ),
                "seed {seed:#x}: task {id}: {err}"
            );
        }
        assert!(
            outcome.failed.len() <= hits,
            "seed {seed:#x}: {} failures for {hits} stops",
            outcome.failed.len()
        );
        assert!(outcome.bad_ok.is_empty(), "seed {seed:#x}: {outcome:?}");
        failures += outcome.failed.len();
        stops += hits;
        twice += outcome.twice.len();
    }
    eprintln!(
        "sigstop chaos: {rounds} rounds, {stops} stops, {failures} futures failed, {twice} ids \
         ran twice"
    );
    assert_eq!(twice, 0);
    assert_reaped(&all_pids, "sigstop chaos");
    assert_eq!(open_fds(), fds, "descriptors leaked");
}

/// Workers that close their socket and linger: each fails only its own task, and the manager
/// kills them without waiting on any of them, so the other worker's results keep flowing (a
/// manager that waited out each lingering process would need at least `closers × 200 ms`).
#[test]
fn workers_that_close_their_socket_fail_alone_without_stalling_the_pool() {
    let _serial = serial();
    let _dog = watchdog(HANG * 2, "socket-closing chaos");
    let rounds = stress_iterations(ROUNDS);
    let (mut wrong, mut all_closers, mut slowest) = (0, 0, Duration::ZERO);
    for round in 0..rounds {
        let seed = 0xC105_0000 + round as u64;
        let mut rng = Rng(seed);
        let dir = TempDir::new("chaos-close");
        let log = dir.path().join("log");
        let pool = new_pool(None, None);
        pool.start_workers().unwrap();
        let kinds = plan(&mut rng, 120, 0, 12);
        let closers = kinds.iter().filter(|k| **k == Kind::CloseSocket).count();
        let started = Instant::now();
        let outcome = run_round(&pool, &log, &kinds, 120);
        let took = started.elapsed();
        all_closers += closers;
        slowest = slowest.max(took);
        let pids = pool.worker_pids();
        drop(pool);
        for (&id, err) in &outcome.failed {
            if kinds[id as usize - 1] != Kind::CloseSocket
                || !matches!(err, FutureError::WorkerDied(_))
            {
                wrong += 1;
                eprintln!("seed {seed:#x}: task {id} failed: {err}");
            }
        }
        assert_eq!(outcome.failed.len(), closers, "seed {seed:#x}: {outcome:?}");
        assert!(
            outcome.twice.is_empty() && outcome.bad_ok.is_empty(),
            "{outcome:?}"
        );
        assert!(
            took < Duration::from_millis(200) * closers as u32,
            "seed {seed:#x}: {closers} lingering workers took {took:?}: the manager waited on them"
        );
        assert_reaped(&pids.into_iter().collect(), "socket-closing chaos");
    }
    eprintln!(
        "socket-closing chaos: {rounds} rounds, {all_closers} lingering workers, {wrong} futures \
         failed for another task, slowest round {slowest:?}"
    );
    assert_eq!(wrong, 0);
}

/// With a retry policy, repetition is exactly what the policy says: a poison task runs exactly
/// its attempts and then fails saying so, every other task runs once; under random SIGKILLs no
/// task runs more often than its attempts, and one that fails failed on every attempt.
#[test]
fn retries_run_a_task_exactly_as_often_as_the_policy_says() {
    let _serial = serial();
    let _dog = watchdog(HANG * 4, "retry chaos");
    let rounds = stress_iterations(ROUNDS);
    let policy = RetryPolicy::attempts(3);
    let (mut wrong, mut over, mut kills) = (0, 0, 0);
    for round in 0..rounds {
        let seed = 0x4E74_0000 + round as u64;
        let mut rng = Rng(seed);
        // Poison tasks: each runs exactly 3 times.
        let dir = TempDir::new("chaos-retry");
        let log = dir.path().join("log");
        let pool = new_pool_retrying(None, None, Some(policy));
        let kinds = plan(&mut rng, 60, 10, 0);
        let outcome = run_round(&pool, &log, &kinds, 1 + rng.below(30) as usize);
        drop(pool);
        let runs = executions(&log);
        for (i, kind) in kinds.iter().enumerate() {
            let id = i as u64 + 1;
            let ran = runs.get(&id).copied().unwrap_or(0);
            let ok = match (kind, outcome.failed.get(&id)) {
                (Kind::Poison, Some(FutureError::RetriesExhausted { attempts: 3, .. })) => ran == 3,
                (Kind::Poison, _) => false,
                (_, None) => ran == 1,
                (_, Some(_)) => false,
            };
            if !ok {
                wrong += 1;
                eprintln!(
                    "seed {seed:#x}: task {id} ({kind:?}) ran {ran} times: {:?}",
                    outcome.failed.get(&id)
                );
            }
        }
        // Random SIGKILLs: never more than 3 runs; a failure is 3 lost attempts.
        let dir = TempDir::new("chaos-retry-kill");
        let log = dir.path().join("log");
        let pool = Arc::new(new_pool_retrying(None, None, Some(policy)));
        pool.start_workers().unwrap();
        let saboteur = Saboteur::start(&pool, seed, libc::SIGKILL, 20_000, 4);
        let kinds = plan(&mut rng, 100, 0, 0);
        let outcome = run_round(&pool, &log, &kinds, 1 + rng.below(50) as usize);
        let (hits, _) = saboteur.finish();
        kills += hits;
        drop(pool);
        over += executions(&log).values().filter(|&&n| n > 3).count();
        for (id, err) in &outcome.failed {
            if !matches!(err, FutureError::RetriesExhausted { attempts: 3, .. }) {
                wrong += 1;
                eprintln!("seed {seed:#x}: task {id} under kills: {err}");
            }
        }
    }
    eprintln!(
        "retry chaos: {rounds} rounds, {wrong} tasks ran or failed other than the policy says, \
         {over} ids ran more than 3 times under {kills} kills"
    );
    assert_eq!((wrong, over), (0, 0));
}

/// A task under a token: sleeps `ms` on it (`listens`) or ignoring it, logging its start.
fn cancellable_task((log, id, ms, listens): (PathBuf, u64, u64, bool)) -> Result<u64, Cancelled> {
    log_start(&log, id);
    if listens {
        CancelToken::current().sleep(Duration::from_millis(ms))?;
    } else {
        std::thread::sleep(Duration::from_millis(ms));
    }
    Ok(id)
}

/// Tokens cancelled at random moments over bursts of tasks under them (some listening to their
/// token, some not, past a short grace period), with SIGKILLs besides: every future resolves;
/// a task ends cancelled only if its token was cancelled, and otherwise with its value or its
/// worker's death; nothing runs twice (no retry policy).
#[test]
fn cancelling_tokens_at_random_moments_ends_each_task_one_way_and_once() {
    let _serial = serial();
    let _dog = watchdog(HANG * 4, "cancel chaos");
    let fds = open_fds();
    let rounds = stress_iterations(ROUNDS);
    let (mut cancelled, mut ok, mut died, mut twice, mut wrong) = (0, 0, 0, 0, 0);
    let mut all_pids = HashSet::new();
    for round in 0..rounds {
        let seed = 0xCA4C_0000 + round as u64;
        let mut rng = Rng(seed);
        let dir = TempDir::new("chaos-cancel");
        let log = dir.path().join("log");
        let pool = Arc::new(
            ProcessPoolExecutor::builder()
                .max_workers(2)
                .cancel_grace(Duration::from_millis(30))
                .build()
                .unwrap(),
        );
        pool.start_workers().unwrap();
        let tokens: Vec<CancelToken> = (0..6).map(|_| CancelToken::new()).collect();
        let saboteur = Saboteur::start(&pool, seed, libc::SIGKILL, 200_000, 50);
        let mut futures = Vec::new();
        let mut round_died = 0;
        for id in 1..=80u64 {
            let t = rng.below(tokens.len() as u64) as usize;
            let ms = rng.below(20);
            let listens = rng.below(4) != 0;
            let f = pool
                .submit_cancellable(&tokens[t], cancellable_task, (log.clone(), id, ms, listens))
                .unwrap();
            futures.push((id, t, f));
            if rng.below(12) == 0 {
                tokens[rng.below(tokens.len() as u64) as usize].cancel();
            }
        }
        for (id, t, f) in &futures {
            match f.result(Some(LONG)) {
                Ok(&got) => {
                    assert_eq!(got, *id);
                    ok += 1;
                }
                Err(FutureError::Cancelled) => {
                    cancelled += 1;
                    if !tokens[*t].is_cancelled() || !f.cancelled() {
                        wrong += 1;
                        eprintln!("seed {seed:#x}: task {id} cancelled, its token was not");
                    }
                }
                Err(FutureError::WorkerDied(_)) => {
                    died += 1;
                    round_died += 1;
                }
                Err(e) => panic!("seed {seed:#x}: task {id}: {e}"),
            }
        }
        let (hits, seen) = saboteur.finish();
        all_pids.extend(seen);
        all_pids.extend(pool.worker_pids());
        drop(pool);
        // A cancel never shows as a death: only the saboteur's kills do.
        assert!(
            round_died <= hits,
            "seed {seed:#x}: {round_died} deaths for {hits} kills"
        );
        twice += executions(&log).values().filter(|&&n| n > 1).count();
    }
    eprintln!(
        "cancel chaos: {rounds} rounds, {ok} values, {cancelled} cancelled, {died} worker deaths, \
         {wrong} cancelled without their token, {twice} ids ran twice"
    );
    assert_eq!((wrong, twice), (0, 0));
    assert_reaped(&all_pids, "cancel chaos");
    assert_eq!(open_fds(), fds, "descriptors leaked");
}
