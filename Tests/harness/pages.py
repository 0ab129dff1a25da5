"""What the browser tests do with the page: find things, type, wait."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from harness import REPO
from harness.rest import get_code, get_notes
from harness.waiting import Timeout, wait_for

# Screenshots (git-ignored).
ARTIFACTS = REPO / "Tests" / "browser" / "artifacts"


def save_screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def state(driver, name: str):
    """A field of window.codeInterview (text, revision, synchronized, connection, endpoint, me)."""
    return driver.execute_script(f"return window.codeInterview ? window.codeInterview[{name!r}] : null")


def connection(driver) -> str:
    return driver.execute_script("return document.body.dataset.connection")


def view(driver) -> str:
    return driver.execute_script("return document.body.dataset.view")


def editor_textarea(driver):
    return driver.find_element(By.CSS_SELECTOR, "#editor .CodeMirror textarea")


def focus_editor(driver, where: str = "end"):
    """Puts the caret at the document's end or start, by keyboard, and returns the input element."""
    driver.find_element(By.CSS_SELECTOR, "#editor .CodeMirror-scroll").click()
    area = editor_textarea(driver)
    area.send_keys(Keys.CONTROL, Keys.END if where == "end" else Keys.HOME)
    return area


def type_text(driver, text: str, where: str = "end", chunk: int = 1, pause: float = 0.0):
    """Types into CodeMirror with real key events (send_keys), `chunk` characters at a time."""
    area = focus_editor(driver, where)
    for i in range(0, len(text), chunk):
        area.send_keys(text[i:i + chunk])
        if pause:
            time.sleep(pause)


def participants(driver) -> list[dict]:
    return driver.execute_script("""
        return [...document.querySelectorAll('#participants .participant')].map(li => ({
            id: li.dataset.userId, name: li.querySelector('.name').textContent,
            online: li.classList.contains('online'), presence: li.querySelector('.presence').textContent}));
    """)


def remote_cursors(driver) -> list[dict]:
    return driver.execute_script("""
        return [...document.querySelectorAll('#editor .remote-cursor')].map(c => ({
            user: c.dataset.userId, color: c.dataset.color, label: c.textContent,
            border: getComputedStyle(c).borderLeftColor}));
    """)


def server_code(gateway, session_id: str) -> str:
    return get_code(gateway, session_id)["code"]


def wait_converged(drivers, gateway, session_id: str, timeout: float = 30, notes_token: str | None = None) -> str:
    """Until every window has sent everything and shows the text GET /code answers; with
    `notes_token`, the same for the private notes and GET /notes (read with that token)."""
    text_field, synced_field = ("notesText", "notesSynchronized") if notes_token else ("text", "synchronized")
    snapshot = {}

    def converged():
        snapshot.clear()
        for d in drivers:
            snapshot[d.ci_name] = (state(d, text_field), state(d, synced_field), connection(d))
        windows = [snapshot[d.ci_name] for d in drivers]
        # Ask the server only once the windows agree (the API is rate limited per address).
        if not all(synced and conn == "online" and text == windows[0][0] for text, synced, conn in windows):
            return False
        snapshot["server"] = server_notes(gateway, session_id, notes_token)["text"] if notes_token else server_code(gateway, session_id)
        return windows[0][0] == snapshot["server"]

    what = "notes editor to equal GET /notes" if notes_token else "editor to equal GET /code"
    try:
        wait_for(converged, timeout=timeout, interval=0.2, message=f"every {what}")
    except Timeout as e:
        raise Timeout(f"{e}\n" + "\n".join(f"  {k}: {v!r}" for k, v in snapshot.items())) from None
    return snapshot["server"]


def hex_to_rgb(color: str) -> str:
    h = color.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return f"rgb({int(h[0:2], 16)}, {int(h[2:4], 16)}, {int(h[4:6], 16)})"


# -- The question panel, test runs and notes (web/question.js, the notes pane) -------------------


def seed_question(stack, question: dict) -> str:
    """Adds a question to the library as the operator does (admin token); returns its id."""
    r = httpx.post(f"{stack.a.url}/api/v1/questions", json=question,
                   headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def question_view(driver) -> dict:
    """What the question panel shows: title, prompt, the listed tests and the hidden-tests line."""
    return driver.execute_script("""
        const text = (sel, root = document) => { const e = root.querySelector(sel); return e ? e.textContent : null; };
        const shown = (id) => { const e = document.getElementById(id); return Boolean(e && !e.hidden && e.offsetParent); };
        return {
          shown: shown('question'),
          title: text('#question-title'),
          prompt: text('#question-prompt'),
          promptHTML: document.getElementById('question-prompt').innerHTML,
          tests: [...document.querySelectorAll('#question-tests .test')].map((li) => ({
            name: li.dataset.name, hidden: li.classList.contains('hidden-test'),
            io: [...li.querySelectorAll('.io pre')].map((p) => p.textContent)})),
          hiddenLine: shown('hidden-tests') ? text('#hidden-tests') : null,
          runTests: {shown: shown('run-tests'), disabled: document.getElementById('run-tests').disabled},
          picker: shown('question-picker'),
        };
    """)


def run_results(driver) -> dict | None:
    """The test run shown: its status, summary and cases (label, status, details by label)."""
    return driver.execute_script("""
        const root = document.querySelector('#test-run .test-run');
        if (!root) return null;
        return {
          id: root.dataset.runId, status: root.dataset.status,
          passed: root.dataset.passed === undefined ? null : Number(root.dataset.passed),
          total: root.dataset.total === undefined ? null : Number(root.dataset.total),
          header: root.querySelector('.test-run-header').textContent,
          summary: root.querySelector('.test-run-summary').textContent,
          compile: root.querySelector('.compile-output').hidden ? null : root.querySelector('.compile-output').textContent,
          cases: [...root.querySelectorAll('.test-case')].map((li) => ({
            name: li.dataset.name ?? null, hidden: li.dataset.hidden === 'true', status: li.dataset.status,
            label: li.querySelector('.case-name').textContent, badge: li.querySelector('.badge').textContent,
            time: li.querySelector('.case-time').textContent,
            details: Object.fromEntries([...li.querySelectorAll('.case-details .io')].map((io) =>
              [io.querySelector('.io-label').textContent, io.querySelector('pre').textContent]))})),
        };
    """)


def notes_shown(driver) -> bool:
    return driver.execute_script(
        "const s = document.getElementById('notes-section'); return Boolean(s && !s.hidden && s.offsetParent);")


def type_notes(driver, text: str, where: str = "end", chunk: int = 3):
    """Types into the notes editor with real key events."""
    driver.find_element(By.CSS_SELECTOR, "#notes-editor .CodeMirror-scroll").click()
    area = driver.find_element(By.CSS_SELECTOR, "#notes-editor .CodeMirror textarea")
    area.send_keys(Keys.CONTROL, Keys.END if where == "end" else Keys.HOME)
    for i in range(0, len(text), chunk):
        area.send_keys(text[i:i + chunk])


def server_notes(gateway, session_id: str, token: str) -> dict:
    r = get_notes(gateway, session_id, token)
    assert r.status_code == 200, r.text
    return r.json()

