"""Issue 22, part 1: integrity signals (WebSocket `activity`, GET /sessions/{id}/activity, the
timeline, the record's `integrity` extras).

Real processes: a redis-server and a PostgreSQL of this module's own, two gateways with --postgres
(sessions are kept for the archiver) and an archiver. Candidates and interviewers sit on both
gateways; every candidate socket records what it gets and none may carry a signal. Refusals are
checked in Redis itself (the list's length), not only by the error.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import httpx
import pytest

from harness.binaries import binary_path, has_option
from harness.processes import Archiver, Gateway
from harness.rest import bearer, create_session
from harness.waiting import wait_for
from harness.ws import WS, run

postgres_harness = pytest.importorskip("harness.postgres", reason="PostgreSQL harness (Tests/harness/postgres.py) not present")

http = httpx.Client(timeout=15)
ADMIN = "integrity-admin-token"
CAP = 5_000


@pytest.fixture(scope="module")
def gateways(redis, postgres, logdir):
    # The message rate limits off (as in CI): the activity bucket is on regardless.
    flags = ["--rate-limits", "off", f"--postgres={postgres.url}", "--archive-hold-hours=1", f"--admin-token={ADMIN}"]
    gws = [Gateway(binary_path(), redis, f"gw-integrity-{i}", flags, logdir) for i in range(2)]
    yield gws
    for gw in gws:
        gw.stop()


def stored_count(redis, sid: str) -> int:
    return int(redis.command("LLEN", f"ci:{{{sid}}}:activity").lstrip(":"))


def activity(gw, sid: str, token: str | None, **params) -> httpx.Response:
    return http.get(f"{gw.url}/api/v1/sessions/{sid}/activity", headers=bearer(token), params=params)


def signals_in(ws: WS) -> list[dict]:
    """Every frame a socket got that is a signal or mentions one."""
    return [m for m in ws.log if m["type"] == "activity" or "integrity" in json.dumps(m)]


async def room(gateways, sid: str, host: str):
    """An interviewer on each gateway, a candidate on each gateway."""
    a, b = gateways
    i_a = await WS.open(a, sid)
    await i_a.join(name="Ivy", role="interviewer", host_token=host)
    i_b = await WS.open(b, sid)
    await i_b.join(name="Zed", role="interviewer", host_token=host)
    c_a = await WS.open(a, sid)
    await c_a.join(name="Cat")
    c_b = await WS.open(b, sid)
    await c_b.join(name="Cal")
    return i_a, i_b, c_a, c_b


PASTE = {"kind": "paste", "length": 240, "source": "external", "document": "code", "offset": 12, "line": 2}


def test_a_candidates_signals_reach_interviewers_on_both_gateways_and_never_a_candidate(gateways, redis):
    a, b = gateways
    created = create_session(a, code="x = 1\n", host_name="Host")
    sid, host = created["id"], created["host_token"]

    async def main():
        i_a, i_b, c_a, c_b = await room(gateways, sid, host)
        before = int(time.time() * 1000)
        # The envelope's timestamp is the client's clock: ignored, the server stamps `at`.
        await c_b.send("activity", PASTE, timestamp=0)
        await c_b.send("activity", {"kind": "away", "cause": "hidden"})
        await c_b.send("activity", {"kind": "back", "cause": "hidden", "duration_ms": 4200})
        await c_b.send("activity", {"kind": "insert", "length": 900, "document": "code", "offset": 0, "line": 1})
        after = int(time.time() * 1000)
        for ws in (i_a, i_b):
            got = [(await ws.expect("activity", 5))["data"] for _ in range(4)]
            assert [g["kind"] for g in got] == ["paste", "away", "back", "insert"], got
            assert [g["seq"] for g in got] == [1, 2, 3, 4], got
            paste = got[0]
            assert paste["user_id"] == c_b.welcome["you"]["id"] and paste["name"] == "Cal" and paste["role"] == "candidate", paste
            assert before - 1000 <= paste["at"] <= after + 1000, (before, paste["at"], after)
            assert paste["type"] == "integrity" and paste["length"] == 240 and paste["source"] == "external", paste
            assert paste["line"] == 2 and paste["offset"] == 12 and paste["document"] == "code", paste
            assert got[2]["duration_ms"] == 4200, got[2]
        # An interviewer's own signal is kept and shown too (to the interviewers).
        await i_a.send("activity", {"kind": "away", "cause": "blur"})
        for ws in (i_a, i_b):
            got = (await ws.expect("activity", 5))["data"]
            assert got["role"] == "interviewer" and got["name"] == "Ivy" and got["seq"] == 5, got
        # Candidates (the sender too): nothing, on either gateway.
        for ws in (c_a, c_b):
            await ws.expect_none("activity", 1.0)
            await ws.ping()
            assert not signals_in(ws), signals_in(ws)
        for ws in (i_a, i_b, c_a, c_b):
            await ws.close()
        return c_a.welcome["participant_token"], i_b.welcome["participant_token"]

    candidate_token, interviewer_token = run(main())
    assert stored_count(redis, sid) == 5
    # The REST read: interviewers (host, an interviewer's token, the admin) all five; a candidate 403.
    for token in (host, interviewer_token, ADMIN):
        r = activity(b, sid, token)
        assert r.status_code == 200, r.text
        body = r.json()
        assert [s["kind"] for s in body["signals"]] == ["paste", "away", "back", "insert", "away"], body
        assert body["count"] == 5 and body["cap"] == CAP, body
    r = activity(a, sid, host, after=3)
    assert [s["seq"] for s in r.json()["signals"]] == [4, 5], r.text
    r = activity(a, sid, candidate_token)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert "integrity" not in r.text or "candidate" in r.json()["detail"], r.text
    assert activity(a, sid, None).status_code == 401
    assert activity(a, sid, host, after=-1).status_code == 422
    assert activity(a, "nosuchsessionatall000", host).status_code in (403, 404)
    # The timeline (interviewers only) has them as events; a candidate's token gets 403.
    http.post(f"{a.url}/api/v1/sessions/{sid}/code", json={"code": "x = 2\n"}, headers=bearer(host))
    timeline = http.get(f"{a.url}/api/v1/sessions/{sid}/timeline", headers=bearer(host)).json()
    kinds = [e["kind"] for e in timeline["events"] if e["type"] == "integrity"]
    assert kinds == ["paste", "away", "back", "insert", "away"], timeline["events"]
    r = http.get(f"{a.url}/api/v1/sessions/{sid}/timeline", headers=bearer(candidate_token))
    assert r.status_code == 403, r.text


def test_malformed_oversized_unknown_and_forged_signals_are_refused_and_store_nothing(gateways, redis):
    a, _ = gateways
    created = create_session(a, code="", host_name="Host")
    sid, host = created["id"], created["host_token"]
    bad = [
        ({"kind": "telepathy"}, "invalid", "kind"),
        ({}, "invalid", "kind"),
        ({"kind": 7}, "invalid", "kind"),
        ({"kind": "paste", "length": 10}, "invalid", "source"),
        ({"kind": "paste", "length": -1, "source": "external"}, "invalid", "length"),
        ({"kind": "paste", "length": 10 ** 12, "source": "external"}, "invalid", "length"),
        ({"kind": "paste", "length": "10", "source": "external"}, "invalid", "length"),
        ({"kind": "paste", "length": 10, "source": "the moon"}, "invalid", "source"),
        ({"kind": "paste", "length": 10, "source": "external", "line": 0}, "invalid", "line"),
        ({"kind": "back", "cause": "hidden", "duration_ms": 10 ** 10}, "invalid", "duration_ms"),
        ({"kind": "away", "cause": "sleep"}, "invalid", "cause"),
        # Who and when are the server's: a client's word for them is refused, not stored.
        ({**PASTE, "user_id": "u-someone-else"}, "invalid", "user_id"),
        ({**PASTE, "name": "The Interviewer"}, "invalid", "name"),
        ({**PASTE, "role": "interviewer"}, "invalid", "role"),
        ({**PASTE, "at": 1}, "invalid", "at"),
        ({"kind": "away", "cause": "blur", "text": "x" * 600}, "too_large", "data"),
    ]

    async def main():
        i = await WS.open(a, sid)
        await i.join(name="Ivy", role="interviewer", host_token=host)
        c = await WS.open(a, sid)
        await c.join(name="Cat")
        for data, code, field in bad:
            await c.send("activity", data)
            error = (await c.expect("error", 5))["data"]
            assert error["code"] == code and error["request_type"] == "activity", (data, error)
            assert error.get("field") == field, (data, error)
            assert error["detail"], error
        # `data` not an object, and a message before joining.
        await c.send_raw(json.dumps({"type": "activity", "data": "paste"}))
        assert (await c.expect("error", 5))["data"]["request_type"] == "activity"
        fresh = await WS.open(a, sid)
        await fresh.send("activity", PASTE)
        assert (await fresh.expect("error", 5))["data"]["code"] == "not_joined"
        await fresh.close()
        # The connection survived every refusal, and the interviewer got nothing.
        await c.ping()
        await i.expect_none("activity", 0.5)
        assert stored_count(redis, sid) == 0
        await c.send("activity", PASTE)
        assert (await i.expect("activity", 5))["data"]["seq"] == 1
        await i.close()
        await c.close()

    run(main())
    assert stored_count(redis, sid) == 1


def test_over_the_rate_is_refused_per_connection_and_the_connection_stays(gateways, redis):
    a, b = gateways
    created = create_session(a, code="", host_name="Host")
    sid, host = created["id"], created["host_token"]

    async def main():
        c = await WS.open(b, sid)
        await c.join(name="Cat")
        for _ in range(40):
            await c.send("activity", {"kind": "away", "cause": "blur"})
        await c.ping(timeout=10)
        errors = [m["data"] for m in c.log if m["type"] == "error"]
        assert errors and all(e["code"] == "rate_limited" and e["request_type"] == "activity" for e in errors), errors
        kept = 40 - len(errors)
        # 20 a burst, plus the refill while 40 went by (2 per second).
        assert 20 <= kept <= 24, (kept, errors[:2])
        wait_for(lambda: stored_count(redis, sid) == kept, 5, message="every accepted signal stored")
        # Its own bucket: another connection of the same person is not refused.
        other = await WS.open(b, sid)
        await other.join(participant_token=c.welcome["participant_token"])
        await other.send("activity", {"kind": "away", "cause": "blur"})
        await other.ping()
        assert not [m for m in other.log if m["type"] == "error"]
        await c.close()
        await other.close()
        return kept

    kept = run(main())
    wait_for(lambda: stored_count(redis, sid) == kept + 1, 5, message="the other connection's signal stored")


def test_the_cap_holds(gateways, redis):
    a, _ = gateways
    created = create_session(a, code="", host_name="Host")
    sid, host = created["id"], created["host_token"]
    key = f"ci:{{{sid}}}:activity"
    # Fill the list to one short of the cap in one step (as if 4,999 had been kept).
    entry = json.dumps({"type": "integrity", "kind": "away", "cause": "blur", "seq": 0, "at": 0})
    filled = redis.command("EVAL", "for i = 1, tonumber(ARGV[2]) do redis.call('RPUSH', KEYS[1], ARGV[1]) end "
                           "return redis.call('LLEN', KEYS[1])", "1", key, entry, str(CAP - 1))
    assert filled == f":{CAP - 1}", filled

    async def main():
        c = await WS.open(a, sid)
        await c.join(name="Cat")
        await c.send("activity", PASTE)
        await c.ping()
        assert not [m for m in c.log if m["type"] == "error"], c.log
        await c.send("activity", PASTE)
        error = (await c.expect("error", 5))["data"]
        assert error["code"] == "session_full" and "5000" in error["detail"], error
        await c.ping()
        await c.close()

    run(main())
    assert stored_count(redis, sid) == CAP
    body = activity(a, sid, host, after=CAP - 1).json()
    assert [s["seq"] for s in body["signals"]] == [CAP] and body["count"] == CAP, body


@pytest.mark.skipif(not has_option("--postgres", "archiver"), reason="this binary has no archiver")
def test_the_record_holds_the_signals_for_interviewers_and_not_for_the_candidate(gateways, redis, postgres, logdir):
    a, b = gateways
    created = create_session(a, code="print(1)\n", host_name="Host")
    sid, host = created["id"], created["host_token"]

    async def main():
        c = await WS.open(b, sid)
        await c.join(name="Cat")
        await c.send("op", {"revision": 0, "ops": [9, "print(2)\n"]})
        await c.expect("ack", 5)
        await c.send("activity", PASTE)
        await c.send("activity", {"kind": "back", "cause": "blur", "duration_ms": 1500})
        await c.ping()
        await c.close()
        return c.welcome["participant_token"]

    candidate = run(main())
    wait_for(lambda: stored_count(redis, sid) == 2, 5, message="both signals stored")
    r = http.patch(f"{a.url}/api/v1/sessions/{sid}", json={"status": "completed"}, headers=bearer(host))
    assert r.status_code == 200, r.text
    archiver = Archiver(binary_path(), redis, postgres.url, f"archiver-integrity-{os.getpid()}", logdir)
    try:
        wait_for(lambda: http.get(f"{a.url}/api/v1/interviews/{sid}", headers=bearer(host)).status_code == 200, 30,
                 message="the record stored")
        wait_for(lambda: redis.command("EXISTS", f"ci:{{{sid}}}:activity", f"ci:{{{sid}}}:session") == ":0", 15,
                 message="the session's keys, the signals' list among them, released")
    finally:
        archiver.stop()
    for token in (host, ADMIN):
        record = http.get(f"{b.url}/api/v1/interviews/{sid}", headers=bearer(token)).json()
        kept = record["extras"]["integrity"]
        assert [(s["kind"], s["seq"], s["name"]) for s in kept] == [("paste", 1, "Cat"), ("back", 2, "Cat")], kept
    view = http.get(f"{b.url}/api/v1/interviews/{sid}", headers=bearer(candidate))
    assert view.status_code == 200, view.text
    assert view.json()["view"] == "candidate" and "integrity" not in view.json()["extras"], view.text
    assert "integrity" not in view.text and "paste" not in view.text, view.text
    # The archived timeline has them (interviewers); the candidate's view of it does not.
    timeline = http.get(f"{b.url}/api/v1/interviews/{sid}/timeline", headers=bearer(host)).json()
    assert [e["kind"] for e in timeline["events"] if e["type"] == "integrity"] == ["paste", "back"], timeline
    theirs = http.get(f"{b.url}/api/v1/interviews/{sid}/timeline", headers=bearer(candidate))
    assert theirs.status_code == 200 and "integrity" not in theirs.text and "paste" not in theirs.text, theirs.text
    # The live route answers 410 once the keys are gone.
    assert activity(a, sid, host).status_code == 410

