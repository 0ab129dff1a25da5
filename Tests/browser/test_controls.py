"""Room controls in headless Chromium (issue 22, part 2): the interviewer's controls bar locks the
editor, holds back runs and hides the question; the candidate's page (on the other gateway) turns
read-only with a banner, disables Run, hides the question pane, and the server refuses what it
would send anyway; unlocked, the candidate types again; End turns both pages into the replay (the
candidate's in the candidate's view: test_candidate_replay.py). Screenshots in Tests/browser/artifacts/.
"""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By

from harness.pages import connection, save_screenshot, server_code, state, type_text, view
from harness.waiting import wait_for

QUESTION = {"title": "Reverse a string", "prompt": "Print it reversed.", "load_starter_code": False,
            "tests": [{"name": "abc", "stdin": "abc\n", "expected_stdout": "cba\n"}]}


def open_as(driver, stack, sid: str, credentials: dict, ws: str | None = None):
    """Opens the session page with a seat already kept in this browser (as after a join)."""
    driver.get(stack.a.url + "/")
    driver.execute_script("localStorage.setItem('codeinterview:session:' + arguments[0], JSON.stringify(arguments[1]))",
                          sid, credentials)
    driver.get(f"{stack.a.url}/s/{sid}" + (f"?ws={ws}" if ws else ""))
    wait_for(lambda: view(driver) == "session" and connection(driver) == "online", message=f"{credentials['name']} online")


def read_only(driver) -> bool:
    return driver.execute_script("return window.codeInterview.editor.getOption('readOnly')") is True


def shown(driver, element_id: str) -> bool:
    found = driver.find_elements(By.ID, element_id)
    return bool(found) and found[0].is_displayed()


@pytest.fixture
def room(stack, browsers):
    created = httpx.post(stack.a.url + "/api/v1/sessions", json={"host_name": "Ivy", "session_name": "Controls",
                                                                   "code": "x = 1\n"}, timeout=5).json()
    sid, host = created["id"], created["host_token"]
    r = httpx.put(f"{stack.a.url}/api/v1/sessions/{sid}/question", json=QUESTION,
                  headers={"Authorization": f"Bearer {host}"}, timeout=5)
    assert r.status_code == 200, r.text
    joined = httpx.post(f"{stack.a.url}/api/v1/sessions/{sid}/users", json={"name": "Cal", "role": "candidate"}, timeout=5)
    assert joined.status_code in (200, 201), joined.text
    ivy, cal = browsers.new("ivy-controls"), browsers.new("cal-controls")
    open_as(ivy, stack, sid, {"participant_token": created["participant_token"], "host_token": host, "name": "Ivy"})
    open_as(cal, stack, sid, {"participant_token": joined.json()["participant_token"], "name": "Cal"},
            ws=stack.live_b().hostport)
    yield {"sid": sid, "host": host, "ivy": ivy, "cal": cal}
    browsers.close(ivy)
    browsers.close(cal)


def test_interviewer_locks_holds_hides_unlocks_and_ends(stack, room):
    ivy, cal, sid = room["ivy"], room["cal"], room["sid"]
    assert state(cal, "endpoint") == stack.live_b().hostport, "the candidate is on the other gateway"
    wait_for(lambda: shown(ivy, "room-controls"), message="the interviewer's controls bar")
    assert not shown(cal, "room-controls"), "a candidate has no controls bar"
    assert not read_only(cal) and shown(cal, "question-pane")

    ivy.find_element(By.ID, "control-editor-locked").click()
    wait_for(lambda: read_only(cal) and shown(cal, "editor-locked-banner"), message="the candidate's editor locked, with the banner")
    assert "locked the editor" in cal.find_element(By.ID, "editor-locked-banner").text
    assert not read_only(ivy), "the interviewer still edits"
    assert ivy.find_element(By.ID, "control-editor-locked").get_attribute("aria-pressed") == "true"
    save_screenshot(ivy, "controls-interviewer-locked")
    save_screenshot(cal, "controls-candidate-locked")
    # Typing into the locked editor changes nothing, here or on the server.
    type_text(cal, "# blocked")
    assert state(cal, "text") == "x = 1\n" and server_code(stack.a, sid) == "x = 1\n"

    ivy.find_element(By.ID, "control-runs-held").click()
    wait_for(lambda: cal.find_element(By.ID, "run").get_attribute("disabled") is not None, message="the candidate's Run disabled")
    ivy.find_element(By.ID, "control-question-hidden").click()
    wait_for(lambda: not shown(cal, "question-pane"), message="the candidate's question pane hidden")
    assert shown(ivy, "question-pane")
    assert ivy.find_element(By.ID, "run").get_attribute("disabled") is None, "the interviewer still runs"
    save_screenshot(cal, "controls-candidate-held-and-hidden")

    for button in ("control-editor-locked", "control-runs-held", "control-question-hidden"):
        ivy.find_element(By.ID, button).click()
    wait_for(lambda: not read_only(cal) and not shown(cal, "editor-locked-banner"), message="the candidate's editor open again")
    wait_for(lambda: shown(cal, "question-pane") and "Reverse a string" in cal.find_element(By.ID, "question-title").text,
             message="the question revealed to the candidate")
    wait_for(lambda: cal.find_element(By.ID, "run").get_attribute("disabled") is None, message="the candidate's Run back")
    type_text(cal, "# mine\n")
    wait_for(lambda: server_code(stack.a, sid).endswith("# mine\n"), message="the candidate's edit committed")
    wait_for(lambda: state(ivy, "text") == server_code(stack.a, sid), message="the interviewer has it")

    ivy.find_element(By.ID, "control-end").click()
    ivy.switch_to.alert.accept()
    wait_for(lambda: view(ivy) == "replay", message="the interviewer's page turned into the replay")
    wait_for(lambda: ivy.execute_script("const r = window.codeinterviewReplay; return !!r && r.timeline.next === null"),
             message="the replay loaded")
    wait_for(lambda: connection(cal) == "offline" and view(cal) == "replay",
             message="the candidate's page turned into the replay")
    assert read_only(cal), "the room's editor stays read-only behind it"
    save_screenshot(ivy, "controls-interviewer-replay-after-end")
    save_screenshot(cal, "controls-candidate-after-end")
    assert httpx.get(f"{stack.a.url}/api/v1/sessions/{sid}", timeout=5).status_code == 410
