//! Encoder -> decoder round trips over random datasets (seeded; the seed is
//! printed, rerun with SLUICE_SEED=<n>): every type in each encoding, fed
//! to the incremental decoder in random chunk sizes; DUMP payloads.

mod common;
mod rdb_support;

use common::Rng;
use rdb_support::{below, dataset, value, write_rdb};
use sluice::rdb::{
    dump_payload, dump_payload_with, restore_payload, Checksum, Decoder, EncodeOptions, Item,
    Limits, RestoreError, DUMP_PAYLOAD_ERROR,
};

fn decode_chunked(bytes: &[u8], rng: &mut Rng) -> Vec<Item> {
    let mut d = Decoder::new(Limits::default());
    let mut items = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let n = match below(rng, 3) {
            0 => 1 + below(rng, 8) as usize,
            1 => 1 + below(rng, 4096) as usize,
            _ => 1 + below(rng, 200_000) as usize,
        };
        let end = (pos + n).min(bytes.len());
        d.feed(&bytes[pos..end]);
        pos = end;
        while let Some(item) = d.next_item().expect("decode") {
            items.push(item);
        }
    }
    d.finish_input();
    while let Some(item) = d.next_item().expect("decode") {
        items.push(item);
    }
    assert!(d.is_done());
    items
}

#[test]
fn random_datasets_round_trip_through_chunked_decoding() {
    let mut rng = Rng::from_env();
    for round in 0..12 {
        let n = 1 + below(&mut rng, 40) as usize;
        let entries = dataset(&mut rng, n);
        let opts = EncodeOptions {
            version: 10,
            compress: below(&mut rng, 2) == 0,
            checksum: below(&mut rng, 4) != 0,
        };
        let bytes = write_rdb(&entries, opts);
        let items = decode_chunked(&bytes, &mut rng);
        let got: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                Item::Entry(e) => Some(e.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(got.len(), entries.len(), "round {round}");
        for (g, w) in got.iter().zip(&entries) {
            assert_eq!(
                g,
                w,
                "round {round} key {}",
                String::from_utf8_lossy(&w.key)
            );
            assert_eq!(g.value.encoding(), w.value.encoding());
        }
        match items.last() {
            Some(Item::End { checksum }) => assert_eq!(
                matches!(checksum, Checksum::Verified(_)),
                opts.checksum,
                "round {round}"
            ),
            other => panic!("last item {other:?}"),
        }
        // Whole-buffer decoding agrees with chunked decoding.
        assert_eq!(
            sluice::rdb::decode_all(&bytes, Limits::default()).unwrap(),
            items
        );
    }
}

#[test]
fn dump_payloads_round_trip_and_are_checked() {
    let mut rng = Rng::from_env();
    for _ in 0..200 {
        let v = value(&mut rng);
        let p = dump_payload(&v);
        assert_eq!(restore_payload(&p).unwrap(), v);
        let plain = dump_payload_with(
            &v,
            EncodeOptions {
                compress: false,
                ..EncodeOptions::default()
            },
        );
        assert_eq!(restore_payload(&plain).unwrap(), v);
        // Any flipped bit is caught by the CRC.
        let mut bad = p.clone();
        let at = below(&mut rng, bad.len() as u64) as usize;
        bad[at] ^= 1 << below(&mut rng, 8);
        let e = restore_payload(&bad).unwrap_err();
        assert_eq!(e, RestoreError::VersionOrChecksum);
        assert_eq!(e.redis_message(), DUMP_PAYLOAD_ERROR);
    }
    // A newer version than we read.
    let v = sluice::store::Value::string(b"x");
    let p = dump_payload_with(
        &v,
        EncodeOptions {
            version: 13,
            ..EncodeOptions::default()
        },
    );
    assert_eq!(restore_payload(&p), Err(RestoreError::VersionOrChecksum));
    assert_eq!(
        restore_payload(b"short"),
        Err(RestoreError::VersionOrChecksum)
    );
}

#[test]
fn decoder_reports_truncation_offsets() {
    let mut rng = Rng::new(7);
    let entries = dataset(&mut rng, 5);
    let bytes = write_rdb(&entries, EncodeOptions::default());
    for cut in [0, 5, 9, 10, bytes.len() / 2, bytes.len() - 1] {
        let e = sluice::rdb::decode_all(&bytes[..cut], Limits::default()).unwrap_err();
        assert!(e.offset <= cut as u64, "{cut}: {e}");
    }
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 1] ^= 0xff;
    let e = sluice::rdb::decode_all(&bad, Limits::default()).unwrap_err();
    assert!(e.reason.contains("checksum"), "{e}");
    assert_eq!(e.offset, (n - 8) as u64);
}
