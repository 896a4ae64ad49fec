//! Connection commands: PING ECHO QUIT HELLO AUTH SELECT RESET CLIENT COMMAND.

use super::{all_commands, eq_ic, flags, lookup, unknown_subcommand, Ctx, ReplyMode, ERR_SYNTAX};
use crate::num::parse_i64;
use crate::protocol::Argv;
use crate::server::{ClientMeta, ShardMsg};
use std::sync::atomic::Ordering;

/// The version clients see in HELLO and INFO: the Redis release whose
/// behaviour sluice reproduces, so client libraries enable the right features.
pub const REDIS_VERSION: &str = "7.0.15";

pub fn ping(ctx: &mut Ctx, argv: &Argv) {
    if argv.len() <= 2 && !ctx.client.resp3 && ctx.client.subscription_count() > 0 {
        // Subscribed RESP2 clients get a push-shaped pong (pubsub.c).
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out
            .bulk(if argv.len() == 2 { argv.get(1) } else { b"" });
        return;
    }
    match argv.len() {
        1 => ctx.out.simple(b"PONG"),
        2 => ctx.out.bulk(argv.get(1)),
        _ => ctx.wrong_arity("ping"),
    }
}

pub fn echo(ctx: &mut Ctx, argv: &Argv) {
    ctx.out.bulk(argv.get(1));
}

pub fn quit(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
}

/// Checks `user`/`pass` against `requirepass` (only the default user exists).
fn password_ok(ctx: &Ctx, user: &[u8], pass: &[u8]) -> bool {
    let config = ctx.srv.config.read();
    user == b"default" && config.requirepass.as_deref().is_none_or(|p| p == pass)
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

pub fn auth(ctx: &mut Ctx, argv: &Argv) {
    if argv.len() > 3 {
        return ctx.out.error(ERR_SYNTAX);
    }
    let (user, pass) = if argv.len() == 2 {
        (&b"default"[..], argv.get(1))
    } else {
        (argv.get(1), argv.get(2))
    };
    if argv.len() == 2 && ctx.srv.config.read().requirepass.is_none() {
        return ctx.out.error(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        );
    }
    if password_ok(ctx, user, pass) {
        ctx.client.authenticated = true;
        ctx.out.ok();
    } else {
        ctx.out.error(WRONGPASS);
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(ctx: &mut Ctx, argv: &Argv) {
    let mut version = if ctx.client.resp3 { 3 } else { 2 };
    if argv.len() >= 2 {
        match parse_i64(argv.get(1)) {
            None => {
                return ctx
                    .out
                    .error("ERR Protocol version is not an integer or out of range")
            }
            Some(v) if v != 2 && v != 3 => {
                return ctx.out.error("NOPROTO unsupported protocol version")
            }
            Some(v) => version = v,
        }
    }
    let mut setname: Option<&[u8]> = None;
    let mut auth: Option<(&[u8], &[u8])> = None;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if eq_ic(argv.get(i), "auth") && more >= 2 {
            auth = Some((argv.get(i + 1), argv.get(i + 2)));
            i += 3;
        } else if eq_ic(argv.get(i), "setname") && more >= 1 {
            setname = Some(argv.get(i + 1));
            i += 2;
        } else {
            let opt = String::from_utf8_lossy(argv.get(i)).into_owned();
            return ctx
                .out
                .error(&format!("ERR Syntax error in HELLO option '{opt}'"));
        }
    }
    if let Some((user, pass)) = auth {
        if !password_ok(ctx, user, pass) {
            return ctx.out.error(WRONGPASS);
        }
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated {
        return ctx.out.error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH \
             <user> <pass> option can be used to authenticate the client and select the RESP protocol \
             version at the same time",
        );
    }
    if let Some(name) = setname {
        if let Err(e) = validate_name(name) {
            return ctx.out.error(e);
        }
        *ctx.client.meta.name.lock() = (!name.is_empty()).then(|| name.to_vec());
    }
    ctx.client.resp3 = version == 3;
    ctx.client.meta.resp.store(version as u8, Ordering::Relaxed);
    ctx.out.resp3 = ctx.client.resp3;
    ctx.out.map(7);
    ctx.out.bulk(b"server");
    ctx.out.bulk(b"redis");
    ctx.out.bulk(b"version");
    ctx.out.bulk(REDIS_VERSION.as_bytes());
    ctx.out.bulk(b"proto");
    ctx.out.int(version);
    ctx.out.bulk(b"id");
    ctx.out.int(ctx.client.id as i64);
    ctx.out.bulk(b"mode");
    ctx.out.bulk(b"standalone");
    ctx.out.bulk(b"role");
    ctx.out.bulk(b"master");
    ctx.out.bulk(b"modules");
    ctx.out.array(0);
}

pub fn select(ctx: &mut Ctx, argv: &Argv) {
    match super::parse_db(ctx, argv.get(1)) {
        Ok(db) => {
            ctx.client.db = db;
            ctx.ks.db = db;
            ctx.out.ok();
        }
        Err(e) => ctx.out.error(e),
    }
}

/// RESET: back to a fresh connection's state (networking.c `resetCommand`).
pub fn reset(ctx: &mut Ctx, _argv: &Argv) {
    ctx.client.multi = None;
    super::multi::unwatch_all(ctx.srv, ctx.client);
    super::pubsub::forget_client(ctx.srv, ctx.client);
    ctx.client.channels.clear();
    ctx.client.patterns.clear();
    ctx.client.meta.sub.store(0, Ordering::Relaxed);
    ctx.client.meta.psub.store(0, Ordering::Relaxed);
    ctx.client.db = 0;
    ctx.client.resp3 = false;
    ctx.out.resp3 = false;
    ctx.client.reply_mode = ReplyMode::On;
    ctx.client.authenticated = ctx.srv.config.read().requirepass.is_none();
    *ctx.client.meta.name.lock() = None;
    ctx.client.meta.resp.store(2, Ordering::Relaxed);
    ctx.client.meta.no_evict.store(false, Ordering::Relaxed);
    if ctx.client.monitor {
        ctx.client.monitor = false;
    }
    ctx.out.simple(b"RESET");
}

/// networking.c `validateClientName`: printable ASCII without spaces.
fn validate_name(name: &[u8]) -> Result<(), &'static str> {
    if name.iter().all(|&b| (b'!'..=b'~').contains(&b)) {
        Ok(())
    } else {
        Err("ERR Client names cannot contain spaces, newlines or special characters.")
    }
}

/// One CLIENT LIST / CLIENT INFO line (networking.c `catClientInfoString`).
pub fn client_info_line(ctx: &Ctx, meta: &ClientMeta) -> String {
    let now = ctx.srv.now_ms();
    let name = meta
        .name
        .lock()
        .as_ref()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    let last_cmd = meta.last_cmd.load(Ordering::Relaxed);
    let cmd = match last_cmd.checked_sub(1).map(|i| all_commands()[i]) {
        None => "NULL".to_string(),
        Some(c) if c.flags & flags::CONTAINER != 0 => {
            format!("{}|{}", c.name, meta.last_sub.lock())
        }
        Some(c) => c.name.to_string(),
    };
    let mut flags = String::new();
    if meta.monitor.load(Ordering::Relaxed) {
        flags.push('O');
    }
    if meta.blocked.load(Ordering::Relaxed) {
        flags.push('b');
    }
    if meta.in_multi.load(Ordering::Relaxed) {
        flags.push('x');
    }
    if meta.no_evict.load(Ordering::Relaxed) {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let multi = if meta.in_multi.load(Ordering::Relaxed) {
        meta.multi_len.load(Ordering::Relaxed) as i64
    } else {
        -1
    };
    let qbuf = meta.qbuf.load(Ordering::Relaxed);
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} \
         qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r cmd={} \
         user=default redir=-1 resp={}",
        meta.id,
        meta.addr,
        meta.laddr,
        meta.fd,
        name,
        meta.created.elapsed().as_secs(),
        now.saturating_sub(meta.last_interaction_ms.load(Ordering::Relaxed)) / 1000,
        flags,
        meta.db.load(Ordering::Relaxed),
        meta.sub.load(Ordering::Relaxed),
        meta.psub.load(Ordering::Relaxed),
        multi,
        qbuf,
        meta.omem.load(Ordering::Relaxed),
        cmd,
        meta.resp.load(Ordering::Relaxed),
    )
}

fn client_help(ctx: &mut Ctx) {
    let lines = [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "    * ID <client-id>",
        "      Kill connections by client id.",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "HELP",
        "    Prints this help.",
    ];
    super::reply_help(ctx, &lines);
}

/// CLIENT PAUSE timeout [WRITE|ALL] (networking.c): commands of every
/// client but the master link wait until `timeout` ms have passed or
/// CLIENT UNPAUSE; ALL (the default) holds every command, WRITE those
/// that may change data or replicate.
fn client_pause(ctx: &mut Ctx, argv: &Argv) {
    if argv.len() > 4 {
        return super::subcommand_syntax_error(ctx.out, argv);
    }
    let all = match argv.len() {
        4 if eq_ic(argv.get(3), "write") => false,
        4 if eq_ic(argv.get(3), "all") => true,
        4 => return ctx.out.error("ERR CLIENT PAUSE mode must be WRITE or ALL"),
        _ => true,
    };
    let timeout = match crate::num::parse_i64(argv.get(2)) {
        None => {
            return ctx
                .out
                .error("ERR timeout is not an integer or out of range")
        }
        Some(t) if t < 0 => return ctx.out.error("ERR timeout is negative"),
        Some(t) => t as u64,
    };
    // 0 ends at once, as in Redis (an end in the past).
    let end = match timeout {
        0 => 0,
        t => crate::server::unix_ms().saturating_add(t),
    };
    ctx.srv.repl.client_pause(ctx.srv, end, all);
    ctx.out.ok();
}

pub fn client(ctx: &mut Ctx, argv: &Argv) {
    let sub = argv.get(1).to_ascii_lowercase();
    let argc = argv.len();
    let arity_ok = |want: i32| {
        if want >= 0 {
            argc == want as usize
        } else {
            argc >= (-want) as usize
        }
    };
    let arity = match sub.as_slice() {
        b"id" | b"getname" | b"info" | b"help" => 2,
        b"setname" | b"reply" | b"no-evict" => 3,
        b"unpause" => 2,
        b"pause" => -3,
        b"list" => -2,
        b"kill" => -3,
        b"unblock" => -3,
        _ => return unknown_subcommand(ctx, "CLIENT", argv.get(1)),
    };
    if !arity_ok(arity) {
        return ctx.wrong_arity(&format!("client|{}", String::from_utf8_lossy(&sub)));
    }
    match sub.as_slice() {
        b"help" => client_help(ctx),
        b"id" => ctx.out.int(ctx.client.id as i64),
        b"getname" => match ctx.client.meta.name.lock().clone() {
            Some(name) => ctx.out.bulk(&name),
            None => ctx.out.null(),
        },
        b"setname" => {
            let name = argv.get(2);
            if let Err(e) = validate_name(name) {
                return ctx.out.error(e);
            }
            *ctx.client.meta.name.lock() = (!name.is_empty()).then(|| name.to_vec());
            ctx.out.ok();
        }
        b"info" => {
            let line = client_info_line(ctx, &ctx.client.meta) + "\n";
            ctx.out.verbatim(line.as_bytes(), "txt");
        }
        b"list" => client_list(ctx, argv),
        b"pause" => client_pause(ctx, argv),
        b"unpause" => {
            ctx.srv.repl.client_unpause(ctx.srv);
            ctx.out.ok();
        }
        b"kill" => client_kill(ctx, argv),
        b"unblock" => client_unblock(ctx, argv),
        b"no-evict" => match on_off(argv.get(2)) {
            Some(on) => {
                ctx.client.meta.no_evict.store(on, Ordering::Relaxed);
                ctx.out.ok();
            }
            None => ctx.out.error(ERR_SYNTAX),
        },
        b"reply" => {
            let mode = argv.get(2);
            if eq_ic(mode, "on") {
                ctx.client.reply_mode = ReplyMode::On;
                ctx.out.ok();
            } else if eq_ic(mode, "off") {
                ctx.client.reply_mode = ReplyMode::Off;
            } else if eq_ic(mode, "skip") {
                if ctx.client.reply_mode != ReplyMode::Off {
                    ctx.client.reply_mode = ReplyMode::SkipNext;
                }
            } else {
                ctx.out.error(ERR_SYNTAX);
            }
        }
        _ => unreachable!("subcommand matched above"),
    }
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR] (networking.c): ends the wait of a
/// client blocked in a blocking command (not one held by a pause) as its
/// timeout would, or with the UNBLOCKED error; 1 if there was such a wait.
fn client_unblock(ctx: &mut Ctx, argv: &Argv) {
    if argv.len() > 4 {
        return super::subcommand_syntax_error(ctx.out, argv);
    }
    let error = match argv.try_get(3) {
        None => false,
        Some(reason) if eq_ic(reason, "timeout") => false,
        Some(reason) if eq_ic(reason, "error") => true,
        Some(_) => {
            return ctx
                .out
                .error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        }
    };
    let Some(id) = crate::num::parse_i64(argv.get(2)) else {
        return ctx.out.error(super::ERR_NOT_INT);
    };
    let meta = u64::try_from(id)
        .ok()
        .and_then(|id| ctx.srv.clients.lock().get(&id).cloned());
    let waiter = meta.and_then(|m| m.waiter.lock().clone());
    let Some(waiter) = waiter.filter(|w| w.claim()) else {
        return ctx.out.int(0);
    };
    if let Some(handle) = ctx.srv.shard_handles().get(waiter.shard) {
        handle.send(ShardMsg::Unblocked {
            client_id: waiter.client_id,
            error,
        });
    }
    ctx.out.int(1);
}

fn on_off(arg: &[u8]) -> Option<bool> {
    if eq_ic(arg, "on") {
        Some(true)
    } else if eq_ic(arg, "off") {
        Some(false)
    } else {
        None
    }
}

fn client_list(ctx: &mut Ctx, argv: &Argv) {
    let mut ids: Option<Vec<u64>> = None;
    if argv.len() > 2 {
        let opt = argv.get(2);
        if eq_ic(opt, "type") && argv.len() == 4 {
            let t = argv.get(3);
            if !["normal", "master", "replica", "slave", "pubsub"]
                .iter()
                .any(|n| eq_ic(t, n))
            {
                return ctx.out.error(&format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(t)
                ));
            }
            if !eq_ic(t, "normal") {
                ids = Some(Vec::new());
            }
        } else if eq_ic(opt, "id") && argv.len() >= 4 {
            let mut list = Vec::new();
            for arg in argv.iter().skip(3) {
                match parse_i64(arg).filter(|n| *n > 0) {
                    Some(n) => list.push(n as u64),
                    None => return ctx.out.error("ERR Invalid client ID"),
                }
            }
            ids = Some(list);
        } else {
            return ctx.out.error(ERR_SYNTAX);
        }
    }
    let metas: Vec<_> = ctx.srv.clients.lock().values().cloned().collect();
    let mut text = String::new();
    for meta in metas
        .iter()
        .filter(|m| ids.as_ref().is_none_or(|ids| ids.contains(&m.id)))
    {
        text.push_str(&client_info_line(ctx, meta));
        text.push('\n');
    }
    ctx.out.verbatim(text.as_bytes(), "txt");
}

/// CLIENT KILL addr | CLIENT KILL [ID id] [ADDR a] [LADDR a] [TYPE t] [USER u] [SKIPME yes/no]
fn client_kill(ctx: &mut Ctx, argv: &Argv) {
    let old_style = argv.len() == 3;
    let (mut id, mut addr, mut laddr, mut skipme, mut user) = (None, None, None, true, None);
    let mut type_normal = true;
    if old_style {
        addr = Some(argv.get(2).to_vec());
    } else {
        if argv.len() % 2 != 0 {
            return ctx.out.error(ERR_SYNTAX);
        }
        for pair in (2..argv.len()).step_by(2) {
            let (opt, val) = (argv.get(pair), argv.get(pair + 1));
            if eq_ic(opt, "id") {
                match parse_i64(val).filter(|n| *n > 0) {
                    Some(n) => id = Some(n as u64),
                    None => return ctx.out.error("ERR client-id should be greater than 0"),
                }
            } else if eq_ic(opt, "addr") {
                addr = Some(val.to_vec());
            } else if eq_ic(opt, "laddr") {
                laddr = Some(val.to_vec());
            } else if eq_ic(opt, "user") {
                user = Some(val.to_vec());
            } else if eq_ic(opt, "type") {
                if !["normal", "master", "replica", "slave", "pubsub"]
                    .iter()
                    .any(|n| eq_ic(val, n))
                {
                    return ctx.out.error(&format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(val)
                    ));
                }
                type_normal = eq_ic(val, "normal");
            } else if eq_ic(opt, "skipme") {
                match val {
                    v if eq_ic(v, "yes") => skipme = true,
                    v if eq_ic(v, "no") => skipme = false,
                    _ => return ctx.out.error(ERR_SYNTAX),
                }
            } else {
                return ctx.out.error(ERR_SYNTAX);
            }
        }
    }
    let metas: Vec<_> = ctx.srv.clients.lock().values().cloned().collect();
    let mut killed = 0;
    for meta in metas {
        let matches = type_normal
            && id.is_none_or(|id| id == meta.id)
            && addr.as_deref().is_none_or(|a| a == meta.addr.as_bytes())
            && laddr.as_deref().is_none_or(|a| a == meta.laddr.as_bytes())
            && user.as_deref().is_none_or(|u| u == b"default");
        let is_me = meta.id == ctx.client.id;
        if !matches || (is_me && skipme && !old_style) {
            continue;
        }
        killed += 1;
        if is_me {
            ctx.client.close_after_reply = true;
        } else {
            meta.killed.store(true, Ordering::Release);
            if let Some(handle) = ctx.srv.shard_handles().get(meta.shard) {
                handle.send(ShardMsg::Kill(meta.id));
            }
        }
    }
    if old_style {
        if killed == 0 {
            ctx.out.error("ERR No such client");
        } else {
            ctx.out.ok();
        }
    } else {
        ctx.out.int(killed);
    }
}

/// One COMMAND INFO entry (Redis 7.0 shape: name, arity, flags, first key,
/// last key, step, ACL categories, tips, key specs, subcommands).
fn command_entry(ctx: &mut Ctx, cmd: &super::Command) {
    ctx.out.array(10);
    ctx.out.bulk(cmd.name.as_bytes());
    ctx.out.int(i64::from(cmd.arity));
    let mut names = cmd.flag_names();
    // Keys found through a numkeys argument: Redis reports them as
    // "movablekeys" with a 0/0/0 legacy range.
    let movable = cmd.first_key < 0;
    if movable {
        names.push("movablekeys");
    }
    ctx.out.set(names.len());
    for name in names {
        ctx.out.simple(name.as_bytes());
    }
    // Redis keeps the destination of *STORE forms in the legacy range.
    let (first, last, step) = if movable && cmd.last_key == 1 {
        (1, 1, 1)
    } else if movable {
        (0, 0, 0)
    } else {
        (cmd.first_key, cmd.last_key, cmd.step)
    };
    ctx.out.int(i64::from(first));
    ctx.out.int(i64::from(last));
    ctx.out.int(i64::from(step));
    let acl: Vec<&str> = cmd.acl.split_whitespace().collect();
    ctx.out.set(acl.len());
    for cat in acl {
        ctx.out.simple(cat.as_bytes());
    }
    ctx.out.array(0);
    ctx.out.array(0);
    ctx.out.array(0);
}

/// COMMAND [COUNT | INFO name... | DOCS name... | LIST | HELP]
pub fn command(ctx: &mut Ctx, argv: &Argv) {
    if argv.len() == 1 {
        ctx.out.array(all_commands().len());
        for &cmd in all_commands() {
            command_entry(ctx, cmd);
        }
        return;
    }
    let sub = argv.get(1);
    if eq_ic(sub, "count") && argv.len() == 2 {
        ctx.out.int(all_commands().len() as i64);
    } else if eq_ic(sub, "list") {
        // Each command, then its subcommands as `container|sub`
        // (commandListWithoutFilter).
        let mut names = Vec::new();
        for &cmd in all_commands() {
            names.push(cmd.name.to_string());
            names.extend(super::subcommands(cmd).map(|sub| format!("{}|{sub}", cmd.name)));
        }
        ctx.out.array(names.len());
        for name in names {
            ctx.out.bulk(name.as_bytes());
        }
    } else if eq_ic(sub, "info") {
        if argv.len() == 2 {
            ctx.out.array(all_commands().len());
            for &cmd in all_commands() {
                command_entry(ctx, cmd);
            }
            return;
        }
        ctx.out.array(argv.len() - 2);
        for name in argv.iter().skip(2) {
            match lookup(name) {
                Some(cmd) => command_entry(ctx, cmd),
                None => ctx.out.null_array(),
            }
        }
    } else if eq_ic(sub, "docs") {
        let wanted: Vec<&super::Command> = if argv.len() == 2 {
            all_commands().to_vec()
        } else {
            argv.iter().skip(2).filter_map(lookup).collect()
        };
        ctx.out.map(wanted.len());
        for cmd in wanted {
            ctx.out.bulk(cmd.name.as_bytes());
            let group = doc_group(cmd);
            ctx.out.map(3);
            ctx.out.bulk(b"summary");
            ctx.out.bulk(b"");
            ctx.out.bulk(b"since");
            ctx.out.bulk(b"1.0.0");
            ctx.out.bulk(b"group");
            ctx.out.bulk(group.as_bytes());
        }
    } else if eq_ic(sub, "help") && argv.len() == 2 {
        let lines = [
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "HELP",
            "    Prints this help.",
        ];
        super::reply_help(ctx, &lines);
    } else {
        unknown_subcommand(ctx, "COMMAND", sub);
    }
}

fn doc_group(cmd: &super::Command) -> &'static str {
    let acl = cmd.acl;
    if acl.contains("@string") {
        "string"
    } else if acl.contains("@transaction") {
        "transactions"
    } else if acl.contains("@connection") {
        "connection"
    } else if acl.contains("@keyspace") {
        "generic"
    } else {
        "server"
    }
}
