"""Interactive runs (issue 23): the program on a pseudo-terminal inside the sandbox, its input
typed by the room through Redis, its output streamed to every member on any gateway.

Real processes: redis-server, two gateways, one runner (Python and C) with a short idle timeout."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from harness.binaries import binary_path
from harness.processes import Runner
from harness.rest import create_session
from harness.waiting import wait_for
from harness.ws import WS, run

IDLE_MS = 3000


@pytest.fixture(scope="module")
def runner(redis_server, tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("terminal-runner"))
    r = Runner(binary_path(), redis_server, f"runner-terminal-{os.getpid()}",
               ["--languages", "python,c", "--concurrency", "2", f"--interactive-idle-timeout={IDLE_MS}"], logdir)
    yield r
    r.stop()


@pytest.fixture(scope="module")
def gateways(pool, runner):
    a = pool.start(node_id="gw-term-a")
    b = pool.start(node_id="gw-term-b")

    def offered():
        langs = httpx.get(a.url + "/api/v1/languages", timeout=2).json()["languages"]
        return all(l.get("available") for l in langs if l["id"] in ("python", "c"))
    wait_for(offered, 60, message="the runner offers python and c")
    return a, b


def start_run(gw, session, code, language="python", **extra):
    r = httpx.post(f"{gw.url}/api/v1/sessions/{session['id']}/execute",
                   json={"code": code, "language": language, "interactive": True, **extra},
                   headers={"Authorization": f"Bearer {session['host_token']}"}, timeout=10)
    return r


async def output_until(ws, job_id, needle, timeout=20):
    """Concatenated execution-output of `job_id` until `needle` shows (in seq order)."""
    text = ""
    deadline = time.monotonic() + timeout
    last_seq = 0
    while needle not in text:
        left = deadline - time.monotonic()
        assert left > 0, f"no {needle!r} within {timeout} s; got {text!r}"
        m = await ws.recv(left)
        if m["type"] == "execution-output" and m["data"]["job_id"] == job_id:
            assert m["data"]["seq"] > last_seq
            last_seq = m["data"]["seq"]
            text += m["data"]["chunk"]
        elif m["type"] == "execution-result" and m["data"]["job_id"] == job_id:
            raise AssertionError(f"the run ended before {needle!r}: {m['data']} (output {text!r})")
    return text


async def result_of(ws, job_id, timeout=30):
    m = await ws.expect("execution-result", timeout, where=lambda d: d["job_id"] == job_id)
    return m["data"]


PTY_PROBE = r'''
import os, sys, fcntl, termios, errno
print("isatty", os.isatty(0), os.isatty(1), os.isatty(2))
print("tty", os.ttyname(0))
print("sid==pid", os.getsid(0) == os.getpid(), "pgrp==tcpgrp", os.getpgrp() == os.tcgetpgrp(0))
fd = os.open("/dev/tty", os.O_RDWR)
print("devtty", os.path.samefile("/proc/self/fd/%d" % fd, "/proc/self/fd/0") or os.ttyname(fd))
try:
    fcntl.ioctl(0, termios.TIOCSTI, b"x")
    print("TIOCSTI allowed")
except OSError as e:
    print("TIOCSTI refused", errno.errorcode[e.errno])
print("fds", sorted(int(f) for f in os.listdir("/proc/self/fd")))
print("pts", sorted(os.listdir("/dev/pts")))
print("uid", os.getuid())
print("END")
'''


def test_a_program_runs_on_its_own_terminal(gateways):
    a, b = gateways
    session = create_session(a)
    sid = session["id"]

    async def main():
        watcher = await WS.open(b, sid)
        await watcher.join(user_name="watcher")
        r = start_run(a, session, PTY_PROBE)
        assert r.status_code == 202, r.text
        job = r.json()["job_id"]
        text = await output_until(watcher, job, "END")
        result = await result_of(watcher, job)
        await watcher.close()
        return text, result

    text, result = run(main())
    assert "isatty True True True" in text, text
    assert "tty /dev/pts/0" in text, text
    assert "sid==pid True pgrp==tcpgrp True" in text, text
    assert "TIOCSTI refused EPERM" in text, text
    # 0, 1, 2 and the descriptor listing /proc/self/fd, plus /dev/tty opened above.
    fds = eval(text.split("fds ")[1].split("\r\n")[0])
    assert fds == [0, 1, 2, 3, 4], text
    pts = eval(text.split("pts ")[1].split("\r\n")[0])
    assert pts == ["0", "ptmx"], text
    assert result["status"] == "ok", result


def test_an_idle_run_ends_at_its_timeout(gateways):
    a, _ = gateways
    session = create_session(a)

    async def main():
        ws = await WS.open(a, session["id"])
        await ws.join(user_name="w")
        r = start_run(a, session, "import time\nprint('waiting', flush=True)\ntime.sleep(600)\n")
        assert r.status_code == 202, r.text
        job = r.json()["job_id"]
        started = time.monotonic()
        result = await result_of(ws, job, timeout=IDLE_MS / 1000 + 20)
        await ws.close()
        return result, time.monotonic() - started

    result, took = run(main())
    assert result["status"] == "idle_timeout", result
    assert "no input and no output" in result["message"]
    assert took >= IDLE_MS / 1000 - 0.5


def test_interactive_outside_a_session_or_with_stdin_is_refused(gateways):
    a, _ = gateways
    r = httpx.post(a.url + "/api/v1/execute", json={"code": "print(1)", "language": "python", "interactive": True}, timeout=5)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert "belongs to a session" in r.json()["detail"]
    session = create_session(a)
    r = start_run(a, session, "print(1)", stdin="x")
    assert r.status_code == 422 and "stdin" in r.json()["detail"], r.text
    r = start_run(a, session, "print(1)", interactive="yes")
    assert r.status_code == 422, r.text
