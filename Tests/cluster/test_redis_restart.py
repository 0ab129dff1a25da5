"""Redis restarted (AOF): sessions, documents and participants are still there, and the gateways
resume without a restart of their own (same processes; open WebSockets carry on)."""

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from harness.editors import Editor


def restart_redis(cluster, node: str, how: int):
    """Stops the cluster's Redis with `how` (SIGTERM: clean; SIGKILL: crash) and starts it again
    from the same configuration and data, as its supervisor would."""
    pid = cluster.pid(node)
    os.kill(pid, how)
    deadline = time.monotonic() + 10
    while cluster.pid(node):
        assert time.monotonic() < deadline, "redis-server did not stop"
        time.sleep(0.05)
    stopped_at = time.monotonic()
    conf = Path(cluster.state, node, "redis.conf")
    pidfile = Path(cluster.state, node, "restarted.pid")
    pidfile.unlink(missing_ok=True)
    # Detached (setsid -f), as cluster/up starts it: not a child of the test, so never a zombie.
    with open(Path(cluster.state, "nodes", f"{node}.log"), "ab") as log:
        subprocess.run(["setsid", "-f", "redis-server", str(conf), "--pidfile", str(pidfile)],
                       stdout=log, stderr=subprocess.STDOUT, check=True)
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline, "redis-server did not start again"
        time.sleep(0.02)
    Path(cluster.state, "nodes", f"{node}.pid").write_text(pidfile.read_text().strip())
    return stopped_at


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return time.monotonic()
        except httpx.HTTPError as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout} s (last error: {last!r})")


def test_redis_restart_keeps_sessions_and_gateways_resume(make_cluster):
    cluster = make_cluster(gateways=2)
    cluster.wait_balanced(2)
    redis = cluster.nodes("redis")[0]
    gateway_pids = {g: cluster.pid(g) for g in cluster.nodes("gateway")}
    created = cluster.create_session(code="", host_name="Ada")
    sid = created["id"]
    r = httpx.post(f"{cluster.url}/api/v1/sessions/{sid}/users", json={"name": "Bob"}, timeout=10)
    assert r.status_code in (200, 201), r.text

    async def main():
        editor = Editor(cluster.ws_url(sid), "ed", seed=7)
        task = asyncio.create_task(editor.run(reconnect_within=30))
        await asyncio.wait_for(editor.connected.wait(), 10)
        await asyncio.sleep(1.5)
        await editor.settle()
        before = httpx.get(f"{cluster.url}/api/v1/sessions/{sid}/code", timeout=10).json()
        users_before = httpx.get(f"{cluster.url}/api/v1/sessions/{sid}/users", timeout=10).json()["participants"]
        acked_before = list(editor.acked)

        # 1. A crash of the Redis process (kill -9), right after the last acknowledged edit.
        stopped = restart_redis(cluster, redis, signal.SIGKILL)
        back = wait_until(lambda: httpx.get(f"{cluster.url}/api/v1/sessions/{sid}", timeout=2).status_code == 200,
                          20, "the session answering through HAProxy again")
        after = httpx.get(f"{cluster.url}/api/v1/sessions/{sid}/code", timeout=10).json()
        users_after = httpx.get(f"{cluster.url}/api/v1/sessions/{sid}/users", timeout=10).json()["participants"]

        # The same editor (same socket unless its gateway dropped it) edits on.
        editor.stop = False
        writer = asyncio.create_task(editor._write())
        await asyncio.sleep(1.5)
        writer.cancel()
        await editor.settle()
        # 2. A clean restart (SIGTERM: Redis fsyncs the AOF before it exits).
        restart_redis(cluster, redis, signal.SIGTERM)
        wait_until(lambda: httpx.get(f"{cluster.url}/api/v1/sessions/{sid}", timeout=2).status_code == 200,
                   20, "the session answering after the clean restart")
        final = httpx.get(f"{cluster.url}/api/v1/sessions/{sid}/code", timeout=10).json()
        await editor.close()
        await asyncio.gather(task, return_exceptions=True)
        return editor, before, after, final, users_before, users_after, acked_before, back - stopped

    editor, before, after, final, users_before, users_after, acked_before, outage = asyncio.run(main())
    assert len(acked_before) > 10
    # Documents: the text and revision of every acknowledged edit survived the crash.
    assert after["code"] == before["code"] and after["revision"] == before["revision"], (before, after)
    assert all(t in after["code"] for t in acked_before)
    # Participants: the same people, same ids and colors.
    key = lambda users: sorted((u["id"], u["name"], u["color"]) for u in users)  # noqa: E731
    assert key(users_after) == key(users_before)
    assert {"Ada", "Bob", "ed"} <= {u["name"] for u in users_after}
    # Edits after the restart work and survive the clean restart too.
    assert len(editor.acked) > len(acked_before)
    assert all(t in final["code"] for t in editor.acked)
    assert not editor.failures, editor.failures
    assert editor.ot.text == final["code"]
    # The gateways never restarted.
    assert {g: cluster.pid(g) for g in gateway_pids} == gateway_pids
    print(f"\nRedis crash: the session answered again {outage:.1f} s after redis-server died "
          f"(restart, AOF load, gateway reconnect with backoff, HAProxy health check)")
