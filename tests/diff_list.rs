//! Differential test for the list commands: sluice-server must answer
//! exactly like redis-server 7.0.
//!
//! Goal: any sequence of list commands (with string keys mixed in for
//! WRONGTYPE, and bad arguments) gets byte-identical replies from both
//! servers, in RESP2 and RESP3.
//!
//! Method:
//! 1. Start a real `redis-server` and `sluice-server` (server-threads 1 and
//!    2, as separate tests), each on its own loopback port.
//! 2. Generate [`STEPS`] commands from a seeded [`Rng`] (seed printed;
//!    replay with `SLUICE_SEED=<n>`) over a small key space (a few list
//!    keys, two of them sharing a hash tag, and string keys), sometimes as
//!    pipelines, sometimes switching protocol with HELLO (whose reply holds
//!    the connection id and is not compared) or changing
//!    list-max-listpack-size so node boundaries move; some pipelines are
//!    MULTI ... EXEC transactions.
//! 3. Compare raw reply bytes. No list command replies in a random or
//!    unspecified order, so every comparison is exact.
//! 4. At the end compare every key's TYPE, OBJECT ENCODING and contents.
mod common;

use common::{encode_command, escape, Client, Rng};
use std::collections::VecDeque;

/// Commands per run.
const STEPS: usize = 2000;

const LIST_KEYS: &[&str] = &["l1", "l2", "l3", "{t}a", "{t}b"];
const STRING_KEYS: &[&str] = &["s1", "{t}s"];

#[test]
fn diff_list_threads_1() {
    run_diff(1);
}

#[test]
fn diff_list_threads_2() {
    run_diff(2);
}

fn run_diff(threads: usize) {
    let Some(common::DiffRun {
        mut rng,
        seed,
        redis,
        sluice,
    }) = common::diff_run(threads)
    else {
        return;
    };
    let mut pair = Pair {
        events: common::key_events(&redis, &sluice),
        redis: redis.client(),
        sluice: sluice.client(),
        seed,
        threads,
        history: VecDeque::new(),
        errors: 0,
    };
    let mut sent = 0;
    while sent < STEPS {
        if rng.chance(3) {
            let proto = if rng.chance(50) { "3" } else { "2" };
            pair.unchecked(&["HELLO".into(), proto.into()]);
            continue;
        }
        if rng.chance(2) {
            let fill = *rng.pick(&["-2", "-1", "1", "3", "0"]);
            pair.unchecked(&[
                "CONFIG".into(),
                "SET".into(),
                "list-max-listpack-size".into(),
                fill.into(),
            ]);
            continue;
        }
        if rng.chance(10) {
            let mut cmds: Vec<Vec<Vec<u8>>> =
                (0..rng.range(2, 6)).map(|_| command(&mut rng)).collect();
            // Sometimes as a transaction: errors raised while queueing
            // (wrong arity) abort it, runtime errors don't.
            if rng.chance(30) {
                cmds.insert(0, vec![b"MULTI".to_vec()]);
                cmds.push(vec![b"EXEC".to_vec()]);
            }
            pair.check_pipeline(&cmds);
            sent += cmds.len();
        } else {
            pair.check_pipeline(&[command(&mut rng)]);
            sent += 1;
        }
    }
    pair.unchecked(&["HELLO".into(), "2".into()]);
    let mut keys: Vec<&str> = LIST_KEYS.to_vec();
    keys.extend(STRING_KEYS);
    for key in keys {
        for cmd in [
            vec!["TYPE", key],
            vec!["OBJECT", "ENCODING", key],
            vec!["LRANGE", key, "0", "-1"],
            vec!["GET", key],
        ] {
            let cmd: Vec<Vec<u8>> = cmd.iter().map(|a| a.as_bytes().to_vec()).collect();
            pair.check_pipeline(&[cmd]);
        }
    }
    // Sanity check of the generator: the lists did grow.
    let lengths: Vec<i64> = LIST_KEYS
        .iter()
        .map(|k| match pair.redis.cmd_str(&["LLEN", k]) {
            common::Reply::Int(n) => n,
            _ => -1,
        })
        .collect();
    eprintln!(
        "diff_list (server-threads {threads}): {sent} commands identical ({} errors), \
         final lengths {lengths:?}, seed={seed}",
        pair.errors
    );
}

struct Pair {
    /// Keyspace notifications of both, compared after every step.
    events: common::KeyEvents,
    redis: Client,
    sluice: Client,
    seed: u64,
    threads: usize,
    /// The last commands with redis's replies, for failure reports.
    history: VecDeque<(String, String)>,
    /// Error replies seen, printed as a sanity check of the generator.
    errors: usize,
}

fn show(cmd: &[Vec<u8>]) -> String {
    cmd.iter()
        .map(|a| {
            if a.len() > 40 {
                format!("\"{}...\"({}B)", escape(&a[..20]), a.len())
            } else {
                format!("\"{}\"", escape(a))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Pair {
    /// Sends `args` to both servers and reads both replies without
    /// comparing them (HELLO holds the connection id).
    fn unchecked(&mut self, args: &[String]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.redis.send(&args);
        self.sluice.send(&args);
        let r = self.redis.read_reply();
        let s = self.sluice.read_reply();
        assert_eq!(r.is_error(), s.is_error(), "{args:?}: {r} vs {s}");
    }

    fn check_pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) {
        let mut wire = Vec::new();
        for cmd in cmds {
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
            wire.extend(encode_command(&args));
        }
        self.redis.send_raw(&wire).expect("write to redis");
        self.sluice.send_raw(&wire).expect("write to sluice");
        for cmd in cmds {
            let (r, r_raw) = self.redis.read_reply_with_raw();
            let (s, s_raw) = self.sluice.read_reply_with_raw();
            if r.is_error() {
                self.errors += 1;
            }
            if r_raw != s_raw {
                let history: String = self
                    .history
                    .iter()
                    .map(|(c, r)| format!("  {c}\n    -> {r}\n"))
                    .collect();
                panic!(
                    "replies differ (server-threads {}, seed={}; replay with SLUICE_SEED={})\n\
                     command: {}\nredis:  {r}\n        raw \"{}\"\nsluice: {s}\n        raw \"{}\"\n\
                     last commands (with redis's replies):\n{history}",
                    self.threads,
                    self.seed,
                    self.seed,
                    show(cmd),
                    escape(&r_raw),
                    escape(&s_raw),
                );
            }
            if self.history.len() == 20 {
                self.history.pop_front();
            }
            let mut reply = r.to_string();
            if reply.len() > 300 {
                let cut = (0..=300)
                    .rev()
                    .find(|&i| reply.is_char_boundary(i))
                    .unwrap_or(0);
                reply = format!("{}... ({} chars)", &reply[..cut], reply.len());
            }
            self.history.push_back((show(cmd), reply));
        }
        let (seed, threads, history) = (self.seed, self.threads, &self.history);
        self.events.assert_same(|| {
            let shown: Vec<String> = history.iter().map(|(c, _)| format!("  {c}")).collect();
            format!(
                "server-threads {threads}, seed={seed}, after:\n{}",
                shown.join("\n")
            )
        });
    }
}

// ---------------------------------------------------------------------------
// Generator

fn key(rng: &mut Rng) -> String {
    if rng.chance(12) {
        rng.pick(STRING_KEYS).to_string()
    } else if rng.chance(5) {
        "missing".into()
    } else {
        rng.pick(LIST_KEYS).to_string()
    }
}

fn element(rng: &mut Rng) -> Vec<u8> {
    match rng.below(20) {
        0 => Vec::new(),
        1 => b"a\x00b\r\n".to_vec(),
        2 => vec![b'x'; 150],
        3 if rng.chance(20) => vec![b'y'; 20_000],
        4 => rng
            .range(i64::MIN / 2, i64::MAX / 2)
            .to_string()
            .into_bytes(),
        5 => b"007".to_vec(),
        6 => b"-0".to_vec(),
        7..=10 => rng.range(-3, 20).to_string().into_bytes(),
        _ => rng.pick(&["a", "b", "c", "d", "e"]).as_bytes().to_vec(),
    }
}

/// An index or count argument: mostly small, sometimes extreme or invalid.
fn number(rng: &mut Rng) -> String {
    match rng.below(20) {
        0 => "x".into(),
        1 => "1.5".into(),
        2 => i64::MIN.to_string(),
        3 => i64::MAX.to_string(),
        4 => "".into(),
        _ => rng.range(-8, 8).to_string(),
    }
}

fn end(rng: &mut Rng) -> String {
    rng.pick(&["LEFT", "right", "Left", "RIGHT", "up"])
        .to_string()
}

fn command(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut args: Vec<Vec<u8>> = Vec::new();
    fn s(v: &str) -> Vec<u8> {
        v.as_bytes().to_vec()
    }
    let name = *rng.pick(&[
        "LPUSH",
        "RPUSH",
        "LPUSH",
        "RPUSH",
        "LPUSH",
        "RPUSH",
        "RPUSH",
        "LPUSHX",
        "RPUSHX",
        "LPOP",
        "RPOP",
        "LLEN",
        "LRANGE",
        "LRANGE",
        "LINDEX",
        "LSET",
        "LREM",
        "LTRIM",
        "LINSERT",
        "LPOS",
        "LPOS",
        "RPOPLPUSH",
        "LMOVE",
        "LMPOP",
        "SET",
        "DEL",
    ]);
    args.push(s(name));
    match name {
        "LPUSH" | "RPUSH" | "LPUSHX" | "RPUSHX" => {
            args.push(s(&key(rng)));
            let lo = if rng.chance(3) { 0 } else { 1 };
            for _ in 0..rng.range(lo, 8) {
                args.push(element(rng));
            }
        }
        "LPOP" | "RPOP" => {
            args.push(s(&key(rng)));
            if rng.chance(50) {
                args.push(s(&number(rng)));
            }
            if rng.chance(3) {
                args.push(s("1"));
            }
        }
        "LLEN" => args.push(s(&key(rng))),
        "LRANGE" | "LTRIM" => {
            args.push(s(&key(rng)));
            args.push(s(&number(rng)));
            args.push(s(&number(rng)));
        }
        "LINDEX" => {
            args.push(s(&key(rng)));
            args.push(s(&number(rng)));
        }
        "LSET" => {
            args.push(s(&key(rng)));
            args.push(s(&number(rng)));
            args.push(element(rng));
        }
        "LREM" => {
            args.push(s(&key(rng)));
            args.push(s(&number(rng)));
            args.push(element(rng));
        }
        "LINSERT" => {
            args.push(s(&key(rng)));
            args.push(s(rng.pick::<&str>(&["BEFORE", "after", "middle"])));
            args.push(element(rng));
            args.push(element(rng));
        }
        "LPOS" => {
            args.push(s(&key(rng)));
            args.push(element(rng));
            for _ in 0..rng.below(4) {
                args.push(s(rng.pick::<&str>(&[
                    "RANK", "COUNT", "MAXLEN", "rank", "count", "FOO",
                ])));
                if rng.chance(95) {
                    args.push(s(&number(rng)));
                }
            }
        }
        "RPOPLPUSH" => {
            args.push(s(&key(rng)));
            args.push(s(&key(rng)));
        }
        "LMOVE" => {
            args.push(s(&key(rng)));
            args.push(s(&key(rng)));
            args.push(s(&end(rng)));
            args.push(s(&end(rng)));
        }
        "LMPOP" => {
            let n = rng.range(1, 4);
            let numkeys = if rng.chance(90) {
                n.to_string()
            } else {
                number(rng)
            };
            args.push(s(&numkeys));
            for _ in 0..n {
                args.push(s(&key(rng)));
            }
            if rng.chance(95) {
                args.push(s(&end(rng)));
            }
            if rng.chance(50) {
                args.push(s(rng.pick::<&str>(&["COUNT", "count", "BAR"])));
                if rng.chance(90) {
                    args.push(s(&number(rng)));
                }
            }
        }
        "SET" => {
            args.push(s(rng.pick::<&str>(STRING_KEYS)));
            args.push(element(rng));
        }
        _ => args.push(s(&key(rng))),
    }
    args
}
