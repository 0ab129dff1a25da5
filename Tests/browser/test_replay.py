"""The Replay view in headless Chromium: an interviewer watches a finished interview being written.

Two people edit a session over WebSockets (real protocol clients, one op at a time), one of them
runs the code on the stack's Python runner, more edits follow, and the host ends the interview.
The interviewer then opens /s/{id}/replay: the scrubber carries the run and the joins, scrubbing to
a revision shows exactly the text GET /code?revision=N answers, the run mark shows the run's
output, and playing at 32x ends on the final text. A candidate's key, the interview over, opens
the candidate's view of the same replay.
"""

from __future__ import annotations

import json

import httpx
import pytest
from selenium.webdriver.common.by import By
from websockets.sync.client import connect

from harness.pages import save_screenshot, view
from harness.waiting import wait_for


class Editor:
    """A participant editing over the real WebSocket protocol, waiting for each ack."""

    def __init__(self, gateway, session_id: str, name: str):
        self.ws = connect(f"ws://{gateway.hostport}/ws/sessions/{session_id}", open_timeout=5,
                          origin=f"http://{gateway.hostport}")
        self.ws.send(json.dumps({"type": "join", "data": {"name": name}}))
        welcome = self.until("welcome")
        self.me = welcome["you"]
        self.token = welcome["participant_token"]
        self.revision = welcome["revision"]
        self.text = welcome["code"]

    def until(self, kind: str) -> dict:
        while True:
            message = json.loads(self.ws.recv(timeout=10))
            if message["type"] == "error":
                raise AssertionError(f"server error: {message}")
            if message["type"] == "op":
                self.apply(message["data"])
            if message["type"] == kind:
                return message["data"]

    def apply(self, data: dict):
        # Ops of the other editor: only ever inserts at the end here (the test types in turns).
        self.revision = data["revision"]
        retained = 0
        out = ""
        for c in data["ops"]:
            if isinstance(c, str):
                out += c
            elif c > 0:
                out += self.text[retained:retained + c]
                retained += c
            else:
                retained += -c
        self.text = out + self.text[retained:]

    def type(self, text: str):
        for ch in text:
            ops = [len(self.text), ch] if self.text else [ch]
            self.ws.send(json.dumps({"type": "op", "data": {"revision": self.revision, "ops": ops}}))
            ack = self.until("ack")
            self.revision = ack["revision"]
            self.text += ch

    def catch_up(self, revision: int):
        while self.revision < revision:
            self.until("op")

    def close(self):
        self.ws.close()


@pytest.fixture(scope="module")
def finished(stack):
    ok, why = stack.language_available("python")
    assert ok, why
    created = httpx.post(stack.a.url + "/api/v1/sessions", json={"host_name": "Ivy", "session_name": "Replay me",
                                                                   "initial_language": "python"}, timeout=5).json()
    sid, host = created["id"], created["host_token"]
    httpx.post(f"{stack.a.url}/api/v1/sessions/{sid}/code", json={"code": ""},
               headers={"Authorization": f"Bearer {host}"}, timeout=5).raise_for_status()
    ada = Editor(stack.a, sid, "Ada")
    bob = Editor(stack.live_b(), sid, "Bob")  # B may have been killed by test_interview: its replacement
    ada.type("print('replayed')\n")
    bob.catch_up(ada.revision)
    bob.type("x = 6 * 7\n")
    ada.catch_up(bob.revision)
    run = httpx.post(f"{stack.a.url}/api/v1/sessions/{sid}/execute", json={"wait": True},
                     headers={"Authorization": f"Bearer {ada.token}"}, timeout=30)
    assert run.status_code in (200, 202), run.text
    after_run = bob.revision
    bob.type("print(x)\n")
    ada.catch_up(bob.revision)
    ada.close()
    bob.close()
    final = httpx.get(f"{stack.a.url}/api/v1/sessions/{sid}/code", timeout=5).json()
    httpx.patch(f"{stack.a.url}/api/v1/sessions/{sid}", json={"status": "completed"},
                headers={"Authorization": f"Bearer {host}"}, timeout=5).raise_for_status()
    return {"sid": sid, "host": host, "candidate": ada.token, "final": final, "after_run": after_run,
            "ada": ada.me, "bob": bob.me}


def test_the_timeline_holds_the_run_with_its_output(stack, finished):
    r = httpx.get(f"{stack.live_b().url}/api/v1/sessions/{finished['sid']}/timeline",
                  headers={"Authorization": f"Bearer {finished['host']}"}, timeout=5)
    assert r.status_code == 200, r.text
    runs = [e for e in r.json()["events"] if e["type"] == "execution"]
    assert len(runs) == 1
    run = runs[0]
    assert run["user_id"] == finished["ada"]["id"] and run["name"] == "Ada"
    assert run["language"] == "python"
    # The run happened at the revision the document had then, and its output is as stored.
    assert run["revision"] == finished["after_run"]
    assert run["status"] == "ok", run
    assert run["stdout"] == "replayed\n"


def replay_state(driver) -> dict:
    return driver.execute_script("""
        const r = window.codeinterviewReplay;
        if (!r) return null;
        return {loaded: r.timeline.next === null && r.timeline.events.length > 0, revision: r.state.revision,
                text: r.cm.getValue(), playing: r.playing, events: r.timeline.events.length,
                head: r.timeline.revision};
    """)


def scrub_to_revision(driver, revision: int):
    """Moves the scrubber (a range input) the way a drag does: sets its value, fires `input`."""
    driver.execute_script("""
        const r = window.codeinterviewReplay;
        const e = r.timeline.events.find((e) => e.type === 'op' && e.revision === arguments[0]);
        const input = document.getElementById('replay-scrubber');
        input.value = String(Math.round(e.at));
        input.dispatchEvent(new Event('input', {bubbles: true}));
    """, revision)


def test_scrubbing_shows_the_text_of_that_revision(stack, browsers, finished):
    sid, host = finished["sid"], finished["host"]
    driver = browsers.new("replay")
    driver.get(f"{stack.a.url}/s/{sid}/replay#host={host}")
    wait_for(lambda: view(driver) == "replay", message="the replay view")
    wait_for(lambda: (replay_state(driver) or {}).get("loaded"), message="the timeline loaded")
    assert "#host" not in driver.current_url, "the key must leave the address bar"
    marks = driver.find_elements(By.CSS_SELECTOR, "#replay-marks .mark-run")
    assert len(marks) == 1, "one run on the scrubber"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#replay-marks .mark-joined")) >= 2
    runs = driver.find_elements(By.CSS_SELECTOR, "#replay-runs li button")
    assert len(runs) == 1 and "Ada" in runs[0].text

    head = finished["final"]["revision"]
    for revision in sorted({2, head // 2, finished["after_run"], head - 1}):
        scrub_to_revision(driver, revision)
        # The scrubber moves in milliseconds: ops typed within one land together, so the view
        # shows the last revision of that millisecond, and exactly its text.
        shown = wait_for(lambda: replay_state(driver), timeout=5, message="the replay state")["revision"]
        same_time = driver.execute_script("""
            const ev = window.codeinterviewReplay.timeline.events.filter((e) => e.type === 'op');
            const at = ev.find((e) => e.revision === arguments[0]).at;
            return Math.max(...ev.filter((e) => Math.round(e.at) === Math.round(at)).map((e) => e.revision));
        """, revision)
        assert shown == same_time >= revision, (revision, shown, same_time)
        expected = httpx.get(f"{stack.a.url}/api/v1/sessions/{sid}/code", params={"revision": shown},
                             headers={"Authorization": f"Bearer {host}"}, timeout=5).json()["code"]
        wait_for(lambda: replay_state(driver)["text"] == expected, timeout=5,
                 message=f"the editor to show revision {shown}")
    # Each author's text in their color.
    colored = driver.execute_script("""
        return [...document.querySelectorAll('#replay-editor [data-author]')].map((n) => n.dataset.author);
    """)
    assert {finished["ada"]["id"], finished["bob"]["id"]} <= set(colored)
    save_screenshot(driver, "replay-scrubbed")

    # The run mark jumps to the run and shows its output.
    marks[0].click()
    wait_for(lambda: "replayed" in driver.find_element(By.ID, "replay-output").text, timeout=5,
             message="the run's output")
    assert replay_state(driver)["revision"] == finished["after_run"]

    # Playing at 32x from there ends on the final text.
    driver.find_element(By.CSS_SELECTOR, "#replay-speed option[value='32']").click()
    driver.find_element(By.ID, "replay-play").click()
    wait_for(lambda: not replay_state(driver)["playing"] and replay_state(driver)["revision"] == head,
             timeout=30, message="playing to the end")
    assert replay_state(driver)["text"] == finished["final"]["code"]
    save_screenshot(driver, "replay-end")
    browsers.close(driver)


def test_a_candidate_key_replays_the_ended_interview(stack, browsers, finished):
    # The interview has ended: a candidate's token reads the candidate's view (issue 22 item 2).
    driver = browsers.new("replay-candidate")
    driver.get(f"{stack.a.url}/s/{finished['sid']}/replay#host={finished['candidate']}")
    wait_for(lambda: (replay_state(driver) or {}).get("loaded"), message="the candidate's timeline loaded")
    assert not driver.find_element(By.ID, "replay-key-form").is_displayed()
    browsers.close(driver)
