//! Sorted-set commands (Redis 7.0 t_zset.c): ZADD ZINCRBY ZSCORE ZMSCORE
//! ZCARD ZREM ZRANK ZREVRANK ZCOUNT ZLEXCOUNT, the ZRANGE family (ZRANGE
//! ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX
//! ZRANGESTORE), ZREMRANGEBYRANK/SCORE/LEX, ZPOPMIN ZPOPMAX ZMPOP,
//! ZRANDMEMBER, ZSCAN, and ZUNION ZINTER ZDIFF (+STORE) ZINTERCARD.
//!
//! Not yet: set (non-sorted) keys as inputs of the set operations (they
//! answer WRONGTYPE until the set type has contents to read), and the
//! blocking forms (BZPOPMIN, BZMPOP...).
//!
//! Owns: argument parsing for these commands and their effect on zset
//! values. The value type and its encodings live in [`crate::store::zset`].
//!
//! Key invariants, as Redis keeps them:
//! - arguments are fully parsed (and errors replied) before the key is
//!   looked up, in the order Redis checks them;
//! - a zset that becomes empty is deleted; `ctx.ks.modified` is called once
//!   per command that changed the key, never for a no-op;
//! - new zsets start in the encoding `zsetTypeCreate` would pick and convert
//!   one way to `skiplist` (see [`ZSetValue::convert_before_insert`]).

use super::keys::parse_cursor;
use super::{command_table, eq_ic, Ctx, ERR_NOT_FLOAT, ERR_NOT_INT, ERR_SYNTAX, ERR_WRONGTYPE};
use crate::num::{parse_f64, parse_i64};
use crate::protocol::{Argv, ReplyBuf};
use crate::server::EncodingLimits;
use crate::store::zset::ZSetValue;
use crate::store::{events, Value};

const ERR_NAN: &str = "ERR resulting score is not a number (NaN)";
const ERR_NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const ERR_LEX_RANGE: &str = "ERR min or max not valid string range item";
const ERR_NX_XX: &str = "ERR XX and NX options at the same time are not compatible";
const ERR_GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
const ERR_INCR_PAIR: &str = "ERR INCR option supports a single increment-element pair";
const ERR_LIMIT_RANK: &str =
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
const ERR_WITHSCORES_LEX: &str =
    "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
const ERR_POSITIVE: &str = "ERR value is out of range, must be positive";

const WF: u32 = super::flags::WRITE | super::flags::DENYOOM | super::flags::FAST;
const W: u32 = super::flags::WRITE | super::flags::DENYOOM;
const WRITE: u32 = super::flags::WRITE;
const WRITE_FAST: u32 = super::flags::WRITE | super::flags::FAST;
const R: u32 = super::flags::READONLY;
const RF: u32 = super::flags::READONLY | super::flags::FAST;

command_table! {
    pub static TABLE;
    "zadd", -4, WF, (1, 1, 1), "@write @sortedset @fast", zadd;
    "zincrby", 4, WF, (1, 1, 1), "@write @sortedset @fast", zincrby;
    "zscore", 3, RF, (1, 1, 1), "@read @sortedset @fast", zscore;
    "zmscore", -3, RF, (1, 1, 1), "@read @sortedset @fast", zmscore;
    "zcard", 2, RF, (1, 1, 1), "@read @sortedset @fast", zcard;
    "zrem", -3, WRITE_FAST, (1, 1, 1), "@write @sortedset @fast", zrem;
    "zrank", 3, RF, (1, 1, 1), "@read @sortedset @fast", zrank;
    "zrevrank", 3, RF, (1, 1, 1), "@read @sortedset @fast", zrevrank;
    "zcount", 4, RF, (1, 1, 1), "@read @sortedset @fast", zcount;
    "zlexcount", 4, RF, (1, 1, 1), "@read @sortedset @fast", zlexcount;
    "zrange", -4, R, (1, 1, 1), "@read @sortedset @slow", zrange;
    "zrangestore", -5, W, (1, 2, 1), "@write @sortedset @slow", zrangestore;
    "zrevrange", -4, R, (1, 1, 1), "@read @sortedset @slow", zrevrange;
    "zrangebyscore", -4, R, (1, 1, 1), "@read @sortedset @slow", zrangebyscore;
    "zrevrangebyscore", -4, R, (1, 1, 1), "@read @sortedset @slow", zrevrangebyscore;
    "zrangebylex", -4, R, (1, 1, 1), "@read @sortedset @slow", zrangebylex;
    "zrevrangebylex", -4, R, (1, 1, 1), "@read @sortedset @slow", zrevrangebylex;
    "zremrangebyrank", 4, WRITE, (1, 1, 1), "@write @sortedset @slow", zremrangebyrank;
    "zremrangebyscore", 4, WRITE, (1, 1, 1), "@write @sortedset @slow", zremrangebyscore;
    "zremrangebylex", 4, WRITE, (1, 1, 1), "@write @sortedset @slow", zremrangebylex;
    "zpopmin", -2, WRITE_FAST, (1, 1, 1), "@write @sortedset @fast", zpopmin;
    "zpopmax", -2, WRITE_FAST, (1, 1, 1), "@write @sortedset @fast", zpopmax;
    "zmpop", -4, WRITE, (-1, 0, 1), "@write @sortedset @slow", zmpop;
    "zrandmember", -2, R, (1, 1, 1), "@read @sortedset @slow", zrandmember;
    "zscan", -3, R, (1, 1, 1), "@read @sortedset @slow", zscan;
    "zunion", -3, R, (-1, 0, 1), "@read @sortedset @slow", zunion;
    "zinter", -3, R, (-1, 0, 1), "@read @sortedset @slow", zinter;
    "zdiff", -3, R, (-1, 0, 1), "@read @sortedset @slow", zdiff;
    "zintercard", -3, R, (-1, 0, 1), "@read @sortedset @slow", zintercard;
    "zunionstore", -4, W, (-2, 1, 1), "@write @sortedset @slow", zunionstore;
    "zinterstore", -4, W, (-2, 1, 1), "@write @sortedset @slow", zinterstore;
    "zdiffstore", -4, W, (-2, 1, 1), "@write @sortedset @slow", zdiffstore;
}

/// What a key holds, for commands that treat a missing key as empty.
enum Found<'a> {
    Missing,
    WrongType,
    ZSet(&'a ZSetValue),
}

fn found(entry: Option<&crate::store::Entry>) -> Found<'_> {
    match entry.map(|e| &e.value) {
        None => Found::Missing,
        Some(Value::ZSet(z)) => Found::ZSet(z),
        Some(_) => Found::WrongType,
    }
}

/// The zset at `key` for reading; `Err(())` after replying WRONGTYPE,
/// `Ok(None)` when missing.
fn read_zset<'k>(ctx: &'k mut Ctx, key: &[u8]) -> Result<Option<&'k ZSetValue>, ()> {
    match found(ctx.ks.lookup_read(key)) {
        Found::Missing => Ok(None),
        Found::ZSet(z) => Ok(Some(z)),
        Found::WrongType => {
            ctx.out.error(ERR_WRONGTYPE);
            Err(())
        }
    }
}

/// [`read_zset`] for writers (no hit/miss stats).
fn write_zset<'k>(ctx: &'k mut Ctx, key: &[u8]) -> Result<Option<&'k mut ZSetValue>, ()> {
    match ctx.ks.lookup_write(key).map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => {
            ctx.out.error(ERR_WRONGTYPE);
            Err(())
        }
    }
}

/// After removing elements: records keyspace event `event`, deletes the
/// key if its zset is now empty (and says so) and records the change
/// (Redis `dbDelete` + `signalModifiedKey`).
fn removed_from(ctx: &mut Ctx, key: &[u8], removed: usize, event: &'static str) {
    if removed == 0 {
        return;
    }
    let empty = matches!(
        ctx.ks.lookup_write(key).map(|e| &e.value),
        Some(Value::ZSet(z)) if z.is_empty()
    );
    ctx.ks.notify(events::ZSET, event, key);
    if empty {
        ctx.ks.delete(key);
        ctx.ks.notify(events::GENERIC, "del", key);
    } else {
        ctx.ks.modified(key);
    }
}

/// The keyspace event of a pop from the `max` or min end.
pub(super) fn zpop_event(max: bool) -> &'static str {
    if max {
        "zpopmax"
    } else {
        "zpopmin"
    }
}

/// Redis `getLongFromObjectOrReply` (a C long is an i64 here).
fn parse_long(arg: &[u8]) -> Result<i64, &'static str> {
    parse_i64(arg).ok_or(ERR_NOT_INT)
}

/// The argument as C would see it: up to its first NUL byte.
fn cstr(arg: &[u8]) -> &[u8] {
    arg.split(|&b| b == 0).next().unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Ranges

/// A score range (Redis `zrangespec`).
#[derive(Clone, Copy, Debug)]
struct ScoreRange {
    min: f64,
    max: f64,
    minex: bool,
    maxex: bool,
}

impl ScoreRange {
    /// Redis `zslParseRange`: `(` makes a bound exclusive; NaN is refused.
    fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let item = |arg: &[u8]| match arg.strip_prefix(b"(") {
            Some(rest) => strtod_whole(rest).map(|v| (v, true)),
            None => strtod_whole(arg).map(|v| (v, false)),
        };
        let (min, minex) = item(min)?;
        let (max, maxex) = item(max)?;
        Some(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// Redis `zslIsInRange`: can anything match?
    fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// A bound as `zslParseRange` reads it: C `strtod` must reach the end of
/// the C string (its first NUL) and the result must not be NaN. Unlike
/// `string2d` this accepts the empty string (0), leading whitespace,
/// overflow (to infinity) and underflow.
fn strtod_whole(arg: &[u8]) -> Option<f64> {
    let arg = cstr(arg);
    if arg.is_empty() {
        return Some(0.0);
    }
    let start = arg.iter().position(|b| !b" \t\n\x0b\x0c\r".contains(b))?;
    let text = arg.get(start..)?;
    let v = parse_f64(text).or_else(|| std::str::from_utf8(text).ok()?.parse::<f64>().ok())?;
    (!v.is_nan()).then_some(v)
}

/// One end of a lex range.
#[derive(Clone, Debug)]
enum LexBound {
    NegInf,
    PosInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl LexBound {
    /// Redis `zslParseLexRangeItem`: `-`, `+`, `[x` or `(x`.
    fn parse(arg: &[u8]) -> Option<LexBound> {
        // `+` and `-` are compared as C strings ("+\0x" is `+`).
        match arg {
            [b'-'] | [b'-', 0, ..] => Some(LexBound::NegInf),
            [b'+'] | [b'+', 0, ..] => Some(LexBound::PosInf),
            [b'[', rest @ ..] => Some(LexBound::Incl(rest.to_vec())),
            [b'(', rest @ ..] => Some(LexBound::Excl(rest.to_vec())),
            _ => None,
        }
    }
}

/// A lex range (Redis `zlexrangespec`).
#[derive(Clone, Debug)]
struct LexRange {
    min: LexBound,
    max: LexBound,
}

impl LexRange {
    fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(v) => m >= v.as_slice(),
            LexBound::Excl(v) => m > v.as_slice(),
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(v) => m <= v.as_slice(),
            LexBound::Excl(v) => m < v.as_slice(),
        }
    }
}

/// Elements of `z` in a score range, ascending or descending.
fn score_range<'z>(
    z: &'z ZSetValue,
    range: ScoreRange,
    rev: bool,
) -> Box<dyn Iterator<Item = (f64, &'z [u8])> + 'z> {
    if range.is_empty() {
        return Box::new(std::iter::empty());
    }
    if rev {
        Box::new(
            z.iter_rev_from_score(range.max)
                .skip_while(move |(s, _)| !range.lte_max(*s))
                .take_while(move |(s, _)| range.gte_min(*s)),
        )
    } else {
        Box::new(
            z.iter_from_score(range.min)
                .skip_while(move |(s, _)| !range.gte_min(*s))
                .take_while(move |(s, _)| range.lte_max(*s)),
        )
    }
}

/// Elements of `z` in a lex range, walking as Redis's listpack code does
/// (`zzlFirstInLexRange`): from the first element at or above the minimum
/// while elements stay at or below the maximum (mirrored for `rev`).
fn lex_range<'z>(
    z: &'z ZSetValue,
    range: &'z LexRange,
    rev: bool,
) -> Box<dyn Iterator<Item = (f64, &'z [u8])> + 'z> {
    if !lex_in_range(z, range) {
        return Box::new(std::iter::empty());
    }
    if rev {
        Box::new(
            z.iter()
                .rev()
                .skip_while(move |(_, m)| !range.lte_max(m))
                .take_while(move |(_, m)| range.gte_min(m)),
        )
    } else {
        Box::new(
            z.iter()
                .skip_while(move |(_, m)| !range.gte_min(m))
                .take_while(move |(_, m)| range.lte_max(m)),
        )
    }
}

/// Redis `zzlIsInLexRange` / `zslIsInLexRange`: the range is not empty
/// and overlaps the (first, last) elements. With mixed scores this check
/// decides results, so it must match Redis exactly.
fn lex_in_range(z: &ZSetValue, range: &LexRange) -> bool {
    use LexBound::*;
    let (min, minex) = match &range.min {
        NegInf => (LexKey::Min, true),
        PosInf => (LexKey::Max, true),
        Incl(v) => (LexKey::Str(v), false),
        Excl(v) => (LexKey::Str(v), true),
    };
    let (max, maxex) = match &range.max {
        NegInf => (LexKey::Min, true),
        PosInf => (LexKey::Max, true),
        Incl(v) => (LexKey::Str(v), false),
        Excl(v) => (LexKey::Str(v), true),
    };
    let cmp = min.cmp(&max);
    if cmp == std::cmp::Ordering::Greater || (cmp == std::cmp::Ordering::Equal && (minex || maxex))
    {
        return false;
    }
    let last = z.iter().next_back();
    let first = z.iter().next();
    last.is_some_and(|(_, m)| range.gte_min(m)) && first.is_some_and(|(_, m)| range.lte_max(m))
}

/// A lex bound for Redis `sdscmplex`: `-` below and `+` above every string.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum LexKey<'a> {
    Min,
    Str(&'a [u8]),
    Max,
}

/// Redis's rank sanitizing (`zrangeGenericCommand`, `zremrangeGenericCommand`):
/// the inclusive index range, or `None` when empty.
fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 {
        llen.saturating_add(start)
    } else {
        start
    }
    .max(0);
    let end = if end < 0 {
        llen.saturating_add(end)
    } else {
        end
    };
    if start > end || start >= llen {
        return None;
    }
    let end = end.min(llen - 1);
    Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
}

// ---------------------------------------------------------------------------
// Replies

/// Replies with elements, with scores if asked: RESP2 flat, RESP3 pairs.
fn reply_elements(out: &mut ReplyBuf, items: &[(f64, &[u8])], withscores: bool) {
    if withscores && out.resp3 {
        out.array(items.len());
        for (score, member) in items {
            out.array(2);
            out.bulk(member);
            out.double(*score);
        }
    } else if withscores {
        out.array(items.len().saturating_mul(2));
        for (score, member) in items {
            out.bulk(member);
            out.double(*score);
        }
    } else {
        out.array(items.len());
        for (_, member) in items {
            out.bulk(member);
        }
    }
}

// ---------------------------------------------------------------------------
// ZADD / ZINCRBY

/// ZADD flags (Redis `ZADD_IN_*`).
#[derive(Clone, Copy, Debug, Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What `zsetAdd` did with one element.
enum AddOutcome {
    Added(f64),
    Updated(f64),
    /// Processed without a change (same score): still replied by INCR.
    Same(f64),
    /// Skipped by NX, XX, GT or LT (`ZADD_OUT_NOP`).
    Nop,
    Nan,
}

/// Redis `zsetAdd` on an existing zset.
fn zset_add(
    limits: EncodingLimits,
    z: &mut ZSetValue,
    score: f64,
    member: &[u8],
    f: AddFlags,
) -> AddOutcome {
    match z.score(member) {
        Some(_) if f.nx => AddOutcome::Nop,
        Some(cur) => {
            let new = if f.incr { cur + score } else { score };
            if new.is_nan() {
                return AddOutcome::Nan;
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return AddOutcome::Nop;
            }
            if new != cur {
                z.insert(member, new);
                AddOutcome::Updated(new)
            } else {
                // Redis replies the computed score (t_zset.c `zsetAdd` sets
                // *newscore before comparing): -0 + 0 answers 0 though the
                // stored -0 stays.
                AddOutcome::Same(new)
            }
        }
        None if f.xx => AddOutcome::Nop,
        None => {
            z.convert_before_insert(
                member.len(),
                limits.zset_max_listpack_entries,
                limits.zset_max_listpack_value,
            );
            z.insert(member, score);
            AddOutcome::Added(score)
        }
    }
}

fn zadd(ctx: &mut Ctx, argv: &Argv) {
    zadd_generic(ctx, argv, AddFlags::default());
}

fn zincrby(ctx: &mut Ctx, argv: &Argv) {
    zadd_generic(
        ctx,
        argv,
        AddFlags {
            incr: true,
            ..AddFlags::default()
        },
    );
}

/// Parses ZADD's options; returns the flags and the index of the first score.
fn parse_add_flags(argv: &Argv, mut f: AddFlags) -> (AddFlags, usize) {
    let mut j = 2;
    while let Some(arg) = argv.try_get(j) {
        let opt = cstr(arg);
        if eq_ic(opt, "nx") {
            f.nx = true;
        } else if eq_ic(opt, "xx") {
            f.xx = true;
        } else if eq_ic(opt, "ch") {
            f.ch = true;
        } else if eq_ic(opt, "incr") {
            f.incr = true;
        } else if eq_ic(opt, "gt") {
            f.gt = true;
        } else if eq_ic(opt, "lt") {
            f.lt = true;
        } else {
            break;
        }
        j += 1;
    }
    (f, j)
}

/// Redis `zaddGenericCommand`.
fn zadd_generic(ctx: &mut Ctx, argv: &Argv, flags: AddFlags) {
    let (f, scoreidx) = parse_add_flags(argv, flags);
    let args = argv.len().saturating_sub(scoreidx);
    if args == 0 || args % 2 == 1 {
        return ctx.out.error(ERR_SYNTAX);
    }
    let elements = args / 2;
    if f.nx && f.xx {
        return ctx.out.error(ERR_NX_XX);
    }
    if [f.gt, f.lt, f.nx].iter().filter(|&&b| b).count() > 1 {
        return ctx.out.error(ERR_GT_LT_NX);
    }
    if f.incr && elements > 1 {
        return ctx.out.error(ERR_INCR_PAIR);
    }
    let mut pairs = Vec::with_capacity(elements);
    for j in 0..elements {
        let Some(score) = parse_f64(argv.get(scoreidx + j * 2)) else {
            return ctx.out.error(ERR_NOT_FLOAT);
        };
        pairs.push((score, argv.get(scoreidx + j * 2 + 1)));
    }
    let key = argv.get(1);
    let exists = match write_zset(ctx, key) {
        Err(()) => return,
        Ok(z) => z.is_some(),
    };
    if !exists {
        if f.xx {
            return reply_add(ctx, f, 0, 0, None);
        }
        let limits = ctx.srv.encoding_limits();
        // 7.0 looks at the first member only; later ones convert on insert.
        let first_len = pairs.first().map_or(0, |(_, m)| m.len());
        let z = ZSetValue::for_first_member(
            first_len,
            limits.zset_max_listpack_entries,
            limits.zset_max_listpack_value,
        );
        // Redis `dbAdd`: the key exists from here on (it always gains an
        // element below, since XX was handled above).
        ctx.ks.add(key, Value::ZSet(z), 0);
    }
    let limits = ctx.srv.encoding_limits();
    let Some(Value::ZSet(z)) = ctx.ks.lookup_write(key).map(|e| &mut e.value) else {
        unreachable!("zadd: the zset was just found or created");
    };
    let (mut added, mut updated, mut last, mut nan) = (0, 0, None, false);
    for (score, member) in pairs {
        match zset_add(limits, z, score, member, f) {
            AddOutcome::Added(s) => {
                added += 1;
                last = Some(s);
            }
            AddOutcome::Updated(s) => {
                updated += 1;
                last = Some(s);
            }
            AddOutcome::Same(s) => last = Some(s),
            AddOutcome::Nop => last = None,
            AddOutcome::Nan => {
                nan = true;
                break;
            }
        }
    }
    if added + updated > 0 {
        ctx.ks.modified(key);
        ctx.ks
            .notify(events::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    if nan {
        return ctx.out.error(ERR_NAN);
    }
    reply_add(ctx, f, added, updated, last);
}

fn reply_add(ctx: &mut Ctx, f: AddFlags, added: i64, updated: i64, last: Option<f64>) {
    if f.incr {
        match last {
            Some(score) => ctx.out.double(score),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(if f.ch { added + updated } else { added });
    }
}

// ---------------------------------------------------------------------------
// Point reads

fn zscore(ctx: &mut Ctx, argv: &Argv) {
    let Ok(z) = read_zset(ctx, argv.get(1)) else {
        return;
    };
    match z.and_then(|z| z.score(argv.get(2))) {
        Some(score) => ctx.out.double(score),
        None => ctx.out.null(),
    }
}

fn zmscore(ctx: &mut Ctx, argv: &Argv) {
    let Ok(z) = read_zset(ctx, argv.get(1)) else {
        return;
    };
    let scores: Vec<Option<f64>> = argv
        .iter()
        .skip(2)
        .map(|m| z.as_ref().and_then(|z| z.score(m)))
        .collect();
    ctx.out.array(scores.len());
    for score in scores {
        match score {
            Some(score) => ctx.out.double(score),
            None => ctx.out.null(),
        }
    }
}

fn zcard(ctx: &mut Ctx, argv: &Argv) {
    let Ok(z) = read_zset(ctx, argv.get(1)) else {
        return;
    };
    let len = z.map_or(0, |z| z.len());
    ctx.out.int(i64::try_from(len).unwrap_or(i64::MAX));
}

fn zrank(ctx: &mut Ctx, argv: &Argv) {
    zrank_generic(ctx, argv, false);
}

fn zrevrank(ctx: &mut Ctx, argv: &Argv) {
    zrank_generic(ctx, argv, true);
}

/// Redis `zrankGenericCommand` (7.0: no WITHSCORE).
fn zrank_generic(ctx: &mut Ctx, argv: &Argv, rev: bool) {
    let Ok(z) = read_zset(ctx, argv.get(1)) else {
        return;
    };
    let rank = z.and_then(|z| {
        let rank = z.rank(argv.get(2))?;
        Some(if rev { z.len() - 1 - rank } else { rank })
    });
    match rank {
        Some(rank) => ctx.out.int(i64::try_from(rank).unwrap_or(i64::MAX)),
        None => ctx.out.null(),
    }
}

fn zcount(ctx: &mut Ctx, argv: &Argv) {
    let Some(range) = ScoreRange::parse(argv.get(2), argv.get(3)) else {
        return ctx.out.error(ERR_NOT_FLOAT_RANGE);
    };
    let Ok(z) = read_zset(ctx, argv.get(1)) else {
        return;
    };
    let n = z.map_or(0, |z| score_range(z, range, false).count());
    ctx.out.int(i64::try_from(n).unwrap_or(i64::MAX));
}

fn zlexcount(ctx: &mut Ctx, argv: &Argv) {
    let Some(range) = LexRange::parse(argv.get(2), argv.get(3)) else {
        return ctx.out.error(ERR_LEX_RANGE);
    };
    let Ok(z) = read_zset(ctx, argv.get(1)) else {
        return;
    };
    let n = z.map_or(0, |z| lex_range(z, &range, false).count());
    ctx.out.int(i64::try_from(n).unwrap_or(i64::MAX));
}

// ---------------------------------------------------------------------------
// Removal

fn zrem(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let removed = match write_zset(ctx, key) {
        Err(()) => return,
        Ok(None) => 0,
        Ok(Some(z)) => argv
            .iter()
            .skip(2)
            .filter(|m| z.remove(m).is_some())
            .count(),
    };
    removed_from(ctx, key, removed, "zrem");
    ctx.out.int(i64::try_from(removed).unwrap_or(i64::MAX));
}

/// What a ZREMRANGEBY* / ZRANGE command selects.
enum Selector {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

impl Selector {
    /// The selected (score, member) pairs, owned, in iteration order.
    fn select(&self, z: &ZSetValue, rev: bool, offset: i64, limit: i64) -> Vec<(f64, Box<[u8]>)> {
        let owned = |(s, m): (f64, &[u8])| (s, Box::<[u8]>::from(m));
        match self {
            Selector::Rank(start, end) => {
                let Some((start, end)) = rank_range(*start, *end, z.len()) else {
                    return Vec::new();
                };
                let take = end - start + 1;
                if rev {
                    z.iter().rev().skip(start).take(take).map(owned).collect()
                } else {
                    z.iter().skip(start).take(take).map(owned).collect()
                }
            }
            Selector::Score(range) => limited(score_range(z, *range, rev), z.len(), offset, limit)
                .map(owned)
                .collect(),
            Selector::Lex(range) => limited(lex_range(z, range, rev), z.len(), offset, limit)
                .map(owned)
                .collect(),
        }
    }
}

/// Applies LIMIT as Redis does: a negative offset (or one past the end)
/// selects nothing, a negative count means all.
fn limited<'z>(
    it: Box<dyn Iterator<Item = (f64, &'z [u8])> + 'z>,
    len: usize,
    offset: i64,
    limit: i64,
) -> Box<dyn Iterator<Item = (f64, &'z [u8])> + 'z> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    if offset < 0 || (offset > 0 && offset >= len) {
        return Box::new(std::iter::empty());
    }
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    Box::new(it.skip(skip).take(take))
}

fn zremrangebyrank(ctx: &mut Ctx, argv: &Argv) {
    let (start, end) = match (parse_long(argv.get(2)), parse_long(argv.get(3))) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(e), _) | (_, Err(e)) => return ctx.out.error(e),
    };
    zremrange_generic(ctx, argv, Selector::Rank(start, end));
}

fn zremrangebyscore(ctx: &mut Ctx, argv: &Argv) {
    let Some(range) = ScoreRange::parse(argv.get(2), argv.get(3)) else {
        return ctx.out.error(ERR_NOT_FLOAT_RANGE);
    };
    zremrange_generic(ctx, argv, Selector::Score(range));
}

fn zremrangebylex(ctx: &mut Ctx, argv: &Argv) {
    let Some(range) = LexRange::parse(argv.get(2), argv.get(3)) else {
        return ctx.out.error(ERR_LEX_RANGE);
    };
    zremrange_generic(ctx, argv, Selector::Lex(range));
}

/// Redis `zremrangeGenericCommand`.
fn zremrange_generic(ctx: &mut Ctx, argv: &Argv, sel: Selector) {
    let key = argv.get(1);
    let event = match sel {
        Selector::Rank(..) => "zremrangebyrank",
        Selector::Score(_) => "zremrangebyscore",
        Selector::Lex(_) => "zremrangebylex",
    };
    let removed = match write_zset(ctx, key) {
        Err(()) => return,
        Ok(None) => 0,
        Ok(Some(z)) => {
            let doomed = sel.select(z, false, 0, -1);
            for (_, member) in &doomed {
                z.remove(member);
            }
            doomed.len()
        }
    };
    removed_from(ctx, key, removed, event);
    ctx.out.int(i64::try_from(removed).unwrap_or(i64::MAX));
}

// ---------------------------------------------------------------------------
// ZRANGE family

/// How a ZRANGE-family command was called.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Redis `zrangeGenericCommand`. `src_at` is the index of the source key;
/// `store` names the destination for ZRANGESTORE.
fn zrange_generic(
    ctx: &mut Ctx,
    argv: &Argv,
    src_at: usize,
    store: bool,
    mut rangetype: RangeType,
    direction: Option<bool>,
) {
    let (mut minidx, mut maxidx) = (src_at + 1, src_at + 2);
    let mut rev = direction;
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = src_at + 3;
    while j < argv.len() {
        let arg = cstr(argv.get(j));
        let leftargs = argv.len() - j - 1;
        if !store && eq_ic(arg, "withscores") {
            withscores = true;
        } else if eq_ic(arg, "limit") && leftargs >= 2 {
            match (parse_long(argv.get(j + 1)), parse_long(argv.get(j + 2))) {
                (Ok(o), Ok(l)) => (offset, limit) = (o, l),
                (Err(e), _) | (_, Err(e)) => return ctx.out.error(e),
            }
            j += 2;
        } else if rev.is_none() && eq_ic(arg, "rev") {
            rev = Some(true);
        } else if rangetype == RangeType::Auto && eq_ic(arg, "bylex") {
            rangetype = RangeType::Lex;
        } else if rangetype == RangeType::Auto && eq_ic(arg, "byscore") {
            rangetype = RangeType::Score;
        } else {
            return ctx.out.error(ERR_SYNTAX);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if rangetype == RangeType::Auto {
        rangetype = RangeType::Rank;
    }
    if limit != -1 && rangetype == RangeType::Rank {
        return ctx.out.error(ERR_LIMIT_RANK);
    }
    if withscores && rangetype == RangeType::Lex {
        return ctx.out.error(ERR_WITHSCORES_LEX);
    }
    if rev && rangetype != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let (min, max) = (argv.get(minidx), argv.get(maxidx));
    let sel = match rangetype {
        RangeType::Score => match ScoreRange::parse(min, max) {
            Some(range) => Selector::Score(range),
            None => return ctx.out.error(ERR_NOT_FLOAT_RANGE),
        },
        RangeType::Lex => match LexRange::parse(min, max) {
            Some(range) => Selector::Lex(range),
            None => return ctx.out.error(ERR_LEX_RANGE),
        },
        _ => match (parse_long(min), parse_long(max)) {
            (Ok(start), Ok(end)) => Selector::Rank(start, end),
            (Err(e), _) | (_, Err(e)) => return ctx.out.error(e),
        },
    };
    let Ok(z) = read_zset(ctx, argv.get(src_at)) else {
        return;
    };
    let by_rank = matches!(sel, Selector::Rank(..));
    let items = z.map_or_else(Vec::new, |z| sel.select(z, rev, offset, limit));
    if store {
        store_result(ctx, argv.get(1), items, by_rank);
    } else {
        let borrowed: Vec<(f64, &[u8])> = items.iter().map(|(s, m)| (*s, &**m)).collect();
        reply_elements(ctx.out, &borrowed, withscores);
    }
}

/// Stores a range result at `dst` (replacing it; an empty result deletes
/// it) and replies with its size, as Redis `zrangeResultFinalizeStore`.
fn store_result(ctx: &mut Ctx, dst: &[u8], items: Vec<(f64, Box<[u8]>)>, by_rank: bool) {
    let n = items.len();
    if n == 0 {
        ctx.ks.delete_notified(dst);
    } else {
        let limits = ctx.srv.encoding_limits();
        // Redis 7.0 `zrangeResultBeginStore` starts a skiplist when it
        // knows the length (a rank range) and it exceeds the listpack
        // limit, else a listpack, and adds one by one: a -0 score is kept
        // only in the skiplist.
        let known_big =
            by_rank && i64::try_from(n).map_or(true, |n| n > limits.zset_max_listpack_entries);
        let mut z = if known_big {
            ZSetValue::for_first_member(usize::MAX, 0, 0)
        } else {
            ZSetValue::default()
        };
        for (score, member) in items {
            z.convert_before_insert(
                member.len(),
                limits.zset_max_listpack_entries,
                limits.zset_max_listpack_value,
            );
            z.insert(&member, score);
        }
        ctx.ks.set(dst, Value::ZSet(z), 0);
        ctx.ks.notify(events::ZSET, "zrangestore", dst);
    }
    ctx.out.int(i64::try_from(n).unwrap_or(i64::MAX));
}

fn zrange(ctx: &mut Ctx, argv: &Argv) {
    zrange_generic(ctx, argv, 1, false, RangeType::Auto, None);
}

fn zrangestore(ctx: &mut Ctx, argv: &Argv) {
    zrange_generic(ctx, argv, 2, true, RangeType::Auto, None);
}

fn zrevrange(ctx: &mut Ctx, argv: &Argv) {
    zrange_generic(ctx, argv, 1, false, RangeType::Rank, Some(true));
}

fn zrangebyscore(ctx: &mut Ctx, argv: &Argv) {
    zrange_generic(ctx, argv, 1, false, RangeType::Score, Some(false));
}

fn zrevrangebyscore(ctx: &mut Ctx, argv: &Argv) {
    zrange_generic(ctx, argv, 1, false, RangeType::Score, Some(true));
}

fn zrangebylex(ctx: &mut Ctx, argv: &Argv) {
    zrange_generic(ctx, argv, 1, false, RangeType::Lex, Some(false));
}

fn zrevrangebylex(ctx: &mut Ctx, argv: &Argv) {
    zrange_generic(ctx, argv, 1, false, RangeType::Lex, Some(true));
}

// ---------------------------------------------------------------------------
// ZPOPMIN / ZPOPMAX

fn zpopmin(ctx: &mut Ctx, argv: &Argv) {
    zpop_generic(ctx, argv, false);
}

fn zpopmax(ctx: &mut Ctx, argv: &Argv) {
    zpop_generic(ctx, argv, true);
}

/// Removes and returns up to `count` (> 0) lowest or highest entries.
fn pop_from(z: &mut ZSetValue, count: i64, max: bool) -> Vec<(f64, Box<[u8]>)> {
    let n = usize::try_from(count).unwrap_or(usize::MAX);
    let picked: Vec<(f64, Box<[u8]>)> = if max {
        z.iter().rev().take(n).map(|(s, m)| (s, m.into())).collect()
    } else {
        z.iter().take(n).map(|(s, m)| (s, m.into())).collect()
    };
    for (_, member) in &picked {
        z.remove(member);
    }
    picked
}

/// Redis `genericZpopCommand` for one key. RESP3 nests the pairs only when
/// a count was given.
fn zpop_generic(ctx: &mut Ctx, argv: &Argv, max: bool) {
    if argv.len() > 3 {
        return ctx.out.error(ERR_SYNTAX);
    }
    let count = match argv.try_get(2) {
        None => None,
        Some(arg) => match parse_i64(arg) {
            None => return ctx.out.error(ERR_POSITIVE),
            Some(n) if n < 0 => return ctx.out.error(ERR_POSITIVE),
            Some(n) => Some(n),
        },
    };
    let key = argv.get(1);
    let popped: Vec<(f64, Box<[u8]>)> = match write_zset(ctx, key) {
        Err(()) => return,
        Ok(None) => return ctx.out.array(0),
        Ok(Some(_)) if count == Some(0) => return ctx.out.array(0),
        Ok(Some(z)) => pop_from(z, count.unwrap_or(1), max),
    };
    removed_from(ctx, key, popped.len(), zpop_event(max));
    let nested = ctx.out.resp3 && count.is_some();
    let borrowed: Vec<(f64, &[u8])> = popped.iter().map(|(s, m)| (*s, &**m)).collect();
    if nested {
        reply_elements(ctx.out, &borrowed, true);
    } else {
        ctx.out.array(borrowed.len() * 2);
        for (score, member) in borrowed {
            ctx.out.bulk(member);
            ctx.out.double(score);
        }
    }
}

// ---------------------------------------------------------------------------
// ZUNION ZINTER ZDIFF (+STORE), ZINTERCARD

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Redis `zunionInterAggregate`.
fn aggregate(target: &mut f64, val: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += val;
            // inf + -inf is NaN; Redis makes it 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// One input of a set operation: its position among the keys (to detect
/// the same key given twice, as Redis compares `subject` pointers), its
/// contents (a copy: the keyspace hands out one borrow at a time) and weight.
struct Source {
    slot: usize,
    key: Vec<u8>,
    z: Option<ZSetValue>,
    weight: f64,
}

impl Source {
    fn len(&self) -> usize {
        self.z.as_ref().map_or(0, ZSetValue::len)
    }
}

fn zunion(ctx: &mut Ctx, argv: &Argv) {
    set_op_generic(ctx, argv, None, SetOp::Union, false);
}

fn zinter(ctx: &mut Ctx, argv: &Argv) {
    set_op_generic(ctx, argv, None, SetOp::Inter, false);
}

fn zdiff(ctx: &mut Ctx, argv: &Argv) {
    set_op_generic(ctx, argv, None, SetOp::Diff, false);
}

fn zintercard(ctx: &mut Ctx, argv: &Argv) {
    set_op_generic(ctx, argv, None, SetOp::Inter, true);
}

fn zunionstore(ctx: &mut Ctx, argv: &Argv) {
    set_op_generic(ctx, argv, Some(argv.get(1)), SetOp::Union, false);
}

fn zinterstore(ctx: &mut Ctx, argv: &Argv) {
    set_op_generic(ctx, argv, Some(argv.get(1)), SetOp::Inter, false);
}

fn zdiffstore(ctx: &mut Ctx, argv: &Argv) {
    set_op_generic(ctx, argv, Some(argv.get(1)), SetOp::Diff, false);
}

/// Options after the keys of a set operation.
struct SetOpOptions {
    aggregate: Aggregate,
    withscores: bool,
    limit: usize,
}

/// Redis `zunionInterDiffGenericCommand`: numkeys, then the keys' types,
/// then the options, in that order of errors.
fn set_op_generic(ctx: &mut Ctx, argv: &Argv, dst: Option<&[u8]>, op: SetOp, card: bool) {
    let numkeys_at = if dst.is_some() { 2 } else { 1 };
    let setnum = match parse_long(argv.get(numkeys_at)) {
        Ok(n) => n,
        Err(e) => return ctx.out.error(e),
    };
    if setnum < 1 {
        let name = argv.get(0).to_ascii_lowercase();
        let text = format!(
            "ERR at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(&name)
        );
        return ctx.out.error(&text);
    }
    let first = numkeys_at + 1;
    let setnum = match usize::try_from(setnum) {
        Ok(n) if n <= argv.len() - first => n,
        _ => return ctx.out.error(ERR_SYNTAX),
    };
    let mut srcs = Vec::with_capacity(setnum);
    for slot in 0..setnum {
        let key = argv.get(first + slot);
        // Plain sets count as sorted sets with every score 1 (t_zset.c
        // `zuiInitIterator` over OBJ_SET).
        let z = match ctx.ks.lookup_read(key).map(|e| &e.value) {
            None => None,
            Some(Value::ZSet(z)) => Some(z.clone()),
            Some(Value::Set(set)) => Some(zset_from_set(set)),
            Some(_) => return ctx.out.error(ERR_WRONGTYPE),
        };
        srcs.push(Source {
            slot,
            key: key.to_vec(),
            z,
            weight: 1.0,
        });
    }
    let Some(opts) = parse_set_op_options(ctx, argv, first + setnum, &mut srcs, dst, op, card)
    else {
        return;
    };
    if op != SetOp::Diff {
        // qsort by cardinality (glibc's is a stable merge sort here).
        srcs.sort_by_key(Source::len);
    }
    if card {
        let n = inter_card(&srcs, opts.limit);
        return ctx.out.int(i64::try_from(n).unwrap_or(i64::MAX));
    }
    let result = match op {
        SetOp::Union => union(&srcs, opts.aggregate),
        SetOp::Inter => inter(&srcs, opts.aggregate),
        SetOp::Diff => diff(&srcs),
    };
    match dst {
        Some(dst) => {
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store_set_op(ctx, dst, result, event);
        }
        None => {
            let borrowed: Vec<(f64, &[u8])> = result.iter().map(|(s, m)| (*s, &**m)).collect();
            reply_elements(ctx.out, &borrowed, opts.withscores);
        }
    }
}

/// Parses WEIGHTS, AGGREGATE, WITHSCORES and LIMIT as each command allows.
/// `None` after an error reply.
fn parse_set_op_options(
    ctx: &mut Ctx,
    argv: &Argv,
    mut j: usize,
    srcs: &mut [Source],
    dst: Option<&[u8]>,
    op: SetOp,
    card: bool,
) -> Option<SetOpOptions> {
    let mut opts = SetOpOptions {
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let weighted = op != SetOp::Diff && !card;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let arg = cstr(argv.get(j));
        if weighted && remaining > srcs.len() && eq_ic(arg, "weights") {
            for (i, src) in srcs.iter_mut().enumerate() {
                match parse_f64(argv.get(j + 1 + i)) {
                    Some(w) => src.weight = w,
                    None => {
                        ctx.out.error("ERR weight value is not a float");
                        return None;
                    }
                }
            }
            j += 1 + srcs.len();
        } else if weighted && remaining >= 2 && eq_ic(arg, "aggregate") {
            let how = cstr(argv.get(j + 1));
            opts.aggregate = if eq_ic(how, "sum") {
                Aggregate::Sum
            } else if eq_ic(how, "min") {
                Aggregate::Min
            } else if eq_ic(how, "max") {
                Aggregate::Max
            } else {
                ctx.out.error(ERR_SYNTAX);
                return None;
            };
            j += 2;
        } else if dst.is_none() && !card && eq_ic(arg, "withscores") {
            opts.withscores = true;
            j += 1;
        } else if card && remaining >= 2 && eq_ic(arg, "limit") {
            match parse_i64(argv.get(j + 1)).and_then(|n| usize::try_from(n).ok()) {
                Some(n) => opts.limit = n,
                None => {
                    ctx.out.error("ERR LIMIT can't be negative");
                    return None;
                }
            }
            j += 2;
        } else {
            ctx.out.error(ERR_SYNTAX);
            return None;
        }
    }
    Some(opts)
}

/// Weighted score as Redis computes it for the first set (NaN becomes 0).
fn weighted(weight: f64, score: f64) -> f64 {
    let v = weight * score;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// Sorts a result like a skiplist: by score (`-0 == 0`), then member.
fn sorted(mut items: Vec<(f64, Box<[u8]>)>) -> Vec<(f64, Box<[u8]>)> {
    items.sort_by(|(a, am), (b, bm)| {
        a.partial_cmp(b)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| am.cmp(bm))
    });
    items
}

fn union(srcs: &[Source], how: Aggregate) -> Vec<(f64, Box<[u8]>)> {
    let mut acc: hashbrown::HashMap<&[u8], f64> = hashbrown::HashMap::new();
    let mut order: Vec<&[u8]> = Vec::new();
    for src in srcs {
        let Some(z) = &src.z else { continue };
        for (score, member) in z.iter() {
            let score = weighted(src.weight, score);
            match acc.get_mut(member) {
                Some(target) => aggregate(target, score, how),
                None => {
                    acc.insert(member, score);
                    order.push(member);
                }
            }
        }
    }
    sorted(
        order
            .into_iter()
            .map(|m| (acc.get(m).copied().unwrap_or(0.0), Box::from(m)))
            .collect(),
    )
}

/// Walks the smallest input and keeps the members every input has,
/// calling `keep` with each member and its aggregated score; `keep`
/// returns false to stop early (ZINTERCARD LIMIT).
fn inter_walk(srcs: &[Source], how: Aggregate, mut keep: impl FnMut(f64, &[u8]) -> bool) {
    let Some((first, rest)) = srcs.split_first() else {
        return;
    };
    let Some(z0) = &first.z else { return };
    if rest.iter().any(|s| s.z.is_none()) {
        return;
    }
    for (score0, member) in z0.iter() {
        let mut score = weighted(first.weight, score0);
        let mut everywhere = true;
        for src in rest {
            let found = if src.key == first.key {
                Some(score0)
            } else {
                src.z.as_ref().and_then(|z| z.score(member))
            };
            match found {
                Some(v) => aggregate(&mut score, v * src.weight, how),
                None => {
                    everywhere = false;
                    break;
                }
            }
        }
        if everywhere && !keep(score, member) {
            return;
        }
    }
}

fn inter(srcs: &[Source], how: Aggregate) -> Vec<(f64, Box<[u8]>)> {
    let mut out = Vec::new();
    inter_walk(srcs, how, |score, member| {
        out.push((score, Box::from(member)));
        true
    });
    sorted(out)
}

fn inter_card(srcs: &[Source], limit: usize) -> usize {
    let mut n = 0;
    inter_walk(srcs, Aggregate::Sum, |_, _| {
        n += 1;
        limit == 0 || n < limit
    });
    n
}

fn diff(srcs: &[Source]) -> Vec<(f64, Box<[u8]>)> {
    let Some((first, rest)) = srcs.split_first() else {
        return Vec::new();
    };
    let Some(z0) = &first.z else {
        return Vec::new();
    };
    // The same key again removes everything (Redis checks the object).
    if rest
        .iter()
        .any(|s| s.key == first.key && s.slot != first.slot)
    {
        return Vec::new();
    }
    let out = z0
        .iter()
        .filter(|(_, m)| {
            !rest
                .iter()
                .any(|s| s.z.as_ref().is_some_and(|z| z.score(m).is_some()))
        })
        .map(|(s, m)| (s, Box::from(m)))
        .collect();
    sorted(out)
}

/// Stores a set-operation result (Redis builds a skiplist, then
/// `zsetConvertToListpackIfNeeded`: a listpack when it fits, which turns
/// -0 scores into 0) and replies with its size; an empty result deletes.
fn store_set_op(ctx: &mut Ctx, dst: &[u8], result: Vec<(f64, Box<[u8]>)>, event: &'static str) {
    let n = result.len();
    if n == 0 {
        ctx.ks.delete_notified(dst);
        return ctx.out.int(0);
    }
    let limits = ctx.srv.encoding_limits();
    let member_len_max = result.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
    let fits = i64::try_from(n).is_ok_and(|n| n <= limits.zset_max_listpack_entries)
        && i64::try_from(member_len_max).is_ok_and(|l| l <= limits.zset_max_listpack_value);
    let mut z = if fits {
        ZSetValue::default()
    } else {
        ZSetValue::for_first_member(usize::MAX, 0, 0)
    };
    for (score, member) in result {
        z.insert(&member, score);
    }
    ctx.ks.set(dst, Value::ZSet(z), 0);
    ctx.ks.notify(events::ZSET, event, dst);
    ctx.out.int(i64::try_from(n).unwrap_or(i64::MAX));
}

// ---------------------------------------------------------------------------
// ZMPOP

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count] (Redis
/// `zmpopGenericCommand`): pops from the first non-empty key and replies
/// `[key, [[member, score], ...]]` (nested in RESP2 too), or a null array.
fn zmpop(ctx: &mut Ctx, argv: &Argv) {
    const ERR_NUMKEYS: &str = "ERR numkeys should be greater than 0";
    const ERR_COUNT: &str = "ERR count should be greater than 0";
    let numkeys = match parse_i64(argv.get(1)) {
        Some(n) if n >= 1 => n,
        _ => return ctx.out.error(ERR_NUMKEYS),
    };
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(2))
        .filter(|&w| w < argv.len());
    let Some(where_at) = where_at else {
        return ctx.out.error(ERR_SYNTAX);
    };
    let side = cstr(argv.get(where_at));
    let max = if eq_ic(side, "min") {
        false
    } else if eq_ic(side, "max") {
        true
    } else {
        return ctx.out.error(ERR_SYNTAX);
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if count.is_none() && more && eq_ic(cstr(argv.get(j)), "count") {
            match parse_i64(argv.get(j + 1)) {
                Some(n) if n >= 1 => count = Some(n),
                _ => return ctx.out.error(ERR_COUNT),
            }
            j += 2;
        } else {
            return ctx.out.error(ERR_SYNTAX);
        }
    }
    for key in (2..where_at).map(|i| argv.get(i)) {
        let popped = match write_zset(ctx, key) {
            Err(()) => return,
            Ok(None) => continue,
            Ok(Some(z)) => pop_from(z, count.unwrap_or(1), max),
        };
        removed_from(ctx, key, popped.len(), zpop_event(max));
        // Replicated as ZPOPMIN/ZPOPMAX key <count popped> (t_zset.c).
        let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        ctx.propagate_as(&[name, key, popped.len().to_string().as_bytes()]);
        ctx.out.array(2);
        ctx.out.bulk(key);
        ctx.out.array(popped.len());
        for (score, member) in &popped {
            ctx.out.array(2);
            ctx.out.bulk(member);
            ctx.out.double(*score);
        }
        return;
    }
    ctx.out.null_array();
}

// ---------------------------------------------------------------------------
// ZRANDMEMBER

/// A random index below `n` (0 when `n` is 0).
fn random_below(n: usize) -> usize {
    (super::keys::random_u64() % n.max(1) as u64) as usize
}

/// ZRANDMEMBER key [count [WITHSCORES]] (Redis `zrandmemberCommand`).
/// Which members come back is random; the forms and counts match Redis.
fn zrandmember(ctx: &mut Ctx, argv: &Argv) {
    if argv.len() == 2 {
        let Ok(z) = read_zset(ctx, argv.get(1)) else {
            return;
        };
        let picked = z.and_then(|z| {
            let at = random_below(z.len().max(1));
            z.iter().nth(at).map(|(_, m)| m.to_vec())
        });
        return match picked {
            Some(member) => ctx.out.bulk(&member),
            None => ctx.out.null(),
        };
    }
    let count = match parse_i64(argv.get(2)) {
        None => return ctx.out.error(ERR_NOT_INT),
        Some(i64::MIN) => {
            return ctx.out.error(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            )
        }
        Some(n) => n,
    };
    let withscores = match argv.try_get(3) {
        _ if argv.len() > 4 => return ctx.out.error(ERR_SYNTAX),
        None => false,
        Some(arg) if eq_ic(arg, "withscores") => {
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
                return ctx.out.error("ERR value is out of range");
            }
            true
        }
        Some(_) => return ctx.out.error(ERR_SYNTAX),
    };
    let Ok(z) = read_zset(ctx, argv.get(1)) else {
        return;
    };
    let Some(z) = z.filter(|_| count != 0) else {
        return ctx.out.array(0);
    };
    let owned: Vec<(f64, Box<[u8]>)> = z.iter().map(|(s, m)| (s, m.into())).collect();
    let entries: Vec<(f64, &[u8])> = owned.iter().map(|(s, m)| (*s, &**m)).collect();
    let out = &mut *ctx.out;
    let emit = |out: &mut ReplyBuf, (score, member): (f64, &[u8])| {
        if withscores && out.resp3 {
            out.array(2);
        }
        out.bulk(member);
        if withscores {
            out.double(score);
        }
    };
    let pairs = |n: usize| {
        if withscores && !out.resp3 {
            n.saturating_mul(2)
        } else {
            n
        }
    };
    if count < 0 {
        // With repetition: exactly |count| picks, streamed without a
        // count-sized allocation.
        let n = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        out.array(pairs(n));
        for _ in 0..n {
            if let Some(&entry) = entries.get(random_below(entries.len())) {
                emit(out, entry);
            }
        }
        return;
    }
    let n = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(entries.len());
    // Distinct members: a partial Fisher-Yates shuffle of the indexes.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    for i in 0..n {
        let j = i + random_below(order.len() - i);
        order.swap(i, j);
    }
    out.array(pairs(n));
    for &i in order.iter().take(n) {
        if let Some(&entry) = entries.get(i) {
            emit(out, entry);
        }
    }
}

/// A plain set as a sorted set with every score 1, for ZUNION and friends.
fn zset_from_set(set: &crate::store::set::SetValue) -> ZSetValue {
    // The big form for big sets: inserting into the compact one is O(n).
    let entries_max = if set.len() > 128 { 0 } else { i64::MAX };
    let mut z = ZSetValue::for_first_member(0, entries_max, i64::MAX);
    for member in set.iter() {
        z.insert(&member.to_vec(), 1.0);
    }
    z
}

// ---------------------------------------------------------------------------
// ZSCAN

/// A score as a listpack stores it (util.c `d2string`): integral values
/// within +-LLONG_MAX/2 print as integers ("100000000000000000"), others
/// as `%.17g`.
fn listpack_score_text(score: f64, out: &mut Vec<u8>) {
    const HALF: f64 = (i64::MAX / 2) as f64;
    if score.is_finite() && (-HALF..=HALF).contains(&score) && score.fract() == 0.0 {
        out.extend_from_slice(itoa::Buffer::new().format(score as i64).as_bytes());
    } else {
        crate::num::fmt_g17(score, out);
    }
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]. Every zset is returned
/// whole in one call with cursor 0: Redis does so for listpacks, and for
/// skiplists it is a valid (if large) SCAN answer that needs no cursor
/// state; elements come in score order. Differs from Redis for skiplists:
/// Redis walks its hash table in COUNT-sized steps.
fn zscan(ctx: &mut Ctx, argv: &Argv) {
    let Some(cursor) = parse_cursor(argv.get(2)) else {
        return ctx.out.error("ERR invalid cursor");
    };
    let key = argv.get(1);
    // The key is looked up before the options are parsed (db.c).
    let exists = match read_zset(ctx, key) {
        Err(()) => return,
        Ok(z) => z.is_some(),
    };
    if !exists {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        return ctx.out.array(0);
    }
    // COUNT is validated, but a zset is returned whole (see above).
    let pattern = match super::keys::parse_scan_options(argv, 3, false) {
        Ok(opts) => opts.pattern,
        Err(e) => return ctx.out.error(e),
    };
    let Ok(Some(z)) = read_zset(ctx, key) else {
        return;
    };
    let listpack = matches!(z, ZSetValue::Small(_));
    // A listpack ignores the cursor (Redis returns it all); for a skiplist
    // we never hand out a nonzero cursor, so one ends the iteration.
    let skip_all = !listpack && cursor != 0;
    let mut items: Vec<Vec<u8>> = Vec::new();
    for (score, member) in z.iter().filter(|_| !skip_all) {
        if pattern.is_some_and(|p| !crate::glob::glob_match(p, member, false)) {
            continue;
        }
        items.push(member.to_vec());
        let mut text = Vec::new();
        if listpack {
            listpack_score_text(score, &mut text);
        } else {
            // db.c `scanCallback`: ld2string(LD_STR_AUTO), i.e. %.17Lg.
            crate::num::fmt_g17(score, &mut text);
        }
        items.push(text);
    }
    ctx.out.array(2);
    ctx.out.bulk(b"0");
    ctx.out.array(items.len());
    for item in &items {
        ctx.out.bulk(item);
    }
}
