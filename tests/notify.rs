//! Keyspace notifications against the real thing: each script runs on
//! redis-server 7.0 and on sluice-server (one and two shard threads) and
//! the replies and published events must be identical. The differential
//! tests (`diff*.rs`) compare the events of every generated command; this
//! file covers what a generator does not reach: the directive itself,
//! events without a command (active and lazy expiry, eviction), clients
//! served after a push, transactions, databases, and a replica applying
//! its master's stream.
mod common;

use common::{repl, require_bin, EventLog, Reply, Server};

type Events = Vec<(Vec<u8>, Vec<u8>)>;

fn ev(channel: &str, message: &str) -> (Vec<u8>, Vec<u8>) {
    (channel.as_bytes().to_vec(), message.as_bytes().to_vec())
}

/// Runs `script` on redis-server and on sluice with 1 and 2 threads; the
/// outputs must be equal. `None` when redis-server is missing.
fn on_both<T: PartialEq + std::fmt::Debug>(
    extra: &[&str],
    script: impl Fn(&Server) -> T,
) -> Option<T> {
    require_bin("redis-server")?;
    let expected = script(&Server::redis(extra));
    for threads in [1, 2] {
        let got = script(&Server::sluice(threads, extra));
        assert_eq!(got, expected, "server-threads {threads}");
    }
    Some(expected)
}

/// CONFIG SET / GET of the directive: values shown as notify.c prints
/// them (`A` swallows the classes it stands for, and `n` with it), the
/// error text for a bad class.
#[test]
fn directive_reads_back_as_redis_prints_it() {
    let shown = on_both(&[], |server| {
        let mut c = server.client();
        let mut out = Vec::new();
        for value in ["KEA", "Ex", "g$lshzxetd", "AKEnm", "Kx", "", "KEA!", "x y"] {
            out.push(c.cmd_str(&["CONFIG", "SET", "notify-keyspace-events", value]));
            out.push(c.cmd_str(&["CONFIG", "GET", "notify-keyspace-events"]));
        }
        out
    });
    if let Some(shown) = shown {
        assert_eq!(shown[1], Reply::bulks(["notify-keyspace-events", "AKE"]));
        assert!(shown[12].is_error(), "{:?}", shown[12]);
    }
}

/// The events of a fixed script with `classes`, from the subscriber's
/// view, with what every step returned.
fn scripted(server: &Server, classes: &str, steps: &[&str]) -> (Vec<Reply>, Events) {
    let mut log = EventLog::attach_with(server.port, classes);
    let mut c = server.client();
    let replies = steps.iter().map(|s| c.q(s)).collect();
    (replies, log.drain())
}

#[test]
fn channels_and_classes_follow_the_flags() {
    let steps = [
        "SET a 1",
        "SELECT 3",
        "SET b 2 EX 100",
        "LPUSH l x",
        "GET nothing",
        "DEL b l",
        "SELECT 0",
        "RENAME a c",
    ];
    for classes in ["K$", "Eg", "KEA", "KEAnm", "Kl", "A", "E"] {
        let got = on_both(&[], |server| scripted(server, classes, &steps));
        if classes == "K$" {
            if let Some((_, events)) = got {
                assert_eq!(
                    events,
                    vec![ev("__keyspace@0__:a", "set"), ev("__keyspace@3__:b", "set")]
                );
            }
        }
    }
}

/// Commands in MULTI publish in order at EXEC; a served blocked client's
/// pop follows the push that woke it (t_list.c, blocked.c), for lists,
/// moves, sorted sets and consumer groups.
#[test]
fn transactions_and_served_clients() {
    on_both(&[], |server| {
        let mut log = EventLog::attach(server.port);
        let mut c = server.client();
        let mut out = Vec::new();
        for line in ["MULTI", "SET k 1", "INCR k", "LPUSH l a b", "EXEC"] {
            out.push(c.q(line));
        }
        out.push(Reply::Int(log.drain().len() as i64));
        let mut blocked = server.client();
        let mut probe = server.client();
        for (block, wake, _) in [
            ("BLPOP q 0", "RPUSH q x", "list pop"),
            ("BLMOVE q2 dst RIGHT LEFT 0", "LPUSH q2 y", "move"),
            ("BZPOPMIN z 0", "ZADD z 1 m", "zset pop"),
            ("BLMPOP 0 2 q3 q4 LEFT COUNT 2", "RPUSH q4 a b c", "mpop"),
        ] {
            blocked.send_str(&block.split(' ').collect::<Vec<_>>());
            common::wait_blocked(&mut probe, 1);
            out.push(c.q(wake));
            out.push(blocked.read_reply());
        }
        out.push(c.q("XGROUP CREATE s g $ MKSTREAM"));
        let read = "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >";
        blocked.send_str(&read.split(' ').collect::<Vec<_>>());
        common::wait_blocked(&mut probe, 1);
        out.push(c.q("XADD s 1-1 f v"));
        out.push(blocked.read_reply());
        (out, log.drain())
    });
}

/// Active expiry publishes `expired` without any command; a key found
/// expired by a lookup (active expiry off) publishes it before the miss.
#[test]
fn expiry_events() {
    on_both(common::DEBUG_ON, |server| {
        let mut log = EventLog::attach(server.port);
        let mut c = server.client();
        assert_eq!(c.q("SET gone v PX 20"), Reply::ok());
        let mut events = log.drain();
        events.push(log.next());
        events.push(log.next());
        // Already past its time when set (t_string.c sets, then expires
        // it at the next access): the GET finds it expired.
        assert_eq!(c.q("DEBUG SET-ACTIVE-EXPIRE 0"), Reply::ok());
        assert_eq!(c.q("SET lazy v PXAT 1"), Reply::ok());
        assert_eq!(c.q("GET lazy"), Reply::Bulk(None));
        events.extend(log.drain());
        c.q("DEBUG SET-ACTIVE-EXPIRE 1");
        events
    });
}

/// Eviction publishes `evicted` for each key it removes (how many differ
/// between the servers: their memory accounting does).
#[test]
fn eviction_events() {
    for threads in [1, 2] {
        let server = Server::sluice(threads, &["--maxmemory-policy", "allkeys-random"]);
        let mut log = EventLog::attach_with(server.port, "Ee");
        let mut c = server.client();
        let value = "v".repeat(10_000);
        for i in 0..200 {
            c.cmd_str(&["SET", &format!("key:{i}"), &value]);
        }
        let info = c.q("INFO memory").as_str();
        let used: i64 = info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.parse().ok())
            .expect("used_memory in INFO");
        let limit = (used - 500_000).to_string();
        assert_eq!(
            c.cmd_str(&["CONFIG", "SET", "maxmemory", &limit]),
            Reply::ok()
        );
        c.q("SET trigger 1");
        let events = log.drain();
        assert!(
            !events.is_empty(),
            "server-threads {threads}: no evicted event"
        );
        for (channel, key) in events {
            assert_eq!(channel, b"__keyevent@0__:evicted");
            assert_eq!(c.cmd(&[b"EXISTS", &key]), Reply::Int(0));
        }
    }
}

/// A replica publishes the events of the writes it applies, including
/// the DEL its master sends for an expired key, whatever the master is.
#[test]
fn replica_publishes_applied_writes() {
    let Some(_) = require_bin("redis-server") else {
        return;
    };
    for master_kind in ["redis", "sluice"] {
        let master = match master_kind {
            "redis" => Server::redis(&[]),
            _ => Server::sluice(2, &[]),
        };
        let replica = Server::sluice(2, &[]);
        let (mut m, mut r) = (master.client(), replica.client());
        repl::replicaof(&mut r, &master);
        repl::converge(&mut m, &mut r);
        let mut log = EventLog::attach_with(replica.port, "KEA");
        for line in ["SET a 1", "HSET h f v", "SET t v PX 30"] {
            m.q(line);
        }
        // The last three: the master's expiry reaches the replica as a DEL.
        let got: Vec<_> = (0..10).map(|_| log.next()).collect();
        assert_eq!(
            got,
            vec![
                ev("__keyspace@0__:a", "set"),
                ev("__keyevent@0__:set", "a"),
                ev("__keyspace@0__:h", "hset"),
                ev("__keyevent@0__:hset", "h"),
                ev("__keyspace@0__:t", "set"),
                ev("__keyevent@0__:set", "t"),
                ev("__keyspace@0__:t", "expire"),
                ev("__keyevent@0__:expire", "t"),
                ev("__keyspace@0__:t", "del"),
                ev("__keyevent@0__:del", "t"),
            ],
            "master {master_kind}"
        );
    }
}
