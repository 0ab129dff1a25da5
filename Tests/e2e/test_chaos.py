"""Chaos: clients that reset (SO_LINGER 0) or half-close at every stage of an HTTP request and of
a WebSocket, many at once, with their bytes cut in random chunks (one byte per write up to whole
buffers), some while their answers wait on a Redis slowed by CLIENT PAUSE. Afterwards every
gateway is alive, answers /health, and holds no more connections (nor descriptors, nor memory
beyond a bound) than before. scripts/test also runs this file against the AddressSanitizer build,
where a use-after-free fails the run even when it would not crash.

CHAOS_SCALE (default 1) multiplies the iteration counts (scripts/test lowers it for ASan).
CHAOS_ASAN=1 (scripts/test sets it for the AddressSanitizer build) skips the memory bounds:
ASan's quarantine keeps freed memory on purpose; connection and descriptor counts still hold."""

from __future__ import annotations

import base64
import json
import os
import random
import re
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from harness.rest import create_session
from harness.ws import RawWS

SCALE = float(os.environ.get("CHAOS_SCALE", "1"))
ASAN = os.environ.get("CHAOS_ASAN") == "1"
BODY = b'{"host_name":"x"}'


def scaled(n: int) -> int:
    return max(1, int(n * SCALE))


# -- observing the gateway ------------------------------------------------------------------------


def open_descriptors(gw) -> int:
    return len(os.listdir(f"/proc/{gw.pid}/fd"))


def connection_gauges(gw) -> dict[str, float]:
    text = httpx.get(gw.url + "/metrics", timeout=5).text
    return {kind: float(value) for kind, value in
            re.findall(r'^codeinterview_connections\{kind="(\w+)"\} ([0-9.]+)$', text, re.M)}


class Baseline:
    """What the gateway holds before the chaos; `settled()` waits until it holds no more."""

    def __init__(self, gw):
        self.gw = gw
        httpx.get(gw.url + "/health", timeout=5)
        self.fds = open_descriptors(gw)
        self.rss = gw.rss_kib()

    def settled(self, rss_growth_kib: int, timeout: float = 20):
        gw = self.gw
        deadline = time.monotonic() + timeout
        while True:
            assert gw.alive, f"the gateway died (exit {gw.proc.returncode}):\n{gw.read_log()[-5000:]}"
            gauges = connection_gauges(gw)  # this request's own connection is the one http counts
            fds = open_descriptors(gw)
            if gauges.get("http", 0) <= 1 and gauges.get("websocket", 0) == 0 and fds <= self.fds:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"connections left open: {gauges}, descriptors {fds} (before: {self.fds})")
            time.sleep(0.1)
        assert httpx.get(gw.url + "/health", timeout=5).status_code == 200
        growth = gw.rss_kib() - self.rss
        assert ASAN or growth < rss_growth_kib, f"RSS grew by {growth} KiB (bound {rss_growth_kib} KiB)"
        log = gw.read_log()
        assert "Fatal error" not in log and "AddressSanitizer" not in log, log[-5000:]


# -- hostile clients ------------------------------------------------------------------------------


def connect(gw, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(10)
    s.connect(("127.0.0.1", gw.port))
    return s


def reset(s: socket.socket):
    """Closes with SO_LINGER 0: the kernel sends RST instead of FIN."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def hang_up(s: socket.socket, rng: random.Random):
    """A reset; or a half-close (FIN) and a close at once; or a half-close after which the client
    reads on: then the gateway must finish (answer what was complete, or give up on what never
    can be) and close its side within seconds."""
    pick = rng.random()
    if pick < 0.5:
        return reset(s)
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        return s.close()
    if pick < 0.75:
        return s.close()
    s.settimeout(5)
    try:
        while s.recv(65536):
            pass
    except (TimeoutError, socket.timeout):
        raise AssertionError("the gateway kept a half-closed connection open for 5 s") from None
    except ConnectionResetError:
        pass
    finally:
        s.close()


def send_chunked(s: socket.socket, data: bytes, rng: random.Random):
    """Sends `data` in random pieces: often single bytes, sometimes all that is left."""
    at = 0
    while at < len(data):
        pick = rng.random()
        n = 1 if pick < 0.3 else len(data) - at if pick > 0.8 else rng.randint(1, max(1, len(data) - at))
        s.sendall(data[at:at + n])
        at += n


def read_some(s: socket.socket, n: int, timeout: float = 5) -> bytes:
    s.settimeout(timeout)
    data = b""
    try:
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, TimeoutError, socket.timeout):
        pass
    return data


def post_session(port: int, expect: bool = False, body: bytes = BODY) -> bytes:
    extra = "Expect: 100-continue\r\n" if expect else ""
    return (f"POST /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode()


def run_clients(count: int, worker, threads: int = 16, seed: int = 1):
    """Runs `worker(i, rng)` `count` times on `threads` threads; re-raises the first failure."""
    errors = []

    def one(i):
        try:
            worker(i, random.Random(seed * 1_000_003 + i))
        except (ConnectionError, OSError):
            pass  # the gateway may hang up on a hostile client first: that is allowed
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(count)))
    if errors:
        raise errors[0]


@pytest.fixture
def gateway(start_gateway):
    return start_gateway()


# -- the reset loop -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("expect_continue", [False, True], ids=["plain", "expect-100-continue"])
def test_reset_loop_after_post(gateway, expect_continue):
    """connect, POST /api/v1/sessions (the body with the headers every other time), reset: the
    loop that aborted the gateway after a few hundred connections (a second uv_close)."""
    gw = gateway
    base = Baseline(gw)
    head = post_session(gw.port, expect_continue)

    def worker(i, rng):
        s = connect(gw)
        if i % 2:
            s.sendall(head + BODY)
        else:
            s.sendall(head)
            if expect_continue and rng.random() < 0.5:
                read_some(s, 25, timeout=2)  # HTTP/1.1 100 Continue
            s.sendall(BODY)
        reset(s)

    run_clients(scaled(10_000), worker, threads=8)
    base.settled(rss_growth_kib=16 * 1024)


# -- HTTP: every stage ----------------------------------------------------------------------------


def http_stage_worker(gw, stage: str):
    port = gw.port
    get = f"GET /api/v1/sessions/doesnotexist HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()

    def worker(i, rng):
        s = connect(gw, rcvbuf=4096 if stage == "mid-response" else None)
        full = post_session(port, expect=stage == "expect-continue") + BODY
        if stage == "mid-request-line":
            send_chunked(s, full[:rng.randint(1, full.index(b"\r\n"))], rng)
        elif stage == "mid-headers":
            send_chunked(s, full[:rng.randint(full.index(b"\r\n") + 2, full.index(b"\r\n\r\n") + 3)], rng)
        elif stage == "mid-body":
            send_chunked(s, full[:rng.randint(full.index(b"\r\n\r\n") + 4, len(full) - 1)], rng)
        elif stage == "after-request":
            send_chunked(s, full, rng)
        elif stage == "mid-response":
            # The OpenAPI document is larger than the 4 KiB receive window: the reset comes while
            # the gateway still has most of it queued.
            send_chunked(s, f"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode(), rng)
            read_some(s, rng.randint(1, 3000))
        elif stage == "pipelined":
            requests = b"".join(rng.choice([get, full]) for _ in range(rng.randint(2, 40)))
            send_chunked(s, requests, rng)
            read_some(s, rng.randint(0, 2000), timeout=1)
        elif stage == "expect-continue":
            head = post_session(port, expect=True)
            send_chunked(s, head, rng)
            if rng.random() < 0.5:
                read_some(s, 25, timeout=2)
            send_chunked(s, BODY[:rng.randint(0, len(BODY))], rng)
        hang_up(s, rng)

    return worker


STAGES = ["mid-request-line", "mid-headers", "mid-body", "after-request", "mid-response", "pipelined", "expect-continue"]


def test_http_clients_hang_up_at_every_stage(gateway):
    gw = gateway
    base = Baseline(gw)
    for n, stage in enumerate(STAGES):
        run_clients(scaled(400), http_stage_worker(gw, stage), seed=n + 1)
    # All stages at once.
    workers = [http_stage_worker(gw, stage) for stage in STAGES]
    run_clients(scaled(1500), lambda i, rng: workers[i % len(workers)](i, rng), threads=24, seed=99)
    base.settled(rss_growth_kib=24 * 1024)


def test_clients_hang_up_while_redis_is_paused(gateway, redis_server):
    """The answers wait on Redis (CLIENT PAUSE): the clients reset or half-close meanwhile, so
    every reply arrives for a connection that is gone (or going)."""
    gw = gateway
    base = Baseline(gw)
    sid = create_session(gw)["id"]
    port = gw.port
    for round_ in range(3):
        assert redis_server.command("CLIENT", "PAUSE", "700", "ALL") == "+OK"
        started = time.monotonic()

        def worker(i, rng):
            s = connect(gw)
            if i % 3 == 0:
                send_chunked(s, post_session(port, expect=i % 2 == 0) + BODY, rng)
            elif i % 3 == 1:
                send_chunked(s, f"GET /api/v1/sessions/{sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), rng)
            else:
                send_chunked(s, RawWS.handshake_request(port, f"/ws/sessions/{sid}"), rng)
            time.sleep(rng.random() * 0.3)
            hang_up(s, rng)

        run_clients(scaled(300), worker, threads=32, seed=round_ + 7)
        assert time.monotonic() - started < 5
        # Let the paused replies arrive for the connections that are gone.
        time.sleep(max(0.0, 0.8 - (time.monotonic() - started)))
    base.settled(rss_growth_kib=24 * 1024)
    # A half-closed client that waits still gets its answer (it only said it will send no more).
    s = connect(gw)
    s.sendall(f"GET /api/v1/sessions/{sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    s.shutdown(socket.SHUT_WR)
    started = time.monotonic()
    answer = read_some(s, 1 << 20, timeout=5)
    s.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert time.monotonic() - started < 4, "the gateway did not close after answering a half-closed client"


def test_pipelined_requests_are_answered_in_order_with_bounded_memory(gateway):
    """A client that pipelines many requests and reads nothing: the gateway stops reading past
    its pipelining bound instead of buffering everything; once the client reads, every answer
    arrives, in order."""
    gw = gateway
    base = Baseline(gw)
    count = 3000
    requests = b"".join(f"GET /health?n={i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(count))
    s = connect(gw, rcvbuf=4096)
    sender = threading.Thread(target=lambda: s.sendall(requests))
    sender.start()
    time.sleep(0.5)
    grown = gw.rss_kib() - base.rss
    data = b""
    s.settimeout(10)
    while data.count(b"HTTP/1.1 200 ") < count:
        chunk = s.recv(1 << 16)
        assert chunk, f"closed after {data.count(b'HTTP/1.1 200 ')} answers"
        data += chunk
    sender.join()
    s.close()
    assert data.count(b"HTTP/1.1 200 ") == count
    assert ASAN or grown < 16 * 1024, grown
    base.settled(rss_growth_kib=16 * 1024)


def test_half_closed_client_gets_every_pipelined_answer(gateway):
    """Requests pipelined, then FIN: every one is answered, in order, then the gateway closes."""
    gw = gateway
    base = Baseline(gw)
    for count in (1, 5, 200):
        s = connect(gw)
        s.sendall(b"".join(f"GET /health?n={i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(count)))
        s.shutdown(socket.SHUT_WR)
        data = read_some(s, 1 << 24, timeout=10)
        s.close()
        assert data.count(b"HTTP/1.1 200 ") == count, data[-300:]
    base.settled(rss_growth_kib=16 * 1024)


# -- WebSocket: every stage -----------------------------------------------------------------------


masked_frame = RawWS.frame


def upgrade(gw, sid: str, rng: random.Random, rcvbuf: int | None = None) -> socket.socket:
    """A WebSocket handshake sent in random chunks; the answer read byte by byte (so nothing
    after it is consumed)."""
    s = connect(gw, rcvbuf)
    send_chunked(s, RawWS.handshake_request(gw.port, f"/ws/sessions/{sid}"), rng)
    RawWS.read_handshake_answer(s, chunk_size=1)
    return s


def ws_stage_worker(gw, sids: list[str], stage: str):
    join = masked_frame(0x1, json.dumps({"type": "join", "data": {"name": "chaos"}}).encode())

    def op(rng):
        return masked_frame(0x1, json.dumps({"type": "op", "data": {"revision": 0, "ops": ["x" * rng.randint(1, 50)]}}).encode())

    def worker(i, rng):
        # Every joined client keeps its seat (offline): spread them over sessions of 50 seats.
        sid = sids[(i // 5) % len(sids)]
        if stage == "mid-handshake":
            s = connect(gw)
            request = RawWS.handshake_request(gw.port, f"/ws/sessions/{sid}")
            send_chunked(s, request[:rng.randint(1, len(request) - 1)], rng)
            return hang_up(s, rng)
        s = upgrade(gw, sid, rng)
        if stage == "mid-frame":
            frame = rng.choice([join, op(rng), masked_frame(0x9, b"p" * 100)])
            send_chunked(s, frame[:rng.randint(1, len(frame) - 1)], rng)
        elif stage == "during-join":
            send_chunked(s, join, rng)
        elif stage == "ops-in-flight":
            send_chunked(s, join + b"".join(op(rng) for _ in range(rng.randint(1, 20))), rng)
        elif stage == "during-broadcast":
            # Joined and reading nothing while the others' ops are fanned out to it.
            send_chunked(s, join, rng)
            read_some(s, rng.randint(0, 400), timeout=0.5)
            send_chunked(s, b"".join(op(rng) for _ in range(rng.randint(1, 5))), rng)
            time.sleep(rng.random() * 0.2)
        hang_up(s, rng)

    return worker


WS_STAGES = ["mid-handshake", "mid-frame", "during-join", "ops-in-flight", "during-broadcast"]


def test_websocket_clients_hang_up_at_every_stage(gateway):
    gw = gateway
    base = Baseline(gw)
    per_stage, mixed = scaled(300), scaled(1000)
    sids = [create_session(gw, code="", max_participants=50)["id"] for _ in range(max(per_stage, mixed) // 5 // 40 + 1)]
    for n, stage in enumerate(WS_STAGES):
        run_clients(per_stage, ws_stage_worker(gw, sids, stage), threads=16, seed=n + 11)
        # A fresh set of seats for the next stage.
        sids = [create_session(gw, code="", max_participants=50)["id"] for _ in sids]
    workers = [ws_stage_worker(gw, sids, stage) for stage in WS_STAGES]
    run_clients(mixed, lambda i, rng: workers[i % len(workers)](i, rng), threads=24, seed=123)
    base.settled(rss_growth_kib=32 * 1024)
    # The gateway still serves sessions: a new client joins one.
    sid = create_session(gw)["id"]
    rng = random.Random(5)
    s = upgrade(gw, sid, rng)
    ws = RawWS(s)
    ws.send_json({"type": "join", "data": {"name": "after"}})
    welcome = ws.recv_json()
    while welcome["type"] != "welcome":
        welcome = ws.recv_json()
    ws.close()


# -- the ping flood -------------------------------------------------------------------------------

QUEUE_BYTES = 4 * 1024 * 1024


@pytest.mark.parametrize("run_number", range(5))
@pytest.mark.parametrize("ping_bound", ["default", "unbounded-rate"])
def test_ping_flood_from_a_client_that_never_reads(start_gateway, ping_bound, run_number):
    """125-byte pings as fast as the client can send them, nothing read, a 4 KiB receive
    buffer: the pongs must not grow the gateway past the send-queue limit (4 MiB) per
    connection, and the client is dropped. With the default ping rate bound it is dropped for
    its ping rate; with the rate bound lifted, the send-queue bound on the one write path (which
    pongs take too) must drop it."""
    gw = start_gateway(*(["--ws-max-pings-per-second", "100000000"] if ping_bound != "default" else []))
    base = Baseline(gw)
    sid = create_session(gw)["id"]
    rng = random.Random(run_number)
    s = upgrade(gw, sid, rng, rcvbuf=4096)
    s.sendall(masked_frame(0x1, json.dumps({"type": "join", "data": {"name": "flood"}}).encode()))
    ping = masked_frame(0x9, b"p" * 125)
    burst = ping * 64
    peak = base.rss
    dropped = False
    deadline = time.monotonic() + 30
    s.settimeout(0.5)
    sent = 0
    while time.monotonic() < deadline:
        try:
            s.send(burst)
            sent += 1
        except (socket.timeout, TimeoutError):
            pass  # our send buffer is full: the gateway stopped reading us or is gone
        except (BrokenPipeError, ConnectionResetError):
            dropped = True
            break
        if sent % 20 == 0:
            peak = max(peak, gw.rss_kib())
        if sent % 50 == 0 and connection_gauges(gw).get("websocket", 0) == 0:
            dropped = True
            break
    peak = max(peak, gw.rss_kib())
    reset(s)
    assert dropped, "the flooding client was never dropped"
    growth = peak - base.rss
    print(f"ping flood run {run_number}: RSS +{growth} KiB, {sent} bursts of 64 pings")
    assert ASAN or growth < QUEUE_BYTES // 1024 + 2048, f"RSS grew by {growth} KiB for one connection"
    base.settled(rss_growth_kib=QUEUE_BYTES // 1024 + 2048)
