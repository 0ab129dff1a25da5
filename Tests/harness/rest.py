"""REST clients (httpx) for a gateway: anything with a `url` (a Gateway, a Cluster's balancer)."""

from __future__ import annotations

import httpx


def create_session(gw, **body) -> dict:
    body.setdefault("session_name", "e2e")
    body.setdefault("initial_language", "python")
    return post_session(gw.url, body)


def post_session(url: str, body: dict, timeout: float = 5) -> dict:
    """POST /api/v1/sessions with `body` as it is; the created session (asserts 201)."""
    r = httpx.post(url + "/api/v1/sessions", json=body, timeout=timeout)
    assert r.status_code == 201, r.text
    return r.json()


def get_session(gw, sid: str) -> httpx.Response:
    return httpx.get(f"{gw.url}/api/v1/sessions/{sid}", timeout=5)


def get_code(gw, sid: str) -> dict:
    r = httpx.get(f"{gw.url}/api/v1/sessions/{sid}/code", timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def get_users(gw, sid: str) -> list:
    r = httpx.get(f"{gw.url}/api/v1/sessions/{sid}/users", timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["participants"]


def health(gw) -> int:
    return httpx.get(gw.url + "/health", timeout=5).status_code


def bearer(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def get_notes(gw, sid: str, token: str | None) -> httpx.Response:
    """GET the interviewers' notes (the answer as it is: callers check the status)."""
    return httpx.get(f"{gw.url}/api/v1/sessions/{sid}/notes", headers=bearer(token), timeout=5)


def put_notes(gw, sid: str, token: str | None, text, revision=None, **extra) -> httpx.Response:
    body = {"text": text, **extra}
    if revision is not None:
        body["revision"] = revision
    return httpx.put(f"{gw.url}/api/v1/sessions/{sid}/notes", json=body, headers=bearer(token), timeout=5)
