"""Bad input: each gets the right close code or error code, and the gateway serves on."""

import asyncio
import base64
import os
import time

import pytest

from harness.rest import create_session, get_code, get_users, health
from harness.ws import WS, RawWS, ServerError, run

MAX_MESSAGE = 4096
MAX_CODE = 1024


@pytest.fixture(scope="module")
def gw(pool):
    """A gateway with a small message limit, for this module."""
    gateway = pool.start("--ws-max-message-bytes", str(MAX_MESSAGE), "--max-code-bytes", str(MAX_CODE))
    yield gateway
    gateway.stop()


@pytest.fixture
def sid(gw):
    return create_session(gw, code="hello 😀\n")["id"]


def assert_serves_on(gw, sid):
    """Health is 200 and a normal client joins, edits and gets its ack."""
    assert health(gw) == 200

    async def main():
        ws = await WS.open(gw, sid)
        welcome = await ws.join(name="Normal")
        await ws.send("op", {"revision": welcome["revision"], "ops": ["."]})
        assert (await ws.expect("ack"))["data"]["revision"] == welcome["revision"] + 1
        assert (await ws.ping("after"))["nonce"] == "after"
        await ws.close()

    run(main())


# -- framing (raw socket) --------------------------------------------------------------------

TEXT, BINARY, CONT = 0x1, 0x2, 0x0
JOIN = b'{"type":"join","data":{"name":"Raw"}}'

FRAMING = {
    "unmasked_client_frame": ([RawWS.frame(TEXT, JOIN, mask=False)], 1002),
    "message_over_the_limit": ([RawWS.frame(TEXT, b"x" * (MAX_MESSAGE + 1))], 1009),
    "fragments_over_the_limit": ([RawWS.frame(TEXT, b"[" * 3000, fin=False),
                                  RawWS.frame(CONT, b"[" * 3000)], 1009),
    "invalid_utf8_in_text": ([RawWS.frame(TEXT, b'{"type":"ping","data":{"nonce":"\xff\xfe"}}')], 1007),
    "overlong_utf8_in_text": ([RawWS.frame(TEXT, b'{"type":"ping","data":{"nonce":"\xc0\xaf"}}')], 1007),
    "utf8_cut_at_the_end_of_a_fragmented_message":
        ([RawWS.frame(TEXT, '"é'.encode()[:2], fin=False), RawWS.frame(CONT, b"")], 1007),
    "binary_frame": ([RawWS.frame(BINARY, JOIN)], 1003),
}


@pytest.mark.parametrize("case", list(FRAMING))
def test_bad_frames_close_with_the_right_code(gw, sid, case):
    frames, expected = FRAMING[case]
    raw = RawWS.connect(gw, sid)
    try:
        for frame in frames:
            raw.sock.sendall(frame)
        code, texts, eof = raw.read_until_close(timeout=5)
        assert not eof, f"connection ended without a close frame (texts: {texts})"
        assert code == expected
        assert raw.at_eof(5), "the server did not close the TCP connection"
    finally:
        raw.close()
    assert_serves_on(gw, sid)


def test_fragmented_message_with_a_character_split_across_frames_is_accepted(gw, sid):
    """The counterpart of the UTF-8 cases: UTF-8 is checked on the whole message, not per frame."""
    message = '{"type":"ping","data":{"nonce":"é😀"}}'.encode()
    cut = message.index("😀".encode()) + 2
    raw = RawWS.connect(gw, sid)
    try:
        raw.send_frame(TEXT, message[:cut], fin=False)
        raw.send_frame(0x9, b"interleaved")  # a control frame between fragments is allowed
        raw.send_frame(CONT, message[cut:])
        pong = raw.recv_json()
        assert pong["type"] == "pong" and pong["data"] == {"nonce": "é😀"}
    finally:
        raw.close()


def test_bad_websocket_version_gets_426(gw, sid):
    request = RawWS.handshake_request(gw.port, f"/ws/sessions/{sid}", version="8")
    status, headers, _ = RawWS.http(gw.port, request)
    assert status == 426
    assert headers.get("sec-websocket-version") == "13"
    assert_serves_on(gw, sid)


# -- messages (websockets) --------------------------------------------------------------------


def test_non_json_and_unknown_type_get_errors_and_the_connection_stays_usable(gw, sid):
    async def main():
        ws = await WS.open(gw, sid)
        await ws.send_raw("this is not json {")
        assert (await ws.error())["code"] == "invalid_json"
        assert (await ws.ping("1"))["nonce"] == "1"
        await ws.send("op", {"revision": 0, "ops": ["x"]})
        error = await ws.error()
        assert (error["code"], error.get("request_type")) == ("not_joined", "op")
        welcome = await ws.join(name="Tester")
        await ws.send_raw('{"type": "op", "data": ')
        assert (await ws.error())["code"] == "invalid_json"
        await ws.send("dance", {"style": "tango"})
        error = await ws.error()
        assert (error["code"], error.get("request_type")) == ("unknown_type", "dance")
        assert (await ws.ping("2"))["nonce"] == "2"
        # Still a working member: an op is acknowledged.
        await ws.send("op", {"revision": welcome["revision"], "ops": [len(welcome["code"]), "!"]})
        assert (await ws.expect("ack"))["data"]["revision"] == welcome["revision"] + 1
        await ws.close()

    run(main())
    assert_serves_on(gw, sid)


def test_op_out_of_range_and_from_the_future_are_refused_and_change_nothing(gw, sid):
    before = get_code(gw, sid)
    length = len(before["code"])

    async def main():
        ws = await WS.open(gw, sid)
        welcome = await ws.join(name="Tester")
        rev = welcome["revision"]
        cases = [
            ({"revision": rev, "ops": [length + 1]}, "ops"),            # retain past the end
            ({"revision": rev, "ops": [length - 1, -2]}, "ops"),        # delete past the end
            ({"revision": rev, "ops": [length, 0]}, "ops"),             # 0 is no component
            ({"revision": rev, "ops": [{"insert": "x"}]}, "ops"),       # not ot.js' form
            ({"revision": rev + 5, "ops": ["x"]}, "revision"),          # from the future
        ]
        for data, field in cases:
            await ws.send("op", data)
            error = await ws.error()
            assert (error["code"], error.get("field"), error.get("request_type")) == ("invalid", field, "op"), (data, error)
        assert (await ws.ping())["nonce"] == "n1"
        await ws.expect_none("ack", 0.3)
        await ws.close()

    run(main())
    assert get_code(gw, sid) == before
    assert_serves_on(gw, sid)


INT64_MAX = 2**63 - 1
HUGE_OPS = {
    "delete_int64_min": [-(2**63)],
    "two_huge_retains": [INT64_MAX, INT64_MAX],
    "huge_retain_then_retain": [INT64_MAX, 1],
    "two_huge_deletes": [-INT64_MAX, -INT64_MAX],
    "huge_retain_then_insert": [INT64_MAX, "x"],
    "insert_then_huge_retain": ["x", INT64_MAX],
    "retain_then_huge_delete": [1, -INT64_MAX],
}


@pytest.mark.parametrize("case", list(HUGE_OPS))
def test_op_with_counts_at_the_integer_limits_is_refused_and_the_gateway_survives(start_gateway, case):
    fresh = start_gateway()  # its own gateway: a crash must not take the module's down
    sid = create_session(fresh, code="ab")["id"]

    async def main():
        ws = await WS.open(fresh, sid)
        await ws.join(name="Tester")
        await ws.send("op", {"revision": 0, "ops": HUGE_OPS[case]})
        return await ws.error()

    try:
        error = run(main())
    finally:
        assert fresh.alive, f"the gateway died:\n{fresh.read_log()[-600:]}"
    assert (error["code"], error.get("field")) == ("invalid", "ops")
    assert_serves_on(fresh, sid)


def test_document_over_max_code_bytes_is_refused_as_too_large(gw, sid):
    before = get_code(gw, sid)

    async def main():
        ws = await WS.open(gw, sid)
        welcome = await ws.join(name="Big")
        await ws.send("code-update", {"code": "é" * MAX_CODE})  # 2 bytes each: twice the limit
        error = await ws.error()
        assert (error["code"], error.get("request_type")) == ("too_large", "code-update")
        await ws.send("op", {"revision": welcome["revision"], "ops": ["😀" * (MAX_CODE // 4 + 1)]})
        error = await ws.error()
        assert (error["code"], error.get("field")) == ("too_large", "ops")
        assert (await ws.ping())["nonce"] == "n1"
        await ws.close()

    run(main())
    assert get_code(gw, sid) == before
    assert_serves_on(gw, sid)


def _random_session_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


def _refused_join(gw, sid, **join):
    async def main():
        ws = await WS.open(gw, sid)
        try:
            await ws.join(**join)
        except ServerError as e:
            return e.message["data"], await ws.closed_code()
        raise AssertionError("the join was accepted")

    return run(main())


def test_join_of_an_unknown_session_gets_not_found_then_1008(gw, sid):
    error, code = _refused_join(gw, _random_session_id(), name="Nobody")
    assert (error["code"], error.get("request_type")) == ("not_found", "join")
    assert code == 1008
    assert_serves_on(gw, sid)


def test_join_with_a_revision_from_the_future_reloads_the_document(gw, sid):
    """A client ahead of the server (its writes were lost in a Redis failover) takes the server's
    text: welcome says resync and carries no missed ops."""
    async def main():
        ws = await WS.open(gw, sid)
        welcome = await ws.join(name="Future", revision=10_000)
        assert welcome.get("resync") is True
        assert "missed_ops" not in welcome
        assert welcome["code"] == get_code(gw, sid)["code"]
        assert welcome["revision"] == get_code(gw, sid)["revision"]
        await ws.close()

    run(main())
    assert_serves_on(gw, sid)


def test_join_of_an_expired_session_gets_session_ended_then_1008(start_gateway):
    short = start_gateway("--session-ttl", "2")
    sid = create_session(short)["id"]
    time.sleep(3)
    error, code = _refused_join(short, sid, name="Late")
    assert error["code"] == "session_ended"
    assert code == 1008
    assert_serves_on(short, create_session(short)["id"])


def test_too_many_connections_gets_session_full_then_1008(start_gateway):
    small = start_gateway("--max-session-connections", "3")
    sid = create_session(small)["id"]

    async def main():
        open_ = []
        for name in ("A", "B", "C"):
            ws = await WS.open(small, sid)
            await ws.join(name=name)
            open_.append(ws)
        fourth = await WS.open(small, sid)
        try:
            await fourth.join(participant_token=open_[0].welcome["participant_token"])
            raise AssertionError("a fourth connection was let in")
        except ServerError as e:
            assert e.message["data"]["code"] == "session_full", e.message
        assert await fourth.closed_code() == 1008
        # The three stay usable; when one goes, a new connection fits again.
        for ws in open_:
            await ws.ping()
        await open_.pop().close()
        await asyncio.sleep(0.3)
        again = await WS.open(small, sid)
        await again.join(participant_token=open_[0].welcome["participant_token"])
        for ws in open_ + [again]:
            await ws.close()

    run(main())
    assert_serves_on(small, create_session(small)["id"])


def test_a_join_refused_for_too_many_connections_adds_no_participant(start_gateway):
    """Principle 6: every bad input gets a clear error and changes nothing."""
    small = start_gateway("--max-session-connections", "2")
    sid = create_session(small)["id"]

    async def main():
        kept = []
        for name in ("A", "B"):
            ws = await WS.open(small, sid)
            await ws.join(name=name)
            kept.append(ws)
        third = await WS.open(small, sid)
        with pytest.raises(ServerError) as refused:
            await third.join(name="C")
        assert refused.value.message["data"]["code"] == "session_full"
        for ws in kept:
            await ws.close()

    run(main())
    assert sorted(p["name"] for p in get_users(small, sid)) == ["A", "B"]


@pytest.mark.slow
def test_no_join_within_10_seconds_closes_1008(gw, sid):
    async def main():
        ws = await WS.open(gw, sid)
        started = time.monotonic()
        code = await ws.closed_code(timeout=16)
        took = time.monotonic() - started
        errors = [m["data"]["code"] for m in ws.log if m["type"] == "error"]
        return code, took, errors

    code, took, errors = run(main())
    assert code == 1008
    assert 9.5 <= took <= 13.5, took
    assert errors == ["join_timeout"]
    assert_serves_on(gw, sid)
