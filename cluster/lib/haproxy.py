#!/usr/bin/env python3
"""HAProxy runtime API client for the cluster scripts (no socat needed).

    haproxy.py ADDRESS raw "show stat"           # any runtime command, output as is
    haproxy.py ADDRESS add BACKEND NAME HOST:PORT # add a server (or re-enable it), health-checked
    haproxy.py ADDRESS drain BACKEND NAME         # no new requests or connections; existing stay
    haproxy.py ADDRESS wait-idle BACKEND NAME SECONDS   # until it has no request in flight
    haproxy.py ADDRESS remove BACKEND NAME        # maintenance, then delete (retries while busy)
    haproxy.py ADDRESS servers BACKEND            # JSON {name: {status, address, sessions, ...}}

ADDRESS is the admin socket's path, or host:port of a TCP admin socket (cluster/up --admin-address).
"""

from __future__ import annotations

import csv
import io
import json
import socket
import sys
import time

SERVER_OPTIONS = "check inter 1s fall 2 rise 1"


def command(address: str, line: str, timeout: float = 5) -> str:
    if "/" in address:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: object = address
    else:
        host, _, port = address.rpartition(":")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        target = (host, int(port))
    with s:
        s.settimeout(timeout)
        s.connect(target)
        s.sendall(line.encode() + b"\n")
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    return out.decode(errors="replace")


def stats(address: str, backend: str) -> dict[str, dict]:
    text = command(address, "show stat")
    if text.startswith("# "):
        text = text[2:]
    rows = csv.DictReader(io.StringIO(text))
    out = {}
    for row in rows:
        if row.get("pxname") != backend or row.get("svname") in ("FRONTEND", "BACKEND"):
            continue
        out[row["svname"]] = {
            "status": row.get("status", ""),
            "address": row.get("addr", ""),
            "sessions": int(row.get("scur") or 0),
            "queued": int(row.get("qcur") or 0),
            "total_sessions": int(row.get("stot") or 0),
            "check": row.get("check_status", ""),
        }
    return out


def fail(message: str) -> None:
    print(f"haproxy: {message}", file=sys.stderr)
    sys.exit(1)


def add(address: str, backend: str, name: str, target: str) -> None:
    existing = stats(address, backend)
    if name in existing:
        host, _, port = target.rpartition(":")
        command(address, f"set server {backend}/{name} addr {host} port {port}")
    else:
        out = command(address, f"add server {backend}/{name} {target} {SERVER_OPTIONS}")
        if "New server registered" not in out:
            fail(f"add server {backend}/{name} {target}: {out.strip()}")
        command(address, f"enable health {backend}/{name}")
    out = command(address, f"set server {backend}/{name} state ready")
    if out.strip():
        fail(f"set server {backend}/{name} state ready: {out.strip()}")


def drain(address: str, backend: str, name: str) -> None:
    out = command(address, f"set server {backend}/{name} state drain")
    if out.strip():
        fail(f"set server {backend}/{name} state drain: {out.strip()}")


def wait_idle(address: str, backend: str, name: str, seconds: float) -> None:
    """Waits until the server has nothing queued and no connection other than tunnels; since
    HAProxy counts a WebSocket as a session, 'idle' here means 'no change for a moment'."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        now = stats(address, backend).get(name)
        if now is None:
            return
        key = (now["queued"], now["total_sessions"])
        if now["queued"] == 0 and key == last:
            return
        last = key
        time.sleep(0.3)


def remove(address: str, backend: str, name: str, seconds: float = 10) -> None:
    if name not in stats(address, backend):
        return
    command(address, f"set server {backend}/{name} state maint")
    deadline = time.monotonic() + seconds
    while True:
        out = command(address, f"del server {backend}/{name}")
        if "Server deleted" in out or "No such server" in out:
            return
        if time.monotonic() > deadline:
            fail(f"del server {backend}/{name}: {out.strip()}")
        command(address, f"shutdown sessions server {backend}/{name}")
        time.sleep(0.3)


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(argv) > 1 else 2)
    address, action, args = argv[1], argv[2], argv[3:]
    try:
        if action == "raw":
            sys.stdout.write(command(address, " ".join(args)))
        elif action == "add" and len(args) == 3:
            add(address, *args)
        elif action == "drain" and len(args) == 2:
            drain(address, *args)
        elif action == "wait-idle" and len(args) == 3:
            wait_idle(address, args[0], args[1], float(args[2]))
        elif action == "remove" and len(args) == 2:
            remove(address, *args)
        elif action == "servers" and len(args) == 1:
            print(json.dumps(stats(address, args[0])))
        else:
            fail(f"unknown action or wrong arguments: {' '.join(argv[2:])} (see --help)")
    except OSError as e:
        fail(f"cannot reach the runtime API at {address}: {e}")


if __name__ == "__main__":
    main(sys.argv)
