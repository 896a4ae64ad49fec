//! Replication commands, the replica side so far: REPLICAOF / SLAVEOF and
//! ROLE (Redis 7.0 replication.c `replicaofCommand`, `roleCommand`). The
//! link itself is `crate::repl::replica`.

use super::flags::{ADMIN, FAST, LOADING, NOSCRIPT, STALE};
use super::{command_table, eq_ic, Ctx};
use crate::protocol::Argv;
use crate::repl::replica::Link;
use std::sync::atomic::Ordering;

command_table! {
    pub static TABLE;
    "replicaof", 3, ADMIN | NOSCRIPT | STALE, (0, 0, 0), "@admin @slow @dangerous", replicaof;
    "slaveof", 3, ADMIN | NOSCRIPT | STALE, (0, 0, 0), "@admin @slow @dangerous", replicaof;
    "role", 1, NOSCRIPT | LOADING | STALE | FAST, (0, 0, 0), "@admin @fast @dangerous", role;
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
