"""The browser suite's stack: redis-server on a free loopback port (own temp dir, no persistence),
or with BROWSER_REDIS_CLUSTER=1 a 3-primary Redis Cluster; two gateways (A: the web root found
from the executable, B: `--web-root` given) and one runner offering only Python and C (so the page
has languages with a runner and languages without one, and a compiled one for compile errors).
The gateways share an admin token (`admin_token`), which writes the question library."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time

import httpx

from harness import REPO
from harness.binaries import binary_path, has_option
from harness.ports import free_port
from harness.processes import Gateway, Process, RedisCluster, RedisServer, Runner

READY_WITHIN = 20  # s, for a gateway
GRACE = 10  # s between SIGTERM and SIGKILL when the stack stops


class Stack:
    def __init__(self):
        self.binary = binary_path()
        self.logdir = tempfile.mkdtemp(prefix="ci-browser-logs-")
        self.processes: list[Process] = []
        # BROWSER_REDIS_CLUSTER=1: the same stack on a 3-primary Redis Cluster, the gateways and
        # the runner given --redis-cluster.
        self.cluster = None
        if os.environ.get("BROWSER_REDIS_CLUSTER") == "1":
            self.cluster = self.redis = RedisCluster()
        else:
            self.redis = self._add(RedisServer(logdir=self.logdir))
        # Both pages come from gateway A; a WebSocket may go to either gateway. A browser sends its
        # page's Origin with a WebSocket, and a gateway accepts other origins only when told
        # (--ws-origins): as an operator names the public origin of the site.
        port_a, port_b = free_port(), free_port()
        # C replaces B after B is killed: its port is chosen now, nothing listens there until then.
        self.port_c = free_port()
        self.c = None
        self.page_origin = f"http://127.0.0.1:{port_a}"
        # Flags every gateway gets: the page's origin, and the operator's token (it writes the
        # question library, POST /api/v1/questions).
        self.admin_token = "browser-admin-" + secrets.token_hex(12)
        self.shared_flags = ["--ws-origins", self.page_origin] if has_option("--ws-origins", binary=self.binary) else []
        if has_option("--admin-token", binary=self.binary):
            self.shared_flags += ["--admin-token", self.admin_token]
        self._routes = None
        # A: the default web root (the repository's web/, found walking up from the executable,
        # or from the working directory when the binary lives elsewhere). B: given explicitly.
        self.a = self._add(self._gateway("gw-a", self.shared_flags, port_a))
        self.b = self._add(self._gateway("gw-b", ["--web-root", str(REPO / "web"), *self.shared_flags], port_b))
        self.runner = self._add(Runner(self.binary, self.redis, "runner-1", ["--languages", "python,c", "--concurrency", "2"],
                                       self.logdir, grace=GRACE))

    def _gateway(self, node_id: str, extra: list[str], port: int) -> Gateway:
        return Gateway(self.binary, self.redis, node_id, extra, self.logdir, port=port, ready_within=READY_WITHIN, grace=GRACE)

    def start_c(self) -> Gateway:
        """Gateway C, B's replacement, on the port reserved for it (same flags as B)."""
        if self.c is None or not self.c.alive:
            self.c = self._add(self._gateway("gw-c", ["--web-root", str(REPO / "web"), *self.shared_flags], self.port_c))
        return self.c

    def live_b(self) -> Gateway:
        """Gateway B, or C once B was killed (both were given --web-root)."""
        return self.b if self.b.alive else self.start_c()

    def missing_routes(self, *paths: str) -> list[str]:
        """Which of these paths gateway A's OpenAPI document lacks (a feature not built in yet)."""
        if self._routes is None:
            self._routes = set(httpx.get(self.a.url + "/openapi.json", timeout=5).json()["paths"])
        return [p for p in paths if p not in self._routes]

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
