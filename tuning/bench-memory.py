#!/usr/bin/env python3
"""Memory per key: redis-server vs sluice-server, same run, fresh servers.

For each value type, starts a fresh redis-server and a fresh sluice-server
(release build, server-threads 1) on probed loopback ports, loads N keys of
that type through one pipelined connection, and reports the growth of INFO
used_memory and of the process RSS (used_memory_rss) divided by N, for both,
and their ratio. Prints a markdown table with the machine line.

Usage: python3 tuning/bench-memory.py [N]   (default 1000000)
"""
import os, re, socket, subprocess, sys, time, platform

from benchlib import free_port

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "target", "release", "sluice-server")

TYPES = [
    ("string (int)", lambda i: ["SET", f"key:{i}", str(i + 1_000_000)]),
    ("string (10 B)", lambda i: ["SET", f"key:{i}", "abcdefghij"]),
    ("hash (5 fields)", lambda i: ["HSET", f"key:{i}", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"]),
    ("list (5 elements)", lambda i: ["RPUSH", f"key:{i}", "a", "b", "c", "d", "e"]),
    ("set (5 ints)", lambda i: ["SADD", f"key:{i}", "1", "2", "3", "4", "5"]),
    ("zset (5 members)", lambda i: ["ZADD", f"key:{i}", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"]),
]


def encode(parts):
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        b = p.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def request(port, parts):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(encode(parts))
        data = b""
        while True:
            data += s.recv(1 << 20)
            m = re.match(rb"[$=](\d+)\r\n", data)
            if m and len(data) >= m.end() + int(m.group(1)) + 2:
                return data.decode(errors="replace")
            if data[:1] in (b"+", b"-", b":") and data.endswith(b"\r\n"):
                return data.decode(errors="replace")


def memory(port):
    info = request(port, ["INFO", "memory"])
    used = int(re.search(r"used_memory:(\d+)", info).group(1))
    rss = int(re.search(r"used_memory_rss:(\d+)", info).group(1))
    return used, rss


def load(port, gen):
    with socket.create_connection(("127.0.0.1", port)) as s:
        batch = []
        size = 0
        for i in range(N):
            b = encode(gen(i))
            batch.append(b)
            size += len(b)
            if size > 1 << 20:
                s.sendall(b"".join(batch))
                batch, size = [], 0
        s.sendall(b"".join(batch) + encode(["PING"]))
        tail = b""
        while not tail.endswith(b"+PONG\r\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                raise RuntimeError("server closed the connection")
            tail = (tail + chunk)[-64:]


def start(cmd, port):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(1000):
        try:
            if "PONG" in request(port, ["PING"]):
                return proc
        except OSError:
            time.sleep(0.01)
    proc.kill()
    raise RuntimeError(f"{cmd[0]} did not start")


def measure(kind, gen):
    port = free_port()
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    else:
        cmd = [SLUICE, "--port", str(port), "--bind", "127.0.0.1", "--server-threads", "1"]
    proc = start(cmd, port)
    try:
        before = memory(port)
        load(port, gen)
        time.sleep(0.2)
        after = memory(port)
        return (after[0] - before[0]) / N, (after[1] - before[1]) / N
    finally:
        proc.kill()
        proc.wait()


def main():
    if not os.path.exists(SLUICE):
        subprocess.check_call(["cargo", "build", "--release", "--bin", "sluice-server"], cwd=ROOT)
    print(f"### Memory per key, N={N} (fresh servers per type, sluice server-threads 1)\n")
    print("| type | redis used B/key | sluice used B/key | used ratio | redis RSS B/key | sluice RSS B/key | RSS ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, gen in TYPES:
        r = measure("redis", gen)
        s = measure("sluice", gen)
        print(f"| {name} | {r[0]:.0f} | {s[0]:.0f} | {s[0] / r[0]:.2f} | {r[1]:.0f} | {s[1]:.0f} | {s[1] / max(r[1], 1):.2f} |")
    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ver = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    print(f"\nMachine: {os.cpu_count()} CPUs ({cpu}), kernel {platform.release()}, {' '.join(ver[:3])}.")


if __name__ == "__main__":
    main()
