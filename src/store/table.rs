//! The keyspace's hash table: key bytes to [`Entry`], at 8 bytes per slot.
//!
//! Each key lives with its entry in one heap record, and the open-addressing
//! table holds only thin pointers to records:
//!
//! ```text
//!   HashTable<Record>  (8 B + 1 control byte per slot, at most 7/8 full)
//!        |
//!        v
//!   +--------------------+-------------+------------------------+
//!   | Entry (40 B)       | key_len u32 | key bytes              |
//!   +--------------------+-------------+------------------------+
//!   0                    40            44            (align 8, one malloc)
//! ```
//!
//! Why not `HashMap<Key, Entry>`: its 64-byte slots made every doubling cost
//! 64 bytes per key, and with keys spread evenly over the stripes every
//! stripe's table doubles at the same moment; at 1M keys the slots alone
//! took ~136 B/key against Redis's ~80 B for a whole small string key. Here
//! a doubling costs 9 bytes per key and a record for a 12-byte key is one
//! 64-byte malloc chunk, as Redis's dictEntry + key sds are.
//!
//! A key of `u32::MAX` bytes or more (only possible with a huge
//! `proto-max-bulk-len`) stores `u32::MAX` as its length and its real length
//! as an unaligned u64 in front of the key bytes.
#![allow(unsafe_code)]

use super::Entry;
use hashbrown::hash_table::Entry as Slot;
use hashbrown::HashTable;
use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Offset of the key length, right after the entry.
const LEN_AT: usize = std::mem::size_of::<Entry>();
/// Offset of the key bytes for keys shorter than `u32::MAX`.
const KEY_AT: usize = LEN_AT + 4;
/// Offset of the key bytes after the long-key u64 length.
const LONG_KEY_AT: usize = KEY_AT + 8;

const _: () = assert!(LEN_AT % 4 == 0);

/// One owned key + entry allocation (see the module docs for the layout).
struct Record(NonNull<u8>);

// SAFETY: a Record owns its allocation exclusively (no sharing, no interior
// mutability beyond what `Entry` has), and `Entry` is Send + Sync.
unsafe impl Send for Record {}
// SAFETY: as for Send: `&Record` only gives out `&Entry` and `&[u8]`.
unsafe impl Sync for Record {}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Entry>();
};

impl Record {
    fn layout(key_len: usize) -> Layout {
        let key_at = if key_len < u32::MAX as usize {
            KEY_AT
        } else {
            LONG_KEY_AT
        };
        // Only fails above isize::MAX bytes, which no key can reach: it was
        // received or loaded into memory first.
        Layout::from_size_align(key_at + key_len, std::mem::align_of::<Entry>())
            .expect("key record size overflow")
    }

    fn new(key: &[u8], entry: Entry) -> Record {
        let layout = Record::layout(key.len());
        // SAFETY: the layout is non-zero sized (it holds an Entry). The
        // writes stay inside it: the entry at 0 (aligned to Entry's
        // alignment, the allocation's), the u32 length at LEN_AT (4-aligned),
        // the optional u64 length unaligned, then exactly key.len() bytes.
        unsafe {
            let ptr = alloc::alloc(layout);
            let Some(ptr) = NonNull::new(ptr) else {
                alloc::handle_alloc_error(layout)
            };
            ptr.as_ptr().cast::<Entry>().write(entry);
            let key_at = match u32::try_from(key.len()) {
                Ok(len) if len < u32::MAX => {
                    ptr.as_ptr().add(LEN_AT).cast::<u32>().write(len);
                    KEY_AT
                }
                _ => {
                    ptr.as_ptr().add(LEN_AT).cast::<u32>().write(u32::MAX);
                    ptr.as_ptr()
                        .add(KEY_AT)
                        .cast::<u64>()
                        .write_unaligned(key.len() as u64);
                    LONG_KEY_AT
                }
            };
            std::ptr::copy_nonoverlapping(key.as_ptr(), ptr.as_ptr().add(key_at), key.len());
            Record(ptr)
        }
    }

    /// (offset of the key bytes, key length).
    fn key_span(&self) -> (usize, usize) {
        // SAFETY: the length fields were written by `new` and never change.
        unsafe {
            let len = self.0.as_ptr().add(LEN_AT).cast::<u32>().read();
            if len < u32::MAX {
                (KEY_AT, len as usize)
            } else {
                let long = self.0.as_ptr().add(KEY_AT).cast::<u64>().read_unaligned();
                (LONG_KEY_AT, long as usize)
            }
        }
    }

    fn key(&self) -> &[u8] {
        let (at, len) = self.key_span();
        // SAFETY: `new` copied exactly `len` key bytes at `at`.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(at), len) }
    }

    fn entry(&self) -> &Entry {
        // SAFETY: `new` wrote a valid, aligned Entry at offset 0; it lives
        // until `drop` or `into_entry`.
        unsafe { &*self.0.as_ptr().cast::<Entry>() }
    }

    fn entry_mut(&mut self) -> &mut Entry {
        // SAFETY: as `entry`, and `&mut self` makes the access exclusive.
        unsafe { &mut *self.0.as_ptr().cast::<Entry>() }
    }

    /// The key and a mutable entry at once (disjoint bytes).
    fn key_entry_mut(&mut self) -> (&[u8], &mut Entry) {
        let (at, len) = self.key_span();
        // SAFETY: the entry occupies [0, LEN_AT) and the key [at, at + len),
        // which do not overlap; both were initialised by `new`.
        unsafe {
            let key = std::slice::from_raw_parts(self.0.as_ptr().add(at), len);
            (key, &mut *self.0.as_ptr().cast::<Entry>())
        }
    }

    /// Frees the record, returning its entry.
    fn into_entry(self) -> Entry {
        let this = std::mem::ManuallyDrop::new(self);
        let layout = Record::layout(this.key_span().1);
        // SAFETY: the entry is moved out exactly once (the record is not
        // dropped, so `Drop` will not drop it again), then the allocation is
        // freed with the layout it was allocated with.
        unsafe {
            let entry = this.0.as_ptr().cast::<Entry>().read();
            alloc::dealloc(this.0.as_ptr(), layout);
            entry
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let layout = Record::layout(self.key_span().1);
        // SAFETY: the entry is valid and dropped once; then the allocation
        // is freed with its own layout.
        unsafe {
            std::ptr::drop_in_place(self.0.as_ptr().cast::<Entry>());
            alloc::dealloc(self.0.as_ptr(), layout);
        }
    }
}

fn hash(key: &[u8]) -> u64 {
    super::hash_of(key)
}

/// A map from key bytes to [`Entry`] (the API of the `HashMap` it replaced).
#[derive(Default)]
pub struct KeyTable {
    table: HashTable<Record>,
}

/// What [`KeyTable::find_live`] found.
pub enum Found<'a> {
    Live(&'a mut Entry),
    /// The entry matched `remove_if` and was removed.
    Removed(Entry),
    Missing,
}

impl KeyTable {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Makes room for `additional` more keys without rehashing.
    pub fn reserve(&mut self, additional: usize) {
        self.table.reserve(additional, |r| hash(r.key()));
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.table
            .find(hash(key), |r| r.key() == key)
            .map(Record::entry)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.table
            .find_mut(hash(key), |r| r.key() == key)
            .map(Record::entry_mut)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces (keeping the record), returning the old entry.
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        match self
            .table
            .entry(hash(key), |r| r.key() == key, |r| hash(r.key()))
        {
            Slot::Occupied(mut o) => Some(std::mem::replace(o.get_mut().entry_mut(), entry)),
            Slot::Vacant(v) => {
                v.insert(Record::new(key, entry));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let found = self.table.find_entry(hash(key), |r| r.key() == key).ok()?;
        Some(found.remove().0.into_entry())
    }

    /// Finds `key`, removing it instead when `remove_if` holds for its
    /// entry (one hash probe).
    pub fn find_live(&mut self, key: &[u8], remove_if: impl FnOnce(&Entry) -> bool) -> Found<'_> {
        match self.table.find_entry(hash(key), |r| r.key() == key) {
            Ok(o) if remove_if(o.get().entry()) => Found::Removed(o.remove().0.into_entry()),
            Ok(o) => Found::Live(o.into_mut().entry_mut()),
            Err(_) => Found::Missing,
        }
    }

    /// Every key and entry, in table order (see [`Iter`]).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self.table.iter(),
            ring: [None; AHEAD],
            pos: 0,
            primed: false,
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.iter().map(|(_, e)| e)
    }

    /// Every entry, to change in place (no prefetching: for a walk of a
    /// table just iterated, whose records are still in the cache).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Entry> + '_ {
        self.table.iter_mut().map(Record::entry_mut)
    }

    /// Keeps the entries for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &mut Entry) -> bool) {
        self.table.retain(|r| {
            let (key, entry) = r.key_entry_mut();
            keep(key, entry)
        });
    }
}

/// Records fetched ahead of the one returned.
const AHEAD: usize = 16;

/// Iterates a [`KeyTable`] with prefetching: table order is random heap
/// order, so each record (and its value's buffer) would be a cache miss
/// on its own; a BGSAVE spent a third of its time in them. Records enter a
/// ring of [`AHEAD`] as they are prefetched; halfway through the ring,
/// when its record has arrived, a value's heap buffer is prefetched too.
pub struct Iter<'a> {
    inner: hashbrown::hash_table::Iter<'a, Record>,
    ring: [Option<&'a Record>; AHEAD],
    pos: usize,
    primed: bool,
}

fn prefetch(ptr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

fn prefetch_record(record: &Record) {
    prefetch(record.0.as_ptr());
    // A record straddles two cache lines unless 64-byte aligned; the key
    // starts at LEN_AT.
    prefetch(record.0.as_ptr().wrapping_add(LEN_AT));
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a Entry);

    fn next(&mut self) -> Option<Self::Item> {
        if !self.primed {
            self.primed = true;
            for slot in &mut self.ring {
                *slot = self.inner.next();
                if let Some(r) = slot {
                    prefetch_record(r);
                }
            }
        }
        let current = self.ring[self.pos].take()?;
        let incoming = self.inner.next();
        if let Some(r) = incoming {
            prefetch_record(r);
        }
        self.ring[self.pos] = incoming;
        self.pos = (self.pos + 1) % AHEAD;
        if let Some(mid) = self.ring[(self.pos + AHEAD / 2) % AHEAD] {
            if let Some(buf) = mid.entry().value.heap_ptr() {
                prefetch(buf);
            }
        }
        Some((current.key(), current.entry()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let queued = self.ring.iter().filter(|r| r.is_some()).count();
        let (lo, hi) = self.inner.size_hint();
        if self.primed {
            (lo + queued, hi.map(|h| h + queued))
        } else {
            (lo, hi)
        }
    }
}

impl<'a> IntoIterator for &'a KeyTable {
    type Item = (&'a [u8], &'a Entry);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Value;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn record_layout() {
        // The long-key path needs a 4 GiB key to run; its layout is checked.
        assert_eq!(Record::layout(0).size(), KEY_AT);
        assert_eq!(Record::layout(12).size(), KEY_AT + 12);
        assert_eq!(
            Record::layout(u32::MAX as usize).size(),
            LONG_KEY_AT + u32::MAX as usize
        );
        let r = Record::new(b"", Entry::new(Value::Int(7), 0));
        assert_eq!(r.key(), b"");
        assert_eq!(r.into_entry().value, Value::Int(7));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(Vec<u8>, i64),
        Remove(Vec<u8>),
        RetainEven,
        TakeIfNegative(Vec<u8>),
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = prop::collection::vec(0u8..4, 0..40);
        prop_oneof![
            4 => (key.clone(), any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
            2 => key.clone().prop_map(Op::Remove),
            1 => Just(Op::RetainEven),
            1 => key.prop_map(Op::TakeIfNegative),
        ]
    }

    fn entry(n: i64) -> Entry {
        Entry::new(Value::string_no_int(n.to_string().as_bytes()), 0)
    }

    fn int(e: &Entry) -> i64 {
        e.value
            .with_string_bytes(|b| std::str::from_utf8(b).unwrap().parse().unwrap())
            .unwrap()
    }

    proptest! {
        /// Against std's HashMap as the model: every operation's result and
        /// the final contents agree (keys up to 40 bytes, many of them equal;
        /// heap-allocated values, so a double drop would abort).
        #[test]
        fn behaves_as_a_hashmap(ops in prop::collection::vec(op(), 0..300)) {
            let mut table = KeyTable::default();
            let mut model: HashMap<Vec<u8>, i64> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let old = table.insert(&k, entry(v)).map(|e| int(&e));
                        prop_assert_eq!(old, model.insert(k, v));
                    }
                    Op::Remove(k) => {
                        prop_assert_eq!(table.remove(&k).map(|e| int(&e)), model.remove(&k));
                    }
                    Op::RetainEven => {
                        table.retain(|_, e| int(e) % 2 == 0);
                        model.retain(|_, v| *v % 2 == 0);
                    }
                    Op::TakeIfNegative(k) => {
                        match table.find_live(&k, |e| int(e) < 0) {
                            Found::Removed(e) => prop_assert_eq!(model.remove(&k), Some(int(&e))),
                            Found::Live(e) => prop_assert_eq!(model.get(&k), Some(&int(e))),
                            Found::Missing => prop_assert!(!model.contains_key(&k)),
                        }
                    }
                }
                prop_assert_eq!(table.len(), model.len());
            }
            let mut got: Vec<(Vec<u8>, i64)> = table.iter().map(|(k, e)| (k.to_vec(), int(e))).collect();
            let mut want: Vec<(Vec<u8>, i64)> = model.into_iter().collect();
            got.sort();
            want.sort();
            prop_assert_eq!(got, want);
        }
    }
}
