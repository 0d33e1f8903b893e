//! The flag-download clients, through the same support code the examples run, against the flag
//! server started in-process on free ports of 127.0.0.1. Downloads go to temp directories.

mod common;
#[path = "../examples/support/flag_server.rs"]
mod flag_server;
#[path = "../examples/support/flags2_common.rs"]
mod flags2_common;
#[path = "../examples/support/flags_client.rs"]
mod flags_client;

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::error::ErrorKind;
use common::TempDir;
#[cfg(all(unix, feature = "process-pool"))]
use concurrent_futures::ProcessPoolExecutor;
#[cfg(feature = "process-pool")]
use concurrent_futures::{as_completed, Executor, ThreadPoolExecutor};
use flag_server::{DelaySpec, Role, ServerConfig, ServerHandle, COUNTRY_CODES};
use flags2_common::{
    final_report, initial_report, parse_args, run, Counts, Flags2Error, Job, Options, Script,
    SEQUENTIAL, THREADPOOL,
};
use flags_client::{
    Client, CountryCode, DownloadError, DownloadStatus, FetchError, Server, POP20_CC,
};
use indicatif::ProgressBar;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Long enough that a loaded machine never turns a slow answer into an error in the counts.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

fn start(config: ServerConfig) -> ServerHandle {
    flag_server::start(config).expect("the flag server starts")
}

/// One role on a free port, with the other settings of `config`.
fn only(role: Role, config: ServerConfig) -> ServerHandle {
    start(ServerConfig {
        local_port: (role == Role::Local).then_some(0),
        delay_port: (role == Role::Delay).then_some(0),
        error_port: (role == Role::Error).then_some(0),
        ..config
    })
}

fn url(server: &ServerHandle, role: Role) -> String {
    server.base_url(role).expect("role started")
}

fn cc(code: &str) -> CountryCode {
    CountryCode::new(code).expect("a valid code")
}

fn codes(list: &[CountryCode]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

/// `args` parsed as the script's command line (program name added).
fn parse(script: &Script, args: &[&str]) -> Result<Options, clap::Error> {
    parse_args(
        script,
        std::iter::once(script.name).chain(args.iter().copied()),
    )
}

fn options(script: &Script, args: &[&str]) -> Options {
    parse(script, args).unwrap_or_else(|e| panic!("{args:?} should parse: {e}"))
}

/// A job for the codes and concurrency that `args` select, downloading from `base_url`.
fn job(script: &Script, args: &[&str], base_url: &str, dir: &Path) -> Job {
    let options = options(script, args);
    Job {
        client: Arc::new(Client::new(base_url, dir, TEST_TIMEOUT)),
        concur_req: options.actual_req(),
        cc_list: options.cc_list,
        verbose: false,
        progress: ProgressBar::hidden(),
    }
}

/// Runs the script's `download_many` as its `main` would, and checks that the progress bar
/// advanced once per code.
fn download(script: &Script, args: &[&str], base_url: &str, dir: &Path) -> Counts {
    let job = job(script, args, base_url, dir);
    let counts = (script.download_many)(&job).expect("the run finishes");
    assert_eq!(
        job.progress.position(),
        job.cc_list.len() as u64,
        "the progress bar advances once per code"
    );
    counts
}

fn counts(ok: usize, not_found: usize, error: usize) -> Counts {
    Counts {
        ok,
        not_found,
        error,
    }
}

/// The names of the files in `dir`.
fn saved_files(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .expect("the download directory exists")
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .into_string()
                .expect("a UTF-8 file name")
        })
        .collect()
}

/// A port of 127.0.0.1 on which nothing listens (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("bound address").port()
}

// ---------------------------------------------------------------------------------------------
// The book's counts
// ---------------------------------------------------------------------------------------------

#[test]
fn every_code_gives_194_downloaded_and_482_not_found_with_both_scripts() {
    let server = only(Role::Local, ServerConfig::default());
    for script in [&SEQUENTIAL, &THREADPOOL] {
        let dir = TempDir::new("every");
        assert_eq!(
            download(script, &["-e"], &url(&server, Role::Local), dir.path()),
            counts(194, 482, 0),
            "{}",
            script.name
        );
    }
}

#[test]
fn downloads_are_saved_under_names_made_from_the_codes() {
    let server = only(Role::Local, ServerConfig::default());
    let dir = TempDir::new("names");
    download(&THREADPOOL, &["-a"], &url(&server, Role::Local), dir.path());
    let expected: BTreeSet<String> = COUNTRY_CODES
        .iter()
        .map(|cc| format!("{}.gif", cc.to_lowercase()))
        .collect();
    assert_eq!(saved_files(dir.path()), expected);
    for code in ["BR", "CN", "ZW"] {
        let saved = fs::read(dir.path().join(cc(code).file_name())).expect("the flag was saved");
        let served = flag_server::generated_flag(code).expect("a listed code");
        assert_eq!(
            saved,
            served.as_ref(),
            "{code}: the saved bytes are the served ones"
        );
    }
}

#[test]
fn letter_b_gives_17_downloaded_and_9_not_found() {
    let server = only(Role::Local, ServerConfig::default());
    let dir = TempDir::new("b");
    assert_eq!(
        download(&SEQUENTIAL, &["b"], &url(&server, Role::Local), dir.path()),
        counts(17, 9, 0)
    );
    assert_eq!(saved_files(dir.path()).len(), 17);
}

#[test]
fn letters_a_b_c_give_43_downloaded_and_35_not_found() {
    let server = only(Role::Local, ServerConfig::default());
    let dir = TempDir::new("abc");
    assert_eq!(
        download(
            &THREADPOOL,
            &["a", "b", "c"],
            &url(&server, Role::Local),
            dir.path()
        ),
        counts(43, 35, 0)
    );
}

#[test]
fn the_default_codes_are_the_20_most_populous_all_found() {
    let server = only(Role::Local, ServerConfig::default());
    let dir = TempDir::new("pop20");
    assert_eq!(
        download(&THREADPOOL, &[], &url(&server, Role::Local), dir.path()),
        counts(20, 0, 0)
    );
}

#[test]
fn an_error_server_run_accounts_for_every_code() {
    // The book's ERROR settings (25% 5xx, 50% delayed 0.5 s), 676 requests at once.
    let server = only(
        Role::Error,
        ServerConfig {
            seed: Some(4),
            ..ServerConfig::default()
        },
    );
    let dir = TempDir::new("error");
    let got = download(
        &THREADPOOL,
        &["-e", "-m", "1000"],
        &url(&server, Role::Error),
        dir.path(),
    );
    assert_eq!(got.total(), 676, "{got:?}");
    assert!(got.error > 0 && got.ok > 0 && got.not_found > 0, "{got:?}");
    assert!(got.ok <= 194 && got.not_found <= 482, "{got:?}");
    assert_eq!(saved_files(dir.path()).len(), got.ok);
}

#[test]
fn an_error_server_run_accounts_for_every_code_sequentially() {
    // Short delays keep 78 sequential requests quick; the mix is the book's.
    let server = only(
        Role::Error,
        ServerConfig {
            delay: DelaySpec::Fixed(Duration::from_millis(5)),
            seed: Some(9),
            ..ServerConfig::default()
        },
    );
    let dir = TempDir::new("error-seq");
    let got = download(
        &SEQUENTIAL,
        &["a", "b", "c"],
        &url(&server, Role::Error),
        dir.path(),
    );
    assert_eq!(got.total(), 78, "{got:?}");
    assert!(got.error > 0, "{got:?}");
}

// ---------------------------------------------------------------------------------------------
// What counts as an error
// ---------------------------------------------------------------------------------------------

#[test]
fn statuses_other_than_200_and_404_count_as_errors() {
    let server = only(
        Role::Error,
        ServerConfig {
            error_rate: 1.0,
            delay_rate: 0.0,
            teapot: true,
            ..ServerConfig::default()
        },
    );
    let dir = TempDir::new("5xx");
    let base_url = url(&server, Role::Error);
    assert_eq!(
        download(&THREADPOOL, &["b"], &base_url, dir.path()),
        counts(0, 0, 26)
    );
    let client = Client::new(base_url, dir.path(), TEST_TIMEOUT);
    match client.get_flag(cc("BR")) {
        Err(FetchError::Status(status)) => {
            assert!([418, 500, 501, 502, 503].contains(&status), "{status}");
            assert!(FetchError::Status(status)
                .to_string()
                .starts_with(&format!("HTTP error {status} - ")));
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert!(saved_files(dir.path()).is_empty());
}

#[test]
fn a_404_is_not_found_not_an_error() {
    let server = only(Role::Local, ServerConfig::default());
    let dir = TempDir::new("404");
    let client = Client::new(url(&server, Role::Local), dir.path(), TEST_TIMEOUT);
    assert!(client.get_flag(cc("ZZ")).is_err_and(|e| e.is_not_found()));
    assert!(matches!(
        client.download_one(cc("ZZ"), false),
        Ok(DownloadStatus::NotFound)
    ));
}

#[test]
fn a_timeout_counts_as_an_error() {
    let server = only(
        Role::Delay,
        ServerConfig {
            delay: DelaySpec::Fixed(Duration::from_secs(3)),
            ..ServerConfig::default()
        },
    );
    let dir = TempDir::new("timeout");
    let client = Client::new(
        url(&server, Role::Delay),
        dir.path(),
        Duration::from_millis(200),
    );
    match client.download_one(cc("BR"), false) {
        Err(DownloadError::Fetch {
            source: FetchError::Timeout(_),
            ..
        }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    let job = Job {
        client: Arc::new(client),
        cc_list: vec![cc("BR"), cc("CN")],
        verbose: false,
        concur_req: 2,
        progress: ProgressBar::hidden(),
    };
    assert_eq!(
        flags2_common::download_many_threadpool(&job).expect("the run finishes"),
        counts(0, 0, 2)
    );
}

#[test]
fn a_refused_connection_counts_as_an_error() {
    let dir = TempDir::new("refused");
    let base_url = format!("http://127.0.0.1:{}/flags", closed_port());
    let client = Client::new(&base_url, dir.path(), TEST_TIMEOUT);
    assert!(matches!(
        client.get_flag(cc("BR")),
        Err(FetchError::Connection(_))
    ));
    assert_eq!(
        download(&SEQUENTIAL, &["BR", "CN", "ZZ"], &base_url, dir.path()),
        counts(0, 0, 3)
    );
}

#[test]
fn a_flag_over_the_size_limit_is_an_error_and_is_not_saved() {
    let server = only(Role::Local, ServerConfig::default());
    let dir = TempDir::new("too-large");
    // The generated flags are a few KB; 100 bytes is too few for any of them.
    let client =
        Client::new(url(&server, Role::Local), dir.path(), TEST_TIMEOUT).with_body_limit(100);
    assert_eq!(client.get_flag(cc("BR")), Err(FetchError::TooLarge(100)));
    assert!(matches!(
        client.download_one(cc("BR"), false),
        Err(DownloadError::Fetch {
            source: FetchError::TooLarge(100),
            ..
        })
    ));
    assert!(saved_files(dir.path()).is_empty());
}

#[test]
fn a_flag_that_cannot_be_saved_stops_the_run() {
    let server = only(Role::Local, ServerConfig::default());
    let dir = TempDir::new("unsaved");
    let missing = dir.path().join("not-created");
    let job = job(&THREADPOOL, &["b"], &url(&server, Role::Local), &missing);
    match flags2_common::download_many_threadpool(&job) {
        Err(Flags2Error::Download(DownloadError::Save { path, source })) => {
            assert!(path.starts_with(&missing), "{}", path.display());
            assert_eq!(source.kind(), io::ErrorKind::NotFound);
        }
        other => panic!("expected a save error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

#[test]
fn a_letter_means_the_26_codes_that_start_with_it() {
    let b = options(&THREADPOOL, &["b"]).cc_list;
    assert_eq!(b.len(), 26);
    assert_eq!(codes(&b[..3]), ["BA", "BB", "BC"]);
    assert_eq!(b.last(), Some(&cc("BZ")));
    // Either case; duplicates once; sorted.
    assert_eq!(options(&THREADPOOL, &["B", "br", "b"]).cc_list, b);
    assert_eq!(
        codes(&options(&THREADPOOL, &["us", "BR", "cn"]).cc_list),
        ["BR", "CN", "US"]
    );
    assert_eq!(options(&THREADPOOL, &["a", "b", "c"]).cc_list.len(), 78);
}

#[test]
fn every_wins_over_all_and_all_over_cc_arguments() {
    let every = options(&THREADPOOL, &["-e"]).cc_list;
    assert_eq!(every.len(), 676);
    assert_eq!((every[0], every[675]), (cc("AA"), cc("ZZ")));
    let all = options(&THREADPOOL, &["-a"]).cc_list;
    assert_eq!(codes(&all), COUNTRY_CODES);
    assert_eq!(options(&THREADPOOL, &["-e", "-a", "b"]).cc_list, every);
    assert_eq!(options(&THREADPOOL, &["--every", "b"]).cc_list, every);
    assert_eq!(options(&THREADPOOL, &["--all", "b"]).cc_list, all);
}

#[test]
fn limit_keeps_the_first_codes_after_sorting() {
    // The book's `-al 100`: AD to LK.
    let al = options(&THREADPOOL, &["-al", "100"]).cc_list;
    assert_eq!(al.len(), 100);
    assert_eq!((al[0], al[99]), (cc("AD"), cc("LK")));
    assert_eq!(
        codes(&options(&THREADPOOL, &["-l", "2", "c", "a"]).cc_list),
        ["AA", "AB"]
    );
    assert_eq!(
        options(&THREADPOOL, &["--limit", "1000", "b"])
            .cc_list
            .len(),
        26
    );
}

#[test]
fn no_codes_means_the_20_most_populous_sorted() {
    let mut pop20: Vec<&str> = POP20_CC.to_vec();
    pop20.sort();
    assert_eq!(codes(&options(&SEQUENTIAL, &[]).cc_list), pop20);
    assert_eq!(
        codes(&options(&SEQUENTIAL, &["-l", "3"]).cc_list),
        ["BD", "BR", "CD"]
    );
}

#[test]
fn max_req_defaults_per_script_and_is_capped() {
    assert_eq!(options(&THREADPOOL, &[]).max_req, 30);
    assert_eq!(options(&THREADPOOL, &["-m", "5000"]).max_req, 1000);
    assert_eq!(options(&THREADPOOL, &["--max_req", "1000"]).max_req, 1000);
    assert_eq!(options(&SEQUENTIAL, &[]).max_req, 1);
    assert_eq!(options(&SEQUENTIAL, &["-m", "30"]).max_req, 1);
    // Connections used: no more than there are codes.
    assert_eq!(
        options(&THREADPOOL, &["-m", "5000", "-e"]).actual_req(),
        676
    );
    assert_eq!(options(&THREADPOOL, &["b"]).actual_req(), 26);
    assert_eq!(options(&THREADPOOL, &["-m", "4", "b"]).actual_req(), 4);
}

#[test]
fn server_labels_ignore_case_and_urls_are_accepted() {
    assert_eq!(options(&THREADPOOL, &[]).server, Server::Local);
    assert_eq!(options(&THREADPOOL, &["-s", "delay"]).server, Server::Delay);
    assert_eq!(
        options(&THREADPOOL, &["--server", "Error"]).server,
        Server::Error
    );
    assert_eq!(
        options(&THREADPOOL, &["-s", "REMOTE"]).server,
        Server::Remote
    );
    assert_eq!(
        options(&THREADPOOL, &["-s", "http://127.0.0.1:9000/flags/"]).server,
        Server::Url("http://127.0.0.1:9000/flags".into())
    );
}

#[test]
fn bad_cli_input_is_a_usage_error_with_exit_status_2() {
    let book_messages: [(&[&str], &str); 8] = [
        (&["abc"], "each CC argument must be A to Z or AA to ZZ."),
        (&["1"], "each CC argument must be A to Z or AA to ZZ."),
        (&["b2"], "each CC argument must be A to Z or AA to ZZ."),
        (&["br", "é"], "each CC argument must be A to Z or AA to ZZ."),
        (&["-m", "0"], "--max_req CONCURRENT must be >= 1"),
        (&["-l", "0"], "--limit N must be >= 1"),
        (&["-l", "-3"], "--limit N must be >= 1"),
        (
            &["-s", "NOWHERE"],
            "--server LABEL must be one of DELAY, ERROR, LOCAL, REMOTE",
        ),
    ];
    for (args, message) in book_messages {
        let e = parse(&THREADPOOL, args).expect_err("a usage error");
        assert_eq!(e.exit_code(), 2, "{args:?}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("*** Usage error: {message}")),
            "{args:?}: {text}"
        );
    }
    let other: [&[&str]; 6] = [
        &["-m", "many"],
        &["-s", "https://example.org/flags"],
        &["-s", "ftp://example.org/flags"],
        &["-s", "http://127.0.0.1:8001/flags?cc=br"],
        &["--bogus"],
        &["-s"],
    ];
    for args in other {
        let e = parse(&SEQUENTIAL, args).expect_err("a usage error");
        assert_eq!(e.exit_code(), 2, "{args:?}");
    }
    let help = parse(&THREADPOOL, &["-h"]).expect_err("help is not options");
    assert_eq!((help.kind(), help.exit_code()), (ErrorKind::DisplayHelp, 0));
    assert!(help
        .to_string()
        .contains("maximum concurrent requests [default: 30]"));
}

#[test]
fn bad_cli_input_exits_2_before_any_request() {
    // A listener that accepts nothing: a request would show up in its queue.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.set_nonblocking(true).expect("non-blocking");
    let base_url = format!("http://{}/flags", listener.local_addr().expect("address"));
    let dir = TempDir::new("usage");
    let dest = dir.path().join("downloads");
    for bad in ["abc", "-m0", "-l0"] {
        let args = [THREADPOOL.name, "-s", &base_url, bad];
        assert_eq!(run(&THREADPOOL, args, &dest), 2, "{bad}");
    }
    match listener.accept() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        other => panic!("a request was made: {other:?}"),
    }
    assert!(!dest.exists(), "nothing is created either");
}

// ---------------------------------------------------------------------------------------------
// Whole runs and reports
// ---------------------------------------------------------------------------------------------

#[test]
fn a_whole_run_creates_the_directory_saves_the_flags_and_exits_0() {
    let server = only(Role::Local, ServerConfig::default());
    let dir = TempDir::new("run");
    let dest = dir.path().join("downloads");
    let base_url = url(&server, Role::Local);
    for script in [&SEQUENTIAL, &THREADPOOL] {
        assert_eq!(
            run(script, [script.name, "-s", &base_url, "-v", "b"], &dest),
            0
        );
    }
    assert_eq!(saved_files(&dest).len(), 17);
}

#[test]
fn the_reports_read_as_the_book() {
    let mut pop20: Vec<CountryCode> = POP20_CC.iter().map(|c| cc(c)).collect();
    pop20.sort();
    assert_eq!(
        initial_report(&pop20, 1, "LOCAL", "http://localhost:8001/flags"),
        "LOCAL site: http://localhost:8001/flags\n\
         Searching for 20 flags: from BD to VN\n\
         1 concurrent connection will be used."
    );
    assert_eq!(
        initial_report(&[cc("BR")], 1, "DELAY", "http://h/flags"),
        "DELAY site: http://h/flags\nSearching for 1 flag: BR\n1 concurrent connection will be used."
    );
    assert_eq!(
        initial_report(&pop20[..3], 3, "ERROR", "http://h/flags"),
        "ERROR site: http://h/flags\nSearching for 3 flags: BD, BR, CD\n3 concurrent connections will be used."
    );
    assert_eq!(
        final_report(&counts(17, 9, 0), Duration::from_millis(13_362)),
        "--------------------\n17 flags downloaded.\n9 not found.\nElapsed time: 13.36s"
    );
    assert_eq!(
        final_report(&counts(1, 0, 1), Duration::ZERO),
        "--------------------\n1 flag downloaded.\n1 error.\nElapsed time: 0.00s"
    );
    assert_eq!(
        final_report(&counts(150, 361, 165), Duration::from_millis(7_456)),
        "--------------------\n150 flags downloaded.\n361 not found.\n165 errors.\nElapsed time: 7.46s"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding the server
// ---------------------------------------------------------------------------------------------

#[test]
fn a_local_server_that_does_not_listen_is_started_in_process() {
    let site = flags_client::resolve_local(Role::Local, closed_port()).expect("setup");
    assert!(site.is_embedded());
    assert_eq!(site.label, "LOCAL");
    let dir = TempDir::new("embedded");
    let client = Client::new(&site.base_url, dir.path(), TEST_TIMEOUT);
    assert_eq!(
        client.download_one(cc("BR"), false).ok(),
        Some(DownloadStatus::Ok)
    );
}

#[test]
fn a_listening_local_server_is_used_as_it_is() {
    let server = only(Role::Delay, ServerConfig::default());
    let addr = server.addr(Role::Delay).expect("started");
    let site = flags_client::resolve_local(Role::Delay, addr.port()).expect("setup");
    assert!(!site.is_embedded());
    assert_eq!(site.base_url, format!("http://{addr}/flags"));
    assert_eq!(site.label, "DELAY");
}

#[test]
fn urls_and_remote_are_used_without_probing() {
    let site = flags_client::resolve(&Server::Url("http://127.0.0.1:1/x".into())).expect("setup");
    assert_eq!(
        (site.label, site.base_url.as_str()),
        ("URL", "http://127.0.0.1:1/x")
    );
    let site = flags_client::resolve(&Server::Remote).expect("setup");
    assert_eq!(site.base_url, flags_client::REMOTE_URL);
    assert!(!site.is_embedded());
}

// ---------------------------------------------------------------------------------------------
// The simple examples' download_one
// ---------------------------------------------------------------------------------------------

#[test]
fn country_codes_are_two_ascii_letters() {
    assert_eq!(cc("br").to_string(), "BR");
    assert_eq!(cc("Br").file_name(), "br.gif");
    for bad in ["", "b", "bra", "b1", "..", "b/", "éa", "ßa"] {
        assert!(CountryCode::new(bad).is_err(), "{bad:?}");
    }
}

/// The only test that sets the process-wide client of `flags`, `flags_threadpool` and
/// `flags_threadpool_ac`.
#[test]
#[cfg(feature = "process-pool")]
fn the_book_download_one_returns_its_code_or_fails_its_future() {
    let server = only(Role::Local, ServerConfig::default());
    let dir = TempDir::new("global");
    assert!(flags_client::install(Client::new(
        url(&server, Role::Local),
        dir.path(),
        TEST_TIMEOUT
    ))
    .is_ok());
    let mut pop20: Vec<String> = POP20_CC.iter().map(|c| c.to_string()).collect();
    pop20.sort();

    // flags_threadpool: map through the Executor trait, results in input order.
    let executor = ThreadPoolExecutor::new(20).expect("a pool");
    let res: Vec<String> = Executor::map(&executor, flags_client::download_one, pop20.clone())
        .collect::<Result<_, _>>()
        .expect("every download succeeds");
    assert_eq!(res, pop20);
    assert_eq!(saved_files(dir.path()).len(), 20);

    // flags_threadpool_ac: the futures' repr, and failures raised into the future.
    let futures = ["BR", "ZZ", "../x"].map(|code| {
        executor
            .submit(flags_client::download_one, code.to_string())
            .expect("submitted")
    });
    for future in as_completed(futures, None) {
        let future = future.expect("no timeout");
        match future.result(None) {
            Ok(code) => {
                assert_eq!(code, "BR");
                assert!(future
                    .to_string()
                    .ends_with("state=finished returned String>"));
            }
            Err(e) => {
                let message = e.panic_message().expect("raised by download_one");
                assert!(
                    message.contains("HTTP error 404") || message.contains("not a country code"),
                    "{message}"
                );
            }
        }
    }
    assert!(!dir.path().join("zz.gif").exists());
}

/// flags_processpool: the same `download_one` in worker processes, which learn the server and
/// the directory from the pool's initializer (they never run `main`).
#[test]
#[cfg(all(unix, feature = "process-pool"))]
fn the_book_download_one_runs_in_worker_processes() {
    let server = only(Role::Local, ServerConfig::default());
    let dir = TempDir::new("processpool");
    let site = (url(&server, Role::Local), dir.path().to_path_buf());
    let executor = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(flags_client::use_site, site)
        .build()
        .expect("a pool");
    let mut pop20: Vec<String> = POP20_CC.iter().map(|c| c.to_string()).collect();
    pop20.sort();
    let res: Vec<String> = Executor::map(&executor, flags_client::download_one, pop20.clone())
        .collect::<Result<_, _>>()
        .expect("every download succeeds");
    assert_eq!(res, pop20);
    assert_eq!(saved_files(dir.path()).len(), 20);
    let err = executor
        .submit(flags_client::download_one, "ZZ".to_string())
        .expect("submitted")
        .into_result()
        .unwrap_err();
    assert!(
        err.panic_message()
            .is_some_and(|m| m.contains("HTTP error 404")),
        "{err}"
    );
}
