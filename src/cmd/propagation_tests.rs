//! The replication form of every rewritten command, byte for byte against
//! what redis-server 7.0.15 propagates (docs/redis-replication-reference.md,
//! "Rewrites in 7.0.15"). Commands run through the real dispatch on a
//! server without threads or sockets that records what it propagates.

use super::{dispatch, Client};
use crate::config::Config;
use crate::protocol::{Argv, ReplyBuf};
use crate::server::{ClientMeta, Server};
use std::sync::Arc;

struct Harness {
    srv: Server,
    client: Client,
}

impl Harness {
    fn new() -> Harness {
        let srv = Server::for_tests(Config::default());
        let meta = Arc::new(ClientMeta::new(
            1,
            0,
            -1,
            "test:0".into(),
            "test:0".into(),
            0,
        ));
        Harness {
            srv,
            client: Client::new(meta, true),
        }
    }

    /// Runs one command; returns what it propagated, one string per op
    /// (`db:arg arg ...`).
    fn run(&mut self, args: &[&str]) -> Vec<String> {
        let mut out = ReplyBuf {
            buf: Vec::new(),
            resp3: false,
        };
        dispatch(
            &self.srv,
            0,
            &mut self.client,
            &mut out,
            &Argv::from_slices(args),
        );
        assert!(
            !out.buf.starts_with(b"-"),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.buf)
        );
        self.srv
            .take_propagated()
            .into_iter()
            .map(|(db, argv)| {
                let parts: Vec<String> = argv
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                format!("{db}:{}", parts.join(" "))
            })
            .collect()
    }
}

/// Splits `SET k v PXAT 1234` into its text and the number, and checks the
/// number is an absolute time `delta_ms` from now (within a second).
fn absolute(op: &str, prefix: &str, delta_ms: i64) {
    let rest = op
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{op:?} does not start with {prefix:?}"));
    let at: i64 = rest.split(' ').next().unwrap().parse().unwrap();
    let now = crate::server::unix_ms() as i64;
    assert!(
        (at - (now + delta_ms)).abs() < 1000,
        "{op}: {at} is not now{delta_ms:+}"
    );
}

#[test]
fn set_family_replicates_absolute_pxat() {
    let mut h = Harness::new();
    let ops = h.run(&["SET", "k", "v", "EX", "100", "NX"]);
    assert_eq!(ops.len(), 1);
    absolute(&ops[0], "0:SET k v PXAT ", 100_000);
    let ops = h.run(&["set", "k", "v2", "px", "5000", "GET"]);
    absolute(&ops[0], "0:SET k v2 PXAT ", 5000);
    let ops = h.run(&["SETEX", "k", "10", "v"]);
    absolute(&ops[0], "0:SET k v PXAT ", 10_000);
    let ops = h.run(&["PSETEX", "k", "10", "v"]);
    absolute(&ops[0], "0:SET k v PXAT ", 10);
    let ops = h.run(&["SET", "k", "v", "EXAT", "4102444800"]);
    assert_eq!(ops, ["0:SET k v PXAT 4102444800000"]);
    assert_eq!(
        h.run(&["set", "k", "v", "pxat", "4102444800000", "xx", "get"]),
        ["0:set k v pxat 4102444800000 xx get"]
    );
    assert_eq!(h.run(&["set", "k", "w", "GET", "get"]), ["0:set k w"]);
    assert_eq!(h.run(&["set", "k", "w2"]), ["0:set k w2"]);
    assert_eq!(
        h.run(&["SET", "k", "x", "NX"]),
        Vec::<String>::new(),
        "NX not met: nothing changed"
    );
    assert_eq!(h.run(&["GETSET", "k", "y"]), ["0:SET k y"]);
    assert_eq!(h.run(&["GETDEL", "k"]), ["0:DEL k"]);
    assert_eq!(h.run(&["GETDEL", "k"]), Vec::<String>::new());
}

#[test]
fn getex_and_incrbyfloat_rewrites() {
    let mut h = Harness::new();
    h.run(&["SET", "k", "v"]);
    let ops = h.run(&["GETEX", "k", "EX", "10"]);
    absolute(&ops[0], "0:PEXPIREAT k ", 10_000);
    assert_eq!(h.run(&["GETEX", "k", "PERSIST"]), ["0:PERSIST k"]);
    assert_eq!(
        h.run(&["GETEX", "k", "PERSIST"]),
        Vec::<String>::new(),
        "no TTL: no change"
    );
    assert_eq!(h.run(&["GETEX", "k"]), Vec::<String>::new());
    assert_eq!(h.run(&["GETEX", "k", "EXAT", "1"]), ["0:DEL k"]);
    assert_eq!(
        h.run(&["INCRBYFLOAT", "f", "10.5"]),
        ["0:SET f 10.5 KEEPTTL"]
    );
    assert_eq!(
        h.run(&["incrbyfloat", "f", "0.1"]),
        ["0:SET f 10.6 KEEPTTL"]
    );
    assert_eq!(h.run(&["INCR", "n"]), ["0:INCR n"]);
    assert_eq!(h.run(&["APPEND", "n", "x"]), ["0:APPEND n x"]);
}

#[test]
fn expire_family_replicates_pexpireat_or_del() {
    let mut h = Harness::new();
    h.run(&["SET", "k", "v"]);
    let ops = h.run(&["EXPIRE", "k", "100", "NX"]);
    absolute(&ops[0], "0:PEXPIREAT k ", 100_000);
    assert!(ops[0].ends_with(" NX"), "options are kept: {ops:?}");
    let ops = h.run(&["pexpire", "k", "5000"]);
    absolute(&ops[0], "0:PEXPIREAT k ", 5000);
    assert_eq!(
        h.run(&["EXPIREAT", "k", "4102444800"]),
        ["0:PEXPIREAT k 4102444800000"]
    );
    assert_eq!(
        h.run(&["pexpireat", "k", "4102444800001"]),
        ["0:pexpireat k 4102444800001"]
    );
    let ops = h.run(&["EXPIRE", "k", "100", "LT"]);
    absolute(&ops[0], "0:PEXPIREAT k ", 100_000);
    assert!(ops[0].ends_with(" LT"), "{ops:?}");
    assert_eq!(
        h.run(&["EXPIRE", "k", "1000", "LT"]),
        Vec::<String>::new(),
        "LT not met"
    );
    assert_eq!(h.run(&["EXPIRE", "missing", "100"]), Vec::<String>::new());
    assert_eq!(h.run(&["EXPIRE", "k", "-1"]), ["0:DEL k"]);
}

#[test]
fn lazily_expired_keys_replicate_as_del_before_the_command() {
    let mut h = Harness::new();
    h.run(&["SET", "gone", "v", "PXAT", "1"]);
    assert_eq!(h.run(&["GET", "gone"]), ["0:DEL gone"]);
    h.run(&["SET", "u", "v", "PXAT", "1"]);
    assert_eq!(
        h.run(&["APPEND", "u", "x"]),
        ["0:MULTI", "0:DEL u", "0:APPEND u x", "0:EXEC"]
    );
}

#[test]
fn transactions_and_forced_commands() {
    let mut h = Harness::new();
    h.run(&["MULTI"]);
    h.run(&["SET", "a", "1"]);
    h.run(&["GET", "a"]);
    h.run(&["SET", "b", "2", "EX", "100"]);
    let ops = h.run(&["EXEC"]);
    assert_eq!(ops.len(), 4, "{ops:?}");
    assert_eq!(&ops[..2], ["0:MULTI", "0:SET a 1"]);
    absolute(&ops[2], "0:SET b 2 PXAT ", 100_000);
    assert_eq!(ops[3], "0:EXEC");
    h.run(&["MULTI"]);
    h.run(&["INCR", "a"]);
    h.run(&["GET", "a"]);
    assert_eq!(h.run(&["EXEC"]), ["0:INCR a"], "one write goes out bare");
    h.run(&["MULTI"]);
    h.run(&["GET", "a"]);
    assert_eq!(h.run(&["EXEC"]), Vec::<String>::new());
    assert_eq!(h.run(&["SELECT", "3"]), Vec::<String>::new());
    assert_eq!(h.run(&["SET", "c", "3"]), ["3:SET c 3"]);
    assert_eq!(h.run(&["FLUSHALL"]), ["3:FLUSHALL"]);
    assert_eq!(h.run(&["FLUSHDB"]), ["3:FLUSHDB"], "forced even when empty");
    assert_eq!(h.run(&["PUBLISH", "ch", "m"]), ["3:PUBLISH ch m"]);
    assert_eq!(h.run(&["DEL", "nothing"]), Vec::<String>::new());
    assert_eq!(h.run(&["MSET", "x", "1", "y", "2"]), ["3:MSET x 1 y 2"]);
}

#[test]
fn collection_rewrites() {
    let mut h = Harness::new();
    assert_eq!(
        h.run(&["HINCRBYFLOAT", "h", "f", "1.5"]),
        ["0:HSET h f 1.5"]
    );
    assert_eq!(h.run(&["HSET", "h", "g", "1"]), ["0:HSET h g 1"]);
    h.run(&["SADD", "s", "a", "b", "c", "d", "e", "f"]);
    let ops = h.run(&["SPOP", "s"]);
    assert_eq!(ops.len(), 1);
    assert!(ops[0].starts_with("0:SREM s "), "{ops:?}");
    let ops = h.run(&["SPOP", "s", "2"]);
    assert_eq!(ops.len(), 4, "{ops:?}");
    assert_eq!((ops[0].as_str(), ops[3].as_str()), ("0:MULTI", "0:EXEC"));
    assert!(
        ops[1..3].iter().all(|op| op.starts_with("0:SREM s ")),
        "{ops:?}"
    );
    assert_eq!(h.run(&["SPOP", "s", "100"]), ["0:DEL s"]);
    assert_eq!(h.run(&["SPOP", "s", "1"]), Vec::<String>::new());
}

#[test]
fn blocking_pops_served_at_once_replicate_as_plain_pops() {
    let mut h = Harness::new();
    h.run(&["RPUSH", "l", "a", "b", "c", "d"]);
    assert_eq!(h.run(&["BLPOP", "none", "l", "0"]), ["0:LPOP l"]);
    assert_eq!(h.run(&["BRPOP", "l", "0"]), ["0:RPOP l"]);
    // The count actually popped (t_list.c `listPopRangeAndReplyWithKey`).
    assert_eq!(
        h.run(&["BLMPOP", "0", "1", "l", "LEFT", "COUNT", "5"]),
        ["0:LPOP l 2"]
    );
    h.run(&["RPUSH", "l", "x"]);
    assert_eq!(
        h.run(&["BLMOVE", "l", "m", "RIGHT", "LEFT", "0"]),
        ["0:LMOVE l m RIGHT LEFT"]
    );
    assert_eq!(h.run(&["BRPOPLPUSH", "m", "l", "0"]), ["0:RPOPLPUSH m l"]);
    assert_eq!(h.run(&["LPUSH", "l", "y"]), ["0:LPUSH l y"]);
    h.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(h.run(&["BZPOPMIN", "z", "0"]), ["0:ZPOPMIN z"]);
    h.run(&["ZADD", "y", "1", "a"]);
    assert_eq!(
        h.run(&["ZMPOP", "2", "none", "y", "MIN", "COUNT", "3"]),
        ["0:ZPOPMIN y 1"]
    );
    h.run(&["RPUSH", "r", "1", "2", "3"]);
    assert_eq!(
        h.run(&["LMPOP", "1", "r", "RIGHT", "COUNT", "2"]),
        ["0:RPOP r 2"]
    );
    assert_eq!(
        h.run(&["BZMPOP", "0", "1", "z", "MAX", "COUNT", "9"]),
        ["0:ZPOPMAX z 2"]
    );
}

/// Replaces the number after `TIME ` (a delivery time: now) with `T`,
/// checking it is within a second of now.
fn mask_time(op: &str) -> String {
    let Some(at) = op.find(" TIME ") else {
        return op.to_string();
    };
    let rest = &op[at + 6..];
    let end = rest.find(' ').unwrap_or(rest.len());
    let ms: i64 = rest[..end].parse().unwrap();
    let now = crate::server::unix_ms() as i64;
    assert!((ms - now).abs() < 1000, "{op}: TIME is not now");
    format!("{} TIME T{}", &op[..at], &rest[end..])
}

fn masked(ops: Vec<String>) -> Vec<String> {
    ops.iter().map(|op| mask_time(op)).collect()
}

#[test]
fn xadd_replicates_the_generated_id_and_exact_trims() {
    let mut h = Harness::new();
    let ops = h.run(&["XADD", "s", "*", "f", "v"]);
    let id = ops[0]
        .strip_prefix("0:XADD s ")
        .and_then(|r| r.strip_suffix(" f v"))
        .unwrap_or_else(|| panic!("{ops:?}"));
    let (ms, seq) = id.split_once('-').unwrap();
    absolute(&format!("{ms} "), "", 0);
    assert_eq!(seq, "0");
    assert_eq!(h.run(&["XADD", "t", "5-*", "f", "v"]), ["0:XADD t 5-0 f v"]);
    assert_eq!(h.run(&["xadd", "t", "5-7", "f", "v"]), ["0:xadd t 5-7 f v"]);
    assert_eq!(
        h.run(&["XADD", "t", "MAXLEN", "~", "1", "6-1", "f", "v"]),
        ["0:XADD t MAXLEN = 3 6-1 f v"],
        "`~` is rewritten even when it trims nothing (seen in Redis's AOF)"
    );
    for i in 1..=250 {
        h.run(&["XADD", "big", &format!("{i}-1"), "f", "v"]);
    }
    // `~` removes whole nodes (100 entries): replicated as the exact result.
    assert_eq!(
        h.run(&["XADD", "big", "MAXLEN", "~", "120", "251-1", "f", "v"]),
        ["0:XADD big MAXLEN = 151 251-1 f v"]
    );
    assert_eq!(
        h.run(&["XTRIM", "big", "MINID", "~", "240"]),
        ["0:XTRIM big MINID = 201-1"]
    );
    assert_eq!(
        h.run(&["XTRIM", "big", "MAXLEN", "~", "40"]),
        Vec::<String>::new()
    );
    assert_eq!(
        h.run(&["XTRIM", "big", "MAXLEN", "40"]),
        ["0:XTRIM big MAXLEN 40"]
    );
    assert_eq!(
        h.run(&["XDEL", "big", "1-1", "250-1"]),
        ["0:XDEL big 1-1 250-1"]
    );
    assert_eq!(h.run(&["XDEL", "big", "1-1"]), Vec::<String>::new());
    assert_eq!(
        h.run(&["XADD", "none", "NOMKSTREAM", "*", "f", "v"]),
        Vec::<String>::new()
    );
}

#[test]
fn group_reads_replicate_as_xclaim() {
    let mut h = Harness::new();
    h.run(&["XADD", "s", "1-0", "f", "v"]);
    h.run(&["XADD", "s", "2-0", "f", "v"]);
    assert_eq!(
        h.run(&["XGROUP", "CREATE", "s", "g", "0"]),
        ["0:XGROUP CREATE s g 0"]
    );
    assert_eq!(
        masked(h.run(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "COUNT",
            "1",
            "STREAMS",
            "s",
            ">"
        ])),
        ["0:XCLAIM s g c 0 1-0 TIME T RETRYCOUNT 1 FORCE JUSTID LASTID 1-0"]
    );
    assert_eq!(
        masked(h.run(&["XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", "0"])),
        Vec::<String>::new(),
        "history reads replicate nothing"
    );
    h.run(&["XADD", "s", "3-0", "f", "v"]);
    assert_eq!(
        masked(h.run(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"])),
        [
            "0:MULTI",
            "0:XCLAIM s g c 0 2-0 TIME T RETRYCOUNT 1 FORCE JUSTID LASTID 2-0",
            "0:XCLAIM s g c 0 3-0 TIME T RETRYCOUNT 1 FORCE JUSTID LASTID 3-0",
            "0:EXEC"
        ]
    );
    h.run(&["XADD", "s", "4-0", "f", "v"]);
    assert_eq!(
        h.run(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "new",
            "NOACK",
            "STREAMS",
            "s",
            ">"
        ]),
        [
            "0:MULTI",
            "0:XGROUP CREATECONSUMER s g new",
            "0:XGROUP SETID s g 4-0 ENTRIESREAD 4",
            "0:EXEC"
        ]
    );
    assert_eq!(
        masked(h.run(&["XCLAIM", "s", "g", "other", "0", "1", "RETRYCOUNT", "5"])),
        ["0:XCLAIM s g other 0 1 TIME T RETRYCOUNT 5 FORCE JUSTID LASTID 4-0"]
    );
    assert_eq!(
        masked(h.run(&["XCLAIM", "s", "g", "c", "0", "1-0", "LASTID", "9-0", "JUSTID"])),
        ["0:XCLAIM s g c 0 1-0 TIME T RETRYCOUNT 5 FORCE JUSTID LASTID 9-0"]
    );
    h.run(&["XDEL", "s", "3-0"]);
    assert_eq!(
        masked(h.run(&["XAUTOCLAIM", "s", "g", "z", "0", "0", "COUNT", "2"])),
        [
            "0:MULTI",
            "0:XCLAIM s g z 0 1-0 TIME T RETRYCOUNT 6 FORCE JUSTID LASTID 9-0",
            "0:XCLAIM s g z 0 2-0 TIME T RETRYCOUNT 2 FORCE JUSTID LASTID 9-0",
            "0:EXEC"
        ]
    );
    assert_eq!(
        masked(h.run(&["XAUTOCLAIM", "s", "g", "z", "0", "3-0"])),
        ["0:XCLAIM s g c 0 3-0 TIME T RETRYCOUNT 1 FORCE JUSTID LASTID 9-0"],
        "a deleted entry's claim replicates with its old owner, to drop it"
    );
    assert_eq!(
        h.run(&["XACK", "s", "g", "1-0", "2-0"]),
        ["0:XACK s g 1-0 2-0"]
    );
    assert_eq!(h.run(&["XACK", "s", "g", "1-0"]), Vec::<String>::new());
    assert_eq!(h.run(&["XREAD", "STREAMS", "s", "0"]), Vec::<String>::new());
    assert_eq!(h.run(&["XSETID", "s", "10-0"]), ["0:XSETID s 10-0"]);
    assert_eq!(
        h.run(&["XGROUP", "DESTROY", "s", "g"]),
        ["0:XGROUP DESTROY s g"]
    );
}
