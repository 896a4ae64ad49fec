//! Differential test for the stream commands: sluice-server must answer like
//! redis-server 7.0.
//!
//! Method:
//! 1. Start a real `redis-server` and `sluice-server` (server-threads 1 and
//!    2, as separate tests) with small stream nodes (`stream-node-max-entries`
//!    and `-bytes` set by CONFIG SET on both), so entries spread over many
//!    nodes and approximate trims, tombstones and emptied nodes happen
//!    within a few commands.
//! 2. Send [`STEPS`] seeded random commands (seed printed; replay with
//!    `SLUICE_SEED=<n>`) over a few stream keys, a string key (WRONGTYPE)
//!    and missing keys: XADD (explicit and `ms-*` IDs, MAXLEN/MINID with
//!    = and ~, LIMIT, NOMKSTREAM), XRANGE/XREVRANGE (exclusive bounds,
//!    COUNT), XLEN, XDEL, XTRIM, XREAD, XGROUP (every subcommand),
//!    XREADGROUP (new and history, NOACK), XACK, XPENDING, XCLAIM,
//!    XAUTOCLAIM, XINFO, XSETID, with bad arguments mixed in, MULTI/EXEC
//!    blocks, HELLO 2/3 switches and keyspace commands on the keys.
//! 3. Compare replies byte for byte, except the fields that hold a clock
//!    reading (idle times and delivery/seen times, which differ by the
//!    milliseconds between the two servers): those are zeroed on both
//!    sides first. `*` IDs are left to `tests/stream.rs` for the same
//!    reason.
//! 4. At the end compare every key's type, entries and XINFO STREAM FULL.
mod common;

use common::{Client, Reply, Rng};
use std::collections::BTreeMap;

const STEPS: usize = 3000;
const KEYS: &[&str] = &["s0", "s1", "{s}2"];
const STRING_KEY: &str = "str";
const GROUPS: &[&str] = &["g1", "g2"];
const CONSUMERS: &[&str] = &["c1", "c2", "c3"];
const FIELDS: &[&str] = &["a", "b", "c", "1", "22"];

#[test]
fn diff_stream_threads_1() {
    run(1);
}

#[test]
fn diff_stream_threads_2() {
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
    let entries = rng.pick(&["3", "5", "10", "100"]).to_string();
    let bytes = rng.pick(&["0", "60", "200", "4096"]).to_string();
    for cmd in [
        vec!["CONFIG", "SET", "stream-node-max-entries", entries.as_str()],
        vec!["CONFIG", "SET", "stream-node-max-bytes", bytes.as_str()],
        vec!["SET", STRING_KEY, "text"],
    ] {
        p.exact(&owned(&cmd));
    }
    let mut g = Gen { clock: 1 };
    for step in 0..STEPS {
        p.step = step;
        if rng.chance(3) {
            p.exact(&owned(&["MULTI"]));
            let mut queued = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let cmd = g.command(&mut rng);
                p.exact(&cmd);
                queued.push(cmd);
            }
            let cmd = owned(&[if rng.chance(90) { "EXEC" } else { "DISCARD" }]);
            p.check_exec(&cmd, &queued);
        } else if rng.chance(2) {
            let hello = owned(&["HELLO", if rng.chance(50) { "3" } else { "2" }]);
            let (r, s) = p.both(&hello);
            if r.is_error() != s.is_error() {
                p.fail(&hello, "HELLO outcome", &r, &s);
            }
            p.resp3 = hello[1] == b"3";
        } else if rng.chance(4) {
            let cmd = g.generic(&mut rng);
            p.exact(&cmd);
        } else {
            let cmd = g.command(&mut rng);
            p.check(&cmd);
        }
    }
    for key in KEYS.iter().chain(&[STRING_KEY, "missing"]) {
        for cmd in [
            vec!["TYPE", key],
            vec!["OBJECT", "ENCODING", key],
            vec!["XRANGE", key, "-", "+"],
        ] {
            p.exact(&owned(&cmd));
        }
        p.check(&owned(&["XINFO", "STREAM", key, "FULL", "COUNT", "0"]));
    }
    eprintln!(
        "diff_stream (threads {threads}): {STEPS} steps identical, seed={seed}, node entries {entries} bytes {bytes}, kinds {:?}",
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
    /// Replies from redis by kind, printed at the end to show the generator
    /// reaches more than error paths.
    kinds: BTreeMap<&'static str, usize>,
}

fn show(cmd: &[Vec<u8>]) -> String {
    cmd.iter()
        .map(|a| common::escape(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Milliseconds-since-epoch readings (delivery and seen times).
fn is_clock(n: i64) -> bool {
    n > 1_000_000_000_000
}

/// Zeroes clock readings anywhere in a reply.
fn zero_clocks(r: &Reply) -> Reply {
    match r {
        Reply::Int(n) if is_clock(*n) => Reply::Int(0),
        Reply::Array(Some(items)) => Reply::Array(Some(items.iter().map(zero_clocks).collect())),
        Reply::Set(items) => Reply::Set(items.iter().map(zero_clocks).collect()),
        Reply::Map(pairs) => Reply::Map(
            pairs
                .iter()
                .map(|(k, v)| (zero_clocks(k), zero_clocks(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Zeroes XPENDING's idle times (third of each entry's four fields) and
/// XINFO CONSUMERS' `idle` values.
fn zero_idle(cmd: &[Vec<u8>], r: &Reply) -> Reply {
    let name = String::from_utf8_lossy(&cmd[0]).to_ascii_lowercase();
    let Reply::Array(Some(items)) = r else {
        return r.clone();
    };
    let fixed = items
        .iter()
        .map(|item| match item {
            Reply::Array(Some(f)) if name == "xpending" && f.len() == 4 => {
                let mut f = f.clone();
                f[2] = Reply::Int(0);
                Reply::Array(Some(f))
            }
            Reply::Map(pairs) => Reply::Map(
                pairs
                    .iter()
                    .map(|(k, v)| {
                        if *k == Reply::bulk("idle") {
                            (k.clone(), Reply::Int(0))
                        } else {
                            (k.clone(), v.clone())
                        }
                    })
                    .collect(),
            ),
            Reply::Array(Some(f)) if f.len() == 6 && f[4] == Reply::bulk("idle") => {
                let mut f = f.clone();
                f[5] = Reply::Int(0);
                Reply::Array(Some(f))
            }
            other => other.clone(),
        })
        .collect();
    Reply::Array(Some(fixed))
}

impl Pair {
    fn both(&mut self, cmd: &[Vec<u8>]) -> (Reply, Reply) {
        let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
        let r = self.r.cmd(&args);
        let kind = match &r {
            Reply::Error(e) if e.starts_with("ERR wrong number") => "arity",
            Reply::Error(_) => "error",
            Reply::Array(Some(a)) if !a.is_empty() => "array",
            Reply::Map(m) if !m.is_empty() => "map",
            Reply::Int(n) if *n > 0 => "positive",
            Reply::Bulk(Some(_)) => "bulk",
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
        let (rn, sn) = (zero_clocks(&r), zero_clocks(&s));
        if rn != sn {
            self.fail(cmd, "reply", &r, &s);
        }
        r
    }

    /// EXEC: each reply compared as [`Pair::check`] compares its command.
    fn check_exec(&mut self, cmd: &[Vec<u8>], queued: &[Vec<Vec<u8>>]) {
        let (r, s) = self.both(cmd);
        let norm = |reply: &Reply| match reply {
            Reply::Array(Some(items)) if items.len() == queued.len() => Reply::Array(Some(
                items
                    .iter()
                    .zip(queued)
                    .map(|(item, q)| zero_idle(q, &zero_clocks(item)))
                    .collect(),
            )),
            other => zero_clocks(other),
        };
        if norm(&r) != norm(&s) {
            self.fail(cmd, "reply", &r, &s);
        }
    }

    /// Exact, with clock readings and idle times zeroed.
    fn check(&mut self, cmd: &[Vec<u8>]) {
        let (r, s) = self.both(cmd);
        let (rn, sn) = (
            zero_idle(cmd, &zero_clocks(&r)),
            zero_idle(cmd, &zero_clocks(&s)),
        );
        if rn != sn {
            self.fail(cmd, "reply", &r, &s);
        }
    }
}

struct Gen {
    /// Milliseconds part for the next explicit IDs; grows slowly so IDs
    /// collide with earlier ones now and then (an error path).
    clock: u64,
}

impl Gen {
    fn key(&self, rng: &mut Rng) -> String {
        match rng.below(20) {
            0 => STRING_KEY.to_string(),
            1 => "missing".to_string(),
            _ => rng.pick(KEYS).to_string(),
        }
    }

    /// An ID near the clock, in any of the accepted spellings.
    fn id(&self, rng: &mut Rng) -> String {
        let ms = self.clock.saturating_sub(rng.below(6));
        match rng.below(14) {
            0 => "-".into(),
            1 => "+".into(),
            2 => format!("{ms}"),
            3 => "bad-id".into(),
            4 => "0-0".into(),
            5 => format!("({ms}-{}", rng.below(3)),
            _ => format!("{ms}-{}", rng.below(3)),
        }
    }

    fn pairs(&self, rng: &mut Rng, out: &mut Vec<String>) {
        let n = 1 + rng.below(3) as usize;
        let same = rng.chance(50);
        for &own in &FIELDS[..n] {
            let f = if same { own } else { *rng.pick(FIELDS) };
            out.push(f.to_string());
            out.push(match rng.below(6) {
                0 => "".to_string(),
                1 => "5".to_string(),
                2 => "-3".to_string(),
                3 => "x".repeat(70),
                4 => "12345678901".to_string(),
                _ => format!("v{}", rng.below(100)),
            });
        }
    }

    fn trim_opts(&self, rng: &mut Rng, out: &mut Vec<String>) {
        let approx = rng.chance(50);
        if rng.chance(60) {
            out.push(rng.pick(&["MAXLEN", "maxlen"]).to_string());
            if approx {
                out.push("~".into());
            } else if rng.chance(50) {
                out.push("=".into());
            }
            out.push(if rng.chance(5) {
                "-1".into()
            } else {
                rng.below(30).to_string()
            });
        } else {
            out.push("MINID".into());
            if approx {
                out.push("~".into());
            } else if rng.chance(50) {
                out.push("=".into());
            }
            out.push(self.id(rng));
        }
        if rng.chance(20) {
            out.push("LIMIT".into());
            out.push(rng.below(20).to_string());
        }
    }

    fn command(&mut self, rng: &mut Rng) -> Vec<Vec<u8>> {
        let key = self.key(rng);
        let group = rng.pick(GROUPS).to_string();
        let consumer = rng.pick(CONSUMERS).to_string();
        let mut c: Vec<String> = Vec::new();
        match rng.below(22) {
            0..=4 => {
                c.extend(["XADD".into(), key]);
                if rng.chance(10) {
                    c.push("NOMKSTREAM".into());
                }
                if rng.chance(30) {
                    self.trim_opts(rng, &mut c);
                }
                self.clock += rng.below(3);
                let ms = self.clock;
                c.push(match rng.below(10) {
                    0 => format!("{ms}-*"),
                    1 => format!("{}", ms.saturating_sub(3)),
                    2 => "0-0".into(),
                    _ => format!("{ms}-{}", rng.below(4)),
                });
                if rng.chance(3) {
                    c.push("odd".into());
                } else {
                    self.pairs(rng, &mut c);
                }
            }
            5 | 6 => {
                c.push(rng.pick(&["XRANGE", "XREVRANGE"]).to_string());
                c.push(key);
                c.push(self.id(rng));
                c.push(self.id(rng));
                if rng.chance(40) {
                    c.push("COUNT".into());
                    c.push(rng.range(-1, 5).to_string());
                }
            }
            7 => c.extend(["XLEN".into(), key]),
            8 => {
                c.extend(["XDEL".into(), key]);
                for _ in 0..1 + rng.below(3) {
                    c.push(self.id(rng));
                }
            }
            9 => {
                c.extend(["XTRIM".into(), key]);
                if rng.chance(95) {
                    self.trim_opts(rng, &mut c);
                }
            }
            10 => {
                c.push("XREAD".into());
                if rng.chance(50) {
                    c.push("COUNT".into());
                    c.push(rng.below(4).to_string());
                }
                c.push("STREAMS".into());
                let n = 1 + rng.below(2) as usize;
                let keys: Vec<String> = (0..n).map(|_| self.key(rng)).collect();
                c.extend(keys);
                for _ in 0..n {
                    c.push(if rng.chance(20) {
                        "$".into()
                    } else {
                        self.id(rng)
                    });
                }
            }
            11 | 12 => {
                c.extend(["XREADGROUP".into(), "GROUP".into(), group, consumer]);
                if rng.chance(50) {
                    c.push("COUNT".into());
                    c.push(rng.below(4).to_string());
                }
                if rng.chance(20) {
                    c.push("NOACK".into());
                }
                c.push("STREAMS".into());
                c.push(key);
                c.push(match rng.below(5) {
                    0 => "0".into(),
                    1 => self.id(rng),
                    _ => ">".into(),
                });
            }
            13 => {
                c.push("XGROUP".into());
                match rng.below(6) {
                    0 | 1 => {
                        c.extend(["CREATE".into(), key, group]);
                        c.push(if rng.chance(30) {
                            "$".into()
                        } else {
                            self.id(rng)
                        });
                        if rng.chance(30) {
                            c.push("MKSTREAM".into());
                        }
                        if rng.chance(20) {
                            c.extend(["ENTRIESREAD".into(), rng.range(-2, 5).to_string()]);
                        }
                    }
                    2 => {
                        c.extend(["SETID".into(), key, group]);
                        c.push(if rng.chance(30) {
                            "$".into()
                        } else {
                            self.id(rng)
                        });
                        if rng.chance(30) {
                            c.extend(["ENTRIESREAD".into(), rng.range(-1, 5).to_string()]);
                        }
                    }
                    3 => c.extend(["DESTROY".into(), key, group]),
                    4 => c.extend(["CREATECONSUMER".into(), key, group, consumer]),
                    _ => c.extend(["DELCONSUMER".into(), key, group, consumer]),
                }
            }
            14 => {
                c.extend(["XACK".into(), key, group]);
                for _ in 0..1 + rng.below(3) {
                    c.push(self.id(rng));
                }
            }
            15 => {
                c.extend(["XPENDING".into(), key, group]);
                if rng.chance(70) {
                    if rng.chance(30) {
                        c.extend(["IDLE".into(), rng.pick(&["0", "100000000"]).to_string()]);
                    }
                    c.push(self.id(rng));
                    c.push(self.id(rng));
                    c.push(rng.range(-1, 5).to_string());
                    if rng.chance(40) {
                        c.push(consumer);
                    }
                }
            }
            16 => {
                c.extend(["XCLAIM".into(), key, group, consumer]);
                c.push(rng.pick(&["0", "100000000", "x"]).to_string());
                for _ in 0..1 + rng.below(3) {
                    c.push(self.id(rng));
                }
                for _ in 0..rng.below(3) {
                    match rng.below(6) {
                        0 => c.push("FORCE".into()),
                        1 => c.push("JUSTID".into()),
                        2 => c.extend(["RETRYCOUNT".into(), rng.range(-1, 5).to_string()]),
                        3 => c.extend(["TIME".into(), "1000".into()]),
                        4 => c.extend(["LASTID".into(), self.id(rng)]),
                        _ => c.push("BOGUS".into()),
                    }
                }
            }
            17 => {
                c.extend(["XAUTOCLAIM".into(), key, group, consumer]);
                c.push(rng.pick(&["0", "100000000"]).to_string());
                c.push(self.id(rng));
                if rng.chance(50) {
                    c.extend(["COUNT".into(), rng.range(-1, 4).to_string()]);
                }
                if rng.chance(30) {
                    c.push("JUSTID".into());
                }
            }
            18 => {
                c.push("XINFO".into());
                match rng.below(4) {
                    0 => c.extend(["GROUPS".into(), key]),
                    1 => c.extend(["CONSUMERS".into(), key, group]),
                    2 => c.extend(["STREAM".into(), key]),
                    _ => c.extend([
                        "STREAM".into(),
                        key,
                        "FULL".into(),
                        "COUNT".into(),
                        rng.range(-1, 3).to_string(),
                    ]),
                }
            }
            19 => {
                c.extend(["XSETID".into(), key]);
                c.push(format!("{}-{}", self.clock + rng.below(3), rng.below(3)));
                if rng.chance(30) {
                    c.extend(["ENTRIESADDED".into(), rng.range(-1, 200).to_string()]);
                }
                if rng.chance(30) {
                    c.extend(["MAXDELETEDID".into(), self.id(rng)]);
                }
            }
            _ => {
                // Nonsense shapes.
                c.push(
                    rng.pick(&["XADD", "XREAD", "XGROUP", "XINFO", "XTRIM", "XPENDING"])
                        .to_string(),
                );
                for _ in 0..rng.below(5) {
                    c.push(
                        rng.pick(&[
                            "STREAMS", "GROUP", "0", "$", ">", "HELP", "x", "~", "MAXLEN",
                        ])
                        .to_string(),
                    );
                }
            }
        }
        c.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    fn generic(&self, rng: &mut Rng) -> Vec<Vec<u8>> {
        let a = rng.pick(KEYS).to_string();
        let b = rng.pick(KEYS).to_string();
        let c: Vec<String> = match rng.below(5) {
            0 => vec!["DEL".into(), a],
            1 => vec!["RENAME".into(), a, b],
            2 => vec!["COPY".into(), a, b, "REPLACE".into()],
            3 => vec!["TYPE".into(), a],
            _ => vec!["EXISTS".into(), a, b],
        };
        c.iter().map(|a| a.as_bytes().to_vec()).collect()
    }
}
