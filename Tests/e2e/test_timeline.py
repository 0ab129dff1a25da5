"""Session playback: the timeline and the text at any revision, for interviewers only. (Runs on the
timeline need a runner: Tests/browser/test_replay.py checks them.)

A session edited concurrently by several clients over two gateways is replayed page by page from
the text at the first page's base: every revision rebuilt equals `code?revision=N`, and the last
equals the final text. Candidates, strangers and other sessions' tokens are refused; history that
was folded into a checkpoint starts the first page.
"""

import asyncio
import random
import time

import httpx
import pytest

from harness.rest import create_session, get_code
from harness.ws import WS, run
from harness.ot import TextOperation, random_op
from harness.peers import Peer, quiesce

EDIT_SECONDS = 3.0
# One keep-alive client: a new httpx client per request costs more than the request.
http = httpx.Client(timeout=10)


def timeline(gw, sid, token, after=None, limit=None) -> httpx.Response:
    params = {}
    if after is not None:
        params["after_revision"] = after
    if limit is not None:
        params["limit"] = limit
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get(f"{gw.url}/api/v1/sessions/{sid}/timeline", params=params, headers=headers)


def code_at(gw, sid, token, revision) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get(f"{gw.url}/api/v1/sessions/{sid}/code", params={"revision": revision}, headers=headers)


def all_pages(gw, sid, token, limit):
    """Every page from the start: (pages, events)."""
    pages, events, after = [], [], None
    for _ in range(10_000):
        r = timeline(gw, sid, token, after=after, limit=limit)
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append(page)
        events.extend(page["events"])
        if page["next_after_revision"] is None:
            return pages, events
        assert after is None or page["next_after_revision"] > after, "paging does not move forward"
        after = page["next_after_revision"]
    raise AssertionError("timeline paging did not end")


@pytest.fixture(scope="module")
def edited(cluster):
    """Four clients on two gateways edit one session; a co-interviewer and a candidate join by name."""
    created = create_session(cluster[0], host_name="Ivy", code="print('hi')\n")
    sid, host = created["id"], created["host_token"]
    names = ["Ada", "Bob", "Cy", "Dee"]

    async def main():
        peers = [await Peer.join(cluster[i % 2], sid, name) for i, name in enumerate(names)]
        interviewer = await Peer.join(cluster[1], sid, "Zed", role="interviewer", host_token=host)

        async def edit(peer: Peer, seed: int):
            rng = random.Random(seed)
            stop = time.monotonic() + EDIT_SECONDS
            while time.monotonic() < stop:
                peer.edit(random_op(rng, peer.text))
                await asyncio.sleep(rng.uniform(0, 0.03))

        await asyncio.gather(*(edit(p, 7 + i) for i, p in enumerate(peers)))
        await quiesce(peers + [interviewer], quiet=0.5, timeout=40)
        await peers[0].ws.send("language-change", {"language": "javascript"})
        deadline = time.monotonic() + 5
        while not any(m["type"] == "language-changed" for m in peers[1].others):
            assert time.monotonic() < deadline, "no language-changed within 5 s"
            await asyncio.sleep(0.02)
        await peers[3].ws.send("leave", {})  # Dee leaves for good: a `left` event
        for p in peers + [interviewer]:
            await p.close()
        return {p.name: p.me for p in peers}, interviewer.welcome["participant_token"], peers[0].welcome["participant_token"]

    people, interviewer_token, candidate_token = run(main(), timeout=90)
    final = get_code(cluster[0], sid)  # an ended session's current code answers 410; its replay does not
    r = httpx.patch(f"{cluster[0].url}/api/v1/sessions/{sid}", json={"status": "completed"},
                    headers={"Authorization": f"Bearer {host}"}, timeout=5)
    assert r.status_code == 200, r.text
    return {"sid": sid, "host": host, "interviewer": interviewer_token, "candidate": candidate_token,
            "people": people, "final": final}


def test_replaying_every_page_rebuilds_every_revision_and_the_final_text(cluster, edited):
    sid, host, final = edited["sid"], edited["host"], edited["final"]
    pages, events = all_pages(cluster[1], sid, host, limit=37)
    assert len(pages) > 2, "the session should span several pages of 37"
    assert all(p["revision"] == final["revision"] for p in pages)
    ops = [e for e in events if e["type"] == "op"]
    assert [e["revision"] for e in ops] == list(range(1, final["revision"] + 1)), "every revision exactly once, in order"
    authors = {me["id"] for me in edited["people"].values()}
    assert {e["user_id"] for e in ops} <= authors | {None}
    assert {e["user_id"] for e in ops} >= authors, "every editor's ops carry their user id"
    assert all(isinstance(e["timestamp"], int) for e in events)
    assert [e["timestamp"] for e in ops] == sorted(e["timestamp"] for e in ops)

    base = code_at(cluster[0], sid, host, 0)
    assert base.status_code == 200, base.text
    text = base.json()["code"]
    assert text == "print('hi')\n"
    checked = 0
    for e in ops:
        text = TextOperation(e["ops"]).padded(len(text)).apply(text)
        if True:  # every revision, alternating gateways and tokens
            r = code_at(cluster[e["revision"] % 2], sid, (host, edited["interviewer"])[e["revision"] % 2], e["revision"])
            assert r.status_code == 200, r.text
            assert r.json()["code"] == text, f"revision {e['revision']}"
            assert r.json()["revision"] == e["revision"]
            checked += 1
    assert text == final["code"]
    assert checked == final["revision"]


def test_other_events_carry_their_type_and_time(cluster, edited):
    _, events = all_pages(cluster[0], edited["sid"], edited["interviewer"], limit=5000)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "created"
    assert kinds[-1] == "ended"
    joined = {e["name"] for e in events if e["type"] == "joined"}
    assert joined >= {"Ivy", "Ada", "Bob", "Cy", "Dee", "Zed"}
    assert any(e["type"] == "left" for e in events)
    change = [e for e in events if e["type"] == "language_changed"]
    assert change and change[-1]["language"] == "javascript"
    assert change[-1]["user_id"] == edited["people"]["Ada"]["id"]
    # Time never goes backwards along the timeline.
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)


def test_strangers_are_refused_and_candidates_read_their_view_of_the_ended_session(cluster, edited):
    # The session has ended: a candidate's token reads the candidate's view (the same ops; while
    # live it is refused: test_candidate_replay.py), never the notes.
    sid = edited["sid"]
    for gw in (cluster[0], cluster[1]):
        r = timeline(gw, sid, edited["candidate"])
        assert r.status_code == 200, r.text
        theirs = timeline(gw, sid, edited["host"]).json()
        assert [e for e in r.json()["events"] if e["type"] == "op"] == [e for e in theirs["events"] if e["type"] == "op"]
        r = httpx.get(f"{gw.url}/api/v1/sessions/{sid}/timeline", params={"document": "notes"},
                      headers={"Authorization": f"Bearer {edited['candidate']}"}, timeout=5)
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json"), r.text
        assert "interviewers" in r.json()["detail"]
        assert code_at(gw, sid, edited["candidate"], 1).status_code == 200
        r = timeline(gw, sid, None)
        assert r.status_code == 401, r.text
        assert code_at(gw, sid, None, 1).status_code == 401
        assert timeline(gw, sid, "not-a-token").status_code == 403
    # A host token of another session is no key to this one.
    other = create_session(cluster[0], host_name="Mallory")
    assert timeline(cluster[0], sid, other["host_token"]).status_code == 403
    assert code_at(cluster[0], sid, other["host_token"], 1).status_code == 403


def test_bad_paging_arguments_get_problems(cluster, edited):
    sid, host = edited["sid"], edited["host"]
    for params in ({"limit": 0}, {"limit": 5001}, {"limit": "x"}, {"after_revision": -1}, {"after_revision": "1e3"},
                   {"after_revision": 2**64}, {"limit": ""}):
        r = httpx.get(f"{cluster[0].url}/api/v1/sessions/{sid}/timeline", params=params,
                      headers={"Authorization": f"Bearer {host}"}, timeout=5)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["detail"]
    head = edited["final"]["revision"]
    for revision in (-1, "abc", head + 1, 2**63 - 1):
        r = code_at(cluster[0], sid, host, revision)
        assert r.status_code == (404 if isinstance(revision, int) and revision > head else 422), (revision, r.text)
        assert r.json()["detail"]
    # Past the end is an empty last page, not an error.
    r = timeline(cluster[0], sid, host, after=2**63 - 1)
    assert r.status_code == 200
    assert r.json()["events"] == [] and r.json()["next_after_revision"] is None
    # The default page is 500 events at most.
    page = timeline(cluster[0], sid, host).json()
    assert len(page["events"]) <= 500
    r = timeline(cluster[0], "nosuchsession", host)
    assert r.status_code == 404


def test_paging_across_a_checkpoint_starts_from_it(start_gateway):
    """With a small op-log cap the oldest ops are folded: the first page says so and starts there."""
    gw = start_gateway("--op-log-bytes", "8192")
    created = create_session(gw, host_name="Ivy", code="start\n")
    sid, host = created["id"], created["host_token"]

    async def main():
        ws = await WS.open(gw, sid)
        welcome = await ws.join(name="Long")
        text, revision = welcome["code"], welcome["revision"]
        for i in range(160):
            chunk = f"line {i:03d} " + "w" * 80 + "\n"
            await ws.send("op", {"revision": revision, "ops": [len(text), chunk]})
            revision = (await ws.expect("ack"))["data"]["revision"]
            text += chunk
        await ws.close()
        return text, revision, welcome["you"]["id"]

    text, head, author = run(main())

    def first_page():
        page = timeline(gw, sid, host, limit=50).json()
        return page if any(e["type"] == "checkpoint" and e["revision"] > 0 for e in page["events"]) else None

    def checkpoint_of(page):
        return next(e for e in page["events"] if e["type"] == "checkpoint")["revision"]

    # The last commits may still have a fold of the log in flight, which moves the checkpoint
    # between two reads: read the first page, then every page, then the first page again, until
    # the checkpoint stayed where it was for the whole read.
    deadline = time.monotonic() + 20
    while True:
        assert time.monotonic() < deadline, "no checkpoint that holds still for one whole read within 20 s"
        page = first_page()
        if page is None:
            time.sleep(0.05)
            continue
        pages, events = all_pages(gw, sid, host, limit=10)
        again = first_page()
        if again is not None and checkpoint_of(again) == checkpoint_of(page) == checkpoint_of({"events": events}):
            break
    kinds = [e["type"] for e in page["events"]]
    at = kinds.index("checkpoint")
    checkpoint = page["events"][at]
    cp = checkpoint["revision"]
    # What came before it is still there (without a revision: the edits in between are folded).
    assert kinds[:at] == ["created", "joined", "joined"], kinds[:at + 2]
    assert all(e["revision"] is None for e in page["events"][:at])
    assert checkpoint["folded_ops"] == cp and checkpoint["authors"] == {author: cp}
    assert checkpoint["first_at"] <= checkpoint["through_at"]
    assert page["events"][at + 1]["type"] == "op" and page["events"][at + 1]["revision"] == cp + 1

    assert len(pages) > 2
    replayed = checkpoint["text"]
    ops = [e for e in events if e["type"] == "op"]
    assert [e["revision"] for e in ops] == list(range(cp + 1, head + 1))
    for e in ops:
        replayed = TextOperation(e["ops"]).padded(len(replayed)).apply(replayed)
    assert replayed == text
    # Paging from inside the folded part lands on the checkpoint too.
    inside = timeline(gw, sid, host, after=1, limit=50).json()
    assert inside["events"][0]["type"] == "checkpoint" or "checkpoint" in [e["type"] for e in inside["events"]]

    at_cp = code_at(gw, sid, host, cp)
    assert at_cp.status_code == 200 and at_cp.json()["code"] == checkpoint["text"]
    folded = code_at(gw, sid, host, cp - 1)
    assert folded.status_code == 404, folded.text
    assert "checkpoint" in folded.json()["detail"]
    assert code_at(gw, sid, host, head).json()["code"] == text
