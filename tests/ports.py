"""Ports for the servers the tests start, picked below the kernel's ephemeral range.

A port found by binding port 0 comes from the ephemeral range, where the other test
worker's JVMs keep binding short-lived sockets (every PySpark `collect` serves its rows on
one). Between picking such a port and the server binding it, a JVM can take it, and the
test's client then talks to that JVM: once, a kernel client's ZeroMQ greeting reached a
`collect` socket in the other worker, and that collect failed. The kernel never hands out
ports below the ephemeral range, so there only another test can take one, and a test's
server that loses that race fails to bind and says so.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10_000


def ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (Linux default 32768)."""
    try:
        return int(RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port() -> int:
    """A port nobody listens on now, outside the range the kernel picks ports from."""
    highest = max(ephemeral_start() - 1, LOWEST + 1_000)
    for _ in range(500):
        port = random.randint(LOWEST, highest)  # noqa: S311 (not a secret)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port between {LOWEST} and {highest}")
