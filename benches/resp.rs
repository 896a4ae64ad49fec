//! RESP throughput: the request parser on a pipeline of SETs (whole, and in
//! TCP-segment-sized pieces), and the reply encoder on bulk and integer
//! replies. Inputs are built outside the timed closures.
//!
//! Run: `cargo bench --bench resp`. Under `cargo test --benches` each bench
//! runs once, so the file cannot rot.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice::protocol::{Argv, Limits, Parsed, ReplyBuf, RequestParser};

/// Requests per pipeline.
const PIPELINE_LEN: usize = 16;
/// Bytes per SET value.
const VALUE_LEN: usize = 100;
/// A typical TCP payload per segment on Ethernet.
const SEGMENT_LEN: usize = 1460;

/// `PIPELINE_LEN` x `SET key:000123 <100-byte value>` as RESP multibulks.
fn set_pipeline() -> Vec<u8> {
    let value = vec![b'v'; VALUE_LEN];
    let mut out = Vec::new();
    for i in 0..PIPELINE_LEN {
        let key = format!("key:{:06}", 123 + i);
        out.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n", key.len()).as_bytes());
        out.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
        out.extend_from_slice(&value);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses `input` as a connection would, receiving it `segment` bytes at a
/// time; returns the number of arguments seen.
fn parse_stream(
    input: &[u8],
    segment: usize,
    parser: &mut RequestParser,
    argv: &mut Argv,
) -> usize {
    let limits = Limits::default();
    let (mut pos, mut received, mut args) = (0, segment.min(input.len()), 0);
    while pos < input.len() {
        match parser.parse(&input[pos..received], &limits, argv) {
            Ok(Parsed::Complete { consumed }) => {
                pos += consumed;
                args += argv.len();
                argv.clear();
            }
            Ok(Parsed::Incomplete { consumed }) => {
                pos += consumed;
                if consumed == 0 {
                    received = (received + segment).min(input.len());
                }
            }
            Err(e) => panic!("bench input rejected: {e}"),
        }
    }
    args
}

fn parse(c: &mut Criterion) {
    let input = set_pipeline();
    let mut group = c.benchmark_group("resp_parse");
    group.throughput(Throughput::Bytes(input.len() as u64));
    for (name, segment) in [
        ("set_pipeline16", usize::MAX),
        ("set_pipeline16_segmented", SEGMENT_LEN),
    ] {
        let mut parser = RequestParser::new();
        let mut argv = Argv::new();
        assert_eq!(
            parse_stream(&input, segment, &mut parser, &mut argv),
            3 * PIPELINE_LEN
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(parse_stream(
                    black_box(&input),
                    segment,
                    &mut parser,
                    &mut argv,
                ))
            })
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let value = vec![b'v'; VALUE_LEN];
    let ints: Vec<i64> = (0..PIPELINE_LEN as i64)
        .map(|i| i * 1_000_003 - 7)
        .collect();
    let mut group = c.benchmark_group("resp_encode");

    let mut out = ReplyBuf::new(false);
    let encode_bulks = |out: &mut ReplyBuf| {
        out.buf.clear();
        for _ in 0..PIPELINE_LEN {
            out.bulk(black_box(&value));
        }
    };
    encode_bulks(&mut out);
    group.throughput(Throughput::Bytes(out.buf.len() as u64));
    group.bench_function("bulk100_x16", |b| {
        b.iter(|| {
            encode_bulks(&mut out);
            black_box(out.buf.len())
        })
    });

    let encode_ints = |out: &mut ReplyBuf| {
        out.buf.clear();
        for &n in &ints {
            out.int(black_box(n));
        }
    };
    encode_ints(&mut out);
    group.throughput(Throughput::Bytes(out.buf.len() as u64));
    group.bench_function("int_x16", |b| {
        b.iter(|| {
            encode_ints(&mut out);
            black_box(out.buf.len())
        })
    });
    group.finish();
}

criterion_group!(benches, parse, encode);
criterion_main!(benches);
