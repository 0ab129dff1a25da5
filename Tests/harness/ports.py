"""Free loopback ports. A port is free when this process can bind it now; the server that gets it
binds it a moment later, so whoever starts a server also checks that what answers there is that
server (see processes)."""

from __future__ import annotations

import random
import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel picks (in the ephemeral range)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def bindable(port: int, host: str = "127.0.0.1") -> bool:
    return ports_free(host, port, 1)


def ports_free(host: str, first: int, count: int) -> bool:
    for port in range(first, first + count):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def free_block(count: int, host: str = "127.0.0.1") -> int:
    """The first of `count` consecutive free ports (random base, so parallel runs rarely collide).
    Below the ephemeral range (32768 up), where an outgoing connection's local port could take one
    between this check and the server's bind (seen: a gateway's EADDRINUSE), and apart from the
    Redis Cluster nodes' ports (20000-22767) and their bus ports (30000-32767)."""
    for _ in range(200):
        base = random.randrange(23000, 30000 - count)
        if ports_free(host, base, count):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def free_cluster_block(count: int, host: str = "127.0.0.1") -> int:
    """The first of `count` consecutive free ports for Redis Cluster nodes, whose bus ports
    (port + 10000) must be free too: both below the ephemeral range (32768 up), where an outgoing
    connection's local port can take a bus port."""
    for _ in range(200):
        base = random.randrange(20000, 22768 - count)
        if ports_free(host, base, count) and ports_free(host, base + 10000, count):
            return base
    raise RuntimeError(f"no {count} consecutive free ports (and their bus ports) for a Redis Cluster")
