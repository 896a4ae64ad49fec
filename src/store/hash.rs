//! The hash value type and its Redis 7.0 encodings (t_hash.c).
//!
//! Two encodings, as OBJECT ENCODING reports them:
//! - `listpack`: every field and value in one contiguous buffer, in
//!   insertion order (a replaced value keeps its place, as Redis's
//!   `lpReplace`). Lookups scan linearly, which is what Redis does too.
//! - `hashtable`: a hash map, used once the hash has more entries than
//!   `hash-max-listpack-entries` or a field or value longer than
//!   `hash-max-listpack-value`. The conversion is one-way.
//!
//! Invariant: a `HashValue` stored in the keyspace is never empty (the
//! commands delete the key instead).

use hashbrown::HashMap;

/// Redis's listpack for a hash, in one allocation:
///
/// ```text
/// [count: u32 LE][flen][field][vlen][value][flen][field][vlen][value]...
/// ```
///
/// where each `len` is a LEB128 varint and `count` the number of pairs. An
/// empty listpack has no buffer at all (no header either).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listpack {
    /// Exactly sized, as Redis reallocs a listpack per change: a small
    /// hash carries no growth slack (the memory target), and a boxed slice
    /// keeps [`HashValue`] at 16 bytes so `Value` holds it unboxed.
    buf: Box<[u8]>,
}

/// Bytes of the pair count in front of a non-empty listpack.
const HEADER: usize = 4;

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a varint at `*pos`, advancing it. The buffer is ours, so a
/// malformed one is a bug: assert.
fn get_varint(buf: &[u8], pos: &mut usize) -> usize {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        n |= usize::from(b & 0x7f) << shift;
        if b < 0x80 {
            return n;
        }
        shift += 7;
        assert!(shift < usize::BITS, "listpack varint too long");
    }
}

/// One pair's position in a [`Listpack`] buffer.
struct Slot {
    /// Start of the field's length.
    start: usize,
    /// The value's bytes.
    value: std::ops::Range<usize>,
}

fn read_count(buf: &[u8]) -> u32 {
    match buf.first_chunk::<HEADER>() {
        Some(header) => u32::from_le_bytes(*header),
        None => 0,
    }
}

/// Appends a pair to a listpack buffer (room reserved by the caller),
/// writing the header first into an empty one.
fn push_pair(buf: &mut Vec<u8>, field: &[u8], value: &[u8]) {
    let count = read_count(buf) + 1;
    if buf.is_empty() {
        buf.extend_from_slice(&[0; HEADER]);
    }
    buf[..HEADER].copy_from_slice(&count.to_le_bytes());
    put_varint(buf, field.len());
    buf.extend_from_slice(field);
    put_varint(buf, value.len());
    buf.extend_from_slice(value);
}

fn pair_len(field: usize, value: usize) -> usize {
    varint_len(field) + field + varint_len(value) + value
}

impl Listpack {
    fn count(&self) -> u32 {
        read_count(&self.buf)
    }

    fn iter(&self) -> ListpackIter<'_> {
        ListpackIter {
            buf: &self.buf,
            pos: HEADER,
        }
    }

    fn find(&self, field: &[u8]) -> Option<Slot> {
        let mut pos = HEADER;
        while pos < self.buf.len() {
            let start = pos;
            let flen = get_varint(&self.buf, &mut pos);
            let f = pos..pos + flen;
            pos += flen;
            let vlen = get_varint(&self.buf, &mut pos);
            let value = pos..pos + vlen;
            pos += vlen;
            if &self.buf[f] == field {
                return Some(Slot { start, value });
            }
        }
        None
    }

    fn push(&mut self, field: &[u8], value: &[u8]) {
        super::edit_exact(&mut self.buf, |buf| {
            let header = if buf.is_empty() { HEADER } else { 0 };
            buf.reserve_exact(header + pair_len(field.len(), value.len()));
            push_pair(buf, field, value);
        });
    }
}

pub struct ListpackIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for ListpackIter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let buf = self.buf;
        let flen = get_varint(buf, &mut self.pos);
        let field = &buf[self.pos..self.pos + flen];
        self.pos += flen;
        let vlen = get_varint(buf, &mut self.pos);
        let value = &buf[self.pos..self.pos + vlen];
        self.pos += vlen;
        Some((field, value))
    }
}

/// The `hashtable` encoding.
pub type Table = HashMap<Box<[u8]>, Box<[u8]>>;

/// A hash value (see the module docs for the encodings).
#[derive(Clone, Debug, PartialEq)]
pub enum HashValue {
    Listpack(Listpack),
    /// Boxed so that `HashValue` is 16 bytes and `Value` holds it unboxed:
    /// a small hash is one allocation, its listpack.
    Table(Box<Table>),
}

const _: () = assert!(std::mem::size_of::<HashValue>() == 16);

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(Listpack::default())
    }
}

/// The thresholds of `hash-max-listpack-entries` / `-value`, as usize.
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub entries_max: usize,
    pub value_max: usize,
}

impl HashLimits {
    pub fn new(entries: i64, value: i64) -> HashLimits {
        HashLimits {
            entries_max: usize::try_from(entries).unwrap_or(0),
            value_max: usize::try_from(value).unwrap_or(0),
        }
    }
}

/// Iterator over a hash's (field, value) pairs in encoding order.
pub enum Iter<'a> {
    Listpack(ListpackIter<'a>),
    Table(hashbrown::hash_map::Iter<'a, Box<[u8]>, Box<[u8]>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Listpack(it) => it.next(),
            Iter::Table(it) => it.next().map(|(f, v)| (&**f, &**v)),
        }
    }
}

impl HashValue {
    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    /// The heap allocation behind the value (for prefetching).
    pub fn heap_ptr(&self) -> *const u8 {
        match self {
            HashValue::Listpack(lp) => lp.buf.as_ptr(),
            HashValue::Table(t) => (&**t as *const Table).cast(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.count() as usize,
            HashValue::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Listpack(lp) => lp.find(field).map(|s| &lp.buf[s.value]),
            HashValue::Table(t) => t.get(field).map(|v| &**v),
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        match self {
            HashValue::Listpack(lp) => Iter::Listpack(lp.iter()),
            HashValue::Table(t) => Iter::Table(t.iter()),
        }
    }

    /// Sets `field` to `value`; true if the field is new. Converts to
    /// `hashtable` as t_hash.c `hashTypeSet` does: before the insert when
    /// the field or value is too long for a listpack, after it when the
    /// entry count passes the limit.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        let too_long = field.len() > limits.value_max || value.len() > limits.value_max;
        if matches!(self, HashValue::Listpack(lp) if too_long || lp.count() == u32::MAX) {
            self.convert();
        }
        let inserted = match self {
            HashValue::Listpack(lp) => match lp.find(field) {
                Some(slot) => {
                    let mut encoded = Vec::with_capacity(value.len() + 4);
                    let vlen_start = slot.value.start - varint_len(slot.value.len());
                    put_varint(&mut encoded, value.len());
                    encoded.extend_from_slice(value);
                    let old_len = slot.value.end - vlen_start;
                    super::edit_exact(&mut lp.buf, |buf| {
                        buf.reserve_exact(encoded.len().saturating_sub(old_len));
                        super::replace_range(buf, vlen_start..slot.value.end, &encoded);
                    });
                    false
                }
                None => {
                    lp.push(field, value);
                    true
                }
            },
            HashValue::Table(t) => t.insert(field.into(), value.into()).is_none(),
        };
        if self.len() > limits.entries_max {
            self.convert();
        }
        inserted
    }

    /// Builds a hash from pairs whose fields the caller knows are distinct
    /// (an RDB load), in the encoding a series of [`HashValue::set`] would
    /// reach, without a lookup per pair.
    pub fn from_distinct_pairs<F: AsRef<[u8]>, V: AsRef<[u8]>>(
        pairs: &[(F, V)],
        limits: HashLimits,
    ) -> HashValue {
        let small = pairs.len() <= limits.entries_max
            && pairs.len() < u32::MAX as usize
            && pairs.iter().all(|(f, v)| {
                f.as_ref().len() <= limits.value_max && v.as_ref().len() <= limits.value_max
            });
        if small {
            let bytes: usize = pairs
                .iter()
                .map(|(f, v)| pair_len(f.as_ref().len(), v.as_ref().len()))
                .sum();
            let mut buf = Vec::with_capacity(HEADER + bytes);
            for (f, v) in pairs {
                push_pair(&mut buf, f.as_ref(), v.as_ref());
            }
            HashValue::Listpack(Listpack {
                buf: buf.into_boxed_slice(),
            })
        } else {
            let mut table = Table::with_capacity(pairs.len());
            for (f, v) in pairs {
                table.insert(f.as_ref().into(), v.as_ref().into());
            }
            HashValue::Table(Box::new(table))
        }
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => match lp.find(field) {
                Some(slot) => {
                    let count = lp.count() - 1;
                    super::edit_exact(&mut lp.buf, |buf| {
                        buf.drain(slot.start..slot.value.end);
                        buf[..HEADER].copy_from_slice(&count.to_le_bytes());
                        if count == 0 {
                            buf.clear();
                        }
                    });
                    true
                }
                None => false,
            },
            HashValue::Table(t) => t.remove(field).is_some(),
        }
    }

    /// Listpack to hashtable (t_hash.c `hashTypeConvertListpack`).
    fn convert(&mut self) {
        if let HashValue::Listpack(lp) = self {
            let table: Table = lp.iter().map(|(f, v)| (f.into(), v.into())).collect();
            *self = HashValue::Table(Box::new(table));
        }
    }
}

fn varint_len(n: usize) -> usize {
    let mut len = 1;
    let mut n = n >> 7;
    while n > 0 {
        len += 1;
        n >>= 7;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: HashLimits = HashLimits {
        entries_max: 3,
        value_max: 200,
    };

    #[test]
    fn listpack_keeps_insertion_order_and_replaces_in_place() {
        let mut h = HashValue::default();
        assert!(h.set(b"a", b"1", SMALL));
        assert!(h.set(b"b", &[b'x'; 150], SMALL));
        assert!(h.set(b"c", b"3", SMALL));
        assert!(!h.set(b"b", b"2", SMALL));
        let pairs: Vec<_> = h.iter().collect();
        assert_eq!(
            pairs,
            vec![(&b"a"[..], &b"1"[..]), (b"b", b"2"), (b"c", b"3")]
        );
        assert!(!h.set(b"a", &[b'y'; 130], SMALL));
        assert_eq!(h.get(b"a"), Some(&[b'y'; 130][..]));
        assert_eq!(h.get(b"c"), Some(&b"3"[..]));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.len(), 2);
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn emptied_listpack_frees_its_buffer() {
        let mut h = HashValue::default();
        h.set(b"a", b"1", SMALL);
        h.set(b"b", b"2", SMALL);
        assert!(h.remove(b"a"));
        assert_eq!(h.len(), 1);
        assert!(h.remove(b"b"));
        assert!(h.is_empty());
        assert_eq!(h, HashValue::default());
        assert_eq!(h.iter().count(), 0);
    }

    #[test]
    fn converts_one_way_at_the_limits() {
        let mut h = HashValue::default();
        for f in [b"a", b"b", b"c"] {
            h.set(f, b"v", SMALL);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"d", b"v", SMALL);
        assert_eq!(h.encoding(), "hashtable");
        h.remove(b"d");
        h.remove(b"c");
        assert_eq!(h.encoding(), "hashtable");
        let mut long = HashValue::default();
        long.set(b"f", &[0; 201], SMALL);
        assert_eq!(long.encoding(), "hashtable");
        assert_eq!(long.get(b"f").map(<[u8]>::len), Some(201));
    }
}
