//! Replication with a real redis-server 7.0 master and a sluice replica
//! (REPLICAOF): full sync in both framings with writes running during it,
//! then the command stream (every family, MULTI/EXEC, several databases,
//! expiries), compared by DEBUG DIGEST once the replica's offset equals the
//! master's; READONLY, ROLE and INFO fields; REPLICAOF NO ONE.

mod common;

use common::{info_field, require_bin, wait_until, Client, Reply, Server, Writer, DEBUG_ON};
use std::time::Duration;

fn fill(c: &mut Client, round: usize) {
    for i in 0..200 {
        let i = format!("{round}:{i}");
        c.cmd_str(&["SET", &format!("s:{i}"), &i]);
        c.cmd_str(&["HSET", &format!("h:{}", round % 3), &i, &i]);
        c.cmd_str(&["RPUSH", "l", &i]);
        c.cmd_str(&["SADD", "set", &i]);
        c.cmd_str(&["ZADD", "z", "1.5", &i]);
        c.cmd_str(&["XADD", "x", "*", "f", &i]);
        c.cmd_str(&["SET", &format!("ttl:{i}"), "v", "EX", "3600"]);
    }
    c.cmd_str(&["SELECT", "5"]);
    c.cmd_str(&["INCR", "counter"]);
    c.cmd_str(&["SELECT", "0"]);
}

/// The link is up and the replica has applied everything the master has
/// fed its replicas (before the first sync both offsets read 0).
fn converged(master: &mut Client, replica: &mut Client) -> bool {
    if info_field(replica, "master_link_status").as_deref() != Some("up") {
        return false;
    }
    let want = info_field(master, "master_repl_offset");
    want.is_some() && info_field(replica, "slave_repl_offset") == want
}

fn redis_master_to_sluice_replica(threads: usize, master_extra: &[&str]) {
    let mut args = vec!["--repl-diskless-sync-delay", "0"];
    args.extend_from_slice(DEBUG_ON);
    args.extend_from_slice(master_extra);
    let redis = Server::redis(&args);
    let mut m = redis.client();
    fill(&mut m, 0);

    let sluice = Server::sluice(threads, DEBUG_ON);
    let mut r = sluice.client();
    assert_eq!(info_field(&mut r, "role").as_deref(), Some("master"));

    // A writer keeps going through the full sync.
    let writer = Writer::start(redis.port, |c, n| {
        c.cmd_str(&["INCR", "during"]);
        c.cmd_str(&["SET", &format!("during:{}", n % 500), &n.to_string()]);
    });
    let port = redis.port.to_string();
    assert_eq!(r.cmd_str(&["REPLICAOF", "127.0.0.1", &port]), Reply::ok());
    assert_eq!(
        r.cmd_str(&["REPLICAOF", "127.0.0.1", &port]),
        Reply::simple("OK Already connected to specified master")
    );
    wait_until("the link to come up", Duration::from_secs(30), || {
        info_field(&mut r, "master_link_status").as_deref() == Some("up")
    });
    let writes = writer.stop();
    println!("writes during the sync: {writes}");

    // The stream: every family, transactions, several databases.
    fill(&mut m, 1);
    m.cmd_str(&["MULTI"]);
    m.cmd_str(&["INCR", "tx"]);
    m.cmd_str(&["LPUSH", "l", "tx"]);
    m.cmd_str(&["EXEC"]);
    m.cmd_str(&["SPOP", "set"]);
    m.cmd_str(&["DEL", "s:0:1"]);
    m.cmd_str(&["EXPIRE", "s:0:2", "1000"]);
    m.cmd_str(&["SELECT", "9"]);
    m.cmd_str(&["SET", "nine", "9"]);
    m.cmd_str(&["SELECT", "0"]);
    wait_until("the replica to catch up", Duration::from_secs(30), || {
        converged(&mut m, &mut r)
    });
    assert_eq!(
        r.cmd_str(&["DEBUG", "DIGEST"]),
        m.cmd_str(&["DEBUG", "DIGEST"]),
        "datasets differ"
    );
    assert_eq!(
        r.cmd_str(&["SET", "x", "y"]),
        Reply::err("READONLY You can't write against a read only replica.")
    );
    let offset = info_field(&mut r, "slave_repl_offset").unwrap();
    assert_eq!(
        r.cmd_str(&["ROLE"]),
        Reply::array(vec![
            Reply::bulk("slave"),
            Reply::bulk("127.0.0.1"),
            Reply::Int(i64::from(redis.port)),
            Reply::bulk("connected"),
            Reply::Int(offset.parse().unwrap()),
        ])
    );
    assert_eq!(
        info_field(&mut r, "master_replid"),
        info_field(&mut m, "master_replid")
    );
    // The master lists its replica once it has ACKed.
    wait_until(
        "the master to list the replica",
        Duration::from_secs(10),
        || info_field(&mut m, "slave0").is_some_and(|l| l.contains(&format!("offset={offset},"))),
    );

    assert_eq!(r.cmd_str(&["REPLICAOF", "NO", "ONE"]), Reply::ok());
    assert_eq!(info_field(&mut r, "role").as_deref(), Some("master"));
    assert_eq!(r.cmd_str(&["SET", "x", "y"]), Reply::ok());
    assert_eq!(
        r.cmd_str(&["REPLICAOF", "127.0.0.1", "99999"]),
        Reply::err("ERR Invalid master port")
    );
}

#[test]
fn diskless_sync_from_redis_threads_1() {
    if require_bin("redis-server").is_none() {
        return;
    }
    redis_master_to_sluice_replica(1, &[]);
}

#[test]
fn disk_sync_from_redis_threads_2() {
    if require_bin("redis-server").is_none() {
        return;
    }
    redis_master_to_sluice_replica(2, &["--repl-diskless-sync", "no"]);
}

/// `--replicaof host port` at startup, as redis-server takes it; CONFIG GET
/// shows the live master, and REPLICAOF NO ONE clears it.
#[test]
fn replicaof_directive_starts_the_link() {
    if require_bin("redis-server").is_none() {
        return;
    }
    let mut args = vec!["--repl-diskless-sync-delay", "0"];
    args.extend_from_slice(DEBUG_ON);
    let redis = Server::redis(&args);
    let mut m = redis.client();
    fill(&mut m, 0);
    let port = redis.port.to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", &port];
    args.extend_from_slice(DEBUG_ON);
    let sluice = Server::sluice(2, &args);
    let mut r = sluice.client();
    wait_until("the replica to catch up", Duration::from_secs(30), || {
        converged(&mut m, &mut r)
    });
    assert_eq!(
        r.cmd_str(&["DEBUG", "DIGEST"]),
        m.cmd_str(&["DEBUG", "DIGEST"])
    );
    assert_eq!(
        r.cmd_str(&["CONFIG", "GET", "replicaof"]),
        Reply::bulks(["replicaof", &format!("127.0.0.1 {port}")])
    );
    assert_eq!(r.cmd_str(&["REPLICAOF", "NO", "ONE"]), Reply::ok());
    assert_eq!(
        r.cmd_str(&["CONFIG", "GET", "replicaof"]),
        Reply::bulks(["replicaof", ""])
    );
}
