"""Harness for the browser suite: real processes and a real headless Chromium.

- `stack` (session): redis-server on a free loopback port (own temp dir, no persistence), two
  gateways (A: the web root found from the executable, B: `--web-root` given) and one runner
  offering only Python and C (so the page has languages with a runner and languages without one,
  and a compiled one for compile errors).
  The gateways share an admin token (`stack.admin_token`), which writes the question library.
- `browser_factory` (session): opens Debian's chromium headless through Selenium and Debian's
  chromium-driver; each browser has its own profile (its own localStorage: a different person).

Screenshots go to Tests/browser/artifacts/ (git-ignored). When a test fails, what every process
logged during it is attached to the report, with a screenshot of each open browser.

The binary comes from $CODEINTERVIEW_BIN (scripts/test sets it), else .build/debug/codeinterview.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import sys

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pages import REPO, save_screenshot  # noqa: E402
CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN") or shutil.which("chromedriver") or "/usr/bin/chromedriver"


def binary_path() -> str:
    path = os.environ.get("CODEINTERVIEW_BIN") or str(REPO / ".build" / "debug" / "codeinterview")
    if not os.access(path, os.X_OK):
        pytest.exit(f"codeinterview binary not found at {path}; build it and set CODEINTERVIEW_BIN", returncode=2)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A child process with its log in a file."""

    def __init__(self, name: str, args: list[str], logdir: str):
        self.name = name
        self.args = args
        self.log_path = os.path.join(logdir, f"{name}.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=str(REPO))
        self.pid = self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self):
        """SIGKILL, by the pid we started: no goodbye to anyone."""
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(5)

    def stop(self):
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(10)
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


class Redis(Process):
    def __init__(self, logdir: str):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="ci-browser-redis-")
        super().__init__("redis", ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                                   "--save", "", "--appendonly", "no", "--daemonize", "no"], logdir)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"redis-server exited:\n{self.read_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"*1\r\n$4\r\nPING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self):
        super().stop()
        shutil.rmtree(self.dir, ignore_errors=True)


Redis.flags = property(lambda self: ["--redis", self.address])


def e2e_harness():
    """The e2e suite's harness module (its RedisCluster), loaded under a name of its own."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("e2e_harness", REPO / "Tests" / "e2e" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ClusterRedis:
    """What the stack needs of its Redis, for a Redis Cluster: the flags its processes get."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.address = cluster.address

    @property
    def flags(self) -> list[str]:
        return ["--redis-cluster", self.cluster.seeds]


class Gateway(Process):
    def __init__(self, binary: str, redis: Redis, node_id: str, extra: list[str], logdir: str, port: int = 0):
        self.port = port or free_port()
        self.node_id = node_id
        super().__init__(node_id, [binary, "gateway", "--host", "127.0.0.1", "--port", str(self.port),
                                   *redis.flags, "--node-id", node_id, "--no-reuse-port", *extra], logdir)
        deadline = time.monotonic() + 20
        last = None
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"gateway {node_id} exited:\n{self.read_log()}")
            try:
                r = httpx.get(self.url + "/health", timeout=1)
                last = r.status_code
                # Ready when this process answers: its own node id, not whoever else holds the port.
                if r.status_code == 200 and r.json().get("node_id") == self.node_id:
                    return
            except (httpx.HTTPError, ValueError) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError(f"gateway {node_id} not healthy within 20 s (last: {last}):\n{self.read_log()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"


class Stack:
    def __init__(self):
        self.binary = binary_path()
        self.logdir = tempfile.mkdtemp(prefix="ci-browser-logs-")
        self.processes: list[Process] = []
        # BROWSER_REDIS_CLUSTER=1: the same stack on a 3-primary Redis Cluster (the e2e suite's
        # harness starts it), the gateways and the runner given --redis-cluster.
        self.cluster = None
        if os.environ.get("BROWSER_REDIS_CLUSTER") == "1":
            self.cluster = e2e_harness().RedisCluster()
            self.redis = ClusterRedis(self.cluster)
        else:
            self.redis = Redis(self.logdir)
            self.processes.append(self.redis)
        # Both pages come from gateway A; a WebSocket may go to either gateway. A browser sends its
        # page's Origin with a WebSocket, and a gateway accepts other origins only when told
        # (--ws-origins): as an operator names the public origin of the site.
        port_a, port_b = free_port(), free_port()
        # C replaces B after B is killed: its port is chosen now, nothing listens there until then.
        self.port_c = free_port()
        self.c = None
        self.page_origin = f"http://127.0.0.1:{port_a}"
        help_text = self._gateway_help()
        # Flags every gateway gets: the page's origin, and the operator's token (it writes the
        # question library, POST /api/v1/questions).
        self.admin_token = "browser-admin-" + secrets.token_hex(12)
        self.shared_flags = ["--ws-origins", self.page_origin] if "--ws-origins" in help_text else []
        if "--admin-token" in help_text:
            self.shared_flags += ["--admin-token", self.admin_token]
        self._routes = None
        # A: the default web root (the repository's web/, found walking up from the executable,
        # or from the working directory when the binary lives elsewhere). B: given explicitly.
        self.a = self._add(Gateway(self.binary, self.redis, "gw-a", self.shared_flags, self.logdir, port=port_a))
        self.b = self._add(Gateway(self.binary, self.redis, "gw-b", ["--web-root", str(REPO / "web"), *self.shared_flags],
                                   self.logdir, port=port_b))
        self.runner = self._add(Process("runner", [self.binary, "runner", *self.redis.flags,
                                                   "--node-id", "runner-1", "--languages", "python,c",
                                                   "--concurrency", "2"], self.logdir))

    def start_c(self) -> Gateway:
        """Gateway C, B's replacement, on the port reserved for it (same flags as B)."""
        if self.c is None or not self.c.alive:
            self.c = self._add(Gateway(self.binary, self.redis, "gw-c", ["--web-root", str(REPO / "web"), *self.shared_flags],
                                       self.logdir, port=self.port_c))
        return self.c

    def live_b(self) -> Gateway:
        """Gateway B, or C once B was killed (both were given --web-root)."""
        return self.b if self.b.alive else self.start_c()

    def missing_routes(self, *paths: str) -> list[str]:
        """Which of these paths gateway A's OpenAPI document lacks (a feature not built in yet)."""
        if self._routes is None:
            self._routes = set(httpx.get(self.a.url + "/openapi.json", timeout=5).json()["paths"])
        return [p for p in paths if p not in self._routes]

    def _gateway_help(self) -> str:
        return subprocess.run([self.binary, "gateway", "--help"], capture_output=True, text=True, timeout=30).stdout

    def _add(self, process):
        self.processes.append(process)
        return process

    def language_available(self, language: str = "python", timeout: float = 20) -> tuple[bool, str]:
        """Whether a live runner offers `language` (waits for the runner's first heartbeat)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.runner.alive:
                return False, f"the runner exited:\n{self.runner.read_log()[-3000:]}"
            try:
                r = httpx.get(self.a.url + "/api/v1/languages", timeout=2)
                langs = {l["id"]: l for l in r.json()["languages"]}
                if langs.get(language, {}).get("available"):
                    return True, ""
                last = f"{language} available={langs.get(language, {}).get('available')}"
            except (httpx.HTTPError, ValueError, KeyError) as e:
                last = repr(e)
            time.sleep(0.25)
        return False, f"no live runner offers {language} after {timeout:.0f} s ({last}); runner log:\n{self.runner.read_log()[-3000:]}"

    def stop(self):
        for p in reversed(self.processes):
            p.stop()
        if self.cluster is not None:
            self.cluster.stop()
        shutil.rmtree(self.logdir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack():
    s = Stack()
    yield s
    s.stop()


# -- Browsers ------------------------------------------------------------------------------


class Browsers:
    def __init__(self):
        self.open: list = []

    def new(self, name: str):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
            pytest.skip(f"chromium ({CHROMIUM}) or chromedriver ({CHROMEDRIVER}) is not installed; run scripts/setup")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        profile = tempfile.mkdtemp(prefix=f"ci-browser-{name}-")
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1360,860", "--no-first-run", "--no-default-browser-check",
                    "--disable-extensions", "--disable-background-networking", "--disable-sync",
                    "--disable-features=Translate,MediaRouter,OptimizationHints",
                    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                    "--disable-backgrounding-occluded-windows", f"--user-data-dir={profile}"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        driver.set_page_load_timeout(30)
        driver.ci_name = name
        driver.ci_profile = profile
        self.open.append(driver)
        return driver

    def close(self, driver):
        """Closes one browser (like a person closing their window) and removes its profile."""
        try:
            driver.quit()
        except Exception:
            pass
        shutil.rmtree(driver.ci_profile, ignore_errors=True)
        if driver in self.open:
            self.open.remove(driver)

    def close_all(self):
        for driver in list(self.open):
            self.close(driver)


@pytest.fixture(scope="session")
def browsers():
    b = Browsers()
    yield b
    b.close_all()


# -- Reports -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _logs_on_failure(request):
    if "stack" not in request.fixturenames:
        yield
        return
    stack = request.getfixturevalue("stack")
    request.node._ci_stack = stack
    request.node._ci_marks = {id(p): p.log_size() for p in stack.processes}
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    stack = getattr(item, "_ci_stack", None)
    if stack is not None:
        marks = getattr(item, "_ci_marks", {})
        for p in stack.processes:
            text = p.read_log(marks.get(id(p), 0))
            if text:
                report.sections.append((f"{p.name} log", text[-15000:]))
    browsers = item.funcargs.get("browsers") if hasattr(item, "funcargs") else None
    if browsers is not None:
        for driver in browsers.open:
            try:
                path = save_screenshot(driver, f"failed-{item.name}-{driver.ci_name}")
                logs = driver.get_log("browser")
                report.sections.append((f"browser {driver.ci_name}", f"screenshot: {path}\n" +
                                        "\n".join(f"{l['level']} {l['message']}" for l in logs[-60:])))
            except Exception as e:  # a dead browser must not hide the failure
                report.sections.append((f"browser {driver.ci_name}", f"(no screenshot: {e})"))
