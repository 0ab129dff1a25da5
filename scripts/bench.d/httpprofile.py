#!/usr/bin/env python3
"""Instructions per `GET /api/v1/sessions/{id}` on one gateway under callgrind, and Redis' time
per request (INFO commandstats). Not part of scripts/bench: run it by hand before and after a
change to the request path (docs/benchmarks.md, "Profiling the session GET").

    python3 scripts/bench.d/httpprofile.py --bin PATH/TO/codeinterview [--requests 2000] [--out DIR]

One redis-server and one gateway (under `valgrind --tool=callgrind --instr-atstart=no`) on free
loopback ports; one session with its host joined over WebSocket (so the answer has a participant);
then `--requests` keep-alive GETs of that session on one connection, one at a time, with
collection switched on (`callgrind_control -i on`) only around them. Prints the total and the
per-request instructions, the commandstats delta per request, and the callgrind file to annotate:

    callgrind_annotate --inclusive=yes OUT/callgrind.out.PID | head -60
"""
import argparse, json, os, re, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Tests"))
from harness.processes import RedisServer, Gateway, redis_info   # noqa: E402
from valgrind_gateway import wrapped                               # noqa: E402
import httpx                                                      # noqa: E402
from websockets.sync.client import connect                        # noqa: E402


def commandstats(port):
    out = {}
    for k, v in redis_info(port, "commandstats").items():
        m = re.match(r"calls=(\d+),usec=(\d+)", v)
        if m:
            out[k[len("cmdstat_"):]] = (int(m.group(1)), int(m.group(2)))
    return out


def get_many(port, path, count):
    """`count` keep-alive GETs on one socket; each answer read whole (Content-Length) before the next."""
    s = socket.create_connection(("127.0.0.1", port))
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: */*\r\n\r\n".encode()
    buffer = b""
    first = None
    for _ in range(count):
        s.sendall(request)
        while b"\r\n\r\n" not in buffer:
            buffer += s.recv(65536)
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(buffer) < length:
            buffer += s.recv(65536)
        body, buffer = buffer[:length], buffer[length:]
        assert head.startswith(b"HTTP/1.1 200"), head
        first = first or (head, body)
    s.close()
    return first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--out", default=tempfile.mkdtemp(prefix="httpprofile-"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    wrapper = wrapped(args.bin, args.out, "--tool=callgrind --instr-atstart=no "
                      f"--callgrind-out-file={args.out}/callgrind.out.%p", "gateway-under-callgrind")
    redis = RedisServer(logdir=args.out)
    gateway = Gateway(wrapper, redis, "prof", ["--rate-limits", "off"], args.out, ready_within=180, grace=30)
    try:
        api = httpx.Client(base_url=gateway.url, timeout=60)
        s = api.post("/api/v1/sessions", json={"host_name": "Host", "session_name": "profile", "code": "x" * 256}).json()
        ws = connect(gateway.ws_url(s["id"]), max_size=None, open_timeout=60)
        ws.send(json.dumps({"type": "join", "data": {"participant_token": s["participant_token"]}}))
        while json.loads(ws.recv(timeout=60))["type"] != "welcome":
            pass
        path = f"/api/v1/sessions/{s['id']}"
        get_many(gateway.port, path, 50)                    # warm up: first-use caches, lazy globals
        before = commandstats(redis.port)
        subprocess.run(["callgrind_control", "-i", "on", str(gateway.pid)], check=True, capture_output=True)
        head, body = get_many(gateway.port, path, args.requests)
        subprocess.run(["callgrind_control", "-i", "off", str(gateway.pid)], check=True, capture_output=True)
        after = commandstats(redis.port)
        ws.close()
    finally:
        gateway.stop()
        redis.stop()
    files = [f for f in os.listdir(args.out) if f.startswith("callgrind.out.")]
    path = os.path.join(args.out, max(files, key=lambda f: os.path.getsize(os.path.join(args.out, f))))
    total = 0
    for line in open(path):
        if line.startswith("summary:") or line.startswith("totals:"):
            total = int(line.split()[1])
    print(f"requests: {args.requests}")
    print(f"instructions: {total:,} total, {total / args.requests:,.0f} per request")
    for name, (calls, usec) in sorted(after.items()):
        c0, u0 = before.get(name, (0, 0))
        if calls > c0 and name != "info":
            print(f"redis {name}: {(calls - c0) / args.requests:.2f} calls and {(usec - u0) / args.requests:.2f} us per request")
    print(f"response head: {head.decode(errors='replace')!r}")
    print(f"response body: {len(body)} bytes")
    print(f"callgrind file: {path}")


if __name__ == "__main__":
    main()
