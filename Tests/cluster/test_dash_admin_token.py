"""The cluster scripts with an admin token that begins with "-" (issue 20): every script takes
--name=VALUE as well as --name VALUE, and hands every value to the programs as --name=VALUE, so a
token like "-x..." is a token, not a missing value."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx


def test_cluster_up_and_add_gateway_with_a_token_that_begins_with_a_dash(make_cluster):
    cluster = make_cluster(gateways=1, runners=0)
    cluster.run("down", "--timeout=10")
    token = "-x" + secrets.token_hex(12)
    # Both forms: --name=VALUE (the token must be given so) and --name VALUE.
    cluster.run("up", "--gateways=1", "--runners", "0", f"--bind=127.0.0.1:{cluster.public_port}",
                "--gateway-port", str(cluster.gateway_port), f"--redis-port={cluster.redis_port}",
                f"--bin={cluster.bin}", f"--admin-token={token}", "--gateway-args=--shutdown-grace 5", timeout=120)
    assert f"ADMIN_TOKEN={token}\n" in Path(cluster.state, "cluster.env").read_text()
    admin = {"Authorization": f"Bearer {token}"}
    r = httpx.get(f"{cluster.url}/api/v1/cluster", headers=admin, timeout=10)
    assert r.status_code == 200, r.text
    assert httpx.get(f"{cluster.url}/api/v1/cluster", headers={"Authorization": "Bearer x"}, timeout=10).status_code == 403

    # add-gateway takes the token from cluster.env and hands it on as --admin-token=VALUE.
    before = set(cluster.nodes("gateway"))
    cluster.run("add-gateway", "--timeout=60")
    (added,) = set(cluster.nodes("gateway")) - before
    cluster.wait_balanced(2)
    r = httpx.get(f"http://{cluster.addr(added)}/api/v1/cluster", headers=admin, timeout=10)
    assert r.status_code == 200, r.text
    out = cluster.run("remove", "--timeout=30", "--", added)
    assert f"{added} removed" in out
