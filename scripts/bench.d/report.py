#!/usr/bin/env python3
"""Prints scripts/bench's table (Markdown) from results.json, each figure beside its reference
from the same run, and each target of issue 7 as met or missed. Adds the targets to the JSON.

    report.py .state/bench/results.json
"""
import json
import sys


def fmt(value, digits=1, unit=""):
    if value is None or value != value:   # None or NaN
        return "n/a"
    if isinstance(value, (int, float)) and abs(value) >= 10000:
        return f"{value:,.0f}{unit}"
    return f"{value:,.{digits}f}{unit}"


def redis_share(result, count, nodes=1):
    """' (Redis x µs)': the last `nodes` pids of a gateway run are the redis-servers (a
    cluster's primaries)."""
    by_pid = result.get("server_cpu_s_by_pid")
    if not by_pid or not count:
        return ""
    return f" (Redis {sum(by_pid[-nodes:]) * 1e6 / count:.1f})"


def shard_cpu_per_op(phases, shards, index, nodes):
    """'a / b' µs: redis-server CPU of shard `index` in each measured window (wsload's -c pids end
    with the primaries, in the order of `shards`) per op of its share of the window's acks (its
    share of the ops committed over the run)."""
    ops = sum(s["ops"] for s in shards)
    share = shards[index]["ops"] / ops if ops else 0
    out = []
    for p in phases:
        cpu = p["server_cpu_s_by_pid"][len(p["server_cpu_s_by_pid"]) - nodes + index]
        out.append(fmt(cpu * 1e6 / (p["acks"] * share), 1) if p["acks"] and share else "n/a")
    return " / ".join(out)


def shard_figures(case, index, nodes):
    shard = case["shards"][index]
    return (f"{shard['sessions']} sessions, {shard['ops']:,} ops, {fmt(shard['redis_usec_per_op'], 1, ' µs')}; "
            f"CPU {shard_cpu_per_op(case['gateways']['phases'], case['shards'], index, nodes)} µs"
            + (f"; {shard['reads_per_op']:.2f} socket reads per op" if shard.get("reads_per_op") else ""))


def script_time_per_op(shards):
    ops = sum(s["ops"] for s in shards)
    return sum(s["scripts_usec"] for s in shards) / ops if ops else None


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def fanout_rows(head, ours, ref, ref_label, nodes=1, ref_nodes=0, latency_target=("", ""), cpu_target=("", "")):
    """The rows of one fan-out phase (delivered messages/s, latency, server CPU per delivery), each
    beside the same phase of `ref` (wsref's run, or for the cluster the single Redis's); a run
    over Redis shows its Redis part of the CPU (`nodes` redis-servers, `ref_nodes` in `ref`)."""
    lo, lr = ours["latency_us"], ref["latency_us"]
    return [
        (f"{head}: delivered messages/s", fmt(ours["deliveries_per_s"], 0),
         f"{ref_label}: {fmt(ref['deliveries_per_s'], 0)}",
         f"{ratio(ours['deliveries_per_s'], ref['deliveries_per_s']):.2f}x", "", ""),
        (f"{head}: latency p50 / p99 / p99.9",
         f"{lo['p50'] / 1000:.2f} / {lo['p99'] / 1000:.2f} / {lo['p999'] / 1000:.2f} ms",
         f"{lr['p50'] / 1000:.2f} / {lr['p99'] / 1000:.2f} / {lr['p999'] / 1000:.2f} ms",
         f"{ratio(lo['p99'], lr['p99']):.1f}x (p99)", *latency_target),
        (f"{head}: server CPU per delivery (gateways + Redis)",
         fmt(ours["server_cpu_us_per_delivery"], 2, " µs") + redis_share(ours, ours["deliveries"], nodes),
         fmt(ref["server_cpu_us_per_delivery"], 2, " µs") + (redis_share(ref, ref["deliveries"], ref_nodes) if ref_nodes else ""),
         f"{ratio(ours['server_cpu_us_per_delivery'], ref['server_cpu_us_per_delivery']):.1f}x", *cpu_target),
    ]


def main():
    path = sys.argv[1]
    with open(path) as f:
        r = json.load(f)
    rows = []       # (figure, ours, reference, ratio, target, verdict)
    targets = []

    def target(name, met, detail):
        targets.append({"target": name, "met": bool(met), "detail": detail})
        return "**met**" if met else "**MISSED**"

    doc = r.get("doc")
    if doc:
        ref = doc["reference_xadd_publish_usec"]
        small, big = doc["1k"], doc["250k"]
        for label, case in (("1 KiB", small), ("250 KiB", big)):
            rows.append((f"Document {label}: Redis time per committed op (INFO commandstats; one typist, {case['ops']} ops)",
                         fmt(case["redis_usec_per_op"], 1, " µs"), f"one XADD + one PUBLISH: {fmt(ref, 1, ' µs')}",
                         f"{ratio(case['redis_usec_per_op'], ref):.1f}x", "", ""))
            rows.append((f"Document {label}: op round trip p50 / p90 (send to ack)",
                         f"{case['round_trip_ms']['p50']:.2f} / {case['round_trip_ms']['p90']:.2f} ms", "", "", "", ""))
        q = ratio(big["redis_usec_per_op"], small["redis_usec_per_op"])
        rows.append(("Document: Redis time per op, 250 KiB over 1 KiB", f"{q:.2f}x", "", "", "<= 1.5x",
                     target("Redis time per op at 250 KiB <= 1.5 x at 1 KiB", q is not None and q <= 1.5,
                            f"{big['redis_usec_per_op']:.1f} vs {small['redis_usec_per_op']:.1f} us")))
        q = ratio(small["redis_usec_per_op"], ref)
        rows.append(("Document: Redis time per op at 1 KiB over one XADD + PUBLISH", f"{q:.2f}x", "", "", "<= 3x",
                     target("Redis time per op at 1 KiB <= 3 x one XADD + PUBLISH", q is not None and q <= 3.0,
                            f"{small['redis_usec_per_op']:.1f} vs {ref:.1f} us")))

    http = r.get("http")
    if http:
        nginx = http["nginx"]
        for key, label, minimum in (("health", "GET /health", 0.5), ("session", "GET /api/v1/sessions/{id}", 0.35)):
            ours = http[key]
            q = ratio(ours["requests_per_s"], nginx["requests_per_s"])
            verdict = target(f"{label} >= {minimum} x nginx", q is not None and q >= minimum,
                             f"{q:.2f} x nginx ({ours['requests_per_s']:.0f} vs {nginx['requests_per_s']:.0f} req/s)")
            rows.append((f"{label}: requests/s (wrk {http['wrk']})", fmt(ours["requests_per_s"], 0),
                         f"nginx `return 200`{' (mean of 2 runs)' if 'runs' in nginx else ''}: {fmt(nginx['requests_per_s'], 0)}", f"{q:.2f}x", f">= {minimum}x", verdict))
            rows.append((f"{label}: latency p50 / p99", f"{fmt(ours['latency_ms']['p50'], 2)} / {fmt(ours['latency_ms']['p99'], 2)} ms",
                         f"{fmt(nginx['latency_ms']['p50'], 2)} / {fmt(nginx['latency_ms']['p99'], 2)} ms",
                         f"{ratio(ours['latency_ms']['p50'], nginx['latency_ms']['p50']):.1f}x / "
                         f"{ratio(ours['latency_ms']['p99'], nginx['latency_ms']['p99']):.1f}x", "", ""))
            rows.append((f"{label}: server CPU per request (gateways + Redis)",
                         fmt(ours["server_cpu_us_per_request"], 1, " µs") + redis_share(ours, ours["requests"]),
                         f"nginx workers: {fmt(nginx['server_cpu_us_per_request'], 1, ' µs')}",
                         f"{ratio(ours['server_cpu_us_per_request'], nginx['server_cpu_us_per_request']):.1f}x", "", ""))
            if ours["errors"] or nginx["errors"]:
                rows.append((f"{label}: errors (non-2xx, socket)", str(ours["errors"]), str(nginx["errors"]), "", "", ""))

    fanout = r.get("fanout")
    if fanout:
        for key, title in (("one_session_1000", "1 session x 1,000 members (2 gateways)"),
                           ("sessions_500x4", "500 sessions x 4 members")):
            case = fanout.get(key)
            if not case:
                continue
            for index, (ours, ref) in enumerate(zip(case["gateways"]["phases"], case["reference"]["phases"])):
                rate = "saturating" if ours["rate"] == 0 else f"{ours['rate']:.3g} ops/s per editor"
                head = f"Fan-out {title}, {rate}"
                latency_target, cpu_target = ("", ""), ("", "")
                if key == "one_session_1000" and ours["rate"] > 0:
                    lo = ours["latency_us"]
                    latency_target = ("p99 < 10 ms at 20,000/s", target(
                        "p99 fan-out latency < 10 ms at 20,000 deliveries/s",
                        lo["p99"] < 10000 and ours["deliveries_per_s"] >= 19000,
                        f"p99 {lo['p99'] / 1000:.2f} ms at {ours['deliveries_per_s']:.0f} deliveries/s"))
                    cpu_target = ("<= 3 µs", target(
                        "<= 3 us server CPU per delivered message (fan-out)",
                        ours["server_cpu_us_per_delivery"] <= 3.0,
                        f"{ours['server_cpu_us_per_delivery']:.2f} us per delivery "
                        f"(reference {ref['server_cpu_us_per_delivery']:.2f} us)"))
                rows += fanout_rows(head, ours, ref, "C epoll server (wsref)",
                                    latency_target=latency_target, cpu_target=cpu_target)

    cluster = r.get("cluster")
    single = (fanout or {}).get("sessions_500x4")
    if cluster and single:
        case, n = cluster["sessions_500x4"], cluster["primaries"]
        title = f"Redis Cluster ({n} primaries, {cluster['replicas']} replicas): fan-out 500 sessions x 4 members"
        ref_head = "single Redis (same run)"
        for ours, ref in zip(case["gateways"]["phases"], single["gateways"]["phases"]):
            rate = "saturating" if ours["rate"] == 0 else f"{ours['rate']:.3g} ops/s per editor"
            rows += fanout_rows(f"{title}, {rate}", ours, ref, ref_head, nodes=n, ref_nodes=1)
        shards, ref_shards = case["shards"], single.get("shards")
        ops = sum(s["ops"] for s in shards)
        ours, ref = script_time_per_op(shards), script_time_per_op(ref_shards) if ref_shards else None
        rows.append((f"{title}: Redis time per committed op, all shards (scripts, INFO commandstats; "
                     f"{ops:,} ops over the run)", fmt(ours, 1, " µs"),
                     f"{ref_head}: {fmt(ref, 1, ' µs')}" + (f" ({ref_shards[0]['ops']:,} ops)" if ref_shards else ""),
                     f"{ratio(ours, ref):.2f}x" if ref else "", "", ""))
        phases = case["gateways"]["phases"]
        windows = " / ".join("saturating" if p["rate"] == 0 else f"{p['rate']:.3g} ops/s" for p in phases)
        for index, shard in enumerate(shards):
            rows.append((f"{title}: shard {index + 1} (slots {shard['slots']}): sessions, ops committed over the run, "
                         f"Redis time per op (scripts, commandstats), redis-server CPU per op (measured windows: {windows}), "
                         f"socket reads per op (INFO stats)",
                         shard_figures(case, index, n),
                         f"{ref_head}: {shard_figures(single, 0, 1)}" if ref_shards else "", "", "", ""))
        mean = sum(s["scripts_usec"] for s in shards) / len(shards)
        top = max(shards, key=lambda s: s["scripts_usec"])
        q = ratio(top["scripts_usec"], mean)
        sessions = [s["sessions"] for s in shards]
        rows.append((f"{title}: Redis time of the busiest shard over the mean of the {n} (sessions per shard "
                     f"{' / '.join(map(str, sessions))})", f"{q:.2f}x" if q else "n/a", "", "", "<= 1.5x",
                     target(f"Redis Cluster: no shard's Redis time above 1.5 x the mean of the {n}",
                            q is not None and q <= 1.5,
                            f"busiest {top['port']}: {top['scripts_usec'] / 1000:.0f} ms vs mean {mean / 1000:.0f} ms; "
                            f"sessions per shard {' / '.join(map(str, sessions))}")))

    heavy = r.get("heavy")
    if heavy:
        without, with_ = heavy["without"]["phases"][0], heavy["with"]["phases"][0]
        lw, lh = without["latency_us"], with_["latency_us"]
        rows.append(("500 sessions x 4 at 13.3 ops/s, beside a 250 KiB document typed at 100 ops/s: latency p50 / p99 / p99.9",
                     f"{lh['p50'] / 1000:.2f} / {lh['p99'] / 1000:.2f} / {lh['p999'] / 1000:.2f} ms",
                     f"without it: {lw['p50'] / 1000:.2f} / {lw['p99'] / 1000:.2f} / {lw['p999'] / 1000:.2f} ms",
                     f"{ratio(lh['p99'], lw['p99']):.2f}x (p99)", "", ""))
        rows.append(("The 250 KiB typist: ops, round trip p50 / p90", f"{heavy['typist']['ops']}, "
                     f"{heavy['typist']['round_trip_ms']['p50']:.2f} / {heavy['typist']['round_trip_ms']['p90']:.2f} ms", "", "", "", ""))

    idle = r.get("idle")
    if idle:
        ours, ref = idle["gateway"], idle["reference"]
        per = ours["kib_per_connection"]
        verdict = target("<= 8 KiB gateway memory per idle WebSocket", per is not None and per <= 8.0,
                         f"{per:.2f} KiB per connection over {ours['joined']:,} connections")
        rows.append((f"Memory per idle joined WebSocket (RSS growth of one gateway over {ours['joined']:,})",
                     fmt(per, 2, " KiB"), f"wsref: {fmt(ref['kib_per_connection'], 2, ' KiB')}",
                     f"{ratio(per, ref['kib_per_connection']):.1f}x", "<= 8 KiB", verdict))

    execution = r.get("execution")
    if execution:
        lat, thr = execution["latency"], execution["throughput"]
        overhead = lat["overhead_p50_ms"]
        verdict = target("execution overhead <= 15 ms p50", overhead <= 15.0,
                         f"{overhead:.1f} ms (POST /execute p50 {lat['api_ms']['p50']:.1f} ms, bare p50 {lat['bare_ms']['p50']:.1f} ms)")
        rows.append(("Execution, trivial Python: submit-to-result p50 (POST /api/v1/execute)",
                     fmt(lat["api_ms"]["p50"], 1, " ms"), f"bare bwrap run: {fmt(lat['bare_ms']['p50'], 1, ' ms')}",
                     f"+{overhead:.1f} ms", "<= +15 ms", verdict))
        rows.append(("Execution: jobs/s across two runners (2 slots each)", fmt(thr["api_jobs_per_s"], 1),
                     f"{thr['bare_parallel']} bare bwrap runs in parallel: {fmt(thr['bare_runs_per_s'], 1)}",
                     f"{ratio(thr['api_jobs_per_s'], thr['bare_runs_per_s']):.2f}x", "", ""))

    m = r.get("machine", {})
    print()
    print(f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory_gib', '?')} GiB, "
          f"{m.get('os', '?')}, Linux {m.get('kernel', '?')}; {m.get('swift', '')}")
    print(f"Run: {r.get('started_at', '?')}, commit {m.get('commit', '?')}, {r.get('seconds', '?')} s"
          f"{' (--quick: not for the README)' if r.get('quick') else ''}; load average before "
          f"{', '.join(f'{x:.2f}' for x in m.get('load_before', []))}"
          + (f", before the Redis Cluster part {', '.join(f'{x:.2f}' for x in r['cluster']['load_before'])}"
             if r.get("cluster") else ""))
    print()
    print("| figure | CodeInterview | reference (same run) | ratio | target | |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    met = sum(t["met"] for t in targets)
    print(f"Targets met: {met} of {len(targets)}")
    for t in targets:
        print(f"  {'met   ' if t['met'] else 'MISSED'}  {t['target']}: {t['detail']}")
    r["targets"] = targets
    with open(path, "w") as f:
        json.dump(r, f, indent=2)


if __name__ == "__main__":
    main()
