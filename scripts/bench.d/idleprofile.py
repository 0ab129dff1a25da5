#!/usr/bin/env python3
"""Heap bytes per idle joined WebSocket, by allocation site (docs/benchmarks.md, "Memory per idle
joined WebSocket, by allocation site"). Not part of scripts/bench: run it by hand.

    python3 scripts/bench.d/idleprofile.py --bin PATH/TO/codeinterview [--connections 2000] [--out DIR]

One redis-server and one gateway under `valgrind --tool=massif --vgdb=yes` (a copy of the binary
without its DWARF 5 debug info, which valgrind 3.19 cannot read); sessions of 4 made over REST;
`detailed_snapshot` through vgdb before and after `wsload -m idle` (built by scripts/bench in
.state/bench/tools) has joined every connection and 5 s have passed. Prints the heap growth per
connection by the first frame of this codebase that allocated it, and the totals."""
import argparse, json, os, re, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(REPO, "Tests"))
from harness.processes import RedisServer, Gateway   # noqa: E402
from valgrind_gateway import wrapped                               # noqa: E402
import httpx                                          # noqa: E402

OURS = re.compile(r"\$s(7Gateway|9Transport|6Stores|9Interview|5Redis|4JSON)")


def sites(path):
    """{site: bytes} of a massif snapshot: each leaf under the first two frames of this codebase."""
    stack, found, totals = [], {}, {}
    for line in open(path):
        if line.startswith(("mem_heap_B=", "mem_heap_extra_B=")):
            name, value = line.strip().split("=")
            totals[name] = int(value)
        m = re.match(r"^( *)n(\d+): (\d+) (.*)$", line.rstrip("\n"))
        if not m:
            continue
        depth, children, size = len(m.group(1)), int(m.group(2)), int(m.group(3))
        name = re.sub(r" \(in .*\)$", "", re.sub(r"^0x[0-9A-F]+: ", "", m.group(4)))
        stack = stack[:depth] + [name]
        if children == 0:
            ours = [f for f in stack[2:] if OURS.search(f)]
            key = " < ".join(f[:70] for f in ours[:2]) if ours else stack[-1]
            found[key] = found.get(key, 0) + size
    return found, totals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--out", default=tempfile.mkdtemp(prefix="idleprofile-"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    wsload = os.path.join(REPO, ".state", "bench", "tools", "wsload")
    if not os.access(wsload, os.X_OK):
        sys.exit(f"no {wsload}: run scripts/bench --quick --only idle once to build it")
    wrapper = wrapped(args.bin, args.out, "--tool=massif --vgdb=yes --depth=12 --threshold=0.5 "
                      f"--massif-out-file={args.out}/massif.out.%p", "gateway-under-massif")
    redis = RedisServer(logdir=args.out)
    gateway = Gateway(wrapper, redis, "idle", ["--rate-limits", "off", "--max-connections-per-address", "30000"],
                      args.out, ready_within=180, grace=30)
    try:
        api = httpx.Client(base_url=gateway.url, timeout=60)
        lines = []
        for index in range(args.connections // 4):
            sid = api.post("/api/v1/sessions", json={"session_name": f"idle {index}", "code": ""}).json()["id"]
            lines += [f"M {sid} " + json.dumps({"name": f"Member {m}"}) for m in range(4)]
        with open(os.path.join(args.out, "conns"), "w") as f:
            f.write("\n".join(lines) + "\n")
        before, after = os.path.join(args.out, "snap.before"), os.path.join(args.out, "snap.after")
        subprocess.run(["vgdb", f"--pid={gateway.pid}", "detailed_snapshot", before], check=True, capture_output=True)
        load = subprocess.Popen([wsload, "-p", str(gateway.port), "-f", os.path.join(args.out, "conns"), "-t", "2",
                                 "-m", "idle", "-k", "64"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = json.loads(load.stdout.readline() or "{}")
        time.sleep(5)   # the joins' replies and presence writes settle (as scripts/bench's idle part)
        subprocess.run(["vgdb", f"--pid={gateway.pid}", "detailed_snapshot", after], check=True, capture_output=True)
        load.stdin.close()
        load.wait()
    finally:
        gateway.stop()
        redis.stop()
    joined = ready.get("joined", 0)
    a, ta = sites(before)
    b, tb = sites(after)
    print(f"joined: {joined} of {args.connections}")
    for key in sorted(set(a) | set(b), key=lambda k: -(b.get(k, 0) - a.get(k, 0)))[:25]:
        print(f"{(b.get(key, 0) - a.get(key, 0)) / joined:8.1f}  {key[:150]}")
    heap = (tb["mem_heap_B"] - ta["mem_heap_B"]) / joined
    extra = (tb["mem_heap_extra_B"] - ta["mem_heap_extra_B"]) / joined
    print(f"heap per connection: {heap:.0f} bytes, plus {extra:.0f} of malloc overhead; snapshots: {before}, {after}")


if __name__ == "__main__":
    main()
