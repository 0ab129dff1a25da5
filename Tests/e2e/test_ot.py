"""ot.py itself: the algorithms the other tests rely on (no server involved)."""

import random

import pytest

from harness.ot import OTClient, OTError, TextOperation, random_op

DOCS = ["", "hello", "é漢😀👍🏽 x\n", "a" * 30]


def test_building_normalizes_like_ot_js():
    op = TextOperation().retain(2).retain(3).delete(1).insert("x").insert("y").delete(2)
    # Inserts move before deletes at the same spot; neighbours merge.
    assert op.to_json() == [5, "xy", -3]
    assert (op.base_length, op.target_length) == (8, 7)
    assert TextOperation([3, -2, "😀"]).to_json() == [3, "😀", -2]
    with pytest.raises(OTError):
        TextOperation([0])


def test_apply_counts_unicode_scalars():
    text = "a😀b👍🏽c"  # 👍🏽 is two scalars
    assert len(text) == 6
    assert TextOperation([1, -1, "é", 4]).apply(text) == "aéb👍🏽c"
    assert TextOperation([3, -2, 1]).apply(text) == "a😀bc"
    with pytest.raises(OTError):
        TextOperation([5]).apply(text)
    assert TextOperation([2, "x"]).padded(6).apply(text) == "a😀xb👍🏽c"


def test_transform_property_on_random_ops():
    rng = random.Random(1234)
    for _ in range(3000):
        doc = rng.choice(DOCS) + "".join(rng.choice("ab😀é") for _ in range(rng.randint(0, 12)))
        a, b = random_op(rng, doc), random_op(rng, doc)
        a2, b2 = TextOperation.transform(a, b)
        assert b2.apply(a.apply(doc)) == a2.apply(b.apply(doc)), (doc, a, b)


def test_transform_tie_puts_the_first_operands_insert_first():
    a, b = TextOperation([1, "A", 1]), TextOperation([1, "B", 1])
    a2, b2 = TextOperation.transform(a, b)
    assert b2.apply(a.apply("xy")) == "xABy" == a2.apply(b.apply("xy"))


def test_compose_property_on_random_ops():
    rng = random.Random(99)
    for _ in range(3000):
        doc = "".join(rng.choice("xyz😀漢") for _ in range(rng.randint(0, 15)))
        a = random_op(rng, doc)
        mid = a.apply(doc)
        b = random_op(rng, mid)
        assert a.compose(b).apply(doc) == b.apply(mid), (doc, a, b)


def test_client_state_machine_converges_with_a_simulated_server():
    """Three ot.js clients against an in-memory ot.js server, messages delivered in random order."""
    rng = random.Random(7)
    server_text, history = "start", []
    outbox = []  # (client index, revision, op) on the way to the server
    inboxes = [[] for _ in range(3)]

    def sender(i):
        return lambda revision, op: outbox.append((i, revision, op))

    clients = [OTClient(0, server_text, sender(i)) for i in range(3)]
    for step in range(3000):
        choice = rng.random()
        if choice < 0.4:
            i = rng.randrange(3)
            clients[i].apply_client(random_op(rng, clients[i].text, 60))
        elif choice < 0.7 and outbox:
            i, revision, op = outbox.pop(0)
            for concurrent in history[revision:]:
                op = TextOperation.transform(op, concurrent)[0]
            server_text = op.apply(server_text)
            history.append(op)
            for j in range(3):
                inboxes[j].append(("ack" if j == i else "op", len(history), op.to_json()))
        else:
            j = rng.randrange(3)
            if inboxes[j]:
                kind, revision, ops = inboxes[j].pop(0)
                if kind == "ack":
                    clients[j].server_ack(revision)
                else:
                    clients[j].apply_server(revision, ops)
    while outbox or any(inboxes):
        if outbox:
            i, revision, op = outbox.pop(0)
            for concurrent in history[revision:]:
                op = TextOperation.transform(op, concurrent)[0]
            server_text = op.apply(server_text)
            history.append(op)
            for j in range(3):
                inboxes[j].append(("ack" if j == i else "op", len(history), op.to_json()))
        for j in range(3):
            while inboxes[j]:
                kind, revision, ops = inboxes[j].pop(0)
                clients[j].server_ack(revision) if kind == "ack" else clients[j].apply_server(revision, ops)
    for c in clients:
        assert c.idle
        assert c.text == server_text
        assert sorted(c.acks + c.received) == list(range(1, len(history) + 1))
