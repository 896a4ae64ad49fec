//! Server commands: INFO CONFIG DBSIZE FLUSHDB FLUSHALL SWAPDB TIME SHUTDOWN
//! DEBUG MONITOR LASTSAVE.

use super::{all_commands, conn::REDIS_VERSION, eq_ic, unknown_subcommand, Ctx, ERR_SYNTAX};
use crate::io::sys;
use crate::protocol::Argv;
use crate::server::{ShardMetrics, ShutdownMode};
use crate::store::lazyfree::Lazy;
use crate::store::STRIPES;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

pub fn dbsize(ctx: &mut Ctx, _argv: &Argv) {
    let db = ctx.ks.db;
    let total: usize = (0..STRIPES)
        .map(|s| ctx.ks.locked.with_stripe(s, |st| st.dbs[db].map.len()))
        .sum();
    ctx.out.int(total as i64);
}

/// FLUSHDB/FLUSHALL take an optional ASYNC (the data is freed on the
/// lazy-free thread) or SYNC (freed while the stripes are held); without
/// either, `lazyfree-lazy-user-flush` chooses.
fn flush_mode_ok(argv: &Argv) -> bool {
    argv.len() == 1
        || (argv.len() == 2 && (eq_ic(argv.get(1), "async") || eq_ic(argv.get(1), "sync")))
}

/// Empties `dbs`; with ASYNC the old data is freed on the lazy-free
/// thread, not while this command holds every stripe.
fn flush_dbs(ctx: &mut Ctx, dbs: std::ops::Range<usize>, argv: &Argv) {
    let lazy = match argv.len() {
        1 => ctx.srv.keyspace.lazyfree.is_lazy(Lazy::UserFlush),
        _ => eq_ic(argv.get(1), "async"),
    };
    let mut removed = 0u64;
    let mut old = Vec::new();
    for s in 0..STRIPES {
        let stripe = ctx.ks.locked.stripe(s);
        for db in dbs.clone() {
            stripe.touch_watched_db(db, None);
            removed += stripe.dbs[db].map.len() as u64;
            let data = std::mem::take(&mut stripe.dbs[db]);
            if lazy && !data.map.is_empty() {
                old.push(data);
            }
        }
    }
    if lazy {
        ctx.srv.keyspace.lazyfree.send(Box::new(old), removed);
    }
    ctx.ks.dirty += removed.max(1);
}

pub fn flushdb(ctx: &mut Ctx, argv: &Argv) {
    if !flush_mode_ok(argv) {
        return ctx.out.error(ERR_SYNTAX);
    }
    let db = ctx.ks.db;
    flush_dbs(ctx, db..db + 1, argv);
    ctx.force_propagation();
    ctx.out.ok();
}

pub fn flushall(ctx: &mut Ctx, argv: &Argv) {
    if !flush_mode_ok(argv) {
        return ctx.out.error(ERR_SYNTAX);
    }
    let n = ctx.srv.keyspace.databases();
    flush_dbs(ctx, 0..n, argv);
    // db.c `flushAllDataAndResetRDB`: with save points, the RDB file is
    // rewritten (empty) at once, and a save in progress, whose image
    // predates the flush, is cancelled and taken again.
    if !ctx.srv.config.read().save.is_empty() {
        let persist = &ctx.srv.persist;
        if persist
            .in_progress
            .load(std::sync::atomic::Ordering::Acquire)
        {
            persist
                .cancel
                .store(true, std::sync::atomic::Ordering::Release);
        } else {
            let _ = crate::server::persist::save_held(ctx.srv, &mut ctx.ks.locked);
        }
    }
    ctx.force_propagation();
    ctx.out.ok();
}

pub fn swapdb(ctx: &mut Ctx, argv: &Argv) {
    let parse = |arg: &[u8], which: &str| {
        crate::num::parse_i64(arg)
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or(format!("ERR invalid {which} DB index"))
    };
    let (a, b) = match (parse(argv.get(1), "first"), parse(argv.get(2), "second")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return ctx.out.error(&e),
    };
    let n = ctx.srv.keyspace.databases() as i64;
    if !(0..n).contains(&a) || !(0..n).contains(&b) {
        return ctx.out.error("ERR DB index is out of range");
    }
    let (a, b) = (a as usize, b as usize);
    if a != b {
        for s in 0..STRIPES {
            let stripe = ctx.ks.locked.stripe(s);
            stripe.touch_watched_db(a, Some(b));
            stripe.touch_watched_db(b, Some(a));
            stripe.dbs.swap(a, b);
        }
        ctx.ks.dirty += 1;
    }
    ctx.out.ok();
}

pub fn time(ctx: &mut Ctx, _argv: &Argv) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk(now.as_secs().to_string().as_bytes());
    ctx.out.bulk(now.subsec_micros().to_string().as_bytes());
}

pub fn lastsave(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out
        .int(ctx.srv.lastsave_s.load(Ordering::Relaxed) as i64);
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: no reply on success; the
/// connection closes with the server.
pub fn shutdown(ctx: &mut Ctx, argv: &Argv) {
    let mut mode = ShutdownMode::Default;
    for arg in argv.iter().skip(1) {
        if eq_ic(arg, "nosave") {
            mode = ShutdownMode::NoSave;
        } else if eq_ic(arg, "save") {
            mode = ShutdownMode::Save;
        } else if eq_ic(arg, "now") || eq_ic(arg, "force") {
        } else if eq_ic(arg, "abort") {
            return ctx.out.error("ERR No shutdown in progress.");
        } else {
            return ctx.out.error(ERR_SYNTAX);
        }
    }
    // rdb.c `prepareForShutdown`: save first (SAVE, or the default with
    // save points configured); a failed save cancels the shutdown.
    let save_points = !ctx.srv.config.read().save.is_empty();
    if mode == ShutdownMode::Save || (mode == ShutdownMode::Default && save_points) {
        crate::notice!("Saving the final RDB snapshot before exiting.");
        let saved = if ctx.client.in_exec {
            crate::server::persist::save_held(ctx.srv, &mut ctx.ks.locked)
        } else {
            crate::server::persist::save(ctx.srv)
        };
        if saved.is_err() {
            crate::warning!("Error trying to save the DB, can't exit.");
            return ctx.out.error("ERR Errors trying to SHUTDOWN. Check logs.");
        }
    }
    ctx.srv.request_shutdown(ShutdownMode::NoSave);
    ctx.client.close_after_reply = true;
}

pub fn monitor(ctx: &mut Ctx, _argv: &Argv) {
    if ctx.client.in_exec {
        return ctx
            .out
            .error("ERR MONITOR isn't allowed for DENY BLOCKING client");
    }
    ctx.client.monitor = true;
    ctx.out.ok();
}

/// DEBUG SLEEP seconds | SET-ACTIVE-EXPIRE | OBJECT key | HELP.
pub fn debug(ctx: &mut Ctx, argv: &Argv) {
    let local = ctx.client.meta.is_local();
    if !ctx.srv.config.read().enable_debug_command.allows(local) {
        return ctx.out.error(
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it \
             from a local connection, otherwise you need to set this option in the configuration file, and then \
             restart the server.",
        );
    }
    let sub = argv.get(1);
    if eq_ic(sub, "sleep") && argv.len() == 3 {
        let secs = crate::num::parse_f64(argv.get(2))
            .unwrap_or(0.0)
            .clamp(0.0, 3600.0);
        std::thread::sleep(std::time::Duration::from_secs_f64(secs));
        ctx.out.ok();
    } else if eq_ic(sub, "set-active-expire") && argv.len() == 3 {
        // debug.c: any integer, non-zero turns the expire cycle on.
        let on = crate::num::parse_i64(argv.get(2)).unwrap_or(0) != 0;
        ctx.srv.active_expire.store(on, Ordering::Relaxed);
        ctx.out.ok();
    } else if eq_ic(sub, "object") && argv.len() == 3 {
        // DEBUG OBJECT does not know the key's stripe from the command table;
        // walk to it (DEBUG has no key specs).
        let key = argv.get(2);
        let db = ctx.ks.db;
        let stripe = crate::store::stripe_of(key);
        let found = ctx.ks.locked.with_stripe(stripe, |s| {
            s.dbs[db].map.get(key).map(|e| {
                (
                    e.value.encoding(),
                    e.value.string_len().unwrap_or(0),
                    e.access_s,
                )
            })
        });
        match found {
            Some((enc, len, access)) => {
                let idle = ctx.ks.lru_clock.saturating_sub(access);
                let text = format!(
                    "Value at:0x0 refcount:1 encoding:{enc} serializedlength:{len} lru:{access} lru_seconds_idle:{idle}"
                );
                ctx.out.simple(text.as_bytes());
            }
            None => ctx.out.error("ERR no such key"),
        }
    } else if eq_ic(sub, "digest") && argv.len() == 2 {
        let digest = dataset_digest(ctx);
        ctx.out
            .simple(crate::store::digest::hex(&digest).as_bytes());
    } else if eq_ic(sub, "digest-value") {
        // One digest per key given (debug.c `xorObjectDigest`): the value
        // and its TTL marker, without the key name.
        let db = ctx.ks.db;
        ctx.out.array(argv.len() - 2);
        for key in argv.iter().skip(2) {
            let mut d = [0u8; 20];
            let stripe = crate::store::stripe_of(key);
            ctx.ks.locked.with_stripe(stripe, |s| {
                if let Some(entry) = s.dbs[db].map.get(key) {
                    crate::store::digest::value_digest(&mut d, &entry.value, entry.expire_ms != 0);
                }
            });
            ctx.out.simple(crate::store::digest::hex(&d).as_bytes());
        }
    } else if eq_ic(sub, "help") {
        let lines = [
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
            "HELP",
            "    Prints this help.",
        ];
        super::reply_help(ctx, &lines);
    } else {
        unknown_subcommand(ctx, "DEBUG", sub);
    }
}

/// debug.c `computeDatasetDigest` over every database.
fn dataset_digest(ctx: &mut Ctx) -> crate::store::digest::Digest {
    let mut digest = [0u8; 20];
    for db in 0..ctx.srv.keyspace.databases() {
        let mut db_digest = [0u8; 20];
        let mut keys = 0;
        for s in 0..STRIPES {
            ctx.ks.locked.with_stripe(s, |stripe| {
                keys += stripe.dbs[db].map.len();
                crate::store::digest::add_db_part(&mut db_digest, &stripe.dbs[db]);
            });
        }
        crate::store::digest::add_db(&mut digest, db, keys, &db_digest);
    }
    digest
}

/// CONFIG GET|SET|RESETSTAT|REWRITE|HELP.
pub fn config(ctx: &mut Ctx, argv: &Argv) {
    let sub = argv.get(1);
    let argc = argv.len();
    if eq_ic(sub, "get") {
        if argc < 3 {
            return ctx.wrong_arity("config|get");
        }
        let patterns: Vec<&[u8]> = argv.iter().skip(2).collect();
        let pairs = ctx.srv.config.read().get_many(&patterns);
        ctx.out.map(pairs.len());
        for (k, v) in pairs {
            ctx.out.bulk(k.as_bytes());
            ctx.out.bulk(&v);
        }
    } else if eq_ic(sub, "set") {
        if argc < 4 || argc % 2 != 0 {
            return ctx.wrong_arity("config|set");
        }
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = (2..argc)
            .step_by(2)
            .map(|i| (argv.get(i).to_vec(), argv.get(i + 1).to_vec()))
            .collect();
        let local = ctx.client.meta.is_local();
        let result = ctx.srv.config.write().set_by_client(&pairs, local);
        match result {
            Ok(changed) => {
                apply_config_changes(ctx, &changed);
                ctx.out.ok();
            }
            Err(e) => ctx.out.error(&e),
        }
    } else if eq_ic(sub, "resetstat") && argc == 2 {
        for m in &ctx.srv.metrics {
            *m.lock() = ShardMetrics::default();
        }
        ctx.out.ok();
    } else if eq_ic(sub, "rewrite") && argc == 2 {
        let Some(path) = ctx.srv.config_file.clone() else {
            return ctx
                .out
                .error("ERR The server is running without a config file");
        };
        let result = ctx.srv.config.read().rewrite(&path);
        match result {
            Ok(()) => {
                crate::notice!("CONFIG REWRITE executed with success.");
                ctx.out.ok();
            }
            Err(e) => {
                crate::warning!("CONFIG REWRITE failed: {e}");
                ctx.out.error(&format!("ERR Rewriting config file: {e}"));
            }
        }
    } else if eq_ic(sub, "help") && argc == 2 {
        let lines = [
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
            "HELP",
            "    Prints this help.",
        ];
        super::reply_help(ctx, &lines);
    } else if ["resetstat", "rewrite", "help"]
        .iter()
        .any(|s| eq_ic(sub, s))
    {
        ctx.wrong_arity(&format!(
            "config|{}",
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        ));
    } else {
        unknown_subcommand(ctx, "CONFIG", sub);
    }
}

/// SLOWLOG GET [count] | LEN | RESET | HELP (slowlog.c `slowlogCommand`).
pub fn slowlog(ctx: &mut Ctx, argv: &Argv) {
    let sub = argv.get(1);
    let log = &ctx.srv.slowlog;
    if eq_ic(sub, "help") && argv.len() == 2 {
        let lines = [
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ];
        super::reply_help(ctx, &lines);
    } else if eq_ic(sub, "reset") && argv.len() == 2 {
        log.reset();
        ctx.out.ok();
    } else if eq_ic(sub, "len") && argv.len() == 2 {
        ctx.out.int(log.len() as i64);
    } else if eq_ic(sub, "get") && argv.len() <= 3 {
        let count = match argv.len() {
            2 => 10,
            _ => match crate::num::parse_i64(argv.get(2)) {
                Some(-1) => usize::MAX,
                Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => {
                    return ctx
                        .out
                        .error("ERR count should be greater than or equal to -1")
                }
            },
        };
        let entries = log.newest(count);
        ctx.out.array(entries.len());
        for e in entries {
            ctx.out.array(6);
            ctx.out.int(e.id as i64);
            ctx.out.int(e.time_s as i64);
            ctx.out.int(i64::try_from(e.micros).unwrap_or(i64::MAX));
            ctx.out.array(e.args.len());
            for arg in &e.args {
                ctx.out.bulk(arg);
            }
            ctx.out.bulk(e.peer.as_bytes());
            ctx.out.bulk(&e.name);
        }
    } else {
        super::subcommand_syntax_error(ctx.out, argv);
    }
}

/// LATENCY LATEST | HISTORY event | RESET [event ...] | HISTOGRAM
/// [command ...] | HELP (latency.c `latencyCommand`).
pub fn latency(ctx: &mut Ctx, argv: &Argv) {
    let sub = argv.get(1);
    let monitor = &ctx.srv.latency;
    if eq_ic(sub, "latest") {
        let events = monitor.events();
        ctx.out.array(events.len());
        for (name, series) in events {
            let (time, ms) = series.latest();
            ctx.out.array(4);
            ctx.out.bulk(name.as_bytes());
            ctx.out.int(time as i64);
            ctx.out.int(ms as i64);
            ctx.out.int(series.max as i64);
        }
    } else if eq_ic(sub, "history") {
        let samples = monitor
            .series(argv.get(2))
            .map(|s| s.history())
            .unwrap_or_default();
        ctx.out.array(samples.len());
        for (time, ms) in samples {
            ctx.out.array(2);
            ctx.out.int(time as i64);
            ctx.out.int(ms as i64);
        }
    } else if eq_ic(sub, "reset") {
        let resets = match argv.len() {
            2 => monitor.reset(None),
            _ => argv.iter().skip(2).map(|e| monitor.reset(Some(e))).sum(),
        };
        ctx.out.int(resets as i64);
    } else if eq_ic(sub, "histogram") {
        latency_histogram(ctx, argv);
    } else {
        let lines = [
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ];
        super::reply_help(ctx, &lines);
    }
}

/// LATENCY HISTOGRAM: per command with data, its calls and cumulative
/// distribution (`fillCommandCDF`), from the shards' histograms merged.
fn latency_histogram(ctx: &mut Ctx, argv: &Argv) {
    let wanted: Vec<&'static super::Command> = if argv.len() == 2 {
        all_commands().to_vec()
    } else {
        argv.iter()
            .skip(2)
            .filter_map(super::table::lookup)
            .collect()
    };
    let mut found = Vec::new();
    for cmd in wanted {
        if let Some(h) = ctx.srv.command_latency(cmd.id()).filter(|h| !h.is_empty()) {
            if !found.iter().any(|(name, _)| *name == cmd.name) {
                found.push((cmd.name, h));
            }
        }
    }
    ctx.out.map(found.len());
    for (name, h) in found {
        ctx.out.bulk(name.as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(i64::try_from(h.len()).unwrap_or(i64::MAX));
        ctx.out.bulk(b"histogram_usec");
        let buckets = crate::server::latency::command_cdf(&h);
        ctx.out.map(buckets.len());
        for (usec, count) in buckets {
            ctx.out.int(usec as i64);
            ctx.out.int(count as i64);
        }
    }
}

/// Makes a CONFIG SET take effect: shards reload their cached limits when
/// `config_gen` moves; process-wide settings are applied here.
fn apply_config_changes(ctx: &mut Ctx, changed: &[&'static str]) {
    let config = ctx.srv.config.read();
    for name in changed {
        match *name {
            "loglevel" => crate::log::set_level(config.loglevel.into()),
            "logfile" => {
                if let Err(e) = crate::log::set_file(&config.logfile) {
                    crate::warning!("Can't open the log file {}: {e}", config.logfile);
                }
            }
            "dir" => {
                if let Err(e) = std::env::set_current_dir(&config.dir) {
                    crate::warning!("Can't chdir to '{}': {e}", config.dir.display());
                }
            }
            _ => {}
        }
    }
    drop(config);
    ctx.srv.refresh_cached_config();
    ctx.srv.config_gen.fetch_add(1, Ordering::Release);
}

fn human_bytes(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{n}B")
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    }
}

const DEFAULT_SECTIONS: [&str; 11] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// INFO [section ...]: Redis's sections and field names (server.c `genRedisInfoString`).
pub fn info(ctx: &mut Ctx, argv: &Argv) {
    let mut sections: Vec<String> = Vec::new();
    if argv.len() == 1 {
        sections.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    for arg in argv.iter().skip(1) {
        let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match name.as_str() {
            "default" => sections.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string())),
            "all" | "everything" => {
                sections.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
                sections.push("commandstats".into());
                sections.push("latencystats".into());
            }
            _ => sections.push(name),
        }
    }
    let mut seen = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    for section in sections {
        if seen.contains(&section) {
            continue;
        }
        seen.push(section.clone());
        if let Some(text) = info_section(ctx, &section) {
            parts.push(text);
        }
    }
    ctx.out.verbatim(parts.join("\r\n").as_bytes(), "txt");
}

fn totals(ctx: &Ctx) -> ShardMetrics {
    let mut t = ShardMetrics::default();
    for m in &ctx.srv.metrics {
        let m = m.lock();
        t.commands += m.commands;
        t.dirty += m.dirty;
        t.expired += m.expired;
        t.hits += m.hits;
        t.misses += m.misses;
        t.connections += m.connections;
        t.rejected_connections += m.rejected_connections;
        t.net_in += m.net_in;
        t.net_out += m.net_out;
        t.error_replies += m.error_replies;
        t.evicted += m.evicted;
        t.expire_time_cap_reached += m.expire_time_cap_reached;
        t.expire_cycle_us += m.expire_cycle_us;
        // Each shard's estimate covers its own stripes: the mean.
        t.expired_stale_perc += m.expired_stale_perc / ctx.srv.metrics.len() as f64;
    }
    t
}

fn info_section(ctx: &mut Ctx, name: &str) -> Option<String> {
    let srv = ctx.srv;
    let mut s = String::new();
    let now_ms = srv.now_ms();
    match name {
        "server" => {
            let config = srv.config.read();
            let uptime = srv.start.elapsed().as_secs();
            let uname = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let config_file = srv
                .config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let _ = write!(
                s,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n\
                 redis_build_id:0\r\nredis_mode:standalone\r\nos:Linux {} {}\r\narch_bits:64\r\n\
                 monotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:io_uring\r\natomicvar_api:c11-builtin\r\n\
                 gcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:{}\r\nrun_id:{}\r\ntcp_port:{}\r\n\
                 server_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\n\
                 configured_hz:{}\r\nlru_clock:{}\r\nexecutable:{exe}\r\nconfig_file:{config_file}\r\n\
                 io_threads_active:0\r\nsluice_version:{}\r\nsluice_server_threads:{}\r\n",
                uname.trim(),
                std::env::consts::ARCH,
                std::process::id(),
                srv.process_supervised.get().copied().unwrap_or("no"),
                srv.run_id,
                srv.tcp_port,
                now_ms * 1000,
                uptime / 86_400,
                config.hz,
                config.hz,
                srv.lru_clock(),
                env!("CARGO_PKG_VERSION"),
                srv.threads,
            );
        }
        "clients" => {
            let maxclients = srv.config.read().maxclients;
            let _ = write!(
                s,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{maxclients}\r\n\
                 client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\n\
                 tracking_clients:0\r\nclients_in_timeout_table:0\r\n",
                srv.connected.load(Ordering::Relaxed),
                srv.clients.lock().values().filter(|m| m.blocked.load(Ordering::Relaxed)).count(),
            );
        }
        "memory" => {
            let rss = sys::rss_bytes();
            let used = crate::io::alloc::used_bytes().unwrap_or(rss);
            let peak = srv.memory_peak.fetch_max(used, Ordering::Relaxed).max(used);
            let frag = if used > 0 {
                rss as f64 / used as f64
            } else {
                0.0
            };
            let _ = write!(
                s,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
                 used_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\n\
                 maxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\n\
                 mem_fragmentation_ratio:{frag:.2}\r\nmem_allocator:libc\r\n\
                 lazyfree_pending_objects:{}\r\nlazyfreed_objects:{}\r\n",
                human_bytes(used),
                human_bytes(rss),
                human_bytes(peak),
                srv.maxmemory(),
                human_bytes(srv.maxmemory()),
                srv.maxmemory_policy().as_str(),
                srv.keyspace.lazyfree.pending(),
                srv.keyspace.lazyfree.freed(),
            );
        }
        "persistence" => {
            let t = totals(ctx);
            let p = &srv.persist;
            let running = p.in_progress.load(Ordering::Acquire);
            let started = p.current_start_s.load(Ordering::Acquire);
            let now_s = crate::server::unix_ms() / 1000;
            let current = if running && started > 0 {
                now_s.saturating_sub(started) as i64
            } else {
                -1
            };
            let loaded = p.last_load_keys_loaded.load(Ordering::Acquire);
            let expired = p.last_load_keys_expired.load(Ordering::Acquire);
            let loading = srv.repl.is_loading();
            let async_loading = srv.repl.is_async_loading();
            let _ = write!(
                s,
                "# Persistence\r\nloading:{}\r\nasync_loading:{}\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\n\
                 current_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:{}\r\n\
                 current_save_keys_total:{}\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\n\
                 rdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\n\
                 rdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\n\
                 rdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\naof_enabled:0\r\n\
                 aof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1\r\n\
                 aof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\n\
                 aof_rewrites_consecutive_failures:0\r\naof_last_write_status:ok\r\naof_last_cow_size:0\r\n\
                 module_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
                u8::from(loading),
                u8::from(async_loading),
                if running { p.keys_processed.load(Ordering::Relaxed) } else { 0 },
                if running { p.keys_total.load(Ordering::Relaxed) } else { 0 },
                t.dirty.saturating_sub(p.dirty_at_save.load(Ordering::Acquire)),
                u8::from(running),
                srv.lastsave_s.load(Ordering::Relaxed),
                if p.last_ok.load(Ordering::Acquire) { "ok" } else { "err" },
                p.last_bgsave_time_sec.load(Ordering::Acquire),
                current,
                p.saves.load(Ordering::Acquire),
                expired,
                loaded,
            );
            if loading || async_loading {
                loading_progress(srv, &mut s);
            }
        }
        "stats" => {
            let t = totals(ctx);
            let pubsub_counts = {
                let registry = srv.pubsub.lock();
                (registry.channel_count(), registry.pattern_count())
            };
            let ops = {
                let o = srv.ops_samples.lock();
                o.samples.iter().sum::<u64>() / o.samples.len() as u64
            };
            let snap = &srv.keyspace.snapshot_stats;
            let _ = write!(
                s,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
                 instantaneous_ops_per_sec:{ops}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\n\
                 total_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:0.00\r\n\
                 instantaneous_output_kbps:0.00\r\ninstantaneous_input_repl_kbps:0.00\r\n\
                 instantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:{}\r\n\
                 sync_partial_ok:{}\r\nsync_partial_err:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:{:.2}\r\n\
                 expired_time_cap_reached_count:{}\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\n\
                 evicted_clients:0\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\n\
                 keyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\n\
                 pubsubshard_channels:0\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\n\
                 slave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\n\
                 active_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\n\
                 current_active_defrag_time:0\r\ntracking_total_keys:0\r\ntracking_total_items:0\r\n\
                 tracking_total_prefixes:0\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\n\
                 dump_payload_sanitizations:0\r\ntotal_reads_processed:0\r\ntotal_writes_processed:0\r\n\
                 io_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\n\
                 reply_buffer_expands:0\r\nsluice_sync_full_aborted:{}\r\nsluice_sync_spilled_bytes:{}\r\n\
                 sluice_snapshot_stripes_saved_inline:{}\r\nsluice_snapshot_keys_copied_on_write:{}\r\n",
                t.connections,
                t.commands,
                t.net_in,
                t.net_out,
                t.rejected_connections,
                srv.repl.stats.full.load(Ordering::Relaxed),
                srv.repl.stats.partial_ok.load(Ordering::Relaxed),
                srv.repl.stats.partial_err.load(Ordering::Relaxed),
                t.expired,
                t.expired_stale_perc * 100.0,
                t.expire_time_cap_reached,
                t.expire_cycle_us / 1000,
                t.evicted,
                t.hits,
                t.misses,
                pubsub_counts.0,
                pubsub_counts.1,
                t.error_replies,
                srv.repl.stats.full_aborted.load(Ordering::Relaxed),
                srv.repl.stats.spilled_bytes.load(Ordering::Relaxed),
                snap.stripes_saved_inline.load(Ordering::Relaxed),
                snap.keys_copied_on_write.load(Ordering::Relaxed),
            );
        }
        "replication" => replication_info(srv, &mut s),
        "cpu" => {
            let (sys_s, user_s) = sys::cpu_times(sys::RUSAGE_SELF);
            let (sys_c, user_c) = sys::cpu_times(sys::RUSAGE_CHILDREN);
            let _ = write!(
                s,
                "# CPU\r\nused_cpu_sys:{sys_s:.6}\r\nused_cpu_user:{user_s:.6}\r\nused_cpu_sys_children:{sys_c:.6}\r\n\
                 used_cpu_user_children:{user_c:.6}\r\nused_cpu_sys_main_thread:{sys_s:.6}\r\n\
                 used_cpu_user_main_thread:{user_s:.6}\r\n",
            );
        }
        "modules" => s.push_str("# Modules\r\n"),
        "errorstats" => {
            s.push_str("# Errorstats\r\n");
            let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
            for m in &srv.metrics {
                for (kind, n) in &m.lock().error_kinds {
                    *kinds.entry(kind.clone()).or_insert(0) += n;
                }
            }
            for (kind, n) in kinds {
                let _ = write!(s, "errorstat_{kind}:count={n}\r\n");
            }
        }
        "cluster" => s.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "keyspace" => {
            s.push_str("# Keyspace\r\n");
            // avg_ttl is active expiry's running estimate (as Redis's, so
            // INFO costs O(stripes), not O(keys)).
            let totals = ctx.ks.locked.db_sizes();
            let estimates: Vec<Vec<u64>> = srv
                .metrics
                .iter()
                .map(|m| m.lock().avg_ttl.clone())
                .collect();
            for (db, (keys, expires)) in totals.into_iter().enumerate() {
                if keys > 0 {
                    let (sum, n) = estimates
                        .iter()
                        .filter_map(|e| e.get(db).copied().filter(|&ttl| ttl > 0))
                        .fold((0u64, 0u64), |(sum, n), ttl| {
                            (sum.saturating_add(ttl), n + 1)
                        });
                    let avg = if expires == 0 {
                        0
                    } else {
                        sum.checked_div(n).unwrap_or(0)
                    };
                    let _ = write!(s, "db{db}:keys={keys},expires={expires},avg_ttl={avg}\r\n");
                }
            }
        }
        "commandstats" => {
            s.push_str("# Commandstats\r\n");
            for (id, cmd) in all_commands().iter().enumerate() {
                let (mut calls, mut nanos, mut rejected, mut failed) = (0u64, 0u64, 0u64, 0u64);
                for m in &srv.metrics {
                    if let Some(c) = m.lock().cmds.get(id) {
                        calls += c.calls;
                        nanos += c.nanos;
                        rejected += c.rejected;
                        failed += c.failed;
                    }
                }
                if calls + rejected + failed == 0 {
                    continue;
                }
                let usec = nanos / 1000;
                let per_call = if calls > 0 {
                    usec as f64 / calls as f64
                } else {
                    0.0
                };
                let _ = write!(
                    s,
                    "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},\
                     failed_calls={failed}\r\n",
                    cmd.name
                );
            }
        }
        "latencystats" => {
            s.push_str("# Latencystats\r\n");
            let percentiles = srv.config.read().latency_tracking_info_percentiles.clone();
            for (id, cmd) in all_commands().iter().enumerate() {
                let Some(h) = srv.command_latency(id) else {
                    continue;
                };
                let fields: Vec<String> = percentiles
                    .iter()
                    .map(|p| {
                        format!(
                            "p{}={:.3}",
                            fmt_percentile(*p),
                            h.value_at_quantile(p / 100.0) as f64 / 1000.0
                        )
                    })
                    .collect();
                let _ = write!(
                    s,
                    "latency_percentiles_usec_{}:{}\r\n",
                    cmd.name,
                    fields.join(",")
                );
            }
        }
        _ => return None,
    }
    Some(s)
}

/// `50` / `99.9` as Redis prints percentile names (`%f` trimmed).
fn fmt_percentile(p: f64) -> String {
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// INFO persistence's `loading_*` fields while a replica loads its
/// master's payload, as Redis 7.0 computes them from the bytes received
/// (total 0 for a diskless payload, whose size is not announced; sluice
/// does not estimate from the RDB's used-mem, so the percentage stays 0
/// there).
fn loading_progress(srv: &crate::server::Server, s: &mut String) {
    let (total, read) = match srv.repl.link_status() {
        Some(link) => (
            u64::try_from(link.sync_total.load(Ordering::Relaxed)).unwrap_or(0),
            link.sync_read.load(Ordering::Relaxed),
        ),
        None => (0, 0),
    };
    let start = srv.repl.loading_since_s();
    let (perc, remaining) = if total > 0 {
        (
            read as f64 / total as f64 * 100.0,
            total.saturating_sub(read),
        )
    } else {
        (0.0, 1)
    };
    let elapsed = (crate::server::unix_ms() / 1000).saturating_sub(start);
    let eta = if elapsed == 0 {
        1
    } else {
        elapsed.saturating_mul(remaining) / read.saturating_add(1)
    };
    let _ = write!(
        s,
        "loading_start_time:{start}\r\nloading_total_bytes:{total}\r\n\
         loading_rdb_used_mem:0\r\nloading_loaded_bytes:{read}\r\n\
         loading_loaded_perc:{perc:.2}\r\nloading_eta_seconds:{eta}\r\n"
    );
}

/// INFO's replication section, field for field as Redis 7.0's
/// `genRedisInfoString`, plus `sluice_slaveN_ack_lag_us` (a name Redis
/// tooling does not know: the time from a write's append to its ACK) and
/// `sluice_slaveN_sync` (its last full sync's payload bytes so far, time,
/// rate, and the stream kept for it in a spill file); on a replica,
/// `sluice_replica_apply` (runs of the stream applied in parallel and
/// their commands, `repl::apply`).
fn replication_info(srv: &crate::server::Server, s: &mut String) {
    use crate::repl::replica::LinkState;
    let repl = &srv.repl;
    let now = crate::server::unix_ms();
    // The directives shown, read once (no config lock held below).
    let (priority, read_only, announced, to_write, max_lag, backlog_size) = {
        let c = srv.config.read();
        (
            c.replica_priority,
            c.replica_read_only,
            c.replica_announced,
            c.min_replicas_to_write,
            c.min_replicas_max_lag,
            c.repl_backlog_size,
        )
    };
    s.push_str("# Replication\r\n");
    match repl.link_status() {
        None => s.push_str("role:master\r\n"),
        Some(link) => {
            let state = link.state();
            let up = state == LinkState::Connected;
            let offset = link.offset.load(Ordering::Acquire);
            let last_io = link.last_io_ms.load(Ordering::Relaxed);
            let io_ago = if up && last_io > 0 {
                (now.saturating_sub(last_io) / 1000) as i64
            } else {
                -1
            };
            let syncing = state == LinkState::Sync;
            let _ = write!(
                s,
                "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\n\
                 master_last_io_seconds_ago:{io_ago}\r\nmaster_sync_in_progress:{}\r\n\
                 slave_read_repl_offset:{offset}\r\nslave_repl_offset:{offset}\r\n",
                link.host,
                link.port,
                if up { "up" } else { "down" },
                u8::from(syncing),
            );
            if syncing {
                // As Redis computes them: total is -1 before the payload's
                // `$` line and 0 for an EOF-marked (diskless) payload, so
                // left can be negative there.
                let total = link.sync_total.load(Ordering::Relaxed);
                let read =
                    i64::try_from(link.sync_read.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
                let left = total.saturating_sub(read);
                let perc = if total != 0 {
                    read as f64 / total as f64 * 100.0
                } else {
                    0.0
                };
                let _ = write!(
                    s,
                    "master_sync_total_bytes:{total}\r\nmaster_sync_read_bytes:{read}\r\n\
                     master_sync_left_bytes:{left}\r\nmaster_sync_perc:{perc:.2}\r\n\
                     master_sync_last_io_seconds_ago:{}\r\n",
                    now.saturating_sub(last_io) / 1000
                );
            }
            if !up {
                let since = link.down_since_ms.load(Ordering::Relaxed);
                let secs = if since == 0 {
                    -1
                } else {
                    (now.saturating_sub(since) / 1000) as i64
                };
                let _ = write!(s, "master_link_down_since_seconds:{secs}\r\n");
            }
            let _ = write!(
                s,
                "slave_priority:{priority}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n\
                 sluice_replica_apply:parallel_runs={},parallel_commands={}\r\n",
                u8::from(read_only),
                u8::from(announced),
                link.parallel_runs.load(Ordering::Relaxed),
                link.parallel_commands.load(Ordering::Relaxed),
            );
        }
    }
    let replicas = repl.replicas.snapshot();
    let _ = write!(s, "connected_slaves:{}\r\n", replicas.len());
    if to_write > 0 && max_lag > 0 {
        let good = repl.good_replicas(max_lag);
        let _ = write!(s, "min_slaves_good_slaves:{good}\r\n");
    }
    for (i, r) in replicas.iter().enumerate() {
        let _ = write!(
            s,
            "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
            r.ip,
            r.port,
            r.state().name(),
            r.ack_offset.load(Ordering::Acquire),
            (now / 1000).saturating_sub(r.ack_ms.load(Ordering::Relaxed) / 1000)
        );
    }
    for (i, r) in replicas.iter().enumerate() {
        let lag = r.lag.lock();
        let h = &lag.hist;
        let _ = write!(
            s,
            "sluice_slave{i}_ack_lag_us:p50={},p99={},p999={},samples={}\r\n",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.len()
        );
    }
    for (i, r) in replicas.iter().enumerate() {
        let (bytes, secs) = r.sync_progress();
        let rate = if secs > 0.0 { bytes as f64 / secs } else { 0.0 };
        let _ = write!(
            s,
            "sluice_slave{i}_sync:payload_bytes={bytes},seconds={secs:.3},bytes_per_sec={rate:.0},spilled_bytes={}\r\n",
            r.spilled_bytes()
        );
    }
    let ids = repl.ids();
    let offset = repl.offset();
    let (mut active, mut first, mut histlen) = (0, 0, 0);
    if let Some(backlog) = repl.backlog() {
        active = 1;
        first = backlog.first_offset() + 1;
        histlen = backlog.offset() - backlog.first_offset();
    }
    let second = ids.second.map_or(-1, |o| o as i64 + 1);
    let _ = write!(
        s,
        "master_failover_state:{}\r\n\
         master_replid:{}\r\nmaster_replid2:{}\r\n\
         master_repl_offset:{offset}\r\nsecond_repl_offset:{second}\r\nrepl_backlog_active:{active}\r\n\
         repl_backlog_size:{backlog_size}\r\nrepl_backlog_first_byte_offset:{first}\r\nrepl_backlog_histlen:{histlen}\r\n",
        repl.failover.lock().state.name(),
        ids.replid,
        ids.replid2,
    );
}
