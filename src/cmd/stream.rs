//! Stream commands (Redis 7.0 t_stream.c). Table rows live here (see
//! `super::command_table`); the value type lives in `crate::store::stream`.
//!
//! Handlers follow their Redis counterparts' order of checks (parsing,
//! lookup, type, group), because that order decides which error a bad
//! request gets. Consumer-group reads are never propagated themselves:
//! each delivery replicates as an idempotent `XCLAIM ... FORCE JUSTID
//! LASTID`, and NOACK reads as `XGROUP SETID` (t_stream.c
//! `streamPropagateXCLAIM`, `streamPropagateGroupID`).

use super::flags::{CONTAINER, DENYOOM, FAST, READONLY, WRITE};
use super::subcommand_syntax_error;
use super::table::KEYS_AFTER_STREAMS;
use super::{
    c_prefix, command_table, eq_ic, Ctx, ERR_NOT_INT, ERR_NO_KEY, ERR_SYNTAX, ERR_WRONGTYPE,
};
use crate::num::parse_i64;
use crate::protocol::{Argv, ReplyBuf};
use crate::server::{Server, ShardMsg};
use crate::store::stream::{
    AppendError, Group, Nack, NodeLimits, Stream, StreamId, Trim, ENTRIES_READ_INVALID,
};
use crate::store::{events, Keys, Value};
use std::sync::Arc;

command_table! {
    pub static TABLE;
    "xadd", -5, WRITE | DENYOOM | FAST, (1, 1, 1), "@write @stream @fast", xadd;
    "xrange", -4, READONLY, (1, 1, 1), "@read @stream @slow", xrange;
    "xrevrange", -4, READONLY, (1, 1, 1), "@read @stream @slow", xrevrange;
    "xlen", 2, READONLY | FAST, (1, 1, 1), "@read @stream @fast", xlen;
    "xdel", -3, WRITE | FAST, (1, 1, 1), "@write @stream @fast", xdel;
    "xtrim", -4, WRITE, (1, 1, 1), "@write @stream @slow", xtrim;
    "xread", -4, READONLY, (KEYS_AFTER_STREAMS, 0, 0), "@read @stream @slow @blocking", xread;
    "xreadgroup", -7, WRITE, (KEYS_AFTER_STREAMS, 0, 0), "@write @stream @slow @blocking", xreadgroup;
    "xgroup", -2, CONTAINER | WRITE, (2, 2, 1), "@write @stream @slow", xgroup;
    "xsetid", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "@write @stream @fast", xsetid;
    "xack", -4, WRITE | FAST, (1, 1, 1), "@write @stream @fast", xack;
    "xpending", -3, READONLY, (1, 1, 1), "@read @stream @slow", xpending;
    "xclaim", -6, WRITE | FAST, (1, 1, 1), "@write @stream @fast", xclaim;
    "xautoclaim", -6, WRITE | FAST, (1, 1, 1), "@write @stream @fast", xautoclaim;
    "xinfo", -2, CONTAINER | READONLY, (2, 2, 1), "@read @stream @slow", xinfo;
}

const ERR_INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
/// XREAD BLOCK without COUNT serves at most this many entries per key
/// (`XREAD_BLOCKED_DEFAULT_COUNT`).
const BLOCKED_DEFAULT_COUNT: usize = 1000;

struct WrongType;

/// The stream at `key` for reading (`lookupKeyRead` + `checkType`).
fn read<'k>(ks: &'k mut Keys<'_>, key: &[u8]) -> Result<Option<&'k Stream>, WrongType> {
    match ks.lookup_read(key) {
        None => Ok(None),
        Some(entry) => match &entry.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(WrongType),
        },
    }
}

/// The stream at `key` for writing (`lookupKeyWrite` + `checkType`).
fn write<'k>(ks: &'k mut Keys<'_>, key: &[u8]) -> Result<Option<&'k mut Stream>, WrongType> {
    match ks.lookup_write(key) {
        None => Ok(None),
        Some(entry) => match &mut entry.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(WrongType),
        },
    }
}

fn node_limits(srv: &Server) -> NodeLimits {
    let l = srv.encoding_limits();
    NodeLimits {
        max_bytes: l.stream_node_max_bytes,
        max_entries: l.stream_node_max_entries,
    }
}

/// util.c `string2ull`: `string2ll` when it parses (negatives refused),
/// else C `strtoull` over the whole text (spaces, a sign and leading zeros
/// allowed, a minus wrapping around).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut negative = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        negative = s[i] == b'-';
        i += 1;
    }
    if i >= s.len() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in &s[i..] {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// t_stream.c `streamGenericParseIDOrReply`. `strict` refuses `-` and `+`;
/// `allow_auto_seq` accepts `<ms>-*` and reports whether the sequence was
/// given.
fn parse_id_full(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_auto_seq: bool,
) -> Result<(StreamId, bool), &'static str> {
    if arg.len() > 127 {
        return Err(ERR_INVALID_ID);
    }
    let text = c_prefix(arg, 127);
    if text == b"-" || text == b"+" {
        if strict {
            return Err(ERR_INVALID_ID);
        }
        return Ok((
            if text == b"-" {
                StreamId::MIN
            } else {
                StreamId::MAX
            },
            true,
        ));
    }
    let (ms_part, seq_part) = match text.iter().position(|&b| b == b'-') {
        Some(dash) => (&text[..dash], Some(&text[dash + 1..])),
        None => (text, None),
    };
    let ms = string2ull(ms_part).ok_or(ERR_INVALID_ID)?;
    match seq_part {
        Some(b"*") if allow_auto_seq => Ok((StreamId::new(ms, 0), false)),
        Some(seq) => Ok((
            StreamId::new(ms, string2ull(seq).ok_or(ERR_INVALID_ID)?),
            true,
        )),
        None => Ok((StreamId::new(ms, missing_seq), true)),
    }
}

fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, &'static str> {
    parse_id_full(arg, missing_seq, false, false).map(|(id, _)| id)
}

fn parse_strict_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, &'static str> {
    parse_id_full(arg, missing_seq, true, false).map(|(id, _)| id)
}

/// Arguments `from..` as strict IDs, all or nothing (XDEL, XACK parse
/// every ID before touching anything).
fn parse_ids(argv: &Argv, from: usize) -> Result<Vec<StreamId>, &'static str> {
    (from..argv.len())
        .map(|j| parse_strict_id(argv.get(j), 0))
        .collect()
}

/// A range bound (`streamParseIntervalIDOrReply`): `(` makes it exclusive,
/// which is then applied (`start` + 1 or `end` - 1).
fn parse_bound(arg: &[u8], start: bool) -> Result<StreamId, &'static str> {
    let missing = if start { 0 } else { u64::MAX };
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_strict_id(&arg[1..], missing)?;
        if start {
            id.incr().ok_or("ERR invalid start ID for the interval")
        } else {
            id.decr().ok_or("ERR invalid end ID for the interval")
        }
    } else {
        parse_id(arg, missing)
    }
}

fn id_bulk(out: &mut ReplyBuf, id: StreamId) {
    out.bulk(&id.to_bytes());
}

/// `[id, [field, value, ...]]`.
fn reply_entry(out: &mut ReplyBuf, id: StreamId, fields: &crate::store::stream::Fields) {
    out.array(2);
    id_bulk(out, id);
    out.array(fields.len() * 2);
    for (f, v) in fields {
        f.with_bytes(|b| out.bulk(b));
        v.with_bytes(|b| out.bulk(b));
    }
}

/// Writes the live entries of `[start, end]` (at most `count`, 0 = all)
/// as an array; returns how many.
fn reply_range(
    out: &mut ReplyBuf,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
) -> usize {
    let mut body = ReplyBuf::new(out.resp3);
    let n = raw_range(&mut body, s, start, end, count, rev);
    out.array(n);
    out.raw(&body.buf);
    n
}

/// The entries without the array header (`STREAM_RWR_RAWENTRIES`).
fn raw_range(
    out: &mut ReplyBuf,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
) -> usize {
    let mut n = 0;
    s.range(start, end, rev, |id, fields| {
        reply_entry(out, id, fields);
        n += 1;
        count == 0 || n < count
    });
    n
}

fn argv_of(parts: &[&[u8]]) -> Argv {
    Argv::from_slices(parts)
}

/// `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID
/// LASTID last` (`streamPropagateXCLAIM`).
fn xclaim_form(key: &[u8], group: &[u8], id_arg: &[u8], nack: &Nack, last: StreamId) -> Argv {
    argv_of(&[
        b"XCLAIM",
        key,
        group,
        &nack.consumer,
        b"0",
        id_arg,
        b"TIME",
        itoa::Buffer::new().format(nack.delivery_time).as_bytes(),
        b"RETRYCOUNT",
        itoa::Buffer::new().format(nack.delivery_count).as_bytes(),
        b"FORCE",
        b"JUSTID",
        b"LASTID",
        &last.to_bytes(),
    ])
}

/// `XGROUP SETID key group id ENTRIESREAD n` (`streamPropagateGroupID`).
fn setid_form(key: &[u8], group_name: &[u8], g: &Group) -> Argv {
    argv_of(&[
        b"XGROUP",
        b"SETID",
        key,
        group_name,
        &g.last_id.to_bytes(),
        b"ENTRIESREAD",
        itoa::Buffer::new().format(g.entries_read).as_bytes(),
    ])
}

// ---------------------------------------------------------------------------
// XADD / XTRIM

/// Parsed XADD/XTRIM options (`streamAddTrimArgs`).
#[derive(Default)]
struct AddTrimArgs {
    id: Option<(StreamId, bool)>,
    no_mkstream: bool,
    trim: Option<Trim>,
    /// Argument index of the MAXLEN/MINID value, for the rewrite.
    trim_arg: usize,
    approx: bool,
    limit: i64,
}

/// t_stream.c `streamParseAddOrTrimArgsOrReply`: the options and, for XADD,
/// the ID position.
fn parse_add_trim(
    argv: &Argv,
    xadd: bool,
    node_max_entries: i64,
) -> Result<(AddTrimArgs, usize), String> {
    let mut a = AddTrimArgs::default();
    let argc = argv.len();
    let mut limit_given = false;
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        let opt = argv.get(i);
        if xadd && opt == b"*" {
            break;
        } else if (eq_ic(opt, "maxlen") || eq_ic(opt, "minid")) && more > 0 {
            if a.trim.is_some() {
                return Err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible".into());
            }
            a.approx = false;
            let next = argv.get(i + 1);
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let value = argv.get(i + 1);
            if eq_ic(opt, "maxlen") {
                let n = parse_i64(value).ok_or(ERR_NOT_INT)?;
                if n < 0 {
                    return Err("ERR The MAXLEN argument must be >= 0.".into());
                }
                a.trim = Some(Trim::MaxLen(n as u64));
            } else {
                a.trim = Some(Trim::MinId(parse_strict_id(value, 0)?));
            }
            i += 1;
            a.trim_arg = i;
        } else if eq_ic(opt, "limit") && more > 0 {
            let n = parse_i64(argv.get(i + 1)).ok_or(ERR_NOT_INT)?;
            if n < 0 {
                return Err("ERR The LIMIT argument must be >= 0.".into());
            }
            a.limit = n;
            limit_given = true;
            i += 1;
        } else if xadd && eq_ic(opt, "nomkstream") {
            a.no_mkstream = true;
        } else if xadd {
            a.id = Some(parse_id_full(opt, 0, true, true)?);
            break;
        } else {
            return Err(ERR_SYNTAX.into());
        }
        i += 1;
    }
    if a.limit != 0 && a.trim.is_none() {
        return Err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy".into(),
        );
    }
    if !xadd && a.trim.is_none() {
        return Err("ERR syntax error, XTRIM must be called with a trimming strategy".into());
    }
    if limit_given {
        if !a.approx {
            return Err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option".into(),
            );
        }
    } else if a.approx {
        a.limit = node_max_entries.saturating_mul(100);
        if a.limit <= 0 {
            a.limit = 10000;
        }
        a.limit = a.limit.min(1_000_000);
    } else {
        a.limit = 0;
    }
    Ok((a, i))
}

/// The argv an approximate trim replicates as (`=` and the actual length
/// or first ID).
fn rewrite_trim(parts: &mut [Vec<u8>], a: &AddTrimArgs, s: &Stream) {
    if let Some(how) = a.trim {
        parts[a.trim_arg - 1] = b"=".to_vec();
        parts[a.trim_arg] = s.trim_rewrite_arg(how);
    }
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT n]] *|id field value ...
pub fn xadd(ctx: &mut Ctx, argv: &Argv) {
    let limits = node_limits(ctx.srv);
    let (args, idpos) = match parse_add_trim(argv, true, limits.max_entries) {
        Ok(parsed) => parsed,
        Err(e) => return ctx.out.error(&e),
    };
    let field_pos = idpos + 1;
    if argv.len() < field_pos + 2 || (argv.len() - field_pos) % 2 == 1 {
        return ctx.wrong_arity("xadd");
    }
    if let Some((id, true)) = args.id {
        if id.is_zero() {
            return ctx
                .out
                .error("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let key = argv.get(1);
    let now = ctx.ks.now_ms;
    let propagating = ctx.ks.prop.enabled;
    match write(&mut ctx.ks, key) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(Some(_)) => {}
        Ok(None) if args.no_mkstream => return ctx.out.null(),
        Ok(None) => {
            // dbAdd: no change counted until the entry is in.
            ctx.ks.add(key, Value::Stream(Box::default()), 0);
        }
    }
    let pairs: Vec<&[u8]> = (field_pos..argv.len()).map(|i| argv.get(i)).collect();
    let Ok(Some(s)) = write(&mut ctx.ks, key) else {
        return ctx.out.error(ERR_WRONGTYPE);
    };
    if s.last_id == StreamId::MAX {
        return ctx
            .out
            .error("ERR The stream has exhausted the last possible ID, unable to add more items");
    }
    let id =
        match s.append(&pairs, args.id, now, limits) {
            Ok(id) => id,
            Err(AppendError::IdTooSmall) => return ctx.out.error(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            ),
            Err(AppendError::TooLarge) => {
                return ctx.out.error("ERR Elements are too large to be stored")
            }
        };
    let id_text = id.to_bytes();
    ctx.out.bulk(&id_text);
    let trimmed = args
        .trim
        .is_some_and(|how| s.trim(how, args.approx, args.limit) > 0);
    let rewrite = args.approx || args.id.is_none_or(|(_, seq)| !seq);
    if rewrite && propagating {
        let mut parts: Vec<Vec<u8>> = argv.iter().map(<[u8]>::to_vec).collect();
        if args.approx {
            rewrite_trim(&mut parts, &args, s);
        }
        if args.id.is_none_or(|(_, seq)| !seq) {
            parts[idpos] = id_text;
        }
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        ctx.propagate_as(&slices);
    }
    ctx.ks.modified(key);
    ctx.ks.notify(events::STREAM, "xadd", key);
    if trimmed {
        ctx.ks.notify(events::STREAM, "xtrim", key);
    }
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(ctx: &mut Ctx, argv: &Argv) {
    let limits = node_limits(ctx.srv);
    let args = match parse_add_trim(argv, false, limits.max_entries) {
        Ok((a, _)) => a,
        Err(e) => return ctx.out.error(&e),
    };
    let key = argv.get(1);
    let propagating = ctx.ks.prop.enabled;
    let s = match write(&mut ctx.ks, key) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(s)) => s,
    };
    let how = args.trim.expect("XTRIM has a strategy");
    let deleted = s.trim(how, args.approx, args.limit);
    if deleted > 0 {
        if args.approx && propagating {
            let mut parts: Vec<Vec<u8>> = argv.iter().map(<[u8]>::to_vec).collect();
            rewrite_trim(&mut parts, &args, s);
            let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            ctx.propagate_as(&slices);
        }
        ctx.ks.modified(key);
        ctx.ks.dirty += deleted as u64 - 1;
        ctx.ks.notify(events::STREAM, "xtrim", key);
    }
    ctx.out.int(deleted);
}

// ---------------------------------------------------------------------------
// XRANGE / XREVRANGE / XLEN / XDEL / XSETID

fn xrange_generic(ctx: &mut Ctx, argv: &Argv, rev: bool) {
    let (start_arg, end_arg) = if rev {
        (argv.get(3), argv.get(2))
    } else {
        (argv.get(2), argv.get(3))
    };
    let start = match parse_bound(start_arg, true) {
        Ok(id) => id,
        Err(e) => return ctx.out.error(e),
    };
    let end = match parse_bound(end_arg, false) {
        Ok(id) => id,
        Err(e) => return ctx.out.error(e),
    };
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if eq_ic(argv.get(j), "count") && j + 1 < argv.len() {
            count = match parse_i64(argv.get(j + 1)) {
                Some(c) => c.max(0),
                None => return ctx.out.error(ERR_NOT_INT),
            };
            j += 2;
        } else {
            return ctx.out.error(ERR_SYNTAX);
        }
    }
    let s = match read(&mut ctx.ks, argv.get(1)) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.array(0),
        Ok(Some(s)) => s,
    };
    if count == 0 {
        return ctx.out.null_array();
    }
    let count = if count < 0 { 0 } else { count as usize };
    reply_range(ctx.out, s, start, end, count, rev);
}

/// XRANGE key start end [COUNT n]
pub fn xrange(ctx: &mut Ctx, argv: &Argv) {
    xrange_generic(ctx, argv, false);
}

/// XREVRANGE key end start [COUNT n]
pub fn xrevrange(ctx: &mut Ctx, argv: &Argv) {
    xrange_generic(ctx, argv, true);
}

/// XLEN key
pub fn xlen(ctx: &mut Ctx, argv: &Argv) {
    match read(&mut ctx.ks, argv.get(1)) {
        Err(WrongType) => ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => ctx.out.int(0),
        Ok(Some(s)) => ctx.out.int(s.length as i64),
    }
}

/// XDEL key id [id ...]
pub fn xdel(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    match write(&mut ctx.ks, key) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(_)) => {}
    }
    let ids = match parse_ids(argv, 2) {
        Ok(ids) => ids,
        Err(e) => return ctx.out.error(e),
    };
    let Ok(Some(s)) = write(&mut ctx.ks, key) else {
        return;
    };
    let deleted = s.delete_ids(&ids);
    if deleted > 0 {
        ctx.ks.modified(key);
        ctx.ks.dirty += deleted - 1;
        ctx.ks.notify(events::STREAM, "xdel", key);
    }
    ctx.out.int(deleted as i64);
}

/// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]
pub fn xsetid(ctx: &mut Ctx, argv: &Argv) {
    let id = match parse_strict_id(argv.get(2), 0) {
        Ok(id) => id,
        Err(e) => return ctx.out.error(e),
    };
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = argv.get(i);
        if eq_ic(opt, "entriesadded") && more > 0 {
            match parse_i64(argv.get(i + 1)) {
                None => return ctx.out.error(ERR_NOT_INT),
                Some(n) if n < 0 => return ctx.out.error("ERR entries_added must be positive"),
                Some(n) => entries_added = n,
            }
            i += 2;
        } else if eq_ic(opt, "maxdeletedid") && more > 0 {
            match parse_strict_id(argv.get(i + 1), 0) {
                Err(e) => return ctx.out.error(e),
                Ok(m) if id < m => {
                    return ctx.out.error(
                        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                    )
                }
                Ok(m) => max_xdel = m,
            }
            i += 2;
        } else {
            return ctx.out.error(ERR_SYNTAX);
        }
    }
    let key = argv.get(1);
    let s = match write(&mut ctx.ks, key) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.error(ERR_NO_KEY),
        Ok(Some(s)) => s,
    };
    if s.length > 0 {
        if id < s.last_valid_id() {
            return ctx.out.error(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added != -1 && s.length > entries_added as u64 {
            return ctx.out.error(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_entry_id = max_xdel;
    }
    ctx.ks.dirty += 1;
    ctx.ks.notify(events::STREAM, "xsetid", key);
    ctx.out.ok();
}

// ---------------------------------------------------------------------------
// XREAD / XREADGROUP

/// A parsed XREAD or XREADGROUP.
struct ReadSpec<'a> {
    block_ms: Option<i64>,
    count: usize,
    group: Option<(&'a [u8], &'a [u8])>,
    noack: bool,
    /// Index of the first key; `n` keys then `n` IDs follow.
    streams_at: usize,
    n: usize,
}

/// The option part of `xreadCommand`.
fn parse_read(argv: &Argv, xreadgroup: bool) -> Result<ReadSpec<'_>, &'static str> {
    let mut spec = ReadSpec {
        block_ms: None,
        count: 0,
        group: None,
        noack: false,
        streams_at: 0,
        n: 0,
    };
    let argc = argv.len();
    let mut i = 1;
    while i < argc {
        let more = argc - i - 1;
        let opt = argv.get(i);
        if eq_ic(opt, "block") && more > 0 {
            i += 1;
            let ms =
                parse_i64(argv.get(i)).ok_or("ERR timeout is not an integer or out of range")?;
            if ms < 0 {
                return Err("ERR timeout is negative");
            }
            spec.block_ms = Some(ms);
        } else if eq_ic(opt, "count") && more > 0 {
            i += 1;
            let c = parse_i64(argv.get(i)).ok_or(ERR_NOT_INT)?;
            spec.count = usize::try_from(c.max(0)).unwrap_or(usize::MAX);
        } else if eq_ic(opt, "streams") && more > 0 {
            spec.streams_at = i + 1;
            let rest = argc - spec.streams_at;
            if rest % 2 != 0 {
                return Err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.");
            }
            spec.n = rest / 2;
            break;
        } else if eq_ic(opt, "group") && more >= 2 {
            if !xreadgroup {
                return Err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
            }
            spec.group = Some((argv.get(i + 1), argv.get(i + 2)));
            i += 2;
        } else if eq_ic(opt, "noack") {
            if !xreadgroup {
                return Err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
            }
            spec.noack = true;
        } else {
            return Err(ERR_SYNTAX);
        }
        i += 1;
    }
    if spec.streams_at == 0 {
        return Err(ERR_SYNTAX);
    }
    if xreadgroup && spec.group.is_none() {
        return Err("ERR Missing GROUP option for XREADGROUP");
    }
    Ok(spec)
}

/// Delivers entries after `start` to `consumer` of `group_name`
/// (`streamReplyWithRange` with a group): the reply array, PEL updates and
/// the XCLAIM / XGROUP SETID forms pushed to `ops`.
#[allow(clippy::too_many_arguments)]
fn deliver_new(
    out: &mut ReplyBuf,
    s: &mut Stream,
    key: &[u8],
    group_name: &[u8],
    consumer: &[u8],
    start: StreamId,
    count: usize,
    noack: bool,
    now: i64,
    ops: &mut Vec<Argv>,
) {
    let mut body = ReplyBuf::new(out.resp3);
    let mut ids = Vec::new();
    s.range(start, StreamId::MAX, false, |id, fields| {
        reply_entry(&mut body, id, fields);
        ids.push(id);
        count == 0 || ids.len() < count
    });
    out.array(ids.len());
    out.raw(&body.buf);
    let mut propagate_last_id = false;
    for id in ids {
        if s.advance_group(group_name, id) && noack {
            propagate_last_id = true;
        }
        if noack {
            continue;
        }
        let g = s.group_mut(group_name).expect("group");
        match g.pel.get_mut(&id) {
            Some(nack) => {
                nack.delivery_time = now;
                nack.delivery_count = 1;
            }
            None => {
                g.pel.insert(
                    id,
                    Nack {
                        delivery_time: now,
                        delivery_count: 1,
                        consumer: consumer.to_vec(),
                    },
                );
            }
        }
        g.assign(id, consumer);
        let nack = &g.pel[&id];
        ops.push(xclaim_form(
            key,
            group_name,
            &id.to_bytes(),
            nack,
            g.last_id,
        ));
    }
    if propagate_last_id {
        let g = s.group(group_name).expect("group");
        ops.push(setid_form(key, group_name, g));
    }
}

/// Re-delivers a consumer's own pending entries from `start`
/// (`streamReplyWithRangeFromConsumerPEL`).
fn deliver_history(
    out: &mut ReplyBuf,
    s: &mut Stream,
    group_name: &[u8],
    consumer: &[u8],
    start: StreamId,
    count: usize,
    now: i64,
) {
    let ids: Vec<StreamId> = {
        let g = s.group(group_name).expect("group");
        let c = &g.consumers[consumer];
        let it = c.pel.range(start..).copied();
        if count == 0 {
            it.collect()
        } else {
            it.take(count).collect()
        }
    };
    out.array(ids.len());
    for id in ids {
        if raw_range(out, s, id, id, 1, false) == 0 {
            out.array(2);
            id_bulk(out, id);
            out.null_array();
        } else if let Some(nack) = s.group_mut(group_name).and_then(|g| g.pel.get_mut(&id)) {
            nack.delivery_time = now;
            nack.delivery_count += 1;
        }
    }
}

/// The consumer `name` of a group, created if missing: whether it was.
fn touch_consumer(g: &mut Group, name: &[u8], now: i64) -> bool {
    match g.consumers.get_mut(name) {
        Some(c) => {
            c.seen_time = now;
            false
        }
        None => g.create_consumer(name, now),
    }
}

fn nogroup_read(key: &[u8], group: &[u8]) -> Vec<u8> {
    let mut t = b"NOGROUP No such key '".to_vec();
    t.extend_from_slice(c_prefix(key, usize::MAX));
    t.extend_from_slice(b"' or consumer group '");
    t.extend_from_slice(c_prefix(group, usize::MAX));
    t.extend_from_slice(b"' in XREADGROUP with GROUP option");
    t
}

/// XREAD [COUNT n] [BLOCK ms] STREAMS key ... id ...
pub fn xread(ctx: &mut Ctx, argv: &Argv) {
    xread_generic(ctx, argv, false);
}

/// XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key ... id ...
pub fn xreadgroup(ctx: &mut Ctx, argv: &Argv) {
    // Never propagated itself: deliveries replicate as XCLAIM.
    ctx.ks.prop.prevent = true;
    xread_generic(ctx, argv, true);
}

fn xread_generic(ctx: &mut Ctx, argv: &Argv, xreadgroup: bool) {
    let spec = match parse_read(argv, xreadgroup) {
        Ok(s) => s,
        Err(e) => return ctx.out.error(e),
    };
    let (at, n) = (spec.streams_at, spec.n);
    // Resolve IDs: `$` is the current last ID, `>` the group's position.
    let mut ids: Vec<StreamId> = Vec::with_capacity(n);
    for i in 0..n {
        let key = argv.get(at + i);
        let arg = argv.get(at + n + i);
        let s = match read(&mut ctx.ks, key) {
            Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
            Ok(s) => s,
        };
        if let Some((group, _)) = spec.group {
            if s.as_ref().and_then(|s| s.group(group)).is_none() {
                return ctx.out.error_bytes(&nogroup_read(key, group));
            }
        }
        if arg == b"$" {
            if xreadgroup {
                return ctx.out.error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
            }
            ids.push(s.map_or(StreamId::MIN, |s| s.last_id));
            continue;
        }
        if arg == b">" {
            if !xreadgroup {
                return ctx.out.error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
            }
            ids.push(StreamId::MAX);
            continue;
        }
        match parse_strict_id(arg, 0) {
            Ok(id) => ids.push(id),
            Err(e) => return ctx.out.error(e),
        }
    }

    let now = ctx.ks.now_ms as i64;
    let resp3 = ctx.out.resp3;
    let mut body = ReplyBuf::new(resp3);
    let mut served = 0;
    let mut ops = Vec::new();
    for (i, &id) in ids.iter().enumerate() {
        let key = argv.get(at + i);
        let Ok(Some(s)) = read(&mut ctx.ks, key) else {
            continue;
        };
        let mut gt = id;
        let mut history = false;
        let serve = match spec.group {
            Some((group, _)) => {
                if gt != StreamId::MAX {
                    history = true;
                    true
                } else if s.length > 0 {
                    let last = s.group(group).map_or(StreamId::MAX, |g| g.last_id);
                    if s.last_valid_id() > last {
                        gt = last;
                        true
                    } else {
                        false
                    }
                } else {
                    false
                }
            }
            None => s.length > 0 && s.last_valid_id() > gt,
        };
        if !serve {
            continue;
        }
        served += 1;
        let start = gt.incr().unwrap_or(StreamId::MIN);
        if !resp3 {
            body.array(2);
        }
        body.bulk(key);
        match spec.group {
            None => {
                reply_range(&mut body, s, start, StreamId::MAX, spec.count, false);
            }
            Some((group, consumer)) => {
                let Ok(Some(s)) = write(&mut ctx.ks, key) else {
                    continue;
                };
                let g = s.group_mut(group).expect("group checked");
                let created = touch_consumer(g, consumer, now);
                if created {
                    ctx.ks.dirty += 1;
                    ctx.ks.notify(events::STREAM, "xgroup-createconsumer", key);
                    if spec.noack {
                        ops.push(argv_of(&[
                            b"XGROUP",
                            b"CREATECONSUMER",
                            key,
                            group,
                            consumer,
                        ]));
                    }
                }
                let Ok(Some(s)) = write(&mut ctx.ks, key) else {
                    continue;
                };
                if history {
                    deliver_history(&mut body, s, group, consumer, start, spec.count, now);
                } else {
                    deliver_new(
                        &mut body, s, key, group, consumer, start, spec.count, spec.noack, now,
                        &mut ops,
                    );
                }
                ctx.ks.dirty += 1;
            }
        }
    }
    let db = ctx.ks.db;
    ctx.ks.prop.ops.extend(ops.into_iter().map(|op| (db, op)));
    if served > 0 {
        if resp3 {
            ctx.out.map(served);
        } else {
            ctx.out.array(served);
        }
        ctx.out.raw(&body.buf);
        return;
    }
    let Some(block_ms) = spec.block_ms else {
        return ctx.out.null_array();
    };
    if ctx.client.in_exec {
        return ctx.out.null_array();
    }
    // Block with `$` resolved, so a wake-up compares against the ID the
    // stream had now.
    let mut parts: Vec<&[u8]> = argv.iter().collect();
    let texts: Vec<Vec<u8>> = ids.iter().map(|id| id.to_bytes()).collect();
    for i in 0..n {
        if argv.get(at + n + i) == b"$" {
            parts[at + n + i] = &texts[i];
        }
    }
    let keys: Vec<&[u8]> = (0..n).map(|i| argv.get(at + i)).collect();
    let deadline = if block_ms == 0 {
        0
    } else {
        ctx.ks.now_ms.saturating_add(block_ms as u64)
    };
    super::blocking::block_on(
        ctx,
        &keys,
        Argv::from_slices(&parts),
        deadline,
        super::OnTimeout::NullArray,
    );
}

/// Whether a blocked client waits in XREAD or XREADGROUP.
pub fn is_stream_waiter(argv: &Argv) -> bool {
    eq_ic(argv.get(0), "xread") || eq_ic(argv.get(0), "xreadgroup")
}

/// Serves clients blocked in XREAD/XREADGROUP on `key`, which just changed
/// (blocked.c `serveClientsBlockedOnStreamKey`), oldest first. A waiter is
/// served when the stream holds entries after its ID (for a group: after
/// the group's position, which earlier waiters may have moved); a waiter
/// whose group was destroyed gets Redis's NOGROUP error.
pub fn serve_waiters(srv: &Server, ks: &mut Keys, db: usize, key: &[u8]) {
    let waiters: Vec<Arc<crate::store::Waiter>> = ks
        .locked
        .read_for(key)
        .blocked
        .iter()
        .filter(|b| b.db == db && *b.key == *key && is_stream_waiter(&b.waiter.argv))
        .map(|b| Arc::clone(&b.waiter))
        .collect();
    if waiters.is_empty() {
        return;
    }
    let now = ks.now_ms as i64;
    for waiter in waiters {
        if waiter.claimed.load(std::sync::atomic::Ordering::Acquire) {
            continue;
        }
        let argv = &waiter.argv;
        let xreadgroup = eq_ic(argv.get(0), "xreadgroup");
        let Ok(spec) = parse_read(argv, xreadgroup) else {
            continue;
        };
        let Some(i) = (0..spec.n).find(|&i| argv.get(spec.streams_at + i) == key) else {
            continue;
        };
        let Some(Value::Stream(s)) = ks.lookup_write(key).map(|e| &mut e.value) else {
            continue;
        };
        let mut out = ReplyBuf::new(waiter.resp3);
        let mut ops = Vec::new();
        let mut created = false;
        let count = if spec.count == 0 {
            BLOCKED_DEFAULT_COUNT
        } else {
            spec.count
        };
        match spec.group {
            Some((group, consumer)) => {
                let Some(g) = s.group_mut(group) else {
                    if !waiter.claim() {
                        continue;
                    }
                    out.error(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    );
                    send_unblock(srv, &waiter, out.buf);
                    continue;
                };
                let gt = g.last_id;
                let start = gt.incr().unwrap_or(StreamId::MIN);
                if s.last_id <= gt || !s.exists_from(start) || !waiter.claim() {
                    continue;
                }
                let g = s.group_mut(group).expect("group");
                created = touch_consumer(g, consumer, now);
                if created && spec.noack {
                    ops.push(argv_of(&[
                        b"XGROUP",
                        b"CREATECONSUMER",
                        key,
                        group,
                        consumer,
                    ]));
                }
                reply_one_key_header(&mut out, key);
                deliver_new(
                    &mut out, s, key, group, consumer, start, count, spec.noack, now, &mut ops,
                );
            }
            None => {
                let Ok(gt) = parse_strict_id(argv.get(spec.streams_at + spec.n + i), 0) else {
                    continue;
                };
                let start = gt.incr().unwrap_or(StreamId::MIN);
                if s.last_id <= gt || !s.exists_from(start) || !waiter.claim() {
                    continue;
                }
                reply_one_key_header(&mut out, key);
                reply_range(&mut out, s, start, StreamId::MAX, count, false);
            }
        }
        ks.prop.ops.extend(ops.into_iter().map(|op| (db, op)));
        if created {
            ks.events
                .add(events::STREAM, "xgroup-createconsumer", db, key);
        }
        send_unblock(srv, &waiter, out.buf);
    }
}

/// A served blocked read answers for the one key that woke it.
fn reply_one_key_header(out: &mut ReplyBuf, key: &[u8]) {
    if out.resp3 {
        out.map(1);
    } else {
        out.array(1);
        out.array(2);
    }
    out.bulk(key);
}

fn send_unblock(srv: &Server, waiter: &crate::store::Waiter, reply: Vec<u8>) {
    if let Some(h) = srv.shard_handles().get(waiter.shard) {
        h.send(ShardMsg::Unblock {
            client_id: waiter.client_id,
            reply,
        });
    }
}

// ---------------------------------------------------------------------------
// Consumer groups

fn nogroup_for_key(group: &[u8], key: &[u8]) -> Vec<u8> {
    let mut t = b"NOGROUP No such consumer group '".to_vec();
    t.extend_from_slice(c_prefix(group, usize::MAX));
    t.extend_from_slice(b"' for key name '");
    t.extend_from_slice(c_prefix(key, usize::MAX));
    t.push(b'\'');
    t
}

fn nogroup_key_or_group(key: &[u8], group: &[u8]) -> Vec<u8> {
    let mut t = b"NOGROUP No such key '".to_vec();
    t.extend_from_slice(c_prefix(key, usize::MAX));
    t.extend_from_slice(b"' or consumer group '");
    t.extend_from_slice(c_prefix(group, usize::MAX));
    t.push(b'\'');
    t
}

/// `addReplyHelp`: the header, the lines, then HELP.
fn reply_help(ctx: &mut Ctx, argv: &Argv, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    let mut head = argv.get(0).to_ascii_uppercase();
    head.extend_from_slice(b" <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    ctx.out.simple(&head);
    for line in lines {
        ctx.out.simple(line.as_bytes());
    }
    ctx.out.simple(b"HELP");
    ctx.out.simple(b"    Prints this help.");
}

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP
pub fn xgroup(ctx: &mut Ctx, argv: &Argv) {
    let sub = argv.get(1);
    let argc = argv.len();
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_INVALID;
    let mut exists = false;
    if argc >= 4 {
        let create = eq_ic(sub, "create");
        let setid = eq_ic(sub, "setid");
        let mut i = 5;
        while i < argc {
            let opt = argv.get(i);
            if create && eq_ic(opt, "mkstream") {
                mkstream = true;
                i += 1;
            } else if (create || setid) && eq_ic(opt, "entriesread") && i + 1 < argc {
                match parse_i64(argv.get(i + 1)) {
                    None => return ctx.out.error(ERR_NOT_INT),
                    Some(n) if n < 0 && n != ENTRIES_READ_INVALID => {
                        return ctx
                            .out
                            .error("ERR value for ENTRIESREAD must be positive or -1")
                    }
                    Some(n) => entries_read = n,
                }
                i += 2;
            } else {
                return subcommand_syntax_error(ctx.out, argv);
            }
        }
        match write(&mut ctx.ks, argv.get(2)) {
            Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
            Ok(s) => exists = s.is_some(),
        }
    }
    let key: &[u8] = if argc >= 3 { argv.get(2) } else { b"" };
    let group: &[u8] = if argc >= 4 { argv.get(3) } else { b"" };
    if argc >= 4 && !mkstream {
        if !exists {
            return ctx.out.error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
        }
        let has_group = matches!(write(&mut ctx.ks, key), Ok(Some(s)) if s.group(group).is_some());
        if !has_group
            && (eq_ic(sub, "setid") || eq_ic(sub, "createconsumer") || eq_ic(sub, "delconsumer"))
        {
            return ctx.out.error_bytes(&nogroup_for_key(group, key));
        }
    }
    let now = ctx.ks.now_ms as i64;
    if argc == 2 && eq_ic(sub, "help") {
        return reply_help(
            ctx,
            argv,
            &[
                "CREATE <key> <groupname> <id|$> [option]",
                "    Create a new consumer group. Options are:",
                "    * MKSTREAM",
                "      Create the empty stream if it does not exist.",
                "    * ENTRIESREAD entries_read",
                "      Set the group's entries_read counter (internal use).",
                "CREATECONSUMER <key> <groupname> <consumer>",
                "    Create a new consumer in the specified group.",
                "DELCONSUMER <key> <groupname> <consumer>",
                "    Remove the specified consumer.",
                "DESTROY <key> <groupname>",
                "    Remove the specified group.",
                "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
                "    Set the current group ID and entries_read counter.",
            ],
        );
    }
    if eq_ic(sub, "create") && (5..=8).contains(&argc) {
        let id = if argv.get(4) == b"$" {
            match write(&mut ctx.ks, key) {
                Ok(Some(s)) => s.last_id,
                _ => StreamId::MIN,
            }
        } else {
            match parse_strict_id(argv.get(4), 0) {
                Ok(id) => id,
                Err(e) => return ctx.out.error(e),
            }
        };
        if !exists {
            ctx.ks.add(key, Value::Stream(Box::default()), 0);
        }
        let Ok(Some(s)) = write(&mut ctx.ks, key) else {
            return;
        };
        if s.create_group(group, id, entries_read) {
            ctx.ks.dirty += 1;
            ctx.ks.notify(events::STREAM, "xgroup-create", key);
            ctx.out.ok();
        } else {
            ctx.out
                .error("BUSYGROUP Consumer Group name already exists");
        }
    } else if eq_ic(sub, "setid") && (argc == 5 || argc == 7) {
        let Ok(Some(s)) = write(&mut ctx.ks, key) else {
            return;
        };
        let id = if argv.get(4) == b"$" {
            s.last_id
        } else {
            match parse_id(argv.get(4), 0) {
                Ok(id) => id,
                Err(e) => return ctx.out.error(e),
            }
        };
        let g = s.group_mut(group).expect("group checked");
        g.last_id = id;
        g.entries_read = entries_read;
        ctx.ks.dirty += 1;
        ctx.ks.notify(events::STREAM, "xgroup-setid", key);
        ctx.out.ok();
    } else if eq_ic(sub, "destroy") && argc == 4 {
        let Ok(Some(s)) = write(&mut ctx.ks, key) else {
            return;
        };
        if s.destroy_group(group) {
            // Wakes XREADGROUP waiters of the group with NOGROUP.
            ctx.ks.dirty += 1;
            ctx.ks.notify(events::STREAM, "xgroup-destroy", key);
            ctx.ks.signal_ready(key);
            ctx.out.int(1);
        } else {
            ctx.out.int(0);
        }
    } else if eq_ic(sub, "createconsumer") && argc == 5 {
        let Ok(Some(s)) = write(&mut ctx.ks, key) else {
            return;
        };
        let g = s.group_mut(group).expect("group checked");
        let created = g.create_consumer(argv.get(4), now);
        if created {
            ctx.ks.dirty += 1;
            ctx.ks.notify(events::STREAM, "xgroup-createconsumer", key);
        }
        ctx.out.int(i64::from(created));
    } else if eq_ic(sub, "delconsumer") && argc == 5 {
        let Ok(Some(s)) = write(&mut ctx.ks, key) else {
            return;
        };
        let g = s.group_mut(group).expect("group checked");
        match g.delete_consumer(argv.get(4)) {
            Some(pending) => {
                ctx.ks.dirty += 1;
                ctx.ks.notify(events::STREAM, "xgroup-delconsumer", key);
                ctx.out.int(pending as i64);
            }
            None => ctx.out.int(0),
        }
    } else {
        subcommand_syntax_error(ctx.out, argv);
    }
}

/// XACK key group id [id ...]
pub fn xack(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let group = argv.get(2);
    let has_group = match read(&mut ctx.ks, key) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(s) => s.is_some_and(|s| s.group(group).is_some()),
    };
    if !has_group {
        return ctx.out.int(0);
    }
    let ids = match parse_ids(argv, 3) {
        Ok(ids) => ids,
        Err(e) => return ctx.out.error(e),
    };
    let Ok(Some(s)) = write(&mut ctx.ks, key) else {
        return;
    };
    let g = s.group_mut(group).expect("group checked");
    let acked = ids.iter().filter(|id| g.ack(**id).is_some()).count() as u64;
    ctx.ks.dirty += acked;
    ctx.out.int(acked as i64);
}

/// XPENDING key group [[IDLE min-idle] start end count [consumer]]
pub fn xpending(ctx: &mut Ctx, argv: &Argv) {
    let argc = argv.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return ctx.out.error(ERR_SYNTAX);
    }
    let key = argv.get(1);
    let group_name = argv.get(2);
    let mut range = None;
    let mut min_idle: i64 = 0;
    let mut consumer = None;
    if argc >= 6 {
        let mut at = 3;
        if eq_ic(argv.get(3), "idle") {
            match parse_i64(argv.get(4)) {
                Some(v) => min_idle = v,
                None => return ctx.out.error(ERR_NOT_INT),
            }
            if argc < 8 {
                return ctx.out.error(ERR_SYNTAX);
            }
            at += 2;
        }
        let count = match parse_i64(argv.get(at + 2)) {
            Some(c) => c.max(0),
            None => return ctx.out.error(ERR_NOT_INT),
        };
        let start = match parse_bound(argv.get(at), true) {
            Ok(id) => id,
            Err(e) => return ctx.out.error(e),
        };
        let end = match parse_bound(argv.get(at + 1), false) {
            Ok(id) => id,
            Err(e) => return ctx.out.error(e),
        };
        if at + 3 < argc {
            consumer = Some(argv.get(at + 3));
        }
        range = Some((start, end, count));
    }
    let now = ctx.ks.now_ms as i64;
    let s = match read(&mut ctx.ks, key) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(s) => s,
    };
    let Some(g) = s.and_then(|s| s.group(group_name)) else {
        return ctx.out.error_bytes(&nogroup_key_or_group(key, group_name));
    };
    let Some((start, end, mut count)) = range else {
        ctx.out.array(4);
        ctx.out.int(g.pel.len() as i64);
        let (Some(first), Some(last)) = (g.pel.keys().next(), g.pel.keys().next_back()) else {
            ctx.out.null();
            ctx.out.null();
            ctx.out.null_array();
            return;
        };
        id_bulk(ctx.out, *first);
        id_bulk(ctx.out, *last);
        let owners: Vec<(&Vec<u8>, usize)> = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(name, c)| (name, c.pel.len()))
            .collect();
        ctx.out.array(owners.len());
        for (name, n) in owners {
            ctx.out.array(2);
            ctx.out.bulk(name);
            ctx.out.bulk_int(n as i64);
        }
        return;
    };
    let ids: Vec<StreamId> = match consumer {
        Some(name) => match g.consumers.get(name) {
            None => return ctx.out.array(0),
            Some(c) if start <= end => c.pel.range(start..=end).copied().collect(),
            Some(_) => Vec::new(),
        },
        None if start <= end => g.pel.range(start..=end).map(|(id, _)| *id).collect(),
        None => Vec::new(),
    };
    let mut body = ReplyBuf::new(ctx.out.resp3);
    let mut n = 0;
    for id in ids {
        if count == 0 {
            break;
        }
        let nack = &g.pel[&id];
        if min_idle != 0 && now - nack.delivery_time < min_idle {
            continue;
        }
        n += 1;
        count -= 1;
        body.array(4);
        id_bulk(&mut body, id);
        body.bulk(&nack.consumer);
        body.int((now - nack.delivery_time).max(0));
        body.int(nack.delivery_count as i64);
    }
    ctx.out.array(n);
    ctx.out.raw(&body.buf);
}

/// Parses `arg` as XCLAIM's option value: `ERR <msg>` when not an integer.
fn claim_int(arg: &[u8], msg: &str) -> Result<i64, String> {
    parse_i64(arg).ok_or_else(|| format!("ERR {msg}"))
}

/// The part XCLAIM and XAUTOCLAIM share (t_stream.c): moving pending
/// entries to one consumer, dropping entries that no longer exist, the
/// reply entries, the XCLAIM forms to replicate and the change count.
struct Claim<'a> {
    key: &'a [u8],
    group: &'a [u8],
    consumer: &'a [u8],
    now: i64,
    /// New delivery time of claimed entries.
    delivery: i64,
    /// RETRYCOUNT, else +1 per claim unless JUSTID.
    retrycount: Option<u64>,
    justid: bool,
    consumer_ready: bool,
    /// The consumer was created by this claim (an event to record).
    consumer_created: bool,
    body: ReplyBuf,
    claimed: usize,
    ops: Vec<Argv>,
    dirty: u64,
}

impl<'a> Claim<'a> {
    fn new(
        ctx: &Ctx,
        key: &'a [u8],
        group: &'a [u8],
        consumer: &'a [u8],
        justid: bool,
    ) -> Claim<'a> {
        let now = ctx.ks.now_ms as i64;
        Claim {
            key,
            group,
            consumer,
            now,
            delivery: now,
            retrycount: None,
            justid,
            consumer_ready: false,
            consumer_created: false,
            body: ReplyBuf::new(ctx.out.resp3),
            claimed: 0,
            ops: Vec::new(),
            dirty: 0,
        }
    }

    /// Drops the pending entry `id` whose stream entry is gone, replicated
    /// as an XCLAIM with its old owner (which deletes it on replicas).
    /// True if there was one.
    fn drop_missing(&mut self, g: &mut Group, id: StreamId, id_arg: &[u8]) -> bool {
        let Some(nack) = g.pel.get(&id) else {
            return false;
        };
        self.ops
            .push(xclaim_form(self.key, self.group, id_arg, nack, g.last_id));
        self.dirty += 1;
        g.ack(id);
        true
    }

    /// Gives pending entry `id` (it exists in the stream) to the consumer,
    /// created on first use, and replies it.
    fn take(&mut self, s: &mut Stream, id: StreamId, id_arg: &[u8]) {
        let g = s.group_mut(self.group).expect("group checked");
        if !self.consumer_ready {
            if touch_consumer(g, self.consumer, self.now) {
                self.dirty += 1;
                self.consumer_created = true;
            }
            self.consumer_ready = true;
        }
        g.assign(id, self.consumer);
        let nack = g.pel.get_mut(&id).expect("nack");
        nack.delivery_time = self.delivery;
        match self.retrycount {
            Some(n) => nack.delivery_count = n,
            None if !self.justid => nack.delivery_count += 1,
            None => {}
        }
        self.ops
            .push(xclaim_form(self.key, self.group, id_arg, nack, g.last_id));
        self.dirty += 1;
        if self.justid {
            id_bulk(&mut self.body, id);
        } else {
            raw_range(&mut self.body, s, id, id, 1, false);
        }
        self.claimed += 1;
    }

    /// Counts the changes and queues the replication forms in place of the
    /// command itself.
    fn finish(self, ctx: &mut Ctx) -> (usize, ReplyBuf) {
        ctx.ks.dirty += self.dirty;
        if self.consumer_created {
            ctx.ks
                .notify(events::STREAM, "xgroup-createconsumer", self.key);
        }
        let db = ctx.ks.db;
        ctx.ks
            .prop
            .ops
            .extend(self.ops.into_iter().map(|op| (db, op)));
        ctx.ks.prop.prevent = true;
        (self.claimed, self.body)
    }
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME ms]
/// [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]
pub fn xclaim(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let group_name = argv.get(2);
    let has_group = match read(&mut ctx.ks, key) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(s) => s.is_some_and(|s| s.group(group_name).is_some()),
    };
    if !has_group {
        return ctx.out.error_bytes(&nogroup_key_or_group(key, group_name));
    }
    let min_idle = match claim_int(argv.get(4), "Invalid min-idle-time argument for XCLAIM") {
        Ok(v) => v.max(0),
        Err(e) => return ctx.out.error(&e),
    };
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match parse_strict_id(argv.get(j), 0) {
            Ok(id) => ids.push((id, j)),
            Err(_) => break,
        }
        j += 1;
    }
    let now = ctx.ks.now_ms as i64;
    let mut force = false;
    let mut justid = false;
    let mut retrycount: i64 = -1;
    let mut delivery: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = argv.get(j);
        let parsed = if eq_ic(opt, "force") {
            force = true;
            Ok(())
        } else if eq_ic(opt, "justid") {
            justid = true;
            Ok(())
        } else if eq_ic(opt, "idle") && more > 0 {
            j += 1;
            claim_int(argv.get(j), "Invalid IDLE option argument for XCLAIM")
                .map(|v| delivery = now.wrapping_sub(v))
        } else if eq_ic(opt, "time") && more > 0 {
            j += 1;
            claim_int(argv.get(j), "Invalid TIME option argument for XCLAIM").map(|v| delivery = v)
        } else if eq_ic(opt, "retrycount") && more > 0 {
            j += 1;
            claim_int(argv.get(j), "Invalid RETRYCOUNT option argument for XCLAIM")
                .map(|v| retrycount = v)
        } else if eq_ic(opt, "lastid") && more > 0 {
            j += 1;
            parse_strict_id(argv.get(j), 0)
                .map(|id| last_id = id)
                .map_err(str::to_string)
        } else {
            let mut t = b"ERR Unrecognized XCLAIM option '".to_vec();
            t.extend_from_slice(c_prefix(opt, usize::MAX));
            t.push(b'\'');
            return ctx.out.error_bytes(&t);
        };
        if let Err(e) = parsed {
            return ctx.out.error(&e);
        }
        j += 1;
    }
    if delivery != -1 {
        if delivery < 0 || delivery > now {
            delivery = now;
        }
    } else {
        delivery = now;
    }
    let mut claim = Claim::new(ctx, key, group_name, argv.get(3), justid);
    claim.delivery = delivery;
    claim.retrycount = u64::try_from(retrycount).ok();
    let Ok(Some(s)) = write(&mut ctx.ks, key) else {
        return;
    };
    let mut propagate_last_id = false;
    {
        let g = s.group_mut(group_name).expect("group checked");
        if last_id > g.last_id {
            g.last_id = last_id;
            propagate_last_id = true;
        }
    }
    for (id, at) in ids {
        let exists = s.exists(id);
        let g = s.group_mut(group_name).expect("group checked");
        if !exists {
            if claim.drop_missing(g, id, argv.get(at)) {
                propagate_last_id = false;
            }
            continue;
        }
        if force && !g.pel.contains_key(&id) {
            g.pel.insert(
                id,
                Nack {
                    delivery_time: now,
                    delivery_count: 1,
                    consumer: Vec::new(),
                },
            );
        }
        let Some(nack) = g.pel.get(&id) else { continue };
        if !nack.consumer.is_empty() && min_idle != 0 && now - nack.delivery_time < min_idle {
            continue;
        }
        claim.take(s, id, argv.get(at));
        propagate_last_id = false;
    }
    if propagate_last_id {
        let g = s.group(group_name).expect("group checked");
        claim.ops.push(setid_form(key, group_name, g));
        claim.dirty += 1;
    }
    let (n, body) = claim.finish(ctx);
    ctx.out.array(n);
    ctx.out.raw(&body.buf);
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT n] [JUSTID]
pub fn xautoclaim(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let group_name = argv.get(2);
    // Looked up before the arguments are parsed (a miss is counted and
    // notified whatever follows), judged after them, as t_stream.c does.
    let has_group =
        read(&mut ctx.ks, key).map(|s| s.is_some_and(|s| s.group(group_name).is_some()));
    let min_idle = match claim_int(argv.get(4), "Invalid min-idle-time argument for XAUTOCLAIM") {
        Ok(v) => v.max(0),
        Err(e) => return ctx.out.error(&e),
    };
    let start = match parse_bound(argv.get(5), true) {
        Ok(id) => id,
        Err(e) => return ctx.out.error(e),
    };
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = argv.get(j);
        if eq_ic(opt, "count") && more > 0 {
            let max_count = i64::MAX / 16;
            match parse_i64(argv.get(j + 1)) {
                Some(c) if (1..=max_count).contains(&c) => count = c,
                _ => return ctx.out.error("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if eq_ic(opt, "justid") {
            justid = true;
        } else {
            return ctx.out.error(ERR_SYNTAX);
        }
        j += 1;
    }
    let Ok(has_group) = has_group else {
        return ctx.out.error(ERR_WRONGTYPE);
    };
    if !has_group {
        return ctx.out.error_bytes(&nogroup_key_or_group(key, group_name));
    }
    // Redis allocates COUNT IDs up front and fails on absurd counts.
    if count.saturating_mul(16) > (1i64 << 40) {
        return ctx
            .out
            .error("ERR Insufficient memory, failed allocating transient memory, COUNT too high.");
    }
    let mut claim = Claim::new(ctx, key, group_name, argv.get(3), justid);
    let now = claim.now;
    let Ok(Some(s)) = write(&mut ctx.ks, key) else {
        return;
    };
    let mut attempts = count.saturating_mul(10);
    let mut cursor = Some(start);
    let mut deleted = Vec::new();
    while attempts > 0 && count > 0 {
        attempts -= 1;
        let Some(from) = cursor else { break };
        let Some(id) = s
            .group(group_name)
            .and_then(|g| g.pel.range(from..).next().map(|(id, _)| *id))
        else {
            cursor = None;
            break;
        };
        cursor = id.incr();
        let exists = s.exists(id);
        let g = s.group_mut(group_name).expect("group checked");
        if !exists {
            claim.drop_missing(g, id, &id.to_bytes());
            deleted.push(id);
            count -= 1;
            continue;
        }
        if min_idle != 0 && now - g.pel[&id].delivery_time < min_idle {
            continue;
        }
        claim.take(s, id, &id.to_bytes());
        count -= 1;
    }
    let next = cursor
        .and_then(|from| {
            s.group(group_name)?
                .pel
                .range(from..)
                .next()
                .map(|(id, _)| *id)
        })
        .unwrap_or(StreamId::MIN);
    let (n, body) = claim.finish(ctx);
    ctx.out.array(3);
    id_bulk(ctx.out, next);
    ctx.out.array(n);
    ctx.out.raw(&body.buf);
    ctx.out.array(deleted.len());
    for id in deleted {
        id_bulk(ctx.out, id);
    }
}

// ---------------------------------------------------------------------------
// XINFO

/// XINFO STREAM key [FULL [COUNT n]] | GROUPS key | CONSUMERS key group | HELP
pub fn xinfo(ctx: &mut Ctx, argv: &Argv) {
    let sub = argv.get(1);
    if eq_ic(sub, "help") {
        if argv.len() != 2 {
            return subcommand_syntax_error(ctx.out, argv);
        }
        return reply_help(
            ctx,
            argv,
            &[
                "CONSUMERS <key> <groupname>",
                "    Show consumers of <groupname>.",
                "GROUPS <key>",
                "    Show the stream consumer groups.",
                "STREAM <key> [FULL [COUNT <count>]",
                "    Show information about the stream.",
            ],
        );
    }
    if argv.len() < 3 {
        return subcommand_syntax_error(ctx.out, argv);
    }
    let key = argv.get(2);
    let now = ctx.ks.now_ms as i64;
    let s = match read(&mut ctx.ks, key) {
        Err(WrongType) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.error(ERR_NO_KEY),
        Ok(Some(s)) => s,
    };
    if eq_ic(sub, "consumers") && argv.len() == 4 {
        let Some(g) = s.group(argv.get(3)) else {
            return ctx.out.error_bytes(&nogroup_for_key(argv.get(3), key));
        };
        ctx.out.array(g.consumers.len());
        for (name, c) in &g.consumers {
            ctx.out.map(3);
            ctx.out.bulk(b"name");
            ctx.out.bulk(name);
            ctx.out.bulk(b"pending");
            ctx.out.int(c.pel.len() as i64);
            ctx.out.bulk(b"idle");
            ctx.out.int((now - c.seen_time).max(0));
        }
    } else if eq_ic(sub, "groups") && argv.len() == 3 {
        ctx.out.array(s.group_count());
        for (name, g) in s.groups() {
            ctx.out.map(6);
            ctx.out.bulk(b"name");
            ctx.out.bulk(name);
            ctx.out.bulk(b"consumers");
            ctx.out.int(g.consumers.len() as i64);
            ctx.out.bulk(b"pending");
            ctx.out.int(g.pel.len() as i64);
            ctx.out.bulk(b"last-delivered-id");
            id_bulk(ctx.out, g.last_id);
            reply_read_and_lag(ctx.out, s, g);
        }
    } else if eq_ic(sub, "stream") {
        xinfo_stream(ctx.out, argv, s);
    } else {
        subcommand_syntax_error(ctx.out, argv);
    }
}

/// `entries-read` and `lag` of a group.
fn reply_read_and_lag(out: &mut ReplyBuf, s: &Stream, g: &Group) {
    out.bulk(b"entries-read");
    if g.entries_read != ENTRIES_READ_INVALID {
        out.int(g.entries_read);
    } else {
        out.null();
    }
    out.bulk(b"lag");
    match s.group_lag(g) {
        Some(lag) => out.int(lag),
        None => out.null(),
    }
}

fn xinfo_stream(out: &mut ReplyBuf, argv: &Argv, s: &Stream) {
    let opts = argv.len() - 3;
    let mut full = false;
    let mut count: i64 = 10;
    if opts > 0 {
        let bad = (opts != 1 && opts != 3)
            || !eq_ic(argv.get(3), "full")
            || (opts == 3 && !eq_ic(argv.get(4), "count"));
        if bad {
            return subcommand_syntax_error(out, argv);
        }
        if opts == 3 {
            match parse_i64(argv.get(5)) {
                Some(c) => count = if c < 0 { 10 } else { c },
                None => return out.error(ERR_NOT_INT),
            }
        }
        full = true;
    }
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.length as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(s.rax_node_count() as i64);
    out.bulk(b"last-generated-id");
    id_bulk(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    id_bulk(out, s.max_deleted_entry_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    id_bulk(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.group_count() as i64);
        out.bulk(b"first-entry");
        if raw_range(out, s, StreamId::MIN, StreamId::MAX, 1, false) == 0 {
            out.null();
        }
        out.bulk(b"last-entry");
        if raw_range(out, s, StreamId::MIN, StreamId::MAX, 1, true) == 0 {
            out.null();
        }
        return;
    }
    let limit = usize::try_from(count).unwrap_or(usize::MAX);
    out.bulk(b"entries");
    reply_range(out, s, StreamId::MIN, StreamId::MAX, limit, false);
    out.bulk(b"groups");
    out.array(s.group_count());
    // COUNT 0 shows every pending entry.
    let shown_max = if limit == 0 { usize::MAX } else { limit };
    for (name, g) in s.groups() {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        id_bulk(out, g.last_id);
        reply_read_and_lag(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let shown: Vec<_> = g.pel.iter().take(shown_max).collect();
        out.array(shown.len());
        for (id, nack) in shown {
            out.array(4);
            id_bulk(out, *id);
            out.bulk(&nack.consumer);
            out.int(nack.delivery_time);
            out.int(nack.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            let shown: Vec<_> = c.pel.iter().take(shown_max).collect();
            out.array(shown.len());
            for id in shown {
                let nack = &g.pel[id];
                out.array(3);
                id_bulk(out, *id);
                out.int(nack.delivery_time);
                out.int(nack.delivery_count as i64);
            }
        }
    }
}
