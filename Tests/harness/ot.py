"""ot.js text operations and the ot.js client state machine, in Python.

Same semantics as Sources/Interview/TextOperation.swift (and ot.js): an operation is a list of
components walking the whole document: a positive int retains that many characters, a negative
int deletes that many, a str inserts. Lengths count Unicode scalars, which are Python str indices.
"""

from __future__ import annotations

import random


class OTError(ValueError):
    pass


class TextOperation:
    __slots__ = ("ops", "base_length", "target_length")

    def __init__(self, ops=None):
        self.ops: list = []
        self.base_length = 0
        self.target_length = 0
        for component in ops or []:
            if isinstance(component, str):
                self.insert(component)
            elif isinstance(component, int) and not isinstance(component, bool):
                if component > 0:
                    self.retain(component)
                elif component < 0:
                    self.delete(-component)
                else:
                    raise OTError("0 is neither a retain nor a delete")
            else:
                raise OTError(f"bad component {component!r}")

    # -- building ---------------------------------------------------------------------------

    def retain(self, n: int) -> "TextOperation":
        if n <= 0:
            return self
        self.base_length += n
        self.target_length += n
        if self.ops and _is_retain(self.ops[-1]):
            self.ops[-1] += n
        else:
            self.ops.append(n)
        return self

    def insert(self, text: str) -> "TextOperation":
        if not text:
            return self
        self.target_length += len(text)
        ops = self.ops
        if ops and isinstance(ops[-1], str):
            ops[-1] += text
        elif ops and _is_delete(ops[-1]):
            # Inserts go before deletes at the same spot, so equal operations look the same.
            if len(ops) >= 2 and isinstance(ops[-2], str):
                ops[-2] += text
            else:
                ops.append(ops[-1])
                ops[-2] = text
        else:
            ops.append(text)
        return self

    def delete(self, n: int) -> "TextOperation":
        if n <= 0:
            return self
        self.base_length += n
        if self.ops and _is_delete(self.ops[-1]):
            self.ops[-1] -= n
        else:
            self.ops.append(-n)
        return self

    # -- queries ----------------------------------------------------------------------------

    def to_json(self) -> list:
        return list(self.ops)

    def is_noop(self) -> bool:
        return all(_is_retain(c) for c in self.ops)

    def padded(self, length: int) -> "TextOperation":
        """The same op retaining up to `length` (the wire form may leave the trailing retain out)."""
        if length < self.base_length:
            raise OTError(f"op spans {self.base_length} characters, more than {length}")
        copy = TextOperation(self.ops)
        copy.retain(length - self.base_length)
        return copy

    def __eq__(self, other):
        return isinstance(other, TextOperation) and self.ops == other.ops

    def __repr__(self):
        return f"TextOperation({self.ops!r})"

    # -- ot.js algorithms -------------------------------------------------------------------

    def apply(self, text: str) -> str:
        if len(text) != self.base_length:
            raise OTError(f"op spans {self.base_length} characters but the text has {len(text)}")
        out = []
        index = 0
        for c in self.ops:
            if isinstance(c, str):
                out.append(c)
            elif c > 0:
                out.append(text[index:index + c])
                index += c
            else:
                index -= c
        return "".join(out)

    def compose(self, other: "TextOperation") -> "TextOperation":
        """apply(apply(d, self), other) == apply(d, self.compose(other))."""
        if self.target_length != other.base_length:
            raise OTError("compose: the first op's target length must equal the second's base length")
        result = TextOperation()
        ops1, ops2 = self.ops, other.ops
        i1 = i2 = 0
        op1 = ops1[0] if ops1 else None
        op2 = ops2[0] if ops2 else None

        def next1():
            nonlocal i1, op1
            i1 += 1
            op1 = ops1[i1] if i1 < len(ops1) else None

        def next2():
            nonlocal i2, op2
            i2 += 1
            op2 = ops2[i2] if i2 < len(ops2) else None

        while op1 is not None or op2 is not None:
            if op1 is not None and _is_delete(op1):
                result.delete(-op1)
                next1()
                continue
            if op2 is not None and isinstance(op2, str):
                result.insert(op2)
                next2()
                continue
            if op1 is None:
                raise OTError("compose: the first operation is too short")
            if op2 is None:
                raise OTError("compose: the first operation is too long")
            if _is_retain(op1) and _is_retain(op2):
                if op1 > op2:
                    result.retain(op2)
                    op1 = op1 - op2
                    next2()
                elif op1 == op2:
                    result.retain(op1)
                    next1()
                    next2()
                else:
                    result.retain(op1)
                    op2 = op2 - op1
                    next1()
            elif isinstance(op1, str) and _is_delete(op2):
                if len(op1) > -op2:
                    op1 = op1[-op2:]
                    next2()
                elif len(op1) == -op2:
                    next1()
                    next2()
                else:
                    op2 = op2 + len(op1)
                    next1()
            elif isinstance(op1, str) and _is_retain(op2):
                if len(op1) > op2:
                    result.insert(op1[:op2])
                    op1 = op1[op2:]
                    next2()
                elif len(op1) == op2:
                    result.insert(op1)
                    next1()
                    next2()
                else:
                    result.insert(op1)
                    op2 = op2 - len(op1)
                    next1()
            elif _is_retain(op1) and _is_delete(op2):
                if op1 > -op2:
                    result.delete(-op2)
                    op1 = op1 + op2
                    next2()
                elif op1 == -op2:
                    result.delete(-op2)
                    next1()
                    next2()
                else:
                    result.delete(op1)
                    op2 = op2 + op1
                    next1()
            else:
                raise OTError(f"compose: unexpected components {op1!r} {op2!r}")
        return result

    @staticmethod
    def transform(a: "TextOperation", b: "TextOperation"):
        """(a', b') with apply(apply(d, a), b') == apply(apply(d, b), a'); a's insert goes first at a tie."""
        if a.base_length != b.base_length:
            raise OTError("transform: both operations must have the same base length")
        a_prime, b_prime = TextOperation(), TextOperation()
        ops1, ops2 = a.ops, b.ops
        i1 = i2 = 0
        op1 = ops1[0] if ops1 else None
        op2 = ops2[0] if ops2 else None

        def next1():
            nonlocal i1, op1
            i1 += 1
            op1 = ops1[i1] if i1 < len(ops1) else None

        def next2():
            nonlocal i2, op2
            i2 += 1
            op2 = ops2[i2] if i2 < len(ops2) else None

        while op1 is not None or op2 is not None:
            if op1 is not None and isinstance(op1, str):
                a_prime.insert(op1)
                b_prime.retain(len(op1))
                next1()
                continue
            if op2 is not None and isinstance(op2, str):
                a_prime.retain(len(op2))
                b_prime.insert(op2)
                next2()
                continue
            if op1 is None:
                raise OTError("transform: the first operation is too short")
            if op2 is None:
                raise OTError("transform: the first operation is too long")
            if _is_retain(op1) and _is_retain(op2):
                m = min(op1, op2)
                a_prime.retain(m)
                b_prime.retain(m)
                if op1 > op2:
                    op1 -= op2
                    next2()
                elif op1 == op2:
                    next1()
                    next2()
                else:
                    op2 -= op1
                    next1()
            elif _is_delete(op1) and _is_delete(op2):
                if -op1 > -op2:
                    op1 -= op2
                    next2()
                elif op1 == op2:
                    next1()
                    next2()
                else:
                    op2 -= op1
                    next1()
            elif _is_delete(op1) and _is_retain(op2):
                m = min(-op1, op2)
                a_prime.delete(m)
                if -op1 > op2:
                    op1 += op2
                    next2()
                elif -op1 == op2:
                    next1()
                    next2()
                else:
                    op2 += op1
                    next1()
            elif _is_retain(op1) and _is_delete(op2):
                m = min(op1, -op2)
                b_prime.delete(m)
                if op1 > -op2:
                    op1 += op2
                    next2()
                elif op1 == -op2:
                    next1()
                    next2()
                else:
                    op2 += op1
                    next1()
            else:
                raise OTError(f"transform: unexpected components {op1!r} {op2!r}")
        return a_prime, b_prime


def _is_retain(c) -> bool:
    return isinstance(c, int) and c > 0


def _is_delete(c) -> bool:
    return isinstance(c, int) and c < 0


# -- random operations (for tests) ---------------------------------------------------------

# ASCII, a precomposed accent, CJK, an emoji outside the BMP, and an emoji + skin-tone modifier
# (two scalars), so positions that JavaScript's UTF-16 indices would get wrong are exercised.
SAMPLES = ["a", "bc", "XYZ ", "\n", "é", "ü", "漢字", "中", "😀", "👍🏽", "ñ😀é", "𝄞"]


def random_insert_text(rng: random.Random) -> str:
    return "".join(rng.choice(SAMPLES) for _ in range(rng.randint(1, 3)))


def random_op(rng: random.Random, text: str, max_len: int = 400) -> TextOperation:
    """A random op on `text`: an insert, a delete, or both, at random places."""
    n = len(text)
    op = TextOperation()
    if n == 0 or (n < max_len and rng.random() < 0.55):
        at = rng.randint(0, n)
        op.retain(at)
        op.insert(random_insert_text(rng))
        if at < n and rng.random() < 0.2:
            op.delete(rng.randint(1, min(3, n - at)))
            at = op.base_length
        op.retain(n - op.base_length)
    else:
        at = rng.randint(0, n - 1)
        op.retain(at)
        op.delete(rng.randint(1, min(8, n - at)))
        if rng.random() < 0.3:
            op.insert(random_insert_text(rng))
        op.retain(n - op.base_length)
    return op


# -- the ot.js client ----------------------------------------------------------------------


class OTClient:
    """ot.js' Client: Synchronized / AwaitingConfirm(outstanding) / AwaitingWithBuffer(outstanding, buffer).

    `send` is called with (revision, op) whenever an op must go to the server.
    """

    def __init__(self, revision: int, text: str, send):
        self.revision = revision
        self.text = text
        self.outstanding: TextOperation | None = None
        self.buffer: TextOperation | None = None
        self._send = send
        self.acks: list[int] = []
        self.received: list[int] = []

    @property
    def state(self) -> str:
        if self.outstanding is None:
            return "synchronized"
        return "awaiting" if self.buffer is None else "awaiting_with_buffer"

    @property
    def idle(self) -> bool:
        return self.outstanding is None and self.buffer is None

    def server_length(self) -> int:
        """Length of the server's text at self.revision."""
        return len(self.text) if self.outstanding is None else self.outstanding.base_length

    def apply_client(self, op: TextOperation):
        self.text = op.apply(self.text)
        if self.outstanding is None:
            self.outstanding = op
            self._send(self.revision, op)
        elif self.buffer is None:
            self.buffer = op
        else:
            self.buffer = self.buffer.compose(op)

    def apply_server(self, revision: int, ops_json):
        """An op of someone else's, committed as `revision`."""
        op = TextOperation(ops_json).padded(self.server_length())
        if self.outstanding is not None:
            self.outstanding, op = TextOperation.transform(self.outstanding, op)
            if self.buffer is not None:
                self.buffer, op = TextOperation.transform(self.buffer, op)
        self.text = op.apply(self.text)
        self.revision += 1
        self.received.append(revision)

    def server_ack(self, revision: int):
        if self.outstanding is None:
            raise OTError("ack without an operation in flight")
        self.revision += 1
        self.acks.append(revision)
        self.outstanding = self.buffer
        self.buffer = None
        if self.outstanding is not None:
            self._send(self.revision, self.outstanding)
