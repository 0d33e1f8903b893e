//! The `flags2` examples' shared part (the book's `flags2_common.py`, plus both scripts'
//! `download_many`): the command line, the list of codes, the reports, the progress bar, and the
//! sequential and thread-pool download loops.
//!
//! Included at the root of each `flags2` example and of `tests/flags_clients.rs`, beside
//! `flag_server` and `flags_client`, which it refers to as `crate::flag_server` and
//! `crate::flags_client`. [`run`] is the whole program; the tests call it and its parts directly.

// Each includer uses a different part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser};
use concurrent_futures::{as_completed, FutureError, InvalidArgument, SubmitError, TimeoutError};
use indicatif::{ProgressBar, ProgressStyle};

use crate::flags_client::{
    self, Client, CountryCode, DownloadError, DownloadStatus, Server, POP20_CC,
};

/// What differs between the `flags2` scripts: their name, their concurrency and their loop.
#[derive(Clone, Copy, Debug)]
pub struct Script {
    /// Program name, for the usage line.
    pub name: &'static str,
    /// `-m` when not given (the book's `DEFAULT_CONCUR_REQ`).
    pub default_concur_req: usize,
    /// Upper bound of `-m` (the book's `MAX_CONCUR_REQ`).
    pub max_concur_req: usize,
    /// Downloads the job's codes and counts the outcomes.
    pub download_many: fn(&Job) -> Result<Counts, Flags2Error>,
}

/// `flags2_sequential`: one request at a time.
pub const SEQUENTIAL: Script = Script {
    name: "flags2_sequential",
    default_concur_req: 1,
    max_concur_req: 1,
    download_many: download_many_sequential,
};

/// `flags2_threadpool`: `submit` + `as_completed` on a thread pool of `-m` workers.
pub const THREADPOOL: Script = Script {
    name: "flags2_threadpool",
    default_concur_req: 30,
    max_concur_req: 1000,
    download_many: download_many_threadpool,
};

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

/// The book's `process_args`. Counts are signed so that `-m 0` and `-l -1` get the book's
/// messages rather than a parse error.
#[derive(Parser, Debug)]
#[command(
    about = "Download flags for country codes. Default: top 20 countries by population.",
    allow_negative_numbers = true
)]
struct Cli {
    /// country code or 1st letter (eg. B for BA...BZ)
    #[arg(value_name = "CC")]
    cc: Vec<String>,

    /// get all available flags (AD to ZW)
    #[arg(short = 'a', long = "all")]
    all: bool,

    /// get flags for every possible code (AA...ZZ)
    #[arg(short = 'e', long = "every")]
    every: bool,

    /// limit to N first codes
    #[arg(short = 'l', long = "limit", value_name = "N")]
    limit: Option<i64>,

    /// maximum concurrent requests
    #[arg(short = 'm', long = "max_req", value_name = "CONCURRENT")]
    max_req: Option<i64>,

    /// Server to hit; one of DELAY, ERROR, LOCAL, REMOTE, or an http:// URL
    #[arg(
        short = 's',
        long = "server",
        value_name = "LABEL",
        default_value = "LOCAL"
    )]
    server: String,

    /// output detailed progress info
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
}

/// A checked command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The codes to download, sorted, without duplicates, at most `-l` of them.
    pub cc_list: Vec<CountryCode>,
    /// Where from.
    pub server: Server,
    /// `-m`, already capped at the script's maximum.
    pub max_req: usize,
    /// `-v`.
    pub verbose: bool,
}

impl Options {
    /// Connections to use: `min(-m, MAX_CONCUR_REQ, number of codes)`, as the book's `actual_req`.
    pub fn actual_req(&self) -> usize {
        self.max_req.min(self.cc_list.len()).max(1)
    }
}

/// Parses and checks `args` (program name first). A usage error comes back as a clap error
/// whose exit code is 2; `-h` as one whose exit code is 0.
pub fn parse_args<I, T>(script: &Script, args: I) -> Result<Options, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut command = Cli::command().name(script.name).mut_arg("max_req", |arg| {
        arg.help(format!(
            "maximum concurrent requests [default: {}]",
            script.default_concur_req
        ))
    });
    let matches = command.try_get_matches_from_mut(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let mut usage_error = |message: String| {
        command.error(
            ErrorKind::ValueValidation,
            format!("*** Usage error: {message}"),
        )
    };

    // The book's checks, in its order.
    let max_req = cli.max_req.unwrap_or(script.default_concur_req as i64);
    if max_req < 1 {
        return Err(usage_error("--max_req CONCURRENT must be >= 1".into()));
    }
    let limit = cli.limit.unwrap_or(i64::MAX);
    if limit < 1 {
        return Err(usage_error("--limit N must be >= 1".into()));
    }
    let server = Server::parse(&cli.server).map_err(|e| usage_error(e.to_string()))?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let cc_list = expand_cc_args(cli.every, cli.all, &cli.cc, limit).map_err(usage_error)?;
    Ok(Options {
        cc_list,
        server,
        max_req: usize::try_from(max_req)
            .unwrap_or(usize::MAX)
            .min(script.max_concur_req),
        verbose: cli.verbose,
    })
}

/// The book's `expand_cc_args`: `-e` wins over `-a`, which wins over the CC arguments (the
/// others are then ignored); a CC is one letter (26 codes) or two; the result is sorted, without
/// duplicates, cut to `limit`; an empty result means the 20 most populous countries.
pub fn expand_cc_args(
    every: bool,
    all: bool,
    cc_args: &[String],
    limit: usize,
) -> Result<Vec<CountryCode>, String> {
    let mut codes: Vec<CountryCode> = if every {
        CountryCode::every().collect()
    } else if all {
        CountryCode::with_flags().collect()
    } else {
        let mut codes = Vec::new();
        for arg in cc_args {
            let mut chars = arg.chars();
            match (chars.next(), chars.next(), chars.next()) {
                (Some(letter), None, None) => match CountryCode::starting_with(letter) {
                    Some(letters) => codes.extend(letters),
                    None => return Err(cc_usage()),
                },
                _ => codes.push(CountryCode::new(arg).map_err(|_| cc_usage())?),
            }
        }
        codes
    };
    if codes.is_empty() {
        codes = POP20_CC
            .iter()
            .filter_map(|cc| CountryCode::new(cc).ok())
            .collect();
    }
    codes.sort();
    codes.dedup();
    codes.truncate(limit);
    Ok(codes)
}

fn cc_usage() -> String {
    "each CC argument must be A to Z or AA to ZZ.".to_string()
}

// ---------------------------------------------------------------------------------------------
// Counting and reports
// ---------------------------------------------------------------------------------------------

/// How many downloads ended each way (the book's `Counter` of statuses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Downloaded and saved.
    pub ok: usize,
    /// 404.
    pub not_found: usize,
    /// Other statuses, timeouts, connection errors.
    pub error: usize,
}

impl Counts {
    /// Counts one outcome.
    pub fn add(&mut self, status: DownloadStatus) {
        match status {
            DownloadStatus::Ok => self.ok += 1,
            DownloadStatus::NotFound => self.not_found += 1,
            DownloadStatus::Error => self.error += 1,
        }
    }

    /// All outcomes counted.
    pub fn total(&self) -> usize {
        self.ok + self.not_found + self.error
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The lines printed before downloading (the book's `initial_report`).
pub fn initial_report(
    cc_list: &[CountryCode],
    actual_req: usize,
    label: &str,
    url: &str,
) -> String {
    let cc_msg = match cc_list {
        [first, .., last] if cc_list.len() > 10 => format!("from {first} to {last}"),
        _ => cc_list
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    };
    format!(
        "{label} site: {url}\nSearching for {} flag{}: {cc_msg}\n{actual_req} concurrent connection{} will be used.",
        cc_list.len(),
        plural(cc_list.len()),
        plural(actual_req),
    )
}

/// The lines printed after downloading (the book's `final_report`).
pub fn final_report(counts: &Counts, elapsed: Duration) -> String {
    let mut lines = vec![
        "-".repeat(20),
        format!("{} flag{} downloaded.", counts.ok, plural(counts.ok)),
    ];
    if counts.not_found > 0 {
        lines.push(format!("{} not found.", counts.not_found));
    }
    if counts.error > 0 {
        lines.push(format!("{} error{}.", counts.error, plural(counts.error)));
    }
    lines.push(format!("Elapsed time: {:.2}s", elapsed.as_secs_f64()));
    lines.join("\n")
}

/// A tqdm-like bar on stderr (drawn only when stderr is a terminal).
pub fn progress_bar(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{percent:>3}%|{bar:40}| {pos}/{len} [{elapsed}<{eta}, {per_sec}]",
    ) {
        bar.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
    }
    bar
}

// ---------------------------------------------------------------------------------------------
// Downloading
// ---------------------------------------------------------------------------------------------

/// One run's work, handed to a script's `download_many`.
#[derive(Debug)]
pub struct Job {
    /// The client, shared with the workers.
    pub client: Arc<Client>,
    /// The codes, sorted.
    pub cc_list: Vec<CountryCode>,
    /// `-v`: print a line per code instead of advancing the bar.
    pub verbose: bool,
    /// Connections to use (the thread pool's size).
    pub concur_req: usize,
    /// Advanced once per finished code.
    pub progress: ProgressBar,
}

/// Why a run stopped before counting every code.
#[derive(Debug, thiserror::Error)]
pub enum Flags2Error {
    /// A download failed in a way that is not an HTTP outcome (a file could not be written).
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// A download task itself failed (it panicked).
    #[error("{cc}: {source}")]
    Task {
        /// The code it was downloading.
        cc: CountryCode,
        /// How it failed.
        source: FutureError,
    },
    /// The pool refused the work.
    #[error(transparent)]
    Submit(#[from] SubmitError),
    /// The pool could not be built.
    #[error(transparent)]
    Pool(#[from] InvalidArgument),
    /// `as_completed` gave up waiting (it never does without a timeout).
    #[error(transparent)]
    Timeout(#[from] TimeoutError),
}

/// Turns one `download_one` outcome into a status: a failed request is an error to count (told
/// with `-v`), anything else stops the run.
fn classify(
    cc: CountryCode,
    outcome: &Result<DownloadStatus, DownloadError>,
    verbose: bool,
) -> Result<DownloadStatus, Flags2Error> {
    match outcome {
        Ok(status) => Ok(*status),
        Err(DownloadError::Fetch { source, .. }) => {
            if verbose {
                println!("*** Error for {cc}: {source}");
            }
            Ok(DownloadStatus::Error)
        }
        Err(e) => Err(e.clone().into()),
    }
}

/// `flags2_sequential`'s `download_many`: one code after the other, in order.
pub fn download_many_sequential(job: &Job) -> Result<Counts, Flags2Error> {
    let mut counts = Counts::default();
    for &cc in &job.cc_list {
        let outcome = job.client.download_one(cc, job.verbose);
        counts.add(classify(cc, &outcome, job.verbose)?);
        job.progress.inc(1);
    }
    Ok(counts)
}

/// `flags2_threadpool`'s `download_many`: submit every code to a pool of `concur_req` threads,
/// keep a future → code map, and count each future as it completes.
pub fn download_many_threadpool(job: &Job) -> Result<Counts, Flags2Error> {
    let executor = concurrent_futures::ThreadPoolExecutor::new(job.concur_req)?;
    let mut to_do_map = HashMap::with_capacity(job.cc_list.len());
    for &cc in &job.cc_list {
        let client = Arc::clone(&job.client);
        let verbose = job.verbose;
        let future = executor.submit(move |cc| client.download_one(cc, verbose), cc)?;
        to_do_map.insert(future, cc);
    }
    let mut counts = Counts::default();
    for future in as_completed(to_do_map.keys(), None) {
        let future = future?;
        let cc = to_do_map[&future];
        let outcome = future
            .result(None)
            .map_err(|source| Flags2Error::Task { cc, source })?;
        counts.add(classify(cc, outcome, job.verbose)?);
        job.progress.inc(1);
    }
    Ok(counts)
}

// ---------------------------------------------------------------------------------------------
// The program
// ---------------------------------------------------------------------------------------------

/// The whole program (the book's `main(download_many, default_concur_req, max_concur_req)`):
/// parse `args`, find the server, print the reports around `download_many`, save into
/// `dest_dir`. Returns the exit status: 2 for a usage error (nothing has been requested then),
/// 1 if the run could not finish.
pub fn run<I, T>(script: &Script, args: I, dest_dir: &Path) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let options = match parse_args(script, args) {
        Ok(options) => options,
        Err(e) => {
            // Rendered through print!/eprint! rather than e.print() so that test output
            // capture sees it; usage errors go to stderr, -h to stdout.
            if e.use_stderr() {
                eprint!("{}", e.render());
            } else {
                print!("{}", e.render());
            }
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    let site = match flags_client::resolve(&options.server) {
        Ok(site) => site,
        Err(e) => {
            eprintln!("*** {e}");
            return 1;
        }
    };
    if let Err(e) = flags_client::create_dest_dir(dest_dir) {
        eprintln!("*** {e}");
        return 1;
    }
    let actual_req = options.actual_req();
    println!(
        "{}",
        initial_report(&options.cc_list, actual_req, site.label, &site.base_url)
    );
    let job = Job {
        client: Arc::new(Client::new(
            site.base_url.clone(),
            dest_dir,
            flags_client::FLAGS2_TIMEOUT,
        )),
        progress: if options.verbose {
            ProgressBar::hidden()
        } else {
            progress_bar(options.cc_list.len())
        },
        cc_list: options.cc_list,
        verbose: options.verbose,
        concur_req: actual_req,
    };
    let t0 = Instant::now();
    let counts = (script.download_many)(&job);
    let elapsed = t0.elapsed();
    job.progress.finish();
    match counts {
        Ok(counts) if counts.total() == job.cc_list.len() => {
            println!("{}", final_report(&counts, elapsed));
            0
        }
        Ok(counts) => {
            eprintln!(
                "*** some downloads are unaccounted for: {} of {}",
                counts.total(),
                job.cc_list.len()
            );
            1
        }
        Err(e) => {
            eprintln!("*** {e}");
            1
        }
    }
}
