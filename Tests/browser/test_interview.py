"""Two people interview each other in two headless Chromium windows, on two gateways.

Ada opens gateway A's page and creates the session; Bob opens the shared link, also served by
gateway A, with `?ws=B,C`: his WebSocket goes to gateway B and, after a drop, to the next address
on the list. That is what a load balancer in front of the gateways does for a real browser (the
page and the API come from one stable address; the socket lands on some gateway and, after a drop,
on another); the query parameter makes the choice explicit, so the test knows which window to
break. C is B's replacement: nothing listens on its port until the test has killed B and watched
Bob's page say it is reconnecting while both people keep typing; then C starts and Bob's page
gets there by itself (retrying with backoff), catches up and sends what he typed meanwhile.

The tests run in order and share the two windows (module scope): each step builds on the last.
"""

from __future__ import annotations

import json
import re
import threading
import time

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from harness.pages import (connection, editor_textarea, focus_editor, hex_to_rgb, participants, remote_cursors,
                           save_screenshot, state, type_text, view, wait_converged)
from harness.waiting import wait_for


class Interview:
    id: str = ""
    ada = None
    bob = None
    ada_id = ""
    bob_id = ""


@pytest.fixture(scope="module")
def iv(stack, browsers):
    it = Interview()
    it.ada = browsers.new("ada")
    it.bob = browsers.new("bob")
    return it


def both(iv):
    return [iv.ada, iv.bob]


def check_no_lost_edits(iv):
    """No window had to drop its pending edits; what it had to work around is printed (pytest -s)."""
    for d in both(iv):
        messages = [l["message"] for l in d.get_log("browser") if "codeinterview:" in l["message"]]
        for m in messages:
            print(f"[{d.ci_name}] {m}")
        dropped = [m for m in messages if "dropping pending edits" in m or "disagree" in m]
        assert not dropped, f"{d.ci_name} lost edits: {dropped}"


def test_create_session_shows_shareable_link(stack, iv):
    ada = iv.ada
    ada.get(stack.a.url + "/")
    wait_for(lambda: view(ada) == "landing", message="the landing page")
    wait_for(lambda: len(Select(ada.find_element(By.ID, "create-language")).options) == 8, message="the language list")
    ada.find_element(By.ID, "create-name").send_keys("Ada")
    ada.find_element(By.ID, "create-title").send_keys("Browser interview")
    ada.find_element(By.ID, "create-button").click()
    wait_for(lambda: view(ada) == "session" and connection(ada) == "online", message="Ada online in the session")
    link = ada.find_element(By.ID, "share-link").get_attribute("value")
    m = re.fullmatch(re.escape(stack.a.url) + r"/s/([A-Za-z0-9_-]{22})", link)
    assert m, f"the share link {link!r} should be {stack.a.url}/s/<id>"
    iv.id = m.group(1)
    assert ada.current_url.startswith(f"{stack.a.url}/s/{iv.id}")
    iv.ada_id = state(ada, "me")["id"]
    assert ada.find_element(By.ID, "session-title").text == "Browser interview"
    # The creator is the interviewer: the host-only controls are there.
    assert ada.find_element(By.ID, "end-session").is_displayed()


def test_join_from_link_on_another_gateway(stack, iv):
    bob = iv.bob
    bob.get(f"{stack.a.url}/s/{iv.id}?ws={stack.b.hostport},127.0.0.1:{stack.port_c}")
    wait_for(lambda: view(bob) == "join", message="the join form")
    wait_for(lambda: bob.find_element(By.ID, "join-title").text == "Browser interview", message="the session's name on the join form")
    bob.find_element(By.ID, "join-name").send_keys("Bob")
    Select(bob.find_element(By.ID, "join-role")).select_by_value("candidate")
    bob.find_element(By.ID, "join-button").click()
    wait_for(lambda: connection(bob) == "online", message="Bob online")
    assert state(bob, "endpoint") == stack.b.hostport, "Bob's WebSocket is on gateway B"
    # The link to share is the page's server's, not the WebSocket gateway's.
    wait_for(lambda: bob.find_element(By.ID, "share-link").get_attribute("value") == f"{stack.a.url}/s/{iv.id}",
             message="Bob's share link on the page's own address")
    assert state(iv.ada, "endpoint") == stack.a.hostport, "Ada's WebSocket is on gateway A"
    iv.bob_id = state(bob, "me")["id"]
    for d in both(iv):
        wait_for(lambda d=d: {(p["name"], p["online"]) for p in participants(d)} == {("Ada", True), ("Bob", True)},
                 message=f"{d.ci_name} to list Ada and Bob online")
    # Both start from the same document: the Python template.
    wait_converged(both(iv), stack.a, iv.id)


def test_concurrent_typing_converges(stack, iv):
    ada_lines = "".join(f"ada_{i} = {i}\n" for i in range(6))
    bob_lines = "".join(f"# bob {i}\n" for i in range(6))
    errors = []

    def typist(driver, text, where):
        try:
            type_text(driver, text, where=where, chunk=3)
        except Exception as e:  # reported below
            errors.append((driver.ci_name, e))

    threads = [threading.Thread(target=typist, args=(iv.ada, ada_lines, "end")),
               threading.Thread(target=typist, args=(iv.bob, bob_lines, "start"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    text = wait_converged(both(iv), stack.a, iv.id)
    for i in range(6):
        assert f"ada_{i} = {i}" in text
        assert f"# bob {i}" in text

    # Both typing at the same spot (the end) at once: ties must break the same way everywhere.
    threads = [threading.Thread(target=typist, args=(iv.ada, "A" * 12, "end")),
               threading.Thread(target=typist, args=(iv.bob, "B" * 12, "end"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    text = wait_converged(both(iv), stack.a, iv.id)
    assert text.count("A") >= 12 and text.count("B") >= 12
    check_no_lost_edits(iv)


def test_each_sees_the_others_cursor_and_selection(stack, iv):
    users = {u["id"]: u for u in httpx.get(f"{stack.a.url}/api/v1/sessions/{iv.id}/users", timeout=5).json()["participants"]}
    # Move each caret so a cursor message goes out.
    focus_editor(iv.ada, "start")
    editor_textarea(iv.ada).send_keys(Keys.ARROW_DOWN, Keys.END)
    focus_editor(iv.bob, "end")
    for me, other, other_id in ((iv.ada, iv.bob, iv.bob_id), (iv.bob, iv.ada, iv.ada_id)):
        color = users[other_id]["color"]
        cursor = wait_for(lambda: next((c for c in remote_cursors(me) if c["user"] == other_id), None),
                          message=f"{other.ci_name}'s cursor in {me.ci_name}'s editor")
        assert cursor["color"] == color
        assert cursor["border"] == hex_to_rgb(color), "the cursor is drawn in the participant's color"
        assert cursor["label"] == users[other_id]["name"]
        assert not any(c["user"] == state(me, "me")["id"] for c in remote_cursors(me)), "no cursor for oneself"

    # Bob selects the first line: Ada sees the selection in Bob's color.
    area = focus_editor(iv.bob, "start")
    area.send_keys(Keys.SHIFT, Keys.END)
    bob_color = users[iv.bob_id]["color"]
    marked = wait_for(lambda: iv.ada.execute_script(
        "const m = document.querySelector('#editor .remote-selection[data-user-id=\"' + arguments[0] + '\"]');"
        "return m && getComputedStyle(m).backgroundColor;", iv.bob_id), message="Bob's selection in Ada's editor")
    r, g, b = (int(x) for x in re.findall(r"\d+", hex_to_rgb(bob_color))[:3])
    assert marked.startswith(f"rgba({r}, {g}, {b}"), marked
    editor_textarea(iv.bob).send_keys(Keys.CONTROL, Keys.END)


def test_language_change_reaches_everyone(stack, iv):
    Select(iv.ada.find_element(By.ID, "language")).select_by_value("javascript")
    for d in both(iv):
        wait_for(lambda d=d: d.execute_script(
            "return document.getElementById('language').value === 'javascript'"
            " && window.codeInterview.editor.getOption('mode') === 'javascript'"), message=f"{d.ci_name} in JavaScript mode")
    assert httpx.get(f"{stack.a.url}/api/v1/sessions/{iv.id}", timeout=5).json()["language"] == "javascript"
    # Languages without a runner: the picker says so, and Run is off with the reason on screen.
    languages = {l["id"]: l for l in httpx.get(f"{stack.a.url}/api/v1/languages", timeout=5).json()["languages"]}
    if languages["javascript"]["available"]:
        pytest.fail("the runner was started with --languages python,c; javascript should have no runner")
    for d in both(iv):
        wait_for(lambda d=d: d.find_element(By.ID, "run").get_attribute("disabled") is not None
                 and "no runner offers JavaScript" in d.find_element(By.ID, "run-availability").text,
                 message=f"{d.ci_name}: Run disabled for JavaScript")
        option = d.find_element(By.CSS_SELECTOR, "#language option[value=go]").text
        assert option.endswith("(no runner)"), option
    Select(iv.bob.find_element(By.ID, "language")).select_by_value("python")
    for d in both(iv):
        wait_for(lambda d=d: d.execute_script("return window.codeInterview.editor.getOption('mode') === 'python'"),
                 message=f"{d.ci_name} back in Python mode")


def run_python_and_check(stack, iv, who, stdin: str, marker: str):
    """Replaces the document with a small program (as a user would: select all, type), runs it."""
    ok, why = stack.language_available("python")
    if not ok:
        pytest.skip(f"no runner offers python here, so Run cannot be tested: {why}")
    program = f'name = input()\nprint("{marker}", name[::-1])\nprint(sum(range(10)))\n'
    area = focus_editor(who)
    area.send_keys(Keys.CONTROL, "a")
    area.send_keys(Keys.DELETE)
    # Typed with real keys; CodeMirror's auto-indent does nothing here (no ':' lines).
    type_text(who, program, chunk=8)
    wait_converged(both(iv), stack.a, iv.id)
    stdin_box = who.find_element(By.ID, "stdin")
    stdin_box.clear()
    stdin_box.send_keys(stdin)
    for d in both(iv):
        wait_for(lambda d=d: d.find_element(By.ID, "run").get_attribute("disabled") is None, message=f"{d.ci_name}: Run enabled")
    # The run shown last before this one (if any): the new one must come after it.
    before = {d.ci_name: d.execute_script(
        "const runs = document.querySelectorAll('#output .run'); return runs.length ? runs[runs.length - 1].dataset.jobId : null;")
        for d in both(iv)}
    who.find_element(By.ID, "run").click()
    expected = f"{marker} {stdin[::-1]}\n45"
    for d in both(iv):
        block = wait_for(lambda d=d: d.execute_script("""
            const runs = [...document.querySelectorAll('#output .run')];
            const last = runs[runs.length - 1];
            return last && last.dataset.status && last.dataset.jobId !== arguments[0] ? {status: last.dataset.status,
                body: last.querySelector('.run-body').textContent, header: last.querySelector('.run-header').textContent,
                line: last.querySelector('.run-status').textContent} : null;""", before[d.ci_name]),
            timeout=60, message=f"{d.ci_name} to show the run's result")
        assert block["status"] == "ok", block
        assert block["body"].strip() == expected, block
        assert who.ci_name.capitalize() in block["header"], block


def test_run_python_everyone_sees_output(stack, iv):
    run_python_and_check(stack, iv, iv.bob, "stressed", "reversed:")


def test_astral_characters_count_as_one(stack, iv):
    """An emoji is 2 UTF-16 units in the browser but 1 scalar on the wire: positions must agree."""
    # ChromeDriver cannot type characters outside the BMP, so Ada pastes them through CodeMirror's
    # API (which raises the same change events as typing); Bob then types after them with keys.
    iv.ada.execute_script("""
        const cm = window.codeInterview.editor;
        cm.replaceRange('# 😀 emoji 👩‍💻 line\\n', {line: 0, ch: 0});""")
    wait_converged(both(iv), stack.a, iv.id)
    area = focus_editor(iv.bob, "start")
    area.send_keys(Keys.END)  # after the emoji on the first line
    area.send_keys(" ok")
    iv.ada.execute_script("""
        const cm = window.codeInterview.editor;
        cm.replaceRange('🎉', {line: 0, ch: 2});""")  # between "# " and "😀"
    text = wait_converged(both(iv), stack.a, iv.id)
    assert text.startswith("# 🎉😀 emoji 👩‍💻 line ok\n"), text.splitlines()[0]


STRESS = """
// Edits for `seconds`, and on until `minEdits` are made (a loaded machine throttles the page's
// timers: time alone once gave 15 edits), but never past `capSeconds`.
const [seconds, alphabet, seed0, minEdits, capSeconds] = arguments;
window.__stress = {done: false, edits: 0, error: null};
(async () => {
  const { scalarCount, utf16Index } = await import('/static/ot.js');
  const cm = window.codeInterview.editor;
  let seed = seed0;
  const rnd = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
  const end = Date.now() + seconds * 1000, cap = Date.now() + capSeconds * 1000;
  while (Date.now() < end || (window.__stress.edits < minEdits && Date.now() < cap)) {
    const text = cm.getValue();
    const length = scalarCount(text);
    const at = rnd(length + 1);
    const removed = Math.min(length - at, rnd(4) === 0 ? rnd(4) : 0);
    let inserted = '';
    for (let i = rnd(4); i > 0; i--) inserted += alphabet[rnd(alphabet.length)];
    const from = cm.posFromIndex(utf16Index(text, at));
    const to = cm.posFromIndex(utf16Index(text, at + removed));
    cm.replaceRange(inserted, from, to, '+input');
    window.__stress.edits++;
    await new Promise((r) => setTimeout(r, 5 + rnd(25)));
  }
})().catch((e) => { window.__stress.error = String(e); }).finally(() => { window.__stress.done = true; });
"""


def hammer(url: str, seconds: float, counts: dict):
    """A third participant (a plain WebSocket client) inserting at the start as fast as its edits
    are acknowledged: it keeps the windows' edits racing with others' all the time, so the
    gateways' delivery order gets tested too."""
    from websockets.sync.client import connect

    with connect(url) as ws:
        ws.send(json.dumps({"type": "join", "data": {"name": "Hammer"}}))
        revision = None
        while revision is None:
            m = json.loads(ws.recv(timeout=10))
            if m["type"] == "welcome":
                revision, length = m["data"]["revision"], len(m["data"]["code"])
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            # "~" at 0, retaining the rest (an op made at our revision, on its text's length).
            ws.send(json.dumps({"type": "op", "data": {"revision": revision, "ops": ["~", length] if length else ["~"]}}))
            counts["sent"] += 1
            while True:
                m = json.loads(ws.recv(timeout=10))
                if m["type"] == "op":
                    revision = max(revision, m["data"]["revision"])
                    for c in m["data"]["ops"]:
                        length += len(c) if isinstance(c, str) else min(c, 0)
                elif m["type"] == "ack":
                    revision = max(revision, m["data"]["revision"])
                    length += 1
                    break
                elif m["type"] == "error":
                    counts["errors"] = counts.get("errors", 0) + 1
                    break
            time.sleep(0.012)  # under the default 100 messages/s per connection
        ws.send(json.dumps({"type": "leave", "data": {}}))


def test_random_concurrent_edits_converge(stack, iv):
    """Both windows edit at random places at once for a few seconds (inserts with emoji, deletes)
    while a third participant inserts as fast as it can: every transform path runs, acks and
    others' operations race, and both windows must end on the server's text."""
    alphabet = ["a", "b", "Z", " ", "\n", "é", "中", "😀", "🎉", "👩‍💻"]
    counts = {"sent": 0}
    pytest.importorskip("websockets.sync.client")
    third = threading.Thread(target=hammer, args=(f"ws://{stack.a.hostport}/ws/sessions/{iv.id}", 4, counts))
    third.start()
    for seed, d in ((7, iv.ada), (11, iv.bob)):
        d.execute_script(STRESS, 4, alphabet, seed, 40, 25)
    third.join(60)
    assert counts["sent"] > 50, counts
    for d in both(iv):
        result = wait_for(lambda d=d: (lambda r: r if r and r["done"] else None)(d.execute_script("return window.__stress")),
                          timeout=30, message=f"{d.ci_name}'s random edits to finish")
        assert result["error"] is None, result
        assert result["edits"] > 20, result
    text = wait_converged(both(iv), stack.a, iv.id, timeout=60)
    assert "😀" in text or "🎉" in text or "👩" in text
    check_no_lost_edits(iv)
    for d in both(iv):
        wait_for(lambda d=d: not any(p["name"] == "Hammer" and p["online"] for p in participants(d)), message="Hammer gone")


def test_gateway_killed_window_recovers(stack, iv):
    """kill -9 of Bob's gateway: his page says it is reconnecting; both keep typing; when a gateway
    answers at his next address again, his page rejoins, catches up on Ada's edits and sends his."""
    wait_converged(both(iv), stack.a, iv.id)
    revision_before = state(iv.bob, "revision")
    stack.b.kill9()
    killed_at = time.monotonic()
    wait_for(lambda: connection(iv.bob) == "reconnecting", timeout=10, interval=0.02,
             message="Bob's page to show it is reconnecting")
    assert iv.bob.find_element(By.ID, "connection").text.startswith("reconnecting")
    banner = iv.bob.find_element(By.ID, "reconnecting")
    assert banner.is_displayed() and "Reconnecting" in banner.text, banner.text
    # Both keep typing: Bob's edits wait in his page, Ada's are committed (Bob misses them).
    type_text(iv.bob, "# typed while reconnecting\n", where="end", chunk=4)
    type_text(iv.ada, "# Ada meanwhile\n", where="start", chunk=4)
    wait_for(lambda: state(iv.ada, "synchronized"), message="Ada's edits committed")
    assert state(iv.bob, "synchronized") is False, "Bob's edits are pending"
    assert connection(iv.bob) == "reconnecting"
    save_screenshot(iv.bob, "bob-reconnecting")
    save_screenshot(iv.ada, "ada-while-bob-reconnects")

    c = stack.start_c()
    wait_for(lambda: connection(iv.bob) == "online", timeout=30, message="Bob back online")
    assert state(iv.bob, "endpoint") == c.hostport, "Bob is now on gateway C"
    text = wait_converged(both(iv), stack.a, iv.id)
    assert "# typed while reconnecting" in text and "# Ada meanwhile" in text
    assert text.count("# typed while reconnecting") == 1 and text.count("# Ada meanwhile") == 1, text
    assert state(iv.bob, "revision") > revision_before
    assert not iv.bob.find_element(By.ID, "reconnecting").is_displayed()

    # The survivors notice the dead gateway within ~8 s and take its connections offline; Bob has
    # a live connection on C by then, so he must stay online (no user-left for him reaches Ada).
    time.sleep(max(0.0, killed_at + 10 - time.monotonic()))
    for d in both(iv):
        wait_for(lambda d=d: {(p["name"], p["online"]) for p in participants(d)} == {("Ada", True), ("Bob", True)},
                 timeout=5, message=f"{d.ci_name} to list both online after the sweep")


def test_edits_after_recovery_converge(stack, iv):
    errors = []

    def typist(driver, text, where):
        try:
            type_text(driver, text, where=where, chunk=2)
        except Exception as e:
            errors.append((driver.ci_name, e))

    threads = [threading.Thread(target=typist, args=(iv.ada, "# ada after\n", "start")),
               threading.Thread(target=typist, args=(iv.bob, "# bob after\n", "end"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    text = wait_converged(both(iv), stack.a, iv.id)
    assert "# ada after" in text and "# bob after" in text
    check_no_lost_edits(iv)


def test_reload_rejoins_as_the_same_person(stack, iv):
    before = state(iv.bob, "me")["id"]
    iv.bob.refresh()
    wait_for(lambda: connection(iv.bob) == "online", timeout=30, message="Bob online after reloading")
    assert state(iv.bob, "me")["id"] == before, "the stored participant token rejoined the same participant"
    users = httpx.get(f"{stack.a.url}/api/v1/sessions/{iv.id}/users", timeout=5).json()["participants"]
    assert sorted(u["name"] for u in users) == ["Ada", "Bob"], "no second Bob"
    wait_converged(both(iv), stack.a, iv.id)


def test_names_from_users_are_text_not_html(stack, iv):
    """A participant whose name is HTML: shown literally in the list and on the cursor label."""
    websockets = pytest.importorskip("websockets.sync.client")
    evil = '<img src=x onerror="window.__pwned=1">'
    with websockets.connect(f"ws://{stack.a.hostport}/ws/sessions/{iv.id}") as ws:
        ws.send(json.dumps({"type": "join", "data": {"name": evil}}))
        welcome = json.loads(ws.recv(timeout=10))
        assert welcome["type"] == "welcome", welcome
        ws.send(json.dumps({"type": "cursor-position", "data": {"position": 0, "revision": welcome["data"]["revision"]}}))
        for d in both(iv):
            wait_for(lambda d=d: any(p["name"] == evil for p in participants(d)), message=f"{d.ci_name} to list the new participant")
            wait_for(lambda d=d: any(c["label"] == evil for c in remote_cursors(d)), message=f"{d.ci_name} to show the cursor label")
            assert d.execute_script("return document.querySelectorAll('#participants img, #editor .remote-cursor img').length") == 0
            assert d.execute_script("return window.__pwned === undefined")
        ws.send(json.dumps({"type": "leave", "data": {}}))
    for d in both(iv):
        wait_for(lambda d=d: not any(p["name"] == evil and p["online"] for p in participants(d)), message="the visitor gone")


def test_screenshots_show_two_synchronized_editors(stack, iv):
    """The artifacts: both windows after a last run, with the same code, cursors and output."""
    run_python_and_check(stack, iv, iv.ada, "interview", "done:")
    focus_editor(iv.ada, "start")
    editor_textarea(iv.ada).send_keys(Keys.ARROW_DOWN)
    focus_editor(iv.bob, "end")
    text = wait_converged(both(iv), stack.a, iv.id)
    for d, other in ((iv.ada, iv.bob_id), (iv.bob, iv.ada_id)):
        wait_for(lambda d=d, other=other: any(c["user"] == other for c in remote_cursors(d)), message=f"{d.ci_name} shows the other's cursor")
    time.sleep(0.3)  # let the last cursor paint
    paths = [save_screenshot(d, f"{d.ci_name}-final") for d in both(iv)]
    for p in paths:
        assert p.stat().st_size > 10_000, f"{p} looks empty"
    assert state(iv.ada, "text") == state(iv.bob, "text") == text


def test_co_interviewer_joins_with_the_interviewer_link(stack, iv, browsers):
    """The interviewer link carries the host key in its fragment (never sent to the server by the
    browser): the join form offers the interviewer role with the key filled in."""
    host_token = iv.ada.execute_script(
        "return JSON.parse(localStorage.getItem('codeinterview:session:' + arguments[0])).host_token", iv.id)
    assert host_token
    cy = browsers.new("cy")
    cy.get(f"{stack.a.url}/s/{iv.id}#host={host_token}")
    wait_for(lambda: view(cy) == "join", message="Cy's join form")
    assert Select(cy.find_element(By.ID, "join-role")).first_selected_option.get_attribute("value") == "interviewer"
    assert cy.find_element(By.ID, "join-host-token").get_attribute("value") == host_token
    assert "#" not in cy.current_url, "the key is taken out of the address bar"
    cy.find_element(By.ID, "join-name").send_keys("Cy")
    cy.find_element(By.ID, "join-button").click()
    wait_for(lambda: connection(cy) == "online", message="Cy online")
    assert state(cy, "me")["role"] == "interviewer"
    assert state(cy, "text") == state(iv.ada, "text")
    wait_for(lambda: any(p["name"] == "Cy" and p["online"] for p in participants(iv.bob)), message="Bob sees Cy")
    browsers.close(cy)
    # Closing the window only goes offline; the seat stays.
    wait_for(lambda: any(p["name"] == "Cy" and not p["online"] for p in participants(iv.bob)), message="Bob sees Cy offline")


def test_ending_the_session_reaches_everyone(stack, iv):
    iv.ada.find_element(By.ID, "end-session").click()
    iv.ada.switch_to.alert.accept()  # "End this interview for everyone?"
    for d in both(iv):
        wait_for(lambda d=d: connection(d) == "offline" and "has ended" in d.find_element(By.ID, "notice").text,
                 message=f"{d.ci_name} to show the interview has ended")
        assert d.execute_script("return window.codeInterview.editor.getOption('readOnly')") is True
        assert d.find_element(By.ID, "run").get_attribute("disabled") is not None
    assert httpx.get(f"{stack.a.url}/api/v1/sessions/{iv.id}", timeout=5).status_code == 410
