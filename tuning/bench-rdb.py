#!/usr/bin/env python3
"""BGSAVE time, startup load time and memory during BGSAVE: redis-server vs
sluice-server in one run (README "Persistence").

Usage: python3 tuning/bench-rdb.py [KEYS] [THREADS]
  KEYS     keys of 100 random bytes each (default 1000000)
  THREADS  sluice server-threads (default: nproc)

For each server, in turn, on probed loopback ports with `--dir <tmp>`:
1. fill KEYS keys `key:<i>` with 100 random bytes (the same bytes for both,
   pipelined through redis-cli --pipe);
2. BGSAVE idle: wall time from the command to `rdb_bgsave_in_progress:0`;
3. BGSAVE under writes: a client overwrites random keys as fast as it can
   while another BGSAVE runs; peak PSS of the server's process tree (Redis's
   fork child included) over the PSS before, sampled every 5 ms;
4. restart on the file: wall time from spawn to answering DBSIZE = KEYS,
   twice: with the file in the page cache (read once before: "warm"),
   and, when run as root, with the page cache dropped ("cold", the file
   read from disk). sluice writes RDB files with O_DIRECT (rdb-direct-io),
   so its own saves leave nothing cached; both rows treat both servers
   alike.
Prints a markdown table with ratios and the machine line. Servers are
killed on exit.
"""
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import cli, free_port, info_field, pss_tree

KEYS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
THREADS = sys.argv[2] if len(sys.argv) > 2 else str(os.cpu_count())
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "target", "release", "sluice-server")


def start(name, port, workdir):
    common = ["--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "",
              "--appendonly", "no", "--dbfilename", "dump.rdb"]
    if name == "redis":
        cmd = ["redis-server", *common]
    else:
        cmd = [SLUICE, *common, "--server-threads", THREADS]
    log = open(os.path.join(workdir, "server.log"), "a")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    return proc


def wait_loaded(port, keys, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"*1\r\n$6\r\nDBSIZE\r\n")
                reply = s.recv(100)
                if reply.startswith(b":") and int(reply[1:].split(b"\r")[0]) == keys:
                    return True
        except OSError:
            pass
        time.sleep(0.002)
    raise SystemExit(f"server on {port} did not load {keys} keys")


def bgsave_wall(port):
    t0 = time.time()
    reply = cli(port, "BGSAVE")
    assert "started" in reply, reply
    while True:
        time.sleep(0.002)
        if info_field(port, "persistence", "rdb_bgsave_in_progress") == "0":
            break
    assert info_field(port, "persistence", "rdb_last_bgsave_status") == "ok"
    return time.time() - t0


def writer(port, stop, counter):
    value = os.urandom(50).hex().encode()
    with socket.create_connection(("127.0.0.1", port)) as s:
        rnd = random.Random(7)
        while not stop.is_set():
            batch = b"".join(
                b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n" % (len(k), k, value)
                for k in (b"key:%d" % rnd.randrange(KEYS) for _ in range(64)))
            s.sendall(batch)
            need = 64 * 5
            got = 0
            while got < need:
                got += len(s.recv(65536))
            counter[0] += 64


def drop_caches():
    """Empties the page cache (root only); False when not permitted."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def fill_file(path):
    rnd = random.Random(1)
    with open(path, "wb") as f:
        for i in range(KEYS):
            k = b"key:%d" % i
            v = rnd.randbytes(100)
            f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n" % (len(k), k, v))


def run(name, proto):
    workdir = tempfile.mkdtemp(prefix=f"bench-rdb-{name}-")
    port = free_port()
    proc = start(name, port, workdir)
    try:
        wait_loaded(port, 0, 30)
        with open(proto, "rb") as f:
            subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=f, capture_output=True, check=True)
        assert int(cli(port, "DBSIZE")) == KEYS
        idle = bgsave_wall(port)
        size = os.path.getsize(os.path.join(workdir, "dump.rdb"))
        base = pss_tree(proc.pid)
        stop, counter = threading.Event(), [0]
        w = threading.Thread(target=writer, args=(port, stop, counter))
        w.start()
        time.sleep(0.3)
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], pss_tree(proc.pid))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        busy = bgsave_wall(port)
        done.set()
        sampler.join()
        stop.set()
        w.join()
        cli(port, "SAVE")
        loads = {}
        for mode in ("warm", "cold"):
            proc.terminate()
            proc.wait(60)
            if mode == "warm":
                with open(os.path.join(workdir, "dump.rdb"), "rb") as f:
                    while f.read(1 << 24):
                        pass
            elif not drop_caches():
                continue
            t0 = time.time()
            proc = start(name, port, workdir)
            wait_loaded(port, KEYS)
            loads[mode] = time.time() - t0
        return {"idle": idle, "busy": busy, "size": size, "base": base, "peak": peak[0],
                "loads": loads, "writes": counter[0]}
    finally:
        proc.kill()
        proc.wait()
        subprocess.run(["rm", "-rf", workdir])


def main():
    if not os.path.exists(SLUICE):
        subprocess.run(["cargo", "build", "--release", "--bin", "sluice-server"], cwd=ROOT, check=True)
    proto = os.path.join(tempfile.gettempdir(), f"bench-rdb-{KEYS}.resp")
    if not os.path.exists(proto):
        fill_file(proto)
    r = run("redis", proto)
    s = run("sluice", proto)
    mb = 1 << 20
    print(f"### RDB: {KEYS} keys of 100 random bytes, sluice server-threads {THREADS}\n")
    print("| measure | redis-server | sluice-server | redis/sluice |")
    print("|---|---:|---:|---:|")
    print(f"| BGSAVE, idle (s) | {r['idle']:.3f} | {s['idle']:.3f} | {r['idle'] / s['idle']:.1f}x |")
    print(f"| BGSAVE under writes (s) | {r['busy']:.3f} | {s['busy']:.3f} | {r['busy'] / s['busy']:.1f}x |")
    for mode in ("warm", "cold"):
        if mode in r["loads"] and mode in s["loads"]:
            a, b = r["loads"][mode], s["loads"][mode]
            print(f"| startup load, {mode} page cache (s) | {a:.3f} | {b:.3f} | {a / b:.1f}x |")
    print(f"| RDB size (MiB) | {r['size'] / mb:.1f} | {s['size'] / mb:.1f} | |")
    for x in (r, s):
        x["over"] = 100.0 * (x["peak"] - x["base"]) / x["base"]
    print(f"| PSS before BGSAVE (MiB) | {r['base'] / mb:.0f} | {s['base'] / mb:.0f} | |")
    print(f"| peak PSS during BGSAVE under writes (MiB) | {r['peak'] / mb:.0f} | {s['peak'] / mb:.0f} | |")
    print(f"| memory overhead during BGSAVE | {r['over']:.1f}% | {s['over']:.1f}% | |")
    print(f"| writes during the busy BGSAVE | {r['writes']} | {s['writes']} | |")
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ver = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    print(f"\nMachine: {os.cpu_count()} CPUs ({cpu}), kernel {os.uname().release}, redis-server {ver.replace('v=', '')}.")


if __name__ == "__main__":
    main()
