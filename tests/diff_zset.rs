//! Differential test for sorted sets: sluice-server must answer exactly like
//! redis-server 7.0.
//!
//! Method:
//! 1. Start a real `redis-server` and `sluice-server` (server-threads 1 and
//!    2, separate tests) and lower `zset-max-listpack-entries`/`-value` on
//!    both so conversions to `skiplist` happen often.
//! 2. Generate [`STEPS`] random commands from a seeded [`Rng`] (seed printed;
//!    replay with `SLUICE_SEED=<n>`) over a few zset keys, a string key (for
//!    WRONGTYPE) and a missing key, with bad arguments mixed in, and switch
//!    between RESP2 and RESP3 now and then.
//! 3. Compare the raw reply bytes.
//! 4. At the end compare every key's contents and OBJECT ENCODING.
//!
//! Lex-range commands only target the `lex` key, whose members all have
//! score 0: with mixed scores Redis's listpack walk and skiplist search give
//! different (unspecified) answers, so that is not a contract to test.
mod common;

use common::{escape, Client, Reply, Rng};

/// Commands per run.
const STEPS: usize = 2000;
/// Keys holding mixed-score zsets (written by any command).
const ZKEYS: &[&str] = &["z1", "z2", "{z}3"];
/// Score-0 zset for lex commands.
const LEX: &str = "lex";
const STR: &str = "str";
const MISSING: &str = "nokey";

#[test]
fn diff_zset_threads_1() {
    run_diff(1);
}

#[test]
fn diff_zset_threads_2() {
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
    let (mut r, mut s) = (redis.client(), sluice.client());
    let mut events = common::key_events(&redis, &sluice);
    let setup: [&[&str]; 3] = [
        &["CONFIG", "SET", "zset-max-listpack-entries", "6"],
        &["CONFIG", "SET", "zset-max-listpack-value", "8"],
        &["SET", STR, "text"],
    ];
    for cmd in setup {
        assert_eq!(r.cmd_str(cmd), s.cmd_str(cmd));
    }
    let mut log: Vec<String> = Vec::new();
    for step in 0..STEPS {
        let args = command(&mut rng);
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let shown = args.iter().map(|a| escape(a)).collect::<Vec<_>>().join(" ");
        r.send(&argv);
        s.send(&argv);
        if args[0] == b"HELLO" {
            // The reply carries the connection id, which differs.
            assert_eq!(r.read_reply().is_error(), s.read_reply().is_error());
            log.push(shown);
            continue;
        }
        let (rr, rraw) = r.read_reply_with_raw();
        let (sr, sraw) = s.read_reply_with_raw();
        log.push(format!("{shown} -> {rr}"));
        let same = match args[0].as_slice() {
            b"ZRANDMEMBER" => same_random_shape(&args, &rr, &sr),
            b"ZSCAN" => scan_full(&mut r, &args, &rr) == scan_full(&mut s, &args, &sr),
            _ => rraw == sraw,
        };
        if !same {
            if let Some(path) = std::env::var_os("SLUICE_DIFF_LOG") {
                let _ = std::fs::write(path, log.join("\n"));
            }
            let start = log.len().saturating_sub(40);
            panic!(
                "step {step} (server-threads {threads}, seed={seed}): {shown}\n redis:  {}\n sluice: {}\nrecent:\n{}\n{rr:?}\n{sr:?}",
                escape(&rraw),
                escape(&sraw),
                log[start..].join("\n")
            );
        }
        events.assert_same(|| {
            format!("step {step} (server-threads {threads}, seed={seed}): {shown}")
        });
    }
    final_state(&mut r, &mut s, seed);
    eprintln!("diff_zset (server-threads {threads}): {STEPS} commands identical, seed={seed}");
}

/// ZRANDMEMBER replies are random: errors must match exactly, otherwise
/// the kind and length must, and a positive count gives distinct members.
fn same_random_shape(args: &[Vec<u8>], r: &Reply, s: &Reply) -> bool {
    match (r, s) {
        (Reply::Array(Some(ra)), Reply::Array(Some(sa))) => {
            let positive = args.get(2).is_some_and(|c| !c.starts_with(b"-"));
            let withscores = args.len() == 4;
            let members: Vec<&Reply> = if withscores {
                sa.iter().step_by(2).collect()
            } else {
                sa.iter().collect()
            };
            let mut distinct = members.clone();
            distinct.sort();
            distinct.dedup();
            ra.len() == sa.len() && (!positive || distinct.len() == members.len())
        }
        (Reply::Bulk(Some(_)), Reply::Bulk(Some(_))) => true,
        _ => r == s,
    }
}

/// A ZSCAN iteration completed from its first reply, as the set of
/// member/score pairs seen: a skiplist's scan order and batch sizes are its
/// hash table's, so only the set is comparable.
fn scan_full(
    client: &mut Client,
    args: &[Vec<u8>],
    first: &Reply,
) -> Result<Vec<(Reply, Reply)>, Reply> {
    let mut pairs = Vec::new();
    let mut reply = first.clone();
    for _ in 0..1000 {
        let Reply::Array(Some(parts)) = &reply else {
            return Err(reply);
        };
        let items = parts[1].as_array();
        pairs.extend(
            items
                .chunks(2)
                .map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or(Reply::Null))),
        );
        let cursor = parts[0].as_bytes().to_vec();
        if cursor == b"0" {
            break;
        }
        let mut next = args.to_vec();
        next[2] = cursor;
        let argv: Vec<&[u8]> = next.iter().map(|a| a.as_slice()).collect();
        reply = client.cmd(&argv);
    }
    pairs.sort();
    pairs.dedup();
    Ok(pairs)
}

/// Compares each key's contents and encoding at the end.
fn final_state(r: &mut Client, s: &mut Client, seed: u64) {
    r.cmd_str(&["HELLO", "2"]);
    s.cmd_str(&["HELLO", "2"]);
    for key in ZKEYS.iter().chain([&LEX, &STR, &MISSING]) {
        for cmd in [
            vec!["TYPE", key],
            vec!["OBJECT", "ENCODING", key],
            vec!["ZRANGE", key, "0", "-1", "WITHSCORES"],
        ] {
            assert_eq!(r.cmd_str(&cmd), s.cmd_str(&cmd), "{cmd:?} seed={seed}");
        }
    }
}

fn bytes(s: impl AsRef<str>) -> Vec<u8> {
    s.as_ref().as_bytes().to_vec()
}

/// A key for commands that may change scores.
fn zkey(rng: &mut Rng) -> Vec<u8> {
    let keys = [ZKEYS[0], ZKEYS[1], ZKEYS[2], STR, MISSING];
    bytes(rng.pick(&keys))
}

/// A key for read-only or removing commands (the lex key included).
fn any_key(rng: &mut Rng) -> Vec<u8> {
    if rng.chance(20) {
        bytes(LEX)
    } else {
        zkey(rng)
    }
}

fn member(rng: &mut Rng) -> Vec<u8> {
    let members = [
        "a",
        "b",
        "c",
        "d",
        "e",
        "f",
        "g",
        "h",
        "longmember1",
        "",
        "A",
    ];
    bytes(rng.pick(&members))
}

fn score(rng: &mut Rng) -> Vec<u8> {
    let fixed = [
        "0", "-0", "1", "-1", "2.5", "inf", "-inf", "+inf", "1e3", "nan", "x", "0x10", "3",
    ];
    if rng.chance(70) {
        rng.range(-5, 5).to_string().into_bytes()
    } else {
        bytes(rng.pick(&fixed))
    }
}

fn score_bound(rng: &mut Rng) -> Vec<u8> {
    let fixed = ["-inf", "+inf", "inf", "(1", "(-inf", "x", "(", "((1", "1.5"];
    if rng.chance(60) {
        let n = rng.range(-5, 5).to_string();
        if rng.chance(30) {
            format!("({n}").into_bytes()
        } else {
            n.into_bytes()
        }
    } else {
        bytes(rng.pick(&fixed))
    }
}

fn lex_bound(rng: &mut Rng) -> Vec<u8> {
    let fixed = [
        "-",
        "+",
        "[a",
        "(a",
        "[c",
        "(d",
        "[",
        "(",
        "a",
        "-x",
        "[longmember1",
    ];
    if rng.chance(60) {
        let kind = if rng.chance(50) { "[" } else { "(" };
        let mut b = bytes(kind);
        b.extend(member(rng));
        b
    } else {
        bytes(rng.pick(&fixed))
    }
}

fn index(rng: &mut Rng) -> Vec<u8> {
    if rng.chance(5) {
        return bytes(rng.pick(&["x", "1.5", "9223372036854775807", "-9223372036854775808"]));
    }
    rng.range(-12, 12).to_string().into_bytes()
}

/// Option words for ZRANGE-family commands, some invalid on purpose.
fn range_options(rng: &mut Rng, c: &mut Vec<Vec<u8>>, store: bool) {
    for _ in 0..rng.below(3) {
        match rng.below(7) {
            0 | 1 if !store => c.push(bytes("WITHSCORES")),
            2 | 3 => {
                c.push(bytes("LIMIT"));
                c.push(index(rng));
                c.push(index(rng));
            }
            4 => c.push(bytes("REV")),
            5 => c.push(bytes(rng.pick(&["BYSCORE", "LIMIT", "junk"]))),
            _ => {}
        }
    }
}

fn command(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut c: Vec<Vec<u8>> = Vec::new();
    match rng.below(31) {
        0..=3 => {
            c.push(bytes("ZADD"));
            c.push(zkey(rng));
            for opt in ["NX", "XX", "GT", "LT", "CH", "INCR"] {
                if rng.chance(12) {
                    c.push(bytes(opt));
                }
            }
            let pairs = rng.below(4) + u64::from(rng.chance(90));
            for _ in 0..pairs {
                c.push(score(rng));
                c.push(member(rng));
            }
            if rng.chance(5) {
                c.push(member(rng));
            }
        }
        4 => {
            c.extend([bytes("ZADD"), bytes(LEX), bytes("0"), member(rng)]);
            if rng.chance(50) {
                c.extend([bytes("0"), member(rng)]);
            }
        }
        5 => c.extend([bytes("ZINCRBY"), zkey(rng), score(rng), member(rng)]),
        6 => c.extend([bytes("ZSCORE"), any_key(rng), member(rng)]),
        7 => {
            c.extend([bytes("ZMSCORE"), any_key(rng)]);
            for _ in 0..rng.below(3) + 1 {
                c.push(member(rng));
            }
        }
        8 => c.extend([bytes("ZCARD"), any_key(rng)]),
        9 => {
            c.extend([bytes("ZREM"), any_key(rng)]);
            for _ in 0..rng.below(3) + 1 {
                c.push(member(rng));
            }
        }
        10 => {
            let name = rng.pick(&["ZRANK", "ZREVRANK"]);
            c.extend([bytes(name), any_key(rng), member(rng)]);
        }
        11 => c.extend([
            bytes("ZCOUNT"),
            any_key(rng),
            score_bound(rng),
            score_bound(rng),
        ]),
        12 => c.extend([
            bytes("ZLEXCOUNT"),
            bytes(LEX),
            lex_bound(rng),
            lex_bound(rng),
        ]),
        13 | 14 => {
            let name = rng.pick(&["ZRANGE", "ZREVRANGE"]);
            c.extend([bytes(name), any_key(rng), index(rng), index(rng)]);
            range_options(rng, &mut c, false);
        }
        15 => {
            let name = rng.pick(&["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]);
            c.extend([
                bytes(name),
                any_key(rng),
                score_bound(rng),
                score_bound(rng),
            ]);
            range_options(rng, &mut c, false);
        }
        16 => {
            c.extend([
                bytes("ZRANGE"),
                any_key(rng),
                score_bound(rng),
                score_bound(rng),
            ]);
            c.push(bytes("BYSCORE"));
            range_options(rng, &mut c, false);
        }
        17 => {
            let name = rng.pick(&["ZRANGEBYLEX", "ZREVRANGEBYLEX"]);
            c.extend([bytes(name), bytes(LEX), lex_bound(rng), lex_bound(rng)]);
            range_options(rng, &mut c, false);
        }
        18 => {
            c.extend([bytes("ZRANGE"), bytes(LEX), lex_bound(rng), lex_bound(rng)]);
            c.push(bytes("BYLEX"));
            range_options(rng, &mut c, false);
        }
        19 => {
            c.extend([bytes("ZRANGESTORE"), zkey(rng), any_key(rng)]);
            if rng.chance(50) {
                c.extend([score_bound(rng), score_bound(rng), bytes("BYSCORE")]);
            } else {
                c.extend([index(rng), index(rng)]);
            }
            range_options(rng, &mut c, true);
        }
        20 => {
            c.extend([
                bytes("ZREMRANGEBYRANK"),
                any_key(rng),
                index(rng),
                index(rng),
            ]);
        }
        21 => {
            c.extend([bytes("ZREMRANGEBYSCORE"), any_key(rng)]);
            c.extend([score_bound(rng), score_bound(rng)]);
        }
        22 => c.extend([
            bytes("ZREMRANGEBYLEX"),
            bytes(LEX),
            lex_bound(rng),
            lex_bound(rng),
        ]),
        24 | 25 => {
            let (name, store) = *rng.pick(&[
                ("ZUNION", false),
                ("ZINTER", false),
                ("ZDIFF", false),
                ("ZINTERCARD", false),
                ("ZUNIONSTORE", true),
                ("ZINTERSTORE", true),
                ("ZDIFFSTORE", true),
            ]);
            c.push(bytes(name));
            if store {
                c.push(zkey(rng));
            }
            set_op_args(rng, &mut c);
        }
        26 => c.extend([bytes("SET"), bytes(STR), bytes("text")]),
        27 => {
            let n = rng.below(3) + 1;
            c.extend([bytes("ZMPOP"), n.to_string().into_bytes()]);
            if rng.chance(5) {
                c[1] = bytes(rng.pick(&["0", "x", "-1"]));
            }
            for _ in 0..n {
                c.push(any_key(rng));
            }
            c.push(bytes(rng.pick(&["MIN", "MAX", "max", "mid"])));
            if rng.chance(50) {
                c.extend([bytes("COUNT"), index(rng)]);
            }
        }
        28 => {
            c.extend([bytes("ZRANDMEMBER"), any_key(rng)]);
            if rng.chance(70) {
                c.push(index(rng));
                if rng.chance(50) {
                    c.push(bytes(rng.pick(&["WITHSCORES", "withscores", "junk"])));
                }
            }
        }
        29 => {
            c.extend([
                bytes("ZSCAN"),
                any_key(rng),
                bytes(rng.pick(&["0", "x", "", "+0"])),
            ]);
            if rng.chance(30) {
                c.extend([
                    bytes("MATCH"),
                    bytes(rng.pick(&["*", "a*", "?", "*member*"])),
                ]);
            }
            if rng.chance(30) {
                c.extend([bytes("COUNT"), index(rng)]);
            }
        }
        _ => {
            if rng.chance(10) {
                c.extend([bytes("HELLO"), bytes(rng.pick(&["2", "3"]))]);
                return c;
            }
            c.extend([bytes(rng.pick(&["ZPOPMIN", "ZPOPMAX"])), any_key(rng)]);
            if rng.chance(60) {
                c.push(index(rng));
            }
        }
    }
    c
}

/// numkeys, keys and options for ZUNION/ZINTER/ZDIFF/ZINTERCARD(+STORE),
/// some invalid on purpose.
fn set_op_args(rng: &mut Rng, c: &mut Vec<Vec<u8>>) {
    let n = rng.below(3) + 1;
    let shown = if rng.chance(5) {
        bytes(rng.pick(&["0", "-1", "x", "9"]))
    } else {
        n.to_string().into_bytes()
    };
    c.push(shown);
    for _ in 0..n {
        c.push(any_key(rng));
    }
    for _ in 0..rng.below(3) {
        match rng.below(5) {
            0 => {
                c.push(bytes("WEIGHTS"));
                for _ in 0..n {
                    c.push(score(rng));
                }
            }
            1 => {
                c.push(bytes("AGGREGATE"));
                c.push(bytes(rng.pick(&["SUM", "MIN", "MAX", "sum", "avg"])));
            }
            2 => c.push(bytes("WITHSCORES")),
            3 => {
                c.push(bytes("LIMIT"));
                c.push(index(rng));
            }
            _ => c.push(bytes("junk")),
        }
    }
}
