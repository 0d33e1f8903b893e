//! MpiPoolExecutor under `mpirun --oversubscribe -n 3` (feature `mpi`; no libtest harness).
//!
//! Run by `cargo test --features mpi --test mpi`: started outside MPI, this binary launches
//! itself under `mpirun` and checks the job's outcome, then launches the death scenarios and
//! checks that the job ends (non-zero, with Open MPI's message) instead of hanging, and the
//! frozen-rank scenario: a rank stopped by `SIGSTOP` is declared lost within the liveness
//! timeout, its task fails naming rank and host, a longer task on the other rank finishes,
//! and rank 0 ends the job with error code 69. Under `mpirun`, rank 0 runs the checks named on
//! the command line; ranks 1 and 2 never reach `main` (the crate's entry hook makes them serve
//! tasks).
//!
//! ```text
//! OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
//!   mpirun --oversubscribe -n 3 target/debug/deps/mpi-<hash> checks
//! ```
//!
//! Two more modes run across hosts, under `.ci/mpi-multihost.sh` (three network-namespace
//! hosts, one rank each): `hosts H0 H1 H2` (every check above, plus each rank's host, named in
//! errors) and `lost-host H2` (a long task on each rank; the script cuts host H2's link once
//! the tasks run; the task there must fail naming H2, the other one must finish).

use concurrent_futures::{
    as_completed, wait, CancelToken, Cancelled, Executor, FutureError, MapOptions, MpiPoolError,
    MpiPoolExecutor, ProcessPoolExecutor, ReturnWhen, SubmitError, ThreadPoolExecutor, WhenFull,
};
use std::collections::BTreeSet;
use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const RANKS: u32 = 3;
const PASSED: &str = "all MPI checks passed";

// ---------------------------------------------------------------------------------------------
// Task functions: they run on ranks 1 and 2.
// ---------------------------------------------------------------------------------------------

fn rank_of(_: ()) -> u32 {
    MpiPoolExecutor::rank().expect("tasks run on an MPI rank")
}

fn square(n: u64) -> u64 {
    n * n
}

fn three_is_out(n: u32) -> u32 {
    if n == 3 {
        panic!("three is right out");
    }
    n
}

fn nap_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// This process's CPU time (user + system) in seconds, and its rank.
fn cpu_after_nap(ms: u64) -> (u32, f64) {
    std::thread::sleep(Duration::from_millis(ms));
    (rank_of(()), cpu_seconds())
}

fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `rusage` into the buffer we own; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn set_greeting(greeting: String) {
    std::env::set_var("CF_MPI_GREETING", greeting);
}

fn greeting(_: ()) -> String {
    std::env::var("CF_MPI_GREETING").unwrap_or_default()
}

/// This machine's host name.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(rc, 0, "gethostname failed");
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// `default` rounds times `CF_TEST_STRESS` (a multiplier, 1 if unset), as in `tests/common`.
fn stress_rounds(default: usize) -> usize {
    let stress = std::env::var("CF_TEST_STRESS").ok();
    default * stress.and_then(|v| v.parse().ok()).unwrap_or(1)
}

/// Each rank's host when the job spans hosts (mode `hosts`); else every rank runs here.
static HOSTS: OnceLock<Vec<String>> = OnceLock::new();

fn host_of_rank(rank: u32) -> String {
    HOSTS
        .get()
        .map_or_else(host_name, |hosts| hosts[rank as usize].clone())
}

/// Naps, then says where it ran.
fn nap_where(ms: u64) -> (u32, String) {
    std::thread::sleep(Duration::from_millis(ms));
    (rank_of(()), host_name())
}

/// Stops this rank's whole process (its communication thread too): a frozen rank.
/// Sleeps on its token until it is cancelled (at most a minute).
fn sleep_on_token(_: ()) -> Result<u32, Cancelled> {
    CancelToken::current().sleep(Duration::from_secs(60))?;
    Ok(0)
}

fn freeze_rank(_: ()) {
    // SAFETY: raise has no preconditions; SIGSTOP stops the process until SIGCONT or SIGKILL.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
}

fn failing_init(_: ()) {
    panic!("no greeting today");
}

fn abort_rank(_: ()) {
    std::process::abort();
}

fn exit_rank(code: i32) {
    std::process::exit(code);
}

fn sum_of_squares(ex: &impl Executor, n: u64) -> u64 {
    ex.map(square, 0..n).map(Result::unwrap).sum()
}

// ---------------------------------------------------------------------------------------------
// Rank 0
// ---------------------------------------------------------------------------------------------

fn check(name: &str, f: fn()) {
    let start = Instant::now();
    f();
    println!("ok {name} ({:.0?})", start.elapsed());
}

fn checks() {
    check("results run on the worker ranks", || {
        let pool = MpiPoolExecutor::new().unwrap();
        assert_eq!(pool.max_workers(), (RANKS - 1) as usize);
        let f = pool.submit(square, 12).unwrap();
        assert_eq!(f.result(None), Ok(&144));
        // Tasks that nap long enough are spread over both ranks.
        let naps: Vec<_> = (0..4).map(|_| pool.submit(nap_ms, 50).unwrap()).collect();
        let ranks: BTreeSet<u32> = pool
            .map(rank_of, vec![(); 20])
            .map(Result::unwrap)
            .collect();
        assert!(ranks.iter().all(|r| (1..RANKS).contains(r)), "{ranks:?}");
        let spread: BTreeSet<u32> = pool
            .map(|ms: u64| (nap_ms(ms), rank_of(())).1, [60, 60, 60, 60])
            .map(Result::unwrap)
            .collect();
        assert_eq!(spread, (1..RANKS).collect(), "naps ran on {spread:?}");
        for n in naps {
            assert_eq!(n.result(None), Ok(&50));
        }
    });

    check("map keeps input order, with and without chunks", || {
        let pool = MpiPoolExecutor::new().unwrap();
        let want: Vec<u64> = (0..2000u64).map(|n| n * n).collect();
        for chunksize in [1, 7, 500] {
            let got: Vec<u64> = pool
                .map_with(square, 0..2000u64, MapOptions::new().chunksize(chunksize))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(got, want, "chunksize {chunksize}");
        }
        let buffered: Vec<u64> = pool
            .map_with(square, 0.., MapOptions::new().buffersize(8))
            .unwrap()
            .take(100)
            .map(Result::unwrap)
            .collect();
        assert_eq!(buffered, want[..100]);
        assert_eq!(sum_of_squares(&pool, 100), 328_350);
    });

    check("a panic is that future's error, the ranks serve on", || {
        let pool = MpiPoolExecutor::new().unwrap();
        let err = pool
            .submit(three_is_out, 3)
            .unwrap()
            .result(None)
            .unwrap_err();
        assert_eq!(err.panic_message(), Some("three is right out"), "{err}");
        match &err {
            FutureError::Panicked { location, .. } => {
                let loc = location.as_ref().expect("the location crosses too");
                assert!(loc.file.ends_with("mpi.rs"), "{loc}");
            }
            other => panic!("{other:?}"),
        }
        for chunksize in [1, 4] {
            let out: Vec<_> = pool
                .map_with(three_is_out, 0..6, MapOptions::new().chunksize(chunksize))
                .unwrap()
                .collect();
            for (i, r) in out.iter().enumerate() {
                if i == 3 {
                    assert_eq!(
                        r.as_ref().unwrap_err().panic_message(),
                        Some("three is right out")
                    );
                } else {
                    assert_eq!(r, &Ok(i as u32));
                }
            }
        }
        assert_eq!(pool.submit(square, 5).unwrap().result(None), Ok(&25));
    });

    check(
        "as_completed and wait over thread, process and MPI futures",
        || {
            let threads = ThreadPoolExecutor::new(3).unwrap();
            let processes = ProcessPoolExecutor::new(2).unwrap();
            let mpi = MpiPoolExecutor::new().unwrap();
            let mut futures = Vec::new();
            for ms in [300, 10] {
                futures.push(Executor::submit(&threads, nap_ms, ms).unwrap());
                futures.push(processes.submit(nap_ms, ms + 1).unwrap());
                futures.push(mpi.submit(nap_ms, ms + 2).unwrap());
            }
            let order: Vec<u64> = as_completed(futures.clone(), Some(Duration::from_secs(60)))
                .map(|f| *f.unwrap().result(None).unwrap())
                .collect();
            assert_eq!(order.len(), 6);
            let (fast, slow) = order.split_at(3);
            assert!(fast.iter().all(|&ms| ms < 100), "{order:?}");
            assert!(slow.iter().all(|&ms| ms >= 300), "{order:?}");
            let done = wait(futures, None, ReturnWhen::AllCompleted);
            assert_eq!(done.done.len(), 6);
            assert!(done.not_done.is_empty());
        },
    );

    check("shutdown: waits, refuses, cancels", || {
        let pool = MpiPoolExecutor::new().unwrap();
        assert_eq!(MpiPoolExecutor::new().unwrap_err(), MpiPoolError::Busy);
        let naps: Vec<_> = (0..20).map(|_| pool.submit(nap_ms, 20).unwrap()).collect();
        pool.shutdown(true, true);
        assert!(naps.iter().all(|f| f.done()));
        let cancelled = naps.iter().filter(|f| f.cancelled()).count();
        assert!(cancelled > 0, "nothing was cancelled");
        for f in naps.iter().filter(|f| !f.cancelled()) {
            assert_eq!(f.result(None), Ok(&20));
        }
        assert_eq!(pool.submit(square, 1).unwrap_err(), SubmitError::Shutdown);
        // Shut down: the ranks are free for the next executor.
        let next = MpiPoolExecutor::new().unwrap();
        assert_eq!(next.submit(square, 3).unwrap().result(None), Ok(&9));
    });

    check(
        "initializer runs on every rank; a failing one breaks the pool",
        || {
            let pool = MpiPoolExecutor::builder()
                .initializer(set_greeting, "olá".to_string())
                .build()
                .unwrap();
            let greetings: BTreeSet<String> = pool
                .map(|ms: u64| (nap_ms(ms), greeting(())).1, [40, 40, 40, 40])
                .map(Result::unwrap)
                .collect();
            assert_eq!(greetings, ["olá".to_string()].into());
            drop(pool);
            let broken = MpiPoolExecutor::builder()
                .initializer(failing_init, ())
                .build()
                .unwrap();
            match broken.submit(square, 2) {
                Err(SubmitError::Broken(b)) => {
                    assert!(b.message().contains("no greeting today"), "{b}")
                }
                other => panic!("{other:?}"),
            }
        },
    );

    // The builder hook exists with `test-hooks`, which the dev-dependency on this crate enables.
    #[cfg(feature = "test-hooks")]
    check(
        "a rank running another image refuses: typed error on rank 0",
        || {
            let err = MpiPoolExecutor::builder()
                .__bogus_image_for_tests()
                .build()
                .unwrap_err();
            match &err {
                MpiPoolError::ImageMismatch { rank, host, reason } => {
                    assert!((1..RANKS).contains(rank), "{err}");
                    assert_eq!(host, &host_of_rank(*rank), "{err}");
                    assert!(reason.contains("different executable image"), "{err}");
                }
                other => panic!("{other:?}"),
            }
            let pool = MpiPoolExecutor::new().unwrap();
            assert_eq!(pool.submit(square, 4).unwrap().result(None), Ok(&16));
        },
    );

    check(
        "tasks longer than the liveness timeout, and idle ranks, are not lost",
        || {
            let err = MpiPoolExecutor::builder()
                .liveness_timeout(Duration::from_millis(50))
                .build()
                .unwrap_err();
            assert!(matches!(err, MpiPoolError::InvalidArgument(_)), "{err}");
            let forever = MpiPoolExecutor::builder()
                .liveness_timeout(Duration::MAX)
                .build()
                .unwrap();
            assert_eq!(forever.submit(square, 7).unwrap().result(None), Ok(&49));
            drop(forever);
            let timeout = Duration::from_millis(300);
            let pool = MpiPoolExecutor::builder()
                .liveness_timeout(timeout)
                .build()
                .unwrap();
            // Each round, both ranks run a task of 2.5 timeouts and answer ~7 pings meanwhile;
            // a race that lost a ping 30% of the time would fail 13 rounds with >99% odds.
            let nap = (timeout * 5 / 2).as_millis() as u64;
            for round in 0..stress_rounds(13) {
                let ranks: BTreeSet<u32> = pool
                    .map(|ms: u64| nap_where(ms).0, [nap, nap])
                    .map(|r| r.unwrap_or_else(|e| panic!("round {round}: {e}")))
                    .collect();
                assert_eq!(ranks, (1..RANKS).collect(), "round {round}: {ranks:?}");
            }
            // Idle for three timeouts: pinged, answering.
            std::thread::sleep(timeout * 3);
            assert_eq!(pool.submit(square, 6).unwrap().result(None), Ok(&36));
        },
    );

    check(
        "a running task hears its token's cancel; a bounded queue refuses when full",
        || {
            let pool = MpiPoolExecutor::new().unwrap();
            // Cooperative: the cancel reaches the rank while the task sleeps on its token.
            for round in 0..stress_rounds(13) {
                let token = CancelToken::new();
                let f = pool.submit_cancellable(&token, sleep_on_token, ()).unwrap();
                while !f.running() {
                    std::thread::yield_now();
                }
                token.cancel();
                assert_eq!(f.result(None), Err(FutureError::Cancelled), "round {round}");
            }
            // The ranks serve on after the cancels.
            assert_eq!(pool.submit(square, 5).unwrap().result(None), Ok(&25));
            drop(pool);
            let pool = MpiPoolExecutor::builder()
                .queue_capacity(1)
                .when_full(WhenFull::Block)
                .build()
                .unwrap();
            let busy: Vec<_> = (0..RANKS - 1)
                .map(|_| pool.submit(nap_ms, 300).unwrap())
                .collect();
            // Both ranks busy (blocking submits wait for room): `try_submit` never blocks, and
            // is refused once the queue holds its one task.
            let mut refused = 0;
            let mut queued = Vec::new();
            for _ in 0..8 {
                match pool.try_submit(square, 3) {
                    Ok(f) => queued.push(f),
                    Err(e) => {
                        assert!(
                            matches!(e.error(), SubmitError::Full { capacity: 1 }),
                            "{e}"
                        );
                        refused += 1;
                    }
                }
            }
            assert!(refused > 0, "a queue of 1 refused nothing");
            for f in busy.into_iter() {
                assert_eq!(f.result(None), Ok(&300));
            }
            for f in queued {
                assert_eq!(f.result(None), Ok(&9));
            }
        },
    );

    check("idle ranks and an idle rank 0 use next to no CPU", || {
        let pool = MpiPoolExecutor::new().unwrap();
        let before: Vec<(u32, f64)> = pool
            .map(cpu_after_nap, [50, 50])
            .map(Result::unwrap)
            .collect();
        let rank0 = cpu_seconds();
        std::thread::sleep(Duration::from_secs(1));
        let rank0 = cpu_seconds() - rank0;
        let after: Vec<(u32, f64)> = pool
            .map(cpu_after_nap, [50, 50])
            .map(Result::unwrap)
            .collect();
        for (rank, cpu) in &after {
            if let Some((_, was)) = before.iter().find(|(r, _)| r == rank) {
                let used = cpu - was;
                println!("   rank {rank}: {:.1} ms CPU over ~1.1 s idle", used * 1e3);
                assert!(
                    used < 0.15,
                    "rank {rank} burned {used:.3} s of CPU while idle"
                );
            }
        }
        println!("   rank 0: {:.1} ms CPU over 1 s idle", rank0 * 1e3);
        assert!(rank0 < 0.15, "rank 0 burned {rank0:.3} s of CPU while idle");
    });
}

/// Across hosts: each rank's host is the expected one (and, in `checks`, errors name it).
fn hosts(expected: &[String]) {
    assert_eq!(expected.len(), RANKS as usize, "give one host per rank");
    assert_eq!(host_name(), expected[0], "rank 0 runs on the first host");
    let pool = MpiPoolExecutor::new().unwrap();
    let seen: BTreeSet<(u32, String)> = pool
        .map(nap_where, [100, 100, 100, 100])
        .map(Result::unwrap)
        .collect();
    let want: BTreeSet<(u32, String)> = (1..RANKS)
        .map(|r| (r, expected[r as usize].clone()))
        .collect();
    assert_eq!(seen, want);
    drop(pool);
    println!("ok ranks 1..{} run on {:?}", RANKS - 1, &expected[1..]);
    // The image-refusal check among `checks` then expects these hosts in its error.
    HOSTS.set(expected.to_vec()).unwrap();
}

/// Across hosts: a long task on each rank; the script cuts `lost`'s link once they run. The
/// task there fails naming rank and host within the liveness timeout; the other one finishes.
fn lost_host(lost: &str) {
    const NAP_MS: u64 = 12_000;
    let pool = MpiPoolExecutor::new().unwrap();
    // One task per rank: each has nothing in flight when its task is dispatched.
    let futures: Vec<_> = (0..2)
        .map(|_| pool.submit(nap_where, NAP_MS).unwrap())
        .collect();
    while !futures.iter().all(|f| f.running()) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let start = Instant::now();
    println!("lost-host: tasks running, cut {lost} now");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let mut failed = Vec::new();
    for f in as_completed(futures, None) {
        let f = f.unwrap();
        match f.result(None) {
            Ok((rank, host)) => {
                println!("lost-host: rank {rank} on {host} finished its {NAP_MS} ms task");
                assert_ne!(host, lost);
            }
            Err(e) => {
                println!("lost-host: failed after {:.1?}: {e}", start.elapsed());
                failed.push(e.clone());
            }
        }
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    let message = failed[0].to_string();
    assert!(
        matches!(failed[0], FutureError::BrokenExecutor(_)),
        "{message}"
    );
    assert!(
        message.contains(&format!(" on {lost} stopped answering")),
        "{message}"
    );
    match pool.submit(square, 1) {
        Err(SubmitError::Broken(b)) => assert!(b.message().contains(lost), "{b}"),
        other => panic!("{other:?}"),
    }
    println!("lost-host: rank 0 returns from main; the job is to end with error code 69");
}

/// A task freezes its rank (SIGSTOP); rank 0 must declare it lost, fail its task naming rank
/// and host, let a longer task on the other rank finish, and end the job with code 69.
fn freeze() {
    let timeout = Duration::from_secs(1);
    let pool = MpiPoolExecutor::builder()
        .liveness_timeout(timeout)
        .build()
        .unwrap();
    let frozen = pool.submit(freeze_rank, ()).unwrap();
    let long = pool.submit(nap_where, 2500).unwrap();
    let start = Instant::now();
    let err = frozen.result(None).unwrap_err();
    let took = start.elapsed();
    println!("freeze: the frozen rank's task failed after {took:.1?}: {err}");
    let message = err.to_string();
    assert!(matches!(err, FutureError::BrokenExecutor(_)), "{message}");
    let (rank, host) = long.result(None).unwrap().clone();
    let lost = 3 - rank; // the other worker rank
    let names = format!(
        "MPI rank {lost} on {} stopped answering",
        host_of_rank(lost)
    );
    assert!(message.contains(&names), "{message}\nshould say: {names}");
    assert!(took >= timeout / 2 && took < timeout * 5, "{took:?}");
    println!("freeze: rank {rank} on {host} finished its 2.5 s task");
    match MpiPoolExecutor::new() {
        Err(MpiPoolError::RankLost {
            rank: r, host: h, ..
        }) => {
            assert_eq!((r, h), (lost, host_of_rank(lost)))
        }
        other => panic!("a new executor after a loss: {other:?}"),
    }
    println!("freeze: rank 0 returns from main; the job is to end with error code 69");
}

/// A task kills its rank; `mpirun` must end the job.
fn die(how: &str) {
    let pool = MpiPoolExecutor::new().unwrap();
    let f = match how {
        "die-abort" => pool.submit(abort_rank, ()).unwrap(),
        _ => pool.submit(exit_rank, 7).unwrap(),
    };
    println!("rank 0 waiting on the dying task");
    let r = f.result(Some(Duration::from_secs(60)));
    println!("rank 0 was not ended by mpirun: {r:?}");
}

// ---------------------------------------------------------------------------------------------
// Outside MPI: launch the job and judge it.
// ---------------------------------------------------------------------------------------------

struct Job {
    success: bool,
    code: Option<i32>,
    output: String,
    took: Duration,
}

fn mpirun(mode: &str) -> Job {
    let exe = std::env::current_exe().unwrap();
    let start = Instant::now();
    let mut child = Command::new("mpirun")
        .args(["--oversubscribe", "-n", &RANKS.to_string()])
        .arg(&exe)
        .arg(mode)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpirun (openmpi-bin) must be installed to test the mpi feature");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = start + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mpirun {mode} hung for 180 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::new();
    let _ = out.read_to_string(&mut output);
    output.push_str(&reader.join().unwrap());
    Job {
        success: status.success(),
        code: status.code(),
        output,
        took: start.elapsed(),
    }
}

fn launch() -> ExitCode {
    let job = mpirun("checks");
    print!("{}", job.output);
    if !job.success || !job.output.contains(PASSED) {
        eprintln!("the MPI job failed");
        return ExitCode::FAILURE;
    }
    for how in ["die-abort", "die-exit"] {
        let job = mpirun(how);
        let tail: String = job
            .output
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .join("\n");
        println!(
            "{how}: mpirun ended the job in {:.1?} (success = {})",
            job.took, job.success
        );
        if job.success || job.output.contains("was not ended by mpirun") {
            eprintln!("{how}: the job should have been aborted:\n{}", job.output);
            return ExitCode::FAILURE;
        }
        if !job.output.contains("rank 0 waiting on the dying task") {
            eprintln!("{how}: rank 0 never submitted the task:\n{}", job.output);
            return ExitCode::FAILURE;
        }
        println!("  what mpirun printed last:\n{tail}");
    }
    let job = mpirun("freeze");
    println!(
        "freeze: the job ended in {:.1?} with {:?}",
        job.took, job.code
    );
    // Rank 0's own lines, then the crate's: the loss when found, the abort at exit.
    let rank0: Vec<&str> = job
        .output
        .lines()
        .filter(|l| l.starts_with("freeze:"))
        .collect();
    let crate_lines: Vec<&str> = job
        .output
        .lines()
        .filter(|l| l.starts_with("concurrent-futures:"))
        .collect();
    let said = |what: &str| crate_lines.iter().any(|l| l.contains(what));
    if job.code != Some(69)
        || rank0.len() != 3
        || !said("stopped answering")
        || !said("aborts the MPI job (error code 69)")
    {
        eprintln!(
            "freeze: expected rank 0's three lines, the loss and the abort (code 69):\n{}",
            job.output
        );
        return ExitCode::FAILURE;
    }
    for line in rank0.iter().chain(&crate_lines) {
        println!("  {line}");
    }
    println!("{PASSED} (and a dying rank ends the job, a frozen one is found)");
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().cloned().unwrap_or_default();
    match MpiPoolExecutor::rank() {
        None => launch(),
        Some(0) => {
            match mode.as_str() {
                "die-abort" | "die-exit" => die(&mode),
                "freeze" => freeze(),
                "hosts" => {
                    hosts(&args[1..]);
                    checks();
                    println!("{PASSED}");
                }
                "lost-host" => lost_host(args.get(1).expect("lost-host HOST")),
                _ => {
                    checks();
                    println!("{PASSED}");
                }
            }
            ExitCode::SUCCESS
        }
        Some(_) => unreachable!("worker ranks never reach main"),
    }
}
