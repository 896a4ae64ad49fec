//! Full sync under stress: a replica whose link stalls mid-transfer while
//! the master takes more writes than its backlog ring holds still reaches
//! online from its one cut (the master spills the stream for it, no sync
//! loop), and a link cut mid-transfer recovers with a new full sync that
//! the master counts as aborted. Replicas are sluice (1 and 2 threads) and
//! redis-server 7.0; datasets are compared by DEBUG DIGEST at equal offsets.

#[macro_use]
mod common;

use common::repl::*;
use common::{thread_cpus, wait_until, Client, Reply, Server};

/// Values written while the link is stalled: 600 x 100 KiB, about twice
/// the smallest ring (32 MiB), so the stream must outgrow it.
const BIG_WRITES: usize = 600;
const BIG_VALUE: usize = 100 << 10;
const SEED_KEYS: usize = 20_000;

/// A master whose ring is the smallest (1mb asked, 32 MiB given) and whose
/// replica output-buffer limit would drop a replica after 1 MiB: only
/// the spill keeps a stalled replica.
fn master(threads: usize) -> Server {
    sluice(
        threads,
        &[
            "--repl-backlog-size",
            "1mb",
            "--client-output-buffer-limit",
            "replica 1mb 1mb 1",
        ],
    )
}

/// 20,000 keys of 1 KiB that LZF cannot shrink: a payload well beyond the
/// proxy's stall point, more than the socket buffers hold, and more than
/// the snapshot queues in memory (so the writes that touch unsaved stripes
/// while the link stalls spill their stripes).
fn seed(m: &mut Client) {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..SEED_KEYS {
        let value: Vec<u8> = (0..1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b'a' + (x % 26) as u8
            })
            .collect();
        m.send(&[b"SET", format!("seed:{i}").as_bytes(), &value]);
        if i % 500 == 499 {
            for _ in 0..500 {
                assert_eq!(m.read_reply().as_str(), "OK");
            }
        }
    }
}

fn write_big(m: &mut Client) {
    let value = vec![b'x'; BIG_VALUE];
    for batch in 0..BIG_WRITES / 50 {
        for i in 0..50 {
            // Seeded keys: each one's cut value is kept (a new key has
            // none, and would count no copy).
            let key = format!("seed:{}", batch * 50 + i);
            m.send(&[b"SET", key.as_bytes(), &value]);
        }
        for _ in 0..50 {
            assert_eq!(m.read_reply().as_str(), "OK");
        }
    }
    m.cmd_str(&["INCR", "after-big"]);
}

/// The replica's link stalls 50 KB into the payload; the master takes
/// ~60 MiB of writes; the link resumes; the replica converges from its
/// first full sync. Meanwhile the SETs keep per-key preimages (no stripe
/// is saved by a command) until two SWAPDBs, which take whole stripes,
/// save every unsaved one inline, through the spill file.
fn no_loop(replica: Server, threads: usize) {
    let master = master(threads);
    let mut m = master.client();
    seed(&mut m);
    let proxy = Proxy::start(master.port);
    proxy.stall_after(50_000);
    let mut r = replica.client();
    assert_eq!(
        r.cmd_str(&["REPLICAOF", "127.0.0.1", &proxy.port.to_string()])
            .as_str(),
        "OK"
    );
    wait_until("the link to stall in the payload", LONG, || proxy.stalled());
    write_big(&mut m);
    wait_until("the master to spill the stream", LONG, || {
        stat(&mut m, "sluice_sync_spilled_bytes") > 32 << 20
    });
    assert_eq!(stat(&mut m, "sluice_snapshot_stripes_saved_inline"), 0);
    for _ in 0..2 {
        assert_eq!(m.cmd_str(&["SWAPDB", "0", "1"]).as_str(), "OK");
    }
    assert!(stat(&mut m, "sluice_snapshot_stripes_saved_inline") > 0);
    // The master shows the sync's progress and what it keeps on disk.
    let progress = |m: &mut Client, key: &str| -> u64 {
        let line = info(m, "replication", "sluice_slave0_sync").expect("sluice_slave0_sync");
        line.split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    };
    assert!(progress(&mut m, "spilled_bytes") > 0);
    proxy.resume();
    converge(&mut m, &mut r);
    assert!(progress(&mut m, "payload_bytes") > 20_000_000);
    assert_eq!(
        progress(&mut m, "spilled_bytes"),
        0,
        "the spill is dropped once sent"
    );
    assert_eq!(stat(&mut m, "sync_full"), 1, "one full sync, no loop");
    assert_eq!(stat(&mut m, "sluice_sync_full_aborted"), 0);
    let copied = stat(&mut m, "sluice_snapshot_keys_copied_on_write");
    assert!(
        copied >= BIG_WRITES as i64 / 2,
        "{copied} keys copied on write"
    );
    let log = master.log();
    assert!(log.contains("keeping it in a spill file"), "{log}");
    assert!(log.contains("caught up with the stream kept during its sync"));
    assert!(
        log.contains("bytes of stripes saved by commands went through a spill file"),
        "{log}"
    );
}

/// The link is cut 50 KB into the payload; the replica reconnects, gets a
/// second full sync, converges; the master counted one abort.
fn cut_mid_transfer(replica: Server, threads: usize) {
    let master = master(threads);
    let mut m = master.client();
    seed(&mut m);
    let w = writer(master.port);
    let proxy = Proxy::start(master.port);
    proxy.stall_after(50_000);
    let mut r = replica.client();
    assert_eq!(
        r.cmd_str(&["REPLICAOF", "127.0.0.1", &proxy.port.to_string()])
            .as_str(),
        "OK"
    );
    wait_until("the link to stall in the payload", LONG, || proxy.stalled());
    // repl-diskless-load disabled: the old (empty) data serves while the
    // payload arrives (a sluice replica loads it alongside, unseen, which
    // INFO shows as Redis shows a swapdb load: async_loading).
    assert_eq!(r.cmd_str(&["DBSIZE"]), Reply::Int(0));
    let persistence = |r: &mut Client, field: &str| info(r, "persistence", field);
    let number = |v: Option<String>| v.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    if replica.name == "sluice" {
        wait_until("the payload to load aside", LONG, || {
            persistence(&mut r, "async_loading").as_deref() == Some("1")
                && number(persistence(&mut r, "loading_loaded_bytes")) > 0
        });
        assert!(number(persistence(&mut r, "loading_start_time")) > 0);
    } else {
        assert_eq!(persistence(&mut r, "async_loading").as_deref(), Some("0"));
    }
    assert_eq!(persistence(&mut r, "loading").as_deref(), Some("0"));
    proxy.cut();
    proxy.resume();
    wait_until("the master to count the abort", LONG, || {
        stat(&mut m, "sluice_sync_full_aborted") == 1
    });
    link_up(&mut r);
    println!("writes: {}", w.stop());
    converge(&mut m, &mut r);
    assert_eq!(stat(&mut m, "sync_full"), 2);
    assert!(master.log().contains("Full sync to replica"));
    // The aborted transfer's temp file is gone; the second one is the
    // replica's dump.rdb.
    let files = common::file_names(replica.dir(), |name| name.ends_with(".rdb"));
    assert_eq!(files, ["dump.rdb"], "{}", replica.log());
    for field in ["loading", "async_loading"] {
        assert_eq!(persistence(&mut r, field).as_deref(), Some("0"), "{field}");
    }
    assert_eq!(persistence(&mut r, "loading_start_time"), None);
}

mod sluice_replica {
    use super::*;

    #[test]
    fn no_loop_threads_1() {
        no_loop(sluice(1, &[]), 1);
    }

    #[test]
    fn no_loop_threads_2() {
        no_loop(sluice(2, &["--repl-diskless-load", "on-empty-db"]), 2);
    }

    #[test]
    fn cut_mid_transfer_threads_2() {
        cut_mid_transfer(sluice(2, &[]), 2);
    }
}

mod redis_replica {
    use super::*;

    #[test]
    fn no_loop() {
        if !redis_or_skip() {
            return;
        }
        super::no_loop(redis(&[]), 2);
    }

    #[test]
    fn cut_mid_transfer() {
        if !redis_or_skip() {
            return;
        }
        super::cut_mid_transfer(redis(&[]), 1);
    }
}

/// Seeds `master`, points every replica at it while a writer runs, and
/// waits until each holds the master's data at its offset; each synced
/// once.
fn sync_together(master: &Server, m: &mut Client, replicas: &[Server]) {
    seed(m);
    let w = writer(master.port);
    for r in replicas {
        replicaof(&mut r.client(), master);
    }
    for r in replicas {
        link_up(&mut r.client());
    }
    println!("writes: {}", w.stop());
    for r in replicas {
        converge(m, &mut r.client());
    }
    assert_eq!(stat(m, "sync_full"), replicas.len() as i64);
}

/// Three replicas that ask together share one snapshot: the master waits
/// (repl-diskless-sync-delay 60) until repl-diskless-sync-max-replicas 3
/// have joined, then writes one image to all three sockets.
#[test]
fn three_replicas_share_one_diskless_snapshot() {
    let master = sluice(
        2,
        &[
            "--repl-diskless-sync-delay",
            "60",
            "--repl-diskless-sync-max-replicas",
            "3",
        ],
    );
    let mut m = master.client();
    sync_together(
        &master,
        &mut m,
        &[
            sluice(1, &[]),
            sluice(2, &["--repl-diskless-load", "swapdb"]),
            sluice(2, &["--repl-diskless-load", "on-empty-db"]),
        ],
    );
    let log = master.log();
    assert_eq!(
        log.matches("Starting BGSAVE for SYNC with target: replicas sockets (3 replica(s)")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("Starting BGSAVE for SYNC").count(), 1);
}

/// Disk-backed: three replicas ask at once; every one converges from the
/// file it was given (one shared, or its own when it came too late).
#[test]
fn three_replicas_disk_backed() {
    let master = sluice(2, &["--repl-diskless-sync", "no"]);
    let mut m = master.client();
    sync_together(
        &master,
        &mut m,
        &[sluice(1, &[]), sluice(2, &[]), sluice(2, &[])],
    );
    let log = master.log();
    // Every replica was served once: in an image's group or attached.
    let tag = "Starting BGSAVE for SYNC with target: disk (";
    let grouped: usize = log
        .lines()
        .filter_map(|l| l.split_once(tag))
        .map(|(_, rest)| rest.split(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    let attached = log.matches("attached to the running one").count();
    println!("{grouped} replica(s) in image groups, {attached} attached to a running one");
    assert_eq!(grouped + attached, 3, "{log}");
}

/// The replica's INFO progress fields mid-payload, as Redis 7.0 computes
/// them: total is the announced size (`$<n>`), or 0 for a diskless
/// (`$EOF:`) payload, whose left bytes are then negative.
/// Returns the total.
fn check_progress(r: &mut Client, diskless: bool) -> i64 {
    let mut fields = Vec::new();
    wait_until("payload bytes to arrive", LONG, || {
        let text = r.cmd_str(&["INFO", "replication"]).as_str();
        let get = |f: &str| {
            text.lines().find_map(|l| {
                l.strip_prefix(&format!("master_sync_{f}:"))
                    .map(str::to_string)
            })
        };
        fields = [
            "total_bytes",
            "read_bytes",
            "left_bytes",
            "perc",
            "last_io_seconds_ago",
        ]
        .iter()
        .filter_map(|f| get(f))
        .collect();
        fields.len() == 5 && fields[1] != "0"
    });
    println!("progress: {fields:?}");
    let num = |i: usize| -> i64 { fields[i].parse().unwrap() };
    let (total, read, left) = (num(0), num(1), num(2));
    assert!(read > 0 && left == total - read, "{fields:?}");
    assert!(num(4) >= 0, "{fields:?}");
    if diskless {
        assert_eq!((total, fields[3].as_str()), (0, "0.00"), "{fields:?}");
    } else {
        assert!(total > 20_000_000 && read <= total, "{fields:?}");
        let perc = format!("{:.2}", read as f64 / total as f64 * 100.0);
        assert_eq!(fields[3], perc, "{fields:?}");
    }
    total
}

/// `repl-sync-rate-limit` (sluice's own, settable at runtime) paces the
/// payload: the master's own account of the transfer (bytes, seconds)
/// cannot beat the limit, in both sync modes; meanwhile the replica's
/// progress fields read as Redis's would.
fn rate_limited(diskless: bool, replica: Server) {
    let mode = if diskless { "yes" } else { "no" };
    let master = sluice(2, &["--repl-diskless-sync", mode]);
    let mut m = master.client();
    assert_eq!(
        m.cmd_str(&["CONFIG", "SET", "repl-sync-rate-limit", "8mb"])
            .as_str(),
        "OK"
    );
    assert_eq!(
        m.cmd_str(&["CONFIG", "GET", "repl-sync-rate-limit"]),
        common::Reply::bulks(["repl-sync-rate-limit", "8388608"])
    );
    seed(&mut m);
    let mut r = replica.client();
    replicaof(&mut r, &master);
    let total = check_progress(&mut r, diskless);
    converge(&mut m, &mut r);
    if !diskless {
        // The announced size is the whole payload the master sent.
        let line = info(&mut m, "replication", "sluice_slave0_sync").unwrap();
        let sent = line
            .split(',')
            .find_map(|kv| kv.strip_prefix("payload_bytes="))
            .unwrap();
        assert_eq!(sent, total.to_string(), "{line}");
    }
    let log = master.log();
    let line = log
        .lines()
        .find(|l| l.contains("Synchronization with replica"))
        .expect("the master logs the transfer");
    // "... succeeded (<bytes> bytes in <secs> s, ..."
    let (_, rest) = line.split_once("succeeded (").unwrap();
    let mut words = rest.split(' ');
    let bytes: f64 = words.next().unwrap().parse().unwrap();
    let secs: f64 = words.nth(2).unwrap().parse().unwrap();
    println!("{bytes} bytes in {secs} s");
    assert!(bytes > 20e6, "the payload is the seeded 20 MB");
    assert!(
        secs >= bytes / 8_388_608.0 * 0.99,
        "{bytes} bytes in {secs} s beat 8 MiB/s"
    );
}

#[test]
fn rate_limited_diskless() {
    rate_limited(true, sluice(2, &[]));
}

#[test]
fn rate_limited_disk_backed() {
    rate_limited(false, sluice(2, &[]));
}

#[test]
fn rate_limited_diskless_redis_replica() {
    if !redis_or_skip() {
        return;
    }
    rate_limited(true, redis(&[]));
}

#[test]
fn rate_limited_disk_backed_redis_replica() {
    if !redis_or_skip() {
        return;
    }
    rate_limited(false, redis(&[]));
}

/// The link and sender threads a shard spawns (REPLICAOF and PSYNC arrive
/// on a shard) run on every CPU the process may use, not on the pinned
/// shard's one: they used to inherit the pin, and a whole full sync,
/// master and replica, ran on one core of two.
#[test]
fn replication_threads_are_not_pinned_to_a_shard() {
    let master = sluice(1, &["--server-cpu-list", "0"]);
    let replica = sluice(1, &["--server-cpu-list", "0"]);
    let process = thread_cpus(replica.pid(), "sluice-server");
    let shard = thread_cpus(replica.pid(), "shard-0");
    if process == shard {
        eprintln!("skipping: the process may use one CPU only ({process:?}), nothing to unpin");
        return;
    }
    let (mut m, mut r) = (master.client(), replica.client());
    fill(&mut m, 1000);
    replicaof(&mut r, &master);
    converge(&mut m, &mut r);
    assert_eq!(
        thread_cpus(replica.pid(), "repl-link"),
        process,
        "replica's link thread"
    );
    let senders = thread_cpus(master.pid(), "repl-sender");
    assert!(!senders.is_empty(), "the master has a sender thread");
    let master_cpus = thread_cpus(master.pid(), "sluice-server");
    assert!(
        senders.iter().all(|s| *s == master_cpus[0]),
        "senders {senders:?}"
    );
}
