//! Integration tests: spawn the built `sluice-server` and check exact replies.
//!
//! Every expected reply below is what redis-server 7.0.15 sends (each test
//! was run against redis-server itself while it was written). Every test
//! runs twice, with `--server-threads 1` and `--server-threads 2`, as
//! `<test>::threads_1` and `<test>::threads_2`, because with two threads a
//! connection's keys and its peers may live on another shard.
//!
//! No test sleeps: waits are bounded polls (`wait_until`), and every read
//! has a timeout.
#[macro_use]
mod common;

use common::{info_fields, run_to_exit, wait_until, Client, Reply, Server};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

threads_tests!(
    ping_echo_hello,
    resp3_null_forms,
    inline_commands,
    pipelining,
    partial_frames,
    large_values,
    protocol_errors,
    unknown_command,
    wrong_arity,
    auth_requirepass,
    maxclients,
    select_bounds,
    keys_on_many_shards,
    many_clients_see_each_other,
    multi_exec,
    watch,
    config_get_set,
    info_sections,
    client_commands,
    expiry,
    active_expiry_stats,
    quit,
    invalid_config_exits,
    unlink_frees_big_values_aside,
);

fn err(text: &str) -> Reply {
    Reply::err(text)
}

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// PING, ECHO and HELLO in both protocols.
/// 1. PING with and without a message, ECHO, case-insensitive names.
/// 2. HELLO 3 returns the 7-field map, `id` equal to CLIENT ID.
/// 3. HELLO 2 switches back (flat array); HELLO 4 is NOPROTO.
fn ping_echo_hello(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    assert_eq!(c.q("PING"), Reply::simple("PONG"));
    assert_eq!(c.q("ping"), Reply::simple("PONG"));
    assert_eq!(c.q("PING hello"), Reply::bulk("hello"));
    assert_eq!(c.q("ECHO hi"), Reply::bulk("hi"));
    assert_eq!(c.cmd(&[b"ECHO", b""]), Reply::bulk(""));
    assert_eq!(c.cmd(&[b"ECHO", b"a\r\nb\x00"]), Reply::bulk("a\r\nb\x00"));
    let id = c.q("CLIENT ID").as_int();

    // The exact framing of the first fields, then every field parsed.
    c.send(&[b"HELLO", b"3"]);
    let raw = c.read_raw_reply_bytes();
    let prefix = b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n";
    assert!(
        raw.starts_with(prefix),
        "HELLO 3 reply must start with the server field: \"{}\"",
        common::escape(&raw)
    );
    let hello = c.q("HELLO 3");
    let Reply::Map(fields) = &hello else {
        panic!("HELLO 3 must return a map, got {hello}");
    };
    let keys: Vec<String> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["server", "version", "proto", "id", "mode", "role", "modules"]
    );
    assert_eq!(fields[0].1, Reply::bulk("redis"));
    assert!(
        fields[1].1.as_str().starts_with("7.0."),
        "version must be a 7.0.x: {}",
        fields[1].1
    );
    assert_eq!(fields[2].1, Reply::Int(3));
    assert_eq!(fields[3].1, Reply::Int(id));
    assert_eq!(fields[4].1, Reply::bulk("standalone"));
    assert_eq!(fields[5].1, Reply::bulk("master"));
    assert_eq!(fields[6].1, Reply::array(vec![]));

    let hello2 = c.q("HELLO 2");
    let items = hello2.as_array();
    assert_eq!(items.len(), 14, "HELLO 2 is a flat array: {hello2}");
    assert_eq!(items[4], Reply::bulk("proto"));
    assert_eq!(items[5], Reply::Int(2));
    assert_eq!(c.q("HELLO 4"), err("NOPROTO unsupported protocol version"));
    assert_eq!(
        c.q("HELLO x"),
        err("ERR Protocol version is not an integer or out of range")
    );
}

/// The exact bytes of null replies in RESP2 and RESP3.
/// 1. RESP2: GET missing = `$-1`, MGET = `*1 $-1`, aborted EXEC = `*-1`.
/// 2. After HELLO 3 each of these is `_`.
/// 3. RESP3 types that carry data: INFO is a verbatim string, CONFIG GET a map.
fn resp3_null_forms(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    let mut other = server.client();
    // The reply's exact bytes as text, so a mismatch prints readably.
    let raw = |c: &mut Client, args: &[&[u8]]| {
        c.send(args);
        String::from_utf8_lossy(&c.read_raw_reply_bytes()).into_owned()
    };
    assert_eq!(raw(&mut c, &[b"GET", b"missing"]), "$-1\r\n");
    assert_eq!(raw(&mut c, &[b"MGET", b"missing"]), "*1\r\n$-1\r\n");
    assert_eq!(raw(&mut c, &[b"WATCH", b"w"]), "+OK\r\n");
    assert_eq!(other.q("SET w 1"), Reply::ok());
    assert_eq!(raw(&mut c, &[b"MULTI"]), "+OK\r\n");
    assert_eq!(raw(&mut c, &[b"EXEC"]), "*-1\r\n");

    assert!(matches!(c.q("HELLO 3"), Reply::Map(_)));
    assert_eq!(raw(&mut c, &[b"GET", b"missing"]), "_\r\n");
    assert_eq!(
        raw(&mut c, &[b"MGET", b"missing", b"w"]),
        "*2\r\n_\r\n$1\r\n1\r\n"
    );
    assert_eq!(raw(&mut c, &[b"WATCH", b"w"]), "+OK\r\n");
    assert_eq!(other.q("SET w 2"), Reply::ok());
    assert_eq!(raw(&mut c, &[b"MULTI"]), "+OK\r\n");
    assert_eq!(raw(&mut c, &[b"EXEC"]), "_\r\n");
    assert_eq!(raw(&mut c, &[b"CLIENT", b"GETNAME"]), "_\r\n");
    assert_eq!(raw(&mut c, &[b"EXISTS", b"w"]), ":1\r\n");
    assert_eq!(
        raw(&mut c, &[b"INCRBYFLOAT", b"f", b"1.5"]),
        "$3\r\n1.5\r\n",
        "INCRBYFLOAT stays a bulk string in RESP3"
    );
    match c.q("INFO server") {
        Reply::Verbatim(fmt, text) => {
            assert_eq!(fmt, "txt");
            assert!(String::from_utf8_lossy(&text).starts_with("# Server\r\n"));
        }
        other => panic!("INFO in RESP3 must be a verbatim string, got {other}"),
    }
    assert_eq!(
        c.q("CONFIG GET port"),
        Reply::Map(vec![(
            Reply::bulk("port"),
            Reply::bulk(server.port.to_string())
        )])
    );
}

/// Inline commands (telnet style).
/// 1. `PING\r\n` and `PING\n`; empty lines are ignored without a reply.
/// 2. Double quotes group words and decode escapes; single quotes group.
/// 3. Unbalanced quotes are a protocol error that closes the connection.
fn inline_commands(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    c.send_raw(b"PING\r\n").unwrap();
    assert_eq!(c.read_reply(), Reply::simple("PONG"));
    c.send_raw(b"PING\n").unwrap();
    assert_eq!(c.read_reply(), Reply::simple("PONG"));
    c.send_raw(b"\r\n\r\nECHO  spaced   \r\n").unwrap();
    assert_eq!(c.read_reply(), Reply::bulk("spaced"));
    c.send_raw(b"SET a \"b c\"\r\n").unwrap();
    assert_eq!(c.read_reply(), Reply::ok());
    assert_eq!(c.q("GET a"), Reply::bulk("b c"));
    c.send_raw(b"SET b \"x\\x41\\n\\\"\"\r\n").unwrap();
    assert_eq!(c.read_reply(), Reply::ok());
    assert_eq!(c.q("GET b"), Reply::bulk("xA\n\""));
    c.send_raw(b"SET c 'it s'\r\nGET c\r\n").unwrap();
    assert_eq!(c.read_reply(), Reply::ok());
    assert_eq!(c.read_reply(), Reply::bulk("it s"));
    c.send_raw(b"get\r\n").unwrap();
    assert_eq!(
        c.read_reply(),
        err("ERR wrong number of arguments for 'get' command")
    );
    c.send_raw(b"SET d \"oops\r\n").unwrap();
    assert_eq!(
        c.read_reply(),
        err("ERR Protocol error: unbalanced quotes in request")
    );
    assert!(
        c.is_closed_by_peer(),
        "connection must close after a protocol error"
    );
}

/// 100 commands in one write get 100 replies in order.
fn pipelining(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    let mut batch = Vec::new();
    for i in 0..50 {
        batch.extend(common::encode_command(&[
            b"SET",
            format!("key:{i}").as_bytes(),
            format!("value:{i}").as_bytes(),
        ]));
        batch.extend(common::encode_command(&[b"INCR", b"counter"]));
    }
    c.send_raw(&batch).unwrap();
    for i in 0..50 {
        assert_eq!(c.read_reply(), Reply::ok(), "reply to SET #{i}");
        assert_eq!(c.read_reply(), Reply::Int(i + 1), "reply to INCR #{i}");
    }
    // Mixed inline and multibulk in one write, then GETs of every key.
    let mut batch = b"PING\r\n".to_vec();
    for i in 0..99 {
        batch.extend(common::encode_command(&[
            b"GET",
            format!("key:{}", i % 50).as_bytes(),
        ]));
    }
    c.send_raw(&batch).unwrap();
    assert_eq!(c.read_reply(), Reply::simple("PONG"));
    for i in 0..99 {
        assert_eq!(c.read_reply(), Reply::bulk(format!("value:{}", i % 50)));
    }
}

/// Commands split across many small writes, down to one byte per write,
/// are reassembled (the parser must treat "need more bytes" as not an error).
fn partial_frames(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    let wire =
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    for byte in wire.iter() {
        c.send_raw(std::slice::from_ref(byte)).unwrap();
    }
    assert_eq!(c.read_reply(), Reply::ok());
    assert_eq!(c.read_reply(), Reply::simple("PONG"));
    assert_eq!(c.read_reply(), Reply::bulk("hello"));
    // A frame split in the middle of its length line and of its payload.
    for part in [&b"*2\r\n$3\r\nGE"[..], b"T\r\n$", b"1\r", b"\nk", b"\r\n"] {
        c.send_raw(part).unwrap();
    }
    assert_eq!(c.read_reply(), Reply::bulk("hello"));
}

/// UNLINK hands a value of more than 64 allocations to the lazy-free
/// thread (INFO memory `lazyfreed_objects` counts it, as Redis 7.0's);
/// small values, and DEL, free where they are; FLUSHALL ASYNC hands it
/// the whole dataset.
fn unlink_frees_big_values_aside(threads: usize) {
    let s = Server::sluice(threads, &[]);
    let mut c = s.client();
    let freed = |c: &mut Client| -> String {
        let field = |c: &mut Client, name: &str| {
            common::repl::info(c, "memory", name).unwrap_or_else(|| panic!("no {name}"))
        };
        let pending = field(c, "lazyfree_pending_objects");
        format!("{pending}/{}", field(c, "lazyfreed_objects"))
    };
    assert_eq!(freed(&mut c), "0/0");
    let big = |c: &mut Client, key: &str| {
        let mut hset = vec!["HSET".to_string(), key.to_string()];
        for i in 0..1000 {
            hset.extend([format!("f{i}"), format!("v{i}")]);
        }
        let args: Vec<&str> = hset.iter().map(String::as_str).collect();
        assert_eq!(c.cmd_str(&args), Reply::Int(1000));
    };
    big(&mut c, "h1");
    big(&mut c, "h2");
    assert_eq!(c.cmd_str(&["SET", "small", "v"]), Reply::ok());
    assert_eq!(
        c.cmd_str(&["UNLINK", "h1", "small", "missing"]),
        Reply::Int(2)
    );
    assert_eq!(c.cmd_str(&["EXISTS", "h1", "small"]), Reply::Int(0));
    wait_until("the lazy free", Duration::from_secs(10), || {
        freed(&mut c) == "0/1"
    });
    assert_eq!(c.cmd_str(&["DEL", "h2"]), Reply::Int(1));
    assert_eq!(freed(&mut c), "0/1");
    // FLUSHALL ASYNC frees the data there too, counted in keys
    // (emptyDbAsync); SYNC frees it inline.
    assert_eq!(c.cmd_str(&["MSET", "a", "1", "b", "2"]), Reply::ok());
    assert_eq!(c.cmd_str(&["FLUSHALL", "SYNC"]), Reply::ok());
    assert_eq!(freed(&mut c), "0/1");
    assert_eq!(
        c.cmd_str(&["MSET", "a", "1", "b", "2", "c", "3"]),
        Reply::ok()
    );
    assert_eq!(c.cmd_str(&["FLUSHALL", "ASYNC"]), Reply::ok());
    assert_eq!(c.cmd_str(&["DBSIZE"]), Reply::Int(0));
    wait_until("the lazy flush", Duration::from_secs(10), || {
        freed(&mut c) == "0/4"
    });
}

/// Values larger than any single socket read: 4 MiB, and a pipelined burst.
fn large_values(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    let mut rng = common::Rng::new(7);
    let big: Vec<u8> = (0..4 << 20).map(|_| rng.next_u64() as u8).collect();
    assert_eq!(c.cmd(&[b"SET", b"big", &big]), Reply::ok());
    assert_eq!(c.cmd(&[b"STRLEN", b"big"]), Reply::Int(big.len() as i64));
    assert_eq!(c.cmd(&[b"GET", b"big"]), Reply::bulk(&big));
    assert_eq!(
        c.cmd(&[b"GETRANGE", b"big", b"-3", b"-1"]),
        Reply::bulk(&big[big.len() - 3..])
    );
    let chunk = vec![b'z'; 10_000];
    let mut batch = Vec::new();
    for i in 0..100 {
        batch.extend(common::encode_command(&[
            b"SET",
            format!("c{i}").as_bytes(),
            &chunk,
        ]));
    }
    c.send_raw(&batch).unwrap();
    for _ in 0..100 {
        assert_eq!(c.read_reply(), Reply::ok());
    }
    assert_eq!(c.q("MGET c0 c99"), Reply::bulks([&chunk, &chunk]));
}

/// Malformed RESP: one error reply with Redis's text, then the server
/// closes the connection. Commands before the bad frame are answered.
fn protocol_errors(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let cases: &[(&[u8], &str)] = &[
        (b"*1\r\n$x\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"),
        (
            b"*2\r\n$3\r\nGET\r\n$536870913\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (b"*x\r\n", "ERR Protocol error: invalid multibulk length"),
        (
            b"*4294967296\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*1\r\nfoo\r\n",
            "ERR Protocol error: expected '$', got 'f'",
        ),
        (
            b"SET a \"b\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
    ];
    for (wire, expected) in cases {
        let mut c = server.client();
        c.send_raw(wire).unwrap();
        assert_eq!(
            c.read_reply(),
            err(expected),
            "reply to \"{}\"",
            common::escape(wire)
        );
        assert!(
            c.is_closed_by_peer(),
            "connection must close after \"{}\"",
            common::escape(wire)
        );
    }
    let mut c = server.client();
    c.send_raw(b"PING\r\n*1\r\n$1\r\nx\r\n*1\r\n$x\r\n")
        .unwrap();
    assert_eq!(c.read_reply(), Reply::simple("PONG"));
    assert_eq!(
        c.read_reply(),
        err("ERR unknown command 'x', with args beginning with: ")
    );
    assert_eq!(
        c.read_reply(),
        err("ERR Protocol error: invalid bulk length")
    );
    assert!(c.is_closed_by_peer());
    // `*0` and `*-1` are empty requests: no reply, connection stays usable.
    let mut c = server.client();
    c.send_raw(b"*0\r\n*-1\r\nPING\r\n").unwrap();
    assert_eq!(c.read_reply(), Reply::simple("PONG"));
    // The server survives all of the above.
    assert_eq!(server.client().q("PING"), Reply::simple("PONG"));
}

/// Unknown commands echo the name as sent and the first arguments.
fn unknown_command(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    assert_eq!(
        c.q("foo a b"),
        err("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")
    );
    assert_eq!(
        c.q("FOO"),
        err("ERR unknown command 'FOO', with args beginning with: ")
    );
    assert_eq!(
        c.cmd(&[b"x y", b"", b"1"]),
        err("ERR unknown command 'x y', with args beginning with: '' '1' ")
    );
    // The connection is still usable.
    assert_eq!(c.q("PING"), Reply::simple("PONG"));
}

/// Arity errors name the command in lower case (container|subcommand).
fn wrong_arity(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    let arity = |name: &str| {
        err(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ))
    };
    assert_eq!(c.q("GET"), arity("get"));
    assert_eq!(c.q("get a b"), arity("get"));
    assert_eq!(c.q("SET a"), arity("set"));
    assert_eq!(c.q("MSET a"), arity("mset"));
    assert_eq!(c.q("MSET a 1 b"), arity("mset"));
    assert_eq!(c.q("DEL"), arity("del"));
    assert_eq!(c.q("DBSIZE x"), arity("dbsize"));
    assert_eq!(c.q("CONFIG GET"), arity("config|get"));
    assert_eq!(c.q("OBJECT ENCODING"), arity("object|encoding"));
    assert_eq!(c.q("CLIENT"), arity("client"));
    assert_eq!(c.q("SET a b c"), err("ERR syntax error"));
}

/// requirepass: everything but AUTH/HELLO/QUIT is refused until AUTH.
/// 1. Unauthenticated: NOAUTH for commands, and the tighter protocol limits
///    (multibulk > 10 args, bulk > 16 KiB) for unauthenticated clients.
/// 2. Wrong password: WRONGPASS (AUTH pass, AUTH user pass, HELLO AUTH).
/// 3. Right password: AUTH or HELLO 3 AUTH default pass.
fn auth_requirepass(threads: usize) {
    let server = Server::sluice(threads, &["--requirepass", "secret"]);
    let mut c = server.client();
    assert_eq!(c.q("GET a"), err(NOAUTH));
    assert_eq!(c.q("PING"), err(NOAUTH));
    assert_eq!(
        c.q("HELLO 3"),
        err(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO AUTH <user> <pass> option can be used to authenticate the client and select \
             the RESP protocol version at the same time"
        )
    );
    assert_eq!(c.q("AUTH wrong"), err(WRONGPASS));
    assert_eq!(c.q("AUTH default wrong"), err(WRONGPASS));
    assert_eq!(c.q("AUTH nosuchuser secret"), err(WRONGPASS));
    assert_eq!(c.q("AUTH a b c"), err("ERR syntax error"));
    assert_eq!(c.q("HELLO 3 AUTH default wrong"), err(WRONGPASS));
    assert_eq!(c.q("AUTH secret"), Reply::ok());
    assert_eq!(c.q("GET a"), Reply::nil());
    assert_eq!(c.q("SET a 1"), Reply::ok());

    let mut c = server.client();
    let hello = c.q("HELLO 3 AUTH default secret");
    assert!(matches!(hello, Reply::Map(_)), "HELLO 3 AUTH: {hello}");
    assert_eq!(c.q("GET a"), Reply::bulk("1"));

    let mut c = server.client();
    c.send_raw(b"*11\r\n").unwrap();
    assert_eq!(
        c.read_reply(),
        err("ERR Protocol error: unauthenticated multibulk length")
    );
    assert!(c.is_closed_by_peer());
    let mut c = server.client();
    c.send_raw(b"*1\r\n$16385\r\n").unwrap();
    assert_eq!(
        c.read_reply(),
        err("ERR Protocol error: unauthenticated bulk length")
    );
    assert!(c.is_closed_by_peer());

    // Without requirepass, AUTH explains itself.
    let open = Server::sluice(threads, &[]);
    assert_eq!(
        open.client().q("AUTH x"),
        err(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?"
        )
    );
}

/// `--maxclients 2`: a third connection gets the error and is closed; once
/// a client leaves, a new one is accepted.
fn maxclients(threads: usize) {
    let server = Server::sluice(threads, &["--maxclients", "2"]);
    // The startup probe's connection may not be reaped yet: retry until two
    // clients are both served.
    let mut clients: Vec<Client> = Vec::new();
    wait_until("two clients accepted", Duration::from_secs(10), || {
        clients.retain_mut(|c| ping_reply(c) == Some(Reply::simple("PONG")));
        while clients.len() < 2 {
            let mut c = server.client();
            if ping_reply(&mut c) != Some(Reply::simple("PONG")) {
                return false;
            }
            clients.push(c);
        }
        true
    });
    let mut third = server.client();
    assert_eq!(third.read_reply(), err("ERR max number of clients reached"));
    assert!(third.is_closed_by_peer());
    assert_eq!(
        server.client().read_reply(),
        err("ERR max number of clients reached")
    );
    drop(clients.pop());
    wait_until("a slot to free up", Duration::from_secs(10), || {
        ping_reply(&mut server.client()) == Some(Reply::simple("PONG"))
    });
}

/// PING's reply, or `None` if the connection failed (e.g. was refused and
/// closed by the server after its error line, which is then returned).
fn ping_reply(c: &mut Client) -> Option<Reply> {
    let _ = c.send_raw(b"PING\r\n");
    c.try_read_reply().ok()
}

/// SELECT range and per-database keyspaces, MOVE between them.
fn select_bounds(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    assert_eq!(c.q("SELECT 16"), err("ERR DB index is out of range"));
    assert_eq!(c.q("SELECT -1"), err("ERR DB index is out of range"));
    assert_eq!(
        c.q("SELECT abc"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.q("SELECT 15"), Reply::ok());
    assert_eq!(c.q("SET k fifteen"), Reply::ok());
    assert_eq!(c.q("SELECT 0"), Reply::ok());
    assert_eq!(c.q("GET k"), Reply::nil());
    assert_eq!(c.q("SET k zero"), Reply::ok());
    assert_eq!(c.q("MOVE k 15"), Reply::Int(0), "target exists");
    assert_eq!(
        c.q("MOVE k 0"),
        err("ERR source and destination objects are the same")
    );
    assert_eq!(c.q("MOVE k 16"), err("ERR DB index is out of range"));
    assert_eq!(c.q("SET m moved"), Reply::ok());
    assert_eq!(c.q("MOVE m 15"), Reply::Int(1));
    assert_eq!(c.q("DBSIZE"), Reply::Int(1));
    assert_eq!(c.q("SELECT 15"), Reply::ok());
    assert_eq!(c.q("MGET k m"), Reply::bulks(["fifteen", "moved"]));
    assert_eq!(c.q("DBSIZE"), Reply::Int(2));
    // Another connection starts in db 0.
    assert_eq!(server.client().q("GET k"), Reply::bulk("zero"));
}

/// 1000 keys spread over every shard/stripe.
/// 1. SET them (pipelined), read each back, DBSIZE = 1000.
/// 2. KEYS * returns exactly the 1000 keys.
/// 3. A full SCAN with COUNT 10 returns every key at least once and nothing
///    else, in a bounded number of calls.
/// 4. INFO keyspace reports them.
fn keys_on_many_shards(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    let keys: Vec<String> = (0..1000).map(|i| format!("key:{i}")).collect();
    let mut batch = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        batch.extend(common::encode_command(&[
            b"SET",
            key.as_bytes(),
            i.to_string().as_bytes(),
        ]));
    }
    c.send_raw(&batch).unwrap();
    for _ in &keys {
        assert_eq!(c.read_reply(), Reply::ok());
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(c.cmd_str(&["GET", key]), Reply::bulk(i.to_string()));
    }
    assert_eq!(c.q("DBSIZE"), Reply::Int(1000));
    let expected: BTreeSet<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
    let listed = c.q("KEYS *");
    let listed_set: BTreeSet<Vec<u8>> = listed
        .as_array()
        .iter()
        .map(|k| k.as_bytes().to_vec())
        .collect();
    assert_eq!(
        listed.as_array().len(),
        1000,
        "KEYS * must list each key once"
    );
    assert_eq!(listed_set, expected);
    assert_eq!(c.q("KEYS key:99?").as_array().len(), 10);

    let mut seen = BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        calls += 1;
        assert!(calls <= 10_000, "SCAN did not finish within 10000 calls");
        let reply = c.cmd_str(&["SCAN", &cursor, "COUNT", "10"]);
        let parts = reply.as_array();
        assert_eq!(parts.len(), 2, "SCAN reply: {reply}");
        for key in parts[1].as_array() {
            let key = key.as_bytes().to_vec();
            assert!(expected.contains(&key), "SCAN returned unknown key {key:?}");
            seen.insert(key);
        }
        cursor = parts[0].as_str();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 1000, "SCAN must return every key at least once");
    let matched = scan_keys(&mut c, &["MATCH", "key:1?", "COUNT", "100"]);
    assert_eq!(matched.len(), 10);
    assert_eq!(c.q("SCAN abc"), err("ERR invalid cursor"));

    let info = c.q("INFO keyspace").as_str();
    assert_eq!(info, "# Keyspace\r\ndb0:keys=1000,expires=0,avg_ttl=0\r\n");
    assert_eq!(c.q("FLUSHDB"), Reply::ok());
    assert_eq!(c.q("DBSIZE"), Reply::Int(0));
    assert_eq!(c.q("INFO keyspace").as_str(), "# Keyspace\r\n");
}

fn scan_keys(c: &mut Client, args: &[&str]) -> BTreeSet<Vec<u8>> {
    let mut seen = BTreeSet::new();
    let mut cursor = "0".to_string();
    for _ in 0..10_000 {
        let mut cmd = vec!["SCAN", &cursor];
        cmd.extend_from_slice(args);
        let reply = c.cmd_str(&cmd);
        let parts = reply.as_array();
        seen.extend(parts[1].as_array().iter().map(|k| k.as_bytes().to_vec()));
        cursor = parts[0].as_str();
        if cursor == "0" {
            return seen;
        }
    }
    panic!("SCAN {args:?} did not finish within 10000 calls");
}

/// Writes from one connection are visible to all others at once, whichever
/// thread accepted them (16 connections over the shards).
fn many_clients_see_each_other(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut clients: Vec<Client> = (0..16).map(|_| server.client()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(
            c.cmd_str(&["SET", &format!("owner:{i}"), &i.to_string()]),
            Reply::ok()
        );
        assert_eq!(c.q("INCR shared"), Reply::Int(i as i64 + 1));
    }
    for c in clients.iter_mut() {
        for i in 0..16 {
            assert_eq!(
                c.cmd_str(&["GET", &format!("owner:{i}")]),
                Reply::bulk(i.to_string())
            );
        }
        assert_eq!(c.q("GET shared"), Reply::bulk("16"));
    }
}

/// MULTI/EXEC over keys on different stripes/shards.
/// 1. Queued commands reply +QUEUED; EXEC returns every reply in order,
///    including runtime errors (INCR on a non-integer).
/// 2. DISCARD drops the queue.
/// 3. A command error while queueing aborts EXEC with EXECABORT.
/// 4. EXEC/DISCARD without MULTI, nested MULTI.
fn multi_exec(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    let queued = Reply::simple("QUEUED");
    assert_eq!(c.q("MULTI"), Reply::ok());
    assert_eq!(c.q("MULTI"), err("ERR MULTI calls can not be nested"));
    for cmd in [
        "SET a 1",
        "INCR a",
        "SET {other}b x",
        "APPEND {other}b yz",
        "INCR {other}b",
        "MSET k1 v1 k2 v2 k3 v3 k4 v4",
        "MGET a {other}b k1 k4 nokey",
        "DEL k1 k2 k3 k4 nokey",
    ] {
        assert_eq!(c.q(cmd), queued, "queueing {cmd}");
    }
    assert_eq!(
        c.q("EXEC"),
        Reply::array(vec![
            Reply::ok(),
            Reply::Int(2),
            Reply::ok(),
            Reply::Int(3),
            err("ERR value is not an integer or out of range"),
            Reply::ok(),
            Reply::array(vec![
                Reply::bulk("2"),
                Reply::bulk("xyz"),
                Reply::bulk("v1"),
                Reply::bulk("v4"),
                Reply::nil(),
            ]),
            Reply::Int(4),
        ])
    );
    assert_eq!(c.q("MULTI"), Reply::ok());
    assert_eq!(c.q("SET a discarded"), queued);
    assert_eq!(c.q("DISCARD"), Reply::ok());
    assert_eq!(c.q("GET a"), Reply::bulk("2"));

    assert_eq!(c.q("MULTI"), Reply::ok());
    assert_eq!(c.q("SET a aborted"), queued);
    assert_eq!(
        c.q("GET"),
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        c.q("NOSUCH x"),
        err("ERR unknown command 'NOSUCH', with args beginning with: 'x' ")
    );
    assert_eq!(
        c.q("EXEC"),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(c.q("GET a"), Reply::bulk("2"));
    assert_eq!(c.q("EXEC"), err("ERR EXEC without MULTI"));
    assert_eq!(c.q("DISCARD"), err("ERR DISCARD without MULTI"));
    assert_eq!(c.q("MULTI"), Reply::ok());
    assert_eq!(c.q("EXEC"), Reply::array(vec![]));
}

/// WATCH: a write by another client (possibly on another thread) makes
/// EXEC fail with a null array; an untouched watch lets EXEC run.
fn watch(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    let mut others: Vec<Client> = (0..4).map(|_| server.client()).collect();
    assert_eq!(c.q("SET w 0"), Reply::ok());
    for (i, other) in others.iter_mut().enumerate() {
        // 1. Invalidated by another client.
        assert_eq!(c.q("WATCH w"), Reply::ok());
        assert_eq!(
            other.cmd_str(&["SET", "w", &format!("other{i}")]),
            Reply::ok()
        );
        assert_eq!(c.q("MULTI"), Reply::ok());
        assert_eq!(c.q("SET w mine"), Reply::simple("QUEUED"));
        assert_eq!(c.q("EXEC"), Reply::Array(None));
        assert_eq!(c.q("GET w"), Reply::bulk(format!("other{i}")));
        // 2. Not touched: EXEC runs.
        assert_eq!(c.q("WATCH w"), Reply::ok());
        assert_eq!(other.q("GET w"), Reply::bulk(format!("other{i}")));
        assert_eq!(c.q("MULTI"), Reply::ok());
        assert_eq!(c.q("SET w mine"), Reply::simple("QUEUED"));
        assert_eq!(c.q("EXEC"), Reply::array(vec![Reply::ok()]));
    }
    // 3. UNWATCH forgets the watch; deleting a watched key invalidates.
    assert_eq!(c.q("WATCH w"), Reply::ok());
    assert_eq!(c.q("UNWATCH"), Reply::ok());
    assert_eq!(others[0].q("SET w x"), Reply::ok());
    assert_eq!(c.q("MULTI"), Reply::ok());
    assert_eq!(c.q("GET w"), Reply::simple("QUEUED"));
    assert_eq!(c.q("EXEC"), Reply::array(vec![Reply::bulk("x")]));
    assert_eq!(c.q("WATCH w nokey"), Reply::ok());
    assert_eq!(others[1].q("DEL w"), Reply::Int(1));
    assert_eq!(c.q("MULTI"), Reply::ok());
    assert_eq!(c.q("WATCH w"), err("ERR WATCH inside MULTI is not allowed"));
    assert_eq!(c.q("EXEC"), Reply::Array(None));
}

/// Converts a CONFIG GET reply (flat array or RESP3 map) to a map.
fn config_map(reply: &Reply) -> BTreeMap<String, String> {
    let items = reply.as_array();
    assert_eq!(items.len() % 2, 0, "CONFIG GET reply: {reply}");
    items
        .chunks(2)
        .map(|kv| (kv[0].as_str(), kv[1].as_str()))
        .collect()
}

/// CONFIG GET/SET: values given on the command line, memory units,
/// patterns, several parameters in one SET, and the error texts.
fn config_get_set(threads: usize) {
    let server = Server::sluice(threads, &["--maxclients", "100"]);
    let mut c = server.client();
    assert_eq!(
        c.q("CONFIG GET maxclients"),
        Reply::bulks(["maxclients", "100"])
    );
    assert_eq!(
        c.q("CONFIG GET port"),
        Reply::bulks(["port".to_string(), server.port.to_string()])
    );
    assert_eq!(c.q("CONFIG SET client-query-buffer-limit 2mb"), Reply::ok());
    assert_eq!(
        c.q("CONFIG GET client-query-buffer-limit"),
        Reply::bulks(["client-query-buffer-limit", "2097152"])
    );
    let all = config_map(&c.q("CONFIG GET latency-tracking*"));
    assert_eq!(
        all.keys().map(String::as_str).collect::<Vec<_>>(),
        ["latency-tracking", "latency-tracking-info-percentiles"]
    );
    assert_eq!(all["latency-tracking-info-percentiles"], "50 99 99.9");
    assert_eq!(
        c.q("CONFIG SET client-query-buffer-limit 4mb loglevel warning"),
        Reply::ok()
    );
    let both = config_map(&c.q("CONFIG GET client-query-buffer-limit loglevel"));
    assert_eq!(both["client-query-buffer-limit"], "4194304");
    assert_eq!(both["loglevel"], "warning");
    assert_eq!(c.q("CONFIG GET nosuchparam"), Reply::array(vec![]));
    assert_eq!(
        c.q("CONFIG SET foo bar"),
        err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'")
    );
    assert_eq!(
        c.q("CONFIG SET client-query-buffer-limit abc"),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'client-query-buffer-limit') - \
             argument must be a memory value"
        )
    );
    assert_eq!(
        c.q("CONFIG GET client-query-buffer-limit"),
        Reply::bulks(["client-query-buffer-limit", "4194304"])
    );
}

/// INFO: sections and the keyspace line format.
fn info_sections(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    assert_eq!(c.q("SET a 1"), Reply::ok());
    assert_eq!(c.q("SET b 2 EX 1000"), Reply::ok());
    assert_eq!(c.q("SELECT 3"), Reply::ok());
    assert_eq!(c.q("SET c 3"), Reply::ok());
    let info = c.q("INFO").as_str();
    for section in ["# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"] {
        assert!(
            info.lines().any(|l| l == section),
            "INFO lacks {section}:\n{info}"
        );
    }
    assert!(info.ends_with("\r\n"), "INFO must end with CRLF");
    assert!(
        !info.contains("\r\n\r\n\r\n"),
        "one blank line between sections"
    );
    let fields = info_fields(&info);
    let get = |section: &str, key: &str| -> String {
        fields
            .iter()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.clone())
            .unwrap_or_else(|| panic!("INFO lacks {section}/{key}:\n{info}"))
    };
    assert!(get("Server", "redis_version").starts_with("7.0."));
    assert_eq!(get("Server", "tcp_port"), server.port.to_string());
    let connected: i64 = get("Clients", "connected_clients").parse().unwrap();
    assert!(connected >= 1, "connected_clients:{connected}");
    let db0 = get("Keyspace", "db0");
    let rest = db0
        .strip_prefix("keys=2,expires=1,avg_ttl=")
        .unwrap_or_else(|| panic!("db0 line: {db0}"));
    assert!(
        rest.parse::<u64>().is_ok(),
        "avg_ttl must be an integer: {db0}"
    );
    assert_eq!(get("Keyspace", "db3"), "keys=1,expires=0,avg_ttl=0");
    // A section by name, case-insensitive; unknown sections are empty.
    let server_only = c.q("INFO SERVER").as_str();
    assert!(server_only.starts_with("# Server\r\n"), "{server_only}");
    assert!(!server_only.contains("# Keyspace"));
    assert_eq!(c.q("INFO nosuchsection"), Reply::bulk(""));
    let ks = c.q("INFO keyspace").as_str();
    assert!(
        ks.starts_with("# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl="),
        "{ks}"
    );
    assert!(
        ks.ends_with("\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n"),
        "{ks}"
    );
}

/// CLIENT SETNAME/GETNAME/ID/LIST/INFO.
fn client_commands(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut a = server.client();
    assert_eq!(a.q("CLIENT GETNAME"), Reply::nil());
    assert_eq!(a.q("CLIENT SETNAME alpha"), Reply::ok());
    assert_eq!(a.q("CLIENT GETNAME"), Reply::bulk("alpha"));
    assert_eq!(
        a.cmd_str(&["CLIENT", "SETNAME", "a b"]),
        err("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    assert_eq!(a.q("CLIENT GETNAME"), Reply::bulk("alpha"));
    let id_a = a.q("CLIENT ID").as_int();
    // b connects after a was accepted and served, so its id must be larger
    // (Redis: "if the ID is greater than another, the client connected
    // later"). Connecting both up front would not order them: with several
    // accepting threads either may be accepted first.
    let mut b = server.client();
    let id_b = b.q("CLIENT ID").as_int();
    assert!(id_a > 0 && id_b > id_a, "ids must increase: {id_a} {id_b}");
    assert_eq!(a.q("CLIENT ID").as_int(), id_a, "id is stable");

    // The startup probe may still be listed briefly.
    let mut list = String::new();
    wait_until(
        "CLIENT LIST to show exactly 2 clients",
        Duration::from_secs(10),
        || {
            list = a.q("CLIENT LIST").as_str();
            list.lines().count() == 2
        },
    );
    assert!(list.ends_with('\n'));
    let line_a = list
        .lines()
        .find(|l| l.starts_with(&format!("id={id_a} ")))
        .unwrap_or_else(|| panic!("no line for id {id_a}:\n{list}"));
    let fields: BTreeMap<&str, &str> = line_a
        .split(' ')
        .filter_map(|f| f.split_once('='))
        .collect();
    assert!(fields["addr"].starts_with("127.0.0.1:"), "{line_a}");
    assert_eq!(fields["laddr"], format!("127.0.0.1:{}", server.port));
    assert_eq!(fields["name"], "alpha");
    assert_eq!(fields["db"], "0");
    assert_eq!(fields["cmd"], "client|list");
    assert_eq!(fields["resp"], "2");
    assert!(list.contains(&format!("id={id_b} ")), "{list}");
    let info = b.q("CLIENT INFO").as_str();
    assert!(info.starts_with(&format!("id={id_b} ")), "{info}");
    assert!(info.contains(" name= "), "{info}");
    assert!(info.contains(" cmd=client|info "), "{info}");
    assert_eq!(a.cmd_str(&["CLIENT", "SETNAME", ""]), Reply::ok());
    assert_eq!(a.q("CLIENT GETNAME"), Reply::nil());
}

/// Keys with a short expiry disappear: on access (lazy) and by themselves
/// (active expiry, observed through DBSIZE). Polled, never slept.
fn expiry(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    assert_eq!(c.q("SET lazy v PX 100"), Reply::ok());
    let pttl = c.q("PTTL lazy").as_int();
    assert!(pttl == -2 || (0..=100).contains(&pttl), "PTTL {pttl}");
    assert_eq!(c.q("SET long v EX 1000"), Reply::ok());
    let ttl = c.q("TTL long").as_int();
    assert!((1..=1000).contains(&ttl), "TTL {ttl}");
    assert_eq!(c.q("TTL nokey"), Reply::Int(-2));
    assert_eq!(c.q("SET plain v"), Reply::ok());
    assert_eq!(c.q("TTL plain"), Reply::Int(-1));
    wait_until("key 'lazy' to expire", Duration::from_secs(10), || {
        c.q("EXISTS lazy") == Reply::Int(0)
    });
    assert_eq!(c.q("GET lazy"), Reply::nil());

    // Active expiry: nobody touches these keys, DBSIZE must still drop.
    for i in 0..20 {
        assert_eq!(
            c.cmd_str(&["SET", &format!("active:{i}"), "v", "PX", "100"]),
            Reply::ok()
        );
    }
    wait_until("active expiry of 20 keys", Duration::from_secs(10), || {
        c.q("DBSIZE") == Reply::Int(2)
    });
    assert_eq!(c.q("PERSIST long"), Reply::Int(1));
    assert_eq!(c.q("TTL long"), Reply::Int(-1));
}

/// Active expiry's estimates, as Redis's: INFO keyspace avg_ttl (from the
/// TTLs active expiry samples, not a walk of every key per INFO) and the
/// INFO stats expire fields.
fn active_expiry_stats(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    let set_all = |c: &mut Client, prefix: &str, n: usize, unit: &str, ttl: &str| {
        for i in 0..n {
            let key = format!("{prefix}{i}");
            assert_eq!(c.cmd_str(&["SET", &key, "v", unit, ttl]), Reply::ok());
        }
    };
    set_all(&mut c, "k", 1000, "EX", "1000");
    assert_eq!(c.q("SET plain v"), Reply::ok());
    let info = |c: &mut Client, section: &str, field: &str| -> String {
        common::repl::info(c, section, field)
            .unwrap_or_else(|| panic!("INFO {section} lacks {field}"))
    };
    let avg_ttl = |c: &mut Client| -> u64 {
        let db0 = info(c, "keyspace", "db0");
        let rest = db0
            .strip_prefix("keys=1001,expires=1000,avg_ttl=")
            .unwrap_or_else(|| panic!("db0: {db0}"));
        rest.parse().unwrap()
    };
    wait_until("an avg_ttl estimate", Duration::from_secs(10), || {
        avg_ttl(&mut c) > 0
    });
    // Every sampled TTL is at most 1000 s, and well over 900 s here.
    let ttl = avg_ttl(&mut c);
    assert!((900_000..=1_000_000).contains(&ttl), "avg_ttl {ttl}");
    for field in [
        "expired_time_cap_reached_count",
        "expire_cycle_cpu_milliseconds",
    ] {
        let v = info(&mut c, "stats", field);
        assert!(v.parse::<u64>().is_ok(), "{field}:{v}");
    }
    // Many keys due at once: the cycle keeps going (more than 10% of what
    // it samples has expired) until they are all gone.
    set_all(&mut c, "short:", 200, "PX", "20");
    wait_until("active expiry of 200 keys", Duration::from_secs(10), || {
        c.q("DBSIZE") == Reply::Int(1001)
    });
    let stale: f64 = info(&mut c, "stats", "expired_stale_perc").parse().unwrap();
    assert!((0.0..=100.0).contains(&stale), "expired_stale_perc {stale}");
    // No key with a TTL left: avg_ttl reads 0, as Redis's.
    assert_eq!(c.q("FLUSHALL"), Reply::ok());
    assert_eq!(c.q("SET plain v"), Reply::ok());
    assert_eq!(
        info(&mut c, "keyspace", "db0"),
        "keys=1,expires=0,avg_ttl=0"
    );
    // And no cycle walks the stripes for nothing: the CPU they cost stops
    // (it was ~20 ms per second on an idle server, whose keys lacked TTLs).
    let spent = |c: &mut Client| info(c, "stats", "expire_cycle_cpu_milliseconds");
    let before = spent(&mut c);
    let uptime =
        |c: &mut Client| -> u64 { info(c, "server", "uptime_in_seconds").parse().unwrap() };
    let start = uptime(&mut c);
    wait_until("two seconds of cron ticks", Duration::from_secs(10), || {
        uptime(&mut c) >= start + 2
    });
    assert_eq!(spent(&mut c), before);
}

/// QUIT answers +OK and closes the connection.
fn quit(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    c.send_raw(b"*1\r\n$4\r\nQUIT\r\nPING\r\n").unwrap();
    assert_eq!(c.read_reply(), Reply::ok());
    assert!(
        c.is_closed_by_peer(),
        "QUIT must close; nothing after it is answered"
    );
}

/// Invalid configuration: the binary exits non-zero and says why.
fn invalid_config_exits(threads: usize) {
    let threads = threads.to_string();
    let bin = common::sluice_bin();
    let timeout = Duration::from_secs(10);
    let cases: &[(&[&str], &str)] = &[
        (
            &["--port", "notanumber"],
            "argument couldn't be parsed into an integer",
        ),
        (
            &["--port", "70000"],
            "argument must be between 0 and 65535 inclusive",
        ),
        (
            &["--nosuchdirective", "1"],
            "Bad directive or wrong number of arguments",
        ),
    ];
    for (args, reason) in cases {
        let mut argv = vec!["--server-threads", threads.as_str(), "--bind", "127.0.0.1"];
        argv.extend_from_slice(args);
        let (status, output) = run_to_exit(bin, &argv, timeout);
        assert!(
            !status.success(),
            "{args:?} must fail, exited with {status}:\n{output}"
        );
        assert!(
            output.contains(reason),
            "{args:?}: output must contain {reason:?}:\n{output}"
        );
    }
    // The same error from a config file.
    let dir = std::env::temp_dir().join(format!("sluice-badconf-{}-{threads}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("bad.conf");
    std::fs::write(&conf, "# comment\nport 70000\n").unwrap();
    let conf_str = conf.to_str().unwrap();
    let (status, output) = run_to_exit(bin, &[conf_str, "--server-threads", &threads], timeout);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!status.success(), "bad config file must fail:\n{output}");
    assert!(
        output.contains("argument must be between 0 and 65535 inclusive"),
        "{output}"
    );
}
