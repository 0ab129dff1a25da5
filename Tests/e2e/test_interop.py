"""Interoperability with a client nobody here wrote (Python `websockets`), the legacy message
names, and language changes."""

import asyncio

from harness.rest import create_session, get_code, get_session
from harness.ws import WS, run
from harness.ot import TextOperation


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


# -- Earlier frontends, with their messages exactly as their protocol documents write them ------------


def test_join_session_takes_display_name_and_echoes_client_id(cluster):
    sid = create_session(cluster[0], code="x\n")["id"]

    async def main():
        old = await WS.open(cluster[0], sid)
        state = await old.join(legacy=True, display_name="Grace", client_id="tab-7f3a")
        assert state["you"]["name"] == "Grace"
        assert state["client_id"] == "tab-7f3a"
        current = await WS.open(cluster[1], sid)
        welcome = await current.join(display_name="Linus")
        assert welcome["you"]["name"] == "Linus" and "client_id" not in welcome
        # A client_id that is not a short string is refused, and nothing joins.
        bad = await WS.open(cluster[0], sid)
        await bad.send("join_session", {"display_name": "Eve", "client_id": "x" * 200})
        assert (await bad.error())["code"] == "invalid"
        for ws in (old, current, bad):
            await ws.close()

    run(main())
    names = {p["name"] for p in get_session(cluster[0], sid).json()["participants"]}
    assert names == {"Grace", "Linus"}


def test_line_and_column_cursors_are_relayed_with_a_position_where_the_text_is_known(cluster):
    # Line 1 (0-based) starts at scalar 4; "é😀x" counts 1 + 2 + 1 UTF-16 units, 3 scalars.
    sid = create_session(cluster[0], code="abc\né😀x\n")["id"]

    async def main():
        legacy = await WS.open(cluster[0], sid)
        await legacy.join(legacy=True, display_name="Old")   # a whole-text client: the room keeps the text
        watcher = await WS.open(cluster[0], sid)
        await watcher.join(name="Watch")
        cases = [
            ({"line": 1, "ch": 3}, {"line": 1, "ch": 3}, 6),            # CodeMirror: after é😀
            ({"lineNumber": 2, "column": 4}, {"lineNumber": 2, "column": 4}, 6),  # Monaco, 1-based
            ({"line": 1, "column": 1}, {"line": 1, "column": 1}, 5),     # after é
            ({"line": 9, "ch": 0}, {"line": 9, "ch": 0}, 8),             # past the end: clamped
        ]
        for sent, relayed, position in cases:
            await legacy.send("cursor-position", sent)
            data = (await watcher.expect("cursor-position"))["data"]
            assert {k: data[k] for k in relayed} == relayed, data
            assert data["position"] == position, (sent, data)
            assert data["name"] == "Old"
            await asyncio.sleep(0.06)  # past the cursor throttle
        # Without a whole-text client here the gateway does not hold the text: relayed as sent.
        other = await WS.open(cluster[1], sid)
        await other.join(name="Far")
        far = await WS.open(cluster[1], sid)
        await far.join(name="Farther")
        await other.send("cursor-position", {"lineNumber": 1, "column": 2})
        data = (await far.expect("cursor-position"))["data"]
        assert (data["lineNumber"], data["column"]) == (1, 2) and "position" not in data
        # Malformed coordinates get an error and change nothing.
        for bad in ({"line": -1, "ch": 0}, {"lineNumber": 0, "column": 1}, {"line": "1", "ch": 2}, {"ch": 3}, {"position": "7"}):
            await legacy.send("cursor-position", bad)
            assert (await legacy.error())["code"] == "invalid", bad
        for ws in (legacy, watcher, other, far):
            await ws.close()

    run(main())


def test_interviewer_join_without_host_key_is_refused_and_the_connection_stays(cluster):
    created = create_session(cluster[0], host_name="Host")
    sid = created["id"]

    async def main():
        ws = await WS.open(cluster[0], sid)
        await ws.send("join", {"name": "Pretender", "role": "interviewer"})
        error = await ws.error()
        assert error["code"] == "forbidden", error
        await ws.send("join", {"name": "Pretender", "role": "interviewer", "host_token": "wrong"})
        assert (await ws.error())["code"] == "forbidden"
        # The same connection joins as a candidate.
        welcome = await ws.join(name="Pretender")
        assert welcome["you"]["role"] == "candidate"
        await ws.send("op", {"revision": welcome["revision"], "ops": ["hi"]})
        assert (await ws.expect("ack"))["data"]["revision"] == welcome["revision"] + 1
        # And with the host key, another connection joins as interviewer.
        co = await WS.open(cluster[1], sid)
        assert (await co.join(name="Co", role="interviewer", host_token=created["host_token"]))["you"]["role"] == "interviewer"
        for c in (ws, co):
            await c.close()

    run(main())
    people = {p["name"]: p["role"] for p in get_session(cluster[0], sid).json()["participants"]}
    assert people == {"Host": "interviewer", "Pretender": "candidate", "Co": "interviewer"}
