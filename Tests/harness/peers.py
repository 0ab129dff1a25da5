"""An editing peer: a `websockets` connection driven by ot.py's ot.js client state machine, one per
document: the code, and (an interviewer's, whose welcome carries `notes`) the private notes, which
travel as `notes-op` / `notes-ack` with revisions of their own."""

from __future__ import annotations

import asyncio
import json
import time

from websockets.exceptions import ConnectionClosed

from harness.ot import OTClient, TextOperation
from harness.ws import WS


class Peer:
    def __init__(self, ws: WS, name: str):
        self.ws = ws
        self.name = name
        self.ot: OTClient | None = None
        self.me: dict | None = None
        self.last_message_at = time.monotonic()
        self.errors: list[dict] = []
        self.others: list[dict] = []       # non-document messages (user-joined, cursor-position...)
        self.op_messages: list[dict] = []  # every `op` message's data
        self.closed: int | None = None
        self.failures: list[str] = []     # protocol violations seen by the reader
        self.out_of_order: list[str] = []  # acks/ops that came before a lower revision
        self.held: dict[int, tuple] = {}   # early acks/ops, by revision
        self.notes: OTClient | None = None      # the notes' client, for an interviewer
        self.notes_held: dict[int, tuple] = {}
        self.notes_op_messages: list[dict] = []  # every `notes-op` message's data
        self._reader: asyncio.Task | None = None

    @classmethod
    async def join(cls, gw, sid: str, name: str, ensure_ascii: bool = False, **join) -> "Peer":
        ws = await WS.open(gw, sid, ensure_ascii=ensure_ascii)
        peer = cls(ws, name)
        welcome = await ws.join(name=name, **join)
        peer.me = welcome["you"]
        peer.ot = OTClient(welcome["revision"], welcome["code"], peer._send_op)
        if "notes" in welcome:
            peer.notes = OTClient(welcome["notes"]["revision"], welcome["notes"]["text"], peer._send_notes_op)
        peer.welcome = welcome
        # The server holds channel messages back until the welcome is out, so nothing that came
        # before it touches the document.
        peer.others.extend(ws.pending)
        ws.pending.clear()
        peer._reader = asyncio.create_task(peer._read())
        return peer

    def _send_op(self, revision: int, op: TextOperation, kind: str = "op"):
        message = json.dumps({"type": kind, "data": {"revision": revision, "ops": op.to_json()}},
                             ensure_ascii=self.ws.ensure_ascii)
        asyncio.get_running_loop().create_task(self.ws.ws.send(message))

    def _send_notes_op(self, revision: int, op: TextOperation):
        self._send_op(revision, op, "notes-op")

    async def _read(self):
        try:
            async for raw in self.ws.ws:
                self.last_message_at = time.monotonic()
                message = json.loads(raw)
                self.ws.log.append(message)
                kind, data = message["type"], message["data"]
                if kind in ("ack", "op"):
                    self._document_message(kind, data)
                elif kind in ("notes-ack", "notes-op") and self.notes is not None:
                    self._document_message(kind, data, notes=True)
                elif kind == "error":
                    self.errors.append(data)
                else:
                    self.others.append(message)
        except ConnectionClosed as e:
            self.closed = e.rcvd.code if e.rcvd else -1
        except Exception as e:  # noqa: BLE001 -- reported by quiesce() and the tests
            self.failures.append(f"reader failed: {e!r}")

    def _document_message(self, kind: str, data: dict, notes: bool = False):
        """ot.js' client needs acks and ops in revision order. One that comes early is recorded
        (`out_of_order`) and held until the revisions before it are in; a repeat is a failure."""
        ot, held, ops = (self.notes, self.notes_held, self.notes_op_messages) if notes else (self.ot, self.held, self.op_messages)
        revision = data["revision"]
        if revision <= ot.revision or revision in held:
            self.failures.append(f"{kind} {revision} repeated (client at {ot.revision})")
            return
        if revision != ot.revision + 1:
            self.out_of_order.append(f"{kind} {revision} arrived at revision {ot.revision}")
        held[revision] = (kind, data)
        while ot.revision + 1 in held:
            kind, data = held.pop(ot.revision + 1)
            if kind.endswith("ack"):
                ot.server_ack(data["revision"])
            else:
                ops.append(data)
                ot.apply_server(data["revision"], data["ops"])

    @property
    def idle(self) -> bool:
        notes_idle = self.notes is None or (self.notes.idle and not self.notes_held)
        return self.ot.idle and not self.held and notes_idle

    def edit(self, op: TextOperation):
        self.ot.apply_client(op)

    def edit_notes(self, op: TextOperation):
        self.notes.apply_client(op)

    @property
    def text(self) -> str:
        return self.ot.text

    @property
    def notes_text(self) -> str:
        return self.notes.text

    async def close(self):
        if self._reader:
            self._reader.cancel()
        await self.ws.close()


async def quiesce(peers: list[Peer], quiet: float = 0.5, timeout: float = 30):
    """Waits until no peer has an op in flight or buffered and none received anything for `quiet` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = time.monotonic()
        if all(p.idle for p in peers) and all(now - p.last_message_at >= quiet for p in peers):
            return
        for p in peers:
            assert not p.errors, f"{p.name} got errors: {p.errors[:3]}"
            assert p.closed is None, f"{p.name} was closed with {p.closed}"
            assert not p.failures, f"{p.name}: {p.failures[:5]}"
        await asyncio.sleep(0.05)
    states = {p.name: (p.ot.state, round(time.monotonic() - p.last_message_at, 2), p.ot.revision, sorted(p.held)[:5])
              for p in peers}
    raise AssertionError(f"peers did not quiesce within {timeout} s: {states}")
