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
//!             the key's value as it was at the cut (its preimage; moved,
//!             not copied, when the write replaces it)
//!   other     anything else that gets the stripe mutably (Keyspace::lock,
//!             Locked::stripe: FLUSHALL, SWAPDB ...) first hands the whole
//!             stripe, as it was at the cut, to the writer
//!   drive     the driver locks stripes 0..STRIPES in turn, so every stripe
//!             is saved once: its entries minus the changed keys, plus the
//!             preimages; the writer's output is the image
//! ```
//!
//! No change reaches a stripe before its cut state is kept, so the image
//! equals the dataset at the cut exactly, multi-stripe transactions
//! included. Memory overhead is the writer's buffered output plus the
//! preimages of keys written before their stripe was saved. A command
//! that writes through the store's paths pays one move or clone per key
//! per snapshot; one that takes a stripe otherwise pays one stripe's
//! serialization, once per snapshot. (Saving whole stripes on every first
//! touch made the shards encode most of a dataset under random writes: a
//! master's GET p99 during a 10M-key sync was 85 ms.)

use super::{Entry, ExpireScan, Key, Keyspace, Stripe, STRIPES};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The values of keys changed since the cut in a stripe the running
/// snapshot has yet to save: `(db, key)` -> the entry at the cut, `None`
/// when the key did not exist then. Empty (and unallocated) otherwise.
pub type Preimages = hashbrown::HashMap<(usize, Key), Option<Entry>>;

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

/// A borrowed `(db, key)` for looking up [`Preimages`] without building a
/// [`Key`]; hashes as the tuple does (`Key` hashes as its bytes).
struct PreKey<'a>(usize, &'a [u8]);

impl Hash for PreKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
    }
}

impl hashbrown::Equivalent<(usize, Key)> for PreKey<'_> {
    fn equivalent(&self, other: &(usize, Key)) -> bool {
        self.0 == other.0 && self.1 == &*other.1
    }
}

/// Keeps `old()`, `key`'s value at the cut, as its preimage unless one is
/// kept already; `saving` is [`Keyspace::saving`] for its stripe. Called
/// around the key's change: before it with a copy of the value, or after
/// it with the value the change replaced or removed.
pub(super) fn keep(
    preimages: &mut Preimages,
    saving: bool,
    db: usize,
    key: &[u8],
    old: impl FnOnce() -> Option<Entry>,
) {
    if saving && !preimages.contains_key(&PreKey(db, key)) {
        preimages.insert((db, Key::from(key)), old());
    }
}

impl Stripe {
    /// Whether `key` changed since the cut (it has a preimage).
    fn kept(&self, db: usize, key: &[u8]) -> bool {
        !self.preimages.is_empty() && self.preimages.contains_key(&PreKey(db, key))
    }

    /// `db`'s entries as they were at the running snapshot's cut: current
    /// entries of unchanged keys, then the preimages of changed ones. Once
    /// saved (or with no snapshot running) simply the current entries.
    pub fn cut_entries(&self, db: usize) -> impl Iterator<Item = (&[u8], &Entry)> {
        let current = self.dbs[db]
            .map
            .iter()
            .filter(move |(key, _)| !self.kept(db, key));
        let changed = self
            .preimages
            .iter()
            .filter(move |((d, _), _)| *d == db)
            .filter_map(|((_, key), entry)| Some((&**key, entry.as_ref()?)));
        current.chain(changed)
    }

    /// Whether `db` had no keys at the cut (see [`Stripe::cut_entries`]).
    pub fn cut_is_empty(&self, db: usize) -> bool {
        self.dbs[db].map.is_empty() && self.preimages.keys().all(|(d, _)| *d != db)
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
        self.snapshot_stats
            .keys_copied_on_write
            .fetch_add(stripe.preimages.len() as u64, Ordering::Relaxed);
        stripe.preimages = Preimages::default();
        if snap.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.snapshot_active.store(false, Ordering::Release);
            *self.snapshot.lock() = None;
        }
    }

    /// Whether a change to `stripe` (held) must keep preimages now: a
    /// snapshot runs and has yet to save the stripe (see [`keep`]).
    pub(super) fn saving(&self, stripe: &Stripe) -> bool {
        self.snapshot_active.load(Ordering::Acquire) && self.unsaved(stripe)
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
        let Stripe { dbs, preimages, .. } = &mut *guard;
        for (db, d) in dbs.iter_mut().enumerate() {
            scans.push(d.expire_due(now_ms, |key, old| {
                keep(preimages, saving, db, key, || Some(old));
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

    /// The image of a snapshot whose stripes were changed after the cut
    /// through every kind of path is exactly the dataset at the cut.
    #[test]
    fn changes_after_the_cut_stay_out_of_the_image() {
        let ks = Keyspace::new(2);
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
        let sink = Arc::clone(&image);
        let snap = ks
            .begin_snapshot(Box::new(move |_, stripe: &Stripe| {
                let mut out = sink.lock();
                for db in 0..2 {
                    for (key, entry) in stripe.cut_entries(db) {
                        let Value::Int(n) = entry.value else { panic!() };
                        out.push((db, key.to_vec(), n));
                    }
                }
            }))
            .unwrap();
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
        // Nothing kept once saved.
        assert!((0..STRIPES).all(|i| ks.lock(i).preimages.is_empty()));
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
