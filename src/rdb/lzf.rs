//! LZF (liblzf's format, as Redis's lzf_c.c / lzf_d.c), written here
//! because the crates that exist are unmaintained or wrap C.
//!
//! ```text
//!   control c < 32:  c+1 literal bytes follow
//!   control c >= 32: len = c>>5 (if 7, add the next byte), then one byte
//!                    `lo`; copy len+2 bytes from out - (((c&31)<<8)|lo) - 1
//! ```
//!
//! The decoder is bounds-checked everywhere and allocates exactly the
//! declared uncompressed length, which the caller must have bounded.

/// Longest distance a back-reference can reach.
const MAX_OFF: usize = 1 << 13;
/// Longest match: 2 + 7 + 255.
const MAX_REF: usize = 264;
/// Longest literal run.
const MAX_LIT: usize = 32;
const HASH_LOG: u32 = 14;
/// Input bytes scanned without any match before a long input is deemed
/// incompressible: at least this many, or an eighth of the input up to
/// [`GIVE_UP_MAX`] (so a long value whose repeats are some way apart, as
/// JSON records in an array, is still compressed).
const GIVE_UP_AT: usize = 32;
const GIVE_UP_MAX: usize = 512;

/// Most bytes one input byte of LZF can expand to (a 3-byte back-reference
/// yields 264 bytes), used to bound a declared length by the input.
pub const MAX_EXPANSION: u64 = 88;

/// Decompresses `input` into exactly `ulen` bytes.
pub fn decompress(input: &[u8], ulen: usize) -> Result<Vec<u8>, &'static str> {
    let mut out: Vec<u8> = Vec::with_capacity(ulen);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input
                .get(ip..ip + run)
                .ok_or("LZF literal run past the input")?;
            if out.len() + run > ulen {
                return Err("LZF output longer than declared");
            }
            out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip).ok_or("LZF truncated back-reference")?);
                ip += 1;
            }
            let lo = usize::from(*input.get(ip).ok_or("LZF truncated back-reference")?);
            ip += 1;
            let back = (((ctrl & 31) << 8) | lo) + 1;
            let len = len + 2;
            if back > out.len() {
                return Err("LZF back-reference before the start");
            }
            if out.len() + len > ulen {
                return Err("LZF output longer than declared");
            }
            let from = out.len() - back;
            if back >= len {
                out.extend_from_within(from..from + len);
            } else {
                // Overlapping copy: byte by byte, as lzf_d.c.
                for i in 0..len {
                    let b = out[from + i];
                    out.push(b);
                }
            }
        }
    }
    if out.len() != ulen {
        return Err("LZF output shorter than declared");
    }
    Ok(out)
}

fn hash(b: &[u8], log: u32) -> usize {
    let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
    (v.wrapping_mul(2654435761) >> (32 - log)) as usize
}

thread_local! {
    /// The match table, reused across calls (no allocation per string),
    /// and its base: an entry is `base + position + 1` of the call that
    /// wrote it, so entries at or below the current call's base are stale
    /// and the table is not cleared per call (clearing its 64 KiB cost 8x
    /// the work of giving up on a 16 KiB incompressible value). An entry
    /// is only a candidate, accepted when it lies before the current
    /// position and its bytes match.
    static TABLE: std::cell::RefCell<(Vec<u32>, u32)> =
        std::cell::RefCell::new((vec![0; 1 << HASH_LOG], 0));
    /// Output scratch for [`with_compressed`].
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Compresses `input`; `None` when the result would exceed `max_out`
/// bytes (Redis calls `lzf_compress` with `len - 4` so compression must
/// save at least 4 bytes). Gives up as soon as the pending literals alone
/// would overflow `max_out`, so incompressible values cost little.
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    with_compressed(input, max_out, <[u8]>::to_vec)
}

/// As [`compress`], handing the compressed bytes to `f` from a reused
/// per-thread buffer (the RDB writer's path: no allocation per string).
pub fn with_compressed<R>(input: &[u8], max_out: usize, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    if input.len() >= 2 * GIVE_UP_AT && !repeats_early(input) {
        return None;
    }
    SCRATCH.with(|scratch| {
        let mut out = scratch.borrow_mut();
        out.clear();
        let fits = TABLE.with(|t| {
            let (table, base) = &mut *t.borrow_mut();
            // Positions are stored as u32 above the base.
            let n = u32::try_from(input.len())
                .ok()
                .filter(|n| *n < u32::MAX / 2)?;
            if u32::MAX - *base <= n + 1 {
                table.fill(0);
                *base = 0;
            }
            let fits = compress_with(input, max_out, table, *base, &mut out);
            *base += n + 1;
            Some(fits)
        });
        fits.unwrap_or(false).then(|| f(&out))
    })
}

/// Whether a 3-byte window among the first positions of `input` (at least
/// `2 * GIVE_UP_AT` long; see [`GIVE_UP_AT`] for how many) repeats an
/// earlier one: with none, a long input is almost surely incompressible
/// (random, already compressed) and is not compressed at all. Rarely
/// costs a compressible tail; the file stays valid either way. Its own
/// small table, no state: half the work per byte of the compressor's
/// loop, which was most of the cost of a snapshot of short random values
/// (100-byte values: 142 ns per key with the loop deciding, 114 with the
/// probe, 58 without compression).
fn repeats_early(input: &[u8]) -> bool {
    // Positions + 1 by a window's hash; 0 is empty.
    let mut seen = [0u16; 256];
    let window = (input.len() / 8).clamp(GIVE_UP_AT, GIVE_UP_MAX);
    let mut v = (u32::from(input[0]) << 8) | u32::from(input[1]);
    for (ip, &next) in input[2..window + 2].iter().enumerate() {
        v = ((v << 8) | u32::from(next)) & 0xFF_FFFF;
        let h = (v.wrapping_mul(2654435761) >> 24) as usize;
        let cand = usize::from(seen[h]);
        seen[h] = ip as u16 + 1;
        if cand > 0 && input[cand - 1..cand + 2] == input[ip..ip + 3] {
            return true;
        }
    }
    false
}

/// Compresses into `out` (empty); false when it does not fit `max_out`.
/// `table` entries at or below `base` are stale (see `TABLE`); the caller
/// ensures `base + input.len() + 1` fits a u32.
fn compress_with(
    input: &[u8],
    max_out: usize,
    table: &mut [u32],
    base: u32,
    out: &mut Vec<u8>,
) -> bool {
    let n = input.len();
    if n == 0 {
        return false;
    }
    out.reserve(max_out.min(n + n / 32 + 2));
    let log = (n.next_power_of_two().trailing_zeros() + 1).clamp(8, HASH_LOG);
    let table = &mut table[..1 << log];
    let stamp = |ip: usize| base + ip as u32 + 1;
    let mut lit_start = 0;
    let mut ip = 0;
    let flush = |out: &mut Vec<u8>, from: usize, to: usize| {
        let mut from = from;
        while from < to {
            let run = (to - from).min(MAX_LIT);
            out.push((run - 1) as u8);
            out.extend_from_slice(&input[from..from + run]);
            from += run;
        }
    };
    // Literals may run up to here before the output cannot fit any more
    // (each run of 32 costs one control byte): recomputed after output.
    let lit_limit = |out_len: usize, lit_start: usize| {
        lit_start + (max_out.saturating_sub(out_len) * MAX_LIT) / (MAX_LIT + 1)
    };
    let mut limit = lit_limit(0, 0);
    let shift = 32 - log;
    // The 3-byte window at `ip`, rolled one byte at a time.
    let mut v = (u32::from(input[0]) << 8) | u32::from(*input.get(1).unwrap_or(&0));
    while ip + 2 < n {
        v = ((v << 8) | u32::from(input[ip + 2])) & 0xFF_FFFF;
        let h = (v.wrapping_mul(2654435761) >> shift) as usize;
        let cand = table[h].saturating_sub(base) as usize;
        table[h] = stamp(ip);
        if cand > 0 && cand <= ip {
            let r = cand - 1;
            let off = ip - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[ip..ip + 3] {
                let max = (n - ip).min(MAX_REF);
                let mut len = 3;
                while len < max && input[r + len] == input[ip + len] {
                    len += 1;
                }
                flush(out, lit_start, ip);
                let l = len - 2;
                if l < 7 {
                    out.push(((l << 5) | (off >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (off >> 8)) as u8);
                    out.push((l - 7) as u8);
                }
                out.push(off as u8);
                if out.len() > max_out {
                    return false;
                }
                // Index the last two positions of the match, as liblzf does.
                let end = ip + len;
                for p in end.saturating_sub(2).max(ip + 1)..end {
                    if p + 2 < n {
                        table[hash(&input[p..], log)] = stamp(p);
                    }
                }
                ip = end;
                lit_start = ip;
                limit = lit_limit(out.len(), lit_start);
                if ip + 2 < n {
                    v = (u32::from(input[ip]) << 8) | u32::from(input[ip + 1]);
                }
                continue;
            }
        }
        ip += 1;
        if ip > limit {
            return false;
        }
        if ip - lit_start >= MAX_LIT * 64 {
            flush(out, lit_start, ip);
            lit_start = ip;
            limit = lit_limit(out.len(), lit_start);
        }
    }
    flush(out, lit_start, n);
    out.len() <= max_out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let mut seed = 0x9E3779B97F4A7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut inputs: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            vec![7; 100_000],
            (0..5000u32).map(|i| (i % 251) as u8).collect(),
            b"abcabcabcXabcabcabcYabcabc".repeat(50),
        ];
        for _ in 0..200 {
            let len = (next() % 3000) as usize;
            let alphabet = 1 + next() % 8;
            inputs.push((0..len).map(|_| (next() % alphabet) as u8).collect());
        }
        for input in &inputs {
            if let Some(c) = compress(input, input.len() + input.len() / 16 + 64) {
                assert_eq!(decompress(&c, input.len()).unwrap(), *input);
                assert!(decompress(&c, input.len() + 1).is_err());
                if !input.is_empty() {
                    assert!(decompress(&c, input.len() - 1).is_err());
                }
                for cut in [1, c.len() / 2] {
                    let _ = decompress(&c[..c.len().saturating_sub(cut)], input.len());
                }
            }
        }
        // A back-reference before the start.
        assert!(decompress(&[0x20, 0x05], 10).is_err());
        // Overlapping copy: "a" then copy 9 from 1 back.
        assert_eq!(
            decompress(&[0x00, b'a', 0xE0, 0x00, 0x00], 10).unwrap(),
            vec![b'a'; 10]
        );
        assert!(compress(&[1, 2, 3, 4, 5, 6, 7, 8], 4).is_none());
    }

    /// A long input with no repeat in its first bytes is not compressed
    /// (however compressible its tail); one with an early repeat is. The
    /// probe only reports repeats that exist.
    #[test]
    fn incompressible_start_gives_up() {
        let start: Vec<u8> = (0..GIVE_UP_AT as u8 + 2)
            .map(|b| b.wrapping_mul(37))
            .collect();
        let mut tail_only = start.clone();
        tail_only.extend_from_slice(&[b'x'; 200]);
        // Repeats 100 bytes apart in a 1000-byte input are found.
        let record: Vec<u8> = (0..100u8).map(|b| b.wrapping_mul(37)).collect();
        let records = record.repeat(10);
        assert!(compress(&records, records.len() - 4).is_some());
        assert!(!repeats_early(&tail_only));
        assert!(compress(&tail_only, tail_only.len() - 4).is_none());
        let mut early = b"abcabc".to_vec();
        early.extend_from_slice(&tail_only);
        assert!(repeats_early(&early));
        let c = compress(&early, early.len() - 4).unwrap();
        assert_eq!(decompress(&c, early.len()).unwrap(), early);
        let mut seed = 0x2545F4914F6CDD1Du64;
        for _ in 0..2000 {
            let input: Vec<u8> = (0..GIVE_UP_AT + 2)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 24) as u8
                })
                .collect();
            let brute =
                (1..GIVE_UP_AT).any(|ip| (0..ip).any(|r| input[r..r + 3] == input[ip..ip + 3]));
            assert!(!repeats_early(&input) || brute, "{input:?}");
        }
    }

    /// The table's base wraps: cleared, and compression is the same as on
    /// a fresh table.
    #[test]
    fn table_base_wraps() {
        let input = b"abcabcabcXabcabcabcYabcabc".repeat(50);
        let fresh = compress(&input, input.len()).unwrap();
        TABLE.with(|t| t.borrow_mut().1 = u32::MAX - 100);
        assert_eq!(compress(&input, input.len()).unwrap(), fresh);
        assert!(TABLE.with(|t| t.borrow().1) < 2 * input.len() as u32);
        assert_eq!(compress(&input, input.len()).unwrap(), fresh);
    }
}
