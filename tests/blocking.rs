//! Blocking list pops against the real thing: each scenario runs on
//! redis-server and on sluice-server (one and two shard threads, so the
//! blocked client and the pusher may live on different shards) and every
//! reply must be identical.
//!
//! Scenarios: served later by another client's push (FIFO between two
//! waiters), timeout, immediate service, BLMOVE/BRPOPLPUSH served later,
//! BLMPOP with COUNT, blocking commands inside MULTI, pipelined commands
//! held back until the client is served, and argument errors.
mod common;

use common::{require_bin, wait_blocked, Server};

fn scenario(server: &Server) -> Vec<String> {
    let (mut a, mut b, mut p) = (server.client(), server.client(), server.client());
    let mut log = Vec::new();
    let mut push = |r: common::Reply| log.push(format!("{r:?}"));
    // Two waiters on one key, served oldest first after one LPUSH of two.
    a.send_str(&["BLPOP", "q", "other", "0"]);
    wait_blocked(&mut p, 1);
    b.send_str(&["BRPOP", "q", "0"]);
    wait_blocked(&mut p, 2);
    push(p.cmd_str(&["LPUSH", "q", "x", "y"]));
    push(a.read_reply());
    push(b.read_reply());
    push(p.cmd_str(&["EXISTS", "q"]));
    // Timeout: a null array, for moves too.
    push(a.cmd_str(&["BLPOP", "q", "0.05"]));
    push(a.cmd_str(&["BLMOVE", "q", "d", "LEFT", "LEFT", "0.05"]));
    push(a.cmd_str(&["BRPOPLPUSH", "q", "d", "0.05"]));
    // Immediate.
    push(p.cmd_str(&["RPUSH", "q", "1", "2", "3"]));
    push(a.cmd_str(&["BRPOP", "q", "0"]));
    push(a.cmd_str(&["BLMPOP", "0", "2", "nothing", "q", "LEFT", "COUNT", "5"]));
    // Moves served later.
    a.send_str(&["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut p, 1);
    push(p.cmd_str(&["RPUSH", "src", "m1", "m2"]));
    push(a.read_reply());
    push(p.cmd_str(&["LRANGE", "dst", "0", "-1"]));
    push(p.cmd_str(&["LRANGE", "src", "0", "-1"]));
    b.send_str(&["BRPOPLPUSH", "empty", "dst", "0"]);
    wait_blocked(&mut p, 1);
    push(p.cmd_str(&["LPUSH", "empty", "e"]));
    push(b.read_reply());
    push(p.cmd_str(&["LRANGE", "dst", "0", "-1"]));
    // BLMPOP served later with COUNT.
    a.send_str(&["BLMPOP", "0", "1", "mp", "RIGHT", "COUNT", "2"]);
    wait_blocked(&mut p, 1);
    push(p.cmd_str(&["RPUSH", "mp", "a", "b", "c"]));
    push(a.read_reply());
    // Pipelined commands wait for the block to end.
    a.send_raw(b"*3\r\n$5\r\nBLPOP\r\n$2\r\npl\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n")
        .unwrap();
    wait_blocked(&mut p, 1);
    push(p.cmd_str(&["LPUSH", "pl", "v"]));
    push(a.read_reply());
    push(a.read_reply());
    // Inside MULTI a blocking pop does not block.
    push(a.cmd_str(&["MULTI"]));
    push(a.cmd_str(&["BLPOP", "none", "0"]));
    push(a.cmd_str(&["BLMOVE", "none", "x", "LEFT", "LEFT", "0"]));
    push(a.cmd_str(&["EXEC"]));
    // Sorted sets: BZPOPMIN served later, BZPOPMAX at once, BZMPOP with
    // COUNT later, and the RESP3 score form.
    a.send_str(&["BZPOPMIN", "zq", "0"]);
    wait_blocked(&mut p, 1);
    push(p.cmd_str(&["ZADD", "zq", "2", "b", "1", "a", "3", "c"]));
    push(a.read_reply());
    push(a.cmd_str(&["BZPOPMAX", "zq", "0"]));
    b.send_str(&["BZMPOP", "0", "2", "none", "zm", "MAX", "COUNT", "2"]);
    wait_blocked(&mut p, 1);
    push(p.cmd_str(&["ZADD", "zm", "1.5", "x", "2.5", "y", "0", "z"]));
    push(b.read_reply());
    a.cmd_str(&["HELLO", "3"]); // its reply holds the client id: not compared
    push(a.cmd_str(&["BZPOPMIN", "zq", "zm", "0"]));
    push(a.cmd_str(&["BZPOPMIN", "none", "0.01"]));
    a.cmd_str(&["HELLO", "2"]);
    push(a.cmd_str(&["BZMPOP", "0", "1", "k", "UP"]));
    // Errors.
    push(a.cmd_str(&["BLPOP", "q", "-1"]));
    push(a.cmd_str(&["BLPOP", "q", "abc"]));
    push(a.cmd_str(&["SET", "str", "v"]));
    push(a.cmd_str(&["BLPOP", "none", "str", "0"]));
    push(a.cmd_str(&["RPUSH", "src2", "z"]));
    push(a.cmd_str(&["BLMOVE", "src2", "str", "LEFT", "LEFT", "0"]));
    push(a.cmd_str(&["BLMOVE", "a", "b", "UP", "LEFT", "0"]));
    push(a.cmd_str(&["BLMPOP", "0", "0", "k", "LEFT"]));
    push(a.cmd_str(&["BLMPOP", "0", "1", "k", "LEFT", "COUNT", "0"]));
    log
}

#[test]
fn blocking_pops_match_redis() {
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
