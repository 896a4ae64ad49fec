//! RDB persistence against the real thing.
//!
//! - sluice SAVE -> redis-check-rdb accepts the file -> redis-server loads
//!   it with the same DEBUG DIGEST; and the reverse (redis-server SAVE ->
//!   sluice loads it), with every type, big and small encodings, expiries
//!   and several databases.
//! - BGSAVE while writers run MULTI/EXEC transactions that each add 1 to an
//!   `a` counter and an `b` counter in different stripes: the image, read
//!   back by redis-server (an independent reader), has sum(a) == sum(b), and
//!   a count between the counts before and after the save. A save that was
//!   not one cut would split transactions.
//! - Restart: sluice loads its own file; corrupt and truncated files stop
//!   startup with the byte offset and the reason.
//! - DUMP payloads cross both ways; RESTORE's options and errors match.
//! - INFO persistence, LASTSAVE, save points, SHUTDOWN SAVE/NOSAVE.
#[macro_use]
mod common;

use common::{
    require_bin, run_to_exit, thread_cpus, wait_until, Client, Reply, Rng, Server, DEBUG_ON,
};
use std::path::PathBuf;
use std::time::Duration;

/// A directory for RDB files shared by servers started one after another.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p =
            std::env::temp_dir().join(format!("sluice-persist-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn args<'a>(dir: &'a TempDir, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--dir", dir.path(), "--dbfilename", "dump.rdb"];
    v.extend_from_slice(DEBUG_ON);
    v.extend_from_slice(extra);
    v
}

/// Fills a dataset with every type in both encodings, TTLs and 3 dbs.
fn fill(c: &mut Client, rng: &mut Rng) {
    fill_with(c, rng, true);
}

/// [`fill`], with or without streams (without, sluice loads the file in
/// parallel segments; streams take the sequential path).
fn fill_with(c: &mut Client, rng: &mut Rng, streams: bool) {
    for db in ["0", "3", "15"] {
        c.cmd_str(&["SELECT", db]);
        for i in 0..40 {
            let k = |p: &str| format!("{p}{i}");
            c.cmd_str(&["SET", &k("int"), &rng.range(-100_000, 100_000).to_string()]);
            c.cmd_str(&["SET", &k("str"), &"s".repeat(rng.below(80) as usize)]);
            c.cmd_str(&["SET", &k("long"), &"xyz".repeat(50 + i)]);
            for j in 0..(if i % 4 == 0 { 300 } else { 5 }) {
                c.cmd_str(&["RPUSH", &k("list"), &format!("e{j}")]);
                c.cmd_str(&["HSET", &k("hash"), &format!("f{j}"), &j.to_string()]);
                c.cmd_str(&["SADD", &k("iset"), &(j * 7 - 50).to_string()]);
                c.cmd_str(&["SADD", &k("sset"), &format!("m{j}")]);
                c.cmd_str(&[
                    "ZADD",
                    &k("zset"),
                    &format!("{}.5", j % 13),
                    &format!("z{j}"),
                ]);
            }
            c.cmd_str(&["ZADD", &k("zset"), "inf", "top", "-inf", "bottom"]);
            for j in 0..(if !streams {
                0
            } else if i % 8 == 0 {
                250
            } else {
                3
            }) {
                c.cmd_str(&[
                    "XADD",
                    &k("stream"),
                    &format!("{}-{}", j + 1, j % 3),
                    "f",
                    "v",
                    "n",
                    &j.to_string(),
                ]);
            }
            if streams && i % 8 == 0 {
                c.cmd_str(&["XDEL", &k("stream"), "5-1", "6-2"]);
                c.cmd_str(&["XGROUP", "CREATE", &k("stream"), "g", "0"]);
                c.cmd_str(&[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "alice",
                    "COUNT",
                    "3",
                    "STREAMS",
                    &k("stream"),
                    ">",
                ]);
                c.cmd_str(&["XGROUP", "CREATECONSUMER", &k("stream"), "g", "bob"]);
            }
            if i % 5 == 0 {
                c.cmd_str(&["PEXPIREAT", &k("str"), "4102444800000"]);
                c.cmd_str(&["PEXPIREAT", &k("hash"), "4102444800000"]);
            }
        }
    }
    c.cmd_str(&["SELECT", "0"]);
}

/// BGSAVE, then a bounded wait for it to finish.
fn bgsave_and_wait(c: &mut Client) {
    assert_eq!(
        c.cmd_str(&["BGSAVE"]),
        Reply::simple("Background saving started")
    );
    wait_until("BGSAVE to finish", Duration::from_secs(60), || {
        c.cmd_str(&["INFO", "persistence"])
            .as_str()
            .contains("rdb_bgsave_in_progress:0")
    });
}

/// `batches` MSETs of 1000 keys `<prefix>:<batch>:<i>`, values of
/// `value_len` bytes.
fn mset_batches(c: &mut Client, prefix: &str, batches: usize, value_len: usize) {
    let value = "v".repeat(value_len);
    for batch in 0..batches {
        let mut mset = vec!["MSET".to_string()];
        for i in 0..1000 {
            mset.push(format!("{prefix}:{batch}:{i}"));
            mset.push(value.clone());
        }
        let args: Vec<&str> = mset.iter().map(String::as_str).collect();
        assert_eq!(c.cmd_str(&args), Reply::ok());
    }
}

fn digest(c: &mut Client) -> String {
    c.cmd_str(&["DEBUG", "DIGEST"]).as_str()
}

fn dbsize(c: &mut Client, db: &str) -> i64 {
    c.cmd_str(&["SELECT", db]);
    let n = c.cmd_str(&["DBSIZE"]).as_int();
    c.cmd_str(&["SELECT", "0"]);
    n
}

#[test]
fn sluice_files_pass_check_rdb_and_load_into_redis() {
    let Some(_) = require_bin("redis-server") else {
        return;
    };
    let Some(_) = require_bin("redis-check-rdb") else {
        return;
    };
    let dir = TempDir::new("s2r");
    let mut rng = Rng::from_env();
    eprintln!("seed={}", rng.seed());
    let want = {
        let s = Server::sluice(2, &args(&dir, &[]));
        let mut c = s.client();
        fill(&mut c, &mut rng);
        assert_eq!(c.cmd_str(&["SAVE"]), Reply::ok());
        digest(&mut c)
    };
    let (status, out) = run_to_exit(
        "redis-check-rdb",
        &[dir.file("dump.rdb").to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert!(
        status.success(),
        "redis-check-rdb rejected sluice's file:\n{out}"
    );
    let r = Server::redis(&args(&dir, &[]));
    let mut c = r.client();
    assert_eq!(
        digest(&mut c),
        want,
        "redis-server loaded a different dataset"
    );
    assert_eq!(dbsize(&mut c, "15"), 9 * 40);
}

#[test]
fn redis_files_load_into_sluice() {
    let Some(_) = require_bin("redis-server") else {
        return;
    };
    let dir = TempDir::new("r2s");
    let mut rng = Rng::from_env();
    eprintln!("seed={}", rng.seed());
    let want = {
        let r = Server::redis(&args(&dir, &[]));
        let mut c = r.client();
        fill(&mut c, &mut rng);
        assert_eq!(c.cmd_str(&["SAVE"]), Reply::ok());
        digest(&mut c)
    };
    for threads in [1, 2] {
        let s = Server::sluice(threads, &args(&dir, &[]));
        let mut c = s.client();
        assert_eq!(
            digest(&mut c),
            want,
            "sluice (threads {threads}) loaded a different dataset"
        );
        assert_eq!(
            c.cmd_str(&["XINFO", "GROUPS", "stream0"]).as_array().len(),
            1
        );
        let log = s.log();
        assert!(log.contains("DB loaded from disk"), "{log}");
    }
}

/// Without streams every item can be skipped, so the file is cut into
/// segments decoded by several threads: the dataset must still be equal.
#[test]
fn redis_files_load_in_parallel_segments() {
    let Some(_) = require_bin("redis-server") else {
        return;
    };
    let dir = TempDir::new("seg");
    let mut rng = Rng::from_env();
    eprintln!("seed={}", rng.seed());
    let want = {
        let r = Server::redis(&args(&dir, &["--rdbcompression", "no"]));
        let mut c = r.client();
        fill_with(&mut c, &mut rng, false);
        // Enough bytes for several 4 MiB segments.
        for i in 0..20_000 {
            c.cmd_str(&["SET", &format!("bulk:{i}"), &"v".repeat(600)]);
        }
        assert_eq!(c.cmd_str(&["SAVE"]), Reply::ok());
        digest(&mut c)
    };
    assert!(std::fs::metadata(dir.file("dump.rdb")).unwrap().len() > 10 << 20);
    for threads in [1, 2] {
        let s = Server::sluice(threads, &args(&dir, &[]));
        let mut c = s.client();
        assert_eq!(digest(&mut c), want, "threads {threads}");
    }
}

/// The file's head tells a loader each database's size (RESIZEDB after a
/// SELECTDB, as Redis writes it), so it can size its tables once.
#[test]
fn saved_file_carries_resizedb_hints() {
    use sluice::rdb::{decode_all, Item, Limits};
    let dir = TempDir::new("resize");
    let s = Server::sluice(2, &args(&dir, &["--save", ""]));
    let mut c = s.client();
    for k in ["a", "b", "c"] {
        c.cmd_str(&["SET", k, "v"]);
    }
    c.cmd_str(&["EXPIRE", "a", "1000"]);
    c.cmd_str(&["SELECT", "3"]);
    c.cmd_str(&["SET", "d", "v"]);
    c.cmd_str(&["SET", "e", "v"]);
    assert_eq!(c.cmd_str(&["SAVE"]), Reply::ok());
    let bytes = std::fs::read(dir.file("dump.rdb")).unwrap();
    let items = decode_all(&bytes, Limits::default()).unwrap();
    let head: Vec<&Item> = items
        .iter()
        .filter(|i| matches!(i, Item::SelectDb(_) | Item::ResizeDb { .. }))
        .take(4)
        .collect();
    assert_eq!(
        head,
        [
            &Item::SelectDb(0),
            &Item::ResizeDb {
                keys: 3,
                expires: 1
            },
            &Item::SelectDb(3),
            &Item::ResizeDb {
                keys: 2,
                expires: 0
            },
        ]
    );
}

#[test]
fn sluice_reloads_its_own_file_after_restart() {
    let dir = TempDir::new("self");
    let mut rng = Rng::from_env();
    eprintln!("seed={}", rng.seed());
    let want = {
        let s = Server::sluice(2, &args(&dir, &[]));
        let mut c = s.client();
        fill(&mut c, &mut rng);
        bgsave_and_wait(&mut c);
        digest(&mut c)
    };
    let s = Server::sluice(1, &args(&dir, &[]));
    let mut c = s.client();
    assert_eq!(digest(&mut c), want);
    assert!(c.cmd_str(&["TTL", "str0"]).as_int() > 1_000_000);
}

/// Each writer transaction increments one `a` and one `b` counter and a
/// field of a 1000-field hash (changed in place: its cut value is encoded
/// before the change); a consistent image has three equal sums.
#[test]
fn bgsave_image_is_one_cut_under_writes() {
    let Some(_) = require_bin("redis-server") else {
        return;
    };
    let dir = TempDir::new("cut");
    let s = Server::sluice(2, &args(&dir, &[]));
    // 8 MB of other keys: the save queues more than its 4 MiB budget, so
    // commands saving stripes inline also write to the file themselves.
    let mut c = s.client();
    mset_batches(&mut c, "fill", 40, 200);
    let mut hset = vec!["HSET".to_string(), "h".to_string()];
    for i in 0..1000 {
        hset.extend([format!("f{i}"), "0".to_string()]);
    }
    let hset: Vec<&str> = hset.iter().map(String::as_str).collect();
    assert_eq!(c.cmd_str(&hset).as_int(), 1000);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let port = s.port;
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                let mut i: u64 = w;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let a = format!("a{}", i % 200);
                    let b = format!("b{}", (i * 7) % 200);
                    c.cmd_str(&["MULTI"]);
                    c.cmd_str(&["INCR", &a]);
                    // With a TTL: keys replaced before their stripe is
                    // saved keep an encoded cut value, expiry included.
                    let pad = format!("pad{}", i % 5000);
                    c.cmd_str(&["SET", &pad, &"p".repeat(200), "EX", "100000"]);
                    c.cmd_str(&["HINCRBY", "h", &format!("f{}", i % 1000), "1"]);
                    c.cmd_str(&["INCR", &b]);
                    let r = c.cmd_str(&["EXEC"]);
                    assert_eq!(r.as_array().len(), 4);
                    i += 3;
                }
            })
        })
        .collect();
    wait_until("writers to write", Duration::from_secs(10), || {
        c.cmd_str(&["DBSIZE"]).as_int() > 40_300
    });
    let sum = |c: &mut Client, prefix: &str| -> i64 {
        (0..200)
            .map(|i| {
                let r = c.cmd_str(&["GET", &format!("{prefix}{i}")]);
                match r {
                    Reply::Bulk(Some(b)) => String::from_utf8(b).unwrap().parse::<i64>().unwrap(),
                    _ => 0,
                }
            })
            .sum()
    };
    let before = sum(&mut c, "a");
    bgsave_and_wait(&mut c);
    let after = sum(&mut c, "a");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(c
        .cmd_str(&["INFO", "persistence"])
        .as_str()
        .contains("rdb_last_bgsave_status:ok"));
    let copied = common::repl::stat(&mut c, "sluice_snapshot_keys_copied_on_write");
    assert!(copied > 0, "no write kept a cut value during the save");
    drop(s);
    let r = Server::redis(&args(&dir, &[]));
    let mut rc = r.client();
    let (a, b) = (sum(&mut rc, "a"), sum(&mut rc, "b"));
    assert_eq!(a, b, "the saved image splits transactions (a={a}, b={b})");
    let h: i64 = match rc.cmd_str(&["HVALS", "h"]) {
        Reply::Array(Some(vals)) => vals
            .iter()
            .map(|v| match v {
                Reply::Bulk(Some(b)) => std::str::from_utf8(b).unwrap().parse::<i64>().unwrap(),
                other => panic!("{other:?}"),
            })
            .sum(),
        other => panic!("{other:?}"),
    };
    assert_eq!(a, h, "the saved hash is not the cut's (a={a}, h={h})");
    assert!(
        a >= before && a <= after,
        "image count {a} outside [{before}, {after}]"
    );
    let pads: Vec<i64> = (0..5000)
        .map(|i| rc.cmd_str(&["TTL", &format!("pad{i}")]).as_int())
        .filter(|ttl| *ttl != -2)
        .collect();
    assert!(!pads.is_empty());
    assert!(
        pads.iter().all(|ttl| *ttl > 0),
        "a saved pad key lost its TTL"
    );
}

#[test]
fn damaged_files_stop_startup_with_offset_and_reason() {
    let dir = TempDir::new("bad");
    {
        let s = Server::sluice(1, &args(&dir, &[]));
        let mut c = s.client();
        for i in 0..100 {
            c.cmd_str(&["RPUSH", "l", &format!("element-{i}")]);
        }
        assert_eq!(c.cmd_str(&["SAVE"]), Reply::ok());
    }
    let good = std::fs::read(dir.file("dump.rdb")).unwrap();
    let bin = common::sluice_bin();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        ("bad checksum", {
            let mut b = good.clone();
            let n = b.len();
            b[n - 1] ^= 0xff;
            b
        }),
        ("bad signature", {
            let mut b = good.clone();
            b[0] = b'X';
            b
        }),
        ("unknown type", {
            let mut b = good.clone();
            // The first key's type byte follows SELECTDB (FE 00) and
            // RESIZEDB, after the last AUX field.
            let aux = b.windows(8).position(|w| w == b"aof-base").unwrap();
            let at = aux + b[aux..].windows(2).position(|w| w == [0xFE, 0x00]).unwrap();
            let ty = at + 2 + if b[at + 2] == 0xFB { 3 } else { 0 };
            b[ty] = 0x42;
            b
        }),
    ];
    for (what, bytes) in cases {
        std::fs::write(dir.file("dump.rdb"), &bytes).unwrap();
        let (status, out) = run_to_exit(
            bin,
            &[
                "--port",
                "0",
                "--dir",
                dir.path(),
                "--dbfilename",
                "dump.rdb",
            ],
            Duration::from_secs(30),
        );
        assert!(!status.success(), "{what}: sluice started anyway:\n{out}");
        assert!(out.contains("offset"), "{what}: no offset in:\n{out}");
        assert!(!out.contains("panicked"), "{what}: panic:\n{out}");
    }
}

#[test]
fn dump_payloads_cross_both_ways() {
    let Some(_) = require_bin("redis-server") else {
        return;
    };
    let dir = TempDir::new("dump");
    let r = Server::redis(&args(&dir, &[]));
    let s = Server::sluice(2, &args(&dir, &[]));
    let (mut rc, mut sc) = (r.client(), s.client());
    let seed = Rng::from_env().seed();
    eprintln!("seed={seed}");
    fill(&mut rc, &mut Rng::new(seed));
    fill(&mut sc, &mut Rng::new(seed));
    let keys = rc.cmd_str(&["KEYS", "*"]);
    for key in keys.as_array() {
        let key = key.as_str();
        // DIGEST-VALUE counts a TTL; the copies are restored without one.
        rc.cmd_str(&["PERSIST", &key]);
        sc.cmd_str(&["PERSIST", &key]);
        let from_redis = rc.cmd_str(&["DUMP", &key]);
        let from_sluice = sc.cmd_str(&["DUMP", &key]);
        let want = rc.cmd_str(&["DEBUG", "DIGEST-VALUE", &key]);
        for (c, payload, who) in [
            (&mut sc, &from_redis, "sluice"),
            (&mut rc, &from_sluice, "redis"),
        ] {
            let p = payload.as_bytes().to_vec();
            let r = c.cmd(&[b"RESTORE", format!("copy:{key}").as_bytes(), b"0", &p]);
            assert_eq!(r, Reply::ok(), "{who} RESTORE of {key}");
            let got = c.cmd_str(&["DEBUG", "DIGEST-VALUE", &format!("copy:{key}")]);
            assert_eq!(got, want, "{who}: {key} restored differently");
            c.cmd_str(&["DEL", &format!("copy:{key}")]);
        }
    }
    // Options and errors, compared with redis.
    let payload = rc.cmd_str(&["DUMP", "str1"]).as_bytes().to_vec();
    let mut outs = Vec::new();
    for c in [&mut rc, &mut sc] {
        let mut run = |args: &[&[u8]]| format!("{:?}", c.cmd(args));
        let out = vec![
            run(&[b"RESTORE", b"str1", b"0", &payload]),
            run(&[b"RESTORE", b"n1", b"-1", &payload]),
            run(&[b"RESTORE", b"n1", b"0", b"garbage"]),
            run(&[b"RESTORE", b"n1", b"0", &payload, b"IDLETIME", b"-1"]),
            run(&[b"RESTORE", b"n1", b"0", &payload, b"FREQ", b"256"]),
            run(&[b"RESTORE", b"n1", b"0", &payload, b"BOGUS"]),
            run(&[b"RESTORE", b"n1", b"5000", &payload]),
            run(&[b"PTTL", b"n1"]).replace(|ch: char| ch.is_ascii_digit(), "9"),
            run(&[b"RESTORE", b"n1", b"1", &payload, b"REPLACE", b"ABSTTL"]),
            run(&[b"EXISTS", b"n1"]),
            run(&[b"RESTORE", b"n2", b"0", &payload, b"IDLETIME", b"1000"]),
            run(&[b"OBJECT", b"IDLETIME", b"n2"]),
            run(&[b"DUMP", b"nokey"]),
        ];
        outs.push(out);
    }
    assert_eq!(
        outs[1], outs[0],
        "RESTORE options and errors differ from redis"
    );
}

#[test]
fn info_persistence_lastsave_and_save_points() {
    let dir = TempDir::new("info");
    let s = Server::sluice(2, &args(&dir, &["--save", "1 1"]));
    let mut c = s.client();
    let info = c.cmd_str(&["INFO", "persistence"]).as_str();
    assert!(info.contains("rdb_bgsave_in_progress:0"), "{info}");
    let last = c.cmd_str(&["LASTSAVE"]).as_int();
    c.cmd_str(&["SET", "k", "v"]);
    wait_until("a save point to fire", Duration::from_secs(20), || {
        c.cmd_str(&["LASTSAVE"]).as_int() > last
            && c.cmd_str(&["INFO", "persistence"])
                .as_str()
                .contains("rdb_changes_since_last_save:0")
    });
    assert!(dir.file("dump.rdb").exists());
    assert_eq!(c.cmd_str(&["BGSAVE", "x"]), Reply::err("ERR syntax error"));
    assert!(c
        .cmd_str(&["INFO", "persistence"])
        .as_str()
        .contains("rdb_last_bgsave_status:ok"));
}

#[test]
fn shutdown_save_and_nosave() {
    let dir = TempDir::new("shut");
    let s = Server::sluice(1, &args(&dir, &["--save", ""]));
    let mut c = s.client();
    c.cmd_str(&["SET", "k", "v"]);
    c.send(&[b"SHUTDOWN", b"SAVE"]);
    wait_until("the file", Duration::from_secs(20), || {
        dir.file("dump.rdb").exists()
    });
    drop(s);
    let s = Server::sluice(1, &args(&dir, &["--save", ""]));
    let mut c = s.client();
    assert_eq!(c.cmd_str(&["GET", "k"]), Reply::bulk("v"));
    c.cmd_str(&["SET", "k", "changed"]);
    c.send(&[b"SHUTDOWN", b"NOSAVE"]);
    let _ = c.try_read_reply();
    drop(s);
    let s = Server::sluice(1, &args(&dir, &["--save", ""]));
    assert_eq!(s.client().cmd_str(&["GET", "k"]), Reply::bulk("v"));
}

/// SAVE and BGSAVE inside MULTI: the transaction holds every stripe, so
/// SAVE writes from them (and sees the transaction's own writes); BGSAVE
/// replies "scheduled" and runs once the transaction is done.
#[test]
fn saves_inside_transactions() {
    let dir = TempDir::new("multi");
    {
        let s = Server::sluice(2, &args(&dir, &["--save", ""]));
        let mut c = s.client();
        c.cmd_str(&["MULTI"]);
        c.cmd_str(&["SET", "k", "v"]);
        c.cmd_str(&["SAVE"]);
        c.cmd_str(&["BGSAVE"]);
        c.cmd_str(&["BGSAVE"]);
        c.cmd_str(&["SET", "after", "x"]);
        let r = c.cmd_str(&["EXEC"]);
        // The first BGSAVE is marked running before it replies, so the
        // second is refused (its thread waits for the transaction).
        assert_eq!(
            r.as_array(),
            &[
                Reply::ok(),
                Reply::ok(),
                Reply::simple("Background saving scheduled"),
                Reply::err("ERR Background save already in progress"),
                Reply::ok()
            ]
        );
        wait_until("the background save", Duration::from_secs(20), || {
            let info = c.cmd_str(&["INFO", "persistence"]).as_str();
            info.contains("rdb_bgsave_in_progress:0") && info.contains("rdb_saves:2")
        });
    }
    let s = Server::sluice(1, &args(&dir, &["--save", ""]));
    let mut c = s.client();
    assert_eq!(c.cmd_str(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(c.cmd_str(&["GET", "after"]), Reply::bulk("x"));
}

/// A full disk fails the save with a clear error and leaves the previous
/// file as it was (needs root for a small tmpfs; skipped, saying why, when
/// the mount is refused).
#[test]
fn a_full_disk_fails_the_save_and_keeps_the_old_file() {
    let dir = TempDir::new("enospc");
    let mount = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir.path()])
        .status();
    if !mount.is_ok_and(|s| s.success()) {
        eprintln!("skipping: cannot mount a tmpfs (needs root)");
        return;
    }
    struct Unmount<'a>(&'a str);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(dir.path());
    let s = Server::sluice(1, &args(&dir, &["--save", ""]));
    let mut c = s.client();
    c.cmd_str(&["SET", "small", "v"]);
    assert_eq!(c.cmd_str(&["SAVE"]), Reply::ok());
    let before = std::fs::read(dir.file("dump.rdb")).unwrap();
    // 2 MB of incompressible values cannot fit in 1 MB.
    let mut rng = Rng::new(7);
    for i in 0..2000 {
        let v: String = (0..1000)
            .map(|_| (b'a' + rng.below(26) as u8) as char)
            .collect();
        c.cmd_str(&["SET", &format!("big{i}"), &v]);
    }
    assert_eq!(c.cmd_str(&["SAVE"]), Reply::err("ERR"));
    assert_eq!(
        std::fs::read(dir.file("dump.rdb")).unwrap(),
        before,
        "old file changed"
    );
    let leftovers = common::file_names(&dir.0, |n| n.starts_with("temp-"));
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    let info = c.cmd_str(&["INFO", "persistence"]).as_str();
    assert!(info.contains("rdb_last_bgsave_status:err"), "{info}");
    assert!(s.log().contains("No space left on device"), "{}", s.log());
    drop(s);
}

/// With save points, FLUSHALL rewrites the file at once (as Redis's
/// `flushAllDataAndResetRDB`), so a restart does not bring the data back.
#[test]
fn flushall_with_save_points_resets_the_file() {
    let dir = TempDir::new("flush");
    {
        let s = Server::sluice(2, &args(&dir, &["--save", "3600 1"]));
        let mut c = s.client();
        c.cmd_str(&["SET", "k", "v"]);
        assert_eq!(c.cmd_str(&["SAVE"]), Reply::ok());
        c.cmd_str(&["FLUSHALL"]);
    }
    let s = Server::sluice(1, &args(&dir, &["--save", "3600 1"]));
    assert_eq!(s.client().cmd_str(&["DBSIZE"]), Reply::Int(0));
}

/// Without `server-cpu-list` shard threads may run on every CPU the
/// process may (Redis pins only with `server_cpulist`); with it, each is
/// pinned to its CPU.
#[test]
fn shards_are_pinned_only_by_server_cpu_list() {
    let dir = TempDir::new("unpinned");
    let s = Server::sluice(2, &args(&dir, &[]));
    let process = thread_cpus(s.pid(), "sluice-server");
    assert_eq!(thread_cpus(s.pid(), "shard-0"), process);
    assert_eq!(thread_cpus(s.pid(), "shard-1"), process);
    let pinned = Server::sluice(2, &args(&dir, &["--server-cpu-list", "0"]));
    assert_eq!(thread_cpus(pinned.pid(), "shard-0"), ["0"]);
    assert_eq!(thread_cpus(pinned.pid(), "shard-1"), ["0"]);
}

/// `bgsave-cpu-list` (Redis's `bgsave_cpulist`, immutable) puts the
/// threads that write a save (BGSAVE's own and its snapshot drivers, all
/// named after it) on its CPUs, away from the shard that asked.
#[test]
fn bgsave_threads_run_on_bgsave_cpulist() {
    let dir = TempDir::new("cpulist");
    let s = Server::sluice(
        1,
        &args(&dir, &["--server-cpu-list", "0", "--bgsave_cpulist", "1"]),
    );
    let process = thread_cpus(s.pid(), "sluice-server");
    if !process
        .first()
        .is_some_and(|l| l.contains('-') || l.contains(','))
    {
        eprintln!("skipping: the process may use one CPU only ({process:?})");
        return;
    }
    let mut c = s.client();
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "bgsave_cpulist"]),
        Reply::bulks(["bgsave_cpulist", "1"])
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "bgsave-cpu-list", "0"]),
        Reply::err(
            "ERR CONFIG SET failed (possibly related to argument 'bgsave-cpu-list') - can't set immutable config"
        )
    );
    assert_eq!(thread_cpus(s.pid(), "shard-0"), ["0"]);
    // Enough keys that a save lasts a few milliseconds; BGSAVE again
    // until its threads were seen at least once.
    mset_batches(&mut c, "k", 100, 100);
    let mut seen = Vec::new();
    for _ in 0..50 {
        assert_eq!(
            c.cmd_str(&["BGSAVE"]),
            Reply::simple("Background saving started")
        );
        loop {
            seen.extend(thread_cpus(s.pid(), "bgsave"));
            let info = c.cmd_str(&["INFO", "persistence"]).as_str();
            if info.contains("rdb_bgsave_in_progress:0") {
                break;
            }
        }
        if !seen.is_empty() {
            break;
        }
    }
    seen.sort();
    seen.dedup();
    assert!(!seen.is_empty(), "no save thread seen in 50 BGSAVEs");
    assert!(
        seen.iter().all(|cpus| cpus == "1"),
        "save threads on {seen:?}"
    );
}
