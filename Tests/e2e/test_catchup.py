"""Catch-up: a client that was away rejoins with its token and revision and gets what it missed."""

from harness.rest import create_session, get_code
from harness.ws import WS, run
from harness.ot import TextOperation


async def _edit(ws: WS, revision: int, ops: list) -> int:
    await ws.send("op", {"revision": revision, "ops": ops})
    ack = await ws.expect("ack")
    return ack["data"]["revision"]


def _apply_missed(text: str, missed: list) -> str:
    for data in missed:
        text = TextOperation(data["ops"]).padded(len(text)).apply(text)
    return text


def test_rejoin_with_revision_gets_exactly_the_missed_ops(cluster):
    sid = create_session(cluster[0], code="print('hi')\n")["id"]

    async def main():
        cat = await WS.open(cluster[0], sid)
        first = await cat.join(name="Cat")
        old_text, old_revision, token = first["code"], first["revision"], first["participant_token"]
        writer = await WS.open(cluster[1], sid)
        w = await writer.join(name="Writer")
        # Cat's own op lands too, so its revision is not the session's first.
        revision = await _edit(cat, old_revision, [len(old_text), "# é😀\n"])
        old_text = TextOperation([len(old_text), "# é😀\n"]).apply(old_text)
        old_revision = revision
        await cat.close()
        await writer.expect("user-left", where=lambda d: d["user_id"] == first["you"]["id"])

        # Edits Cat misses: ops (one with a trailing retain left out) and a whole-text update.
        rev = await _edit(writer, old_revision, [len(old_text), "x = 1  # 漢字\n"])
        text = old_text + "x = 1  # 漢字\n"
        rev = await _edit(writer, rev, [2, "👍🏽"])  # trailing retain left out
        text = text[:2] + "👍🏽" + text[2:]
        rev = await _edit(writer, rev, [-1, len(text) - 1])
        text = text[1:]
        await writer.send("code-update", {"code": text + "y = 2\n"})
        rev = (await writer.expect("ack"))["data"]["revision"]
        text += "y = 2\n"
        head = rev
        assert get_code(cluster[0], sid)["code"] == text == get_code(cluster[1], sid)["code"]

        back = await WS.open(cluster[2], sid)  # another gateway than before
        welcome = await back.join(participant_token=token, revision=old_revision)
        assert "resync" not in welcome
        missed = welcome["missed_ops"]
        assert [m["revision"] for m in missed] == list(range(old_revision + 1, head + 1))
        assert all(m["user_id"] == w["you"]["id"] for m in missed)
        assert _apply_missed(old_text, missed) == text == welcome["code"]
        assert welcome["revision"] == head
        assert welcome["you"]["id"] == first["you"]["id"]
        assert welcome["you"]["color"] == first["you"]["color"]
        assert welcome["participant_token"] == token
        # The writer sees Cat come back online.
        joined = await writer.expect("user-joined", where=lambda d: d["user_id"] == first["you"]["id"])
        assert joined["data"]["is_online"] is True

        # Live from here on: the next op arrives as head + 1.
        await _edit(writer, head, [len(text), "z"])
        op = await back.expect("op")
        assert op["data"]["revision"] == head + 1

        # Up to date already: missed_ops is an empty list.
        again = await WS.open(cluster[0], sid)
        current = await again.join(participant_token=token, revision=head + 1)
        assert current["missed_ops"] == []
        for ws in (writer, back, again):
            await ws.close()

    run(main())


def test_rejoin_older_than_the_op_log_gets_resync(start_gateway):
    gw = start_gateway("--op-log-limit", "3")
    sid = create_session(gw, code="start\n")["id"]

    async def main():
        away = await WS.open(gw, sid)
        first = await away.join(name="Away")
        token, since = first["participant_token"], first["revision"]
        await away.close()
        writer = await WS.open(gw, sid)
        await writer.join(name="Writer")
        rev = since
        for i in range(5):
            rev = await _edit(writer, rev, [len("start\n") + i, str(i)])
        server = get_code(gw, sid)
        assert server["revision"] == rev == since + 5

        back = await WS.open(gw, sid)
        welcome = await back.join(participant_token=token, revision=since)
        assert welcome["resync"] is True
        assert "missed_ops" not in welcome
        assert welcome["code"] == server["code"] == "start\n01234"
        assert welcome["revision"] == rev
        assert welcome["you"]["id"] == first["you"]["id"]

        # Within the last 3 it still catches up op by op.
        near = await WS.open(gw, sid)
        recent = await near.join(participant_token=token, revision=rev - 2)
        assert "resync" not in recent
        assert [m["revision"] for m in recent["missed_ops"]] == [rev - 1, rev]
        assert _apply_missed("start\n012", recent["missed_ops"]) == server["code"]
        for ws in (writer, back, near):
            await ws.close()

    run(main())
