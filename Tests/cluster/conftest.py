"""Fixtures of the cluster fault tests: whole clusters brought up by the operator's own scripts
(`harness.clusters.Cluster`).

Every test gets a fresh cluster from `cluster/up` (its own state directory, Redis with AOF, or a
primary + replica + 3 sentinels, or a Redis Cluster of N primaries and N replicas; HAProxy,
gateways, runners), on loopback ports picked by the harness, and `cluster/down --purge`
afterwards. When a test fails, the logs of every process of its cluster are attached to the report.
"""

from __future__ import annotations

import os
import tempfile

import pytest

from harness import reports
from harness.clusters import Cluster


@pytest.fixture
def make_cluster(request):
    """make_cluster(gateways=2, runners=0, sentinel=False, redis_cluster=0, ...) -> Cluster; torn down
    after the test."""
    made: list[Cluster] = []

    def make(**kwargs) -> Cluster:
        state = tempfile.mkdtemp(prefix="ci-cluster-")
        try:
            cluster = Cluster(state, **kwargs)
        except BaseException:
            # up failed part way: stop what it started, keep the logs in the report.
            partial = Cluster.__new__(Cluster)
            partial.state, partial.env = state, dict(os.environ)
            made.append(partial)
            reports.attach(request.node, partial.report)
            raise
        made.append(cluster)
        reports.attach(request.node, cluster.report)
        return cluster

    yield make
    for cluster in made:
        cluster.down()
