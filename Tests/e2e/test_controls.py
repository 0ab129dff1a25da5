"""Room controls (issue 22, part 2): an interviewer locks the editor, holds back runs, hides the
question, ends the interview. The controls are session fields changed by one script (control.lua)
and enforced by the scripts that commit ops and start runs, so every gateway refuses alike.

Every test runs over two gateways of one Redis: the control is set on one, the candidate acts on the
other. Refusals are checked to change nothing (the document on both gateways, the controls).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from harness.rest import bearer, create_session
from harness.ws import WS, ServerError, run

http = httpx.Client(timeout=10)
CODE = "x = 1\n"


def controls(gw, sid, token, body=None, raw=None, headers=None) -> httpx.Response:
    h = dict(bearer(token))
    if headers:
        h.update(headers)
    if raw is not None:
        return http.patch(f"{gw.url}/api/v1/sessions/{sid}/controls", content=raw, headers=h)
    return http.patch(f"{gw.url}/api/v1/sessions/{sid}/controls", json=body, headers=h)


def state(gw, sid) -> dict:
    r = http.get(f"{gw.url}/api/v1/sessions/{sid}")
    assert r.status_code == 200, r.text
    return r.json()["controls"]


def code(gw, sid) -> dict:
    r = http.get(f"{gw.url}/api/v1/sessions/{sid}/code")
    assert r.status_code == 200, r.text
    return r.json()


def history_types(gw, sid) -> list[str]:
    r = http.get(f"{gw.url}/api/v1/sessions/{sid}/history")
    assert r.status_code == 200, r.text
    body = r.json()
    events = body["events"] if isinstance(body, dict) else body
    return [e["type"] for e in events]


def new_session(cluster):
    created = create_session(cluster[0], host_name="Host", code=CODE)
    return created["id"], created["host_token"], created["participant_token"]


def add_candidate(gw, sid, name="Cat") -> str:
    r = http.post(f"{gw.url}/api/v1/sessions/{sid}/users", json={"name": name, "role": "candidate"})
    assert r.status_code in (200, 201), r.text
    return r.json()["participant_token"]


def problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["detail"], body
    return body


async def joined(gw, sid, name, **join) -> WS:
    ws = await WS.open(gw, sid)
    await ws.join(name=name, **join)
    return ws


def insert_op(revision: int, text: str, length: int) -> dict:
    return {"revision": revision, "ops": [text, length]}


OFF = {"editor_locked": False, "runs_held": False, "question_hidden": False}


def test_a_locked_editor_refuses_candidates_on_every_gateway_and_lets_interviewers_edit(cluster):
    sid, host, _ = new_session(cluster)
    assert state(cluster[0], sid) == OFF

    async def main():
        interviewer = await joined(cluster[0], sid, "Ivy", role="interviewer", host_token=host)
        candidate = await joined(cluster[1], sid, "Cal")
        other = await joined(cluster[0], sid, "Cat")
        r = controls(cluster[0], sid, host, {"editor_locked": True})
        assert r.status_code == 200, r.text
        assert r.json()["editor_locked"] is True and r.json()["changed"] == ["editor_locked"], r.json()
        # Every member hears it, on both gateways, with the whole state and who changed it.
        for ws in (interviewer, candidate, other):
            frame = (await ws.expect("session-controls"))["data"]
            assert frame["editor_locked"] is True and frame["runs_held"] is False, frame
            assert frame["by_host"] is True and frame["changed"] == ["editor_locked"], frame
        before = code(cluster[1], sid)

        # The candidate's op on the other gateway is refused, the document unchanged on both.
        await candidate.send("op", insert_op(before["revision"], "# hi\n", len(CODE)))
        error = await candidate.error()
        assert error["code"] == "editor_locked" and "locked" in error["detail"], error
        await other.send("op", insert_op(before["revision"], "# no\n", len(CODE)))
        assert (await other.error())["code"] == "editor_locked"
        await candidate.send("language-change", {"language": "javascript"})
        assert (await candidate.error())["code"] == "editor_locked"
        await candidate.send("code-update", {"code": "rewritten\n"})
        assert (await candidate.error())["code"] == "editor_locked"
        for gw in cluster.gateways[:2]:
            assert code(gw, sid) == before

        # REST: a candidate's token and no token are refused as well; the host's is not.
        cand_token = candidate.welcome["participant_token"]
        for token in (cand_token, None):
            r = http.patch(f"{cluster[1].url}/api/v1/sessions/{sid}", json={"code": "nope\n"}, headers=bearer(token))
            assert problem(r, 403)["code"] == "editor_locked", r.text
            r = http.post(f"{cluster[1].url}/api/v1/sessions/{sid}/code", json={"code": "nope\n"}, headers=bearer(token))
            assert problem(r, 403)["code"] == "editor_locked", r.text
        assert code(cluster[0], sid) == before

        # The interviewer still edits while locked.
        await interviewer.send("op", insert_op(before["revision"], "# ok\n", len(CODE)))
        ack = await interviewer.expect("ack")
        assert ack["data"]["revision"] == before["revision"] + 1
        op = await candidate.expect("op")
        assert op["data"]["revision"] == before["revision"] + 1
        assert code(cluster[1], sid)["code"] == "# ok\n" + CODE

        # Unlocked: the candidate's op (made against the current revision) commits.
        r = controls(cluster[1], sid, host, {"editor_locked": False})
        assert r.status_code == 200 and r.json()["editor_locked"] is False, r.text
        await candidate.expect("session-controls", where=lambda d: d["editor_locked"] is False)
        await candidate.send("op", insert_op(before["revision"] + 1, "y", len(CODE) + 5))
        assert (await candidate.expect("ack"))["data"]["revision"] == before["revision"] + 2
        assert code(cluster[0], sid)["code"] == "y# ok\n" + CODE

        for ws in (interviewer, candidate, other):
            await ws.close()

    run(main())
    types = history_types(cluster[0], sid)
    assert types.count("controls_changed") == 2, types


def test_setting_what_is_set_changes_nothing_and_publishes_nothing(cluster):
    sid, host, _ = new_session(cluster)

    async def main():
        candidate = await joined(cluster[1], sid, "Cal")
        r = controls(cluster[0], sid, host, {"runs_held": False, "editor_locked": False})
        assert r.status_code == 200 and r.json()["changed"] == [], r.text
        await candidate.expect_none("session-controls", within=0.5)
        await candidate.close()

    run(main())
    assert "controls_changed" not in history_types(cluster[0], sid)


def test_held_runs_are_refused_for_candidates_and_not_for_interviewers(cluster):
    sid, host, interviewer_token = new_session(cluster)
    cand = add_candidate(cluster[1], sid)
    r = controls(cluster[0], sid, interviewer_token, {"runs_held": True})
    assert r.status_code == 200 and r.json()["runs_held"] is True, r.text
    for token in (cand, None):
        for path, body in (("execute", {}), ("test-runs", {})):
            r = http.post(f"{cluster[1].url}/api/v1/sessions/{sid}/{path}", json=body, headers=bearer(token))
            assert problem(r, 403)["code"] == "runs_held", (path, r.text)
    # An interviewer's run passes the hold (no runner here: it stops at the runner check, or at the
    # missing question for a test run; never at runs_held).
    for token in (host, interviewer_token):
        r = http.post(f"{cluster[1].url}/api/v1/sessions/{sid}/execute", json={}, headers=bearer(token))
        assert r.status_code != 403, r.text
    r = controls(cluster[1], sid, host, {"runs_held": False})
    assert r.status_code == 200, r.text
    r = http.post(f"{cluster[0].url}/api/v1/sessions/{sid}/execute", json={}, headers=bearer(cand))
    assert r.status_code != 403, r.text


QUESTION = {"title": "Sum two numbers", "prompt": "Add them.", "tests": [
    {"name": "small", "stdin": "1 2\n", "expected_stdout": "3\n"},
    {"name": "secret", "stdin": "5 5\n", "expected_stdout": "10\n", "hidden": True}]}


def test_a_hidden_question_reaches_no_candidate_until_revealed(cluster):
    sid, host, interviewer_token = new_session(cluster)
    r = http.put(f"{cluster[0].url}/api/v1/sessions/{sid}/question", json={**QUESTION, "load_starter_code": False},
                 headers=bearer(host))
    assert r.status_code == 200, r.text
    cand = add_candidate(cluster[1], sid)

    async def main():
        early = await joined(cluster[1], sid, "Early")
        assert early.welcome["question"]["title"] == "Sum two numbers"
        r = controls(cluster[0], sid, host, {"question_hidden": True})
        assert r.status_code == 200 and r.json()["question_hidden"] is True, r.text
        gone = await early.expect("question-changed")
        assert gone["data"]["question"] is None, gone

        # A candidate joining now, over REST, and by a test run sees no question at all.
        late = await WS.open(cluster[1], sid)
        welcome = await late.join(participant_token=cand)
        assert welcome["question"] is None and welcome["controls"]["question_hidden"] is True, welcome
        r = http.get(f"{cluster[1].url}/api/v1/sessions/{sid}/question", headers=bearer(cand))
        assert r.status_code == 404, r.text
        r = http.get(f"{cluster[1].url}/api/v1/sessions/{sid}/question")
        assert r.status_code == 404, r.text
        # Interviewers still see it whole.
        r = http.get(f"{cluster[0].url}/api/v1/sessions/{sid}/question", headers=bearer(interviewer_token))
        assert r.status_code == 200 and len(r.json()["tests"]) == 2, r.text
        interviewer = await joined(cluster[0], sid, "Ivy", role="interviewer", host_token=host)
        assert interviewer.welcome["question"]["title"] == "Sum two numbers"

        # Set again while hidden: candidates get none, interviewers the new one.
        r = http.put(f"{cluster[0].url}/api/v1/sessions/{sid}/question",
                     json={**QUESTION, "title": "Sum three", "load_starter_code": False}, headers=bearer(host))
        assert r.status_code == 200, r.text
        changed = await late.expect("question-changed")
        assert changed["data"]["question"] is None, changed
        changed = await interviewer.expect("question-changed")
        assert changed["data"]["question"]["title"] == "Sum three", changed

        # Revealed: the frame says so, and the question reads again.
        r = controls(cluster[1], sid, host, {"question_hidden": False})
        assert r.status_code == 200, r.text
        frame = await late.expect("session-controls")
        assert frame["data"]["question_hidden"] is False
        r = http.get(f"{cluster[1].url}/api/v1/sessions/{sid}/question", headers=bearer(cand))
        assert r.status_code == 200 and r.json()["title"] == "Sum three", r.text
        assert len(r.json()["tests"]) == 1, "the hidden test stays hidden"
        for ws in (early, late, interviewer):
            assert "Sum" not in str([m for m in ws.log if m["type"] == "question-changed" and ws is not interviewer
                                     and m["data"]["question"] is not None])
            await ws.close()

    run(main())


def test_candidates_cannot_change_the_controls(cluster):
    sid, host, _ = new_session(cluster)
    cand = add_candidate(cluster[0], sid)
    r = controls(cluster[1], sid, cand, {"editor_locked": True})
    assert "interviewers" in problem(r, 403)["detail"]
    r = controls(cluster[1], sid, cand, {"end": True})
    problem(r, 403)
    r = controls(cluster[1], sid, None, {"editor_locked": True})
    problem(r, 401)
    r = controls(cluster[1], sid, "not-a-token-of-this-session", {"editor_locked": True})
    problem(r, 403)

    async def main():
        candidate = await joined(cluster[1], sid, "Cal")
        await candidate.send("control", {"editor_locked": True})
        error = await candidate.error()
        assert error["code"] == "forbidden" and error["request_type"] == "control", error
        await candidate.send("control", {"end": True})
        assert (await candidate.error())["code"] == "forbidden"
        await candidate.close()

    run(main())
    assert state(cluster[0], sid) == OFF
    assert "controls_changed" not in history_types(cluster[0], sid)
    assert http.get(f"{cluster[0].url}/api/v1/sessions/{sid}").json()["status"] == "active"


@pytest.mark.parametrize("raw, status, field", [
    ("not json", 400, None),
    ("[]", 400, None),
    ("{}", 422, "body"),
    ('{"editor_locked": "yes"}', 422, "editor_locked"),
    ('{"editor_locked": 1}', 422, "editor_locked"),
    ('{"runs_held": null}', 422, "runs_held"),
    ('{"locked": true}', 422, "locked"),
    ('{"end": false}', 422, "end"),
    ('{"end": "now"}', 422, "end"),
    ('{"end": true, "editor_locked": true}', 422, "end"),
    ('{"editor_locked": true, "question_hidden": "x"}', 422, "question_hidden"),
])
def test_malformed_control_bodies_are_refused_and_change_nothing(cluster, raw, status, field):
    sid, host, _ = new_session(cluster)
    r = controls(cluster[0], sid, host, raw=raw.encode(), headers={"Content-Type": "application/json"})
    body = problem(r, status)
    if field:
        assert body.get("field") == field, body
    assert state(cluster[1], sid) == OFF
    assert http.get(f"{cluster[1].url}/api/v1/sessions/{sid}").json()["status"] == "active"
    assert "controls_changed" not in history_types(cluster[0], sid)


def test_malformed_control_messages_get_an_error_and_change_nothing(cluster):
    sid, host, _ = new_session(cluster)

    async def main():
        interviewer = await joined(cluster[0], sid, "Ivy", role="interviewer", host_token=host)
        for data in ({}, {"editor_locked": "yes"}, {"bogus": True}, {"end": False}, {"end": True, "runs_held": True}):
            await interviewer.send("control", data)
            error = await interviewer.error()
            assert error["code"] == "invalid" and error["request_type"] == "control", (data, error)
        await interviewer.close()

    run(main())
    assert state(cluster[0], sid) == OFF


def test_ending_over_the_websocket_makes_the_room_read_only_for_everyone(cluster):
    sid, host, _ = new_session(cluster)

    async def main():
        interviewer = await joined(cluster[0], sid, "Ivy", role="interviewer", host_token=host)
        candidate = await joined(cluster[1], sid, "Cal")
        revision = interviewer.welcome["revision"]
        await interviewer.send("control", {"runs_held": True, "request_id": "r1"})
        result = await interviewer.expect("control-result")
        assert result["data"]["runs_held"] is True and result["data"]["request_id"] == "r1", result
        frame = (await candidate.expect("session-controls"))["data"]
        assert frame["runs_held"] is True and frame["user_id"] == interviewer.welcome["you"]["id"], frame
        assert frame["name"] == "Ivy", frame

        await interviewer.send("control", {"end": True})
        for ws in (interviewer, candidate):
            await ws.expect("session-ended")
        # The gateways close every socket of the ended room; an op racing the end is refused
        # (session_ended) by the commit script, and a new connection cannot join.
        for ws in (interviewer, candidate):
            assert await ws.closed_code() == 1000
        for gw in cluster.gateways[:2]:
            late = await WS.open(gw, sid)
            with pytest.raises(ServerError) as refused:
                await late.join(participant_token=candidate.welcome["participant_token"])
            assert refused.value.message["data"]["code"] == "session_ended", refused.value.message

    run(main())
    r = http.post(f"{cluster[1].url}/api/v1/sessions/{sid}/execute", json={}, headers=bearer(host))
    assert r.status_code == 410, r.text
    r = controls(cluster[1], sid, host, {"editor_locked": True})
    problem(r, 410)
    r = controls(cluster[1], sid, host, {"end": True})
    problem(r, 410)
    r = http.patch(f"{cluster[0].url}/api/v1/sessions/{sid}", json={"code": "late\n"}, headers=bearer(host))
    problem(r, 410)


def test_an_interviewer_ends_over_rest_the_same_way_as_patch_status(cluster):
    sid, host, interviewer_token = new_session(cluster)

    async def main():
        candidate = await joined(cluster[1], sid, "Cal")
        r = controls(cluster[0], sid, interviewer_token, {"end": True})
        assert r.status_code == 200 and r.json()["status"] == "completed", r.text
        await candidate.expect("session-ended")
        await candidate.close()

    run(main())
    for gw in cluster.gateways[:2]:
        r = http.get(f"{gw.url}/api/v1/sessions/{sid}")
        assert r.status_code == 410 and "ended" in r.json()["detail"], r.text


def test_controls_are_on_the_timeline(cluster):
    sid, host, interviewer_token = new_session(cluster)
    for body in ({"editor_locked": True}, {"question_hidden": True, "runs_held": True}, {"editor_locked": False}):
        assert controls(cluster[0], sid, interviewer_token, body).status_code == 200
    # The timeline pages by revision: an edit after the changes places them.
    r = http.post(f"{cluster[1].url}/api/v1/sessions/{sid}/code", json={"code": "x = 2\n"}, headers=bearer(host))
    assert r.status_code == 200, r.text
    r = http.get(f"{cluster[1].url}/api/v1/sessions/{sid}/timeline", params={"after_revision": 0},
                 headers=bearer(interviewer_token))
    assert r.status_code == 200, r.text
    events = [e for e in r.json()["events"] if e["type"] == "controls_changed"]
    assert [e["changed"] for e in events] == [["editor_locked"], ["runs_held", "question_hidden"], ["editor_locked"]], events
    assert events[1]["runs_held"] is True and events[1]["question_hidden"] is True and events[1]["editor_locked"] is True
    assert all(e["name"] == "Host" and e["user_id"] for e in events), events
