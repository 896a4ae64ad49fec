//! Generic keyspace commands (db.c, expire.c, object.c): DEL UNLINK EXISTS
//! TYPE KEYS SCAN RANDOMKEY RENAME RENAMENX COPY MOVE TOUCH OBJECT and the
//! EXPIRE/TTL family.

use super::{eq_ic, parse_db, unknown_subcommand, Ctx, ERR_NOT_INT, ERR_NO_KEY, ERR_SYNTAX};
use crate::glob::glob_match;
use crate::num::parse_i64;
use crate::protocol::Argv;
use crate::store::lazyfree::Lazy;
use crate::store::{events, Entry, Key, STRIPES};
use std::cell::Cell;

/// DEL: UNLINK under `lazyfree-lazy-user-del`.
pub fn del(ctx: &mut Ctx, argv: &Argv) {
    let lazy = ctx.srv.keyspace.lazyfree.is_lazy(Lazy::UserDel);
    delete_keys(ctx, argv, lazy);
}

/// DEL whose big values are freed on the lazy-free thread
/// (`dbAsyncDelete`).
pub fn unlink(ctx: &mut Ctx, argv: &Argv) {
    delete_keys(ctx, argv, true);
}

fn delete_keys(ctx: &mut Ctx, argv: &Argv, lazy: bool) {
    let lazyfree = &ctx.srv.keyspace.lazyfree;
    let deleted = argv
        .iter()
        .skip(1)
        .filter(|key| {
            let deleted = ctx.ks.delete_with(key, |e| {
                if lazy {
                    lazyfree.free(e.value)
                }
            });
            if deleted {
                ctx.ks.notify(events::GENERIC, "del", key);
            }
            deleted
        })
        .count();
    ctx.out.int(deleted as i64);
}

pub fn exists(ctx: &mut Ctx, argv: &Argv) {
    let found = argv
        .iter()
        .skip(1)
        .filter(|key| ctx.ks.lookup_read(key).is_some())
        .count();
    ctx.out.int(found as i64);
}

pub fn touch(ctx: &mut Ctx, argv: &Argv) {
    exists(ctx, argv);
}

pub fn type_(ctx: &mut Ctx, argv: &Argv) {
    let name = ctx
        .ks
        .peek(argv.get(1))
        .map_or("none", |e| e.value.type_name());
    ctx.out.simple(name.as_bytes());
}

pub fn keys(ctx: &mut Ctx, argv: &Argv) {
    let pattern = argv.get(1);
    let all = pattern == b"*";
    let (db, now) = (ctx.ks.db, ctx.ks.now_ms);
    let mut found: Vec<Key> = Vec::new();
    for stripe in 0..STRIPES {
        ctx.ks.locked.with_stripe(stripe, |s| {
            for (key, entry) in &s.dbs[db].map {
                if !entry.is_expired(now) && (all || glob_match(pattern, key, false)) {
                    found.push(key.into());
                }
            }
        });
    }
    ctx.out.array(found.len());
    for key in &found {
        ctx.out.bulk(key);
    }
}

/// A 32-bit hash that orders keys inside a stripe for SCAN; independent of
/// the stripe choice (CRC16) and stable for the life of the process.
pub(crate) fn scan_hash(key: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in key {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// SCAN-family options (db.c `scanGenericCommand`): COUNT (at least 1),
/// MATCH (`*` means none) and, for SCAN only, TYPE.
pub(crate) struct ScanOptions<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
    pub type_filter: Option<&'a [u8]>,
}

/// Parses SCAN-family options from `argv[start..]` (keywords compared as C
/// strings, like Redis's strcasecmp).
pub(crate) fn parse_scan_options(
    argv: &Argv,
    start: usize,
    allow_type: bool,
) -> Result<ScanOptions<'_>, &'static str> {
    let mut opts = ScanOptions {
        count: 10,
        pattern: None,
        type_filter: None,
    };
    let mut i = start;
    while i < argv.len() {
        let opt = super::cstr(argv.get(i));
        let has_value = i + 1 < argv.len();
        if eq_ic(opt, "count") && has_value {
            match parse_i64(argv.get(i + 1)) {
                None => return Err(ERR_NOT_INT),
                Some(n) if n < 1 => return Err(ERR_SYNTAX),
                Some(n) => opts.count = usize::try_from(n).unwrap_or(usize::MAX),
            }
        } else if eq_ic(opt, "match") && has_value {
            opts.pattern = Some(argv.get(i + 1)).filter(|p| *p != b"*");
        } else if allow_type && eq_ic(opt, "type") && has_value {
            opts.type_filter = Some(argv.get(i + 1));
        } else {
            return Err(ERR_SYNTAX);
        }
        i += 2;
    }
    Ok(opts)
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
///
/// The cursor is `stripe << 32 | hash`: the next call resumes in `stripe`
/// at keys whose [`scan_hash`] is >= `hash`. Keys are visited in (stripe,
/// hash) order, which no insert or delete changes, so every key present for
/// the whole iteration is returned at least once, as Redis guarantees.
pub fn scan(ctx: &mut Ctx, argv: &Argv) {
    let Some(cursor) = parse_cursor(argv.get(1)) else {
        ctx.out.error("ERR invalid cursor");
        return;
    };
    let ScanOptions {
        count,
        pattern,
        type_filter,
    } = match parse_scan_options(argv, 2, true) {
        Ok(opts) => opts,
        Err(e) => return ctx.out.error(e),
    };
    let (db, now) = (ctx.ks.db, ctx.ks.now_ms);
    let mut stripe = (cursor >> 32) as usize;
    let mut from = cursor as u32 as u64;
    let mut found: Vec<Key> = Vec::new();
    let mut budget = count.saturating_mul(10).max(100);
    let mut next_cursor = 0u64;
    while stripe < STRIPES {
        let mut batch: Vec<(u32, Key)> = ctx.ks.locked.with_stripe(stripe, |s| {
            s.dbs[db]
                .map
                .keys()
                .map(|k| (scan_hash(k), k))
                .filter(|(h, _)| u64::from(*h) >= from)
                .map(|(h, k)| (h, Key::from(k)))
                .collect()
        });
        batch.sort_unstable_by_key(|(h, _)| *h);
        let room = count.saturating_sub(found.len());
        let mut taken = 0;
        // Take `room` keys, then any more with the same hash as the last
        // taken, so the resume point (last hash + 1) skips nothing.
        while taken < batch.len()
            && (taken < room || (taken > 0 && batch[taken].0 == batch[taken - 1].0))
        {
            taken += 1;
        }
        let exhausted = taken == batch.len();
        let resume = if exhausted {
            None
        } else {
            Some(u64::from(batch[taken - 1].0) + 1)
        };
        found.extend(batch.drain(..taken).map(|(_, k)| k));
        budget = budget.saturating_sub(taken + 1);
        match resume {
            Some(pos) if pos <= u64::from(u32::MAX) => {
                next_cursor = (stripe as u64) << 32 | pos;
                break;
            }
            _ => {
                stripe += 1;
                from = 0;
                next_cursor = if stripe < STRIPES {
                    (stripe as u64) << 32
                } else {
                    0
                };
            }
        }
        if found.len() >= count || budget == 0 {
            break;
        }
    }
    // Filters run after collection, as Redis's scanGenericCommand does.
    let mut keep: Vec<Key> = Vec::with_capacity(found.len());
    for key in found {
        if pattern.is_some_and(|p| !glob_match(p, &key, false)) {
            continue;
        }
        let live = ctx
            .ks
            .locked
            .with_stripe(crate::store::stripe_of(&key), |s| {
                s.dbs[db]
                    .map
                    .get(&key)
                    .filter(|e| !e.is_expired(now))
                    .map(|e| e.value.type_name())
            });
        match (live, type_filter) {
            (None, _) => {}
            (Some(t), Some(want)) if !want.eq_ignore_ascii_case(t.as_bytes()) => {}
            _ => keep.push(key),
        }
    }
    ctx.out.array(2);
    ctx.out
        .bulk(itoa::Buffer::new().format(next_cursor).as_bytes());
    ctx.out.array(keep.len());
    for key in &keep {
        ctx.out.bulk(key);
    }
}

/// db.c `parseScanCursorOrReply`: C `strtoul` of the whole argument, so ""
/// is 0, a sign is allowed ("-1" wraps), leading space and overflow are not.
pub(crate) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let arg = super::c_prefix(arg, usize::MAX);
    if arg.first().is_some_and(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let (negative, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        // strtoul consumed nothing: the end pointer is the start, which is
        // the terminator only for "".
        return arg.is_empty().then_some(0);
    }
    let mut value: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(0x9e37_79b9_7f4a_7c15 ^ crate::server::unix_ms());
}

/// xorshift64*: fast, per-thread, good enough for RANDOMKEY sampling.
pub fn random_u64() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

pub fn randomkey(ctx: &mut Ctx, _argv: &Argv) {
    let (db, now) = (ctx.ks.db, ctx.ks.now_ms);
    let start = random_u64() as usize % STRIPES;
    for i in 0..STRIPES {
        let stripe = (start + i) % STRIPES;
        let picked = ctx.ks.locked.with_stripe(stripe, |s| {
            let map = &s.dbs[db].map;
            let live = map.values().filter(|e| !e.is_expired(now)).count();
            if live == 0 {
                return None;
            }
            let nth = random_u64() as usize % live;
            map.iter()
                .filter(|(_, e)| !e.is_expired(now))
                .nth(nth)
                .map(|(k, _)| Key::from(k))
        });
        if let Some(key) = picked {
            return ctx.out.bulk(&key);
        }
    }
    ctx.out.null();
}

fn rename_generic(ctx: &mut Ctx, argv: &Argv, nx: bool) {
    let (src, dst) = (argv.get(1), argv.get(2));
    if ctx.ks.lookup_write(src).is_none() {
        return ctx.out.error(ERR_NO_KEY);
    }
    if src == dst {
        return if nx { ctx.out.int(0) } else { ctx.out.ok() };
    }
    // The old destination is replaced below (and freed as
    // `lazyfree-lazy-server-del` says).
    let dst_exists = ctx.ks.lookup_write(dst).is_some();
    if nx && dst_exists {
        return ctx.out.int(0);
    }
    let entry = ctx.ks.remove(src).expect("looked up above");
    ctx.ks.modified(src);
    // Redis deletes an old destination first: its dbAdd always adds.
    ctx.ks.insert_in(ctx.ks.db, dst, entry);
    ctx.ks.notify(events::NEW, "new", dst);
    ctx.ks.modified(dst);
    ctx.ks.dirty -= 1; // Redis counts a rename as one change.
    ctx.ks.notify(events::GENERIC, "rename_from", src);
    ctx.ks.notify(events::GENERIC, "rename_to", dst);
    if nx {
        ctx.out.int(1)
    } else {
        ctx.out.ok()
    }
}

pub fn rename(ctx: &mut Ctx, argv: &Argv) {
    rename_generic(ctx, argv, false);
}

pub fn renamenx(ctx: &mut Ctx, argv: &Argv) {
    rename_generic(ctx, argv, true);
}

/// COPY source destination [DB destination-db] [REPLACE]
pub fn copy(ctx: &mut Ctx, argv: &Argv) {
    let (src, dst) = (argv.get(1), argv.get(2));
    let mut target_db = ctx.ks.db;
    let mut replace = false;
    let mut i = 3;
    while i < argv.len() {
        if eq_ic(argv.get(i), "replace") {
            replace = true;
        } else if eq_ic(argv.get(i), "db") && i + 1 < argv.len() {
            match parse_db(ctx, argv.get(i + 1)) {
                Ok(db) => target_db = db,
                Err(e) => return ctx.out.error(e),
            }
            i += 1;
        } else {
            return ctx.out.error(ERR_SYNTAX);
        }
        i += 1;
    }
    if src == dst && target_db == ctx.ks.db {
        return ctx
            .out
            .error("ERR source and destination objects are the same");
    }
    // A read of the source (db.c `copyCommand`: hits, misses, keymiss).
    let Some(entry) = ctx.ks.lookup_read(src).cloned() else {
        return ctx.out.int(0);
    };
    let own_db = ctx.ks.db;
    ctx.ks.db = target_db;
    let exists = ctx.ks.lookup_write(dst).is_some();
    if exists && !replace {
        ctx.ks.db = own_db;
        return ctx.out.int(0);
    }
    ctx.ks.insert_in(ctx.ks.db, dst, entry);
    ctx.ks.notify(events::NEW, "new", dst);
    ctx.ks.modified(dst);
    ctx.ks.notify(events::GENERIC, "copy_to", dst);
    ctx.ks.db = own_db;
    ctx.out.int(1);
}

pub fn move_(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let target = match parse_db(ctx, argv.get(2)) {
        Ok(db) => db,
        Err(e) => return ctx.out.error(e),
    };
    let own = ctx.ks.db;
    if target == own {
        return ctx
            .out
            .error("ERR source and destination objects are the same");
    }
    if ctx.ks.lookup_write(key).is_none() {
        return ctx.out.int(0);
    }
    ctx.ks.db = target;
    let taken = ctx.ks.lookup_write(key).is_some();
    ctx.ks.db = own;
    if taken {
        return ctx.out.int(0);
    }
    let entry = ctx.ks.remove(key).expect("looked up above");
    ctx.ks.modified(key);
    ctx.ks.insert_in(target, key, entry);
    ctx.ks.events.add(events::NEW, "new", target, key);
    ctx.ks.modified_in(target, key);
    ctx.ks.dirty -= 1;
    ctx.ks.notify(events::GENERIC, "move_from", key);
    ctx.ks.events.add(events::GENERIC, "move_to", target, key);
    ctx.out.int(1);
}

/// OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key, OBJECT HELP.
pub fn object(ctx: &mut Ctx, argv: &Argv) {
    let sub = argv.get(1);
    if eq_ic(sub, "help") && argv.len() == 2 {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Prints this help.",
        ];
        super::reply_help(ctx, &lines);
        return;
    }
    let known = ["encoding", "freq", "idletime", "refcount"];
    let Some(name) = known.iter().find(|n| eq_ic(sub, n)) else {
        return unknown_subcommand(ctx, "OBJECT", sub);
    };
    if argv.len() != 3 {
        return ctx.wrong_arity(&format!("object|{name}"));
    }
    let clock = ctx.ks.lru_clock;
    let now_ms = ctx.ks.now_ms;
    let Some(entry) = ctx.ks.peek_quiet(argv.get(2)) else {
        return ctx.out.null();
    };
    let entry: &Entry = entry;
    match *name {
        "encoding" => {
            let enc = entry.value.encoding();
            ctx.out.bulk(enc.as_bytes());
        }
        "idletime" => {
            let idle = clock.saturating_sub(entry.access_s);
            ctx.out.int(i64::from(idle));
        }
        "refcount" => {
            let shared = matches!(entry.value, crate::store::Value::Int(n) if (0..10_000).contains(&n));
            ctx.out.int(if shared { i64::from(i32::MAX) } else { 1 });
        }
        _ => match ctx.srv.lfu_params() {
            Some(params) => {
                let minutes = crate::store::lfu_minutes(now_ms);
                ctx.out.int(i64::from(entry.lfu_decayed(minutes, params)));
            }
            None => ctx.out.error(
                "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when \
                 switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ),
        },
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Seconds,
    Millis,
}

/// expire.c `expireGenericCommand`: EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT key t [NX|XX|GT|LT].
fn expire_generic(ctx: &mut Ctx, argv: &Argv, relative: bool, unit: Unit, name: &str) {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in argv.iter().skip(3) {
        if eq_ic(opt, "nx") {
            nx = true;
        } else if eq_ic(opt, "xx") {
            xx = true;
        } else if eq_ic(opt, "gt") {
            gt = true;
        } else if eq_ic(opt, "lt") {
            lt = true;
        } else {
            let mut text = b"ERR Unsupported option ".to_vec();
            text.extend_from_slice(super::c_prefix(opt, usize::MAX));
            return ctx.out.error_bytes(&text);
        }
    }
    if nx && (xx || gt || lt) {
        return ctx
            .out
            .error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return ctx
            .out
            .error("ERR GT and LT options at the same time are not compatible");
    }
    let Some(mut when) = parse_i64(argv.get(2)) else {
        return ctx.out.error(ERR_NOT_INT);
    };
    let bad_time = format!("ERR invalid expire time in '{name}' command");
    if unit == Unit::Seconds {
        match when.checked_mul(1000) {
            Some(ms) => when = ms,
            None => return ctx.out.error(&bad_time),
        }
    }
    if relative {
        let base = ctx.ks.now_ms as i64;
        match when.checked_add(base) {
            Some(abs) => when = abs,
            None => return ctx.out.error(&bad_time),
        }
    }
    let key = argv.get(1);
    let Some(entry) = ctx.ks.lookup_write(key) else {
        return ctx.out.int(0);
    };
    let current = if entry.expire_ms == 0 {
        None
    } else {
        Some(entry.expire_ms as i64)
    };
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| when <= c))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        return ctx.out.int(0);
    }
    if when <= ctx.ks.now_ms as i64 {
        ctx.ks.delete_notified(key);
        // Replicated as an explicit DEL (expire.c `expireGenericCommand`).
        ctx.propagate_as(&[b"DEL", key]);
    } else {
        ctx.ks.set_expire(key, when as u64);
        ctx.ks.modified(key);
        ctx.ks.notify(events::GENERIC, "expire", key);
        // Replicated as PEXPIREAT <absolute ms> with the options kept; the
        // name is rewritten unless it already was PEXPIREAT.
        let when_text = itoa::Buffer::new().format(when).as_bytes().to_vec();
        let mut parts: Vec<&[u8]> = argv.iter().collect();
        if name != "pexpireat" {
            parts[0] = b"PEXPIREAT";
        }
        parts[2] = &when_text;
        ctx.propagate_as(&parts);
    }
    ctx.out.int(1);
}

pub fn expire(ctx: &mut Ctx, argv: &Argv) {
    expire_generic(ctx, argv, true, Unit::Seconds, "expire");
}

pub fn pexpire(ctx: &mut Ctx, argv: &Argv) {
    expire_generic(ctx, argv, true, Unit::Millis, "pexpire");
}

pub fn expireat(ctx: &mut Ctx, argv: &Argv) {
    expire_generic(ctx, argv, false, Unit::Seconds, "expireat");
}

pub fn pexpireat(ctx: &mut Ctx, argv: &Argv) {
    expire_generic(ctx, argv, false, Unit::Millis, "pexpireat");
}

/// expire.c `ttlGenericCommand`.
fn ttl_generic(ctx: &mut Ctx, argv: &Argv, millis: bool, absolute: bool) {
    let now = ctx.ks.now_ms as i64;
    let Some(entry) = ctx.ks.peek(argv.get(1)) else {
        return ctx.out.int(-2);
    };
    if entry.expire_ms == 0 {
        return ctx.out.int(-1);
    }
    let expire = entry.expire_ms as i64;
    let ttl = if absolute {
        expire
    } else {
        (expire - now).max(0)
    };
    // Redis's `(ttl+500)/1000` is compiled without wrapping (observed:
    // EXPIRETIME near i64::MAX stays positive), so compute it wide.
    let secs = ((i128::from(ttl) + 500) / 1000) as i64;
    ctx.out.int(if millis { ttl } else { secs });
}

pub fn ttl(ctx: &mut Ctx, argv: &Argv) {
    ttl_generic(ctx, argv, false, false);
}

pub fn pttl(ctx: &mut Ctx, argv: &Argv) {
    ttl_generic(ctx, argv, true, false);
}

pub fn expiretime(ctx: &mut Ctx, argv: &Argv) {
    ttl_generic(ctx, argv, false, true);
}

pub fn pexpiretime(ctx: &mut Ctx, argv: &Argv) {
    ttl_generic(ctx, argv, true, true);
}

pub fn persist(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    match ctx.ks.lookup_write(key) {
        Some(entry) if entry.expire_ms != 0 => {
            ctx.ks.set_expire(key, 0);
            ctx.ks.modified(key);
            ctx.ks.notify(events::GENERIC, "persist", key);
            ctx.out.int(1);
        }
        _ => ctx.out.int(0),
    }
}
