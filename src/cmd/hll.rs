//! HyperLogLog (hyperloglog.c): PFADD PFCOUNT PFMERGE over string values
//! in Redis's exact representation (the `HYLL` header, sparse and dense
//! encodings, the cached cardinality), so the bytes a command leaves are
//! the bytes redis-server would: RDB files, DUMP payloads, replication
//! and DEBUG DIGEST agree between the two.
//!
//! Strings come from peers too (RESTORE, RDB files, a master's SET): every
//! read is bounds-checked, and a malformed sparse run is an `INVALIDOBJ`
//! error, never a panic.

use super::command_table;
use super::flags::{DENYOOM, FAST, MAY_REPLICATE, READONLY, WRITE};
use super::{Ctx, ERR_WRONGTYPE};
use crate::protocol::Argv;
use crate::store::{events, Value};

command_table! {
    pub static TABLE;
    "pfadd", -2, WRITE | DENYOOM | FAST, (1, 1, 1), "@write @hyperloglog @fast", pfadd;
    "pfcount", -2, READONLY | MAY_REPLICATE, (1, -1, 1), "@read @hyperloglog @slow", pfcount;
    "pfmerge", -2, WRITE | DENYOOM, (1, -1, 1), "@write @hyperloglog @slow", pfmerge;
}

const ERR_NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const ERR_INVALID: &str = "INVALIDOBJ Corrupted HLL object detected";

const P: u32 = 14;
const Q: u32 = 64 - P;
const REGISTERS: usize = 1 << P;
const REGISTER_MAX: u8 = 63;
const HDR: usize = 16;
/// Header + 16384 registers of 6 bits.
const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
/// 0.5 / ln(2).
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

// --- Hashing -----------------------------------------------------------------

/// MurmurHash64A as hyperloglog.c has it (8-byte little-endian blocks).
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut blocks = key.chunks_exact(8);
    for block in &mut blocks {
        let mut k = u64::from_le_bytes(block.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate().rev() {
            h ^= u64::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// `hllPatLen`: the register an element maps to and the length of its
/// run of zeroes plus one.
fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// --- Dense registers -----------------------------------------------------------

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = u32::from(regs.get(byte).copied().unwrap_or(0));
    let b1 = u32::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u32::from(REGISTER_MAX)) as u8
}

fn dense_put(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = u32::from(v);
    let max = u32::from(REGISTER_MAX);
    if let Some(b) = regs.get_mut(byte) {
        *b &= !((max << fb) as u8);
        *b |= (v << fb) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((max >> (8 - fb)) as u8);
        *b |= (v >> (8 - fb)) as u8;
    }
}

/// `hllDenseSet`: true when the register grew.
fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

// --- Sparse opcodes ------------------------------------------------------------

enum Op {
    /// Registers at 0 (ZERO: one byte, XZERO: two).
    Zero { len: usize, bytes: usize },
    /// `len` registers at `value`.
    Val { value: u8, len: usize },
}

/// The opcode at `p` (a missing second XZERO byte reads as 0).
fn op_at(s: &[u8], p: usize) -> Op {
    let b = s[p];
    if b & 0x80 != 0 {
        Op::Val {
            value: ((b >> 2) & 0x1f) + 1,
            len: usize::from(b & 0x3) + 1,
        }
    } else if b & 0xc0 == 0x40 {
        let low = s.get(p + 1).copied().unwrap_or(0);
        Op::Zero {
            len: ((usize::from(b & 0x3f) << 8) | usize::from(low)) + 1,
            bytes: 2,
        }
    } else {
        Op::Zero {
            len: usize::from(b & 0x3f) + 1,
            bytes: 1,
        }
    }
}

fn val_op(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len - 1) as u8
}

/// ZERO or XZERO for `len` zero registers.
fn push_zero(seq: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        let l = len - 1;
        seq.push(0x40 | (l >> 8) as u8);
        seq.push((l & 0xff) as u8);
    } else {
        seq.push((len - 1) as u8);
    }
}

/// Every register's value from a sparse body; None when the runs do not
/// cover exactly 16384 registers.
fn sparse_registers(body: &[u8]) -> Option<Vec<u8>> {
    let mut regs = vec![0u8; REGISTERS];
    let (mut p, mut idx) = (0, 0usize);
    while p < body.len() {
        match op_at(body, p) {
            Op::Zero { len, bytes } => {
                idx += len;
                p += bytes;
            }
            Op::Val { value, len } => {
                if idx + len > REGISTERS {
                    return None;
                }
                regs[idx..idx + len].fill(value);
                idx += len;
                p += 1;
            }
        }
    }
    (idx == REGISTERS).then_some(regs)
}

// --- Whole HLL strings -----------------------------------------------------------

/// `createHLLObject`: an empty sparse HLL (one XZERO run).
fn new_hll() -> Vec<u8> {
    let mut s = vec![0u8; HDR];
    s[..4].copy_from_slice(b"HYLL");
    s[4] = SPARSE;
    push_zero(&mut s, XZERO_MAX_LEN);
    s
}

/// `isHLLObjectOrReply`'s checks on the bytes.
fn is_hll(s: &[u8]) -> bool {
    s.len() >= HDR
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

fn invalidate_cache(s: &mut [u8]) {
    s[15] |= 0x80;
}

/// `hllSparseToDense` (in place; nothing to do when dense already).
fn to_dense(s: &mut Vec<u8>) -> Result<(), ()> {
    if s[4] == DENSE {
        return Ok(());
    }
    let regs = sparse_registers(&s[HDR..]).ok_or(())?;
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&s[..HDR]);
    dense[4] = DENSE;
    for (i, v) in regs.into_iter().enumerate() {
        if v != 0 {
            dense_put(&mut dense[HDR..], i, v);
        }
    }
    *s = dense;
    Ok(())
}

/// `hllSparseSet`: sets register `index` to `count` when larger, splitting
/// the run that covers it and merging equal neighbours as Redis does;
/// promotes to dense past `max_bytes` or for a count over 32. Ok(true)
/// when the register changed.
fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8, max_bytes: u64) -> Result<bool, ()> {
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    let (mut p, mut first) = (HDR, 0usize);
    let mut prev: Option<usize> = None;
    let mut span = 0;
    let mut op = None;
    while p < s.len() {
        let here = op_at(s, p);
        let (len, bytes) = match here {
            Op::Zero { len, bytes } => (len, bytes),
            Op::Val { len, .. } => (len, 1),
        };
        span = len;
        if index < first + span {
            op = Some(here);
            break;
        }
        prev = Some(p);
        p += bytes;
        first += span;
    }
    let Some(op) = op else { return Err(()) };
    if span == 0 {
        return Err(());
    }
    let last = first + span - 1;
    let mut seq = Vec::with_capacity(5);
    let old_len = match op {
        Op::Val { value, len } => {
            if value >= count {
                return Ok(false);
            }
            if len == 1 {
                s[p] = val_op(count, 1);
                merge_from(s, prev.unwrap_or(HDR));
                invalidate_cache(s);
                return Ok(true);
            }
            if index != first {
                seq.push(val_op(value, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(value, last - index));
            }
            1
        }
        Op::Zero { len, bytes } => {
            if bytes == 1 && len == 1 {
                s[p] = val_op(count, 1);
                merge_from(s, prev.unwrap_or(HDR));
                invalidate_cache(s);
                return Ok(true);
            }
            if index != first {
                push_zero(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zero(&mut seq, last - index);
            }
            bytes
        }
    };
    let old_end = (p + old_len).min(s.len());
    if seq.len() > old_end - p && (s.len() + seq.len() - (old_end - p)) as u64 > max_bytes {
        return promote(s, index, count);
    }
    s.splice(p..old_end, seq);
    merge_from(s, prev.unwrap_or(HDR));
    invalidate_cache(s);
    Ok(true)
}

/// Step 4 of `hllSparseSet`: from `p`, up to 5 opcodes, adjacent VALs of
/// one value whose lengths fit one opcode become one.
fn merge_from(s: &mut Vec<u8>, mut p: usize) {
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        match op_at(s, p) {
            Op::Zero { bytes, .. } => {
                p += bytes;
                continue;
            }
            Op::Val { value: v1, len: l1 } => {
                if let Some(&next) = s.get(p + 1) {
                    if next & 0x80 != 0 {
                        if let Op::Val { value: v2, len: l2 } = op_at(s, p + 1) {
                            if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                                s[p + 1] = val_op(v1, l1 + l2);
                                s.remove(p);
                                continue;
                            }
                        }
                    }
                }
                p += 1;
            }
        }
    }
}

/// The promote path of `hllSparseSet`: to dense, then the register set.
fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, ()> {
    to_dense(s)?;
    Ok(dense_set(&mut s[HDR..], index, count))
}

/// `hllAdd`.
fn add(s: &mut Vec<u8>, ele: &[u8], max_bytes: u64) -> Result<bool, ()> {
    let (index, count) = pattern(ele);
    match s[4] {
        DENSE => Ok(dense_set(&mut s[HDR..], index, count)),
        SPARSE => sparse_set(s, index, count, max_bytes),
        _ => Err(()),
    }
}

/// `hllMerge`: `max[i] = MAX(max[i], register i)`.
fn merge_into(max: &mut [u8], s: &[u8]) -> Result<(), ()> {
    if s[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(&s[HDR..], i));
        }
        return Ok(());
    }
    let regs = sparse_registers(&s[HDR..]).ok_or(())?;
    for (m, r) in max.iter_mut().zip(regs) {
        *m = (*m).max(r);
    }
    Ok(())
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if previous == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if previous == z {
            return z / 3.0;
        }
    }
}

/// `hllCount` from the registers' histogram (Ertl's estimator).
fn count(histogram: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histogram[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histogram[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histogram[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn histogram_of(regs: impl IntoIterator<Item = u8>) -> [u64; 64] {
    let mut h = [0u64; 64];
    for r in regs {
        h[usize::from(r & 63)] += 1;
    }
    h
}

/// The cardinality of one HLL string; Err when its sparse runs are bad.
fn cardinality(s: &[u8]) -> Result<u64, ()> {
    let histogram = if s[4] == DENSE {
        histogram_of((0..REGISTERS).map(|i| dense_get(&s[HDR..], i)))
    } else {
        // hllSparseRegHisto: only the runs' total is checked there, and a
        // run past the end makes the total wrong anyway.
        histogram_of(sparse_registers(&s[HDR..]).ok_or(())?)
    };
    Ok(count(&histogram))
}

// --- Commands ------------------------------------------------------------------

fn sparse_max_bytes(ctx: &Ctx) -> u64 {
    ctx.srv.config.read().hll_sparse_max_bytes
}

/// A string key's bytes for a HyperLogLog command: Ok(None) when missing,
/// the error reply text for other types and non-HLL strings.
fn read_hll(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<u8>>, &'static str> {
    match super::bitmap::read_bytes(ctx, key)? {
        Some(bytes) if !is_hll(&bytes) => Err(ERR_NOT_HLL),
        found => Ok(found),
    }
}

/// PFADD key [element ...]: 1 when a register changed or the key was made.
pub fn pfadd(ctx: &mut Ctx, argv: &Argv) {
    let key = argv.get(1);
    let max_bytes = sparse_max_bytes(ctx);
    let (mut s, created) = match ctx.ks.lookup_write(key) {
        None => (new_hll(), true),
        Some(entry) => match entry.value.with_string_bytes(<[u8]>::to_vec) {
            None => return ctx.out.error(ERR_WRONGTYPE),
            Some(bytes) if is_hll(&bytes) => {
                // dbUnshareStringValue: raw from here on, changed or not.
                entry.value.make_raw();
                (bytes, false)
            }
            Some(_) => return ctx.out.error(ERR_NOT_HLL),
        },
    };
    let mut updated = u64::from(created);
    for ele in argv.iter().skip(2) {
        match add(&mut s, ele, max_bytes) {
            Ok(true) => updated += 1,
            Ok(false) => {}
            Err(()) => return ctx.out.error(ERR_INVALID),
        }
    }
    if updated > 0 {
        invalidate_cache(&mut s);
        store(ctx, key, s, created);
        ctx.ks.dirty += updated - 1;
        ctx.ks.notify(events::STRING, "pfadd", key);
    }
    ctx.out.int(i64::from(updated > 0));
}

/// Puts `s` back at `key` as a raw string, counting one change.
fn store(ctx: &mut Ctx, key: &[u8], s: Vec<u8>, created: bool) {
    if created {
        ctx.ks.add(key, Value::Raw(s), 0);
        ctx.ks.modified(key);
        return;
    }
    if let Some(raw) = ctx.ks.lookup_write(key).and_then(|e| e.value.make_raw()) {
        *raw = s;
    }
    ctx.ks.modified(key);
}

/// PFCOUNT key [key ...]: one key's cached or computed cardinality (the
/// cache written back, a change), or the union's.
pub fn pfcount(ctx: &mut Ctx, argv: &Argv) {
    if argv.len() > 2 {
        let mut max = vec![0u8; REGISTERS];
        for key in argv.iter().skip(1) {
            match read_hll(ctx, key) {
                Ok(None) => {}
                Ok(Some(s)) => {
                    if merge_into(&mut max, &s).is_err() {
                        return ctx.out.error(ERR_INVALID);
                    }
                }
                Err(e) => return ctx.out.error(e),
            }
        }
        return ctx.out.int(count(&histogram_of(max)) as i64);
    }
    let key = argv.get(1);
    let mut s = match read_hll(ctx, key) {
        Ok(None) => return ctx.out.int(0),
        Ok(Some(s)) => s,
        Err(e) => return ctx.out.error(e),
    };
    if let Some(entry) = ctx.ks.lookup_write(key) {
        entry.value.make_raw();
    }
    if s[15] & 0x80 == 0 {
        let card = u64::from_le_bytes(s[8..16].try_into().unwrap_or([0; 8]));
        return ctx.out.int(card as i64);
    }
    let Ok(card) = cardinality(&s) else {
        return ctx.out.error(ERR_INVALID);
    };
    s[8..16].copy_from_slice(&card.to_le_bytes());
    store(ctx, key, s, false);
    ctx.out.int(card as i64);
}

/// PFMERGE destkey [sourcekey ...]: the union into `destkey` (itself one
/// of the inputs), dense when any input was.
pub fn pfmerge(ctx: &mut Ctx, argv: &Argv) {
    let mut max = vec![0u8; REGISTERS];
    let mut use_dense = false;
    for key in argv.iter().skip(1) {
        match read_hll(ctx, key) {
            Ok(None) => {}
            Ok(Some(s)) => {
                use_dense |= s[4] == DENSE;
                if merge_into(&mut max, &s).is_err() {
                    return ctx.out.error(ERR_INVALID);
                }
            }
            Err(e) => return ctx.out.error(e),
        }
    }
    let key = argv.get(1);
    let max_bytes = sparse_max_bytes(ctx);
    let (mut s, created) = match ctx
        .ks
        .lookup_write(key)
        .and_then(|e| e.value.with_string_bytes(<[u8]>::to_vec))
    {
        Some(bytes) => (bytes, false),
        None => (new_hll(), true),
    };
    if use_dense && to_dense(&mut s).is_err() {
        return ctx.out.error(ERR_INVALID);
    }
    for (i, &m) in max.iter().enumerate() {
        if m == 0 {
            continue;
        }
        let set = match s[4] {
            DENSE => Ok(dense_set(&mut s[HDR..], i, m)),
            _ => sparse_set(&mut s, i, m, max_bytes),
        };
        if set.is_err() {
            return ctx.out.error(ERR_INVALID);
        }
    }
    invalidate_cache(&mut s);
    store(ctx, key, s, created);
    // hyperloglog.c: a merge is a mass add, so it is a "pfadd" event.
    ctx.ks.notify(events::STRING, "pfadd", key);
    ctx.out.ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_hll_is_one_xzero_run() {
        let s = new_hll();
        assert_eq!(s.len(), 18);
        assert_eq!(&s[16..], [0x7f, 0xff]);
        assert!(is_hll(&s));
        assert_eq!(cardinality(&s), Ok(0));
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut sparse = new_hll();
        let mut dense = new_hll();
        to_dense(&mut dense).unwrap();
        for i in 0..2000u32 {
            let ele = format!("element:{i}");
            let a = add(&mut sparse, ele.as_bytes(), u64::MAX).unwrap();
            let b = add(&mut dense, ele.as_bytes(), u64::MAX).unwrap();
            assert_eq!(a, b, "{ele}");
        }
        assert_eq!(sparse[4], SPARSE);
        assert_eq!(
            sparse_registers(&sparse[HDR..]).unwrap(),
            (0..REGISTERS)
                .map(|i| dense_get(&dense[HDR..], i))
                .collect::<Vec<_>>()
        );
        let card = cardinality(&sparse).unwrap();
        assert_eq!(card, cardinality(&dense).unwrap());
        assert!((1900..=2100).contains(&card), "{card}");
    }

    #[test]
    fn malformed_strings_are_errors_not_panics() {
        for body in [&[][..], &[0x40], &[0x7f], &[0xff; 40], &[0x00; 3]] {
            let mut s = new_hll();
            s.truncate(HDR);
            s.extend_from_slice(body);
            assert!(cardinality(&s).is_err());
            // PFADD may go either way on these (Redis's hllSparseSet
            // accepts some malformed runs too); it must not panic.
            let _ = add(&mut s.clone(), b"x", 3000);
            let mut max = vec![0; REGISTERS];
            assert!(merge_into(&mut max, &s).is_err());
            assert!(to_dense(&mut s.clone()).is_err());
        }
    }
}
