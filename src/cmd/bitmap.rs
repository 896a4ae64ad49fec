//! Bit operations on string values (bitops.c): SETBIT GETBIT BITCOUNT
//! BITPOS BITOP BITFIELD BITFIELD_RO. Bit 0 is the most significant bit
//! of the first byte, as Redis numbers them.

use super::command_table;
use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::string::ERR_STRING_ALLOC;
use super::{eq_ic, Ctx, ERR_NOT_INT, ERR_SYNTAX, ERR_WRONGTYPE};
use crate::num::parse_i64;
use crate::protocol::Argv;
use crate::store::{events, Entry, Value};

const W: u32 = WRITE | DENYOOM;
const RF: u32 = READONLY | FAST;

command_table! {
    pub static TABLE;
    "setbit", 4, W, (1, 1, 1), "@write @bitmap @slow", setbit;
    "getbit", 3, RF, (1, 1, 1), "@read @bitmap @fast", getbit;
    "bitcount", -2, READONLY, (1, 1, 1), "@read @bitmap @slow", bitcount;
    "bitpos", -3, READONLY, (1, 1, 1), "@read @bitmap @slow", bitpos;
    "bitop", -4, W, (2, -1, 1), "@write @bitmap @slow", bitop;
    "bitfield", -2, W, (1, 1, 1), "@write @bitmap @slow", bitfield;
    "bitfield_ro", -2, RF, (1, 1, 1), "@read @bitmap @fast", bitfield_ro;
}

const ERR_BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const ERR_BIT_VALUE: &str = "ERR bit is not an integer or out of range";
const ERR_BIT_ARG: &str = "ERR The bit argument must be 1 or 0.";
const ERR_BITFIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// `getBitOffsetFromArgument`: a bit offset, `#n` meaning `n * bits` when
/// `bits` is given (BITFIELD); at most `proto-max-bulk-len` bytes in, except
/// for the master's stream.
fn bit_offset(ctx: &Ctx, arg: &[u8], bits: Option<u64>) -> Result<u64, &'static str> {
    let (hash, digits) = match (arg.first(), bits) {
        (Some(b'#'), Some(_)) => (true, &arg[1..]),
        _ => (false, arg),
    };
    let n = parse_i64(digits).ok_or(ERR_BIT_OFFSET)?;
    let n = match (hash, bits) {
        (true, Some(bits)) => n.checked_mul(bits as i64).ok_or(ERR_BIT_OFFSET)?,
        _ => n,
    };
    let offset = u64::try_from(n).map_err(|_| ERR_BIT_OFFSET)?;
    if !ctx.client.master_link && (offset >> 3) >= ctx.srv.config.read().proto_max_bulk_len {
        return Err(ERR_BIT_OFFSET);
    }
    Ok(offset)
}

/// `lookupStringForBitCommand`: the string at `key`, created or
/// zero-padded so that bit `maxbit` exists; `Ok(true)` when that created
/// or grew it.
fn string_for_bits<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
    maxbit: u64,
) -> Result<(&'a mut Vec<u8>, bool), &'static str> {
    let len = usize::try_from(maxbit >> 3)
        .ok()
        .and_then(|b| b.checked_add(1))
        .ok_or(ERR_STRING_ALLOC)?;
    // Only a look: the lookup below that changes it keeps the snapshot's
    // copy, once.
    let exists = match ctx.ks.lookup_write_ref(key) {
        None => false,
        Some(entry) if entry.value.string_len().is_none() => return Err(ERR_WRONGTYPE),
        Some(_) => true,
    };
    if !exists {
        let mut buf = Vec::new();
        buf.try_reserve_exact(len).map_err(|_| ERR_STRING_ALLOC)?;
        buf.resize(len, 0);
        ctx.ks.add(key, Value::Raw(buf), 0);
    }
    let entry: &mut Entry = ctx.ks.lookup_write(key).ok_or(ERR_WRONGTYPE)?;
    let buf = entry.value.make_raw().ok_or(ERR_WRONGTYPE)?;
    let mut grown = !exists;
    if buf.len() < len {
        buf.try_reserve_exact(len - buf.len())
            .map_err(|_| ERR_STRING_ALLOC)?;
        buf.resize(len, 0);
        grown = true;
    }
    Ok((buf, grown))
}

/// SETBIT key offset 0|1: replies with the bit's old value.
pub fn setbit(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let offset = match bit_offset(ctx, argv.get(2), None) {
        Ok(o) => o,
        Err(e) => return ctx.out.error(e),
    };
    let on = match parse_i64(argv.get(3)) {
        Some(v @ (0 | 1)) => v == 1,
        _ => return ctx.out.error(ERR_BIT_VALUE),
    };
    let (buf, grown) = match string_for_bits(ctx, key, offset) {
        Ok(found) => found,
        Err(e) => return ctx.out.error(e),
    };
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let was = buf[byte] & mask != 0;
    if grown || was != on {
        if on {
            buf[byte] |= mask;
        } else {
            buf[byte] &= !mask;
        }
        ctx.ks.modified(key);
        ctx.ks.notify(events::STRING, "setbit", key);
    }
    ctx.out.int(i64::from(was));
}

/// GETBIT key offset.
pub fn getbit(ctx: &mut Ctx, argv: &Argv) {
    let offset = match bit_offset(ctx, argv.get(2), None) {
        Ok(o) => o,
        Err(e) => return ctx.out.error(e),
    };
    let Some(entry) = ctx.ks.lookup_read(argv.get(1)) else {
        return ctx.out.int(0);
    };
    let bit = entry.value.with_string_bytes(|bytes| {
        let byte = usize::try_from(offset >> 3).ok().and_then(|b| bytes.get(b));
        byte.is_some_and(|b| b & (1 << (7 - (offset & 7))) != 0)
    });
    match bit {
        Some(bit) => ctx.out.int(i64::from(bit)),
        None => ctx.out.error(ERR_WRONGTYPE),
    }
}

/// A string key's bytes, copied (None: missing); WRONGTYPE for others.
pub(super) fn read_bytes(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<u8>>, &'static str> {
    match ctx.ks.lookup_read(key) {
        None => Ok(None),
        Some(entry) => entry
            .value
            .with_string_bytes(<[u8]>::to_vec)
            .map(Some)
            .ok_or(ERR_WRONGTYPE),
    }
}

/// A `start end [BIT|BYTE]` range over `len` bytes resolved as Redis 7.0
/// does: byte bounds `start..=end` (possibly empty, start > end) and, in
/// BIT mode, the masks of the edge bytes' bits outside the range.
struct Range {
    start: i64,
    end: i64,
    first_mask: u8,
    last_mask: u8,
}

fn resolve(mut start: i64, mut end: i64, len: i64, bits: bool) -> Range {
    let total = if bits { len << 3 } else { len };
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    let (mut first_mask, mut last_mask) = (0, 0);
    if bits && start <= end {
        first_mask = !((1u16 << (8 - (start & 7))) - 1) as u8;
        last_mask = ((1u16 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    Range {
        start,
        end,
        first_mask,
        last_mask,
    }
}

fn bit_unit(arg: &[u8]) -> Option<bool> {
    if eq_ic(arg, "bit") {
        Some(true)
    } else if eq_ic(arg, "byte") {
        Some(false)
    } else {
        None
    }
}

/// BITCOUNT key [start end [BIT|BYTE]].
pub fn bitcount(ctx: &mut Ctx, argv: &Argv) {
    let bytes = match read_bytes(ctx, argv.get(1)) {
        Ok(Some(b)) => b,
        Ok(None) => return ctx.out.int(0),
        Err(e) => return ctx.out.error(e),
    };
    let len = bytes.len() as i64;
    let range = match argv.len() {
        2 => Range {
            start: 0,
            end: len - 1,
            first_mask: 0,
            last_mask: 0,
        },
        4 | 5 => {
            let (Some(start), Some(end)) = (parse_i64(argv.get(2)), parse_i64(argv.get(3))) else {
                return ctx.out.error(ERR_NOT_INT);
            };
            if start < 0 && end < 0 && start > end {
                return ctx.out.int(0);
            }
            let bits = match argv.len() {
                5 => match bit_unit(argv.get(4)) {
                    Some(b) => b,
                    None => return ctx.out.error(ERR_SYNTAX),
                },
                _ => false,
            };
            resolve(start, end, len, bits)
        }
        _ => return ctx.out.error(ERR_SYNTAX),
    };
    if range.start > range.end {
        return ctx.out.int(0);
    }
    let (s, e) = (range.start as usize, range.end as usize);
    let mut count: u64 = bytes[s..=e].iter().map(|b| u64::from(b.count_ones())).sum();
    count -= u64::from((bytes[s] & range.first_mask).count_ones());
    count -= u64::from((bytes[e] & range.last_mask).count_ones());
    ctx.out.int(count as i64);
}

/// `redisBitpos`: the first bit equal to `bit` in `bytes`; none found is
/// -1 when looking for a 1 and the bit just past the end for a 0 (the
/// string is taken as zero-padded on the right).
fn first_bit(bytes: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0 } else { 0xff };
    match bytes.iter().position(|&b| b != skip) {
        Some(i) => {
            let b = if bit { bytes[i] } else { !bytes[i] };
            (i as i64) * 8 + i64::from(b.leading_zeros())
        }
        None if bit => -1,
        None => bytes.len() as i64 * 8,
    }
}

/// BITPOS key bit [start [end [BIT|BYTE]]].
pub fn bitpos(ctx: &mut Ctx, argv: &Argv) {
    let bit = match parse_i64(argv.get(2)) {
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => return ctx.out.error(ERR_BIT_ARG),
        None => return ctx.out.error(ERR_NOT_INT),
    };
    let bytes = match read_bytes(ctx, argv.get(1)) {
        Ok(Some(b)) => b,
        Ok(None) => return ctx.out.int(if bit { -1 } else { 0 }),
        Err(e) => return ctx.out.error(e),
    };
    let len = bytes.len() as i64;
    let mut end_given = false;
    let range = match argv.len() {
        3 => Range {
            start: 0,
            end: len - 1,
            first_mask: 0,
            last_mask: 0,
        },
        4..=6 => {
            let Some(start) = parse_i64(argv.get(3)) else {
                return ctx.out.error(ERR_NOT_INT);
            };
            let bits = match argv.len() {
                6 => match bit_unit(argv.get(5)) {
                    Some(b) => b,
                    None => return ctx.out.error(ERR_SYNTAX),
                },
                _ => false,
            };
            let end = if argv.len() >= 5 {
                end_given = true;
                match parse_i64(argv.get(4)) {
                    Some(e) => e,
                    None => return ctx.out.error(ERR_NOT_INT),
                }
            } else if bits {
                (len << 3) + 7
            } else {
                len - 1
            };
            resolve(start, end, len, bits)
        }
        _ => return ctx.out.error(ERR_SYNTAX),
    };
    if range.start > range.end {
        return ctx.out.int(-1);
    }
    let (s, e) = (range.start as usize, range.end as usize);
    // The bytes of the range, with the bits outside it set to what is
    // not looked for.
    let mut window = bytes[s..=e].to_vec();
    let hide = |b: &mut u8, mask: u8| {
        if bit {
            *b &= !mask;
        } else {
            *b |= mask;
        }
    };
    if let Some(first) = window.first_mut() {
        hide(first, range.first_mask);
    }
    if let Some(last) = window.last_mut() {
        hide(last, range.last_mask);
    }
    let pos = first_bit(&window, bit);
    // Looking for a 0 within an explicit end: the padding bit past the
    // range does not count.
    if end_given && !bit && pos == window.len() as i64 * 8 {
        return ctx.out.int(-1);
    }
    ctx.out
        .int(if pos == -1 { -1 } else { pos + range.start * 8 });
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]: replies with the result's
/// length; an empty result deletes the destination.
pub fn bitop(ctx: &mut Ctx, argv: &Argv) {
    #[derive(PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = match argv.get(1) {
        o if eq_ic(o, "and") => Op::And,
        o if eq_ic(o, "or") => Op::Or,
        o if eq_ic(o, "xor") => Op::Xor,
        o if eq_ic(o, "not") => Op::Not,
        _ => return ctx.out.error(ERR_SYNTAX),
    };
    if op == Op::Not && argv.len() != 4 {
        return ctx
            .out
            .error("ERR BITOP NOT must be called with a single source key.");
    }
    let mut sources = Vec::with_capacity(argv.len() - 3);
    for key in argv.iter().skip(3) {
        match read_bytes(ctx, key) {
            Ok(bytes) => sources.push(bytes.unwrap_or_default()),
            Err(e) => return ctx.out.error(e),
        }
    }
    let maxlen = sources.iter().map(Vec::len).max().unwrap_or(0);
    let dst = argv.get(2);
    if maxlen == 0 {
        ctx.ks.delete_notified(dst);
        return ctx.out.int(0);
    }
    let mut out = Vec::new();
    if out.try_reserve_exact(maxlen).is_err() {
        return ctx.out.error(ERR_STRING_ALLOC);
    }
    for j in 0..maxlen {
        let at = |s: &Vec<u8>| s.get(j).copied().unwrap_or(0);
        let mut byte = at(&sources[0]);
        if op == Op::Not {
            byte = !byte;
        }
        for s in &sources[1..] {
            match op {
                Op::And => byte &= at(s),
                Op::Or => byte |= at(s),
                Op::Xor => byte ^= at(s),
                Op::Not => {}
            }
        }
        out.push(byte);
    }
    ctx.ks.set(dst, Value::Raw(out), 0);
    ctx.ks.notify(events::STRING, "set", dst);
    ctx.out.int(maxlen as i64);
}

/// `BFOVERFLOW_*`.
#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set(i64),
    Incr(i64),
}

struct Field {
    op: FieldOp,
    offset: u64,
    bits: u32,
    signed: bool,
    overflow: Overflow,
}

/// `getBitfieldTypeFromArgument`: `i1`..`i64`, `u1`..`u63`.
fn field_type(arg: &[u8]) -> Option<(bool, u32)> {
    let signed = match arg.first()? {
        b'i' => true,
        b'u' => false,
        _ => return None,
    };
    let bits = parse_i64(&arg[1..])?;
    let max = if signed { 64 } else { 63 };
    (1..=max).contains(&bits).then_some((signed, bits as u32))
}

fn get_bits(buf: &[u8], offset: u64, bits: u32) -> u64 {
    let mut value = 0u64;
    for j in 0..u64::from(bits) {
        let at = offset + j;
        let byte = buf.get((at >> 3) as usize).copied().unwrap_or(0);
        value = (value << 1) | u64::from((byte >> (7 - (at & 7))) & 1);
    }
    value
}

fn set_bits(buf: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..u64::from(bits) {
        let on = value & (1u64 << (u64::from(bits) - 1 - j)) != 0;
        let at = offset + j;
        let mask = 1u8 << (7 - (at & 7));
        let byte = &mut buf[(at >> 3) as usize];
        if on {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

fn sign_extend(value: u64, bits: u32) -> i64 {
    if bits < 64 && value & (1u64 << (bits - 1)) != 0 {
        (value | (u64::MAX << bits)) as i64
    } else {
        value as i64
    }
}

/// `checkUnsignedBitfieldOverflow`: the value to store, or None when the
/// operation fails (FAIL on overflow).
fn unsigned_result(value: u64, incr: i64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let over = value > max || (incr > 0 && incr > maxincr);
    let under = !over && incr < 0 && incr < minincr;
    if !over && !under {
        return Some(value.wrapping_add(incr as u64));
    }
    match overflow {
        Overflow::Wrap => Some(value.wrapping_add(incr as u64) & !(u64::MAX << bits)),
        Overflow::Sat => Some(if over { max } else { 0 }),
        Overflow::Fail => None,
    }
}

/// `checkSignedBitfieldOverflow`, as [`unsigned_result`].
fn signed_result(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let over =
        value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr);
    let under = !over
        && (value < min
            || (bits != 64 && incr < minincr)
            || (value < 0 && incr < 0 && incr < minincr));
    if !over && !under {
        return Some(value.wrapping_add(incr));
    }
    match overflow {
        Overflow::Wrap => {
            let c = (value as u64).wrapping_add(incr as u64);
            Some(sign_extend(
                c & !(u64::MAX.checked_shl(bits).unwrap_or(0)),
                bits,
            ))
        }
        Overflow::Sat => Some(if over { max } else { min }),
        Overflow::Fail => None,
    }
}

/// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type
/// offset increment] [OVERFLOW WRAP|SAT|FAIL] ...
pub fn bitfield(ctx: &mut Ctx, argv: &Argv) {
    bitfield_generic(ctx, argv, false);
}

/// BITFIELD_RO key [GET type offset] ...
pub fn bitfield_ro(ctx: &mut Ctx, argv: &Argv) {
    bitfield_generic(ctx, argv, true);
}

fn bitfield_generic(ctx: &mut Ctx, argv: &Argv, read_only: bool) {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest: Option<u64> = None;
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let sub = argv.get(j);
        let is_get = eq_ic(sub, "get") && left >= 2;
        let is_set = eq_ic(sub, "set") && left >= 3;
        let is_incr = eq_ic(sub, "incrby") && left >= 3;
        if eq_ic(sub, "overflow") && left >= 1 {
            overflow = match argv.get(j + 1) {
                o if eq_ic(o, "wrap") => Overflow::Wrap,
                o if eq_ic(o, "sat") => Overflow::Sat,
                o if eq_ic(o, "fail") => Overflow::Fail,
                _ => return ctx.out.error("ERR Invalid OVERFLOW type specified"),
            };
            j += 2;
            continue;
        }
        if !(is_get || is_set || is_incr) {
            return ctx.out.error(ERR_SYNTAX);
        }
        let Some((signed, bits)) = field_type(argv.get(j + 1)) else {
            return ctx.out.error(ERR_BITFIELD_TYPE);
        };
        let offset = match bit_offset(ctx, argv.get(j + 2), Some(u64::from(bits))) {
            Ok(o) => o,
            Err(e) => return ctx.out.error(e),
        };
        let op = if is_get {
            FieldOp::Get
        } else {
            let Some(v) = parse_i64(argv.get(j + 3)) else {
                return ctx.out.error(ERR_NOT_INT);
            };
            let top = offset.saturating_add(u64::from(bits) - 1);
            highest = Some(highest.map_or(top, |h| h.max(top)));
            if is_set {
                FieldOp::Set(v)
            } else {
                FieldOp::Incr(v)
            }
        };
        fields.push(Field {
            op,
            offset,
            bits,
            signed,
            overflow,
        });
        j += if is_get { 3 } else { 4 };
    }
    let key = argv.get(1);
    let Some(maxbit) = highest else {
        // Only GETs: read the string as it is.
        let bytes = match read_bytes(ctx, key) {
            Ok(b) => b.unwrap_or_default(),
            Err(e) => return ctx.out.error(e),
        };
        ctx.out.array(fields.len());
        for f in &fields {
            let raw = get_bits(&bytes, f.offset, f.bits);
            let v = if f.signed {
                sign_extend(raw, f.bits)
            } else {
                raw as i64
            };
            ctx.out.int(v);
        }
        return;
    };
    if read_only {
        return ctx
            .out
            .error("ERR BITFIELD_RO only supports the GET subcommand");
    }
    let (buf, grown) = match string_for_bits(ctx, key, maxbit) {
        Ok(found) => found,
        Err(e) => return ctx.out.error(e),
    };
    let mut replies: Vec<Option<i64>> = Vec::with_capacity(fields.len());
    let mut changes = 0u64;
    for f in &fields {
        let old = get_bits(buf, f.offset, f.bits);
        let (reply, new) = match (f.op, f.signed) {
            (FieldOp::Get, signed) => {
                let v = if signed {
                    sign_extend(old, f.bits)
                } else {
                    old as i64
                };
                replies.push(Some(v));
                continue;
            }
            (FieldOp::Set(v), true) => {
                let stored = signed_result(v, 0, f.bits, f.overflow);
                (
                    stored.map(|_| sign_extend(old, f.bits)),
                    stored.map(|s| s as u64),
                )
            }
            (FieldOp::Incr(by), true) => {
                let stored = signed_result(sign_extend(old, f.bits), by, f.bits, f.overflow);
                (stored, stored.map(|s| s as u64))
            }
            (FieldOp::Set(v), false) => {
                let stored = unsigned_result(v as u64, 0, f.bits, f.overflow);
                (stored.map(|_| old as i64), stored)
            }
            (FieldOp::Incr(by), false) => {
                let stored = unsigned_result(old, by, f.bits, f.overflow);
                (stored.map(|s| s as i64), stored)
            }
        };
        replies.push(reply);
        if let Some(new) = new {
            let masked = if f.bits == 64 {
                new
            } else {
                new & !(u64::MAX << f.bits)
            };
            set_bits(buf, f.offset, f.bits, masked);
            if grown || masked != old {
                changes += 1;
            }
        }
    }
    if changes > 0 {
        ctx.ks.modified(key);
        ctx.ks.dirty += changes - 1;
        ctx.ks.notify(events::STRING, "setbit", key);
    }
    ctx.out.array(replies.len());
    for reply in replies {
        match reply {
            Some(v) => ctx.out.int(v),
            None => ctx.out.null(),
        }
    }
}
