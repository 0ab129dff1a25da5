"""Scorecards (issue 22, part 3): one per interviewer per session, private to its author until
submitted; after submitting, an interviewer sees the others' submitted ones; never a candidate.

Two interviewers (the creator, Ada, on gateway 0 and Zed on gateway 1), the host token and a
candidate; REST only (GET/PUT /sessions/{id}/scorecards/mine, GET /sessions/{id}/scorecards).
The archive part runs a PostgreSQL and an archiver of its own, as test_archive does.
"""

from __future__ import annotations

import os
import tempfile

import httpx
import pytest

from harness.binaries import binary_path, has_option
from harness.processes import Archiver, Gateway, RedisServer
from harness.rest import bearer, create_session
from harness.waiting import wait_for

http = httpx.Client(timeout=10)
ADMIN = "scorecards-admin-token"


def mine(gw, sid, token):
    return http.get(f"{gw.url}/api/v1/sessions/{sid}/scorecards/mine", headers=bearer(token))


def put(gw, sid, token, body=None, **kw):
    return http.put(f"{gw.url}/api/v1/sessions/{sid}/scorecards/mine", json=body if body is not None else kw, headers=bearer(token))


def listing(gw, sid, token):
    return http.get(f"{gw.url}/api/v1/sessions/{sid}/scorecards", headers=bearer(token))


def ok(r):
    assert r.status_code == 200, r.text
    return r.json()


def problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body.get("detail"), body
    return body


def authors(listed):
    return sorted(card["author_id"] for card in listed["scorecards"])


def room(cluster):
    created = create_session(cluster[0], host_name="Ada", code="x = 1\n")
    sid, host = created["id"], created["host_token"]
    ada = created["participant_id"], created["participant_token"]
    r = http.post(f"{cluster[1].url}/api/v1/sessions/{sid}/users", json={"name": "Zed", "role": "interviewer"},
                  headers=bearer(host))
    assert r.status_code == 201, r.text
    zed = r.json()["participant"]["id"], r.json()["participant_token"]
    r = http.post(f"{cluster[0].url}/api/v1/sessions/{sid}/users", json={"name": "Cat", "role": "candidate"})
    assert r.status_code == 201, r.text
    cat = r.json()["participant_token"]
    return sid, host, ada, zed, cat


def test_who_sees_what_before_and_after_each_submission(cluster, start_gateway):
    a, b = cluster[0], cluster[1]
    sid, host, (ada_id, ada), (zed_id, zed), cat = room(cluster)

    # Nobody has written: the standard rubric and no scorecard.
    got = ok(mine(a, sid, ada))
    assert got["scorecard"] is None
    assert [c["id"] for c in got["rubric"]] == ["problem_solving", "code_quality", "communication", "testing"]
    assert [s["value"] for s in got["scale"]] == [1, 2, 3, 4]

    # A candidate, no token, another session's token: refused, whatever they send.
    for r in (mine(a, sid, cat), listing(b, sid, cat), put(a, sid, cat, recommendation="yes", submit=True),
              put(a, sid, cat, recommendation="maybe")):
        problem(r, 403)
    problem(mine(a, sid, None), 401)
    problem(put(a, sid, None, text="x"), 401)

    # Ada's draft is hers alone.
    draft = ok(put(a, sid, ada, recommendation="yes", ratings={"testing": 3}, text="Ada's private draft"))["scorecard"]
    assert draft["status"] == "draft" and draft["author_id"] == ada_id and draft["ratings"] == {"testing": 3}
    assert ok(mine(b, sid, ada))["scorecard"]["text"] == "Ada's private draft", "her draft on the other gateway"
    for token in (zed, host):
        seen = ok(listing(b, sid, token))
        assert seen["scorecards"] == [] and seen["submitted"] == [] and not seen["unlocked"], seen
        assert "Ada's private draft" not in listing(b, sid, token).text

    # Ada submits: Zed (not submitted) learns that she did, not what.
    submitted = ok(put(a, sid, ada, recommendation="strong_yes", ratings={"testing": 4, "communication": 3},
                       text="Ada's verdict", submit=True))["scorecard"]
    assert submitted["status"] == "submitted" and submitted["submitted_at"] >= submitted["created_at"]
    seen = ok(listing(b, sid, zed))
    assert seen["scorecards"] == [] and [s["author_id"] for s in seen["submitted"]] == [ada_id] and not seen["unlocked"]
    assert "Ada's verdict" not in listing(b, sid, zed).text and "strong_yes" not in listing(b, sid, zed).text

    # Zed's draft: he sees his own only; Ada (submitted) still not his draft.
    ok(put(b, sid, zed, recommendation="no", text="Zed's private draft"))
    seen = ok(listing(b, sid, zed))
    assert authors(seen) == [zed_id] and not seen["unlocked"]
    seen = ok(listing(a, sid, ada))
    assert authors(seen) == [ada_id] and seen["unlocked"], "Ada sees submitted ones, and Zed has none"
    assert "Zed's private draft" not in listing(a, sid, ada).text

    # Zed submits: both see both.
    ok(put(b, sid, zed, status="submitted", recommendation="no", text="Zed's verdict"))
    for gw, token in ((a, ada), (b, zed)):
        seen = ok(listing(gw, sid, token))
        assert authors(seen) == sorted([ada_id, zed_id]) and seen["unlocked"], seen
    # The host token is an interviewer of its own: nothing seen before it submits.
    seen = ok(listing(a, sid, host))
    assert seen["scorecards"] == [] and len(seen["submitted"]) == 2
    ok(put(a, sid, host, recommendation="yes", submit=True))
    assert len(ok(listing(a, sid, host))["scorecards"]) == 3

    # A submitted scorecard stays submitted: back to draft is refused, an amendment is counted.
    problem(put(a, sid, ada, recommendation="no", text="undo"), 409)
    amended = ok(put(a, sid, ada, recommendation="yes", text="Ada, amended", submit=True))["scorecard"]
    assert amended["amendments"] == 1 and amended["status"] == "submitted" and amended["submitted_at"] == submitted["submitted_at"]

    # The admin token sees every submitted one.
    admin_gw = start_gateway(f"--admin-token={ADMIN}")
    assert len(ok(listing(admin_gw, sid, ADMIN))["scorecards"]) == 3
    problem(listing(admin_gw, sid, "not-the-admin-token"), 403)

    # Nothing of them reached what a candidate reads.
    history = http.get(f"{a.url}/api/v1/sessions/{sid}/history", headers=bearer(cat))
    assert history.status_code == 200, history.text
    assert "scorecard" not in history.text and "verdict" not in history.text, history.text


def test_invalid_bodies_are_refused_and_change_nothing(cluster):
    a = cluster[0]
    sid, host, (ada_id, ada), _, _ = room(cluster)
    ok(put(a, sid, ada, recommendation="yes", ratings={"testing": 2}, text="before"))
    before = ok(mine(a, sid, ada))["scorecard"]
    cases = [
        ({"ratings": {"speed": 3}}, 422, "ratings.speed"),
        ({"ratings": {"testing": 5}}, 422, "ratings.testing"),
        ({"ratings": {"testing": 0}}, 422, "ratings.testing"),
        ({"ratings": {"testing": 2.5}}, 422, "ratings.testing"),
        ({"ratings": {"testing": "3"}}, 422, "ratings.testing"),
        ({"ratings": [3]}, 422, "ratings"),
        ({"recommendation": "maybe"}, 422, "recommendation"),
        ({"recommendation": 3}, 422, "recommendation"),
        ({"submit": True}, 422, "recommendation"),
        ({"submit": "yes", "recommendation": "yes"}, 422, "submit"),
        ({"status": "final", "recommendation": "yes"}, 422, "status"),
        ({"text": ["a"]}, 422, "text"),
        ({"text": "x" * 10_001}, 413, "text"),
        ({"verdict": "hire"}, 422, "verdict"),
    ]
    for body, status, field in cases:
        got = problem(put(a, sid, ada, body), status)
        assert got.get("field") == field, (body, got)
    problem(http.put(f"{a.url}/api/v1/sessions/{sid}/scorecards/mine", content=b"{not json", headers={**bearer(ada), "Content-Type": "application/json"}), 400)
    problem(http.put(f"{a.url}/api/v1/sessions/{sid}/scorecards/mine", content=b"[]", headers={**bearer(ada), "Content-Type": "application/json"}), 400)
    problem(http.put(f"{a.url}/api/v1/sessions/{sid}/scorecards/mine", content=b"{}", headers={**bearer(ada), "Content-Type": "text/plain"}), 415)
    assert ok(mine(a, sid, ada))["scorecard"] == before, "nothing changed"


def test_the_question_rubric_is_used_and_scorecards_work_after_the_end(cluster):
    a, b = cluster[0], cluster[1]
    sid, host, (ada_id, ada), (zed_id, zed), cat = room(cluster)
    rubric = [{"id": "algo", "name": "Algorithms", "description": "Picks a fitting algorithm."},
              {"id": "design", "name": "Design", "description": ""}]
    r = http.put(f"{a.url}/api/v1/sessions/{sid}/question", json={"title": "Two sum", "rubric": rubric}, headers=bearer(host))
    assert r.status_code == 200, r.text
    assert ok(mine(b, sid, zed))["rubric"] == rubric
    cand_q = http.get(f"{a.url}/api/v1/sessions/{sid}/question", headers=bearer(cat))
    assert cand_q.status_code == 200 and "rubric" not in cand_q.json(), cand_q.text
    problem(put(a, sid, ada, ratings={"testing": 3}), 422)
    bad = http.put(f"{a.url}/api/v1/sessions/{sid}/question", json={"title": "T", "rubric": [{"id": "Bad Id", "name": "x"}]},
                   headers=bearer(host))
    problem(bad, 422)

    # End the interview; scorecards are written after it.
    r = http.patch(f"{a.url}/api/v1/sessions/{sid}", json={"status": "completed"}, headers=bearer(host))
    assert r.status_code == 200, r.text
    ok(put(a, sid, ada, recommendation="strong_no", ratings={"algo": 1, "design": 2}, submit=True))
    ok(put(b, sid, zed, recommendation="yes", ratings={"algo": 4}, submit=True))
    seen = ok(listing(b, sid, zed))
    assert authors(seen) == sorted([ada_id, zed_id])
    problem(listing(a, sid, cat), 403)


# ---------------------------------------------------------------- after archival (PostgreSQL)

postgres_harness = pytest.importorskip("harness.postgres", reason="PostgreSQL harness not present")
archive_only = pytest.mark.skipif(not has_option("--postgres", "archiver"), reason="this binary has no archiver")


@pytest.fixture(scope="module")
def archive_stack():
    logdir = tempfile.mkdtemp(prefix="ci-scorecards-logs-")
    pg = postgres_harness.PostgresServer(logdir)
    redis = RedisServer()
    # --no-webhooks: these gateways would refuse the test receiver's loopback address (no
    # --webhook-allow-private) and, claiming a delivery before the allowed worker, push it down the
    # retry schedule (1 s, 5 s, 30 s, 2 min) past the webhook test's wait.
    flags = ["--rate-limits", "off", f"--postgres={pg.url}", "--archive-hold-hours=1", f"--admin-token={ADMIN}", "--no-webhooks"]
    gws = [Gateway(binary_path(), redis, f"gw-scorecards-{i}", flags, logdir) for i in range(2)]
    yield gws, redis, pg, logdir
    for gw in gws:
        gw.stop()
    redis.stop()
    pg.stop()


@archive_only
def test_scorecards_are_archived_into_the_record_and_written_there_after_archival(archive_stack):
    gws, redis, pg, logdir = archive_stack
    sid, host, (ada_id, ada), (zed_id, zed), cat = room(gws)
    ok(put(gws[0], sid, ada, recommendation="yes", ratings={"testing": 3}, text="Ada archived", submit=True))
    ok(put(gws[1], sid, zed, recommendation="no", text="Zed's draft, never shown"))
    r = http.patch(f"{gws[0].url}/api/v1/sessions/{sid}", json={"status": "completed"}, headers=bearer(host))
    assert r.status_code == 200, r.text
    # Written after the end, before the archiver runs: kept.
    ok(put(gws[1], sid, zed, recommendation="strong_yes", text="Zed archived", submit=True))
    archiver = Archiver(binary_path(), redis, pg.url, f"archiver-scorecards-{os.getpid()}", logdir)
    try:
        def stored():
            return http.get(f"{gws[0].url}/api/v1/interviews/{sid}", headers=bearer(host)).status_code == 200
        wait_for(stored, 30, message="the interview stored in PostgreSQL")
    finally:
        archiver.stop()
    record = ok(http.get(f"{gws[1].url}/api/v1/interviews/{sid}", headers=bearer(ada)))
    cards = record["extras"]["scorecards"]
    assert sorted(c["author_id"] for c in cards) == sorted([ada_id, zed_id])
    assert {c["text"] for c in cards} == {"Ada archived", "Zed archived"}
    candidate = http.get(f"{gws[1].url}/api/v1/interviews/{sid}", headers=bearer(cat))
    assert candidate.status_code == 200, candidate.text
    assert "scorecards" not in candidate.json().get("extras", {}) and "archived" not in candidate.text
    # The room is gone; the same routes now read and write the record, under the same rules.
    seen = ok(listing(gws[0], sid, ada))
    assert authors(seen) == sorted([ada_id, zed_id]) and seen["unlocked"], seen
    problem(listing(gws[0], sid, cat), 403)
    problem(put(gws[0], sid, cat, recommendation="yes", submit=True), 403)
    problem(mine(gws[0], sid, None), 401)
    problem(put(gws[0], sid, ada, recommendation="no"), 409)  # submitted: no way back to draft
    problem(put(gws[0], sid, ada, ratings={"speed": 2}, recommendation="no", submit=True), 422)
    amended = ok(put(gws[1], sid, ada, recommendation="no", ratings={"testing": 2}, text="Ada amended after archival",
                     submit=True))["scorecard"]
    assert amended["amendments"] == 1 and amended["status"] == "submitted", amended
    # The host writes a draft after archival: theirs alone; then submits and sees both others.
    ok(put(gws[0], sid, host, recommendation="yes", text="Host draft after archival"))
    assert "Host draft" not in listing(gws[1], sid, zed).text
    seen = ok(listing(gws[0], sid, host))
    assert authors(seen) == ["host"] and not seen["unlocked"]
    ok(put(gws[0], sid, host, recommendation="yes", text="Host verdict", submit=True))
    assert len(ok(listing(gws[1], sid, host))["scorecards"]) == 3
    assert len(ok(listing(gws[1], sid, ADMIN))["scorecards"]) == 3
    problem(put(gws[1], sid, ADMIN, recommendation="yes"), 403)
    record = ok(http.get(f"{gws[0].url}/api/v1/interviews/{sid}", headers=bearer(zed)))
    texts = {c["author_id"]: c["text"] for c in record["extras"]["scorecards"]}
    assert texts == {ada_id: "Ada amended after archival", zed_id: "Zed archived", "host": "Host verdict"}, texts
    assert "scorecards" not in http.get(f"{gws[0].url}/api/v1/interviews/{sid}", headers=bearer(cat)).json().get("extras", {})


# ---------------------------------------------------------------- the scorecard.submitted webhook

webhooks_only = pytest.mark.skipif(not has_option("--webhook-allow-private", "archiver"), reason="this binary has no webhooks")


class Receiver:
    """A loopback HTTP endpoint that answers 200 and keeps every body."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                receiver.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def events(self) -> list[dict]:
        import json
        return [json.loads(b) for b in list(self.bodies)]

    def stop(self):
        self.server.shutdown()


@archive_only
@webhooks_only
def test_a_submission_emits_scorecard_submitted_once_and_an_amendment_none(archive_stack):
    _, redis, pg, logdir = archive_stack
    flags = ["--rate-limits", "off", f"--postgres={pg.url}", "--archive-hold-hours=1", f"--admin-token={ADMIN}",
             "--webhook-allow-private"]
    gw = Gateway(binary_path(), redis, "gw-scorecards-webhooks", flags, logdir)
    receiver = Receiver()
    archiver = None
    try:
        r = http.post(f"{gw.url}/api/v1/webhooks", json={"url": receiver.url, "events": ["scorecard.submitted"]}, headers=bearer(ADMIN))
        assert r.status_code == 201, r.text
        hook = r.json()["id"]
        sid, host, (ada_id, ada), (zed_id, zed), cat = room([gw, gw])
        ok(put(gw, sid, ada, recommendation="yes", text="draft"))
        ok(put(gw, sid, ada, recommendation="strong_yes", text="not in the event", submit=True))
        ok(put(gw, sid, ada, recommendation="yes", submit=True))  # an amendment: no second event
        ok(put(gw, sid, zed, recommendation="no", submit=True))
        archiver = Archiver(binary_path(), redis, pg.url, f"archiver-scorecards-hooks-{os.getpid()}", logdir, "--webhook-allow-private")

        def submitted():
            # At-least-once: a redelivery carries the same event, so the set counts each once.
            return sorted({(e["data"]["author_id"], e["data"]["recommendation"]) for e in receiver.events()
                           if e["type"] == "scorecard.submitted" and e["data"]["session_id"] == sid})
        wait_for(lambda: len(submitted()) >= 2, 60, message="two scorecard.submitted deliveries")
        assert submitted() == sorted([(ada_id, "strong_yes"), (zed_id, "no")]), submitted()
        assert "not in the event" not in b"".join(receiver.bodies).decode()
        http.delete(f"{gw.url}/api/v1/webhooks/{hook}", headers=bearer(ADMIN))
    finally:
        if archiver:
            archiver.stop()
        receiver.stop()
        gw.stop()
