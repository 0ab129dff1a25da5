#!/usr/bin/env python3
"""The driver of scripts/bench: starts the servers, runs every measurement, writes results.json.

Called by scripts/bench (which builds everything first and stops whatever is left at exit):
    run.py --bin DIR --tools DIR --state DIR [--quick] [--only doc,http,fanout,heavy,idle,exec,term] [--profile]
           [--redis-cluster] [--baseline-bin DIR --baseline-label TEXT]

--baseline-bin: the release build of another revision (scripts/bench --baseline=REV builds it). The
doc, http and fanout parts then run against both binaries in this one run, on the same Redis
(emptied, scripts and functions flushed, between the two), with the same tools and load; the
order alternates from part to part, and the references (nginx, wsref) run once, with this build.
results.json "baseline" holds the baseline's figures beside the others.

A part that fails is logged and recorded (results.json "failed_parts"), and the run goes on with
the next part; the driver then exits 1. results.json "parts" lists the parts asked for: report.py
checks that each produced its figures.

--redis-cluster: after the other parts, the 500 sessions x 4 fan-out again, on two gateways
started with --redis-cluster over a Redis Cluster of 3 primaries (no replicas) of its own, with
each primary's Redis time, sessions and ops (results.json "cluster"; needs the fanout part,
whose single-Redis 500 x 4 run is the comparison).

Every process it starts is written to STATE/pids as "pid starttime name" (starttime: field 22 of
/proc/<pid>/stat), so scripts/bench's trap can stop exactly these processes and no other.
"""
import argparse
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
PYTHON_CODE = 'print("hello, world")\n'
# Redis 7 counts a script's own commands under their names as well as inside the EVALSHA that
# ran them: the time of these is the scripts' time, everything they do included.
SCRIPT_COMMANDS = ("eval", "evalsha", "eval_ro", "evalsha_ro", "fcall")


def reference_commands(ops):
    """The doc part's reference, as redis-cli reads it from stdin (one connection, no
    pipelining): per op, one XADD of an op-sized entry and one PUBLISH of an op-sized frame, what
    the floor of an append-and-publish costs (commit_profile.py counts it too)."""
    entry = 'ops "[512,\\"y\\",512]" user_id u_0123456789abcdef ts 1700000000000'
    frame = '{"type":"op","data":{"revision":1,"ops":[512,"y",512],"user_id":"u_0123456789abcdef"},"timestamp":1700000000000}'
    lines = []
    for index in range(1, ops + 1):
        lines.append(f"XADD ci:{{bench}}:reference {index}-0 {entry}")
        lines.append("PUBLISH ci:{bench}:reference-events " + json.dumps("- %d\n%s" % (index, frame)))
    return "\n".join(lines) + "\n"


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return text[text.rindex(")") + 2:].split()   # fields from 3 (state) on


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            fields = proc_stat(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])   # utime (14), stime (15)
    return total


def bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(proc_stat(entry)[1]) == pid:
                    found.append(int(entry))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                pass
    return found


class HTTP:
    """A keep-alive JSON client for setting things up."""

    def __init__(self, port):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method, path, body=None, token=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=payload, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data.decode(errors="replace")
        return response.status, parsed

    def ok(self, method, path, body=None, token=None, expect=(200, 201)):
        status, data = self.request(method, path, body, token)
        if status not in expect:
            raise RuntimeError(f"{method} {path} answered {status}: {data}")
        return data

    def close(self):
        self.connection.close()


class Bench:
    def __init__(self, args):
        self.args = args
        self.state = args.state
        self.bin = os.path.join(args.bin, "codeinterview")
        self.helper = os.path.join(args.bin, "codeinterview-sandbox")
        self.tools = args.tools
        self.processes = []          # (name, Popen)
        self.pidfile = os.path.join(self.state, "pids")
        self.logs = os.path.join(self.state, "logs")
        os.makedirs(self.logs, exist_ok=True)
        open(self.pidfile, "w").close()
        # --quick (CI runs it on every change, to see that every part still measures): the
        # shortest runs that still measure something real; its figures are not for the README.
        quick = args.quick
        self.wrk_seconds = 2 if quick else 10
        self.wrk_warmup = 1 if quick else 2
        self.ws_seconds = 2 if quick else 10
        self.ws_warmup = 1 if quick else 2
        self.exec_pairs = 8 if quick else 30
        self.exec_seconds = 3 if quick else 10
        self.terminal_rounds = 40 if quick else 200
        self.idle_connections = 2000 if quick else 10000
        self.results = {}
        self.out = self.results      # where the parts write: results, or results["baseline"]
        # (label, directory of codeinterview): this build, then the baseline's if any.
        self.binaries = [("this", args.bin)] + ([("baseline", args.baseline_bin)] if args.baseline_bin else [])
        self.which = "this"
        self.cluster_nodes = None    # [(port, pid)] of the Redis Cluster's primaries once it runs

    # ---- processes -----------------------------------------------------------------------

    def start(self, name, argv, stdin=subprocess.DEVNULL, stdout=None):
        logfile = open(os.path.join(self.logs, f"{name}.log"), "ab")
        process = subprocess.Popen(argv, stdin=stdin, stdout=stdout if stdout is not None else logfile,
                                   stderr=logfile, cwd=ROOT)
        logfile.close()
        self.processes.append((name, process))
        try:
            starttime = proc_stat(process.pid)[19]
        except FileNotFoundError:
            starttime = "0"
        with open(self.pidfile, "a") as f:
            f.write(f"{process.pid} {starttime} {name}\n")
        return process

    def stop(self, process, sig=signal.SIGTERM, timeout=15):
        if process.poll() is None:
            try:
                process.send_signal(sig)
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = [(n, p) for n, p in self.processes if p is not process]

    def stop_all(self):
        for name, process in reversed(list(self.processes)):
            self.stop(process)

    def wait_port(self, port, what, process, seconds=60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}; see {self.logs}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{what} did not listen on {port} within {seconds} s")

    # ---- profiling ---------------------------------------------------------------------------

    def profile_start(self, name, pids):
        if not self.args.profile:
            return None
        data = os.path.join(self.state, f"perf-{name}.data")
        # BENCH_PERF_CALLGRAPH=dwarf: call chains through code built without frame pointers
        # (Debian's libuv, hiredis, libc), at a lower rate: far bigger files.
        callgraph = os.environ.get("BENCH_PERF_CALLGRAPH", "fp")
        rate = "1999" if callgraph == "fp" else "499"
        return name, data, self.start(f"perf-{name}", ["perf", "record", "-e", "cpu-clock", "-F", rate,
                                                        "--call-graph", callgraph,
                                                        "-p", ",".join(map(str, pids)), "-o", data])

    def profile_stop(self, handle):
        if not handle:
            return
        name, data, process = handle
        self.stop(process, signal.SIGINT)
        text = os.path.join(self.state, f"perf-{name}.txt")
        with open(text, "w") as out:
            for title, extra in (("self", ["--no-children"]), ("inclusive", ["--children"])):
                report = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none", "--sort", "comm,dso,symbol",
                                         "--percent-limit", "0.7"] + extra, capture_output=True, text=True).stdout
                try:
                    report = subprocess.run(["swift", "demangle", "--simplified"], input=report, capture_output=True,
                                            text=True).stdout or report
                except OSError:
                    pass
                out.write(f"==== {title} ====\n{report}\n")
        log(f"  profile: {text}")

    # ---- the servers -----------------------------------------------------------------------

    def start_redis(self):
        self.redis_port = free_port()
        data = os.path.join(self.state, "redis")
        os.makedirs(data, exist_ok=True)
        self.redis = self.start("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                          "--save", "", "--appendonly", "no", "--dir", data,
                                          "--maxclients", "30000", "--daemonize", "no"])
        self.wait_port(self.redis_port, "redis-server", self.redis)

    def start_redis_cluster(self, primaries=3):
        """A Redis Cluster of `primaries` primaries and no replicas (a replica only copies the
        writes: it adds CPU on this machine, not capacity), joined by redis-cli --cluster create,
        configured as start_redis's single server is; returns once every node says
        cluster_state:ok with all 16384 slots served."""
        root = os.path.join(self.state, "redis-cluster")
        shutil.rmtree(root, ignore_errors=True)    # no nodes.conf of an earlier run
        ports = []
        while len(ports) < primaries:
            port = free_port()
            if port + 10000 <= 65535 and port not in ports and bindable(port + 10000):   # the cluster bus
                ports.append(port)
        nodes = []
        for index, port in enumerate(ports, 1):
            data = os.path.join(root, str(port))
            os.makedirs(data)
            process = self.start(f"redis-cluster{index}", [
                "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", data, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--maxclients", "30000", "--daemonize", "no"])
            self.wait_port(port, f"redis-server {port} (cluster)", process)
            nodes.append((port, process.pid))
        created = subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                                  "--cluster-replicas", "0", "--cluster-yes"], capture_output=True, text=True)
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout}{created.stderr}")
        deadline = time.time() + 60
        while True:
            infos = [self.redis_cli("CLUSTER", "INFO", port=p) for p in ports]
            if all("cluster_state:ok" in i and "cluster_slots_ok:16384" in i and f"cluster_known_nodes:{primaries}" in i
                   for i in infos):
                break
            if time.time() > deadline:
                raise RuntimeError(f"the Redis Cluster on {ports} was not ok within 60 s: {infos}")
            time.sleep(0.2)
        self.cluster_nodes = nodes

    def redis_nodes(self):
        """(port, pid) of every Redis primary the gateways use: the single redis-server, or once
        the cluster part runs the cluster's primaries."""
        return self.cluster_nodes or [(self.redis_port, self.redis.pid)]

    def redis_argv(self):
        if self.cluster_nodes:
            return ["--redis-cluster", ",".join(f"127.0.0.1:{port}" for port, _ in self.cluster_nodes)]
        return ["--redis", f"127.0.0.1:{self.redis_port}"]

    def gateway_argv(self, port, node):
        return [self.bin, "gateway", "--host", "127.0.0.1", "--port", str(port),
                *self.redis_argv(), "--node-id", node,
                "--rate-limits", "off",                 # all the load comes from one address
                "--max-session-connections", "2000",    # 1,000 members in one session
                "--max-connections-per-address", "30000",
                "--max-connections", "30000",
                "--shutdown-grace", "1",
                "--log-level", self.args.log_level]

    def start_gateways(self, name="gateway"):
        self.gateway_port = free_port()
        self.gateways = []
        for index in (1, 2):
            node = f"bench-{name}{index}"
            process = self.start(f"{name}{index}", self.gateway_argv(self.gateway_port, node))
            self.gateways.append(process)
            self.wait_port(self.gateway_port, f"gateway {index}", process)
        # Both share the port (SO_REUSEPORT): wait until /health has come from each.
        seen = set()
        deadline = time.time() + 30
        while len(seen) < 2 and time.time() < deadline:
            client = HTTP(self.gateway_port)
            try:
                status, body = client.request("GET", "/health")
                if status == 200:
                    seen.add(body["node_id"])
            except OSError:
                pass
            client.close()
        if len(seen) < 2:
            raise RuntimeError(f"only {seen} of the two gateways answered /health; see {self.logs}")
        self.api = HTTP(self.gateway_port)

    def start_runners(self):
        self.runners = []
        for index in (1, 2):
            self.runners.append(self.start(f"runner{index}", [
                self.bin, "runner", "--redis", f"127.0.0.1:{self.redis_port}", "--node-id", f"bench-runner{index}",
                "--languages", "python", "--sandbox-helper", self.helper, "--log-level", self.args.log_level]))

    def wait_runners(self):
        deadline = time.time() + 60
        while time.time() < deadline:
            for process in self.runners:
                if process.poll() is not None:
                    raise RuntimeError(f"a runner exited with {process.returncode}; see {self.logs}")
            languages = self.api.ok("GET", "/api/v1/languages")
            entries = languages if isinstance(languages, list) else languages.get("languages", [])
            if any(entry.get("id") == "python" and entry.get("available") for entry in entries):
                return
            time.sleep(0.2)
        raise RuntimeError("no runner offered python within 60 s")

    def start_nginx(self):
        self.nginx_port = free_port()
        prefix = os.path.join(self.state, "nginx")
        os.makedirs(os.path.join(prefix, "temp"), exist_ok=True)
        with open(os.path.join(HERE, "nginx.conf.in")) as f:
            config = f.read().replace("@PORT@", str(self.nginx_port)).replace("@PREFIX@", prefix)
        path = os.path.join(prefix, "nginx.conf")
        with open(path, "w") as f:
            f.write(config)
        nginx = "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else "nginx"
        self.nginx = self.start("nginx", [nginx, "-p", prefix, "-c", path, "-e", os.path.join(prefix, "error.log")])
        self.wait_port(self.nginx_port, "nginx", self.nginx)
        deadline = time.time() + 10
        while len(children_of(self.nginx.pid)) < 2 and time.time() < deadline:
            time.sleep(0.05)
        self.nginx_pids = [self.nginx.pid] + children_of(self.nginx.pid)

    def gateway_pids(self):
        """The gateways, then every Redis primary (report.py reads the Redis part from the end)."""
        return [g.pid for g in self.gateways] + [pid for _, pid in self.redis_nodes()]

    # ---- HTTP ------------------------------------------------------------------------------

    def wrk(self, url, seconds, pids):
        argv = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", url]
        before = [cpu_ticks([pid]) for pid in pids]
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        after = [cpu_ticks([pid]) for pid in pids]
        usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = parse_wrk(output, (sum(after) - sum(before)) / CLK_TCK,
                           (usage_after.ru_utime - usage.ru_utime) + (usage_after.ru_stime - usage.ru_stime))
        # Per process (gateways..., redis last; nginx master first): where the CPU went.
        result["server_cpu_s_by_pid"] = [round((a - b) / CLK_TCK, 3) for a, b in zip(after, before)]
        return result

    def bench_http(self):
        log("HTTP: wrk -t2 -c64 --latency against nginx and the two gateways")
        session = self.api.ok("POST", "/api/v1/sessions", {"host_name": "Bench", "session_name": "http bench"})
        targets = [
            ("health", f"http://127.0.0.1:{self.gateway_port}/health", self.gateway_pids()),
            ("session", f"http://127.0.0.1:{self.gateway_port}/api/v1/sessions/{session['id']}", self.gateway_pids()),
        ]
        if self.which == "this":
            # nginx runs first and last and its figures are the mean of both, so a drift of the
            # machine during the gateway runs moves the reference with them (the baseline's run
            # has none: the table compares it with this build's).
            nginx = ("nginx", f"http://127.0.0.1:{self.nginx_port}/", self.nginx_pids)
            targets = [nginx] + targets + [nginx]
        results = {}
        for name, url, pids in targets:
            self.wrk(url, self.wrk_warmup, pids)
            profile = self.profile_start(f"http-{name}", pids[:1] + pids[-1:]) if name != "nginx" and self.which == "this" else None
            r = self.wrk(url, self.wrk_seconds, pids)
            self.profile_stop(profile)
            r["url"] = url.replace(str(self.gateway_port), "GATEWAY")
            if name == "nginx":
                r["url"] = r["url"].replace(str(self.nginx_port), "NGINX")
            log(f"  {name}: {r['requests_per_s']:.0f} req/s, p50 {r['latency_ms']['p50']} ms, p99 {r['latency_ms']['p99']} ms, "
                f"{r['server_cpu_us_per_request']:.1f} us CPU/request, errors {r['errors']}")
            if name in results:
                first = results[name]
                r = {"runs": [first, r], "url": r["url"], "requests": first["requests"] + r["requests"],
                     "requests_per_s": (first["requests_per_s"] + r["requests_per_s"]) / 2,
                     "latency_ms": {k: (first["latency_ms"][k] + r["latency_ms"][k]) / 2 for k in first["latency_ms"]},
                     "errors": first["errors"] + r["errors"],
                     "server_cpu_s": first["server_cpu_s"] + r["server_cpu_s"],
                     "server_cpu_us_per_request": (first["server_cpu_s"] + r["server_cpu_s"]) * 1e6 / (first["requests"] + r["requests"])}
                log(f"  nginx, mean of both runs: {r['requests_per_s']:.0f} req/s")
            results[name] = r
        self.out["http"] = {"wrk": "-t2 -c64 -d%ds --latency" % self.wrk_seconds, **results}

    # ---- WebSocket ---------------------------------------------------------------------------

    def wsload(self, port, connfile, phases, pids, prefix=None):
        argv = [os.path.join(self.tools, "wsload"), "-p", str(port), "-f", connfile, "-t", "2",
                "-P", phases, "-w", str(self.ws_warmup), "-D", "1", "-c", ",".join(map(str, pids))]
        if prefix:
            argv += ["-x", prefix]
        process = self.start("wsload", argv, stdout=subprocess.PIPE)
        output, _ = process.communicate()
        self.processes = [(n, p) for n, p in self.processes if p is not process]
        if process.returncode != 0:
            raise RuntimeError(f"wsload exited with {process.returncode}; see {self.logs}/wsload.log")
        return json.loads(output)

    def write_conns(self, name, lines):
        path = os.path.join(self.state, f"{name}.conns")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def fanout_case(self, label, gateway_lines, reference_lines, phases, sessions=None):
        """wsload over the gateways, then (unless reference_lines is None) over wsref. With
        `sessions` (their ids), also each Redis primary's share: shard_load."""
        nodes = self.redis_nodes()
        profile = self.profile_start(f"fanout-{label}", [self.gateways[0].pid, nodes[0][1]]) if self.which == "this" else None
        stats_before = {port: (self.commandstats(port), self.io_counters(port)) for port, _ in nodes} if sessions else None
        gateway = self.wsload(self.gateway_port, self.write_conns(f"{label}-gateway", gateway_lines), phases,
                              self.gateway_pids())
        gateway["redis_nodes"] = len(nodes)
        self.profile_stop(profile)
        shards = self.shard_load(sessions, stats_before) if sessions else None
        time.sleep(2)   # the gateways clean up after 1,000 closed connections
        if reference_lines is None:
            self.log_fanout(label, {"gateways": gateway})
            return {"gateways": gateway, "shards": shards}
        self.wsref = self.start("wsref", [os.path.join(self.tools, "wsref"), "-p", str(self.wsref_port)])
        self.wait_port(self.wsref_port, "wsref", self.wsref)
        reference = self.wsload(self.wsref_port, self.write_conns(f"{label}-reference", reference_lines), phases,
                                [self.wsref.pid])
        self.stop(self.wsref)
        result = {"gateways": gateway, "reference": reference}
        self.log_fanout(label, result)
        if shards:
            result["shards"] = shards
        return result

    def log_fanout(self, label, results):
        for who, result in results.items():
            if result["joined"] != result["connections"] or result["closed_by_server"]:
                log(f"  WARNING {label} {who}: {result['joined']} of {result['connections']} joined, "
                    f"{result['closed_by_server']} closed by the server")
            for phase in result["phases"]:
                lat = phase["latency_us"]
                log(f"  {label} {who} rate {phase['rate'] or 'saturating'}: {phase['deliveries_per_s']:.0f} deliveries/s, "
                    f"p50 {lat['p50'] / 1000:.2f} ms p99 {lat['p99'] / 1000:.2f} ms p99.9 {lat['p999'] / 1000:.2f} ms, "
                    f"{phase['server_cpu_us_per_delivery']:.2f} us CPU/delivery")

    def node_slots(self, port):
        """The slot ranges a primary serves, from the 'myself' line of its CLUSTER NODES."""
        for line in self.redis_cli("CLUSTER", "NODES", port=port).splitlines():
            fields = line.split()
            if len(fields) >= 8 and "myself" in fields[2].split(","):
                ranges = []
                for field in fields[8:]:
                    if not field.startswith("["):              # "[slot->-node]": being migrated
                        low, _, high = field.partition("-")
                        ranges.append((int(low), int(high or low)))
                return ranges
        raise RuntimeError(f"no 'myself' line in CLUSTER NODES of {port}")

    def shard_load(self, sessions, stats_before):
        """Per Redis primary, over one wsload run (warm-ups, phases and drains): the sessions it
        holds (by the slot of their hash tag), the ops committed in them (each session starts at
        revision 0 and only its editor writes, so its revision is its ops), the scripts' Redis
        time (INFO commandstats) and that time per committed op."""
        nodes = self.redis_nodes()
        stats_after = {port: (self.commandstats(port), self.io_counters(port)) for port, _ in nodes}   # before our own queries below
        if self.cluster_nodes:
            slots = self.redis_cli(stdin="".join(f"CLUSTER KEYSLOT ci:{{{sid}}}:session\n" for sid in sessions),
                                   port=nodes[0][0]).split()
            if len(slots) != len(sessions):
                raise RuntimeError(f"CLUSTER KEYSLOT answered {len(slots)} slots for {len(sessions)} sessions")
            ranges = {port: self.node_slots(port) for port, _ in nodes}
            owner = {}
            for sid, slot in zip(sessions, map(int, slots)):
                owner[sid] = next(port for port, served in ranges.items() if any(lo <= slot <= hi for lo, hi in served))
        else:
            ranges = {nodes[0][0]: [(0, 16383)]}
            owner = {sid: nodes[0][0] for sid in sessions}
        shards = []
        for port, pid in nodes:
            mine = [sid for sid in sessions if owner[sid] == port]
            answer = self.redis_cli(stdin="".join(f"HGET ci:{{{sid}}}:session revision\n" for sid in mine),
                                    port=port).split() if mine else []
            if len(answer) != len(mine) or not all(a.isdigit() for a in answer):
                raise RuntimeError(f"the revisions of {len(mine)} sessions on {port} read back as {answer[:5]}...")
            ops = sum(map(int, answer))
            (commands_before, io_before), (commands_after, io_after) = stats_before[port], stats_after[port]
            _, _, by = self.redis_usec(commands_before, commands_after)
            reads, writes = (a - b for a, b in zip(io_after, io_before))
            scripts_usec = sum(v["usec"] for k, v in by.items() if k in SCRIPT_COMMANDS)
            shards.append({"port": port, "pid": pid, "slots": "; ".join(f"{lo}-{hi}" for lo, hi in ranges[port]),
                           "sessions": len(mine), "ops": ops, "scripts_usec": scripts_usec,
                           "script_calls": sum(v["calls"] for k, v in by.items() if k in SCRIPT_COMMANDS),
                           "redis_usec_per_op": scripts_usec / ops if ops else None,
                           "socket_reads": reads, "socket_writes": writes,
                           "reads_per_op": reads / ops if ops else None, "by_command": by})
            log(f"  shard {port} (slots {shards[-1]['slots']}): {len(mine)} sessions, {ops} ops committed, "
                f"{scripts_usec / 1000:.0f} ms in scripts = "
                f"{shards[-1]['redis_usec_per_op'] or float('nan'):.1f} us Redis per op, "
                f"{reads} socket reads ({shards[-1]['reads_per_op'] or float('nan'):.2f} per op)")
        return shards

    def bench_fanout(self):
        self.wsref_port = free_port()
        results = {}
        seconds = self.ws_seconds
        # (a) One session, 1,000 members over the two gateways, one editor. A session holds at
        # most 50 participants: the editor and 49 participants are made over REST, and the
        # 1,000 member connections rejoin as those 49 (a participant may have several connections).
        log("WebSocket fan-out (a): one session, 1,000 members + 1 editor, 20 ops/s, then saturating")
        created = self.api.ok("POST", "/api/v1/sessions", {"host_name": "Editor", "session_name": "fan-out 1000",
                                                              "max_participants": 50, "code": ""})
        sid = created["id"]
        tokens = [self.api.ok("POST", f"/api/v1/sessions/{sid}/users", {"name": f"Member {i}"})["participant_token"]
                  for i in range(1, 50)]
        gateway_lines = [f"E {sid} " + json.dumps({"participant_token": created["participant_token"]})]
        gateway_lines += [f"M {sid} " + json.dumps({"participant_token": tokens[i % len(tokens)]}) for i in range(1000)]
        reference_lines = ["E big " + json.dumps({"name": "Editor"})] + \
                          [f"M big " + json.dumps({"name": f"Member {i}"}) for i in range(1000)]
        reference = self.which == "this"     # wsref's runs: once, with this build
        results["one_session_1000"] = self.fanout_case("1x1000", gateway_lines, reference_lines if reference else None,
                                                       f"20:{seconds},0:{seconds}")
        results["one_session_1000"]["members"] = 1000

        # (b) 500 sessions of 4 members (1 editor + 3), everyone joining by name; each editor at
        # 40/3 ops/s, so 500 x 3 x 13.33 = 20,000 deliveries/s, then saturating.
        log("WebSocket fan-out (b): 500 sessions x (1 editor + 3 members), 13.3 ops/s per editor, then saturating")
        results["sessions_500x4"] = self.fanout_500x4("500x4", reference=reference)
        self.out["fanout"] = results

    def fanout_500x4(self, label, reference):
        """Fan-out (b): 500 new sessions of 4 (1 editor + 3 members, joined by name), each editor
        at 40/3 ops/s (500 x 3 x 13.33 = 20,000 deliveries/s), then saturating."""
        seconds = self.ws_seconds
        gateway_lines, reference_lines, sessions = [], [], []
        for index in range(500):
            sid = self.api.ok("POST", "/api/v1/sessions", {"session_name": f"fan-out {index}", "code": ""})["id"]
            sessions.append(sid)
            gateway_lines.append(f"E {sid} " + json.dumps({"name": "Editor"}))
            reference_lines.append(f"E s{index} " + json.dumps({"name": "Editor"}))
            for member in range(3):
                gateway_lines.append(f"M {sid} " + json.dumps({"name": f"Member {member}"}))
                reference_lines.append(f"M s{index} " + json.dumps({"name": f"Member {member}"}))
        result = self.fanout_case(label, gateway_lines, reference_lines if reference else None,
                                  f"13.3333:{seconds},0:{seconds}", sessions=sessions)
        result["sessions"] = 500
        return result

    def bench_cluster(self, primaries=3):
        """The 500 x 4 fan-out again, on two new gateways over a Redis Cluster (the single-Redis
        run of bench_fanout is its comparison; wsref's is the same as there, so not run again)."""
        load = os.getloadavg()
        log(f"Redis Cluster: {primaries} primaries (no replicas), two gateways with --redis-cluster, "
            f"500 sessions x 4 as in fan-out (b); load average {' '.join(f'{x:.2f}' for x in load)}")
        for gateway in self.gateways:
            self.stop(gateway)
        self.api.close()
        self.start_redis_cluster(primaries)
        self.start_gateways("cluster-gateway")
        result = self.fanout_500x4("cluster-500x4", reference=False)
        self.results["cluster"] = {"primaries": primaries, "replicas": 0, "sessions_500x4": result,
                                   "load_before": load}

    def idle_case(self, port, connfile, pid):
        """RSS of `pid` before and with every connection of `connfile` joined and idle."""
        before = rss_kb(pid)
        argv = [os.path.join(self.tools, "wsload"), "-p", str(port), "-f", connfile, "-t", "2", "-m", "idle", "-k", "128"]
        process = self.start("wsload-idle", argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = json.loads(process.stdout.readline() or "{}")
        time.sleep(2)     # let the joins' replies and presence writes settle
        with_connections = rss_kb(pid)
        process.stdin.close()
        done = json.loads(process.stdout.readline() or "{}")
        process.wait()
        self.processes = [(n, p) for n, p in self.processes if p is not process]
        joined = ready.get("joined", 0)
        return {"connections": ready.get("connections", 0), "joined": joined, "failed": ready.get("failed", 0),
                "closed_by_server": done.get("closed_by_server"), "join_seconds": ready.get("join_seconds"),
                "rss_before_kb": before, "rss_after_kb": with_connections,
                "kib_per_connection": (with_connections - before) / joined if joined else None}

    def bench_idle(self):
        count = self.idle_connections
        log(f"Memory: {count:,} idle joined WebSocket connections ({count // 4:,} sessions x 4) on one gateway")
        port = free_port()
        gateway = self.start("gateway-idle", self.gateway_argv(port, "bench-gw-idle"))
        self.wait_port(port, "the idle gateway", gateway)
        HTTP(port).ok("GET", "/health")
        lines = []
        for index in range(count // 4):
            sid = self.api.ok("POST", "/api/v1/sessions", {"session_name": f"idle {index}", "code": ""})["id"]
            lines += [f"M {sid} " + json.dumps({"name": f"Member {m}"}) for m in range(4)]
        time.sleep(1)
        result_gateway = self.idle_case(port, self.write_conns("idle-gateway", lines), gateway.pid)
        self.stop(gateway)
        ref_port = free_port()
        wsref = self.start("wsref-idle", [os.path.join(self.tools, "wsref"), "-p", str(ref_port)])
        self.wait_port(ref_port, "wsref", wsref)
        ref_lines = [f"M idle{i // 4} " + json.dumps({"name": f"Member {i % 4}"}) for i in range(count)]
        result_reference = self.idle_case(ref_port, self.write_conns("idle-reference", ref_lines), wsref.pid)
        self.stop(wsref)
        for who, r in (("gateway", result_gateway), ("reference", result_reference)):
            log(f"  {who}: {r['joined']} of {r['connections']} joined in {r['join_seconds']} s; RSS {r['rss_before_kb']} -> "
                f"{r['rss_after_kb']} KiB = {r['kib_per_connection']:.2f} KiB per connection")
        self.results["idle"] = {"gateway": result_gateway, "reference": result_reference}

    # ---- Execution ---------------------------------------------------------------------------

    def execute(self, client):
        started = time.monotonic()
        status, body = client.request("POST", "/api/v1/execute", {"language": "python", "code": PYTHON_CODE})
        elapsed = (time.monotonic() - started) * 1000
        result = body.get("result") if isinstance(body, dict) else None
        ok = status == 200 and isinstance(result, dict) and result.get("status") == "ok"
        return elapsed, ok, (status, body)

    def bench_exec(self):
        log("Execution: POST /api/v1/execute of a trivial Python program vs the same bwrap run started directly")
        self.wait_runners()
        sbx = [os.path.join(self.tools, "sbxrun"), "-H", self.helper, "-e", PYTHON_CODE]
        bare = self.start("sbxrun", sbx + ["-i"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        client = HTTP(self.gateway_port)

        def bare_once():
            bare.stdin.write(b"\n")
            bare.stdin.flush()
            return float(bare.stdout.readline())

        for _ in range(3):   # warm-up: page cache, the runners' connections
            bare_once()
            self.execute(client)
        api_times, bare_times, failures, first_failure = [], [], 0, None
        for _ in range(self.exec_pairs):
            t = bare_once()
            if t >= 0:
                bare_times.append(t)
            elapsed, ok, detail = self.execute(client)
            if ok:
                api_times.append(elapsed)
            else:
                failures += 1
                first_failure = first_failure or detail
        bare.stdin.close()
        bare.wait()
        self.processes = [(n, p) for n, p in self.processes if p is not bare]
        if first_failure:
            log(f"  WARNING: {failures} API runs failed; the first: {str(first_failure)[:300]}")
        latency = {"pairs": self.exec_pairs, "api_ms": summary(api_times), "bare_ms": summary(bare_times),
                   "api_failures": failures}
        if not api_times or not bare_times:
            raise RuntimeError(f"of {self.exec_pairs} pairs, {len(api_times)} API runs and {len(bare_times)} bare sandbox runs "
                               f"succeeded: no overhead to measure; see {self.logs}/sbxrun.log and the runners' logs")
        latency["overhead_p50_ms"] = latency["api_ms"]["p50"] - latency["bare_ms"]["p50"]
        log(f"  submit-to-result p50 {latency['api_ms']['p50']:.1f} ms vs bare sandbox p50 {latency['bare_ms']['p50']:.1f} ms: "
            f"overhead {latency['overhead_p50_ms']:.1f} ms")

        # Throughput: clients keep the two runners' slots (2 x --concurrency 2) busy; the
        # reference is as many bare sandboxes in parallel, back to back.
        slots = 4
        clients = 8
        seconds = self.exec_seconds
        counts = [0] * clients
        errors = [0] * clients
        stop_at = time.monotonic() + seconds

        def worker(index):
            c = HTTP(self.gateway_port)
            while time.monotonic() < stop_at:
                _, ok, _ = self.execute(c)
                if ok:
                    counts[index] += 1
                else:
                    errors[index] += 1
            c.close()

        started = time.monotonic()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        api_seconds = time.monotonic() - started
        parallel = [self.start(f"sbxrun{i}", sbx + ["-d", str(seconds)], stdout=subprocess.PIPE) for i in range(slots)]
        bare_runs = 0
        bare_seconds = 0
        for process in parallel:
            output, _ = process.communicate()
            self.processes = [(n, p) for n, p in self.processes if p is not process]
            result = json.loads(output)
            bare_runs += result["runs"]
            bare_seconds = max(bare_seconds, result["seconds"])
        throughput = {"clients": clients, "runner_slots": slots, "api_jobs": sum(counts), "api_errors": sum(errors),
                      "api_seconds": round(api_seconds, 3), "api_jobs_per_s": sum(counts) / api_seconds,
                      "bare_parallel": slots, "bare_runs": bare_runs, "bare_seconds": bare_seconds,
                      "bare_runs_per_s": bare_runs / bare_seconds if bare_seconds else 0}
        log(f"  {throughput['api_jobs_per_s']:.1f} jobs/s through two runners vs {throughput['bare_runs_per_s']:.1f} "
            f"bare sandbox runs/s ({slots} in parallel)")
        self.results["execution"] = {"code": PYTHON_CODE, "latency": latency, "throughput": throughput}

    # ---- The shared terminal (issue 23) ----------------------------------------------------------

    def terminal_room(self):
        """A session with its creator (the typist) and a candidate (who reads), each on a WebSocket
        of its own to the gateways' shared port: (session id, typist, watcher)."""
        from websockets.sync.client import connect
        session = self.api.ok("POST", "/api/v1/sessions", {"host_name": "Typist", "session_name": "terminal"})
        sockets = []
        for join in ({"participant_token": session["participant_token"]}, {"user_name": "Reader"}):
            ws = connect(f"ws://127.0.0.1:{self.gateway_port}/ws/sessions/{session['id']}", max_size=None, open_timeout=30)
            ws.send(json.dumps({"type": "join", "data": join}))
            while json.loads(ws.recv(timeout=30))["type"] != "welcome":
                pass
            sockets.append(ws)
        return session, sockets[0], sockets[1]

    def bench_terminal(self):
        log("Terminal: an interactive run's input-to-echo round trip (typist's WebSocket, gateway, Redis stream, runner, "
            "pty and back through Redis to the reader's WebSocket) beside its output-only path (the program prints its "
            "clock, the reader receives it)")
        self.wait_runners()
        rounds = self.terminal_rounds
        code = ("import sys, time\nfor i in range(%d):\n    print('t', repr(time.time()), flush=True)\n    time.sleep(0.02)\n"
                "while True:\n    if input() == 'q':\n        break\n" % rounds)
        session, typist, watcher = self.terminal_room()
        job = self.api.ok("POST", f"/api/v1/sessions/{session['id']}/execute",
                          {"language": "python", "code": code, "interactive": True, "wait": False},
                          token=session["participant_token"], expect=(202,))["job_id"]

        def chunks(until):
            """The reader's execution-output chunks of the run (with their receipt times) until
            `until(text so far)`; fails on the run's end."""
            text = ""
            while not until(text):
                message = json.loads(watcher.recv(timeout=30))
                data = message.get("data") or {}
                if data.get("job_id") != job:
                    continue
                if message["type"] == "execution-result":
                    raise RuntimeError(f"the interactive run ended early: {str(data)[:300]}")
                if message["type"] == "execution-output":
                    text += data["chunk"]
                    yield time.time(), data["chunk"]

        output_ms, partial = [], ""
        for received, chunk in chunks(lambda _: len(output_ms) >= rounds):
            partial += chunk
            while "\n" in partial:
                line, partial = partial.split("\n", 1)
                if line.startswith("t "):
                    output_ms.append((received - float(line[2:].strip())) * 1000)
        echo_ms = []
        # Keystrokes 20 ms apart (a fast typist's pace): a connection may send at most 100
        # terminal messages a second (TerminalBudget), and the full run's 205 would pass it.
        next_at = time.perf_counter()
        for i in range(rounds + 5):
            time.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += 0.02
            marker = f"k{i:04d}"
            sent = time.perf_counter()
            typist.send(json.dumps({"type": "run-input", "data": {"run_id": job, "data": marker}}))
            for _ in chunks(lambda text, marker=marker: marker in text):
                pass
            if i >= 5:   # the first few warm the path
                echo_ms.append((time.perf_counter() - sent) * 1000)
        typist.send(json.dumps({"type": "run-input", "data": {"run_id": job, "data": "\rq\r"}}))
        while True:
            message = json.loads(watcher.recv(timeout=30))
            if message["type"] == "execution-result" and message["data"].get("job_id") == job:
                status = message["data"].get("status")
                break
        typist.close()
        watcher.close()
        if status != "ok":
            raise RuntimeError(f"the interactive run ended {status}, not ok")

        def p99(values):
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))], 3)
        echo = summary(echo_ms) | {"p99": p99(echo_ms)}
        output = summary(output_ms) | {"p99": p99(output_ms)}
        log(f"  input to echo over {echo['n']} keystrokes: p50 {echo['p50']:.2f} ms, p99 {echo['p99']:.2f} ms; "
            f"output only over {output['n']} lines: p50 {output['p50']:.2f} ms, p99 {output['p99']:.2f} ms")
        self.results["terminal"] = {"rounds": rounds, "echo_ms": echo, "output_ms": output}

    # ---- the run ---------------------------------------------------------------------------

    # ---- the document in Redis (issue 13) ----------------------------------------------------

    def redis_cli(self, *argv, stdin=None, port=None):
        return subprocess.run(["redis-cli", "-p", str(port or self.redis_port)] + list(argv), input=stdin,
                              capture_output=True, text=True, check=True).stdout

    def commandstats(self, port=None):
        """{command: (calls, usec)} from INFO commandstats."""
        stats = {}
        for line in self.redis_cli("INFO", "commandstats", port=port).splitlines():
            match = re.match(r"cmdstat_([^:]+):calls=(\d+),usec=(\d+)", line)
            if match:
                stats[match.group(1)] = (int(match.group(2)), int(match.group(3)))
        return stats

    def io_counters(self, port):
        """(reads, writes) from INFO stats: how often the server read from or wrote to a client
        socket: reads per op says how few ops each wake-up of the server carries."""
        stats = dict(line.split(":", 1) for line in self.redis_cli("INFO", "stats", port=port).splitlines() if ":" in line)
        return int(stats["total_reads_processed"]), int(stats["total_writes_processed"])

    def redis_usec(self, before, after, skip=("info", "config|resetstat", "config")):
        calls, usec, by = 0, 0, {}
        for name, (c, u) in after.items():
            if name in skip:
                continue
            c0, u0 = before.get(name, (0, 0))
            if c > c0:
                by[name] = {"calls": c - c0, "usec": u - u0}
                calls += c - c0
                usec += u - u0
        return calls, usec, by

    def typing_session(self, size, name):
        """A session whose document is `size` bytes, joined over one WebSocket: (ws, revision, length)."""
        from websockets.sync.client import connect
        code = ("x" * 63 + "\n") * (size // 64)
        session = self.api.ok("POST", "/api/v1/sessions", {"host_name": name, "session_name": f"{name} {size}", "code": code})
        ws = connect(f"ws://127.0.0.1:{self.gateway_port}/ws/sessions/{session['id']}", max_size=None, open_timeout=30)
        ws.send(json.dumps({"type": "join", "data": {"participant_token": session["participant_token"]}}))
        while True:
            message = json.loads(ws.recv(timeout=30))
            if message["type"] == "welcome":
                return session["id"], ws, message["data"]["revision"], len(code)

    @staticmethod
    def type_one(ws, revision, length):
        """One single-character op in the middle of the document, waiting for its ack: (revision, ms)."""
        started = time.perf_counter()
        ws.send(json.dumps({"type": "op", "data": {"revision": revision, "ops": [length // 2, "y"]}}))
        while True:
            message = json.loads(ws.recv(timeout=30))
            if message["type"] == "ack":
                return message["data"]["revision"], (time.perf_counter() - started) * 1000
            if message["type"] == "error":
                raise RuntimeError(f"op refused: {message}")

    def doc_case(self, size, ops):
        """One participant, one WebSocket, single-character ops, each waiting for its ack."""
        sid, ws, revision, length = self.typing_session(size, "Typist")
        bytes_before = length
        round_trips = []
        before = self.commandstats()
        redis_cpu = cpu_ticks([self.redis.pid])
        for index in range(ops):
            revision, ms = self.type_one(ws, revision, length)
            round_trips.append(ms)
            length += 1
        after = self.commandstats()
        redis_cpu = cpu_ticks([self.redis.pid]) - redis_cpu
        ws.close()
        calls, usec, by = self.redis_usec(before, after)
        # Redis 7 counts a script's own commands under their names as well as inside the EVALSHA
        # that ran them: the figure is the scripts' time (everything they do) plus the commands
        # sent outside any script (none on the commit path, old layout or new).
        scripted = sum(v["usec"] for k, v in by.items() if k in SCRIPT_COMMANDS)
        text = self.api.ok("GET", f"/api/v1/sessions/{sid}/code")["code"]
        if len(text) != length:
            raise RuntimeError(f"the document is {len(text)} characters after {ops} ops, expected {length}")
        return {"bytes": bytes_before, "ops": ops, "redis_usec_per_op": scripted / ops, "redis_calls_per_op": calls / ops,
                "redis_cpu_us_per_op": redis_cpu / CLK_TCK * 1e6 / ops, "by_command": by, "round_trip_ms": summary(round_trips)}

    def bench_doc(self):
        ops = 100 if self.args.quick else 500
        log(f"document: {ops} single-character ops at 1 KiB and 250 KiB, Redis time from INFO commandstats")
        results = {}
        for label, size in (("1k", 1024), ("250k", 250 * 1024)):
            r = self.doc_case(size, ops)
            results[label] = r
            by = ", ".join(f"{name} {v['usec'] / ops:.1f}" for name, v in r["by_command"].items())
            log(f"  {label}: {r['redis_usec_per_op']:.1f} us Redis (commandstats of the scripts) per op, "
                f"redis-server CPU {r['redis_cpu_us_per_op']:.0f} us per op, round trip p50 {r['round_trip_ms']['p50']:.2f} ms; "
                f"per op by command (script calls included): {by}")
        # The reference: what the floor of an append-and-publish costs in the same Redis.
        before = self.commandstats()
        self.redis_cli(stdin=reference_commands(ops))
        after = self.commandstats()
        calls, usec, by = self.redis_usec(before, after)
        self.redis_cli("DEL", "ci:{bench}:reference")
        results["reference_xadd_publish_usec"] = usec / ops
        log(f"  reference: one XADD + one PUBLISH: {usec / ops:.1f} us Redis per pair")
        self.out["doc"] = results

    def typist(self, size, rate, stop, out):
        """Edits a document of `size` bytes at `rate` ops/s (each op waits for its ack) until
        `stop` is set; appends the round trips (ms) to `out`."""
        _, ws, revision, length = self.typing_session(size, "Heavy")
        next_at = time.perf_counter()
        while not stop.is_set():
            revision, ms = self.type_one(ws, revision, length)
            out.append(ms)
            length += 1
            next_at += 1 / rate
            time.sleep(max(0, next_at - time.perf_counter()))
        ws.close()

    def bench_heavy(self):
        """Issue 13's last check: one 250 KiB document edited at the per-connection message limit
        (100 messages/s) beside 500 sessions x 4 at 20,000 deliveries/s: the other sessions' p99
        against the same load without it, in the same run."""
        log("heavy document: 500 sessions x 4 at 13.3 ops/s per editor, without and with a 250 KiB document typed at 100 ops/s")
        seconds = self.ws_seconds
        lines = []
        for index in range(500):
            sid = self.api.ok("POST", "/api/v1/sessions", {"session_name": f"heavy {index}", "code": ""})["id"]
            lines.append(f"E {sid} " + json.dumps({"name": "Editor"}))
            lines += [f"M {sid} " + json.dumps({"name": f"Member {m}"}) for m in range(3)]
        connfile = self.write_conns("heavy-gateway", lines)
        results = {"without": self.wsload(self.gateway_port, connfile, f"13.3333:{seconds}", self.gateway_pids())}
        time.sleep(2)
        stop, trips = threading.Event(), []
        thread = threading.Thread(target=self.typist, args=(250 * 1024, 100, stop, trips))
        thread.start()
        results["with"] = self.wsload(self.gateway_port, connfile, f"13.3333:{seconds}", self.gateway_pids())
        stop.set()
        thread.join()
        results["typist"] = {"ops": len(trips), "round_trip_ms": summary(trips)}
        for key in ("without", "with"):
            lat = results[key]["phases"][0]["latency_us"]
            log(f"  {key} the 250 KiB typist: p50 {lat['p50'] / 1000:.2f} ms p99 {lat['p99'] / 1000:.2f} ms "
                f"p99.9 {lat['p999'] / 1000:.2f} ms, {results[key]['phases'][0]['deliveries_per_s']:.0f} deliveries/s")
        log(f"  the typist: {len(trips)} ops, round trip p50 {results['typist']['round_trip_ms']['p50']:.2f} ms")
        self.results["heavy"] = results

    def machine(self):
        info = {"cores": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        info["cpu"] = line.split(":", 1)[1].strip()
                        break
            with open("/proc/meminfo") as f:
                info["memory_gib"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
            with open("/etc/os-release") as f:
                for line in f:
                    if line.startswith("PRETTY_NAME="):
                        info["os"] = line.split("=", 1)[1].strip().strip('"')
        except OSError:
            pass
        try:
            info["swift"] = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            pass
        for tool, argv in (("nginx", ["/usr/sbin/nginx", "-v"]), ("wrk", ["wrk", "-v"]), ("redis", ["redis-server", "--version"])):
            try:
                out = subprocess.run(argv, capture_output=True, text=True)
                info[tool] = (out.stdout + out.stderr).strip().splitlines()[0]
            except (OSError, IndexError):
                pass
        try:
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain", "--", "Sources"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
            info["commit"] = commit + ("+uncommitted Sources changes" if dirty else "")
        except OSError:
            pass
        info["load_before"] = os.getloadavg()
        return info

    PARTS = ("doc", "http", "fanout", "heavy", "idle", "exec", "term")
    COMPARED = ("doc", "http", "fanout")     # also run with the baseline binary, when there is one

    def use(self, which):
        """Two gateways of binary `which` ("this" or "baseline"); nothing when they already run.
        A switch stops the others and empties Redis (keys, scripts, functions), so both binaries
        start on the same clean Redis."""
        gateways = [g for g in getattr(self, "gateways", []) if g.poll() is None]
        if which == self.which and gateways:
            return
        for gateway in getattr(self, "gateways", []):
            self.stop(gateway)
        if getattr(self, "api", None):
            self.api.close()
        if self.args.baseline_bin:
            for command in (["FLUSHALL"], ["SCRIPT", "FLUSH"], ["FUNCTION", "FLUSH"], ["CONFIG", "RESETSTAT"]):
                self.redis_cli(*command)
        self.which = which
        self.bin = os.path.join(dict(self.binaries)[which], "codeinterview")
        if which == "this":
            self.out = self.results
        else:
            self.out = self.results.setdefault("baseline", {"label": self.args.baseline_label})
        self.start_gateways("gateway" if which == "this" else "baseline-gateway")

    def run_part(self, part, which):
        self.use(which)
        if part == "doc":
            self.bench_doc()
        elif part == "http":
            if which == "this":
                self.start_nginx()
            try:
                self.bench_http()
            finally:
                if which == "this":
                    self.stop(self.nginx)
        elif part == "fanout":
            self.bench_fanout()
        elif part == "heavy":
            self.bench_heavy()
        elif part == "idle":
            self.bench_idle()
        elif part == "exec":
            # Started only now: a runner probing its toolchain would disturb the other parts.
            if not getattr(self, "runners", None):
                self.start_runners()
            self.bench_exec()
        elif part == "term":
            if not getattr(self, "runners", None):
                self.start_runners()
            self.bench_terminal()

    def attempt(self, name, function):
        """Runs one part; a failure is logged and recorded, and the run goes on."""
        try:
            function()
        except KeyboardInterrupt:
            raise
        except Exception as error:    # noqa: BLE001 (any failure of a part is that part's)
            import traceback
            log(f"FAILED: the {name} part: {type(error).__name__}: {error}")
            log(traceback.format_exc().rstrip())
            self.results["failed_parts"][name] = f"{type(error).__name__}: {error}"

    def run(self):
        wanted = set(self.args.only.split(",")) if self.args.only else set(self.PARTS)
        if wanted - set(self.PARTS):
            raise SystemExit(f"bench: --only: no part {', '.join(sorted(wanted - set(self.PARTS)))} "
                             f"(the parts: {', '.join(self.PARTS)})")
        if self.args.redis_cluster and "fanout" not in wanted:
            raise SystemExit("bench: --redis-cluster compares with the single Redis's 500 x 4 fan-out: "
                             "include fanout in --only (e.g. --only fanout)")
        path = os.path.join(self.state, "results.json")
        if os.path.exists(path):
            os.remove(path)          # never a report of an earlier run for this one
        started = time.monotonic()
        self.results["machine"] = self.machine()
        self.results["started_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.results["quick"] = self.args.quick
        self.results["parts"] = [p for p in self.PARTS if p in wanted] + (["cluster"] if self.args.redis_cluster else [])
        self.results["failed_parts"] = {}
        if self.args.baseline_bin:
            self.results["baseline"] = {"label": self.args.baseline_label}
        try:
            self.attempt("setup", self.start_redis)
            compared = 0
            for part in self.PARTS:
                if part not in wanted or "setup" in self.results["failed_parts"]:
                    continue
                runs = [which for which, _ in self.binaries] if part in self.COMPARED else ["this"]
                if part in self.COMPARED:
                    # this, baseline; then baseline, this; ...: a drift of the machine during the
                    # run favours neither, and each switch of binaries serves two parts.
                    if compared % 2:
                        runs.reverse()
                    compared += 1
                for which in runs:
                    self.attempt(part if which == "this" else f"baseline {part}", lambda: self.run_part(part, which))
            if self.args.redis_cluster and "setup" not in self.results["failed_parts"]:
                for runner in getattr(self, "runners", []):
                    self.stop(runner)

                def cluster():
                    self.use("this")
                    self.bench_cluster()
                self.attempt("cluster", cluster)
        finally:
            self.results["seconds"] = round(time.monotonic() - started, 1)
            self.results["machine"]["load_after"] = os.getloadavg()
            with open(path, "w") as f:
                json.dump(self.results, f, indent=2)
            log(f"wrote {path} ({self.results['seconds']} s)")
        return not self.results["failed_parts"]

def parse_duration_ms(text):
    match = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def parse_wrk(output, server_cpu_s, wrk_cpu_s):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    latency = {}
    for pct, key in (("50", "p50"), ("75", "p75"), ("90", "p90"), ("99", "p99")):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", output, re.M)
        latency[key] = round(parse_duration_ms(match.group(1)), 3) if match else None
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(x) for x in socket_errors.groups()) if socket_errors else 0)
    return {"requests": requests, "requests_per_s": rps, "latency_ms": latency, "errors": errors,
            "server_cpu_s": round(server_cpu_s, 3), "server_cpu_us_per_request": server_cpu_s * 1e6 / requests if requests else None,
            "wrk_cpu_s": round(wrk_cpu_s, 3)}


def summary(values):
    if not values:
        return {"n": 0, "p50": float("nan"), "p90": float("nan"), "min": float("nan")}
    ordered = sorted(values)
    return {"n": len(ordered), "p50": round(ordered[len(ordered) // 2], 3),
            "p90": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))], 3), "min": round(ordered[0], 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--tools", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--redis-cluster", action="store_true")
    parser.add_argument("--baseline-bin", default="")
    parser.add_argument("--baseline-label", default="baseline")
    args = parser.parse_args()
    bench = Bench(args)

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        if not bench.run():
            log(f"FAILED parts: {', '.join(bench.results['failed_parts'])}")
            sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
    finally:
        bench.stop_all()


if __name__ == "__main__":
    main()
