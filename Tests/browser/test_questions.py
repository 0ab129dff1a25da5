"""An interviewer and a candidate with a question from the library, in separate headless Chromium
windows on two gateways (issue 15).

The operator has put questions in the library (POST /api/v1/questions with the admin token). Ada
creates the session on gateway A and picks one in her question picker; Bob, the candidate, opens
the link with his WebSocket on gateway B, sees the prompt and the starter code, runs the tests and
sees which pass; Cy, a second interviewer (the interviewer link), is on gateway B too. Only Ada and
Cy see the hidden test and the private notes, and what Ada types in the notes reaches Cy. Nothing
of the hidden test or of the notes is anywhere in Bob's page. A question whose prompt, title and
tests are HTML renders inert in all three windows.

The tests run in order and share the windows (module scope): each step builds on the last. A step
whose routes the gateway does not have yet (its OpenAPI document lacks them) is skipped, saying so.
"""

from __future__ import annotations

import time

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from harness.pages import (connection, focus_editor, notes_shown, participants, question_view, run_results,
                           save_screenshot, seed_question, server_notes, state, type_notes, type_text, view,
                           wait_converged)
from harness.waiting import wait_for

QUESTIONS = "/api/v1/questions"
SESSION_QUESTION = "/api/v1/sessions/{id}/question"
TEST_RUNS = "/api/v1/sessions/{id}/test-runs"
NOTES = "/api/v1/sessions/{id}/notes"

STARTER = "line = input()\n# print the line in capitals\nprint(line)\n"
# The hidden case: none of these three strings may reach the candidate's page.
HIDDEN_NAME = "zeta-edge-hidden"
HIDDEN_STDIN = "quokka-7-in"
HIDDEN_EXPECTED = "QUOKKA-7-IN"
SHOUT = {
    "title": "Shout it back",
    "prompt": ("Read one line and print it in **capital letters**.\n\n"
               "- the line has letters, digits and spaces\n- print exactly *one* line\n\n"
               "For example `abc` becomes `ABC`:\n\n```python\nprint(input().upper())\n```\n\n"
               "See [str.upper](https://docs.python.org/3/library/stdtypes.html#str.upper)."),
    "starter_code": {"python": STARTER},
    "tests": [
        {"name": "letters", "stdin": "abc\n", "expected_stdout": "ABC\n", "hidden": False},
        {"name": "two words", "stdin": "Hello World\n", "expected_stdout": "HELLO WORLD\n", "hidden": False},
        {"name": "digits", "stdin": "a1b2\n", "expected_stdout": "A1B2\n", "hidden": False},
        {"name": HIDDEN_NAME, "stdin": HIDDEN_STDIN + "\n", "expected_stdout": HIDDEN_EXPECTED + "\n", "hidden": True},
    ],
}
# Bob's answer: right unless the line has a space ("two words" fails, the other three pass).
ANSWER = 'line = input()\nprint(line.upper() if " " not in line else line)\n'
NOTES_TEXT = "Asked about edge cases first. notes-sentinel-8d1f"
HOSTILE = {
    "title": "<img src=x onerror=\"window.__pwned='title'\">Inert",
    "prompt": ("<script>window.__pwned = 'script'</script>\n\n"
               "<img src=x onerror=\"window.__pwned='img'\">\n\n"
               "[click me](javascript:window.__pwned='link') and [this one](https://example.com/ok)\n\n"
               "**<b onclick=\"window.__pwned='b'\">bold</b>** <iframe src=\"javascript:window.__pwned='iframe'\"></iframe>"),
    "tests": [{"name": "<svg onload=\"window.__pwned='svg'\">", "stdin": "<script>window.__pwned='stdin'</script>",
               "expected_stdout": "<img src=x onerror=\"window.__pwned='expected'\">", "hidden": False}],
}


class Room:
    id = ""
    host_token = ""
    ada = None
    bob = None
    cy = None
    shout_id = ""
    hostile_id = ""


@pytest.fixture(scope="module")
def room(stack, browsers):
    r = Room()
    r.ada = browsers.new("ada-interviewer")
    r.bob = browsers.new("bob-candidate")
    r.cy = browsers.new("cy-interviewer")
    return r


def windows(room):
    return [room.ada, room.bob, room.cy]


def need(stack, *paths):
    missing = stack.missing_routes(*paths)
    if missing:
        pytest.skip(f"the gateway has no {', '.join(missing)} yet (not in its OpenAPI document)")


def open_windows(stack, room):
    """Ada creates the session; Bob joins as the candidate and Cy as an interviewer, both on B."""
    if room.id:
        return
    ada = room.ada
    ada.get(stack.a.url + "/")
    wait_for(lambda: view(ada) == "landing", message="the landing page")
    ada.find_element(By.ID, "create-name").send_keys("Ada")
    ada.find_element(By.ID, "create-title").send_keys("Questions")
    ada.find_element(By.ID, "create-button").click()
    wait_for(lambda: view(ada) == "session" and connection(ada) == "online", message="Ada online")
    room.id = ada.find_element(By.ID, "share-link").get_attribute("value").rsplit("/", 1)[1]
    room.host_token = ada.execute_script(
        "return JSON.parse(localStorage.getItem('codeinterview:session:' + arguments[0])).host_token", room.id)
    b = stack.live_b()
    room.bob.get(f"{stack.a.url}/s/{room.id}?ws={b.hostport}")
    wait_for(lambda: view(room.bob) == "join", message="Bob's join form")
    room.bob.find_element(By.ID, "join-name").send_keys("Bob")
    Select(room.bob.find_element(By.ID, "join-role")).select_by_value("candidate")
    room.bob.find_element(By.ID, "join-button").click()
    room.cy.get(f"{stack.a.url}/s/{room.id}?ws={b.hostport}#host={room.host_token}")
    wait_for(lambda: view(room.cy) == "join", message="Cy's join form")
    room.cy.find_element(By.ID, "join-name").send_keys("Cy")
    room.cy.find_element(By.ID, "join-button").click()
    for d in windows(room):
        wait_for(lambda d=d: connection(d) == "online", message=f"{d.ci_name} online")
        wait_for(lambda d=d: {p["name"] for p in participants(d) if p["online"]} == {"Ada", "Bob", "Cy"},
                 message=f"{d.ci_name} to list all three online")
    assert state(room.bob, "endpoint") == state(room.cy, "endpoint") == b.hostport
    assert state(room.bob, "me")["role"] == "candidate" and state(room.cy, "me")["role"] == "interviewer"


def candidate_page_leaks(room) -> list[str]:
    """Whatever of the hidden test or the notes is in Bob's page (its whole DOM, hidden parts too)."""
    source = room.bob.page_source
    return [s for s in (HIDDEN_NAME, HIDDEN_STDIN, HIDDEN_EXPECTED, NOTES_TEXT, "notes-sentinel") if s in source]


def test_before_a_question_there_is_nothing_to_run(stack, room):
    open_windows(stack, room)
    for d in windows(room):
        q = question_view(d)
        assert not q["shown"] and not q["runTests"]["shown"], q
        assert "No question yet" in d.find_element(By.ID, "question-empty").text
    # The picker is the host key's: Ada's and Cy's (who joined with it), never Bob's.
    assert question_view(room.ada)["picker"] and question_view(room.cy)["picker"]
    assert not question_view(room.bob)["picker"]


def test_host_picks_a_question_from_the_library(stack, room):
    need(stack, QUESTIONS, SESSION_QUESTION)
    open_windows(stack, room)
    room.shout_id = seed_question(stack, SHOUT)
    room.hostile_id = seed_question(stack, HOSTILE)
    ada = room.ada
    ada.find_element(By.ID, "refresh-library").click()
    wait_for(lambda: {room.shout_id, room.hostile_id} <= {o.get_attribute("value") for o in
                                                          Select(ada.find_element(By.ID, "question-library")).options},
             message="both seeded questions in Ada's picker")
    option = ada.find_element(By.CSS_SELECTOR, f"#question-library option[value='{room.shout_id}']").text
    assert option.startswith("Shout it back") and "4 tests" in option and "1 hidden" in option, option
    Select(ada.find_element(By.ID, "question-library")).select_by_value(room.shout_id)
    ada.find_element(By.ID, "set-question").click()
    for d in windows(room):
        wait_for(lambda d=d: question_view(d)["title"] == "Shout it back" and question_view(d)["shown"],
                 message=f"{d.ci_name} to show the question")
    # The starter code became the document, for everyone.
    assert wait_converged(windows(room), stack.a, room.id) == STARTER


def test_candidate_sees_the_prompt_and_the_visible_tests(stack, room):
    need(stack, QUESTIONS, SESSION_QUESTION)
    q = question_view(room.bob)
    assert "Read one line and print it in capital letters." in q["prompt"]
    for html in ("<strong>capital letters</strong>", "<em>one</em>", "<code>abc</code>",
                 '<pre><code data-language="python">print(input().upper())</code></pre>',
                 '<a href="https://docs.python.org/3/library/stdtypes.html#str.upper" target="_blank" rel="noopener noreferrer nofollow">str.upper</a>'):
        assert html in q["promptHTML"], (html, q["promptHTML"])
    assert [(t["name"], t["hidden"], t["io"]) for t in q["tests"]] == [
        ("letters", False, ["abc\n", "ABC\n"]), ("two words", False, ["Hello World\n", "HELLO WORLD\n"]),
        ("digits", False, ["a1b2\n", "A1B2\n"])]
    assert q["hiddenLine"] == "1 hidden test"
    assert state(room.bob, "text") == STARTER
    assert candidate_page_leaks(room) == []


def test_interviewers_see_the_hidden_test(stack, room):
    need(stack, QUESTIONS, SESSION_QUESTION)
    for d in (room.ada, room.cy):
        q = question_view(d)
        assert [t["name"] for t in q["tests"]] == ["letters", "two words", "digits", HIDDEN_NAME], q["tests"]
        hidden = q["tests"][3]
        assert hidden["hidden"] and hidden["io"] == [HIDDEN_STDIN + "\n", HIDDEN_EXPECTED + "\n"]
        assert q["hiddenLine"] is None  # interviewers see the test itself, not a count
    # The REST view agrees: a candidate's token (and no token) gets the candidate's view.
    bob_token = room.bob.execute_script(
        "return JSON.parse(localStorage.getItem('codeinterview:session:' + arguments[0])).participant_token", room.id)
    for headers in ({"Authorization": f"Bearer {bob_token}"}, {}):
        r = httpx.get(f"{stack.a.url}/api/v1/sessions/{room.id}/question", headers=headers, timeout=5)
        assert r.status_code == 200 and HIDDEN_STDIN not in r.text and HIDDEN_EXPECTED not in r.text, r.text


def test_candidate_runs_the_tests_and_sees_which_pass(stack, room):
    need(stack, QUESTIONS, SESSION_QUESTION, TEST_RUNS)
    ok, why = stack.language_available("python")
    if not ok:
        pytest.skip(f"no runner offers python here, so the tests cannot run: {why}")
    bob = room.bob
    area = focus_editor(bob)
    area.send_keys(Keys.CONTROL, "a")
    area.send_keys(Keys.DELETE)
    type_text(bob, ANSWER, chunk=8)
    assert wait_converged(windows(room), stack.a, room.id) == ANSWER
    wait_for(lambda: not question_view(bob)["runTests"]["disabled"], message="Run tests enabled for Bob")
    bob.find_element(By.ID, "run-tests").click()
    results = {}
    for d in windows(room):
        results[d.ci_name] = wait_for(lambda d=d: (lambda r: r if r and r["total"] == 4 else None)(run_results(d)),
                                      timeout=90, message=f"{d.ci_name} to show the finished test run")
    for name, r in results.items():
        assert r["passed"] == 3 and r["summary"] == "3/4 passed", (name, r)
        assert "Bob ran the tests" in r["header"], r["header"]
        statuses = [c["status"] for c in r["cases"]]
        assert statuses == ["passed", "failed", "passed", "passed"], (name, r["cases"])
        assert all(c["time"].endswith("ms") or "ms ·" in c["time"] for c in r["cases"]), r["cases"]
        failing = r["cases"][1]
        assert failing["label"] == "two words" and failing["badge"] == "wrong output"
        # A visible failing case: what it got, what it should print, what it printed, the diff.
        assert failing["details"]["Input"] == "Hello World\n"
        assert failing["details"]["Expected output"] == "HELLO WORLD\n"
        assert failing["details"]["Actual output"] == "Hello World\n"
        assert "HELLO WORLD" in failing["details"]["Difference"] and "Hello World" in failing["details"]["Difference"]
    # Bob sees the hidden case as a number and a status only; Ada and Cy by its name.
    hidden_for_bob = results["bob-candidate"]["cases"][3]
    assert hidden_for_bob["hidden"] and hidden_for_bob["label"] == "Hidden test 1" and hidden_for_bob["name"] is None
    for name in ("ada-interviewer", "cy-interviewer"):
        hidden = results[name]["cases"][3]
        assert hidden["name"] == HIDDEN_NAME and hidden["status"] == "passed", hidden
    assert candidate_page_leaks(room) == []


def test_interviewers_see_the_hidden_cases_details_when_it_fails(stack, room):
    """A second run where the hidden case fails: the interviewers get its input and output."""
    need(stack, QUESTIONS, SESSION_QUESTION, TEST_RUNS)
    ok, why = stack.language_available("python")
    if not ok:
        pytest.skip(f"no runner offers python here: {why}")
    # Bob's code now fails every case with a dash or a digit: the hidden one among them.
    program = 'line = input()\nprint(line.upper() if line.isalpha() else line)\n'
    area = focus_editor(room.bob)
    area.send_keys(Keys.CONTROL, "a")
    area.send_keys(Keys.DELETE)
    type_text(room.bob, program, chunk=8)
    wait_converged(windows(room), stack.a, room.id)
    previous = run_results(room.ada)["id"]
    wait_for(lambda: not question_view(room.ada)["runTests"]["disabled"], message="Run tests enabled for Ada")
    room.ada.find_element(By.ID, "run-tests").click()  # an interviewer may run them too
    results = {}
    for d in windows(room):
        results[d.ci_name] = wait_for(
            lambda d=d: (lambda r: r if r and r["id"] != previous and r["total"] == 4 else None)(run_results(d)),
            timeout=90, message=f"{d.ci_name} to show the second run")
    for name in ("ada-interviewer", "cy-interviewer"):
        hidden = results[name]["cases"][3]
        assert hidden["name"] == HIDDEN_NAME and hidden["status"] == "failed", hidden
        assert hidden["details"]["Input"] == HIDDEN_STDIN + "\n"
        assert hidden["details"]["Expected output"] == HIDDEN_EXPECTED + "\n"
        assert hidden["details"]["Actual output"] == HIDDEN_STDIN + "\n"
    bob_hidden = results["bob-candidate"]["cases"][3]
    assert bob_hidden["status"] == "failed" and bob_hidden["details"] == {} and bob_hidden["label"] == "Hidden test 1"
    assert results["bob-candidate"]["passed"] == 1, results["bob-candidate"]
    assert candidate_page_leaks(room) == []


def test_a_compile_error_fails_every_case_with_one_output(stack, room):
    """In C, a program that does not compile: every case says so, the compiler's output shows
    once, on the run."""
    need(stack, QUESTIONS, SESSION_QUESTION, TEST_RUNS)
    ok, why = stack.language_available("c")
    if not ok:
        pytest.skip(f"no runner offers C here: {why}")
    Select(room.ada.find_element(By.ID, "language")).select_by_value("c")
    for d in windows(room):
        wait_for(lambda d=d: d.execute_script("return document.getElementById('language').value") == "c",
                 message=f"{d.ci_name} in C")
    area = focus_editor(room.bob)
    area.send_keys(Keys.CONTROL, "a")
    area.send_keys(Keys.DELETE)
    type_text(room.bob, "int main(void) { return missing_name; }\n", chunk=8)
    wait_converged(windows(room), stack.a, room.id)
    previous = run_results(room.bob)["id"]
    wait_for(lambda: not question_view(room.bob)["runTests"]["disabled"], message="Run tests enabled for Bob")
    room.bob.find_element(By.ID, "run-tests").click()
    for d in windows(room):
        r = wait_for(lambda d=d: (lambda r: r if r and r["id"] != previous and r["status"] != "running" else None)(run_results(d)),
                     timeout=90, message=f"{d.ci_name} to show the compile error")
        assert r["status"] == "compile_error" and r["summary"] == "Compile error: 0/4 passed", r
        assert [c["status"] for c in r["cases"]] == ["compile_error"] * 4, r["cases"]
        assert all(c["badge"] == "compile error" and c["details"] == {} for c in r["cases"]), r["cases"]
        assert "missing_name" in r["compile"], r["compile"]
        assert "C" in r["header"]
    save_screenshot(room.bob, "questions-compile-error-candidate")
    assert candidate_page_leaks(room) == []
    Select(room.ada.find_element(By.ID, "language")).select_by_value("python")
    for d in windows(room):
        wait_for(lambda d=d: d.execute_script("return document.getElementById('language').value") == "python",
                 message=f"{d.ci_name} back in Python")


def test_notes_are_for_interviewers_only(stack, room):
    need(stack, NOTES)
    open_windows(stack, room)
    for d in (room.ada, room.cy):
        wait_for(lambda d=d: notes_shown(d), message=f"{d.ci_name}'s notes pane")
    assert not notes_shown(room.bob)
    assert room.bob.execute_script("return document.querySelectorAll('#notes-editor *').length") == 0, \
        "a candidate's page has no notes editor at all"
    assert state(room.bob, "notesText") is None
    type_notes(room.ada, NOTES_TEXT)
    text = wait_converged([room.ada, room.cy], stack.a, room.id, notes_token=room.host_token)
    assert text == NOTES_TEXT
    # Cy (gateway B) answers; it reaches Ada (gateway A).
    type_notes(room.cy, "\nCy: clean code.", chunk=2)
    text = wait_converged([room.ada, room.cy], stack.a, room.id, notes_token=room.host_token)
    assert text == NOTES_TEXT + "\nCy: clean code."
    assert state(room.ada, "notesRevision") == state(room.cy, "notesRevision") > 0
    # Both type at once: the notes converge like the code.
    type_notes(room.ada, " [ada]", where="start", chunk=1)
    type_notes(room.cy, " [cy]", chunk=1)
    text = wait_converged([room.ada, room.cy], stack.a, room.id, notes_token=room.host_token)
    assert "[ada]" in text and "[cy]" in text
    # The notes are nowhere for Bob: not in his page, not for his token.
    time.sleep(0.5)  # anything misrouted would have arrived by now
    assert candidate_page_leaks(room) == []
    bob_token = room.bob.execute_script(
        "return JSON.parse(localStorage.getItem('codeinterview:session:' + arguments[0])).participant_token", room.id)
    r = httpx.get(f"{stack.a.url}/api/v1/sessions/{room.id}/notes", headers={"Authorization": f"Bearer {bob_token}"}, timeout=5)
    assert r.status_code == 403, r.text


def test_notes_survive_a_reload(stack, room):
    need(stack, NOTES)
    before = server_notes(stack.a, room.id, room.host_token)["text"]
    room.cy.refresh()
    wait_for(lambda: connection(room.cy) == "online", timeout=30, message="Cy online after reloading")
    wait_for(lambda: state(room.cy, "notesText") == before, message="Cy's notes after reloading")
    # The last test run is back too (read with Cy's token: the interviewers' view).
    last = run_results(room.ada)
    if last:
        shown = wait_for(lambda: (lambda r: r if r and r["id"] == last["id"] and r["total"] == 4 else None)(run_results(room.cy)),
                         message="Cy's last test run after reloading")
        assert shown["cases"] == last["cases"] and shown["summary"] == last["summary"]
    type_notes(room.cy, " (after reload)")
    text = wait_converged([room.ada, room.cy], stack.a, room.id, notes_token=room.host_token)
    assert text.endswith("(after reload)")
    assert candidate_page_leaks(room) == []


def test_notes_replaced_through_the_api_reach_the_editors(stack, room):
    """PUT /notes (the host token) is one revision for the open editors too; a stale revision is
    refused and changes nothing."""
    need(stack, NOTES)
    current = server_notes(stack.a, room.id, room.host_token)
    auth = {"Authorization": f"Bearer {room.host_token}"}
    url = f"{stack.a.url}/api/v1/sessions/{room.id}/notes"
    text = current["text"] + "\nfrom the API"
    r = httpx.put(url, json={"text": text, "revision": current["revision"]}, headers=auth, timeout=5)
    assert r.status_code == 200, r.text
    assert wait_converged([room.ada, room.cy], stack.a, room.id, notes_token=room.host_token) == text
    r = httpx.put(url, json={"text": "stale", "revision": current["revision"]}, headers=auth, timeout=5)
    assert r.status_code == 409, r.text
    assert wait_converged([room.ada, room.cy], stack.a, room.id, notes_token=room.host_token) == text
    assert candidate_page_leaks(room) == [] and "from the API" not in room.bob.page_source


def test_candidate_reloads(stack, room):
    """Bob's page after a reload: the question, and the last run as he may see it."""
    need(stack, QUESTIONS, SESSION_QUESTION)
    last = run_results(room.ada)
    room.bob.refresh()
    wait_for(lambda: connection(room.bob) == "online", timeout=30, message="Bob online after reloading")
    wait_for(lambda: question_view(room.bob)["title"] == "Shout it back", message="Bob's question after reloading")
    assert question_view(room.bob)["hiddenLine"] == "1 hidden test"
    if last:
        shown = wait_for(lambda: (lambda r: r if r and r["id"] == last["id"] and r["total"] == 4 else None)(run_results(room.bob)),
                         message="Bob's last test run after reloading")
        assert [c["status"] for c in shown["cases"]] == [c["status"] for c in last["cases"]]
        assert shown["cases"][3]["label"] == "Hidden test 1" and shown["cases"][3]["details"] == {}
    assert not notes_shown(room.bob)
    assert candidate_page_leaks(room) == []


def test_screenshots_of_both_sides(stack, room):
    """The artifacts: the interviewer's and the candidate's windows with the question and a run."""
    need(stack, QUESTIONS, SESSION_QUESTION)
    paths = []
    # Each window twice: the question pane at its top (the prompt and the tests), then scrolled to
    # the last test run.
    for where, script in (("question", "document.getElementById('question-pane').scrollTop = 0;"),
                          ("results", "document.querySelector('#test-run .test-run')?.scrollIntoView({block: 'start'});")):
        for d, name in ((room.ada, "interviewer"), (room.bob, "candidate"), (room.cy, "second-interviewer")):
            d.execute_script(script)
            time.sleep(0.2)
            paths.append(save_screenshot(d, f"questions-{name}-{where}"))
    for p in paths:
        assert p.stat().st_size > 10_000, f"{p} looks empty"
    assert candidate_page_leaks(room) == []


def test_a_hostile_question_renders_inert(stack, room):
    need(stack, QUESTIONS, SESSION_QUESTION)
    Select(room.ada.find_element(By.ID, "question-library")).select_by_value(room.hostile_id)
    room.ada.find_element(By.ID, "set-question").click()
    for d in windows(room):
        wait_for(lambda d=d: question_view(d)["title"] == HOSTILE["title"], message=f"{d.ci_name} to show the hostile question")
    time.sleep(0.5)  # an <img onerror> would have fired by now
    for d in windows(room):
        q = question_view(d)
        assert d.execute_script("return window.__pwned") is None, d.ci_name
        assert d.execute_script(
            "return document.querySelectorAll('#question-pane script, #question-pane img, #question-pane iframe,"
            " #question-pane svg, #question-pane b, #question-pane [onclick], #question-pane [onerror]').length") == 0
        links = d.execute_script("return [...document.querySelectorAll('#question-pane a')].map((a) => a.getAttribute('href'))")
        assert links == ["https://example.com/ok"], links
        # What was HTML is shown as the text it is.
        assert "<script>window.__pwned = 'script'</script>" in q["prompt"]
        assert '<b onclick="window.__pwned=\'b\'">bold</b>' in q["prompt"]
        assert q["tests"][0]["name"] == HOSTILE["tests"][0]["name"]
        assert q["tests"][0]["io"] == [HOSTILE["tests"][0]["stdin"], HOSTILE["tests"][0]["expected_stdout"]]
    save_screenshot(room.bob, "questions-hostile-candidate")


def test_a_question_at_the_limits_renders(stack, room):
    """The largest question the server takes (a 64 KiB prompt of every construct and of unclosed
    ones, 50 tests, a 200-byte title) renders quickly in every window, and the candidate still
    sees only the visible tests."""
    need(stack, QUESTIONS, SESSION_QUESTION)
    unit = "## Part\n\nSome *emphasis*, **strong**, `code`, [a link](https://example.com/x), *unclosed `tick [bracket\n\n- item\n1. item\n\n```\ncode\n```\n\n"
    prompt = (unit * (64 * 1024 // len(unit)))[: 64 * 1024 - 1]
    big = {"title": "T" * 200, "prompt": prompt,
           "tests": [{"name": f"case {i:02d}", "stdin": f"{i}\n" * 20, "expected_stdout": f"{i * 2}\n",
                      "hidden": i >= 40} for i in range(50)]}
    big_id = seed_question(stack, big)
    room.ada.find_element(By.ID, "refresh-library").click()
    wait_for(lambda: room.ada.find_elements(By.CSS_SELECTOR, f"#question-library option[value='{big_id}']"),
             message="the big question in the picker")
    Select(room.ada.find_element(By.ID, "question-library")).select_by_value(big_id)
    room.ada.find_element(By.ID, "set-question").click()
    for d in windows(room):
        q = wait_for(lambda d=d: (lambda q: q if q["title"] == "T" * 200 else None)(question_view(d)),
                     message=f"{d.ci_name} to show the big question")
        assert len(q["tests"]) == (40 if d is room.bob else 50), d.ci_name
        assert q["prompt"].count("Some emphasis, strong, code, a link") == prompt.count("Some *emphasis*")
    assert question_view(room.bob)["hiddenLine"] == "10 hidden tests"
    assert "case 40" not in room.bob.page_source and "case 49" not in room.bob.page_source


def test_clearing_the_question(stack, room):
    need(stack, QUESTIONS, SESSION_QUESTION)
    room.ada.find_element(By.ID, "clear-question").click()
    room.ada.switch_to.alert.accept()
    for d in windows(room):
        wait_for(lambda d=d: not question_view(d)["shown"] and not question_view(d)["runTests"]["shown"],
                 message=f"{d.ci_name} without a question")
    r = httpx.get(f"{stack.a.url}/api/v1/sessions/{room.id}/question", timeout=5)
    assert r.status_code == 404, r.text
