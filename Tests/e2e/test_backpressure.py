"""Back-pressure: a client that stops reading is dropped; the gateway's memory stays bounded and
everybody else carries on."""

import asyncio
import random
import socket
import string
import time

from harness.ot import TextOperation
from harness.rest import create_session, get_code
from harness.ws import WS, RawWS, run
from harness.peers import Peer, quiesce

QUEUE_BYTES = 65536
UPDATE_CHARS = 60_000   # each code-update replaces the whole text: a ~60 KB op frame to everyone
UPDATES = 500           # ~30 MB of broadcasts in all
# An unbounded send queue for the stalled client would hold what the kernel did not take: the
# ~30 MB sent minus the socket buffers (a few MB at most with a 4 KiB receive window), so the
# gateway's RSS would grow by 20+ MB. With a 64 KiB queue bound it grows by no more than the
# allocator's slack for a few 60 KB messages in flight. 12 MB sits between the two. (Measured on
# a debug build: +0.3 MB with the 64 KiB bound; +27 MB with --ws-max-queue-bytes 1000000000.)
RSS_GROWTH_BOUND_KIB = 12 * 1024


def test_client_that_stops_reading_is_dropped_and_memory_stays_bounded(start_gateway):
    gw = start_gateway("--ws-max-queue-bytes", str(QUEUE_BYTES), "--ws-max-message-bytes", "131072",
                       "--op-log-limit", "20")
    sid = create_session(gw, code="")["id"]
    rng = random.Random(5)
    texts = ["".join(rng.choice(string.ascii_letters) for _ in range(UPDATE_CHARS)) for _ in range(8)]

    async def main():
        healthy = await Peer.join(gw, sid, "Healthy")
        writer = await WS.open(gw, sid)
        await writer.join(name="Writer")

        # The stalled client: a raw socket with a tiny receive buffer that never reads after join.
        slow = RawWS.connect(gw, sid, rcvbuf=4096)
        slow.send_json({"type": "join", "data": {"name": "Slow"}})
        deadline = time.monotonic() + 5
        slow_id = None
        while slow_id is None and time.monotonic() < deadline:
            for m in healthy.others:
                if m["type"] == "user-joined" and m["data"]["name"] == "Slow":
                    slow_id = m["data"]["user_id"]
            await asyncio.sleep(0.02)
        assert slow_id, "the slow client never joined"

        # Warm up (allocator, caches), then take the baseline.
        for i in range(10):
            await writer.send("code-update", {"code": texts[i % len(texts)]})
            await writer.expect("ack")
        await quiesce([healthy])
        baseline = gw.rss_kib()
        peak = baseline

        sent = 0
        for i in range(UPDATES):
            await writer.send("code-update", {"code": texts[(i + 3) % len(texts)] + str(i)})
            await writer.expect("ack", timeout=10)
            sent += 1
            if i % 10 == 0:
                peak = max(peak, gw.rss_kib())
        await quiesce([healthy], timeout=30)
        peak = max(peak, gw.rss_kib())

        # The slow client was dropped: the others see it go offline...
        left = [m for m in healthy.others if m["type"] == "user-left" and m["data"]["user_id"] == slow_id]
        assert left, "the stalled client was never disconnected"
        assert left[0]["data"]["is_online"] is False
        # ...and its socket, once it reads, holds far less than was sent, then ends (EOF or reset).
        # If the close frame made it out, it says 1008.
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        code, _, eof = slow.read_until_close(timeout=10)
        if not eof:
            assert code == 1008, code
            assert slow.at_eof(5)
        slow.close()
        received_bytes = slow.received_bytes
        assert received_bytes < sent * UPDATE_CHARS / 3, received_bytes

        # The healthy client got every revision and has the server's text.
        server = get_code(gw, sid)
        assert healthy.text == server["code"]
        assert sorted(healthy.ot.received) == list(range(healthy.welcome["revision"] + 1, server["revision"] + 1))
        assert not healthy.failures and not healthy.errors
        await healthy.close()
        await writer.close()
        return baseline, peak, received_bytes, sent

    baseline, peak, received, sent = run(main(), timeout=120)
    print(f"RSS baseline {baseline} KiB, peak {peak} KiB (+{peak - baseline} KiB); slow client got {received} "
          f"bytes of {sent * UPDATE_CHARS}")
    assert peak - baseline < RSS_GROWTH_BOUND_KIB
    # The gateway serves on.
    async def after():
        ws = await WS.open(gw, sid)
        await ws.join(name="After")
        await ws.ping()
        await ws.close()
    run(after())


def test_a_reader_that_pauses_gets_every_queued_frame_whole_and_in_order(start_gateway):
    """A member stops reading until megabytes wait for it in the gateway (below the bound), then
    reads everything, twice. The queued frames arrive whole and in revision order, and the second
    pause works as the first: the send queue's write request and buffers exist only while
    something waits (issue 24), so they are given back after the first drain and made again."""
    gw = start_gateway("--ws-max-queue-bytes", str(64 << 20), "--ws-max-message-bytes", "131072")
    sid = create_session(gw, code="")["id"]
    rng = random.Random(7)
    updates, size = 100, 80_000   # ~8 MB per pause: twice what the kernel buffers at most (tcp_wmem 4 MB)

    async def main():
        writer = await WS.open(gw, sid)
        await writer.join(name="Writer")
        reader = RawWS.connect(gw, sid, rcvbuf=4096)
        reader.sock.settimeout(20)
        reader.send_json({"type": "join", "data": {"name": "Reader"}})
        welcome = reader.recv_json()
        while welcome["type"] != "welcome":
            welcome = reader.recv_json()
        revision = welcome["data"]["revision"]
        text = welcome["data"].get("code", "")
        for pause in range(2):
            sent = []
            for i in range(updates):
                new = "".join(rng.choice(string.ascii_letters) for _ in range(size - 8)) + f"{pause:02d}{i:06d}"
                await writer.send("code-update", {"code": new})
                ack = await writer.expect("ack", timeout=10)
                sent.append((ack["data"]["revision"], new))
            # Now read: every op, whole, in order (other frames, e.g. the writer's presence, pass).
            got = []
            while len(got) < len(sent):
                message = reader.recv_json()
                if message["type"] == "op":
                    text = TextOperation(message["data"]["ops"]).padded(len(text)).apply(text)
                    got.append((message["data"]["revision"], text))
            assert [r for r, _ in got] == list(range(revision + 1, revision + 1 + updates))
            assert [r for r, _ in got] == [r for r, _ in sent]
            assert all(a == b for (_, a), (_, b) in zip(got, sent)), "a frame arrived altered"
            revision = got[-1][0]
        await writer.close()
        reader.close()

    run(main(), timeout=180)
