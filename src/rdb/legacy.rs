//! Readers for the blob encodings inside RDB strings: listpack (7.0+),
//! ziplist (ziplist.c, up to 6.2), zipmap (zipmap.c, up to 2.4) and intset
//! (intset.c). Each fully validates its input, as Redis's
//! `*ValidateIntegrity` with the deep check, and returns the elements.

use crate::store::listpack::{self, Listpack, LpVal};

/// Elements of a listpack, validated (`lpValidateIntegrity`, deep).
pub fn listpack_entries(buf: &[u8]) -> Result<Vec<LpVal<'_>>, &'static str> {
    listpack::validate(buf).map_err(|e| e.0)?;
    // Validated: walk it with the store's reader, borrowing `buf`.
    let mut out = Vec::new();
    let mut pos = 6;
    while buf[pos] != 0xFF {
        let (val, size) = lp_decode(&buf[pos..]);
        out.push(val);
        pos += size + listpack::backlen_size(size);
    }
    Ok(out)
}

/// Decodes a validated listpack element: (value, encoding+data size).
fn lp_decode(b: &[u8]) -> (LpVal<'_>, usize) {
    let first = b[0];
    if first & 0x80 == 0 {
        return (LpVal::Int(i64::from(first)), 1);
    }
    if first & 0xC0 == 0x80 {
        let len = usize::from(first & 0x3F);
        return (LpVal::Str(&b[1..1 + len]), 1 + len);
    }
    if first & 0xE0 == 0xC0 {
        let u = (i64::from(first & 0x1F) << 8) | i64::from(b[1]);
        return (LpVal::Int(if u >= 1 << 12 { u - (1 << 13) } else { u }), 2);
    }
    if first & 0xF0 == 0xE0 {
        let len = (usize::from(first & 0x0F) << 8) | usize::from(b[1]);
        return (LpVal::Str(&b[2..2 + len]), 2 + len);
    }
    match first {
        0xF0 => {
            let len = u32::from_le_bytes([b[1], b[2], b[3], b[4]]) as usize;
            (LpVal::Str(&b[5..5 + len]), 5 + len)
        }
        0xF1 => (LpVal::Int(i64::from(i16::from_le_bytes([b[1], b[2]]))), 3),
        0xF2 => (
            LpVal::Int(i64::from(i32::from_le_bytes([0, b[1], b[2], b[3]]) >> 8)),
            4,
        ),
        0xF3 => (
            LpVal::Int(i64::from(i32::from_le_bytes([b[1], b[2], b[3], b[4]]))),
            5,
        ),
        _ => {
            let mut v = [0u8; 8];
            v.copy_from_slice(&b[1..9]);
            (LpVal::Int(i64::from_le_bytes(v)), 9)
        }
    }
}

/// A validated listpack as the store's type (for stream nodes).
pub fn listpack_owned(buf: Vec<u8>) -> Result<Listpack, &'static str> {
    listpack::validate(&buf).map_err(|e| e.0)?;
    Ok(Listpack::from_validated(buf))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Elements of a ziplist (`ziplistValidateIntegrity`, deep).
pub fn ziplist_entries(buf: &[u8]) -> Result<Vec<LpVal<'_>>, &'static str> {
    const HEADER: usize = 10;
    if buf.len() < HEADER + 1 {
        return Err("ziplist shorter than its header");
    }
    let total = le_u32(buf, 0).ok_or("ziplist header")? as usize;
    let tail = le_u32(buf, 4).ok_or("ziplist header")? as usize;
    let count = u16::from_le_bytes([buf[8], buf[9]]);
    if total != buf.len() {
        return Err("ziplist total bytes mismatch");
    }
    if buf[buf.len() - 1] != 0xFF {
        return Err("ziplist without terminator");
    }
    let end = buf.len() - 1;
    let mut out = Vec::new();
    let mut pos = HEADER;
    let mut prev_size = 0usize;
    let mut last_start = HEADER;
    while pos < end {
        let start = pos;
        // prevlen
        let b0 = buf[pos];
        let prevlen = if b0 < 254 {
            pos += 1;
            usize::from(b0)
        } else if b0 == 254 {
            let v = le_u32(buf, pos + 1).ok_or("ziplist entry out of range")? as usize;
            pos += 5;
            v
        } else {
            return Err("ziplist entry with a bad prevlen");
        };
        if prevlen != prev_size {
            return Err("ziplist prevlen mismatch");
        }
        let enc = *buf
            .get(pos)
            .filter(|_| pos < end)
            .ok_or("ziplist entry out of range")?;
        let need = |n: usize| -> Result<&[u8], &'static str> {
            buf.get(pos + 1..pos + 1 + n)
                .filter(|_| pos + 1 + n <= end)
                .ok_or("ziplist entry out of range")
        };
        let (val, size) = match enc >> 6 {
            0 => {
                let len = usize::from(enc & 0x3F);
                (LpVal::Str(need(len)?), 1 + len)
            }
            1 => {
                let lo = need(1)?[0];
                let len = (usize::from(enc & 0x3F) << 8) | usize::from(lo);
                let s = buf
                    .get(pos + 2..pos + 2 + len)
                    .filter(|_| pos + 2 + len <= end)
                    .ok_or("ziplist entry out of range")?;
                (LpVal::Str(s), 2 + len)
            }
            2 => {
                if enc != 0x80 {
                    return Err("ziplist entry with a bad encoding");
                }
                let l = need(4)?;
                let len = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                let s = buf
                    .get(pos + 5..pos.saturating_add(5).saturating_add(len))
                    .filter(|_| pos + 5 + len <= end)
                    .ok_or("ziplist entry out of range")?;
                (LpVal::Str(s), 5 + len)
            }
            _ => match enc {
                0xC0 => {
                    let d = need(2)?;
                    (LpVal::Int(i64::from(i16::from_le_bytes([d[0], d[1]]))), 3)
                }
                0xD0 => {
                    let d = need(4)?;
                    (
                        LpVal::Int(i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]]))),
                        5,
                    )
                }
                0xE0 => {
                    let d = need(8)?;
                    let mut v = [0u8; 8];
                    v.copy_from_slice(d);
                    (LpVal::Int(i64::from_le_bytes(v)), 9)
                }
                0xF0 => {
                    let d = need(3)?;
                    (
                        LpVal::Int(i64::from(i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8)),
                        4,
                    )
                }
                0xFE => (LpVal::Int(i64::from(need(1)?[0] as i8)), 2),
                0xF1..=0xFD => (LpVal::Int(i64::from(enc & 0x0F) - 1), 1),
                _ => return Err("ziplist entry with a bad encoding"),
            },
        };
        pos += size;
        prev_size = pos - start;
        last_start = start;
        out.push(val);
    }
    if pos != end {
        return Err("ziplist entry past its end");
    }
    if tail != last_start {
        return Err("ziplist tail offset mismatch");
    }
    if count != u16::MAX && usize::from(count) != out.len() {
        return Err("ziplist count mismatch");
    }
    Ok(out)
}

/// A field and its value, borrowed from a blob.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Field/value pairs of a zipmap (`zipmapValidateIntegrity`).
pub fn zipmap_pairs(buf: &[u8]) -> Result<Vec<Pair<'_>>, &'static str> {
    let zmlen = *buf.first().ok_or("zipmap empty")?;
    let mut pos = 1;
    let read_len = |pos: &mut usize| -> Result<Option<usize>, &'static str> {
        let b = *buf.get(*pos).ok_or("zipmap truncated")?;
        *pos += 1;
        match b {
            0..=253 => Ok(Some(usize::from(b))),
            254 => {
                let v = le_u32(buf, *pos).ok_or("zipmap truncated")? as usize;
                *pos += 4;
                Ok(Some(v))
            }
            _ => Ok(None),
        }
    };
    let mut out = Vec::new();
    while let Some(klen) = read_len(&mut pos)? {
        let key = buf
            .get(pos..pos.saturating_add(klen))
            .ok_or("zipmap key out of range")?;
        pos += klen;
        let vlen = read_len(&mut pos)?.ok_or("zipmap key without a value")?;
        let free = usize::from(*buf.get(pos).ok_or("zipmap truncated")?);
        pos += 1;
        let value = buf
            .get(pos..pos.saturating_add(vlen))
            .ok_or("zipmap value out of range")?;
        pos = pos.saturating_add(vlen).saturating_add(free);
        out.push((key, value));
    }
    if pos != buf.len() {
        return Err("zipmap terminator before its end");
    }
    if zmlen < 254 && usize::from(zmlen) != out.len() {
        return Err("zipmap count mismatch");
    }
    Ok(out)
}

/// Members of an intset (`intsetValidateIntegrity`, deep): a known width,
/// a size that matches, not empty, strictly ascending.
pub fn intset_members(buf: &[u8]) -> Result<Vec<i64>, &'static str> {
    let width = le_u32(buf, 0).ok_or("intset shorter than its header")? as usize;
    let count = le_u32(buf, 4).ok_or("intset shorter than its header")? as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err("intset with a bad encoding");
    }
    if count.checked_mul(width) != Some(buf.len() - 8) {
        return Err("intset length mismatch");
    }
    if count == 0 {
        return Err("empty intset");
    }
    let mut out = Vec::with_capacity(count);
    for chunk in buf[8..].chunks_exact(width) {
        let v = match width {
            2 => i64::from(i16::from_le_bytes([chunk[0], chunk[1]])),
            4 => i64::from(i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])),
            _ => {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                i64::from_le_bytes(b)
            }
        };
        if out.last().is_some_and(|&p| p >= v) {
            return Err("intset not strictly ascending");
        }
        out.push(v);
    }
    Ok(out)
}

/// Checks a stream node listpack's structure as t_stream.c
/// `streamValidateListpackIntegrity` (deep) does, so the store's walkers
/// can trust it; also rejects a node without entries.
pub fn validate_stream_node(elems: &[LpVal<'_>]) -> Result<(), &'static str> {
    const BAD: &str = "stream listpack integrity check failed";
    let mut it = elems.iter();
    let int = |it: &mut std::slice::Iter<LpVal<'_>>| -> Result<i64, &'static str> {
        it.next().and_then(LpVal::as_int).ok_or(BAD)
    };
    let count = int(&mut it)?;
    let deleted = int(&mut it)?;
    let master_fields = int(&mut it)?;
    if count < 0 || deleted < 0 || master_fields < 0 {
        return Err(BAD);
    }
    for _ in 0..master_fields {
        it.next().ok_or(BAD)?;
    }
    if int(&mut it)? != 0 {
        return Err(BAD);
    }
    let entries = count.checked_add(deleted).ok_or(BAD)?;
    if entries == 0 {
        return Err("empty stream node");
    }
    for _ in 0..entries {
        let flags = int(&mut it)?;
        int(&mut it)?;
        int(&mut it)?;
        let mut fields = master_fields;
        let mut extra = 3;
        if flags & crate::store::stream::FLAG_SAMEFIELDS == 0 {
            fields = int(&mut it)?;
            if fields < 0 {
                return Err(BAD);
            }
            for _ in 0..fields {
                it.next().ok_or(BAD)?;
            }
            extra += fields + 1;
        }
        for _ in 0..fields {
            it.next().ok_or(BAD)?;
        }
        if int(&mut it)? != fields + extra {
            return Err(BAD);
        }
    }
    if it.next().is_some() {
        return Err(BAD);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_rules() {
        let mut b = vec![2, 0, 0, 0, 2, 0, 0, 0];
        b.extend_from_slice(&[1, 0, 2, 0]);
        assert_eq!(intset_members(&b), Ok(vec![1, 2]));
        let mut bad = b.clone();
        bad[8] = 3;
        assert!(intset_members(&bad).is_err());
        assert!(intset_members(&[2, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(intset_members(&b[..11]).is_err());
        assert!(intset_members(&[3, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn ziplist_of_each_encoding() {
        // Hand-built: "ab", 7 (immediate), -2 (int8), 300 (int16).
        let mut body = Vec::new();
        let mut sizes = Vec::new();
        let entries: Vec<Vec<u8>> = vec![
            vec![0x02, b'a', b'b'],
            vec![0xF8],
            vec![0xFE, 0xFE],
            vec![0xC0, 0x2C, 0x01],
        ];
        let mut prev = 0usize;
        let mut tail = 10;
        for e in &entries {
            tail = 10 + body.len();
            body.push(prev as u8);
            body.extend_from_slice(e);
            prev = 1 + e.len();
            sizes.push(prev);
        }
        let total = 10 + body.len() + 1;
        let mut zl = Vec::new();
        zl.extend_from_slice(&(total as u32).to_le_bytes());
        zl.extend_from_slice(&(tail as u32).to_le_bytes());
        zl.extend_from_slice(&4u16.to_le_bytes());
        zl.extend_from_slice(&body);
        zl.push(0xFF);
        assert_eq!(
            ziplist_entries(&zl).unwrap(),
            vec![
                LpVal::Str(b"ab"),
                LpVal::Int(7),
                LpVal::Int(-2),
                LpVal::Int(300)
            ]
        );
        let mut bad = zl.clone();
        bad[10 + 4] = 9; // second entry's prevlen
        assert!(ziplist_entries(&bad).is_err());
    }
}
