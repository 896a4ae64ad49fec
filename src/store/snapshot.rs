//! Point-in-time snapshots without fork (DESIGN.md, "Snapshots without
//! fork"): copy-on-write per key, with a whole-stripe save as the fallback.
//!
//! ```text
//!   begin     hold every stripe lock at once (no command is half-done),
//!             bump the epoch, publish the snapshot, release: that is the cut
//!   write     the store's own write paths (Keys: set, delete, lookup_write,
//!             remove, insert_in, set_expire, lazy expiry; eviction's
//!             Keyspace::remove_key; active expiry's
//!             Keyspace::expire_stripe) on a stripe not saved yet first keep
//!             the key's value as it was at the cut (its preimage, in the
//!             stripe's `Kept`) and mark the key's entry `changed`; a key
//!             already marked (or absent: removed since the cut, or new)
//!             has its cut value kept already
//!   other     anything else that gets the stripe mutably (Keyspace::lock,
//!             Locked::stripe: FLUSHALL, SWAPDB ...) first hands the whole
//!             stripe, as it was at the cut, to the writer
//!   drive     the driver locks stripes 0..STRIPES in turn, so every stripe
//!             is saved once: its unmarked entries plus the preimages; the
//!             marks are cleared; the writer's output is the image
//! ```
//!
//! No change reaches a stripe before its cut state is kept, so the image
//! equals the dataset at the cut exactly, multi-stripe transactions
//! included. Memory overhead is the writer's buffered output plus the
//! preimages of keys written before their stripe was saved. Preimages are
//! kept encoded by the keyspace's [`PreimageEncoder`] (the writer's own
//! format, appended to the stripe's buffer for its database) when small,
//! so the old value is freed at once (a 100-byte string costs ~120 bytes
//! kept instead of ~240: the value's allocation, a map slot, and the new
//! value's allocation while the old one lived on), and whatever their size
//! when the value is about to change in place (a clone would allocate
//! every element again). A big value a write replaces or deletes is moved
//! out whole. A command that writes through the store's paths pays one
//! encode or move per key per snapshot; one that takes a stripe otherwise
//! pays one stripe's serialization, once per snapshot. (Saving whole
//! stripes on every first touch made the shards encode most of a dataset
//! under random writes: a master's GET p99 during a 10M-key sync was 85
//! ms.)

use super::{Entry, ExpireScan, Key, Keyspace, Stripe, STRIPES};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What snapshots cost the commands, since start (INFO stats).
#[derive(Default)]
pub struct SnapshotStats {
    /// Stripes saved whole by someone other than the snapshot's driver
    /// (a command such as FLUSHALL) before the driver reached them.
    pub stripes_saved_inline: AtomicU64,
    /// Keys whose cut value was kept because they changed before their
    /// stripe was saved.
    pub keys_copied_on_write: AtomicU64,
}

/// Appends `key`'s cut entry to `out` in the stripe writer's format, or
/// declines (false, `out` untouched) for a value not worth encoding on a
/// command's thread; that one is kept whole for the writer. `copy`: the
/// alternative is a clone (the entry is about to change in place), not a
/// move.
pub type PreimageEncoder = fn(out: &mut Vec<u8>, key: &[u8], entry: &Entry, copy: bool) -> bool;

/// The cut values a stripe keeps for the running snapshot that has yet to
/// save it (empty, and unallocated, otherwise).
#[derive(Default)]
pub struct Kept {
    /// Per database, preimages the encoder took.
    encoded: Vec<Encoded>,
    /// Preimages kept whole, with their database.
    entries: Vec<(usize, Key, Entry)>,
    /// Whether some entry of the stripe is marked `changed`.
    marked: bool,
}

impl Kept {
    /// Keys kept (INFO's keys_copied_on_write).
    fn count(&self) -> u64 {
        let encoded: usize = self.encoded.iter().map(|e| e.keys).sum();
        (encoded + self.entries.len()) as u64
    }
}

struct Encoded {
    db: usize,
    keys: usize,
    bytes: Vec<u8>,
}

/// How a change keeps cut values while its stripe is unsaved (see
/// [`Keyspace::saving`]): with the keyspace's encoder, if it has one.
#[derive(Clone, Copy)]
pub(super) struct Keeper(Option<PreimageEncoder>);

impl Keeper {
    /// Keeps `old`, the entry a change removed or replaced, as `key`'s cut
    /// value, unless it was changed since the cut (its cut value is kept).
    pub(super) fn removed(self, kept: &mut Kept, db: usize, key: &[u8], old: Entry) {
        if !old.changed && !self.encoded(kept, db, key, &old, false) {
            kept.entries.push((db, Key::from(key), old));
        }
    }

    /// Keeps a copy of `old`, the entry a change is about to alter in
    /// place or removed and hands on, unless it was changed since the cut
    /// (cloned only without an encoder: the keyspace's encodes copies).
    pub(super) fn copy(self, kept: &mut Kept, db: usize, key: &[u8], old: &Entry) {
        if !old.changed && !self.encoded(kept, db, key, old, true) {
            kept.entries.push((db, Key::from(key), old.clone()));
        }
    }

    /// Marks an entry that appeared or changed since the cut (a key new
    /// since the cut has no cut value to keep).
    pub(super) fn mark(kept: &mut Kept, entry: &mut Entry) {
        entry.changed = true;
        kept.marked = true;
    }

    fn encoded(self, kept: &mut Kept, db: usize, key: &[u8], old: &Entry, copy: bool) -> bool {
        let Some(encode) = self.0 else {
            return false;
        };
        let pos = match kept.encoded.iter().position(|e| e.db == db) {
            Some(pos) => pos,
            None => {
                kept.encoded.push(Encoded {
                    db,
                    keys: 0,
                    bytes: Vec::new(),
                });
                kept.encoded.len() - 1
            }
        };
        let slot = &mut kept.encoded[pos];
        // Grow by a quarter, not double: these buffers are the memory a
        // snapshot costs, and the growth's slack is part of it.
        let need = key.len() + 64;
        if slot.bytes.capacity() - slot.bytes.len() < need {
            slot.bytes
                .reserve_exact(need.max(slot.bytes.len() / 4).max(1024));
        }
        if !encode(&mut slot.bytes, key, old, copy) {
            return false;
        }
        slot.keys += 1;
        true
    }
}

impl Stripe {
    /// `db`'s entries as they were at the running snapshot's cut and not
    /// encoded: current entries of unchanged keys, then the preimages kept
    /// whole. Once saved (or with no snapshot running) simply the current
    /// entries. [`Stripe::cut_encoded`] has the rest.
    pub fn cut_entries(&self, db: usize) -> impl Iterator<Item = (&[u8], &Entry)> {
        let current = self.dbs[db].map.iter().filter(|(_, e)| !e.changed);
        let kept = self
            .kept
            .entries
            .iter()
            .filter(move |(d, _, _)| *d == db)
            .map(|(_, key, entry)| (&**key, entry));
        current.chain(kept)
    }

    /// `db`'s encoded preimages: how many, and the encoder's bytes.
    pub fn cut_encoded(&self, db: usize) -> (usize, &[u8]) {
        self.kept
            .encoded
            .iter()
            .find(|e| e.db == db)
            .map_or((0, &[][..]), |e| (e.keys, &e.bytes))
    }

    /// Whether `db` had no keys at the cut (see [`Stripe::cut_entries`]).
    pub fn cut_is_empty(&self, db: usize) -> bool {
        self.dbs[db].map.is_empty()
            && self.kept.entries.iter().all(|(d, _, _)| *d != db)
            && self.cut_encoded(db).0 == 0
    }
}

/// Serializes one stripe into the snapshot (called with the stripe locked;
/// it must not lock stripes itself).
pub type StripeWriter = dyn Fn(usize, &Stripe) + Send + Sync;

pub struct Snapshot {
    pub epoch: u64,
    write: Box<StripeWriter>,
    remaining: AtomicUsize,
}

impl Snapshot {
    /// Stripes not saved yet.
    pub fn remaining(&self) -> usize {
        self.remaining.load(Ordering::Acquire)
    }
}

/// A snapshot is already running (one at a time; replicas attach to the
/// running one's output instead).
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

impl Keyspace {
    /// Takes the cut: from now on each stripe goes to `write` as it is now,
    /// before anything changes it. Call [`Keyspace::drive_snapshot`] next.
    pub fn begin_snapshot(
        &self,
        write: Box<StripeWriter>,
    ) -> Result<std::sync::Arc<Snapshot>, Busy> {
        self.begin_snapshot_with(write, || {})
    }

    /// [`Keyspace::begin_snapshot`], running `at_cut` while every stripe is
    /// held: what it reads of state that changes only under stripe locks
    /// (the replication offset) is exactly the cut's.
    pub fn begin_snapshot_with(
        &self,
        write: Box<StripeWriter>,
        at_cut: impl FnOnce(),
    ) -> Result<std::sync::Arc<Snapshot>, Busy> {
        // Every stripe lock, ascending (the order commands use), so no
        // command holds a half-done multi-stripe change across the cut.
        let gate = self.hold_cuts();
        let guards: Vec<_> = self.stripes.iter().map(|s| s.lock()).collect();
        let mut slot = self.snapshot.lock();
        if slot.is_some() {
            return Err(Busy);
        }
        let epoch = self.snapshot_epoch.fetch_add(1, Ordering::AcqRel) + 1;
        let snap = std::sync::Arc::new(Snapshot {
            epoch,
            write,
            remaining: AtomicUsize::new(STRIPES),
        });
        *slot = Some(std::sync::Arc::clone(&snap));
        self.snapshot_active.store(true, Ordering::Release);
        at_cut();
        drop(slot);
        drop(guards);
        drop(gate);
        Ok(snap)
    }

    /// Saves every stripe not saved yet, with `drivers` threads taking
    /// stripes from a shared counter. Each driver runs `start` once (the
    /// caller may mark its thread) and `before_each` before each stripe
    /// (the caller's backpressure: it may wait for the writer). Returns
    /// when the image is complete.
    pub fn drive_snapshot(
        &self,
        snap: &Snapshot,
        drivers: usize,
        start: impl Fn() + Sync,
        before_each: impl Fn() + Sync,
    ) {
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..drivers.max(1) {
                scope.spawn(|| {
                    start();
                    loop {
                        let index = next.fetch_add(1, Ordering::AcqRel);
                        if index >= STRIPES {
                            break;
                        }
                        before_each();
                        self.save_stripe(index, &mut self.stripes[index].lock(), false);
                    }
                });
            }
        });
        debug_assert_eq!(snap.remaining(), 0);
    }

    /// Saves the stripe (held) if the running snapshot has not seen it yet:
    /// by the driver, or `inline` by whoever else needs it whole first
    /// ([`Keyspace::lock`], [`Locked::stripe`](super::Locked::stripe)).
    #[cold]
    pub(super) fn save_stripe(&self, index: usize, stripe: &mut Stripe, inline: bool) {
        // Saved already (every touch after the first): no shared lock.
        if !self.unsaved(stripe) {
            return;
        }
        // Unsaved means a snapshot runs: it is cleared only once every
        // stripe is saved, and its epoch is the latest (a new one cannot
        // begin while this stripe is held).
        let Some(snap) = self.snapshot.lock().clone() else {
            return;
        };
        if inline {
            self.snapshot_stats
                .stripes_saved_inline
                .fetch_add(1, Ordering::Relaxed);
        }
        (snap.write)(index, stripe);
        stripe.saved_epoch = snap.epoch;
        let kept = std::mem::take(&mut stripe.kept);
        if kept.marked {
            // The records were just walked: still in the cache.
            for db in 0..stripe.dbs.len() {
                for entry in stripe.dbs[db].map.values_mut() {
                    entry.changed = false;
                }
            }
        }
        self.snapshot_stats
            .keys_copied_on_write
            .fetch_add(kept.count(), Ordering::Relaxed);
        if snap.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.snapshot_active.store(false, Ordering::Release);
            *self.snapshot.lock() = None;
        }
    }

    /// How a change to `stripe` (held) keeps preimages, if it must now: a
    /// snapshot runs and has yet to save the stripe.
    pub(super) fn saving(&self, stripe: &Stripe) -> Option<Keeper> {
        (self.snapshot_active.load(Ordering::Acquire) && self.unsaved(stripe))
            .then_some(Keeper(self.preimage_encoder))
    }

    /// Has small preimages kept encoded by `encode` (see the module docs);
    /// without one every preimage is kept whole.
    pub fn set_preimage_encoder(&mut self, encode: PreimageEncoder) {
        self.preimage_encoder = Some(encode);
    }

    /// Active expiry of one stripe: removes the keys of every database
    /// whose expiry is before `now_ms`, keeping each one's value for a
    /// running snapshot that has yet to save the stripe (as any write
    /// does), and appends them to `expired` as (db, key) and what each
    /// database's scan saw to `scans`. Returns the stripe, still locked,
    /// for the caller's WATCH and DEL propagation.
    pub fn expire_stripe(
        &self,
        index: usize,
        now_ms: u64,
        expired: &mut Vec<(usize, Key)>,
        scans: &mut Vec<ExpireScan>,
    ) -> parking_lot::MutexGuard<'_, Stripe> {
        let mut guard = self.stripes[index].lock();
        let saving = self.saving(&guard);
        let Stripe { dbs, kept, .. } = &mut *guard;
        let lazyfree = &self.lazyfree;
        for (db, d) in dbs.iter_mut().enumerate() {
            scans.push(d.expire_due(now_ms, |key, old| {
                let free = |e: Entry| lazyfree.free_as(super::Lazy::Expire, e.value);
                super::hand_off(saving, kept, db, key, old, free);
                expired.push((db, Key::from(key)));
            }));
        }
        guard
    }

    /// Whether `stripe` (held) has yet to be saved by the running snapshot,
    /// whose epoch is the latest one begun; read without the snapshot's
    /// lock.
    fn unsaved(&self, stripe: &Stripe) -> bool {
        stripe.saved_epoch < self.snapshot_epoch.load(Ordering::Acquire)
    }

    /// True while a snapshot is being taken.
    pub fn snapshot_running(&self) -> bool {
        self.snapshot_active.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{stripe_of, Entry, Keys, Locked, Value};
    use parking_lot::Mutex;
    use std::sync::Arc;

    fn counter(stripe: &Stripe, key: &[u8]) -> i64 {
        match stripe.dbs[0].map.get(key).map(|e| &e.value) {
            Some(Value::Int(n)) => *n,
            _ => 0,
        }
    }

    fn incr(stripe: &mut Stripe, key: &[u8]) {
        let n = counter(stripe, key) + 1;
        stripe.dbs[0].insert(key, Entry::new(Value::Int(n), 0));
    }

    /// A test encoder: key length, key, value (i64 LE); declines odd
    /// values, so both ways of keeping run.
    fn encode_even(out: &mut Vec<u8>, key: &[u8], entry: &Entry, _copy: bool) -> bool {
        match entry.value {
            Value::Int(n) if n % 2 == 0 => {
                out.push(key.len() as u8);
                out.extend_from_slice(key);
                out.extend_from_slice(&n.to_le_bytes());
                true
            }
            _ => false,
        }
    }

    fn decode_even(mut bytes: &[u8], mut each: impl FnMut(&[u8], i64)) {
        while let Some((&len, rest)) = bytes.split_first() {
            let (key, rest) = rest.split_at(usize::from(len));
            let (n, rest) = rest.split_at(8);
            each(key, i64::from_le_bytes(n.try_into().unwrap()));
            bytes = rest;
        }
    }

    /// The image of a snapshot whose stripes were changed after the cut
    /// through every kind of path is exactly the dataset at the cut, with
    /// preimages kept whole or encoded.
    #[test]
    fn changes_after_the_cut_stay_out_of_the_image() {
        changes_after_the_cut_stay_out(None);
        changes_after_the_cut_stay_out(Some(encode_even));
    }

    fn changes_after_the_cut_stay_out(encoder: Option<PreimageEncoder>) {
        let mut ks = Keyspace::new(2);
        if let Some(encode) = encoder {
            ks.set_preimage_encoder(encode);
        }
        let key = |i: usize| format!("k{i}").into_bytes();
        let mut want = Vec::new();
        // Keys 10000.. stay untouched until eviction removes them; keys
        // 20000.. (live at the cut, expiring at 50) until active expiry
        // does.
        for i in (0..4000).chain(10_000..10_500).chain(20_000..20_500) {
            let db = i % 2;
            let mut stripes = vec![stripe_of(&key(i))];
            let mut keys = Keys::new(Locked::some(&ks, &mut stripes), db, 0, 0);
            let expire = if i >= 20_000 { 50 } else { 0 };
            keys.set(&key(i), Value::Int(i as i64), expire);
            want.push((db, key(i), i as i64));
        }
        want.sort();
        type Image = Arc<Mutex<Vec<(usize, Vec<u8>, i64)>>>;
        let image: Image = Arc::default();
        // Each stripe's cut entries and encoded preimages, into `image`.
        let writer = |sink: Image| -> Box<StripeWriter> {
            Box::new(move |_, stripe: &Stripe| {
                let mut out = sink.lock();
                for db in 0..2 {
                    for (key, entry) in stripe.cut_entries(db) {
                        let Value::Int(n) = entry.value else { panic!() };
                        out.push((db, key.to_vec(), n));
                    }
                    let (count, bytes) = stripe.cut_encoded(db);
                    let before = out.len();
                    decode_even(bytes, |key, n| out.push((db, key.to_vec(), n)));
                    assert_eq!(out.len() - before, count);
                }
            })
        };
        let snap = ks.begin_snapshot(writer(Arc::clone(&image))).unwrap();
        // Each key changed twice, by way i % 7, then the stripe saved by a
        // whole-stripe path for every 5th key.
        for i in 0..5000 {
            let (db, k) = (i % 2, key(i));
            let mut stripes = vec![stripe_of(&k)];
            let mut keys = Keys::new(Locked::some(&ks, &mut stripes), db, 0, 0);
            for round in 0..2 {
                match (i + round) % 7 {
                    0 => keys.set(&k, Value::Int(-1), 0),
                    1 => {
                        keys.delete(&k);
                    }
                    2 => {
                        if let Some(Value::Int(n)) = keys.lookup_write(&k).map(|e| &mut e.value) {
                            *n += 1000;
                        }
                    }
                    3 => keys.set_expire(&k, 5),
                    4 => {
                        keys.remove(&k);
                        keys.insert_in(1 - db, &k, Entry::new(Value::Int(-2), 0));
                    }
                    5 => {
                        // Expired since the cut: lazy expiry removes it.
                        keys.set_expire(&k, 1);
                        keys.now_ms = 10;
                        keys.lookup_read(&k);
                    }
                    _ => {
                        keys.lookup_read(&k);
                    }
                }
            }
            if i % 5 == 0 {
                keys.locked.stripe_for(&k).dbs[db].remove(&k);
            }
        }
        // Eviction's sampling read and its removal of untouched keys.
        for i in 10_000..10_500 {
            drop(ks.lock_read(stripe_of(&key(i))));
            assert!(ks.remove_key(i % 2, &key(i)).is_some());
        }
        // Active expiry after their expiry.
        let (mut expired, mut scans) = (Vec::new(), Vec::new());
        for i in 20_000..20_500 {
            drop(ks.expire_stripe(stripe_of(&key(i)), 100, &mut expired, &mut scans));
        }
        // (Plus keys the writes above gave a TTL of 5 in those stripes.)
        let gone = |i: usize| expired.iter().any(|(db, k)| *db == i % 2 && **k == *key(i));
        assert!((20_000..20_500).all(gone));
        ks.drive_snapshot(&snap, 2, || {}, || {});
        let mut got = image.lock().clone();
        got.sort();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the image differs from the dataset at the cut");
        let copied = ks
            .snapshot_stats
            .keys_copied_on_write
            .load(Ordering::Relaxed);
        assert!(copied > 0 && copied <= 5000, "{copied} keys copied");
        // Nothing kept, and no entry marked, once saved.
        for i in 0..STRIPES {
            let stripe = ks.lock(i);
            assert_eq!(stripe.kept.count(), 0);
            assert!(stripe
                .dbs
                .iter()
                .all(|db| db.map.values().all(|e| !e.changed)));
        }
        if encoder.is_some() {
            return;
        }
        // A second snapshot sees every current key (no mark left over).
        let mut now = Vec::new();
        for i in 0..STRIPES {
            for db in 0..2 {
                for (key, entry) in ks.lock(i).dbs[db].map.iter() {
                    let Value::Int(n) = entry.value else { panic!() };
                    now.push((db, key.to_vec(), n));
                }
            }
        }
        now.sort();
        image.lock().clear();
        let snap = ks.begin_snapshot(writer(Arc::clone(&image))).unwrap();
        ks.drive_snapshot(&snap, 1, || {}, || {});
        let mut again = image.lock().clone();
        again.sort();
        assert!(again == now, "a second image differs from the dataset");
    }

    /// Writers increment one `a` and one `b` counter (different stripes)
    /// under both locks, like a MULTI/EXEC. An image cut between the two
    /// increments of any writer would show sum(a) != sum(b).
    #[test]
    fn image_is_a_consistent_cut_under_concurrent_writes() {
        let ks = Arc::new(Keyspace::new(1));
        let keys_a: Vec<Vec<u8>> = (0..64).map(|i| format!("a{i}").into_bytes()).collect();
        let keys_b: Vec<Vec<u8>> = (0..64).map(|i| format!("b{i}").into_bytes()).collect();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let (ks, stop) = (Arc::clone(&ks), Arc::clone(&stop));
                let (ka, kb) = (keys_a.clone(), keys_b.clone());
                std::thread::spawn(move || {
                    let mut i = w;
                    let mut done = 0u64;
                    while !stop.load(Ordering::Relaxed) || done < 1000 {
                        let (a, b) = (&ka[i % 64], &kb[(i * 7) % 64]);
                        let mut stripes = vec![stripe_of(a), stripe_of(b)];
                        let locked = Locked::some(&ks, &mut stripes);
                        // Writer 0 saves whole stripes, the others keep
                        // preimages (in place, or replacing).
                        if w == 0 {
                            let mut locked = locked;
                            incr(locked.stripe_for(a), a);
                            incr(locked.stripe_for(b), b);
                        } else {
                            let mut keys = Keys::new(locked, 0, 0, 0);
                            for key in [a, b] {
                                match keys.lookup_write(key).map(|e| &mut e.value) {
                                    Some(Value::Int(n)) if w == 1 => *n += 1,
                                    Some(Value::Int(n)) => {
                                        let n = *n + 1;
                                        keys.set(key, Value::Int(n), 0);
                                    }
                                    _ => keys.set(key, Value::Int(1), 0),
                                }
                            }
                        }
                        i += 3;
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        // Let the writers get going, then cut while they run.
        while counter(&ks.lock(stripe_of(b"a0")), b"a0") < 5 {
            std::thread::yield_now();
        }
        type Image = Arc<Mutex<Vec<(Vec<u8>, i64)>>>;
        let image: Image = Arc::default();
        let sink = Arc::clone(&image);
        let snap = ks
            .begin_snapshot(Box::new(move |_, stripe: &Stripe| {
                let mut out = sink.lock();
                for (key, entry) in stripe.cut_entries(0) {
                    if let Value::Int(n) = entry.value {
                        out.push((key.to_vec(), n));
                    }
                }
            }))
            .unwrap();
        assert_eq!(ks.begin_snapshot(Box::new(|_, _| {})).err(), Some(Busy));
        ks.drive_snapshot(&snap, 2, || {}, std::thread::yield_now);
        assert!(!ks.snapshot_running());
        stop.store(true, Ordering::Relaxed);
        let total: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        let image = image.lock();
        let sum = |prefix: u8| -> i64 {
            image
                .iter()
                .filter(|(k, _)| k[0] == prefix)
                .map(|(_, n)| n)
                .sum()
        };
        assert_eq!(sum(b'a'), sum(b'b'), "the image is not a consistent cut");
        assert!(
            sum(b'a') > 0 && (sum(b'a') as u64) < total,
            "cut not taken mid-run"
        );
        // A second snapshot starts after the first finished.
        let snap = ks.begin_snapshot(Box::new(|_, _| {})).unwrap();
        ks.drive_snapshot(&snap, 1, || {}, || {});
    }
}
