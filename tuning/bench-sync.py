#!/usr/bin/env python3
"""Full sync: redis-server vs sluice-server in one run (README "Full sync").

Usage: python3 tuning/bench-sync.py [KEYS] [THREADS] [ROUNDS]
  KEYS     keys of 100 random bytes for the sync-time rows (default 1000000)
  THREADS  sluice server-threads (default: nproc)
  ROUNDS   rounds per row, medians reported (default 3)

Each server kind syncs a replica of its own kind (redis -> redis,
sluice -> sluice), both with their defaults (diskless sync, disk load),
on probed loopback ports, fresh `--dir`s, killed on exit. Rows:
1. idle: wall time from REPLICAOF on an empty replica to its INFO showing
   master_link_status:up and master_sync_in_progress:0;
2. under writes: the same while `redis-benchmark -t set -r KEYS -d 100
   -P 8 -c 4` overwrites random keys on the master; also the master's
   client latency (a GET every 200 us from another client: p50/p99/max)
   and the peak PSS of the master's process tree (Redis's fork child
   included) over the PSS before, sampled every 5 ms;
3. payload rate: 1 GiB of 1 KiB and of 16 KiB values, RDB bytes (a SAVE's
   file size) over the idle sync's wall time.
After every sync the replica must reach the master's key count.
Prints a markdown table with ratios and the machine line.
"""
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import cli, free_port, info_field

KEYS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
THREADS = sys.argv[2] if len(sys.argv) > 2 else str(os.cpu_count())
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "target", "release", "sluice-server")


def pss_tree(pid):
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class Server:
    def __init__(self, kind, extra=()):
        self.kind = kind
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"bench-sync-{kind}-")
        common = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                  "--save", "", "--appendonly", "no", *extra]
        cmd = ["redis-server", *common] if kind == "redis" else \
            [SLUICE, *common, "--server-threads", THREADS]
        log = open(os.path.join(self.dir, "server.log"), "a")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
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
    path = os.path.join(tempfile.gettempdir(), f"bench-sync-{keys}-{size}.resp")
    if not os.path.exists(path):
        import random
        rnd = random.Random(1)
        with open(path, "wb") as f:
            for i in range(keys):
                k = b"key:%d" % i
                v = rnd.randbytes(size)
                f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, size, v))
    return path


def synced(port):
    info = cli(port, "INFO", "replication")
    return "master_link_status:up" in info and "master_sync_in_progress:0" in info


def sync_once(master, replica_kind, during=None):
    """Seconds from REPLICAOF to link up on a fresh replica; `during` is a
    callable run while the sync runs (returns a stop callable)."""
    replica = Server(replica_kind)
    try:
        stop = during() if during else None
        t0 = time.time()
        cli(replica.port, "REPLICAOF", "127.0.0.1", str(master.port))
        deadline = t0 + 600
        while not synced(replica.port):
            if time.time() > deadline:
                raise SystemExit(f"{replica_kind} replica did not sync")
            time.sleep(0.002)
        took = time.time() - t0
        extra = stop() if stop else None
        # Converged: the replica holds as many keys as the master.
        deadline = time.time() + 60
        while cli(replica.port, "DBSIZE") != cli(master.port, "DBSIZE"):
            if time.time() > deadline:
                raise SystemExit("replica did not converge")
            time.sleep(0.01)
        return took, extra
    finally:
        replica.stop()


def under_writes(master):
    def start():
        bench = subprocess.Popen(
            ["redis-benchmark", "-p", str(master.port), "-t", "set", "-r", str(KEYS),
             "-d", "100", "-P", "8", "-c", "4", "-n", "1000000000", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        base = pss_tree(master.proc.pid)
        done = threading.Event()
        peak = [base]
        lat = []

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], pss_tree(master.proc.pid))
                time.sleep(0.005)

        def probe():
            with socket.create_connection(("127.0.0.1", master.port)) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                while not done.is_set():
                    t = time.perf_counter()
                    s.sendall(b"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n")
                    got = b""
                    while b"\r\n" not in got:
                        got += s.recv(1024)
                    head, _, rest = got.partition(b"\r\n")
                    need = int(head[1:]) + 2 if head.startswith(b"$") and head != b"$-1" else 0
                    while len(rest) < need:
                        rest += s.recv(1024)
                    lat.append(time.perf_counter() - t)
                    time.sleep(0.0002)

        threads = [threading.Thread(target=sample), threading.Thread(target=probe)]
        for t in threads:
            t.start()

        def stop():
            done.set()
            for t in threads:
                t.join()
            bench.kill()
            bench.wait()
            lat.sort()
            pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6
            return {"growth": peak[0] - base, "base": base,
                    "p50": pct(0.5), "p99": pct(0.99), "max": lat[-1] * 1e6}
        return stop
    return start


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def measure(kind):
    out = {}
    master = Server(kind)
    try:
        fill(master.port, proto_file(KEYS, 100))
        assert int(cli(master.port, "DBSIZE")) == KEYS
        out["idle"] = median([sync_once(master, kind)[0] for _ in range(ROUNDS)])
        runs = [sync_once(master, kind, under_writes(master)) for _ in range(ROUNDS)]
        runs.sort(key=lambda r: r[0])
        took, extra = runs[len(runs) // 2]
        out["busy"] = took
        out.update(extra)
    finally:
        master.stop()
    for size in () if os.environ.get("BENCH_RATES") == "0" else (1024, 16384):
        master = Server(kind)
        try:
            keys = (1 << 30) // size
            fill(master.port, proto_file(keys, size))
            cli(master.port, "SAVE")
            rdb = os.path.getsize(os.path.join(master.dir, "dump.rdb"))
            took = median([sync_once(master, kind)[0] for _ in range(ROUNDS)])
            out[f"rate{size}"] = rdb / took
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
    print(f"### Full sync: {KEYS} keys of 100 random bytes, medians of {ROUNDS}, "
          f"sluice server-threads {THREADS}\n")
    print("| metric | redis-server | sluice | ratio |")
    print("|---|---:|---:|---:|")
    rows = [
        (f"sync {KEYS} keys idle (s)", r["idle"], s["idle"], "{:.3f}", True),
        (f"sync {KEYS} keys under writes (s)", r["busy"], s["busy"], "{:.3f}", True),
        ("master client GET p50 during sync (us)", r["p50"], s["p50"], "{:.0f}", True),
        ("master client GET p99 during sync (us)", r["p99"], s["p99"], "{:.0f}", True),
        ("master client GET max during sync (us)", r["max"], s["max"], "{:.0f}", True),
        ("master PSS before (MB)", r["base"] / mb, s["base"] / mb, "{:.0f}", None),
        ("master PSS growth during sync (MB)", r["growth"] / mb, s["growth"] / mb, "{:.0f}", True),
    ]
    if "rate1024" in s:
        rows += [
            ("payload rate, 1 KiB values (MB/s)", r["rate1024"] / mb, s["rate1024"] / mb, "{:.0f}", False),
            ("payload rate, 16 KiB values (MB/s)", r["rate16384"] / mb, s["rate16384"] / mb, "{:.0f}", False),
        ]
    for name, a, b, fmt, lower in rows:
        if lower is None:
            ratio = ""
        elif lower:
            ratio = f"{a / b:.2f}x lower" if b > 0 else "-"
        else:
            ratio = f"{b / a:.2f}x"
        print(f"| {name} | {fmt.format(a)} | {fmt.format(b)} | {ratio} |")
    redis_v = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"\nmachine: {os.cpu_count()} cores ({cpu}), Linux {platform.release()}, "
          f"redis-server {redis_v}, sluice {commit}; command: "
          f"python3 tuning/bench-sync.py {KEYS} {THREADS} {ROUNDS}")


if __name__ == "__main__":
    main()
