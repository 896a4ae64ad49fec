//! Persistence commands: SAVE, BGSAVE, DUMP, RESTORE (Redis 7.0 rdb.c
//! `saveCommand`, `bgsaveCommand`; cluster.c `dumpCommand`,
//! `restoreCommand`). The work is in `crate::server::persist` and
//! `crate::rdb`.

use super::flags::{ADMIN, DENYOOM, NOSCRIPT, READONLY, WALKS, WRITE};
use super::{command_table, eq_ic, Ctx, ERR_NOT_INT, ERR_SYNTAX};
use crate::num::parse_i64;
use crate::protocol::Argv;
use crate::server::persist::{self, SaveError};
use crate::store::{events, Value};

command_table! {
    pub static TABLE;
    "save", 1, ADMIN | NOSCRIPT | WALKS, (0, 0, 0), "@admin @slow @dangerous", save;
    "bgsave", -1, ADMIN | NOSCRIPT, (0, 0, 0), "@admin @slow @dangerous", bgsave;
    "dump", 2, READONLY, (1, 1, 1), "@keyspace @read @slow", dump;
    "restore", -4, WRITE | DENYOOM, (1, 1, 1), "@keyspace @write @slow @dangerous", restore;
}

/// SAVE: a synchronous save (only this client waits; other clients and
/// shards keep running, and the image is still one point in time). Inside
/// EXEC the transaction holds every stripe and the file is written from
/// them.
pub fn save(ctx: &mut Ctx, _argv: &Argv) {
    let result = if ctx.client.in_exec {
        persist::save_held(ctx.srv, &mut ctx.ks.locked)
    } else {
        persist::save(ctx.srv)
    };
    match result {
        Ok(_) => ctx.out.ok(),
        Err(SaveError::InProgress) => ctx.out.error("ERR Background save already in progress"),
        Err(SaveError::Failed(_)) => ctx.out.error("ERR"),
    }
}

/// BGSAVE [SCHEDULE]
pub fn bgsave(ctx: &mut Ctx, argv: &Argv) {
    if argv.len() > 1 && !(argv.len() == 2 && eq_ic(argv.get(1), "schedule")) {
        return ctx.out.error(ERR_SYNTAX);
    }
    match persist::bgsave(&ctx.srv.arc()) {
        // Inside EXEC the save waits for the transaction's stripes.
        Ok(()) if ctx.client.in_exec => ctx.out.simple(b"Background saving scheduled"),
        Ok(()) => ctx.out.simple(b"Background saving started"),
        Err(SaveError::InProgress) => ctx.out.error("ERR Background save already in progress"),
        Err(SaveError::Failed(_)) => ctx.out.error("ERR"),
    }
}

/// DUMP key: the value in RDB form + RDB version + CRC64.
pub fn dump(ctx: &mut Ctx, argv: &Argv) {
    let Some(entry) = ctx.ks.lookup_read(argv.get(1)) else {
        return ctx.out.null();
    };
    let payload = crate::rdb::encode::dump_payload(&entry.value);
    ctx.out.bulk(&payload);
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]
pub fn restore(ctx: &mut Ctx, argv: &Argv) {
    let mut replace = false;
    let mut absttl = false;
    let mut idle: Option<i64> = None;
    let mut freq: Option<i64> = None;
    let mut j = 4;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        let opt = argv.get(j);
        if eq_ic(opt, "replace") {
            replace = true;
        } else if eq_ic(opt, "absttl") {
            absttl = true;
        } else if eq_ic(opt, "idletime") && more >= 1 && freq.is_none() {
            match parse_i64(argv.get(j + 1)) {
                None => return ctx.out.error(ERR_NOT_INT),
                Some(v) if v < 0 => {
                    return ctx.out.error("ERR Invalid IDLETIME value, must be >= 0")
                }
                Some(v) => idle = Some(v),
            }
            j += 1;
        } else if eq_ic(opt, "freq") && more >= 1 && idle.is_none() {
            match parse_i64(argv.get(j + 1)) {
                None => return ctx.out.error(ERR_NOT_INT),
                Some(v) if !(0..=255).contains(&v) => {
                    return ctx
                        .out
                        .error("ERR Invalid FREQ value, must be >= 0 and <= 255")
                }
                Some(v) => freq = Some(v),
            }
            j += 1;
        } else {
            return ctx.out.error(ERR_SYNTAX);
        }
        j += 1;
    }
    let key = argv.get(1);
    if !replace && ctx.ks.lookup_write(key).is_some() {
        return ctx.out.error("BUSYKEY Target key name already exists.");
    }
    let mut ttl = match parse_i64(argv.get(2)) {
        None => return ctx.out.error(ERR_NOT_INT),
        Some(t) if t < 0 => return ctx.out.error("ERR Invalid TTL value, must be >= 0"),
        Some(t) => t,
    };
    let value: Value =
        match crate::rdb::decode::restore_payload_with(argv.get(3), ctx.srv.rdb_limits()) {
            Ok(v) => v,
            Err(e) => return ctx.out.error(e.redis_message()),
        };
    let deleted = replace && ctx.ks.delete(key);
    let now = ctx.ks.now_ms as i64;
    if ttl != 0 && !absttl {
        ttl = ttl.saturating_add(now);
    }
    if ttl != 0 && ttl <= now {
        // Already expired: the key is gone (and replicated as DEL).
        if deleted {
            ctx.ks.notify(events::GENERIC, "del", key);
            ctx.propagate_as(&[b"DEL", key]);
        }
        return ctx.out.ok();
    }
    ctx.ks.set(key, value, ttl as u64);
    ctx.ks.notify(events::GENERIC, "restore", key);
    if ttl != 0 && !absttl {
        let mut parts: Vec<Vec<u8>> = argv.iter().map(<[u8]>::to_vec).collect();
        parts[2] = ttl.to_string().into_bytes();
        parts.push(b"ABSTTL".to_vec());
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        ctx.propagate_as(&slices);
    }
    // object.c `objectSetLRUOrLFU`: FREQ under an LFU policy, else IDLETIME.
    let clock = ctx.ks.lru_clock;
    let lfu = ctx.srv.maxmemory_policy().lfu();
    if let Some(entry) = ctx.ks.lookup_write(key) {
        match (lfu, idle, freq) {
            (true, _, Some(freq)) => entry.freq = freq as u8,
            (false, Some(idle), _) => {
                entry.access_s = clock.saturating_sub(u32::try_from(idle).unwrap_or(u32::MAX))
            }
            _ => {}
        }
    }
    if deleted {
        // `ks.delete` counted one change; Redis counts the restore only.
        ctx.ks.dirty -= 1;
    }
    ctx.out.ok();
}
