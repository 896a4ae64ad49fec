//! Integration tests for the list commands: exact replies, as redis-server
//! 7.0.15 sends them.
//!
//! Every test runs against sluice with `--server-threads 1` and `2`
//! (`<test>::threads_1`, `<test>::threads_2`) and, when `redis-server` is on
//! PATH, against redis-server itself (`<test>::redis`), which proves the
//! expected replies are Redis's and not just ours. No test sleeps.
#[macro_use]
mod common;

use common::{Client, Reply, Server};

reference_tests!(
    push_and_pop,
    pop_count_and_null_forms,
    range_index_set,
    rem_trim_insert,
    lpos_options,
    moves_and_rotation,
    lmpop_forms,
    wrong_type_everywhere,
    encoding_and_big_lists,
    watch_sees_changes_only,
);

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

fn err(text: &str) -> Reply {
    Reply::err(text)
}

fn int(n: i64) -> Reply {
    Reply::Int(n)
}

fn bulks(items: &[&str]) -> Reply {
    Reply::bulks(items.iter())
}

/// The exact bytes of the reply to `args`, as text.
fn raw(c: &mut Client, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.send(&args);
    String::from_utf8_lossy(&c.read_raw_reply_bytes()).into_owned()
}

/// 1. LPUSH/RPUSH return the new length and keep argument order.
/// 2. LPUSHX/RPUSHX only touch existing lists.
/// 3. LPOP/RPOP without count; popping the last element deletes the key.
fn push_and_pop(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("LPUSH l a b c"), int(3));
    assert_eq!(c.q("RPUSH l d 1 -2"), int(6));
    assert_eq!(
        c.q("LRANGE l 0 -1"),
        bulks(&["c", "b", "a", "d", "1", "-2"])
    );
    assert_eq!(c.q("LPUSHX missing a"), int(0));
    assert_eq!(c.q("RPUSHX missing a b"), int(0));
    assert_eq!(c.q("EXISTS missing"), int(0));
    assert_eq!(c.q("LPUSHX l x y"), int(8));
    assert_eq!(c.q("RPUSHX l z"), int(9));
    assert_eq!(c.q("LPOP l"), Reply::bulk("y"));
    assert_eq!(c.q("RPOP l"), Reply::bulk("z"));
    assert_eq!(c.q("RPOP l"), Reply::bulk("-2"));
    assert_eq!(c.q("LLEN l"), int(6));
    assert_eq!(c.q("LPOP missing"), Reply::nil());
    assert_eq!(c.q("RPOP missing"), Reply::nil());
    // Binary-safe elements, empty ones and non-canonical integers.
    assert_eq!(
        c.cmd(&[b"RPUSH", b"bin", b"a\x00b\r\n", b"", b"007", b"+1"]),
        int(4)
    );
    assert_eq!(
        c.q("LRANGE bin 0 -1"),
        Reply::bulks([&b"a\x00b\r\n"[..], b"", b"007", b"+1"])
    );
    assert_eq!(c.q("RPUSH one x"), int(1));
    assert_eq!(c.q("LPOP one"), Reply::bulk("x"));
    assert_eq!(c.q("EXISTS one"), int(0));
    assert_eq!(c.q("TYPE l"), Reply::simple("list"));
    assert_eq!(
        c.q("LPUSH l"),
        err("ERR wrong number of arguments for 'lpush' command")
    );
}

/// LPOP/RPOP with a count (7.0 rules) and the RESP2/RESP3 null forms:
/// 1. Count replies an array (RPOP from the tail, in pop order); count 0 on
///    an existing list is an empty array; a missing key is a null array.
/// 2. Bad counts and too many arguments.
/// 3. The same in RESP3: nulls become `_`.
fn pop_count_and_null_forms(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("RPUSH l a b c d e"), int(5));
    assert_eq!(c.q("LPOP l 2"), bulks(&["a", "b"]));
    assert_eq!(c.q("RPOP l 2"), bulks(&["e", "d"]));
    assert_eq!(c.q("LPOP l 0"), Reply::array(vec![]));
    assert_eq!(c.q("RPOP l 100"), bulks(&["c"]));
    assert_eq!(c.q("EXISTS l"), int(0));
    let out_of_range = "ERR value is out of range, must be positive";
    assert_eq!(c.q("LPOP l -1"), err(out_of_range));
    assert_eq!(c.q("LPOP l abc"), err(out_of_range));
    assert_eq!(c.q("RPOP l 1.5"), err(out_of_range));
    assert_eq!(
        c.q("LPOP l 1 2"),
        err("ERR wrong number of arguments for 'lpop' command")
    );
    assert_eq!(
        c.q("RPOP l 1 2"),
        err("ERR wrong number of arguments for 'rpop' command")
    );
    assert_eq!(raw(&mut c, &["LPOP", "missing"]), "$-1\r\n");
    assert_eq!(raw(&mut c, &["LPOP", "missing", "0"]), "*-1\r\n");
    assert_eq!(raw(&mut c, &["RPOP", "missing", "3"]), "*-1\r\n");
    assert_eq!(raw(&mut c, &["LINDEX", "missing", "0"]), "$-1\r\n");
    assert_eq!(raw(&mut c, &["LPOS", "missing", "a"]), "$-1\r\n");
    assert_eq!(raw(&mut c, &["LMPOP", "1", "missing", "LEFT"]), "*-1\r\n");
    assert_eq!(raw(&mut c, &["RPOPLPUSH", "missing", "x"]), "$-1\r\n");

    assert!(matches!(c.q("HELLO 3"), Reply::Map(_)));
    assert_eq!(raw(&mut c, &["LPOP", "missing"]), "_\r\n");
    assert_eq!(raw(&mut c, &["LPOP", "missing", "0"]), "_\r\n");
    assert_eq!(raw(&mut c, &["LINDEX", "missing", "0"]), "_\r\n");
    assert_eq!(raw(&mut c, &["LPOS", "missing", "a"]), "_\r\n");
    assert_eq!(
        raw(&mut c, &["LPOS", "missing", "a", "COUNT", "0"]),
        "*0\r\n"
    );
    assert_eq!(raw(&mut c, &["LMPOP", "1", "missing", "LEFT"]), "_\r\n");
    assert_eq!(
        raw(&mut c, &["LMOVE", "missing", "x", "LEFT", "LEFT"]),
        "_\r\n"
    );
    assert_eq!(raw(&mut c, &["RPUSH", "l", "a", "12"]), ":2\r\n");
    assert_eq!(raw(&mut c, &["LPOP", "l", "0"]), "*0\r\n");
    assert_eq!(
        raw(&mut c, &["LRANGE", "l", "0", "-1"]),
        "*2\r\n$1\r\na\r\n$2\r\n12\r\n"
    );
    assert_eq!(
        raw(&mut c, &["LMPOP", "1", "l", "RIGHT", "COUNT", "5"]),
        "*2\r\n$1\r\nl\r\n*2\r\n$2\r\n12\r\n$1\r\na\r\n"
    );
}

/// LRANGE, LINDEX, LSET and LLEN with negative and out-of-range indexes,
/// and the order of their checks (LRANGE parses indexes before the key,
/// LINDEX and LSET after).
fn range_index_set(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("RPUSH l a b c d"), int(4));
    assert_eq!(c.q("LRANGE l 1 2"), bulks(&["b", "c"]));
    assert_eq!(c.q("LRANGE l -2 -1"), bulks(&["c", "d"]));
    assert_eq!(c.q("LRANGE l -100 100"), bulks(&["a", "b", "c", "d"]));
    assert_eq!(c.q("LRANGE l 3 1"), Reply::array(vec![]));
    assert_eq!(c.q("LRANGE l 4 10"), Reply::array(vec![]));
    assert_eq!(
        c.q("LRANGE l -9223372036854775808 9223372036854775807"),
        bulks(&["a", "b", "c", "d"])
    );
    assert_eq!(c.q("LRANGE missing 0 -1"), Reply::array(vec![]));
    assert_eq!(c.q("LRANGE missing x 1"), err(NOT_INT));
    assert_eq!(c.q("LRANGE l 0 1.0"), err(NOT_INT));
    assert_eq!(c.q("LINDEX l 0"), Reply::bulk("a"));
    assert_eq!(c.q("LINDEX l -1"), Reply::bulk("d"));
    assert_eq!(c.q("LINDEX l -5"), Reply::nil());
    assert_eq!(c.q("LINDEX l 4"), Reply::nil());
    assert_eq!(c.q("LINDEX l x"), err(NOT_INT));
    assert_eq!(c.q("LINDEX missing x"), Reply::nil());
    assert_eq!(c.q("LSET l 1 B"), Reply::ok());
    assert_eq!(c.q("LSET l -1 12345"), Reply::ok());
    assert_eq!(c.q("LRANGE l 0 -1"), bulks(&["a", "B", "c", "12345"]));
    assert_eq!(c.q("LSET l 4 x"), err("ERR index out of range"));
    assert_eq!(c.q("LSET l -5 x"), err("ERR index out of range"));
    assert_eq!(c.q("LSET l x x"), err(NOT_INT));
    assert_eq!(c.q("LSET missing 0 x"), err("ERR no such key"));
    assert_eq!(c.q("LSET missing x x"), err("ERR no such key"));
    assert_eq!(c.q("LLEN l"), int(4));
    assert_eq!(c.q("LLEN missing"), int(0));
}

/// LREM (count sign picks the direction), LTRIM (deletes the key when the
/// range is empty), LINSERT (pivot search, -1 and 0 replies).
fn rem_trim_insert(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("RPUSH l a b a c a 1 01 1"), int(8));
    assert_eq!(c.q("LREM l 1 a"), int(1));
    assert_eq!(c.q("LREM l -1 a"), int(1));
    assert_eq!(
        c.q("LRANGE l 0 -1"),
        bulks(&["b", "a", "c", "1", "01", "1"])
    );
    assert_eq!(c.q("LREM l 0 1"), int(2));
    assert_eq!(c.q("LREM l 0 zz"), int(0));
    assert_eq!(c.q("LRANGE l 0 -1"), bulks(&["b", "a", "c", "01"]));
    assert_eq!(c.q("LREM l x a"), err(NOT_INT));
    assert_eq!(c.q("LREM missing x a"), err(NOT_INT));
    assert_eq!(c.q("LREM missing 0 a"), int(0));
    assert_eq!(c.q("LREM l -9223372036854775808 a"), int(1));
    assert_eq!(c.q("LINSERT l BEFORE c x"), int(4));
    assert_eq!(c.q("LINSERT l after c y"), int(5));
    assert_eq!(c.q("LINSERT l AFTER 01 7"), int(6));
    assert_eq!(c.q("LINSERT l before zz y"), int(-1));
    assert_eq!(c.q("LINSERT l middle c y"), err(SYNTAX));
    assert_eq!(c.q("LINSERT missing before c y"), int(0));
    assert_eq!(c.q("LINSERT missing middle c y"), err(SYNTAX));
    assert_eq!(
        c.q("LRANGE l 0 -1"),
        bulks(&["b", "x", "c", "y", "01", "7"])
    );
    assert_eq!(c.q("LTRIM l 1 -2"), Reply::ok());
    assert_eq!(c.q("LRANGE l 0 -1"), bulks(&["x", "c", "y", "01"]));
    assert_eq!(c.q("LTRIM l -2 100"), Reply::ok());
    assert_eq!(c.q("LRANGE l 0 -1"), bulks(&["y", "01"]));
    assert_eq!(c.q("LTRIM l x 1"), err(NOT_INT));
    assert_eq!(c.q("LTRIM missing x 1"), err(NOT_INT));
    assert_eq!(c.q("LTRIM missing 0 1"), Reply::ok());
    assert_eq!(c.q("LTRIM l 1 0"), Reply::ok());
    assert_eq!(c.q("EXISTS l"), int(0));
    assert_eq!(c.q("RPUSH l a a"), int(2));
    assert_eq!(c.q("LREM l 0 a"), int(2));
    assert_eq!(c.q("EXISTS l"), int(0));
}

/// LPOS: RANK, COUNT and MAXLEN, their errors, and Redis 7.0.15's handling
/// of RANK -9223372036854775808 (accepted: every match from the tail).
fn lpos_options(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("RPUSH l a b c a b c a 1"), int(8));
    assert_eq!(c.q("LPOS l a"), int(0));
    assert_eq!(c.q("LPOS l 1"), int(7));
    assert_eq!(c.q("LPOS l zz"), Reply::nil());
    assert_eq!(c.q("LPOS l a RANK 2"), int(3));
    assert_eq!(c.q("LPOS l a RANK -1"), int(6));
    assert_eq!(c.q("LPOS l a RANK -3"), int(0));
    assert_eq!(c.q("LPOS l a RANK 4"), Reply::nil());
    assert_eq!(
        c.q("LPOS l a COUNT 0"),
        Reply::array(vec![int(0), int(3), int(6)])
    );
    assert_eq!(c.q("LPOS l a COUNT 2"), Reply::array(vec![int(0), int(3)]));
    assert_eq!(
        c.q("LPOS l a COUNT 2 RANK -1"),
        Reply::array(vec![int(6), int(3)])
    );
    assert_eq!(
        c.q("LPOS l a COUNT 0 MAXLEN 4"),
        Reply::array(vec![int(0), int(3)])
    );
    assert_eq!(c.q("LPOS l a RANK 2 MAXLEN 3"), Reply::nil());
    assert_eq!(c.q("LPOS l zz COUNT 1"), Reply::array(vec![]));
    assert_eq!(
        c.q("LPOS l a RANK 2 COUNT 1 RANK 1"),
        Reply::array(vec![int(0)])
    );
    assert_eq!(c.q("LPOS l a RANK -9223372036854775808"), int(6));
    assert_eq!(
        c.q("LPOS l a RANK -9223372036854775808 COUNT 1"),
        Reply::array(vec![int(6), int(3), int(0)])
    );
    assert_eq!(c.q("LPOS l a RANK 9223372036854775807"), Reply::nil());
    let rank_zero = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list";
    assert_eq!(c.q("LPOS l a RANK 0"), err(rank_zero));
    assert_eq!(c.q("LPOS l a RANK x"), err(NOT_INT));
    assert_eq!(c.q("LPOS l a COUNT -1"), err("ERR COUNT can't be negative"));
    assert_eq!(c.q("LPOS l a COUNT x"), err("ERR COUNT can't be negative"));
    assert_eq!(
        c.q("LPOS l a MAXLEN -1"),
        err("ERR MAXLEN can't be negative")
    );
    assert_eq!(c.q("LPOS l a MAXLEN"), err(SYNTAX));
    assert_eq!(c.q("LPOS l a FOO 1"), err(SYNTAX));
    assert_eq!(c.q("LPOS missing a RANK 0"), err(rank_zero));
    assert_eq!(c.q("LPOS missing a COUNT 3"), Reply::array(vec![]));
}

/// RPOPLPUSH and LMOVE: all four directions, rotation with source ==
/// destination, creating the destination, deleting an emptied source, and
/// WRONGTYPE on the destination before anything is popped.
fn moves_and_rotation(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("RPUSH r 1 2 3"), int(3));
    assert_eq!(c.q("RPOPLPUSH r r"), Reply::bulk("3"));
    assert_eq!(c.q("LRANGE r 0 -1"), bulks(&["3", "1", "2"]));
    assert_eq!(c.q("LMOVE r r LEFT RIGHT"), Reply::bulk("3"));
    assert_eq!(c.q("LMOVE r r left left"), Reply::bulk("1"));
    assert_eq!(c.q("LRANGE r 0 -1"), bulks(&["1", "2", "3"]));
    assert_eq!(c.q("LMOVE r d RIGHT RIGHT"), Reply::bulk("3"));
    assert_eq!(c.q("LMOVE r d LEFT LEFT"), Reply::bulk("1"));
    assert_eq!(c.q("LMOVE r d RIGHT LEFT"), Reply::bulk("2"));
    assert_eq!(c.q("EXISTS r"), int(0));
    assert_eq!(c.q("LRANGE d 0 -1"), bulks(&["2", "1", "3"]));
    assert_eq!(c.q("RPUSH one x"), int(1));
    assert_eq!(c.q("RPOPLPUSH one one"), Reply::bulk("x"));
    assert_eq!(c.q("LRANGE one 0 -1"), bulks(&["x"]));
    assert_eq!(c.q("SET s v"), Reply::ok());
    assert_eq!(c.q("RPOPLPUSH d s"), err(WRONGTYPE));
    assert_eq!(c.q("LMOVE d s LEFT LEFT"), err(WRONGTYPE));
    assert_eq!(c.q("LRANGE d 0 -1"), bulks(&["2", "1", "3"]));
    assert_eq!(c.q("RPOPLPUSH s d"), err(WRONGTYPE));
    assert_eq!(c.q("RPOPLPUSH missing s"), Reply::nil());
    assert_eq!(c.q("LMOVE missing s LEFT LEFT"), Reply::nil());
    assert_eq!(c.q("LMOVE d s UP LEFT"), err(SYNTAX));
    assert_eq!(c.q("LMOVE missing d LEFT DOWN"), err(SYNTAX));
    assert_eq!(c.q("EXISTS missing"), int(0));
}

/// LMPOP: numkeys, direction and COUNT parsing with their errors; the
/// first non-empty list wins; WRONGTYPE stops the scan.
fn lmpop_forms(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("RPUSH b 1 2 3"), int(3));
    assert_eq!(c.q("SET s v"), Reply::ok());
    assert_eq!(
        c.q("LMPOP 2 a b LEFT"),
        Reply::array(vec![Reply::bulk("b"), bulks(&["1"])])
    );
    assert_eq!(
        c.q("LMPOP 2 a b right COUNT 10"),
        Reply::array(vec![Reply::bulk("b"), bulks(&["3", "2"])])
    );
    assert_eq!(c.q("EXISTS b"), int(0));
    assert_eq!(c.q("LMPOP 2 a b LEFT"), Reply::Array(None));
    assert_eq!(c.q("LMPOP 2 a s LEFT"), err(WRONGTYPE));
    assert_eq!(c.q("RPUSH c x"), int(1));
    assert_eq!(
        c.q("LMPOP 2 c s LEFT"),
        Reply::array(vec![Reply::bulk("c"), bulks(&["x"])])
    );
    let numkeys = "ERR numkeys should be greater than 0";
    let count = "ERR count should be greater than 0";
    assert_eq!(c.q("LMPOP 0 a LEFT"), err(numkeys));
    assert_eq!(c.q("LMPOP -1 a LEFT"), err(numkeys));
    assert_eq!(c.q("LMPOP x a LEFT"), err(numkeys));
    assert_eq!(c.q("LMPOP 2 a LEFT"), err(SYNTAX));
    assert_eq!(c.q("LMPOP 9223372036854775807 a LEFT"), err(SYNTAX));
    assert_eq!(c.q("LMPOP 1 a MIDDLE"), err(SYNTAX));
    assert_eq!(c.q("LMPOP 1 a LEFT COUNT 0"), err(count));
    assert_eq!(c.q("LMPOP 1 a LEFT COUNT x"), err(count));
    assert_eq!(c.q("LMPOP 1 a LEFT COUNT 1 COUNT 1"), err(SYNTAX));
    assert_eq!(c.q("LMPOP 1 a LEFT COUNT"), err(SYNTAX));
    assert_eq!(c.q("LMPOP 1 a LEFT foo"), err(SYNTAX));
    assert_eq!(
        c.q("LMPOP 1 a"),
        err("ERR wrong number of arguments for 'lmpop' command")
    );
}

/// Every list command on a string key answers WRONGTYPE (after its own
/// argument checks) and leaves the key alone.
fn wrong_type_everywhere(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("SET s v"), Reply::ok());
    for cmd in [
        "LPUSH s a",
        "RPUSH s a",
        "LPUSHX s a",
        "RPUSHX s a",
        "LPOP s",
        "RPOP s 0",
        "LLEN s",
        "LRANGE s 0 -1",
        "LINDEX s x",
        "LSET s x y",
        "LREM s 0 a",
        "LTRIM s 0 1",
        "LINSERT s before a b",
        "LPOS s a",
        "RPOPLPUSH s d",
        "LMOVE s d LEFT LEFT",
        "LMPOP 1 s LEFT",
    ] {
        assert_eq!(c.q(cmd), err(WRONGTYPE), "{cmd}");
    }
    assert_eq!(c.q("GET s"), Reply::bulk("v"));
    assert_eq!(c.q("RPUSH l a"), int(1));
    assert_eq!(c.q("GET l"), err(WRONGTYPE));
}

/// OBJECT ENCODING is `quicklist` for every list in 7.0 (listpack lists
/// came in 7.2), whatever list-max-listpack-size says; long lists, long
/// and binary elements survive node boundaries at several node sizes.
fn encoding_and_big_lists(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("RPUSH l a"), int(1));
    assert_eq!(c.q("OBJECT ENCODING l"), Reply::bulk("quicklist"));
    for fill in ["2", "-1", "-5", "1"] {
        assert_eq!(
            c.cmd_str(&["CONFIG", "SET", "list-max-listpack-size", fill]),
            Reply::ok()
        );
        let key = format!("big{fill}");
        let big = "x".repeat(20_000);
        let mut model: Vec<String> = Vec::new();
        for i in 0..300 {
            let v = match i % 4 {
                0 => i.to_string(),
                1 => format!("v{i}"),
                2 => format!("{big}{i}"),
                _ => (-(i as i64) * 1_000_000_007).to_string(),
            };
            let cmd = if i % 3 == 0 { "LPUSH" } else { "RPUSH" };
            c.cmd_str(&[cmd, &key, &v]);
            if i % 3 == 0 {
                model.insert(0, v);
            } else {
                model.push(v);
            }
        }
        assert_eq!(
            c.cmd_str(&["OBJECT", "ENCODING", &key]),
            Reply::bulk("quicklist")
        );
        assert_eq!(
            c.cmd_str(&["LRANGE", &key, "0", "-1"]),
            bulks(&model.iter().map(String::as_str).collect::<Vec<_>>())
        );
        assert_eq!(
            c.cmd_str(&["LINDEX", &key, "150"]),
            Reply::bulk(&model[150])
        );
        assert_eq!(c.cmd_str(&["LSET", &key, "100", &big]), Reply::ok());
        model[100] = big.clone();
        assert_eq!(
            c.cmd_str(&["LINSERT", &key, "AFTER", &model[200], "in"]),
            int(301)
        );
        model.insert(201, "in".into());
        assert_eq!(c.cmd_str(&["LTRIM", &key, "5", "-6"]), Reply::ok());
        model = model[5..model.len() - 5].to_vec();
        assert_eq!(
            c.cmd_str(&["LRANGE", &key, "0", "-1"]),
            bulks(&model.iter().map(String::as_str).collect::<Vec<_>>())
        );
        assert_eq!(
            c.cmd_str(&["LRANGE", &key, "-3", "-1"]),
            bulks(
                &model[model.len() - 3..]
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
            )
        );
        assert_eq!(c.cmd_str(&["DEL", &key]), int(1));
    }
}

/// WATCH sees exactly the changes Redis signals: a no-op LPUSHX, LREM
/// without matches or LINSERT without pivot leaves EXEC alone; LTRIM on an
/// existing list signals even when it trims nothing.
fn watch_sees_changes_only(server: &Server) {
    let mut c = server.client();
    let mut other = server.client();
    assert_eq!(c.q("RPUSH l a b"), int(2));
    let exec_after = |c: &mut Client, other: &mut Client, cmd: &str| {
        assert_eq!(c.q("WATCH l missing"), Reply::ok());
        other.q(cmd);
        assert_eq!(c.q("MULTI"), Reply::ok());
        assert_eq!(c.q("PING"), Reply::simple("QUEUED"));
        c.q("EXEC")
    };
    let ran = Reply::array(vec![Reply::simple("PONG")]);
    for noop in [
        "LPUSHX missing a",
        "LREM l 0 zz",
        "LINSERT l BEFORE zz x",
        "LSET l 5 x",
        "LPOP missing",
        "RPOPLPUSH missing l",
        "LMPOP 1 missing LEFT",
        "LRANGE l 0 -1",
    ] {
        assert_eq!(exec_after(&mut c, &mut other, noop), ran, "{noop}");
    }
    for change in [
        "LTRIM l 0 -1",
        "RPUSH l c",
        "LSET l 0 x",
        "RPOPLPUSH l l",
        "LREM l 1 x",
        "LPUSHX l z",
        "RPOPLPUSH l missing",
    ] {
        assert_eq!(
            exec_after(&mut c, &mut other, change),
            Reply::Array(None),
            "{change}"
        );
    }
}
