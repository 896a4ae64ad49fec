//! The replica side of the link, against a real redis-server master: the
//! sans-IO handshake (`sluice::repl::handshake`) driven over a socket, the
//! full-sync payload in both framings (diskless `$EOF:` and disk `$<n>`)
//! decoded as it streams in, the dataset compared by DEBUG DIGEST, then the
//! command stream byte for byte, its offsets, and REPLCONF ACK as the
//! master sees it.

mod common;

use common::{require_bin, wait_until, Client, Server};
use sluice::rdb::{Decoder, Item, Limits};
use sluice::repl::handshake::{ack, Config, Event, Failure, Handshake, SyncPayload};
use sluice::store::{digest, Db, Entry};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn fill(c: &mut Client) {
    let big = "x".repeat(100);
    for i in 0..300 {
        let i = i.to_string();
        c.cmd_str(&["SET", &format!("s:{i}"), &i]);
        c.cmd_str(&["HSET", "h:small", &i, &i]);
        c.cmd_str(&["RPUSH", "l", &big, &i]);
        c.cmd_str(&["SADD", "set:int", &i]);
        c.cmd_str(&["SADD", "set:str", &format!("m{i}")]);
        c.cmd_str(&["ZADD", "z", &i, &format!("m{i}")]);
        c.cmd_str(&["XADD", "x", "*", "f", &i]);
    }
    c.cmd_str(&["SET", "ttl", "v", "EX", "3600"]);
    c.cmd_str(&["SELECT", "3"]);
    c.cmd_str(&["HSET", "h", "a", "1"]);
    c.cmd_str(&["ZADD", "z3", "1.5", "a"]);
    c.cmd_str(&["SELECT", "0"]);
}

/// Reads from the master until `done` says what was read is enough.
fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 64 * 1024];
    let n = s.read(&mut chunk).expect("read from the master");
    assert!(n > 0, "the master closed the link");
    buf.extend_from_slice(&chunk[..n]);
}

fn full_sync_then_stream(extra: &[&str]) {
    let mut args = vec![
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--repl-ping-replica-period",
        "3600",
    ];
    args.extend_from_slice(extra);
    let redis = Server::redis(&args);
    let mut c = redis.client();
    fill(&mut c);
    let want_digest = c.cmd_str(&["DEBUG", "DIGEST"]).as_str();

    let mut link = TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    link.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (mut handshake, ping) = Handshake::new(Config {
        listening_port: 7777,
        ..Config::default()
    });
    link.write_all(&ping).unwrap();
    let mut buf = Vec::new();
    let (replid, offset) = 'handshake: loop {
        read_more(&mut link, &mut buf);
        let (events, used) = handshake.feed(&buf).expect("handshake");
        buf.drain(..used);
        for event in events {
            match event {
                Event::Send(bytes) => link.write_all(&bytes).unwrap(),
                Event::FullResync { replid, offset } => break 'handshake (replid, offset),
                Event::Continue { .. } => panic!("nothing cached: no CONTINUE"),
            }
        }
    };
    let info = c.cmd_str(&["INFO", "replication"]).as_str();
    assert!(
        info.contains(&format!("master_replid:{replid}\r\n")),
        "{info}"
    );

    // The payload, decoded as it arrives (diskless load).
    let mut payload = SyncPayload::new();
    let mut decoder = Decoder::new(Limits::default());
    let mut dbs: Vec<Db> = (0..16).map(|_| Db::default()).collect();
    let mut aux = Vec::new();
    let mut take_items = |decoder: &mut Decoder, dbs: &mut Vec<Db>| {
        while let Some(item) = decoder.next_item().expect("decode the master's RDB") {
            match item {
                Item::Entry(e) => {
                    let entry = Entry::new(e.value, e.expire_ms.unwrap_or(0));
                    assert!(dbs[e.db as usize].insert(&e.key, entry).is_none());
                }
                Item::Aux { key, value } => aux.push((key, value)),
                _ => {}
            }
        }
    };
    loop {
        let used = payload
            .feed(&buf, &mut |bytes: &[u8]| {
                decoder.feed(bytes);
                Ok::<(), Failure>(())
            })
            .expect("payload framing");
        buf.drain(..used);
        take_items(&mut decoder, &mut dbs);
        if payload.is_done() {
            break;
        }
        read_more(&mut link, &mut buf);
    }
    decoder.finish_input();
    take_items(&mut decoder, &mut dbs);
    assert!(decoder.is_done());
    assert_eq!(digest::dbs_hex(&dbs), want_digest);
    let aux_of = |k: &str| {
        aux.iter()
            .find(|(key, _)| key == k.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(aux_of("repl-id"), Some(replid.clone()));
    assert_eq!(aux_of("repl-offset"), Some(offset.to_string()));

    c.cmd_str(&["SET", "k", "v"]);
    c.cmd_str(&["SELECT", "3"]);
    c.cmd_str(&["INCR", "n"]);
    let want: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n\
                        *2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n";
    // A diskless master streams only after an ACK that finds the replica
    // online (one sent before the master has noticed the end of its
    // transfer is ignored), so ACK every 100 ms as a replica's cron would
    // every second, until the stream comes.
    link.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while buf.len() < want.len() {
        assert!(std::time::Instant::now() < deadline, "no command stream");
        link.write_all(&ack(offset)).unwrap();
        let mut chunk = [0u8; 4096];
        match link.read(&mut chunk) {
            Ok(0) => panic!("the master closed the link"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("read from the master: {e}"),
        }
    }
    assert_eq!(
        common::escape(&buf),
        common::escape(want),
        "the command stream"
    );
    let applied = offset + buf.len() as u64;
    let info = c.cmd_str(&["INFO", "replication"]).as_str();
    assert!(
        info.contains(&format!("master_repl_offset:{applied}\r\n")),
        "{info}"
    );
    link.write_all(&ack(applied)).unwrap();
    wait_until("the master to see the ACK", Duration::from_secs(10), || {
        c.cmd_str(&["INFO", "replication"])
            .as_str()
            .contains(&format!("offset={applied},"))
    });
}

#[test]
fn diskless_full_sync_from_redis() {
    if require_bin("redis-server").is_none() {
        return;
    }
    full_sync_then_stream(&[]);
}

#[test]
fn disk_full_sync_from_redis() {
    if require_bin("redis-server").is_none() {
        return;
    }
    full_sync_then_stream(&["--repl-diskless-sync", "no"]);
}
