"""The README's other close codes and REST changes seen live: a leave, a removal, the end of a
session, a gateway restart, and a save over REST while clients edit."""

import signal

import httpx

from harness.rest import create_session, get_code, get_users
from harness.ws import WS, run
from harness.ot import TextOperation


def test_rest_save_reaches_clients_as_an_op_and_leave_frees_the_seat(cluster):
    created = create_session(cluster[0], code="a\n", max_participants=2)
    sid = created["id"]

    async def main():
        ann, ben = await WS.open(cluster[0], sid), await WS.open(cluster[1], sid)
        a = await ann.join(name="Ann")
        b = await ben.join(name="Ben")
        r = httpx.post(f"{cluster[2].url}/api/v1/sessions/{sid}/code", json={"code": "saved 😀\n"}, timeout=5)
        assert r.status_code == 200, r.text
        saved = r.json()
        for ws, welcome in ((ann, a), (ben, b)):
            op = (await ws.expect("op"))["data"]
            assert op["revision"] == saved["revision"] == welcome["revision"] + 1
            assert TextOperation(op["ops"]).padded(len(welcome["code"])).apply(welcome["code"]) == "saved 😀\n"

        # leave: the seat is freed (the session allows 2), everyone hears user-left with removed.
        await ben.send("leave")
        assert await ben.closed_code() == 1000
        left = (await ann.expect("user-left", where=lambda d: d["user_id"] == b["you"]["id"]))["data"]
        assert left["is_online"] is False
        assert b["you"]["id"] not in {p["id"] for p in get_users(cluster[0], sid)}
        cy = await WS.open(cluster[1], sid)
        await cy.join(name="Cy")
        await ann.close()
        await cy.close()

    run(main())


def test_removed_participant_is_closed_1008_and_ended_session_1000(cluster):
    created = create_session(cluster[0])
    sid, host = created["id"], created["host_token"]

    async def main():
        ann, ben = await WS.open(cluster[0], sid), await WS.open(cluster[1], sid)
        await ann.join(name="Ann")
        b = await ben.join(name="Ben")
        ben_tab2 = await WS.open(cluster[2], sid)
        await ben_tab2.join(participant_token=b["participant_token"])

        r = httpx.delete(f"{cluster[0].url}/api/v1/sessions/{sid}/users/{b['you']['id']}",
                         headers={"Authorization": f"Bearer {host}"}, timeout=5)
        assert r.status_code == 204, r.text
        left = (await ann.expect("user-left", where=lambda d: d["user_id"] == b["you"]["id"]))["data"]
        assert left["removed"] is True and left["is_online"] is False
        assert await ben.closed_code() == 1008
        assert await ben_tab2.closed_code() == 1008  # every tab, on every gateway

        r = httpx.patch(f"{cluster[1].url}/api/v1/sessions/{sid}", json={"status": "completed"},
                        headers={"Authorization": f"Bearer {host}"}, timeout=5)
        assert r.status_code == 200, r.text
        await ann.expect("session-ended")
        assert await ann.closed_code() == 1000

    run(main())


def test_gateway_shutdown_closes_websockets_1012_and_exits_0(start_gateway, cluster):
    gw = start_gateway()
    sid = create_session(gw, code="x")["id"]

    async def main():
        ws = await WS.open(gw, sid)
        await ws.join(name="Ann")
        other = await WS.open(cluster[0], sid)
        await other.join(name="Ben")
        gw.proc.send_signal(signal.SIGTERM)
        assert await ws.closed_code() == 1012
        assert gw.proc.wait(10) == 0
        # The session lives on in Redis: the other gateway still serves it.
        await other.send("op", {"revision": 0, "ops": [1, "y"]})
        assert (await other.expect("ack"))["data"]["revision"] == 1
        await other.close()

    run(main())
    assert get_code(cluster[1], sid)["code"] == "xy"
