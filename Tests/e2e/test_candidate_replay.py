"""Issue 22, item 2: once the interview ends, a candidate replays it, in the candidate's view.

Real processes: a redis-server and a PostgreSQL of this module's own, two gateways with --postgres,
a runner (a test run against a hidden case) and an archiver. A candidate's token reads the code's
timeline and the code at a revision only after the end, live (GET /sessions/{id}/...) and archived
(GET /interviews/{id}/...); never the notes; never an integrity signal, a notes event or a hidden
case's data, although the session had all three.
"""

from __future__ import annotations

import os

import httpx
import pytest

from harness.binaries import binary_path, has_option
from harness.processes import Archiver, Gateway, Runner
from harness.rest import bearer, create_session, put_notes
from harness.waiting import wait_for
from harness.ws import WS, run

postgres_harness = pytest.importorskip("harness.postgres", reason="PostgreSQL harness (Tests/harness/postgres.py) not present")
pytestmark = pytest.mark.skipif(not has_option("--postgres", "archiver"), reason="this binary has no archiver")

http = httpx.Client(timeout=15)
ADMIN = "candidate-replay-admin-token"
QUESTION = {"title": "Sum two numbers", "prompt": "Add them.", "tests": [
    {"name": "small", "stdin": "1 2\n", "expected_stdout": "3\n"},
    {"name": "secret", "stdin": "HIDDEN-IN 5 5\n", "expected_stdout": "10\n", "hidden": True}]}
NOTES = "SECRET-NOTE: strong on parsing"
PASTE = {"kind": "paste", "length": 240, "source": "external", "document": "code", "offset": 0, "line": 1}


@pytest.fixture(scope="module")
def gateways(redis, postgres, logdir):
    flags = ["--rate-limits", "off", f"--postgres={postgres.url}", "--archive-hold-hours=1", f"--admin-token={ADMIN}"]
    gws = [Gateway(binary_path(), redis, f"gw-candidate-replay-{i}", flags, logdir) for i in range(2)]
    yield gws
    for gw in gws:
        gw.stop()


@pytest.fixture(scope="module")
def runner(redis, logdir):
    r = Runner(binary_path(), redis, f"runner-candidate-replay-{os.getpid()}", ["--languages", "python", "--concurrency", "2"], logdir)
    yield r
    r.stop()


def timeline(gw, path: str, token: str | None, **params) -> httpx.Response:
    return http.get(f"{gw.url}/api/v1/{path}/timeline", headers=bearer(token), params=params)


def code_at(gw, path: str, token: str | None, revision: int) -> httpx.Response:
    return http.get(f"{gw.url}/api/v1/{path}/code", headers=bearer(token), params={"revision": revision})


def refused(r: httpx.Response, says: str) -> dict:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    assert says in r.json()["detail"], r.text
    return r.json()


def assert_candidates_view(r: httpx.Response, interviewers: dict, test_runs: int):
    """A candidate's page: what the interviewers' has, less what the candidate never saw. (The live
    timeline lists executions; the record's lists test runs too, as `execution` events.)"""
    assert r.status_code == 200, r.text
    body, text = r.json(), r.text
    assert body["document"] == "code", body
    types = [e["type"] for e in body["events"]]
    assert "integrity" not in types and not [t for t in types if t.startswith("notes")], types
    for secret in ("paste", "SECRET-NOTE", "HIDDEN-IN", "integrity"):
        assert secret not in text, (secret, text)
    # The same ops, and the same events but the interviewers' own.
    ops = [(e["revision"], e["ops"]) for e in body["events"] if e["type"] == "op"]
    assert ops == [(e["revision"], e["ops"]) for e in interviewers["events"] if e["type"] == "op"], (ops, interviewers)
    theirs = [e["type"] for e in interviewers["events"] if e["type"] != "integrity"]
    assert types == theirs, (types, theirs)
    # The test run as the candidate saw it live: the hidden case's name and status, nothing of its data.
    runs = [e for e in body["events"] if e["type"] == "execution" and e.get("kind") == "test-run"]
    assert len(runs) == test_runs, body["events"]
    if not runs:
        return body
    assert runs[0]["passed"] == 2 and runs[0]["total"] == 2, runs[0]
    secret = next(c for c in runs[0]["cases"] if c["name"] == "secret")
    assert set(secret) <= {"name", "hidden", "status", "time_ms", "memory_kb"} and secret["status"] == "passed", secret
    return body


def test_a_candidate_replays_the_code_after_the_end_in_the_candidates_view(gateways, redis, postgres, runner, logdir):
    a, b = gateways
    created = create_session(a, code="", host_name="Ada", initial_language="python")
    sid, host = created["id"], created["host_token"]
    live = f"sessions/{sid}"
    interviewer = http.post(f"{b.url}/api/v1/sessions/{sid}/users", json={"name": "Ivy", "role": "interviewer"},
                            headers=bearer(host)).json()["participant_token"]
    assert http.put(f"{a.url}/api/v1/sessions/{sid}/question", json=QUESTION, headers=bearer(host)).status_code == 200

    async def candidate_edits_and_pastes():
        c = await WS.open(b, sid)
        await c.join(name="Cat")
        await c.send("op", {"revision": 0, "ops": ["a, b = map(int, input().split()[-2:])\nprint(a + b)\n"]})
        await c.expect("ack", 5)
        await c.send("activity", PASTE)
        await c.ping()
        await c.close()
        return c.welcome["participant_token"]

    candidate = run(candidate_edits_and_pastes())
    wait_for(lambda: int(redis.command("LLEN", f"ci:{{{sid}}}:activity").lstrip(":")) == 1, 5, message="the signal stored")
    assert put_notes(a, sid, interviewer, NOTES).status_code == 200
    wait_for(lambda: "python" in [l.get("id") for l in http.get(f"{a.url}/api/v1/languages").json().get("languages", [])
                                  if l.get("available")], 60, message="the runner offers python")
    started = http.post(f"{a.url}/api/v1/sessions/{sid}/test-runs", json={}, headers=bearer(candidate))
    assert started.status_code in (200, 201, 202), started.text

    def finished():
        body = http.get(f"{a.url}/api/v1/sessions/{sid}/test-runs/{started.json()['id']}", headers=bearer(host)).json()
        return body if body.get("state") == "done" else None
    assert wait_for(finished, 60, message="the test run finished")["passed"] == 2

    # Live: the candidate is refused on both gateways; the interviewers read everything.
    for gw in (a, b):
        refused(timeline(gw, live, candidate), "ended")
        refused(code_at(gw, live, candidate, 1), "ended")
    host_live = timeline(a, live, host).json()
    assert [e["kind"] for e in host_live["events"] if e["type"] == "integrity"] == ["paste"], host_live

    r = http.patch(f"{b.url}/api/v1/sessions/{sid}", json={"status": "completed"}, headers=bearer(host))
    assert r.status_code == 200, r.text

    # Ended, keys still in Redis: the candidate's view on both gateways; never the notes.
    host_ended = timeline(a, live, host).json()
    assert "integrity" in [e["type"] for e in host_ended["events"]], "the interviewers' view is unchanged"
    for gw in (a, b):
        mine = assert_candidates_view(timeline(gw, live, candidate), host_ended, test_runs=0)
        assert {p["name"] for p in mine["participants"]} >= {"Ada", "Ivy", "Cat"}, mine["participants"]
        notes = refused(timeline(gw, live, candidate, document="notes"), "notes")
        assert "candidate" in notes["detail"], notes
        assert code_at(gw, live, candidate, 1).json()["code"] == code_at(gw, live, host, 1).json()["code"]
    assert timeline(a, live, interviewer, document="notes").status_code == 200

    # Archived, keys released: the same from the record.
    archiver = Archiver(binary_path(), redis, postgres.url, f"archiver-candidate-replay-{os.getpid()}", logdir)
    try:
        wait_for(lambda: http.get(f"{a.url}/api/v1/interviews/{sid}", headers=bearer(host)).status_code == 200, 30,
                 message="the record stored")
        wait_for(lambda: redis.command("EXISTS", f"ci:{{{sid}}}:session") == ":0", 15, message="the session's keys released")
    finally:
        archiver.stop()
    assert timeline(b, live, candidate).status_code == 410
    record = f"interviews/{sid}"
    host_record = timeline(b, record, host).json()
    assert "integrity" in [e["type"] for e in host_record["events"]], host_record
    for gw in (a, b):
        assert_candidates_view(timeline(gw, record, candidate), host_record, test_runs=1)
        refused(timeline(gw, record, candidate, document="notes"), "notes")
        assert code_at(gw, record, candidate, 1).json()["code"] == code_at(gw, record, host, 1).json()["code"]
