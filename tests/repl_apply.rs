//! A replica applying runs of its master's stream in parallel
//! (`repl::apply`): the replica is stopped (SIGSTOP) while its master takes
//! a pipelined mix of writes, so the stream arrives in large reads, then
//! resumed. The mix makes order matter (INCR, RPUSH, APPEND, HINCRBY, SET
//! then DEL of the same keys) and cuts runs with SELECT, multi-stripe MSET
//! and MULTI/EXEC blocks. Datasets are compared by DEBUG DIGEST at equal
//! offsets; INFO's `sluice_replica_apply` shows the parallel path ran.

#[macro_use]
mod common;

use common::repl::*;
use common::{info_field, Client, Reply, Rng, Server};

/// Sends `n` writes (pipelined, 500 at a time) and checks no reply is an
/// error.
fn mixed_writes(c: &mut Client, rng: &mut Rng, n: usize) {
    let mut sent = 0;
    while sent < n {
        let batch = (n - sent).min(500);
        for _ in 0..batch {
            let i = rng.below(1000).to_string();
            let k = rng.below(200);
            match rng.below(1000) {
                0..=199 => c.send_str(&["INCR", &format!("c:{k}")]),
                200..=349 => c.send_str(&["RPUSH", &format!("l:{}", k % 50), &i]),
                350..=449 => c.send_str(&["APPEND", &format!("a:{}", k % 30), &i]),
                450..=599 => c.send_str(&["HINCRBY", &format!("h:{}", k % 40), &i[..1], "1"]),
                600..=849 => c.send_str(&["SET", &format!("s:{k}"), &i]),
                850..=939 => c.send_str(&["DEL", &format!("s:{k}")]),
                940..=989 => c.send_str(&["LPOP", &format!("l:{}", k % 50)]),
                // Runs end at these (one in a hundred): a db switch there
                // and back, keys in two stripes, a transaction.
                990..=992 => {
                    c.send_str(&["SELECT", "2"]);
                    c.send_str(&["INCR", &format!("c:{k}")]);
                    c.send_str(&["SELECT", "0"]);
                }
                993..=994 => c.send_str(&["DEL", &format!("s:{k}"), &format!("c:{k}")]),
                995..=996 => c.send_str(&["MSET", &format!("m:{k}"), &i, &format!("c:{k}"), "7"]),
                _ => {
                    c.send_str(&["MULTI"]);
                    c.send_str(&["INCR", &format!("c:{k}")]);
                    c.send_str(&["RPUSH", &format!("l:{}", k % 50), "tx"]);
                    c.send_str(&["EXEC"]);
                }
            }
        }
        // Some cases sent several commands: read until every one answered
        // (a PING marks the end of the batch).
        c.send_str(&["PING"]);
        loop {
            let reply = c.read_reply();
            assert!(!reply.is_error(), "{reply}");
            if reply == Reply::simple("PONG") {
                break;
            }
        }
        sent += batch;
    }
}

fn signal(server: &Server, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &server.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// The commands the replica applied in parallel so far.
fn parallel_commands(r: &mut Client) -> u64 {
    let field = info_field(r, "sluice_replica_apply").expect("sluice_replica_apply");
    field
        .split(',')
        .find_map(|kv| kv.strip_prefix("parallel_commands="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no parallel_commands in {field}"))
}

/// Clients of `master` and `replica`, the replica's link up.
fn attach(master: &Server, replica: &Server) -> (Client, Client) {
    let (m, mut r) = (master.client(), replica.client());
    replicaof(&mut r, master);
    link_up(&mut r);
    (m, r)
}

/// `n` writes on `m` while `replica` is stopped; it runs again after.
fn while_stopped(m: &mut Client, replica: &Server, rng: &mut Rng, n: usize) {
    signal(replica, "-STOP");
    mixed_writes(m, rng, n);
    signal(replica, "-CONT");
}

/// Stops `replica`, writes on `m`, resumes it, and waits for equal data.
fn catch_up(m: &mut Client, replica: &Server, r: &mut Client, rng: &mut Rng) {
    let before = parallel_commands(r);
    while_stopped(m, replica, rng, 20_000);
    converge(m, r);
    assert!(
        parallel_commands(r) > before,
        "no run was applied in parallel"
    );
}

/// sluice -> sluice with three apply parts on two cores; then a
/// sub-replica full-syncs from the replica while it applies in parallel:
/// the cut must hold a prefix of the stream (an INCR counted twice or
/// not at all would change the digest).
#[test]
fn parallel_apply_from_sluice_master_and_cut_on_the_replica() {
    let mut rng = Rng::from_env();
    let master = sluice(2, &[]);
    let replica = sluice(2, &["--replica-apply-threads", "3"]);
    let (mut m, mut r) = attach(&master, &replica);
    catch_up(&mut m, &replica, &mut r, &mut rng);

    // Twice: whether a cut lands inside a run is a matter of timing.
    for _ in 0..2 {
        let sub = sluice(1, &[]);
        let mut s = sub.client();
        while_stopped(&mut m, &replica, &mut rng, 60_000);
        // The sub-replica's handshake lands while the replica applies.
        replicaof(&mut s, &replica);
        // More while the sub-replica syncs and the replica catches up.
        mixed_writes(&mut m, &mut rng, 10_000);
        converge(&mut m, &mut r);
        converge(&mut r, &mut s);
    }
}

/// redis-server -> sluice: Redis's own stream (its SELECTs, its MULTI
/// wrapping) applied in parallel.
#[test]
fn parallel_apply_from_redis_master() {
    if !redis_or_skip() {
        return;
    }
    let mut rng = Rng::from_env();
    let master = redis(&[]);
    let replica = sluice(2, &[]);
    let (mut m, mut r) = attach(&master, &replica);
    catch_up(&mut m, &replica, &mut r, &mut rng);
    catch_up(&mut m, &replica, &mut r, &mut rng);
}

/// `replica-apply-threads 1`: the link applies everything itself.
#[test]
fn one_apply_thread_applies_in_order() {
    let mut rng = Rng::from_env();
    let master = sluice(2, &[]);
    let replica = sluice(2, &["--replica-apply-threads", "1"]);
    let (mut m, mut r) = attach(&master, &replica);
    while_stopped(&mut m, &replica, &mut rng, 20_000);
    converge(&mut m, &mut r);
    assert_eq!(parallel_commands(&mut r), 0);
}
