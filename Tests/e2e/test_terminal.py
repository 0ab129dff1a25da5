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
# Job control on the run's own terminal: a background process group reading it is stopped
# (SIGTTIN), and the foreground group can be handed over and taken back.
import signal
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    os.read(0, 1)
    os._exit(0)
try:
    os.setpgid(pid, pid)
except OSError:
    pass
_, status = os.waitpid(pid, os.WUNTRACED)
print("bg read stopped", os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGTTIN)
signal.signal(signal.SIGTTOU, signal.SIG_IGN)
os.tcsetpgrp(0, pid)
handed = os.tcgetpgrp(0) == pid
os.tcsetpgrp(0, os.getpgrp())
print("fg handover", handed and os.tcgetpgrp(0) == os.getpgrp())
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
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
    assert "bg read stopped True" in text and "fg handover True" in text, text
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


def start_as(gw, sid, token, code, language="python"):
    return httpx.post(f"{gw.url}/api/v1/sessions/{sid}/execute",
                      json={"code": code, "language": language, "interactive": True},
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)


async def room(a, b, session):
    """The typist (who starts runs: the session's creator) on gateway A, a candidate on B."""
    typist = await WS.open(a, session["id"])
    await typist.join(participant_token=session["participant_token"])
    watcher = await WS.open(b, session["id"])
    await watcher.join(user_name="Cal")
    return typist, watcher


INPUT_LOOP = """
while True:
    try:
        line = input("> ")
    except EOFError:
        print("bye")
        break
    print("got", line.upper())
"""

SCANF = r"""
#include <stdio.h>
int main(void) {
    int a, b;
    printf("two numbers: ");
    fflush(stdout);
    if (scanf("%d %d", &a, &b) != 2) return 1;
    printf("sum %d\n", a + b);
    return 0;
}
"""


def test_the_room_shares_a_python_input_loop_across_gateways(gateways):
    a, b = gateways
    session = create_session(a, host_name="Host")

    async def main():
        typist, watcher = await room(a, b, session)
        r = start_as(a, session["id"], session["participant_token"], INPUT_LOOP)
        assert r.status_code == 202, r.text
        job = r.json()["job_id"]
        await output_until(watcher, job, "> ")
        seen = ""
        for word in ["alpha", "beta", "gamma"]:
            await typist.send("run-input", {"run_id": job, "data": word + "\r"})
            seen += await output_until(watcher, job, f"got {word.upper()}")
        # Ctrl-D through the line discipline: input() gets EOF.
        await typist.send("run-signal", {"run_id": job, "signal": "eof"})
        await output_until(watcher, job, "bye")
        result = await result_of(watcher, job)
        # Who typed: run-typing reached the room on the other gateway.
        typing = [m for m in watcher.log if m["type"] == "run-typing"]
        assert typing and typing[0]["data"]["run_id"] == job and typing[0]["data"]["name"] == "Host", typing
        await typist.close()
        await watcher.close()
        return seen, result

    seen, result = run(main())
    # Each word echoed by the terminal, then answered, in order.
    assert seen.index("alpha") < seen.index("got ALPHA") < seen.index("beta") < seen.index("got BETA") < seen.index("gamma"), seen
    assert result["status"] == "ok", result


def test_a_c_scanf_program_reads_what_is_typed(gateways):
    a, b = gateways
    session = create_session(a, host_name="Host")

    async def main():
        typist, watcher = await room(a, b, session)
        r = start_as(a, session["id"], session["participant_token"], SCANF, language="c")
        assert r.status_code == 202, r.text
        job = r.json()["job_id"]
        await output_until(watcher, job, "two numbers: ", timeout=60)
        await typist.send("run-input", {"run_id": job, "data_base64": "MTkgMjMK"})  # "19 23\n"
        await output_until(watcher, job, "sum 42")
        result = await result_of(watcher, job)
        await typist.close()
        await watcher.close()
        return result

    assert run(main())["status"] == "ok"


def test_ctrl_c_ends_a_looping_program_and_one_run_at_a_time(gateways):
    a, b = gateways
    session = create_session(a, host_name="Host")

    async def main():
        typist, watcher = await room(a, b, session)
        r = start_as(a, session["id"], session["participant_token"],
                     "import time\nwhile True:\n    print('spin', flush=True)\n    time.sleep(0.2)\n")
        assert r.status_code == 202, r.text
        job = r.json()["job_id"]
        await output_until(watcher, job, "spin")
        second = start_as(a, session["id"], session["participant_token"], "print(1)")
        assert second.status_code == 409 and job in second.json()["detail"], second.text
        await typist.send("run-signal", {"run_id": job, "signal": "interrupt"})
        result = await result_of(watcher, job)
        # Its terminal is gone with it: the next one may start.
        third = start_as(a, session["id"], session["participant_token"], "print('again')")
        await typist.close()
        await watcher.close()
        return result, third

    result, third = run(main())
    assert result["status"] == "runtime_error" and "KeyboardInterrupt" in result["stdout"], result
    assert third.status_code == 202, third.text


def test_who_may_not_type_is_refused_and_nothing_reaches_the_program(gateways):
    a, b = gateways
    session = create_session(a, host_name="Host")

    async def main():
        typist, watcher = await room(a, b, session)
        r = start_as(a, session["id"], session["participant_token"], INPUT_LOOP)
        job = r.json()["job_id"]
        await output_until(watcher, job, "> ")
        errors = {}
        await watcher.send("run-input", {"run_id": job, "data": "intruder\r"})
        errors["candidate"] = await watcher.error()
        await typist.send("run-input", {"run_id": "j_000000000000000000000000", "data": "x"})
        errors["other"] = await typist.error()
        await typist.send("run-input", {"run_id": job, "data": "x" * 5000})
        errors["large"] = await typist.error()
        await typist.send("run-input", {"run_id": job})
        errors["empty"] = await typist.error()
        await typist.send("run-input", {"run_id": job, "data_base64": "***"})
        errors["base64"] = await typist.error()
        await typist.send("run-resize", {"run_id": job, "cols": 0, "rows": 5})
        errors["resize"] = await typist.error()
        await typist.send("run-signal", {"run_id": job, "signal": "kill"})
        errors["signal"] = await typist.error()
        await watcher.send("run-open", {"run_id": job, "open": True})
        errors["open"] = await watcher.error()
        # The program saw none of it: the next line it gets is the typist's.
        await typist.send("run-resize", {"run_id": job, "cols": 100, "rows": 30})
        await typist.send("run-input", {"run_id": job, "data": "mine\r"})
        text = await output_until(watcher, job, "got MINE")
        await typist.send("run-signal", {"run_id": job, "signal": "eof"})
        await result_of(watcher, job)
        await typist.send("run-input", {"run_id": job, "data": "late"})
        errors["finished"] = await typist.error()
        await typist.close()
        await watcher.close()
        return errors, text

    errors, text = run(main())
    assert errors["candidate"]["code"] == "not_allowed_to_type", errors
    assert errors["other"]["code"] == "run_not_interactive", errors
    assert errors["large"]["code"] == "input_too_large", errors
    assert {errors[k]["code"] for k in ("empty", "base64", "resize", "signal")} == {"invalid"}, errors
    assert errors["open"]["code"] == "not_allowed_to_type", errors
    assert errors["finished"]["code"] == "run_finished", errors
    assert "INTRUDER" not in text and "got X" not in text, text


def test_the_starter_may_open_the_terminal_to_the_room(gateways):
    a, b = gateways
    session = create_session(a, host_name="Host")

    async def main():
        typist, watcher = await room(a, b, session)
        job = start_as(a, session["id"], session["participant_token"], INPUT_LOOP).json()["job_id"]
        await output_until(watcher, job, "> ")
        await typist.send("run-open", {"run_id": job, "open": True})
        await typist.expect("run-open")
        await watcher.send("run-input", {"run_id": job, "data": "guest\r"})
        await output_until(watcher, job, "got GUEST")
        await typist.send("run-signal", {"run_id": job, "signal": "eof"})
        await result_of(watcher, job)
        await typist.close()
        await watcher.close()

    run(main())


def test_the_python_repl_loads_the_code_first(gateways):
    a, b = gateways
    session = create_session(a, host_name="Host")

    async def main():
        typist, watcher = await room(a, b, session)
        r = httpx.post(f"{a.url}/api/v1/sessions/{session['id']}/execute",
                       json={"code": "def double(x):\n    return 2 * x\n", "language": "python", "interactive": True, "mode": "repl"},
                       headers={"Authorization": f"Bearer {session['participant_token']}"}, timeout=10)
        assert r.status_code == 202, r.text
        job = r.json()["job_id"]
        await output_until(watcher, job, ">>> ")
        await typist.send("run-input", {"run_id": job, "data": "double(21)\r"})
        await output_until(watcher, job, "42")
        await typist.send("run-signal", {"run_id": job, "signal": "eof"})
        result = await result_of(watcher, job)
        await typist.close()
        await watcher.close()
        return result

    assert run(main())["status"] == "ok"
    bad = httpx.post(f"{a.url}/api/v1/sessions/{session['id']}/execute", json={"code": "x", "mode": "repl"},
                     headers={"Authorization": f"Bearer {session['participant_token']}"}, timeout=5)
    assert bad.status_code == 422 and "interactive" in bad.json()["detail"], bad.text
    c = httpx.post(f"{a.url}/api/v1/sessions/{session['id']}/execute", json={"code": "x", "language": "c", "interactive": True, "mode": "repl"},
                   headers={"Authorization": f"Bearer {session['participant_token']}"}, timeout=5)
    assert c.status_code == 422 and "python, javascript and ruby" in c.json()["detail"], c.text


def test_interactive_runs_hold_at_most_their_slots(gateways):
    """The runner has 2 slots and (by default) 1 for interactive runs: a second session's
    interactive run waits in the queue while a plain run still gets the other slot."""
    a, b = gateways
    s1 = create_session(a, host_name="Host")
    s2 = create_session(a, host_name="Host")

    async def main():
        typist, watcher = await room(a, b, s1)
        job1 = start_as(a, s1["id"], s1["participant_token"], INPUT_LOOP).json()["job_id"]
        await output_until(watcher, job1, "> ")
        r2 = start_as(a, s2["id"], s2["participant_token"], "print('second')")
        assert r2.status_code == 202, r2.text
        job2 = r2.json()["job_id"]
        plain = httpx.post(f"{a.url}/api/v1/execute", json={"code": "print('plain')", "language": "python"}, timeout=30)
        assert plain.status_code == 200 and plain.json()["result"]["stdout"] == "plain\n", plain.text
        assert httpx.get(f"{a.url}/api/v1/executions/{job2}", timeout=5).json()["state"] == "queued"
        await typist.send("run-signal", {"run_id": job1, "signal": "eof"})
        await result_of(watcher, job1)
        await typist.close()
        await watcher.close()
        return job2

    job2 = run(main())
    done = wait_for(lambda: (j := httpx.get(f"{a.url}/api/v1/executions/{job2}", timeout=5).json())["state"] == "done" and j, 30,
                    message="the waiting interactive run ran once a slot was free")
    assert done["result"]["status"] == "ok" and "second" in done["result"]["stdout"], done


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def test_round_trip_figures(gateways, capsys):
    """Input to echo (typist on A, echo read on B: gateway, Redis stream, runner, pty and back)
    beside the output-only path (the program prints its clock; B reads it). Printed, and bounded
    loosely (a debug build on a shared machine)."""
    a, b = gateways
    session = create_session(a, host_name="Host")
    rounds = 60
    code = "import sys, time\nfor i in range(%d):\n    print('t', repr(time.time()), flush=True)\n    time.sleep(0.02)\n" % rounds
    code += "while True:\n    line = input()\n    if line == 'q':\n        break\n"

    async def main():
        typist, watcher = await room(a, b, session)
        job = start_as(a, session["id"], session["participant_token"], code).json()["job_id"]
        output = []
        partial = ""
        while len(output) < rounds:
            m = await watcher.recv(20)
            if m["type"] == "execution-output" and m["data"]["job_id"] == job:
                now = time.time()
                partial += m["data"]["chunk"]
                while "\n" in partial:
                    line, partial = partial.split("\n", 1)
                    if line.startswith("t "):
                        output.append(now - float(line[2:].strip()))
        echo = []
        for i in range(rounds):
            marker = f"k{i:03d}"
            sent = time.monotonic()
            await typist.send("run-input", {"run_id": job, "data": marker})
            await output_until(watcher, job, marker)
            echo.append(time.monotonic() - sent)
        await typist.send("run-input", {"run_id": job, "data": "\rq\r"})
        await result_of(watcher, job)
        await typist.close()
        await watcher.close()
        return output, echo

    output, echo = run(main())
    with capsys.disabled():
        print(f"\ninteractive round trip over {len(echo)} keystrokes: p50 {percentile(echo, 50) * 1000:.1f} ms, "
              f"p99 {percentile(echo, 99) * 1000:.1f} ms; output only over {len(output)} lines: "
              f"p50 {percentile(output, 50) * 1000:.1f} ms, p99 {percentile(output, 99) * 1000:.1f} ms")
    assert percentile(echo, 99) < 2.0


def test_the_terminal_on_a_redis_cluster(redis_cluster, start_gateway, tmp_path):
    """The same round on a 3-primary Redis Cluster: the terminal's keys and stream in the
    session's slot, XREAD routed there."""
    a = start_gateway(redis=redis_cluster)
    b = start_gateway(redis=redis_cluster)
    r = Runner(binary_path(), redis_cluster, f"runner-terminal-cluster-{os.getpid()}",
               ["--languages", "python", "--concurrency", "2"], str(tmp_path))
    try:
        wait_for(lambda: any(l["id"] == "python" and l.get("available")
                             for l in httpx.get(a.url + "/api/v1/languages", timeout=2).json()["languages"]),
                 60, message="the cluster's runner offers python")
        session = create_session(a, host_name="Host")

        async def main():
            typist, watcher = await room(a, b, session)
            job = start_as(a, session["id"], session["participant_token"], INPUT_LOOP).json()["job_id"]
            await output_until(watcher, job, "> ")
            await typist.send("run-input", {"run_id": job, "data": "cluster\r"})
            await output_until(watcher, job, "got CLUSTER")
            await typist.send("run-signal", {"run_id": job, "signal": "eof"})
            result = await result_of(watcher, job)
            await typist.close()
            await watcher.close()
            return result

        assert run(main())["status"] == "ok"
    finally:
        r.stop()


def test_a_runner_killed_mid_run_ends_it_as_runner_lost_and_never_reruns_it(gateways, runner, redis_server, tmp_path):
    """Runs last: it kills the module's runner (a replacement takes its place)."""
    a, b = gateways
    session = create_session(a)
    sid = session["id"]

    async def main():
        ws = await WS.open(b, sid)
        await ws.join(user_name="w")
        r = start_run(a, session, "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.5)\n")
        assert r.status_code == 202, r.text
        job = r.json()["job_id"]
        await output_until(ws, job, "tick")
        runner.kill9()
        replacement = Runner(binary_path(), redis_server, f"runner-terminal-b-{os.getpid()}",
                             ["--languages", "python,c", "--concurrency", "2"], str(tmp_path))
        try:
            # Whoever queues a job after the dead runner's lease ran out (5 s) ends the run.
            deadline = time.monotonic() + 40
            while True:
                assert time.monotonic() < deadline, "the interactive run never ended"
                httpx.post(f"{a.url}/api/v1/sessions/{sid}/execute", json={"code": "print(1)", "wait": False},
                           headers={"Authorization": f"Bearer {session['host_token']}"}, timeout=5)
                try:
                    result = await result_of(ws, job, timeout=1)
                    break
                except Exception:
                    continue
            # Never started again: no second execution-started for it.
            await ws.expect_none("execution-started", 2, where=lambda d: d["job_id"] == job)
        finally:
            replacement.stop()
        await ws.close()
        return result

    result = run(main(), timeout=120)
    assert result["status"] == "runner_lost", result
    assert "not run again" in result["message"]
