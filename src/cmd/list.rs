//! List commands (Redis 7.0 t_list.c), without the blocking ones: LPUSH
//! RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LREM LTRIM LINSERT
//! LPOS RPOPLPUSH LMOVE LMPOP. Table rows live here (see
//! `super::command_table`); the value type lives in `crate::store::list`.
//!
//! Owns: argument parsing and the order of checks, which follows each Redis
//! function (named in the doc comments) because it decides which error a
//! bad command gets: e.g. LRANGE parses its indexes before looking up the
//! key, LINDEX after.
//!
//! Key invariants: a list that becomes empty is deleted; `ctx.ks.modified`
//! runs once per changed key (LTRIM signals even when it removes nothing,
//! as Redis does); nothing is allocated from a client-supplied count.

use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::{command_table, eq_ic, Ctx, ERR_NOT_INT, ERR_NO_KEY, ERR_SYNTAX, ERR_WRONGTYPE};
use crate::num::parse_i64;
use crate::protocol::{Argv, ReplyBuf};
use crate::store::list::{Elem, End, Fill, ListValue, Needle};
use crate::store::{events, Entry, Keys, Value};

const W: u32 = WRITE | DENYOOM;
const WF: u32 = WRITE | DENYOOM | FAST;
const RF: u32 = READONLY | FAST;

command_table! {
    pub static TABLE;
    "lpush", -3, WF, (1, 1, 1), "@write @list @fast", lpush;
    "rpush", -3, WF, (1, 1, 1), "@write @list @fast", rpush;
    "lpushx", -3, WF, (1, 1, 1), "@write @list @fast", lpushx;
    "rpushx", -3, WF, (1, 1, 1), "@write @list @fast", rpushx;
    "lpop", -2, WRITE | FAST, (1, 1, 1), "@write @list @fast", lpop;
    "rpop", -2, WRITE | FAST, (1, 1, 1), "@write @list @fast", rpop;
    "llen", 2, RF, (1, 1, 1), "@read @list @fast", llen;
    "lrange", 4, READONLY, (1, 1, 1), "@read @list @slow", lrange;
    "lindex", 3, READONLY, (1, 1, 1), "@read @list @slow", lindex;
    "lset", 4, W, (1, 1, 1), "@write @list @slow", lset;
    "lrem", 4, WRITE, (1, 1, 1), "@write @list @slow", lrem;
    "ltrim", 4, WRITE, (1, 1, 1), "@write @list @slow", ltrim;
    "linsert", 5, W, (1, 1, 1), "@write @list @slow", linsert;
    "lpos", -3, READONLY, (1, 1, 1), "@read @list @slow", lpos;
    "rpoplpush", 3, W, (1, 2, 1), "@write @list @slow", rpoplpush;
    "lmove", 5, W, (1, 2, 1), "@write @list @slow", lmove;
    "lmpop", -4, WRITE, (-1, 0, 0), "@write @list @slow", lmpop;
}

const ERR_INDEX_RANGE: &str = "ERR index out of range";
const ERR_POP_COUNT: &str = "ERR value is out of range, must be positive";
const ERR_NUMKEYS: &str = "ERR numkeys should be greater than 0";
const ERR_MPOP_COUNT: &str = "ERR count should be greater than 0";
const ERR_RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, \
                             2 from the second ... or use negative to start from the end of the list";
const ERR_LPOS_COUNT: &str = "ERR COUNT can't be negative";
const ERR_LPOS_MAXLEN: &str = "ERR MAXLEN can't be negative";

/// The key holds another type.
struct WrongType;

/// [`as_list`] for reading.
fn list_ref(entry: Option<&Entry>) -> Result<Option<&ListValue>, WrongType> {
    match entry.map(|e| &e.value) {
        None => Ok(None),
        Some(Value::List(list)) => Ok(Some(list)),
        Some(_) => Err(WrongType),
    }
}

/// The list in `entry`: `Ok(None)` when there is no key.
fn as_list(entry: Option<&mut Entry>) -> Result<Option<&mut ListValue>, WrongType> {
    match entry {
        None => Ok(None),
        Some(entry) => match &mut entry.value {
            Value::List(list) => Ok(Some(list)),
            _ => Err(WrongType),
        },
    }
}

/// Node limits from `list-max-listpack-size`.
fn fill(ctx: &Ctx) -> Fill {
    Fill::from_config(ctx.srv.encoding_limits().list_max_listpack_size)
}

fn reply_elem(out: &mut ReplyBuf, elem: Elem<'_>) {
    match elem {
        Elem::Str(bytes) => out.bulk(bytes),
        Elem::Int(n) => out.bulk_int(n),
    }
}

/// After elements were removed from `key`: records keyspace event
/// `event`, deletes the key when empty (and says so), else signals the
/// change (t_list.c `listElementsRemoved`).
fn removed_from(ks: &mut Keys, key: &[u8], event: &'static str) {
    let empty = as_list(ks.lookup_write(key))
        .ok()
        .flatten()
        .is_none_or(|list| list.is_empty());
    ks.notify(events::LIST, event, key);
    if empty {
        ks.delete(key);
        ks.notify(events::GENERIC, "del", key);
    } else {
        ks.modified(key);
    }
}

/// `LEFT` / `RIGHT` (t_list.c `getListPositionFromObjectOrReply`).
fn parse_end(arg: &[u8]) -> Option<End> {
    if eq_ic(arg, "left") {
        Some(End::Head)
    } else if eq_ic(arg, "right") {
        Some(End::Tail)
    } else {
        None
    }
}

/// Converts a possibly negative index to a position in a list of `len`.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let index = if index < 0 {
        len.checked_add(index)?
    } else {
        index
    };
    usize::try_from(index).ok().filter(|&i| (i as i64) < len)
}

/// Redis's start/end clamping for LRANGE and LTRIM: `Some((start, end))`
/// inclusive when the range is not empty.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = i64::try_from(len).ok()?;
    let start = if start < 0 { llen + start } else { start }.max(0);
    let end = if end < 0 { llen + end } else { end };
    if start > end || start >= llen {
        return None;
    }
    let end = end.min(llen - 1);
    Some((start as usize, end as usize))
}

// ---------------------------------------------------------------------------
// Push

/// t_list.c `pushGenericCommand`; `existing_only` for LPUSHX/RPUSHX.
fn push_generic(ctx: &mut Ctx, argv: &Argv, end: End, existing_only: bool) {
    let key = argv.get(1);
    let fill = fill(ctx);
    match as_list(ctx.ks.lookup_write(key)) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(Some(list)) => {
            list.push_all(argv.iter().skip(2), end, fill);
            ctx.out.int(list.len() as i64);
            ctx.ks.modified(key);
        }
        Ok(None) if existing_only => return ctx.out.int(0),
        Ok(None) => {
            let mut list = ListValue::new();
            list.push_all(argv.iter().skip(2), end, fill);
            ctx.out.int(list.len() as i64);
            ctx.ks.set(key, Value::List(Box::new(list)), 0);
        }
    }
    ctx.ks
        .notify(events::LIST, super::blocking::push_event(end), key);
}

pub fn lpush(ctx: &mut Ctx, argv: &Argv) {
    push_generic(ctx, argv, End::Head, false);
}

pub fn rpush(ctx: &mut Ctx, argv: &Argv) {
    push_generic(ctx, argv, End::Tail, false);
}

pub fn lpushx(ctx: &mut Ctx, argv: &Argv) {
    push_generic(ctx, argv, End::Head, true);
}

pub fn rpushx(ctx: &mut Ctx, argv: &Argv) {
    push_generic(ctx, argv, End::Tail, true);
}

// ---------------------------------------------------------------------------
// Pop

/// Replies with up to `count` elements taken from `end` and removes them
/// (t_list.c `addListRangeReply` + `listTypeDelRange`). Returns how many.
fn pop_range_reply(out: &mut ReplyBuf, list: &mut ListValue, end: End, count: u64) -> usize {
    let len = list.len();
    let take = usize::try_from(count).unwrap_or(usize::MAX).min(len);
    out.array(take);
    if take == 0 {
        return 0;
    }
    let start = match end {
        End::Head => 0,
        End::Tail => len - take,
    };
    let range = list.range(start, start + take - 1);
    match end {
        End::Head => range.for_each(|e| reply_elem(out, e)),
        End::Tail => range.rev().for_each(|e| reply_elem(out, e)),
    }
    list.remove_range(start, take);
    take
}

/// t_list.c `popGenericCommand`: LPOP/RPOP key [count].
fn pop_generic(ctx: &mut Ctx, argv: &Argv, end: End, name: &str) {
    if argv.len() > 3 {
        ctx.wrong_arity(name);
        return;
    }
    let count = match argv.try_get(2) {
        None => None,
        Some(arg) => match parse_i64(arg).and_then(|n| u64::try_from(n).ok()) {
            Some(n) => Some(n),
            None => return ctx.out.error(ERR_POP_COUNT),
        },
    };
    let key = argv.get(1);
    match as_list(ctx.ks.lookup_write(key)) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) if count.is_some() => return ctx.out.null_array(),
        Ok(None) => return ctx.out.null(),
        Ok(Some(list)) => match count {
            Some(0) => return ctx.out.array(0),
            Some(n) => {
                pop_range_reply(ctx.out, list, end, n);
            }
            None => match list.pop(end) {
                Some(value) => ctx.out.bulk(&value),
                None => return ctx.out.null(),
            },
        },
    }
    removed_from(&mut ctx.ks, key, super::blocking::pop_event(end));
}

pub fn lpop(ctx: &mut Ctx, argv: &Argv) {
    pop_generic(ctx, argv, End::Head, "lpop");
}

pub fn rpop(ctx: &mut Ctx, argv: &Argv) {
    pop_generic(ctx, argv, End::Tail, "rpop");
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
/// (t_list.c `lmpopGenericCommand` + `mpopGenericCommand`).
pub fn lmpop(ctx: &mut Ctx, argv: &Argv) {
    let numkeys = match parse_i64(argv.get(1)) {
        Some(n) if n >= 1 => n as u64,
        _ => return ctx.out.error(ERR_NUMKEYS),
    };
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(2))
        .filter(|&i| i < argv.len());
    let Some(where_idx) = where_idx else {
        return ctx.out.error(ERR_SYNTAX);
    };
    let Some(end) = parse_end(argv.get(where_idx)) else {
        return ctx.out.error(ERR_SYNTAX);
    };
    let mut count: Option<u64> = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if count.is_none() && eq_ic(argv.get(j), "COUNT") && more {
            j += 1;
            match parse_i64(argv.get(j)) {
                Some(n) if n >= 1 => count = Some(n as u64),
                _ => return ctx.out.error(ERR_MPOP_COUNT),
            }
        } else {
            return ctx.out.error(ERR_SYNTAX);
        }
        j += 1;
    }
    let count = count.unwrap_or(1);
    for k in 2..where_idx {
        let key = argv.get(k);
        match as_list(ctx.ks.lookup_write(key)) {
            Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
            Ok(None) => continue,
            Ok(Some(list)) if list.is_empty() => continue,
            Ok(Some(list)) => {
                ctx.out.array(2);
                ctx.out.bulk(key);
                let popped = pop_range_reply(ctx.out, list, end, count);
                removed_from(&mut ctx.ks, key, super::blocking::pop_event(end));
                // Replicated as LPOP/RPOP key <count popped> (t_list.c).
                let name: &[u8] = if matches!(end, End::Head) {
                    b"LPOP"
                } else {
                    b"RPOP"
                };
                ctx.propagate_as(&[name, key, popped.to_string().as_bytes()]);
                return;
            }
        }
    }
    ctx.out.null_array();
}

// ---------------------------------------------------------------------------
// Reads

pub fn llen(ctx: &mut Ctx, argv: &Argv) {
    match list_ref(ctx.ks.lookup_read(argv.get(1))) {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => ctx.out.int(0),
        Ok(Some(list)) => ctx.out.int(list.len() as i64),
    }
}

/// t_list.c `lrangeCommand`: indexes first, then the key.
pub fn lrange(ctx: &mut Ctx, argv: &Argv) {
    let (Some(start), Some(end)) = (parse_i64(argv.get(2)), parse_i64(argv.get(3))) else {
        return ctx.out.error(ERR_NOT_INT);
    };
    match list_ref(ctx.ks.lookup_read(argv.get(1))) {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => ctx.out.array(0),
        Ok(Some(list)) => match clamp_range(start, end, list.len()) {
            None => ctx.out.array(0),
            Some((start, end)) => {
                ctx.out.array(end - start + 1);
                for elem in list.range(start, end) {
                    reply_elem(ctx.out, elem);
                }
            }
        },
    }
}

/// t_list.c `lindexCommand`: the key first, then the index.
pub fn lindex(ctx: &mut Ctx, argv: &Argv) {
    match list_ref(ctx.ks.lookup_read(argv.get(1))) {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => ctx.out.null(),
        Ok(Some(list)) => {
            let Some(index) = parse_i64(argv.get(2)) else {
                return ctx.out.error(ERR_NOT_INT);
            };
            match resolve_index(index, list.len()).and_then(|i| list.get(i)) {
                Some(elem) => reply_elem(ctx.out, elem),
                None => ctx.out.null(),
            }
        }
    }
}

/// Parsed LPOS options.
struct LposOptions {
    /// Never 0; `i64::MIN` is kept as Redis 7.0 keeps it (see [`lpos`]).
    rank: i64,
    /// `None`: no COUNT option (reply a single index).
    count: Option<i64>,
    /// 0 = no limit.
    maxlen: i64,
}

/// The LPOS options from argument 3 on; `Err` is the error text.
fn parse_lpos_options(argv: &Argv) -> Result<LposOptions, &'static str> {
    let mut opts = LposOptions {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let mut j = 3;
    while j < argv.len() {
        let opt = argv.get(j);
        let value = argv.try_get(j + 1);
        match value {
            Some(value) if eq_ic(opt, "RANK") => {
                opts.rank = parse_i64(value).ok_or(ERR_NOT_INT)?;
                if opts.rank == 0 {
                    return Err(ERR_RANK_ZERO);
                }
            }
            Some(value) if eq_ic(opt, "COUNT") => {
                opts.count = Some(parse_i64(value).filter(|&n| n >= 0).ok_or(ERR_LPOS_COUNT)?);
            }
            Some(value) if eq_ic(opt, "MAXLEN") => {
                opts.maxlen = parse_i64(value)
                    .filter(|&n| n >= 0)
                    .ok_or(ERR_LPOS_MAXLEN)?;
            }
            _ => return Err(ERR_SYNTAX),
        }
        j += 2;
    }
    Ok(opts)
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
/// (t_list.c `lposCommand`).
///
/// Redis 7.0.15 accepts RANK -9223372036854775808: negating it overflows
/// back to itself, so every match qualifies and COUNT never stops the scan
/// (checked on redis-server). Wrapping arithmetic reproduces that.
pub fn lpos(ctx: &mut Ctx, argv: &Argv) {
    let opts = match parse_lpos_options(argv) {
        Ok(opts) => opts,
        Err(text) => return ctx.out.error(text),
    };
    let (rank, from_tail) = if opts.rank < 0 {
        (opts.rank.wrapping_neg(), true)
    } else {
        (opts.rank, false)
    };
    let list = match list_ref(ctx.ks.lookup_read(argv.get(1))) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) if opts.count.is_some() => return ctx.out.array(0),
        Ok(None) => return ctx.out.null(),
        Ok(Some(list)) => list,
    };
    let needle = Needle::new(argv.get(2));
    let len = list.len();
    let elems: Box<dyn Iterator<Item = Elem<'_>>> = if from_tail {
        Box::new(list.iter().rev())
    } else {
        Box::new(list.iter())
    };
    let mut found: Vec<usize> = Vec::new();
    let mut matches: i64 = 0;
    for (index, elem) in elems.enumerate() {
        if opts.maxlen != 0 && index as i64 >= opts.maxlen {
            break;
        }
        if !needle.matches(elem) {
            continue;
        }
        matches += 1;
        if matches < rank {
            continue;
        }
        found.push(if from_tail { len - index - 1 } else { index });
        match opts.count {
            None => break,
            Some(count) => {
                if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
                    break;
                }
            }
        }
    }
    match opts.count {
        Some(_) => {
            ctx.out.array(found.len());
            for index in found {
                ctx.out.int(index as i64);
            }
        }
        None => match found.first() {
            Some(&index) => ctx.out.int(index as i64),
            None => ctx.out.null(),
        },
    }
}

// ---------------------------------------------------------------------------
// Edits

/// t_list.c `lsetCommand`: the key, then the index.
pub fn lset(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let fill = fill(ctx);
    match as_list(ctx.ks.lookup_write(key)) {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => ctx.out.error(ERR_NO_KEY),
        Ok(Some(list)) => {
            let Some(index) = parse_i64(argv.get(2)) else {
                return ctx.out.error(ERR_NOT_INT);
            };
            let set =
                resolve_index(index, list.len()).is_some_and(|i| list.set(i, argv.get(3), fill));
            if set {
                ctx.out.ok();
                ctx.ks.modified(key);
                ctx.ks.notify(events::LIST, "lset", key);
            } else {
                ctx.out.error(ERR_INDEX_RANGE);
            }
        }
    }
}

/// t_list.c `lremCommand`: count first, then the key.
pub fn lrem(ctx: &mut Ctx, argv: &Argv) {
    let Some(count) = parse_i64(argv.get(2)) else {
        return ctx.out.error(ERR_NOT_INT);
    };
    let key = argv.get(1);
    let from = if count < 0 { End::Tail } else { End::Head };
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = match as_list(ctx.ks.lookup_write(key)) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(list)) => list.remove_matching(Needle::new(argv.get(3)), limit, from),
    };
    if removed > 0 {
        removed_from(&mut ctx.ks, key, "lrem");
    }
    ctx.out.int(removed as i64);
}

/// t_list.c `ltrimCommand`: indexes first, then the key. Signals the key
/// even when nothing was trimmed.
pub fn ltrim(ctx: &mut Ctx, argv: &Argv) {
    let (Some(start), Some(end)) = (parse_i64(argv.get(2)), parse_i64(argv.get(3))) else {
        return ctx.out.error(ERR_NOT_INT);
    };
    let key = argv.get(1);
    match as_list(ctx.ks.lookup_write(key)) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.ok(),
        Ok(Some(list)) => {
            let len = list.len();
            match clamp_range(start, end, len) {
                None => list.remove_range(0, len),
                Some((start, end)) => {
                    list.remove_range(end + 1, len - end - 1);
                    list.remove_range(0, start);
                }
            }
        }
    }
    removed_from(&mut ctx.ks, key, "ltrim");
    ctx.out.ok();
}

/// LINSERT key BEFORE|AFTER pivot element (t_list.c `linsertCommand`).
pub fn linsert(ctx: &mut Ctx, argv: &Argv) {
    let after = if eq_ic(argv.get(2), "after") {
        true
    } else if eq_ic(argv.get(2), "before") {
        false
    } else {
        return ctx.out.error(ERR_SYNTAX);
    };
    let key = argv.get(1);
    let fill = fill(ctx);
    match as_list(ctx.ks.lookup_write(key)) {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => ctx.out.int(0),
        Ok(Some(list)) => {
            let pivot = Needle::new(argv.get(3));
            match list.iter().position(|e| pivot.matches(e)) {
                None => ctx.out.int(-1),
                Some(i) => {
                    list.insert(i, after, argv.get(4), fill);
                    ctx.out.int(list.len() as i64);
                    ctx.ks.modified(key);
                    ctx.ks.notify(events::LIST, "linsert", key);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Moves

/// t_list.c `lmoveGenericCommand`. The destination's type is checked
/// before anything is popped; a missing source replies nil whatever the
/// destination holds. With source == destination the list rotates.
fn lmove_generic(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) {
    match as_list(ctx.ks.lookup_write(src)) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.null(),
        Ok(Some(list)) if list.is_empty() => return ctx.out.null(),
        Ok(Some(_)) => {}
    }
    if as_list(ctx.ks.lookup_write(dst)).is_err() {
        return ctx.out.error(ERR_WRONGTYPE);
    }
    let fill = fill(ctx);
    let Some(value) = as_list(ctx.ks.lookup_write(src))
        .ok()
        .flatten()
        .and_then(|list| list.pop(from))
    else {
        return ctx.out.null();
    };
    match as_list(ctx.ks.lookup_write(dst)) {
        Ok(Some(list)) => {
            list.push(&value, to, fill);
            ctx.ks.modified(dst);
        }
        _ => {
            let mut list = ListValue::new();
            list.push(&value, to, fill);
            ctx.ks.set(dst, Value::List(Box::new(list)), 0);
        }
    }
    ctx.ks
        .notify(events::LIST, super::blocking::push_event(to), dst);
    ctx.out.bulk(&value);
    removed_from(&mut ctx.ks, src, super::blocking::pop_event(from));
}

pub fn rpoplpush(ctx: &mut Ctx, argv: &Argv) {
    lmove_generic(ctx, argv.get(1), argv.get(2), End::Tail, End::Head);
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
pub fn lmove(ctx: &mut Ctx, argv: &Argv) {
    let (Some(from), Some(to)) = (parse_end(argv.get(3)), parse_end(argv.get(4))) else {
        return ctx.out.error(ERR_SYNTAX);
    };
    lmove_generic(ctx, argv.get(1), argv.get(2), from, to);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clamp_like_redis() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(clamp_range(0, i64::MIN, 3), None);
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
    }
}
