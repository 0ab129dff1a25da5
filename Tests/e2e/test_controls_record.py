"""Room controls in the interview record (issue 22, part 2): the controls' changes and the end made
through PATCH /sessions/{id}/controls are archived with the session (history events in the record,
the live timeline's as the record's), and the ended session takes no write between the archiver's
read and its release. Real processes: a redis-server and a PostgreSQL of this module's own,
two gateways with --postgres, an archiver.
"""

from __future__ import annotations

import os

import httpx
import pytest

from harness.binaries import binary_path, has_option
from harness.processes import Archiver, Gateway
from harness.rest import bearer, create_session
from harness.waiting import wait_for

postgres_harness = pytest.importorskip("harness.postgres", reason="PostgreSQL harness (Tests/harness/postgres.py) not present")

pytestmark = pytest.mark.skipif(not has_option("--postgres", "archiver"), reason="this binary has no archiver")

http = httpx.Client(timeout=15)


@pytest.fixture(scope="module")
def gateways(redis, postgres, logdir):
    flags = ["--rate-limits", "off", f"--postgres={postgres.url}", "--archive-hold-hours=1"]
    gws = [Gateway(binary_path(), redis, f"gw-controls-{i}", flags, logdir) for i in range(2)]
    yield gws
    for gw in gws:
        gw.stop()


def stored(postgres, sid: str) -> bool:
    return [list(r) for r in postgres.psql(f"SELECT count(*) FROM interviews WHERE id = '{sid}'")] == [["1"]]


def test_controls_and_the_end_are_in_the_archived_record(gateways, redis, postgres, logdir):
    a, b = gateways
    created = create_session(a, code="x = 1\n", host_name="Ada")
    sid, host, ada = created["id"], created["host_token"], created["participant_token"]
    joined = http.post(f"{b.url}/api/v1/sessions/{sid}/users", json={"name": "Bob", "role": "candidate"})
    bob = joined.json()["participant_token"]
    for gw, body in ((a, {"editor_locked": True}), (b, {"runs_held": True, "question_hidden": True}), (a, {"editor_locked": False})):
        r = http.patch(f"{gw.url}/api/v1/sessions/{sid}/controls", json=body, headers=bearer(ada))
        assert r.status_code == 200, r.text
    r = http.post(f"{b.url}/api/v1/sessions/{sid}/code", json={"code": "x = 2\n"}, headers=bearer(bob))
    assert r.status_code == 200, r.text
    r = http.patch(f"{b.url}/api/v1/sessions/{sid}/controls", json={"end": True}, headers=bearer(ada))
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    # Ended: nothing more is written, so the record read is the release's (no CONFLICT retry).
    r = http.patch(f"{a.url}/api/v1/sessions/{sid}/controls", json={"editor_locked": True}, headers=bearer(host))
    assert r.status_code == 410, r.text

    archiver = Archiver(binary_path(), redis, postgres.url, f"archiver-controls-{os.getpid()}", logdir)
    try:
        wait_for(lambda: stored(postgres, sid), 30, message="the ended session stored in PostgreSQL")
        wait_for(lambda: int(redis.command("EXISTS", f"ci:{{{sid}}}:session").lstrip(":")) == 0, 15,
                 message="the session's keys released")
    finally:
        archiver.stop()
    for token, role in ((host, "interviewer"), (bob, "candidate")):
        r = http.get(f"{a.url}/api/v1/interviews/{sid}", headers=bearer(token))
        assert r.status_code == 200, (role, r.text)
        events = [e for e in r.json()["history"] if e["type"] == "controls_changed"]
        assert [e["changed"] for e in events] == [["editor_locked"], ["runs_held", "question_hidden"], ["editor_locked"]], (role, events)
        assert all(e["name"] == "Ada" for e in events), events
        assert any(e["type"] == "ended" for e in r.json()["history"]), role
    r = http.get(f"{b.url}/api/v1/interviews/{sid}/timeline", headers=bearer(host), params={"after_revision": 0})
    assert r.status_code == 200, r.text
    assert [e["changed"] for e in r.json()["events"] if e["type"] == "controls_changed"] == [
        ["editor_locked"], ["runs_held", "question_hidden"], ["editor_locked"]]
