"""The interview record's routes (/api/v1/interviews) on a gateway with `--postgres`, against a real
PostgreSQL started here (initdb into a temporary directory, a free loopback port).

The archiver (a later branch) writes records from ended sessions; these tests put one in with SQL
(the schema is the gateway's own: it migrates at start; PostgreSQL is harness.postgres's), then read it by each token class, page its
timeline, rebuild its code at every revision, list and search as the admin, erase it, and check the
problems: 400 for malformed input, 401/403 for tokens, 404, and 503 with PostgreSQL stopped or not
configured. A live session that ended points to its record (410 with a Link).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time

import httpx
import pytest

from harness.postgres import PostgresServer
from harness.rest import create_session
from harness.waiting import wait_for

ADMIN = "admin-token-for-records"
HOST, INTERVIEWER, CANDIDATE = "host-token", "interviewer-token", "candidate-token"
SID = "recordRecordRecord0001"
http = httpx.Client(timeout=10)


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Postgres:
    """The harness's PostgreSQL (harness.postgres) for a whole module, with psql answering text."""

    def __init__(self):
        self.logdir = tempfile.mkdtemp(prefix="ci-records-logs-")
        self.server = PostgresServer(self.logdir)
        self.url = self.server.url

    def psql(self, sql: str) -> str:
        rows = self.server.psql(sql)
        return "\n".join("|".join("" if v is None else v for v in row) for row in rows)

    def stop(self):
        """A fast shutdown; the data stays for start()."""
        self.server.shutdown()

    def start(self):
        self.server.start()

    def remove(self):
        self.server.stop()
        shutil.rmtree(self.logdir, ignore_errors=True)


def q(value) -> str:
    """A SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


QUESTION = {"title": "Reverse a string", "prompt": "Reverse it.", "starter_code": {"python": "pass"},
            "tests": [{"name": "shown", "stdin": "ab", "expected_stdout": "ba", "hidden": False},
                      {"name": "secret", "stdin": "hidden-input", "expected_stdout": "tupni", "hidden": True}]}
# "" -> "a" -> "ab" -> "abc" -> "abcd" -> "abd" (a delete), one op per revision.
OPS = [["a"], [1, "b"], [2, "c"], [3, "d"], [2, -1, 1]]
TEXTS = ["", "a", "ab", "abc", "abcd", "abd"]


def insert_record(pg: Postgres, sid: str = SID, name: str = "Backend pair", ended_at: int = 1_700_000_000_000):
    """One finished interview as the archiver writes it (see Sources/Records/RecordStatements.swift)."""
    cases = [{"name": "shown", "hidden": False}, {"name": "secret", "hidden": True}]
    result = {"status": "failed", "cases": [
        {"name": "shown", "hidden": False, "status": "passed", "stdin": "ab", "expected_stdout": "ba", "stdout": "ba"},
        {"name": "secret", "hidden": True, "status": "failed", "stdin": "hidden-input", "expected_stdout": "tupni",
         "stdout": "nope"}]}
    sql = f"""
    BEGIN;
    INSERT INTO interviews (id, name, language, created_at, ended_at, archived_at, ending, host_token_hash, code, code_revision,
        code_initial, notes, notes_revision, notes_initial, question, question_title)
    VALUES ({q(sid)}, {q(name)}, 'python', 1000, {ended_at}, {ended_at + 1}, 'completed', {q(sha(HOST))}, 'abd', 5, '',
        'strong hire; secret notes', 1, '', {q(QUESTION)}, {q(QUESTION['title'])});
    INSERT INTO interview_participants VALUES
        ({q(sid)}, 'u_00000000000000a1', 'Ivy Interviewer', 'interviewer', '#f00', 1100, NULL, {q(sha(INTERVIEWER))}, 0),
        ({q(sid)}, 'u_00000000000000c1', 'Cal Candidate', 'candidate', '#0f0', 1200, 9000, {q(sha(CANDIDATE))}, 1);
    INSERT INTO interview_ops VALUES
        {", ".join(f"({q(sid)}, 'code', {i + 1}, 'u_00000000000000c1', {2000 + i * 100}, {q(op)})" for i, op in enumerate(OPS))},
        ({q(sid)}, 'notes', 1, 'u_00000000000000a1', 2500, {q(['strong hire; secret notes'])});
    INSERT INTO interview_history VALUES
        ({q(sid)}, 0, {q({"type": "created", "at": 1000, "language": "python"})}),
        ({q(sid)}, 1, {q({"type": "joined", "at": 1100, "user_id": "u_00000000000000a1", "name": "Ivy Interviewer"})}),
        ({q(sid)}, 2, {q({"type": "ended", "at": ended_at})});
    INSERT INTO interview_runs VALUES
        ({q(sid)}, 't_1', 'test-run', 2150, {q({"kind": "test-run", "state": "done", "language": "python", "created_at": "2150",
            "cases": json.dumps(cases), "result": json.dumps(result)})}, 0);
    INSERT INTO interview_extras VALUES ({q(sid)}, 'scorecards', 0, {q({"score": 4, "by": "u_00000000000000a1"})});
    COMMIT;
    """
    pg.psql(sql)


@pytest.fixture(scope="module")
def pg():
    server = Postgres()
    yield server
    server.remove()


@pytest.fixture
def archive_gateway(pg, start_gateway):
    gw = start_gateway(f"--postgres={pg.url}", f"--admin-token={ADMIN}")
    # It migrates at start: the schema is there once the gateway says so.
    wait_for(lambda: pg.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'") == "1", 15,
             message="the gateway migrated")
    wait_for(lambda: pg.psql("SELECT count(*) FROM schema_migrations") == "1", 15, message="migration 1 applied")
    pg.psql("DELETE FROM interviews")
    insert_record(pg)
    return gw


def get(gw, path: str, token: str | None = None, **params) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get(f"{gw.url}/api/v1/{path}", params=params, headers=headers)


def problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    return r.json()


def test_each_token_class_reads_its_view(archive_gateway):
    gw = archive_gateway
    for token in (HOST, INTERVIEWER, ADMIN):
        r = get(gw, f"interviews/{SID}", token)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["view"] == "interviewer"
        assert body["notes"]["text"] == "strong hire; secret notes"
        assert [t["name"] for t in body["question"]["tests"]] == ["shown", "secret"]
        assert body["code"] == {"text": "abd", "revision": 5}
        assert "scorecards" in body["extras"]
        assert body["runs"][0]["cases"][1]["stdin"] == "hidden-input"
        assert [p["name"] for p in body["participants"]] == ["Ivy Interviewer", "Cal Candidate"]
    r = get(gw, f"interviews/{SID}", CANDIDATE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["view"] == "candidate"
    assert "notes" not in body
    assert "secret notes" not in r.text and "hidden-input" not in r.text and "tupni" not in r.text
    assert [t["name"] for t in body["question"]["tests"]] == ["shown"]
    assert body["extras"] == {}
    # No token: 401 with the challenge; a token the interview does not know: 403.
    r = get(gw, f"interviews/{SID}")
    problem(r, 401)
    assert r.headers.get("www-authenticate") == "Bearer"
    problem(get(gw, f"interviews/{SID}", "someone-else"), 403)
    problem(get(gw, "interviews/unknownunknownunknown0", HOST), 404)


def test_timeline_and_code_replay_the_interview(archive_gateway):
    gw = archive_gateway
    # Every page, one op at a time: every revision once, in order, events among them.
    after, revisions, types = 0, [], []
    while after is not None:
        r = get(gw, f"interviews/{SID}/timeline", INTERVIEWER, after_revision=after, limit=1)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["revision"] == 5 and page["document"] == "code"
        revisions += [e["revision"] for e in page["events"] if e["type"] == "op"]
        types += [e["type"] for e in page["events"] if e["type"] != "op"]
        after = page["next_after_revision"]
    assert revisions == [1, 2, 3, 4, 5]
    assert types[:2] == ["created", "joined"] and types[-1] == "ended" and "execution" in types
    notes = get(gw, f"interviews/{SID}/timeline", ADMIN, document="notes").json()
    assert [e["type"] for e in notes["events"]] == ["op"]
    # The code at every revision, and the final code without one.
    for revision, text in enumerate(TEXTS):
        r = get(gw, f"interviews/{SID}/code", HOST, revision=revision)
        assert r.status_code == 200, r.text
        assert r.json()["code"] == text and r.json()["revision"] == revision
    assert get(gw, f"interviews/{SID}/code", HOST).json()["code"] == "abd"
    # Candidates replay the code in their view (the code at a revision too), never the notes;
    # past the end is invalid input.
    assert get(gw, f"interviews/{SID}/timeline", CANDIDATE).status_code == 200
    assert problem(get(gw, f"interviews/{SID}/timeline", CANDIDATE, document="notes"), 403)["field"] == "document"
    assert get(gw, f"interviews/{SID}/code", CANDIDATE, revision=1).json()["code"] == TEXTS[1]
    assert get(gw, f"interviews/{SID}/code", CANDIDATE).json()["code"] == "abd", "the final code is in their record too"
    assert problem(get(gw, f"interviews/{SID}/code", HOST, revision=6), 400)["field"] == "revision"


def test_malformed_input_is_a_400_naming_it(archive_gateway):
    gw = archive_gateway
    assert problem(get(gw, "interviews/short", HOST), 400)["field"] == "id"
    assert problem(get(gw, "interviews/has%20a%20space0000000000", HOST), 400)["field"] == "id"
    for params, field in (({"after_revision": "-1"}, "after_revision"), ({"after_revision": "x"}, "after_revision"),
                          ({"limit": "0"}, "limit"), ({"limit": "5001"}, "limit"), ({"document": "tests"}, "document")):
        assert problem(get(gw, f"interviews/{SID}/timeline", HOST, **params), 400)["field"] == field, params
    assert problem(get(gw, f"interviews/{SID}/code", HOST, revision="abc"), 400)["field"] == "revision"
    for params, field in (({"cursor": "not-a-cursor"}, "cursor"), ({"from": "yesterday"}, "from"), ({"to": "-5"}, "to"),
                          ({"limit": "201"}, "limit"), ({"from": "10", "to": "5"}, "from"), ({"q": "x" * 201}, "q")):
        assert problem(get(gw, "interviews", ADMIN, **params), 400)["field"] == field, params


def test_the_admin_lists_and_searches(archive_gateway, pg):
    gw = archive_gateway
    insert_record(pg, sid="recordRecordRecord0002", name="50% off_sale", ended_at=1_700_000_100_000)
    insert_record(pg, sid="recordRecordRecord0003", name="Frontend", ended_at=1_700_000_200_000)
    problem(get(gw, "interviews"), 401)
    problem(get(gw, "interviews", HOST), 403)
    ids, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = get(gw, "interviews", ADMIN, **params).json()
        ids += [i["id"] for i in page["interviews"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids == ["recordRecordRecord0003", "recordRecordRecord0002", SID]

    def search(text):
        return [i["id"] for i in get(gw, "interviews", ADMIN, q=text).json()["interviews"]]
    assert search("FRONTEND") == ["recordRecordRecord0003"]
    assert search("%") == ["recordRecordRecord0002"]
    assert search("_") == ["recordRecordRecord0002"]
    assert len(search("cal cand")) == 3  # a participant's name
    assert len(search("reverse A")) == 3  # the question's title
    assert search("nobody") == []
    first = get(gw, "interviews", ADMIN, limit=1).json()["interviews"][0]
    assert first["participants"][0] == {"id": "u_00000000000000a1", "name": "Ivy Interviewer", "role": "interviewer"}
    assert get(gw, "interviews", ADMIN, **{"from": "1700000100000", "to": "1700000200000"}).json()["interviews"][0]["id"] \
        == "recordRecordRecord0002"


def test_erasure_by_the_host_leaves_nothing(archive_gateway, pg):
    gw = archive_gateway
    delete = lambda token: http.delete(f"{gw.url}/api/v1/interviews/{SID}",
                                       headers={"Authorization": f"Bearer {token}"} if token else {})
    problem(delete(None), 401)
    problem(delete(CANDIDATE), 403)
    problem(delete(INTERVIEWER), 403)
    r = delete(HOST)
    assert r.status_code == 204, r.text
    problem(get(gw, f"interviews/{SID}", HOST), 404)
    problem(delete(HOST), 404)
    for table, column in (("interviews", "id"), ("interview_participants", "interview_id"), ("interview_ops", "interview_id"),
                          ("interview_history", "interview_id"), ("interview_runs", "interview_id"),
                          ("interview_extras", "interview_id")):
        assert pg.psql(f"SELECT count(*) FROM {table} WHERE {column} = '{SID}'") == "0", table
    # The admin erases too.
    insert_record(pg)
    assert delete(ADMIN).status_code == 204


def test_a_gone_session_points_to_its_record(archive_gateway, start_gateway):
    gw = archive_gateway
    created = create_session(gw)
    sid = created["id"] if "id" in created else created["session_id"]
    r = http.delete(f"{gw.url}/api/v1/sessions/{sid}", headers={"Authorization": f"Bearer {created['host_token']}"})
    assert r.status_code == 204, r.text
    body = problem(get(gw, f"sessions/{sid}"), 410)
    assert body["archive"] == f"/api/v1/interviews/{sid}"
    assert get(gw, f"sessions/{sid}").headers["link"] == f'</api/v1/interviews/{sid}>; rel="archive"'
    # Without --postgres: no pointer, and the archive's routes say it is not configured.
    plain = start_gateway(f"--admin-token={ADMIN}")
    assert "archive" not in problem(get(plain, f"sessions/{sid}"), 410)
    assert "not configured" in problem(get(plain, f"interviews/{SID}", HOST), 503)["detail"]
    assert "not configured" in problem(get(plain, "interviews", ADMIN), 503)["detail"]


def test_postgres_stopped_answers_503_and_the_loop_goes_on(archive_gateway, pg):
    gw = archive_gateway
    pg.stop()
    try:
        started = time.monotonic()
        r = get(gw, f"interviews/{SID}", HOST)
        problem(r, 503)
        assert r.headers.get("retry-after")
        assert time.monotonic() - started < 8
        # Live routes are untouched meanwhile; /health says the archive is away, and stays 200.
        health = http.get(f"{gw.url}/health")
        assert health.status_code == 200 and health.json()["archive"] == {"reachable": False}
        assert create_session(gw)
    finally:
        pg.start()
    # Back: the pool reconnects and the record reads again.
    wait_for(lambda: get(gw, f"interviews/{SID}", HOST).status_code == 200, 30, message="the record reads again")
    assert http.get(f"{gw.url}/health").json()["archive"] == {"reachable": True}


def test_a_gateway_starts_with_postgres_down(postgres, start_gateway):
    # PostgreSQL away at start is not fatal: the gateway serves live sessions; records answer 503.
    postgres.shutdown()
    gw = start_gateway(f"--postgres={postgres.url}", f"--admin-token={ADMIN}")
    assert create_session(gw)
    problem(get(gw, f"interviews/{SID}", HOST), 503)
    # PostgreSQL back, still no schema (no archiver ran): the first read finds none, answers 503
    # and migrates; then the record is simply not there.
    postgres.start()
    wait_for(lambda: get(gw, f"interviews/{SID}", HOST).status_code == 404, 30, message="the schema is migrated on demand")
    assert postgres.psql("SELECT version FROM schema_migrations") == [("1",)]


def test_the_archive_routes_hold_to_the_openapi_document(archive_gateway):
    # As test_openapi_fuzz.py, for the /interviews routes on a gateway with PostgreSQL (that
    # suite's gateway has none, where they can only answer 503).
    found = shutil.which("st") or shutil.which("schemathesis")
    if not found:
        pytest.skip("schemathesis is not installed (scripts/setup installs it)")
    result = subprocess.run([
        found, "run", archive_gateway.url + "/openapi.json",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--max-examples", "20", "--workers", "1", "--seed", "20261123", "--include-path-regex", "interviews",
        "--request-timeout", "10", "--no-color",
    ], capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, "schemathesis found failures:\n" + output[-15000:]
