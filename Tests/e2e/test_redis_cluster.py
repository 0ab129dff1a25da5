"""Gateways on a real Redis Cluster (`--redis-cluster`): sessions spread over the three shards are
created, joined and edited over WebSocket across two gateways, one of them given a single seed."""

from harness.rest import create_session, get_code
from harness.ws import WS, run


def test_gateways_on_a_redis_cluster_serve_sessions_on_every_shard(redis_cluster, start_gateway):
    everyone = start_gateway("--redis-cluster", redis_cluster.seeds, redis=redis_cluster)
    # One seed node is enough: it names the other primaries.
    one_seed = start_gateway("--redis-cluster", f"127.0.0.1:{redis_cluster.ports[-1]}", redis=redis_cluster)
    primaries = redis_cluster.primaries()
    owners = {}
    sessions = []
    while len(set(owners.values())) < 3 and len(sessions) < 60:
        sid = create_session(everyone)["id"]
        slot = int(redis_cluster.cli(primaries[0], "CLUSTER", "KEYSLOT", f"ci:{{{sid}}}:session"))
        owner = next(p for p in primaries if redis_cluster.cli(p, "EXISTS", f"ci:{{{sid}}}:session") == "1")
        owners[sid] = owner
        sessions.append((sid, slot))
    assert len(set(owners.values())) == 3, "sessions should land on every shard"

    async def edit(sid: str):
        alice = await WS.open(everyone, sid)
        welcome = await alice.join(name="Alice")
        bob = await WS.open(one_seed, sid)
        await bob.join(name="Bob")
        await alice.expect("user-joined")
        await alice.send("op", {"revision": welcome["revision"], "ops": ["hello "]})
        ack = await alice.expect("ack")
        op = await bob.expect("op", timeout=10)
        assert op["data"]["revision"] == ack["data"]["revision"]
        await bob.send("op", {"revision": ack["data"]["revision"], "ops": [6, "world"]})
        await bob.expect("ack")
        await alice.expect("op", timeout=10)
        await alice.close()
        await bob.close()

    for sid in {owner: sid for sid, owner in owners.items()}.values():  # one session per shard
        run(edit(sid))
        assert get_code(everyone, sid)["code"].startswith("hello world")
        assert get_code(one_seed, sid)["code"].startswith("hello world")
