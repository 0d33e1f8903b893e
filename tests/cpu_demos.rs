//! The CPU-bound demos (`arcfour_futures`, `sha_futures`, `primes`): their jobs against known
//! answers, and every executor's results against the sequential run, on small sizes.
//!
//! The demos are written against the `Executor` trait (feature `process-pool`).
#![cfg(feature = "process-pool")]

#[path = "../examples/support/cpu_demo.rs"]
mod cpu_demo;

use concurrent_futures::ThreadPoolExecutor;
use cpu_demo::{
    arcfour, is_prime, random_bytes, run, run_sequential, sha256_hex, sweep, timed_run, verify,
    Arcfour, Clock, Column, Kind, Primes, Sha, Workload, PRIME_FIXTURE,
};
use std::time::Duration;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Deterministic Miller-Rabin for every `u64` (these 12 bases suffice below 3.3e24): an
/// independent oracle for `is_prime`, fast enough for the book's 16-digit numbers.
fn miller_rabin(n: u64) -> bool {
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    for p in BASES {
        if n % p == 0 {
            return n == p;
        }
    }
    let mul = |a: u64, b: u64| (u128::from(a) * u128::from(b) % u128::from(n)) as u64;
    let pow = |mut base: u64, mut exp: u64| {
        let mut acc = 1;
        while exp > 0 {
            if exp & 1 == 1 {
                acc = mul(acc, base);
            }
            base = mul(base, base);
            exp >>= 1;
        }
        acc
    };
    let (mut d, mut s) = (n - 1, 0);
    while d % 2 == 0 {
        d /= 2;
        s += 1;
    }
    BASES.iter().all(|&a| {
        let mut x = pow(a, d);
        if x == 1 || x == n - 1 {
            return true;
        }
        for _ in 1..s {
            x = mul(x, x);
            if x == n - 1 {
                return true;
            }
        }
        false
    })
}

/// Small versions of the three workloads: the same jobs and order, a fraction of the work.
fn small_arcfour() -> Arcfour {
    Arcfour {
        jobs: 6,
        size: 8 << 10,
    }
}

fn small_sha() -> Sha {
    Sha {
        jobs: 6,
        size: 64 << 10,
    }
}

/// Primes, a square of a prime (as hard as a prime for trial division) and easy composites,
/// all with square roots near 10^6 at most.
fn small_primes() -> Primes {
    Primes {
        numbers: vec![
            2,
            1_000_000_007,
            999_999_999_989,
            999_999_999_999,
            999_966_000_289, // 999_983^2
            10_000_000_019,
            10_000_000_000,
            1,
        ],
    }
}

/// Runs `workload` on a thread pool of 1 to 3 workers, directly through [`run`], and checks
/// each run against the sequential one.
fn matches_sequential_on_thread_pools<W: Workload>(workload: &W) {
    let (_, reference) = run_sequential(workload);
    assert_eq!(reference.len(), workload.inputs().len());
    for workers in 1..=3 {
        let pool = ThreadPoolExecutor::new(workers).unwrap();
        let mut seen = 0;
        let results = run(&pool, workload, |_| seen += 1).unwrap();
        assert_eq!(seen, reference.len(), "one callback per result");
        verify::<W>(Kind::Thread, workers, &reference, &results).unwrap();

        let (_, results) = timed_run(Kind::Thread, workers, Clock::Book, workload, |_| {}).unwrap();
        verify::<W>(Kind::Thread, workers, &reference, &results).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The jobs
// ---------------------------------------------------------------------------------------------

#[test]
fn arcfour_with_one_mixing_round_is_standard_rc4() {
    // The classic RC4 test vectors (key, plaintext, ciphertext).
    for (key, plain, cipher) in [
        ("Key", "Plaintext", "bbf316e8d940af0ad3"),
        ("Wiki", "pedia", "1021bf0420"),
        ("Secret", "Attack at dawn", "45a01f645fc35b383552544b9bf5"),
    ] {
        assert_eq!(
            arcfour(key.as_bytes(), plain.as_bytes(), 1),
            unhex(cipher),
            "key {key:?}"
        );
    }
}

#[test]
fn arcfour_decrypts_what_it_encrypts_with_the_books_twenty_rounds() {
    let clear = b"1234567890".repeat(1000); // the book's arcfour.py test(), smaller
    let cipher = arcfour(b"key", &clear, 20);
    assert_ne!(cipher, clear);
    assert_ne!(
        cipher,
        arcfour(b"key", &clear, 1),
        "the rounds change the key stream"
    );
    assert_eq!(arcfour(b"key", &cipher, 20), clear);
}

#[test]
fn arcfour_job_sizes_are_the_books() {
    assert_eq!(
        Arcfour::book().sizes(),
        [
            393_216, 371_370, 349_525, 327_680, 305_834, 283_989, 262_144, 240_299, 218_454,
            196_608, 174_763, 152_918
        ]
    );
}

#[test]
fn sha256_hex_matches_the_fips_180_vector() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn random_bytes_repeat_for_a_seed_and_differ_across_seeds() {
    for size in [0, 1, 7, 8, 9, 1000] {
        assert_eq!(random_bytes(size, 3).len(), size);
        assert_eq!(random_bytes(size, 3), random_bytes(size, 3));
    }
    assert_ne!(random_bytes(64, 0), random_bytes(64, 1));
    assert_eq!(random_bytes(9, 5)[..8], random_bytes(16, 5)[..8]);
}

#[test]
fn is_prime_agrees_with_a_sieve_below_100_000() {
    const N: usize = 100_000;
    let mut sieve = vec![true; N];
    sieve[0] = false;
    sieve[1] = false;
    for i in 2..N {
        if sieve[i] {
            for multiple in (i * i..N).step_by(i) {
                sieve[multiple] = false;
            }
        }
    }
    for (n, &prime) in sieve.iter().enumerate() {
        assert_eq!(is_prime(n as u64), prime, "{n}");
    }
}

#[test]
fn is_prime_agrees_with_miller_rabin_on_the_small_workload() {
    for n in small_primes().numbers {
        assert_eq!(is_prime(n), miller_rabin(n), "{n}");
    }
}

#[test]
fn book_fixture_holds_exactly_the_nine_primes_the_book_marks() {
    // `is_prime` itself takes seconds on these; Miller-Rabin checks the fixture's labels.
    let primes: Vec<u64> = PRIME_FIXTURE
        .into_iter()
        .filter(|&n| miller_rabin(n))
        .collect();
    assert_eq!(
        primes,
        [
            2,
            142_702_110_479_723,
            299_593_572_317_531,
            3_333_333_333_333_301,
            4_444_444_444_444_423,
            5_555_555_555_555_503,
            6_666_666_666_666_719,
            7_777_777_777_777_753,
            9_999_999_999_999_917,
        ]
    );
}

#[test]
fn primes_are_submitted_biggest_first_as_in_proc_pool() {
    let inputs = Primes::book().inputs();
    assert_eq!(inputs.len(), 20);
    assert_eq!(inputs[0], 9_999_999_999_999_999);
    assert_eq!(inputs[19], 2);
    assert!(inputs.windows(2).all(|w| w[0] > w[1]));
}

// ---------------------------------------------------------------------------------------------
// Every executor gives the sequential run's results
// ---------------------------------------------------------------------------------------------

#[test]
fn arcfour_demo_on_thread_pools_matches_the_sequential_run() {
    matches_sequential_on_thread_pools(&small_arcfour());
}

#[test]
fn sha_demo_on_thread_pools_matches_the_sequential_run() {
    matches_sequential_on_thread_pools(&small_sha());
}

#[test]
fn primes_demo_on_thread_pools_matches_the_sequential_run() {
    let workload = small_primes();
    matches_sequential_on_thread_pools(&workload);
    let (_, results) = run_sequential(&workload);
    for r in results {
        assert_eq!(r.prime, miller_rabin(r.n), "{}", r.n);
    }
}

#[test]
#[cfg(unix)]
fn process_executor_matches_the_sequential_run() {
    let workload = small_sha();
    let (_, reference) = run_sequential(&workload);
    let (_, results) = timed_run(Kind::Process, 2, Clock::Warm, &workload, |_| {}).unwrap();
    verify::<Sha>(Kind::Process, 2, &reference, &results).unwrap();
    let workload = small_primes();
    let (_, reference) = run_sequential(&workload);
    let (_, results) = timed_run(Kind::Process, 2, Clock::Book, &workload, |_| {}).unwrap();
    verify::<Primes>(Kind::Process, 2, &reference, &results).unwrap();
}

#[test]
fn sweep_fills_one_row_per_worker_count_and_checks_every_run() {
    let table = sweep(&small_arcfour(), 2, 2).unwrap();
    assert_eq!(table.jobs, 6);
    for columns in [&table.warm, &table.cold] {
        let (kind, Column { median, best }) = &columns[0];
        assert_eq!(*kind, Kind::Thread);
        assert_eq!((median.len(), best.len()), (2, 2));
        assert!(best.iter().zip(median).all(|(b, m)| b <= m));
        #[cfg(unix)]
        {
            let (kind, Column { median, best }) = &columns[1];
            assert_eq!(*kind, Kind::Process);
            assert_eq!((median.len(), best.len()), (2, 2));
        }
    }
    let text = table.to_string();
    assert!(text.contains("Warm pool"), "{text}");
    assert!(text.contains("as the book does"), "{text}");
    assert!(
        text.contains("| Workers | thread median | factor | thread best | factor |"),
        "{text}"
    );
    assert!(text.contains("|       1 |"), "{text}");
    assert!(text.contains("|       2 |"), "{text}");
    assert!(text.contains("1.00x"), "{text}");
    #[cfg(unix)]
    assert!(
        text.contains("| process median | factor | process best | factor |"),
        "{text}"
    );
}

#[test]
fn verify_names_the_first_job_that_differs() {
    let workload = small_sha();
    let (_, reference) = run_sequential(&workload);
    let mut altered = reference.clone();
    altered[4] = sha256_hex(b"something else");
    let err = verify::<Sha>(Kind::Thread, 2, &reference, &altered).unwrap_err();
    assert!(err.to_string().contains("job 4"), "{err}");
    assert!(verify::<Sha>(Kind::Thread, 2, &reference, &reference[..5]).is_err());
}

#[test]
fn median_takes_the_middle_or_the_mean_of_the_two_middles() {
    let ms = Duration::from_millis;
    assert_eq!(cpu_demo::median(&[ms(5), ms(1), ms(3)]), ms(3));
    assert_eq!(cpu_demo::median(&[ms(4), ms(1), ms(2), ms(100)]), ms(3));
}
