"""The interviewers' private notes (issue 15): a second document per session, edited live between
interviewers over the WebSocket (`notes-op` / `notes-ack`, on the session's private channel) and read
or replaced over REST (GET/PUT /sessions/{id}/notes), never seen by a candidate.

Every test runs over two gateways with an interviewer and a candidate on each. The candidates' sockets
record every frame they get (welcome included): none may mention notes, nor carry the notes' text.
The private channel's routing is also proven with frames SPUBLISHed straight into Redis, as the
questions and test-run scripts will publish them (candidate view on `events` with exclude
`~interviewers`, full view on `private`).
"""

import asyncio
import json
import random
import socket
import subprocess
import threading
import time

import httpx
import pytest

from harness.rest import bearer, create_session, get_notes, put_notes
from harness.ws import WS, run
from harness.ot import TextOperation, random_op
from harness.peers import Peer, quiesce

# A word that appears in the notes and nowhere else: any frame or answer carrying it leaks them.
SECRET = "SECRET-7f3a"


def redis_cli(server, *args) -> str:
    return subprocess.run(["redis-cli", "-p", str(server.port), "--raw", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def leaks(message) -> list[str]:
    """What in a message (a frame or a JSON answer) is about the notes: a `notes` key or type, the
    secret word."""
    text = json.dumps(message, ensure_ascii=False)
    found = []
    if "notes" in text:
        found.append("the word 'notes'")
    if SECRET in text:
        found.append("the notes' text")
    return found


def assert_sees_no_notes(ws: WS, who: str):
    assert ws.log, f"{who} received nothing at all (the check could not fail)"
    for message in ws.log:
        assert not leaks(message), f"{who} got {leaks(message)}: {message}"


async def interviewers_and_candidates(cluster, sid, host):
    """An interviewer and a candidate on each of two gateways, as editing peers."""
    i1 = await Peer.join(cluster[0], sid, "Ivy", role="interviewer", host_token=host)
    i2 = await Peer.join(cluster[1], sid, "Zed", role="interviewer", host_token=host)
    c1 = await Peer.join(cluster[0], sid, "Cat")
    c2 = await Peer.join(cluster[1], sid, "Cal")
    return i1, i2, c1, c2


def session(cluster, **body):
    created = create_session(cluster[0], host_name="Host", **body)
    return created["id"], created["host_token"]


def test_notes_converge_between_interviewers_and_never_reach_a_candidate(cluster):
    sid, host = session(cluster, code="x = 1\n")

    async def main():
        i1, i2, c1, c2 = await interviewers_and_candidates(cluster, sid, host)
        for i in (i1, i2):
            assert i.welcome["notes"] == {"text": "", "revision": 0}, i.welcome.get("notes")
        for c in (c1, c2):
            assert "notes" not in c.welcome

        async def edit_notes(peer: Peer, seed: int):
            rng = random.Random(seed)
            stop = time.monotonic() + 2.5
            while time.monotonic() < stop:
                peer.edit_notes(random_op(rng, peer.notes_text, max_len=300))
                await asyncio.sleep(rng.uniform(0, 0.02))
            # The secret word goes in last, so a leak of any later notes frame shows it.
            peer.edit_notes(TextOperation().retain(len(peer.notes_text)).insert(f" {SECRET}-{seed}"))

        async def edit_code(peer: Peer, seed: int):
            rng = random.Random(seed)
            stop = time.monotonic() + 2.5
            while time.monotonic() < stop:
                peer.edit(random_op(rng, peer.text))
                await asyncio.sleep(rng.uniform(0, 0.03))

        # Interviewers type notes on both gateways while candidates and interviewers type code.
        await asyncio.gather(edit_notes(i1, 1), edit_notes(i2, 2), edit_code(c1, 3), edit_code(c2, 4), edit_code(i1, 5))
        peers = [i1, i2, c1, c2]
        await quiesce(peers, quiet=0.5, timeout=60)

        assert i1.notes_text == i2.notes_text
        assert i1.notes.revision == i2.notes.revision
        assert f"{SECRET}-1" in i1.notes_text and f"{SECRET}-2" in i1.notes_text
        # Both saw the other's ops and acks for their own; the notes' revisions are the notes' own.
        assert i1.notes_op_messages and i2.notes_op_messages
        assert i1.notes.acks and i2.notes.acks
        assert len(i1.notes.acks) + len(i2.notes.acks) == i1.notes.revision
        author = i2.notes_op_messages[0]
        assert {"revision", "ops", "user_id", "name", "color"} <= set(author), author
        assert {m["user_id"] for m in i1.notes_op_messages} == {i2.me["id"]}
        # The code converged too, unaffected by the notes traffic.
        assert len({p.text for p in peers}) == 1
        assert len({p.ot.revision for p in peers}) == 1
        for gw in cluster.gateways[:2]:
            r = get_notes(gw, sid, host)
            assert r.status_code == 200, r.text
            assert r.json()["text"] == i1.notes_text and r.json()["revision"] == i1.notes.revision
        for peer in peers:
            assert not peer.errors and not peer.failures, (peer.name, peer.errors, peer.failures)
        assert_sees_no_notes(c1.ws, "the candidate on gateway 1")
        assert_sees_no_notes(c2.ws, "the candidate on gateway 2")
        for p in peers:
            await p.close()

    run(main())


def test_stale_notes_ops_are_transformed(cluster):
    sid, host = session(cluster)

    async def main():
        a = await WS.open(cluster[0], sid)
        b = await WS.open(cluster[1], sid)
        await a.join(name="A", role="interviewer", host_token=host)
        await b.join(name="B", role="interviewer", host_token=host)
        # Both at revision 0, at once, on two gateways: one lands as 1, the other is transformed to 2.
        await asyncio.gather(a.send("notes-op", {"revision": 0, "ops": ["abc"]}),
                             b.send("notes-op", {"revision": 0, "ops": ["xyz"]}))
        acks = sorted([(await a.expect("notes-ack"))["data"]["revision"], (await b.expect("notes-ack"))["data"]["revision"]])
        assert acks == [1, 2]
        # Three more from A, then B edits at the base it had: the gateway transforms over all of them.
        text = get_notes(cluster[0], sid, host).json()["text"]
        assert sorted([text[:3], text[3:]]) == ["abc", "xyz"], text
        rev = 2
        for ch in "123":
            await a.send("notes-op", {"revision": rev, "ops": [len(text), ch]})
            rev = (await a.expect("notes-ack"))["data"]["revision"]
            text += ch
        await b.send("notes-op", {"revision": 2, "ops": ["<", 6]})
        assert (await b.expect("notes-ack"))["data"]["revision"] == 6
        final = get_notes(cluster[1], sid, host).json()
        assert final == {"text": "<" + text, "revision": 6, "updated_at": final["updated_at"]}
        # Each saw the other's ops, transformed as committed.
        seen = [(await a.expect("notes-op", where=lambda d: d["revision"] == 6))["data"]]
        assert seen[0]["ops"] == ["<", 9] and seen[0]["name"] == "B", "transformed over A's three ops"
        for ws in (a, b):
            await ws.close()

    run(main())


def test_a_candidate_may_not_read_or_write_the_notes(cluster, redis_server):
    created = create_session(cluster[0], host_name="Host")
    sid, host, creator = created["id"], created["host_token"], created["participant_token"]
    other = create_session(cluster[0], host_name="Else")
    assert put_notes(cluster[0], sid, host, f"hire? {SECRET}").status_code == 200

    candidate = httpx.post(f"{cluster[1].url}/api/v1/sessions/{sid}/users", json={"name": "Cy"}, timeout=5).json()
    interviewer = httpx.post(f"{cluster[1].url}/api/v1/sessions/{sid}/users", json={"name": "Iz", "role": "interviewer"},
                             headers=bearer(host), timeout=5).json()
    for gw in cluster.gateways[:2]:
        for token, status in ((None, 401), (candidate["participant_token"], 403), (other["host_token"], 403),
                              (other["participant_token"], 403), ("not-a-token", 403)):
            for r in (get_notes(gw, sid, token), put_notes(gw, sid, token, "overwritten")):
                assert r.status_code == status, (token, r.status_code, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert SECRET not in r.text and "overwritten" not in r.text
                detail = r.json()["detail"]
                assert "interviewer" in detail or "does not belong" in detail, detail
                if status == 401:
                    assert r.headers["www-authenticate"] == "Bearer"
        # The creator (an interviewer) and a co-interviewer read them.
        for token in (host, creator, interviewer["participant_token"]):
            r = get_notes(gw, sid, token)
            assert r.status_code == 200 and r.json()["text"] == f"hire? {SECRET}" and r.json()["revision"] == 1, r.text
    r = put_notes(cluster[1], sid, interviewer["participant_token"], f"second {SECRET}")
    assert r.status_code == 200 and r.json()["revision"] == 2, r.text
    # A notes revision is stamped with its author (the host's REST write has none).
    log = [json.loads(e) for e in redis_cli(redis_server, "LRANGE", f"ci:{{{sid}}}:notes-log", "0", "-1").splitlines()]
    assert [e.get("user_id") for e in log] == [None, interviewer["participant"]["id"]]


def test_notes_never_appear_where_a_candidate_can_read(cluster, redis_server):
    sid, host = session(cluster, code="print(1)\n")
    candidate = httpx.post(f"{cluster[0].url}/api/v1/sessions/{sid}/users", json={"name": "Cy"}, timeout=5).json()
    ctoken = candidate["participant_token"]

    async def main():
        i = await Peer.join(cluster[0], sid, "Ivy", role="interviewer", host_token=host)
        c = await Peer.join(cluster[1], sid, "Cy", participant_token=ctoken)
        for ch in f"{SECRET} ":
            i.edit_notes(TextOperation().retain(len(i.notes_text)).insert(ch))
        i.edit(TextOperation().retain(len(i.text)).insert("# code\n"))
        await quiesce([i, c], quiet=0.3)
        assert i.notes_text == f"{SECRET} "
        assert_sees_no_notes(c.ws, "the candidate")
        await i.close()
        await c.close()
        return i.notes.revision

    notes_revision = run(main())
    assert put_notes(cluster[1], sid, host, f"{SECRET} replaced").status_code == 200
    base = f"/api/v1/sessions/{sid}"
    reads = [(base, None), (base + "/history", None), (base + "/history?since_revision=0", None), (base + "/code", None),
             (base + "/code?revision=1", host), (base + "/users", None), (base + "/timeline", host),
             (base + "/timeline?limit=1", host), (base + "/executions", None)]
    for gw in cluster.gateways[:2]:
        for path, token in reads:
            r = httpx.get(gw.url + path, headers=bearer(token), timeout=5)
            assert r.status_code == 200, (path, r.text)
            assert not leaks(r.json()), (path, leaks(r.json()), r.text[:500])
    # The code's revisions are the code's alone: one code edit, eleven notes revisions.
    assert httpx.get(f"{cluster[0].url}{base}/code", timeout=5).json()["revision"] == 1
    assert get_notes(cluster[0], sid, host).json()["revision"] == notes_revision + 1 >= 3
    # Every notes key expires with the session.
    expires = int(redis_cli(redis_server, "PEXPIRETIME", f"ci:{{{sid}}}:session"))
    assert expires > time.time() * 1000
    for key in ("notes", "notes-log", "notes-snapshot", "notes-checkpoint"):
        assert int(redis_cli(redis_server, "PEXPIRETIME", f"ci:{{{sid}}}:{key}")) == expires, key
    # Deleting the session deletes them.
    assert httpx.delete(f"{cluster[0].url}{base}", headers=bearer(host), timeout=5).status_code == 204
    for key in ("notes", "notes-log", "notes-snapshot", "notes-checkpoint"):
        assert redis_cli(redis_server, "EXISTS", f"ci:{{{sid}}}:{key}") == "0", key
    assert get_notes(cluster[0], sid, host).status_code == 410


def test_bad_notes_are_refused_and_change_nothing(start_gateway):
    gw1, gw2 = start_gateway("--max-notes-bytes", "1024"), start_gateway("--max-notes-bytes", "1024")
    created = create_session(gw1, host_name="Host")
    sid, host = created["id"], created["host_token"]
    assert put_notes(gw1, sid, host, "kept").json()["revision"] == 1

    def unchanged():
        r = get_notes(gw2, sid, host)
        assert r.status_code == 200 and r.json()["text"] == "kept" and r.json()["revision"] == 1, r.text

    # REST: the bound, every malformed body.
    assert put_notes(gw1, sid, host, "é" * 512).status_code == 200, "exactly the bound (in UTF-8 bytes) is fine"
    assert put_notes(gw1, sid, host, "kept").json()["revision"] == 3
    url = f"{gw2.url}/api/v1/sessions/{sid}/notes"
    bad = [(put_notes(gw2, sid, host, "é" * 512 + "x"), 413, "text"),
           (put_notes(gw2, sid, host, 5), 422, "text"),
           (httpx.put(url, json={}, headers=bearer(host), timeout=5), 422, "text"),
           (put_notes(gw2, sid, host, "new", revision="3"), 422, "revision"),
           (put_notes(gw2, sid, host, "new", revision=-1), 422, "revision"),
           (put_notes(gw2, sid, host, "new", revision=2), 409, None),
           (put_notes(gw2, sid, host, "new", revision=99), 409, None),
           (httpx.put(url, content=b"{", headers={**bearer(host), "content-type": "application/json"}, timeout=5), 400, None),
           (httpx.put(url, content=b"[]", headers={**bearer(host), "content-type": "application/json"}, timeout=5), 400, None),
           (httpx.put(url, content=b'{"text":"x"}', headers={**bearer(host), "content-type": "text/plain"}, timeout=5), 415, None),
           (httpx.put(url, content=b"x" * 1_100_000, headers={**bearer(host), "content-type": "application/json"}, timeout=10), 413, None)]
    for r, status, field in bad:
        assert r.status_code == status, (status, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json" and r.json()["detail"]
        if field:
            assert r.json()["field"] == field, r.text
    assert "revision 3" in bad[5][0].json()["detail"]
    # Revisions renumber from 3: what was stored is still "kept".
    r = get_notes(gw2, sid, host)
    assert r.json()["text"] == "kept" and r.json()["revision"] == 3
    assert put_notes(gw2, sid, host, "kept", revision=3).json()["revision"] == 4

    async def main():
        ws = await WS.open(gw1, sid)
        welcome = await ws.join(name="Ivy", role="interviewer", host_token=host)
        assert welcome["notes"] == {"text": "kept", "revision": 4}
        cases = [({"revision": 4, "ops": "not a list"}, "invalid"),
                 ({"revision": 4, "ops": [0]}, "invalid"),
                 ({"revision": 4, "ops": [{"insert": "x"}]}, "invalid"),
                 ({"revision": 4}, "invalid"),
                 ({"ops": [4, "x"]}, "invalid"),
                 ({"revision": -1, "ops": [4, "x"]}, "invalid"),
                 ({"revision": "4", "ops": [4, "x"]}, "invalid"),
                 ({"revision": 5, "ops": [4, "x"]}, "invalid"),                # from the future
                 ({"revision": 4, "ops": [5, "x"]}, "invalid"),                # past the end
                 ({"revision": 4, "ops": [-5]}, "invalid"),                    # deletes more than there is
                 ({"revision": 4, "ops": [4, "y" * 1100]}, "too_large"),
                 ({"revision": 4, "ops": [4, "é" * 511]}, "too_large")]        # 4 + 1022 bytes: over by 2
        for data, code in cases:
            await ws.send("notes-op", data)
            error = await ws.error()
            assert error["code"] == code and error["request_type"] == "notes-op", (data, error)
        await ws.send_raw('{"type":"notes-op","data":')
        assert (await ws.error())["code"] == "invalid_json"
        await ws.ping()
        await ws.expect_none("notes-ack", 0.3)
        await ws.close()
        return welcome

    run(main())
    r = get_notes(gw2, sid, host)
    assert r.json()["text"] == "kept" and r.json()["revision"] == 4


def test_a_candidates_notes_op_is_forbidden(cluster):
    sid, host = session(cluster)
    assert put_notes(cluster[0], sid, host, "private").status_code == 200

    async def main():
        c = await WS.open(cluster[1], sid)
        welcome = await c.join(name="Cy")
        assert "notes" not in welcome
        # Claiming the interviewer role without the host token is refused at the join.
        other = await WS.open(cluster[0], sid)
        with pytest.raises(Exception, match="forbidden"):
            await other.join(name="Mallory", role="interviewer")
        for data in ({"revision": 1, "ops": [7, "x"]}, {"revision": 0, "ops": ["x"]}, {}):
            await c.send("notes-op", data)
            error = await c.error()
            assert error["code"] == "forbidden" and error["request_type"] == "notes-op", error
        assert (await c.ping())["nonce"] == "n1", "the connection stays usable"
        # Nothing but the refusals of its own notes-ops speaks of notes.
        c.log = [m for m in c.log if not (m["type"] == "error" and m["data"].get("request_type") == "notes-op")]
        assert_sees_no_notes(c, "the candidate")
        await c.close()
        await other.close()

    run(main())
    assert get_notes(cluster[0], sid, host).json() | {"updated_at": 0} == {"text": "private", "revision": 1, "updated_at": 0}


def test_a_reconnect_gets_the_current_notes(cluster):
    sid, host = session(cluster)

    async def main():
        ws = await WS.open(cluster[0], sid)
        welcome = await ws.join(name="Ivy", role="interviewer", host_token=host)
        token = welcome["participant_token"]
        await ws.send("notes-op", {"revision": 0, "ops": ["first"]})
        await ws.expect("notes-ack")
        await ws.close()
        # Changed while away: over REST, and by another interviewer on the other gateway.
        assert put_notes(cluster[1], sid, host, "first, then second", revision=1).status_code == 200
        other = await WS.open(cluster[1], sid)
        await other.join(name="Zed", role="interviewer", host_token=host)
        await other.send("notes-op", {"revision": 2, "ops": [18, "!"]})
        await other.expect("notes-ack")
        for gw in cluster.gateways[:2]:
            again = await WS.open(gw, sid)
            back = await again.join(participant_token=token, revision=welcome["revision"])
            assert back["you"]["id"] == welcome["you"]["id"]
            assert back["notes"] == {"text": "first, then second!", "revision": 3}
            await again.close()
        await other.close()

    run(main())


def test_the_notes_timeline(cluster):
    sid, host = session(cluster, code="code\n")
    candidate = httpx.post(f"{cluster[0].url}/api/v1/sessions/{sid}/users", json={"name": "Cy"}, timeout=5).json()

    async def main():
        i = await Peer.join(cluster[1], sid, "Ivy", role="interviewer", host_token=host)
        for word in ("one ", "two ", "three"):
            i.edit_notes(TextOperation().retain(len(i.notes_text)).insert(word))
            await quiesce([i], quiet=0.1)
        i.edit_notes(TextOperation().retain(4).delete(4).retain(5))
        i.edit(TextOperation().retain(5).insert("more\n"))
        await quiesce([i], quiet=0.2)
        await i.close()
        return i.notes_text, i.me["id"]

    text, author = run(main())
    assert text == "one three"
    url = f"{cluster[0].url}/api/v1/sessions/{sid}/timeline"
    r = httpx.get(url, params={"document": "notes", "limit": 2}, headers=bearer(host), timeout=5)
    assert r.status_code == 200, r.text
    pages, events = [r.json()], list(r.json()["events"])
    while pages[-1]["next_after_revision"] is not None:
        r = httpx.get(url, params={"document": "notes", "limit": 2, "after_revision": pages[-1]["next_after_revision"]},
                      headers=bearer(host), timeout=5)
        pages.append(r.json())
        events.extend(r.json()["events"])
    assert all(p["document"] == "notes" and p["revision"] == 4 for p in pages)
    assert [e["type"] for e in events] == ["op"] * 4, "the notes' timeline holds their ops alone"
    assert [e["revision"] for e in events] == [1, 2, 3, 4] and {e["user_id"] for e in events} == {author}
    rebuilt = ""
    for e in events:
        rebuilt = TextOperation(e["ops"]).apply(rebuilt)
    assert rebuilt == text
    # The code's timeline is the code's: its one op, no notes.
    code = httpx.get(url, headers=bearer(host), timeout=5).json()
    assert code["document"] == "code" and code["revision"] == 1
    assert [e["revision"] for e in code["events"] if e["type"] == "op"] == [1] and not leaks(code)
    for token, status in ((None, 401), (candidate["participant_token"], 403)):
        assert httpx.get(url, params={"document": "notes"}, headers=bearer(token), timeout=5).status_code == status
    r = httpx.get(url, params={"document": "secrets"}, headers=bearer(host), timeout=5)
    assert r.status_code == 422 and r.json()["field"] == "document"
    # A session whose notes were never written has an empty notes timeline.
    fresh, fresh_host = session(cluster)
    r = httpx.get(f"{cluster[0].url}/api/v1/sessions/{fresh}/timeline", params={"document": "notes"},
                  headers=bearer(fresh_host), timeout=5)
    assert r.json()["events"] == [] and r.json()["revision"] == 0 and r.json()["next_after_revision"] is None


def test_the_notes_log_folds_and_snapshots_like_the_code(start_gateway, redis_server):
    gw = start_gateway("--op-log-bytes", "8192")
    sid, host = session([gw])
    keys = f"ci:{{{sid}}}"

    async def main():
        i = await Peer.join(gw, sid, "Ivy", role="interviewer", host_token=host)
        for n in range(160):
            i.edit_notes(TextOperation().retain(len(i.notes_text)).insert(f"note {n:03d} " + "w" * 80 + "\n"))
            await quiesce([i], quiet=0)
        await i.close()
        return i.notes_text, i.notes.revision

    text, revision = run(main())
    assert revision == 160

    def checkpoint():
        flat = redis_cli(redis_server, "HGETALL", f"{keys}:notes-checkpoint").splitlines()
        return dict(zip(flat[::2], flat[1::2]))

    def settled():
        return (checkpoint().get("reason") == "log cap"
                and int(redis_cli(redis_server, "HGET", f"{keys}:notes", "log_bytes")) <= 8192
                and int(redis_cli(redis_server, "HGET", f"{keys}:notes-snapshot", "revision")) >= 100)

    deadline = time.monotonic() + 10
    while not settled() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert settled(), (checkpoint(), redis_cli(redis_server, "HGETALL", f"{keys}:notes"))
    cp = checkpoint()
    assert int(cp["revision"]) > 0 and int(cp["folded_ops"]) == int(cp["revision"]), cp
    # The code's document is untouched, and the history (every member's) says nothing of the fold.
    assert redis_cli(redis_server, "HGET", f"{keys}:checkpoint", "revision") == "0"
    assert redis_cli(redis_server, "HGET", f"{keys}:session", "revision") == "0"
    assert "checkpoint" not in redis_cli(redis_server, "LRANGE", f"{keys}:history", "0", "-1")
    r = get_notes(gw, sid, host)
    assert r.json()["text"] == text and r.json()["revision"] == 160
    page = httpx.get(f"{gw.url}/api/v1/sessions/{sid}/timeline", params={"document": "notes", "limit": 5000},
                     headers=bearer(host), timeout=5).json()
    assert page["events"][0]["type"] == "checkpoint" and page["events"][0]["revision"] == int(cp["revision"])
    rebuilt = page["events"][0]["text"]
    for e in page["events"][1:]:
        rebuilt = TextOperation(e["ops"]).apply(rebuilt)
    assert rebuilt == text


def test_an_ended_session_keeps_its_notes_readable_not_writable(cluster):
    sid, host = session(cluster)
    assert put_notes(cluster[0], sid, host, "verdict").status_code == 200
    r = httpx.patch(f"{cluster[0].url}/api/v1/sessions/{sid}", json={"status": "completed"}, headers=bearer(host), timeout=5)
    assert r.status_code == 200, r.text
    assert get_notes(cluster[1], sid, host).json()["text"] == "verdict"
    r = put_notes(cluster[1], sid, host, "later")
    assert r.status_code == 410, r.text
    assert get_notes(cluster[0], "AAAAAAAAAAAAAAAAAAAAAA", host).status_code == 404
    assert get_notes(cluster[0], "nope", host).status_code == 404


# -- the private channel, proven with frames published straight into Redis -------------------------


def publish(server, channel: str, exclude: str, frame: dict, revision: int = 0) -> int:
    """SPUBLISH a ChannelMessage ("<exclude> <revision>\\n<frame>"); how many subscribers got it."""
    payload = f"{exclude} {revision}\n{json.dumps(frame)}"
    return int(redis_cli(server, "SPUBLISH", channel, payload))


def test_the_private_channel_reaches_interviewers_only(cluster, redis_server):
    sid, host = session(cluster)

    async def main():
        i1, i2, c1, c2 = await interviewers_and_candidates(cluster, sid, host)
        views = [("question-changed", {"question": {"title": "Sum", "tests": [{"name": "visible"}]}},
                  {"question": {"title": "Sum", "tests": [{"name": "visible"}, {"name": f"hidden {SECRET}"}]}}),
                 ("test-case-result", {"run_id": "r1", "name": "h1", "hidden": True, "status": "passed"},
                  {"run_id": "r1", "name": "h1", "hidden": True, "status": "passed", "stdin": f"{SECRET} input"})]
        for kind, candidate_view, full_view in views:
            # Both gateways subscribe both channels of the session (one subscriber each).
            assert publish(redis_server, f"ci:{{{sid}}}:events", "~interviewers",
                           {"type": kind, "data": candidate_view, "timestamp": 1}) == 2
            assert publish(redis_server, f"ci:{{{sid}}}:private", "",
                           {"type": kind, "data": full_view, "timestamp": 1}) == 2
            for who in (i1, i2):
                got = await expect_other(who, kind)
                assert got["data"] == full_view, (who.name, got)
            for who in (c1, c2):
                got = await expect_other(who, kind)
                assert got["data"] == candidate_view, (who.name, got)
        # One more private frame: the interviewers get it, and (below) the candidates never do.
        publish(redis_server, f"ci:{{{sid}}}:private", "", {"type": "marker", "data": {}, "timestamp": 1})
        for who in (i1, i2):
            await expect_other(who, "marker")
        await asyncio.sleep(0.3)
        for who in (i1, i2, c1, c2):
            kinds = [m["type"] for m in who.others]
            for kind, _, _ in views:
                assert kinds.count(kind) == 0, (who.name, kinds)   # each taken exactly once above
        for who in (c1, c2):
            assert_sees_no_notes(who.ws, who.name)
            assert not any(m["type"] == "marker" for m in who.ws.log)
        for p in (i1, i2, c1, c2):
            await p.close()

    run(main())


async def expect_other(peer: Peer, kind: str, timeout: float = 5) -> dict:
    """The next non-document message of `kind` a peer got (taken from `others`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i, message in enumerate(peer.others):
            if message["type"] == kind:
                return peer.others.pop(i)
        await asyncio.sleep(0.02)
    raise AssertionError(f"{peer.name} got no {kind} within {timeout} s: {peer.others[-5:]}")


def test_candidates_joining_during_a_flood_of_private_frames_get_none(cluster, redis_server):
    """Channel messages that arrive while a connection joins are held until its welcome is out, when
    its role is known: a joining candidate's held private frames must be dropped, not flushed."""
    sid, host = session(cluster, max_participants=20)
    stop = threading.Event()
    sent = [0]

    def flood():
        with socket.create_connection(("127.0.0.1", redis_server.port)) as s:
            reader = s.makefile("rb")
            while not stop.is_set():
                payload = f" 0\n{json.dumps({'type': 'flood', 'data': {'n': sent[0], 'secret': SECRET}, 'timestamp': 1})}".encode()
                channel = f"ci:{{{sid}}}:private".encode()
                s.sendall(b"*3\r\n$8\r\nSPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(channel), channel, len(payload), payload))
                reader.readline()
                sent[0] += 1
                time.sleep(0.0005)

    async def main():
        watcher = await Peer.join(cluster[0], sid, "Ivy", role="interviewer", host_token=host)
        thread = threading.Thread(target=flood, daemon=True)
        thread.start()
        try:
            candidates = []
            for n in range(12):
                ws = await WS.open(cluster[n % 2], sid)
                await ws.join(name=f"C{n}")
                candidates.append(ws)
            late = await Peer.join(cluster[1], sid, "Zed", role="interviewer", host_token=host)
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            thread.join(5)
        for ws in candidates:
            try:
                while True:
                    await ws.recv(0.2)
            except asyncio.TimeoutError:
                pass
            assert not any(m["type"] == "flood" or leaks(m) for m in ws.log), [m for m in ws.log if m["type"] == "flood"][:1]
            await ws.close()
        # The interviewers got the flood (so the check above could fail).
        assert sent[0] > 50
        assert sum(m["type"] == "flood" for m in watcher.others) > 50
        assert any(m["type"] == "flood" for m in late.others)
        await watcher.close()
        await late.close()

    run(main(), timeout=120)
