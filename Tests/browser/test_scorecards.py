"""The interviewer's scorecard panel (issue 22, part 3) in headless Chromium, on two gateways.

Ada creates the session on gateway A; Bob (candidate) and Cy (a second interviewer, with the
interviewer link) are on gateway B. Ada and Cy get the scorecard panel (collapsed during the
interview), Bob never does. Ada submits first: Cy learns that she did (the private channel's
`scorecard-submitted`), not what, until Cy submits too; then each sees the other's. When the host
ends the interview the panel opens. Screenshots: Tests/browser/artifacts/scorecard-*.png.
"""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from harness.pages import connection, participants, save_screenshot, state, view
from harness.waiting import wait_for

SCORECARDS = "/api/v1/sessions/{id}/scorecards/mine"
ADA_TEXT = "Ada: clear reasoning, sentinel-ada-41"
CY_TEXT = "Cy: solid tests, sentinel-cy-77"


class Room:
    id = ""
    host_token = ""
    ada = None
    bob = None
    cy = None


@pytest.fixture(scope="module")
def room(stack, browsers):
    if stack.missing_routes(SCORECARDS):
        pytest.skip("the gateway has no scorecard routes (not in its OpenAPI document)")
    r = Room()
    r.ada = browsers.new("ada-scorecard")
    r.bob = browsers.new("bob-scorecard")
    r.cy = browsers.new("cy-scorecard")
    ada = r.ada
    ada.get(stack.a.url + "/")
    wait_for(lambda: view(ada) == "landing", message="the landing page")
    ada.find_element(By.ID, "create-name").send_keys("Ada")
    ada.find_element(By.ID, "create-title").send_keys("Scorecards")
    ada.find_element(By.ID, "create-button").click()
    wait_for(lambda: view(ada) == "session" and connection(ada) == "online", message="Ada online")
    r.id = ada.find_element(By.ID, "share-link").get_attribute("value").rsplit("/", 1)[1]
    r.host_token = ada.execute_script(
        "return JSON.parse(localStorage.getItem('codeinterview:session:' + arguments[0])).host_token", r.id)
    b = stack.live_b()
    r.bob.get(f"{stack.a.url}/s/{r.id}?ws={b.hostport}")
    wait_for(lambda: view(r.bob) == "join", message="Bob's join form")
    r.bob.find_element(By.ID, "join-name").send_keys("Bob")
    Select(r.bob.find_element(By.ID, "join-role")).select_by_value("candidate")
    r.bob.find_element(By.ID, "join-button").click()
    r.cy.get(f"{stack.a.url}/s/{r.id}?ws={b.hostport}#host={r.host_token}")
    wait_for(lambda: view(r.cy) == "join", message="Cy's join form")
    r.cy.find_element(By.ID, "join-name").send_keys("Cy")
    r.cy.find_element(By.ID, "join-button").click()
    for d in (r.ada, r.bob, r.cy):
        wait_for(lambda d=d: connection(d) == "online", message=f"{d.ci_name} online")
        wait_for(lambda d=d: {p["name"] for p in participants(d) if p["online"]} == {"Ada", "Bob", "Cy"},
                 message=f"{d.ci_name} to list all three online")
    assert state(r.cy, "me")["role"] == "interviewer" and state(r.bob, "me")["role"] == "candidate"
    return r


def panel_shown(d) -> bool:
    return d.execute_script("const s = document.getElementById('scorecard-section'); return !!s && !s.hidden")


def panel_text(d) -> str:
    return d.execute_script("return document.getElementById('scorecard-body').textContent")


def fill_and_submit(d, recommendation: str, rating: int, text: str):
    d.execute_script("document.getElementById('scorecard-section').open = true")
    wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#scorecard-body .criterion"), message=f"{d.ci_name}'s rubric")
    d.find_element(By.CSS_SELECTOR, f"#scorecard-body button.rec-{recommendation}").click()
    # Each click redraws the panel: find every button afresh.
    ids = [e.get_attribute("data-criterion") for e in d.find_elements(By.CSS_SELECTOR, "#scorecard-body .criterion")]
    for criterion in ids:
        d.find_element(By.CSS_SELECTOR, f"#scorecard-body .criterion[data-criterion='{criterion}'] "
                                        f"button.rating[data-value='{rating}']").click()
    box = d.find_element(By.ID, "scorecard-text")
    box.send_keys(text)
    d.find_element(By.ID, "scorecard-submit").click()
    wait_for(lambda: panel_text(d).startswith("Submitted"), message=f"{d.ci_name}'s scorecard submitted")


def test_interviewers_get_the_panel_and_the_candidate_never_does(room):
    wait_for(lambda: panel_shown(room.ada) and panel_shown(room.cy), message="the panel on both interviewers' pages")
    assert not panel_shown(room.bob)
    names = [e.get_attribute("textContent") for e in room.ada.find_elements(By.CSS_SELECTOR, "#scorecard-body .criterion-name")]
    assert names == ["Problem solving", "Code quality", "Communication", "Testing"], names
    assert room.bob.execute_script("return document.getElementById('scorecard-body').children.length") == 0


def test_each_sees_the_other_only_after_submitting(room):
    fill_and_submit(room.ada, "strong_yes", 4, ADA_TEXT)
    wait_for(lambda: "Ada submitted" in panel_text(room.cy), message="Cy to learn that Ada submitted")
    assert "sentinel-ada" not in room.cy.page_source, "Cy sees nothing of Ada's before submitting"
    fill_and_submit(room.cy, "yes", 3, CY_TEXT)
    wait_for(lambda: ADA_TEXT in panel_text(room.cy), message="Cy to see Ada's scorecard")
    wait_for(lambda: CY_TEXT in panel_text(room.ada), message="Ada to see Cy's scorecard")
    for secret in ("sentinel-ada", "sentinel-cy"):
        assert secret not in room.bob.page_source
    save_screenshot(room.cy, "scorecard-cy-after-both-submitted")


def test_the_panel_opens_when_the_interview_ends(stack, room):
    r = httpx.patch(f"{stack.a.url}/api/v1/sessions/{room.id}", json={"status": "completed"},
                    headers={"Authorization": f"Bearer {room.host_token}"}, timeout=5)
    assert r.status_code == 200, r.text
    wait_for(lambda: room.ada.execute_script("return document.getElementById('scorecard-section').open"),
             message="the panel open on Ada's page")
    wait_for(lambda: CY_TEXT in panel_text(room.ada), message="the others' scorecards in the open panel")
    room.ada.execute_script("document.getElementById('scorecard-section').scrollIntoView()")
    save_screenshot(room.ada, "scorecard-panel")
    assert not panel_shown(room.bob)
    for secret in ("sentinel-ada", "sentinel-cy"):
        assert secret not in room.bob.page_source


def test_after_the_end_a_reload_still_gives_interviewers_the_panel_and_the_candidate_none(stack, room):
    for d in (room.cy, room.bob):
        d.refresh()
    wait_for(lambda: panel_shown(room.cy) and ADA_TEXT in panel_text(room.cy),
             message="Cy's panel, with Ada's scorecard, after a reload of the ended interview")
    assert room.cy.find_element(By.ID, "scorecard-text").get_attribute("value") == CY_TEXT, "her own, as submitted"
    assert panel_text(room.cy).startswith("Submitted")
    assert room.cy.execute_script("return document.getElementById('scorecard-section').open")
    save_screenshot(room.cy, "scorecard-after-reload")
    # Bob's page asked nothing it may not have: no panel, nothing of the scorecards.
    assert not panel_shown(room.bob)
    for secret in ("sentinel-ada", "sentinel-cy"):
        assert secret not in room.bob.page_source
