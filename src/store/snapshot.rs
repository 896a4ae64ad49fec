//! Point-in-time snapshots without fork (DESIGN.md, "Snapshots without
//! fork"): copy-on-access at stripe granularity.
//!
//! ```text
//!   begin     hold every stripe lock at once (no command is half-done),
//!             bump the epoch, publish the snapshot, release: that is the cut
//!   lock(i)   whoever next locks stripe i (a command, expiry, eviction, or
//!             the snapshot's own driver) first hands the stripe, still as it
//!             was at the cut, to the snapshot's writer, then marks it saved
//!   drive     the driver locks stripes 0..STRIPES in turn, so every stripe
//!             is saved once; the writer's output is the image
//! ```
//!
//! A stripe is saved before anything can change it, so the image equals the
//! dataset at the cut exactly, multi-stripe transactions included. Memory
//! overhead is the writer's buffered output only; a command's latency grows
//! by at most one stripe's serialization, once per snapshot.

use super::{Keyspace, Stripe, STRIPES};
use std::sync::atomic::{AtomicUsize, Ordering};

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
        Ok(snap)
    }

    /// Saves every stripe not saved yet, with `drivers` threads taking
    /// stripes from a shared counter. Each driver runs `start` once (the
    /// caller may lower its priority) and `before_each` before each stripe
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
                        drop(self.lock(index));
                    }
                });
            }
        });
        debug_assert_eq!(snap.remaining(), 0);
    }

    /// Called by [`Keyspace::lock`] while a snapshot runs: saves the stripe
    /// if this snapshot has not seen it yet.
    #[cold]
    pub(super) fn save_stripe(&self, index: usize, stripe: &mut Stripe) {
        // Saved already (every touch after the first): no shared lock.
        if !self.unsaved(stripe) {
            return;
        }
        let Some(snap) = self.snapshot.lock().clone() else {
            return;
        };
        if stripe.saved_epoch >= snap.epoch {
            return;
        }
        (snap.write)(index, stripe);
        stripe.saved_epoch = snap.epoch;
        if snap.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.snapshot_active.store(false, Ordering::Release);
            *self.snapshot.lock() = None;
        }
    }

    /// Locks a stripe for background upkeep (active expiry), or None while
    /// a running snapshot has yet to save it: upkeep waits for the driver
    /// instead of making its shard encode the stripe inline (an expiry
    /// cycle walking unsaved stripes stalled a shard's clients for its
    /// whole 25 ms budget).
    pub fn lock_if_saved(&self, index: usize) -> Option<parking_lot::MutexGuard<'_, Stripe>> {
        let guard = self.stripes[index].lock();
        let pending = self.snapshot_active.load(Ordering::Acquire) && self.unsaved(&guard);
        (!pending).then_some(guard)
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
    use crate::store::{stripe_of, Entry, Locked, Value};
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
                        let mut locked = Locked::some(&ks, &mut stripes);
                        incr(locked.stripe_for(a), a);
                        incr(locked.stripe_for(b), b);
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
                for (key, entry) in &stripe.dbs[0].map {
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
