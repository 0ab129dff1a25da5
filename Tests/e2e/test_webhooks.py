"""Issue 22, part 4: signed webhooks (docs/webhooks.md).

Real processes: a redis-server, a PostgreSQL, gateways and archivers started with
--webhook-allow-private (the endpoint is a real Python HTTP server on loopback), and a gateway
without it for the SSRF rule. Deliveries are checked at the endpoint: the Standard Webhooks
signature, the same event id on every attempt, each delivery counted once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from harness.binaries import binary_path, has_option
from harness.processes import Archiver, Gateway
from harness.rest import bearer, create_session
from harness.waiting import wait_for

postgres_harness = pytest.importorskip("harness.postgres", reason="PostgreSQL harness (Tests/harness/postgres.py) not present")

pytestmark = pytest.mark.skipif(not has_option("--webhook-allow-private", "archiver"), reason="this binary has no webhooks")

http = httpx.Client(timeout=15)
ADMIN = "webhook-admin-token"
ADMIN_HEADERS = bearer(ADMIN)
WORKER_FLAGS = ["--webhook-allow-private", "--webhook-retry-schedule-ms=300,300,300", "--webhook-disable-after=2",
                "--webhook-timeout-ms=1500", "--webhook-lease-ms=2500"]


class Endpoint:
    """A local HTTP server whose paths behave as the tests need. `received` holds every request
    (path, headers, body) in order; `behaviour[path]` is a list of actions taken one per request
    (the last repeats): "ok", "500", "reset", "hang"."""

    def __init__(self, tls: tuple[str, str] | None = None):
        self.received: list[tuple[str, dict, bytes]] = []
        self.behaviour: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.release = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with endpoint.lock:
                    endpoint.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    n = endpoint.counts.get(self.path, 0)
                    endpoint.counts[self.path] = n + 1
                    actions = endpoint.behaviour.get(self.path, ["ok"])
                    action = actions[min(n, len(actions) - 1)]
                if action == "hang":
                    endpoint.release.wait(30)
                    return
                if action == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.close()
                    return
                status = 200 if action == "ok" else int(action)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *args: None  # a client that refuses our certificate
        self.scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def requests(self, path: str) -> list[tuple[dict, bytes]]:
        with self.lock:
            return [(h, b) for p, h, b in self.received if p == path]

    def stop(self):
        self.release.set()
        self.server.shutdown()


def verify(secret: str, headers: dict, body: bytes) -> bool:
    """The 10-line verification of docs/webhooks.md."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    if abs(time.time() - int(headers["webhook-timestamp"])) > 300:
        return False
    return any(hmac.compare_digest(expected, s.split(",", 1)[1]) for s in headers["webhook-signature"].split() if s.startswith("v1,"))


@pytest.fixture(scope="module")
def gateway(redis, postgres, logdir):
    """Registers and emits; delivers nothing itself (--no-webhooks): the archivers do, so a test
    that kills one knows who held the delivery."""
    gw = Gateway(binary_path(), redis, "gw-webhooks", ["--rate-limits", "off", f"--postgres={postgres.url}", "--archive-hold-hours=1",
                                                       f"--admin-token={ADMIN}", "--webhook-allow-private", "--no-webhooks"], logdir)
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def strict_gateway(redis, logdir):
    """Without --webhook-allow-private: the SSRF rule applies (it delivers nothing: its worker would
    refuse the other tests' loopback endpoints, as it should)."""
    gw = Gateway(binary_path(), redis, "gw-webhooks-strict", ["--rate-limits", "off", f"--admin-token={ADMIN}", "--no-webhooks"], logdir)
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def endpoint():
    server = Endpoint()
    yield server
    server.stop()


@pytest.fixture
def start_archiver(redis, postgres, logdir):
    started: list[Archiver] = []

    def start(*extra: str) -> Archiver:
        a = Archiver(binary_path(), redis, postgres.url, f"webhook-archiver-{os.getpid()}-{len(started)}", logdir, *WORKER_FLAGS, *extra)
        started.append(a)
        return a

    yield start
    for a in started:
        a.stop()


@pytest.fixture(autouse=True)
def no_webhooks_left(request):
    """Each test starts with no endpoint registered (so it counts only its own deliveries)."""
    yield
    if "gateway" in request.fixturenames:
        gw = request.getfixturevalue("gateway")
        for w in http.get(f"{gw.url}/api/v1/webhooks", headers=ADMIN_HEADERS).json()["webhooks"]:
            http.delete(f"{gw.url}/api/v1/webhooks/{w['id']}", headers=ADMIN_HEADERS)


def register(gw, url: str, events: list[str]) -> dict:
    r = http.post(f"{gw.url}/api/v1/webhooks", json={"url": url, "events": events}, headers=ADMIN_HEADERS)
    assert r.status_code == 201, r.text
    return r.json()


def end_session(gw) -> str:
    s = create_session(gw, language="python")
    r = http.patch(f"{gw.url}/api/v1/sessions/{s['id']}", json={"status": "completed"}, headers=bearer(s["host_token"]))
    assert r.status_code == 200, r.text
    return s["id"]


def deliveries(gw, webhook_id: str) -> list[dict]:
    r = http.get(f"{gw.url}/api/v1/webhooks/{webhook_id}/deliveries", headers=ADMIN_HEADERS)
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


def test_admin_routes_and_malformed_bodies(gateway):
    url = f"{gateway.url}/api/v1/webhooks"
    assert http.get(url).status_code == 401
    assert http.get(url, headers=bearer("not-the-admin")).status_code == 403
    assert http.post(url, json={"url": "http://127.0.0.1:9/", "events": ["session.ended"]}, headers=bearer("x")).status_code == 403
    for body, field in [({}, "url"), ({"url": "http://127.0.0.1:9/"}, "events"), ({"url": 5, "events": ["session.ended"]}, "url"),
                        ({"url": "http://127.0.0.1:9/", "events": []}, "events"),
                        ({"url": "http://127.0.0.1:9/", "events": ["nope"]}, "events"),
                        ({"url": "http://127.0.0.1:9/", "events": "session.ended"}, "events"),
                        ({"url": "http://127.0.0.1:9/", "events": ["session.ended"], "extra": 1}, "extra"),
                        ({"url": "ftp://127.0.0.1/", "events": ["session.ended"]}, "url"),
                        ({"url": "http://u:p@127.0.0.1/", "events": ["session.ended"]}, "url"),
                        ({"url": "http://127.0.0.1/" + "a" * 2100, "events": ["session.ended"]}, "url")]:
        r = http.post(url, json=body, headers=ADMIN_HEADERS)
        assert r.status_code == 400, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json().get("field") == field, (body, r.json())
    r = http.post(url, content=b"{not json", headers={**ADMIN_HEADERS, "Content-Type": "application/json"})
    assert r.status_code == 400
    before = http.get(url, headers=ADMIN_HEADERS).json()["webhooks"]
    created = register(gateway, "http://127.0.0.1:9/x", ["session.ended", "session.ended"])
    assert created["secret"].startswith("whsec_") and created["events"] == ["session.ended"]
    got = http.get(f"{url}/{created['id']}", headers=ADMIN_HEADERS).json()
    assert "secret" not in got and got["url"] == "http://127.0.0.1:9/x"
    listed = http.get(url, headers=ADMIN_HEADERS).json()["webhooks"]
    assert len(listed) == len(before) + 1 and all("secret" not in w for w in listed)
    r = http.patch(f"{url}/{created['id']}", json={"enabled": "yes"}, headers=ADMIN_HEADERS)
    assert r.status_code == 400
    r = http.patch(f"{url}/{created['id']}", json={"description": "d", "events": ["session.created"]}, headers=ADMIN_HEADERS)
    assert r.status_code == 200 and r.json()["events"] == ["session.created"] and r.json()["description"] == "d"
    assert http.delete(f"{url}/{created['id']}", headers=ADMIN_HEADERS).status_code == 204
    assert http.get(f"{url}/{created['id']}", headers=ADMIN_HEADERS).status_code == 404
    assert http.delete(f"{url}/{created['id']}", headers=ADMIN_HEADERS).status_code == 404


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.0.1",
    "169.254.169.254", "0xa9fea9fe", "100.64.0.1", "0.0.0.0", "255.255.255.255", "224.0.0.1",
    "[::1]", "[::]", "[::ffff:127.0.0.1]", "[::ffff:169.254.169.254]", "[fe80::1]", "[fd00::1]", "localhost",
])
def test_internal_addresses_are_refused_without_allow_private(strict_gateway, host):
    r = http.post(f"{strict_gateway.url}/api/v1/webhooks", json={"url": f"http://{host}:8080/hook", "events": ["session.ended"]},
                  headers=ADMIN_HEADERS)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "url" and "--webhook-allow-private" in r.json()["detail"]


def test_session_ended_is_delivered_signed_after_two_failures(gateway, endpoint, start_archiver):
    endpoint.behaviour["/flaky"] = ["500", "reset", "ok"]
    hook = register(gateway, endpoint.url("/flaky"), ["session.ended"])
    start_archiver()
    sid = end_session(gateway)
    wait_for(lambda: len(endpoint.requests("/flaky")) >= 3, 30, message="three attempts at /flaky")
    requests = endpoint.requests("/flaky")
    ids = {h["webhook-id"] for h, _ in requests}
    assert len(ids) == 1 and next(iter(ids)).startswith("evt_")
    headers, body = requests[-1]
    assert verify(hook["secret"], headers, body)
    assert headers["user-agent"] == "CodeInterview-Webhooks/1"
    event = json.loads(body)
    assert event["type"] == "session.ended" and event["data"]["session_id"] == sid and event["data"]["reason"] == "ended"
    wait_for(lambda: any(d["outcome"] == "delivered" for d in deliveries(gateway, hook["id"])), 10, message="delivered in the log")
    log = deliveries(gateway, hook["id"])
    assert [d["attempt"] for d in log] == [3, 2, 1]
    assert log[2]["status"] == 500 and log[1]["error"] and log[0]["status"] == 200
    assert all(d["event_id"] == headers["webhook-id"] for d in log)
    time.sleep(1)  # a retry that should not happen would come within the 300 ms schedule
    assert len(endpoint.requests("/flaky")) == 3


def test_session_created_and_interview_archived(gateway, endpoint, start_archiver):
    hook = register(gateway, endpoint.url("/all"), ["session.created", "interview.archived"])
    start_archiver()
    sid = end_session(gateway)

    def types():
        return {(json.loads(b)["type"], json.loads(b)["data"]["session_id"]) for _, b in endpoint.requests("/all")}
    wait_for(lambda: {("session.created", sid), ("interview.archived", sid)} <= types(), 60, message="created and archived events")
    for headers, body in endpoint.requests("/all"):
        assert verify(hook["secret"], headers, body)
    archived = [json.loads(b) for _, b in endpoint.requests("/all") if json.loads(b)["type"] == "interview.archived"]
    assert archived[0]["data"]["ending"] == "completed" and archived[0]["data"]["record_url"] == f"/api/v1/interviews/{sid}"


def test_a_worker_killed_mid_delivery_leaves_it_to_another_after_the_lease(gateway, endpoint, start_archiver):
    endpoint.behaviour["/hang"] = ["hang", "ok"]
    register(gateway, endpoint.url("/hang"), ["session.ended"])
    first = start_archiver("--webhook-timeout-ms=8000", "--webhook-lease-ms=9000")
    end_session(gateway)
    wait_for(lambda: len(endpoint.requests("/hang")) >= 1, 30, message="the first attempt arrives")
    first.kill9()
    start_archiver()
    wait_for(lambda: len(endpoint.requests("/hang")) >= 2, 30, message="retried after the lease")
    ids = {h["webhook-id"] for h, _ in endpoint.requests("/hang")}
    assert len(ids) == 1


def test_an_endpoint_that_always_fails_is_disabled_with_a_reason(gateway, endpoint, start_archiver):
    endpoint.behaviour["/down"] = ["500"]
    hook = register(gateway, endpoint.url("/down"), ["session.ended"])
    start_archiver()
    end_session(gateway)
    end_session(gateway)

    def state():
        return http.get(f"{gateway.url}/api/v1/webhooks/{hook['id']}", headers=ADMIN_HEADERS).json()
    wait_for(lambda: not state()["enabled"], 60, message="the endpoint disabled")
    assert "given up" in state()["disabled_reason"]
    assert http.post(f"{gateway.url}/api/v1/webhooks/{hook['id']}/test", headers=ADMIN_HEADERS).status_code == 409
    endpoint.behaviour["/down"] = ["ok"]
    r = http.patch(f"{gateway.url}/api/v1/webhooks/{hook['id']}", json={"enabled": True}, headers=ADMIN_HEADERS)
    assert r.status_code == 200 and r.json()["enabled"] and r.json()["disabled_reason"] is None
    r = http.post(f"{gateway.url}/api/v1/webhooks/{hook['id']}/test", headers=ADMIN_HEADERS)
    assert r.status_code == 202
    ping = r.json()["event_id"]
    wait_for(lambda: any(h["webhook-id"] == ping for h, _ in endpoint.requests("/down")), 30, message="the ping delivered")


def test_a_slow_endpoint_times_out_without_blocking_the_worker(gateway, endpoint, start_archiver):
    endpoint.behaviour["/slow"] = ["hang"]
    slow = register(gateway, endpoint.url("/slow"), ["session.ended"])
    fast = register(gateway, endpoint.url("/fast"), ["session.ended"])
    start_archiver()
    started = time.monotonic()
    sid = end_session(gateway)
    wait_for(lambda: any(json.loads(b)["data"]["session_id"] == sid for _, b in endpoint.requests("/fast")), 10,
             message="the fast endpoint served while the slow one hangs")
    assert time.monotonic() - started < 5
    wait_for(lambda: any("timed out" in (d["error"] or "") for d in deliveries(gateway, slow["id"])), 20, message="the slow attempt timed out")
    assert fast["id"]


def test_metrics_show_the_queue_and_deliveries(gateway):
    text = http.get(f"{gateway.url}/metrics", headers=ADMIN_HEADERS).text
    assert "codeinterview_webhook_queue_size" in text
    assert 'codeinterview_webhook_deliveries_total{result="delivered"}' in text


def test_a_session_that_expires_ends_with_reason_expired_when_archived(redis, postgres, logdir, gateway, endpoint, start_archiver):
    short = Gateway(binary_path(), redis, "gw-webhooks-short", ["--rate-limits", "off", f"--postgres={postgres.url}", "--archive-hold-hours=1",
                                                                f"--admin-token={ADMIN}", "--webhook-allow-private", "--session-ttl=2", "--no-webhooks"], logdir)
    try:
        hook = register(short, endpoint.url("/expiry"), ["session.ended", "interview.archived"])
        start_archiver()
        sid = create_session(short, language="python")["id"]

        def events():
            return {json.loads(b)["type"]: json.loads(b)["data"] for _, b in endpoint.requests("/expiry")
                    if json.loads(b)["data"]["session_id"] == sid}
        wait_for(lambda: {"session.ended", "interview.archived"} <= set(events()), 60, message="ended (expired) and archived")
        assert events()["session.ended"]["reason"] == "expired"
        assert events()["interview.archived"]["ending"] == "expired"
        for headers, body in endpoint.requests("/expiry"):
            assert verify(hook["secret"], headers, body)
    finally:
        short.stop()


@pytest.fixture(scope="module")
def certificates(logdir):
    """A CA and a leaf certificate for the name localhost (only), signed by it."""
    d = tempfile.mkdtemp(prefix="ci-webhook-tls-")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *args: subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=CodeInterview test CA")
    run("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.pem", "-days", "2",
        "-extfile", "san.ext")
    return {name: os.path.join(d, name) for name in ("ca.pem", "leaf.pem", "leaf.key")}


def test_https_endpoints_verify_the_chain_and_the_name(gateway, certificates, start_archiver):
    server = Endpoint(tls=(certificates["leaf.pem"], certificates["leaf.key"]))
    try:
        good = register(gateway, f"https://localhost:{server.port}/tls", ["session.ended"])
        wrong_name = register(gateway, f"https://127.0.0.1:{server.port}/wrong-name", ["session.ended"])
        start_archiver(f"--webhook-ca-file={certificates['ca.pem']}")
        sid = end_session(gateway)
        wait_for(lambda: len(server.requests("/tls")) >= 1, 30, message="delivered over TLS")
        headers, body = server.requests("/tls")[0]
        assert verify(good["secret"], headers, body) and json.loads(body)["data"]["session_id"] == sid
        assert headers["host"] == f"localhost:{server.port}"
        wait_for(lambda: deliveries(gateway, wrong_name["id"]), 20, message="an attempt at the wrong name")
        assert "certificate" in deliveries(gateway, wrong_name["id"])[0]["error"]
        assert server.requests("/wrong-name") == []
    finally:
        server.stop()


def test_https_without_the_ca_is_refused(gateway, certificates, start_archiver):
    server = Endpoint(tls=(certificates["leaf.pem"], certificates["leaf.key"]))
    try:
        hook = register(gateway, f"https://localhost:{server.port}/untrusted", ["session.ended"])
        start_archiver()
        end_session(gateway)
        wait_for(lambda: deliveries(gateway, hook["id"]), 20, message="an attempt")
        assert "certificate" in deliveries(gateway, hook["id"])[0]["error"]
        assert server.requests("/untrusted") == []
    finally:
        server.stop()


def test_gateways_alone_deliver_too(start_redis, logdir, endpoint):
    """The issue's scenario: gateways started with --webhook-allow-private (and nothing else about
    webhooks: the default retry schedule) on a Redis of their own, no archiver; the endpoint fails
    twice, then gets session.ended signed, once per delivery id, within seconds."""
    flags = ["--rate-limits", "off", f"--admin-token={ADMIN}", "--webhook-allow-private"]
    redis = start_redis()
    alone = [Gateway(binary_path(), redis, f"gw-webhooks-alone-{i}", flags, logdir) for i in range(2)]
    try:
        endpoint.behaviour["/alone"] = ["500", "500", "ok"]
        hook = register(alone[0], endpoint.url("/alone"), ["session.ended"])
        sid = end_session(alone[1])
        # The default schedule retries after 1 s and 5 s (+10% jitter at most).
        wait_for(lambda: len(endpoint.requests("/alone")) >= 3, 30, message="three attempts from the gateways' workers")
        headers, body = endpoint.requests("/alone")[-1]
        assert verify(hook["secret"], headers, body) and json.loads(body)["data"]["session_id"] == sid
        assert len({h["webhook-id"] for h, _ in endpoint.requests("/alone")}) == 1
        wait_for(lambda: [d for d in deliveries(alone[1], hook["id"]) if d.get("status") == 200], 10, message="the attempt logged")
        assert len(endpoint.requests("/alone")) == 3  # delivered: no attempt after the 200
    finally:
        for gw in alone:
            gw.stop()


def test_the_worker_checks_the_address_again_at_delivery(redis, postgres, logdir, gateway, endpoint):
    """Registered where private addresses were allowed, delivered by a worker where they are not
    (as if the name had been rebound to a private address): refused at the attempt, never sent."""
    hook = register(gateway, endpoint.url("/rebound"), ["session.ended"])
    strict = Archiver(binary_path(), redis, postgres.url, f"webhook-archiver-strict-{os.getpid()}", logdir,
                      *[f for f in WORKER_FLAGS if f != "--webhook-allow-private"])
    try:
        end_session(gateway)
        wait_for(lambda: deliveries(gateway, hook["id"]), 20, message="an attempt")
        error = deliveries(gateway, hook["id"])[0]["error"]
        assert "refused" in error and "loopback" in error and "--webhook-allow-private" in error
        assert endpoint.requests("/rebound") == []
    finally:
        strict.stop()
