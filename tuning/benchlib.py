"""Helpers the tuning/bench-*.py scripts share: a free loopback port,
redis-cli calls, a polling connection, INFO fields and a process tree's
PSS. Imported as `benchlib` (the scripts run
from anywhere as `python3 tuning/<script>.py`, which puts tuning/ first
on the import path)."""
import socket
import subprocess


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cli(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True)
    return out.stdout.strip()


class Conn:
    """One RESP connection for polling: spawning redis-cli every few ms
    costs a good part of a core, which a 2-core host's servers need."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def call(self, *args):
        """The reply: str for simple/bulk strings and integers, None for
        nil; raises on an error reply."""
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        line = self.file.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2].decode()
        return rest.decode()

    def close(self):
        self.file.close()
        self.sock.close()


def idle_note():
    """How this host's idle CPUs wake, for the machine line: on a VM guest
    with the haltpoll driver, guest_halt_poll_ns (0 makes every cross-CPU
    wake-up tens of microseconds: latency rows depend on it)."""
    def read(path):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return None
    driver = read("/sys/devices/system/cpu/cpuidle/current_driver")
    if driver == "haltpoll":
        ns = read("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
        return f"cpuidle haltpoll, guest_halt_poll_ns={ns}"
    return f"cpuidle {driver or 'n/a'}"


def info_field(port, section, field):
    for line in cli(port, "INFO", section).splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    return None


def pss_tree(pid):
    """PSS in bytes of pid and its children (Redis's fork child)."""
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
