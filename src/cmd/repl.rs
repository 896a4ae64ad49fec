//! Replication commands: REPLICAOF / SLAVEOF and ROLE, and the master's
//! PSYNC / SYNC / REPLCONF (Redis 7.0 replication.c `replicaofCommand`,
//! `roleCommand`, `syncCommand`, `replconfCommand`). The links are
//! `crate::repl::replica` and `crate::repl::master`.

use super::flags::{ADMIN, FAST, LOADING, NOSCRIPT, STALE};
use super::{command_table, eq_ic, Ctx, ERR_SYNTAX};
use crate::protocol::Argv;
use crate::repl::replica::Link;
use std::sync::atomic::Ordering;

command_table! {
    pub static TABLE;
    "replicaof", 3, ADMIN | NOSCRIPT | STALE, (0, 0, 0), "@admin @slow @dangerous", replicaof;
    "slaveof", 3, ADMIN | NOSCRIPT | STALE, (0, 0, 0), "@admin @slow @dangerous", replicaof;
    "role", 1, NOSCRIPT | LOADING | STALE | FAST, (0, 0, 0), "@admin @fast @dangerous", role;
    "psync", -3, ADMIN | NOSCRIPT, (0, 0, 0), "@admin @slow @dangerous", psync;
    "sync", 1, ADMIN | NOSCRIPT, (0, 0, 0), "@admin @slow @dangerous", psync;
    "replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "@admin @slow @dangerous", replconf;
}

/// PSYNC <replid> <offset> / SYNC: a full sync (partial resync needs the
/// backlog, not fed yet). No reply here: once the replies before it are
/// written, the shard hands the socket to the sender thread.
pub fn psync(ctx: &mut Ctx, argv: &Argv) {
    if let Some(link) = ctx.srv.repl.link_status() {
        if link.state() != crate::repl::replica::LinkState::Connected {
            return ctx
                .out
                .error("NOMASTERLINK Can't SYNC while not connected with my master");
        }
        // A chained replica needs this replica's stream fed to it.
        return ctx
            .out
            .error("ERR chained replication is not supported yet");
    }
    if ctx.client.multi.is_some() || ctx.client.in_exec {
        return ctx
            .out
            .error("ERR Command not allowed inside a transaction");
    }
    let request = crate::repl::master::Request {
        conf: ctx.client.replconf.clone(),
        legacy: argv.len() == 1,
        peer: ctx.client.meta.addr.clone(),
    };
    let srv = ctx.srv.arc();
    ctx.client.close_after_reply = true;
    ctx.client.handoff = Some(Box::new(move |fd| {
        crate::repl::master::serve(srv, fd, request)
    }));
}

/// REPLCONF <option> <value> ...: +OK; `ack` and `getack` reply nothing.
pub fn replconf(ctx: &mut Ctx, argv: &Argv) {
    if argv.len() % 2 == 0 {
        return ctx.out.error(ERR_SYNTAX);
    }
    let mut i = 1;
    while i < argv.len() {
        let (option, value) = (argv.get(i), argv.get(i + 1));
        if eq_ic(option, "listening-port") {
            match std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u16>().ok())
            {
                Some(port) => ctx.client.replconf.listening_port = port,
                None => return ctx.out.error("ERR value is not an integer or out of range"),
            }
        } else if eq_ic(option, "ip-address") {
            if value.len() >= 46 {
                return ctx.out.error("ERR REPLCONF ip-address provided by replica instance is too long: 46 bytes maximum");
            }
            ctx.client.replconf.ip_address = Some(String::from_utf8_lossy(value).into_owned());
        } else if eq_ic(option, "capa") {
            if eq_ic(value, "eof") {
                ctx.client.replconf.capa_eof = true;
            }
        } else if eq_ic(option, "ack") || eq_ic(option, "getack") {
            // Only from a replica's own link, which the sender reads.
            return;
        } else if eq_ic(option, "rdb-only") || eq_ic(option, "rdb-filter-only") {
        } else {
            let mut text = b"ERR Unrecognized REPLCONF option: ".to_vec();
            text.extend_from_slice(option);
            return ctx.out.error_bytes(&text);
        }
        i += 2;
    }
    ctx.out.ok();
}

/// REPLICAOF host port | NO ONE
pub fn replicaof(ctx: &mut Ctx, argv: &Argv) {
    let (host, port) = (argv.get(1), argv.get(2));
    if eq_ic(host, "no") && eq_ic(port, "one") {
        if ctx.srv.repl.is_replica() {
            ctx.srv.repl.set_master(None);
            ctx.srv.config.write().replicaof = None;
            crate::notice!(
                "MASTER MODE enabled (user request from 'id={} addr={}')",
                ctx.client.id,
                ctx.client.meta.addr
            );
        }
        return ctx.out.ok();
    }
    let Some(port) = std::str::from_utf8(port)
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
    else {
        return ctx.out.error("ERR Invalid master port");
    };
    let host = String::from_utf8_lossy(host).into_owned();
    if let Some(status) = ctx.srv.repl.link_status() {
        if status.host.eq_ignore_ascii_case(&host) && status.port == port {
            crate::notice!(
                "REPLICAOF would result into synchronization with the master we are already connected with. No operation performed."
            );
            return ctx.out.simple(b"OK Already connected to specified master");
        }
    }
    ctx.srv
        .repl
        .set_master(Some(Link::start(ctx.srv.arc(), host.clone(), port)));
    ctx.srv.config.write().replicaof = Some((host.clone(), port));
    crate::notice!(
        "REPLICAOF {host}:{port} enabled (user request from 'id={} addr={}')",
        ctx.client.id,
        ctx.client.meta.addr
    );
    ctx.out.ok();
}

/// ROLE: a replica's `slave host port state offset`; a master's offset and
/// replicas (none yet: the master side is not built).
pub fn role(ctx: &mut Ctx, _argv: &Argv) {
    match ctx.srv.repl.link_status() {
        Some(status) => {
            let state = status.state();
            ctx.out.array(5);
            ctx.out.bulk(b"slave");
            ctx.out.bulk(status.host.as_bytes());
            ctx.out.int(i64::from(status.port));
            ctx.out.bulk(state.role_name().as_bytes());
            let offset = if state == crate::repl::replica::LinkState::Connected {
                status.offset.load(Ordering::Acquire) as i64
            } else {
                -1
            };
            ctx.out.int(offset);
        }
        None => {
            ctx.out.array(3);
            ctx.out.bulk(b"master");
            ctx.out.int(0);
            ctx.out.array(0);
        }
    }
}
