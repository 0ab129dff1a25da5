"""The gateway serves the web client and CodeMirror: types, validators, HEAD, 404s, no escape."""

from __future__ import annotations

import socket

import httpx
import pytest

from harness import REPO


def raw_get(gateway, target: str) -> tuple[int, bytes]:
    """A request with the target exactly as written (no client-side normalization of '..')."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


@pytest.mark.parametrize("path,ctype", [
    ("/", "text/html; charset=utf-8"),
    ("/s/AAAAAAAAAAAAAAAAAAAAAA", "text/html; charset=utf-8"),
    ("/static/app.js", "text/javascript; charset=utf-8"),
    ("/static/ot.js", "text/javascript; charset=utf-8"),
    ("/static/editor.js", "text/javascript; charset=utf-8"),
    ("/static/question.js", "text/javascript; charset=utf-8"),
    ("/static/markdown.js", "text/javascript; charset=utf-8"),
    ("/static/styles.css", "text/css; charset=utf-8"),
    ("/vendor/codemirror/lib/codemirror.js", "text/javascript; charset=utf-8"),
    ("/vendor/codemirror/lib/codemirror.css", "text/css; charset=utf-8"),
    ("/vendor/codemirror/mode/python/python.js", "text/javascript; charset=utf-8"),
    ("/vendor/codemirror/mode/clike/clike.js", "text/javascript; charset=utf-8"),
    ("/vendor/xterm/xterm.js", "text/javascript; charset=utf-8"),
    ("/vendor/xterm/xterm.css", "text/css; charset=utf-8"),
])
def test_files_are_served_with_their_type(stack, path, ctype):
    for gw in (stack.a, stack.live_b()):
        r = httpx.get(gw.url + path, timeout=5)
        assert r.status_code == 200, (gw.node_id, path, r.text[:200])
        assert r.headers["content-type"] == ctype
        assert r.headers["etag"].startswith('"') and r.headers["last-modified"].endswith("GMT")
        assert "cache-control" in r.headers
        assert r.headers["x-content-type-options"] == "nosniff"


def test_page_is_the_repository_index_on_both_gateways(stack):
    index = (REPO / "web" / "index.html").read_bytes()
    for gw in (stack.a, stack.live_b()):  # A found web/ by itself; B was given --web-root
        assert httpx.get(gw.url + "/", timeout=5).content == index
    page = httpx.get(stack.a.url + "/", timeout=5)
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_conditional_requests_and_head(stack):
    url = stack.a.url + "/static/app.js"
    first = httpx.get(url, timeout=5)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert httpx.get(url, headers={"If-None-Match": etag}, timeout=5).status_code == 304
    assert httpx.get(url, headers={"If-None-Match": f'"other", W/{etag}'}, timeout=5).status_code == 304
    assert httpx.get(url, headers={"If-None-Match": '"other"'}, timeout=5).status_code == 200
    assert httpx.get(url, headers={"If-Modified-Since": modified}, timeout=5).status_code == 304
    assert httpx.get(url, headers={"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}, timeout=5).status_code == 200
    not_modified = httpx.get(url, headers={"If-None-Match": etag}, timeout=5)
    assert not_modified.content == b"" and not_modified.headers["etag"] == etag
    head = httpx.head(url, timeout=5)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(first.content)
    assert head.headers["content-type"] == first.headers["content-type"]
    # The ETag comes from the content: every gateway answers the same one.
    assert httpx.get(stack.live_b().url + "/static/app.js", timeout=5).headers["etag"] == etag
    vendor = httpx.get(stack.a.url + "/vendor/codemirror/lib/codemirror.js", timeout=5)
    assert "max-age" in vendor.headers["cache-control"]


@pytest.mark.parametrize("target", [
    "/static/../README.md",
    "/static/%2e%2e/README.md",
    "/static/%2E%2E/%2E%2E/etc/passwd",
    "/static/..%2fREADME.md",
    "/static/%252e%252e/README.md",
    "/static/.%2e/README.md",
    "/static/..\\README.md",
    "/static/%00index.html",
    "/static/.gitignore",
    "/vendor/codemirror/../../../../etc/passwd",
    "/vendor/codemirror/lib/../../../../../etc/passwd",
    "/vendor/codemirror/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/",
    "/static/nope.js",
    "/vendor/codemirror/lib",
    "/vendor/codemirror/lib/missing.js",
])
def test_nothing_outside_the_folders_and_missing_files_are_404_problems(stack, target):
    status, data = raw_get(stack.a, target)
    assert status in (400, 404), (target, data[:300])
    assert b"root:" not in data and b"# CodeInterview" not in data
    if status == 404:
        assert b"application/problem+json" in data


def test_static_routes_are_root_only(stack):
    for path in ["/api/v1/static/app.js", "/api/static/app.js", "/api/v1/s/AAAAAAAAAAAAAAAAAAAAAA",
                 "/api/v1/vendor/codemirror/lib/codemirror.js", "/api/v1", "/api"]:
        r = httpx.get(stack.a.url + path, timeout=5)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json"
    r = httpx.post(stack.a.url + "/static/app.js", timeout=5)
    assert r.status_code == 405 and "GET" in r.headers["allow"]


def test_openapi_documents_the_page_routes(stack):
    paths = httpx.get(stack.a.url + "/openapi.json", timeout=5).json()["paths"]
    for p in ["/", "/s/{id}", "/static/{path}", "/vendor/codemirror/{path}", "/vendor/xterm/xterm.js", "/vendor/xterm/xterm.css"]:
        assert "get" in paths[p] and "head" in paths[p], p
        assert f"/api/v1{p}" not in paths
