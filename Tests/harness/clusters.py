"""Whole clusters of this machine run by the operator's own scripts (cluster/up, down, add, drain,
status): each from its own state directory, Redis with AOF, or a primary + replica + 3 sentinels,
or a Redis Cluster of N primaries and N replicas; HAProxy, gateways, runners; on loopback ports
picked here. Clients go through HAProxy, as users would. Nothing leaves the machine: every address
is 127.0.0.x."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness import REPO
from harness.binaries import binary_path
from harness.ports import free_block, free_cluster_block
from harness.rest import post_session

# The operator's scripts.
CLUSTER = REPO / "cluster"


def redis_cli(address: str, *args: str, check: bool = True) -> str:
    """One redis-cli command to one node (no -c: a redirection comes back as the answer)."""
    host, _, port = address.rpartition(":")
    out = subprocess.run(["redis-cli", "-h", host, "-p", port, *args], capture_output=True, text=True, timeout=10)
    if check:
        assert out.returncode == 0, out.stderr
    return out.stdout


class Cluster:
    """One cluster of this machine, run by the cluster/ scripts from its own state directory."""

    def __init__(self, state: str, *, gateways: int = 2, runners: int = 0, archivers: int = 1, sentinel: bool = False,
                 redis_cluster: int = 0, admin_address: bool = False, gateway_args: str = "", runner_args: str = ""):
        self.state = state
        self.bin = binary_path()
        self.public_port = free_block(1)
        self.gateway_port = free_block(12)
        # redis_cluster=N: N primaries and N replicas on redis_port..redis_port+2N-1.
        self.redis_port = free_cluster_block(2 * redis_cluster) if redis_cluster else free_block(2)
        self.sentinel_port = free_block(3) if sentinel else None
        self.admin_address = f"127.0.0.1:{free_block(1)}" if admin_address else None
        # The PostgreSQL cluster/up starts (the interview record): a port of this cluster's own.
        self.postgres_port = free_block(1)
        self.env = dict(os.environ)
        # Every client here is 127.0.0.1: per-address rate limits would count them all as one.
        self.env["CODEINTERVIEW_RATE_LIMITS"] = "off"
        self.env["CODEINTERVIEW_CLUSTER_STATE"] = state
        args = ["--gateways", str(gateways), "--runners", str(runners), "--archivers", str(archivers),
                "--bind", f"127.0.0.1:{self.public_port}",
                "--gateway-port", str(self.gateway_port), "--redis-port", str(self.redis_port),
                "--postgres-port", str(self.postgres_port),
                "--languages", "python", "--bin", self.bin, "--admin-token", "test-admin-token",
                "--gateway-args", "--shutdown-grace 5 " + gateway_args,
                "--runner-args", "--concurrency 1 " + runner_args]
        if sentinel:
            args += ["--sentinel", "--sentinel-port", str(self.sentinel_port), "--down-after", "2000"]
        if redis_cluster:
            args += ["--redis-cluster", str(redis_cluster)]
        if self.admin_address:
            args += ["--admin-address", self.admin_address]
        self.up_args = args
        self.up_output = self.run("up", *args, timeout=180)
        self.settings = self._read_env()

    # -- scripts ------------------------------------------------------------------------------

    def run(self, script: str, *args: str, timeout: float = 120, check: bool = True) -> str:
        proc = subprocess.run([str(CLUSTER / script), "--state", self.state, *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"cluster/{script} {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc.stdout + proc.stderr

    def _read_env(self) -> dict:
        out = {}
        for line in Path(self.state, "cluster.env").read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, _, v = line.partition("=")
                out[k] = v
        return out

    def status(self) -> dict:
        return json.loads(self.run("status", "--json"))

    def down(self):
        try:
            self.run("down", "--timeout", "10", "--purge", timeout=120, check=False)
        finally:
            # Whatever survived (it should not): kill by the pids recorded.
            for pid_file in Path(self.state, "nodes").glob("*.pid") if Path(self.state, "nodes").exists() else []:
                try:
                    os.kill(int(pid_file.read_text()), signal.SIGKILL)
                except (ValueError, OSError):
                    pass
            shutil.rmtree(self.state, ignore_errors=True)

    # -- addresses and nodes ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.public_port}"

    def ws_url(self, session_id: str) -> str:
        return f"ws://127.0.0.1:{self.public_port}/ws/sessions/{session_id}"

    @property
    def balancer(self) -> str:
        return self.settings["BALANCER"]

    def nodes(self, kind: str) -> list[str]:
        out = []
        for f in sorted(Path(self.state, "nodes").glob("*.kind")):
            if f.read_text().strip() == kind:
                out.append(f.stem)
        return out

    def pid(self, node: str) -> int | None:
        f = Path(self.state, "nodes", f"{node}.pid")
        if not f.exists():
            return None
        pid = int(f.read_text())
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def addr(self, node: str) -> str:
        return Path(self.state, "nodes", f"{node}.addr").read_text().strip()

    def kill9(self, node: str) -> int:
        pid = self.pid(node)
        assert pid, f"{node} is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return pid
            # A child of ours only when started by the test; reap if so.
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"{node} (pid {pid}) survived SIGKILL")

    def balancer_servers(self) -> dict:
        out = subprocess.run([sys.executable, str(CLUSTER / "lib" / "haproxy.py"), self.balancer, "servers", "gateways"],
                             capture_output=True, text=True, timeout=10)
        return json.loads(out.stdout or "{}")

    def wait_balanced(self, count: int, timeout: float = 15):
        """Until HAProxy has `count` gateways UP."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for s in self.balancer_servers().values() if s["status"].startswith("UP")) == count:
                return
            time.sleep(0.1)
        raise AssertionError(f"HAProxy does not have {count} gateways UP: {self.balancer_servers()}")

    def logs(self) -> dict[str, str]:
        out = {}
        for f in sorted(Path(self.state, "nodes").glob("*.log")) if Path(self.state, "nodes").exists() else []:
            text = f.read_text(errors="replace")
            out[f.stem] = text[-15000:]
        return out

    def report(self) -> list[tuple[str, str]]:
        """A report source (harness.reports): every node's log."""
        return [(f"{name} log", text) for name, text in self.logs().items()]

    # -- a Redis Cluster's shards (redis_cluster=N) -------------------------------------------------

    def redis_node(self, address: str) -> str:
        """The node name (in STATE/nodes) of the Redis Cluster node at `address`."""
        return f"redis-{address.rpartition(':')[2]}"

    def redis_primaries(self) -> dict[str, dict]:
        """address -> {"id", "slots": [(start, end)...], "replicas": [address...]} of every primary
        not failed, as CLUSTER NODES of the first running node says (slots being migrated are
        listed with their owner)."""
        for address in self.settings["REDIS_CLUSTER"].split(","):
            if not self.pid(self.redis_node(address)):
                continue
            text = redis_cli(address, "cluster", "nodes", check=False)
            if not text.strip() or "ERR" in text:
                continue
            rows = [line.split() for line in text.splitlines() if line.strip()]
            ids = {row[0]: row[1].split("@")[0] for row in rows}
            primaries = {}
            for row in rows:
                flags = row[2].split(",")
                if "master" in flags and "fail" not in flags:
                    slots = [tuple(int(x) for x in (part.split("-") * 2)[:2]) for part in row[8:] if not part.startswith("[")]
                    primaries[ids[row[0]]] = {"id": row[0], "slots": slots, "replicas": []}
            for row in rows:
                if "slave" in row[2].split(",") and ids.get(row[3]) in primaries:
                    primaries[ids[row[3]]]["replicas"].append(ids[row[0]])
            return primaries
        raise AssertionError("no Redis Cluster node answers CLUSTER NODES")

    def slot(self, key: str) -> int:
        for address in self.settings["REDIS_CLUSTER"].split(","):
            if self.pid(self.redis_node(address)):
                return int(redis_cli(address, "cluster", "keyslot", key))
        raise AssertionError("no Redis Cluster node runs")

    def session_owner(self, sid: str) -> str:
        """The address of the primary that owns session `sid`'s slot (by CLUSTER KEYSLOT and the
        slot ranges), checked against where its key really is."""
        slot = self.slot(f"ci:{{{sid}}}:session")
        owners = [address for address, p in self.redis_primaries().items() if any(a <= slot <= b for a, b in p["slots"])]
        assert len(owners) == 1, (sid, slot, owners)
        assert redis_cli(owners[0], "exists", f"ci:{{{sid}}}:session").strip() == "1", (sid, slot, owners[0])
        return owners[0]

    def sessions_on_every_shard(self, per_shard: int = 1, **body) -> dict[str, list[dict]]:
        """Creates sessions through the balancer until every primary owns `per_shard` of them:
        primary address -> the created sessions (the id, tokens...) it owns."""
        by_owner: dict[str, list[dict]] = {address: [] for address in self.redis_primaries()}
        for _ in range(40 * per_shard * len(by_owner)):
            if all(len(owned) >= per_shard for owned in by_owner.values()):
                return by_owner
            created = self.create_session(**body)
            owned = by_owner[self.session_owner(created["id"])]
            if len(owned) < per_shard:
                owned.append(created)
        raise AssertionError(f"sessions did not land on every shard: { {a: len(o) for a, o in by_owner.items()} }")

    # -- HTTP through the balancer ----------------------------------------------------------------

    def create_session(self, **body) -> dict:
        body.setdefault("host_name", "Ada")
        body.setdefault("initial_language", "python")
        return post_session(self.url, body, timeout=10)
