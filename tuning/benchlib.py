"""Helpers the tuning/bench-*.py scripts share: a free loopback port,
redis-cli calls and INFO fields. Imported as `benchlib` (the scripts run
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


def info_field(port, section, field):
    for line in cli(port, "INFO", section).splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    return None
