"""cluster/up --redis-cluster: six real redis-server processes in cluster mode joined by
redis-cli --cluster create, read back by cluster/status, stopped by cluster/down.

The tests that need gateways and runners on the Redis Cluster are skipped while this build's
binary has no --redis-cluster (the cluster-aware client comes from its own branch); they run as
soon as it has."""

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

import httpx
import pytest

from harness.binaries import binary_knows_redis_cluster
from harness.clusters import redis_cli
from harness.editors import check_converged, editors_for, until


def cluster_info(address: str) -> dict:
    return dict(line.split(":", 1) for line in redis_cli(address, "cluster", "info").split() if ":" in line)


def redis_nodes(cluster) -> dict[str, str]:
    """node id -> address, for the Redis nodes cluster/up started."""
    return {node: cluster.addr(node) for node in cluster.nodes("redis")}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A zombie is gone for our purpose (its parent, setsid's, has not reaped it yet).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_up_starts_three_primaries_with_a_replica_each_and_status_shows_the_shards(make_cluster):
    # No archiver either: its registry keys would count in DBSIZE below.
    cluster = make_cluster(gateways=0, runners=0, archivers=0, redis_cluster=3)
    nodes = redis_nodes(cluster)
    assert len(nodes) == 6 and all(cluster.pid(n) for n in nodes)
    seeds = cluster.settings["REDIS_CLUSTER"].split(",")
    assert sorted(seeds) == sorted(nodes.values()) and cluster.settings["REDIS"] == ""
    for address in nodes.values():
        info = cluster_info(address)
        assert info["cluster_state"] == "ok", (address, info)
        assert info["cluster_slots_assigned"] == info["cluster_slots_ok"] == "16384", (address, info)
        assert info["cluster_known_nodes"] == "6" and info["cluster_size"] == "3", (address, info)
        assert "appendonly\nyes" in redis_cli(address, "config", "get", "appendonly")
        assert redis_cli(address, "config", "get", "dir").split()[1] == str(Path(cluster.state, f"redis-{address.rpartition(':')[2]}"))

    # Sessions' keys, hash-tagged per session, land on every shard; other keys count in DBSIZE only.
    ids = [uuid.uuid4().hex[:12] for _ in range(60)]
    for sid in ids:
        redis_cli(seeds[0], "-c", "hset", f"ci:{{{sid}}}:session", "revision", "0")
        redis_cli(seeds[0], "-c", "rpush", f"ci:{{{sid}}}:log", "{}")
    redis_cli(seeds[0], "-c", "set", "ci:{questions}:index", "x")

    doc = cluster.status()
    c = doc["redis_cluster"]
    assert c["state"] == "ok" and c["slots_ok"] == 16384 and c["known_nodes"] == 6
    assert len(c["shards"]) == 3
    owned = sorted(slot for shard in c["shards"] for start, end in shard["slots"] for slot in range(start, end + 1))
    assert owned == list(range(16384)), "the three primaries own every slot once"
    addresses = set()
    for shard in c["shards"]:
        roles = [(n["role"], n["reachable"]) for n in shard["nodes"]]
        assert roles == [("master", True), ("slave", True)], shard
        assert all(n["used_memory_bytes"] > 0 and n["connected_clients"] >= 1 and n["aof_enabled"] for n in shard["nodes"])
        primary = shard["nodes"][0]["address"]
        assert shard["keys"] == int(redis_cli(primary, "dbsize"))
        assert shard["session_keys_complete"] and shard["session_keys"] > 0, "sessions spread over all three shards"
        addresses |= {n["address"] for n in shard["nodes"]}
    assert addresses == set(nodes.values())
    assert sum(shard["session_keys"] for shard in c["shards"]) == len(ids)
    assert sum(shard["keys"] for shard in c["shards"]) == 2 * len(ids) + 1
    # The report's registry and queue reads went to their slots' primaries (no MOVED error).
    assert doc["redis"]["role"] == "master" and doc["queue"] == {"queued": 0, "parked": 0}

    # A scan bound smaller than the keyspace says so instead of pretending to be complete.
    bounded = json.loads(cluster.run("status", "--json", "--scan-limit", "2"))["redis_cluster"]
    assert not all(shard["session_keys_complete"] for shard in bounded["shards"])

    table = cluster.run("status")
    assert "cluster  state ok, 16384/16384 slots ok, 3 shard(s), 6 node(s) known" in table
    for i, shard in enumerate(c["shards"], 1):
        start, end = shard["slots"][0]
        assert f"shard {i}  slots {start}-{end}" in table
    assert table.count("  primary  ") == 3 and table.count("  replica  ") == 3


def test_down_stops_every_redis_node_and_up_brings_the_data_back(make_cluster):
    # No archiver either: its registry keys would count in DBSIZE below.
    cluster = make_cluster(gateways=0, runners=0, archivers=0, redis_cluster=3)
    seed = cluster.settings["REDIS_CLUSTER"].split(",")[0]
    for i in range(20):
        redis_cli(seed, "-c", "set", f"ci:{{s{i}}}:session", str(i))
    pids = {node: cluster.pid(node) for node in cluster.nodes("redis")}
    assert len(pids) == 6 and all(pids.values())

    out = cluster.run("down", "--timeout", "10")
    assert out.count("stopped redis") == 6, out
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [node for node, pid in pids.items() if alive(pid)], "cluster/down left redis-server running"
    assert not any(cluster.pid(node) for node in pids)

    # The same state directory: the nodes rejoin from nodes.conf, the data comes back from the AOF.
    cluster.run("up", *cluster.up_args, timeout=180)
    assert cluster_info(seed)["cluster_state"] == "ok"
    assert [redis_cli(seed, "-c", "get", f"ci:{{s{i}}}:session").strip() for i in range(20)] == [str(i) for i in range(20)]


@pytest.mark.skipif(binary_knows_redis_cluster(), reason="this build has --redis-cluster")
def test_up_with_gateways_says_the_binary_has_no_cluster_client(make_cluster, tmp_path):
    """Until the cluster-aware client is in the binary: the Redis Cluster comes up, then up stops
    with a message a person can act on instead of starting gateways that cannot work."""
    from harness.clusters import Cluster
    state = str(tmp_path / "state")
    with pytest.raises(AssertionError) as failure:
        Cluster(state, gateways=1, runners=0, redis_cluster=3)
    partial = Cluster.__new__(Cluster)
    partial.state, partial.env = state, dict(os.environ, CODEINTERVIEW_CLUSTER_STATE=state)
    try:
        message = str(failure.value)
        assert "has no --redis-cluster" in message and "the Redis Cluster is up" in message, message
        assert not partial.nodes("gateway")
        assert len(partial.nodes("redis")) == 6
    finally:
        partial.down()


needs_cluster_client = pytest.mark.skipif(
    not binary_knows_redis_cluster(),
    reason="this build's gateway has no --redis-cluster (the cluster-aware Redis client is on its own branch)")


@needs_cluster_client
def test_gateways_and_a_runner_serve_sessions_on_the_redis_cluster(make_cluster):
    """A session on each of the three shards, through HAProxy and two gateways: REST, WebSocket
    editing (ops cross gateways on the session's channel), a run, the history, notes, a question
    and a test run."""
    cluster = make_cluster(gateways=2, runners=1, redis_cluster=3)
    cluster.wait_balanced(2)
    ids = [cluster.create_session()["id"] for _ in range(30)]
    doc = cluster.status()
    assert doc["totals"]["gateways_up"] == 2 and doc["totals"]["runners_up"] == 1
    shards = doc["redis_cluster"]["shards"]
    assert sum(shard["session_keys"] for shard in shards) == len(ids)
    assert all(shard["session_keys"] > 0 for shard in shards), "sessions spread over all three shards"
    r = httpx.post(cluster.url + "/api/v1/execute", json={"language": "python", "code": "print(6 * 7)"}, timeout=60)
    assert r.status_code == 200 and r.json()["result"]["stdout"] == "42\n", r.text

    by_owner = cluster.sessions_on_every_shard(per_shard=1, code="")
    sessions = {owned[0]["id"]: owned[0] for owned in by_owner.values()}
    # Their slots are where CLUSTER KEYSLOT and the shards' ranges say (session_owner checks both).
    assert len({cluster.session_owner(sid) for sid in sessions}) == 3

    async def edit():
        editors = editors_for(cluster, list(sessions), seed=3, balancer=True)
        everyone = [e for group in editors.values() for e in group]
        tasks = [asyncio.create_task(e.run()) for e in everyone]
        await asyncio.wait_for(asyncio.gather(*(e.connected.wait() for e in everyone)), 20)
        await until(lambda: all(len(e.acked) >= 10 for e in everyone), 60, "10 acknowledged edits per editor")
        for e in everyone:
            await e.settle()
        finals = {sid: await check_converged(cluster, sid, group) for sid, group in editors.items()}
        for e in everyone:
            await e.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        return editors, finals

    editors, finals = asyncio.run(edit())
    assert all(e.reconnects == 0 for group in editors.values() for e in group)
    with httpx.Client(base_url=cluster.url + "/api/v1", timeout=60) as http:
        for sid, created in sessions.items():
            host, me = {"Authorization": f"Bearer {created['host_token']}"}, {"Authorization": f"Bearer {created['participant_token']}"}
            assert http.get(f"/sessions/{sid}").json()["id"] == sid
            assert http.post(f"/sessions/{sid}/users", json={"name": "Bob"}).status_code in (200, 201)
            users = {u["name"] for u in http.get(f"/sessions/{sid}/users").json()["participants"]}
            assert {"Ada", "Bob"} | {e.name for e in editors[sid]} <= users, users
            run = http.post(f"/sessions/{sid}/execute", json={"language": "python", "code": "print(6 * 7)", "wait": True}, headers=me)
            assert run.status_code == 200 and run.json()["result"]["stdout"] == "42\n", run.text
            assert http.get(f"/sessions/{sid}/executions").json()["executions"], "the run is listed"
            events = [e["type"] for e in http.get(f"/sessions/{sid}/history").json()["events"]]
            assert "created" in " ".join(events) and any("join" in t for t in events), events
            notes = http.put(f"/sessions/{sid}/notes", json={"text": f"notes of {sid}"}, headers=host)
            assert notes.status_code == 200, notes.text
            assert http.get(f"/sessions/{sid}/notes", headers=host).json()["text"] == f"notes of {sid}"
            question = {"title": "Echo", "prompt": "Print the line.", "tests": [{"name": "one", "stdin": "x\n", "expected_stdout": "x\n"}]}
            assert http.put(f"/sessions/{sid}/question", json=question, headers=host).status_code == 200
            # The document is the editors' tokens: the case fails, but the run goes through.
            started = http.post(f"/sessions/{sid}/test-runs", json={}, headers=me)
            assert started.status_code == 202, started.text
            deadline = time.monotonic() + 60
            while (got := http.get(f"/sessions/{sid}/test-runs/{started.json()['id']}", headers=me).json())["state"] != "done":
                assert time.monotonic() < deadline, got
                time.sleep(0.2)
            assert got["total"] == 1 and got["passed"] == 0, got
            assert http.get(f"/sessions/{sid}/code").json()["code"] == finals[sid]["code"]
