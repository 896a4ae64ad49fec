//! Integration tests for the set commands: exact replies, errors, encodings
//! at the thresholds, RESP3 forms and deletion of emptied sets.
//!
//! Every expected reply is what redis-server 7.0.15 sends: each test also
//! runs against a real redis-server (`<test>::redis`, skipped when it is
//! not installed outside CI), so the expectations cannot drift from Redis.
//! The sluice runs use `--server-threads 1` and `2` (`threads_1`,
//! `threads_2`).
#[macro_use]
mod common;

use common::{Client, Reply, Server};

reference_tests!(
    sadd_srem_scard,
    membership,
    smembers_and_encodings,
    intset_threshold,
    set_algebra,
    store_commands,
    sdiffstore_encoding_follows_algorithm,
    sintercard,
    spop,
    srandmember,
    smove,
    sscan,
    resp3_forms,
    wrongtype,
    watch_sees_only_real_changes,
    default_intset_limit,
);

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn int(n: i64) -> Reply {
    Reply::Int(n)
}

fn err(s: &str) -> Reply {
    Reply::err(s)
}

fn bulks(items: &[&str]) -> Reply {
    Reply::bulks(items)
}

/// The exact bytes of one reply, as text.
fn raw(c: &mut Client, line: &str) -> String {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    c.send(&args);
    String::from_utf8_lossy(&c.read_raw_reply_bytes()).into_owned()
}

/// The members of a set reply as sorted strings.
fn sorted(reply: &Reply) -> Vec<String> {
    let mut v: Vec<String> = reply.as_array().iter().map(Reply::as_str).collect();
    v.sort();
    v
}

fn sadd_srem_scard(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("SADD s a b c a"), int(3));
    assert_eq!(c.q("SADD s a d"), int(1));
    assert_eq!(c.q("SADD s a"), int(0));
    assert_eq!(c.q("SCARD s"), int(4));
    assert_eq!(c.q("SCARD nokey"), int(0));
    assert_eq!(c.q("SREM nokey a"), int(0));
    assert_eq!(c.q("SREM s a x a"), int(1));
    assert_eq!(c.q("SCARD s"), int(3));
    // Emptying the set deletes the key, even with members left to remove.
    assert_eq!(c.q("SREM s b c d e"), int(3));
    assert_eq!(c.q("EXISTS s"), int(0));
    assert_eq!(c.q("TYPE s"), Reply::simple("none"));
    assert_eq!(
        c.q("SADD s"),
        err("ERR wrong number of arguments for 'sadd' command")
    );
    assert_eq!(
        c.q("SREM s"),
        err("ERR wrong number of arguments for 'srem' command")
    );
    // SADD to an expiring set keeps its TTL.
    assert_eq!(c.q("SADD t 1"), int(1));
    assert_eq!(c.q("EXPIRE t 1000"), int(1));
    assert_eq!(c.q("SADD t 2"), int(1));
    assert!(c.q("TTL t").as_int() > 0);
}

fn membership(server: &Server) {
    let mut c = server.client();
    c.q("SADD s 1 x 3");
    assert_eq!(c.q("SISMEMBER s 1"), int(1));
    assert_eq!(c.q("SISMEMBER s x"), int(1));
    assert_eq!(c.q("SISMEMBER s 2"), int(0));
    assert_eq!(c.q("SISMEMBER nokey 1"), int(0));
    assert_eq!(
        c.q("SMISMEMBER s 1 2 x y 3"),
        Reply::array(vec![int(1), int(0), int(1), int(0), int(1)])
    );
    assert_eq!(
        c.q("SMISMEMBER nokey 1 2"),
        Reply::array(vec![int(0), int(0)])
    );
    // Members are strings: "01" is not 1.
    c.q("SADD i 1 2");
    assert_eq!(c.q("SISMEMBER i 01"), int(0));
    assert_eq!(c.q("SISMEMBER i +1"), int(0));
    assert_eq!(c.q("SISMEMBER i -0"), int(0));
}

fn smembers_and_encodings(server: &Server) {
    let mut c = server.client();
    // An intset replies in ascending order, whatever the insertion order.
    assert_eq!(c.q("SADD s 30 -7 100000 2 9223372036854775807"), int(5));
    assert_eq!(c.q("OBJECT ENCODING s"), Reply::bulk("intset"));
    assert_eq!(
        c.q("SMEMBERS s"),
        bulks(&["-7", "2", "30", "100000", "9223372036854775807"])
    );
    // Non-canonical integers are strings.
    for member in ["01", "+1", "-0", " 1", "9223372036854775808", "1.0"] {
        c.q("DEL n");
        c.cmd_str(&["SADD", "n", member]);
        assert_eq!(
            c.q("OBJECT ENCODING n"),
            Reply::bulk("hashtable"),
            "{member}"
        );
    }
    // One string member converts for good.
    assert_eq!(c.q("SADD s x"), int(1));
    assert_eq!(c.q("OBJECT ENCODING s"), Reply::bulk("hashtable"));
    assert_eq!(c.q("SREM s x"), int(1));
    assert_eq!(c.q("OBJECT ENCODING s"), Reply::bulk("hashtable"));
    assert_eq!(
        sorted(&c.q("SMEMBERS s")),
        vec!["-7", "100000", "2", "30", "9223372036854775807"]
    );
    assert_eq!(c.q("SMEMBERS nokey"), Reply::array(vec![]));
}

fn intset_threshold(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("CONFIG SET set-max-intset-entries 3"), Reply::ok());
    assert_eq!(c.q("SADD s 1 2 3"), int(3));
    assert_eq!(c.q("OBJECT ENCODING s"), Reply::bulk("intset"));
    assert_eq!(c.q("SADD s 3"), int(0));
    assert_eq!(c.q("OBJECT ENCODING s"), Reply::bulk("intset"));
    assert_eq!(c.q("SADD s 4"), int(1));
    assert_eq!(c.q("OBJECT ENCODING s"), Reply::bulk("hashtable"));
    assert_eq!(c.q("SREM s 4 3"), int(2));
    assert_eq!(c.q("OBJECT ENCODING s"), Reply::bulk("hashtable"));
    // Results are built as new sets: a small integer result is an intset.
    assert_eq!(c.q("SUNIONSTORE d s"), int(2));
    assert_eq!(c.q("OBJECT ENCODING d"), Reply::bulk("intset"));
    assert_eq!(c.q("SUNION s"), bulks(&["1", "2"]));
    assert_eq!(c.q("SADD big 1 2 3 4 5"), int(5));
    assert_eq!(c.q("SUNIONSTORE d big"), int(5));
    assert_eq!(c.q("OBJECT ENCODING d"), Reply::bulk("hashtable"));
    // COPY keeps the encoding.
    assert_eq!(c.q("COPY s s2"), int(1));
    assert_eq!(c.q("OBJECT ENCODING s2"), Reply::bulk("hashtable"));
    assert_eq!(c.q("CONFIG SET set-max-intset-entries 0"), Reply::ok());
    assert_eq!(c.q("SADD z 1"), int(1));
    assert_eq!(c.q("OBJECT ENCODING z"), Reply::bulk("hashtable"));
    assert_eq!(c.q("CONFIG SET set-max-intset-entries 512"), Reply::ok());
}

fn set_algebra(server: &Server) {
    let mut c = server.client();
    c.q("SADD a 1 2 3 4 5");
    c.q("SADD b 4 5 6 7");
    c.q("SADD c x y 5");
    assert_eq!(c.q("SINTER a b"), bulks(&["4", "5"]));
    assert_eq!(c.q("SINTER a b c"), bulks(&["5"]));
    assert_eq!(c.q("SINTER a nokey"), Reply::array(vec![]));
    assert_eq!(c.q("SINTER a a"), bulks(&["1", "2", "3", "4", "5"]));
    assert_eq!(
        c.q("SUNION a b"),
        bulks(&["1", "2", "3", "4", "5", "6", "7"])
    );
    assert_eq!(c.q("SUNION nokey b nokey"), bulks(&["4", "5", "6", "7"]));
    assert_eq!(
        sorted(&c.q("SUNION a c")),
        vec!["1", "2", "3", "4", "5", "x", "y"]
    );
    assert_eq!(c.q("SDIFF a b"), bulks(&["1", "2", "3"]));
    assert_eq!(c.q("SDIFF a b c"), bulks(&["1", "2", "3"]));
    assert_eq!(c.q("SDIFF a nokey"), bulks(&["1", "2", "3", "4", "5"]));
    assert_eq!(c.q("SDIFF nokey a"), Reply::array(vec![]));
    assert_eq!(c.q("SDIFF a b a"), Reply::array(vec![]));
    assert_eq!(sorted(&c.q("SDIFF c a")), vec!["x", "y"]);
    assert_eq!(c.q("SUNION nokey"), Reply::array(vec![]));
}

fn store_commands(server: &Server) {
    let mut c = server.client();
    c.q("SADD a 1 2 3");
    c.q("SADD b 3 4");
    c.q("SET d string");
    c.q("EXPIRE d 1000");
    // The destination is replaced whatever its type, and loses its TTL.
    assert_eq!(c.q("SINTERSTORE d a b"), int(1));
    assert_eq!(c.q("TTL d"), int(-1));
    assert_eq!(c.q("SMEMBERS d"), bulks(&["3"]));
    assert_eq!(c.q("OBJECT ENCODING d"), Reply::bulk("intset"));
    assert_eq!(c.q("SUNIONSTORE d a b"), int(4));
    assert_eq!(c.q("SMEMBERS d"), bulks(&["1", "2", "3", "4"]));
    assert_eq!(c.q("SDIFFSTORE d a b"), int(2));
    assert_eq!(c.q("SMEMBERS d"), bulks(&["1", "2"]));
    // A source may be the destination.
    assert_eq!(c.q("SUNIONSTORE a a b"), int(4));
    assert_eq!(c.q("SMEMBERS a"), bulks(&["1", "2", "3", "4"]));
    // Empty results delete the destination and reply 0.
    assert_eq!(c.q("SINTERSTORE d a nokey"), int(0));
    assert_eq!(c.q("EXISTS d"), int(0));
    c.q("SET d x");
    assert_eq!(c.q("SDIFFSTORE d b a"), int(0));
    assert_eq!(c.q("EXISTS d"), int(0));
    c.q("SET d x");
    assert_eq!(c.q("SUNIONSTORE d nokey"), int(0));
    assert_eq!(c.q("EXISTS d"), int(0));
    c.q("SET d x");
    assert_eq!(c.q("SINTERSTORE d a nokey"), int(0));
    assert_eq!(c.q("EXISTS d"), int(0));
    c.q("SADD s x 1");
    assert_eq!(c.q("SINTERSTORE d s s"), int(2));
    assert_eq!(c.q("OBJECT ENCODING d"), Reply::bulk("hashtable"));
    assert_eq!(
        c.q("SUNIONSTORE d"),
        err("ERR wrong number of arguments for 'sunionstore' command")
    );
}

/// SDIFF picks one of two algorithms by the set sizes (t_set.c); the one
/// that adds every member of the first set before removing leaves a
/// hashtable behind when the first set holds strings, the other an intset.
fn sdiffstore_encoding_follows_algorithm(server: &Server) {
    let mut c = server.client();
    // Algorithm 1 (|x| * keys / 2 <= total size): only survivors are added.
    c.q("SADD x 1 2 3 z");
    c.q("SADD a z");
    c.q("SADD b z");
    c.q("SADD c z");
    assert_eq!(c.q("SDIFFSTORE d x a"), int(3));
    assert_eq!(c.q("OBJECT ENCODING d"), Reply::bulk("intset"));
    // Algorithm 2: 4 * 4 / 2 > 4 + 3, so all of x goes in first.
    assert_eq!(c.q("SDIFFSTORE d x a b c"), int(3));
    assert_eq!(c.q("OBJECT ENCODING d"), Reply::bulk("hashtable"));
    assert_eq!(sorted(&c.q("SMEMBERS d")), vec!["1", "2", "3"]);
}

fn sintercard(server: &Server) {
    let mut c = server.client();
    c.q("SADD a 1 2 3 x");
    c.q("SADD b 2 3 x y");
    assert_eq!(c.q("SINTERCARD 2 a b"), int(3));
    assert_eq!(c.q("SINTERCARD 2 a b LIMIT 2"), int(2));
    assert_eq!(c.q("SINTERCARD 2 a b limit 0"), int(3));
    assert_eq!(c.q("SINTERCARD 2 a b LIMIT 10"), int(3));
    assert_eq!(c.q("SINTERCARD 1 a"), int(4));
    assert_eq!(c.q("SINTERCARD 2 a nokey"), int(0));
    assert_eq!(c.q("SINTERCARD 1 a b"), err("ERR syntax error"));
    assert_eq!(c.q("SINTERCARD 2 a b LIMIT"), err("ERR syntax error"));
    let numkeys = "ERR numkeys should be greater than 0";
    assert_eq!(c.q("SINTERCARD 0 a"), err(numkeys));
    assert_eq!(c.q("SINTERCARD -1 a"), err(numkeys));
    assert_eq!(c.q("SINTERCARD x a"), err(numkeys));
    assert_eq!(
        c.q("SINTERCARD 3 a b"),
        err("ERR Number of keys can't be greater than number of args")
    );
    assert_eq!(
        c.q("SINTERCARD 2 a b LIMIT -1"),
        err("ERR LIMIT can't be negative")
    );
    assert_eq!(
        c.q("SINTERCARD 2 a b LIMIT x"),
        err("ERR LIMIT can't be negative")
    );
    c.q("SET s v");
    assert_eq!(c.q("SINTERCARD 2 a s"), err(WRONGTYPE));
    assert_eq!(c.q("SINTERCARD 2 nokey s"), err(WRONGTYPE));
}

/// True if `reply`'s members are integers in ascending order.
fn ascending_ints(reply: &Reply) -> bool {
    let v: Vec<i64> = reply
        .as_array()
        .iter()
        .map(|m| m.as_str().parse().unwrap())
        .collect();
    v.windows(2).all(|w| w[0] < w[1])
}

fn spop(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("SPOP nokey"), Reply::nil());
    assert_eq!(c.q("SPOP nokey 3"), Reply::array(vec![]));
    let positive = "ERR value is out of range, must be positive";
    assert_eq!(c.q("SPOP nokey -1"), err(positive));
    assert_eq!(c.q("SPOP nokey x"), err(positive));
    assert_eq!(c.q("SPOP nokey 1 2"), err("ERR syntax error"));
    c.q("SADD s 1 2 3 4 5");
    assert_eq!(c.q("SPOP s 0"), Reply::array(vec![]));
    let one = c.q("SPOP s").as_str();
    assert_eq!(c.q(&format!("SISMEMBER s {one}")), int(0));
    let two = sorted(&c.q("SPOP s 2"));
    assert_eq!(two.len(), 2);
    assert!(!two.contains(&one));
    assert_eq!(c.q("SCARD s"), int(2));
    // Popping at least the whole set returns it (ascending for an intset)
    // and deletes the key.
    let rest = c.q("SPOP s 10");
    assert_eq!(rest.as_array().len(), 2);
    assert!(ascending_ints(&rest));
    assert_eq!(c.q("EXISTS s"), int(0));
    // Popping most of a hashtable rebuilds it from the members kept: an
    // intset again when they are all integers.
    c.q("SADD h 1 2 3 4 5 6 7 8 9 10 x");
    c.q("SREM h x");
    assert_eq!(c.q("SPOP h 9").as_array().len(), 9);
    assert_eq!(c.q("OBJECT ENCODING h"), Reply::bulk("intset"));
    c.q("SADD h2 1 2 3 4 5 6 7 8 9 10 x");
    c.q("SREM h2 x");
    assert_eq!(c.q("SPOP h2 2").as_array().len(), 2);
    assert_eq!(c.q("OBJECT ENCODING h2"), Reply::bulk("hashtable"));
    assert_eq!(c.q("SCARD h2"), int(8));
    c.q("SADD one x");
    assert_eq!(c.q("SPOP one"), Reply::bulk("x"));
    assert_eq!(c.q("EXISTS one"), int(0));
}

fn srandmember(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("SRANDMEMBER nokey"), Reply::nil());
    assert_eq!(c.q("SRANDMEMBER nokey 5"), Reply::array(vec![]));
    assert_eq!(c.q("SRANDMEMBER nokey -5"), Reply::array(vec![]));
    assert_eq!(
        c.q("SRANDMEMBER nokey x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.q("SRANDMEMBER nokey -9223372036854775808"),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(c.q("SRANDMEMBER nokey 1 2"), err("ERR syntax error"));
    for members in ["1 2 3 4 5 6 7 8 9 10", "a b c d e f g h i j"] {
        c.q("DEL s");
        c.q(&format!("SADD s {members}"));
        let all: Vec<&str> = members.split(' ').collect();
        let one = c.q("SRANDMEMBER s").as_str();
        assert!(all.contains(&one.as_str()));
        assert_eq!(c.q("SRANDMEMBER s 0"), Reply::array(vec![]));
        for count in [1, 2, 5, 8, 9] {
            let got = sorted(&c.q(&format!("SRANDMEMBER s {count}")));
            let mut distinct = got.clone();
            distinct.dedup();
            assert_eq!(distinct.len(), count, "distinct members");
            assert!(got.iter().all(|m| all.contains(&m.as_str())));
        }
        let whole = sorted(&c.q("SRANDMEMBER s 100"));
        let mut expect: Vec<String> = all.iter().map(|s| s.to_string()).collect();
        expect.sort();
        assert_eq!(whole, expect);
        let repeats = c.q("SRANDMEMBER s -30");
        assert_eq!(repeats.as_array().len(), 30);
        assert!(repeats
            .as_array()
            .iter()
            .all(|m| all.contains(&m.as_str().as_str())));
        assert_eq!(c.q("SCARD s"), int(10));
    }
    // The whole intset comes back in order.
    c.q("SADD i 3 1 2");
    assert_eq!(c.q("SRANDMEMBER i 3"), bulks(&["1", "2", "3"]));
}

fn smove(server: &Server) {
    let mut c = server.client();
    c.q("SADD a 1 2 x");
    c.q("SET str v");
    assert_eq!(c.q("SMOVE nokey a 1"), int(0));
    assert_eq!(c.q("SMOVE nokey str 1"), int(0));
    assert_eq!(c.q("SMOVE str a 1"), err(WRONGTYPE));
    assert_eq!(c.q("SMOVE a str 1"), err(WRONGTYPE));
    assert_eq!(c.q("SMOVE a a 1"), int(1));
    assert_eq!(c.q("SMOVE a a 9"), int(0));
    assert_eq!(c.q("SMOVE a b 9"), int(0));
    assert_eq!(c.q("EXISTS b"), int(0));
    assert_eq!(c.q("SMOVE a b 1"), int(1));
    assert_eq!(c.q("OBJECT ENCODING b"), Reply::bulk("intset"));
    assert_eq!(c.q("SMOVE a b x"), int(1));
    assert_eq!(c.q("OBJECT ENCODING b"), Reply::bulk("hashtable"));
    assert_eq!(c.q("SMOVE a n x"), int(0));
    // Moving a member the destination already has still removes it.
    c.q("SADD b 2");
    assert_eq!(c.q("SMOVE a b 2"), int(1));
    assert_eq!(c.q("EXISTS a"), int(0));
    assert_eq!(sorted(&c.q("SMEMBERS b")), vec!["1", "2", "x"]);
    c.q("SADD c y");
    assert_eq!(c.q("SMOVE c d y"), int(1));
    assert_eq!(c.q("OBJECT ENCODING d"), Reply::bulk("hashtable"));
    assert_eq!(c.q("EXISTS c"), int(0));
}

fn sscan(server: &Server) {
    let mut c = server.client();
    let empty = Reply::array(vec![Reply::bulk("0"), Reply::array(vec![])]);
    assert_eq!(c.q("SSCAN nokey 0"), empty);
    // Options are not even parsed for a missing key.
    assert_eq!(c.q("SSCAN nokey 0 COUNT 0 bogus"), empty);
    assert_eq!(c.q("SSCAN nokey x"), err("ERR invalid cursor"));
    c.q("SADD i 5 1 3 12");
    assert_eq!(
        c.q("SSCAN i 0 COUNT 1"),
        Reply::array(vec![Reply::bulk("0"), bulks(&["1", "3", "5", "12"])])
    );
    assert_eq!(
        c.q("SSCAN i 0 MATCH 1*"),
        Reply::array(vec![Reply::bulk("0"), bulks(&["1", "12"])])
    );
    assert_eq!(c.q("SSCAN i 0 COUNT 0"), err("ERR syntax error"));
    assert_eq!(
        c.q("SSCAN i 0 COUNT x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.q("SSCAN i 0 TYPE string"), err("ERR syntax error"));
    assert_eq!(c.q("SSCAN i 0 COUNT"), err("ERR syntax error"));
    c.q("SET str v");
    assert_eq!(c.q("SSCAN str 0"), err(WRONGTYPE));
    // A hashtable: a full iteration returns every member at least once.
    let members: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    let mut args = vec!["SADD", "h"];
    args.extend(members.iter().map(String::as_str));
    assert_eq!(c.cmd_str(&args), int(200));
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    for _ in 0..1000 {
        let reply = c.cmd_str(&["SSCAN", "h", &cursor, "COUNT", "7"]);
        let parts = reply.as_array();
        seen.extend(parts[1].as_array().iter().map(Reply::as_str));
        cursor = parts[0].as_str();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(cursor, "0");
    assert_eq!(seen.len(), 200);
    let reply = c.q("SSCAN h 0 MATCH m1? COUNT 1000");
    assert_eq!(
        sorted(&reply.as_array()[1]),
        (10..20).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
}

fn resp3_forms(server: &Server) {
    let mut c = server.client();
    assert!(matches!(c.q("HELLO 3"), Reply::Map(_)));
    c.q("SADD s 3 1 2");
    let three = "$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n";
    assert_eq!(raw(&mut c, "SMEMBERS s"), format!("~3\r\n{three}"));
    assert_eq!(raw(&mut c, "SMEMBERS nokey"), "~0\r\n");
    assert_eq!(raw(&mut c, "SINTER s nokey"), "~0\r\n");
    assert_eq!(raw(&mut c, "SINTER s s"), format!("~3\r\n{three}"));
    assert_eq!(raw(&mut c, "SUNION s"), format!("~3\r\n{three}"));
    assert_eq!(raw(&mut c, "SDIFF nokey"), "~0\r\n");
    assert_eq!(raw(&mut c, "SPOP nokey"), "_\r\n");
    assert_eq!(raw(&mut c, "SPOP nokey 2"), "~0\r\n");
    assert_eq!(raw(&mut c, "SPOP s 0"), "~0\r\n");
    assert_eq!(raw(&mut c, "SRANDMEMBER nokey"), "_\r\n");
    assert_eq!(raw(&mut c, "SRANDMEMBER nokey 2"), "*0\r\n");
    assert_eq!(raw(&mut c, "SRANDMEMBER s 0"), "*0\r\n");
    assert_eq!(raw(&mut c, "SRANDMEMBER s 5"), format!("*3\r\n{three}"));
    assert_eq!(raw(&mut c, "SMISMEMBER s 1 9"), "*2\r\n:1\r\n:0\r\n");
    assert_eq!(
        raw(&mut c, "SSCAN s 0"),
        format!("*2\r\n$1\r\n0\r\n*3\r\n{three}")
    );
    assert!(raw(&mut c, "SPOP s 2").starts_with("~2\r\n"));
    assert_eq!(raw(&mut c, "SPOP s 2").len(), "~1\r\n$1\r\n1\r\n".len());
    assert_eq!(raw(&mut c, "EXISTS s"), ":0\r\n");
}

fn wrongtype(server: &Server) {
    let mut c = server.client();
    c.q("SET str v");
    c.q("SADD s 1");
    for cmd in [
        "SADD str 1",
        "SREM str 1",
        "SISMEMBER str 1",
        "SMISMEMBER str 1",
        "SCARD str",
        "SMEMBERS str",
        "SPOP str",
        "SPOP str 1",
        "SRANDMEMBER str",
        "SRANDMEMBER str 1",
        "SINTER s str",
        "SINTER nokey str",
        "SUNION s str",
        "SDIFF s str",
        "SDIFF nokey str",
        "SINTERSTORE d s str",
        "SUNIONSTORE d s str",
        "SDIFFSTORE d s str",
        "SSCAN str 0",
    ] {
        assert_eq!(c.q(cmd), err(WRONGTYPE), "{cmd}");
    }
    assert_eq!(c.q("EXISTS d"), int(0));
    // The sources are intact after an error part-way.
    assert_eq!(c.q("SMEMBERS s"), bulks(&["1"]));
    assert_eq!(c.q("GET str"), Reply::bulk("v"));
}

/// Goal: WATCH is touched exactly when a set command changes a key, as in
/// t_set.c (no-op writes don't signal).
/// Method: for each case, WATCH the key on `c`, run the command on `other`,
/// then MULTI/PING/EXEC on `c`: `[PONG]` means untouched, nil means touched.
fn watch_sees_only_real_changes(server: &Server) {
    let mut c = server.client();
    let mut other = server.client();
    other.q("SADD s 1 2 x");
    other.q("SADD a 1 2");
    other.q("SADD b 2");
    let cases: &[(&str, &str, bool)] = &[
        ("s", "SADD s 1 x", false),
        ("s", "SREM s 9 y", false),
        ("s", "SPOP s 0", false),
        ("s", "SMOVE s s 1", false),
        ("s", "SMOVE s t 9", false),
        ("d", "SINTERSTORE d a nokey", false),
        ("d", "SUNIONSTORE d nokey", false),
        ("d", "SDIFFSTORE d a a", false),
        ("b", "SMOVE a b 2", false),
        ("a", "SMOVE a b 1", true),
        ("s", "SADD s 3", true),
        ("s", "SREM s 3", true),
        ("d", "SINTERSTORE d s s", true),
        ("d", "SUNIONSTORE d nokey", true),
        ("s", "SPOP s 1", true),
    ];
    for &(key, cmd, touched) in cases {
        assert_eq!(c.q(&format!("WATCH {key}")), Reply::ok());
        other.q(cmd);
        assert_eq!(c.q("MULTI"), Reply::ok());
        assert_eq!(c.q("PING"), Reply::simple("QUEUED"));
        let expect = if touched {
            Reply::Array(None)
        } else {
            Reply::array(vec![Reply::simple("PONG")])
        };
        assert_eq!(c.q("EXEC"), expect, "{cmd}");
    }
}

/// The default `set-max-intset-entries` (512) and intset widths: members
/// beyond 16 and 32 bits keep the intset, the 513th member converts it.
fn default_intset_limit(server: &Server) {
    let mut c = server.client();
    let mut members: Vec<String> = (0..509).map(|i| (i * 7 - 1000).to_string()).collect();
    members.extend(["70000", "-3000000000", "9223372036854775807"].map(String::from));
    let mut args = vec!["SADD", "s"];
    args.extend(members.iter().map(String::as_str));
    assert_eq!(c.cmd_str(&args), int(512));
    assert_eq!(c.q("OBJECT ENCODING s"), Reply::bulk("intset"));
    let all = c.q("SMEMBERS s");
    assert_eq!(all.as_array().len(), 512);
    assert!(ascending_ints(&all));
    assert_eq!(c.q("SISMEMBER s -3000000000"), int(1));
    assert_eq!(c.q("SADD s 2"), int(1));
    assert_eq!(c.q("OBJECT ENCODING s"), Reply::bulk("hashtable"));
    assert_eq!(c.q("SCARD s"), int(513));
    assert_eq!(c.q("SISMEMBER s -3000000000"), int(1));
    // Members that stay for a whole SSCAN are all returned, even while
    // others come and go.
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut step = 0;
    loop {
        let reply = c.cmd_str(&["SSCAN", "s", &cursor, "COUNT", "20"]);
        let parts = reply.as_array();
        seen.extend(parts[1].as_array().iter().map(Reply::as_str));
        cursor = parts[0].as_str();
        step += 1;
        c.cmd_str(&["SADD", "s", &format!("new{step}")]);
        c.cmd_str(&["SREM", "s", &format!("new{}", step - 1)]);
        if cursor == "0" || step > 10_000 {
            break;
        }
    }
    assert_eq!(cursor, "0");
    assert!(members.iter().all(|m| seen.contains(m)));
}
