"""Issue 21: finished interviews move from Redis to PostgreSQL (the archiver role).

Real processes throughout: a redis-server and a PostgreSQL of this module's own, gateways with
--postgres (so sessions are kept for the archiver), and `codeinterview archiver` processes that
are killed with SIGKILL at random points; PostgreSQL is killed and restarted under them. What is
checked is in PostgreSQL itself (psql) and in Redis (redis-cli), not only through the API.
"""

from __future__ import annotations

import os
import random
import signal
import time

import httpx
import pytest

from harness.binaries import binary_path, has_option
from harness.processes import Archiver, Gateway, Runner
from harness.rest import bearer, create_session, put_notes
from harness.waiting import wait_for

postgres_harness = pytest.importorskip("harness.postgres", reason="PostgreSQL harness (Tests/harness/postgres.py) not present")

pytestmark = pytest.mark.skipif(not has_option("--postgres", "archiver"), reason="this binary has no archiver")

http = httpx.Client(timeout=15)
ADMIN = "archive-admin-token"


@pytest.fixture(scope="module")
def gateways(redis, postgres, logdir):
    binary = binary_path()
    flags = ["--rate-limits", "off", f"--postgres={postgres.url}", "--archive-hold-hours=1", f"--admin-token={ADMIN}"]
    gws = [Gateway(binary, redis, f"gw-archive-{i}", flags, logdir) for i in range(2)]
    yield gws
    for gw in gws:
        gw.stop()


@pytest.fixture
def start_archiver(redis, postgres, logdir):
    started: list[Archiver] = []
    counter = [0]

    def start(*extra: str) -> Archiver:
        counter[0] += 1
        a = Archiver(binary_path(), redis, postgres.url, f"archiver-{os.getpid()}-{counter[0]}", logdir, *extra)
        started.append(a)
        return a

    yield start
    for a in started:
        a.stop()


def sql(postgres, query: str) -> list[list[str]]:
    """Rows of `query` run by psql."""
    return [list(row) for row in postgres.psql(query)]


def stored(postgres, sid: str) -> bool:
    return sql(postgres, f"SELECT count(*) FROM interviews WHERE id = '{sid}'") == [["1"]]


def session_keys_left(redis, sid: str) -> int:
    return int(redis.command("EXISTS", f"ci:{{{sid}}}:session", f"ci:{{{sid}}}:history", f"ci:{{{sid}}}:log",
                             f"ci:{{{sid}}}:participants", f"ci:{{{sid}}}:checkpoint").lstrip(":"))


def end(gw, sid: str, host: str):
    r = http.patch(f"{gw.url}/api/v1/sessions/{sid}", json={"status": "completed"}, headers=bearer(host))
    assert r.status_code == 200, r.text


def test_an_interview_on_two_gateways_is_archived_whole_and_outlives_redis(gateways, redis, postgres, start_archiver):
    a, b = gateways
    created = create_session(a, code="print(1)\n", host_name="Ada")
    sid, host = created["id"], created["host_token"]
    joined = http.post(f"{b.url}/api/v1/sessions/{sid}/users", json={"name": "Bob", "role": "candidate"})
    assert joined.status_code in (200, 201), joined.text
    for i, gw in enumerate((a, b, a)):
        r = http.post(f"{gw.url}/api/v1/sessions/{sid}/code", json={"code": f"print({i + 2})\n"}, headers=bearer(host))
        assert r.status_code == 200, r.text
    assert put_notes(b, sid, host, "strong on loops").status_code == 200
    q = {"title": "Sum two numbers", "prompt": "Add them.", "tests": [
        {"name": "small", "stdin": "1 2\n", "expected_stdout": "3\n"},
        {"name": "secret", "stdin": "5 5\n", "expected_stdout": "10\n", "hidden": True}]}
    r = http.put(f"{a.url}/api/v1/sessions/{sid}/question", json=q, headers=bearer(host))
    assert r.status_code == 200, r.text
    final = http.get(f"{b.url}/api/v1/sessions/{sid}/code").json()["code"]
    end(b, sid, host)

    start_archiver()
    wait_for(lambda: stored(postgres, sid), 30, message="the ended session stored in PostgreSQL")
    row = sql(postgres, f"SELECT ending, code, notes, question_title, code_revision FROM interviews WHERE id = '{sid}'")[0]
    assert row[0] == "completed", row
    assert row[1] == final == "print(4)\n", row
    assert row[2] == "strong on loops" and row[3] == "Sum two numbers", row
    names = {r[0] for r in sql(postgres, f"SELECT name FROM interview_participants WHERE interview_id = '{sid}'")}
    assert names == {"Ada", "Bob"}, names
    ops = sql(postgres, f"SELECT count(*) FROM interview_ops WHERE interview_id = '{sid}' AND document = 'code'")
    assert int(ops[0][0]) == int(row[4]), (ops, row)
    wait_for(lambda: session_keys_left(redis, sid) == 0, 15, message="the session's keys released")
    # The live routes still answer 410 with how it ended.
    r = http.get(f"{a.url}/api/v1/sessions/{sid}")
    assert r.status_code == 410 and "ended" in r.json()["detail"], r.text

    redis.command("FLUSHALL")
    assert stored(postgres, sid), "the record outlives Redis"
    r = http.get(f"{a.url}/api/v1/interviews/{sid}", headers=bearer(host))
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def runner(redis, logdir):
    r = Runner(binary_path(), redis, f"runner-archive-{os.getpid()}", ["--languages", "python", "--concurrency", "2"], logdir)
    yield r
    r.stop()


def finished_test_run(gw, sid: str, token: str, run_id: str) -> dict:
    def done():
        body = http.get(f"{gw.url}/api/v1/sessions/{sid}/test-runs/{run_id}", headers=bearer(token)).json()
        return body if body.get("state") == "done" else None
    return wait_for(done, 60, message="the test run finished")


def test_the_whole_interview_reads_back_by_each_token_class_and_replays_at_every_revision(gateways, redis, postgres,
                                                                                         runner, start_archiver):
    """Issue 21's interview: edits, a run, a test run, notes and a question on two gateways; ended;
    archived; read by the host, an interviewer, a candidate and the admin after Redis is flushed;
    its code at every revision and its timeline the live ones."""
    a, b = gateways
    created = create_session(a, code="", host_name="Ada", initial_language="python")
    sid, host = created["id"], created["host_token"]
    interviewer = http.post(f"{b.url}/api/v1/sessions/{sid}/users", json={"name": "Ivy", "role": "interviewer"},
                            headers=bearer(host)).json()["participant_token"]
    candidate = http.post(f"{b.url}/api/v1/sessions/{sid}/users", json={"name": "Cy"}).json()["participant_token"]
    q = {"title": "Sum two numbers", "prompt": "Add them.", "tests": [
        {"name": "small", "stdin": "1 2\n", "expected_stdout": "3\n"},
        {"name": "secret", "stdin": "5 5\n", "expected_stdout": "10\n", "hidden": True}]}
    assert http.put(f"{a.url}/api/v1/sessions/{sid}/question", json=q, headers=bearer(host)).status_code == 200
    steps = ["a, b = map(int, input().split())\n",
             "a, b = map(int, input().split())\nprint(a - b)\n",
             "a, b = map(int, input().split())\nprint(a + b)\n"]
    for i, code in enumerate(steps):
        gw, token = ((a, host), (b, candidate), (a, candidate))[i]
        r = http.post(f"{gw.url}/api/v1/sessions/{sid}/code", json={"code": code}, headers=bearer(token))
        assert r.status_code == 200, r.text
    assert put_notes(b, sid, interviewer, "SECRET-NOTE: strong on parsing").status_code == 200
    wait_for(lambda: "python" in [l.get("id") for l in http.get(f"{a.url}/api/v1/languages").json().get("languages", [])
                                  if l.get("available")], 60, message="the runner offers python")
    run = http.post(f"{b.url}/api/v1/sessions/{sid}/execute", json={"stdin": "2 3\n"}, headers=bearer(candidate))
    assert run.status_code == 200, run.text
    assert run.json()["result"]["stdout"] == "5\n", run.text
    started = http.post(f"{a.url}/api/v1/sessions/{sid}/test-runs", json={}, headers=bearer(candidate))
    assert started.status_code in (200, 201, 202), started.text
    test_run = finished_test_run(a, sid, host, started.json()["id"])
    assert test_run["passed"] == 2, test_run

    # The live playback, to compare the record with.
    head = http.get(f"{a.url}/api/v1/sessions/{sid}/code").json()["revision"]
    live_codes = [http.get(f"{a.url}/api/v1/sessions/{sid}/code", params={"revision": n}, headers=bearer(host)).json()["code"]
                  for n in range(head + 1)]
    live_timeline = http.get(f"{a.url}/api/v1/sessions/{sid}/timeline", headers=bearer(host)).json()
    end(b, sid, host)

    start_archiver()
    wait_for(lambda: stored(postgres, sid), 30, message="the interview stored")
    wait_for(lambda: session_keys_left(redis, sid) == 0, 15, message="the session's keys released")
    redis.command("FLUSHALL")

    def record(token):
        r = http.get(f"{b.url}/api/v1/interviews/{sid}", headers=bearer(token))
        assert r.status_code == 200, r.text
        return r.json(), r.text

    for token in (host, interviewer, ADMIN):
        body, text = record(token)
        assert body["code"]["text"] == steps[-1] and "SECRET-NOTE" in text and "secret" in text, text
        assert {p["name"] for p in body["participants"]} >= {"Ada", "Ivy", "Cy"}, body["participants"]
        runs = {r_["kind"]: r_ for r_ in body["runs"]}
        assert runs["execution"]["result"]["stdout"] == "5\n", runs
        assert runs["test-run"]["passed"] == 2, runs
        assert any(c.get("expected_stdout") == "10\n" for c in runs["test-run"]["cases"]), "interviewers see the hidden case"
    body, text = record(candidate)
    assert body["code"]["text"] == steps[-1] and "notes" not in body, text
    assert {r_["kind"] for r_ in body["runs"]} == {"execution", "test-run"}, body["runs"]
    assert "SECRET-NOTE" not in text and "10\\n" not in text, "a candidate's record has no notes and no hidden test"
    assert http.get(f"{b.url}/api/v1/interviews/{sid}", headers=bearer("not-a-token")).status_code == 403

    # The replay: the code at every revision and the timeline, as they were live.
    for n, code in enumerate(live_codes):
        r = http.get(f"{a.url}/api/v1/interviews/{sid}/code", params={"revision": n}, headers=bearer(interviewer))
        assert r.status_code == 200 and r.json()["code"] == code, (n, r.text)
    archived = http.get(f"{a.url}/api/v1/interviews/{sid}/timeline", headers=bearer(host)).json()
    live_ops = [(e["revision"], e["ops"]) for e in live_timeline["events"] if e["type"] == "op"]
    assert [(e["revision"], e["ops"]) for e in archived["events"] if e["type"] == "op"] == live_ops
    live_types = [e["type"] for e in live_timeline["events"]]
    assert [e["type"] for e in archived["events"]][:len(live_types)] == live_types, (live_types, archived["events"])


def test_a_deleted_session_is_archived_with_ending_deleted(gateways, redis, postgres, start_archiver):
    a, _ = gateways
    created = create_session(a, code="x = 1\n", host_name="Ada")
    sid, host = created["id"], created["host_token"]
    assert http.delete(f"{a.url}/api/v1/sessions/{sid}", headers=bearer(host)).status_code == 204
    r = http.get(f"{a.url}/api/v1/sessions/{sid}")
    assert r.status_code == 410 and "deleted" in r.json()["detail"], r.text
    assert session_keys_left(redis, sid) > 0, "its keys wait for the archiver"
    start_archiver()
    wait_for(lambda: stored(postgres, sid), 30, message="the deleted session stored")
    assert sql(postgres, f"SELECT ending FROM interviews WHERE id = '{sid}'") == [["deleted"]]
    wait_for(lambda: session_keys_left(redis, sid) == 0, 15, message="the session's keys released")
    r = http.get(f"{a.url}/api/v1/sessions/{sid}")
    assert r.status_code == 410 and "deleted" in r.json()["detail"], r.text


def test_archivers_and_postgres_killed_mid_archive_store_each_session_exactly_once(gateways, redis, postgres, start_archiver):
    a, b = gateways
    rng = random.Random(21)
    sids = []
    for i in range(200):
        gw = (a, b)[i % 2]
        created = create_session(gw, code=f"print({i})\n", host_name="Ada")
        sid = created["id"]
        http.post(f"{gw.url}/api/v1/sessions/{sid}/code", json={"code": f"print({i}, 'final')\n"}, headers=bearer(created["host_token"]))
        end(gw, sid, created["host_token"])
        sids.append(sid)

    first, second = start_archiver("--concurrency=4"), start_archiver("--concurrency=4")
    archivers = [first, second]
    restarted_postgres = False
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        done = int(sql(postgres, "SELECT count(*) FROM interviews WHERE id = ANY(ARRAY[%s])" % ",".join(f"'{s}'" for s in sids))[0][0])
        if done == len(sids):
            break
        # Fault injection, not a wait: the next kill lands at a random point of the archiving.
        time.sleep(rng.uniform(0.05, 0.4))
        victim = rng.choice(archivers)
        victim.kill9()
        archivers.remove(victim)
        archivers.append(start_archiver("--concurrency=4"))
        # Once, at the first look that finds the archiving under way (saves in flight): archiving
        # the 200 takes a second or two, and waiting for a count could miss it between two looks.
        if not restarted_postgres:
            postgres.kill()
            time.sleep(1.5)  # how long PostgreSQL stays away (saves fail and back off meanwhile), not a wait
            postgres.start()
            restarted_postgres = True
    assert restarted_postgres, "PostgreSQL was killed mid-archive"
    ids = ",".join(f"'{s}'" for s in sids)
    wait_for(lambda: int(sql(postgres, f"SELECT count(*) FROM interviews WHERE id IN ({ids})")[0][0]) == len(sids), 120,
             message="every session stored")
    rows = sql(postgres, f"SELECT id, code FROM interviews WHERE id IN ({ids})")
    assert len(rows) == len({r[0] for r in rows}) == 200, "each session stored exactly once"
    codes = {r[0]: r[1] for r in rows}
    assert all(codes[s] == f"print({i}, 'final')\n" for i, s in enumerate(sids)), "every record holds the final code"
    ops = sql(postgres, f"SELECT interview_id, count(*) FROM interview_ops WHERE interview_id IN ({ids}) GROUP BY interview_id")
    assert all(int(n) == 1 for _, n in ops), "no op stored twice"
    wait_for(lambda: all(session_keys_left(redis, s) == 0 for s in sids), 120, message="every session's keys released")
    # Off the archive queue (other tests' live sessions may still wait there, due at their expiry).
    wait_for(lambda: all(redis.command("ZSCORE", "ci:{archive}:due", s) in ("$-1", "", None) for s in sids), 60,
             message="every session off the archive queue")
    # The gateways' pools reconnect with a backoff (up to 5 s) after PostgreSQL came back; until
    # then their record routes answer 503. The next test reads records at once.
    wait_for(lambda: all(http.get(f"{gw.url}/health").json()["archive"] == {"reachable": True} for gw in gateways), 30,
             message="both gateways reach PostgreSQL again")


ASK = 'name = input("name? ")\nprint("Hello, " + name + "!")\n'


def test_terminal_input_and_output_are_in_the_timeline_and_the_record(gateways, redis, postgres, runner, start_archiver):
    """Issue 23: an interactive run's input (who typed what) and output are in the session's
    timeline at their times, capped per run (64 KiB each way: a terminal-truncated entry says
    so), and in the archived record for interviewers and candidates alike (the room shared it)."""
    from harness.ws import WS, run

    a, b = gateways
    created = create_session(a, code="print(0)\n", host_name="Ada")
    sid, host = created["id"], created["host_token"]
    r = http.post(f"{a.url}/api/v1/sessions/{sid}/code", json={"code": ASK}, headers=bearer(host))
    assert r.status_code == 200, r.text
    joined = http.post(f"{b.url}/api/v1/sessions/{sid}/users", json={"name": "Bob", "role": "candidate"})
    assert joined.status_code in (200, 201), joined.text
    candidate = joined.json()["participant_token"]
    wait_for(lambda: any(l["id"] == "python" and l.get("available")
                         for l in http.get(a.url + "/api/v1/languages").json()["languages"]), 60, message="python offered")

    def start(code):
        r = http.post(f"{a.url}/api/v1/sessions/{sid}/execute", json={"code": code, "interactive": True},
                      headers=bearer(created["participant_token"]))
        assert r.status_code == 202, r.text
        return r.json()["job_id"]

    async def main():
        typist = await WS.open(a, sid)
        await typist.join(participant_token=created["participant_token"])
        watcher = await WS.open(b, sid)
        await watcher.join(participant_token=candidate)
        job = start(ASK)
        await watcher.expect("execution-output", 30, where=lambda d: d["job_id"] == job and "name?" in d["chunk"])
        await typist.send("run-input", {"run_id": job, "data": "Ada\r"})
        await watcher.expect("execution-result", 30, where=lambda d: d["job_id"] == job)
        # A run printing more than the log keeps of a run's output.
        big = start('import sys\nsys.stdout.write("x" * 100000)\nsys.stdout.flush()\ninput()\n')
        await watcher.expect("execution-output", 30, where=lambda d: d["job_id"] == big)
        await typist.send("run-signal", {"run_id": big, "signal": "interrupt"})
        await watcher.expect("execution-result", 30, where=lambda d: d["job_id"] == big)
        await typist.close()
        await watcher.close()
        return job, big

    job, big = run(main())

    def terminal_events(timeline):
        return [e for e in timeline["events"] if e["type"].startswith("terminal-")]

    live = http.get(f"{a.url}/api/v1/sessions/{sid}/timeline", headers=bearer(host)).json()
    events = terminal_events(live)
    mine = [e for e in events if e["run_id"] == job]
    inputs = [e for e in mine if e["type"] == "terminal-input"]
    assert [(e["data"], e["user_id"]) for e in inputs] == [("Ada\r", created["participant_id"])], mine
    output = "".join(e["data"] for e in mine if e["type"] == "terminal-output")
    assert "name? " in output and "Hello, Ada!" in output, output
    # At their times: the prompt before the typing, the answer after it.
    prompt_at = next(e["timestamp"] for e in mine if e["type"] == "terminal-output" and "name?" in e["data"])
    answer_at = next(e["timestamp"] for e in mine if e["type"] == "terminal-output" and "Hello" in e["data"])
    assert prompt_at <= inputs[0]["timestamp"] <= answer_at, mine
    timestamps = [e["timestamp"] for e in live["events"]]
    assert timestamps == sorted(timestamps)
    flood = [e for e in events if e["run_id"] == big]
    logged = sum(len(e["data"]) for e in flood if e["type"] == "terminal-output")
    assert 0 < logged <= 65536, logged
    assert [e["direction"] for e in flood if e["type"] == "terminal-truncated"] == ["out"], flood[-3:]
    # Candidates have no live timeline (it is the interviewers'), and the log is no route of its own.
    assert http.get(f"{a.url}/api/v1/sessions/{sid}/timeline", headers=bearer(candidate)).status_code in (401, 403)

    end(a, sid, host)
    start_archiver()
    wait_for(lambda: stored(postgres, sid), 30, message="the ended session stored in PostgreSQL")
    count = sql(postgres, f"SELECT count(*) FROM interview_extras WHERE interview_id = '{sid}' AND kind = 'terminal'")
    assert int(count[0][0]) == len(events), (count, len(events))
    wait_for(lambda: int(redis.command("EXISTS", f"ci:{{{sid}}}:terminal-log").lstrip(":")) == 0, 15,
             message="the terminal log released with the session's keys")
    for token in (host, candidate):
        record = http.get(f"{b.url}/api/v1/interviews/{sid}", headers=bearer(token))
        assert record.status_code == 200, record.text
        entries = record.json()["extras"]["terminal"]
        # The record keeps them as appended; the timeline places them by time.
        assert sorted((e["at"], e["type"], e["run_id"], e.get("data") or "") for e in entries) == \
            sorted((e["timestamp"], e["type"], e["run_id"], e.get("data") or "") for e in events)
    archived = http.get(f"{b.url}/api/v1/interviews/{sid}/timeline", headers=bearer(host)).json()
    assert terminal_events(archived) == events, "the archived timeline has the same terminal events"


def test_the_terminal_log_stops_at_the_session_cap(gateways, redis, runner):
    """Past the session's cap (512 KiB of terminal log in all) a run's output and input are not
    logged: one terminal-truncated entry per way says so; the run itself goes on."""
    from harness.ws import WS, run

    a, _ = gateways
    created = create_session(a, code="print(0)\n", host_name="Ada")
    sid = created["id"]
    assert http.post(f"{a.url}/api/v1/sessions/{sid}/code", json={"code": ASK}, headers=bearer(created["host_token"])).status_code == 200
    # As if earlier runs had logged all but 3 bytes of the session's cap (less than "Ada\r" or "name? ").
    redis.command("HSET", f"ci:{{{sid}}}:session", "terminal_logged", str(524288 - 3))

    async def main():
        typist = await WS.open(a, sid)
        await typist.join(participant_token=created["participant_token"])
        r = http.post(f"{a.url}/api/v1/sessions/{sid}/execute", json={"code": ASK, "interactive": True},
                      headers=bearer(created["participant_token"]))
        assert r.status_code == 202, r.text
        job = r.json()["job_id"]
        await typist.expect("execution-output", 30, where=lambda d: d["job_id"] == job and "name?" in d["chunk"])
        await typist.send("run-input", {"run_id": job, "data": "Ada\r"})
        result = await typist.expect("execution-result", 30, where=lambda d: d["job_id"] == job)
        await typist.close()
        return job, result["data"]

    job, result = run(main())
    assert result["status"] == "ok" and "Hello, Ada!" in result["stdout"], result
    timeline = http.get(f"{a.url}/api/v1/sessions/{sid}/timeline", headers=bearer(created["host_token"])).json()
    terminal = [e for e in timeline["events"] if e["type"].startswith("terminal-")]
    assert sorted(e["direction"] for e in terminal if e["type"] == "terminal-truncated") == ["in", "out"], terminal
    assert all(e["type"] == "terminal-truncated" for e in terminal), terminal
