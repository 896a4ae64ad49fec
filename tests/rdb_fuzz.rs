//! Fuzz-style: random mutations and truncations of valid RDB files (ours
//! and the real ones in tests/fixtures) through the decoder and
//! restore_payload. Nothing may panic, and a counting allocator checks
//! that no decode allocates more than a small multiple of its input.
//! Seeded (printed; rerun with SLUICE_SEED=<n>).

mod common;
mod rdb_support;

use common::Rng;
use rdb_support::{below, dataset, value, write_rdb};
use sluice::rdb::{decode_all, dump_payload, restore_payload, Decoder, EncodeOptions, Limits};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Tracks live and peak heap bytes (this test binary has a single test,
/// so nothing else allocates concurrently).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + below(rng, 4) {
        if b.is_empty() {
            break;
        }
        let at = below(rng, b.len() as u64) as usize;
        match below(rng, 6) {
            0 => b[at] ^= 1 << below(rng, 8),
            1 => b[at] = rng.next_u64() as u8,
            2 => b.truncate(at),
            3 => {
                let v =
                    [0x00, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xc0, 0xc3, 0xff][below(rng, 9) as usize];
                b[at] = v;
            }
            4 => {
                let end = (at + 1 + below(rng, 16) as usize).min(b.len());
                b.drain(at..end);
            }
            _ => {
                let big = [0x81u8, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
                let end = (at + big.len()).min(b.len());
                b.splice(at..end, big);
            }
        }
    }
    b
}

/// Runs `f`, checking the peak heap growth stays under 100x `input_len` +
/// 4 MiB (LZF may legitimately expand 88x).
fn bounded(input_len: usize, what: &str, f: impl FnOnce()) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    let grew = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    assert!(
        grew <= input_len * 100 + (4 << 20),
        "{what}: {grew} bytes allocated for {input_len} bytes of input"
    );
}

#[test]
fn mutated_inputs_never_panic_or_balloon() {
    let mut rng = Rng::from_env();
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    for _ in 0..4 {
        let entries = dataset(&mut rng, 8);
        corpus.push(write_rdb(&entries, EncodeOptions::default()));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for name in [
        "redis-7.0.15-alltypes.rdb",
        "valkey-8.0.1-alltypes.rdb",
        "redis-assets/encodings.rdb",
        "redis-assets/hash-zipmap.rdb",
        "redis-assets/hash-ziplist.rdb",
        "redis-assets/list-quicklist.rdb",
        "redis-assets/zset-ziplist.rdb",
    ] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            corpus.push(b);
        }
    }
    let iterations = 1500;
    for i in 0..iterations {
        let base = &corpus[i % corpus.len()];
        let input = mutate(&mut rng, base);
        bounded(input.len(), "decode_all", || {
            let _ = decode_all(&input, Limits::default());
        });
        // The parallel loader's path: skip-scan into segments, decode each.
        bounded(input.len(), "segments", || {
            if let Ok(Some((version, segments, _))) =
                sluice::rdb::decode::split_body(&input, 1 + i % 300)
            {
                for seg in segments {
                    let _ = sluice::rdb::decode::decode_segment(
                        &input,
                        seg,
                        version,
                        Limits::default(),
                        |_| {},
                    );
                }
            }
        });
        // The incremental path without a known length, in odd chunks.
        if i % 10 == 0 {
            bounded(input.len(), "chunked", || {
                let mut d = Decoder::new(Limits::default());
                for chunk in input.chunks(1 + i % 777) {
                    d.feed(chunk);
                    while let Ok(Some(_)) = d.next_item() {}
                }
                d.finish_input();
                while let Ok(Some(_)) = d.next_item() {}
            });
        }
    }
    for _ in 0..1000 {
        let v = value(&mut rng);
        let p = dump_payload(&v);
        // Mutate the body, then fix the CRC so the decoder itself is hit.
        let mut m = mutate(&mut rng, &p[..p.len() - 10]);
        m.extend_from_slice(&10u16.to_le_bytes());
        let crc = sluice::rdb::crc64::checksum(&m);
        m.extend_from_slice(&crc.to_le_bytes());
        bounded(m.len(), "restore_payload", || {
            let _ = restore_payload(&m);
        });
    }
}
