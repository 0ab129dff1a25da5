"""Integrity signals in headless Chromium (issue 22, part 1): a candidate pastes and leaves the page;
the interviewer's page shows both on its live activity strip, the replay shows both on the
scrubber (live, then archived from the record), and the candidate's page shows nothing of them.

This module starts its own processes (harness): a redis-server, a PostgreSQL, two gateways with
--postgres (the interviewer on A, the candidate on B) and, once the interview has ended, a
`codeinterview archiver`.

The paste is a real paste event: a ClipboardEvent with a DataTransfer dispatched on CodeMirror's
input (what the browser fires for Ctrl+V; CDP's Input.insertText would be typing). Leaving the page
is a second tab opened over it and closed again (the window's focus moves; Chromium hides the
page), so the page's own blur/visibilitychange listeners run.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from harness import REPO, reports
from harness.binaries import binary_path, has_option
from harness.pages import connection, focus_editor, save_screenshot, state, view
from harness.postgres import PostgresServer
from harness.ports import free_port
from harness.processes import Archiver, Gateway, RedisServer
from harness.rest import bearer, create_session
from harness.waiting import wait_for

pytestmark = pytest.mark.skipif(not has_option("--postgres", "archiver"), reason="this binary has no archiver")

http = httpx.Client(timeout=15)
# What the candidate pastes: 240 characters found nowhere in the session.
PASTED = "def solve(xs):\n" + "    return sorted(set(xs))  # pasted from elsewhere\n" * 4 + "#" * 21 + "\n"


class IntegrityStack:
    def __init__(self):
        self.binary = binary_path()
        self.logdir = tempfile.mkdtemp(prefix="ci-browser-integrity-logs-")
        self.processes: list = []
        try:
            self.redis = self._add(RedisServer(logdir=self.logdir))
            self.postgres = self._add(PostgresServer(self.logdir))
            # Both pages come from A; the candidate's WebSocket goes to B, which accepts A's origin.
            port_a = free_port()
            flags = ["--rate-limits", "off", f"--postgres={self.postgres.url}", "--archive-hold-hours=1",
                     "--ws-origins", f"http://127.0.0.1:{port_a}"]
            self.a = self._add(Gateway(self.binary, self.redis, "gw-integrity-a", flags, self.logdir, port=port_a,
                                       ready_within=20, grace=10))
            self.b = self._add(Gateway(self.binary, self.redis, "gw-integrity-b", ["--web-root", str(REPO / "web"), *flags],
                                       self.logdir, ready_within=20, grace=10))
        except BaseException:
            self.stop()
            raise

    def _add(self, process):
        self.processes.append(process)
        return process

    def start_archiver(self) -> Archiver:
        return self._add(Archiver(self.binary, self.redis, self.postgres.url, f"archiver-integrity-{os.getpid()}", self.logdir))

    def stop(self):
        for p in reversed(self.processes):
            p.stop()
        shutil.rmtree(self.logdir, ignore_errors=True)


@pytest.fixture(scope="module")
def istack():
    s = IntegrityStack()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _integrity_logs_on_failure(request, istack):
    reports.attach(request.node, reports.logs_since_now(istack.processes))
    yield


def strip(driver) -> list[dict]:
    """The activity strip's rows: name, counts text, and the kinds of its marks."""
    return driver.execute_script("""
        return [...document.querySelectorAll('#activity-strip .activity-row')].map((row) => ({
            user: row.dataset.userId, name: row.querySelector('.activity-name').textContent,
            counts: row.querySelector('.activity-counts').textContent,
            marks: [...row.querySelectorAll('.activity-mark')].map((m) => ({kind: m.dataset.kind, title: m.title,
                                                                             shown: m.getBoundingClientRect().width > 0})),
        }));
    """)


def paste(driver, text: str):
    """A real paste event on CodeMirror's input, as Ctrl+V fires it, at the end of the text."""
    focus_editor(driver, "end")
    driver.execute_script("""
        const area = document.querySelector('#editor .CodeMirror textarea');
        area.focus();
        const data = new DataTransfer();
        data.setData('text/plain', arguments[0]);
        area.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
    """, text)


def leave_and_come_back(driver):
    """Another tab over the page, then back: the page loses focus (and is hidden), then returns."""
    page = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.get("about:blank")
    sent = lambda: driver.execute_script("return (window.codeInterviewIntegrity?.sent || []).map((s) => s.kind)")
    driver.switch_to.window(page)
    # Chromium headless may keep a background tab's focus state until it is activated again.
    driver.execute_cdp_cmd("Page.bringToFront", {})
    return sent


def test_paste_and_leaving_show_on_the_interviewers_strip_and_replay_and_nowhere_on_the_candidates_page(istack, browsers):
    a, b = istack.a, istack.b
    created = create_session(a, code="x = 1\n", host_name="Host", session_name="Integrity")
    sid, host = created["id"], created["host_token"]

    ivy = browsers.new("integrity-interviewer")
    ivy.get(f"{a.url}/s/{sid}?ws={a.hostport}#host={host}")
    wait_for(lambda: view(ivy) == "join", message="the interviewer's join form")
    ivy.find_element(By.ID, "join-name").send_keys("Ivy")
    ivy.find_element(By.ID, "join-button").click()
    wait_for(lambda: connection(ivy) == "online", message="Ivy online")
    assert state(ivy, "me")["role"] == "interviewer"

    cat = browsers.new("integrity-candidate")
    cat.get(f"{a.url}/s/{sid}?ws={b.hostport}")
    wait_for(lambda: view(cat) == "join", message="the candidate's join form")
    cat.find_element(By.ID, "join-name").send_keys("Cat")
    Select(cat.find_element(By.ID, "join-role")).select_by_value("candidate")
    cat.find_element(By.ID, "join-button").click()
    wait_for(lambda: connection(cat) == "online", message="Cat online")
    assert state(cat, "me")["role"] == "candidate" and state(cat, "endpoint") == b.hostport

    # The paste lands in the editor and on the server, and is reported (not its text).
    paste(cat, PASTED)
    wait_for(lambda: PASTED in (state(cat, "text") or ""), timeout=5, message="the pasted text in the candidate's editor")
    wait_for(lambda: PASTED in http.get(f"{a.url}/api/v1/sessions/{sid}/code").json()["code"], timeout=10,
             message="the paste on the server")
    sent = cat.execute_script("return window.codeInterviewIntegrity.sent")
    assert sent[0]["kind"] == "paste" and sent[0]["length"] == len(PASTED) and sent[0]["source"] == "external", sent
    # It landed at the end of "x = 1\n" (the click puts the caret at the end of the text).
    assert sent[0]["line"] == 2 and sent[0]["offset"] == 6 and sent[0]["document"] == "code", sent

    # A tool typing 300 characters in one go (CDP's Input.insertText: typing, not a paste).
    cat.execute_cdp_cmd("Input.insertText", {"text": "y" * 300})
    wait_for(lambda: "y" * 300 in (state(cat, "text") or ""), timeout=5, message="the inserted text")
    sent = cat.execute_script("return window.codeInterviewIntegrity.sent")
    assert [s["kind"] for s in sent] == ["paste", "insert"] and sent[1]["length"] == 300, sent

    # Leaving: a tab over it, then back.
    kinds = leave_and_come_back(cat)
    wait_for(lambda: {"away", "back"} <= set(kinds()), timeout=10, message="away and back reported by the page")

    # The interviewer's strip: Cat's row with the paste and the absence.
    def cats_row():
        rows = [r for r in strip(ivy) if r["name"] == "Cat"]
        return rows[0] if rows else None
    row = wait_for(lambda: (r := cats_row()) and {"paste", "insert", "away", "back"} <= {m["kind"] for m in r["marks"]} and r,
                   timeout=10, message="the paste and the absence on the interviewer's strip")
    assert "1 paste" in row["counts"] and "1 away" in row["counts"] and "1 large insertion" in row["counts"], row
    paste_mark = next(m for m in row["marks"] if m["kind"] == "paste")
    assert f"pasted {len(PASTED)} characters" in paste_mark["title"] and "not found" in paste_mark["title"], paste_mark
    assert all(m["shown"] for m in row["marks"]), row
    assert PASTED.splitlines()[1] not in ivy.execute_script("return document.getElementById('activity-section').textContent")
    ivy.execute_script("document.getElementById('activity-section').scrollIntoView()")
    save_screenshot(ivy, "integrity-strip")

    # A reload (a rejoin) loads them again over REST.
    ivy.refresh()
    wait_for(lambda: connection(ivy) == "online", message="Ivy online again")
    wait_for(lambda: (r := cats_row()) and {"paste", "away", "back"} <= {m["kind"] for m in r["marks"]},
             timeout=10, message="the strip rebuilt after a reload")

    # The candidate's page: nothing of it, anywhere in its DOM or its received signals.
    assert cat.find_elements(By.ID, "activity-section") == []
    assert cat.execute_script("return window.codeInterviewIntegrity.signals.length") == 0
    source = cat.page_source
    assert "activity-mark" not in source and "activity-strip" not in source
    save_screenshot(cat, "integrity-candidate-page")

    # The live replay: both marks on the scrubber.
    replay = browsers.new("integrity-replay")

    def replay_marks(driver) -> list[dict]:
        return driver.execute_script("""
            return [...document.querySelectorAll('#replay-marks .mark-integrity')].map((m) => ({
                cls: m.className, title: m.title, left: m.style.left}));
        """)

    replay.get(f"{a.url}/s/{sid}/replay#host={host}")
    wait_for(lambda: view(replay) == "replay", message="the replay view")
    marks = wait_for(lambda: (m := replay_marks(replay)) and len(m) >= 3 and m, timeout=15, message="integrity marks on the scrubber")
    classes = " ".join(m["cls"] for m in marks)
    assert "mark-integrity-paste" in classes and "mark-integrity-away" in classes and "mark-integrity-back" in classes, marks
    assert any("pasted" in m["title"] and "Cat" in m["title"] for m in marks), marks
    save_screenshot(replay, "integrity-replay-marks")
    browsers.close(replay)

    # Ended and archived: the record's replay shows them too; the candidate's record has none.
    candidate_token = cat.execute_script("return JSON.parse(localStorage.getItem('codeinterview:session:' + arguments[0])).participant_token", sid)
    r = http.patch(f"{a.url}/api/v1/sessions/{sid}", json={"status": "completed"}, headers=bearer(host))
    assert r.status_code == 200, r.text
    istack.start_archiver()
    wait_for(lambda: http.get(f"{a.url}/api/v1/interviews/{sid}", headers=bearer(host)).status_code == 200, 30,
             message="the interview archived")
    wait_for(lambda: http.get(f"{a.url}/api/v1/sessions/{sid}").status_code == 410, 15, message="the room released")
    record = http.get(f"{a.url}/api/v1/interviews/{sid}", headers=bearer(candidate_token)).json()
    assert record["view"] == "candidate" and "integrity" not in record["extras"], record["extras"]
    archived = browsers.new("integrity-archived-replay")
    archived.get(f"{a.url}/s/{sid}/replay#host={host}")
    wait_for(lambda: view(archived) == "replay", message="the archived replay view")
    marks = wait_for(lambda: (m := replay_marks(archived)) and len(m) >= 3 and m, timeout=15,
                     message="integrity marks on the archived replay's scrubber")
    classes = " ".join(m["cls"] for m in marks)
    assert "mark-integrity-paste" in classes and "mark-integrity-away" in classes, marks
    save_screenshot(archived, "integrity-archived-replay-marks")
    for d in (archived, ivy, cat):
        browsers.close(d)
