//! Hash commands (Redis t_hash.c). Table rows live here (see
//! `super::command_table`); the value type lives in `crate::store::hash`.
//!
//! Each handler follows its Redis counterpart's order of checks (argument
//! parsing, then lookup and type check, then per-field work), because the
//! order decides which error a bad request gets.

use super::command_table;
use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::keys::{parse_cursor, scan_hash};
use super::{eq_ic, Ctx, ERR_NOT_INT, ERR_OVERFLOW, ERR_SYNTAX, ERR_WRONGTYPE};
use crate::cmd::keys::random_u64;
use crate::glob::glob_match;
use crate::num::{incrbyfloat, long_double_finite, parse_i64};
use crate::protocol::Argv;
use crate::store::hash::{HashLimits, HashValue};
use crate::store::{events, Keys, Value};

const WF: u32 = WRITE | DENYOOM | FAST;
const RF: u32 = READONLY | FAST;

command_table! {
    pub static TABLE;
    "hset", -4, WF, (1, 1, 1), "@write @hash @fast", hset;
    "hsetnx", 4, WF, (1, 1, 1), "@write @hash @fast", hsetnx;
    "hget", 3, RF, (1, 1, 1), "@read @hash @fast", hget;
    "hmget", -3, RF, (1, 1, 1), "@read @hash @fast", hmget;
    "hmset", -4, WF, (1, 1, 1), "@write @hash @fast", hmset;
    "hdel", -3, WRITE | FAST, (1, 1, 1), "@write @hash @fast", hdel;
    "hlen", 2, RF, (1, 1, 1), "@read @hash @fast", hlen;
    "hexists", 3, RF, (1, 1, 1), "@read @hash @fast", hexists;
    "hgetall", 2, READONLY, (1, 1, 1), "@read @hash @slow", hgetall;
    "hkeys", 2, READONLY, (1, 1, 1), "@read @hash @slow", hkeys;
    "hvals", 2, READONLY, (1, 1, 1), "@read @hash @slow", hvals;
    "hincrby", 4, WF, (1, 1, 1), "@write @hash @fast", hincrby;
    "hincrbyfloat", 4, WF, (1, 1, 1), "@write @hash @fast", hincrbyfloat;
    "hstrlen", 3, RF, (1, 1, 1), "@read @hash @fast", hstrlen;
    "hrandfield", -2, READONLY, (1, 1, 1), "@read @hash @slow", hrandfield;
    "hscan", -3, READONLY, (1, 1, 1), "@read @hash @slow", hscan;
}

/// Why a lookup did not give a hash: the key holds another type.
struct WrongType;

/// The hash at `key` for reading (`lookupKeyRead` + `checkType`).
fn read<'k>(ks: &'k mut Keys<'_>, key: &[u8]) -> Result<Option<&'k HashValue>, WrongType> {
    match ks.lookup_read(key) {
        None => Ok(None),
        Some(entry) => match &entry.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(WrongType),
        },
    }
}

/// The hash at `key` for writing (`lookupKeyWrite` + `checkType`).
fn write<'k>(ks: &'k mut Keys<'_>, key: &[u8]) -> Result<Option<&'k mut HashValue>, WrongType> {
    match ks.lookup_write(key) {
        None => Ok(None),
        Some(entry) => match &mut entry.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(WrongType),
        },
    }
}

fn limits(ctx: &Ctx) -> HashLimits {
    let l = ctx.srv.encoding_limits();
    HashLimits::new(l.hash_max_listpack_entries, l.hash_max_listpack_value)
}

/// Applies `f` to the hash at `key`, creating it if missing
/// (`hashTypeLookupWriteOrCreate`). `f` returns whether it changed the
/// hash; the key is signalled, or a new hash stored, accordingly, and
/// keyspace event `event` recorded. `f` must
/// not empty an existing hash (HDEL, the only remover, does its own
/// deletion). A new hash is stored only if `f` changed it, so a failed
/// HINCRBY leaves no empty key behind. `Err` means another type.
fn with_hash_or_create<R>(
    ctx: &mut Ctx,
    key: &[u8],
    event: &'static str,
    f: impl FnOnce(&mut HashValue, HashLimits) -> (bool, R),
) -> Result<R, WrongType> {
    let limits = limits(ctx);
    let changed = match write(&mut ctx.ks, key)? {
        Some(h) => {
            let (changed, r) = f(h, limits);
            if changed {
                ctx.ks.modified(key);
            }
            (changed, r)
        }
        None => {
            let mut h = HashValue::default();
            let (changed, r) = f(&mut h, limits);
            if changed && !h.is_empty() {
                ctx.ks.set(key, Value::Hash(h), 0);
            }
            (changed, r)
        }
    };
    if changed.0 {
        ctx.ks.notify(events::HASH, event, key);
    }
    Ok(changed.1)
}

/// HSET key field value [field value ...]: the number of new fields.
pub fn hset(ctx: &mut Ctx, argv: &Argv) {
    hset_generic(ctx, argv, "hset");
}

/// HMSET key field value [field value ...]: OK.
pub fn hmset(ctx: &mut Ctx, argv: &Argv) {
    hset_generic(ctx, argv, "hmset");
}

fn hset_generic(ctx: &mut Ctx, argv: &Argv, name: &str) {
    if argv.len() % 2 == 1 {
        return ctx.wrong_arity(name);
    }
    let key = argv.get(1);
    let added = with_hash_or_create(ctx, key, "hset", |h, limits| {
        let mut added = 0;
        let mut i = 2;
        while i + 1 < argv.len() {
            if h.set(argv.get(i), argv.get(i + 1), limits) {
                added += 1;
            }
            i += 2;
        }
        (true, added)
    });
    match added {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(added) => {
            // Redis counts one change per pair (`server.dirty += (argc-2)/2`).
            ctx.ks.dirty += ((argv.len() - 2) / 2) as u64 - 1;
            if name == "hset" {
                ctx.out.int(added);
            } else {
                ctx.out.ok();
            }
        }
    }
}

/// HSETNX key field value: 1 if set, 0 if the field existed.
pub fn hsetnx(ctx: &mut Ctx, argv: &Argv) {
    let (field, value) = (argv.get(2), argv.get(3));
    let set = with_hash_or_create(ctx, argv.get(1), "hset", |h, limits| {
        if h.get(field).is_some() {
            (false, false)
        } else {
            h.set(field, value, limits);
            (true, true)
        }
    });
    match set {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(set) => ctx.out.int(i64::from(set)),
    }
}

/// HGET key field
pub fn hget(ctx: &mut Ctx, argv: &Argv) {
    match read(&mut ctx.ks, argv.get(1)) {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(h) => match h.and_then(|h| h.get(argv.get(2))) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        },
    }
}

/// HMGET key field [field ...]
pub fn hmget(ctx: &mut Ctx, argv: &Argv) {
    match read(&mut ctx.ks, argv.get(1)) {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(h) => {
            ctx.out.array(argv.len() - 2);
            for field in argv.iter().skip(2) {
                match h.as_ref().and_then(|h| h.get(field)) {
                    Some(v) => ctx.out.bulk(v),
                    None => ctx.out.null(),
                }
            }
        }
    }
}

/// HDEL key field [field ...]: the number removed; an emptied hash is deleted.
pub fn hdel(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let (deleted, empty) = match write(&mut ctx.ks, key) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(h)) => {
            let mut deleted = 0u64;
            for field in argv.iter().skip(2) {
                if h.remove(field) {
                    deleted += 1;
                    if h.is_empty() {
                        break;
                    }
                }
            }
            (deleted, h.is_empty())
        }
    };
    if deleted > 0 {
        if empty {
            ctx.ks.delete(key);
        } else {
            ctx.ks.modified(key);
        }
        ctx.ks.dirty += deleted - 1;
        ctx.ks.notify(events::HASH, "hdel", key);
        if empty {
            ctx.ks.notify(events::GENERIC, "del", key);
        }
    }
    ctx.out.int(deleted as i64);
}

/// HLEN key
pub fn hlen(ctx: &mut Ctx, argv: &Argv) {
    match read(&mut ctx.ks, argv.get(1)) {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(h) => ctx.out.int(h.map_or(0, |h| h.len() as i64)),
    }
}

/// HEXISTS key field
pub fn hexists(ctx: &mut Ctx, argv: &Argv) {
    match read(&mut ctx.ks, argv.get(1)) {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(h) => {
            let found = h.is_some_and(|h| h.get(argv.get(2)).is_some());
            ctx.out.int(i64::from(found));
        }
    }
}

/// HSTRLEN key field
pub fn hstrlen(ctx: &mut Ctx, argv: &Argv) {
    match read(&mut ctx.ks, argv.get(1)) {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(h) => {
            let len = h.and_then(|h| h.get(argv.get(2))).map_or(0, <[u8]>::len);
            ctx.out.int(len as i64);
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Parts {
    Fields,
    Values,
    Both,
}

/// t_hash.c `genericHgetallCommand`: a map for HGETALL (an empty map for a
/// missing key), arrays for HKEYS and HVALS.
fn getall_generic(ctx: &mut Ctx, argv: &Argv, parts: Parts) {
    let h = match read(&mut ctx.ks, argv.get(1)) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(h) => h,
    };
    let len = h.as_ref().map_or(0, |h| h.len());
    if parts == Parts::Both {
        ctx.out.map(len);
    } else {
        ctx.out.array(len);
    }
    for (field, value) in h.iter().flat_map(|h| h.iter()) {
        if parts != Parts::Values {
            ctx.out.bulk(field);
        }
        if parts != Parts::Fields {
            ctx.out.bulk(value);
        }
    }
}

pub fn hgetall(ctx: &mut Ctx, argv: &Argv) {
    getall_generic(ctx, argv, Parts::Both);
}

pub fn hkeys(ctx: &mut Ctx, argv: &Argv) {
    getall_generic(ctx, argv, Parts::Fields);
}

pub fn hvals(ctx: &mut Ctx, argv: &Argv) {
    getall_generic(ctx, argv, Parts::Values);
}

/// HINCRBY key field increment (t_hash.c `hincrbyCommand`).
pub fn hincrby(ctx: &mut Ctx, argv: &Argv) {
    let Some(incr) = parse_i64(argv.get(3)) else {
        return ctx.out.error(ERR_NOT_INT);
    };
    let field = argv.get(2);
    let result = with_hash_or_create(ctx, argv.get(1), "hincrby", |h, limits| {
        let old = match h.get(field) {
            None => 0,
            Some(v) => match parse_i64(v) {
                Some(n) => n,
                None => return (false, Err("ERR hash value is not an integer")),
            },
        };
        let Some(new) = old.checked_add(incr) else {
            return (false, Err(ERR_OVERFLOW));
        };
        h.set(field, itoa::Buffer::new().format(new).as_bytes(), limits);
        (true, Ok(new))
    });
    match result {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(Err(text)) => ctx.out.error(text),
        Ok(Ok(new)) => ctx.out.int(new),
    }
}

/// HINCRBYFLOAT key field increment (t_hash.c `hincrbyfloatCommand`): the
/// increment is checked first, then the key's type, then the stored value.
pub fn hincrbyfloat(ctx: &mut Ctx, argv: &Argv) {
    let incr = argv.get(3);
    match long_double_finite(incr) {
        None => return ctx.out.error(super::ERR_NOT_FLOAT),
        Some(false) => return ctx.out.error("ERR value is NaN or Infinity"),
        Some(true) => {}
    }
    let field = argv.get(2);
    let result = with_hash_or_create(ctx, argv.get(1), "hincrbyfloat", |h, limits| {
        let old = h.get(field).unwrap_or(b"0");
        if long_double_finite(old).is_none() {
            return (false, Err("ERR hash value is not a float".to_string()));
        }
        match incrbyfloat(old, incr) {
            Err(e) => (false, Err(e.to_string())),
            Ok(new) => {
                h.set(field, &new, limits);
                (true, Ok(new))
            }
        }
    });
    match result {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(Err(text)) => ctx.out.error(&text),
        Ok(Ok(new)) => {
            // Replicated as the resulting value (t_hash.c), like INCRBYFLOAT.
            ctx.propagate_as(&[b"HSET", argv.get(1), field, &new]);
            ctx.out.bulk(&new);
        }
    }
}

/// HRANDFIELD key [count [WITHVALUES]] (t_hash.c `hrandfieldCommand`).
pub fn hrandfield(ctx: &mut Ctx, argv: &Argv) {
    if argv.len() == 2 {
        return match read(&mut ctx.ks, argv.get(1)) {
            Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
            Ok(None) => ctx.out.null(),
            Ok(Some(h)) => {
                let nth = random_u64() as usize % h.len().max(1);
                match h.iter().nth(nth) {
                    Some((field, _)) => ctx.out.bulk(field),
                    None => ctx.out.null(),
                }
            }
        };
    }
    // getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX).
    let count = match parse_i64(argv.get(2)) {
        None => return ctx.out.error(ERR_NOT_INT),
        Some(i64::MIN) => {
            return ctx.out.error(
                "ERR value is out of range, value must between -9223372036854775807 and \
                 9223372036854775807",
            )
        }
        Some(n) => n,
    };
    let withvalues = match argv.len() {
        3 => false,
        4 if eq_ic(argv.get(3), "withvalues") => true,
        _ => return ctx.out.error(ERR_SYNTAX),
    };
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return ctx.out.error("ERR value is out of range");
    }
    let h = match read(&mut ctx.ks, argv.get(1)) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.array(0),
        Ok(Some(h)) => h,
    };
    let resp3 = ctx.out.resp3;
    let mut entries: Vec<(&[u8], &[u8])> = h.iter().collect();
    if count == 0 || entries.is_empty() {
        return ctx.out.array(0);
    }
    let wanted = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let header = |n: usize| {
        if withvalues && !resp3 {
            n.saturating_mul(2)
        } else {
            n
        }
    };
    if count < 0 || count == 1 {
        // Case 1: independent picks, repeats allowed (the reply streams, so
        // a huge count allocates nothing up front).
        ctx.out.array(header(wanted));
        for _ in 0..wanted {
            let i = random_u64() as usize % entries.len();
            emit_random(ctx.out, entries[i], withvalues);
        }
        return;
    }
    // Cases 2-4: distinct entries; a partial Fisher-Yates shuffle picks them.
    let n = wanted.min(entries.len());
    for i in 0..n {
        let j = i + random_u64() as usize % (entries.len() - i);
        entries.swap(i, j);
    }
    ctx.out.array(header(n));
    for &entry in &entries[..n] {
        emit_random(ctx.out, entry, withvalues);
    }
}

/// One HRANDFIELD element: the field, or with WITHVALUES the field and
/// value (a nested pair in RESP3).
fn emit_random(
    out: &mut crate::protocol::ReplyBuf,
    (field, value): (&[u8], &[u8]),
    withvalues: bool,
) {
    if withvalues && out.resp3 {
        out.array(2);
    }
    out.bulk(field);
    if withvalues {
        out.bulk(value);
    }
}

/// (field, value) pairs borrowed from a hash.
type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// HSCAN key cursor [MATCH pattern] [COUNT count] (db.c `scanGenericCommand`).
///
/// A listpack hash is returned whole with cursor 0, as Redis does. A
/// hashtable is walked in [`scan_hash`] order: the cursor is the hash to
/// resume at, so fields present for the whole iteration are returned at
/// least once whatever is inserted or deleted meanwhile.
pub fn hscan(ctx: &mut Ctx, argv: &Argv) {
    let Some(cursor) = parse_cursor(argv.get(2)) else {
        return ctx.out.error("ERR invalid cursor");
    };
    let h = match read(&mut ctx.ks, argv.get(1)) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => {
            ctx.out.array(2);
            ctx.out.bulk(b"0");
            return ctx.out.array(0);
        }
        Ok(Some(h)) => h,
    };
    let super::keys::ScanOptions { count, pattern, .. } =
        match super::keys::parse_scan_options(argv, 3, false) {
            Ok(opts) => opts,
            Err(e) => return ctx.out.error(e),
        };
    let (found, next): (Pairs, u64) = match h {
        HashValue::Listpack(_) => (h.iter().collect(), 0),
        HashValue::Table(_) => table_batch(h, cursor, count),
    };
    let keep: Vec<_> = found
        .into_iter()
        .filter(|(f, _)| pattern.is_none_or(|p| glob_match(p, f, false)))
        .collect();
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(keep.len() * 2);
    for (field, value) in keep {
        ctx.out.bulk(field);
        ctx.out.bulk(value);
    }
}

/// One HSCAN batch of a hashtable: up to `count` pairs (more for a big hash,
/// see below) with [`scan_hash`] >= `cursor`, and the next cursor.
fn table_batch(h: &HashValue, cursor: u64, count: usize) -> (Pairs<'_>, u64) {
    let mut batch: Vec<(u32, &[u8], &[u8])> = h
        .iter()
        .map(|(f, v)| (scan_hash(f), f, v))
        .filter(|(hash, _, _)| u64::from(*hash) >= cursor)
        .collect();
    batch.sort_unstable_by_key(|e| e.0);
    // Each call costs O(n log n) here (Redis's costs O(COUNT)), so a
    // big hash is returned in at most ~16 calls: COUNT is only a
    // hint, and Redis too returns more than asked (a whole listpack).
    let mut taken = count.max(h.len() / 16).min(batch.len());
    // Take any more with the last taken hash, so the resume point
    // (that hash + 1) skips nothing.
    while taken > 0 && taken < batch.len() && batch[taken].0 == batch[taken - 1].0 {
        taken += 1;
    }
    let next = if taken == batch.len() {
        0
    } else {
        u64::from(batch[taken - 1].0) + 1
    };
    batch.truncate(taken);
    (batch.into_iter().map(|(_, f, v)| (f, v)).collect(), next)
}
