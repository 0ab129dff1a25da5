"""WebSocket clients for a gateway: `WS`, the protocol over the `websockets` package, and `RawWS`, a raw
socket RFC 6455 client that can send what a well-behaved library never would; `run` for async test
bodies."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

# -- WebSocket through `websockets` ---------------------------------------------------------


class ServerError(AssertionError):
    def __init__(self, message: dict):
        super().__init__(f"server error: {message}")
        self.message = message


class WS:
    """A protocol client over a `websockets` connection. Messages are dicts {type, data, timestamp}."""

    def __init__(self, ws, ensure_ascii: bool = False):
        self.ws = ws
        self.ensure_ascii = ensure_ascii
        self.log: list[dict] = []      # everything received, in order
        self.pending: list[dict] = []  # received but not yet taken by expect()
        self.welcome: dict | None = None

    @classmethod
    async def open(cls, gw, sid: str, ensure_ascii: bool = False, prefix: str = "") -> "WS":
        ws = await ws_connect(gw.ws_url(sid, prefix), max_size=None, open_timeout=5, ping_interval=None,
                              close_timeout=2)
        return cls(ws, ensure_ascii)

    async def send(self, type_: str, data: dict | None = None, **extra):
        message = {"type": type_, "data": data if data is not None else {}}
        message.update(extra)
        await self.ws.send(json.dumps(message, ensure_ascii=self.ensure_ascii))

    async def send_raw(self, text: str):
        await self.ws.send(text)

    async def recv(self, timeout: float = 5) -> dict:
        if self.pending:
            return self.pending.pop(0)
        return await self._read(timeout)

    async def _read(self, timeout: float) -> dict:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, str), f"server sent a binary message: {raw!r}"
        message = json.loads(raw)
        assert set(message) >= {"type", "data", "timestamp"}, message
        self.log.append(message)
        return message

    async def expect(self, type_: str, timeout: float = 5, where=None) -> dict:
        """The next message of `type_` (matching `where(data)`); others stay pending, in order."""
        for i, message in enumerate(self.pending):
            if message["type"] == type_ and (where is None or where(message["data"])):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError(f"no {type_!r} within {timeout} s; got meanwhile: {self.pending[-10:]}")
            try:
                message = await self._read(left)
            except asyncio.TimeoutError:
                raise asyncio.TimeoutError(f"no {type_!r} within {timeout} s; got meanwhile: {self.pending[-10:]}")
            if message["type"] == type_ and (where is None or where(message["data"])):
                return message
            self.pending.append(message)

    async def expect_none(self, type_: str, within: float, where=None):
        """Asserts no `type_` message (matching `where`) arrives within `within` seconds."""
        try:
            message = await self.expect(type_, within, where)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected {type_}: {message}")

    async def join(self, legacy: bool = False, **data) -> dict:
        """Sends join (or join_session) and returns the welcome (session_state) data."""
        await self.send("join_session" if legacy else "join", data)
        want = "session_state" if legacy else "welcome"
        while True:
            message = await self.recv(5)
            if message["type"] == want:
                self.welcome = message["data"]
                return message["data"]
            if message["type"] == "error":
                raise ServerError(message)
            self.pending.append(message)

    async def error(self, timeout: float = 5) -> dict:
        return (await self.expect("error", timeout))["data"]

    async def ping(self, nonce="n1", timeout: float = 5) -> dict:
        await self.send("ping", {"nonce": nonce})
        return (await self.expect("pong", timeout, where=lambda d: d.get("nonce") == nonce))["data"]

    async def closed_code(self, timeout: float = 5) -> int | None:
        """Reads until the server closes; the close code it sent."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                raw = await asyncio.wait_for(self.ws.recv(), deadline - time.monotonic())
                self.log.append(json.loads(raw))
        except ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None
        raise asyncio.TimeoutError(f"the server did not close within {timeout} s")

    async def close(self):
        await self.ws.close()


# -- raw WebSocket over a socket ------------------------------------------------------------


class RawWS:
    """A minimal RFC 6455 client over a plain socket, for malformed input."""

    def __init__(self, sock: socket.socket, leftover: bytes = b""):
        self.sock = sock
        self.buf = leftover
        self.received_bytes = len(leftover)

    @staticmethod
    def handshake_request(port: int, path: str, version: str = "13", key: str | None = None) -> bytes:
        key = key or base64.b64encode(os.urandom(16)).decode()
        return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n\r\n").encode()

    @staticmethod
    def http(port: int, request: bytes, timeout: float = 5) -> tuple[int, dict, bytes]:
        """Sends a raw request; (status, headers, body-so-far) of the response."""
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode(errors="replace").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            return status, headers, body

    @classmethod
    def connect(cls, gw, sid: str, rcvbuf: int | None = None, timeout: float = 5) -> "RawWS":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", gw.port))
        sock.sendall(cls.handshake_request(gw.port, f"/ws/sessions/{sid}"))
        return cls(sock, cls.read_handshake_answer(sock))

    @staticmethod
    def read_handshake_answer(sock: socket.socket, chunk_size: int = 4096) -> bytes:
        """Reads the server's 101 answer; returns the bytes that came after it."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(chunk_size)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        assert b" 101 " in head.split(b"\r\n")[0], head
        return rest

    @staticmethod
    def frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True, rsv: int = 0) -> bytes:
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n <= 0xFFFF:
            header = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            header = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if not mask:
            return header + payload
        key = os.urandom(4)
        masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
        return header + key + masked

    def send_frame(self, opcode: int, payload: bytes, **kw):
        self.sock.sendall(self.frame(opcode, payload, **kw))

    def send_json(self, message: dict):
        self.send_frame(0x1, json.dumps(message).encode())

    def _fill(self, n: int) -> bool:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.received_bytes += len(chunk)
            self.buf += chunk
        return True

    def recv_frame(self):
        """(opcode, payload), or None at EOF."""
        if not self._fill(2):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        assert b1 & 0x80 == 0, "server frames must not be masked"
        n = b1 & 0x7F
        at = 2
        if n == 126:
            if not self._fill(4):
                return None
            n = struct.unpack("!H", self.buf[2:4])[0]
            at = 4
        elif n == 127:
            if not self._fill(10):
                return None
            n = struct.unpack("!Q", self.buf[2:10])[0]
            at = 10
        if not self._fill(at + n):
            return None
        payload = self.buf[at:at + n]
        self.buf = self.buf[at + n:]
        return b0 & 0x0F, payload

    def recv_json(self) -> dict:
        while True:
            frame = self.recv_frame()
            assert frame is not None, "connection closed"
            opcode, payload = frame
            if opcode == 0x1:
                return json.loads(payload)
            assert opcode in (0x9, 0xA), f"unexpected opcode {opcode}: {payload!r}"

    def read_until_close(self, timeout: float = 5):
        """Reads frames until a close frame or EOF: (close code or None, texts seen, eof)."""
        self.sock.settimeout(timeout)
        texts = []
        while True:
            try:
                frame = self.recv_frame()
            except (ConnectionResetError, BrokenPipeError):
                return None, texts, True
            if frame is None:
                return None, texts, True
            opcode, payload = frame
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return code, texts, False
            if opcode == 0x1:
                texts.append(json.loads(payload))

    def at_eof(self, timeout: float = 3) -> bool:
        """True when the server closed the TCP connection (EOF or reset) within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (socket.timeout, TimeoutError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def run(coro, timeout: float = 90):
    """Runs an async test body (pytest-asyncio is not used)."""
    return asyncio.run(asyncio.wait_for(coro, timeout))
