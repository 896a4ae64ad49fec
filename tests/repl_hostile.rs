//! Hostile peers on replication links never take the server down: a fake
//! master sending a garbage RDB, a truncated one, an absurd payload size,
//! a broken command stream; a fake replica sending malformed PSYNC and
//! REPLCONF ACK. The server logs the cause, keeps serving, and (as a
//! replica) retries.

mod common;

use common::{info_field, wait_until, Client, Reply, Server};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

/// Answers one replica's handshake (PING, REPLCONFs, PSYNC) and returns
/// the socket once PSYNC arrived.
fn accept_handshake(listener: &TcpListener) -> TcpStream {
    // Bounded: a replica that never comes back fails the test, not hangs it.
    listener.set_nonblocking(true).unwrap();
    let mut accepted = None;
    wait_until("the replica to connect", LONG, || {
        accepted = listener.accept().ok();
        accepted.is_some()
    });
    let (mut s, _) = accepted.expect("accepted above");
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let mut replied = 0;
    loop {
        let n = s.read(&mut buf).expect("read the handshake");
        assert!(n > 0, "the replica closed during the handshake");
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).to_string();
        let commands = text.matches("*").count();
        while replied < commands {
            let reply: &[u8] = if replied == 0 {
                b"+PONG\r\n"
            } else {
                b"+OK\r\n"
            };
            if text.contains("PSYNC") && replied + 1 == commands {
                return s;
            }
            s.write_all(reply).unwrap();
            replied += 1;
        }
    }
}

fn replica_of(listener: &TcpListener, extra: &[&str]) -> Server {
    let port = listener.local_addr().unwrap().port().to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", &port];
    args.extend_from_slice(extra);
    Server::sluice(2, &args)
}

fn still_serving(server: &mut Server) {
    server.assert_alive();
    let mut c = server.client();
    assert_eq!(c.cmd_str(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn fake_master_sending_garbage() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // disabled with no data loads aside while it writes the file.
    for (load, old) in [
        ("disabled", true),
        ("disabled", false),
        ("on-empty-db", true),
        ("swapdb", true),
    ] {
        let mut server = replica_of(
            &listener,
            &["--repl-diskless-load", load, "--replica-read-only", "no"],
        );
        let id = "a".repeat(40);
        // 1. A payload that is not an RDB.
        let mut s = accept_handshake(&listener);
        let mut c = server.client();
        if old {
            assert_eq!(c.cmd_str(&["SET", "old", "data"]), Reply::ok());
        }
        s.write_all(format!("+FULLRESYNC {id} 0\r\n$64\r\n").as_bytes())
            .unwrap();
        s.write_all(&[0xAB; 64]).unwrap();
        // The replica gives up on it and comes back.
        let mut s = accept_handshake(&listener);
        assert!(server.log().contains("MASTER"), "{}", server.log());
        still_serving(&mut server);
        // swapdb loads aside: a failed load leaves the old data; the
        // other modes had emptied it first.
        let kept = if load == "swapdb" && old {
            Reply::bulk("data")
        } else {
            Reply::nil()
        };
        assert_eq!(c.cmd_str(&["GET", "old"]), kept, "{load}");
        // 2. A diskless payload cut short, then the link closed.
        s.write_all(
            format!("+FULLRESYNC {id} 0\r\n$EOF:{}\r\nREDIS0010", "m".repeat(40)).as_bytes(),
        )
        .unwrap();
        drop(s);
        let mut s = accept_handshake(&listener);
        still_serving(&mut server);
        // 3. An absurd announced size, then silence and a close.
        s.write_all(format!("+FULLRESYNC {id} 0\r\n$18446744073709551615\r\n").as_bytes())
            .unwrap();
        drop(s);
        let mut s = accept_handshake(&listener);
        still_serving(&mut server);
        // 4. A garbage reply to PSYNC.
        s.write_all(b"+FULLRESYNC nonsense\r\n").unwrap();
        drop(s);
        let mut s = accept_handshake(&listener);
        still_serving(&mut server);
        // 5. A valid RDB with no keys but an absurd RESIZEDB hint (2^62
        // keys: a live load sizes its tables on a hint, within a budget),
        // then a broken command stream.
        let rdb = hinted_rdb();
        s.write_all(format!("+FULLRESYNC {id} 0\r\n${}\r\n", rdb.len()).as_bytes())
            .unwrap();
        s.write_all(&rdb).unwrap();
        let mut c = server.client();
        wait_until("the link to come up", LONG, || {
            info_field(&mut c, "master_link_status").as_deref() == Some("up")
        });
        s.write_all(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nSET\r\n$-7\r\nxx\r\n")
            .unwrap();
        s.write_all(b"*9999999999999999999999\r\n").unwrap();
        let _s = accept_handshake(&listener);
        still_serving(&mut server);
        assert!(
            server
                .log()
                .contains("protocol error in the master's stream")
                || server.log().contains("Replication link with MASTER lost"),
            "{}",
            server.log()
        );
        // No failed transfer left its temp file behind.
        let temps = common::file_names(server.dir(), |name| name.starts_with("temp-"));
        assert!(temps.is_empty(), "{load}: {temps:?}");
    }
}

/// An RDB with no keys whose db 0 claims 2^62 of them (RESIZEDB), and
/// no checksum (0: not computed).
fn hinted_rdb() -> Vec<u8> {
    let mut rdb = b"REDIS0010\xFE\x00\xFB\x81".to_vec();
    rdb.extend_from_slice(&(1u64 << 62).to_be_bytes());
    rdb.extend_from_slice(b"\x00\xFF");
    rdb.extend_from_slice(&[0; 8]);
    rdb
}

#[test]
fn fake_replica_sending_garbage() {
    let mut server = Server::sluice(2, &[]);
    let mut c = server.client();
    c.cmd_str(&["SET", "k", "v"]);
    let requests: &[&[&str]] = &[
        &["PSYNC", "?", "-99999999999999999999"],
        &["PSYNC", "abc", "1"],
        &["PSYNC", &"f".repeat(40), "18446744073709551616"],
        &["PSYNC", &"f".repeat(40), "0", "FAILOVER"],
    ];
    for req in requests {
        let mut link = Client::connect(server.port);
        let reply = link.cmd_str(&["REPLCONF", "listening-port", "1"]);
        assert_eq!(reply, Reply::ok());
        let args: Vec<&str> = req.to_vec();
        let mut sock = link.stream().try_clone().unwrap();
        sock.write_all(&common::encode_command(
            &args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>(),
        ))
        .unwrap();
        // Whatever comes back, answer with junk ACKs and hang up.
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 1024];
        let _ = sock.read(&mut buf);
        let _ = sock.write_all(b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$3\r\n-12\r\n");
        let _ = sock.write_all(b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$40\r\n99999999999999999999999999999999999999\r\n");
        let _ = sock.write_all(b"$-1\r\n*-5\r\n\r\n\n\n*1\r\n$99999999999\r\n");
    }
    wait_until("the fake replicas to be dropped", LONG, || {
        info_field(&mut c, "connected_slaves").as_deref() == Some("0")
    });
    still_serving(&mut server);
    assert_eq!(c.cmd_str(&["GET", "k"]), Reply::bulk("v"));
}
