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

/// Compresses `input`; `None` when the result would exceed `max_out`
/// bytes (Redis calls `lzf_compress` with `len - 4` so compression must
/// save at least 4 bytes).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let n = input.len();
    if n == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(max_out.min(n + n / 32 + 2));
    // A table sized to the input: most RDB strings are short, and
    // zeroing 64 KiB for each would dominate.
    let log = n.next_power_of_two().trailing_zeros().clamp(6, HASH_LOG);
    let mut table = vec![0u32; 1 << log];
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
    while ip + 2 < n {
        let h = hash(&input[ip..], log);
        let cand = table[h] as usize;
        table[h] = (ip + 1) as u32;
        if cand > 0 {
            let r = cand - 1;
            let off = ip - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[ip..ip + 3] {
                let max = (n - ip).min(MAX_REF);
                let mut len = 3;
                while len < max && input[r + len] == input[ip + len] {
                    len += 1;
                }
                flush(&mut out, lit_start, ip);
                let l = len - 2;
                if l < 7 {
                    out.push(((l << 5) | (off >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (off >> 8)) as u8);
                    out.push((l - 7) as u8);
                }
                out.push(off as u8);
                if out.len() > max_out {
                    return None;
                }
                // Index the last two positions of the match, as liblzf does.
                let end = ip + len;
                for p in end.saturating_sub(2).max(ip + 1)..end {
                    if p + 2 < n {
                        table[hash(&input[p..], log)] = (p + 1) as u32;
                    }
                }
                ip = end;
                lit_start = ip;
                continue;
            }
        }
        ip += 1;
        if ip - lit_start >= MAX_LIT * 64 {
            flush(&mut out, lit_start, ip);
            lit_start = ip;
            if out.len() > max_out {
                return None;
            }
        }
    }
    flush(&mut out, lit_start, n);
    (out.len() <= max_out).then_some(out)
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
}
