//! Blocking pops (t_list.c, t_zset.c, blocked.c): BLPOP BRPOP BLMPOP BLMOVE
//! BRPOPLPUSH on lists, BZPOPMIN BZPOPMAX BZMPOP on sorted sets.
//!
//! ```text
//!   BLPOP k1 k2 0     data?  yes -> served now, propagated as LPOP
//!                            no  -> a Waiter is registered in the stripes
//!                                   of k1 and k2; the client stops reading
//!   LPUSH k2 x        Keys notes k2 ready (a live waiter on it) ...
//!   end of LPUSH      ... serve_ready: oldest waiter first, under the
//!                     pusher's locks: pop, build the reply in the waiter's
//!                     protocol, send it to the waiter's shard, propagate
//!                     LPOP after the LPUSH
//!   timeout           the waiter's shard claims it and replies null
//! ```
//!
//! A waiter is claimed exactly once (`Waiter::claim`): by the pusher that
//! serves it, by its shard on timeout, or when its connection closes. A
//! BLMOVE whose destination stripe the pusher does not hold is claimed and
//! handed back to its shard, which runs the command again with both
//! stripes locked (it may find the element gone and block again).

use super::{command_table, eq_ic, flags::*, Ctx, ERR_SYNTAX, ERR_WRONGTYPE};
use crate::num::{parse_f64, parse_i64};
use crate::protocol::{Argv, ReplyBuf};
use crate::server::{Server, ShardMsg};
use crate::store::list::{End, Fill, ListValue};
use crate::store::{events, stripe_of, BlockedOn, Keys, Value};
use std::sync::Arc;

command_table! {
    pub static TABLE;
    "blpop", -3, WRITE, (1, -2, 1), "@write @list @slow @blocking", blpop;
    "brpop", -3, WRITE, (1, -2, 1), "@write @list @slow @blocking", brpop;
    "blmpop", -5, WRITE, (-2, 0, 0), "@write @list @slow @blocking", blmpop;
    "blmove", 6, WRITE | DENYOOM, (1, 2, 1), "@write @list @slow @blocking", blmove;
    "brpoplpush", 4, WRITE | DENYOOM, (1, 2, 1), "@write @list @slow @blocking", brpoplpush;
    "bzpopmin", -3, WRITE | FAST, (1, -2, 1), "@write @sortedset @fast @blocking", bzpopmin;
    "bzpopmax", -3, WRITE | FAST, (1, -2, 1), "@write @sortedset @fast @blocking", bzpopmax;
    "bzmpop", -5, WRITE, (-2, 0, 0), "@write @sortedset @slow @blocking", bzmpop;
}

/// What a blocking command waits for.
enum Spec<'a> {
    /// BLPOP/BRPOP (`count` None) and BLMPOP (`count` Some).
    Pop {
        keys: Vec<&'a [u8]>,
        end: End,
        count: Option<usize>,
    },
    /// BLMOVE / BRPOPLPUSH (`legacy`).
    Move {
        src: &'a [u8],
        dst: &'a [u8],
        from: End,
        to: End,
        legacy: bool,
    },
    /// BZPOPMIN/BZPOPMAX (`count` None) and BZMPOP (`count` Some).
    ZPop {
        keys: Vec<&'a [u8]>,
        max: bool,
        count: Option<usize>,
    },
}

impl Spec<'_> {
    fn keys(&self) -> Vec<&[u8]> {
        match self {
            Spec::Pop { keys, .. } | Spec::ZPop { keys, .. } => keys.clone(),
            Spec::Move { src, .. } => vec![src],
        }
    }

    /// What a timeout (or a blocking command inside MULTI) replies.
    fn reply_null(&self, out: &mut ReplyBuf) {
        match self {
            Spec::Pop { .. } | Spec::ZPop { .. } => out.null_array(),
            Spec::Move { .. } => out.null(),
        }
    }
}

fn parse_end(arg: &[u8]) -> Option<End> {
    if eq_ic(arg, "left") {
        Some(End::Head)
    } else if eq_ic(arg, "right") {
        Some(End::Tail)
    } else {
        None
    }
}

/// blocked.c `getTimeoutFromObjectOrReply` (seconds, decimals allowed):
/// the absolute deadline in ms, 0 for "forever".
fn parse_timeout(arg: &[u8], now_ms: u64) -> Result<u64, &'static str> {
    let secs = parse_f64(arg).ok_or("ERR timeout is not a float or out of range")?;
    let ms = (secs * 1000.0).ceil();
    if ms > i64::MAX as f64 {
        return Err("ERR timeout is out of range");
    }
    if ms < 0.0 {
        return Err("ERR timeout is negative");
    }
    let ms = ms as u64;
    if ms == 0 {
        return Ok(0);
    }
    ms.checked_add(now_ms)
        .filter(|t| *t <= i64::MAX as u64)
        .ok_or("ERR timeout is out of range")
}

/// Parses any blocking command: (spec, timeout argument).
fn parse(argv: &Argv) -> Result<(Spec<'_>, &[u8]), &'static str> {
    let name = argv.get(0);
    let n = argv.len();
    if eq_ic(name, "blpop") || eq_ic(name, "brpop") {
        let end = if eq_ic(name, "blpop") {
            End::Head
        } else {
            End::Tail
        };
        let keys = (1..n - 1).map(|i| argv.get(i)).collect();
        return Ok((
            Spec::Pop {
                keys,
                end,
                count: None,
            },
            argv.get(n - 1),
        ));
    }
    if eq_ic(name, "brpoplpush") {
        let spec = Spec::Move {
            src: argv.get(1),
            dst: argv.get(2),
            from: End::Tail,
            to: End::Head,
            legacy: true,
        };
        return Ok((spec, argv.get(3)));
    }
    if eq_ic(name, "blmove") {
        let (from, to) = match (parse_end(argv.get(3)), parse_end(argv.get(4))) {
            (Some(f), Some(t)) => (f, t),
            _ => return Err(ERR_SYNTAX),
        };
        let spec = Spec::Move {
            src: argv.get(1),
            dst: argv.get(2),
            from,
            to,
            legacy: false,
        };
        return Ok((spec, argv.get(5)));
    }
    if eq_ic(name, "bzpopmin") || eq_ic(name, "bzpopmax") {
        let keys = (1..n - 1).map(|i| argv.get(i)).collect();
        let max = eq_ic(name, "bzpopmax");
        return Ok((
            Spec::ZPop {
                keys,
                max,
                count: None,
            },
            argv.get(n - 1),
        ));
    }
    // BLMPOP / BZMPOP timeout numkeys key [key ...] LEFT|RIGHT|MIN|MAX [COUNT count]
    let zset = eq_ic(name, "bzmpop");
    let numkeys = parse_i64(argv.get(2))
        .filter(|k| *k > 0)
        .ok_or("ERR numkeys should be greater than 0")?;
    let numkeys = usize::try_from(numkeys).map_err(|_| "ERR numkeys should be greater than 0")?;
    let where_at = 3usize
        .checked_add(numkeys)
        .filter(|w| *w < n)
        .ok_or(ERR_SYNTAX)?;
    let keys = (3..where_at).map(|i| argv.get(i)).collect();
    let side = argv.get(where_at);
    let (end, max) = if !zset {
        (parse_end(side).ok_or(ERR_SYNTAX)?, false)
    } else if eq_ic(side, "max") {
        (End::Head, true)
    } else if eq_ic(side, "min") {
        (End::Head, false)
    } else {
        return Err(ERR_SYNTAX);
    };
    let count = match n - where_at {
        1 => 1,
        3 if eq_ic(argv.get(where_at + 1), "count") => parse_i64(argv.get(where_at + 2))
            .filter(|c| *c > 0)
            .and_then(|c| usize::try_from(c).ok())
            .ok_or("ERR count should be greater than 0")?,
        _ => return Err(ERR_SYNTAX),
    };
    let count = Some(count);
    let spec = if zset {
        Spec::ZPop { keys, max, count }
    } else {
        Spec::Pop { keys, end, count }
    };
    Ok((spec, argv.get(1)))
}

fn end_name(end: End, upper: bool) -> &'static [u8] {
    match (end, upper) {
        (End::Head, true) => b"LEFT",
        (End::Tail, true) => b"RIGHT",
        (End::Head, false) => b"LPOP",
        (End::Tail, false) => b"RPOP",
    }
}

/// The keyspace event of a pop at `end`.
pub(super) fn pop_event(end: End) -> &'static str {
    match end {
        End::Head => "lpop",
        End::Tail => "rpop",
    }
}

/// The keyspace event of a push at `end`.
pub(super) fn push_event(end: End) -> &'static str {
    match end {
        End::Head => "lpush",
        End::Tail => "rpush",
    }
}

/// The list at `key` in `ks.db`: Err on another type, Ok(None) if absent
/// or empty.
fn nonempty_list<'k>(ks: &'k mut Keys, key: &[u8]) -> Result<Option<&'k mut ListValue>, ()> {
    match ks.lookup_write(key) {
        None => Ok(None),
        Some(entry) => match &mut entry.value {
            Value::List(list) if !list.is_empty() => Ok(Some(list)),
            Value::List(_) => Ok(None),
            _ => Err(()),
        },
    }
}

/// Whether `key` holds something for `spec` to pop: Err on the wrong type.
fn has_data(ks: &mut Keys, spec: &Spec, key: &[u8]) -> Result<bool, ()> {
    match spec {
        Spec::ZPop { .. } => match ks.lookup_write(key).map(|e| &e.value) {
            None => Ok(false),
            Some(Value::ZSet(z)) => Ok(!z.is_empty()),
            Some(_) => Err(()),
        },
        _ => nonempty_list(ks, key).map(|l| l.is_some()),
    }
}

/// Pops the lowest or highest members of the sorted set at `key`
/// (t_zset.c `genericZpopCommand`), replying and recording the
/// replication form (`ZPOPMIN key [count]`) like [`serve_key`].
fn serve_zset(
    ks: &mut Keys,
    key: &[u8],
    max: bool,
    count: Option<usize>,
    out: &mut ReplyBuf,
    later: bool,
) {
    let db = ks.db;
    let Some(Value::ZSet(z)) = ks.lookup_write(key).map(|e| &mut e.value) else {
        return;
    };
    let n = count.unwrap_or(1).min(z.len());
    let picked: Vec<(f64, Vec<u8>)> = if max {
        z.iter()
            .rev()
            .take(n)
            .map(|(s, m)| (s, m.to_vec()))
            .collect()
    } else {
        z.iter().take(n).map(|(s, m)| (s, m.to_vec())).collect()
    };
    for (_, member) in &picked {
        z.remove(member);
    }
    let emptied = z.is_empty();
    if emptied {
        ks.remove(key);
    }
    ks.modified(key);
    ks.notify(events::ZSET, super::zset::zpop_event(max), key);
    if emptied {
        ks.notify(events::GENERIC, "del", key);
    }
    match count {
        None => {
            out.array(3);
            out.bulk(key);
            out.bulk(&picked[0].1);
            out.double(picked[0].0);
        }
        Some(_) => {
            out.array(2);
            out.bulk(key);
            out.array(picked.len());
            for (score, member) in &picked {
                out.array(2);
                out.bulk(member);
                out.double(*score);
            }
        }
    }
    let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
    let count_text = picked.len().to_string();
    let form: Vec<&[u8]> = match count {
        None => vec![name, key],
        Some(_) => vec![name, key, count_text.as_bytes()],
    };
    if later {
        ks.prop.ops.push((db, Argv::from_slices(&form)));
    } else {
        ks.prop.rewrite = Some(Argv::from_slices(&form));
    }
}

/// Pops from `key` for `spec` (the key holds a non-empty list), writes the
/// reply, and records the replication form: as the command's rewrite when
/// served at once, as an op of its own when served later.
fn serve_key(ks: &mut Keys, fill: Fill, spec: &Spec, key: &[u8], out: &mut ReplyBuf, later: bool) {
    if let Spec::ZPop { max, count, .. } = spec {
        return serve_zset(ks, key, *max, *count, out, later);
    }
    let db = ks.db;
    let (form, elems): (Vec<Vec<u8>>, Vec<Vec<u8>>) = match spec {
        Spec::Pop { end, count, .. } => {
            let Ok(Some(list)) = nonempty_list(ks, key) else {
                return;
            };
            let take = count.unwrap_or(1).min(list.len());
            let elems: Vec<Vec<u8>> = (0..take).filter_map(|_| list.pop(*end)).collect();
            let mut form = vec![end_name(*end, false).to_vec(), key.to_vec()];
            if count.is_some() {
                form.push(elems.len().to_string().into_bytes());
            }
            (form, elems)
        }
        Spec::Move {
            dst,
            from,
            to,
            legacy,
            ..
        } => {
            let Ok(Some(list)) = nonempty_list(ks, key) else {
                return;
            };
            let Some(elem) = list.pop(*from) else { return };
            let form = if *legacy {
                vec![b"RPOPLPUSH".to_vec(), key.to_vec(), dst.to_vec()]
            } else {
                vec![
                    b"LMOVE".to_vec(),
                    key.to_vec(),
                    dst.to_vec(),
                    end_name(*from, true).to_vec(),
                    end_name(*to, true).to_vec(),
                ]
            };
            (form, vec![elem])
        }
        Spec::ZPop { .. } => unreachable!("sorted sets are served by serve_zset"),
    };
    // t_list.c order: a move pushes first (so a list moved onto itself is
    // never emptied), then the source's pop event, then its deletion.
    let popped_from = match spec {
        Spec::Move { dst, to, from, .. } => {
            match ks.lookup_write(dst) {
                Some(entry) => {
                    if let Value::List(list) = &mut entry.value {
                        list.push(&elems[0], *to, fill);
                    }
                    ks.modified(dst);
                }
                None => {
                    let mut list = ListValue::new();
                    list.push(&elems[0], *to, fill);
                    ks.set(dst, Value::List(Box::new(list)), 0);
                }
            }
            ks.notify(events::LIST, push_event(*to), dst);
            *from
        }
        Spec::Pop { end, .. } => *end,
        Spec::ZPop { .. } => unreachable!("sorted sets are served by serve_zset"),
    };
    let emptied = nonempty_list(ks, key).ok().flatten().is_none();
    if emptied {
        ks.remove(key);
    }
    ks.modified(key);
    ks.notify(events::LIST, pop_event(popped_from), key);
    if emptied {
        ks.notify(events::GENERIC, "del", key);
    }
    match spec {
        Spec::ZPop { .. } => unreachable!("sorted sets are served by serve_zset"),
        Spec::Pop { count: None, .. } => {
            out.array(2);
            out.bulk(key);
            out.bulk(&elems[0]);
        }
        Spec::Pop { .. } => {
            out.array(2);
            out.bulk(key);
            out.array(elems.len());
            for e in &elems {
                out.bulk(e);
            }
        }
        Spec::Move { .. } => out.bulk(&elems[0]),
    }
    let parts: Vec<&[u8]> = form.iter().map(Vec::as_slice).collect();
    if later {
        ks.prop.ops.push((db, Argv::from_slices(&parts)));
    } else {
        ks.prop.rewrite = Some(Argv::from_slices(&parts));
    }
}

/// A move whose destination holds another type.
fn dst_wrong_type(ks: &mut Keys, spec: &Spec) -> bool {
    match spec {
        Spec::Move { dst, .. } => ks
            .lookup_write(dst)
            .is_some_and(|e| !matches!(e.value, Value::List(_))),
        Spec::Pop { .. } | Spec::ZPop { .. } => false,
    }
}

fn blocking(ctx: &mut Ctx, argv: &Argv) {
    let (spec, timeout_arg) = match parse(argv) {
        Ok(parsed) => parsed,
        Err(e) => return ctx.out.error(e),
    };
    let deadline = match parse_timeout(timeout_arg, ctx.ks.now_ms) {
        Ok(d) => d,
        Err(e) => return ctx.out.error(e),
    };
    let fill = Fill::from_config(ctx.srv.encoding_limits().list_max_listpack_size);
    for key in spec.keys() {
        match has_data(&mut ctx.ks, &spec, key) {
            Err(()) => return ctx.out.error(ERR_WRONGTYPE),
            Ok(true) => {
                // t_list.c checks the destination only when there is
                // something to move (an empty source blocks regardless).
                if dst_wrong_type(&mut ctx.ks, &spec) {
                    return ctx.out.error(ERR_WRONGTYPE);
                }
                return serve_key(&mut ctx.ks, fill, &spec, key, ctx.out, false);
            }
            Ok(false) => {}
        }
    }
    // Nothing to pop. Inside a transaction Redis does not block.
    if ctx.client.in_exec {
        return spec.reply_null(ctx.out);
    }
    let keys = spec.keys();
    // A timeout replies a null array, moves included (blocked.c
    // `replyToBlockedClientTimedOut`: `*-1` for BLMOVE and BRPOPLPUSH too).
    block_on(
        ctx,
        &keys,
        argv.clone(),
        deadline,
        super::OnTimeout::NullArray,
    );
}

/// Blocks the client on `keys` until a write serves it or `deadline_ms`
/// (absolute unix ms, 0 = forever) passes; `argv` is what serving it reads
/// (with any `$` already resolved). A timeout replies a null array when
/// `on_timeout` says what a timeout replies.
pub fn block_on(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    argv: Argv,
    deadline_ms: u64,
    on_timeout: super::OnTimeout,
) {
    let waiter = ctx.client.waiter(ctx.ks.db, argv);
    for key in keys {
        let db = ctx.ks.db;
        let on = BlockedOn {
            db,
            key: (*key).into(),
            waiter: Arc::clone(&waiter),
        };
        let blocked = ctx.ks.locked.blocked_for(key);
        // Drop entries of waiters already served, timed out or gone.
        blocked.retain(|b| !b.waiter.claimed.load(std::sync::atomic::Ordering::Acquire));
        blocked.push(on);
    }
    ctx.client.block(waiter, deadline_ms, on_timeout);
}

pub fn blpop(ctx: &mut Ctx, argv: &Argv) {
    blocking(ctx, argv);
}

pub fn brpop(ctx: &mut Ctx, argv: &Argv) {
    blocking(ctx, argv);
}

pub fn blmpop(ctx: &mut Ctx, argv: &Argv) {
    blocking(ctx, argv);
}

pub fn blmove(ctx: &mut Ctx, argv: &Argv) {
    blocking(ctx, argv);
}

pub fn brpoplpush(ctx: &mut Ctx, argv: &Argv) {
    blocking(ctx, argv);
}

pub fn bzpopmin(ctx: &mut Ctx, argv: &Argv) {
    blocking(ctx, argv);
}

pub fn bzpopmax(ctx: &mut Ctx, argv: &Argv) {
    blocking(ctx, argv);
}

pub fn bzmpop(ctx: &mut Ctx, argv: &Argv) {
    blocking(ctx, argv);
}

/// Serves clients blocked on the keys the last command made ready
/// (blocked.c `handleClientsBlockedOnKeys`), oldest waiter first, while the
/// command's stripes are still held. Returns the served pops' replication
/// ops, to go out after the command's own.
pub fn serve_ready(srv: &Server, ks: &mut Keys) {
    if ks.ready.is_empty() {
        return;
    }
    let fill = Fill::from_config(srv.encoding_limits().list_max_listpack_size);
    let own_db = ks.db;
    let mut i = 0;
    // Serving a BLMOVE may make its destination ready: the list grows.
    while i < ks.ready.len() {
        let (db, key) = ks.ready[i].clone();
        i += 1;
        ks.db = db;
        super::stream::serve_waiters(srv, ks, db, &key);
        loop {
            let blocked = ks.locked.blocked_for(&key);
            blocked.retain(|b| !b.waiter.claimed.load(std::sync::atomic::Ordering::Acquire));
            let Some(waiter) = blocked
                .iter()
                .find(|b| {
                    b.db == db && b.key == key && !super::stream::is_stream_waiter(&b.waiter.argv)
                })
                .map(|b| Arc::clone(&b.waiter))
            else {
                break;
            };
            let Ok((spec, _)) = parse(&waiter.argv) else {
                waiter.claim();
                continue;
            };
            if has_data(ks, &spec, &key) != Ok(true) {
                break;
            }
            let handles = srv.shard_handles();
            if let Spec::Move { dst, .. } = &spec {
                if !ks.locked.holds(stripe_of(dst)) {
                    if waiter.claim() {
                        if let Some(h) = handles.get(waiter.shard) {
                            h.send(ShardMsg::Retry {
                                client_id: waiter.client_id,
                            });
                        }
                    }
                    continue;
                }
            }
            if !waiter.claim() {
                continue;
            }
            let mut out = ReplyBuf {
                buf: Vec::new(),
                resp3: waiter.resp3,
            };
            if dst_wrong_type(ks, &spec) {
                out.error(ERR_WRONGTYPE);
            } else {
                serve_key(ks, fill, &spec, &key, &mut out, true);
            }
            if let Some(h) = handles.get(waiter.shard) {
                h.send(ShardMsg::Unblock {
                    client_id: waiter.client_id,
                    reply: out.buf,
                });
            }
        }
    }
    ks.ready.clear();
    ks.db = own_db;
}
