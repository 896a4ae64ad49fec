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

/// Hand-made files: opcodes and types the encoder never writes.
#[test]
fn crafted_opcodes_and_rejected_types() {
    use sluice::rdb::encode::{write_len, write_string};
    use sluice::rdb::{decode_all, LoadedEntry};
    let file = |version: &str, body: &[u8], crc: bool| {
        let mut out = format!("REDIS{version}").into_bytes();
        out.extend_from_slice(body);
        out.push(0xFF);
        if crc {
            let c = sluice::rdb::crc64::checksum(&out);
            out.extend_from_slice(&c.to_le_bytes());
        }
        out
    };
    // FUNCTION2 skipped, SLOT_INFO ignored, EXPIRETIME (seconds), IDLE and
    // FREQ, all in one version-12 file.
    let mut body = vec![0xF5];
    write_string(
        &mut body,
        b"#!lua name=lib\nredis.register_function('f', function() end)",
        false,
    );
    body.extend_from_slice(&[0xF4, 1, 2, 3, 0xFE, 2]);
    body.push(0xFD);
    body.extend_from_slice(&2_000_000_000i32.to_le_bytes());
    body.extend_from_slice(&[0xF8, 0x40, 0x64, 0]);
    write_string(&mut body, b"k", false);
    write_string(&mut body, b"v", false);
    body.extend_from_slice(&[0xF9, 7, 0]);
    write_string(&mut body, b"k2", false);
    write_string(&mut body, b"123", false);
    let items = decode_all(&file("0012", &body, true), Limits::default()).unwrap();
    assert!(
        matches!(items[0], Item::FunctionSkipped { code_len: 59 }),
        "{items:?}"
    );
    assert_eq!(items[1], Item::SelectDb(2));
    let Item::Entry(LoadedEntry {
        db,
        expire_ms,
        idle,
        ..
    }) = &items[2]
    else {
        panic!()
    };
    assert_eq!(
        (*db, *expire_ms, *idle),
        (2, Some(2_000_000_000_000), Some(100))
    );
    let Item::Entry(e) = &items[3] else { panic!() };
    assert_eq!(
        (e.freq, &e.value),
        (Some(7), &sluice::store::Value::Int(123))
    );
    assert!(matches!(
        items[4],
        Item::End {
            checksum: Checksum::Verified(_)
        }
    ));

    // Version 4: no checksum after EOF.
    let items = decode_all(&file("0004", &[], false), Limits::default()).unwrap();
    assert_eq!(
        items,
        vec![Item::End {
            checksum: Checksum::Skipped
        }]
    );
    // A zero checksum is "not computed".
    let mut zero = file("0010", &[], false);
    zero.extend_from_slice(&[0; 8]);
    assert!(decode_all(&zero, Limits::default()).is_ok());

    let reject = |bytes: Vec<u8>, want: &str| {
        let e = decode_all(&bytes, Limits::default()).unwrap_err();
        assert!(e.reason.contains(want), "{want}: {e}");
    };
    reject(
        file("0013", &[], true),
        "can't handle RDB format version 0013",
    );
    reject(file("00a1", &[], true), "can't handle RDB format version");
    reject(b"RADIS0010\xff".to_vec(), "not an RDB file");
    for (t, want) in [
        (7u8, "module value types"),
        (6, "module value types"),
        (8, "unknown value type 8"),
        (24, "field expiration"),
        (25, "field expiration"),
        (26, "unknown value type 26"),
    ] {
        let mut body = vec![t];
        write_string(&mut body, b"key", false);
        body.extend_from_slice(&[0; 16]);
        reject(file("0011", &body, true), want);
    }
    let mut body = vec![0xF7];
    write_len(&mut body, 1);
    reject(file("0010", &body, true), "module auxiliary data");
    // Duplicates and empty collections, as check-rdb rejects them.
    let mut body = vec![2];
    write_string(&mut body, b"s", false);
    write_len(&mut body, 2);
    write_string(&mut body, b"m", false);
    write_string(&mut body, b"m", false);
    reject(file("0010", &body, true), "duplicate set member");
    let mut body = vec![4];
    write_string(&mut body, b"h", false);
    write_len(&mut body, 0);
    reject(file("0010", &body, true), "empty hash");
    let mut body = vec![5];
    write_string(&mut body, b"z", false);
    write_len(&mut body, 1);
    write_string(&mut body, b"m", false);
    body.extend_from_slice(&f64::NAN.to_le_bytes());
    reject(file("0010", &body, true), "NaN");
    // A length far beyond the input is refused before any allocation.
    let mut body = vec![0];
    write_string(&mut body, b"k", false);
    body.extend_from_slice(&[0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    reject(
        file("0010", &body, true),
        "9223372036854775807 bytes needed",
    );
    let mut body = vec![0];
    write_string(&mut body, b"k", false);
    body.extend_from_slice(&[0xC3, 0x01, 0x80, 0x10, 0, 0, 0, 0]);
    reject(file("0010", &body, true), "cannot expand");
}

/// A big item fed a few bytes at a time decodes without quadratic rescans
/// (the back-off rule); this would take minutes if every chunk restarted
/// the item's parse.
#[test]
fn big_item_in_tiny_chunks_is_linear() {
    let mut l = sluice::store::list::ListValue::new();
    for i in 0..200_000 {
        l.push(
            format!("element-{i}").as_bytes(),
            sluice::store::list::End::Tail,
            sluice::store::list::Fill::default(),
        );
    }
    let entries = vec![sluice::rdb::LoadedEntry {
        db: 0,
        key: b"big"[..].into(),
        value: sluice::store::Value::List(Box::new(l)),
        expire_ms: None,
        idle: None,
        freq: None,
    }];
    let bytes = write_rdb(&entries, EncodeOptions::default());
    let start = std::time::Instant::now();
    let mut d = Decoder::new(Limits::default());
    let mut got = 0;
    for chunk in bytes.chunks(64) {
        d.feed(chunk);
        while let Some(item) = d.next_item().unwrap() {
            got += usize::from(matches!(item, Item::Entry(_)));
        }
    }
    d.finish_input();
    while let Some(item) = d.next_item().unwrap() {
        got += usize::from(matches!(item, Item::Entry(_)));
    }
    assert_eq!(got, 1);
    assert!(d.is_done());
    println!(
        "{} bytes in 64-byte chunks: {:?}",
        bytes.len(),
        start.elapsed()
    );
}
