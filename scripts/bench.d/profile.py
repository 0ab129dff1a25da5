#!/usr/bin/env python3
"""profile.py: instructions per committed op on the 500 sessions x 4 fan-out shape, by stage
(issue 24, step 1). Instruction counts under callgrind repeat from run to run, where wall-clock
figures on this shared 2-core machine do not.

    python3 scripts/bench.d/profile.py --bin PATH/codeinterview [--seconds 20] [--rate 0.1]
                                       [--out DIR] [--wsload PATH]

Starts its own redis-server and ONE gateway under `valgrind --tool=callgrind --instr-atstart=no`
(start-up, session creation and the 2,000 joins run uninstrumented), creates 500 sessions, and
runs wsload (built here if --wsload is not given) with 500 editors + 1,500 members at `--rate`
ops/s per editor (low: callgrind runs the gateway some 50 times slower; every op must still be
served at once). Once every connection has joined and the ops flow, it switches instrumentation
on, zeroes the counters, reads the sessions' revisions in Redis (each op committed is one
revision), waits `--seconds`, dumps the counters and reads the revisions again. The ops in the
window divide the instructions of the dump; the stages are inclusive costs of the functions named
in STAGES (each minus what runs nested in it), and "rest" is whatever is left (libuv's
loop, timers, the heartbeat, joins' leftovers). Prints a table; keeps the callgrind file in --out
(`callgrind_annotate --inclusive=yes FILE` shows the whole profile).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))

# (stage, functions whose inclusive cost it is, functions nested in those whose inclusive cost is
# taken out). Each group's cost is the largest inclusive cost among the functions its regular
# expressions match (callgrind_annotate's demangled names): a function and its thunks or
# specializations match alike and must count once; each nested expression is taken out once. Client.receive, WebSocketConnection.send and
# the decoder's `next` are inlined by the release build, so the stages are cut at the functions
# that remain.
STAGES = [
    # The WebSocket decoder: the read callback's decode loop, without the message's handling.
    ("frame decode", [r"^WebSocketConnection\.decode\(\)"],
     [r"WebSocketDelegate\.webSocket\(_:didReceiveText:\) in conformance Client"]),
    ("JSON parse", [r"JSON\.parse\("], []),
    ("op check", [r"TextOperation\.init\(json:"], []),
    # The commit: key names, arguments, the command's formatting, hiredis' output buffer.
    ("commit call", [r"^Sessions\.submit\(_:_:op:base:connection:author:_:\)$"], []),
    # The commands' link: read, hiredis' reply parser, the reply's decoding and its callback.
    ("reply", [r"^redisAsyncHandleRead$"], []),
    # The subscriber's link (adapter.c's poll callback, less the commands' link's reads): the
    # read, hiredis' parser, the push's decoding, the listener's lookup.
    ("channel receive", [r"^ci_poll$"], [r"^redisAsyncHandleRead$", r"closure #2 in Room\.open\(\)"]),
    ("channel message decode", [r"closure #2 in Room\.open\(\)"], [r"^Room\.deliver\(_:on:\)"]),
    # Framing once, then every member's receive and its socket write (the ack included).
    ("per-member write", [r"^Room\.deliver\(_:on:\)"], []),
    # Timers (the server's once-a-second tick over every socket, the Redis watchdogs): a cost per
    # second, not per op, large per op only because the rate here is low.
    ("timers (per second)", [r"closure #1 in LoopTimer\.start\(after:repeat:_:\)"], []),
]


def log(message):
    print(f"profile: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, process, what, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"profile: {what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"profile: {what} did not listen on {port} within {seconds} s")


def redis_cli(port, stdin):
    return subprocess.run(["redis-cli", "-p", str(port)], input=stdin, capture_output=True, text=True,
                          check=True).stdout


def revisions(port, sessions):
    answer = redis_cli(port, "".join(f"HGET ci:{{{sid}}}:session revision\n" for sid in sessions)).split()
    return sum(int(a) for a in answer if a.isdigit())


def annotate(path):
    """{function: inclusive Ir} from callgrind_annotate --inclusive=yes."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                          capture_output=True, text=True, check=True).stdout
    try:
        text = subprocess.run(["swift", "demangle", "--simplified"], input=text, capture_output=True,
                              text=True).stdout or text
    except OSError:
        pass
    costs, total = {}, None
    for line in text.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(?:\S*?:)?(.*?)(?: \[[^\]]*\])?$", line)
        if not m:
            continue
        value = int(m.group(1).replace(",", ""))
        name = m.group(2).strip()
        if "PROGRAM TOTALS" in line:
            total = value
            continue
        if name and name not in costs:
            costs[name] = value
    return total, costs, text


def stage_table(total, costs):
    def largest(patterns):
        return max((cost for name, cost in costs.items() if any(re.search(p, name) for p in patterns)), default=0)
    own = {stage: largest(inside) - sum(largest([n]) for n in nested) for stage, inside, nested in STAGES}
    own["rest"] = total - sum(own.values())
    return own


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the codeinterview binary (a release build)")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=0.1, help="ops/s per editor")
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--out", default=None, help="where the callgrind file goes (default: a temporary folder)")
    parser.add_argument("--wsload", default=None)
    args = parser.parse_args()

    out = args.out or tempfile.mkdtemp(prefix="ci-profile-")
    os.makedirs(out, exist_ok=True)
    wsload = args.wsload
    if not wsload:
        wsload = os.path.join(out, "wsload")
        subprocess.run(["gcc", "-O2", "-Wall", "-pthread", "-o", wsload, os.path.join(HERE, "wsload.c")], check=True)
    processes = []

    def start(argv, **kw):
        p = subprocess.Popen(argv, **kw)
        processes.append(p)
        return p

    try:
        # Valgrind 3.19 (Debian 12) cannot read the DWARF 5 of Swift 6.3 builds: profile a copy
        # without debug info (the symbol table stays: callgrind still names every function),
        # beside the original's resource bundles.
        binary = os.path.join(out, "codeinterview")
        subprocess.run(["objcopy", "--strip-debug", args.bin, binary], check=True)
        bin_dir = os.path.dirname(os.path.abspath(args.bin))
        for entry in os.listdir(bin_dir):
            if entry.endswith(".resources") and not os.path.exists(os.path.join(out, entry)):
                os.symlink(os.path.join(bin_dir, entry), os.path.join(out, entry))
        redis_port = free_port()
        redis_dir = os.path.join(out, "redis")
        os.makedirs(redis_dir, exist_ok=True)
        redis = start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                       "--appendonly", "no", "--dir", redis_dir, "--maxclients", "30000"],
                      stdout=subprocess.DEVNULL)
        wait_port(redis_port, redis, "redis-server")
        port = free_port()
        callgrind_out = os.path.join(out, "callgrind.out.%p")
        gateway_log = open(os.path.join(out, "gateway.log"), "wb")
        gateway = start(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={callgrind_out}",
                         binary, "gateway", "--host", "127.0.0.1", "--port", str(port),
                         "--redis", f"127.0.0.1:{redis_port}", "--node-id", "profile-gateway",
                         "--rate-limits", "off", "--max-session-connections", "2000",
                         "--max-connections-per-address", "30000", "--max-connections", "30000",
                         "--shutdown-grace", "1", "--log-level", "warning"],
                        stdout=gateway_log, stderr=gateway_log)
        wait_port(port, gateway, "the gateway (under valgrind)")
        api = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        deadline = time.time() + 120
        while True:   # /health answers 200 once Redis is reached (slowly, under valgrind)
            api.request("GET", "/health")
            response = api.getresponse()
            response.read()
            if response.status == 200:
                break
            if time.time() > deadline:
                raise SystemExit(f"profile: /health answered {response.status} for 120 s")
            time.sleep(0.2)
        log(f"gateway {gateway.pid} on {port}; creating {args.sessions} sessions")
        lines, sessions = [], []
        for index in range(args.sessions):
            api.request("POST", "/api/v1/sessions", json.dumps({"session_name": f"profile {index}", "code": ""}),
                        {"Content-Type": "application/json"})
            response = api.getresponse()
            body = json.loads(response.read())
            if response.status not in (200, 201):
                raise SystemExit(f"profile: POST /api/v1/sessions answered {response.status}: {body}")
            sid = body["id"]
            sessions.append(sid)
            lines.append(f"E {sid} " + json.dumps({"name": "Editor"}))
            lines += [f"M {sid} " + json.dumps({"name": f"Member {m}"}) for m in range(3)]
        api.close()
        connfile = os.path.join(out, "profile.conns")
        with open(connfile, "w") as f:
            f.write("\n".join(lines) + "\n")
        # One long phase: the window is cut by callgrind_control, inside it.
        load_seconds = args.seconds + 30
        load = start([wsload, "-p", str(port), "-f", connfile, "-t", "1", "-P", f"{args.rate}:{load_seconds}",
                      "-w", "0", "-D", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        joined = load.stderr.readline()
        log(joined.strip())
        if "joined" not in joined:
            raise SystemExit("profile: wsload did not join")
        # The first ops are committed: the window opens a moment later.
        before = revisions(redis_port, sessions)
        deadline = time.time() + 60
        while revisions(redis_port, sessions) < before + args.sessions // 2 and time.time() < deadline:
            time.sleep(0.2)
        subprocess.run(["callgrind_control", "-i", "on", str(gateway.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-z", str(gateway.pid)], check=True, capture_output=True)
        first = revisions(redis_port, sessions)
        time.sleep(args.seconds)
        last = revisions(redis_port, sessions)
        subprocess.run(["callgrind_control", "-d", str(gateway.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-i", "off", str(gateway.pid)], check=True, capture_output=True)
        ops = last - first
        log(f"{ops} ops committed in {args.seconds:.0f} s")
        load.kill()    # the window is over; wsload's own summary is not needed
        load.wait()
        dumps = sorted((f for f in os.listdir(out) if f.startswith(f"callgrind.out.{gateway.pid}.")),
                       key=lambda f: os.path.getmtime(os.path.join(out, f)))
        if not dumps:
            raise SystemExit("profile: callgrind wrote no dump")
        dump = os.path.join(out, dumps[-1])
        total, costs, text = annotate(dump)
        with open(dump + ".txt", "w") as f:
            f.write(text)
        own = stage_table(total, costs)
        deliveries = ops * 3
        print(f"{ops} ops committed (each: 1 ack + 3 deliveries) in {args.seconds:.0f} s; "
              f"{total:,} instructions in the gateway; {dump}")
        print(f"{'stage':<24} {'Ir per op':>12} {'share':>7}")
        for stage, value in own.items():
            print(f"{stage:<24} {value / ops:>12,.0f} {100 * value / total:>6.1f}%")
        print(f"{'total':<24} {total / ops:>12,.0f} {'':>7}  ({total / deliveries:,.0f} per delivery)")
        json.dump({"ops": ops, "total_ir": total, "stages_ir_per_op": {k: v / ops for k, v in own.items()},
                   "dump": dump}, open(os.path.join(out, "profile.json"), "w"), indent=1)
    finally:
        for p in reversed(processes):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


if __name__ == "__main__":
    main()
