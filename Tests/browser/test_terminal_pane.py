"""The shared terminal pane in headless Chromium (issue 23, item 5): the interviewer (gateway A)
runs a Python `input()` program interactively, types into the xterm.js pane, and the candidate's
pane (gateway B) shows the same output; the candidate's pane is read-only with a note saying who
may type until the interviewer opens it to everyone. Screenshots in Tests/browser/artifacts/.
"""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By

from harness.pages import connection, save_screenshot, state, view
from harness.waiting import wait_for

PROGRAM = 'name = input("name? ")\nprint("Hello, " + name + "!")\nagain = input("more? ")\nprint("bye " + again)\n'


def open_as(driver, stack, sid: str, credentials: dict, ws: str | None = None):
    driver.get(stack.a.url + "/")
    driver.execute_script("localStorage.setItem('codeinterview:session:' + arguments[0], JSON.stringify(arguments[1]))",
                          sid, credentials)
    driver.get(f"{stack.a.url}/s/{sid}" + (f"?ws={ws}" if ws else ""))
    wait_for(lambda: view(driver) == "session" and connection(driver) == "online", message=f"{credentials['name']} online")


def pane_text(driver) -> str:
    return driver.execute_script("return window.codeInterview.terminalText") or ""


def type_into_pane(driver, text: str):
    driver.find_element(By.CSS_SELECTOR, "#terminal .xterm-helper-textarea").send_keys(text)


@pytest.fixture
def room(stack, browsers):
    created = httpx.post(stack.a.url + "/api/v1/sessions", json={"host_name": "Ivy", "session_name": "Terminal",
                                                                   "initial_language": "python"}, timeout=5).json()
    sid = created["id"]
    # The program as an edit (revision 1): the replay's timeline has something to place the runs after.
    r = httpx.post(f"{stack.a.url}/api/v1/sessions/{sid}/code", json={"code": PROGRAM},
                   headers={"Authorization": f"Bearer {created['host_token']}"}, timeout=5)
    assert r.status_code == 200, r.text
    joined = httpx.post(f"{stack.a.url}/api/v1/sessions/{sid}/users", json={"name": "Cal", "role": "candidate"}, timeout=5)
    assert joined.status_code in (200, 201), joined.text
    ivy, cal = browsers.new("ivy-terminal"), browsers.new("cal-terminal")
    open_as(ivy, stack, sid, {"participant_token": created["participant_token"], "host_token": created["host_token"],
                              "name": "Ivy"})
    open_as(cal, stack, sid, {"participant_token": joined.json()["participant_token"], "name": "Cal"},
            ws=stack.live_b().hostport)
    yield {"sid": sid, "ivy": ivy, "cal": cal, "host": created["host_token"]}
    browsers.close(ivy)
    browsers.close(cal)


def test_xterm_is_served_bundled_from_debian(stack):
    script = httpx.get(stack.a.url + "/vendor/xterm/xterm.js", timeout=5)
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "window.Terminal = Terminal" in script.text and 'define("public/Terminal"' in script.text
    assert ".test" not in "".join(line for line in script.text.splitlines() if line.startswith("define("))
    style = httpx.get(stack.a.url + "/vendor/xterm/xterm.css", timeout=5)
    assert style.status_code == 200 and ".xterm" in style.text
    assert httpx.get(stack.a.url + "/vendor/xterm/addons/fit/fit.js", timeout=5).status_code == 404


def test_input_program_typed_in_one_pane_shows_in_both(stack, room):
    ivy, cal = room["ivy"], room["cal"]
    assert state(cal, "endpoint") == stack.live_b().hostport, "the candidate is on the other gateway"
    assert ivy.execute_script("return window.codeInterview.terminalAvailable") is True
    wait_for(lambda: state(ivy, "text") == PROGRAM, message="the program in the editor")

    ivy.find_element(By.CSS_SELECTOR, "#run-mode option[value='interactive']").click()
    ivy.find_element(By.ID, "run").click()
    for driver in (ivy, cal):
        wait_for(lambda: "name?" in pane_text(driver), timeout=30, message="the prompt on both panes")
        assert driver.find_element(By.ID, "terminal-section").is_displayed()
        assert not driver.find_element(By.ID, "output").is_displayed(), "the pane replaces the output box"
    assert "only Ivy may type" in cal.find_element(By.ID, "terminal-who").text
    assert cal.execute_script("return window.codeInterview.terminalRun.mayType") is False
    assert ivy.execute_script("return window.codeInterview.terminalRun.mayType") is True

    type_into_pane(ivy, "Ada\n")
    for driver in (ivy, cal):
        wait_for(lambda: "Hello, Ada!" in pane_text(driver) and "more?" in pane_text(driver), timeout=20,
                 message="the answer on both panes")
    wait_for(lambda: "Ivy is typing" in cal.find_element(By.ID, "terminal-typing").text, message="who is typing")
    save_screenshot(cal, "terminal-candidate-read-only")

    # The candidate's keys go nowhere while the pane is read-only.
    type_into_pane(cal, "nope\n")
    # Opened to everyone: the candidate answers the second question.
    ivy.find_element(By.ID, "terminal-open").click()
    wait_for(lambda: cal.execute_script("return window.codeInterview.terminalRun.mayType") is True,
             message="the candidate may type once opened")
    assert "Everyone may type" in cal.find_element(By.ID, "terminal-who").text
    type_into_pane(cal, "Cal\n")
    for driver in (ivy, cal):
        wait_for(lambda: "bye Cal" in pane_text(driver), timeout=20, message="the candidate's answer on both panes")
        wait_for(lambda: driver.execute_script("return window.codeInterview.terminalRun.done") is True, timeout=20,
                 message="the run ended")
        assert "nope" not in pane_text(driver), "nothing the read-only pane took reached the program"
        assert "ok" in driver.find_element(By.ID, "terminal-status").text
    lines = [line for line in pane_text(ivy).splitlines() if line.strip()]
    assert lines == [line for line in pane_text(cal).splitlines() if line.strip()], "the same terminal in both rooms"
    save_screenshot(ivy, "terminal-interviewer")
    save_screenshot(cal, "terminal-candidate")

    # A plain run afterwards brings the output box back.
    ivy.find_element(By.CSS_SELECTOR, "#run-mode option[value='']").click()
    ivy.find_element(By.ID, "stdin").send_keys("Bo\nx\n")
    ivy.find_element(By.ID, "run").click()
    wait_for(lambda: "Hello, Bo!" in cal.find_element(By.ID, "output").text, timeout=30, message="a plain run in the box")
    assert not cal.find_element(By.ID, "terminal-section").is_displayed()

    # The replay shows the terminal as it was at the playhead, the typing marked.
    job = ivy.execute_script("return window.codeInterview.terminalRun.id")
    ivy.get(f"{stack.a.url}/s/{room['sid']}/replay#host={room['host']}")
    wait_for(lambda: ivy.execute_script("const r = window.codeinterviewReplay; return !!r && r.timeline.next === null"),
             message="the replay loaded")
    indexes = ivy.execute_script("""
        return window.codeinterviewReplay.timeline.events.map((e, i) => [i, e.type, e.run_id || null, e.data || ""])
            .filter((e) => e[2] === arguments[0]);""", job)
    first_input = next(i for i, kind, _, _ in indexes if kind == "terminal-input")
    last_output = max(i for i, kind, _, _ in indexes if kind == "terminal-output")
    ivy.execute_script("window.codeinterviewReplay.seekToEvent(arguments[0])", first_input - 1)
    wait_for(lambda: "name?" in ivy.find_element(By.ID, "replay-output").text, message="the prompt at the playhead")
    assert "Hello, Ada!" not in ivy.find_element(By.ID, "replay-output").text, "nothing after the playhead"
    ivy.execute_script("window.codeinterviewReplay.seekToEvent(arguments[0])", last_output)
    wait_for(lambda: "bye Cal" in ivy.find_element(By.ID, "replay-output").text, message="the whole terminal at its end")
    assert "Hello, Ada!" in ivy.find_element(By.ID, "replay-output").text
    assert ivy.find_elements(By.CSS_SELECTOR, "#replay-output .replay-typed"), "where someone typed"
    save_screenshot(ivy, "terminal-replay")


def test_without_xterm_the_page_works_and_shows_the_run_in_the_output_box(stack, browsers):
    """A gateway without node-xterm and libjs-xterm starts, answers 404 for them, and its page
    falls back to the plain output box (no interactive choice next to Run)."""
    from harness import REPO
    from harness.ports import free_port

    bare = stack._add(stack._gateway("gw-no-xterm", ["--web-root", str(REPO / "web"), "--xterm-root=/nonexistent/xterm",
                                                     "--xterm-style-root=/nonexistent/xterm", *stack.shared_flags],
                                     free_port()))
    try:
        for path in ("/vendor/xterm/xterm.js", "/vendor/xterm/xterm.css"):
            r = httpx.get(bare.url + path, timeout=5)
            assert r.status_code == 404 and "xterm" in r.json()["detail"], r.text
        created = httpx.post(bare.url + "/api/v1/sessions", json={"host_name": "Ivy", "initial_language": "python",
                                                                   "code": PROGRAM}, timeout=5).json()
        sid = created["id"]
        page = browsers.new("ivy-no-xterm")
        try:
            page.get(bare.url + "/")
            page.execute_script("localStorage.setItem('codeinterview:session:' + arguments[0], JSON.stringify(arguments[1]))",
                                sid, {"participant_token": created["participant_token"], "name": "Ivy"})
            page.get(f"{bare.url}/s/{sid}")
            wait_for(lambda: view(page) == "session" and connection(page) == "online", message="online without xterm")
            assert page.execute_script("return window.codeInterview.terminalAvailable") is False
            assert not page.find_element(By.ID, "run-mode").is_displayed()
            r = httpx.post(f"{bare.url}/api/v1/sessions/{sid}/execute", json={"interactive": True, "wait": False},
                           headers={"Authorization": f"Bearer {created['participant_token']}"}, timeout=5)
            assert r.status_code == 202, r.text
            wait_for(lambda: "name?" in page.find_element(By.ID, "output").text, timeout=30,
                     message="the interactive run's output in the plain box")
            save_screenshot(page, "terminal-fallback-output-box")
        finally:
            browsers.close(page)
    finally:
        bare.stop()
