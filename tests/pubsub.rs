//! Pub/sub against the real thing: the same script runs on redis-server
//! and on sluice-server (one and two shard threads, so subscriber and
//! publisher may live on different shards), and every reply and delivered
//! message must be byte-identical.
//!
//! Script: a subscribes to channels and a pattern (RESP2), is refused other
//! commands, gets pong pushes; b publishes and asks PUBSUB; a receives
//! message and pmessage; then a switches to RESP3 push frames; RESET ends it.
mod common;

use common::{require_bin, Client, Server};

/// Sends `line` (inline) and reads `n` replies with their raw bytes.
fn exchange(c: &mut Client, line: &str, n: usize) -> Vec<Vec<u8>> {
    c.send_raw(format!("{line}\r\n").as_bytes()).unwrap();
    (0..n).map(|_| c.read_reply_with_raw().1).collect()
}

/// Reads `n` pushed messages.
fn pushed(c: &mut Client, n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|_| c.read_reply_with_raw().1).collect()
}

fn script(server: &Server) -> Vec<Vec<u8>> {
    let mut a = server.client();
    let mut b = server.client();
    let mut log = Vec::new();
    log.extend(exchange(&mut a, "UNSUBSCRIBE", 1));
    log.extend(exchange(&mut a, "SUBSCRIBE news x", 2));
    log.extend(exchange(&mut a, "PSUBSCRIBE n*", 1));
    log.extend(exchange(&mut a, "GET k", 1));
    log.extend(exchange(&mut a, "PING", 1));
    log.extend(exchange(&mut a, "PING hi", 1));
    log.extend(exchange(&mut b, "PUBLISH news hello", 1));
    log.extend(exchange(&mut b, "PUBLISH nothing here", 1));
    log.extend(exchange(&mut b, "PUBSUB NUMSUB news x y", 1));
    log.extend(exchange(&mut b, "PUBSUB NUMPAT", 1));
    let channels = b.q("PUBSUB CHANNELS").unordered();
    log.push(format!("{channels:?}").into_bytes());
    log.extend(exchange(&mut b, "PUBSUB CHANNELS n*", 1));
    log.extend(pushed(&mut a, 3));
    log.extend(exchange(&mut a, "UNSUBSCRIBE news", 1));
    log.extend(exchange(&mut a, "UNSUBSCRIBE", 1));
    log.extend(exchange(&mut a, "PUNSUBSCRIBE", 1));
    log.extend(exchange(&mut a, "GET k", 1));
    log.extend(
        exchange(&mut a, "HELLO 3", 1)
            .into_iter()
            .map(|_| b"hello".to_vec()),
    );
    log.extend(exchange(&mut a, "SUBSCRIBE c", 1));
    log.extend(exchange(&mut a, "GET k", 1));
    log.extend(exchange(&mut b, "PUBLISH c m", 1));
    log.extend(pushed(&mut a, 1));
    log.extend(exchange(&mut a, "RESET", 1));
    log.extend(exchange(&mut a, "PING", 1));
    log.extend(exchange(&mut b, "PUBLISH c m", 1));
    log.extend(exchange(&mut b, "PUBSUB HELP", 1));
    log
}

#[test]
fn pubsub_matches_redis() {
    if require_bin("redis-server").is_none() {
        return;
    }
    let expected = script(&Server::redis(&[]));
    for threads in [1, 2] {
        let got = script(&Server::sluice(threads, &[]));
        for (i, (want, got)) in expected.iter().zip(&got).enumerate() {
            assert_eq!(
                String::from_utf8_lossy(got),
                String::from_utf8_lossy(want),
                "step {i} (server-threads {threads})"
            );
        }
        assert_eq!(got.len(), expected.len());
    }
}
