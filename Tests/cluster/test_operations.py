"""The operator's scripts and route: --help, status and GET /api/v1/cluster agreeing, a runner
drained mid-job, removing a dead gateway, and down/up keeping the data."""

import subprocess
import time

import httpx
import pytest

from harness.clusters import CLUSTER

SCRIPTS = ["up", "add-gateway", "add-runner", "drain", "remove", "status", "down"]
ADMIN = {"Authorization": "Bearer test-admin-token"}


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_has_help(script):
    out = subprocess.run([str(CLUSTER / script), "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"Usage: cluster/{script}"), out.stdout[:200]


def test_status_and_cluster_route_report_the_same_nodes(make_cluster):
    cluster = make_cluster(gateways=2, runners=1)
    cluster.wait_balanced(2)
    time.sleep(2.2)  # every gateway has heartbeaten its counters at least once
    assert httpx.get(cluster.url + "/api/v1/cluster", timeout=5).status_code == 401
    assert httpx.get(cluster.url + "/api/v1/cluster", headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 403
    r = httpx.get(cluster.url + "/api/v1/cluster", headers=ADMIN, timeout=5)
    assert r.status_code == 200, r.text
    route = r.json()
    script = cluster.status()
    assert set(route) == set(script) - {"balancer"}
    assert set(route["redis"]) == set(script["redis"])
    assert route["redis"]["role"] == "master" and route["redis"]["aof_enabled"] is True
    assert route["totals"]["gateways_up"] == script["totals"]["gateways_up"] == 2
    assert route["totals"]["runners_up"] == script["totals"]["runners_up"] == 1
    by_id = lambda doc: {n["id"]: n for n in doc["nodes"]}  # noqa: E731
    assert by_id(route).keys() == by_id(script).keys()
    for node_id, node in by_id(route).items():
        other = by_id(script)[node_id]
        assert set(node) == set(other) - {"balancer"}, node_id
        assert (node["kind"], node["node_id"], node["address"], node["started_at"], node["state"]) == \
               (other["kind"], other["node_id"], other["address"], other["started_at"], other["state"])
    gateways = [n for n in route["nodes"] if n["kind"] == "gateway"]
    assert {g["node_id"] for g in gateways} == set(cluster.nodes("gateway"))
    assert sum(g["this"] for g in gateways) == 1
    assert all(n["balancer"].startswith("UP") for n in script["nodes"] if n["kind"] == "gateway")
    runner = next(n for n in route["nodes"] if n["kind"] == "runner")
    assert runner["languages"] == ["python"] and runner["jobs_capacity"] == 1
    table = cluster.run("status")
    assert "role master" in table and "aof on" in table
    for node_id in by_id(route):
        assert node_id in table


def test_drained_runner_finishes_its_job_then_leaves(make_cluster):
    cluster = make_cluster(gateways=1, runners=1)
    (runner,) = cluster.nodes("runner")
    with httpx.Client(base_url=cluster.url, timeout=10) as http:
        r = http.post("/api/v1/execute", json={"language": "python", "wait": False,
                                               "code": "import time\ntime.sleep(2)\nprint('all done')\n"})
        assert r.status_code == 202, r.text
        job = r.json()["job_id"]
        deadline = time.monotonic() + 20
        while http.get(f"/api/v1/executions/{job}").json()["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        out = cluster.run("drain", runner)
        assert "drained" in out
        state = http.get(f"/api/v1/executions/{job}").json()
    assert state["state"] == "done" and state["attempts"] == 1, state
    assert state["result"]["stdout"] == "all done\n" and state["runner_id"] == runner
    assert cluster.pid(runner) is None
    assert runner not in {n["id"] for n in cluster.status()["nodes"]}  # it left the registry


def test_remove_a_dead_gateway_and_down_up_keeps_the_data(make_cluster):
    cluster = make_cluster(gateways=2)
    cluster.wait_balanced(2)
    first, second = cluster.nodes("gateway")
    sid = cluster.create_session(code="kept\n")["id"]
    cluster.kill9(first)
    out = cluster.run("remove", first)
    assert "deleted from HAProxy" in out
    assert first not in cluster.balancer_servers()
    assert first not in cluster.nodes("gateway")
    assert httpx.get(f"{cluster.url}/api/v1/sessions/{sid}", timeout=5).status_code == 200

    # down keeps Redis' AOF; up on the same state directory brings every session back.
    cluster.run("down", "--timeout", "10")
    assert cluster.pid(second) is None
    args = ["--gateways", "1", "--runners", "0", "--bind", f"127.0.0.1:{cluster.public_port}",
            "--gateway-port", str(cluster.gateway_port), "--redis-port", str(cluster.redis_port),
            "--bin", cluster.bin, "--admin-token", "test-admin-token"]
    cluster.run("up", *args, timeout=120)
    r = httpx.get(f"{cluster.url}/api/v1/sessions/{sid}/code", timeout=5)
    assert r.status_code == 200 and r.json()["code"] == "kept\n", r.text
