//! String commands (Redis 7.0 t_string.c): GET SET SETNX SETEX PSETEX MGET
//! MSET MSETNX GETSET GETDEL GETEX INCR DECR INCRBY DECRBY INCRBYFLOAT APPEND
//! STRLEN GETRANGE (and SUBSTR) SETRANGE LCS.
//!
//! Owns: argument parsing for these commands and their effect on string
//! values. Must not touch other types' values: every read checks
//! [`Value::is_string`] first and answers WRONGTYPE otherwise.
//!
//! Key invariants, as Redis keeps them:
//! - encodings: whole-value writes (SET family, MSET, GETSET, APPEND creating
//!   a key) store [`Value::string`] (`tryObjectEncoding`); the INCR family
//!   stores [`Value::Int`]; INCRBYFLOAT stores [`Value::string_no_int`];
//!   in-place edits (APPEND, SETRANGE) make the value `raw`.
//! - expiry: SET, GETSET and MSET clear the TTL unless KEEPTTL; INCR*,
//!   APPEND and SETRANGE keep it. Expiry changes go through [`Keys::set`] or
//!   [`Db::set_expire`](crate::store::Db::set_expire) so the counters stay right.
//! - every change calls `ctx.ks.modified` exactly once per changed key;
//!   no-ops (NX/XX not met, empty SETRANGE, PERSIST without TTL) don't.
//!
//! Options are compared as Redis compares them, as C strings: an argument
//! `"NX\0junk"` is the keyword `NX` (checked on redis-server 7.0.15).
//!
//! [`Keys::set`]: crate::store::Keys::set

use super::{cstr, eq_ic, Ctx, ERR_NOT_INT, ERR_OVERFLOW, ERR_SYNTAX, ERR_WRONGTYPE};
use crate::num::{incrbyfloat as add_long_double, parse_i64};
use crate::protocol::{Argv, ReplyBuf};
use crate::server::Server;
use crate::store::{events, Value};

const ERR_OFFSET_RANGE: &str = "ERR offset is out of range";
const ERR_STRING_SIZE: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
const ERR_DECR_OVERFLOW: &str = "ERR decrement would overflow";
const ERR_LCS_WRONGTYPE: &str = "ERR The specified keys must contain string values";
const ERR_LCS_LEN_AND_IDX: &str =
    "ERR If you want both the length and indexes, please just use IDX.";
const ERR_LCS_TOO_LONG: &str = "ERR String too long for LCS";
const ERR_LCS_TABLE_LIMIT: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
const ERR_LCS_TABLE_ALLOC: &str =
    "ERR Insufficient memory, failed allocating transient memory for LCS";
/// sluice only: Redis aborts the process when a string cannot grow; we
/// refuse the command instead (the length limit is checked first, so this
/// needs a `proto-max-bulk-len` larger than free memory).
pub(super) const ERR_STRING_ALLOC: &str = "ERR Insufficient memory, failed allocating the string";

/// Marks that an error reply has been written and the command must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Replied;

/// Replies with a string value as a bulk string.
fn reply_value(out: &mut ReplyBuf, value: &Value) {
    if value.with_string_bytes(|bytes| out.bulk(bytes)).is_none() {
        out.error(ERR_WRONGTYPE);
    }
}

/// Redis `getGenericCommand`: replies with the value of `key` or nil.
/// Returns whether the key existed; `Err` after a WRONGTYPE reply.
fn get_generic(ctx: &mut Ctx, key: &[u8]) -> Result<bool, Replied> {
    match ctx.ks.lookup_read(key) {
        None => {
            ctx.out.null();
            Ok(false)
        }
        Some(entry) if !entry.value.is_string() => {
            ctx.out.error(ERR_WRONGTYPE);
            Err(Replied)
        }
        Some(entry) => {
            reply_value(ctx.out, &entry.value);
            Ok(true)
        }
    }
}

/// Redis `checkStringLength`: may a string of `size` bytes grow by `append`?
/// Like Redis it reads the limit from the config on each call.
fn string_length_ok(srv: &Server, size: usize, append: usize) -> bool {
    let limit = srv.config.read().proto_max_bulk_len;
    let total = u64::try_from(size)
        .ok()
        .zip(u64::try_from(append).ok())
        .and_then(|(s, a)| s.checked_add(a));
    total.is_some_and(|total| total <= limit)
}

// ---------------------------------------------------------------------------
// SET / GETEX options

/// How an expire argument is read (Redis `OBJ_EX`, `OBJ_PX`, `OBJ_EXAT`,
/// `OBJ_PXAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpireUnit {
    /// Seconds from now.
    Ex,
    /// Milliseconds from now.
    Px,
    /// Unix time in seconds.
    ExAt,
    /// Unix time in milliseconds.
    PxAt,
}

impl ExpireUnit {
    fn from_keyword(opt: &[u8]) -> Option<ExpireUnit> {
        [
            ("EX", ExpireUnit::Ex),
            ("PX", ExpireUnit::Px),
            ("EXAT", ExpireUnit::ExAt),
            ("PXAT", ExpireUnit::PxAt),
        ]
        .into_iter()
        .find(|(keyword, _)| eq_ic(opt, keyword))
        .map(|(_, unit)| unit)
    }
}

/// Which command's options are parsed (Redis `COMMAND_SET` / `COMMAND_GET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OptionsFor {
    /// SET: NX XX GET KEEPTTL and the expire options, from argument 3.
    Set,
    /// GETEX: PERSIST and the expire options, from argument 2.
    GetEx,
}

/// Parsed SET/GETEX options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ExtOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// The last expire option and its (unparsed) argument.
    expire: Option<(ExpireUnit, &'a [u8])>,
}

impl ExtOptions<'_> {
    /// An expire option of `unit` may follow: no KEEPTTL, no PERSIST and no
    /// expire option of another unit (repeating the same one is allowed, the
    /// last wins, as in Redis).
    fn expire_allowed(&self, unit: ExpireUnit) -> bool {
        !self.keepttl && !self.persist && self.expire.is_none_or(|(set, _)| set == unit)
    }
}

/// Redis `parseExtendedStringArgumentsOrReply`. `None` means a syntax error:
/// an unknown option, a conflicting one, or an expire option without value.
fn parse_ext_options(argv: &Argv, kind: OptionsFor) -> Option<ExtOptions<'_>> {
    let set = kind == OptionsFor::Set;
    let mut opts = ExtOptions::default();
    let mut j = if set { 3 } else { 2 };
    while j < argv.len() {
        let opt = cstr(argv.get(j));
        let next = argv.try_get(j + 1);
        if set && eq_ic(opt, "NX") && !opts.xx {
            opts.nx = true;
        } else if set && eq_ic(opt, "XX") && !opts.nx {
            opts.xx = true;
        } else if set && eq_ic(opt, "GET") {
            opts.get = true;
        } else if set && eq_ic(opt, "KEEPTTL") && !opts.persist && opts.expire.is_none() {
            opts.keepttl = true;
        } else if !set && eq_ic(opt, "PERSIST") && opts.expire.is_none() && !opts.keepttl {
            opts.persist = true;
        } else {
            let unit = ExpireUnit::from_keyword(opt).filter(|&u| opts.expire_allowed(u))?;
            opts.expire = Some((unit, next?));
            j += 1;
        }
        j += 1;
    }
    Some(opts)
}

/// Why an expire argument was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpireError {
    /// Not an integer: "value is not an integer or out of range".
    NotInt,
    /// Zero, negative or overflowing: "invalid expire time in '<cmd>' command".
    Invalid,
}

/// Redis `getExpireMillisecondsOrReply`: the absolute unix ms an expire
/// argument means at `now_ms`. Relative times are added to `now_ms`;
/// absolute ones may lie in the past.
fn expire_at_ms(arg: &[u8], unit: ExpireUnit, now_ms: u64) -> Result<u64, ExpireError> {
    let n = parse_i64(arg).ok_or(ExpireError::NotInt)?;
    if n <= 0 {
        return Err(ExpireError::Invalid);
    }
    let ms = match unit {
        ExpireUnit::Ex | ExpireUnit::ExAt => n.checked_mul(1000).ok_or(ExpireError::Invalid)?,
        ExpireUnit::Px | ExpireUnit::PxAt => n,
    };
    let ms = match unit {
        ExpireUnit::Ex | ExpireUnit::Px => {
            let now = i64::try_from(now_ms).map_err(|_| ExpireError::Invalid)?;
            ms.checked_add(now).ok_or(ExpireError::Invalid)?
        }
        ExpireUnit::ExAt | ExpireUnit::PxAt => ms,
    };
    // Positive by construction: n > 0 and the additions were checked.
    u64::try_from(ms).map_err(|_| ExpireError::Invalid)
}

/// [`expire_at_ms`] of the parsed option, replying on error with `name`
/// (the table name, Redis's `c->cmd->fullname`) in the message.
fn expire_or_reply(
    ctx: &mut Ctx,
    expire: Option<(ExpireUnit, &[u8])>,
    name: &str,
) -> Result<Option<u64>, Replied> {
    let Some((unit, arg)) = expire else {
        return Ok(None);
    };
    match expire_at_ms(arg, unit, ctx.ks.now_ms) {
        Ok(ms) => Ok(Some(ms)),
        Err(ExpireError::NotInt) => {
            ctx.out.error(ERR_NOT_INT);
            Err(Replied)
        }
        Err(ExpireError::Invalid) => {
            ctx.out
                .error(&format!("ERR invalid expire time in '{name}' command"));
            Err(Replied)
        }
    }
}

// ---------------------------------------------------------------------------
// GET / SET family

pub fn get(ctx: &mut Ctx, argv: &Argv) {
    let _ = get_generic(ctx, argv.get(1));
}

/// What SET-like commands reply when they set, or don't because of NX/XX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetReply {
    /// `+OK`, or nil when not set (SET, SETEX, PSETEX).
    Ok,
    /// `:1`, or `:0` when not set (SETNX).
    Flag,
}

/// Redis `setGenericCommand`. `opts.get` replies with the old value instead
/// of the usual reply.
fn set_generic(
    ctx: &mut Ctx,
    argv: &Argv,
    key: &[u8],
    val: &[u8],
    opts: &ExtOptions,
    name: &str,
    reply: SetReply,
) {
    let Ok(expire_ms) = expire_or_reply(ctx, opts.expire, name) else {
        return;
    };
    if opts.get && get_generic(ctx, key).is_err() {
        return;
    }
    let old_ttl_ms = ctx.ks.lookup_write_ref(key).map(|entry| entry.expire_ms);
    let found = old_ttl_ms.is_some();
    if (opts.nx && found) || (opts.xx && !found) {
        if !opts.get {
            match reply {
                SetReply::Ok => ctx.out.null(),
                SetReply::Flag => ctx.out.int(0),
            }
        }
        return;
    }
    // Redis sets first and then applies the expiry, even one already in the
    // past (SET ... EXAT 1): the key then expires at its next access.
    let keep = if opts.keepttl {
        old_ttl_ms.unwrap_or(0)
    } else {
        0
    };
    ctx.ks
        .set(key, Value::string(val), expire_ms.unwrap_or(keep));
    ctx.ks.notify(events::STRING, "set", key);
    if expire_ms.is_some() {
        ctx.ks.notify(events::GENERIC, "expire", key);
    }
    propagate_set(ctx, argv, key, val, opts, expire_ms);
    if !opts.get {
        match reply {
            SetReply::Ok => ctx.out.ok(),
            SetReply::Flag => ctx.out.int(1),
        }
    }
}

/// The replication form of a SET-like command (t_string.c
/// `setGenericCommand`): a relative or second-based expiry becomes
/// `SET key value PXAT <ms>` (NX/XX/GET dropped); without an expiry, GET is
/// dropped; a PXAT command goes out as it came.
fn propagate_set(
    ctx: &mut Ctx,
    argv: &Argv,
    key: &[u8],
    val: &[u8],
    opts: &ExtOptions,
    expire_ms: Option<u64>,
) {
    match (opts.expire, expire_ms) {
        (Some((unit, _)), Some(ms)) if unit != ExpireUnit::PxAt => {
            ctx.propagate_as(&[
                b"SET",
                key,
                val,
                b"PXAT",
                itoa::Buffer::new().format(ms).as_bytes(),
            ]);
        }
        (None, _) if opts.get => {
            let kept: Vec<&[u8]> = argv
                .iter()
                .enumerate()
                .filter(|(j, a)| *j < 3 || !eq_ic(cstr(a), "GET"))
                .map(|(_, a)| a)
                .collect();
            ctx.propagate_as(&kept);
        }
        _ => {}
    }
}

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]
pub fn set(ctx: &mut Ctx, argv: &Argv) {
    let Some(opts) = parse_ext_options(argv, OptionsFor::Set) else {
        ctx.out.error(ERR_SYNTAX);
        return;
    };
    set_generic(
        ctx,
        argv,
        argv.get(1),
        argv.get(2),
        &opts,
        "set",
        SetReply::Ok,
    );
}

pub fn setnx(ctx: &mut Ctx, argv: &Argv) {
    let opts = ExtOptions {
        nx: true,
        ..ExtOptions::default()
    };
    set_generic(
        ctx,
        argv,
        argv.get(1),
        argv.get(2),
        &opts,
        "setnx",
        SetReply::Flag,
    );
}

/// SETEX key seconds value
pub fn setex(ctx: &mut Ctx, argv: &Argv) {
    let opts = ExtOptions {
        expire: Some((ExpireUnit::Ex, argv.get(2))),
        ..ExtOptions::default()
    };
    set_generic(
        ctx,
        argv,
        argv.get(1),
        argv.get(3),
        &opts,
        "setex",
        SetReply::Ok,
    );
}

/// PSETEX key milliseconds value
pub fn psetex(ctx: &mut Ctx, argv: &Argv) {
    let opts = ExtOptions {
        expire: Some((ExpireUnit::Px, argv.get(2))),
        ..ExtOptions::default()
    };
    set_generic(
        ctx,
        argv,
        argv.get(1),
        argv.get(3),
        &opts,
        "psetex",
        SetReply::Ok,
    );
}

/// GETSET key value: the old value, then SET (clearing the TTL).
pub fn getset(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    if get_generic(ctx, key).is_err() {
        return;
    }
    ctx.ks.set(key, Value::string(argv.get(2)), 0);
    ctx.ks.notify(events::STRING, "set", key);
    ctx.propagate_as(&[b"SET", key, argv.get(2)]);
}

/// GETDEL key: the value, then DEL if it existed.
pub fn getdel(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    if get_generic(ctx, key) == Ok(true) {
        ctx.ks.delete_notified(key);
        ctx.propagate_as(&[b"DEL", key]);
    }
}

/// GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST] (Redis `getexCommand`).
///
/// Order matters: options (syntax error), then the key (nil, WRONGTYPE),
/// then the expire value, so a missing key with a bad expire replies nil.
pub fn getex(ctx: &mut Ctx, argv: &Argv) {
    let Some(opts) = parse_ext_options(argv, OptionsFor::GetEx) else {
        ctx.out.error(ERR_SYNTAX);
        return;
    };
    let key = argv.get(1);
    let now_ms = ctx.ks.now_ms;
    let had_ttl = match ctx.ks.lookup_read(key) {
        None => {
            ctx.out.null();
            return;
        }
        Some(entry) if !entry.value.is_string() => {
            ctx.out.error(ERR_WRONGTYPE);
            return;
        }
        Some(entry) => entry.expire_ms != 0,
    };
    let Ok(expire_ms) = expire_or_reply(ctx, opts.expire, "getex") else {
        return;
    };
    // Reply before the key may be deleted below.
    if let Some(entry) = ctx.ks.peek(key) {
        reply_value(ctx.out, &entry.value);
    }
    let absolute = matches!(opts.expire, Some((ExpireUnit::ExAt | ExpireUnit::PxAt, _)));
    match expire_ms {
        // Redis `checkAlreadyExpired`: an absolute time not after now deletes.
        Some(ms) if absolute && ms <= now_ms => {
            ctx.ks.delete_notified(key);
            ctx.propagate_as(&[b"DEL", key]);
        }
        Some(ms) => {
            ctx.ks.set_expire(key, ms);
            ctx.ks.modified(key);
            ctx.ks.notify(events::GENERIC, "expire", key);
            ctx.propagate_as(&[b"PEXPIREAT", key, itoa::Buffer::new().format(ms).as_bytes()]);
        }
        None if opts.persist && had_ttl => {
            ctx.ks.set_expire(key, 0);
            ctx.ks.modified(key);
            ctx.ks.notify(events::GENERIC, "persist", key);
            ctx.propagate_as(&[b"PERSIST", key]);
        }
        None => {}
    }
}

/// MGET key [key ...]: nil for missing keys and for non-strings.
pub fn mget(ctx: &mut Ctx, argv: &Argv) {
    ctx.out.array(argv.len() - 1);
    for key in argv.iter().skip(1) {
        match ctx.ks.lookup_read(key) {
            Some(entry) if entry.value.is_string() => reply_value(ctx.out, &entry.value),
            _ => ctx.out.null(),
        }
    }
}

/// Redis `msetGenericCommand`.
fn mset_generic(ctx: &mut Ctx, argv: &Argv, nx: bool, name: &str) {
    if argv.len() % 2 == 0 {
        ctx.wrong_arity(name);
        return;
    }
    // MSETNX sets nothing if any key exists; like Redis it stops looking at
    // the first one found.
    if nx
        && (1..argv.len())
            .step_by(2)
            .any(|j| ctx.ks.lookup_write_ref(argv.get(j)).is_some())
    {
        ctx.out.int(0);
        return;
    }
    for j in (1..argv.len()).step_by(2) {
        ctx.ks.set(argv.get(j), Value::string(argv.get(j + 1)), 0);
        ctx.ks.notify(events::STRING, "set", argv.get(j));
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
}

/// MSET key value [key value ...]
pub fn mset(ctx: &mut Ctx, argv: &Argv) {
    mset_generic(ctx, argv, false, "mset");
}

/// MSETNX key value [key value ...]
pub fn msetnx(ctx: &mut Ctx, argv: &Argv) {
    mset_generic(ctx, argv, true, "msetnx");
}

// ---------------------------------------------------------------------------
// Counters

/// Redis `incrDecrCommand`: adds `incr` to the integer at `key` (0 when
/// missing), keeping its TTL, and stores the result `int`-encoded.
fn incr_decr(ctx: &mut Ctx, key: &[u8], incr: i64) {
    let result = match ctx.ks.lookup_write(key) {
        Some(entry) if !entry.value.is_string() => Err(ERR_WRONGTYPE),
        Some(entry) => {
            let current = match &entry.value {
                Value::Int(n) => Some(*n),
                other => other.with_string_bytes(parse_i64).flatten(),
            };
            match current.map(|n| n.checked_add(incr)) {
                None => Err(ERR_NOT_INT),
                Some(None) => Err(ERR_OVERFLOW),
                Some(Some(n)) => {
                    entry.value = Value::Int(n);
                    Ok((n, true))
                }
            }
        }
        None => Ok((incr, false)),
    };
    match result {
        Err(text) => ctx.out.error(text),
        Ok((n, existed)) => {
            if existed {
                ctx.ks.modified(key);
            } else {
                ctx.ks.set(key, Value::Int(n), 0);
            }
            ctx.ks.notify(events::STRING, "incrby", key);
            ctx.out.int(n);
        }
    }
}

pub fn incr(ctx: &mut Ctx, argv: &Argv) {
    incr_decr(ctx, argv.get(1), 1);
}

pub fn decr(ctx: &mut Ctx, argv: &Argv) {
    incr_decr(ctx, argv.get(1), -1);
}

pub fn incrby(ctx: &mut Ctx, argv: &Argv) {
    match parse_i64(argv.get(2)) {
        Some(incr) => incr_decr(ctx, argv.get(1), incr),
        None => ctx.out.error(ERR_NOT_INT),
    }
}

pub fn decrby(ctx: &mut Ctx, argv: &Argv) {
    match parse_i64(argv.get(2)) {
        None => ctx.out.error(ERR_NOT_INT),
        // -i64::MIN does not exist (Redis 7.0 checks this before the key).
        Some(i64::MIN) => ctx.out.error(ERR_DECR_OVERFLOW),
        Some(decr) => incr_decr(ctx, argv.get(1), -decr),
    }
}

/// INCRBYFLOAT key increment: `long double` arithmetic in [`crate::num`];
/// the result is stored as a string, never `int`-encoded (Redis
/// `createStringObjectFromLongDouble`), keeping the TTL.
pub fn incrbyfloat(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let incr = argv.get(2);
    let result = match ctx.ks.lookup_write(key) {
        Some(entry) if !entry.value.is_string() => Err(ERR_WRONGTYPE.to_string()),
        Some(entry) => match entry
            .value
            .with_string_bytes(|current| add_long_double(current, incr))
        {
            Some(Ok(new)) => {
                entry.value = Value::string_no_int(&new);
                Ok((new, true))
            }
            Some(Err(e)) => Err(e.to_string()),
            None => Err(ERR_WRONGTYPE.to_string()),
        },
        None => add_long_double(b"0", incr)
            .map(|new| (new, false))
            .map_err(|e| e.to_string()),
    };
    match result {
        Err(text) => ctx.out.error(&text),
        Ok((new, existed)) => {
            if existed {
                ctx.ks.modified(key);
            } else {
                ctx.ks.set(key, Value::string_no_int(&new), 0);
            }
            ctx.ks.notify(events::STRING, "incrbyfloat", key);
            // Always replicated as the resulting value, so float formatting
            // can never diverge on a replica (t_string.c).
            ctx.propagate_as(&[b"SET", key, &new, b"KEEPTTL"]);
            ctx.out.bulk(&new);
        }
    }
}

// ---------------------------------------------------------------------------
// Byte-level access

/// APPEND key value: the new length. A missing key is created from `value`
/// as SET would (so it may be `int`); an existing one becomes `raw`, even
/// when `value` is empty (Redis `dbUnshareStringValue`), and counts as
/// changed.
pub fn append(ctx: &mut Ctx, argv: &Argv) {
    let (key, tail) = (argv.get(1), argv.get(2));
    let srv = ctx.srv;
    let new_len = match ctx.ks.lookup_write(key) {
        None => {
            ctx.ks.set(key, Value::string(tail), 0);
            tail.len()
        }
        Some(entry) => {
            let Some(old_len) = entry.value.string_len() else {
                return ctx.out.error(ERR_WRONGTYPE);
            };
            if !string_length_ok(srv, old_len, tail.len()) {
                return ctx.out.error(ERR_STRING_SIZE);
            }
            let Some(buf) = entry.value.make_raw() else {
                return ctx.out.error(ERR_WRONGTYPE);
            };
            if buf.try_reserve(tail.len()).is_err() {
                return ctx.out.error(ERR_STRING_ALLOC);
            }
            buf.extend_from_slice(tail);
            let len = buf.len();
            ctx.ks.modified(key);
            len
        }
    };
    ctx.ks.notify(events::STRING, "append", key);
    ctx.out.int(i64::try_from(new_len).unwrap_or(i64::MAX));
}

/// STRLEN key: 0 for a missing key; an `int` counts its decimal digits.
pub fn strlen(ctx: &mut Ctx, argv: &Argv) {
    match ctx.ks.lookup_read(argv.get(1)) {
        None => ctx.out.int(0),
        Some(entry) => match entry.value.string_len() {
            Some(len) => ctx.out.int(i64::try_from(len).unwrap_or(i64::MAX)),
            None => ctx.out.error(ERR_WRONGTYPE),
        },
    }
}

/// The half-open byte range GETRANGE returns from a `len`-byte string for
/// inclusive `start..=end` (negative counts from the end), or `None` for
/// the empty string. Mirrors Redis 7.0 `getrangeCommand` step by step.
fn getrange_bounds(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let len = i64::try_from(len).ok()?;
    let start = if start < 0 {
        start.saturating_add(len)
    } else {
        start
    }
    .max(0);
    let end = if end < 0 {
        end.saturating_add(len)
    } else {
        end
    }
    .max(0);
    let end = if end >= len { len - 1 } else { end };
    if start > end || len == 0 {
        return None;
    }
    Some((
        usize::try_from(start).ok()?,
        usize::try_from(end).ok()?.checked_add(1)?,
    ))
}

/// GETRANGE key start end (also SUBSTR): `""` for a missing key or an
/// empty range. The indexes are checked before the key.
pub fn getrange(ctx: &mut Ctx, argv: &Argv) {
    let (Some(start), Some(end)) = (parse_i64(argv.get(2)), parse_i64(argv.get(3))) else {
        ctx.out.error(ERR_NOT_INT);
        return;
    };
    let Some(entry) = ctx.ks.lookup_read(argv.get(1)) else {
        ctx.out.bulk(b"");
        return;
    };
    let out = &mut *ctx.out;
    let replied = entry.value.with_string_bytes(|bytes| {
        let range =
            getrange_bounds(start, end, bytes.len()).and_then(|(from, to)| bytes.get(from..to));
        out.bulk(range.unwrap_or_default());
    });
    if replied.is_none() {
        ctx.out.error(ERR_WRONGTYPE);
    }
}

/// SETRANGE key offset value: overwrites from `offset`, zero-padding, and
/// replies with the new length. An empty `value` changes nothing (and
/// creates no key) but still reports the current length.
pub fn setrange(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let value = argv.get(3);
    let offset = match parse_i64(argv.get(2)) {
        None => return ctx.out.error(ERR_NOT_INT),
        Some(n) => match usize::try_from(n) {
            Ok(offset) => offset,
            Err(_) => return ctx.out.error(ERR_OFFSET_RANGE),
        },
    };
    let srv = ctx.srv;
    let new_len = match ctx.ks.lookup_write(key) {
        None => {
            if value.is_empty() {
                return ctx.out.int(0);
            }
            if !string_length_ok(srv, offset, value.len()) {
                return ctx.out.error(ERR_STRING_SIZE);
            }
            // Redis creates the key `raw` (createObject), whatever its length.
            let mut buf = Vec::new();
            if buf
                .try_reserve_exact(offset.saturating_add(value.len()))
                .is_err()
            {
                return ctx.out.error(ERR_STRING_ALLOC);
            }
            buf.resize(offset, 0);
            buf.extend_from_slice(value);
            let len = buf.len();
            ctx.ks.set(key, Value::Raw(buf), 0);
            len
        }
        Some(entry) => {
            let Some(old_len) = entry.value.string_len() else {
                return ctx.out.error(ERR_WRONGTYPE);
            };
            if value.is_empty() {
                return ctx.out.int(i64::try_from(old_len).unwrap_or(i64::MAX));
            }
            if !string_length_ok(srv, offset, value.len()) {
                return ctx.out.error(ERR_STRING_SIZE);
            }
            let Some(buf) = entry.value.make_raw() else {
                return ctx.out.error(ERR_WRONGTYPE);
            };
            // Cannot overflow: offset + len was checked against the limit.
            let end = offset.saturating_add(value.len());
            if end > buf.len() {
                if buf.try_reserve_exact(end - buf.len()).is_err() {
                    return ctx.out.error(ERR_STRING_ALLOC);
                }
                buf.resize(end, 0);
            }
            if let Some(dst) = buf.get_mut(offset..end) {
                dst.copy_from_slice(value);
            }
            let len = buf.len();
            ctx.ks.modified(key);
            len
        }
    };
    ctx.ks.notify(events::STRING, "setrange", key);
    ctx.out.int(i64::try_from(new_len).unwrap_or(i64::MAX));
}

// ---------------------------------------------------------------------------
// LCS

/// One run of matching bytes found by LCS IDX, as inclusive ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LcsMatch {
    a_start: usize,
    a_end: usize,
    b_start: usize,
    b_end: usize,
}

impl LcsMatch {
    fn len(&self) -> usize {
        self.a_end.saturating_sub(self.a_start).saturating_add(1)
    }
}

/// Parsed LCS options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct LcsOptions {
    len: bool,
    idx: bool,
    with_match_len: bool,
    /// Negative values count as 0, as in Redis.
    min_match_len: u64,
}

/// LCS's options from argument 3; `Err` holds the error reply text.
fn parse_lcs_options(argv: &Argv) -> Result<LcsOptions, &'static str> {
    let mut opts = LcsOptions::default();
    let mut j = 3;
    while j < argv.len() {
        let opt = cstr(argv.get(j));
        if eq_ic(opt, "IDX") {
            opts.idx = true;
        } else if eq_ic(opt, "LEN") {
            opts.len = true;
        } else if eq_ic(opt, "WITHMATCHLEN") {
            opts.with_match_len = true;
        } else if eq_ic(opt, "MINMATCHLEN") && j + 1 < argv.len() {
            let n = parse_i64(argv.get(j + 1)).ok_or(ERR_NOT_INT)?;
            opts.min_match_len = u64::try_from(n).unwrap_or(0);
            j += 1;
        } else {
            return Err(ERR_SYNTAX);
        }
        j += 1;
    }
    Ok(opts)
}

/// The length of the string at `key` for LCS (0 when missing); `None` for
/// another type. Counts a keyspace hit or miss, as Redis `lookupKeyRead`.
fn lcs_operand_len(ctx: &mut Ctx, key: &[u8]) -> Option<usize> {
    match ctx.ks.lookup_read(key) {
        None => Some(0),
        Some(entry) => entry.value.string_len(),
    }
}

/// A copy of the string at `key` (empty when missing), looked up a
/// second time (the first counted it).
fn lcs_operand(ctx: &mut Ctx, key: &[u8]) -> Vec<u8> {
    ctx.ks
        .lookup_write_ref(key)
        .and_then(|entry| entry.value.with_string_bytes(<[u8]>::to_vec))
        .unwrap_or_default()
}

/// Fills the `(a.len()+1) x (b.len()+1)` table, row-major and zeroed on
/// entry, so that cell `(i, j)` holds the LCS length of `a[..i]` and
/// `b[..j]` (Redis's `LCS(i,j)`).
fn lcs_fill(a: &[u8], b: &[u8], table: &mut [u32]) {
    let width = b.len() + 1;
    debug_assert_eq!(table.len(), (a.len() + 1) * width);
    for (i, &byte_a) in a.iter().enumerate() {
        let (done, rest) = table.split_at_mut((i + 1) * width);
        let (Some(prev), Some(row)) = (done.get(i * width..), rest.get_mut(..width)) else {
            unreachable!("LCS table smaller than its dimensions");
        };
        let mut left = 0u32;
        for ((cell, up), &byte_b) in row.iter_mut().skip(1).zip(prev.windows(2)).zip(b) {
            // up[0] is (i-1, j-1), up[1] is (i-1, j); `left` is (i, j-1).
            let value = if byte_a == byte_b {
                up[0] + 1
            } else {
                up[1].max(left)
            };
            *cell = value;
            left = value;
        }
    }
}

/// Walks a filled table back from the end as Redis `lcsCommand` does,
/// returning the common subsequence and the runs of at least
/// `min_match_len` bytes (all runs when 0), last run first.
fn lcs_walk(a: &[u8], b: &[u8], table: &[u32], min_match_len: u64) -> (Vec<u8>, Vec<LcsMatch>) {
    let width = b.len() + 1;
    let at = |i: usize, j: usize| table.get(j + i * width).copied().unwrap_or(0);
    let total = at(a.len(), b.len()) as usize;
    let mut common = vec![0u8; total];
    let mut remaining = total;
    let mut matches = Vec::new();
    // `a_start == a.len()` means no run is open (Redis's sentinel).
    let unset = a.len();
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (unset, 0, 0, 0);
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        let mut emit = false;
        let (byte_a, byte_b) = (a.get(i - 1), b.get(j - 1));
        if byte_a == byte_b {
            remaining -= 1;
            if let (Some(slot), Some(&byte)) = (common.get_mut(remaining), byte_a) {
                *slot = byte;
            }
            if a_start == unset {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                // Contiguous with the open run: extend it backwards.
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            // A run touching the start of either string ends here.
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            i -= 1;
            j -= 1;
        } else {
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != unset {
                emit = true;
            }
        }
        if emit {
            let run = LcsMatch {
                a_start,
                a_end,
                b_start,
                b_end,
            };
            if min_match_len == 0 || run.len() as u64 >= min_match_len {
                matches.push(run);
            }
            a_start = unset;
        }
    }
    debug_assert_eq!(remaining, 0);
    (common, matches)
}

/// Checks the LCS table size as Redis does and allocates it zeroed.
fn lcs_table(srv: &Server, a_len: usize, b_len: usize) -> Result<Vec<u32>, &'static str> {
    let cells = (a_len as u64 + 1).checked_mul(b_len as u64 + 1);
    let bytes = cells.and_then(|c| c.checked_mul(std::mem::size_of::<u32>() as u64));
    let (Some(cells), Some(bytes)) = (cells, bytes) else {
        return Err(ERR_LCS_TABLE_ALLOC);
    };
    if bytes > srv.config.read().proto_max_bulk_len {
        return Err(ERR_LCS_TABLE_LIMIT);
    }
    let cells = usize::try_from(cells).map_err(|_| ERR_LCS_TABLE_ALLOC)?;
    let mut table = Vec::new();
    table
        .try_reserve_exact(cells)
        .map_err(|_| ERR_LCS_TABLE_ALLOC)?;
    table.resize(cells, 0u32);
    Ok(table)
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN] (Redis 7.0
/// `lcsCommand`). Missing keys are empty strings. The checks run in Redis's
/// order: key types, options, LEN with IDX, string lengths, table size.
///
/// Memory: the table is `(len1+1) * (len2+1)` u32s, refused above
/// `proto-max-bulk-len` bytes as Redis does.
pub fn lcs(ctx: &mut Ctx, argv: &Argv) {
    let (key_a, key_b) = (argv.get(1), argv.get(2));
    let a_len = lcs_operand_len(ctx, key_a);
    let b_len = lcs_operand_len(ctx, key_b);
    let (Some(a_len), Some(b_len)) = (a_len, b_len) else {
        return ctx.out.error(ERR_LCS_WRONGTYPE);
    };
    let opts = match parse_lcs_options(argv) {
        Ok(opts) => opts,
        Err(text) => return ctx.out.error(text),
    };
    if opts.len && opts.idx {
        return ctx.out.error(ERR_LCS_LEN_AND_IDX);
    }
    let too_long = |len: usize| len as u64 >= u64::from(u32::MAX) - 1;
    if too_long(a_len) || too_long(b_len) {
        return ctx.out.error(ERR_LCS_TOO_LONG);
    }
    let mut table = match lcs_table(ctx.srv, a_len, b_len) {
        Ok(table) => table,
        Err(text) => return ctx.out.error(text),
    };
    let a = lcs_operand(ctx, key_a);
    let b = lcs_operand(ctx, key_b);
    lcs_fill(&a, &b, &mut table);
    let total = table.last().copied().unwrap_or(0);
    if opts.len {
        return ctx.out.int(i64::from(total));
    }
    let (common, matches) = lcs_walk(&a, &b, &table, opts.min_match_len);
    if !opts.idx {
        return ctx.out.bulk(&common);
    }
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"matches");
    out.array(matches.len());
    for run in &matches {
        out.array(if opts.with_match_len { 3 } else { 2 });
        for (start, end) in [(run.a_start, run.a_end), (run.b_start, run.b_end)] {
            out.array(2);
            out.int(start as i64);
            out.int(end as i64);
        }
        if opts.with_match_len {
            out.int(run.len() as i64);
        }
    }
    out.bulk(b"len");
    out.int(i64::from(total));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `args` (leaked, so the borrowed result can outlive the call).
    fn parse(args: &[&str], kind: OptionsFor) -> Option<ExtOptions<'static>> {
        parse_ext_options(Box::leak(Box::new(Argv::from_slices(args))), kind)
    }

    #[test]
    fn set_options_follow_redis_conflict_rules() {
        // Goal: the accept/reject table of parseExtendedStringArgumentsOrReply.
        let ok = |args: &[&str]| parse(args, OptionsFor::Set);
        let opts = ok(&["set", "k", "v", "nx", "get", "px", "5"]).unwrap();
        assert!(opts.nx && opts.get && !opts.xx);
        assert_eq!(opts.expire, Some((ExpireUnit::Px, &b"5"[..])));
        // Repeating a flag or the same expire option is fine; the last wins.
        let opts = ok(&["set", "k", "v", "NX", "nx", "EX", "1", "ex", "2"]).unwrap();
        assert_eq!(opts.expire, Some((ExpireUnit::Ex, &b"2"[..])));
        assert!(ok(&["set", "k", "v", "keepttl", "get", "xx"]).is_some_and(|o| o.keepttl && o.xx));
        for bad in [
            &["set", "k", "v", "nx", "xx"][..],
            &["set", "k", "v", "ex", "1", "px", "1"],
            &["set", "k", "v", "exat", "1", "pxat", "1"],
            &["set", "k", "v", "keepttl", "ex", "1"],
            &["set", "k", "v", "ex", "1", "keepttl"],
            &["set", "k", "v", "ex"],
            &["set", "k", "v", "persist"],
            &["set", "k", "v", "nxx"],
        ] {
            assert_eq!(ok(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn getex_options_allow_persist_only_alone() {
        let parse = |args: &[&str]| parse(args, OptionsFor::GetEx);
        assert!(parse(&["getex", "k", "persist"]).is_some_and(|o| o.persist));
        assert!(parse(&["getex", "k", "pxat", "9"])
            .is_some_and(|o| o.expire == Some((ExpireUnit::PxAt, &b"9"[..]))));
        assert_eq!(parse(&["getex", "k", "persist", "ex", "1"]), None);
        assert_eq!(parse(&["getex", "k", "ex", "1", "persist"]), None);
        for set_only in ["nx", "xx", "get", "keepttl"] {
            assert_eq!(parse(&["getex", "k", set_only]), None, "{set_only}");
        }
    }

    #[test]
    fn options_end_at_nul_like_c_strings() {
        let args = Argv::from_slices(&[&b"set"[..], b"k", b"v", b"NX\0junk"]);
        assert!(parse_ext_options(&args, OptionsFor::Set).is_some_and(|o| o.nx));
    }

    #[test]
    fn expire_conversion_matches_get_expire_milliseconds() {
        let now = 1_700_000_000_000;
        assert_eq!(expire_at_ms(b"10", ExpireUnit::Ex, now), Ok(now + 10_000));
        assert_eq!(expire_at_ms(b"10", ExpireUnit::Px, now), Ok(now + 10));
        assert_eq!(expire_at_ms(b"1", ExpireUnit::ExAt, now), Ok(1000));
        assert_eq!(expire_at_ms(b"1", ExpireUnit::PxAt, now), Ok(1));
        assert_eq!(
            expire_at_ms(b"0", ExpireUnit::Px, now),
            Err(ExpireError::Invalid)
        );
        assert_eq!(
            expire_at_ms(b"-1", ExpireUnit::ExAt, now),
            Err(ExpireError::Invalid)
        );
        assert_eq!(
            expire_at_ms(b"x", ExpireUnit::Ex, now),
            Err(ExpireError::NotInt)
        );
        assert_eq!(
            expire_at_ms(b"1.5", ExpireUnit::Ex, now),
            Err(ExpireError::NotInt)
        );
        // Overflow of the multiplication or of the addition of now.
        assert_eq!(
            expire_at_ms(b"9223372036854775807", ExpireUnit::Ex, now),
            Err(ExpireError::Invalid)
        );
        assert_eq!(
            expire_at_ms(b"9223372036854775807", ExpireUnit::Px, now),
            Err(ExpireError::Invalid)
        );
        assert_eq!(
            expire_at_ms(b"9223372036854775", ExpireUnit::Ex, now),
            Err(ExpireError::Invalid)
        );
        assert_eq!(
            expire_at_ms(b"9223372036854775", ExpireUnit::ExAt, now),
            Ok(9_223_372_036_854_775_000)
        );
        assert_eq!(
            expire_at_ms(b"9223372036854775807", ExpireUnit::PxAt, now),
            Ok(i64::MAX as u64)
        );
    }

    #[test]
    fn getrange_bounds_match_redis() {
        // Each case checked against GETRANGE on redis-server 7.0.15 ("hello").
        let hello = |s, e| getrange_bounds(s, e, 5).map(|(a, b)| &"hello"[a..b]);
        assert_eq!(hello(0, -1), Some("hello"));
        assert_eq!(hello(-1, -5), None);
        assert_eq!(hello(0, -100), Some("h"));
        assert_eq!(hello(-100, -100), Some("h"));
        assert_eq!(hello(10, 20), None);
        assert_eq!(hello(3, 100), Some("lo"));
        assert_eq!(hello(i64::MIN, i64::MAX), Some("hello"));
        assert_eq!(hello(i64::MAX, i64::MIN), None);
        assert_eq!(getrange_bounds(0, -1, 0), None);
        assert_eq!(getrange_bounds(0, 0, 0), None);
    }

    fn lcs_of(a: &str, b: &str, min: u64) -> (String, Vec<LcsMatch>, u32) {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let mut table = vec![0u32; (a.len() + 1) * (b.len() + 1)];
        lcs_fill(a, b, &mut table);
        let (common, matches) = lcs_walk(a, b, &table, min);
        (
            String::from_utf8(common).unwrap(),
            matches,
            *table.last().unwrap(),
        )
    }

    fn run(a_start: usize, a_end: usize, b_start: usize, b_end: usize) -> LcsMatch {
        LcsMatch {
            a_start,
            a_end,
            b_start,
            b_end,
        }
    }

    #[test]
    fn lcs_matches_redis_examples() {
        // Replies of LCS ... IDX on redis-server 7.0.15.
        let (common, matches, len) = lcs_of("ohmytext", "mynewtext", 0);
        assert_eq!((common.as_str(), len), ("mytext", 6));
        assert_eq!(matches, vec![run(4, 7, 5, 8), run(2, 3, 0, 1)]);
        assert_eq!(lcs_of("ohmytext", "mynewtext", 4).1, vec![run(4, 7, 5, 8)]);
        let (common, matches, _) = lcs_of("abcXdefYYghi", "abcdefghi", 0);
        assert_eq!(common, "abcdefghi");
        assert_eq!(
            matches,
            vec![run(9, 11, 6, 8), run(4, 6, 3, 5), run(0, 2, 0, 2)]
        );
        assert_eq!(lcs_of("", "abc", 0), (String::new(), vec![], 0));
        assert_eq!(lcs_of("abc", "xyz", 0), (String::new(), vec![], 0));
    }
}
