#!/usr/bin/env python3
"""Redis' instructions per committed op, counted by callgrind (repeatable on a noisy machine, where
INFO commandstats' microseconds are not), beside the reference of scripts/bench's doc part (one
XADD of an op-sized entry and one PUBLISH of an op-sized frame) counted the same way, in the same
redis-server.

    scripts/bench.d/commit_profile.py --bin BUILD/release/codeinterview [--bin OTHER ...] [--ops 500]

For each binary: redis-server under `valgrind --tool=callgrind`, one gateway of that binary on it,
a session with a 1 KiB document, one participant typing --ops single-character ops over a
WebSocket, each waiting for its ack. The counters are zeroed before the ops and dumped after them,
and again around the reference pairs (sent by redis-cli, as the doc part sends them). Prints the
instructions per op of the whole server, of the FCALL (everything the commit does), and within it
of the commands the script calls (redis.call) and of the Lua itself; then the reference.

Needs valgrind (scripts/setup --bench installs it).
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from websockets.sync.client import connect

from run import reference_commands


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def cli(port, *argv, stdin=None):
    return subprocess.run(["redis-cli", "-p", str(port)] + list(argv), input=stdin, capture_output=True, text=True,
                          check=True).stdout


def inclusive(path, names):
    """Inclusive instruction counts of the named functions in a callgrind dump, and the total."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", "--auto=no", path],
                         capture_output=True, text=True, check=True).stdout
    counts, total = {}, None
    for line in out.splitlines():
        match = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S+)", line)
        if not match:
            continue
        value, where = int(match.group(1).replace(",", "")), match.group(2)
        if where == "PROGRAM":
            total = value
        function = where.rsplit(":", 1)[-1]
        if function in names and function not in counts:
            counts[function] = value
    return total, counts


class ProfiledRedis:
    """redis-server under callgrind; `measure` zeroes the counters, runs work, dumps them."""

    def __init__(self, workdir):
        self.port = free_port()
        self.dir = workdir
        self.out = os.path.join(workdir, "callgrind.out")
        self.process = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}", "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "valgrind.log"), "w"))
        wait_until(self.answers, 60, "redis-server under valgrind")

    def answers(self):
        try:
            return cli(self.port, "PING").strip() == "PONG"
        except subprocess.CalledProcessError:
            return False

    def measure(self, work):
        subprocess.run(["callgrind_control", "-z", str(self.process.pid)], capture_output=True, check=True)
        work()
        for name in os.listdir(self.dir):
            if name.startswith("callgrind.out."):
                os.remove(os.path.join(self.dir, name))
        subprocess.run(["callgrind_control", "-d", str(self.process.pid)], capture_output=True, check=True)
        dumps = sorted(n for n in os.listdir(self.dir) if n.startswith("callgrind.out."))
        return os.path.join(self.dir, dumps[-1])

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)


def http_json(method, url, body=None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


NAMES = ["processMultibulkBuffer", "fcallCommand", "scriptCall", "lua_pcall", "xaddCommand", "publishCommand"]


def profile(binary, ops):
    workdir = tempfile.mkdtemp(prefix="commit-profile-")
    redis = ProfiledRedis(workdir)
    port = free_port()
    log = open(os.path.join(workdir, "gateway.log"), "w")
    gateway = subprocess.Popen([binary, "gateway", "--host", "127.0.0.1", "--port", str(port),
                                "--redis", f"127.0.0.1:{redis.port}", "--node-id", "profile"],
                               stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "CODEINTERVIEW_RATE_LIMITS": "off"})
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy():
            try:
                return http_json("GET", base + "/health").get("status") == "ok"
            except OSError:
                return False
        wait_until(healthy, 120, "the gateway's /health")
        code = ("x" * 63 + "\n") * 16
        session = http_json("POST", base + "/api/v1/sessions", {"host_name": "Typist", "session_name": "profile", "code": code})
        ws = connect(f"ws://127.0.0.1:{port}/ws/sessions/{session['id']}", max_size=None, open_timeout=60)  # noqa: SIM115
        ws.send(json.dumps({"type": "join", "data": {"participant_token": session["participant_token"]}}))
        while (message := json.loads(ws.recv(timeout=60)))["type"] != "welcome":
            pass
        revision, length = message["data"]["revision"], len(code)

        def type_ops():
            nonlocal revision, length
            for _ in range(ops):
                ws.send(json.dumps({"type": "op", "data": {"revision": revision, "ops": [length // 2, "y"]}}))
                while (reply := json.loads(ws.recv(timeout=60)))["type"] != "ack":
                    if reply["type"] == "error":
                        raise RuntimeError(f"op refused: {reply}")
                revision, length = reply["data"]["revision"], length + 1
        commits = inclusive(redis.measure(type_ops), NAMES)
        ws.close()

        reference = inclusive(redis.measure(lambda: cli(redis.port, stdin=reference_commands(ops))), NAMES)
        return commits, reference
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", action="append", required=True, help="a codeinterview binary (repeatable)")
    parser.add_argument("--ops", type=int, default=500)
    args = parser.parse_args()
    for binary in args.bin:
        (total, c), (ref_total, r) = profile(binary, args.ops)
        per = lambda value: f"{(value or 0) / args.ops:>9,.0f}"
        fcall, calls = c.get("fcallCommand"), c.get("scriptCall")
        reference = (r.get("xaddCommand") or 0) + (r.get("publishCommand") or 0)
        print(f"{binary}: Redis instructions per committed op ({args.ops} ops)")
        print(f"  whole server       {per(total)}   (reference pair, whole server {per(ref_total)})")
        print(f"  FCALL              {per(fcall)}   (reference XADD + PUBLISH {per(reference)}: {fcall / reference:.1f}x)")
        print(f"    redis.call       {per(calls)}")
        print(f"    the Lua itself   {per((c.get('lua_pcall') or 0) - (calls or 0))}")
        print(f"  protocol (parsing) {per(c.get('processMultibulkBuffer'))}   (reference {per(r.get('processMultibulkBuffer'))})")


if __name__ == "__main__":
    sys.exit(main())
