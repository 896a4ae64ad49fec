#!/usr/bin/env python3
"""Full sync: redis-server vs sluice-server in one run (README "Full sync").

Usage: python3 tuning/bench-sync.py [KEYS] [THREADS] [ROUNDS]
  KEYS     comma-separated key counts, 100 random bytes each
           (default 1000000,10000000); `none`: the payload rates only
  THREADS  sluice server-threads (default: nproc)
  ROUNDS   rounds for the first key count (medians); others run once
           (default 3)
Environment: BENCH_ONLY=sluice skips redis-server (its column repeats
sluice's); BENCH_RATES=0 skips the payload-rate rows; BENCH_JSON=path
writes the results for tuning/plot-sync.py.

Each server kind syncs a fresh, empty replica of its own kind (redis ->
redis, sluice -> sluice) on probed loopback ports, fresh `--dir`s, killed
on exit. Both masters run with repl-diskless-sync-delay 0 (Redis's 5 s
default would otherwise be most of Redis's time; sluice honours it too)
and otherwise their defaults (diskless sync; replicas load from disk).
Rows per key count:
1. idle: wall time from REPLICAOF to the replica's INFO showing
   master_link_status:up and master_sync_in_progress:0;
2. under writes: the same while `redis-benchmark -t set -r <keys> -d 100
   -P 8 -c 4` overwrites random keys on the master; meanwhile another
   client sends GET every 200 us (p50/p99/max over the sync); the
   master's commands served per second over the sync (the writes and
   the GETs, total_commands_processed);
3. memory: row 2's load again, the GET probe replaced by sampling the
   peak PSS of the master's process tree (Redis's fork child included)
   every 5 ms (growth over the PSS before the sync). Separate rounds:
   reading smaps_rollup that often stalls the process it reads (with it,
   sluice's GET p99 tripled and its sync took ~20% longer);
4. quiet replica: row 2 again with the replica at nice 19, for its GET
   latency rows only. Master, replica and load generator share the two
   cores here; a replica loading with every core it has (sluice's does)
   takes them from the master's shards, so row 2's latencies measure the
   host more than the master. In production the replica has its own host;
   nice 19 approximates that (BENCH_REPLICA_NICE sets the value).
Payload rate: 1 GiB of 1 KiB and of 16 KiB values, RDB bytes (a SAVE's
file size) over the idle sync's wall time, with the replicas loading
from disk (the default) and loading the stream as it arrives
(repl-diskless-load on-empty-db).
After every sync the replica must reach the master's key count. The
replica's INFO and DBSIZE are polled over one connection (a redis-cli
process every 2 ms took a good part of a core from the servers).
"""
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import Conn, cli, free_port, idle_note, info_field, pss_tree

KEY_ARG = sys.argv[1] if len(sys.argv) > 1 else "1000000,10000000"
KEY_COUNTS = [] if KEY_ARG == "none" else [int(k) for k in KEY_ARG.split(",")]
THREADS = sys.argv[2] if len(sys.argv) > 2 else str(os.cpu_count())
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
# A sync not done by then is reported as such (see sync_once).
GIVE_UP = int(os.environ.get("BENCH_GIVE_UP", "180"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "target", "release", "sluice-server")


REPLICA_NICE = int(os.environ.get("BENCH_REPLICA_NICE", "19"))


class Server:
    def __init__(self, kind, extra=(), nice=0):
        extra = ["--repl-diskless-sync-delay", "0", *extra]
        self.kind = kind
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"bench-sync-{kind}-")
        common = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                  "--save", "", "--appendonly", "no", *extra]
        cmd = ["redis-server", *common] if kind == "redis" else \
            [SLUICE, *common, "--server-threads", THREADS]
        log = open(os.path.join(self.dir, "server.log"), "a")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log,
                                     preexec_fn=(lambda: os.nice(nice)) if nice else None)
        deadline = time.time() + 30
        while time.time() < deadline:
            if cli(self.port, "PING") == "PONG":
                return
            time.sleep(0.01)
        raise SystemExit(f"{kind} did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        subprocess.run(["rm", "-rf", self.dir])


def fill(port, path):
    with open(path, "rb") as f:
        subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=f,
                       capture_output=True, check=True)


def proto_file(keys, size):
    path = os.path.join(tempfile.gettempdir(), f"bench-sync-{keys}-{size}-r.resp")
    if not os.path.exists(path):
        import random
        rnd = random.Random(1)
        with open(path, "wb") as f:
            for i in range(keys):
                # redis-benchmark's `-r` names: its SETs overwrite these
                # keys (with "key:%d" every write added a key, and the
                # dataset's growth was counted as the sync's memory).
                k = b"key:%012d" % i
                v = rnd.randbytes(size)
                f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, size, v))
    return path


def synced(conn):
    info = conn.call("INFO", "replication")
    return "master_link_status:up" in info and "master_sync_in_progress:0" in info


def sync_once(master, replica_kind, during=None, load="disabled", nice=0):
    """Seconds from REPLICAOF to link up on a fresh replica (at `nice`);
    `during` is a callable run while the sync runs (returns a stop
    callable)."""
    replica = Server(replica_kind, ["--repl-diskless-load", load], nice)
    try:
        stop = during() if during else None
        t0 = time.time()
        cli(replica.port, "REPLICAOF", "127.0.0.1", str(master.port))
        deadline = t0 + GIVE_UP
        poll = Conn(replica.port)
        while not synced(poll):
            if time.time() > deadline:
                # Redis under heavy writes can loop on full syncs (its
                # output-buffer limit drops the replica): recorded as
                # "gave up", with how many full syncs the master ran.
                extra = stop() if stop else {}
                fulls = info_field(master.port, "stats", "sync_full")
                print(f"{master.kind}: replica not in sync after {GIVE_UP} s, "
                      f"master sync_full={fulls}", file=sys.stderr)
                extra = dict(extra or {}, gave_up=int(fulls or 0))
                return float("inf"), extra
            time.sleep(0.002)
        took = time.time() - t0
        extra = stop() if stop else None
        # Converged: the replica holds as many keys as the master
        # (the writes stopped above).
        deadline = time.time() + 60
        ask = Conn(master.port)
        def dbsize(conn):
            # A Redis replica that fell into another full sync (its
            # output-buffer limit) answers -LOADING meanwhile.
            try:
                return conn.call("DBSIZE")
            except RuntimeError as e:
                if str(e).startswith("LOADING"):
                    return None
                raise
        while dbsize(poll) != ask.call("DBSIZE"):
            if time.time() > deadline:
                raise SystemExit("replica did not converge")
            time.sleep(0.01)
        poll.close()
        ask.close()
        return took, extra
    finally:
        replica.stop()


def under_writes(master, keys, pss=False, probe=True):
    """The write load; with `probe` a GET every 200 us (latencies), with
    `pss` the master's PSS every 5 ms (peak growth). Not both in one run:
    reading smaps_rollup every 5 ms stalls the sampled process (it tripled
    sluice's GET p99 and slowed its sync by ~20% here)."""
    def start():
        bench = subprocess.Popen(
            ["redis-benchmark", "-p", str(master.port), "-t", "set", "-r", str(keys),
             "-d", "100", "-P", "8", "-c", "4", "-n", "1000000000", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        base = pss_tree(master.proc.pid)
        done = threading.Event()
        peak = [base]
        lat = []

        def sample():
            while pss and not done.is_set():
                peak[0] = max(peak[0], pss_tree(master.proc.pid))
                time.sleep(0.005)

        def get_probe():
            if not probe:
                return
            with socket.create_connection(("127.0.0.1", master.port)) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                while not done.is_set():
                    t = time.perf_counter()
                    s.sendall(b"*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000001\r\n")
                    got = b""
                    while b"\r\n" not in got:
                        got += s.recv(1024)
                    head, _, rest = got.partition(b"\r\n")
                    need = int(head[1:]) + 2 if head.startswith(b"$") and head != b"$-1" else 0
                    while len(rest) < need:
                        rest += s.recv(1024)
                    lat.append(time.perf_counter() - t)
                    time.sleep(0.0002)

        threads = [threading.Thread(target=sample), threading.Thread(target=get_probe)]
        for t in threads:
            t.start()
        served = lambda: int(info_field(master.port, "stats", "total_commands_processed"))
        c0, t0 = served(), time.time()

        def stop():
            rate = (served() - c0) / (time.time() - t0)
            done.set()
            for t in threads:
                t.join()
            bench.kill()
            bench.wait()
            if not probe:
                return {"growth": peak[0] - base, "base": base}
            lat.sort()
            pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6
            return {"p50": pct(0.5), "p99": pct(0.99), "max": lat[-1] * 1e6, "served": rate}
        return stop
    return start


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def measure(kind):
    out = {}
    for n, keys in enumerate(KEY_COUNTS):
        rounds = ROUNDS if n == 0 else 1
        master = Server(kind)
        try:
            fill(master.port, proto_file(keys, 100))
            assert int(cli(master.port, "DBSIZE")) == keys
            out[f"idle{keys}"] = median([sync_once(master, kind)[0] for _ in range(rounds)])
            runs = [sync_once(master, kind, under_writes(master, keys)) for _ in range(rounds)]
            runs.sort(key=lambda r: r[0])
            took, extra = runs[len(runs) // 2]
            out[f"busy{keys}"] = took
            out.update({f"{k}{keys}": v for k, v in extra.items()})
            runs = [sync_once(master, kind, under_writes(master, keys, pss=True, probe=False))
                    for _ in range(rounds)]
            runs.sort(key=lambda r: r[1]["growth"])
            out.update({f"{k}{keys}": v for k, v in runs[len(runs) // 2][1].items()})
            runs = [sync_once(master, kind, under_writes(master, keys), nice=REPLICA_NICE)
                    for _ in range(rounds)]
            runs.sort(key=lambda r: r[1]["p99"])
            out.update({f"quiet{k}{keys}": v for k, v in runs[len(runs) // 2][1].items()
                        if k in ("p50", "p99", "max")})
        finally:
            master.stop()
    for size in () if os.environ.get("BENCH_RATES") == "0" else (1024, 16384):
        master = Server(kind)
        try:
            keys = (1 << 30) // size
            fill(master.port, proto_file(keys, size))
            cli(master.port, "SAVE")
            rdb = os.path.getsize(os.path.join(master.dir, "dump.rdb"))
            for load in ("disabled", "on-empty-db"):
                took = median([sync_once(master, kind, load=load)[0] for _ in range(ROUNDS)])
                out[f"rate{size}{load}"] = rdb / took
        finally:
            master.stop()
    return out


def main():
    if not os.path.exists(SLUICE):
        subprocess.run(["cargo", "build", "--release", "--bin", "sluice-server"], cwd=ROOT, check=True)
    # BENCH_ONLY=sluice (while iterating): the redis-server column repeats
    # sluice's, ratios are meaningless.
    s = measure("sluice")
    r = s if os.environ.get("BENCH_ONLY") == "sluice" else measure("redis")
    mb = 1e6
    print(f"### Full sync: keys of 100 random bytes, sluice server-threads {THREADS}, "
          f"medians of {ROUNDS} for {KEY_COUNTS[0] if KEY_COUNTS else 'the payload rates'}\n")
    print("| metric | redis-server | sluice | ratio |")
    print("|---|---:|---:|---:|")
    rows = []
    for keys in KEY_COUNTS:
        rows += [
            (f"sync {keys:,} keys idle (s)", f"idle{keys}", 1, "{:.2f}", True),
            (f"sync {keys:,} keys under writes (s)", f"busy{keys}", 1, "{:.2f}", True),
            (f"{keys:,} keys: master commands served during the sync (k/s)", f"served{keys}", 1e3,
             "{:.0f}", False),
            (f"{keys:,} keys: master GET p50 during the sync (us)", f"p50{keys}", 1, "{:.0f}", True),
            (f"{keys:,} keys: master GET p99 during the sync (us)", f"p99{keys}", 1, "{:.0f}", True),
            (f"{keys:,} keys: master GET max during the sync (us)", f"max{keys}", 1, "{:.0f}", True),
            (f"{keys:,} keys, replica at nice {REPLICA_NICE}: master GET p50 during the sync (us)",
             f"quietp50{keys}", 1, "{:.0f}", True),
            (f"{keys:,} keys, replica at nice {REPLICA_NICE}: master GET p99 during the sync (us)",
             f"quietp99{keys}", 1, "{:.0f}", True),
            (f"{keys:,} keys, replica at nice {REPLICA_NICE}: master GET max during the sync (us)",
             f"quietmax{keys}", 1, "{:.0f}", True),
            (f"{keys:,} keys: master PSS before (MB)", f"base{keys}", mb, "{:.0f}", None),
            (f"{keys:,} keys: master PSS growth during the sync (MB)", f"growth{keys}", mb, "{:.0f}", True),
        ]
    for size in (1024, 16384):
        for load in ("disabled", "on-empty-db"):
            rows.append((f"payload rate, {size // 1024} KiB values, replica load {load} (MB/s)",
                         f"rate{size}{load}", mb, "{:.0f}", False))
    for name, key, unit, fmt, lower in rows:
        if key not in s:
            continue
        a, b = r[key] / unit, s[key] / unit
        if a == float("inf") or b == float("inf"):
            show = lambda v: f"> {GIVE_UP} (gave up)" if v == float("inf") else fmt.format(v)
            print(f"| {name} | {show(a)} | {show(b)} | - |")
            continue
        if lower is None:
            ratio = ""
        elif lower:
            # "lower" is better; a worse sluice reads as "higher".
            ratio = "-" if b <= 0 or a <= 0 else (
                f"{a / b:.2f}x lower" if a >= b else f"{b / a:.2f}x higher")
        else:
            ratio = f"{b / a:.2f}x"
        print(f"| {name} | {fmt.format(a)} | {fmt.format(b)} | {ratio} |")
    redis_v = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    machine = (f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, "
               f"redis-server {redis_v}, sluice {commit}, {idle_note()}")
    print(f"\nmachine: {machine}; command: python3 tuning/bench-sync.py "
          f"{KEY_ARG} {THREADS} {ROUNDS}")
    if os.environ.get("BENCH_JSON"):
        with open(os.environ["BENCH_JSON"], "w") as f:
            json.dump({"redis": r, "sluice": s, "keys": KEY_COUNTS, "machine": machine,
                       "give_up": GIVE_UP}, f, indent=1)


if __name__ == "__main__":
    main()
