"""An editor that survives its gateway: ot.js' client protocol over `websockets`, through the
balancer, reconnecting and rejoining (participant_token + revision) when its socket goes.

Each edit inserts one unique token (`<name:n>`) between two tokens, one op in flight at a time,
so the tokens acknowledged by the server are exactly the ops the server acknowledged: after the
run, every acknowledged token must be in the final text, once.
"""

from __future__ import annotations

import asyncio
import json
import random
import time

import httpx

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from harness.ot import OTClient, TextOperation


class Editor:
    def __init__(self, url: str, name: str, seed: int):
        self.url = url
        self.name = name
        self.rng = random.Random(seed)
        self.ot: OTClient | None = None
        self.token: str | None = None
        self.user_id: str | None = None
        self.counter = 0
        self.in_flight: str | None = None     # the token of the op awaiting its ack
        self.acked: list[str] = []            # tokens the server acknowledged (ack or in missed_ops)
        self.acked_at: list[float] = []       # when each of those arrived (time.monotonic())
        self.dropped: list[str] = []          # tokens whose op never reached the server (resent)
        self.reconnects = 0
        self.unavailable = 0                  # ops refused as unavailable (then rejoined)
        self.close_codes: list[int | None] = []
        self.failures: list[str] = []
        self.catchups: list[tuple[int, int]] = []   # (missed ops applied, revision) per rejoin
        self.ws = None
        self.stop = False
        self.connected = asyncio.Event()

    # -- connection -----------------------------------------------------------------------------

    async def _connect(self, deadline: float):
        last = None
        while time.monotonic() < deadline:
            try:
                ws = await ws_connect(self.url, open_timeout=3, ping_interval=None, close_timeout=1, max_size=None)
            except (OSError, InvalidStatus, asyncio.TimeoutError) as e:
                last = e
                await asyncio.sleep(0.1)
                continue
            join: dict = {"name": self.name} if self.token is None else {
                "participant_token": self.token, "revision": self.ot.revision}
            try:
                await ws.send(json.dumps({"type": "join", "data": join}))
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if message["type"] == "welcome":
                        break
                    if message["type"] == "error":
                        if message["data"].get("code") == "unavailable":
                            raise ConnectionClosed(None, None)  # its store is failing over: again shortly
                        raise AssertionError(f"join refused: {message}")
            except (ConnectionClosed, asyncio.TimeoutError) as e:
                last = e
                await ws.close()
                await asyncio.sleep(0.1)
                continue
            self._welcome(message["data"])
            self.ws = ws
            self.connected.set()
            return
        raise AssertionError(f"{self.name}: could not reconnect through the balancer: {last!r}")

    def _welcome(self, data: dict):
        if self.token is None:
            self.token = data["participant_token"]
            self.user_id = data["you"]["id"]
            self.ot = OTClient(data["revision"], data["code"], self._send)
            return
        if data.get("resync"):
            self.failures.append(f"resync at revision {data['revision']} (op log too short?)")
            return
        missed = data.get("missed_ops", [])
        for op in missed:
            if op["revision"] <= self.ot.revision:
                continue
            if op.get("user_id") == self.user_id and self.ot.outstanding is not None:
                # Our op in flight was committed before the old socket went: its ack.
                self.ot.server_ack(op["revision"])
                self._acked()
            else:
                self.ot.apply_server(op["revision"], op["ops"])
        self.catchups.append((len(missed), data["revision"]))
        if self.ot.revision != data["revision"]:
            self.failures.append(f"after catch-up at {self.ot.revision}, the server is at {data['revision']}")
        if self.ot.outstanding is None and self.ot.text != data["code"]:
            self.failures.append("after catch-up the text differs from the server's")
        if self.ot.outstanding is not None:
            # Never reached the server: send it again (transformed over what we missed).
            self.dropped.append(self.in_flight)
            self._pending_resend = True

    def _acked(self):
        self.acked.append(self.in_flight)
        self.acked_at.append(time.monotonic())
        self.in_flight = None

    def _send(self, revision: int, op: TextOperation):
        message = json.dumps({"type": "op", "data": {"revision": revision, "ops": op.to_json()}})
        asyncio.get_running_loop().create_task(self._send_text(message))

    async def _send_text(self, text: str):
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            pass  # the reader notices and reconnects; the op is resent after the rejoin

    # -- the run ----------------------------------------------------------------------------------

    async def run(self, reconnect_within: float = 20):
        self._pending_resend = False
        await self._connect(time.monotonic() + reconnect_within)
        writer = asyncio.create_task(self._write())
        try:
            while True:
                try:
                    async for raw in self.ws:
                        message = json.loads(raw)
                        kind, data = message["type"], message["data"]
                        if kind == "ack":
                            self.ot.server_ack(data["revision"])
                            self._acked()
                        elif kind == "op":
                            self.ot.apply_server(data["revision"], data["ops"])
                        elif kind == "error" and data.get("code") == "unavailable" and data.get("request_type") == "op":
                            # The op's store is unreachable (a Redis primary failing over): whether
                            # it was committed before the link went is unknown, so rejoin: the
                            # missed ops say (ours among them is its ack), else it is sent again.
                            self.unavailable += 1
                            await self.ws.close()
                        elif kind == "error":
                            self.failures.append(f"error: {data}")
                    code = self.ws.close_code
                except ConnectionClosed as e:
                    code = e.rcvd.code if e.rcvd else None
                if self.stop:
                    return
                self.close_codes.append(code)
                self.reconnects += 1
                self.connected.clear()
                await self._connect(time.monotonic() + reconnect_within)
                if self._pending_resend:
                    self._pending_resend = False
                    self._send(self.ot.revision, self.ot.outstanding)
        finally:
            writer.cancel()

    async def _write(self):
        while not self.stop:
            await asyncio.sleep(self.rng.uniform(0.01, 0.05))
            if self.stop or not self.connected.is_set() or not self.ot.idle:
                continue
            self.counter += 1
            token = f"<{self.name}:{self.counter}>"
            # Between two tokens (never inside one), so every token stays whole whatever the order.
            text = self.ot.text
            boundaries = [0] + [i + 1 for i, ch in enumerate(text) if ch == ">"]
            position = self.rng.choice(boundaries)
            self.in_flight = token
            self.ot.apply_client(TextOperation().retain(position).insert(token).retain(len(self.ot.text) - position))

    async def settle(self, timeout: float = 15):
        """Stops editing and waits until the op in flight is acknowledged."""
        self.stop = True
        deadline = time.monotonic() + timeout
        while not (self.ot.idle and self.connected.is_set()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: op still in flight after {timeout} s")
            await asyncio.sleep(0.05)

    async def close(self):
        self.stop = True
        if self.ws is not None:
            await self.ws.close()


# -- many editors on a cluster (harness.clusters.Cluster) ----------------------------------------


def editors_for(cluster, sessions: list[str], seed: int, balancer: bool = False) -> dict[str, list[Editor]]:
    """Two editors per session, one on each gateway (straight to it, so each session's ops must
    cross gateways through the session's channel); with `balancer`, a third through HAProxy."""
    urls = [f"ws://{cluster.addr(g)}/ws/sessions/{{sid}}" for g in cluster.nodes("gateway")]
    assert len(urls) == 2
    if balancer:
        urls.append(cluster.ws_url("{sid}"))
    return {sid: [Editor(url.format(sid=sid), f"e{seed}{i}{n}", seed=seed * 100 + i * 10 + n)
                  for n, url in enumerate(urls)] for i, sid in enumerate(sessions)}


async def until(predicate, timeout: float, what: str) -> float:
    """Waits (letting the editors run) until `predicate()`; when it held."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.05)
    return time.monotonic()


async def check_converged(cluster, sid: str, editors: list[Editor]) -> dict:
    """After `settle`: every editor comes to the server's text and revision (the others' last ops
    may still be on their way to it), with no failure, and every token it had acknowledged is in
    that text once. The final {code, revision...}."""
    final = (await asyncio.to_thread(httpx.get, f"{cluster.url}/api/v1/sessions/{sid}/code", timeout=10)).json()
    await until(lambda: all(e.ot.revision >= final["revision"] for e in editors), 15,
                f"every editor of {sid} at revision {final['revision']}: {[(e.name, e.ot.revision) for e in editors]}")
    for e in editors:
        assert not e.failures, (e.name, e.failures)
        assert e.ot.text == final["code"] and e.ot.revision == final["revision"], (e.name, sid, e.ot.revision, final["revision"])
        for token in e.acked:
            assert final["code"].count(token) == 1, f"acknowledged {token} of {e.name} is not in the final text once"
    return final
