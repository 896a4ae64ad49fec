//! Real Redis tools against sluice-server: redis-benchmark and redis-cli.
//!
//! These are the clients the issue names; they exercise things our own
//! raw client does not (redis-benchmark's CONFIG GET probe at start,
//! 50 concurrent connections, pipelined inline PING, MSET of 10 keys;
//! redis-cli's reply printing). Skipped when the tools are missing, except
//! in CI (see `common::require_bin`).
mod common;

use common::{require_bin, run_to_exit, Server};
use std::time::Duration;

/// redis-benchmark's test names, in the order it runs them.
const TESTS: [&str; 18] = [
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "SADD",
    "HSET",
    "SPOP",
    "LPUSH (needed to benchmark LRANGE)",
    "LRANGE_100 (first 100 elements)",
    "LRANGE_300 (first 300 elements)",
    "LRANGE_500 (first 500 elements)",
    "LRANGE_600 (first 600 elements)",
    "MSET (10 keys)",
];

/// Goal: `redis-benchmark -q -n 20000` runs every implemented test against
/// sluice-server (server-threads 2) without errors.
/// 1. Run it with a bounded wall time (a hang fails instead of blocking CI).
/// 2. It must exit 0: redis-benchmark 7.0 exits non-zero on the first error
///    reply ("... replied with error:").
/// 3. Each test's final line (after the `\r` progress updates) must say
///    `requests per second`; no output may mention an error or the warning
///    printed when its startup CONFIG GET fails.
#[test]
fn redis_benchmark_runs_without_errors() {
    let Some(benchmark) = require_bin("redis-benchmark") else {
        return;
    };
    let server = Server::sluice(2, &[]);
    let port = server.port.to_string();
    let (status, output) = run_to_exit(
        benchmark.to_str().unwrap(),
        &[
            "-q",
            "-n",
            "20000",
            "-t",
            "ping_inline,ping_mbulk,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,lrange,mset",
            "-p",
            &port,
        ],
        Duration::from_secs(600),
    );
    assert!(
        status.success(),
        "redis-benchmark exited with {status}:\n{output}"
    );
    // -q rewrites a progress line with '\r'; the final result ends with '\n'.
    let results: Vec<&str> = output
        .split('\n')
        .filter_map(|line| line.rsplit('\r').map(str::trim).find(|s| !s.is_empty()))
        .collect();
    let lower = output.to_ascii_lowercase();
    assert!(
        !lower.contains("error") && !lower.contains("could not fetch server config"),
        "redis-benchmark reported a problem:\n{output}"
    );
    assert_eq!(
        results.len(),
        TESTS.len(),
        "expected one result line per test:\n{output}"
    );
    for (line, test) in results.iter().zip(TESTS) {
        assert!(
            line.starts_with(&format!("{test}: ")) && line.contains(" requests per second"),
            "result line for {test} is {line:?}; full output:\n{output}"
        );
    }
    eprintln!("{}", results.join("\n"));
    let mut c = server.client();
    assert_eq!(
        c.q("PING"),
        common::Reply::simple("PONG"),
        "server survives"
    );
}

/// redis-cli against sluice-server: SET then GET, plus a nil and an error,
/// in RESP2 and RESP3 (-3), as printed to a pipe (raw output mode).
#[test]
fn redis_cli_set_get() {
    let Some(cli) = require_bin("redis-cli") else {
        return;
    };
    let cli = cli.to_str().unwrap().to_string();
    let server = Server::sluice(2, &[]);
    let port = server.port.to_string();
    let run = |args: &[&str]| -> String {
        let mut argv = vec!["-p", port.as_str()];
        argv.extend_from_slice(args);
        let (status, output) = run_to_exit(&cli, &argv, Duration::from_secs(30));
        assert!(
            status.success(),
            "redis-cli {args:?} exited with {status}:\n{output}"
        );
        output
    };
    assert_eq!(run(&["set", "a", "b"]), "OK\n");
    assert_eq!(run(&["get", "a"]), "b\n");
    assert_eq!(run(&["ping"]), "PONG\n");
    assert_eq!(run(&["get", "nokey"]), "\n");
    // redis-cli prints error replies followed by an empty line.
    assert_eq!(
        run(&["incr", "a"]),
        "ERR value is not an integer or out of range\n\n"
    );
    assert_eq!(run(&["-3", "get", "a"]), "b\n");
    assert_eq!(run(&["-3", "mget", "a", "nokey"]), "b\n\n");
}
