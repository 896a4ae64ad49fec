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

/// A subscriber that stops reading is disconnected once its pending
/// output passes `client-output-buffer-limit pubsub` (here a 1 MiB hard
/// limit), as Redis does, instead of growing the server's memory: on
/// both servers the publisher soon finds no subscriber left.
#[test]
fn slow_subscriber_is_disconnected_at_the_output_limit() {
    if require_bin("redis-server").is_none() {
        return;
    }
    let payload = vec![b'x'; 100_000];
    let check = |server: &Server, what: &str| {
        let mut publisher = server.client();
        assert_eq!(
            publisher.cmd_str(&[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 1mb 0 0"
            ]),
            common::Reply::ok()
        );
        let mut subscriber = server.client();
        subscriber.send_str(&["SUBSCRIBE", "ch"]);
        subscriber.read_reply();
        // At most 2000 messages (200 MB): far past the limit plus what
        // the kernel's socket buffers hold.
        let mut published = 0;
        while published < 2000 {
            let receivers = publisher.cmd(&[b"PUBLISH", b"ch", &payload]);
            published += 1;
            if receivers == common::Reply::Int(0) {
                break;
            }
        }
        assert!(
            published < 2000,
            "{what}: the subscriber was still there after {published} messages"
        );
        assert_eq!(
            publisher.cmd_str(&["PUBSUB", "NUMSUB", "ch"]),
            common::Reply::Array(Some(vec![common::Reply::bulk("ch"), common::Reply::Int(0)])),
            "{what}"
        );
    };
    check(&Server::redis(&[]), "redis-server");
    for threads in [1, 2] {
        let sluice = Server::sluice(threads, &[]);
        check(&sluice, &format!("sluice server-threads {threads}"));
        assert!(
            sluice
                .log()
                .contains("for overcoming of output buffer limits"),
            "{}",
            sluice.log()
        );
    }
}
