//! DEBUG DIGEST equals redis-server's for the same dataset, so later tests
//! (RDB, replication) can compare whole datasets by one digest.
//!
//! 1. The same seeded writes (strings of every encoding, lists, hashes, sets, sorted sets, streams, TTLs,
//!    several dbs, deletes) go to redis-server and sluice-server (threads 1
//!    and 2).
//! 2. DEBUG DIGEST and DEBUG DIGEST-VALUE must match at several points.
//! 3. Without `enable-debug-command`, DEBUG is refused with Redis's text.
#[macro_use]
mod common;

use common::{require_bin, Client, Reply, Rng, Server, DEBUG_ON};

fn write_batch(rng: &mut Rng, clients: &mut [&mut Client], n: usize) {
    for _ in 0..n {
        let key = format!("k{}", rng.below(40));
        let db = rng.below(3).to_string();
        let value = match rng.below(4) {
            0 => rng.range(-1_000_000, 1_000_000).to_string(),
            1 => "x".repeat(rng.below(60) as usize),
            2 => "y".repeat(100 + rng.below(100) as usize),
            _ => String::new(),
        };
        let list = format!("l{}", rng.below(10));
        let hash = format!("h{}", rng.below(10));
        let set = format!("s{}", rng.below(10));
        let member = if rng.chance(50) {
            rng.range(-100, 100).to_string()
        } else {
            format!("m{}", rng.below(20))
        };
        let zset = format!("z{}", rng.below(10));
        let score = if rng.chance(50) {
            rng.range(-50, 50).to_string()
        } else {
            format!("{}.25", rng.range(-9, 9))
        };
        let stream = format!("x{}", rng.below(5));
        let cmd: Vec<String> = match rng.below(17) {
            14 => vec![
                "XADD".into(),
                stream,
                format!("{}-*", rng.below(50)),
                format!("f{}", rng.below(3)),
                value,
            ],
            15 => vec!["XDEL".into(), stream, format!("{}-0", rng.below(50))],
            16 => vec![
                "XTRIM".into(),
                stream,
                "MAXLEN".into(),
                rng.below(10).to_string(),
            ],
            12 => vec!["ZADD".into(), zset, score, format!("m{}", rng.below(20))],
            13 => vec!["ZREM".into(), zset, format!("m{}", rng.below(20))],
            10 => vec!["SADD".into(), set, member],
            11 => vec!["SREM".into(), set, member],
            8 => vec!["HSET".into(), hash, format!("f{}", rng.below(5)), value],
            9 => vec!["HDEL".into(), hash, format!("f{}", rng.below(5))],
            5 => vec!["RPUSH".into(), list, value],
            6 => vec!["LPUSH".into(), list, rng.range(-5, 5).to_string()],
            7 => vec!["LPOP".into(), list],
            0 => vec!["DEL".into(), key],
            1 => vec![
                "SET".into(),
                key,
                value,
                "EX".into(),
                (1000 + rng.below(1000)).to_string(),
            ],
            2 => vec!["APPEND".into(), key, value],
            _ => vec!["SET".into(), key, value],
        };
        for c in clients.iter_mut() {
            c.cmd_str(&["SELECT", &db]);
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            c.cmd_str(&args);
        }
    }
}

#[test]
fn digests_match_redis() {
    if require_bin("redis-server").is_none() {
        return;
    }
    let mut rng = Rng::from_env();
    for threads in [1, 2] {
        let redis = Server::redis(DEBUG_ON);
        let sluice = Server::sluice(threads, DEBUG_ON);
        let (mut r, mut s) = (redis.client(), sluice.client());
        assert_eq!(r.q("DEBUG DIGEST"), s.q("DEBUG DIGEST"), "empty dataset");
        for round in 0..5 {
            write_batch(&mut rng, &mut [&mut r, &mut s], 200);
            r.q("SELECT 0");
            s.q("SELECT 0");
            assert_eq!(
                r.q("DEBUG DIGEST"),
                s.q("DEBUG DIGEST"),
                "round {round}, threads {threads}"
            );
            let keys = [
                "DEBUG",
                "DIGEST-VALUE",
                "k1",
                "k2",
                "k3",
                "l1",
                "l2",
                "nokey",
            ];
            assert_eq!(r.cmd_str(&keys), s.cmd_str(&keys), "round {round}");
        }
    }
}

#[test]
fn debug_is_refused_by_default() {
    let sluice = Server::sluice(1, &[]);
    let mut c = sluice.client();
    assert_eq!(
        c.q("DEBUG DIGEST"),
        Reply::err(
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run \
             it from a local connection, otherwise you need to set this option in the configuration file, and \
             then restart the server."
        )
    );
}
