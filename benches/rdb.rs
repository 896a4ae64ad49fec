//! RDB throughput: encoding and decoding a mixed dataset (strings, lists,
//! hashes, sets, zsets), with LZF on and off, and CRC64 over 1 MiB.
//! Inputs are built outside the timed closures.
//!
//! Run: `cargo bench --bench rdb`. Under `cargo test --benches` each bench
//! runs once, so the file cannot rot.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice::rdb::{crc64, decode_all, EncodeOptions, Encoder, KeyMeta, Limits};
use sluice::store::hash::{HashLimits, HashValue};
use sluice::store::list::{End, Fill, ListValue};
use sluice::store::set::SetValue;
use sluice::store::zset::ZSetValue;
use sluice::store::Value;

/// About 20 MB of values: what a small production snapshot holds.
fn dataset() -> Vec<(Vec<u8>, Value)> {
    let mut out = Vec::new();
    let mut x = 0x2545F4914F6CDD1Du64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..20_000u64 {
        let key = format!("key:{i:08}").into_bytes();
        let v = match i % 6 {
            0 => Value::string(format!("{}", rnd() % 1_000_000).as_bytes()),
            1 => {
                let s: Vec<u8> = (0..400).map(|_| b'a' + (rnd() % 26) as u8).collect();
                Value::string(&s)
            }
            2 => {
                let mut l = ListValue::new();
                for j in 0..100 {
                    l.push(
                        format!("item-{j}-{}", rnd() % 1000).as_bytes(),
                        End::Tail,
                        Fill::default(),
                    );
                }
                Value::List(Box::new(l))
            }
            3 => {
                let mut h = HashValue::default();
                let n = if i % 12 == 3 { 300 } else { 50 };
                for j in 0..n {
                    h.set(
                        format!("field{j}").as_bytes(),
                        format!("value-{}", rnd()).as_bytes(),
                        HashLimits::new(128, 64),
                    );
                }
                Value::Hash(h)
            }
            4 => {
                let mut s = SetValue::empty_intset();
                for _ in 0..100 {
                    s.add(format!("{}", rnd() % 100_000).as_bytes(), 512);
                }
                Value::Set(Box::new(s))
            }
            _ => {
                let mut z = ZSetValue::for_first_member(8, 128, 64);
                let n = if i % 12 == 5 { 300 } else { 60 };
                for j in 0..n {
                    let m = format!("member{j}");
                    z.convert_before_insert(m.len(), 128, 64);
                    z.insert(m.as_bytes(), (rnd() % 10_000) as f64 / 7.0);
                }
                Value::ZSet(z)
            }
        };
        out.push((key, v));
    }
    out
}

fn encode(data: &[(Vec<u8>, Value)], compress: bool) -> Vec<u8> {
    let opts = EncodeOptions {
        compress,
        ..EncodeOptions::default()
    };
    let mut out = Vec::new();
    let mut e = Encoder::new(opts);
    e.header(&mut out);
    e.select_db(&mut out, 0);
    e.resize_db(&mut out, data.len() as u64, 0);
    for (k, v) in data {
        e.entry(&mut out, k, v, KeyMeta::default());
    }
    e.finish(&mut out);
    out
}

fn bench(c: &mut Criterion) {
    let data = dataset();
    for compress in [false, true] {
        let bytes = encode(&data, compress);
        let name = if compress { "lzf" } else { "plain" };
        let mut g = c.benchmark_group(format!("rdb_{name}"));
        g.sample_size(10);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("encode", |b| b.iter(|| black_box(encode(&data, compress))));
        g.bench_function("decode", |b| {
            b.iter(|| black_box(decode_all(&bytes, Limits::default()).unwrap().len()))
        });
        g.finish();
    }
    // The full-sync benchmark's dataset (tuning/bench-sync.py): 100
    // random bytes per key, where LZF can only fail.
    let mut x = 0x9E3779B97F4A7C15u64;
    let random: Vec<(Vec<u8>, Value)> = (0..100_000u64)
        .map(|i| {
            let v: Vec<u8> = (0..100)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            (format!("key:{i}").into_bytes(), Value::string(&v))
        })
        .collect();
    let mut g = c.benchmark_group("rdb_random100");
    g.sample_size(20);
    g.throughput(Throughput::Elements(random.len() as u64));
    for compress in [false, true] {
        let name = if compress {
            "encode_lzf"
        } else {
            "encode_plain"
        };
        g.bench_function(name, |b| b.iter(|| black_box(encode(&random, compress))));
    }
    g.finish();
    let buf: Vec<u8> = (0..1 << 20).map(|i| (i * 31 % 251) as u8).collect();
    let mut g = c.benchmark_group("crc64");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("1MiB", |b| b.iter(|| black_box(crc64::checksum(&buf))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
