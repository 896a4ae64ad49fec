//! RDB writer: the layout and value encodings Redis 7.0's `rdbSaveRio` /
//! `rdbSaveObject` produce, so redis-server 7.0 and redis-check-rdb accept
//! the output.
//!
//! Sans-IO: every method appends to a caller's `Vec<u8>` (which the caller
//! may flush and clear between calls) and folds the appended bytes into
//! the running CRC.

use super::{crc64, lzf, opcodes, types, QUICKLIST_NODE_PACKED, RDB_VERSION};
use crate::store::hash::HashValue;
use crate::store::list::{Elem, ListValue};
use crate::store::listpack::{self, Listpack};
use crate::store::set::{Member, SetValue};
use crate::store::stream::Stream;
use crate::store::zset::ZSetValue;
use crate::store::Value;

/// Writer settings (`rdbcompression`, `rdbchecksum`, the version).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Written in the header and in DUMP payloads; 10..=12. Only the
    /// header changes: the value encodings are 7.0's, which later
    /// versions still read.
    pub version: u16,
    /// LZF-compress strings longer than 20 bytes when it saves 4 bytes.
    pub compress: bool,
    /// Write the CRC64 trailer (else 0, which readers skip).
    pub checksum: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            version: RDB_VERSION,
            compress: true,
            checksum: true,
        }
    }
}

/// Per-key metadata written before the type byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyMeta {
    /// Absolute unix ms (`EXPIRETIME_MS`).
    pub expire_ms: Option<u64>,
    /// Seconds idle (`IDLE`, written under LRU policies).
    pub idle: Option<u64>,
    /// LFU counter (`FREQ`, written under LFU policies).
    pub freq: Option<u8>,
}

/// An RDB snapshot being written.
pub struct Encoder {
    opts: EncodeOptions,
    crc: crc64::Running,
}

impl Encoder {
    pub fn new(opts: EncodeOptions) -> Encoder {
        Encoder {
            opts,
            crc: crc64::running(),
        }
    }

    pub fn options(&self) -> EncodeOptions {
        self.opts
    }

    fn track(&mut self, out: &[u8], start: usize) {
        if self.opts.checksum {
            self.crc.update(&out[start..]);
        }
    }

    /// `REDIS00vv`.
    pub fn header(&mut self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(format!("REDIS{:04}", self.opts.version).as_bytes());
        self.track(out, start);
    }

    /// An AUX field (`redis-ver`, `repl-id`, ...).
    pub fn aux(&mut self, out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
        let start = out.len();
        out.push(opcodes::AUX);
        write_string(out, key, self.opts.compress);
        write_string(out, value, self.opts.compress);
        self.track(out, start);
    }

    pub fn select_db(&mut self, out: &mut Vec<u8>, db: u64) {
        let start = out.len();
        out.push(opcodes::SELECTDB);
        write_len(out, db);
        self.track(out, start);
    }

    /// `RESIZEDB`: the db's key count and how many of them expire.
    pub fn resize_db(&mut self, out: &mut Vec<u8>, keys: u64, expires: u64) {
        let start = out.len();
        out.push(opcodes::RESIZEDB);
        write_len(out, keys);
        write_len(out, expires);
        self.track(out, start);
    }

    /// One key: `[EXPIRETIME_MS] [IDLE|FREQ] type key value`.
    pub fn entry(&mut self, out: &mut Vec<u8>, key: &[u8], value: &Value, meta: KeyMeta) {
        let start = out.len();
        write_entry(out, key, value, meta, self.opts.compress);
        self.track(out, start);
    }

    /// `EOF` and the CRC64 (0 when checksums are off). Returns the CRC.
    pub fn finish(mut self, out: &mut Vec<u8>) -> u64 {
        let start = out.len();
        out.push(opcodes::EOF);
        self.track(out, start);
        let crc = if self.opts.checksum {
            self.crc.finalize()
        } else {
            0
        };
        out.extend_from_slice(&crc.to_le_bytes());
        crc
    }
}

/// One key as [`Encoder::entry`] writes it, outside any checksum (a
/// snapshot's preimages, encoded ahead of their stripe).
pub fn write_entry(out: &mut Vec<u8>, key: &[u8], value: &Value, meta: KeyMeta, compress: bool) {
    if let Some(ms) = meta.expire_ms {
        out.push(opcodes::EXPIRETIME_MS);
        out.extend_from_slice(&ms.to_le_bytes());
    }
    if let Some(idle) = meta.idle {
        out.push(opcodes::IDLE);
        write_len(out, idle);
    } else if let Some(freq) = meta.freq {
        out.push(opcodes::FREQ);
        out.push(freq);
    }
    out.push(value_type(value));
    write_string(out, key, compress);
    write_value(out, value, compress);
}

/// A length (`rdbSaveLen`): 6-bit, 14-bit big-endian, 32 or 64 bit BE.
pub fn write_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// `rdbEncodeInteger`: the 8/16/32-bit forms, if `v` fits one.
fn write_int_encoded(out: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(b) = i8::try_from(v) {
        out.push(0xC0);
        out.push(b as u8);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(0xC1);
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(0xC2);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// A string as `rdbSaveRawString` writes it: the integer form for short
/// canonical integers, LZF when enabled, longer than 20 bytes and at
/// least 4 bytes smaller, else length + bytes.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(v) = crate::num::parse_i64(s) {
            if itoa::Buffer::new().format(v).as_bytes() == s && write_int_encoded(out, v) {
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        let done = lzf::with_compressed(s, s.len() - 4, |c| {
            out.push(0xC3);
            write_len(out, c.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(c);
        });
        if done.is_some() {
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// An integer-encoded string object (`rdbSaveLongLongAsStringObject`).
fn write_int_string(out: &mut Vec<u8>, v: i64) {
    if !write_int_encoded(out, v) {
        let mut buf = itoa::Buffer::new();
        let text = buf.format(v).as_bytes();
        write_len(out, text.len() as u64);
        out.extend_from_slice(text);
    }
}

/// The type byte Redis 7.0 writes for `value` (`rdbSaveObjectType`).
pub fn value_type(value: &Value) -> u8 {
    match value {
        Value::Int(_) | Value::Inline(_) | Value::Emb(_) | Value::Raw(_) => types::STRING,
        Value::List(_) => types::LIST_QUICKLIST_2,
        Value::Set(s) => match **s {
            SetValue::Intset(_) => types::SET_INTSET,
            SetValue::Hashtable(_) => types::SET,
        },
        Value::ZSet(z) => match *z {
            ZSetValue::Small(_) => types::ZSET_LISTPACK,
            ZSetValue::Big(_) => types::ZSET_2,
        },
        Value::Hash(h) => match *h {
            HashValue::Listpack(_) => types::HASH_LISTPACK,
            HashValue::Table(_) => types::HASH,
        },
        Value::Stream(_) => types::STREAM_LISTPACKS_2,
    }
}

/// The value's payload (`rdbSaveObject`), without the type byte.
pub fn write_value(out: &mut Vec<u8>, value: &Value, compress: bool) {
    match value {
        Value::Int(n) => write_int_string(out, *n),
        Value::Inline(b) => write_string(out, b.as_bytes(), compress),
        Value::Emb(b) => write_string(out, b, compress),
        Value::Raw(b) => write_string(out, b, compress),
        Value::List(l) => write_list(out, l, compress),
        Value::Set(s) => write_set(out, s, compress),
        Value::ZSet(z) => write_zset(out, z, compress),
        Value::Hash(h) => write_hash(out, h, compress),
        Value::Stream(s) => write_stream(out, s, compress),
    }
}

/// Packed quicklist nodes hold at most this many listpack bytes (the
/// default `list-max-listpack-size -2`).
const NODE_BYTES_MAX: usize = 8192;

fn write_list(out: &mut Vec<u8>, list: &ListValue, compress: bool) {
    let mut nodes: Vec<Listpack> = Vec::new();
    let mut cur = Listpack::new();
    let mut count = 0usize;
    for elem in list.iter() {
        let add = match elem {
            Elem::Int(n) => listpack::int_entry_bytes(n),
            Elem::Str(b) => listpack::str_entry_bytes(b),
        };
        if count > 0 && (cur.total_bytes() + add > NODE_BYTES_MAX || count >= u16::MAX as usize - 1)
        {
            nodes.push(std::mem::take(&mut cur));
            count = 0;
        }
        match elem {
            Elem::Int(n) => cur.append_int(n),
            Elem::Str(b) => cur.append_str(b),
        }
        count += 1;
    }
    if count > 0 {
        nodes.push(cur);
    }
    write_len(out, nodes.len() as u64);
    for node in &nodes {
        write_len(out, QUICKLIST_NODE_PACKED);
        write_string(out, node.as_bytes(), compress);
    }
}

fn write_set(out: &mut Vec<u8>, set: &SetValue, compress: bool) {
    match set {
        SetValue::Intset(_) => {
            let members: Vec<i64> = set
                .iter()
                .map(|m| match m {
                    Member::Int(n) => n,
                    Member::Bytes(b) => crate::num::parse_i64(b).unwrap_or(0),
                })
                .collect();
            let width: u32 = members.iter().fold(2, |w, &n| {
                w.max(if i16::try_from(n).is_ok() {
                    2
                } else if i32::try_from(n).is_ok() {
                    4
                } else {
                    8
                })
            });
            let mut blob = Vec::with_capacity(8 + members.len() * width as usize);
            blob.extend_from_slice(&width.to_le_bytes());
            blob.extend_from_slice(&(members.len() as u32).to_le_bytes());
            for n in members {
                blob.extend_from_slice(&n.to_le_bytes()[..width as usize]);
            }
            write_string(out, &blob, compress);
        }
        SetValue::Hashtable(_) => {
            write_len(out, set.len() as u64);
            let ptr = |m: Member| match m {
                Member::Bytes(b) => [b.as_ptr()],
                Member::Int(_) => [std::ptr::null()],
            };
            for m in prefetched(set.iter(), ptr) {
                m.with_bytes(|b| write_string(out, b, compress));
            }
        }
    }
}

fn write_hash(out: &mut Vec<u8>, hash: &HashValue, compress: bool) {
    match hash {
        HashValue::Listpack(_) => {
            let mut lp = Listpack::new();
            for (f, v) in hash.iter() {
                lp.append_str(f);
                lp.append_str(v);
            }
            write_string(out, lp.as_bytes(), compress);
        }
        HashValue::Table(_) => {
            write_len(out, hash.len() as u64);
            for (f, v) in prefetched(hash.iter(), |(f, v)| [f.as_ptr(), v.as_ptr()]) {
                write_string(out, f, compress);
                write_string(out, v, compress);
            }
        }
    }
}

/// Elements fetched ahead of the one being written.
const ELEMENTS_AHEAD: usize = 8;

/// `items` with the bytes each points to (`ptrs`) asked into the cache
/// [`ELEMENTS_AHEAD`] items early: a big collection's elements are
/// allocations of their own, a cache miss each, which made most of
/// encoding one (a snapshot's driver holds the stripe meanwhile; a first
/// in-place write during a snapshot encodes it on the command's thread).
/// A 1M-field hash: 111-117 ms -> 48-55 ms.
fn prefetched<T: Copy, const N: usize>(
    mut items: impl Iterator<Item = T>,
    ptrs: impl Fn(T) -> [*const u8; N],
) -> impl Iterator<Item = T> {
    let mut ring = std::collections::VecDeque::with_capacity(ELEMENTS_AHEAD + 1);
    std::iter::from_fn(move || {
        while ring.len() <= ELEMENTS_AHEAD {
            let Some(item) = items.next() else {
                break;
            };
            for p in ptrs(item) {
                crate::io::sys::prefetch(p);
            }
            ring.push_back(item);
        }
        ring.pop_front()
    })
}

/// util.c `double2ll`: integral and within +-2^62.
fn double_as_i64(d: f64) -> Option<i64> {
    const LIM: f64 = (i64::MAX / 2) as f64;
    if !(-LIM..=LIM).contains(&d) {
        return None;
    }
    let v = d as i64;
    (v as f64 == d).then_some(v)
}

fn write_zset(out: &mut Vec<u8>, zset: &ZSetValue, compress: bool) {
    match zset {
        ZSetValue::Small(_) => {
            let mut lp = Listpack::new();
            let mut text = Vec::new();
            for (score, member) in zset.iter() {
                lp.append_str(member);
                match double_as_i64(score) {
                    Some(v) => lp.append_int(v),
                    None => {
                        text.clear();
                        crate::num::fmt_g17(score, &mut text);
                        lp.append_str(&text);
                    }
                }
            }
            write_string(out, lp.as_bytes(), compress);
        }
        ZSetValue::Big(_) => {
            write_len(out, zset.len() as u64);
            for (score, member) in prefetched(zset.iter().rev(), |(_, m)| [m.as_ptr()]) {
                write_string(out, member, compress);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
    }
}

fn write_id(out: &mut Vec<u8>, id: crate::store::stream::StreamId) {
    write_len(out, id.ms);
    write_len(out, id.seq);
}

fn write_stream(out: &mut Vec<u8>, s: &Stream, compress: bool) {
    write_len(out, s.node_count() as u64);
    for (master, lp) in s.nodes() {
        write_string(out, &master.encode(), compress);
        write_string(out, lp, compress);
    }
    write_len(out, s.length);
    write_id(out, s.last_id);
    write_id(out, s.first_id);
    write_id(out, s.max_deleted_entry_id);
    write_len(out, s.entries_added);
    write_len(out, s.group_count() as u64);
    for (name, g) in s.groups() {
        write_string(out, name, compress);
        write_id(out, g.last_id);
        write_len(out, g.entries_read as u64);
        write_len(out, g.pel.len() as u64);
        for (id, nack) in &g.pel {
            out.extend_from_slice(&id.encode());
            out.extend_from_slice(&nack.delivery_time.to_le_bytes());
            write_len(out, nack.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            write_string(out, cname, compress);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            write_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&id.encode());
            }
        }
    }
}

/// One value as DUMP serializes it: type byte + payload.
pub fn encode_value(value: &Value, compress: bool) -> Vec<u8> {
    let mut out = vec![value_type(value)];
    write_value(&mut out, value, compress);
    out
}

/// Redis's DUMP payload: the value, the 2-byte RDB version (LE) and the
/// CRC64 (LE) of everything before it. Compressed, version 10.
pub fn dump_payload(value: &Value) -> Vec<u8> {
    dump_payload_with(value, EncodeOptions::default())
}

/// [`dump_payload`] with explicit options (`rdbcompression`, version).
pub fn dump_payload_with(value: &Value, opts: EncodeOptions) -> Vec<u8> {
    let mut out = encode_value(value, opts.compress);
    out.extend_from_slice(&opts.version.to_le_bytes());
    let crc = crc64::checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_rdb_vectors() {
        let mut out = Vec::new();
        let mut e = Encoder::new(EncodeOptions::default());
        e.header(&mut out);
        e.finish(&mut out);
        let mut want = b"REDIS0010\xff".to_vec();
        want.extend_from_slice(&[0xa9, 0xfd, 0x37, 0xfe, 0x89, 0xa7, 0x7e, 0xeb]);
        assert_eq!(out, want);

        let mut out = Vec::new();
        let mut e = Encoder::new(EncodeOptions::default());
        e.header(&mut out);
        e.select_db(&mut out, 0);
        e.resize_db(&mut out, 1, 0);
        e.entry(&mut out, b"foo", &Value::string(b"bar"), KeyMeta::default());
        e.finish(&mut out);
        let mut want = b"REDIS0010\xfe\x00\xfb\x01\x00\x00\x03foo\x03bar\xff".to_vec();
        want.extend_from_slice(&[0xa1, 0x25, 0xe4, 0x1c, 0x1a, 0xd0, 0x7c, 0x4c]);
        assert_eq!(out, want);
    }

    #[test]
    fn string_forms() {
        let enc = |s: &[u8]| {
            let mut out = Vec::new();
            write_string(&mut out, s, true);
            out
        };
        assert_eq!(enc(b"12"), [0xC0, 12]);
        assert_eq!(enc(b"-300"), [0xC1, 0xD4, 0xFE]);
        assert_eq!(enc(b"70000"), [0xC2, 0x70, 0x11, 0x01, 0x00]);
        assert_eq!(enc(b"012"), b"\x03012");
        assert_eq!(enc(b"-0"), b"\x02-0");
        assert_eq!(enc(b"12345678901"), b"\x0b12345678901");
        assert_eq!(enc(&[b'a'; 30])[0], 0xC3);
        assert_eq!(enc(&[b'a'; 20])[0], 20);
        let mut out = Vec::new();
        write_int_string(&mut out, 1 << 40);
        assert_eq!(out, b"\x0d1099511627776");
        let mut out = Vec::new();
        write_len(&mut out, 16383);
        write_len(&mut out, 16384);
        write_len(&mut out, 1 << 33);
        assert_eq!(
            out,
            [0x7f, 0xff, 0x80, 0, 0, 0x40, 0, 0x81, 0, 0, 0, 2, 0, 0, 0, 0]
        );
    }
}
