"""A Redis Cluster of 3 primaries (cluster/up --redis-cluster 3) losing a primary, and moving a
slot, while editors type in sessions on every shard through two gateways: nothing acknowledged is
lost, everyone converges, and the other shards' sessions never stop."""

import asyncio
import time

import httpx
import pytest

from harness.binaries import binary_knows_redis_cluster
from harness.clusters import redis_cli
from harness.editors import check_converged, editors_for, until

pytestmark = pytest.mark.skipif(not binary_knows_redis_cluster(), reason="this build's gateway has no --redis-cluster")

# Writes to the shard whose primary died resume within this (cluster-node-timeout 2 s, the
# replica's election, the gateways' next slot-map read, the editors' rejoin), on a loaded 2-core machine.
RESUME_BOUND_S = 15


def max_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch of [start, end] without one of `times`."""
    inside = [start] + sorted(t for t in times if start < t < end) + [end]
    return max(b - a for a, b in zip(inside, inside[1:]))


def test_kill9_of_a_primary_while_editing_every_shard(make_cluster):
    cluster = make_cluster(gateways=2, redis_cluster=3)
    cluster.wait_balanced(2)
    by_owner = cluster.sessions_on_every_shard(per_shard=2, code="")
    victim = next(iter(by_owner))
    replica = cluster.redis_primaries()[victim]["replicas"]
    assert len(replica) == 1, replica
    on_victim = [s["id"] for s in by_owner[victim]]
    elsewhere = [s["id"] for owner, owned in by_owner.items() if owner != victim for s in owned]
    gateway_pids = {g: cluster.pid(g) for g in cluster.nodes("gateway")}

    async def main():
        editors = editors_for(cluster, on_victim + elsewhere, seed=1)
        everyone = [e for group in editors.values() for e in group]
        tasks = [asyncio.create_task(e.run(reconnect_within=RESUME_BOUND_S + 15)) for e in everyone]
        await asyncio.wait_for(asyncio.gather(*(e.connected.wait() for e in everyone)), 20)
        await until(lambda: all(len(e.acked) >= 5 for e in everyone), 30, "every editor acknowledged 5 times")

        killed_at = time.monotonic()
        # In a thread: the editors keep running while it waits for the process to be gone.
        await asyncio.to_thread(cluster.kill9, cluster.redis_node(victim))
        # Any ack on the victim's sessions this long after the kill came from the promoted replica
        # (the cluster cannot even notice a dead primary before cluster-node-timeout, 2 s).
        resumed_at = await until(
            lambda: all(any(t > killed_at + 0.2 for t in e.acked_at) for sid in on_victim for e in editors[sid]),
            RESUME_BOUND_S + 15, "writes resuming on the failed shard")
        promoted = cluster.redis_primaries()
        await until(lambda: all(len(e.acked) >= 5 + len([t for t in e.acked_at if t < resumed_at]) for e in everyone),
                    30, "5 more acknowledged edits everywhere after the failover")
        for e in everyone:
            await e.settle(30)
        finals = {sid: await check_converged(cluster, sid, group) for sid, group in editors.items()}
        for e in everyone:
            await e.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        return editors, killed_at, resumed_at, promoted, finals

    editors, killed_at, resumed_at, promoted, finals = asyncio.run(main())
    resumed = resumed_at - killed_at
    assert replica[0] in promoted and victim not in promoted, f"{replica[0]} was not promoted: {promoted}"
    assert resumed < RESUME_BOUND_S, f"writes resumed {resumed:.1f} s after the kill (bound {RESUME_BOUND_S} s)"
    # The other shards' sessions kept going the whole time, their sockets never dropped.
    gaps = {e.name: max_gap(e.acked_at, killed_at, resumed_at) for sid in elsewhere for e in editors[sid]}
    assert max(gaps.values()) < 3, f"edits on the other shards stalled during the failover: {gaps}"
    assert all(e.reconnects == 0 and e.unavailable == 0 for sid in elsewhere for e in editors[sid])
    assert {g: cluster.pid(g) for g in gateway_pids} == gateway_pids, "a gateway restarted"
    refused = sum(e.unavailable for sid in on_victim for e in editors[sid])
    acked = sum(len(e.acked) for group in editors.values() for e in group)
    print(f"\nRedis Cluster failover: kill -9 of {victim}; {replica[0]} took over and writes to its sessions resumed "
          f"{resumed:.1f} s later (cluster-node-timeout 2 s); {refused} edit(s) refused as unavailable meanwhile; "
          f"longest pause on the other shards {max(gaps.values()):.2f} s; {acked} acknowledged edits, all kept")


def test_slots_of_live_sessions_move_to_another_shard_while_editing(make_cluster):
    """The slots of two live sessions migrate (as `redis-cli --cluster reshard` does, one slot at a
    time: SETSLOT IMPORTING / MIGRATING, MIGRATE of its keys, SETSLOT NODE everywhere) while their
    editors type: in the middle the gateways get ASK and follow it, after it MOVED; the sessions'
    sharded subscriptions move with the slot, and nothing acknowledged is lost."""
    cluster = make_cluster(gateways=2, redis_cluster=3)
    cluster.wait_balanced(2)
    by_owner = cluster.sessions_on_every_shard(per_shard=2, code="")
    source, target = list(by_owner)[:2]
    primaries = cluster.redis_primaries()
    source_id, target_id = primaries[source]["id"], primaries[target]["id"]
    moving = [s["id"] for s in by_owner[source]]
    staying = [s["id"] for owner, owned in by_owner.items() if owner != source for s in owned]
    host, _, port = target.rpartition(":")

    async def cli(*args) -> str:
        # In a thread: the editors keep typing while the slot moves.
        return await asyncio.to_thread(redis_cli, *args)

    async def main():
        editors = editors_for(cluster, moving + staying, seed=2)
        everyone = [e for group in editors.values() for e in group]
        tasks = [asyncio.create_task(e.run(reconnect_within=30)) for e in everyone]
        await asyncio.wait_for(asyncio.gather(*(e.connected.wait() for e in everyone)), 20)
        await until(lambda: all(len(e.acked) >= 5 for e in everyone), 30, "every editor acknowledged 5 times")
        half_moved_reads = []
        for sid in moving:
            slot = cluster.slot(f"ci:{{{sid}}}:session")
            assert (await cli(target, "cluster", "setslot", str(slot), "importing", source_id)).strip() == "OK"
            assert (await cli(source, "cluster", "setslot", str(slot), "migrating", target_id)).strip() == "OK"
            while keys := (await cli(source, "cluster", "getkeysinslot", str(slot), "1000")).split():
                out = await cli(source, "migrate", host, port, "", "0", "5000", "keys", *keys)
                assert out.strip() in ("OK", "NOKEY"), out
            # Half-way: the keys are on the target, the slot still the source's, which answers ASK;
            # the importing node answers a request over several keys, some not there (a session's
            # optional keys), with TRYAGAIN until the slot is moved. The gateway must answer while
            # it lasts, not hang: 200, or 503 (retry shortly) once it gave up retrying.
            started = time.monotonic()
            r = await asyncio.to_thread(httpx.get, f"{cluster.url}/api/v1/sessions/{sid}/code", timeout=10)
            half_moved_reads.append((r.status_code, time.monotonic() - started))
            assert r.status_code in (200, 503), r.text
            for primary in [target, source] + [p for p in primaries if p not in (source, target)]:
                assert (await cli(primary, "cluster", "setslot", str(slot), "node", target_id)).strip() == "OK"
            # Moved: the gateways get MOVED, the subscriptions follow the slot (sunsubscribe), the
            # rooms catch up on what was committed meanwhile, and the editors carry on.
            done = time.monotonic()
            await until(lambda: all(len([t for t in e.acked_at if t > done]) >= 5 for e in editors[sid]),
                        20, f"edits of session {sid} acknowledged after its slot {slot} moved")
        assert all(cluster.session_owner(sid) == target for sid in moving)
        for e in everyone:
            await e.settle(30)
        for sid, group in editors.items():
            await check_converged(cluster, sid, group)
        for e in everyone:
            await e.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        return editors, half_moved_reads

    editors, half_moved_reads = asyncio.run(main())
    assert all(took < 5 for _, took in half_moved_reads), half_moved_reads
    movers = [e for sid in moving for e in editors[sid]]
    assert all(e.reconnects == 0 for sid in staying for e in editors[sid])
    print(f"\nRedis Cluster slot migration: 2 live sessions moved {source} -> {target}; "
          f"{sum(len(e.acked) for e in movers)} acknowledged edits on them, all kept; their editors rejoined "
          f"{sum(e.reconnects for e in movers)} time(s) ({sum(e.unavailable for e in movers)} edit(s) refused as unavailable); "
          f"reads of a half-moved session: {', '.join(f'{status} in {took:.2f} s' for status, took in half_moved_reads)}")
