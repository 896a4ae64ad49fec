//! PSYNC2 against real redis-server 7.0 and between sluice servers:
//! partial resync after a cut link (both directions), after a replica
//! restart (its RDB's replication ID and offset), siblings continuing after
//! a promotion, chained replicas, disk-backed sync and every
//! repl-diskless-load mode, WAIT, min-replicas-to-write, output-buffer-limit
//! disconnect and recovery, -MASTERDOWN, and replicas that leave expiry to
//! their master. Writers run during syncs; every test compares datasets by
//! DEBUG DIGEST once the replica's offset equals its master's.

#[macro_use]
mod common;

use common::repl::*;
use common::{info_field, wait_until, Client, Reply};

/// sluice master, redis replica: the replica's link is cut (CLIENT KILL
/// TYPE master on the replica) while writes run; it comes back with
/// PSYNC and sluice answers +CONTINUE.
fn partial_resync_sluice_master(threads: usize) {
    if !redis_or_skip() {
        return;
    }
    let master = sluice(threads, &[]);
    let replica = redis(&[]);
    let (mut m, mut r) = (master.client(), replica.client());
    fill(&mut m, 500);
    let w = writer(master.port);
    replicaof(&mut r, &master);
    link_up(&mut r);
    assert_eq!(r.cmd_str(&["CLIENT", "KILL", "TYPE", "master"]).as_int(), 1);
    wait_until("the link to come back", LONG, || {
        stat(&mut m, "sync_partial_ok") == 1
    });
    println!("writes: {}", w.stop());
    converge(&mut m, &mut r);
    assert_eq!(stat(&mut m, "sync_full"), 1);
    // The replica first offered its own history (a master turning replica).
    assert_eq!(stat(&mut m, "sync_partial_err"), 1);
    assert!(master
        .log()
        .contains("Partial resynchronization request from"));
}

/// An empty directory of its own for a server that restarts.
fn fresh_dir(name: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("sluice-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let arg = dir.to_str().unwrap().to_string();
    (dir, arg)
}

/// redis master, sluice replica: the master drops its replica (CLIENT
/// KILL TYPE replica); sluice reconnects with PSYNC <replid> <offset+1>.
fn partial_resync_redis_master(threads: usize) {
    if !redis_or_skip() {
        return;
    }
    let master = redis(&[]);
    let replica = sluice(threads, &[]);
    let (mut m, mut r) = (master.client(), replica.client());
    fill(&mut m, 500);
    let w = writer(master.port);
    replicaof(&mut r, &master);
    link_up(&mut r);
    assert_eq!(
        m.cmd_str(&["CLIENT", "KILL", "TYPE", "replica"]).as_int(),
        1
    );
    wait_until("the link to come back", LONG, || {
        stat(&mut m, "sync_partial_ok") == 1
    });
    println!("writes: {}", w.stop());
    converge(&mut m, &mut r);
    assert_eq!(stat(&mut m, "sync_full"), 1);
}

threads_tests!(partial_resync_sluice_master, partial_resync_redis_master);

/// Disk-backed sync (`repl-diskless-sync no`) both ways, and sluice
/// loading per each repl-diskless-load mode, with writes running.
#[test]
fn disk_backed_sync_and_every_load_mode() {
    if !redis_or_skip() {
        return;
    }
    // sluice master writing a temp file, redis replica.
    let master = sluice(2, &["--repl-diskless-sync", "no"]);
    let replica = redis(&[]);
    let (mut m, mut r) = (master.client(), replica.client());
    fill(&mut m, 1000);
    sync_under_writes(&master, &mut m, &mut r);
    assert!(master.log().contains("target: disk"), "{}", master.log());

    // redis master (disk and diskless), sluice replica in each load mode;
    // on-empty-db with an empty replica loads live (received in place),
    // with data it falls back to disk; disabled with an empty replica
    // loads as the payload arrives, beside the file it writes.
    for (sync, load, stale) in [
        ("no", "disabled", true),
        ("yes", "disabled", true),
        ("no", "disabled", false),
        ("yes", "disabled", false),
        ("yes", "on-empty-db", true),
        ("yes", "on-empty-db", false),
        ("no", "on-empty-db", false),
        ("no", "swapdb", true),
        // replica-lazy-flush: the old data is swapped out and freed aside.
        ("yes", "lazy-flush", true),
    ] {
        println!("repl-diskless-sync {sync}, repl-diskless-load {load}, stale data {stale}");
        let master = redis(&["--repl-diskless-sync", sync]);
        let replica = match load {
            "lazy-flush" => sluice(2, &["--replica-lazy-flush", "yes"]),
            load => sluice(2, &["--repl-diskless-load", load]),
        };
        let (mut m, mut r) = (master.client(), replica.client());
        fill(&mut m, 1000);
        if stale {
            r.cmd_str(&["SET", "stale", "old data"]);
        }
        sync_under_writes(&master, &mut m, &mut r);
        assert_eq!(r.cmd_str(&["GET", "stale"]), Reply::nil());
        let log = replica.log();
        let live = log.contains("receiving the payload (live load)");
        assert_eq!(live, load == "on-empty-db" && !stale, "{log}");
        let beside = log.contains("receiving the payload (disk and live load)");
        assert_eq!(beside, load == "disabled" && !stale, "{log}");
        if matches!(load, "disabled" | "lazy-flush") {
            // The payload is on the replica's disk as received: the file a
            // disk-backed master wrote, byte for byte; redis-check-rdb
            // accepts a diskless one.
            let file = replica.dir().join("dump.rdb");
            if sync == "no" {
                let sent = std::fs::read(master.dir().join("dump.rdb")).unwrap();
                assert!(std::fs::read(&file).unwrap() == sent, "{log}");
            } else if let Some(check) = common::require_bin("redis-check-rdb") {
                let (status, out) =
                    common::run_to_exit(check.to_str().unwrap(), &[file.to_str().unwrap()], LONG);
                assert!(status.success(), "redis-check-rdb: {out}");
            }
        }
    }
}

/// redis master -> sluice -> redis, and sluice -> sluice -> sluice: the
/// sub-replica gets the master's stream unchanged, offsets included.
#[test]
fn chained_replicas() {
    if !redis_or_skip() {
        return;
    }
    let top = redis(&[]);
    let middle = sluice(2, &[]);
    let bottom = redis(&[]);
    let (mut t, mut mid, mut b) = (top.client(), middle.client(), bottom.client());
    fill(&mut t, 500);
    let w = writer(top.port);
    replicaof(&mut mid, &top);
    link_up(&mut mid);
    replicaof(&mut b, &middle);
    link_up(&mut b);
    w.stop();
    converge(&mut t, &mut mid);
    converge(&mut t, &mut b);
    assert_eq!(
        info_field(&mut b, "master_replid"),
        info_field(&mut t, "master_replid")
    );
    // The middle one's link cut: both hops continue.
    t.cmd_str(&["CLIENT", "KILL", "TYPE", "replica"]);
    t.cmd_str(&["SET", "after-cut", "1"]);
    converge(&mut t, &mut mid);
    converge(&mut t, &mut b);
    assert_eq!(stat(&mut t, "sync_partial_ok"), 1);

    let a = sluice(1, &[]);
    let bb = sluice(2, &[]);
    let c = sluice(1, &[]);
    let (mut ac, mut bc, mut cc) = (a.client(), bb.client(), c.client());
    fill(&mut ac, 300);
    let w = writer(a.port);
    replicaof(&mut bc, &a);
    replicaof(&mut cc, &bb);
    link_up(&mut cc);
    w.stop();
    converge(&mut ac, &mut bc);
    converge(&mut ac, &mut cc);
}

/// A sluice replica (with a sluice sibling and a redis sibling) is
/// promoted: its siblings and the old master continue by partial resync
/// (its replid2 is the old history).
#[test]
fn psync2_siblings_continue_after_promotion() {
    if !redis_or_skip() {
        return;
    }
    let old = sluice(2, &[]);
    let a = sluice(2, &[]);
    let b = redis(&[]);
    let c = sluice(1, &[]);
    let (mut o, mut ac, mut bc, mut cc) = (old.client(), a.client(), b.client(), c.client());
    fill(&mut o, 500);
    let w = writer(old.port);
    for r in [&mut ac, &mut bc, &mut cc] {
        replicaof(r, &old);
    }
    link_up(&mut ac);
    w.stop();
    for r in [&mut ac, &mut bc, &mut cc] {
        converge(&mut o, r);
    }
    let old_id = info_field(&mut o, "master_replid").unwrap();
    assert_eq!(ac.cmd_str(&["REPLICAOF", "NO", "ONE"]), Reply::ok());
    assert_eq!(
        info_field(&mut ac, "master_replid2").as_deref(),
        Some(old_id.as_str())
    );
    let offset: i64 = info_field(&mut ac, "master_repl_offset")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        info_field(&mut ac, "second_repl_offset"),
        Some((offset + 1).to_string())
    );
    assert_eq!(ac.cmd_str(&["ROLE"]).as_array()[0], Reply::bulk("master"));
    ac.cmd_str(&["SET", "promoted", "yes"]);
    for r in [&mut bc, &mut cc, &mut o] {
        replicaof(r, &a);
    }
    let w = writer(a.port);
    wait_until("three partial resyncs on the new master", LONG, || {
        stat(&mut ac, "sync_partial_ok") == 3
    });
    w.stop();
    for r in [&mut bc, &mut cc, &mut o] {
        converge(&mut ac, r);
    }
    assert_eq!(stat(&mut ac, "sync_full"), 0);
    assert_eq!(bc.cmd_str(&["GET", "promoted"]), Reply::bulk("yes"));
}

/// WAIT: the count of replicas that acknowledged the client's last write;
/// a timeout replies the count so far; replicas refuse WAIT.
#[test]
fn wait_counts_acknowledging_replicas() {
    if !redis_or_skip() {
        return;
    }
    let master = sluice(2, &[]);
    let r1 = redis(&[]);
    let r2 = sluice(1, &[]);
    let (mut m, mut c1, mut c2) = (master.client(), r1.client(), r2.client());
    assert_eq!(m.cmd_str(&["WAIT", "0", "0"]).as_int(), 0);
    assert_eq!(
        m.cmd_str(&["WAIT", "x", "0"]),
        Reply::err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        m.cmd_str(&["WAIT", "1", "-1"]),
        Reply::err("ERR timeout is negative")
    );
    replicaof(&mut c1, &master);
    replicaof(&mut c2, &master);
    wait_until("two replicas online", LONG, || {
        info_field(&mut m, "connected_slaves").as_deref() == Some("2")
            && info_field(&mut m, "slave1").is_some_and(|l| l.contains("state=online"))
            && info_field(&mut m, "slave0").is_some_and(|l| l.contains("state=online"))
    });
    for i in 0..50 {
        m.cmd_str(&["SET", "k", &i.to_string()]);
        assert_eq!(m.cmd_str(&["WAIT", "2", "0"]).as_int(), 2, "round {i}");
    }
    // More replicas than exist: the timeout answers with what acked.
    m.cmd_str(&["INCR", "n"]);
    assert_eq!(m.cmd_str(&["WAIT", "3", "200"]).as_int(), 2);
    // Inside MULTI WAIT cannot block.
    m.cmd_str(&["MULTI"]);
    m.cmd_str(&["WAIT", "3", "0"]);
    let replies = m.cmd_str(&["EXEC"]);
    assert_eq!(replies.as_array().len(), 1);
    assert_eq!(
        c2.cmd_str(&["WAIT", "1", "0"]),
        Reply::err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
    );
    assert_eq!(
        c2.cmd_str(&["SET", "x", "1"]),
        Reply::err("READONLY You can't write against a read only replica.")
    );
    converge(&mut m, &mut c1);
    converge(&mut m, &mut c2);
    let role = m.cmd_str(&["ROLE"]);
    assert_eq!(role.as_array()[0], Reply::bulk("master"));
    assert_eq!(role.as_array()[2].as_array().len(), 2);
}

/// min-replicas-to-write refuses writes until enough replicas are online
/// and acknowledging.
#[test]
fn min_replicas_to_write() {
    if !redis_or_skip() {
        return;
    }
    let master = sluice(
        2,
        &[
            "--min-replicas-to-write",
            "1",
            "--min-replicas-max-lag",
            "10",
        ],
    );
    let mut m = master.client();
    assert_eq!(
        m.cmd_str(&["SET", "a", "1"]),
        Reply::err("NOREPLICAS Not enough good replicas to write.")
    );
    assert_eq!(m.cmd_str(&["GET", "a"]), Reply::nil());
    let replica = redis(&[]);
    let mut r = replica.client();
    replicaof(&mut r, &master);
    wait_until("a good replica", LONG, || {
        info_field(&mut m, "min_slaves_good_slaves").as_deref() == Some("1")
    });
    assert_eq!(m.cmd_str(&["SET", "a", "1"]), Reply::ok());
    converge(&mut m, &mut r);
    assert_eq!(
        m.cmd_str(&["CONFIG", "SET", "min-replicas-to-write", "2"]),
        Reply::ok()
    );
    assert_eq!(
        m.cmd_str(&["SET", "a", "2"]),
        Reply::err("NOREPLICAS Not enough good replicas to write.")
    );
}

/// A sluice replica restarted from its own RDB continues by partial
/// resync: the file records the master's replication ID and offset.
#[test]
fn replica_restart_continues_partially() {
    if !redis_or_skip() {
        return;
    }
    let master = redis(&[]);
    let mut m = master.client();
    fill(&mut m, 500);
    let (dir, dir_arg) = fresh_dir("restart");
    let port = master.port.to_string();
    let args = ["--dir", &dir_arg, "--replicaof", "127.0.0.1", &port];
    {
        let replica = sluice(2, &args);
        let mut r = replica.client();
        converge(&mut m, &mut r);
        assert_eq!(r.cmd_str(&["SAVE"]), Reply::ok());
    }
    // Writes while it is down stay in the master's backlog.
    let w = writer(master.port);
    wait_until("some writes", LONG, || {
        stat(&mut m, "total_commands_processed") > 2000
    });
    let replica = sluice(2, &args);
    let mut r = replica.client();
    wait_until("the restarted replica to continue", LONG, || {
        stat(&mut m, "sync_partial_ok") == 1
    });
    w.stop();
    converge(&mut m, &mut r);
    assert_eq!(stat(&mut m, "sync_full"), 1);
    drop(replica);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A replica that stops reading is dropped once its pending stream passes
/// the replica output-buffer limit, and recovers when it reads again.
#[test]
fn output_buffer_limit_disconnects_and_recovers() {
    if !redis_or_skip() {
        return;
    }
    let master = sluice(
        2,
        &["--client-output-buffer-limit", "replica", "256kb", "0", "0"],
    );
    let replica = redis(&[]);
    let (mut m, mut r) = (master.client(), replica.client());
    fill(&mut m, 200);
    replicaof(&mut r, &master);
    converge(&mut m, &mut r);
    let pid = replica.pid().to_string();
    let kill = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("run kill");
        assert!(status.success());
    };
    kill("-STOP");
    let value = "v".repeat(4096);
    let mut i = 0;
    wait_until("the replica to be dropped", LONG, || {
        for _ in 0..100 {
            m.cmd_str(&["SET", &format!("big:{}", i % 2000), &value]);
            i += 1;
        }
        info_field(&mut m, "connected_slaves").as_deref() == Some("0")
    });
    kill("-CONT");
    assert!(
        master.log().contains("overcoming of output buffer limits"),
        "{}",
        master.log()
    );
    converge(&mut m, &mut r);
}

/// replica-serve-stale-data no: with the link down, data commands get
/// -MASTERDOWN and STALE ones (INFO, PING...) still run.
#[test]
fn masterdown_while_link_is_down() {
    let replica = sluice(2, &["--replica-serve-stale-data", "no"]);
    let mut r = replica.client();
    let dead = common::free_port().to_string();
    assert_eq!(r.cmd_str(&["REPLICAOF", "127.0.0.1", &dead]), Reply::ok());
    assert_eq!(
        r.cmd_str(&["GET", "a"]),
        Reply::err(
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
        )
    );
    assert_eq!(r.cmd_str(&["PING"]), Reply::simple("PONG"));
    assert_eq!(
        info_field(&mut r, "master_link_status").as_deref(),
        Some("down")
    );
    assert_eq!(
        r.cmd_str(&["CONFIG", "SET", "replica-serve-stale-data", "yes"]),
        Reply::ok()
    );
    assert_eq!(r.cmd_str(&["GET", "a"]), Reply::nil());
}

/// A replica never expires keys itself: reads hide a logically expired
/// key, the master's DEL removes it.
#[test]
fn replica_leaves_expiry_to_its_master() {
    if !redis_or_skip() {
        return;
    }
    let master = redis(&[]);
    let replica = sluice(2, &[]);
    let (mut m, mut r) = (master.client(), replica.client());
    assert_eq!(m.cmd_str(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), Reply::ok());
    replicaof(&mut r, &master);
    m.cmd_str(&["SET", "short", "v", "PX", "300"]);
    m.cmd_str(&["SET", "keep", "v"]);
    converge(&mut m, &mut r);
    wait_until("the key to expire logically", LONG, || {
        r.cmd_str(&["GET", "short"]) == Reply::nil()
    });
    // Still there: only hidden.
    assert_eq!(r.cmd_str(&["DBSIZE"]).as_int(), 2);
    // The master's lazy expiry propagates a DEL (its clock may read the
    // expiry millisecond a moment after the replica's did).
    wait_until("the master to expire the key", LONG, || {
        m.cmd_str(&["GET", "short"]) == Reply::nil()
    });
    wait_until("the master's DEL", LONG, || {
        r.cmd_str(&["DBSIZE"]).as_int() == 1
    });
    converge(&mut m, &mut r);
}

fn role(c: &mut Client) -> String {
    c.cmd_str(&["ROLE"]).as_array()[0].as_str()
}

/// FAILOVER: sluice hands the master role to a redis replica (its other,
/// sluice, replica follows through it), and redis hands it to a sluice
/// replica; writes during the switch wait, then get READONLY; no full
/// sync anywhere after the first.
#[test]
fn failover_both_ways() {
    if !redis_or_skip() {
        return;
    }
    let m = sluice(2, &[]);
    let r = redis(&[]);
    let s = sluice(1, &[]);
    let (mut mc, mut rc, mut sc) = (m.client(), r.client(), s.client());
    fill(&mut mc, 300);
    replicaof(&mut rc, &m);
    replicaof(&mut sc, &m);
    converge(&mut mc, &mut rc);
    converge(&mut mc, &mut sc);
    assert_eq!(
        mc.cmd_str(&["FAILOVER", "TO", "127.0.0.1", "1"]),
        Reply::err("ERR FAILOVER target HOST and PORT is not a replica.")
    );
    assert_eq!(
        mc.cmd_str(&["FAILOVER", "FORCE"]),
        Reply::err(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP."
        )
    );
    assert_eq!(
        mc.cmd_str(&["FAILOVER", "ABORT"]),
        Reply::err("ERR No failover in progress.")
    );
    assert_eq!(
        sc.cmd_str(&["FAILOVER"]),
        Reply::err("ERR FAILOVER is not valid when server is a replica.")
    );
    let port = r.port.to_string();
    assert_eq!(
        mc.cmd_str(&["FAILOVER", "TO", "127.0.0.1", &port]),
        Reply::ok()
    );
    // A write sent now waits for the switch, then is refused.
    let mut late = m.client();
    assert_eq!(
        late.cmd_str(&["SET", "late", "1"]),
        Reply::err("READONLY You can't write against a read only replica.")
    );
    wait_until("the failover to finish", LONG, || {
        info_field(&mut mc, "master_failover_state").as_deref() == Some("no-failover")
            && role(&mut mc) == "slave"
    });
    assert_eq!(role(&mut rc), "master");
    rc.cmd_str(&["SET", "new-master", "redis"]);
    converge(&mut rc, &mut mc);
    converge(&mut rc, &mut sc);
    assert_eq!(sc.cmd_str(&["GET", "new-master"]), Reply::bulk("redis"));
    assert_eq!(stat(&mut rc, "sync_full"), 0);

    // redis master -> sluice replica.
    let rm = redis(&[]);
    let s2 = sluice(2, &[]);
    let (mut rmc, mut s2c) = (rm.client(), s2.client());
    fill(&mut rmc, 300);
    replicaof(&mut s2c, &rm);
    converge(&mut rmc, &mut s2c);
    assert_eq!(rmc.cmd_str(&["FAILOVER"]), Reply::ok());
    wait_until("redis to hand over", LONG, || {
        info_field(&mut rmc, "master_failover_state").as_deref() == Some("no-failover")
            && role(&mut rmc) == "slave"
    });
    assert_eq!(role(&mut s2c), "master");
    assert_eq!(s2c.cmd_str(&["SET", "now", "sluice"]), Reply::ok());
    converge(&mut s2c, &mut rmc);
    assert_eq!(stat(&mut s2c, "sync_partial_ok"), 1);
    assert_eq!(stat(&mut s2c, "sync_full"), 0);
}

/// repl-backlog-ttl: a master left without replicas frees its backlog and
/// starts a new history; the offset stays.
#[test]
fn backlog_freed_after_ttl() {
    if !redis_or_skip() {
        return;
    }
    let m = sluice(2, &["--repl-backlog-ttl", "1"]);
    let mut mc = m.client();
    fill(&mut mc, 100);
    let old_id = info_field(&mut mc, "master_replid").unwrap();
    {
        let r = redis(&[]);
        let mut rc = r.client();
        replicaof(&mut rc, &m);
        converge(&mut mc, &mut rc);
        assert_eq!(
            info_field(&mut mc, "repl_backlog_active").as_deref(),
            Some("1")
        );
    }
    let offset = info_field(&mut mc, "master_repl_offset").unwrap();
    wait_until("the backlog to be freed", LONG, || {
        info_field(&mut mc, "repl_backlog_active").as_deref() == Some("0")
    });
    assert_ne!(info_field(&mut mc, "master_replid").unwrap(), old_id);
    assert_eq!(info_field(&mut mc, "master_repl_offset").unwrap(), offset);
    assert!(m
        .log()
        .contains("Replication backlog freed after 1 seconds"));
}

/// The field names of `INFO replication`, in order, without sluice's own.
fn info_names(c: &mut Client) -> Vec<String> {
    c.cmd_str(&["INFO", "replication"])
        .as_str()
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
        .filter(|k| !k.starts_with("sluice_"))
        .collect()
}

/// INFO replication has Redis 7.0's fields, in Redis's order, for a
/// master with a replica, for that replica, and with min-replicas set.
#[test]
fn info_replication_fields_match_redis() {
    if !redis_or_skip() {
        return;
    }
    let mut names = Vec::new();
    for kind in ["redis", "sluice"] {
        let extra = ["--min-replicas-to-write", "1"];
        let (m, r) = if kind == "redis" {
            (redis(&extra), redis(&[]))
        } else {
            (sluice(2, &extra), sluice(1, &[]))
        };
        let (mut mc, mut rc) = (m.client(), r.client());
        replicaof(&mut rc, &m);
        wait_until("the replica online", LONG, || {
            info_field(&mut mc, "slave0").is_some_and(|l| l.contains("state=online"))
        });
        // The master may call it online before the replica has finished
        // loading (its master_sync_* fields show only meanwhile).
        link_up(&mut rc);
        wait_until("the replica's load to finish", LONG, || {
            info_field(&mut rc, "master_sync_in_progress").as_deref() == Some("0")
        });
        names.push((kind, info_names(&mut mc), info_names(&mut rc)));
    }
    assert_eq!(names[1].1, names[0].1, "master fields");
    assert_eq!(names[1].2, names[0].2, "replica fields");
}

/// A sluice master restarted from its RDB keeps its history as
/// `master_replid2`: its redis-server replica continues by partial resync
/// (Redis 7.0's behaviour).
#[test]
fn master_restart_continues_partially() {
    if !redis_or_skip() {
        return;
    }
    let (dir, dir_arg) = fresh_dir("mrestart");
    let replica = redis(&[]);
    let mut r = replica.client();
    let old_id;
    {
        let master = sluice(2, &["--dir", &dir_arg]);
        let mut m = master.client();
        fill(&mut m, 300);
        sync_under_writes(&master, &mut m, &mut r);
        old_id = info_field(&mut m, "master_replid").unwrap();
        assert_eq!(m.cmd_str(&["SAVE"]), Reply::ok());
    }
    let master = sluice(2, &["--dir", &dir_arg]);
    let mut m = master.client();
    assert_eq!(info_field(&mut m, "master_replid2"), Some(old_id));
    replicaof(&mut r, &master);
    wait_until("the replica to continue", LONG, || {
        stat(&mut m, "sync_partial_ok") == 1
    });
    m.cmd_str(&["SET", "after-restart", "1"]);
    converge(&mut m, &mut r);
    assert_eq!(stat(&mut m, "sync_full"), 0);
    drop(master);
    let _ = std::fs::remove_dir_all(&dir);
}

/// CONFIG SET repl-backlog-size replaces the ring with one of the new size
/// holding the old history; the replica continues from it.
#[test]
fn backlog_resize_keeps_history() {
    if !redis_or_skip() {
        return;
    }
    let m = sluice(2, &[]);
    let r = redis(&[]);
    let (mut mc, mut rc) = (m.client(), r.client());
    fill(&mut mc, 200);
    replicaof(&mut rc, &m);
    converge(&mut mc, &mut rc);
    let histlen = info_field(&mut mc, "repl_backlog_histlen").unwrap();
    assert_eq!(
        mc.cmd_str(&["CONFIG", "SET", "repl-backlog-size", "128mb"]),
        Reply::ok()
    );
    assert_eq!(
        info_field(&mut mc, "repl_backlog_size").as_deref(),
        Some("134217728")
    );
    assert_eq!(info_field(&mut mc, "repl_backlog_histlen"), Some(histlen));
    wait_until("the replica to continue", LONG, || {
        stat(&mut mc, "sync_partial_ok") == 1
    });
    mc.cmd_str(&["SET", "after-resize", "1"]);
    converge(&mut mc, &mut rc);
    assert_eq!(stat(&mut mc, "sync_full"), 1);
    assert!(m
        .log()
        .contains("Replication backlog resized to 134217728 bytes"));
}
