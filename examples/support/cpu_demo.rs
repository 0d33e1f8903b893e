//! The CPU-bound demos of *Fluent Python*: the first edition's `arcfour_futures.py` and
//! `sha_futures.py` (Appendix A, Table 17-1) and the second edition's prime checker
//! (`proc_pool.py`), with what they share: the jobs, one generic runner over the [`Executor`]
//! trait, the command line and the speedup table.
//!
//! Each job is a plain `fn(Input) -> Output` with serde inputs and outputs, so the same job runs
//! on the thread pool or on a process pool; [`timed_run`] is the one place that picks the pool.
//! The examples (`arcfour_futures`, `sha_futures`, `primes`), the tests (`tests/cpu_demos.rs`)
//! and the bench (`benches/cpu.rs`) include this file with `#[path = ...] mod cpu_demo;`.
//!
//! Where the jobs differ from the book: the book fills its arrays with `random.randrange`, a
//! new draw on every run. Here the bytes come from a seeded generator ([`random_bytes`], seed =
//! job number), so a run on any pool can be checked against the sequential run, byte for byte.

// Each includer uses a different part of this module.
#![allow(dead_code)]

use clap::builder::RangedU64ValueParser;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use concurrent_futures as cf;
use concurrent_futures::{as_completed, Executor, FutureError, Payload, SubmitError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// `size` pseudo-random bytes, the same for the same `seed` (SplitMix64, 8 bytes per step).
///
/// Stands in for the book's `bytearray(randrange(256) for i in range(size))`.
pub fn random_bytes(size: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; size];
    fill_random(&mut bytes, seed);
    bytes
}

/// Fills `bytes` with what [`random_bytes`] returns for the same length and seed.
pub fn fill_random(bytes: &mut [u8], seed: u64) {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut chunks = bytes.chunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&next().to_le_bytes());
    }
    let tail = chunks.into_remainder();
    let last = next().to_le_bytes();
    tail.copy_from_slice(&last[..tail.len()]);
}

/// 64-bit FNV-1a of `bytes`: a cheap fingerprint to compare ciphertexts across runs.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Lower-case hex, as Python's `hexdigest()`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// RC4 (`arcfour.py`, `arcfour_futures.py`)
// ---------------------------------------------------------------------------------------------

/// The book's key (`arcfour_futures.py`).
pub const ARCFOUR_KEY: &[u8] = b"'Twas brillig, and the slithy toves\nDid gyre";
/// Key-mixing rounds of the book's `arcfour` (CipherSaber-2 recommends 20).
pub const ARCFOUR_LOOPS: usize = 20;

/// RC4 with `loops` rounds of key mixing, a port of the book's `arcfour.py`: encrypting and
/// decrypting are the same operation. With `loops = 1` it is plain RC4.
///
/// # Panics
///
/// If `key` is empty or longer than 256 bytes (the Python version raises `IndexError` for a long
/// key and degenerates to an all-zero key box for an empty one).
pub fn arcfour(key: &[u8], in_bytes: &[u8], loops: usize) -> Vec<u8> {
    assert!(
        (1..=256).contains(&key.len()),
        "the RC4 key must be 1 to 256 bytes"
    );
    // The key box: the key, repeated until full.
    let kbox: [u8; 256] = std::array::from_fn(|i| key[i % key.len()]);
    // [1] initialize the S-box, then mix it `loops` times (CipherSaber-2).
    let mut sbox: [u8; 256] = std::array::from_fn(|i| i as u8);
    let mut j = 0u8;
    for _ in 0..loops {
        for i in 0..256 {
            j = j.wrapping_add(sbox[i]).wrapping_add(kbox[i]);
            sbox.swap(i, usize::from(j));
        }
    }
    // Main loop: [2] shuffle the S-box, [3] compute t, XOR the key stream byte.
    let (mut i, mut j) = (0u8, 0u8);
    in_bytes
        .iter()
        .map(|&car| {
            i = i.wrapping_add(1);
            j = j.wrapping_add(sbox[usize::from(i)]);
            sbox.swap(usize::from(i), usize::from(j));
            let t = sbox[usize::from(i)].wrapping_add(sbox[usize::from(j)]);
            car ^ sbox[usize::from(t)]
        })
        .collect()
}

/// One RC4 job: `size` bytes of seeded random data, encrypted with `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArcfourJob {
    /// Bytes to encrypt.
    pub size: usize,
    /// The key (the book passes it with every job too).
    pub key: Vec<u8>,
    /// Seed of the data.
    pub seed: u64,
}

/// What an RC4 job returns: its size, as the book's, plus a fingerprint of the ciphertext so
/// that two runs can be compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArcfourResult {
    /// Bytes encrypted and decrypted.
    pub size: usize,
    /// [`fnv1a`] of the ciphertext.
    pub cipher_fnv: u64,
}

/// The book's `arcfour_test`: encrypt, decrypt, check the round trip, return the size.
///
/// # Panics
///
/// `Failed arcfour_test` if decrypting does not give the input back (the book's `assert`); on
/// a pool that panic becomes the job's error.
pub fn arcfour_test(job: ArcfourJob) -> ArcfourResult {
    let in_text = random_bytes(job.size, job.seed);
    let cypher_text = arcfour(&job.key, &in_text, ARCFOUR_LOOPS);
    let out_text = arcfour(&job.key, &cypher_text, ARCFOUR_LOOPS);
    assert!(in_text == out_text, "Failed arcfour_test");
    ArcfourResult {
        size: job.size,
        cipher_fnv: fnv1a(&cypher_text),
    }
}

/// The book's RC4 workload: `jobs` arrays around `size` bytes, biggest first.
#[derive(Debug, Clone)]
pub struct Arcfour {
    /// Number of jobs (the book's `JOBS = 12`).
    pub jobs: usize,
    /// Middle size (the book's `SIZE = 2**18`).
    pub size: usize,
}

impl Arcfour {
    /// `JOBS = 12`, `SIZE = 2**18`: 12 arrays from 384 KB down to 149 KB, 3.125 MiB in all.
    pub fn book() -> Self {
        Self {
            jobs: 12,
            size: 1 << 18,
        }
    }

    /// The sizes in submission order: `SIZE + int(SIZE / JOBS * (i - JOBS/2))` for `i` from
    /// `JOBS` down to 1, as the book computes them (`as` truncates toward zero, like `int()`).
    pub fn sizes(&self) -> Vec<usize> {
        let (size, jobs) = (self.size as f64, self.jobs as f64);
        (1..=self.jobs)
            .rev()
            .map(|i| (size + (size / jobs * (i as f64 - jobs / 2.0)) as i64 as f64) as usize)
            .collect()
    }
}

impl Workload for Arcfour {
    type Input = ArcfourJob;
    type Output = ArcfourResult;
    type Check = ArcfourResult;

    fn describe(&self) -> String {
        let sizes = self.sizes();
        let kb = |size: Option<&usize>| size.map_or(0.0, |&s| s as f64 / 1024.0);
        format!(
            "RC4 encrypt + decrypt of {} arrays, {:.0} KB to {:.0} KB",
            self.jobs,
            kb(sizes.iter().min()),
            kb(sizes.iter().max())
        )
    }
    fn job(&self) -> fn(ArcfourJob) -> ArcfourResult {
        arcfour_test
    }
    fn inputs(&self) -> Vec<ArcfourJob> {
        self.sizes()
            .into_iter()
            .enumerate()
            .map(|(seed, size)| ArcfourJob {
                size,
                key: ARCFOUR_KEY.to_vec(),
                seed: seed as u64,
            })
            .collect()
    }
    fn collect(&self) -> Collect {
        Collect::AsCompleted
    }
    /// The book averaged 64 RC4 runs (16 per worker count).
    fn default_runs(&self) -> usize {
        16
    }
    fn check(output: &ArcfourResult) -> ArcfourResult {
        output.clone()
    }
    fn print_result(&self, output: &ArcfourResult) {
        println!("{:.1} KB", output.size as f64 / 1024.0);
    }
}

// ---------------------------------------------------------------------------------------------
// SHA-256 (`sha_futures.py`)
// ---------------------------------------------------------------------------------------------

/// The SHA-256 of `data` as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// One SHA-256 job: hash `size` bytes of seeded random data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShaJob {
    /// Bytes to hash.
    pub size: usize,
    /// Seed of the data.
    pub seed: u64,
}

std::thread_local! {
    /// Each worker's array for [`sha`], reused from job to job.
    static SHA_ARRAY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The book's `sha(size)`: make the data, return its SHA-256 hex digest.
///
/// The array is one buffer per worker (thread or process), refilled by every job, rather than
/// a new `Vec` per job: with a fresh 1 MiB allocation each time, glibc's malloc sometimes
/// hands the pages back to the kernel on free (it trims a thread's arena when its top grows
/// past a threshold) and the next job faults all 256 of them in again, so a 2-thread run
/// measured anywhere from 7 to 14 ms. The jobs are here to measure hashing, not that.
pub fn sha(job: ShaJob) -> String {
    SHA_ARRAY.with(|array| {
        let mut array = array.borrow_mut();
        array.resize(job.size, 0);
        fill_random(&mut array, job.seed);
        sha256_hex(&array)
    })
}

/// The book's SHA workload: `jobs` arrays of `size` bytes.
#[derive(Debug, Clone)]
pub struct Sha {
    /// Number of jobs (the book's `JOBS = 12`).
    pub jobs: usize,
    /// Bytes per job (the book's `SIZE = 2**20`).
    pub size: usize,
}

impl Sha {
    /// `JOBS = 12`, `SIZE = 2**20`: 12 arrays of 1 MiB.
    pub fn book() -> Self {
        Self {
            jobs: 12,
            size: 1 << 20,
        }
    }
}

impl Workload for Sha {
    type Input = ShaJob;
    type Output = String;
    type Check = String;

    fn describe(&self) -> String {
        format!(
            "SHA-256 of {} arrays of {} KiB",
            self.jobs,
            self.size as f64 / 1024.0
        )
    }
    fn job(&self) -> fn(ShaJob) -> String {
        sha
    }
    fn inputs(&self) -> Vec<ShaJob> {
        (0..self.jobs)
            .map(|seed| ShaJob {
                size: self.size,
                seed: seed as u64,
            })
            .collect()
    }
    fn collect(&self) -> Collect {
        Collect::AsCompleted
    }
    /// The book averaged 48 SHA runs (12 per worker count).
    fn default_runs(&self) -> usize {
        12
    }
    fn check(output: &String) -> String {
        output.clone()
    }
    fn print_result(&self, output: &String) {
        println!("{output}");
    }
}

// ---------------------------------------------------------------------------------------------
// Primes (second edition, `primes.py` and `proc_pool.py`)
// ---------------------------------------------------------------------------------------------

/// The second edition's `PRIME_FIXTURE`: 20 numbers, 9 of them prime.
pub const PRIME_FIXTURE: [u64; 20] = [
    2,
    142_702_110_479_723,
    299_593_572_317_531,
    3_333_333_333_333_301,
    3_333_333_333_333_333,
    3_333_335_652_092_209,
    4_444_444_444_444_423,
    4_444_444_444_444_444,
    4_444_444_488_888_889,
    5_555_553_133_149_889,
    5_555_555_555_555_503,
    5_555_555_555_555_555,
    6_666_666_666_666_666,
    6_666_666_666_666_719,
    6_666_667_141_414_921,
    7_777_777_536_340_681,
    7_777_777_777_777_753,
    7_777_777_777_777_777,
    9_999_999_999_999_917,
    9_999_999_999_999_999,
];

/// The book's `is_prime`: trial division by every odd number up to the square root.
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n == 2 {
        return true;
    }
    if n % 2 == 0 {
        return false;
    }
    let root = n.isqrt();
    (3..=root).step_by(2).all(|i| n % i != 0)
}

/// The book's `PrimeResult`: the number, whether it is prime, and how long the check took in
/// the worker.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrimeResult {
    /// The number checked.
    pub n: u64,
    /// Whether it is prime.
    pub prime: bool,
    /// Seconds the check took.
    pub elapsed: f64,
}

/// The book's `check(n)`: `is_prime` timed.
pub fn check(n: u64) -> PrimeResult {
    let t0 = Instant::now();
    let prime = is_prime(n);
    PrimeResult {
        n,
        prime,
        elapsed: t0.elapsed().as_secs_f64(),
    }
}

/// The book's primes workload: `executor.map(check, sorted(NUMBERS, reverse=True))`.
///
/// The descending order is the book's, and it matters here: trial division costs about
/// `sqrt(n) / 2` steps for a prime or a square of a prime, so the biggest numbers are the
/// longest jobs, and starting them first keeps the last worker from finishing alone.
#[derive(Debug, Clone)]
pub struct Primes {
    /// The numbers to check.
    pub numbers: Vec<u64>,
}

impl Primes {
    /// The 20 numbers of `PRIME_FIXTURE`.
    pub fn book() -> Self {
        Self {
            numbers: PRIME_FIXTURE.to_vec(),
        }
    }
}

impl Workload for Primes {
    type Input = u64;
    type Output = PrimeResult;
    type Check = (u64, bool);

    fn describe(&self) -> String {
        format!("is_prime of {} numbers, biggest first", self.numbers.len())
    }
    fn job(&self) -> fn(u64) -> PrimeResult {
        check
    }
    fn inputs(&self) -> Vec<u64> {
        let mut numbers = self.numbers.clone();
        numbers.sort_unstable_by(|a, b| b.cmp(a));
        numbers
    }
    fn collect(&self) -> Collect {
        Collect::Map
    }
    /// The book's log has 13 runs per process count; 5 keeps a sweep near half a minute.
    fn default_runs(&self) -> usize {
        5
    }
    fn check(output: &PrimeResult) -> (u64, bool) {
        (output.n, output.prime)
    }
    fn print_start(&self, kind: Kind, workers: usize) {
        println!(
            "Checking {} numbers with {workers} workers ({kind} pool):",
            self.numbers.len()
        );
    }
    fn print_result(&self, r: &PrimeResult) {
        let label = if r.prime { 'P' } else { ' ' };
        println!("{:16}  {label} {:9.6}s", r.n, r.elapsed);
    }
    fn print_end(&self, _kind: Kind, _workers: usize, elapsed: Duration) {
        println!("Total time: {:.2}s", elapsed.as_secs_f64());
    }
}

// ---------------------------------------------------------------------------------------------
// Running a workload on any executor
// ---------------------------------------------------------------------------------------------

/// How a workload hands its jobs to the executor and gets the results back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collect {
    /// `submit` each job, then `as_completed`: results printed as they finish (the first
    /// edition's `arcfour_futures.py` and `sha_futures.py`).
    AsCompleted,
    /// `executor.map`: results printed in input order (the second edition's `proc_pool.py`).
    Map,
}

/// A demo's jobs: what to run, on what, and how to print it.
pub trait Workload {
    /// One job's argument.
    type Input: Payload + Clone;
    /// One job's result (`Sync` because `run` reads it with `result()`, from the futures that
    /// `as_completed` hands back while the map of futures keeps its own handles).
    type Output: Payload + Clone + Sync;
    /// The part of a result that must be the same on every run (not timings).
    type Check: PartialEq + fmt::Debug;

    /// One line saying what the jobs do.
    fn describe(&self) -> String;
    /// The job function (a plain `fn`, so it can run in another process).
    fn job(&self) -> fn(Self::Input) -> Self::Output;
    /// Every job's argument, in submission order.
    fn inputs(&self) -> Vec<Self::Input>;
    /// `submit` + `as_completed`, or `map`.
    fn collect(&self) -> Collect;
    /// Timed runs per row of a sweep when `--runs` is not given.
    fn default_runs(&self) -> usize;
    /// What [`Workload::Check`] is of a result.
    fn check(output: &Self::Output) -> Self::Check;

    /// Printed before a single run.
    fn print_start(&self, _kind: Kind, _workers: usize) {}
    /// Printed for each result of a single run.
    fn print_result(&self, output: &Self::Output);
    /// Printed after a single run (the book's `STATUS` line by default).
    fn print_end(&self, kind: Kind, workers: usize, elapsed: Duration) {
        println!(
            "{workers} workers ({kind} pool), elapsed time: {:.3}s",
            elapsed.as_secs_f64()
        );
    }
}

/// Why a demo run failed.
#[derive(Debug)]
pub enum DemoError {
    /// The pool could not be created.
    Pool(String),
    /// A job could not be submitted.
    Submit(SubmitError),
    /// A job failed (its panic, or a broken pool).
    Job(FutureError),
    /// A run's results differ from the sequential run's.
    Mismatch {
        /// The executor of the run.
        kind: Kind,
        /// Its worker count.
        workers: usize,
        /// What differs.
        detail: String,
    },
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pool(e) => write!(f, "cannot create the pool: {e}"),
            Self::Submit(e) => write!(f, "cannot submit: {e}"),
            Self::Job(e) => write!(f, "a job failed: {e}"),
            Self::Mismatch {
                kind,
                workers,
                detail,
            } => write!(
                f,
                "{kind} pool, {workers} workers: not the sequential run's results: {detail}"
            ),
        }
    }
}

impl From<SubmitError> for DemoError {
    fn from(e: SubmitError) -> Self {
        Self::Submit(e)
    }
}

impl From<FutureError> for DemoError {
    fn from(e: FutureError) -> Self {
        Self::Job(e)
    }
}

/// Runs every job of `workload` on `ex`, calling `on_result` for each result as the workload's
/// [`Collect`] delivers it, and returns the results in submission order.
///
/// # Errors
///
/// The first submit error or failed job.
pub fn run<E: Executor, W: Workload>(
    ex: &E,
    workload: &W,
    mut on_result: impl FnMut(&W::Output),
) -> Result<Vec<W::Output>, DemoError> {
    let job = workload.job();
    let inputs = workload.inputs();
    match workload.collect() {
        Collect::AsCompleted => {
            let mut to_do = HashMap::with_capacity(inputs.len());
            for (i, input) in inputs.into_iter().enumerate() {
                to_do.insert(ex.submit(job, input)?, i);
            }
            let mut results = vec![None; to_do.len()];
            for future in as_completed(to_do.keys(), None) {
                let future = future.expect("as_completed without a timeout never times out");
                let value = future.result(None)?;
                on_result(value);
                results[to_do[&future]] = Some(value.clone());
            }
            Ok(results
                .into_iter()
                .map(|r| r.expect("as_completed yields every future"))
                .collect())
        }
        Collect::Map => ex
            .map(job, inputs)
            .map(|result| {
                let value = result?;
                on_result(&value);
                Ok(value)
            })
            .collect(),
    }
}

/// The jobs of `workload` in a plain loop on this thread: the reference results and time.
pub fn run_sequential<W: Workload>(workload: &W) -> (Duration, Vec<W::Output>) {
    let job = workload.job();
    let start = Instant::now();
    let results = workload.inputs().into_iter().map(job).collect();
    (start.elapsed(), results)
}

/// Which pool runs the jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// The thread pool (ThreadPoolExecutor).
    Thread,
    /// The process pool (ProcessPoolExecutor; Unix).
    #[cfg(unix)]
    Process,
    /// The other ranks of an MPI job (MpiPoolExecutor; feature `mpi`, run under `mpirun -n N`,
    /// which sets the worker count: N - 1).
    #[cfg(all(unix, feature = "mpi"))]
    Mpi,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Thread => "thread",
            #[cfg(unix)]
            Self::Process => "process",
            #[cfg(all(unix, feature = "mpi"))]
            Self::Mpi => "mpi",
        })
    }
}

/// What the clock of a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// As the book times a run: from creating the pool to its shutdown once every result is
    /// in. Workers start on demand, so this includes starting them.
    Book,
    /// A long-lived pool's cost on the work: the workers are started first
    /// (`Executor::start_workers`) and each runs a job or two untimed (a pass over the last
    /// `2 × workers` inputs), then the clock covers the first submit to the last result. It
    /// leaves out a new process's first-touch costs (its first 1 MiB buffers fault their pages
    /// in, its code is paged in).
    Warm,
}

/// Creates a pool with `create`, runs `workload` on it as `clock` says, shuts it down (waiting,
/// as the book's `with` block) and returns the clock's time.
fn run_pool<E: Executor, X: fmt::Display, W: Workload>(
    create: impl FnOnce() -> Result<E, X>,
    workers: usize,
    clock: Clock,
    workload: &W,
    on_result: impl FnMut(&W::Output),
) -> Result<(Duration, Vec<W::Output>), DemoError> {
    let pool_error = |e: &dyn fmt::Display| DemoError::Pool(e.to_string());
    let created = Instant::now();
    let pool = create().map_err(|e| pool_error(&e))?;
    let started = match clock {
        Clock::Book => created,
        Clock::Warm => {
            pool.start_workers().map_err(|e| pool_error(&e))?;
            let warmup: Vec<W::Input> = workload
                .inputs()
                .into_iter()
                .rev()
                .take(2 * workers)
                .collect();
            for result in pool.map(workload.job(), warmup) {
                result.map_err(|e| pool_error(&e))?;
            }
            Instant::now()
        }
    };
    let results = run(&pool, workload, on_result);
    let last_result = started.elapsed();
    pool.shutdown(true, false);
    let elapsed = match clock {
        Clock::Book => created.elapsed(),
        Clock::Warm => last_result,
    };
    Ok((elapsed, results?))
}

/// One run of `workload` on a new pool of `kind` with `workers` workers, timed as `clock` says.
///
/// # Errors
///
/// See [`DemoError`].
pub fn timed_run<W: Workload>(
    kind: Kind,
    workers: usize,
    clock: Clock,
    workload: &W,
    on_result: impl FnMut(&W::Output),
) -> Result<(Duration, Vec<W::Output>), DemoError> {
    match kind {
        // The executor choice is this one line; everything else is the same code.
        Kind::Thread => run_pool(
            || cf::ThreadPoolExecutor::new(workers),
            workers,
            clock,
            workload,
            on_result,
        ),
        #[cfg(unix)]
        Kind::Process => run_pool(
            || cf::ProcessPoolExecutor::new(workers),
            workers,
            clock,
            workload,
            on_result,
        ),
        #[cfg(all(unix, feature = "mpi"))]
        Kind::Mpi => run_pool(
            cf::MpiPoolExecutor::new,
            workers,
            clock,
            workload,
            on_result,
        ),
    }
}

/// Checks `results` against the sequential run's.
///
/// # Errors
///
/// [`DemoError::Mismatch`] naming the first job that differs.
pub fn verify<W: Workload>(
    kind: Kind,
    workers: usize,
    reference: &[W::Output],
    results: &[W::Output],
) -> Result<(), DemoError> {
    let mismatch = |detail: String| DemoError::Mismatch {
        kind,
        workers,
        detail,
    };
    if reference.len() != results.len() {
        return Err(mismatch(format!(
            "{} results instead of {}",
            results.len(),
            reference.len()
        )));
    }
    for (i, (want, got)) in reference.iter().zip(results).enumerate() {
        let (want, got) = (W::check(want), W::check(got));
        if want != got {
            return Err(mismatch(format!("job {i}: {got:?} instead of {want:?}")));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The sweep: the book's Table 17-1
// ---------------------------------------------------------------------------------------------

/// The median of some durations (the mean of the middle two for an even count).
pub fn median(times: &[Duration]) -> Duration {
    assert!(!times.is_empty(), "median of no times");
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2
    }
}

/// One executor's columns of the table, per worker count 1..=N: the median time and the best
/// (shortest) time of the runs.
///
/// Both are shown because this kind of machine is shared: a run is slowed by whatever else
/// the host runs, never sped up, so the spread above the best run is interference, not the
/// executor. Python's `timeit` documents the same reasoning for reporting the minimum.
#[derive(Debug, Clone)]
pub struct Column {
    /// Median time per worker count.
    pub median: Vec<Duration>,
    /// Shortest time per worker count.
    pub best: Vec<Duration>,
}

impl Column {
    fn of(cells: &[&Vec<Duration>]) -> Self {
        Column {
            median: cells.iter().map(|t| median(t)).collect(),
            best: cells
                .iter()
                .map(|t| *t.iter().min().expect("every cell has runs"))
                .collect(),
        }
    }
}

/// What a sweep measured.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// What the jobs do.
    pub describe: String,
    /// Number of jobs.
    pub jobs: usize,
    /// Timed runs per cell.
    pub runs: usize,
    /// Median time of the plain loop.
    pub sequential: Duration,
    /// One column per executor, in [`SWEEP_KINDS`] order: runs on started, warmed-up workers
    /// ([`Clock::Warm`]).
    pub warm: Vec<(Kind, Column)>,
    /// The same, with separate runs timed as the book does ([`Clock::Book`]).
    pub cold: Vec<(Kind, Column)>,
}

/// The executors of the table, in column order.
#[cfg(unix)]
pub const SWEEP_KINDS: [Kind; 2] = [Kind::Thread, Kind::Process];
/// The executors of the table: no process pool off Unix.
#[cfg(not(unix))]
pub const SWEEP_KINDS: [Kind; 1] = [Kind::Thread];

/// Runs `workload` sequentially and on every executor with 1..=`max_workers` workers, `runs`
/// times each, and checks every run's results against the sequential run.
///
/// The runs go round-robin (one run of every configuration, then the next round), so that a
/// burst of load on a shared machine hits every row rather than one.
///
/// # Errors
///
/// A failed run or a mismatch with the sequential results.
pub fn sweep<W: Workload>(
    workload: &W,
    max_workers: usize,
    runs: usize,
) -> Result<Sweep, DemoError> {
    let (_, reference) = run_sequential(workload);
    let mut sequential = Vec::with_capacity(runs);
    // Per executor and worker count: (warm times, cold times).
    type Cell = (Vec<Duration>, Vec<Duration>);
    type Cells = Vec<Cell>;
    let mut times: Vec<(Kind, Cells)> = SWEEP_KINDS
        .iter()
        .map(|&kind| (kind, vec![(Vec::new(), Vec::new()); max_workers]))
        .collect();
    for _ in 0..runs {
        sequential.push(run_sequential(workload).0);
        for (kind, per_workers) in &mut times {
            for (w, (warm, cold)) in per_workers.iter_mut().enumerate() {
                for (clock, times) in [(Clock::Warm, &mut *warm), (Clock::Book, &mut *cold)] {
                    let (elapsed, results) = timed_run(*kind, w + 1, clock, workload, |_| {})?;
                    verify::<W>(*kind, w + 1, &reference, &results)?;
                    times.push(elapsed);
                }
            }
        }
    }
    let columns = |pick: fn(&Cell) -> &Vec<Duration>| {
        times
            .iter()
            .map(|(kind, cells)| {
                let cells: Vec<_> = cells.iter().map(pick).collect();
                (*kind, Column::of(&cells))
            })
            .collect::<Vec<_>>()
    };
    Ok(Sweep {
        describe: workload.describe(),
        jobs: reference.len(),
        runs,
        sequential: median(&sequential),
        warm: columns(|c| &c.0),
        cold: columns(|c| &c.1),
    })
}

/// `11.48s` as in the book from a second up, `14.2ms` below.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2}s")
    } else {
        format!("{:.1}ms", s * 1e3)
    }
}

/// One table in the layout of the book's Table 17-1 (workers, then time and factor per
/// column), as Markdown: for each executor the median time, its factor, the best time and
/// its factor.
fn table(f: &mut fmt::Formatter<'_>, columns: &[(Kind, Column)]) -> fmt::Result {
    let rows = columns.first().map_or(0, |(_, c)| c.median.len());
    let headers: Vec<String> = columns
        .iter()
        .flat_map(|(kind, _)| {
            [
                format!("{kind} median"),
                "factor".to_string(),
                format!("{kind} best"),
                "factor".to_string(),
            ]
        })
        .collect();
    let mut line = String::from("| Workers |");
    let mut rule = String::from("|--------:|");
    for h in &headers {
        line += &format!(" {h} |");
        rule += &format!("{}:|", "-".repeat(h.len() + 1));
    }
    writeln!(f, "{line}")?;
    writeln!(f, "{rule}")?;
    for w in 0..rows {
        let mut cells = Vec::with_capacity(headers.len());
        for (_, column) in columns {
            for t in [&column.median, &column.best] {
                cells.push(seconds(t[w]));
                cells.push(format!("{:.2}x", t[0].as_secs_f64() / t[w].as_secs_f64()));
            }
        }
        let mut line = format!("| {:>7} |", w + 1);
        for (cell, h) in cells.iter().zip(&headers) {
            line += &format!(" {cell:>width$} |", width = h.len());
        }
        writeln!(f, "{line}")?;
    }
    Ok(())
}

impl fmt::Display for Sweep {
    /// Both tables of the sweep, as Markdown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} runs per row, each on a new pool; the median and the best of them",
            self.describe, self.runs
        )?;
        writeln!(
            f,
            "sequential (a plain loop, no executor): {}",
            seconds(self.sequential)
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "Warm pool: workers started (Executor::start_workers) and each ran a job or two \
             before the clock; timed from the first submit to the last result:"
        )?;
        writeln!(f)?;
        table(f, &self.warm)?;
        writeln!(f)?;
        writeln!(
            f,
            "Timed as the book does, from creating the pool to its shutdown (starting the \
             workers included; separate runs, interleaved with the warm ones):"
        )?;
        writeln!(f)?;
        table(f, &self.cold)?;
        writeln!(f)?;
        write!(
            f,
            "Every run returned the sequential run's {} results.",
            self.jobs
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

/// The demos' shared options.
#[derive(Debug, Parser)]
pub struct Cli {
    /// Which pool runs the jobs (ignored by --sweep, which runs both).
    #[arg(long, value_enum, default_value_t = Kind::Thread)]
    pub executor: Kind,
    /// Workers in the pool; with --sweep, the largest count of the table [default: number of
    /// CPUs].
    #[arg(long, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub workers: Option<usize>,
    /// Print the book's table instead: 1..=N workers, time and speedup over one worker, for
    /// both executors, every run checked against the sequential run.
    #[arg(long)]
    pub sweep: bool,
    /// With --sweep: timed runs per row, the table showing the median [default: as many per
    /// worker count as the book's timing logs have: 16 for RC4, 12 for SHA; 5 for primes].
    #[arg(long, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub runs: Option<usize>,
}

/// The number of CPUs (1 if unknown).
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A demo's `main`: parses the command line, then runs `workload` once as the book's script
/// does (printing each result and the status line) or, with `--sweep`, prints the table.
/// Exits with 2 for an executor that does not exist yet, 1 for any other failure.
pub fn main<W: Workload>(name: &'static str, about: &'static str, workload: W) {
    let matches = Cli::command().name(name).about(about).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let workers = cli.workers.unwrap_or_else(cpus);
    let outcome = if cli.sweep {
        let runs = cli.runs.unwrap_or_else(|| workload.default_runs());
        sweep(&workload, workers, runs).map(|table| println!("{table}"))
    } else {
        workload.print_start(cli.executor, workers);
        timed_run(cli.executor, workers, Clock::Book, &workload, |r| {
            workload.print_result(r)
        })
        .map(|(elapsed, _)| workload.print_end(cli.executor, workers, elapsed))
    };
    if let Err(e) = outcome {
        eprintln!("{name}: {e}");
        std::process::exit(1);
    }
}
