//! Differential test for the hash commands: sluice-server must answer like
//! redis-server 7.0.
//!
//! Method:
//! 1. Start a real `redis-server` and `sluice-server` (server-threads 1 and
//!    2, as separate tests) with small listpack limits (set by CONFIG SET
//!    on both, so conversions to `hashtable` happen within a few commands).
//! 2. Send [`STEPS`] seeded random commands (seed printed; replay with
//!    `SLUICE_SEED=<n>`) over a small key space: a few hash keys, a string
//!    key (for WRONGTYPE) and missing keys, with bad arguments mixed in, and
//!    now and then a HELLO 2/3 switch, a MULTI/EXEC of exact-reply hash
//!    commands, or a keyspace command (RENAME, COPY, EXPIRE...) on them.
//! 3. Compare replies:
//!    - byte-identical for most commands;
//!    - HGETALL/HKEYS/HVALS: exact while the hash is a listpack (insertion
//!      order), as sets of pairs/elements once it is a hashtable;
//!    - HSCAN: a full iteration on each server, compared as sets of pairs
//!      (the first reply exactly while the hash is a listpack);
//!    - HRANDFIELD: errors and empty replies exactly, otherwise by property
//!      (size, distinctness for a positive count, members of the hash,
//!      values matching with WITHVALUES).
//! 4. At the end compare every key's type, encoding and contents.
mod common;

use common::{Client, Reply, Rng};
use std::collections::{BTreeMap, BTreeSet};

const STEPS: usize = 2000;
const HASH_KEYS: &[&str] = &["h0", "h1", "h2", "h3", "{h}4"];
const STRING_KEY: &str = "str";

#[test]
fn diff_hash_threads_1() {
    run(1);
}

#[test]
fn diff_hash_threads_2() {
    run(2);
}

fn run(threads: usize) {
    let Some(common::DiffRun {
        mut rng,
        seed,
        redis,
        sluice,
    }) = common::diff_run(threads)
    else {
        return;
    };
    let mut p = Pair {
        events: common::key_events(&redis, &sluice),
        r: redis.client(),
        s: sluice.client(),
        resp3: false,
        seed,
        step: 0,
        kinds: BTreeMap::new(),
    };
    let entries = rng.pick(&["4", "8", "16"]).to_string();
    let value = rng.pick(&["8", "16", "64"]).to_string();
    for cmd in [
        vec![
            "CONFIG",
            "SET",
            "hash-max-listpack-entries",
            entries.as_str(),
        ],
        vec!["CONFIG", "SET", "hash-max-listpack-value", value.as_str()],
        vec!["SET", STRING_KEY, "text"],
    ] {
        p.exact(&owned(&cmd));
    }
    for step in 0..STEPS {
        p.step = step;
        if rng.chance(2) {
            // A transaction of exact-reply hash writes and reads.
            p.exact(&owned(&["MULTI"]));
            for _ in 0..1 + rng.below(4) {
                p.exact(&gen_exact(&mut rng));
            }
            p.exact(&owned(&[if rng.chance(90) { "EXEC" } else { "DISCARD" }]));
        } else if rng.chance(4) {
            p.exact(&gen_generic(&mut rng));
        } else {
            let cmd = gen(&mut rng);
            p.check(&cmd);
        }
    }
    for key in HASH_KEYS.iter().chain(&[STRING_KEY, "missing"]) {
        for cmd in [vec!["TYPE", key], vec!["OBJECT", "ENCODING", key]] {
            p.exact(&owned(&cmd));
        }
        p.getall_compare(&owned(&["HGETALL", key]), true);
    }
    eprintln!(
        "diff_hash (threads {threads}): {STEPS} steps identical, seed={seed}, kinds {:?}",
        p.kinds
    );
}

fn owned(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

struct Pair {
    /// Keyspace notifications of both, compared after every command.
    events: common::KeyEvents,
    r: Client,
    s: Client,
    resp3: bool,
    seed: u64,
    step: usize,
    /// Replies seen from redis by kind, printed at the end to show that the
    /// generator reaches more than error paths.
    kinds: BTreeMap<&'static str, usize>,
}

fn show(cmd: &[Vec<u8>]) -> String {
    cmd.iter()
        .map(|a| common::escape(a))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Pair {
    fn both(&mut self, cmd: &[Vec<u8>]) -> (Reply, Reply) {
        let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
        let r = self.r.cmd(&args);
        let kind = match &r {
            Reply::Error(_) => "error",
            Reply::Bulk(Some(b)) if b == b"hashtable" => "hashtable",
            Reply::Array(Some(a)) | Reply::Set(a) if !a.is_empty() => "array",
            Reply::Map(m) if !m.is_empty() => "map",
            _ => "other",
        };
        *self.kinds.entry(kind).or_default() += 1;
        let s = self.s.cmd(&args);
        let (seed, step) = (self.seed, self.step);
        self.events
            .assert_same(|| format!("seed={seed} step {step}: {}", show(cmd)));
        (r, s)
    }

    fn fail(&self, cmd: &[Vec<u8>], what: &str, r: &Reply, s: &Reply) -> ! {
        panic!(
            "seed={} step {} resp3={}: {} differs for `{}`\n redis:  {r}\n sluice: {s}",
            self.seed,
            self.step,
            self.resp3,
            what,
            show(cmd)
        );
    }

    fn exact(&mut self, cmd: &[Vec<u8>]) -> Reply {
        let (r, s) = self.both(cmd);
        if r != s {
            self.fail(cmd, "reply", &r, &s);
        }
        r
    }

    /// redis's encoding of `key` (OBJECT ENCODING does not touch the key).
    fn redis_encoding(&mut self, key: &[u8]) -> Reply {
        self.r.cmd(&[b"OBJECT", b"ENCODING", key])
    }

    fn check(&mut self, cmd: &[Vec<u8>]) {
        let name = String::from_utf8_lossy(&cmd[0]).to_ascii_lowercase();
        match name.as_str() {
            "hello" => {
                let (r, s) = self.both(cmd);
                if r.is_error() != s.is_error() {
                    self.fail(cmd, "HELLO outcome", &r, &s);
                }
                if !r.is_error() {
                    self.resp3 = cmd[1] == b"3";
                }
            }
            "hgetall" | "hkeys" | "hvals" => {
                let listpack = self.redis_encoding(&cmd[1]) == Reply::bulk("listpack");
                self.getall_compare(cmd, !listpack);
            }
            "hscan" => self.scan_compare(cmd),
            "hrandfield" => self.randfield_compare(cmd),
            _ => {
                self.exact(cmd);
            }
        }
    }

    fn getall_compare(&mut self, cmd: &[Vec<u8>], unordered: bool) {
        let (r, s) = self.both(cmd);
        let same = if unordered && !r.is_error() {
            pairs_or_items(&cmd[0], &r) == pairs_or_items(&cmd[0], &s)
                && std::mem::discriminant(&r) == std::mem::discriminant(&s)
        } else {
            r == s
        };
        if !same {
            self.fail(cmd, "reply", &r, &s);
        }
    }

    /// Full HSCAN iteration on each server, compared as sets of pairs.
    fn scan_compare(&mut self, cmd: &[Vec<u8>]) {
        let listpack = self.redis_encoding(&cmd[1]) == Reply::bulk("listpack");
        let (r, s) = self.both(cmd);
        if !listpack && !r.is_error() && cmd[2] != b"0" {
            // Redis resumes a hashtable scan in its own bucket order: only
            // the outcome is comparable.
            if s.is_error() {
                self.fail(cmd, "HSCAN outcome", &r, &s);
            }
            return;
        }
        if r.is_error() || s.is_error() || listpack {
            if r != s {
                self.fail(cmd, "HSCAN reply", &r, &s);
            }
            return;
        }
        let all_r = scan_rest(&mut self.r, cmd, &r);
        let all_s = scan_rest(&mut self.s, cmd, &s);
        if all_r != all_s {
            self.fail(cmd, "HSCAN iteration", &r, &s);
        }
    }

    fn randfield_compare(&mut self, cmd: &[Vec<u8>]) {
        let (r, s) = self.both(cmd);
        let simple = |x: &Reply| {
            x.is_error()
                || matches!(x, Reply::Bulk(None) | Reply::Null)
                || *x == Reply::array(vec![])
        };
        if simple(&r) || simple(&s) {
            if r != s {
                self.fail(cmd, "HRANDFIELD reply", &r, &s);
            }
            return;
        }
        let contents = hash_map(&self.r.cmd(&[b"HGETALL", &cmd[1]]));
        for (reply, who) in [(&r, "redis"), (&s, "sluice")] {
            if let Err(why) = randfield_ok(cmd, reply, &contents, self.resp3) {
                panic!(
                    "seed={} step {}: HRANDFIELD from {who} wrong ({why}) for `{}`: {reply}",
                    self.seed,
                    self.step,
                    show(cmd)
                );
            }
        }
    }
}

/// The remaining HSCAN calls from `first`'s cursor; all pairs seen.
fn scan_rest(c: &mut Client, cmd: &[Vec<u8>], first: &Reply) -> BTreeSet<(Vec<u8>, Vec<u8>)> {
    let mut seen = BTreeSet::new();
    let mut reply = first.clone();
    for _ in 0..10_000 {
        let items = reply.as_array();
        let cursor = items[0].as_bytes().to_vec();
        for pair in items[1].as_array().chunks(2) {
            seen.insert((pair[0].as_bytes().to_vec(), pair[1].as_bytes().to_vec()));
        }
        if cursor == b"0" {
            return seen;
        }
        let mut next: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
        next[2] = &cursor;
        reply = c.cmd(&next);
    }
    panic!("HSCAN did not finish");
}

/// HGETALL (map or flat array) as field -> value.
fn hash_map(reply: &Reply) -> BTreeMap<Vec<u8>, Vec<u8>> {
    match reply {
        Reply::Map(entries) => entries
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
        Reply::Array(Some(items)) => items
            .chunks(2)
            .map(|p| (p[0].as_bytes().to_vec(), p[1].as_bytes().to_vec()))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// An order-free form of an HGETALL/HKEYS/HVALS reply.
fn pairs_or_items(name: &[u8], reply: &Reply) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v: Vec<(Vec<u8>, Vec<u8>)> = if name.eq_ignore_ascii_case(b"hgetall") {
        hash_map(reply).into_iter().collect()
    } else {
        reply
            .as_array()
            .iter()
            .map(|x| (x.as_bytes().to_vec(), Vec::new()))
            .collect()
    };
    v.sort();
    v
}

fn randfield_ok(
    cmd: &[Vec<u8>],
    reply: &Reply,
    contents: &BTreeMap<Vec<u8>, Vec<u8>>,
    resp3: bool,
) -> Result<(), String> {
    if cmd.len() == 2 {
        let field = reply.as_bytes();
        return if contents.contains_key(field) {
            Ok(())
        } else {
            Err("not a field".into())
        };
    }
    let count: i64 = String::from_utf8_lossy(&cmd[2])
        .parse()
        .map_err(|_| "count")?;
    let withvalues = cmd.len() == 4;
    let items = reply.as_array();
    let picks: Vec<(Vec<u8>, Option<Vec<u8>>)> = if withvalues && resp3 {
        items
            .iter()
            .map(|p| {
                let p = p.as_array();
                (p[0].as_bytes().to_vec(), Some(p[1].as_bytes().to_vec()))
            })
            .collect()
    } else if withvalues {
        items
            .chunks(2)
            .map(|p| (p[0].as_bytes().to_vec(), Some(p[1].as_bytes().to_vec())))
            .collect()
    } else {
        items
            .iter()
            .map(|x| (x.as_bytes().to_vec(), None))
            .collect()
    };
    let expected = if count < 0 {
        count.unsigned_abs() as usize
    } else {
        (count as usize).min(contents.len())
    };
    if picks.len() != expected {
        return Err(format!("{} picks, expected {expected}", picks.len()));
    }
    for (field, value) in &picks {
        let Some(real) = contents.get(field) else {
            return Err("not a field".into());
        };
        if value.as_ref().is_some_and(|v| v != real) {
            return Err("wrong value".into());
        }
    }
    if count > 0 {
        let distinct: BTreeSet<_> = picks.iter().map(|(f, _)| f).collect();
        if distinct.len() != picks.len() {
            return Err("repeats with a positive count".into());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------

fn key(rng: &mut Rng) -> Vec<u8> {
    match rng.below(20) {
        0 => STRING_KEY.into(),
        1 => b"missing".to_vec(),
        _ => rng.pick(HASH_KEYS).as_bytes().to_vec(),
    }
}

fn field(rng: &mut Rng) -> Vec<u8> {
    match rng.below(30) {
        0 => vec![b'F'; 17 + rng.below(60) as usize],
        1 => Vec::new(),
        2 => b"bin\x00\r\n".to_vec(),
        _ => format!("f{}", rng.below(12)).into_bytes(),
    }
}

fn value(rng: &mut Rng) -> Vec<u8> {
    let v = match rng.below(14) {
        0 => "x".repeat(9 + rng.below(70) as usize),
        1 => String::new(),
        2 => "abc".into(),
        3 => format!("{}.{}", rng.range(-100, 100), rng.below(1000)),
        4 => rng
            .pick(&[
                "9223372036854775807",
                "-9223372036854775808",
                "1e10",
                "inf",
                " 1",
                "007",
            ])
            .to_string(),
        5 => format!("{}", rng.next_u64() as i64),
        _ => format!("{}", rng.range(-50, 50)),
    };
    v.into_bytes()
}

fn incr_int(rng: &mut Rng) -> Vec<u8> {
    match rng.below(12) {
        0 => b"x".to_vec(),
        1 => b"1.5".to_vec(),
        2 => b"9223372036854775807".to_vec(),
        3 => b"-9223372036854775808".to_vec(),
        _ => rng.range(-100, 100).to_string().into_bytes(),
    }
}

fn incr_float(rng: &mut Rng) -> Vec<u8> {
    match rng.below(14) {
        0 => b"x".to_vec(),
        1 => b"inf".to_vec(),
        2 => b"-inf".to_vec(),
        3 => b"nan".to_vec(),
        4 => b"1e308".to_vec(),
        5 => b" 1".to_vec(),
        6 => b"0x10".to_vec(),
        7 => b"1e-5".to_vec(),
        _ => format!("{}.{}", rng.range(-20, 20), rng.below(100)).into_bytes(),
    }
}

fn count_arg(rng: &mut Rng) -> Vec<u8> {
    match rng.below(12) {
        0 => b"x".to_vec(),
        1 => b"-9223372036854775808".to_vec(),
        2 => b"9223372036854775807".to_vec(),
        3 => b"0".to_vec(),
        _ => rng.range(-25, 25).to_string().into_bytes(),
    }
}

/// A command whose reply is deterministic and the same on both servers.
fn gen_exact(rng: &mut Rng) -> Vec<Vec<u8>> {
    loop {
        let cmd = gen(rng);
        let name = String::from_utf8_lossy(&cmd[0]).to_ascii_uppercase();
        if !["HGETALL", "HKEYS", "HVALS", "HSCAN", "HRANDFIELD", "HELLO"].contains(&name.as_str()) {
            return cmd;
        }
    }
}

/// Keyspace commands on hash keys: they must carry hashes intact.
fn gen_generic(rng: &mut Rng) -> Vec<Vec<u8>> {
    let (a, b) = (key(rng), key(rng));
    let mut c = match rng.below(5) {
        0 => vec![b"RENAME".to_vec(), a, b],
        1 => vec![b"COPY".to_vec(), a, b, b"REPLACE".to_vec()],
        2 => vec![b"EXPIRE".to_vec(), a, b"100000".to_vec()],
        3 => vec![b"PERSIST".to_vec(), a],
        _ => vec![b"TYPE".to_vec(), a],
    };
    if c[0] == b"RENAME" && c[2] == STRING_KEY.as_bytes() {
        // Keep the string key around for WRONGTYPE.
        c[0] = b"COPY".to_vec();
        c[2] = b"h0".to_vec();
    }
    c
}

fn pick(rng: &mut Rng, items: &[&str]) -> Vec<u8> {
    rng.pick(items).as_bytes().to_vec()
}

fn gen(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut c: Vec<Vec<u8>> = Vec::new();
    let push = |c: &mut Vec<Vec<u8>>, a: &[u8]| c.push(a.to_vec());
    let k = key(rng);
    match rng.below(100) {
        0..=19 => {
            push(&mut c, if rng.chance(80) { b"HSET" } else { b"HMSET" });
            push(&mut c, &k);
            for _ in 0..1 + rng.below(4) {
                c.push(field(rng));
                c.push(value(rng));
            }
            if rng.chance(5) {
                c.pop();
            }
        }
        20..=24 => {
            push(&mut c, b"HSETNX");
            c.extend([k, field(rng), value(rng)]);
        }
        25..=31 => {
            push(&mut c, b"HDEL");
            c.push(k);
            for _ in 0..1 + rng.below(4) {
                c.push(field(rng));
            }
        }
        32..=37 => {
            push(&mut c, b"HGET");
            c.extend([k, field(rng)]);
        }
        38..=41 => {
            push(&mut c, b"HMGET");
            c.push(k);
            for _ in 0..1 + rng.below(4) {
                c.push(field(rng));
            }
        }
        42..=44 => c.extend([b"HLEN".to_vec(), k]),
        45..=47 => {
            c.push(pick(rng, &["HEXISTS", "HSTRLEN"]));
            c.extend([k, field(rng)]);
        }
        48..=55 => {
            c.push(pick(rng, &["HGETALL", "HKEYS", "HVALS"]));
            c.push(k);
        }
        56..=63 => {
            push(&mut c, b"HINCRBY");
            c.extend([k, field(rng), incr_int(rng)]);
        }
        64..=71 => {
            push(&mut c, b"HINCRBYFLOAT");
            c.extend([k, field(rng), incr_float(rng)]);
        }
        72..=81 => {
            push(&mut c, b"HRANDFIELD");
            c.push(k);
            if rng.chance(80) {
                c.push(count_arg(rng));
                if rng.chance(50) {
                    c.push(pick(rng, &["WITHVALUES", "withvalues", "WITHVALUE"]));
                }
                if rng.chance(3) {
                    push(&mut c, b"extra");
                }
            }
        }
        82..=89 => {
            push(&mut c, b"HSCAN");
            c.push(k);
            c.push(pick(rng, &["0", "0", "0", "x", "-1", ""]));
            if rng.chance(40) {
                push(&mut c, b"COUNT");
                c.push(pick(rng, &["1", "2", "5", "0", "x", "100"]));
            }
            if rng.chance(40) {
                push(&mut c, b"MATCH");
                c.push(pick(rng, &["f1*", "*", "f?", "[a-f]*", "nomatch"]));
            }
            if rng.chance(3) {
                c.push(pick(rng, &["TYPE", "COUNT", "bogus"]));
            }
        }
        90..=93 if k == STRING_KEY.as_bytes() => {
            c.extend(owned(&["SET", STRING_KEY, "text"]));
        }
        90..=93 => {
            c.extend([b"DEL".to_vec(), k]);
        }
        94..=95 => {
            push(&mut c, b"HELLO");
            c.push(pick(rng, &["2", "3"]));
        }
        96..=97 => {
            c.extend([b"OBJECT".to_vec(), b"ENCODING".to_vec(), k]);
        }
        _ => {
            // Wrong arity.
            c.push(pick(rng, &["HGET", "HSET", "HLEN", "HINCRBY", "HSCAN"]));
            c.push(k);
        }
    }
    c
}
