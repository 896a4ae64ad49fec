//! RDB reader: versions 1..=12, every type Redis 7.0 loads plus 7.2's
//! SET_LISTPACK and STREAM_LISTPACKS_3, and the legacy zipmap / ziplist /
//! intset / quicklist-v1 forms.
//!
//! # Incremental design
//!
//! Resumable item parser: [`Decoder::feed`] appends bytes to a buffer and
//! [`Decoder::next_item`] tries to parse one whole [`Item`] (an AUX field,
//! a SELECTDB, one key with its value, EOF...) from the unconsumed bytes.
//! If the item is incomplete the attempt is thrown away and `Ok(None)` is
//! returned ("need more"); the next attempt starts over from the item's
//! first byte. To keep that linear for big items, a failed attempt records
//! the least buffer length that can succeed (exact when a string length
//! is known) and at least half as many bytes again as the attempt saw, and
//! no new attempt is made before that. So each byte is scanned O(1) times
//! amortized. Consumed bytes are dropped once they are half the buffer.
//! Because of that back-off, a caller that knows the input has ended must
//! say so with [`Decoder::finish_input`] (or give the total length up
//! front with [`Decoder::with_total_len`]): pending items are then parsed
//! and truncation becomes an error.
//!
//! Memory: the decoder never allocates more than the input justifies:
//! nothing is reserved from a declared element count (collections grow as
//! their elements are actually read, each taking at least one input byte),
//! and an LZF string's declared length is capped at 88 times its
//! compressed length (LZF's largest expansion) before the output buffer
//! is allocated.

use super::legacy::{self, intset_members, listpack_entries, validate_stream_node};
use super::{crc64, lzf, opcodes, types, Error, Limits, RDB_VERSION_MAX};
use super::{QUICKLIST_NODE_PACKED, QUICKLIST_NODE_PLAIN};
use crate::store::hash::{HashLimits, HashValue};
use crate::store::list::{End, Fill, ListValue};
use crate::store::listpack::LpVal;
use crate::store::set::{intset_max_entries, SetValue};
use crate::store::stream::{Consumer, Group, Nack, Stream, StreamId};
use crate::store::zset::ZSetValue;
use crate::store::Value;
use hashbrown::HashSet;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// The error text Redis's RESTORE gives for a bad version or checksum.
pub const DUMP_PAYLOAD_ERROR: &str = "ERR DUMP payload version or checksum are wrong";
/// The error text Redis's RESTORE gives for a payload it cannot decode.
pub const BAD_DATA_FORMAT: &str = "ERR Bad data format";

/// How the trailing checksum was treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// Present and equal to the computed CRC64.
    Verified(u64),
    /// Written as 0 (`rdbchecksum no`) or absent (versions before 5).
    Skipped,
}

/// One key read from the file.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedEntry {
    pub db: u64,
    /// The store's key type: short keys (most) need no allocation.
    pub key: crate::store::Key,
    pub value: Value,
    /// Absolute unix ms; may be in the past (the caller decides).
    pub expire_ms: Option<u64>,
    /// `IDLE` seconds (LRU).
    pub idle: Option<u64>,
    /// `FREQ` counter (LFU).
    pub freq: Option<u8>,
}

/// What the decoder yields, in file order.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Aux {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    SelectDb(u64),
    ResizeDb {
        keys: u64,
        expires: u64,
    },
    Entry(LoadedEntry),
    /// A FUNCTION2 (or 7.0-rc FUNCTION) record: sluice has no functions,
    /// so the library is skipped; the caller should log a warning.
    FunctionSkipped {
        code_len: usize,
    },
    /// The EOF opcode (and checksum): nothing follows.
    End {
        checksum: Checksum,
    },
}

/// Why a parse attempt stopped.
enum Fail {
    /// Incomplete: the buffer must hold at least this many bytes (from
    /// the item's start) before another attempt can succeed.
    More(usize),
    Bad(Error),
}

type R<T> = Result<T, Fail>;

/// A cursor over one parse attempt.
struct Rd<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
    /// Absolute end of the input, if known (then short reads are errors).
    end: Option<u64>,
    limits: Limits,
    version: u16,
}

impl<'a> Rd<'a> {
    fn abs(&self, at: usize) -> u64 {
        self.base + at as u64
    }

    fn bad_at<T>(&self, at: usize, reason: impl Into<String>) -> R<T> {
        Err(Fail::Bad(Error {
            offset: self.abs(at),
            reason: reason.into(),
        }))
    }

    fn take(&mut self, n: u64) -> R<&'a [u8]> {
        let have = (self.buf.len() - self.pos) as u64;
        if n > have {
            let left = self.end.map(|end| end.saturating_sub(self.abs(self.pos)));
            if let Some(left) = left.filter(|&left| n > left) {
                return self.bad_at(
                    self.pos,
                    if left == have {
                        format!("unexpected end of input: {n} bytes needed, {left} left")
                    } else {
                        format!("length {n} exceeds the remaining input ({left} bytes)")
                    },
                );
            }
            let need = usize::try_from(self.pos as u64 + n).unwrap_or(usize::MAX);
            return Err(Fail::More(need));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn byte(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> R<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N as u64)?);
        Ok(a)
    }

    /// A length, or an encoded-string marker: (value, is_encoded).
    fn raw_len(&mut self) -> R<(u64, bool)> {
        let at = self.pos;
        let b = self.byte()?;
        match b >> 6 {
            0 => Ok((u64::from(b & 0x3F), false)),
            1 => Ok(((u64::from(b & 0x3F) << 8) | u64::from(self.byte()?), false)),
            3 => Ok((u64::from(b & 0x3F), true)),
            _ => match b {
                0x80 => Ok((u64::from(u32::from_be_bytes(self.array()?)), false)),
                0x81 => Ok((u64::from_be_bytes(self.array()?), false)),
                _ => self.bad_at(at, format!("unknown length encoding {b:#04x}")),
            },
        }
    }

    fn len(&mut self) -> R<u64> {
        let at = self.pos;
        match self.raw_len()? {
            (n, false) => Ok(n),
            _ => self.bad_at(at, "encoded string where a length was expected"),
        }
    }

    /// A collection length, checked against the remaining input when its
    /// end is known (each element takes at least `min_each` bytes).
    fn count(&mut self, what: &str, min_each: u64) -> R<u64> {
        let at = self.pos;
        let n = self.len()?;
        if let Some(end) = self.end {
            let left = end.saturating_sub(self.abs(self.pos));
            if n.saturating_mul(min_each) > left {
                return self.bad_at(
                    at,
                    format!("{what} length {n} exceeds the remaining input ({left} bytes)"),
                );
            }
        }
        Ok(n)
    }

    /// A string in any of its encodings (plain, int, LZF).
    fn string(&mut self) -> R<Cow<'a, [u8]>> {
        let at = self.pos;
        let (n, encoded) = self.raw_len()?;
        if !encoded {
            return Ok(Cow::Borrowed(self.take(n)?));
        }
        let v: i64 = match n {
            0 => i64::from(self.byte()? as i8),
            1 => i64::from(i16::from_le_bytes(self.array()?)),
            2 => i64::from(i32::from_le_bytes(self.array()?)),
            3 => {
                let clen = self.len()?;
                let ulen = self.len()?;
                if clen == 0 || ulen == 0 {
                    return self.bad_at(at, "LZF string with a zero length");
                }
                if ulen > clen.saturating_mul(lzf::MAX_EXPANSION) {
                    return self.bad_at(
                        at,
                        format!("LZF string of {clen} bytes cannot expand to {ulen}"),
                    );
                }
                let data = self.take(clen)?;
                return match lzf::decompress(data, ulen as usize) {
                    Ok(out) => Ok(Cow::Owned(out)),
                    Err(e) => self.bad_at(at, format!("invalid LZF string: {e}")),
                };
            }
            _ => return self.bad_at(at, format!("unknown string encoding {n}")),
        };
        Ok(Cow::Owned(
            itoa::Buffer::new().format(v).as_bytes().to_vec(),
        ))
    }

    fn id(&mut self) -> R<StreamId> {
        Ok(StreamId::new(self.len()?, self.len()?))
    }

    /// Type 3's ASCII double: u8 length (253 NaN, 254 +inf, 255 -inf).
    fn ascii_double(&mut self) -> R<f64> {
        let at = self.pos;
        let n = self.byte()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            _ => {
                let s = self.take(u64::from(n))?;
                match std::str::from_utf8(s)
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                {
                    Some(v) => Ok(v),
                    None => self.bad_at(at, "invalid double"),
                }
            }
        }
    }

    // ---- values ------------------------------------------------------

    fn value(&mut self, t: u8) -> R<Value> {
        let at = self.pos;
        match t {
            types::STRING => Ok(Value::string(&self.string()?)),
            types::LIST => {
                let n = self.count("list", 1)?;
                let mut b = ListB::new(&self.limits);
                for _ in 0..n {
                    let s = self.string()?;
                    b.push(&s);
                }
                b.finish(self, at)
            }
            types::SET => {
                let n = self.count("set", 1)?;
                let mut b = SetB::new(&self.limits);
                for _ in 0..n {
                    let m_at = self.pos;
                    let s = self.string()?;
                    b.add(LpVal::Str(&s), self, m_at)?;
                }
                b.finish(self, at)
            }
            types::ZSET | types::ZSET_2 => {
                let n = self.count("zset", if t == types::ZSET { 2 } else { 9 })?;
                let mut b = ZSetB::new(&self.limits);
                for _ in 0..n {
                    let m_at = self.pos;
                    let m = self.string()?;
                    let score = if t == types::ZSET {
                        self.ascii_double()?
                    } else {
                        f64::from_le_bytes(self.array()?)
                    };
                    b.add(m, score, self, m_at)?;
                }
                b.finish(self, at)
            }
            types::HASH => {
                let n = self.count("hash", 2)?;
                let mut b = HashB::new(&self.limits);
                for _ in 0..n {
                    let f = self.string()?;
                    let v = self.string()?;
                    b.set(f, v);
                }
                b.finish(self, at)
            }
            types::HASH_ZIPMAP => {
                let blob = self.string()?;
                let pairs = legacy::zipmap_pairs(&blob).or_else(|e| self.bad_at(at, e))?;
                let mut b = HashB::new(&self.limits);
                for (f, v) in pairs {
                    b.set(Cow::Borrowed(f), Cow::Borrowed(v));
                }
                b.finish(self, at)
            }
            types::LIST_ZIPLIST => {
                let blob = self.string()?;
                let elems = legacy::ziplist_entries(&blob).or_else(|e| self.bad_at(at, e))?;
                let mut b = ListB::new(&self.limits);
                for e in elems {
                    e.with_bytes(|s| b.push(s));
                }
                b.finish(self, at)
            }
            types::SET_INTSET => {
                let blob = self.string()?;
                let members = intset_members(&blob).or_else(|e| self.bad_at(at, e))?;
                let mut b = SetB::new(&self.limits);
                for m in members {
                    b.add(LpVal::Int(m), self, at)?;
                }
                b.finish(self, at)
            }
            types::SET_LISTPACK => {
                let blob = self.string()?;
                let elems = listpack_entries(&blob).or_else(|e| self.bad_at(at, e))?;
                let mut b = SetB::new(&self.limits);
                for e in elems {
                    b.add(e, self, at)?;
                }
                b.finish(self, at)
            }
            types::ZSET_ZIPLIST | types::ZSET_LISTPACK => {
                let blob = self.string()?;
                let elems = if t == types::ZSET_ZIPLIST {
                    legacy::ziplist_entries(&blob)
                } else {
                    listpack_entries(&blob)
                }
                .or_else(|e| self.bad_at(at, e))?;
                if elems.len() % 2 != 0 {
                    return self.bad_at(at, "zset listpack with an odd element count");
                }
                let mut b = ZSetB::new(&self.limits);
                for pair in elems.chunks_exact(2) {
                    let score = match pair[1] {
                        LpVal::Int(v) => v as f64,
                        LpVal::Str(s) => match crate::num::parse_f64(s) {
                            Some(v) => v,
                            None => return self.bad_at(at, "zset listpack with a bad score"),
                        },
                    };
                    b.add(lp_bytes(pair[0]), score, self, at)?;
                }
                b.finish(self, at)
            }
            types::HASH_ZIPLIST | types::HASH_LISTPACK => {
                let blob = self.string()?;
                let elems = if t == types::HASH_ZIPLIST {
                    legacy::ziplist_entries(&blob)
                } else {
                    listpack_entries(&blob)
                }
                .or_else(|e| self.bad_at(at, e))?;
                if elems.len() % 2 != 0 {
                    return self.bad_at(at, "hash listpack with an odd element count");
                }
                let mut b = HashB::new(&self.limits);
                for pair in elems.chunks_exact(2) {
                    b.set(lp_bytes(pair[0]), lp_bytes(pair[1]));
                }
                b.finish(self, at)
            }
            types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
                let n = self.count("quicklist", 2)?;
                let mut b = ListB::new(&self.limits);
                for _ in 0..n {
                    let node_at = self.pos;
                    let container = if t == types::LIST_QUICKLIST_2 {
                        self.len()?
                    } else {
                        QUICKLIST_NODE_PACKED
                    };
                    let blob = self.string()?;
                    match container {
                        QUICKLIST_NODE_PLAIN => b.push(&blob),
                        QUICKLIST_NODE_PACKED => {
                            let elems = if t == types::LIST_QUICKLIST {
                                legacy::ziplist_entries(&blob)
                            } else {
                                listpack_entries(&blob)
                            }
                            .or_else(|e| self.bad_at(node_at, e))?;
                            if elems.is_empty() {
                                return self.bad_at(node_at, "empty quicklist node");
                            }
                            for e in elems {
                                e.with_bytes(|s| b.push(s));
                            }
                        }
                        c => {
                            return self.bad_at(node_at, format!("unknown quicklist container {c}"))
                        }
                    }
                }
                b.finish(self, at)
            }
            types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 | types::STREAM_LISTPACKS_3 => {
                self.stream(t)
            }
            types::MODULE_PRE_GA | types::MODULE_2 => {
                self.bad_at(at - 1, "module value types are not supported")
            }
            types::HASH_METADATA_PRE_GA
            | types::HASH_LISTPACK_EX_PRE_GA
            | types::HASH_METADATA
            | types::HASH_LISTPACK_EX => self.bad_at(
                at - 1,
                format!("hash with field expiration (type {t}, Redis 7.4) is not supported"),
            ),
            _ => self.bad_at(at - 1, format!("unknown value type {t}")),
        }
    }

    fn stream(&mut self, t: u8) -> R<Value> {
        let mut s = Stream::new();
        let nodes = self.count("stream node", 2)?;
        for _ in 0..nodes {
            let at = self.pos;
            let key = self.string()?;
            let Ok(key) = <[u8; 16]>::try_from(&*key) else {
                return self.bad_at(at, "stream node key is not the size of a stream ID");
            };
            let lp_at = self.pos;
            let blob = self.string()?.into_owned();
            {
                let elems = listpack_entries(&blob).or_else(|e| self.bad_at(lp_at, e))?;
                if elems.is_empty() {
                    return self.bad_at(lp_at, "empty listpack inside stream");
                }
                validate_stream_node(&elems).or_else(|e| self.bad_at(lp_at, e))?;
            }
            let lp = legacy::listpack_owned(blob).or_else(|e| self.bad_at(lp_at, e))?;
            if !s.insert_node(StreamId::decode(&key), lp) {
                return self.bad_at(at, "stream listpack re-added with an existing key");
            }
        }
        s.length = self.len()?;
        s.last_id = self.id()?;
        if t == types::STREAM_LISTPACKS {
            s.entries_added = s.length;
            s.first_id = s.edge_id(true).unwrap_or(StreamId::MIN);
        } else {
            s.first_id = self.id()?;
            s.max_deleted_entry_id = self.id()?;
            s.entries_added = self.len()?;
        }
        if s.length > 0 && s.node_count() == 0 {
            return self.bad_at(self.pos, "stream length inconsistent with its nodes");
        }
        let ngroups = self.count("stream group", 4)?;
        let mut groups: BTreeMap<Vec<u8>, Group> = BTreeMap::new();
        for _ in 0..ngroups {
            let at = self.pos;
            let name = self.string()?.into_owned();
            let last_id = self.id()?;
            let entries_read = if t == types::STREAM_LISTPACKS {
                s.estimate_distance(last_id)
            } else {
                self.len()? as i64
            };
            if groups.contains_key(&name) {
                return self.bad_at(at, "duplicated consumer group name");
            }
            let mut g = Group::new(last_id, entries_read);
            let npel = self.count("stream PEL", 25)?;
            for _ in 0..npel {
                let at = self.pos;
                let id = StreamId::decode(&self.array::<16>()?);
                let delivery_time = i64::from_le_bytes(self.array()?);
                let delivery_count = self.len()?;
                let nack = Nack {
                    delivery_time,
                    delivery_count,
                    consumer: Vec::new(),
                };
                if g.pel.insert(id, nack).is_some() {
                    return self.bad_at(at, "duplicated global PEL entry");
                }
            }
            let nconsumers = self.count("stream consumer", 10)?;
            let mut owned: BTreeSet<StreamId> = BTreeSet::new();
            for _ in 0..nconsumers {
                let at = self.pos;
                let cname = self.string()?.into_owned();
                if g.consumers.contains_key(&cname) {
                    return self.bad_at(at, "duplicate stream consumer");
                }
                let seen_time = i64::from_le_bytes(self.array()?);
                if t == types::STREAM_LISTPACKS_3 {
                    let _active_time = i64::from_le_bytes(self.array::<8>()?);
                }
                let n = self.count("consumer PEL", 16)?;
                let mut pel = BTreeSet::new();
                for _ in 0..n {
                    let at = self.pos;
                    let id = StreamId::decode(&self.array::<16>()?);
                    let Some(nack) = g.pel.get_mut(&id) else {
                        return self.bad_at(at, "consumer entry not found in group global PEL");
                    };
                    if !owned.insert(id) {
                        return self.bad_at(at, "PEL entry owned by two consumers");
                    }
                    nack.consumer = cname.clone();
                    pel.insert(id);
                }
                g.consumers.insert(cname, Consumer { seen_time, pel });
            }
            if owned.len() != g.pel.len() {
                return self.bad_at(at, "stream group PEL entry without a consumer");
            }
            groups.insert(name, g);
        }
        if !groups.is_empty() {
            s.groups = Some(Box::new(groups));
        }
        Ok(Value::Stream(Box::new(s)))
    }

    // ---- items -------------------------------------------------------

    fn header(&mut self) -> R<u16> {
        let magic = self.take(9)?;
        if &magic[..5] != b"REDIS" {
            return self.bad_at(0, "not an RDB file (no REDIS magic)");
        }
        let digits = &magic[5..];
        let version = std::str::from_utf8(digits)
            .ok()
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u16>().ok());
        match version {
            Some(v) if (1..=RDB_VERSION_MAX).contains(&v) => Ok(v),
            _ => self.bad_at(
                5,
                format!(
                    "can't handle RDB format version {}",
                    String::from_utf8_lossy(digits)
                ),
            ),
        }
    }

    /// One item. For `End`, the 8 checksum bytes are consumed but the
    /// caller checks them (they are not part of the CRC).
    fn item(&mut self, db: u64) -> R<(Item, Option<u64>)> {
        let mut expire_ms = None;
        let mut idle = None;
        let mut freq = None;
        loop {
            let at = self.pos;
            let op = self.byte()?;
            let pending = expire_ms.is_some() || idle.is_some() || freq.is_some();
            let item = match op {
                opcodes::EXPIRETIME_MS => {
                    expire_ms = Some(u64::from_le_bytes(self.array()?));
                    continue;
                }
                opcodes::EXPIRETIME => {
                    let s = i32::from_le_bytes(self.array()?);
                    expire_ms = Some((i64::from(s) * 1000) as u64);
                    continue;
                }
                opcodes::IDLE => {
                    idle = Some(self.len()?);
                    continue;
                }
                opcodes::FREQ => {
                    freq = Some(self.byte()?);
                    continue;
                }
                opcodes::SLOT_INFO => {
                    for _ in 0..3 {
                        self.len()?;
                    }
                    continue;
                }
                _ if pending && op >= opcodes::SLOT_INFO => {
                    return self.bad_at(at, format!("key metadata followed by opcode {op:#04x}"));
                }
                opcodes::AUX => {
                    let key = self.string()?.into_owned();
                    let value = self.string()?.into_owned();
                    Item::Aux { key, value }
                }
                opcodes::SELECTDB => Item::SelectDb(self.len()?),
                opcodes::RESIZEDB => Item::ResizeDb {
                    keys: self.len()?,
                    expires: self.len()?,
                },
                opcodes::MODULE_AUX => {
                    return self.bad_at(at, "module auxiliary data is not supported")
                }
                opcodes::FUNCTION2 => Item::FunctionSkipped {
                    code_len: self.string()?.len(),
                },
                opcodes::FUNCTION_PRE_GA => {
                    self.string()?;
                    self.string()?;
                    if self.len()? != 0 {
                        self.string()?;
                    }
                    Item::FunctionSkipped {
                        code_len: self.string()?.len(),
                    }
                }
                opcodes::EOF => {
                    if self.version >= 5 {
                        let stored = u64::from_le_bytes(self.array()?);
                        return Ok((
                            Item::End {
                                checksum: Checksum::Skipped,
                            },
                            Some(stored),
                        ));
                    }
                    Item::End {
                        checksum: Checksum::Skipped,
                    }
                }
                t => {
                    let key = crate::store::Key::from(&*self.string()?);
                    let value = self.value(t)?;
                    Item::Entry(LoadedEntry {
                        db,
                        key,
                        value,
                        expire_ms,
                        idle,
                        freq,
                    })
                }
            };
            return Ok((item, None));
        }
    }
}

// ---- value builders: sluice's encodings by sluice's thresholds ----------

/// A listpack element's bytes: borrowed for strings, formatted for ints.
fn lp_bytes(v: LpVal<'_>) -> Cow<'_, [u8]> {
    match v {
        LpVal::Str(s) => Cow::Borrowed(s),
        LpVal::Int(n) => Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec()),
    }
}

struct ListB {
    list: ListValue,
    fill: Fill,
}

impl ListB {
    fn new(l: &Limits) -> ListB {
        ListB {
            list: ListValue::new(),
            fill: Fill::from_config(l.list_max_listpack_size),
        }
    }
    fn push(&mut self, s: &[u8]) {
        self.list.push(s, End::Tail, self.fill);
    }
    fn finish(self, rd: &Rd, at: usize) -> R<Value> {
        if self.list.is_empty() {
            return rd.bad_at(at, "empty list");
        }
        Ok(Value::List(Box::new(self.list)))
    }
}

struct SetB {
    set: SetValue,
    max: usize,
}

impl SetB {
    fn new(l: &Limits) -> SetB {
        SetB {
            set: SetValue::empty_intset(),
            max: intset_max_entries(l.set_max_intset_entries),
        }
    }
    fn add(&mut self, m: LpVal<'_>, rd: &Rd, at: usize) -> R<()> {
        let added = match m {
            LpVal::Int(n) => self.set.add_int(n, self.max),
            LpVal::Str(s) => self.set.add(s, self.max),
        };
        if !added {
            return rd.bad_at(at, "duplicate set member");
        }
        Ok(())
    }
    fn finish(self, rd: &Rd, at: usize) -> R<Value> {
        if self.set.is_empty() {
            return rd.bad_at(at, "empty set");
        }
        Ok(Value::Set(Box::new(self.set)))
    }
}

/// A field and value as read: borrowed from the input when possible.
type CowPair<'b> = (Cow<'b, [u8]>, Cow<'b, [u8]>);

/// Collects pairs, then builds the hash in one go (no lookup per field).
struct HashB<'b> {
    pairs: Vec<CowPair<'b>>,
    limits: HashLimits,
}

impl<'b> HashB<'b> {
    fn new(l: &Limits) -> HashB<'b> {
        HashB {
            pairs: Vec::new(),
            limits: HashLimits::new(l.hash_max_listpack_entries, l.hash_max_listpack_value),
        }
    }
    fn set(&mut self, f: Cow<'b, [u8]>, v: Cow<'b, [u8]>) {
        self.pairs.push((f, v));
    }
    fn finish(self, rd: &Rd, at: usize) -> R<Value> {
        if self.pairs.is_empty() {
            return rd.bad_at(at, "empty hash");
        }
        let mut seen = HashSet::with_capacity(self.pairs.len());
        if !self.pairs.iter().all(|(f, _)| seen.insert(&**f)) {
            return rd.bad_at(at, "duplicate hash field");
        }
        drop(seen);
        Ok(Value::Hash(HashValue::from_distinct_pairs(
            &self.pairs,
            self.limits,
        )))
    }
}

/// Collects entries, then builds the zset in one go.
struct ZSetB<'b> {
    entries: Vec<(f64, Cow<'b, [u8]>)>,
    entries_max: i64,
    value_max: i64,
}

impl<'b> ZSetB<'b> {
    fn new(l: &Limits) -> ZSetB<'b> {
        ZSetB {
            entries: Vec::new(),
            entries_max: l.zset_max_listpack_entries,
            value_max: l.zset_max_listpack_value,
        }
    }
    fn add(&mut self, m: Cow<'b, [u8]>, score: f64, rd: &Rd, at: usize) -> R<()> {
        if score.is_nan() {
            return rd.bad_at(at, "zset score is NaN");
        }
        self.entries.push((score, m));
        Ok(())
    }
    fn finish(self, rd: &Rd, at: usize) -> R<Value> {
        if self.entries.is_empty() {
            return rd.bad_at(at, "empty zset");
        }
        let mut seen = HashSet::with_capacity(self.entries.len());
        if !self.entries.iter().all(|(_, m)| seen.insert(&**m)) {
            return rd.bad_at(at, "duplicate zset member");
        }
        drop(seen);
        Ok(Value::ZSet(ZSetValue::from_distinct(
            self.entries,
            self.entries_max,
            self.value_max,
        )))
    }
}

// ---- the incremental decoder -------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Header,
    Body,
    Done,
}

/// An incremental RDB reader (see the module docs for the design).
pub struct Decoder {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    start: usize,
    /// Absolute offset of `buf[start]`.
    consumed: u64,
    /// Don't attempt a parse before this many unconsumed bytes.
    retry_at: usize,
    total: Option<u64>,
    input_done: bool,
    state: State,
    version: u16,
    db: u64,
    limits: Limits,
    crc: crc64::Running,
    /// False when the caller checks the CRC itself (in parallel).
    check_crc: bool,
    failed: Option<Error>,
}

impl Decoder {
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            buf: Vec::new(),
            start: 0,
            consumed: 0,
            retry_at: 0,
            total: None,
            input_done: false,
            state: State::Header,
            version: 0,
            db: 0,
            limits,
            crc: crc64::running(),
            check_crc: true,
            failed: None,
        }
    }

    /// A decoder told the input's total length (a file size, a `$<len>`
    /// bulk): lengths beyond it fail at once, and reaching it ends input.
    pub fn with_total_len(limits: Limits, total: u64) -> Decoder {
        let mut d = Decoder::new(limits);
        d.total = Some(total);
        d
    }

    /// Appends input bytes. After `End`, they are kept as [`Self::trailing`].
    /// Leaves the trailing CRC64 to the caller (who may compute it on
    /// another core over the whole input): `End` then reports `Skipped`.
    pub fn without_checksum(mut self) -> Decoder {
        self.check_crc = false;
        self
    }

    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// No more input will come: pending items are parsed now and a
    /// truncated item is an error.
    pub fn finish_input(&mut self) {
        self.input_done = true;
    }

    /// The RDB version, once the header has been read.
    pub fn version(&self) -> Option<u16> {
        (self.state != State::Header).then_some(self.version)
    }

    /// Bytes consumed so far (the offset of the next item).
    pub fn offset(&self) -> u64 {
        self.consumed
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes fed after the EOF item.
    pub fn trailing(&self) -> &[u8] {
        if self.state == State::Done {
            &self.buf[self.start..]
        } else {
            &[]
        }
    }

    fn known_end(&self) -> Option<u64> {
        let avail = (self.buf.len() - self.start) as u64;
        if self.input_done {
            Some(self.consumed + avail)
        } else {
            self.total
        }
    }

    /// The next item, `Ok(None)` if more input is needed (or after `End`).
    /// After an error every call returns the same error.
    pub fn next_item(&mut self) -> Result<Option<Item>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.step();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn step(&mut self) -> Result<Option<Item>, Error> {
        loop {
            if self.state == State::Done {
                return Ok(None);
            }
            let avail = self.buf.len() - self.start;
            let end = self.known_end();
            let at_end = end.is_some_and(|e| self.consumed + avail as u64 >= e);
            if !at_end && avail < self.retry_at {
                return Ok(None);
            }
            let mut rd = Rd {
                buf: &self.buf[self.start..],
                pos: 0,
                base: self.consumed,
                end: if at_end {
                    Some(self.consumed + avail as u64)
                } else {
                    end
                },
                limits: self.limits,
                version: self.version,
            };
            let parsed = if self.state == State::Header {
                rd.header().map(|v| (None, Some(v)))
            } else {
                rd.item(self.db)
                    .map(|(item, crc)| (Some((item, crc)), None))
            };
            let used = rd.pos;
            match parsed {
                Err(Fail::More(need)) => {
                    self.retry_at = need.max(avail + (avail / 2).max(512));
                    return Ok(None);
                }
                Err(Fail::Bad(e)) => return Err(e),
                Ok((item, version)) => {
                    self.retry_at = 0;
                    let bytes = &self.buf[self.start..self.start + used];
                    let item = match item {
                        None => {
                            if self.check_crc {
                                self.crc.update(bytes);
                            }
                            self.version = version.unwrap_or(0);
                            self.state = State::Body;
                            None
                        }
                        Some((Item::End { .. }, Some(_))) if !self.check_crc => Some(Item::End {
                            checksum: Checksum::Skipped,
                        }),
                        Some((Item::End { .. }, Some(stored))) => {
                            self.crc.update(&bytes[..used - 8]);
                            let computed = self.crc.clone().finalize();
                            let checksum = if stored == 0 {
                                Checksum::Skipped
                            } else if stored == computed {
                                Checksum::Verified(stored)
                            } else {
                                return Err(Error {
                                    offset: self.consumed + used as u64 - 8,
                                    reason: format!(
                                        "wrong RDB checksum: expected {stored:#018x}, got {computed:#018x}"
                                    ),
                                });
                            };
                            Some(Item::End { checksum })
                        }
                        Some((item, _)) => {
                            if self.check_crc {
                                self.crc.update(bytes);
                            }
                            Some(item)
                        }
                    };
                    self.start += used;
                    self.consumed += used as u64;
                    if self.start > 0 && self.start * 2 >= self.buf.len() {
                        self.buf.drain(..self.start);
                        self.start = 0;
                    }
                    match &item {
                        Some(Item::SelectDb(db)) => self.db = *db,
                        Some(Item::End { .. }) => self.state = State::Done,
                        _ => {}
                    }
                    if let Some(item) = item {
                        return Ok(Some(item));
                    }
                }
            }
        }
    }
}

/// Decodes a whole RDB held in memory: every item through `End`.
pub fn decode_all(bytes: &[u8], limits: Limits) -> Result<Vec<Item>, Error> {
    let mut d = Decoder::with_total_len(limits, bytes.len() as u64);
    d.feed(bytes);
    d.finish_input();
    let mut items = Vec::new();
    while let Some(item) = d.next_item()? {
        items.push(item);
    }
    if !d.is_done() {
        return Err(Error {
            offset: d.offset(),
            reason: "unexpected end of input before EOF".into(),
        });
    }
    Ok(items)
}

/// Why RESTORE refuses a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// Footer version newer than ours, or CRC mismatch.
    VersionOrChecksum,
    /// The value does not decode.
    BadData(Error),
}

impl RestoreError {
    /// The error reply Redis gives.
    pub fn redis_message(&self) -> &'static str {
        match self {
            RestoreError::VersionOrChecksum => DUMP_PAYLOAD_ERROR,
            RestoreError::BadData(_) => BAD_DATA_FORMAT,
        }
    }
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreError::VersionOrChecksum => f.write_str(DUMP_PAYLOAD_ERROR),
            RestoreError::BadData(e) => write!(f, "{BAD_DATA_FORMAT} ({e})"),
        }
    }
}

impl std::error::Error for RestoreError {}

/// Decodes a DUMP payload (value, 2-byte version, CRC64), with Redis's
/// default encoding thresholds.
pub fn restore_payload(payload: &[u8]) -> Result<Value, RestoreError> {
    restore_payload_with(payload, Limits::default())
}

/// [`restore_payload`] converting by the given thresholds.
pub fn restore_payload_with(payload: &[u8], limits: Limits) -> Result<Value, RestoreError> {
    // cluster.c verifyDumpPayload.
    if payload.len() < 10 {
        return Err(RestoreError::VersionOrChecksum);
    }
    let footer = payload.len() - 10;
    let version = u16::from_le_bytes([payload[footer], payload[footer + 1]]);
    if version > RDB_VERSION_MAX {
        return Err(RestoreError::VersionOrChecksum);
    }
    let crc = crc64::checksum(&payload[..payload.len() - 8]);
    if crc.to_le_bytes() != payload[payload.len() - 8..] {
        return Err(RestoreError::VersionOrChecksum);
    }
    let body = &payload[..footer];
    let mut rd = Rd {
        buf: body,
        pos: 0,
        base: 0,
        end: Some(body.len() as u64),
        limits,
        version,
    };
    let value = (|| {
        let t = rd.byte()?;
        let v = rd.value(t)?;
        if rd.pos != body.len() {
            return rd.bad_at(rd.pos, "trailing bytes after the value");
        }
        Ok(v)
    })();
    match value {
        Ok(v) => Ok(v),
        Err(Fail::Bad(e)) => Err(RestoreError::BadData(e)),
        Err(Fail::More(_)) => Err(RestoreError::BadData(Error {
            offset: body.len() as u64,
            reason: "truncated value".into(),
        })),
    }
}

/// What [`Rd::skip_item`] found.
enum Skipped {
    /// An entry or opcode skipped; `Some(db)` for SELECTDB.
    Item(Option<u64>),
    /// RESIZEDB: the selected database's key count (a hint).
    Resize(u64),
    /// A key with its value.
    Key,
    Aux(Vec<u8>, Vec<u8>),
    /// The EOF opcode (not consumed).
    End,
    /// Something only the full decoder handles (a stream, a module type,
    /// an unknown opcode): the caller falls back to it.
    Cannot,
}

impl Rd<'_> {
    fn skip_string(&mut self) -> R<()> {
        let at = self.pos;
        let (n, encoded) = self.raw_len()?;
        if !encoded {
            self.take(n)?;
            return Ok(());
        }
        match n {
            0 => self.take(1).map(|_| ()),
            1 => self.take(2).map(|_| ()),
            2 => self.take(4).map(|_| ()),
            3 => {
                let clen = self.len()?;
                self.len()?;
                self.take(clen).map(|_| ())
            }
            _ => self.bad_at(at, format!("unknown string encoding {n}")),
        }
    }

    /// Moves past one item without building it (no allocation).
    fn skip_item(&mut self) -> R<Skipped> {
        loop {
            let op = self.byte()?;
            match op {
                opcodes::EXPIRETIME_MS => {
                    self.take(8)?;
                }
                opcodes::EXPIRETIME => {
                    self.take(4)?;
                }
                opcodes::IDLE => {
                    self.len()?;
                }
                opcodes::FREQ => {
                    self.take(1)?;
                }
                opcodes::AUX => {
                    let k = self.string()?.into_owned();
                    let v = self.string()?.into_owned();
                    return Ok(Skipped::Aux(k, v));
                }
                opcodes::SELECTDB => return Ok(Skipped::Item(Some(self.len()?))),
                opcodes::RESIZEDB => {
                    let keys = self.len()?;
                    self.len()?;
                    return Ok(Skipped::Resize(keys));
                }
                opcodes::EOF => {
                    self.pos -= 1;
                    return Ok(Skipped::End);
                }
                t => {
                    self.skip_string()?; // the key
                    let strings = |rd: &mut Self, n: u64, per: u64| -> R<()> {
                        for _ in 0..n.saturating_mul(per) {
                            rd.skip_string()?;
                        }
                        Ok(())
                    };
                    match t {
                        types::STRING | 9..=13 | 16 | 17 | 20 => self.skip_string()?,
                        types::LIST | types::SET | 14 => {
                            let n = self.count("collection", 1)?;
                            strings(self, n, 1)?;
                        }
                        types::HASH => {
                            let n = self.count("hash", 2)?;
                            strings(self, n, 2)?;
                        }
                        types::ZSET_2 => {
                            let n = self.count("zset", 9)?;
                            for _ in 0..n {
                                self.skip_string()?;
                                self.take(8)?;
                            }
                        }
                        types::ZSET => {
                            let n = self.count("zset", 2)?;
                            for _ in 0..n {
                                self.skip_string()?;
                                let len = self.byte()?;
                                if len < 253 {
                                    self.take(u64::from(len))?;
                                }
                            }
                        }
                        18 => {
                            let n = self.count("quicklist", 2)?;
                            for _ in 0..n {
                                self.len()?;
                                self.skip_string()?;
                            }
                        }
                        _ => return Ok(Skipped::Cannot),
                    }
                    return Ok(Skipped::Key);
                }
            }
        }
    }
}

/// A run of whole items that decodes on its own: `bytes[start..end]`,
/// starting in database `db`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start: usize,
    pub end: usize,
    pub db: u64,
    /// Keys in the segment (a capacity hint for the loader).
    pub keys: u64,
}

/// The body of a complete file cut into segments of about `target` bytes
/// at item boundaries, found by skipping items without decoding them, so
/// several threads can decode at once ([`decode_segment`]). Also returns
/// the AUX fields and the version. `Ok(None)` when an item can only be
/// walked by the full decoder (streams, modules): decode sequentially then.
#[allow(clippy::type_complexity)]
pub fn split_body(
    bytes: &[u8],
    target: usize,
) -> Result<Option<(u16, Vec<Segment>, Vec<(Vec<u8>, Vec<u8>)>)>, Error> {
    let mut rd = Rd {
        buf: bytes,
        pos: 0,
        base: 0,
        end: Some(bytes.len() as u64),
        limits: Limits::default(),
        version: 0,
    };
    let version = match rd.header() {
        Ok(v) => v,
        Err(Fail::Bad(e)) => return Err(e),
        Err(Fail::More(_)) => {
            return Err(Error {
                offset: 0,
                reason: "truncated header".into(),
            })
        }
    };
    rd.version = version;
    let mut segments = Vec::new();
    let mut aux = Vec::new();
    let mut db = 0;
    let mut seg_start = rd.pos;
    let mut seg_db = 0;
    let mut seg_keys = 0;
    loop {
        let at = rd.pos;
        if at - seg_start >= target {
            segments.push(Segment {
                start: seg_start,
                end: at,
                db: seg_db,
                keys: seg_keys,
            });
            seg_start = at;
            seg_db = db;
            seg_keys = 0;
        }
        match rd.skip_item() {
            Ok(Skipped::Key) => seg_keys += 1,
            Ok(Skipped::Item(Some(d))) => db = d,
            Ok(Skipped::Item(None) | Skipped::Resize(_)) => {}
            Ok(Skipped::Aux(k, v)) => aux.push((k, v)),
            Ok(Skipped::End) => break,
            Ok(Skipped::Cannot) => return Ok(None),
            Err(Fail::Bad(e)) => return Err(e),
            Err(Fail::More(_)) => {
                return Err(Error {
                    offset: at as u64,
                    reason: "unexpected end of file".into(),
                })
            }
        }
    }
    if rd.pos > seg_start {
        segments.push(Segment {
            start: seg_start,
            end: rd.pos,
            db: seg_db,
            keys: seg_keys,
        });
    }
    // The EOF opcode and, from version 5, the 8-byte checksum end the file.
    let tail = if version >= 5 { 9 } else { 1 };
    if bytes.len() - rd.pos < tail {
        return Err(Error {
            offset: rd.pos as u64,
            reason: "unexpected end of file".into(),
        });
    }
    Ok(Some((version, segments, aux)))
}

/// One step of [`StreamSplitter::step`].
pub enum Step {
    /// The item is not all there yet.
    More,
    /// A whole item (a key, SELECTDB, an opcode) walked without decoding.
    Skipped,
    /// RESIZEDB, walked: `db` will hold about `keys` keys (a hint).
    Resize {
        db: u64,
        keys: u64,
    },
    Aux(Vec<u8>, Vec<u8>),
    /// An item only the full decoder can walk (a stream, a module type):
    /// decoded here; it is not part of any segment.
    Decoded(Item),
    /// The EOF opcode (not consumed).
    End,
}

/// [`split_body`] for an RDB arriving in pieces: walks items as bytes come,
/// without decoding most of them, so a receiver can hand runs of whole
/// items to threads that decode them ([`decode_segment`]) while the rest
/// of the payload is still on the wire.
pub struct StreamSplitter {
    /// The RDB version, once the header is parsed (0 before).
    pub version: u16,
    /// The database selected at the walked position.
    pub db: u64,
    limits: Limits,
}

impl StreamSplitter {
    pub fn new(limits: Limits) -> StreamSplitter {
        StreamSplitter {
            version: 0,
            db: 0,
            limits,
        }
    }

    fn reader<'a>(&self, buf: &'a [u8], base: u64) -> Rd<'a> {
        Rd {
            buf,
            pos: 0,
            base,
            end: None,
            limits: self.limits,
            version: self.version,
        }
    }

    /// The header's length once `buf` holds it all.
    pub fn header(&mut self, buf: &[u8]) -> Result<Option<usize>, Error> {
        let mut rd = self.reader(buf, 0);
        match rd.header() {
            Ok(v) => {
                self.version = v;
                Ok(Some(rd.pos))
            }
            Err(Fail::More(_)) => Ok(None),
            Err(Fail::Bad(e)) => Err(e),
        }
    }

    /// Walks the item at `buf[pos..]` (`buf[0]` is at offset `base` of the
    /// payload); returns the step and the position after it.
    pub fn step(&mut self, buf: &[u8], pos: usize, base: u64) -> Result<(Step, usize), Error> {
        let rest = &buf[pos..];
        let at = base + pos as u64;
        let mut rd = self.reader(rest, at);
        let step = match rd.skip_item() {
            Ok(Skipped::Key) | Ok(Skipped::Item(None)) => Step::Skipped,
            Ok(Skipped::Resize(keys)) => Step::Resize { db: self.db, keys },
            Ok(Skipped::Item(Some(db))) => {
                self.db = db;
                Step::Skipped
            }
            Ok(Skipped::Aux(k, v)) => Step::Aux(k, v),
            Ok(Skipped::End) => return Ok((Step::End, pos)),
            Ok(Skipped::Cannot) => {
                let mut rd = self.reader(rest, at);
                return match rd.item(self.db) {
                    Ok((item, _)) => {
                        if let Item::SelectDb(db) = item {
                            self.db = db;
                        }
                        Ok((Step::Decoded(item), pos + rd.pos))
                    }
                    Err(Fail::More(_)) => Ok((Step::More, pos)),
                    Err(Fail::Bad(e)) => Err(e),
                };
            }
            Err(Fail::More(_)) => return Ok((Step::More, pos)),
            Err(Fail::Bad(e)) => return Err(e),
        };
        Ok((step, pos + rd.pos))
    }
}

/// Decodes the entries of one [`Segment`] of `bytes` (see [`split_body`]),
/// calling `f` for each; offsets in errors are file offsets.
pub fn decode_segment(
    bytes: &[u8],
    seg: Segment,
    version: u16,
    limits: Limits,
    mut f: impl FnMut(LoadedEntry),
) -> Result<(), Error> {
    let mut rd = Rd {
        buf: &bytes[seg.start..seg.end],
        pos: 0,
        base: seg.start as u64,
        end: Some(seg.end as u64),
        limits,
        version,
    };
    let mut db = seg.db;
    while rd.pos < rd.buf.len() {
        match rd.item(db) {
            Ok((Item::Entry(e), _)) => f(e),
            Ok((Item::SelectDb(d), _)) => db = d,
            Ok(_) => {}
            Err(Fail::Bad(e)) => return Err(e),
            Err(Fail::More(_)) => {
                return Err(Error {
                    offset: rd.abs(rd.pos),
                    reason: "unexpected end of file".into(),
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The splitter walks a real Redis RDB (every type, streams included)
    /// fed in pieces of every size from 1 to 700 bytes: it finds as many
    /// keys (walked or decoded), the same AUX fields and RESIZEDB hints as
    /// the sequential decoder, and ends at the EOF opcode.
    #[test]
    fn stream_splitter_walks_chunked_input_like_the_decoder() {
        let file: &[u8] = include_bytes!("../../tests/fixtures/redis-7.0.15-alltypes.rdb");
        let mut dec = Decoder::new(Limits::default());
        dec.feed(file);
        dec.finish_input();
        let (mut want_keys, mut want_aux, mut want_resize) = (0, Vec::new(), Vec::new());
        let mut db = 0;
        while let Some(item) = dec.next_item().unwrap() {
            match item {
                Item::Entry(_) => want_keys += 1,
                Item::Aux { key, value } => want_aux.push((key, value)),
                Item::SelectDb(d) => db = d,
                Item::ResizeDb { keys, .. } => want_resize.push((db, keys)),
                _ => {}
            }
        }
        assert!(!want_resize.is_empty(), "the fixture has RESIZEDB");
        for piece in [1, 2, 3, 7, 64, 700] {
            let mut sp = StreamSplitter::new(Limits::default());
            let (mut keys, mut aux, mut decoded, mut resize) = (0, Vec::new(), 0, Vec::new());
            let mut have = 0;
            let mut pos = None;
            let mut ended = false;
            while !ended {
                assert!(have < file.len(), "ran out of input, piece {piece}");
                have = (have + piece).min(file.len());
                let buf = &file[..have];
                let mut at = match pos {
                    Some(at) => at,
                    None => match sp.header(buf).unwrap() {
                        Some(n) => n,
                        None => continue,
                    },
                };
                loop {
                    let (step, after) = sp.step(buf, at, 0).unwrap();
                    match step {
                        Step::More => break,
                        Step::Skipped => {
                            // SELECTDB and friends are skipped too: count
                            // keys by the entries they hold below.
                            let mut rd = sp.reader(&buf[at..after], at as u64);
                            if let Ok(Skipped::Key) = rd.skip_item() {
                                keys += 1;
                            }
                        }
                        Step::Aux(k, v) => aux.push((k, v)),
                        Step::Resize { db, keys } => resize.push((db, keys)),
                        Step::Decoded(Item::Entry(_)) => decoded += 1,
                        Step::Decoded(_) => {}
                        Step::End => {
                            assert_eq!(buf[at], 0xFF, "EOF opcode");
                            ended = true;
                            break;
                        }
                    }
                    at = after;
                }
                pos = Some(at);
            }
            assert_eq!(keys + decoded, want_keys, "piece {piece}");
            assert!(decoded > 0, "the fixture has streams: decoded in place");
            assert_eq!(aux, want_aux, "piece {piece}");
            assert_eq!(resize, want_resize, "piece {piece}");
        }
    }
}
