"""Interoperability with a client nobody here wrote (Python `websockets`), the legacy message
names, and language changes."""

import asyncio

from clients import WS, create_session, get_code, get_session, run
from ot import TextOperation


def test_websockets_client_join_op_cursor_and_catch_up(cluster):
    sid = create_session(cluster[0], code="abc\n")["id"]

    async def main():
        # The /api/v1 prefix is served too.
        ann = await WS.open(cluster[0], sid, prefix="/api/v1")
        a = await ann.join(name="Ann")
        ben = await WS.open(cluster[1], sid)
        b = await ben.join(name="Ben", revision=a["revision"])
        assert b["missed_ops"] == [] and b["position_unit"] == "unicode_scalar"
        assert {p["id"] for p in b["participants"]} == {a["you"]["id"], b["you"]["id"]}
        ann_me, ben_me = a["you"], b["you"]

        # An op: acked to its author, broadcast to the other with the author stamped by the server
        # (a user_id/name/color the client puts in is not believed).
        await ann.send("op", {"revision": a["revision"], "ops": [3, "😀"], "user_id": ben_me["id"], "name": "Ben"})
        ack = await ann.expect("ack")
        rev = ack["data"]["revision"]
        assert rev == a["revision"] + 1
        op = (await ben.expect("op"))["data"]
        assert op["revision"] == rev
        assert (op["user_id"], op["name"], op["color"]) == (ann_me["id"], "Ann", ann_me["color"])
        text = TextOperation(op["ops"]).padded(len(b["code"])).apply(b["code"])
        assert text == "abc😀\n" == get_code(cluster[2], sid)["code"]
        await ann.expect_none("op", 0.3)  # the author gets its ack, not its own op

        # A cursor: to the others only, stamped with the author.
        await ben.send("cursor-position", {"position": 4, "selection": {"anchor": 2, "head": 4}, "revision": rev,
                                           "name": "Mallory", "color": "#000000"})
        cursor = (await ann.expect("cursor-position"))["data"]
        assert (cursor["user_id"], cursor["name"], cursor["color"]) == (ben_me["id"], "Ben", ben_me["color"])
        assert (cursor["position"], cursor["selection"]) == (4, {"anchor": 2, "head": 4})
        await ben.expect_none("cursor-position", 0.3)

        # Throttled to one per 50 ms per connection; the latest wins.
        await asyncio.sleep(0.1)
        for position in range(20):
            await ben.send("cursor-position", {"position": position})
        await asyncio.sleep(0.4)
        burst = []
        while True:
            try:
                burst.append((await ann.expect("cursor-position", 0.2))["data"]["position"])
            except asyncio.TimeoutError:
                break
        assert 1 <= len(burst) <= 3, burst
        assert burst[-1] == 19

        # Catch-up: Ben goes away, Ann edits, Ben comes back with his token and revision.
        token = b["participant_token"]
        await ben.close()
        await ann.send("op", {"revision": rev, "ops": [-1, "A", 4]})
        rev2 = (await ann.expect("ack"))["data"]["revision"]
        ben2 = await WS.open(cluster[2], sid)
        back = await ben2.join(participant_token=token, revision=rev)
        assert [m["revision"] for m in back["missed_ops"]] == [rev2]
        assert TextOperation(back["missed_ops"][0]["ops"]).apply(text) == back["code"] == "Abc😀\n"
        assert (back["you"]["id"], back["you"]["color"]) == (ben_me["id"], ben_me["color"])
        await ann.close()
        await ben2.close()

    run(main())


def test_legacy_clients_get_session_state_and_whole_text_code_updates(cluster):
    sid = create_session(cluster[0], code="one\n")["id"]

    async def main():
        old = await WS.open(cluster[0], sid)
        state = await old.join(legacy=True, name="Oldie")
        assert state["code"] == "one\n" and "revision" in state and state["you"]["name"] == "Oldie"
        new = await WS.open(cluster[1], sid)
        welcome = await new.join(name="Newbie")

        # A legacy code_update reaches a current client as an op (replace the whole text).
        await old.send("code_update", {"code": "two 😀\n"})
        rev = (await old.expect("ack"))["data"]["revision"]
        op = (await new.expect("op"))["data"]
        assert op["revision"] == rev and op["user_id"] == state["you"]["id"]
        text = TextOperation(op["ops"]).padded(len(welcome["code"])).apply(welcome["code"])
        assert text == "two 😀\n"

        # A current client's op reaches the legacy client as code_update with the whole text.
        await new.send("op", {"revision": rev, "ops": [4, "é", 2]})
        rev2 = (await new.expect("ack"))["data"]["revision"]
        update = (await old.expect("code_update"))["data"]
        assert update["code"] == "two é😀\n" == get_code(cluster[2], sid)["code"]
        assert update["revision"] == rev2
        assert (update["user_id"], update["name"]) == (welcome["you"]["id"], "Newbie")
        await old.expect_none("op", 0.3)
        await old.close()
        await new.close()

    run(main())


def test_language_change_reaches_everyone_including_the_sender(cluster):
    sid = create_session(cluster[0], code="x = 1\n", initial_language="python")["id"]

    async def main():
        ann, ben = await WS.open(cluster[0], sid), await WS.open(cluster[1], sid)
        a = await ann.join(name="Ann")
        await ben.join(name="Ben")
        before = get_code(cluster[0], sid)
        await ann.send("language-change", {"language": "javascript"})
        for ws in (ann, ben):
            changed = (await ws.expect("language-changed"))["data"]
            assert changed["language"] == "javascript"
            assert (changed["user_id"], changed["name"], changed["color"]) == (a["you"]["id"], "Ann", a["you"]["color"])
        session = get_session(cluster[2], sid).json()
        assert session["language"] == "javascript"
        after = get_code(cluster[2], sid)
        assert after["revision"] == before["revision"] and after["code"] == before["code"]
        # Unknown language: an error naming the field, nothing changes, the connection stays usable.
        await ben.send("language-change", {"language": "cobol"})
        error = await ben.error()
        assert (error["code"], error.get("field")) == ("invalid", "language")
        await ann.expect_none("language-changed", 0.3)
        assert get_session(cluster[0], sid).json()["language"] == "javascript"
        assert (await ben.ping())["nonce"] == "n1"
        await ann.close()
        await ben.close()

    run(main())
