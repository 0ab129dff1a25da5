"""The processes a test run starts: redis-server, a Redis Cluster, gateways, runners and archivers.

Each runs on free loopback ports with its output in a log file, is ready once a condition holds
that only the new process can satisfy (its own pid in Redis' INFO, its own node id in a gateway's
/health: not whoever else holds the port), and is stopped by the pid it was started as, then
reaped.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import httpx

from harness import REPO
from harness.binaries import binary_path, has_option
from harness.ports import bindable, free_port
from harness.waiting import wait_for


class Process:
    """A child process with its output in `log_path`. `grace`: stop() sends SIGTERM and waits that
    long before SIGKILL; None: SIGKILL at once."""

    def __init__(self, name: str, args: list[str], log_path: str, grace: float | None = None):
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        self.grace = grace
        self._log = open(log_path, "wb")
        self._spawn()

    def _spawn(self):
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, cwd=str(REPO))
        self.pid = self.proc.pid

    @property
    def title(self) -> str:
        """How reports name it."""
        return self.name

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, ready, timeout: float, what: str):
        """Until `ready()` (an OSError, HTTP error or bad JSON counts as not yet); fails at once,
        with the log, when the process exits."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"{self.title} exited with {self.proc.returncode}:\n{self.read_log()}")
            try:
                if ready():
                    return
            except (OSError, httpx.HTTPError, ValueError) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError(f"{self.title}: not {what} within {timeout} s (last: {last!r}):\n{self.read_log()}")

    def kill9(self):
        """SIGKILL, by the pid we started: no goodbye to anyone."""
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(5)

    def stop(self):
        if self.alive:
            if self.grace is None:
                self.proc.kill()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            else:
                self.proc.terminate()
                try:
                    self.proc.wait(self.grace)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        if not self._log.closed:
            self._log.close()

    def log_size(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def read_log(self, start: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(start)
                return f.read().decode(errors="replace")
        except OSError:
            return ""


# -- Redis ----------------------------------------------------------------------------------


def _resp(*args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def redis_info(port: int, section: str = "server") -> dict[str, str]:
    """INFO `section` of the Redis at 127.0.0.1:`port`, as a dict."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(_resp("INFO", section))
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed before INFO's answer")
            data += chunk
        head, _, rest = data.partition(b"\r\n")
        if not head.startswith(b"$"):
            raise ConnectionError(f"INFO answered {head!r}")
        size = int(head[1:])
        while len(rest) < size + 2:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed inside INFO's answer")
            rest += chunk
    lines = rest[:size].decode(errors="replace").splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line and not line.startswith("#"))


def answers_as(port: int, pid: int) -> bool:
    """Whether the Redis at `port` is the process `pid` (not another that holds the port)."""
    return redis_info(port).get("process_id") == str(pid)


class RedisServer(Process):
    """redis-server on a free loopback port with its own temp dir, no snapshots. `appendonly`:
    persist with the AOF in its directory (as cluster/up runs Redis), so `restart` brings the data
    back. Its log goes to its directory, or to `logdir`."""

    def __init__(self, appendonly: bool = False, logdir: str | None = None):
        self.dir = tempfile.mkdtemp(prefix="ci-redis-")
        self.port = free_port()
        self.appendonly = appendonly
        super().__init__("redis", [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
            "--save", "", "--appendonly", "yes" if appendonly else "no", "--appendfsync", "everysec",
            "--daemonize", "no", "--protected-mode", "yes"], os.path.join(logdir or self.dir, "redis.log"))
        self._wait_ready()

    def _wait_ready(self):
        # +PONG, not -LOADING: the AOF is read.
        self.wait_ready(lambda: self.command("PING") == "+PONG" and answers_as(self.port, self.pid), 10, "answering PING")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def flags(self) -> list[str]:
        """What a gateway or runner is given to use this Redis."""
        return ["--redis", self.address]

    def command(self, *args: str) -> str:
        """One command over RESP; the raw first reply line (enough for PING and simple checks)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(_resp(*args))
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data.decode(errors="replace").split("\r\n")[0]

    def restart(self):
        """SIGKILL (no goodbye, no final write) and start again on the same port and directory."""
        self.kill9()
        self._spawn()
        self._wait_ready()

    def stop(self):
        super().stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisCluster:
    """3 primaries and 3 replicas (`--cluster-enabled yes`) on free loopback ports (each with its
    cluster bus port + 10000 free), joined by `redis-cli --cluster create --cluster-replicas 1`;
    ready once every node says cluster_state:ok and every replica finished its first sync."""

    def __init__(self, primaries: int = 3, node_timeout_ms: int = 1000):
        self.dir = tempfile.mkdtemp(prefix="ci-rcluster-")
        self.ports: list[int] = []
        self.procs: dict[int, subprocess.Popen] = {}
        while len(self.ports) < primaries * 2:
            port = free_port()
            if port <= 55535 and port not in self.ports and bindable(port + 10000):
                self.ports.append(port)
        for port in self.ports:
            node_dir = os.path.join(self.dir, str(port))
            os.makedirs(node_dir)
            log = open(os.path.join(node_dir, "redis.log"), "w")
            self.procs[port] = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", node_dir,
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", str(node_timeout_ms), "--save", "", "--appendonly", "no",
                 "--repl-diskless-sync-delay", "0", "--cluster-replica-validity-factor", "0", "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: all(answers_as(p, self.procs[p].pid) for p in self.ports), 10,
                 message="every node answers (as the process started for it)")
        created = subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                                  "--cluster-replicas", "1", "--cluster-yes"], capture_output=True, text=True)
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout}{created.stderr}")
        self.wait_healthy()

    @property
    def seeds(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ports[0]}"

    @property
    def flags(self) -> list[str]:
        """What a gateway or runner is given to use this Redis Cluster."""
        return ["--redis-cluster", self.seeds]

    def cli(self, port: int, *args: str) -> str:
        try:
            return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=5).stdout.strip()
        except subprocess.TimeoutExpired:
            return ""

    def primaries(self) -> list[int]:
        return [p for p in self.ports if self.procs[p].poll() is None and self.cli(p, "ROLE").startswith("master")]

    def wait_healthy(self, timeout: float = 30):
        def ok():
            live = [p for p in self.ports if self.procs[p].poll() is None]
            return all("cluster_state:ok" in self.cli(p, "CLUSTER", "INFO") for p in live) and \
                all("state=online" in self.cli(p, "INFO", "replication") for p in self.primaries())
        wait_for(ok, timeout, message="cluster_state:ok with every replica in sync")

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


# -- codeinterview --------------------------------------------------------------------------


class Gateway(Process):
    """One `codeinterview gateway` on `redis` (a RedisServer or a RedisCluster), on `port` or a
    free one; ready when its /health names its own node id."""

    def __init__(self, binary: str, redis, node_id: str, extra: list[str], logdir: str, port: int = 0,
                 ready_within: float = 15, grace: float | None = None):
        self.node_id = node_id
        self.port = port or free_port()
        self.extra = list(extra)
        super().__init__(node_id, [binary, "gateway", "--host", "127.0.0.1", "--port", str(self.port), *redis.flags,
                                   "--node-id", node_id, "--no-reuse-port", *extra],
                         os.path.join(logdir, f"{node_id}.log"), grace=grace)

        def healthy() -> bool:
            r = httpx.get(self.url + "/health", timeout=1)
            return r.status_code == 200 and r.json().get("node_id") == self.node_id
        self.wait_ready(healthy, ready_within, "healthy")

    @property
    def title(self) -> str:
        return f"gateway {self.node_id} (port {self.port}, pid {self.pid})"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ws_url(self, session_id: str, prefix: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}{prefix}/ws/sessions/{session_id}"

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")


class Runner(Process):
    """One `codeinterview runner` on `redis`. Whether it is serving shows in the gateways'
    /api/v1/languages once its first heartbeat is in (the browser stack's language_available)."""

    def __init__(self, binary: str, redis, node_id: str, extra: list[str], logdir: str, grace: float | None = None):
        self.node_id = node_id
        super().__init__(node_id, [binary, "runner", *redis.flags, "--node-id", node_id, *extra],
                         os.path.join(logdir, f"{node_id}.log"), grace=grace)


class Archiver(Process):
    """One `codeinterview archiver` on `redis`, writing to `postgres_url` (a PostgresServer's
    `.url`); it moves ended sessions from Redis into PostgreSQL."""

    def __init__(self, binary: str, redis, postgres_url: str, node_id: str, logdir: str, *extra: str):
        self.node_id = node_id
        super().__init__(node_id, [binary, "archiver", *redis.flags, f"--postgres={postgres_url}", "--node-id", node_id,
                                   "--lease-ms=3000", *extra],
                         os.path.join(logdir, f"{node_id}.log"), grace=10)


class GatewayPool:
    """Every gateway started on one Redis in this pytest session, for logs on failure and teardown."""

    def __init__(self, redis: RedisServer):
        self.redis = redis
        self.binary = binary_path()
        self.logdir = tempfile.mkdtemp(prefix="ci-e2e-logs-")
        self.all: list[Gateway] = []
        self.counter = 0
        # Rate limits (per client address) would trip over a suite that makes every request from
        # 127.0.0.1; the suites do not test them there, so they are off where the binary has the flag.
        self.defaults = ["--rate-limits", "off"] if has_option("--rate-limits", binary=self.binary) else []

    def start(self, *extra: str, node_id: str | None = None, redis: RedisServer | None = None) -> Gateway:
        self.counter += 1
        gw = Gateway(self.binary, redis or self.redis, node_id or f"gw{self.counter}", self.defaults + list(extra), self.logdir)
        self.all.append(gw)
        return gw

    def stop_all(self):
        for gw in self.all:
            gw.stop()
        shutil.rmtree(self.logdir, ignore_errors=True)


class Gateways:
    """A fixed set of gateways, indexed from 0."""

    def __init__(self, gateways: list[Gateway]):
        self.gateways = gateways

    def __getitem__(self, i) -> Gateway:
        return self.gateways[i]

    def __len__(self):
        return len(self.gateways)
