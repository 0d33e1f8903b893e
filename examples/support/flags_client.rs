//! The HTTP side of the *Fluent Python* flag-download examples: validated country codes, the
//! server to hit (with an in-process flag server when the local one is not running), a blocking
//! client with timeouts and a size limit, and the book's `flags.py` helpers (`get_flag`,
//! `save_flag`, `show`, `main`).
//!
//! Included with `#[path = "support/flags_client.rs"] mod flags_client;` beside
//! `#[path = "support/flag_server.rs"] mod flag_server;` at the root of each example (and of
//! `tests/flags_clients.rs`): it refers to the server module as `crate::flag_server`.
//!
//! Two ways in:
//! - [`Client`]: a base URL, a download directory and an HTTP agent, passed explicitly. The
//!   `flags2` examples and the tests use it.
//! - The book-shaped free functions ([`get_flag`], [`save_flag`], [`download_one`], [`main`]) for
//!   `flags`, `flags_threadpool` and `flags_threadpool_ac`. Like the book's `BASE_URL` constant they
//!   use one process-wide client, set up from the command line on first use, so that
//!   [`download_one`] stays a plain `fn(String) -> String` any executor can run, a process pool
//!   included.

// Each includer uses a different part of this module.
#![allow(dead_code)]

use std::fmt;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::Parser;
use concurrent_futures::{FutureError, InvalidArgument, SubmitError, TimeoutError};

use crate::flag_server::{self, Role, ServerConfig, ServerHandle};

/// The 20 most populous countries, in the book's (unsorted) order.
pub const POP20_CC: [&str; 20] = [
    "CN", "IN", "US", "ID", "BR", "PK", "NG", "BD", "RU", "JP", "MX", "PH", "VN", "ET", "EG", "DE",
    "IR", "TR", "CD", "FR",
];

/// Where the examples save flags, relative to the working directory (the book's `DEST_DIR`).
pub const DEST_DIR: &str = "downloads";

/// Largest flag accepted. The book's biggest flag is 36 KB and the generated ones a few KB; the
/// limit only keeps a misbehaving server from filling memory.
pub const MAX_FLAG_BYTES: u64 = 1 << 20;

/// Whole-request timeout of `flags`, `flags_threadpool` and `flags_threadpool_ac` (second
/// edition `flags.py`: 6.1 s).
pub const FLAGS_TIMEOUT: Duration = Duration::from_millis(6100);

/// Whole-request timeout of the `flags2` examples (second edition: 3.1 s).
pub const FLAGS2_TIMEOUT: Duration = Duration::from_millis(3100);

/// The book's remote server (first edition; plain HTTP, so no TLS is needed). These machines are
/// offline, so a run against it counts every code as an error.
pub const REMOTE_URL: &str = "http://flupy.org/data/flags";

/// Error pages are read (so that the connection can be reused) up to this size.
const ERROR_PAGE_LIMIT: u64 = 64 * 1024;

/// Idle keep-alive connections kept per host: enough for `-m 1000` to reuse its connections.
const MAX_IDLE_CONNECTIONS: usize = 1000;

/// How long to wait for a local server to accept a connection before deciding none runs.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------------------------
// Country codes
// ---------------------------------------------------------------------------------------------

/// Two ASCII letters, stored upper case: the only thing a URL path or a file name is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode([u8; 2]);

/// A string that is not two ASCII letters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a country code (two letters A to Z)")]
pub struct InvalidCode(pub String);

impl CountryCode {
    /// Accepts two ASCII letters in either case.
    pub fn new(code: &str) -> Result<Self, InvalidCode> {
        match code.as_bytes() {
            &[a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => Ok(CountryCode([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
            ])),
            _ => Err(InvalidCode(code.to_string())),
        }
    }

    /// The 26 codes starting with `first` (an ASCII letter, either case), `BA` to `BZ` for `B`.
    pub fn starting_with(first: char) -> Option<impl Iterator<Item = CountryCode>> {
        let first = u8::try_from(first)
            .ok()
            .filter(u8::is_ascii_alphabetic)?
            .to_ascii_uppercase();
        Some((b'A'..=b'Z').map(move |second| CountryCode([first, second])))
    }

    /// Every possible code, `AA` to `ZZ` (676).
    pub fn every() -> impl Iterator<Item = CountryCode> {
        (b'A'..=b'Z')
            .flat_map(|first| (b'A'..=b'Z').map(move |second| CountryCode([first, second])))
    }

    /// The 194 codes that have a flag ([`flag_server::COUNTRY_CODES`]).
    pub fn with_flags() -> impl Iterator<Item = CountryCode> {
        flag_server::COUNTRY_CODES
            .iter()
            .filter_map(|cc| CountryCode::new(cc).ok())
    }

    /// Lower case, as in the flag URLs: `br`.
    pub fn lower(self) -> String {
        self.0
            .iter()
            .map(|b| char::from(b.to_ascii_lowercase()))
            .collect()
    }

    /// The saved file's name: `br.gif` (first edition).
    pub fn file_name(self) -> String {
        format!("{}.gif", self.lower())
    }
}

impl FromStr for CountryCode {
    type Err = InvalidCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CountryCode::new(s)
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b] = self.0;
        write!(f, "{}{}", char::from(a), char::from(b))
    }
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

/// Which server to download from: one of the book's labels, or a URL of one's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Server {
    /// The local plain server (port 8001).
    Local,
    /// The local server that delays every response (port 8002).
    Delay,
    /// The local server that answers with errors and delays (port 8003).
    Error,
    /// The book's web site.
    Remote,
    /// Any `http://` base URL; flags are at `<url>/<cc>/<cc>.gif`.
    Url(String),
}

/// A `--server` value that is neither a label nor a usable URL; the message is the book's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("--server LABEL must be one of {}, or an http:// URL{}", Server::LABELS, .0)]
pub struct InvalidServer(String);

impl Server {
    /// The labels, as the book lists them.
    pub const LABELS: &'static str = "DELAY, ERROR, LOCAL, REMOTE";

    /// A label in any case, or an `http://host[:port][/path]` URL without query or fragment.
    pub fn parse(value: &str) -> Result<Server, InvalidServer> {
        match value.to_ascii_uppercase().as_str() {
            "LOCAL" => return Ok(Server::Local),
            "DELAY" => return Ok(Server::Delay),
            "ERROR" => return Ok(Server::Error),
            "REMOTE" => return Ok(Server::Remote),
            _ => {}
        }
        if !value.contains("://") {
            return Err(InvalidServer(String::new()));
        }
        let uri: ureq::http::Uri = value
            .parse()
            .map_err(|e| InvalidServer(format!(" ({value:?}: {e})")))?;
        match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => {}
            Some(s) if s.eq_ignore_ascii_case("https") => {
                // The examples build ureq without TLS: an offline demo has no use for it.
                return Err(InvalidServer(" (https is not supported here)".into()));
            }
            _ => return Err(InvalidServer(format!(" ({value:?} is not http://)"))),
        }
        if uri.host().is_none_or(str::is_empty) || uri.query().is_some() || value.contains('#') {
            return Err(InvalidServer(format!(
                " ({value:?} needs a host and no query or fragment)"
            )));
        }
        Ok(Server::Url(value.trim_end_matches('/').to_string()))
    }

    /// The book's label: `LOCAL`, `DELAY`, `ERROR`, `REMOTE`, or `URL` for a URL.
    pub fn label(&self) -> &'static str {
        match self {
            Server::Local => "LOCAL",
            Server::Delay => "DELAY",
            Server::Error => "ERROR",
            Server::Remote => "REMOTE",
            Server::Url(_) => "URL",
        }
    }

    /// The local server role behind a label, if it is one.
    pub fn role(&self) -> Option<Role> {
        match self {
            Server::Local => Some(Role::Local),
            Server::Delay => Some(Role::Delay),
            Server::Error => Some(Role::Error),
            Server::Remote | Server::Url(_) => None,
        }
    }
}

impl FromStr for Server {
    type Err = InvalidServer;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Server::parse(s)
    }
}

/// The default port of a local role (first edition: 8001, 8002, 8003).
pub fn default_port(role: Role) -> u16 {
    match role {
        Role::Local => flag_server::DEFAULT_LOCAL_PORT,
        Role::Delay => flag_server::DEFAULT_DELAY_PORT,
        Role::Error => flag_server::DEFAULT_ERROR_PORT,
    }
}

/// A server ready to download from: its label, base URL and, when this process had to start it,
/// the running in-process server (stopped when the `Site` is dropped).
#[derive(Debug)]
pub struct Site {
    /// The book's label of the server.
    pub label: &'static str,
    /// Flags are at `<base_url>/<cc>/<cc>.gif`.
    pub base_url: String,
    embedded: Option<ServerHandle>,
}

impl Site {
    /// Whether the flag server runs inside this process.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The in-process flag server did not start.
    #[error("cannot start the {role} flag server in this process: {source}")]
    EmbeddedServer {
        /// The role it was to play.
        role: Role,
        /// Why it failed.
        source: io::Error,
    },
    /// The download directory could not be created.
    #[error("cannot create the download directory {}: {source}", path.display())]
    DestDir {
        /// The directory.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
}

/// Finds the server: a URL or `REMOTE` as is; a local label on its default port when something
/// listens there, else a flag server started in this process on a free port (said on stderr).
pub fn resolve(server: &Server) -> Result<Site, SetupError> {
    if let Some(role) = server.role() {
        return resolve_local(role, default_port(role));
    }
    let base_url = match server {
        Server::Url(url) => url.clone(),
        _ => REMOTE_URL.to_string(),
    };
    Ok(Site {
        label: server.label(),
        base_url,
        embedded: None,
    })
}

/// [`resolve`] for a local role expected on `port` of 127.0.0.1.
pub fn resolve_local(role: Role, port: u16) -> Result<Site, SetupError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    // Only a connection attempt: an HTTP probe would cost a DELAY server's whole delay.
    if TcpStream::connect_timeout(&addr, PROBE_TIMEOUT).is_ok() {
        return Ok(Site {
            label: role.name(),
            base_url: format!("http://{addr}/flags"),
            embedded: None,
        });
    }
    let config = ServerConfig {
        local_port: (role == Role::Local).then_some(0),
        delay_port: (role == Role::Delay).then_some(0),
        error_port: (role == Role::Error).then_some(0),
        ..ServerConfig::default()
    };
    let handle =
        flag_server::start(config).map_err(|source| SetupError::EmbeddedServer { role, source })?;
    let base_url = handle
        .base_url(role)
        .ok_or_else(|| SetupError::EmbeddedServer {
            role,
            source: io::Error::other("the server did not report its address"),
        })?;
    eprintln!(
        "No {role} flag server listens on {addr} (start one with `cargo run --example \
         flags_server`); serving the flags from this process at {base_url}"
    );
    Ok(Site {
        label: role.name(),
        base_url,
        embedded: Some(handle),
    })
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// Why a flag could not be fetched. Every variant counts as an error in the `flags2` report,
/// except a 404 ([`FetchError::is_not_found`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a status other than 200.
    #[error("HTTP error {code} - {reason}", code = .0, reason = reason_phrase(*.0))]
    Status(u16),
    /// The whole request took longer than the client's timeout.
    #[error("Timeout ({0})")]
    Timeout(String),
    /// No connection, or the connection broke.
    #[error("Connection error ({0})")]
    Connection(String),
    /// The response body was larger than the client's limit.
    #[error("Response larger than {0} bytes")]
    TooLarge(u64),
    /// Anything else the HTTP client refused (a malformed response, too many redirects...).
    #[error("HTTP client error ({0})")]
    Protocol(String),
}

fn reason_phrase(status: u16) -> &'static str {
    ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown")
}

impl FetchError {
    /// A 404: the book counts it as "not found", not as an error.
    pub fn is_not_found(&self) -> bool {
        *self == FetchError::Status(404)
    }
}

impl From<ureq::Error> for FetchError {
    fn from(e: ureq::Error) -> Self {
        match e {
            ureq::Error::StatusCode(status) => FetchError::Status(status),
            ureq::Error::Timeout(t) => FetchError::Timeout(t.to_string()),
            ureq::Error::Io(io) if io.kind() == io::ErrorKind::TimedOut => {
                FetchError::Timeout(io.to_string())
            }
            ureq::Error::Io(io) => FetchError::Connection(io.to_string()),
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
                FetchError::Connection(e.to_string())
            }
            ureq::Error::BodyExceedsLimit(limit) => FetchError::TooLarge(limit),
            other => FetchError::Protocol(other.to_string()),
        }
    }
}

/// Why `download_one` failed. Only [`DownloadError::Fetch`] is counted as a download error; the
/// others stop a run, as in the book, where any other exception aborts the script.
#[derive(Clone, Debug, thiserror::Error)]
pub enum DownloadError {
    /// Not a valid code: nothing was requested.
    #[error(transparent)]
    InvalidCode(#[from] InvalidCode),
    /// The HTTP request failed.
    #[error("{cc}: {source}")]
    Fetch {
        /// The flag asked for.
        cc: CountryCode,
        /// What went wrong.
        source: FetchError,
    },
    /// The flag arrived but could not be written.
    #[error("cannot save {}: {source}", path.display())]
    Save {
        /// The file.
        path: PathBuf,
        /// Why it failed (shared so that the error can be cloned out of a future).
        source: Arc<io::Error>,
    },
}

/// How one download ended, as the book's `HTTPStatus` enum (`ok`, `not_found`, `error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DownloadStatus {
    /// Downloaded and saved.
    Ok,
    /// The server answered 404.
    NotFound,
    /// Any other status, a timeout, a connection error or an oversized answer.
    Error,
}

/// A blocking HTTP client bound to a flag server and a download directory. Cheap to share: the
/// agent's connection pool is used by every thread.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    base_url: String,
    dest_dir: PathBuf,
    max_body_bytes: u64,
}

impl Client {
    /// Flags from `<base_url>/<cc>/<cc>.gif` to `dest_dir/<cc>.gif` (the directory must exist),
    /// each request bounded by `timeout` from connect to the last body byte.
    pub fn new(
        base_url: impl Into<String>,
        dest_dir: impl Into<PathBuf>,
        timeout: Duration,
    ) -> Self {
        let agent = ureq::Agent::config_builder()
            // Statuses are data here: a 404 is "not found", other statuses are errors.
            .http_status_as_error(false)
            // Local servers only, by default: an HTTP_PROXY meant for the web must not apply.
            .proxy(None)
            .timeout_global(Some(timeout))
            .max_idle_connections(MAX_IDLE_CONNECTIONS)
            .max_idle_connections_per_host(MAX_IDLE_CONNECTIONS)
            .build()
            .into();
        Client {
            agent,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            dest_dir: dest_dir.into(),
            max_body_bytes: MAX_FLAG_BYTES,
        }
    }

    /// Replaces the response size limit ([`MAX_FLAG_BYTES`] by default).
    pub fn with_body_limit(mut self, bytes: u64) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Where flags are saved.
    pub fn dest_dir(&self) -> &Path {
        &self.dest_dir
    }

    /// `<base_url>/br/br.gif`.
    pub fn flag_url(&self, cc: CountryCode) -> String {
        let cc = cc.lower();
        format!("{}/{cc}/{cc}.gif", self.base_url)
    }

    /// The image of a flag; any status but 200 is an error (the book's `get_flag`).
    pub fn get_flag(&self, cc: CountryCode) -> Result<Vec<u8>, FetchError> {
        let mut response = self.agent.get(&self.flag_url(cc)).call()?;
        let status = response.status().as_u16();
        if status != 200 {
            // Read the short error page so that the connection can be reused; if that fails,
            // the connection is simply not reused.
            let _ = response
                .body_mut()
                .with_config()
                .limit(ERROR_PAGE_LIMIT)
                .read_to_vec();
            return Err(FetchError::Status(status));
        }
        Ok(response
            .body_mut()
            .with_config()
            .limit(self.max_body_bytes)
            .read_to_vec()?)
    }

    /// Writes `dest_dir/<cc>.gif` and returns its path.
    pub fn save_flag(&self, cc: CountryCode, image: &[u8]) -> Result<PathBuf, DownloadError> {
        let path = self.dest_dir.join(cc.file_name());
        std::fs::write(&path, image).map_err(|e| DownloadError::Save {
            path: path.clone(),
            source: Arc::new(e),
        })?;
        Ok(path)
    }

    /// The `flags2` `download_one`: fetch and save, a 404 is [`DownloadStatus::NotFound`], a
    /// failed request is an `Err` for the caller to count. With `verbose`, prints `BR OK` or
    /// `XX not found`.
    pub fn download_one(
        &self,
        cc: CountryCode,
        verbose: bool,
    ) -> Result<DownloadStatus, DownloadError> {
        match self.get_flag(cc) {
            Ok(image) => {
                self.save_flag(cc, &image)?;
                if verbose {
                    println!("{cc} OK");
                }
                Ok(DownloadStatus::Ok)
            }
            Err(e) if e.is_not_found() => {
                if verbose {
                    println!("{cc} not found");
                }
                Ok(DownloadStatus::NotFound)
            }
            Err(source) => Err(DownloadError::Fetch { cc, source }),
        }
    }
}

/// Creates the download directory (the first edition expected it to exist; the second creates it).
pub fn create_dest_dir(path: &Path) -> Result<(), SetupError> {
    std::fs::create_dir_all(path).map_err(|source| SetupError::DestDir {
        path: path.to_path_buf(),
        source,
    })
}

// ---------------------------------------------------------------------------------------------
// The book's flags.py: one process-wide client, set up from the command line
// ---------------------------------------------------------------------------------------------

/// The command line of `flags`, `flags_threadpool` and `flags_threadpool_ac`.
#[derive(Parser, Debug)]
#[command(about = "Download the flags of the 20 most populous countries.")]
struct SimpleArgs {
    /// Server to hit; one of DELAY, ERROR, LOCAL, REMOTE, or an http:// URL.
    #[arg(short, long, value_name = "LABEL", default_value = "LOCAL", value_parser = Server::parse)]
    server: Server,
}

struct Global {
    client: Client,
    /// Keeps an in-process server running for the life of the process.
    _site: Option<Site>,
}

static GLOBAL: OnceLock<Global> = OnceLock::new();

/// Sets the process-wide client, before any other use; `Err` gives it back if one was set.
pub fn install(client: Client) -> Result<(), Client> {
    GLOBAL
        .set(Global {
            client,
            _site: None,
        })
        .map_err(|g| g.client)
}

/// The process-wide client. The first call parses the command line (`-s LABEL`), finds or starts
/// the server and creates `downloads/`; it exits with status 2 on a usage error and with status
/// 1 if the setup fails. A worker process that runs [`download_one`] without running `main` gets
/// here with the same command line, so it finds the same server.
pub fn client() -> &'static Client {
    &GLOBAL
        .get_or_init(|| {
            let args = SimpleArgs::parse();
            let setup = resolve(&args.server).and_then(|site| {
                create_dest_dir(Path::new(DEST_DIR))?;
                Ok(site)
            });
            match setup {
                Ok(site) => Global {
                    client: Client::new(site.base_url.clone(), DEST_DIR, FLAGS_TIMEOUT),
                    _site: Some(site),
                },
                Err(e) => {
                    eprintln!("*** {e}");
                    std::process::exit(1);
                }
            }
        })
        .client
}

/// Where this process downloads from and saves to: the server's base URL and the directory
/// (set up on first use).
pub fn site() -> (String, PathBuf) {
    let client = client();
    (
        client.base_url().to_string(),
        client.dest_dir().to_path_buf(),
    )
}

/// Makes this process download from `base_url` into `dest_dir`: the process pool's
/// initializer, so workers use the server the parent found or started instead of parsing a
/// command line they do not have. (A process that already has its client keeps it.)
pub fn use_site((base_url, dest_dir): (String, PathBuf)) {
    let _ = install(Client::new(base_url, dest_dir, FLAGS_TIMEOUT));
}

/// Fetches a flag with the process-wide client (the book's `get_flag(cc)`).
pub fn get_flag(cc: &str) -> Result<Vec<u8>, DownloadError> {
    let cc = CountryCode::new(cc)?;
    client()
        .get_flag(cc)
        .map_err(|source| DownloadError::Fetch { cc, source })
}

/// Saves a flag as `downloads/<cc>.gif` (the book's `save_flag(img, filename)`, with the file
/// name made here from the validated code).
pub fn save_flag(image: &[u8], cc: &str) -> Result<PathBuf, DownloadError> {
    client().save_flag(CountryCode::new(cc)?, image)
}

/// Prints `text` and a space, at once (the book's `show`).
pub fn show(text: &str) {
    print!("{text} ");
    // Without the flush the codes would appear only with the final line.
    let _ = io::stdout().flush();
}

/// The book's `download_one` of `flags_threadpool`: download, show the code, save, return the
/// code. A plain `fn` with serde argument and result, so any executor can run it.
///
/// A failure is raised as a panic on purpose: the pool stores it in the future as
/// [`FutureError::Panicked`], the way Python stores the exception, and `map`/`result` hand it
/// to the caller. That keeps the future's type `String`, as the book's `str`, so the futures
/// print as `<Future at 0x.. state=finished returned String>`.
pub fn download_one(cc: String) -> String {
    let saved = get_flag(&cc).and_then(|image| {
        show(&cc);
        save_flag(&image, &cc)
    });
    match saved {
        Ok(_) => cc,
        Err(e) => panic!("{e}"),
    }
}

/// Why `download_many` of the simple examples stopped.
#[derive(Debug, thiserror::Error)]
pub enum FlagsError {
    /// A download failed.
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// A task failed: its download error, raised in a worker.
    #[error(transparent)]
    Task(#[from] FutureError),
    /// The pool refused the work.
    #[error(transparent)]
    Submit(#[from] SubmitError),
    /// The pool could not be built.
    #[error(transparent)]
    Pool(#[from] InvalidArgument),
    /// The process pool could not be built.
    #[cfg(all(unix, feature = "process-pool"))]
    #[error(transparent)]
    ProcessPool(#[from] concurrent_futures::ProcessPoolError),
    /// `as_completed` gave up waiting (it never does without a timeout).
    #[error(transparent)]
    Timeout(#[from] TimeoutError),
}

/// The book's `main(download_many)`: sets the client up, times `download_many(POP20_CC)` and
/// prints `20 flags downloaded in 0.05s`.
pub fn main(download_many: fn(&[&str]) -> Result<usize, FlagsError>) -> ExitCode {
    // Set up before the clock starts: probing for the server and starting one are not timed.
    client();
    let t0 = Instant::now();
    let outcome = download_many(&POP20_CC);
    let elapsed = t0.elapsed().as_secs_f64();
    match outcome {
        Ok(count) => {
            println!("\n{count} flags downloaded in {elapsed:.2}s");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!();
            eprintln!("*** {e}");
            ExitCode::FAILURE
        }
    }
}
