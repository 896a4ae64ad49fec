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
/// incompressible.
const GIVE_UP_AT: usize = 32;

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
        // No repeat at all in the first bytes of a long input: almost
        // surely incompressible (random, already compressed), so stop here
        // instead of hashing every byte. Rarely costs a compressible tail;
        // the file stays valid either way.
        if ip == GIVE_UP_AT && lit_start == 0 && n >= 2 * GIVE_UP_AT {
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
