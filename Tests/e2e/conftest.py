"""Fixtures of the end-to-end suite: a real redis-server and real gateway processes (Tests/harness).

- `redis_server` (session): redis-server on a free loopback port, own temp dir, no persistence.
- `pool` (session): every gateway the suite starts (`GatewayPool`), on `redis_server` by default.
- `cluster` (session): three gateways (indices 0, 1, 2) on that Redis with default flags.
- `start_gateway` (function): a factory for extra gateways with custom flags (on the suite's Redis
  or another); the gateways it started are killed when the test ends.
- `start_redis` (function): a factory for a redis-server of the test's own (optionally with the
  AOF, restartable); stopped when the test ends.
- `redis_cluster` (session): a real Redis Cluster, 3 primaries and 3 replicas (`RedisCluster`);
  gateways use it with `start_gateway("--redis-cluster", redis_cluster.seeds)`.
- `logdir`, `postgres`, `redis` (module): a log folder, a PostgreSQL (Tests/harness/postgres.py)
  and a redis-server of the module's own, for the archive's suites.
When a test fails, what each gateway logged during the test is attached to the report.
"""

from __future__ import annotations

import tempfile

import pytest

from harness import reports
from harness.processes import Gateway, GatewayPool, Gateways, RedisCluster, RedisServer


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pool(redis_server):
    p = GatewayPool(redis_server)
    yield p
    p.stop_all()


@pytest.fixture(scope="session")
def cluster(pool) -> Gateways:
    """Three gateways with default flags on one Redis (indices 0, 1, 2)."""
    return Gateways([pool.start(node_id="gw-a"), pool.start(node_id="gw-b"), pool.start(node_id="gw-c")])


@pytest.fixture
def start_gateway(pool):
    """start_gateway("--flag", "value", ..., redis=None) -> Gateway on the suite's Redis (or on
    `redis`, e.g. one from start_redis); killed when the test ends."""
    started: list[Gateway] = []

    def start(*extra: str, redis: RedisServer | None = None) -> Gateway:
        gw = pool.start(*extra, redis=redis)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


@pytest.fixture(scope="session")
def redis_cluster():
    cluster = RedisCluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def start_redis():
    """start_redis(appendonly=False) -> a redis-server of the test's own (empty, on its own port and
    directory); stopped when the test ends."""
    started: list[RedisServer] = []

    def start(appendonly: bool = False) -> RedisServer:
        server = RedisServer(appendonly=appendonly)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def _gateway_logs_on_failure(request):
    """A failing test's report gets what each gateway logged since it began."""
    if {"pool", "cluster", "start_gateway"} & set(request.fixturenames):  # not ot.py's own tests
        reports.attach(request.node, reports.logs_since_now(request.getfixturevalue("pool").all))
    yield


# The archive's suites (archive, integrity, room controls in the record, candidate replay,
# webhooks): each module has a redis-server and a PostgreSQL of its own, and one folder for
# their logs. A module that needs no PostgreSQL never starts one (the fixtures are lazy).
@pytest.fixture(scope="module")
def logdir(request):
    return tempfile.mkdtemp(prefix=f"ci-{request.module.__name__}-logs-")


@pytest.fixture(scope="module")
def postgres(logdir):
    from harness.postgres import PostgresServer
    server = PostgresServer(logdir)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis():
    server = RedisServer()
    yield server
    server.stop()
