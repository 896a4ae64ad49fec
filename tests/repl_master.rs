//! sluice as a master: PSYNC/SYNC answered with a full sync from the
//! forkless snapshot, then the replication stream. A real redis-server
//! replica follows it with writes running during and after the sync (both
//! datasets compared by DEBUG DIGEST once the replica's offset equals the
//! master's), and a raw replica without `capa eof` gets the `$<size>`
//! framing.

mod common;

use common::repl::NO_DELAY;
use common::{info_field, require_bin, wait_until, Client, Reply, Server, Writer, DEBUG_ON};
use sluice::rdb::{Decoder, Item, Limits};
use sluice::repl::handshake::{Failure, SyncPayload};
use sluice::store::{digest, Db, Entry};
use std::io::{Read, Write};
use std::time::Duration;

fn fill(c: &mut Client) {
    for i in 0..2000 {
        let i = i.to_string();
        c.cmd_str(&["SET", &format!("s:{i}"), &i]);
        c.cmd_str(&["HSET", &format!("h:{}", i.len()), &i, &i]);
        c.cmd_str(&["RPUSH", "l", &i]);
        c.cmd_str(&["SADD", "set", &i]);
        c.cmd_str(&["ZADD", "z", &i, &format!("m{i}")]);
        c.cmd_str(&["XADD", "x", "*", "f", &i]);
    }
    c.cmd_str(&["SET", "ttl", "v", "EX", "3600"]);
    c.cmd_str(&["SELECT", "4"]);
    c.cmd_str(&["SET", "four", "4"]);
    c.cmd_str(&["SELECT", "0"]);
}

fn redis_replica_of_sluice(threads: usize) {
    let sluice = Server::sluice(threads, &[DEBUG_ON, NO_DELAY].concat());
    let mut m = sluice.client();
    fill(&mut m);
    let redis = Server::redis(DEBUG_ON);
    let mut r = redis.client();
    // Writes keep coming through the sync: the replica must get those
    // after the cut from the stream.
    let writer = Writer::start(sluice.port, |c, n| {
        c.cmd_str(&["INCR", "during"]);
        c.cmd_str(&["SET", &format!("during:{}", n % 500), &n.to_string()]);
        c.cmd_str(&["SELECT", &(n % 3).to_string()]);
        c.cmd_str(&["LPUSH", "dl", &n.to_string()]);
    });
    let port = sluice.port.to_string();
    assert_eq!(r.cmd_str(&["REPLICAOF", "127.0.0.1", &port]), Reply::ok());
    wait_until(
        "redis to load the full sync",
        Duration::from_secs(30),
        || info_field(&mut r, "master_link_status").as_deref() == Some("up"),
    );
    println!("writes during the sync: {}", writer.stop());
    // And after it: transactions, expiries, deletes, several databases.
    m.cmd_str(&["MULTI"]);
    m.cmd_str(&["INCR", "tx"]);
    m.cmd_str(&["SELECT", "6"]);
    m.cmd_str(&["SET", "six", "6"]);
    m.cmd_str(&["EXEC"]);
    m.cmd_str(&["SELECT", "0"]);
    m.cmd_str(&["EXPIRE", "s:1", "1000"]);
    m.cmd_str(&["DEL", "s:2"]);
    m.cmd_str(&["SPOP", "set"]);
    m.cmd_str(&["INCRBYFLOAT", "f", "1.5"]);
    wait_until("the replica to catch up", Duration::from_secs(30), || {
        let want = info_field(&mut m, "master_repl_offset");
        want.is_some() && info_field(&mut r, "slave_repl_offset") == want
    });
    if r.cmd_str(&["DEBUG", "DIGEST"]) != m.cmd_str(&["DEBUG", "DIGEST"]) {
        for db in 0..8 {
            let db = db.to_string();
            m.cmd_str(&["SELECT", &db]);
            r.cmd_str(&["SELECT", &db]);
            let keys = m.cmd_str(&["KEYS", "*"]).unordered();
            let rkeys = r.cmd_str(&["KEYS", "*"]).unordered();
            if keys != rkeys {
                println!("db {db}: keys differ: master {keys:?} replica {rkeys:?}");
            }
            for k in keys.as_array() {
                let k = k.as_str();
                let a = m.cmd_str(&["DEBUG", "DIGEST-VALUE", &k]);
                let b = r.cmd_str(&["DEBUG", "DIGEST-VALUE", &k]);
                if a != b {
                    println!(
                        "db {db} key {k}: master {:?} replica {:?}",
                        m.cmd_str(&["DUMP", &k]),
                        r.cmd_str(&["DUMP", &k])
                    );
                }
            }
        }
        panic!("datasets differ");
    }
    assert_eq!(info_field(&mut m, "connected_slaves").as_deref(), Some("1"));
    let line = info_field(&mut m, "slave0").unwrap();
    assert!(line.starts_with("ip=127.0.0.1,port="), "{line}");
    assert!(line.contains(",state=online,"), "{line}");
    assert_eq!(
        info_field(&mut r, "master_replid"),
        info_field(&mut m, "master_replid")
    );
}

#[test]
fn redis_replica_loads_a_full_sync_threads_1() {
    if require_bin("redis-server").is_none() {
        return;
    }
    redis_replica_of_sluice(1);
}

#[test]
fn redis_replica_loads_a_full_sync_threads_2() {
    if require_bin("redis-server").is_none() {
        return;
    }
    redis_replica_of_sluice(2);
}

/// Without `capa eof` the payload is `$<size>`; REPLCONF's errors as Redis.
#[test]
fn sized_payload_without_capa_eof() {
    let sluice = Server::sluice(2, &[DEBUG_ON, NO_DELAY].concat());
    let mut m = sluice.client();
    fill(&mut m);
    assert_eq!(
        m.cmd_str(&["REPLCONF", "listening-port"]),
        Reply::err("ERR syntax error")
    );
    assert_eq!(
        m.cmd_str(&["REPLCONF", "nope", "1"]),
        Reply::err("ERR Unrecognized REPLCONF option: nope")
    );
    let mut link = Client::connect(sluice.port);
    assert_eq!(
        link.cmd_str(&["REPLCONF", "listening-port", "4242"]),
        Reply::ok()
    );
    let mut sock = link.stream().try_clone().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    sock.write_all(b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = sock.read(&mut chunk).unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    let end = buf.windows(2).position(|w| w == b"\r\n").unwrap();
    let line = String::from_utf8(buf[..end].to_vec()).unwrap();
    let replid = info_field(&mut m, "master_replid").unwrap();
    assert_eq!(line, format!("+FULLRESYNC {replid} 0"));
    buf.drain(..end + 2);
    let mut payload = SyncPayload::new();
    let mut rdb = Vec::new();
    loop {
        let used = payload
            .feed(&buf, &mut |bytes: &[u8]| {
                rdb.extend_from_slice(bytes);
                Ok::<(), Failure>(())
            })
            .unwrap();
        buf.drain(..used);
        if payload.is_done() {
            break;
        }
        assert!(!payload.is_marked(), "no capa eof: a sized payload");
        let n = sock.read(&mut chunk).unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut decoder = Decoder::new(Limits::default());
    decoder.feed(&rdb);
    decoder.finish_input();
    let mut dbs: Vec<Db> = (0..16).map(|_| Db::default()).collect();
    let mut aux = Vec::new();
    while let Some(item) = decoder.next_item().unwrap() {
        match item {
            Item::Entry(e) => {
                dbs[e.db as usize].insert(&e.key, Entry::new(e.value, e.expire_ms.unwrap_or(0)));
            }
            Item::Aux { key, value } => aux.push((key, value)),
            _ => {}
        }
    }
    assert_eq!(
        Reply::Simple(digest::dbs_hex(&dbs)),
        m.cmd_str(&["DEBUG", "DIGEST"])
    );
    assert!(aux.contains(&(b"repl-id".to_vec(), replid.into_bytes())));
    assert!(aux.contains(&(b"repl-offset".to_vec(), b"0".to_vec())));
    wait_until(
        "the master to list the replica",
        Duration::from_secs(10),
        || info_field(&mut m, "slave0").is_some_and(|l| l.contains(",port=4242,state=online,")),
    );
}
