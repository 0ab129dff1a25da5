"""Issue 5: the per-connection WebSocket limits (messages, cursor updates) and the REST join
limit reached over WebSocket upgrades. The gateways here turn rate limits on explicitly."""
from __future__ import annotations

import asyncio

from harness.rest import create_session
from harness.ws import WS, run


def test_a_flooding_connection_gets_errors_then_is_closed_and_others_are_unaffected(start_gateway):
    gw = start_gateway("--rate-limits", "on", "--rate-requests", "10000/60", "--rate-joins", "1000/60",
                       "--rate-sessions", "1000/3600", "--ws-rate-messages", "20/1")
    sid = create_session(gw)["id"]

    async def main():
        flood, calm = await WS.open(gw, sid), await WS.open(gw, sid)
        await flood.join(name="Flood")
        await calm.join(name="Calm")
        # Within the burst, every ping is answered.
        for n in range(10):
            await flood.send("ping", {"nonce": f"ok{n}"})
        for n in range(10):
            await flood.expect("pong", where=lambda d, n=n: d.get("nonce") == f"ok{n}")
        # Far past it: refused with rate_limited, and 20 refusals in a row close with 1008.
        for n in range(200):
            try:
                await flood.send("ping", {"nonce": f"x{n}"})
            except Exception:
                break
        error = (await flood.expect("error", where=lambda d: d.get("code") == "rate_limited"))["data"]
        assert "slow down" in error["detail"] or "closing" in error["detail"]
        assert await flood.closed_code(5) == 1008
        # The calm client on the same session and gateway is served as before.
        assert (await calm.ping("still-here"))["nonce"] == "still-here"
        await calm.close()

    run(main())


def test_cursor_updates_have_their_own_tighter_limit(start_gateway):
    gw = start_gateway("--rate-limits", "on", "--rate-requests", "10000/60", "--rate-joins", "1000/60",
                       "--rate-sessions", "1000/3600", "--ws-rate-cursors", "5/1", "--ws-rate-messages", "1000/1")
    sid = create_session(gw)["id"]

    async def main():
        ws = await WS.open(gw, sid)
        await ws.join(name="Mover")
        for position in range(12):
            await ws.send("cursor-position", {"position": position})
        error = (await ws.expect("error", where=lambda d: d.get("code") == "rate_limited"))["data"]
        assert "ws-cursors" in error["detail"]
        # Other messages still go through: only cursors are over their limit.
        assert (await ws.ping("fine"))["nonce"] == "fine"
        await ws.close()

    run(main())


def test_websocket_upgrades_count_against_the_join_limit(start_gateway):
    gw = start_gateway("--rate-limits", "on", "--rate-requests", "10000/60", "--rate-joins", "3/60",
                       "--rate-sessions", "1000/3600")
    sid = create_session(gw)["id"]

    async def main():
        opened = [await WS.open(gw, sid) for _ in range(3)]
        try:
            await WS.open(gw, sid)
        except Exception as error:  # the handshake is refused with HTTP 429
            assert "429" in str(error), error
        else:
            raise AssertionError("a fourth upgrade within the minute was accepted")
        for ws in opened:
            await ws.close()

    run(main())
