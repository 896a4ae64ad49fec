//! Random datasets for the RDB tests: every value type in each of its
//! encodings, built through the store's own APIs with Redis's default
//! thresholds, so a decoded copy must compare equal.

#![allow(dead_code)]

use crate::common::Rng;
use sluice::rdb::{EncodeOptions, Encoder, KeyMeta, LoadedEntry};
use sluice::store::hash::{HashLimits, HashValue};
use sluice::store::list::{End, Fill, ListValue};
use sluice::store::set::SetValue;
use sluice::store::stream::{NodeLimits, Stream, StreamId};
use sluice::store::zset::ZSetValue;
use sluice::store::Value;

pub fn below(rng: &mut Rng, n: u64) -> u64 {
    rng.next_u64() % n.max(1)
}

fn bytes(rng: &mut Rng, max_len: u64) -> Vec<u8> {
    let len = below(rng, max_len + 1);
    match below(rng, 4) {
        0 => (0..len).map(|_| rng.next_u64() as u8).collect(),
        1 => (0..len).map(|_| b'a' + below(rng, 3) as u8).collect(),
        2 => (0..len).map(|_| b'a' + below(rng, 26) as u8).collect(),
        _ => number(rng),
    }
}

fn number(rng: &mut Rng) -> Vec<u8> {
    let v: i64 = match below(rng, 6) {
        0 => below(rng, 128) as i64,
        1 => below(rng, 9000) as i64 - 4500,
        2 => below(rng, 1 << 20) as i64 - (1 << 19),
        3 => rng.next_u64() as i32 as i64,
        4 => rng.next_u64() as i64,
        _ => [i64::MIN, i64::MAX, 0, -1][below(rng, 4) as usize],
    };
    v.to_string().into_bytes()
}

pub fn string(rng: &mut Rng) -> Value {
    match below(rng, 5) {
        0 => Value::string(&number(rng)),
        1 => Value::string(&bytes(rng, 40)),
        2 => Value::string(&bytes(rng, 300)),
        3 => Value::string_no_int(&vec![b'z'; below(rng, 5000) as usize]),
        _ => Value::string(b""),
    }
}

pub fn list(rng: &mut Rng) -> Value {
    let mut l = ListValue::new();
    let pick = below(rng, 3) as usize;
    let n = 1 + below(rng, [3, 40, 3000][pick]);
    for _ in 0..n {
        let e = match below(rng, 20) {
            0 => vec![b'L'; 9000 + below(rng, 3000) as usize],
            1..=8 => number(rng),
            _ => bytes(rng, 70),
        };
        l.push(&e, End::Tail, Fill::default());
    }
    Value::List(Box::new(l))
}

pub fn set(rng: &mut Rng) -> Value {
    let mut s = SetValue::empty_intset();
    let pick = below(rng, 3) as usize;
    let n = 1 + below(rng, [5, 600, 100][pick]);
    let strings = below(rng, 3) == 0;
    for _ in 0..n {
        let m = if strings { bytes(rng, 30) } else { number(rng) };
        s.add(&m, 512);
    }
    Value::Set(Box::new(s))
}

pub fn hash(rng: &mut Rng) -> Value {
    let mut h = HashValue::default();
    // Redis 7.0's defaults: hash-max-listpack-entries 512, -value 64.
    let limits = HashLimits::new(512, 64);
    let pick = below(rng, 3) as usize;
    let n = 1 + below(rng, [5, 700, 100][pick]);
    let long = below(rng, 4) == 0;
    for _ in 0..n {
        let f = bytes(rng, 20);
        let v = bytes(rng, if long { 200 } else { 60 });
        h.set(&f, &v, limits);
    }
    Value::Hash(h)
}

pub fn zset(rng: &mut Rng) -> Value {
    let pick = below(rng, 3) as usize;
    let n = 1 + below(rng, [5, 300, 100][pick]);
    let first = bytes(rng, 20);
    let mut z = ZSetValue::for_first_member(first.len(), 128, 64);
    for i in 0..n {
        let m = if i == 0 {
            first.clone()
        } else {
            bytes(rng, 80)
        };
        let score = match below(rng, 6) {
            0 => f64::INFINITY,
            1 => f64::NEG_INFINITY,
            2 => below(rng, 1000) as f64 - 500.0,
            3 => (rng.next_u64() as i64) as f64,
            _ => f64::from_bits(
                rng.next_u64() & !(0x7ffu64 << 52) | (0x3ffu64 + below(rng, 60) - 30) << 52,
            ),
        };
        if z.score(&m).is_some() {
            continue;
        }
        z.convert_before_insert(m.len(), 128, 64);
        z.insert(&m, score);
    }
    Value::ZSet(z)
}

pub fn stream(rng: &mut Rng) -> Value {
    let mut s = Stream::new();
    let n = below(rng, 400);
    let fields: Vec<Vec<u8>> = (0..4).map(|i| format!("f{i}").into_bytes()).collect();
    let mut ids = Vec::new();
    for i in 0..n {
        let nf = 1 + below(rng, 3) as usize;
        let same = below(rng, 3) != 0;
        let mut pairs: Vec<Vec<u8>> = Vec::new();
        for field in &fields[..nf] {
            pairs.push(if same { field.clone() } else { bytes(rng, 10) });
            pairs.push(bytes(rng, 30));
        }
        let refs: Vec<&[u8]> = pairs.iter().map(|p| p.as_slice()).collect();
        let id = StreamId::new(1000 + i * below(rng, 3), below(rng, 5));
        if let Ok(id) = s.append(
            &refs,
            Some((id, below(rng, 2) == 0)),
            0,
            NodeLimits::default(),
        ) {
            ids.push(id);
        }
    }
    let mut dels: Vec<StreamId> = Vec::new();
    for id in &ids {
        if below(rng, 5) == 0 {
            dels.push(*id);
        }
    }
    s.delete_ids(&dels);
    for g in 0..below(rng, 3) {
        let name = format!("g{g}").into_bytes();
        let pick = below(rng, ids.len() as u64 + 1) as usize;
        let last = ids.get(pick).copied().unwrap_or_default();
        s.create_group(&name, last, below(rng, 50) as i64);
        let grp = s.group_mut(&name).unwrap();
        for c in 0..below(rng, 3) {
            let cname = format!("c{c}").into_bytes();
            grp.create_consumer(&cname, 1_700_000_000_000 + c as i64);
            let mine: Vec<StreamId> = ids
                .iter()
                .copied()
                .filter(|_| rng.next_u64() % 10 == 0)
                .collect();
            for id in &mine {
                grp.pel.entry(*id).or_insert(sluice::store::stream::Nack {
                    delivery_time: 1_700_000_000_123,
                    delivery_count: 1 + below(rng, 5),
                    consumer: cname.clone(),
                });
                grp.assign(*id, &cname);
            }
        }
    }
    Value::Stream(Box::new(s))
}

pub fn value(rng: &mut Rng) -> Value {
    match below(rng, 6) {
        0 => string(rng),
        1 => list(rng),
        2 => set(rng),
        3 => hash(rng),
        4 => zset(rng),
        _ => stream(rng),
    }
}

/// A dataset: `(db, key, value, expire_ms)`, keys unique per db.
pub fn dataset(rng: &mut Rng, keys: usize) -> Vec<LoadedEntry> {
    let mut out = Vec::new();
    for i in 0..keys {
        let db = [0, 0, 0, 1, 9][below(rng, 5) as usize];
        let expire_ms = (below(rng, 4) == 0).then(|| 4_102_444_800_000 + below(rng, 1000));
        out.push(LoadedEntry {
            db,
            key: format!("k{i}:{}", below(rng, 1000)).as_bytes().into(),
            value: value(rng),
            expire_ms,
            idle: None,
            freq: None,
        });
    }
    out.sort_by_key(|e| e.db);
    out
}

/// Writes a dataset as a whole RDB file.
pub fn write_rdb(entries: &[LoadedEntry], opts: EncodeOptions) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = Encoder::new(opts);
    e.header(&mut out);
    e.aux(&mut out, b"redis-ver", b"7.0.15");
    e.aux(&mut out, b"redis-bits", b"64");
    e.aux(&mut out, b"ctime", b"1700000000");
    e.aux(&mut out, b"used-mem", b"1000000");
    e.aux(&mut out, b"aof-base", b"0");
    let mut i = 0;
    while i < entries.len() {
        let db = entries[i].db;
        let j = i + entries[i..].iter().take_while(|x| x.db == db).count();
        let expires = entries[i..j]
            .iter()
            .filter(|x| x.expire_ms.is_some())
            .count();
        e.select_db(&mut out, db);
        e.resize_db(&mut out, (j - i) as u64, expires as u64);
        for x in &entries[i..j] {
            let meta = KeyMeta {
                expire_ms: x.expire_ms,
                idle: x.idle,
                freq: x.freq,
            };
            e.entry(&mut out, &x.key, &x.value, meta);
        }
        i = j;
    }
    e.finish(&mut out);
    out
}

/// DEBUG DIGEST of a dataset, as Redis computes it.
pub fn digest(entries: &[LoadedEntry]) -> String {
    use sluice::store::digest::{add_db, hex, mix, value_digest, xor};
    let mut dbs: std::collections::BTreeMap<u64, ([u8; 20], usize)> = Default::default();
    for e in entries {
        let mut d = [0u8; 20];
        mix(&mut d, &e.key);
        value_digest(&mut d, &e.value, e.expire_ms.is_some());
        let slot = dbs.entry(e.db).or_insert(([0; 20], 0));
        xor(&mut slot.0, &d);
        slot.1 += 1;
    }
    let mut fin = [0u8; 20];
    for (db, (d, n)) in &dbs {
        add_db(&mut fin, *db as usize, *n, d);
    }
    if dbs.is_empty() {
        return "0".repeat(40);
    }
    hex(&fin)
}
