"""The PostgreSQL cluster/up starts for the interview record: a password over TCP, cluster/status
saying whether it answers, its data kept across down and up."""

from __future__ import annotations

import pytest

from harness.postgres import psql


def test_up_starts_postgresql_status_shows_it_and_down_up_keeps_its_data(make_cluster):
    cluster = make_cluster(gateways=1)
    url = cluster.settings["POSTGRES"]
    password = url.split("://postgres:", 1)[1].split("@", 1)[0]
    assert password and url.endswith(f"@127.0.0.1:{cluster.postgres_port}/codeinterview")
    psql(url, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('across down and up')")
    # TCP needs the password, even from this machine.
    with pytest.raises(RuntimeError):
        psql(f"postgresql://postgres@127.0.0.1:{cluster.postgres_port}/codeinterview", "SELECT 1")

    out = cluster.run("status")
    assert "reachable (accepting connections)" in out, out
    assert password not in out
    (node,) = cluster.nodes("postgres")

    cluster.run("down", "--timeout", "10")
    assert cluster.pid(node) is None
    cluster.run("up", *cluster.up_args, timeout=180)
    assert cluster._read_env()["POSTGRES"] == url, "same port, same password"
    assert psql(url, "SELECT v FROM kept") == [("across down and up",)]

    cluster.kill9(cluster.nodes("postgres")[0])
    out = cluster.run("status", check=False)
    assert "UNREACHABLE" in out, out
