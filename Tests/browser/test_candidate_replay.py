"""A candidate's page turns into the replay when the interview ends (issue 22, item 2), in headless
Chromium: the candidate (on the other gateway) edits and pastes, the interviewer writes notes and
ends the interview with the controls bar; both pages turn into the replay player, the
interviewer's with the paste's mark, the candidate's fed by the candidate's view (no integrity
marks, nothing of the notes). A candidate opening the ended session later with the seat their
browser kept lands on the replay too. Screenshots in Tests/browser/artifacts/.
"""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By

from harness.pages import connection, focus_editor, save_screenshot, server_code, state, type_text, view
from harness.waiting import wait_for

PASTED = "def solve(xs):\n    return sorted(xs)  # pasted from elsewhere\n"
NOTES = "SECRET-NOTE: ask about sorting"


def open_as(driver, stack, sid: str, credentials: dict, ws: str | None = None):
    """Opens the session page with a seat already kept in this browser (as after a join)."""
    driver.get(stack.a.url + "/")
    driver.execute_script("localStorage.setItem('codeinterview:session:' + arguments[0], JSON.stringify(arguments[1]))",
                          sid, credentials)
    driver.get(f"{stack.a.url}/s/{sid}" + (f"?ws={ws}" if ws else ""))


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


def replay(driver) -> dict | None:
    return driver.execute_script("""
        const r = window.codeinterviewReplay;
        if (!r) return null;
        return {loaded: r.timeline.next === null && r.timeline.events.length > 0, text: r.cm.getValue(),
                types: r.timeline.events.map((e) => e.type), resource: r.timeline.resource,
                max: Number(document.getElementById('replay-scrubber').max)};
    """)


def marks(driver, kind: str) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, f"#replay-marks .mark-{kind}"))


def to_the_end(driver):
    driver.execute_script("""
        const input = document.getElementById('replay-scrubber');
        input.value = input.max;
        input.dispatchEvent(new Event('input', {bubbles: true}));
    """)


def test_ending_turns_the_candidates_page_into_the_replay_in_the_candidates_view(stack, browsers):
    created = httpx.post(stack.a.url + "/api/v1/sessions", json={"host_name": "Ivy", "session_name": "Candidate replay",
                                                                   "code": "x = 1\n"}, timeout=5).json()
    sid, host = created["id"], created["host_token"]
    joined = httpx.post(f"{stack.a.url}/api/v1/sessions/{sid}/users", json={"name": "Cal", "role": "candidate"}, timeout=5)
    assert joined.status_code in (200, 201), joined.text
    seat = {"participant_token": joined.json()["participant_token"], "name": "Cal"}
    ivy, cal = browsers.new("ivy-candidate-replay"), browsers.new("cal-candidate-replay")
    try:
        open_as(ivy, stack, sid, {"participant_token": created["participant_token"], "host_token": host, "name": "Ivy"})
        open_as(cal, stack, sid, seat, ws=stack.live_b().hostport)
        for driver in (ivy, cal):
            wait_for(lambda: view(driver) == "session" and connection(driver) == "online", message="both online")

        type_text(cal, "# mine\n")
        paste(cal, PASTED)
        wait_for(lambda: server_code(stack.a, sid).endswith(PASTED), message="the candidate's edit and paste committed")
        r = httpx.put(f"{stack.a.url}/api/v1/sessions/{sid}/notes", json={"text": NOTES},
                      headers={"Authorization": f"Bearer {host}"}, timeout=5)
        assert r.status_code == 200, r.text
        wait_for(lambda: httpx.get(f"{stack.a.url}/api/v1/sessions/{sid}/activity",
                                   headers={"Authorization": f"Bearer {host}"}, timeout=5).json()["count"] >= 1,
                 message="the paste's signal stored")
        final = server_code(stack.a, sid)

        wait_for(lambda: ivy.find_elements(By.ID, "control-end") and ivy.find_element(By.ID, "control-end").is_displayed(),
                 message="the interviewer's End button")
        ivy.find_element(By.ID, "control-end").click()
        ivy.switch_to.alert.accept()
        for driver, who in ((ivy, "interviewer"), (cal, "candidate")):
            wait_for(lambda: view(driver) == "replay", message=f"the {who}'s page turned into the replay")
            wait_for(lambda: (replay(driver) or {}).get("loaded"), message=f"the {who}'s replay loaded")
        wait_for(lambda: marks(ivy, "integrity") >= 1, timeout=5, message="the paste's mark on the interviewer's replay")
        assert marks(cal, "ended") == 1 and marks(cal, "joined") >= 2, "the candidate's scrubber has the joins and the end"
        assert marks(cal, "integrity") == 0, "no integrity mark on the candidate's replay"
        mine = replay(cal)
        assert "integrity" not in mine["types"] and not [t for t in mine["types"] if t.startswith("notes")], mine["types"]
        assert mine["resource"] == "sessions", "the live timeline while the session's keys are kept"
        to_the_end(cal)
        wait_for(lambda: replay(cal)["text"] == final, timeout=5, message="the candidate's replay ends on the final code")
        page = cal.execute_script("return document.body.innerText")
        assert "SECRET-NOTE" not in page, "nothing of the notes on the candidate's page"
        assert f"pasted {len(PASTED)}" not in page, "no signal described on the candidate's page"
        assert not cal.find_element(By.ID, "replay-key-form").is_displayed()
        save_screenshot(ivy, "candidate-replay-interviewer")
        save_screenshot(cal, "candidate-replay-candidate")
    finally:
        browsers.close(ivy)
        browsers.close(cal)

    # Later, the candidate opens the ended session with the seat their browser kept: the replay.
    again = browsers.new("cal-candidate-replay-later")
    try:
        open_as(again, stack, sid, seat)
        wait_for(lambda: view(again) == "replay", message="the ended session opens on the replay")
        wait_for(lambda: (replay(again) or {}).get("loaded"), message="the candidate's replay loaded")
        assert marks(again, "integrity") == 0
        save_screenshot(again, "candidate-replay-rejoined")
    finally:
        browsers.close(again)
