#!/usr/bin/env python3
"""The cluster's state, read from Redis (the node registry, the job queue, INFO): the report
GET /api/v1/cluster gives (Sources/Gateway/Controllers/ClusterController.swift builds the same document), as a
table or as JSON. Used by cluster/status and by the other scripts to wait for a node.

    status.py (--redis HOST:PORT | --sentinels H:P,H:P [--sentinel-master NAME]
               | --redis-cluster H:P,H:P [--scan-limit N])
              [--json] [--balancer ADDRESS] [--wait-node ID [--timeout S]]

On a Redis Cluster the report's commands go to the primary that owns each key's slot (the
registry's `{nodes}`, the queue's `{jobs}`), and the report gains `redis_cluster`: every shard's
slot ranges, its primary and replicas (role, health, memory, clients), its keys (DBSIZE) and its
sessions (SCAN MATCH ci:{*}:session, bounded by --scan-limit keys per primary; never KEYS).
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



def info_fields(text: str) -> dict:
    fields = {}
    for line in (text or "").splitlines():
        if line and not line.startswith("#") and ":" in line:
            k, _, v = line.partition(":")
            fields[k] = v
    return fields


def as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class RedisCluster:
    """The report's view of a Redis Cluster: the shards (CLUSTER SHARDS from the first seed that
    answers) and one connection per primary, each command sent to the owner of its key's slot.
    The slot of a key is the server's answer to CLUSTER KEYSLOT: no second CRC16 to keep right."""

    def __init__(self, seeds: str, timeout: float = 3):
        self.timeout = timeout
        self.seeds = [split_address(part, 6379) for part in seeds.split(",") if part.strip()]
        if not self.seeds:
            raise ConnectionError("no Redis Cluster seed node given")
        self.connections: dict[str, Redis] = {}
        self.refresh()

    def refresh(self):
        errors = []
        for host, port in self.seeds:
            try:
                seed = Redis(host, port, timeout=1)
                try:
                    shards = seed.call("CLUSTER", "SHARDS")
                    info = info_fields(seed.call("CLUSTER", "INFO"))
                finally:
                    seed.close()
            except (OSError, RedisError, ConnectionError) as e:
                errors.append(f"{host}:{port}: {e}")
                continue
            self.seed, self.info = f"{host}:{port}", info
            self.shards = [self._shard(raw) for raw in shards or []]
            self.shards = [sh for sh in self.shards if sh["slots"] or sh["nodes"]]
            self.shards.sort(key=lambda sh: sh["slots"][0][0] if sh["slots"] else 16384)
            return
        raise ConnectionError("no Redis Cluster seed node answered: " + "; ".join(errors))

    @staticmethod
    def _shard(raw: list) -> dict:
        fields = dict(zip(raw[::2], raw[1::2]))
        flat = [int(x) for x in fields.get("slots") or []]
        nodes = []
        for node in fields.get("nodes") or []:
            n = dict(zip(node[::2], node[1::2]))
            host = n.get("ip") or n.get("endpoint")
            nodes.append({"address": f"{host}:{n.get('port')}", "id": n.get("id"), "role": n.get("role"),
                          "health": n.get("health"), "replication_offset": as_int(n.get("replication-offset"))})
        # The primary first, then its replicas.
        nodes.sort(key=lambda n: (n["role"] != "master", n["address"]))
        return {"slots": [[flat[i], flat[i + 1]] for i in range(0, len(flat) - 1, 2)], "nodes": nodes}

    def primary_of(self, slot: int) -> str:
        for shard in self.shards:
            if any(start <= slot <= end for start, end in shard["slots"]):
                for node in shard["nodes"]:
                    if node["role"] == "master":
                        return node["address"]
        raise ConnectionError(f"no primary serves slot {slot}")

    def connection(self, address: str) -> Redis:
        if address not in self.connections:
            self.connections[address] = Redis(*split_address(address, 6379), timeout=self.timeout)
        return self.connections[address]

    def slot(self, key: str) -> int:
        return int(self.connection(self.seed).call("CLUSTER", "KEYSLOT", key))

    @property
    def registry(self) -> str:
        """The primary of the node registry: where the report's TIME and INFO go."""
        return self.primary_of(self.slot("ci:{nodes}:gateways"))

    def pipeline(self, commands: list[list[str]]) -> list:
        """Each command to its key's primary (TIME and INFO to the registry's), in one round trip
        per primary; the replies in the commands' order."""
        slots: dict[str, int] = {}
        groups: dict[str, list[int]] = {}
        for i, args in enumerate(commands):
            if len(args) < 2 or args[0].upper() in ("TIME", "INFO"):
                address = self.registry
            else:
                if args[1] not in slots:
                    slots[args[1]] = self.slot(args[1])
                address = self.primary_of(slots[args[1]])
            groups.setdefault(address, []).append(i)
        replies: list = [None] * len(commands)
        for address, indices in groups.items():
            for i, reply in zip(indices, self.connection(address).pipeline([commands[i] for i in indices])):
                replies[i] = reply
        return replies

    def close(self):
        for r in self.connections.values():
            r.close()
        self.connections.clear()

    def report(self, scan_limit: int) -> dict:
        """Every shard: slots, nodes (INFO of each), keys and sessions of its primary."""
        shards = []
        for shard in self.shards:
            out = {"slots": shard["slots"], "slot_count": sum(end - start + 1 for start, end in shard["slots"]),
                   "keys": None, "session_keys": None, "session_keys_complete": False, "nodes": []}
            for node in shard["nodes"]:
                entry = dict(node, used_memory_bytes=None, used_memory_human=None, connected_clients=None,
                             aof_enabled=None, reachable=False)
                try:
                    r = self.connection(node["address"])
                    fields = info_fields(r.call("INFO"))
                    entry.update(reachable=True, role=fields.get("role", node["role"]),
                                 used_memory_bytes=as_int(fields.get("used_memory")),
                                 used_memory_human=fields.get("used_memory_human"),
                                 connected_clients=as_int(fields.get("connected_clients")),
                                 aof_enabled=fields.get("aof_enabled") == "1")
                    if node["role"] == "master":
                        out["keys"] = r.call("DBSIZE")
                        out["session_keys"], out["session_keys_complete"] = count_sessions(r, scan_limit)
                except (OSError, RedisError, ConnectionError) as e:
                    self.connections.pop(node["address"], None)
                    entry["error"] = str(e)
                out["nodes"].append(entry)
            shards.append(out)
        return {
            "seeds": [f"{h}:{p}" for h, p in self.seeds], "state": self.info.get("cluster_state"),
            "slots_assigned": as_int(self.info.get("cluster_slots_assigned")),
            "slots_ok": as_int(self.info.get("cluster_slots_ok")),
            "known_nodes": as_int(self.info.get("cluster_known_nodes")),
            "shards": shards,
        }


SCAN_COUNT = 1000


def count_sessions(r: Redis, scan_limit: int) -> tuple[int, bool]:
    """Session hashes (ci:{id}:session) on one node: SCAN in steps of SCAN_COUNT, at most about
    scan_limit keys examined. Returns (count, whether the scan covered the whole keyspace)."""
    cursor, found, examined, count = "0", 0, 0, max(1, min(SCAN_COUNT, scan_limit))
    while True:
        cursor, keys = r.call("SCAN", cursor, "MATCH", "ci:{*}:session", "COUNT", str(count))
        found += len(keys)
        examined += count
        if cursor == "0":
            return found, True
        if examined >= scan_limit:
            return found, False


def report(r: Redis | RedisCluster, address: str) -> dict:
    """The same document as ClusterReport.json in Controllers/ClusterController.swift."""
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
    # The archive queue ({archive}) and the archivers ({nodes}): a second round, as overdue is
    # counted by Redis' clock read in the first.
    archive = r.pipeline([
        ["ZCARD", "ci:{archive}:due"],
        ["ZCOUNT", "ci:{archive}:due", "-inf", str(now)],
        ["ZRANGEBYSCORE", "ci:{archive}:due", "-inf", str(now), "WITHSCORES", "LIMIT", "0", "1"],
        ["ZRANGE", "ci:{nodes}:archivers", "0", "-1", "WITHSCORES"],
        ["HGETALL", "ci:{nodes}:archiver-info"],
    ])
    for reply in archive:
        if isinstance(reply, RedisError):
            raise reply
    totals["archivers_up"] = 0
    archiver_info = infos(archive[4])
    for id_, score in pairs(archive[3]):
        info, expiry = archiver_info.get(id_, {}), int(float(score))
        up = expiry > now
        healthy, stopping = bool(info.get("healthy", False)), bool(info.get("stopping", False))
        if up:
            totals["archivers_up"] += 1
        state = "expired" if not up else "draining" if stopping else "up" if healthy else "unhealthy"
        nodes.append(node("archiver", id_, info, expiry, state,
                          {"healthy": healthy, "sessions_archiving": info.get("in_flight", 0),
                           "concurrency": info.get("concurrency", 0), "sessions_archived": info.get("archived", 0),
                           "failures": info.get("failed", 0)}))
    oldest = archive[2] or []
    archive_section = {"queued": archive[0] or 0, "overdue": archive[1] or 0,
                       "oldest_overdue_ms": max(0, now - int(float(oldest[1]))) if len(oldest) >= 2 else 0}
    fields = info_fields(replies[6])

    def num(k):
        return as_int(fields.get(k))

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
        "archive": archive_section,
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
        + f"  up {duration((r['uptime_s'] or 0) * 1000)}"
        + ("  (the node registry's primary)" if doc.get("redis_cluster") else ""),
        f"queue    {doc['queue']['queued']} queued, {doc['queue']['parked']} parked",
        f"archive  {doc['archive']['queued']} session(s) to archive, {doc['archive']['overdue']} overdue"
        + (f" (oldest waiting {duration(doc['archive']['oldest_overdue_ms'])})" if doc['archive']['overdue'] else "")
        + f", {doc['totals'].get('archivers_up', 0)} archiver(s) up",
        "totals   {gateways_up} gateway(s) up, {runners_up} runner(s) up, {connections} connection(s), "
        "{websockets} websocket(s), {sessions} session room(s), jobs {jobs_running}/{jobs_capacity}".format(**doc["totals"]),
        "",
    ]
    if doc.get("redis_cluster"):
        lines[-1:-1] = cluster_table(doc["redis_cluster"])
    header = ["KIND", "ID", "STATE", "BALANCER", "ADDRESS", "UP", "CONNS", "WS", "SESSIONS", "JOBS", "DONE", "HEARTBEAT"]
    rows = [header]
    for n in sorted(doc["nodes"], key=lambda n: (n["kind"], n["id"])):
        gateway, archiver = n["kind"] == "gateway", n["kind"] == "archiver"
        rows.append([
            n["kind"], n["id"], n["state"], n.get("balancer", "-"), n["address"] or "-", duration(n["up_ms"]),
            str(n["connections"]) if gateway else "-", str(n["websockets"]) if gateway else "-",
            str(n["sessions"]) if gateway else "-",
            "-" if gateway else f"{n['sessions_archiving']}/{n['concurrency']}" if archiver
            else f"{n['jobs_running']}/{n['jobs_capacity']}",
            "-" if gateway else str(n["sessions_archived"] if archiver else n["jobs_completed"]),
            duration(n["heartbeat_age_ms"]) + " ago",
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    if len(rows) == 1:
        lines.append("(no node has registered yet)")
    return "\n".join(lines)


def slot_ranges(slots: list) -> str:
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in slots) or "none"


def cluster_table(c: dict) -> list[str]:
    """The shards of a Redis Cluster: one line per shard, one per node of it."""
    lines = [f"cluster  state {c['state']}, {c['slots_ok']}/16384 slots ok, {len(c['shards'])} shard(s), "
             f"{c['known_nodes']} node(s) known"]
    rows = [["", "ROLE", "ADDRESS", "HEALTH", "MEMORY", "CLIENTS", "AOF"]]
    for i, shard in enumerate(c["shards"], 1):
        sessions = "?" if shard["session_keys"] is None else (
            str(shard["session_keys"]) + ("" if shard["session_keys_complete"] else "+ (scan limit reached)"))
        lines.append(f"shard {i}  slots {slot_ranges(shard['slots'])} ({shard['slot_count']})  "
                     f"keys {'?' if shard['keys'] is None else shard['keys']}  sessions {sessions}")
        for n in shard["nodes"]:
            role = {"master": "primary", "slave": "replica"}.get(n["role"], n["role"] or "?")
            lines.append(f"  {role:<8} {n['address']:<21} {n['health'] or '?':<8} "
                         f"memory {n['used_memory_human'] or '?':<8} clients {'?' if n['connected_clients'] is None else n['connected_clients']:<4} "
                         f"aof {'?' if n['aof_enabled'] is None else 'on' if n['aof_enabled'] else 'off'}"
                         + (f"  unreachable: {n['error']}" if n.get("error") else ""))
    return lines


def balancer_states(address: str) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    import haproxy  # noqa: E402 -- next to this file

    try:
        return haproxy.stats(address, "gateways")
    except OSError:
        return {}


def connect(args) -> tuple[Redis | RedisCluster, str]:
    if args.redis_cluster:
        cluster = RedisCluster(args.redis_cluster)
        try:
            return cluster, cluster.registry
        except BaseException:
            cluster.close()
            raise
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
    p.add_argument("--redis-cluster", default="", help="Redis Cluster seed nodes host:port,...")
    p.add_argument("--scan-limit", type=int, default=100000, help="keys SCANned per primary to count sessions")
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
        # A slot that moved between the shard map and a command (a reshard): read the map again once.
        for attempt in (1, 2):
            r, address = connect(args)
            try:
                doc = report(r, address)
                if isinstance(r, RedisCluster):
                    doc["redis_cluster"] = r.report(args.scan_limit)
                break
            except RedisError as e:
                if attempt == 2 or not str(e).startswith(("MOVED", "ASK")):
                    raise
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
