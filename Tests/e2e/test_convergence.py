"""Convergence: clients on different gateways edit one document concurrently and end identical."""

import asyncio
import random
import time

import pytest

from harness.rest import create_session, get_code
from harness.ws import WS, run
from harness.ot import TextOperation, random_op
from harness.peers import Peer, quiesce

EDIT_SECONDS = 5.0


@pytest.fixture(scope="module")
def edit_run(cluster):
    """Six clients, two per gateway, edit one session concurrently for EDIT_SECONDS, then quiesce.

    Peers follow ot.js' client protocol. An ack or op that arrives before a lower revision is held
    back until the lower ones are in (and recorded in `out_of_order`), so convergence is checked
    apart from delivery order, which test_acks_and_ops_reach_each_client_in_revision_order checks.
    """
    sid = create_session(cluster[0], code="def f():\n    return 1\n")["id"]
    names = ["Ada", "Bob", "Cy", "Dee", "Eve", "Fay"]

    async def main():
        # Half of the clients escape non-ASCII in their JSON (\u00e9, surrogate pairs for emoji).
        peers = [await Peer.join(cluster[i % 3], sid, name, ensure_ascii=bool(i % 2))
                 for i, name in enumerate(names)]

        async def edit(peer: Peer, seed: int):
            rng = random.Random(seed)
            stop = time.monotonic() + EDIT_SECONDS
            count = 0
            while time.monotonic() < stop:
                peer.edit(random_op(rng, peer.text))
                count += 1
                await asyncio.sleep(rng.uniform(0, 0.03))
            return count

        edits = await asyncio.gather(*(edit(p, 1000 + i) for i, p in enumerate(peers)))
        try:
            await quiesce(peers, quiet=0.5, timeout=40)
        finally:
            for p in peers:
                await p.close()
        return peers, sum(edits)

    peers, edits = run(main(), timeout=90)
    server = get_code(cluster[0], sid)
    print(f"{edits} local edits, {server['revision']} revisions")
    return sid, peers, server


def test_concurrent_random_edits_converge_across_three_gateways(cluster, edit_run):
    sid, peers, server = edit_run
    start_revision = peers[0].welcome["revision"]
    assert all(p.welcome["revision"] == start_revision for p in peers)
    head = server["revision"]
    assert head > start_revision + 100, f"too few revisions committed: {head}"
    for gw in cluster.gateways[1:]:
        assert get_code(gw, sid) == server
    ids = {p.me["id"]: p.me for p in peers}
    assert len(ids) == len(peers)
    for p in peers:
        assert not p.failures, f"{p.name}: {p.failures[:5]}"
        assert p.text == server["code"], f"{p.name} diverged"
        assert p.ot.revision == head
        seen = sorted(p.ot.acks + p.ot.received)
        assert seen == list(range(start_revision + 1, head + 1)), f"{p.name}: gaps or repeats in revisions"
        # Every op carries its (other) author, as the server knows it.
        for data in p.op_messages:
            author = ids[data["user_id"]]
            assert data["user_id"] != p.me["id"]
            assert (data["name"], data["color"]) == (author["name"], author["color"])
    # The text really holds multi-scalar characters (positions count scalars, not UTF-16 units).
    assert any(ord(ch) > 0xFFFF for ch in server["code"])


def test_acks_and_ops_reach_each_client_in_revision_order(edit_run):
    """ot.js' client protocol: the ack of my op N comes after every op below N and before any above."""
    _, peers, _ = edit_run
    disorder = {p.name: p.out_of_order[:3] for p in peers if p.out_of_order}
    assert not disorder, f"acks/ops out of revision order: {disorder}"


def _wait_op(ws: WS, revision: int):
    return ws.expect("op", 5, where=lambda d: d["revision"] == revision)


def test_tie_break_at_same_position_matches_readme(cluster):
    """README: where two inserts meet at one position, the one being committed lands before the
    one committed earlier (ot.js' rule)."""
    sid = create_session(cluster[0], code="xy")["id"]

    async def main():
        a, b = await WS.open(cluster[0], sid), await WS.open(cluster[1], sid)
        await a.join(name="A")
        await b.join(name="B")
        await a.send("op", {"revision": 0, "ops": [1, "A", 1]})
        assert (await a.expect("ack"))["data"]["revision"] == 1
        await _wait_op(b, 1)
        await b.send("op", {"revision": 0, "ops": [1, "B", 1]})  # concurrent with A's: made at 0
        assert (await b.expect("ack"))["data"]["revision"] == 2
        await _wait_op(a, 2)
        await a.close()
        await b.close()

    run(main())
    assert get_code(cluster[0], sid)["code"] == "xBAy"


def test_trailing_retain_may_be_left_out_by_concurrent_ops(cluster):
    """README: 'a trailing retain may be left out' -- also when the op has to be transformed."""
    sid = create_session(cluster[0], code="abcdef")["id"]

    async def main():
        a, b = await WS.open(cluster[0], sid), await WS.open(cluster[1], sid)
        await a.join(name="A")
        await b.join(name="B")
        await a.send("op", {"revision": 0, "ops": [1, "x"]})       # spans 1 of 6 characters
        assert (await a.expect("ack"))["data"]["revision"] == 1
        first = (await _wait_op(b, 1))["data"]
        await b.send("op", {"revision": 0, "ops": [5, "y"]})       # concurrent, spans 5 of 6
        reply = await b.recv()
        assert reply["type"] == "ack", f"expected ack, got {reply}"
        assert reply["data"]["revision"] == 2
        second = (await _wait_op(a, 2))["data"]
        # A applies B's op as received (padded to its document) and gets the server's text.
        text_a = TextOperation(second["ops"]).padded(7).apply("axbcdef")
        text_b = TextOperation(first["ops"]).padded(6).apply("abcdef")
        await a.close()
        await b.close()
        return text_a, text_b

    text_a, _ = run(main())
    assert get_code(cluster[0], sid)["code"] == "axbcdeyf" == text_a
