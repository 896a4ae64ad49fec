//! The encoder and decoder against the real thing: files we write pass
//! `redis-check-rdb` and load into `redis-server` with the same DEBUG
//! DIGEST as our decoded dataset; DUMP payloads travel both ways.
//!
//! Skipped with a printed reason when redis-server / redis-check-rdb are
//! missing, except under CI or SLUICE_REQUIRE_REDIS=1 where that fails.

mod common;
mod rdb_support;

use common::{require_bin, run_to_exit, Reply, Rng, Server};
use rdb_support::{dataset, digest, write_rdb};
use sluice::rdb::{dump_payload, restore_payload, EncodeOptions};
use std::path::PathBuf;
use std::time::Duration;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-rdb-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn debug_args(dir: &std::path::Path) -> Vec<String> {
    vec![
        "--dir".into(),
        dir.display().to_string(),
        "--dbfilename".into(),
        "x.rdb".into(),
        "--enable-debug-command".into(),
        "yes".into(),
    ]
}

fn redis_with(dir: &std::path::Path) -> Server {
    let args = debug_args(dir);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::redis(&refs)
}

fn bulk(r: Reply) -> Vec<u8> {
    match r {
        Reply::Bulk(Some(b)) => b,
        Reply::Simple(s) => s.into_bytes(),
        other => panic!("expected a bulk reply, got {other:?}"),
    }
}

fn options(i: usize) -> EncodeOptions {
    EncodeOptions {
        version: 10,
        compress: i % 2 == 0,
        checksum: i % 3 != 2,
    }
}

#[test]
fn redis_check_rdb_accepts_encoder_output() {
    let Some(check) = require_bin("redis-check-rdb") else {
        return;
    };
    let mut rng = Rng::from_env();
    let dir = temp_dir("check");
    for i in 0..6 {
        let entries = dataset(&mut rng, 30);
        let path = dir.join(format!("f{i}.rdb"));
        std::fs::write(&path, write_rdb(&entries, options(i))).unwrap();
        let (status, out) = run_to_exit(
            check.to_str().unwrap(),
            &[path.to_str().unwrap()],
            Duration::from_secs(60),
        );
        assert!(status.success() && out.contains("RDB looks OK"), "{out}");
        assert!(
            out.contains(&format!("{} keys read", entries.len())),
            "{out}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn redis_server_loads_encoder_output_with_the_same_digest() {
    if require_bin("redis-server").is_none() {
        return;
    }
    let mut rng = Rng::from_env();
    for i in 0..3 {
        let entries = dataset(&mut rng, 40);
        let dir = temp_dir(&format!("load{i}"));
        std::fs::write(dir.join("x.rdb"), write_rdb(&entries, options(i))).unwrap();
        let server = redis_with(&dir);
        let mut c = server.client();
        let got = bulk(c.cmd_str(&["DEBUG", "DIGEST"]));
        assert_eq!(
            String::from_utf8(got).unwrap(),
            digest(&entries),
            "round {i}"
        );
        drop(c);
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn select(c: &mut common::Client, db: u64) {
    assert_eq!(c.cmd_str(&["SELECT", &db.to_string()]), Reply::ok());
}

#[test]
fn dump_payloads_travel_both_ways() {
    if require_bin("redis-server").is_none() {
        return;
    }
    let mut rng = Rng::from_env();
    let entries = dataset(&mut rng, 60);
    let dir = temp_dir("dump");
    std::fs::write(dir.join("x.rdb"), write_rdb(&entries, options(0))).unwrap();
    let server = redis_with(&dir);
    let mut c = server.client();
    // redis-server's DUMP of every key decodes to our value.
    for e in &entries {
        select(&mut c, e.db);
        let payload = bulk(c.cmd(&[b"DUMP", &e.key]));
        let v = restore_payload(&payload)
            .unwrap_or_else(|err| panic!("{}: {err}", String::from_utf8_lossy(&e.key)));
        assert_eq!(v, e.value, "{}", String::from_utf8_lossy(&e.key));
    }
    // Our DUMP payloads RESTORE into redis-server: same dataset digest.
    assert_eq!(c.cmd_str(&["FLUSHALL"]), Reply::ok());
    for e in &entries {
        select(&mut c, e.db);
        let payload = dump_payload(&e.value);
        let ttl = e.expire_ms.unwrap_or(0).to_string();
        let r = c.cmd(&[b"RESTORE", &e.key, ttl.as_bytes(), &payload, b"ABSTTL"]);
        assert_eq!(r, Reply::ok(), "{}", String::from_utf8_lossy(&e.key));
    }
    let got = bulk(c.cmd_str(&["DEBUG", "DIGEST"]));
    assert_eq!(String::from_utf8(got).unwrap(), digest(&entries));
    // A damaged payload gets Redis's error, which restore_payload names.
    let mut bad = dump_payload(&entries[0].value);
    bad[0] ^= 0x40;
    let r = c.cmd(&[b"RESTORE", b"damaged", b"0", &bad]);
    assert_eq!(r, Reply::err(sluice::rdb::DUMP_PAYLOAD_ERROR));
    assert_eq!(
        restore_payload(&bad).unwrap_err().redis_message(),
        sluice::rdb::DUMP_PAYLOAD_ERROR
    );
    drop(c);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
