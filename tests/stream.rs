//! Streams against the real thing: blocking reads run on redis-server and
//! on sluice-server (one and two shard threads, so waiter and writer may
//! live on different shards) and every reply must be identical; `*` IDs
//! (which depend on the clock) are checked by property.
//!
//! Blocking scenarios: XREAD on `$` and on an ID served by a later XADD
//! (two waiters both served), only the key that got data in the reply,
//! timeout, XREADGROUP waiters served one entry each in arrival order,
//! NOACK, a destroyed group (NOGROUP), writes that add nothing (XDEL,
//! XSETID) not waking anyone, blocking inside MULTI, RESP3 replies and
//! pipelined commands held back until the client is served.
mod common;

use common::{require_bin, wait_blocked, Reply, Server};

fn scenario(server: &Server) -> Vec<String> {
    let (mut a, mut b, mut p) = (server.client(), server.client(), server.client());
    let mut log = Vec::new();
    let mut push = |r: Reply| log.push(format!("{r:?}"));

    // Two XREAD waiters, both served by one XADD.
    a.send_str(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut p, 1);
    b.send_str(&[
        "XREAD", "COUNT", "5", "BLOCK", "0", "STREAMS", "other", "s", "0", "0",
    ]);
    wait_blocked(&mut p, 2);
    push(p.cmd_str(&["XADD", "s", "1-1", "f", "v"]));
    push(a.read_reply());
    push(b.read_reply());

    // `$` means "after the last ID when I blocked": XDEL, XSETID and writes
    // to other keys wake nobody; the next XADD does.
    a.send_str(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut p, 1);
    push(p.cmd_str(&["XDEL", "s", "1-1"]));
    push(p.cmd_str(&["XSETID", "s", "5-0"]));
    push(p.cmd_str(&["XADD", "other", "1-0", "x", "y"]));
    push(p.cmd_str(&["PING"]));
    assert_eq!(
        common::blocked_count(&mut p),
        1,
        "XDEL/XSETID/another key woke the reader"
    );
    push(p.cmd_str(&["XADD", "s", "6-0", "a", "1", "b", "2"]));
    push(a.read_reply());

    // Timeout.
    push(a.cmd_str(&["XREAD", "BLOCK", "30", "STREAMS", "s", "$"]));

    // Consumer group: two waiters on `>`, one entry each, oldest first.
    push(p.cmd_str(&["XGROUP", "CREATE", "s", "g", "$"]));
    a.send_str(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    wait_blocked(&mut p, 1);
    b.send_str(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "bob",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    wait_blocked(&mut p, 2);
    push(p.cmd_str(&["XADD", "s", "7-0", "f", "one"]));
    push(a.read_reply());
    wait_blocked(&mut p, 1);
    push(p.cmd_str(&["XADD", "s", "8-0", "f", "two"]));
    push(b.read_reply());
    push(p.cmd_str(&["XPENDING", "s", "g"]));
    push(p.cmd_str(&["XINFO", "GROUPS", "s"]));

    // Several entries in one transaction serve a waiter after EXEC, COUNT
    // honoured; NOACK leaves no pending entries.
    a.send_str(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "carol",
        "COUNT",
        "2",
        "NOACK",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    wait_blocked(&mut p, 1);
    push(p.cmd_str(&["MULTI"]));
    push(p.cmd_str(&["XADD", "s", "9-0", "f", "a"]));
    push(p.cmd_str(&["XADD", "s", "9-1", "f", "b"]));
    push(p.cmd_str(&["XADD", "s", "9-2", "f", "c"]));
    push(p.cmd_str(&["EXEC"]));
    push(a.read_reply());
    push(p.cmd_str(&["XPENDING", "s", "g"]));
    push(p.cmd_str(&["XINFO", "GROUPS", "s"]));

    // A destroyed group answers its waiters with NOGROUP.
    push(p.cmd_str(&["XGROUP", "CREATE", "s", "g2", "$"]));
    b.send_str(&[
        "XREADGROUP",
        "GROUP",
        "g2",
        "dave",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    wait_blocked(&mut p, 1);
    push(p.cmd_str(&["XGROUP", "DESTROY", "s", "g2"]));
    push(b.read_reply());

    // RESP3: a map keyed by stream; pipelined commands wait for the block.
    a.cmd_str(&["HELLO", "3"]); // its reply holds the client id: not compared
    a.send_raw(b"*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$1\r\n0\r\n$7\r\nSTREAMS\r\n$2\r\nr3\r\n$1\r\n$\r\n*1\r\n$4\r\nPING\r\n")
        .unwrap();
    wait_blocked(&mut p, 1);
    push(p.cmd_str(&["XADD", "r3", "1-0", "k", "v"]));
    push(a.read_reply());
    push(a.read_reply());
    push(a.cmd_str(&["XREAD", "BLOCK", "10", "STREAMS", "r3", "$"]));
    a.cmd_str(&["HELLO", "2"]);

    // Inside MULTI, BLOCK does not block.
    push(a.cmd_str(&["MULTI"]));
    push(a.cmd_str(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]));
    push(a.cmd_str(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "x",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]));
    push(a.cmd_str(&["EXEC"]));

    // Errors of the blocking forms.
    push(a.cmd_str(&["XREAD", "BLOCK", "-1", "STREAMS", "s", "$"]));
    push(a.cmd_str(&["XREAD", "BLOCK", "1.5", "STREAMS", "s", "$"]));
    push(a.cmd_str(&[
        "XREADGROUP",
        "GROUP",
        "nogroup",
        "c",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]));
    push(a.cmd_str(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        "$",
    ]));
    push(a.cmd_str(&["XREAD", "BLOCK", "0", "STREAMS", "s", ">"]));
    push(a.cmd_str(&["SET", "str", "v"]));
    push(a.cmd_str(&["XREAD", "BLOCK", "0", "STREAMS", "str", "$"]));
    log
}

#[test]
fn blocking_reads_match_redis() {
    if require_bin("redis-server").is_none() {
        return;
    }
    let expected = scenario(&Server::redis(&[]));
    for threads in [1, 2] {
        let got = scenario(&Server::sluice(threads, &[]));
        for (i, (want, got)) in expected.iter().zip(&got).enumerate() {
            assert_eq!(got, want, "step {i} (server-threads {threads})");
        }
        assert_eq!(got.len(), expected.len());
    }
}

/// `*` takes the clock's milliseconds, never goes back, and `ms-*` picks the
/// next sequence.
#[test]
fn auto_ids_follow_the_clock() {
    let server = Server::sluice(1, &[]);
    let mut c = server.client();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let id = c.cmd_str(&["XADD", "s", "*", "f", "v"]).as_str();
    let (ms, seq) = id.split_once('-').unwrap();
    let ms: u64 = ms.parse().unwrap();
    assert!(ms >= now && ms < now + 60_000, "{id} is not now ({now})");
    assert_eq!(seq, "0");
    let future = format!("{}-5", ms + 3_600_000);
    assert_eq!(
        c.cmd_str(&["XADD", "s", &future, "f", "v"]),
        Reply::bulk(&future)
    );
    let next = format!("{}-6", ms + 3_600_000);
    assert_eq!(c.cmd_str(&["XADD", "s", "*", "f", "v"]), Reply::bulk(&next));
    let star = format!("{}-*", ms + 3_600_000);
    let after = format!("{}-7", ms + 3_600_000);
    assert_eq!(
        c.cmd_str(&["XADD", "s", &star, "f", "v"]),
        Reply::bulk(&after)
    );
    assert_eq!(c.cmd_str(&["XLEN", "s"]), Reply::Int(4));
    assert_eq!(
        c.cmd_str(&["XADD", "s", "MAXLEN", "2", "*", "f", "v"])
            .as_str()
            .split_once('-')
            .unwrap()
            .1,
        "8"
    );
    assert_eq!(c.cmd_str(&["XLEN", "s"]), Reply::Int(2));
    assert_eq!(
        c.cmd_str(&[
            "XADD",
            "max",
            "18446744073709551615-18446744073709551615",
            "f",
            "v"
        ]),
        Reply::bulk("18446744073709551615-18446744073709551615")
    );
    assert_eq!(
        c.cmd_str(&["XADD", "max", "*", "f", "v"]),
        Reply::err("ERR The stream has exhausted the last possible ID, unable to add more items")
    );
    assert_eq!(c.cmd_str(&["TYPE", "s"]), Reply::simple("stream"));
    assert_eq!(
        c.cmd_str(&["OBJECT", "ENCODING", "s"]),
        Reply::bulk("stream")
    );
}
