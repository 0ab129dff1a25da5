"""How the gateway reads its input, where issue 24 changed it: the session GET's one-script read,
the request target split on bytes, the router's per-length route table, and the WebSocket frame
decoder that gives its buffer back whenever no frame is partial. Pipelined requests, requests
and frames split across reads (one byte per write with TCP_NODELAY: each byte may arrive in a
read of its own), before and after the buffer was given back."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from harness.rest import create_session
from harness.ws import RawWS

PING = 0x9
TEXT = 0x1


@pytest.fixture
def gateway(start_gateway):
    return start_gateway()


def connect(gw) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_answers(s: socket.socket, count: int) -> list[tuple[bytes, bytes]]:
    """`count` HTTP answers (head, body) read whole, in order, by Content-Length."""
    answers, buffer = [], b""
    while len(answers) < count:
        while b"\r\n\r\n" not in buffer:
            chunk = s.recv(65536)
            assert chunk, f"closed after {len(answers)} answers"
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(buffer) < length:
            chunk = s.recv(65536)
            assert chunk, "closed mid-body"
            buffer += chunk
        answers.append((head, buffer[:length]))
        buffer = buffer[length:]
    return answers


def status(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def test_session_get_answers_the_same_body_however_the_request_arrives(gateway):
    gw = gateway
    s0 = create_session(gw, host_name="Host", session_name="reads", code="print('héllo')\n")
    sid = s0["id"]
    reference = httpx.get(f"{gw.url}/api/v1/sessions/{sid}", timeout=5)
    assert reference.status_code == 200
    expected = reference.json()
    assert expected["code"] == "print('héllo')\n"
    targets = [f"/api/v1/sessions/{sid}", f"/api/v1/sessions/{sid}?x=1&y=%3F", f"/api/sessions/{sid}",
               f"//api/v1//sessions/{sid}/", f"/api/v1/sessions/{sid}?"]
    requests = [f"GET {t} HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\n\r\n".encode() for t in targets]
    # Pipelined in one write.
    s = connect(gw)
    s.sendall(b"".join(requests))
    for head, body in read_answers(s, len(requests)):
        assert status(head) == 200, head
        assert json.loads(body) == expected
    # Split across reads: one byte per write, then the next request after the answer.
    for request in requests[:2]:
        for i in range(len(request)):
            s.sendall(request[i:i + 1])
        (head, body), = read_answers(s, 1)
        assert status(head) == 200 and json.loads(body) == expected
    s.close()


def test_session_get_of_missing_and_malformed_ids(gateway):
    gw = gateway
    s = connect(gw)
    s.sendall(b"GET /api/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /api/v1/sessions/not%20an%20id HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /api/v1/nothing/here/at/all HTTP/1.1\r\nHost: x\r\n\r\n")
    answers = read_answers(s, 4)
    s.close()
    assert status(answers[0][0]) == 404, answers[0]
    assert status(answers[1][0]) in (400, 404, 422), answers[1]
    assert status(answers[2][0]) in (404, 405), answers[2]
    assert status(answers[3][0]) == 404, answers[3]
    # A deleted session: 410, from the script's gone key.
    created = create_session(gw, host_name="Host", session_name="gone")
    deleted = httpx.delete(f"{gw.url}/api/v1/sessions/{created['id']}",
                           headers={"Authorization": f"Bearer {created['host_token']}"}, timeout=5)
    assert deleted.status_code in (200, 204), deleted.text
    assert httpx.get(f"{gw.url}/api/v1/sessions/{created['id']}", timeout=5).status_code == 410


def test_frames_split_across_reads_after_the_decoder_gave_its_buffer_back(gateway):
    gw = gateway
    created = create_session(gw, host_name="Host", session_name="frames")
    ws = RawWS.connect(gw, created["id"])
    ws.send_json({"type": "join", "data": {"participant_token": created["participant_token"]}})
    while ws.recv_json()["type"] != "welcome":
        pass
    for round_ in range(3):
        # Every frame so far was read whole, and the connection's tick (once a second) gives the
        # decoder's buffer back then: nothing outside the gateway can see that it did, so this
        # waits out a tick. Then a ping and a text message, one byte per write, each frame
        # straddling many reads.
        time.sleep(1.1)
        ping = RawWS.frame(PING, f"p{round_}".encode())
        message = RawWS.frame(TEXT, json.dumps({"type": "ping", "data": {"nonce": f"n{round_}"}}).encode())
        for i in range(len(ping + message)):
            ws.sock.sendall((ping + message)[i:i + 1])
        opcode, payload = ws.recv_frame()
        while opcode != 0xA:       # the pong to our ping (a presence message may come first)
            opcode, payload = ws.recv_frame()
        assert payload == f"p{round_}".encode()
        while True:
            answer = ws.recv_json()
            if answer["type"] == "pong":
                assert answer["data"]["nonce"] == f"n{round_}", answer
                break
        # Two frames in one write, the second cut short, then its rest: a partial frame kept
        # across reads, then the buffer given back once it completes.
        first = RawWS.frame(PING, b"a")
        second = RawWS.frame(PING, b"bb")
        ws.sock.sendall(first + second[:3])
        opcode, payload = ws.recv_frame()
        assert (opcode, payload) == (0xA, b"a")
        ws.sock.sendall(second[3:])
        opcode, payload = ws.recv_frame()
        assert (opcode, payload) == (0xA, b"bb")
    ws.close()
