"""Harness for the end-to-end suite: a real redis-server and real gateway processes.

- `redis_server` (session): redis-server on a free loopback port, own temp dir, no persistence.
- `cluster` (session): two gateways (gw1, gw2) on that Redis with default flags.
- `start_gateway` (function): a factory for extra gateways with custom flags (on the suite's Redis
  or another); the gateways it started are killed when the test ends.
- `start_redis` (function): a factory for a redis-server of the test's own (optionally with the
  AOF, restartable); stopped when the test ends.
- `redis_cluster` (session): a real Redis Cluster, 3 primaries and 3 replicas (`RedisCluster`);
  gateways use it with `start_gateway("--redis-cluster", redis_cluster.seeds)`.
Every gateway's log goes to a file; when a test fails, what each gateway logged during the test
is attached to the report.

The binary comes from $CODEINTERVIEW_BIN (scripts/test sets it), else .build/debug/codeinterview.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~10 s (still part of the default run)")


def binary_path() -> str:
    path = os.environ.get("CODEINTERVIEW_BIN") or str(REPO / ".build" / "debug" / "codeinterview")
    if not os.access(path, os.X_OK):
        pytest.exit(f"gateway binary not found at {path}; build it and set CODEINTERVIEW_BIN", returncode=2)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """`appendonly`: persist with the AOF in its directory (as cluster/up runs Redis), so `restart`
    brings the data back."""

    def __init__(self, appendonly: bool = False):
        self.dir = tempfile.mkdtemp(prefix="ci-e2e-redis-")
        self.port = free_port()
        self.appendonly = appendonly
        self.log = open(os.path.join(self.dir, "redis.log"), "w")
        self._start()

    def _start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec",
             "--daemonize", "no", "--protected-mode", "yes"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            try:
                if self.command("PING") == "+PONG":  # not -LOADING: the AOF is read
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self, *args: str) -> str:
        """One command over RESP; the raw first reply line (enough for PING and simple checks)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            parts = [f"*{len(args)}\r\n".encode()]
            for a in args:
                b = a.encode()
                parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
            s.sendall(b"".join(parts))
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data.decode(errors="replace").split("\r\n")[0]

    def restart(self):
        """SIGKILL (no goodbye, no final write) and start again on the same port and directory."""
        self.proc.kill()
        self.proc.wait(5)
        self._start()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisCluster:
    """3 primaries and 3 replicas (`--cluster-enabled yes`) on free loopback ports (each with its
    cluster bus port + 10000 free), joined by `redis-cli --cluster create --cluster-replicas 1`;
    ready once every node says cluster_state:ok and every replica finished its first sync."""

    def __init__(self, primaries: int = 3, node_timeout_ms: int = 1000):
        self.dir = tempfile.mkdtemp(prefix="ci-e2e-rcluster-")
        self.ports: list[int] = []
        self.procs: dict[int, subprocess.Popen] = {}
        while len(self.ports) < primaries * 2:
            port = free_port()
            if port <= 55535 and port not in self.ports and _bindable(port + 10000):
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
        _wait(lambda: all(self.cli(p, "PING") == "PONG" for p in self.ports), 10, "every node answers PING")
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
        _wait(ok, timeout, "cluster_state:ok with every replica in sync")

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise RuntimeError(f"not within {timeout} s: {what}")


class Gateway:
    """One `codeinterview gateway` process."""

    def __init__(self, binary: str, redis: RedisServer, node_id: str, extra: list[str], logdir: str):
        self.node_id = node_id
        self.port = free_port()
        self.extra = list(extra)
        self.log_path = os.path.join(logdir, f"{node_id}.log")
        self._log = open(self.log_path, "wb")
        args = [binary, "gateway", "--host", "127.0.0.1", "--port", str(self.port), "--redis", redis.address,
                "--node-id", node_id, "--no-reuse-port", *extra]
        self.args = args
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 15):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway {self.node_id} exited with {self.proc.returncode}:\n{self.read_log()}")
            try:
                r = httpx.get(self.url + "/health", timeout=1)
                last = r.status_code
                # Ready when this process answers: its own node id, not whoever else holds the port.
                if r.status_code == 200 and r.json().get("node_id") == self.node_id:
                    return
            except (httpx.HTTPError, ValueError) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError(f"gateway {self.node_id} not healthy after {timeout} s (last: {last}):\n{self.read_log()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, session_id: str, prefix: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}{prefix}/ws/sessions/{session_id}"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def kill9(self):
        """SIGKILL this gateway (by the pid we started), no goodbye to anyone."""
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(5)

    def stop(self):
        if self.alive:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
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


class GatewayPool:
    """Every gateway started in this pytest session, for logs on failure and teardown."""

    def __init__(self, redis: RedisServer):
        self.redis = redis
        self.binary = binary_path()
        self.logdir = tempfile.mkdtemp(prefix="ci-e2e-logs-")
        self.all: list[Gateway] = []
        self.counter = 0
        help_text = subprocess.run([self.binary, "gateway", "--help"], capture_output=True, text=True).stdout
        # Rate limits (per client address) would trip over a suite that makes every request from
        # 127.0.0.1; this suite does not test them, so they are off where the binary has the flag.
        self.defaults = ["--rate-limits", "off"] if "--rate-limits" in help_text else []

    def start(self, *extra: str, node_id: str | None = None, redis: RedisServer | None = None) -> Gateway:
        self.counter += 1
        gw = Gateway(self.binary, redis or self.redis, node_id or f"gw{self.counter}", self.defaults + list(extra), self.logdir)
        self.all.append(gw)
        return gw

    def stop_all(self):
        for gw in self.all:
            gw.stop()
        shutil.rmtree(self.logdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pool(redis_server):
    p = GatewayPool(redis_server)
    yield p
    p.stop_all()


class Cluster:
    def __init__(self, gateways: list[Gateway]):
        self.gateways = gateways

    def __getitem__(self, i) -> Gateway:
        return self.gateways[i]

    def __len__(self):
        return len(self.gateways)


@pytest.fixture(scope="session")
def cluster(pool) -> Cluster:
    """Three gateways with default flags on one Redis (indices 0, 1, 2)."""
    return Cluster([pool.start(node_id="gw-a"), pool.start(node_id="gw-b"), pool.start(node_id="gw-c")])


@pytest.fixture
def start_gateway(pool):
    """start_gateway("--flag", "value", ..., redis=None) -> Gateway on the suite's Redis (or on
    `redis`, e.g. one from start_redis); killed when the test ends."""
    started: list[Gateway] = []

    def start(*extra: str, redis: RedisServer | None = None) -> Gateway:
        gw = pool.start(*extra, redis=redis)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


@pytest.fixture(scope="session")
def redis_cluster():
    cluster = RedisCluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def start_redis():
    """start_redis(appendonly=False) -> a redis-server of the test's own (empty, on its own port and
    directory); stopped when the test ends."""
    started: list[RedisServer] = []

    def start(appendonly: bool = False) -> RedisServer:
        server = RedisServer(appendonly=appendonly)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def _gateway_logs_on_failure(request):
    """Remembers where each gateway's log stood; a failing test gets what was logged since."""
    if not {"pool", "cluster", "start_gateway"} & set(request.fixturenames):
        yield  # a test without gateways (ot.py's own tests)
        return
    pool = request.getfixturevalue("pool")
    request.node._ci_pool = pool
    request.node._ci_log_marks = {id(gw): gw.log_size() for gw in pool.all}
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    pool = getattr(item, "_ci_pool", None)
    if pool is None:
        return
    marks = getattr(item, "_ci_log_marks", {})
    for gw in pool.all:
        text = gw.read_log(marks.get(id(gw), 0))
        if text:
            if len(text) > 20000:
                text = "...\n" + text[-20000:]
            report.sections.append((f"gateway {gw.node_id} (port {gw.port}, pid {gw.pid}) log", text))
