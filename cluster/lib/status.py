#!/usr/bin/env python3
"""The cluster's state, read from Redis (the node registry, the job queue, INFO): the report
GET /api/v1/cluster gives (Sources/Gateway/ClusterRoutes.swift builds the same document), as a
table or as JSON. Used by cluster/status and by the other scripts to wait for a node.

    status.py (--redis HOST:PORT | --sentinels H:P,H:P [--sentinel-master NAME])
              [--json] [--balancer ADDRESS] [--wait-node ID [--timeout S]]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path

LANGUAGES = ["python", "javascript", "typescript", "c", "cpp", "java", "go", "ruby"]


class RedisError(Exception):
    pass


class Redis:
    """A minimal RESP2 client: enough for the status report."""

    def __init__(self, host: str, port: int, timeout: float = 3):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def pipeline(self, commands: list[list[str]]) -> list:
        out = bytearray()
        for args in commands:
            out += b"*%d\r\n" % len(args)
            for a in args:
                b = str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(b), b)
        self.sock.sendall(out)
        return [self._reply() for _ in commands]

    def call(self, *args: str):
        reply = self.pipeline([list(args)])[0]
        if isinstance(reply, RedisError):
            raise reply
        return reply

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ConnectionError(f"unexpected reply {line!r}")


def split_address(text: str, default_port: int) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("redis://"):
        text = text[len("redis://"):]
    text = text.rstrip("/")
    host, sep, port = text.rpartition(":")
    return (host, int(port)) if sep else (text, default_port)


def primary_from_sentinels(sentinels: str, name: str) -> tuple[str, int]:
    errors = []
    for part in sentinels.split(","):
        if not part.strip():
            continue
        host, port = split_address(part, 26379)
        try:
            r = Redis(host, port, timeout=1)
            try:
                reply = r.call("SENTINEL", "get-master-addr-by-name", name)
            finally:
                r.close()
            if reply:
                return reply[0], int(reply[1])
            errors.append(f"{host}:{port} does not monitor {name!r}")
        except (OSError, RedisError) as e:
            errors.append(f"{host}:{port}: {e}")
    raise ConnectionError("no sentinel named the primary: " + "; ".join(errors))


def report(r: Redis, address: str) -> dict:
    """The same document as ClusterReport.json in ClusterRoutes.swift."""
    commands = [
        ["TIME"],
        ["ZRANGE", "ci:{nodes}:gateways", "0", "-1", "WITHSCORES"],
        ["HGETALL", "ci:{nodes}:gateway-info"],
        ["ZRANGE", "ci:{nodes}:runners", "0", "-1", "WITHSCORES"],
        ["HGETALL", "ci:{nodes}:runner-info"],
        ["LLEN", "ci:{jobs}:queue"],
        ["INFO"],
    ] + [["LLEN", f"ci:{{jobs}}:parked:{language}"] for language in LANGUAGES]
    replies = r.pipeline(commands)
    for reply in replies:
        if isinstance(reply, RedisError):
            raise reply
    now = int(replies[0][0]) * 1000 + int(replies[0][1]) // 1000

    def pairs(items):
        return [(items[i], items[i + 1]) for i in range(0, len(items or []) - 1, 2)]

    def infos(items):
        out = {}
        for key, raw in pairs(items):
            try:
                out[key] = json.loads(raw)
            except ValueError:
                pass
        return out

    def node(kind, id_, info, expiry, state, extra):
        started, beat = info.get("started_at"), info.get("heartbeat_at")
        address_ = info.get("address")
        if address_ is None and info.get("host") is not None:
            address_ = f"{info['host']} pid {info['pid']}" if info.get("pid") is not None else info["host"]
        out = {
            "kind": kind, "id": id_, "node_id": info.get("node_id", id_), "address": address_, "state": state,
            "started_at": started, "up_ms": max(0, now - started) if started is not None else None,
            "heartbeat_at": beat, "heartbeat_age_ms": max(0, now - beat) if beat is not None else None,
            "lease_left_ms": expiry - now,
        }
        out.update(extra)
        return out

    totals = dict(gateways_up=0, runners_up=0, connections=0, websockets=0, sessions=0, jobs_running=0, jobs_capacity=0)
    nodes = []
    gateway_info = infos(replies[2])
    for id_, score in pairs(replies[1]):
        info, expiry = gateway_info.get(id_, {}), int(float(score))
        up = expiry > now
        c, w, s = info.get("connections", 0), info.get("websockets", 0), info.get("sessions", 0)
        if up:
            totals["gateways_up"] += 1
            totals["connections"] += c
            totals["websockets"] += w
            totals["sessions"] += s
        nodes.append(node("gateway", id_, info, expiry, "up" if up else "expired",
                          {"connections": c, "websockets": w, "sessions": s, "this": False}))
    runner_info = infos(replies[4])
    for id_, score in pairs(replies[3]):
        info, expiry = runner_info.get(id_, {}), int(float(score))
        up = expiry > now
        draining = bool(info.get("draining", False))
        running, capacity = info.get("running", 0), info.get("capacity", 0)
        if up:
            totals["runners_up"] += 1
            totals["jobs_running"] += running
            totals["jobs_capacity"] += 0 if draining else capacity
        languages = [lang.get("id") if isinstance(lang, dict) else lang for lang in info.get("languages", [])]
        nodes.append(node("runner", id_, info, expiry, "expired" if not up else "draining" if draining else "up",
                          {"jobs_running": running, "jobs_capacity": capacity,
                           "jobs_completed": info.get("completed", 0), "languages": languages}))
    fields = {}
    for line in (replies[6] or "").splitlines():
        if line and not line.startswith("#") and ":" in line:
            k, _, v = line.partition(":")
            fields[k] = v

    def num(k):
        try:
            return int(fields[k])
        except (KeyError, ValueError):
            return None

    redis = {
        "address": address, "role": fields.get("role"), "version": fields.get("redis_version"),
        "uptime_s": num("uptime_in_seconds"), "connected_clients": num("connected_clients"),
        "connected_replicas": num("connected_slaves"), "used_memory_bytes": num("used_memory"),
        "used_memory_human": fields.get("used_memory_human"), "maxmemory_bytes": num("maxmemory"),
        "aof_enabled": fields.get("aof_enabled") == "1", "aof_last_write_status": fields.get("aof_last_write_status"),
    }
    if fields.get("role") == "slave":
        redis["primary"] = f"{fields.get('master_host', '')}:{fields.get('master_port', '')}"
    return {
        "now": now,
        "redis": redis,
        "queue": {"queued": replies[5] or 0, "parked": sum(x or 0 for x in replies[7:])},
        "totals": totals,
        "nodes": nodes,
    }


def duration(ms) -> str:
    if ms is None:
        return "-"
    s = ms / 1000
    if s < 10:
        return f"{s:.1f}s"
    s = int(s)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def table(doc: dict) -> str:
    r = doc["redis"]
    memory = r["used_memory_human"] or "?"
    if r["maxmemory_bytes"]:
        memory += f" of {r['maxmemory_bytes'] // 1048576}M"
    lines = [
        f"redis    {r['address']}  role {r['role']}" + (f" of {r['primary']}" if r.get("primary") else "")
        + f"  v{r['version']}  memory {memory}  clients {r['connected_clients']}  replicas {r['connected_replicas']}"
        + f"  aof {'on' if r['aof_enabled'] else 'off'}" + (f" ({r['aof_last_write_status']})" if r["aof_enabled"] else "")
        + f"  up {duration((r['uptime_s'] or 0) * 1000)}",
        f"queue    {doc['queue']['queued']} queued, {doc['queue']['parked']} parked",
        "totals   {gateways_up} gateway(s) up, {runners_up} runner(s) up, {connections} connection(s), "
        "{websockets} websocket(s), {sessions} session room(s), jobs {jobs_running}/{jobs_capacity}".format(**doc["totals"]),
        "",
    ]
    header = ["KIND", "ID", "STATE", "BALANCER", "ADDRESS", "UP", "CONNS", "WS", "SESSIONS", "JOBS", "DONE", "HEARTBEAT"]
    rows = [header]
    for n in sorted(doc["nodes"], key=lambda n: (n["kind"], n["id"])):
        gateway = n["kind"] == "gateway"
        rows.append([
            n["kind"], n["id"], n["state"], n.get("balancer", "-"), n["address"] or "-", duration(n["up_ms"]),
            str(n["connections"]) if gateway else "-", str(n["websockets"]) if gateway else "-",
            str(n["sessions"]) if gateway else "-",
            "-" if gateway else f"{n['jobs_running']}/{n['jobs_capacity']}",
            "-" if gateway else str(n["jobs_completed"]),
            duration(n["heartbeat_age_ms"]) + " ago",
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    if len(rows) == 1:
        lines.append("(no node has registered yet)")
    return "\n".join(lines)


def balancer_states(address: str) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    import haproxy  # noqa: E402 -- next to this file

    try:
        return haproxy.stats(address, "gateways")
    except OSError:
        return {}


def connect(args) -> tuple[Redis, str]:
    if args.sentinels:
        host, port = primary_from_sentinels(args.sentinels, args.sentinel_master)
    else:
        host, port = split_address(args.redis, 6379)
    return Redis(host, port), f"{host}:{port}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--redis", default="127.0.0.1:6379")
    p.add_argument("--sentinels", default="")
    p.add_argument("--sentinel-master", default="codeinterview")
    p.add_argument("--json", action="store_true")
    p.add_argument("--balancer", default="")
    p.add_argument("--wait-node", default="", help="wait until a node whose id or node_id is this is up")
    p.add_argument("--wait-gone", default="", help="wait until no live node has this id or node_id")
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()

    if args.wait_node or args.wait_gone:
        wanted = args.wait_node or args.wait_gone
        deadline = time.monotonic() + args.timeout
        while True:
            try:
                r, address = connect(args)
                try:
                    doc = report(r, address)
                finally:
                    r.close()
                live = [n for n in doc["nodes"] if wanted in (n["id"], n["node_id"]) and n["state"] != "expired"]
                if (args.wait_node and live) or (args.wait_gone and not live):
                    return
            except (OSError, RedisError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                print(f"status: node {wanted} {'did not register' if args.wait_node else 'is still registered'} "
                      f"within {args.timeout:.0f} s", file=sys.stderr)
                sys.exit(1)
            time.sleep(0.25)

    try:
        r, address = connect(args)
        try:
            doc = report(r, address)
        finally:
            r.close()
    except (OSError, RedisError, ConnectionError) as e:
        print(f"status: cannot read the cluster state from Redis: {e}", file=sys.stderr)
        sys.exit(1)
    if args.balancer:
        states = balancer_states(args.balancer)
        if states:
            doc["balancer"] = states
            for n in doc["nodes"]:
                if n["kind"] == "gateway" and n["node_id"] in states:
                    n["balancer"] = states[n["node_id"]]["status"]
    print(json.dumps(doc, indent=2) if args.json else table(doc))


if __name__ == "__main__":
    main()
