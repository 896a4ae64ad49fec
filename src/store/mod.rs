//! The keyspace: every database's keys, split into [`STRIPES`] lock stripes.
//!
//! Owns: keys, values, expiry times and WATCH registrations. Must not do IO
//! or read the clock (callers pass `now_ms`).
//!
//! Key invariant: a key lives in exactly one stripe, `stripe_of(key)`, in
//! every database, so MOVE, COPY within a stripe and per-key ordering never
//! need a second lock; threads lock stripes only in ascending index order.
//!
//! ```text
//!   key --crc16 (hash tag aware)--> slot 0..16383 --(slot % STRIPES)--> stripe
//!   Stripe { dbs: [Db; databases], watchers }
//!   Db { map: key -> Entry { value, expire_ms, access } , expires }
//! ```

pub mod digest;
pub mod events;
pub mod hash;
pub mod lazyfree;
use lazyfree::Lazy;
pub mod list;
pub mod listpack;
pub mod set;
pub mod snapshot;
pub mod stream;
mod table;
mod value;
pub mod zset;

pub use table::KeyTable;
pub use value::{Entry, LfuParams, Value, LFU_INIT_VAL};

use crate::protocol::Argv;
use hashbrown::DefaultHashBuilder;
use parking_lot::{Mutex, MutexGuard};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Number of lock stripes. A power of two that divides Redis Cluster's 16384
/// slots, so a stripe is a fixed set of slots. Many small stripes keep the
/// time any one is held short: a snapshot driver encodes a whole stripe
/// under its lock, and a shard that wants it waits (1024 stripes: master
/// GET p99 1.4-4.8 ms during a 1M-key sync under writes; 8192: 0.15-0.5
/// ms in most runs). An empty stripe costs ~1 KiB.
pub const STRIPES: usize = 8192;
const _: () = assert!(STRIPES.is_power_of_two());
const _: () = assert!(16384 % STRIPES == 0);

/// Key bytes as stored: up to [`KEY_INLINE_MAX`] bytes live inside the hash
/// table slot itself, so the common short key costs no allocation and no
/// second cache miss on lookup (the compare reads the slot it just probed).
#[derive(Clone)]
pub struct Key(KeyRepr);

/// Longest key stored inline; keeps `Key` at 24 bytes.
pub const KEY_INLINE_MAX: usize = 22;

#[derive(Clone)]
enum KeyRepr {
    Inline {
        len: u8,
        bytes: [u8; KEY_INLINE_MAX],
    },
    Heap(Box<[u8]>),
}

const _: () = assert!(std::mem::size_of::<Key>() == 24);

impl From<&[u8]> for Key {
    fn from(bytes: &[u8]) -> Key {
        if bytes.len() <= KEY_INLINE_MAX {
            let mut inline = [0u8; KEY_INLINE_MAX];
            inline[..bytes.len()].copy_from_slice(bytes);
            Key(KeyRepr::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            })
        } else {
            Key(KeyRepr::Heap(bytes.into()))
        }
    }
}

impl std::ops::Deref for Key {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            KeyRepr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            KeyRepr::Heap(b) => b,
        }
    }
}

impl std::borrow::Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl std::hash::Hash for Key {
    // Must hash exactly as `[u8]` does, for lookups by `&[u8]` (Borrow).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        **self == **other
    }
}

impl Eq for Key {}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

/// Redis Cluster's key slot: CRC16 (XMODEM) of the key, or of the first
/// non-empty `{...}` hash tag, mod 16384 (cluster.c `keyHashSlot`).
pub fn key_slot(key: &[u8]) -> usize {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    usize::from(crc16(hashed)) & 16383
}

/// The stripe that holds `key` in every database.
pub fn stripe_of(key: &[u8]) -> usize {
    key_slot(key) % STRIPES
}

/// CRC16-CCITT (XMODEM) slicing tables, built at compile time:
/// `CRC16_TABLES[k][v]` is the CRC of byte `v` followed by `k` zero bytes,
/// so eight bytes fold in with eight independent lookups. Byte-at-a-time
/// (one dependent lookup per byte) was 60% of inserting a loaded key.
const CRC16_TABLES: [[u16; 256]; 8] = {
    let mut tables = [[0u16; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut v = 0;
        while v < 256 {
            let prev = tables[k - 1][v];
            tables[k][v] = (prev << 8) ^ tables[0][(prev >> 8) as usize];
            v += 1;
        }
        k += 1;
    }
    tables
};

fn crc16(data: &[u8]) -> u16 {
    let t = &CRC16_TABLES;
    let mut crc = 0u16;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let [hi, lo] = crc.to_be_bytes();
        crc = t[7][usize::from(c[0] ^ hi)]
            ^ t[6][usize::from(c[1] ^ lo)]
            ^ t[5][usize::from(c[2])]
            ^ t[4][usize::from(c[3])]
            ^ t[3][usize::from(c[4])]
            ^ t[2][usize::from(c[5])]
            ^ t[1][usize::from(c[6])]
            ^ t[0][usize::from(c[7])];
    }
    chunks.remainder().iter().fold(crc, |crc, &b| {
        (crc << 8) ^ t[0][usize::from((crc >> 8) as u8 ^ b)]
    })
}

/// The hash of key or member bytes for every hash table in the store; one
/// hasher, seeded randomly once per process.
pub fn hash_of(bytes: &[u8]) -> u64 {
    static HASHER: OnceLock<DefaultHashBuilder> = OnceLock::new();
    HASHER
        .get_or_init(DefaultHashBuilder::default)
        .hash_one(bytes)
}

/// Replaces `buf[range]` with `bytes` by one move of the tail (`Vec::splice`
/// copies through an iterator byte by byte; this is on the LPUSH path).
pub(crate) fn replace_range(buf: &mut Vec<u8>, range: std::ops::Range<usize>, bytes: &[u8]) {
    let (start, end, old_len) = (range.start, range.end, buf.len());
    assert!(
        start <= end && end <= old_len,
        "replace_range out of bounds"
    );
    if bytes.len() > end - start {
        let grow = bytes.len() - (end - start);
        buf.resize(old_len + grow, 0);
        buf.copy_within(end..old_len, end + grow);
    } else {
        let shrink = (end - start) - bytes.len();
        buf.copy_within(end..old_len, end - shrink);
        buf.truncate(old_len - shrink);
    }
    buf[start..start + bytes.len()].copy_from_slice(bytes);
}

/// Edits an exactly sized buffer as a `Vec`, then makes it exact again
/// (a realloc only when its length changed), as Redis reallocs a listpack
/// on every change.
pub(crate) fn edit_exact<R>(buf: &mut Box<[u8]>, edit: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut vec = std::mem::take(buf).into_vec();
    let result = edit(&mut vec);
    *buf = vec.into_boxed_slice();
    result
}

/// How many keys have an expiry in all the databases of the process, so
/// active expiry can skip its walk when none has: an idle server without
/// TTLs spent 2.2% of a core locking empty stripes (217 ms of
/// `expire_cycle_cpu_milliseconds` per 10 s). Kept in per-thread slots
/// (only their sum means anything) so shards setting TTLs do not share
/// a cache line; a [`Db`] gives its count back when dropped, wherever
/// it was moved to (a flush, a replica's swapped dataset).
pub mod ttl_keys {
    use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

    const SLOTS: usize = 64;

    #[repr(align(64))]
    struct Slot(AtomicIsize);

    static COUNTS: [Slot; SLOTS] = [const { Slot(AtomicIsize::new(0)) }; SLOTS];
    static NEXT: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS;
    }

    pub(super) fn add(delta: isize) {
        if delta != 0 {
            MINE.with(|&i| COUNTS[i].0.fetch_add(delta, Ordering::Relaxed));
        }
    }

    /// The sum (read without ordering: a key given a TTL just now may be
    /// seen by the next cycle only).
    pub fn total() -> isize {
        COUNTS.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

/// One database's share of a stripe.
#[derive(Default)]
pub struct Db {
    pub map: KeyTable,
    /// How many entries in `map` have an expiry (`db0:expires=` in INFO).
    expires: usize,
    /// While few of `map`'s keys have an expiry, those keys (as Redis's
    /// `expires` dict, without the time, which stays in the entry), so
    /// that active expiry walks them and not the whole map: 5.8M keys of
    /// which 5,000 had a TTL cost an idle server 2% of a core in walks of
    /// every record, a cost that grew with the keys without a TTL. Where
    /// most keys have one (a cache, telemetry with retention) walking the
    /// map costs the same as walking an index, and keeping the index cost
    /// 13% of `SET key v EX` throughput, so there is none: [`Db::expire_due`]
    /// builds it when under 1/[`SPARSE`] of the keys have a TTL and drops
    /// it above twice that. Boxed so that db 0's header still shares its
    /// stripe's lock line.
    ttls: Option<Box<hashbrown::HashSet<Key>>>,
}

/// See [`Db::ttls`].
const SPARSE: usize = 8;

impl Drop for Db {
    fn drop(&mut self) {
        ttl_keys::add(-(self.expires as isize));
    }
}

impl Db {
    /// How many entries in `map` have an expiry (`db0:expires=` in INFO).
    pub fn expires(&self) -> usize {
        self.expires
    }

    /// A key with an expiry, about `skip` entries into the table or the
    /// index (eviction's volatile sample): from the index while TTLs are
    /// sparse, else by walking the map (mostly TTL keys then).
    pub fn with_ttl(&self, skip: usize) -> Option<(&[u8], &Entry)> {
        if let Some(t) = self.ttls.as_ref().filter(|t| !t.is_empty()) {
            let key = t.iter().nth(skip % t.len())?;
            return self.map.get(key).map(|e| (&**key, e));
        }
        let with_ttl = || self.map.iter().filter(|(_, e)| e.expire_ms != 0);
        with_ttl().nth(skip).or_else(|| with_ttl().next())
    }

    /// Keeps the count and the index exact when `key` goes from having an
    /// expiry (`had`) to having one (`has`) or not.
    fn index_ttl(&mut self, key: &[u8], had: bool, has: bool) {
        match (had, has) {
            (false, true) => {
                self.expires += 1;
                ttl_keys::add(1);
                if let Some(t) = &mut self.ttls {
                    t.insert(Key::from(key));
                }
            }
            (true, false) => {
                self.expires -= 1;
                ttl_keys::add(-1);
                unindex_ttl(&mut self.ttls, key);
            }
            _ => {}
        }
    }

    /// Inserts or replaces `key`, keeping the expiry count exact. Returns
    /// the old entry. An entry taken from elsewhere loses its snapshot mark
    /// (`Entry::changed`): only the store's write paths set it.
    pub fn insert(&mut self, key: &[u8], mut entry: Entry) -> Option<Entry> {
        entry.changed = false;
        self.insert_as_is(key, entry)
    }

    /// [`Db::insert`] keeping the entry's snapshot mark.
    fn insert_as_is(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        let has = entry.expire_ms != 0;
        let old = self.map.insert(key, entry);
        let had = old.as_ref().is_some_and(|e| e.expire_ms != 0);
        self.index_ttl(key, had, has);
        old
    }

    /// Removes `key`, keeping the expiry count exact.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let old = self.map.remove(key)?;
        self.index_ttl(key, old.expire_ms != 0, false);
        Some(old)
    }

    /// Sets or clears (`0`) the expiry of an existing key.
    pub fn set_expire(&mut self, key: &[u8], expire_ms: u64) {
        if let Some(entry) = self.map.get_mut(key) {
            let had = entry.expire_ms != 0;
            entry.expire_ms = expire_ms;
            self.index_ttl(key, had, expire_ms != 0);
        }
    }

    /// Finds `key`, removing it first if it has expired (one hash probe);
    /// with `Expiry::Hide` an expired key is reported but kept, with
    /// `Expiry::Ignore` it is live.
    pub fn lookup(&mut self, key: &[u8], now_ms: u64, expiry: Expiry) -> Lookup<'_> {
        match expiry {
            Expiry::Delete => {}
            Expiry::Ignore => {
                return self.map.get_mut(key).map_or(Lookup::Missing, Lookup::Live);
            }
            Expiry::Hide => {
                return match self.map.get_mut(key) {
                    Some(e) if e.is_expired(now_ms) => Lookup::Hidden,
                    Some(e) => Lookup::Live(e),
                    None => Lookup::Missing,
                };
            }
        }
        let Db { map, expires, ttls } = self;
        match map.find_live(key, |e| e.is_expired(now_ms)) {
            table::Found::Removed(old) => {
                *expires -= 1;
                ttl_keys::add(-1);
                unindex_ttl(ttls, key);
                Lookup::Expired(old)
            }
            table::Found::Live(entry) => Lookup::Live(entry),
            table::Found::Missing => Lookup::Missing,
        }
    }

    /// Removes every key whose expiry is before `now_ms`, handing each to
    /// `expired` with its entry (for a snapshot's preimage, stats, WATCH
    /// and DEL propagation); returns the keys with a TTL it looked at and
    /// the TTLs left on those it kept. Walks the index while TTLs are
    /// sparse, else the map (see [`Db::ttls`]).
    pub fn expire_due(&mut self, now_ms: u64, mut expired: impl FnMut(&[u8], Entry)) -> ExpireScan {
        let mut scan = ExpireScan {
            checked: self.expires,
            ..ExpireScan::default()
        };
        if self.expires == 0 {
            self.ttls = None;
            return scan;
        }
        let map = &mut self.map;
        if let Some(ttls) = &mut self.ttls {
            ttls.retain(|key| {
                // One probe: the key is removed if it expired.
                let at = match map.find_live(key, |e| e.is_expired(now_ms)) {
                    table::Found::Removed(old) => {
                        expired(key, old);
                        scan.expired += 1;
                        return false;
                    }
                    table::Found::Live(e) => e.expire_ms,
                    table::Found::Missing => 0,
                };
                // A key the index names without an expiry (a bug) leaves
                // the index, not the map.
                debug_assert!(at != 0, "expiry index names a key without expiry");
                if at != 0 {
                    scan.ttl_ms_sum += at - now_ms;
                }
                at != 0
            });
        } else {
            // TTLs sparse: the keys kept make the index.
            let mut kept = (self.expires * SPARSE < map.len()).then(hashbrown::HashSet::new);
            map.retain(|key, entry| {
                if entry.expire_ms == 0 {
                    return true;
                }
                if !entry.is_expired(now_ms) {
                    scan.ttl_ms_sum += entry.expire_ms - now_ms;
                    if let Some(kept) = &mut kept {
                        kept.insert(Key::from(key));
                    }
                    return true;
                }
                let old = std::mem::replace(entry, Entry::new(Value::Int(0), 0));
                expired(key, old);
                scan.expired += 1;
                false
            });
            if let Some(kept) = kept {
                self.ttls = Some(Box::new(kept));
            }
        }
        self.expires -= scan.expired;
        ttl_keys::add(-(scan.expired as isize));
        if self.expires * SPARSE / 2 >= self.map.len() {
            self.ttls = None;
        }
        scan
    }
}

/// Drops `key` from a [`Db`]'s expiry index, if it keeps one.
fn unindex_ttl(ttls: &mut Option<Box<hashbrown::HashSet<Key>>>, key: &[u8]) {
    if let Some(t) = ttls {
        t.remove(key);
    }
}

/// What one [`Db::expire_due`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireScan {
    /// Keys with a TTL looked at.
    pub checked: usize,
    /// How many of them had expired (and were removed).
    pub expired: usize,
    /// The TTLs left on those kept (`checked` minus the expired ones).
    pub ttl_ms_sum: u64,
}

/// What [`Db::lookup`] found.
pub enum Lookup<'a> {
    Live(&'a mut Entry),
    /// The key had expired and was just removed (here is its entry).
    Expired(Entry),
    /// The key has expired but stays (a replica waits for its master's DEL).
    Hidden,
    Missing,
}

/// What a lookup does with a key past its expiry (db.c `expireIfNeeded`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expiry {
    /// A master: delete it (and propagate the DEL).
    #[default]
    Delete,
    /// A replica's clients: treat it as missing, keep it.
    Hide,
    /// A replica's master link: the key exists until the master deletes it.
    Ignore,
}

/// A WATCH registration: the client's flag is raised when the key changes.
pub struct Watch {
    pub db: usize,
    pub key: Key,
    pub dirty: Arc<AtomicBool>,
}

/// Raises the flags of `watches` on `key` in `db`.
fn touch_watches(watches: &[Watch], db: usize, key: &[u8]) {
    for watch in watches {
        if watch.db == db && *watch.key == *key {
            watch.dirty.store(true, Ordering::Release);
        }
    }
}

/// A stripe's slice of every database. Db 0's table header is inline, so
/// it shares a cache line with the stripe's lock (see [`StripeCell`]): a
/// command on db 0 no longer misses on a separate allocation before it
/// reaches the table (15% of a random-key lookup's stalls).
#[repr(C)]
pub struct Dbs {
    first: Db,
    rest: Vec<Db>,
}

impl Dbs {
    /// `count` (at least one) empty databases.
    fn new(count: usize) -> Dbs {
        Dbs {
            first: Db::default(),
            rest: (1..count).map(|_| Db::default()).collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        1 + self.rest.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Db> {
        std::iter::once(&self.first).chain(&self.rest)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Db> {
        std::iter::once(&mut self.first).chain(&mut self.rest)
    }

    /// Exchanges databases `a` and `b` (SWAPDB).
    pub fn swap(&mut self, a: usize, b: usize) {
        match (a.min(b), a.max(b)) {
            (low, high) if low == high => {}
            (0, high) => std::mem::swap(&mut self.first, &mut self.rest[high - 1]),
            (low, high) => self.rest.swap(low - 1, high - 1),
        }
    }
}

impl std::ops::Index<usize> for Dbs {
    type Output = Db;
    fn index(&self, db: usize) -> &Db {
        match db {
            0 => &self.first,
            _ => &self.rest[db - 1],
        }
    }
}

impl std::ops::IndexMut<usize> for Dbs {
    fn index_mut(&mut self, db: usize) -> &mut Db {
        match db {
            0 => &mut self.first,
            _ => &mut self.rest[db - 1],
        }
    }
}

/// One stripe's lock and data, starting a cache line: the lock byte comes
/// first and [`Dbs`] (db 0's header) right after it (`Stripe` is
/// `repr(C)` with `dbs` first, and a `Mutex` keeps its data last).
#[repr(align(64))]
struct StripeCell(Mutex<Stripe>);

impl std::ops::Deref for StripeCell {
    type Target = Mutex<Stripe>;
    fn deref(&self) -> &Mutex<Stripe> {
        &self.0
    }
}

/// One lock stripe: a slice of every database, plus the watches on its keys.
#[repr(C)]
pub struct Stripe {
    pub dbs: Dbs,
    pub watchers: Vec<Watch>,
    /// Clients blocked on keys of this stripe, oldest first (blocked.c
    /// keeps the same FIFO per key).
    pub blocked: Vec<BlockedOn>,
    /// The last snapshot epoch that saved this stripe (see `snapshot`).
    pub saved_epoch: u64,
    /// Cut values of keys changed before the running snapshot saved this
    /// stripe (see `snapshot`).
    kept: snapshot::Kept,
}

/// A client blocked by a command (BLPOP ...), shared by every key it waits
/// on. Whoever flips `claimed` first (a pusher serving it, its shard timing
/// it out, or its connection closing) owns the outcome; the other entries
/// are then dead and purged when next seen.
pub struct Waiter {
    pub client_id: u64,
    pub shard: usize,
    pub db: usize,
    pub resp3: bool,
    /// The blocking command as the client sent it.
    pub argv: Argv,
    pub claimed: AtomicBool,
}

impl Waiter {
    /// True for the one caller that gets to serve or drop this waiter.
    pub fn claim(&self) -> bool {
        self.claimed
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// One key a waiter waits on.
pub struct BlockedOn {
    pub db: usize,
    pub key: Key,
    pub waiter: Arc<Waiter>,
}

impl Stripe {
    /// Raises the flag of every client watching `key` in `db`
    /// (multi.c `touchWatchedKey`).
    pub fn touch_watched(&self, db: usize, key: &[u8]) {
        touch_watches(&self.watchers, db, key);
    }

    /// Raises the flags of watches on keys that exist in `db` (multi.c
    /// `touchAllWatchedKeysInDb`, for FLUSHDB/FLUSHALL/SWAPDB); `other` is the
    /// database swapped in, if any.
    pub fn touch_watched_db(&self, db: usize, other: Option<usize>) {
        for watch in &self.watchers {
            if watch.db != db {
                continue;
            }
            let exists = |d: usize| self.dbs[d].map.contains_key(&watch.key);
            if exists(db) || other.is_some_and(exists) {
                watch.dirty.store(true, Ordering::Release);
            }
        }
    }
}

/// All databases, striped.
pub struct Keyspace {
    stripes: Box<[StripeCell]>,
    databases: usize,
    /// The running snapshot, if any (`snapshot.rs`); `snapshot_active` is
    /// its lock-free flag for [`Keyspace::lock`].
    snapshot: Mutex<Option<Arc<snapshot::Snapshot>>>,
    snapshot_active: AtomicBool,
    snapshot_epoch: AtomicU64,
    /// See [`Keyspace::set_preimage_encoder`].
    preimage_encoder: Option<snapshot::PreimageEncoder>,
    pub snapshot_stats: snapshot::SnapshotStats,
    /// Taken before any stripe by whoever needs the whole keyspace at one
    /// point of the replication stream (a snapshot's cut, [`Locked::all`]),
    /// and by a replica applying a batch of the master's stream in
    /// parallel (`repl::apply`) for the whole batch: a cut then sees a
    /// batch entirely or not at all, never a half-applied one whose writes
    /// are not a prefix of the stream. Lock order: this, then stripes.
    cut_gate: Mutex<()>,
    /// Where big values go to be freed off the command's thread.
    pub lazyfree: lazyfree::LazyFree,
}

impl Keyspace {
    pub fn new(databases: usize) -> Self {
        assert!(databases > 0);
        let stripes = (0..STRIPES)
            .map(|_| {
                StripeCell(Mutex::new(Stripe {
                    dbs: Dbs::new(databases),
                    watchers: Vec::new(),
                    blocked: Vec::new(),
                    saved_epoch: 0,
                    kept: Default::default(),
                }))
            })
            .collect();
        Keyspace {
            stripes,
            databases,
            snapshot: Mutex::new(None),
            snapshot_active: AtomicBool::new(false),
            snapshot_epoch: AtomicU64::new(0),
            preimage_encoder: None,
            snapshot_stats: Default::default(),
            cut_gate: Mutex::new(()),
            lazyfree: Default::default(),
        }
    }

    /// Starts bringing stripe `index`'s lock line (with db 0's table
    /// header, see [`StripeCell`]) into the cache, for a caller about to
    /// lock it.
    pub fn prefetch_stripe(&self, index: usize) {
        if let Some(cell) = self.stripes.get(index) {
            crate::io::sys::prefetch(cell);
        }
    }

    /// Holds off cuts (see `cut_gate`); take it before any stripe.
    pub fn hold_cuts(&self) -> MutexGuard<'_, ()> {
        self.cut_gate.lock()
    }

    /// Drops every key of every database, stripe by stripe, raising the
    /// WATCH flags of watched keys that existed (Redis `emptyData`).
    pub fn empty(&self) {
        for index in 0..STRIPES {
            let mut stripe = self.lock(index);
            for db in 0..stripe.dbs.len() {
                stripe.touch_watched_db(db, None);
                stripe.dbs[db] = Db::default();
            }
        }
    }

    /// [`Keyspace::empty`] with every stripe held at once, the data
    /// returned instead of freed (the caller frees it elsewhere).
    pub fn take_data(&self) -> Keyspace {
        let old = Keyspace::new(self.databases);
        self.swap_data(&old);
        old
    }

    pub fn databases(&self) -> usize {
        self.databases
    }

    /// Takes `other`'s data in place of this keyspace's, every stripe held
    /// at once (`other` gets the old data); the WATCH flags of every watched key
    /// are raised, as a replica's swapdb load does (each stripe's clients,
    /// watches and blocked waiters stay). `other` must be private to the
    /// caller.
    pub fn swap_data(&self, other: &Keyspace) {
        assert_eq!(
            self.databases, other.databases,
            "swapping keyspaces of different shapes"
        );
        // Every stripe held: no command sees half of each.
        let mut all = Locked::all(self);
        for index in 0..STRIPES {
            let mine = all.stripe(index);
            let mut theirs = other.lock(index);
            std::mem::swap(&mut mine.dbs, &mut theirs.dbs);
            for db in 0..mine.dbs.len() {
                mine.touch_watched_db(db, None);
            }
        }
    }

    /// No key in any database.
    pub fn is_empty(&self) -> bool {
        (0..STRIPES).all(|i| self.lock_read(i).dbs.iter().all(|db| db.map.is_empty()))
    }

    /// Locks a stripe. While a snapshot runs, the first lock of each stripe
    /// saves it into the snapshot before the caller can change it.
    pub fn lock(&self, stripe: usize) -> MutexGuard<'_, Stripe> {
        let mut guard = self.stripes[stripe].lock();
        self.save_if_running(stripe, &mut guard);
        guard
    }

    /// Locks a stripe for reading only: no save into a running snapshot
    /// (eviction's sampling).
    pub fn lock_read(&self, stripe: usize) -> StripeRead<'_> {
        StripeRead(self.stripes[stripe].lock())
    }

    /// Removes `key` from `db` (eviction), keeping its value for a running
    /// snapshot that has yet to save its stripe instead of saving the whole
    /// stripe. Returns the stripe, still locked, if the key was there.
    pub fn remove_key(&self, db: usize, key: &[u8]) -> Option<StripeRead<'_>> {
        let mut stripe = self.stripes[stripe_of(key)].lock();
        let dispose = |e: Entry| self.lazyfree.free_as(Lazy::Eviction, e.value);
        self.remove_dropped(&mut stripe, db, key, dispose)
            .then_some(StripeRead(stripe))
    }

    /// Removes `key` from `db` of `stripe` (held) for a caller that drops
    /// it (`dispose`); a running snapshot that has yet to save the stripe
    /// takes it instead, as the key's cut value (moved: DEL of a big
    /// collection costs nothing more during a snapshot). True if the key
    /// was there.
    fn remove_dropped(
        &self,
        stripe: &mut Stripe,
        db: usize,
        key: &[u8],
        dispose: impl FnOnce(Entry),
    ) -> bool {
        let saving = self.saving(stripe);
        let Some(old) = stripe.dbs[db].remove(key) else {
            return false;
        };
        hand_off(saving, &mut stripe.kept, db, key, old, dispose);
        true
    }

    /// Removes `key` from `db` of `stripe` (held), keeping a copy of its
    /// value for a running snapshot that has yet to save the stripe.
    fn remove_kept(&self, stripe: &mut Stripe, db: usize, key: &[u8]) -> Option<Entry> {
        let saving = self.saving(stripe);
        let mut old = stripe.dbs[db].remove(key)?;
        if let Some(keeper) = saving {
            keeper.copy(&mut stripe.kept, db, key, &old);
        }
        old.changed = false;
        Some(old)
    }

    /// Saves `stripe` (held) into the running snapshot if it has yet to be.
    fn save_if_running(&self, index: usize, stripe: &mut Stripe) {
        if self.snapshot_active.load(Ordering::Acquire) {
            self.save_stripe(index, stripe, true);
        }
    }
}

/// A stripe locked for reading only (see [`Keyspace::lock_read`]).
pub struct StripeRead<'a>(MutexGuard<'a, Stripe>);

impl std::ops::Deref for StripeRead<'_> {
    type Target = Stripe;
    fn deref(&self) -> &Stripe {
        &self.0
    }
}

/// The stripes a command holds while it runs.
///
/// Stripes are locked without saving; [`Locked::stripe`] saves one into a
/// running snapshot before handing it out, while [`Keys`]'s own write paths
/// keep per-key preimages instead (see `snapshot`).
///
/// States: `Some` holds the (sorted, distinct) stripes of the command's keys;
/// `All` holds every stripe (FLUSHALL, SWAPDB, EXEC of such commands);
/// a `Some` with no stripes may *walk*: [`Locked::with_stripe`] then locks one
/// stripe at a time (KEYS, SCAN, DBSIZE outside a transaction).
pub struct Locked<'a> {
    keyspace: &'a Keyspace,
    /// The single stripe of a one-key command: no allocation on the hot path.
    one: Option<(usize, MutexGuard<'a, Stripe>)>,
    /// Several stripes, sorted by index; with `all`, every stripe in order.
    held: Vec<(usize, MutexGuard<'a, Stripe>)>,
    all: bool,
    /// With `all`: the cut gate, taken first and (declared last) released
    /// after the stripes.
    _gate: Option<MutexGuard<'a, ()>>,
}

impl<'a> Locked<'a> {
    /// Locks one stripe.
    pub fn one(keyspace: &'a Keyspace, stripe: usize) -> Self {
        Locked {
            keyspace,
            one: Some((stripe, keyspace.stripes[stripe].lock())),
            held: Vec::new(),
            all: false,
            _gate: None,
        }
    }

    /// Locks `stripes` (any order, duplicates allowed) in ascending order.
    pub fn some(keyspace: &'a Keyspace, stripes: &mut Vec<usize>) -> Self {
        stripes.sort_unstable();
        stripes.dedup();
        if let [only] = stripes[..] {
            return Locked::one(keyspace, only);
        }
        let held = stripes
            .iter()
            .map(|&s| (s, keyspace.stripes[s].lock()))
            .collect();
        Locked {
            keyspace,
            one: None,
            held,
            all: false,
            _gate: None,
        }
    }

    /// Locks every stripe, in ascending order.
    pub fn all(keyspace: &'a Keyspace) -> Self {
        let gate = keyspace.hold_cuts();
        let held = (0..STRIPES)
            .map(|s| (s, keyspace.stripes[s].lock()))
            .collect();
        Locked {
            keyspace,
            one: None,
            held,
            all: true,
            _gate: Some(gate),
        }
    }

    /// Holds nothing; [`Locked::with_stripe`] walks.
    pub fn none(keyspace: &'a Keyspace) -> Self {
        Locked {
            keyspace,
            one: None,
            held: Vec::new(),
            all: false,
            _gate: None,
        }
    }

    /// The held stripe `index`, saved into a running snapshot first (the
    /// caller may change anything in it). Panics when it is not held: the
    /// command table's key positions are wrong, a programmer error.
    pub fn stripe(&mut self, index: usize) -> &mut Stripe {
        let keyspace = self.keyspace;
        let stripe = self.unsaved_stripe(index);
        keyspace.save_if_running(index, stripe);
        stripe
    }

    /// The held stripe `index` as it is: a caller that changes it keeps
    /// preimages itself (`snapshot::Keeper`).
    fn unsaved_stripe(&mut self, index: usize) -> &mut Stripe {
        if let Some((held, guard)) = self.one.as_mut() {
            assert_eq!(*held, index, "stripe {index} used but not locked");
            return guard;
        }
        let pos = if self.all {
            index
        } else {
            match self.held.binary_search_by_key(&index, |(s, _)| *s) {
                Ok(pos) => pos,
                Err(_) => panic!("stripe {index} used but not locked"),
            }
        };
        &mut self.held[pos].1
    }

    /// The stripe holding `key`. A one-key command holds just that stripe:
    /// no second hash of the key (checked in debug builds, which the tests
    /// run; the hash was 5% of a replica applying SETs).
    pub fn stripe_for(&mut self, key: &[u8]) -> &mut Stripe {
        let index = self.index_for(key);
        self.stripe(index)
    }

    /// The stripe holding `key`, to read (no save into a running snapshot).
    pub fn read_for(&mut self, key: &[u8]) -> &Stripe {
        self.unsaved_stripe_for(key)
    }

    /// The WATCH registrations on `key`'s stripe: not data, so changing
    /// them needs no save into a running snapshot.
    pub fn watchers_for(&mut self, key: &[u8]) -> &mut Vec<Watch> {
        &mut self.unsaved_stripe_for(key).watchers
    }

    /// The clients blocked on keys of `key`'s stripe (not data either).
    pub fn blocked_for(&mut self, key: &[u8]) -> &mut Vec<BlockedOn> {
        &mut self.unsaved_stripe_for(key).blocked
    }

    /// The stripe holding `key` for a change that keeps its own preimages
    /// (`snapshot::Keeper`), and how if it must ([`Keyspace::saving`]).
    fn changing_for(&mut self, key: &[u8]) -> (&mut Stripe, Option<snapshot::Keeper>) {
        let keyspace = self.keyspace;
        let stripe = self.unsaved_stripe_for(key);
        let saving = keyspace.saving(stripe);
        (stripe, saving)
    }

    /// [`Locked::stripe_for`] without the save ([`Locked::unsaved_stripe`]).
    fn unsaved_stripe_for(&mut self, key: &[u8]) -> &mut Stripe {
        let index = self.index_for(key);
        self.unsaved_stripe(index)
    }

    fn index_for(&self, key: &[u8]) -> usize {
        match &self.one {
            Some((held, _)) => {
                debug_assert_eq!(
                    *held,
                    stripe_of(key),
                    "stripe of {key:?} used but not locked"
                );
                *held
            }
            None => stripe_of(key),
        }
    }

    /// Reads stripe `index` with `f`: the held guard when holding all
    /// stripes, else a lock taken just for `f` (walking). Walking while
    /// holding a subset would break lock order, so it asserts against it.
    /// Reading needs no save into a running snapshot (KEYS, DBSIZE and
    /// INFO's keyspace section used to make their shard encode every
    /// stripe a sync had yet to reach).
    pub fn with_stripe<R>(&mut self, index: usize, f: impl FnOnce(&Stripe) -> R) -> R {
        if self.all {
            return f(self.unsaved_stripe(index));
        }
        assert!(
            self.held.is_empty() && self.one.is_none(),
            "walking stripes while holding some"
        );
        f(&self.keyspace.lock_read(index))
    }

    /// Keys, and keys with an expiry, per database: one pass over the
    /// stripes ([`Locked::with_stripe`]: the held ones, or each locked in
    /// turn).
    pub fn db_sizes(&mut self) -> Vec<(u64, u64)> {
        let mut sizes = vec![(0u64, 0u64); self.keyspace.databases];
        for index in 0..STRIPES {
            self.with_stripe(index, |stripe| {
                for (d, (keys, expires)) in stripe.dbs.iter().zip(&mut sizes) {
                    *keys += d.map.len() as u64;
                    *expires += d.expires() as u64;
                }
            });
        }
        sizes
    }

    /// True when stripe `index` is held (a served BLMOVE may only touch a
    /// destination whose stripe the serving command already holds).
    pub fn holds(&self, index: usize) -> bool {
        self.all
            || self.one.as_ref().is_some_and(|(s, _)| *s == index)
            || self.held.binary_search_by_key(&index, |(s, _)| *s).is_ok()
    }
}

/// What a command sees of the keyspace: the locked stripes, its client's
/// database and the time, with Redis's lookup rules (db.c `lookupKey*`,
/// `expireIfNeeded`) and bookkeeping (dirty counter, expired count, WATCH).
pub struct Keys<'a> {
    pub locked: Locked<'a>,
    /// The client's selected database.
    pub db: usize,
    /// Command time in unix ms (one value per command, as Redis's
    /// `commandTimeSnapshot`).
    pub now_ms: u64,
    /// LRU clock for access times.
    pub lru_clock: u32,
    /// Changes made (`server.dirty`).
    pub dirty: u64,
    /// Keys removed because they had expired (`expired_keys`).
    pub expired: u64,
    /// Lookups that found / missed a key (`keyspace_hits` / `keyspace_misses`).
    pub hits: u64,
    pub misses: u64,
    /// How this command's effects replicate (Redis's `also_propagate` and
    /// argv rewriting); see [`Propagation`].
    pub prop: Propagation,
    /// Set under an LFU maxmemory policy: accesses update the counters.
    pub lfu: Option<LfuParams>,
    /// Keys written while clients were blocked on them (blocked.c
    /// `signalKeyAsReady`): served after the command, under its locks.
    pub ready: Vec<(usize, Key)>,
    /// Expired keys: deleted (a master) or not (a replica).
    pub expiry: Expiry,
    /// Keyspace notifications of this command, published after it.
    pub events: events::Events,
}

/// An entry just taken out of a stripe (held) whose kept cut values are
/// `kept`: the running snapshot keeps it as the key's cut value when it
/// has yet to save the stripe (`saving`), else `dispose` gets it.
fn hand_off(
    saving: Option<snapshot::Keeper>,
    kept: &mut snapshot::Kept,
    db: usize,
    key: &[u8],
    old: Entry,
    dispose: impl FnOnce(Entry),
) {
    match saving {
        Some(keeper) => keeper.removed(kept, db, key, old),
        None => dispose(old),
    }
}

/// A key a lookup found expired and took out of its stripe (db.c
/// `deleteExpiredKeyAndPropagate`), given the stripe's kept cut values,
/// its watches and the snapshot's interest: the value handed off (freed
/// as `lazyfree-lazy-expire` says), watchers touched, counted, and a DEL
/// queued for the replicas. (The stripe's fields, not the stripe: the
/// caller's lookup still borrows its databases.)
fn expired_on_lookup(
    keyspace: &Keyspace,
    (kept, watches, saving): (&mut snapshot::Kept, &[Watch], Option<snapshot::Keeper>),
    db: usize,
    key: &[u8],
    old: Entry,
    (expired, prop, events): (&mut u64, &mut Propagation, &mut events::Events),
) {
    let free = |e: Entry| keyspace.lazyfree.free_as(Lazy::Expire, e.value);
    hand_off(saving, kept, db, key, old, free);
    touch_watches(watches, db, key);
    *expired += 1;
    if prop.enabled {
        prop.ops.push((db, Argv::from_slices(&[b"DEL", key])));
    }
    events.add(events::EXPIRED, "expired", db, key);
}

/// Notes `key` as ready when a live waiter is blocked on it.
fn note_ready(stripe: &Stripe, ready: &mut Vec<(usize, Key)>, db: usize, key: &[u8]) {
    if stripe
        .blocked
        .iter()
        .any(|b| b.db == db && *b.key == *key && !b.waiter.claimed.load(Ordering::Acquire))
        && !ready.iter().any(|(d, k)| *d == db && **k == *key)
    {
        ready.push((db, key.into()));
    }
}

/// Minutes clock for LFU decay (evict.c `LFUGetTimeInMinutes`).
pub fn lfu_minutes(now_ms: u64) -> u16 {
    (now_ms / 60_000) as u16
}

/// The replication form of what a command did, built while it runs.
///
/// Redis 7.0 propagates a write as its argv unless the command rewrites it
/// (`rewriteClientCommandVector`: EXPIRE becomes PEXPIREAT, INCRBYFLOAT a
/// SET KEEPTTL), replaces it by other commands (`alsoPropagate` +
/// `preventCommandPropagation`: SPOP count as SREMs), or forces it through
/// with no change (FLUSHALL, PUBLISH). Keys found expired on the way are
/// propagated as `DEL` before the command's own effect.
#[derive(Default)]
pub struct Propagation {
    /// Effects queued while running, in order: `(db, argv)`.
    pub ops: Vec<(usize, Argv)>,
    /// The command's argv as it should replicate, when rewritten.
    pub rewrite: Option<Argv>,
    /// The command itself is not propagated (its `ops` say what it did).
    pub prevent: bool,
    /// Propagate the command even though it changed nothing.
    pub force: bool,
    /// Someone consumes the stream (a backlog, a test). When not, nothing
    /// is built: no argv copy on the write path.
    pub enabled: bool,
}

impl Propagation {
    /// Closes the command as [`Propagation::finish`] would, when it
    /// propagates as it came and alone (no effects queued, no rewrite):
    /// true then, and the caller feeds its argv as is (finish would copy
    /// it). False leaves the command open for `finish`.
    pub fn finish_as_is(&mut self, changed: bool) -> bool {
        let as_is = self.enabled
            && self.ops.is_empty()
            && self.rewrite.is_none()
            && !self.prevent
            && (changed || self.force);
        if as_is {
            self.force = false;
        }
        as_is
    }

    /// Closes one command: its queued ops, then the command itself (as
    /// rewritten) if it changed something or was forced.
    pub fn finish(&mut self, db: usize, changed: bool, argv: &Argv) -> Vec<(usize, Argv)> {
        if !self.enabled {
            self.ops.clear();
            self.rewrite = None;
            self.prevent = false;
            self.force = false;
            return Vec::new();
        }
        let mut ops = std::mem::take(&mut self.ops);
        let rewrite = self.rewrite.take();
        if !self.prevent && (changed || self.force) {
            ops.push((db, rewrite.unwrap_or_else(|| argv.clone())));
        }
        self.prevent = false;
        self.force = false;
        ops
    }
}

/// Wraps more than one op in MULTI ... EXEC, as server.c
/// `propagatePendingCommands` does; one op goes out bare.
pub fn wrap_transaction(mut ops: Vec<(usize, Argv)>) -> Vec<(usize, Argv)> {
    if ops.len() > 1 {
        let first_db = ops[0].0;
        let last_db = ops[ops.len() - 1].0;
        ops.insert(0, (first_db, Argv::from_slices(&[b"MULTI"])));
        ops.push((last_db, Argv::from_slices(&[b"EXEC"])));
    }
    ops
}

impl<'a> Keys<'a> {
    pub fn new(locked: Locked<'a>, db: usize, now_ms: u64, lru_clock: u32) -> Self {
        Keys {
            locked,
            db,
            now_ms,
            lru_clock,
            dirty: 0,
            expired: 0,
            hits: 0,
            misses: 0,
            prop: Propagation::default(),
            lfu: None,
            ready: Vec::new(),
            expiry: Expiry::Delete,
            events: events::Events::default(),
        }
    }

    /// Access bookkeeping of a looked-up entry: LRU clock, and the LFU
    /// counter when an LFU policy is active.
    fn touch(entry: &mut Entry, clock: u32, lfu: Option<LfuParams>, now_ms: u64) {
        entry.access_s = clock;
        if let Some(params) = lfu {
            let random = (crate::cmd::keys::random_u64() >> 11) as f64 / (1u64 << 53) as f64;
            entry.lfu_touch(lfu_minutes(now_ms), params, random);
        }
    }

    /// A live entry (expired keys are deleted on the way, db.c
    /// `expireIfNeeded`), without stats or access-time update.
    fn live(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let (db, keyspace) = (self.db, self.locked.keyspace);
        let (stripe, saving) = self.locked.changing_for(key);
        match stripe.dbs[db].lookup(key, self.now_ms, self.expiry) {
            Lookup::Live(entry) => Some(entry),
            Lookup::Hidden => None,
            Lookup::Expired(old) => {
                let found = (&mut stripe.kept, &stripe.watchers[..], saving);
                let tally = (&mut self.expired, &mut self.prop, &mut self.events);
                expired_on_lookup(keyspace, found, db, key, old, tally);
                None
            }
            Lookup::Missing => None,
        }
    }

    /// A live entry for reading: counts hits/misses, updates the access time.
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<&Entry> {
        let clock = self.lru_clock;
        let (hits, misses, events) = (&mut self.hits, &mut self.misses, &mut self.events);
        let (db, keyspace) = (self.db, self.locked.keyspace);
        let expiry = self.expiry;
        let (stripe, saving) = self.locked.changing_for(key);
        match stripe.dbs[db].lookup(key, self.now_ms, expiry) {
            Lookup::Live(entry) => {
                *hits += 1;
                // Access times are not part of the image: no preimage.
                Keys::touch(entry, clock, self.lfu, self.now_ms);
                Some(entry)
            }
            Lookup::Expired(old) => {
                let found = (&mut stripe.kept, &stripe.watchers[..], saving);
                let tally = (&mut self.expired, &mut self.prop, &mut *events);
                expired_on_lookup(keyspace, found, db, key, old, tally);
                *misses += 1;
                events.add(events::KEY_MISS, "keymiss", db, key);
                None
            }
            Lookup::Missing | Lookup::Hidden => {
                *misses += 1;
                events.add(events::KEY_MISS, "keymiss", db, key);
                None
            }
        }
    }

    /// A live entry for writing: no hit/miss stats. The caller may change
    /// it in place: a running snapshot that has yet to save its stripe
    /// keeps a copy of it first.
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let db = self.db;
        self.keep_current(db, key);
        self.live_touched(key)
    }

    /// [`Keys::lookup_write`] for a caller that only reads the entry and
    /// then replaces or deletes the key ([`Keys::set`], [`Keys::remove`]
    /// keep its old value for a running snapshot by moving it): no copy.
    pub fn lookup_write_ref(&mut self, key: &[u8]) -> Option<&Entry> {
        self.live_touched(key).map(|e| &*e)
    }

    /// A live entry with its access time updated (`lookupKeyWrite`).
    fn live_touched(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let (clock, lfu, now) = (self.lru_clock, self.lfu, self.now_ms);
        let entry = self.live(key)?;
        Keys::touch(entry, clock, lfu, now);
        Some(entry)
    }

    /// A live entry for reading without an access-time update
    /// (LOOKUP_NOTOUCH: TYPE, OBJECT, TTL). Counts hits and misses.
    pub fn peek(&mut self, key: &[u8]) -> Option<&Entry> {
        self.peek_as(key, true)
    }

    /// [`Keys::peek`] without the `keymiss` event (LOOKUP_NONOTIFY:
    /// OBJECT).
    pub fn peek_quiet(&mut self, key: &[u8]) -> Option<&Entry> {
        self.peek_as(key, false)
    }

    fn peek_as(&mut self, key: &[u8], notify: bool) -> Option<&Entry> {
        let found = self.live(key).is_some();
        if found {
            self.hits += 1;
        } else {
            self.misses += 1;
            if notify {
                self.notify(events::KEY_MISS, "keymiss", key);
            }
        }
        // A second probe only on a hit; the borrow checker cannot return the
        // first one's reference across the counter update.
        if found {
            self.live(key).map(|e| &*e)
        } else {
            None
        }
    }

    /// Sets `key` to `value` with absolute expiry `expire_ms` (0 = none),
    /// replacing any old value, then signals the change.
    pub fn set(&mut self, key: &[u8], value: Value, expire_ms: u64) {
        self.add(key, value, expire_ms);
        self.dirty += 1;
    }

    /// [`Keys::set`] without counting a change (db.c `dbAdd`: a command
    /// that creates an empty value first, as XADD and XGROUP CREATE
    /// MKSTREAM do, counts its own change once it is done).
    pub fn add(&mut self, key: &[u8], value: Value, expire_ms: u64) {
        let mut entry = Entry::new(value, expire_ms);
        entry.access_s = self.lru_clock;
        entry.freq_minutes = lfu_minutes(self.now_ms);
        let db = self.db;
        if !self.insert_in(db, key, entry) {
            self.notify(events::NEW, "new", key);
        }
        let stripe = self.locked.unsaved_stripe_for(key);
        stripe.touch_watched(db, key);
        note_ready(stripe, &mut self.ready, db, key);
    }

    /// Puts `entry` at `key` in `db` as it is, dropping any old entry (no
    /// bookkeeping: a building block for RENAME, COPY, MOVE). True if
    /// there was an old entry.
    pub fn insert_in(&mut self, db: usize, key: &[u8], entry: Entry) -> bool {
        let keyspace = self.locked.keyspace;
        let (stripe, saving) = self.locked.changing_for(key);
        let Some(keeper) = saving else {
            let old = stripe.dbs[db].insert(key, entry);
            let had = old.is_some();
            if let Some(old) = old {
                keyspace.lazyfree.free_as(Lazy::ServerDel, old.value);
            }
            return had;
        };
        let mut entry = entry;
        snapshot::Keeper::mark(&mut stripe.kept, &mut entry);
        let old = stripe.dbs[db].insert_as_is(key, entry);
        let had = old.is_some();
        if let Some(old) = old {
            keeper.removed(&mut stripe.kept, db, key, old);
        }
        had
    }

    /// Keeps a copy of `key`'s value in `db` for a running snapshot that
    /// has yet to save its stripe, before a change in place.
    fn keep_current(&mut self, db: usize, key: &[u8]) {
        let (stripe, saving) = self.locked.changing_for(key);
        if let Some(keeper) = saving {
            if let Some(current) = stripe.dbs[db].map.get_mut(key) {
                keeper.copy(&mut stripe.kept, db, key, current);
                snapshot::Keeper::mark(&mut stripe.kept, current);
            }
        }
    }

    /// Takes `key` out of the current database as it is (no expiry check,
    /// no bookkeeping).
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let db = self.db;
        self.remove_in(db, key)
    }

    /// [`Keys::remove`] from database `db`.
    pub fn remove_in(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        let keyspace = self.locked.keyspace;
        keyspace.remove_kept(self.locked.unsaved_stripe_for(key), db, key)
    }

    /// Sets or clears (`0`) the expiry of an existing key.
    pub fn set_expire(&mut self, key: &[u8], expire_ms: u64) {
        let db = self.db;
        self.keep_current(db, key);
        self.locked.unsaved_stripe_for(key).dbs[db].set_expire(key, expire_ms);
    }

    /// [`Keys::delete`] that records the `del` keyspace event when the key
    /// was there (`dbDelete` + `notifyKeyspaceEvent(NOTIFY_GENERIC,"del")`).
    pub fn delete_notified(&mut self, key: &[u8]) -> bool {
        let deleted = self.delete(key);
        if deleted {
            self.notify(events::GENERIC, "del", key);
        }
        deleted
    }

    /// Deletes a live `key` as a side effect of a command (freed as
    /// `lazyfree-lazy-server-del` says); true if it existed. Signals the
    /// change.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        let keyspace = self.locked.keyspace;
        self.delete_with(key, |e| keyspace.lazyfree.free_as(Lazy::ServerDel, e.value))
    }

    /// [`Keys::delete`] handing the removed entry to `dispose` (UNLINK
    /// frees a big value on another thread), unless a running snapshot
    /// keeps it as the key's cut value.
    pub fn delete_with(&mut self, key: &[u8], dispose: impl FnOnce(Entry)) -> bool {
        if self.live(key).is_none() {
            return false;
        }
        let (db, keyspace) = (self.db, self.locked.keyspace);
        keyspace.remove_dropped(self.locked.unsaved_stripe_for(key), db, key, dispose);
        self.modified(key);
        true
    }

    /// Records keyspace event `name` of `class` on `key` in the current
    /// database (notify.c `notifyKeyspaceEvent`); nothing unless the class
    /// is on.
    #[inline]
    pub fn notify(&mut self, class: u32, name: &'static str, key: &[u8]) {
        self.events.add(class, name, self.db, key);
    }

    /// Records one change to `key` (db.c `signalModifiedKey` + `server.dirty++`).
    pub fn modified(&mut self, key: &[u8]) {
        let db = self.db;
        self.modified_in(db, key);
    }

    /// Wakes clients blocked on `key` without touching watchers
    /// (blocked.c `signalKeyAsReady` alone, as XGROUP DESTROY does).
    pub fn signal_ready(&mut self, key: &[u8]) {
        let db = self.db;
        let stripe = self.locked.unsaved_stripe_for(key);
        note_ready(stripe, &mut self.ready, db, key);
    }

    /// Like [`Keys::modified`] for a key in another database (MOVE, COPY DB).
    pub fn modified_in(&mut self, db: usize, key: &[u8]) {
        self.dirty += 1;
        let stripe = self.locked.unsaved_stripe_for(key);
        stripe.touch_watched(db, key);
        note_ready(stripe, &mut self.ready, db, key);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    #[test]
    fn db0_shares_its_stripes_lock_cache_line() {
        let keyspace = super::Keyspace::new(16);
        for cell in &keyspace.stripes[..3] {
            let base = std::ptr::from_ref(cell) as usize;
            assert_eq!(base % 64, 0, "stripe not on a cache line");
            let lock = std::ptr::from_ref(&cell.0) as usize;
            assert_eq!(
                lock, base,
                "the Mutex (its lock byte first) starts the line"
            );
            let stripe = cell.lock();
            let first = std::ptr::from_ref(&stripe.dbs[0]) as usize;
            assert!(
                first > base && first + std::mem::size_of::<super::Db>() <= base + 64,
                "db 0 at {} of its stripe, {} bytes",
                first - base,
                std::mem::size_of::<super::Db>()
            );
        }
    }

    #[test]
    fn dbs_index_and_swap() {
        let mut dbs = super::Dbs::new(3);
        dbs[0].insert(b"a", Entry::new(Value::Int(1), 10));
        dbs[2].insert(b"b", Entry::new(Value::Int(1), 12));
        dbs[2].insert(b"c", Entry::new(Value::Int(1), 12));
        dbs.swap(0, 2);
        dbs.swap(1, 1);
        assert_eq!(
            dbs.iter().map(|d| d.expires()).collect::<Vec<_>>(),
            [2, 0, 1]
        );
        dbs.swap(2, 1);
        assert_eq!(
            dbs.iter().map(|d| d.expires()).collect::<Vec<_>>(),
            [2, 1, 0]
        );
        assert_eq!(dbs.len(), 3);
    }

    /// CRC16/XMODEM one bit at a time, the reference for the tables.
    fn crc16_bitwise(data: &[u8]) -> u16 {
        let mut crc = 0u16;
        for &b in data {
            crc ^= u16::from(b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    proptest! {
        #[test]
        fn crc16_slicing_matches_bitwise(data in prop::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(crc16(&data), crc16_bitwise(&data));
        }

        #[test]
        fn replace_range_is_splice(
            buf in prop::collection::vec(any::<u8>(), 0..64),
            a in 0usize..64,
            b in 0usize..64,
            bytes in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let (start, end) = (a.min(b).min(buf.len()), a.max(b).min(buf.len()));
            let mut want = buf.clone();
            want.splice(start..end, bytes.iter().copied());
            let mut got = buf;
            replace_range(&mut got, start..end, &bytes);
            prop_assert_eq!(got, want);
        }
    }

    proptest! {
        /// The expiry index names exactly the keys of the map that have an
        /// expiry, whatever the mix of writes, expiries and
        /// lookups (a key the index forgot would never be actively
        /// expired; one it kept would be "expired" from the map later).
        #[test]
        fn expiry_index_matches_the_map(
            filler in prop_oneof![Just(0u32), Just(100u32)],
            ops in proptest::collection::vec((0u8..6, 0u8..12, 0u64..4), 1..200)
        ) {
            let mut db = super::Db::default();
            // Many keys without a TTL make the TTLs sparse: the index path.
            for i in 0..filler {
                db.insert(format!("filler:{i}").as_bytes(), super::Entry::new(super::Value::Int(1), 0));
            }
            let mut now = 1;
            for (op, k, t) in ops {
                let key = [b'k', k];
                // 0 keeps no TTL; others expire around `now`.
                let ttl = if t == 0 { 0 } else { now + t - 1 };
                match op {
                    0 => drop(db.insert(&key, super::Entry::new(super::Value::Int(1), ttl))),
                    1 => drop(db.remove(&key)),
                    2 => db.set_expire(&key, ttl),
                    3 => drop(db.lookup(&key, now, super::Expiry::Delete)),
                    4 => drop(db.expire_due(now, |_, _| {})),
                    _ => now += 1,
                }
                let with_ttl: Vec<Vec<u8>> = db
                    .map
                    .iter()
                    .filter(|(_, e)| e.expire_ms != 0)
                    .map(|(k, _)| k.to_vec())
                    .collect();
                prop_assert_eq!(db.expires(), with_ttl.len());
                if let Some(t) = &db.ttls {
                    prop_assert_eq!(t.len(), with_ttl.len());
                    for k in with_ttl {
                        prop_assert!(t.contains(&k[..]));
                    }
                }
            }
        }
    }

    use super::*;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from `redis-cli CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(key_slot(b"123456789"), 0x31C3 & 16383);
    }

    /// The index exists while under 1/SPARSE of the keys have a TTL (made
    /// by an expiry walk), and is dropped once twice that share do.
    #[test]
    fn expiry_index_only_while_ttls_are_sparse() {
        let mut db = Db::default();
        for i in 0..100 {
            db.insert(format!("k{i}").as_bytes(), Entry::new(Value::Int(1), 0));
        }
        db.set_expire(b"k1", 50);
        db.set_expire(b"k2", 5);
        assert!(db.ttls.is_none());
        let mut gone = Vec::new();
        let scan = db.expire_due(10, |key, _| gone.push(key.to_vec()));
        assert_eq!((scan.checked, scan.expired, scan.ttl_ms_sum), (2, 1, 40));
        assert_eq!(gone, [b"k2".to_vec()]);
        assert_eq!(db.ttls.as_ref().map(|t| t.len()), Some(1));
        for i in 0..30 {
            db.set_expire(format!("k{i}").as_bytes(), 100);
        }
        assert_eq!(db.ttls.as_ref().map(|t| t.len()), Some(db.expires()));
        let scan = db.expire_due(10, |_, _| {});
        assert_eq!((scan.checked, scan.expired), (db.expires(), 0));
        assert!(
            db.ttls.is_none(),
            "29 of 99 keys with a TTL (k2 expired): dense"
        );
        assert_eq!(db.expire_due(200, |_, _| {}).expired, 29);
        assert_eq!(db.expires(), 0);
    }

    /// Eviction's volatile sample names only keys with a TTL, from the
    /// index (sparse) or the map (dense), and none when there are none.
    #[test]
    fn with_ttl_samples_only_ttl_keys() {
        let mut db = Db::default();
        for i in 0..100 {
            db.insert(format!("k{i}").as_bytes(), Entry::new(Value::Int(1), 0));
        }
        assert!(db.with_ttl(3).is_none());
        db.set_expire(b"k7", 50);
        db.set_expire(b"k9", 60);
        for indexed in [false, true] {
            assert_eq!(db.ttls.is_some(), indexed);
            let mut seen: Vec<Vec<u8>> = (0..16)
                .map(|skip| db.with_ttl(skip).unwrap().0.to_vec())
                .collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen, [b"k7".to_vec(), b"k9".to_vec()]);
            db.expire_due(10, |_, _| {});
        }
    }

    #[test]
    fn expires_count_stays_exact() {
        let mut db = Db::default();
        db.insert(b"a", Entry::new(Value::Int(1), 10));
        db.insert(b"b", Entry::new(Value::Int(1), 0));
        assert_eq!(db.expires(), 1);
        db.insert(b"a", Entry::new(Value::Int(2), 0));
        assert_eq!(db.expires(), 0);
        db.set_expire(b"b", 5);
        let mut gone = Vec::new();
        // Redis: a key lives through its expiry millisecond.
        let mut take = |key: &[u8], _| gone.push(Key::from(key));
        let kept = db.expire_due(5, &mut take);
        assert_eq!((kept.checked, kept.expired, kept.ttl_ms_sum), (1, 0, 0));
        db.insert(b"c", Entry::new(Value::Int(1), 106));
        let scan = db.expire_due(6, &mut take);
        assert_eq!((scan.checked, scan.expired, scan.ttl_ms_sum), (2, 1, 100));
        assert_eq!(db.expires(), 1);
        db.remove(b"c");
        assert_eq!(db.expire_due(7, &mut take), ExpireScan::default());
        assert_eq!(gone, vec![Key::from(&b"b"[..])]);
        assert_eq!(db.expires(), 0);
        assert_eq!(db.map.len(), 1);
    }
}
