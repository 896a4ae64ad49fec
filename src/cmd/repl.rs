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
    "wait", 3, NOSCRIPT, (0, 0, 0), "@slow @connection", wait;
    "failover", -1, ADMIN | NOSCRIPT | STALE, (0, 0, 0), "@admin @slow @dangerous", failover;
}

/// PSYNC <replid> <offset> / SYNC: answered by the sender thread
/// (`+CONTINUE` or a full sync). No reply here: once the replies before it
/// are written, the shard hands the socket over. A replica serves
/// sub-replicas the same way, from its own backlog of its master's stream.
pub fn psync(ctx: &mut Ctx, argv: &Argv) {
    // PSYNC <my master's replid> <offset> FAILOVER: my master hands over
    // (its FAILOVER): become a master, then serve it as a replica.
    if argv.len() > 3 && eq_ic(argv.get(3), "failover") {
        if argv.get(1) != ctx.srv.repl.ids().replid.as_bytes() {
            return ctx
                .out
                .error("ERR PSYNC FAILOVER replid must match my replid.");
        }
        if ctx.srv.repl.is_replica() {
            ctx.srv.repl.promote();
            ctx.srv.config.write().replicaof = None;
        }
        crate::notice!(
            "Failover request received for replid {}.",
            String::from_utf8_lossy(argv.get(1))
        );
    }
    if ctx.srv.repl.failover.lock().state != crate::repl::FailoverState::None {
        return ctx.out.error("NOMASTERLINK Can't SYNC while failing over");
    }
    if let Some(link) = ctx.srv.repl.link_status() {
        if link.state() != crate::repl::replica::LinkState::Connected {
            return ctx
                .out
                .error("NOMASTERLINK Can't SYNC while not connected with my master");
        }
    }
    if ctx.client.multi.is_some() || ctx.client.in_exec {
        return ctx
            .out
            .error("ERR Command not allowed inside a transaction");
    }
    let text = |i: usize| String::from_utf8_lossy(argv.get(i)).into_owned();
    let (replid, offset) = if argv.len() >= 3 {
        (text(1), text(2))
    } else {
        ("?".into(), "-1".into())
    };
    let request = crate::repl::master::Request {
        conf: ctx.client.replconf.clone(),
        legacy: argv.len() == 1,
        peer: ctx.client.meta.addr.clone(),
        replid,
        offset,
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
            } else if eq_ic(value, "psync2") {
                ctx.client.replconf.capa_psync2 = true;
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
    if ctx.srv.repl.failover.lock().state != crate::repl::FailoverState::None {
        return ctx
            .out
            .error("ERR REPLICAOF not allowed while failing over.");
    }
    if eq_ic(host, "no") && eq_ic(port, "one") {
        if ctx.srv.repl.is_replica() {
            ctx.srv.repl.promote();
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
    // The new master is offered this server's history: a master's own
    // (Redis's `replicationCacheMasterUsingMyself`: its promoted former
    // replica can continue it), or a replica's whole dataset (the cached
    // master).
    let cached = ctx.srv.repl.begin_switch(&ctx.srv.keyspace);
    // Our replicas hold our old history: they reconnect.
    ctx.srv.repl.disconnect_replicas();
    let link = Link::start(ctx.srv.arc(), host.clone(), port, cached, false);
    ctx.srv.repl.set_master(Some(link));
    ctx.srv.config.write().replicaof = Some((host.clone(), port));
    crate::notice!(
        "REPLICAOF {host}:{port} enabled (user request from 'id={} addr={}')",
        ctx.client.id,
        ctx.client.meta.addr
    );
    ctx.out.ok();
}

/// ROLE: a replica's `slave host port state offset`; a master's offset and
/// its online replicas (`ip`, `port`, acknowledged offset).
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
            let online: Vec<_> = ctx
                .srv
                .repl
                .replicas
                .snapshot()
                .into_iter()
                .filter(|r| r.is_online())
                .collect();
            ctx.out.array(3);
            ctx.out.bulk(b"master");
            ctx.out.int(ctx.srv.repl.offset() as i64);
            ctx.out.array(online.len());
            for r in online {
                ctx.out.array(3);
                ctx.out.bulk(r.ip.as_bytes());
                ctx.out.bulk(r.port.to_string().as_bytes());
                ctx.out
                    .bulk(r.ack_offset.load(Ordering::Acquire).to_string().as_bytes());
            }
        }
    }
}

/// WAIT numreplicas timeout (replication.c `waitCommand`): blocks until
/// that many replicas acknowledged this client's last write, or the
/// timeout (ms, 0 = forever) passes; replies how many did.
pub fn wait(ctx: &mut Ctx, argv: &Argv) {
    if ctx.srv.repl.is_replica() {
        return ctx.out.error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
    }
    let Some(wanted) = crate::num::parse_i64(argv.get(1)) else {
        return ctx.out.error("ERR value is not an integer or out of range");
    };
    let Some(timeout) = crate::num::parse_i64(argv.get(2)) else {
        return ctx
            .out
            .error("ERR timeout is not an integer or out of range");
    };
    if timeout < 0 {
        return ctx.out.error("ERR timeout is negative");
    }
    let offset = ctx.client.woff;
    let acked = ctx.srv.repl.acked(offset);
    // Inside MULTI (or a script) a client cannot block.
    if i64::try_from(acked).unwrap_or(i64::MAX) >= wanted || ctx.client.in_exec {
        return ctx.out.int(acked as i64);
    }
    let deadline_ms = if timeout == 0 {
        0
    } else {
        ctx.ks.now_ms.saturating_add(timeout as u64)
    };
    let waiter = ctx.client.waiter(ctx.ks.db, argv.clone());
    ctx.client.block(
        std::sync::Arc::clone(&waiter),
        deadline_ms,
        super::OnTimeout::Acks(offset),
    );
    let wanted = usize::try_from(wanted).unwrap_or(usize::MAX);
    ctx.srv.repl.add_wait(waiter, offset, wanted);
    // An ACK may have come in before the wait was listed.
    ctx.srv.repl.check_waits(ctx.srv);
}

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms] (replication.c
/// `failoverCommand`): pauses writes and hands the master role to a
/// replica once it has the whole stream; `Replication::failover_cron`
/// drives it.
pub fn failover(ctx: &mut Ctx, argv: &Argv) {
    let repl = &ctx.srv.repl;
    if argv.len() == 2 && eq_ic(argv.get(1), "abort") {
        if repl.failover.lock().state == crate::repl::FailoverState::None {
            return ctx.out.error("ERR No failover in progress.");
        }
        repl.abort_failover(ctx.srv, "Failover manually aborted");
        return ctx.out.ok();
    }
    let mut timeout_ms = 0i64;
    let mut force = false;
    let mut target: Option<(String, i64)> = None;
    let mut j = 1;
    while j < argv.len() {
        let word = argv.get(j);
        if eq_ic(word, "timeout") && j + 1 < argv.len() && timeout_ms == 0 {
            let Some(t) = crate::num::parse_i64(argv.get(j + 1)) else {
                return ctx.out.error("ERR value is not an integer or out of range");
            };
            if t <= 0 {
                return ctx.out.error("ERR FAILOVER timeout must be greater than 0");
            }
            timeout_ms = t;
            j += 2;
        } else if eq_ic(word, "to") && j + 2 < argv.len() && target.is_none() {
            let Some(port) = crate::num::parse_i64(argv.get(j + 2)) else {
                return ctx.out.error("ERR value is not an integer or out of range");
            };
            target = Some((String::from_utf8_lossy(argv.get(j + 1)).into_owned(), port));
            j += 3;
        } else if eq_ic(word, "force") && !force {
            force = true;
            j += 1;
        } else {
            return ctx.out.error(ERR_SYNTAX);
        }
    }
    if repl.failover.lock().state != crate::repl::FailoverState::None {
        return ctx.out.error("ERR FAILOVER already in progress.");
    }
    if repl.is_replica() {
        return ctx
            .out
            .error("ERR FAILOVER is not valid when server is a replica.");
    }
    let replicas = repl.replicas.snapshot();
    if replicas.is_empty() {
        return ctx.out.error("ERR FAILOVER requires connected replicas.");
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        return ctx.out.error(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        );
    }
    let target = match target {
        Some((host, port)) => {
            let Some(r) = replicas
                .iter()
                .find(|r| r.ip.eq_ignore_ascii_case(&host) && i64::from(r.port) == port)
            else {
                return ctx
                    .out
                    .error("ERR FAILOVER target HOST and PORT is not a replica.");
            };
            if !r.is_online() {
                return ctx.out.error("ERR FAILOVER target replica is not online.");
            }
            crate::notice!("FAILOVER requested to {host}:{port}.");
            Some((r.ip.clone(), r.port))
        }
        None => {
            crate::notice!("FAILOVER requested to any replica.");
            None
        }
    };
    let end_ms = if timeout_ms > 0 {
        crate::server::unix_ms().saturating_add(timeout_ms as u64)
    } else {
        0
    };
    repl.start_failover(target, end_ms, force);
    ctx.out.ok();
}
