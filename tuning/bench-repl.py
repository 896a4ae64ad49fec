#!/usr/bin/env python3
"""Replication benchmarks of issue 5: redis-server vs sluice-server, each
as a master with one replica of its own kind, in one run (README
"Replication").

Usage: python3 tuning/bench-repl.py [ROUNDS] [WAITS] [SETS] [THREADS]
  ROUNDS   alternating rounds per server (default 3; medians are reported)
  WAITS    SET+WAIT pairs per round (default 20000, after 2000 warm-up)
  SETS     redis-benchmark requests per round (default 2000000)
  THREADS  sluice server-threads for master and replica (default: nproc)
Environment: BENCH_SLUICE_ARGS adds arguments to every sluice server
(A/B runs, e.g. "--replica-apply-threads 1").

Per round and server, on probed loopback ports:
1. start a master and a replica, REPLICAOF, wait for master_link_status:up;
2. SET+WAIT 1: one client sends `SET k v`, reads +OK, sends `WAIT 1 0`,
   reads :1; the latency of the pair in microseconds (p50/p99/p99.9/max);
   the same client's SET+PING pairs are the floor (two round trips of this
   client on this host, no replication wait);
3. `redis-benchmark -t set -P 16 -c 50 -n SETS` against the master with
   the replica attached; then waits for the replica's offset to equal the
   master's (the run counts only if the replica kept up); the same with
   `-r 1000000` (random keys: the replica applies runs in parallel);
4. catch-up: the replica stopped (SIGSTOP) while `redis-benchmark -t set
   -P 16 -c 50 -r 1000000 -n SETS` writes random keys on the master,
   then resumed (SIGCONT): SETs per second from the resume until its
   offset equals the master's (how fast a replica applies a stream it
   fell behind on; sluice's applies runs of it in parallel);
5. the same SET run against the master without its replica, for the
   cost of replicating.
Prints per-round rows, a median table with sluice/redis ratios, and the
machine line. Servers are killed on exit.
"""
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import benchlib
from benchlib import cli, free_port

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
WAITS = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
SETS = int(sys.argv[3]) if len(sys.argv) > 3 else 2_000_000
THREADS = sys.argv[4] if len(sys.argv) > 4 else str(os.cpu_count())
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "target", "release", "sluice-server")
# More sluice arguments for A/B runs, e.g. "--replica-apply-threads 1".
SLUICE_EXTRA = os.environ.get("BENCH_SLUICE_ARGS", "").split()


def info_field(port, field):
    return benchlib.info_field(port, "replication", field)


def start(kind, port, workdir):
    # The backlog and an unlimited output buffer keep a stopped replica
    # (catch-up rows) attached.
    common = ["--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "",
              "--appendonly", "no", "--repl-diskless-sync-delay", "0",
              "--repl-backlog-size", "512mb", "--client-output-buffer-limit", "replica 0 0 0"]
    if kind == "redis":
        cmd = ["redis-server", *common]
    else:
        cmd = [SLUICE, *common, "--server-threads", THREADS, *SLUICE_EXTRA]
    log = open(os.path.join(workdir, "server.log"), "a")
    return subprocess.Popen(cmd, stdout=log, stderr=log)


def wait_for(what, cond, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def read_line(sock, buf):
    while b"\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk
    line, rest = buf.split(b"\r\n", 1)
    return line, rest


def set_wait(port, n, warmup=2000, second=b"*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$1\r\n0\r\n",
             answer=b":1"):
    set_cmd = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nval\r\n"
    wait_cmd = second
    lat = []
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        for i in range(n + warmup):
            t0 = time.perf_counter_ns()
            s.sendall(set_cmd)
            line, buf = read_line(s, buf)
            assert line == b"+OK", line
            s.sendall(wait_cmd)
            line, buf = read_line(s, buf)
            assert line == answer, line
            if i >= warmup:
                lat.append((time.perf_counter_ns() - t0) / 1000)
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    return {"p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "max": lat[-1]}


def set_throughput(port, *extra):
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-P", "16", "-c", "50",
         "-n", str(SETS), "-q", *extra],
        capture_output=True, text=True).stdout
    m = re.findall(r"SET: ([0-9.]+) requests per second", out)
    if not m:
        raise SystemExit(f"redis-benchmark output not understood: {out!r}")
    return float(m[-1])


def catch_up(replica, mport, rport):
    """SETs per second a stopped replica applies once resumed."""
    replica.send_signal(signal.SIGSTOP)
    try:
        set_throughput(mport, "-r", "1000000")
        target = int(info_field(mport, "master_repl_offset"))
    finally:
        t0 = time.perf_counter()
        replica.send_signal(signal.SIGCONT)
    poll = benchlib.Conn(rport)
    try:
        while True:
            text = poll.call("INFO", "replication")
            offset = int(text.split("slave_repl_offset:", 1)[1].split()[0])
            if offset >= target:
                break
            time.sleep(0.002)
    finally:
        poll.close()
    return SETS / (time.perf_counter() - t0)


def one_round(kind):
    work = tempfile.mkdtemp(prefix=f"bench-repl-{kind}-")
    mport, rport = free_port(), free_port()
    os.makedirs(os.path.join(work, "m"))
    os.makedirs(os.path.join(work, "r"))
    master = start(kind, mport, os.path.join(work, "m"))
    replica = start(kind, rport, os.path.join(work, "r"))
    try:
        wait_for("servers", lambda: ping(mport) and ping(rport))
        cli(rport, "REPLICAOF", "127.0.0.1", str(mport))
        wait_for("the link", lambda: info_field(rport, "master_link_status") == "up")
        lat = set_wait(mport, WAITS)
        floor = set_wait(mport, WAITS, second=b"*1\r\n$4\r\nPING\r\n", answer=b"+PONG")
        tput = set_throughput(mport)
        tput_random = set_throughput(mport, "-r", "1000000")
        wait_for("the replica to catch up",
                 lambda: info_field(rport, "slave_repl_offset")
                 == info_field(mport, "master_repl_offset"), timeout=300)
        catchup = catch_up(replica, mport, rport)
        replica.kill()
        replica.wait()
        wait_for("the replica to be gone", lambda: info_field(mport, "connected_slaves") == "0")
        alone = set_throughput(mport)
        return lat, floor, tput, alone, catchup, tput_random
    finally:
        for p in (master, replica):
            p.kill()
            p.wait()
        subprocess.run(["rm", "-rf", work])


def main():
    if not os.path.exists(SLUICE):
        raise SystemExit("build first: cargo build --release")
    results = {"redis": [], "sluice": []}
    for r in range(ROUNDS):
        for kind in ("redis", "sluice"):
            lat, floor, tput, alone, catchup, tput_random = one_round(kind)
            results[kind].append((lat, tput, floor, alone, catchup, tput_random))
            print(f"round {r + 1} {kind:6}: SET+WAIT p50 {lat['p50']:.0f} us, p99 {lat['p99']:.0f} us, "
                  f"p99.9 {lat['p999']:.0f} us, max {lat['max']:.0f} us "
                  f"(SET+PING p50 {floor['p50']:.0f}, p99 {floor['p99']:.0f}); "
                  f"SET -P16 -c50 {tput:,.0f} req/s replicated ({tput_random:,.0f} random keys), "
                  f"{alone:,.0f} alone; "
                  f"catch-up {catchup:,.0f} SET/s", flush=True)

    def med(kind, f):
        return statistics.median(f(x) for x in results[kind])

    rows = [
        ("SET+WAIT 1 p50 (us)", lambda x: x[0]["p50"], True),
        ("SET+WAIT 1 p99 (us)", lambda x: x[0]["p99"], True),
        ("SET+WAIT 1 p99.9 (us)", lambda x: x[0]["p999"], True),
        ("SET+PING p50, the client's floor (us)", lambda x: x[2]["p50"], True),
        ("SET+PING p99, the client's floor (us)", lambda x: x[2]["p99"], True),
        ("SET -P 16 -c 50, replica attached (req/s)", lambda x: x[1], False),
        ("SET -P 16 -c 50 -r 1000000 (random keys), replica attached (req/s)",
         lambda x: x[5], False),
        ("SET -P 16 -c 50, no replica (req/s)", lambda x: x[3], False),
        ("replica catch-up, random keys (SET/s applied)", lambda x: x[4], False),
    ]
    print()
    print("| metric (median of %d rounds) | redis-server | sluice | ratio |" % ROUNDS)
    print("|---|---:|---:|---:|")
    for name, f, lower_better in rows:
        a, b = med("redis", f), med("sluice", f)
        ratio = (a / b) if lower_better else (b / a)
        word = "x lower" if lower_better else "x"
        print(f"| {name} | {a:,.0f} | {b:,.0f} | {ratio:.2f}{word} |")
    uname = os.uname()
    redis_ver = subprocess.run(["redis-server", "--version"], capture_output=True,
                               text=True).stdout.split()[2]
    print(f"\nmachine: {os.cpu_count()} cores, {uname.sysname} {uname.release}, "
          f"redis-server {redis_ver}, sluice server-threads {THREADS}, "
          f"{benchlib.idle_note()}")


if __name__ == "__main__":
    main()
