"""Presence: who is online, across gateways, when a gateway dies, with several tabs, and the cap."""

import asyncio
import time

from harness.rest import create_session, get_users
from harness.ws import WS, ServerError, run


def _online(welcome: dict) -> dict:
    return {p["id"]: p["is_online"] for p in welcome["participants"]}


def test_kill_9_of_a_gateway_takes_its_members_offline_everywhere(start_gateway):
    gw_a, gw_b = start_gateway(), start_gateway()
    sid = create_session(gw_a)["id"]

    async def main():
        alice = await WS.open(gw_a, sid)
        a = await alice.join(name="Alice")
        bob = await WS.open(gw_b, sid)
        b = await bob.join(name="Bob")
        bob_id = b["you"]["id"]
        assert _online(b)[a["you"]["id"]] is True
        joined = await alice.expect("user-joined", where=lambda d: d["user_id"] == bob_id)
        assert joined["data"]["is_online"] is True
        assert (joined["data"]["name"], joined["data"]["color"]) == ("Bob", b["you"]["color"])
        # A fresh join on A sees Bob (on B) online.
        probe = await WS.open(gw_a, sid)
        assert _online(await probe.join(name="Probe"))[bob_id] is True
        await probe.close()

        gw_b.kill9()
        killed = time.monotonic()
        left = await alice.expect("user-left", timeout=15, where=lambda d: d["user_id"] == bob_id)
        took = time.monotonic() - killed
        assert left["data"]["is_online"] is False
        assert left["data"].get("removed") is not True  # offline, still a participant
        # Everyone on A now sees Bob offline; he is still in the session.
        late = await WS.open(gw_a, sid)
        welcome = await late.join(name="Late")
        assert _online(welcome)[bob_id] is False
        assert _online(welcome)[a["you"]["id"]] is True
        assert bob_id in {p["id"] for p in get_users(gw_a, sid)}
        for ws in (alice, late):
            await ws.close()
        return took

    took = run(main(), timeout=60)
    print(f"user-left {took:.1f} s after kill -9")
    assert took <= 15


def test_tabs_of_one_participant_count_once(cluster):
    sid = create_session(cluster[0])["id"]

    async def main():
        watcher = await WS.open(cluster[0], sid)
        await watcher.join(name="Watcher")
        tab1 = await WS.open(cluster[0], sid)
        first = await tab1.join(name="Tabby")
        pid, token = first["you"]["id"], first["participant_token"]
        await watcher.expect("user-joined", where=lambda d: d["user_id"] == pid)
        tab2, tab3 = await WS.open(cluster[1], sid), await WS.open(cluster[2], sid)
        for tab in (tab2, tab3):
            welcome = await tab.join(participant_token=token)
            assert welcome["you"]["id"] == pid and welcome["you"]["color"] == first["you"]["color"]
        await watcher.expect_none("user-joined", 0.7, where=lambda d: d["user_id"] == pid)
        assert [p["id"] for p in get_users(cluster[0], sid)].count(pid) == 1

        await tab1.close()
        await tab2.close()
        await watcher.expect_none("user-left", 1.0, where=lambda d: d["user_id"] == pid)
        probe = await WS.open(cluster[1], sid)
        assert _online(await probe.join(name="Probe"))[pid] is True
        await probe.close()

        await tab3.close()
        left = await watcher.expect("user-left", where=lambda d: d["user_id"] == pid)
        assert left["data"]["is_online"] is False
        await watcher.expect_none("user-left", 0.5, where=lambda d: d["user_id"] == pid)
        await watcher.close()

    run(main())


def test_participant_cap_counts_participants_not_connections(cluster):
    sid = create_session(cluster[0], max_participants=2)["id"]

    async def main():
        tabs = []
        for name in ("One", "Two"):
            first = await WS.open(cluster[0], sid)
            welcome = await first.join(name=name)
            tabs.append(first)
            for i in (1, 2):
                more = await WS.open(cluster[i], sid)
                again = await more.join(participant_token=welcome["participant_token"])
                assert again["you"]["id"] == welcome["you"]["id"]
                tabs.append(more)
        # Six connections, two participants: a third participant is refused.
        third = await WS.open(cluster[1], sid)
        try:
            await third.join(name="Three")
            raise AssertionError("a third participant was let in")
        except ServerError as e:
            assert e.message["data"]["code"] == "session_full", e.message
        assert await third.closed_code() == 1008
        assert len(get_users(cluster[0], sid)) == 2
        # The six tabs still work.
        for i, tab in enumerate(tabs):
            assert (await tab.ping(f"t{i}"))["nonce"] == f"t{i}"
            await tab.close()

    run(main())
