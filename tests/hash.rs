//! Exact-reply tests for the hash commands.
//!
//! Each test runs against sluice-server with server-threads 1 and 2, and
//! also against the real redis-server when it is installed (mandatory in
//! CI), so every expected reply written here is checked to be Redis's.
#[macro_use]
mod common;

use common::{Client, Reply, Server};

reference_tests!(
    set_get_and_order,
    arity_and_wrongtype,
    delete_when_empty,
    incr_commands,
    encodings,
    resp3_forms,
    randfield,
    scan,
);

fn err(text: &str) -> Reply {
    Reply::err(text)
}

fn int(n: i64) -> Reply {
    Reply::Int(n)
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// HSET/HMSET/HSETNX/HGET/HMGET/HLEN/HEXISTS/HSTRLEN and the listpack's
/// insertion order in HGETALL/HKEYS/HVALS.
/// 1. HSET counts only new fields; a replaced value keeps its place.
/// 2. Missing keys and fields answer nil/0/empty.
fn set_get_and_order(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("HSET h b 1 a 2 c 3"), int(3));
    assert_eq!(c.q("HSET h a 20 d 4"), int(1));
    assert_eq!(c.q("HMSET h e 5"), Reply::ok());
    assert_eq!(c.q("HSETNX h a 9"), int(0));
    assert_eq!(c.q("HSETNX h z 26"), int(1));
    assert_eq!(
        c.q("HGETALL h"),
        Reply::bulks(["b", "1", "a", "20", "c", "3", "d", "4", "e", "5", "z", "26"])
    );
    assert_eq!(c.q("HKEYS h"), Reply::bulks(["b", "a", "c", "d", "e", "z"]));
    assert_eq!(
        c.q("HVALS h"),
        Reply::bulks(["1", "20", "3", "4", "5", "26"])
    );
    assert_eq!(c.q("HGET h a"), Reply::bulk("20"));
    assert_eq!(c.q("HGET h nope"), Reply::nil());
    assert_eq!(c.q("HGET missing a"), Reply::nil());
    assert_eq!(
        c.q("HMGET h a nope z"),
        Reply::array(vec![Reply::bulk("20"), Reply::nil(), Reply::bulk("26")])
    );
    assert_eq!(
        c.q("HMGET missing a b"),
        Reply::array(vec![Reply::nil(), Reply::nil()])
    );
    assert_eq!(c.q("HLEN h"), int(6));
    assert_eq!(c.q("HLEN missing"), int(0));
    assert_eq!(c.q("HEXISTS h z"), int(1));
    assert_eq!(c.q("HEXISTS h y"), int(0));
    assert_eq!(c.q("HEXISTS missing y"), int(0));
    assert_eq!(c.q("HSTRLEN h z"), int(2));
    assert_eq!(c.q("HSTRLEN h y"), int(0));
    assert_eq!(c.q("HSTRLEN missing y"), int(0));
    assert_eq!(c.q("HGETALL missing"), Reply::array(vec![]));
    assert_eq!(c.q("HKEYS missing"), Reply::array(vec![]));
    assert_eq!(c.q("HVALS missing"), Reply::array(vec![]));
    assert_eq!(c.q("HSETNX new f v"), int(1));
    assert_eq!(c.q("TYPE new"), Reply::simple("hash"));
    // Binary-safe fields and values, the empty string included.
    assert_eq!(c.cmd(&[b"HSET", b"bin", b"", b"\x00\r\n"]), int(1));
    assert_eq!(c.cmd(&[b"HGET", b"bin", b""]), Reply::bulk("\x00\r\n"));
}

/// Odd HSET/HMSET argument counts are arity errors (checked before the
/// type); every command answers WRONGTYPE on a string key.
fn arity_and_wrongtype(server: &Server) {
    let mut c = server.client();
    let arity = |name: &str| {
        err(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ))
    };
    assert_eq!(c.q("HSET h a"), arity("hset"));
    assert_eq!(c.q("HSET h a 1 b"), arity("hset"));
    assert_eq!(c.q("HMSET h a 1 b"), arity("hmset"));
    assert_eq!(c.q("HGET h"), arity("hget"));
    assert_eq!(c.q("HSCAN h"), arity("hscan"));
    assert_eq!(c.q("HRANDFIELD"), arity("hrandfield"));
    assert_eq!(c.q("HINCRBYFLOAT h f"), arity("hincrbyfloat"));
    assert_eq!(c.q("EXISTS h"), int(0));
    assert_eq!(c.q("SET s v"), Reply::ok());
    assert_eq!(c.q("HSET s a 1 b"), arity("hset"));
    for cmd in [
        "HSET s a 1",
        "HMSET s a 1",
        "HSETNX s a 1",
        "HGET s a",
        "HMGET s a",
        "HDEL s a",
        "HLEN s",
        "HEXISTS s a",
        "HSTRLEN s a",
        "HGETALL s",
        "HKEYS s",
        "HVALS s",
        "HINCRBY s a 1",
        "HINCRBYFLOAT s a 1",
        "HRANDFIELD s",
        "HRANDFIELD s 2",
        "HSCAN s 0",
        "HSCAN s 0 COUNT 0",
    ] {
        assert_eq!(c.q(cmd), err(WRONGTYPE), "{cmd}");
    }
    // Argument errors that come before the lookup win over WRONGTYPE.
    assert_eq!(
        c.q("HINCRBY s a x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.q("HINCRBYFLOAT s a x"),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        c.q("HRANDFIELD s x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.q("HSCAN s x"), err("ERR invalid cursor"));
    assert_eq!(c.q("GET s"), Reply::bulk("v"));
}

/// HDEL counts removed fields; the last one deletes the key.
fn delete_when_empty(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("HDEL missing a"), int(0));
    assert_eq!(c.q("HSET h a 1 b 2 c 3"), int(3));
    assert_eq!(c.q("HDEL h a a nope"), int(1));
    assert_eq!(c.q("HKEYS h"), Reply::bulks(["b", "c"]));
    assert_eq!(c.q("HDEL h b c d"), int(2));
    assert_eq!(c.q("EXISTS h"), int(0));
    assert_eq!(c.q("HLEN h"), int(0));
    // A hashtable-encoded hash is deleted the same way.
    assert_eq!(c.q("CONFIG SET hash-max-listpack-entries 1"), Reply::ok());
    assert_eq!(c.q("HSET t a 1 b 2"), int(2));
    assert_eq!(c.q("OBJECT ENCODING t"), Reply::bulk("hashtable"));
    assert_eq!(c.q("HDEL t a b"), int(2));
    assert_eq!(c.q("EXISTS t"), int(0));
}

/// HINCRBY and HINCRBYFLOAT: results, Redis's error texts and their order.
fn incr_commands(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("HINCRBY h n 5"), int(5));
    assert_eq!(c.q("HINCRBY h n -12"), int(-7));
    assert_eq!(c.q("HGET h n"), Reply::bulk("-7"));
    let not_int = err("ERR value is not an integer or out of range");
    assert_eq!(c.q("HINCRBY h n 1.5"), not_int);
    assert_eq!(c.q("HINCRBY missing n x"), not_int);
    assert_eq!(c.q("EXISTS missing"), int(0));
    assert_eq!(c.q("HSET h s abc sp 1 max 9223372036854775800"), int(3));
    assert_eq!(
        c.q("HINCRBY h s 1"),
        err("ERR hash value is not an integer")
    );
    assert_eq!(c.cmd_str(&["HSET", "h", "sp", " 1"]), int(0));
    assert_eq!(
        c.q("HINCRBY h sp 1"),
        err("ERR hash value is not an integer")
    );
    let overflow = err("ERR increment or decrement would overflow");
    assert_eq!(c.q("HINCRBY h max 8"), overflow);
    assert_eq!(c.q("HINCRBY h max 7"), int(i64::MAX));
    assert_eq!(c.q("HINCRBY h n -9223372036854775808"), overflow);

    assert_eq!(c.q("HINCRBYFLOAT h f 1.5"), Reply::bulk("1.5"));
    assert_eq!(c.q("HINCRBYFLOAT h f 0.1"), Reply::bulk("1.6"));
    assert_eq!(
        c.q("HINCRBYFLOAT h f -3e3"),
        Reply::bulk("-2998.39999999999999991")
    );
    assert_eq!(c.q("HINCRBYFLOAT h n 7"), Reply::bulk("0"));
    assert_eq!(
        c.q("HINCRBYFLOAT h f x"),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        c.q("HINCRBYFLOAT h f nan"),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        c.q("HINCRBYFLOAT h f inf"),
        err("ERR value is NaN or Infinity")
    );
    assert_eq!(
        c.q("HINCRBYFLOAT h s inf"),
        err("ERR value is NaN or Infinity")
    );
    assert_eq!(
        c.q("HINCRBYFLOAT h s 1"),
        err("ERR hash value is not a float")
    );
    assert_eq!(c.q("HSET h big 1e4932 inf inf"), int(2));
    assert_eq!(
        c.q("HINCRBYFLOAT h big 1e4932"),
        err("ERR increment would produce NaN or Infinity")
    );
    assert_eq!(
        c.q("HINCRBYFLOAT h inf 1"),
        err("ERR increment would produce NaN or Infinity")
    );
    assert_eq!(c.q("HINCRBYFLOAT new f 2.50"), Reply::bulk("2.5"));
    assert_eq!(c.q("HGET new f"), Reply::bulk("2.5"));
}

/// listpack while small, hashtable past either threshold, never back.
/// 1. Entries: the (limit+1)th field converts.
/// 2. Value length: a value or field longer than the limit converts, also
///    through HINCRBYFLOAT's result and HSETNX.
/// 3. Deleting back under the limits keeps `hashtable`.
fn encodings(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("CONFIG SET hash-max-listpack-entries 3"), Reply::ok());
    assert_eq!(c.q("CONFIG SET hash-max-listpack-value 8"), Reply::ok());
    assert_eq!(c.q("HSET h a 1 b 2 c 3"), int(3));
    assert_eq!(c.q("OBJECT ENCODING h"), Reply::bulk("listpack"));
    assert_eq!(c.q("HSET h d 4"), int(1));
    assert_eq!(c.q("OBJECT ENCODING h"), Reply::bulk("hashtable"));
    assert_eq!(c.q("HDEL h a b c"), int(3));
    assert_eq!(c.q("OBJECT ENCODING h"), Reply::bulk("hashtable"));
    assert_eq!(c.q("HGETALL h"), Reply::bulks(["d", "4"]));

    assert_eq!(c.q("HSET v f 12345678"), int(1));
    assert_eq!(c.q("OBJECT ENCODING v"), Reply::bulk("listpack"));
    assert_eq!(c.q("HSET v f 123456789"), int(0));
    assert_eq!(c.q("OBJECT ENCODING v"), Reply::bulk("hashtable"));
    assert_eq!(c.q("HSET w longfield9 1"), int(1));
    assert_eq!(c.q("OBJECT ENCODING w"), Reply::bulk("hashtable"));
    assert_eq!(c.q("HSETNX x f 123456789"), int(1));
    assert_eq!(c.q("OBJECT ENCODING x"), Reply::bulk("hashtable"));
    assert_eq!(c.q("HINCRBYFLOAT y f 1.25"), Reply::bulk("1.25"));
    assert_eq!(c.q("OBJECT ENCODING y"), Reply::bulk("listpack"));
    assert_eq!(c.q("HINCRBYFLOAT y f 0.0000001"), Reply::bulk("1.2500001"));
    assert_eq!(c.q("OBJECT ENCODING y"), Reply::bulk("hashtable"));
    assert_eq!(c.q("HINCRBY z f 99999999"), int(99999999));
    assert_eq!(c.q("OBJECT ENCODING z"), Reply::bulk("listpack"));
    assert_eq!(c.q("HINCRBY z f 1"), int(100000000));
    assert_eq!(c.q("OBJECT ENCODING z"), Reply::bulk("hashtable"));

    // Default limits: 128 entries of at most 64 bytes.
    assert_eq!(c.q("CONFIG SET hash-max-listpack-entries 128"), Reply::ok());
    assert_eq!(c.q("CONFIG SET hash-max-listpack-value 64"), Reply::ok());
    for i in 0..128 {
        c.q(&format!("HSET big f{i} {}", "v".repeat(64)));
    }
    assert_eq!(c.q("OBJECT ENCODING big"), Reply::bulk("listpack"));
    assert_eq!(c.q("HSET big f128 v"), int(1));
    assert_eq!(c.q("OBJECT ENCODING big"), Reply::bulk("hashtable"));
    assert_eq!(c.q("HLEN big"), int(129));
}

/// RESP3: HGETALL is a map, nils are `_`, HRANDFIELD WITHVALUES gives
/// nested pairs.
fn resp3_forms(server: &Server) {
    let mut c = server.client();
    c.q("HELLO 3");
    assert_eq!(c.q("HSET h a 1 b 2"), int(2));
    assert_eq!(
        c.q("HGETALL h"),
        Reply::Map(vec![
            (Reply::bulk("a"), Reply::bulk("1")),
            (Reply::bulk("b"), Reply::bulk("2"))
        ])
    );
    assert_eq!(c.q("HGETALL missing"), Reply::Map(vec![]));
    assert_eq!(c.q("HKEYS h"), Reply::bulks(["a", "b"]));
    assert_eq!(c.q("HGET h nope"), Reply::Null);
    assert_eq!(
        c.q("HMGET h a nope"),
        Reply::array(vec![Reply::bulk("1"), Reply::Null])
    );
    assert_eq!(c.q("HRANDFIELD missing"), Reply::Null);
    assert_eq!(c.q("HRANDFIELD missing 3 WITHVALUES"), Reply::array(vec![]));
    assert_eq!(c.q("HDEL h b"), int(1));
    assert_eq!(
        c.q("HRANDFIELD h 5 WITHVALUES"),
        Reply::array(vec![Reply::bulks(["a", "1"])])
    );
    assert_eq!(
        c.q("HRANDFIELD h -2 WITHVALUES"),
        Reply::array(vec![Reply::bulks(["a", "1"]), Reply::bulks(["a", "1"])])
    );
    assert_eq!(
        c.q("HSCAN h 0"),
        Reply::array(vec![Reply::bulk("0"), Reply::bulks(["a", "1"])])
    );
}

/// HRANDFIELD: argument errors, and the properties of each count form.
fn randfield(server: &Server) {
    let mut c = server.client();
    assert_eq!(c.q("HRANDFIELD missing"), Reply::nil());
    assert_eq!(c.q("HRANDFIELD missing 5"), Reply::array(vec![]));
    assert_eq!(c.q("HSET h a 1 b 2 c 3"), int(3));
    assert_eq!(c.q("HRANDFIELD h 0"), Reply::array(vec![]));
    assert_eq!(c.q("HRANDFIELD h 1 WITHVALUE"), err("ERR syntax error"));
    assert_eq!(c.q("HRANDFIELD h 1 WITHVALUES x"), err("ERR syntax error"));
    assert_eq!(
        c.q("HRANDFIELD h x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.q("HRANDFIELD h -9223372036854775808"),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        c.q("HRANDFIELD h 4611686018427387904 WITHVALUES"),
        err("ERR value is out of range")
    );
    let fields = ["a", "b", "c"];
    let one = c.q("HRANDFIELD h");
    assert!(fields.contains(&one.as_str().as_str()), "{one}");
    // Positive count: distinct, at most the hash's size.
    let all = c.q("HRANDFIELD h 10").unordered();
    assert_eq!(all, Reply::bulks(fields));
    let two = c.q("HRANDFIELD h 2");
    let mut got: Vec<String> = two.as_array().iter().map(Reply::as_str).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 2, "{two}");
    // Negative count: exactly that many, repeats allowed.
    let many = c.q("HRANDFIELD h -20");
    assert_eq!(many.as_array().len(), 20);
    assert!(many
        .as_array()
        .iter()
        .all(|f| fields.contains(&f.as_str().as_str())));
    // WITHVALUES in RESP2: a flat field, value list.
    let pairs = c.q("HRANDFIELD h -6 WITHVALUES");
    assert_eq!(pairs.as_array().len(), 12);
    for pair in pairs.as_array().chunks(2) {
        assert_eq!(c.cmd(&[b"HGET", b"h", pair[0].as_bytes()]), pair[1]);
    }
    assert_eq!(c.q("HRANDFIELD h 3 WITHVALUES").as_array().len(), 6);
}

/// HSCAN: a listpack in one call with cursor 0; a hashtable iterated with
/// COUNT and MATCH until cursor 0 returns every field at least once.
fn scan(server: &Server) {
    let mut c = server.client();
    assert_eq!(
        c.q("HSCAN missing 0"),
        Reply::array(vec![Reply::bulk("0"), Reply::array(vec![])])
    );
    assert_eq!(
        c.q("HSCAN missing 0 COUNT 0"),
        Reply::array(vec![Reply::bulk("0"), Reply::array(vec![])])
    );
    assert_eq!(c.q("HSCAN missing x"), err("ERR invalid cursor"));
    assert_eq!(c.q("HSET h f1 a f2 b g1 c"), int(3));
    assert_eq!(
        c.q("HSCAN h 0 COUNT 1"),
        Reply::array(vec![
            Reply::bulk("0"),
            Reply::bulks(["f1", "a", "f2", "b", "g1", "c"])
        ])
    );
    assert_eq!(
        c.q("HSCAN h 0 MATCH f*"),
        Reply::array(vec![Reply::bulk("0"), Reply::bulks(["f1", "a", "f2", "b"])])
    );
    assert_eq!(c.q("HSCAN h 0 COUNT 0"), err("ERR syntax error"));
    assert_eq!(
        c.q("HSCAN h 0 COUNT x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.q("HSCAN h 0 TYPE string"), err("ERR syntax error"));
    assert_eq!(c.q("HSCAN h 0 MATCH"), err("ERR syntax error"));

    assert_eq!(c.q("CONFIG SET hash-max-listpack-entries 4"), Reply::ok());
    for i in 0..50 {
        c.q(&format!("HSET t f{i} v{i}"));
    }
    assert_eq!(c.q("OBJECT ENCODING t"), Reply::bulk("hashtable"));
    let seen = scan_all(&mut c, "t", &["COUNT", "7"]);
    assert_eq!(seen.len(), 50);
    assert!(seen.iter().all(|(f, v)| f[1..] == v[1..]));
    let matched = scan_all(&mut c, "t", &["MATCH", "f1*"]);
    let mut fields: Vec<&str> = matched.iter().map(|(f, _)| f.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["f1", "f10", "f11", "f12", "f13", "f14", "f15", "f16", "f17", "f18", "f19"]
    );
}

/// Iterates HSCAN to cursor 0; the distinct (field, value) pairs seen.
fn scan_all(
    c: &mut Client,
    key: &str,
    opts: &[&str],
) -> std::collections::BTreeSet<(String, String)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    for _ in 0..1000 {
        let mut args = vec!["HSCAN", key, cursor.as_str()];
        args.extend_from_slice(opts);
        let reply = c.cmd_str(&args);
        let items = reply.as_array();
        let next = items[0].as_str();
        for pair in items[1].as_array().chunks(2) {
            seen.insert((pair[0].as_str(), pair[1].as_str()));
        }
        if next == "0" {
            return seen;
        }
        cursor = next;
    }
    panic!("HSCAN did not finish");
}
