//! The replication backlog: a lock-free, multi-producer byte ring with
//! 64-bit stream offsets (DESIGN.md, "The replication stream").
//!
//! ```text
//!   tail word   [ offset (56 bits) | db of the last entry + 1 (8 bits) ]
//!   append      CAS the tail word: reserve SELECT (when the db changes)
//!               + the entry; copy the bytes into the ring; then publish:
//!               CAS `published` from start to end, or, while an earlier
//!               reservation is still being written, leave the range in
//!               a `done` slot for that producer to publish with its own
//!               (nobody waits for a producer that was preempted)
//!   read        copy [from, published) out, then re-read the tail: if a
//!               producer has reserved past from + capacity, the copy may
//!               hold overwritten bytes and the reader has lost its place
//! ```
//!
//! The ring is an array of `AtomicU64` words, written and read with plain
//! (relaxed) atomic operations, so a reader racing a producer that laps it
//! reads stale or new bytes, never undefined behaviour; the check after
//! the copy decides. Partial words at entry edges are merged with
//! one compare-and-swap, as two producers may share a word.
//!
//! Publishing out of order is a Dekker handshake between a producer
//! leaving its range (count it in `waiting`, write its slot, fence, read
//! `published`) and the one publishing up to its start (`published`,
//! fence, read `waiting` and the slots): with sequentially consistent
//! fences, whichever fence comes second sees the other side's writes, so
//! the range is either found or taken back by its own producer, and a
//! compare-and-swap on the slot decides which, exactly once.
//!
//! Databases 255 and above are recorded as "unknown", which makes the next
//! entry emit its SELECT even for the same db: correct, one SELECT more.

#[cfg(loom)]
use loom::sync::atomic::{fence, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{fence, AtomicU64, Ordering};

const DB_BITS: u32 = 8;
const DB_MASK: u64 = (1 << DB_BITS) - 1;
/// "No entry yet / unknown db": the next entry always selects its db.
const DB_UNKNOWN: u64 = DB_MASK;

/// The reader asked for bytes the ring no longer holds (or never will):
/// its replica must resynchronize.
#[derive(Debug, PartialEq, Eq)]
pub struct Lost;

pub struct Backlog {
    words: Box<[AtomicU64]>,
    /// Capacity in bytes (a power of two, at least 8).
    cap: u64,
    /// Packed (offset << DB_BITS) | db tag, see the module docs.
    tail: AtomicU64,
    /// Every byte below this offset is in the ring.
    published: AtomicU64,
    /// The stream's first offset in this ring (nothing before it exists).
    origin: u64,
    /// Ranges written ahead of an unfinished earlier one, as
    /// `start << LEN_BITS | len` (0: free), see [`Backlog::publish`].
    done: Box<[AtomicU64]>,
    /// How many `done` slots are taken or about to be: counted before the
    /// slot is written and uncounted after it is emptied, so never fewer.
    waiting: AtomicU64,
}

/// `done` slots: more than the producers that can be mid-append at once
/// (shards and replication threads); with all taken a producer waits.
const DONE_SLOTS: usize = 64;
/// A `done` record's length bits (a longer range waits instead); the
/// rest hold its start's low bits, unique among ranges pending at once.
const LEN_BITS: u32 = 24;
const LEN_MASK: u64 = (1 << LEN_BITS) - 1;

/// One round of waiting for another producer: spin briefly, then yield
/// (it may have been preempted).
fn back_off(spins: &mut u32) {
    *spins += 1;
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    if *spins < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// `*2\r\n$6\r\nSELECT\r\n$<n>\r\n<db>\r\n`, as Redis feeds its replicas.
pub fn select_command(db: usize) -> Vec<u8> {
    crate::protocol::encode_command(&[&b"SELECT"[..], db.to_string().as_bytes()])
}

/// The largest ring (a bigger `repl-backlog-size` is clamped to it).
pub const MAX_BYTES: usize = 1 << 34;

/// `n` zeroed words from the allocator's zeroed memory: a large ring's
/// pages are mapped lazily, as the stream first reaches them.
#[cfg(not(loom))]
#[allow(unsafe_code)] // one cast between two types of identical layout
fn zeroed_words(n: usize) -> Box<[AtomicU64]> {
    const _: () =
        assert!(std::mem::size_of::<AtomicU64>() == 8 && std::mem::align_of::<AtomicU64>() == 8);
    let words: Box<[u64]> = vec![0u64; n].into_boxed_slice();
    // SAFETY: AtomicU64 has the size, alignment and bit validity of u64
    // (asserted above), and the box's ownership moves to the new type.
    unsafe { Box::from_raw(Box::into_raw(words) as *mut [AtomicU64]) }
}

#[cfg(loom)]
fn zeroed_words(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl Backlog {
    /// A ring of at least `bytes` (rounded up to a power of two, >= 16)
    /// whose stream starts at `offset` (the replication offset).
    pub fn new(bytes: usize, offset: u64) -> Backlog {
        let cap = Backlog::capacity_for(bytes);
        let words = zeroed_words((cap / 8) as usize);
        Backlog {
            words,
            cap,
            tail: AtomicU64::new((offset << DB_BITS) | DB_UNKNOWN),
            published: AtomicU64::new(offset),
            origin: offset,
            done: (0..DONE_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            waiting: AtomicU64::new(0),
        }
    }

    pub fn capacity(&self) -> u64 {
        self.cap
    }

    /// The capacity [`Backlog::new`] gives a ring asked for `bytes`.
    pub fn capacity_for(bytes: usize) -> u64 {
        bytes.clamp(16, MAX_BYTES).next_power_of_two() as u64
    }

    /// The offset after the last published byte (`master_repl_offset`).
    pub fn offset(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    /// The end of every range reserved so far (published or not).
    pub fn reserved(&self) -> u64 {
        self.tail.load(Ordering::Acquire) >> DB_BITS
    }

    /// [`Backlog::reserved`], once every byte below it is published:
    /// waits for the producers mid-append, and so for the ranges later
    /// producers left behind them (a write can have replied with its
    /// range still unpublished). With every stripe held (a snapshot's cut)
    /// only producers that hold no stripe can be mid-append (PING,
    /// GETACK), so the wait is short, and the offset returned counts
    /// every write the cut sees, no more.
    pub fn settled(&self) -> u64 {
        let reserved = self.reserved();
        let mut spins = 0u32;
        while self.published.load(Ordering::Acquire) < reserved {
            back_off(&mut spins);
        }
        reserved
    }

    /// The oldest offset still readable.
    pub fn first_offset(&self) -> u64 {
        self.offset().saturating_sub(self.cap).max(self.origin)
    }

    /// Forgets the current db, so the next entry with a db starts with its
    /// SELECT: a replica that starts reading here (a full sync's cut) does
    /// not know which db the stream was in (Redis resets `slaveseldb`).
    pub fn forget_db(&self) {
        let mut current = self.tail.load(Ordering::Relaxed);
        loop {
            let forgotten = (current & !DB_MASK) | DB_UNKNOWN;
            match self.tail.compare_exchange_weak(
                current,
                forgotten,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => current = now,
            }
        }
    }

    /// Appends `entry`, preceded by SELECT when `db` differs from the
    /// previous entry's (`None`: keep the current db, as PING and GETACK
    /// do). Returns the offset after it. An entry larger than the ring
    /// still advances the offset, but no reader can get it back.
    pub fn append(&self, db: Option<usize>, entry: &[u8]) -> u64 {
        let (start, end) = self.reserve_and_write(db, entry);
        self.publish(start, end);
        end
    }

    /// The first half of [`Backlog::append`]: reserves the range and
    /// writes it; returns it.
    fn reserve_and_write(&self, db: Option<usize>, entry: &[u8]) -> (u64, u64) {
        let mut select = Vec::new();
        let mut current = self.tail.load(Ordering::Relaxed);
        let start = loop {
            let offset = current >> DB_BITS;
            let last = current & DB_MASK;
            let (tag, needs) = match db {
                None => (last, false),
                Some(d) => {
                    let tag = if (d as u64) < DB_UNKNOWN {
                        d as u64
                    } else {
                        DB_UNKNOWN
                    };
                    (tag, last == DB_UNKNOWN || last != d as u64)
                }
            };
            select.clear();
            if let (true, Some(d)) = (needs, db) {
                select = select_command(d);
            }
            let len = (select.len() + entry.len()) as u64;
            let next = ((offset + len) << DB_BITS) | tag;
            match self.tail.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break offset,
                Err(seen) => current = seen,
            }
        };
        self.write_at(start, &select);
        self.write_at(start + select.len() as u64, entry);
        (start, start + (select.len() + entry.len()) as u64)
    }

    /// Publishes the written range `[start, end)`: moves `published` to
    /// `end` when it stands at `start`, then publishes the ranges later
    /// producers left in `done` that continue it. When an earlier range
    /// is still being written, leaves this one there for its producer
    /// instead of waiting (a shard waiting here held its stripes and its
    /// clients while the producer before it sat preempted).
    fn publish(&self, mut start: u64, mut end: u64) {
        let mut spins = 0u32;
        while start < end {
            if self
                .published
                .compare_exchange(start, end, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                (start, end) = (end, self.take_done(end).unwrap_or(end));
                continue;
            }
            if let Some((slot, record)) = self.leave(start, end) {
                // The producer before may have published up to `start`
                // before it could see the record: then take it back.
                fence(Ordering::SeqCst);
                if self.published.load(Ordering::Relaxed) != start
                    || self.done[slot]
                        .compare_exchange(record, 0, Ordering::AcqRel, Ordering::Relaxed)
                        .is_err()
                {
                    return; // it is (or will be) published by another
                }
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            // No free slot, or a range too long for one: wait.
            back_off(&mut spins);
        }
    }

    /// Records `[start, end)` as written but not published in a free
    /// `done` slot; returns the slot and record, or None if none is free
    /// or the range is too long to record.
    fn leave(&self, start: u64, end: u64) -> Option<(usize, u64)> {
        let len = end - start;
        if len > LEN_MASK {
            return None;
        }
        let record = (start << LEN_BITS) | len;
        let first = (start / 8) as usize;
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let slot = (0..DONE_SLOTS)
            .map(|i| (first + i) % DONE_SLOTS)
            .find(|&i| {
                self.done[i]
                    .compare_exchange(0, record, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            });
        if slot.is_none() {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        Some((slot?, record))
    }

    /// Takes the range left in `done` that starts at `at` (where
    /// `published` now stands); returns its end.
    fn take_done(&self, at: u64) -> Option<u64> {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let key = (at << LEN_BITS) >> LEN_BITS;
        for slot in self.done.iter() {
            let record = slot.load(Ordering::Acquire);
            if record != 0 && record >> LEN_BITS == key {
                // Failing: its producer took it back to publish itself.
                slot.compare_exchange(record, 0, Ordering::AcqRel, Ordering::Relaxed)
                    .ok()?;
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                return Some(at + (record & LEN_MASK));
            }
        }
        None
    }

    /// Copies `bytes` to ring position `at` (mod capacity), word by word.
    fn write_at(&self, at: u64, bytes: &[u8]) {
        // Only the last `cap` bytes of an oversized entry can land.
        let skip = bytes.len().saturating_sub(self.cap as usize);
        let bytes = &bytes[skip..];
        let mut pos = at + skip as u64;
        let mut rest = bytes;
        while !rest.is_empty() {
            // `cap` is a power of two: a mask, not a division.
            let word = ((pos & (self.cap - 1)) / 8) as usize;
            let shift = (pos % 8) as usize;
            let take = (8 - shift).min(rest.len());
            let mut value = [0u8; 8];
            value[shift..shift + take].copy_from_slice(&rest[..take]);
            let value = u64::from_le_bytes(value);
            if take == 8 {
                self.words[word].store(value, Ordering::Relaxed);
            } else {
                // A word shared with a neighbouring entry: replace only our
                // bytes, in one compare-and-swap.
                let mask = ((1u64 << (take * 8)) - 1) << (shift * 8);
                let _ =
                    self.words[word].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                        Some((old & !mask) | value)
                    });
            }
            pos += take as u64;
            rest = &rest[take..];
        }
    }

    /// Appends to `out` the published bytes from `from`, at most `max`;
    /// returns how many. `Err(Lost)` when `from` is older than the ring
    /// holds (or it was overwritten while copying); `from` beyond the
    /// published offset is lost too (a replica ahead of its master).
    pub fn read(&self, from: u64, max: usize, out: &mut Vec<u8>) -> Result<usize, Lost> {
        let published = self.published.load(Ordering::Acquire);
        if from > published || published - from > self.cap || from < self.origin {
            return Err(Lost);
        }
        let n = ((published - from) as usize).min(max);
        let start = out.len();
        out.resize(start + n, 0);
        let dst = &mut out[start..];
        // `cap` is a power of two: a mask, not a division.
        let word_at = |pos: u64| ((pos & (self.cap - 1)) / 8) as usize;
        // The first word's tail, then whole words (a spill or a replica's
        // catch-up copies megabytes), then the last word's head.
        let shift = (from % 8) as usize;
        let head = (8 - shift) % 8;
        let head = head.min(n);
        if head > 0 {
            let bytes = self.words[word_at(from)]
                .load(Ordering::Relaxed)
                .to_le_bytes();
            dst[..head].copy_from_slice(&bytes[shift..shift + head]);
        }
        let mut pos = from + head as u64;
        let mut chunks = dst[head..].chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(
                &self.words[word_at(pos)]
                    .load(Ordering::Relaxed)
                    .to_le_bytes(),
            );
            pos += 8;
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let bytes = self.words[word_at(pos)]
                .load(Ordering::Relaxed)
                .to_le_bytes();
            let len = rest.len();
            rest.copy_from_slice(&bytes[..len]);
        }
        // Seqlock-style check: nobody may have reserved past what we read.
        let reserved = self.tail.load(Ordering::Acquire) >> DB_BITS;
        if reserved > from + self.cap {
            out.truncate(start);
            return Err(Lost);
        }
        Ok(n)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[test]
    fn forget_db_makes_the_next_entry_select() {
        let b = Backlog::new(1024, 0);
        b.append(Some(2), b"*1\r\n$4\r\nPING\r\n");
        let before = b.offset();
        b.append(Some(2), b"X");
        assert_eq!(b.offset(), before + 1, "same db: no SELECT");
        b.forget_db();
        let at = b.offset();
        b.append(Some(2), b"Y");
        let mut out = Vec::new();
        b.read(at, 1024, &mut out).unwrap();
        let mut want = select_command(2);
        want.push(b'Y');
        assert_eq!(out, want);
    }

    /// The model: the whole stream in a deque trimmed to the capacity.
    struct Model {
        bytes: VecDeque<u8>,
        start: u64,
        end: u64,
        db: Option<usize>,
        cap: u64,
    }

    impl Model {
        fn append(&mut self, db: Option<usize>, entry: &[u8]) {
            let mut all = Vec::new();
            if let Some(d) = db {
                if self.db != Some(d) || d >= 255 {
                    all.extend(select_command(d));
                }
                self.db = Some(d);
            }
            all.extend_from_slice(entry);
            self.bytes.extend(all.iter());
            self.end += all.len() as u64;
            while self.bytes.len() as u64 > self.cap {
                self.bytes.pop_front();
                self.start += 1;
            }
        }

        fn read(&self, from: u64, max: usize) -> Result<Vec<u8>, Lost> {
            if from > self.end || self.end - from > self.cap || from < self.start {
                return Err(Lost);
            }
            let skip = (from - self.start) as usize;
            Ok(self.bytes.iter().skip(skip).take(max).copied().collect())
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append(Option<usize>, Vec<u8>),
        Read(u64, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (
                proptest::option::of(prop_oneof![0usize..3, Just(300usize)]),
                proptest::collection::vec(any::<u8>(), 0..40)
            )
                .prop_map(|(db, e)| Op::Append(db, e)),
            (0u64..200, 0usize..100).prop_map(|(back, max)| Op::Read(back, max)),
        ]
    }

    proptest! {
        #[test]
        fn matches_a_deque_model(ops in proptest::collection::vec(op(), 1..200), start in 0u64..1000) {
            let ring = Backlog::new(64, start);
            let mut model = Model { bytes: VecDeque::new(), start, end: start, db: None, cap: 64 };
            for op in ops {
                match op {
                    Op::Append(db, e) => {
                        let end = ring.append(db, &e);
                        model.append(db, &e);
                        prop_assert_eq!(end, model.end);
                    }
                    Op::Read(back, max) => {
                        let from = model.end.saturating_sub(back);
                        let mut out = Vec::new();
                        let got = ring.read(from, max, &mut out).map(|_| out);
                        prop_assert_eq!(got, model.read(from, max));
                    }
                }
            }
            prop_assert_eq!(ring.offset(), model.end);
        }
    }

    #[test]
    fn concurrent_producers_keep_entries_whole_and_selects_right() {
        let ring = std::sync::Arc::new(Backlog::new(1 << 20, 0));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let ring = ring.clone();
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        let entry = format!("*1\r\n$9\r\nT{t}-{i:06}\r\n");
                        ring.append(Some(t % 2), entry.as_bytes());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut out = Vec::new();
        ring.read(0, usize::MAX, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut db = None;
        let mut seen = [0usize; 4];
        let mut rest = text.as_str();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("*2\r\n$6\r\nSELECT\r\n$1\r\n") {
                db = Some(r.as_bytes()[0] - b'0');
                rest = &r[3..];
                continue;
            }
            let r = rest.strip_prefix("*1\r\n$9\r\nT").expect("an entry");
            let t = (r.as_bytes()[0] - b'0') as usize;
            assert_eq!(
                db,
                Some((t % 2) as u8),
                "entry of thread {t} under the wrong db"
            );
            let i: usize = r[2..8].parse().unwrap();
            assert_eq!(i, seen[t], "thread {t}'s entries out of order");
            seen[t] += 1;
            rest = &r[10..];
        }
        assert_eq!(seen, [2000; 4]);
    }

    /// Ranges finished ahead of an earlier one are published by the
    /// earlier one's producer, in reservation order, whatever order the
    /// producers finish in.
    #[test]
    fn later_ranges_wait_in_done_slots_for_the_earlier_one() {
        let ring = Backlog::new(1024, 100);
        let a = ring.reserve_and_write(None, b"aaaa");
        let b = ring.reserve_and_write(None, b"bb");
        let c = ring.reserve_and_write(None, b"cccccc");
        ring.publish(c.0, c.1);
        ring.publish(b.0, b.1);
        assert_eq!(ring.offset(), 100, "nothing published before a");
        assert_eq!(ring.waiting.load(Ordering::Relaxed), 2);
        ring.publish(a.0, a.1);
        assert_eq!(ring.offset(), c.1);
        assert_eq!(ring.waiting.load(Ordering::Relaxed), 0);
        assert!(ring.done.iter().all(|d| d.load(Ordering::Relaxed) == 0));
        let mut out = Vec::new();
        ring.read(100, 1024, &mut out).unwrap();
        assert_eq!(out, b"aaaabbcccccc");
        // With a gap left (d unfinished), e waits; d publishes both.
        let d = ring.reserve_and_write(None, b"d");
        let e = ring.reserve_and_write(None, b"e");
        ring.publish(e.0, e.1);
        assert_eq!(ring.offset(), c.1);
        ring.publish(d.0, d.1);
        assert_eq!(ring.offset(), e.1);
    }

    /// A range left behind an unfinished one counts in `settled` only once
    /// both are published.
    #[test]
    fn settled_waits_for_ranges_left_behind_a_producer() {
        let ring = std::sync::Arc::new(Backlog::new(1024, 0));
        let a = ring.reserve_and_write(None, b"ping");
        let b = ring.reserve_and_write(None, b"set");
        ring.publish(b.0, b.1);
        assert_eq!((ring.offset(), ring.reserved()), (0, b.1));
        let settler = {
            let ring = ring.clone();
            std::thread::spawn(move || ring.settled())
        };
        ring.publish(a.0, a.1);
        assert_eq!(settler.join().unwrap(), b.1);
        assert_eq!(ring.settled(), ring.offset());
    }

    /// Every `done` slot taken: the next producer ahead of the gap waits
    /// until the gap's producer publishes (here: from another thread).
    #[test]
    fn a_producer_waits_when_every_done_slot_is_taken() {
        let ring = std::sync::Arc::new(Backlog::new(1 << 16, 0));
        let gap = ring.reserve_and_write(None, b"gap");
        let ahead: Vec<_> = (0..=DONE_SLOTS)
            .map(|_| ring.reserve_and_write(None, b"x"))
            .collect();
        for r in &ahead[..DONE_SLOTS] {
            ring.publish(r.0, r.1);
        }
        let last = ahead[DONE_SLOTS];
        let waiter = {
            let ring = ring.clone();
            std::thread::spawn(move || ring.publish(last.0, last.1))
        };
        ring.publish(gap.0, gap.1);
        waiter.join().unwrap();
        assert_eq!(ring.offset(), last.1);
    }

    #[test]
    fn lapped_readers_are_told() {
        let ring = Backlog::new(16, 0);
        ring.append(None, b"0123456789");
        ring.append(None, b"abcdefghij");
        let mut out = Vec::new();
        assert_eq!(ring.read(0, 100, &mut out), Err(Lost));
        assert_eq!(ring.read(4, 100, &mut out), Ok(16));
        assert_eq!(out, b"456789abcdefghij");
        assert_eq!(ring.read(21, 1, &mut out), Err(Lost), "beyond the end");
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// A producer thread appending `entry`; joins to its range's end.
    fn spawn_append(
        ring: &Arc<Backlog>,
        db: Option<usize>,
        entry: &'static [u8],
    ) -> loom::thread::JoinHandle<u64> {
        let ring = ring.clone();
        loom::thread::spawn(move || ring.append(db, entry))
    }

    /// Two producers and a reader on a tiny ring, every interleaving: the
    /// stream is one of the two orders with the right SELECTs, and a read
    /// either returns a prefix of it or reports the loss.
    #[test]
    fn every_interleaving_is_a_valid_stream() {
        loom::model(|| {
            let ring = Arc::new(Backlog::new(64, 0));
            let a = spawn_append(&ring, Some(0), b"AAAAA");
            let b = spawn_append(&ring, Some(1), b"BBB");
            let mut partial = Vec::new();
            let _ = ring.read(0, 64, &mut partial);
            a.join().unwrap();
            b.join().unwrap();
            let mut out = Vec::new();
            ring.read(0, 64, &mut out).unwrap();
            let s0 = select_command(0);
            let s1 = select_command(1);
            let ab = [&s0[..], b"AAAAA", &s1, b"BBB"].concat();
            let ba = [&s1[..], b"BBB", &s0, b"AAAAA"].concat();
            assert!(
                out == ab || out == ba,
                "{:?}",
                String::from_utf8_lossy(&out)
            );
            assert!(out.starts_with(&partial));
        });
    }

    /// Once a producer has returned, `settled` (what a snapshot's cut
    /// reads) covers its range, even when it left the range behind a
    /// producer still mid-append.
    #[test]
    fn settled_covers_every_returned_producer() {
        loom::model(|| {
            let ring = Arc::new(Backlog::new(64, 0));
            let keyless = spawn_append(&ring, None, b"PING");
            let write = spawn_append(&ring, None, b"SET");
            let end = write.join().unwrap();
            let settled = ring.settled();
            assert!(settled >= end && ring.offset() >= settled);
            keyless.join().unwrap();
            assert_eq!(ring.settled(), 7);
        });
    }

    /// Three producers: ranges left for an earlier producer (possibly in
    /// a chain) are published exactly once, nothing is lost or waits
    /// forever, and every slot is free at the end.
    #[test]
    fn ranges_left_in_done_slots_are_published_once() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(2);
        builder.check(|| {
            let ring = Arc::new(Backlog::new(64, 0));
            let producers: Vec<_> = [&b"A"[..], b"BB", b"CCC"]
                .into_iter()
                .map(|entry| spawn_append(&ring, None, entry))
                .collect();
            for p in producers {
                p.join().unwrap();
            }
            assert_eq!(ring.offset(), 6);
            assert_eq!(ring.waiting.load(Ordering::Relaxed), 0);
            assert!(ring.done.iter().all(|d| d.load(Ordering::Relaxed) == 0));
            let mut out = Vec::new();
            ring.read(0, 64, &mut out).unwrap();
            out.sort_unstable();
            assert_eq!(out, b"ABBCCC");
        });
    }
}
