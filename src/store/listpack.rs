//! Redis's listpack, byte for byte (listpack.c): the encoding of stream
//! nodes in memory and of every listpack in an RDB file.
//!
//! ```text
//!   total-bytes u32 LE | count u16 LE (65535 = unknown) | entry ... | FF
//!   entry = encoding+data | backlen (size of encoding+data, 1-5 bytes)
//! ```
//!
//! Strings that are canonical integers (`string2ll`) are stored as
//! integers, as `lpAppend` does; integers take the smallest of the u7,
//! i13, i16, i24, i32, i64 forms. Positions are byte offsets into the
//! buffer. Readers of untrusted bytes must call [`validate`] first: the
//! accessors assume a well-formed buffer.

const HEADER: usize = 6;
const EOF: u8 = 0xFF;
/// The count field's "too many to count" value.
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One element: listpacks store integers and byte strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LpVal<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl LpVal<'_> {
    /// The element as an integer (strings that parse as one count too).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            LpVal::Int(v) => Some(*v),
            LpVal::Str(s) => crate::num::parse_i64(s),
        }
    }

    /// Calls `f` with the element's bytes (an integer formatted in decimal).
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            LpVal::Int(v) => f(itoa::Buffer::new().format(*v).as_bytes()),
            LpVal::Str(s) => f(s),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }

    pub fn eq_bytes(&self, other: &[u8]) -> bool {
        self.with_bytes(|b| b == other)
    }
}

/// A listpack in one buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listpack {
    buf: Vec<u8>,
}

impl Default for Listpack {
    fn default() -> Self {
        Listpack::new()
    }
}

impl Listpack {
    pub fn new() -> Listpack {
        let mut buf = Vec::with_capacity(HEADER + 1);
        buf.extend_from_slice(&(HEADER as u32 + 1).to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
        buf.push(EOF);
        Listpack { buf }
    }

    /// Adopts bytes already checked by [`validate`].
    pub fn from_validated(buf: Vec<u8>) -> Listpack {
        Listpack { buf }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// `lpBytes`.
    pub fn total_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Frees spare capacity (`lpShrinkToFit`).
    pub fn shrink_to_fit(&mut self) {
        self.buf.shrink_to_fit();
    }

    /// Position of the first element, if any.
    pub fn first(&self) -> Option<usize> {
        (self.buf[HEADER] != EOF).then_some(HEADER)
    }

    /// Position of the element after the one at `pos`, if any.
    pub fn next(&self, pos: usize) -> Option<usize> {
        let size = entry_size(&self.buf[pos..]);
        let next = pos + size + backlen_size(size);
        (self.buf[next] != EOF).then_some(next)
    }

    /// The element at `pos`.
    pub fn get(&self, pos: usize) -> LpVal<'_> {
        decode(&self.buf[pos..]).0
    }

    /// The integer at `pos` (0 if the element is not one: stream nodes
    /// only ask where the format puts integers).
    pub fn get_int(&self, pos: usize) -> i64 {
        self.get(pos).as_int().unwrap_or(0)
    }

    pub fn append_int(&mut self, v: i64) {
        let mut enc = Vec::with_capacity(10);
        encode_int(v, &mut enc);
        self.append_encoded(&enc);
    }

    /// Appends a string, stored as an integer when it is a canonical one.
    pub fn append_str(&mut self, s: &[u8]) {
        if let Some(v) = crate::num::parse_i64(s) {
            return self.append_int(v);
        }
        let mut enc = Vec::with_capacity(s.len() + 10);
        encode_str(s, &mut enc);
        self.append_encoded(&enc);
    }

    fn append_encoded(&mut self, enc: &[u8]) {
        let end = self.buf.len() - 1;
        self.buf.truncate(end);
        self.buf.extend_from_slice(enc);
        self.buf.push(EOF);
        self.set_count_delta(1);
        self.sync_total();
    }

    /// Replaces the element at `pos` with the integer `v`; positions after
    /// it shift by the change in size, which is returned.
    pub fn replace_int(&mut self, pos: usize, v: i64) -> isize {
        let mut enc = Vec::with_capacity(10);
        encode_int(v, &mut enc);
        let old = entry_size(&self.buf[pos..]);
        let old_total = old + backlen_size(old);
        if enc.len() == old_total {
            self.buf[pos..pos + old_total].copy_from_slice(&enc);
            return 0;
        }
        super::replace_range(&mut self.buf, pos..pos + old_total, &enc);
        self.sync_total();
        enc.len() as isize - old_total as isize
    }

    fn set_count_delta(&mut self, delta: i64) {
        let count = u16::from_le_bytes([self.buf[4], self.buf[5]]);
        if count == COUNT_UNKNOWN {
            return;
        }
        let new = (i64::from(count) + delta).clamp(0, i64::from(COUNT_UNKNOWN)) as u16;
        self.buf[4..6].copy_from_slice(&new.to_le_bytes());
    }

    fn sync_total(&mut self) {
        let total = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
    }

    /// Every element, in order.
    pub fn iter(&self) -> impl Iterator<Item = LpVal<'_>> + '_ {
        let mut pos = self.first();
        std::iter::from_fn(move || {
            let at = pos?;
            pos = self.next(at);
            Some(self.get(at))
        })
    }
}

/// Bytes of the encoding+data of the element starting `b`.
fn entry_size(b: &[u8]) -> usize {
    let first = b[0];
    match first {
        _ if first & 0x80 == 0 => 1,
        _ if first & 0xC0 == 0x80 => 1 + usize::from(first & 0x3F),
        _ if first & 0xE0 == 0xC0 => 2,
        _ if first & 0xF0 == 0xE0 => 2 + ((usize::from(first & 0x0F) << 8) | usize::from(b[1])),
        0xF0 => 5 + u32::from_le_bytes([b[1], b[2], b[3], b[4]]) as usize,
        0xF1 => 3,
        0xF2 => 4,
        0xF3 => 5,
        0xF4 => 9,
        _ => 1,
    }
}

/// Bytes of the backlen that follows an element of `size` bytes.
pub fn backlen_size(size: usize) -> usize {
    match size {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn push_backlen(size: usize, out: &mut Vec<u8>) {
    let n = backlen_size(size);
    for i in (0..n).rev() {
        let group = ((size >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { group } else { group | 128 });
    }
}

/// Encodes `v` in its smallest form, with its backlen.
pub fn encode_int(v: i64, out: &mut Vec<u8>) {
    let start = out.len();
    if (0..=127).contains(&v) {
        out.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = if v < 0 { (1i64 << 13) + v } else { v } as u16;
        out.push(0xC0 | (u >> 8) as u8);
        out.push(u as u8);
    } else if (-32768..=32767).contains(&v) {
        out.push(0xF1);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-8388608..=8388607).contains(&v) {
        out.push(0xF2);
        out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v) {
        out.push(0xF3);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        out.push(0xF4);
        out.extend_from_slice(&v.to_le_bytes());
    }
    push_backlen(out.len() - start, out);
}

/// Encodes `s` as a string element (no integer conversion), with its backlen.
pub fn encode_str(s: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let len = s.len();
    if len < 64 {
        out.push(0x80 | len as u8);
    } else if len < 4096 {
        out.push(0xE0 | (len >> 8) as u8);
        out.push(len as u8);
    } else {
        out.push(0xF0);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(s);
    push_backlen(out.len() - start, out);
}

/// Bytes an element takes in a listpack, backlen included (for size
/// accounting without encoding).
pub fn str_entry_bytes(s: &[u8]) -> usize {
    if let Some(v) = crate::num::parse_i64(s) {
        return int_entry_bytes(v);
    }
    let size = s.len()
        + match s.len() {
            0..=63 => 1,
            64..=4095 => 2,
            _ => 5,
        };
    size + backlen_size(size)
}

pub fn int_entry_bytes(v: i64) -> usize {
    let size = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8388608..=8388607).contains(&v) {
        4
    } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v) {
        5
    } else {
        9
    };
    size + 1
}

/// Decodes the element starting `b`: (value, encoding+data size).
fn decode(b: &[u8]) -> (LpVal<'_>, usize) {
    let first = b[0];
    let size = entry_size(b);
    let val = match first {
        _ if first & 0x80 == 0 => LpVal::Int(i64::from(first)),
        _ if first & 0xC0 == 0x80 => LpVal::Str(&b[1..size]),
        _ if first & 0xE0 == 0xC0 => {
            let u = (i64::from(first & 0x1F) << 8) | i64::from(b[1]);
            LpVal::Int(if u >= 1 << 12 { u - (1 << 13) } else { u })
        }
        _ if first & 0xF0 == 0xE0 => LpVal::Str(&b[2..size]),
        0xF0 => LpVal::Str(&b[5..size]),
        0xF1 => LpVal::Int(i64::from(i16::from_le_bytes([b[1], b[2]]))),
        0xF2 => LpVal::Int(i64::from(i32::from_le_bytes([0, b[1], b[2], b[3]]) >> 8)),
        0xF3 => LpVal::Int(i64::from(i32::from_le_bytes([b[1], b[2], b[3], b[4]]))),
        _ => LpVal::Int(i64::from_le_bytes(b[1..9].try_into().unwrap_or([0; 8]))),
    };
    (val, size)
}

/// Why bytes are not a listpack.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

/// Checks that `buf` is a well-formed listpack (lpValidateIntegrity with
/// the deep check): header total equals the length, every element fits,
/// every backlen matches, the terminator is last, and the count agrees.
/// Returns the number of elements.
pub fn validate(buf: &[u8]) -> Result<usize, Invalid> {
    if buf.len() < HEADER + 1 {
        return Err(Invalid("listpack shorter than its header"));
    }
    let total = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if total != buf.len() {
        return Err(Invalid("listpack total bytes mismatch"));
    }
    if buf[buf.len() - 1] != EOF {
        return Err(Invalid("listpack without terminator"));
    }
    let count = u16::from_le_bytes([buf[4], buf[5]]);
    let mut pos = HEADER;
    let mut n = 0usize;
    while buf[pos] != EOF {
        let b = &buf[pos..buf.len() - 1];
        let need = match b[0] {
            f if f & 0x80 == 0 || f & 0xC0 == 0x80 => 1,
            f if f & 0xE0 == 0xC0 || f & 0xF0 == 0xE0 => 2,
            0xF0 => 5,
            0xF1..=0xF4 => 1,
            _ => return Err(Invalid("listpack element with a bad encoding")),
        };
        if b.len() < need {
            return Err(Invalid("listpack element out of range"));
        }
        let size = entry_size(b);
        let whole = size
            .checked_add(backlen_size(size))
            .filter(|w| *w <= b.len())
            .ok_or(Invalid("listpack element out of range"))?;
        let mut expect = Vec::with_capacity(5);
        push_backlen(size, &mut expect);
        if b[size..whole] != expect[..] {
            return Err(Invalid("listpack backlen mismatch"));
        }
        pos += whole;
        n += 1;
    }
    if pos != buf.len() - 1 {
        return Err(Invalid("listpack terminator before its end"));
    }
    if count != COUNT_UNKNOWN && usize::from(count) != n {
        return Err(Invalid("listpack count mismatch"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_take_redis_sizes_and_round_trip() {
        // listpack.c encodings; -3 is `DF FD` in the reference dump.
        let cases: [(i64, &[u8]); 6] = [
            (5, &[0x05, 0x01]),
            (-3, &[0xDF, 0xFD, 0x02]),
            (-1, &[0xDF, 0xFF, 0x02]),
            (1000, &[0xC3, 0xE8, 0x02]),
            (40000, &[0xF2, 0x40, 0x9C, 0x00, 0x04]),
            (-40000, &[0xF2, 0xC0, 0x63, 0xFF, 0x04]),
        ];
        for (v, bytes) in cases {
            let mut out = Vec::new();
            encode_int(v, &mut out);
            assert_eq!(out, bytes, "{v}");
            assert_eq!(int_entry_bytes(v), bytes.len());
        }
        let mut lp = Listpack::new();
        let values = [
            0,
            127,
            128,
            -4096,
            4095,
            32767,
            -32769,
            1 << 40,
            i64::MIN,
            i64::MAX,
        ];
        for v in values {
            lp.append_int(v);
        }
        assert_eq!(validate(lp.as_bytes()), Ok(values.len()));
        let got: Vec<i64> = lp.iter().map(|v| v.as_int().unwrap()).collect();
        assert_eq!(got, values);
    }

    #[test]
    fn strings_and_numeric_strings() {
        let mut lp = Listpack::new();
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 200];
        lp.append_str(b"hello");
        lp.append_str(b"123");
        lp.append_str(b"-0");
        lp.append_str(&mid);
        lp.append_str(&long);
        assert_eq!(validate(lp.as_bytes()), Ok(5));
        let got: Vec<LpVal> = lp.iter().collect();
        assert_eq!(got[0], LpVal::Str(b"hello"));
        assert_eq!(got[1], LpVal::Int(123));
        assert_eq!(got[2], LpVal::Str(b"-0"));
        assert_eq!(got[3], LpVal::Str(&mid));
        assert_eq!(got[4], LpVal::Str(&long));
        for s in [&b"hello"[..], b"123", b"-0", &mid, &long] {
            let mut out = Vec::new();
            match crate::num::parse_i64(s) {
                Some(v) => encode_int(v, &mut out),
                None => encode_str(s, &mut out),
            }
            assert_eq!(str_entry_bytes(s), out.len());
        }
        assert_eq!(
            lp.total_bytes(),
            6 + 1
                + [&b"hello"[..], b"123", b"-0", &mid, &long]
                    .iter()
                    .map(|s| str_entry_bytes(s))
                    .sum::<usize>()
        );
    }

    #[test]
    fn replace_changes_size_and_keeps_the_rest() {
        let mut lp = Listpack::new();
        lp.append_int(127);
        lp.append_str(b"after");
        let first = lp.first().unwrap();
        assert_eq!(lp.replace_int(first, 128), 1);
        assert_eq!(lp.get(first), LpVal::Int(128));
        assert_eq!(lp.get(lp.next(first).unwrap()), LpVal::Str(b"after"));
        assert_eq!(validate(lp.as_bytes()), Ok(2));
        assert_eq!(lp.replace_int(first, 3), -1);
        assert_eq!(validate(lp.as_bytes()), Ok(2));
    }

    #[test]
    fn validate_rejects_damage() {
        let mut lp = Listpack::new();
        lp.append_str(b"abc");
        lp.append_int(7);
        let good = lp.as_bytes().to_vec();
        for cut in 0..good.len() {
            assert!(validate(&good[..cut]).is_err(), "cut {cut}");
        }
        let mut bad = good.clone();
        bad[6] = 0x80 | 40; // string longer than the buffer
        assert!(validate(&bad).is_err());
        let mut bad = good.clone();
        bad[4] = 9; // count
        assert!(validate(&bad).is_err());
        let mut bad = good;
        bad[6] = 0xF7; // invalid encoding
        assert!(validate(&bad).is_err());
    }
}
