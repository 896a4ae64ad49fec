//! Set commands (Redis 7.0 t_set.c): SADD SREM SISMEMBER SMISMEMBER SCARD
//! SMEMBERS SPOP SRANDMEMBER SMOVE SUNION SINTER SDIFF SUNIONSTORE
//! SINTERSTORE SDIFFSTORE SINTERCARD SSCAN. Table rows live here (see
//! `super::command_table`); the value type lives in `crate::store::set`.
//!
//! Owns: argument parsing for these commands and their effect on set values.
//! Must not touch other types' values: every read checks for
//! [`Value::Set`] and answers WRONGTYPE otherwise.
//!
//! Key invariants, as Redis keeps them:
//! - a set that becomes empty is deleted;
//! - results of SUNION/SINTER/SDIFF (and their STORE forms) are built by
//!   adding members to a fresh intset one by one, as t_set.c does, so the
//!   stored encoding and the reply order (ascending for an intset) match;
//! - `server.dirty` grows as in t_set.c (SADD by the number added, SPOP by
//!   the number popped), and each changed key is signalled once.
//!
//! Multi-key commands move the source sets out of the keyspace while they
//! work (one `Value` swap per key, see [`Sources`]) so several sets in
//! different stripes can be read at once without cloning them.

use super::keys::parse_cursor;
use super::{command_table, cstr, eq_ic, Ctx, ERR_NOT_INT, ERR_SYNTAX, ERR_WRONGTYPE};
use crate::cmd::flags::*;
use crate::glob::glob_match;
use crate::num::parse_i64;
use crate::protocol::Argv;
use crate::store::set::{intset_max_entries, Member, SetValue};
use crate::store::{events, Entry, Value};

const W: u32 = WRITE | DENYOOM;
const WF: u32 = WRITE | DENYOOM | FAST;
const RF: u32 = READONLY | FAST;

command_table! {
    pub static TABLE;
    "sadd", -3, WF, (1, 1, 1), "@write @set @fast", sadd;
    "srem", -3, WRITE | FAST, (1, 1, 1), "@write @set @fast", srem;
    "sismember", 3, RF, (1, 1, 1), "@read @set @fast", sismember;
    "smismember", -3, RF, (1, 1, 1), "@read @set @fast", smismember;
    "scard", 2, RF, (1, 1, 1), "@read @set @fast", scard;
    "smembers", 2, READONLY, (1, 1, 1), "@read @set @slow", smembers;
    "spop", -2, WRITE | FAST, (1, 1, 1), "@write @set @fast", spop;
    "srandmember", -2, READONLY, (1, 1, 1), "@read @set @slow", srandmember;
    "smove", 4, WRITE | FAST, (1, 2, 1), "@write @set @fast", smove;
    "sunion", -2, READONLY, (1, -1, 1), "@read @set @slow", sunion;
    "sinter", -2, READONLY, (1, -1, 1), "@read @set @slow", sinter;
    "sdiff", -2, READONLY, (1, -1, 1), "@read @set @slow", sdiff;
    "sunionstore", -3, W, (1, -1, 1), "@write @set @slow", sunionstore;
    "sinterstore", -3, W, (1, -1, 1), "@write @set @slow", sinterstore;
    "sdiffstore", -3, W, (1, -1, 1), "@write @set @slow", sdiffstore;
    "sintercard", -3, READONLY, (-1, 0, 1), "@read @set @slow", sintercard;
    "sscan", -3, READONLY, (1, 1, 1), "@read @set @slow", sscan;
}

const ERR_POSITIVE: &str = "ERR value is out of range, must be positive";
const ERR_SRANDMEMBER_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const ERR_NUMKEYS: &str = "ERR numkeys should be greater than 0";
const ERR_NUMKEYS_ARGS: &str = "ERR Number of keys can't be greater than number of args";
const ERR_LIMIT: &str = "ERR LIMIT can't be negative";
/// sluice only: Redis would try to build any SRANDMEMBER reply with repeats
/// (`SRANDMEMBER k -9223372036854775807`) until memory runs out; we refuse
/// counts whose reply could not reasonably be sent.
const ERR_COUNT_TOO_LARGE: &str = "ERR count is too large";
/// The largest SRANDMEMBER count with repeats sluice serves.
const RANDOM_REPLY_MAX: u64 = 10_000_000;

/// `set-max-intset-entries` for this command.
fn max_intset(ctx: &Ctx) -> usize {
    intset_max_entries(ctx.srv.encoding_limits().set_max_intset_entries)
}

/// [`as_set`] for reading.
fn set_ref(entry: Option<&Entry>) -> Result<Option<&SetValue>, ()> {
    match entry.map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(()),
    }
}

/// The set in `entry`: `Ok(None)` when missing, `Err` for another type.
fn as_set(entry: Option<&mut Entry>) -> Result<Option<&mut SetValue>, ()> {
    match entry {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(()),
        },
    }
}

fn reply_member(out: &mut crate::protocol::ReplyBuf, m: Member) {
    match m {
        Member::Int(n) => out.bulk_int(n),
        Member::Bytes(b) => out.bulk(b),
    }
}

/// A uniform random index below `n` (n > 0).
fn random_below(n: usize) -> usize {
    (super::keys::random_u64() % n as u64) as usize
}

// ---------------------------------------------------------------------------
// Single-key commands

pub fn sadd(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let max = max_intset(ctx);
    let added = match as_set(ctx.ks.lookup_write(key)) {
        Err(()) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(Some(set)) => {
            let added = argv.iter().skip(2).filter(|m| set.add(m, max)).count();
            if added > 0 {
                ctx.ks.modified(key);
            }
            added
        }
        Ok(None) => {
            let mut set = SetValue::new_for(argv.get(2));
            let added = argv.iter().skip(2).filter(|m| set.add(m, max)).count();
            ctx.ks.set(key, Value::Set(Box::new(set)), 0);
            added
        }
    };
    ctx.ks.dirty += (added as u64).saturating_sub(1);
    if added > 0 {
        ctx.ks.notify(events::SET, "sadd", key);
    }
    ctx.out.int(added as i64);
}

pub fn srem(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let (deleted, emptied) = match as_set(ctx.ks.lookup_write(key)) {
        Err(()) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(set)) => {
            let mut deleted = 0u64;
            for m in argv.iter().skip(2) {
                if set.remove(m) {
                    deleted += 1;
                    if set.is_empty() {
                        break;
                    }
                }
            }
            (deleted, set.is_empty())
        }
    };
    if emptied {
        ctx.ks.remove(key);
    }
    if deleted > 0 {
        ctx.ks.modified(key);
        ctx.ks.dirty += deleted - 1;
        ctx.ks.notify(events::SET, "srem", key);
        if emptied {
            ctx.ks.notify(events::GENERIC, "del", key);
        }
    }
    ctx.out.int(deleted as i64);
}

pub fn sismember(ctx: &mut Ctx, argv: &Argv) {
    match set_ref(ctx.ks.lookup_read(argv.get(1))) {
        Err(()) => ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => ctx.out.int(0),
        Ok(Some(set)) => ctx.out.int(i64::from(set.contains(argv.get(2)))),
    }
}

pub fn smismember(ctx: &mut Ctx, argv: &Argv) {
    match set_ref(ctx.ks.lookup_read(argv.get(1))) {
        Err(()) => ctx.out.error(ERR_WRONGTYPE),
        Ok(set) => {
            ctx.out.array(argv.len() - 2);
            for m in argv.iter().skip(2) {
                let found = set.as_ref().is_some_and(|s| s.contains(m));
                ctx.out.int(i64::from(found));
            }
        }
    }
}

pub fn scard(ctx: &mut Ctx, argv: &Argv) {
    match set_ref(ctx.ks.lookup_read(argv.get(1))) {
        Err(()) => ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => ctx.out.int(0),
        Ok(Some(set)) => ctx.out.int(set.len() as i64),
    }
}

/// SMEMBERS: SINTER of one key (t_set.c `sinterCommand`), so the reply is
/// a set in the set's own order.
pub fn smembers(ctx: &mut Ctx, argv: &Argv) {
    match set_ref(ctx.ks.lookup_read(argv.get(1))) {
        Err(()) => ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => ctx.out.set(0),
        Ok(Some(set)) => {
            ctx.out.set(set.len());
            for m in set.iter() {
                reply_member(ctx.out, m);
            }
        }
    }
}

/// `count` distinct random positions below `n` (count <= n): rejection
/// sampling when few are wanted, else a partial Fisher-Yates shuffle.
fn distinct_positions(n: usize, count: usize) -> Vec<usize> {
    let count = count.min(n);
    if count.saturating_mul(4) < n {
        let mut picked = hashbrown::HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let i = random_below(n);
            if picked.insert(i) {
                out.push(i);
            }
        }
        return out;
    }
    let mut all: Vec<usize> = (0..n).collect();
    for i in 0..count {
        let j = i + random_below(n - i);
        all.swap(i, j);
    }
    all.truncate(count);
    all
}

/// The members at `positions`, copied out.
fn members_at(set: &SetValue, positions: &[usize]) -> Vec<Vec<u8>> {
    positions
        .iter()
        .filter_map(|&i| set.nth(i).map(Member::to_vec))
        .collect()
}

pub fn spop(ctx: &mut Ctx, argv: &Argv) {
    match argv.len() {
        2 => spop_one(ctx, argv.get(1)),
        3 => spop_count(ctx, argv),
        _ => ctx.out.error(ERR_SYNTAX),
    }
}

fn spop_one(ctx: &mut Ctx, key: &[u8]) {
    let (member, emptied) = match as_set(ctx.ks.lookup_write(key)) {
        Err(()) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.null(),
        Ok(Some(set)) => {
            let Some(member) = set.nth(random_below(set.len().max(1))).map(Member::to_vec) else {
                return ctx.out.null();
            };
            set.remove(&member);
            (member, set.is_empty())
        }
    };
    ctx.out.bulk(&member);
    if emptied {
        ctx.ks.remove(key);
    }
    ctx.ks.modified(key);
    ctx.ks.notify(events::SET, "spop", key);
    if emptied {
        ctx.ks.notify(events::GENERIC, "del", key);
    }
    // Replicated as the SREM it amounts to (t_set.c `spopCommand`).
    ctx.propagate_as(&[b"SREM", key, &member]);
}

/// SPOP key count (t_set.c `spopWithCountCommand`), including its three
/// strategies, because they decide the encoding left behind: popping most
/// of a set rebuilds it from the members that stay, so a hashtable of
/// integers can become an intset again.
fn spop_count(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let Some(count) = parse_i64(argv.get(2)).filter(|n| *n >= 0) else {
        return ctx.out.error(ERR_POSITIVE);
    };
    let max = max_intset(ctx);
    let set = match as_set(ctx.ks.lookup_write(key)) {
        Err(()) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.set(0),
        Ok(Some(set)) => set,
    };
    if count == 0 {
        return ctx.out.set(0);
    }
    let size = set.len();
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count >= size {
        // The whole set, as SUNION of the one key replies it (whose
        // lookupKeyRead counts a keyspace hit, below).
        let mut union = SetValue::empty_intset();
        for m in set.iter() {
            union.add_member(m, max);
        }
        ctx.out.set(union.len());
        for m in union.iter() {
            reply_member(ctx.out, m);
        }
        ctx.ks.hits += 1;
        ctx.ks.delete(key);
        ctx.ks.notify(events::SET, "spop", key);
        ctx.ks.notify(events::GENERIC, "del", key);
        ctx.propagate_as(&[b"DEL", key]);
        ctx.ks.dirty += size as u64 - 1;
        return;
    }
    let remaining = size - count;
    ctx.out.set(count);
    let mut popped: Vec<Vec<u8>> = Vec::with_capacity(count.min(1024));
    if remaining.saturating_mul(5) > count {
        // Case 2: pop random members one by one.
        for m in members_at(set, &distinct_positions(size, count)) {
            set.remove(&m);
            ctx.out.bulk(&m);
            popped.push(m);
        }
    } else {
        // Case 3: keep `remaining` random members in a new set, reply the rest.
        let keep = members_at(set, &distinct_positions(size, remaining));
        let mut kept = SetValue::new_for(keep.first().map_or(&b""[..], |m| m));
        for m in &keep {
            kept.add(m, max);
            set.remove(m);
        }
        for m in set.iter() {
            reply_member(ctx.out, m);
            popped.push(m.to_vec());
        }
        *set = kept;
    }
    ctx.ks.modified(key);
    ctx.ks.dirty += count as u64 - 1;
    ctx.ks.notify(events::SET, "spop", key);
    // One SREM per member, wrapped in MULTI/EXEC (t_set.c
    // `spopWithCountCommand` alsoPropagate + preventCommandPropagation).
    for m in &popped {
        ctx.also_propagate(&[b"SREM", key, m]);
    }
}

pub fn srandmember(ctx: &mut Ctx, argv: &Argv) {
    match argv.len() {
        2 => match set_ref(ctx.ks.lookup_read(argv.get(1))) {
            Err(()) => ctx.out.error(ERR_WRONGTYPE),
            Ok(None) => ctx.out.null(),
            Ok(Some(set)) => match set.nth(random_below(set.len().max(1))) {
                Some(m) => reply_member(ctx.out, m),
                None => ctx.out.null(),
            },
        },
        3 => srandmember_count(ctx, argv),
        _ => ctx.out.error(ERR_SYNTAX),
    }
}

/// SRANDMEMBER key count (t_set.c `srandmemberWithCountCommand`): a
/// negative count allows repeats.
fn srandmember_count(ctx: &mut Ctx, argv: &Argv) {
    let Some(l) = parse_i64(argv.get(2)) else {
        return ctx.out.error(ERR_NOT_INT);
    };
    if l == i64::MIN {
        return ctx.out.error(ERR_SRANDMEMBER_RANGE);
    }
    let (count, unique) = (l.unsigned_abs(), l >= 0);
    let set = match set_ref(ctx.ks.lookup_read(argv.get(1))) {
        Err(()) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => return ctx.out.array(0),
        Ok(Some(set)) => set,
    };
    if count == 0 {
        return ctx.out.array(0);
    }
    let size = set.len();
    if !unique || count == 1 {
        if count > RANDOM_REPLY_MAX {
            return ctx.out.error(ERR_COUNT_TOO_LARGE);
        }
        ctx.out.array(count as usize);
        for _ in 0..count {
            // Never None: size > 0 and the index is below it.
            if let Some(m) = set.nth(random_below(size)) {
                reply_member(ctx.out, m);
            }
        }
        return;
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count >= size {
        ctx.out.array(size);
        for m in set.iter() {
            reply_member(ctx.out, m);
        }
        return;
    }
    ctx.out.array(count);
    for i in distinct_positions(size, count) {
        if let Some(m) = set.nth(i) {
            reply_member(ctx.out, m);
        }
    }
}

pub fn smove(ctx: &mut Ctx, argv: &Argv) {
    let (src, dst, member) = (argv.get(1), argv.get(2), argv.get(3));
    // Both lookups first, as t_set.c does (each may expire its key).
    let src_kind = as_set(ctx.ks.lookup_write(src)).map(|s| s.is_some());
    let dst_kind = as_set(ctx.ks.lookup_write(dst)).map(|s| s.is_some());
    match src_kind {
        Ok(false) => return ctx.out.int(0),
        Err(()) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(true) => {}
    }
    let Ok(dst_exists) = dst_kind else {
        return ctx.out.error(ERR_WRONGTYPE);
    };
    if src == dst {
        let found = as_set(ctx.ks.lookup_write(src))
            .ok()
            .flatten()
            .is_some_and(|s| s.contains(member));
        return ctx.out.int(i64::from(found));
    }
    let Ok(Some(src_set)) = as_set(ctx.ks.lookup_write(src)) else {
        return ctx.out.int(0);
    };
    if !src_set.remove(member) {
        return ctx.out.int(0);
    }
    let emptied = src_set.is_empty();
    if emptied {
        ctx.ks.remove(src);
    }
    ctx.ks.modified(src);
    ctx.ks.notify(events::SET, "srem", src);
    if emptied {
        ctx.ks.notify(events::GENERIC, "del", src);
    }
    let max = max_intset(ctx);
    if dst_exists {
        if let Ok(Some(dst_set)) = as_set(ctx.ks.lookup_write(dst)) {
            if dst_set.add(member, max) {
                ctx.ks.modified(dst);
                ctx.ks.notify(events::SET, "sadd", dst);
            }
        }
    } else {
        let mut set = SetValue::new_for(member);
        set.add(member, max);
        ctx.ks.set(dst, Value::Set(Box::new(set)), 0);
        ctx.ks.notify(events::SET, "sadd", dst);
    }
    ctx.out.int(1);
}

// ---------------------------------------------------------------------------
// Multi-key commands

/// Source sets of a multi-key command, moved out of the keyspace (their
/// `Value` swapped for a placeholder) until [`Sources::restore`].
///
/// `slots[i]` is the set of the i-th key named: `None` for a missing key,
/// else an index into `taken`; a key named twice shares one slot, which is
/// how t_set.c's `sets[0] == sets[j]` pointer test reads here.
struct Sources {
    taken: Vec<(Vec<u8>, Box<SetValue>)>,
    slots: Vec<Option<usize>>,
}

impl Sources {
    /// Looks up `keys` in order (lookupKeyRead). On a key of another type
    /// restores what was taken, replies WRONGTYPE and returns `None`.
    fn take<'k>(ctx: &mut Ctx, keys: impl Iterator<Item = &'k [u8]>) -> Option<Sources> {
        let mut sources = Sources {
            taken: Vec::new(),
            slots: Vec::new(),
        };
        let mut seen: hashbrown::HashMap<&[u8], Option<usize>> = hashbrown::HashMap::new();
        for key in keys {
            if let Some(&slot) = seen.get(key) {
                // Counted again in the stats, as Redis looks it up again.
                ctx.ks.lookup_read(key);
                sources.slots.push(slot);
                continue;
            }
            // Counted as a read; taken out through lookup_write so a
            // running snapshot keeps the set's preimage first.
            let found = ctx.ks.lookup_read(key).is_some();
            let slot = match ctx.ks.lookup_write(key).filter(|_| found) {
                None => None,
                Some(entry) => match &mut entry.value {
                    Value::Set(_) => {
                        let Value::Set(set) = std::mem::replace(&mut entry.value, Value::Int(0))
                        else {
                            unreachable!("checked above")
                        };
                        sources.taken.push((key.to_vec(), set));
                        Some(sources.taken.len() - 1)
                    }
                    _ => {
                        sources.restore(ctx);
                        ctx.out.error(ERR_WRONGTYPE);
                        return None;
                    }
                },
            };
            seen.insert(key, slot);
            sources.slots.push(slot);
        }
        Some(sources)
    }

    fn set(&self, slot: usize) -> &SetValue {
        &self.taken[slot].1
    }

    fn len_of(&self, slot: Option<usize>) -> usize {
        slot.map_or(0, |s| self.set(s).len())
    }

    /// Puts every taken set back.
    fn restore(self, ctx: &mut Ctx) {
        for (key, set) in self.taken {
            if let Some(entry) = ctx.ks.lookup_write(&key) {
                entry.value = Value::Set(set);
            }
        }
    }
}

/// What a SINTER/SUNION/SDIFF result turns into.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Output<'a> {
    /// Reply with the members.
    Reply,
    /// Store into this key and reply its size.
    Store(&'a [u8]),
}

/// Stores a result (or deletes `dst` when it is empty) and replies its size,
/// as the STORE branches of t_set.c do.
fn store_result(ctx: &mut Ctx, dst: &[u8], result: SetValue, event: &'static str) {
    let len = result.len();
    if len > 0 {
        ctx.ks.set(dst, Value::Set(Box::new(result)), 0);
        ctx.ks.notify(events::SET, event, dst);
    } else {
        ctx.ks.delete_notified(dst);
    }
    ctx.out.int(len as i64);
}

/// t_set.c `sinterGenericCommand`: SINTER, SINTERSTORE, SMEMBERS-like and
/// (with `card_limit`) SINTERCARD, where `Some(0)` means no limit.
fn sinter_generic<'k>(
    ctx: &mut Ctx,
    keys: impl Iterator<Item = &'k [u8]>,
    output: Output,
    card_limit: Option<usize>,
) {
    let Some(sources) = Sources::take(ctx, keys) else {
        return;
    };
    if sources.slots.iter().any(Option::is_none) {
        sources.restore(ctx);
        match (output, card_limit) {
            (Output::Store(dst), _) => {
                ctx.ks.delete_notified(dst);
                ctx.out.int(0);
            }
            (Output::Reply, Some(_)) => ctx.out.int(0),
            (Output::Reply, None) => ctx.out.set(0),
        }
        return;
    }
    // Smallest first (a stable sort; qsort's order among equal sizes only
    // changes the order of a hashtable reply).
    let mut order: Vec<usize> = sources.slots.iter().flatten().copied().collect();
    order.sort_by_key(|&s| sources.set(s).len());
    let first = order[0];
    let others: Vec<&SetValue> = order[1..]
        .iter()
        .filter(|&&s| s != first)
        .map(|&s| sources.set(s))
        .collect();
    let common = sources
        .set(first)
        .iter()
        .filter(|m| others.iter().all(|o| o.contains_member(*m)));
    match (output, card_limit) {
        (_, Some(limit)) => {
            let mut n = 0usize;
            for _ in common {
                n += 1;
                if limit != 0 && n >= limit {
                    break;
                }
            }
            sources.restore(ctx);
            ctx.out.int(n as i64);
        }
        (Output::Reply, None) => {
            let found: Vec<Member> = common.collect();
            ctx.out.set(found.len());
            for m in found {
                reply_member(ctx.out, m);
            }
            sources.restore(ctx);
        }
        (Output::Store(dst), None) => {
            let max = max_intset(ctx);
            let mut result = SetValue::empty_intset();
            for m in common {
                result.add_member(m, max);
            }
            sources.restore(ctx);
            store_result(ctx, dst, result, "sinterstore");
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Diff,
}

/// t_set.c `sunionDiffGenericCommand`, including SDIFF's choice between its
/// two algorithms: algorithm 2 adds all of the first set before removing,
/// which can leave a hashtable where algorithm 1 builds an intset.
fn sunion_diff_generic<'k>(
    ctx: &mut Ctx,
    keys: impl Iterator<Item = &'k [u8]>,
    output: Output,
    op: SetOp,
) {
    let Some(sources) = Sources::take(ctx, keys) else {
        return;
    };
    let max = max_intset(ctx);
    let slots = &sources.slots;
    let first = slots[0];
    let same_set = first.is_some() && slots[1..].contains(&first);
    let mut result = SetValue::empty_intset();
    match op {
        SetOp::Union => {
            for &slot in slots.iter().flatten() {
                for m in sources.set(slot).iter() {
                    result.add_member(m, max);
                }
            }
        }
        SetOp::Diff if same_set => {}
        SetOp::Diff => {
            if let Some(first) = first {
                let first_len = sources.set(first).len() as u64;
                let present: Vec<usize> = slots.iter().flatten().copied().collect();
                let algo_one = first_len * present.len() as u64 / 2;
                let algo_two: u64 = present.iter().map(|&s| sources.set(s).len() as u64).sum();
                if algo_one <= algo_two {
                    let mut rest: Vec<Option<usize>> = slots[1..].to_vec();
                    rest.sort_by_key(|&s| std::cmp::Reverse(sources.len_of(s)));
                    let rest: Vec<&SetValue> =
                        rest.iter().flatten().map(|&s| sources.set(s)).collect();
                    for m in sources.set(first).iter() {
                        if !rest.iter().any(|o| o.contains_member(m)) {
                            result.add_member(m, max);
                        }
                    }
                } else {
                    for m in sources.set(first).iter() {
                        result.add_member(m, max);
                    }
                    for &slot in slots[1..].iter().flatten() {
                        if result.is_empty() {
                            break;
                        }
                        for m in sources.set(slot).iter() {
                            result.remove_member(m);
                        }
                    }
                }
            }
        }
    }
    sources.restore(ctx);
    match output {
        Output::Reply => {
            ctx.out.set(result.len());
            for m in result.iter() {
                reply_member(ctx.out, m);
            }
        }
        Output::Store(dst) => {
            let event = match op {
                SetOp::Union => "sunionstore",
                SetOp::Diff => "sdiffstore",
            };
            store_result(ctx, dst, result, event);
        }
    }
}

pub fn sinter(ctx: &mut Ctx, argv: &Argv) {
    sinter_generic(ctx, argv.iter().skip(1), Output::Reply, None);
}

pub fn sinterstore(ctx: &mut Ctx, argv: &Argv) {
    sinter_generic(ctx, argv.iter().skip(2), Output::Store(argv.get(1)), None);
}

pub fn sunion(ctx: &mut Ctx, argv: &Argv) {
    sunion_diff_generic(ctx, argv.iter().skip(1), Output::Reply, SetOp::Union);
}

pub fn sunionstore(ctx: &mut Ctx, argv: &Argv) {
    let dst = Output::Store(argv.get(1));
    sunion_diff_generic(ctx, argv.iter().skip(2), dst, SetOp::Union);
}

pub fn sdiff(ctx: &mut Ctx, argv: &Argv) {
    sunion_diff_generic(ctx, argv.iter().skip(1), Output::Reply, SetOp::Diff);
}

pub fn sdiffstore(ctx: &mut Ctx, argv: &Argv) {
    let dst = Output::Store(argv.get(1));
    sunion_diff_generic(ctx, argv.iter().skip(2), dst, SetOp::Diff);
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(ctx: &mut Ctx, argv: &Argv) {
    let Some(numkeys) = parse_i64(argv.get(1)).filter(|n| *n >= 1) else {
        return ctx.out.error(ERR_NUMKEYS);
    };
    let numkeys = match usize::try_from(numkeys) {
        Ok(n) if n <= argv.len() - 2 => n,
        _ => return ctx.out.error(ERR_NUMKEYS_ARGS),
    };
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < argv.len() {
        if eq_ic(cstr(argv.get(i)), "limit") && i + 1 < argv.len() {
            i += 1;
            match parse_i64(argv.get(i)).filter(|n| *n >= 0) {
                Some(n) => limit = usize::try_from(n).unwrap_or(usize::MAX),
                None => return ctx.out.error(ERR_LIMIT),
            }
        } else {
            return ctx.out.error(ERR_SYNTAX);
        }
        i += 1;
    }
    let keys = argv.iter().skip(2).take(numkeys);
    sinter_generic(ctx, keys, Output::Reply, Some(limit));
}

// ---------------------------------------------------------------------------
// SSCAN

/// A 63-bit hash ordering a hashtable's members for SSCAN, fixed for the
/// life of the process (FNV-1a), so a cursor stays meaningful across calls
/// and table resizes.
fn scan_hash(member: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in member {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h >> 1
}

/// SSCAN key cursor [MATCH pattern] [COUNT count] (db.c `scanGenericCommand`).
///
/// An intset answers everything at once with cursor 0, as Redis does. A
/// hashtable is walked in [`scan_hash`] order: the cursor is the hash to
/// resume from, so every member present for the whole iteration is returned
/// at least once, whatever is added or removed in between.
pub fn sscan(ctx: &mut Ctx, argv: &Argv) {
    let Some(cursor) = parse_cursor(argv.get(2)) else {
        return ctx.out.error("ERR invalid cursor");
    };
    let set = match set_ref(ctx.ks.lookup_read(argv.get(1))) {
        Err(()) => return ctx.out.error(ERR_WRONGTYPE),
        Ok(None) => {
            ctx.out.array(2);
            ctx.out.bulk(b"0");
            return ctx.out.array(0);
        }
        Ok(Some(set)) => set,
    };
    let super::keys::ScanOptions { count, pattern, .. } =
        match super::keys::parse_scan_options(argv, 3, false) {
            Ok(opts) => opts,
            Err(e) => return ctx.out.error(e),
        };
    let (next, batch): (u64, Vec<Member>) = match set {
        SetValue::Intset(_) => (0, set.iter().collect()),
        SetValue::Hashtable(_) => {
            let mut batch: Vec<(u64, Member)> = set
                .iter()
                .filter_map(|m| {
                    let h = m.with_bytes(scan_hash);
                    (h >= cursor).then_some((h, m))
                })
                .collect();
            if batch.len() <= count {
                (0, batch.into_iter().map(|(_, m)| m).collect())
            } else {
                batch.select_nth_unstable_by_key(count - 1, |(h, _)| *h);
                let pivot = batch[count - 1].0;
                // Everything up to the pivot's hash, so resuming after it
                // skips nothing.
                let taken: Vec<Member> = batch
                    .iter()
                    .filter(|(h, _)| *h <= pivot)
                    .map(|(_, m)| *m)
                    .collect();
                (pivot + 1, taken)
            }
        }
    };
    let keep: Vec<Member> = batch
        .into_iter()
        .filter(|m| pattern.is_none_or(|p| m.with_bytes(|b| glob_match(p, b, false))))
        .collect();
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(keep.len());
    for m in keep {
        reply_member(ctx.out, m);
    }
}
