"""Option values that once broke a start (issue 20): a secret that begins with "-", and an empty
Redis seed list.

- scripts/dev with ADMIN_TOKEN=-x...: the stack comes up (its URL answers, the token works on an
  admin route and wrote the sample question), and SIGINT to its process group (Ctrl-C) stops every
  process it started.
- `--redis-cluster ""` (or only commas and blanks) and `--sentinels ""` are refused at start, by
  the gateway and the runner alike, with a clear message and a non-zero exit, where they used to
  start a node on 127.0.0.1:6379.
"""

from __future__ import annotations

import os
import queue
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from harness.ports import free_block

REPO = Path(__file__).resolve().parents[2]


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (the start time), or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()[19]


def descendants(root: int) -> dict[int, tuple[str, str]]:
    """{pid: (start time, command line)} of every process below `root`."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(text[text.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found: dict[int, tuple[str, str]] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                try:
                    command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                started = start_time(pid)
                if started:
                    found[pid] = (started, command)
                    frontier.append(pid)
    return found


@pytest.mark.slow
def test_dev_script_with_a_token_that_begins_with_a_dash(pool):
    token = "-x" + secrets.token_urlsafe(12)
    port = free_block(1)  # below the ephemeral range: no outgoing connection takes it meanwhile
    state = tempfile.mkdtemp(prefix="ci-dev-")
    env = dict(os.environ, ADMIN_TOKEN=token, CODEINTERVIEW_LANGUAGES="python")
    log = open(os.path.join(state, "dev.log"), "w")
    dev = subprocess.Popen([str(REPO / "scripts" / "dev"), f"--bin={pool.binary}", f"--port={port}", "--state", state],
                           env=env, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True,
                           start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def read():
        for line in dev.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    started: dict[int, tuple[str, str]] = {}
    try:
        url, printed = None, []
        deadline = time.monotonic() + 90
        while url is None:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"scripts/dev ended before its URL line:\n{''.join(printed)}\n{Path(state, 'dev.log').read_text()}"
            printed.append(line)
            if line.startswith("CodeInterview is up: "):
                url = line.split()[3]
        assert url == f"http://127.0.0.1:{port}"
        while not any(line.strip().startswith("admin token:") for line in printed):
            line = lines.get(timeout=10)
            assert line is not None
            printed.append(line)
        assert f"admin token: {token} " in "".join(printed)

        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        admin = {"Authorization": f"Bearer {token}"}
        r = httpx.get(f"{url}/api/v1/cluster", headers=admin, timeout=10)
        assert r.status_code == 200, r.text
        assert httpx.get(f"{url}/api/v1/cluster", headers={"Authorization": "Bearer x"}, timeout=10).status_code == 403
        # The script added the sample question with the token: the library's write worked too.
        r = httpx.get(f"{url}/api/v1/questions?limit=5", headers=admin, timeout=10)
        assert r.status_code == 200 and len(r.json()["questions"]) == 1, r.text

        started = descendants(dev.pid)
        commands = " | ".join(command for _, command in started.values())
        assert "redis-server" in commands and " gateway " in commands and " runner " in commands, commands

        os.killpg(dev.pid, signal.SIGINT)   # what Ctrl-C in a terminal does
        assert dev.wait(60) == 0
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait(10)
        log.close()
    # Every process it started is gone (a pid that lives on with another start time is another process).
    deadline = time.monotonic() + 10
    left = started
    while left and time.monotonic() < deadline:
        left = {pid: v for pid, v in started.items() if start_time(pid) == v[0]}
        if left:
            time.sleep(0.1)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running after scripts/dev stopped: {left}"


@pytest.mark.parametrize("kind", ["gateway", "runner"])
@pytest.mark.parametrize("argv", [
    ["--redis-cluster", ""],
    ["--redis-cluster", ","],
    ["--redis-cluster", " , ,"],
    ["--redis-cluster="],
    ["--sentinels", ""],
    ["--sentinels", " ,"],
], ids=["empty", "comma", "blanks", "attached-empty", "sentinels-empty", "sentinels-blanks"])
def test_an_empty_seed_list_is_refused_at_start(pool, kind, argv):
    # A port of its own: were it to start anyway, it would not take a port another test uses.
    extra = ["--port", str(free_block(1))] if kind == "gateway" else []
    out = subprocess.run([pool.binary, kind, *argv, *extra], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert out.returncode != 0, out.stdout + out.stderr
    option = argv[0].split("=")[0]
    assert option in out.stderr, out.stderr
    if argv[0].endswith("="):
        assert "Missing value" in out.stderr, out.stderr
    else:
        assert f"{option} needs at least one address host:port" in out.stderr, out.stderr
    assert "listening" not in out.stderr and "connected to Redis" not in out.stderr, out.stderr
