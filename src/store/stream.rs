//! Streams, laid out as Redis 7.0 lays them out (t_stream.c): an ordered
//! map from a node's master ID to a listpack of up to
//! `stream-node-max-entries` entries and `stream-node-max-bytes` bytes.
//!
//! ```text
//!   node listpack:
//!     master entry  count | deleted | nfields | field ... | 0
//!     each entry    flags | ms-delta | seq-delta | [nfields | field value ...]
//!                   or, with SAMEFIELDS, | value ... |, then lp-count
//!   flags: 1 = deleted (a tombstone), 2 = same fields as the master entry
//! ```
//!
//! Keeping Redis's node boundaries makes approximate trimming (`MAXLEN ~`),
//! `XINFO STREAM` and the RDB image identical to Redis's, and costs about
//! Redis's memory. Deleted entries stay as tombstones until their node
//! empties. Consumer groups keep their pending entries in ordered maps.

use super::listpack::{self, Listpack, LpVal};
use std::collections::{BTreeMap, BTreeSet};

pub const FLAG_DELETED: i64 = 1;
pub const FLAG_SAMEFIELDS: i64 = 2;
/// Largest listpack a node may grow to (`STREAM_LISTPACK_MAX_SIZE`).
pub const LISTPACK_MAX_SIZE: usize = 1 << 30;
/// `entries_read` of a group whose position is unknown
/// (`SCG_INVALID_ENTRIES_READ`).
pub const ENTRIES_READ_INVALID: i64 = -1;

/// An entry ID: milliseconds and sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID (`streamIncrID`); `None` past the last possible one.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID (`streamDecrID`); `None` before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// `<ms>-<seq>`.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(41);
        out.extend_from_slice(itoa::Buffer::new().format(self.ms).as_bytes());
        out.push(b'-');
        out.extend_from_slice(itoa::Buffer::new().format(self.seq).as_bytes());
        out
    }

    /// The 16-byte big-endian form Redis uses as rax and RDB keys.
    pub fn encode(self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    pub fn decode(b: &[u8; 16]) -> StreamId {
        let mut ms = [0; 8];
        let mut seq = [0; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
    }
}

/// A pending entry of a group (`streamNACK`).
#[derive(Clone, Debug, PartialEq)]
pub struct Nack {
    /// Unix ms of the last delivery.
    pub delivery_time: i64,
    pub delivery_count: u64,
    /// Owner's name (a key of the group's `consumers`).
    pub consumer: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Consumer {
    /// Unix ms of the last interaction.
    pub seen_time: i64,
    /// IDs this consumer owns in the group's PEL.
    pub pel: BTreeSet<StreamId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub last_id: StreamId,
    /// Entries read through `last_id`, or [`ENTRIES_READ_INVALID`].
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Creates consumer `name` seen at `now`; false if it exists.
    pub fn create_consumer(&mut self, name: &[u8], now: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.to_vec(),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Removes `id` from the PEL and its owner's; the old NACK if any.
    pub fn ack(&mut self, id: StreamId) -> Option<Nack> {
        let nack = self.pel.remove(&id)?;
        if let Some(c) = self.consumers.get_mut(&nack.consumer) {
            c.pel.remove(&id);
        }
        Some(nack)
    }

    /// Deletes a consumer and its pending entries: how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let consumer = self.consumers.remove(name)?;
        for id in &consumer.pel {
            self.pel.remove(id);
        }
        Some(consumer.pel.len())
    }

    /// Gives pending entry `id` to `consumer` (which must exist),
    /// moving it from its old owner.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8]) {
        let Some(nack) = self.pel.get_mut(&id) else {
            return;
        };
        if nack.consumer != consumer {
            if let Some(old) = self.consumers.get_mut(&nack.consumer) {
                old.pel.remove(&id);
            }
            nack.consumer = consumer.to_vec();
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}

/// Node size limits (`stream-node-max-bytes`, `stream-node-max-entries`).
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub max_bytes: i64,
    pub max_entries: i64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// How to trim (`streamAddTrimArgs`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// Why an append failed.
#[derive(Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The ID is not greater than the top item (`EDOM`).
    IdTooSmall,
    /// The fields are too large for a listpack (`ERANGE`).
    TooLarge,
}

/// One entry's fields as read from its node.
pub type Fields<'a> = Vec<(LpVal<'a>, LpVal<'a>)>;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Listpack>,
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_entry_id: StreamId,
    pub entries_added: u64,
    /// Consumer groups by name; boxed so streams without groups stay small.
    pub groups: Option<Box<BTreeMap<Vec<u8>, Group>>>,
}

/// Position of an entry inside its node.
struct Slot {
    id: StreamId,
    flags: i64,
    flags_pos: usize,
}

/// The positions of the master entry's fields and of the first entry.
fn master_fields(lp: &Listpack) -> (Vec<usize>, Option<usize>) {
    let mut pos = lp.first().expect("a stream node has a master entry");
    pos = lp.next(pos).expect("deleted count"); // deleted
    pos = lp.next(pos).expect("master field count"); // nfields
    let n = lp.get_int(pos).max(0) as usize;
    let mut fields = Vec::with_capacity(n);
    let mut p = lp.next(pos);
    for _ in 0..n {
        let at = p.expect("master field");
        fields.push(at);
        p = lp.next(at);
    }
    // `p` is the master terminator.
    let first_entry = p.and_then(|t| lp.next(t));
    (fields, first_entry)
}

/// Walks a node's entries in order: `f(slot, fields)`; `f` returns false to
/// stop. Fields are only decoded for live entries when `want_fields`.
fn walk_node<'a>(
    master: StreamId,
    lp: &'a Listpack,
    want_fields: bool,
    mut f: impl FnMut(&Slot, &Fields<'a>) -> bool,
) -> bool {
    let (mfields, mut pos) = master_fields(lp);
    let mut fields: Fields<'a> = Vec::new();
    while let Some(flags_pos) = pos {
        let flags = lp.get_int(flags_pos);
        let ms_pos = lp.next(flags_pos).expect("ms delta");
        let seq_pos = lp.next(ms_pos).expect("seq delta");
        let id = StreamId::new(
            master.ms.wrapping_add(lp.get_int(ms_pos) as u64),
            master.seq.wrapping_add(lp.get_int(seq_pos) as u64),
        );
        let mut p = lp.next(seq_pos);
        fields.clear();
        let live = flags & FLAG_DELETED == 0;
        if flags & FLAG_SAMEFIELDS != 0 {
            for &fpos in &mfields {
                let vpos = p.expect("value");
                if live && want_fields {
                    fields.push((lp.get(fpos), lp.get(vpos)));
                }
                p = lp.next(vpos);
            }
        } else {
            let npos = p.expect("field count");
            let n = lp.get_int(npos).max(0);
            p = lp.next(npos);
            for _ in 0..n {
                let fpos = p.expect("field");
                let vpos = lp.next(fpos).expect("value");
                if live && want_fields {
                    fields.push((lp.get(fpos), lp.get(vpos)));
                }
                p = lp.next(vpos);
            }
        }
        // `p` is lp-count.
        pos = p.and_then(|c| lp.next(c));
        let slot = Slot {
            id,
            flags,
            flags_pos,
        };
        if !f(&slot, &fields) {
            return false;
        }
    }
    true
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Number of listpack nodes (`radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes, for the RDB encoder: (master ID, listpack bytes).
    pub fn nodes(&self) -> impl Iterator<Item = (StreamId, &[u8])> {
        self.nodes.iter().map(|(id, lp)| (*id, lp.as_bytes()))
    }

    /// Adds a node read from an RDB file (whose listpack the caller has
    /// validated as a stream node); false if a node has that master ID.
    pub fn insert_node(&mut self, master: StreamId, lp: Listpack) -> bool {
        if self.nodes.contains_key(&master) {
            return false;
        }
        self.nodes.insert(master, lp);
        true
    }

    /// Nodes of Redis's radix tree holding the node keys
    /// (`rax->numnodes`): the nodes of the compressed trie of the 16-byte
    /// big-endian master IDs, counted as rax builds it.
    pub fn rax_node_count(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|id| id.encode()).collect();
        if keys.is_empty() {
            return 1;
        }
        rax_nodes(&keys, 0)
    }

    pub fn groups(&self) -> impl Iterator<Item = (&Vec<u8>, &Group)> {
        self.groups.iter().flat_map(|g| g.iter())
    }

    pub fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.as_ref()?.get(name)
    }

    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut Group> {
        self.groups.as_mut()?.get_mut(name)
    }

    pub fn group_count(&self) -> usize {
        self.groups.as_ref().map_or(0, |g| g.len())
    }

    /// Creates a group (`streamCreateCG`); false if the name exists.
    pub fn create_group(&mut self, name: &[u8], last_id: StreamId, entries_read: i64) -> bool {
        let groups = self.groups.get_or_insert_with(Default::default);
        if groups.contains_key(name) {
            return false;
        }
        groups.insert(name.to_vec(), Group::new(last_id, entries_read));
        true
    }

    pub fn destroy_group(&mut self, name: &[u8]) -> bool {
        self.groups
            .as_mut()
            .is_some_and(|g| g.remove(name).is_some())
    }

    /// The ID a new entry gets (`streamNextID`, or the given ID with an
    /// automatic sequence when `seq_given` is false).
    fn next_id(&self, given: Option<(StreamId, bool)>, now_ms: u64) -> Option<StreamId> {
        match given {
            Some((id, true)) => Some(id),
            Some((id, false)) => {
                if self.last_id.ms == id.ms {
                    if self.last_id.seq == u64::MAX {
                        return None;
                    }
                    Some(StreamId::new(id.ms, self.last_id.seq + 1))
                } else {
                    Some(StreamId::new(id.ms, 0))
                }
            }
            None => {
                if now_ms > self.last_id.ms {
                    Some(StreamId::new(now_ms, 0))
                } else {
                    self.last_id.incr().or(Some(StreamId::MIN))
                }
            }
        }
    }

    /// Appends an entry (`streamAppendItem`). `pairs` alternate field and
    /// value; `given` is an explicit ID and whether its sequence was given.
    pub fn append(
        &mut self,
        pairs: &[&[u8]],
        given: Option<(StreamId, bool)>,
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<StreamId, AppendError> {
        let id = self.next_id(given, now_ms).ok_or(AppendError::IdTooSmall)?;
        if id <= self.last_id {
            return Err(AppendError::IdTooSmall);
        }
        let total: usize = pairs.iter().map(|p| p.len()).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(AppendError::TooLarge);
        }
        let numfields = pairs.len() / 2;

        // Close the tail node when it is full.
        let mut tail = self.nodes.last_key_value().map(|(k, _)| *k);
        if let Some(key) = tail {
            let lp = &self.nodes[&key];
            let max_bytes = match usize::try_from(limits.max_bytes) {
                Ok(0) | Err(_) => LISTPACK_MAX_SIZE,
                Ok(b) => b.min(LISTPACK_MAX_SIZE),
            };
            let mut full = lp.total_bytes() + total >= max_bytes;
            if !full && limits.max_entries != 0 {
                let first = lp.first().expect("master entry");
                let count = lp.get_int(first) + lp.get_int(lp.next(first).expect("deleted"));
                full = count >= limits.max_entries;
            }
            if full {
                if let Some(lp) = self.nodes.get_mut(&key) {
                    lp.shrink_to_fit();
                }
                tail = None;
            }
        }

        let mut flags = 0;
        let (master, lp) = match tail {
            None => {
                let mut lp = Listpack::new();
                lp.append_int(1);
                lp.append_int(0);
                lp.append_int(numfields as i64);
                for i in 0..numfields {
                    lp.append_str(pairs[i * 2]);
                }
                lp.append_int(0);
                flags |= FLAG_SAMEFIELDS;
                self.nodes.insert(id, lp);
                (id, self.nodes.get_mut(&id).expect("just inserted"))
            }
            Some(key) => {
                let lp = self.nodes.get_mut(&key).expect("tail node");
                let first = lp.first().expect("master entry");
                let count = lp.get_int(first);
                lp.replace_int(first, count + 1);
                let (mfields, _) = master_fields(lp);
                if mfields.len() == numfields
                    && mfields
                        .iter()
                        .enumerate()
                        .all(|(i, &p)| lp.get(p).eq_bytes(pairs[i * 2]))
                {
                    flags |= FLAG_SAMEFIELDS;
                }
                (key, lp)
            }
        };
        lp.append_int(flags);
        lp.append_int(id.ms.wrapping_sub(master.ms) as i64);
        lp.append_int(id.seq.wrapping_sub(master.seq) as i64);
        if flags & FLAG_SAMEFIELDS == 0 {
            lp.append_int(numfields as i64);
        }
        for i in 0..numfields {
            if flags & FLAG_SAMEFIELDS == 0 {
                lp.append_str(pairs[i * 2]);
            }
            lp.append_str(pairs[i * 2 + 1]);
        }
        let mut lp_count = numfields as i64 + 3;
        if flags & FLAG_SAMEFIELDS == 0 {
            lp_count += numfields as i64 + 1;
        }
        lp.append_int(lp_count);

        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// Calls `f(id, fields)` for live entries with `start <= id <= end`,
    /// in order or reversed; `f` returns false to stop.
    pub fn range<'a>(
        &'a self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamId, &Fields<'a>) -> bool,
    ) {
        if start > end {
            return;
        }
        // The node holding `start` is the last one whose master <= start.
        let from = self
            .nodes
            .range(..=start)
            .next_back()
            .map_or(start, |(k, _)| *k);
        let nodes = self.nodes.range(from..=end);
        let visit = |master: &StreamId,
                     lp: &'a Listpack,
                     f: &mut dyn FnMut(StreamId, &Fields<'a>) -> bool| {
            walk_node(*master, lp, true, |slot, fields| {
                if slot.flags & FLAG_DELETED != 0 || slot.id < start {
                    return true;
                }
                if slot.id > end {
                    return false;
                }
                f(slot.id, fields)
            })
        };
        if !rev {
            for (master, lp) in nodes {
                if !visit(master, lp, &mut f) {
                    return;
                }
            }
        } else {
            for (master, lp) in nodes.rev() {
                // Within a node entries only go forward: collect, then reverse.
                let mut found: Vec<(StreamId, Fields<'a>)> = Vec::new();
                let finished = visit(master, lp, &mut |id, fields| {
                    found.push((id, fields.clone()));
                    true
                });
                let _ = finished;
                for (id, fields) in found.iter().rev() {
                    if !f(*id, fields) {
                        return;
                    }
                }
            }
        }
    }

    /// The fields of live entry `id`, if it exists.
    pub fn get(&self, id: StreamId) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = None;
        self.range(id, id, false, |_, fields| {
            out = Some(
                fields
                    .iter()
                    .map(|(f, v)| (f.to_vec(), v.to_vec()))
                    .collect(),
            );
            false
        });
        out
    }

    pub fn exists(&self, id: StreamId) -> bool {
        let mut found = false;
        self.range(id, id, false, |_, _| {
            found = true;
            false
        });
        found
    }

    /// Whether a live entry has an ID `>= start`.
    pub fn exists_from(&self, start: StreamId) -> bool {
        let mut found = false;
        self.range(start, StreamId::MAX, false, |_, _| {
            found = true;
            false
        });
        found
    }

    /// The first or last live ID (`streamGetEdgeID` skipping tombstones).
    pub fn edge_id(&self, first: bool) -> Option<StreamId> {
        let mut out = None;
        self.range(StreamId::MIN, StreamId::MAX, !first, |id, _| {
            out = Some(id);
            false
        });
        out
    }

    /// The first entry's ID, tombstones included (`streamGetEdgeID(s,1,0)`),
    /// or MAX when the stream has no nodes.
    fn first_id_with_tombstones(&self) -> StreamId {
        let Some((master, lp)) = self.nodes.first_key_value() else {
            return StreamId::MAX;
        };
        let mut out = StreamId::MAX;
        walk_node(*master, lp, false, |slot, _| {
            out = slot.id;
            false
        });
        out
    }

    /// Marks entry `id` deleted (`streamDeleteItem`); false if absent.
    fn delete_entry(&mut self, id: StreamId) -> bool {
        let Some((&master, lp)) = self.nodes.range(..=id).next_back() else {
            return false;
        };
        let mut hit = None;
        walk_node(master, lp, false, |slot, _| {
            if slot.id == id && slot.flags & FLAG_DELETED == 0 {
                hit = Some((slot.flags, slot.flags_pos));
                return false;
            }
            slot.id < id
        });
        let Some((flags, flags_pos)) = hit else {
            return false;
        };
        let lp = self.nodes.get_mut(&master).expect("node");
        lp.replace_int(flags_pos, flags | FLAG_DELETED);
        let first = lp.first().expect("master entry");
        let count = lp.get_int(first);
        if count == 1 {
            self.nodes.remove(&master);
        } else {
            lp.replace_int(first, count - 1);
            let del_pos = lp.next(first).expect("deleted count");
            let deleted = lp.get_int(del_pos);
            lp.replace_int(del_pos, deleted + 1);
        }
        self.length -= 1;
        true
    }

    /// XDEL: deletes the IDs, keeping first ID and max deleted ID as Redis
    /// does. Returns how many were deleted.
    pub fn delete_ids(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_entry = false;
        for &id in ids {
            if self.delete_entry(id) {
                if id == self.first_id {
                    first_entry = true;
                }
                if id > self.max_deleted_entry_id {
                    self.max_deleted_entry_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_entry {
                self.first_id = self.edge_id(true).unwrap_or(StreamId::MAX);
            }
        }
        deleted
    }

    /// Trims from the head (`streamTrim`); `limit` 0 means no limit.
    /// Returns the number of entries removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: i64) -> i64 {
        let mut deleted: i64 = 0;
        // Each pass removes the head node or marks entries in it and stops.
        while let Some((&master, lp)) = self.nodes.first_key_value() {
            if let Trim::MaxLen(maxlen) = how {
                if self.length <= maxlen {
                    break;
                }
            }
            let first = lp.first().expect("master entry");
            let entries = lp.get_int(first);
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(maxlen) => self.length.saturating_sub(entries as u64) >= maxlen,
                Trim::MinId(min) => {
                    let mut last = master;
                    walk_node(master, lp, false, |slot, _| {
                        last = slot.id;
                        true
                    });
                    last < min
                }
            };
            if remove_node {
                self.nodes.remove(&master);
                self.length -= entries as u64;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            // Mark entries deleted inside this node, then stop.
            let mut marks: Vec<(usize, i64)> = Vec::new();
            let mut length = self.length;
            walk_node(master, lp, false, |slot, _| {
                let stop = match how {
                    Trim::MaxLen(maxlen) => length <= maxlen,
                    Trim::MinId(min) => slot.id >= min,
                };
                if stop {
                    return false;
                }
                if slot.flags & FLAG_DELETED == 0 {
                    marks.push((slot.flags_pos, slot.flags | FLAG_DELETED));
                    length -= 1;
                }
                true
            });
            let lp = self.nodes.get_mut(&master).expect("node");
            // Flags keep their one-byte size (0-3), so positions hold.
            for &(pos, flags) in &marks {
                lp.replace_int(pos, flags);
            }
            let n = marks.len() as i64;
            self.length -= n as u64;
            deleted += n;
            let first = lp.first().expect("master entry");
            lp.replace_int(first, entries - n);
            let del_pos = lp.next(first).expect("deleted count");
            let marked = lp.get_int(del_pos);
            lp.replace_int(del_pos, marked + n);
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true).unwrap_or(StreamId::MAX);
        }
        deleted
    }

    /// The value an approximate trim is propagated with
    /// (`streamRewriteTrimArgument`): the length, or the first ID.
    pub fn trim_rewrite_arg(&self, how: Trim) -> Vec<u8> {
        match how {
            Trim::MaxLen(_) => self.length.to_string().into_bytes(),
            Trim::MinId(_) => self.first_id_with_tombstones().to_bytes(),
        }
    }

    /// The last live ID, or 0-0 (`streamLastValidID`).
    pub fn last_valid_id(&self) -> StreamId {
        self.edge_id(false).unwrap_or(StreamId::MIN)
    }

    /// Whether `[start, end]` holds a tombstone (`streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_entry_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_entry_id {
            return false;
        }
        start <= self.max_deleted_entry_id && self.max_deleted_entry_id <= end
    }

    /// `streamEstimateDistanceFromFirstEverEntry`: the entries-read counter
    /// of `id`, or [`ENTRIES_READ_INVALID`].
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        }
        if id > self.last_id {
            return ENTRIES_READ_INVALID;
        }
        if self.max_deleted_entry_id.is_zero() || self.max_deleted_entry_id < self.first_id {
            if id < self.first_id {
                return added - self.length as i64;
            }
            if id == self.first_id {
                return added - self.length as i64 + 1;
            }
        }
        ENTRIES_READ_INVALID
    }

    /// A group's lag (`streamReplyWithCGLag`), `None` when unknown.
    pub fn group_lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_INVALID
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_distance(g.last_id);
        (read != ENTRIES_READ_INVALID).then(|| self.entries_added as i64 - read)
    }

    /// Advances group `name`'s position to delivered entry `id`, keeping its
    /// read counter as `streamReplyWithRange` does. True if it moved.
    pub fn advance_group(&mut self, name: &[u8], id: StreamId) -> bool {
        let tombstones = self.range_has_tombstones(id, StreamId::MAX);
        let estimate = self.estimate_distance(id);
        let added = self.entries_added;
        let Some(g) = self.group_mut(name) else {
            return false;
        };
        if id <= g.last_id {
            return false;
        }
        if g.entries_read != ENTRIES_READ_INVALID && !tombstones {
            g.entries_read += 1;
        } else if added != 0 {
            g.entries_read = estimate;
        }
        g.last_id = id;
        true
    }

    /// Bytes the listpacks take, for memory estimates.
    pub fn listpack_bytes(&self) -> usize {
        self.nodes.values().map(Listpack::total_bytes).sum()
    }
}

/// Nodes of the rax holding `keys` (sorted, distinct, equal length) below
/// a node at `depth`: a compressed node for a shared run, a branching node
/// where keys diverge, a leaf where a key ends.
fn rax_nodes(keys: &[[u8; 16]], depth: usize) -> usize {
    if keys.len() == 1 {
        return if depth == 16 { 1 } else { 2 };
    }
    let first = &keys[0];
    let last = &keys[keys.len() - 1];
    let mut lcp = depth;
    while lcp < 16 && first[lcp] == last[lcp] {
        lcp += 1;
    }
    // A shared run from `depth` is one compressed node above the branch.
    let run = usize::from(lcp > depth);
    let mut total = run + 1;
    let mut i = 0;
    while i < keys.len() {
        let byte = keys[i][lcp];
        let mut j = i + 1;
        while j < keys.len() && keys[j][lcp] == byte {
            j += 1;
        }
        total += rax_nodes(&keys[i..j], lcp + 1);
        i = j;
    }
    total
}

/// Bytes of a node header written for `fields` (for tests and estimates).
pub fn master_entry_bytes(fields: &[&[u8]]) -> usize {
    listpack::int_entry_bytes(1)
        + listpack::int_entry_bytes(0)
        + listpack::int_entry_bytes(fields.len() as i64)
        + fields
            .iter()
            .map(|f| listpack::str_entry_bytes(f))
            .sum::<usize>()
        + listpack::int_entry_bytes(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(s: &mut Stream, ms: u64, seq: u64, pairs: &[&[u8]]) -> StreamId {
        s.append(
            pairs,
            Some((StreamId::new(ms, seq), true)),
            0,
            NodeLimits::default(),
        )
        .unwrap()
    }

    fn ids(s: &Stream, rev: bool) -> Vec<StreamId> {
        let mut out = Vec::new();
        s.range(StreamId::MIN, StreamId::MAX, rev, |id, _| {
            out.push(id);
            true
        });
        out
    }

    #[test]
    fn node_layout_matches_redis() {
        // XADD s 1-1 a 1 b x ; XADD s 1-2 a 2 b y ; XADD s 2-0 c z as Redis
        // 7.0 writes the node (checked against an RDB dump).
        let mut s = Stream::new();
        add(&mut s, 1, 1, &[b"a", b"1", b"b", b"x"]);
        add(&mut s, 1, 2, &[b"a", b"2", b"b", b"y"]);
        add(&mut s, 2, 0, &[b"c", b"z"]);
        let (master, bytes) = s.nodes().next().unwrap();
        assert_eq!(master, StreamId::new(1, 1));
        let lp = Listpack::from_validated(bytes.to_vec());
        let vals: Vec<String> = lp
            .iter()
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
            .collect();
        let expect = "3 0 2 a b 0 \
                      2 0 0 1 x 5 \
                      2 0 1 2 y 5 \
                      0 1 -1 1 c z 6";
        assert_eq!(
            vals.join(" "),
            expect.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        assert_eq!(listpack::validate(bytes), Ok(vals.len()));
    }

    #[test]
    fn ranges_deletes_and_trims() {
        let mut s = Stream::new();
        for i in 1..=250u64 {
            add(&mut s, i, 0, &[b"f", b"v"]);
        }
        assert_eq!(s.node_count(), 3); // 100 + 100 + 50
        assert_eq!(ids(&s, false).len(), 250);
        let rev = ids(&s, true);
        assert_eq!(rev[0], StreamId::new(250, 0));
        assert_eq!(rev[249], StreamId::new(1, 0));

        assert_eq!(s.delete_ids(&[StreamId::new(1, 0), StreamId::new(7, 0)]), 2);
        assert_eq!(s.first_id, StreamId::new(2, 0));
        assert_eq!(s.max_deleted_entry_id, StreamId::new(7, 0));
        assert!(!s.exists(StreamId::new(7, 0)));
        assert_eq!(s.length, 248);

        // Approximate: only whole nodes (the first holds 98 live entries).
        assert_eq!(s.trim(Trim::MaxLen(200), true, 0), 0);
        assert_eq!(s.trim(Trim::MaxLen(150), true, 0), 98);
        assert_eq!(s.length, 150);
        assert_eq!(s.trim(Trim::MaxLen(140), false, 0), 10);
        assert_eq!(s.first_id, StreamId::new(111, 0));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(200, 0)), false, 0), 89);
        assert_eq!(s.first_id, StreamId::new(200, 0));
        // The rewrite names the first entry, tombstones included.
        assert_eq!(s.trim_rewrite_arg(Trim::MinId(StreamId::MIN)), b"101-0");
    }

    #[test]
    fn deleting_every_entry_of_a_node_drops_it() {
        let mut s = Stream::new();
        add(&mut s, 1, 0, &[b"f", b"v"]);
        add(&mut s, 2, 0, &[b"f", b"v"]);
        assert_eq!(s.delete_ids(&[StreamId::new(1, 0), StreamId::new(2, 0)]), 2);
        assert_eq!(s.node_count(), 0);
        assert_eq!(s.length, 0);
        assert_eq!(s.first_id, StreamId::MIN);
        assert_eq!(s.last_id, StreamId::new(2, 0));
    }

    #[test]
    fn rax_node_counts() {
        let mut s = Stream::new();
        assert_eq!(s.rax_node_count(), 1);
        add(&mut s, 1, 0, &[b"f", b"v"]);
        assert_eq!(s.rax_node_count(), 2);
    }

    #[test]
    fn auto_ids_never_go_back() {
        let mut s = Stream::new();
        let lim = NodeLimits::default();
        let a = s.append(&[b"f", b"v"], None, 1000, lim).unwrap();
        let b = s.append(&[b"f", b"v"], None, 999, lim).unwrap();
        assert_eq!((a, b), (StreamId::new(1000, 0), StreamId::new(1000, 1)));
        let c = s.append(&[b"f", b"v"], Some((StreamId::new(1000, 0), false)), 0, lim);
        assert_eq!(c, Ok(StreamId::new(1000, 2)));
        let d = s.append(&[b"f", b"v"], Some((StreamId::new(5, 0), true)), 0, lim);
        assert_eq!(d, Err(AppendError::IdTooSmall));
    }
}
