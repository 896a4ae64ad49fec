//! The background free (lazyfree.c `freeObjAsync`, `emptyDbAsync`, bio.c's
//! lazy-free job): a value UNLINK removes whose free takes more than
//! [`LAZYFREE_THRESHOLD`] allocations, a dataset FLUSHALL/FLUSHDB ASYNC
//! empties, and a replica's replaced dataset are dropped on a thread of
//! their own, not on a command's shard or the replication link (a 1M-field
//! hash takes ~300 ms to free; a FLUSHALL holds every stripe). The
//! `lazyfree-lazy-*` directives send other deletions the same way
//! ([`Lazy`]).

use crate::store::Value;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// A kind of deletion a `lazyfree-lazy-*` directive makes lazy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lazy {
    /// `lazyfree-lazy-eviction`: keys evicted under maxmemory.
    Eviction = 1,
    /// `lazyfree-lazy-expire`: expired keys.
    Expire = 1 << 1,
    /// `lazyfree-lazy-server-del`: values a command deletes or replaces
    /// as a side effect (SET over a big hash, RENAME's destination).
    ServerDel = 1 << 2,
    /// `lazyfree-lazy-user-del`: DEL acts as UNLINK.
    UserDel = 1 << 3,
    /// `lazyfree-lazy-user-flush`: FLUSHALL / FLUSHDB without SYNC or
    /// ASYNC act as ASYNC.
    UserFlush = 1 << 4,
}

/// Below this many allocations a free is cheaper here than a hand-off
/// (lazyfree.c's constant).
pub const LAZYFREE_THRESHOLD: usize = 64;

#[derive(Default)]
struct Counts {
    pending: AtomicU64,
    freed: AtomicU64,
}

/// Something to drop, and how many objects it counts for.
struct Job {
    what: Box<dyn Send>,
    objects: u64,
}

/// The lazy-free thread (started at its first job) and its counters.
#[derive(Default)]
pub struct LazyFree {
    jobs: Mutex<Option<crossbeam_channel::Sender<Job>>>,
    counts: Arc<Counts>,
    /// The [`Lazy`] kinds configured lazy, as bits.
    modes: AtomicU8,
}

impl LazyFree {
    /// Makes the deletions in `lazy` lazy and the others not (from the
    /// config, at start and after CONFIG SET).
    pub fn set_modes(&self, lazy: &[Lazy]) {
        let bits = lazy.iter().fold(0, |bits, m| bits | *m as u8);
        self.modes.store(bits, Ordering::Relaxed);
    }

    /// Whether deletions of `kind` are configured lazy.
    pub fn is_lazy(&self, kind: Lazy) -> bool {
        self.modes.load(Ordering::Relaxed) & kind as u8 != 0
    }

    /// Frees a value removed by a deletion of `kind`: as [`LazyFree::free`]
    /// when that kind is lazy, else here.
    pub fn free_as(&self, kind: Lazy, value: Value) {
        if self.is_lazy(kind) {
            self.free(value);
        }
    }

    /// Frees `value`: here when that is cheap, else on the lazy-free
    /// thread.
    pub fn free(&self, value: Value) {
        if value.free_effort() > LAZYFREE_THRESHOLD {
            self.send(Box::new(value), 1);
        }
    }

    /// Frees `what` on the lazy-free thread, counted as `objects` in INFO
    /// (a flush's keys, as `emptyDbAsync` counts them; 0 for a replica's
    /// replaced dataset).
    pub fn send(&self, what: Box<dyn Send>, objects: u64) {
        self.counts.pending.fetch_add(objects, Ordering::Relaxed);
        let mut jobs = self.jobs.lock();
        let jobs = jobs.get_or_insert_with(|| self.start());
        if let Err(failed) = jobs.send(Job { what, objects }) {
            // The thread could not start: free it here after all.
            drop(failed.into_inner());
            self.counts.pending.fetch_sub(objects, Ordering::Relaxed);
            self.counts.freed.fetch_add(objects, Ordering::Relaxed);
        }
    }

    fn start(&self) -> crossbeam_channel::Sender<Job> {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let counts = Arc::clone(&self.counts);
        let started = std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || {
                // Not on the shard's CPU it was spawned from.
                crate::io::sys::unpin_current_thread();
                for Job { what, objects } in rx {
                    drop(what);
                    counts.pending.fetch_sub(objects, Ordering::Relaxed);
                    counts.freed.fetch_add(objects, Ordering::Relaxed);
                }
            });
        if let Err(e) = started {
            crate::warning!("Can't start the lazy-free thread ({e}): freeing inline");
        }
        tx
    }

    /// Values handed to the thread and not freed yet (INFO
    /// `lazyfree_pending_objects`).
    pub fn pending(&self) -> u64 {
        self.counts.pending.load(Ordering::Relaxed)
    }

    /// Values the thread freed since start (INFO `lazyfreed_objects`).
    pub fn freed(&self) -> u64 {
        self.counts.freed.load(Ordering::Relaxed)
    }
}
