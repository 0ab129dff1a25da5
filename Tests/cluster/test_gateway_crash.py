"""kill -9 of a gateway while clients edit through HAProxy: they reconnect through the balancer,
rejoin with their participant token and revision, catch up, converge, and no acknowledged op is
lost."""

import asyncio
import time

import httpx

from harness.editors import Editor


def test_kill9_gateway_while_editing_loses_no_acknowledged_op(make_cluster):
    cluster = make_cluster(gateways=3)
    cluster.wait_balanced(3)
    sid = cluster.create_session(code="")["id"]
    gateways = cluster.nodes("gateway")

    async def main():
        editors = [Editor(cluster.ws_url(sid), f"e{i}", seed=i) for i in range(6)]
        tasks = [asyncio.create_task(e.run()) for e in editors]
        await asyncio.wait_for(asyncio.gather(*(e.connected.wait() for e in editors)), 15)
        await asyncio.sleep(2.0)
        # The victim: the gateway with the most WebSockets (leastconn spread 6 over 3).
        counts = {g: cluster.balancer_servers()[g]["sessions"] for g in gateways}
        victim = max(counts, key=counts.get)
        acked_before = sum(len(e.acked) for e in editors)
        killed_at = time.monotonic()
        cluster.kill9(victim)
        # Keep editing through the crash and the reconnects.
        await asyncio.sleep(4.0)
        for e in editors:
            await e.settle()
        for e in editors:
            await e.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        for t in tasks:
            if t.exception():
                raise t.exception()
        return editors, victim, counts, acked_before, killed_at

    editors, victim, counts, acked_before, killed_at = asyncio.run(main())
    assert counts[victim] >= 1, counts
    assert acked_before > 20, "the clients were not editing before the crash"

    final = httpx.get(f"{cluster.url}/api/v1/sessions/{sid}/code", timeout=10).json()
    text = final["code"]
    moved = [e for e in editors if e.reconnects]
    # Every client of the dead gateway came back through the balancer and caught up.
    assert len(moved) >= counts[victim] // 2 + (counts[victim] % 2), [(e.name, e.reconnects) for e in editors]
    assert all(e.catchups for e in moved)
    for e in editors:
        assert not e.failures, (e.name, e.failures)
        # Converged: every client's text is the server's, at the server's revision.
        assert e.ot.text == text, e.name
        assert e.ot.revision == final["revision"], (e.name, e.ot.revision, final["revision"])
    # No acknowledged op lost (and none applied twice).
    acked = [t for e in editors for t in e.acked]
    assert len(acked) > acked_before, "no op was acknowledged after the crash"
    missing = [t for t in acked if t not in text]
    assert not missing, f"{len(missing)} acknowledged op(s) lost: {missing[:10]}"
    doubled = [t for t in acked if text.count(t) != 1]
    assert not doubled, f"applied more than once: {doubled[:10]}"
    assert len(set(acked)) == len(acked)
    # And the survivors serve everything: the dead gateway is DOWN in HAProxy.
    servers = cluster.balancer_servers()
    assert not servers[victim]["status"].startswith("UP"), servers
    print(f"\n{len(acked)} ops acknowledged, {acked_before} before the crash; "
          f"{sum(e.reconnects for e in editors)} reconnect(s); victim {victim} had {counts[victim]} socket(s)")
