//! The set value type and its Redis 7.0 encodings (t_set.c, intset.c).
//!
//! Owns: the members of one set and the choice between its two encodings.
//! Must not know about commands, replies or the keyspace.
//!
//! Encodings, as Redis 7.0 picks them (there are no listpack sets before 7.2):
//! - `intset`: every member is a canonical integer ([`parse_i64`], Redis's
//!   `string2ll`) and there are at most `set-max-intset-entries` of them.
//!   Stored like Redis's intset: one sorted buffer of little-endian integers
//!   all of the smallest width (2, 4 or 8 bytes) that fits the widest member;
//!   the width only ever grows. Iteration is in ascending integer order.
//! - `hashtable`: anything else. A set never converts back (t_set.c
//!   `setTypeAdd` converts one way only).
//!
//! Key invariant: an `Intset` holds distinct members in ascending order.

use super::hash_of;
use crate::num::parse_i64;
use hashbrown::HashTable;

/// Redis caps the intset size at 1G entries whatever the config says
/// (t_set.c `setTypeAdd`).
const INTSET_ENTRIES_CAP: usize = 1 << 30;

/// A set value.
#[derive(Clone, Debug, PartialEq)]
pub enum SetValue {
    Intset(IntSet),
    /// Boxed so a set value stays 24 bytes: small sets are intsets.
    Hashtable(Box<Table>),
}

const _: () = assert!(std::mem::size_of::<SetValue>() == 24);

impl Default for SetValue {
    fn default() -> Self {
        SetValue::Intset(IntSet::default())
    }
}

/// One member as stored: an intset hands out integers, a hashtable bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// Calls `f` with the member's bytes (an integer formatted on the stack).
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(n) => f(itoa::Buffer::new().format(n).as_bytes()),
            Member::Bytes(b) => f(b),
        }
    }

    pub fn to_vec(self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }
}

/// `set-max-intset-entries` as Redis applies it: negative is 0, capped at 1G.
pub fn intset_max_entries(config: i64) -> usize {
    usize::try_from(config).unwrap_or(0).min(INTSET_ENTRIES_CAP)
}

impl SetValue {
    /// An empty set that can hold `first` (t_set.c `setTypeCreate`).
    pub fn new_for(first: &[u8]) -> SetValue {
        if parse_i64(first).is_some() {
            SetValue::Intset(IntSet::default())
        } else {
            SetValue::Hashtable(Box::default())
        }
    }

    /// An empty intset (object.c `createIntsetObject`), the start of every
    /// SUNION/SINTER/SDIFF result.
    pub fn empty_intset() -> SetValue {
        SetValue::Intset(IntSet::default())
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Intset(_) => "intset",
            SetValue::Hashtable(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Intset(s) => s.len(),
            SetValue::Hashtable(h) => h.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `member`; true if it was new (t_set.c `setTypeAdd`). An intset
    /// converts to a hashtable on a non-integer member or when it grows past
    /// `max_intset` entries.
    pub fn add(&mut self, member: &[u8], max_intset: usize) -> bool {
        match parse_i64(member) {
            Some(n) if matches!(self, SetValue::Intset(_)) => self.add_int(n, max_intset),
            _ => self.make_hashtable().insert(member),
        }
    }

    /// [`SetValue::add`] for a member already known as an integer.
    pub fn add_int(&mut self, n: i64, max_intset: usize) -> bool {
        match self {
            SetValue::Intset(s) => {
                if !s.insert(n) {
                    return false;
                }
                if s.len() > max_intset {
                    self.make_hashtable();
                }
                true
            }
            SetValue::Hashtable(h) => h.insert(itoa::Buffer::new().format(n).as_bytes()),
        }
    }

    /// Adds a member taken from another set.
    pub fn add_member(&mut self, member: Member, max_intset: usize) -> bool {
        match member {
            Member::Int(n) => self.add_int(n, max_intset),
            Member::Bytes(b) => self.add(b, max_intset),
        }
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Intset(s) => parse_i64(member).is_some_and(|n| s.remove(n)),
            SetValue::Hashtable(h) => h.remove(member),
        }
    }

    /// Removes a member taken from another set.
    pub fn remove_member(&mut self, member: Member) -> bool {
        match (self, member) {
            (SetValue::Intset(s), Member::Int(n)) => s.remove(n),
            (set, member) => member.with_bytes(|b| set.remove(b)),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetValue::Intset(s) => parse_i64(member).is_some_and(|n| s.contains(n)),
            SetValue::Hashtable(h) => h.contains(member),
        }
    }

    /// Membership of a member taken from another set.
    pub fn contains_member(&self, member: Member) -> bool {
        match (self, member) {
            (SetValue::Intset(s), Member::Int(n)) => s.contains(n),
            (set, member) => member.with_bytes(|b| set.contains(b)),
        }
    }

    /// The members: ascending for an intset, table order for a hashtable.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            SetValue::Intset(s) => Iter::Int(s, 0),
            SetValue::Hashtable(h) => Iter::Hash(h.iter()),
        }
    }

    /// The member at `index` in iteration order, in O(1) (random picks for
    /// SPOP and SRANDMEMBER). `None` past the end.
    pub fn nth(&self, index: usize) -> Option<Member<'_>> {
        match self {
            SetValue::Intset(s) => s.get(index).map(Member::Int),
            SetValue::Hashtable(h) => h.get(index).map(Member::Bytes),
        }
    }

    /// Converts to a hashtable if needed (t_set.c `setTypeConvert`).
    fn make_hashtable(&mut self) -> &mut Table {
        if let SetValue::Intset(s) = self {
            let mut table = Box::new(Table::with_capacity(s.len()));
            let mut buf = itoa::Buffer::new();
            for i in 0..s.len() {
                if let Some(n) = s.get(i) {
                    table.insert(buf.format(n).as_bytes());
                }
            }
            *self = SetValue::Hashtable(table);
        }
        match self {
            SetValue::Hashtable(h) => h,
            SetValue::Intset(_) => unreachable!("converted above"),
        }
    }
}

/// Iterator over a set's members.
pub enum Iter<'a> {
    Int(&'a IntSet, usize),
    Hash(std::slice::Iter<'a, Box<[u8]>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;
    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Int(s, i) => {
                let n = s.get(*i)?;
                *i += 1;
                Some(Member::Int(n))
            }
            Iter::Hash(it) => it.next().map(|b| Member::Bytes(b)),
        }
    }
}

/// The `hashtable` encoding: members in a dense vector (so a random member
/// is one index away, as Redis's `dictGetFairRandomKey` is cheap) plus a
/// hash index of their positions. Removal swaps the last member into the
/// hole.
///
/// Invariant: `index` holds each position `0..members.len()` exactly once,
/// under the hash of the member stored there.
#[derive(Clone, Debug, Default)]
pub struct Table {
    members: Vec<Box<[u8]>>,
    index: HashTable<usize>,
}

impl PartialEq for Table {
    fn eq(&self, other: &Table) -> bool {
        self.len() == other.len() && self.members.iter().all(|m| other.contains(m))
    }
}

impl Table {
    pub fn with_capacity(n: usize) -> Table {
        Table {
            members: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    fn position(&self, member: &[u8]) -> Option<usize> {
        let members = &self.members;
        self.index
            .find(hash_of(member), |&i| *members[i] == *member)
            .copied()
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.position(member).is_some()
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.members.get(i).map(|b| &**b)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Box<[u8]>> {
        self.members.iter()
    }

    /// Adds `member`; false if it was there.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if self.contains(member) {
            return false;
        }
        let members = &self.members;
        self.index
            .insert_unique(hash_of(member), members.len(), |&i| hash_of(&members[i]));
        self.members.push(member.into());
        true
    }

    /// Removes `member`; false if it was not there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let members = &self.members;
        let Ok(entry) = self
            .index
            .find_entry(hash_of(member), |&i| *members[i] == *member)
        else {
            return false;
        };
        let (pos, _) = entry.remove();
        let last = self.members.len() - 1;
        if pos != last {
            let moved = hash_of(&self.members[last]);
            if let Some(slot) = self.index.find_mut(moved, |&i| i == last) {
                *slot = pos;
            }
        }
        self.members.swap_remove(pos);
        // Give memory back as Redis's `htNeedsResize` does.
        if self.members.capacity() > 64 && self.members.len() * 4 < self.members.capacity() {
            self.members.shrink_to(self.members.len() * 2);
            let members = &self.members;
            self.index
                .shrink_to(members.len() * 2, |&i| hash_of(&members[i]));
        }
        true
    }
}

/// Redis's intset: distinct integers, ascending, all stored with the width
/// of the widest (2, 4 or 8 bytes, little-endian) in one exact-size buffer.
///
/// Up to [`INTSET_INLINE_MAX`] bytes (ten 16-bit members) live inside the
/// value itself, so a small set is one allocation; beyond that the buffer
/// is a boxed slice (no spare capacity) reallocated by each insert or
/// removal, as Redis's intset is.
#[derive(Clone, Debug, PartialEq)]
pub enum IntSet {
    Inline {
        width: Width,
        len: u8,
        bytes: [u8; INTSET_INLINE_MAX],
    },
    Heap {
        width: Width,
        bytes: Box<[u8]>,
    },
}

/// Intset bytes kept inline; keeps `IntSet` (and so `SetValue`) at 24 bytes.
const INTSET_INLINE_MAX: usize = 20;

/// Bytes per intset entry. An enum, so `SetValue` can keep its tag in the
/// spare values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Width {
    W2 = 2,
    W4 = 4,
    W8 = 8,
}

impl Width {
    fn bytes(self) -> usize {
        self as usize
    }
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::Inline {
            width: Width::W2,
            len: 0,
            bytes: [0; INTSET_INLINE_MAX],
        }
    }
}

/// The smallest intset width that holds `n` (intset.c `_intsetValueEncoding`).
fn width_of(n: i64) -> Width {
    if i16::try_from(n).is_ok() {
        Width::W2
    } else if i32::try_from(n).is_ok() {
        Width::W4
    } else {
        Width::W8
    }
}

impl IntSet {
    fn width(&self) -> Width {
        match self {
            IntSet::Inline { width, .. } | IntSet::Heap { width, .. } => *width,
        }
    }

    fn data(&self) -> &[u8] {
        match self {
            IntSet::Inline { len, bytes, .. } => &bytes[..usize::from(*len)],
            IntSet::Heap { bytes, .. } => bytes,
        }
    }

    /// Replaces the contents: inline when they fit.
    fn store(&mut self, width: Width, data: &[u8]) {
        *self = if data.len() <= INTSET_INLINE_MAX {
            let mut bytes = [0; INTSET_INLINE_MAX];
            bytes[..data.len()].copy_from_slice(data);
            IntSet::Inline {
                width,
                len: data.len() as u8,
                bytes,
            }
        } else {
            IntSet::Heap {
                width,
                bytes: data.into(),
            }
        };
    }

    pub fn len(&self) -> usize {
        self.data().len() / self.width().bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.data().is_empty()
    }

    pub fn get(&self, index: usize) -> Option<i64> {
        let w = self.width().bytes();
        let start = index.checked_mul(w)?;
        let bytes = self.data().get(start..start.checked_add(w)?)?;
        Some(decode(bytes))
    }

    /// Binary search: `Ok(index)` if present, else `Err(insert position)`.
    fn search(&self, n: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let v = self.get(mid).unwrap_or(i64::MAX);
            match v.cmp(&n) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, n: i64) -> bool {
        width_of(n) <= self.width() && self.search(n).is_ok()
    }

    /// Inserts `n`; false if already present. Widens every entry first when
    /// `n` needs more bytes (intset.c `intsetUpgradeAndAdd`).
    pub fn insert(&mut self, n: i64) -> bool {
        let needed = width_of(n);
        if needed > self.width() {
            let mut data = Vec::with_capacity((self.len() + 1) * needed.bytes());
            for v in (0..self.len()).filter_map(|i| self.get(i)) {
                encode(v, needed, &mut data);
            }
            self.store(needed, &data);
        }
        let Err(pos) = self.search(n) else {
            return false;
        };
        let width = self.width();
        let old = self.data();
        let at = pos * width.bytes();
        let mut data = Vec::with_capacity(old.len() + width.bytes());
        data.extend_from_slice(&old[..at]);
        encode(n, width, &mut data);
        data.extend_from_slice(&old[at..]);
        self.store(width, &data);
        true
    }

    /// Removes `n`; false if absent. The width never shrinks (as in Redis).
    pub fn remove(&mut self, n: i64) -> bool {
        let width = self.width();
        if width_of(n) > width {
            return false;
        }
        let Ok(pos) = self.search(n) else {
            return false;
        };
        let w = width.bytes();
        let old = self.data();
        let mut data = Vec::with_capacity(old.len() - w);
        data.extend_from_slice(&old[..pos * w]);
        data.extend_from_slice(&old[pos * w + w..]);
        self.store(width, &data);
        true
    }
}

fn decode(bytes: &[u8]) -> i64 {
    match bytes.len() {
        2 => i64::from(i16::from_le_bytes([bytes[0], bytes[1]])),
        4 => i64::from(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])),
        _ => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[..8]);
            i64::from_le_bytes(b)
        }
    }
}

fn encode(n: i64, width: Width, out: &mut Vec<u8>) {
    out.extend_from_slice(&n.to_le_bytes()[..width.bytes()]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_intset_keeps_order_and_widens() {
        let mut s = IntSet::default();
        for n in [5, -3, 40000, 5, i64::MIN, 7] {
            s.insert(n);
        }
        let all: Vec<i64> = (0..s.len()).filter_map(|i| s.get(i)).collect();
        assert_eq!(all, vec![i64::MIN, -3, 5, 7, 40000]);
        assert_eq!(s.width(), Width::W8);
        assert!(matches!(s, IntSet::Heap { .. }));
        assert!(s.contains(40000));
        assert!(!s.contains(6));
        assert!(s.remove(-3));
        assert!(!s.remove(-3));
        assert!(!s.remove(i64::MAX));
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn set_converts_one_way() {
        let mut s = SetValue::new_for(b"1");
        assert!(s.add(b"1", 2));
        assert!(s.add(b"2", 2));
        assert!(!s.add(b"2", 2));
        assert_eq!(s.encoding(), "intset");
        assert!(s.add(b"3", 2));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.remove(b"3"));
        assert_eq!(s.encoding(), "hashtable");
        let mut t = SetValue::new_for(b"1");
        t.add(b"1", 512);
        t.add(b"01", 512);
        assert_eq!(t.encoding(), "hashtable");
        assert!(t.contains(b"1") && t.contains(b"01"));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn set_table_keeps_its_index_through_removals() {
        let mut t = Table::default();
        for i in 0..300 {
            assert!(t.insert(format!("m{i}").as_bytes()));
        }
        assert!(!t.insert(b"m7"));
        for i in (0..300).step_by(3) {
            assert!(t.remove(format!("m{i}").as_bytes()));
        }
        assert!(!t.remove(b"m0"));
        assert_eq!(t.len(), 200);
        for i in 0..300 {
            assert_eq!(t.contains(format!("m{i}").as_bytes()), i % 3 != 0, "m{i}");
        }
        for i in 0..300 {
            t.remove(format!("m{i}").as_bytes());
        }
        assert!(t.is_empty());
    }
}
