"""The document layout in Redis (issue 13): a commit appends to the op log and never touches the
text; the text is a snapshot plus the log entries after it; the log keeps the session's history
within a byte cap, folding the oldest entries into a checkpoint; sessions written by the previous
layout keep working and are converted by their first write.

Redis is inspected with redis-cli, as an operator would.
"""

import json
import os
import subprocess
import time

import pytest

from harness.rest import create_session, get_code, get_session
from harness.ws import WS, run
from harness.ot import TextOperation


def redis(server, *args):
    out = subprocess.run(["redis-cli", "-p", str(server.port), "--no-raw", *args], capture_output=True, text=True, check=True)
    return out.stdout


def rjson(server, *args):
    """A reply through redis-cli's --json-less form: RESP3 would be nicer; use EVAL to JSON-encode."""
    script = "return cjson.encode(redis.call(unpack(ARGV)))"
    out = subprocess.run(["redis-cli", "-p", str(server.port), "--raw", "EVAL", script, "0", *args],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def hgetall(server, key):
    flat = rjson(server, "HGETALL", key)
    return dict(zip(flat[::2], flat[1::2])) if isinstance(flat, list) else {}


def log_entries(server, sid):
    """The op log, oldest first: one JSON entry per revision."""
    entries = rjson(server, "LRANGE", f"ci:{{{sid}}}:log", "0", "-1")
    return [json.loads(e) for e in entries] if isinstance(entries, list) else []


def replay(text, entries):
    for entry in entries:
        text = TextOperation(entry["ops"]).apply(text)
    return text


def eventually(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    return condition()


async def _edit(ws, revision, ops):
    await ws.send("op", {"revision": revision, "ops": ops})
    return (await ws.expect("ack"))["data"]["revision"]


def test_a_commit_appends_and_the_text_is_the_snapshot_plus_the_log(cluster, redis_server):
    sid = create_session(cluster[0], code="héllo\n")["id"]
    keys = f"ci:{{{sid}}}"

    async def main():
        ws = await WS.open(cluster[0], sid)
        welcome = await ws.join(name="Typist")
        text, rev = welcome["code"], welcome["revision"]
        for i in range(120):
            ch = "é" if i % 3 == 0 else "x"
            rev = await _edit(ws, rev, [len(text), ch])   # trailing retain left out: the server writes it
            text += ch
        # A delete of multibyte characters too, and one with the retain written out.
        rev = await _edit(ws, rev, [1, -1, len(text) - 2])
        text = text[0] + text[2:]
        await ws.close()
        return text, rev, welcome["you"]["id"]

    text, rev, user_id = run(main())
    session = hgetall(redis_server, f"{keys}:session")
    assert "code" not in session, "the session hash holds no text"
    assert session["layout"] == "2"
    assert int(session["revision"]) == rev == 121
    assert int(session["length"]) == len(text)
    # The byte count is an upper bound, never below the truth.
    assert int(session["bytes_raw"]) - int(session["bytes_drift"]) >= len(text.encode())

    entries = log_entries(redis_server, sid)
    assert [e["revision"] for e in entries] == list(range(1, rev + 1)), "one entry per revision, in order"
    first = entries[0]
    assert first["ops"] == [6, "é"], "ops over the whole document, exactly as committed"
    assert first["user_id"] == user_id and first["name"] == "Typist" and first["color"].startswith("#")
    assert abs(int(first["ts"]) - time.time() * 1000) < 120_000, "ts is Redis TIME in ms"

    checkpoint = hgetall(redis_server, f"{keys}:checkpoint")
    assert checkpoint["revision"] == "0" and checkpoint["text"] == "héllo\n" and checkpoint["reason"] == "created"
    assert replay(checkpoint["text"], entries) == text, "checkpoint + log rebuilds the text (what playback needs)"

    # Snapshots every 50 revisions, written by the committing gateway after the ack.
    snapshot = eventually(lambda: (s := hgetall(redis_server, f"{keys}:snapshot")) and int(s["revision"]) >= 100 and s)
    assert snapshot, hgetall(redis_server, f"{keys}:snapshot")
    assert replay(snapshot["text"], [e for e in entries if e["revision"] > int(snapshot["revision"])]) == text
    # The snapshot's exact byte count corrected the bound up to its revision.
    assert int(snapshot["bytes"]) == len(snapshot["text"].encode())

    for gw in cluster.gateways:
        code = get_code(gw, sid)
        assert code["code"] == text and code["revision"] == rev
        body = get_session(gw, sid).json()
        assert body["code"] == text and body["revision"] == rev
        assert [p["name"] for p in body["participants"]] == ["Typist"]


def test_a_stale_op_is_transformed_over_the_log(cluster, redis_server):
    sid = create_session(cluster[0], code="abc")["id"]

    async def main():
        a = await WS.open(cluster[0], sid)
        b = await WS.open(cluster[1], sid)
        wa = await a.join(name="A")
        await b.join(name="B")
        base = wa["revision"]
        r1 = await _edit(a, base, [3, "1"])
        r2 = await _edit(a, r1, [4, "2"])
        # B edits at the old base: the gateway transforms over the two logged ops.
        r3 = await _edit(b, base, ["0", 3])
        assert r3 == r2 + 1
        for ws in (a, b):
            await ws.close()

    run(main())
    assert get_code(cluster[2], sid)["code"] == "0abc12"


def test_the_log_cap_folds_the_oldest_ops_into_a_checkpoint(start_gateway, redis_server):
    gw = start_gateway("--op-log-bytes", "8192")
    sid = create_session(gw, code="start\n")["id"]
    keys = f"ci:{{{sid}}}"

    async def main():
        ws = await WS.open(gw, sid)
        welcome = await ws.join(name="Long")
        token = welcome["participant_token"]
        text, rev = welcome["code"], welcome["revision"]
        for i in range(160):
            chunk = f"line {i:03d} " + "w" * 80 + "\n"
            rev = await _edit(ws, rev, [len(text), chunk])
            text += chunk
        await ws.close()
        return text, rev, token

    text, rev, token = run(main())
    # The last commits may still be folding (a fold runs after the commit that made it due): read
    # the checkpoint, the log and the session until the fold the cap asks for is done and the
    # checkpoint holds still across the other reads (a fold moves all three at once).
    def settled():
        before = hgetall(redis_server, f"{keys}:checkpoint")
        entries = log_entries(redis_server, sid)
        session = hgetall(redis_server, f"{keys}:session")
        after = hgetall(redis_server, f"{keys}:checkpoint")
        done = int(session["log_bytes"]) <= 8192 + 400 and session["checkpoint_revision"] == before.get("revision")
        return before and int(before["revision"]) > 0 and before == after and done and (before, entries, session)

    found = eventually(settled)
    assert found, "a checkpoint was written and the log kept within its cap"
    checkpoint, entries, session = found
    assert checkpoint["reason"] == "log cap"
    cp = int(checkpoint["revision"])
    assert entries[0]["revision"] == cp + 1 and entries[-1]["revision"] == rev, "the log starts right after the checkpoint"
    # Folded history is summarized, not lost silently: counts, time span, authors.
    assert int(checkpoint["folded_ops"]) == cp
    authors = json.loads(checkpoint["authors"])
    assert sum(authors.values()) == cp and len(authors) == 1
    assert int(checkpoint["first_at"]) <= int(checkpoint["through_at"])
    assert replay(checkpoint["text"], entries) == text
    assert int(session["log_bytes"]) <= 8192 + 400, "the log stays within its cap"
    assert int(session["checkpoint_revision"]) == cp
    history = [json.loads(e) for e in rjson(redis_server, "LRANGE", f"{keys}:history", "0", "-1")]
    assert any(e["type"] == "checkpoint" and e["revision"] >= 1 for e in history), "the fold is in the history"
    assert get_code(gw, sid)["code"] == text

    async def rejoin():
        old = await WS.open(gw, sid)
        behind = await old.join(participant_token=token, revision=1)
        assert behind.get("resync") is True and "missed_ops" not in behind, "before the checkpoint: reload"
        assert behind["code"] == text
        near = await WS.open(gw, sid)
        recent = await near.join(participant_token=token, revision=rev - 3)
        assert [m["revision"] for m in recent["missed_ops"]] == [rev - 2, rev - 1, rev]
        for ws in (old, near):
            await ws.close()

    run(rejoin())


def test_the_byte_limit_counts_deleted_multibyte_characters_right(start_gateway):
    """The stored byte count is an upper bound between snapshots; at the limit, the gateway
    writes a snapshot (which makes it exact) and retries before refusing."""
    gw = start_gateway("--max-code-bytes", "1024")
    sid = create_session(gw, code="😀" * 200 + "a" * 200)["id"]   # 1000 bytes

    async def main():
        ws = await WS.open(gw, sid)
        welcome = await ws.join(name="Edge")
        rev = welcome["revision"]
        rev = await _edit(ws, rev, [-100, 300])            # frees 400 bytes; counted as 100 until a snapshot
        rev = await _edit(ws, rev, [300, "b" * 300])       # 900 bytes (the bound says 1200): within the limit
        await ws.send("op", {"revision": rev, "ops": [600, "c" * 200]})   # 1100 bytes: refused
        error = await ws.expect("error")
        assert error["data"]["code"] == "too_large"
        await ws.close()
        return rev

    rev = run(main())
    code = get_code(gw, sid)
    assert code["revision"] == rev and code["code"] == "😀" * 100 + "a" * 200 + "b" * 300


def _write_previous_layout(server, sid, code, revision, frames):
    """A session exactly as the previous version's scripts left it: the text in the session hash,
    a capped list of op frames, participants and tokens as JSON and hashes."""
    now = int(time.time() * 1000)
    keys = f"ci:{{{sid}}}"
    host_hash = "0" * 64
    redis(server, "HSET", f"{keys}:session", "id", sid, "name", "old", "code", code, "language", "python",
          "revision", str(revision), "status", "active", "created_at", str(now), "updated_at", str(now),
          "expires_at", str(now + 3_600_000), "max_participants", "10", "host_token_hash", host_hash)
    redis(server, "SET", f"{keys}:gone", "expired", "PX", "7200000")
    redis(server, "RPUSH", f"{keys}:history", json.dumps({"type": "created", "at": now, "language": "python"}))
    for frame in frames:
        redis(server, "RPUSH", f"{keys}:ops", frame)
    for key in ("session", "history", "ops"):
        redis(server, "PEXPIREAT", f"{keys}:{key}", str(now + 3_600_000))


def test_a_session_of_the_previous_layout_is_read_and_converted_on_first_write(cluster, redis_server):
    sid = "prevLayout_0123456789a"   # 22 base64url characters, like a real id
    code = "def f():\n    return 'é'\n"
    frame = '{"type":"op","data":{"revision":3,"ops":[10,"x",13],"user_id":"p_x","name":"X","color":"#000"},"timestamp":1}'
    _write_previous_layout(redis_server, sid, code, 3, [frame])

    # Read as it is.
    assert get_code(cluster[0], sid) == {**get_code(cluster[0], sid), "code": code, "revision": 3}
    assert get_session(cluster[1], sid).json()["code"] == code

    async def main():
        ws = await WS.open(cluster[0], sid)
        welcome = await ws.join(name="New")
        assert welcome["code"] == code and welcome["revision"] == 3
        rev = await _edit(ws, 3, [len(code), "# more\n"])
        await ws.close()
        return rev

    rev = run(main())
    keys = f"ci:{{{sid}}}"
    session = hgetall(redis_server, f"{keys}:session")
    assert "code" not in session and session["layout"] == "2"
    assert redis(redis_server, "EXISTS", f"{keys}:ops").strip() == "(integer) 0"
    checkpoint = hgetall(redis_server, f"{keys}:checkpoint")
    assert checkpoint["reason"] == "migrated" and checkpoint["revision"] == "3" and checkpoint["text"] == code
    assert int(checkpoint["folded_ops"]) == 3, "the revisions made before the migration are counted"
    assert rev == 4 and get_code(cluster[2], sid)["code"] == code + "# more\n"
    assert replay(checkpoint["text"], log_entries(redis_server, sid)) == code + "# more\n"


PREVIOUS = os.environ.get("CODEINTERVIEW_PREVIOUS_BIN")


@pytest.mark.skipif(not PREVIOUS, reason="set CODEINTERVIEW_PREVIOUS_BIN to a binary of the previous layout (commit c797358)")
def test_sessions_made_by_the_previous_binary_keep_working(redis_server, pool, start_gateway):
    """The previous version's own gateway makes sessions and edits them; this one takes over."""
    from harness.processes import Gateway
    old = Gateway(PREVIOUS, redis_server, "gw-previous", pool.defaults, pool.logdir)
    try:
        sid = create_session(old, code="a = 1\n")["id"]

        async def edit_old():
            ws = await WS.open(old, sid)
            welcome = await ws.join(name="Before")
            rev = await _edit(ws, welcome["revision"], [6, "b = 2\n"])
            rev = await _edit(ws, rev, ["# 漢字\n", 12])
            await ws.close()
            return rev, welcome["participant_token"]

        rev, token = run(edit_old())
    finally:
        old.stop()
    new = start_gateway()
    text = "# 漢字\na = 1\nb = 2\n"
    assert get_code(new, sid) == {**get_code(new, sid), "code": text, "revision": rev}

    async def edit_new():
        ws = await WS.open(new, sid)
        welcome = await ws.join(participant_token=token, revision=rev)
        assert welcome["code"] == text and welcome["missed_ops"] == []
        r = await _edit(ws, rev, [len(text), "c = 3\n"])
        await ws.close()
        return r

    assert run(edit_new()) == rev + 1
    assert get_code(new, sid)["code"] == text + "c = 3\n"
    session = hgetall(redis_server, f"ci:{{{sid}}}:session")
    assert "code" not in session and session["layout"] == "2"


@pytest.mark.skipif(not PREVIOUS, reason="set CODEINTERVIEW_PREVIOUS_BIN to the previous release's binary")
def test_a_rolling_upgrade_runs_the_previous_and_this_gateway_on_one_session(redis_server, pool, start_gateway):
    """Mid-upgrade: the previous version's gateway and this one serve one session at once, two
    editors on each typing concurrently. Each version runs its own scripts (this one its Functions
    library, the previous one its EVALSHA scripts) on the same keys and channels: everyone
    converges on the server's text, and each version's commits are in the log."""
    import asyncio
    import random
    from harness.ot import random_op
    from harness.peers import Peer, quiesce
    from harness.processes import Gateway
    old = Gateway(PREVIOUS, redis_server, "gw-previous", pool.defaults, pool.logdir)
    try:
        new = start_gateway()
        sid = create_session(old, code="def f():\n    return 1\n")["id"]

        async def main():
            peers = [await Peer.join(gw, sid, f"{label}{i}") for i in range(2) for gw, label in ((old, "Old"), (new, "New"))]

            async def edit(peer, seed):
                rng = random.Random(seed)
                stop = time.monotonic() + 3.0
                while time.monotonic() < stop:
                    peer.edit(random_op(rng, peer.text))
                    await asyncio.sleep(rng.uniform(0, 0.03))

            await asyncio.gather(*(edit(p, 7000 + i) for i, p in enumerate(peers)))
            try:
                await quiesce(peers, quiet=0.5, timeout=40)
            finally:
                for p in peers:
                    await p.close()
            return peers

        peers = run(main(), timeout=90)
        server = get_code(new, sid)
        assert get_code(old, sid) == server
        for p in peers:
            assert p.text == server["code"] and p.ot.revision == server["revision"], p.name
        authors = {e.get("name", "")[:3] for e in log_entries(redis_server, sid)}
        assert {"Old", "New"} <= authors, f"both versions committed: {authors}"
        stats = redis(redis_server, "INFO", "commandstats")
        assert "cmdstat_fcall:" in stats and "cmdstat_evalsha:" in stats, "each version ran its own way"
    finally:
        old.stop()


def test_the_reader_rebuilds_random_edits_from_a_long_run_of_ops(start_gateway, redis_server):
    """Snapshots far apart, so a read composes hundreds of logged ops (inserts and deletes,
    multibyte characters, at random places) over the snapshot: every read equals the text the
    edits made, and the log replayed from the checkpoint does too."""
    import random
    gw = start_gateway("--snapshot-every", "1000")
    sid = create_session(gw, code="start ✓\n")["id"]
    rng = random.Random(13)
    alphabet = ["a", "b", " ", "\n", "é", "中", "😀", "👩‍💻"]

    async def main():
        ws = await WS.open(gw, sid)
        welcome = await ws.join(name="Random")
        text, rev = welcome["code"], welcome["revision"]
        for i in range(300):
            at = rng.randrange(len(text) + 1)
            removed = min(len(text) - at, rng.choice([0, 0, 1, 3]))
            inserted = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 4)))
            ops = [c for c in (at, -removed if removed else 0, inserted, len(text) - at - removed) if c not in (0, "")]
            if not ops:
                continue
            rev = await _edit(ws, rev, ops)
            text = text[:at] + inserted + text[at + removed:]
            if i % 50 == 49:
                assert get_code(gw, sid) == {**get_code(gw, sid), "code": text, "revision": rev}
                if i == 149:
                    snapshot = hgetall(redis_server, f"ci:{{{sid}}}:snapshot")
                    assert rev - int(snapshot["revision"]) >= 140, "that read composed a long run of ops"
        await ws.close()
        return text, rev

    text, rev = run(main())
    code = get_code(gw, sid)
    assert code["code"] == text and code["revision"] == rev
    checkpoint = hgetall(redis_server, f"ci:{{{sid}}}:checkpoint")
    assert replay(checkpoint["text"], log_entries(redis_server, sid)) == text
