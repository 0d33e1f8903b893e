//! A local HTTP/1.1 flag server for the *Fluent Python* flag-download examples.
//!
//! It stands in for the book's three test servers at once (first edition port map):
//!
//! | role    | default port | behaviour                                                           |
//! |---------|--------------|---------------------------------------------------------------------|
//! | `LOCAL` | 8001         | plain file server (the book's nginx)                                |
//! | `DELAY` | 8002         | every response delayed 0.5 s (the book's Vaurien `delay` proxy)     |
//! | `ERROR` | 8003         | 25 % 500/501/502/503, 50 % delayed 0.5 s, 25 % plain (Vaurien)      |
//!
//! The second edition's `slow_server.py` is available through options: a delay drawn uniformly
//! from 0.5 to 5 s ([`DelaySpec::Uniform`]) and the 418 "I'm a teapot" error
//! ([`ServerConfig::teapot`]).
//!
//! Every server answers `GET`/`HEAD /flags/<cc>/<cc>.gif` for the 194 codes of [`COUNTRY_CODES`]
//! (lower case, as the book's clients ask for them) and 404 for anything else. With no directory
//! configured it serves GIFs it draws itself ([`generate_flag_gif`]); with
//! [`ServerConfig::dir`] it serves the files of a real directory (the unpacked `flags.zip`).
//!
//! The module is shared by the `flags_server` example (the command line), the integration tests
//! and the client examples, which include it with `#[path = "support/flag_server.rs"] mod
//! flag_server;`. From async code use [`bind`] then [`FlagServers::run`]; from synchronous code use
//! [`start`], which runs the servers on a Tokio runtime of their own and returns a
//! [`ServerHandle`] with the bound addresses.

// Each includer uses a different part of this module.
#![allow(dead_code)]

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

/// The 194 ISO 3166 codes that have a flag in the book's data set (`country_codes.txt`), sorted.
pub const COUNTRY_CODES: [&str; 194] = [
    "AD", "AE", "AF", "AG", "AL", "AM", "AO", "AR", "AT", "AU", "AZ", "BA", "BB", "BD", "BE", "BF",
    "BG", "BH", "BI", "BJ", "BN", "BO", "BR", "BS", "BT", "BW", "BY", "BZ", "CA", "CD", "CF", "CG",
    "CH", "CI", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CY", "CZ", "DE", "DJ", "DK", "DM", "DZ",
    "EC", "EE", "EG", "ER", "ES", "ET", "FI", "FJ", "FM", "FR", "GA", "GB", "GD", "GE", "GH", "GM",
    "GN", "GQ", "GR", "GT", "GW", "GY", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IN", "IQ", "IR",
    "IS", "IT", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KZ", "LA",
    "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MG", "MH",
    "MK", "ML", "MM", "MN", "MR", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NE", "NG", "NI",
    "NL", "NO", "NP", "NR", "NZ", "OM", "PA", "PE", "PG", "PH", "PK", "PL", "PT", "PW", "PY", "QA",
    "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SI", "SK", "SL", "SM", "SN", "SO",
    "SR", "SS", "ST", "SV", "SY", "SZ", "TD", "TG", "TH", "TJ", "TL", "TM", "TN", "TO", "TR", "TT",
    "TV", "TW", "TZ", "UA", "UG", "US", "UY", "UZ", "VA", "VC", "VE", "VN", "VU", "WS", "YE", "ZA",
    "ZM", "ZW",
];

/// Default port of the plain server (first edition: nginx).
pub const DEFAULT_LOCAL_PORT: u16 = 8001;
/// Default port of the delaying server (first edition: Vaurien `delay`).
pub const DEFAULT_DELAY_PORT: u16 = 8002;
/// Default port of the error-injecting server (first edition: Vaurien `error` + `delay`).
pub const DEFAULT_ERROR_PORT: u16 = 8003;
/// First edition delay: 0.5 s.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(500);
/// Second edition `slow_server.py`: `MIN_DELAY = 0.5`.
pub const SLOW_MIN_DELAY: Duration = Duration::from_millis(500);
/// Second edition `slow_server.py`: `MAX_DELAY = 5.0`.
pub const SLOW_MAX_DELAY: Duration = Duration::from_secs(5);
/// Width of the generated flags, in pixels.
pub const FLAG_WIDTH: u16 = 160;
/// Height of the generated flags, in pixels.
pub const FLAG_HEIGHT: u16 = 100;
/// Response header naming the delay the server applied, in milliseconds (absent when none was).
pub const DELAY_HEADER: &str = "x-flag-server-delay-ms";

/// The statuses of Vaurien's `error` behaviour.
const VAURIEN_ERRORS: [StatusCode; 4] = [
    StatusCode::INTERNAL_SERVER_ERROR,
    StatusCode::NOT_IMPLEMENTED,
    StatusCode::BAD_GATEWAY,
    StatusCode::SERVICE_UNAVAILABLE,
];

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Which of the three servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// No delay, no errors.
    Local,
    /// Every response delayed.
    Delay,
    /// Some responses are errors, some delayed, the rest plain.
    Error,
}

impl Role {
    /// The three roles, in port order.
    pub const ALL: [Role; 3] = [Role::Local, Role::Delay, Role::Error];

    /// The book's name for the server: `LOCAL`, `DELAY` or `ERROR`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Local => "LOCAL",
            Role::Delay => "DELAY",
            Role::Error => "ERROR",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// How long a delayed response waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DelaySpec {
    /// Always the same delay (first edition: 0.5 s).
    Fixed(Duration),
    /// Drawn uniformly from `min..=max` for each response (second edition: 0.5 to 5 s).
    Uniform { min: Duration, max: Duration },
}

impl DelaySpec {
    /// The second edition's `slow_server.py` delay: uniform from 0.5 to 5 s.
    pub const SLOW_RANDOM: DelaySpec = DelaySpec::Uniform {
        min: SLOW_MIN_DELAY,
        max: SLOW_MAX_DELAY,
    };

    fn sample(self, rng: &mut SplitMix64) -> Duration {
        match self {
            DelaySpec::Fixed(d) => d,
            DelaySpec::Uniform { min, max } => {
                let span = max.saturating_sub(min).as_secs_f64();
                min + Duration::from_secs_f64(span * rng.next_f64())
            }
        }
    }
}

impl fmt::Display for DelaySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DelaySpec::Fixed(d) => write!(f, "{} s", d.as_secs_f64()),
            DelaySpec::Uniform { min, max } => write!(
                f,
                "a random {} to {} s",
                min.as_secs_f64(),
                max.as_secs_f64()
            ),
        }
    }
}

/// What to start and how the servers behave. [`Default`] is the book's first edition setup on
/// 127.0.0.1:8001/8002/8003; [`ServerConfig::ephemeral`] is the same on free ports.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on (default 127.0.0.1).
    pub bind: IpAddr,
    /// Port of the LOCAL server; `Some(0)` picks a free port, `None` does not start it.
    pub local_port: Option<u16>,
    /// Port of the DELAY server; `Some(0)` picks a free port, `None` does not start it.
    pub delay_port: Option<u16>,
    /// Port of the ERROR server; `Some(0)` picks a free port, `None` does not start it.
    pub error_port: Option<u16>,
    /// Delay of every DELAY response and of the delayed share of ERROR responses.
    pub delay: DelaySpec,
    /// Share of ERROR responses that are errors (default 0.25).
    pub error_rate: f64,
    /// Share of ERROR responses that are delayed (default 0.5); the rest are served at once.
    pub delay_rate: f64,
    /// Add the second edition's 418 "I'm a teapot" to the ERROR server's error statuses.
    pub teapot: bool,
    /// Serve this directory instead of generated images: the directory that holds `flags/`
    /// (where `flags.zip` was unpacked), or that `flags/` directory itself.
    pub dir: Option<PathBuf>,
    /// Seed of the servers' random draws; `None` seeds from the clock.
    pub seed: Option<u64>,
    /// Largest request head (request line and headers) accepted, in bytes; larger gets 431.
    pub max_header_bytes: usize,
    /// A client that has not sent a whole request head in this time is disconnected.
    pub header_read_timeout: Duration,
    /// Print one line per request on standard error.
    pub log_requests: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            local_port: Some(DEFAULT_LOCAL_PORT),
            delay_port: Some(DEFAULT_DELAY_PORT),
            error_port: Some(DEFAULT_ERROR_PORT),
            delay: DelaySpec::Fixed(DEFAULT_DELAY),
            error_rate: 0.25,
            delay_rate: 0.5,
            teapot: false,
            dir: None,
            seed: None,
            max_header_bytes: 16 * 1024,
            header_read_timeout: Duration::from_secs(10),
            log_requests: false,
        }
    }
}

impl ServerConfig {
    /// The default behaviour with all three servers on free ports of 127.0.0.1.
    pub fn ephemeral() -> Self {
        ServerConfig {
            local_port: Some(0),
            delay_port: Some(0),
            error_port: Some(0),
            ..ServerConfig::default()
        }
    }

    /// Only the LOCAL server, on a free port of 127.0.0.1.
    pub fn local_only() -> Self {
        ServerConfig {
            local_port: Some(0),
            delay_port: None,
            error_port: None,
            ..ServerConfig::default()
        }
    }

    /// The configured port of a role.
    pub fn port(&self, role: Role) -> Option<u16> {
        match role {
            Role::Local => self.local_port,
            Role::Delay => self.delay_port,
            Role::Error => self.error_port,
        }
    }

    /// Checks the rates and delays; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let rate_ok = |r: f64| r.is_finite() && (0.0..=1.0).contains(&r);
        if !rate_ok(self.error_rate) {
            return Err(format!(
                "error rate {} is not between 0 and 1",
                self.error_rate
            ));
        }
        if !rate_ok(self.delay_rate) {
            return Err(format!(
                "delay rate {} is not between 0 and 1",
                self.delay_rate
            ));
        }
        if self.error_rate + self.delay_rate > 1.0 + 1e-9 {
            return Err(format!(
                "error rate {} plus delay rate {} is more than 1",
                self.error_rate, self.delay_rate
            ));
        }
        if let DelaySpec::Uniform { min, max } = self.delay {
            if min > max {
                return Err(format!(
                    "random delay: minimum {} s is above maximum {} s",
                    min.as_secs_f64(),
                    max.as_secs_f64()
                ));
            }
        }
        if self.max_header_bytes < 1024 {
            return Err(format!(
                "max header size {} is below 1024 bytes",
                self.max_header_bytes
            ));
        }
        if Role::ALL.iter().all(|&r| self.port(r).is_none()) {
            return Err("no server to start: every port is off".to_string());
        }
        Ok(())
    }

    /// The error statuses the ERROR server draws from.
    pub fn error_statuses(&self) -> Vec<StatusCode> {
        let mut statuses = VAURIEN_ERRORS.to_vec();
        if self.teapot {
            statuses.push(StatusCode::IM_A_TEAPOT);
        }
        statuses
    }

    /// One line telling what a role's server does under this configuration.
    pub fn describe(&self, role: Role) -> String {
        match role {
            Role::Local => "no delay, no errors".to_string(),
            Role::Delay => format!("every response delayed {}", self.delay),
            Role::Error => {
                let codes: Vec<String> = self
                    .error_statuses()
                    .iter()
                    .map(|s| s.as_u16().to_string())
                    .collect();
                let plain = (1.0 - self.error_rate - self.delay_rate).max(0.0);
                format!(
                    "{}% errors ({}), {}% delayed {}, {}% plain",
                    percent(self.error_rate),
                    codes.join("/"),
                    percent(self.delay_rate),
                    self.delay,
                    percent(plain)
                )
            }
        }
    }
}

fn percent(rate: f64) -> String {
    let p = rate * 100.0;
    if (p - p.round()).abs() < 1e-6 {
        format!("{}", p.round())
    } else {
        format!("{p:.1}")
    }
}

fn invalid_input(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

// ---------------------------------------------------------------------------------------------
// Starting and stopping
// ---------------------------------------------------------------------------------------------

/// Listeners bound by [`bind`], not yet serving. Requests that arrive before [`FlagServers::run`]
/// wait in the listen queue.
pub struct FlagServers {
    listeners: Vec<(Role, TcpListener, SocketAddr)>,
    shared: Arc<Shared>,
}

impl fmt::Debug for FlagServers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlagServers")
            .field("addrs", &self.addrs())
            .finish_non_exhaustive()
    }
}

/// Checks the configuration (and the directory, if one is given) and binds a listener for each
/// configured role. Must be called within a Tokio runtime.
pub async fn bind(config: ServerConfig) -> io::Result<FlagServers> {
    config.validate().map_err(invalid_input)?;
    let source = match &config.dir {
        Some(dir) => Source::Dir(flags_root(dir)?),
        None => Source::Generated,
    };
    let mut listeners = Vec::new();
    for role in Role::ALL {
        if let Some(port) = config.port(role) {
            let addr = SocketAddr::new(config.bind, port);
            let listener = listen(addr).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot listen on {addr} for the {role} server: {e}"),
                )
            })?;
            let bound = listener.local_addr()?;
            listeners.push((role, listener, bound));
        }
    }
    let seed = config.seed.unwrap_or_else(clock_seed);
    Ok(FlagServers {
        listeners,
        shared: Arc::new(Shared {
            config,
            source,
            seed,
        }),
    })
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // On Unix, so that a restarted server can take its port while old connections linger in
    // TIME_WAIT. Not on Windows, where SO_REUSEADDR lets a second socket bind a port that a
    // listening socket holds, so a taken port would not be reported.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    // A deep queue so that bursts of a thousand connections are not refused.
    socket.listen(1024)
}

impl FlagServers {
    /// The bound address of each started role.
    pub fn addrs(&self) -> Vec<(Role, SocketAddr)> {
        self.listeners.iter().map(|(r, _, a)| (*r, *a)).collect()
    }

    /// The bound address of a role, if it was started.
    pub fn addr(&self, role: Role) -> Option<SocketAddr> {
        addr_of(&self.addrs(), role)
    }

    /// The configuration the servers run with.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// Serves until `shutdown` completes, then stops accepting and drops open connections.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut loops = JoinSet::new();
        for (role, listener, addr) in self.listeners {
            // Each role has its own stream of draws, the same whichever other roles run.
            let stream = Role::ALL.iter().position(|&r| r == role).unwrap_or(0) as u64 + 1;
            let state = Arc::new(RoleState {
                role,
                port: addr.port(),
                rng: Mutex::new(SplitMix64::new(
                    self.shared.seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F),
                )),
                shared: Arc::clone(&self.shared),
            });
            loops.spawn(accept_loop(listener, state, stop_rx.clone()));
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        while loops.join_next().await.is_some() {}
    }
}

fn addr_of(addrs: &[(Role, SocketAddr)], role: Role) -> Option<SocketAddr> {
    addrs.iter().find(|(r, _)| *r == role).map(|(_, a)| *a)
}

/// Servers started by [`start`], running on a Tokio runtime of their own. Dropping the handle
/// stops them too.
#[derive(Debug)]
pub struct ServerHandle {
    addrs: Vec<(Role, SocketAddr)>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts the configured servers on a background thread with its own Tokio runtime and returns
/// once they listen. Usable from synchronous code (and, since it only blocks briefly on a
/// channel, from async code as well).
pub fn start(config: ServerConfig) -> io::Result<ServerHandle> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<Vec<(Role, SocketAddr)>>>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("flag-server".to_string())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("flag-server-worker")
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                match bind(config).await {
                    Ok(servers) => {
                        let _ = ready_tx.send(Ok(servers.addrs()));
                        servers
                            .run(async move {
                                let _ = stop_rx.await;
                            })
                            .await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        })?;
    match ready_rx.recv() {
        Ok(Ok(addrs)) => Ok(ServerHandle {
            addrs,
            stop: Some(stop_tx),
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(io::Error::other(
                "the flag server thread ended before listening",
            ))
        }
    }
}

impl ServerHandle {
    /// The bound address of each started role.
    pub fn addrs(&self) -> &[(Role, SocketAddr)] {
        &self.addrs
    }

    /// The bound address of a role, if it was started.
    pub fn addr(&self, role: Role) -> Option<SocketAddr> {
        addr_of(&self.addrs, role)
    }

    /// The base URL of a role's flags, e.g. `http://127.0.0.1:8001/flags`, to which the clients
    /// append `/<cc>/<cc>.gif`.
    pub fn base_url(&self, role: Role) -> Option<String> {
        self.addr(role).map(|a| format!("http://{a}/flags"))
    }

    /// Stops the servers and waits until their sockets are closed.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

// ---------------------------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------------------------

enum Source {
    Generated,
    /// Canonical path of the `flags/` directory.
    Dir(PathBuf),
}

struct Shared {
    config: ServerConfig,
    source: Source,
    seed: u64,
}

struct RoleState {
    role: Role,
    port: u16,
    rng: Mutex<SplitMix64>,
    shared: Arc<Shared>,
}

/// What the role does to one request.
enum Outcome {
    Plain,
    Delayed(Duration),
    Failed(StatusCode),
}

impl RoleState {
    fn draw(&self) -> Outcome {
        let config = &self.shared.config;
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        match self.role {
            Role::Local => Outcome::Plain,
            Role::Delay => Outcome::Delayed(config.delay.sample(&mut rng)),
            Role::Error => {
                let u = rng.next_f64();
                if u < config.error_rate {
                    let statuses = config.error_statuses();
                    let pick = rng.below(statuses.len() as u64) as usize;
                    Outcome::Failed(statuses[pick])
                } else if u < config.error_rate + config.delay_rate {
                    Outcome::Delayed(config.delay.sample(&mut rng))
                } else {
                    Outcome::Plain
                }
            }
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<RoleState>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(stream, peer, Arc::clone(&state)));
                }
                Err(e) => {
                    // Out of file descriptors, or a connection reset while queued: keep going.
                    if state.shared.config.log_requests {
                        eprintln!("{} :{} accept failed: {e}", state.role, state.port);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, state: Arc<RoleState>) {
    let _ = stream.set_nodelay(true);
    let config = &state.shared.config;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_header_size(config.max_header_bytes);
    let service_state = Arc::clone(&state);
    let service = service_fn(move |request: Request<Incoming>| {
        let state = Arc::clone(&service_state);
        async move { Ok::<_, Infallible>(respond(&state, peer, request).await) }
    });
    if let Err(e) = builder
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        if config.log_requests {
            eprintln!(
                "{} :{} {peer} connection error: {e}",
                state.role, state.port
            );
        }
    }
}

async fn respond(
    state: &RoleState,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let response = match state.draw() {
        Outcome::Plain => serve_flag(&state.shared, &request).await,
        Outcome::Delayed(delay) => {
            tokio::time::sleep(delay).await;
            let mut response = serve_flag(&state.shared, &request).await;
            response.headers_mut().insert(
                DELAY_HEADER,
                HeaderValue::from(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
            );
            response
        }
        Outcome::Failed(status) => {
            // Vaurien closes the socket after its canned error response.
            let mut response = error_page(status);
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            response
        }
    };
    if state.shared.config.log_requests {
        eprintln!(
            "{} :{} {peer} {} {} -> {} in {:.3} s",
            state.role,
            state.port,
            request.method(),
            request.uri(),
            response.status().as_u16(),
            started.elapsed().as_secs_f64()
        );
    }
    response
}

async fn serve_flag(shared: &Shared, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = error_page(StatusCode::METHOD_NOT_ALLOWED);
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let cc = match parse_flag_path(request.uri().path()) {
        Ok(cc) => cc,
        Err(status) => return error_page(status),
    };
    match &shared.source {
        Source::Generated => match std::str::from_utf8(&cc).ok().and_then(generated_flag) {
            Some(gif) => gif_response(gif),
            None => error_page(StatusCode::NOT_FOUND),
        },
        Source::Dir(root) => match read_flag_file(root, cc).await {
            Ok(bytes) => gif_response(Bytes::from(bytes)),
            Err(status) => error_page(status),
        },
    }
}

/// Maps a request path to a country code: `/flags/<cc>/<cc>.gif` with the same two lower-case
/// ASCII letters twice. Anything that tries to climb out of the data (dot segments, encoded
/// slashes, backslashes, NUL, bad escapes) is a 400; any other path is a 404.
pub fn parse_flag_path(path: &str) -> Result<[u8; 2], StatusCode> {
    let decoded = percent_decode(path).ok_or(StatusCode::BAD_REQUEST)?;
    if decoded.contains(&b'\\') || decoded.contains(&0) {
        return Err(StatusCode::BAD_REQUEST);
    }
    if decoded
        .split(|&b| b == b'/')
        .any(|segment| segment == b"." || segment == b"..")
    {
        return Err(StatusCode::BAD_REQUEST);
    }
    let lower = path.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c"]
        .iter()
        .any(|escape| lower.contains(escape))
    {
        // An encoded '.', '/' or '\' is never part of a flag path.
        return Err(StatusCode::BAD_REQUEST);
    }
    let rest = path
        .strip_prefix("/flags/")
        .ok_or(StatusCode::NOT_FOUND)?
        .as_bytes();
    let is_code = |s: &[u8]| s.len() == 2 && s.iter().all(u8::is_ascii_lowercase);
    if rest.len() == 9
        && is_code(&rest[0..2])
        && rest[2] == b'/'
        && rest[3..5] == rest[0..2]
        && &rest[5..] == b".gif"
    {
        Ok([rest[0], rest[1]])
    } else {
        Err(StatusCode::NOT_FOUND)
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape.
fn percent_decode(path: &str) -> Option<Vec<u8>> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// `DIR/flags` when it is a directory, else `DIR`; canonical, so that served files can be checked
/// to lie inside it.
fn flags_root(dir: &Path) -> io::Result<PathBuf> {
    let nested = dir.join("flags");
    let root = if nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    };
    let root = root
        .canonicalize()
        .map_err(|e| io::Error::new(e.kind(), format!("flag directory {}: {e}", root.display())))?;
    if !root.is_dir() {
        return Err(invalid_input(format!(
            "flag directory {} is not a directory",
            root.display()
        )));
    }
    Ok(root)
}

async fn read_flag_file(root: &Path, cc: [u8; 2]) -> Result<Vec<u8>, StatusCode> {
    let cc = std::str::from_utf8(&cc).map_err(|_| StatusCode::BAD_REQUEST)?;
    let candidate = root.join(cc).join(format!("{cc}.gif"));
    let real = match tokio::fs::canonicalize(&candidate).await {
        Ok(real) => real,
        Err(_) => return Err(StatusCode::NOT_FOUND),
    };
    // A symbolic link may point anywhere: serve only what really lies inside the data.
    if !real.starts_with(root) {
        return Err(StatusCode::FORBIDDEN);
    }
    match tokio::fs::metadata(&real).await {
        Ok(meta) if meta.is_file() => {}
        _ => return Err(StatusCode::NOT_FOUND),
    }
    tokio::fs::read(&real)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}

fn gif_response(body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error_page(status: StatusCode) -> Response<Full<Bytes>> {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let body =
        format!("<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>\n");
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

// ---------------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------------

/// SplitMix64 (Steele, Lea and Flood): tiny, fast and good enough for drawing outcomes.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (the modulo bias is negligible for small `n`).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

fn clock_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}

// ---------------------------------------------------------------------------------------------
// Generated flags
// ---------------------------------------------------------------------------------------------

/// The generated GIF of a code of [`COUNTRY_CODES`] (either case), or `None` for any other
/// code. Each image is drawn on first use and kept for the life of the process.
pub fn generated_flag(cc: &str) -> Option<Bytes> {
    static FLAGS: [OnceLock<Bytes>; COUNTRY_CODES.len()] =
        [const { OnceLock::new() }; COUNTRY_CODES.len()];
    let upper = cc.to_ascii_uppercase();
    let index = COUNTRY_CODES.binary_search(&upper.as_str()).ok()?;
    Some(
        FLAGS[index]
            .get_or_init(|| Bytes::from(generate_flag_gif(&upper)))
            .clone(),
    )
}

/// Flag-like colours the stripes are drawn from.
const STRIPE_COLOURS: [[u8; 3]; 12] = [
    [206, 17, 38],   // red
    [255, 255, 255], // white
    [0, 56, 147],    // blue
    [0, 122, 61],    // green
    [252, 209, 22],  // yellow
    [20, 20, 20],    // black
    [255, 130, 0],   // orange
    [117, 170, 219], // sky blue
    [128, 0, 32],    // maroon
    [0, 99, 65],     // dark green
    [0, 150, 180],   // teal
    [110, 40, 140],  // purple
];

/// Palette indices of the drawing.
const INK: u8 = 6;
const PAPER: u8 = 7;
const FRAME: u8 = 8;

/// A 5x7 bitmap font for `A`..=`Z`; bit 4 of each row is the leftmost pixel.
const FONT: [[u8; 7]; 26] = [
    [
        0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001,
    ], // A
    [
        0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110,
    ], // B
    [
        0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110,
    ], // C
    [
        0b11110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11110,
    ], // D
    [
        0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111,
    ], // E
    [
        0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000,
    ], // F
    [
        0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111,
    ], // G
    [
        0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001,
    ], // H
    [
        0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110,
    ], // I
    [
        0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100,
    ], // J
    [
        0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001,
    ], // K
    [
        0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111,
    ], // L
    [
        0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001,
    ], // M
    [
        0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001,
    ], // N
    [
        0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110,
    ], // O
    [
        0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000,
    ], // P
    [
        0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101,
    ], // Q
    [
        0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001,
    ], // R
    [
        0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110,
    ], // S
    [
        0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100,
    ], // T
    [
        0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110,
    ], // U
    [
        0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100,
    ], // V
    [
        0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010,
    ], // W
    [
        0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001,
    ], // X
    [
        0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100, 0b00100,
    ], // Y
    [
        0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111,
    ], // Z
];

/// Draws the flag of a two-letter code as a 160x100 GIF: three stripes whose colours and
/// direction derive from the code, a woven texture, and the code in a white box in the middle.
/// Different codes give different images; the same code always gives the same bytes.
pub fn generate_flag_gif(cc: &str) -> Vec<u8> {
    let letters: Vec<u8> = cc.bytes().map(|b| b.to_ascii_uppercase()).collect();
    let mut rng = SplitMix64::new(fnv1a(&letters));

    // Palette: 0..3 stripes, 3..6 their shades, then ink, paper and frame.
    let first = rng.below(STRIPE_COLOURS.len() as u64) as usize;
    let mut stripes = [first; 3];
    for i in 1..3 {
        let step = 1 + rng.below(STRIPE_COLOURS.len() as u64 - 1) as usize;
        stripes[i] = (stripes[i - 1] + step) % STRIPE_COLOURS.len();
    }
    let mut palette = Vec::with_capacity(16 * 3);
    for &s in &stripes {
        palette.extend_from_slice(&STRIPE_COLOURS[s]);
    }
    for &s in &stripes {
        palette.extend(STRIPE_COLOURS[s].iter().map(|&c| shade(c)));
    }
    palette.extend_from_slice(&[0, 0, 0]); // INK
    palette.extend_from_slice(&[255, 255, 255]); // PAPER
    palette.extend_from_slice(&[90, 90, 90]); // FRAME
    palette.resize(16 * 3, 0);

    let (w, h) = (usize::from(FLAG_WIDTH), usize::from(FLAG_HEIGHT));
    let vertical = rng.next_u64() & 1 == 1;
    let texture_seed = rng.next_u64();
    let mut pixels = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let stripe = if vertical { x * 3 / w } else { y * 3 / h };
            let noise = splitmix(texture_seed ^ ((y as u64) << 16 | x as u64));
            // One pixel in four is a shade: a texture, as in a scanned flag, that keeps the
            // image a few KB like the book's.
            let shaded = noise & 3 == 0;
            pixels[y * w + x] = stripe as u8 + if shaded { 3 } else { 0 };
        }
    }

    // The code in the middle: 5x7 glyphs scaled 4 times on a framed white box.
    let scale = 4;
    let glyph_w = 5 * scale;
    let gap = scale;
    let text_w = letters.len() * glyph_w + letters.len().saturating_sub(1) * gap;
    let text_h = 7 * scale;
    let pad = 6;
    let (box_w, box_h) = (text_w + 2 * pad, text_h + 2 * pad);
    let (box_x, box_y) = ((w - box_w.min(w)) / 2, (h - box_h.min(h)) / 2);
    for y in box_y..(box_y + box_h).min(h) {
        for x in box_x..(box_x + box_w).min(w) {
            let edge = y == box_y || y + 1 == box_y + box_h || x == box_x || x + 1 == box_x + box_w;
            pixels[y * w + x] = if edge { FRAME } else { PAPER };
        }
    }
    for (i, &letter) in letters.iter().enumerate() {
        let Some(glyph) = letter
            .checked_sub(b'A')
            .and_then(|g| FONT.get(usize::from(g)))
        else {
            continue;
        };
        let left = box_x + pad + i * (glyph_w + gap);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..5 {
                if bits & (0b10000 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (x, y) = (left + col * scale + dx, box_y + pad + row * scale + dy);
                        if x < w && y < h {
                            pixels[y * w + x] = INK;
                        }
                    }
                }
            }
        }
    }

    let mut out = Vec::with_capacity(4096);
    {
        let mut encoder = gif::Encoder::new(&mut out, FLAG_WIDTH, FLAG_HEIGHT, &palette)
            .expect("a 16-colour palette is a valid GIF palette");
        let frame = gif::Frame::from_indexed_pixels(FLAG_WIDTH, FLAG_HEIGHT, pixels, None);
        encoder
            .write_frame(&frame)
            .expect("writing a GIF into memory cannot fail");
        encoder
            .into_inner()
            .expect("writing a GIF into memory cannot fail");
    }
    out
}

fn shade(c: u8) -> u8 {
    if c > 127 {
        c - 40
    } else {
        c + 40
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

fn splitmix(x: u64) -> u64 {
    SplitMix64::new(x).next_u64()
}
