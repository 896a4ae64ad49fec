//! Sorted-set integration tests: exact replies of redis-server 7.0.15. Every
//! test runs against sluice-server with `--server-threads 1` and `2`, and
//! against redis-server itself (`<test>::redis`), so the expectations are
//! checked to be Redis's.
#[macro_use]
mod common;

use common::{Reply, Server};

reference_tests!(
    zadd_options_and_errors,
    point_reads,
    rank_ranges,
    score_and_lex_ranges,
    removal_deletes_empty_keys,
    pops,
    rangestore,
    encodings,
    resp3_forms,
    wrong_type,
    set_operations,
    zmpop,
    zrandmember,
    zscan,
    plain_sets_as_inputs,
);

/// ZUNION/ZINTER/ZDIFF take plain sets as sorted sets with score 1.
fn plain_sets_as_inputs(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("SADD s a b c"), int(3));
    assert_eq!(c.q("ZADD z 2 a 5 d"), int(2));
    assert_eq!(
        c.q("ZUNION 2 s z WITHSCORES"),
        Reply::bulks(["b", "1", "c", "1", "a", "3", "d", "5"])
    );
    assert_eq!(c.q("ZINTER 2 s z"), Reply::bulks(["a"]));
    assert_eq!(c.q("ZDIFF 2 s z"), Reply::bulks(["b", "c"]));
    assert_eq!(c.q("ZUNIONSTORE out 2 z s WEIGHTS 2 3"), int(4));
    assert_eq!(
        c.q("ZRANGE out 0 -1 WITHSCORES"),
        Reply::bulks(["b", "3", "c", "3", "a", "7", "d", "10"])
    );
}

fn err(text: &str) -> Reply {
    Reply::err(text)
}

fn int(n: i64) -> Reply {
    Reply::Int(n)
}

fn empty() -> Reply {
    Reply::array(vec![])
}

/// ZADD and ZINCRBY: flags, CH, INCR replies, the 7.0 error texts, NaN.
fn zadd_options_and_errors(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("ZADD z 1 a 2 b"), int(2));
    assert_eq!(c.q("ZADD z CH 5 b 7 f"), int(2));
    assert_eq!(c.q("ZADD z 5 b 7 f"), int(0));
    assert_eq!(c.q("ZADD z NX 9 a 3 c"), int(1));
    assert_eq!(c.q("ZSCORE z a"), Reply::bulk("1"));
    assert_eq!(c.q("ZADD z XX 9 a 4 d"), int(0));
    assert_eq!(c.q("ZSCORE z a"), Reply::bulk("9"));
    assert_eq!(c.q("ZSCORE z d"), Reply::nil());
    assert_eq!(c.q("ZADD z GT CH 100 b 0 c"), int(1));
    assert_eq!(c.q("ZADD z LT CH 100 b 0 c"), int(1));
    assert_eq!(c.q("ZADD z INCR 1.5 a"), Reply::bulk("10.5"));
    assert_eq!(c.q("ZADD z INCR 0 a"), Reply::bulk("10.5"));
    assert_eq!(c.q("ZADD z XX INCR 1 nope"), Reply::nil());
    assert_eq!(c.q("ZADD z GT INCR -1 a"), Reply::nil());
    assert_eq!(c.q("ZADD z NX INCR 1 a"), Reply::nil());
    assert_eq!(c.q("ZINCRBY z 2 a"), Reply::bulk("12.5"));
    assert_eq!(c.q("ZINCRBY z 0.1 new"), Reply::bulk("0.10000000000000001"));
    assert_eq!(c.q("ZADD z XX 1 a"), int(0));
    assert_eq!(c.q("ZADD nokey XX 1 a"), int(0));
    assert_eq!(c.q("EXISTS nokey"), int(0));
    assert_eq!(
        c.q("ZADD z NX XX 1 a"),
        err("ERR XX and NX options at the same time are not compatible")
    );
    let gtlt = "ERR GT, LT, and/or NX options at the same time are not compatible";
    assert_eq!(c.q("ZADD z GT LT 1 a"), err(gtlt));
    assert_eq!(c.q("ZADD z NX GT 1 a"), err(gtlt));
    assert_eq!(
        c.q("ZADD z INCR 1 a 2 b"),
        err("ERR INCR option supports a single increment-element pair")
    );
    assert_eq!(c.q("ZADD z 1 a 2"), err("ERR syntax error"));
    assert_eq!(c.q("ZADD z NX 1"), err("ERR syntax error"));
    assert_eq!(
        c.q("ZADD z 1"),
        err("ERR wrong number of arguments for 'zadd' command")
    );
    assert_eq!(c.q("ZADD z nan a"), err("ERR value is not a valid float"));
    assert_eq!(c.q("ZADD z 1 a x b"), err("ERR value is not a valid float"));
    assert_eq!(c.q("ZINCRBY z x a"), err("ERR value is not a valid float"));
    assert_eq!(c.q("ZADD z INCR inf a"), Reply::bulk("inf"));
    assert_eq!(
        c.q("ZADD z INCR -inf a"),
        err("ERR resulting score is not a number (NaN)")
    );
    assert_eq!(c.q("ZSCORE z a"), Reply::bulk("inf"));
    // -0 reads back as 0 from a listpack.
    assert_eq!(c.q("ZADD m -0 a"), int(1));
    assert_eq!(c.q("ZSCORE m a"), Reply::bulk("0"));
    assert_eq!(c.q("ZADD m 1e3 b 0x10 c"), int(2));
    assert_eq!(
        c.q("ZRANGE m 0 -1 WITHSCORES"),
        Reply::bulks(["a", "0", "c", "16", "b", "1000"])
    );
}

/// ZSCORE ZMSCORE ZCARD ZRANK ZREVRANK ZCOUNT ZLEXCOUNT.
fn point_reads(server: &Server) {
    let mut c = server.client();
    c.q("ZADD z 1 a 2 b 2 c 3 d");
    assert_eq!(c.q("ZCARD z"), int(4));
    assert_eq!(c.q("ZCARD nokey"), int(0));
    assert_eq!(c.q("ZSCORE nokey a"), Reply::nil());
    assert_eq!(
        c.q("ZMSCORE z a nope d"),
        Reply::array(vec![Reply::bulk("1"), Reply::nil(), Reply::bulk("3")])
    );
    assert_eq!(
        c.q("ZMSCORE nokey a b"),
        Reply::array(vec![Reply::nil(), Reply::nil()])
    );
    assert_eq!(c.q("ZRANK z c"), int(2));
    assert_eq!(c.q("ZREVRANK z c"), int(1));
    assert_eq!(c.q("ZRANK z nope"), Reply::nil());
    assert_eq!(c.q("ZRANK nokey a"), Reply::nil());
    assert_eq!(c.q("ZCOUNT z -inf +inf"), int(4));
    assert_eq!(c.q("ZCOUNT z (1 (3"), int(2));
    assert_eq!(c.q("ZCOUNT z ( 3"), int(4));
    assert_eq!(c.q("ZCOUNT z 3 1"), int(0));
    assert_eq!(c.q("ZCOUNT z x 1"), err("ERR min or max is not a float"));
    assert_eq!(c.q("ZCOUNT z nan 1"), err("ERR min or max is not a float"));
    c.q("ZADD l 0 a 0 b 0 c 0 d");
    assert_eq!(c.q("ZLEXCOUNT l - +"), int(4));
    assert_eq!(c.q("ZLEXCOUNT l [b (d"), int(2));
    assert_eq!(c.q("ZLEXCOUNT l + -"), int(0));
    assert_eq!(
        c.q("ZLEXCOUNT l b +"),
        err("ERR min or max not valid string range item")
    );
    assert_eq!(
        c.q("ZLEXCOUNT l -- +"),
        err("ERR min or max not valid string range item")
    );
}

/// ZRANGE by rank, ZREVRANGE, and the option errors of the ZRANGE family.
fn rank_ranges(server: &Server) {
    let mut c = server.client();
    c.q("ZADD z 1 a 2 b 3 c 4 d");
    assert_eq!(c.q("ZRANGE z 0 -1"), Reply::bulks(["a", "b", "c", "d"]));
    assert_eq!(c.q("ZRANGE z -2 100"), Reply::bulks(["c", "d"]));
    assert_eq!(c.q("ZRANGE z -100 0"), Reply::bulks(["a"]));
    assert_eq!(c.q("ZRANGE z 2 1"), empty());
    assert_eq!(c.q("ZRANGE z 4 10"), empty());
    assert_eq!(c.q("ZRANGE nokey 0 -1"), empty());
    assert_eq!(
        c.q("ZRANGE z 0 1 WITHSCORES"),
        Reply::bulks(["a", "1", "b", "2"])
    );
    assert_eq!(c.q("ZRANGE z 0 1 REV"), Reply::bulks(["d", "c"]));
    assert_eq!(
        c.q("ZREVRANGE z 0 1 WITHSCORES"),
        Reply::bulks(["d", "4", "c", "3"])
    );
    assert_eq!(
        c.q("ZRANGE z 0 x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.q("ZRANGE z 0 1 LIMIT 0 1"),
        err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        )
    );
    assert_eq!(c.q("ZRANGE z 0 1 BYSCORE BYSCORE"), err("ERR syntax error"));
    assert_eq!(c.q("ZRANGE z 0 1 REV REV"), err("ERR syntax error"));
    assert_eq!(c.q("ZREVRANGE z 0 1 REV"), err("ERR syntax error"));
    assert_eq!(c.q("ZRANGE z 0 1 LIMIT 0"), err("ERR syntax error"));
    assert_eq!(
        c.q("ZRANGE z [a [b BYLEX WITHSCORES"),
        err("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    );
}

/// Score and lex ranges: exclusive bounds, infinities, REV, LIMIT.
fn score_and_lex_ranges(server: &Server) {
    let mut c = server.client();
    c.q("ZADD z 1 a 2 b 3 c 4 d 5 e");
    assert_eq!(
        c.q("ZRANGEBYSCORE z (1 +inf WITHSCORES LIMIT 1 2"),
        Reply::bulks(["c", "3", "d", "4"])
    );
    assert_eq!(c.q("ZRANGEBYSCORE z -inf +inf LIMIT -1 2"), empty());
    assert_eq!(
        c.q("ZRANGEBYSCORE z -inf +inf LIMIT 3 -1"),
        Reply::bulks(["d", "e"])
    );
    assert_eq!(c.q("ZRANGEBYSCORE z -inf +inf LIMIT 5 1"), empty());
    assert_eq!(c.q("ZREVRANGEBYSCORE z +inf (3"), Reply::bulks(["e", "d"]));
    assert_eq!(c.q("ZREVRANGEBYSCORE z (3 +inf"), empty());
    assert_eq!(c.q("ZRANGE z 5 (3 BYSCORE REV"), Reply::bulks(["e", "d"]));
    assert_eq!(c.q("ZRANGE z (1 (3 BYSCORE"), Reply::bulks(["b"]));
    assert_eq!(c.q("ZRANGEBYSCORE z 2 2"), Reply::bulks(["b"]));
    assert_eq!(c.q("ZRANGEBYSCORE z (2 2"), empty());
    assert_eq!(
        c.q("ZRANGEBYSCORE z x 1"),
        err("ERR min or max is not a float")
    );
    assert_eq!(c.q("ZRANGEBYSCORE z 1 2 REV"), err("ERR syntax error"));
    c.q("ZADD l 0 a 0 b 0 c 0 d 0 e");
    assert_eq!(c.q("ZRANGEBYLEX l [b (d"), Reply::bulks(["b", "c"]));
    assert_eq!(c.q("ZRANGEBYLEX l - + LIMIT 1 2"), Reply::bulks(["b", "c"]));
    assert_eq!(
        c.q("ZREVRANGEBYLEX l + - LIMIT 0 2"),
        Reply::bulks(["e", "d"])
    );
    assert_eq!(c.q("ZRANGE l (c + BYLEX"), Reply::bulks(["d", "e"]));
    assert_eq!(
        c.q("ZRANGE l [c - BYLEX REV"),
        Reply::bulks(["c", "b", "a"])
    );
    assert_eq!(c.q("ZRANGEBYLEX l + -"), empty());
    assert_eq!(c.q("ZRANGEBYLEX l [b (b"), empty());
    assert_eq!(
        c.q("ZRANGEBYLEX l a b"),
        err("ERR min or max not valid string range item")
    );
}

/// ZREM and ZREMRANGEBY*: counts, errors, and the key disappears when empty.
fn removal_deletes_empty_keys(server: &Server) {
    let mut c = server.client();
    c.q("ZADD z 1 a 2 b 3 c 4 d 5 e");
    assert_eq!(c.q("ZREM z a nope"), int(1));
    assert_eq!(c.q("ZREM nokey a"), int(0));
    assert_eq!(c.q("ZREMRANGEBYSCORE z (2 3"), int(1));
    assert_eq!(c.q("ZREMRANGEBYRANK z 5 1"), int(0));
    assert_eq!(
        c.q("ZREMRANGEBYRANK z x 1"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.q("ZREMRANGEBYSCORE z x 1"),
        err("ERR min or max is not a float")
    );
    assert_eq!(c.q("ZRANGE z 0 -1"), Reply::bulks(["b", "d", "e"]));
    assert_eq!(c.q("ZREMRANGEBYRANK z 0 -1"), int(3));
    assert_eq!(c.q("EXISTS z"), int(0));
    c.q("ZADD l 0 a 0 b 0 c");
    assert_eq!(c.q("ZREMRANGEBYLEX l [a (c"), int(2));
    assert_eq!(
        c.q("ZREMRANGEBYLEX l x y"),
        err("ERR min or max not valid string range item")
    );
    assert_eq!(c.q("ZREM l c"), int(1));
    assert_eq!(c.q("EXISTS l"), int(0));
}

/// ZPOPMIN / ZPOPMAX: count forms and errors.
fn pops(server: &Server) {
    let mut c = server.client();
    c.q("ZADD z 1 a 2 b 3 c 4 d");
    assert_eq!(c.q("ZPOPMIN z"), Reply::bulks(["a", "1"]));
    assert_eq!(c.q("ZPOPMAX z 2"), Reply::bulks(["d", "4", "c", "3"]));
    assert_eq!(c.q("ZPOPMIN z 0"), empty());
    assert_eq!(c.q("ZPOPMIN nokey"), empty());
    let positive = "ERR value is out of range, must be positive";
    assert_eq!(c.q("ZPOPMIN z -1"), err(positive));
    assert_eq!(c.q("ZPOPMIN z x"), err(positive));
    assert_eq!(c.q("ZPOPMIN z 1 2"), err("ERR syntax error"));
    assert_eq!(c.q("ZPOPMIN z 10"), Reply::bulks(["b", "2"]));
    assert_eq!(c.q("EXISTS z"), int(0));
}

/// ZRANGESTORE: replaces the destination, deletes it on an empty result.
fn rangestore(server: &Server) {
    let mut c = server.client();
    c.q("ZADD z 1 a 2 b 3 c");
    c.q("SET d x");
    assert_eq!(c.q("ZRANGESTORE d z 0 1"), int(2));
    assert_eq!(
        c.q("ZRANGE d 0 -1 WITHSCORES"),
        Reply::bulks(["a", "1", "b", "2"])
    );
    assert_eq!(c.q("ZRANGESTORE d z (1 +inf BYSCORE LIMIT 1 1"), int(1));
    assert_eq!(c.q("ZRANGE d 0 -1"), Reply::bulks(["c"]));
    assert_eq!(
        c.q("ZRANGESTORE d z 0 -1 WITHSCORES"),
        err("ERR syntax error")
    );
    assert_eq!(c.q("ZRANGESTORE d z 5 6"), int(0));
    assert_eq!(c.q("EXISTS d"), int(0));
    assert_eq!(c.q("ZRANGESTORE d nokey 0 -1"), int(0));
}

/// OBJECT ENCODING: listpack up to the thresholds, skiplist after, one way.
fn encodings(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("CONFIG SET zset-max-listpack-entries 2"), Reply::ok());
    c.q("ZADD z 1 a 2 b");
    assert_eq!(c.q("OBJECT ENCODING z"), Reply::bulk("listpack"));
    c.q("ZADD z 3 c");
    assert_eq!(c.q("OBJECT ENCODING z"), Reply::bulk("skiplist"));
    c.q("ZREM z a b");
    assert_eq!(c.q("OBJECT ENCODING z"), Reply::bulk("skiplist"));
    // Created big: more elements than the limit in one ZADD.
    c.q("ZADD y 1 a 2 b 3 c");
    assert_eq!(c.q("OBJECT ENCODING y"), Reply::bulk("skiplist"));
    // A skiplist keeps -0.
    assert_eq!(c.q("ZADD z -0 n"), int(1));
    assert_eq!(c.q("ZSCORE z n"), Reply::bulk("-0"));
    assert_eq!(c.q("ZRANGESTORE d z 0 1"), int(2));
    assert_eq!(c.q("OBJECT ENCODING d"), Reply::bulk("listpack"));
    c.q("ZADD z 5 e");
    assert_eq!(c.q("ZRANGESTORE d z 0 2"), int(3));
    assert_eq!(c.q("OBJECT ENCODING d"), Reply::bulk("skiplist"));
    assert_eq!(c.q("CONFIG SET zset-max-listpack-entries 128"), Reply::ok());
    assert_eq!(c.q("CONFIG SET zset-max-listpack-value 4"), Reply::ok());
    c.q("ZADD v 1 abcd");
    assert_eq!(c.q("OBJECT ENCODING v"), Reply::bulk("listpack"));
    c.q("ZADD v 1 abcde");
    assert_eq!(c.q("OBJECT ENCODING v"), Reply::bulk("skiplist"));
    c.q("ZADD w 1 abcde");
    assert_eq!(c.q("OBJECT ENCODING w"), Reply::bulk("skiplist"));
    // 7.0 creates by the first member only; the member that triggers the
    // conversion goes straight into the skiplist and keeps -0.
    assert_eq!(c.q("ZADD t -0 a -0 abcde"), int(2));
    assert_eq!(c.q("ZMSCORE t a abcde"), Reply::bulks(["0", "-0"]));
    assert_eq!(c.q("ZRANGESTORE t2 t 0 -1"), int(2));
    assert_eq!(c.q("ZMSCORE t2 a abcde"), Reply::bulks(["0", "-0"]));
}

/// RESP3: doubles, nested WITHSCORES pairs, ZPOPMIN flat without a count.
fn resp3_forms(server: &Server) {
    let mut c = server.client();
    c.q("HELLO 3");
    c.q("ZADD z 1 a 2.5 b");
    let d = |s: &str| Reply::Double(s.into());
    let pair = |m: &str, s: &str| Reply::array(vec![Reply::bulk(m), d(s)]);
    assert_eq!(c.q("ZSCORE z b"), d("2.5"));
    assert_eq!(c.q("ZSCORE z nope"), Reply::Null);
    assert_eq!(c.q("ZINCRBY z 1 a"), d("2"));
    assert_eq!(c.q("ZADD z XX INCR 1 nope"), Reply::Null);
    assert_eq!(
        c.q("ZMSCORE z a nope"),
        Reply::array(vec![d("2"), Reply::Null])
    );
    assert_eq!(c.q("ZRANK z nope"), Reply::Null);
    assert_eq!(
        c.q("ZRANGE z 0 -1 WITHSCORES"),
        Reply::array(vec![pair("a", "2"), pair("b", "2.5")])
    );
    assert_eq!(
        c.q("ZRANGEBYSCORE z -inf +inf WITHSCORES"),
        Reply::array(vec![pair("a", "2"), pair("b", "2.5")])
    );
    c.q("ZADD z inf c");
    assert_eq!(
        c.q("ZPOPMAX z"),
        Reply::array(vec![Reply::bulk("c"), d("inf")])
    );
    assert_eq!(c.q("ZPOPMIN z 1"), Reply::array(vec![pair("a", "2")]));
}

/// Every command answers WRONGTYPE on a string key.
fn wrong_type(server: &Server) {
    let mut c = server.client();
    c.q("SET s x");
    let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    for cmd in [
        "ZADD s 1 a",
        "ZINCRBY s 1 a",
        "ZSCORE s a",
        "ZMSCORE s a",
        "ZCARD s",
        "ZREM s a",
        "ZRANK s a",
        "ZREVRANK s a",
        "ZCOUNT s 0 1",
        "ZLEXCOUNT s - +",
        "ZRANGE s 0 1",
        "ZREVRANGE s 0 1",
        "ZRANGEBYSCORE s 0 1",
        "ZREVRANGEBYSCORE s 0 1",
        "ZRANGEBYLEX s - +",
        "ZREVRANGEBYLEX s + -",
        "ZRANGESTORE d s 0 1",
        "ZREMRANGEBYRANK s 0 1",
        "ZREMRANGEBYSCORE s 0 1",
        "ZREMRANGEBYLEX s - +",
        "ZPOPMIN s",
        "ZPOPMAX s 0",
    ] {
        assert_eq!(c.q(cmd), wrongtype, "{cmd}");
    }
    // Argument errors come before the type check.
    assert_eq!(c.q("ZADD s x a"), err("ERR value is not a valid float"));
    assert_eq!(
        c.q("ZRANGE s 0 x"),
        err("ERR value is not an integer or out of range")
    );
}

/// ZUNION ZINTER ZDIFF (+STORE) and ZINTERCARD: weights, aggregates, the
/// inf + -inf = 0 rule, errors in Redis's order, empty results deleting.
fn set_operations(server: &Server) {
    let mut c = server.client();
    c.q("ZADD a 0 x 1 y");
    c.q("ZADD b inf x 2 z 3 y");
    c.q("ZADD c -inf x 5 q");
    c.q("SET s v");
    assert_eq!(
        c.q("ZUNION 3 a b c WITHSCORES"),
        Reply::bulks(["x", "0", "z", "2", "y", "4", "q", "5"])
    );
    assert_eq!(
        c.q("ZUNION 3 a b c WEIGHTS 1 2 3 AGGREGATE MIN WITHSCORES"),
        Reply::bulks(["x", "-inf", "y", "1", "z", "4", "q", "15"])
    );
    assert_eq!(
        c.q("ZUNION 1 a WEIGHTS -1 WITHSCORES"),
        Reply::bulks(["y", "-1", "x", "-0"])
    );
    assert_eq!(c.q("ZUNIONSTORE d 1 a WEIGHTS -1"), int(2));
    assert_eq!(c.q("ZSCORE d x"), Reply::bulk("0"));
    assert_eq!(
        c.q("ZINTER 2 b c WITHSCORES AGGREGATE MAX"),
        Reply::bulks(["x", "inf"])
    );
    assert_eq!(c.q("ZINTER 2 a b"), Reply::bulks(["y", "x"]));
    assert_eq!(c.q("ZINTERCARD 2 a b"), int(2));
    assert_eq!(c.q("ZINTERCARD 2 a b LIMIT 1"), int(1));
    assert_eq!(c.q("ZDIFF 2 b a WITHSCORES"), Reply::bulks(["z", "2"]));
    assert_eq!(c.q("ZDIFF 2 b b"), empty());
    assert_eq!(c.q("ZDIFFSTORE d 2 b c"), int(2));
    assert_eq!(
        c.q("ZRANGE d 0 -1 WITHSCORES"),
        Reply::bulks(["z", "2", "y", "3"])
    );
    assert_eq!(c.q("ZINTERSTORE d 2 a nokey"), int(0));
    assert_eq!(c.q("EXISTS d"), int(0));
    for (cmd, name) in [
        ("ZUNIONSTORE d 0 a", "zunionstore"),
        ("ZUNION -1 a", "zunion"),
        ("ZINTERCARD 0 a", "zintercard"),
        ("ZDIFF 0 a", "zdiff"),
    ] {
        assert_eq!(
            c.q(cmd),
            err(&format!(
                "ERR at least 1 input key is needed for '{name}' command"
            ))
        );
    }
    assert_eq!(c.q("ZUNION 2 a"), err("ERR syntax error"));
    assert_eq!(
        c.q("ZUNION x a"),
        err("ERR value is not an integer or out of range")
    );
    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(c.q("ZUNION 1 s junk"), err(wrongtype));
    assert_eq!(c.q("ZUNION 1 a junk"), err("ERR syntax error"));
    assert_eq!(
        c.q("ZUNION 1 a WEIGHTS x"),
        err("ERR weight value is not a float")
    );
    assert_eq!(c.q("ZUNION 1 a AGGREGATE avg"), err("ERR syntax error"));
    assert_eq!(c.q("ZDIFF 1 a WEIGHTS 1"), err("ERR syntax error"));
    assert_eq!(c.q("ZUNIONSTORE d 1 a WITHSCORES"), err("ERR syntax error"));
    assert_eq!(c.q("ZINTERCARD 1 a WITHSCORES"), err("ERR syntax error"));
    assert_eq!(
        c.q("ZINTERCARD 1 a LIMIT -1"),
        err("ERR LIMIT can't be negative")
    );
    assert_eq!(
        c.q("ZINTERCARD 1 a LIMIT x"),
        err("ERR LIMIT can't be negative")
    );
    c.q("HELLO 3");
    assert_eq!(
        c.q("ZINTER 1 a WITHSCORES"),
        Reply::array(vec![
            Reply::array(vec![Reply::bulk("x"), Reply::Double("0".into())]),
            Reply::array(vec![Reply::bulk("y"), Reply::Double("1".into())]),
        ])
    );
}

/// ZMPOP: the first non-empty key, nested pairs in RESP2 too, errors.
fn zmpop(server: &Server) {
    let mut c = server.client();
    c.q("ZADD m 1 a 2 b 3 c");
    c.q("SET s v");
    let pair = |m: &str, s: &str| Reply::bulks([m, s]);
    assert_eq!(
        c.q("ZMPOP 2 nokey m MAX"),
        Reply::array(vec![Reply::bulk("m"), Reply::array(vec![pair("c", "3")])])
    );
    assert_eq!(
        c.q("ZMPOP 1 m MIN COUNT 9"),
        Reply::array(vec![
            Reply::bulk("m"),
            Reply::array(vec![pair("a", "1"), pair("b", "2")])
        ])
    );
    assert_eq!(c.q("EXISTS m"), int(0));
    assert_eq!(c.q("ZMPOP 1 m MIN"), Reply::Array(None));
    let numkeys = err("ERR numkeys should be greater than 0");
    assert_eq!(c.q("ZMPOP 0 m MIN"), numkeys);
    assert_eq!(c.q("ZMPOP x m MIN"), numkeys);
    assert_eq!(c.q("ZMPOP 2 m MIN"), err("ERR syntax error"));
    assert_eq!(c.q("ZMPOP 1 m MID"), err("ERR syntax error"));
    let count = err("ERR count should be greater than 0");
    assert_eq!(c.q("ZMPOP 1 m MIN COUNT 0"), count);
    assert_eq!(c.q("ZMPOP 1 m MIN COUNT x"), count);
    assert_eq!(
        c.q("ZMPOP 1 m MIN COUNT 1 COUNT 1"),
        err("ERR syntax error")
    );
    assert_eq!(
        c.q("ZMPOP 2 nokey s MIN"),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    c.q("HELLO 3");
    assert_eq!(c.q("ZMPOP 1 m MIN"), Reply::Null);
}

/// ZRANDMEMBER: random picks checked by property, errors exactly.
fn zrandmember(server: &Server) {
    let mut c = server.client();
    c.q("ZADD r 1 a 2 b 3 c");
    let members = ["a", "b", "c"];
    let one = c.q("ZRANDMEMBER r").as_str();
    assert!(members.contains(&one.as_str()));
    assert_eq!(c.q("ZRANDMEMBER nokey"), Reply::nil());
    assert_eq!(c.q("ZRANDMEMBER nokey 3"), empty());
    assert_eq!(c.q("ZRANDMEMBER r 0"), empty());
    let mut all: Vec<String> = c
        .q("ZRANDMEMBER r 10")
        .as_array()
        .iter()
        .map(Reply::as_str)
        .collect();
    all.sort();
    assert_eq!(all, members);
    let two = c.q("ZRANDMEMBER r 2 WITHSCORES");
    let two = two.as_array();
    assert_eq!(two.len(), 4);
    assert_ne!(two[0], two[2]);
    for pair in two.chunks(2) {
        let expected = match pair[0].as_str().as_str() {
            "a" => "1",
            "b" => "2",
            _ => "3",
        };
        assert_eq!(pair[1].as_str(), expected);
    }
    assert_eq!(c.q("ZRANDMEMBER r -7").as_array().len(), 7);
    assert_eq!(
        c.q("ZRANDMEMBER r x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.q("ZRANDMEMBER r 1 junk"), err("ERR syntax error"));
    assert_eq!(c.q("ZRANDMEMBER r 1 WITHSCORES x"), err("ERR syntax error"));
    assert_eq!(
        c.q("ZRANDMEMBER r -9223372036854775808"),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        c.q("ZRANDMEMBER r -9223372036854775807 WITHSCORES"),
        err("ERR value is out of range")
    );
    c.q("HELLO 3");
    let nested = c.q("ZRANDMEMBER r -2 WITHSCORES");
    assert_eq!(nested.as_array().len(), 2);
    assert_eq!(nested.as_array()[0].as_array().len(), 2);
}

/// ZSCAN: a listpack comes back whole with its stored score text.
fn zscan(server: &Server) {
    let mut c = server.client();
    c.q("ZADD a 1 x 1.5 v -0 w 1e17 u");
    assert_eq!(
        c.q("ZSCAN a 0"),
        Reply::array(vec![
            Reply::bulk("0"),
            Reply::bulks(["w", "0", "x", "1", "v", "1.5", "u", "100000000000000000"])
        ])
    );
    assert_eq!(
        c.q("ZSCAN a 0 MATCH *x* COUNT 1"),
        Reply::array(vec![Reply::bulk("0"), Reply::bulks(["x", "1"])])
    );
    let empty_scan = Reply::array(vec![Reply::bulk("0"), empty()]);
    assert_eq!(c.q("ZSCAN nokey 0"), empty_scan);
    assert_eq!(c.q("ZSCAN a x"), err("ERR invalid cursor"));
    assert_eq!(c.q("ZSCAN a 0 COUNT 0"), err("ERR syntax error"));
    assert_eq!(
        c.q("ZSCAN a 0 COUNT x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.q("ZSCAN a 0 TYPE zset"), err("ERR syntax error"));
    c.q("SET s v");
    assert_eq!(
        c.q("ZSCAN s 0"),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
}
