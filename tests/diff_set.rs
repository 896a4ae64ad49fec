//! Differential test for the set commands: sluice-server must answer like
//! redis-server 7.0.
//!
//! Goal: any sequence of set commands (with string keys in the key space for
//! WRONGTYPE, and bad arguments mixed in) gets the same replies from both
//! servers and leaves the same sets with the same encodings.
//!
//! Method:
//! 1. Start a real `redis-server` and `sluice-server` (server-threads 1 and
//!    2, as separate tests), both with the same small, random
//!    `set-max-intset-entries` so encodings convert often.
//! 2. Generate [`STEPS`] commands from a seeded [`Rng`] (seed printed;
//!    replay with `SLUICE_SEED=<n>`) over a small key space and member pool
//!    (canonical integers, non-canonical ones like `01`, strings, binary).
//! 3. Send each command to both servers and compare:
//!    - exactly, byte for byte, by default (errors, integers, SMEMBERS of a
//!      set redis reports as `intset`, whose order is ascending);
//!    - as sets for replies whose order comes from a hashtable (SMEMBERS of
//!      a hashtable, SINTER, SUNION, SDIFF), and a full SSCAN iteration as
//!      the set of members it returned;
//!    - by property for random replies: SRANDMEMBER (length, members taken
//!      from the set, distinct for a positive count) and SPOP (the same,
//!      plus the popped members are gone). After an SPOP the two servers
//!      hold different members, so the key is rebuilt on both from redis's
//!      members (DEL + SADD in the same order) to bring them back in step.
//! 4. At the end compare every key's type, encoding and members.
mod common;

use common::{encode_command, escape, Client, Reply, Rng};
use std::collections::BTreeSet;

/// Commands per run.
const STEPS: usize = 2000;
/// Upper bound on SSCAN calls in one full iteration.
const SCAN_CALLS_MAX: usize = 10_000;

#[test]
fn diff_set_threads_1() {
    run_diff(1);
}

#[test]
fn diff_set_threads_2() {
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
        history: Vec::new(),
        errors: 0,
    };
    let max_intset = *rng.pick(&["2", "5", "16", "512"]);
    pair.exact(&args(&[
        "CONFIG",
        "SET",
        "set-max-intset-entries",
        max_intset,
    ]));
    let gen = Gen::new();
    let mut sent = 0;
    while sent < STEPS {
        sent += if rng.chance(3) {
            pair.transaction(&gen.transaction(&mut rng))
        } else {
            pair.run(&gen.command(&mut rng));
            1
        };
        let (threads, history) = (pair.threads, &pair.history);
        pair.events.assert_same(|| {
            let start = history.len().saturating_sub(20);
            format!(
                "server-threads {threads}, seed={seed}, after:\n{}",
                history[start..].join("\n")
            )
        });
    }
    pair.check_final_state(&gen);
    eprintln!(
        "diff_set (server-threads {threads}): {STEPS} commands matched ({} errors), \
         seed={seed}, set-max-intset-entries {max_intset}",
        pair.errors
    );
}

fn args(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn show(cmd: &[Vec<u8>]) -> String {
    cmd.iter()
        .map(|a| format!("\"{}\"", escape(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn send(client: &mut Client, cmd: &[Vec<u8>]) -> (Reply, Vec<u8>) {
    let refs: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
    client.send_raw(&encode_command(&refs)).expect("write");
    client.read_reply_with_raw()
}

/// The members of an array or set reply.
fn members(reply: &Reply) -> Vec<Vec<u8>> {
    reply
        .as_array()
        .iter()
        .map(|m| m.as_bytes().to_vec())
        .collect()
}

struct Pair {
    /// Keyspace notifications of both, compared after every step.
    events: common::KeyEvents,
    redis: Client,
    sluice: Client,
    seed: u64,
    threads: usize,
    /// The commands so far with redis's replies (last 20), for reports.
    history: Vec<String>,
    /// Error replies seen from redis, printed at the end as a check that
    /// the generator exercises more than error paths.
    errors: usize,
}

impl Pair {
    fn fail(&self, cmd: &[Vec<u8>], why: &str, r: &Reply, s: &Reply) -> ! {
        let start = self.history.len().saturating_sub(20);
        panic!(
            "replies differ (server-threads {}, seed={}; replay with SLUICE_SEED={})\n\
             command: {}\n{why}\nredis:  {r}\nsluice: {s}\nlast commands:\n{}",
            self.threads,
            self.seed,
            self.seed,
            show(cmd),
            self.history[start..].join("\n")
        );
    }

    fn remember(&mut self, cmd: &[Vec<u8>], r: &Reply) {
        self.errors += usize::from(r.is_error());
        if std::env::var_os("SLUICE_DIFF_TRACE").is_some() {
            eprintln!("{} -> {}", show(cmd), r.to_string().replace('\n', " "));
        }
        let mut reply = r.to_string().replace('\n', " ");
        reply.truncate(200);
        self.history.push(format!("  {} -> {reply}", show(cmd)));
    }

    /// Sends to both, requires byte-identical replies; returns redis's.
    fn exact(&mut self, cmd: &[Vec<u8>]) -> Reply {
        let (r, r_raw) = send(&mut self.redis, cmd);
        let (s, s_raw) = send(&mut self.sluice, cmd);
        if r_raw != s_raw {
            self.fail(cmd, "compared: exact", &r, &s);
        }
        self.remember(cmd, &r);
        r
    }

    /// Sends to both, requires equal replies up to element order.
    fn unordered(&mut self, cmd: &[Vec<u8>]) {
        let (r, r_raw) = send(&mut self.redis, cmd);
        let (s, s_raw) = send(&mut self.sluice, cmd);
        let same = if r.is_error() || s.is_error() {
            r_raw == s_raw
        } else {
            r.unordered() == s.unordered()
        };
        if !same {
            self.fail(cmd, "compared: as sets", &r, &s);
        }
        self.remember(cmd, &r);
    }

    /// Compares the keyspace events of `cmd`, sent to both just before.
    fn check_events(&mut self, cmd: &[Vec<u8>]) {
        let (threads, seed) = (self.threads, self.seed);
        self.events
            .assert_same(|| format!("server-threads {threads}, seed={seed}: {}", show(cmd)));
    }

    /// redis's encoding of `key` (no side effect on either server's data).
    fn encoding(&mut self, key: &[u8]) -> Reply {
        send(
            &mut self.redis,
            &[b"OBJECT".to_vec(), b"ENCODING".to_vec(), key.to_vec()],
        )
        .0
    }

    /// MULTI, the commands, EXEC: every reply exact (the generator only
    /// puts commands with exact replies in a transaction).
    fn transaction(&mut self, cmds: &[Vec<Vec<u8>>]) -> usize {
        self.exact(&args(&["MULTI"]));
        for cmd in cmds {
            self.exact(cmd);
        }
        self.exact(&args(&["EXEC"]));
        cmds.len() + 2
    }

    fn run(&mut self, cmd: &Cmd) {
        match cmd {
            Cmd::Exact(c) => {
                self.exact(c);
            }
            Cmd::Unordered(c) => self.unordered(c),
            Cmd::Members(key) => self.smembers(key),
            Cmd::Scan(key, opts) => self.scan_all(key, opts),
            Cmd::RandMember(c) => self.srandmember(c),
            Cmd::Pop(c) => self.spop(c),
        }
    }

    /// SMEMBERS: exact for an intset (ascending), as sets otherwise.
    fn smembers(&mut self, key: &[u8]) {
        let cmd = vec![b"SMEMBERS".to_vec(), key.to_vec()];
        if self.encoding(key) == Reply::bulk("intset") {
            self.exact(&cmd);
        } else {
            self.unordered(&cmd);
        }
    }

    /// Full SSCAN iteration on each server, compared as sets of members.
    fn scan_all(&mut self, key: &[u8], opts: &[Vec<u8>]) {
        let mut show_cmd = vec![b"SSCAN".to_vec(), key.to_vec(), b"<iterate>".to_vec()];
        show_cmd.extend(opts.iter().cloned());
        let r = scan_iterate(&mut self.redis, key, opts);
        let s = scan_iterate(&mut self.sluice, key, opts);
        let summary = |x: &Result<BTreeSet<Vec<u8>>, Vec<u8>>| match x {
            Ok(set) => Reply::bulks(set.iter()),
            Err(raw) => Reply::Error(String::from_utf8_lossy(raw).into_owned()),
        };
        if r != s {
            self.fail(
                &show_cmd,
                "compared: full SSCAN as sets",
                &summary(&r),
                &summary(&s),
            );
        }
        self.remember(&show_cmd, &summary(&r));
    }

    /// SRANDMEMBER: errors and nil exact; otherwise checked by property.
    fn srandmember(&mut self, cmd: &[Vec<u8>]) {
        let key = cmd[1].clone();
        let before: BTreeSet<Vec<u8>> = self.set_members(&key);
        let (r, r_raw) = send(&mut self.redis, cmd);
        let (s, s_raw) = send(&mut self.sluice, cmd);
        self.check_events(cmd);
        let count = cmd
            .get(2)
            .and_then(|c| std::str::from_utf8(c).ok()?.parse::<i64>().ok());
        let ok = match (&r, &s, count) {
            (Reply::Array(Some(rv)), Reply::Array(Some(sv)), Some(n)) if !before.is_empty() => {
                let got = members(&s);
                let expect_len = if n < 0 {
                    n.unsigned_abs() as usize
                } else {
                    (n as usize).min(before.len())
                };
                let distinct: BTreeSet<_> = got.iter().collect();
                rv.len() == sv.len()
                    && sv.len() == expect_len
                    && got.iter().all(|m| before.contains(m))
                    && (n < 0 || distinct.len() == got.len())
            }
            (Reply::Bulk(Some(_)), Reply::Bulk(Some(m)), None) => before.contains(m),
            _ => r_raw == s_raw,
        };
        if !ok {
            self.fail(cmd, "compared: SRANDMEMBER properties", &r, &s);
        }
        self.remember(cmd, &r);
    }

    /// SPOP: errors and nil exact; otherwise checked by property, then the
    /// key is rebuilt on both servers from redis's members.
    fn spop(&mut self, cmd: &[Vec<u8>]) {
        let key = cmd[1].clone();
        let before: BTreeSet<Vec<u8>> = self.set_members(&key);
        let (r, r_raw) = send(&mut self.redis, cmd);
        let (s, s_raw) = send(&mut self.sluice, cmd);
        self.check_events(cmd);
        let ok = match (&r, &s) {
            (Reply::Array(Some(rv)), Reply::Array(Some(_))) => {
                let got = members(&s);
                let distinct: BTreeSet<_> = got.iter().cloned().collect();
                let after = self.set_members_sluice(&key);
                rv.len() == got.len()
                    && distinct.len() == got.len()
                    && distinct.is_subset(&before)
                    && after.is_disjoint(&distinct)
                    && after.len() + got.len() == before.len()
            }
            (Reply::Bulk(Some(_)), Reply::Bulk(Some(m))) => {
                let after = self.set_members_sluice(&key);
                before.contains(m) && !after.contains(m) && after.len() + 1 == before.len()
            }
            _ => r_raw == s_raw,
        };
        if !ok {
            self.fail(cmd, "compared: SPOP properties", &r, &s);
        }
        self.remember(cmd, &r);
        if !r.is_error() {
            self.rebuild(&key);
        }
    }

    /// Members of a set key on redis (empty for a missing key).
    fn set_members(&mut self, key: &[u8]) -> BTreeSet<Vec<u8>> {
        let reply = send(&mut self.redis, &[b"SMEMBERS".to_vec(), key.to_vec()]).0;
        self.events.discard();
        match reply {
            Reply::Array(Some(items)) => items.iter().map(|m| m.as_bytes().to_vec()).collect(),
            _ => BTreeSet::new(),
        }
    }

    fn set_members_sluice(&mut self, key: &[u8]) -> BTreeSet<Vec<u8>> {
        let reply = send(&mut self.sluice, &[b"SMEMBERS".to_vec(), key.to_vec()]).0;
        self.events.discard();
        match reply {
            Reply::Array(Some(items)) => items.iter().map(|m| m.as_bytes().to_vec()).collect(),
            _ => BTreeSet::new(),
        }
    }

    /// Makes `key` hold redis's members on both servers, built the same way.
    fn rebuild(&mut self, key: &[u8]) {
        let members = self.set_members(key);
        self.exact(&[b"DEL".to_vec(), key.to_vec()]);
        if !members.is_empty() {
            let mut cmd = vec![b"SADD".to_vec(), key.to_vec()];
            cmd.extend(members);
            self.exact(&cmd);
        }
    }

    /// Step 4: every key has the same type, encoding and content.
    fn check_final_state(&mut self, gen: &Gen) {
        for key in &gen.keys {
            let t = self.exact(&[b"TYPE".to_vec(), key.clone()]);
            self.exact(&[b"OBJECT".to_vec(), b"ENCODING".to_vec(), key.clone()]);
            match t {
                Reply::Simple(t) if t == "set" => self.smembers(key),
                Reply::Simple(t) if t == "string" => {
                    self.exact(&[b"GET".to_vec(), key.clone()]);
                }
                _ => {}
            }
        }
    }
}

type ScanResult = Result<BTreeSet<Vec<u8>>, Vec<u8>>;

fn scan_iterate(client: &mut Client, key: &[u8], opts: &[Vec<u8>]) -> ScanResult {
    let mut cursor = b"0".to_vec();
    let mut found = BTreeSet::new();
    for _ in 0..SCAN_CALLS_MAX {
        let mut cmd = vec![b"SSCAN".to_vec(), key.to_vec(), cursor.clone()];
        cmd.extend(opts.iter().cloned());
        let (reply, raw) = send(client, &cmd);
        let Reply::Array(Some(parts)) = &reply else {
            return Err(raw);
        };
        found.extend(members(&parts[1]));
        cursor = parts[0].as_bytes().to_vec();
        if cursor == b"0" {
            return Ok(found);
        }
    }
    panic!("SSCAN did not finish within {SCAN_CALLS_MAX} calls");
}

enum Cmd {
    Exact(Vec<Vec<u8>>),
    Unordered(Vec<Vec<u8>>),
    Members(Vec<u8>),
    Scan(Vec<u8>, Vec<Vec<u8>>),
    RandMember(Vec<Vec<u8>>),
    Pop(Vec<Vec<u8>>),
}

struct Gen {
    keys: Vec<Vec<u8>>,
    members: Vec<Vec<u8>>,
}

impl Gen {
    fn new() -> Gen {
        let keys = [
            &b"s0"[..],
            b"s1",
            b"s2",
            b"s3",
            b"s4",
            b"{t}s5",
            b"str1",
            b"str2",
        ]
        .iter()
        .map(|k| k.to_vec())
        .collect();
        let mut members: Vec<Vec<u8>> = (-3..25).map(|i: i64| i.to_string().into_bytes()).collect();
        for m in [
            "100000",
            "-70000",
            "3000000000",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "01",
            "+1",
            "-0",
            " 1",
            "1.5",
            "a",
            "b",
            "c",
            "x",
            "hello",
            "",
        ] {
            members.push(m.as_bytes().to_vec());
        }
        members.push(b"bin\x00\r\n\xff".to_vec());
        Gen { keys, members }
    }

    /// A key: rarely one of the string keys (WRONGTYPE), else a set key.
    fn key(&self, rng: &mut Rng) -> Vec<u8> {
        if rng.chance(8) {
            self.keys[6 + rng.below(2) as usize].clone()
        } else {
            self.keys[rng.below(6) as usize].clone()
        }
    }

    /// Mostly integers, so intsets are common.
    fn member(&self, rng: &mut Rng) -> Vec<u8> {
        if rng.chance(70) {
            self.members[rng.below(28) as usize].clone()
        } else {
            rng.pick(&self.members).clone()
        }
    }

    fn keys_n(&self, rng: &mut Rng, lo: i64, hi: i64) -> Vec<Vec<u8>> {
        (0..rng.range(lo, hi)).map(|_| self.key(rng)).collect()
    }

    fn count_arg(&self, rng: &mut Rng) -> Vec<u8> {
        let c = match rng.below(10) {
            0 => "x".to_string(),
            1 => "-9223372036854775808".to_string(),
            2 => rng.range(-20, -1).to_string(),
            3 => "0".to_string(),
            4 => rng.range(20, 100).to_string(),
            _ => rng.range(1, 12).to_string(),
        };
        c.into_bytes()
    }

    /// 1-5 commands with exact replies, for MULTI ... EXEC.
    fn transaction(&self, rng: &mut Rng) -> Vec<Vec<Vec<u8>>> {
        let n = rng.range(1, 5);
        let mut cmds = Vec::new();
        while cmds.len() < n as usize {
            if let Cmd::Exact(c) = self.command(rng) {
                cmds.push(c);
            }
        }
        cmds
    }

    fn command(&self, rng: &mut Rng) -> Cmd {
        let mut c: Vec<Vec<u8>> = Vec::new();
        let word = |c: &mut Vec<Vec<u8>>, w: &str| c.push(w.as_bytes().to_vec());
        match rng.below(100) {
            0..=24 => {
                word(&mut c, "SADD");
                c.push(self.key(rng));
                for _ in 0..rng.range(1, 8) {
                    c.push(self.member(rng));
                }
                if rng.chance(2) {
                    c.truncate(2);
                }
            }
            25..=34 => {
                word(&mut c, "SREM");
                c.push(self.key(rng));
                for _ in 0..rng.range(1, 6) {
                    c.push(self.member(rng));
                }
            }
            35..=38 => {
                word(&mut c, "SISMEMBER");
                c.push(self.key(rng));
                c.push(self.member(rng));
            }
            39..=41 => {
                word(&mut c, "SMISMEMBER");
                c.push(self.key(rng));
                for _ in 0..rng.range(1, 4) {
                    c.push(self.member(rng));
                }
            }
            42..=44 => {
                word(&mut c, "SCARD");
                c.push(self.key(rng));
            }
            45..=49 => return Cmd::Members(self.key(rng)),
            50..=54 => {
                word(&mut c, "SPOP");
                c.push(self.key(rng));
                if rng.chance(60) {
                    c.push(self.count_arg(rng));
                }
                if rng.chance(3) {
                    word(&mut c, "extra");
                }
                return Cmd::Pop(c);
            }
            55..=59 => {
                word(&mut c, "SRANDMEMBER");
                c.push(self.key(rng));
                if rng.chance(70) {
                    c.push(self.count_arg(rng));
                }
                if rng.chance(3) {
                    word(&mut c, "extra");
                }
                return Cmd::RandMember(c);
            }
            60..=64 => {
                word(&mut c, "SMOVE");
                c.push(self.key(rng));
                c.push(self.key(rng));
                c.push(self.member(rng));
            }
            65..=73 => {
                let name = *rng.pick(&["SUNION", "SINTER", "SDIFF"]);
                word(&mut c, name);
                c.extend(self.keys_n(rng, 1, 4));
                return Cmd::Unordered(c);
            }
            74..=81 => {
                let name = *rng.pick(&["SUNIONSTORE", "SINTERSTORE", "SDIFFSTORE"]);
                word(&mut c, name);
                c.extend(self.keys_n(rng, 1, 4));
            }
            82..=85 => {
                word(&mut c, "SINTERCARD");
                let keys = self.keys_n(rng, 1, 3);
                let numkeys = match rng.below(10) {
                    0 => "0".to_string(),
                    1 => "x".to_string(),
                    2 => (keys.len() + 1).to_string(),
                    _ => keys.len().to_string(),
                };
                word(&mut c, &numkeys);
                c.extend(keys);
                if rng.chance(40) {
                    let opt: &str = rng.pick::<&str>(&["LIMIT", "limit", "LIMITS"]);
                    word(&mut c, opt);
                    let limit = *rng.pick(&["0", "1", "2", "-1", "x", "100"]);
                    if rng.chance(90) {
                        word(&mut c, limit);
                    }
                }
            }
            86..=89 => {
                let key = self.key(rng);
                let mut opts = Vec::new();
                if rng.chance(40) {
                    opts.push(b"COUNT".to_vec());
                    opts.push(rng.pick(&["1", "3", "0", "x", "100"]).as_bytes().to_vec());
                }
                if rng.chance(30) {
                    opts.push(b"MATCH".to_vec());
                    opts.push(
                        rng.pick(&["1*", "*", "?", "[a-c]", "h*"])
                            .as_bytes()
                            .to_vec(),
                    );
                }
                if rng.chance(5) {
                    opts.push(b"TYPE".to_vec());
                    opts.push(b"set".to_vec());
                }
                return Cmd::Scan(key, opts);
            }
            90..=92 => {
                word(&mut c, "SET");
                // Mostly the string keys, so most set commands find sets.
                if rng.chance(20) {
                    c.push(self.key(rng));
                } else {
                    c.push(rng.pick(&[&b"str1"[..], b"str2"]).to_vec());
                }
                c.push(self.member(rng));
            }
            93..=95 => {
                word(&mut c, "DEL");
                c.push(self.key(rng));
            }
            96 => {
                let name: &str = rng.pick::<&str>(&["RENAME", "COPY"]);
                word(&mut c, name);
                c.push(self.key(rng));
                c.push(self.key(rng));
            }
            _ => {
                word(&mut c, "OBJECT");
                word(&mut c, "ENCODING");
                c.push(self.key(rng));
            }
        }
        Cmd::Exact(c)
    }
}
