//! `sluice-server [configfile|-] [--directive value ...]`: load the config
//! (embedded defaults plus the file and flags, with redis-server's grammar),
//! then start one shard thread per core.

use sluice::config::{self, Invocation, Loaded};

/// Counts live heap bytes for INFO used_memory, as Redis's zmalloc does.
#[global_allocator]
static ALLOC: sluice::io::alloc::Counting = sluice::io::alloc::Counting;

fn main() {
    // A bug in any shard thread stops the whole server, as a failed Redis
    // assertion does: a server with one dead shard would hang its clients
    // and could hold stripe locks forever.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        sluice::warning!("=== SLUICE BUG REPORT START: Cut & paste starting from here ===");
        sluice::warning!("{info}");
        default_hook(info);
        std::process::abort();
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let loaded = match config::load_from_args(&args) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(1);
        }
    };
    let (config, config_file) = match loaded {
        Invocation::Run(Loaded {
            config,
            config_file,
            ..
        }) => (config, config_file),
        Invocation::Version => {
            println!("{}", config::version_line());
            return;
        }
        Invocation::Help => {
            eprintln!("{}", config::USAGE);
            std::process::exit(1);
        }
    };
    sluice::log::set_level(config.loglevel.into());
    if config.syslog_enabled {
        sluice::log::open_syslog(&config.syslog_ident, config.syslog_facility);
    }
    if let Err(err) = sluice::log::set_file(&config.logfile) {
        eprintln!("Can't open the log file {}: {err}", config.logfile);
        std::process::exit(1);
    }
    // Redis chdirs to `dir` so RDB files and relative paths land there.
    if let Err(err) = std::env::set_current_dir(&config.dir) {
        eprintln!("Can't chdir to '{}': {err}", config.dir.display());
        std::process::exit(1);
    }
    let duties = match sluice::server::process::Duties::begin(&config) {
        Ok(duties) => duties,
        Err(err) => {
            eprintln!("Can't go to the background: {err}");
            std::process::exit(1);
        }
    };
    sluice::notice!("oO0OoO0OoO0Oo sluice is starting oO0OoO0OoO0Oo");
    let config = adjust_open_files_limit(config);
    sluice::notice!(
        "sluice version={}, redis-compatible={}, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        sluice::cmd::conn::REDIS_VERSION,
        std::process::id()
    );
    match &config_file {
        Some(path) => sluice::notice!("Configuration loaded from {}", path.display()),
        None => sluice::warning!("Warning: no config file specified, using the default config."),
    }
    for (name, value) in sluice::config::inert_overrides(&config) {
        sluice::warning!(
            "{name} {} has no effect in sluice: the directive is accepted for redis.conf compatibility",
            String::from_utf8_lossy(&value)
        );
    }
    if let Err(err) = sluice::server::start(config, config_file, duties) {
        sluice::warning!("{err}");
        eprintln!("{err}");
        std::process::exit(1);
    }
}

/// server.c `adjustOpenFilesLimit`: every client needs a descriptor, plus
/// 32 reserved for listeners, files and the rings; lower maxclients when the
/// OS will not give that many.
fn adjust_open_files_limit(mut config: sluice::config::Config) -> sluice::config::Config {
    const RESERVED_FDS: u64 = 32;
    let wanted = u64::from(config.maxclients) + RESERVED_FDS;
    let got = sluice::io::sys::raise_nofile(wanted);
    if got < wanted {
        let reduced = got.saturating_sub(RESERVED_FDS).max(1);
        sluice::warning!(
            "You requested maxclients of {} requiring at least {wanted} max file descriptors.",
            config.maxclients
        );
        sluice::warning!(
            "Current maximum open files is {got}. maxclients has been reduced to {reduced} to compensate for low ulimit."
        );
        config.maxclients = u32::try_from(reduced).unwrap_or(u32::MAX);
    }
    config
}
