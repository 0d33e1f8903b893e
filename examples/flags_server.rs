//! The local flag server for the flag-download examples: the book's three test servers at once.
//!
//! ```text
//! cargo run --example flags_server                      # LOCAL 8001, DELAY 8002, ERROR 8003
//! cargo run --example flags_server -- --slow-random --teapot   # second edition behaviour
//! cargo run --example flags_server -- --dir /tmp/flags-data    # serve the unpacked flags.zip
//! ```
//!
//! Every server answers `/flags/<cc>/<cc>.gif` for the 194 country codes and 404 for any other
//! code. Without `--dir` the images are generated (a 160x100 GIF per country, a few KB each).
//! Stop it with Ctrl-C.

#[path = "support/flag_server.rs"]
mod flag_server;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use flag_server::{DelaySpec, ServerConfig};

/// Serve the flag images on three local ports: LOCAL (no delay), DELAY (every response
/// delayed) and ERROR (random 5xx errors and delays), as the Fluent Python flag demos expect.
#[derive(Parser, Debug)]
#[command(name = "flags_server", version)]
struct Args {
    /// Port of the LOCAL server (no delay, no errors); 0 picks a free port.
    #[arg(long, default_value_t = flag_server::DEFAULT_LOCAL_PORT, value_name = "PORT")]
    local_port: u16,

    /// Port of the DELAY server (every response delayed); 0 picks a free port.
    #[arg(long, default_value_t = flag_server::DEFAULT_DELAY_PORT, value_name = "PORT")]
    delay_port: u16,

    /// Port of the ERROR server (errors, delays and plain responses); 0 picks a free port.
    #[arg(long, default_value_t = flag_server::DEFAULT_ERROR_PORT, value_name = "PORT")]
    error_port: u16,

    /// Delay in seconds of DELAY responses and of delayed ERROR responses; with --slow-random,
    /// the shortest delay.
    #[arg(long, default_value_t = 0.5, value_name = "SECONDS")]
    delay: f64,

    /// With --slow-random, the longest delay in seconds.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    max_delay: f64,

    /// Share of ERROR responses that are errors (500, 501, 502 or 503).
    #[arg(long, default_value_t = 0.25, value_name = "RATE")]
    error_rate: f64,

    /// Share of ERROR responses that are delayed; the rest are served at once.
    #[arg(long, default_value_t = 0.5, value_name = "RATE")]
    delay_rate: f64,

    /// Second edition: draw each delay uniformly from --delay to --max-delay (0.5 to 5 s).
    #[arg(long)]
    slow_random: bool,

    /// Second edition: the ERROR server may also answer 418 I'm a teapot.
    #[arg(long)]
    teapot: bool,

    /// Serve the flags of this directory (where flags.zip was unpacked, or its flags/
    /// directory) instead of generated images.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDRESS")]
    bind: IpAddr,

    /// Seed of the random delays and errors, for repeatable runs.
    #[arg(long)]
    seed: Option<u64>,

    /// Do not print a line per request.
    #[arg(long, short)]
    quiet: bool,
}

fn seconds(name: &str, value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value).map_err(|_| format!("--{name} {value} is not a delay"))
}

impl Args {
    fn config(&self) -> Result<ServerConfig, String> {
        let delay = seconds("delay", self.delay)?;
        let delay = if self.slow_random {
            DelaySpec::Uniform {
                min: delay,
                max: seconds("max-delay", self.max_delay)?,
            }
        } else {
            DelaySpec::Fixed(delay)
        };
        let config = ServerConfig {
            bind: self.bind,
            local_port: Some(self.local_port),
            delay_port: Some(self.delay_port),
            error_port: Some(self.error_port),
            delay,
            error_rate: self.error_rate,
            delay_rate: self.delay_rate,
            teapot: self.teapot,
            dir: self.dir.clone(),
            seed: self.seed,
            log_requests: !self.quiet,
            ..ServerConfig::default()
        };
        config.validate()?;
        Ok(config)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = match args.config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("flags_server: {message}");
            return ExitCode::from(2);
        }
    };
    let servers = match flag_server::bind(config).await {
        Ok(servers) => servers,
        Err(e) => {
            eprintln!("flags_server: {e}");
            return ExitCode::FAILURE;
        }
    };
    match &servers.config().dir {
        Some(dir) => println!(
            "Serving the flags of {} at /flags/<cc>/<cc>.gif",
            dir.display()
        ),
        None => println!(
            "Serving {} generated flags ({}x{} GIF) at /flags/<cc>/<cc>.gif",
            flag_server::COUNTRY_CODES.len(),
            flag_server::FLAG_WIDTH,
            flag_server::FLAG_HEIGHT
        ),
    }
    for (role, addr) in servers.addrs() {
        println!(
            "  {:<5}  http://{addr}/flags  {}",
            role,
            servers.config().describe(role)
        );
    }
    println!("Press Ctrl-C to stop.");
    servers
        .run(async {
            if tokio::signal::ctrl_c().await.is_err() {
                // No signal handling here: serve until killed.
                std::future::pending::<()>().await;
            }
        })
        .await;
    println!("Stopped.");
    ExitCode::SUCCESS
}
