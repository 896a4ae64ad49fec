//! maxmemory and eviction (evict.c behaviour, exact error texts).
//!
//! The limit is set relative to the server's current `used_memory` (its
//! baseline includes the io_uring buffer rings), then keys of 10 KB are
//! written until the policy has to act.
#[macro_use]
mod common;

use common::{info_fields, Client, Reply, Server};

threads_tests!(
    noeviction_refuses_writes,
    allkeys_random_evicts,
    volatile_ttl_spares_persistent_keys,
    lfu_frequency
);

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

fn info_value(c: &mut Client, field: &str) -> u64 {
    let info = c.q("INFO everything").as_str();
    let found = info_fields(&info).into_iter().find(|(_, k, _)| k == field);
    found
        .unwrap_or_else(|| panic!("no {field} in INFO"))
        .2
        .parse()
        .unwrap()
}

fn limit_above_current(c: &mut Client, extra: u64) {
    let used = info_value(c, "used_memory");
    let limit = (used + extra).to_string();
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "maxmemory", &limit]),
        Reply::ok()
    );
}

fn big_value() -> String {
    "v".repeat(10_000)
}

/// Writes past the limit under noeviction: SET is refused with Redis's
/// text, reads and deletes still work, and a MULTI that queued a refused
/// command aborts.
fn noeviction_refuses_writes(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    limit_above_current(&mut c, 1 << 20);
    let value = big_value();
    let mut refused = None;
    for i in 0..2000 {
        let reply = c.cmd_str(&["SET", &format!("k{i}"), &value]);
        if reply != Reply::ok() {
            refused = Some((i, reply));
            break;
        }
    }
    let (i, reply) = refused.expect("2000 x 10 KB must exceed a 1 MB margin");
    assert_eq!(reply, Reply::err(OOM));
    assert_eq!(c.q("GET k0").as_bytes().len(), 10_000);
    assert_eq!(c.q("MULTI"), Reply::ok());
    assert_eq!(c.q("SET x y"), Reply::err(OOM));
    assert_eq!(
        c.q("EXEC"),
        Reply::err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(c.q("DEL k0"), Reply::Int(1));
    assert_eq!(info_value(&mut c, "evicted_keys"), 0);
    assert!(i > 0);
}

/// allkeys-random keeps accepting writes by evicting, and counts it.
fn allkeys_random_evicts(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    assert_eq!(
        c.q("CONFIG SET maxmemory-policy allkeys-random"),
        Reply::ok()
    );
    limit_above_current(&mut c, 2 << 20);
    let value = big_value();
    for i in 0..1000 {
        assert_eq!(
            c.cmd_str(&["SET", &format!("k{i}"), &value]),
            Reply::ok(),
            "SET k{i}"
        );
    }
    // Lift the limit so no command below evicts before the counts are read.
    assert_eq!(c.q("CONFIG SET maxmemory 0"), Reply::ok());
    let evicted = info_value(&mut c, "evicted_keys");
    assert!(evicted > 0, "10 MB into a 2 MB margin must evict");
    assert_eq!(c.q("DBSIZE").as_int() as u64 + evicted, 1000);
}

/// volatile-ttl only evicts keys that have a TTL.
fn volatile_ttl_spares_persistent_keys(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    for i in 0..50 {
        assert_eq!(c.cmd_str(&["SET", &format!("keep{i}"), "x"]), Reply::ok());
    }
    assert_eq!(c.q("CONFIG SET maxmemory-policy volatile-ttl"), Reply::ok());
    limit_above_current(&mut c, 2 << 20);
    let value = big_value();
    for i in 0..1000 {
        let reply = c.cmd_str(&["SET", &format!("t{i}"), &value, "EX", "1000"]);
        assert_eq!(reply, Reply::ok(), "SET t{i}");
    }
    assert!(info_value(&mut c, "evicted_keys") > 0);
    for i in 0..50 {
        assert_eq!(
            c.cmd_str(&["EXISTS", &format!("keep{i}")]),
            Reply::Int(1),
            "keep{i}"
        );
    }
}

/// OBJECT FREQ needs an LFU policy; a new key starts at LFU_INIT_VAL (5)
/// and counts up with use.
fn lfu_frequency(threads: usize) {
    let server = Server::sluice(threads, &[]);
    let mut c = server.client();
    assert_eq!(c.q("SET k v"), Reply::ok());
    assert!(c.q("OBJECT FREQ k").is_error());
    assert_eq!(c.q("CONFIG SET maxmemory-policy allkeys-lfu"), Reply::ok());
    assert_eq!(c.q("SET k v"), Reply::ok());
    let start = c.q("OBJECT FREQ k").as_int();
    assert_eq!(start, 5);
    for _ in 0..200 {
        c.q("GET k");
    }
    let after = c.q("OBJECT FREQ k").as_int();
    assert!(after > start, "200 reads must raise the counter: {after}");
}
