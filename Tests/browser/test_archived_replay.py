"""The Replay view of an archived interview in headless Chromium: the interviewer's replay link
plays the interview from its record once its room is gone from Redis.

The suite's shared stack has no PostgreSQL, so this module starts its own processes (harness):
a redis-server, a PostgreSQL, one gateway with --postgres (so an ended session waits for the
archiver) and, once the interview has ended, a `codeinterview archiver`. The host saves several
revisions with POST /code, a candidate joins, the host ends the interview; once the archiver has
stored it (its row in PostgreSQL, GET /sessions/{id} answering 410) Redis is flushed. Then
/s/{id}/replay#host=<host token> must read the timeline from /api/v1/interviews/{id} and show, at
every revision the scrubber is moved to, exactly the text the record (and the live room before
it) had there. A candidate's token in the link plays the candidate's view of the record.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import httpx
import pytest
from selenium.webdriver.common.by import By

from harness import reports
from harness.binaries import binary_path, has_option
from harness.pages import save_screenshot, view
from harness.postgres import PostgresServer
from harness.processes import Archiver, Gateway, RedisServer
from harness.rest import bearer, create_session
from harness.waiting import wait_for

pytestmark = pytest.mark.skipif(not has_option("--postgres", "archiver"), reason="this binary has no archiver")

http = httpx.Client(timeout=15)

# What the host saves, one revision each (distinct texts, the last one the final code).
STEPS = [
    "def add(a, b):\n    return a - b\n",
    "def add(a, b):\n    return a + b\n",
    "def add(a, b):\n    return a + b\n\n\nprint(add(2, 3))\n",
    "def add(a, b):\n    \"\"\"The sum.\"\"\"\n    return a + b\n\n\nprint(add(40, 2))\n",
]


class ArchiveStack:
    """redis-server, PostgreSQL and one gateway with --postgres; archivers started on demand."""

    def __init__(self):
        self.binary = binary_path()
        self.logdir = tempfile.mkdtemp(prefix="ci-browser-archive-logs-")
        self.processes: list = []
        try:
            self.redis = self._add(RedisServer(logdir=self.logdir))
            self.postgres = self._add(PostgresServer(self.logdir))
            self.gateway = self._add(Gateway(self.binary, self.redis, "gw-archived-replay",
                                             ["--rate-limits", "off", f"--postgres={self.postgres.url}",
                                              "--archive-hold-hours=1"],
                                             self.logdir, ready_within=20, grace=10))
        except BaseException:
            self.stop()
            raise

    def _add(self, process):
        self.processes.append(process)
        return process

    def start_archiver(self) -> Archiver:
        return self._add(Archiver(self.binary, self.redis, self.postgres.url, f"archiver-replay-{os.getpid()}", self.logdir))

    def stop(self):
        for p in reversed(self.processes):
            p.stop()
        shutil.rmtree(self.logdir, ignore_errors=True)


@pytest.fixture(scope="module")
def archive_stack():
    s = ArchiveStack()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _archive_logs_on_failure(request, archive_stack):
    """A failing test's report gets what this module's processes logged since it began."""
    reports.attach(request.node, reports.logs_since_now(archive_stack.processes))
    yield


def stored(postgres, sid: str) -> bool:
    return postgres.psql(f"SELECT count(*) FROM interviews WHERE id = '{sid}'") == [("1",)]


def session_keys_left(redis, sid: str) -> int:
    return int(redis.command("EXISTS", f"ci:{{{sid}}}:session", f"ci:{{{sid}}}:history", f"ci:{{{sid}}}:log",
                             f"ci:{{{sid}}}:participants", f"ci:{{{sid}}}:checkpoint").lstrip(":"))


@pytest.fixture(scope="module")
def archived(archive_stack):
    """An interview written, ended, archived and gone from Redis: its id, tokens and the text of
    every revision as the live room answered it."""
    gw, redis, postgres = archive_stack.gateway, archive_stack.redis, archive_stack.postgres
    created = create_session(gw, code="# add two numbers\n", host_name="Ada", session_name="Archived replay")
    sid, host = created["id"], created["host_token"]
    first = http.get(f"{gw.url}/api/v1/sessions/{sid}/code").json()
    texts = {first["revision"]: first["code"]}
    last_made = first.get("updated_at") or 0
    candidate = None
    for i, code in enumerate(STEPS):
        # Each revision in a millisecond of its own (the op's timestamp is this machine's clock):
        # the scrubber moves in milliseconds, and every revision is to be reached by it.
        wait_for(lambda: time.time() * 1000 >= last_made + 2, timeout=2, interval=0.001, message="the clock to move on")
        r = http.post(f"{gw.url}/api/v1/sessions/{sid}/code", json={"code": code}, headers=bearer(host))
        assert r.status_code == 200, r.text
        now = http.get(f"{gw.url}/api/v1/sessions/{sid}/code").json()
        assert now["code"] == code and now["revision"] not in texts, (now, texts)
        texts[now["revision"]] = code
        last_made = now.get("updated_at") or int(time.time() * 1000)
        if i == 1:
            joined = http.post(f"{gw.url}/api/v1/sessions/{sid}/users", json={"name": "Cy", "role": "candidate"})
            assert joined.status_code in (200, 201), joined.text
            candidate = joined.json()["participant_token"]
    head = max(texts)
    assert head - min(texts) >= len(STEPS) >= 3 and len(set(texts.values())) == len(texts), texts
    # The live replay's texts, to compare the record's with.
    for n, code in texts.items():
        live = http.get(f"{gw.url}/api/v1/sessions/{sid}/code", params={"revision": n}, headers=bearer(host))
        assert live.status_code == 200 and live.json()["code"] == code, (n, live.text)
    r = http.patch(f"{gw.url}/api/v1/sessions/{sid}", json={"status": "completed"}, headers=bearer(host))
    assert r.status_code == 200, r.text
    live_timeline = http.get(f"{gw.url}/api/v1/sessions/{sid}/timeline", headers=bearer(host))
    assert live_timeline.status_code == 200, live_timeline.text

    archive_stack.start_archiver()
    wait_for(lambda: stored(postgres, sid), 30, message="the ended interview stored in PostgreSQL")
    wait_for(lambda: http.get(f"{gw.url}/api/v1/sessions/{sid}").status_code == 410, 15,
             message="GET /sessions/{id} answering 410")
    wait_for(lambda: session_keys_left(redis, sid) == 0, 15, message="the archiver releasing the session's keys")
    assert redis.command("FLUSHALL") == "+OK"
    assert redis.command("DBSIZE") == ":0"
    return {"sid": sid, "host": host, "candidate": candidate, "texts": texts, "head": head, "final": texts[head],
            "live_timeline": live_timeline.json()}


def replay_state(driver) -> dict | None:
    return driver.execute_script("""
        const r = window.codeinterviewReplay;
        if (!r) return null;
        return {loaded: r.timeline.next === null && r.timeline.events.length > 0, revision: r.state.revision,
                text: r.cm.getValue(), playing: r.playing, resource: r.timeline.resource, head: r.timeline.revision,
                max: Number(document.getElementById('replay-scrubber').max),
                position: document.getElementById('replay-position').textContent};
    """)


def scrub_to(driver, value: int):
    """Moves the scrubber (a range input) the way a drag does: sets its value, fires `input`."""
    driver.execute_script("""
        const input = document.getElementById('replay-scrubber');
        input.value = String(arguments[0]);
        input.dispatchEvent(new Event('input', {bubbles: true}));
    """, value)


def op_position(driver, revision: int) -> int:
    """Where on the scrubber revision `revision`'s op is (compressed ms, as the scrubber rounds it)."""
    return driver.execute_script("""
        const e = window.codeinterviewReplay.timeline.events.find((e) => e.type === 'op' && e.revision === arguments[0]);
        return e ? Math.round(e.at) : null;
    """, revision)


def test_the_record_answers_what_the_replay_reads(archive_stack, archived):
    """The routes the page falls back to, after FLUSHALL: the live one is gone, the record's answer."""
    gw, sid, host = archive_stack.gateway, archived["sid"], archived["host"]
    assert http.get(f"{gw.url}/api/v1/sessions/{sid}/timeline", headers=bearer(host)).status_code in (404, 410)
    page = http.get(f"{gw.url}/api/v1/interviews/{sid}/timeline", headers=bearer(host))
    assert page.status_code == 200, page.text
    ops = [e["revision"] for e in page.json()["events"] if e["type"] == "op"]
    assert ops == sorted(archived["texts"])[1:], ops
    # The page the replay reads is the live one's twin: the same events with the same fields (who
    # typed each op: its colors), the same participants, the same head.
    live, record = archived["live_timeline"], page.json()
    assert record["revision"] == live["revision"] and record["next_after_revision"] == live["next_after_revision"]
    assert record["events"] == live["events"], (live["events"], record["events"])
    by_id = lambda people: sorted(people, key=lambda p: p["id"])  # noqa: E731 (live: in Redis' hash order)
    assert by_id(record["participants"]) == by_id(live["participants"]), (live["participants"], record["participants"])
    assert set(record) >= set(live), set(live) - set(record)
    for n, code in archived["texts"].items():
        r = http.get(f"{gw.url}/api/v1/interviews/{sid}/code", params={"revision": n}, headers=bearer(host))
        assert r.status_code == 200 and r.json()["code"] == code, (n, r.text)
    # A candidate's token: the code's timeline in the candidate's view (issue 22 item 2), never the notes.
    r = http.get(f"{gw.url}/api/v1/interviews/{sid}/timeline", headers=bearer(archived["candidate"]))
    assert r.status_code == 200 and [e for e in r.json()["events"] if e["type"] == "op"] == \
        [e for e in record["events"] if e["type"] == "op"], r.text
    r = http.get(f"{gw.url}/api/v1/interviews/{sid}/timeline", params={"document": "notes"}, headers=bearer(archived["candidate"]))
    assert r.status_code == 403, r.text


def test_the_host_link_replays_the_archived_interview(archive_stack, browsers, archived):
    gw, sid, host = archive_stack.gateway, archived["sid"], archived["host"]
    texts, head = archived["texts"], archived["head"]
    driver = browsers.new("archived-replay")
    driver.get(f"{gw.url}/s/{sid}/replay#host={host}")
    wait_for(lambda: view(driver) == "replay", message="the replay view")
    wait_for(lambda: (replay_state(driver) or {}).get("loaded"), message="the timeline loaded")
    assert "#host" not in driver.current_url, "the key must leave the address bar"
    state = replay_state(driver)
    assert state["resource"] == "interviews", "the timeline was read from the record"
    assert state["head"] == head, state
    assert not driver.find_element(By.ID, "replay-key-form").is_displayed()
    assert len(driver.find_elements(By.CSS_SELECTOR, "#replay-marks .mark-joined")) >= 2, "the host's and Cy's joins"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#replay-marks .mark-ended")) == 1
    wait_for(lambda: driver.find_element(By.ID, "session-title").text == "Replay: Archived replay", timeout=5,
             message="the interview's name (from the record) in the title")

    # To the end: the final code.
    scrub_to(driver, state["max"])
    wait_for(lambda: replay_state(driver)["revision"] == head and replay_state(driver)["text"] == archived["final"],
             timeout=5, message="the editor to show the final code")
    assert not replay_state(driver)["playing"]
    assert replay_state(driver)["position"].startswith(f"revision {head} of {head}")

    # Back to each earlier revision: exactly its text (each is in a millisecond of its own).
    for revision in sorted(texts, reverse=True)[1:-1]:
        scrub_to(driver, op_position(driver, revision))
        wait_for(lambda: replay_state(driver)["revision"] == revision, timeout=5, message=f"the replay at revision {revision}")
        wait_for(lambda: replay_state(driver)["text"] == texts[revision], timeout=5,
                 message=f"the editor to show revision {revision}")
        if revision == head - 2:
            save_screenshot(driver, "archived-replay-scrubbed")
    save_screenshot(driver, "archived-replay-earliest")
    browsers.close(driver)


def test_a_candidate_key_replays_the_archived_interview_in_the_candidates_view(archive_stack, browsers, archived):
    gw, sid = archive_stack.gateway, archived["sid"]
    driver = browsers.new("archived-replay-candidate")
    driver.get(f"{gw.url}/s/{sid}/replay#host={archived['candidate']}")
    wait_for(lambda: view(driver) == "replay", message="the replay view")
    wait_for(lambda: (replay_state(driver) or {}).get("loaded"), message="the candidate's timeline loaded")
    assert replay_state(driver)["resource"] == "interviews", "read from the record"
    assert not driver.find_element(By.ID, "replay-key-form").is_displayed()
    scrub_to(driver, replay_state(driver)["max"])
    wait_for(lambda: replay_state(driver)["text"] == archived["final"], timeout=5, message="the final code")
    save_screenshot(driver, "archived-replay-candidate")
    browsers.close(driver)
